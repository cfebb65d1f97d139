"""Every service-to-service call of the design, written by hand from design.md and the AWS developer guides (not
read from the stacks): who calls, what, on which resource, and whether it must be allowed or refused.

Names are streamlake.wiring.DesignParts names. test_wiring.py evaluates this table against the synthesised templates
of every configuration, and `make check-deploy` against the user's own (WIRING_TEMPLATES_DIR).
"""

from __future__ import annotations

from streamlake.wiring import Edge

FIREHOSE_ACCOUNT = (("sts:ExternalId", "123456789012"),)

EDGES: list[Edge] = [
    # -- alarms -> ops topic (SNS access policy + the topic's customer managed key) -----------------------------
    Edge("service:cloudwatch.amazonaws.com@alarms", "sns:Publish", "topic:ops", "alarm actions e-mail the on-call"),
    Edge(
        "service:cloudwatch.amazonaws.com@arn:aws:cloudwatch:eu-west-1:999999999999:alarm:someone-else",
        "sns:Publish",
        "topic:ops",
        "another account's alarm must not use our topic (confused deputy)",
        allowed=False,
    ),
    Edge(
        "service:cloudwatch.amazonaws.com@alarms",
        "sns:Publish",
        "topic:alerts",
        "alarms publish to ops only; alerts are for the processor",
        allowed=False,
    ),
    # -- processor Lambda (execution role, also used by its Kinesis event source mapping) ----------------------
    Edge("service:lambda.amazonaws.com@account", "sts:AssumeRole", "role:processor", "Lambda runs the processor"),
    Edge("role:processor", "kinesis:GetRecords", "stream", "event source mapping reads the stream"),
    Edge("role:processor", "kinesis:GetShardIterator", "stream", "event source mapping reads the stream"),
    Edge("role:processor", "kinesis:DescribeStream", "stream", "event source mapping lists shards"),
    Edge("role:processor", "kinesis:ListShards", "stream", "event source mapping lists shards"),
    Edge("role:processor", "sqs:SendMessage", "queue:dlq", "on-failure destination of the mapping"),
    Edge("role:processor", "sns:Publish", "topic:alerts", "high temperature and error-burst alerts"),
    Edge("role:processor", "s3:PutObject", "object:lake/quarantine/sensor/2026/x.json", "quarantine invalid records"),
    Edge("role:processor", "dynamodb:PutItem", "table:idempotency", "alert de-duplication"),
    Edge("role:processor", "dynamodb:GetItem", "table:idempotency", "alert de-duplication"),
    Edge("role:processor", "dynamodb:UpdateItem", "table:idempotency", "alert de-duplication"),
    Edge("role:processor", "dynamodb:DeleteItem", "table:idempotency", "alert de-duplication"),
    Edge("role:processor", "dynamodb:BatchGetItem", "table:idempotency", "sent alerts, open alerts, alert states"),
    Edge("role:processor", "dynamodb:BatchWriteItem", "table:idempotency", "sent-alert records, 25 per call"),
    Edge("role:processor", "logs:CreateLogStream", "logs:processor", "its own logs"),
    Edge("role:processor", "logs:PutLogEvents", "logs:processor", "its own logs"),
    Edge("role:processor", "logs:PutLogEvents", "logs:transform", "another function's logs", allowed=False),
    Edge(
        "role:processor",
        "s3:PutObject",
        "object:lake/processed/family=sensor/x.parquet",
        "lake is Firehose's",
        allowed=False,
    ),
    Edge("role:processor", "sns:Publish", "topic:ops", "ops is for alarms", allowed=False),
    # -- window-metrics Lambda (its own role and event source mapping; the processor's dead-letter queue) --------
    Edge("service:lambda.amazonaws.com@account", "sts:AssumeRole", "role:metrics", "Lambda runs the metrics function"),
    Edge("role:metrics", "kinesis:GetRecords", "stream", "its event source mapping reads the stream"),
    Edge("role:metrics", "kinesis:GetShardIterator", "stream", "its event source mapping reads the stream"),
    Edge("role:metrics", "kinesis:ListShards", "stream", "the shard list for the combined watermark"),
    Edge("role:metrics", "sqs:SendMessage", "queue:dlq", "on-failure destination of its mapping"),
    Edge("role:metrics", "dynamodb:GetItem", "table:windows", "window state: read before a conditional write"),
    Edge("role:metrics", "dynamodb:PutItem", "table:windows", "window state: conditional writes"),
    Edge("role:metrics", "dynamodb:UpdateItem", "table:windows", "window index: claims and emitted marks"),
    Edge("role:metrics", "dynamodb:Query", "table:windows", "a window's items, the shards, the index"),
    Edge(
        "role:metrics",
        "s3:PutObject",
        "object:lake/metrics/window_metrics/year=2026/month=12/day=02/hour=10/window-1.json.gz",
        "closed windows into the window_metrics table",
    ),
    Edge("role:metrics", "logs:PutLogEvents", "logs:metrics", "its own logs (and EMF metrics)"),
    Edge(
        "role:metrics",
        "s3:PutObject",
        "object:lake/processed/family=sensor/x.parquet",
        "the tables' data is Firehose's",
        allowed=False,
    ),
    Edge("role:metrics", "s3:GetObject", "object:lake/raw/x.gz", "it reads nothing from the lake", allowed=False),
    Edge("role:metrics", "dynamodb:PutItem", "table:idempotency", "alert de-duplication is not its", allowed=False),
    Edge("role:processor", "dynamodb:PutItem", "table:windows", "window state is not the processor's", allowed=False),
    Edge("role:metrics", "sns:Publish", "topic:alerts", "it sends no alerts", allowed=False),
    # -- Firehose (its own role: stream, lake prefixes, schema, transformation, logs) --------------------------
    Edge(
        "service:firehose.amazonaws.com@account",
        "sts:AssumeRole",
        "role:firehose",
        "Firehose assumes its role",
        context=FIREHOSE_ACCOUNT,
    ),
    Edge(
        "service:firehose.amazonaws.com@account",
        "sts:AssumeRole",
        "role:firehose",
        "only for delivery streams of this account",
        allowed=False,
        context=(("sts:ExternalId", "999999999999"),),
    ),
    Edge("role:firehose", "kinesis:DescribeStream", "stream", "Kinesis source"),
    Edge("role:firehose", "kinesis:GetShardIterator", "stream", "Kinesis source"),
    Edge("role:firehose", "kinesis:GetRecords", "stream", "Kinesis source"),
    Edge("role:firehose", "kinesis:ListShards", "stream", "Kinesis source"),
    Edge("role:firehose", "s3:GetBucketLocation", "bucket:lake", "S3 destination"),
    Edge("role:firehose", "s3:ListBucket", "bucket:lake", "S3 destination"),
    Edge("role:firehose", "s3:ListBucketMultipartUploads", "bucket:lake", "S3 destination"),
    Edge("role:firehose", "s3:PutObject", "object:lake/processed/family=sensor/year=2026/x.parquet", "Parquet"),
    Edge("role:firehose", "s3:PutObject", "object:lake/raw/year=2026/month=12/x.gz", "S3 backup of every record"),
    Edge("role:firehose", "s3:PutObject", "object:lake/errors/processing-failed/year=2026/x", "error output"),
    Edge("role:firehose", "s3:AbortMultipartUpload", "object:lake/processed/family=log/x.parquet", "large objects"),
    Edge("role:firehose", "s3:GetObject", "object:lake/raw/year=2026/x.gz", "S3 destination"),
    Edge(
        "role:firehose", "s3:DeleteObject", "object:lake/processed/family=sensor/x.parquet", "no delete", allowed=False
    ),
    Edge("role:firehose", "s3:DeleteObjectVersion", "object:lake/raw/x.gz", "no delete of versions", allowed=False),
    Edge(
        "role:firehose", "s3:PutObject", "object:lake/quarantine/x.json", "quarantine is the processor's", allowed=False
    ),
    Edge("role:firehose", "s3:GetObject", "object:lake/quarantine/x.json", "not its prefix", allowed=False),
    Edge("role:firehose", "s3:PutBucketPolicy", "bucket:lake", "no bucket administration", allowed=False),
    Edge("role:firehose", "glue:GetTable", "glue:catalog", "format conversion schema"),
    Edge("role:firehose", "glue:GetTable", "glue:database", "format conversion schema"),
    Edge("role:firehose", "glue:GetTableVersions", "glue:table:all_events", "format conversion schema"),
    Edge("role:firehose", "lambda:InvokeFunction", "function:transform", "data transformation"),
    Edge("role:firehose", "lambda:GetFunctionConfiguration", "function:transform", "data transformation"),
    Edge("role:firehose", "logs:PutLogEvents", "logs:firehose", "delivery error logs"),
    Edge("role:firehose", "logs:PutLogEvents", "logs:processor", "not another group", allowed=False),
    # -- transformation Lambda -----------------------------------------------------------------------------------
    Edge("service:lambda.amazonaws.com@account", "sts:AssumeRole", "role:transform", "Lambda runs the transform"),
    Edge("role:transform", "logs:PutLogEvents", "logs:transform", "its own logs"),
    Edge("role:transform", "s3:PutObject", "object:lake/raw/x.gz", "it only returns records", allowed=False),
    # -- S3 server access logging ----------------------------------------------------------------------------------
    Edge(
        "service:logging.s3.amazonaws.com@bucket:lake",
        "s3:PutObject",
        "object:access-logs/lake/2026-12-02-x",
        "lake access logs",
    ),
    Edge(
        "service:logging.s3.amazonaws.com@bucket:results",
        "s3:PutObject",
        "object:access-logs/athena-results/2026-12-02-x",
        "results bucket access logs",
    ),
    Edge(
        "service:logging.s3.amazonaws.com@bucket:lake",
        "s3:PutObject",
        "object:lake/processed/x",
        "log delivery writes only the logs bucket",
        allowed=False,
    ),
    # -- Kafka bridge -----------------------------------------------------------------------------------------------
    Edge(
        "service:lambda.amazonaws.com@account", "sts:AssumeRole", "role:bridge", "Lambda runs the bridge", when="kafka"
    ),
    Edge("role:bridge", "kinesis:PutRecords", "stream", "Kafka events into the stream", when="kafka"),
    Edge("role:bridge", "kinesis:PutRecord", "stream", "Kafka events into the stream", when="kafka"),
    Edge("role:bridge", "s3:PutObject", "object:lake/quarantine/kafka/x.json", "undecodable messages", when="kafka"),
    Edge("role:bridge", "logs:PutLogEvents", "logs:bridge", "its own logs", when="kafka"),
    Edge("role:bridge", "kinesis:GetRecords", "stream", "the bridge only writes", allowed=False, when="kafka"),
    Edge("role:bridge", "kafka:DescribeClusterV2", "kafka:cluster", "event source mapping", when="msk"),
    Edge("role:bridge", "kafka:GetBootstrapBrokers", "kafka:cluster", "event source mapping", when="msk"),
    Edge(
        "role:bridge",
        "ec2:CreateNetworkInterface",
        "arn:aws:ec2:eu-west-1:123456789012:network-interface/*",
        "mapping ENIs in the cluster's VPC",
        when="msk",
    ),
    Edge("role:bridge", "kafka-cluster:Connect", "kafka:cluster", "IAM auth", when="msk-iam"),
    Edge("role:bridge", "kafka-cluster:DescribeTopic", "kafka:topic", "IAM auth", when="msk-iam"),
    Edge("role:bridge", "kafka-cluster:ReadData", "kafka:topic", "IAM auth", when="msk-iam"),
    Edge("role:bridge", "kafka-cluster:DescribeGroup", "kafka:group", "IAM auth", when="msk-iam"),
    Edge("role:bridge", "kafka-cluster:AlterGroup", "kafka:group", "IAM auth", when="msk-iam"),
    Edge("role:bridge", "secretsmanager:GetSecretValue", "secret:bridge", "SASL credentials", when="confluent"),
    Edge(
        "role:bridge",
        "secretsmanager:GetSecretValue",
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:streamlake/other-AbC123",
        "only the configured secret",
        allowed=False,
        when="confluent",
    ),
]
