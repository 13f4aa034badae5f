"""make verify: every check against real boto3 clients whose answers come from botocore's Stubber (requests and
answers validated against the service models), the health requests through real local sockets; no AWS, no network.

A `World` is what AWS would say about a deployed environment; each test breaks one thing in a healthy one."""

from __future__ import annotations

import functools
import http.server
import socket
import ssl
import subprocess
import sys
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Optional

import boto3
import pytest
import trustme
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from portkey_gateway import settings_from_dict, verify
from portkey_gateway.loader import load_config
from portkey_gateway.settings import Settings
from portkey_gateway.specs import ingress_routes

from .conftest import ROOT, ZONE, variant

PROD = load_config(ROOT / "config" / "prod.yaml")  # managed secrets, blue/green, an internet-facing ALB, TLS, host routing
DEV = load_config(ROOT / "config" / "dev.yaml")  # an internal NLB without TLS, rolling, the built-in Redis
NLB_BLUE_GREEN_FILE = ROOT / "tests" / "fixtures" / "verify" / "nlb-blue-green.yaml"
NLB_BLUE_GREEN = load_config(NLB_BLUE_GREEN_FILE)
REGION = "us-east-1"
WHEN = datetime(2025, 6, 1, tzinfo=timezone.utc)
LB_DNS = "portkey-gateway-1234567890.us-east-1.elb.amazonaws.com"
ROLE = "arn:aws:iam::210987654321:role/cdk-hnb659fds-lookup-role-210987654321-us-east-1"
UNFINISHED = ["PENDING", "IN_PROGRESS", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "STOP_REQUESTED"]
ALARM_TYPES = ["CompositeAlarm", "MetricAlarm"]
IAM_PREFIX = {"cloudformation": "cloudformation", "ecs": "ecs", "elbv2": "elasticloadbalancing",
              "cloudwatch": "cloudwatch", "sts": "sts"}
FAKE_CREDENTIALS = boto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="fake")  # models load once
ASSUMED = {"aws_access_key_id": "ASIAASSUMEDEXAMPLE", "aws_secret_access_key": "assumed-secret",
           "aws_session_token": "assumed-token"}


# ---------------------------------------------------------------------------------------------------- a fake AWS

@dataclass(frozen=True)
class Refusal:
    code: str
    message: str


class FakeAws:
    """A boto3 Session stand-in: each client is a real one (fake credentials) whose calls a Stubber answers from
    `calls` (service, operation, expected parameters, answer or Refusal), in order per service. Every call is checked
    to be one of verify's declared IAM actions, and recorded."""

    def __init__(self, calls: list[tuple]):
        self.calls = calls
        self.stubbers: list[Stubber] = []
        self.client_args: dict[str, dict] = {}
        self.actions: set[str] = set()

    def client(self, name: str, region_name: str, **credentials):
        self.client_args[name] = {"region_name": region_name, **credentials}
        client = FAKE_CREDENTIALS.client(name, region_name=region_name, **credentials)
        client.meta.events.register("before-parameter-build.*.*", functools.partial(self._record, IAM_PREFIX[name]))
        stubber = Stubber(client)
        for service, operation, params, answer in self.calls:
            if service != name:
                continue
            if isinstance(answer, Refusal):
                stubber.add_client_error(operation, answer.code, answer.message, expected_params=params)
            else:
                stubber.add_response(operation, answer, params)
        stubber.activate()
        self.stubbers.append(stubber)
        return client

    def _record(self, prefix: str, model, **kwargs):
        action = f"{prefix}:{model.name}"
        assert action in verify.REQUIRED_ACTIONS + verify.ASSUME_ROLE_ACTIONS, f"{action} is not declared"
        self.actions.add(action)

    def assert_all_asked(self):
        for stubber in self.stubbers:
            stubber.assert_no_pending_responses()


def service_arn(settings: Settings, name: str) -> str:
    return f"arn:aws:ecs:{REGION}:123456789012:service/{settings.name_prefix}-cluster/{name}"


def group_arn(name: str) -> str:
    return f"arn:aws:elasticloadbalancing:{REGION}:123456789012:targetgroup/{name}/0123456789abcdef"


def target(address: str, state: str = "healthy", reason: Optional[str] = None, description: Optional[str] = None) -> dict:
    health = {"State": state, **({"Reason": reason} if reason else {}),
              **({"Description": description} if description else {})}
    return {"Target": {"Id": address, "Port": 8787}, "HealthCheckPort": "8787", "TargetHealth": health}


