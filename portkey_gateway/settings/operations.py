"""Operations settings: the dashboard, the alarms and who they notify, log retention, redeploys on secret changes."""

from __future__ import annotations

import re
from typing import Annotated, Optional

from pydantic import Field, field_validator

from ..llm_metrics import LATENCY_BOUNDS_MS
from .base import FieldProblem, Percent, RetentionDays, SettingsModel, in_range, listed_once, one_of, pattern

_AMP_WORKSPACE = re.compile(r"^arn:aws(?:-cn|-us-gov)?:aps:(?P<region>[a-z0-9-]+):\d{12}:workspace/(?P<workspace>ws-[A-Za-z0-9-]+)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_CACHE_NODE_ID = re.compile(r"^[a-z][a-z0-9-]{0,49}$")
MAX_NAMED_PROVIDERS = 30
_PROVIDER = re.compile(r"^[a-z0-9][a-z0-9._-]{0,29}$")  # 30 characters: 13 of its ids fit one metric math expression


class LlmTraffic(SettingsModel):
    """What the gateway does, from its own metrics: a collector beside each gateway task publishes them to CloudWatch
    (namespace Portkey/<project>-<environment>); the dashboard's "LLM traffic" section and three alarms read them."""

    enabled: bool = Field(
        True, description="Collect the gateway's metrics (requests, errors, latency, tokens, cost, cache) into CloudWatch; "
                          "on wherever the gateway serves them (ENABLE_PROMETHEUS not false)."
    )
    include_model: bool = Field(
        False, description="Add the model as a dimension (the gateway's PROMETHEUS_INCLUDE_MODEL_LABEL): more metrics, more cost."
    )
    interval_seconds: Annotated[int, in_range(10, 300)] = Field(60, description="Scrape interval (seconds).")
    traces: bool = Field(False, description="The gateway's OpenTelemetry traces to AWS X-Ray through the same collector.")
    trace_sampling: float = Field(0.05, gt=0, le=1, description="Share of traces kept (0 < x <= 1).")
    error_percent: Percent = Field(
        5, description="Alarm when this share (%) of the gateway's requests end in a 5xx (and of each named provider's)."
    )
    # p99 above T is exactly "fewer than 99 % of requests within T" only where T is a bound the buckets have.
    provider_latency_ms: Annotated[int, one_of(LATENCY_BOUNDS_MS)] = Field(
        50000, description="Alarm when the providers' p99 latency (and each named provider's) stays above this (ms) for "
                           f"15 minutes; one of the published bounds: {', '.join(map(str, LATENCY_BOUNDS_MS))}."
    )
    providers: list[Annotated[str, pattern(_PROVIDER, "a provider name as the gateway reports it",
                                           "use e.g. openai, anthropic, bedrock, azure-openai")]] = Field(
        default_factory=list, json_schema_extra={"maxItems": MAX_NAMED_PROVIDERS},
        description="Providers (as the gateway names them) with their own 5xx and p99 alarms and dashboard lines (at "
                    "most 30: a graph holds 500 metrics); all providers together are always watched."
    )
    hourly_budget_usd: Optional[float] = Field(None, gt=0, description="Alarm when LLM spend in an hour passes this (USD).")
    daily_budget_usd: Optional[float] = Field(None, gt=0, description="Alarm when LLM spend in a day passes this (USD).")
    prometheus_workspace_arn: Optional[Annotated[str, pattern(
        _AMP_WORKSPACE, "an Amazon Managed Service for Prometheus workspace ARN",
        "use arn:aws:aps:<region>:<account>:workspace/ws-<id>")]] = Field(
        None, description="Also write the metrics to this Amazon Managed Service for Prometheus workspace (for Grafana)."
    )

    @field_validator("providers")
    @classmethod
    def _providers_once(cls, providers: list[str]) -> list[str]:
        if len(providers) > MAX_NAMED_PROVIDERS:
            raise FieldProblem("", f"names {len(providers)} providers; a dashboard graph holds 500 metrics, and each "
                                   "named provider's p99 line reads 14", f"name at most {MAX_NAMED_PROVIDERS}")
        return listed_once(providers, "name each provider once")

    @property
    def remote_write(self) -> Optional[tuple[str, str]]:
        """(region, workspace id) of the Prometheus workspace, or None."""
        match = _AMP_WORKSPACE.match(self.prometheus_workspace_arn or "")
        return (match["region"], match["workspace"]) if match else None


LLM_ALARM_FIELDS = ("error_percent", "provider_latency_ms", "hourly_budget_usd", "daily_budget_usd")


class Monitoring(SettingsModel):
    """Day-2 observability: a CloudWatch dashboard, and alarms on the signals that mean users are hurting, which
    notify the operations SNS topic. The gateway's two health alarms (thresholds in gateway_deployment_alarms) are the
    same alarms ECS watches during deployments."""

    dashboard: bool = Field(True, description="A CloudWatch dashboard of the environment (<project>-<env>).")
    alarms: bool = Field(True, description="Alarms that notify the operations SNS topic.")
    alarm_emails: list[Annotated[str, pattern(_EMAIL, "an email address", "use e.g. oncall@example.com")]] = Field(
        default_factory=list, description="Email subscriptions to the operations topic: alarms and ECS events (with alarms on), Auto Scaling events (a cluster created here); each address must confirm."
    )
    lb_5xx_percent: float = Field(
        5, gt=0, le=100, description="Alarm when this share (%) of requests gets a 5xx from the ALB itself (502/503/504 "
                                     "without a target's answer)."
    )
    task_shortfall_minutes: Annotated[int, in_range(1, 60)] = Field(
        10, description="Alarm when a service runs fewer tasks than desired for this long."
    )
    capacity_shortfall_minutes: Annotated[int, in_range(1, 60)] = Field(
        15, description="Alarm when tasks wait this long for instances (capacity-provider reservation above 100 %)."
    )
    certificate_expiry_days: Annotated[int, in_range(1, 365)] = Field(
        30, description="Alarm when the listener's certificate expires within this many days (an imported one does not renew)."
    )
    cache_node_ids: list[Annotated[str, pattern(_CACHE_NODE_ID, "an ElastiCache node id",
                                                "use a node's id (CacheClusterId), e.g. portkey-cache-0001-001")]] = Field(
        default_factory=list, description="Nodes of an existing ElastiCache to show and watch; a cache created here is watched without this."
    )
    cache_memory_percent: Percent = Field(90, description="Alarm when a cache node uses this much of its memory (%).")
    cache_cpu_percent: Percent = Field(90, description="Alarm when a cache node's engine CPU stays above this (%).")
    llm_traffic: LlmTraffic = Field(default_factory=LlmTraffic, description="The gateway's own metrics in CloudWatch.")


class OperationsSettings(SettingsModel):
    """Day-2 operations."""

    log_retention_days: RetentionDays = Field(
        30, description="Retention of the services' log groups (days); the module hard-coded 14 (gateway, data service) and 7 (Redis)."
    )
    monitoring: Monitoring = Field(default_factory=Monitoring, description="Dashboard and alarms to the operations topic.")
    redeploy_on_secret_change: bool = Field(
        True, description="Redeploy the services that read a secret when its current version changes (rotation or a put)."
    )

    @property
    def collects_llm_metrics(self) -> bool:
        """The collector runs beside the gateway: on, and the gateway serves its metrics."""
        return self.monitoring.llm_traffic.enabled and "gateway" in self.served and self.gateway_metrics_enabled

    @property
    def llm_metrics_namespace(self) -> str:
        return f"Portkey/{self.name_prefix}"

    def _llm_traffic(self) -> None:
        """On by default, and off where the gateway serves no metrics; a choice that would do nothing is refused."""
        llm = self.monitoring.llm_traffic
        changed = [name for name in LlmTraffic.model_fields if name != "enabled" and llm.changed(name)]
        if changed and not self.collects_llm_metrics:
            raise FieldProblem(f"monitoring.llm_traffic.{changed[0]}", "is only used when the gateway's metrics are "
                               "collected (monitoring.llm_traffic.enabled, and ENABLE_PROMETHEUS not false)", "remove it")
        if not llm.traces and llm.changed("trace_sampling"):
            raise FieldProblem("monitoring.llm_traffic.trace_sampling", "is only used with traces",
                               "set monitoring.llm_traffic.traces: true, or remove it")
        alarm_only = [name for name in LLM_ALARM_FIELDS if name in changed]
        if alarm_only and not self.monitoring.alarms:
            raise FieldProblem(f"monitoring.llm_traffic.{alarm_only[0]}", "is only used by the alarms, which are off",
                               "set monitoring.alarms: true, or remove it")

    def _monitoring(self) -> None:
        """Thresholds for alarms that will not exist are refused, so a setting never silently does nothing."""
        self._llm_traffic()
        monitoring = self.monitoring
        if monitoring.alarm_emails and not (monitoring.alarms or self.create_cluster):
            raise FieldProblem("monitoring.alarm_emails", "there is no operations topic to subscribe to (no alarms, "
                               "and the cluster is not created here)", "set monitoring.alarms: true, or remove them")
        if not monitoring.alarms:
            for name in ("lb_5xx_percent", "task_shortfall_minutes", "capacity_shortfall_minutes",
                         "certificate_expiry_days", "cache_memory_percent", "cache_cpu_percent"):
                # cache_node_ids also draws the dashboard's cache section, so it is allowed without alarms
                if monitoring.changed(name):
                    raise FieldProblem(f"monitoring.{name}", "is only used by the alarms, which are off",
                                       "set monitoring.alarms: true, or remove it")
            return
        redis = self.redis_configuration
        if monitoring.cache_node_ids and (redis.redis_type != "aws-elastic-cache" or redis.create):
            raise FieldProblem("monitoring.cache_node_ids", "names the nodes of an existing ElastiCache, and there is none "
                               "(a cache created here is watched without it)", "remove it")
        if monitoring.cache_node_ids and not (monitoring.dashboard or monitoring.alarms):
            raise FieldProblem("monitoring.cache_node_ids", "is only used by the dashboard and the alarms, which are off",
                               "turn one on, or remove it")
        watched_cache = bool(redis.create or monitoring.cache_node_ids)
        alb = self.create_lb and self.lb_type == "application"
        rules = (("lb_5xx_percent", alb, "there is no ALB (an NLB sees TCP, not HTTP status codes)", "remove it"),
                 ("capacity_shortfall_minutes", self.create_cluster, "the capacity provider is not created here",
                  "remove it, or set create_cluster: true"),
                 ("certificate_expiry_days", self.create_lb and bool(self.tls_certificate_arn or self.custom_domain),
                  "there is no TLS listener", "remove it, or set tls_certificate_arn (or custom_domain)"),
                 ("cache_memory_percent", watched_cache, "no cache is watched", "remove it, or list cache_node_ids"),
                 ("cache_cpu_percent", watched_cache, "no cache is watched", "remove it, or list cache_node_ids"))
        for name, applies, problem, fix in rules:
            if monitoring.changed(name) and not applies:
                raise FieldProblem(f"monitoring.{name}", problem, fix)
