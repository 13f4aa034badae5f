"""`GatewayStack`: one environment's deployment unit, with the module's outputs."""

from __future__ import annotations

from typing import Optional

from aws_cdk import CfnOutput, Environment, Stack
from constructs import Construct

from .config import Settings
from .gateway import PortkeyGateway
from .secrets_stack import SecretArns, SecretsStack, apply_tags, with_secret_arns


class GatewayStack(Stack):
    """One environment's gateway. With `managed_secrets`, pass the `SecretsStack`'s `arns` as `secret_arns`."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, secret_arns: Optional[SecretArns] = None,
                 **kwargs):
        super().__init__(
            scope,
            construct_id,
            env=Environment(account=settings.aws_account, region=settings.aws_region),
            description=f"Portkey AI Gateway hybrid data plane ({settings.name_prefix})",
            **kwargs,
        )
        if settings.managed_secrets:
            if secret_arns is None:
                raise ValueError("managed_secrets: pass the SecretsStack's arns as secret_arns")
            settings = with_secret_arns(settings, secret_arns)
        self._settings = settings
        apply_tags(self, settings)
        self.gateway = PortkeyGateway(self, "PortkeyGateway", settings=settings)
        self._outputs()

    @property
    def availability_zones(self) -> list[str]:
        """The configured AZs, so that synthesis never asks AWS for them (offline, deterministic)."""
        return self._settings.azs

    def _outputs(self) -> None:
        gateway = self.gateway
        outputs = {
            "VpcId": gateway.network.vpc.vpc_id,
            "PrivateSubnetIds": ",".join(gateway.network.private_subnet_ids),
            "PublicSubnetIds": ",".join(gateway.network.public_subnet_ids),
            "ClusterName": gateway.compute.cluster.cluster_name,
            "GatewayServiceName": gateway.gateway.service.service_name,
            "GatewaySecurityGroupId": gateway.gateway.security_group.security_group_id,
            "GatewayTaskRoleArn": gateway.gateway.task_role.role_arn,
        }
        if gateway.data_service:
            outputs["DataServiceTaskRoleArn"] = gateway.data_service.task_role.role_arn
            outputs["DataServiceName"] = gateway.data_service.service.service_name
        if gateway.cache:
            outputs["RedisTaskRoleArn"] = gateway.cache.redis.task_role.role_arn
        if gateway.compute.exec_log_group:
            outputs["ExecLogGroupName"] = gateway.compute.exec_log_group.log_group_name
        if gateway.smoke_test_hook:
            outputs["SmokeTestLogGroupName"] = gateway.smoke_test_hook.log_group.log_group_name
        if gateway.elasticache:
            outputs["CacheEndpoint"] = gateway.elasticache.connection.url
            outputs["CacheAuthSecretArn"] = gateway.elasticache.auth_secret.secret_arn
        if gateway.load_balancer:
            outputs["LoadBalancerDnsName"] = gateway.load_balancer.load_balancer.load_balancer_dns_name
            outputs["LoadBalancerArn"] = gateway.load_balancer.load_balancer.load_balancer_arn
            if gateway.load_balancer.access_logs_bucket:
                outputs["AccessLogsBucketName"] = gateway.load_balancer.access_logs_bucket.bucket_name
        for name, url in self._settings.public_urls.items():
            outputs[f"{name.capitalize()}Url"] = url
        if gateway.endpoint_service:
            outputs["EndpointServiceName"] = gateway.endpoint_service.service.vpc_endpoint_service_name
            outputs["EndpointServicePort"] = str(gateway.endpoint_service.port)
        if gateway.control_plane_endpoint:
            outputs["ControlPlaneEndpointId"] = gateway.control_plane_endpoint.endpoint.vpc_endpoint_id
        if gateway.firewall:
            outputs["WebAclArn"] = gateway.firewall.web_acl.attr_arn
        if gateway.operations_topic:  # subscribe other endpoints (chat, paging) to the alarms and events
            outputs["OperationsTopicArn"] = gateway.operations_topic.topic.topic_arn
        if gateway.monitoring and gateway.monitoring.dashboard:
            outputs["DashboardName"] = gateway.monitoring.dashboard.dashboard_name
        for name, value in outputs.items():
            if value:
                CfnOutput(self, name, value=value)


def add_environment(scope: Construct, settings: Settings) -> GatewayStack:
    """One environment's stacks, as `cdk deploy -c env=NAME` and each pipeline stage create them: the gateway stack
    `<project>-<env>`, and with `managed_secrets` the secrets stack `<project>-<env>-secrets` it takes its ARNs from."""
    # Explicit stack names: inside a pipeline stage CDK would otherwise prefix them with the stage's name.
    secrets = SecretsStack(scope, f"{settings.name_prefix}-secrets", stack_name=f"{settings.name_prefix}-secrets",
                           settings=settings) if settings.managed_secrets else None
    return GatewayStack(scope, settings.name_prefix, stack_name=settings.name_prefix, settings=settings,
                        secret_arns=secrets.arns if secrets else None)
