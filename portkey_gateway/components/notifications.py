"""The operations SNS topic: where infrastructure events (Auto Scaling activity) are published.

Encrypted with a customer-managed key, because Auto Scaling cannot publish to a topic on the AWS-managed SNS key.
"""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from ..config import Settings


class OperationsTopic(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings):
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description=f"Encrypts the {settings.name_prefix} operations topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # Auto Scaling publishes through its service-linked role. The role may not exist yet when the key is created
        # (it appears with the account's first ASG), so it is matched by ARN condition rather than named as principal.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowAutoScalingServiceLinkedRoleToPublish",
                principals=[iam.AnyPrincipal()],
                actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={
                    "ArnEquals": {"aws:PrincipalArn": f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:role/aws-service-role/"
                                                      "autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"},
                    "StringEquals": {"kms:CallerAccount": Aws.ACCOUNT_ID},
                },
            )
        )
        self.topic = sns.Topic(
            self, "Topic", display_name=f"{settings.name_prefix} operations", master_key=self.key, enforce_ssl=True
        )
