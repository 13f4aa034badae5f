"""Zero-downtime deploys and scaling: ECS-native strategies on ALB and NLB, the test listener, the traffic-shift role,
deployment alarms, the smoke-test hook's resources, and autoscaling policies."""

from __future__ import annotations

import json

import pytest

from portkey_gateway import settings_from_dict
from portkey_gateway.components.function import LAMBDAS_DIR
from portkey_gateway.loader import ConfigError

from .conftest import CONFIGS, SMOKE_SECRET, logical_id, only_service, resources_of, security_group, synthesize, variant

HANDLER_DIR = LAMBDAS_DIR / "smoke_test"

GATEWAY_TG, GATEWAY_ALT_TG = "IngressGatewayTargets", "IngressGatewayAlternateTargets"


def ref(template: dict, resource_type: str, fragment: str) -> dict:
    return {"Ref": logical_id(template, resource_type, fragment)}


def listener(template: dict, port: int) -> tuple[str, dict]:
    found = [(k, v["Properties"]) for k, v in resources_of(template, "AWS::ElasticLoadBalancingV2::Listener").items()
             if v["Properties"]["Port"] == port]
    assert len(found) == 1, (port, found)
    return found[0]


def rule(template: dict, fragment: str) -> dict:
    return template["Resources"][logical_id(template, "AWS::ElasticLoadBalancingV2::ListenerRule", fragment)]["Properties"]


def weighted(template: dict, route: str, kind: str) -> list:
    """Both groups, each weighted as the deploy guard reads it from the live rule (test_first_deploy.py)."""
    tg = "AWS::ElasticLoadBalancingV2::TargetGroup"
    guard = logical_id(template, "Custom::LiveTrafficWeights", f"Ingress{route}{kind}LiveWeights")
    return [{"TargetGroupArn": ref(template, tg, f"Ingress{route}Targets"), "Weight": {"Fn::GetAtt": [guard, "PrimaryWeight"]}},
            {"TargetGroupArn": ref(template, tg, f"Ingress{route}AlternateTargets"),
             "Weight": {"Fn::GetAtt": [guard, "AlternateWeight"]}}]


@pytest.mark.parametrize("name,strategy,extra", [
    ("alb-blue-green", "BLUE_GREEN", {"BakeTimeInMinutes": 10}),
    ("nlb-blue-green", "BLUE_GREEN", {"BakeTimeInMinutes": 5}),
    ("config-staging", "CANARY", {"BakeTimeInMinutes": 5, "CanaryConfiguration": {"CanaryBakeTimeInMinutes": 5, "CanaryPercent": 20}}),
    ("alb-linear", "LINEAR", {"BakeTimeInMinutes": 3, "LinearConfiguration": {"StepBakeTimeInMinutes": 2, "StepPercent": 25}}),
])
def test_each_strategy_is_ecs_native_with_its_bake_times(templates, name, strategy, extra):
    service = only_service(templates[name], "gateway")
    deployment = service["DeploymentConfiguration"]
    assert deployment["Strategy"] == strategy
    assert {key: deployment[key] for key in extra} == extra
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert "DeploymentController" not in service or service["DeploymentController"] == {"Type": "ECS"}  # never CodeDeploy
    assert not resources_of(templates[name], "AWS::CodeDeploy::DeploymentGroup")


def test_rolling_is_explicit_and_builds_no_blue_green_parts(templates):
    t = templates["gateway-mcp"]
    assert only_service(t, "gateway")["DeploymentConfiguration"]["Strategy"] == "ROLLING"
    groups = [k for k in resources_of(t, "AWS::ElasticLoadBalancingV2::TargetGroup") if "Unrouted" not in k]
    assert len(groups) == 2  # gateway and MCP, no alternates
    assert {p["Port"] for p in (v["Properties"] for v in resources_of(t, "AWS::ElasticLoadBalancingV2::Listener").values())} == {80, 443}
    assert "AdvancedConfiguration" not in json.dumps(only_service(t, "gateway")["LoadBalancers"])


