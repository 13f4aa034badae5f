"""LLM traffic in CloudWatch: which of the gateway's Prometheus metrics a sidecar collector publishes, with which units
and dimensions, the collector's configuration, and a Python reference of the same mapping (issue 18). No CDK here.

The collector is the CloudWatch agent, run as an OpenTelemetry Collector: this module writes the OpenTelemetry
configuration the agent appends to its own (in a container it reads it from `CW_OTEL_CONFIG_CONTENT`), with
`prometheus` receiver -> `transform` / `metricstransform` / `cumulativetodelta` -> `awsemf` exporter, and for traces
`otlp` receiver -> `probabilistic_sampler` -> `awsxray` exporter. Why, from AWS's current documentation:

- AWS calls the CloudWatch agent "the recommended path" for OpenTelemetry into CloudWatch "for most customers"
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-OTLPGettingStarted.html), and lists the
  components an appended OpenTelemetry configuration may use, `transform` among them
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-OTLPCloudWatchAgent.html).
- `transform` decides it: Portkey's `llm_cost_sum` and `llm_token_sum` are gauges that only grow. Only
  `convert_gauge_to_sum` turns them into counters whose increments CloudWatch can add up across tasks (cost per
  hour, tokens per minute, the spend alarm). The AWS Distro for OpenTelemetry collector has every other component
  used here, but not `transform` (https://github.com/aws-observability/aws-otel-collector/issues/2300; its v0.49.0
  component table). Nothing announces its end of support; it stays the fallback, without cost and token rates.
- Not the agent's classic Prometheus mode (`logs.metrics_collected.prometheus` with `emf_processor`): it drops
  histograms (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/ContainerInsights-Prometheus-metrics-conversion.html),
  and every Portkey latency figure is a histogram.
- Traces: the X-Ray daemon and SDKs are in maintenance since 2026-02-25, end of support 2027-02-25; AWS points to
  OpenTelemetry through the CloudWatch agent or a collector
  (https://docs.aws.amazon.com/xray/latest/devguide/xray-daemon-eos.html). The gateway pushes OTLP/HTTP to the
  sidecar on localhost (awsvpc: one network namespace per task); `awsxray` sends it on.

What CloudWatch gets: one metric per Portkey metric, dimensions from a small fixed set (`DIMENSIONS`; `model` only on
request), status classes (2xx/4xx/5xx) instead of status codes, increments per scrape interval. Histograms arrive as
statistic sets (SampleCount, Sum): averages and counts. `awsemf` writes a classic (explicit-bucket) histogram as a
statistic set only (exporter/awsemfexporter/datapoint.go, `histogramDataPointSlice`: Count, Sum, Min, Max; Values and
Counts only for exponential histograms), so CloudWatch cannot take its percentiles. For the provider latency the
collector therefore reads the page a second time, keeps only the bucket series at `LATENCY_BOUNDS_MS` and renames them
`PROVIDER_LATENCY_BUCKETS` (no `# TYPE` line names it: the receiver reads it as a gauge, keeping `le`), published as request counts per bound: the share of
requests at or under a bound is exact, so "p99 above T ms" is exactly "under 99 % of requests within T ms" when T is
a bound, and p50/p99 read off the bounds (the upper bound of the bucket holding the percentile, as Prometheus's
buckets allow without interpolation).
"""

from __future__ import annotations

import decimal
import math
import re
from dataclasses import dataclass

import yaml

# The pinned sidecar: agent 1.300071.0 of 2026-07-22 (its RELEASE_NOTES); public ECR tags carry a build suffix and no
# "v". Its Dockerfile builds per TARGETARCH (amd64, arm64); the tag's arm64 manifest was not checked from here.
COLLECTOR_IMAGE = "public.ecr.aws/cloudwatch-agent/cloudwatch-agent:1.300071.0b1720"
COLLECTOR_MEMORY_MIB = 256  # hard limit, which memory_limiter's percentages are taken of
COLLECTOR_MEMORY_RESERVATION_MIB = 128
OTEL_CONFIG_ENV = "CW_OTEL_CONFIG_CONTENT"  # read by the agent in a container (cmd/amazon-cloudwatch-agent/merge.go)
AGENT_CONFIG_ENV = "CW_CONFIG_CONTENT"  # the agent's own JSON (documented for ECS)
OTLP_HTTP_PORT = 4318
SUFFIX = "portkey"  # AWS asks for a suffix on every appended component, so none collides with the agent's own

SERVICE = "service"  # written by the scrape job: the gateway's and the data service's figures stay apart
STATUS_CODE = "code"
STATUS_CLASS = "status_class"
# One relabel rule per class, each writing a literal: no `${1}` in the configuration, which the collector would expand
# as an environment variable and CloudFormation's validator reads as a substitution (E1029).
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
MODEL = "model"
DIMENSIONS = (SERVICE, "provider", STATUS_CLASS, "endpoint", "stream", "cacheStatus")
BOUND = "le"  # Prometheus's bucket label: the bucket counts requests at or under this many milliseconds

# The provider-latency buckets published, from Portkey's fixed bounds for llm_request_duration_milliseconds (0.1 ms to
# 10,000,000 ms, Portkey-AI/gateway src/apm/prometheus/prometheusClient.ts), from 100 ms up to 5 minutes: below 100 ms
# no provider answers, above 5 minutes nothing is worth a separate line. "+Inf" counts every request.
LATENCY_BOUNDS_MS = (100, 150, 200, 350, 500, 1000, 2500, 5000, 10000, 50000, 100000, 300000)
ALL_REQUESTS = "+Inf"
LATENCY_HISTOGRAM = "llm_request_duration_milliseconds"
PROVIDER_LATENCY_BUCKETS = "llm_request_duration_milliseconds_le"  # not *_bucket: the receiver would rebuild the histogram
BUCKETS_JOB = "latency-buckets"  # the second scrape job of each target, for PROVIDER_LATENCY_BUCKETS

