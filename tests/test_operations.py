"""Day-2 operations: the dashboard, alarms to the operations topic, redeploys on secret changes, and teardown."""

from __future__ import annotations

import importlib.util
import json
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from aws_cdk import App
from aws_cdk.assertions import Annotations, Match

from portkey_gateway import GatewayStack, settings_from_dict
from portkey_gateway.components.function import LAMBDAS_DIR

from .conftest import (
    CLI_CONTEXT, bodies, CONFIGS, REDIS_AUTH, ROOT, logical_id, only, only_service, resources_of, synthesize, variant,
)


def handler_module(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_index", LAMBDAS_DIR / name / "index.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dashboard_body(template: dict) -> str:
    """The dashboard JSON with every CloudFormation reference written as <LogicalId>."""
    body = only(template, "AWS::CloudWatch::Dashboard")["DashboardBody"]
    parts = body["Fn::Join"][1]

    def text(part) -> str:
        if isinstance(part, str):
            return part
        ref = part.get("Ref") or part.get("Fn::GetAtt", [None])[0]
        return f"<{ref}>"
    return "".join(text(p) for p in parts)


def metrics_of(body: str) -> list[list]:
    """Every metric line of every graph widget ([namespace, name, dim, value, ..., {options}]), without the lines
    that are only an expression ([{"expression": ...}])."""
    return [metric for widget in json.loads(body)["widgets"] if widget["type"] == "metric"
            for metric in widget["properties"].get("metrics", []) if not isinstance(metric[0], dict)]


def alarms(template: dict) -> dict[str, dict]:
    """alarm name -> properties."""
    return {a["Properties"]["AlarmName"]: a["Properties"] for a in resources_of(template, "AWS::CloudWatch::Alarm").values()}


def topic_ref(template: dict) -> dict:
    return {"Ref": logical_id(template, "AWS::SNS::Topic", "OperationsTopic")}


# --- dashboard ---------------------------------------------------------------------------------------------------------


def test_production_dashboard_shows_every_signal_the_operators_need(templates):
    t = templates["config-prod"]
    # Dashboard names are global to the account: the region keeps two regions' environments apart.
    assert only(t, "AWS::CloudWatch::Dashboard")["DashboardName"] == "portkey-gateway-prod-us-east-1"
    body = dashboard_body(t)
    metrics = metrics_of(body)
    names = {(m[0], m[1]) for m in metrics if isinstance(m[0], str) and not m[0].startswith("<")}
    # Load balancer: requests, ALB-made 5xx apart from target 5xx, latency percentiles, target health.
    assert {("AWS/ApplicationELB", "RequestCount"), ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"),
            ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"), ("AWS/ApplicationELB", "TargetResponseTime"),
            ("AWS/ApplicationELB", "HealthyHostCount"), ("AWS/ApplicationELB", "UnHealthyHostCount")} <= names
    latency = {m[-1]["stat"] for m in metrics if m[1] == "TargetResponseTime"}
    assert latency == {"p50", "p99"}
    # Health of every target group: blue/green makes two per route.
    assert len({json.dumps(m[:-1]) for m in metrics if m[1] == "UnHealthyHostCount"}) == 2
    # Tasks: running and desired per service (Container Insights), CPU and memory per service.
    services = {m[5] for m in metrics if m[0] == "ECS/ContainerInsights" and m[1] == "RunningTaskCount"}
    desired = {m[5] for m in metrics if m[0] == "ECS/ContainerInsights" and m[1] == "DesiredTaskCount"}
    assert services == desired and len(services) == 2  # gateway and data service (the cache is Valkey)
    assert {("AWS/ECS", "CPUUtilization"), ("AWS/ECS", "MemoryUtilization")} <= names
    # Cluster: instances and the capacity provider's reservation.
    assert ("AWS/ECS/ManagedScaling", "CapacityProviderReservation") in names
    assert ("AWS/AutoScaling", "GroupInServiceInstances") in names
    # The created Valkey cache: CPU, memory, evictions and connections of each node (a primary and two replicas).
    for metric in ("EngineCPUUtilization", "DatabaseMemoryUsagePercentage", "Evictions", "CurrConnections"):
        nodes = [m[3] for m in metrics if m[:2] == ["AWS/ElastiCache", metric]]
        group = logical_id(t, "AWS::ElastiCache::ReplicationGroup", "ElastiCache")
        assert nodes == [f"<{group}>-001", f"<{group}>-002", f"<{group}>-003"], metric
    # The alarms' states at the top.
    alarm_widget = next(w for w in json.loads(body)["widgets"] if w["type"] == "alarm")
    assert len(alarm_widget["properties"]["alarms"]) == len(alarms(t))


def test_topic_and_dashboard_are_outputs(templates):
    """Other endpoints (chat, paging) subscribe to the topic; the dashboard is found by name."""
    t = templates["minimal-dev"]
    assert t["Outputs"]["OperationsTopicArn"]["Value"] == topic_ref(t)
    assert t["Outputs"]["DashboardName"]["Value"] == {"Ref": logical_id(t, "AWS::CloudWatch::Dashboard", "Monitoring")}


def test_nlb_dashboard_shows_connections_and_resets_not_http_codes(templates):
    names = {m[1] for m in metrics_of(dashboard_body(templates["minimal-dev"])) if isinstance(m[1], str)}
    assert {"ActiveFlowCount", "NewFlowCount", "TCP_ELB_Reset_Count", "TCP_Target_Reset_Count",
            "HealthyHostCount", "UnHealthyHostCount"} <= names
    assert not {"HTTPCode_ELB_5XX_Count", "TargetResponseTime"} & names


def test_cluster_node_ids_follow_elasticache_naming_in_cluster_mode(templates):
    t = templates["valkey-created"]  # two shards, one replica each
    group = logical_id(t, "AWS::ElastiCache::ReplicationGroup", "ElastiCache")
    nodes = [m[3] for m in metrics_of(dashboard_body(t)) if m[:2] == ["AWS/ElastiCache", "Evictions"]]
    assert nodes == [f"<{group}>-0001-001", f"<{group}>-0001-002", f"<{group}>-0002-001", f"<{group}>-0002-002"]


# --- alarms ----------------------------------------------------------------------------------------------------------


def test_production_alarms_notify_the_operations_topic(templates):
    t = templates["config-prod"]
    found = alarms(t)
    assert set(found) == {f"portkey-gateway-prod-{name}" for name in (
        "gateway-target-5xx", "gateway-unhealthy-targets", "gateway-no-healthy-targets", "lb-5xx",
        "gateway-tasks-below-desired",
        "data-service-tasks-below-desired", "capacity-shortfall", "cache-memory", "cache-cpu",
        "secret-change-redeploy-errors", "certificate-expiry", "undelivered-events", "llm-5xx",
        "llm-provider-latency", "llm-metrics-missing")}
    for alarm in found.values():
        assert alarm["AlarmActions"] == [topic_ref(t)] and alarm["OKActions"] == [topic_ref(t)]
        assert alarm["TreatMissingData"] == "notBreaching"


def test_alarm_conditions(templates):
    found = alarms(templates["config-prod"])
    lb = found["portkey-gateway-prod-lb-5xx"]
    expression = next(m["Expression"] for m in lb["Metrics"] if "Expression" in m)
    # RequestCount leaves out the 503s the ALB answers when no target is left: added back, or an outage reads as idle.
    assert expression == "IF(r + e >= 20, 100 * e / (r + e), 0)" and lb["Threshold"] == 5
    assert {m["MetricStat"]["Metric"]["MetricName"] for m in lb["Metrics"] if "MetricStat" in m} == {
        "HTTPCode_ELB_5XX_Count", "RequestCount"}
    tasks = found["portkey-gateway-prod-gateway-tasks-below-desired"]
    # A service with no task left may stop reporting its running count: counted as 0, so the alarm still fires.
    assert next(m["Expression"] for m in tasks["Metrics"] if "Expression" in m) == "desired - FILL(running, 0)"
    assert (tasks["Threshold"], tasks["ComparisonOperator"], tasks["EvaluationPeriods"], tasks["DatapointsToAlarm"]) == (
        0, "GreaterThanThreshold", 10, 10)
    capacity = found["portkey-gateway-prod-capacity-shortfall"]
    (stat,) = [m["MetricStat"] for m in capacity["Metrics"]]
    assert (stat["Metric"]["MetricName"], stat["Metric"]["Namespace"], stat["Stat"], capacity["Threshold"],
            capacity["EvaluationPeriods"]) == ("CapacityProviderReservation", "AWS/ECS/ManagedScaling", "Minimum", 100, 15)
    assert {d["Name"] for d in stat["Metric"]["Dimensions"]} == {"ClusterName", "CapacityProviderName"}
    memory = found["portkey-gateway-prod-cache-memory"]
    assert next(m["Expression"] for m in memory["Metrics"] if "Expression" in m) == "MAX([n0, n1, n2])"
    assert memory["Threshold"] == 90
    errors = found["portkey-gateway-prod-secret-change-redeploy-errors"]
    assert (errors["MetricName"], errors["Namespace"], errors["Threshold"], errors["Period"]) == ("Errors", "AWS/Lambda", 0, 300)


def test_a_route_without_any_healthy_target_alarms(templates):
    """Every task gone: nothing is unhealthy and an ALB does not count its own 503s as requests."""
    t = templates["alb-blue-green"]  # two routes, two colours each
    alarm = alarms(t)["portkey-gateway-prod-gateway-no-healthy-targets"]
    expression = next(m["Expression"] for m in alarm["Metrics"] if "Expression" in m)
    assert expression == "MIN([SUM([h00, h01]), SUM([h10, h11])])"
    stats = [m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m]
    assert {(s["Metric"]["MetricName"], s["Stat"]) for s in stats} == {("HealthyHostCount", "Maximum")}
    groups = {d["Value"]["Fn::GetAtt"][0] for s in stats for d in s["Metric"]["Dimensions"] if d["Name"] == "TargetGroup"}
    assert groups == {k for k in resources_of(t, "AWS::ElasticLoadBalancingV2::TargetGroup") if "Unrouted" not in k}
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "LessThanThreshold")
    nlb = alarms(templates["minimal-dev"])["portkey-gateway-dev-gateway-no-healthy-targets"]
    assert next(m["Expression"] for m in nlb["Metrics"] if "Expression" in m) == "MIN([SUM([h00])])"


