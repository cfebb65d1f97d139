"""Ingestion stack: stream, Firehose into the lake, processor Lambda and its event source mapping."""

from __future__ import annotations

from aws_cdk.assertions import Match

from streamlake import lake
from tests.infra.helpers import as_list, function_statements, imported, only, policy_statements


def test_stream_has_one_encrypted_shard_by_default(synth):
    t = synth.template(synth.pipeline.ingestion)
    t.resource_count_is("AWS::Kinesis::Stream", 1)
    t.has_resource_properties(
        "AWS::Kinesis::Stream",
        {
            "ShardCount": 1,
            "RetentionPeriodHours": 24,
            "StreamEncryption": {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"},
            "StreamModeDetails": {"StreamMode": "PROVISIONED"},
        },
    )


def test_firehose_reads_the_stream_and_buffers_60_seconds(synth):
    t = synth.template(synth.pipeline.ingestion)
    stream_id, _ = only(t, "AWS::Kinesis::Stream")
    t.has_resource_properties(
        "AWS::KinesisFirehose::DeliveryStream",
        {
            "DeliveryStreamType": "KinesisStreamAsSource",
            "KinesisStreamSourceConfiguration": {"KinesisStreamARN": {"Fn::GetAtt": [stream_id, "Arn"]}},
            "ExtendedS3DestinationConfiguration": Match.object_like(
                {"BufferingHints": {"IntervalInSeconds": 60, "SizeInMBs": 64}}
            ),
        },
    )


def test_firehose_partitions_by_family_and_hour_and_converts_to_parquet(synth):
    t = synth.template(synth.pipeline.ingestion)
    _, stream = only(t, "AWS::KinesisFirehose::DeliveryStream")
    dest = stream["Properties"]["ExtendedS3DestinationConfiguration"]
    assert dest["Prefix"] == lake.FIREHOSE_PROCESSED_PREFIX
    assert dest["ErrorOutputPrefix"] == lake.FIREHOSE_ERROR_PREFIX
    assert dest["FileExtension"] == lake.PARQUET_EXTENSION
    assert dest["DynamicPartitioningConfiguration"]["Enabled"] is True
    assert "partitionKeyFromLambda:family" in dest["Prefix"]
    [processor] = dest["ProcessingConfiguration"]["Processors"]
    assert processor["Type"] == "Lambda"
    params = {p["ParameterName"]: p["ParameterValue"] for p in processor["Parameters"]}
    transform_id, _ = only(t, "AWS::Lambda::Function", {"Handler": "lambdas.transform.handler.handler"})
    assert params["LambdaArn"] == {"Fn::GetAtt": [transform_id, "Arn"]}
    assert params["BufferSizeInMBs"] == "3"
    conversion = dest["DataFormatConversionConfiguration"]
    assert conversion["Enabled"] is True
    assert "OpenXJsonSerDe" in conversion["InputFormatConfiguration"]["Deserializer"]
    assert conversion["OutputFormatConfiguration"]["Serializer"]["ParquetSerDe"]["Compression"] == "SNAPPY"
    assert conversion["SchemaConfiguration"]["TableName"] == imported(
        synth.template(synth.pipeline.data_lake),
        only(synth.template(synth.pipeline.data_lake), "AWS::Glue::Table", {"TableInput": {"Name": "all_events"}})[0],
    )


def test_firehose_keeps_every_source_record_as_gzip_json_under_raw(synth):
    t = synth.template(synth.pipeline.ingestion)
    _, stream = only(t, "AWS::KinesisFirehose::DeliveryStream")
    dest = stream["Properties"]["ExtendedS3DestinationConfiguration"]
    assert dest["S3BackupMode"] == "Enabled"
    backup = dest["S3BackupConfiguration"]
    assert backup["Prefix"] == lake.FIREHOSE_RAW_PREFIX
    assert backup["CompressionFormat"] == "GZIP"
    assert backup["BufferingHints"] == {"IntervalInSeconds": 60, "SizeInMBs": 64}


def test_firehose_buffer_follows_config(tmp_path):
    from aws_cdk.assertions import Template

    from stacks.pipeline import create_app

    _, pipeline = create_app(context={"firehose_buffer_seconds": "300", "shard_count": "2"}, outdir=str(tmp_path))
    t = Template.from_stack(pipeline.ingestion)
    t.has_resource_properties("AWS::Kinesis::Stream", {"ShardCount": 2})
    t.has_resource_properties(
        "AWS::KinesisFirehose::DeliveryStream",
        {
            "ExtendedS3DestinationConfiguration": Match.object_like(
                {"BufferingHints": {"IntervalInSeconds": 300, "SizeInMBs": 64}}
            )
        },
    )


def test_processor_runs_the_lambdas_asset_with_its_settings(synth):
    t = synth.template(synth.pipeline.ingestion)
    _, fn = only(t, "AWS::Lambda::Function", {"Handler": "lambdas.processor.handler.handler"})
    props = fn["Properties"]
    assert props["Runtime"].startswith("python3.")
    assert props["TracingConfig"] == {"Mode": "Active"}
    env = props["Environment"]["Variables"]
    assert env["HIGH_TEMPERATURE_C"] == "30"
    assert env["POWERTOOLS_SERVICE_NAME"] == "processor"
    assert {"ALERTS_TOPIC_ARN", "LAKE_BUCKET", "IDEMPOTENCY_TABLE", "ERROR_BURST_THRESHOLD"} <= set(env)
    layer = props["Layers"][0]
    assert "Ref" in layer, "Powertools layer ARN comes from Powertools' public SSM parameter"
    assert t.to_json()["Parameters"][layer["Ref"]]["Default"].startswith("/aws/service/powertools/python/")


def test_event_source_reports_item_failures_bisects_bounds_retries_and_uses_the_dlq(synth):
    t = synth.template(synth.pipeline.ingestion)
    stream_id, _ = only(t, "AWS::Kinesis::Stream")
    queue_id, _ = only(t, "AWS::SQS::Queue")
    config = synth.pipeline.config
    t.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": {"Fn::GetAtt": [stream_id, "Arn"]},
            "StartingPosition": "TRIM_HORIZON",
            "BatchSize": config.processor_batch_size,
            "MaximumBatchingWindowInSeconds": config.processor_batch_window_seconds,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BisectBatchOnFunctionError": True,
            "MaximumRetryAttempts": config.processor_max_retries,
            "MaximumRecordAgeInSeconds": config.processor_max_record_age_seconds,
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}},
        },
    )


