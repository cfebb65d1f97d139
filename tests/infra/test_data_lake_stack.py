"""Data lake stack: buckets, Glue catalog with partition projection, Athena workgroup and saved queries."""

from __future__ import annotations

from aws_cdk.assertions import Match

from athena_queries import saved_queries
from lambdas.schemas import FAMILIES, FAMILY_TABLES
from streamlake import lake
from tests.infra.helpers import only


def _lake_bucket(synth):
    t = synth.template(synth.pipeline.data_lake)
    return t, only(t, "AWS::S3::Bucket", {"VersioningConfiguration": {"Status": "Enabled"}})


def test_every_bucket_is_encrypted_private_and_logged_except_the_log_bucket(synth):
    t = synth.template(synth.pipeline.data_lake)
    buckets = t.find_resources("AWS::S3::Bucket")
    assert len(buckets) == 3
    for bucket in buckets.values():
        props = bucket["Properties"]
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "AES256"
        }
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
    logged = [b for b in buckets.values() if "LoggingConfiguration" in b["Properties"]]
    assert len(logged) == 2, "lake and results buckets send server access logs"


def test_every_bucket_policy_denies_requests_without_tls(synth):
    t = synth.template(synth.pipeline.data_lake)
    policies = t.find_resources("AWS::S3::BucketPolicy")
    assert len(policies) == 3
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
        )
        assert any(
            s["Effect"] == "Deny" and s.get("Condition", {}).get("NumericLessThan") == {"s3:TlsVersion": 1.2}
            for s in statements
        )


