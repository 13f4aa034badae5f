"""The cost estimate (make cost): its arithmetic, checked by hand against the price table on synthesized
environments; every resource type accounted for; one-line errors for missing prices, bad price tables and missing
assemblies; the command line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import yaml

from portkey_gateway import assembly, cost
from portkey_gateway.capacity import INSTANCE_SPECS

from .conftest import CONFIGS, ROOT, synthesize

PRICES = cost.load_prices()
HOURS = 730
NO_TRAFFIC = cost.Usage(traffic_gb=0, endpoint_gb=0, lcu=0, log_gb=0, requests_million=0, llm_metrics=0)
EC2, VPC, ELB, CACHE = PRICES["ec2"]["hourly"], PRICES["vpc"], PRICES["elb"], PRICES["elasticache"]
CLOUDWATCH = PRICES["cloudwatch"]

# config/prod.yaml by hand. Its log groups (logical id without the hash -> retention days): flow logs and WAF logs are
# vended logs, the others standard.
PROD_LOG_GROUPS = {
    "PortkeyGatewayNetworkFlowLogs": 90, "PortkeyGatewayFirewallLogs": 30,  # vended
    "PortkeyGatewayLogs": 30, "PortkeyGatewayDataServiceLogs": 30, "PortkeyGatewaySmokeTestHookLogs": 30,
    "PortkeyGatewayDiscoveryRefreshLogs": 30, "PortkeyGatewayComputeInstanceReleaseLogs": 90,
    "PortkeyGatewaySecretChangeRedeployLogs": 90, "DeployGuardLogs": 90,
    "PortkeyGatewayCacheTokenRotationLogs": 90, "PortkeyGatewayCacheTokenRotationCompletionLogs": 90,
    "PortkeyGatewayLlmMetricsLogs": 30, "PortkeyGatewayNetworkDefaultSecurityGroupLogs": 90,
}
VENDED = 2
# Its alarms (name without the stack prefix -> metrics billed): a metric-math alarm pays for each metric it reads.
PROD_ALARMS = {
    "gateway-unhealthy-targets": 2,  # blue/green: each of the two target groups
    "gateway-target-5xx": 4,  # 5xx and requests of each target group
    "gateway-no-healthy-targets": 2,  # healthy hosts of each target group
    "lb-5xx": 2,  # the load balancer's 5xx and requests
    "certificate-expiry": 1,
    "gateway-tasks-below-desired": 2, "data-service-tasks-below-desired": 2,  # desired and running
    "capacity-shortfall": 1,
    "cache-memory": 3, "cache-cpu": 3,  # one metric per cache node
    "secret-change-redeploy-errors": 1,
    "undelivered-events": 1,  # the dead-letter queue's visible messages
    "llm-5xx": 4, "llm-provider-latency": 2,  # the gateway's requests per status class; requests within 50 s, and all
    "llm-metrics-missing": 5,  # the ALB's requests and the gateway's per status class
}
# Target tracking: CPU and memory (2 alarms each), requests per target on each of the two target groups with scale-in
# disabled (1 each), and ECS managed scaling on the Auto Scaling group (2).
PROD_SCALING_ALARMS = 2 + 2 + 1 + 1 + 2
PROD_USAGE_ITEMS = {
    "NAT gateway data processed (GB)", "Interface endpoint data processed (GB)",
    "Application Load Balancer capacity units", "Network Load Balancer capacity units", "WAF requests (millions)",
    "CloudWatch Logs ingestion (GB)", "Vended logs ingestion: VPC flow, WAF (GB)", "CloudWatch Logs storage (GB)",
    "S3 storage, log buckets (GB)", "CloudWatch custom metrics, LLM traffic"}


def prod_by_hand(usage: cost.Usage) -> dict[str, tuple[float, float]]:
    """Every line of config/prod.yaml's estimate, item -> (quantity, USD a month per unit), from the price table."""
    month = {"EC2": EC2["m7g.xlarge"] * HOURS, "NAT": VPC["nat_gateway_hour"] * HOURS,
             "IPv4": VPC["public_ipv4_hour"] * HOURS}
    return {
        # desired_asg_size 3, each with a 30 GiB gp3 root volume and detailed monitoring.
        "EC2 m7g.xlarge, on-demand Linux": (3, month["EC2"]),
        "EBS gp3 volumes (GB)": (3 * 30, PRICES["ebs"]["gb_month"]["gp3"]),
        "EC2 detailed monitoring metrics": (3 * CLOUDWATCH["detailed_monitoring_metrics"], CLOUDWATCH["metric_month"]),
        # num_az 3, single_nat_gateway false: a NAT gateway and its Elastic IP per AZ; all traffic through them.
        "NAT gateway": (3, month["NAT"]),
        "NAT gateway data processed (GB)": (usage.traffic_gb, VPC["nat_gateway_gb"]),
        "Public IPv4 address, Elastic IP": (3, month["IPv4"]),
        # The control-plane PrivateLink endpoint: one interface in each of the 3 private subnets.
        "Interface VPC endpoint, per AZ": (3, PRICES["privatelink"]["interface_endpoint_az_hour"] * HOURS),
        "Interface endpoint data processed (GB)": (usage.endpoint_gb, PRICES["privatelink"]["interface_endpoint_gb"]),
        # The internet-facing ALB (a public IPv4 per AZ) and the internal NLB of the endpoint service.
        "Application Load Balancer": (1, ELB["application"]["hour"] * HOURS),
        "Application Load Balancer capacity units": (usage.lcu, ELB["application"]["lcu_hour"] * HOURS),
        "Public IPv4 address, internet-facing LB (one per AZ)": (3, month["IPv4"]),
        "Network Load Balancer": (1, ELB["network"]["hour"] * HOURS),
        "Network Load Balancer capacity units": (usage.lcu, ELB["network"]["lcu_hour"] * HOURS),
        # Valkey cache.r7g.large, a primary and 2 replicas, below the Redis OSS price.
        "ElastiCache valkey cache.r7g.large node":
            (3, round(CACHE["node_hour"]["cache.r7g.large"] * (1 - CACHE["valkey_discount"]), 6) * HOURS),
        # The secrets stack's docker-credentials and clientauth-organizations, and the cache's AUTH token.
        "Secrets Manager secret": (3, PRICES["secrets_manager"]["secret_month"]),
        # The operations topic's, and the environment's (encryption_key: create), which the secrets stack holds.
        "KMS customer managed key": (2, PRICES["kms"]["key_month"]),
        "WAF web ACL": (1, PRICES["waf"]["web_acl_month"]),
        "WAF rules": (4, PRICES["waf"]["rule_month"]),
        "WAF requests (millions)": (usage.requests_million, PRICES["waf"]["million_requests"]),
        "CloudWatch dashboard": (1, CLOUDWATCH["dashboard_month"]),
        "CloudWatch alarm metrics": (sum(PROD_ALARMS.values()), CLOUDWATCH["alarm_metric_month"]),
        "Alarms created by target tracking": (PROD_SCALING_ALARMS, CLOUDWATCH["alarm_metric_month"]),
        # The LLM-traffic collector's metrics, by the usage assumption (--llm-metrics).
        "CloudWatch custom metrics, LLM traffic": (usage.llm_metrics, CLOUDWATCH["metric_month"]),
        # Each log group takes --log-gb a month and keeps it for its retention (a month is 30 days).
        "CloudWatch Logs ingestion (GB)": ((len(PROD_LOG_GROUPS) - VENDED) * usage.log_gb,
                                           CLOUDWATCH["logs_ingestion_gb"]),
        "Vended logs ingestion: VPC flow, WAF (GB)": (VENDED * usage.log_gb, CLOUDWATCH["vended_logs_ingestion_gb"]),
        "CloudWatch Logs storage (GB)": (usage.log_gb * sum(PROD_LOG_GROUPS.values()) / 30,
                                         CLOUDWATCH["logs_storage_gb_month"]),
        # The access-log bucket expires objects after 90 days.
        "S3 storage, log buckets (GB)": (usage.log_gb * 90 / 30, PRICES["s3"]["standard_gb_month"]),
    }


