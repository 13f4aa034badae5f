"""Template assertions for examples/minimal-dev.yaml (the guide's Minimal Development Deployment) and variants."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from .conftest import (
    container, logical_id, only, only_service, resources_of, security_group, security_group_id, sg_to_sg_ingress,
    synthesize, task_definition, variant, with_data_service,
)

SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:portkey-gateway/dev/clientauth-organizations-GhIjKl"
DOCKER = "arn:aws:secretsmanager:us-east-1:123456789012:secret:portkey-gateway/dev/docker-credentials-AbCdEf"


# --- network -------------------------------------------------------------------------------------------------------

def test_vpc_uses_the_module_subnet_layout(templates):
    t = templates["minimal-dev"]
    assert only(t, "AWS::EC2::VPC")["CidrBlock"] == "10.0.0.0/16"
    subnets = sorted((s["Properties"]["CidrBlock"], s["Properties"]["AvailabilityZone"],
                      s["Properties"]["MapPublicIpOnLaunch"]) for s in resources_of(t, "AWS::EC2::Subnet").values())
    assert subnets == [("10.0.0.0/20", "us-east-1a", False), ("10.0.16.0/20", "us-east-1b", False),
                       ("10.0.32.0/20", "us-east-1a", False), ("10.0.48.0/20", "us-east-1b", False)]
    assert len(resources_of(t, "AWS::EC2::NatGateway")) == 1


def test_nat_per_az_and_three_azs(templates):
    t = templates["three-az-no-lb"]
    assert len(resources_of(t, "AWS::EC2::NatGateway")) == 3
    cidrs = sorted(s["Properties"]["CidrBlock"] for s in resources_of(t, "AWS::EC2::Subnet").values())
    assert cidrs == ["10.0.0.0/20", "10.0.16.0/20", "10.0.32.0/20", "10.0.48.0/20", "10.0.64.0/20", "10.0.80.0/20"]


def test_flow_logs_go_to_a_retained_log_group(minimal: Template):
    minimal.has_resource_properties("AWS::EC2::FlowLog", {"ResourceType": "VPC", "TrafficType": "ALL",
                                                          "LogDestinationType": "cloud-watch-logs"})
    minimal.has_resource("AWS::Logs::LogGroup", {
        "Properties": {"LogGroupName": "/vpc/portkey-gateway/dev/flow-logs", "RetentionInDays": 90},
        "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"})


def test_existing_vpc_is_imported_not_created(templates):
    t = templates["existing-vpc"]
    for resource_type in ("AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::NatGateway", "AWS::EC2::FlowLog"):
        assert not resources_of(t, resource_type)
    service = only_service(t, "gateway")
    assert service["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"] == ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]
    assert only(t, "AWS::ElasticLoadBalancingV2::LoadBalancer")["Subnets"] == ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]
    ingress = [r["Properties"] for r in resources_of(t, "AWS::EC2::SecurityGroup").values()
               if "load balancer" in r["Properties"]["GroupDescription"]][0]["SecurityGroupIngress"]
    assert [(r["CidrIp"], r["FromPort"]) for r in ingress] == [("10.20.0.0/16", 80)]
    assert t["Outputs"]["VpcId"]["Value"] == "vpc-0123456789abcdef0"


# --- cluster and capacity ------------------------------------------------------------------------------------------

def test_cluster_has_container_insights(minimal: Template):
    minimal.has_resource_properties("AWS::ECS::Cluster", {
        "ClusterName": "portkey-gateway-dev-cluster",
        "ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}]})


def test_launch_template_is_graviton_imdsv2_encrypted_gp3(templates):
    t = templates["minimal-dev"]
    assert not resources_of(t, "AWS::AutoScaling::LaunchConfiguration")
    data = only(t, "AWS::EC2::LaunchTemplate")["LaunchTemplateData"]
    assert data["InstanceType"] == "t4g.medium"
    assert data["MetadataOptions"] == {"HttpPutResponseHopLimit": 1, "HttpTokens": "required"}
    assert data["BlockDeviceMappings"] == [{"DeviceName": "/dev/xvda",
                                            "Ebs": {"Encrypted": True, "VolumeSize": 30, "VolumeType": "gp3"}}]
    assert data["Monitoring"] == {"Enabled": True}
    ami_parameter = data["ImageId"]["Ref"]
    assert t["Parameters"][ami_parameter]["Default"] == \
        "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id"
    user_data = json.dumps(data["UserData"])
    assert "ECS_AWSVPC_BLOCK_IMDS=true" in user_data and "ECS_ENABLE_CONTAINER_METADATA=true" in user_data
    assert "ECS_CLUSTER=" in user_data and "put-account-setting" not in user_data


def test_asg_sizes_and_notifications(templates):
    asg = only(templates["minimal-dev"], "AWS::AutoScaling::AutoScalingGroup")
    assert (asg["MinSize"], asg["MaxSize"], asg["DesiredCapacity"]) == ("1", "2", "1")
    assert asg["NewInstancesProtectedFromScaleIn"] is True
    # A deploy re-applies DesiredCapacity only when its template value changes, not on every update.
    asg_resource = next(iter(resources_of(templates["minimal-dev"], "AWS::AutoScaling::AutoScalingGroup").values()))
    assert asg_resource["UpdatePolicy"]["AutoScalingScheduledAction"] == {"IgnoreUnmodifiedGroupSizeProperties": True}
    assert asg["NotificationConfigurations"][0]["NotificationTypes"] == [
        "autoscaling:EC2_INSTANCE_LAUNCH", "autoscaling:EC2_INSTANCE_LAUNCH_ERROR",
        "autoscaling:EC2_INSTANCE_TERMINATE", "autoscaling:EC2_INSTANCE_TERMINATE_ERROR"]


def test_operations_topic_is_encrypted_with_a_rotating_key_autoscaling_can_use(templates):
    t = templates["minimal-dev"]
    key = only(t, "AWS::KMS::Key")
    assert key["EnableKeyRotation"] is True
    grant = next(s for s in key["KeyPolicy"]["Statement"] if s.get("Sid") == "AllowAutoScalingServiceLinkedRoleToPublish")
    assert grant["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert "AWSServiceRoleForAutoScaling" in json.dumps(grant["Condition"]["ArnEquals"]["aws:PrincipalArn"])
    assert "KmsMasterKeyId" in only(t, "AWS::SNS::Topic")


def test_capacity_provider_is_managed(minimal: Template):
    minimal.has_resource_properties("AWS::ECS::CapacityProvider", {"AutoScalingGroupProvider": {
        "ManagedDraining": "ENABLED", "ManagedTerminationProtection": "ENABLED",
        "ManagedScaling": Match.object_like({"Status": "ENABLED", "TargetCapacity": 100})}})
    minimal.has_resource_properties("AWS::ECS::ClusterCapacityProviderAssociations", {
        "DefaultCapacityProviderStrategy": [Match.object_like({"Weight": 100})]})


def test_instance_refresh_becomes_a_rolling_update(templates):
    t = templates["three-az-no-lb"]
    asg = next(iter(resources_of(t, "AWS::AutoScaling::AutoScalingGroup").values()))
    assert asg["UpdatePolicy"]["AutoScalingRollingUpdate"] == {
        "MaxBatchSize": 2, "MinInstancesInService": 1, "PauseTime": "PT4M",
        "SuspendProcesses": ["HealthCheck", "ReplaceUnhealthy", "AZRebalance", "AlarmNotification", "ScheduledActions", "InstanceRefresh"]}
    assert asg["Properties"]["InstanceMaintenancePolicy"] == {"MinHealthyPercentage": 50, "MaxHealthyPercentage": 150}
    assert asg["Properties"]["DefaultInstanceWarmup"] == 240
    plain = next(iter(resources_of(templates["minimal-dev"], "AWS::AutoScaling::AutoScalingGroup").values()))
    assert "AutoScalingRollingUpdate" not in plain["UpdatePolicy"]


def test_existing_cluster_is_used_by_name(templates):
    t = templates["existing-cluster"]
    for resource_type in ("AWS::ECS::Cluster", "AWS::AutoScaling::AutoScalingGroup", "AWS::ECS::CapacityProvider",
                          "AWS::EC2::LaunchTemplate", "Custom::ReleaseInstanceProtection"):
        assert not resources_of(t, resource_type)
    assert "NotificationConfigurations" not in json.dumps(t)  # the operations topic carries only alarms here
    service = only_service(t, "gateway")
    assert service["Cluster"] == "shared-cluster"
    assert service["CapacityProviderStrategy"] == [{"CapacityProvider": "shared-capacity", "Weight": 1}]


# --- services ------------------------------------------------------------------------------------------------------

def test_gateway_task_definition(templates):
    task = task_definition(templates["minimal-dev"], "gateway")
    # 1024 MiB for the gateway and 256 for the LLM-metrics collector beside it (test_llm_traffic.py).
    assert (task["Cpu"], task["Memory"], task["NetworkMode"]) == ("256", "1280", "awsvpc")
    assert task["RequiresCompatibilities"] == ["EC2"]
    assert task["RuntimePlatform"] == {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"}
    assert task["Family"] == "portkey-gateway-dev-gateway"


def test_gateway_container(templates):
    c = container(templates["minimal-dev"], "gateway")
    assert c["Image"] == "docker.io/portkeyai/gateway_enterprise:2.16.0" and c["Essential"] is True
    assert c["RepositoryCredentials"] == {"CredentialsParameter": DOCKER}
    assert c["PortMappings"] == [{"AppProtocol": "http", "ContainerPort": 8787, "Name": "gateway", "Protocol": "tcp"}]
    env = {e["Name"]: e["Value"] for e in c["Environment"]}
    assert env["PORT"] == "8787" and env["SERVER_MODE"] == "" and env["REDIS_URL"] == "redis://redis:6379"
    assert env["LOG_STORE_GENERATIONS_BUCKET"] == "portkey-gateway-dev-logs" and env["SERVICE_NAME"] == "gateway"
    assert all(isinstance(v, str) for v in env.values())
    assert c["Secrets"] == [{"Name": "ORGANISATIONS_TO_SYNC", "ValueFrom": f"{SECRET}:ORGANISATIONS_TO_SYNC::"},
                            {"Name": "PORTKEY_CLIENT_AUTH", "ValueFrom": f"{SECRET}:PORTKEY_CLIENT_AUTH::"}]
    assert c["HealthCheck"] == {"Command": ["CMD-SHELL", "wget -qO- http://localhost:8787/v1/health || exit 1"],
                                "Interval": 30, "Timeout": 5, "Retries": 3, "StartPeriod": 60}
    assert c["StopTimeout"] == 120 and env["REQUEST_TIMEOUT"] == "300000"
    options = c["LogConfiguration"]["Options"]
    assert c["LogConfiguration"]["LogDriver"] == "awslogs" and options["awslogs-stream-prefix"] == "gateway-service"


def test_service_log_groups_have_retention_and_are_retained(minimal: Template):
    """30 days by default (the module hard-coded 14 and 7), one setting for every service."""
    for name in ("/ecs/portkey-gateway/dev/gateway", "/ecs/portkey-gateway/dev/redis"):
        minimal.has_resource("AWS::Logs::LogGroup", {"Properties": {"LogGroupName": name, "RetentionInDays": 30},
                                                     "DeletionPolicy": "Retain"})
    t, _ = synthesize("retention-90", {**variant(log_retention_days=90), **with_data_service()})
    groups = {p["Properties"]["LogGroupName"]: p["Properties"]["RetentionInDays"]
              for p in resources_of(t, "AWS::Logs::LogGroup").values() if "LogGroupName" in p["Properties"]}
    assert {name: days for name, days in groups.items() if name.startswith("/ecs/")} == {
        "/ecs/portkey-gateway/dev/gateway": 90, "/ecs/portkey-gateway/dev/redis": 90,
        "/ecs/portkey-gateway/dev/data-service": 90, "/ecs/portkey-gateway/dev/llm-metrics": 90}


def test_execution_role_reads_exactly_the_referenced_secrets(templates):
    t = templates["minimal-dev"]
    policies = [p["Properties"] for k, p in resources_of(t, "AWS::IAM::Policy").items() if "GatewayExecutionRole" in k]
    assert len(policies) == 1
    statements = policies[0]["PolicyDocument"]["Statement"]
    secret_statements = [s for s in statements if "secretsmanager:GetSecretValue" in s["Action"]]
    resources = sorted(r for s in secret_statements for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"]))
    assert resources == sorted([DOCKER, SECRET])
    assert all(sorted(s["Action"]) == ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
               for s in secret_statements)
    assert not any(s["Resource"] == "*" for s in statements)


def test_partial_secret_arn_is_granted_with_the_six_character_suffix_only():
    from .conftest import synthesize, variant
    partial = "arn:aws:secretsmanager:us-east-1:123456789012:secret:portkey-gateway/dev/client-org"
    t, _ = synthesize("partial", variant(secrets={"gateway": {"PORTKEY_CLIENT_AUTH": partial}}))
    text = json.dumps([p for k, p in resources_of(t, "AWS::IAM::Policy").items() if "GatewayExecutionRole" in k])
    assert "portkey-gateway/dev/client-org-??????" in text and "client-org*" not in text


def test_task_role_may_only_get_and_put_log_objects(templates):
    """And write the LLM-metrics log group (its collector runs in the gateway's task)."""
    t = templates["minimal-dev"]
    policy = next(p["Properties"] for k, p in resources_of(t, "AWS::IAM::Policy").items() if "GatewayTaskRole" in k)
    assert policy["PolicyDocument"]["Statement"] == [{
        "Action": ["s3:GetObject", "s3:PutObject"], "Effect": "Allow",
        "Resource": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::portkey-gateway-dev-logs/*"]]}}, {
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Effect": "Allow",
        "Resource": {"Fn::GetAtt": [logical_id(t, "AWS::Logs::LogGroup", "LlmMetrics"), "Arn"]}}]


def test_task_roles_carry_no_managed_policies(templates):
    roles = [r["Properties"] for k, r in resources_of(templates["minimal-dev"], "AWS::IAM::Role").items()
             if "TaskRole" in k or "ExecutionRole" in k]
    assert len(roles) == 4
    for role in roles:
        assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert not any(r.get("ManagedPolicyArns") for r in roles)


def test_gateway_service(templates):
    s = only_service(templates["minimal-dev"], "gateway")
    assert s["DesiredCount"] == 1 and s["HealthCheckGracePeriodSeconds"] == 150
    assert s["DeploymentConfiguration"] == {"DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
                                            "MaximumPercent": 200, "MinimumHealthyPercent": 100, "Strategy": "ROLLING"}
    assert s["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"
    # Envoy's HTTP default (15 s per request) would cut long calls from other services: the timeout chain applies.
    assert s["ServiceConnectConfiguration"]["Services"] == [
        {"ClientAliases": [{"DnsName": "gateway", "Port": 8787}], "DiscoveryName": "gateway", "PortName": "gateway",
         "Timeout": {"IdleTimeoutSeconds": 315, "PerRequestTimeoutSeconds": 315}}]
    assert s["LoadBalancers"][0]["ContainerPort"] == 8787 and s["PropagateTags"] == "SERVICE"
    assert "LaunchType" not in s


def test_builtin_redis_service(templates):
    t = templates["minimal-dev"]
    c = container(t, "redis")
    assert c["Image"] == "docker.io/redis:7.2-alpine" and "RepositoryCredentials" not in c
    assert c["HealthCheck"]["StartPeriod"] == 10 and "Environment" not in c and "Secrets" not in c
    s = only_service(t, "redis")
    assert s["DesiredCount"] == 1 and s["ServiceConnectConfiguration"]["Services"] == [
        {"ClientAliases": [{"DnsName": "redis", "Port": 6379}], "DiscoveryName": "redis", "PortName": "redis"}]
    assert task_definition(t, "redis")["Cpu"] == "256" and task_definition(t, "redis")["Memory"] == "512"


def test_namespace_is_named_per_stack(minimal: Template):
    minimal.has_resource_properties("AWS::ServiceDiscovery::HttpNamespace", {"Name": "portkey-gateway-dev"})


def test_redis_admits_only_the_gateway(templates):
    t = templates["minimal-dev"]
    assert sg_to_sg_ingress(t, "RedisSecurityGroup") == [
        ("from gateway tasks", 6379, security_group_id(t, "PortkeyGatewaySecurityGroup"))]
    redis = security_group(t, "RedisSecurityGroup")
    assert "SecurityGroupIngress" not in redis
    assert redis["SecurityGroupEgress"] == [{"CidrIp": "0.0.0.0/0", "Description": "HTTPS to AWS APIs (Service Connect)",
                                                           "FromPort": 443, "IpProtocol": "tcp", "ToPort": 443}]


# --- stack-level ---------------------------------------------------------------------------------------------------

def test_outputs_match_the_module(templates):
    outputs = templates["minimal-dev"]["Outputs"]
    assert {"VpcId", "PublicSubnetIds", "PrivateSubnetIds", "LoadBalancerDnsName", "GatewayTaskRoleArn",
            "RedisTaskRoleArn", "ClusterName", "GatewayServiceName", "GatewaySecurityGroupId"} <= set(outputs)
    assert outputs["LoadBalancerDnsName"]["Value"] == {"Fn::GetAtt": [
        logical_id(templates["minimal-dev"], "AWS::ElasticLoadBalancingV2::LoadBalancer", "Ingress"), "DNSName"]}


@pytest.mark.parametrize("resource_type", ["AWS::EC2::VPC", "AWS::ECS::Service", "AWS::ECS::Cluster", "AWS::Logs::LogGroup"])
def test_every_resource_is_tagged(templates, resource_type):
    for resource in resources_of(templates["minimal-dev"], resource_type).values():
        tags = {t["Key"]: t["Value"] for t in resource["Properties"].get("Tags", [])}
        assert tags.get("Project") == "portkey-gateway" and tags.get("Environment") == "dev" and tags.get("ManagedBy") == "CDK"


def test_services_wait_for_the_capacity_provider_association(templates):
    t = templates["minimal-dev"]
    association = next(iter(resources_of(t, "AWS::ECS::ClusterCapacityProviderAssociations")))
    for service in resources_of(t, "AWS::ECS::Service").values():
        assert association in service.get("DependsOn", [])


def test_existing_cluster_gets_no_architecture_pin(templates):
    assert "RuntimePlatform" not in task_definition(templates["existing-cluster"], "gateway")


def test_secret_name_ending_like_a_suffix_is_granted_both_ways():
    """`.../docker-secret` may be a partial ARN or a complete one whose suffix is 'secret': grant both."""
    from .conftest import synthesize, variant
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:portkey/docker-secret"
    t, _ = synthesize("ambiguous-suffix", variant(docker_cred_secret_arn=arn))
    text = json.dumps([p for k, p in resources_of(t, "AWS::IAM::Policy").items() if "GatewayExecutionRole" in k])
    assert f'"{arn}"' in text and f'"{arn}-??????"' in text


def test_execution_role_trust_has_no_source_conditions_task_role_has(templates):
    roles = resources_of(templates["minimal-dev"], "AWS::IAM::Role")
    execution = next(r for k, r in roles.items() if "GatewayExecutionRole" in k)["Properties"]
    task = next(r for k, r in roles.items() if "GatewayTaskRole" in k)["Properties"]
    assert "Condition" not in execution["AssumeRolePolicyDocument"]["Statement"][0]
    assert set(task["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]) == {"ArnLike", "StringEquals"}


def test_no_security_group_keeps_the_ec2_default_allow_all_egress_by_accident(templates):
    """A group created without inline egress rules gets EC2's allow-all rule, even when separate egress resources
    (to other groups) exist; a group meant to be closed must therefore carry an inline rule."""
    for name, template in templates.items():
        separate = {r["Properties"]["GroupId"]["Fn::GetAtt"][0]
                    for r in resources_of(template, "AWS::EC2::SecurityGroupEgress").values()}
        for group_id in separate:
            egress = template["Resources"][group_id]["Properties"].get("SecurityGroupEgress")
            assert egress, f"{name}: {group_id} has egress rules to other groups but EC2's allow-all default too"
