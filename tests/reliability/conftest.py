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

from tests.reliability.ledger import Tally


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
