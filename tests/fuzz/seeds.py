"""Seed corpus for the fuzz target: every case of tests/data/hostile (up to 64 KiB) and a valid record of each
family and shape, one file each. `python -m tests.fuzz.seeds DIR` writes them into DIR."""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.reliability.hostile import load_corpus, naughty_records

# The fuzz target judges with this clock (tests/fuzz/stages.py NOW); seeds are stamped just before it.
SEED_TIME = datetime(2026, 1, 1, 12, tzinfo=UTC)
MAX_SEED_BYTES = 64 * 1024
FUZZ_CASES = Path(__file__).resolve().parents[1] / "data" / "hostile" / "fuzz"

VALID = [
    {"sensor_id": "s1", "temperature": 21.5, "humidity": 40, "timestamp": "2026-01-01T10:00:00", "location": "Lab"},
    {
        "event_id": "urn:uuid:6F1D1C1E-2B7A-4F43-9A55-0D5B1E6C0A01",
        "family": "sensor",
        "timestamp": "2026-01-01t10:00:00.123456789+05:30",
        "source": "seed",
        "sensor_id": "s2",
        "temperature": 45,
        "humidity": 100,
        "location": "Caldera\u00e9",
    },
    {
        "family": " Student ",
        "event_id": "6f1d1c1e-2b7a-4f43-9a55-0d5b1e6c0a02",
        "timestamp": "2026-01-01 10:00:00Z",
        "student_id": "st-1",
        "event_type": "GRADE_POSTED",
        "course_id": "MAT101",
        "grade": 59.5,
        "channel": "SMS",
    },
    {
        "family": "log",
        "event_id": "6f1d1c1e-2b7a-4f43-9a55-0d5b1e6c0a03",
        "timestamp": "2026-01-01",
        "level": "fatal",
        "service": "api",
        "message": "boom",
        "host": "h",
        "trace_id": "t",
        "extra": {"a": [1, 2.5, None, True]},
    },
]


def seeds() -> list[bytes]:
    cases = [r.data for r in load_corpus(SEED_TIME) + naughty_records(SEED_TIME)]
    cases += [json.dumps(record, ensure_ascii=False).encode("utf-8") for record in VALID]
    return [data for data in cases if len(data) <= MAX_SEED_BYTES]


def write_seeds(directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    written = 0
    for data in seeds():
        path = directory / f"seed-{hashlib.sha1(data).hexdigest()}"
        if not path.exists():
            path.write_bytes(data)
            written += 1
    return written


if __name__ == "__main__":
    print(f"{write_seeds(Path(sys.argv[1]))} seeds written to {sys.argv[1]}")
