"""The model of one environment, read from its synthesized CloudFormation templates.

`read_assembly` turns a cloud assembly (cdk.out) into what the environment is: network, load balancer, capacity,
services, cache, endpoints, operations, and the edges between them (from the security-group rules, so they are the
paths the template actually opens). Reading the template rather than the config shows what would be deployed; the
architecture picture (`diagram`) draws this model, and it can be tested without pixels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .assembly import (AssemblyError, asg_instances, cache_nodes, internet_facing, of_type, read_stacks, ref,
                       refs)

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
