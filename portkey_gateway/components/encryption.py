"""The environment's customer-managed KMS key (`encryption_key`), and how the constructs use it.

One key per environment, so that a security team rotates, audits and, if it must, revokes one thing. Created here it
rotates yearly and is kept when the stack is deleted (destroying it would make every log and secret it encrypted
unreadable). Its policy is CDK's default (the account's IAM policies decide who may use it) plus the one service that
cannot use IAM: CloudWatch Logs, which encrypts log groups in the key's account and region (CloudWatch Logs User
Guide, "Encrypt log data in CloudWatch Logs using AWS Key Management Service", step 2). An existing key's policy
needs that statement too (docs/security.md, "The key").

Secrets Manager, ElastiCache and ECS use the key on behalf of an IAM principal (`kms:ViaService`), so what they need is
granted on the roles: `grant_secret_decrypt` for each role that reads a secret.
"""

from __future__ import annotations

import jsii
from aws_cdk import Aws, IAspect, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

LOGS_KEY_ACTIONS = ("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*")


def key_alias(name_prefix: str) -> str:
    """The created key's alias, by which the gateway stack finds a key that its secrets stack created."""
    return f"alias/{name_prefix}"


def create_environment_key(scope: Construct, construct_id: str, *, name_prefix: str) -> kms.Key:
    key = kms.Key(
        scope, construct_id,
        description=f"Encrypts the {name_prefix} Portkey gateway's logs, secrets and cache",
        enable_key_rotation=True,
        removal_policy=RemovalPolicy.RETAIN,
        alias=key_alias(name_prefix),
    )
    key.add_to_resource_policy(iam.PolicyStatement(
        sid="AllowCloudWatchLogsOfThisAccount",
        principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
        actions=list(LOGS_KEY_ACTIONS),
        resources=["*"],  # in a key policy, "*" means this key
        conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*"}},
    ))
    return key


def grant_secret_decrypt(role: iam.IRole, key: kms.IKey, *, write: bool = False) -> None:
    """`role` reads (and with `write` puts values of) secrets encrypted with `key`, e.g. ECS injecting them or a
    rotation function: through Secrets Manager only."""
    role.add_to_principal_policy(iam.PolicyStatement(
        actions=["kms:Decrypt", *(["kms:GenerateDataKey"] if write else [])], resources=[key.key_arn],
        conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{Aws.REGION}.amazonaws.com"}},
    ))


@jsii.implements(IAspect)
class EncryptLogGroups:
    """Every log group in the scope, including those CDK creates for its own functions, is encrypted with the key
    (unless its construct chose a key of its own)."""

    def __init__(self, key_arn: str):
        self.key_arn = key_arn

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, logs.CfnLogGroup) and node.kms_key_id is None:
            node.kms_key_id = self.key_arn
