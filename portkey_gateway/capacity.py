"""Will the tasks fit? EC2-backed ECS does not fail a deployment whose tasks cannot be placed: they wait in
PROVISIONING. This checks, before anything is deployed, that every service at its maximum task count, during a
deployment, fits on `max_asg_size` instances of `instance_type` (CPU units, memory, and network interfaces: every
awsvpc task takes one, unless the account has ECS ENI trunking on and the type supports it), and names the smallest
fix when it does not.

Pure arithmetic on the settings; no CDK.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from . import llm_metrics

if TYPE_CHECKING:
    from .settings import Settings


@dataclass(frozen=True)
class InstanceSpec:
    vcpus: int
    memory_gib: float
    max_enis: int  # network interfaces the type can attach; the first is the instance's own
    trunk_tasks: Optional[int] = None  # awsvpc tasks per instance with ECS ENI trunking; None: not supported

    @property
    def cpu_units(self) -> int:
        return self.vcpus * 1024  # what the ECS agent registers; it reserves none

    @property
    def memory_mib(self) -> int:
        return int(self.memory_gib * 1024 * MEMTOTAL_SHARE)

    def task_slots(self, trunking: bool) -> int:
        """awsvpc tasks per instance: one per network interface beyond the instance's own, or the trunk's count."""
        return self.trunk_tasks if trunking and self.trunk_tasks else self.max_enis - 1


# The agent registers the kernel's MemTotal (ECS_RESERVED_MEMORY defaults to 0), which is below the nominal memory:
# the ECS guide's m4.large example registers 7985 of 8192 MiB (97.5 %). Small instances lose a larger share to the
# kernel, so the check assumes 95 %.
MEMTOTAL_SHARE = 0.95

# Sources: vCPUs and memory from the EC2 instance-type specifications; network interfaces from "Maximum IP addresses
# per network interface" (EC2 user guide); trunking from "Supported Amazon EC2 instance types" for ENI trunking (ECS
# developer guide), where T-family (t4g) instances are absent (containers-roadmap #1094).
_SIZES = ("medium", "large", "xlarge", "2xlarge", "4xlarge")
_SIZE_VCPUS = dict(zip(_SIZES, (1, 2, 4, 8, 16)))
_SIZE_ENIS = dict(zip(_SIZES, (2, 3, 4, 4, 8)))
_SIZE_TRUNK_TASKS = dict(zip(_SIZES, (4, 10, 20, 40, 60)))
_GIB_PER_VCPU = {"c": 2, "m": 4, "r": 8}

INSTANCE_SPECS: dict[str, InstanceSpec] = {
    "t4g.nano": InstanceSpec(2, 0.5, 2),
    "t4g.micro": InstanceSpec(2, 1, 2),
    "t4g.small": InstanceSpec(2, 2, 3),
    "t4g.medium": InstanceSpec(2, 4, 3),
    "t4g.large": InstanceSpec(2, 8, 3),
    "t4g.xlarge": InstanceSpec(4, 16, 4),
    "t4g.2xlarge": InstanceSpec(8, 32, 4),
    **{
        f"{family}.{size}": InstanceSpec(_SIZE_VCPUS[size], _SIZE_VCPUS[size] * _GIB_PER_VCPU[family[0]],
                                         _SIZE_ENIS[size], _SIZE_TRUNK_TASKS[size])
        for family in ("c6g", "m6g", "r6g", "c7g", "m7g", "r7g")
        for size in _SIZES
    },
}


@dataclass(frozen=True)
class Demand:
    """One service's tasks at the deployment peak."""

    name: str
    tasks: int
    cpu: int
    memory: int
    why: str  # how the count was reached, for the message


@dataclass(frozen=True)
class CapacityReport:
    instance_type: str
    max_instances: int
    demands: tuple[Demand, ...]
    trunking: bool  # the account's awsvpcTrunking setting is on (counts only on types that support it)
    needed: Optional[int]  # instances the peak needs; None when a single task is larger than one instance
    alternative: Optional[tuple[str, int]] = None  # a type that fits within max_instances, and how many it needs

    @property
    def checked(self) -> bool:
        return self.instance_type in INSTANCE_SPECS

    @property
    def fits(self) -> bool:
        return self.checked and self.needed is not None and self.needed <= self.max_instances

    @property
    def problem(self) -> str:
        peak = ", ".join(f"{d.name} {d.tasks} x {d.cpu} CPU/{d.memory} MiB ({d.why})" for d in self.demands)
        if not self.checked:
            return f"{self.instance_type} is not in the capacity table, so the placement of {peak} cannot be checked"
        spec = INSTANCE_SPECS[self.instance_type]
        slots = spec.task_slots(self.trunking)
        size = f"{spec.cpu_units} CPU, ~{spec.memory_mib} MiB and {slots} awsvpc task slot{'s' if slots != 1 else ''} each"
        if self.needed is None:
            return f"at the deployment peak ({peak}) a task is larger than one {self.instance_type} ({size})"
        return (f"at the deployment peak ({peak}) the tasks need {self.needed} {self.instance_type} instances ({size}), "
                f"but max_asg_size is {self.max_instances}: tasks would wait in PROVISIONING")

    @property
    def fix(self) -> str:
        if not self.checked:
            return f"use one of {', '.join(INSTANCE_SPECS)}, or set capacity_check: warn"
        other = ""
        if self.alternative:
            name, count = self.alternative
            other = f"instance_type {name} ({count} instance{'s' if count > 1 else ''})"
        if self.needed is None:
            return f"use {other}" if other else "use a larger instance_type or smaller tasks"
        return f"raise max_asg_size to {self.needed}" + (f", or use {other}" if other else "")

    def message(self) -> str:
        return f"{self.problem}; {self.fix}"


