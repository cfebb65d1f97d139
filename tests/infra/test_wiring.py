"""The wiring check: every call of the design (tests/infra/wiring_edges.py) evaluated against the identity,
resource, key and trust policies of the synthesised templates, for every configuration; and the evaluator itself
against the IAM user guide's rules.

`make check-deploy` runs `test_user_templates_are_wired` on the templates the user is about to deploy
(WIRING_TEMPLATES_DIR=cdk.out).
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from streamlake.wiring import (
    Call,
    Caller,
    DesignParts,
    Templates,
    UnsupportedPolicyError,
    WiringChecker,
    check_edges,
    conditions_hold,
    kafka_mode,
    wildcard_match,
)
from tests.infra.wiring_edges import EDGES

CONFIGS = ["synth", "synth_msk", "synth_confluent"]
ACCOUNT = "123456789012"


def templates_of(synthesised) -> Templates:
    return Templates({name: t.to_json() for name, t in synthesised.templates.items()})


def failures(templates: Templates) -> list[str]:
    return [r.describe() for r in check_edges(templates, EDGES) if not r.ok]


@pytest.mark.parametrize("config", CONFIGS)
def test_every_edge_of_the_design_is_allowed_and_every_forbidden_one_refused(config, request):
    templates = templates_of(request.getfixturevalue(config))
    assert failures(templates) == []


@pytest.mark.parametrize(
    ("config", "mode", "edges"),
    [("synth", "none", 70), ("synth_msk", "msk-iam", 84), ("synth_confluent", "confluent", 78)],
)
def test_each_configuration_is_checked_with_its_kafka_edges(config, mode, edges, request):
    templates = templates_of(request.getfixturevalue(config))
    assert kafka_mode(DesignParts(templates)) == mode
    assert len(check_edges(templates, EDGES)) == edges


@pytest.mark.parametrize("config", CONFIGS)
def test_every_role_of_ours_is_a_caller_in_the_edge_table(config, request):
    """A new role without edges would go unchecked; CDK's own custom-resource provider role is not ours."""
    templates = templates_of(request.getfixturevalue(config))
    parts = DesignParts(templates)
    mode = kafka_mode(parts)
    named = {"processor", "transform", "metrics", "firehose"} | ({"bridge"} if mode != "none" else set())
    covered = {templates.arn(parts.role(n)) for n in named}
    callers = {e.caller.removeprefix("role:") for e in EDGES if e.caller.startswith("role:")}
    assert named <= callers
    roles = {
        templates.arn(r) for r in templates.resources("AWS::IAM::Role") if "CustomResourceProvider" not in r.logical_id
    }
    assert roles == covered


# -- today's (before the fix) policies fail the check ------------------------------------------------------------

