"""Local mode under sustained load: the producer (its own process) at `--rate` records/s for `--minutes`, paced to
`--shards` emulated shards, against a local stack with that many shards. Samples once a second how far each runner
is behind, the stack process's RSS and CPU, and prints a summary (JSON with `--json`).

    .venv/bin/python bench/bench_local.py --minutes 1 --rate 1000
    .venv/bin/python bench/bench_local.py --minutes 5 --rate 2000 --shards 2
    .venv/bin/py-spy record -o run/profile.svg -- .venv/bin/python bench/bench_local.py --minutes 0.5

The soak test (tests/reliability/test_load.py, `make soak`) runs the same harness and asserts on its figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.reliability.harness import SoakSettings, run_soak  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--rate", type=float, default=1000.0, help="records/s in total (default 1000)")
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--run-dir", type=Path, default=None, help="default: a temporary directory")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    settings = SoakSettings(minutes=args.minutes, rate=args.rate, shards=args.shards)
    if args.run_dir is not None:
        args.run_dir.mkdir(parents=True, exist_ok=True)
        result = run_soak(args.run_dir, settings)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-local-") as run_dir:
            result = run_soak(Path(run_dir), settings)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.describe())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
