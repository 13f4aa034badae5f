"""The operations SNS topic: where alarms and infrastructure events (Auto Scaling activity) are published, with the
email subscriptions of `monitoring.alarm_emails`.

Encrypted with a customer-managed key, because neither Auto Scaling nor CloudWatch can publish to a topic on the
AWS-managed SNS key; the key and the topic admit exactly those publishers (and one EventBridge rule).
"""

from __future__ import annotations

from typing import Sequence

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from ..compliance import checkov_skip


class OperationsTopic(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, name_prefix: str, alarm_emails: Sequence[str] = ()):
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description=f"Encrypts the {name_prefix} operations topic",
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
        # CloudWatch alarms of this account publish as the CloudWatch service (SNS developer guide, "Configure AWS KMS
        # permissions for AWS services").
        alarms_of_this_account = {"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                                  "ArnLike": {"aws:SourceArn": f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:*"}}
        cloudwatch = iam.ServicePrincipal("cloudwatch.amazonaws.com")
        self.key.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowCloudWatchAlarmsToPublish", principals=[cloudwatch], actions=["kms:GenerateDataKey*", "kms:Decrypt"],
            resources=["*"], conditions=alarms_of_this_account,
        ))
        # EventBridge (the monitoring's ECS service events). Unconditioned: EventBridge's KMS requests carry no
        # aws:SourceAccount or aws:SourceArn, so such a condition would drop every event silently; the topic policy
        # names the one rule that may publish.
        self.key.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowEventBridgeRulesToPublish", principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["kms:GenerateDataKey*", "kms:Decrypt"], resources=["*"],
        ))
        checkov_skip(self.key.node.default_child, "CKV_AWS_33", (
            "The one statement with principal * is limited by aws:PrincipalArn to Auto Scaling's service-linked role "
            "of this account (and kms:CallerAccount): naming that role as the principal fails while it does not exist"))
        self.topic = sns.Topic(
            self, "Topic", display_name=f"{name_prefix} operations", master_key=self.key, enforce_ssl=True
        )
        self.topic.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowCloudWatchAlarmsToPublish", principals=[cloudwatch], actions=["sns:Publish"],
            resources=[self.topic.topic_arn], conditions=alarms_of_this_account,
        ))
        for email in alarm_emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
