"""cdk-nag (AwsSolutions) and cfn-lint over every stack of every configuration."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Annotations, Match
from cfnlint.api import ManualArgs, lint

CONFIGS = ["synth", "synth_msk", "synth_confluent"]


@pytest.mark.parametrize("config", CONFIGS)
def test_cdk_nag_finds_nothing_unacknowledged(config, request):
    synthesised = request.getfixturevalue(config)
    for stack in synthesised.pipeline.stacks:
        annotations = Annotations.from_stack(stack)
        errors = annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
        warnings = annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*"))
        assert not errors, [e.entry.data for e in errors]
        assert not warnings, [w.entry.data for w in warnings]


@pytest.mark.parametrize("config", CONFIGS)
def test_every_nag_suppression_gives_a_reason(config, request):
    synthesised = request.getfixturevalue(config)
    for template in synthesised.templates.values():
        for resource in template.to_json()["Resources"].values():
            for suppression in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
                assert len(suppression["reason"]) >= 40, suppression


@pytest.mark.parametrize("config", CONFIGS)
def test_cfn_lint_reports_no_errors(config, request):
    synthesised = request.getfixturevalue(config)
    for name, template in synthesised.templates.items():
        matches = lint(json.dumps(template.to_json()), config=ManualArgs(regions=["eu-west-1", "us-east-1"]))
        errors = [m for m in matches if m.rule.id.startswith("E")]
        assert not errors, f"{name}: " + "; ".join(f"{m.rule.id} {m.message}" for m in errors)


def test_check_deploy_reports_nag_findings_of_the_assembly(tmp_path, monkeypatch, capsys):
    """stacks.check_deploy reads cdk-nag's findings from the cloud assembly: one unacknowledged finding fails it."""
    import aws_cdk as cdk
    from aws_cdk import aws_sqs as sqs
    from cdk_nag import AwsSolutionsChecks

    from stacks import check_deploy

    def app_with_a_plain_queue(context, outdir):
        app = cdk.App(outdir=outdir)
        stack = cdk.Stack(app, "Plain")
        sqs.Queue(stack, "Queue")
        cdk.Aspects.of(app).add(AwsSolutionsChecks())
        return app, type("P", (), {"stacks": [stack]})()

    monkeypatch.setattr(check_deploy, "create_app", app_with_a_plain_queue)
    assert check_deploy.main(["--outdir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "cdk-nag (AwsSolutions): 2 unacknowledged finding(s)" in out
    assert "AwsSolutions-SQS3" in out and "AwsSolutions-SQS4" in out
