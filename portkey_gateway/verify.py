"""Is a deployed environment working? Read-only checks after a deploy, one line each, with a verdict.

In order: the stacks' status, the ECS services (tasks running as desired, no deployment failed or under way), the
target groups (a healthy target behind every route, none unhealthy), the stack's alarms (none in ALARM), and each
route's health path through the load balancer from this machine. Reads the environment's config for the names, asks
AWS with read-only calls (`REQUIRED_ACTIONS`), changes nothing and prints no secret. Needs boto3, never the CDK.

    python -m portkey_gateway.verify [--env NAME | --config PATH] [--role-arn ARN] [--no-http] [--timeout SECONDS]

Exit status: 0 when nothing failed (warnings allowed), 1 when a check failed, 2 when the checks could not run (an
unknown environment or invalid config, no credentials, an AWS call refused).
"""

from __future__ import annotations

import argparse
import functools
import http.client
import ssl
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, fields
from typing import Any, Callable, Iterable, Iterator, Optional
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from .loader import ConfigError, load_config, resolve_config_path
from .settings import Settings
from .specs import GATEWAY_HEALTH_PATH, ingress_routes

# Every call the checks make, as IAM actions: the caller (or the assumed role) needs them, and nothing more.
REQUIRED_ACTIONS = (
    "cloudformation:DescribeStacks", "cloudformation:ListStackResources", "ecs:DescribeServices",
    "ecs:ListServiceDeployments", "elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeListeners", "cloudwatch:DescribeAlarms", "cloudwatch:ListMetrics",
)
ASSUME_ROLE_ACTIONS = ("sts:AssumeRole",)  # the caller's, with --role-arn
ROLE_SESSION_NAME = "portkey-gateway-verify"

OK, WARN, FAIL, SKIP = "OK", "WARN", "FAIL", "SKIP"
HTTP_PORT, HTTPS_PORT = 80, 443  # the production listener's, as components/ingress.py opens it
DEFAULT_PORTS = {"http": HTTP_PORT, "https": HTTPS_PORT}
ECS_SERVICE, ALARM_TYPES = "AWS::ECS::Service", ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm")
DESCRIBE_SERVICES_BATCH, DESCRIBE_ALARMS_BATCH = 10, 100  # the APIs' limits
# Service deployments (blue/green, canary, linear, rolling) that are not over, as ListServiceDeployments filters them.
UNFINISHED_DEPLOYMENTS = {
    "PENDING": "a deployment is pending", "IN_PROGRESS": "deployment in progress",
    "ROLLBACK_REQUESTED": "a deployment is rolling back", "ROLLBACK_IN_PROGRESS": "a deployment is rolling back",
    "STOP_REQUESTED": "a deployment is being stopped",
}
LIVE_TARGET_STATES = {"healthy"}
FAILED_TARGET_STATES = {"unhealthy", "unhealthy.draining"}
UNREACHABLE = ("not reachable from this machine ({}; an internal load balancer, or allowed_lb_cidrs does not include "
               "this address): skipped")


# ---------------------------------------------------------------------------------------------------- AWS clients

@dataclass(frozen=True)
class Clients:
    """The read-only clients (named as boto3 names the services), all in the environment's region and with one set
    of credentials."""

    cloudformation: Any
    ecs: Any
    elbv2: Any
    cloudwatch: Any


def connect(region: str, role_arn: Optional[str] = None, session=None) -> Clients:
    """Clients from `session` (default: boto3's credential chain); with `role_arn`, with that role's temporary
    credentials, e.g. the target account's CDK lookup role (ReadOnlyAccess), as the pipeline runs it."""
    session = session or boto3.Session()
    credentials = {}
    if role_arn:
        sts = session.client("sts", region_name=region)
        answer = sts.assume_role(RoleArn=role_arn, RoleSessionName=ROLE_SESSION_NAME)["Credentials"]
        credentials = {"aws_access_key_id": answer["AccessKeyId"], "aws_secret_access_key": answer["SecretAccessKey"],
                       "aws_session_token": answer["SessionToken"]}
    return Clients(**{service.name: session.client(service.name, region_name=region, **credentials)
                      for service in fields(Clients)})


