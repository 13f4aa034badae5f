"""Production services: the guide's production example, the data service, ElastiCache (existing or created), Bedrock
and task-role policies, ECS Exec."""

from __future__ import annotations

import json

from .conftest import (
    BEDROCK_ANY_REGION,
    BEDROCK_MODEL,
    BEDROCK_PROFILE,
    BEDROCK_ROLE,
    REDIS_AUTH,
    container,
    logical_id,
    only,
    only_service,
    resources_of,
    security_group_id,
    sg_to_sg_ingress,
)

CLIENT_ORG = "arn:aws:secretsmanager:us-east-1:123456789012:secret:portkey-gateway/prod/client-org"
REDIS_AUTH_GUIDE = "arn:aws:secretsmanager:us-east-1:123456789012:secret:portkey-gateway/prod/redis-auth"


def env(definition: dict) -> dict:
    return {e["Name"]: e["Value"] for e in definition["Environment"]}


def secrets(definition: dict) -> dict:
    return {s["Name"]: s["ValueFrom"] for s in definition.get("Secrets", [])}


def role_statements(template: dict, role_fragment: str) -> list[dict]:
    role = logical_id(template, "AWS::IAM::Role", role_fragment)
    return [s for p in resources_of(template, "AWS::IAM::Policy").values() if {"Ref": role} in p["Properties"]["Roles"]
            for s in p["Properties"]["PolicyDocument"]["Statement"]]


