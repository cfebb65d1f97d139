"""Run a query on Athena: start it in the workgroup, poll with exponential backoff, page the results.

Every failure becomes an AthenaQueryError with one line a user can act on: the query FAILED (with Athena's reason and
error category), was CANCELLED (the workgroup's bytes-scanned cutoff does this), timed out, or the API call itself
was refused (credentials, region, missing workgroup).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

# Output names of the data lake stack (stacks/pipeline.py OUTPUT_WORKGROUP / OUTPUT_DATABASE; a test keeps them
# equal) — read here without importing the CDK app, so the runner starts fast and works without aws-cdk-lib.
OUTPUT_WORKGROUP = "AthenaWorkGroupName"
OUTPUT_DATABASE = "GlueDatabaseName"
ENV_WORKGROUP = "STREAMLAKE_ATHENA_WORKGROUP"
ENV_DATABASE = "STREAMLAKE_GLUE_DATABASE"

FIRST_POLL_SECONDS = 0.25
MAX_POLL_SECONDS = 5.0
DEFAULT_TIMEOUT_SECONDS = 15 * 60.0
PAGE_SIZE = 1000  # GetQueryResults' maximum

_NO_CREDENTIALS = "no AWS credentials found: configure a profile (AWS_PROFILE) or run `aws sso login`"
_NO_REGION = "no AWS region configured: set AWS_DEFAULT_REGION or pass --region"
_ERROR_CATEGORIES = {1: "system error", 2: "user error", 3: "other error"}


class AthenaQueryError(RuntimeError):
    """The query did not succeed; the message is one line saying why."""


@dataclass(frozen=True)
class Target:
    """Where queries run: the workgroup (which enforces the results location and scan cutoff) and the database."""

    workgroup: str
    database: str


@dataclass(frozen=True)
class AthenaRun:
    """A finished execution: id, columns, typed rows, bytes scanned and engine time as Athena reported them."""

    query_execution_id: str
    columns: list[str]
    rows: list[tuple[Any, ...]]
    bytes_scanned: int
    elapsed_seconds: float
    polls: int = 0
    column_types: list[str] = field(default_factory=list)


def resolve_target(
    workgroup: str | None,
    database: str | None,
    stack_name: str,
    cloudformation: Any | None = None,
    region: str | None = None,
) -> Target:
    """Workgroup and database from the flags, else the environment, else the data lake stack's outputs."""
    workgroup = workgroup or os.environ.get(ENV_WORKGROUP)
    database = database or os.environ.get(ENV_DATABASE)
    if workgroup and database:
        return Target(workgroup, database)
    outputs = _stack_outputs(stack_name, cloudformation, region)
    workgroup = workgroup or outputs.get(OUTPUT_WORKGROUP)
    database = database or outputs.get(OUTPUT_DATABASE)
    if not workgroup or not database:
        raise AthenaQueryError(
            f"stack {stack_name} has no {OUTPUT_WORKGROUP}/{OUTPUT_DATABASE} outputs; pass --workgroup and --database"
        )
    return Target(workgroup, database)


def _stack_outputs(stack_name: str, cloudformation: Any | None, region: str | None) -> dict[str, str]:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    try:
        client = cloudformation or _client("cloudformation", region)
        stacks = client.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        raise AthenaQueryError(
            f"cannot read stack {stack_name}: {_client_error(error)} (deploy it, or pass --workgroup and --database)"
        ) from None
    except NoCredentialsError:
        raise AthenaQueryError(_NO_CREDENTIALS) from None
    except NoRegionError:
        raise AthenaQueryError(_NO_REGION) from None
    except BotoCoreError as error:
        raise AthenaQueryError(f"cannot reach CloudFormation: {error}") from None
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])} if stacks else {}


def _client(service: str, region: str | None = None) -> Any:
    import boto3

    return boto3.client(service, region_name=region)


