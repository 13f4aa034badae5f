"""One ECS service from a `ServiceSpec`: task definition, container, roles, log group, security group, service.

Every Portkey service (gateway, built-in Redis, data service) is built here, so they share one set of defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping, Optional

from aws_cdk import Aws, Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct

from ..settings import LOG_RETENTION_DAYS, AutoscalingConfig, DeploymentConfiguration
from ..compliance import acknowledge, acknowledge_role_policy
from ..specs import CONTAINER_HEALTH, ServiceSpec
from .encryption import grant_secret_decrypt
from .images import ImageSource

_SUFFIX = re.compile(r"-([A-Za-z0-9]{6})$")  # Secrets Manager appends "-" and six random characters to names


@dataclass(frozen=True)
class ServicePlatform:
    """What every service runs on: shared by all services of one deployment."""

    project: str
    environment: str
    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    cluster: ecs.ICluster
    capacity_provider_name: str
    namespace: servicediscovery.INamespace
    images: ImageSource  # where the images are pulled from (Docker Hub, ECR, the pull-through cache)
    arm64_only: bool  # the capacity is ours and Graviton; an existing cluster may run other architectures
    depends_on: tuple = ()  # constructs the services must wait for (the cluster's capacity-provider association)
    # Secrets the caller passed as objects, by their ARN token: granted through the object (its KMS key included).
    secret_objects: Mapping[str, secretsmanager.ISecret] = field(default_factory=dict)
    exec_log_group: Optional[logs.ILogGroup] = None  # where ECS Exec sessions are recorded (a cluster created here)
    region: str = ""  # the deployment's, as written into the ARNs CDK renders
    account: Optional[str] = None
    encryption_key: Optional[kms.IKey] = None  # the environment's key (`encryption_key`): it encrypts secrets made here

    def secret(self, scope: Construct, construct_id: str, arn: str, reader: iam.IRole) -> secretsmanager.ISecret:
        return self.secret_objects.get(arn) or import_secret(scope, construct_id, arn, reader)


def import_secret(scope: Construct, construct_id: str, arn: str, reader: iam.IRole) -> secretsmanager.ISecret:
    """Complete ARNs are granted exactly; partial ones (no suffix) as `name-??????`, which still fits one secret.

    A name that itself ends in "-" and six lower-case letters (`.../docker-secret`) may be either; then `reader`
    is also granted the exact ARN, so both readings work.
    """
    if Token.is_unresolved(arn):  # a secret created in this stack: its ARN is complete
        return secretsmanager.Secret.from_secret_complete_arn(scope, construct_id, arn)
    suffix = _SUFFIX.search(arn)
    could_be_a_word = bool(suffix) and suffix.group(1).isalpha() and suffix.group(1).islower()
    if suffix and not could_be_a_word:
        return secretsmanager.Secret.from_secret_complete_arn(scope, construct_id, arn)
    if could_be_a_word:
        reader.add_to_principal_policy(iam.PolicyStatement(
            actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], resources=[arn]))
    return secretsmanager.Secret.from_secret_partial_arn(scope, construct_id, arn)


def ecs_tasks_role(scope: Construct, construct_id: str, description: str, *, source_conditions: bool) -> iam.Role:
    """A role for ECS tasks; with `source_conditions`, only tasks of this account and region may assume it.

    The module puts those confused-deputy conditions on task roles only, not on execution roles; so do we.
    """
    conditions = {
        "ArnLike": {"aws:SourceArn": f"arn:{Aws.PARTITION}:ecs:{Aws.REGION}:{Aws.ACCOUNT_ID}:*"},
        "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
    } if source_conditions else None
    principal = iam.ServicePrincipal("ecs-tasks.amazonaws.com", conditions=conditions)
    role = iam.Role(scope, construct_id, assumed_by=principal, description=description)
    acknowledge_role_policy(role)
    return role


class EcsService(Construct):
    """Exposes `service`, `task_definition`, `container`, `task_role`, `security_group`, `log_group`, and `scaling`
    (None unless the spec enables autoscaling)."""

    def __init__(self, scope: Construct, construct_id: str, *, spec: ServiceSpec, platform: ServicePlatform,
                 health_check_grace_period: Optional[Duration] = None):
        super().__init__(scope, construct_id)
        self.spec = spec
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/ecs/{platform.project}/{platform.environment}/{spec.name}",
            retention=retention_days(spec.log_retention_days),
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.task_role = ecs_tasks_role(self, "TaskRole", f"{spec.name} task: what the application may call",
                                        source_conditions=True)
        for i, arn in enumerate(spec.task_policy_arns):
            self.task_role.add_managed_policy(iam.ManagedPolicy.from_managed_policy_arn(self, f"TaskPolicy{i}", arn))
            if ":iam::aws:policy/" in arn:
                acknowledge(self.task_role, f"AwsSolutions-IAM4[Policy::{arn}]", "An AWS managed policy the operator "
                            f"attached on purpose ({spec.name.replace('-', '_')}_task_role_policy_arns)")
        if spec.execute_command:
            self._acknowledge_exec(platform)
        execution_role = ecs_tasks_role(self, "ExecutionRole", f"{spec.name} task: image pull, secrets, logs",
                                        source_conditions=False)
        self.task_definition = ecs.TaskDefinition(
            self,
            "TaskDefinition",
            family=f"{platform.project}-{platform.environment}-{spec.name}",
            compatibility=ecs.Compatibility.EC2,
            network_mode=ecs.NetworkMode.AWS_VPC,
            cpu=str(spec.task_cpu),
            memory_mib=str(spec.task_memory),
            task_role=self.task_role,
            execution_role=execution_role,
        )
        if spec.private_image:  # Portkey's applications
            acknowledge(self.task_definition, "AwsSolutions-ECS2",
                        "Plain environment holds non-secret settings only (ports, bucket names, cache URL); every "
                        "credential is injected from Secrets Manager through the container's secrets")
        if platform.arm64_only:
            # ECS accepts a runtime platform on EC2 tasks (it then places them on arm64 instances only), but the CDK L2
            # allows it for Fargate alone. An image without an arm64 build then fails placement, not at start.
            self.task_definition.node.default_child.add_property_override(
                "RuntimePlatform", {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"}
            )
        credentials = (platform.secret(self, "DockerCredentials", platform.images.docker_credentials_arn, execution_role)
                       if platform.images.pulls_with_credentials(spec.image, spec.private_image) else None)
        secrets = {arn: platform.secret(self, f"Secret{i}", arn, execution_role)
                   for i, arn in enumerate(dict.fromkeys(spec.secrets.values()))}
        if platform.encryption_key and (credentials or secrets):
            grant_secret_decrypt(execution_role, platform.encryption_key)
        self.container = self.task_definition.add_container(
            "Container",
            container_name=spec.name,
            image=platform.images.container_image(self, spec.image, execution_role, credentials),
            essential=True,
            environment=spec.environment,
            secrets={name: ecs.Secret.from_secrets_manager(secrets[arn], field=name) for name, arn in spec.secrets.items()},
            port_mappings=[
                ecs.PortMapping(
                    container_port=port.port,
                    name=port.name,
                    app_protocol=ecs.AppProtocol.http if port.app_protocol == "http" else None,
                )
                for port in spec.ports
            ],
            health_check=ecs.HealthCheck(
                command=["CMD-SHELL", spec.health_command],
                interval=Duration.seconds(CONTAINER_HEALTH["interval"]),
                timeout=Duration.seconds(CONTAINER_HEALTH["timeout"]),
                retries=CONTAINER_HEALTH["retries"],
                start_period=Duration.seconds(spec.health_start_period),
            ),
            logging=ecs.LogDrivers.aws_logs(stream_prefix=f"{spec.name}-service", log_group=self.log_group),
            stop_timeout=Duration.seconds(spec.stop_timeout) if spec.stop_timeout else None,
            # ECS Exec: an init process reaps the SSM agent's child processes (AWS's recommendation for exec).
            linux_parameters=ecs.LinuxParameters(self, "LinuxParameters", init_process_enabled=True)
            if spec.execute_command else None,
        )
        self.sidecar = self._sidecar(spec) if spec.sidecar else None
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=platform.vpc,
            description=f"Portkey {spec.name} tasks",
            allow_all_outbound=not spec.egress_https_only,
        )
        if spec.egress_https_only:
            self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to AWS APIs (Service Connect)")
        breaker = spec.circuit_breaker
        autoscaled = spec.autoscaling.enable_autoscaling
        self.service = ecs.Ec2Service(
            self,
            "Service",
            cluster=platform.cluster,
            task_definition=self.task_definition,
            # With autoscaling the count is left out: CloudFormation would otherwise reset it on every service update.
            desired_count=None if autoscaled else spec.desired_count,
            **deployment_strategy(spec.deployment),
            capacity_provider_strategies=[
                ecs.CapacityProviderStrategy(capacity_provider=platform.capacity_provider_name, weight=1)
            ],
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=breaker.rollback) if breaker.enable else None,
            min_healthy_percent=100,
            max_healthy_percent=200,
            vpc_subnets=platform.subnets,
            security_groups=[self.security_group],
            enable_ecs_managed_tags=True,
            enable_execute_command=spec.execute_command,
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
            health_check_grace_period=health_check_grace_period,
            service_connect_configuration=ecs.ServiceConnectProps(
                namespace=platform.namespace.namespace_arn,
                services=[
                    ecs.ServiceConnectService(
                        port_mapping_name=p.name, discovery_name=p.alias, dns_name=p.alias, port=p.port,
                        per_request_timeout=Duration.seconds(p.timeout) if p.timeout else None,
                        idle_timeout=Duration.seconds(p.timeout) if p.timeout else None,
                    )
                    for p in spec.ports
                ],
            ),
        )
        for dependency in platform.depends_on:
            self.service.node.add_dependency(dependency)
        self.scaling = self._autoscaling(spec.autoscaling) if autoscaled else None

    def _sidecar(self, spec: ServiceSpec) -> ecs.ContainerDefinition:
        """The helper container, within its own CPU and memory (added to the task's), logging beside the
        application; not essential, so its failure never stops the application."""
        sidecar = spec.sidecar
        return self.task_definition.add_container(
            "Sidecar", container_name=sidecar.name, image=ecs.ContainerImage.from_registry(sidecar.image),
            essential=False, cpu=sidecar.cpu or None, memory_limit_mib=sidecar.memory,
            memory_reservation_mib=sidecar.memory_reservation, environment=sidecar.environment,
            logging=ecs.LogDrivers.aws_logs(stream_prefix=f"{spec.name}-{sidecar.name}", log_group=self.log_group),
        )

    def _acknowledge_exec(self, platform: ServicePlatform) -> None:
        """ECS Exec's task-role statements, which CDK writes."""
        acknowledge(self.task_role, "AwsSolutions-IAM5[Resource::*]",
                    "ECS Exec (enable_execute_command, opt-in): ssmmessages:Create/Open Control/Data Channel and "
                    "logs:DescribeLogGroups support no resource-level permissions (v3.0.0's scoped exec policy)")
        if platform.exec_log_group is not None:
            # CDK writes this ARN with the stack's partition and account as literals when they are known.
            partition = "aws-cn" if platform.region.startswith("cn-") else (
                "aws-us-gov" if platform.region.startswith("us-gov-") else "aws")
            log_group_id = Stack.of(platform.exec_log_group).get_logical_id(platform.exec_log_group.node.default_child)
            acknowledge(self.task_role, f"AwsSolutions-IAM5[Resource::arn:{partition}:logs:{platform.region}:"
                        f"{platform.account or '<AWS::AccountId>'}:log-group:<{log_group_id}>:*]",
                        "ECS Exec writes session logs as streams of the one exec log group; stream names are per session")

    def _autoscaling(self, config: AutoscalingConfig) -> ecs.ScalableTaskCount:
        """The module's target tracking on average CPU and memory; each policy can scale out, scale-in needs all."""
        scaling = self.service.auto_scale_task_count(
            min_capacity=config.autoscaling_min_capacity, max_capacity=config.autoscaling_max_capacity
        )
        cooldowns = dict(scale_in_cooldown=Duration.seconds(config.scale_in_cooldown),
                         scale_out_cooldown=Duration.seconds(config.scale_out_cooldown))
        scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=config.target_cpu_utilization, **cooldowns)
        scaling.scale_on_memory_utilization("Memory", target_utilization_percent=config.target_memory_utilization, **cooldowns)
        return scaling

    def scale_on_requests(self, target_groups: list[elbv2.ApplicationTargetGroup], config: AutoscalingConfig) -> None:
        """Also scale out on ALB requests per task: one policy per target group, since traffic moves between them
        on each blue/green deploy. They never scale in: an idle group (the other colour, or an unused route)
        reports no requests, and a policy without data would veto every scale-in; CPU and memory decide that."""
        for target_group in target_groups:
            self.scaling.scale_on_request_count(
                f"Requests{target_group.node.id}", requests_per_target=config.target_requests_per_task,
                target_group=target_group, disable_scale_in=True,
                scale_out_cooldown=Duration.seconds(config.scale_out_cooldown),
            )

    def allow_from(self, other: "EcsService", port: int) -> None:
        """Admit `other`'s tasks on `port`, and nothing else."""
        admit(self.security_group, other, port)


