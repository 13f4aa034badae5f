"""An architecture picture of one environment, drawn from its synthesized CloudFormation templates.

Two layers. `read_assembly` turns a cloud assembly (cdk.out) into a small model of what the environment is: network,
load balancer, capacity, services, cache, endpoints, operations, and the edges between them (from the security-group
rules, so they are the paths the template actually opens). `render` lays that model out and draws it with Pillow.
Drawing from the template rather than the config means the picture shows what would be deployed, and the model can be
tested without pixels.

    python -m portkey_gateway.diagram cdk.out -o docs/architecture-prod.png
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

# ---------------------------------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subnet:
    ref: str             # logical id (created VPC) or subnet id (existing VPC)
    public: bool
    zone: str            # the AZ, or "subnet #n" when the template does not say (existing VPC)
    cidr: str | None


@dataclass(frozen=True)
class Network:
    created: bool
    name: str            # the CIDR of a created VPC, the id of an existing one
    zones: tuple[str, ...]
    subnets: tuple[Subnet, ...]
    nat_zones: tuple[str, ...]

    def subnet(self, zone: str, public: bool) -> Subnet | None:
        return next((s for s in self.subnets if s.zone == zone and s.public == public), None)


@dataclass(frozen=True)
class Listener:
    port: int
    protocol: str
    role: str            # "production", "test" (blue/green, canary, linear) or "redirect"

    def __str__(self) -> str:
        suffix = {"test": " (test)", "redirect": " (redirect)"}.get(self.role, "")
        return f"{self.protocol} {self.port}{suffix}"


@dataclass(frozen=True)
class LoadBalancer:
    kind: str            # "application" or "network"
    internet_facing: bool
    listeners: tuple[Listener, ...]
    clients: tuple[str, ...]     # CIDRs its security group admits
    waf: bool
    access_logs: bool

    @property
    def short(self) -> str:
        return "ALB" if self.kind == "application" else "NLB"


@dataclass(frozen=True)
class Capacity:
    cluster: str
    instance_type: str | None    # None: an existing cluster's capacity provider
    min: int | None = None
    desired: int | None = None
    max: int | None = None
    provider: str | None = None


@dataclass(frozen=True)
class Service:
    name: str                    # the container name
    cpu: int
    memory: int
    desired: int | None
    scaling: tuple[int, int] | None
    strategy: str
    ports: tuple[int, ...]

    @property
    def count(self) -> str:
        if self.scaling:
            return f"{self.scaling[0]}-{self.scaling[1]} tasks (autoscaling)"
        return f"{self.desired} task{'s' if self.desired != 1 else ''}"

    @property
    def size(self) -> str:
        memory = f"{self.memory // 1024} GiB" if self.memory % 1024 == 0 else f"{self.memory} MiB"
        return f"{self.cpu / 1024:g} vCPU · {memory}"


@dataclass(frozen=True)
class Cache:
    kind: str                    # "service" (built-in Redis), "created" (ElastiCache here) or "existing"
    engine: str
    port: int | None
    tls: bool
    node_type: str | None = None
    nodes: int | None = None
    shards: int | None = None
    mode: str | None = None      # "cluster" or "standalone", as the tasks are told
    endpoint: str | None = None
    service: str | None = None


@dataclass(frozen=True)
class EndpointService:
    private_dns: str | None
    acceptance_required: bool
    via: str                     # how it reaches the gateway


@dataclass(frozen=True)
class Secret:
    name: str
    created: bool


@dataclass(frozen=True)
class Operations:
    dashboards: tuple[str, ...] = ()
    alarms: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    subscriptions: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return any((self.dashboards, self.alarms, self.topics, self.subscriptions, self.rules))


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str


@dataclass(frozen=True)
class Environment:
    stack: str
    region: str | None
    network: Network
    load_balancer: LoadBalancer | None
    capacity: Capacity
    services: tuple[Service, ...]
    cache: Cache | None
    aws_endpoints: tuple[str, ...]
    control_plane_endpoint: bool
    endpoint_service: EndpointService | None
    secrets: tuple[Secret, ...]
    functions: tuple[str, ...]
    access_logs_bucket: str | None
    operations: Operations
    edges: tuple[Edge, ...] = ()

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)

    def edge(self, source: str, target: str) -> Edge | None:
        return next((e for e in self.edges if (e.source, e.target) == (source, target)), None)


# ---------------------------------------------------------------------------------------------------------------------
# Reading the cloud assembly
# ---------------------------------------------------------------------------------------------------------------------

LB = "AWS::ElasticLoadBalancingV2::LoadBalancer"
LISTENER = "AWS::ElasticLoadBalancingV2::Listener"


def _ref(value: Any) -> str | None:
    """The logical id a Ref or Fn::GetAtt points at; None for literals and other intrinsics."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0]
    return None


def _refs(values: Any) -> list[str]:
    return [r for r in map(_ref, values or []) if r]


def _words(name: str) -> str:
    """'DeploymentAlarms' -> 'deployment alarms': construct ids as readable words."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).lower()


class _Template:
    """One stack's template with the look-ups the model needs."""

    def __init__(self, name: str, body: dict):
        self.name = name
        self.resources: dict[str, dict] = body.get("Resources", {})
        self.outputs: dict[str, dict] = body.get("Outputs", {})

    def of_type(self, resource_type: str) -> list[tuple[str, dict]]:
        return [(k, v.get("Properties", {})) for k, v in self.resources.items() if v["Type"] == resource_type]

    def props(self, logical_id: str | None) -> dict:
        return self.resources.get(logical_id, {}).get("Properties", {}) if logical_id else {}

    def label(self, logical_id: str, *keys: str) -> str:
        """A resource's name: the first literal of `keys` (without the stack prefix), else its construct path."""
        props = self.props(logical_id)
        for key in keys:
            if isinstance(props.get(key), str):
                return props[key].removeprefix(f"{self.name}-").removeprefix(f"{self.name} ")
        path = self.resources[logical_id].get("Metadata", {}).get("aws:cdk:path", logical_id).split("/")
        parts = [p for p in path[1:] if p not in ("PortkeyGateway", "Resource", "Default")]
        return _words(" ".join(parts[-2:]).removesuffix("CustomResource")).strip()


def _stacks(directory: Path) -> list[tuple[_Template, str | None]]:
    """Every CloudFormation stack of the assembly, with its region."""
    manifest = json.loads((directory / "manifest.json").read_text())
    stacks = []
    for name, artifact in manifest.get("artifacts", {}).items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        body = json.loads((directory / artifact["properties"]["templateFile"]).read_text())
        region = artifact.get("environment", "").rpartition("/")[2]
        stacks.append((_Template(name, body), None if region.startswith("unknown") else region))
    return stacks


def read_assembly(directory: str | Path) -> Environment:
    """The model of the gateway stack `<project>-<env>` (the one with ECS services) and its optional secrets stack."""
    stacks = _stacks(Path(directory))
    main = [(t, r) for t, r in stacks if t.of_type("AWS::ECS::Service")]
    if not main:
        raise ValueError(f"no stack with ECS services in {directory}")
    template, region = main[0]
    others = [t for t, _ in stacks if t.name == f"{template.name}-secrets"]
    return _environment(template, region, others)


