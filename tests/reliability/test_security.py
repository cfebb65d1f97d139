"""Security checks over every synthesised configuration (plain, MSK, Confluent Cloud) and over a local demo run.

cdk-nag (AwsSolutions) and cfn-lint already run in tests/infra/test_compliance.py; these are the promises this
suite adds: no IAM statement allows every action of a service, no secret reaches a template or a log, every bucket
refuses plain HTTP, and the Athena workgroup's result location cannot be overridden by a client.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import KAFKA_CONFLUENT, KAFKA_MSK, _synth

pytestmark = pytest.mark.slow

# A value no code path should ever print or template: set as every credential variable while synthesising, and as
# the Kafka SASL password of the demo run below.
TEST_SECRET = "reliability-test-secret-6f1d0c0e9a"
CREDENTIAL_VARIABLES = (
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_API_KEY",
    "KAFKA_API_SECRET",
    "CONFLUENT_API_SECRET",
)
# Secret-looking literals: an AWS access key id, a PEM private key, a password-ish key with a literal value.
SECRET_PATTERNS = (
    re.compile(r"AKIA[0-9A-Z]{16}"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r'"(?:password|secret|token|api_?key)"\s*:\s*"[^"]+"', re.IGNORECASE),
)
IDENTITY_POLICY_TYPES = {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::Role", "AWS::IAM::User"}


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> dict[str, dict[str, Any]]:
    """{"<config>/<stack>": template} for the three configurations, synthesised with a test secret in every
    credential variable of the environment."""
    result = {}
    with pytest.MonkeyPatch.context() as patch:
        for name in CREDENTIAL_VARIABLES:
            patch.setenv(name, TEST_SECRET)
        for config, context in (("default", {}), ("msk", KAFKA_MSK), ("confluent", KAFKA_CONFLUENT)):
            synthesised = _synth(context, tmp_path_factory.mktemp(f"security-{config}"))
            for stack, template in synthesised.templates.items():
                result[f"{config}/{stack}"] = template.to_json()
    return result


def _resources(templates: dict[str, dict[str, Any]], *types: str):
    for where, template in templates.items():
        for logical_id, resource in template.get("Resources", {}).items():
            if not types or resource["Type"] in types:
                yield f"{where}/{logical_id}", resource


def _statements(resource: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(document kind, statement) of every policy document in a resource."""
    props = resource.get("Properties", {})
    documents = [(key, props[key]) for key in ("PolicyDocument", "KeyPolicy") if key in props]
    documents += [("inline", p["PolicyDocument"]) for p in props.get("Policies", []) or []]
    return [(kind, statement) for kind, document in documents for statement in document.get("Statement", [])]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement.get("Action", [])
    return [actions] if isinstance(actions, str) else list(actions)


def _is_account_root(principal: Any) -> bool:
    text = json.dumps(principal)
    return ":root" in text and "AWS" in text


def test_the_three_configurations_were_synthesised(templates):
    assert {where.split("/")[0] for where in templates} == {"default", "msk", "confluent"}
    assert any(where.endswith("KafkaBridge") for where in templates)


def test_no_policy_allows_every_action_or_every_action_of_a_service(templates):
    found = []
    for where, resource in _resources(templates):
        for kind, statement in _statements(resource):
            if statement.get("Effect") != "Allow" or "NotAction" in statement:
                found += [(where, "NotAction")] if "NotAction" in statement else []
                continue
            for action in _actions(statement):
                if action == "*" or action.endswith(":*"):
                    # The one exception: a KMS key policy's default statement, which gives the key to the account
                    # (the root principal) so that IAM policies, which are checked here, decide who may use it.
                    if kind == "KeyPolicy" and action == "kms:*" and _is_account_root(statement.get("Principal")):
                        continue
                    found.append((where, action))
    assert found == []


def test_wildcard_actions_appear_only_in_deny_statements_of_resource_policies(templates):
    # The Deny s3:* / sqs:* statements are what refuse plain HTTP; an identity policy has no business with "*".
    for where, resource in _resources(templates, *IDENTITY_POLICY_TYPES):
        for _, statement in _statements(resource):
            assert not [a for a in _actions(statement) if a == "*" or a.endswith(":*")], where


def test_no_secret_value_is_in_any_template(templates):
    for where, template in templates.items():
        text = json.dumps(template)
        assert TEST_SECRET not in text, where
        for pattern in SECRET_PATTERNS:
            assert not pattern.search(text), (where, pattern.pattern)