def aws_problem(error: Exception) -> str:
    """One line for an error that stops the checks; the caller needs REQUIRED_ACTIONS."""
    if isinstance(error, NoCredentialsError):
        return ("no AWS credentials: set AWS_PROFILE (or run `aws sso login`, or export AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY), then run again")
    if not isinstance(error, ClientError):
        return f"AWS could not be asked: {error}"
    code, message = error.response["Error"].get("Code", "Error"), error.response["Error"].get("Message", "")
    line = f"{error.operation_name} refused: {code}: {message}"
    if error.operation_name == "AssumeRole":
        return f"{line} (the caller needs sts:AssumeRole on the role, and the role must trust the caller)"
    return f"{line} (the caller needs {', '.join(REQUIRED_ACTIONS)})" if "AccessDenied" in code else line


# ---------------------------------------------------------------------------------------------------- the report

class Report:
    """The findings, printed as they are made, so that checks which cannot finish still show what came before."""

    def __init__(self, emit: Callable[[str], None] = print):
        self.emit = emit
        self.findings: list[tuple[str, str, str]] = []  # (section, status, text)
        self.title = ""

    def section(self, title: str) -> None:
        self.title = title
        self.emit(title)

    def add(self, status: str, text: str) -> None:
        self.findings.append((self.title, status, text))
        self.emit(f"  {status:<4}  {text}")

    def item(self, subject: str, problems: list[str], warnings: list[str], fine: str) -> None:
        """One line for one thing checked: FAIL with every problem, else WARN, else OK."""
        if problems or warnings:
            self.add(FAIL if problems else WARN, f"{subject}: {'; '.join(problems + warnings)}")
        else:
            self.add(OK, f"{subject}: {fine}")

    def of(self, status: str) -> list[str]:
        return [text for _, found, text in self.findings if found == status]

    def summary(self, name: str) -> str:
        """The verdict: what failed, by section and name (the lines above say why), or that it works."""
        failed: dict[str, list[str]] = {}
        for section, status, text in self.findings:
            if status == FAIL:
                failed.setdefault(section, []).append(text.split(": ", 1)[0])
        if failed:
            where = "; ".join(f"{section} ({', '.join(subjects)})" for section, subjects in failed.items())
            return f"{_count(len(self.of(FAIL)), 'problem')}: {where}"
        warnings = len(self.of(WARN))
        return f"ok: {name} is working" + (f" ({_count(warnings, 'warning')})" if warnings else "")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# ---------------------------------------------------------------------------------------------------- 1. stacks

def describe_stack(cloudformation, name: str) -> Optional[dict]:
    """The stack, or None when there is none of that name."""
    try:
        return cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as error:
        if "does not exist" in error.response.get("Error", {}).get("Message", ""):
            return None
        raise


def stack_problem(stack: dict) -> Optional[str]:
    """None for a stack at rest after a success, else what its status means for the operator."""
    status = stack["StackStatus"]
    reason = f" ({stack['StackStatusReason']})" if stack.get("StackStatusReason") else ""
    if status in ("CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"):
        return None
    if status.endswith("_IN_PROGRESS"):
        return f"{status}: an operation is in progress; run again when it ends"
    if status in ("UPDATE_ROLLBACK_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"):
        return f"{status}: the last update rolled back{reason}; see the stack's events"
    if status == "ROLLBACK_COMPLETE":
        return f"{status}: the stack could not be created{reason}; delete it, fix the cause, deploy again"
    return f"{status}{reason}"


def check_stacks(report: Report, cloudformation, settings: Settings, make_args: str) -> Optional[dict]:
    """The gateway stack (None when it is not deployed) and, with managed_secrets, the secrets stack."""
    report.section("Stacks")
    gateway = describe_stack(cloudformation, settings.name_prefix)
    _stack_line(report, settings.name_prefix, gateway, f"deploy it: make deploy {make_args}")
    if settings.managed_secrets:
        name = f"{settings.name_prefix}-secrets"
        _stack_line(report, name, describe_stack(cloudformation, name),
                    f"managed_secrets needs it: make secrets {make_args}, put the values in, then deploy")
    return gateway


