"""LLM traffic in CloudWatch: the collector beside the gateway, what it scrapes and where it writes, what it may do,
and the dashboard section and alarms that read its metrics."""

from __future__ import annotations

import json

import pytest
import yaml

from portkey_gateway import capacity, llm_metrics, settings_from_dict
from portkey_gateway.loader import ConfigError

from .conftest import CONFIGS, container, logical_id, resources_of, synthesize, variant
from .test_operations import alarms, dashboard_body

NAMESPACE = "Portkey/portkey-gateway-dev"
WORKSPACE = "arn:aws:aps:eu-west-1:123456789012:workspace/ws-0123abcd-4567-89ef-0123-456789abcdef"


def gateway_task(template: dict) -> dict:
    return next(v["Properties"] for v in resources_of(template, "AWS::ECS::TaskDefinition").values()
                if v["Properties"]["ContainerDefinitions"][0]["Name"] == "gateway")


def collector_pipeline(template: dict) -> dict:
    environment = {e["Name"]: e["Value"] for e in container(template, "collector")["Environment"]}
    return yaml.safe_load(environment[llm_metrics.OTEL_CONFIG_ENV]), json.loads(environment[llm_metrics.AGENT_CONFIG_ENV])


def task_role_statements(template: dict) -> list[dict]:
    (policy,) = [p for key, p in resources_of(template, "AWS::IAM::Policy").items() if "GatewayTaskRole" in key]
    return policy["Properties"]["PolicyDocument"]["Statement"]


@pytest.fixture(scope="module")
def with_budgets() -> dict:
    template, _ = synthesize("llm-budgets", variant(monitoring={"llm_traffic": {
        "traces": True, "trace_sampling": 0.2, "include_model": True, "interval_seconds": 30,
        "hourly_budget_usd": 25, "daily_budget_usd": 400, "prometheus_workspace_arn": WORKSPACE}}))
    return template


def test_the_collector_runs_beside_the_gateway_with_memory_of_its_own(templates):
    t = templates["minimal-dev"]
    collector = container(t, "collector")
    assert collector["Image"] == "public.ecr.aws/cloudwatch-agent/cloudwatch-agent:1.300071.0b1720"
    assert (collector["Essential"], collector["Memory"], collector["MemoryReservation"]) == (False, 256, 128)
    assert "Cpu" not in collector  # it shares the task's CPU: a reservation would cost a gateway task's place
    assert collector["LogConfiguration"]["Options"]["awslogs-stream-prefix"] == "gateway-collector"
    settings = settings_from_dict(CONFIGS["minimal-dev"]())
    task = gateway_task(t)
    assert (task["Cpu"], task["Memory"]) == (str(settings.gateway_config.cpu), str(settings.gateway_config.memory + 256))
    # The capacity check counts its memory too.
    (gateway,) = [d for d in capacity.peak_demands(settings) if d.name == "gateway"]
    assert (gateway.cpu, gateway.memory) == (settings.gateway_config.cpu, settings.gateway_config.memory + 256)


def test_it_scrapes_the_gateway_on_localhost_and_publishes_to_the_environments_namespace(templates):
    t = templates["minimal-dev"]
    pipeline, agent = collector_pipeline(t)
    llm_metrics.validate_config(pipeline)  # the collector's documented schema
    job, buckets = pipeline["receivers"]["prometheus/portkey"]["config"]["scrape_configs"]
    for read in (job, buckets):  # the page, and again for the provider latency's buckets
        assert (read["static_configs"], read["metrics_path"], read["scrape_interval"]) == (
            [{"targets": ["localhost:8787"]}], "/metrics", "60s")
    assert (job["job_name"], buckets["job_name"]) == ("gateway", "gateway-latency-buckets")
    emf = pipeline["exporters"]["awsemf/portkey"]
    assert (emf["namespace"], emf["log_group_name"], emf["region"]) == (
        NAMESPACE, "/ecs/portkey-gateway/dev/llm-metrics", "us-east-1")
    assert agent == {"agent": {"region": "us-east-1"}}
    assert "traces/portkey" not in pipeline["service"]["pipelines"]
    dimensions = {d for declaration in emf["metric_declarations"] for dims in declaration["dimensions"] for d in dims}
    assert "model" not in dimensions and {"provider", "status_class", "cacheStatus"} <= dimensions
    gateway = {e["Name"] for e in container(t, "gateway")["Environment"]}
    assert not {"OTEL_PUSH_ENABLED", "OTEL_ENDPOINT", "PROMETHEUS_INCLUDE_MODEL_LABEL"} & gateway


