"""CloudFormation custom resource: on delete, lets the stack terminate the cluster's instances.

With managed termination protection, ECS protects instances from scale-in, and CloudFormation's delete of the Auto
Scaling group waits for instances that never terminate (aws-cdk issue 18179; the module has users scale every service
to zero by hand first). The stack deletes the services and the capacity provider before this resource, and the Auto
Scaling group after it; in between, this removes what still holds the instances: scale-in protection (on the group for
new instances, and on each instance) and the termination lifecycle hooks, whose owner (ECS managed draining) is gone.
It does so only when no capacity provider manages the group any more (see `release`).

Create and update do nothing. The physical id is the group's name, so when the group is replaced, CloudFormation's
clean-up deletes this resource for the old group, releasing its instances too.

Standard library and boto3, present in the Lambda runtime.
"""

from __future__ import annotations

import json
import urllib.request

BATCH = 50  # SetInstanceProtection takes at most 50 instances per call
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"


def managing_capacity_provider(group_name: str, ecs) -> str | None:
    """The name of an active capacity provider that still manages the group, if any."""
    suffix = f":autoScalingGroupName/{group_name}"
    token = None
    while True:
        page = ecs.describe_capacity_providers(**({"nextToken": token} if token else {}))
        for provider in page["capacityProviders"]:
            arn = provider.get("autoScalingGroupProvider", {}).get("autoScalingGroupArn", "")
            if provider["status"] == "ACTIVE" and arn.endswith(suffix) \
                    and not provider.get("updateStatus", "").startswith("DELETE"):
                return provider["name"]
        token = page.get("nextToken")
        if not token:
            return None


def release(group_name: str, autoscaling, ecs) -> dict:
    """Removes scale-in protection and termination hooks from the group, once no capacity provider manages it.

    CloudFormation also deletes this resource when the group lives on: an update that added it rolls back, or the
    app goes back to a version without it. Its capacity provider is then still active, and the group keeps the
    protection ECS relies on. A group that is gone needs nothing.
    """
    provider = managing_capacity_provider(group_name, ecs)
    if provider:
        return {"group": group_name, "released": False, "reason": f"capacity provider {provider} still manages it"}
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group_name])["AutoScalingGroups"]
    if not groups:
        return {"group": group_name, "released": False, "reason": "the group is gone"}
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=group_name, NewInstancesProtectedFromScaleIn=False)
    protected = [instance["InstanceId"] for instance in groups[0]["Instances"] if instance.get("ProtectedFromScaleIn")]
    for start in range(0, len(protected), BATCH):
        autoscaling.set_instance_protection(AutoScalingGroupName=group_name, InstanceIds=protected[start:start + BATCH],
                                            ProtectedFromScaleIn=False)
    hooks = autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=group_name)["LifecycleHooks"]
    removed = [hook["LifecycleHookName"] for hook in hooks if hook["LifecycleTransition"] == TERMINATING]
    for name in removed:
        autoscaling.delete_lifecycle_hook(AutoScalingGroupName=group_name, LifecycleHookName=name)
    return {"group": group_name, "released": True, "unprotected": protected, "hooks_removed": removed}


def respond(event: dict, status: str, physical_id: str, reason: str = "") -> None:
    """Answers CloudFormation through the pre-signed URL of the request (what cfn-response does)."""
    body = json.dumps({
        "Status": status, "Reason": reason or "see the function's log", "PhysicalResourceId": physical_id,
        "StackId": event["StackId"], "RequestId": event["RequestId"], "LogicalResourceId": event["LogicalResourceId"],
    }).encode()
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT",
                                     headers={"Content-Type": "", "Content-Length": str(len(body))})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def handler(event: dict, context, autoscaling=None, ecs=None) -> None:
    group_name = event["ResourceProperties"]["AutoScalingGroupName"]
    # On delete, the id names the group this resource was created for (after a replacement: the old group).
    physical_id = event.get("PhysicalResourceId", group_name) if event["RequestType"] == "Delete" else group_name
    status, reason = "SUCCESS", ""
    try:
        if event["RequestType"] == "Delete":
            if autoscaling is None:
                import boto3

                autoscaling, ecs = boto3.client("autoscaling"), boto3.client("ecs")
            print(json.dumps(release(physical_id, autoscaling, ecs)))
    except Exception as error:  # CloudFormation must always get an answer, or the stack waits for the timeout
        status, reason = "FAILED", f"releasing {physical_id}: {type(error).__name__}: {error}"[:500]
        print(reason)
    respond(event, status, physical_id, reason)