def environment(name: str, data: dict | None = None, usage: cost.Usage = cost.Usage()) -> cost.Estimate:
    """The estimate of every stack of a configuration's synthesized assembly, as the command line reads it."""
    _, synthesized = synthesize(name, data)
    return cost.estimate([stack.template for stack in assembly.read_stacks(synthesized.directory)], PRICES, usage)


def line(result: cost.Estimate, item: str) -> cost.Line:
    (found,) = [candidate for candidate in result.lines if candidate.item == item]
    return found


def items(result: cost.Estimate) -> set[str]:
    return {candidate.item for candidate in result.lines}


def auto_scaling_group(instance_type: str = "t4g.medium", **sizes) -> dict:
    """A template with a launch template and the Auto Scaling group that launches it."""
    data = {"InstanceType": instance_type, "Monitoring": {"Enabled": True},
            "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 30, "VolumeType": "gp3"}}]}
    group = {"MinSize": "1", "MaxSize": "4", "LaunchTemplate": {"LaunchTemplateId": {"Ref": "Template"}}, **sizes}
    return {"Resources": {"Template": {"Type": "AWS::EC2::LaunchTemplate", "Properties": {"LaunchTemplateData": data}},
                          "Group": {"Type": "AWS::AutoScaling::AutoScalingGroup", "Properties": group}}}


def write_assembly(directory: Path, template: dict, region: str = "us-east-1") -> Path:
    """A cloud assembly as `cdk synth` writes it: a manifest listing one stack, and its template."""
    (directory / "app.template.json").write_text(json.dumps(template))
    manifest = {"artifacts": {"app": {"type": "aws:cloudformation:stack", "environment": f"aws://123456789012/{region}",
                                      "properties": {"templateFile": "app.template.json"}},
                              "Tree": {"type": "cdk:tree", "properties": {"file": "tree.json"}}}}
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "portkey_gateway.cost", *args], cwd=ROOT, capture_output=True,
                          text=True)


