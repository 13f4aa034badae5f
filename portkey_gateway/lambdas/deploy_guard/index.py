"""CloudFormation custom resources that guard a deployment; both only read.

`Custom::LiveTrafficWeights`: ECS native blue/green, canary and linear deployments rewrite the production listener rule
(ALB) or the listener's default action (NLB) as a weighted forward to two target groups, primary and alternate, and
flip the weights on each deployment. The template says primary 100 / alternate 0; after an odd number of deployments
the live tasks are in the alternate group, and a stack update that rewrites the rule would send all traffic to the
empty primary (aws-cdk issue 36649). The template takes each weight from this resource instead, which reads the live
weights just before CloudFormation writes the rule. Its properties carry the rule's definition, so it is updated
exactly when the rule is. An NLB forwards to one group only (no weights): its listener takes `LiveTargetGroupArn`, the
group with the larger weight (the primary on a tie).

`Custom::ManagedSecretsReady`: the first resource of a gateway stack whose secrets come from the secrets stack. It fails
at once, saying what to do, when a secret is missing, scheduled for deletion or still holds the placeholder
CloudFormation generated, before anything else is created; otherwise it returns each secret's complete ARN. With
`EncryptionKeyAlias` (the secrets stack created the environment's KMS key) it also returns the key's ARN, and fails
when the key is missing, not enabled, or does not encrypt the secrets (a secrets stack deployed before the key was
turned on). It never reads a secret's value (its role may only describe the secrets and the key).

Standard library and boto3, present in the Lambda runtime.
"""

from __future__ import annotations

import json
import urllib.request

from botocore.exceptions import ClientError

WEIGHTS = "Custom::LiveTrafficWeights"
SECRETS = "Custom::ManagedSecretsReady"
REASON_LIMIT = 1500  # the whole answer must stay under CloudFormation's 4096 bytes
NOT_FOUND = {"ListenerNotFound", "LoadBalancerNotFound"}  # the listener or load balancer does not exist (yet)
DEFAULT = {"PrimaryWeight": 100, "AlternateWeight": 0}  # what the template says


# --- live traffic weights --------------------------------------------------------------------------------------------


def pages(call, key: str, **params):
    """Every item of a paginated elbv2 Describe* call (Marker in, NextMarker out)."""
    marker = None
    while True:
        page = call(**params, **({"Marker": marker} if marker else {}))
        yield from page.get(key, [])
        marker = page.get("NextMarker")
        if not marker:
            return


def forward_weights(actions: list, groups: tuple[str, str]) -> dict[str, int] | None:
    """Target group ARN -> weight, of the first forward action that sends to either group; None if none does."""
    for action in actions:
        if action.get("Type") != "forward":
            continue
        tuples = action.get("ForwardConfig", {}).get("TargetGroups") or []
        if tuples:
            weights = {t["TargetGroupArn"]: t.get("Weight", 1) for t in tuples}  # the API always returns Weight
        elif action.get("TargetGroupArn"):
            weights = {action["TargetGroupArn"]: 100}
        else:
            continue
        if set(groups) & set(weights):
            return weights
    return None


def locate(kind: str, properties: dict, groups: tuple[str, str], elbv2) -> tuple[str, dict[str, int]] | None:
    """(where, weights) of the live rule or listener these properties describe, or None if it does not exist."""
    try:
        if kind == "rule":
            if not properties.get("ListenerArn"):
                return None
            for rule in pages(elbv2.describe_rules, "Rules", ListenerArn=properties["ListenerArn"]):
                weights = None if rule.get("IsDefault") else forward_weights(rule.get("Actions", []), groups)
                if weights is not None:
                    return rule["RuleArn"], weights
            return None
        if kind == "listener":
            if not properties.get("LoadBalancerArn") or properties.get("Port") in (None, ""):
                return None
            port = int(properties["Port"])
            for listener in pages(elbv2.describe_listeners, "Listeners", LoadBalancerArn=properties["LoadBalancerArn"]):
                if listener.get("Port") != port:
                    continue
                weights = forward_weights(listener.get("DefaultActions", []), groups)
                if weights is not None:
                    return listener["ListenerArn"], weights
            return None
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in NOT_FOUND:
            return None
        raise
    raise ValueError(f"Kind must be 'rule' or 'listener', not {kind!r}")


