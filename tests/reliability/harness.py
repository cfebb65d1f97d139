"""Running the local stack for one reliability scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from local.stack import LocalOptions, LocalStack
from streamlake.config import Config, load_config


def config_for(scenario: str) -> Config:
    """The default config under a prefix of the scenario's own. moto keeps its state per process, not per server, so
    another test package's moto server that is still up (tests/producers keeps one for the session) may already hold
    a `streamlake-events` stream with records in it; our own names keep the counts exact."""
    return load_config({"prefix": f"rel-{scenario}"[:20]})


def local_stack(scenario: str, run_dir: Path, **options: Any) -> LocalStack:
    """A local stack for `scenario` with a short Firehose buffer (the deployed 60 s would only make tests wait)."""
    settings = {"buffer_seconds": 0.5, "alarm_interval_seconds": 1.0, **options}
    return LocalStack(config_for(scenario), LocalOptions(run_dir, **settings))