def test_certificate_expiry_is_watched_on_a_tls_listener(templates):
    expiry = alarms(templates["config-prod"])["portkey-gateway-prod-certificate-expiry"]
    assert (expiry["Namespace"], expiry["MetricName"], expiry["Statistic"], expiry["Period"]) == (
        "AWS/CertificateManager", "DaysToExpiry", "Minimum", 86400)
    certificate = yaml.safe_load((ROOT / "config" / "prod.yaml").read_text())["tls_certificate_arn"]
    assert expiry["Dimensions"] == [{"Name": "CertificateArn", "Value": certificate}]
    assert (expiry["Threshold"], expiry["ComparisonOperator"]) == (30, "LessThanThreshold")
    # The certificate custom_domain creates is watched by reference; plain listeners have none.
    edge = alarms(templates["alb-edge"])["portkey-gateway-dev-certificate-expiry"]
    assert edge["Dimensions"][0]["Value"] == {"Ref": logical_id(templates["alb-edge"], "AWS::CertificateManager::Certificate", "Domain")}
    assert not any(name.endswith("certificate-expiry") for name in alarms(templates["minimal-dev"]))


def test_an_existing_cache_is_watched_through_its_node_ids(templates):
    nodes = ["portkey-cache-001", "portkey-cache-002"]
    data = {**CONFIGS["elasticache-existing"](), "monitoring": {"cache_node_ids": nodes, "cache_memory_percent": 80}}
    t, _ = synthesize("elasticache-existing-watched", data)
    memory = alarms(t)["portkey-gateway-dev-cache-memory"]
    assert [m["MetricStat"]["Metric"]["Dimensions"] for m in memory["Metrics"] if "MetricStat" in m] == [
        [{"Name": "CacheClusterId", "Value": node}] for node in nodes]
    assert memory["Threshold"] == 80
    evictions = [m[3] for m in metrics_of(dashboard_body(t)) if m[:2] == ["AWS/ElastiCache", "Evictions"]]
    assert evictions == nodes
    assert not [a for a in alarms(templates["elasticache-existing"]) if "cache" in a]  # not named: not watched