def run(
    sql: str,
    target: Target,
    *,
    client: Any | None = None,
    sleep: Callable[[float], None] = time.sleep,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    region: str | None = None,
) -> AthenaRun:
    """Run `sql` in `target`'s workgroup and return every row; AthenaQueryError (one line) when it does not succeed."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    try:
        athena = client or _client("athena", region)
        execution_id = athena.start_query_execution(
            QueryString=sql,
            QueryExecutionContext={"Database": target.database},
            WorkGroup=target.workgroup,
        )["QueryExecutionId"]
        execution, polls = _wait(athena, execution_id, sleep, timeout_seconds, clock)
        stats = execution.get("Statistics", {})
        columns, types, rows = _results(athena, execution_id)
    except NoCredentialsError:
        raise AthenaQueryError(_NO_CREDENTIALS) from None
    except NoRegionError:
        raise AthenaQueryError(_NO_REGION) from None
    except ClientError as error:
        raise AthenaQueryError(f"Athena refused the request: {_client_error(error)}") from None
    except BotoCoreError as error:
        raise AthenaQueryError(f"cannot reach Athena: {error}") from None
    return AthenaRun(
        query_execution_id=execution_id,
        columns=columns,
        rows=rows,
        bytes_scanned=int(stats.get("DataScannedInBytes", 0)),
        elapsed_seconds=stats.get("EngineExecutionTimeInMillis", 0) / 1000,
        polls=polls,
        column_types=types,
    )


def _wait(
    athena: Any, execution_id: str, sleep: Callable[[float], None], timeout: float, clock: Callable[[], float]
) -> tuple[dict[str, Any], int]:
    deadline = clock() + timeout
    delay = FIRST_POLL_SECONDS
    polls = 0
    while True:
        execution = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
        polls += 1
        status = execution["Status"]
        state = status["State"]
        if state == "SUCCEEDED":
            return execution, polls
        if state == "FAILED":
            error = status.get("AthenaError", {})
            category = _ERROR_CATEGORIES.get(error.get("ErrorCategory", 0), "error")
            kind = f", {error['ErrorType']}" if "ErrorType" in error else ""
            reason = _one_line(status.get("StateChangeReason") or error.get("ErrorMessage") or "no reason given")
            raise AthenaQueryError(f"query {execution_id} failed ({category}{kind}): {reason}")
        if state == "CANCELLED":
            reason = _one_line(status.get("StateChangeReason") or "cancelled by a user or the workgroup")
            raise AthenaQueryError(f"query {execution_id} was cancelled: {reason}")
        if clock() + delay > deadline:
            athena.stop_query_execution(QueryExecutionId=execution_id)
            raise AthenaQueryError(f"query {execution_id} still {state} after {timeout:g} s: stopped it")
        # Short queries finish in about a second; doubling keeps those snappy and long ones cheap to watch.
        sleep(delay)
        delay = min(delay * 2, MAX_POLL_SECONDS)


def _results(athena: Any, execution_id: str) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
    columns: list[str] = []
    types: list[str] = []
    rows: list[tuple[Any, ...]] = []
    token: str | None = None
    first_page = True
    while True:
        kwargs: dict[str, Any] = {"QueryExecutionId": execution_id, "MaxResults": PAGE_SIZE}
        if token:
            kwargs["NextToken"] = token
        page = athena.get_query_results(**kwargs)
        result_set = page["ResultSet"]
        if first_page:
            info = result_set.get("ResultSetMetadata", {}).get("ColumnInfo", [])
            columns = [c["Name"] for c in info]
            types = [c["Type"].lower() for c in info]
        page_rows = result_set.get("Rows", [])
        # The first row of a SELECT's first page repeats the column names.
        if first_page and page_rows and [d.get("VarCharValue") for d in page_rows[0]["Data"]] == columns:
            page_rows = page_rows[1:]
        for row in page_rows:
            rows.append(tuple(_convert(d.get("VarCharValue"), t) for d, t in zip(row["Data"], types, strict=False)))
        first_page = False
        token = page.get("NextToken")
        if not token:
            return columns, types, rows


def _convert(value: str | None, athena_type: str) -> Any:
    """Athena returns every value as text; give back the Python value DuckDB would, so both modes compare."""
    if value is None:
        return None
    if athena_type in ("tinyint", "smallint", "integer", "bigint"):
        return int(value)
    if athena_type in ("double", "float", "real"):
        return float(value)
    if athena_type.startswith("decimal"):
        return Decimal(value)
    if athena_type == "boolean":
        return value == "true"
    if athena_type.startswith("timestamp"):
        # "2026-11-24 10:00:00.123" or, with a zone, "2026-11-24 10:00:00.123 UTC" (results are in UTC).
        text = value.removesuffix(" UTC")
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            return value
    return value


def _client_error(error: Any) -> str:
    info = error.response.get("Error", {})
    return f"{info.get('Code', 'Error')}: {_one_line(info.get('Message', str(error)))}"


def _one_line(text: str) -> str:
    return " ".join(text.split())
