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
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .assembly import (AssemblyError, asg_instances, cache_nodes, internet_facing, of_type, read_stacks, ref,
                       refs)

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
    access_logs: str | None      # the bucket its access logs go to, if it writes them

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
        return of_type(self.resources, resource_type)

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


def read_assembly(directory: str | Path) -> Environment:
    """The model of the gateway stack `<project>-<env>` (the one with ECS services) and its optional secrets stack;
    AssemblyError when there is no such stack to draw."""
    stacks = [(_Template(stack.name, stack.template), stack.region) for stack in read_stacks(directory)]
    main = [(t, r) for t, r in stacks if t.of_type("AWS::ECS::Service")]
    if not main:
        raise AssemblyError(f"no stack with ECS services in {directory}: is it this project's assembly?")
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
        functions=tuple(_function_names(t).values()),
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
    nat_zones = tuple(by_ref[ref(p["SubnetId"])].zone for _, p in t.of_type("AWS::EC2::NatGateway")
                      if ref(p.get("SubnetId")) in by_ref)
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
                    for r in refs(p.get("NetworkLoadBalancerArns"))}
    ingress = [k for k in balancers if k not in service_nlbs] or balancers
    lb_id = ingress[0] if ingress else None
    endpoint_lb = next((k for k in balancers if k in service_nlbs and k != lb_id), None)
    return lb_id, endpoint_lb


def _listeners(t: _Template, lb_id: str) -> tuple[Listener, ...]:
    test_ids = _test_listener_ids(t)
    listeners = []
    for logical_id, props in t.of_type(LISTENER):
        if ref(props.get("LoadBalancerArn")) != lb_id:
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
            test = ref(balancer.get("AdvancedConfiguration", {}).get("TestListenerRule"))
            if test:
                ids.add(ref(t.props(test).get("ListenerArn")) if t.resources[test]["Type"] != LISTENER else test)
    return ids


def _load_balancer(t: _Template, lb_id: str) -> LoadBalancer:
    props = t.props(lb_id)
    groups = set(refs(props.get("SecurityGroups")))
    clients = {rule["CidrIp"] for g in sorted(groups) for rule in t.props(g).get("SecurityGroupIngress", [])
               if isinstance(rule.get("CidrIp"), str)}
    attributes = {a["Key"]: a["Value"] for a in props.get("LoadBalancerAttributes", [])}
    bucket = attributes.get("access_logs.s3.bucket")
    if attributes.get("access_logs.s3.enabled") != "true":
        bucket = None
    elif not isinstance(bucket, str):  # a bucket created here: its name resolves at deploy time
        bucket = f"{t.name} access logs (created here)"
    return LoadBalancer(
        kind=props.get("Type", "application"),
        internet_facing=internet_facing(props),
        listeners=_listeners(t, lb_id),
        clients=tuple(sorted(clients)),
        waf=any(ref(p.get("ResourceArn")) == lb_id for _, p in t.of_type("AWS::WAFv2::WebACLAssociation")),
        access_logs=bucket,
    )


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
    template = t.props(ref(group.get("LaunchTemplate", {}).get("LaunchTemplateId")))
    name = clusters[0][1].get("ClusterName")
    return Capacity(cluster=name if isinstance(name, str) else "ECS cluster",
                    instance_type=template.get("LaunchTemplateData", {}).get("InstanceType"),
                    min=int(group["MinSize"]), desired=asg_instances(group), max=int(group["MaxSize"]))


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
        for service_id in filter(None, map(ref, parts)):
            scaling[service_id] = (int(props["MinCapacity"]), int(props["MaxCapacity"]))
    services = []
    for logical_id, props in t.of_type("AWS::ECS::Service"):
        task = t.props(ref(props.get("TaskDefinition")))
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
        engine = f"{g.get('Engine', 'redis')} {g.get('EngineVersion', '')}".strip()
        return Cache(kind="created", engine=engine, port=g.get("Port"), tls=bool(g.get("TransitEncryptionEnabled")),
                     node_type=g.get("CacheNodeType"), nodes=cache_nodes(g), shards=g.get("NumNodeGroups"), mode=mode)
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
    """The secret's name in a Secrets Manager ARN (a task's `ARN:KEY::` reference included), without the `-` and six
    random characters a complete ARN ends with. A partial ARN has no suffix; six lowercase letters (`-tokens`) are
    taken for part of the name, since a random suffix nearly always has a capital or a digit."""
    if not isinstance(arn, str) or ":secret:" not in arn:
        return None
    name = arn.split(":secret:", 1)[1].split(":", 1)[0]
    return re.sub(r"-(?![a-z]{6}$)[A-Za-z0-9]{6}$", "", name)


