"""LLM traffic in CloudWatch: where the collector beside each gateway task writes, what it may do, and the figures
the dashboard and alarms read from the metrics it publishes (`llm_metrics.py` holds the mapping and the collector's
configuration; `specs.llm_metrics_collector` the container).

The collector (the CloudWatch agent) writes the metrics as CloudWatch embedded metric format into one log group,
from which CloudWatch extracts them into the namespace `Portkey/<project>-<environment>`. Provider names are not
known before deploy, so the per-provider graphs use SEARCH expressions (dashboards only); the alarms read the
rollups without a provider (`service`, `status_class`), which exist whatever the providers are.

Histograms arrive as counts and sums (the collector's `awsemf` exporter sends no buckets): latencies are averages.
"""

from __future__ import annotations

from typing import Optional

import cdk_monitoring_constructs as monitoring
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from ..compliance import acknowledge
from ..settings import LlmTraffic
from .service import EcsService, retention_days

MINUTE, HOUR, DAY = Duration.minutes(1), Duration.hours(1), Duration.days(1)
SERVICE = {"service": "gateway"}
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")
# The agent's X-Ray exporter (OpenTelemetry awsxray): segments and its own telemetry; no resource-level permissions.
XRAY_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")


class LlmMetricsCollector(Construct):
    """The log group the collector writes to, and the gateway task role's permissions for it (and X-Ray with
    traces). Exposes `log_group`."""

    def __init__(self, scope: Construct, construct_id: str, *, gateway: EcsService, log_group_name: str,
                 log_retention_days: int, traces: bool, prometheus_workspace_arn: Optional[str] = None):
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(self, "Logs", log_group_name=log_group_name,
                                       retention=retention_days(log_retention_days), removal_policy=RemovalPolicy.RETAIN)
        role = gateway.task_role
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[self.log_group.log_group_arn]))
        if prometheus_workspace_arn:  # remote write to Amazon Managed Service for Prometheus, that one workspace
            role.add_to_principal_policy(iam.PolicyStatement(actions=["aps:RemoteWrite"],
                                                             resources=[prometheus_workspace_arn]))
        if traces:
            role.add_to_principal_policy(iam.PolicyStatement(actions=list(XRAY_ACTIONS), resources=["*"]))
            acknowledge(role, "AwsSolutions-IAM5[Resource::*]",
                        "xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions "
                        "(Service Authorization Reference); the task sends its own traces only")


