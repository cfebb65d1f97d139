"""S3 buckets of the lake: the data lake itself, Athena query results, and the access logs of both."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.nag import suppress
from streamlake import lake

# Storage classes by age. raw/ is the replay copy nobody queries, so it goes to Glacier Flexible Retrieval;
# processed/ stays queryable by Athena, which cannot read Glacier Flexible objects, so it stops at
# Glacier Instant Retrieval.
RAW_TO_IA_DAYS = 30
RAW_TO_GLACIER_DAYS = 90
PROCESSED_TO_IA_DAYS = 90
PROCESSED_TO_GLACIER_IR_DAYS = 365
ERRORS_EXPIRE_DAYS = 90
NONCURRENT_VERSIONS_EXPIRE_DAYS = 30
ATHENA_RESULTS_EXPIRE_DAYS = 30
ACCESS_LOGS_EXPIRE_DAYS = 365


@dataclass(frozen=True)
class LakeStorageProps:
    retain_data: bool


class LakeStorage(Construct):
    """Encrypted, TLS-only, non-public buckets with lifecycle rules and server access logging.

    Attributes: `lake_bucket`, `results_bucket`, `access_logs_bucket`.
    """

    def __init__(self, scope: Construct, construct_id: str, props: LakeStorageProps) -> None:
        super().__init__(scope, construct_id)
        self._props = props

        self.access_logs_bucket = self._bucket(
            "AccessLogs",
            versioned=False,
            lifecycle_rules=[s3.LifecycleRule(id="expire-logs", expiration=Duration.days(ACCESS_LOGS_EXPIRE_DAYS))],
        )
        suppress(
            self.access_logs_bucket,
            "AwsSolutions-S1",
            "This bucket receives the server access logs of the lake buckets; logging it to itself would loop.",
        )

        self.lake_bucket = self._bucket(
            "Lake",
            versioned=True,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix="lake/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="raw-to-ia-then-glacier",
                    prefix=lake.RAW_PREFIX,
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=Duration.days(RAW_TO_IA_DAYS),
                        ),
                        s3.Transition(
                            storage_class=s3.StorageClass.GLACIER,
                            transition_after=Duration.days(RAW_TO_GLACIER_DAYS),
                        ),
                    ],
                ),
                s3.LifecycleRule(
                    id="processed-to-ia-then-glacier-instant",
                    prefix=lake.PROCESSED_PREFIX,
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=Duration.days(PROCESSED_TO_IA_DAYS),
                        ),
                        s3.Transition(
                            storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                            transition_after=Duration.days(PROCESSED_TO_GLACIER_IR_DAYS),
                        ),
                    ],
                ),
                s3.LifecycleRule(
                    id="expire-errors", prefix=lake.ERRORS_PREFIX, expiration=Duration.days(ERRORS_EXPIRE_DAYS)
                ),
                s3.LifecycleRule(
                    id="expire-quarantine",
                    prefix=lake.QUARANTINE_PREFIX,
                    expiration=Duration.days(ERRORS_EXPIRE_DAYS),
                ),
                s3.LifecycleRule(
                    id="tidy-versions-and-uploads",
                    noncurrent_version_expiration=Duration.days(NONCURRENT_VERSIONS_EXPIRE_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                ),
            ],
        )

        self.results_bucket = self._bucket(
            "AthenaResults",
            versioned=False,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix="athena-results/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-results",
                    expiration=Duration.days(ATHENA_RESULTS_EXPIRE_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )

    def _bucket(self, construct_id: str, **kwargs: object) -> s3.Bucket:
        retain = self._props.retain_data
        return s3.Bucket(
            self,
            construct_id,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
            auto_delete_objects=not retain,
            **kwargs,
        )
