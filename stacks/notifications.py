"""SNS topics: `alerts` for people (high temperature, error bursts, grade notifications) and `ops` for the
pipeline's CloudWatch alarms. Both are KMS-encrypted with a key CloudWatch may use, and TLS-only."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct


@dataclass(frozen=True)
class NotificationsProps:
    alert_emails: tuple[str, ...]
    ops_emails: tuple[str, ...]


class Notifications(Construct):
    """Attributes: `alerts_topic`, `ops_topic`, `key`."""

    def __init__(self, scope: Construct, construct_id: str, props: NotificationsProps) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "TopicKey",
            description="streamlake SNS topics",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # CloudWatch alarms publish to an encrypted topic only if the key lets the service use it.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy "*" means this key
            )
        )
        self.alerts_topic = self._topic("AlertsTopic", "streamlake alerts", props.alert_emails)
        self.ops_topic = self._topic("OpsTopic", "streamlake pipeline alarms", props.ops_emails)

    def _topic(self, construct_id: str, display_name: str, emails: tuple[str, ...]) -> sns.Topic:
        topic = sns.Topic(self, construct_id, display_name=display_name, master_key=self.key, enforce_ssl=True)
        for email in emails:
            topic.add_subscription(subscriptions.EmailSubscription(email))
        return topic