def instances_needed(spec: InstanceSpec, demands: tuple[Demand, ...], trunking: bool, limit: int = 1000) -> Optional[int]:
    """Instances of `spec` that hold every task, placing the largest first on the first instance with room
    (ECS's binpack places similarly); None when one task alone is too large or more than `limit` would be needed."""
    tasks = sorted(((d.cpu, d.memory) for d in demands for _ in range(d.tasks)), reverse=True)
    slots = spec.task_slots(trunking)
    if any(cpu > spec.cpu_units or memory > spec.memory_mib for cpu, memory in tasks) or slots < 1:
        return None
    free: list[list[int]] = []  # per instance: CPU, memory, task slots left
    for cpu, memory in tasks:
        for room in free:
            if room[0] >= cpu and room[1] >= memory and room[2] >= 1:
                break
        else:
            if len(free) == limit:
                return None
            room = [spec.cpu_units, spec.memory_mib, slots]
            free.append(room)
        room[0] -= cpu
        room[1] -= memory
        room[2] -= 1
    return len(free)


def peak_demands(settings: "Settings") -> tuple[Demand, ...]:
    """Every service at its maximum task count, plus what a deployment adds: a full second fleet for blue/green,
    canary and linear (ECS starts all new tasks before shifting traffic), one task for a rolling deployment (with
    minimum healthy 100 % a new task must start before an old one stops)."""
    demands = []
    gateway_max = _maximum(settings.gateway_config.desired_task_count, settings.gateway_autoscaling)
    # The LLM-metrics collector beside each gateway task adds its memory to the task (and shares the task's CPU:
    # specs.llm_metrics_collector).
    cpu = settings.gateway_config.cpu
    memory = settings.gateway_config.memory + (llm_metrics.COLLECTOR_MEMORY_MIB if settings.collects_llm_metrics else 0)
    if settings.deployment_strategy == "ROLLING":
        demands.append(Demand("gateway", gateway_max + 1, cpu, memory, f"{gateway_max} + 1 while rolling"))
    else:
        demands.append(Demand("gateway", 2 * gateway_max, cpu, memory,
                              f"2 x {gateway_max} during a {settings.deployment_strategy.lower().replace('_', '/')} deploy"))
    data = settings.dataservice_config
    if data.enable_dataservice:
        data_max = _maximum(data.desired_task_count, settings.dataservice_autoscaling)
        demands.append(Demand("data service", data_max + 1, data.cpu, data.memory, f"{data_max} + 1 while rolling"))
    redis = settings.redis_configuration
    if redis.redis_type == "redis":
        demands.append(Demand("redis", 2, redis.cpu, redis.memory, "1 + 1 while rolling"))
    return tuple(d for d in demands if d.tasks)


def _maximum(desired: int, autoscaling) -> int:
    return autoscaling.autoscaling_max_capacity if autoscaling.enable_autoscaling else desired


def check(settings: "Settings") -> CapacityReport:
    demands, trunking = peak_demands(settings), settings.eni_trunking
    spec = INSTANCE_SPECS.get(settings.instance_type)
    needed = instances_needed(spec, demands, trunking) if spec else None
    report = CapacityReport(settings.instance_type, settings.max_asg_size, demands, trunking, needed)
    if report.fits or not report.checked:
        return report
    alternative = _larger_type(settings.instance_type, demands, trunking, settings.max_asg_size)
    return CapacityReport(settings.instance_type, settings.max_asg_size, demands, trunking, needed, alternative)


def _larger_type(current: str, demands: tuple[Demand, ...], trunking: bool, max_instances: int) -> Optional[tuple[str, int]]:
    """The smallest type (same family first) on which the peak fits within `max_instances`."""
    family = current.split(".")[0]
    ranked = sorted(INSTANCE_SPECS.items(),
                    key=lambda item: (item[0].split(".")[0] != family, item[1].vcpus, item[1].memory_gib, item[0]))
    for name, spec in ranked:
        needed = instances_needed(spec, demands, trunking, limit=max_instances)
        if needed is not None and name != current:
            return name, needed
    return None
