"""`python -m streamlake cost`: the arithmetic of the estimate against cases computed by hand (the working is in the
comments), the billing rules AWS documents, and the command line."""

from __future__ import annotations

import pytest

from streamlake.__main__ import main
from streamlake.config import load_config
from streamlake.cost import Workload, athena_runs, estimate, load_prices, processor_invocations_per_second

MONTH_SECONDS = 2_628_000  # 730 h


def items_by_what(config, workload, region="us-east-1") -> dict[str, float]:
    return {f"{i.service}: {i.what}": i.monthly for i in estimate(config, workload, load_prices(region))}


def test_idle_pipeline_pays_only_the_fixed_items():
    # 730 shard-hours x $0.015 = 10.95; one KMS key $1; 7 alarms x $0.10 = 0.70; dashboard $3 -> 15.65
    items = estimate(load_config(), Workload(rate=0), load_prices("us-east-1"))
    assert {(i.service, i.what): round(i.monthly, 2) for i in items} == {
        ("Kinesis", "shard-hours"): 10.95,
        ("KMS", "customer managed key (SNS topics)"): 1.00,
        ("CloudWatch", "alarms"): 0.70,
        ("CloudWatch", "dashboard"): 3.00,
    }
    assert sum(i.monthly for i in items) == pytest.approx(15.65)


def test_idle_in_ireland_with_the_confluent_secret():
    # 730 x $0.017 = 12.41; key 1; alarms 0.70; dashboard 3; secret 0.40 -> 17.51
    config = load_config(
        {"kafka_mode": "confluent", "kafka_bootstrap_servers": "b.example.com:9092", "kafka_secret_name": "sl/c"}
    )
    items = estimate(config, Workload(rate=0), load_prices("eu-west-1"))
    assert sum(i.monthly for i in items) == pytest.approx(17.51)


def test_ten_events_a_second_item_by_item():
    # 10/s x 2,628,000 s = 26,280,000 events of 230 bytes; two alert subscribers; 1 % of events alert.
    config = load_config({"alert_emails": "a@example.com,b@example.com"})
    got = items_by_what(config, Workload(rate=10, record_bytes=230, alert_fraction=0.01))
    # one 25 KB PUT unit per record: 26.28 M x $0.014
    assert got["Kinesis: PUT payload units (1 per record)"] == pytest.approx(0.36792)
    # each record billed as 5 KB: 26.28 M x 5120 B = 134,553,600,000 B = 125.3129 GB; x $0.029 and x $0.018
    assert got["Firehose: ingestion (records rounded up to 5 KB)"] == pytest.approx(3.634071, rel=1e-6)
    assert got["Firehose: JSON to Parquet conversion (5 KB rounding)"] == pytest.approx(2.255630, rel=1e-6)
    # 3 families x one object per 60 s buffer = 3 x 43,800 objects; x $0.005 per 1,000
    assert got["Firehose: dynamic partitioning, objects"] == pytest.approx(0.657)
    # + 43,800 raw/ objects = 175,200 PUTs x $0.005 per 1,000
    assert got["S3: PUT requests (Parquet and raw objects)"] == pytest.approx(0.876)
    # processor: 1 invocation/s (batch window) = 2,628,000; transformation: every 60 s = 43,800 -> x $0.20/M
    assert got["Lambda: requests (processor, transformation, bridge)"] == pytest.approx(0.53436)
    # processor 10 records: 10 / 22,292 s x 1769/512 = 1.55 ms + 5 -> 7 ms at 0.5 GB: 9,198 GB-s;
    # transformation 600 records: 600 / 22,292 s x 1769/256 = 186 ms + 5 -> 191 ms at 0.25 GB: 2,091.45 GB-s
    assert got["Lambda: compute (processor 7 ms/invocation, transformation 191 ms)"] == pytest.approx(
        0.150527, rel=1e-5
    )
    # X-Ray samples the first request each second: 2,628,000 traces x $5/M
    assert got["X-Ray: traces recorded"] == pytest.approx(13.14)
    # 262,800 alerts: 1 WRU each at $0.625/M; 2 e-mails each at $2 per 100,000
    assert got["DynamoDB: alert de-duplication writes"] == pytest.approx(0.16425)
    # de-duplication reads are strongly consistent: 1 RRU each at $0.125/M
    assert got["DynamoDB: alert de-duplication reads (strongly consistent)"] == pytest.approx(0.03285)
    # the alert lifecycle: 8 open-alert items read per processor invocation: 21,024,000 RRU; at most one state read
    # and one state write per alerting event
    assert got["DynamoDB: alert lifecycle: open-alert reads (8/invocation)"] == pytest.approx(2.628)
    assert got["DynamoDB: alert lifecycle: state writes (at most 1 per alerting event)"] == pytest.approx(0.16425)
    assert got["DynamoDB: alert lifecycle: state reads (at most 1 per alerting event)"] == pytest.approx(0.03285)
    assert got["SNS: alert e-mails (2 subscribers)"] == pytest.approx(10.512)
    # objects of 13 KB (raw) and 1.8 KB (Parquet) never transition: 12 months of 578.16 MB raw + 236.52 MB Parquet
    # in Standard = 9,776,160,000 B = 9.1047 GB x $0.023
    assert got["S3: storage, Standard (month 12)"] == pytest.approx(0.209409, rel=1e-5)
    assert got["S3: lifecycle transitions to IA (objects of 128 KB or more)"] == 0


