"""The LLM metrics mapping (issue 18): the collector configuration parses and meets the documented schema, its checks
catch broken configurations, and the mapping from a recorded /metrics sample keeps the figures and drops unbounded
labels."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml

from portkey_gateway import llm_metrics
from portkey_gateway.llm_metrics import collector_config, to_datapoints, validate_config

FIXTURE = (Path(__file__).parent / "fixtures" / "portkey_metrics.txt").read_text()
TARGETS = [("gateway", 8787, "/metrics"), ("data-service", 8081, "/dataservice/metrics")]
RECEIVER, EMF, XRAY, OTLP = "prometheus/portkey", "awsemf/portkey", "awsxray/portkey", "otlp/portkey"
AGGREGATE = "metricstransform/portkey"
UNBOUNDED = ("api_key_name", "config_name", "metadata_user_id", "metadata_workspace_id", "code", "payloadSizeRange",
             "method", "source", "app", "env", "le")


def config(include_model=False, traces=False, sampling=0.1, **kwargs):
    return collector_config("Portkey/prod", TARGETS, 60, include_model, traces, sampling, **kwargs)


def scrape_jobs(cfg):
    return cfg["receivers"][RECEIVER]["config"]["scrape_configs"]


def declarations(cfg):
    return {d["metric_name_selectors"][0].strip("^$"): d["dimensions"]
            for d in cfg["exporters"][EMF]["metric_declarations"]}


def points(include_model=False, metric=None, dims=None):
    return [p for p in to_datapoints(FIXTURE, include_model)
            if (metric is None or p["metric"] == metric) and (dims is None or list(p["dimensions"]) == dims)]


def by(points_, key):
    return {p["dimensions"][key]: p["value"] for p in points_}


# --- the configuration ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("include_model", [False, True])
@pytest.mark.parametrize("traces", [False, True])
def test_configuration_survives_yaml_and_meets_the_schema(include_model, traces):
    cfg = config(include_model, traces, 0.25, region="eu-west-1")
    text = llm_metrics.collector_yaml(cfg)
    assert yaml.safe_load(text) == cfg
    assert yaml.safe_load(yaml.safe_dump(cfg)) == cfg
    validate_config(yaml.safe_load(text))


def test_scrape_targets_interval_and_namespace_are_where_the_collector_reads_them():
    cfg = collector_config("Portkey/staging", TARGETS, 30, False, False, 0.1)
    jobs = scrape_jobs(cfg)
    assert [(j["job_name"], j["static_configs"][0]["targets"], j["metrics_path"]) for j in jobs] == [
        ("gateway", ["localhost:8787"], "/metrics"), ("gateway-latency-buckets", ["localhost:8787"], "/metrics"),
        ("data-service", ["localhost:8081"], "/dataservice/metrics"),
        ("data-service-latency-buckets", ["localhost:8081"], "/dataservice/metrics")]
    assert {j["scrape_interval"] for j in jobs} == {"30s"} and {j["scrape_timeout"] for j in jobs} == {"10s"}
    # the second read of a page carries the same service: its figures join the first's
    assert [j["relabel_configs"] for j in jobs] == [[{"target_label": "service", "replacement": "gateway"}]] * 2 + [
        [{"target_label": "service", "replacement": "data-service"}]] * 2
    exporter = cfg["exporters"][EMF]
    assert exporter["namespace"] == "Portkey/staging"
    assert exporter["dimension_rollup_option"] == "NoDimensionRollup"  # rollups would multiply the metric count
    assert cfg["service"]["pipelines"]["metrics/portkey"]["receivers"] == [RECEIVER]
    assert cfg["service"]["pipelines"]["metrics/portkey"]["exporters"] == [EMF]


def test_short_interval_shortens_the_scrape_timeout_and_region_reaches_both_exporters():
    cfg = collector_config("Ns", [("gateway", 8787, "/metrics")], 5, False, True, 1.0, region="us-west-2")
    assert scrape_jobs(cfg)[0]["scrape_timeout"] == "5s"
    assert cfg["exporters"][EMF]["region"] == cfg["exporters"][XRAY]["region"] == "us-west-2"


def test_status_class_is_derived_in_the_scrape_with_literal_replacements():
    """One rule per class: no ${1} for the collector to expand as an environment variable (or CloudFormation's
    validator to read as a substitution)."""
    rules = scrape_jobs(config())[0]["metric_relabel_configs"]
    assert rules[1:] == [{"source_labels": ["code"], "regex": rf"{d}\d\d", "target_label": "status_class",
                          "replacement": f"{d}xx", "action": "replace"} for d in "12345"]
    assert "${" not in json.dumps(config())
    keep = re.compile(rules[0]["regex"])
    assert rules[0]["action"] == "keep"
    assert keep.fullmatch("llm_request_duration_milliseconds_bucket") and keep.fullmatch("llm_cost_sum")
    assert not keep.fullmatch("node_process_resident_memory_bytes")
    assert not keep.fullmatch("pre_request_processing_duration_milliseconds_count")


def test_unbounded_labels_are_summed_away_before_the_exporter():
    cfg = config()
    pipeline = cfg["service"]["pipelines"]["metrics/portkey"]["processors"]
    # growing gauges become counters, then labels are aggregated, then increments are taken
    assert pipeline.index("transform/portkey") < pipeline.index(AGGREGATE) < pipeline.index("cumulativetodelta/portkey")
    (operation,) = cfg["processors"][AGGREGATE]["transforms"][0]["operations"]
    assert operation == {"action": "aggregate_labels", "aggregation_type": "sum",
                         "label_set": ["service", "provider", "status_class", "endpoint", "stream", "cacheStatus"]}
    assert not set(UNBOUNDED) & set(operation["label_set"])
    assert cfg["processors"]["transform/portkey"]["metric_statements"][0]["statements"] == [
        'convert_gauge_to_sum("cumulative", true) where name == "llm_cost_sum"',
        'convert_gauge_to_sum("cumulative", true) where name == "llm_token_sum"',
        'convert_gauge_to_sum("cumulative", true) where name == "llm_request_duration_milliseconds_le"']
    assert cfg["processors"]["cumulativetodelta/portkey"]["initial_value"] == "keep"


def test_model_is_a_dimension_only_when_asked_for():
    without, with_model = config(include_model=False), config(include_model=True)
    assert "model" not in cfg_labels(without)
    assert "model" in with_model["processors"][AGGREGATE]["transforms"][0]["operations"][0]["label_set"]
    dims = declarations(with_model)
    assert dims["request_count"][0] == ["service", "provider", "status_class", "endpoint", "stream", "cacheStatus",
                                        "model"]
    assert ["service", "provider", "model"] in dims["llm_cost_sum"]
    assert ["service", "provider", "model"] not in dims["llm_request_duration_milliseconds"]


def cfg_labels(cfg):
    labels = set(cfg["processors"][AGGREGATE]["transforms"][0]["operations"][0]["label_set"])
    for dims in declarations(cfg).values():
        labels.update(label for dim_set in dims for label in dim_set)
    return labels


def test_every_listed_metric_is_declared_with_its_unit():
    cfg = config()
    assert set(declarations(cfg)) == set(llm_metrics.METRIC_NAMES)
    units = {d["metric_name"]: d["unit"] for d in cfg["exporters"][EMF]["metric_descriptors"]}
    assert units["request_count"] == "Count" and units["llm_token_sum"] == "Count"
    assert units["llm_request_duration_milliseconds"] == "Milliseconds"
    assert units["http_request_duration_seconds"] == "Seconds" and units["llm_cost_sum"] == "None"
    assert set(units.values()) <= llm_metrics.CLOUDWATCH_UNITS


def test_traces_only_when_enabled_with_the_sampling_ratio():
    off = config(traces=False)
    assert OTLP not in off["receivers"] and XRAY not in off["exporters"]
    assert list(off["service"]["pipelines"]) == ["metrics/portkey"]
    assert not any(name.startswith("probabilistic_sampler") for name in off["processors"])
    on = config(traces=True, sampling=0.05)
    assert on["receivers"][OTLP] == {"protocols": {"http": {"endpoint": "localhost:4318"}}}
    assert on["processors"]["probabilistic_sampler/portkey"] == {"sampling_percentage": 5.0}
    assert on["service"]["pipelines"]["traces/portkey"] == {
        "receivers": [OTLP],
        "processors": ["memory_limiter/portkey", "probabilistic_sampler/portkey", "batch/portkey-traces"],
        "exporters": [XRAY]}


@pytest.mark.parametrize("kwargs,message", [
    ({"targets": []}, "at least one scrape target"),
    ({"interval_seconds": 0}, "interval_seconds must be positive"),
    ({"traces": True, "sampling": 0}, "sampling is a ratio"),
    ({"traces": True, "sampling": 1.5}, "sampling is a ratio"),
])
def test_impossible_arguments_are_refused(kwargs, message):
    arguments = {"namespace": "Ns", "targets": TARGETS, "interval_seconds": 60, "include_model": False,
                 "traces": False, "sampling": 0.1, **kwargs}
    with pytest.raises(ValueError, match=message):
        collector_config(**arguments)


# --- validate_config catches what the collector (or CloudWatch) would get wrong -------------------------------------

def broken(change, traces=True):
    cfg = copy.deepcopy(config(traces=traces))
    change(cfg)
    return cfg


@pytest.mark.parametrize("change,message", [
    (lambda c: c["service"]["pipelines"]["traces/portkey"]["exporters"].append("otlphttp/portkey"),
     "service.pipelines.traces/portkey.exporters: 'otlphttp/portkey' is not defined in exporters"),
    (lambda c: c["service"]["pipelines"]["metrics/portkey"]["processors"].append("batch/typo"),
     "'batch/typo' is not defined in processors"),
    (lambda c: c["service"]["pipelines"]["metrics/portkey"]["exporters"].append(XRAY),
     "'awsxray/portkey' does not handle metrics"),
    (lambda c: scrape_jobs(c)[0]["metric_relabel_configs"][1].update(regex=r"(\d\d\d"),
     r"metric_relabel_configs\[1\].regex: regex '\(\\\\d\\\\d\\\\d' does not compile"),
    (lambda c: c["exporters"][EMF]["metric_declarations"][0]["metric_name_selectors"].append("^llm_(cost$"),
     "metric_name_selectors.1.: regex '.llm_.cost.' does not compile"),
    (lambda c: c["exporters"][EMF]["metric_declarations"][0]["dimensions"].append(["service", "api_key_name"]),
     "dimension 'api_key_name' of request_count is a dropped label"),
    (lambda c: c["exporters"][EMF]["metric_declarations"][6]["dimensions"].append(["service", "model"]),
     "dimension 'model' of llm_cost_sum is a dropped label"),
    (lambda c: c["processors"][AGGREGATE]["transforms"][0]["operations"][0]["label_set"].append("metadata_user_id"),
     "request_count keeps 'metadata_user_id', which is never a dimension"),
    (lambda c: c["processors"][AGGREGATE]["transforms"][0]["operations"][0]["label_set"].append("cache_status"),
     "keeps 'cache_status', which neither Portkey nor a relabel rule writes"),
    (lambda c: c["processors"][AGGREGATE]["transforms"][0].update(include="^request_count$"),
     "http_request_duration_seconds reaches awsemf with all its labels"),
    (lambda c: scrape_jobs(c)[0]["metric_relabel_configs"][1].update(replacement="${1}xx"),
     "unescaped \\$ in '\\$\\{1\\}xx' would be expanded as an environment variable"),
    (lambda c: c["exporters"][EMF].update(dimension_rollup="NoDimensionRollup"),
     "exporters.awsemf/portkey: unknown key.s. dimension_rollup"),
    (lambda c: c["exporters"][EMF]["metric_descriptors"][1].update(unit="ms"),
     "metric_descriptors.1..unit: 'ms' is not a CloudWatch unit"),
    (lambda c: c["exporters"][EMF]["metric_declarations"][0].update(metric_name_selectors=[]),
     "no metric_name_selectors .awsemf would drop the declaration."),
    (lambda c: c["exporters"][EMF]["metric_declarations"][0]["dimensions"].append("service"),
     "dimensions: a list of lists of label names is required"),
    (lambda c: c["receivers"][RECEIVER]["config"].update(remote_write=[{"url": "http://x"}]),
     "unknown key.s. remote_write"),
    (lambda c: scrape_jobs(c)[0].update(scrape_interval="1 minute"), "is not a Prometheus duration"),
    (lambda c: scrape_jobs(c)[1].update(job_name="gateway"), "job_name missing or repeated"),
    (lambda c: c["processors"]["probabilistic_sampler/portkey"].update(sampling_percentage=250),
     "sampling_percentage: a number from 0 to 100"),
    (lambda c: c["processors"].update({"tail_sampling/portkey": {}}), "'tail_sampling' is not a processor"),
])
def test_validate_config_rejects_broken_configurations(change, message):
    with pytest.raises(ValueError, match=message) as raised:
        validate_config(broken(change))
    assert "\n" not in str(raised.value)


def test_a_regex_closing_dollar_is_not_taken_for_an_environment_variable():
    cfg = config()
    assert cfg["exporters"][EMF]["metric_declarations"][0]["metric_name_selectors"] == ["^request_count$"]
    validate_config(cfg)


# --- the mapping, on the recorded sample ----------------------------------------------------------------------------

def test_fixture_says_it_is_written_not_captured():
    first = FIXTURE.splitlines()[0:2]
    assert first[0].startswith("# Written from Portkey's documented metric names") and "NOT captured" in first[1]


def test_request_totals_per_provider_survive_the_dropped_labels():
    per_provider = {}
    for p in points(metric="request_count", dims=["service", "provider", "status_class"]):
        per_provider[p["dimensions"]["provider"]] = per_provider.get(p["dimensions"]["provider"], 0) + p["value"]
    # every request_count line of the fixture, summed by hand per provider
    assert per_provider == {"openai": 1520 + 884 + 610 + 233 + 17 + 4 + 402 + 1290,
                            "anthropic": 745 + 312 + 9 + 26, "bedrock": 158 + 6 + 2 + 41}
    full = points(metric="request_count", dims=list(llm_metrics.DIMENSIONS))
    assert sum(p["value"] for p in full) == 4960 + 1092 + 207


def test_status_codes_become_classes():
    classes = by(points(metric="request_count", dims=["service", "status_class"]), "status_class")
    assert classes == {"2xx": 1520 + 884 + 610 + 233 + 402 + 1290 + 745 + 312 + 158 + 41,
                       "4xx": 17 + 26,  # 429s
                       "5xx": 4 + 9 + 6 + 2}  # 500s and 503s
    anthropic = {p["dimensions"]["status_class"]: p["value"]
                 for p in points(metric="request_count", dims=["service", "provider", "status_class"])
                 if p["dimensions"]["provider"] == "anthropic"}
    assert anthropic == {"2xx": 745 + 312, "4xx": 26, "5xx": 9}


def test_cache_status_share():
    assert by(points(metric="request_count", dims=["service", "cacheStatus"]), "cacheStatus") == {
        "hit": 233 + 41, "miss": 6259 - 1290 - 233 - 41, "disabled": 1290}


def test_token_and_cost_totals_survive_the_dropped_labels():
    tokens = by(points(metric="llm_token_sum", dims=["service", "provider"]), "provider")
    assert tokens == {"openai": 812340 + 455120 + 301877 + 96400, "anthropic": 640210 + 150333, "bedrock": 48215}
    (total,) = points(metric="llm_token_sum", dims=["service"])
    assert total["value"] == 1665737 + 790543 + 48215 and total["unit"] == "Count"
    cost = by(points(metric="llm_cost_sum", dims=["service", "provider"]), "provider")
    assert cost == pytest.approx({"openai": 4.0617 + 2.2756 + 1.5094 + 0.0019, "anthropic": 5.7619 + 1.353,
                                  "bedrock": 0.0121})


def test_histograms_become_statistic_sets_summed_over_dropped_labels():
    latency = by(points(metric="llm_request_duration_milliseconds", dims=["service", "provider"]), "provider")
    assert latency == {"openai": {"SampleCount": 1520 + 884, "Sum": 1824000 + 1060800},
                       "anthropic": {"SampleCount": 745, "Sum": 2607500}}
    (overhead,) = points(metric="portkey_processing_time_excluding_last_byte_ms", dims=["service"])
    assert overhead["value"] == {"SampleCount": 1520, "Sum": 22800} and overhead["unit"] == "Milliseconds"
    (http,) = points(metric="http_request_duration_seconds", dims=["service"])
    assert http["value"] == {"SampleCount": 1520, "Sum": 1900.5} and http["unit"] == "Seconds"


def test_no_datapoint_carries_an_unbounded_label_and_model_only_when_asked():
    for include_model in (False, True):
        for p in points(include_model):
            bounded = {"le"} if p["metric"] == llm_metrics.PROVIDER_LATENCY_BUCKETS else set()
            assert not set(p["dimensions"]) & (set(UNBOUNDED) - bounded), p
            assert p["dimensions"].get("le", "+Inf") in llm_metrics.PUBLISHED_BOUNDS
            assert ("model" in p["dimensions"]) <= include_model
            assert not any(v.startswith(("user_", "ws_", "svc-", "cfg-")) for v in p["dimensions"].values()), p
    models = {p["dimensions"]["model"] for p in points(True, metric="request_count") if "model" in p["dimensions"]}
    assert models == {"gpt-4o", "gpt-4o-mini", "text-embedding-3-small", "claude-sonnet-4", "anthropic.claude-3-haiku"}
    assert by([p for p in points(True, metric="llm_token_sum", dims=["service", "provider", "model"])
               if p["dimensions"]["provider"] == "openai"], "model") == {
        "gpt-4o": 812340 + 455120 + 301877, "text-embedding-3-small": 96400}


def test_only_listed_metrics_are_published():
    names = {p["metric"] for p in points()}
    assert names <= set(llm_metrics.METRIC_NAMES)
    assert {"request_count", "llm_cost_sum", "llm_token_sum", "llm_request_duration_milliseconds"} <= names
    assert "pre_request_processing_duration_milliseconds" not in names  # documented, but not one we publish
    assert not any(name.startswith("node_") for name in names)


@pytest.mark.parametrize("include_model", [False, True])
def test_datapoints_use_exactly_the_declared_dimension_sets_and_units(include_model):
    cfg = config(include_model=include_model)
    dims = declarations(cfg)
    units = {d["metric_name"]: d["unit"] for d in cfg["exporters"][EMF]["metric_descriptors"]}
    seen = set()
    for p in points(include_model):
        assert list(p["dimensions"]) in dims[p["metric"]], p
        assert p["unit"] == units[p["metric"]]
        seen.add((p["metric"], tuple(p["dimensions"])))
    assert ("request_count", tuple(dims["request_count"][0])) in seen


def test_parser_reads_escapes_timestamps_and_skips_nan():
    text = "\n".join([
        "# TYPE request_count counter",
        'request_count{provider="open\\"ai",code="200",endpoint="/v1/x",stream="false",cacheStatus="miss"} 3 17000000',
        'request_count{provider="b",code="503",endpoint="/v1/x",stream="false",cacheStatus="miss"} NaN',
        'request_count{provider="b",code="abc",endpoint="/v1/x",stream="false",cacheStatus="miss"} 2',
    ])
    got = {(p["dimensions"]["provider"], p["dimensions"]["status_class"]): p["value"]
           for p in to_datapoints(text, False) if list(p["dimensions"]) == ["service", "provider", "status_class"]}
    assert got == {('open"ai', "2xx"): 3}  # NaN dropped; a code that is not 3 digits gets no class, so no datapoint
    with pytest.raises(ValueError, match="not a Prometheus sample"):
        to_datapoints("request_count{provider=", False)


def test_validate_config_checks_the_extensions_a_remote_write_uses():
    cfg = collector_config("Portkey/x", [("gateway", 8787, "/metrics")], 60, False, False, 0.05,
                           remote_write=("eu-west-1", "ws-1"))
    validate_config(cfg)
    missing = copy.deepcopy(cfg)
    missing["service"]["extensions"] = ["sigv4auth/other"]
    with pytest.raises(ValueError, match="service.extensions: 'sigv4auth/other' is not defined in extensions"):
        validate_config(missing)
    unknown = copy.deepcopy(cfg)
    unknown["extensions"]["sigv4auth/portkey"]["role"] = "x"
    with pytest.raises(ValueError, match="extensions.sigv4auth/portkey"):
        validate_config(unknown)


# --- provider latency percentiles, from the bucket counts -----------------------------------------------------------

BUCKETS = llm_metrics.PROVIDER_LATENCY_BUCKETS


def bucket_job(cfg):
    (job,) = [j for j in scrape_jobs(cfg) if j["job_name"] == "gateway-latency-buckets"]
    return job


def test_a_second_read_keeps_only_the_provider_latency_buckets_at_the_published_bounds_and_renames_them():
    cfg = config()
    keep, *normalise, rename = bucket_job(cfg)["metric_relabel_configs"]
    assert keep["action"] == "keep" and keep["source_labels"] == ["__name__", "le"] and keep["separator"] == ";"
    pattern = re.compile(keep["regex"])  # Prometheus anchors relabel regexes
    # the gateway writes "100"; Prometheus 3's scraper hands the rules "100.0": both are kept
    for bound in ("100", "100.0", "1000", "1000.0", "2500.0", "50000", "300000.0", "+Inf"):
        assert pattern.fullmatch(f"llm_request_duration_milliseconds_bucket;{bound}"), bound
    for series in ("llm_request_duration_milliseconds_bucket;75", "llm_request_duration_milliseconds_bucket;75.0",
                   "llm_request_duration_milliseconds_bucket;500000.0", "llm_request_duration_milliseconds_bucket;1e+07",
                   "llm_request_duration_milliseconds_bucket;100.00", "llm_request_duration_milliseconds_count;",
                   "portkey_request_duration_milliseconds_bucket;1000", "request_count;"):
        assert not pattern.fullmatch(series), series
    # ... and written back to the gateway's form, one literal rule per bound (no ${1} for the collector to expand)
    assert normalise == [{"source_labels": ["le"], "regex": rf"{b}\.0", "target_label": "le", "replacement": str(b),
                          "action": "replace"} for b in llm_metrics.LATENCY_BOUNDS_MS]
    # no source labels: the default regex matches, and the name is replaced by a literal (no ${...})
    assert rename == {"target_label": "__name__", "replacement": BUCKETS, "action": "replace"}
    assert not BUCKETS.endswith(("_bucket", "_count", "_sum", "_total", "_info", "_created"))
    # the first read keeps the whole histogram (average, and Prometheus's quantiles with remote write)
    assert scrape_jobs(cfg)[0]["metric_relabel_configs"][0]["regex"].startswith("(request_count|")


def test_bucket_counts_become_counters_per_provider_and_bound_and_nothing_else():
    cfg = config(include_model=True)
    transforms = cfg["processors"][AGGREGATE]["transforms"]
    (bucket_transform,) = [t for t in transforms if t["include"] == f"^({BUCKETS})$"]
    assert bucket_transform["operations"] == [{"action": "aggregate_labels", "aggregation_type": "sum",
                                               "label_set": ["service", "provider", "le"]}]
    assert declarations(cfg)[BUCKETS] == [["service", "provider", "le"], ["service", "le"]]
    assert {d["metric_name"]: d["unit"] for d in cfg["exporters"][EMF]["metric_descriptors"]}[BUCKETS] == "Count"
    assert BUCKETS in cfg["processors"]["cumulativetodelta/portkey"]["include"]["metrics"]


def test_remote_write_sends_the_whole_histogram_not_the_renamed_buckets():
    cfg = config(remote_write=("eu-west-1", "ws-1"))
    pipeline = cfg["service"]["pipelines"]["metrics/portkey-amp"]["processors"]
    assert pipeline[:2] == ["memory_limiter/portkey", "filter/portkey-amp"]
    assert cfg["processors"]["filter/portkey-amp"]["metrics"]["metric"] == [f'name == "{BUCKETS}"']
    validate_config(cfg)


def test_bucket_counts_from_the_sample_are_the_requests_within_each_bound():
    counted = {}  # by hand from the fixture: every bucket line's value, per provider and bound
    for line in FIXTURE.splitlines():
        match = re.match(r'llm_request_duration_milliseconds_bucket\{le="([^"]+)".*provider="([^"]+)".*\} (\S+)$', line)
        if match and match[1] in llm_metrics.PUBLISHED_BOUNDS:
            key = (match[2], match[1])
            counted[key] = counted.get(key, 0) + float(match[3])
    got = {(p["dimensions"]["provider"], p["dimensions"]["le"]): p["value"]
           for p in points(metric=BUCKETS, dims=["service", "provider", "le"])}
    assert got == counted and got[("openai", "1000")] == 1394 and got[("anthropic", "2500")] == 331
    totals = by(points(metric=BUCKETS, dims=["service", "le"]), "le")
    assert totals["+Inf"] == 1520 + 884 + 745 and totals["1000"] == 1435
    # "+Inf" counts every request: the histogram's SampleCount, per provider
    latency = by(points(metric="llm_request_duration_milliseconds", dims=["service", "provider"]), "provider")
    assert {provider: got[(provider, "+Inf")] for provider in latency} == {
        provider: stats["SampleCount"] for provider, stats in latency.items()}
    # cumulative: never fewer requests within a larger bound
    for provider in ("openai", "anthropic"):
        series = [got[(provider, bound)] for bound in llm_metrics.PUBLISHED_BOUNDS]
        assert series == sorted(series), provider


def test_the_bound_label_is_refused_on_any_other_metric():
    def keep_bound(c):
        c["processors"][AGGREGATE]["transforms"][0]["operations"][0]["label_set"].append("le")
    with pytest.raises(ValueError, match="request_count keeps 'le', which is never a dimension"):
        validate_config(broken(keep_bound))


@pytest.mark.parametrize("written,scraped", [("1", "1.0"), ("0.1", "0.1"), ("100", "100.0"), ("300000", "300000.0"),
                                             ("500000", "500000.0"), ("10000000", "1e+07"), ("+Inf", "+Inf")])
def test_the_reference_reads_bounds_as_prometheus_3_rewrites_them(written, scraped):
    """formatOpenMetricsFloat (model/textparse/protobufparse.go, v0.300.1): Go's shortest 'g', ".0" after whole numbers."""
    assert llm_metrics._openmetrics_float(written) == scraped


@pytest.mark.parametrize("include_model", [False, True])
def test_either_scraper_reading_of_the_bounds_gives_the_same_datapoints(include_model):
    """Prometheus 3 rewrites le="100" to "100.0" before the relabel rules, Prometheus 2 does not: CloudWatch gets the
    same metrics, with the gateway's form of each bound, either way."""
    assert to_datapoints(FIXTURE, include_model, prometheus_3=True) == to_datapoints(
        FIXTURE, include_model, prometheus_3=False)
    assert {p["dimensions"]["le"] for p in points(include_model, metric=BUCKETS)} == set(llm_metrics.PUBLISHED_BOUNDS)
