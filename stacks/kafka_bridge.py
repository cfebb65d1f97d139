"""Kafka bridge: a Lambda consuming the Kafka topics (Amazon MSK or Confluent Cloud) and writing each event to the
Kinesis stream, so Kafka-born events flow through the same processor, lake and alerts.

Credentials never appear in context or templates: the SASL user and password live in a Secrets Manager secret the
config only names. With MSK and no secret, the bridge authenticates with IAM.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from lambdas.bridge.mapping import DEFAULT_ROUTES, TOPIC_MAP_VARIABLE, Route, routes_to_json
from stacks.lambda_code import python_function
from stacks.nag import suppress
from streamlake import lake

HANDLER = "lambdas.bridge.handler.handler"
_AUTH = {
    "plain": sources.AuthenticationMethod.BASIC_AUTH,
    "scram-sha-256": sources.AuthenticationMethod.SASL_SCRAM_256_AUTH,
    "scram-sha-512": sources.AuthenticationMethod.SASL_SCRAM_512_AUTH,
}
# Event source mappings with a schema registry run in provisioned mode; one poller handles about 5 MB/s, so one to
# two cover a CDC feed of a few tables and keep the idle cost at one poller.
CDC_MIN_POLLERS, CDC_MAX_POLLERS = 1, 2


@dataclass(frozen=True)
class KafkaBridgeProps:
    mode: str  # msk | confluent
    topics: tuple[str, ...]
    stream: kinesis.IStream
    lake_bucket: s3.IBucket
    powertools_version: str
    consumer_group_id: str
    batch_size: int
    retain_logs: bool
    msk_cluster_arn: str = ""
    bootstrap_servers: tuple[str, ...] = ()
    secret_name: str = ""
    auth: str = "plain"
    cdc_topics: tuple[str, ...] = ()
    schema_registry_url: str = ""  # https:// Confluent-compatible registry, or a Glue Schema Registry ARN
    schema_registry_secret_name: str = ""

    def __post_init__(self) -> None:
        if self.mode not in ("msk", "confluent"):
            raise ValueError(f"mode must be msk or confluent, got {self.mode!r}")
        if not (self.topics or self.cdc_topics):
            raise ValueError("topics must not be empty")
        if set(self.topics) & set(self.cdc_topics):
            raise ValueError("a topic cannot be both an event topic and a CDC topic")
        if self.schema_registry_url.startswith("https://") and not self.schema_registry_secret_name:
            raise ValueError("an https:// schema registry needs schema_registry_secret_name")
        if self.mode == "msk" and not self.msk_cluster_arn:
            raise ValueError("msk mode needs msk_cluster_arn")
        if self.mode == "confluent" and not (self.bootstrap_servers and self.secret_name):
            raise ValueError("confluent mode needs bootstrap_servers and secret_name")
        if self.auth not in _AUTH:
            raise ValueError(f"auth must be one of {sorted(_AUTH)}, got {self.auth!r}")


class KafkaBridge(Construct):
    """Attributes: `function`, `event_sources` (topic -> event source), `secret` (or None with MSK IAM auth)."""

    def __init__(self, scope: Construct, construct_id: str, props: KafkaBridgeProps) -> None:
        super().__init__(scope, construct_id)
        self.function = python_function(
            self,
            "Function",
            description="streamlake: copy Kafka events into the Kinesis stream",
            handler=HANDLER,
            memory_mb=256,
            timeout=Duration.seconds(60),
            retain_logs=props.retain_logs,
            powertools_version=props.powertools_version,
            environment={
                "STREAM_NAME": props.stream.stream_name,
                "LAKE_BUCKET": props.lake_bucket.bucket_name,
                # Topic -> event family (notificaciones: student events with a default e-mail channel). A topic
                # outside the map is accepted only for messages that name their own family.
                # CDC topics carry Debezium change events (lambdas/bridge/debezium.py).
                TOPIC_MAP_VARIABLE: routes_to_json(
                    {t: DEFAULT_ROUTES[t] for t in props.topics if t in DEFAULT_ROUTES}
                    | {t: Route("change") for t in props.cdc_topics}
                ),
                "POWERTOOLS_SERVICE_NAME": "kafka-bridge",
                "POWERTOOLS_METRICS_NAMESPACE": "Streamlake",
            },
        )
        props.stream.grant_write(self.function)
        props.lake_bucket.grant_put(self.function, f"{lake.QUARANTINE_PREFIX}*")

        self.secret: secretsmanager.ISecret | None = None
        if props.secret_name:
            self.secret = secretsmanager.Secret.from_secret_name_v2(self, "Credentials", props.secret_name)
            suppress(
                self.function,
                "AwsSolutions-IAM5",
                "Secrets Manager appends a random 6-character suffix to secret ARNs; the wildcard matches only "
                "that suffix of the one configured secret.",
                applies_to=[
                    f"Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:"
                    f"secret:{props.secret_name}-??????"
                ],
            )

        self.event_sources: dict[str, lambda_.IEventSource] = {}
        for topic in props.topics:
            source = self._event_source(props, topic)
            self.function.add_event_source(source)
            self.event_sources[topic] = source
        for topic in props.cdc_topics:
            source = self._event_source(props, topic, self._cdc_options(props))
            self.function.add_event_source(source)
            self.event_sources[topic] = source

        if props.mode == "msk":
            self._grant_msk(props)

    def _cdc_options(self, props: KafkaBridgeProps) -> dict[str, object]:
        """With a schema registry, the event source deserializes Avro keys and values through it and hands the
        function JSON (EventRecordFormat.JSON), so the bridge never decodes registry schemas itself; that needs
        provisioned pollers. Without one, change topics must carry JSON (or the bundled schemas' Avro)."""
        if not props.schema_registry_url:
            return {}
        validate = [
            lambda_.KafkaSchemaValidationConfig(attribute=lambda_.KafkaSchemaValidationAttribute.KEY),
            lambda_.KafkaSchemaValidationConfig(attribute=lambda_.KafkaSchemaValidationAttribute.VALUE),
        ]
        registry: lambda_.ISchemaRegistry
        if props.schema_registry_url.startswith("arn:"):
            registry = sources.GlueSchemaRegistry(
                schema_registry_arn=props.schema_registry_url,
                event_record_format=lambda_.EventRecordFormat.JSON,
                schema_validation_configs=validate,
            )
            registry_name = props.schema_registry_url.rsplit("/", 1)[-1]
            suppress(
                # On the role: the statement is in the function's own role's policy (stacks/lambda_code.py).
                self.function.role,
                "AwsSolutions-IAM5",
                "The event source reads schema versions of the configured Glue registry: glue:GetSchemaVersion on "
                "schema/<registry>/*, the schemas of that one registry, as the CDK's GlueSchemaRegistry grants it.",
                # cdk-nag names the statement's Fn::Sub resource by its template and variables.
                applies_to=[
                    'Resource::["arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:schema/${registryName}/*",'
                    + json.dumps({"registryName": registry_name}, separators=(",", ":"))
                    + "]"
                ],
            )
        else:
            registry = sources.ConfluentSchemaRegistry(
                schema_registry_uri=props.schema_registry_url,
                authentication_type=lambda_.KafkaSchemaRegistryAccessConfigType.BASIC_AUTH,
                secret=self._registry_secret(props.schema_registry_secret_name),
                event_record_format=lambda_.EventRecordFormat.JSON,
                schema_validation_configs=validate,
            )
        return {
            "schema_registry_config": registry,
            "provisioned_poller_config": sources.ProvisionedPollerConfig(
                minimum_pollers=CDC_MIN_POLLERS, maximum_pollers=CDC_MAX_POLLERS
            ),
        }

    def _registry_secret(self, name: str) -> secretsmanager.ISecret:
        existing = self.node.try_find_child("RegistryCredentials")
        if existing is not None:
            return existing  # type: ignore[return-value]
        secret = secretsmanager.Secret.from_secret_name_v2(self, "RegistryCredentials", name)
        suppress(
            self.function,
            "AwsSolutions-IAM5",
            "Secrets Manager appends a random 6-character suffix to secret ARNs; the wildcard matches only that "
            "suffix of the one configured schema registry secret.",
            applies_to=[
                f"Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:{name}-??????"
            ],
        )
        return secret

    def _event_source(
        self, props: KafkaBridgeProps, topic: str, extra: dict[str, object] | None = None
    ) -> lambda_.IEventSource:
        common = {
            "topic": topic,
            "starting_position": lambda_.StartingPosition.TRIM_HORIZON,
            "batch_size": props.batch_size,
            "max_batching_window": Duration.seconds(1),
            "consumer_group_id": props.consumer_group_id,
            **(extra or {}),
        }
        if props.mode == "msk":
            return sources.ManagedKafkaEventSource(cluster_arn=props.msk_cluster_arn, secret=self.secret, **common)
        return sources.SelfManagedKafkaEventSource(
            bootstrap_servers=list(props.bootstrap_servers),
            secret=self.secret,
            authentication_method=_AUTH[props.auth],
            **common,
        )

    def _grant_msk(self, props: KafkaBridgeProps) -> None:
        """Permissions the MSK event source needs beyond what CDK adds: IAM auth on the cluster, its topics and
        the bridge's consumer group (only when no SASL/SCRAM secret is configured)."""
        cluster = props.msk_cluster_arn
        topic_base = cluster.replace(":cluster/", ":topic/", 1)
        group_base = cluster.replace(":cluster/", ":group/", 1)
        if not self.secret:
            self.function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["kafka-cluster:Connect", "kafka-cluster:DescribeClusterDynamicConfiguration"],
                    resources=[cluster],
                )
            )
            self.function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"],
                    resources=[f"{topic_base}/{t}" for t in props.topics],
                )
            )
            self.function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"],
                    resources=[f"{group_base}/{props.consumer_group_id}"],
                )
            )
        # CDK attaches AWSLambdaMSKExecutionRole for the ENIs Lambda creates in the cluster's VPC.
        suppress(
            self.function.role,
            "AwsSolutions-IAM4",
            "AWSLambdaMSKExecutionRole is the AWS-maintained policy an MSK event source needs to create network "
            "interfaces in the cluster's VPC and describe the cluster; it grants no data access.",
            applies_to=["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaMSKExecutionRole"],
        )