def test_functions_get_secret_names_never_secret_values(templates):
    for where, resource in _resources(templates, "AWS::Lambda::Function"):
        variables = resource["Properties"].get("Environment", {}).get("Variables", {})
        for name, value in variables.items():
            if re.search(r"PASSWORD|SECRET|TOKEN|API_KEY", name) and not name.endswith(("_NAME", "_ARN")):
                pytest.fail(f"{where}: {name}={value!r} looks like a credential in the environment")
    # The Confluent Cloud event source reads its SASL credentials from Secrets Manager, by ARN.
    mappings = [r for _, r in _resources(templates, "AWS::Lambda::EventSourceMapping")]
    sources = [r for r in mappings if "SelfManagedEventSource" in r["Properties"]]
    assert sources
    for source in sources:
        [access] = [a for a in source["Properties"]["SourceAccessConfigurations"] if a["Type"] == "BASIC_AUTH"]
        assert ":secretsmanager:" in json.dumps(access["URI"])


def test_every_bucket_refuses_requests_without_tls(templates):
    for config in ("default", "msk", "confluent"):
        scoped = {k: v for k, v in templates.items() if k.startswith(f"{config}/")}
        buckets = {where.rsplit("/", 1)[1] for where, _ in _resources(scoped, "AWS::S3::Bucket")}
        assert buckets
        protected = set()
        for _, policy in _resources(scoped, "AWS::S3::BucketPolicy"):
            bucket = policy["Properties"]["Bucket"].get("Ref")
            for _, statement in _statements(policy):
                if (
                    statement["Effect"] == "Deny"
                    and "s3:*" in _actions(statement)
                    and statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
                    and statement.get("Principal") in ({"AWS": "*"}, "*")
                ):
                    resources = json.dumps(statement["Resource"])
                    assert "/*" in resources, "the objects, not only the bucket, are covered"
                    protected.add(bucket)
        assert buckets <= protected, f"{config}: buckets without a deny-non-TLS policy: {buckets - protected}"


def test_the_athena_workgroup_enforces_its_result_location_encryption_and_scan_cutoff(templates):
    for config in ("default", "msk", "confluent"):
        scoped = {k: v for k, v in templates.items() if k.startswith(f"{config}/")}
        [(_, workgroup)] = list(_resources(scoped, "AWS::Athena::WorkGroup"))
        settings = workgroup["Properties"]["WorkGroupConfiguration"]
        # Enforced: a query's own ResultConfiguration (another S3 location, no encryption) is overridden.
        assert settings["EnforceWorkGroupConfiguration"] is True
        results = settings["ResultConfiguration"]
        assert "s3://" in json.dumps(results["OutputLocation"])
        assert "AthenaResults" in json.dumps(results["OutputLocation"]), "results go to the dedicated bucket"
        assert results["EncryptionConfiguration"]["EncryptionOption"]
        assert settings["BytesScannedCutoffPerQuery"] > 0
        # And nothing in the stacks may loosen it: no grant to change or create workgroups.
        for where, resource in _resources(scoped):
            for _, statement in _statements(resource):
                if statement.get("Effect") == "Allow":
                    risky = {"athena:UpdateWorkGroup", "athena:CreateWorkGroup", "athena:DeleteWorkGroup"}
                    assert not risky & set(_actions(statement)), where


def test_a_demo_run_with_kafka_never_prints_or_logs_the_sasl_password(tmp_path, monkeypatch, capsys, caplog):
    import logging

    import local.demo
    from local.__main__ import main

    # GIVEN the demo's Kafka path (SASL PLAIN broker, bridge, Kafka producer) with a known password
    issued: list[str] = []
    monkeypatch.setattr(local.demo.secrets, "token_urlsafe", lambda _: issued.append(TEST_SECRET) or TEST_SECRET)
    caplog.set_level(logging.DEBUG)
    # WHEN the demo runs end to end
    status = main(["demo", "--run-dir", str(tmp_path), "--records", "200", "--rate", "600", "--kafka", "--no-web"])
    out = capsys.readouterr()
    assert status == 0, out.out[-2000:]
    assert issued and "kafka bridge:" in out.out, "the Kafka path ran with the test password"
    # AND the bridge ran as a supervised runner of the stack, without an error
    [summary] = Path(tmp_path).glob("demo-*/summary.json")
    assert json.loads(summary.read_text())["runners"]["kafka-bridge"]["errors"] == 0
    # THEN the password is nowhere: not on stdout/stderr, not in any log record, not in any file the run left
    assert TEST_SECRET not in out.out + out.err
    assert TEST_SECRET not in caplog.text
    scanned = 0
    for path in Path(tmp_path).rglob("*"):
        if path.is_file() and "kafka" not in path.relative_to(tmp_path).parts[1:2]:  # the broker's own data files
            assert TEST_SECRET.encode() not in path.read_bytes(), path
            scanned += 1
    assert scanned > 5
