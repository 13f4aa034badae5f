"""Deploy-time guards: what CloudFormation must read from the live account before it writes a resource.

One read-only function per stack (`portkey_gateway/lambdas/deploy_guard/index.py`) answers two custom resources:

- `Custom::LiveTrafficWeights`: the weights of a production or test rule (ALB), or the live target group of a
  listener (NLB), as ECS last left them. A blue/green, canary or linear deployment rewrites them, CloudFormation does
  not know, and a stack update that rewrites the rule would send all traffic to the first target group, which after an
  odd number of deployments holds no task (aws-cdk issue 36649). The rule takes its weights from this resource, whose
  properties carry the rule's definition: whenever CloudFormation is about to rewrite the rule, this resource is
  updated first and reads what is live.
- `Custom::ManagedSecretsReady`: with `managed_secrets`, the secrets stack's secrets exist and hold values put after
  their creation; answers their complete ARNs (looked up by name, so the reference follows the secret), and the ARN
  of the key the secrets stack created (`encryption_key: create`), found by its alias, when the key is enabled and
  encrypts the secrets.
"""

from __future__ import annotations

from typing import Optional, Sequence

from aws_cdk import Aws, CustomResource, Duration, Stack
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from constructs import Construct

from ..compliance import acknowledge
from .function import CUSTOM_RESOURCE_FAILURES, python_function

GUARD_ID = "DeployGuard"
# Describe calls of Elastic Load Balancing have no resource-level permissions.
DESCRIBE_ACTIONS = ("elasticloadbalancing:DescribeRules", "elasticloadbalancing:DescribeListeners")


class DeployGuard(Construct):
    """The stack's one guard function; use `DeployGuard.of(scope)`. Exposes `function`, `role`, `log_group`."""

    @staticmethod
    def of(scope: Construct) -> "DeployGuard":
        stack = Stack.of(scope)
        return stack.node.try_find_child(GUARD_ID) or DeployGuard(stack, GUARD_ID)

    def __init__(self, scope: Construct, construct_id: str):
        super().__init__(scope, construct_id)
        parts = python_function(
            self, code="deploy_guard",
            description="Reads live state CloudFormation must not overwrite: traffic weights, managed secrets",
            role_description="Deploy guard: describes listener rules, listeners and the managed secrets (read-only)",
            timeout=Duration.minutes(1), failures_reach=CUSTOM_RESOURCE_FAILURES,
        )
        self.function, self.role, self.log_group = parts.function, parts.role, parts.log_group
        self._reads_load_balancers = False

    def live_weights(self, scope: Construct, construct_id: str, *, primary: elbv2.ITargetGroup,
                     alternate: elbv2.ITargetGroup, listener: Optional[elbv2.IListener] = None,
                     load_balancer: Optional[elbv2.ILoadBalancerV2] = None, port: Optional[int] = None) -> CustomResource:
        """The live weights of the rule on `listener` (ALB), or the live group of the listener on `port` of
        `load_balancer` (NLB), that forwards to `primary` and `alternate`; `primary` is what a new rule starts with.
        The caller sets the property `Definition` to everything else CloudFormation writes to the rule or listener,
        so that this resource is updated (and reads again) whenever the rule or listener is."""
        if not self._reads_load_balancers:
            self.role.add_to_policy(iam.PolicyStatement(actions=list(DESCRIBE_ACTIONS), resources=["*"]))
            acknowledge(self.role, "AwsSolutions-IAM5[Resource::*]", "Elastic Load Balancing's DescribeRules and "
                        "DescribeListeners have no resource-level permissions; the function only reads")
            self._reads_load_balancers = True
        where = ({"Kind": "rule", "ListenerArn": listener.listener_arn} if listener else
                 {"Kind": "listener", "LoadBalancerArn": load_balancer.load_balancer_arn, "Port": port})
        return self._resource(scope, construct_id, "Custom::LiveTrafficWeights", {
            **where, "PrimaryTargetGroupArn": primary.target_group_arn,
            "AlternateTargetGroupArn": alternate.target_group_arn,
        })

    def secrets_ready(self, scope: Construct, construct_id: str, *, environment: str, secrets_command: str,
                      secrets: Sequence[dict], key_alias: Optional[str] = None) -> CustomResource:
        """Fails the deployment unless each secret ({Id, Name, Keys, Definition}) exists and holds a value put after
        its creation; answers `<Id>Arn` for each, and with `key_alias` `EncryptionKeyArn`. Only DescribeSecret and
        DescribeKey: the function never reads a secret value."""
        prefix = f"arn:{Aws.PARTITION}:secretsmanager:{Aws.REGION}:{Aws.ACCOUNT_ID}:secret:"
        self.role.add_to_policy(iam.PolicyStatement(
            actions=["secretsmanager:DescribeSecret"],
            # By name: Secrets Manager appends six random characters to a secret's ARN; a secret that does not exist is
            # authorized against the bare name, so that "not found", not "access denied", reaches the operator.
            resources=[arn for secret in secrets for arn in (f"{prefix}{secret['Name']}-??????", f"{prefix}{secret['Name']}")],
        ))
        properties = {"Environment": environment, "SecretsCommand": secrets_command, "Secrets": list(secrets)}
        if key_alias:
            # The key's id is random: the key is named by its alias, as the request does (kms:ResourceAliases
            # applies to DescribeKey whether it is called with the alias or the id; Service Authorization Reference).
            self.role.add_to_policy(iam.PolicyStatement(
                actions=["kms:DescribeKey"], resources=[f"arn:{Aws.PARTITION}:kms:{Aws.REGION}:{Aws.ACCOUNT_ID}:key/*"],
                conditions={"ForAnyValue:StringEquals": {"kms:ResourceAliases": key_alias}}))
            acknowledge(self.role, "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*]",
                        "The secrets stack's key has a random id; DescribeKey (read-only metadata) is allowed only on "
                        "the key that carries this environment's alias (kms:ResourceAliases)")
            properties["EncryptionKeyAlias"] = key_alias
        return self._resource(scope, construct_id, "Custom::ManagedSecretsReady", properties)

    def _resource(self, scope: Construct, construct_id: str, resource_type: str, properties: dict) -> CustomResource:
        resource = CustomResource(scope, construct_id, service_token=self.function.function_arn,
                                  resource_type=resource_type, properties=properties,
                                  service_timeout=Duration.minutes(3))
        resource.node.add_dependency(self.role)  # its permissions, before the first call
        return resource