# ---------------------------------------------------------------------------------------------------- price table

def test_price_table_names_its_region_date_and_a_source_for_each_section():
    assert (PRICES["region"], PRICES["currency"]) == ("us-east-1", "USD")
    assert isinstance(PRICES["compiled"], date) and PRICES["compiled"] <= date.today()
    assert "not re-checked" in PRICES["note"] and "verify" in PRICES["note"]
    sections = {name: table for name, table in PRICES.items() if isinstance(table, dict) and name != "provenance"}
    assert PRICES["provenance"] == {"kind": "compiled"}  # not from the AWS Price List: make cost says so
    assert {"ec2", "ebs", "vpc", "privatelink", "elb", "elasticache", "secrets_manager", "kms", "waf",
            "cloudwatch"} <= set(sections)
    assert all(table["source"].startswith("https://aws.amazon.com/") for table in sections.values())


def test_every_instance_type_the_capacity_check_knows_has_a_price():
    assert sorted(set(INSTANCE_SPECS) - set(EC2)) == []


def test_the_default_cache_node_and_the_examples_node_have_prices():
    assert {"cache.t4g.small", "cache.r7g.large"} <= set(CACHE["node_hour"])


# ---------------------------------------------------------------------------------------------------- by hand

def test_prod_log_groups_and_alarms_are_the_ones_counted_by_hand():
    template, _ = synthesize("config-prod")
    groups = {key[:-8]: resource["Properties"].get("RetentionInDays") for key, resource in
              template["Resources"].items() if resource["Type"] == "AWS::Logs::LogGroup"}
    assert groups == PROD_LOG_GROUPS
    alarms = {resource["Properties"]["AlarmName"].removeprefix("portkey-gateway-prod-")
              for resource in template["Resources"].values() if resource["Type"] == "AWS::CloudWatch::Alarm"}
    assert alarms == set(PROD_ALARMS)


