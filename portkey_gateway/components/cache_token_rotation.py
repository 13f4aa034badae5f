"""Automatic rotation of the created cache's AUTH token, in the only order that never locks a task out.

ECS tasks read the token when they start; ElastiCache accepts two tokens only between a ROTATE and the next SET
(ModifyReplicationGroup's AuthTokenUpdateStrategy). So:

1. The rotation function (Secrets Manager's schedule) generates a token, ROTATEs the cache to it (the cache now
   accepts the old and the new token), waits for that to complete, then makes it AWSCURRENT.
2. SecretChangeRedeploy (secret_redeploy.py) sees AWSCURRENT move and redeploys the services that read the secret.
3. The completion function, on each completed deployment of these services (and hourly, as a safety net), SETs the
   cache to the new token only once every service runs a single, completed deployment started after the new version
   was created: no task can hold the old token any more.

lambdas/cache_token_rotation/index.py explains the steps and the AUTH_SET_PENDING staging label that carries the
state between them.

The secret's resource policy refuses any other change of its value: a value put by hand would reach new tasks while
the cache still refused it. Only the two functions' roles (and CloudFormation, managing the secret itself) may put a
value or move its labels. To rotate now, start a rotation (aws secretsmanager rotate-secret); the policy must be
removed first only to set a value by hand, which then needs the cache's ROTATE and SET by hand as well.

Least privilege: the rotation function may read and write this one secret (what CDK's rotation schedule grants),
generate a password (no resource-level permissions), and describe and modify this one replication group; the
completion function may read this secret and move its labels, describe and modify the group, and describe the services.
"""

from __future__ import annotations

import json
from typing import Optional

from aws_cdk import ArnFormat, Aws, Duration, Stack
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from ..compliance import acknowledge
from .dead_letters import DeadLetters
from .encryption import grant_secret_decrypt
from .function import python_function

CODE = "cache_token_rotation"
GROUP_ACTIONS = ("elasticache:DescribeReplicationGroups", "elasticache:ModifyReplicationGroup")
# The completion function's reads and label moves; it never puts a value.
COMPLETION_SECRET_ACTIONS = ("secretsmanager:ListSecretVersionIds", "secretsmanager:GetSecretValue",
                             "secretsmanager:UpdateSecretVersionStage")
# What changes the value a task would read next; RotateSecret is not among them (it only invokes the rotation function).
VALUE_CHANGES = ("secretsmanager:PutSecretValue", "secretsmanager:UpdateSecret",
                 "secretsmanager:UpdateSecretVersionStage")
SAFETY_NET = Duration.hours(1)  # the completion function's schedule, should a deployment event be missed


