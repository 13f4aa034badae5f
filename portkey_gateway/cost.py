"""Estimated monthly cost of a synthesized environment, before it is deployed.

Reads the cloud assembly (`cdk.out/manifest.json` and every stack template it lists, see `assembly`), counts what
each template creates, prices it from `prices.yaml` and prints one line per kind of resource, so that choices such
as one NAT gateway or one per AZ, or NAT against interface endpoints, can be compared on paper. Fixed charges (per hour, per
month) come from the templates alone; charges that depend on traffic come from the `Usage` assumptions, which are
printed with the estimate and marked. Standard library and PyYAML only: it runs without the CDK.

    python -m portkey_gateway.cost cdk.out [--traffic-gb 500] [--log-gb 20] ...
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Callable, Iterable, Optional

import yaml

from .assembly import AssemblyError, Stack, asg_instances, cache_nodes, internet_facing, of_type, read_stacks, ref

PRICES = Path(__file__).with_name("prices.yaml")
HOURS = 730  # AWS's hours in a month
GROUPS = ("compute", "network", "load balancing", "cache", "security", "observability")

# Resource types that cost nothing by themselves, or are paid through another resource that is priced. A type that
# is in neither this set nor PRICERS is printed as "not priced", never dropped: a new resource type must be decided.
FREE = frozenset({
    # IAM is free.
    "AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::InstanceProfile",
    # VPC plumbing: no charge for the VPC, subnets, route tables, routes, the internet gateway, security groups.
    "AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::RouteTable", "AWS::EC2::Route",
    "AWS::EC2::SubnetRouteTableAssociation", "AWS::EC2::InternetGateway", "AWS::EC2::VPCGatewayAttachment",
    "AWS::EC2::SecurityGroup", "AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress",
    # Paid through another resource: the Auto Scaling group prices its launch template's instances and volumes; flow
    # logs and WAF logging are priced as vended-log ingestion of the log group they write to.
    "AWS::EC2::LaunchTemplate", "AWS::EC2::FlowLog", "AWS::WAFv2::LoggingConfiguration",
    # PrivateLink provider side: the endpoint service is free (its NLB is priced; consumers pay for their endpoints).
    "AWS::EC2::VPCEndpointService", "AWS::EC2::VPCEndpointServicePermissions",
    # ECS on EC2: clusters, services and task definitions are free (the instances are priced; a task definition's
    # LLM-traffic collector publishes custom metrics, priced), as is the Service Connect namespace. Container Insights
    # is billed by CloudWatch: a note says so.
    "AWS::ECS::Cluster", "AWS::ECS::ClusterCapacityProviderAssociations", "AWS::ECS::Service",
    "AWS::ServiceDiscovery::HttpNamespace",
    # Load balancer parts, paid through the load balancer's hours and capacity units.
    "AWS::ElasticLoadBalancingV2::Listener", "AWS::ElasticLoadBalancingV2::ListenerRule",
    "AWS::ElasticLoadBalancingV2::ListenerCertificate", "AWS::ElasticLoadBalancingV2::TargetGroup",
    "AWS::WAFv2::WebACLAssociation",
    # Configuration objects.
    "AWS::ElastiCache::ParameterGroup", "AWS::ElastiCache::SubnetGroup", "AWS::S3::BucketPolicy",
    "AWS::ApplicationAutoScaling::ScalableTarget", "AWS::Logs::ResourcePolicy",
    # Public ACM certificates are free; records in an existing hosted zone cost nothing per record, and alias queries
    # to AWS resources are free.
    "AWS::CertificateManager::Certificate", "AWS::Route53::RecordSet",
    # Notifications and events: an SNS topic with a few email notifications a month, and EventBridge rules on AWS
    # service events, cost nothing (or a cent).
    "AWS::SNS::Topic", "AWS::SNS::TopicPolicy", "AWS::SNS::Subscription", "AWS::Events::Rule",
    # The dead-letter queue holds only failed events: a handful of requests, inside SQS's free tier (1M a month).
    "AWS::SQS::Queue", "AWS::SQS::QueuePolicy",
    # Secrets Manager bills per secret (priced) and per 10,000 API calls: a rotation a month is a few calls; the
    # key's alias is free.
    "AWS::SecretsManager::ResourcePolicy", "AWS::SecretsManager::RotationSchedule", "AWS::KMS::Alias",
    # Lambda: the smoke-test hook, the refresher and the custom-resource handlers run a few times a day or a deploy,
    # far inside the free tier (1M requests and 400,000 GB-seconds a month): negligible.
    "AWS::Lambda::Function", "AWS::Lambda::Permission", "AWS::Lambda::EventInvokeConfig",
    # The CDK's own: metadata, and custom resources (their handlers are Lambda functions, see above).
    "AWS::CDK::Metadata", "AWS::CloudFormation::CustomResource",
})


class EstimateError(Exception):
    """Why there is no estimate, in one line: a price the table lacks (a wrong figure would be worse), or a price
    table that cannot be read."""


@dataclass(frozen=True)
class Usage:
    """Traffic the templates cannot tell; each field is a command-line option (`--traffic-gb` ...)."""

    traffic_gb: float = field(default=100, metadata={"help": "GB a month through the NAT gateways, all together"})
    endpoint_gb: float = field(default=10, metadata={"help": "GB a month through each interface VPC endpoint"})
    lcu: float = field(default=1, metadata={"help": "capacity units (LCU, NLCU) per load balancer, on average"})
    log_gb: float = field(default=5, metadata={"help": "GB a month into each log group and each log bucket"})
    requests_million: float = field(default=10, metadata={"help": "million requests a month through the WAF"})
    llm_metrics: float = field(default=200, metadata={
        "help": "custom metrics the LLM-traffic collector publishes (each metric x its dimension values: providers, "
                "status classes, endpoints, ...; the provider latency's 13 bucket counts per provider and overall)"})


@dataclass(frozen=True)
class Line:
    """One kind of charge: quantity x unit price, times 730 when the unit is hourly."""

    group: str
    item: str
    quantity: float
    unit: str  # what unit_price buys; a unit ending in "hour" is billed 730 times a month
    unit_price: float
    usage: bool = False  # depends on the Usage assumptions

    @property
    def monthly(self) -> float:
        return self.quantity * self.unit_price * (HOURS if self.unit.endswith("hour") else 1)


@dataclass(frozen=True)
class Estimate:
    lines: tuple[Line, ...]
    notes: tuple[str, ...]
    unpriced: dict[str, int]  # resource type -> count, for types neither priced nor known to be free

    @property
    def total(self) -> float:
        return sum(line.monthly for line in self.lines)

    @property
    def usage_total(self) -> float:
        return sum(line.monthly for line in self.lines if line.usage)


# ---------------------------------------------------------------------------------------------------- reading

NUMBER = (int, float)
KIND_NAMES = {str: "text", date: "a date", NUMBER: "a number"}
# Every key the pricers, the notes and the footer read, and the kind of its value: a table that lacks one is refused
# when it is loaded, with its name, rather than failing half-way through an estimate. A dict without keys is a
# table of names (instance types, volume types, node types) whose entries are looked up one by one.
SHAPE: dict = {
    "region": str, "currency": str, "compiled": date, "note": str,
    "ec2": {"source": str, "hourly": {}},
    "ebs": {"source": str, "gb_month": {}},
    "vpc": {"source": str, "nat_gateway_hour": NUMBER, "nat_gateway_gb": NUMBER, "public_ipv4_hour": NUMBER},
    "privatelink": {"source": str, "interface_endpoint_az_hour": NUMBER, "interface_endpoint_gb": NUMBER},
    "elb": {"source": str, "application": {"hour": NUMBER, "lcu_hour": NUMBER},
            "network": {"hour": NUMBER, "lcu_hour": NUMBER}},
    "elasticache": {"source": str, "valkey_discount": NUMBER, "node_hour": {}},
    "secrets_manager": {"source": str, "secret_month": NUMBER},
    "kms": {"source": str, "key_month": NUMBER},
    "waf": {"source": str, "web_acl_month": NUMBER, "rule_month": NUMBER, "million_requests": NUMBER},
    "cloudwatch": {"source": str, "dashboard_month": NUMBER, "alarm_metric_month": NUMBER,
                   "composite_alarm_month": NUMBER, "metric_month": NUMBER, "detailed_monitoring_metrics": NUMBER,
                   "logs_ingestion_gb": NUMBER, "vended_logs_ingestion_gb": NUMBER, "logs_storage_gb_month": NUMBER},
    "s3": {"source": str, "standard_gb_month": NUMBER},
}


# Where the figures come from (optional: a table without it was compiled by hand). `make prices` writes kind
# aws-price-list with the region, the day it fetched and each offer file's publication date, and `skus`: per dotted
# figure name, the offer file and SKU.offerTermCode.rateCode it came from (see price_list.py).
PROVENANCE_KINDS = ("compiled", "aws-price-list")
PRICE_LIST_SHAPE: dict = {"region": str, "fetched": date, "offers": {}}
SECTIONS = tuple(name for name, kind in SHAPE.items() if isinstance(kind, dict))


def load_prices(path: Path = PRICES) -> dict:
    """The price table, checked against SHAPE; EstimateError (one line) for a missing, unreadable or short one."""
    path = Path(path)
    if not path.is_file():
        raise EstimateError(f"no price table {path}")
    try:
        prices = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:  # its message spans several lines: the problem and its line are enough
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise EstimateError(f"{path} is not valid YAML: {problem}{f' at line {mark.line + 1}' if mark else ''}") \
            from None
    problems = [*_misshapen(prices, SHAPE), *_unsourced(prices)] if isinstance(prices, dict) \
        else ["a mapping at the top"]
    if problems:
        raise EstimateError(f"{path} is not a complete price table: needs {', '.join(problems)}")
    return prices


def _misshapen(table: dict, shape: dict, prefix: str = "") -> Iterable[str]:
    """The dotted names of the keys `table` lacks or holds the wrong kind of value under."""
    for key, kind in shape.items():
        name, value = prefix + key, table.get(key)
        if isinstance(kind, dict):
            if not isinstance(value, dict):
                yield f"{name} (a table)"
            else:
                yield from _misshapen(value, kind, f"{name}.")
        elif not isinstance(value, kind) or isinstance(value, bool):
            yield f"{name} ({KIND_NAMES[kind]})"


def _unsourced(prices: dict) -> Iterable[str]:
    """What a table's provenance lacks, when it has one."""
    provenance = prices.get("provenance")
    if provenance is None:
        return
    if not isinstance(provenance, dict):
        yield "provenance (a table)"
        return
    if provenance.get("kind") not in PROVENANCE_KINDS:
        yield f"provenance.kind ({' or '.join(PROVENANCE_KINDS)})"
    elif provenance["kind"] == "aws-price-list":
        yield from _misshapen(provenance, PRICE_LIST_SHAPE, "provenance.")
        offers = provenance.get("offers")
        if isinstance(offers, dict) and not (offers and all(isinstance(day, str) for day in offers.values())):
            yield "provenance.offers (each offer file's publication date)"
        if provenance.get("region") != prices.get("region"):
            yield "provenance.region (the table's region)"
        if not isinstance(prices.get("skus"), dict):
            yield "skus (a table)"