def test_the_collector_may_write_its_log_group_only_and_x_ray_only_with_traces(templates, with_budgets):
    t = templates["minimal-dev"]
    group_id = logical_id(t, "AWS::Logs::LogGroup", "LlmMetrics")
    group = t["Resources"][group_id]
    assert group["Properties"]["LogGroupName"] == "/ecs/portkey-gateway/dev/llm-metrics"
    assert group["DeletionPolicy"] == "Retain"
    writes = {"Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Effect": "Allow",
              "Resource": {"Fn::GetAtt": [group_id, "Arn"]}}
    assert writes in task_role_statements(t)
    assert not [s for s in task_role_statements(t) if "xray" in json.dumps(s["Action"])]
    assert {"Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"], "Effect": "Allow",
            "Resource": "*"} in task_role_statements(with_budgets)


def test_traces_and_the_model_label_are_asked_of_the_gateway_and_sampled(with_budgets):
    gateway = {e["Name"]: e["Value"] for e in container(with_budgets, "gateway")["Environment"]}
    assert (gateway["OTEL_PUSH_ENABLED"], gateway["OTEL_ENDPOINT"], gateway["PROMETHEUS_INCLUDE_MODEL_LABEL"]) == (
        "true", "http://localhost:4318", "true")
    pipeline, _ = collector_pipeline(with_budgets)
    assert pipeline["processors"]["probabilistic_sampler/portkey"]["sampling_percentage"] == pytest.approx(20)
    assert pipeline["receivers"]["otlp/portkey"]["protocols"]["http"]["endpoint"] == "localhost:4318"
    assert pipeline["service"]["pipelines"]["traces/portkey"]["exporters"] == ["awsxray/portkey"]
    scrape = pipeline["receivers"]["prometheus/portkey"]["config"]["scrape_configs"][0]
    assert scrape["scrape_interval"] == "30s"
    emf = pipeline["exporters"]["awsemf/portkey"]
    assert any("model" in dims for d in emf["metric_declarations"] for dims in d["dimensions"])


def test_the_dashboard_has_an_llm_traffic_section(templates):
    body = dashboard_body(templates["minimal-dev"])
    for title in ("Requests by provider and status class", "Errors (5xx, % of requests)",
                  "Provider latency p50 and p99 (ms, bucket bound)", "Provider latency by provider (average, ms)", "Gateway overhead (average, ms)",
                  "Tokens per minute by provider", "Cost (USD) per hour and per day", "Cache hits (% of cacheable requests)"):
        assert title in body, title
    # Names with other characters than letters and digits are double-quoted in a search expression.
    quote = '\\\"'
    schema = ",".join(f"{quote}{part}{quote}" for part in (NAMESPACE, "service", "provider", "status_class"))
    assert (f"SEARCH('{{{schema}}} MetricName={quote}request_count{quote} service={quote}gateway{quote}', 'Sum', 60)"
            in body)


def test_llm_alarms_read_the_rollups_and_spend_alarms_need_a_budget(templates, with_budgets):
    found = alarms(templates["minimal-dev"])
    assert {"portkey-gateway-dev-llm-5xx", "portkey-gateway-dev-llm-provider-latency"} <= set(found)
    assert not {"portkey-gateway-dev-llm-spend-hourly", "portkey-gateway-dev-llm-spend-daily"} & set(found)
    errors = found["portkey-gateway-dev-llm-5xx"]
    expression = next(m for m in errors["Metrics"] if "Expression" in m)["Expression"]
    assert expression == ("100 * FILL(all_5, 0) / (FILL(all_2, 0) + FILL(all_3, 0) + FILL(all_4, 0) + "
                          "FILL(all_5, 0))")
    dimensions = [m["MetricStat"]["Metric"]["Dimensions"] for m in errors["Metrics"] if "MetricStat" in m]
    assert {"Name": "status_class", "Value": "5xx"} in [d for dims in dimensions for d in dims]
    assert (errors["Threshold"], errors["EvaluationPeriods"]) == (5, 3)
    def stat(alarm: dict) -> tuple:
        (metric,) = alarm["Metrics"]
        stat = metric["MetricStat"]
        return (stat["Metric"]["MetricName"], stat["Metric"]["Namespace"], stat["Metric"]["Dimensions"], stat["Stat"],
                stat["Period"], alarm["Threshold"])
    service = [{"Name": "service", "Value": "gateway"}]
    # p99 above 50 s (the default) is exactly "more than 1 % of requests slower than 50 s": 50000 is a bucket bound
    latency = found["portkey-gateway-dev-llm-provider-latency"]
    assert next(m for m in latency["Metrics"] if "Expression" in m)["Expression"] == (
        "IF(all_total >= 100, 100 * (all_total - FILL(all_b50000, 0)) / all_total)")  # no p99 of fewer requests
    assert (latency["Threshold"], latency["ComparisonOperator"], latency["EvaluationPeriods"]) == (
        1, "GreaterThanThreshold", 3)
    assert bucket_metrics(latency) == {"all_total": ("+Inf", None), "all_b50000": ("50000", None)}
    budgets = alarms(with_budgets)
    assert stat(budgets["portkey-gateway-dev-llm-spend-hourly"]) == ("llm_cost_sum", NAMESPACE, service, "Sum", 3600, 25)
    assert stat(budgets["portkey-gateway-dev-llm-spend-daily"]) == ("llm_cost_sum", NAMESPACE, service, "Sum", 86400, 400)


