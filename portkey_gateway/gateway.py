"""`PortkeyGateway`: the Portkey hybrid data plane (AI gateway, data service, cache) on EC2-backed ECS, from one Settings."""

from __future__ import annotations

from typing import Mapping, Optional

from aws_cdk import Annotations, Aspects, Aws, Duration
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct

from . import capacity
from .compliance import acknowledge
from .settings import Settings
from .components.cache import Cache
from .components.cache_token_rotation import CacheTokenRotation
from .components.aws_endpoints import AwsEndpoints
from .components.compute import ComputeCluster
from .components.dead_letters import DeadLetters
from .components.deployment_alarms import DeploymentAlarms
from .components.discovery_refresh import DiscoveryRefresh
from .components.domain import GatewayDomain
from .components.elasticache import ExistingCacheAccess, ValkeyCache
from .components.encryption import EncryptLogGroups, create_environment_key
from .components.images import DockerHubCache, ImageSource
from .components.firewall import GatewayFirewall
from .components.ingress import GatewayLoadBalancer
from .components.llm_traffic import LlmMetricsCollector
from .components.monitoring import Monitoring
from .components.network import Network
from .components.notifications import OperationsTopic
from .components.private_link import ControlPlaneEndpoint, GatewayEndpointService
from .components.service import EcsService, ServicePlatform
from .components.secret_redeploy import SecretChangeRedeploy, secret_readers
from .components.smoke_test_hook import SmokeTestHook
from .container_env import CacheConnection, configured_cache
from .own_resources import OwnResources, with_own_resources
from .specs import (LB_HEALTH_CHECK_GRACE_SECONDS, data_service_spec, gateway_spec, ingress_routes, llm_metrics_log_group,
                    redis_spec)

LOG_STORE_ACTIONS = ("s3:GetObject", "s3:PutObject")  # the module's gateway policy: write logs, read them back
# The module's (v3.0.0) data-service policy: exports and fine-tune files are also deleted and uploaded in parts.
DATA_SERVICE_S3_ACTIONS = (*LOG_STORE_ACTIONS, "s3:DeleteObject", "s3:AbortMultipartUpload")
BEDROCK_ACTIONS = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")


