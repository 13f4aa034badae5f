"""The cost estimate (make cost): its arithmetic, checked by hand against the price table on synthesized
environments; every resource type accounted for; one-line errors for missing prices; the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from portkey_gateway import cost
from portkey_gateway.capacity import INSTANCE_SPECS

from .conftest import CONFIGS, ROOT, synthesize

PRICES = cost.load_prices()
HOURS = 730
NO_TRAFFIC = cost.Usage(traffic_gb=0, endpoint_gb=0, lcu=0, log_gb=0, requests_million=0)
EC2, VPC, ELB, CACHE = PRICES["ec2"]["hourly"], PRICES["vpc"], PRICES["elb"], PRICES["elasticache"]


def environment(name: str, data: dict | None = None, usage: cost.Usage = cost.Usage()) -> cost.Estimate:
    """The estimate of every stack of a configuration's synthesized assembly, as the command line reads it."""
    _, assembly = synthesize(name, data)
    return cost.estimate([stack.template for stack in cost.read_assembly(Path(assembly.directory))], PRICES, usage)


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
    assert (PRICES["region"], PRICES["currency"], str(PRICES["recorded"])) == ("us-east-1", "USD", "2026-11-29")
    sections = {name: table for name, table in PRICES.items() if isinstance(table, dict)}
    assert {"ec2", "ebs", "vpc", "privatelink", "elb", "elasticache", "secrets_manager", "kms", "waf",
            "cloudwatch"} <= set(sections)
    assert all(table["source"].startswith("https://aws.amazon.com/") for table in sections.values())


def test_every_instance_type_the_capacity_check_knows_has_a_price():
    assert sorted(set(INSTANCE_SPECS) - set(EC2)) == []


def test_the_default_cache_node_and_the_examples_node_have_prices():
    assert {"cache.t4g.small", "cache.r7g.large"} <= set(CACHE["node_hour"])


# ---------------------------------------------------------------------------------------------------- by hand

def test_prod_fixed_charges_match_the_price_table_by_hand():
    result = environment("config-prod", usage=NO_TRAFFIC)
    # m7g.xlarge, desired_asg_size 3, a 30 GiB gp3 root volume each, detailed monitoring on each.
    assert line(result, "EC2 m7g.xlarge, on-demand Linux").monthly == pytest.approx(3 * 0.1632 * HOURS)  # 357.41
    assert line(result, "EBS gp3 volumes (GB)").monthly == pytest.approx(3 * 30 * 0.08)  # 7.20
    assert line(result, "EC2 detailed monitoring metrics").monthly == pytest.approx(3 * 7 * 0.30)  # 6.30
    # num_az 3 and single_nat_gateway false: three NAT gateways, each with an Elastic IP.
    assert line(result, "NAT gateway").quantity == 3
    assert line(result, "NAT gateway").monthly == pytest.approx(3 * 0.045 * HOURS)  # 98.55
    assert line(result, "Public IPv4 address, Elastic IP").monthly == pytest.approx(3 * 0.005 * HOURS)  # 10.95
    # The control-plane PrivateLink endpoint, one network interface in each of the 3 private subnets.
    assert line(result, "Interface VPC endpoint, per AZ").monthly == pytest.approx(3 * 0.01 * HOURS)  # 21.90
    # The internet-facing ALB (one public IPv4 per AZ) and the internal NLB of the endpoint service (none).
    assert line(result, "Application Load Balancer").monthly == pytest.approx(0.0225 * HOURS)  # 16.43
    assert line(result, "Public IPv4 address, internet-facing LB (one per AZ)").monthly == pytest.approx(
        3 * 0.005 * HOURS)  # 10.95
    assert line(result, "Network Load Balancer").monthly == pytest.approx(0.0225 * HOURS)  # 16.43
    # Valkey cache.r7g.large, a primary and 2 replicas, at 20 % below the Redis OSS price.
    assert line(result, "ElastiCache valkey cache.r7g.large node").monthly == pytest.approx(
        3 * 0.219 * 0.8 * HOURS)  # 383.69
    # The two managed secrets (secrets stack) and the cache's AUTH token; the operations topic's key; WAF, 4 rules.
    assert line(result, "Secrets Manager secret").monthly == pytest.approx(3 * 0.40)
    assert line(result, "KMS customer managed key").monthly == pytest.approx(1.00)
    assert (line(result, "WAF web ACL").monthly, line(result, "WAF rules").monthly) == pytest.approx((5.00, 4.00))
    assert result.usage_total == 0 and result.total == pytest.approx(sum(c.monthly for c in result.lines))