def _stack_line(report: Report, name: str, stack: Optional[dict], fix: str) -> None:
    if stack is None:
        report.add(FAIL, f"{name}: not deployed; {fix}")
    else:
        problem = stack_problem(stack)
        report.add(FAIL if problem else OK, f"{name}: {problem or stack['StackStatus']}")


def stack_resources(cloudformation, name: str) -> dict[str, list[str]]:
    """Resource type -> physical ids of the stack's resources that exist."""
    found: dict[str, list[str]] = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=name):
        for resource in page["StackResourceSummaries"]:
            if resource.get("PhysicalResourceId") and resource["ResourceStatus"] != "DELETE_COMPLETE":
                found.setdefault(resource["ResourceType"], []).append(resource["PhysicalResourceId"])
    return found


# ---------------------------------------------------------------------------------------------------- 2. services

def cluster_of(service_arn: str) -> str:
    """`arn:aws:ecs:<region>:<account>:service/<cluster>/<service>` -> cluster."""
    return service_arn.split("/")[-2]


def check_services(report: Report, ecs, service_arns: list[str]) -> list[dict]:
    """Every service steady: active, running what it should, no deployment failed or unfinished. Returns them."""
    report.section("ECS services")
    if not service_arns:
        report.add(FAIL, "the stack has no ECS service")
        return []
    services = []
    for cluster in dict.fromkeys(map(cluster_of, service_arns)):
        arns = [arn for arn in service_arns if cluster_of(arn) == cluster]
        for batch in _batches(arns, DESCRIBE_SERVICES_BATCH):
            answer = ecs.describe_services(cluster=cluster, services=batch)
            for failure in answer.get("failures", []):
                report.add(FAIL, f"{failure.get('arn', 'a service')}: {failure.get('reason', 'not found')}")
            services += answer["services"]
    for service in services:
        name, running, desired = service["serviceName"], service["runningCount"], service["desiredCount"]
        unfinished = ecs.list_service_deployments(cluster=cluster_of(service["serviceArn"]), service=name,
                                                  status=list(UNFINISHED_DEPLOYMENTS))["serviceDeployments"]
        report.item(name, service_problems(service, unfinished), [], f"{running}/{desired} running, steady")
    return services


def service_problems(service: dict, unfinished: list[dict]) -> list[str]:
    """What keeps one service from being steady, from DescribeServices and its unfinished service deployments."""
    problems = []
    if service["status"] != "ACTIVE":
        problems.append(f"status {service['status']}")
    if service["runningCount"] != service["desiredCount"]:
        problems.append(f"{service['runningCount']}/{service['desiredCount']} running")
    deployments = service.get("deployments", [])
    problems += [f"a deployment failed: {d.get('rolloutStateReason') or 'no reason given'}"
                 for d in deployments if d.get("rolloutState") == "FAILED"]
    primary_rolling_out = any(d["status"] == "PRIMARY" and d.get("rolloutState") == "IN_PROGRESS" for d in deployments)
    if len(deployments) > 1 or primary_rolling_out:
        problems.append("deployment in progress")
    for deployment in unfinished:
        reason = deployment.get("statusReason")
        problems.append(UNFINISHED_DEPLOYMENTS[deployment["status"]] + (f" ({reason})" if reason else ""))
    return list(dict.fromkeys(problems))


# ---------------------------------------------------------------------------------------------------- 3. targets

def group_name(target_group_arn: str) -> str:
    """`arn:...:targetgroup/<name>/<id>` -> name."""
    return target_group_arn.split("/")[-2]


def check_target_groups(report: Report, elbv2, services: list[dict], settings: Settings) -> None:
    """Per route (a target group, and for blue/green, canary and linear its alternate): a healthy target, none
    unhealthy, none still starting or leaving in the group that carries the traffic."""
    report.section("Target groups")
    routes = {route.port: f"{route.name} route" for route in ingress_routes(settings)}
    attached = [(service, lb) for service in services for lb in service.get("loadBalancers", [])
                if lb.get("targetGroupArn")]
    if not attached:
        report.add(SKIP, "no service is behind a load balancer" + ("" if settings.create_lb else " (create_lb: false)"))
    for service, lb in attached:
        advanced = lb.get("advancedConfiguration") or {}
        traffic = production_weights(elbv2, advanced["productionListenerRule"]) \
            if advanced.get("productionListenerRule") else None
        health = {arn: elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
                  for arn in (lb["targetGroupArn"], advanced.get("alternateTargetGroupArn")) if arn}
        port = lb.get("containerPort")
        report.item(routes.get(port, f"{service['serviceName']}:{port}"), *route_findings(health, traffic))