def provenance_line(prices: dict) -> str:
    """Where the figures come from, in one line: the AWS Price List and its dates, or a warning that they do not."""
    provenance = prices.get("provenance") or {}
    if provenance.get("kind") == "aws-price-list":
        days = sorted({str(published)[:10] for published in provenance["offers"].values()})
        published = days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}"
        return (f"Prices: AWS Price List, {provenance['region']}, published {published} "
                f"(fetched {provenance['fetched']})")
    return (f"Prices: compiled {prices['compiled']}, not verified against the AWS Price List: run make prices "
            f"REGION={prices['region']}")


def covers(resource_type: str) -> bool:
    """Whether the estimate accounts for a resource type: priced, or known to cost nothing by itself."""
    return resource_type in PRICERS or resource_type in FREE or resource_type.startswith("Custom::")


# ---------------------------------------------------------------------------------------------------- counting

def _count(value) -> int:
    """Entries of a list property (subnets); a value CloudFormation resolves at deploy time counts as one."""
    return len(value) if isinstance(value, list) else 1


def _lookup(table: dict, name: str, what: str, where: str) -> float:
    if name not in table:
        raise EstimateError(f"no price for {what} {name}: add it to portkey_gateway/prices.yaml under {where}")
    return table[name]


def launch_template_data(resources: dict, asg_id: str, asg: dict) -> dict:
    """The launch template's data (instance type, volumes, monitoring) of the group that references it."""
    template_id = ref(asg.get("LaunchTemplate", {}).get("LaunchTemplateId"))
    if template_id not in resources:
        raise EstimateError(f"{asg_id}: its launch template is not in the template, so its instance type is unknown")
    return resources[template_id]["Properties"]["LaunchTemplateData"]


