"""Send realistic events to the streamlake Kinesis stream: `python producers/test_producer.py --help`.

With no flags it sends 100 sensor readings and exits, as the lab producer did; `--continuous` sends one record per
second until Ctrl-C. Records go out with PutRecords in batches paced to the stream's shard limits; entries Kinesis
throttles are retried with backoff, and anything that still fails is written to a failure file (exit status 1).

Where records go (first that applies):
  --stream NAME            that stream (name or ARN)
  --local [RUN_DIR]        local mode started with `python -m local up`: its endpoint and stream (run/ by default)
  --endpoint-url URL       that endpoint (moto/local mode) and the local stream name, `<prefix>-events`
  (nothing)                the StreamName output of the deployed `<prefix>-ingestion` stack in --region

Library API (used by local/demo.py and the end-to-end tests):

    from producers.test_producer import produce
    summary = produce("streamlake-events", count=600, family="mixed", bad_ratio=0.05, seed=7,
                      endpoint_url="http://127.0.0.1:5000", region="us-east-1")
    summary.sent, summary.failed, summary.records_per_second, summary.p50_ms, summary.p99_ms
    summary.records          # SentRecord per acknowledged record, in sending order: event_id, key, data, kind,
                             # family, malformed (kind of malformation or None), position (shard_id, sequence_number)
    summary.event_ids        # event_ids of the valid records sent

`produce` raises `ProducerError` (one-line message) when it cannot start: the stream does not exist, no
credentials, endpoint unreachable. Problems once running end up in the summary (`failed`, `error`) and the failure
file. Pass `stop=threading.Event()` to end a `continuous=True` run from another thread; it flushes and returns.
Exit status of the CLI: 0 all sent, 1 some records failed (see the failure file), 2 bad usage, 3 could not start
(stream, credentials, endpoint), 130 aborted by a second Ctrl-C.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as `python producers/test_producer.py`: make the repository importable even without `pip install -e`.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import threading  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any, TextIO  # noqa: E402

from producers.generators import EventGenerator, GeneratedRecord  # noqa: E402
from producers.kinesis_writer import (  # noqa: E402
    DEFAULT_LINGER,
    DEFAULT_MAX_ATTEMPTS,
    NO_CREDENTIALS_MESSAGE,
    Ack,
    Clock,
    KinesisWriteError,
    KinesisWriter,
    ProducerError,
    ShardPacer,
    SystemClock,
    default_failure_path,
    explain_client_error,
    read_failures,
)
from producers.reporting import Progress, SentRecord, StopOnInterrupt, Summary, percentile_ms  # noqa: E402

SOURCE = "test_producer"
KINESIS_FAMILIES = ("sensor", "student", "log", "mixed")
DEFAULT_COUNT = 100
CONTINUOUS_RATE = 1.0  # records/s of --continuous without --rate, as in the lab
LOCAL_REGION = "us-east-1"
# How far behind schedule a paced run may fall before it stops trying to catch up (a burst of at most this much).
MAX_PACING_BACKLOG_S = 1.0

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SETUP, EXIT_ABORTED = 0, 1, 2, 3, 130

log = logging.getLogger("producers.test_producer")


# ---------------------------------------------------------------------------------------------------------------
# Target: client, stream name, shard count — each mistake a user can make becomes one clear line.
# ---------------------------------------------------------------------------------------------------------------


def make_client(service: str, endpoint_url: str | None = None, region: str | None = None) -> Any:
    """A boto3 client with short timeouts and no botocore retries (the writer retries what failed, not more).

    With an endpoint URL (local mode: the argument or AWS_ENDPOINT_URL) and no credentials configured, moto's
    dummy credentials are used.
    """
    import boto3
    from botocore.config import Config as BotoConfig

    session = boto3.session.Session()
    kwargs: dict[str, Any] = {}
    if _local_endpoint(endpoint_url) and session.get_credentials() is None:
        kwargs.update(aws_access_key_id="testing", aws_secret_access_key="testing")
    # AWS_REGION is what Lambda and most tools set; boto3 itself only reads AWS_DEFAULT_REGION and the profile.
    region = region or session.region_name or os.environ.get("AWS_REGION")
    region = region or (LOCAL_REGION if _local_endpoint(endpoint_url) else None)
    if region is None:
        raise ProducerError("no AWS region: pass --region (e.g. --region us-east-1) or set AWS_REGION")
    config = BotoConfig(connect_timeout=5, read_timeout=30, retries={"total_max_attempts": 1}, max_pool_connections=4)
    return session.client(service, region_name=region, endpoint_url=endpoint_url, config=config, **kwargs)


def _local_endpoint(endpoint_url: str | None) -> bool:
    return bool(endpoint_url or os.environ.get("AWS_ENDPOINT_URL_KINESIS") or os.environ.get("AWS_ENDPOINT_URL"))


def _where(client: Any, endpoint_url: str | None) -> str:
    endpoint = endpoint_url or client.meta.endpoint_url
    return f"{endpoint} (region {client.meta.region_name})"


def explain_setup_error(exc: Exception, client: Any, stream: str, endpoint_url: str | None) -> ProducerError:
    """Turn what boto3 raised while reaching the stream into a one-line ProducerError saying what to do."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return ProducerError(NO_CREDENTIALS_MESSAGE)
    if isinstance(exc, NoRegionError):
        return ProducerError("no AWS region: pass --region (e.g. --region us-east-1) or set AWS_REGION")
    if isinstance(exc, EndpointConnectionError) or type(exc).__name__ in {"ConnectTimeoutError", "ConnectionError"}:
        if endpoint_url:
            return ProducerError(
                f"cannot reach {endpoint_url}: is local mode running (`python -m local up`)? check --endpoint-url"
            )
        service = client.meta.service_model.service_id
        return ProducerError(
            f"cannot reach {service} at {_where(client, None)}: check --region (for example us-east-1) and the network"
        )
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return ProducerError(
            explain_client_error(str(error.get("Code")), str(error.get("Message")), stream, client.meta.region_name)
        )
    return ProducerError(f"cannot use stream {stream!r} at {_where(client, endpoint_url)}: {exc}")