# Labels Portkey puts on every custom metric (docs-core self-hosting/prometheus-metrics.mdx; payloadSizeRange from
# Portkey-AI/gateway src/apm/prometheus/prometheusClient.ts). app/env/method/source/payloadSizeRange are summed away
# as useless here; `code` is replaced by its class.
PORTKEY_LABELS = ("app", "env", "method", "endpoint", "code", "provider", "model", "source", "stream", "cacheStatus",
                  "config_name", "api_key_name", "payloadSizeRange")
# Never a dimension: unbounded names and ids (config slugs, API key names, request metadata such as user, workspace or
# organisation ids, anything ending in _id), and the per-code, per-bucket and per-quantile labels.
NEVER_DIMENSIONS = re.compile(r"^(config_name|api_key_name|metadata_.*|.*_id|code|le|quantile)$")

# CloudWatch units an EMF metric descriptor accepts; others are dropped silently by awsemf (config.go,
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricDatum.html).
CLOUDWATCH_UNITS = frozenset((
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes", "Bits",
    "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second",
    "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
    "Gigabits/Second", "Terabits/Second", "Count/Second", "None"))


@dataclass(frozen=True)
class LlmMetric:
    """A Portkey metric as CloudWatch gets it: every metric has the full dimension set, plus the `rollups` the
    dashboard and alarms read (an alarm cannot add up dimension values it does not know)."""

    name: str
    kind: str  # "counter", "gauge" (only grows: published like a counter), "histogram", or "buckets" (see above)
    unit: str  # CloudWatch unit
    rollups: tuple[tuple[str, ...], ...] = ((SERVICE,),)
    by_model: bool = False  # with include_model, also (service, provider, model)

    @property
    def scraped(self) -> bool:
        """A metric the gateway serves under this name (the bucket counts are renamed in the scrape)."""
        return self.kind != "buckets"


METRICS = (
    LlmMetric("request_count", "counter", "Count",
              ((SERVICE, "provider", STATUS_CLASS), (SERVICE, STATUS_CLASS), (SERVICE, "cacheStatus")), by_model=True),
    LlmMetric("http_request_duration_seconds", "histogram", "Seconds"),
    LlmMetric("llm_request_duration_milliseconds", "histogram", "Milliseconds", ((SERVICE, "provider"), (SERVICE,))),
    LlmMetric("portkey_processing_time_excluding_last_byte_ms", "histogram", "Milliseconds"),
    LlmMetric("llm_last_byte_diff_duration_milliseconds", "histogram", "Milliseconds", ((SERVICE, "provider"),)),
    LlmMetric("portkey_request_duration_milliseconds", "histogram", "Milliseconds"),
    LlmMetric("llm_cost_sum", "gauge", "None", ((SERVICE, "provider"), (SERVICE,)), by_model=True),  # USD
    LlmMetric("llm_token_sum", "gauge", "Count", ((SERVICE, "provider"), (SERVICE,)), by_model=True),
    LlmMetric("authentication_duration_milliseconds", "histogram", "Milliseconds"),
    LlmMetric("api_key_rate_limit_check_duration_milliseconds", "histogram", "Milliseconds"),
    LlmMetric("llm_cache_processing_duration_milliseconds", "histogram", "Milliseconds", ((SERVICE, "cacheStatus"),)),
    # Only the rollups: with every dimension, each bound would multiply the metric count by 13.
    LlmMetric(PROVIDER_LATENCY_BUCKETS, "buckets", "Count", ((SERVICE, "provider", BOUND), (SERVICE, BOUND))),
)
METRIC_NAMES = tuple(m.name for m in METRICS)
SCRAPED_NAMES = tuple(m.name for m in METRICS if m.scraped)
_BY_NAME = {m.name: m for m in METRICS}


def dimension_labels(include_model: bool) -> tuple[str, ...]:
    """The labels kept on every metric; all others are summed away before CloudWatch sees them."""
    return DIMENSIONS + ((MODEL,) if include_model else ())


def labels_kept(metric: LlmMetric, include_model: bool) -> tuple[str, ...]:
    """The labels `metric` keeps: the dimension set, or for the bucket counts their widest rollup."""
    return metric.rollups[0] if metric.kind == "buckets" else dimension_labels(include_model)


def dimension_sets(metric: LlmMetric, include_model: bool) -> list[list[str]]:
    if metric.kind == "buckets":
        return [list(r) for r in metric.rollups]
    sets = [list(dimension_labels(include_model)), *(list(r) for r in metric.rollups)]
    if include_model and metric.by_model:
        sets.append([SERVICE, "provider", MODEL])
    return sets


def _name_regex() -> str:
    """Prometheus relabel regex (anchored by Prometheus) that keeps the listed metrics and their histogram series."""
    return f"({'|'.join(SCRAPED_NAMES)})(_bucket|_sum|_count)?"


# The bounds as the dimension `le` carries them in CloudWatch: as the gateway writes them (JavaScript prints these
# integers as they are). The collector's scraper (Prometheus 3, v0.300.1 in agent 1.300071.0's go.mod) rewrites a
# histogram's `le` to the OpenMetrics form before any relabel rule sees it ("100" becomes "100.0":
# model/textparse/promparse.go, normalizeFloatsInLabelValues; docs/migration.md), Prometheus 2 did not: the bucket job
# accepts both and writes the gateway's form back, one literal rule per bound, so either reading gives these values.
PUBLISHED_BOUNDS = (*map(str, LATENCY_BOUNDS_MS), ALL_REQUESTS)