def test_prod_estimate_by_hand():
    result = environment("config-prod")  # the default usage: --log-gb 5 and so on
    expected = prod_by_hand(cost.Usage())
    assert {line.item: line.quantity for line in result.lines} == pytest.approx(
        {item: quantity for item, (quantity, _) in expected.items()})
    # At --log-gb 5: eleven standard groups take 55 GB, store 5 x (7 x 90 + 6 x 30) / 30 = 135 GB; S3 5 x 90 / 30 = 15.
    assert (line(result, "CloudWatch Logs storage (GB)").quantity, line(result, "S3 storage, log buckets (GB)").quantity,
            line(result, "CloudWatch Logs ingestion (GB)").quantity) == pytest.approx((135, 15, 55))
    for found in result.lines:
        quantity, unit = expected[found.item]
        assert found.monthly == pytest.approx(quantity * unit), found.item
    assert {found.item for found in result.lines if found.usage} == PROD_USAGE_ITEMS
    fixed = sum(quantity * unit for item, (quantity, unit) in expected.items() if item not in PROD_USAGE_ITEMS)
    assert result.total - result.usage_total == pytest.approx(fixed)
    assert environment("config-prod", usage=NO_TRAFFIC).total == pytest.approx(fixed)


def test_prod_usage_lines_follow_the_assumptions():
    usage = cost.Usage(traffic_gb=1000, endpoint_gb=50, lcu=2, log_gb=10, requests_million=30)
    result = environment("config-prod", usage=usage)
    assert line(result, "NAT gateway data processed (GB)").monthly == pytest.approx(1000 * 0.045)  # all gateways
    assert line(result, "Interface endpoint data processed (GB)").monthly == pytest.approx(50 * 0.01)  # 1 endpoint
    assert line(result, "Application Load Balancer capacity units").monthly == pytest.approx(2 * 0.008 * HOURS)
    assert line(result, "Network Load Balancer capacity units").monthly == pytest.approx(2 * 0.006 * HOURS)
    assert line(result, "WAF requests (millions)").monthly == pytest.approx(30 * 0.60)
    # Eleven standard log groups (gateway, data service, smoke test, instance release, secret-change redeploy,
    # discovery refresh, deploy guard, the cache token's rotation and completion, the LLM metrics, CDK's
    # default-security-group function) and two vended ones (flow logs, WAF).
    assert line(result, "CloudWatch Logs ingestion (GB)").quantity == 11 * 10
    assert line(result, "Vended logs ingestion: VPC flow, WAF (GB)").quantity == 2 * 10
    assert line(result, "CloudWatch Logs storage (GB)").quantity == pytest.approx(10 * (7 * 90 + 6 * 30) / 30)
    assert line(result, "S3 storage, log buckets (GB)").quantity == pytest.approx(10 * 90 / 30)


def test_minimal_dev_by_hand():
    result = environment("minimal-dev", usage=NO_TRAFFIC)
    expected = {
        "EC2 t4g.medium, on-demand Linux": (1, 0.0336 * HOURS),  # 24.53
        "EBS gp3 volumes (GB)": (30, 0.08),  # 2.40
        "EC2 detailed monitoring metrics": (7, 0.30),  # 2.10
        "NAT gateway": (1, 0.045 * HOURS),  # single_nat_gateway: 32.85
        "Public IPv4 address, Elastic IP": (1, 0.005 * HOURS),  # 3.65
        "Network Load Balancer": (1, 0.0225 * HOURS),  # internal: no public address; 16.43
        "KMS customer managed key": (1, 1.00),
        "CloudWatch dashboard": (1, 3.00),
        # Unhealthy and healthy targets 1 each, gateway and redis tasks below desired 2 each, capacity shortfall 1,
        # redeploy errors 1, undelivered events 1, the LLM 5xx share 4 (one per status class), provider latency 2 (the
        # requests within the bound, and all of them).
        "CloudWatch alarm metrics": (15, 0.10),
        "Alarms created by target tracking": (2, 0.10),  # ECS managed scaling on the group
    }
    # No usage lines at zero traffic; secrets are named by ARN; the built-in Redis runs on the instances.
    assert {found.item: found.quantity for found in result.lines} == {item: q for item, (q, _) in expected.items()}
    for found in result.lines:
        quantity, unit = expected[found.item]
        assert found.monthly == pytest.approx(quantity * unit), found.item
    assert result.total == pytest.approx(sum(quantity * unit for quantity, unit in expected.values()))  # 86.85