def test_a_large_cache_gets_one_alarm_per_ten_nodes():
    """An alarm's expression takes at most 10 metrics (synthesis fails beyond): 12 nodes make two alarms."""
    t, _ = synthesize("valkey-12-nodes", variant(redis_configuration={
        "redis_type": "aws-elastic-cache", "mode": "cluster", "create": {"replicas": 1, "shards": 6}}))
    found = alarms(t)
    group = logical_id(t, "AWS::ElastiCache::ReplicationGroup", "ElastiCache")
    nodes = {name: [m["MetricStat"]["Metric"]["Dimensions"][0]["Value"] for m in found[name]["Metrics"] if "MetricStat" in m]
             for name in ("portkey-gateway-dev-cache-memory", "portkey-gateway-dev-cache-memory-2")}
    expected = [{"Fn::Join": ["", [{"Ref": group}, f"-{shard:04d}-{node:03d}"]]} for shard in range(1, 7) for node in (1, 2)]
    assert nodes["portkey-gateway-dev-cache-memory"] + nodes["portkey-gateway-dev-cache-memory-2"] == expected
    assert [len(v) for v in nodes.values()] == [10, 2]
    assert "portkey-gateway-dev-cache-cpu-2" in found


def test_thresholds_are_settings():
    t, _ = synthesize("monitoring-thresholds", variant(
        lb_type="application", monitoring={"lb_5xx_percent": 2.5, "task_shortfall_minutes": 3,
                                           "capacity_shortfall_minutes": 30}))
    found = alarms(t)
    assert found["portkey-gateway-dev-lb-5xx"]["Threshold"] == 2.5
    assert found["portkey-gateway-dev-redis-tasks-below-desired"]["EvaluationPeriods"] == 3
    assert found["portkey-gateway-dev-capacity-shortfall"]["EvaluationPeriods"] == 30


