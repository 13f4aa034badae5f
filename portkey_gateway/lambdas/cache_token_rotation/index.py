"""Rotates the created cache's AUTH token so that no running task ever holds a token the cache refuses.

ECS tasks read the token once, when they start. ElastiCache accepts two tokens only between a ROTATE and the next SET
(ModifyReplicationGroup, AuthTokenUpdateStrategy; "Modifying the AUTH token on an existing cluster" in the ElastiCache
user guide), so the order is fixed:

1. ROTATE (setSecret): the cache accepts the current token and the new one.
2. AWSCURRENT moves to the new version (finishSecret). SecretChangeRedeploy (components/secret_redeploy.py) redeploys
   the services that read the secret: new tasks start with the new token, old tasks keep working with the old one.
3. SET (`completion_handler`), once every service runs only tasks started after the new version was created: from then
   on the cache accepts the new token only. A cache created after the version became current (CloudFormation replaced
   it) never knew another token: no SET, the label goes.

A task given the new token before step 1 cannot connect; a SET before step 3 locks out the tasks still on the old token.

`handler` is the Secrets Manager rotation function (createSecret, setSecret, testSecret, finishSecret, with the
semantics of AWS's rotation templates: the version must be AWSPENDING and rotation enabled; every step may run again,
since Secrets Manager retries a failed rotation from createSecret with the same version). It is not in the VPC, so
testSecret cannot connect to the cache: it checks the cache's state instead (available, no AUTH token change pending,
so both tokens are accepted).

`completion_handler` runs on each "ECS Deployment State Change" event of the services (SERVICE_DEPLOYMENT_COMPLETED)
and hourly; it does the SET when every service is done, and otherwise logs why not and waits for the next run.

The staging label AUTH_SET_PENDING marks the version the cache was ROTATEd to while the cache still accepts the token
before it as well. setSecret puts it right after the ROTATE request, finishSecret makes sure it is there, and
`completion_handler` removes it after the SET. It keeps a retried setSecret from issuing a second ROTATE: with two
tokens accepted, a ROTATE drops the older one, which every task still uses until AWSCURRENT moves. For the same reason
setSecret refuses to ROTATE while the label is on another version (an earlier rotation whose SET has not happened): the
rotation fails, and Secrets Manager's retries succeed once that SET is done.

finishSecret also labels the version CURRENT_SINCE_<unix seconds>, taken after AWSCURRENT has moved: tasks started
before then may hold the previous token, so the SET waits until every service's only deployment was created after it
(the version's creation is earlier: a deployment between createSecret and finishSecret still reads the old token).
Should the function fail between the move and that label, a retried finishSecret adds it then (later: safe, the SET
waits for the next deployment).

Configuration comes from the environment, written by the CDK construct (components/cache_token_rotation.py):
  REPLICATION_GROUP_ID  the cache's replication group (both entry points)
  SECRET_ID             the token secret's ARN (completion_handler; the rotation function takes it from its event)
  CLUSTER               the ECS cluster's name (completion_handler)
  SERVICES              JSON list of the names of the services that read the token (completion_handler)

One JSON line is logged per decision; a token value never is. Standard library and boto3, present in the Lambda runtime.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone

from botocore.exceptions import ClientError

CURRENT, PENDING = "AWSCURRENT", "AWSPENDING"
SET_PENDING = "AUTH_SET_PENDING"  # on the version the cache was ROTATEd to until the SET: both tokens accepted
SINCE = "CURRENT_SINCE_"  # + unix seconds: when the version became AWSCURRENT (no task started earlier holds it)
KEY = "REDIS_PASSWORD"  # the token's key in the secret's JSON
TOKEN_LENGTH = 32  # as the secret was generated (elasticache.py): letters and digits, within ElastiCache's rules
BUSY = "InvalidReplicationGroupState"  # ModifyReplicationGroup while the group is being modified
DESCRIBE_LIMIT = 10  # services per ecs:DescribeServices call


def log(**record) -> None:
    print(json.dumps(record, default=str))


def error_code(error: ClientError) -> str | None:
    return error.response.get("Error", {}).get("Code")


def labelled(versions: dict[str, list[str]], label: str) -> str | None:
    """The version carrying `label` (a label is on one version at most), or None."""
    return next((version for version, labels in versions.items() if label in labels), None)


def describe_group(elasticache, group_id: str) -> dict:
    return elasticache.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"][0]


def auth_change(group: dict) -> str | None:
    """SETTING or ROTATING while an AUTH token change is pending, else None."""
    return (group.get("PendingModifiedValues") or {}).get("AuthTokenStatus")


def modify_token(elasticache, group_id: str, token: str, strategy: str) -> None:
    elasticache.modify_replication_group(ReplicationGroupId=group_id, AuthToken=token,
                                         AuthTokenUpdateStrategy=strategy, ApplyImmediately=True)


# --- rotation function ------------------------------------------------------------------------------------------------


def staged_versions(secretsmanager, arn: str, token: str) -> dict[str, list[str]]:
    """Version id -> labels, after the template's checks (a version already AWSCURRENT has nothing left to do)."""
    metadata = secretsmanager.describe_secret(SecretId=arn)
    if not metadata.get("RotationEnabled"):
        raise ValueError(f"rotation is not enabled for {arn}")
    versions = metadata["VersionIdsToStages"]
    if token not in versions:
        raise ValueError(f"version {token} of {arn} has no stage for rotation")
    if CURRENT in versions[token]:
        return versions
    if PENDING not in versions[token]:
        raise ValueError(f"version {token} of {arn} is not {PENDING}")
    return versions


