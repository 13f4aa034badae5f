"""Security checks: cdk-nag's AwsSolutions pack on the whole app, and the one way findings are acknowledged.

Each construct acknowledges its own findings where it creates the resource, scoped to that one construct and with the
reason it cannot be fixed, so a new finding anywhere else still fails synth. tests/snapshots/acknowledgments.txt
lists them all for review.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


def enable_checks(app: App) -> None:
    """Any unacknowledged finding fails `cdk synth` (and `Template.from_stack` in tests)."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(construct: IConstruct, finding: str, reason: str) -> None:
    """`finding` on `construct` (and what it contains) is accepted, for `reason`."""
    Validations.of(construct).acknowledge(Acknowledgment(id=finding, reason=reason))
