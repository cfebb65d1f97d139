"""Local mode runs the window-metrics function through its own poller, as the deployed event source mapping does."""

from __future__ import annotations

import gzip
import json
import time
import urllib.error
import urllib.request
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from local.stack import LocalOptions, LocalStack
from local.web import WebView
from streamlake.config import load_config

WINDOW_MS = 30_000


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    config = load_config({"metrics_batch_window_seconds": "0", "metrics_batch_size": "50"})
    # Event times: 120 readings one second apart, starting on a window boundary ten minutes ago; a late one at the end.
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    base = now - timedelta(seconds=now.timestamp() % 30)
    readings = []
    for i in range(120):
        readings.append(
            {
                "sensor_id": f"s{i % 3}",
                "location": "lab" if i % 3 else "freezer",
                "temperature": float(i % 40),
                "humidity": 50.0,
                "timestamp": (base + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
            }
        )
    late = dict(
        readings[5], sensor_id="late", timestamp=(base + timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
    )
    with LocalStack(config, LocalOptions(tmp_path_factory.mktemp("windows"), buffer_seconds=1.0)) as stack:
        kinesis = boto3.client("kinesis", endpoint_url=stack.endpoint.url, region_name="us-east-1")
        for start in range(0, len(readings), 40):
            entries = [
                {"Data": json.dumps(r).encode(), "PartitionKey": r["sensor_id"]} for r in readings[start : start + 40]
            ]
            kinesis.put_records(StreamName=stack.resources.stream_name, Records=entries)
        kinesis.put_records(
            StreamName=stack.resources.stream_name,
            Records=[{"Data": json.dumps(late).encode(), "PartitionKey": "late"}],
        )
        stack.wait_until_windowed(timeout=120)
        store = stack.window_store()
        base_ms = int(base.timestamp() * 1000)
        windows = {start: store.window_entities(start) for start in range(base_ms, base_ms + 4 * WINDOW_MS, WINDOW_MS)}
        objects = {
            key: stack.clients["s3"].get_object(Bucket=stack.resources.lake_bucket, Key=key)["Body"].read()
            for key in stack.lake_objects("metrics/window_metrics/")
        }
        with WebView(stack, port=0) as web:
            with urllib.request.urlopen(web.url + "api/windows?family=sensor&limit=3", timeout=30) as response:
                api = json.loads(response.read())
            try:
                urllib.request.urlopen(web.url + "api/windows?family=weather", timeout=30)
                bad_status = 200
            except urllib.error.HTTPError as error:
                bad_status = error.code
        # A lost checkpoint: the runners restart and the window-metrics function reads the whole shard again.
        shard_id = next(iter(windows_shards(stack)))
        last = stack.checkpoint("metrics", shard_id)
        stack.stop_runners()
        (stack.run_dir / "metrics-checkpoints.json").unlink()
        stack.start_runners()
        wait(lambda: stack.checkpoint("metrics", shard_id) == last, 120, "the replay to reach the last record")
        replayed = {start: stack.window_store().window_entities(start) for start in windows}
        objects_after = {
            key: stack.clients["s3"].get_object(Bucket=stack.resources.lake_bucket, Key=key)["Body"].read()
            for key in stack.lake_objects("metrics/window_metrics/")
        }
        closed_metric = windows_closed_sum(stack)
        from athena_queries import local as athena_local

        athena = athena_local.run(
            "SELECT window_start, entity, count, max_temperature FROM window_metrics "
            "WHERE dimension = 'sensor' AND entity = 's1' ORDER BY window_start",
            stack.lake_dir,
        )
        errors = list(stack.errors)
    yield {
        "readings": readings,
        "base_ms": base_ms,
        "windows": windows,
        "objects": objects,
        "errors": errors,
        "api": api,
        "bad_status": bad_status,
        "replayed": replayed,
        "objects_after": objects_after,
        "closed_metric": closed_metric,
        "athena": athena,
    }


def windows_shards(stack: LocalStack) -> list[str]:
    kinesis = stack.clients["kinesis"]
    return [s["ShardId"] for s in kinesis.list_shards(StreamName=stack.resources.stream_name)["Shards"]]


def wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def windows_closed_sum(stack: LocalStack) -> float:
    """The WindowsClosed EMF metric as CloudWatch has it: how many times a window was emitted."""
    now = datetime.now(UTC)
    stats = stack.clients["cloudwatch"].get_metric_statistics(
        Namespace="Streamlake",
        MetricName="WindowsClosed",
        Dimensions=[{"Name": "service", "Value": "window-metrics"}],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=5),
        Period=3600,
        Statistics=["Sum"],
    )
    return sum(point["Sum"] for point in stats["Datapoints"])


def test_every_window_holds_what_the_readings_say(run):
    readings, base_ms, windows, errors = run["readings"], run["base_ms"], run["windows"], run["errors"]
    assert errors == []
    expected: dict[tuple[int, str], list[float]] = defaultdict(list)
    for i, reading in enumerate(readings):
        expected[(base_ms + (i // 30) * WINDOW_MS, reading["location"])].append(reading["temperature"])
    got = {
        (start, key.entity): (agg.count, agg.maxima["temperature"])
        for start, entities in windows.items()
        for key, agg in entities.items()
        if key.dimension == "location"
    }
    assert got == {key: (len(temps), max(temps)) for key, temps in expected.items()}
    # The late reading (event time 5 s into the first window, read after 119 s) is in no window.
    assert all(key.entity != "late" for entities in windows.values() for key in entities)


def test_windows_the_watermark_passed_are_in_the_lake(run):
    base_ms, objects = run["base_ms"], run["objects"]
    # Last event time base+119 s, lateness 10 s: the watermark is base+109 s, past the ends of the first three.
    starts = sorted(int(key.rsplit("window-", 1)[1].split(".")[0]) for key in objects)
    assert starts == [base_ms, base_ms + WINDOW_MS, base_ms + 2 * WINDOW_MS]
    first = [json.loads(line) for line in gzip.decompress(objects[min(objects)]).splitlines()]
    sensors = sorted((row["entity"], row["count"]) for row in first if row["dimension"] == "sensor")
    assert sensors == [("s0", 10), ("s1", 10), ("s2", 10)]


def test_api_windows_lists_the_newest_windows_of_a_family(run):
    base_ms, api, bad_status = run["base_ms"], run["api"], run["bad_status"]
    # GIVEN four windows of readings, the last one still open
    starts = [(w["start_ms"], w["closed"]) for w in api["windows"]]
    assert starts == [(base_ms + 3 * WINDOW_MS, False), (base_ms + 2 * WINDOW_MS, True), (base_ms + WINDOW_MS, True)]
    assert (api["window_seconds"], api["allowed_lateness_seconds"]) == (30, 10)
    newest_closed = api["windows"][1]["rows"]
    assert {r["family"] for r in newest_closed} == {"sensor"}
    lab = next(r for r in newest_closed if r["dimension"] == "location" and r["entity"] == "lab")
    # readings 60..89 whose index is not a multiple of 3 are in the lab: 20 of them
    assert lab["count"] == 20 and lab["window_start"].endswith("Z")
    assert bad_status == 400


def test_a_replay_from_a_lost_checkpoint_counts_nothing_twice_and_emits_each_window_once(run):
    # GIVEN the shard read to its end, then read again from its first record after a restart
    # THEN every window holds what it held, the lake objects are unchanged, and three windows were emitted in all
    assert run["errors"] == []
    flatten = lambda windows: {  # noqa: E731
        (start, key.dimension, key.entity): agg.to_dict()
        for start, ents in windows.items()
        for key, agg in ents.items()
    }
    assert flatten(run["replayed"]) == flatten(run["windows"])
    assert run["objects_after"] == run["objects"]
    assert run["closed_metric"] == 3


def test_closed_windows_are_queryable_locally_as_the_window_metrics_table(run):
    base = datetime.fromtimestamp(run["base_ms"] / 1000, UTC)
    starts = [(base + timedelta(seconds=30 * i)).strftime("%Y-%m-%dT%H:%M:%S.000Z") for i in range(3)]
    # s1 is every third reading from index 1: 10 per window, temperatures (i % 40) of i = 1, 4, ..., 28 then 31..58
    # (31..39 then 0..18) and 61..88 (21..39 then 0..8)
    assert run["athena"].rows == [(starts[0], "s1", 10, 28.0), (starts[1], "s1", 10, 37.0), (starts[2], "s1", 10, 39.0)]
