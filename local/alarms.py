"""CloudWatch alarm evaluation for local mode, over the metrics stored in moto's CloudWatch.

moto stores metrics but never evaluates alarms. This evaluator takes the alarm definitions the monitoring stack is
built from (streamlake.alarms.alarm_specs, the single copy) and applies them as CloudWatch does
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html):

- each of the last `evaluation_periods` periods of `period_seconds` is reduced with the alarm's statistic;
- a period breaches when its value compares to the threshold with the alarm's operator;
- with `treat_missing_data` notBreaching a period without data counts as not breaching; with `missing`, periods
  without data are skipped, and an alarm with no data at all is INSUFFICIENT_DATA;
- the alarm is in ALARM when all evaluated periods breach (datapoints to alarm = evaluation periods, the CDK
  default), otherwise OK.

A state change updates the alarm in moto (so `describe-alarms` shows it) and publishes CloudWatch's notification
JSON to the ops topic, as the alarm and OK actions do. Two local choices: the windows end now instead of at the
last period boundary, so a local alarm reacts within seconds; and an alarm's first evaluation (out of
INSUFFICIENT_DATA into OK) notifies no one, which keeps the mailbox for what matters.

Publishing is what CloudWatch's service principal does on AWS, so it succeeds only if the synthesised ops topic and
key policies let `cloudwatch.amazonaws.com` publish for this alarm (local.policies.PublishGate). When they do not,
nothing is e-mailed and the transition carries the error AWS records in the alarm history ("... is not authorized
to perform: SNS:Publish ..."), as `action_error`; `action_failures` lists them all.
"""

from __future__ import annotations

import json
import operator
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from local.bounded import RecentLog
from streamlake.alarms import AlarmSpec

KEEP_TRANSITIONS = 1000  # alarm transitions kept in memory (the live view keeps its own 500)


class PublishPolicy(Protocol):
    def refusal(self, alarm_name: str, topic_arn: str) -> str | None: ...


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
}
_SYMBOL = {"GreaterThanOrEqualToThreshold": ">=", "GreaterThanThreshold": ">"}


@dataclass
class Transition:
    alarm_name: str
    old_state: str
    new_state: str
    reason: str
    # Set when the alarm action failed (the ops topic's policies refuse CloudWatch), with AWS's history text.
    action_error: str | None = None


class AlarmEvaluator:
    """`evaluate()` once per tick (or `run(stop)` on a thread); `states` holds each alarm's current state."""

    def __init__(
        self,
        *,
        cloudwatch: Any,
        sns: Any,
        specs: list[AlarmSpec],
        resource_names: dict[str, str],
        ops_topic_arn: str,
        name_prefix: str,
        publish_policy: PublishPolicy,
        region: str = "us-east-1",
        account_id: str = "123456789012",
    ) -> None:
        self._cloudwatch = cloudwatch
        self._sns = sns
        self._specs = specs
        self._resources = resource_names
        self._topic = ops_topic_arn
        self._prefix = name_prefix
        self._region = region
        self._account = account_id
        self._publish_policy = publish_policy
        self.action_failures: list[Transition] = []
        self.states: dict[str, str] = {self.alarm_name(s): "INSUFFICIENT_DATA" for s in specs}
        # Bounded: local mode runs for hours. `len(history)` counts every transition; the live view copies new ones.
        self.history: RecentLog[Transition] = RecentLog(KEEP_TRANSITIONS)
        self._create_alarms()

    def alarm_name(self, spec: AlarmSpec) -> str:
        return f"{self._prefix}-{spec.key}"

    def run(self, stop: threading.Event, interval: float = 5.0) -> None:
        while not stop.wait(interval):
            self.evaluate()

    def evaluate(self, now: datetime | None = None) -> list[Transition]:
        if now is None:
            # The windows end at the next whole second: CloudWatch's API takes times to the second, so a window
            # ending at "now" would leave out the datapoints of the current second (the newest, often the breach).
            now = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
        transitions = []
        for spec in self._specs:
            state, reason = self._state_of(spec, now)
            name = self.alarm_name(spec)
            old = self.states[name]
            if state == old:
                continue
            self.states[name] = state
            transition = Transition(name, old, state, reason)
            transitions.append(transition)
            self.history.append(transition)
            self._cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason[:1023])
            if not (old == "INSUFFICIENT_DATA" and state == "OK"):
                self._notify(spec, transition, now)
        return transitions

    def _state_of(self, spec: AlarmSpec, now: datetime) -> tuple[str, str]:
        values = []
        for i in range(spec.evaluation_periods, 0, -1):
            start = now - timedelta(seconds=spec.period_seconds * i)
            values.append(self._statistic(spec, start, start + timedelta(seconds=spec.period_seconds)))
        present = [v for v in values if v is not None]
        if spec.treat_missing_data == "missing" and not present:
            return "INSUFFICIENT_DATA", "no datapoints in the evaluation periods"
        compare = _COMPARE[spec.comparison]
        # notBreaching: a period without data is a good period; missing: such periods are left out.
        judged = present if spec.treat_missing_data == "missing" else values
        breaching = [v is not None and compare(v, spec.threshold) for v in judged]
        shown = ", ".join("missing" if v is None else f"{v:g}" for v in values)
        reason = (
            f"Threshold Crossed: {len(values)} datapoint(s) [{shown}] of {spec.statistic} over {spec.period_seconds} s "
            f"{'were' if all(breaching) else 'were not all'} {_SYMBOL[spec.comparison]} {spec.threshold:g}"
        )
        return ("ALARM" if breaching and all(breaching) else "OK"), reason

    def _statistic(self, spec: AlarmSpec, start: datetime, end: datetime) -> float | None:
        # One query per period: moto buckets datapoints from the first one it finds, not from StartTime.
        points = self._cloudwatch.get_metric_statistics(
            Namespace=spec.namespace,
            MetricName=spec.metric_name,
            Dimensions=[{"Name": spec.dimension_name, "Value": self._resources[spec.resource]}],
            StartTime=start,
            EndTime=end,
            Period=spec.period_seconds,
            Statistics=[spec.statistic],
        )["Datapoints"]
        if not points:
            return None
        values = [p[spec.statistic] for p in points]
        if spec.statistic == "Sum" or spec.statistic == "SampleCount":
            return sum(values)
        if spec.statistic == "Maximum":
            return max(values)
        if spec.statistic == "Minimum":
            return min(values)
        return sum(values) / len(values)

    def _create_alarms(self) -> None:
        for spec in self._specs:
            self._cloudwatch.put_metric_alarm(
                AlarmName=self.alarm_name(spec),
                AlarmDescription=spec.description,
                Namespace=spec.namespace,
                MetricName=spec.metric_name,
                Dimensions=[{"Name": spec.dimension_name, "Value": self._resources[spec.resource]}],
                Statistic=spec.statistic,
                Period=spec.period_seconds,
                EvaluationPeriods=spec.evaluation_periods,
                Threshold=spec.threshold,
                ComparisonOperator=spec.comparison,
                TreatMissingData=spec.treat_missing_data,
                AlarmActions=[self._topic],
                OKActions=[self._topic],
            )

    def _notify(self, spec: AlarmSpec, transition: Transition, now: datetime) -> None:
        """The JSON CloudWatch publishes to an alarm's SNS actions, if the topic's policies let CloudWatch publish."""
        refusal = self._publish_policy.refusal(transition.alarm_name, self._topic)
        if refusal is not None:
            transition.action_error = refusal
            self.action_failures.append(transition)
            return
        message = {
            "AlarmName": transition.alarm_name,
            "AlarmDescription": spec.description,
            "AWSAccountId": self._account,
            "NewStateValue": transition.new_state,
            "NewStateReason": transition.reason,
            "StateChangeTime": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "Region": self._region,
            "OldStateValue": transition.old_state,
            "Trigger": {
                "MetricName": spec.metric_name,
                "Namespace": spec.namespace,
                "Statistic": spec.statistic.upper(),
                "Dimensions": [{"name": spec.dimension_name, "value": self._resources[spec.resource]}],
                "Period": spec.period_seconds,
                "EvaluationPeriods": spec.evaluation_periods,
                "ComparisonOperator": spec.comparison,
                "Threshold": spec.threshold,
                "TreatMissingData": spec.treat_missing_data,
            },
        }
        subject = f'{transition.new_state}: "{transition.alarm_name}" in {self._region}'
        self._sns.publish(TopicArn=self._topic, Subject=subject[:100], Message=json.dumps(message, indent=2))
