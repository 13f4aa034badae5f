"""Security checks: cdk-nag's AwsSolutions pack, and every acknowledged finding with the reason it cannot be fixed.

Each acknowledgment is scoped to the one construct it concerns, so a new finding anywhere else still fails synth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, App, Stack, Validations
from aws_cdk import aws_codebuild as codebuild
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

if TYPE_CHECKING:
    from .components.service import EcsService
    from .gateway import PortkeyGateway
    from .settings import Settings


def enable_checks(app: App) -> None:
    """Any unacknowledged finding fails `cdk synth` (and `Template.from_stack` in tests)."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(construct: IConstruct, finding: str, reason: str) -> None:
    Validations.of(construct).acknowledge(Acknowledgment(id=finding, reason=reason))


def acknowledge_issued_secret(secret) -> None:
    acknowledge(secret, "AwsSolutions-SMG4",
                 "Credentials Portkey issues (registry login, client-auth key): rotation happens at Portkey, after which "
                 "the new value is put here; Secrets Manager has no rotation function for them")


def _acknowledge_service(service: "EcsService", settings: "Settings", exec_log_group) -> None:
    """What every Portkey service's task definition and task role need acknowledged."""
    name = service.spec.name
    acknowledge(service.task_definition, "AwsSolutions-ECS2",
                 "Plain environment holds non-secret settings only (ports, bucket names, cache URL); every credential "
                 "is injected from Secrets Manager through the container's secrets")
    for bucket in settings.object_storage.bucket_names:
        acknowledge(service.task_role, f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{bucket}/*]",
                     f"The {name} reads and writes objects under generated keys in {bucket}; access is limited to "
                     "object actions on that one bucket's objects")
    for arn in service.spec.task_policy_arns:
        if ":iam::aws:policy/" in arn:
            acknowledge(service.task_role, f"AwsSolutions-IAM4[Policy::{arn}]",
                         f"An AWS managed policy the operator attached on purpose ({name.replace('-', '_')}_task_role_policy_arns)")
    _acknowledge_exec(service, settings, exec_log_group)


def _acknowledge_exec(service: "EcsService", settings: "Settings", exec_log_group) -> None:
    """ECS Exec's task-role statements, for any service that has it on."""
    if service.spec.execute_command:
        acknowledge(service.task_role, "AwsSolutions-IAM5[Resource::*]",
                     "ECS Exec (enable_execute_command, opt-in): ssmmessages:Create/Open Control/Data Channel and "
                     "logs:DescribeLogGroups support no resource-level permissions (v3.0.0's scoped exec policy)")
        if exec_log_group is not None:
            # CDK writes this ARN with the stack's partition and account as literals when they are known.
            partition = "aws-cn" if settings.aws_region.startswith("cn-") else (
                "aws-us-gov" if settings.aws_region.startswith("us-gov-") else "aws")
            log_group_id = Stack.of(exec_log_group).get_logical_id(exec_log_group.node.default_child)
            account = settings.aws_account or "<AWS::AccountId>"
            acknowledge(service.task_role, f"AwsSolutions-IAM5[Resource::arn:{partition}:logs:{settings.aws_region}:"
                         f"{account}:log-group:<{log_group_id}>:*]",
                         "ECS Exec writes session logs as streams of the one exec log group; stream names are per session")


def acknowledge_findings(gateway: "PortkeyGateway") -> None:
    if gateway.settings.create_new_vpc:
        acknowledge(gateway.network.vpc, "CloudFormation-Validate::W3010",
                     "The AZs are configuration (availability_zones, or derived from the region): synthesis makes no "
                     "lookups, so the same settings give the same template offline")
    compute = gateway.compute
    if compute.instance_role is not None:
        reason = ("CDK's ECS container-instance policy: ecs:Submit* and the Resource '*' actions (ecr:GetAuthorizationToken, "
                  "ecs:DiscoverPollEndpoint, ...) have no resource-level permissions; see 'Amazon ECS container instance "
                  "IAM role' in the ECS developer guide")
        for finding in ("AwsSolutions-IAM5[Action::ecs:Submit*]", "AwsSolutions-IAM5[Resource::*]"):
            acknowledge(compute.instance_role, finding, reason)
        release = compute.instance_release.role
        group_id = Stack.of(compute.auto_scaling_group).get_logical_id(compute.auto_scaling_group.node.default_child)
        acknowledge(release, f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:autoscaling:<AWS::Region>:"
                     f"<AWS::AccountId>:autoScalingGroup:*:autoScalingGroupName/<{group_id}>]",
                     "The teardown function's actions on the cluster's one Auto Scaling group, named exactly; the '*' is "
                     "the group's random id, which CloudFormation does not return")
        acknowledge(release, "AwsSolutions-IAM5[Resource::*]",
                     "autoscaling:DescribeAutoScalingGroups and DescribeLifecycleHooks support no resource-level "
                     "permissions (Service Authorization Reference); ecs:DescribeCapacityProviders is called without "
                     "names, to find whether any capacity provider still manages the group (the provider's name is "
                     "generated). Read-only, and the function acts on its own group only")
        acknowledge(compute.auto_scaling_group, "Annotation::@aws-cdk/aws-autoscaling:desiredCapacitySet",
                     "desired_asg_size is the initial size, as in the module; ECS managed scaling owns it afterwards. "
                     "IgnoreUnmodifiedGroupSizeProperties makes CloudFormation re-apply it only when the configured "
                     "value changes, and managed termination protection keeps instances that run tasks")

    settings = gateway.settings
    for service in (gateway.gateway, gateway.data_service):
        if service is not None:
            _acknowledge_service(service, settings, gateway.compute.exec_log_group)
    if gateway.cache is not None:
        _acknowledge_exec(gateway.cache.redis, settings, gateway.compute.exec_log_group)
    for arn in (a for a in settings.bedrock.model_arns if "*" in a):
        acknowledge(gateway.gateway.task_role, f"AwsSolutions-IAM5[Resource::{arn}]",
                     "A listed foundation model in every region, as cross-region inference profiles route to it "
                     "(bedrock.model_arns); invoke actions only, on that one model")
    if settings.bedrock.enabled and not settings.bedrock.model_arns:
        acknowledge(gateway.gateway.task_role,
                     f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:{settings.aws_region}::foundation-model/*]",
                     "bedrock.model_arns is empty, so the operator chose every foundation model of the region; the grant "
                     "is InvokeModel and InvokeModelWithResponseStream only, in that one region")

    if gateway.elasticache is not None:
        acknowledge(gateway.elasticache.auth_secret, "AwsSolutions-SMG4",
                     "An ElastiCache AUTH token cannot be rotated by a Secrets Manager rotation function alone: the cache "
                     "must first accept both tokens (ModifyReplicationGroup, AuthTokenUpdateStrategy ROTATE), then every "
                     "task must restart. The README describes the procedure")
        if not gateway.elasticache.multi_az:
            acknowledge(gateway.elasticache.replication_group, "AwsSolutions-AEC4",
                         "The operator chose a single-AZ cache (redis_configuration.create.replicas: 0, or one AZ); any "
                         "replica in a second AZ turns on multi-AZ with automatic failover")

    ingress = gateway.load_balancer
    if ingress is not None:
        if ingress.access_logs_bucket is None:
            if ingress.is_application or ingress.certificate_arn:
                reason = ("Access logging is the operator's choice (enable_lb_access_logs, off by default as in the "
                          "Terraform module); turning it on creates an encrypted, TLS-only, retained log bucket")
            else:
                reason = ("NLBs write access logs only for TLS listeners; this one is plain TCP. Connections are visible "
                          "in VPC flow logs (on for a VPC created here)")
            acknowledge(ingress.load_balancer, "AwsSolutions-ELB2", reason)
        elif ingress.created_access_logs_bucket:
            acknowledge(ingress.access_logs_bucket, "AwsSolutions-S1",
                         "This bucket is the sink for the load balancer's access logs; logging access to it into another "
                         "bucket would need a sink of its own. It is private, TLS-only and versioned")
        if ingress.traffic_shift_role is not None:
            acknowledge(ingress.traffic_shift_role, "AwsSolutions-IAM5[Resource::*]",
                         "elasticloadbalancing:Describe{Listeners,Rules,TargetGroups,TargetHealth} support no resource-level "
                         "permissions (Service Authorization Reference); registering targets and modifying listeners and "
                         "rules are limited to this deployment's own target groups, listeners and rules")
        hook = gateway.smoke_test_hook
        if hook is not None:
            acknowledge(hook.role, "AwsSolutions-IAM5[Resource::*]",
                         "Lambda's VPC attachment (the actions of AWSLambdaVPCAccessExecutionRole): the network interfaces "
                         "do not exist before Lambda creates them, and ec2:Describe* support no resource-level permissions")
            if hook.nat_rules:
                acknowledge(ingress.security_group, "AwsSolutions-EC23",
                             "The rule cannot evaluate the smoke-test hook's /32 rules, built from the NAT gateways' Elastic "
                             "IPs (CloudFormation references) on the test port; every other rule is a literal CIDR from "
                             "allowed_lb_cidrs, none of them 0.0.0.0/0")
        service = gateway.endpoint_service
        if service is not None and service.load_balancer is not ingress.load_balancer:
            behind = ("the ALB behind it records every request" if ingress.access_logs_bucket is not None else
                      "request logging belongs on the ALB behind it (enable_lb_access_logs, the operator's choice)")
            acknowledge(service.load_balancer, "AwsSolutions-ELB2",
                         f"This internal NLB only passes PrivateLink TCP through to the gateway's ALB; NLBs log TLS "
                         f"listeners only, and {behind}")
        if "0.0.0.0/0" in gateway.settings.lb_ingress_cidrs:
            acknowledge(ingress.security_group, "AwsSolutions-EC23",
                         "An internet-facing gateway with allowed_lb_cidrs unset is open to the internet on its listener "
                         "ports only, by design (the module's default); list allowed_lb_cidrs to narrow it")


def acknowledge_pipeline(stack) -> None:
    """Findings in the CodePipeline that CDK Pipelines builds (its artifact bucket, roles and CodeBuild projects)."""
    pipeline = stack.pipeline
    reason = ("Roles generated by aws-cdk-lib's CDK Pipelines through its grant methods: object and key action families "
              "(s3:GetObject*, kms:GenerateDataKey*) on the pipeline's own artifact bucket and key, the log and report "
              "groups of its own CodeBuild projects, and assuming the bootstrap cdk-* roles to deploy. They cannot be "
              "narrowed without forking the construct")
    region, account = stack.region, stack.account
    bucket = stack.get_logical_id(pipeline.pipeline.artifact_bucket.node.default_child)
    resources = ["*", f"<{bucket}.Arn>/*", f"arn:*:iam::{account}:role/*",
                 f"arn:aws:codebuild:{region}:{account}:report-group/*", f"arn:aws:logs:{region}:{account}:log-group:/aws/codebuild/*"]
    for project in (c for c in pipeline.node.find_all() if isinstance(c, codebuild.CfnProject)):
        project_id = stack.get_logical_id(project)
        resources += [f"arn:aws:codebuild:{region}:{account}:report-group/<{project_id}>-*",
                      f"arn:aws:logs:{region}:{account}:log-group:/aws/codebuild/<{project_id}>:*"]
    actions = ["s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:DeleteObject*", "s3:Abort*", "kms:ReEncrypt*",
               "kms:GenerateDataKey*"]
    for finding in [f"Action::{a}" for a in actions] + [f"Resource::{r}" for r in resources]:
        acknowledge(pipeline, f"AwsSolutions-IAM5[{finding}]", reason)
    acknowledge(pipeline.pipeline.artifact_bucket, "AwsSolutions-S1",
                 "The pipeline's artifact store holds build outputs for the next stage, encrypted and private; access "
                 "logging it would need a second bucket, and CloudTrail records every pipeline and deployment action")