def test_health_alarms_are_the_deployment_alarms(templates):
    """One set of alarms: ECS watches them during deploys, operators get them by SNS."""
    t = templates["alb-blue-green"]
    watched = only_service(t, "gateway")["DeploymentConfiguration"]["Alarms"]
    assert watched["Enable"] is True
    for name in watched["AlarmNames"]:
        assert alarms(t)[name]["AlarmActions"] == [topic_ref(t)]
    # Monitoring alone: the same alarms exist and notify, but do not stop deploys.
    minimal = templates["minimal-dev"]
    assert "Alarms" not in only_service(minimal, "gateway").get("DeploymentConfiguration", {})
    assert alarms(minimal)["portkey-gateway-dev-gateway-unhealthy-targets"]["AlarmActions"] == [topic_ref(minimal)]


def test_alarm_emails_subscribe_to_the_topic_and_cloudwatch_may_publish():
    t, _ = synthesize("alarm-emails", variant(monitoring={"alarm_emails": ["oncall@example.com", "ops@example.com"]}))
    subscriptions = [s["Properties"] for s in resources_of(t, "AWS::SNS::Subscription").values()]
    assert sorted((s["Protocol"], s["Endpoint"], json.dumps(s["TopicArn"])) for s in subscriptions) == [
        ("email", "oncall@example.com", json.dumps(topic_ref(t))), ("email", "ops@example.com", json.dumps(topic_ref(t)))]
    # The encrypted topic admits CloudWatch alarms of this account only: on the key and on the topic.
    key = only(t, "AWS::KMS::Key")["KeyPolicy"]["Statement"]
    cloudwatch = next(s for s in key if s.get("Sid") == "AllowCloudWatchAlarmsToPublish")
    assert cloudwatch["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert cloudwatch["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert cloudwatch["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Join"][1][-1] == ":alarm:*"
    policy = only(t, "AWS::SNS::TopicPolicy")["PolicyDocument"]["Statement"]
    publish = next(s for s in policy if s.get("Sid") == "AllowCloudWatchAlarmsToPublish")
    assert (publish["Action"], publish["Resource"], publish["Principal"]) == (
        "sns:Publish", topic_ref(t), {"Service": "cloudwatch.amazonaws.com"})


def test_ecs_warnings_and_errors_of_the_services_reach_the_topic(templates):
    """Failed (rolled-back) deployments, tasks that cannot be placed or keep failing to start, as they happen."""
    t = templates["config-prod"]
    rule_id = logical_id(t, "AWS::Events::Rule", "ServiceEvents")
    rule = t["Resources"][rule_id]["Properties"]
    pattern = rule["EventPattern"]
    assert (pattern["source"], pattern["detail-type"], pattern["detail"]) == (
        ["aws.ecs"], ["ECS Service Action", "ECS Deployment State Change"], {"eventType": ["WARN", "ERROR"]})
    services = sorted(r["Ref"] for r in pattern["resources"])
    assert services == sorted(resources_of(t, "AWS::ECS::Service"))
    (target,) = rule["Targets"]
    assert target["Arn"] == topic_ref(t)
    assert target["InputTransformer"]["InputPathsMap"]["detail-eventName"] == "$.detail.eventName"
    # Only that rule may publish; the key lets EventBridge of this account encrypt.
    policy = only(t, "AWS::SNS::TopicPolicy")["PolicyDocument"]["Statement"]
    events = [s for s in policy if s.get("Principal") == {"Service": "events.amazonaws.com"}]
    assert events == [{"Sid": "AllowServiceEventsRuleToPublish", "Effect": "Allow", "Action": "sns:Publish",
                       "Principal": {"Service": "events.amazonaws.com"}, "Resource": topic_ref(t),
                       "Condition": {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}}}]
    # EventBridge's KMS requests carry no source keys: a condition there would drop every event.
    key = only(t, "AWS::KMS::Key")["KeyPolicy"]["Statement"]
    grant = next(s for s in key if s.get("Sid") == "AllowEventBridgeRulesToPublish")
    assert "Condition" not in grant and grant["Principal"] == {"Service": "events.amazonaws.com"}


def test_dashboard_without_operations_alarms_still_shows_the_deployment_alarms():
    t, _ = synthesize("dashboard-deployment-alarms", {**CONFIGS["alb-blue-green"](), "monitoring": {"alarms": False}})
    names = set(alarms(t))
    assert names == {"portkey-gateway-prod-gateway-unhealthy-targets", "portkey-gateway-prod-gateway-target-5xx"}
    assert all("AlarmActions" not in a for a in alarms(t).values())  # nobody to notify
    widget = next(w for w in json.loads(dashboard_body(t))["widgets"] if w["type"] == "alarm")
    assert len(widget["properties"]["alarms"]) == 2


