"""Rotation of the created cache's AUTH token: ROTATE, then AWSCURRENT (the services redeploy), then SET.

The functions run against real boto3 clients behind botocore's Stubber, so every request (with its exact parameters)
and every response is checked against the API's shapes; a call nobody queued fails the test. The construct is built in
a tiny stack of its own (a secret and a replication group), not the whole gateway.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import boto3
import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Template
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from cdk_nag import AwsSolutionsChecks

from portkey_gateway.compliance import acknowledge
from portkey_gateway.components.dead_letters import DeadLetters
from portkey_gateway.components.cache_token_rotation import CacheTokenRotation

from .test_operations import handler_module

ROTATION = handler_module("cache_token_rotation")

ACCOUNT = "123456789012"
ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:portkey-gateway/dev/cache-token-AbCdEf"
GROUP = "gw-dev-cache"
OLD = "11111111-1111-4111-8111-111111111111"  # the current version
NEW = "22222222-2222-4222-8222-222222222222"  # the version being rotated to
OLD_TOKEN, NEW_TOKEN = "o" * 32, "N3wT0ken" * 4
CREATED = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)  # the new version's CreatedDate
MOVED = CREATED + timedelta(minutes=2)  # when finishSecret made it AWSCURRENT (after the ROTATE completed)
SINCE = f"CURRENT_SINCE_{int(MOVED.timestamp())}"
CLUSTER = "portkey-gateway-dev-cluster"
SERVICES = ["portkey-gateway-dev-gateway", "portkey-gateway-dev-dataservice"]
SERVICE_ARNS = [f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/{CLUSTER}/{name}" for name in SERVICES]
CONFIG = {"secret": ARN, "group": GROUP, "cluster": CLUSTER, "services": SERVICES}


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def aws():
    """Stubbed Secrets Manager, ElastiCache and ECS clients; every queued answer must be used."""
    clients = {name: boto3.client(name, region_name="us-east-1") for name in ("secretsmanager", "elasticache", "ecs")}
    stubbers = {name: Stubber(client) for name, client in clients.items()}
    for stubber in stubbers.values():
        stubber.activate()
    yield SimpleNamespace(sm=clients["secretsmanager"], ec=clients["elasticache"], ecs=clients["ecs"],
                          sm_stub=stubbers["secretsmanager"], ec_stub=stubbers["elasticache"],
                          ecs_stub=stubbers["ecs"])
    for stubber in stubbers.values():
        stubber.assert_no_pending_responses()
        stubber.deactivate()


def logged(capsys) -> list[dict]:
    out = capsys.readouterr().out
    assert OLD_TOKEN not in out and NEW_TOKEN not in out  # a token value is never logged
    return [json.loads(line) for line in out.splitlines() if line.strip()]


# --- stubbed answers ------------------------------------------------------------------------------------------------


def describe_secret(aws, stages: dict[str, list[str]], enabled: bool = True) -> None:
    aws.sm_stub.add_response("describe_secret", {"ARN": ARN, "Name": "cache-token", "RotationEnabled": enabled,
                                                 "VersionIdsToStages": stages}, {"SecretId": ARN})


def secret_value(aws, version: str, token: str, params: dict, **extra) -> None:
    aws.sm_stub.add_response("get_secret_value", {
        "ARN": ARN, "Name": "cache-token", "VersionId": version, "CreatedDate": CREATED,
        "SecretString": json.dumps({"REDIS_PASSWORD": token, **extra})}, {"SecretId": ARN, **params})


def pending_value(aws) -> None:
    secret_value(aws, NEW, NEW_TOKEN, {"VersionId": NEW, "VersionStage": "AWSPENDING"})


def label(aws, params: dict) -> None:
    aws.sm_stub.add_response("update_secret_version_stage", {"ARN": ARN, "Name": "cache-token"},
                             {"SecretId": ARN, **params})


def group(aws, status: str = "available", change: str | None = None, modified: datetime | None = None,
          enabled: bool = True, created: datetime = CREATED - timedelta(days=90)) -> None:
    described = {"ReplicationGroupId": GROUP, "Status": status, "AuthTokenEnabled": enabled,
                 "PendingModifiedValues": {"AuthTokenStatus": change} if change else {},
                 "ReplicationGroupCreateTime": created}
    if modified:
        described["AuthTokenLastModifiedDate"] = modified
    aws.ec_stub.add_response("describe_replication_groups", {"ReplicationGroups": [described]},
                             {"ReplicationGroupId": GROUP})


def modify(aws, token: str, strategy: str) -> None:
    aws.ec_stub.add_response("modify_replication_group", {"ReplicationGroup": {
        "ReplicationGroupId": GROUP, "Status": "modifying",
        "PendingModifiedValues": {"AuthTokenStatus": "ROTATING" if strategy == "ROTATE" else "SETTING"}}},
        {"ReplicationGroupId": GROUP, "AuthToken": token, "AuthTokenUpdateStrategy": strategy,
         "ApplyImmediately": True})


def event(step: str) -> dict:
    return {"SecretId": ARN, "ClientRequestToken": NEW, "Step": step}


def rotate(aws, step: str) -> None:
    ROTATION.rotate(event(step), GROUP, aws.sm, aws.ec)


PENDING_STAGES = {OLD: ["AWSCURRENT"], NEW: ["AWSPENDING"]}
ROTATED_STAGES = {OLD: ["AWSCURRENT"], NEW: ["AWSPENDING", "AUTH_SET_PENDING"]}


# --- rotation function: the template's checks -----------------------------------------------------------------------


def test_a_version_that_is_not_pending_is_refused(aws):
    describe_secret(aws, {OLD: ["AWSCURRENT"], NEW: ["AWSPREVIOUS"]})
    with pytest.raises(ValueError, match="is not AWSPENDING"):
        rotate(aws, "setSecret")  # nothing else was called: no answer is queued


def test_a_version_unknown_to_the_secret_is_refused(aws):
    describe_secret(aws, {OLD: ["AWSCURRENT"]})
    with pytest.raises(ValueError, match="has no stage for rotation"):
        rotate(aws, "createSecret")


def test_a_secret_without_rotation_is_refused(aws):
    describe_secret(aws, PENDING_STAGES, enabled=False)
    with pytest.raises(ValueError, match="rotation is not enabled"):
        rotate(aws, "createSecret")


def test_a_version_already_current_needs_nothing(aws, capsys):
    describe_secret(aws, {OLD: ["AWSPREVIOUS"], NEW: ["AWSCURRENT", "AWSPENDING"]})
    rotate(aws, "finishSecret")
    assert logged(capsys) == [{"secret": ARN, "step": "finishSecret", "version": NEW, "action": "none",
                               "reason": "the version is already AWSCURRENT"}]


def test_an_unknown_step_is_refused(aws):
    describe_secret(aws, PENDING_STAGES)
    with pytest.raises(ValueError, match="unknown rotation step 'deleteSecret'"):
        rotate(aws, "deleteSecret")


# --- createSecret ---------------------------------------------------------------------------------------------------


def test_create_secret_puts_a_new_token_and_keeps_the_other_keys(aws, capsys):
    describe_secret(aws, PENDING_STAGES)
    secret_value(aws, OLD, OLD_TOKEN, {"VersionStage": "AWSCURRENT"}, REDIS_USER="default")
    aws.sm_stub.add_client_error("get_secret_value", "ResourceNotFoundException", http_status_code=400,
                                 expected_params={"SecretId": ARN, "VersionId": NEW, "VersionStage": "AWSPENDING"})
    aws.sm_stub.add_response("get_random_password", {"RandomPassword": NEW_TOKEN},
                             {"PasswordLength": 32, "ExcludePunctuation": True})
    aws.sm_stub.add_response("put_secret_value", {"ARN": ARN, "VersionId": NEW, "VersionStages": ["AWSPENDING"]}, {
        "SecretId": ARN, "ClientRequestToken": NEW, "VersionStages": ["AWSPENDING"],
        "SecretString": json.dumps({"REDIS_PASSWORD": NEW_TOKEN, "REDIS_USER": "default"})})
    rotate(aws, "createSecret")
    assert logged(capsys)[-1] == {"secret": ARN, "step": "createSecret", "version": NEW, "action": "created"}


def test_create_secret_on_a_retry_generates_nothing(aws, capsys):
    describe_secret(aws, PENDING_STAGES)
    secret_value(aws, OLD, OLD_TOKEN, {"VersionStage": "AWSCURRENT"})
    pending_value(aws)  # exists already: neither GetRandomPassword nor PutSecretValue may follow
    rotate(aws, "createSecret")
    assert logged(capsys)[-1]["reason"] == "the pending version exists"


# --- setSecret ------------------------------------------------------------------------------------------------------


def test_set_secret_rotates_the_cache_then_marks_the_version(aws, capsys):
    describe_secret(aws, PENDING_STAGES)
    pending_value(aws)
    group(aws, modified=CREATED - timedelta(days=30))
    modify(aws, NEW_TOKEN, "ROTATE")
    label(aws, {"VersionStage": "AUTH_SET_PENDING", "MoveToVersionId": NEW})
    rotate(aws, "setSecret")
    assert logged(capsys)[-1] == {"secret": ARN, "step": "setSecret", "version": NEW, "action": "rotated",
                                  "reason": "no ROTATE to this version yet"}


def test_set_secret_on_a_retry_never_rotates_twice(aws, capsys):
    """A second ROTATE with two tokens accepted would drop the older one, which every task still uses."""
    describe_secret(aws, ROTATED_STAGES)  # nothing else may be called
    rotate(aws, "setSecret")
    assert logged(capsys)[-1]["reason"] == "ROTATE already requested"


@pytest.mark.parametrize("status, change, modified, reason", [
    ("modifying", "ROTATING", None, "a ROTATE is in progress"),
    ("available", None, CREATED + timedelta(minutes=3), "the cache's token changed after this version was created"),
])
def test_set_secret_marks_without_rotating_when_the_rotate_already_happened(aws, capsys, status, change, modified,
                                                                            reason):
    """The function stopped between its ROTATE and the label: the cache shows the ROTATE, so it is not repeated."""
    describe_secret(aws, PENDING_STAGES)
    pending_value(aws)
    group(aws, status=status, change=change, modified=modified)
    label(aws, {"VersionStage": "AUTH_SET_PENDING", "MoveToVersionId": NEW})
    rotate(aws, "setSecret")
    assert logged(capsys)[-1] == {"secret": ARN, "step": "setSecret", "version": NEW, "action": "marked",
                                  "reason": reason}


def test_set_secret_failing_in_the_cache_raises_and_moves_no_label(aws, capsys):
    describe_secret(aws, PENDING_STAGES)
    pending_value(aws)
    group(aws, modified=CREATED - timedelta(days=30))
    aws.ec_stub.add_client_error("modify_replication_group", "InvalidReplicationGroupState", http_status_code=400,
                                 expected_params={"ReplicationGroupId": GROUP, "AuthToken": NEW_TOKEN,
                                                  "AuthTokenUpdateStrategy": "ROTATE", "ApplyImmediately": True})
    with pytest.raises(ClientError) as raised:
        rotate(aws, "setSecret")
    assert raised.value.response["Error"]["Code"] == "InvalidReplicationGroupState"
    # No UpdateSecretVersionStage was queued: neither AUTH_SET_PENDING nor AWSCURRENT moved.
    assert logged(capsys)[-1] == {"secret": ARN, "step": "setSecret", "version": NEW, "action": "failed",
                                  "error": "InvalidReplicationGroupState"}


@pytest.mark.parametrize("status, change", [("modifying", None), ("available", "SETTING"), ("snapshotting", None)])
def test_set_secret_waits_while_the_cache_is_busy(aws, status, change):
    describe_secret(aws, PENDING_STAGES)
    pending_value(aws)
    group(aws, status=status, change=change)
    with pytest.raises(RuntimeError, match=f"cannot ROTATE {GROUP} now: the cache is {status}"):
        rotate(aws, "setSecret")


def test_set_secret_refuses_a_cache_without_auth_token(aws):
    describe_secret(aws, PENDING_STAGES)
    pending_value(aws)
    group(aws, enabled=False)
    with pytest.raises(RuntimeError, match="the cache uses no AUTH token"):
        rotate(aws, "setSecret")


def test_set_secret_refuses_while_the_previous_rotation_awaits_its_set(aws):
    """The cache accepts the previous token besides the current one: a ROTATE would drop the previous one although a
    task may still hold it."""
    describe_secret(aws, {OLD: ["AWSCURRENT", "AUTH_SET_PENDING"], NEW: ["AWSPENDING"]})
    with pytest.raises(RuntimeError, match=f"version {OLD} .* still has AUTH_SET_PENDING"):
        rotate(aws, "setSecret")


# --- testSecret -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status, change", [("modifying", "ROTATING"), ("available", "ROTATING"), ("modifying", None)])
def test_test_secret_fails_until_the_rotate_has_completed(aws, capsys, status, change):
    describe_secret(aws, ROTATED_STAGES)
    group(aws, status=status, change=change)
    with pytest.raises(RuntimeError, match="the ROTATE has not completed yet"):
        rotate(aws, "testSecret")
    assert logged(capsys)[-1] == {"secret": ARN, "step": "testSecret", "version": NEW, "action": "wait",
                                  "status": status, "auth_change": change}


def test_test_secret_passes_once_the_cache_accepts_both_tokens(aws, capsys):
    describe_secret(aws, ROTATED_STAGES)
    group(aws, modified=CREATED + timedelta(minutes=3))
    rotate(aws, "testSecret")
    assert logged(capsys)[-1]["action"] == "passed"


def test_test_secret_fails_when_no_rotate_was_requested(aws):
    describe_secret(aws, PENDING_STAGES)
    with pytest.raises(RuntimeError, match=f"no ROTATE was requested for version {NEW}"):
        rotate(aws, "testSecret")


# --- finishSecret ---------------------------------------------------------------------------------------------------


@pytest.fixture
def moved_now(monkeypatch):
    """finishSecret reads the clock after moving AWSCURRENT."""
    monkeypatch.setattr(ROTATION.time, "time", lambda: MOVED.timestamp())


def test_finish_secret_moves_awscurrent_then_records_when_and_keeps_the_set_pending_label(aws, capsys, moved_now):
    describe_secret(aws, ROTATED_STAGES)
    label(aws, {"VersionStage": "AWSCURRENT", "MoveToVersionId": NEW, "RemoveFromVersionId": OLD})
    label(aws, {"VersionStage": SINCE, "MoveToVersionId": NEW})
    rotate(aws, "finishSecret")
    assert logged(capsys)[-1] == {"secret": ARN, "step": "finishSecret", "version": NEW, "action": "current"}


def test_finish_secret_labels_the_version_before_moving_awscurrent(aws, moved_now):
    """Should the label be gone, it is put back first: once AWSCURRENT moves, only it leads to the SET."""
    describe_secret(aws, PENDING_STAGES)
    label(aws, {"VersionStage": "AUTH_SET_PENDING", "MoveToVersionId": NEW})
    label(aws, {"VersionStage": "AWSCURRENT", "MoveToVersionId": NEW, "RemoveFromVersionId": OLD})
    label(aws, {"VersionStage": SINCE, "MoveToVersionId": NEW})
    rotate(aws, "finishSecret")


def test_a_retried_finish_secret_records_when_if_the_first_run_failed_after_the_move(aws, capsys, moved_now):
    """Later than the real move: safe, the SET then waits for a deployment after it."""
    describe_secret(aws, {OLD: ["AWSPREVIOUS"], NEW: ["AWSCURRENT", "AUTH_SET_PENDING"]})
    label(aws, {"VersionStage": SINCE, "MoveToVersionId": NEW})
    rotate(aws, "finishSecret")
    assert logged(capsys)[-1]["reason"] == "the version is already AWSCURRENT"


def test_the_handler_takes_the_group_from_the_environment(aws, monkeypatch):
    monkeypatch.setenv("REPLICATION_GROUP_ID", GROUP)
    describe_secret(aws, ROTATED_STAGES)
    group(aws)  # asked for GROUP, as the stub's expected parameters say
    ROTATION.handler(event("testSecret"), None, secretsmanager=aws.sm, elasticache=aws.ec)


# --- completion: the SET --------------------------------------------------------------------------------------------


def versions(aws, stages: dict[str, list[str]]) -> None:
    created = {OLD: CREATED - timedelta(days=30), NEW: CREATED}
    aws.sm_stub.add_response("list_secret_version_ids", {"ARN": ARN, "Name": "cache-token", "Versions": [
        {"VersionId": version, "VersionStages": labels, "CreatedDate": created[version]}
        for version, labels in stages.items()]}, {"SecretId": ARN})


def deployment(created: datetime = CREATED + timedelta(minutes=5), status: str = "PRIMARY",
               rollout: str = "COMPLETED") -> dict:
    return {"id": "ecs-svc/1234567890123456789", "status": status, "rolloutState": rollout, "createdAt": created,
            "desiredCount": 2, "runningCount": 2}


def service(name: str, deployments: list[dict] | None = None, running: int = 2) -> dict:
    return {"serviceName": name, "serviceArn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/{CLUSTER}/{name}",
            "desiredCount": 2, "runningCount": running,
            "deployments": [deployment()] if deployments is None else deployments}


def services(aws, described: list[dict], names: list[str] = SERVICES) -> None:
    aws.ecs_stub.add_response("describe_services", {"services": described, "failures": []},
                              {"cluster": CLUSTER, "services": names})


DONE_STAGES = {OLD: ["AWSPREVIOUS"], NEW: ["AWSCURRENT", "AUTH_SET_PENDING", SINCE]}
DEPLOYED = {"version": "0", "id": "e1", "detail-type": "ECS Deployment State Change", "source": "aws.ecs",
            "account": ACCOUNT, "time": "2026-03-01T12:09:00Z", "region": "us-east-1", "resources": [SERVICE_ARNS[0]],
            "detail": {"eventType": "INFO", "eventName": "SERVICE_DEPLOYMENT_COMPLETED",
                       "deploymentId": "ecs-svc/1234567890123456789", "updatedAt": "2026-03-01T12:08:59Z",
                       "reason": "ECS deployment ecs-svc/1234567890123456789 completed."}}
SCHEDULED = {"version": "0", "id": "e2", "detail-type": "Scheduled Event", "source": "aws.events", "account": ACCOUNT,
             "time": "2026-03-01T13:00:00Z", "region": "us-east-1", "resources": [], "detail": {}}


def complete(aws, trigger: dict = DEPLOYED) -> str:
    return ROTATION.complete(trigger, CONFIG, aws.sm, aws.ec, aws.ecs)


def test_completion_sets_the_token_and_removes_the_label_when_every_service_runs_it(aws, capsys):
    versions(aws, DONE_STAGES)
    services(aws, [service(name) for name in SERVICES])
    group(aws)
    secret_value(aws, NEW, NEW_TOKEN, {"VersionId": NEW, "VersionStage": "AWSCURRENT"})
    modify(aws, NEW_TOKEN, "SET")
    label(aws, {"VersionStage": "AUTH_SET_PENDING", "RemoveFromVersionId": NEW})
    assert complete(aws) == "set"
    assert logged(capsys) == [{"secret": ARN, "version": NEW, "action": "set",
                               "reason": "every service runs the current token only",
                               "trigger": "ECS Deployment State Change", "event": "SERVICE_DEPLOYMENT_COMPLETED"}]


@pytest.mark.parametrize("created", [MOVED, MOVED + timedelta(days=3)])
def test_completion_releases_the_label_without_a_set_when_the_cache_was_replaced_after_the_move(aws, capsys, created):
    """CloudFormation created the cache with the current token alone; a SET (allowed only after a ROTATE) would be
    refused every hour, and the label left in place would refuse every later rotation."""
    versions(aws, DONE_STAGES)
    services(aws, [service(name) for name in SERVICES])
    group(aws, created=created)
    label(aws, {"VersionStage": "AUTH_SET_PENDING", "RemoveFromVersionId": NEW})  # and no ModifyReplicationGroup
    assert complete(aws, SCHEDULED) == "none"
    assert logged(capsys)[-1] == {"secret": ARN, "version": NEW, "action": "none",
                                  "reason": "the cache was created after the token became current: it never accepted "
                                            "another", "trigger": "Scheduled Event", "event": None}


def test_completion_sets_on_a_cache_created_before_the_move(aws, capsys):
    """A cache that existed before the move was ROTATEd to the new token: it is SET as always (the boundary: a second
    before the move)."""
    versions(aws, DONE_STAGES)
    services(aws, [service(name) for name in SERVICES])
    group(aws, created=MOVED - timedelta(seconds=1))
    secret_value(aws, NEW, NEW_TOKEN, {"VersionId": NEW, "VersionStage": "AWSCURRENT"})
    modify(aws, NEW_TOKEN, "SET")
    label(aws, {"VersionStage": "AUTH_SET_PENDING", "RemoveFromVersionId": NEW})
    assert complete(aws) == "set"


def test_completion_does_nothing_without_a_pending_set(aws, capsys):
    versions(aws, {OLD: ["AWSPREVIOUS"], NEW: ["AWSCURRENT"]})
    assert complete(aws, SCHEDULED) == "none"
    assert logged(capsys)[-1]["reason"] == "no version has AUTH_SET_PENDING"


def test_completion_waits_while_the_rotation_has_not_moved_awscurrent(aws, capsys):
    """Deployments after the version was created may still have read the previous token: AWSCURRENT had not moved."""
    versions(aws, {OLD: ["AWSCURRENT"], NEW: ["AWSPENDING", "AUTH_SET_PENDING"]})
    assert complete(aws) == "waiting"
    assert logged(capsys)[-1]["reason"] == "the version is not AWSCURRENT yet"


@pytest.mark.parametrize("second, problem", [
    (service(SERVICES[1], [deployment(), deployment(CREATED - timedelta(days=2), status="ACTIVE")]), "2 deployments"),
    (service(SERVICES[1], [deployment(CREATED - timedelta(seconds=1))]), "deployment created before the new token"),
    # Between createSecret and finishSecret: its tasks still read the previous token.
    (service(SERVICES[1], [deployment(MOVED - timedelta(seconds=30))]), "deployment created before the new token"),
    (service(SERVICES[1], [deployment(rollout="IN_PROGRESS")]), "deployment PRIMARY IN_PROGRESS"),
    (service(SERVICES[1], running=1), "1 of 2 tasks running"),
])
def test_completion_does_not_set_while_a_service_may_run_the_previous_token(aws, capsys, second, problem):
    versions(aws, DONE_STAGES)
    services(aws, [service(SERVICES[0]), second])  # no ModifyReplicationGroup, no label change may follow
    assert complete(aws) == "waiting"
    record = logged(capsys)[-1]
    assert record["action"] == "wait" and record["services"] == {SERVICES[1]: problem}


def test_completion_does_not_set_while_a_service_is_missing(aws, capsys):
    versions(aws, DONE_STAGES)
    aws.ecs_stub.add_response("describe_services", {
        "services": [service(SERVICES[0])], "failures": [{"arn": SERVICE_ARNS[1], "reason": "MISSING"}]},
        {"cluster": CLUSTER, "services": SERVICES})
    assert complete(aws) == "waiting"
    assert logged(capsys)[-1]["services"] == {SERVICE_ARNS[1]: "MISSING"}


@pytest.mark.parametrize("status, change", [("modifying", None), ("available", "ROTATING")])
def test_completion_waits_without_error_while_the_cache_is_busy(aws, capsys, status, change):
    versions(aws, DONE_STAGES)
    services(aws, [service(name) for name in SERVICES])
    group(aws, status=status, change=change)
    assert complete(aws, SCHEDULED) == "waiting"
    assert logged(capsys)[-1] == {"secret": ARN, "version": NEW, "action": "wait", "reason": f"the cache is {status}",
                                  "auth_change": change, "trigger": "Scheduled Event", "event": None}


def test_completion_keeps_the_label_when_the_set_meets_a_busy_cache(aws, capsys):
    versions(aws, DONE_STAGES)
    services(aws, [service(name) for name in SERVICES])
    group(aws)
    secret_value(aws, NEW, NEW_TOKEN, {"VersionId": NEW, "VersionStage": "AWSCURRENT"})
    aws.ec_stub.add_client_error("modify_replication_group", "InvalidReplicationGroupState", http_status_code=400)
    assert complete(aws) == "waiting"  # the label stays: a later run SETs
    assert logged(capsys)[-1]["reason"] == "the cache is being modified"


def test_completion_describes_services_ten_at_a_time(aws):
    names = [f"svc-{number}" for number in range(12)]
    versions(aws, DONE_STAGES)
    services(aws, [service(name) for name in names[:10]], names[:10])
    services(aws, [service(names[10]), service(names[11], running=0)], names[10:])
    assert ROTATION.complete(SCHEDULED, {**CONFIG, "services": names}, aws.sm, aws.ec, aws.ecs) == "waiting"


def test_the_completion_handler_reads_its_configuration_from_the_environment(aws, monkeypatch):
    for key, value in {"SECRET_ID": ARN, "REPLICATION_GROUP_ID": GROUP, "CLUSTER": CLUSTER,
                       "SERVICES": json.dumps(SERVICES)}.items():
        monkeypatch.setenv(key, value)
    versions(aws, DONE_STAGES)
    services(aws, [service(SERVICES[0]), service(SERVICES[1], running=1)])
    assert ROTATION.completion_handler(SCHEDULED, None, secretsmanager=aws.sm, elasticache=aws.ec,
                                       ecs=aws.ecs) == {"result": "waiting"}


# --- the construct --------------------------------------------------------------------------------------------------


def build(checks: bool = False, rotation_days: int = 7) -> tuple[Stack, CacheTokenRotation]:
    app = App()
    if checks:
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    stack = Stack(app, "Cache")
    secret = secretsmanager.Secret(stack, "Token", generate_secret_string=secretsmanager.SecretStringGenerator(
        secret_string_template="{}", generate_string_key="REDIS_PASSWORD", exclude_punctuation=True,
        password_length=32))
    replication_group = elasticache.CfnReplicationGroup(
        stack, "Group", replication_group_description="test cache", engine="valkey", cache_node_type="cache.t4g.micro",
        num_cache_clusters=1, transit_encryption_enabled=True, at_rest_encryption_enabled=True,
        auth_token=secret.secret_value_from_json("REDIS_PASSWORD").unsafe_unwrap())
    for finding in ("AwsSolutions-AEC1", "AwsSolutions-AEC4", "AwsSolutions-AEC5"):  # the fixture, not the construct
        acknowledge(replication_group, finding, "A bare test fixture: only the rotation construct is under test here")
    rotation = CacheTokenRotation(stack, "TokenRotation", secret=secret, replication_group=replication_group,
                                  cluster_name=CLUSTER, service_names=SERVICES, service_arns=SERVICE_ARNS,
                                  rotation_days=rotation_days,
                                  dead_letters=DeadLetters(stack, "DeadLetters", name_prefix="test", alarm=False))
    return stack, rotation


@pytest.fixture(scope="module")
def built() -> tuple[dict, SimpleNamespace]:
    """The template, and the logical ids of what the tests look up."""
    stack, rotation = build()

    def logical_id(construct) -> str:
        return stack.get_logical_id(construct.node.default_child or construct)
    ids = SimpleNamespace(
        secret=logical_id(stack.node.find_child("Token")), group=logical_id(stack.node.find_child("Group")),
        rotation_role=logical_id(rotation.rotation_role), completion_role=logical_id(rotation.completion_role),
        rotation_function=logical_id(rotation.rotation_function),
        completion_function=logical_id(rotation.completion_function),
        rotation_logs=logical_id(rotation.rotation_function.node.scope.node.find_child("Logs")),
        completion_logs=logical_id(rotation.completion_function.node.scope.node.find_child("Logs")),
        dead_letters=logical_id(rotation.dead_letters.queue))
    return Template.from_stack(stack).to_json(), ids


def of_type(template: dict, resource_type: str) -> dict[str, dict]:
    return {key: value for key, value in template["Resources"].items() if value["Type"] == resource_type}


def policy_of(template: dict, role_id: str) -> list[dict]:
    (policy,) = [p["Properties"]["PolicyDocument"]["Statement"] for p in of_type(template, "AWS::IAM::Policy").values()
                 if p["Properties"]["Roles"] == [{"Ref": role_id}]]
    return policy


def group_arn(group_id: str) -> dict:
    return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":elasticache:", {"Ref": "AWS::Region"}, ":",
                              {"Ref": "AWS::AccountId"}, ":replicationgroup:", {"Ref": group_id}]]}


def test_the_schedule_rotates_every_rotation_days_after_the_cache_exists(built):
    template, ids = built
    (schedule,) = of_type(template, "AWS::SecretsManager::RotationSchedule").values()
    # Not at once: on a first deploy the redeploy would race CloudFormation creating the services.
    assert schedule["Properties"] == {"SecretId": {"Ref": ids.secret},
                                      "RotationRules": {"ScheduleExpression": "rate(7 days)"},
                                      "RotationLambdaARN": {"Fn::GetAtt": [ids.rotation_function, "Arn"]},
                                      "RotateImmediatelyOnUpdate": False}
    assert ids.group in schedule["DependsOn"]


def test_the_rotation_role_may_use_this_secret_and_this_group_only(built):
    template, ids = built
    assert policy_of(template, ids.rotation_role) == [
        {"Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Effect": "Allow",
         "Resource": {"Fn::GetAtt": [ids.rotation_logs, "Arn"]}},
        {"Action": ["elasticache:DescribeReplicationGroups", "elasticache:ModifyReplicationGroup"], "Effect": "Allow",
         "Resource": group_arn(ids.group)},
        {"Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
                    "secretsmanager:UpdateSecretVersionStage"], "Effect": "Allow", "Resource": {"Ref": ids.secret}},
        {"Action": "secretsmanager:GetRandomPassword", "Effect": "Allow", "Resource": "*"},
    ]


def test_the_completion_role_reads_the_secret_moves_labels_and_describes_the_services(built):
    template, ids = built
    assert policy_of(template, ids.completion_role) == [
        {"Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Effect": "Allow",
         "Resource": {"Fn::GetAtt": [ids.completion_logs, "Arn"]}},
        # A run that fails every retry goes to the dead letters.
        {"Action": "sqs:SendMessage", "Effect": "Allow", "Resource": {"Fn::GetAtt": [ids.dead_letters, "Arn"]}},
        {"Action": ["secretsmanager:ListSecretVersionIds", "secretsmanager:GetSecretValue",
                    "secretsmanager:UpdateSecretVersionStage"], "Effect": "Allow", "Resource": {"Ref": ids.secret}},
        {"Action": ["elasticache:DescribeReplicationGroups", "elasticache:ModifyReplicationGroup"], "Effect": "Allow",
         "Resource": group_arn(ids.group)},
        {"Action": "ecs:DescribeServices", "Effect": "Allow", "Resource": SERVICE_ARNS},
    ]


def test_the_secret_refuses_value_changes_from_anyone_but_the_two_functions_and_cloudformation(built):
    template, ids = built
    (policy,) = of_type(template, "AWS::SecretsManager::ResourcePolicy").values()
    assert policy["Properties"]["SecretId"] == {"Ref": ids.secret}
    statements = policy["Properties"]["ResourcePolicy"]["Statement"]
    deny = [s for s in statements if s.get("Sid") == "OnlyTheRotationChangesTheCacheToken"]
    assert deny == [{
        "Sid": "OnlyTheRotationChangesTheCacheToken", "Effect": "Deny", "Principal": {"AWS": "*"}, "Resource": "*",
        "Action": ["secretsmanager:PutSecretValue", "secretsmanager:UpdateSecret",
                   "secretsmanager:UpdateSecretVersionStage"],
        "Condition": {
            "ArnNotEquals": {"aws:PrincipalArn": [{"Fn::GetAtt": [ids.rotation_role, "Arn"]},
                                                  {"Fn::GetAtt": [ids.completion_role, "Arn"]}]},
            "ForAllValues:StringNotEquals": {"aws:CalledVia": ["cloudformation.amazonaws.com"]},
        },
    }]


def test_deployment_events_of_the_services_and_an_hourly_schedule_invoke_the_completion(built):
    template, ids = built
    rules = sorted(of_type(template, "AWS::Events::Rule").values(),
                   key=lambda rule: "ScheduleExpression" in rule["Properties"])  # the deployment rule first
    assert [r["Properties"].get("EventPattern") for r in rules] == [
        {"source": ["aws.ecs"], "detail-type": ["ECS Deployment State Change"],
         "detail": {"eventName": ["SERVICE_DEPLOYMENT_COMPLETED"]}, "resources": SERVICE_ARNS},
        None,
    ]
    assert rules[1]["Properties"]["ScheduleExpression"] == "rate(1 hour)"
    for rule in rules:
        assert rule["Properties"]["Targets"] == [{
            "Arn": {"Fn::GetAtt": [ids.completion_function, "Arn"]}, "Id": "Target0",
            "DeadLetterConfig": {"Arn": {"Fn::GetAtt": [ids.dead_letters, "Arn"]}},
            "RetryPolicy": {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 4}}]


def test_only_secrets_manager_of_this_account_may_invoke_the_rotation_function(built):
    template, ids = built
    permissions = [p["Properties"] for p in of_type(template, "AWS::Lambda::Permission").values()
                   if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [ids.rotation_function, "Arn"]}]
    assert permissions == [{"Action": "lambda:InvokeFunction",
                            "FunctionName": {"Fn::GetAtt": [ids.rotation_function, "Arn"]},
                            "Principal": "secretsmanager.amazonaws.com", "SourceAccount": {"Ref": "AWS::AccountId"}}]


def test_the_functions_get_their_entry_points_and_configuration(built):
    template, ids = built
    rotation = template["Resources"][ids.rotation_function]["Properties"]
    completion = template["Resources"][ids.completion_function]["Properties"]
    assert (rotation["Handler"], rotation["Runtime"]) == ("index.handler", "python3.14")
    assert rotation["Environment"] == {"Variables": {"REPLICATION_GROUP_ID": {"Ref": ids.group}}}
    assert completion["Handler"] == "index.completion_handler"
    assert completion["Environment"] == {"Variables": {
        "SECRET_ID": {"Ref": ids.secret}, "REPLICATION_GROUP_ID": {"Ref": ids.group}, "CLUSTER": CLUSTER,
        "SERVICES": json.dumps(SERVICES)}}
    (invoke_config,) = of_type(template, "AWS::Lambda::EventInvokeConfig").values()
    assert invoke_config["Properties"] == {"FunctionName": {"Ref": ids.completion_function}, "Qualifier": "$LATEST",
                                           "MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600}


def test_cdk_nag_passes_with_only_the_get_random_password_finding_acknowledged():
    stack, rotation = build(checks=True, rotation_days=30)
    template = Template.from_stack(stack)  # an unacknowledged finding raises ValidationFailed here
    template.has_resource_properties("AWS::SecretsManager::RotationSchedule",
                                     {"RotationRules": {"ScheduleExpression": "rate(30 days)"}})
    def acknowledged(role) -> dict[str, str]:
        """AwsSolutions' acknowledgments on the role (the packs' inline-policy one is on every role: compliance.py)."""
        found = {}
        for entry in role.node.metadata:
            if entry.type == "aws:cdk:acknowledged-rules":
                found.update({k: v for k, v in entry.data.items() if k.startswith("Annotation::AwsSolutions")})
        return found
    assert list(acknowledged(rotation.rotation_role)) == ["Annotation::AwsSolutions-IAM5[Resource::*]"]
    assert "GetRandomPassword" in acknowledged(rotation.rotation_role)["Annotation::AwsSolutions-IAM5[Resource::*]"]
    assert not acknowledged(rotation.completion_role)


def test_cdk_nag_fails_without_that_acknowledgment(monkeypatch):
    """The acknowledgment is what lets synthesis pass: the GetRandomPassword finding is real."""
    from portkey_gateway.components import cache_token_rotation

    monkeypatch.setattr(cache_token_rotation, "acknowledge", lambda *args: None)
    stack, _ = build(checks=True)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        Template.from_stack(stack)


def test_completion_waits_until_the_move_to_awscurrent_is_recorded(aws, capsys):
    versions(aws, {OLD: ["AWSPREVIOUS"], NEW: ["AWSCURRENT", "AUTH_SET_PENDING"]})  # no ECS call, no SET may follow
    assert complete(aws) == "waiting"
    assert logged(capsys)[-1]["reason"] == "when the version became current is not recorded yet"