def _environment(t: _Template, region: str | None, others: list[_Template]) -> Environment:
    network = _network(t)
    services = _services(t)
    cache = _cache(t, services)
    lb_id, endpoint_lb_id = _load_balancer_ids(t)
    endpoints = t.of_type("AWS::EC2::VPCEndpoint")
    environment = Environment(
        stack=t.name,
        region=region or _region_from_zones(network),
        network=network,
        load_balancer=_load_balancer(t, lb_id) if lb_id else None,
        capacity=_capacity(t),
        services=services,
        cache=cache,
        aws_endpoints=tuple(_endpoint_name(p) for _, p in endpoints if not _is_control_plane(p)),
        control_plane_endpoint=any(_is_control_plane(p) for _, p in endpoints),
        endpoint_service=_endpoint_service(t, lb_id, endpoint_lb_id),
        secrets=_secrets([t, *others]),
        functions=_functions(t),
        access_logs_bucket=_access_logs_bucket(t, lb_id),
        operations=_operations(t),
    )
    return _with_edges(environment, t, lb_id, endpoint_lb_id)


def _region_from_zones(network: Network) -> str | None:
    zone = next((z for z in network.zones if re.fullmatch(r"[a-z]+-[a-z]+-\d[a-z]", z)), None)
    return zone[:-1] if zone else None


# --- network ---------------------------------------------------------------------------------------------------------


def _network(t: _Template) -> Network:
    vpcs = t.of_type("AWS::EC2::VPC")
    return _created_network(t, vpcs[0][1]) if vpcs else _existing_network(t)


def _created_network(t: _Template, vpc: dict) -> Network:
    subnets = []
    for index, (logical_id, props) in enumerate(t.of_type("AWS::EC2::Subnet")):
        tags = {tag["Key"]: tag["Value"] for tag in props.get("Tags", [])}
        zone = props.get("AvailabilityZone")
        subnets.append(Subnet(ref=logical_id, public=tags.get("aws-cdk:subnet-type") == "Public",
                              zone=zone if isinstance(zone, str) else f"AZ {index + 1}",
                              cidr=props.get("CidrBlock")))
    by_ref = {s.ref: s for s in subnets}
    nat_zones = tuple(by_ref[_ref(p["SubnetId"])].zone for _, p in t.of_type("AWS::EC2::NatGateway")
                      if _ref(p.get("SubnetId")) in by_ref)
    zones = tuple(dict.fromkeys(s.zone for s in subnets))
    return Network(created=True, name=vpc.get("CidrBlock", "VPC"), zones=zones, subnets=tuple(subnets),
                   nat_zones=nat_zones)


def _existing_network(t: _Template) -> Network:
    """An imported VPC: its subnets are the literal ids the outputs (or the services) reference, paired by order."""
    private = _literal_ids(t.outputs.get("PrivateSubnetIds", {}).get("Value")) or _service_subnet_ids(t)
    public = _literal_ids(t.outputs.get("PublicSubnetIds", {}).get("Value"))
    zones = tuple(f"subnet #{i + 1}" for i in range(max(len(private), len(public))))
    subnets = [Subnet(ref=s, public=False, zone=zones[i], cidr=None) for i, s in enumerate(private)]
    subnets += [Subnet(ref=s, public=True, zone=zones[i], cidr=None) for i, s in enumerate(public)]
    vpc_id = t.outputs.get("VpcId", {}).get("Value")
    return Network(created=False, name=vpc_id if isinstance(vpc_id, str) else "existing VPC", zones=zones,
                   subnets=tuple(subnets), nat_zones=())


def _literal_ids(value: Any) -> list[str]:
    return [s for s in value.split(",") if s] if isinstance(value, str) else []


def _service_subnet_ids(t: _Template) -> list[str]:
    ids: dict[str, None] = {}
    for _, props in t.of_type("AWS::ECS::Service"):
        for subnet in props.get("NetworkConfiguration", {}).get("AwsvpcConfiguration", {}).get("Subnets", []):
            if isinstance(subnet, str):
                ids[subnet] = None
    return list(ids)


# --- load balancers --------------------------------------------------------------------------------------------------


def _load_balancer_ids(t: _Template) -> tuple[str | None, str | None]:
    """(the gateway's load balancer, the NLB of the endpoint service when that is a separate one)."""
    balancers = [k for k, _ in t.of_type(LB)]
    service_nlbs = {r for _, p in t.of_type("AWS::EC2::VPCEndpointService")
                    for r in _refs(p.get("NetworkLoadBalancerArns"))}
    ingress = [k for k in balancers if k not in service_nlbs] or balancers
    lb_id = ingress[0] if ingress else None
    endpoint_lb = next((k for k in balancers if k in service_nlbs and k != lb_id), None)
    return lb_id, endpoint_lb


def _listeners(t: _Template, lb_id: str) -> tuple[Listener, ...]:
    test_ids = _test_listener_ids(t)
    listeners = []
    for logical_id, props in t.of_type(LISTENER):
        if _ref(props.get("LoadBalancerArn")) != lb_id:
            continue
        actions = {a.get("Type") for a in props.get("DefaultActions", [])}
        role = "test" if logical_id in test_ids else "redirect" if actions == {"redirect"} else "production"
        listeners.append(Listener(port=int(props["Port"]), protocol=props.get("Protocol", "?"), role=role))
    return tuple(sorted(listeners, key=lambda item: (item.role != "production", item.port)))


def _test_listener_ids(t: _Template) -> set[str]:
    """Listeners a service's blue/green, canary or linear configuration uses as its test listener."""
    ids = set()
    for _, props in t.of_type("AWS::ECS::Service"):
        for balancer in props.get("LoadBalancers", []):
            test = _ref(balancer.get("AdvancedConfiguration", {}).get("TestListenerRule"))
            if test:
                ids.add(_ref(t.props(test).get("ListenerArn")) if t.resources[test]["Type"] != LISTENER else test)
    return ids


def _load_balancer(t: _Template, lb_id: str) -> LoadBalancer:
    props = t.props(lb_id)
    groups = set(_refs(props.get("SecurityGroups")))
    clients = {rule["CidrIp"] for g in sorted(groups) for rule in t.props(g).get("SecurityGroupIngress", [])
               if isinstance(rule.get("CidrIp"), str)}
    attributes = {a["Key"]: a["Value"] for a in props.get("LoadBalancerAttributes", [])}
    return LoadBalancer(
        kind=props.get("Type", "application"),
        internet_facing=props.get("Scheme") == "internet-facing",
        listeners=_listeners(t, lb_id),
        clients=tuple(sorted(clients)),
        waf=any(_ref(p.get("ResourceArn")) == lb_id for _, p in t.of_type("AWS::WAFv2::WebACLAssociation")),
        access_logs=attributes.get("access_logs.s3.enabled") == "true",
    )


