"""Redeploys the data service once, right after the stack first creates the gateway.

Service Connect gives a task only the endpoints that existed when it started ("existing tasks can't resolve and
connect to the new endpoint", ECS developer guide, Service Connect components). The gateway and the data service
call each other, so whichever is created first cannot reach the other. The gateway is created second (it depends on
the data service, so it can reach `data-service` at once); this resource then starts a new deployment of the data
service, whose new tasks can reach `gateway`. It acts on creation only: later deploys find both endpoints in place.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import custom_resources as cr
from constructs import Construct

from ..compliance import acknowledge_role_policy
from .function import CUSTOM_RESOURCE_FAILURES, acknowledge_function, function_role
from .service import EcsService

LOG_RETENTION_DAYS = 30


class DiscoveryRefresh(Construct):
    """Exposes `role` (the provider function's, shared by the stack's AwsCustomResources) and `log_group`."""

    def __init__(self, scope: Construct, construct_id: str, *, name_prefix: str, gateway: EcsService,
                 data_service: EcsService):
        super().__init__(scope, construct_id)
        service = data_service.service
        # Our own role instead of the default one with AWSLambdaBasicExecutionRole (logs on every group).
        self.role, self.log_group = function_role(
            self, description="Redeploys the data service once after the gateway is first created",
            log_retention_days=LOG_RETENTION_DAYS,
        )
        redeploy = cr.AwsCustomResource(
            self, "Redeploy",
            on_create=cr.AwsSdkCall(
                service="ECS", action="updateService",
                parameters={"cluster": service.cluster.cluster_name, "service": service.service_name,
                            "forceNewDeployment": True},
                physical_resource_id=cr.PhysicalResourceId.of(f"{name_prefix}-data-service-discovery-refresh"),
            ),
            policy=cr.AwsCustomResourcePolicy.from_statements([
                iam.PolicyStatement(actions=["ecs:UpdateService"], resources=[service.service_arn]),
            ]),
            role=self.role,
            log_group=self.log_group,
            install_latest_aws_sdk=False,  # the runtime's SDK has UpdateService; no download at deploy time
        )
        redeploy.node.add_dependency(gateway.service)
        acknowledge_role_policy(redeploy)  # the statements it is given, which CDK writes as a policy of the role
        # CDK's one provider function for the stack's AwsCustomResources, at the stack's root.
        provider = Stack.of(self).node.find_child(f"AWS{cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace('-', '')}")
        acknowledge_function(provider, failures_reach=CUSTOM_RESOURCE_FAILURES)