def _duration(seconds: int) -> str:
    return f"{seconds}s"


def collector_config(namespace: str, targets: list[tuple[str, int, str]], interval_seconds: int, include_model: bool,
                     traces: bool, sampling: float, *, region: str | None = None, log_group_name: str | None = None,
                     otlp_port: int = OTLP_HTTP_PORT, remote_write: tuple[str, str] | None = None) -> dict:
    """The OpenTelemetry configuration of the sidecar: scrape each (job name, port, metrics path) on localhost every
    `interval_seconds`, publish to CloudWatch `namespace` through EMF; with `traces`, receive OTLP/HTTP on
    localhost:`otlp_port` and send `sampling` (0 < sampling <= 1) of the traces to X-Ray; with `remote_write`
    (region, workspace id), also write the same metrics, still cumulative, to Amazon Managed Service for Prometheus."""
    if not namespace or not targets:
        raise ValueError("collector_config: a namespace and at least one scrape target are required")
    if interval_seconds < 1:
        raise ValueError(f"collector_config: interval_seconds must be positive, not {interval_seconds}")
    if traces and not 0 < sampling <= 1:
        raise ValueError(f"collector_config: sampling is a ratio in (0, 1], not {sampling}")
    aws = {"region": region} if region else {}
    def job(name: str, port: int, path: str, service: str, metric_rules: list[dict]) -> dict:
        return {"job_name": name, "scrape_interval": _duration(interval_seconds),
                "scrape_timeout": _duration(min(10, interval_seconds)), "metrics_path": path,
                "static_configs": [{"targets": [f"localhost:{port}"]}],
                "relabel_configs": [{"target_label": SERVICE, "replacement": service}],
                "metric_relabel_configs": metric_rules}

    scrape_configs = []
    for name, port, path in targets:
        scrape_configs.append(job(name, port, path, name, [
            {"source_labels": ["__name__"], "regex": _name_regex(), "action": "keep"},
            *({"source_labels": [STATUS_CODE], "regex": f"{status[0]}\\d\\d", "target_label": STATUS_CLASS,
               "replacement": status, "action": "replace"} for status in STATUS_CLASSES)]))
        # The same page read a second time for the provider latency's buckets at the published bounds, renamed: in
        # the first job they stay whole, so the histogram (average, and Prometheus's own quantiles) is untouched.
        bounds = "|".join(map(str, LATENCY_BOUNDS_MS))
        scrape_configs.append(job(f"{name}-{BUCKETS_JOB}", port, path, name, [
            {"source_labels": ["__name__", BOUND], "separator": ";", "action": "keep",
             "regex": f"{LATENCY_HISTOGRAM}_bucket;(({bounds})(\\.0)?|{re.escape(ALL_REQUESTS)})"},
            *({"source_labels": [BOUND], "regex": f"{bound}\\.0", "target_label": BOUND, "replacement": str(bound),
               "action": "replace"} for bound in LATENCY_BOUNDS_MS),
            {"target_label": "__name__", "replacement": PROVIDER_LATENCY_BUCKETS, "action": "replace"}]))
    growing = [m.name for m in METRICS if m.kind in ("gauge", "buckets")]
    config: dict = {
        "receivers": {f"prometheus/{SUFFIX}": {"config": {"scrape_configs": scrape_configs}}},
        "processors": {
            f"memory_limiter/{SUFFIX}": {"check_interval": "1s", "limit_percentage": 80, "spike_limit_percentage": 25},
            # Running totals become monotonic cumulative sums, so cumulativetodelta turns them into increments.
            f"transform/{SUFFIX}": {"error_mode": "ignore", "metric_statements": [{
                "context": "metric",
                "statements": [f'convert_gauge_to_sum("cumulative", true) where name == "{n}"' for n in growing],
            }]},
            # Summing over every other label keeps the totals and drops the unbounded labels. (labeldrop in the scrape
            # would not: series that differ only in a dropped label collide, and the receiver keeps one of them.)
            f"metricstransform/{SUFFIX}": {"transforms": [{
                "include": f"^({'|'.join(m.name for m in group)})$", "match_type": "regexp", "action": "update",
                "operations": [{"action": "aggregate_labels", "label_set": list(labels), "aggregation_type": "sum"}],
            } for labels, group in _by_labels_kept(include_model)]},
            # keep: the sidecar starts with the gateway, so a first value is all since the process began.
            f"cumulativetodelta/{SUFFIX}": {"initial_value": "keep",
                                            "include": {"metrics": list(METRIC_NAMES), "match_type": "strict"}},
            f"batch/{SUFFIX}-metrics": {"timeout": "10s"},
        },
        "exporters": {f"awsemf/{SUFFIX}": {
            **aws,
            "namespace": namespace,
            "log_group_name": log_group_name or f"/llm-metrics/{namespace}",
            "log_stream_name": "portkey-gateway",
            "dimension_rollup_option": "NoDimensionRollup",
            "resource_to_telemetry_conversion": {"enabled": False},
            "metric_declarations": [{"dimensions": dimension_sets(m, include_model),
                                     "metric_name_selectors": [f"^{m.name}$"]} for m in METRICS],
            "metric_descriptors": [{"metric_name": m.name, "unit": m.unit, "overwrite": True} for m in METRICS],
        }},
        "service": {"pipelines": {f"metrics/{SUFFIX}": {
            "receivers": [f"prometheus/{SUFFIX}"],
            "processors": [f"memory_limiter/{SUFFIX}", f"transform/{SUFFIX}", f"metricstransform/{SUFFIX}",
                           f"cumulativetodelta/{SUFFIX}", f"batch/{SUFFIX}-metrics"],
            "exporters": [f"awsemf/{SUFFIX}"],
        }}},
    }
    if traces:
        config["receivers"][f"otlp/{SUFFIX}"] = {"protocols": {"http": {"endpoint": f"localhost:{otlp_port}"}}}
        config["processors"][f"probabilistic_sampler/{SUFFIX}"] = {"sampling_percentage": round(sampling * 100, 6)}
        config["processors"][f"batch/{SUFFIX}-traces"] = {"timeout": "1s", "send_batch_size": 50}
        config["exporters"][f"awsxray/{SUFFIX}"] = dict(aws)
        config["service"]["pipelines"][f"traces/{SUFFIX}"] = {
            "receivers": [f"otlp/{SUFFIX}"],
            "processors": [f"memory_limiter/{SUFFIX}", f"probabilistic_sampler/{SUFFIX}", f"batch/{SUFFIX}-traces"],
            "exporters": [f"awsxray/{SUFFIX}"],
        }
        # OTEL_PUSH_ENABLED also pushes metrics (portkey-runtime.md section 7): accepted and dropped (the scrape has
        # them already; a receiver without a metrics pipeline would refuse them on every interval). The agent's
        # documented exporters have no null one: `debug`, quiet, after a filter that keeps nothing.
        config["processors"][f"filter/{SUFFIX}-pushed"] = {"error_mode": "ignore",
                                                           "metrics": {"metric": ["true"]}}
        config["exporters"][f"debug/{SUFFIX}"] = {"verbosity": "basic", "sampling_initial": 1,
                                                  "sampling_thereafter": 1000}
        config["service"]["pipelines"][f"metrics/{SUFFIX}-pushed"] = {
            "receivers": [f"otlp/{SUFFIX}"], "processors": [f"filter/{SUFFIX}-pushed"],
            "exporters": [f"debug/{SUFFIX}"]}
    if remote_write:
        amp_region, workspace = remote_write
        config["extensions"] = {f"sigv4auth/{SUFFIX}": {"region": amp_region, "service": "aps"}}
        config["exporters"][f"prometheusremotewrite/{SUFFIX}"] = {
            "endpoint": f"https://aps-workspaces.{amp_region}.amazonaws.com/workspaces/{workspace}/api/v1/remote_write",
            "auth": {"authenticator": f"sigv4auth/{SUFFIX}"},
            "resource_to_telemetry_conversion": {"enabled": False},
            "add_metric_suffixes": False,  # keep Portkey's names (request_count, not request_count_total) for Grafana
        }
        config["service"]["extensions"] = [f"sigv4auth/{SUFFIX}"]
        # The same figures (unbounded labels summed away), cumulative as Prometheus expects them.
        # Prometheus has the whole histogram: the renamed bucket counts are for CloudWatch only.
        config["processors"][f"filter/{SUFFIX}-amp"] = {
            "error_mode": "ignore", "metrics": {"metric": [f'name == "{PROVIDER_LATENCY_BUCKETS}"']}}
        config["service"]["pipelines"][f"metrics/{SUFFIX}-amp"] = {
            "receivers": [f"prometheus/{SUFFIX}"],
            "processors": [f"memory_limiter/{SUFFIX}", f"filter/{SUFFIX}-amp", f"transform/{SUFFIX}",
                           f"metricstransform/{SUFFIX}", f"batch/{SUFFIX}-metrics"],
            "exporters": [f"prometheusremotewrite/{SUFFIX}"],
        }
    return config


