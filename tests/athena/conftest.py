"""Shared fixtures: one seeded sample lake per session, written exactly as the Firehose deliverer writes the lake."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from athena_queries.sample_lake import SampleEvent, SampleSpec, generate, write_parquet_lake

# The session synthesis of tests/infra, for the partition projection and Glue schema tests.
from tests.infra.conftest import synth  # noqa: F401

SPEC = SampleSpec(seed=20261124, hours=6, sensors=8, sensor_records=2400, student_records=900, log_records=1600)


@dataclass(frozen=True)
class SampleLake:
    """The fixture lake: its directory, every event written to it, and the time span the events cover."""

    lake_dir: Path
    events: list[SampleEvent]
    start: datetime
    end: datetime

    def family(self, family: str) -> list[SampleEvent]:
        return [e for e in self.events if e.family == family]

    def between(self, family: str, since: datetime, until: datetime) -> list[SampleEvent]:
        return [e for e in self.family(family) if since <= e.time < until]


@pytest.fixture(scope="session")
def sample_lake(tmp_path_factory) -> SampleLake:
    lake_dir = tmp_path_factory.mktemp("sample-lake")
    events = generate(SPEC)
    # Two files per partition, as Firehose writes several objects an hour.
    write_parquet_lake(events, lake_dir, files_per_partition=2)
    return SampleLake(lake_dir, events, SPEC.start, SPEC.start + timedelta(hours=SPEC.hours))


def iso(moment: datetime) -> str:
    """A timestamp parameter value."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
