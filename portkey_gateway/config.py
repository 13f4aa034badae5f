"""Settings: the Terraform module's input variables as typed, validated, immutable pydantic models.

Field names, nesting and defaults are the module's (`terraform/ecs/variables.tf`, v2.0.0 plus the v2.0.1/v3.0.0
additions), so a tfvars file reads almost verbatim as YAML. Every rule that the module lacks, or that it states but
does not enforce, lives here as a validator whose message names the field and the fix. Nothing here imports CDK.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import math
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Optional
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from . import capacity


class FieldProblem(ValueError):
    """A problem with one field, raised from validators; `path` is relative to the model that raised it."""

    def __init__(self, path: str, problem: str, fix: str):
        self.path, self.problem, self.fix = path, problem, fix
        super().__init__(f"{path}: {problem}; {fix}" if path else f"{problem}; {fix}")


# --- value rules shared by several fields -------------------------------------------------------------------------

ALLOWED_CPU = (256, 512, 1024, 2048, 4096, 8192, 16384)
# The retention periods CloudWatch Logs accepts.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
ALLOWED_MEMORY = (512, 1024, 2048, 3072, 4096, 5120, 6144, 7168, 8192, 16384, 30720)

_PARTITION = r"aws(?:-cn|-us-gov)?"
_REGION = r"[a-z]{2}(?:-gov)?-[a-z]+-\d"
SECRET_ARN = re.compile(rf"^arn:{_PARTITION}:secretsmanager:{_REGION}:\d{{12}}:secret:[A-Za-z0-9/_+=.@-]+$")
POLICY_ARN = re.compile(rf"^arn:{_PARTITION}:iam::(?:\d{{12}}|aws):policy/[\w+=,.@/-]+$")
CERTIFICATE_ARN = re.compile(rf"^arn:{_PARTITION}:acm:{_REGION}:\d{{12}}:certificate/[0-9a-f-]+$")
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_GRAVITON = re.compile(r"^[a-z]+\d+g[a-z]*\.[a-z0-9]+$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_TAG_KEY = re.compile(r"^(?!aws:)[\w .:/=+\-@]{1,128}$")
_TAG_VALUE = re.compile(r"^[\w .:/=+\-@]{0,256}$")
STANDARD_TAGS = ("Project", "Environment", "ManagedBy")
# What the secrets stack creates (the module's cloudformation/secrets.yaml): the keys each secret's JSON holds.
MANAGED_SECRET_KEYS = {"docker-credentials": ("username", "password"),
                       "clientauth-organizations": ("PORTKEY_CLIENT_AUTH", "ORGANISATIONS_TO_SYNC")}
_DNS_NAME = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")
_PATH_PREFIX = re.compile(r"^(?:/[A-Za-z0-9._~-]+)+$")
_LOG_PREFIX = re.compile(r"^(?!.*AWSLogs)[A-Za-z0-9!_.*'()-]+(?:/[A-Za-z0-9!_.*'()-]+)*$")  # ELB refuses "AWSLogs"
_HOSTED_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,31}$")
_VPC_ID = re.compile(r"^vpc-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
_SUBNET_ID = re.compile(r"^subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})$")


def _pattern(regex: re.Pattern, what: str, fix: str, allow_empty: bool = False):
    def check(value: str) -> str:
        if not (allow_empty and value == "") and not regex.match(value):
            raise FieldProblem("", f"{value!r} is not {what}", fix)
        return value

    return AfterValidator(check)


def _one_of(allowed: tuple[int, ...]):
    def check(value: int) -> int:
        if value not in allowed:
            raise FieldProblem("", f"{value} is not allowed", f"use one of {', '.join(map(str, allowed))}")
        return value

    return AfterValidator(check)


def _in_range(low: int, high: int):
    def check(value: int) -> int:
        if not low <= value <= high:
            raise FieldProblem("", f"{value} is outside {low}..{high}", f"use a value from {low} to {high}")
        return value

    return AfterValidator(check)


def _ipv4_network(value: str) -> str:
    try:
        network = ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        raise FieldProblem("", f"{value!r} is not an IPv4 CIDR", "write it as a.b.c.d/n, e.g. 10.0.0.0/16") from None
    if str(network) != value:
        raise FieldProblem("", f"{value!r} has host bits set", f"use the network address {network}")
    return value


def _stringify(value: Any) -> Any:
    """Terraform's map(string) turns numbers and bools into strings; YAML gives us the typed values."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


SecretArn = Annotated[
    str,
    _pattern(SECRET_ARN, "a Secrets Manager secret ARN",
             "use the secret's ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>), never the secret value"),
]
PolicyArn = Annotated[str, _pattern(POLICY_ARN, "an IAM managed policy ARN", "use arn:aws:iam::<account>:policy/<name>")]
Cidr = Annotated[str, AfterValidator(_ipv4_network)]
Cpu = Annotated[int, _one_of(ALLOWED_CPU)]
Memory = Annotated[int, _one_of(ALLOWED_MEMORY)]
Port = Annotated[int, _in_range(1, 65535)]
RetentionDays = Annotated[int, _one_of(LOG_RETENTION_DAYS)]
Percent = Annotated[int, _in_range(1, 100)]
Name = Annotated[str, _pattern(_NAME, "a valid name", "use 1-32 lower-case letters, digits and hyphens")]
EnvName = Annotated[str, _pattern(_ENV_NAME, "a valid environment variable name",
                                  "use letters, digits and underscores, not starting with a digit")]
EnvValue = Annotated[str, BeforeValidator(_stringify)]
BucketName = Annotated[str, _pattern(_BUCKET, "a valid S3 bucket name", "use 3-63 lower-case letters, digits, dots, hyphens")]
Region = Annotated[str, _pattern(re.compile(f"^{_REGION}$"), "an AWS region", "use a region code such as us-east-1")]
DnsName = Annotated[str, _pattern(_DNS_NAME, "a DNS host name", "use lower-case labels joined by dots, e.g. gateway.example.com",
                                  allow_empty=True)]
PathPrefix = Annotated[str, _pattern(_PATH_PREFIX, "a path prefix",
                                     "start with '/', no trailing '/' or wildcard, e.g. /gateway")]

# TLS policies an ELB listener may use: the TLS 1.3 family (TLS 1.2 minimum), mapped to aws-cdk-lib's SslPolicy members.
TLS_POLICIES = {
    "ELBSecurityPolicy-TLS13-1-2-2021-06": "RECOMMENDED_TLS",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06": "TLS13_RES",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06": "TLS13_EXT1",
    "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06": "TLS13_EXT2",
    "ELBSecurityPolicy-TLS13-1-3-2021-06": "TLS13_13",
    "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09": "TLS13_12_PQ",
    "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09": "TLS13_12_RES_PQ",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-PQ-2025-09": "TLS13_12_EXT1_PQ",
    "ELBSecurityPolicy-TLS13-1-2-Ext2-PQ-2025-09": "TLS13_12_EXT2_PQ",
    "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09": "TLS13_13_PQ",
    "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04": "FIPS_TLS13_12",
    "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04": "FIPS_TLS13_12_RES",
    "ELBSecurityPolicy-TLS13-1-2-Ext0-FIPS-2023-04": "FIPS_TLS13_12_EXT0",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-FIPS-2023-04": "FIPS_TLS13_12_EXT1",
    "ELBSecurityPolicy-TLS13-1-2-Ext2-FIPS-2023-04": "FIPS_TLS13_12_EXT2",
    "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04": "FIPS_TLS13_13",
    "ELBSecurityPolicy-TLS13-1-2-FIPS-PQ-2025-09": "FIPS_TLS13_12_PQ",
    "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09": "FIPS_TLS13_12_RES_PQ",
    "ELBSecurityPolicy-TLS13-1-2-Ext0-FIPS-PQ-2025-09": "FIPS_TLS13_12_EXT0_PQ",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-FIPS-PQ-2025-09": "FIPS_TLS13_12_EXT1_PQ",
    "ELBSecurityPolicy-TLS13-1-2-Ext2-FIPS-PQ-2025-09": "FIPS_TLS13_12_EXT2_PQ",
    "ELBSecurityPolicy-TLS13-1-3-FIPS-PQ-2025-09": "FIPS_TLS13_13_PQ",
}


def _tls_policy(value: str) -> str:
    if value not in TLS_POLICIES:
        raise FieldProblem("", f"{value!r} is not a TLS 1.3 listener policy",
                           "use ELBSecurityPolicy-TLS13-1-2-2021-06 (the module's) or a newer ELBSecurityPolicy-TLS13-* policy")
    return value


def _web_url(value: str) -> str:
    """An absolute http(s) URL whose host is a DNS name (or an IP address)."""
    parts = urlsplit(value)
    host = parts.hostname or ""
    fix = "write the external URL clients use, with its scheme, e.g. https://mcp.example.com"
    if parts.scheme not in ("http", "https") or not host:
        raise FieldProblem("", f"{value!r} is not an http(s) URL", fix)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _DNS_NAME.match(host):
            raise FieldProblem("", f"{host!r} in {value!r} is not a valid host name", fix) from None
    return value


WebUrl = Annotated[str, BeforeValidator(lambda v: v.strip().rstrip("/") if isinstance(v, str) else v),
                   AfterValidator(lambda v: _web_url(v) if v else v)]


def nested_model(annotation: Any) -> type[BaseModel] | None:
    """The settings model inside a field's annotation (through Optional, Annotated, ...), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = nested_model(arg)
        if found:
            return found
    return None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True)

    def changed(self, name: str) -> bool:
        """The field holds something other than its default (a setting that then must have an effect)."""
        return getattr(self, name) != type(self).model_fields[name].get_default(call_default_factory=True)


# --- nested settings -----------------------------------------------------------------------------------------------


class ServiceEnvironment(_Model):
    """Plain environment variables per service (`environment_variables`)."""

    gateway: dict[EnvName, EnvValue] = Field(default_factory=dict, description="Gateway container variables.")
    data_service: dict[EnvName, EnvValue] = Field(
        default_factory=dict, alias="data-service", description="Data-service container variables."
    )


class ServiceSecrets(_Model):
    """Secrets per service: ENV_NAME -> Secrets Manager ARN. The secret's JSON must hold a key named ENV_NAME."""

    gateway: dict[EnvName, SecretArn] = Field(default_factory=dict, description="Gateway secrets (ENV_NAME: ARN).")
    data_service: dict[EnvName, SecretArn] = Field(
        default_factory=dict, alias="data-service", description="Data-service secrets (ENV_NAME: ARN)."
    )


class ImageRef(_Model):
    """A container image without its tag, and the tag. Bare Docker Hub names get the `docker.io/` prefix."""

    image: Annotated[str, _pattern(re.compile(r"^[a-z0-9][a-z0-9._/-]*[a-z0-9]$"), "an image repository without a tag",
                                   "write the repository only (e.g. portkeyai/gateway_enterprise) and put the tag in tag")]
    tag: Annotated[str, _pattern(_TAG, "a valid image tag", "use letters, digits, '_', '.' and '-', e.g. 2.16.0")]

    @property
    def reference(self) -> str:
        first = self.image.split("/", 1)[0]
        registry_given = "/" in self.image and ("." in first or first == "localhost")
        return f"{self.image if registry_given else 'docker.io/' + self.image}:{self.tag}"