def _access_logs_bucket(t: _Template, lb_id: str | None) -> str | None:
    attributes = {a["Key"]: a["Value"] for a in t.props(lb_id).get("LoadBalancerAttributes", [])}
    if attributes.get("access_logs.s3.enabled") != "true":
        return None
    bucket = attributes.get("access_logs.s3.bucket")
    return bucket if isinstance(bucket, str) else f"{t.name} access logs (created here)"


def _endpoint_service(t: _Template, lb_id: str | None, endpoint_lb_id: str | None) -> EndpointService | None:
    services = t.of_type("AWS::EC2::VPCEndpointService")
    if not services:
        return None
    props = services[0][1]
    if endpoint_lb_id:
        ports = ", ".join(str(lst) for lst in _listeners(t, endpoint_lb_id))
        via = f"own NLB ({ports}) to the load balancer"
    else:
        via = "the gateway's NLB"
    dns = props.get("PrivateDnsName")
    return EndpointService(private_dns=dns if isinstance(dns, str) else None,
                           acceptance_required=bool(props.get("AcceptanceRequired", True)), via=via)


# --- compute and services --------------------------------------------------------------------------------------------


def _capacity(t: _Template) -> Capacity:
    clusters = t.of_type("AWS::ECS::Cluster")
    groups = t.of_type("AWS::AutoScaling::AutoScalingGroup")
    if not clusters or not groups:
        service = t.of_type("AWS::ECS::Service")[0][1]
        strategy = service.get("CapacityProviderStrategy", [{}])[0].get("CapacityProvider")
        cluster = service.get("Cluster")
        return Capacity(cluster=cluster if isinstance(cluster, str) else "existing cluster", instance_type=None,
                        provider=strategy if isinstance(strategy, str) else None)
    group = groups[0][1]
    template = t.props(_ref(group.get("LaunchTemplate", {}).get("LaunchTemplateId")))
    name = clusters[0][1].get("ClusterName")
    return Capacity(cluster=name if isinstance(name, str) else "ECS cluster",
                    instance_type=template.get("LaunchTemplateData", {}).get("InstanceType"),
                    min=int(group["MinSize"]), desired=int(group.get("DesiredCapacity", group["MinSize"])),
                    max=int(group["MaxSize"]))


def _strategy(configuration: dict) -> str:
    strategy = configuration.get("Strategy", "ROLLING")
    bake = configuration.get("BakeTimeInMinutes")
    if strategy == "BLUE_GREEN":
        return f"blue/green, bake {bake} min" if bake else "blue/green"
    if strategy == "CANARY":
        return f"canary {configuration['CanaryConfiguration']['CanaryPercent']:g}%"
    if strategy == "LINEAR":
        return f"linear {configuration['LinearConfiguration']['StepPercent']:g}% steps"
    return strategy.lower().replace("_", " ")


def _services(t: _Template) -> tuple[Service, ...]:
    scaling = {}
    for _, props in t.of_type("AWS::ApplicationAutoScaling::ScalableTarget"):
        parts = props.get("ResourceId", {}).get("Fn::Join", ["", []])[1]
        for service_id in filter(None, map(_ref, parts)):
            scaling[service_id] = (int(props["MinCapacity"]), int(props["MaxCapacity"]))
    services = []
    for logical_id, props in t.of_type("AWS::ECS::Service"):
        task = t.props(_ref(props.get("TaskDefinition")))
        container = task["ContainerDefinitions"][0]
        services.append(Service(
            name=container["Name"], cpu=int(task.get("Cpu", 0)), memory=int(task.get("Memory", 0)),
            desired=props.get("DesiredCount"), scaling=scaling.get(logical_id),
            strategy=_strategy(props.get("DeploymentConfiguration", {})),
            ports=tuple(m["ContainerPort"] for m in container.get("PortMappings", [])),
        ))
    order = {"gateway": 0, "data-service": 1}
    return tuple(sorted(services, key=lambda s: (order.get(s.name, 2), s.name)))


def _container_env(t: _Template, name: str) -> dict[str, Any]:
    for _, task in t.of_type("AWS::ECS::TaskDefinition"):
        for definition in task["ContainerDefinitions"]:
            if definition["Name"] == name:
                return {e["Name"]: e["Value"] for e in definition.get("Environment", [])}
    return {}


def _cache(t: _Template, services: tuple[Service, ...]) -> Cache | None:
    groups = t.of_type("AWS::ElastiCache::ReplicationGroup")
    env = _container_env(t, "gateway")
    tls, mode = env.get("REDIS_TLS_ENABLED") == "true", env.get("REDIS_MODE")
    if groups:
        g = groups[0][1]
        shards = g.get("NumNodeGroups")
        nodes = g.get("NumCacheClusters") or (shards or 1) * (1 + g.get("ReplicasPerNodeGroup", 0))
        engine = f"{g.get('Engine', 'redis')} {g.get('EngineVersion', '')}".strip()
        return Cache(kind="created", engine=engine, port=g.get("Port"), tls=bool(g.get("TransitEncryptionEnabled")),
                     node_type=g.get("CacheNodeType"), nodes=nodes, shards=shards, mode=mode)
    redis = next((s for s in services if s.name == "redis"), None)
    if redis:
        return Cache(kind="service", engine="redis", port=redis.ports[0] if redis.ports else None, tls=tls,
                     service=redis.name)
    url = env.get("REDIS_URL")
    if isinstance(url, str):
        host, _, port = url.split("://")[-1].rpartition(":")
        return Cache(kind="existing", engine=env.get("CACHE_STORE", "redis"),
                     port=int(port) if port.isdigit() else None, tls=tls, mode=mode, endpoint=host or url)
    return None


# --- endpoints, secrets, functions, operations ------------------------------------------------------------------------


def _is_control_plane(props: dict) -> bool:
    """Portkey's control plane is the only partner (vpce-svc) endpoint service the stack connects to."""
    name = props.get("ServiceName")
    return isinstance(name, str) and name.startswith("com.amazonaws.vpce.")


def _endpoint_name(props: dict) -> str:
    name = props.get("ServiceName")
    if isinstance(name, dict):
        name = "".join(p if isinstance(p, str) else "region" for p in name.get("Fn::Join", ["", []])[1])
    short = str(name).split(".", 3)[-1] if str(name).startswith("com.amazonaws.") else str(name)
    return f"{short} (gateway)" if props.get("VpcEndpointType") == "Gateway" else short


def _secret_name(arn: Any) -> str | None:
    """The secret's name in a Secrets Manager ARN (a task's `ARN:KEY::` reference included)."""
    if not isinstance(arn, str) or ":secret:" not in arn:
        return None
    return arn.split(":secret:", 1)[1].split(":", 1)[0]