def mark_rotated(secretsmanager, arn: str, token: str) -> None:
    """Labels the version AUTH_SET_PENDING: the cache accepts its token and the one before."""
    secretsmanager.update_secret_version_stage(SecretId=arn, VersionStage=SET_PENDING, MoveToVersionId=token)


def create_secret(secretsmanager, arn: str, token: str) -> None:
    """Puts the new token as AWSPENDING, once: a retry finds the version and generates nothing."""
    current = json.loads(secretsmanager.get_secret_value(SecretId=arn, VersionStage=CURRENT)["SecretString"])
    try:
        secretsmanager.get_secret_value(SecretId=arn, VersionId=token, VersionStage=PENDING)
        log(secret=arn, step="createSecret", version=token, action="none", reason="the pending version exists")
        return
    except ClientError as error:
        if error_code(error) != "ResourceNotFoundException":
            raise
    generated = secretsmanager.get_random_password(PasswordLength=TOKEN_LENGTH, ExcludePunctuation=True)
    value = {**current, KEY: generated["RandomPassword"]}  # the secret's other keys are kept
    secretsmanager.put_secret_value(SecretId=arn, ClientRequestToken=token, VersionStages=[PENDING],
                                    SecretString=json.dumps(value))
    log(secret=arn, step="createSecret", version=token, action="created")


def rotate_decision(group: dict, since: datetime) -> tuple[str, str]:
    """('rotate' | 'done' | 'wait' | 'refuse', why) for a ROTATE to the token of a version created at `since`."""
    status, change = group.get("Status"), auth_change(group)
    if group.get("AuthTokenEnabled") is False:
        return "refuse", "the cache uses no AUTH token"
    if change == "ROTATING":  # requested by an earlier run that stopped before labelling the version
        return "done", "a ROTATE is in progress"
    if change or status != "available":
        return "wait", f"the cache is {status}, AUTH token change {change or 'none'}"
    modified = group.get("AuthTokenLastModifiedDate")
    if modified and modified >= since:
        return "done", "the cache's token changed after this version was created"
    return "rotate", "no ROTATE to this version yet"


def set_secret(secretsmanager, elasticache, arn: str, token: str, versions: dict, group_id: str) -> None:
    """ROTATE: the cache accepts the pending token besides the current one. Never twice for one version."""
    marked = labelled(versions, SET_PENDING)
    if marked == token:
        log(secret=arn, step="setSecret", version=token, action="none", reason="ROTATE already requested")
        return
    if marked:
        raise RuntimeError(f"version {marked} of {arn} still has {SET_PENDING}: its SET has not happened, and a ROTATE "
                           "now would drop the older token tasks may still use; retry after the completion function "
                           "has done that SET")
    pending = secretsmanager.get_secret_value(SecretId=arn, VersionId=token, VersionStage=PENDING)
    decision, why = rotate_decision(describe_group(elasticache, group_id), pending["CreatedDate"])
    if decision in ("wait", "refuse"):
        log(secret=arn, step="setSecret", version=token, action=decision, reason=why)
        raise RuntimeError(f"cannot ROTATE {group_id} now: {why}")
    if decision == "rotate":
        try:
            modify_token(elasticache, group_id, json.loads(pending["SecretString"])[KEY], "ROTATE")
        except ClientError as error:  # InvalidReplicationGroupState: modified meanwhile; Secrets Manager retries
            log(secret=arn, step="setSecret", version=token, action="failed", error=error_code(error))
            raise
    mark_rotated(secretsmanager, arn, token)
    log(secret=arn, step="setSecret", version=token, action="rotated" if decision == "rotate" else "marked", reason=why)