def production_weights(elbv2, pointer: str) -> dict[str, int]:
    """Target group -> share of production traffic, as the rule (ALB) or listener (NLB) ECS shifts forwards it now."""
    if ":listener-rule/" in pointer:
        actions = elbv2.describe_rules(RuleArns=[pointer])["Rules"][0]["Actions"]
    else:
        actions = elbv2.describe_listeners(ListenerArns=[pointer])["Listeners"][0]["DefaultActions"]
    weights: dict[str, int] = {}
    for action in (a for a in actions if a.get("Type") == "forward"):
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or [{"TargetGroupArn": action["TargetGroupArn"]}]
        for group in groups:
            weights[group["TargetGroupArn"]] = weights.get(group["TargetGroupArn"], 0) + group.get("Weight", 1)
    return weights


def route_findings(health: dict[str, list[dict]], traffic: Optional[dict[str, int]] = None) -> tuple[list[str], list[str], str]:
    """(problems, warnings, what is fine) of one route, from the target health of its groups (primary first) and,
    with a traffic-shifting strategy, the production weights: a group that gets traffic must have healthy targets
    (after a stack update reset the rule to an empty group, aws-cdk 36649, nothing else would show it)."""
    def state(target):
        return target["TargetHealth"]["State"]

    def named(target):
        why = target["TargetHealth"].get("Description") or target["TargetHealth"].get("Reason") or "no reason given"
        return f"{target['Target']['Id']}:{target['Target'].get('Port', '')} {state(target)} ({why})"

    healthy = {arn: sum(state(t) in LIVE_TARGET_STATES for t in targets) for arn, targets in health.items()}
    live = max(health, key=lambda arn: (healthy[arn], bool(health[arn])))  # the primary when neither has targets
    if traffic:
        live = max(health, key=lambda arn: traffic.get(arn, 0))
    problems = [f"{named(t)} in {group_name(arn)}" for arn, targets in health.items() for t in targets
                if state(t) in FAILED_TARGET_STATES]
    if not sum(healthy.values()):
        problems.insert(0, "no healthy target: traffic to this route fails")
    elif traffic:
        problems[:0] = [f"production traffic (weight {share}) goes to {group_name(arn)}, which has no healthy target: "
                        "run one more deployment (aws ecs update-service --force-new-deployment) to move the tasks there"
                        for arn, share in traffic.items() if share and arn in health and not healthy[arn]]
    warnings = [f"{named(t)} in {group_name(live)}" for t in health[live]
                if state(t) not in LIVE_TARGET_STATES | FAILED_TARGET_STATES]
    fine = f"{healthy[live]} healthy in {group_name(live)}"
    idle = [group_name(arn) for arn in health if arn != live and not health[arn]]
    if idle:
        fine += f"; {idle[0]} is empty, as it is between deployments"
    return problems, warnings, fine


# ---------------------------------------------------------------------------------------------------- 4. alarms

def check_alarms(report: Report, cloudwatch, names: list[str]) -> None:
    """None of the stack's alarms in ALARM. Missing data never fires them, so INSUFFICIENT_DATA is fine ("no data")."""
    report.section("Alarms")
    if not names:
        report.add(SKIP, "the stack has no alarms (alarms: false)")
        return
    alarms = list(_describe_alarms(cloudwatch, names))
    for alarm in alarms:
        if alarm["StateValue"] == "ALARM":
            report.add(FAIL, f"{alarm['AlarmName']} in ALARM: {alarm.get('StateReason', '')}")
    missing = sorted(set(names) - {alarm["AlarmName"] for alarm in alarms})
    if missing:
        report.add(WARN, f"not found (deleted outside CloudFormation?): {', '.join(missing)}")
    quiet = [alarm["AlarmName"] for alarm in alarms if alarm["StateValue"] == "INSUFFICIENT_DATA"]
    calm = sum(alarm["StateValue"] != "ALARM" for alarm in alarms)
    if calm:
        report.add(OK, f"{_count(calm, 'alarm')} not firing" + (f"; no data yet: {', '.join(quiet)}" if quiet else ""))