def service(settings: Settings, name: str, count: int, load_balancers: list[dict] = ()) -> dict:
    return {"serviceArn": service_arn(settings, name), "serviceName": name, "status": "ACTIVE", "desiredCount": count,
            "runningCount": count, "pendingCount": 0, "loadBalancers": list(load_balancers),
            "deployments": [{"id": "ecs-svc/1", "status": "PRIMARY", "rolloutState": "COMPLETED",
                             "desiredCount": count, "runningCount": count}]}


@dataclass
class World:
    """What AWS says about one environment. `stacks`: name -> status, None when not deployed."""

    settings: Settings
    stacks: dict[str, Optional[str]]
    services: list[dict]
    health: dict[str, list[dict]]
    alarms: dict[str, str]
    outputs: dict[str, str]
    unfinished: dict[str, list[dict]] = field(default_factory=dict)
    weights: dict[str, dict[str, int]] = field(default_factory=dict)  # production rule -> group -> weight
    llm_series: int = 3  # series of request_count the collector has published

    def service(self, name: str) -> dict:
        return next(s for s in self.services if s["serviceName"] == name)

    def calls(self) -> list[tuple]:
        """Every call verify makes, in its order, with the parameters it must send."""
        name = self.settings.name_prefix
        out = [_describe_stack(name, self.stacks[name], self.outputs)]
        if self.settings.managed_secrets:
            out.append(_describe_stack(f"{name}-secrets", self.stacks[f"{name}-secrets"], {}))
        if self.stacks[name] is None:
            return out
        return (out + self._resource_pages() + self._service_calls() + self._target_calls() + self._alarm_calls()
                + self._llm_calls())

    def _llm_calls(self) -> list[tuple]:
        if not self.settings.collects_llm_metrics:
            return []
        metrics = [{"Namespace": self.settings.llm_metrics_namespace, "MetricName": "request_count",
                    "Dimensions": [{"Name": "service", "Value": "gateway"},
                                   {"Name": "status_class", "Value": f"{n + 2}xx"}]} for n in range(self.llm_series)]
        return [("cloudwatch", "list_metrics", {"Namespace": self.settings.llm_metrics_namespace,
                                                "MetricName": "request_count"}, {"Metrics": metrics})]

    def _resource_pages(self) -> list[tuple]:
        """Two pages (the paginator must follow NextToken), with resources verify skips: other types, one without a
        physical id yet, one deleted."""
        resources = [_resource("AWS::EC2::VPC", "vpc-0123456789abcdef0"), _resource("AWS::Lambda::Function", None)]
        resources += [_resource("AWS::ECS::Service", s["serviceArn"]) for s in self.services]
        resources += [_resource("AWS::CloudWatch::Alarm", alarm) for alarm in self.alarms]
        resources.append({**_resource("AWS::CloudWatch::Alarm", "long-gone"), "ResourceStatus": "DELETE_COMPLETE"})
        half, name = len(resources) // 2, self.settings.name_prefix
        return [("cloudformation", "list_stack_resources", {"StackName": name},
                 {"StackResourceSummaries": resources[:half], "NextToken": "page-2"}),
                ("cloudformation", "list_stack_resources", {"StackName": name, "NextToken": "page-2"},
                 {"StackResourceSummaries": resources[half:]})]

    def _service_calls(self) -> list[tuple]:
        cluster = f"{self.settings.name_prefix}-cluster"
        arns = [s["serviceArn"] for s in self.services]
        described = ("ecs", "describe_services", {"cluster": cluster, "services": arns},
                     {"services": self.services, "failures": []})
        return [described] + [
            ("ecs", "list_service_deployments", {"cluster": cluster, "service": s["serviceName"], "status": UNFINISHED},
             {"serviceDeployments": self.unfinished.get(s["serviceName"], [])}) for s in self.services]

    def _target_calls(self) -> list[tuple]:
        calls = []
        for lb in (lb for s in self.services for lb in s["loadBalancers"]):
            advanced = lb.get("advancedConfiguration", {})
            rule = advanced.get("productionListenerRule")
            if rule and ":listener-rule/" in rule:  # an ALB rule, as ECS writes it: a weighted forward over both groups
                groups = [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in self.weights[rule].items()]
                calls.append(("elbv2", "describe_rules", {"RuleArns": [rule]}, {"Rules": [
                    {"RuleArn": rule, "Priority": "100", "IsDefault": False, "Conditions": [],
                     "Actions": [{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}]}]}))
            elif rule:  # an NLB listener: a forward to the one live group
                live = max(self.weights[rule], key=self.weights[rule].get)
                calls.append(("elbv2", "describe_listeners", {"ListenerArns": [rule]}, {"Listeners": [
                    {"ListenerArn": rule, "Port": 443, "DefaultActions": [{"Type": "forward", "TargetGroupArn": live}]}]}))
            calls += [("elbv2", "describe_target_health", {"TargetGroupArn": arn},
                       {"TargetHealthDescriptions": self.health[arn]})
                      for arn in (lb["targetGroupArn"], advanced.get("alternateTargetGroupArn")) if arn]
        return calls

    def _alarm_calls(self) -> list[tuple]:
        alarms = [{"AlarmName": alarm, "StateValue": state, "StateReason": f"{alarm} reason"}
                  for alarm, state in self.alarms.items()]
        return [("cloudwatch", "describe_alarms", {"AlarmNames": list(self.alarms), "AlarmTypes": ALARM_TYPES},
                 {"MetricAlarms": alarms})] if alarms else []


