"""The hostile input corpus of tests/data/hostile/, loaded as the exact bytes to put on the stream.

corpus.jsonl: one case per line with `name`, `expect` ("lake" or "quarantine", decided by hand from the event
contract, not by running the parser), `why`, and the record as `text` (UTF-8) or `base64` (bytes that are not UTF-8).
Placeholders keep the file small and the records current: `{NOW}` / `{NOW_NAIVE}` are the current time (with and
without `Z`), `{PAD}` is `pad` repeated `repeat` times, or up to Kinesis' 1 MiB record limit when `pad_to` is "max".

naughty_strings.json: strings that break software (reserved words, invisible and control characters, injection
attempts, right-to-left text, combining marks, emoji sequences, lengths around the 256-character id limit); the suite
puts each into the text fields of a sensor reading and of a log event.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lambdas.schemas import MAX_ID_LENGTH, MAX_TEXT_LENGTH, format_timestamp
from producers.kinesis_writer import MAX_RECORD_BYTES

CORPUS_DIR = Path(__file__).resolve().parents[1] / "data" / "hostile"


@dataclass(frozen=True)
class HostileRecord:
    name: str
    expect: str  # "lake" or "quarantine"
    why: str
    data: bytes
    key: str
    event_id: str | None = None  # when the test chose it (naughty-string records)
    checks: tuple[tuple[str, str], ...] = ()  # (column, exact value) the lake row must hold


def load_corpus(now: datetime) -> list[HostileRecord]:
    stamp = format_timestamp(now)
    naive = now.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")
    records = []
    for index, line in enumerate((CORPUS_DIR / "corpus.jsonl").read_text(encoding="utf-8").splitlines()):
        case = json.loads(line)
        key = f"hostile-{index:03d}"
        if "base64" in case:
            data = base64.b64decode(case["base64"])
        else:
            text = case["text"].replace("{NOW}", stamp).replace("{NOW_NAIVE}", naive)
            data = _pad(text, case, MAX_RECORD_BYTES - len(key.encode()))
        records.append(HostileRecord(case["name"], case["expect"], case["why"], data, key))
    return records


def _pad(text: str, case: dict[str, Any], limit: int) -> bytes:
    if "{PAD}" not in text:
        return text.encode("utf-8")
    pad = case["pad"]
    if case.get("pad_to") == "max":
        room = limit - len(text.replace("{PAD}", "").encode("utf-8"))
        filler = pad * (room // len(pad.encode("utf-8")))
    else:
        filler = pad * case["repeat"]
    return text.replace("{PAD}", filler).encode("utf-8")


def naughty_records(now: datetime) -> list[HostileRecord]:
    """Each naughty string as a hot sensor's id and location, and as a log message. Expectations follow the contract:
    text must not be blank, ids hold at most 256 characters, messages 64 Ki."""
    strings = json.loads((CORPUS_DIR / "naughty_strings.json").read_text(encoding="utf-8"))
    stamp = format_timestamp(now)
    records = []
    for index, text in enumerate(strings):
        blank = not text.strip()
        sensor_id = str(uuid.uuid4())
        sensor = {
            "event_id": sensor_id,
            "family": "sensor",
            "timestamp": stamp,
            "source": "naughty",
            "sensor_id": text,
            "temperature": 35.5,  # above the 30 °C threshold: the alert e-mail carries the string too
            "humidity": 50,
            "location": text,
        }
        records.append(
            HostileRecord(
                f"naughty-{index:02d}-sensor",
                "quarantine" if blank or len(text) > MAX_ID_LENGTH else "lake",
                "naughty string as sensor_id and location",
                json.dumps(sensor, ensure_ascii=False).encode("utf-8"),
                f"naughty-{index:02d}",
                sensor_id,
                (("sensor_id", text), ("location", text)),
            )
        )
        log_id = str(uuid.uuid4())
        log = {
            "event_id": log_id,
            "family": "log",
            "timestamp": stamp,
            "level": "WARNING",
            "service": "naughty",
            "message": text,
        }
        records.append(
            HostileRecord(
                f"naughty-{index:02d}-log",
                "quarantine" if blank or len(text) > MAX_TEXT_LENGTH else "lake",
                "naughty string as a log message",
                json.dumps(log, ensure_ascii=True).encode("utf-8"),
                f"naughty-{index:02d}",
                log_id,
                (("message", text),),
            )
        )
    return records