def test_alb_blue_green_mirrors_every_production_rule_on_the_8443_test_listener(templates):
    t = templates["alb-blue-green"]  # server_mode all, host routing, TLS
    test_id, test = listener(t, 8443)
    prod_id, prod = listener(t, 443)
    assert test["Protocol"] == "HTTPS" and test["SslPolicy"] == prod["SslPolicy"] and test["Certificates"] == prod["Certificates"]
    unrouted = ref(t, "AWS::ElasticLoadBalancingV2::TargetGroup", "IngressUnrouted")
    assert test["DefaultActions"] == prod["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": unrouted}]
    service = only_service(t, "gateway")
    by_port = {lb["ContainerPort"]: lb for lb in service["LoadBalancers"]}
    assert set(by_port) == {8787, 8788}
    for route, port in (("Gateway", 8787), ("Mcp", 8788)):
        production, mirror = rule(t, f"Ingress{route}Rule"), rule(t, f"Ingress{route}TestRule")
        assert production["ListenerArn"] == {"Ref": prod_id} and mirror["ListenerArn"] == {"Ref": test_id}
        assert mirror["Conditions"] == production["Conditions"] and mirror["Priority"] == production["Priority"]
        # a weighted forward over both groups, as aws-cdk #36649 advises, on both listeners
        for r, kind in ((production, "Rule"), (mirror, "TestRule")):
            assert r["Actions"] == [{"Type": "forward", "ForwardConfig": {"TargetGroups": weighted(t, route, kind)}}]
        assert by_port[port]["TargetGroupArn"] == ref(t, "AWS::ElasticLoadBalancingV2::TargetGroup", f"Ingress{route}Targets")
        assert by_port[port]["AdvancedConfiguration"] == {
            "AlternateTargetGroupArn": ref(t, "AWS::ElasticLoadBalancingV2::TargetGroup", f"Ingress{route}AlternateTargets"),
            "ProductionListenerRule": ref(t, "AWS::ElasticLoadBalancingV2::ListenerRule", f"Ingress{route}Rule"),
            "TestListenerRule": ref(t, "AWS::ElasticLoadBalancingV2::ListenerRule", f"Ingress{route}TestRule"),
            "RoleArn": {"Fn::GetAtt": [logical_id(t, "AWS::IAM::Role", "TrafficShiftRole"), "Arn"]},
        }
    # green groups are checked like blue ones
    groups = {k: v["Properties"] for k, v in resources_of(t, "AWS::ElasticLoadBalancingV2::TargetGroup").items()
              if "Unrouted" not in k}
    assert len(groups) == 4
    assert len({json.dumps({k: v for k, v in g.items() if k != "Tags"}, sort_keys=True) for g in groups.values()}) == 2


