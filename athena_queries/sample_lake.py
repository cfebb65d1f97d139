"""A deterministic sample lake: seeded events of every family written exactly as the Firehose deliverer writes them.

Tests check the saved queries' local results against values computed in Python from the same records, and
bench/bench_athena.py measures scans over it. Layout and format match local/firehose.py: Snappy Parquet with the
`all_events` Glue schema (lake.table_columns(None)) under processed/family=<f>/year=/month=/day=/hour=/, the hour
being the arrival hour, which is a little after the event time (producer and buffering delay).

    python -m athena_queries.sample_lake DIR [--sensor-records N] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from lambdas.schemas import COURSE_EVENT_TYPES, format_timestamp
from streamlake import lake

DEFAULT_START = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
_DUCKDB_TYPES = {"string": "VARCHAR", "double": "DOUBLE", "int": "INTEGER", "bigint": "BIGINT", "boolean": "BOOLEAN"}
_SERVICES = ("api", "auth", "billing", "search", "worker")
_ERROR_MESSAGES = (
    "database connection timed out",
    "upstream returned 502",
    "payment provider rejected the card",
    "index shard unavailable",
    "queue consumer crashed",
    "token signature invalid",
)
_COURSES = ("CS101", "MATH201", "PHYS110", "HIST105")
_LOCATIONS = ("lab-a", "lab-b", "greenhouse", "server-room", "roof")


@dataclass(frozen=True)
class SampleEvent:
    """One event as stored: its family, the lake record (Glue columns) and the arrival time that partitions it."""

    family: str
    record: dict[str, Any]
    arrival: datetime

    @property
    def time(self) -> datetime:
        """Event time, parsed back from the stored string."""
        return datetime.fromisoformat(self.record["timestamp"].replace("Z", "+00:00"))


@dataclass(frozen=True)
class SampleSpec:
    """How much of each family to generate, over how many hours from `start`, with which seed."""

    seed: int = 42
    start: datetime = DEFAULT_START
    hours: int = 6
    sensors: int = 8
    sensor_records: int = 3000
    student_records: int = 800
    log_records: int = 1500
    silent_sensors: int = 2
    anomalies: int = 6


def generate(spec: SampleSpec) -> list[SampleEvent]:
    """Events of every family, deterministic for a given spec."""
    rng = random.Random(spec.seed)
    span = spec.hours * 3600.0
    events: list[SampleEvent] = []

    def event_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def stamp(offset_s: float) -> datetime:
        # Millisecond precision, like every normalised timestamp in the lake.
        return spec.start + timedelta(milliseconds=round(offset_s * 1000))

    def add(family: str, moment: datetime, fields: dict[str, Any]) -> None:
        arrival = moment + timedelta(seconds=rng.uniform(0.05, 90.0))
        record = {"event_id": event_id(), "timestamp": format_timestamp(moment), "source": "sample-lake", **fields}
        events.append(SampleEvent(family, record, arrival))

    # Sensors: steady readings around a per-sensor baseline; the last `silent_sensors` stop early; a few spikes.
    sensor_ids = [f"sensor-{i:02d}" for i in range(spec.sensors)]
    baselines = {s: (rng.uniform(18, 26), rng.uniform(35, 60)) for s in sensor_ids}
    per_sensor = max(1, spec.sensor_records // spec.sensors)
    spikes = set(rng.sample(range(spec.sensor_records), min(spec.anomalies, spec.sensor_records)))
    index = 0
    for n, sensor in enumerate(sensor_ids):
        silent = n >= spec.sensors - spec.silent_sensors
        active_span = span * (rng.uniform(0.4, 0.8) if silent else 1.0)
        step = active_span / per_sensor
        location = _LOCATIONS[n % len(_LOCATIONS)]
        for k in range(per_sensor):
            temp_base, humidity_base = baselines[sensor]
            temperature = round(rng.gauss(temp_base, 0.8), 2)
            humidity = round(min(100.0, max(0.0, rng.gauss(humidity_base, 2.0))), 2)
            if index in spikes:
                temperature = round(temp_base + rng.choice((-1, 1)) * rng.uniform(12, 20), 2)
            offset = k * step + rng.uniform(0, step * 0.5)
            add(
                "sensor",
                stamp(offset),
                {"sensor_id": sensor, "temperature": temperature, "humidity": humidity, "location": location},
            )
            index += 1

    # Students: logins (some naming a course), enrolments, submissions and grades.
    for _ in range(spec.student_records):
        student = f"student-{rng.randrange(60):03d}"
        kind = rng.choices(
            ("login", "course_enrolled", "assignment_submitted", "grade_posted", "logout"), (40, 10, 20, 20, 10)
        )[0]
        fields: dict[str, Any] = {"student_id": student, "event_type": kind}
        if kind in COURSE_EVENT_TYPES or (kind == "login" and rng.random() < 0.3):
            fields["course_id"] = rng.choice(_COURSES)
        if kind == "grade_posted":
            fields["grade"] = float(round(min(100.0, max(0.0, rng.gauss(70, 15))), 1))
        add("student", stamp(rng.uniform(0, span)), fields)

    # Logs: mostly INFO, errors clustered on a few services and messages.
    for _ in range(spec.log_records):
        service = rng.choice(_SERVICES)
        level = rng.choices(("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), (10, 60, 15, 12, 3))[0]
        message = (
            rng.choice(_ERROR_MESSAGES)
            if level in ("ERROR", "CRITICAL")
            else f"request served in {rng.randrange(5, 900)} ms"
        )
        add(
            "log",
            stamp(rng.uniform(0, span)),
            {"level": level, "service": service, "message": message, "host": f"{service}-{rng.randrange(3)}"},
        )
    return events


def write_parquet_lake(events: list[SampleEvent], lake_dir: Path, files_per_partition: int = 1) -> list[Path]:
    """Write `events` under `lake_dir` as the Firehose deliverer does; returns the Parquet files written."""
    columns = lake.table_columns(None)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        groups[(event.family, lake.partition_path(event.family, event.arrival))].append(event.record)
    written = []
    with tempfile.TemporaryDirectory(prefix="streamlake-sample-") as tmp, duckdb.connect() as con:
        for (_, prefix), records in sorted(groups.items()):
            records.sort(key=lambda r: r["timestamp"])
            size = -(-len(records) // files_per_partition)
            for part in range(files_per_partition):
                chunk = records[part * size : (part + 1) * size]
                if not chunk:
                    continue
                target = lake_dir / prefix / f"sample-lake-{part:02d}{lake.PARQUET_EXTENSION}"
                target.parent.mkdir(parents=True, exist_ok=True)
                _copy(con, Path(tmp) / "rows.json", chunk, columns, target, "(FORMAT parquet, COMPRESSION snappy)")
                written.append(target)
    return written


def write_json_baseline(events: list[SampleEvent], path: Path, *, gzip: bool) -> Path:
    """Every event's record (with `family`) in one JSON-lines file, gzip or not: the unpartitioned baseline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps({**e.record, "family": e.family}) + "\n" for e in events).encode()
    if gzip:
        import gzip as gz

        path.write_bytes(gz.compress(lines, compresslevel=6))
    else:
        path.write_bytes(lines)
    return path