def test_secret(elasticache, arn: str, token: str, versions: dict, group_id: str) -> None:
    """The cache accepts both tokens: its ROTATE to this version was requested and has completed."""
    if labelled(versions, SET_PENDING) != token:
        raise RuntimeError(f"no ROTATE was requested for version {token} of {arn}")
    group = describe_group(elasticache, group_id)
    status, change = group.get("Status"), auth_change(group)
    if status != "available" or change:
        log(secret=arn, step="testSecret", version=token, action="wait", status=status, auth_change=change)
        raise RuntimeError(f"{group_id} is {status}, AUTH token change {change or 'none'}: the ROTATE has not "
                           "completed yet; Secrets Manager retries")
    log(secret=arn, step="testSecret", version=token, action="passed")


def finish_secret(secretsmanager, arn: str, token: str, versions: dict) -> None:
    """Moves AWSCURRENT (the services are then redeployed), then records when; AUTH_SET_PENDING stays until the
    completion's SET."""
    if SET_PENDING not in versions[token]:  # set with the ROTATE; made sure of before the move, so the SET follows
        mark_rotated(secretsmanager, arn, token)
    secretsmanager.update_secret_version_stage(SecretId=arn, VersionStage=CURRENT, MoveToVersionId=token,
                                               RemoveFromVersionId=labelled(versions, CURRENT))
    record_current_since(secretsmanager, arn, token)
    log(secret=arn, step="finishSecret", version=token, action="current")


def record_current_since(secretsmanager, arn: str, token: str) -> None:
    secretsmanager.update_secret_version_stage(SecretId=arn, VersionStage=f"{SINCE}{int(time.time())}",
                                               MoveToVersionId=token)


def current_since(stages: list[str]) -> datetime | None:
    """When the version became AWSCURRENT, from its CURRENT_SINCE_ label."""
    seconds = next((stage[len(SINCE):] for stage in stages if stage.startswith(SINCE)), None)
    return datetime.fromtimestamp(int(seconds), tz=timezone.utc) if seconds and seconds.isdigit() else None


def rotate(event: dict, group_id: str, secretsmanager, elasticache) -> None:
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    versions = staged_versions(secretsmanager, arn, token)
    if CURRENT in versions[token]:
        stages = versions[token]
        if step == "finishSecret" and SET_PENDING in stages and current_since(stages) is None:
            record_current_since(secretsmanager, arn, token)  # a retry after the move: record when, late but safe
        log(secret=arn, step=step, version=token, action="none", reason=f"the version is already {CURRENT}")
        return
    if step == "createSecret":
        create_secret(secretsmanager, arn, token)
    elif step == "setSecret":
        set_secret(secretsmanager, elasticache, arn, token, versions, group_id)
    elif step == "testSecret":
        test_secret(elasticache, arn, token, versions, group_id)
    elif step == "finishSecret":
        finish_secret(secretsmanager, arn, token, versions)
    else:
        raise ValueError(f"unknown rotation step {step!r}")


def handler(event: dict, context, secretsmanager=None, elasticache=None) -> None:
    import boto3

    rotate(event, os.environ["REPLICATION_GROUP_ID"], secretsmanager or boto3.client("secretsmanager"),
           elasticache or boto3.client("elasticache"))


# --- completion: the SET --------------------------------------------------------------------------------------------


def marked_version(secretsmanager, arn: str) -> dict | None:
    """The ListSecretVersionIds entry of the version carrying AUTH_SET_PENDING, or None."""
    params = {"SecretId": arn}
    while True:
        page = secretsmanager.list_secret_version_ids(**params)
        found = next((v for v in page.get("Versions", []) if SET_PENDING in v.get("VersionStages", [])), None)
        if found or not page.get("NextToken"):
            return found
        params["NextToken"] = page["NextToken"]


