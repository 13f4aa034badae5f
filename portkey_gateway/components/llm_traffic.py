"""LLM traffic in CloudWatch: where the collector beside each gateway task writes, what it may do, and the figures
the dashboard and alarms read from the metrics it publishes (`llm_metrics.py` holds the mapping and the collector's
configuration; `specs.llm_metrics_collector` the container).

The collector (the CloudWatch agent) writes the metrics as CloudWatch embedded metric format into one log group,
from which CloudWatch extracts them into the namespace `Portkey/<project>-<environment>`. Provider names are not
known before deploy, so the per-provider graphs use SEARCH expressions (dashboards only: an alarm cannot use SEARCH,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-search-expressions.html); the alarms read the
rollups without a provider (`service`, `status_class`), which exist whatever the providers are, and those of the
providers the settings name.

Latency percentiles come from the request counts at the published bucket bounds (`llm_metrics.LATENCY_BOUNDS_MS`):
p99 above T ms is exactly "more than 1 % of requests slower than T" at a bound T, which is what the alarm watches;
the dashboard's p50 and p99 are the bound of the bucket that holds the percentile (an upper bound, as Prometheus's
buckets allow without interpolation).
"""

from __future__ import annotations

import functools
from typing import Optional

import cdk_monitoring_constructs as monitoring
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from ..compliance import acknowledge
from ..llm_metrics import ALL_REQUESTS, LATENCY_BOUNDS_MS, PROVIDER_LATENCY_BUCKETS
from ..settings import LlmTraffic
from .service import EcsService, retention_days

MINUTE, FIVE_MINUTES, HOUR, DAY = Duration.minutes(1), Duration.minutes(5), Duration.hours(1), Duration.days(1)
# What the dashboard's percentile shows when it lies above the last published bound (Portkey's own last finite bound).
BEYOND_LAST_BOUND_MS = 10_000_000
P99_MINIMUM_REQUESTS = 100  # a p99 of fewer requests is one request's latency
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


@functools.lru_cache(maxsize=None)
def _metric(namespace: str, name: str, statistic: str, period: Duration, label: str, **dimensions: str) -> cloudwatch.Metric:
    """A metric of the gateway's (a value, shared by every graph and alarm that reads it: the p50 and p99 lines read
    the same 13 bucket counts)."""
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


def _request_counts(namespace: str, period: Duration, provider: Optional[str] = None, ids: str = "c",
                    ) -> dict[str, cloudwatch.Metric]:
    return {f"{ids}{status[0]}": _metric(namespace, "request_count", "Sum", period, status, status_class=status,
                                            **_for(provider)) for status in STATUS_CLASSES}


def _for(provider: Optional[str]) -> dict[str, str]:
    return {"provider": provider} if provider else {}


ALL = "all_"  # the id prefix of all providers' metrics; a named provider's is p<position>_


def error_share(namespace: str, period: Duration = FIVE_MINUTES, provider: Optional[str] = None, ids: str = ALL,
                ) -> cloudwatch.MathExpression:
    """The share (%) of the gateway's requests (or one provider's) answered 5xx (a provider's error, or the
    gateway's own). `ids` prefixes the metric ids: a graph holds several providers' expressions, and ids are unique
    within a graph."""
    counts = _request_counts(namespace, period, provider, ids)
    total = " + ".join(f"FILL({key}, 0)" for key in counts)
    return cloudwatch.MathExpression(expression=f"100 * FILL({ids}5, 0) / ({total})", using_metrics=counts,
                                     period=period, label=f"{provider or 'all providers'}: 5xx (% of requests)")


def _within(namespace: str, bound, provider: Optional[str]) -> cloudwatch.Metric:
    """Requests answered within `bound` ms (all of them at "+Inf"), per period."""
    return _metric(namespace, PROVIDER_LATENCY_BUCKETS, "Sum", FIVE_MINUTES, f"within {bound} ms", le=str(bound),
                   **_for(provider))


def slower_share(namespace: str, bound_ms: int, provider: Optional[str] = None, ids: str = ALL,
                 ) -> cloudwatch.MathExpression:
    """The share (%) of provider requests slower than `bound_ms`: above 1 exactly when the p99 is above it. Nothing
    below P99_MINIMUM_REQUESTS requests in the period (one slow request in 20 is 5 %, and says nothing of a p99)."""
    return cloudwatch.MathExpression(
        expression=f"IF({ids}total >= {P99_MINIMUM_REQUESTS}, 100 * ({ids}total - FILL({ids}b{bound_ms}, 0)) / "
                   f"{ids}total)", period=FIVE_MINUTES,
        using_metrics={f"{ids}total": _within(namespace, ALL_REQUESTS, provider),
                       f"{ids}b{bound_ms}": _within(namespace, bound_ms, provider)},
        label=f"{provider or 'all providers'}: slower than {bound_ms} ms (% of requests)")