def _describe_stack(name: str, status: Optional[str], outputs: dict) -> tuple:
    if status is None:
        return ("cloudformation", "describe_stacks", {"StackName": name},
                Refusal("ValidationError", f"Stack with id {name} does not exist"))
    stack = {"StackName": name, "StackId": f"arn:aws:cloudformation:{REGION}:123456789012:stack/{name}/1",
             "CreationTime": WHEN, "StackStatus": status,
             "Outputs": [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()]}
    return ("cloudformation", "describe_stacks", {"StackName": name}, {"Stacks": [stack]})


def _resource(kind: str, physical_id: Optional[str]) -> dict:
    return {"LogicalResourceId": kind.split("::")[-1] + "1", "ResourceType": kind, "LastUpdatedTimestamp": WHEN,
            "ResourceStatus": "CREATE_COMPLETE", **({"PhysicalResourceId": physical_id} if physical_id else {})}


def healthy(settings: Settings) -> World:
    """A deployed environment at rest: the services the settings build, every task running and healthy, the
    alternate target groups of a traffic-shifting strategy empty, alarms OK but one without data."""
    prefix, count = settings.name_prefix, settings.gateway_config.desired_task_count
    shifts = settings.deployment_strategy != "ROLLING"
    balancers = [{"targetGroupArn": group_arn(f"{route.name}-blue"), "containerName": "gateway",
                  "containerPort": route.port,
                  **({"advancedConfiguration": {"alternateTargetGroupArn": group_arn(f"{route.name}-green"),
                                                "productionListenerRule": rule_arn(route.name, settings.lb_type),
                                                "roleArn": "arn:aws:iam::123456789012:role/shift"}} if shifts else {})}
                 for route in ingress_routes(settings)] if settings.create_lb else []
    services = [service(settings, "gateway", count, balancers)]
    if settings.dataservice_config.enable_dataservice:
        services.append(service(settings, "data-service", settings.dataservice_config.desired_task_count))
    if settings.redis_configuration.redis_type == "redis":
        services.append(service(settings, "redis", 1))
    health = {}
    for lb in balancers:
        health[lb["targetGroupArn"]] = [target(f"10.0.{n}.10") for n in range(count)]
        if shifts:
            health[lb["advancedConfiguration"]["alternateTargetGroupArn"]] = []
    stacks = {prefix: "UPDATE_COMPLETE", **({f"{prefix}-secrets": "CREATE_COMPLETE"} if settings.managed_secrets else {})}
    alarms = {f"{prefix}-gateway-no-healthy-targets": "OK", f"{prefix}-gateway-tasks-below-desired": "OK",
              f"{prefix}-capacity-shortfall": "INSUFFICIENT_DATA"}
    outputs = {"VpcId": "vpc-0123456789abcdef0", **({"LoadBalancerDnsName": LB_DNS} if settings.create_lb else {})}
    weights = {rule_arn(route.name, settings.lb_type): {group_arn(f"{route.name}-blue"): 100,
                                                        group_arn(f"{route.name}-green"): 0}
               for route in ingress_routes(settings)} if shifts and settings.create_lb else {}
    return World(settings, stacks, services, health, alarms, outputs, weights=weights)


def rule_arn(route: str, lb_type: str) -> str:
    """What ECS shifts: a production listener rule on an ALB, the production listener itself on an NLB."""
    if lb_type == "network":
        return f"arn:aws:elasticloadbalancing:{REGION}:123456789012:listener/net/gw/0123456789abcdef/{route}"
    return f"arn:aws:elasticloadbalancing:{REGION}:123456789012:listener-rule/app/gw/0123456789abcdef/1111111111111111/{route}"


def answering(status: int):
    """A stand-in for the HTTP request: every probe answered with `status`; the probes are recorded."""
    probes = []

    def get(probe, timeout):
        probes.append(probe)
        return status

    get.probes = probes
    return get