def _metric(namespace: str, name: str, statistic: str, period: Duration, label: str, **dimensions: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(namespace=namespace, metric_name=name, statistic=statistic, period=period, label=label,
                             dimensions_map={**SERVICE, **dimensions})


def _search(namespace: str, dimensions: str, name: str, statistic: str, period: Duration) -> cloudwatch.MathExpression:
    """Every series of `name` with exactly these dimensions (one per provider, status class, ...), each labelled by
    CloudWatch with its dimension values (an empty label)."""
    seconds = int(period.to_seconds())
    # Names with characters other than letters and digits are double-quoted (CloudWatch search expression syntax).
    schema = ",".join(f'"{part}"' for part in (namespace, *dimensions.split(",")))
    query = f"{{{schema}}} MetricName=\"{name}\" service=\"gateway\""
    return cloudwatch.MathExpression(expression=f"SEARCH('{query}', '{statistic}', {seconds})", using_metrics={},
                                     period=period, label="")


def _request_counts(namespace: str, period: Duration) -> dict[str, cloudwatch.Metric]:
    return {f"c{status[0]}": _metric(namespace, "request_count", "Sum", period, status, status_class=status)
            for status in STATUS_CLASSES}


def error_share(namespace: str, period: Duration = Duration.minutes(5)) -> cloudwatch.MathExpression:
    """The share (%) of the gateway's requests answered 5xx (a provider's error, or the gateway's own)."""
    counts = _request_counts(namespace, period)
    total = " + ".join(f"FILL({key}, 0)" for key in counts)
    return cloudwatch.MathExpression(expression=f"100 * FILL(c5, 0) / ({total})", using_metrics=counts, period=period,
                                     label="5xx (% of requests)")


def provider_latency(namespace: str) -> cloudwatch.Metric:
    return _metric(namespace, "llm_request_duration_milliseconds", "Average", Duration.minutes(5),
                   "provider latency (average, ms)")


def spend(namespace: str, period: Duration, label: str) -> cloudwatch.Metric:
    return _metric(namespace, "llm_cost_sum", "Sum", period, label)


def dashboard_groups(namespace: str) -> list[monitoring.CustomMetricGroup]:
    """The "LLM traffic" section: what each provider is asked, how it answers, how slow, what it costs."""
    cache_share = cloudwatch.MathExpression(
        expression="100 * FILL(hit, 0) / (FILL(hit, 0) + FILL(miss, 0))", period=Duration.minutes(5),
        label="cache hits (% of cacheable requests)",
        using_metrics={status: _metric(namespace, "request_count", "Sum", Duration.minutes(5), status, cacheStatus=status)
                       for status in ("hit", "miss")})
    return [
        monitoring.CustomMetricGroup(title="Requests by provider and status class", metrics=[
            _search(namespace, "service,provider,status_class", "request_count", "Sum", MINUTE)]),
        monitoring.CustomMetricGroup(title="Errors (5xx, % of requests)", metrics=[error_share(namespace)]),
        monitoring.CustomMetricGroup(title="Provider latency by provider (average, ms)", metrics=[
            _search(namespace, "service,provider", "llm_request_duration_milliseconds", "Average", Duration.minutes(5))]),
        monitoring.CustomMetricGroup(title="Gateway overhead (average, ms)", metrics=[
            _metric(namespace, "portkey_processing_time_excluding_last_byte_ms", "Average", Duration.minutes(5),
                    "gateway processing, excluding the last byte")]),
        monitoring.CustomMetricGroup(title="Tokens per minute by provider", metrics=[
            _search(namespace, "service,provider", "llm_token_sum", "Sum", MINUTE)]),
        monitoring.CustomMetricGroup(title="Cost (USD) per hour and per day", metrics=[
            spend(namespace, HOUR, "per hour"), spend(namespace, DAY, "per day")]),
        monitoring.CustomMetricGroup(title="Cache hits (% of cacheable requests)", metrics=[cache_share]),
    ]


def collector_silent(namespace: str, lb_requests: cloudwatch.IMetric) -> cloudwatch.MathExpression:
    """1 while the load balancer passes requests and the gateway's request counts are missing: the collector stopped
    (it is not essential, so the gateway keeps serving), and every other LLM alarm would read "no data" as fine."""
    counts = _request_counts(namespace, Duration.minutes(5))
    total = " + ".join(f"FILL({key}, 0)" for key in counts)
    return cloudwatch.MathExpression(expression=f"IF(lb > 0 AND ({total}) == 0, 1, 0)",
                                     using_metrics={"lb": lb_requests, **counts}, period=Duration.minutes(5),
                                     label="requests with no LLM metrics")


def alarm_specs(namespace: str, config: LlmTraffic, lb_requests: Optional[cloudwatch.IMetric] = None,
                ) -> list[tuple[cloudwatch.IMetric, str, str, str, float, int]]:
    """(metric, construct id, name, description, threshold, periods) of each LLM alarm the settings ask for; with
    the ALB's request count, also the collector's silence."""
    specs = [
        (error_share(namespace), "LlmErrors", "llm-5xx",
         f"More than {config.error_percent} % of the gateway's requests ended in a 5xx for 15 minutes (providers "
         "failing, or the gateway)", config.error_percent, 3),
        (provider_latency(namespace), "LlmProviderLatency", "llm-provider-latency",
         f"Providers have answered in more than {config.provider_latency_ms} ms on average for 15 minutes",
         config.provider_latency_ms, 3),
    ]
    for budget, period, construct_id, name, what in (
            (config.hourly_budget_usd, HOUR, "LlmSpendHourly", "llm-spend-hourly", "an hour"),
            (config.daily_budget_usd, DAY, "LlmSpendDaily", "llm-spend-daily", "a day")):
        if budget is not None:
            specs.append((spend(namespace, period, f"spend in {what}"), construct_id, name,
                          f"LLM spend passed {budget:g} USD in {what} (the gateway's cost figures)", budget, 1))
    if lb_requests is not None:
        specs.append((collector_silent(namespace, lb_requests), "LlmMetricsMissing", "llm-metrics-missing",
                      "The load balancer has passed requests for 15 minutes with no LLM metrics: the collector beside "
                      "the gateway stopped (its log stream gateway-collector/... says why); redeploy the gateway", 0, 3))
    return specs

