"""Athena workgroup with enforced settings and one named query per file in athena_queries/."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, Token
from aws_cdk import aws_athena as athena
from aws_cdk import aws_s3 as s3
from constructs import Construct

from athena_queries import SavedQuery

# Athena rejects a bytes-scanned cutoff below 10 MB.
MIN_CUTOFF_BYTES = 10_000_000
RESULTS_PREFIX = "athena/"


@dataclass(frozen=True)
class AnalyticsWorkgroupProps:
    workgroup_name: str
    database_name: str
    results_bucket: s3.IBucket
    bytes_scanned_cutoff: int
    queries: tuple[SavedQuery, ...]
    delete_with_queries: bool

    def __post_init__(self) -> None:
        if not Token.is_unresolved(self.bytes_scanned_cutoff) and self.bytes_scanned_cutoff < MIN_CUTOFF_BYTES:
            raise ValueError(
                f"bytes_scanned_cutoff must be at least {MIN_CUTOFF_BYTES}, got {self.bytes_scanned_cutoff}"
            )
        names = [q.name for q in self.queries]
        if len(set(names)) != len(names):
            raise ValueError(f"saved query names must be unique, got {names}")


class AnalyticsWorkgroup(Construct):
    """Attributes: `workgroup` (CfnWorkGroup) and `named_queries` (name -> CfnNamedQuery)."""

    def __init__(self, scope: Construct, construct_id: str, props: AnalyticsWorkgroupProps) -> None:
        super().__init__(scope, construct_id)
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=props.workgroup_name,
            description="streamlake analytics: results location, encryption and scan cutoff are enforced",
            state="ENABLED",
            # Lets `cdk destroy` remove the workgroup even when it still holds saved queries and history.
            recursive_delete_option=props.delete_with_queries,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=props.bytes_scanned_cutoff,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=props.results_bucket.s3_url_for_object(RESULTS_PREFIX),
                    expected_bucket_owner=Aws.ACCOUNT_ID,
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"
                    ),
                ),
            ),
        )
        self.named_queries: dict[str, athena.CfnNamedQuery] = {}
        for query in props.queries:
            named = athena.CfnNamedQuery(
                self,
                f"Query-{query.name}",
                name=query.name,
                description=query.description[:1024],
                database=props.database_name,
                query_string=query.sql,
                work_group=self.workgroup.ref,
            )
            self.named_queries[query.name] = named
