"""Crafted poison records in the manner of issue 15's outside check: valid records of every family with one field
replaced by a near miss of the strict formats (timestamps, UUIDs, enumerations), wrapped in a BOM, given a duplicate
key, nested near the limit or near the interpreter's recursion limit, or carrying control characters for alerts.

Deterministic for a seed. The test decides nothing from here: the expected place of each record is the contract's
verdict (lambdas.schemas.judge) taken at the top of the test's stack, compared with where local mode put it.
"""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

TIMESTAMPS = [
    "0001-01-01T00:00:00+05:00",
    "0001-01-01T00:00:00-05:00",
    "9999-12-31T23:59:59-05:00",
    "9999-12-31T23:59:59+05:00",
    "2025-06-15x12:00:00Z",
    "2025-06-15_12:00:00Z",
    "2025-06-15T12:00:00.Z",
    "2025-06-15T12:00:00Z\u0000",
    "2025-06-15t12:00:00z",
    "2025-06-15 12:00:00+02:00",
    "2025-06-15T12:00:00.123456789-03:30",
    "2025-06-15T12:00:60Z",
    "2025-02-29T12:00:00Z",
    "2025-06-15T12:00Z",
    "2025-06-15T12:00:00+0200",
    "\uff12025-06-15T12:00:00Z",
    " 2025-06-15T12:00:00Z ",
    "2025-06-15",
    "1999-12-31T23:30:00-01:00",
]
UUID_FORMS = [
    "0x{u}",
    "+{u}",
    "{U}",
    "urn:uuid:{u}",
    "URN:UUID:{U}",
    "{{{u}}}",
    "{h}",
    "{us}",
    "{u}\u0000",
    " {u} ",
    "urn:{u}",
    "00000000-0000-0000-0000-000000000000",
]
ENUMS = {
    "family": ["sensor", " sensor", "SENSOR", "Sensor\t", "sensor\u00a0", "sens or", "\uff53ensor"],
    "event_type": ["login", " login ", "LOGIN", "Grade_Posted", "log-in", "login\u0000"],
    "channel": ["sms", "SMS", " Email ", "e-mail", "\uff33\uff2d\uff33"],
    "level": ["warn", "WARN", " fatal ", "Warning", "information", "ERROR\n"],
}
CONTROL_TEXT = ["Lab\r\nBcc: x@example.com", "s\u0007-1\u001b[2J", "A\u2028B\u202eC", "\u0000lab", "ok"]


def crafted_records(count: int, seed: int = 15) -> list[bytes]:
    rng = random.Random(seed)
    return [_one(rng, index) for index in range(count)]


def _base(rng: random.Random, family: str, index: int) -> dict[str, Any]:
    event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    stamp = "2025-06-15T12:00:00Z"
    if family == "sensor":
        return {
            "family": "sensor",
            "event_id": event_id,
            "timestamp": stamp,
            "sensor_id": f"s-{index}",
            "temperature": rng.choice([21.5, 35.0, 45.5]),
            "humidity": 40,
            "location": "Lab",
        }
    if family == "student":
        return {
            "family": "student",
            "event_id": event_id,
            "timestamp": stamp,
            "student_id": f"st-{index}",
            "event_type": "login",
        }
    return {
        "family": "log",
        "event_id": event_id,
        "timestamp": stamp,
        "level": "INFO",
        "service": "api",
        "message": f"m{index}",
    }


def _one(rng: random.Random, index: int) -> bytes:
    family = rng.choice(["sensor", "student", "log"])
    record = _base(rng, family, index)
    kind = rng.choice(["timestamp", "uuid", "enum", "bom", "duplicate", "nesting", "deep", "control", "valid"])
    prefix, suffix = b"", b""
    if kind == "timestamp":
        record["timestamp"] = rng.choice(TIMESTAMPS)
    elif kind == "uuid":
        u = record["event_id"]
        record["event_id"] = rng.choice(UUID_FORMS).format(
            u=u, U=u.upper(), h=u.replace("-", ""), us=u.replace("-", "_")
        )
    elif kind == "enum":
        name = {"sensor": "family", "student": rng.choice(["event_type", "channel"]), "log": "level"}[family]
        record[name] = rng.choice(ENUMS[name])
    elif kind == "bom":
        prefix = rng.choice([b"\xef\xbb\xbf", b" \xef\xbb\xbf", b"\xef\xbb\xbf\xef\xbb\xbf"])
    elif kind == "duplicate":
        key = rng.choice(sorted(record))
        suffix = f', "{key}": {json.dumps(record[key])}'.encode()
    elif kind == "nesting":
        depth = rng.randint(28, 36)
        record["x"] = "NEST"
        text = json.dumps(record).replace('"NEST"', "[" * (depth - 1) + "]" * (depth - 1))
        return text.encode()
    elif kind == "deep":
        depth = rng.randint(900, 1100)
        record["x"] = "NEST"
        return json.dumps(record).replace('"NEST"', "[" * depth + "]" * depth).encode()
    elif kind == "control":
        text = rng.choice(CONTROL_TEXT)
        if family == "sensor":
            record.update(sensor_id=f"{text}-{index}", location=text, temperature=45.0)
        elif family == "student":
            record.update(student_id=f"{text}-{index}", event_type="grade_posted", course_id=text, grade=70)
        else:
            record.update(service=text, message=text, level="ERROR")
    body = json.dumps(record, ensure_ascii=False).encode("utf-8")
    if suffix:
        body = body[:-1] + suffix + b"}"
    return prefix + body
