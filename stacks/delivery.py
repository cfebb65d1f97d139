"""Firehose delivery from the Kinesis stream into the lake.

A transformation Lambda (lambdas/transform) validates and normalises each record against the event contract and
returns its family as the partitioning key; valid records are partitioned by family and hour of arrival, converted
to Parquet with the schema of the Glue `all_events` table, and written under processed/. Every source record is also
kept as GZIP JSON under raw/ (S3 backup); what the transformation rejects or Firehose cannot convert goes to
errors/<error type>/. Layout: streamlake.lake.

Firehose runs with a role of its own, written here instead of by CDK's grants (which give `s3:DeleteObject*`,
`GetObject*` and `List*` on the whole versioned lake bucket). It holds what the Firehose developer guide lists for a
Kinesis source and an S3 destination ("Controlling access with Amazon Data Firehose"): read the stream; the
bucket-level GetBucketLocation, ListBucket and ListBucketMultipartUploads; AbortMultipartUpload, GetObject and
PutObject only under the prefixes it writes (raw/, processed/, errors/); GetTable* on the schema table for format
conversion; invoke the transformation function; write its own log group. Nothing can delete.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, Duration, RemovalPolicy, Size, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.lambda_code import python_function
from stacks.nag import suppress
from streamlake import lake

MIN_BUFFER_SECONDS, MAX_BUFFER_SECONDS = 60, 900
MIN_BUFFER_MIB, MAX_BUFFER_MIB = 64, 128
TRANSFORM_HANDLER = "lambdas.transform.handler.handler"
# Firehose buffers up to 3 MiB for one transformation call (the largest it allows), at most 60 s: small enough to
# add little latency, big enough to amortise the invocation.
TRANSFORM_BUFFER = Size.mebibytes(3)
TRANSFORM_INTERVAL = Duration.seconds(60)
# Every prefix Firehose writes objects under (destination, S3 backup, error output).
FIREHOSE_PREFIXES: tuple[str, ...] = (lake.PROCESSED_PREFIX, lake.RAW_PREFIX, lake.ERRORS_PREFIX)


@dataclass(frozen=True)
class LakeDeliveryProps:
    stream: kinesis.IStream
    lake_bucket: s3.IBucket
    schema_table: glue.CfnTable
    buffer_seconds: int
    buffer_mib: int
    retain_logs: bool

    def __post_init__(self) -> None:
        if not MIN_BUFFER_SECONDS <= self.buffer_seconds <= MAX_BUFFER_SECONDS:
            raise ValueError(
                f"buffer_seconds must be {MIN_BUFFER_SECONDS}-{MAX_BUFFER_SECONDS}, got {self.buffer_seconds}"
            )
        # Dynamic partitioning and format conversion both require at least 64 MiB.
        if not MIN_BUFFER_MIB <= self.buffer_mib <= MAX_BUFFER_MIB:
            raise ValueError(f"buffer_mib must be {MIN_BUFFER_MIB}-{MAX_BUFFER_MIB}, got {self.buffer_mib}")


class LakeDelivery(Construct):
    """Attributes: `delivery_stream`, `transform_function`, `log_group`, `role`."""

    def __init__(self, scope: Construct, construct_id: str, props: LakeDeliveryProps) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.RETAIN if props.retain_logs else RemovalPolicy.DESTROY,
        )
        self.transform_function = python_function(
            self,
            "Transform",
            description="streamlake: validate and normalise records for the lake (Firehose transformation)",
            handler=TRANSFORM_HANDLER,
            memory_mb=256,
            timeout=Duration.minutes(1),
            retain_logs=props.retain_logs,
        )
        self.role = self._role(props)
        # CDK's destination and source grant onto the role they are given; an immutable view keeps them off it.
        fixed_role = self.role.without_policy_updates()
        buffering = {
            "buffering_interval": Duration.seconds(props.buffer_seconds),
            "buffering_size": Size.mebibytes(props.buffer_mib),
        }
        destination = firehose.S3Bucket(
            props.lake_bucket,
            data_output_prefix=lake.FIREHOSE_PROCESSED_PREFIX,
            error_output_prefix=lake.FIREHOSE_ERROR_PREFIX,
            file_extension=lake.PARQUET_EXTENSION,
            dynamic_partitioning=firehose.DynamicPartitioningProps(enabled=True, retry_duration=Duration.minutes(5)),
            processors=[
                firehose.LambdaFunctionProcessor(
                    self.transform_function, buffer_size=TRANSFORM_BUFFER, buffer_interval=TRANSFORM_INTERVAL, retries=3
                )
            ],
            data_format_conversion=firehose.DataFormatConversionProps(
                schema_configuration=firehose.SchemaConfiguration.from_cfn_table(props.schema_table, region=Aws.REGION),
                input_format=firehose.OpenXJsonInputFormat(lowercase_column_names=False),
                # Parquet compresses its pages itself; Firehose forbids a second, object-level compression.
                output_format=firehose.ParquetOutputFormat(compression=firehose.ParquetCompression.SNAPPY),
            ),
            s3_backup=firehose.DestinationS3BackupProps(
                mode=firehose.BackupMode.ALL,
                bucket=props.lake_bucket,
                data_output_prefix=lake.FIREHOSE_RAW_PREFIX,
                error_output_prefix=lake.FIREHOSE_ERROR_PREFIX,
                compression=firehose.Compression.GZIP,
                logging_config=firehose.EnableLogging(self.log_group),
                **buffering,
            ),
            logging_config=firehose.EnableLogging(self.log_group),
            role=fixed_role,
            **buffering,
        )
        self.delivery_stream = firehose.DeliveryStream(
            self,
            "DeliveryStream",
            source=firehose.KinesisStreamSource(props.stream),
            destination=destination,
            role=fixed_role,
        )
        # Firehose checks its access when the delivery stream is created: the policy must be attached first.
        self.delivery_stream.node.add_dependency(self._policy)
        suppress(
            self._policy,
            "AwsSolutions-IAM5",
            "Firehose may invoke the transformation function's versions (lambda:InvokeFunction on <function ARN>:* "
            "of this one function), and read and write objects only under the lake prefixes it delivers to "
            "(<lake bucket ARN>/raw/*, /processed/*, /errors/*).",
            applies_to=[
                f"Resource::<{Stack.of(self).get_logical_id(self.transform_function.node.default_child)}.Arn>:*",
                {"regex": "/^Resource::.*StorageLake[0-9A-F]{8}[^/]*\\/(raw|processed|errors)\\/\\*$/g"},
            ],
        )
        suppress(
            self.delivery_stream,
            "AwsSolutions-KDF1",
            "The source is an encrypted Kinesis stream; Firehose server-side encryption only exists for Direct PUT "
            "streams. Data at rest is encrypted by the lake bucket.",
        )

    def _role(self, props: LakeDeliveryProps) -> iam.Role:
        role = iam.Role(
            self,
            "Role",
            description="streamlake Firehose: read the stream, write the lake's raw/, processed/ and errors/",
            # The trust condition the Firehose guide documents: only delivery streams of this account.
            assumed_by=iam.ServicePrincipal(
                "firehose.amazonaws.com", conditions={"StringEquals": {"sts:ExternalId": Aws.ACCOUNT_ID}}
            ),
        )
        bucket = props.lake_bucket
        table = props.schema_table
        glue_arn = f"arn:{Aws.PARTITION}:glue:{Aws.REGION}:{Aws.ACCOUNT_ID}"
        function = self.transform_function.function_arn
        statements = [
            iam.PolicyStatement(
                sid="ReadTheSourceStream",
                actions=[
                    "kinesis:DescribeStream",
                    "kinesis:DescribeStreamSummary",
                    "kinesis:GetRecords",
                    "kinesis:GetShardIterator",
                    "kinesis:ListShards",
                ],
                resources=[props.stream.stream_arn],
            ),
            iam.PolicyStatement(
                sid="LocateAndListTheLakeBucket",
                actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                resources=[bucket.bucket_arn],
            ),
            iam.PolicyStatement(
                sid="WriteOnlyItsOwnPrefixes",
                actions=["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
                resources=[bucket.arn_for_objects(f"{prefix}*") for prefix in FIREHOSE_PREFIXES],
            ),
            iam.PolicyStatement(
                sid="ReadTheSchemaForFormatConversion",
                actions=["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"],
                resources=[
                    f"{glue_arn}:catalog",
                    f"{glue_arn}:database/{table.database_name}",
                    f"{glue_arn}:table/{table.database_name}/{table.ref}",
                ],
            ),
            iam.PolicyStatement(
                sid="InvokeTheTransformation",
                actions=["lambda:InvokeFunction", "lambda:GetFunctionConfiguration"],
                resources=[function, f"{function}:*"],
            ),
            iam.PolicyStatement(
                sid="WriteItsLogGroup",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            ),
        ]
        self._policy = iam.Policy(self, "Policy", statements=statements, roles=[role])
        return role