def stream_shards(client: Any, stream: str, endpoint_url: str | None, fallback: int) -> int:
    """Open shard count of the stream (checks that it exists and that we can reach it on the way)."""
    param = {"StreamARN": stream} if stream.startswith("arn:") else {"StreamName": stream}
    try:
        summary = client.describe_stream_summary(**param)["StreamDescriptionSummary"]
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code in {"AccessDeniedException", "AccessDenied"}:
            # Writers are often granted PutRecords only; pace to the configured shard count instead.
            log.warning("no permission to describe %s; pacing to %d shard(s) from the config", stream, fallback)
            return fallback
        raise explain_setup_error(exc, client, stream, endpoint_url) from None
    status = summary.get("StreamStatus")
    if status not in {"ACTIVE", "UPDATING"}:
        raise ProducerError(f"stream {stream!r} is {status}; wait until it is ACTIVE")
    return max(1, int(summary.get("OpenShardCount") or fallback))


def default_stream(endpoint_url: str | None, region: str | None, config: Any = None) -> str:
    """The stream a user means when they name none: local mode's, or the deployed ingestion stack's output."""
    from streamlake.config import ConfigError, load_config

    try:
        config = config or load_config()
    except ConfigError as exc:
        raise ProducerError(f"cdk.json: {exc}") from None
    if _local_endpoint(endpoint_url):
        from local.resources import names_for

        return names_for(config)["stream_name"]
    stack = config.stack_name("ingestion")
    cloudformation = make_client("cloudformation", None, region)
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code == "ValidationError":
            raise ProducerError(
                f"no --stream given and stack {stack} is not deployed in {cloudformation.meta.region_name}: "
                "deploy with `npx cdk deploy`, pass --stream NAME, or use --local for local mode"
            ) from None
        raise explain_setup_error(exc, cloudformation, stack, None) from None
    for output in stacks[0].get("Outputs", []):
        if output.get("OutputKey") == "StreamName":
            return str(output["OutputValue"])
    raise ProducerError(f"stack {stack} has no StreamName output; pass --stream NAME")


def local_target(run_dir: Path) -> tuple[str, str, str]:
    """(endpoint_url, region, stream) of a running `python -m local up`, from the files it writes in run_dir."""
    try:
        endpoint = json.loads((run_dir / "endpoint.json").read_text())
        resources = json.loads((run_dir / "resources.json").read_text())
    except FileNotFoundError:
        raise ProducerError(
            f"no local stack in {run_dir}/: start it with `python -m local up` (or pass --endpoint-url)"
        ) from None
    return endpoint["endpoint_url"], endpoint.get("region", LOCAL_REGION), resources["stream_name"]