def run(world: World, capsys, *args, get=None, complete: bool = True) -> tuple[int, str, str]:
    """`python -m portkey_gateway.verify --env <world's env> ARGS` against the world: exit status, stdout, stderr."""
    aws = FakeAws(world.calls())
    code = verify.main(["--env", world.settings.environment, *args], session=aws, get=get or answering(200))
    if complete:
        aws.assert_all_asked()
    out, err = capsys.readouterr()
    return code, out, err


def line(out: str, status: str, fragment: str) -> str:
    """The one report line with this status that contains `fragment`."""
    (found,) = [text for text in out.splitlines() if text.strip().startswith(status) and fragment in text]
    return found


# ---------------------------------------------------------------------------------------------------- healthy

def test_a_healthy_environment_passes_every_check(capsys):
    get = answering(200)
    code, out, err = run(healthy(PROD), capsys, get=get)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "Verifying portkey-gateway-prod in us-east-1",
        "Stacks",
        "  OK    portkey-gateway-prod: UPDATE_COMPLETE",
        "  OK    portkey-gateway-prod-secrets: CREATE_COMPLETE",
        "ECS services",
        "  OK    gateway: 3/3 running, steady",
        "  OK    data-service: 2/2 running, steady",
        "Target groups",
        "  OK    gateway route: 3 healthy in gateway-blue; gateway-green is empty, as it is between deployments",
        "Alarms",
        "  OK    3 alarms not firing; no data yet: portkey-gateway-prod-capacity-shortfall",
        "LLM metrics",
        "  OK    request_count in Portkey/portkey-gateway-prod: 3 series",
        "Health through the load balancer",
        f"  OK    gateway route: GET https://{LB_DNS}/v1/health (Host: gateway.example.com) answered 200",
        "ok: portkey-gateway-prod is working",
    ]
    (probe,) = get.probes  # TLS on 443, routed by host, the certificate checked for that host
    assert (probe.scheme, probe.address, probe.port, probe.host, probe.server_name) == (
        "https", LB_DNS, 443, "gateway.example.com", "gateway.example.com")


def test_the_declared_actions_are_exactly_the_calls_made(capsys):
    """REQUIRED_ACTIONS goes into IAM policies: every call is in it (FakeAws checks each one in every test), and a
    full run with --role-arn makes each of them."""
    world = healthy(PROD)
    aws = FakeAws([_assume_role()] + world.calls())
    assert verify.main(["--env", "prod", "--role-arn", ROLE], session=aws, get=answering(200)) == 0
    aws.assert_all_asked()
    nlb = FakeAws(healthy(NLB_BLUE_GREEN).calls())  # the production listener, where an ALB has a rule
    assert verify.main(["--config", str(NLB_BLUE_GREEN_FILE)], session=nlb, get=answering(200)) == 0
    nlb.assert_all_asked()
    assert aws.actions | nlb.actions == set(verify.REQUIRED_ACTIONS + verify.ASSUME_ROLE_ACTIONS)
    assert len(verify.REQUIRED_ACTIONS) == len(set(verify.REQUIRED_ACTIONS))


def _assume_role() -> tuple:
    credentials = {"AccessKeyId": ASSUMED["aws_access_key_id"], "SecretAccessKey": ASSUMED["aws_secret_access_key"],
                   "SessionToken": ASSUMED["aws_session_token"], "Expiration": WHEN}
    return ("sts", "assume_role", {"RoleArn": ROLE, "RoleSessionName": "portkey-gateway-verify"},
            {"Credentials": credentials, "AssumedRoleUser": {"AssumedRoleId": "AROAEXAMPLE:portkey-gateway-verify",
                                                             "Arn": f"{ROLE}/portkey-gateway-verify"}})


def test_role_arn_assumes_the_role_and_every_client_uses_its_credentials(capsys):
    aws = FakeAws([_assume_role()] + healthy(PROD).calls())
    assert verify.main(["--env", "prod", "--role-arn", ROLE], session=aws, get=answering(200)) == 0
    aws.assert_all_asked()
    assert aws.client_args.pop("sts") == {"region_name": REGION}  # the caller's own credentials assume the role
    assert aws.client_args == {name: {"region_name": REGION, **ASSUMED}
                               for name in ("cloudformation", "ecs", "elbv2", "cloudwatch")}
    out = capsys.readouterr().out
    assert out.startswith(f"Verifying portkey-gateway-prod in us-east-1 as {ROLE}\n")
    assert "assumed-secret" not in out and "assumed-token" not in out


