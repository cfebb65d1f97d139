"""Alarm evaluation over stored metrics, and SNS notifications delivered to the local mailbox."""

from __future__ import annotations

import copy
import functools
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from local.alarms import AlarmEvaluator
from local.mailbox import Inbox, Mailbox, read_mailbox
from local.moto_server import SnsEmail
from local.policies import PublishGate, alerting_template
from streamlake.alarms import AlarmSpec, alarm_specs
from streamlake.config import Config

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
ITERATOR_AGE = next(s for s in alarm_specs(Config()) if s.key == "iterator-age")  # Maximum, 60 s x 5, >= 60000
ACCOUNT = "123456789012"


@functools.cache
def synthesised_gate() -> PublishGate:
    """CloudWatch's publish permission as the synthesised alerting stack grants it."""
    return PublishGate(alerting_template(), account=ACCOUNT, region="us-east-1")


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        sns, cloudwatch = boto3.client("sns"), boto3.client("cloudwatch")
        topic = sns.create_topic(Name="ops")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="ops@example.com")
        inbox = Inbox()
        SnsEmail.deliver_to(topic, inbox.put)
        try:
            yield cloudwatch, sns, inbox, topic
        finally:
            SnsEmail.remove(topic)


def evaluator(aws, specs=(ITERATOR_AGE,), gate: PublishGate | None = None) -> AlarmEvaluator:
    cloudwatch, sns, _, topic = aws
    return AlarmEvaluator(
        cloudwatch=cloudwatch,
        sns=sns,
        specs=list(specs),
        resource_names={"stream": "events", "queue": "dlq"},
        ops_topic_arn=topic,
        name_prefix="streamlake",
        publish_policy=gate or synthesised_gate(),
    )


def put_age(cloudwatch, minute: int, value: float) -> None:
    cloudwatch.put_metric_data(
        Namespace="AWS/Kinesis",
        MetricData=[
            {
                "MetricName": "GetRecords.IteratorAgeMilliseconds",
                "Dimensions": [{"Name": "StreamName", "Value": "events"}],
                "Timestamp": T0 + timedelta(minutes=minute, seconds=30),
                "Value": value,
            }
        ],
    )


def mailbox(aws, tmp_path) -> Mailbox:
    inbox = aws[2]
    return Mailbox(inbox=inbox, path=tmp_path / "mailbox.mbox")


def test_a_metric_above_threshold_for_every_period_raises_one_alarm_then_recovers(aws, tmp_path):
    cloudwatch = aws[0]
    box = mailbox(aws, tmp_path)
    alarms = evaluator(aws)
    for minute in range(5):
        put_age(cloudwatch, minute, 1_000)
    assert [t.new_state for t in alarms.evaluate(T0 + timedelta(minutes=5))] == ["OK"]

    for minute in range(5, 9):
        put_age(cloudwatch, minute, 90_000)
    assert alarms.evaluate(T0 + timedelta(minutes=9)) == [], "4 of 5 periods breaching is not enough"
    put_age(cloudwatch, 9, 90_000)
    (alarm,) = alarms.evaluate(T0 + timedelta(minutes=10))
    assert (alarm.old_state, alarm.new_state) == ("OK", "ALARM")
    assert alarms.evaluate(T0 + timedelta(minutes=10, seconds=20)) == [], "no second notification while in ALARM"

    put_age(cloudwatch, 10, 500)
    (recovered,) = alarms.evaluate(T0 + timedelta(minutes=11))
    assert (recovered.old_state, recovered.new_state) == ("ALARM", "OK")

    assert box.deliver_pending() == 2
    emails = read_mailbox(box.path)
    assert [e["Subject"] for e in emails] == [
        'ALARM: "streamlake-iterator-age" in us-east-1',
        'OK: "streamlake-iterator-age" in us-east-1',
    ]
    assert all(e["To"] == "ops@example.com" for e in emails)
    body = json.loads(emails[0].get_content().split("\n\n--\n")[0])
    assert body["NewStateValue"] == "ALARM"
    assert body["Trigger"]["Dimensions"] == [{"name": "StreamName", "value": "events"}]
    assert body["AlarmDescription"] == ITERATOR_AGE.description
    state = cloudwatch.describe_alarms(AlarmNames=["streamlake-iterator-age"])["MetricAlarms"][0]["StateValue"]
    assert state == "OK"


def test_missing_data_is_not_breaching(aws):
    alarms = evaluator(aws)
    put_age(aws[0], 0, 90_000)
    assert [t.new_state for t in alarms.evaluate(T0 + timedelta(minutes=5))] == ["OK"]


def test_sum_statistic_adds_every_value_in_the_period(aws):
    cloudwatch = aws[0]
    spec = AlarmSpec(
        key="dlq",
        description="d",
        namespace="AWS/SQS",
        metric_name="ApproximateNumberOfMessagesVisible",
        resource="queue",
        statistic="Sum",
        period_seconds=60,
        evaluation_periods=1,
        threshold=3,
    )
    alarms = evaluator(aws, specs=(spec,))
    for value in (1, 1, 1):
        cloudwatch.put_metric_data(
            Namespace="AWS/SQS",
            MetricData=[
                {
                    "MetricName": "ApproximateNumberOfMessagesVisible",
                    "Dimensions": [{"Name": "QueueName", "Value": "dlq"}],
                    "Timestamp": T0 + timedelta(seconds=10),
                    "Value": value,
                }
            ],
        )
    (transition,) = alarms.evaluate(T0 + timedelta(seconds=59))
    assert transition.new_state == "ALARM"