def _secrets(templates: list[_Template]) -> tuple[Secret, ...]:
    found: dict[str, Secret] = {}
    for t in templates:
        for logical_id, _ in t.of_type("AWS::SecretsManager::Secret"):
            name = t.label(logical_id, "Name", "Description").split(" (")[0]
            found[name] = Secret(name=name, created=True)
        for _, check in t.of_type("Custom::ManagedSecretsReady"):  # the secrets stack's, which is deployed on request
            for secret in check["Secrets"]:
                found[secret["Name"]] = Secret(name=secret["Name"], created=True)
        for _, task in t.of_type("AWS::ECS::TaskDefinition"):
            for definition in task["ContainerDefinitions"]:
                arns = [s["ValueFrom"] for s in definition.get("Secrets", [])]
                arns.append(definition.get("RepositoryCredentials", {}).get("CredentialsParameter"))
                for name in filter(None, map(_secret_name, arns)):
                    found.setdefault(name, Secret(name=name, created=False))
    return tuple(found.values())


def _function_names(t: _Template) -> dict[str, str]:
    """Lambda functions (logical id -> name) by name; a nameless provider function by the custom resource it serves
    (one that serves several, by its own name). The panel lists these names and a function's edges start from its
    own, so the two always agree."""
    users: dict[str, list[str]] = {}
    for k, v in t.resources.items():
        if v["Type"].startswith("Custom::"):
            users.setdefault(ref(v.get("Properties", {}).get("ServiceToken")), []).append(k)
    names = {}
    for logical_id, props in t.of_type("AWS::Lambda::Function"):
        served = users.get(logical_id, [])
        if isinstance(props.get("FunctionName"), str) or not served:
            names[logical_id] = t.label(logical_id, "FunctionName")
        elif len(served) > 1:
            names[logical_id] = f"{t.label(logical_id).removesuffix(' function')} ({len(served)} custom resources)"
        else:
            names[logical_id] = f"{t.label(served[0])} (custom resource)"
    return names


