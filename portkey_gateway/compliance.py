"""Security checks: cdk-nag's AwsSolutions pack on the whole app (and the NIST 800-53 R5, HIPAA Security and PCI DSS
3.2.1 packs on request), and the one way findings are acknowledged, for cdk-nag and for checkov.

Each construct acknowledges its own findings where it creates the resource, scoped to that one construct and with the
reason it cannot be fixed, so a new finding anywhere else still fails synth. tests/snapshots/acknowledgments.txt
lists them all for review.
"""

from __future__ import annotations

from typing import Sequence

from aws_cdk import Acknowledgment, App, CfnResource, Validations
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks
from constructs import IConstruct

# The packs `security_checks` names, with the prefix each gives its rule ids (cdk-nag 3: "<pack>-<Rule>").
RULE_PACKS = {"NIST80053R5": (NIST80053R5Checks, "NIST.800.53.R5"),
              "HIPAASecurity": (HIPAASecurityChecks, "HIPAA.Security"),
              "PCIDSS321": (PCIDSS321Checks, "PCI.DSS.321")}


def enable_checks(app: App, packs: Sequence[str] = ()) -> None:
    """Any unacknowledged finding fails `cdk synth` (and `Template.from_stack` in tests). `packs` adds packs by their
    `security_checks` names; they check every stack of the app."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), *(RULE_PACKS[pack][0](app) for pack in packs))


def acknowledge(construct: IConstruct, finding: str, reason: str) -> None:
    """`finding` on `construct` (and what it contains) is accepted, for `reason`."""
    _acknowledge(construct, [finding], reason)


def _acknowledge(construct: IConstruct, findings: Sequence[str], reason: str) -> None:
    """Several findings in one call (two round trips to the CDK's runtime, however many findings)."""
    if findings:
        Validations.of(construct).acknowledge(*(Acknowledgment(id=finding, reason=reason) for finding in findings))


def _in_packs(rule: str) -> list[str]:
    """The ids under which the NIST, HIPAA and PCI packs each report `rule`."""
    return [f"{prefix}-{rule}" for _, prefix in RULE_PACKS.values()]


def acknowledge_in_packs(construct: IConstruct, rule: str, reason: str) -> None:
    """The finding `rule` of the NIST, HIPAA and PCI packs (each reports it under its own prefix), for `reason`.
    Inert while the packs are off."""
    _acknowledge(construct, _in_packs(rule), reason)


# Every role's grants: what cdk-nag's packs call an inline policy (AWS Config's iam-no-inline-policy).
ROLE_POLICY_REASON = ("CDK writes this role's grants as an AWS::IAM::Policy attached to this one role (its default "
                      "policy): least privilege, generated from code and reviewed with it, never shared; a "
                      "customer-managed policy would hold the same statements for the same one role")


def acknowledge_role_policy(role: IConstruct) -> None:
    """The packs' inline-policy finding on the policy CDK writes for `role`."""
    acknowledge_in_packs(role, "IAMNoInlinePolicy", ROLE_POLICY_REASON)


def accept(construct: IConstruct, reason: str, *, findings: Sequence[str] = (), pack_rules: Sequence[str] = (),
           checkov: Sequence[str] = ()) -> None:
    """One reason for several findings on `construct`: cdk-nag `findings` (AwsSolutions ids), the three packs'
    `pack_rules`, and `checkov` checks (skipped on the construct's CloudFormation resource)."""
    _acknowledge(construct, [*findings, *(finding for rule in pack_rules for finding in _in_packs(rule))], reason)
    for check in checkov:
        checkov_skip(construct.node.default_child, check, reason)


def checkov_skip(resource: CfnResource, check: str, reason: str) -> None:
    """checkov's check `check` is skipped on `resource`, for `reason`: checkov reads the template metadata
    `checkov.skip` (checkov/cloudformation/context_parser.py), and prints the reason with the skipped check."""
    skips = (resource.get_metadata("checkov") or {}).get("skip", [])
    resource.add_metadata("checkov", {"skip": [*skips, {"id": check, "comment": reason}]})
