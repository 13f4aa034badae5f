"""`PortkeyGateway`: the Portkey hybrid data plane (AI gateway and its cache) on EC2-backed ECS, from one Settings."""

from __future__ import annotations

from aws_cdk import Annotations, Aws, Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct

from . import capacity, compliance
from .config import Settings
from .components.cache import Cache
from .components.compute import ComputeCluster
from .components.deployment_alarms import DeploymentAlarms
from .components.domain import GatewayDomain
from .components.firewall import GatewayFirewall
from .components.ingress import GatewayLoadBalancer
from .components.network import Network
from .components.notifications import OperationsTopic
from .components.service import EcsService, ServicePlatform
from .components.smoke_test_hook import SmokeTestHook
from .specs import LB_HEALTH_CHECK_GRACE_SECONDS, gateway_spec

LOG_STORE_ACTIONS = ("s3:GetObject", "s3:PutObject")  # the module's gateway policy: write logs, read them back


class PortkeyGateway(Construct):
    """Builds the network, cluster, services and load balancer that `settings` describes.

    Public attributes for wiring into other stacks: `network`, `compute`, `gateway`, `cache` (None with an external
    cache), `load_balancer` (None without `create_lb`), `domain`, `firewall`, `deployment_alarms` and
    `smoke_test_hook` (None unless configured), `operations_topic` (None with an existing cluster).
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings):
        super().__init__(scope, construct_id)
        self.settings = settings
        self.network = Network(self, "Network", settings=settings)
        self.operations_topic = OperationsTopic(self, "Operations", settings=settings) if settings.create_cluster else None
        self.compute = ComputeCluster(
            self, "Compute", settings=settings, network=self.network,
            notifications=self.operations_topic.topic if self.operations_topic else None,
        )
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
            docker_credentials_arn=settings.docker_cred_secret_arn,
            arm64_only=settings.create_cluster,
            # Services must not be created before (or deleted after) the capacity provider's association.
            depends_on=(self.compute.cluster,) if settings.create_cluster else (),
        )
        self.gateway = EcsService(
            self, "Gateway", spec=gateway_spec(settings), platform=platform,
            health_check_grace_period=Duration.seconds(LB_HEALTH_CHECK_GRACE_SECONDS) if settings.create_lb else None,
        )
        grant_bucket_objects(self.gateway.task_role, settings.object_storage.bucket_names, LOG_STORE_ACTIONS)

        self.cache = None
        if settings.redis_configuration.redis_type == "redis":
            self.cache = Cache(self, "Cache", settings=settings, platform=platform)
            self.cache.allow_from(self.gateway)
            # The gateway resolves redis:6379 through Service Connect, so Redis must be registered first.
            self.gateway.service.node.add_dependency(self.cache.redis.service)

        self.domain = GatewayDomain(self, "Domain", settings=settings) if settings.custom_domain else None
        self.load_balancer = self.firewall = self.deployment_alarms = self.smoke_test_hook = None
        if settings.create_lb:
            certificate_arn = self.domain.certificate.certificate_arn if self.domain else settings.tls_certificate_arn
            self.load_balancer = GatewayLoadBalancer(
                self, "Ingress", settings=settings, network=self.network, gateway=self.gateway,
                certificate_arn=certificate_arn or None,
            )
            if self.domain:
                self.domain.point_at(self.load_balancer.load_balancer)
            if settings.waf.enabled:
                self.firewall = GatewayFirewall(
                    self, "Firewall", settings=settings, load_balancer=self.load_balancer.load_balancer
                )
            self._release_safety(settings)
        self._check_capacity(settings)
        compliance.acknowledge_findings(self)

    def _release_safety(self, settings: Settings) -> None:
        """What works on the load balancer's target groups: request-count scaling, and the two release checks
        (deployment alarms, smoke-test hook)."""
        ingress = self.load_balancer
        if settings.gateway_autoscaling.enable_autoscaling and settings.gateway_autoscaling.target_requests_per_task:
            self.gateway.scale_on_requests([*ingress.target_groups.values(), *ingress.alternate_target_groups.values()],
                                           settings.gateway_autoscaling)
        if settings.gateway_deployment_alarms.enabled:
            self.deployment_alarms = DeploymentAlarms(self, "DeploymentAlarms", settings=settings, ingress=ingress,
                                                      gateway=self.gateway)
        if settings.gateway_lifecycle_hook.enable_lifecycle_hook:
            self.smoke_test_hook = SmokeTestHook(self, "SmokeTestHook", settings=settings, network=self.network,
                                                 ingress=ingress, gateway=self.gateway)

    def _check_capacity(self, settings: Settings) -> None:
        """Tasks that cannot be placed wait in PROVISIONING without failing anything: say so at synth.
        (`capacity_check: error` refuses the settings instead, before synthesis.)"""
        if settings.create_cluster and settings.capacity_check == "warn":
            report = capacity.check(settings)
            if not report.fits:
                Annotations.of(self).add_warning_v2("portkey-gateway:capacity", report.message())


def grant_bucket_objects(role: iam.IRole, buckets: list[str], actions: tuple[str, ...]) -> None:
    """Object-level access to exactly the named buckets (no listing, no bucket configuration)."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=list(actions),
            resources=[f"arn:{Aws.PARTITION}:s3:::{bucket}/*" for bucket in buckets],
        )
    )