def _secrets(templates: list[_Template]) -> tuple[Secret, ...]:
    found: dict[str, Secret] = {}
    for t in templates:
        for logical_id, _ in t.of_type("AWS::SecretsManager::Secret"):
            name = t.label(logical_id, "Name", "Description").split(" (")[0]
            found[name] = Secret(name=name, created=True)
        for _, task in t.of_type("AWS::ECS::TaskDefinition"):
            for definition in task["ContainerDefinitions"]:
                arns = [s["ValueFrom"] for s in definition.get("Secrets", [])]
                arns.append(definition.get("RepositoryCredentials", {}).get("CredentialsParameter"))
                for name in filter(None, map(_secret_name, arns)):
                    found.setdefault(name, Secret(name=name, created=False))
    return tuple(found.values())


def _functions(t: _Template) -> tuple[str, ...]:
    """Lambda functions by name; a nameless provider function by the custom resource it serves."""
    users = {_ref(p.get("ServiceToken")): k for k, v in t.resources.items() if v["Type"].startswith("Custom::")
             for p in [v.get("Properties", {})]}
    names = []
    for logical_id, props in t.of_type("AWS::Lambda::Function"):
        if isinstance(props.get("FunctionName"), str) or logical_id not in users:
            names.append(t.label(logical_id, "FunctionName"))
        else:
            names.append(f"{t.label(users[logical_id])} (custom resource)")
    return tuple(names)


def _operations(t: _Template) -> Operations:
    def names(resource_type: str, *keys: str) -> tuple[str, ...]:
        return tuple(t.label(k, *keys) for k, _ in t.of_type(resource_type))

    subscriptions = tuple(p.get("Protocol", "?") for _, p in t.of_type("AWS::SNS::Subscription"))
    inline = tuple(s.get("Protocol", "?") for _, p in t.of_type("AWS::SNS::Topic") for s in p.get("Subscription", []))
    return Operations(
        dashboards=names("AWS::CloudWatch::Dashboard", "DashboardName"),
        alarms=names("AWS::CloudWatch::Alarm", "AlarmName"),
        topics=names("AWS::SNS::Topic", "DisplayName", "TopicName"),
        subscriptions=subscriptions + inline,
        rules=names("AWS::Events::Rule", "Name", "Description"),
    )


# --- edges -----------------------------------------------------------------------------------------------------------


def _group_owners(t: _Template, env: Environment, lb_id: str | None, endpoint_lb_id: str | None) -> dict[str, str]:
    """Security group logical id -> the node it belongs to."""
    owners: dict[str, str] = {}
    for _, props in t.of_type("AWS::ECS::Service"):
        name = t.props(_ref(props.get("TaskDefinition")))["ContainerDefinitions"][0]["Name"]
        node = "cache" if env.cache and env.cache.service == name else name
        for group in _refs(props.get("NetworkConfiguration", {}).get("AwsvpcConfiguration", {}).get("SecurityGroups")):
            owners[group] = node
    for logical_id, node in ((lb_id, "lb"), (endpoint_lb_id, "endpoint-service")):
        for group in _refs(t.props(logical_id).get("SecurityGroups")):
            owners[group] = node
    for _, props in t.of_type("AWS::ElastiCache::ReplicationGroup"):
        owners.update({g: "cache" for g in _refs(props.get("SecurityGroupIds"))})
    for _, props in t.of_type("AWS::EC2::VPCEndpoint"):
        node = "cp-endpoint" if _is_control_plane(props) else "aws-endpoints"
        owners.update({g: node for g in _refs(props.get("SecurityGroupIds"))})
    for logical_id, props in t.of_type("AWS::Lambda::Function"):
        node = f"function:{t.label(logical_id, 'FunctionName')}"
        owners.update({g: node for g in _refs(props.get("VpcConfig", {}).get("SecurityGroupIds"))})
    return owners


def _with_edges(env: Environment, t: _Template, lb_id: str | None, endpoint_lb_id: str | None) -> Environment:
    """Edges from the security-group rules between the nodes, plus the ways in and out of the VPC."""
    owners = _group_owners(t, env, lb_id, endpoint_lb_id)
    ports: dict[tuple[str, str], list[int]] = {}
    for _, rule in t.of_type("AWS::EC2::SecurityGroupIngress"):
        source, target = owners.get(_ref(rule.get("SourceSecurityGroupId"))), owners.get(_ref(rule.get("GroupId")))
        if source and target and source != target:
            ports.setdefault((source, target), []).append(rule.get("FromPort"))
    for group, node in owners.items():
        for rule in t.props(group).get("SecurityGroupIngress", []):
            if node != "lb" and rule.get("CidrIp") == env.network.name:
                ports.setdefault(("cluster", node), []).append(rule.get("FromPort"))
    edges = [Edge(s, d, ", ".join(str(p) for p in sorted(set(found)))) for (s, d), found in ports.items()]
    if env.cache and env.cache.kind == "existing":
        edges += [Edge(s.name, "cache", str(env.cache.port)) for s in env.services
                  if isinstance(_container_env(t, s.name).get("REDIS_URL"), str)]
    if env.load_balancer:
        production = [str(lst) for lst in env.load_balancer.listeners if lst.role == "production"]
        edges.append(Edge("clients", "lb", ", ".join(production)))
    egress = "nat" if env.network.nat_zones else "internet"
    edges.append(Edge("cluster", egress, "0.0.0.0/0" if egress == "nat" else "the VPC's own routes"))
    if egress == "nat":
        edges.append(Edge("nat", "internet", "HTTPS"))
    if env.control_plane_endpoint:
        edges.append(Edge("cp-endpoint", "portkey", "PrivateLink"))
    else:
        edges.append(Edge("internet", "portkey", "HTTPS"))
    if env.endpoint_service:
        edges.append(Edge("portkey", "endpoint-service", "PrivateLink"))
    return replace(env, edges=tuple(edges))


# ---------------------------------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------------------------------

WIDTH = 2000
MARGIN = 30
PANEL = 400            # the right-hand column of regional services
LANES = 70             # between the VPC and that column: the PrivateLink paths to Portkey
INK, MUTED, LINE = "#232F3E", "#545B64", "#3B4452"
# (stroke, fill) per kind, after the AWS architecture-icon categories.
KINDS = {
    "external": ("#232F3E", "#F2F3F3"),
    "portkey": ("#1B2A6B", "#E9EDFB"),
    "network": ("#8C4FFF", "#F4EFFF"),
    "compute": ("#ED7100", "#FFF4EA"),
    "database": ("#C925D1", "#FBEFFC"),
    "security": ("#DD344C", "#FDEEF0"),
    "storage": ("#7AA116", "#F3F8EA"),
    "management": ("#E7157B", "#FDEEF5"),
}
PUBLIC = ("#7AA116", "#EEF6E5")
PRIVATE = ("#147EBA", "#E7F2FA")

Rect = tuple[int, int, int, int]


