"""Saved queries run locally on the sample lake give the values computed here in Python from the same events."""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from athena_queries import saved_queries
from athena_queries.runner import run_local
from lambdas.schemas import PASS_MARK
from tests.athena.conftest import SampleLake, iso


def _window(lake: SampleLake) -> tuple[datetime, datetime]:
    # An inner window, so the time filter and partition pruning both have something to exclude.
    return lake.start + timedelta(hours=1), lake.start + timedelta(hours=4, minutes=30)


def _range(lake: SampleLake) -> dict[str, str]:
    since, until = _window(lake)
    return {"since": iso(since), "until": iso(until)}


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _round(value: float, digits: int) -> float:
    # Trino's round() is half away from zero; Python's round() is half to even.
    scale = 10**digits
    return math.copysign(math.floor(abs(value) * scale + 0.5) / scale, value)


def _rows(result) -> list[dict]:
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def test_lab_latest_readings_are_the_ten_newest_sensor_timestamps(sample_lake):
    result = run_local("lab_latest_readings", {}, sample_lake.lake_dir)
    expected = sorted((e.record["timestamp"] for e in sample_lake.family("sensor")), reverse=True)[:10]
    assert [r["timestamp"] for r in _rows(result)] == expected
    # SELECT * shows the Glue table's columns and its partition keys, not the `family` path segment.
    assert result.columns == [
        "event_id", "timestamp", "source", "sensor_id", "temperature", "humidity", "location",
        "year", "month", "day", "hour",
    ]  # fmt: skip


def test_lab_average_temperature_per_sensor(sample_lake):
    result = run_local("lab_avg_temperature_by_sensor", {}, sample_lake.lake_dir)
    by_sensor = defaultdict(list)
    for e in sample_lake.family("sensor"):
        by_sensor[e.record["sensor_id"]].append(e.record["temperature"])
    got = {r["sensor_id"]: r["avg_temp"] for r in _rows(result)}
    assert got == {s: pytest.approx(statistics.fmean(v)) for s, v in by_sensor.items()}


def test_lab_readings_above_30c_newest_first(sample_lake):
    result = run_local("lab_readings_above_30c", {}, sample_lake.lake_dir)
    hot = [e.record for e in sample_lake.family("sensor") if e.record["temperature"] > 30]
    assert hot, "the sample lake has spikes above 30 °C"
    expected = sorted(((r["sensor_id"], r["temperature"], r["timestamp"]) for r in hot), key=lambda r: r[2])[::-1]
    assert result.columns == ["sensor_id", "temperature", "timestamp"]
    assert result.rows == expected


def test_sensor_hourly_stats(sample_lake):
    since, until = _window(sample_lake)
    result = run_local("sensor_hourly_stats", _range(sample_lake), sample_lake.lake_dir)
    groups = defaultdict(list)
    for e in sample_lake.between("sensor", since, until):
        groups[(e.record["sensor_id"], _naive(e.time.replace(minute=0, second=0, microsecond=0)))].append(e.record)
    rows = _rows(result)
    assert [(r["sensor_id"], r["hour_start"]) for r in rows] == sorted(groups)
    for row in rows:
        records = groups[(row["sensor_id"], row["hour_start"])]
        temps = sorted(r["temperature"] for r in records)
        humidity = sorted(r["humidity"] for r in records)
        assert row["readings"] == len(records)
        assert row["min_temp"] == _round(temps[0], 2)
        assert row["max_temp"] == _round(temps[-1], 2)
        assert row["avg_temp"] == pytest.approx(_round(statistics.fmean(temps), 2), abs=0.011)
        assert row["avg_humidity"] == pytest.approx(_round(statistics.fmean(humidity), 2), abs=0.011)
        # approx_percentile is computed exactly locally: the nearest-rank p95 (Athena's t-digest estimates it).
        assert row["p95_temp"] == _round(temps[math.ceil(0.95 * len(temps)) - 1], 2)
        assert row["p95_humidity"] == _round(humidity[math.ceil(0.95 * len(humidity)) - 1], 2)


def test_sensor_silent_lists_sensors_whose_last_reading_is_older_than_n_minutes(sample_lake):
    as_of = sample_lake.end
    since = sample_lake.start
    result = run_local(
        "sensor_silent", {"silent_minutes": "15", "since": iso(since), "as_of": iso(as_of)}, sample_lake.lake_dir
    )
    last = {}
    for e in sample_lake.family("sensor"):
        if since <= e.time <= as_of:
            sensor = e.record["sensor_id"]
            if sensor not in last or e.record["timestamp"] > last[sensor].record["timestamp"]:
                last[sensor] = e
    silent = {s: e for s, e in last.items() if e.time < as_of - timedelta(minutes=15)}
    assert len(silent) == 2, "the sample lake has two sensors that stop early"
    rows = _rows(result)
    assert {r["sensor_id"] for r in rows} == set(silent)
    for row in rows:
        event = silent[row["sensor_id"]]
        assert row["last_reading"] == event.record["timestamp"]
        assert row["location"] == event.record["location"]
        assert row["minutes_silent"] == pytest.approx((as_of - event.time).total_seconds() / 60, abs=0.051)
    assert [r["minutes_silent"] for r in rows] == sorted((r["minutes_silent"] for r in rows), reverse=True)


