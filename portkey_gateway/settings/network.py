"""Network settings: a VPC created here, or an existing one by its ids, and the availability zones in use."""

from __future__ import annotations

import re
import string
from typing import Annotated, Optional

from pydantic import Field

from .base import Cidr, FieldProblem, SettingsModel, pattern

_VPC_ID = re.compile(r"^vpc-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
_SUBNET_ID = re.compile(r"^subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})$")


class NetworkSettings(SettingsModel):
    """The VPC and its subnets. `availability_zones`, checked here, sits with the region, where the module has it."""

    create_new_vpc: bool = Field(description="Create a VPC (true) or use an existing one (false).")
    vpc_cidr: Optional[Cidr] = Field(
        None, description="CIDR of the new VPC; with an existing VPC, its CIDR (default ingress of an internal LB)."
    )
    num_az: int = Field(2, ge=1, le=6, description="Number of availability zones.")
    single_nat_gateway: bool = Field(True, description="One NAT gateway (true) or one per AZ (false).")
    vpc_id: Optional[Annotated[str, pattern(_VPC_ID, "a VPC id", "use the id of an existing VPC, e.g. vpc-0123456789abcdef0")]] = Field(
        None, description="Existing VPC id."
    )
    public_subnet_ids: list[Annotated[str, pattern(_SUBNET_ID, "a subnet id", "use e.g. subnet-0123456789abcdef0")]] = Field(
        default_factory=list, description="Existing public subnets (internet-facing LB)."
    )
    private_subnet_ids: list[Annotated[str, pattern(_SUBNET_ID, "a subnet id", "use e.g. subnet-0123456789abcdef0")]] = Field(
        default_factory=list, description="Existing private subnets (tasks, instances, internal LB)."
    )

    def _network(self) -> None:
        if self.availability_zones is not None:
            bad = [az for az in self.availability_zones if not re.fullmatch(re.escape(self.aws_region) + r"[a-z]", az)]
            if bad:
                raise FieldProblem("availability_zones", f"{bad[0]!r} is not an AZ of {self.aws_region}",
                                   f"use names like {self.aws_region}a")
            if not self.availability_zones:
                raise FieldProblem("availability_zones", "is empty", "list the AZs, or remove it to derive them")
            if len(set(self.availability_zones)) != len(self.availability_zones):
                raise FieldProblem("availability_zones", "must list distinct AZs", "remove the duplicates")
            if "num_az" in self.model_fields_set and self.num_az != len(self.availability_zones):
                raise FieldProblem("num_az", f"is {self.num_az} but availability_zones lists {len(self.availability_zones)}",
                                   "remove num_az or make the two agree")
        if self.create_new_vpc:
            if not self.vpc_cidr:
                raise FieldProblem("vpc_cidr", "is required when create_new_vpc is true", "set e.g. vpc_cidr: 10.0.0.0/16")
            for name in ("vpc_id", "public_subnet_ids", "private_subnet_ids"):
                if getattr(self, name):
                    raise FieldProblem(name, "is only used when create_new_vpc is false", "remove it, or set create_new_vpc: false")
            prefix = int(self.vpc_cidr.split("/")[1])
            if not 16 <= prefix <= 24:
                raise FieldProblem("vpc_cidr", f"/{prefix} is outside /16../24 (subnets are /{prefix}+4 slices)",
                                   "use a /16 to /24 network")
            if 2 * self.az_count > 16:
                raise FieldProblem("num_az", f"{self.az_count} AZs need {2 * self.az_count} /+4 subnets, but a CIDR holds 16",
                                   "use at most 8 AZs")
        else:
            if not self.vpc_id:
                raise FieldProblem("vpc_id", "is required when create_new_vpc is false", "set the id of the existing VPC")
            if not self.private_subnet_ids:
                raise FieldProblem("private_subnet_ids", "is required when create_new_vpc is false",
                                   "list the private subnets for tasks and instances")

    @property
    def az_count(self) -> int:
        return len(self.availability_zones) if self.availability_zones else self.num_az

    @property
    def azs(self) -> list[str]:
        """The AZs in use, from config or derived from the region; deterministic, no lookup."""
        if self.availability_zones:
            return list(self.availability_zones)
        return [f"{self.aws_region}{letter}" for letter in string.ascii_lowercase[: self.num_az]]