# ---------------------------------------------------------------------------------------------------- stacks

def test_a_stack_that_is_not_deployed_fails_and_stops_there(capsys):
    world = healthy(PROD)
    world.stacks["portkey-gateway-prod"] = None
    code, out, _ = run(world, capsys)  # only the two DescribeStacks: nothing else is asked
    assert code == 1
    assert "FAIL  portkey-gateway-prod: not deployed; deploy it: make deploy ENV=prod" in out
    assert "ECS services" not in out
    assert out.splitlines()[-1] == "1 problem: Stacks (portkey-gateway-prod)"


def test_an_update_that_rolled_back_fails(capsys):
    world = healthy(PROD)
    world.stacks["portkey-gateway-prod"] = "UPDATE_ROLLBACK_COMPLETE"
    code, out, _ = run(world, capsys)
    assert code == 1
    assert "FAIL  portkey-gateway-prod: UPDATE_ROLLBACK_COMPLETE: the last update rolled back" in out
    assert "OK    gateway: 3/3 running, steady" in out  # the other checks still run


def test_an_operation_in_progress_fails(capsys):
    world = healthy(PROD)
    world.stacks["portkey-gateway-prod"] = "UPDATE_IN_PROGRESS"
    code, out, _ = run(world, capsys)
    assert code == 1
    assert "FAIL  portkey-gateway-prod: UPDATE_IN_PROGRESS: an operation is in progress; run again when it ends" in out


def test_a_missing_secrets_stack_fails_with_the_command_that_creates_it(capsys):
    world = healthy(PROD)
    world.stacks["portkey-gateway-prod-secrets"] = None
    code, out, _ = run(world, capsys)
    assert code == 1
    assert line(out, "FAIL", "portkey-gateway-prod-secrets: not deployed").endswith(
        "managed_secrets needs it: make secrets ENV=prod, put the values in, then deploy")


@pytest.mark.parametrize("status,reason,meaning", [
    ("CREATE_FAILED", "Resource creation cancelled", "CREATE_FAILED (Resource creation cancelled)"),
    ("ROLLBACK_COMPLETE", None, "ROLLBACK_COMPLETE: the stack could not be created; delete it, fix the cause"),
    ("UPDATE_ROLLBACK_FAILED", None, "UPDATE_ROLLBACK_FAILED"),
    ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", None, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS: an operation is in progress"),
    ("IMPORT_COMPLETE", None, None),
])
def test_each_stack_status_means_something_to_the_operator(status, reason, meaning):
    problem = verify.stack_problem({"StackStatus": status, **({"StackStatusReason": reason} if reason else {})})
    assert problem == meaning if meaning is None else problem.startswith(meaning)


# ---------------------------------------------------------------------------------------------------- services

def test_a_service_running_fewer_tasks_than_desired_fails(capsys):
    world = healthy(PROD)
    world.service("gateway")["runningCount"] = 2
    code, out, _ = run(world, capsys)
    assert code == 1
    assert "FAIL  gateway: 2/3 running" in out
    assert out.splitlines()[-1] == "1 problem: ECS services (gateway)"


def test_a_failed_rollout_fails_with_its_reason(capsys):
    world = healthy(PROD)
    world.service("data-service")["deployments"].append({
        "id": "ecs-svc/2", "status": "ACTIVE", "rolloutState": "FAILED",
        "rolloutStateReason": "ECS deployment circuit breaker: tasks failed to start."})
    code, out, _ = run(world, capsys)
    assert code == 1
    assert "FAIL  data-service: a deployment failed: ECS deployment circuit breaker: tasks failed to start." in out


def test_a_native_blue_green_deployment_under_way_fails(capsys):
    world = healthy(PROD)
    world.unfinished["gateway"] = [{
        "serviceDeploymentArn": "arn:aws:ecs:us-east-1:123456789012:service-deployment/c/gateway/abc",
        "serviceArn": world.service("gateway")["serviceArn"], "status": "IN_PROGRESS", "startedAt": WHEN}]
    code, out, _ = run(world, capsys)
    assert code == 1
    assert "FAIL  gateway: deployment in progress" in out


def test_a_rolling_deployment_seen_twice_is_reported_once():
    service = {"status": "ACTIVE", "runningCount": 1, "desiredCount": 1,
               "deployments": [{"status": "PRIMARY", "rolloutState": "IN_PROGRESS"},
                               {"status": "ACTIVE", "rolloutState": "COMPLETED"}]}
    assert verify.service_problems(service, [{"status": "IN_PROGRESS"}]) == ["deployment in progress"]
    assert verify.service_problems(service, [{"status": "ROLLBACK_IN_PROGRESS", "statusReason": "alarm fired"}]) == [
        "deployment in progress", "a deployment is rolling back (alarm fired)"]