def test_dead_letter_queue_is_encrypted_and_tls_only(synth):
    t = synth.template(synth.pipeline.ingestion)
    t.has_resource_properties("AWS::SQS::Queue", {"SqsManagedSseEnabled": True, "MessageRetentionPeriod": 1209600})
    _, policy = only(t, "AWS::SQS::QueuePolicy")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
    )


def test_processor_may_write_only_quarantine_in_the_lake(synth):
    t = synth.template(synth.pipeline.ingestion)
    lake_t = synth.template(synth.pipeline.data_lake)
    lake_id, _ = only(lake_t, "AWS::S3::Bucket", {"VersioningConfiguration": {"Status": "Enabled"}})
    lake_arn = imported(lake_t, lake_id, "Arn")
    s3_statements = [
        s
        for s in function_statements(t, "lambdas.processor.handler.handler")
        if any(a.startswith("s3:") for a in as_list(s["Action"]))
    ]
    assert len(s3_statements) == 1
    assert "s3:PutObject" in s3_statements[0]["Action"]
    assert not any(a.startswith(("s3:Get", "s3:Delete", "s3:List")) for a in s3_statements[0]["Action"])
    assert s3_statements[0]["Resource"] == {"Fn::Join": ["", [lake_arn, "/quarantine/*"]]}


def test_no_iam_statement_in_any_stack_allows_every_action(synth, synth_msk, synth_confluent):
    for synthesised in (synth, synth_msk, synth_confluent):
        for template in synthesised.templates.values():
            for statement in policy_statements(template):
                actions = as_list(statement.get("Action", []))
                assert "*" not in actions and not any(a.endswith(":*") for a in actions), statement