def _describe_alarms(cloudwatch, names: list[str]) -> Iterable[dict]:
    paginator = cloudwatch.get_paginator("describe_alarms")
    for batch in _batches(names, DESCRIBE_ALARMS_BATCH):
        for page in paginator.paginate(AlarmNames=batch, AlarmTypes=["CompositeAlarm", "MetricAlarm"]):
            yield from page.get("MetricAlarms", []) + page.get("CompositeAlarms", [])


def check_llm_metrics(report: Report, cloudwatch, settings: Settings) -> None:
    """The collector beside the gateway publishes: its first metric, request_count, exists in the namespace. It reads
    its pipeline from an environment variable AWS's pages do not document yet (llm_metrics.py), so this is where a
    deployment shows that it works."""
    report.section("LLM metrics")
    if not settings.collects_llm_metrics:
        report.add(SKIP, "not collected (monitoring.llm_traffic.enabled, or the gateway's metrics are off)")
        return
    namespace = settings.llm_metrics_namespace
    series = [metric for page in cloudwatch.get_paginator("list_metrics").paginate(
        Namespace=namespace, MetricName="request_count") for metric in page.get("Metrics", [])]
    if series:
        report.add(OK, f"request_count in {namespace}: {len(series)} series")
    else:
        report.add(WARN, f"no request_count in {namespace} yet: after requests through the gateway, read the "
                         "collector's log stream (gateway-collector/...) in the gateway's log group")


# ---------------------------------------------------------------------------------------------------- 5. HTTP

@dataclass(frozen=True)
class Probe:
    """One GET: sent to `address`, with `host` as the Host header (routing by host); over TLS the certificate is
    checked for `server_name`, or only its chain when there is no name (the balancer's own is not on it)."""

    label: str
    scheme: str
    address: str
    port: int
    path: str
    host: Optional[str] = None
    server_name: Optional[str] = None

    @property
    def url(self) -> str:
        port = "" if DEFAULT_PORTS[self.scheme] == self.port else f":{self.port}"
        return f"{self.scheme}://{self.address}{port}{self.path}"

    def __str__(self) -> str:
        return f"GET {self.url}" + (f" (Host: {self.host})" if self.host else "")


def http_probes(settings: Settings, outputs: dict[str, str]) -> list[Probe]:
    """Each route's health path through the production listener, built as the smoke-test hook builds its checks for
    the test listener; then each public URL output (`GatewayUrl`, ...), which also proves its DNS record."""
    scheme = "https" if settings.terminates_tls else "http"
    domain_host = next(iter(settings.domain_hosts.values()), None)
    probes = [Probe(f"{route.name} route", scheme, outputs["LoadBalancerDnsName"], DEFAULT_PORTS[scheme],
                    f"{route.path_prefix or ''}{GATEWAY_HEALTH_PATH}", route.host, route.host or domain_host)
              for route in ingress_routes(settings)]
    for key, url in sorted(outputs.items()):
        if key.endswith("Url"):
            parts = urlsplit(url)
            probes.append(Probe(key, parts.scheme, parts.hostname, parts.port or DEFAULT_PORTS[parts.scheme],
                                f"{parts.path.rstrip('/')}{GATEWAY_HEALTH_PATH}", server_name=parts.hostname))
    return probes


def http_status(probe: Probe, timeout: float) -> int:
    """The status the probe is answered with, directly (no proxy, no redirect followed). Raises OSError when there is
    no answer, ssl.SSLCertVerificationError (inside a URLError) for a certificate that does not fit."""
    request = urllib.request.Request(probe.url, headers={"Host": probe.host} if probe.host else {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect, _NamedTls(probe.server_name))
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """The health path answers by itself: a redirect is a finding, not a hop."""

    def redirect_request(self, *args, **kwargs):
        return None


class _NamedTls(urllib.request.HTTPSHandler):
    """HTTPS to the balancer's address with the certificate checked for `server_name`, as the smoke-test hook does."""

    def __init__(self, server_name: Optional[str]):
        context = ssl.create_default_context()
        context.check_hostname = bool(server_name)
        super().__init__(context=context)
        self.server_name = server_name

    def https_open(self, req):
        connection = functools.partial(_NamedTlsConnection, server_name=self.server_name)
        return self.do_open(connection, req, context=self._context)


class _NamedTlsConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, *, server_name: Optional[str], **kwargs):
        super().__init__(host, **kwargs)
        self._server_name = server_name

    def connect(self):
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._server_name or self.host)


