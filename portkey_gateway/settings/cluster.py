"""Cluster settings: the ECS cluster, its Auto Scaling group and capacity provider (or existing ones), and whether
the tasks fit on them."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Optional

from pydantic import Field

from .. import capacity
from .base import FieldProblem, Percent, SettingsModel, in_range, pattern

_GRAVITON = re.compile(r"^[a-z]+\d+g[a-z]*\.[a-z0-9]+$")


class InstanceRefresh(SettingsModel):
    enabled: bool = Field(False, description="Replace instances in batches when the launch template changes.")
    min_healthy_percentage: Annotated[int, in_range(0, 100)] = Field(50, description="Capacity kept in service (%).")
    max_healthy_percentage: Annotated[int, in_range(100, 200)] = Field(100, description="Capacity ceiling while replacing (%).")
    instance_warmup: int = Field(300, ge=0, description="Seconds before a new instance counts as in service.")


class ClusterSettings(SettingsModel):
    """The instances the tasks run on."""

    create_cluster: bool = Field(True, description="Create the ECS cluster, ASG and capacity provider.")
    cluster_name: Optional[str] = Field(None, description="Existing cluster (create_cluster: false).")
    capacity_provider_name: Optional[str] = Field(None, description="Existing capacity provider (create_cluster: false).")
    instance_type: Annotated[str, pattern(_GRAVITON, "a Graviton (arm64) instance type",
                                          "the ECS AMI is ARM64: use a type with 'g', e.g. t4g.medium or m7g.large")] = Field(
        "t4g.medium", description="Graviton instance type of the ASG."
    )
    max_asg_size: int = Field(3, ge=1, description="ASG maximum.")
    min_asg_size: int = Field(1, ge=0, description="ASG minimum.")
    desired_asg_size: int = Field(2, ge=0, description="ASG initial size; the capacity provider manages it afterwards.")
    target_capacity: Percent = Field(100, description="Capacity-provider target utilisation (%).")
    instance_refresh: InstanceRefresh = Field(default_factory=InstanceRefresh, description="Instance replacement on change.")
    eni_trunking: bool = Field(
        False, description="The account has ECS awsvpcTrunking on: the capacity check counts trunk interfaces on types that support it (not t4g)."
    )
    instance_session_manager: bool = Field(
        False, description="Session Manager shells on the instances (never SSH or key pairs), recorded in the exec log group "
                           "through the <project>-<environment>-instance-session document."
    )
    capacity_check: Literal["warn", "error", "off"] = Field(
        "warn", description="When the tasks at their deployment peak cannot fit on max_asg_size instances: warn at synth, refuse, or stay silent."
    )

    def _cluster(self) -> None:
        if not self.create_cluster:
            for name, what in (("cluster_name", "ECS cluster"), ("capacity_provider_name", "capacity provider")):
                if not getattr(self, name):
                    raise FieldProblem(name, "is required when create_cluster is false", f"name the existing {what}")
            if self.instance_session_manager:
                raise FieldProblem("instance_session_manager", "the instances of an existing cluster are not managed here",
                                   "remove it, or set create_cluster: true")
        else:
            for name in ("cluster_name", "capacity_provider_name"):
                if getattr(self, name):
                    raise FieldProblem(name, "is only used when create_cluster is false", "remove it, or set create_cluster: false")
            if not self.min_asg_size <= self.desired_asg_size <= self.max_asg_size:
                raise FieldProblem("desired_asg_size", f"{self.desired_asg_size} is not between min_asg_size "
                                   f"({self.min_asg_size}) and max_asg_size ({self.max_asg_size})", "make min <= desired <= max")

    def _capacity(self) -> None:
        if not self.create_cluster:
            for name in ("capacity_check", "eni_trunking"):
                if self.changed(name):
                    raise FieldProblem(name, "the instances of an existing cluster are unknown here", "remove it")
        elif self.capacity_check == "error":
            report = capacity.check(self)
            if not report.fits:
                field = "max_asg_size" if report.checked and report.needed is not None else "instance_type"
                raise FieldProblem(field, report.problem, report.fix)