def test_single_nat_gateway_costs_less_than_one_per_az():
    per_az = environment("three-az-no-lb")
    single = environment("three-az-single-nat", {**CONFIGS["three-az-no-lb"](), "single_nat_gateway": True})
    assert (line(per_az, "NAT gateway").quantity, line(single, "NAT gateway").quantity) == (3, 1)
    assert (line(per_az, "Public IPv4 address, Elastic IP").quantity,
            line(single, "Public IPv4 address, Elastic IP").quantity) == (3, 1)
    # The same traffic crosses one gateway or three: only the hours differ.
    assert line(per_az, "NAT gateway data processed (GB)") == line(single, "NAT gateway data processed (GB)")
    assert per_az.total - single.total == pytest.approx(2 * (0.045 + 0.005) * HOURS)  # 73.00


def test_interface_endpoints_are_priced_per_az_and_the_s3_gateway_endpoint_is_free():
    result = environment("private-link-nlb", usage=NO_TRAFFIC)
    template, _ = synthesize("private-link-nlb")
    endpoints = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::EC2::VPCEndpoint"]
    interface = [e for e in endpoints if e["VpcEndpointType"] == "Interface"]
    assert len(endpoints) > len(interface) > 1  # the S3 gateway endpoint besides the AWS API and Portkey endpoints
    assert line(result, "Interface VPC endpoint, per AZ").monthly == pytest.approx(
        len(interface) * 2 * 0.01 * HOURS)  # num_az 2


def test_created_cache_nodes_by_mode():
    cluster = environment("valkey-created", usage=NO_TRAFFIC)  # cluster mode: 2 shards x (1 replica + primary)
    assert line(cluster, "ElastiCache valkey cache.r7g.large node").monthly == pytest.approx(4 * 0.1752 * HOURS)
    standalone = environment("valkey-standalone", usage=NO_TRAFFIC)  # the default node, no replica
    assert line(standalone, "ElastiCache valkey cache.t4g.small node").monthly == pytest.approx(0.032 * 0.8 * HOURS)


# ---------------------------------------------------------------------------------------------------- counting

def test_instances_are_the_desired_capacity_else_the_minimum_and_the_maximum_is_a_note():
    result = cost.estimate([auto_scaling_group(DesiredCapacity="2")], PRICES, NO_TRAFFIC)
    assert line(result, "EC2 t4g.medium, on-demand Linux").quantity == 2
    assert line(result, "EBS gp3 volumes (GB)").quantity == 60
    assert line(result, "EC2 detailed monitoring metrics").quantity == 14
    assert any("up to 4 t4g.medium instances" in note and f"{4 * 0.0336 * HOURS:,.2f}" in note
               for note in result.notes)
    without_desired = cost.estimate([auto_scaling_group(MinSize="3")], PRICES, NO_TRAFFIC)
    assert line(without_desired, "EC2 t4g.medium, on-demand Linux").quantity == 3


def test_alarms_are_billed_per_metric_they_read():
    assert cost.alarm_metrics({"MetricName": "CPUUtilization", "Namespace": "AWS/EC2"}) == 1
    math = {"Metrics": [{"Id": "expr", "Expression": "100 * e / r", "ReturnData": True},
                        {"Id": "e", "MetricStat": {}, "ReturnData": False},
                        {"Id": "r", "MetricStat": {}, "ReturnData": False}]}
    assert cost.alarm_metrics(math) == 2
    template = {"Resources": {"A": {"Type": "AWS::CloudWatch::Alarm", "Properties": math},
                              "B": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"MetricName": "X"}},
                              "D": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {}}}}
    result = cost.estimate([template], PRICES, NO_TRAFFIC)
    assert line(result, "CloudWatch alarm metrics").monthly == pytest.approx(3 * 0.10)
    assert line(result, "CloudWatch dashboard").monthly == pytest.approx(3.00)


def test_target_tracking_alarms():
    tracking = {"PolicyType": "TargetTrackingScaling", "TargetTrackingScalingPolicyConfiguration": {}}
    assert cost.scaling_alarms(tracking) == 2
    assert cost.scaling_alarms({**tracking, "TargetTrackingScalingPolicyConfiguration": {"DisableScaleIn": True}}) == 1
    assert cost.scaling_alarms({"PolicyType": "StepScaling"}) == 0