def check_http(report: Report, settings: Settings, outputs: dict[str, str], enabled: bool, timeout: float,
               get: Callable[[Probe, float], int]) -> None:
    """GET each route's health path from this machine: 200 is OK, another answer fails, no answer is a warning."""
    report.section("Health through the load balancer")
    if not enabled:
        report.add(SKIP, "not asked (--no-http)")
    elif not settings.create_lb:
        report.add(SKIP, "no load balancer (create_lb: false)")
    elif "LoadBalancerDnsName" not in outputs:
        report.add(WARN, "the stack has no LoadBalancerDnsName output: deploy the current config")
    else:
        for probe in http_probes(settings, outputs):
            report.add(*probe_finding(probe, timeout, get))


def probe_finding(probe: Probe, timeout: float, get: Callable[[Probe, float], int]) -> tuple[str, str]:
    """A certificate that does not fit fails like a wrong answer; only no answer at all may be this machine's fault."""
    try:
        status = get(probe, timeout)
    except (OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, ssl.SSLCertVerificationError):
            return FAIL, f"{probe.label}: {probe}: certificate refused for {probe.server_name}: {reason.verify_message}"
        return WARN, f"{probe.label}: {probe}: {UNREACHABLE.format(reason)}"
    return (OK if status == 200 else FAIL), f"{probe.label}: {probe} answered {status}"


# ---------------------------------------------------------------------------------------------------- all of it

def verify(settings: Settings, clients: Clients, report: Report, *, make_args: str, http_checks: bool = True,
           timeout: float = 5.0, get: Callable[[Probe, float], int] = http_status) -> None:
    """Every check, in order; an environment that is not deployed stops after the stacks."""
    stack = check_stacks(report, clients.cloudformation, settings, make_args)
    if stack is None:
        return
    resources = stack_resources(clients.cloudformation, settings.name_prefix)
    services = check_services(report, clients.ecs, resources.get(ECS_SERVICE, []))
    check_target_groups(report, clients.elbv2, services, settings)
    check_alarms(report, clients.cloudwatch, [name for kind in ALARM_TYPES for name in resources.get(kind, [])])
    check_llm_metrics(report, clients.cloudwatch, settings)
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
    check_http(report, settings, outputs, http_checks, timeout, get)


def _arguments(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m portkey_gateway.verify", description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--env", help="the environment: config/NAME.yaml (default: dev)")
    target.add_argument("--config", help="any config file")
    parser.add_argument("--role-arn", help="assume this role first (e.g. another account's cdk-hnb659fds-lookup-role-...)")
    parser.add_argument("--no-http", dest="http_checks", action="store_false",
                        help="skip the requests through the load balancer")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per HTTP request (default: %(default)g)")
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None, session=None, get: Callable[[Probe, float], int] = http_status) -> int:
    """`session` (a boto3 Session) and `get` are replaceable for tests."""
    args = _arguments(argv)
    try:
        settings = load_config(resolve_config_path(args.env, args.config))
    except ConfigError as error:
        print("\n".join(f"error: {line}" for line in error.lines), file=sys.stderr)
        return 2
    report = Report()
    print(f"Verifying {settings.name_prefix} in {settings.aws_region}" + (f" as {args.role_arn}" if args.role_arn else ""))
    make_args = f"CONFIG={args.config}" if args.config else f"ENV={args.env or 'dev'}"  # for the fixes it suggests
    try:
        clients = connect(settings.aws_region, args.role_arn, session)
        verify(settings, clients, report, make_args=make_args, http_checks=args.http_checks, timeout=args.timeout, get=get)
    except (BotoCoreError, ClientError) as error:
        print(f"error: {aws_problem(error)}", file=sys.stderr)
        return 2
    print(report.summary(settings.name_prefix))
    return 1 if report.of(FAIL) else 0


if __name__ == "__main__":
    sys.exit(main())
