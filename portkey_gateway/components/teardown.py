"""Lets `cdk destroy` delete the cluster's instances without anyone scaling services to zero first.

Managed termination protection keeps ECS from terminating instances that run tasks, by protecting them from scale-in;
CloudFormation's delete of the Auto Scaling group then waits for instances that never terminate (aws-cdk issue 18179,
containers-roadmap 631). A custom resource runs between the capacity provider and the group on delete: the stack
deletes the services (draining their tasks) and the capacity provider first, then this resource removes the scale-in
protection and ECS's orphaned termination hook, then CloudFormation deletes the group and its instances. When the
resource is deleted while its capacity provider lives on (a rolled-back update), the function leaves the group alone.
"""

from __future__ import annotations

from aws_cdk import Aws, CustomResource, Duration, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_iam as iam
from constructs import Construct, IConstruct

from ..compliance import acknowledge
from .function import CUSTOM_RESOURCE_FAILURES, python_function

# What the function does to the one group (Auto Scaling supports resource-level permissions for these).
GROUP_ACTIONS = ("autoscaling:UpdateAutoScalingGroup", "autoscaling:SetInstanceProtection",
                 "autoscaling:DeleteLifecycleHook")
# Resource "*" only: the Auto Scaling describe calls have no resource level, and listing capacity providers (to find
# whether one still manages the group) cannot name them: the capacity provider's name is generated.
DESCRIBE_ACTIONS = ("autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeLifecycleHooks",
                    "ecs:DescribeCapacityProviders")


class InstanceRelease(Construct):
    """Exposes `resource` (the custom resource), `function`, `role` and `log_group`."""

    def __init__(self, scope: Construct, construct_id: str, *, group: autoscaling.AutoScalingGroup,
                 capacity_provider: IConstruct):
        super().__init__(scope, construct_id)
        parts = python_function(
            self, code="teardown",
            description="On stack delete: removes scale-in protection so the Auto Scaling group can be deleted",
            role_description="Teardown: scale-in protection and termination hooks of the cluster's Auto Scaling group",
            timeout=Duration.minutes(2), failures_reach=CUSTOM_RESOURCE_FAILURES,
        )
        self.function, self.role, self.log_group = parts.function, parts.role, parts.log_group
        name = group.auto_scaling_group_name
        self.role.add_to_policy(iam.PolicyStatement(
            actions=list(GROUP_ACTIONS),
            # The group's ARN holds a random id that CloudFormation does not return; the name pins the group.
            resources=[f"arn:{Aws.PARTITION}:autoscaling:{Aws.REGION}:{Aws.ACCOUNT_ID}:autoScalingGroup:*:"
                       f"autoScalingGroupName/{name}"],
        ))
        self.role.add_to_policy(iam.PolicyStatement(actions=list(DESCRIBE_ACTIONS), resources=["*"]))
        group_id = Stack.of(group).get_logical_id(group.node.default_child)
        acknowledge(self.role, f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:autoscaling:<AWS::Region>:"
                    f"<AWS::AccountId>:autoScalingGroup:*:autoScalingGroupName/<{group_id}>]",
                    "The teardown function's actions on the cluster's one Auto Scaling group, named exactly; the '*' is "
                    "the group's random id, which CloudFormation does not return")
        acknowledge(self.role, "AwsSolutions-IAM5[Resource::*]",
                    "autoscaling:DescribeAutoScalingGroups and DescribeLifecycleHooks support no resource-level "
                    "permissions (Service Authorization Reference); ecs:DescribeCapacityProviders is called without "
                    "names, to find whether any capacity provider still manages the group (the provider's name is "
                    "generated). Read-only, and the function acts on its own group only")
        self.resource = CustomResource(
            self, "Resource", service_token=self.function.function_arn,
            resource_type="Custom::ReleaseInstanceProtection",
            properties={"AutoScalingGroupName": name},
            service_timeout=Duration.minutes(5),  # not CloudFormation's default hour if the function cannot answer
        )
        self.resource.node.add_dependency(self.role)  # the permissions must outlive the delete call
        # Delete order: capacity provider, then this, then the group (which this references).
        capacity_provider.node.add_dependency(self.resource)