def actions(statement: dict) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def test_production_example_is_the_guides_production_deployment(templates):
    t = templates["production"]
    # three AZs, a NAT gateway per AZ
    assert len(resources_of(t, "AWS::EC2::NatGateway")) == 3
    assert len(resources_of(t, "AWS::EC2::Subnet")) == 6
    # t4g.large, 2 / 10 / 3
    assert only(t, "AWS::EC2::LaunchTemplate")["LaunchTemplateData"]["InstanceType"] == "t4g.large"
    asg = only(t, "AWS::AutoScaling::AutoScalingGroup")
    assert (asg["MinSize"], asg["MaxSize"], asg["DesiredCapacity"]) == ("2", "10", "3")
    # a public ALB with TLS, and access logs to the named bucket
    lb = only(t, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert (lb["Type"], lb["Scheme"]) == ("application", "internet-facing")
    attributes = {a["Key"]: a["Value"] for a in lb["LoadBalancerAttributes"]}
    assert attributes["access_logs.s3.enabled"] == "true" and attributes["access_logs.s3.bucket"] == "portkey-alb-access-logs"
    ports = {v["Properties"]["Port"]: v["Properties"]["Protocol"]
             for v in resources_of(t, "AWS::ElasticLoadBalancingV2::Listener").values()}
    assert ports == {443: "HTTPS", 80: "HTTP", 8443: "HTTPS"}  # 8443: the blue/green test listener
    rules = [v["Properties"]["Conditions"] for v in resources_of(t, "AWS::ElasticLoadBalancingV2::ListenerRule").values()
             if v["Properties"]["Priority"] >= 100]  # below 100: the metrics paths (test_first_deploy.py)
    assert len(rules) == 2 and all({"Field": "host-header", "HostHeaderConfig": {"Values": ["gateway.example.com"]}} in c
                                   for c in rules)
    # gateway: 1 vCPU / 2 GiB, autoscaling 3-20 at CPU 70 / memory 80, cooldowns 120/60, blue/green
    gateway = only_service(t, "gateway")
    assert gateway["DeploymentConfiguration"]["Strategy"] == "BLUE_GREEN" and "DesiredCount" not in gateway
    (target,) = [v["Properties"] for v in resources_of(t, "AWS::ApplicationAutoScaling::ScalableTarget").values()]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (3, 20)
    policies = {p["Properties"]["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]["PredefinedMetricType"]:
                p["Properties"]["TargetTrackingScalingPolicyConfiguration"]
                for p in resources_of(t, "AWS::ApplicationAutoScaling::ScalingPolicy").values()}
    assert {k: (v["TargetValue"], v["ScaleInCooldown"], v["ScaleOutCooldown"]) for k, v in policies.items()} == {
        "ECSServiceAverageCPUUtilization": (70, 120, 60), "ECSServiceAverageMemoryUtilization": (80, 120, 60)}
    # the data service, 2 x 512 / 1024
    data_service = only_service(t, "data-service")
    assert data_service["DesiredCount"] == 2 and data_service["DeploymentConfiguration"]["Strategy"] == "ROLLING"
    task = next(v["Properties"] for v in resources_of(t, "AWS::ECS::TaskDefinition").values()
                if v["Properties"]["ContainerDefinitions"][0]["Name"] == "data-service")
    assert (task["Cpu"], task["Memory"]) == ("512", "1024")
    # the existing ElastiCache in cluster mode with TLS, and REDIS_PASSWORD from the secret, on both services
    for name in ("gateway", "data-service"):
        definition = container(t, name)
        assert {k: env(definition)[k] for k in ("CACHE_STORE", "REDIS_URL", "REDIS_TLS_ENABLED", "REDIS_MODE")} == {
            "CACHE_STORE": "aws-elastic-cache", "REDIS_URL": "prod-redis.xxxxx.cache.amazonaws.com:6379",
            "REDIS_TLS_ENABLED": "true", "REDIS_MODE": "cluster"}
        assert secrets(definition) == {"ORGANISATIONS_TO_SYNC": f"{CLIENT_ORG}:ORGANISATIONS_TO_SYNC::",
                                       "PORTKEY_CLIENT_AUTH": f"{CLIENT_ORG}:PORTKEY_CLIENT_AUTH::",
                                       "REDIS_PASSWORD": f"{REDIS_AUTH_GUIDE}:REDIS_PASSWORD::"}
    assert not [d for d in resources_of(t, "AWS::ECS::TaskDefinition").values()
                if d["Properties"]["ContainerDefinitions"][0]["Name"] == "redis"]  # no built-in Redis
    assert env(container(t, "gateway"))["DATASERVICE_BASEPATH"] == "http://data-service:8081"


def test_data_service_is_reached_by_the_gateway_and_reaches_it(templates):
    t = templates["production"]
    assert ("from gateway tasks", 8081, security_group_id(t, "GatewaySecurityGroup")) in sg_to_sg_ingress(t, "DataServiceSecurityGroup")
    assert ("from data-service tasks", 8787, security_group_id(t, "DataServiceSecurityGroup")) in sg_to_sg_ingress(t, "PortkeyGatewaySecurityGroup")
    data_service = only_service(t, "data-service")
    assert [(s["DiscoveryName"], s["ClientAliases"][0]["DnsName"], s["ClientAliases"][0]["Port"])
            for s in data_service["ServiceConnectConfiguration"]["Services"]] == [("data-service", "data-service", 8081)]
    definition = container(t, "data-service")
    assert definition["HealthCheck"]["Command"] == ["CMD-SHELL", "wget -qO- http://localhost:8081/health || exit 1"]
    assert definition["Image"] == "docker.io/portkeyai/data-service:1.9.0"
    assert definition["RepositoryCredentials"]["CredentialsParameter"].endswith("docker-credentials")
    assert env(definition)["GATEWAY_BASE_URL"] == "http://gateway:8787"
    assert env(definition)["HYBRID_DEPLOYMENT"] == "ON" and env(definition)["ALBUS_ENDPOINT"] == "https://albus.portkey.ai"
    # the data-service role: Get/Put/Delete/AbortMultipartUpload on the log, exports and finetune buckets' objects
    (s3,) = [s for s in role_statements(t, "DataServiceTaskRole") if actions(s)[0].startswith("s3:")]
    assert sorted(actions(s3)) == ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    assert sorted(r["Fn::Join"][1][2] for r in s3["Resource"]) == [":s3:::portkey-prod-exports/*", ":s3:::portkey-prod-logs/*"]


def test_creation_order_lets_service_connect_resolve_both_ways(templates):
    """The gateway is created after the data service, which is then redeployed once so that it can reach `gateway`."""
    t = templates["production"]
    gateway_id = logical_id(t, "AWS::ECS::Service", "PortkeyGatewayService")
    data_service_id = logical_id(t, "AWS::ECS::Service", "DataService")
    assert data_service_id in t["Resources"][gateway_id]["DependsOn"]
    (refresh_id, refresh), = [(k, v) for k, v in t["Resources"].items() if v["Type"] == "Custom::AWS"]
    assert gateway_id in refresh["DependsOn"]
    call = refresh["Properties"]["Create"]["Fn::Join"][1]
    assert '"action":"updateService"' in call[0] and {"Fn::GetAtt": [data_service_id, "Name"]} in call
    assert '"forceNewDeployment":true' in "".join(p for p in call if isinstance(p, str))
    assert "Update" not in refresh["Properties"] and "Delete" not in refresh["Properties"]  # once, on creation
    (policy,) = [p["Properties"]["PolicyDocument"]["Statement"] for k, p in resources_of(t, "AWS::IAM::Policy").items()
                 if "DiscoveryRefreshRedeploy" in k]
    assert policy == [{"Action": "ecs:UpdateService", "Effect": "Allow", "Resource": {"Ref": data_service_id}}]


def test_created_valkey_cache(templates):
    t = templates["valkey-created"]
    group_id = logical_id(t, "AWS::ElastiCache::ReplicationGroup", "ElastiCache")
    group = t["Resources"][group_id]
    p = group["Properties"]
    assert (p["Engine"], p["EngineVersion"], p["CacheNodeType"], p["Port"]) == ("valkey", "8.0", "cache.r7g.large", 6380)
    assert (p["NumNodeGroups"], p["ReplicasPerNodeGroup"]) == (2, 1) and "NumCacheClusters" not in p
    assert p["AutomaticFailoverEnabled"] and p["MultiAZEnabled"]
    assert p["AtRestEncryptionEnabled"] and p["TransitEncryptionEnabled"] and p["SnapshotRetentionLimit"] == 15
    secret_id = logical_id(t, "AWS::SecretsManager::Secret", "ElastiCacheAuthToken")
    assert p["AuthToken"] == {"Fn::Join": ["", ["{{resolve:secretsmanager:", {"Ref": secret_id}, ":SecretString:REDIS_PASSWORD::}}"]]}
    assert group["DeletionPolicy"] == group["UpdateReplacePolicy"] == "Snapshot"
    parameters = only(t, "AWS::ElastiCache::ParameterGroup")
    assert parameters["CacheParameterGroupFamily"] == "valkey8"
    assert parameters["Properties"] == {"maxmemory-policy": "volatile-lru", "cluster-enabled": "yes"}
    subnets = only(t, "AWS::ElastiCache::SubnetGroup")["SubnetIds"]
    assert len(subnets) == 2 and all("private" in s["Ref"] for s in subnets)
    # only the two services may connect, on the cache port
    rules = sg_to_sg_ingress(t, "ElastiCacheSecurityGroup")
    assert sorted((d, port) for d, port, _ in rules) == [("from data-service tasks", 6380), ("from gateway tasks", 6380)]
    # the endpoint and token reach both containers without the user copying anything
    for name in ("gateway", "data-service"):
        definition = container(t, name)
        assert env(definition)["REDIS_URL"] == {"Fn::Join": ["", [
            {"Fn::GetAtt": [group_id, "ConfigurationEndPoint.Address"]}, ":",
            {"Fn::GetAtt": [group_id, "ConfigurationEndPoint.Port"]}]]}
        assert (env(definition)["CACHE_STORE"], env(definition)["REDIS_TLS_ENABLED"], env(definition)["REDIS_MODE"]) == (
            "aws-elastic-cache", "true", "cluster")
        assert secrets(definition)["REDIS_PASSWORD"] == {"Fn::Join": ["", [{"Ref": secret_id}, ":REDIS_PASSWORD::"]]}
    outputs = t["Outputs"]
    assert outputs["CacheAuthSecretArn"]["Value"] == {"Ref": secret_id} and "CacheEndpoint" in outputs


def test_existing_elasticache_security_group_admits_both_services(templates):
    t = templates["elasticache-existing"]
    rules = [r["Properties"] for r in resources_of(t, "AWS::EC2::SecurityGroupIngress").values()
             if r["Properties"]["GroupId"] == "sg-0123456789abcdef0"]
    assert sorted((r["FromPort"], r["SourceSecurityGroupId"]["Fn::GetAtt"][0]) for r in rules) == sorted(
        (6380, logical_id(t, "AWS::EC2::SecurityGroup", fragment)) for fragment in ("DataServiceSecurityGroup", "PortkeyGatewaySecurityGroup"))
    for name in ("gateway", "data-service"):
        assert secrets(container(t, name))["REDIS_PASSWORD"] == f"{REDIS_AUTH}:REDIS_PASSWORD::"


def test_bedrock_is_limited_to_the_listed_models_and_roles(templates):
    statements = role_statements(templates["valkey-created"], "PortkeyGatewayTaskRole")
    (invoke,) = [s for s in statements if actions(s)[0].startswith("bedrock:")]
    assert actions(invoke) == ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
    assert sorted(invoke["Resource"]) == sorted([BEDROCK_MODEL, BEDROCK_PROFILE, BEDROCK_ANY_REGION])
    (assume,) = [s for s in statements if actions(s) == ["sts:AssumeRole"]]
    assert assume["Resource"] == BEDROCK_ROLE
    role = templates["valkey-created"]["Resources"][logical_id(templates["valkey-created"], "AWS::IAM::Role", "PortkeyGatewayTaskRole")]
    assert role["Properties"]["ManagedPolicyArns"] == ["arn:aws:iam::aws:policy/AmazonBedrockReadOnly"]
    # no model list: the region's foundation models, nothing else; no role to assume
    statements = role_statements(templates["elasticache-existing"], "PortkeyGatewayTaskRole")
    (invoke,) = [s for s in statements if actions(s)[0].startswith("bedrock:")]
    assert invoke["Resource"] == {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":bedrock:us-east-1::foundation-model/*"]]}
    assert not [s for s in statements if "sts:AssumeRole" in actions(s)]
    assert not [s for s in role_statements(templates["minimal-dev"], "PortkeyGatewayTaskRole") if "bedrock" in json.dumps(s)]