def deployment_problem(service: dict, since: datetime) -> str | None:
    """Why some task of the service may still hold a token older than `since`, or None when none can."""
    deployments = service.get("deployments", [])
    if len(deployments) != 1:
        return f"{len(deployments)} deployments"
    deployment = deployments[0]
    if deployment.get("status") != "PRIMARY" or deployment.get("rolloutState") != "COMPLETED":
        return f"deployment {deployment.get('status')} {deployment.get('rolloutState')}"
    if deployment["createdAt"] < since:
        return "deployment created before the new token"
    if service.get("runningCount") != service.get("desiredCount"):
        return f"{service.get('runningCount')} of {service.get('desiredCount')} tasks running"
    return None


def service_problems(ecs, cluster: str, names: list[str], since: datetime) -> dict[str, str]:
    """Service name -> why it may still run the old token; empty when every service runs the new one only."""
    problems: dict[str, str] = {}
    for start in range(0, len(names), DESCRIBE_LIMIT):
        response = ecs.describe_services(cluster=cluster, services=names[start:start + DESCRIBE_LIMIT])
        for failure in response.get("failures", []):
            problems[failure.get("arn", "?")] = failure.get("reason", "not described")
        for service in response.get("services", []):
            problem = deployment_problem(service, since)
            if problem:
                problems[service["serviceName"]] = problem
    return problems


def complete(event: dict, config: dict, secretsmanager, elasticache, ecs) -> str:
    """SETs the current token once no task can hold the previous one; returns what it did."""
    arn, group_id = config["secret"], config["group"]
    trigger = {"trigger": event.get("detail-type", "invocation"), "event": (event.get("detail") or {}).get("eventName")}
    version = marked_version(secretsmanager, arn)
    if version is None:
        log(secret=arn, action="none", reason=f"no version has {SET_PENDING}", **trigger)
        return "none"
    version_id = version["VersionId"]
    if CURRENT not in version.get("VersionStages", []):
        log(secret=arn, version=version_id, action="wait", reason=f"the version is not {CURRENT} yet", **trigger)
        return "waiting"
    since = current_since(version.get("VersionStages", []))
    if since is None:
        log(secret=arn, version=version_id, action="wait", reason="when the version became current is not recorded "
            "yet", **trigger)
        return "waiting"
    problems = service_problems(ecs, config["cluster"], config["services"], since)
    if problems:
        log(secret=arn, version=version_id, action="wait", reason="services may run the previous token",
            services=problems, **trigger)
        return "waiting"
    group = describe_group(elasticache, group_id)
    created = group.get("ReplicationGroupCreateTime")
    if created and created >= since:
        # A cache created (replaced) after the version became AWSCURRENT got that token alone from CloudFormation, and
        # ElastiCache allows a SET only after a ROTATE (ModifyReplicationGroup, AuthTokenUpdateStrategy): nothing to
        # SET. Keeping the label would refuse every later rotation.
        secretsmanager.update_secret_version_stage(SecretId=arn, VersionStage=SET_PENDING, RemoveFromVersionId=version_id)
        log(secret=arn, version=version_id, action="none", reason="the cache was created after the token became "
            "current: it never accepted another", **trigger)
        return "none"
    if group.get("Status") != "available" or auth_change(group):
        log(secret=arn, version=version_id, action="wait", reason=f"the cache is {group.get('Status')}",
            auth_change=auth_change(group), **trigger)
        return "waiting"
    # VersionStage as well: the read fails if AWSCURRENT has moved since the listing.
    value = secretsmanager.get_secret_value(SecretId=arn, VersionId=version_id, VersionStage=CURRENT)["SecretString"]
    try:
        modify_token(elasticache, group_id, json.loads(value)[KEY], "SET")
    except ClientError as error:
        if error_code(error) != BUSY:
            raise
        log(secret=arn, version=version_id, action="wait", reason="the cache is being modified", **trigger)
        return "waiting"
    secretsmanager.update_secret_version_stage(SecretId=arn, VersionStage=SET_PENDING, RemoveFromVersionId=version_id)
    log(secret=arn, version=version_id, action="set", reason="every service runs the current token only", **trigger)
    return "set"


def config_from_environment() -> dict:
    return {"secret": os.environ["SECRET_ID"], "group": os.environ["REPLICATION_GROUP_ID"],
            "cluster": os.environ["CLUSTER"], "services": json.loads(os.environ["SERVICES"])}


def completion_handler(event: dict, context, secretsmanager=None, elasticache=None, ecs=None) -> dict:
    import boto3

    return {"result": complete(event or {}, config_from_environment(), secretsmanager or boto3.client("secretsmanager"),
                               elasticache or boto3.client("elasticache"), ecs or boto3.client("ecs"))}