def test_mail_is_written_for_each_e_mail_subscription_and_removed_from_the_inbox(aws, tmp_path):
    _, sns, inbox, _ = aws
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    SnsEmail.deliver_to(topic, inbox.put)
    for address in ("a@example.com", "b@example.com"):
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=address)
    sns.publish(TopicArn=topic, Subject="High temperature: s-1", Message="Sensor s-1 read 35.2 °C")
    SnsEmail.remove(topic)
    box = Mailbox(inbox=inbox, path=tmp_path / "m.mbox")
    assert len(inbox) == 2
    assert box.deliver_pending() == 2
    assert box.deliver_pending() == 0 and len(inbox) == 0
    emails = read_mailbox(box.path)
    assert [e["To"] for e in emails] == ["a@example.com", "b@example.com"]
    assert emails[0]["Subject"] == "High temperature: s-1"
    assert emails[0].get_content().startswith("Sensor s-1 read 35.2 °C")


def test_mail_keeps_unicode_long_subjects_and_lines_that_start_with_from(aws, tmp_path):
    # GIVEN a notification whose body has non-ASCII text, a line starting "From " and a line longer than 76
    _, sns, inbox, topic = aws
    body = "Nota publicada: Matemáticas ✓ 9.5\nFrom the grading service\n" + "detalle " * 40
    subject = "Grade posted for student ü-42 in course Álgebra lineal, section 3 (2026 autumn term, group B)"
    sns.publish(TopicArn=topic, Subject=subject, Message=body)
    box = Mailbox(inbox=inbox, path=tmp_path / "m.mbox")
    # WHEN the mailbox delivers it
    assert box.deliver_pending() == 1
    # THEN a mail reader gets back exactly what SNS was given, in a standard MIME message
    (mail,) = read_mailbox(box.path)
    assert mail["Subject"] == subject
    assert mail.get_content_type() == "text/plain" and mail.get_content_charset() == "utf-8"
    assert mail.get_content().startswith(body)
    assert mail["Message-ID"].endswith("@sns.local>") and mail["Date"].datetime.tzinfo is not None
    assert all(len(line) <= 998 for line in box.path.read_bytes().splitlines())  # RFC 5322 line limit


def test_datapoints_of_the_current_second_count(aws):
    # GIVEN the processor just reported invalid records (sub-second timestamps, as EMF has them)
    cloudwatch = aws[0]
    spec = next(s for s in alarm_specs(Config()) if s.key == "invalid-records")  # Sum over 5 min >= 10
    alarms = AlarmEvaluator(
        cloudwatch=cloudwatch,
        sns=aws[1],
        specs=[spec],
        resource_names={"service": "processor"},
        ops_topic_arn=aws[3],
        name_prefix="streamlake",
        publish_policy=synthesised_gate(),
    )
    now = datetime.now(UTC)
    for value in (4, 3, 3):
        cloudwatch.put_metric_data(
            Namespace=spec.namespace,
            MetricData=[
                {
                    "MetricName": spec.metric_name,
                    "Dimensions": [{"Name": "service", "Value": "processor"}],
                    "Timestamp": now,
                    "Value": value,
                }
            ],
        )
    # WHEN the alarms are evaluated right away THEN the newest datapoints are in the window
    assert [t.new_state for t in alarms.evaluate()] == ["ALARM"]


def _alarm_into_alarm_state(aws, alarms: AlarmEvaluator) -> None:
    for minute in range(5):
        put_age(aws[0], minute, 90_000)
    alarms.evaluate(T0 + timedelta(minutes=5))


def test_an_alarm_is_emailed_because_the_synthesised_ops_topic_policy_lets_cloudwatch_publish(aws, tmp_path):
    alarms = evaluator(aws)
    _alarm_into_alarm_state(aws, alarms)
    assert alarms.action_failures == []
    assert mailbox(aws, tmp_path).deliver_pending() == 1


def test_with_the_old_deny_only_topic_policy_the_alarm_fails_its_action_as_on_aws(aws, tmp_path):
    # GIVEN the alerting stack as it was synthesised before CloudWatch was allowed: a TLS-only Deny, nothing else
    template = copy.deepcopy(alerting_template())
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::SNS::TopicPolicy":
            statements = resource["Properties"]["PolicyDocument"]["Statement"]
            statements[:] = [s for s in statements if s["Effect"] == "Deny"]
            assert statements and all(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements)
    alarms = evaluator(aws, gate=PublishGate(template, account=ACCOUNT, region="us-east-1"))
    # WHEN the alarm goes into ALARM
    _alarm_into_alarm_state(aws, alarms)
    # THEN nobody is e-mailed, and the transition carries the error CloudWatch writes in the alarm history
    (failed,) = alarms.action_failures
    assert failed.new_state == "ALARM"
    assert mailbox(aws, tmp_path).deliver_pending() == 0
    assert (
        f"Resource: arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:streamlake-iterator-age is not authorized to "
        f"perform: SNS:Publish on resource: {aws[3]}" in failed.action_error
    )