def with_live_group(data: dict, groups: tuple[str, str]) -> dict:
    return {**data, "LiveTargetGroupArn": groups[1] if data["AlternateWeight"] > data["PrimaryWeight"] else groups[0]}


def live_weights(event: dict, elbv2) -> tuple[dict, dict]:
    """(Data, log record): the weights of the live rule or listener, or the template's 100/0 when there is none, and
    the group that holds the larger weight."""
    new = event["ResourceProperties"]
    groups = (new["PrimaryTargetGroupArn"], new["AlternateTargetGroupArn"])
    # The rule as it was before this update: this very update may replace its listener or change its port.
    attempts = [("old properties", event.get("OldResourceProperties") or {})] if event["RequestType"] == "Update" else []
    attempts.append(("properties", new))
    found, via = None, None
    for via, properties in attempts:
        found = locate(properties.get("Kind", new.get("Kind")), properties, groups, elbv2)
        if found:
            break
    record = {"resource": WEIGHTS, "request": event["RequestType"], "kind": new.get("Kind"),
              "primary": groups[0], "alternate": groups[1]}
    if not found:
        return with_live_group(DEFAULT, groups), {**record, "found": None, "weights": DEFAULT, "note":
                                                  "no live rule or listener forwards to these groups: the template's weights"}
    where, weights = found
    data = {"PrimaryWeight": int(weights.get(groups[0], 0)), "AlternateWeight": int(weights.get(groups[1], 0))}
    record.update(found=where, via=via, live=weights)
    if data == {"PrimaryWeight": 0, "AlternateWeight": 0}:
        data, record["note"] = dict(DEFAULT), "both groups weigh 0 live: the template's weights"
    return with_live_group(data, groups), {**record, "weights": data}


# --- managed secrets -------------------------------------------------------------------------------------------------


def placeholder_command(name: str, keys: list[str]) -> str:
    value = json.dumps({key: "..." for key in keys}, separators=(",", ":"))
    return f"aws secretsmanager put-secret-value --secret-id {name} --secret-string '{value}'"


