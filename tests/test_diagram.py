"""The architecture picture: its model read from real synthesized assemblies, its layout, and the PNG.

The model tests assert facts of the templates (what the environment is); the layout tests that every edge of every
configuration is drawn to its target, without looking at pixels; the rendering tests check the PNG's size, the CLI,
and that the committed picture on the documentation's "What gets built" page (docs/architecture.md) is current.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import PIL
import pytest
from PIL import Image

from portkey_gateway.diagram import WIDTH, Layout, render
from portkey_gateway.environment_model import Listener, read_assembly
from tests.conftest import CONFIGS, ROOT, synthesize

PICTURE = ROOT / "docs" / "architecture-production.png"
PAGE = ROOT / "docs" / "architecture.md"  # the page that explains the picture
REGENERATE = "make diagram CONFIG=examples/production.yaml"
# The picture's pixels depend on Pillow's drawing and bundled font: compared only with the version pinned here.
PINNED_PILLOW = next(line.partition("==")[2] for line in (ROOT / "requirements-dev.txt").read_text().splitlines()
                     if line.startswith("Pillow=="))


def model(name: str):
    return read_assembly(synthesize(name)[1].directory)


def on_edge(point: tuple[int, int], rect: tuple[int, int, int, int]) -> bool:
    """Whether `point` is on the outline of `rect`: where an arrow leaves or reaches a box."""
    (x, y), (x0, y0, x1, y1) = point, rect
    return x0 <= x <= x1 and y0 <= y <= y1 and (x in (x0, x1) or y in (y0, y1))


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "portkey_gateway.diagram", *args], cwd=ROOT, capture_output=True,
                          text=True)


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
    assert (lb.kind, lb.internet_facing, lb.waf) == ("application", True, True)
    assert lb.access_logs == "portkey-gateway-prod access logs (created here)"
    assert Listener(443, "HTTPS", "production") in lb.listeners
    assert Listener(8443, "HTTPS", "test") in lb.listeners  # blue/green's test listener
    assert lb.clients == ("203.0.113.0/24",)

    capacity = env.capacity
    assert (capacity.instance_type, capacity.min, capacity.desired, capacity.max) == ("m7g.xlarge", 3, 3, 12)
    gateway, data_service = env.service("gateway"), env.service("data-service")
    # The task's memory holds the LLM-metrics collector's 256 MiB beside the gateway's 2048.
    assert (gateway.cpu, gateway.memory, gateway.scaling) == (1024, 2048 + 256, (3, 12))
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
    assert env.operations.dashboards == ("portkey-gateway-prod-us-east-1",)


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
    assert env.edge("endpoint-service", "lb").label == "443"  # the endpoint service's own NLB in front of the ALB
    assert env.edge("function:smoke-test", "lb").label == "8443"  # blue/green's test listener


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
    assert not (env.control_plane_endpoint or env.endpoint_service or env.aws_endpoints or lb.access_logs)
    assert all(s.scaling is None for s in env.services)
    # Referenced by complete ARNs (…/clientauth-organizations-GhIjKl): named without Secrets Manager's random suffix.
    assert {s.name for s in env.secrets if not s.created} == {"portkey-gateway/dev/docker-credentials",
                                                               "portkey-gateway/dev/clientauth-organizations"}


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


# ---------------------------------------------------------------------------------------------------- layout


@pytest.mark.parametrize("name", CONFIGS)
def test_every_edge_is_routed_to_its_target_with_its_label(name):
    env = model(name)
    layout = Layout(env)
    routes = layout.routes()
    assert list(routes) == list(env.edges)
    for edge, route in routes.items():
        targets = [rect for node, rect in layout.rects.items()  # "nat" is each AZ's "nat:<zone>"
                   if node == edge.target or node.startswith(f"{edge.target}:")]
        assert route.arrows and all(len(points) >= 2 for points in route.arrows), edge
        assert any(on_edge(points[-1], rect) for points in route.arrows for rect in targets), edge
        assert edge.label in route.label[1], edge
        assert all(0 <= x <= WIDTH and 0 <= y <= layout.height for points in route.arrows for x, y in points), edge


def test_tasks_reach_the_control_plane_endpoint_from_their_own_service():
    env = model("config-prod")
    layout = Layout(env)
    routes = layout.routes()
    for service in ("gateway", "data-service"):
        start = routes[env.edge(service, "cp-endpoint")].arrows[0][0]
        assert on_edge(start, layout.rects[service]), service
    assert on_edge(routes[env.edge("function:smoke-test", "lb")].arrows[0][0], layout.rects["function:smoke-test"])


def test_every_service_gets_a_box_in_the_cluster():
    env = model("private-link-nlb")  # gateway, data service, and redis: the built-in cache, drawn as the cache
    assert [s.name for s in env.services] == ["gateway", "data-service", "redis"]
    layout = Layout(env)
    assert layout.services == ["gateway", "data-service"] and "redis" not in layout.rects and "cache" in layout.rects
    fourth = replace(env.service("data-service"), name="mcp-bridge")
    crowded = Layout(replace(env, services=(*env.services, fourth)))
    boxes = [crowded.rects[name] for name in ("gateway", "data-service", "mcp-bridge", "capacity")]
    assert all(left[2] < right[0] for left, right in zip(boxes, boxes[1:]))  # side by side, in that order
    assert render(replace(env, services=(*env.services, fourth))).size == (WIDTH, crowded.height)


# ---------------------------------------------------------------------------------------------------- rendering


def test_the_canvas_is_as_tall_as_the_layout():
    env = model("config-prod")
    image, layout = render(env), Layout(env)
    assert image.size == (WIDTH, layout.height) and 900 < layout.height < 2200


def test_cli_writes_the_png(tmp_path):
    output = tmp_path / "picture.png"
    run = run_cli(str(synthesize("minimal-dev")[1].directory), "-o", str(output))
    assert run.returncode == 0 and run.stdout == f"Wrote {output}\n", run.stderr
    with Image.open(output) as image:
        assert image.format == "PNG" and image.size[0] == WIDTH


def test_cli_without_an_assembly_is_one_line(tmp_path):
    run = run_cli(str(tmp_path / "cdk.out"), "-o", str(tmp_path / "picture.png"))
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.splitlines() == [f"diagram: no {tmp_path / 'cdk.out'}: synthesize first (make synth)"]
    assert not (tmp_path / "picture.png").exists()


def test_cli_without_an_ecs_stack_is_one_line(tmp_path):
    (tmp_path / "app.template.json").write_text(json.dumps({"Resources": {"Key": {"Type": "AWS::KMS::Key"}}}))
    (tmp_path / "manifest.json").write_text(json.dumps({"artifacts": {"app": {
        "type": "aws:cloudformation:stack", "environment": "aws://unknown-account/unknown-region",
        "properties": {"templateFile": "app.template.json"}}}}))
    run = run_cli(str(tmp_path), "-o", str(tmp_path / "picture.png"))
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.splitlines() == [f"diagram: no stack with ECS services in {tmp_path}: is it this project's "
                                       "assembly?"]


def test_architecture_page_shows_the_picture():
    assert f"]({PICTURE.name})" in PAGE.read_text(), f"{PAGE.relative_to(ROOT)} does not show {PICTURE.name}"


@pytest.mark.skipif(PIL.__version__ != PINNED_PILLOW, reason=f"Pillow {PIL.__version__} is not the pinned "
                    f"{PINNED_PILLOW} (requirements-dev.txt): its pixels may differ")
def test_architecture_page_picture_is_current(tmp_path):
    fresh = render(model("production"))
    with Image.open(PICTURE) as committed:
        current = committed.size == fresh.size and committed.convert("RGB").tobytes() == fresh.tobytes()
    if not current:
        fresh.save(tmp_path / PICTURE.name)
    assert current, (f"{PICTURE.relative_to(ROOT)} is out of date (the fresh render is {tmp_path / PICTURE.name}): "
                     f"regenerate it with `{REGENERATE}`")
