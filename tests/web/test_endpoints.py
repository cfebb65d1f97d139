"""The live view's JSON endpoints against a running local stack fed with known data.

Expected values are computed here from what the producer reports it sent (in stream order) and from the stack's
own runners, independently of the view's code.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections import Counter

import pytest

from lambdas.schemas import FAMILIES, parse
from producers.test_producer import produce
from tests.web.conftest import live_stack, wait_for

RECORDS = 400


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("web-endpoints")
    with live_stack(run_dir) as live:
        stack = live.stack
        summary = produce(
            stack.resources.stream_name,
            count=RECORDS,
            family="mixed",
            rate=None,
            bad_ratio=0.05,
            seed=11,
            endpoint_url=stack.endpoint.url,
            spikes=4,
            error_bursts=1,
            failure_path=run_dir / "failures.jsonl",
        )
        stack.wait_until_processed(timeout=120)
        stack.wait_for_mail()
        stack.wait_until_delivered(timeout=120)
        stack.evaluate_alarms()
        stack.wait_for_mail()

        seen: dict = {}

        def caught_up():
            totals = live.get("/api/summary")["totals"]
            seen.update(
                {name: sum(totals[name].values()) for name in ("in", "processed", "lake")},
                quarantined=live.get("/api/lake")["quarantine"]["records"],
                mail=len(live.get("/api/mail?limit=500")["messages"]),
                view_errors=live.get("/api/summary")["view"]["errors"],
            )
            expected = {"in": summary.sent, "processed": summary.sent, "lake": summary.sent}
            expected.update(quarantined=summary.malformed_sent, mail=len(stack.mailbox.delivered))
            return all(seen[k] == v for k, v in expected.items())

        try:
            wait_for(caught_up, 20, "the view to count every record, quarantined record and e-mail")
        except AssertionError as error:
            raise AssertionError(f"{error}; the view saw {seen}, sent {summary.sent}") from None
        yield live, summary


def _stream_order(summary):
    """(sent record, parsed event or None) in the order the stream holds them."""
    ordered = sorted(summary.records, key=lambda r: int(r.position["sequence_number"]))
    return [(r, parse(r.data) if r.malformed is None else None) for r in ordered]


def test_counts_per_family_match_what_was_produced(run):
    live, summary = run
    assert summary.ok and summary.sent == RECORDS and summary.malformed_sent > 0
    totals = live.get("/api/summary")["totals"]
    valid = Counter(event.family for _, event in _stream_order(summary) if event is not None)
    # Every record counts in once, under the family it claims; each invalid one also counts as quarantined under the
    # same family, so what is left per family is exactly the valid records sent.
    assert {f: totals["in"][f] - totals["quarantined"][f] for f in FAMILIES} == {f: valid[f] for f in FAMILIES}
    assert totals["in"]["unknown"] == totals["quarantined"]["unknown"]
    assert sum(totals["in"].values()) == summary.sent
    assert sum(totals["processed"].values()) == summary.sent
    assert sum(totals["lake"].values()) == summary.sent
    assert sum(totals["quarantined"].values()) == summary.malformed_sent
    assert totals["untracked"] == {}


def test_summary_shows_the_runners_own_counters(run):
    live, summary = run
    body = live.get("/api/summary")
    assert body["processor"]["records_succeeded"] + body["processor"]["records_discarded"] == summary.sent
    assert body["firehose"]["records_in"] == summary.sent
    assert body["view"]["errors"] == [] and body["stack_errors"] == []


def test_latest_state_per_sensor_is_its_newest_reading(run):
    live, summary = run
    expected: dict[str, dict] = {}
    for _, event in _stream_order(summary):
        if event is None or event.family != "sensor":
            continue
        record = event.to_record()
        known = expected.get(record["sensor_id"])
        if known is None or record["timestamp"] >= known["timestamp"]:  # a tie goes to the later record
            expected[record["sensor_id"]] = record
    sensors = live.get("/api/sensors")["sensors"]
    assert [s["sensor_id"] for s in sensors] == sorted(expected)
    for state in sensors:
        record = expected[state["sensor_id"]]
        assert (state["temperature"], state["humidity"], state["location"], state["timestamp"]) == (
            record["temperature"],
            record["humidity"],
            record["location"],
            record["timestamp"],
        )
        assert state["above_threshold"] == (record["temperature"] > 30.0)


def test_latest_state_per_student_is_last_activity_and_last_grade(run):
    live, summary = run
    activity: dict[str, dict] = {}
    grades: dict[str, dict] = {}
    for _, event in _stream_order(summary):
        if event is None or event.family != "student":
            continue
        record = event.to_record()
        student = record["student_id"]
        if student not in activity or record["timestamp"] >= activity[student]["timestamp"]:
            activity[student] = record
        if record["event_type"] == "grade_posted" and (
            student not in grades or record["timestamp"] >= grades[student]["timestamp"]
        ):
            grades[student] = record
    students = {s["student_id"]: s for s in live.get("/api/students")["students"]}
    assert set(students) == set(activity)
    assert grades, "the run should post grades"
    for student, record in activity.items():
        last = students[student]["last_activity"]
        assert (last["event_type"], last["course_id"], last["timestamp"]) == (
            record["event_type"],
            record.get("course_id"),
            record["timestamp"],
        )
        grade = students[student]["last_grade"]
        if student in grades:
            assert (grade["grade"], grade["course_id"]) == (grades[student]["grade"], grades[student]["course_id"])
        else:
            assert grade is None


def test_latest_events_are_the_newest_records_of_each_family(run):
    live, summary = run
    ordered = _stream_order(summary)
    for family in FAMILIES:
        newest = [e.event_id for _, e in reversed(ordered) if e is not None and e.family == family][:5]
        shown = live.get(f"/api/events?family={family}&limit=5")[family]
        assert [item["event"]["event_id"] for item in shown] == newest
    quarantined = live.get("/api/events")["invalid"]
    sent_bad = {r.position["sequence_number"] for r, e in ordered if e is None}
    assert quarantined and all(item["reason"] for item in quarantined)
    assert {item["position"]["sequence_number"] for item in quarantined} <= sent_bad


def test_alarm_states_and_history_match_the_evaluator(run):
    live, summary = run
    stack = live.stack
    assert summary.malformed_sent >= stack.config.thresholds.invalid_records, "the run should trip invalid-records"

    def in_sync():
        body = live.get("/api/alarms")
        return body if {a["name"]: a["state"] for a in body["alarms"]} == stack.alarms.states else None

    body = wait_for(in_sync, 10, "the view's alarm states to equal the evaluator's")
    by_key = {a["key"]: a for a in body["alarms"]}
    invalid = by_key["invalid-records"]
    assert invalid["state"] == "ALARM"
    assert [(h["from"], h["to"]) for h in invalid["history"]][0][1] == "ALARM"
    assert invalid["reason"] and invalid["description"]
    transitions = [(t.alarm_name, t.old_state, t.new_state) for t in stack.alarms.history]
    assert sorted((h["alarm"], h["from"], h["to"]) for h in body["history"]) == sorted(transitions)


def test_mail_lists_every_delivered_email_and_opens_each(run):
    live, _ = run
    delivered = live.stack.mailbox.delivered
    messages = live.get("/api/mail?limit=500")["messages"]
    assert len(messages) == len(delivered) > 0
    assert Counter(m["subject"] for m in messages) == Counter(d.subject for d in delivered)
    assert {m["kind"] for m in messages} == {"alert", "ops"}, "grade/temperature alerts and the alarm e-mail"
    alarm_mail = next(m for m in messages if m["kind"] == "ops")
    opened = live.get(f"/api/mail/{alarm_mail['id']}")
    original = next(d for d in delivered if d.subject == alarm_mail["subject"])
    assert opened["body"] == original.body and opened["recipient"] == original.recipient
    with pytest.raises(urllib.error.HTTPError) as missing:
        live.get("/api/mail/999999")
    assert missing.value.code == 404


def test_lake_shows_objects_bytes_and_quarantine_reasons(run):
    live, _ = run
    stack = live.stack
    s3 = stack.clients["s3"]
    objects = s3.list_objects_v2(Bucket=stack.resources.lake_bucket)["Contents"]
    lake = live.get("/api/lake")
    for area in ("raw", "processed", "errors", "quarantine"):
        mine = [o for o in objects if o["Key"].startswith(area + "/")]
        assert lake["areas"][area] == {"objects": len(mine), "bytes": sum(o["Size"] for o in mine)}, area
    partitions = Counter(o["Key"].rsplit("/", 1)[0] + "/" for o in objects)
    assert {p["partition"]: p["objects"] for p in lake["partitions"]} == dict(partitions)
    reasons = Counter(r["reason"] for r in stack.quarantined())
    assert {r["reason"]: r["count"] for r in lake["quarantine"]["reasons"]} == dict(reasons.most_common(20))


def test_saved_query_runs_on_the_local_lake_with_bytes_scanned(run):
    live, summary = run
    names = [q["name"] for q in live.get("/api/queries")["queries"]]
    assert "lab_latest_readings" in names
    status, result = live.post("/api/queries/lab_latest_readings", {"params": {}})
    assert status == 200, result
    sensors = [e.to_record() for _, e in _stream_order(summary) if e is not None and e.family == "sensor"]
    expected = sorted((r["timestamp"] for r in sensors), reverse=True)[:10]
    ts = result["columns"].index("timestamp")
    assert [row[ts] for row in result["rows"]] == expected
    assert result["row_count"] == 10 and result["bytes_scanned"] > 0


def test_query_errors_are_one_line_answers(run):
    live, _ = run
    status, body = live.post("/api/queries/no_such_query", {})
    assert status == 400 and "no_such_query" in body["error"]
    status, body = live.post("/api/queries/sensor_anomalies", {"params": {"nope": "1"}})
    assert status == 400 and "nope" in body["error"]


def test_throughput_samples_show_records_flowing_and_lag(run):
    live, summary = run
    samples = live.get("/api/throughput?seconds=900")["samples"]
    assert len(samples) >= 2
    assert samples[-1]["totals"]["in"] == live.get("/api/summary")["totals"]["in"]
    assert any(sum(s["rates"][f]["in"] for f in s["rates"]) > 0 for s in samples)
    lags = [s["lag"]["processor"]["p50_s"] for s in samples if s["lag"]["processor"]["p50_s"] is not None]
    assert lags and all(0 <= lag < 30 for lag in lags)
    assert sum(s["lag"]["processor"]["finished"] for s in samples) == summary.sent


def _read_events(response, messages: int) -> list[tuple[str, object]]:
    """(event type, JSON data) of server-sent events until `messages` plain messages have arrived."""
    events: list[tuple[str, object]] = []
    kind, data = "message", []
    while sum(1 for k, _ in events if k == "message") < messages:
        line = response.readline().decode().rstrip("\n")
        if line.startswith("event: "):
            kind = line[len("event: ") :]
        elif line.startswith("data: "):
            data.append(line[len("data: ") :])
        elif not line and data:
            events.append((kind, json.loads("\n".join(data))))
            kind, data = "message", []
    return events


def test_stream_pushes_samples_as_server_sent_events(run):
    live, _ = run
    with urllib.request.urlopen(live.url + "api/stream", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        events = _read_events(response, 2)
    history = [body for kind, body in events if kind == "history"]
    samples = [body for kind, body in events if kind == "message"]
    assert history and isinstance(history[0], list) and history[0]
    assert samples[1]["id"] > samples[0]["id"] and 0.5 <= samples[1]["t"] - samples[0]["t"] <= 2.0
