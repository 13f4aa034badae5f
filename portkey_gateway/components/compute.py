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
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from ..settings import ClusterSettings, InstanceRefresh
from ..compliance import acknowledge, acknowledge_role_policy
from .network import Network
from .teardown import InstanceRelease

ROOT_VOLUME_GIB = 30
# The Terraform module v3.0.0's inline ecsInstanceSsmSessionManager policy (instead of AmazonSSMManagedInstanceCore).
SESSION_MANAGER_ACTIONS = ("ssm:UpdateInstanceInformation", "ssmmessages:CreateControlChannel",
                           "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel",
                           "ssmmessages:OpenDataChannel")
# Appended to /etc/ecs/ecs.config; CDK adds ECS_CLUSTER. Tasks are awsvpc, so they never need the instance's IMDS.
# The awslogs driver writes with each task's execution role (granted its own log group), not the instance's: the
# instance role then needs no CloudWatch Logs permission (ECS container agent configuration, ecs-agent README).
ECS_AGENT_SETTINGS = ("ECS_ENABLE_CONTAINER_METADATA=true", "ECS_AWSVPC_BLOCK_IMDS=true",
                      "ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE=true")


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

        self.exec_log_group = self.session_document = None
        if execute_command or config.instance_session_manager:
            # ECS Exec sessions and instance shells (commands and output) are recorded here (the module's exec log group
            # was ignored, defect 11). A generated name: the group is retained, so a fixed name would block turning
            # them off and on again.
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
            ) if execute_command else None,
        )
        self.instance_role = iam.Role(
            self, "InstanceRole", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="ECS container instances: register with the cluster and run tasks",
        )
        self._container_instance_policy(session_manager=config.instance_session_manager)
        acknowledge_role_policy(self.instance_role)
        if config.instance_session_manager:
            self.session_document = self._session_manager(name_prefix)
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
            # CDK's capacity wiring adds its container-instance statements, with logs:PutLogEvents on every log
            # group, to the role it is given: it gets a view that ignores them (`_container_instance_policy`).
            role=self.instance_role.without_policy_updates(),
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


    def _container_instance_policy(self, session_manager: bool) -> None:
        """What the ECS agent calls with the instance's credentials (CDK's container-instance statements, which it
        scopes to the cluster where ECS allows), without CloudWatch Logs: the tasks' execution roles write logs. With
        `session_manager`, the Terraform module v3.0.0's scoped Session Manager statement instead of the broad
        AmazonSSMManagedInstanceCore."""
        cluster_arn = self.cluster.cluster_arn
        statements = [
            (("ecs:DeregisterContainerInstance", "ecs:RegisterContainerInstance", "ecs:Submit*"), [cluster_arn], None),
            (("ecs:Poll", "ecs:StartTelemetrySession"), ["*"], {"ArnEquals": {"ecs:cluster": cluster_arn}}),
            (("ecr:GetAuthorizationToken", "ecs:DiscoverPollEndpoint"), ["*"], None),
        ]
        reason = ("The ECS container-instance policy: ecs:Submit* (limited to this cluster) and ecs:Poll, "
                  "ecs:StartTelemetrySession (conditioned on this cluster), ecr:GetAuthorizationToken and "
                  "ecs:DiscoverPollEndpoint have no resource-level permissions; see 'Amazon ECS container instance "
                  "IAM role' in the ECS developer guide. No CloudWatch Logs permission: tasks log with their execution roles")
        if session_manager:
            statements += [(SESSION_MANAGER_ACTIONS, ["*"], None),
                           (("logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"),
                            [self.exec_log_group.log_group_arn], None),
                           (("logs:DescribeLogGroups",), ["*"], None)]
            reason += (". Session Manager (instance_session_manager): ssm:UpdateInstanceInformation, the ssmmessages "
                       "channel actions and logs:DescribeLogGroups have no resource-level permissions; session logs "
                       "go to the one exec log group")
        for actions, resources, conditions in statements:
            self.instance_role.add_to_policy(iam.PolicyStatement(actions=list(actions), resources=resources,
                                                                 conditions=conditions))
        for finding in ("AwsSolutions-IAM5[Action::ecs:Submit*]", "AwsSolutions-IAM5[Resource::*]"):
            acknowledge(self.instance_role, finding, reason)

    def _session_manager(self, name_prefix: str) -> ssm.CfnDocument:
        """The session document that records shells on the instances in the exec log group. Session Manager's
        account-wide default document (SSM-SessionManagerRunShell) is left alone; operators start sessions with
        this one (`aws ssm start-session --document-name <prefix>-instance-session`), and an IAM policy can allow
        only it (docs/services.md, "Shells on the instances")."""
        return ssm.CfnDocument(
            self, "InstanceSessionDocument", name=f"{name_prefix}-instance-session", document_type="Session",
            update_method="NewVersion",
            content={"schemaVersion": "1.0", "description": f"Shell on a {name_prefix} container instance, recorded",
                     "sessionType": "Standard_Stream",
                     "inputs": {"cloudWatchLogGroupName": self.exec_log_group.log_group_name,
                                "cloudWatchEncryptionEnabled": False, "cloudWatchStreamingEnabled": True,
                                "idleSessionTimeout": "20", "runAsEnabled": False, "s3BucketName": "", "kmsKeyId": ""}},
        )


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