class GatewayConfig(_Model):
    desired_task_count: int = Field(1, ge=0, description="Gateway tasks to run.")
    cpu: Cpu = Field(256, description="Task CPU units.")
    memory: Memory = Field(1024, description="Task memory (MiB).")
    gateway_port: Port = Field(8787, description="AI gateway container port.")
    mcp_port: Port = Field(8788, description="MCP gateway container port.")
    enable_execute_command: bool = Field(False, description="ECS Exec into gateway tasks.")

    @model_validator(mode="after")
    def _distinct_ports(self):
        if self.gateway_port == self.mcp_port:
            raise FieldProblem("mcp_port", f"equals gateway_port ({self.gateway_port})", "give the two listeners different ports")
        return self


class AutoscalingConfig(_Model):
    enable_autoscaling: bool = Field(False, description="Target-tracking autoscaling of the service.")
    autoscaling_min_capacity: int = Field(1, ge=0, description="Minimum tasks.")
    autoscaling_max_capacity: int = Field(3, ge=1, description="Maximum tasks.")
    target_cpu_utilization: Percent = Field(70, description="Target average CPU %.")
    target_memory_utilization: Percent = Field(70, description="Target average memory %.")
    scale_in_cooldown: int = Field(120, ge=0, le=86400, description="Seconds between scale-in steps.")
    scale_out_cooldown: int = Field(60, ge=0, le=86400, description="Seconds between scale-out steps.")
    target_requests_per_task: Optional[int] = Field(
        None, ge=1, description="Also track ALB requests per task per minute (gateway on an ALB only); unset: CPU and memory only."
    )

    @model_validator(mode="after")
    def _min_below_max(self):
        if self.autoscaling_min_capacity > self.autoscaling_max_capacity:
            raise FieldProblem("autoscaling_min_capacity", f"{self.autoscaling_min_capacity} exceeds autoscaling_max_capacity "
                               f"({self.autoscaling_max_capacity})", "lower the minimum or raise the maximum")
        return self


def _traffic_percent(low: float):
    """ECS shifts traffic in steps of 0.1 % from `low` to 100 %."""
    def check(value: float) -> float:
        if not low <= value <= 100 or abs(value * 10 - round(value * 10)) > 1e-9:
            raise FieldProblem("", f"{value} is not a percentage from {low:g} to 100 in steps of 0.1", f"use e.g. {max(low, 10):g}")
        return value

    return AfterValidator(check)


BakeMinutes = Annotated[int, _in_range(0, 1440)]  # what ECS accepts for every bake time


class CanaryConfiguration(_Model):
    canary_bake_time_in_minutes: BakeMinutes = Field(description="Minutes the canary share runs before the rest shifts.")
    canary_percent: Annotated[float, _traffic_percent(0.1)] = Field(
        description="Share of production traffic (%) sent to the new revision first (0.1-100)."
    )


class LinearConfiguration(_Model):
    step_bake_time_in_minutes: BakeMinutes = Field(description="Minutes between steps.")
    step_percent: Annotated[float, _traffic_percent(3)] = Field(description="Share of production traffic (%) shifted per step (3-100).")


# CloudFormation waits at most 36 h for a service update; ECS refuses traffic shifts whose bake times add up past 33 h.
MAX_SHIFT_MINUTES = 33 * 60


class DeploymentConfiguration(_Model):
    enable_blue_green: bool = Field(description="Native ECS blue/green deployment.")
    canary_configuration: Optional[CanaryConfiguration] = Field(None, description="Native ECS canary deployment.")
    linear_configuration: Optional[LinearConfiguration] = Field(None, description="Native ECS linear deployment.")
    bake_time_in_minutes: BakeMinutes = Field(
        1, description="Minutes both revisions stay up after all production traffic has shifted, for a quick rollback (module: fixed 1)."
    )

    @model_validator(mode="after")
    def _one_strategy(self):
        chosen = [name for name, on in (("enable_blue_green", self.enable_blue_green),
                                        ("canary_configuration", self.canary_configuration),
                                        ("linear_configuration", self.linear_configuration)) if on]
        if len(chosen) > 1:
            raise FieldProblem(chosen[1], f"conflicts with {chosen[0]}: one deployment strategy at a time (the module "
                               "silently picked one)", f"keep one of {' and '.join(chosen)}")
        if self.strategy == "ROLLING" and self.changed("bake_time_in_minutes"):
            raise FieldProblem("bake_time_in_minutes", "only applies to blue/green, canary and linear deployments",
                               "choose one of them, or remove it")
        if self.shift_minutes > MAX_SHIFT_MINUTES:
            raise FieldProblem("bake_time_in_minutes", f"the traffic shift would take {self.shift_minutes} minutes in all, "
                               f"more than the {MAX_SHIFT_MINUTES} ECS and CloudFormation allow", "shorten the bake times")
        return self

    @property
    def strategy(self) -> str:
        """BLUE_GREEN, CANARY, LINEAR, or ROLLING when none is chosen."""
        if self.enable_blue_green:
            return "BLUE_GREEN"
        if self.linear_configuration:
            return "LINEAR"
        if self.canary_configuration:
            return "CANARY"
        return "ROLLING"

    @property
    def shift_minutes(self) -> int:
        """Minutes from the first production traffic shift until the old revision is stopped (without NLB waits)."""
        if self.canary_configuration:
            return self.canary_configuration.canary_bake_time_in_minutes + self.bake_time_in_minutes
        if self.linear_configuration:
            steps = math.ceil(100 / self.linear_configuration.step_percent - 1e-9)
            return (steps - 1) * self.linear_configuration.step_bake_time_in_minutes + self.bake_time_in_minutes
        return self.bake_time_in_minutes if self.strategy == "BLUE_GREEN" else 0


class CircuitBreaker(_Model):
    enable: bool = Field(True, description="Stop a deployment whose tasks keep failing.")
    rollback: bool = Field(True, description="Roll a failed deployment back to the last good revision (needs enable).")

    @model_validator(mode="before")
    @classmethod
    def _no_rollback_without_breaker(cls, data: Any) -> Any:
        """`{enable: false}` alone means no breaker at all, so rollback follows it unless given."""
        if isinstance(data, dict) and data.get("enable") is False and "rollback" not in data:
            return {**data, "rollback": False}
        return data

    @model_validator(mode="after")
    def _rollback_needs_enable(self):
        if self.rollback and not self.enable:
            raise FieldProblem("rollback", "needs the circuit breaker", "set enable: true, or rollback: false")
        return self


class DeploymentAlarms(_Model):
    """CloudWatch alarms that ECS watches during a gateway deployment, rolling back on its own when one fires."""

    enabled: bool = Field(False, description="Attach the alarms to the gateway service as deployment alarms.")
    target_5xx_percent: float = Field(
        5, gt=0, le=100, description="Alarm when this share (%) of requests gets a 5xx from the tasks (ALB only)."
    )
    minimum_requests: int = Field(
        20, ge=1, description="Requests per minute below which the 5xx share is not judged (too few to mean anything)."
    )
    unhealthy_tasks: int = Field(1, ge=1, description="Alarm when this many targets fail the load balancer's health check.")
    evaluation_minutes: int = Field(2, ge=1, le=60, description="Consecutive minutes a condition must hold before the alarm fires.")


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_CACHE_NODE_ID = re.compile(r"^[a-z][a-z0-9-]{0,49}$")


class Monitoring(_Model):
    """Day-2 observability: a CloudWatch dashboard, and alarms on the signals that mean users are hurting, which
    notify the operations SNS topic. The gateway's two health alarms (thresholds in gateway_deployment_alarms) are the
    same alarms ECS watches during deployments."""

    dashboard: bool = Field(True, description="A CloudWatch dashboard of the environment (<project>-<env>).")
    alarms: bool = Field(True, description="Alarms that notify the operations SNS topic.")
    alarm_emails: list[Annotated[str, _pattern(_EMAIL, "an email address", "use e.g. oncall@example.com")]] = Field(
        default_factory=list, description="Email subscriptions to the operations topic: alarms and ECS events (with alarms on), Auto Scaling events (a cluster created here); each address must confirm."
    )
    lb_5xx_percent: float = Field(
        5, gt=0, le=100, description="Alarm when this share (%) of requests gets a 5xx from the ALB itself (502/503/504 "
                                     "without a target's answer)."
    )
    task_shortfall_minutes: Annotated[int, _in_range(1, 60)] = Field(
        10, description="Alarm when a service runs fewer tasks than desired for this long."
    )
    capacity_shortfall_minutes: Annotated[int, _in_range(1, 60)] = Field(
        15, description="Alarm when tasks wait this long for instances (capacity-provider reservation above 100 %)."
    )
    certificate_expiry_days: Annotated[int, _in_range(1, 365)] = Field(
        30, description="Alarm when the listener's certificate expires within this many days (an imported one does not renew)."
    )
    cache_node_ids: list[Annotated[str, _pattern(_CACHE_NODE_ID, "an ElastiCache node id",
                                                 "use a node's id (CacheClusterId), e.g. portkey-cache-0001-001")]] = Field(
        default_factory=list, description="Nodes of an existing ElastiCache to show and watch; a cache created here is watched without this."
    )
    cache_memory_percent: Percent = Field(90, description="Alarm when a cache node uses this much of its memory (%).")
    cache_cpu_percent: Percent = Field(90, description="Alarm when a cache node's engine CPU stays above this (%).")


# The stages of an ECS blue/green, canary or linear deployment, in order (ECS API: DeploymentLifecycleHook).
LIFECYCLE_STAGES = ("RECONCILE_SERVICE", "PRE_SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT",
                    "PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT")
# Stages at which the test listener reaches only the new revision and ECS does not re-run the hook during a rollback
# (it re-runs TEST_TRAFFIC_SHIFT and PRODUCTION_TRAFFIC_SHIFT, where a failing smoke test would fight the rollback).
SMOKE_TEST_STAGES = ("POST_TEST_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT")
# Names the module's documentation uses that ECS does not know, and what they most likely meant.
# (the closest stage a smoke test may use).
_MISNAMED_STAGES = {"PRE_TEST_TRAFFIC_SHIFT": "POST_TEST_TRAFFIC_SHIFT", "PRE_PROD_TRAFFIC_SHIFT": "POST_TEST_TRAFFIC_SHIFT",
                    "PRE_PRODUCTION_TRAFFIC_SHIFT": "POST_TEST_TRAFFIC_SHIFT", "PRE_SCALE_DOWN": "POST_PRODUCTION_TRAFFIC_SHIFT"}


def _smoke_test_stage(value: str) -> None:
    """A stage the smoke test may run at; the problem and the closest one that works, otherwise."""
    if value in SMOKE_TEST_STAGES:
        return
    fix = f"use {' or '.join(SMOKE_TEST_STAGES)}"
    if value in ("TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT"):
        raise FieldProblem("", f"{value}: ECS also runs it during a rollback, where a failing smoke test would fight the "
                           "rollback", fix)
    if value in LIFECYCLE_STAGES:
        raise FieldProblem("", f"{value}: the test listener does not reach the new revision yet, so the smoke test would "
                           "test the old one", fix)
    guess = _MISNAMED_STAGES.get(value) or next(iter(difflib.get_close_matches(value, SMOKE_TEST_STAGES, 1)), None)
    raise FieldProblem("", f"{value!r} is not an ECS lifecycle stage", f"did you mean {guess}? {fix}" if guess else fix)


SMOKE_RETRY_PAUSE_SECONDS = 5
MAX_SECONDS_PER_CHECK = 280  # up to three checks (two health routes, one request), within Lambda's 900 s with slack

_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")  # an HTTP token; the hook's handler checks secret headers alike
_HEADER_VALUE = re.compile(r"^[^\r\n\x00-\x08\x0a-\x1f\x7f\u0100-\U0010ffff]*$")  # one line of Latin-1 text


