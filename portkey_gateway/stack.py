"""`GatewayStack`: one environment's deployment unit, with the module's outputs."""

from __future__ import annotations

from typing import Optional

from aws_cdk import Aspects, CfnDeletionPolicy, CfnOutput, CfnResource, CustomResource, Environment, Stack
from constructs import Construct

from .compliance import acknowledge_in_packs, checkov_skip
from .components.deploy_guard import DeployGuard
from .components.encryption import EncryptLogGroups, key_alias
from .gateway import PortkeyGateway
from .secrets_stack import SecretArns, apply_tags, managed_secrets, with_secret_arns
from .settings import Settings

# What outlives a failed first deploy (CloudFormation keeps it on rollback): it waits for the secrets check.
_KEPT_ON_ROLLBACK = (CfnDeletionPolicy.RETAIN, CfnDeletionPolicy.SNAPSHOT)


def default_secrets_command(settings: Settings) -> str:
    """How the operator deploys the secrets stack from this repository."""
    return f"make secrets ENV={settings.environment}, i.e. cdk deploy -c env={settings.environment} -c secrets=true"


class GatewayStack(Stack):
    """One environment's gateway: the only stack `cdk deploy -c env=NAME` deploys.

    With `managed_secrets`, the secrets stack (deployed before, on request) holds the credentials. This stack finds
    them by name through the deploy guard (`ManagedSecretsReady`), which fails the first deploy at once, before any
    task or retained resource exists, while a secret is missing or still holds its placeholder, and answers the
    secrets' complete ARNs, looked up by name again whenever the secrets' definition changes (what could make
    CloudFormation replace one), with no cross-stack output to go stale. A key the secrets stack created
    (`encryption_key: create`) is found the same way, by its alias.
    `secrets_command` is how the message tells the operator to deploy the secrets stack."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings,
                 secrets_command: Optional[str] = None, **kwargs):
        super().__init__(
            scope,
            construct_id,
            env=Environment(account=settings.aws_account, region=settings.aws_region),
            description=f"Portkey AI Gateway hybrid data plane ({settings.name_prefix})",
            **kwargs,
        )
        self.secrets_check: Optional[CustomResource] = None
        key_from_the_guard = settings.key_in_secrets_stack  # its log group cannot be encrypted with what it finds
        if settings.managed_secrets:
            self.secrets_check = self._secrets_check(settings, secrets_command or default_secrets_command(settings))
            check = self.secrets_check
            settings = with_secret_arns(settings, SecretArns(
                check.get_att_string("DockerCredentialsArn") if settings.needs_docker_credentials else None,
                check.get_att_string("ClientauthOrganizationsArn"),
                check.get_att_string("DockerHubCacheArn") if settings.docker_hub_cache.enabled else None))
            if settings.key_in_secrets_stack:
                settings = settings.model_copy(update={"encryption_key": check.get_att_string("EncryptionKeyArn")})
        self._settings = settings
        apply_tags(self, settings)
        self.gateway = PortkeyGateway(self, "PortkeyGateway", settings=settings)
        key = self.gateway.encryption_key
        if key and not key_from_the_guard:
            Aspects.of(self).add(EncryptLogGroups(key.key_arn))  # the deploy guard's log group too
        elif key_from_the_guard:
            reason = ("The deploy guard finds the environment's key (the secrets stack's) before anything can use it, so "
                      "its own log group cannot wait for the key; it records resource names, weights and secret names, "
                      "never a value, encrypted by CloudWatch Logs")
            log_group = DeployGuard.of(self).log_group
            acknowledge_in_packs(log_group, "CloudWatchLogGroupEncrypted", reason)
            checkov_skip(log_group.node.default_child, "CKV_AWS_158", reason)
        if self.secrets_check:
            self._wait_for_the_secrets()
        self._outputs()

    def _secrets_check(self, settings: Settings, command: str) -> CustomResource:
        secrets = [{"Id": managed.construct_id, "Name": managed.secret_name, "Keys": list(managed.keys),
                    "Definition": managed.definition()} for managed in managed_secrets(settings)]
        return DeployGuard.of(self).secrets_ready(
            self, "ManagedSecretsReady", environment=settings.environment, secrets_command=command, secrets=secrets,
            key_alias=key_alias(settings.name_prefix) if settings.key_in_secrets_stack else None)

    def _wait_for_the_secrets(self) -> None:
        """Every resource CloudFormation keeps after a failed create (named log groups, buckets, caches) waits for
        the secrets check, so that a first deploy with unfilled secrets leaves nothing behind that would block the
        next one. The tasks wait anyway: their task definitions name the ARNs the check answers."""
        check = self.secrets_check.node.default_child
        guard = DeployGuard.of(self).node.path + "/"
        for construct in self.node.find_all():
            if (CfnResource.is_cfn_resource(construct) and construct.cfn_options.deletion_policy in _KEPT_ON_ROLLBACK
                    and not construct.node.path.startswith(guard)):
                construct.add_resource_dependency(check)

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


def add_environment(scope: Construct, settings: Settings, secrets_command: Optional[str] = None) -> GatewayStack:
    """The environment's gateway stack `<project>-<env>`, as `cdk deploy -c env=NAME` and each pipeline stage create
    it. Explicit stack name: inside a pipeline stage CDK would otherwise prefix it with the stage's name."""
    return GatewayStack(scope, settings.name_prefix, stack_name=settings.name_prefix, settings=settings,
                        secrets_command=secrets_command)
