"""Deployment settings of the gateway: the strategy (rolling, blue/green, canary, linear), the circuit breakers, the
alarms that roll a deployment back, and the smoke-test hook."""

from __future__ import annotations

import difflib
import math
import re
from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, Field, model_validator

from .base import Cidr, FieldProblem, RetentionDays, SecretArn, SettingsModel, in_range, pattern


def _traffic_percent(low: float):
    """ECS shifts traffic in steps of 0.1 % from `low` to 100 %."""
    def check(value: float) -> float:
        if not low <= value <= 100 or abs(value * 10 - round(value * 10)) > 1e-9:
            raise FieldProblem("", f"{value} is not a percentage from {low:g} to 100 in steps of 0.1", f"use e.g. {max(low, 10):g}")
        return value

    return AfterValidator(check)


BakeMinutes = Annotated[int, in_range(0, 1440)]  # what ECS accepts for every bake time


class CanaryConfiguration(SettingsModel):
    canary_bake_time_in_minutes: BakeMinutes = Field(description="Minutes the canary share runs before the rest shifts.")
    canary_percent: Annotated[float, _traffic_percent(0.1)] = Field(
        description="Share of production traffic (%) sent to the new revision first (0.1-100)."
    )


class LinearConfiguration(SettingsModel):
    step_bake_time_in_minutes: BakeMinutes = Field(description="Minutes between steps.")
    step_percent: Annotated[float, _traffic_percent(3)] = Field(description="Share of production traffic (%) shifted per step (3-100).")


# CloudFormation waits at most 36 h for a service update; ECS refuses traffic shifts whose bake times add up past 33 h.
MAX_SHIFT_MINUTES = 33 * 60


class DeploymentConfiguration(SettingsModel):
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


class CircuitBreaker(SettingsModel):
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


class DeploymentAlarms(SettingsModel):
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


class SmokeRequest(SettingsModel):
    """A request the hook sends through the test listener besides the health check, e.g. a cheap completion."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = Field("POST", description="HTTP method.")
    path: Annotated[str, pattern(re.compile(r"^/[^\s]*$"), "a request path", "start with '/', e.g. /v1/chat/completions")] = Field(
        description="Path on the AI gateway (or the MCP gateway in mcp mode), without any routing prefix."
    )
    body: Optional[dict[str, Any]] = Field(None, description="JSON body.")
    headers: dict[Annotated[str, pattern(_HEADER_NAME, "an HTTP header name", "use e.g. x-portkey-provider")],
                  Annotated[str, pattern(_HEADER_VALUE, "a header value", "use one line of Latin-1 text")]] = Field(
        default_factory=dict, description="Plain headers (no credentials: use headers_secret_arn)."
    )
    headers_secret_arn: Optional[SecretArn] = Field(
        None, description="Secret whose JSON object holds more headers (e.g. x-portkey-api-key), read by the hook at run time."
    )
    expected_status: Annotated[int, in_range(100, 599)] = Field(200, description="Status the new revision must answer with.")


class LifecycleHook(SettingsModel):
    enable_lifecycle_hook: bool = Field(
        False, description="Smoke-test each new revision through the test listener and fail the deployment when it does not answer."
    )
    lifecycle_hook_stages: list[str] = Field(
        default_factory=list, description=f"Stages to test at; empty: {SMOKE_TEST_STAGES[0]} (before any production traffic)."
    )
    request_timeout_seconds: Annotated[int, in_range(1, 120)] = Field(10, description="Timeout of each smoke-test request.")
    attempts: Annotated[int, in_range(1, 10)] = Field(3, description="Tries per check, 5 s apart, before the stage fails.")
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


ALARM_LAG_MINUTES = 2  # load-balancer metrics reach CloudWatch, and an alarm is evaluated, about this late


class DeploymentSettings(SettingsModel):
    """How a new revision of the gateway replaces the running one."""

    gateway_deployment_configuration: Optional[DeploymentConfiguration] = Field(
        None, description="Deployment strategy; unset: rolling."
    )
    gateway_deployment_circuit_breaker: CircuitBreaker = Field(default_factory=CircuitBreaker, description="Gateway breaker.")
    gateway_deployment_alarms: DeploymentAlarms = Field(
        default_factory=DeploymentAlarms, description="Alarms that roll a gateway deployment back (needs a load balancer)."
    )
    gateway_lifecycle_hook: LifecycleHook = Field(default_factory=LifecycleHook, description="Smoke-test hook for blue/green, canary, linear.")

    def _deployments(self) -> None:
        strategy = self.deployment_strategy
        if strategy != "ROLLING" and not self.create_lb:
            raise FieldProblem("gateway_deployment_configuration", f"{strategy} shifts traffic between target groups of the "
                               "gateway's load balancer, and there is none", "set create_lb: true, or remove the strategy")
        if strategy in ("CANARY", "LINEAR") and self.lb_type == "network":
            # AWS's current ECS guide lists NLBs for canary and linear; an earlier revision and the aws-cdk-lib README
            # say they need an ALB. Blue/green works on both under either reading (docs/deployments.md, "Deployment strategies").
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

    @property
    def deployment_strategy(self) -> str:
        """The gateway's ECS deployment strategy: ROLLING, BLUE_GREEN, CANARY or LINEAR."""
        deployment = self.gateway_deployment_configuration
        return deployment.strategy if deployment else "ROLLING"