# The topic policy `enforce_ssl=True` alone writes: one statement, a Deny of non-TLS publishing.
OLD_TOPIC_STATEMENTS = [
    {
        "Sid": "AllowPublishThroughSSLOnly",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sns:Publish",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
]


def _with_ops_topic_policy(synthesised, statements: list[dict]) -> Templates:
    raw = {name: copy.deepcopy(t.to_json()) for name, t in synthesised.templates.items()}
    ops = Templates(raw).one("AWS::SNS::Topic", {"DisplayName": "streamlake pipeline alarms"})
    for policy in raw[ops.stack]["Resources"].values():
        if policy["Type"] == "AWS::SNS::TopicPolicy" and {"Ref": ops.logical_id} in policy["Properties"]["Topics"]:
            resource = {"Ref": ops.logical_id}
            policy["Properties"]["PolicyDocument"]["Statement"] = [{**s, "Resource": resource} for s in statements]
    return Templates(raw)


def test_the_old_topic_policy_leaves_cloudwatch_unable_to_publish(synth):
    templates = _with_ops_topic_policy(synth, OLD_TOPIC_STATEMENTS)
    (result,) = [r for r in check_edges(templates, EDGES) if r.edge.resource == "topic:ops" and r.edge.allowed]
    assert not result.ok
    verdict = result.verdicts[0]
    assert verdict.reasons == ["no resource policy allows the service principal"]
    message = verdict.aws_error()
    assert message.startswith("Resource: arn:aws:cloudwatch:eu-west-1:123456789012:alarm:")
    assert " is not authorized to perform: SNS:Publish on resource: arn:aws:sns:eu-west-1:123456789012:" in message


def test_a_cloudwatch_allow_without_the_key_grant_is_still_refused(synth):
    """The topic allows CloudWatch, but its KMS key policy does not: SNS cannot encrypt the message."""
    raw = {name: copy.deepcopy(t.to_json()) for name, t in synth.templates.items()}
    key = Templates(raw).one("AWS::KMS::Key", {"Description": "streamlake SNS topics"})
    document = raw[key.stack]["Resources"][key.logical_id]["Properties"]["KeyPolicy"]
    document["Statement"] = [s for s in document["Statement"] if "Service" not in s.get("Principal", {})]
    (result,) = [r for r in check_edges(Templates(raw), EDGES) if r.edge.resource == "topic:ops" and r.edge.allowed]
    assert not result.ok
    assert "is encrypted with arn:aws:kms:" in result.verdicts[0].reasons[0]


def test_the_fixed_topic_policy_allows_only_alarms_of_this_account(synth):
    checker = WiringChecker(templates_of(synth))
    topic = DesignParts(checker.t).resource("topic:ops")
    ours = Caller(
        service="cloudwatch.amazonaws.com",
        source_arn=f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:x",
        source_account=ACCOUNT,
    )
    assert checker.evaluate(Call(ours, "sns:Publish", topic)).allowed
    # A caller claiming our account for an alarm ARN of another account, and one in another region.
    for source_arn in (
        "arn:aws:cloudwatch:eu-west-1:999999999999:alarm:x",
        f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:x",
    ):
        other = Caller(service="cloudwatch.amazonaws.com", source_arn=source_arn, source_account=ACCOUNT)
        assert not checker.evaluate(Call(other, "sns:Publish", topic)).allowed
    # Without TLS, the Deny applies to everyone.
    plain = Call(ours, "sns:Publish", topic, {"aws:SecureTransport": "false"})
    assert checker.evaluate(plain).reasons == ["explicitly denied by AllowPublishThroughSSLOnly"]


def test_firehose_runs_with_one_role_that_is_attached_before_the_stream_is_created(synth):
    templates = templates_of(synth)
    parts = DesignParts(templates)
    stream = parts.delivery_stream()
    role = parts.role("firehose")
    text = json.dumps(stream.properties)
    role_refs = {json.dumps(v) for v in _values_of(stream.properties, "RoleARN")}
    assert role_refs == {json.dumps({"Fn::GetAtt": [role.logical_id, "Arn"]})}, text
    policies = templates.find("AWS::IAM::Policy", {"Roles": [{"Ref": role.logical_id}]})
    assert len(policies) == 1
    assert policies[0].logical_id in stream.definition["DependsOn"]


def _values_of(document, key):
    if isinstance(document, dict):
        for k, v in document.items():
            if k == key:
                yield v
            else:
                yield from _values_of(v, key)
    elif isinstance(document, list):
        for item in document:
            yield from _values_of(item, key)


@pytest.mark.skipif(not os.environ.get("WIRING_TEMPLATES_DIR"), reason="make check-deploy sets WIRING_TEMPLATES_DIR")
def test_user_templates_are_wired():
    directory = Path(os.environ["WIRING_TEMPLATES_DIR"])
    # The stacks of the last synthesis (manifest.json), not every template an earlier one left in the directory.
    manifest = json.loads((directory / "manifest.json").read_text())
    raw = {
        name: json.loads((directory / artifact["properties"]["templateFile"]).read_text())
        for name, artifact in manifest["artifacts"].items()
        if artifact["type"] == "aws:cloudformation:stack"
    }
    assert raw, f"no stacks in {directory}/manifest.json"
    templates = Templates(raw)
    results = check_edges(templates, EDGES)
    print(f"\nwiring: {len(results)} edges checked, {sum(not r.ok for r in results)} failing")
    assert [r.describe() for r in results if not r.ok] == []


# -- the evaluator, against the IAM user guide ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("arn:aws:s3:::bucket/raw/*", "arn:aws:s3:::bucket/raw/2026/x.gz", True),
        ("arn:aws:s3:::bucket/raw/*", "arn:aws:s3:::bucket/quarantine/x", False),
        ("arn:aws:s3:::bucket/raw/*", "arn:aws:s3:::bucket", False),
        ("arn:aws:secretsmanager:r:1:secret:name-??????", "arn:aws:secretsmanager:r:1:secret:name-AbC123", True),
        ("arn:aws:secretsmanager:r:1:secret:name-??????", "arn:aws:secretsmanager:r:1:secret:name-AbC12", False),
        ("arn:aws:logs:r:1:log-group:g:*", "arn:aws:logs:r:1:log-group:g:log-stream:s", True),
        ("arn:aws:logs:r:1:log-group:g:*", "arn:aws:logs:r:1:log-group:g2:log-stream:s", False),
    ],
)
def test_resource_wildcards_span_any_characters_and_question_mark_one(pattern, value, matches):
    assert wildcard_match(pattern, value) is matches


