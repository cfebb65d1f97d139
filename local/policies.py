"""The synthesised resource policies local mode obeys where they decide what a user sees.

moto accepts any call. On AWS, whether a CloudWatch alarm's notification reaches anyone is decided by the ops topic's
access policy and its KMS key policy, so the local alarm evaluator asks `PublishGate` before it publishes, and when
AWS would refuse, records the error AWS writes into the alarm history instead of e-mailing.

The policies come from the real stack: the alerting stack (stacks/pipeline.py AlertingStack) is synthesised with
cdk.json's context, and its template is evaluated by streamlake.wiring, the same evaluator `make check-deploy` uses.
Synthesis needs the CDK (about 5 s with its import), so the template is cached under build/policies/, keyed by a
hash of cdk.json, the stack sources that write these policies and the aws-cdk-lib version; a change to any of
them synthesises again.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from streamlake.wiring import Call, Caller, DesignParts, Templates, WiringChecker

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = ROOT / "build" / "policies"
# What the alerting stack's template depends on.
_SOURCES = ("cdk.json", "stacks/notifications.py", "stacks/pipeline.py", "streamlake/config.py")
ALERTING_STACK = "Alerting"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    # The CDK itself writes the policies too (enforce_ssl's statement): its version is part of the key.
    digest.update(importlib.metadata.version("aws-cdk-lib").encode())
    for name in _SOURCES:
        digest.update(name.encode())
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()[:20]


def _synthesise_alerting() -> dict[str, Any]:
    # Imported here: only a cache miss pays for the CDK.
    import aws_cdk as cdk

    from stacks.pipeline import AlertingStack
    from streamlake.config import CDK_JSON, config_from_context

    context = json.loads(CDK_JSON.read_text()).get("context", {})
    with tempfile.TemporaryDirectory() as outdir:
        app = cdk.App(context=context, outdir=outdir)
        config = config_from_context(app.node.get_all_context())
        stack = AlertingStack(app, ALERTING_STACK, config=config, stack_name=config.stack_name("alerting"))
        return app.synth().get_stack_by_name(stack.stack_name).template


def alerting_template(cache_dir: Path = CACHE_DIR) -> dict[str, Any]:
    """The synthesised alerting stack (topics, topic policies, topic key), from the cache when it is current."""
    path = cache_dir / f"alerting-{_fingerprint()}.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        pass
    template = _synthesise_alerting()
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Atomic: parallel test workers may synthesise at the same time; each file written is complete.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(template))
    tmp.replace(path)
    return template


class PublishGate:
    """Whether CloudWatch may publish an alarm's notification to the ops topic, per the synthesised policies."""

    def __init__(self, template: dict[str, Any], *, account: str, region: str) -> None:
        templates = Templates({ALERTING_STACK: template}, account=account, region=region)
        self._checker = WiringChecker(templates)
        self._topic = DesignParts(templates).resource("topic:ops")
        self._account = account
        self._region = region

    def refusal(self, alarm_name: str, topic_arn: str) -> str | None:
        """None when the alarm may publish; otherwise the history text CloudWatch records for the failed action."""
        alarm_arn = f"arn:aws:cloudwatch:{self._region}:{self._account}:alarm:{alarm_name}"
        caller = Caller(service="cloudwatch.amazonaws.com", source_arn=alarm_arn, source_account=self._account)
        verdict = self._checker.evaluate(Call(caller, "sns:Publish", self._topic))
        if verdict.allowed:
            return None
        return (
            f'Failed to execute action {topic_arn}. Received error: "Resource: {alarm_arn} is not authorized to '
            f'perform: SNS:Publish on resource: {topic_arn}" ({"; ".join(verdict.reasons)})'
        )