def _operations(t: _Template) -> Operations:
    def names(resource_type: str, *keys: str) -> tuple[str, ...]:
        return tuple(t.label(k, *keys) for k, _ in t.of_type(resource_type))

    subscriptions = tuple(p.get("Protocol", "?") for _, p in t.of_type("AWS::SNS::Subscription"))
    inline = tuple(s.get("Protocol", "?") for _, p in t.of_type("AWS::SNS::Topic") for s in p.get("Subscription", []))
    return Operations(
        # Named in full: the name is what one looks for in the console (without the prefix only the region is left).
        dashboards=tuple(str(p.get("DashboardName", k)) for k, p in t.of_type("AWS::CloudWatch::Dashboard")),
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
        name = t.props(ref(props.get("TaskDefinition")))["ContainerDefinitions"][0]["Name"]
        node = "cache" if env.cache and env.cache.service == name else name
        for group in refs(props.get("NetworkConfiguration", {}).get("AwsvpcConfiguration", {}).get("SecurityGroups")):
            owners[group] = node
    for logical_id, node in ((lb_id, "lb"), (endpoint_lb_id, "endpoint-service")):
        for group in refs(t.props(logical_id).get("SecurityGroups")):
            owners[group] = node
    for _, props in t.of_type("AWS::ElastiCache::ReplicationGroup"):
        owners.update({g: "cache" for g in refs(props.get("SecurityGroupIds"))})
    for _, props in t.of_type("AWS::EC2::VPCEndpoint"):
        node = "cp-endpoint" if _is_control_plane(props) else "aws-endpoints"
        owners.update({g: node for g in refs(props.get("SecurityGroupIds"))})
    for logical_id, name in _function_names(t).items():
        groups = refs(t.props(logical_id).get("VpcConfig", {}).get("SecurityGroupIds"))
        owners.update({g: f"function:{name}" for g in groups})
    return owners


def _with_edges(env: Environment, t: _Template, lb_id: str | None, endpoint_lb_id: str | None) -> Environment:
    """Edges from the security-group rules between the nodes, plus the ways in and out of the VPC."""
    owners = _group_owners(t, env, lb_id, endpoint_lb_id)
    ports: dict[tuple[str, str], list[int]] = {}
    for _, rule in t.of_type("AWS::EC2::SecurityGroupIngress"):
        source, target = owners.get(ref(rule.get("SourceSecurityGroupId"))), owners.get(ref(rule.get("GroupId")))
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
MARGIN = 30            # around the region frame
INSET = 24             # from the region frame to the VPC and the panel inside it, and under the VPC
PAD = 20               # from a frame to the boxes inside it: the VPC's AZ columns, the cluster's and endpoints' boxes
GAP = 24               # between boxes side by side
PANEL = 400            # the right-hand column of regional services
PANEL_GAP = 20         # between the boxes stacked in it
LANES = 70             # between the VPC and that column: the PrivateLink paths to Portkey
TITLE = 96             # the title and subtitle, above the outside parties
REGION_GAP = 45        # from the outside parties down to the region frame
ROW_GAP = 46           # from the region frame down to the load balancer, and from it down to the VPC
LB_WIDTH = 560         # the clients' and the load balancer's boxes
ZONE_GAP = 16          # between the AZ columns
SLOT_GAP = 100         # between the boxes in the cluster: room for the arrows and labels between services
SLOTS = 3              # at least: the gateway, the data service (or room), the EC2 capacity
FOOTER = 58            # under the region frame: the footer line
LINE_HEIGHT = 21       # a line of a box's text, the first FIRST_LINE under its top
FIRST_LINE = 40
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
Point = tuple[int, int]


@dataclass(frozen=True)
class Route:
    """How one edge is drawn: polylines with an arrow head at their end, plain lines (a bus it shares), and its
    label as (point, text, side of the point)."""

    arrows: tuple[tuple[Point, ...], ...]
    lines: tuple[tuple[Point, ...], ...] = ()
    label: tuple[Point, str, str] | None = None


class _Fonts:
    """Text measured in Pillow's bundled font: the layout needs it before the canvas, whose height it decides."""

    def __init__(self):
        from PIL import ImageFont  # only rendering needs Pillow

        self._font = ImageFont.load_default

    def font(self, size: int):
        return self._font(size=size)

    def width(self, text: str, size: int) -> float:
        return self.font(size).getlength(text)

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


class _Canvas(_Fonts):
    """Pillow drawing with the few primitives the picture needs: text, boxes, frames and routes."""

    def __init__(self, height: int):
        from PIL import Image, ImageDraw

        super().__init__()
        self.image = Image.new("RGB", (WIDTH, height), "white")
        self.draw = ImageDraw.Draw(self.image)
        self.labels: list[tuple[Point, str, str]] = []  # (point, text, side of the point)

    def text(self, xy: tuple[float, float], text: str, size: int = 16, fill: str = INK, bold: bool = False,
             anchor: str = "la") -> None:
        self.draw.text(xy, text, font=self.font(size), fill=fill, anchor=anchor,
                       stroke_width=0.45 if bold else 0, stroke_fill=fill)

    def frame(self, rect: Rect, stroke: str, fill: str | None = None, dashed: bool = False, width: int = 2) -> None:
        if fill:
            self.draw.rectangle(rect, fill=fill)
        if not dashed:
            self.draw.rectangle(rect, outline=stroke, width=width)
            return
        x0, y0, x1, y1 = rect
        for start, end in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x0, y1), (x1, y1)), ((x0, y0), (x0, y1))):
            self._dashes(start, end, stroke, width)

    def _dashes(self, start: Point, end: Point, fill: str, width: int) -> None:
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
            self.text((x0 + 18, _line_y(rect, index)), self.fit(line, 16, x1 - x0 - 30), 16, INK)

    def route(self, route: Route) -> None:
        """An edge's lines and arrows now; its label with the others, last."""
        for line in route.lines:
            self.draw.line(line, fill=LINE, width=2)
        for points in route.arrows:
            self.draw.line(points, fill=LINE, width=2, joint="curve")
            self._head(points[-2], points[-1])
        if route.label and route.label[1]:
            self.labels.append(route.label)

    def _head(self, tail: Point, tip: Point) -> None:
        dx, dy = tip[0] - tail[0], tip[1] - tail[1]
        length = max((dx * dx + dy * dy) ** 0.5, 1)
        ux, uy = dx / length, dy / length
        base = (tip[0] - 13 * ux, tip[1] - 13 * uy)
        self.draw.polygon([tip, (base[0] - 6 * uy, base[1] + 6 * ux), (base[0] + 6 * uy, base[1] - 6 * ux)], fill=LINE)

    def draw_labels(self) -> None:
        """Edge labels last, on a white ground, so that no line runs through their text."""
        for (x, y), label, side in self.labels:
            width = self.width(label, 15) + 12
            left = {"right": x + 6, "left": x - 6 - width, "center": x - width / 2}[side]
            self.draw.rounded_rectangle((left, y - 12, left + width, y + 11), radius=4, fill="white", outline="#C9CED6")
            self.text((left + 6, y), label, 15, LINE, anchor="lm")