def test_monitoring_off_builds_no_dashboard_or_alarms():
    t, _ = synthesize("monitoring-off", variant(monitoring={"dashboard": False, "alarms": False},
                                                redeploy_on_secret_change=False))
    assert not resources_of(t, "AWS::CloudWatch::Dashboard") and not resources_of(t, "AWS::CloudWatch::Alarm")
    assert not resources_of(t, "AWS::Events::Rule")


def test_existing_cluster_still_gets_a_topic_and_service_alarms(templates):
    t = templates["existing-cluster"]
    assert len(resources_of(t, "AWS::SNS::Topic")) == 1
    names = set(alarms(t))
    assert "portkey-gateway-dev-gateway-tasks-below-desired" in names
    assert "portkey-gateway-dev-capacity-shortfall" not in names  # the capacity provider is not ours
    assert not resources_of(t, "Custom::ReleaseInstanceProtection")


# --- redeploy on secret change ---------------------------------------------------------------------------------------


def test_rule_matches_new_current_values_of_exactly_the_secrets_the_services_read(templates):
    t = templates["config-staging"]  # data service and a created Valkey cache
    rule = t["Resources"][logical_id(t, "AWS::Events::Rule", "SecretChangeRedeploy")]["Properties"]
    pattern = rule["EventPattern"]
    assert (pattern["source"], pattern["detail-type"], pattern["detail"]) == (
        ["aws.secretsmanager"], ["Secret Label Updated"], {"labelUpdated": ["AWSCURRENT"]})
    readers = json.loads(json.dumps(_environment(t)))
    secrets = [entry["arn"] for entry in readers["secrets"]]
    exact = [r for r in pattern["resources"] if not (isinstance(r, dict) and "prefix" in r)]
    assert exact == secrets
    cache_secret = {"Ref": logical_id(t, "AWS::SecretsManager::Secret", "ElastiCacheAuth")}
    assert cache_secret in secrets  # the AUTH token, read by both services
    assert exact == pattern["resources"]  # ARNs made by CloudFormation are complete: matched exactly
    target = rule["Targets"][0]
    assert target["Arn"] == {"Fn::GetAtt": [logical_id(t, "AWS::Lambda::Function", "SecretChangeRedeploy"), "Arn"]}


def test_literal_arns_also_match_as_prefixes(templates):
    """A configured ARN may be partial (no 6-character suffix): the event carries the complete one."""
    t = templates["elasticache-existing"]
    resources = t["Resources"][logical_id(t, "AWS::Events::Rule", "SecretChangeRedeploy")]["Properties"]["EventPattern"]["resources"]
    assert REDIS_AUTH in resources and {"prefix": f"{REDIS_AUTH}-"} in resources


def _environment(template: dict) -> dict:
    """The REDEPLOY configuration, with references written as {"Ref": id}."""
    function = template["Resources"][logical_id(template, "AWS::Lambda::Function", "SecretChangeRedeploy")]
    value = function["Properties"]["Environment"]["Variables"]["REDEPLOY"]
    if isinstance(value, str):
        return json.loads(value)
    text = "".join(p if isinstance(p, str) else json.dumps(p).replace('"', "'") for p in value["Fn::Join"][1])
    decoded = json.loads(text)

    def refs(node):
        if isinstance(node, str) and node.startswith("{'"):
            return json.loads(node.replace("'", '"'))
        if isinstance(node, list):
            return [refs(n) for n in node]
        if isinstance(node, dict):
            return {k: refs(v) for k, v in node.items()}
        return node
    return refs(decoded)


def test_a_secret_in_another_region_is_flagged_at_synth():
    """Secrets Manager's events reach only the secret's own account and region."""
    elsewhere = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:portkey/shared-AbCdEf"
    app = App(context=CLI_CONTEXT)
    stack = GatewayStack(app, "Elsewhere", settings=settings_from_dict(
        variant(secrets={"gateway": {"PORTKEY_CLIENT_AUTH": elsewhere}})))
    (warning,) = Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp("cannot redeploy"))
    assert warning.entry.data.startswith(f"{elsewhere} is in 123456789012/eu-west-1")
    app = App(context=CLI_CONTEXT)
    stack = GatewayStack(app, "Here", settings=settings_from_dict(variant()))
    assert Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp("cannot redeploy")) == []