def _by_labels_kept(include_model: bool) -> list[tuple[tuple[str, ...], list[LlmMetric]]]:
    groups: dict[tuple[str, ...], list[LlmMetric]] = {}
    for metric in METRICS:
        groups.setdefault(labels_kept(metric, include_model), []).append(metric)
    return list(groups.items())


def collector_yaml(config: dict) -> str:
    """The configuration as the value of `CW_OTEL_CONFIG_CONTENT` (libyaml's emitter where PyYAML has it: the same
    text, ten times faster)."""
    return yaml.dump(config, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False)


def agent_config(region: str) -> dict:
    """The agent's own JSON (`CW_CONFIG_CONTENT`): only the region; everything else is the OpenTelemetry part."""
    return {"agent": {"region": region}}


# ---------------------------------------------------------------------------------------------------------------------
# The same mapping in Python, for tests: what CloudWatch receives from one scrape.

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def _parse(text: str) -> list[tuple[str, str, dict[str, str], float]]:
    """(family, series suffix, labels, value) of every sample in the Prometheus text exposition format."""
    types: dict[str, str] = {}
    samples = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            types[name] = kind
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if not match:
            raise ValueError(f"not a Prometheus sample: {line[:80]}")
        name, label_text, value = match.groups()
        labels = {k: re.sub(r'\\[\\"n]', lambda e: _UNESCAPE[e.group()], v)
                  for k, v in _LABEL.findall(label_text or "")}
        family, suffix = name, ""
        for ending in ("_bucket", "_sum", "_count"):
            base = name[: -len(ending)]
            if name not in types and name.endswith(ending) and types.get(base) in ("histogram", "summary"):
                family, suffix = base, ending
        samples.append((family, suffix, labels, float(value)))
    return samples


def _openmetrics_float(text: str) -> str:
    """A bound as Prometheus 3's scraper rewrites a histogram's `le` (formatOpenMetricsFloat: Go's shortest 'g'
    format, exponent from 1e6 on, and ".0" after a whole number)."""
    value = float(text)
    if math.isinf(value) or math.isnan(value):
        return {math.inf: "+Inf", -math.inf: "-Inf"}.get(value, "NaN")
    digits = decimal.Decimal(repr(value)).normalize()
    exponent = digits.adjusted()
    if exponent < -4 or exponent >= 6:
        mantissa, _, power = f"{digits:e}".partition("e")
        return f"{mantissa}e{power[0]}{int(power[1:]):02d}"
    plain = f"{digits:f}"
    return plain if "." in plain else f"{plain}.0"