def alarm_metrics(alarm: dict) -> int:
    """Metrics an alarm is billed for: each metric a metric-math alarm reads (not its expressions), else one."""
    if "Metrics" in alarm:
        return sum(1 for query in alarm["Metrics"] if "MetricStat" in query)
    return 1


def scaling_alarms(policy: dict) -> int:
    """Alarms a target-tracking policy creates: one to scale out, one to scale in unless scale-in is disabled."""
    if policy.get("PolicyType") != "TargetTrackingScaling":
        return 0
    return 1 if policy["TargetTrackingScalingPolicyConfiguration"].get("DisableScaleIn") else 2


def retained_gb(gb_a_month: float, days: Optional[int]) -> float:
    """GB held at steady state when each month's gb_a_month is kept `days` (a year when kept forever); an upper
    bound, since CloudWatch bills stored logs compressed."""
    return gb_a_month * (days or 365) / 30


def _expiration_days(bucket: dict) -> Optional[int]:
    days = [rule["ExpirationInDays"] for rule in bucket.get("LifecycleConfiguration", {}).get("Rules", [])
            if rule.get("Status") == "Enabled" and "ExpirationInDays" in rule]
    return min(days) if days else None


# ---------------------------------------------------------------------------------------------------- pricing
# A pricer gets the resources of its type in one template (id, properties), the whole template's resources (for
# references) and the price table, and yields lines; equal lines are merged afterwards.