def test_function_may_redeploy_only_the_services_that_read_secrets(templates):
    t = templates["config-staging"]
    config = _environment(t)
    gateway = logical_id(t, "AWS::ECS::Service", "PortkeyGatewayService")
    data_service = logical_id(t, "AWS::ECS::Service", "DataService")
    assert config["cluster"] == {"Ref": logical_id(t, "AWS::ECS::Cluster", "Compute")}
    by_secret = {json.dumps(e["arn"]): e["services"] for e in config["secrets"]}
    cache_secret = json.dumps({"Ref": logical_id(t, "AWS::SecretsManager::Secret", "ElastiCacheAuth")})
    assert by_secret[cache_secret] == [{"Fn::GetAtt": [gateway, "Name"]}, {"Fn::GetAtt": [data_service, "Name"]}]
    policy = t["Resources"][logical_id(t, "AWS::IAM::Policy", "SecretChangeRedeployRole")]["Properties"]["PolicyDocument"]
    statements = {json.dumps(sorted([s["Action"]] if isinstance(s["Action"], str) else s["Action"])): s["Resource"]
                  for s in policy["Statement"]}
    resources = statements[json.dumps(["ecs:DescribeServices", "ecs:UpdateService"])]
    assert sorted(r["Ref"] for r in resources) == sorted([gateway, data_service])
    assert statements[json.dumps(["logs:CreateLogStream", "logs:PutLogEvents"])] == {
        "Fn::GetAtt": [logical_id(t, "AWS::Logs::LogGroup", "SecretChangeRedeployLogs"), "Arn"]}
    # A run that fails every retry goes to the dead letters.
    assert statements[json.dumps(["sqs:SendMessage"])] == {"Fn::GetAtt": [logical_id(t, "AWS::SQS::Queue", "DeadLetters"), "Arn"]}
    assert len(statements) == 3


def test_a_failed_run_is_retried_twice_within_the_hour(templates):
    t = templates["config-staging"]
    function = logical_id(t, "AWS::Lambda::Function", "SecretChangeRedeploy")
    (config,) = [c["Properties"] for c in resources_of(t, "AWS::Lambda::EventInvokeConfig").values()
                 if c["Properties"]["FunctionName"] == {"Ref": function}]
    assert (config["FunctionName"], config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]) == (
        {"Ref": function}, 2, 3600)


def test_redeploy_can_be_turned_off():
    t, _ = synthesize("no-secret-redeploy", variant(redeploy_on_secret_change=False))
    assert not [k for k in resources_of(t, "AWS::Events::Rule") if "SecretChangeRedeploy" in k]
    assert not [k for k in resources_of(t, "AWS::Lambda::Function") if "SecretChangeRedeploy" in k]
    assert "portkey-gateway-dev-secret-change-redeploy-errors" not in alarms(t)


REDEPLOY = handler_module("redeploy_on_secret_change")
PARTIAL = "arn:aws:secretsmanager:us-east-1:123456789012:secret:portkey/gateway"
COMPLETE = "arn:aws:secretsmanager:us-east-1:123456789012:secret:portkey/cache-auth-AbCdEf"
CONFIG = {"cluster": "c", "secrets": [{"arn": PARTIAL, "services": ["gateway"]},
                                      {"arn": COMPLETE, "services": ["gateway", "data-service"]}]}
CHANGED = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)


def label_event(arn: str) -> dict:
    return {"time": "2026-11-29T12:00:00Z", "resources": [arn], "detail-type": "Secret Label Updated",
            "detail": {"name": "x", "labelUpdated": "AWSCURRENT", "versionId": "v2"}}


class FakeEcs:
    def __init__(self, created: dict[str, datetime], failing: tuple = ()):
        self.created, self.failing, self.updated = created, failing, []

    def describe_services(self, cluster, services):
        assert cluster == "c"
        return {"services": [{"serviceName": s, "deployments": [{"createdAt": self.created[s]}]} for s in services]}

    def update_service(self, cluster, service, forceNewDeployment):
        assert forceNewDeployment is True
        if service in self.failing:
            raise RuntimeError("throttled")
        self.updated.append(service)


def test_consumers_match_complete_and_partial_arns():
    assert REDEPLOY.consumers(f"{PARTIAL}-XyZ123", CONFIG) == ["gateway"]
    assert REDEPLOY.consumers(COMPLETE, CONFIG) == ["gateway", "data-service"]
    assert REDEPLOY.consumers(f"{PARTIAL}-extra-XyZ123", CONFIG) == []  # another secret sharing the prefix
    assert REDEPLOY.consumers(f"{PARTIAL}-XyZ12", CONFIG) == []