def latency_percentile(namespace: str, percent: int, provider: Optional[str] = None, ids: str = ALL,
                       ) -> cloudwatch.MathExpression:
    """The bound of the bucket holding the `percent`th percentile of provider latency (ms): the smallest bound within
    which at least `percent` % of the requests were answered (metric math's MIN over an array of time series is one
    time series, their minimum at each point; BEYOND_LAST_BOUND_MS where no published bound holds it; no point where
    there were no requests, when every bound would hold it)."""
    within = {f"{ids}b{bound}": _within(namespace, bound, provider) for bound in LATENCY_BOUNDS_MS}
    candidates = ", ".join(f"IF(FILL({key}, 0) >= {percent / 100:g} * {ids}total, {bound}, {BEYOND_LAST_BOUND_MS})"
                           for key, bound in zip(within, LATENCY_BOUNDS_MS))
    return cloudwatch.MathExpression(
        expression=f"IF({ids}total > 0, MIN([{candidates}]))", period=FIVE_MINUTES,
        using_metrics={f"{ids}total": _within(namespace, ALL_REQUESTS, provider), **within},
        label=f"{provider or 'all providers'}: p{percent} (ms, bucket bound)")


def spend(namespace: str, period: Duration, label: str) -> cloudwatch.Metric:
    return _metric(namespace, "llm_cost_sum", "Sum", period, label)


def _named(providers: list[str]) -> list[tuple[str, str]]:
    """(provider, id prefix) of each named provider, the prefix from its position (names may differ only in - . _)."""
    return [(provider, f"p{position}_") for position, provider in enumerate(providers, 1)]


def dashboard_groups(namespace: str, providers: tuple[str, ...] = ()) -> list[monitoring.CustomMetricGroup]:
    """The "LLM traffic" section: what each provider is asked, how it answers, how slow, what it costs; the named
    `providers` get their own error share and p99 lines."""
    cache_share = cloudwatch.MathExpression(
        expression="100 * FILL(hit, 0) / (FILL(hit, 0) + FILL(miss, 0))", period=FIVE_MINUTES,
        label="cache hits (% of cacheable requests)",
        using_metrics={status: _metric(namespace, "request_count", "Sum", FIVE_MINUTES, status, cacheStatus=status)
                       for status in ("hit", "miss")})
    return [
        monitoring.CustomMetricGroup(title="Requests by provider and status class", metrics=[
            _search(namespace, "service,provider,status_class", "request_count", "Sum", MINUTE)]),
        monitoring.CustomMetricGroup(title="Errors (5xx, % of requests)", metrics=[
            error_share(namespace), *(error_share(namespace, provider=p, ids=ids) for p, ids in _named(providers))]),
        monitoring.CustomMetricGroup(title="Provider latency p50 and p99 (ms, bucket bound)", metrics=[
            latency_percentile(namespace, 50), latency_percentile(namespace, 99),
            *(latency_percentile(namespace, 99, p, ids) for p, ids in _named(providers))]),
        monitoring.CustomMetricGroup(title="Provider latency by provider (average, ms)", metrics=[
            _search(namespace, "service,provider", "llm_request_duration_milliseconds", "Average", FIVE_MINUTES)]),
        monitoring.CustomMetricGroup(title="Gateway overhead (average, ms)", metrics=[
            _metric(namespace, "portkey_processing_time_excluding_last_byte_ms", "Average", FIVE_MINUTES,
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
    counts = _request_counts(namespace, FIVE_MINUTES)
    total = " + ".join(f"FILL({key}, 0)" for key in counts)
    return cloudwatch.MathExpression(expression=f"IF(lb > 0 AND ({total}) == 0, 1, 0)",
                                     using_metrics={"lb": lb_requests, **counts}, period=FIVE_MINUTES,
                                     label="requests with no LLM metrics")


def alarm_specs(namespace: str, config: LlmTraffic, lb_requests: Optional[cloudwatch.IMetric] = None,
                ) -> list[tuple[cloudwatch.IMetric, str, str, str, float, int]]:
    """(metric, construct id, name, description, threshold, periods) of each LLM alarm the settings ask for: 5xx share
    and p99 latency of all providers and of each named one, the spend budgets; with the ALB's request count, also the
    collector's silence."""
    specs = []
    for provider, ids in ((None, ALL), *_named(config.providers)):
        who = f"{provider}'s" if provider else "the gateway's"
        suffix = f"-{provider}" if provider else ""  # all providers: the names and construct ids as before
        specs += [
            (error_share(namespace, provider=provider, ids=ids), f"LlmErrors{suffix}", f"llm-5xx{suffix}",
             f"More than {config.error_percent} % of {who} requests ended in a 5xx for 15 minutes"
             + ("" if provider else " (providers failing, or the gateway)"), config.error_percent, 3),
            (slower_share(namespace, config.provider_latency_ms, provider, ids), f"LlmProviderLatency{suffix}",
             f"llm-provider-latency{suffix}",
             f"The p99 latency of {provider or 'the providers'} has been above {config.provider_latency_ms} ms for "
             f"15 minutes (more than 1 % of requests slower; judged from {P99_MINIMUM_REQUESTS} requests in 5 "
             "minutes)", 1, 3),
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