def _copy(
    con: Any, scratch: Path, rows: list[dict[str, Any]], columns: list[tuple[str, str]], target: Path, options: str
) -> None:
    scratch.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    spec = ", ".join(f"'{name}': '{_DUCKDB_TYPES[t]}'" for name, t in columns)
    select = ", ".join(f'"{name}"' for name, _ in columns)
    con.execute(
        f"COPY (SELECT {select} FROM read_json('{scratch}', format = 'newline_delimited', columns = {{{spec}}})) "
        f"TO '{target}' {options}"
    )


def main(argv: list[str] | None = None) -> int:
    """Write a sample lake to a directory, to try the runner without starting local mode."""
    parser = argparse.ArgumentParser(prog="python -m athena_queries.sample_lake", description=__doc__.splitlines()[0])
    parser.add_argument("lake_dir", type=Path)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--sensor-records", type=int, default=SampleSpec.sensor_records)
    args = parser.parse_args(argv)
    events = generate(SampleSpec(seed=args.seed, sensor_records=args.sensor_records))
    files = write_parquet_lake(events, args.lake_dir)
    print(f"{len(events)} events in {len(files)} Parquet files under {args.lake_dir}/{lake.PROCESSED_PREFIX}")
    print(f"events span {DEFAULT_START:%Y-%m-%dT%H:%MZ} + {SampleSpec.hours} h: pass --param since=... accordingly")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
