"""`python -m athena_queries list` and `python -m athena_queries run NAME|FILE.sql|-|--sql SQL [--local] ...`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from athena_queries import saved_queries
from athena_queries.runner import (
    RunnerError,
    default_lake_dir,
    format_csv,
    format_json,
    format_scan,
    format_table,
    resolve_query,
    run_athena,
    run_local,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m athena_queries", description="Run Athena SQL, there or locally.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the saved queries and their parameters")
    run = commands.add_parser("run", help="run a query on Athena (default) or locally (--local)")
    run.add_argument(
        "name",
        nargs="?",
        help="saved query name (see `list`), a FILE.sql, or - to read the SQL from stdin; or use --sql",
    )
    run.add_argument("--sql", help="the SQL text to run (Athena/Trino dialect; `-- @param` headers work too)")
    run.add_argument(
        "--param", "-p", action="append", default=[], metavar="K=V", help="parameter value (repeatable); see `list`"
    )
    run.add_argument("--local", action="store_true", help="run on DuckDB over the local lake instead of Athena")
    run.add_argument(
        "--lake-dir", type=Path, default=None, help="local lake directory (default: run/lake or newest run/*/lake)"
    )
    run.add_argument("--output", "-o", choices=("table", "csv", "json"), default="table")
    run.add_argument("--workgroup", help="Athena workgroup (default: $STREAMLAKE_ATHENA_WORKGROUP or stack output)")
    run.add_argument(
        "--database",
        help="Glue database (default: $STREAMLAKE_GLUE_DATABASE or stack output; locally the config's)",
    )
    run.add_argument("--stack", help="data lake stack to read outputs from (default: <prefix>-data-lake)")
    run.add_argument("--region", help="AWS region (default: the AWS configuration's)")
    run.add_argument("--show-sql", action="store_true", help="print the SQL that runs (after parameters/transpiling)")
    return parser


def _params(pairs: list[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise RunnerError(f"--param takes key=value, got {pair!r}")
        params[key.strip()] = value
    return params


def _list() -> None:
    for query in saved_queries():
        print(f"{query.name}\n    {query.description}")
        for param in query.params:
            print(f"    --param {param.name}=<{param.type}>  default {param.default}  {param.doc}")


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status (1 with a one-line message on stderr when the query fails)."""
    args = _parser().parse_args(argv)
    if args.command == "list":
        _list()
        return 0
    try:
        params = _params(args.param)
        query = resolve_query(args.name, args.sql)
        if args.local:
            lake_dir = args.lake_dir or default_lake_dir()
            result = run_local(query, params, lake_dir, database=args.database)
        else:
            result = run_athena(
                query,
                params,
                workgroup=args.workgroup,
                database=args.database,
                stack_name=args.stack,
                region=args.region,
            )
    except RunnerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.show_sql:
        print(result.sql, file=sys.stderr)
    if args.output == "table":
        print(format_table(result))
        print(format_scan(result))
    else:
        # stdout stays machine-readable; the scan summary goes to stderr.
        print(
            format_csv(result) if args.output == "csv" else format_json(result),
            end="" if args.output == "csv" else "\n",
        )
        print(format_scan(result), file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        # `... list | head`: the reader left; point stdout at devnull so the interpreter's final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