def test_services_are_described_ten_at_a_time_per_cluster():
    arns = [f"arn:aws:ecs:us-east-1:123456789012:service/one/s{n}" for n in range(11)]
    arns.append("arn:aws:ecs:us-east-1:123456789012:service/two/s11")
    described = [{"serviceArn": arn, "serviceName": arn.rsplit("/", 1)[1], "clusterArn": "c", "status": "ACTIVE",
                  "desiredCount": 1, "runningCount": 1, "deployments": []} for arn in arns]
    batches = (("one", 0, 10), ("one", 10, 11), ("two", 11, 12))
    calls = [("ecs", "describe_services", {"cluster": cluster, "services": arns[start:end]},
              {"services": described[start:end]}) for cluster, start, end in batches]
    calls += [("ecs", "list_service_deployments", {"cluster": s["serviceArn"].split("/")[1], "service": s["serviceName"],
                                                   "status": UNFINISHED}, {"serviceDeployments": []}) for s in described]
    aws = FakeAws(calls)
    lines = []
    found = verify.check_services(verify.Report(lines.append), verify.connect(REGION, session=aws).ecs, arns)
    aws.assert_all_asked()
    assert len(found) == 12 and lines[1:] == [f"  OK    s{n}: 1/1 running, steady" for n in range(12)]


# ---------------------------------------------------------------------------------------------------- targets

def test_a_route_without_a_healthy_target_fails(capsys):
    world = healthy(PROD)
    world.health[group_arn("gateway-blue")] = [target("10.0.0.10", "draining", "Target.DeregistrationInProgress")]
    code, out, _ = run(world, capsys)
    assert code == 1
    assert line(out, "FAIL", "gateway route").startswith(
        "  FAIL  gateway route: no healthy target: traffic to this route fails")


def test_an_unhealthy_target_fails_with_its_reason(capsys):
    world = healthy(PROD)
    world.health[group_arn("gateway-blue")][1] = target("10.0.1.10", "unhealthy", "Target.ResponseCodeMismatch",
                                                        "Health checks failed with these codes: [503]")
    code, out, _ = run(world, capsys)
    assert code == 1
    assert ("FAIL  gateway route: 10.0.1.10:8787 unhealthy (Health checks failed with these codes: [503]) in "
            "gateway-blue") in out


@pytest.mark.parametrize("blue,green,expected", [
    # After a blue/green deployment the live revision is in the alternate group; the configured one is empty.
    ([], [target("10.0.0.10")], ("OK", "1 healthy in gateway-green; gateway-blue is empty, as it is between deployments")),
    # A task still starting in the live group is worth a look, not a failure.
    ([target("10.0.0.10"), target("10.0.1.10", "initial", "Elb.InitialHealthChecking")], [],
     ("WARN", "10.0.1.10:8787 initial (Elb.InitialHealthChecking) in gateway-blue")),
    # During a bake both groups serve.
    ([target("10.0.0.10")], [target("10.0.1.10")], ("OK", "1 healthy in gateway-blue")),
])
def test_the_live_group_is_the_one_with_healthy_targets(blue, green, expected):
    problems, warnings, fine = verify.route_findings({group_arn("gateway-blue"): blue, group_arn("gateway-green"): green})
    assert problems == []
    assert (("WARN", "; ".join(warnings)) if warnings else ("OK", fine)) == expected


# ---------------------------------------------------------------------------------------------------- alarms

def test_an_alarm_in_alarm_fails_with_its_reason(capsys):
    world = healthy(PROD)
    world.alarms["portkey-gateway-prod-gateway-tasks-below-desired"] = "ALARM"
    code, out, _ = run(world, capsys)
    assert code == 1
    assert ("FAIL  portkey-gateway-prod-gateway-tasks-below-desired in ALARM: "
            "portkey-gateway-prod-gateway-tasks-below-desired reason") in out
    assert "OK    2 alarms not firing" in out
    assert out.splitlines()[-1] == "1 problem: Alarms (portkey-gateway-prod-gateway-tasks-below-desired in ALARM)"


# ---------------------------------------------------------------------------------------------------- HTTP