@pytest.mark.parametrize(
    ("rate", "transitions_to_ia"),
    [
        (10, 0.0),
        # raw/ objects: 100/s x 230 B x 2.2/23 x 60 s = 132,000 B >= 128 KiB -> 43,800 transitions x $0.01/1,000;
        # Parquet objects: 100/3 x 230 x 0.9/23 x 60 = 18,000 B stay
        (100, 0.438),
        # at 1,000/s the Parquet objects are 180,000 B too: 175,200 transitions
        (1000, 1.752),
    ],
)
def test_only_objects_of_128_kb_or_more_move_down_the_lifecycle(rate, transitions_to_ia):
    got = items_by_what(load_config(), Workload(rate=rate))
    assert got["S3: lifecycle transitions to IA (objects of 128 KB or more)"] == pytest.approx(transitions_to_ia)


@pytest.mark.parametrize(
    ("record_bytes", "put_units", "firehose_kb"),
    [(1, 1, 5), (5120, 1, 5), (5121, 1, 10), (25_600, 1, 25), (25_601, 2, 30), (1_048_576, 41, 1025)],
)
def test_record_sizes_round_up_to_25_kb_put_units_and_5_kb_firehose_increments(record_bytes, put_units, firehose_kb):
    # 1 event/s: 2,628,000 events a month
    got = items_by_what(load_config(), Workload(rate=1, record_bytes=record_bytes))
    assert got[f"Kinesis: PUT payload units ({put_units} per record)"] == pytest.approx(2.628 * put_units * 0.014)
    assert got["Firehose: ingestion (records rounded up to 5 KB)"] == pytest.approx(
        MONTH_SECONDS * firehose_kb * 1024 / 1024**3 * 0.029
    )


@pytest.mark.parametrize(
    ("rate", "shards", "batch", "invocations"),
    [(0.5, 1, 100, 0.5), (10, 1, 100, 1.0), (1000, 1, 100, 10.0), (2000, 2, 100, 20.0), (150, 1, 10, 15.0)],
)
def test_processor_invokes_once_per_batch_or_per_window(rate, shards, batch, invocations):
    config = load_config({"shard_count": shards, "processor_batch_size": batch})
    assert processor_invocations_per_second(config, rate) == pytest.approx(invocations)


def test_an_athena_run_costs_at_least_ten_megabytes():
    # 10,000,000 B x $5 per 10^12 B = $0.00005 for every query reading less than 10 MB
    rows = athena_runs(["lab_latest_readings", "student_logins"], load_prices("us-east-1"))
    assert rows == [
        ("lab_latest_readings", 1_012_941, pytest.approx(0.00005)),
        ("student_logins", None, pytest.approx(0.00005)),
    ]


def test_cli_prints_the_items_and_a_one_line_summary(capsys):
    assert main(["cost", "--rate", "0", "--summary"]) == 0
    assert capsys.readouterr().out.strip() == "cost at 0 events/s in us-east-1: $15.65/month ($0.51/day)"
    assert main(["cost", "--rate", "10", "-c", "shard_count=2"]) == 0
    out = capsys.readouterr().out
    assert "Kinesis         shard-hours" in out and "1,460.000" in out  # 2 shards x 730 h
    assert "lab_latest_readings" in out and "unverified rates" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["cost", "--rate", "-1"], "rate must be at least 0"),
        (["cost", "-c", "shard_count=0"], "config key 'shard_count'"),
        (["cost", "--region", "mars-1"], "no prices for region 'mars-1'"),
        (["cost", "--record-bytes", "2000000"], "record_bytes must be"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_window_metrics_items_at_ten_events_a_second():
    # The metrics mapping gathers 10 s (metrics_batch_window_seconds): 0.1 invocation/s = 262,800 a month, each with
    # 100 records, touching min(70, 100) = 70 window items: 18,396,000 writes and as many strongly consistent reads.
    got = items_by_what(load_config(), Workload(rate=10))
    assert got["Lambda: window-metrics requests"] == pytest.approx(262_800 / 1e6 * 0.20)
    # CPU: 100 / 1350 s at 256/1769 of a vCPU = 511.85 ms; 70 items x 2 round trips x 5 ms = 700 ms -> 1212 ms;
    # 262,800 x 1.212 s x 0.25 GB = 79,628.4 GB-s x $0.0000133334
    assert got["Lambda: window-metrics compute (1212 ms/invocation)"] == pytest.approx(79_628.4 * 0.0000133334)
    assert got["DynamoDB: window state writes (70 items/invocation)"] == pytest.approx(18.396 * 0.625)
    assert got["DynamoDB: window state reads (strongly consistent)"] == pytest.approx(18.396 * 0.125)
    # one object per closed 30 s window: 87,600 PUTs x $0.005 per 1,000
    assert got["S3: window_metrics objects (one per closed window)"] == pytest.approx(0.438)
    # 5 batch metrics + 3 LateRecords + 3 x 5 locations + 2 x 6 services + 5 event types = 40 x $0.30
    assert got["CloudWatch: window metrics (EMF, per location/service/event type)"] == pytest.approx(12.0)


def test_a_small_window_metrics_batch_touches_at_most_one_item_per_record():
    # 1 event/s, 10 s batches: 10 records touch at most 10 items; 262,800 invocations x 10 = 2.628 M writes
    got = items_by_what(load_config(), Workload(rate=1))
    assert got["DynamoDB: window state writes (10 items/invocation)"] == pytest.approx(2.628 * 0.625)