def bucket_metrics(alarm: dict) -> dict[str, tuple]:
    """id -> (le, provider) of the bucket counts an alarm reads; each a 5-minute Sum of the published counts."""
    found = {}
    for metric in alarm["Metrics"]:
        if "MetricStat" in metric:
            stat = metric["MetricStat"]
            dims = {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}
            assert (stat["Metric"]["MetricName"], stat["Metric"]["Namespace"], stat["Stat"], stat["Period"]) == (
                llm_metrics.PROVIDER_LATENCY_BUCKETS, NAMESPACE, "Sum", 300)
            found[metric["Id"]] = (dims["le"], dims.get("provider"))
    return found


def test_named_providers_get_their_own_error_and_p99_alarms_and_dashboard_lines():
    template, _ = synthesize("llm-providers", variant(monitoring={"llm_traffic": {
        "providers": ["openai", "azure-openai", "azure.openai"], "provider_latency_ms": 10000, "error_percent": 2}}))
    found = alarms(template)
    # names that differ only in - and . get ids of their own (from their position)
    assert bucket_metrics(found["portkey-gateway-dev-llm-provider-latency-azure.openai"]) == {
        "p3_total": ("+Inf", "azure.openai"), "p3_b10000": ("10000", "azure.openai")}
    for provider, ids in (("openai", "p1_"), ("azure-openai", "p2_")):
        errors = found[f"portkey-gateway-dev-llm-5xx-{provider}"]
        assert next(m for m in errors["Metrics"] if "Expression" in m)["Expression"].startswith(f"100 * FILL({ids}5, 0)")
        assert errors["Threshold"] == 2
        assert {d["Value"] for m in errors["Metrics"] if "MetricStat" in m
                for d in m["MetricStat"]["Metric"]["Dimensions"] if d["Name"] == "provider"} == {provider}
        latency = found[f"portkey-gateway-dev-llm-provider-latency-{provider}"]
        assert bucket_metrics(latency) == {f"{ids}total": ("+Inf", provider), f"{ids}b10000": ("10000", provider)}
        assert provider in latency["AlarmDescription"] and "10000 ms" in latency["AlarmDescription"]
    assert bucket_metrics(found["portkey-gateway-dev-llm-provider-latency"]) == {
        "all_total": ("+Inf", None), "all_b10000": ("10000", None)}  # all providers together, always
    body = dashboard_body(template)
    for label in ("all providers: p50 (ms, bucket bound)", "all providers: p99 (ms, bucket bound)",
                  "openai: p99 (ms, bucket bound)", "azure-openai: p99 (ms, bucket bound)",
                  "openai: 5xx (% of requests)", "azure-openai: 5xx (% of requests)"):
        assert label in body, label


def test_the_dashboards_percentile_is_the_smallest_bound_holding_it(templates):
    """p99 = the smallest published bound within which 99 % of the requests were answered."""
    body = json.loads(dashboard_body(templates["minimal-dev"]))
    expressions = [m[0]["expression"] for w in body["widgets"] for m in w.get("properties", {}).get("metrics", [])
                   if isinstance(m[0], dict) and "MIN([" in m[0].get("expression", "")]
    p50, p99 = expressions
    candidates = [f"IF(FILL(all_b{b}, 0) >= 0.99 * all_total, {b}, 10000000)" for b in llm_metrics.LATENCY_BOUNDS_MS]
    # no point without requests (every bound would then "hold" the percentile, and the line would read 100)
    assert p99 == f"IF(all_total > 0, MIN([{', '.join(candidates)}]))" and "0.5 * all_total" in p50
    assert len(p99) <= 2048  # CloudWatch's MetricExpression limit (botocore's model)


@pytest.mark.parametrize("llm,message", [
    ({"provider_latency_ms": 30000}, "monitoring.llm_traffic.provider_latency_ms: 30000 is not allowed; use one of "
                                     "100, 150, 200, 350, 500, 1000, 2500, 5000, 10000, 50000, 100000, 300000"),
    ({"providers": ["openai", "openai"]}, "monitoring.llm_traffic.providers: lists openai more than once"),
    ({"providers": ["Azure OpenAI"]}, r"monitoring.llm_traffic.providers\[0\]: 'Azure OpenAI' is not a provider name"),
    ({"providers": ["a" * 31]}, r"monitoring.llm_traffic.providers\[0\]: 'a+' is not a provider name"),
    ({"providers": [f"p{i}" for i in range(31)]}, "monitoring.llm_traffic.providers: names 31 providers; .* name at most 30"),
])
def test_latency_bounds_and_provider_names_are_checked_in_one_line(llm, message):
    with pytest.raises(ConfigError, match=message) as raised:
        settings_from_dict(variant(monitoring={"llm_traffic": llm}))
    assert "\n" not in str(raised.value)