def _relabel(rules: list[dict], labels: dict[str, str]) -> dict[str, str] | None:
    """Prometheus's metric relabelling, for the actions this configuration uses (keep, and replace with a literal):
    the labels after `rules`, or None for a dropped series."""
    labels = dict(labels)
    for rule in rules:
        value = rule.get("separator", ";").join(labels.get(name, "") for name in rule.get("source_labels", []))
        matched = re.fullmatch(rule.get("regex", "(.*)"), value) is not None
        if rule["action"] == "keep" and not matched:
            return None
        if rule["action"] == "replace" and matched:
            labels[rule["target_label"]] = rule["replacement"]
    return labels


def to_datapoints(prometheus_text: str, include_model: bool, *, service: str = "gateway",
                  prometheus_3: bool = True) -> list[dict]:
    """CloudWatch datapoints {metric, value, unit, dimensions} from one scrape of job `service`, as the collector sends
    them the first time it sees each series: every scrape job's own relabel rules (from `collector_config`) applied to
    what the scraper reads (with `prometheus_3`, histogram bounds in the OpenMetrics form), then counters and growing
    gauges summed over the dropped labels, histograms as {"SampleCount", "Sum"}, the provider latency's buckets at the
    published bounds as counts per `le`. Later scrapes send the increments of the same sums."""
    jobs = collector_config("reference", [(service, 0, "/metrics")], 60, include_model, False, 1.0)[
        "receivers"][f"prometheus/{SUFFIX}"]["config"]["scrape_configs"]
    totals: dict[tuple, float] = {}
    for family, suffix, labels, value in _parse(prometheus_text):
        if math.isnan(value):
            continue
        if suffix == "_bucket" and prometheus_3:
            labels = {**labels, BOUND: _openmetrics_float(labels[BOUND])}
        for job in jobs:
            relabelled = _relabel(job["metric_relabel_configs"], {**labels, "__name__": family + suffix})
            if relabelled is None:
                continue
            name = relabelled.pop("__name__")
            family_now, suffix_now = (family, suffix) if name == family + suffix else (name, "")
            if family_now not in _BY_NAME or suffix_now == "_bucket":  # awsemf sends no classic buckets
                continue
            relabelled[SERVICE] = service
            kept = labels_kept(_BY_NAME[family_now], include_model)
            key = (family_now, suffix_now, tuple((k, relabelled[k]) for k in kept if k in relabelled))
            totals[key] = totals.get(key, 0.0) + value
    datapoints = []
    for metric in METRICS:
        for dims in dimension_sets(metric, include_model):
            grouped: dict[tuple, dict[str, float]] = {}
            for (family, suffix, items), value in totals.items():
                present = dict(items)
                if family != metric.name or not all(d in present for d in dims):
                    continue  # awsemf ignores a dimension set whose labels a datapoint lacks
                part = grouped.setdefault(tuple((d, present[d]) for d in dims), {})
                part[suffix] = part.get(suffix, 0.0) + value
            for items, parts in sorted(grouped.items()):
                value = {"SampleCount": parts.get("_count", 0.0), "Sum": parts.get("_sum", 0.0)} \
                    if metric.kind == "histogram" else parts[""]
                datapoints.append({"metric": metric.name, "value": value, "unit": metric.unit,
                                   "dimensions": dict(items)})
    return datapoints


# ---------------------------------------------------------------------------------------------------------------------
# The collector's documented schema, as far as this configuration uses it.

# Component types the agent accepts in an appended configuration (CloudWatch-OTLPCloudWatchAgent.html, "Supported
# OpenTelemetry components"), with the signals each handles (each component's README, "Supported pipeline types").
_ALL = frozenset(("metrics", "traces", "logs"))
_COMPONENTS = {
    "receivers": {"prometheus": {"metrics"}, "otlp": _ALL},
    "processors": {"memory_limiter": _ALL, "batch": _ALL, "transform": _ALL, "filter": _ALL, "metricstransform": {"metrics"},
                   "cumulativetodelta": {"metrics"}, "probabilistic_sampler": {"traces", "logs"}},
    "exporters": {"awsemf": {"metrics"}, "awsxray": {"traces"}, "prometheusremotewrite": {"metrics"}, "debug": _ALL},
}

_CONTRIB = "https://github.com/open-telemetry/opentelemetry-collector-contrib/tree/v0.124.0"
_CORE = "https://github.com/open-telemetry/opentelemetry-collector/tree/v0.124.0"
# internal/aws/awsutil/config.schema.yaml: the AWS session settings both AWS exporters embed
_AWS_SESSION = {"endpoint", "external_id", "local_mode", "max_retries", "no_verify_ssl", "num_workers", "proxy_address",
                "region", "request_timeout_seconds", "resource_arn", "role_arn", "imds_retries", "sts_region",
                "certificate_file_path", "middleware"}
