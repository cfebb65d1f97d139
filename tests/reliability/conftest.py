"""Reliability suite: hostile input, faults and load through the local pipeline (docs/reliability.md).

Each scenario appends a `Tally` (sent, landed, quarantined, duplicates removed, lost) to `tallies`; with
RELIABILITY_REPORT=<file> set, they are written there as JSON lines and `python -m tests.reliability.report <file>`
prints the table of docs/reliability.md. Tests marked `soak` (minutes long) run only when selected: `make soak`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.harness import SHARD_RECORDS_PER_SECOND, SoakSettings
from tests.reliability.ledger import Tally


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("soak", "make soak ARGS=... (tests marked soak)")
    group.addoption("--minutes", type=float, default=5.0, help="soak: minutes of load (default 5)")
    group.addoption("--rate", type=float, default=None, help="soak: records/s in total (default: the shards' limit)")
    group.addoption("--shards", type=int, default=1, help="soak: shards of the stream (default 1)")
    group.addoption(
        "--retention-seconds", type=float, default=None, help="soak: the local stream's retention (default 600)"
    )


@pytest.fixture
def soak_settings(request: pytest.FixtureRequest) -> SoakSettings:
    """The soak run `make soak ARGS="--minutes N --rate R --shards S"` asks for."""
    option = request.config.getoption
    shards = option("--shards")
    return SoakSettings(
        minutes=option("--minutes"),
        rate=option("--rate") or shards * SHARD_RECORDS_PER_SECOND,
        shards=shards,
        retention_seconds=option("--retention-seconds"),
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "soak" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="soak test: run with `make soak` (pytest -m soak)")
    for item in items:
        if item.get_closest_marker("soak"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tallies() -> Iterator[list[Tally]]:
    rows: list[Tally] = []
    yield rows
    target = os.environ.get("RELIABILITY_REPORT")
    if target and rows:
        with Path(target).open("a", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row.to_json(), ensure_ascii=False) + "\n")
