"""The architecture picture: its model read from real synthesized assemblies, and a deterministic PNG.

The model tests assert facts of the templates (what the environment is); the rendering tests check the PNG's size,
that it is deterministic, the CLI, and that the committed picture in the README is current.
"""

from __future__ import annotations

import subprocess
import sys

from PIL import Image

from portkey_gateway.diagram import WIDTH, Listener, read_assembly, render
from tests.conftest import ROOT, synthesize

PICTURE = ROOT / "docs" / "architecture-production.png"
REGENERATE = "make diagram CONFIG=examples/production.yaml OUT=docs/architecture-production.png"


def model(name: str):
    return read_assembly(synthesize(name)[1].directory)


def test_production_config_model():
    env = model("config-prod")
    assert env.stack == "portkey-gateway-prod" and env.region == "us-east-1"
    network = env.network
    assert network.created and network.name == "10.2.0.0/16"
    assert network.zones == ("us-east-1a", "us-east-1b", "us-east-1c")
    assert network.nat_zones == network.zones  # one NAT gateway per AZ
    assert [s.cidr for s in network.subnets if s.public] == ["10.2.0.0/20", "10.2.16.0/20", "10.2.32.0/20"]
    assert all(network.subnet(zone, public=False) for zone in network.zones)

    lb = env.load_balancer
    assert (lb.kind, lb.internet_facing, lb.waf, lb.access_logs) == ("application", True, True, True)
    assert Listener(443, "HTTPS", "production") in lb.listeners
    assert Listener(8443, "HTTPS", "test") in lb.listeners  # blue/green's test listener
    assert lb.clients == ("203.0.113.0/24",)

    capacity = env.capacity
    assert (capacity.instance_type, capacity.min, capacity.desired, capacity.max) == ("m7g.xlarge", 3, 3, 12)
    gateway, data_service = env.service("gateway"), env.service("data-service")
    assert (gateway.cpu, gateway.memory, gateway.scaling) == (1024, 2048, (3, 12))
    assert gateway.strategy == "blue/green, bake 10 min"
    assert (data_service.desired, data_service.scaling, data_service.strategy) == (2, None, "rolling")
    assert env.service("redis") is None

    cache = env.cache
    assert (cache.kind, cache.node_type, cache.nodes, cache.port) == ("created", "cache.r7g.large", 3, 6380)
    assert env.control_plane_endpoint and env.aws_endpoints == ()
    assert env.endpoint_service.private_dns == "gateway.example.com"
    assert {"portkey-gateway/prod/docker-credentials", "portkey-gateway/prod/clientauth-organizations"} <= \
        {s.name for s in env.secrets if s.created}  # from the secrets stack
    assert "smoke-test" in env.functions
    assert {"gateway-unhealthy-targets", "gateway-target-5xx"} <= set(env.operations.alarms)


def test_production_config_edges():
    env = model("config-prod")
    assert env.edge("clients", "lb").label == "HTTPS 443"
    assert env.edge("lb", "gateway").label == "8787"
    assert env.edge("gateway", "data-service").label == "8081"
    assert env.edge("gateway", "cache").label == env.edge("data-service", "cache").label == "6380"
    assert env.edge("gateway", "cp-endpoint").label == "443"
    assert env.edge("cp-endpoint", "portkey") and env.edge("portkey", "endpoint-service")
    assert env.edge("cluster", "nat") and env.edge("nat", "internet")
    assert env.edge("internet", "portkey") is None  # the control plane is reached over PrivateLink


def test_minimal_dev_model():
    env = model("minimal-dev")
    assert env.network.zones == ("us-east-1a", "us-east-1b") and env.network.nat_zones == ("us-east-1a",)
    lb = env.load_balancer
    assert (lb.kind, lb.internet_facing, lb.waf) == ("network", False, False)
    assert lb.listeners == (Listener(80, "TCP", "production"),)
    assert [s.name for s in env.services] == ["gateway", "redis"]
    assert env.service("gateway").count == "1 task"
    assert (env.cache.kind, env.cache.service, env.cache.port) == ("service", "redis", 6379)
    assert env.edge("gateway", "cache").label == "6379"
    assert env.edge("internet", "portkey")
    assert not (env.control_plane_endpoint or env.endpoint_service or env.aws_endpoints or env.access_logs_bucket)
    assert all(s.scaling is None for s in env.services)


def test_existing_vpc_subnets_come_from_their_ids():
    network = model("existing-vpc").network
    assert not network.created and network.name == "vpc-0123456789abcdef0"
    assert [s.ref for s in network.subnets if not s.public] == ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]
    assert [s.ref for s in network.subnets if s.public] == ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"]
    assert network.nat_zones == () and len(network.zones) == 2
    assert model("existing-vpc").edge("cluster", "internet")  # egress through the VPC's own routes


def test_endpoints_and_region_outside_us_east_1():
    env = model("private-link-nlb")
    assert env.region == "eu-west-1"
    assert {"ecs", "logs", "secretsmanager", "bedrock-runtime", "s3 (gateway)"} <= set(env.aws_endpoints)
    assert env.edge("cluster", "aws-endpoints").label == "443"  # admitted from the VPC's CIDR
    assert env.endpoint_service.via == "the gateway's NLB"


def test_existing_cluster_and_existing_cache():
    assert model("existing-cluster").capacity.provider == "shared-capacity"
    cache = model("elasticache-existing").cache
    assert (cache.kind, cache.endpoint, cache.port, cache.tls) == \
        ("existing", "master.portkey.abc123.use1.cache.amazonaws.com", 6380, True)


def test_render_is_deterministic():
    env = model("config-prod")
    first, second = render(env), render(env)
    assert first.size[0] == WIDTH and 900 < first.size[1] < 2200
    assert first.tobytes() == second.tobytes()


def test_cli_writes_the_png(tmp_path):
    output = tmp_path / "picture.png"
    subprocess.run([sys.executable, "-m", "portkey_gateway.diagram", str(synthesize("minimal-dev")[1].directory),
                    "-o", str(output)], cwd=ROOT, check=True, capture_output=True)
    with Image.open(output) as image:
        assert image.format == "PNG" and image.size[0] == WIDTH


def test_readme_picture_is_current():
    fresh = render(model("production"))
    with Image.open(PICTURE) as committed:
        current = committed.size == fresh.size and committed.convert("RGB").tobytes() == fresh.tobytes()
    assert current, f"{PICTURE.relative_to(ROOT)} is out of date: regenerate it with `{REGENERATE}`"
