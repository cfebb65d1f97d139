"""`python -m streamlake cost [...]`: the monthly bill of a configuration before deploying (streamlake/cost.py)."""

from __future__ import annotations

import argparse
import json
import sys

from streamlake.config import ConfigError, load_config
from streamlake.cost import PriceError, Workload, estimate, load_prices, render, summary_line, to_json


def _context(pairs: list[str]) -> dict[str, str]:
    context = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"streamlake: -c expects key=value, got {pair!r}")
        context[key] = value
    return context


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streamlake", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    cost = commands.add_parser("cost", help="itemised monthly estimate of a configuration")
    cost.add_argument("--rate", type=float, default=10.0, help="events per second, steady (default 10; 0 = idle)")
    cost.add_argument("--record-bytes", type=int, default=230, help="bytes per event (default 230, a sensor event)")
    cost.add_argument("--alert-fraction", type=float, default=0.01, help="share of events raising an alert")
    cost.add_argument("--region", default="us-east-1", help="price table region (us-east-1, eu-west-1)")
    cost.add_argument(
        "-c",
        dest="context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="configuration override, as with cdk -c",
    )
    cost.add_argument("--summary", action="store_true", help="one line: the monthly and daily total")
    cost.add_argument("--json", action="store_true", help="the items as JSON")
    args = parser.parse_args(argv)

    try:
        config = load_config(_context(args.context))
        workload = Workload(rate=args.rate, record_bytes=args.record_bytes, alert_fraction=args.alert_fraction)
        prices = load_prices(args.region)
    except (ConfigError, PriceError, ValueError) as error:
        print(f"streamlake: {error}", file=sys.stderr)
        return 2
    items = estimate(config, workload, prices)
    if args.json:
        print(json.dumps(to_json(items), indent=2))
    elif args.summary:
        print(f"cost at {workload.rate:g} events/s in {prices.region}: {summary_line(items)}")
    else:
        from athena_queries import saved_queries

        print(render(config, workload, prices, items, [q.name for q in saved_queries()]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