def test_prod_usage_lines_follow_the_assumptions():
    usage = cost.Usage(traffic_gb=1000, endpoint_gb=50, lcu=2, log_gb=10, requests_million=30)
    result = environment("config-prod", usage=usage)
    assert line(result, "NAT gateway data processed (GB)").monthly == pytest.approx(1000 * 0.045)  # all gateways
    assert line(result, "Interface endpoint data processed (GB)").monthly == pytest.approx(50 * 0.01)  # 1 endpoint
    assert line(result, "Application Load Balancer capacity units").monthly == pytest.approx(2 * 0.008 * HOURS)
    assert line(result, "Network Load Balancer capacity units").monthly == pytest.approx(2 * 0.006 * HOURS)
    assert line(result, "WAF requests (millions)").monthly == pytest.approx(30 * 0.60)
    # Flow logs and WAF logs are vended logs; the gateway, data service, refresher and smoke-test logs are standard.
    assert line(result, "Vended logs ingestion: VPC flow, WAF (GB)").quantity == 2 * 10
    assert {c.item for c in result.lines if c.usage} == {
        "NAT gateway data processed (GB)", "Interface endpoint data processed (GB)",
        "Application Load Balancer capacity units", "Network Load Balancer capacity units", "WAF requests (millions)",
        "CloudWatch Logs ingestion (GB)", "Vended logs ingestion: VPC flow, WAF (GB)", "CloudWatch Logs storage (GB)",
        "S3 storage, log buckets (GB)"}
    fixed = environment("config-prod", usage=NO_TRAFFIC)
    assert result.total - result.usage_total == pytest.approx(fixed.total)


def test_minimal_dev_by_hand():
    result = environment("minimal-dev", usage=NO_TRAFFIC)
    assert line(result, "EC2 t4g.medium, on-demand Linux").monthly == pytest.approx(0.0336 * HOURS)  # 24.53
    assert line(result, "EBS gp3 volumes (GB)").monthly == pytest.approx(30 * 0.08)  # 2.40
    assert line(result, "NAT gateway").monthly == pytest.approx(0.045 * HOURS)  # single_nat_gateway: 32.85
    assert line(result, "Public IPv4 address, Elastic IP").monthly == pytest.approx(0.005 * HOURS)  # 3.65
    assert line(result, "Network Load Balancer").monthly == pytest.approx(0.0225 * HOURS)  # 16.43
    assert line(result, "KMS customer managed key").monthly == pytest.approx(1.00)
    # ECS managed scaling is a target-tracking policy on the group: its two alarms.
    assert line(result, "Alarms created by target tracking").quantity == 2
    # An internal NLB has no public address; secrets are named by ARN; the built-in Redis runs on the instances.
    assert not {"Public IPv4 address, internet-facing LB (one per AZ)", "Secrets Manager secret", "WAF web ACL",
                "Interface VPC endpoint, per AZ"} & items(result)
    assert not [c for c in result.lines if c.group == "cache"]
    assert result.total == pytest.approx(sum(c.monthly for c in result.lines))


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
    stacks = [cost.Stack("app", "us-east-1", template)]
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

def test_cli_prints_the_estimate_of_a_synthesized_assembly_with_its_total():
    _, assembly = synthesize("config-prod")
    usage = cost.Usage(traffic_gb=1000)
    run = run_cli(assembly.directory, "--traffic-gb", "1000")
    assert run.returncode == 0, run.stderr
    stacks = cost.read_assembly(Path(assembly.directory))
    expected = cost.estimate([stack.template for stack in stacks], PRICES, usage)
    assert run.stdout == cost.render(stacks, expected, PRICES, usage) + "\n"
    (total,) = [row for row in run.stdout.splitlines() if row.startswith("Total")]
    assert total.split()[-1] == f"{expected.total:,.2f}"
    assert "  --traffic-gb 1000: GB a month through the NAT gateways, all together" in run.stdout
    (nat_data,) = [row for row in run.stdout.splitlines() if row.startswith("  NAT gateway data processed (GB) *")]
    assert nat_data.split()[-1] == "45.00"
    assert "portkey-gateway-prod-secrets, portkey-gateway-prod (us-east-1, 730 hours a month)" in run.stdout