def test_redeploys_each_reader_once_and_skips_services_deployed_since():
    before, after = CHANGED - timedelta(hours=1), CHANGED + timedelta(seconds=5)
    ecs = FakeEcs({"gateway": before, "data-service": after})
    assert REDEPLOY.redeploy(label_event(COMPLETE), CONFIG, ecs) == ["gateway"]
    assert ecs.updated == ["gateway"]
    assert REDEPLOY.redeploy(label_event("arn:aws:secretsmanager:us-east-1:123456789012:secret:other-AbCdEf"),
                             CONFIG, FakeEcs({})) == []


def test_one_failing_service_does_not_stop_the_others_and_the_run_fails_for_a_retry():
    ecs = FakeEcs({"gateway": CHANGED - timedelta(hours=1), "data-service": CHANGED - timedelta(hours=1)},
                  failing=("gateway",))
    with pytest.raises(RuntimeError, match="gateway: RuntimeError: throttled"):
        REDEPLOY.redeploy(label_event(COMPLETE), CONFIG, ecs)
    assert ecs.updated == ["data-service"]


def test_a_service_ecs_does_not_know_fails_the_run():
    class Missing(FakeEcs):
        def describe_services(self, cluster, services):
            return {"services": [], "failures": [{"arn": "arn:aws:ecs:us-east-1:1:service/c/gateway", "reason": "MISSING"}]}

    with pytest.raises(RuntimeError, match="service/c/gateway: MISSING"):
        REDEPLOY.redeploy(label_event(f"{PARTIAL}-Q1w2E3"), CONFIG, Missing({}))


def test_handler_reads_its_configuration_from_the_environment(monkeypatch):
    monkeypatch.setenv("REDEPLOY", json.dumps(CONFIG))
    ecs = FakeEcs({"gateway": CHANGED - timedelta(days=1)})
    assert REDEPLOY.handler(label_event(f"{PARTIAL}-Q1w2E3"), None, ecs=ecs) == {"redeployed": ["gateway"]}


# --- teardown --------------------------------------------------------------------------------------------------------


def test_instance_release_runs_between_the_capacity_provider_and_the_group(templates):
    t = templates["minimal-dev"]
    release = logical_id(t, "Custom::ReleaseInstanceProtection", "InstanceRelease")
    group = logical_id(t, "AWS::AutoScaling::AutoScalingGroup", "Compute")
    provider = logical_id(t, "AWS::ECS::CapacityProvider", "Compute")
    resource = t["Resources"][release]
    assert resource["Properties"]["AutoScalingGroupName"] == {"Ref": group}  # deleted before the group
    assert resource["Properties"]["ServiceTimeout"] == "300"
    assert release in t["Resources"][provider]["DependsOn"]  # deleted after the capacity provider
    association = logical_id(t, "AWS::ECS::ClusterCapacityProviderAssociations", "Compute")
    for service in resources_of(t, "AWS::ECS::Service").values():  # ... which goes after every service
        assert association in service["DependsOn"]
    # While ECS manages the group, its instances stay protected: only the delete path releases them.
    assert t["Resources"][group]["Properties"]["NewInstancesProtectedFromScaleIn"] is True
    policy = t["Resources"][logical_id(t, "AWS::IAM::Policy", "InstanceReleaseRole")]["Properties"]["PolicyDocument"]
    actions = {json.dumps(sorted(s["Action"])): s["Resource"] for s in policy["Statement"]}
    arn = actions[json.dumps(["autoscaling:DeleteLifecycleHook", "autoscaling:SetInstanceProtection",
                              "autoscaling:UpdateAutoScalingGroup"])]
    assert arn["Fn::Join"][1][-2:] == [":autoScalingGroup:*:autoScalingGroupName/", {"Ref": group}]
    assert actions[json.dumps(["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeLifecycleHooks",
                               "ecs:DescribeCapacityProviders"])] == "*"


TEARDOWN = handler_module("teardown")


class FakeAutoScaling:
    def __init__(self, instances: int, hooks: list[tuple[str, str]], exists: bool = True):
        self.instances = [{"InstanceId": f"i-{n:017x}", "ProtectedFromScaleIn": n % 7 != 0} for n in range(instances)]
        self.hooks, self.exists, self.calls = hooks, exists, []

    def describe_auto_scaling_groups(self, AutoScalingGroupNames):
        return {"AutoScalingGroups": [{"Instances": self.instances}] if self.exists else []}

    def update_auto_scaling_group(self, **kwargs):
        self.calls.append(("update", kwargs))

    def set_instance_protection(self, **kwargs):
        self.calls.append(("protection", kwargs))

    def describe_lifecycle_hooks(self, AutoScalingGroupName):
        return {"LifecycleHooks": [{"LifecycleHookName": n, "LifecycleTransition": t} for n, t in self.hooks]}

    def delete_lifecycle_hook(self, **kwargs):
        self.calls.append(("delete-hook", kwargs))