def _along(points: list[Point], fraction: float) -> Point:
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
    return FIRST_LINE + 12 + LINE_HEIGHT * lines


def _line_y(rect: Rect, index: int) -> int:
    """The top of a box's detail line `index`."""
    return rect[1] + FIRST_LINE + LINE_HEIGHT * index


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


def _endpoint_boxes(env: Environment, fonts: _Fonts, width: int) -> list[tuple[str, str, str, list[str]]]:
    """(node, kind, title, lines) of each endpoint box, left to right: the endpoint service first (its own NLB
    forwards to the load balancer, up the left), the control-plane one last (it exits right, to Portkey)."""
    boxes = []
    if env.endpoint_service:
        service = env.endpoint_service
        lines = [f"via {service.via}", f"private DNS {service.private_dns or '(none)'}",
                 "acceptance required" if service.acceptance_required else "auto-accepts connections"]
        boxes.append(("endpoint-service", "network", "Endpoint service (inbound)", lines))
    if env.aws_endpoints:
        boxes.append(("aws-endpoints", "network", f"VPC endpoints ({len(env.aws_endpoints)})",
                      fonts.wrap(list(env.aws_endpoints), 16, width - 34)))
    if env.control_plane_endpoint:
        boxes.append(("cp-endpoint", "network", "Control-plane endpoint", ["interface endpoint to Portkey",
                                                                          "private DNS for its host names"]))
    return boxes


def _panel_boxes(env: Environment) -> list[tuple[str, str, list[str], list[str]]]:
    """(kind, title, items, nodes) of the regional services beside the VPC; `nodes` are the model's nodes the items
    are, if they are any (a Lambda function's edges start from its line)."""
    boxes = []
    if env.secrets:
        created = [f"· {s.name}" for s in env.secrets if s.created]
        referenced = [f"· {s.name}" for s in env.secrets if not s.created]
        lines = ([f"created here ({len(created)}):", *created] if created else []) + \
                ([f"referenced ({len(referenced)}):", *referenced] if referenced else [])
        boxes.append(("security", "Secrets Manager", lines, []))
    if env.load_balancer and env.load_balancer.access_logs:
        boxes.append(("storage", "S3 access logs", [env.load_balancer.access_logs], []))
    if env.functions:
        boxes.append(("compute", f"Lambda functions ({len(env.functions)})", list(env.functions),
                      [f"function:{name}" for name in env.functions]))
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
        boxes.append(("management", "Operations", lines, []))
    return boxes


# --- layout ----------------------------------------------------------------------------------------------------------