class _Canvas:
    """Pillow drawing with the few primitives the picture needs: text, boxes, frames and labelled arrows."""

    def __init__(self, height: int):
        from PIL import Image, ImageDraw, ImageFont  # only rendering needs Pillow

        self.image = Image.new("RGB", (WIDTH, height), "white")
        self.draw = ImageDraw.Draw(self.image)
        self._font = ImageFont.load_default
        self.labels: list[tuple[tuple[int, int], str, str]] = []  # (point, text, side of the point)

    def font(self, size: int):
        return self._font(size=size)

    def width(self, text: str, size: int) -> float:
        return self.font(size).getlength(text)

    def text(self, xy: tuple[float, float], text: str, size: int = 16, fill: str = INK, bold: bool = False,
             anchor: str = "la") -> None:
        self.draw.text(xy, text, font=self.font(size), fill=fill, anchor=anchor,
                       stroke_width=0.45 if bold else 0, stroke_fill=fill)

    def fit(self, text: str, size: int, width: float) -> str:
        """`text` cut (with '...') to `width` pixels."""
        if self.width(text, size) <= width:
            return text
        while text and self.width(text + "...", size) > width:
            text = text[:-1]
        return text + "..."

    def wrap(self, items: list[str], size: int, width: float, separator: str = ", ") -> list[str]:
        """Items packed into as few lines of `width` pixels as they fit."""
        lines: list[str] = []
        for item in items:
            candidate = f"{lines[-1]}{separator}{item}" if lines else item
            if lines and self.width(candidate + separator.strip(), size) <= width:
                lines[-1] = candidate
            else:
                if lines:
                    lines[-1] += separator.rstrip()
                lines.append(item)
        return lines

    def frame(self, rect: Rect, stroke: str, fill: str | None = None, dashed: bool = False, width: int = 2) -> None:
        if fill:
            self.draw.rectangle(rect, fill=fill)
        if not dashed:
            self.draw.rectangle(rect, outline=stroke, width=width)
            return
        x0, y0, x1, y1 = rect
        for start, end in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x0, y1), (x1, y1)), ((x0, y0), (x0, y1))):
            self._dashes(start, end, stroke, width)

    def _dashes(self, start: tuple[int, int], end: tuple[int, int], fill: str, width: int) -> None:
        (x0, y0), (x1, y1) = start, end
        length = max(abs(x1 - x0), abs(y1 - y0))
        for offset in range(0, length, 14):
            stop = min(offset + 8, length)
            self.draw.line([(x0 + (x1 - x0) * offset / length, y0 + (y1 - y0) * offset / length),
                            (x0 + (x1 - x0) * stop / length, y0 + (y1 - y0) * stop / length)], fill=fill, width=width)

    def box(self, rect: Rect, kind: str, title: str, lines: list[str] = (), tag: str = "") -> None:
        """A rounded box: a coloured title (and a small kind tag on the right), then the detail lines."""
        stroke, fill = KINDS[kind]
        x0, y0, x1, _ = rect
        self.draw.rounded_rectangle(rect, radius=8, fill=fill, outline=stroke, width=2)
        self.draw.rectangle((x0 + 2, y0 + 2, x0 + 7, rect[3] - 2), fill=stroke)
        tag_width = self.width(tag, 14) + 12 if tag else 0
        self.text((x0 + 18, y0 + 11), self.fit(title, 18, x1 - x0 - 30 - tag_width), 18, stroke, bold=True)
        if tag:
            self.text((x1 - 12, y0 + 14), tag, 14, MUTED, anchor="ra")
        for index, line in enumerate(lines):
            self.text((x0 + 18, y0 + 40 + 21 * index), self.fit(line, 16, x1 - x0 - 30), 16, INK)

    def arrow(self, points: list[tuple[int, int]], label: str = "", both: bool = False, at: float = 0.5,
              color: str = LINE) -> None:
        """A polyline with an arrow head at its end (and start); the label goes beside the point `at` along it."""
        self.draw.line(points, fill=color, width=2, joint="curve")
        self._head(points[-2], points[-1], color)
        if both:
            self._head(points[1], points[0], color)
        if label:
            self.labels.append((_along(points, at), label, "right"))

    def _head(self, tail: tuple[int, int], tip: tuple[int, int], color: str) -> None:
        dx, dy = tip[0] - tail[0], tip[1] - tail[1]
        length = max((dx * dx + dy * dy) ** 0.5, 1)
        ux, uy = dx / length, dy / length
        base = (tip[0] - 13 * ux, tip[1] - 13 * uy)
        self.draw.polygon([tip, (base[0] - 6 * uy, base[1] + 6 * ux), (base[0] + 6 * uy, base[1] - 6 * ux)], fill=color)

    def draw_labels(self) -> None:
        """Edge labels last, on a white ground, so that no line runs through their text."""
        for (x, y), label, side in self.labels:
            width = self.width(label, 15) + 12
            left = {"right": x + 6, "left": x - 6 - width, "center": x - width / 2}[side]
            self.draw.rounded_rectangle((left, y - 12, left + width, y + 11), radius=4, fill="white", outline="#C9CED6")
            self.text((left + 6, y), label, 15, LINE, anchor="lm")


def _along(points: list[tuple[int, int]], fraction: float) -> tuple[int, int]:
    """The point `fraction` of the way along a polyline."""
    segments = list(zip(points, points[1:]))
    lengths = [abs(b[0] - a[0]) + abs(b[1] - a[1]) for a, b in segments]
    remaining = sum(lengths) * fraction
    for (a, b), length in zip(segments, lengths):
        if remaining <= length and length:
            t = remaining / length
            return round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t)
        remaining -= length
    return points[-1]


def _center_x(rect: Rect) -> int:
    return (rect[0] + rect[2]) // 2


def _center_y(rect: Rect) -> int:
    return (rect[1] + rect[3]) // 2


def _box_height(lines: int) -> int:
    return 52 + 21 * lines


# --- text of each box -------------------------------------------------------------------------------------------------


def _service_lines(service: Service) -> list[str]:
    ports = ", ".join(str(p) for p in service.ports)
    return [f"{service.size} per task", service.count, f"deploys: {service.strategy}", f"Service Connect :{ports}"]


def _capacity_lines(capacity: Capacity) -> list[str]:
    if capacity.instance_type is None:
        return [f"existing cluster {capacity.cluster}", f"capacity provider {capacity.provider or '(default)'}"]
    return [f"Auto Scaling group of {capacity.instance_type}",
            f"min {capacity.min} · desired {capacity.desired} · max {capacity.max} instances",
            "capacity provider, managed scaling", f"cluster {capacity.cluster}"]


def _cache_box(env: Environment) -> tuple[str, list[str], str]:
    cache = env.cache
    tls = " · TLS" if cache.tls else ""
    mode = f" · {cache.mode} mode" if cache.mode else ""
    if cache.kind == "service":
        service = env.service(cache.service)
        return (f"{cache.service} (built-in cache)", [f"{service.size} · {service.count}",
                                                      f"Service Connect {cache.service}:{cache.port}{tls}"],
                "ECS service")
    if cache.kind == "created":
        shards = f" in {cache.shards} shards" if cache.shards else ""
        return (f"ElastiCache {cache.engine}", [f"{cache.nodes} x {cache.node_type}{shards}",
                                                f"port {cache.port}{tls}{mode}"], "created here")
    return "ElastiCache (existing)", [cache.endpoint or "", f"port {cache.port}{tls}{mode}"], "not managed here"