class SmokeRequest(_Model):
    """A request the hook sends through the test listener besides the health check, e.g. a cheap completion."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = Field("POST", description="HTTP method.")
    path: Annotated[str, _pattern(re.compile(r"^/[^\s]*$"), "a request path", "start with '/', e.g. /v1/chat/completions")] = Field(
        description="Path on the AI gateway (or the MCP gateway in mcp mode), without any routing prefix."
    )
    body: Optional[dict[str, Any]] = Field(None, description="JSON body.")
    headers: dict[Annotated[str, _pattern(_HEADER_NAME, "an HTTP header name", "use e.g. x-portkey-provider")],
                  Annotated[str, _pattern(_HEADER_VALUE, "a header value", "use one line of Latin-1 text")]] = Field(
        default_factory=dict, description="Plain headers (no credentials: use headers_secret_arn)."
    )
    headers_secret_arn: Optional[SecretArn] = Field(
        None, description="Secret whose JSON object holds more headers (e.g. x-portkey-api-key), read by the hook at run time."
    )
    expected_status: Annotated[int, _in_range(100, 599)] = Field(200, description="Status the new revision must answer with.")


class LifecycleHook(_Model):
    enable_lifecycle_hook: bool = Field(
        False, description="Smoke-test each new revision through the test listener and fail the deployment when it does not answer."
    )
    lifecycle_hook_stages: list[str] = Field(
        default_factory=list, description=f"Stages to test at; empty: {SMOKE_TEST_STAGES[0]} (before any production traffic)."
    )
    request_timeout_seconds: Annotated[int, _in_range(1, 120)] = Field(10, description="Timeout of each smoke-test request.")
    attempts: Annotated[int, _in_range(1, 10)] = Field(3, description="Tries per check, 5 s apart, before the stage fails.")
    smoke_request: Optional[SmokeRequest] = Field(None, description="An extra request to check besides the health path.")
    log_retention_days: RetentionDays = Field(30, description="Retention of the hook's log group (days).")
    egress_cidrs: list[Cidr] = Field(
        default_factory=list, description="Public addresses (your NAT gateways, /32) the hook leaves an existing VPC from; "
        "needed for an internet-facing load balancer there unless allowed_lb_cidrs admits everyone."
    )

    @model_validator(mode="after")
    def _stages_reach_the_new_revision(self):
        if not self.enable_lifecycle_hook:
            for name in ("request_timeout_seconds", "attempts", "smoke_request", "log_retention_days", "egress_cidrs"):
                if self.changed(name):
                    raise FieldProblem(name, "is only used when enable_lifecycle_hook is true",
                                       "set enable_lifecycle_hook: true, or remove it")
            return self
        per_check = self.attempts * (self.request_timeout_seconds + SMOKE_RETRY_PAUSE_SECONDS)
        if per_check > MAX_SECONDS_PER_CHECK:
            raise FieldProblem("attempts", f"{self.attempts} attempts of up to {self.request_timeout_seconds} s (+ "
                               f"{SMOKE_RETRY_PAUSE_SECONDS} s pauses) take {per_check} s per check; three checks must fit "
                               "in Lambda's 15 minutes", f"keep attempts x (request_timeout_seconds + "
                               f"{SMOKE_RETRY_PAUSE_SECONDS}) at most {MAX_SECONDS_PER_CHECK}")
        for i, stage in enumerate(self.lifecycle_hook_stages):  # checked only when used: the module's disabled blocks pass
            try:
                _smoke_test_stage(stage)
            except FieldProblem as problem:
                raise FieldProblem(f"lifecycle_hook_stages[{i}]", problem.problem, problem.fix) from None
        return self

    @property
    def stages(self) -> list[str]:
        return list(dict.fromkeys(self.lifecycle_hook_stages)) or [SMOKE_TEST_STAGES[0]]


class DataServiceConfig(_Model):
    enable_dataservice: bool = Field(False, description="Deploy the data service.")
    desired_task_count: int = Field(1, ge=0, description="Data-service tasks to run.")
    cpu: Cpu = Field(256, description="Task CPU units.")
    memory: Memory = Field(1024, description="Task memory (MiB).")
    port: Port = Field(8081, description="Data-service container port.")
    enable_execute_command: bool = Field(False, description="ECS Exec into data-service tasks.")


CREATED_CACHE_PORT = 6380  # not the default 6379 that scanners probe (AwsSolutions-AEC5); the URL carries it anyway
_CACHE_NODE = re.compile(r"^cache\.[a-z0-9]+\.[a-z0-9]+$")


class CreatedCache(_Model):
    """An ElastiCache for Valkey replication group created here, in the private subnets."""

    node_type: Annotated[str, _pattern(_CACHE_NODE, "an ElastiCache node type", "use e.g. cache.t4g.small or cache.r7g.large")] = Field(
        "cache.t4g.small", description="Node type."
    )
    replicas: Annotated[int, _in_range(0, 5)] = Field(
        1, description="Read replicas per shard; with one or more and several AZs: multi-AZ with automatic failover."
    )
    shards: Annotated[int, _in_range(1, 500)] = Field(1, description="Shards (node groups); more than one needs mode: cluster.")
    engine_version: Literal["7.2", "8.0", "8.1"] = Field("8.0", description="Valkey engine version.")
    snapshot_retention_days: Annotated[int, _in_range(1, 35)] = Field(7, description="Days daily snapshots are kept.")


_ENDPOINT = re.compile(r"^(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(?P<port>\d{1,5})$")
_SECURITY_GROUP_ID = re.compile(r"^sg-(?:[0-9a-f]{8}|[0-9a-f]{17})$")


class RedisConfiguration(_Model):
    redis_type: Literal["redis", "aws-elastic-cache"] = Field(
        "redis", description="`redis`: built-in Redis service; `aws-elastic-cache`: ElastiCache (an existing endpoint, or `create`)."
    )
    cpu: Cpu = Field(256, description="Built-in Redis task CPU units.")
    memory: Memory = Field(512, description="Built-in Redis task memory (MiB).")
    endpoint: str = Field(
        "", description="Existing ElastiCache endpoint host:port: the primary endpoint, or in cluster mode the configuration endpoint."
    )
    tls: bool = Field(False, description="TLS to an existing ElastiCache (a created one always uses TLS).")
    mode: Literal["standalone", "cluster"] = Field("standalone", description="Redis topology.")
    enable_execute_command: bool = Field(False, description="ECS Exec into the built-in Redis task.")
    auth_secret_arn: Optional[SecretArn] = Field(
        None, description="Existing ElastiCache: secret whose JSON key REDIS_PASSWORD holds the AUTH token, given to both services."
    )
    security_group_id: Optional[Annotated[str, _pattern(_SECURITY_GROUP_ID, "a security group id", "use e.g. sg-0123456789abcdef0")]] = Field(
        None, description="Existing ElastiCache's security group: the gateway and data service are admitted on its port."
    )
    create: Optional[CreatedCache] = Field(None, description="Create an ElastiCache for Valkey cache instead of naming one.")

    @model_validator(mode="after")
    def _consistent(self):
        if self.redis_type == "redis":
            fix = "remove it, or use redis_type: aws-elastic-cache"
            for name in ("endpoint", "auth_secret_arn", "security_group_id", "create"):
                if getattr(self, name):
                    raise FieldProblem(name, "is only used with redis_type aws-elastic-cache", fix)
            if self.tls:
                raise FieldProblem("tls", "the built-in Redis has no TLS", "set tls: false, or use redis_type: aws-elastic-cache")
            if self.mode != "standalone":
                raise FieldProblem("mode", "the built-in Redis is a single standalone node",
                                   "set mode: standalone, or use redis_type: aws-elastic-cache")
            return self
        for name in ("cpu", "memory", "enable_execute_command"):
            if self.changed(name):
                raise FieldProblem(name, "is only used by the built-in Redis (redis_type: redis)", "remove it")
        if self.create:
            for name in ("endpoint", "auth_secret_arn", "security_group_id"):
                if getattr(self, name):
                    raise FieldProblem(name, "is only used with an existing ElastiCache: the created cache provides its own",
                                       "remove it, or remove create")
            if "tls" in self.model_fields_set and not self.tls:
                raise FieldProblem("tls", "a created cache always encrypts in transit (its AUTH token requires it)",
                                   "remove tls, or set it to true")
            if self.create.shards > 1 and self.mode != "cluster":
                raise FieldProblem("create.shards", "more than one shard needs cluster mode", "set mode: cluster, or shards: 1")
            return self
        match = _ENDPOINT.match(self.endpoint)
        if not match or not 1 <= int(match["port"]) <= 65535:
            raise FieldProblem("endpoint", f"{self.endpoint!r} is not host:port" if self.endpoint else
                               "is required with redis_type aws-elastic-cache (or set create)",
                               "use the primary endpoint, e.g. master.portkey.abc123.use1.cache.amazonaws.com:6379; in cluster "
                               "mode the configuration endpoint (...clustercfg...:6379)")
        return self

    @property
    def tls_enabled(self) -> bool:
        return self.tls or self.create is not None

    @property
    def port(self) -> int:
        """The port the cache listens on."""
        if self.create:
            return CREATED_CACHE_PORT
        return 6379 if self.redis_type == "redis" else int(self.endpoint.rsplit(":", 1)[1])


def _blank_to_none(value: Any) -> Any:
    return None if value == "" else value


class ObjectStorage(_Model):
    log_store_bucket: BucketName = Field(description="Bucket for request logs (LOG_STORE_GENERATIONS_BUCKET).")
    log_exports_bucket: Annotated[Optional[BucketName], BeforeValidator(_blank_to_none)] = Field(
        None, description="Bucket for log exports; defaults to the log-store bucket."
    )
    finetune_bucket: Annotated[Optional[BucketName], BeforeValidator(_blank_to_none)] = Field(
        None, description="Bucket for fine-tune files; defaults to the log-store bucket."
    )
    bucket_region: Region = Field(description="Region of the buckets (LOG_STORE_REGION).")

    @property
    def exports_bucket(self) -> str:
        return self.log_exports_bucket or self.log_store_bucket

    @property
    def finetunes_bucket(self) -> str:
        return self.finetune_bucket or self.log_store_bucket

    @property
    def bucket_names(self) -> list[str]:
        """Distinct bucket names in a stable order, for IAM policies."""
        return list(dict.fromkeys([self.log_store_bucket, self.exports_bucket, self.finetunes_bucket]))


class InstanceRefresh(_Model):
    enabled: bool = Field(False, description="Replace instances in batches when the launch template changes.")
    min_healthy_percentage: Annotated[int, _in_range(0, 100)] = Field(50, description="Capacity kept in service (%).")
    max_healthy_percentage: Annotated[int, _in_range(100, 200)] = Field(100, description="Capacity ceiling while replacing (%).")
    instance_warmup: int = Field(300, ge=0, description="Seconds before a new instance counts as in service.")


class AlbRoutingConfiguration(_Model):
    enable_path_based_routing: bool = Field(False, description="Route by path prefix, stripped before forwarding (deprecated upstream).")
    enable_host_based_routing: bool = Field(False, description="Route by Host header.")
    mcp_path: PathPrefix = Field("/mcp", description="Path prefix of the MCP gateway.")
    gateway_path: PathPrefix = Field("/gateway", description="Path prefix of the AI gateway.")
    mcp_host: DnsName = Field("", description="Host name of the MCP gateway.")
    gateway_host: DnsName = Field("", description="Host name of the AI gateway.")

    def host(self, listener: str) -> str:
        """The Host-header condition of "gateway" or "mcp", or "" when host routing is off."""
        return getattr(self, f"{listener}_host") if self.enable_host_based_routing else ""

    def path(self, listener: str) -> str:
        """The path prefix of "gateway" or "mcp", or "" when path routing is off."""
        return getattr(self, f"{listener}_path") if self.enable_path_based_routing else ""


class StreamingTimeouts(_Model):
    """The longest request the deployment carries, and the timeouts derived from it (see the README's timeout chain)."""

    max_request_seconds: int = Field(
        300, ge=1, le=3600,
        description="Longest request (streamed or not) to carry end to end; the gateway's REQUEST_TIMEOUT. Default: the gateway's 300 s.",
    )
    lb_idle_timeout_seconds: Optional[int] = Field(
        None, ge=1, le=6000, description="Override: LB idle timeout (ALB 1-4000, NLB TCP 60-6000). Default: max_request_seconds + 15.",
    )
    deregistration_delay_seconds: Optional[int] = Field(
        None, ge=0, le=3600, description="Override: target drain time on deploy. Default: max_request_seconds + 15, on an NLB + 120 more (at most 3600).",
    )
    stop_timeout_seconds: Optional[Annotated[int, _in_range(2, 120)]] = Field(
        None, description="Override: SIGTERM-to-SIGKILL time, 2-120 (the range ECS documents). Default: max_request_seconds + 15, at most 120.",
    )


class CustomDomain(_Model):
    """Host names in a Route 53 public hosted zone: a DNS-validated ACM certificate and alias records to the LB."""

    hosted_zone_id: Annotated[str, _pattern(_HOSTED_ZONE_ID, "a Route 53 hosted zone id", "use the zone's id, e.g. Z0123456789ABCDEFGHIJ")] = Field(
        description="Id of the public hosted zone (no lookup is made)."
    )
    hosted_zone_name: Annotated[str, _pattern(_DNS_NAME, "a DNS zone name", "use the zone's name, e.g. example.com")] = Field(
        description="Name of that zone."
    )
    gateway_host: DnsName = Field("", description="AI gateway host; default: alb_routing_configuration.gateway_host.")
    mcp_host: DnsName = Field("", description="MCP gateway host; default: alb_routing_configuration.mcp_host.")


# The rules of AWS's common rule set (AWSManagedRulesCommonRuleSet), which `waf.count_only_rules` may soften.
COMMON_RULE_SET_RULES = (
    "NoUserAgent_HEADER", "UserAgent_BadBots_HEADER", "SizeRestrictions_QUERYSTRING", "SizeRestrictions_Cookie_HEADER",
    "SizeRestrictions_BODY", "SizeRestrictions_URIPATH", "EC2MetaDataSSRF_BODY", "EC2MetaDataSSRF_COOKIE",
    "EC2MetaDataSSRF_URIPATH", "EC2MetaDataSSRF_QUERYARGUMENTS", "GenericLFI_QUERYARGUMENTS", "GenericLFI_URIPATH",
    "GenericLFI_BODY", "RestrictedExtensions_URIPATH", "RestrictedExtensions_QUERYARGUMENTS", "GenericRFI_QUERYARGUMENTS",
    "GenericRFI_BODY", "GenericRFI_URIPATH", "CrossSiteScripting_COOKIE", "CrossSiteScripting_QUERYARGUMENTS",
    "CrossSiteScripting_BODY", "CrossSiteScripting_URIPATH",
)
# Prompts and tool schemas exceed 8 KB, and SDKs send odd or no user agents: these two must not block LLM traffic.
LLM_COUNT_ONLY_RULES = ("SizeRestrictions_BODY", "NoUserAgent_HEADER")


class WebFirewall(_Model):
    """AWS WAF on the ALB, tuned for LLM APIs (large prompt bodies and SDK user agents are counted, not blocked)."""

    enabled: bool = Field(False, description="Attach a WAF web ACL to the ALB.")
    rate_limit_per_ip: int = Field(2000, ge=10, le=2_000_000_000, description="Requests per IP per 5 minutes before blocking.")
    log_retention_days: RetentionDays = Field(30, description="Retention of the WAF log group (days).")
    count_only_rules: list[Literal[COMMON_RULE_SET_RULES]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(LLM_COUNT_ONLY_RULES),
        description="Rules of AWSManagedRulesCommonRuleSet that count instead of block.",
    )

    @field_validator("count_only_rules")
    @classmethod
    def _distinct(cls, rules: list[str]) -> list[str]:
        repeated = sorted({rule for rule in rules if rules.count(rule) > 1})
        if repeated:
            raise FieldProblem("", f"lists {repeated[0]} more than once", "name each rule once")
        return rules


ALARM_LAG_MINUTES = 2  # load-balancer metrics reach CloudWatch, and an alarm is evaluated, about this late

# Variables the module deprecated in v2.0.0 and removed in v2.0.1: named here so that a migrated tfvars gets a pointer.
REMOVED_VARIABLES = {
    "redis_type": "redis_configuration.redis_type",
    "redis_endpoint": "redis_configuration.endpoint",
    "redis_cpu": "redis_configuration.cpu",
    "redis_memory": "redis_configuration.memory",
    "redis_tls_enabled": "redis_configuration.tls",
    "redis_mode": "redis_configuration.mode",
}

_LISTENER_LABEL = {"gateway": "AI gateway", "mcp": "MCP gateway"}

# Settings that mean nothing without a load balancer: refused (not ignored) when create_lb is false.
_LOAD_BALANCER_ONLY = ("internal_lb", "lb_type", "allowed_lb_cidrs", "tls_certificate_arn", "lb_ssl_policy",
                       "lb_deletion_protection", "enable_lb_access_logs", "lb_access_logs_bucket", "lb_access_logs_prefix",
                       "lb_access_logs_expiration_days", "custom_domain", "waf", "allow_control_plane_ips")

TIMEOUT_HEADROOM_SECONDS = 15  # lets the gateway answer with its own timeout error before any hop cuts the connection
NLB_TLS_IDLE_SECONDS = 350  # AWS fixes the idle timeout of NLB TLS listeners
NLB_DRAIN_LAG_SECONDS = 120  # an NLB may still send new connections to a deregistering target for about this long
LB_IDLE_RANGE = {"application": (1, 4000), "network": (60, 6000)}  # what ALBs and NLB TCP listeners accept
MAX_DEREGISTRATION_DELAY_SECONDS = 3600
ECS_MAX_STOP_TIMEOUT_SECONDS = 120

_BEDROCK_RESOURCE = re.compile(
    rf"^arn:{_PARTITION}:bedrock:(?:(?:{_REGION}|\*)?::foundation-model|{_REGION}:\d{{12}}:(?:inference-profile|"
    r"application-inference-profile|provisioned-model|custom-model|imported-model))/[A-Za-z0-9._:/-]+$"
)
ROLE_ARN = re.compile(rf"^arn:{_PARTITION}:iam::\d{{12}}:role/[\w+=,.@/-]+$")


class BedrockAccess(_Model):
    """Least-privilege Amazon Bedrock access for the gateway task role (the module leaves this to hand-made policies)."""

    enabled: bool = Field(False, description="Let the gateway invoke Bedrock models.")
    model_arns: list[Annotated[str, _pattern(_BEDROCK_RESOURCE, "a Bedrock model or inference-profile ARN",
                                             "use e.g. arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0")]] = Field(
        default_factory=list, description="Models / inference profiles the gateway may invoke; empty: every foundation model in aws_region."
    )
    assume_role_arns: list[Annotated[str, _pattern(ROLE_ARN, "an IAM role ARN", "use arn:aws:iam::<account>:role/<name>")]] = Field(
        default_factory=list, description="Roles (e.g. in other accounts) the gateway may assume for Bedrock."
    )

    @model_validator(mode="after")
    def _only_when_enabled(self):
        if not self.enabled and (self.changed("model_arns") or self.changed("assume_role_arns")):
            raise FieldProblem("enabled", "is false, so model_arns and assume_role_arns would do nothing",
                               "set enabled: true, or remove them")
        return self


PORTKEY_ENDPOINT_SERVICE = "com.amazonaws.vpce.us-east-1.vpce-svc-0c2c1c323d9f56d95"
PORTKEY_CONTROL_PLANE_ACCOUNT = "arn:aws:iam::299329113195:root"
# The control plane's published source addresses (the guide's "IP Whitelisting").
PORTKEY_CONTROL_PLANE_CIDRS = ("54.81.226.149/32", "34.200.113.35/32", "44.221.117.129/32")
_ENDPOINT_SERVICE_NAME = re.compile(r"^com\.amazonaws\.vpce\.[a-z]{2}(?:-gov)?-[a-z]+-\d\.vpce-svc-[0-9a-f]{17}$")
_PRINCIPAL_ARN = re.compile(rf"^arn:{_PARTITION}:iam::\d{{12}}:(?:root|role/[\w+=,.@/-]+|user/[\w+=,.@/-]+)$")


class ControlPlanePrivateLink(_Model):
    """Outbound: an interface endpoint to Portkey's control plane, so sync, logs and analytics stay on AWS's network."""

    enabled: bool = Field(False, description="Reach Portkey's control plane through AWS PrivateLink (Portkey must allow your account first).")
    service_name: Annotated[str, _pattern(_ENDPOINT_SERVICE_NAME, "a VPC endpoint service name",
                                          f"use e.g. {PORTKEY_ENDPOINT_SERVICE}")] = Field(
        PORTKEY_ENDPOINT_SERVICE, description="Portkey's endpoint service."
    )
    service_region: Region = Field("us-east-1", description="Region of that service; another than aws_region makes a cross-region endpoint.")
    private_dns: bool = Field(
        True, description="Resolve aws-cp.portkey.ai to the endpoint. Deploy false first if the endpoint waits for Portkey's acceptance."
    )

    @model_validator(mode="after")
    def _only_when_enabled(self):
        if not self.enabled and any(self.changed(n) for n in ("service_name", "service_region", "private_dns")):
            raise FieldProblem("enabled", "is false, so the other control_plane_private_link settings would do nothing",
                               "set enabled: true, or remove them")
        if self.enabled and self.service_name.split(".")[3] != self.service_region:
            raise FieldProblem("service_region", f"{self.service_region} is not the region in service_name",
                               f"set it to {self.service_name.split('.')[3]}")
        return self


class InboundPrivateLink(_Model):
    """Inbound: a VPC endpoint service on the gateway's NLB, so Portkey's control plane reaches the gateway privately."""

    enabled: bool = Field(False, description="Offer the gateway to Portkey's control plane as a VPC endpoint service.")
    acceptance_required: bool = Field(True, description="Connection requests wait for your approval.")
    allowed_principals: list[Annotated[str, _pattern(_PRINCIPAL_ARN, "an IAM principal ARN",
                                                     f"use e.g. {PORTKEY_CONTROL_PLANE_ACCOUNT}")]] = Field(
        default_factory=lambda: [PORTKEY_CONTROL_PLANE_ACCOUNT], description="Who may connect; default: Portkey's control-plane account."
    )
    private_dns_name: DnsName = Field(
        "", description="Private DNS name Portkey connects with (you verify the domain); required when the load balancer uses TLS or routes by host."
    )
    consumer_region: Region = Field("us-east-1", description="Region of Portkey's control plane; allowed as a cross-region consumer.")

    @model_validator(mode="after")
    def _only_when_enabled(self):
        if not self.enabled and any(self.changed(n) for n in ("acceptance_required", "allowed_principals", "private_dns_name",
                                                              "consumer_region")):
            raise FieldProblem("enabled", "is false, so the other inbound_private_link settings would do nothing",
                               "set enabled: true, or remove them")
        if self.enabled and not self.allowed_principals:
            raise FieldProblem("allowed_principals", "is empty, so nobody could connect",
                               f"list {PORTKEY_CONTROL_PLANE_ACCOUNT} (Portkey's control plane)")
        return self


PRODUCTION_ENVIRONMENTS = ("prod", "production")

# --- the root ------------------------------------------------------------------------------------------------------


class Settings(_Model):
    """One deployment of the Portkey hybrid data plane: the Terraform module's variables, plus what CDK needs."""

    model_config = ConfigDict(title="PortkeyGatewaySettings")

    # Project
    project_name: Name = Field("portkey", description="Prefix of resource names; the `Project` tag.")
    environment: Name = Field("dev", description="Environment name; part of the stack and resource names.")
    aws_region: Region = Field("us-west-2", description="Region to deploy to.")
    aws_account: Optional[str] = Field(None, description="Account to deploy to; unset: the CLI's current account.")
    availability_zones: Optional[list[str]] = Field(
        None, description="AZs to use; unset: the first num_az of the region (a, b, c...). No lookup is made."
    )

    # Environment variables and secrets
    environment_variables_file_path: Optional[str] = Field(
        None, description="JSON file {gateway: {...}, data-service: {...}}, relative to this config file."
    )
    secrets_file_path: Optional[str] = Field(None, description="JSON file of secrets, relative to this config file.")
    environment_variables: Optional[ServiceEnvironment] = Field(
        None, validate_default=True, description="Plain variables per service."
    )
    secrets: Optional[ServiceSecrets] = Field(None, validate_default=True, description="ENV_NAME: secret ARN per service.")

    # Network
    create_new_vpc: bool = Field(description="Create a VPC (true) or use an existing one (false).")
    vpc_cidr: Optional[Cidr] = Field(
        None, description="CIDR of the new VPC; with an existing VPC, its CIDR (default ingress of an internal LB)."
    )
    num_az: int = Field(2, ge=1, le=6, description="Number of availability zones.")
    single_nat_gateway: bool = Field(True, description="One NAT gateway (true) or one per AZ (false).")
    vpc_id: Optional[Annotated[str, _pattern(_VPC_ID, "a VPC id", "use the id of an existing VPC, e.g. vpc-0123456789abcdef0")]] = Field(
        None, description="Existing VPC id."
    )
    public_subnet_ids: list[Annotated[str, _pattern(_SUBNET_ID, "a subnet id", "use e.g. subnet-0123456789abcdef0")]] = Field(
        default_factory=list, description="Existing public subnets (internet-facing LB)."
    )
    private_subnet_ids: list[Annotated[str, _pattern(_SUBNET_ID, "a subnet id", "use e.g. subnet-0123456789abcdef0")]] = Field(
        default_factory=list, description="Existing private subnets (tasks, instances, internal LB)."
    )

    # Cluster and capacity
    create_cluster: bool = Field(True, description="Create the ECS cluster, ASG and capacity provider.")
    cluster_name: Optional[str] = Field(None, description="Existing cluster (create_cluster: false).")
    capacity_provider_name: Optional[str] = Field(None, description="Existing capacity provider (create_cluster: false).")
    instance_type: Annotated[str, _pattern(_GRAVITON, "a Graviton (arm64) instance type",
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
    capacity_check: Literal["warn", "error", "off"] = Field(
        "warn", description="When the tasks at their deployment peak cannot fit on max_asg_size instances: warn at synth, refuse, or stay silent."
    )

    # Images
    gateway_image: ImageRef = Field(ImageRef(image="portkeyai/gateway_enterprise", tag="2.16.0"), description="Gateway image.")
    data_service_image: ImageRef = Field(ImageRef(image="portkeyai/data-service", tag="1.9.0"), description="Data-service image.")
    redis_image: ImageRef = Field(ImageRef(image="redis", tag="7.2-alpine"), description="Built-in Redis image.")
    docker_cred_secret_arn: Optional[SecretArn] = Field(
        None, description="Secret with {username, password} for the private images (gateway, data service); required unless managed_secrets."
    )
    managed_secrets: bool = Field(
        False, description="Create the Docker-credentials and client-auth secrets in a secrets stack of this app and use them (instead of ARNs)."
    )
    tags: dict[Annotated[str, _pattern(_TAG_KEY, "a tag key", "use letters, digits, spaces and _ . : / = + - @")],
               Annotated[str, _pattern(_TAG_VALUE, "a tag value", "use up to 256 letters, digits, spaces and _ . : / = + - @")]] = Field(
        default_factory=dict, description="Extra tags on every resource (besides Project, Environment, ManagedBy)."
    )
    allow_latest_tag: bool = Field(False, description="Allow the moving tag `latest` in an environment named prod or production.")

    # Gateway service
    gateway_config: GatewayConfig = Field(default_factory=GatewayConfig, description="Gateway task size and ports.")
    gateway_autoscaling: AutoscalingConfig = Field(default_factory=AutoscalingConfig, description="Gateway autoscaling.")
    gateway_deployment_configuration: Optional[DeploymentConfiguration] = Field(
        None, description="Deployment strategy; unset: rolling."
    )
    gateway_deployment_circuit_breaker: CircuitBreaker = Field(default_factory=CircuitBreaker, description="Gateway breaker.")
    gateway_deployment_alarms: DeploymentAlarms = Field(
        default_factory=DeploymentAlarms, description="Alarms that roll a gateway deployment back (needs a load balancer)."
    )
    gateway_lifecycle_hook: LifecycleHook = Field(default_factory=LifecycleHook, description="Smoke-test hook for blue/green, canary, linear.")
    server_mode: Literal["gateway", "mcp", "all"] = Field("gateway", description="AI gateway, MCP gateway, or both.")
    mcp_gateway_base_url: WebUrl = Field(
        "", description="External URL of the MCP gateway, with http(s)://; required in mcp/all modes unless custom_domain names the MCP host."
    )

    # Data service
    dataservice_config: DataServiceConfig = Field(default_factory=DataServiceConfig, description="Data service.")
    dataservice_deployment_circuit_breaker: CircuitBreaker = Field(default_factory=CircuitBreaker, description="Data-service breaker.")
    dataservice_autoscaling: AutoscalingConfig = Field(default_factory=AutoscalingConfig, description="Data-service autoscaling.")

    # Cache, storage, IAM
    redis_configuration: RedisConfiguration = Field(default_factory=RedisConfiguration, description="Cache store.")
    object_storage: ObjectStorage = Field(description="S3 log store.")
    gateway_task_role_policy_arns: dict[str, PolicyArn] = Field(default_factory=dict, description="label: policy ARN for the gateway task role.")
    bedrock: BedrockAccess = Field(default_factory=BedrockAccess, description="Amazon Bedrock access for the gateway.")
    data_service_task_role_policy_arns: dict[str, PolicyArn] = Field(default_factory=dict, description="label: policy ARN for the data-service task role.")

    # Load balancer
    create_lb: bool = Field(False, description="Create the gateway load balancer.")
    internal_lb: bool = Field(True, description="Internal (private subnets) or internet-facing (public subnets).")
    lb_type: Literal["network", "application"] = Field("network", description="NLB or ALB.")
    allowed_lb_cidrs: list[Cidr] = Field(
        default_factory=list, description="CIDRs allowed to the LB; empty: the VPC CIDR if internal, else 0.0.0.0/0."
    )
    tls_certificate_arn: Annotated[str, _pattern(CERTIFICATE_ARN, "an ACM certificate ARN",
                                                 "use arn:aws:acm:<region>:<account>:certificate/<id>", allow_empty=True)] = Field(
        "", description="ACM certificate: HTTPS/TLS on 443."
    )
    lb_ssl_policy: Annotated[str, AfterValidator(_tls_policy)] = Field(
        "ELBSecurityPolicy-TLS13-1-2-2021-06", description="TLS policy of the 443 listener (TLS 1.3 family)."
    )
    lb_deletion_protection: bool = Field(False, description="Refuse to delete the load balancer until this is turned off.")
    enable_lb_access_logs: bool = Field(False, description="LB access logs to S3 (an NLB writes them for TLS listeners only).")
    lb_access_logs_bucket: Annotated[str, _pattern(_BUCKET, "a valid S3 bucket name",
                                                   "use 3-63 lower-case letters, digits, dots, hyphens", allow_empty=True)] = Field(
        "", description="Existing bucket for LB access logs (you manage its policy); empty: a bucket is created."
    )
    lb_access_logs_prefix: Annotated[str, _pattern(_LOG_PREFIX, "a valid access-log prefix",
                                                   "use path segments without leading or trailing '/' and without AWSLogs, e.g. portkey/prod",
                                                   allow_empty=True)] = Field("", description="Prefix for LB access logs.")
    lb_access_logs_expiration_days: int = Field(90, ge=1, description="Days the created access-log bucket keeps a log object.")
    alb_routing_configuration: AlbRoutingConfiguration = Field(default_factory=AlbRoutingConfiguration, description="ALB rules.")
    timeouts: StreamingTimeouts = Field(default_factory=StreamingTimeouts, description="Streaming-safe timeout chain.")
    custom_domain: Optional[CustomDomain] = Field(None, description="Route 53 records and an ACM certificate for the hosts.")
    waf: WebFirewall = Field(default_factory=WebFirewall, description="AWS WAF web ACL on the ALB.")

    # Day-2 operations
    log_retention_days: RetentionDays = Field(
        30, description="Retention of the services' log groups (days); the module hard-coded 14 (gateway, data service) and 7 (Redis)."
    )
    monitoring: Monitoring = Field(default_factory=Monitoring, description="Dashboard and alarms to the operations topic.")
    redeploy_on_secret_change: bool = Field(
        True, description="Redeploy the services that read a secret when its current version changes (rotation or a put)."
    )

    # Control plane and private networking
    control_plane_private_link: ControlPlanePrivateLink = Field(
        default_factory=ControlPlanePrivateLink, description="Outbound PrivateLink to Portkey's control plane."
    )
    inbound_private_link: InboundPrivateLink = Field(
        default_factory=InboundPrivateLink, description="VPC endpoint service for Portkey's control plane to reach the gateway."
    )
    allow_control_plane_ips: bool = Field(
        False, description="Admit Portkey's control-plane addresses on the listener port of an internet-facing load balancer."
    )
    aws_private_endpoints: bool = Field(
        False, description="VPC endpoints for the AWS APIs the tasks and instances call (S3, ECR, Secrets Manager, Logs, STS, SSM, ECS, Bedrock)."
    )

    # --- validators ------------------------------------------------------------------------------------------------

    @model_validator(mode="before")
    @classmethod
    def _removed_variables(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for old, new in REMOVED_VARIABLES.items():
                if old in data:
                    raise FieldProblem(old, "was removed in module v2.0.1", f"set {new} instead")
        return data

    @field_validator("aws_account", mode="before")
    @classmethod
    def _account_is_twelve_digits(cls, value: Any) -> Any:
        if value is not None and not re.fullmatch(r"\d{12}", str(value)):
            raise FieldProblem("", f"{value!r} is not a 12-digit account id",
                               "write it as a quoted string, e.g. '012345678901', so leading zeros survive")
        return None if value is None else str(value)

    @field_validator("environment_variables", "secrets", mode="before")
    @classmethod
    def _load_json_file(cls, value: Any, info: ValidationInfo) -> Any:
        """The module reads `<name>_file_path` only when the inline variable is null; the inline map wins."""
        file_field = {"environment_variables": "environment_variables_file_path", "secrets": "secrets_file_path"}[info.field_name]
        path = info.data.get(file_field)
        if value is not None or not path:
            return value
        base = Path((info.context or {}).get("base_dir", "."))
        file = (base / path).resolve()
        try:
            return json.loads(file.read_text())
        except FileNotFoundError:
            raise FieldProblem("", f"{file_field} {path!r}: no such file ({file})",
                               "give a path relative to the config file") from None
        except OSError as error:
            raise FieldProblem("", f"{file_field} {path!r}: cannot read {file} ({error.strerror})",
                               "point it at a readable JSON file") from None
        except json.JSONDecodeError as error:
            raise FieldProblem("", f"{file_field} {path!r}: invalid JSON ({error.msg}, line {error.lineno})",
                               "fix the JSON file") from None

    @model_validator(mode="after")
    def _check(self) -> "Settings":
        for check in (self._env_and_secrets, self._network, self._cluster, self._server_mode, self._load_balancer,
                      self._routing, self._edge, self._mcp_url, self._timeouts, self._deployments,
                      self._deployment_alarms, self._autoscaling, self._capacity, self._services,
                      self._private_networking, self._monitoring):
            check()
        return self

    def _env_and_secrets(self) -> None:
        if self.environment_variables is None:
            raise FieldProblem("environment_variables", "is required (the module's rule)",
                               "set environment_variables or environment_variables_file_path")
        for name in STANDARD_TAGS:
            if name in self.tags:
                raise FieldProblem(f"tags.{name}", "is set from the settings already", "remove it")
        if self.managed_secrets:
            if self.docker_cred_secret_arn:
                raise FieldProblem("docker_cred_secret_arn", "comes from the secrets stack with managed_secrets", "remove it")
            for service in ("gateway", "data_service"):
                given = set(getattr(self.secrets, service)) if self.secrets else set()
                for key in sorted(given & set(MANAGED_SECRET_KEYS["clientauth-organizations"])):
                    alias = ServiceSecrets.model_fields[service].alias or service
                    raise FieldProblem(f"secrets.{alias}.{key}", "comes from the secrets stack with managed_secrets",
                                       "remove it")
            return
        if not self.docker_cred_secret_arn:
            raise FieldProblem("docker_cred_secret_arn", "is required: the gateway image is private",
                               "set the ARN of the secret holding username and password, or set managed_secrets: true")
        if self.secrets is None:
            raise FieldProblem("secrets", "is required: the gateway needs PORTKEY_CLIENT_AUTH and ORGANISATIONS_TO_SYNC",
                               "set secrets or secrets_file_path, or set managed_secrets: true")
        self._secrets_do_not_shadow_environment()

    def _secrets_do_not_shadow_environment(self) -> None:
        for service in ("gateway", "data_service"):
            clash = sorted(set(getattr(self.environment_variables, service)) & set(getattr(self.secrets, service))) \
                if self.secrets else []
            if clash:
                alias = ServiceSecrets.model_fields[service].alias or service
                raise FieldProblem(f"secrets.{alias}.{clash[0]}", "is also a plain environment variable",
                                   "keep it in one of environment_variables or secrets")

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

    def _cluster(self) -> None:
        if not self.create_cluster:
            for name, what in (("cluster_name", "ECS cluster"), ("capacity_provider_name", "capacity provider")):
                if not getattr(self, name):
                    raise FieldProblem(name, "is required when create_cluster is false", f"name the existing {what}")
        else:
            for name in ("cluster_name", "capacity_provider_name"):
                if getattr(self, name):
                    raise FieldProblem(name, "is only used when create_cluster is false", "remove it, or set create_cluster: false")
            if not self.min_asg_size <= self.desired_asg_size <= self.max_asg_size:
                raise FieldProblem("desired_asg_size", f"{self.desired_asg_size} is not between min_asg_size "
                                   f"({self.min_asg_size}) and max_asg_size ({self.max_asg_size})", "make min <= desired <= max")

    def _server_mode(self) -> None:
        if self.server_mode == "gateway" and self.mcp_gateway_base_url:
            raise FieldProblem("mcp_gateway_base_url", "is only used when server_mode is mcp or all", "remove it")
        if self.server_mode != "gateway" and not self.mcp_base_url:
            raise FieldProblem("mcp_gateway_base_url", f"is required when server_mode is {self.server_mode}: MCP clients and "
                               "its OAuth metadata use it", "set the external URL, e.g. https://mcp.example.com "
                               "(a placeholder works until DNS exists), or name custom_domain.mcp_host")
        if self.create_lb and self.server_mode == "all" and self.lb_type != "application":
            raise FieldProblem("lb_type", "server_mode all needs an application load balancer to route MCP by host",
                               "set lb_type: application")

    def _load_balancer(self) -> None:
        if not self.create_lb:
            for name in _LOAD_BALANCER_ONLY:
                if self.changed(name):
                    raise FieldProblem(name, "is only used with a load balancer", "set create_lb: true, or remove it")
            return
        if self.internal_lb and not self.allowed_lb_cidrs and not self.vpc_cidr:
            raise FieldProblem("allowed_lb_cidrs", "is empty and the existing VPC's CIDR is unknown (no lookups are made)",
                               "set vpc_cidr to the VPC's CIDR, or list allowed_lb_cidrs")
        if not self.internal_lb and not self.create_new_vpc and not self.public_subnet_ids:
            raise FieldProblem("public_subnet_ids", "is required for an internet-facing load balancer in an existing VPC",
                               "list the public subnets")
        if self.nlb_exposes_metrics and not self.internal_lb:
            raise FieldProblem("lb_type", "an internet-facing NLB forwards every path, so it would publish the gateway's "
                               "unauthenticated /metrics (providers, error rates, spend) to allowed_lb_cidrs",
                               'set environment_variables.gateway.ENABLE_PROMETHEUS: "false", or use lb_type: application '
                               "(its rules keep the metrics paths inside)")
        if self.tls_certificate_arn:
            region = self.tls_certificate_arn.split(":")[3]
            if region != self.aws_region:
                raise FieldProblem("tls_certificate_arn", f"is in {region}, but the load balancer is in {self.aws_region} "
                                   "(ACM certificates are regional)", f"use a certificate issued in {self.aws_region}")
        if not self.terminates_tls and self.changed("lb_ssl_policy"):
            raise FieldProblem("lb_ssl_policy", "is only used by a TLS listener", "set tls_certificate_arn or custom_domain, or remove it")
        if self.enable_lb_access_logs and self.lb_type == "network" and not self.terminates_tls:
            raise FieldProblem("enable_lb_access_logs", "an NLB writes access logs only for TLS listeners, and this one is plain TCP",
                               "set tls_certificate_arn (or custom_domain), or use lb_type: application")
        if not self.enable_lb_access_logs:
            for name in ("lb_access_logs_bucket", "lb_access_logs_prefix"):
                if getattr(self, name):
                    raise FieldProblem(name, "is only used when enable_lb_access_logs is true",
                                       "set enable_lb_access_logs: true, or remove it")
        if self.changed("lb_access_logs_expiration_days") and (not self.enable_lb_access_logs or self.lb_access_logs_bucket):
            raise FieldProblem("lb_access_logs_expiration_days", "only applies to the access-log bucket created here",
                               "remove it, or set enable_lb_access_logs: true with lb_access_logs_bucket empty")

    def _routing(self) -> None:
        routing = self.alb_routing_configuration
        if self.changed("alb_routing_configuration") and not (self.create_lb and self.lb_type == "application"):
            raise FieldProblem("alb_routing_configuration", "is only used with an application load balancer",
                               "set create_lb: true and lb_type: application, or remove it")
        for name in ("gateway", "mcp"):
            for kind, enabled in (("host", routing.enable_host_based_routing), ("path", routing.enable_path_based_routing)):
                field = f"{name}_{kind}"
                if not routing.changed(field):
                    continue
                if not enabled:
                    raise FieldProblem(f"alb_routing_configuration.{field}", f"is only used with enable_{kind}_based_routing",
                                       f"set enable_{kind}_based_routing: true, or remove it")
                if name not in self.served:
                    raise FieldProblem(f"alb_routing_configuration.{field}", f"is not served in server_mode {self.server_mode}",
                                       "remove it")
        if routing.enable_host_based_routing:
            for name in self.served:
                if not routing.host(name):
                    raise FieldProblem(f"alb_routing_configuration.{name}_host", "is required when enable_host_based_routing "
                                       "is true", f"set the host clients use, e.g. {name}.example.com")
        if self.create_lb and self.server_mode == "all":
            self._mcp_not_shadowed(routing)

    @staticmethod
    def _mcp_not_shadowed(routing: AlbRoutingConfiguration) -> None:
        """The gateway rule (priority 100) is evaluated first: it must not match every request the MCP rule matches."""
        by_host, by_path = routing.enable_host_based_routing, routing.enable_path_based_routing
        if not (by_host or by_path):
            raise FieldProblem("alb_routing_configuration", "server_mode all without host or path routing sends every request "
                               "to the gateway rule (priority 100), so MCP is unreachable",
                               "set enable_host_based_routing: true with gateway_host and mcp_host")
        same_host = not by_host or routing.gateway_host == routing.mcp_host
        gateway, mcp = routing.gateway_path, routing.mcp_path
        overlapping = not by_path or gateway == mcp or gateway.startswith(mcp + "/") or mcp.startswith(gateway + "/")
        if same_host and overlapping:
            if by_path:
                raise FieldProblem("alb_routing_configuration.mcp_path", f"{mcp!r} overlaps gateway_path {gateway!r}",
                                   "use separate prefixes, e.g. /gateway and /mcp")
            raise FieldProblem("alb_routing_configuration.mcp_host", "equals gateway_host, so the gateway rule (priority "
                               "100) would take all MCP traffic", "give the MCP gateway its own host name")

    def _edge(self) -> None:
        domain = self.custom_domain
        if domain:
            if self.tls_certificate_arn:
                raise FieldProblem("custom_domain", "creates its own certificate, so tls_certificate_arn would be a second one",
                                   "remove one of them")
            routing = self.alb_routing_configuration
            for name in ("gateway", "mcp"):
                own, routed = getattr(domain, f"{name}_host"), routing.host(name)
                if own and name not in self.served:
                    raise FieldProblem(f"custom_domain.{name}_host", f"is not served in server_mode {self.server_mode}", "remove it")
                if own and routed and own != routed:
                    raise FieldProblem(f"custom_domain.{name}_host", f"{own!r} differs from alb_routing_configuration.{name}_host "
                                       f"{routed!r}", "remove one of them, or make them equal")
            for name, host in self.domain_hosts.items():
                if not host:
                    raise FieldProblem(f"custom_domain.{name}_host", f"is required: the {_LISTENER_LABEL[name]} needs a host name",
                                       f"set it, or set alb_routing_configuration.{name}_host with host routing")
                zone = domain.hosted_zone_name
                if host != zone and not host.endswith("." + zone):
                    raise FieldProblem(f"custom_domain.{name}_host", f"{host!r} is not in hosted zone {zone!r}",
                                       f"use a name ending in .{zone}, or the zone that holds it")
        if self.changed("waf") and self.lb_type != "application":
            raise FieldProblem("waf", "AWS WAF attaches to an application load balancer, not an NLB",
                               "set lb_type: application, or remove waf")
        if not self.waf.enabled and self.changed("waf"):
            raise FieldProblem("waf", "settings are only used when waf.enabled is true", "set waf.enabled: true, or remove them")

    def _mcp_url(self) -> None:
        """A given MCP URL must be where this deployment serves MCP, since the MCP gateway publishes it to clients."""
        expected = self.public_urls.get("mcp")
        if self.mcp_gateway_base_url and expected:
            given = urlsplit(self.mcp_gateway_base_url)
            wanted = urlsplit(expected)
            if (given.scheme, given.hostname, given.port or 443, given.path) != (wanted.scheme, wanted.hostname, 443, wanted.path):
                raise FieldProblem("mcp_gateway_base_url", f"{self.mcp_gateway_base_url!r} is not where this load balancer "
                                   f"serves MCP ({expected})", f"set it to {expected}, or remove it to use that")
        elif self.mcp_gateway_base_url and self.create_lb and self.lb_type == "application":
            routing, given = self.alb_routing_configuration, urlsplit(self.mcp_gateway_base_url)
            host, prefix = routing.host("mcp"), routing.path("mcp")
            if host and given.hostname != host:
                raise FieldProblem("mcp_gateway_base_url", f"host routing sends only Host {host} to MCP, so clients must use it",
                                   f"use https://{host}{prefix}")
            if prefix and given.path != prefix:
                raise FieldProblem("mcp_gateway_base_url", f"path routing serves MCP under {prefix}, so clients must use it",
                                   f"end the URL with {prefix}, e.g. https://{host or 'example.com'}{prefix}")

    def _timeouts(self) -> None:
        timeouts, longest = self.timeouts, self.timeouts.max_request_seconds
        user = self.environment_variables.gateway if self.environment_variables else {}
        if "REQUEST_TIMEOUT" in user:
            seconds = int(user["REQUEST_TIMEOUT"]) // 1000 if user["REQUEST_TIMEOUT"].isdigit() else longest
            raise FieldProblem("environment_variables.gateway.REQUEST_TIMEOUT", "is set from timeouts.max_request_seconds, "
                               "so that the load balancer and deploys are sized with it",
                               f"remove it and set timeouts.max_request_seconds: {max(seconds, 1)}")
        if not self.create_lb:
            for name in ("lb_idle_timeout_seconds", "deregistration_delay_seconds"):
                if getattr(timeouts, name) is not None:
                    raise FieldProblem(f"timeouts.{name}", "is only used with a load balancer", "set create_lb: true, or remove it")
            return
        chain = self.timeout_chain
        if chain.lb_idle_timeout is None:
            if timeouts.lb_idle_timeout_seconds is not None:
                raise FieldProblem("timeouts.lb_idle_timeout_seconds", f"an NLB TLS listener's idle timeout is fixed at "
                                   f"{NLB_TLS_IDLE_SECONDS} s", "remove it")
            if longest + TIMEOUT_HEADROOM_SECONDS > NLB_TLS_IDLE_SECONDS:
                raise FieldProblem("timeouts.max_request_seconds", f"{longest} s plus {TIMEOUT_HEADROOM_SECONDS} s for the "
                                   f"gateway's own timeout answer exceeds the fixed idle timeout of an NLB TLS listener "
                                   f"({NLB_TLS_IDLE_SECONDS} s)", f"lower it to at most "
                                   f"{NLB_TLS_IDLE_SECONDS - TIMEOUT_HEADROOM_SECONDS}, or use lb_type: application")
        else:
            low, high = LB_IDLE_RANGE[self.lb_type]
            if not low <= chain.lb_idle_timeout <= high:
                raise FieldProblem("timeouts.lb_idle_timeout_seconds", f"{chain.lb_idle_timeout} is outside {low}..{high} "
                                   f"on {self.lb_type} load balancers", f"use a value from {low} to {high}")
            if chain.lb_idle_timeout <= longest:
                raise FieldProblem("timeouts.lb_idle_timeout_seconds", f"{chain.lb_idle_timeout} s would cut a request of "
                                   f"timeouts.max_request_seconds ({longest} s) that sends no bytes for that long",
                                   f"raise it above {longest}, or remove it (default {longest + TIMEOUT_HEADROOM_SECONDS})")
        lag = NLB_DRAIN_LAG_SECONDS if self.lb_type == "network" else 0
        needed = min(longest + lag, MAX_DEREGISTRATION_DELAY_SECONDS)
        if chain.deregistration_delay < needed:
            why = f" plus the {lag} s an NLB may still send new connections" if lag else ""
            raise FieldProblem("timeouts.deregistration_delay_seconds", f"{chain.deregistration_delay} s of draining would cut "
                               f"requests of up to timeouts.max_request_seconds ({longest} s){why} on every deploy",
                               f"raise it to at least {needed}, or remove it")

    def _deployments(self) -> None:
        strategy = self.deployment_strategy
        if strategy != "ROLLING" and not self.create_lb:
            raise FieldProblem("gateway_deployment_configuration", f"{strategy} shifts traffic between target groups of the "
                               "gateway's load balancer, and there is none", "set create_lb: true, or remove the strategy")
        if strategy in ("CANARY", "LINEAR") and self.lb_type == "network":
            # AWS's current ECS guide lists NLBs for canary and linear; an earlier revision and the aws-cdk-lib README
            # say they need an ALB. Blue/green works on both under either reading (README: Deployment strategies).
            raise FieldProblem("gateway_deployment_configuration", f"{strategy.lower()} deployments behind a network "
                               "load balancer are not supported under every revision of AWS's documentation",
                               "use enable_blue_green: true on an NLB, or lb_type: application for canary and linear")
        if self.gateway_lifecycle_hook.enable_lifecycle_hook and strategy == "ROLLING":
            raise FieldProblem("gateway_lifecycle_hook.enable_lifecycle_hook", "the smoke test runs through the test "
                               "listener of a blue/green, canary or linear deployment",
                               "set gateway_deployment_configuration (e.g. enable_blue_green: true), or remove the hook")
        alarms = self.gateway_deployment_alarms
        if alarms.enabled and strategy != "ROLLING":  # the bake times must let an alarm fire while it can roll back
            deployment, watch = self.gateway_deployment_configuration, alarms.evaluation_minutes + ALARM_LAG_MINUTES
            bakes = [("bake_time_in_minutes", deployment.bake_time_in_minutes)]
            if deployment.canary_configuration:
                bakes.append(("canary_configuration.canary_bake_time_in_minutes",
                              deployment.canary_configuration.canary_bake_time_in_minutes))
            for name, minutes in bakes:
                if minutes < watch:
                    raise FieldProblem(f"gateway_deployment_configuration.{name}", f"{minutes} min ends before a deployment "
                                       f"alarm can fire (evaluation_minutes {alarms.evaluation_minutes} + about "
                                       f"{ALARM_LAG_MINUTES} min until load-balancer metrics arrive)",
                                       f"set it to at least {watch}, or lower gateway_deployment_alarms.evaluation_minutes")
        if self.gateway_lifecycle_hook.enable_lifecycle_hook:
            self._hook_reaches_the_listener()

    def _deployment_alarms(self) -> None:
        """The gateway's health alarms serve deployments (enabled) and operations (monitoring.alarms) alike."""
        alarms = self.gateway_deployment_alarms
        watched = alarms.enabled or (self.monitoring.alarms and self.create_lb)
        if not watched and self.changed("gateway_deployment_alarms"):
            raise FieldProblem("gateway_deployment_alarms", "settings are only used when enabled is true, or by "
                               "monitoring.alarms with a load balancer", "set gateway_deployment_alarms.enabled: true, or remove them")
        if alarms.enabled and not self.create_lb:
            raise FieldProblem("gateway_deployment_alarms.enabled", "the alarms watch the load balancer's target groups, "
                               "and there is none", "set create_lb: true, or turn the alarms off")
        if self.lb_type == "network":
            for name in ("target_5xx_percent", "minimum_requests"):
                if alarms.changed(name):
                    raise FieldProblem(f"gateway_deployment_alarms.{name}", "an NLB sees TCP, not HTTP status codes, so "
                                       "only the unhealthy-target alarm exists", "remove it, or use lb_type: application")

    def _monitoring(self) -> None:
        """Thresholds for alarms that will not exist are refused, so a setting never silently does nothing."""
        monitoring = self.monitoring
        if monitoring.alarm_emails and not (monitoring.alarms or self.create_cluster):
            raise FieldProblem("monitoring.alarm_emails", "there is no operations topic to subscribe to (no alarms, "
                               "and the cluster is not created here)", "set monitoring.alarms: true, or remove them")
        if not monitoring.alarms:
            for name in ("lb_5xx_percent", "task_shortfall_minutes", "capacity_shortfall_minutes",
                         "certificate_expiry_days", "cache_memory_percent", "cache_cpu_percent"):
                # cache_node_ids also draws the dashboard's cache section, so it is allowed without alarms
                if monitoring.changed(name):
                    raise FieldProblem(f"monitoring.{name}", "is only used by the alarms, which are off",
                                       "set monitoring.alarms: true, or remove it")
            return
        redis = self.redis_configuration
        if monitoring.cache_node_ids and (redis.redis_type != "aws-elastic-cache" or redis.create):
            raise FieldProblem("monitoring.cache_node_ids", "names the nodes of an existing ElastiCache, and there is none "
                               "(a cache created here is watched without it)", "remove it")
        if monitoring.cache_node_ids and not (monitoring.dashboard or monitoring.alarms):
            raise FieldProblem("monitoring.cache_node_ids", "is only used by the dashboard and the alarms, which are off",
                               "turn one on, or remove it")
        watched_cache = bool(redis.create or monitoring.cache_node_ids)
        alb = self.create_lb and self.lb_type == "application"
        rules = (("lb_5xx_percent", alb, "there is no ALB (an NLB sees TCP, not HTTP status codes)", "remove it"),
                 ("capacity_shortfall_minutes", self.create_cluster, "the capacity provider is not created here",
                  "remove it, or set create_cluster: true"),
                 ("certificate_expiry_days", self.create_lb and bool(self.tls_certificate_arn or self.custom_domain),
                  "there is no TLS listener", "remove it, or set tls_certificate_arn (or custom_domain)"),
                 ("cache_memory_percent", watched_cache, "no cache is watched", "remove it, or list cache_node_ids"),
                 ("cache_cpu_percent", watched_cache, "no cache is watched", "remove it, or list cache_node_ids"))
        for name, applies, problem, fix in rules:
            if monitoring.changed(name) and not applies:
                raise FieldProblem(f"monitoring.{name}", problem, fix)

    def _hook_reaches_the_listener(self) -> None:
        """An internet-facing balancer sees the hook arrive from the VPC's NAT addresses: known here only for a VPC
        created here."""
        hook = self.gateway_lifecycle_hook
        needs_addresses = not self.internal_lb and not self.create_new_vpc and "0.0.0.0/0" not in self.lb_ingress_cidrs
        if needs_addresses and not hook.egress_cidrs:
            raise FieldProblem("gateway_lifecycle_hook.egress_cidrs", "is required: the hook reaches this internet-facing "
                               "load balancer from the existing VPC's NAT gateways, whose addresses are unknown here",
                               "list their public IPs, e.g. [203.0.113.10/32]")
        if hook.egress_cidrs and not needs_addresses:
            raise FieldProblem("gateway_lifecycle_hook.egress_cidrs", "is only used for an internet-facing load balancer in "
                               "an existing VPC that does not admit 0.0.0.0/0 (otherwise the addresses are known or not needed)",
                               "remove it")

    def _autoscaling(self) -> None:
        for service, scaling in (("gateway", self.gateway_autoscaling), ("dataservice", self.dataservice_autoscaling)):
            if not scaling.enable_autoscaling and scaling.target_requests_per_task is not None:
                raise FieldProblem(f"{service}_autoscaling.target_requests_per_task", "is only used when "
                                   "enable_autoscaling is true", "set enable_autoscaling: true, or remove it")
        if self.dataservice_autoscaling.enable_autoscaling and not self.dataservice_config.enable_dataservice:
            raise FieldProblem("dataservice_autoscaling.enable_autoscaling", "is only used with the data service, which "
                               "is not enabled", "turn it off")
        if self.dataservice_autoscaling.target_requests_per_task is not None:
            raise FieldProblem("dataservice_autoscaling.target_requests_per_task", "the data service has no load balancer "
                               "to count requests", "remove it (CPU and memory tracking still apply)")
        if self.gateway_autoscaling.target_requests_per_task is not None and not (self.create_lb and self.lb_type == "application"):
            raise FieldProblem("gateway_autoscaling.target_requests_per_task", "request counts per target come from an "
                               "application load balancer", "set create_lb: true and lb_type: application, or remove it")

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

    def _private_networking(self) -> None:
        if self.control_plane_private_link.enabled and self.az_count < 2:
            raise FieldProblem("control_plane_private_link.enabled", "the endpoint needs subnets in at least two AZs "
                               "(Portkey's guidance, for availability)", "use num_az: 2 or more")
        inbound = self.inbound_private_link
        for name, on in (("inbound_private_link.enabled", inbound.enabled), ("allow_control_plane_ips", self.allow_control_plane_ips)):
            if on and "gateway" not in self.served:
                raise FieldProblem(name, "Portkey's control plane reads logs through the AI gateway, which server_mode mcp "
                                   "does not serve (it would reach the MCP listener instead)", "use server_mode: all, or remove it")
        if inbound.enabled:
            if not self.create_lb:
                raise FieldProblem("inbound_private_link.enabled", "an endpoint service fronts the gateway's load balancer, "
                                   "and there is none", "set create_lb: true")
            host = self.alb_routing_configuration.host("gateway") or next(iter(self.domain_hosts.values()), "")
            if (self.terminates_tls or host) and not inbound.private_dns_name:
                raise FieldProblem("inbound_private_link.private_dns_name", "is required: Portkey would connect with the "
                                   "endpoint's own DNS name, which the certificate does not cover and host routing does not "
                                   "match", f"set it to the gateway's host name{f' ({host})' if host else ''}")
            if host and inbound.private_dns_name and inbound.private_dns_name != host:
                raise FieldProblem("inbound_private_link.private_dns_name", f"{inbound.private_dns_name!r} is not the "
                                   f"gateway's host {host!r}, so routing and the certificate would not match", f"set it to {host}")
        if self.allow_control_plane_ips:
            if self.internal_lb:  # (without a load balancer it is refused earlier)
                raise FieldProblem("allow_control_plane_ips", "Portkey's control plane reaches the gateway over the internet, "
                                   "which an internal load balancer cannot receive",
                                   "set internal_lb: false, or use inbound_private_link instead")
            if not self.terminates_tls:
                raise FieldProblem("allow_control_plane_ips", "Portkey would read logs (prompts and responses) from the "
                                   "gateway over the internet in plain text", "set tls_certificate_arn or custom_domain")
        if self.aws_private_endpoints and not self.create_new_vpc:
            raise FieldProblem("aws_private_endpoints", "an existing VPC may already have these endpoints (their private DNS "
                               "would conflict), and every other workload in it would start using ours",
                               "create the endpoints with the VPC itself, or remove it")

    def _data_service_needs(self) -> None:
        if self.server_mode == "mcp":
            raise FieldProblem("dataservice_config.enable_dataservice", "the data service calls the AI gateway's API, "
                               "which server_mode mcp does not serve", "use server_mode: all, or turn the data service off")
        given = set(self.secrets.data_service) if self.secrets else set()
        given |= set(self.environment_variables.data_service) if self.environment_variables else set()
        for name in () if self.managed_secrets else ("PORTKEY_CLIENT_AUTH", "ORGANISATIONS_TO_SYNC"):
            if name not in given:
                raise FieldProblem(f"secrets.data-service.{name}", "is required: the data service authenticates to "
                                   "Portkey's control plane with it", "add the same secret ARN as the gateway's")

    def _services(self) -> None:
        """The data service, images, task-role extras and secrets that more than one setting can provide."""
        data_service = self.dataservice_config.enable_dataservice
        redis = self.redis_configuration
        if self.environment in PRODUCTION_ENVIRONMENTS and not self.allow_latest_tag:
            built = {"gateway_image": True, "data_service_image": data_service, "redis_image": redis.redis_type == "redis"}
            for name in (name for name, used in built.items() if used):
                if getattr(self, name).tag == "latest":
                    raise FieldProblem(f"{name}.tag", f"'latest' in environment {self.environment}: a moving tag makes "
                                       "rollbacks and reproducible deploys meaningless",
                                       "pin a version (e.g. 2.16.0), or set allow_latest_tag: true")
        if data_service:
            self._data_service_needs()
        if not data_service and self.data_service_task_role_policy_arns:
            raise FieldProblem("data_service_task_role_policy_arns", "is only used with the data service",
                               "set dataservice_config.enable_dataservice: true, or remove it")
        if not data_service and self.dataservice_config.enable_execute_command:
            raise FieldProblem("dataservice_config.enable_execute_command", "is only used with the data service",
                               "set dataservice_config.enable_dataservice: true, or remove it")
        secrets = {service: getattr(self.secrets, service) if self.secrets else {} for service in ("gateway", "data_service")}
        passwords = [service for service in secrets if "REDIS_PASSWORD" in secrets[service]]
        if (redis.auth_secret_arn or passwords) and redis.redis_type == "aws-elastic-cache" and not redis.tls_enabled:
            raise FieldProblem("redis_configuration.tls", "ElastiCache accepts an AUTH token (REDIS_PASSWORD) only with "
                               "encryption in transit", "set tls: true")
        if data_service and len(passwords) == 1:
            missing = "data-service" if passwords == ["gateway"] else "gateway"
            raise FieldProblem(f"secrets.{missing}.REDIS_PASSWORD", "is missing: both services connect to the cache",
                               "add it (the same ARN), or use redis_configuration.auth_secret_arn for both")
        if redis.auth_secret_arn or redis.create:
            source = "redis_configuration.auth_secret_arn" if redis.auth_secret_arn else "the created cache's secret"
            for service in ("gateway", "data_service"):
                secrets = getattr(self.secrets, service) if self.secrets else {}
                if "REDIS_PASSWORD" in secrets:
                    alias = ServiceSecrets.model_fields[service].alias or service
                    raise FieldProblem(f"secrets.{alias}.REDIS_PASSWORD", f"is already set from {source}",
                                       "remove it from secrets")

    # --- derived values --------------------------------------------------------------------------------------------

    @property
    def az_count(self) -> int:
        return len(self.availability_zones) if self.availability_zones else self.num_az

    @property
    def azs(self) -> list[str]:
        """The AZs in use, from config or derived from the region; deterministic, no lookup."""
        if self.availability_zones:
            return list(self.availability_zones)
        return [f"{self.aws_region}{letter}" for letter in string.ascii_lowercase[: self.num_az]]

    @property
    def uses_execute_command(self) -> bool:
        """ECS Exec is on for at least one service that is built."""
        return (self.gateway_config.enable_execute_command
                or (self.dataservice_config.enable_dataservice and self.dataservice_config.enable_execute_command)
                or (self.redis_configuration.redis_type == "redis" and self.redis_configuration.enable_execute_command))

    @property
    def deployment_strategy(self) -> str:
        """The gateway's ECS deployment strategy: ROLLING, BLUE_GREEN, CANARY or LINEAR."""
        deployment = self.gateway_deployment_configuration
        return deployment.strategy if deployment else "ROLLING"

    @property
    def name_prefix(self) -> str:
        """`<project>-<environment>`: physical names include both, so two environments can share an account."""
        return f"{self.project_name}-{self.environment}"

    @property
    def lb_ingress_cidrs(self) -> list[str]:
        """The module's default: the VPC CIDR for an internal LB, anywhere for an internet-facing one."""
        if self.allowed_lb_cidrs:
            return list(self.allowed_lb_cidrs)
        return [self.vpc_cidr] if self.internal_lb else ["0.0.0.0/0"]

    @property
    def served(self) -> tuple[str, ...]:
        """The listeners the gateway container runs: "gateway", "mcp", or both."""
        return {"gateway": ("gateway",), "mcp": ("mcp",), "all": ("gateway", "mcp")}[self.server_mode]

    @property
    def gateway_metrics_enabled(self) -> bool:
        """The gateway serves Prometheus metrics at /metrics, without authentication, unless ENABLE_PROMETHEUS is off."""
        variables = self.environment_variables.gateway if self.environment_variables else {}
        return str(variables.get("ENABLE_PROMETHEUS", "")).strip().lower() != "false"

    @property
    def nlb_exposes_metrics(self) -> bool:
        """An NLB forwards whole connections: it cannot keep the gateway's /metrics path from its clients."""
        return self.create_lb and self.lb_type == "network" and "gateway" in self.served and self.gateway_metrics_enabled

    @property
    def terminates_tls(self) -> bool:
        """The load balancer listens with TLS on 443 (a given certificate, or the custom domain's)."""
        return bool(self.tls_certificate_arn) or self.custom_domain is not None

    @property
    def domain_hosts(self) -> dict[str, str]:
        """Served listener -> host name in the custom domain (its own setting, else the ALB routing host)."""
        if not self.custom_domain:
            return {}
        return {name: getattr(self.custom_domain, f"{name}_host") or self.alb_routing_configuration.host(name)
                for name in self.served}

    @property
    def public_urls(self) -> dict[str, str]:
        """Served listener -> https URL in the custom domain, with the path prefix when routing by path."""
        routing = self.alb_routing_configuration
        return {name: f"https://{host}{routing.path(name) if self.lb_type == 'application' else ''}"
                for name, host in self.domain_hosts.items() if host}

    @property
    def mcp_base_url(self) -> str:
        """`mcp_gateway_base_url`, or the custom domain's MCP URL."""
        return self.mcp_gateway_base_url or self.public_urls.get("mcp", "")

    @property
    def timeout_chain(self) -> "TimeoutChain":
        """Every timeout a request crosses, derived from the longest request (overrides win; `_timeouts` checks them)."""
        timeouts = self.timeouts
        padded = timeouts.max_request_seconds + TIMEOUT_HEADROOM_SECONDS
        drain_lag = NLB_DRAIN_LAG_SECONDS if self.lb_type == "network" else 0
        if self.lb_type == "network" and self.terminates_tls:
            idle = None
        else:
            idle = timeouts.lb_idle_timeout_seconds or max(padded, LB_IDLE_RANGE[self.lb_type][0])
        return TimeoutChain(
            request_timeout_ms=timeouts.max_request_seconds * 1000,
            lb_idle_timeout=idle,
            deregistration_delay=(timeouts.deregistration_delay_seconds if timeouts.deregistration_delay_seconds is not None
                                  else min(padded + drain_lag, MAX_DEREGISTRATION_DELAY_SECONDS)),
            stop_timeout=timeouts.stop_timeout_seconds or min(padded, ECS_MAX_STOP_TIMEOUT_SECONDS),
            service_connect_timeout=padded,
        )


@dataclass(frozen=True)
class TimeoutChain:
    """The timeouts a request crosses, client to model; see "Streaming-safe timeouts" in the README."""

    request_timeout_ms: int  # the gateway's REQUEST_TIMEOUT for its upstream (LLM) calls
    lb_idle_timeout: Optional[int]  # seconds; None for an NLB TLS listener, whose idle timeout AWS fixes at 350 s
    deregistration_delay: int  # seconds a replaced task keeps serving in-flight requests before ECS stops it
    stop_timeout: int  # seconds between SIGTERM and SIGKILL
    service_connect_timeout: int  # Service Connect per-request and idle timeout on the gateway's HTTP ports