def test_an_unknown_resource_type_is_reported_not_dropped():
    template = {"Resources": {"Db": {"Type": "AWS::RDS::DBInstance", "Properties": {}},
                              "Key": {"Type": "AWS::KMS::Key", "Properties": {}}}}
    result = cost.estimate([template], PRICES, NO_TRAFFIC)
    assert result.unpriced == {"AWS::RDS::DBInstance": 1}
    stacks = [assembly.Stack("app", "us-east-1", template)]
    assert "Not priced (unknown resource type, add it to portkey_gateway/cost.py): AWS::RDS::DBInstance x1" in (
        cost.render(stacks, result, PRICES, NO_TRAFFIC))


@pytest.mark.parametrize("name", CONFIGS)
def test_every_resource_type_of_every_template_is_priced_or_known_to_be_free(name):
    _, assembly = synthesize(name)
    types = {r["Type"] for stack in assembly.stacks for r in stack.template["Resources"].values()}
    assert sorted(t for t in types if not cost.covers(t)) == [], "price these in cost.py, or add them to FREE"
    assert cost.estimate([stack.template for stack in assembly.stacks], PRICES).unpriced == {}


# ---------------------------------------------------------------------------------------------------- errors

def test_an_instance_type_missing_from_the_table_is_a_one_line_error(tmp_path):
    with pytest.raises(cost.EstimateError, match=r"^no price for instance type x9g\.large: add it to "
                                              r"portkey_gateway/prices\.yaml under ec2\.hourly$"):
        cost.estimate([auto_scaling_group("x9g.large")], PRICES)
    run = run_cli(str(write_assembly(tmp_path, auto_scaling_group("x9g.large"))))
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.splitlines() == ["cost: no price for instance type x9g.large: add it to "
                                       "portkey_gateway/prices.yaml under ec2.hourly"]


def test_a_cache_node_type_missing_from_the_table_is_a_one_line_error():
    group = {"CacheNodeType": "cache.x2gd.large", "Engine": "valkey", "NumCacheClusters": 2}
    template = {"Resources": {"Cache": {"Type": "AWS::ElastiCache::ReplicationGroup", "Properties": group}}}
    with pytest.raises(cost.EstimateError, match=r"^no price for cache node type cache\.x2gd\.large: .*"
                                              r"elasticache\.node_hour$"):
        cost.estimate([template], PRICES)


def test_another_region_is_a_warning_and_the_figures_are_labelled(tmp_path):
    run = run_cli(str(write_assembly(tmp_path, auto_scaling_group(), region="eu-west-1")))
    assert run.returncode == 0, run.stderr
    first, second = run.stdout.splitlines()[:2]
    assert first.startswith("WARNING: the price table is for us-east-1, the stacks are in eu-west-1")
    assert "prices.yaml" in first and "(us-east-1 prices, 730 hours a month)" in second


def test_a_missing_assembly_is_a_one_line_error(tmp_path):
    run = run_cli(str(tmp_path))
    assert run.returncode == 2 and run.stderr.splitlines() == [f"cost: no {tmp_path / 'manifest.json'}: "
                                                               "synthesize first (make synth)"]


# ---------------------------------------------------------------------------------------------------- command line

def money(text: str) -> float:
    return float(text.replace(",", ""))


def test_cli_prints_the_estimate_of_a_synthesized_assembly_with_its_total():
    _, synthesized = synthesize("config-prod")
    run = run_cli(synthesized.directory, "--traffic-gb", "1000")
    assert run.returncode == 0, run.stderr
    rows = run.stdout.splitlines()
    expected = prod_by_hand(cost.Usage(traffic_gb=1000))
    for item, (quantity, unit) in expected.items():
        mark = " *" if item in PROD_USAGE_ITEMS else ""
        (row,) = [row for row in rows if row.startswith(f"  {item}{mark}  ")]
        printed_quantity, monthly = re.fullmatch(r".*?\s{2,}([\d,.]+)  \S+ / .+?\s+([\d,.]+)", row).groups()
        assert money(printed_quantity) == pytest.approx(quantity, abs=0.005), row
        assert money(monthly) == pytest.approx(quantity * unit, abs=0.005), row
    usage_based = sum(quantity * unit for item, (quantity, unit) in expected.items() if item in PROD_USAGE_ITEMS)
    total = sum(quantity * unit for quantity, unit in expected.values())
    (total_row,) = [row for row in rows if row.startswith("Total")]
    (usage_row,) = [row for row in rows if row.startswith("  of which usage-based (*)")]
    assert money(total_row.split()[-1]) == pytest.approx(total, abs=0.005)
    assert money(usage_row.split()[-1]) == pytest.approx(usage_based, abs=0.005)
    (nat_data,) = [row for row in rows if row.startswith("  NAT gateway data processed (GB) *")]
    assert nat_data.split()[-1] == "45.00"  # 1000 GB at 0.045
    assert "  --traffic-gb 1000: GB a month through the NAT gateways, all together" in rows
    assert "portkey-gateway-prod (us-east-1, 730 hours a month)" in run.stdout
    assert rows[1] == (f"Prices: compiled {PRICES['compiled']}, not verified against the AWS Price List: run make "
                       "prices REGION=us-east-1")
    assert f"Price table: us-east-1, USD, on-demand, compiled {PRICES['compiled']} in portkey_gateway/prices.yaml. " \
           f"{PRICES['note']}" in rows