class PortkeyGateway(Construct):
    """Builds the network, cluster, services and load balancer that `settings` describes.

    Bring your own or we create one: `vpc` (with `task_subnets` and `load_balancer_subnets` to choose its subnets),
    `cluster`, `certificate`, `domain_zone`, `docker_credentials`, `secrets` (service -> variable -> secret),
    `access_logs_bucket` and `encryption_key` replace the matching ids and ARNs of the settings (`own_resources.py`); any id or ARN setting
    also takes a CDK token.

    Public attributes for wiring into other stacks: `connections` (clients of the load balancer:
    `gateway.connections.allow_default_port_from(peer)`), `url` (the gateway's), `network`, `compute`, `gateway`,
    `load_balancer` (None without `create_lb`), `encryption_key` (None without one), `alarms` and `dashboard` (where they exist), and, None unless
    configured: `operations_topic` (with a created cluster or alarms), `data_service`, `cache` (the built-in Redis),
    `elasticache` (a created cache), `domain`, `firewall`, `deployment_alarms` (the gateway's health alarms),
    `smoke_test_hook`, `control_plane_endpoint`, `endpoint_service`, `aws_endpoints`, `secret_redeploy`, `monitoring`,
    `dead_letters` (the queue of events and function runs that failed), `cache_token_rotation`, `docker_hub_cache`,
    `llm_metrics` (the collector's log group and permissions; the collector is `gateway.sidecar`).
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, vpc: Optional[ec2.IVpc] = None,
                 task_subnets: Optional[ec2.SubnetSelection] = None,
                 load_balancer_subnets: Optional[ec2.SubnetSelection] = None, cluster: Optional[ecs.ICluster] = None,
                 certificate: Optional[acm.ICertificate] = None, domain_zone: Optional[route53.IHostedZone] = None,
                 docker_credentials: Optional[secretsmanager.ISecret] = None,
                 secrets: Optional[Mapping[str, Mapping[str, secretsmanager.ISecret]]] = None,
                 access_logs_bucket: Optional[s3.IBucket] = None, encryption_key: Optional[kms.IKey] = None):
        super().__init__(scope, construct_id)
        own = OwnResources(vpc=vpc, task_subnets=task_subnets, load_balancer_subnets=load_balancer_subnets,
                           cluster=cluster, certificate=certificate, domain_zone=domain_zone,
                           docker_credentials=docker_credentials, secrets=secrets or {},
                           access_logs_bucket=access_logs_bucket, encryption_key=encryption_key)
        if own != OwnResources() or settings.rules_deferred:
            settings = with_own_resources(settings, own)
        if settings.managed_secrets and not (settings.secrets and settings.secrets.gateway.get("PORTKEY_CLIENT_AUTH")):
            raise ValueError("managed_secrets: pass settings with the secrets stack's ARNs "
                             "(secrets_stack.with_secret_arns(settings, SecretsStack(...).arns)), or use GatewayStack")
        for note in settings.unchecked:
            Annotations.of(self).add_info(note)
        self.settings = settings
        self.encryption_key = encryption_key or self._environment_key(settings)
        self.dead_letters: Optional[DeadLetters] = None
        if self.encryption_key:
            Aspects.of(self).add(EncryptLogGroups(self.encryption_key.key_arn))
        self.network = Network(self, "Network", config=settings, project=settings.project_name,
                               environment=settings.environment, vpc=vpc, task_subnets=task_subnets,
                               load_balancer_subnets=load_balancer_subnets)
        self.operations_topic = OperationsTopic(self, "Operations", name_prefix=settings.name_prefix,
                                                alarm_emails=settings.monitoring.alarm_emails) \
            if settings.create_cluster or settings.monitoring.alarms else None
        self.compute = ComputeCluster(
            self, "Compute", config=settings, name_prefix=settings.name_prefix,
            execute_command=settings.uses_execute_command, network=self.network,
            notifications=self.operations_topic.topic if self.operations_topic else None, cluster=cluster,
        )
        self.docker_hub_cache = DockerHubCache(
            self, "DockerHubCache", prefix=settings.cache_prefix,
            credentials_arn=settings.docker_hub_cache.credentials_secret_arn,
            scan_on_push=settings.docker_hub_cache.scan_on_push) if settings.docker_hub_cache.enabled else None
        # Named per stack: the module's fixed "portkey" namespace collides when two stacks share an account.
        namespace = servicediscovery.HttpNamespace(
            self, "Namespace", name=settings.name_prefix, description=f"Service Connect for {settings.name_prefix}"
        )
        platform = ServicePlatform(
            project=settings.project_name,
            environment=settings.environment,
            vpc=self.network.vpc,
            subnets=self.network.private_subnets,
            cluster=self.compute.cluster,
            capacity_provider_name=self.compute.capacity_provider_name,
            namespace=namespace,
            images=ImageSource(settings.docker_cred_secret_arn, settings.cache_prefix),
            arm64_only=settings.create_cluster,
            # Services must not be created before (or deleted after) the capacity provider's association, nor before
            # the pull-through cache their images come through.
            depends_on=(*((self.compute.cluster,) if settings.create_cluster else ()),
                        *((self.docker_hub_cache.rule,) if self.docker_hub_cache else ())),
            secret_objects=own.secret_objects(),
            exec_log_group=self.compute.exec_log_group, region=settings.aws_region, account=settings.aws_account,
            encryption_key=self.encryption_key,
        )
        connection = self._cache(settings, platform)
        self.data_service = None
        if settings.dataservice_config.enable_dataservice:
            self.data_service = EcsService(self, "DataService", spec=data_service_spec(settings, connection), platform=platform)
            grant_bucket_objects(self.data_service, settings.object_storage.bucket_names, DATA_SERVICE_S3_ACTIONS)
        self.gateway = EcsService(
            self, "Gateway", spec=gateway_spec(settings, connection), platform=platform,
            health_check_grace_period=Duration.seconds(LB_HEALTH_CHECK_GRACE_SECONDS) if settings.create_lb else None,
        )
        grant_bucket_objects(self.gateway, settings.object_storage.bucket_names, LOG_STORE_ACTIONS)
        self.llm_metrics = LlmMetricsCollector(
            self, "LlmMetrics", gateway=self.gateway, log_group_name=llm_metrics_log_group(settings),
            log_retention_days=settings.log_retention_days, traces=settings.monitoring.llm_traffic.traces,
            prometheus_workspace_arn=settings.monitoring.llm_traffic.prometheus_workspace_arn,
        ) if settings.collects_llm_metrics else None
        if settings.bedrock.enabled:
            grant_bedrock(self.gateway.task_role, settings)
        clients = [service for service in (self.gateway, self.data_service) if service]
        for client in clients:
            if self.cache_access:
                self.cache_access.allow_from(client)
            if self.cache:  # clients resolve redis:6379 through Service Connect: Redis must be registered first
                client.service.node.add_dependency(self.cache.redis.service)
        self.secret_redeploy = None
        if settings.redeploy_on_secret_change and secret_readers(clients):
            self.secret_redeploy = SecretChangeRedeploy(
                self, "SecretChangeRedeploy", cluster_name=self.compute.cluster.cluster_name, services=clients,
                region=settings.aws_region, account=settings.aws_account, dead_letters=self._dead_letters(settings),
            )
        self.cache_token_rotation = None
        if self.elasticache and settings.redis_configuration.create.auth_token_rotation_days:
            self.cache_token_rotation = CacheTokenRotation(
                self, "CacheTokenRotation", secret=self.elasticache.auth_secret,
                replication_group=self.elasticache.replication_group, cluster_name=self.compute.cluster.cluster_name,
                service_names=[client.service.service_name for client in clients],
                service_arns=[client.service.service_arn for client in clients],
                rotation_days=settings.redis_configuration.create.auth_token_rotation_days,
                dead_letters=self._dead_letters(settings), encryption_key=self.encryption_key)
        self.discovery_refresh = None
        if self.data_service:
            self._connect_gateway_and_data_service(settings)
        self.control_plane_endpoint = None
        if settings.control_plane_private_link.enabled:
            self.control_plane_endpoint = ControlPlaneEndpoint(
                self, "ControlPlaneEndpoint", link=settings.control_plane_private_link, region=settings.aws_region,
                network=self.network)
            for client in clients:
                self.control_plane_endpoint.allow_from(client)
        self.aws_endpoints = AwsEndpoints(self, "AwsEndpoints", network=self.network, vpc_cidr=settings.vpc_cidr,
                                          ecr=settings.pulls_from_ecr, bedrock=settings.bedrock.enabled) \
            if settings.aws_private_endpoints else None

        self.domain = GatewayDomain(self, "Domain", domain=settings.custom_domain, hosts=settings.domain_hosts,
                                    zone=domain_zone, certificate=certificate) if settings.custom_domain else None
        self.load_balancer = self.firewall = self.deployment_alarms = self.smoke_test_hook = self.endpoint_service = None
        if settings.create_lb:
            certificate_arn = self.domain.certificate.certificate_arn if self.domain else settings.tls_certificate_arn
            self.load_balancer = GatewayLoadBalancer(
                self, "Ingress", config=settings, routes=ingress_routes(settings), network=self.network,
                gateway=self.gateway, certificate_arn=certificate_arn or None,
                shifts_traffic=settings.deployment_strategy != "ROLLING",
                private_link_clients=settings.inbound_private_link.enabled,
                admit_control_plane=settings.allow_control_plane_ips, access_logs_bucket=access_logs_bucket,
            )
            if self.domain:
                self.domain.point_at(self.load_balancer.load_balancer)
            if settings.waf.enabled:
                self.firewall = GatewayFirewall(
                    self, "Firewall", waf=settings.waf, name_prefix=settings.name_prefix,
                    load_balancer=self.load_balancer.load_balancer
                )
            self._release_safety(settings)
            if settings.inbound_private_link.enabled:
                self.endpoint_service = GatewayEndpointService(
                    self, "EndpointService", inbound=settings.inbound_private_link, region=settings.aws_region,
                    deletion_protection=settings.lb_deletion_protection, network=self.network, ingress=self.load_balancer)
        self.monitoring = None
        if settings.monitoring.dashboard or settings.monitoring.alarms:
            self.monitoring = Monitoring(
                self, "Monitoring", config=settings.monitoring, health_config=settings.gateway_deployment_alarms,
                name_prefix=settings.name_prefix, region=settings.aws_region,
                topic=self.operations_topic.topic if self.operations_topic else None,
                cluster=self.compute.cluster, services=[*clients, *([self.cache.redis] if self.cache else [])],
                ingress=self.load_balancer,
                health_alarms=self.deployment_alarms.alarms if self.deployment_alarms else [],
                capacity_provider_name=self.compute.capacity_provider_name if settings.create_cluster else None,
                auto_scaling_group=self.compute.auto_scaling_group,
                cache_nodes=self.elasticache.node_ids if self.elasticache else list(settings.monitoring.cache_node_ids),
                functions={"secret-change-redeploy": self.secret_redeploy.function} if self.secret_redeploy else {},
                dead_letters=self._dead_letters(settings) if settings.monitoring.alarms else None,
                llm_traffic=settings.monitoring.llm_traffic if self.llm_metrics else None,
                llm_namespace=settings.llm_metrics_namespace,
            )
        self._check_capacity(settings)
        self._surface(settings)

    def _surface(self, settings: Settings) -> None:
        """What a CDK app wires to, as aws_ecs_patterns offers it: `connections` (the load balancer's clients, or
        the gateway tasks' without one), `url`, `alarms` and `dashboard`."""
        ingress = self.load_balancer
        if ingress:
            self.connections = ec2.Connections(security_groups=[ingress.security_group],
                                               default_port=ec2.Port.tcp(ingress.listener_port))
            route = ingress.routes[0]
            scheme = "https" if ingress.certificate_arn else "http"
            host = route.host or ingress.load_balancer.load_balancer_dns_name
            self.url = settings.public_urls.get(route.name) or f"{scheme}://{host}{route.path_prefix or ''}"
        else:
            port = self.gateway.spec.ports[0].port
            self.connections = ec2.Connections(security_groups=[self.gateway.security_group],
                                               default_port=ec2.Port.tcp(port))
            self.url = None  # no load balancer: Service Connect clients call http://gateway:<port>
        self.alarms = list(self.monitoring.alarms) if self.monitoring else []
        if self.deployment_alarms:
            self.alarms += [alarm for alarm in self.deployment_alarms.alarms if alarm not in self.alarms]
        self.dashboard = self.monitoring.dashboard if self.monitoring else None

    def _dead_letters(self, settings: Settings) -> DeadLetters:
        """The one dead-letter queue of the gateway's rule targets and operations functions, made on first use."""
        if self.dead_letters is None:
            self.dead_letters = DeadLetters(self, "DeadLetters", name_prefix=settings.name_prefix,
                                            alarm=settings.monitoring.alarms)
        return self.dead_letters

    def _environment_key(self, settings: Settings) -> Optional[kms.IKey]:
        """`encryption_key`: none (AWS-managed keys), a key created here, or an existing key (a deploy-time value when
        the secrets stack created it)."""
        if not settings.encryption_key:
            return None
        if settings.creates_key:
            return create_environment_key(self, "EncryptionKey", name_prefix=settings.name_prefix)
        return kms.Key.from_key_arn(self, "EncryptionKey", settings.encryption_key)

    def _cache(self, settings: Settings, platform: ServicePlatform) -> CacheConnection:
        """The cache store: the built-in Redis service, a Valkey cache created here, or an existing ElastiCache.
        Sets `cache` (built-in), `elasticache` (created) and `cache_access` (whatever admits the clients)."""
        self.cache = self.elasticache = self.cache_access = None
        redis = settings.redis_configuration
        if redis.redis_type == "redis":
            self.cache = self.cache_access = Cache(self, "Cache", spec=redis_spec(settings), platform=platform)
        elif redis.create:
            self.elasticache = self.cache_access = ValkeyCache(
                self, "ElastiCache", redis=redis, name_prefix=settings.name_prefix, az_count=settings.az_count,
                network=self.network, encryption_key=self.encryption_key)
            return self.elasticache.connection
        elif redis.security_group_id:
            self.cache_access = ExistingCacheAccess(self, "ExistingCache", redis=redis)
        return configured_cache(settings)

    def _connect_gateway_and_data_service(self, settings: Settings) -> None:
        """They call each other: security-group rules both ways, and a creation order Service Connect can follow."""
        gateway, data_service = self.gateway, self.data_service
        data_service.allow_from(gateway, settings.dataservice_config.port)
        for port in gateway.spec.ports:
            gateway.allow_from(data_service, port.port)
        gateway.service.node.add_dependency(data_service.service)
        self.discovery_refresh = DiscoveryRefresh(self, "DiscoveryRefresh", name_prefix=settings.name_prefix, gateway=gateway,
                                                  data_service=data_service)

    def _release_safety(self, settings: Settings) -> None:
        """What works on the load balancer's target groups: request-count scaling, and the two release checks
        (deployment alarms, smoke-test hook)."""
        ingress = self.load_balancer
        if settings.gateway_autoscaling.enable_autoscaling and settings.gateway_autoscaling.target_requests_per_task:
            self.gateway.scale_on_requests([*ingress.target_groups.values(), *ingress.alternate_target_groups.values()],
                                           settings.gateway_autoscaling)
        if settings.gateway_deployment_alarms.enabled or settings.monitoring.alarms:
            self.deployment_alarms = DeploymentAlarms(self, "DeploymentAlarms", config=settings.gateway_deployment_alarms,
                                                      name_prefix=settings.name_prefix, ingress=ingress,
                                                      gateway=self.gateway)
        if settings.gateway_lifecycle_hook.enable_lifecycle_hook:
            self.smoke_test_hook = SmokeTestHook(
                self, "SmokeTestHook", hook=settings.gateway_lifecycle_hook, name_prefix=settings.name_prefix,
                server_name=next(iter(settings.domain_hosts.values()), None), network=self.network, ingress=ingress,
                gateway=self.gateway)

    def _check_capacity(self, settings: Settings) -> None:
        """Tasks that cannot be placed wait in PROVISIONING without failing anything: say so at synth.
        (`capacity_check: error` refuses the settings instead, before synthesis.)"""
        if settings.create_cluster and settings.capacity_check == "warn":
            report = capacity.check(settings)
            if not report.fits:
                Annotations.of(self).add_warning_v2("portkey-gateway:capacity", report.message())


def grant_bedrock(role: iam.IRole, settings: Settings) -> None:
    """Invoke (and stream from) exactly the listed models and inference profiles, or the region's foundation models;
    assume exactly the listed roles."""
    bedrock = settings.bedrock
    models = bedrock.model_arns or [f"arn:{Aws.PARTITION}:bedrock:{settings.aws_region}::foundation-model/*"]
    role.add_to_principal_policy(iam.PolicyStatement(actions=list(BEDROCK_ACTIONS), resources=models))
    for arn in (a for a in bedrock.model_arns if "*" in a):
        acknowledge(role, f"AwsSolutions-IAM5[Resource::{arn}]",
                    "A listed foundation model in every region, as cross-region inference profiles route to it "
                    "(bedrock.model_arns); invoke actions only, on that one model")
    if not bedrock.model_arns:
        acknowledge(role, f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:{settings.aws_region}::foundation-model/*]",
                    "bedrock.model_arns is empty, so the operator chose every foundation model of the region; the grant "
                    "is InvokeModel and InvokeModelWithResponseStream only, in that one region")
    if bedrock.assume_role_arns:
        role.add_to_principal_policy(iam.PolicyStatement(actions=["sts:AssumeRole"], resources=bedrock.assume_role_arns))


def grant_bucket_objects(service: EcsService, buckets: list[str], actions: tuple[str, ...]) -> None:
    """Object-level access to exactly the named buckets (no listing, no bucket configuration)."""
    service.task_role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=list(actions),
            resources=[f"arn:{Aws.PARTITION}:s3:::{bucket}/*" for bucket in buckets],
        )
    )
    for bucket in buckets:
        acknowledge(service.task_role, f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{bucket}/*]",
                    f"The {service.spec.name} reads and writes objects under generated keys in {bucket}; access is "
                    "limited to object actions on that one bucket's objects")
