"""Starts a new deployment of every ECS service that reads a secret, when the secret's current value changes.

ECS injects secrets only when a task starts: after a rotation or a put, running tasks keep the old value until they
are replaced. Secrets Manager publishes a native "Secret Label Updated" event when a staging label moves (no CloudTrail
trail needed); the EventBridge rule passes on only AWSCURRENT moves of the secrets configured here.

Configuration comes from the environment, written by the CDK construct:
  REDEPLOY  JSON: {"cluster": name, "secrets": [{"arn": secret ARN (complete, or partial without the 6-character
                   suffix), "services": [service names]}]}

EventBridge delivers at least once: a service with a deployment created at or after the change is left alone, so a
repeated event never restarts a deployment that already picks the new value up.

Standard library and boto3, present in the Lambda runtime.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime

SUFFIX = re.compile(r"^-[A-Za-z0-9]{6}$")  # what Secrets Manager appends to a secret's name in its ARN


def consumers(secret_arn: str, config: dict) -> list[str]:
    """The services reading the secret of this complete ARN, each once, in configuration order."""
    services: list[str] = []
    for entry in config["secrets"]:
        configured = entry["arn"]
        if secret_arn == configured or (secret_arn.startswith(configured)
                                        and SUFFIX.match(secret_arn[len(configured):])):
            services += [name for name in entry["services"] if name not in services]
    return services


def deployed_since(service: dict, changed_at: datetime) -> bool:
    """A deployment of the service was created at or after the change (so its tasks read the new value)."""
    return any(deployment["createdAt"] >= changed_at for deployment in service.get("deployments", []))


def redeploy(event: dict, config: dict, ecs) -> list[str]:
    """Forces a new deployment of each consumer not deployed since the change; returns the services redeployed."""
    secret_arn = event["resources"][0]
    changed_at = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
    services = consumers(secret_arn, config)
    if not services:
        print(json.dumps({"secret": secret_arn, "action": "none", "reason": "no service reads this secret"}))
        return []
    response = ecs.describe_services(cluster=config["cluster"], services=services)
    described = response["services"]
    started = []
    failures = [f"{failure.get('arn')}: {failure.get('reason')}" for failure in response.get("failures", [])]
    for service in described:
        name = service["serviceName"]
        if deployed_since(service, changed_at):
            print(json.dumps({"secret": secret_arn, "service": name, "action": "none",
                              "reason": "a deployment started after the change"}))
            continue
        try:
            ecs.update_service(cluster=config["cluster"], service=name, forceNewDeployment=True)
        except Exception as error:  # one service failing must not keep the others on the old value
            failures.append(f"{name}: {type(error).__name__}: {error}")
            continue
        print(json.dumps({"secret": secret_arn, "service": name, "action": "redeployed",
                          "version": event["detail"].get("versionId")}))
        started.append(name)
    if failures:
        # Lambda retries the event (twice); services redeployed above are then left alone.
        raise RuntimeError(f"could not redeploy after {secret_arn} changed: {'; '.join(failures)}")
    return started


def handler(event: dict, context, ecs=None) -> dict:
    if ecs is None:
        import boto3

        ecs = boto3.client("ecs")
    return {"redeployed": redeploy(event, json.loads(os.environ["REDEPLOY"]), ecs)}
