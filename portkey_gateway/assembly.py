"""Reading a synthesized cloud assembly (cdk.out) without the CDK: what `make cost` and `make diagram` share.

The manifest lists the stacks; each stack's template is a JSON file beside it. The helpers read a template's
resources the way CloudFormation resolves them when it creates them (defaults included), so that both tools count the
same instances, cache nodes and internet-facing load balancers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

STACK = "aws:cloudformation:stack"
# What the CDK writes into `aws://account/region` for an environment-agnostic stack.
UNKNOWN = frozenset({"unknown-account", "unknown-region"})


class AssemblyError(Exception):
    """Why the assembly cannot be read, in one line (the tools print it and exit 2)."""


@dataclass(frozen=True)
class Stack:
    name: str
    region: Optional[str]  # None for an environment-agnostic stack
    template: dict


def _json(path: Path) -> Any:
    if not path.is_file():
        raise AssemblyError(f"no {path}: synthesize first (make synth)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise AssemblyError(f"{path} is not valid JSON ({error}): synthesize again (make synth)") from None


def read_stacks(directory: str | Path) -> list[Stack]:
    """Every CloudFormation stack of the assembly, in the manifest's order, with its region (`aws://acct/region`)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise AssemblyError(f"no {directory}: synthesize first (make synth)")
    manifest = directory / "manifest.json"
    stacks = [Stack(name, region(artifact.get("environment", "")),
                    _json(directory / artifact["properties"]["templateFile"]))
              for name, artifact in _json(manifest).get("artifacts", {}).items() if artifact.get("type") == STACK]
    if not stacks:
        raise AssemblyError(f"no CloudFormation stack in {manifest}")
    return stacks


def region(environment: str) -> Optional[str]:
    """The region of an artifact's `aws://account/region`; None when the CDK could not tell (unknown-region)."""
    name = environment.rpartition("/")[2]
    return None if not name or name in UNKNOWN else name


def of_type(resources: dict, resource_type: str) -> list[tuple[str, dict]]:
    """(logical id, properties) of each resource of one type."""
    return [(key, value.get("Properties", {})) for key, value in resources.items() if value["Type"] == resource_type]


def ref(value: Any) -> Optional[str]:
    """The logical id a Ref or Fn::GetAtt points at; None for literals and other intrinsics."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0]
    return None


def refs(values: Any) -> list[str]:
    """The logical ids a list property references, in order (literals left out)."""
    return [found for found in map(ref, values or []) if found]


def asg_instances(asg: dict) -> int:
    """Instances an Auto Scaling group runs once created: its desired capacity, else its minimum."""
    return int(asg.get("DesiredCapacity", asg["MinSize"]))


def cache_nodes(group: dict) -> int:
    """Nodes of a replication group: NumCacheClusters (cluster mode off), else shards x (replicas + 1)."""
    if "NumCacheClusters" in group:
        return int(group["NumCacheClusters"])
    return int(group.get("NumNodeGroups", 1)) * (int(group.get("ReplicasPerNodeGroup", 0)) + 1)


def internet_facing(balancer: dict) -> bool:
    """Whether a load balancer is internet-facing: CloudFormation's default when `Scheme` is left out."""
    return balancer.get("Scheme", "internet-facing") == "internet-facing"
