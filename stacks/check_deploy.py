"""`make check-deploy ARGS="-c key=value ..."`, step 1: synthesise with the user's values into cdk.out, then report
cdk-nag's findings and cfn-lint's errors on every template. Exit status 0 only when both are clean.

The Makefile target then runs the wiring check on cdk.out (tests/infra/test_wiring.py with WIRING_TEMPLATES_DIR)
and prints the cost line (python -m streamlake cost --summary).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stacks.pipeline import create_app
from streamlake.config import ConfigError

OUTDIR = Path("cdk.out")
REGIONS = ["us-east-1", "eu-west-1"]


def _context(pairs: list[str]) -> dict[str, str]:
    context = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"check-deploy: -c expects key=value, got {pair!r}")
        context[key] = value
    return context


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stacks.check_deploy", description=__doc__)
    parser.add_argument("-c", dest="context", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--outdir", type=Path, default=OUTDIR)
    args = parser.parse_args(argv)

    try:
        app, pipeline = create_app(_context(args.context), outdir=str(args.outdir))
    except ConfigError as error:
        print(f"check-deploy: invalid configuration: {error}", file=sys.stderr)
        return 2
    assembly = app.synth()
    print(f"synth: {len(pipeline.stacks)} stacks into {args.outdir}/")

    nag = []
    for stack in assembly.stacks:
        for message in stack.messages:
            text = str(message.entry.data)
            level = str(getattr(message.level, "value", message.level)).lower()
            if text.startswith("AwsSolutions-") and level in ("error", "warning"):
                nag.append(f"{stack.stack_name} {message.id}: {text.splitlines()[0][:300]}")
    print(f"cdk-nag (AwsSolutions): {len(nag)} unacknowledged finding(s)")
    for line in nag:
        print(f"  {line}")

    from cfnlint.api import ManualArgs, lint

    lint_errors = []
    for stack in assembly.stacks:
        matches = lint(json.dumps(stack.template), config=ManualArgs(regions=REGIONS))
        lint_errors += [f"{stack.stack_name} {m.rule.id} {m.message}" for m in matches if m.rule.id.startswith("E")]
    print(f"cfn-lint: {len(lint_errors)} error(s)")
    for line in lint_errors:
        print(f"  {line}")
    return 1 if nag or lint_errors else 0


if __name__ == "__main__":
    sys.exit(main())