def test_lake_lifecycle_moves_raw_to_ia_then_glacier_and_expires_errors(synth):
    _, (_, bucket) = _lake_bucket(synth)
    rules = {r["Id"]: r for r in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
    raw = rules["raw-to-ia-then-glacier"]
    assert raw["Prefix"] == lake.RAW_PREFIX
    assert [(t["StorageClass"], t["TransitionInDays"]) for t in raw["Transitions"]] == [
        ("STANDARD_IA", 30),
        ("GLACIER", 90),
    ]
    processed = rules["processed-to-ia-then-glacier-instant"]
    assert processed["Prefix"] == lake.PROCESSED_PREFIX
    # Athena cannot read Glacier Flexible Retrieval objects, so queryable data stops at Instant Retrieval.
    assert [t["StorageClass"] for t in processed["Transitions"]] == ["STANDARD_IA", "GLACIER_IR"]
    assert rules["expire-errors"]["Prefix"] == lake.ERRORS_PREFIX
    assert rules["expire-quarantine"]["Prefix"] == lake.QUARANTINE_PREFIX
    assert rules["tidy-versions-and-uploads"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}


def test_default_removal_policy_deletes_buckets_and_their_objects(synth):
    t = synth.template(synth.pipeline.data_lake)
    for bucket in t.find_resources("AWS::S3::Bucket").values():
        assert bucket["DeletionPolicy"] == "Delete"
    assert len(t.find_resources("Custom::S3AutoDeleteObjects")) == 3


def test_retain_removal_policy_keeps_buckets_and_the_stream(synth_msk):
    t = synth_msk.template(synth_msk.pipeline.data_lake)
    for bucket in t.find_resources("AWS::S3::Bucket").values():
        assert bucket["DeletionPolicy"] == "Retain"
    assert not t.find_resources("Custom::S3AutoDeleteObjects")
    stream = synth_msk.template(synth_msk.pipeline.ingestion).find_resources("AWS::Kinesis::Stream")
    assert [s["DeletionPolicy"] for s in stream.values()] == ["Retain"]


def test_one_glue_table_per_family_with_contract_columns_and_partition_projection(synth):
    t = synth.template(synth.pipeline.data_lake)
    _, (lake_id, _) = _lake_bucket(synth)
    for family in FAMILIES:
        _, table = only(t, "AWS::Glue::Table", {"TableInput": {"Name": FAMILY_TABLES[family]}})
        table_input = table["Properties"]["TableInput"]
        columns = [(c["Name"], c["Type"]) for c in table_input["StorageDescriptor"]["Columns"]]
        assert columns == lake.table_columns(family)
        extra = ["source_table"] if family == "change" else []  # table_changes: test_cdc_stack.py
        assert [k["Name"] for k in table_input["PartitionKeys"]] == [*extra, *lake.TIME_PARTITION_KEYS]
        params = table_input["Parameters"]
        assert params["projection.enabled"] == "true"
        assert params["projection.year.type"] == "date"
        assert params["projection.year.range"] == f"{lake.FIRST_PARTITION_YEAR},NOW"
        assert params["projection.month.range"] == "1,12" and params["projection.month.digits"] == "2"
        assert params["projection.day.range"] == "1,31" and params["projection.day.digits"] == "2"
        assert params["projection.hour.range"] == "0,23" and params["projection.hour.digits"] == "2"
        # The same template streamlake.lake gives Firehose's prefix and the local deliverer.
        assert params["storage.location.template"] == {
            "Fn::Join": ["", ["s3://", {"Ref": lake_id}, lake.location_template("", family)]]
        }
        assert "parquet" in table_input["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].lower()


def test_sensor_table_has_the_columns_the_lab_queries_use(synth):
    t = synth.template(synth.pipeline.data_lake)
    _, table = only(t, "AWS::Glue::Table", {"TableInput": {"Name": "sensor_data"}})
    names = {c["Name"] for c in table["Properties"]["TableInput"]["StorageDescriptor"]["Columns"]}
    assert {"sensor_id", "temperature", "humidity", "timestamp", "location"} <= names


def test_all_events_table_projects_family_and_time(synth):
    t = synth.template(synth.pipeline.data_lake)
    _, table = only(t, "AWS::Glue::Table", {"TableInput": {"Name": "all_events"}})
    table_input = table["Properties"]["TableInput"]
    assert [k["Name"] for k in table_input["PartitionKeys"]] == ["family", *lake.TIME_PARTITION_KEYS]
    assert table_input["Parameters"]["projection.family.type"] == "enum"
    assert table_input["Parameters"]["projection.family.values"] == ",".join(lake.PARTITION_FAMILIES)


def test_workgroup_enforces_results_location_encryption_and_scan_cutoff(synth):
    t = synth.template(synth.pipeline.data_lake)
    results_id, _ = only(
        t, "AWS::S3::Bucket", {"LifecycleConfiguration": {"Rules": [Match.object_like({"Id": "expire-results"})]}}
    )
    cutoff_mb = synth.pipeline.config.athena_bytes_scanned_cutoff_mb
    t.has_resource_properties(
        "AWS::Athena::WorkGroup",
        {
            "Name": synth.pipeline.config.prefix,
            "WorkGroupConfiguration": {
                "EnforceWorkGroupConfiguration": True,
                "BytesScannedCutoffPerQuery": cutoff_mb * 1_000_000,
                "PublishCloudWatchMetricsEnabled": True,
                "ResultConfiguration": {
                    "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
                    "OutputLocation": {"Fn::Join": ["", ["s3://", {"Ref": results_id}, "/athena/"]]},
                    "ExpectedBucketOwner": {"Ref": "AWS::AccountId"},
                },
            },
        },
    )


def test_every_saved_query_file_is_a_named_query_in_the_workgroup(synth):
    t = synth.template(synth.pipeline.data_lake)
    workgroup_id, _ = only(t, "AWS::Athena::WorkGroup")
    queries = saved_queries()
    assert {"lab_latest_readings", "lab_avg_temperature_by_sensor", "lab_readings_above_30c"} <= {
        q.name for q in queries
    }
    t.resource_count_is("AWS::Athena::NamedQuery", len(queries))
    for query in queries:
        t.has_resource_properties(
            "AWS::Athena::NamedQuery",
            {
                "Name": query.name,
                "QueryString": query.sql,
                "Description": query.description,
                "WorkGroup": {"Ref": workgroup_id},
                "Database": Match.any_value(),
            },
        )


def test_lab_queries_are_verbatim(synth):
    by_name = {q.name: q.sql for q in saved_queries()}
    assert "SELECT * FROM sensor_data ORDER BY timestamp DESC LIMIT 10;" in by_name["lab_latest_readings"]
    assert (
        "SELECT sensor_id, AVG(temperature) as avg_temp FROM sensor_data GROUP BY sensor_id;"
        in by_name["lab_avg_temperature_by_sensor"]
    )
    assert (
        "SELECT sensor_id, temperature, timestamp FROM sensor_data WHERE temperature > 30.0 ORDER BY timestamp DESC;"
        in by_name["lab_readings_above_30c"]
    )