class _Answer(http.server.BaseHTTPRequestHandler):
    status = 200
    seen: list

    def do_GET(self):
        self.seen.append((self.path, self.headers["Host"]))
        self.send_response(self.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def serve():
    """serve(status, certificate_for=None) -> (port, seen requests, CA): a local server on a real socket, HTTPS with a
    certificate from a test CA when `certificate_for` names a host."""
    servers = []

    def start(status: int, certificate_for: Optional[str] = None):
        seen = []
        handler = type("Handler", (_Answer,), {"status": status, "seen": seen})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        ca = trustme.CA()
        if certificate_for:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert(certificate_for).configure_cert(context)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server.server_address[1], seen, ca

    yield start
    for server in servers:
        server.shutdown()


def to_port(port: int):
    """The real request, sent to a local port instead of the listener's (80 or 443)."""
    return lambda probe, timeout: verify.http_status(replace(probe, port=port), timeout)


def local(settings: Settings) -> World:
    world = healthy(settings)
    world.outputs["LoadBalancerDnsName"] = "127.0.0.1"
    return world


@pytest.mark.parametrize("status,code,verdict", [(200, 0, "OK"), (503, 1, "FAIL")])
def test_the_health_path_through_the_load_balancer(capsys, serve, status, code, verdict):
    port, seen, _ = serve(status)
    exit_code, out, _ = run(local(DEV), capsys, get=to_port(port))
    assert exit_code == code
    assert line(out, verdict, "gateway route: GET").endswith(f"GET http://127.0.0.1/v1/health answered {status}")
    assert seen == [("/v1/health", f"127.0.0.1:{port}")]  # an NLB: no routing host


def test_an_unreachable_load_balancer_is_a_warning_not_a_failure(capsys):
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    code, out, _ = run(local(DEV), capsys, "--timeout", "1", get=to_port(port))
    assert code == 0
    assert "not reachable from this machine" in line(out, "WARN", "gateway route")
    assert "allowed_lb_cidrs does not include this address): skipped" in out
    assert out.splitlines()[-1] == "ok: portkey-gateway-dev is working (1 warning)"


@pytest.mark.parametrize("certificate_for,verdict", [("gateway.example.com", "OK"), ("other.example.com", "FAIL")])
def test_tls_is_checked_for_the_routing_host(capsys, serve, monkeypatch, certificate_for, verdict):
    port, seen, ca = serve(200, certificate_for)
    create = ssl.create_default_context

    def trusting_the_test_ca(*args, **kwargs):
        context = create(*args, **kwargs)
        ca.configure_trust(context)
        return context

    monkeypatch.setattr(verify.ssl, "create_default_context", trusting_the_test_ca)
    code, out, _ = run(local(PROD), capsys, get=to_port(port))
    found = line(out, verdict, "gateway route: GET")
    if verdict == "OK":
        assert code == 0 and seen == [("/v1/health", "gateway.example.com")]
    else:
        assert code == 1 and "certificate refused for gateway.example.com" in found


def test_no_http_and_no_load_balancer_skip_the_requests(capsys):
    code, out, _ = run(healthy(PROD), capsys, "--no-http", get=answering(500))
    assert code == 0 and "SKIP  not asked (--no-http)" in out
    no_lb = healthy(settings_from_dict(variant(create_lb=False, allowed_lb_cidrs=[])))
    lines = []
    aws = FakeAws(no_lb.calls())
    verify.verify(no_lb.settings, verify.connect(REGION, session=aws), verify.Report(lines.append), make_args="ENV=dev")
    aws.assert_all_asked()
    assert "  SKIP  no service is behind a load balancer (create_lb: false)" in lines
    assert "  SKIP  no load balancer (create_lb: false)" in lines


def test_probes_carry_the_path_prefix_the_host_and_the_public_urls():
    settings = settings_from_dict(variant(
        server_mode="all", lb_type="application", internal_lb=False, allowed_lb_cidrs=[],
        alb_routing_configuration={"enable_host_based_routing": True, "enable_path_based_routing": True,
                                   "gateway_host": "ai.example.com", "mcp_host": "ai.example.com"},
        custom_domain={**ZONE, "gateway_host": "ai.example.com", "mcp_host": "ai.example.com"}))
    outputs = {"LoadBalancerDnsName": LB_DNS, "GatewayUrl": "https://ai.example.com/gateway",
               "McpUrl": "https://ai.example.com/mcp", "VpcId": "vpc-0123456789abcdef0"}
    assert [str(probe) for probe in verify.http_probes(settings, outputs)] == [
        f"GET https://{LB_DNS}/gateway/v1/health (Host: ai.example.com)",
        f"GET https://{LB_DNS}/mcp/v1/health (Host: ai.example.com)",
        "GET https://ai.example.com/gateway/v1/health",
        "GET https://ai.example.com/mcp/v1/health",
    ]
    assert {probe.server_name for probe in verify.http_probes(settings, outputs)} == {"ai.example.com"}


def test_the_listener_ports_are_the_load_balancers():
    from portkey_gateway.components import ingress

    assert (verify.HTTP_PORT, verify.HTTPS_PORT) == (ingress.HTTP_PORT, ingress.HTTPS_PORT)


# ---------------------------------------------------------------------------------------------------- can't run

@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_no_credentials_is_one_line_and_exit_2(no_credentials, capsys):
    assert verify.main(["--env", "dev"]) == 2  # real boto3, nothing stubbed: it stops before sending anything
    out, err = capsys.readouterr()
    assert err.startswith("error: no AWS credentials: set AWS_PROFILE") and len(err.splitlines()) == 1
    assert out == "Verifying portkey-gateway-dev in us-east-1\nStacks\n"


def test_an_unknown_environment_is_one_line_and_exit_2(capsys):
    assert verify.main(["--env", "nope"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1
    assert err.startswith("error: unknown environment 'nope': no nope.yaml in ")
    assert "known environments: dev, prod, staging" in err


def test_a_refused_call_is_one_line_naming_it_and_exit_2(capsys):
    world = healthy(PROD)
    calls = world.calls()
    index = next(n for n, call in enumerate(calls) if call[1] == "list_service_deployments")
    refusal = Refusal("AccessDeniedException", "not authorized to perform: ecs:ListServiceDeployments")
    calls[index] = (*calls[index][:3], refusal)
    aws = FakeAws(calls)
    assert verify.main(["--env", "prod"], session=aws, get=answering(200)) == 2
    out, err = capsys.readouterr()
    assert err == ("error: ListServiceDeployments refused: AccessDeniedException: not authorized to perform: "
                   f"ecs:ListServiceDeployments (the caller needs {', '.join(verify.REQUIRED_ACTIONS)})\n")
    assert "OK    portkey-gateway-prod: UPDATE_COMPLETE" in out  # what was checked before is shown


def test_verify_starts_without_the_cdk():
    check = "import portkey_gateway.verify, sys; assert 'aws_cdk' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", check], cwd=ROOT).returncode == 0


def test_the_verdict_names_what_failed_section_by_section():
    report = verify.Report(lambda text: None)
    report.section("ECS services")
    report.add("FAIL", "gateway: 2/3 running")
    report.add("OK", "redis: 1/1 running, steady")
    report.section("Health through the load balancer")
    report.add("FAIL", "gateway route: GET http://lb/v1/health answered 503")
    report.add("WARN", "GatewayUrl: GET https://ai.example.com/v1/health: not reachable from this machine")
    assert report.summary("portkey-gateway-dev") == (
        "2 problems: ECS services (gateway); Health through the load balancer (gateway route)")


def test_a_role_that_cannot_be_assumed_says_what_it_needs():
    error = ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized to perform: sts:AssumeRole"}},
                        "AssumeRole")
    assert verify.aws_problem(error) == ("AssumeRole refused: AccessDenied: not authorized to perform: sts:AssumeRole "
                                         "(the caller needs sts:AssumeRole on the role, and the role must trust the caller)")