_KEYS = {
    # {_CONTRIB}/receiver/prometheusreceiver/README.md#configuration
    "prometheus": {"config", "trim_metric_suffixes", "use_start_time_metric", "start_time_metric_regex",
                   "report_extra_scrape_metrics", "target_allocator", "api_server"},
    # {_CORE}/receiver/otlpreceiver/config.go
    "otlp": {"protocols"},
    # {_CORE}/processor/memorylimiterprocessor/README.md
    "memory_limiter": {"check_interval", "limit_mib", "spike_limit_mib", "limit_percentage", "spike_limit_percentage"},
    # {_CORE}/processor/batchprocessor/README.md
    "batch": {"timeout", "send_batch_size", "send_batch_max_size", "metadata_keys", "metadata_cardinality_limit"},
    # {_CONTRIB}/processor/transformprocessor/README.md (config.go)
    "transform": {"error_mode", "trace_statements", "metric_statements", "log_statements", "flatten_data"},
    # {_CONTRIB}/processor/metricstransformprocessor/README.md (config.go)
    "metricstransform": {"transforms"},
    # {_CONTRIB}/processor/cumulativetodeltaprocessor/README.md
    "cumulativetodelta": {"include", "exclude", "max_staleness", "initial_value"},
    # {_CONTRIB}/processor/probabilisticsamplerprocessor/README.md (config.go)
    "probabilistic_sampler": {"sampling_percentage", "hash_seed", "mode", "fail_closed", "sampling_precision",
                              "attribute_source", "from_attribute", "sampling_priority"},
    # {_CONTRIB}/exporter/awsemfexporter/config.schema.yaml and README.md
    "awsemf": _AWS_SESSION | {"log_group_name", "log_stream_name", "log_retention", "tags", "namespace",
                              "dimension_rollup_option", "resource_to_telemetry_conversion", "output_destination",
                              "detailed_metrics", "parse_json_encoded_attr_values", "metric_declarations",
                              "metric_descriptors", "retain_initial_value_of_delta_metric", "version",
                              "eks_fargate_container_insights_enabled"},
    # {_CONTRIB}/exporter/awsxrayexporter/README.md (config.go)
    "awsxray": _AWS_SESSION | {"indexed_attributes", "index_all_attributes", "aws_log_groups", "telemetry"},
    # {_CORE}/exporter/debugexporter/README.md
    "debug": {"verbosity", "sampling_initial", "sampling_thereafter", "use_internal_logger"},
    # {_CONTRIB}/processor/filterprocessor/README.md (OTTL conditions)
    "filter": {"error_mode", "metrics", "traces", "logs"},
    # {_CONTRIB}/exporter/prometheusremotewriteexporter/README.md (config.go; confighttp's client settings)
    "prometheusremotewrite": {"endpoint", "auth", "headers", "tls", "timeout", "compression", "namespace",
                              "external_labels", "resource_to_telemetry_conversion", "remote_write_queue",
                              "retry_on_failure", "target_info", "export_created_metric", "add_metric_suffixes",
                              "max_batch_size_bytes", "send_metadata", "wal"},
}
# {_CONTRIB}/extension/sigv4authextension/README.md: the one extension this configuration uses.
_EXTENSION_KEYS = {"sigv4auth": {"region", "service", "assume_role"}}
# https://prometheus.io/docs/prometheus/latest/configuration/configuration/ (scrape_config, relabel_config); the
# receiver refuses remote_write, remote_read, rule_files and alerting (its README, "Unsupported features").
_PROMETHEUS_TOP = {"global", "scrape_configs", "scrape_config_files"}
_SCRAPE_KEYS = {"job_name", "scrape_interval", "scrape_timeout", "scrape_protocols", "fallback_scrape_protocol",
                "metrics_path", "scheme", "params", "honor_labels", "honor_timestamps", "track_timestamps_staleness",
                "enable_compression", "static_configs", "relabel_configs", "metric_relabel_configs", "sample_limit",
                "label_limit", "label_name_length_limit", "label_value_length_limit", "target_limit",
                "body_size_limit", "keep_dropped_targets", "basic_auth", "authorization", "oauth2", "tls_config",
                "proxy_url", "follow_redirects", "enable_http2", "scrape_classic_histograms",
                "native_histogram_bucket_limit"}
_RELABEL_KEYS = {"source_labels", "separator", "target_label", "regex", "modulus", "replacement", "action"}
_RELABEL_ACTIONS = {"replace", "keep", "drop", "keepequal", "dropequal", "hashmod", "labelmap", "labeldrop",
                    "labelkeep", "lowercase", "uppercase"}
_DURATION = re.compile(r"^(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$")
_HTTP_KEYS = {"endpoint", "cors", "include_metadata", "traces_url_path", "metrics_url_path", "logs_url_path", "tls",
              "max_request_body_size", "auth", "response_headers", "compression_algorithms", "read_timeout",
              "read_header_timeout", "write_timeout", "idle_timeout"}
_DECLARATION_KEYS = {"dimensions", "metric_name_selectors", "label_matchers"}
_MATCHER_KEYS = {"label_names", "separator", "regex"}
_DESCRIPTOR_KEYS = {"metric_name", "unit", "overwrite"}
_TRANSFORM_KEYS = {"include", "match_type", "experimental_match_labels", "action", "new_name", "group_resource_labels",
                   "aggregation_type", "submatch_case", "operations"}
_OPERATION_KEYS = {"action", "label", "new_label", "label_set", "aggregation_type", "aggregated_values", "new_value",
                   "value_actions", "experimental_scale", "label_value"}
_STATEMENT_KEYS = {"context", "statements", "conditions", "error_mode"}
_MATCH_KEYS = {"metrics", "match_type", "metric_types", "regexp"}


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _keys(where: str, block, allowed: set[str]) -> None:
    _check(isinstance(block, dict), f"{where}: expected a mapping, got {type(block).__name__}")
    unknown = sorted(set(block) - allowed)
    _check(not unknown, f"{where}: unknown key(s) {', '.join(unknown)} (documented: {', '.join(sorted(allowed))})")


def _regex(where: str, pattern) -> re.Pattern:
    _check(isinstance(pattern, str), f"{where}: the regex must be a string")
    try:
        return re.compile(pattern)
    except re.error as error:
        raise ValueError(f"{where}: regex {pattern!r} does not compile ({error})") from None