Items = list[tuple[str, dict]]
Pricer = Callable[[Items, dict, dict, Usage], Iterable[Line]]


def _each(group: str, item: str, unit: str, section: str, key: str) -> Pricer:
    """A pricer for a type billed a flat amount per resource, by the hour or by the month."""
    def pricer(items: Items, resources: dict, prices: dict, usage: Usage) -> Iterable[Line]:
        yield Line(group, item, len(items), unit, prices[section][key])
    return pricer


def _instances(items: Items, resources: dict, prices: dict, usage: Usage) -> Iterable[Line]:
    cloudwatch = prices["cloudwatch"]
    for asg_id, asg in items:
        count, data = asg_instances(asg), launch_template_data(resources, asg_id, asg)
        instance_type = data["InstanceType"]
        yield Line("compute", f"EC2 {instance_type}, on-demand Linux", count, "hour",
                   _lookup(prices["ec2"]["hourly"], instance_type, "instance type", "ec2.hourly"))
        for mapping in data.get("BlockDeviceMappings", []):
            volume = mapping.get("Ebs", {})
            volume_type = volume.get("VolumeType", "gp2")
            yield Line("compute", f"EBS {volume_type} volumes (GB)", count * volume.get("VolumeSize", 30), "GB-month",
                       _lookup(prices["ebs"]["gb_month"], volume_type, "EBS volume type", "ebs.gb_month"))
        if data.get("Monitoring", {}).get("Enabled"):
            yield Line("observability", "EC2 detailed monitoring metrics",
                       count * cloudwatch["detailed_monitoring_metrics"], "month", cloudwatch["metric_month"])