def test_sensor_anomalies_against_the_rolling_window(sample_lake):
    since, until = _window(sample_lake)
    window, z = 20, 3.0
    result = run_local(
        "sensor_anomalies", {**_range(sample_lake), "window": str(window), "z": str(z)}, sample_lake.lake_dir
    )
    expected = {}
    by_sensor = defaultdict(list)
    for e in sorted(sample_lake.between("sensor", since, until), key=lambda e: e.record["timestamp"]):
        by_sensor[e.record["sensor_id"]].append(e.record)
    for records in by_sensor.values():
        for i in range(window, len(records)):
            history = records[i - window : i]
            current = records[i]
            scores = {}
            for field in ("temperature", "humidity"):
                values = [r[field] for r in history]
                mean, sd = statistics.fmean(values), statistics.stdev(values)
                scores[field] = (current[field] - mean) / sd if sd > 0 else None
            if None not in scores.values() and any(abs(s) > z for s in scores.values()):
                expected[current["event_id"]] = (current, scores)
    rows = _rows(result)
    assert len(rows) == len(expected) and len(rows) >= 3, "injected spikes are found"
    by_key = {(c["sensor_id"], c["timestamp"]): (c, s) for c, s in expected.values()}
    for row in rows:
        current, scores = by_key[(row["sensor_id"], row["timestamp"])]
        assert row["temp_z"] == pytest.approx(scores["temperature"], abs=0.006)
        assert row["humidity_z"] == pytest.approx(scores["humidity"], abs=0.006)


def test_student_logins_per_hour_and_course(sample_lake):
    since, until = _window(sample_lake)
    result = run_local("student_logins", _range(sample_lake), sample_lake.lake_dir)
    logins = defaultdict(list)
    for e in sample_lake.between("student", since, until):
        if e.record["event_type"] == "login":
            hour = _naive(e.time.replace(minute=0, second=0, microsecond=0))
            logins[(hour, e.record.get("course_id") or "(none)")].append(e.record["student_id"])
    expected = [(h, c, len(ids), len(set(ids))) for (h, c), ids in sorted(logins.items())]
    assert [(r["hour_start"], r["course"], r["logins"], r["students"]) for r in _rows(result)] == expected
    assert any(c != "(none)" for _, c, _, _ in expected) and any(c == "(none)" for _, c, _, _ in expected)


def test_student_activity_per_course(sample_lake):
    since, until = _window(sample_lake)
    result = run_local("student_activity_per_course", _range(sample_lake), sample_lake.lake_dir)
    per_course = defaultdict(list)
    for e in sample_lake.between("student", since, until):
        if e.record.get("course_id"):
            per_course[e.record["course_id"]].append(e.record)
    got = {r["course_id"]: r for r in _rows(result)}
    assert set(got) == set(per_course)
    for course, records in per_course.items():
        kinds = Counter(r["event_type"] for r in records)
        assert got[course]["enrolments"] == kinds["course_enrolled"]
        assert got[course]["submissions"] == kinds["assignment_submitted"]
        assert got[course]["grades_posted"] == kinds["grade_posted"]
        assert got[course]["active_students"] == len({r["student_id"] for r in records})


@pytest.mark.parametrize("pass_mark", [PASS_MARK, 75.0])
def test_student_grade_distribution_and_failing_rate(sample_lake, pass_mark):
    since, until = _window(sample_lake)
    params = {**_range(sample_lake), "pass_mark": str(pass_mark)}
    result = run_local("student_grades_by_course", params, sample_lake.lake_dir)
    grades = defaultdict(list)
    for e in sample_lake.between("student", since, until):
        if e.record["event_type"] == "grade_posted":
            grades[e.record["course_id"]].append(e.record["grade"])
    rows = _rows(result)
    assert {r["course_id"] for r in rows} == set(grades)
    for row in rows:
        values = grades[row["course_id"]]
        failing = sum(g < pass_mark for g in values)
        assert row["grades"] == len(values)
        assert row["avg_grade"] == pytest.approx(_round(statistics.fmean(values), 2), abs=0.011)
        assert (row["min_grade"], row["max_grade"]) == (min(values), max(values))
        assert [row[f"band_{b}"] for b in "abcdf"] == [
            sum(g >= 90 for g in values),
            sum(80 <= g < 90 for g in values),
            sum(70 <= g < 80 for g in values),
            sum(60 <= g < 70 for g in values),
            sum(g < 60 for g in values),
        ]
        assert row["failing"] == failing
        assert row["failing_rate"] == pytest.approx(_round(failing / len(values), 4))
    assert [r["failing_rate"] for r in rows] == sorted((r["failing_rate"] for r in rows), reverse=True)


