"""CloudFormation custom resource: on delete, lets the stack terminate the cluster's instances.

With managed termination protection, ECS protects instances from scale-in, and CloudFormation's delete of the Auto
Scaling group waits for instances that never terminate (aws-cdk issue 18179; the module has users scale every service
to zero by hand first). The stack deletes the services and the capacity provider before this resource, and the Auto
Scaling group after it; in between, this removes what still holds the instances: scale-in protection (on the group for
new instances, and on each instance) and the termination lifecycle hooks, whose owner (ECS managed draining) is gone.

Create and update do nothing. The physical id is the group's name, so when the group is replaced, CloudFormation's
clean-up deletes this resource for the old group, releasing its instances too.

Standard library and boto3, present in the Lambda runtime.
"""

from __future__ import annotations

import json
import urllib.request

BATCH = 50  # SetInstanceProtection takes at most 50 instances per call
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"


def release(group_name: str, autoscaling) -> dict:
    """Removes scale-in protection and termination hooks from the group; a group that is gone needs nothing."""
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group_name])["AutoScalingGroups"]
    if not groups:
        return {"group": group_name, "found": False}
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=group_name, NewInstancesProtectedFromScaleIn=False)
    protected = [instance["InstanceId"] for instance in groups[0]["Instances"] if instance.get("ProtectedFromScaleIn")]
    for start in range(0, len(protected), BATCH):
        autoscaling.set_instance_protection(AutoScalingGroupName=group_name, InstanceIds=protected[start:start + BATCH],
                                            ProtectedFromScaleIn=False)
    hooks = autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=group_name)["LifecycleHooks"]
    removed = [hook["LifecycleHookName"] for hook in hooks if hook["LifecycleTransition"] == TERMINATING]
    for name in removed:
        autoscaling.delete_lifecycle_hook(AutoScalingGroupName=group_name, LifecycleHookName=name)
    return {"group": group_name, "found": True, "unprotected": protected, "hooks_removed": removed}


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


def handler(event: dict, context, autoscaling=None) -> None:
    group_name = event["ResourceProperties"]["AutoScalingGroupName"]
    # On delete, the id names the group this resource was created for (after a replacement: the old group).
    physical_id = event.get("PhysicalResourceId", group_name) if event["RequestType"] == "Delete" else group_name
    status, reason = "SUCCESS", ""
    try:
        if event["RequestType"] == "Delete":
            if autoscaling is None:
                import boto3

                autoscaling = boto3.client("autoscaling")
            print(json.dumps(release(physical_id, autoscaling)))
    except Exception as error:  # CloudFormation must always get an answer, or the stack waits for the timeout
        status, reason = "FAILED", f"releasing {physical_id}: {type(error).__name__}: {error}"[:500]
        print(reason)
    respond(event, status, physical_id, reason)