def _nat_gateways(items: Items, resources: dict, prices: dict, usage: Usage) -> Iterable[Line]:
    yield Line("network", "NAT gateway", len(items), "hour", prices["vpc"]["nat_gateway_hour"])
    yield Line("network", "NAT gateway data processed (GB)", usage.traffic_gb, "GB", prices["vpc"]["nat_gateway_gb"],
               usage=True)


def _endpoints(items: Items, resources: dict, prices: dict, usage: Usage) -> Iterable[Line]:
    interface = [endpoint for _, endpoint in items if endpoint.get("VpcEndpointType") == "Interface"]
    if interface:  # gateway endpoints (S3), CloudFormation's default type, are free
        link = prices["privatelink"]
        yield Line("network", "Interface VPC endpoint, per AZ", sum(_count(e.get("SubnetIds")) for e in interface),
                   "hour", link["interface_endpoint_az_hour"])
        yield Line("network", "Interface endpoint data processed (GB)", usage.endpoint_gb * len(interface), "GB",
                   link["interface_endpoint_gb"], usage=True)


def _load_balancers(items: Items, resources: dict, prices: dict, usage: Usage) -> Iterable[Line]:
    for _, balancer in items:
        kind = balancer.get("Type", "application")
        rates = _lookup(prices["elb"], kind, "load balancer type", "elb")
        name = f"{kind.capitalize()} Load Balancer"
        yield Line("load balancing", name, 1, "hour", rates["hour"])
        yield Line("load balancing", f"{name} capacity units", usage.lcu, "LCU-hour", rates["lcu_hour"], usage=True)
        if internet_facing(balancer):
            subnets = balancer.get("Subnets", balancer.get("SubnetMappings"))
            yield Line("load balancing", "Public IPv4 address, internet-facing LB (one per AZ)", _count(subnets),
                       "hour", prices["vpc"]["public_ipv4_hour"])


def _caches(items: Items, resources: dict, prices: dict, usage: Usage) -> Iterable[Line]:
    table = prices["elasticache"]
    for _, group in items:
        node_type, engine = group["CacheNodeType"], group.get("Engine", "redis")
        price = _lookup(table["node_hour"], node_type, "cache node type", "elasticache.node_hour")
        if engine == "valkey":
            price = round(price * (1 - table["valkey_discount"]), 6)
        yield Line("cache", f"ElastiCache {engine} {node_type} node", cache_nodes(group), "hour", price)


def _web_acls(items: Items, resources: dict, prices: dict, usage: Usage) -> Iterable[Line]:
    waf = prices["waf"]
    for _, acl in items:
        yield Line("security", "WAF web ACL", 1, "month", waf["web_acl_month"])
        yield Line("security", "WAF rules", len(acl.get("Rules", [])), "month", waf["rule_month"])
        yield Line("security", "WAF requests (millions)", usage.requests_million, "million requests",
                   waf["million_requests"], usage=True)


def _alarms(items: Items, resources: dict, prices: dict, usage: Usage) -> Iterable[Line]:
    yield Line("observability", "CloudWatch alarm metrics", sum(alarm_metrics(alarm) for _, alarm in items), "month",
               prices["cloudwatch"]["alarm_metric_month"])