def environment_key(alias: str, command: str, kms) -> tuple[dict | None, str | None]:
    """(KeyMetadata, problem) of the key the secrets stack created, found by its alias."""
    try:
        key = kms.describe_key(KeyId=alias)["KeyMetadata"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("NotFoundException", "AccessDeniedException"):
            raise
        return None, f"the key {alias} does not exist: deploy the secrets stack first ({command})"
    if key.get("KeyState") != "Enabled":
        fix = (f"aws kms cancel-key-deletion --key-id {key['KeyId']}, then aws kms enable-key --key-id {key['KeyId']}"
               if key.get("KeyState") == "PendingDeletion" else f"aws kms enable-key --key-id {key['KeyId']}")
        return None, f"the key {alias} is {key.get('KeyState')}: {fix}"
    return key, None


def encrypted_with(described: dict, key: dict, alias: str) -> bool:
    """DescribeSecret names the key as it was given (an id, a key ARN or an alias); none means aws/secretsmanager."""
    named = described.get("KmsKeyId")
    return named in (key["KeyId"], key["Arn"], alias) or (bool(named) and named.endswith(f":{alias}"))


def secrets_ready(properties: dict, secretsmanager, kms=None) -> tuple[dict, list[str], dict]:
    """(Data, problems, log record) for the secrets the properties list."""
    data, problems, states = {}, [], {}
    alias, key = properties.get("EncryptionKeyAlias"), None
    if alias:
        key, problem = environment_key(alias, properties["SecretsCommand"], kms)
        if problem:
            problems.append(problem)
        else:
            data["EncryptionKeyArn"] = key["Arn"]
    for secret in properties["Secrets"]:
        name = secret["Name"]
        try:
            described = secretsmanager.describe_secret(SecretId=name)
        except ClientError as error:
            # A secret that does not exist may also answer AccessDenied: the role names the secrets by name.
            if error.response.get("Error", {}).get("Code") not in ("ResourceNotFoundException", "AccessDeniedException"):
                raise
            states[name] = "missing"
            problems.append(f"{name} does not exist: deploy the secrets stack first ({properties['SecretsCommand']}), "
                            f"put the real values in, then deploy again")
            continue
        if described.get("DeletedDate"):
            states[name] = "scheduled for deletion"
            problems.append(f"{name} is scheduled for deletion: aws secretsmanager restore-secret --secret-id {name}")
        # A value put after the generated one makes the generated version AWSPREVIOUS.
        elif not any("AWSPREVIOUS" in stages for stages in (described.get("VersionIdsToStages") or {}).values()):
            states[name] = "placeholder"
            problems.append(f"{name} still holds its placeholder: {placeholder_command(name, secret.get('Keys', []))}")
        elif key and not encrypted_with(described, key, alias):
            states[name] = "other key"
            problems.append(f"{name} is not encrypted with {alias}: deploy the secrets stack again "
                            f"({properties['SecretsCommand']})")
        else:
            states[name] = "filled"
            data[f"{secret['Id']}Arn"] = described["ARN"]
    record = {"resource": SECRETS, "environment": properties.get("Environment"), "secrets": states}
    if alias:
        record["key"] = key["Arn"] if key else "unusable"
    return data, problems, record


# --- CloudFormation --------------------------------------------------------------------------------------------------


def truncate(text: str, limit: int = REASON_LIMIT) -> str:
    cut = " ... (truncated)"
    return text if len(text) <= limit else text[:limit - len(cut)] + cut


def respond(event: dict, status: str, physical_id: str, reason: str = "", data: dict | None = None) -> None:
    """Answers CloudFormation through the pre-signed URL of the request (what cfn-response does)."""
    answer = {
        "Status": status, "Reason": reason or "see the function's log", "PhysicalResourceId": physical_id,
        "StackId": event["StackId"], "RequestId": event["RequestId"], "LogicalResourceId": event["LogicalResourceId"],
    }
    if data:
        answer["Data"] = data
    body = json.dumps(answer).encode()
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT",
                                     headers={"Content-Type": "", "Content-Length": str(len(body))})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def handler(event: dict, context, elbv2=None, secretsmanager=None, kms=None) -> None:
    kind = event.get("RequestType")
    # The same id for the resource's whole life: CloudFormation never sees a replacement.
    physical_id = event["LogicalResourceId"] if kind == "Create" else event.get("PhysicalResourceId", event["LogicalResourceId"])
    status, reason, data = "SUCCESS", "", None
    try:
        resource = event.get("ResourceType")
        if kind == "Delete":
            pass  # nothing was created, nothing to clean up
        elif resource == WEIGHTS:
            if elbv2 is None:
                import boto3

                elbv2 = boto3.client("elbv2")
            data, record = live_weights(event, elbv2)
            print(json.dumps(record))
        elif resource == SECRETS:
            if secretsmanager is None:
                import boto3

                secretsmanager = boto3.client("secretsmanager")
            properties = event["ResourceProperties"]
            if kms is None and properties.get("EncryptionKeyAlias"):
                import boto3

                kms = boto3.client("kms")
            data, problems, record = secrets_ready(properties, secretsmanager, kms)
            print(json.dumps(record))
            if problems:
                status, reason, data = "FAILED", truncate("; ".join(problems)), None
        else:
            raise ValueError(f"unknown resource type {resource!r}: expected {WEIGHTS} or {SECRETS}")
    except Exception as error:  # CloudFormation must always get an answer, or the stack waits for the timeout
        status, reason, data = "FAILED", truncate(f"{type(error).__name__}: {error}"), None
        print(reason)
    respond(event, status, physical_id, reason, data)