_EXPANDED = re.compile(r"\$[{A-Za-z0-9_]")  # ${NAME}; bare $NAME in older collectors


def _dollars(where: str, value) -> None:
    """The collector expands ${...} as an environment variable (and reads $$ as a literal $), so an unescaped ${1} in
    a relabel replacement would be gone before Prometheus saw it. A regex's closing $ is left alone."""
    if isinstance(value, dict):
        for key, item in value.items():
            _dollars(f"{where}.{key}", item)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _dollars(f"{where}[{i}]", item)
    elif isinstance(value, str):
        _check(not _EXPANDED.search(value.replace("$$", "")),
               f"{where}: unescaped $ in {value!r} would be expanded as an environment variable; write $$")


def _prometheus(where: str, block: dict) -> set[str]:
    """Checks the embedded Prometheus configuration; returns the labels its relabel rules write."""
    config = block.get("config")
    _check(isinstance(config, dict), f"{where}.config: the Prometheus configuration is required")
    _keys(f"{where}.config", config, _PROMETHEUS_TOP)
    jobs, written = set(), set()
    for i, scrape in enumerate(config.get("scrape_configs") or []):
        at = f"{where}.config.scrape_configs[{i}]"
        _keys(at, scrape, _SCRAPE_KEYS | {k for k in scrape if k.endswith("_sd_configs")})
        _check(bool(scrape.get("job_name")) and scrape["job_name"] not in jobs, f"{at}: job_name missing or repeated")
        jobs.add(scrape["job_name"])
        for key in ("scrape_interval", "scrape_timeout"):
            _check(key not in scrape or bool(_DURATION.match(str(scrape[key]))) and scrape[key] != "",
                   f"{at}.{key}: {scrape.get(key)!r} is not a Prometheus duration")
        for j, static in enumerate(scrape.get("static_configs") or []):
            _keys(f"{at}.static_configs[{j}]", static, {"targets", "labels"})
        for rules in ("relabel_configs", "metric_relabel_configs"):
            for j, rule in enumerate(scrape.get(rules) or []):
                rat = f"{at}.{rules}[{j}]"
                _keys(rat, rule, _RELABEL_KEYS)
                action = rule.get("action", "replace")
                _check(action in _RELABEL_ACTIONS, f"{rat}.action: {action!r} is not a relabel action")
                _regex(f"{rat}.regex", rule.get("regex", "(.*)"))
                if action in ("replace", "hashmod", "lowercase", "uppercase"):
                    _check(bool(rule.get("target_label")), f"{rat}: action {action} needs a target_label")
                    written.add(rule["target_label"])
    _check(bool(jobs) or bool(config.get("scrape_config_files")), f"{where}.config: no scrape_configs")
    return written


def _aggregations(config: dict, processors: list[str]) -> list[tuple[re.Pattern, set[str]]]:
    """(metric name regex, kept labels) of every aggregate_labels operation in a pipeline's processors."""
    found = []
    for name in processors:
        if name.split("/")[0] != "metricstransform":
            continue
        for transform in config["processors"][name]["transforms"]:
            include = transform["include"]
            include = include if transform.get("match_type") == "regexp" else re.escape(include)
            for operation in transform.get("operations") or []:
                if operation.get("action") == "aggregate_labels":
                    found.append((re.compile(f"^(?:{include})$"), set(operation.get("label_set") or [])))
    return found


def _component(section: str, name: str, block, written: set[str]) -> None:
    kind = name.split("/")[0]
    where = f"{section}.{name}"
    _check(kind in _COMPONENTS[section], f"{where}: {kind!r} is not a {section[:-1]} this configuration may use")
    block = {} if block is None else block
    _keys(where, block, _KEYS[kind])
    if kind == "prometheus":
        written |= _prometheus(where, block)
    elif kind == "otlp":
        _keys(f"{where}.protocols", block.get("protocols") or {}, {"grpc", "http"})
        _keys(f"{where}.protocols.http", (block.get("protocols") or {}).get("http") or {}, _HTTP_KEYS)
    elif kind == "transform":
        for key in ("trace_statements", "metric_statements", "log_statements"):
            for i, group in enumerate(block.get(key) or []):
                _keys(f"{where}.{key}[{i}]", group, _STATEMENT_KEYS)
                _check(all(isinstance(s, str) for s in group.get("statements") or []),
                       f"{where}.{key}[{i}].statements: OTTL statements are strings")
    elif kind == "metricstransform":
        for i, transform in enumerate(block.get("transforms") or []):
            tat = f"{where}.transforms[{i}]"
            _keys(tat, transform, _TRANSFORM_KEYS)
            _check(transform.get("action") in ("update", "insert", "combine", "group"), f"{tat}.action: invalid")
            if transform.get("match_type") == "regexp":
                _regex(f"{tat}.include", transform.get("include"))
            for j, operation in enumerate(transform.get("operations") or []):
                _keys(f"{tat}.operations[{j}]", operation, _OPERATION_KEYS)
                if operation.get("action") == "aggregate_labels":
                    _check(bool(operation.get("label_set")) and operation.get("aggregation_type") in (
                        "sum", "mean", "min", "max", "count", "median"),
                        f"{tat}.operations[{j}]: aggregate_labels needs label_set and aggregation_type")
    elif kind == "cumulativetodelta":
        for key in ("include", "exclude"):
            _keys(f"{where}.{key}", block.get(key) or {}, _MATCH_KEYS)
        _check(block.get("initial_value", "auto") in ("auto", "keep", "drop"), f"{where}.initial_value: invalid")
    elif kind == "probabilistic_sampler":
        percentage = block.get("sampling_percentage")
        _check(isinstance(percentage, (int, float)) and 0 <= percentage <= 100,
               f"{where}.sampling_percentage: a number from 0 to 100 is required")
    elif kind == "awsemf":
        _check(block.get("dimension_rollup_option", "ZeroAndSingleDimensionRollup") in (
            "NoDimensionRollup", "SingleDimensionRollupOnly", "ZeroAndSingleDimensionRollup"),
            f"{where}.dimension_rollup_option: invalid")
        for i, declaration in enumerate(block.get("metric_declarations") or []):
            dat = f"{where}.metric_declarations[{i}]"
            _keys(dat, declaration, _DECLARATION_KEYS)
            _check(bool(declaration.get("metric_name_selectors")),
                   f"{dat}: no metric_name_selectors (awsemf would drop the declaration)")
            for j, selector in enumerate(declaration["metric_name_selectors"]):
                _regex(f"{dat}.metric_name_selectors[{j}]", selector)
            for j, matcher in enumerate(declaration.get("label_matchers") or []):
                _keys(f"{dat}.label_matchers[{j}]", matcher, _MATCHER_KEYS)
                _regex(f"{dat}.label_matchers[{j}].regex", matcher.get("regex"))
            dimensions = declaration.get("dimensions")
            _check(isinstance(dimensions, list) and all(
                isinstance(s, list) and all(isinstance(d, str) for d in s) for s in dimensions),
                f"{dat}.dimensions: a list of lists of label names is required")
            _check(all(len(s) <= 10 for s in dimensions), f"{dat}.dimensions: awsemf drops sets of more than 10")
        for i, descriptor in enumerate(block.get("metric_descriptors") or []):
            _keys(f"{where}.metric_descriptors[{i}]", descriptor, _DESCRIPTOR_KEYS)
            _check(descriptor.get("unit") in CLOUDWATCH_UNITS,
                   f"{where}.metric_descriptors[{i}].unit: {descriptor.get('unit')!r} is not a CloudWatch unit")