def test_production_traffic_on_a_group_without_tasks_is_caught(capsys):
    """aws-cdk 36649's outage: the rule sends production traffic to the group the tasks left (healthy targets exist,
    only in the other group). Target health alone looks fine; the weights show it."""
    world = healthy(PROD)
    for rule, groups in world.weights.items():
        blue, green = groups
        world.weights[rule] = {blue: 0, green: 100}  # traffic on green, tasks in blue
    code, out, _ = run(world, capsys)
    assert code == 1
    assert "production traffic (weight 100) goes to gateway-green" in line(out, "FAIL", "gateway route")
    assert "force-new-deployment" in line(out, "FAIL", "gateway route")


def test_an_nlb_blue_green_route_reads_its_production_listener(capsys):
    world = healthy(NLB_BLUE_GREEN)
    code, out, _ = run(world, capsys, "--no-http")
    assert code == 0 and "healthy in gateway-blue" in line(out, "OK", "gateway route")


def test_no_llm_metrics_yet_is_a_warning_that_says_where_to_look(capsys):
    """The collector reads its pipeline from an environment variable AWS's pages do not document yet: a deployment
    shows here whether it publishes."""
    world = healthy(PROD)
    world.llm_series = 0
    code, out, _ = run(world, capsys)
    assert code == 0
    assert line(out, "WARN", "request_count") == (
        "  WARN  no request_count in Portkey/portkey-gateway-prod yet: after requests through the gateway, read the "
        "collector's log stream (gateway-collector/...) in the gateway's log group")
