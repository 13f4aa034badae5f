"""A Python Lambda function from `portkey_gateway/lambdas/<code>/index.py`, with its own role and log group.

Every function here (smoke-test hook, secret-change redeploy, teardown) is built the same way: the runtime's own
SDK (nothing is downloaded at deploy time), a role that may write only its own log group (instead of the managed
AWSLambdaBasicExecutionRole, which allows every log group), and a retained log group named by CloudFormation (a fixed
name would block re-creating it after the feature is turned off and on again).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from ..compliance import acknowledge_in_packs, acknowledge_role_policy, checkov_skip
from .service import retention_days

LAMBDAS_DIR = Path(__file__).resolve().parent.parent / "lambdas"
# Custom-resource handlers: CloudFormation invokes them asynchronously and waits for their answer (Lambda Developer
# Guide, "Using AWS Lambda with CloudFormation").
CUSTOM_RESOURCE_FAILURES = ("CloudFormation, which invokes it for a custom resource and fails the stack operation when "
                            "no answer comes (the function answers on every outcome, through the pre-signed URL)")
OPERATIONS_LOG_RETENTION_DAYS = 90  # the record of what the operations functions did (redeploys, teardown)


@dataclass(frozen=True)
class PythonFunction:
    function: lambda_.Function
    role: iam.Role  # add the function's permissions here
    log_group: logs.LogGroup


def function_role(scope: Construct, *, description: str,
                  log_retention_days: int = OPERATIONS_LOG_RETENTION_DAYS) -> tuple[iam.Role, logs.LogGroup]:
    """Creates `Logs` and `Role` in `scope`: a retained log group, and a Lambda role that may write only to it (also
    for the provider function of an AwsCustomResource)."""
    log_group = logs.LogGroup(scope, "Logs", retention=retention_days(log_retention_days), removal_policy=RemovalPolicy.RETAIN)
    role = iam.Role(scope, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description)
    acknowledge_role_policy(role)
    role.add_to_policy(iam.PolicyStatement(actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                                           resources=[log_group.log_group_arn]))
    return role, log_group


def python_function(scope: Construct, *, code: str, description: str, role_description: str, timeout: Duration,
                    failures_reach: Optional[str] = None, log_retention_days: int = OPERATIONS_LOG_RETENTION_DAYS,
                    **options) -> PythonFunction:
    """Creates `Logs`, `Role` and `Function` in `scope`; `options` go to `lambda_.Function` (VPC, environment, ...).
    `failures_reach` says who learns of a failed run and acts on it (CloudFormation for a custom resource, ECS for a
    lifecycle hook, Secrets Manager for a rotation step); any other function must have a `dead_letter_queue`."""
    if failures_reach is None and "dead_letter_queue" not in options:
        raise ValueError(f"{code}: a function whose failures reach nobody needs a dead_letter_queue")
    role, log_group = function_role(scope, description=role_description, log_retention_days=log_retention_days)
    function = lambda_.Function(
        scope, "Function",
        description=description,
        runtime=lambda_.Runtime.PYTHON_3_14,
        architecture=lambda_.Architecture.ARM_64,
        handler="index.handler",
        # Only the source: a __pycache__ left by tests or imports would change the asset hash, so the template.
        code=lambda_.Code.from_asset(str(LAMBDAS_DIR / code), exclude=["__pycache__", "*.pyc"]),
        timeout=timeout,
        memory_size=128,
        role=role,
        log_group=log_group,
        **options,
    )
    acknowledge_function(function, failures_reach=failures_reach)
    return PythonFunction(function, role, log_group)


def acknowledge_function(function: lambda_.IFunction, *, failures_reach: Optional[str]) -> None:
    """What the NIST, HIPAA and PCI packs (and checkov) ask of every function, and why these functions differ."""
    cfn = function.node.default_child
    reasons = [("LambdaConcurrency", "CKV_AWS_115", (
        "Invoked a few times a day (deploys, secret changes, rotations); reserved concurrency would take from the "
        "account's unreserved pool, which a new account's low Lambda quota cannot spare, and fail the deploy"))]
    if not cfn.vpc_config:
        reasons.append(("LambdaInsideVPC", "CKV_AWS_117", (
            "Calls only AWS APIs (ECS, Elastic Load Balancing, Secrets Manager, ElastiCache, Auto Scaling) and reaches "
            "nothing inside the VPC; attaching it would add network interfaces and NAT or endpoint traffic without "
            "reducing exposure. Its role is limited to this stack's resources")))
    if failures_reach:
        reasons.append(("LambdaDLQ", "CKV_AWS_116", (
            f"Its failures reach {failures_reach}; a dead-letter queue would hold nothing left to act on")))
    for rule, check, reason in reasons:
        acknowledge_in_packs(function, rule, reason)
        checkov_skip(cfn, check, reason)
    if cfn.environment:
        checkov_skip(cfn, "CKV_AWS_173", "The environment holds names and ARNs only, never a credential (secrets "
                                         "are read from Secrets Manager at run time); Lambda encrypts it at rest")