def test_created_standalone_cache_without_replicas(templates):
    t = templates["valkey-standalone"]
    group_id = logical_id(t, "AWS::ElastiCache::ReplicationGroup", "ElastiCache")
    p = t["Resources"][group_id]["Properties"]
    assert (p["NumCacheClusters"], p["AutomaticFailoverEnabled"], p["MultiAZEnabled"], p["SnapshotRetentionLimit"]) == (1, False, False, 3)
    assert "NumNodeGroups" not in p and only(t, "AWS::ElastiCache::ParameterGroup")["Properties"] == {"maxmemory-policy": "volatile-lru"}
    assert env(container(t, "gateway"))["REDIS_URL"] == {"Fn::Join": ["", [
        {"Fn::GetAtt": [group_id, "PrimaryEndPoint.Address"]}, ":", {"Fn::GetAtt": [group_id, "PrimaryEndPoint.Port"]}]]}
    assert env(container(t, "gateway"))["REDIS_MODE"] == "standalone"
    secret = t["Resources"][logical_id(t, "AWS::SecretsManager::Secret", "ElastiCacheAuthToken")]
    assert secret.get("DeletionPolicy", "Delete") == "Delete"  # a restored snapshot takes a new token


def test_ecs_exec_is_opt_in_per_service_with_session_logging(templates):
    t = templates["valkey-created"]  # exec on the data service only
    assert only_service(t, "data-service")["EnableExecuteCommand"] is True
    assert only_service(t, "gateway").get("EnableExecuteCommand") in (None, False)
    log_id = logical_id(t, "AWS::Logs::LogGroup", "ExecLogs")
    assert t["Resources"][log_id]["DeletionPolicy"] == "Retain"
    cluster = only(t, "AWS::ECS::Cluster")["Configuration"]["ExecuteCommandConfiguration"]
    assert cluster == {"LogConfiguration": {"CloudWatchLogGroupName": {"Ref": log_id}}, "Logging": "OVERRIDE"}
    exec_statements = [s for s in role_statements(t, "DataServiceTaskRole") if "ssmmessages" in json.dumps(s)]
    assert sorted(a for s in exec_statements for a in actions(s) if a.startswith("ssmmessages:")) == [
        "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel"]
    assert not [s for s in role_statements(t, "PortkeyGatewayTaskRole") if "ssmmessages" in json.dumps(s)]
    assert container(t, "data-service")["LinuxParameters"]["InitProcessEnabled"] is True  # reaps exec's processes
    assert "LinuxParameters" not in container(t, "gateway")
    assert "ExecuteCommandConfiguration" not in json.dumps(only(templates["minimal-dev"], "AWS::ECS::Cluster"))
    # the built-in Redis too
    redis = templates["three-az-no-lb"]
    assert only_service(redis, "redis")["EnableExecuteCommand"] is True
    assert [s for s in role_statements(redis, "RedisTaskRole") if "ssmmessages" in json.dumps(s)]


def test_outputs_name_both_task_roles(templates):
    outputs = templates["production"]["Outputs"]
    assert outputs["DataServiceTaskRoleArn"]["Value"] == {"Fn::GetAtt": [logical_id(templates["production"], "AWS::IAM::Role", "DataServiceTaskRole"), "Arn"]}
    assert "GatewayTaskRoleArn" in outputs and "RedisTaskRoleArn" not in outputs
