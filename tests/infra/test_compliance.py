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