def _lb_box(lb: LoadBalancer) -> tuple[str, list[str]]:
    scheme = "internet-facing" if lb.internet_facing else "internal"
    where = "public" if lb.internet_facing else "private"
    lines = [", ".join(str(lst) for lst in lb.listeners), f"in the {where} subnets"]
    if lb.clients:
        lines.append("admits " + ", ".join(lb.clients))
    return f"{lb.short} · {scheme}", lines


def _endpoint_boxes(env: Environment, canvas: _Canvas, width: int) -> list[tuple[str, str, str, list[str]]]:
    """(node, kind, title, lines) of each endpoint box, left to right (the control-plane one last: it exits right)."""
    boxes = []
    if env.aws_endpoints:
        boxes.append(("aws-endpoints", "network", f"VPC endpoints ({len(env.aws_endpoints)})",
                      canvas.wrap(list(env.aws_endpoints), 16, width - 34)))
    if env.endpoint_service:
        service = env.endpoint_service
        lines = [f"via {service.via}", f"private DNS {service.private_dns or '(none)'}",
                 "acceptance required" if service.acceptance_required else "auto-accepts connections"]
        boxes.append(("endpoint-service", "network", "Endpoint service (inbound)", lines))
    if env.control_plane_endpoint:
        boxes.append(("cp-endpoint", "network", "Control-plane endpoint", ["interface endpoint to Portkey",
                                                                          "private DNS for its host names"]))
    return boxes


def _panel_boxes(env: Environment) -> list[tuple[str, str, list[str]]]:
    """(kind, title, lines) of the regional services beside the VPC."""
    boxes = []
    if env.secrets:
        created = [f"· {s.name}" for s in env.secrets if s.created]
        referenced = [f"· {s.name}" for s in env.secrets if not s.created]
        lines = ([f"created here ({len(created)}):", *created] if created else []) + \
                ([f"referenced ({len(referenced)}):", *referenced] if referenced else [])
        boxes.append(("security", "Secrets Manager", lines))
    if env.access_logs_bucket:
        boxes.append(("storage", "S3 access logs", [env.access_logs_bucket]))
    if env.functions:
        boxes.append(("compute", f"Lambda functions ({len(env.functions)})", list(env.functions)))
    ops = env.operations
    if ops:
        lines = [f"CloudWatch dashboard {name}" for name in ops.dashboards]
        if ops.alarms:
            lines += [f"{len(ops.alarms)} CloudWatch alarm{'s' if len(ops.alarms) != 1 else ''}:"]
            lines += [f"· {name}" for name in ops.alarms]
        lines += [f"SNS topic {name}" for name in ops.topics]
        if ops.subscriptions:
            lines.append("subscriptions: " + ", ".join(ops.subscriptions))
        lines += [f"EventBridge rule: {name}" for name in ops.rules]
        boxes.append(("management", "Operations", lines))
    return boxes


# --- layout ----------------------------------------------------------------------------------------------------------