class CacheTokenRotation(Construct):
    """Exposes `rotation_function`, `completion_function`, `rotation_role`, `completion_role`, `schedule` (the
    secret's rotation schedule), `deployment_rule` and `safety_net_rule` (the completion function's two rules)."""

    def __init__(self, scope: Construct, construct_id: str, *, secret: secretsmanager.Secret,
                 replication_group: elasticache.CfnReplicationGroup, cluster_name: str, service_names: list[str],
                 service_arns: list[str], rotation_days: int, dead_letters: DeadLetters,
                 encryption_key: Optional[kms.IKey] = None):
        super().__init__(scope, construct_id)
        group_arn = Stack.of(self).format_arn(service="elasticache", resource="replicationgroup",
                                              resource_name=replication_group.ref,
                                              arn_format=ArnFormat.COLON_RESOURCE_NAME)
        self.dead_letters = dead_letters
        self._rotation(secret, replication_group, group_arn, rotation_days)
        self._completion(secret, replication_group, group_arn, cluster_name, service_names, service_arns)
        self._refuse_other_changes(secret)
        if encryption_key:  # the secret is encrypted with the environment's key
            grant_secret_decrypt(self.rotation_role, encryption_key, write=True)
            grant_secret_decrypt(self.completion_role, encryption_key)

    def _rotation(self, secret: secretsmanager.Secret, group: elasticache.CfnReplicationGroup,
                  group_arn: str, rotation_days: int) -> None:
        """The Secrets Manager rotation function and its schedule."""
        parts = python_function(
            Construct(self, "Rotation"), code=CODE,
            description="Rotates the cache's AUTH token: new token, ROTATE (the cache accepts both), then AWSCURRENT",
            role_description="Cache token rotation: the token secret, and ROTATE on the one replication group",
            timeout=Duration.seconds(60),
            failures_reach="Secrets Manager, which runs each rotation step, marks a failed rotation and retries it",
            environment={"REPLICATION_GROUP_ID": group.ref},
        )
        self.rotation_function, self.rotation_role = parts.function, parts.role
        self.rotation_role.add_to_policy(iam.PolicyStatement(actions=list(GROUP_ACTIONS), resources=[group_arn]))
        # CDK adds Secrets Manager's invoke permission, DescribeSecret, GetSecretValue, PutSecretValue and
        # UpdateSecretVersionStage on this secret's ARN, and GetRandomPassword on "*", to the function's role.
        # Not at once when the schedule is created: on a first deploy the redeploy would race CloudFormation's own
        # creation of the services. The first rotation comes after rotation_days (or `aws secretsmanager rotate-secret`).
        self.schedule = secret.add_rotation_schedule("Schedule", rotation_lambda=self.rotation_function,
                                                     automatically_after=Duration.days(rotation_days),
                                                     rotate_immediately_on_update=False)
        self.schedule.node.add_dependency(group)
        self._invoked_from_this_account_only()
        acknowledge(self.rotation_role, "AwsSolutions-IAM5[Resource::*]",
                    "secretsmanager:GetRandomPassword supports no resource-level permissions (Service Authorization "
                    "Reference, AWS Secrets Manager); it only returns a random string. The role's other Secrets "
                    "Manager and ElastiCache actions are limited to the token secret and the one replication group")

    def _invoked_from_this_account_only(self) -> None:
        """CDK's invoke permission for Secrets Manager names no account: a secret in any account could name this
        function as its rotation function (the confused deputy; Secrets Manager's user guide, "Permissions for
        rotation", recommends aws:SourceAccount)."""
        for child in self.rotation_function.node.children:
            if isinstance(child, lambda_.CfnPermission) and child.principal == "secretsmanager.amazonaws.com":
                child.source_account = Aws.ACCOUNT_ID

    def _completion(self, secret: secretsmanager.Secret, group: elasticache.CfnReplicationGroup, group_arn: str,
                    cluster_name: str, service_names: list[str], service_arns: list[str]) -> None:
        """The function that SETs the token once every service runs it, and the two rules that invoke it."""
        parts = python_function(
            Construct(self, "Completion"), code=CODE,
            description="SETs the cache's AUTH token once every service runs the new one",
            role_description="Cache token completion: the token secret's labels, SET on the group, the services",
            timeout=Duration.seconds(60),
            environment={"SECRET_ID": secret.secret_arn, "REPLICATION_GROUP_ID": group.ref, "CLUSTER": cluster_name,
                         "SERVICES": json.dumps(service_names)},
            # A failed run is retried twice; after an hour the hourly run has taken over.
            retry_attempts=2, max_event_age=SAFETY_NET, dead_letter_queue=self.dead_letters.queue,
        )
        self.completion_function, self.completion_role = parts.function, parts.role
        # python_function always names index.handler; the same module's second entry point.
        self.completion_function.node.default_child.add_property_override("Handler", "index.completion_handler")
        self.completion_role.add_to_policy(iam.PolicyStatement(actions=list(COMPLETION_SECRET_ACTIONS),
                                                               resources=[secret.secret_arn]))
        self.completion_role.add_to_policy(iam.PolicyStatement(actions=list(GROUP_ACTIONS), resources=[group_arn]))
        self.completion_role.add_to_policy(iam.PolicyStatement(actions=["ecs:DescribeServices"],
                                                               resources=list(service_arns)))
        target = targets.LambdaFunction(self.completion_function, max_event_age=SAFETY_NET, retry_attempts=4,
                                        dead_letter_queue=self.dead_letters.queue)
        self.deployment_rule = events.Rule(
            self, "DeploymentCompleted",
            description="A service reading the cache token finished a deployment: SET the token if all run it",
            event_pattern=events.EventPattern(source=["aws.ecs"], detail_type=["ECS Deployment State Change"],
                                              detail={"eventName": ["SERVICE_DEPLOYMENT_COMPLETED"]},
                                              resources=list(service_arns)),
            targets=[target],
        )
        self.safety_net_rule = events.Rule(
            self, "Hourly", description="SET the cache token if every service runs it (missed deployment events)",
            schedule=events.Schedule.rate(SAFETY_NET), targets=[target],
        )

    def _refuse_other_changes(self, secret: secretsmanager.Secret) -> None:
        """Only the two functions may change the token secret's value or move its labels.

        aws:PrincipalArn is the role's ARN for its sessions. CloudFormation must stay able to update the secret it
        manages (UpdateSecret, e.g. a new description): it calls through forward access sessions, which set
        aws:CalledVia to cloudformation.amazonaws.com whether or not it deploys with a service role such as CDK's
        cfn-exec role ("Forward access sessions (FAS) requests and permission evaluation", CloudFormation user guide;
        CloudFormation is among the services that set aws:CalledVia, IAM's global condition keys). ForAllValues is
        true when the key is absent, so direct calls are refused. Secrets Manager's own RotateSecret (the schedule,
        or a rotation started by hand) is another action, not refused; its function then calls as its role. ECS
        reading the secret is not affected.
        """
        secret.add_to_resource_policy(iam.PolicyStatement(
            sid="OnlyTheRotationChangesTheCacheToken",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=list(VALUE_CHANGES),
            resources=["*"],  # in a resource policy: this secret
            conditions={
                "ArnNotEquals": {"aws:PrincipalArn": [self.rotation_role.role_arn, self.completion_role.role_arn]},
                "ForAllValues:StringNotEquals": {"aws:CalledVia": ["cloudformation.amazonaws.com"]},
            },
        ))