def _dimensions_kept(config: dict, exporter: str, processors: list[str], written: set[str]) -> None:
    """Every dimension of every declared metric must be a label the pipeline keeps, and the kept labels bounded."""
    aggregations = _aggregations(config, processors)
    for i, declaration in enumerate(config["exporters"][exporter].get("metric_declarations") or []):
        at = f"exporters.{exporter}.metric_declarations[{i}]"
        selectors = [re.compile(s) for s in declaration["metric_name_selectors"]]
        metrics = [m for m in METRIC_NAMES if any(s.search(m) for s in selectors)]
        _check(bool(metrics), f"{at}: selects none of the Portkey metrics")
        for metric in metrics:
            sets = [labels for pattern, labels in aggregations if pattern.match(metric)]
            _check(bool(sets), f"{at}: {metric} reaches awsemf with all its labels; aggregate it to its dimensions")
            kept = set.intersection(*sets)
            # The renamed bucket counts keep Prometheus's bound label, which the scrape narrows to PUBLISHED_BOUNDS.
            bounded = {BOUND} if _BY_NAME[metric].kind == "buckets" else set()
            for label in sorted(kept - bounded):
                _check(not NEVER_DIMENSIONS.match(label), f"{at}: {metric} keeps {label!r}, which is never a dimension")
                _check(label in PORTKEY_LABELS or label in written,
                       f"{at}: {metric} keeps {label!r}, which neither Portkey nor a relabel rule writes")
            for dims in declaration["dimensions"]:
                for label in dims:
                    _check(label in kept, f"{at}: dimension {label!r} of {metric} is a dropped label "
                                          f"(kept: {', '.join(sorted(kept))})")


def validate_config(config: dict) -> None:
    """Checks the configuration against the documented keys of each component, the pipeline references, the regexes,
    the $ escaping and the dimensions; raises ValueError with a one-line message."""
    _keys("config", config, {"receivers", "processors", "exporters", "extensions", "connectors", "service"})
    written: set[str] = set()
    for section in ("receivers", "processors", "exporters"):
        for name, block in (config.get(section) or {}).items():
            _component(section, name, block, written)
    _dollars("config", config)
    for name, block in (config.get("extensions") or {}).items():
        kind = name.split("/")[0]
        _check(kind in _EXTENSION_KEYS, f"extensions.{name}: {kind!r} is not an extension this collector offers here")
        _keys(f"extensions.{name}", block, _EXTENSION_KEYS[kind])
    service = config.get("service")
    _keys("service", service, {"extensions", "pipelines", "telemetry"})
    for name in service.get("extensions") or []:
        _check(name in (config.get("extensions") or {}), f"service.extensions: {name!r} is not defined in extensions")
    pipelines = service.get("pipelines") or {}
    _check(bool(pipelines), "service.pipelines: no pipeline")
    for pipeline, spec in pipelines.items():
        signal = pipeline.split("/")[0]
        at = f"service.pipelines.{pipeline}"
        _check(signal in _ALL, f"{at}: the pipeline type must be metrics, traces or logs")
        _keys(at, spec, {"receivers", "processors", "exporters"})
        for section in ("receivers", "processors", "exporters"):
            names = spec.get(section) or []
            _check(section == "processors" or bool(names), f"{at}.{section}: at least one is required")
            for name in names:
                _check(name in (config.get(section) or {}), f"{at}.{section}: {name!r} is not defined in {section}")
                _check(signal in _COMPONENTS[section][name.split("/")[0]],
                       f"{at}.{section}: {name!r} does not handle {signal}")
        for exporter in spec["exporters"]:
            if exporter.split("/")[0] == "awsemf":
                _dimensions_kept(config, exporter, spec.get("processors") or [], written)