def test_no_collector_where_the_gateway_serves_no_metrics_and_a_setting_for_it_is_refused(templates):
    t = templates["nlb-tls-public"]  # ENABLE_PROMETHEUS: "false"
    assert "collector" not in [c["Name"] for c in gateway_task(t)["ContainerDefinitions"]]
    assert not [a for a in alarms(t) if "-llm-" in a]
    data = CONFIGS["nlb-tls-public"]()
    data["monitoring"] = {"llm_traffic": {"include_model": True}}
    with pytest.raises(ConfigError, match="monitoring.llm_traffic.include_model: is only used when the gateway's "
                                          "metrics are collected"):
        settings_from_dict(data)
    off, _ = synthesize("llm-off", variant(monitoring={"llm_traffic": {"enabled": False}}))
    assert [c["Name"] for c in gateway_task(off)["ContainerDefinitions"]] == ["gateway"]


def test_the_same_metrics_go_to_a_prometheus_workspace_on_request(templates, with_budgets):
    pipeline, _ = collector_pipeline(with_budgets)
    llm_metrics.validate_config(pipeline)
    assert pipeline["extensions"] == {"sigv4auth/portkey": {"region": "eu-west-1", "service": "aps"}}
    assert pipeline["service"]["extensions"] == ["sigv4auth/portkey"]
    write = pipeline["exporters"]["prometheusremotewrite/portkey"]
    assert write["endpoint"] == ("https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/"
                                 "ws-0123abcd-4567-89ef-0123-456789abcdef/api/v1/remote_write")
    assert write["auth"] == {"authenticator": "sigv4auth/portkey"}
    amp = pipeline["service"]["pipelines"]["metrics/portkey-amp"]
    # The unbounded labels are summed away for Prometheus too; its counters stay cumulative.
    assert "metricstransform/portkey" in amp["processors"] and "cumulativetodelta/portkey" not in amp["processors"]
    assert {"Action": "aps:RemoteWrite", "Effect": "Allow", "Resource": WORKSPACE} in task_role_statements(with_budgets)
    assert "extensions" not in collector_pipeline(templates["minimal-dev"])[0]
    assert not [s for s in task_role_statements(templates["minimal-dev"]) if "aps:" in json.dumps(s["Action"])]
    with pytest.raises(ConfigError, match="monitoring.llm_traffic.prometheus_workspace_arn: 'ws-1' is not an Amazon "
                                          "Managed Service for Prometheus workspace ARN"):
        settings_from_dict(variant(monitoring={"llm_traffic": {"prometheus_workspace_arn": "ws-1"}}))


def test_an_alb_environment_alarms_when_the_collector_goes_silent(templates):
    """Requests through the ALB with no LLM metrics: the collector (not essential) stopped, and every other LLM alarm
    reads missing data as fine."""
    found = alarms(templates["config-prod"])["portkey-gateway-prod-llm-metrics-missing"]
    expression = next(m for m in found["Metrics"] if "Expression" in m)["Expression"]
    assert expression == "IF(lb > 0 AND (FILL(c2, 0) + FILL(c3, 0) + FILL(c4, 0) + FILL(c5, 0)) == 0, 1, 0)"
    lb = next(m for m in found["Metrics"] if m["Id"] == "lb")["MetricStat"]
    assert (lb["Metric"]["MetricName"], lb["Stat"], found["Threshold"], found["EvaluationPeriods"]) == (
        "RequestCount", "Sum", 0, 3)
    assert "portkey-gateway-dev-llm-metrics-missing" not in alarms(templates["minimal-dev"])  # an NLB counts no requests


def test_pushed_metrics_are_accepted_and_dropped_with_traces(with_budgets):
    pipeline, _ = collector_pipeline(with_budgets)
    pushed = pipeline["service"]["pipelines"]["metrics/portkey-pushed"]
    assert pushed == {"receivers": ["otlp/portkey"], "processors": ["filter/portkey-pushed"],
                      "exporters": ["debug/portkey"]}
    assert pipeline["processors"]["filter/portkey-pushed"]["metrics"] == {"metric": ["true"]}
    assert pipeline["exporters"]["prometheusremotewrite/portkey"]["add_metric_suffixes"] is False