class Layout:
    """Where everything goes, measured before anything is drawn (it decides the picture's height). Rows from the top:
    title, outside parties, load balancer, then the VPC (an AZ column each: public subnets with their NAT gateways,
    private subnets holding the cluster, the cache and the endpoints); the regional services stack up on the right.
    Boxes joined by an edge line up, so arrows run straight. `rects` has a box per node of the model's edges (a
    Lambda function's is its line in the panel) and `routes()` a route per edge."""

    def __init__(self, env: Environment):
        self.env, self.fonts = env, _Fonts()
        self.rects: dict[str, Rect] = {}
        self.top = (TITLE, TITLE + _box_height(1))
        self.region_y = self.top[1] + REGION_GAP
        self.vpc_x = (MARGIN + INSET, WIDTH - MARGIN - INSET - PANEL - LANES)
        self.panel_x = (WIDTH - MARGIN - INSET - PANEL, WIDTH - MARGIN - INSET)
        self.lanes = (self.vpc_x[1] + 22, self.vpc_x[1] + 46)
        self.igw_x = sum(self.vpc_x) // 2 + 200
        self._outside()
        self._vpc()
        self._panel()
        self.height = max(self.vpc[3], self.panel_bottom) + INSET + FOOTER

    def _outside(self) -> None:
        """Clients, the internet and Portkey across the top; the load balancer (and WAF) under them."""
        y0, y1 = self.top
        lb_x = (self.vpc_x[0] + 26, self.vpc_x[0] + 26 + LB_WIDTH)
        if self.env.load_balancer:
            self.rects["clients"] = (lb_x[0], y0, lb_x[1], y1)
        self.rects["internet"] = (self.igw_x - 150, y0, self.igw_x + 150, y1)
        self.rects["portkey"] = (self.lanes[0] - 210, y0, self.panel_x[1], y1)
        self.lb_y = self.region_y + ROW_GAP
        lb_bottom = self.lb_y + _box_height(3)
        self.rects["lb"] = (lb_x[0], self.lb_y, lb_x[1], lb_bottom)
        if self.env.load_balancer and self.env.load_balancer.waf:
            self.rects["waf"] = (lb_x[1] + GAP, self.lb_y, lb_x[1] + GAP + 240, self.lb_y + _box_height(1))
        self.vpc_y = lb_bottom + ROW_GAP

    def _vpc(self) -> None:
        zones = self.env.network.zones
        inner = (self.vpc_x[0] + PAD, self.vpc_x[1] - PAD)
        width = (inner[1] - inner[0] - ZONE_GAP * (len(zones) - 1)) // len(zones)
        self.columns = [(inner[0] + i * (width + ZONE_GAP), inner[0] + i * (width + ZONE_GAP) + width)
                        for i in range(len(zones))]
        self.band_y = self.vpc_y + 62  # under the VPC's name and CIDR
        self.public = (self.band_y + 40, self.band_y + 130)
        self.bus_y = self.vpc_y + 44
        for zone, (x0, x1) in zip(zones, self.columns):
            if zone in self.env.network.nat_zones:
                self.rects[f"nat:{zone}"] = (x1 - 154, self.public[0] + 18, x1 - 24, self.public[0] + 70)
        self.private_y = self.public[1] + 14
        self._cluster()
        bottom = self._cache_and_endpoints(self.frame[3] + 56)
        self.private_bottom = bottom + 40
        self.vpc = (self.vpc_x[0], self.vpc_y, self.vpc_x[1], self.private_bottom + PAD)

    def _cluster(self) -> None:
        """The ECS cluster across the private subnets: a slot for each service but the cache, then the EC2 capacity.
        Three slots at least, so that the gateway keeps its place when it runs alone."""
        self.services = [s.name for s in self.env.services if not self.env.cache or s.name != self.env.cache.service]
        count = max(SLOTS, len(self.services) + 1)
        self.frame = (self.columns[0][0] + 12, self.private_y + 58, self.columns[-1][1] - 12, 0)
        x0, x1 = self.frame[0] + PAD, self.frame[2] - PAD
        width = (x1 - x0 - (count - 1) * SLOT_GAP) // count
        self.slots = [(x0 + i * (width + SLOT_GAP), x0 + i * (width + SLOT_GAP) + width) for i in range(count)]
        row = self.frame[1] + 42  # under the cluster's name
        height = _box_height(4)
        for slot, name in zip(self.slots, self.services):
            self.rects[name] = (slot[0], row, slot[1], row + height)
        self.rects["capacity"] = (self.slots[-1][0], row, self.slots[-1][1], row + height)
        self.frame = (*self.frame[:3], row + height + PAD)
        # Clients, load balancer and gateway on one vertical, right of the subnets' labels.
        self.through_x = self.slots[0][0] + (self.slots[0][1] - self.slots[0][0]) * 5 // 8

    def _cache_and_endpoints(self, y: int) -> int:
        """The cache under the first two slots (the services that use it); the endpoints in a row below, fed by a bus
        above them."""
        if self.env.cache:
            self.rects["cache"] = (self.slots[0][0], y, self.slots[1][1], y + _box_height(2))
            y += _box_height(2)
        self.endpoints = _endpoint_boxes(self.env, self.fonts, (self.frame[2] - self.frame[0] - 2 * PAD) // 3)
        if not self.endpoints:
            return y
        self.endpoint_bus_y = y + 30
        top = y + 62
        count = len(self.endpoints)
        x0, x1 = self.frame[0] + PAD, self.frame[2] - PAD
        capacity = self.slots[-1]
        width = (x1 - x0 - GAP * (count - 1)) // count if count > 1 else capacity[1] - capacity[0]
        if count == 1:
            x0 = capacity[0]
        height = max(_box_height(len(lines)) for *_, lines in self.endpoints)
        for index, (node, *_) in enumerate(self.endpoints):
            left = x0 + index * (width + GAP)
            self.rects[node] = (left, top, left + width, top + height)
        return top + height

    def _panel(self) -> None:
        """The regional services stacked beside the VPC; a Lambda function's line is its node's box."""
        x0, x1 = self.panel_x
        y = self.lb_y
        self.panel = []
        for kind, title, items, nodes in _panel_boxes(self.env):
            wrapped = [self._wrapped(item) for item in items]
            lines = [part for parts in wrapped for part in parts]
            rect = (x0, y, x1, y + _box_height(len(lines)))
            self.panel.append((rect, kind, title, lines))
            index = 0
            for node, parts in zip(nodes, wrapped):
                top = _line_y(rect, index)
                self.rects[node] = (x0, top - 2, x1, top + 18)
                index += len(parts)
            y = rect[3] + PANEL_GAP
        self.panel_bottom = y - PANEL_GAP

    def _wrapped(self, item: str) -> list[str]:
        """A long name over several lines, broken after spaces and slashes; the continuations indented."""
        lines = self.fonts.wrap(re.split(r"(?<=[ /])", item), 16, PANEL - 50, "")
        return [line.rstrip() if i == 0 else f"   {line.strip()}" for i, line in enumerate(lines)]

    def routes(self) -> dict[Edge, Route]:
        """A route for every edge of the model, in its order."""
        return {edge: _route(self, edge) for edge in self.env.edges}


# --- edges -----------------------------------------------------------------------------------------------------------


def _route(layout: Layout, edge: Edge) -> Route:
    """Each kind of edge along its own path: straight between aligned boxes, buses and lanes where they fan out, and
    any other around the boxes."""
    env, rects = layout.env, layout.rects
    pair = (edge.source, edge.target)
    source, target = rects.get(edge.source), rects.get(edge.target)
    if edge.target in ("cp-endpoint", "aws-endpoints") and _inside(env, edge.source):
        return _endpoint_feed(layout, edge)
    if pair == ("clients", "lb"):
        return _arrow([(layout.through_x, source[3]), (layout.through_x, target[1])], edge.label, at=0.3)
    if edge.source == "lb" and target:
        x = layout.through_x if edge.target == "gateway" else _center_x(target)
        return _arrow([(x, source[3]), (x, target[1])], edge.label, at=0.08)
    if source and target and edge.target == "cache":
        x = _center_x(source)
        return _arrow([(x, source[3]), (x, target[1])], edge.label, at=0.45)
    if source and target and source[1] == target[1]:
        return _sideways(source, target, edge.label)
    if edge.source == "cluster":
        return _egress(layout, edge)
    if edge.source == "nat":
        return _nat_to_internet(layout, edge.label)
    if pair in (("cp-endpoint", "portkey"), ("portkey", "endpoint-service")):
        return _lane(layout, edge)
    return _detour(layout, edge)


def _arrow(points: list[Point], label: str = "", at: float = 0.5) -> Route:
    """One arrow, its label beside the point `at` of the way along it."""
    return Route((tuple(points),), label=(_along(points, at), label, "right"))


def _inside(env: Environment, node: str) -> bool:
    """Whether traffic from `node` starts in the cluster (a service's tasks, or any of them)."""
    return node == "cluster" or env.service(node) is not None


def _sideways(source: Rect, target: Rect, label: str) -> Route:
    """Between two boxes in a row; the way back runs just below, so each direction keeps its own port."""
    forward = source[0] < target[0]
    y = _center_y(source) + (-16 if forward else 16)
    start, end = (source[2], target[0]) if forward else (source[0], target[2])
    point = (min(start, end) + abs(end - start) // 2, y + (-17 if forward else 17))
    return Route((((start, y), (end, y)),), label=(point, label, "center"))


def _endpoint_feed(layout: Layout, edge: Edge) -> Route:
    """Tasks to an interface endpoint, along the bus above the endpoints' row. A service's start from its box and run
    down beside the cache, which spans the first two slots: the first slot's on the cluster's left, another's in the
    gap right of it. Those of any task start under the EC2 capacity."""
    rects, frame, bus_y = layout.rects, layout.frame, layout.endpoint_bus_y
    if edge.source == "cluster":
        x = _center_x(rects["capacity"])
        feed = [(x, frame[3])]
        label_y = (frame[3] + bus_y) // 2
    else:
        box = rects[edge.source]
        first = box[0] == layout.slots[0][0]
        x, side = (frame[0] + PAD // 2, box[0]) if first else (box[2] + SLOT_GAP // 2, box[2])
        feed = [(side, box[3] - PAD), (x, box[3] - PAD)]
        label_y = frame[3] + 28  # between the cluster and the cache
    target = rects[edge.target]
    points = [*feed, (x, bus_y), (_center_x(target), bus_y), (_center_x(target), target[1])]
    return Route((tuple(points),), label=((x, label_y), edge.label, "right"))


def _egress(layout: Layout, edge: Edge) -> Route:
    """Tasks to the NAT gateway of their AZ; without NAT gateways here, out through the VPC's own routes."""
    nats = [layout.rects[f"nat:{z}"] for z in layout.env.network.nat_zones]
    if not nats:
        x, internet = layout.columns[-1][1] - 89, layout.rects["internet"]
        points = [(x, layout.frame[1]), (x, layout.bus_y), (layout.igw_x, layout.bus_y), (layout.igw_x, internet[3])]
        return _arrow(points, edge.label, at=0.75)
    arrows = tuple(((_center_x(nat), layout.frame[1]), (_center_x(nat), nat[3])) for nat in nats)
    return Route(arrows, label=(_along(arrows[0], 0.4), edge.label, "right"))


def _nat_to_internet(layout: Layout, label: str) -> Route:
    """Up from each NAT gateway to a bus under the VPC's top edge, to the internet gateway on it, and out."""
    igw, internet, x, y = _igw(layout), layout.rects["internet"], layout.igw_x, layout.bus_y
    nats = [layout.rects[f"nat:{z}"] for z in layout.env.network.nat_zones]
    xs = [_center_x(nat) for nat in nats]
    lines = [((nat_x, nat[1]), (nat_x, y)) for nat_x, nat in zip(xs, nats)]
    lines.append(((min(xs + [x]), y), (max(xs + [x]), y)))
    out = ((x, igw[1]), (x, internet[3]))
    return Route((((x, y), (x, igw[3])), out), tuple(lines), (_along(out, 0.5), label, "right"))


def _lane(layout: Layout, edge: Edge) -> Route:
    """PrivateLink to and from Portkey, up the lanes between the VPC and the regional services."""
    rects = layout.rects
    portkey = rects["portkey"]
    label_y = (portkey[3] + layout.region_y) // 2 + 4
    if edge.source == "cp-endpoint":
        box, x = rects["cp-endpoint"], layout.lanes[0]
        points = ((box[2], _center_y(box)), (x, _center_y(box)), (x, portkey[3]))
        return Route((points,), label=((x, label_y), f"{edge.label} (out)", "left"))
    box, x = rects["endpoint-service"], layout.lanes[1]
    below = box[3] + 18
    points = ((x, portkey[3]), (x, below), (_center_x(box), below), (_center_x(box), box[3]))
    return Route((points,), label=((x, label_y), f"{edge.label} (in)", "right"))


def _detour(layout: Layout, edge: Edge) -> Route:
    """Any other edge (the endpoint service's NLB to the load balancer, a Lambda function to it), around the boxes:
    out of the source's side into the gutter beyond the VPC on its side (the region's margin on the left; right of
    the PrivateLink lanes on the right), along it, and into the target's facing side low down, below a box beside
    its top such as the WAF's. The label sits above that last leg, or in the gutter under the target when the leg is
    too short for it."""
    source, target = layout.rects[edge.source], layout.rects[edge.target]
    left = _center_x(source) < sum(layout.vpc_x) // 2
    x = (MARGIN + layout.vpc_x[0]) // 2 if left else (layout.lanes[1] + layout.panel_x[0]) // 2
    start = (source[0] if x < source[0] else source[2], _center_y(source))
    end = (target[0] if x < target[0] else target[2], target[3] - PAD)
    points = [start, (x, start[1]), (x, end[1]), end]
    if abs(end[0] - x) >= 120:
        label = (((x + end[0]) // 2, end[1] - 17), edge.label, "center")
    else:
        label = ((x, target[3] + 23), edge.label, "right" if left else "left")
    return Route((tuple(points),), label=label)


def _igw(layout: Layout) -> Rect:
    return layout.igw_x - 90, layout.vpc[1] - 22, layout.igw_x + 90, layout.vpc[1] + 22


# --- drawing ---------------------------------------------------------------------------------------------------------


def _draw_frames(canvas: _Canvas, layout: Layout) -> None:
    """Region, VPC, AZ columns, subnets and the cluster: the containers the boxes sit in."""
    env = layout.env
    canvas.frame((MARGIN, layout.region_y, WIDTH - MARGIN, layout.height - FOOTER), "#00A4A6", dashed=True)
    canvas.text((MARGIN + 14, layout.region_y + 12), f"AWS region {env.region or '(any)'}", 16, "#00868A", bold=True)
    canvas.frame(layout.vpc, KINDS["network"][0], width=3)
    state = "created here" if env.network.created else "existing"
    canvas.text((layout.vpc[0] + 14, layout.vpc[1] + 10), f"VPC ({state})", 17, KINDS["network"][0], bold=True)
    canvas.text((layout.vpc[0] + 14, layout.vpc[1] + 33), env.network.name, 15, KINDS["network"][0])
    for zone, column in zip(env.network.zones, layout.columns):
        _draw_zone(canvas, layout, zone, column)
    canvas.frame(layout.frame, KINDS["compute"][0], "#FFFBF7")
    canvas.text((layout.frame[0] + 12, layout.frame[1] + 11), "ECS cluster", 16, KINDS["compute"][0], bold=True)


def _draw_zone(canvas: _Canvas, layout: Layout, zone: str, column: tuple[int, int]) -> None:
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


def _draw_boxes(canvas: _Canvas, layout: Layout) -> None:
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
    for name in layout.services:
        canvas.box(rects[name], "compute", name, _service_lines(env.service(name)), tag="ECS service")
    canvas.box(rects["capacity"], "compute", "EC2 capacity", _capacity_lines(env.capacity), tag="ASG")
    if env.cache:
        title, lines, tag = _cache_box(env)
        canvas.box(rects["cache"], "database", title, lines, tag=tag)
    for node, kind, title, lines in layout.endpoints:
        canvas.box(rects[node], kind, title, lines)
    for rect, kind, title, lines in layout.panel:
        canvas.box(rect, kind, title, lines)


def _draw_title(canvas: _Canvas, env: Environment) -> None:
    canvas.text((MARGIN, 24), env.stack, 30, INK, bold=True)
    canvas.text((MARGIN, 64), "Portkey AI Gateway hybrid data plane on EC2-backed ECS", 17, MUTED)


def _draw_footer(canvas: _Canvas, layout: Layout) -> None:
    canvas.text((MARGIN, layout.height - 40),
                "Drawn from the synthesized CloudFormation templates by portkey_gateway.diagram. Arrows: traffic the "
                "security groups admit, with ports; NAT and PrivateLink paths out of the VPC.", 15, MUTED)


def render(env: Environment):
    """The picture of `env` as a Pillow image; the same model always gives the same pixels."""
    layout = Layout(env)
    canvas = _Canvas(layout.height)
    _draw_title(canvas, env)
    _draw_frames(canvas, layout)
    _draw_boxes(canvas, layout)
    for route in layout.routes().values():
        canvas.route(route)
    canvas.draw_labels()
    _draw_footer(canvas, layout)
    return canvas.image


def write_png(cdk_out: str | Path, output: str | Path) -> Path:
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    render(read_assembly(cdk_out)).save(output, format="PNG", optimize=True)
    return output


def main(argv: list[str] | None = None) -> int:
    """Write the picture; a missing or foreign assembly is one line on stderr and exit status 2, not a traceback."""
    parser = argparse.ArgumentParser(prog="python -m portkey_gateway.diagram", description=__doc__.splitlines()[0])
    parser.add_argument("cdk_out", help="the cloud assembly directory `cdk synth` wrote (cdk.out)")
    parser.add_argument("-o", "--output", required=True, help="the PNG to write")
    args = parser.parse_args(argv)
    try:
        output = write_png(args.cdk_out, args.output)
    except AssemblyError as error:
        print(f"diagram: {error}", file=sys.stderr)
        return 2
    print(f"Wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
