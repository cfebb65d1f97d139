"""The one code asset every streamlake Lambda runs from, and the Powertools layer.

The asset is the repository root filtered down to `lambdas/`, so handlers import `lambdas.<module>` exactly as
tests and local mode do. Nothing is bundled with Docker: the handlers need only the Lambda runtime (boto3) and the
AWS-published Powertools layer, whose ARN is read at deploy time from Powertools' public SSM parameter for the
version pinned in requirements.txt.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, IgnoreMode, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64

# Glob rules apply in order: drop everything (".*" too: "*" skips dot-files), bring back lambdas/, drop bytecode
# caches again.
_ASSET_EXCLUDE = ["*", ".*", "!lambdas", "!lambdas/**", "**/__pycache__", "**/*.pyc"]


def lambda_code() -> lambda_.Code:
    return lambda_.Code.from_asset(str(ROOT), exclude=_ASSET_EXCLUDE, ignore_mode=IgnoreMode.GLOB)


def powertools_layer(scope: Construct, version: str) -> lambda_.ILayerVersion:
    """AWS's Powertools for Lambda (Python) v3 layer matching the runtime, architecture and pinned version."""
    arch = "arm64" if ARCHITECTURE == lambda_.Architecture.ARM_64 else "x86_64"
    parameter = f"/aws/service/powertools/python/{arch}/{RUNTIME.name}/{version}"
    arn = ssm.StringParameter.value_for_string_parameter(scope, parameter)
    return lambda_.LayerVersion.from_layer_version_arn(scope, "PowertoolsLayer", arn)


def python_function(
    scope: Construct,
    construct_id: str,
    *,
    description: str,
    handler: str,
    memory_mb: int,
    timeout: Duration,
    retain_logs: bool,
    environment: dict[str, str] | None = None,
    powertools_version: str | None = None,
) -> lambda_.Function:
    """A function of the shared asset with its own log group (one month; kept with `retain_logs`) and its own role,
    which may write to that log group only.

    The role is not AWSLambdaBasicExecutionRole: that managed policy allows logs:CreateLogGroup, CreateLogStream and
    PutLogEvents on every log group of the account. With `powertools_version` the function gets the Powertools
    layer and active X-Ray tracing (Powertools' Tracer).
    """
    log_group = logs.LogGroup(
        scope,
        f"{construct_id}Logs",
        retention=logs.RetentionDays.ONE_MONTH,
        removal_policy=RemovalPolicy.RETAIN if retain_logs else RemovalPolicy.DESTROY,
    )
    role = iam.Role(
        scope,
        f"{construct_id}Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=f"{description[:900]} (writes only its own log group)",
    )
    # logs:CreateLogStream and logs:PutLogEvents on this group's ARN (arn:...:log-group:NAME:*, its streams).
    log_group.grant_write(role)
    return lambda_.Function(
        scope,
        construct_id,
        description=description,
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        handler=handler,
        code=lambda_code(),
        layers=[powertools_layer(scope, powertools_version)] if powertools_version else None,
        memory_size=memory_mb,
        timeout=timeout,
        tracing=lambda_.Tracing.ACTIVE if powertools_version else None,
        log_group=log_group,
        role=role,
        environment=environment,
    )