_SCALING_ALARMS = "Alarms created by target tracking"


def _scaling_policy_alarms(items: Items, resources: dict, prices: dict, usage: Usage) -> Iterable[Line]:
    yield Line("observability", _SCALING_ALARMS, sum(scaling_alarms(policy) for _, policy in items), "month",
               prices["cloudwatch"]["alarm_metric_month"])


def _managed_scaling_alarms(items: Items, resources: dict, prices: dict, usage: Usage) -> Iterable[Line]:
    """ECS managed scaling is a target-tracking policy on the Auto Scaling group: two alarms each."""
    managed = sum(1 for _, provider in items
                  if provider.get("AutoScalingGroupProvider", {}).get("ManagedScaling", {}).get("Status") == "ENABLED")
    yield Line("observability", _SCALING_ALARMS, 2 * managed, "month", prices["cloudwatch"]["alarm_metric_month"])


def _log_groups(items: Items, resources: dict, prices: dict, usage: Usage) -> Iterable[Line]:
    """Ingestion at the standard rate, or the vended-log rate for VPC flow logs and WAF logs, and storage for the
    retention of each group."""
    cloudwatch = prices["cloudwatch"]
    flow_log_groups = {ref(flow.get("LogGroupName")) for _, flow in of_type(resources, "AWS::EC2::FlowLog")}
    vended = sum(1 for log_id, group in items
                 if log_id in flow_log_groups or str(group.get("LogGroupName", "")).startswith("aws-waf-logs-"))
    if len(items) > vended:
        yield Line("observability", "CloudWatch Logs ingestion (GB)", (len(items) - vended) * usage.log_gb, "GB",
                   cloudwatch["logs_ingestion_gb"], usage=True)
    if vended:
        yield Line("observability", "Vended logs ingestion: VPC flow, WAF (GB)", vended * usage.log_gb, "GB",
                   cloudwatch["vended_logs_ingestion_gb"], usage=True)
    yield Line("observability", "CloudWatch Logs storage (GB)",
               sum(retained_gb(usage.log_gb, group.get("RetentionInDays")) for _, group in items), "GB-month",
               cloudwatch["logs_storage_gb_month"], usage=True)


def _buckets(items: Items, resources: dict, prices: dict, usage: Usage) -> Iterable[Line]:
    """The project's buckets hold load balancer access logs, kept until their lifecycle expires them."""
    yield Line("observability", "S3 storage, log buckets (GB)",
               sum(retained_gb(usage.log_gb, _expiration_days(bucket)) for _, bucket in items), "GB-month",
               prices["s3"]["standard_gb_month"], usage=True)


def _secrets_stack(items, resources, prices, usage) -> Iterable[Line]:
    """The secrets stack (deployed on request, not in the environment's assembly), as its check lists it: the
    secrets, and the environment's key when the secrets stack created it."""
    yield Line("security", "Secrets Manager secret", sum(len(check["Secrets"]) for _, check in items), "month",
               prices["secrets_manager"]["secret_month"])
    yield Line("security", "KMS customer managed key", sum(1 for _, check in items if check.get("EncryptionKeyAlias")),
               "month", prices["kms"]["key_month"])


def _llm_metrics(items, resources, prices, usage) -> Iterable[Line]:
    """The custom metrics of the LLM-traffic collector (a container named `collector`), by the usage assumption."""
    collectors = sum(1 for _, task in items for container in task["ContainerDefinitions"]
                     if container["Name"] == "collector")
    yield Line("observability", "CloudWatch custom metrics, LLM traffic", usage.llm_metrics if collectors else 0,
               "month", prices["cloudwatch"]["metric_month"], usage=True)


