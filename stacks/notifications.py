"""SNS topics: `alerts` for people (high temperature, error bursts, grade notifications) and `ops` for the
pipeline's CloudWatch alarms. Both are KMS-encrypted and TLS-only.

A topic policy replaces SNS's default one, so the TLS-only statement `enforce_ssl` writes would leave CloudWatch
unable to publish ("Resource arn:aws:cloudwatch:...:alarm:... is not authorized to perform: SNS:Publish"). The ops
topic therefore allows `cloudwatch.amazonaws.com` to publish, and the topic key lets it use the key, both only for
alarms of this account and region (aws:SourceAccount / aws:SourceArn, against the confused deputy), as the SNS
developer guide describes (sns-key-management.html, "compatibility with AWS services"). The alerts topic is
published only by the processor's role, in this account, which its identity policy allows.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

CLOUDWATCH = "cloudwatch.amazonaws.com"


def alarms_of_this_account() -> dict[str, dict[str, str]]:
    """Conditions limiting a CloudWatch service-principal grant to alarms of this stack's account and region."""
    return {
        "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
        "ArnLike": {"aws:SourceArn": f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:*"},
    }


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
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy "*" means this key
                conditions=alarms_of_this_account(),
            )
        )
        self.alerts_topic = self._topic("AlertsTopic", "streamlake alerts", props.alert_emails)
        self.ops_topic = self._topic("OpsTopic", "streamlake pipeline alarms", props.ops_emails)
        self.ops_topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["sns:Publish"],
                resources=[self.ops_topic.topic_arn],
                conditions=alarms_of_this_account(),
            )
        )

    def _topic(self, construct_id: str, display_name: str, emails: tuple[str, ...]) -> sns.Topic:
        topic = sns.Topic(self, construct_id, display_name=display_name, master_key=self.key, enforce_ssl=True)
        for email in emails:
            topic.add_subscription(subscriptions.EmailSubscription(email))
        return topic