class FakeCapacityProviders:
    """describe_capacity_providers, in pages of one, as the API pages them."""

    def __init__(self, providers: list[tuple[str, str, str]]):
        self.providers = [{"name": name, "status": status,
                           "autoScalingGroupProvider": {"autoScalingGroupArn": f"arn:aws:autoscaling:us-east-1:1:"
                                                                               f"autoScalingGroup:u:autoScalingGroupName/{group}"}}
                          for name, status, group in providers]

    def describe_capacity_providers(self, nextToken=None):
        index = int(nextToken or 0)
        page = {"capacityProviders": self.providers[index:index + 1]}
        if index + 1 < len(self.providers):
            page["nextToken"] = str(index + 1)
        return page


NO_PROVIDER = FakeCapacityProviders([("other", "ACTIVE", "another-asg"), ("old", "INACTIVE", "asg")])


def test_release_waits_until_no_capacity_provider_manages_the_group():
    """A rolled-back update deletes this resource while the group lives on: ECS still needs its protection."""
    asg = FakeAutoScaling(3, [("ecs-managed-draining-termination-hook", "autoscaling:EC2_INSTANCE_TERMINATING")])
    managed = FakeCapacityProviders([("other", "ACTIVE", "another-asg"), ("cp", "ACTIVE", "asg")])
    assert TEARDOWN.release("asg", asg, managed) == {
        "group": "asg", "released": False, "reason": "capacity provider cp still manages it"}
    assert asg.calls == []
    assert TEARDOWN.release("asg", asg, NO_PROVIDER)["released"] is True  # an inactive provider does not count


def test_release_unprotects_every_instance_in_batches_and_removes_termination_hooks():
    asg = FakeAutoScaling(120, [("ecs-managed-draining-termination-hook", "autoscaling:EC2_INSTANCE_TERMINATING"),
                                ("warm-up", "autoscaling:EC2_INSTANCE_LAUNCHING")])
    result = TEARDOWN.release("asg", asg, NO_PROVIDER)
    protected = [i["InstanceId"] for i in asg.instances if i["ProtectedFromScaleIn"]]
    assert asg.calls[0] == ("update", {"AutoScalingGroupName": "asg", "NewInstancesProtectedFromScaleIn": False})
    batches = [kwargs["InstanceIds"] for kind, kwargs in asg.calls if kind == "protection"]
    assert [len(b) for b in batches] == [50, 50, len(protected) - 100] and sum(batches, []) == protected
    assert all(kwargs["ProtectedFromScaleIn"] is False for kind, kwargs in asg.calls if kind == "protection")
    assert [kwargs["LifecycleHookName"] for kind, kwargs in asg.calls if kind == "delete-hook"] == [
        "ecs-managed-draining-termination-hook"]
    assert result["unprotected"] == protected


def test_a_group_that_is_gone_needs_nothing():
    asg = FakeAutoScaling(0, [], exists=False)
    assert TEARDOWN.release("asg", asg, NO_PROVIDER) == {"group": "asg", "released": False, "reason": "the group is gone"}
    assert asg.calls == []


def request(kind: str, url: str, **extra) -> dict:
    return {"RequestType": kind, "ResponseURL": url, "StackId": "stack", "RequestId": "r1", "LogicalResourceId": "Release",
            "ResourceProperties": {"AutoScalingGroupName": "asg-new"}, **extra}


def test_handler_answers_cloudformation_and_acts_on_delete_only(cloudformation):
    asg = FakeAutoScaling(3, [])
    TEARDOWN.handler(request("Create", cloudformation), None, autoscaling=asg, ecs=NO_PROVIDER)
    TEARDOWN.handler(request("Delete", cloudformation, PhysicalResourceId="asg-old"), None, autoscaling=asg,
                     ecs=NO_PROVIDER)
    create, delete = bodies()
    assert (create["Status"], create["PhysicalResourceId"], create["RequestId"]) == ("SUCCESS", "asg-new", "r1")
    # After a replacement CloudFormation deletes the resource of the old group: that group is the one released.
    assert (delete["Status"], delete["PhysicalResourceId"]) == ("SUCCESS", "asg-old")
    assert asg.calls[0] == ("update", {"AutoScalingGroupName": "asg-old", "NewInstancesProtectedFromScaleIn": False})


def test_handler_reports_a_failure_instead_of_leaving_the_stack_waiting(cloudformation):
    class Broken(FakeAutoScaling):
        def set_instance_protection(self, **kwargs):
            raise PermissionError("AccessDenied")

    TEARDOWN.handler(request("Delete", cloudformation, PhysicalResourceId="asg-old"), None,
                     autoscaling=Broken(2, []), ecs=NO_PROVIDER)
    (answer,) = bodies()
    assert answer["Status"] == "FAILED" and answer["Reason"] == "releasing asg-old: PermissionError: AccessDenied"