def test_log_error_rate_per_service_per_five_minutes(sample_lake):
    since, until = _window(sample_lake)
    result = run_local("log_error_rate", _range(sample_lake), sample_lake.lake_dir)
    buckets = defaultdict(lambda: [0, 0])
    for e in sample_lake.between("log", since, until):
        start = datetime.fromtimestamp(e.time.timestamp() // 300 * 300, UTC)
        bucket = buckets[(_naive(start), e.record["service"])]
        bucket[0] += 1
        bucket[1] += e.record["level"] in ("ERROR", "CRITICAL")
    expected = [(s, w, n, err, _round(err / n, 4)) for (w, s), (n, err) in sorted(buckets.items())]
    got = [(r["service"], r["window_start"], r["lines"], r["errors"], r["error_rate"]) for r in _rows(result)]
    assert got == expected


def test_log_top_errors(sample_lake):
    since, until = _window(sample_lake)
    result = run_local("log_top_errors", {**_range(sample_lake), "top": "3"}, sample_lake.lake_dir)
    errors = defaultdict(list)
    for e in sample_lake.between("log", since, until):
        if e.record["level"] in ("ERROR", "CRITICAL"):
            errors[e.record["message"]].append(e.record)
    ranked = sorted(errors.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:3]
    expected = [
        (m, len(rs), len({r["service"] for r in rs}), min(r["timestamp"] for r in rs), max(r["timestamp"] for r in rs))
        for m, rs in ranked
    ]
    got = [(r["message"], r["occurrences"], r["services"], r["first_seen"], r["last_seen"]) for r in _rows(result)]
    assert got == expected


def test_pipeline_freshness_per_family_largest_lag_first(sample_lake):
    as_of = sample_lake.end + timedelta(minutes=5)
    params = {"since": iso(sample_lake.start), "as_of": iso(as_of)}
    result = run_local("pipeline_freshness", params, sample_lake.lake_dir)
    expected = {}
    for family in ("sensor", "student", "log"):
        events = [e for e in sample_lake.family(family) if e.time <= as_of]
        newest = max(events, key=lambda e: e.record["timestamp"])
        expected[family] = (len(events), newest.record["timestamp"], (as_of - newest.time).total_seconds())
    rows = _rows(result)
    for row in rows:
        count, newest, lag = expected[row["family"]]
        assert (row["events"], row["newest_event"]) == (count, newest)
        assert row["lag_seconds"] == pytest.approx(lag, abs=0.051)
    assert [r["family"] for r in rows] == sorted(expected, key=lambda f: -expected[f][2])


def test_a_narrower_time_range_reads_fewer_partitions(sample_lake):
    one_hour = {
        "since": iso(sample_lake.start + timedelta(hours=2)),
        "until": iso(sample_lake.start + timedelta(hours=3)),
    }
    everything = {"since": iso(sample_lake.start), "until": iso(sample_lake.end)}
    narrow = run_local("sensor_hourly_stats", one_hour, sample_lake.lake_dir)
    wide = run_local("sensor_hourly_stats", everything, sample_lake.lake_dir)
    assert {r[1].hour for r in narrow.rows} == {2}
    # One hour of event time reads its partition and the next (late arrivals): about 2 of 7 arrival hours.
    assert 0 < narrow.bytes_scanned < wide.bytes_scanned / 2


def test_p95_of_a_small_all_negative_group_is_its_nearest_rank_value(tmp_path):
    # The freezer: DuckDB's approx_quantile gave about 2.2e-308 for a few negative readings, shown as 0.
    from athena_queries.sample_lake import SampleEvent, write_parquet_lake

    start = datetime(2026, 11, 23, 10, tzinfo=UTC)
    temps = [-18.5, -19.25, -17.75, -20.0]
    events = [
        SampleEvent(
            "sensor",
            {
                "event_id": f"e{i}", "timestamp": (start + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "source": "test", "sensor_id": "freezer-1", "temperature": t, "humidity": 40.0, "location": "cold",
            },
            start + timedelta(minutes=i, seconds=5),
        )
        for i, t in enumerate(temps)
    ]  # fmt: skip
    write_parquet_lake(events, tmp_path)
    params = {"since": iso(start), "until": iso(start + timedelta(hours=1))}
    (row,) = _rows(run_local("sensor_hourly_stats", params, tmp_path))
    assert row["p95_temp"] == -17.75 and row["min_temp"] == -20.0


def test_every_saved_query_runs_locally_at_its_defaults(sample_lake):
    # Defaults are relative to now; the sample lake is in the past, so analytics return no rows but must still run.
    for query in saved_queries():
        result = run_local(query.name, {}, sample_lake.lake_dir)
        assert result.columns
        assert result.bytes_scanned >= 0


def test_an_empty_lake_gives_no_rows_instead_of_an_error(tmp_path):
    (tmp_path / "processed").mkdir()
    result = run_local("lab_latest_readings", {}, tmp_path)
    assert result.rows == [] and result.bytes_scanned == 0
    assert "timestamp" in result.columns