# ---------------------------------------------------------------------------------------------------------------
# The library entry point.
# ---------------------------------------------------------------------------------------------------------------


def produce(
    stream: str | None = None,
    count: int | None = None,
    family: str = "sensor",
    rate: float | None = None,
    bad_ratio: float = 0.0,
    seed: int | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    *,
    continuous: bool = False,
    spikes: int = 0,
    error_bursts: int = 0,
    strict_order: bool = False,
    pace: bool = True,
    shards: int | None = None,
    linger: float = DEFAULT_LINGER,
    max_attempts: int | None = None,
    failure_path: Path | None = None,
    keep_records: bool = True,
    records: list[tuple[bytes, str, str | None]] | None = None,
    client: Any = None,
    clock: Clock | None = None,
    pacer: ShardPacer | None = None,
    stop: threading.Event | None = None,
    on_sent: Callable[[SentRecord], None] | None = None,
    progress: Progress | None = None,
) -> Summary:
    """Generate `count` records (default 100) of `family` and write them to the Kinesis `stream`; return the Summary.

    `continuous=True` runs until `stop` is set (or `count`, if given, is reached) at `rate` records/s (default 1).
    `rate=None` without `continuous` sends as fast as the shards allow. `spikes`/`error_bursts` force that many
    temperature spikes / ERROR bursts at the start. `records` sends those (data, key, event_id) instead of generated
    ones (used to resend a failure file). `client`/`clock` are injectable for tests; `pacer` replaces the writer's
    default `ShardPacer` (benchmarks compare pacers with it; it must use the same `clock`). Raises ProducerError when it
    cannot start (see module docstring).
    """
    if family not in KINESIS_FAMILIES:
        raise ProducerError(f"unknown family {family!r}; expected one of {', '.join(KINESIS_FAMILIES)}")
    if rate is not None and rate <= 0:
        raise ProducerError(f"--rate must be positive, got {rate:g}")
    if continuous and rate is None:
        rate = CONTINUOUS_RATE
    if not continuous and count is None and records is None:
        count = DEFAULT_COUNT
    if client is None:
        client = make_client("kinesis", endpoint_url, region)
    if stream is None:
        stream = default_stream(endpoint_url, client.meta.region_name)
    if shards is None:
        from streamlake.config import load_config

        shards = stream_shards(client, stream, endpoint_url, load_config().shard_count)

    clock = clock or SystemClock()
    stop = stop or threading.Event()
    summary = Summary(target=f"stream {stream}")
    if records is not None:
        source: Any = iter(records)
        count = len(records) if count is None else min(count, len(records))
    else:
        generator = EventGenerator(family, seed=seed, bad_ratio=bad_ratio, source=SOURCE)
        if spikes:
            generator.force_spike(spikes)
        if error_bursts:
            generator.force_error_burst(10 * error_bursts)
        source = generator

    def acknowledged(ack: Ack) -> None:
        meta: GeneratedRecord | None = ack.meta
        sent = SentRecord(
            event_id=ack.event_id,
            key=ack.partition_key,
            data=ack.data,
            kind=meta.kind if meta else "replayed",
            family=meta.family if meta else "unknown",
            malformed=meta.malformed if meta else None,
            position={"shard_id": ack.shard_id, "sequence_number": ack.sequence_number},
            latency=ack.latency,
        )
        if sent.malformed is not None:
            summary.malformed_sent += 1
        if keep_records:
            summary.records.append(sent)
        if on_sent is not None:
            on_sent(sent)

    writer = KinesisWriter(
        client,
        stream,
        shards=shards,
        pace=pace,
        clock=clock,
        linger=linger,
        strict_order=strict_order,
        pacer=pacer,
        failure_path=failure_path or default_failure_path(),
        on_ack=acknowledged,
        **({"max_attempts": max_attempts} if max_attempts is not None else {}),
    )
    if progress is not None:
        pacing = f"paced to {shards} shard(s)" if pace else "not paced"
        speed = f"{rate:g} records/s" if rate else "as fast as allowed"
        progress.message(f"sending to stream {stream} ({pacing}, {speed}); Ctrl-C stops after a flush")
        progress.restart()
    interval = 1.0 / rate if rate else 0.0
    started = clock.now()
    next_at = started
    try:
        while (count is None or summary.generated < count) and not stop.is_set():
            if interval:
                delay = next_at - clock.now()
                due = writer.due_in()
                if delay > 0 and due is not None and due <= delay:
                    # Nothing else will be added before the oldest record's linger expires: send now.
                    writer.flush()
                    delay = next_at - clock.now()
                if delay > 0 and clock.wait(stop, delay):
                    break
                # Keep to the schedule, but after a stall do not burst more than MAX_PACING_BACKLOG_S of records.
                next_at = max(next_at + interval, clock.now() - MAX_PACING_BACKLOG_S)
            # Counted before add(): once handed over, a record is either acknowledged or in the failure file.
            summary.generated += 1
            if records is not None:
                data, key, event_id = next(source)
                writer.add(data, key, event_id)
            else:
                record: GeneratedRecord = source.next()
                writer.add(record.data, record.key, record.event_id, meta=record)
            if progress is not None:
                progress.update(writer.stats.sent, writer.stats.failed, writer.stats.retries, writer.buffered)
        if stop.is_set() and progress is not None and writer.buffered:
            progress.message(f"stopping: sending the {writer.buffered} buffered records (Ctrl-C again to abort)")
        summary.interrupted = stop.is_set()
        writer.flush()
    except KeyboardInterrupt:
        writer.abort("aborted by Ctrl-C")
        summary.aborted = True
    except KinesisWriteError as exc:
        summary.error = str(exc)
    finally:
        writer.close()
        if progress is not None:
            progress.update(writer.stats.sent, writer.stats.failed, writer.stats.retries, writer.buffered, force=True)
            progress.clear()
    stats = writer.stats
    summary.elapsed = clock.now() - started
    summary.sent, summary.failed = stats.sent, stats.failed
    summary.retries, summary.throttled = stats.retries, stats.throttled
    summary.p50_ms = percentile_ms(stats.latencies, 0.50)
    summary.p99_ms = percentile_ms(stats.latencies, 0.99)
    summary.failure_path = str(writer.failure_path) if stats.failed else None
    return summary