# ---------------------------------------------------------------------------------------------------- bad input

def test_a_missing_price_table_is_a_one_line_error(tmp_path):
    run = run_cli(str(write_assembly(tmp_path, auto_scaling_group())), "--prices", str(tmp_path / "none.yaml"))
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.splitlines() == [f"cost: no price table {tmp_path / 'none.yaml'}"]


def test_a_price_table_that_is_not_yaml_is_a_one_line_error(tmp_path):
    (tmp_path / "prices.yaml").write_text("region: us-east-1\nec2: [1, 2\n")
    run = run_cli(str(write_assembly(tmp_path, auto_scaling_group())), "--prices", str(tmp_path / "prices.yaml"))
    assert run.returncode == 2 and run.stdout == ""
    (message,) = run.stderr.splitlines()
    assert message.startswith(f"cost: {tmp_path / 'prices.yaml'} is not valid YAML: ") and "line" in message


def refusal(table: dict, directory: Path) -> tuple[Path, cost.EstimateError]:
    """The table written to prices.yaml in `directory`, and the error loading it raises."""
    path = directory / "prices.yaml"
    path.write_text(yaml.safe_dump(table))
    with pytest.raises(cost.EstimateError) as raised:
        cost.load_prices(path)
    return path, raised.value


def test_a_price_table_without_a_section_or_a_key_is_refused_when_loaded(tmp_path):
    table = yaml.safe_load(cost.PRICES.read_text())
    del table["s3"], table["vpc"]["nat_gateway_hour"]
    table["waf"]["rule_month"] = "one dollar"
    path, error = refusal(table, tmp_path)
    assert str(error) == (f"{path} is not a complete price table: needs vpc.nat_gateway_hour (a number), "
                                 "waf.rule_month (a number), s3 (a table)")
    run = run_cli(str(write_assembly(tmp_path, auto_scaling_group())), "--prices", str(path))
    assert run.returncode == 2 and run.stderr.splitlines() == [f"cost: {error}"]


def test_a_missing_template_file_is_a_one_line_error(tmp_path):
    write_assembly(tmp_path, auto_scaling_group())
    (tmp_path / "app.template.json").unlink()
    run = run_cli(str(tmp_path))
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.splitlines() == [f"cost: no {tmp_path / 'app.template.json'}: synthesize first (make synth)"]


def test_assembly_errors(tmp_path):
    with pytest.raises(assembly.AssemblyError, match=r"^no .*missing: synthesize first \(make synth\)$"):
        assembly.read_stacks(tmp_path / "missing")
    (tmp_path / "manifest.json").write_text(json.dumps({"artifacts": {"Tree": {"type": "cdk:tree"}}}))
    with pytest.raises(assembly.AssemblyError, match=r"^no CloudFormation stack in .*manifest\.json$"):
        assembly.read_stacks(tmp_path)


def test_an_environment_agnostic_stack_has_no_region_and_no_warning(tmp_path):
    (stack,) = assembly.read_stacks(write_assembly(tmp_path, auto_scaling_group(), region="unknown-region"))
    assert stack.region is None and cost.region_warning([stack], PRICES) is None