def test_alb_without_tls_tests_on_8080_and_keeps_the_path_rewrite(templates):
    t = templates["alb-linear"]
    _, test = listener(t, 8080)
    assert test["Protocol"] == "HTTP"
    assert rule(t, "IngressGatewayTestRule")["Transforms"] == rule(t, "IngressGatewayRule")["Transforms"]
    assert rule(t, "IngressGatewayTestRule")["Conditions"] == [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/gateway/*"]}}]
    ingress = security_group(t, "IngressSecurityGroup")["SecurityGroupIngress"]
    assert {(r["CidrIp"], r["FromPort"]) for r in ingress} == {("10.0.0.0/16", 80), ("10.0.0.0/16", 8080)}


def test_nlb_shifts_between_listeners_and_its_tls_test_listener_starts_on_the_alternate_group(templates):
    t = templates["nlb-blue-green"]
    prod_id, prod = listener(t, 443)
    test_id, test = listener(t, 8443)
    tg = "AWS::ElasticLoadBalancingV2::TargetGroup"
    # One group each (an NLB forward has no weights): the one live when CloudFormation writes the listener, which on
    # the first deploy is the primary group for production and the alternate for the test listener.
    for properties, guard_fragment, first in ((prod, "IngressListenerLiveWeights", GATEWAY_TG),
                                              (test, "IngressTestListenerLiveWeights", GATEWAY_ALT_TG)):
        guard = logical_id(t, "Custom::LiveTrafficWeights", guard_fragment)
        assert properties["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": {"Fn::GetAtt": [guard, "LiveTargetGroupArn"]}}]
        assert t["Resources"][guard]["Properties"]["PrimaryTargetGroupArn"] == ref(t, tg, first)
    assert test["Protocol"] == "TLS" and test["Certificates"] == prod["Certificates"]
    advanced = only_service(t, "gateway")["LoadBalancers"][0]["AdvancedConfiguration"]
    assert advanced["ProductionListenerRule"] == {"Ref": prod_id} and advanced["TestListenerRule"] == {"Ref": test_id}
    assert advanced["AlternateTargetGroupArn"] == ref(t, tg, GATEWAY_ALT_TG)
    # NLB security groups need explicit rules: the test port is open to the allowed CIDRs and the hook
    ports = {(r.get("CidrIp"), r["FromPort"]) for r in security_group(t, "IngressSecurityGroup")["SecurityGroupIngress"]}
    assert ports == {("10.0.0.0/16", 443), ("10.0.0.0/16", 8443)}


def test_traffic_shift_role_is_scoped_to_this_deployments_groups_listeners_and_rules(templates):
    t = templates["alb-blue-green"]
    role_id = logical_id(t, "AWS::IAM::Role", "TrafficShiftRole")
    role = t["Resources"][role_id]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "ecs.amazonaws.com"}
    assert "ManagedPolicyArns" not in role  # not AmazonECSInfrastructureRolePolicyForLoadBalancers (every LB)
    policy = next(p["Properties"] for p in resources_of(t, "AWS::IAM::Policy").values()
                  if p["Properties"]["Roles"] == [{"Ref": role_id}])
    statements = {json.dumps(s["Action"]): s["Resource"] for s in policy["PolicyDocument"]["Statement"]}
    tg, lr = "AWS::ElasticLoadBalancingV2::TargetGroup", "AWS::ElasticLoadBalancingV2::ListenerRule"
    describe = [f"elasticloadbalancing:Describe{x}" for x in ("Listeners", "Rules", "TargetGroups", "TargetHealth")]
    assert statements[json.dumps(describe)] == "*"
    assert sorted(map(json.dumps, statements[json.dumps(["elasticloadbalancing:DeregisterTargets",
                                                         "elasticloadbalancing:RegisterTargets"])])) == sorted(
        json.dumps(ref(t, tg, f"Ingress{r}{k}")) for r in ("Gateway", "Mcp") for k in ("Targets", "AlternateTargets"))
    assert len(statements['"elasticloadbalancing:ModifyListener"']) == 2
    assert sorted(map(json.dumps, statements['"elasticloadbalancing:ModifyRule"'])) == sorted(
        json.dumps(ref(t, lr, f"Ingress{r}{k}")) for r in ("Gateway", "Mcp") for k in ("Rule", "TestRule"))
    assert len(statements) == 4
    # ECS registers the first tasks through it, so the service waits for its policy
    service_id = logical_id(t, "AWS::ECS::Service", "PortkeyGatewayService")
    assert logical_id(t, "AWS::IAM::Policy", "TrafficShiftRole") in t["Resources"][service_id]["DependsOn"]


def test_deployment_alarms_watch_every_target_group_and_roll_back(templates):
    t = templates["alb-blue-green"]
    health = {"portkey-gateway-prod-gateway-unhealthy-targets", "portkey-gateway-prod-gateway-target-5xx"}
    alarms = {v["Properties"]["AlarmName"]: v["Properties"] for v in resources_of(t, "AWS::CloudWatch::Alarm").values()
              if v["Properties"]["AlarmName"] in health}  # not the other operations alarms (tests/test_operations.py)
    assert set(alarms) == health
    deployment = only_service(t, "gateway")["DeploymentConfiguration"]
    assert deployment["Alarms"] == {"AlarmNames": sorted(alarms, key=lambda n: "5xx" in n), "Enable": True, "Rollback": True}

    errors = alarms["portkey-gateway-prod-gateway-target-5xx"]
    expression = next(m["Expression"] for m in errors["Metrics"] if "Expression" in m)
    # each group judged alone (a canary's errors are not diluted by the old fleet), with at least 20 requests a minute
    assert expression == "MAX([" + ", ".join(f"IF(r{i} >= 20, 100 * e{i} / r{i}, 0)" for i in range(4)) + "])"
    assert errors["Threshold"] == 2 and errors["ComparisonOperator"] == "GreaterThanThreshold"
    assert errors["EvaluationPeriods"] == errors["DatapointsToAlarm"] == 2 and errors["TreatMissingData"] == "notBreaching"
    stats = {(m["MetricStat"]["Metric"]["MetricName"], m["MetricStat"]["Stat"]) for m in errors["Metrics"] if "MetricStat" in m}
    assert stats == {("HTTPCode_Target_5XX_Count", "Sum"), ("RequestCount", "Sum")}
    groups = {json.dumps(d["Value"]) for m in errors["Metrics"] if "MetricStat" in m
              for d in m["MetricStat"]["Metric"]["Dimensions"] if d["Name"] == "TargetGroup"}
    assert len(groups) == 4  # gateway and MCP, blue and green

    unhealthy = alarms["portkey-gateway-prod-gateway-unhealthy-targets"]
    # a task sits in one colour of each route: colours add up, the worst route counts
    assert next(m["Expression"] for m in unhealthy["Metrics"] if "Expression" in m) == \
        "MAX([SUM([u00, u01]), SUM([u10, u11])])"
    for alarm in alarms.values():
        # FILL() would make the latest minute, whose metrics have not arrived, a healthy 0 and keep the alarm OK
        assert not any("FILL(" in m.get("Expression", "") for m in alarm["Metrics"])
        assert len(alarm["Metrics"]) <= 10  # CloudWatch's limit of metrics per alarm
    assert unhealthy["Threshold"] == 1 and unhealthy["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_nlb_gets_only_the_unhealthy_target_alarm(templates):
    t = templates["nlb-blue-green"]
    (alarm,) = [v["Properties"] for v in resources_of(t, "AWS::CloudWatch::Alarm").values()
                if v["Properties"]["AlarmName"] in ("portkey-gateway-dev-gateway-unhealthy-targets",
                                                    "portkey-gateway-dev-gateway-target-5xx")]
    assert alarm["AlarmName"].endswith("-gateway-unhealthy-targets")
    assert {m["MetricStat"]["Metric"]["Namespace"] for m in alarm["Metrics"] if "MetricStat" in m} == {"AWS/NetworkELB"}
    assert only_service(t, "gateway")["DeploymentConfiguration"]["Alarms"]["AlarmNames"] == [alarm["AlarmName"]]


def test_smoke_test_hook_is_a_vpc_lambda_with_its_own_log_group_and_least_privilege(templates):
    t = templates["alb-blue-green"]
    function_id = logical_id(t, "AWS::Lambda::Function", "SmokeTestHook")
    function = t["Resources"][function_id]["Properties"]
    assert function["Runtime"] == "python3.14" and function["Handler"] == "index.handler"
    assert function["Architectures"] == ["arm64"]
    assert function["VpcConfig"]["SecurityGroupIds"] == [{"Fn::GetAtt": [logical_id(t, "AWS::EC2::SecurityGroup", "SmokeTestHook"), "GroupId"]}]
    assert len(function["VpcConfig"]["SubnetIds"]) == 2 and all("private" in s["Ref"] for s in function["VpcConfig"]["SubnetIds"])
    log_id = logical_id(t, "AWS::Logs::LogGroup", "SmokeTestHook")
    assert function["LoggingConfig"] == {"LogGroup": {"Ref": log_id}}
    log = t["Resources"][log_id]
    assert log["Properties"]["RetentionInDays"] == 30 and log["DeletionPolicy"] == "Retain"
    assert function["Timeout"] == 3 * 3 * (10 + 5) + 20 + 10  # checks x attempts x (timeout + pause) + secret + slack

    config = json.loads(function["Environment"]["Variables"]["SMOKE_TEST"])
    assert function["Environment"]["Variables"]["TEST_LISTENER"] == {
        "Fn::GetAtt": [logical_id(t, "AWS::ElasticLoadBalancingV2::LoadBalancer", "Ingress"), "DNSName"]}
    assert (config["scheme"], config["port"], config["headers_secret_arn"]) == ("https", 8443, SMOKE_SECRET)
    assert [(c["name"], c["method"], c["path"], c["host"], c["expected_status"]) for c in config["checks"]] == [
        ("gateway health", "GET", "/v1/health", "gateway.example.com", 200),
        ("mcp health", "GET", "/v1/health", "mcp.example.com", 200),
        ("gateway request", "POST", "/v1/chat/completions", "gateway.example.com", 200),
    ]
    assert config["checks"][2]["headers"] == {"x-portkey-provider": "openai"}

    role_id = function["Role"]["Fn::GetAtt"][0]
    role = t["Resources"][role_id]["Properties"]
    assert "ManagedPolicyArns" not in role
    statements = next(p["Properties"]["PolicyDocument"]["Statement"] for p in resources_of(t, "AWS::IAM::Policy").values()
                      if p["Properties"]["Roles"] == [{"Ref": role_id}])
    by_action = {json.dumps(s["Action"]): s["Resource"] for s in statements}
    assert by_action[json.dumps(["logs:CreateLogStream", "logs:PutLogEvents"])] == {"Fn::GetAtt": [log_id, "Arn"]}
    assert by_action[json.dumps(["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"])] == f"{SMOKE_SECRET}-??????"
    assert len(by_action) == 3  # logs, VPC network interfaces, the one secret

    # ECS invokes exactly this function, at the configured stages, with a role that may do nothing else
    hooks = only_service(t, "gateway")["DeploymentConfiguration"]["LifecycleHooks"]
    assert hooks == [{"HookTargetArn": {"Fn::GetAtt": [function_id, "Arn"]},
                      "LifecycleStages": ["POST_TEST_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT"],
                      "RoleArn": {"Fn::GetAtt": [logical_id(t, "AWS::IAM::Role", "SmokeTestHookInvokeRole"), "Arn"]}}]
    invoke = next(p["Properties"]["PolicyDocument"]["Statement"] for k, p in resources_of(t, "AWS::IAM::Policy").items()
                  if "InvokeRole" in k)
    assert invoke == [{"Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": {"Fn::GetAtt": [function_id, "Arn"]}}]


def test_hook_reaches_the_test_listener_and_nothing_else(templates):
    t = templates["nlb-blue-green"]  # internal: through security groups only
    hook = security_group(t, "SmokeTestHook")
    assert [(r["CidrIp"], r["IpProtocol"]) for r in hook["SecurityGroupEgress"]] == [("255.255.255.255/32", "icmp")]
    egress = [r["Properties"] for r in resources_of(t, "AWS::EC2::SecurityGroupEgress").values()
              if r["Properties"]["GroupId"]["Fn::GetAtt"][0] == logical_id(t, "AWS::EC2::SecurityGroup", "SmokeTestHook")]
    assert [(e["FromPort"], e["DestinationSecurityGroupId"]["Fn::GetAtt"][0]) for e in egress] == [
        (8443, logical_id(t, "AWS::EC2::SecurityGroup", "IngressSecurityGroup"))]
    function = t["Resources"][logical_id(t, "AWS::Lambda::Function", "SmokeTestHook")]["Properties"]
    assert json.loads(function["Environment"]["Variables"]["SMOKE_TEST"])["checks"][0]["host"] is None
    assert only_service(t, "gateway")["DeploymentConfiguration"]["LifecycleHooks"][0]["LifecycleStages"] == ["POST_TEST_TRAFFIC_SHIFT"]
    # internet-facing: the hook arrives from the NAT gateway's public address, which the test listener admits
    public = security_group(templates["alb-blue-green"], "IngressSecurityGroup")["SecurityGroupIngress"]
    nat = [r for r in public if isinstance(r["CidrIp"], dict)]
    assert len(nat) == 1 and nat[0]["FromPort"] == 8443
    assert nat[0]["CidrIp"]["Fn::Join"][1][0]["Fn::GetAtt"][1] == "PublicIp"


def test_autoscaling_tracks_cpu_memory_and_requests_on_both_colours(templates):
    t = templates["alb-blue-green"]
    (target,) = [v["Properties"] for v in resources_of(t, "AWS::ApplicationAutoScaling::ScalableTarget").values()]
    assert (target["MinCapacity"], target["MaxCapacity"], target["ScalableDimension"]) == (2, 6, "ecs:service:DesiredCount")
    assert "DesiredCount" not in only_service(t, "gateway")  # a stack update must not reset what autoscaling chose
    policies = [v["Properties"]["TargetTrackingScalingPolicyConfiguration"]
                for v in resources_of(t, "AWS::ApplicationAutoScaling::ScalingPolicy").values()]
    kinds = sorted((p["PredefinedMetricSpecification"]["PredefinedMetricType"], p["TargetValue"], p.get("DisableScaleIn", False))
                   for p in policies)
    # request policies only scale out: an idle group's policy (no data) would otherwise veto every scale-in
    assert kinds == [("ALBRequestCountPerTarget", 600, True)] * 4 + [("ECSServiceAverageCPUUtilization", 70, False),
                                                                      ("ECSServiceAverageMemoryUtilization", 70, False)]
    assert all(p["ScaleOutCooldown"] == 60 and p.get("ScaleInCooldown", 120) == 120 for p in policies)
    labels = [p["PredefinedMetricSpecification"]["ResourceLabel"] for p in policies if "ResourceLabel" in p["PredefinedMetricSpecification"]]
    assert len({json.dumps(label) for label in labels}) == 4


def test_module_autoscaling_values(templates):
    t = templates["alb-linear"]
    policies = {v["Properties"]["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]["PredefinedMetricType"]:
                v["Properties"]["TargetTrackingScalingPolicyConfiguration"]
                for v in resources_of(t, "AWS::ApplicationAutoScaling::ScalingPolicy").values()}
    assert set(policies) == {"ECSServiceAverageCPUUtilization", "ECSServiceAverageMemoryUtilization"}
    assert policies["ECSServiceAverageCPUUtilization"]["TargetValue"] == 60
    assert policies["ECSServiceAverageMemoryUtilization"]["TargetValue"] == 75
    assert all((p["ScaleInCooldown"], p["ScaleOutCooldown"]) == (300, 30) for p in policies.values())
    assert not resources_of(templates["minimal-dev"], "AWS::ApplicationAutoScaling::ScalableTarget")


def test_hook_code_asset_ignores_bytecode_caches(templates, tmp_path):
    """The asset hash names the code in the template: a stray __pycache__ must not change it."""
    def code_key(template: dict) -> str:
        return template["Resources"][logical_id(template, "AWS::Lambda::Function", "SmokeTestHook")]["Properties"]["Code"]["S3Key"]

    cache = HANDLER_DIR / "__pycache__"
    existed = cache.exists()
    cache.mkdir(exist_ok=True)
    stray = cache / "index.cpython-399.pyc"
    stray.write_bytes(b"not code")
    try:
        again, _ = synthesize("nlb-blue-green", CONFIGS["nlb-blue-green"]())
    finally:
        stray.unlink()
        if not existed:
            cache.rmdir()
    assert code_key(again) == code_key(templates["nlb-blue-green"])


STRATEGIES = {
    "BLUE_GREEN": {"enable_blue_green": True},
    "CANARY": {"enable_blue_green": False, "canary_configuration": {"canary_percent": 20, "canary_bake_time_in_minutes": 3}},
    "LINEAR": {"enable_blue_green": False, "linear_configuration": {"step_percent": 50, "step_bake_time_in_minutes": 2}},
}
SYNTHESIZED = {("application", "BLUE_GREEN"): "alb-blue-green", ("network", "BLUE_GREEN"): "nlb-blue-green",
               ("application", "CANARY"): "config-staging",
               ("application", "LINEAR"): "alb-linear"}


@pytest.mark.parametrize("lb_type", ["application", "network"])
@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_every_strategy_on_both_load_balancer_types(templates, lb_type, strategy):
    """Rules on an ALB, listeners on an NLB: what ECS shifts, and a test listener to shift it on. Canary and linear
    need weights, which an NLB's forward does not have under every reading of AWS's documents: refused there."""
    if lb_type == "network" and strategy != "BLUE_GREEN":
        with pytest.raises(ConfigError, match="behind a network load balancer are not supported"):
            settings_from_dict(variant(lb_type=lb_type, gateway_deployment_configuration=STRATEGIES[strategy]))
        return
    name = SYNTHESIZED.get((lb_type, strategy))
    template = templates[name] if name else synthesize(
        f"{lb_type}-{strategy}", variant(lb_type=lb_type, gateway_deployment_configuration=STRATEGIES[strategy]))[0]
    resources = template["Resources"]
    service = only_service(template, "gateway")
    assert service["DeploymentConfiguration"]["Strategy"] == strategy
    pointer = "AWS::ElasticLoadBalancingV2::ListenerRule" if lb_type == "application" else "AWS::ElasticLoadBalancingV2::Listener"
    for target in service["LoadBalancers"]:
        advanced = target["AdvancedConfiguration"]
        assert resources[advanced["AlternateTargetGroupArn"]["Ref"]]["Type"] == "AWS::ElasticLoadBalancingV2::TargetGroup"
        assert advanced["AlternateTargetGroupArn"] != target["TargetGroupArn"]
        production, test = (resources[advanced[key]["Ref"]] for key in ("ProductionListenerRule", "TestListenerRule"))
        assert production["Type"] == test["Type"] == pointer and production != test
        role = resources[advanced["RoleArn"]["Fn::GetAtt"][0]]["Properties"]
        assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "ecs.amazonaws.com"}
    ports = {v["Properties"]["Port"] for v in resources_of(template, "AWS::ElasticLoadBalancingV2::Listener").values()}
    assert ports & {8080, 8443}