# ---------------------------------------------------------------------------------------------------------------
# The command line.
# ---------------------------------------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _ratio(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def add_generator_arguments(
    parser: argparse.ArgumentParser, families: tuple[str, ...], default_family: str
) -> argparse._ArgumentGroup:
    """The flags both producers share: how many, how fast, what, and how reproducible. Returns the "what" group."""
    amount = parser.add_argument_group("how many and how fast")
    amount.add_argument(
        "--count", type=_positive_int, help=f"records to send (default {DEFAULT_COUNT}; unlimited with --continuous)"
    )
    amount.add_argument(
        "--continuous",
        action="store_true",
        help=f"keep sending until Ctrl-C (Ctrl-C flushes and prints the summary); {CONTINUOUS_RATE:g} record/s "
        "unless --rate is given",
    )
    amount.add_argument(
        "--rate", type=_positive_float, help="records per second (default: as fast as the target accepts)"
    )
    what = parser.add_argument_group("what to send")
    what.add_argument(
        "--family", choices=families, default=default_family, help=f"event family (default {default_family})"
    )
    what.add_argument(
        "--bad-ratio",
        type=_ratio,
        default=0.0,
        metavar="R",
        help="share of deliberately malformed records, 0..1, each tagged with `_malformed` (default 0)",
    )
    what.add_argument("--seed", type=int, help="seed for reproducible records (same seed, same records and ids)")
    what.add_argument(
        "--error-burst",
        type=int,
        default=0,
        metavar="N",
        help="start with N bursts of ERROR logs (log and mixed families), for alarm demos",
    )
    return what


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python producers/test_producer.py",
        description="Send realistic events to the streamlake Kinesis stream with batched, paced, retried PutRecords.",
        epilog="Exit status: 0 all sent, 1 some records failed (see the failure file), 2 bad usage, "
        "3 could not start (stream, credentials, endpoint), 130 aborted by a second Ctrl-C.",
    )
    target = parser.add_argument_group("where to send")
    target.add_argument(
        "--stream",
        help="stream name or ARN (default: with --local/--endpoint-url the local stream `<prefix>-events`, "
        "otherwise the StreamName output of the deployed `<prefix>-ingestion` stack)",
    )
    target.add_argument("--endpoint-url", help="Kinesis endpoint, e.g. local mode's http://127.0.0.1:PORT")
    target.add_argument("--region", help="AWS region (default: AWS_REGION / your AWS profile)")
    target.add_argument(
        "--local",
        nargs="?",
        const=Path("run"),
        type=Path,
        metavar="RUN_DIR",
        help="send to a running `python -m local up` (reads RUN_DIR/endpoint.json; RUN_DIR defaults to run)",
    )
    add_generator_arguments(parser, KINESIS_FAMILIES, "sensor").add_argument(
        "--spike", type=int, default=0, metavar="N", help="make the first N sensor readings spikes above 30 °C"
    )
    tuning = parser.add_argument_group("delivery")
    tuning.add_argument(
        "--failures-file",
        type=Path,
        help="where records that could not be written go (default failed-records-<time>.jsonl, only if any)",
    )
    tuning.add_argument("--replay", type=Path, metavar="FAILURES_FILE", help="send the records of a failure file again")
    tuning.add_argument(
        "--sent-file", type=Path, help="write every acknowledged record (id, key, shard, sequence number) as JSON lines"
    )
    tuning.add_argument(
        "--strict-order",
        action="store_true",
        help="at most one record per partition key per request: order per key holds under any failure pattern",
    )
    tuning.add_argument(
        "--no-shard-pacing",
        dest="pace",
        action="store_false",
        help="do not pace to 1,000 records/s and 1 MiB/s per shard (for targets without limits, e.g. moto)",
    )
    tuning.add_argument(
        "--linger",
        type=float,
        default=DEFAULT_LINGER,
        help=f"seconds a record may wait for a fuller batch (default {DEFAULT_LINGER:g})",
    )
    tuning.add_argument(
        "--max-attempts",
        type=_positive_int,
        default=DEFAULT_MAX_ATTEMPTS,
        help=f"attempts per record before it goes to the failure file (default {DEFAULT_MAX_ATTEMPTS})",
    )
    tuning.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    parser.set_defaults(pace=True)
    args = parser.parse_args(argv)
    if args.spike and args.family not in {"sensor", "mixed"}:
        parser.error("--spike needs --family sensor or mixed")
    if args.error_burst and args.family not in {"log", "mixed"}:
        parser.error("--error-burst needs --family log or mixed")
    if args.linger < 0:
        parser.error("--linger must be 0 or more")
    return args


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """Run the CLI; returns the exit status."""
    out = out or sys.stdout
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    stop = threading.Event()
    progress = Progress(sys.stderr)
    sent_file = args.sent_file.open("w", encoding="utf-8") if args.sent_file else None
    try:
        endpoint_url, region, stream = args.endpoint_url, args.region, args.stream
        if args.local is not None:
            local_endpoint, local_region, local_stream = local_target(args.local)
            endpoint_url = endpoint_url or local_endpoint
            region, stream = region or local_region, stream or local_stream
        replay = read_failures(args.replay) if args.replay else None
        with StopOnInterrupt(stop):
            summary = produce(
                stream,
                count=args.count,
                family=args.family,
                rate=args.rate,
                bad_ratio=args.bad_ratio,
                seed=args.seed,
                endpoint_url=endpoint_url,
                region=region,
                continuous=args.continuous,
                spikes=args.spike,
                error_bursts=args.error_burst,
                strict_order=args.strict_order,
                pace=args.pace,
                linger=args.linger,
                max_attempts=args.max_attempts,
                failure_path=args.failures_file,
                keep_records=False,
                records=replay,
                stop=stop,
                on_sent=(lambda r: sent_file.write(r.to_json() + "\n")) if sent_file else None,
                progress=progress,
            )
    except ProducerError as exc:
        progress.clear()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_SETUP
    except KeyboardInterrupt:
        # A second Ctrl-C before anything was sent (e.g. while connecting).
        progress.clear()
        print("aborted", file=sys.stderr)
        return EXIT_ABORTED
    finally:
        if sent_file is not None:
            sent_file.close()
    print(json.dumps(summary.to_dict()) if args.json else summary.format(), file=out, flush=True)
    if summary.aborted:
        return EXIT_ABORTED
    return EXIT_OK if summary.ok else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
