"""`python -m local up` runs the local stack until Ctrl-C; `python -m local demo` runs the guided demo."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from local.stack import LocalOptions, LocalStack
from local.web import WebView, WebViewError
from streamlake.config import ConfigError, load_config

DEFAULT_RUN_DIR = Path("run")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR, help="where logs, lake and mailbox go")
    parser.add_argument("--port", type=int, default=None, help="port of the local AWS endpoint (default: a free one)")
    parser.add_argument(
        "--buffer-seconds",
        type=float,
        default=None,
        help="Firehose buffer interval (default: firehose_buffer_seconds from cdk.json)",
    )
    parser.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a cdk.json setting, as with `cdk -c`",
    )
    parser.add_argument(
        "--web-port",
        type=int,
        default=5000,
        help="port of the live pipeline view, http://127.0.0.1:PORT/ (default 5000; 0: a free one; see docs/web.md)",
    )
    parser.add_argument("--no-web", action="store_true", help="run without the live pipeline view")
    parser.add_argument(
        "--stream-retention-minutes",
        type=float,
        default=None,
        help="how long the local stream keeps records in memory (default 10; Kinesis's retention, see "
        "docs/reliability.md#bounded-memory)",
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start the local stack and keep it running until Ctrl-C")
    _common(up)
    demo = commands.add_parser("demo", help="produce, process, alert, land and query, then stop")
    _common(demo)
    demo.add_argument("--records", type=int, default=600, help="records the producer sends (default 600)")
    demo.add_argument("--continuous", action="store_true", help="keep producing until Ctrl-C")
    demo.add_argument("--rate", type=float, default=None, help="records/s (default: 200; 5 with --continuous)")
    demo.add_argument("--seed", type=int, default=7, help="seed of the generated data (default 7)")
    demo.add_argument(
        "--kafka",
        action="store_true",
        help="also run a local Kafka broker (SASL, as Confluent Cloud) and the Kafka bridge, and produce to its topics",
    )
    demo.add_argument(
        "--cdc",
        action="store_true",
        help="change data capture instead: a Debezium-like connector on a clientes table, through Kafka and the "
        "bridge into table_changes; shows the change log and the current state before and after a delete",
    )
    return parser.parse_args(argv)


def _overrides(pairs: list[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"-c expects KEY=VALUE, got {pair!r}")
        overrides[key.strip()] = value
    return overrides


def up(args: argparse.Namespace) -> int:
    config = load_config(_overrides(args.context))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    retention = args.stream_retention_minutes * 60 if args.stream_retention_minutes is not None else None
    options = LocalOptions(args.run_dir, args.buffer_seconds, args.port, stream_retention_seconds=retention)
    with LocalStack(config, options) as stack:
        web = start_web(stack, args)
        r = stack.resources
        print(
            "streamlake local stack is up\n"
            f"  AWS endpoint  {stack.endpoint.url}   (export AWS_ENDPOINT_URL={stack.endpoint.url})\n"
            f"  stream        {r.stream_name}\n"
            f"  lake          {stack.lake_dir}/   (bucket {r.lake_bucket})\n"
            f"  mailbox       {stack.mailbox_path}\n"
            f"  logs          {stack.run_dir / 'logs'}/\n"
            + (f"  live view     {web.url}\n" if web else "")
            + "Send events:   python producers/test_producer.py "
            f"--endpoint-url {stack.endpoint.url} --stream {r.stream_name} --continuous\n"
            f"Query:         python -m athena_queries run lab_latest_readings --local --lake-dir {stack.lake_dir}\n"
            "Ctrl-C stops the stack.",
            flush=True,
        )
        try:
            while not stop.wait(5):
                print(status_line(stack), flush=True)
        except KeyboardInterrupt:
            pass
        print("stopping: delivering what is buffered...", flush=True)
        if web:
            web.stop()
    return 0


def start_web(stack: LocalStack, args: argparse.Namespace) -> WebView | None:
    """The live view for a started stack, unless --no-web; WebViewError when its port is taken."""
    if getattr(args, "no_web", False):
        return None
    return WebView(stack, port=args.web_port).start()


def status_line(stack: LocalStack) -> str:
    """One line of counters; a runner that raised adds its restarts and last error, so a failure is never silent."""
    p, f = stack.poller.stats, stack.firehose.stats
    line = (
        f"stream {stack.stream_record_count():>7}  processed {p.records_succeeded:>7}  to DLQ {p.records_discarded:>4}"
        f"  in lake {f.records_delivered:>7}  Firehose errors {f.records_failed:>4}"
        f"  e-mails {len(stack.mailbox.delivered):>4}"
    )
    troubled = {name: h for name, h in stack.runner_health().items() if h["errors"]}
    for name, health in troubled.items():
        line += (
            f"\n  RUNNER ERROR {name}: {health['errors']} error(s), {health['restarts']} restart(s), "
            f"{health['state']}; last {health['last_error_at']}: {health['last_error']}"
        )
    if f.transform_failures:
        line += f"\n  TRANSFORMATION FAILED {f.transform_failures} time(s); last: {f.last_transform_error}"
    return line


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "up":
            return up(args)
        if args.cdc:
            from local.cdc_demo import run_cdc_demo

            return run_cdc_demo(args)
        from local.demo import run_demo

        return run_demo(args)
    except ConfigError as error:
        print(f"streamlake: invalid configuration: {error}", file=sys.stderr)
        return 2
    except WebViewError as error:
        print(f"streamlake: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
