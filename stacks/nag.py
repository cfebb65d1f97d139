"""cdk-nag suppressions. Every suppression names the rule, why it does not apply, and for wildcard findings
exactly which permission it covers."""

from __future__ import annotations

from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import IConstruct


def suppress(construct: IConstruct, rule: str, reason: str, applies_to: list[str] | None = None) -> None:
    """Acknowledge one AwsSolutions finding on `construct` and its children."""
    if len(reason) < 20:
        raise ValueError(f"suppression of {rule} needs a real reason, got {reason!r}")
    NagSuppressions.add_resource_suppressions(
        construct,
        [NagPackSuppression(id=rule, reason=reason, applies_to=applies_to)],
        apply_to_children=True,
    )
