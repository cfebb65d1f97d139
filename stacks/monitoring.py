"""CloudWatch alarms (from streamlake.alarms) wired to the ops topic, and one dashboard of the pipeline."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from streamlake.alarms import AlarmSpec

_COMPARISON = {
    "GreaterThanOrEqualToThreshold": cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    "GreaterThanThreshold": cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
}
_MISSING = {"notBreaching": cloudwatch.TreatMissingData.NOT_BREACHING, "missing": cloudwatch.TreatMissingData.MISSING}


@dataclass(frozen=True)
class PipelineMonitoringProps:
    specs: tuple[AlarmSpec, ...]
    # Physical name of each resource kind a spec refers to (tokens at synth time).
    resource_names: dict[str, str]
    ops_topic: sns.ITopic
    dashboard_name: str
    # Extra graphs for the dashboard that are not alarms: (title, metrics).
    extra_widgets: tuple[tuple[str, tuple[cloudwatch.IMetric, ...]], ...] = ()

    def __post_init__(self) -> None:
        missing = {s.resource for s in self.specs} - set(self.resource_names)
        if missing:
            raise ValueError(f"no resource name given for {sorted(missing)}")


def metric_of(spec: AlarmSpec, resource_name: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=spec.namespace,
        metric_name=spec.metric_name,
        dimensions_map={spec.dimension_name: resource_name},
        statistic=spec.statistic,
        period=Duration.seconds(spec.period_seconds),
    )


class PipelineMonitoring(Construct):
    """Attributes: `alarms` (spec key -> Alarm) and `dashboard`."""

    def __init__(self, scope: Construct, construct_id: str, props: PipelineMonitoringProps) -> None:
        super().__init__(scope, construct_id)
        action = actions.SnsAction(props.ops_topic)
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        widgets: list[cloudwatch.IWidget] = []
        for spec in props.specs:
            alarm = cloudwatch.Alarm(
                self,
                f"Alarm-{spec.key}",
                alarm_description=spec.description,
                metric=metric_of(spec, props.resource_names[spec.resource]),
                threshold=spec.threshold,
                evaluation_periods=spec.evaluation_periods,
                comparison_operator=_COMPARISON[spec.comparison],
                treat_missing_data=_MISSING[spec.treat_missing_data],
            )
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
            self.alarms[spec.key] = alarm
            widgets.append(cloudwatch.AlarmWidget(title=spec.key, alarm=alarm, width=8))
        for title, metrics in props.extra_widgets:
            widgets.append(cloudwatch.GraphWidget(title=title, left=list(metrics), width=8))

        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=props.dashboard_name,
            default_interval=Duration.hours(3),
        )
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Pipeline alarms", alarms=list(self.alarms.values()), width=24)
        )
        for i in range(0, len(widgets), 3):
            self.dashboard.add_widgets(*widgets[i : i + 3])