PRICERS: dict[str, Pricer] = {
    "AWS::AutoScaling::AutoScalingGroup": _instances,
    "AWS::EC2::NatGateway": _nat_gateways,
    "AWS::EC2::EIP": _each("network", "Public IPv4 address, Elastic IP", "hour", "vpc", "public_ipv4_hour"),
    "AWS::EC2::VPCEndpoint": _endpoints,
    "AWS::ElasticLoadBalancingV2::LoadBalancer": _load_balancers,
    "AWS::ElastiCache::ReplicationGroup": _caches,
    "AWS::SecretsManager::Secret": _each("security", "Secrets Manager secret", "month", "secrets_manager",
                                         "secret_month"),
    "Custom::ManagedSecretsReady": _secrets_stack,
    "AWS::KMS::Key": _each("security", "KMS customer managed key", "month", "kms", "key_month"),
    "AWS::WAFv2::WebACL": _web_acls,
    "AWS::CloudWatch::Dashboard": _each("observability", "CloudWatch dashboard", "month", "cloudwatch",
                                        "dashboard_month"),
    "AWS::CloudWatch::Alarm": _alarms,
    "AWS::CloudWatch::CompositeAlarm": _each("observability", "CloudWatch composite alarm", "month",
                                             "cloudwatch", "composite_alarm_month"),
    "AWS::ApplicationAutoScaling::ScalingPolicy": _scaling_policy_alarms,
    "AWS::ECS::CapacityProvider": _managed_scaling_alarms,
    "AWS::Logs::LogGroup": _log_groups,
    "AWS::S3::Bucket": _buckets,
    "AWS::ECS::TaskDefinition": _llm_metrics,
}


def _merge(lines: Iterable[Line]) -> tuple[Line, ...]:
    """One line per kind of charge (same group, item and price), in group order, then first appearance."""
    merged: dict[tuple, Line] = {}
    for line in lines:
        key = (line.group, line.item, line.unit, line.unit_price, line.usage)
        if key in merged:
            line = Line(*key[:2], merged[key].quantity + line.quantity, *key[2:])
        merged[key] = line
    return tuple(sorted((line for line in merged.values() if line.quantity),
                        key=lambda line: GROUPS.index(line.group)))


def _notes(resources: dict, prices: dict) -> Iterable[str]:
    for asg_id, asg in of_type(resources, "AWS::AutoScaling::AutoScalingGroup"):
        largest, count = int(asg["MaxSize"]), asg_instances(asg)
        if largest > count:
            instance_type = launch_template_data(resources, asg_id, asg)["InstanceType"]
            ceiling = largest * prices["ec2"]["hourly"][instance_type] * HOURS
            yield (f"Managed scaling may run up to {largest} {instance_type} instances (max_asg_size): "
                   f"up to {ceiling:,.2f} USD a month for them, against the {count} priced here.")
    for _, cluster in of_type(resources, "AWS::ECS::Cluster"):
        if {"Name": "containerInsights", "Value": "enabled"} in cluster.get("ClusterSettings", []):
            yield ("Container Insights is on: its metrics and performance log events are billed by CloudWatch and "
                   "are not estimated here.")


def estimate(templates: Iterable[dict], prices: dict, usage: Usage = Usage()) -> Estimate:
    """Price every template of an environment together; raises EstimateError for a type the price table lacks."""
    lines: list[Line] = []
    notes: list[str] = []
    unpriced: Counter = Counter()
    for template in templates:
        resources = template.get("Resources", {})
        types = Counter(resource["Type"] for resource in resources.values())
        for resource_type, pricer in PRICERS.items():
            if types[resource_type]:
                lines.extend(pricer(of_type(resources, resource_type), resources, prices, usage))
        unpriced.update({t: n for t, n in types.items() if not covers(t)})
        notes.extend(_notes(resources, prices))
    return Estimate(_merge(lines), tuple(dict.fromkeys(notes)), dict(sorted(unpriced.items())))


# ---------------------------------------------------------------------------------------------------- printing