def admit(group: ec2.ISecurityGroup, client: EcsService, port: int) -> None:
    """One ingress rule: `client`'s tasks on `port` (for a service, a cache or an endpoint)."""
    group.add_ingress_rule(client.security_group, ec2.Port.tcp(port), f"from {client.spec.name} tasks")



def deployment_strategy(deployment: Optional[DeploymentConfiguration]) -> dict:
    """Ec2Service keyword arguments for the ECS-native strategy (CodeDeploy is never used)."""
    strategy = deployment.strategy if deployment else "ROLLING"
    if strategy == "ROLLING":
        return {"deployment_strategy": ecs.DeploymentStrategy.ROLLING}
    canary, linear = deployment.canary_configuration, deployment.linear_configuration
    return {
        "deployment_strategy": getattr(ecs.DeploymentStrategy, strategy),
        "bake_time": Duration.minutes(deployment.bake_time_in_minutes),
        "canary_configuration": ecs.TrafficShiftConfig(
            step_percent=canary.canary_percent, step_bake_time=Duration.minutes(canary.canary_bake_time_in_minutes)
        ) if canary else None,
        "linear_configuration": ecs.TrafficShiftConfig(
            step_percent=linear.step_percent, step_bake_time=Duration.minutes(linear.step_bake_time_in_minutes)
        ) if linear else None,
    }


_RETENTION_DAYS = dict(zip(
    LOG_RETENTION_DAYS,
    ("ONE_DAY", "THREE_DAYS", "FIVE_DAYS", "ONE_WEEK", "TWO_WEEKS", "ONE_MONTH", "TWO_MONTHS", "THREE_MONTHS",
     "FOUR_MONTHS", "FIVE_MONTHS", "SIX_MONTHS", "ONE_YEAR", "THIRTEEN_MONTHS", "EIGHTEEN_MONTHS", "TWO_YEARS",
     "THREE_YEARS", "FIVE_YEARS", "SIX_YEARS", "SEVEN_YEARS", "EIGHT_YEARS", "NINE_YEARS", "TEN_YEARS"),
))


def retention_days(days: int) -> logs.RetentionDays:
    """The CDK enum member for one of CloudWatch Logs' retention periods."""
    return getattr(logs.RetentionDays, _RETENTION_DAYS[days])
