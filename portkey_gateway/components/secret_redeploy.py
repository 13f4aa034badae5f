"""Redeploys the services that read a secret when its current value changes (rotation, or a new value put).

ECS reads secrets only when a task starts, so without this a rotated key takes effect only whenever someone next
deploys. An EventBridge rule on Secrets Manager's native "Secret Label Updated" event (AWSCURRENT moved to a new
version; no CloudTrail trail needed) invokes a function that forces a new deployment of exactly those services,
through their own deployment strategy (blue/green, canary, rolling), alarms and hooks.

Least privilege: the function may describe and update only these services; the rule passes on only changes of
these secrets (and, for ARNs written without their suffix, of secrets whose name extends them: the function then
matches exactly).
"""

from __future__ import annotations

import json
from typing import Optional

from aws_cdk import Annotations, Duration, Token
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from .dead_letters import DeadLetters
from .function import python_function
from .service import EcsService


def secret_readers(services: list[EcsService]) -> dict[str, list[EcsService]]:
    """secret ARN -> the services that read it (secrets the task reads at start; not the image-pull credentials,
    which only new pulls use)."""
    readers: dict[str, list[EcsService]] = {}
    for service in services:
        for arn in dict.fromkeys(service.spec.secrets.values()):
            readers.setdefault(arn, []).append(service)
    return readers


def resource_patterns(arns: list[str]) -> list:
    """EventBridge matches for the secrets' complete ARNs: a configured ARN may lack the 6-character suffix Secrets
    Manager appends (a partial ARN), so literal ARNs also match as `<arn>-` prefixes; the function checks exactly."""
    patterns: list = []
    for arn in arns:
        patterns.append(arn)
        if not Token.is_unresolved(arn):  # created in a stack: always complete
            patterns.append({"prefix": f"{arn}-"})
    return patterns


class SecretChangeRedeploy(Construct):
    """Exposes `rule`, `function`, `role` and `log_group`."""

    def __init__(self, scope: Construct, construct_id: str, *, cluster_name: str, services: list[EcsService],
                 region: str, account: Optional[str], dead_letters: DeadLetters):
        super().__init__(scope, construct_id)
        readers = secret_readers(services)
        self._warn_about_secrets_elsewhere(list(readers), region, account)
        config = {"cluster": cluster_name,
                  "secrets": [{"arn": arn, "services": [s.service.service_name for s in users]} for arn, users in readers.items()]}
        parts = python_function(
            self, code="redeploy_on_secret_change",
            description="Redeploys the Portkey services that read a secret when its current value changes",
            role_description="Secret-change redeploy: describe and update the services that read the secrets",
            timeout=Duration.seconds(60),
            environment={"REDEPLOY": json.dumps(config, sort_keys=True)},
            # A failed run is retried twice; after an hour the event is stale (someone will have deployed since).
            retry_attempts=2, max_event_age=Duration.hours(1), dead_letter_queue=dead_letters.queue,
        )
        self.function, self.role, self.log_group = parts.function, parts.role, parts.log_group
        self.role.add_to_policy(iam.PolicyStatement(
            actions=["ecs:DescribeServices", "ecs:UpdateService"],
            resources=[s.service.service_arn for s in dict.fromkeys(s for users in readers.values() for s in users)],
        ))
        self.rule = events.Rule(
            self, "Rule",
            description="A secret read by the Portkey services has a new current value: redeploy them",
            event_pattern=events.EventPattern(source=["aws.secretsmanager"], detail_type=["Secret Label Updated"],
                                              detail={"labelUpdated": ["AWSCURRENT"]}),
            # EventBridge's own retries, when Lambda cannot take the event (throttling).
            targets=[targets.LambdaFunction(self.function, max_event_age=Duration.hours(1), retry_attempts=4,
                                            dead_letter_queue=dead_letters.queue)],
        )
        # Prefix matches are not expressible through the L2 pattern's string list.
        self.rule.node.default_child.add_property_override("EventPattern.resources", resource_patterns(list(readers)))

    def _warn_about_secrets_elsewhere(self, arns: list[str], region: str, account: Optional[str]) -> None:
        """Secrets Manager's events reach only the event bus of the secret's own account and region."""
        for arn in (a for a in arns if not Token.is_unresolved(a)):
            _, _, _, secret_region, secret_account, *_ = arn.split(":")
            if secret_region != region or (account and secret_account != account):
                Annotations.of(self).add_warning_v2(
                    "portkey-gateway:secret-elsewhere",
                    f"{arn} is in {secret_account}/{secret_region}, not this stack's account and region: its new "
                    "values cannot redeploy the services by themselves; redeploy them after each change "
                    "(aws ecs update-service --force-new-deployment)")