def _number(value: float) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _price(value: float) -> str:
    """Two decimals at least, four at most: 0.40, 0.045, 0.1632."""
    text = f"{value:.4f}"
    return text[:-2] + text[-2:].rstrip("0") if text.endswith("0") else text


def region_warning(stacks: list[Stack], prices: dict) -> Optional[str]:
    """A warning when a stack is in another region than the table's (an environment-agnostic one says nothing)."""
    others = sorted({stack.region for stack in stacks if stack.region} - {prices["region"]})
    if not others:
        return None
    return (f"WARNING: the price table is for {prices['region']}, the stacks are in {', '.join(others)}: the figures "
            f"below are {prices['region']}'s. Rebuild portkey_gateway/prices.yaml for the stacks' region: make prices "
            f"REGION={others[0]}.")


def render(stacks: list[Stack], result: Estimate, prices: dict, usage: Usage) -> str:
    warning = region_warning(stacks, prices)
    label = prices["region"] + (" prices" if warning else "")
    out = [warning] if warning else []
    out += [f"Estimated monthly cost of {', '.join(stack.name for stack in stacks)} ({label}, {HOURS} hours a month)",
            provenance_line(prices), "Usage assumptions, for the lines marked *:"]
    out += [f"  --{f.name.replace('_', '-')} {getattr(usage, f.name):g}: {f.metadata['help']}" for f in fields(Usage)]
    width = max([len(line.item) + 2 for line in result.lines] + [40])
    row = f"{{:<{width + 2}}}{{:>10}}  {{:<24}}{{:>12}}"
    out += ["", row.format("Item", "Quantity", "Unit price (USD)", "Monthly USD")]
    for group in GROUPS:
        members = [line for line in result.lines if line.group == group]
        if members:
            out.append(row.format(group.capitalize(), "", "", f"{sum(line.monthly for line in members):,.2f}"))
        out += [row.format(f"  {line.item}{' *' if line.usage else ''}", _number(line.quantity),
                           f"{_price(line.unit_price)} / {line.unit}", f"{line.monthly:,.2f}") for line in members]
    out += [row.format("Total", "", "", f"{result.total:,.2f}"),
            row.format("  of which usage-based (*)", "", "", f"{result.usage_total:,.2f}"), ""]
    out += [f"Not priced (unknown resource type, add it to portkey_gateway/cost.py): {t} x{n}"
            for t, n in result.unpriced.items()]
    out += [f"Note: {note}" for note in result.notes]
    out += ["Not included: data transfer (internet, cross-AZ, cross-region), API requests (KMS, Secrets Manager), "
            "ElastiCache backups beyond the free amount, free tiers, taxes.",
            f"Price table: {prices['region']}, {prices['currency']}, on-demand, compiled {prices['compiled']} in "
            f"portkey_gateway/prices.yaml. {prices['note']}",
            "Pages to verify them against:"]
    out += [f"  {section}: {prices[section]['source']}" for section in SECTIONS]
    return "\n".join(out)


def _arguments(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m portkey_gateway.cost", description=__doc__.splitlines()[0])
    parser.add_argument("cdk_out", nargs="?", default="cdk.out", help="the synthesized cloud assembly (cdk.out)")
    parser.add_argument("--prices", type=Path, default=PRICES, help="price table (default: %(default)s)")
    for f in fields(Usage):
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=float, default=f.default,
                            help=f"{f.metadata['help']} (default: %(default)g)")
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    args = _arguments(argv)
    usage = Usage(**{f.name: getattr(args, f.name) for f in fields(Usage)})
    try:
        prices = load_prices(args.prices)
        stacks = read_stacks(args.cdk_out)
        result = estimate([stack.template for stack in stacks], prices, usage)
    except (EstimateError, AssemblyError) as error:
        print(f"cost: {error}", file=sys.stderr)
        return 2
    print(render(stacks, result, prices, usage))
    return 0


if __name__ == "__main__":
    sys.exit(main())
