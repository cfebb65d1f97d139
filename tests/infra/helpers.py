"""Small lookups over synthesised templates that avoid depending on generated logical IDs."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Template


def only(template: Template, resource_type: str, props: dict[str, Any] | None = None) -> tuple[str, dict]:
    """The single resource of a type (optionally matching properties), as (logical id, definition)."""
    found = template.find_resources(resource_type, {"Properties": props} if props else None)
    assert len(found) == 1, f"expected one {resource_type} matching {props}, found {len(found)}"
    return next(iter(found.items()))


def export_name_of(template: Template, logical_id: str, attribute: str | None = None) -> str:
    """Export name of the stack output whose value is Ref/GetAtt of `logical_id`: how other stacks import it."""
    wanted = {"Fn::GetAtt": [logical_id, attribute]} if attribute else {"Ref": logical_id}
    for output in template.to_json().get("Outputs", {}).values():
        if output["Value"] == wanted and "Export" in output:
            return output["Export"]["Name"]
    raise AssertionError(f"no export of {wanted}")


def imported(template: Template, logical_id: str, attribute: str | None = None) -> dict[str, str]:
    return {"Fn::ImportValue": export_name_of(template, logical_id, attribute)}


def policy_statements(template: Template) -> list[dict]:
    statements = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        statements += policy["Properties"]["PolicyDocument"]["Statement"]
    for role in template.find_resources("AWS::IAM::Role").values():
        for inline in role["Properties"].get("Policies", []):
            statements += inline["PolicyDocument"]["Statement"]
    return statements


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def function_statements(template: Template, handler: str) -> list[dict]:
    """Every IAM statement attached to the role of the Lambda function with `handler`."""
    _, fn = only(template, "AWS::Lambda::Function", {"Handler": handler})
    role_id = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements
