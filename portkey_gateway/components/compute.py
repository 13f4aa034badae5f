"""The ECS cluster and its EC2 capacity: Graviton instances from a launch template, an ASG, a capacity provider.

With `create_cluster: false` the cluster and capacity provider are taken by name, and nothing here is created.
"""

from __future__ import annotations

import math

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from ..settings import ClusterSettings, InstanceRefresh
from ..compliance import acknowledge
from .network import Network
from .teardown import InstanceRelease

ROOT_VOLUME_GIB = 30
# Appended to /etc/ecs/ecs.config; CDK adds ECS_CLUSTER. Tasks are awsvpc, so they never need the instance's IMDS.
ECS_AGENT_SETTINGS = ("ECS_ENABLE_CONTAINER_METADATA=true", "ECS_AWSVPC_BLOCK_IMDS=true")


class ComputeCluster(Construct):
    """Exposes `cluster` and `capacity_provider_name`; when created here also `auto_scaling_group`, `instance_role`,
    `instance_release` (what lets the stack delete its instances) and `exec_log_group` (with ECS Exec on).
    `cluster` passes an ECS cluster the caller owns (with `create_cluster: false`, instead of `cluster_name`)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: ClusterSettings, name_prefix: str,
                 execute_command: bool, network: Network, notifications: sns.ITopic | None,
                 cluster: ecs.ICluster | None = None):
        super().__init__(scope, construct_id)
        if not config.create_cluster:
            self.cluster = cluster or ecs.Cluster.from_cluster_attributes(
                self, "Cluster", cluster_name=config.cluster_name, vpc=network.vpc, has_ec2_capacity=True
            )
            self.capacity_provider_name = config.capacity_provider_name
            self.auto_scaling_group = None
            self.instance_role = None
            self.exec_log_group = None
            self.instance_release = None
            return

        self.exec_log_group = None
        if execute_command:
            # ECS Exec sessions (commands and output) are recorded here (the module's exec log group was ignored, defect 11).
            # A generated name: the group is retained, so a fixed name would block turning ECS Exec off and on again.
            self.exec_log_group = logs.LogGroup(
                self, "ExecLogs", retention=logs.RetentionDays.ONE_YEAR, removal_policy=RemovalPolicy.RETAIN,
            )
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=network.vpc,
            cluster_name=f"{name_prefix}-cluster",
            container_insights_v2=ecs.ContainerInsights.ENABLED,
            execute_command_configuration=ecs.ExecuteCommandConfiguration(
                logging=ecs.ExecuteCommandLogging.OVERRIDE,
                log_configuration=ecs.ExecuteCommandLogConfiguration(cloud_watch_log_group=self.exec_log_group),
            ) if self.exec_log_group else None,
        )
        self.instance_role = iam.Role(
            self, "InstanceRole", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="ECS container instances: register with the cluster and run tasks",
        )
        for finding in ("AwsSolutions-IAM5[Action::ecs:Submit*]", "AwsSolutions-IAM5[Resource::*]"):
            acknowledge(self.instance_role, finding, (
                "CDK's ECS container-instance policy: ecs:Submit* and the Resource '*' actions (ecr:GetAuthorizationToken, "
                "ecs:DiscoverPollEndpoint, ...) have no resource-level permissions; see 'Amazon ECS container instance "
                "IAM role' in the ECS developer guide"))
        security_group = ec2.SecurityGroup(
            self, "InstanceSecurityGroup", vpc=network.vpc, allow_all_outbound=True,
            description="ECS container instances: no inbound; outbound for the ECS agent and image pulls",
        )
        user_data = ec2.UserData.for_linux()
        user_data.add_commands(*(f"echo {line} >> /etc/ecs/ecs.config" for line in ECS_AGENT_SETTINGS))
        launch_template = ec2.LaunchTemplate(
            self,
            "LaunchTemplate",
            machine_image=ecs.EcsOptimizedImage.amazon_linux2023(hardware_type=ecs.AmiHardwareType.ARM),
            instance_type=ec2.InstanceType(config.instance_type),
            role=self.instance_role,
            security_group=security_group,
            user_data=user_data,
            require_imdsv2=True,
            http_put_response_hop_limit=1,
            detailed_monitoring=True,
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(ROOT_VOLUME_GIB, encrypted=True, volume_type=ec2.EbsDeviceVolumeType.GP3),
                )
            ],
        )
        refresh = config.instance_refresh
        self.auto_scaling_group = autoscaling.AutoScalingGroup(
            self,
            "AutoScalingGroup",
            vpc=network.vpc,
            vpc_subnets=network.private_subnets,
            launch_template=launch_template,
            min_capacity=config.min_asg_size,
            max_capacity=config.max_asg_size,
            desired_capacity=config.desired_asg_size,
            notifications=[autoscaling.NotificationConfiguration(topic=notifications)] if notifications else None,
            update_policy=rolling_update(refresh, config.desired_asg_size, config.max_asg_size),
            default_instance_warmup=Duration.seconds(refresh.instance_warmup) if refresh.enabled else None,
            group_metrics=[autoscaling.GroupMetrics.all()],  # free, 1-minute: the dashboard's instance counts
        )
        acknowledge(self.auto_scaling_group, "Annotation::@aws-cdk/aws-autoscaling:desiredCapacitySet",
                    "desired_asg_size is the initial size, as in the module; ECS managed scaling owns it afterwards. "
                    "IgnoreUnmodifiedGroupSizeProperties makes CloudFormation re-apply it only when the configured "
                    "value changes, and managed termination protection keeps instances that run tasks")
        if refresh.enabled:
            self.auto_scaling_group.node.default_child.add_property_override(
                "InstanceMaintenancePolicy",
                {"MinHealthyPercentage": refresh.min_healthy_percentage, "MaxHealthyPercentage": refresh.max_healthy_percentage},
            )
        capacity_provider = ecs.AsgCapacityProvider(
            self,
            "CapacityProvider",
            auto_scaling_group=self.auto_scaling_group,
            enable_managed_scaling=True,
            enable_managed_termination_protection=True,
            enable_managed_draining=True,
            target_capacity_percent=config.target_capacity,
        )
        self.cluster.add_asg_capacity_provider(capacity_provider)
        self.cluster.add_default_capacity_provider_strategy(
            [ecs.CapacityProviderStrategy(capacity_provider=capacity_provider.capacity_provider_name, weight=100)]
        )
        self.capacity_provider_name = capacity_provider.capacity_provider_name
        self.instance_release = InstanceRelease(self, "InstanceRelease", group=self.auto_scaling_group,
                                                capacity_provider=capacity_provider)


def rolling_update(refresh: InstanceRefresh, desired: int, maximum: int) -> autoscaling.UpdatePolicy | None:
    """The module's `instance_refresh` (replace on launch-template change) as a CloudFormation rolling update.

    Keeps `min_healthy_percentage` of the desired instances in service, rounded up and at least one (so a single
    instance is replaced launch-first), but fewer than the maximum, as CloudFormation requires; replaces the share
    between the two percentages per batch, at least one.
    """
    if not refresh.enabled:
        return None
    in_service = min(max(1, math.ceil(desired * refresh.min_healthy_percentage / 100)), maximum - 1)
    batch = max(1, math.ceil(desired * (refresh.max_healthy_percentage - refresh.min_healthy_percentage) / 100))
    return autoscaling.UpdatePolicy.rolling_update(
        min_instances_in_service=in_service,
        max_batch_size=batch,
        pause_time=Duration.seconds(refresh.instance_warmup),
    )
