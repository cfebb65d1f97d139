"""End-to-end latency in local mode: from PutRecords returning to (a) the alert e-mail in the mailbox and (b) the
record being queryable in the lake (Parquet under processed/, read with DuckDB).

Goals (issue 7): alert <= 2 s; lake <= Firehose buffer + 5 s. The baseline is the same pipeline with the deployed
defaults (60 s Firehose buffer), measured in the same run for the lake path, so the ratio shows what the demo's
shorter buffer buys; the alert path does not depend on the buffer. Run: `.venv/bin/python bench/bench_latency.py`.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TRIALS = 8
DEMO_BUFFER_S = 5.0
DEPLOYED_BUFFER_S = 60.0


def measure(buffer_seconds: float, trials: int) -> tuple[list[float], list[float]]:
    import duckdb

    from lambdas.schemas import new_event
    from local.stack import LocalOptions, LocalStack
    from streamlake.config import load_config

    alert_latencies, lake_latencies = [], []
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalStack(
            load_config({}), LocalOptions(Path(tmp), buffer_seconds=buffer_seconds, alarm_interval_seconds=5.0)
        ) as stack,
    ):
        kinesis = stack.clients["kinesis"]
        for _ in range(trials):
            record = new_event(
                "sensor",
                source="bench",
                sensor_id=f"bench-{uuid.uuid4().hex[:6]}",
                temperature=36.6,
                humidity=40,
                location="Bench",
            )
            event_id = record["event_id"]
            kinesis.put_record(
                StreamName=stack.resources.stream_name, Data=json.dumps(record).encode(), PartitionKey=event_id
            )
            sent = time.monotonic()
            alerted = landed = None
            seen_keys: set[str] = set()
            while alerted is None or landed is None:
                now = time.monotonic()
                if now - sent > buffer_seconds + 30:
                    raise TimeoutError(f"event {event_id} not seen within {buffer_seconds + 30} s")
                if alerted is None and any(event_id in m.body for m in stack.mailbox.delivered):
                    alerted = now - sent
                if landed is None:
                    new = [k for k in stack.firehose.stats.keys if k.endswith(".parquet") and k not in seen_keys]
                    for key in new:
                        seen_keys.add(key)
                        found = duckdb.sql(
                            f"SELECT count(*) FROM read_parquet('{stack.lake_dir / key}') WHERE event_id = '{event_id}'"
                        ).fetchone()[0]
                        if found:
                            landed = time.monotonic() - sent
                time.sleep(0.01)
            alert_latencies.append(alerted)
            lake_latencies.append(landed)
    return alert_latencies, lake_latencies


def main() -> None:
    demo_alert, demo_lake = measure(DEMO_BUFFER_S, TRIALS)
    deployed_alert, deployed_lake = measure(DEPLOYED_BUFFER_S, 2)
    p50 = statistics.median
    print(
        f"end-to-end latency, local mode ({TRIALS} trials with a {DEMO_BUFFER_S:g} s buffer, "
        f"2 with {DEPLOYED_BUFFER_S:g} s)"
    )
    print("| path | buffer | p50 | max | goal |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| PutRecords -> alert e-mail | {DEMO_BUFFER_S:g} s | {p50(demo_alert):.2f} s "
        f"| {max(demo_alert):.2f} s | 2 s |"
    )
    print(
        f"| PutRecords -> queryable in lake | {DEMO_BUFFER_S:g} s | {p50(demo_lake):.2f} s | {max(demo_lake):.2f} s "
        f"| {DEMO_BUFFER_S + 5:g} s |"
    )
    print(
        f"| PutRecords -> alert e-mail | {DEPLOYED_BUFFER_S:g} s | {p50(deployed_alert):.2f} s "
        f"| {max(deployed_alert):.2f} s | 2 s |"
    )
    print(
        f"| PutRecords -> queryable in lake | {DEPLOYED_BUFFER_S:g} s | {p50(deployed_lake):.2f} s "
        f"| {max(deployed_lake):.2f} s | {DEPLOYED_BUFFER_S + 5:g} s |"
    )
    print(f"lake latency, deployed buffer / demo buffer: {p50(deployed_lake) / p50(demo_lake):.1f}x")


if __name__ == "__main__":
    main()
