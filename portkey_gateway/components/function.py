"""A Python Lambda function from `portkey_gateway/lambdas/<code>/index.py`, with its own role and log group.

Every function here (smoke-test hook, secret-change redeploy, teardown) is built the same way: the runtime's own
SDK (nothing is downloaded at deploy time), a role that may write only its own log group (instead of the managed
AWSLambdaBasicExecutionRole, which allows every log group), and a retained log group named by CloudFormation (a fixed
name would block re-creating it after the feature is turned off and on again).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from .service import retention_days

LAMBDAS_DIR = Path(__file__).resolve().parent.parent / "lambdas"
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
    role.add_to_policy(iam.PolicyStatement(actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                                           resources=[log_group.log_group_arn]))
    return role, log_group


def python_function(scope: Construct, *, code: str, description: str, role_description: str, timeout: Duration,
                    log_retention_days: int = OPERATIONS_LOG_RETENTION_DAYS, **options) -> PythonFunction:
    """Creates `Logs`, `Role` and `Function` in `scope`; `options` go to `lambda_.Function` (VPC, environment, ...)."""
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
    return PythonFunction(function, role, log_group)
