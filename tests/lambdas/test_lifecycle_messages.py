"""The lifecycle's messages word for word: what a person reads, for each stage of each kind. Expected texts are
written out by hand from the records (every number worked out in the comments)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from lambdas.processor import lifecycle
from lambdas.processor.lifecycle import EntityState
from lambdas.processor.rules import Position, Thresholds
from lambdas.schemas import judge, new_event

ORIGIN = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _records(payloads: list[dict], first: int = 0) -> list:
    """(event, position) pairs; sequence numbers from `first` on."""
    events = [judge(json.dumps(p).encode(), now=ORIGIN + timedelta(days=3)).event for p in payloads]
    return [(event, Position("shardId-0", str(first + i), ORIGIN)) for i, event in enumerate(events)]


def _id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def test_temperature_enter_reminder_and_recovered_read_like_this():
    # GIVEN 30 °C, a 1.5 °C hysteresis (recovery below 28.5 °C) and hourly reminders
    t = Thresholds(30.0, 3, 60, high_temperature_hysteresis_c=1.5, alert_reminder_seconds=3600)
    readings = [(0, 31.25), (30, 33.0), (61, 29.0), (90, 30.5), (125, 28.4)]  # (minute, °C)
    payloads = [
        new_event(
            "sensor",
            source="t",
            sensor_id="s-1",
            temperature=c,
            humidity=40,
            location="Aula 2",
            timestamp=ORIGIN + timedelta(minutes=m),
            event_id=_id(i + 1),
        )  # fmt: skip
        for i, (m, c) in enumerate(readings)
    ]
    # WHEN
    alerts, changed = lifecycle.apply(EntityState("temperature", "s-1"), _records(payloads), t)
    # THEN enter at minute 0, a reminder at minute 61 (an hour after the enter; since it: minute 30 at 33.0 and minute
    # 61 at 29.0, inside the band), recovered at minute 125 (28.4 < 28.5; since the reminder: minute 90 at 30.5)
    assert changed
    enter, reminder, recovered = alerts
    assert enter.alert_id == f"temperature#enter#{_id(1)}"
    assert enter.subject == "High temperature: 31.2 °C at Aula 2 (s-1)"
    assert enter.message == (
        "Sensor s-1 at Aula 2 reported 31.2 °C at 2026-03-01T09:00:00.000Z (UTC),\n"
        "above the alert threshold of 30 °C by 1.2 °C.\n"
        "\n"
        "Humidity: 40 %   Feels like (heat index): 31.2 °C\n"
        f"Event id: {_id(1)}\n"
        "\n"
        "Check the sensor's surroundings (cooling, sunlight, equipment nearby).\n"
        "While it stays at or above 28.5 °C you get at most one reminder every 1 h 00 min, and one message when it "
        "drops below 28.5 °C."
    )
    assert enter.attributes == {
        "kind": "high_temperature",
        "lifecycle": "enter",
        "family": "sensor",
        "sensor_id": "s-1",
    }
    assert reminder.alert_id == f"temperature#reminder#{_id(3)}"
    assert reminder.subject == "Still hot for 1 h 01 min: s-1 at Aula 2, max 33.0 °C"
    assert reminder.message == (
        "Sensor s-1 at Aula 2 has been in high-temperature alert (above 30 °C) since 2026-03-01T09:00:00.000Z (UTC), "
        "for 1 h 01 min.\n"
        "\n"
        "Since the last message (2026-03-01T09:00:00.000Z UTC): 2 readings, 1 above 30 °C, maximum 33.0 °C.\n"
        "Latest: 29.0 °C at 2026-03-01T10:01:00.000Z.\n"
        "\n"
        "Next reminder in 1 h 00 min at the earliest; a message follows when it drops below 28.5 °C.\n"
        f"Event id: {_id(3)}"
    )
    assert reminder.attributes["lifecycle"] == "reminder"
    assert recovered.alert_id == f"temperature#recovered#{_id(5)}"
    assert recovered.subject == "Recovered: s-1 at Aula 2, 28.4 °C after 2 h 05 min"
    assert recovered.message == (
        "Sensor s-1 at Aula 2 is back to 28.4 °C at 2026-03-01T11:05:00.000Z (UTC), below 28.5 °C\n"
        "(the alert threshold of 30 °C minus a hysteresis of 1.5 °C). The alert lasted 2 h 05 min, since "
        "2026-03-01T09:00:00.000Z (UTC).\n"
        "\n"
        "Since the last message (2026-03-01T10:01:00.000Z UTC): 1 reading, 1 above 30 °C, maximum 30.5 °C.\n"
        f"Event id: {_id(5)}"
    )


def _lines(spec: list[tuple[int, str, str]], first_id: int = 11) -> list:
    return _records(
        [
            new_event(
                "log",
                source="t",
                level=level,
                service="pagos",
                message=text,
                timestamp=ORIGIN + timedelta(seconds=s),
                event_id=_id(i + first_id),
            )  # fmt: skip
            for i, (s, level, text) in enumerate(spec)
        ],
        first=first_id,
    )


def test_burst_enter_and_recovered_read_like_this():
    # GIVEN 2 errors per 60 s window open a burst, reminders every 5 minutes
    t = Thresholds(30.0, 2, 60, alert_reminder_seconds=300)
    spec = [
        (10, "ERROR", "db timeout"),
        (20, "CRITICAL", "db down"),
        (70, "ERROR", "db down again"),
        (75, "ERROR", "x"),
    ]
    spec += [(330, "ERROR", "still failing"), (400, "INFO", "ok")]
    # WHEN
    alerts, _ = lifecycle.apply(EntityState("burst", "pagos"), _lines(spec), t)
    # THEN enter at second 20 (2 lines in 09:00-09:01); 09:01-09:02 reaches 2 again (the burst goes on until 09:02);
    # the line at 330 s is dated after the whole window 09:02-09:03 passed quiet: recovered (the burst lasted from
    # 20 s to 120 s: 1 min 40 s, shown as 1 min), and the 2 lines of 09:01 are the ones since the enter
    enter, recovered = alerts
    assert enter.alert_id == f"burst#enter#{_id(12)}"
    assert enter.subject == "Error burst: pagos, 2+ errors in 60 s"
    assert enter.message == (
        "Service pagos logged 2 ERROR/CRITICAL lines between 2026-03-01T09:00:00.000Z and 2026-03-01T09:01:00.000Z "
        "(UTC);\n"
        "the alert threshold is 2 within 60 s.\n"
        "\n"
        "The line that reached it (CRITICAL, 2026-03-01T09:00:20.000Z):\n"
        "  db down\n"
        "\n"
        "While bursts go on you get at most one reminder every 5 min, and one message once a whole 60 s window passes "
        "with fewer than 2.\n"
        "Query system_logs in Athena (saved queries in the workgroup) for the full picture.\n"
        f"Event id: {_id(12)}"
    )
    assert enter.attributes == {"kind": "error_burst", "lifecycle": "enter", "family": "log", "service": "pagos"}
    assert recovered.alert_id == f"burst#recovered#{_id(15)}"
    assert recovered.subject == "Recovered: pagos, error burst over after 1 min"
    assert recovered.message == (
        "Service pagos logged fewer than 2 ERROR/CRITICAL lines in the 60 s window from 2026-03-01T09:02:00.000Z "
        "(UTC): the error burst is over.\n"
        "It began at 2026-03-01T09:00:20.000Z (UTC); its last burst window ended 1 min later.\n"
        "\n"
        "Since the last message (2026-03-01T09:00:20.000Z UTC): 2 ERROR/CRITICAL lines.\n"
        f"Event id: {_id(15)}"
    )


def test_burst_reminder_reads_like_this():
    # GIVEN bursts of 2 lines in every minute from 09:00 to 09:04, and one more line at 09:05:20
    t = Thresholds(30.0, 2, 60, alert_reminder_seconds=300)
    seconds = [10, 20, 70, 75, 130, 135, 190, 195, 250, 255, 320]
    alerts, _ = lifecycle.apply(
        EntityState("burst", "pagos"), _lines([(s, "ERROR", f"timeout at {s}") for s in seconds]), t
    )
    # THEN enter at 20 s; at 320 s (300 s after the enter) a reminder: 9 lines since (70 ... 320), at most 2 in one
    # window, 5 minutes in
    enter, reminder = alerts
    assert reminder.alert_id == f"burst#reminder#{_id(21)}"
    assert reminder.subject == "Error burst continues for 5 min: pagos, 9 errors"
    assert reminder.message == (
        "Service pagos has been in an error burst since 2026-03-01T09:00:20.000Z (UTC), for 5 min.\n"
        "\n"
        "Since the last message (2026-03-01T09:00:20.000Z UTC): 9 ERROR/CRITICAL lines, at most 2 in one 60 s window "
        "(threshold 2).\n"
        "Latest (ERROR, 2026-03-01T09:05:20.000Z): timeout at 320\n"
        f"Event id: {_id(21)}"
    )


def test_which_records_can_open_an_alert_and_whose_they_are():
    t = Thresholds(30.0, 2, 60)
    [(hot, _), (warm, _), (error, _), (info, _), (grade, _)] = _records(
        [
            new_event(
                "sensor", source="t", timestamp=ORIGIN, sensor_id="a", temperature=30.01, humidity=1, location="L"
            ),
            new_event(
                "sensor", source="t", timestamp=ORIGIN, sensor_id="b", temperature=30.0, humidity=1, location="L"
            ),
            new_event("log", source="t", timestamp=ORIGIN, level="CRITICAL", service="s", message="m"),
            new_event("log", source="t", timestamp=ORIGIN, level="WARN", service="s", message="m"),
            new_event(
                "student",
                source="t",
                timestamp=ORIGIN,
                student_id="x",
                event_type="grade_posted",
                course_id="C",
                grade=3,
            ),
        ]
    )
    assert [lifecycle.may_open(e, t) for e in (hot, warm, error, info, grade)] == [True, False, True, False, False]
    assert [lifecycle.entity_of(e) for e in (hot, error, grade)] == [("temperature", "a"), ("burst", "s"), None]
    assert EntityState("burst", "s").key == ("burst", "s")


def test_durations_read_in_the_largest_sensible_units():
    # through the reminder subject: alert opened at 0, reminder after the given number of seconds
    t = Thresholds(30.0, 3, 60, alert_reminder_seconds=1)
    cases = [(59, "59 s"), (60, "1 min"), (3599, "59 min"), (3600, "1 h 00 min"), (3660, "1 h 01 min")]
    cases += [(47 * 3600 + 59 * 60, "47 h 59 min"), (48 * 3600, "2 d 0 h"), (50 * 3600 + 59, "2 d 2 h")]
    for seconds, shown in cases:
        payloads = [
            new_event(
                "sensor",
                source="t",
                sensor_id="d",
                temperature=35.0,
                humidity=1,
                location="L",
                timestamp=ORIGIN + timedelta(seconds=s),
            )  # fmt: skip
            for s in (0, seconds)
        ]
        _, reminder = lifecycle.apply(EntityState("temperature", "d"), _records(payloads), t)[0]
        assert reminder.subject.startswith(f"Still hot for {shown}:"), (seconds, reminder.subject)


def test_an_error_line_more_than_three_windows_late_does_not_count():
    # GIVEN one error is enough for a burst, and the service's newest error is in the 09:04 window
    t = Thresholds(30.0, 1, 60, alert_reminder_seconds=3600)
    state = EntityState("burst", "pagos")
    lifecycle.apply(state, _lines([(250, "ERROR", "newest")], first_id=101), t)  # 09:04:10: enter
    state.status = "normal"  # (as if it had recovered: only the counting matters here)
    # WHEN a line of 09:01 arrives (three windows back: still counted) and then one of 09:00 (four back: too late)
    in_time, _ = lifecycle.apply(state, _lines([(70, "ERROR", "09:01")], first_id=102), t)
    state.status = "normal"
    too_late, changed = lifecycle.apply(state, _lines([(10, "ERROR", "09:00")], first_id=103), t)
    # THEN the first counts (its window reaches 1: a burst), the second is ignored and changes nothing
    assert [a.attributes["lifecycle"] for a in in_time] == ["enter"]
    assert too_late == [] and not changed
    assert sorted(state.windows) == [int(ORIGIN.timestamp()) + 60, int(ORIGIN.timestamp()) + 240]


def test_a_state_survives_its_stored_form_field_for_field():
    state = EntityState(
        family="burst",
        entity="pagos",
        status="alert",
        since=1.5,
        last_message=2.5,
        count=3,
        hot=4,
        peak=5.5,
        latest=6.5,
        location="L",
        windows={60: 2, 120: 1},
        burst_end=180.0,
        marks={"shardId-0": 7},
        recent=["abc"],
        version=9,
    )
    assert EntityState.from_json(state.to_json(), 9) == state


def test_a_recovery_with_no_line_since_the_last_message_says_zero_lines():
    # GIVEN a burst: enter at 09:00:20, bursts in every window to 09:05, a reminder on the line of 09:05:20 (300 s
    # after the enter), then only an INFO line at 09:07:00, after the quiet window 09:05-09:06
    t = Thresholds(30.0, 2, 60, alert_reminder_seconds=300)
    spec = [(10, "ERROR", "a"), (20, "ERROR", "b")]
    spec += [(60 * m + s, "ERROR", "c") for m in range(1, 5) for s in (5, 6)]
    spec += [(320, "ERROR", "e"), (420, "INFO", "ok")]
    alerts, _ = lifecycle.apply(EntityState("burst", "pagos"), _lines(spec), t)
    # THEN the recovery counts no line since the reminder
    assert [a.attributes["lifecycle"] for a in alerts] == ["enter", "reminder", "recovered"]
    assert "Since the last message (2026-03-01T09:05:20.000Z UTC): 0 ERROR/CRITICAL lines." in alerts[2].message
