"""The capacity check: placement arithmetic on several instance types, the peak a deployment strategy adds, and how
the result reaches the user (a synth warning, an error, or nothing)."""

from __future__ import annotations

import pytest
from aws_cdk import App
from aws_cdk.assertions import Annotations, Match

from portkey_gateway import GatewayStack, capacity, settings_from_dict
from portkey_gateway.capacity import INSTANCE_SPECS, Demand, instances_needed

from .conftest import CLI_CONTEXT, variant
from .test_config import error_of

# The guide's production example: 20 gateway tasks of 1 vCPU / 2 GiB and 2 data-service tasks of 0.5 vCPU / 1 GiB.
GUIDE_PRODUCTION = (Demand("gateway", 20, 1024, 2048, "max"), Demand("data service", 2, 512, 1024, "desired"))


@pytest.mark.parametrize("instance_type,trunking,expected", [
    # t4g has no ENI trunking: 2 awsvpc tasks per instance (3 interfaces, one the instance's), whatever CPU is left
    ("t4g.large", False, 11),
    ("t4g.large", True, 11),  # the account setting changes nothing on t4g
    ("t4g.medium", False, 20),  # memory decides: ~3891 MiB hold one 2048 MiB gateway task (and one data-service task)
    ("t4g.2xlarge", False, 8),  # 4 interfaces: 3 tasks each
    ("m7g.xlarge", False, 8),  # 4 interfaces: 3 tasks each, though 4096 CPU would hold 4 gateway tasks
    ("m7g.xlarge", True, 6),  # with trunking (20 tasks) CPU decides: 4 gateway tasks, or 3 and both data-service tasks
    ("m7g.large", True, 11),  # trunking lifts the interface limit to 10, but 2048 CPU hold 2 gateway tasks
    ("c7g.4xlarge", False, 4),  # 8 interfaces: 7 tasks each
    ("c7g.4xlarge", True, 2),
])
def test_instances_needed_for_the_guides_production_peak(instance_type, trunking, expected):
    assert instances_needed(INSTANCE_SPECS[instance_type], GUIDE_PRODUCTION, trunking) == expected


def test_registered_resources_follow_the_agent():
    large = INSTANCE_SPECS["t4g.large"]
    assert (large.cpu_units, large.memory_mib, large.task_slots(True)) == (2048, 7782, 2)
    assert INSTANCE_SPECS["m6g.medium"].task_slots(True) == 4 and INSTANCE_SPECS["m6g.medium"].task_slots(False) == 1
    assert INSTANCE_SPECS["r7g.2xlarge"].memory_mib == int(64 * 1024 * 0.95)
    assert instances_needed(INSTANCE_SPECS["t4g.nano"], (Demand("gateway", 1, 256, 1024, ""),), False) is None  # too large


def guide_production(**changes) -> dict:
    return variant(**{
        "instance_type": "t4g.large", "min_asg_size": 2, "max_asg_size": 10, "desired_asg_size": 3,
        "gateway_config": {"desired_task_count": 3, "cpu": 1024, "memory": 2048},
        "gateway_autoscaling": {"enable_autoscaling": True, "autoscaling_min_capacity": 3, "autoscaling_max_capacity": 20,
                                "target_cpu_utilization": 70, "target_memory_utilization": 80,
                                "scale_in_cooldown": 120, "scale_out_cooldown": 60},
        "gateway_deployment_configuration": {"enable_blue_green": True},
        **changes,
    })


def test_blue_green_needs_a_second_fleet_and_rolling_one_more_task():
    blue_green = capacity.peak_demands(settings_from_dict(guide_production()))
    assert [(d.name, d.tasks, d.why) for d in blue_green] == [
        ("gateway", 40, "2 x 20 during a blue/green deploy"), ("redis", 2, "1 + 1 while rolling")]
    rolling = capacity.peak_demands(settings_from_dict(guide_production(gateway_deployment_configuration=None)))
    assert rolling[0].tasks == 21


def test_the_report_states_the_numbers_and_the_smallest_fix():
    report = capacity.check(settings_from_dict(guide_production()))
    assert not report.fits and report.needed == 21
    assert report.message() == (
        "at the deployment peak (gateway 40 x 1024 CPU/2304 MiB (2 x 20 during a blue/green deploy), redis 2 x 256 "
        "CPU/512 MiB (1 + 1 while rolling)) the tasks need 21 t4g.large instances (2048 CPU, ~7782 MiB and 2 awsvpc "
        "task slots each), but max_asg_size is 10: tasks would wait in PROVISIONING; raise max_asg_size to 21, or use "
        "instance_type c6g.4xlarge (6 instances)")
    assert capacity.check(settings_from_dict(guide_production(max_asg_size=21))).fits


def test_a_warning_at_synth_by_default_an_error_or_nothing_on_request():
    def warnings(data: dict) -> list:
        app = App(context=CLI_CONTEXT)
        stack = GatewayStack(app, "Capacity", settings=settings_from_dict(data))
        return Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp("deployment peak"))

    (warning,) = warnings(guide_production())
    assert "raise max_asg_size to 21" in warning.entry.data
    assert warnings(guide_production(capacity_check="off")) == []
    assert warnings(guide_production(max_asg_size=21)) == []
    message = error_of(guide_production(capacity_check="error"))
    assert message.startswith("cfg.yaml: max_asg_size: at the deployment peak (gateway 40 x 1024 CPU") and \
        message.endswith("; raise max_asg_size to 21, or use instance_type c6g.4xlarge (6 instances)")
    assert "instance_type: m8g.large is not in the capacity table" in error_of(
        guide_production(capacity_check="error", instance_type="m8g.large"))