class _Layout:
    """Where everything goes. Rows from the top: title, outside parties, load balancer, then the VPC (an AZ column
    each: public subnets with their NAT gateways, private subnets holding the cluster, the cache and the endpoints);
    the regional services stack up on the right. Boxes joined by an edge line up, so arrows run straight."""

    def __init__(self, env: Environment, canvas: _Canvas):
        self.env, self.canvas = env, canvas
        self.rects: dict[str, Rect] = {}
        self.top = (96, 169)
        self.region_y = 214
        self.vpc_x = (MARGIN + 24, WIDTH - MARGIN - 24 - PANEL - LANES)
        self.lanes = (self.vpc_x[1] + 22, self.vpc_x[1] + 46)
        self.igw_x = sum(self.vpc_x) // 2 + 200
        self._outside()
        self._vpc()
        self._panel()
        self.height = max(self.vpc[3], self.panel_bottom) + 24 + 58

    def _outside(self) -> None:
        """Clients, the internet and Portkey across the top; the load balancer (and WAF) under them."""
        y0, y1 = self.top
        lb_x = (self.vpc_x[0] + 26, self.vpc_x[0] + 586)
        if self.env.load_balancer:
            self.rects["clients"] = (lb_x[0], y0, lb_x[1], y1)
        self.rects["internet"] = (self.igw_x - 150, y0, self.igw_x + 150, y1)
        self.rects["portkey"] = (self.lanes[0] - 210, y0, WIDTH - MARGIN - 24, y1)
        self.lb_y = self.region_y + 46
        lb_bottom = self.lb_y + _box_height(3)
        self.rects["lb"] = (lb_x[0], self.lb_y, lb_x[1], lb_bottom)
        if self.env.load_balancer and self.env.load_balancer.waf:
            self.rects["waf"] = (lb_x[1] + 24, self.lb_y, lb_x[1] + 264, self.lb_y + _box_height(1))
        self.vpc_y = lb_bottom + 46

    def _vpc(self) -> None:
        zones = self.env.network.zones
        inner = (self.vpc_x[0] + 20, self.vpc_x[1] - 20)
        width = (inner[1] - inner[0] - 16 * (len(zones) - 1)) // len(zones)
        self.columns = [(inner[0] + i * (width + 16), inner[0] + i * (width + 16) + width) for i in range(len(zones))]
        self.band_y = self.vpc_y + 62
        self.public = (self.band_y + 40, self.band_y + 130)
        self.bus_y = self.vpc_y + 44
        for zone, (x0, x1) in zip(zones, self.columns):
            if zone in self.env.network.nat_zones:
                self.rects[f"nat:{zone}"] = (x1 - 154, self.public[0] + 18, x1 - 24, self.public[0] + 70)
        self.private_y = self.public[1] + 14
        self._cluster()
        bottom = self._cache_and_endpoints(self.frame[3] + 56)
        self.private_bottom = bottom + 40
        self.vpc = (self.vpc_x[0], self.vpc_y, self.vpc_x[1], self.private_bottom + 20)

    def _cluster(self) -> None:
        """The ECS cluster across the private subnets: gateway, data service, EC2 capacity, in fixed slots."""
        self.frame = (self.columns[0][0] + 12, self.private_y + 58, self.columns[-1][1] - 12, 0)
        x0, x1 = self.frame[0] + 20, self.frame[2] - 20
        width = (x1 - x0 - 2 * 100) // 3
        self.slots = [(x0 + i * (width + 100), x0 + i * (width + 100) + width) for i in range(3)]
        row = self.frame[1] + 42
        height = _box_height(4)
        names = [s.name for s in self.env.services if not self.env.cache or s.name != self.env.cache.service]
        for slot, name in zip(self.slots, names[:2]):
            self.rects[name] = (slot[0], row, slot[1], row + height)
        self.rects["capacity"] = (self.slots[2][0], row, self.slots[2][1], row + height)
        self.frame = (*self.frame[:3], row + height + 20)
        # Clients, load balancer and gateway on one vertical, right of the subnets' labels.
        self.through_x = self.slots[0][0] + (self.slots[0][1] - self.slots[0][0]) * 5 // 8

    def _cache_and_endpoints(self, y: int) -> int:
        """The cache under the services that use it; the endpoints in a row below, fed by one bus."""
        if self.env.cache:
            self.rects["cache"] = (self.slots[0][0], y, self.slots[1][1], y + _box_height(2))
            y += _box_height(2)
        self.endpoints = _endpoint_boxes(self.env, self.canvas, (self.frame[2] - self.frame[0] - 40) // 3)
        if not self.endpoints:
            return y
        self.endpoint_bus_y = y + 30
        top = y + 62
        count = len(self.endpoints)
        x0, x1 = self.frame[0] + 20, self.frame[2] - 20
        width = (x1 - x0 - 24 * (count - 1)) // count if count > 1 else self.slots[2][1] - self.slots[2][0]
        if count == 1:
            x0 = self.slots[2][0]
        height = max(_box_height(len(lines)) for *_, lines in self.endpoints)
        for index, (node, *_) in enumerate(self.endpoints):
            left = x0 + index * (width + 24)
            self.rects[node] = (left, top, left + width, top + height)
        return top + height

    def _panel(self) -> None:
        x0, x1 = WIDTH - MARGIN - 24 - PANEL, WIDTH - MARGIN - 24
        y = self.lb_y
        self.panel = []
        for kind, title, items in _panel_boxes(self.env):
            lines = [part for item in items for part in self._wrapped(item)]
            rect = (x0, y, x1, y + _box_height(len(lines)))
            self.panel.append((rect, kind, title, lines))
            y = rect[3] + 20
        self.panel_bottom = y - 20

    def _wrapped(self, item: str) -> list[str]:
        """A long name over several lines, broken after spaces and slashes; the continuations indented."""
        lines = self.canvas.wrap(re.split(r"(?<=[ /])", item), 16, PANEL - 50, "")
        return [line.rstrip() if i == 0 else f"   {line.strip()}" for i, line in enumerate(lines)]


# --- drawing ---------------------------------------------------------------------------------------------------------


def _draw_frames(canvas: _Canvas, layout: _Layout) -> None:
    """Region, VPC, AZ columns, subnets and the cluster: the containers the boxes sit in."""
    env = layout.env
    canvas.frame((MARGIN, layout.region_y, WIDTH - MARGIN, layout.height - 58), "#00A4A6", dashed=True)
    canvas.text((MARGIN + 14, layout.region_y + 12), f"AWS region {env.region or '(any)'}", 16, "#00868A", bold=True)
    canvas.frame(layout.vpc, KINDS["network"][0], width=3)
    state = "created here" if env.network.created else "existing"
    canvas.text((layout.vpc[0] + 14, layout.vpc[1] + 10), f"VPC ({state})", 17, KINDS["network"][0], bold=True)
    canvas.text((layout.vpc[0] + 14, layout.vpc[1] + 33), env.network.name, 15, KINDS["network"][0])
    for zone, column in zip(env.network.zones, layout.columns):
        _draw_zone(canvas, layout, zone, column)
    frame = layout.frame
    canvas.draw.rectangle(frame, fill="#FFFBF7", outline=KINDS["compute"][0], width=2)
    canvas.text((frame[0] + 12, frame[1] + 11), "ECS cluster", 16, KINDS["compute"][0], bold=True)


def _draw_zone(canvas: _Canvas, layout: _Layout, zone: str, column: tuple[int, int]) -> None:
    x0, x1 = column
    canvas.frame((x0, layout.band_y, x1, layout.private_bottom), "#5B9BD5", dashed=True)
    canvas.text((x0 + 12, layout.band_y + 10), zone, 16, "#1A5E99", bold=True)
    cells = ((True, layout.public[0], layout.public[1]), (False, layout.private_y, layout.private_bottom - 10))
    for public, y0, y1 in cells:
        subnet = layout.env.network.subnet(zone, public)
        if subnet is None:
            continue
        stroke, fill = PUBLIC if public else PRIVATE
        canvas.frame((x0 + 10, y0, x1 - 10, y1), stroke, fill)
        canvas.text((x0 + 22, y0 + 10), "Public subnet" if public else "Private subnet", 15, stroke, bold=True)
        detail = subnet.cidr or subnet.ref
        canvas.text((x0 + 22, y0 + 31), canvas.fit(detail, 15, x1 - x0 - 200), 15, INK)


def _draw_boxes(canvas: _Canvas, layout: _Layout) -> None:
    env, rects = layout.env, layout.rects
    lb = env.load_balancer
    if lb:
        canvas.box(rects["clients"], "external", "Clients", [f"from {', '.join(lb.clients) or 'anywhere allowed'}"])
        title, lines = _lb_box(lb)
        canvas.box(rects["lb"], "network", title, lines, tag="Elastic Load Balancing")
    else:
        canvas.box(rects["lb"], "external", "No load balancer",
                   ["clients inside the VPC reach the gateway", "through Service Connect (gateway:8787)"])
    if "waf" in rects:
        canvas.box(rects["waf"], "security", "AWS WAF", [f"web ACL on the {env.load_balancer.short}"])
    canvas.box(rects["internet"], "external", "Internet", ["LLM providers"])
    canvas.box(rects["portkey"], "portkey", "Portkey control plane", ["hybrid data plane's control plane"])
    for zone in env.network.nat_zones:
        canvas.box(rects[f"nat:{zone}"], "network", "NAT")
    if env.network.nat_zones:
        canvas.box(_igw(layout), "network", "Internet gateway")
    for service in env.services:
        if service.name in rects:
            canvas.box(rects[service.name], "compute", service.name, _service_lines(service), tag="ECS service")
    canvas.box(rects["capacity"], "compute", "EC2 capacity", _capacity_lines(env.capacity), tag="ASG")
    if env.cache:
        title, lines, tag = _cache_box(env)
        canvas.box(rects["cache"], "database", title, lines, tag=tag)
    for node, kind, title, lines in layout.endpoints:
        canvas.box(rects[node], kind, title, lines)
    for rect, kind, title, lines in layout.panel:
        canvas.box(rect, kind, title, lines)


def _igw(layout: _Layout) -> Rect:
    return layout.igw_x - 90, layout.vpc[1] - 22, layout.igw_x + 90, layout.vpc[1] + 22


def _draw_edges(canvas: _Canvas, layout: _Layout) -> None:
    """Each kind of edge along its own path: straight between aligned boxes, buses and lanes where they fan out."""
    env, rects = layout.env, layout.rects
    drawn_bus = False
    for edge in env.edges:
        source, target = rects.get(edge.source), rects.get(edge.target)
        if edge.target in ("cp-endpoint", "aws-endpoints") and _inside(env, edge.source):
            if not drawn_bus:
                _endpoint_bus(canvas, layout)
                drawn_bus = True
        elif (edge.source, edge.target) == ("clients", "lb"):
            canvas.arrow([(layout.through_x, source[3]), (layout.through_x, target[1])], edge.label, at=0.3)
        elif edge.source == "lb" and target:
            x = layout.through_x if edge.target == "gateway" else _center_x(target)
            canvas.arrow([(x, rects["lb"][3]), (x, target[1])], edge.label, at=0.08)
        elif source and target and edge.target == "cache":
            x = _center_x(source)
            canvas.arrow([(x, source[3]), (x, target[1])], edge.label, at=0.45)
        elif source and target and source[1] == target[1]:
            _sideways(canvas, source, target, edge.label)
        elif edge.source == "cluster":
            _egress(canvas, layout, edge)
        elif edge.source == "nat":
            _nat_to_internet(canvas, layout, edge.label)
        elif (edge.source, edge.target) == ("internet", "portkey"):
            y = _center_y(source)
            canvas.arrow([(source[2], y), (target[0], y)], edge.label, at=0.2)
        elif edge.target == "portkey" or edge.source == "portkey":
            _lane(canvas, layout, edge)


def _inside(env: Environment, node: str) -> bool:
    """Whether traffic from `node` starts in the cluster (a service's tasks, or any of them)."""
    return node == "cluster" or env.service(node) is not None


def _sideways(canvas: _Canvas, source: Rect, target: Rect, label: str) -> None:
    """Between two boxes in a row; the way back runs just below, so each direction keeps its own port."""
    forward = source[0] < target[0]
    y = _center_y(source) + (-16 if forward else 16)
    start, end = (source[2], target[0]) if forward else (source[0], target[2])
    canvas.arrow([(start, y), (end, y)])
    canvas.labels.append(((min(start, end) + abs(end - start) // 2, y + (-17 if forward else 17)), label, "center"))


def _endpoint_bus(canvas: _Canvas, layout: _Layout) -> None:
    """Tasks to the interface endpoints: down from the cluster beside the cache, then along to each endpoint."""
    env, rects = layout.env, layout.rects
    feeds = [e for e in env.edges if _inside(env, e.source)]
    targets = [n for n, *_ in layout.endpoints if any(e.target == n for e in feeds)]
    ports = sorted({e.label for e in feeds if e.target in targets})
    x = _center_x((layout.slots[2][0], 0, layout.slots[2][1], 0))
    y = layout.endpoint_bus_y
    xs = [_center_x(rects[n]) for n in targets]
    canvas.draw.line([(x, layout.frame[3]), (x, y)], fill=LINE, width=2)
    canvas.draw.line([(min(xs + [x]), y), (max(xs + [x]), y)], fill=LINE, width=2)
    for target_x, node in zip(xs, targets):
        canvas.arrow([(target_x, y), (target_x, rects[node][1])])
    canvas.labels.append(((x, (layout.frame[3] + y) // 2), ", ".join(ports), "right"))


def _egress(canvas: _Canvas, layout: _Layout, edge: Edge) -> None:
    """Tasks to the NAT gateway of their AZ; without NAT gateways here, out through the VPC's own routes."""
    nats = [layout.rects[f"nat:{z}"] for z in layout.env.network.nat_zones]
    for index, nat in enumerate(nats):
        x = _center_x(nat)
        canvas.arrow([(x, layout.frame[1]), (x, nat[3])], edge.label if index == 0 else "", at=0.4)
    if not nats:
        x, internet = layout.columns[-1][1] - 89, layout.rects["internet"]
        points = [(x, layout.frame[1]), (x, layout.bus_y), (layout.igw_x, layout.bus_y), (layout.igw_x, internet[3])]
        canvas.arrow(points, edge.label, at=0.75)


def _nat_to_internet(canvas: _Canvas, layout: _Layout, label: str) -> None:
    igw = _igw(layout)
    nats = [layout.rects[f"nat:{z}"] for z in layout.env.network.nat_zones]
    xs = [_center_x(nat) for nat in nats]
    for x, nat in zip(xs, nats):
        canvas.draw.line([(x, nat[1]), (x, layout.bus_y)], fill=LINE, width=2)
    canvas.draw.line([(min(xs + [layout.igw_x]), layout.bus_y), (max(xs + [layout.igw_x]), layout.bus_y)],
                     fill=LINE, width=2)
    canvas.arrow([(layout.igw_x, layout.bus_y), (layout.igw_x, igw[3])])
    internet = layout.rects["internet"]
    canvas.arrow([(layout.igw_x, igw[1]), (layout.igw_x, internet[3])], label, at=0.5)


def _lane(canvas: _Canvas, layout: _Layout, edge: Edge) -> None:
    """PrivateLink to and from Portkey, up the lanes between the VPC and the regional services."""
    rects = layout.rects
    portkey = rects["portkey"]
    label_y = (portkey[3] + layout.region_y) // 2 + 4
    if edge.source == "cp-endpoint":
        box, x = rects["cp-endpoint"], layout.lanes[0]
        canvas.arrow([(box[2], _center_y(box)), (x, _center_y(box)), (x, portkey[3])])
        canvas.labels.append(((x, label_y), f"{edge.label} (out)", "left"))
    else:
        box, x = rects["endpoint-service"], layout.lanes[1]
        below = box[3] + 18
        canvas.arrow([(x, portkey[3]), (x, below), (_center_x(box), below), (_center_x(box), box[3])])
        canvas.labels.append(((x, label_y), f"{edge.label} (in)", "right"))


def _draw_title(canvas: _Canvas, env: Environment) -> None:
    canvas.text((MARGIN, 24), env.stack, 30, INK, bold=True)
    canvas.text((MARGIN, 64), "Portkey AI Gateway hybrid data plane on EC2-backed ECS", 17, MUTED)


def _draw_footer(canvas: _Canvas, layout: _Layout) -> None:
    canvas.text((MARGIN, layout.height - 40),
                "Drawn from the synthesized CloudFormation templates by portkey_gateway.diagram. Arrows: traffic the "
                "security groups admit, with ports; NAT and PrivateLink paths out of the VPC.", 15, MUTED)


def render(env: Environment):
    """The picture of `env` as a Pillow image; the same model always gives the same pixels."""
    canvas = _Canvas(4000)
    layout = _Layout(env, canvas)
    _draw_title(canvas, env)
    _draw_frames(canvas, layout)
    _draw_boxes(canvas, layout)
    _draw_edges(canvas, layout)
    canvas.draw_labels()
    _draw_footer(canvas, layout)
    return canvas.image.crop((0, 0, WIDTH, layout.height))


def write_png(cdk_out: str | Path, output: str | Path) -> Path:
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    render(read_assembly(cdk_out)).save(output, format="PNG", optimize=True)
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m portkey_gateway.diagram", description=__doc__.splitlines()[0])
    parser.add_argument("cdk_out", help="the cloud assembly directory `cdk synth` wrote (cdk.out)")
    parser.add_argument("-o", "--output", required=True, help="the PNG to write")
    args = parser.parse_args(argv)
    print(f"Wrote {write_png(args.cdk_out, args.output)}")


if __name__ == "__main__":
    main()