def test_actions_match_case_insensitively_resources_do_not():
    assert wildcard_match("s3:DeleteObject*", "s3:deleteobjectversion", case_sensitive=False)
    assert not wildcard_match("arn:aws:s3:::Bucket", "arn:aws:s3:::bucket")


@pytest.mark.parametrize(
    ("conditions", "context", "holds"),
    [
        ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": "true"}, False),
        ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": "false"}, True),
        ({"StringEquals": {"aws:SourceAccount": "1"}}, {}, False),  # missing key: positive operator false
        ({"StringNotEquals": {"aws:SourceAccount": "1"}}, {}, True),
        ({"StringEqualsIfExists": {"aws:SourceAccount": "1"}}, {}, True),
        (
            {"ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:r:1:alarm:*"}},
            {"aws:SourceArn": "arn:aws:cloudwatch:r:1:alarm:a"},
            True,
        ),
        (
            {"ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:r:1:alarm:*"}},
            {"aws:SourceArn": "arn:aws:cloudwatch:r:2:alarm:a"},
            False,
        ),
        # Several values of one key: any; several keys: all.
        ({"StringEquals": {"k": ["a", "b"]}}, {"k": "b"}, True),
        ({"StringEquals": {"k": "a", "j": "b"}}, {"k": "a", "j": "c"}, False),
        ({"NumericLessThan": {"s3:TlsVersion": 1.2}}, {"s3:TlsVersion": "1.2"}, False),
        ({"NumericLessThan": {"s3:TlsVersion": 1.2}}, {"s3:TlsVersion": "1.0"}, True),
    ],
)
def test_condition_operators(conditions, context, holds):
    assert conditions_hold(conditions, context) is holds


def test_unknown_condition_operators_are_refused_not_guessed():
    with pytest.raises(UnsupportedPolicyError, match="DateGreaterThan"):
        conditions_hold({"DateGreaterThan": {"aws:CurrentTime": "2026-01-01"}}, {"aws:CurrentTime": "2026-12-02"})


def _one_role_templates(statements: list[dict]) -> tuple[WiringChecker, str]:
    template = {
        "Resources": {
            "R": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {"Statement": []},
                    "Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": statements}}],
                },
            }
        }
    }
    checker = WiringChecker(Templates({"s": template}))
    return checker, checker.t.arn(checker.t.get("s", "R"))


def test_an_explicit_deny_wins_over_any_allow_and_not_action_excludes():
    checker, role = _one_role_templates(
        [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Deny", "NotAction": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::b/*"},
        ]
    )
    caller = Caller(role_arn=role)
    assert checker.evaluate(Call(caller, "s3:PutObject", "arn:aws:s3:::b/k")).allowed
    denied = checker.evaluate(Call(caller, "s3:DeleteObject", "arn:aws:s3:::b/k"))
    assert not denied.allowed and denied.reasons == ["explicitly denied by a statement"]
    assert denied.aws_error() == (
        "User: arn:aws:iam::123456789012:role/s-r is not authorized to perform: s3:DeleteObject on resource: "
        "arn:aws:s3:::b/k"
    )
    assert checker.evaluate(Call(caller, "s3:DeleteObject", "arn:aws:s3:::other/k")).allowed


def test_nothing_is_allowed_by_default():
    checker, role = _one_role_templates([{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}])
    assert not checker.evaluate(Call(Caller(role_arn=role), "sns:Publish", "arn:aws:sns:r:1:t")).allowed
