"""Ingress settings: the load balancer, its TLS listener, ALB routing, and the timeout chain a streamed request
crosses (see "Streaming-safe timeouts" in docs/load-balancer.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, Field

from .base import (BUCKET_NAME, PARTITION_PATTERN, REGION_PATTERN, Cidr, DnsName, FieldProblem, SettingsModel, in_range,
                   is_token, pattern)

CERTIFICATE_ARN = re.compile(rf"^arn:{PARTITION_PATTERN}:acm:{REGION_PATTERN}:\d{{12}}:certificate/[0-9a-f-]+$")
_PATH_PREFIX = re.compile(r"^(?:/[A-Za-z0-9._~-]+)+$")
_LOG_PREFIX = re.compile(r"^(?!.*AWSLogs)[A-Za-z0-9!_.*'()-]+(?:/[A-Za-z0-9!_.*'()-]+)*$")  # ELB refuses "AWSLogs"

PathPrefix = Annotated[str, pattern(_PATH_PREFIX, "a path prefix",
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


class AlbRoutingConfiguration(SettingsModel):
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


class StreamingTimeouts(SettingsModel):
    """The longest request the deployment carries, and the timeouts derived from it (see docs/load-balancer.md)."""

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
    stop_timeout_seconds: Optional[Annotated[int, in_range(2, 120)]] = Field(
        None, description="Override: SIGTERM-to-SIGKILL time, 2-120 (the range ECS documents). Default: max_request_seconds + 15, at most 120.",
    )


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


class IngressSettings(SettingsModel):
    """The gateway's load balancer."""

    create_lb: bool = Field(False, description="Create the gateway load balancer.")
    internal_lb: bool = Field(True, description="Internal (private subnets) or internet-facing (public subnets).")
    lb_type: Literal["network", "application"] = Field("network", description="NLB or ALB.")
    allowed_lb_cidrs: list[Cidr] = Field(
        default_factory=list, description="CIDRs allowed to the LB; empty: the VPC CIDR if internal, else 0.0.0.0/0."
    )
    tls_certificate_arn: Annotated[str, pattern(CERTIFICATE_ARN, "an ACM certificate ARN",
                                                "use arn:aws:acm:<region>:<account>:certificate/<id>", allow_empty=True)] = Field(
        "", description="ACM certificate: HTTPS/TLS on 443."
    )
    lb_ssl_policy: Annotated[str, AfterValidator(_tls_policy)] = Field(
        "ELBSecurityPolicy-TLS13-1-2-2021-06", description="TLS policy of the 443 listener (TLS 1.3 family)."
    )
    lb_deletion_protection: bool = Field(False, description="Refuse to delete the load balancer until this is turned off.")
    enable_lb_access_logs: bool = Field(False, description="LB access logs to S3 (an NLB writes them for TLS listeners only).")
    lb_access_logs_bucket: Annotated[str, pattern(BUCKET_NAME, "a valid S3 bucket name",
                                                  "use 3-63 lower-case letters, digits, dots, hyphens", allow_empty=True)] = Field(
        "", description="Existing bucket for LB access logs (you manage its policy); empty: a bucket is created."
    )
    lb_access_logs_prefix: Annotated[str, pattern(_LOG_PREFIX, "a valid access-log prefix",
                                                  "use path segments without leading or trailing '/' and without AWSLogs, e.g. portkey/prod",
                                                  allow_empty=True)] = Field("", description="Prefix for LB access logs.")
    lb_access_logs_expiration_days: int = Field(90, ge=1, description="Days the created access-log bucket keeps a log object.")
    alb_routing_configuration: AlbRoutingConfiguration = Field(default_factory=AlbRoutingConfiguration, description="ALB rules.")
    timeouts: StreamingTimeouts = Field(default_factory=StreamingTimeouts, description="Streaming-safe timeout chain.")

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
        if self.tls_certificate_arn and not is_token(self.tls_certificate_arn):  # a token: see Settings.unchecked
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

    @property
    def lb_ingress_cidrs(self) -> list[str]:
        """The module's default: the VPC CIDR for an internal LB, anywhere for an internet-facing one."""
        if self.allowed_lb_cidrs:
            return list(self.allowed_lb_cidrs)
        return [self.vpc_cidr] if self.internal_lb else ["0.0.0.0/0"]

    @property
    def nlb_exposes_metrics(self) -> bool:
        """An NLB forwards whole connections: it cannot keep the gateway's /metrics path from its clients."""
        return self.create_lb and self.lb_type == "network" and "gateway" in self.served and self.gateway_metrics_enabled

    @property
    def terminates_tls(self) -> bool:
        """The load balancer listens with TLS on 443 (a given certificate, or the custom domain's)."""
        return bool(self.tls_certificate_arn) or self.custom_domain is not None

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
    """The timeouts a request crosses, client to model; see "Streaming-safe timeouts" in docs/load-balancer.md."""

    request_timeout_ms: int  # the gateway's REQUEST_TIMEOUT for its upstream (LLM) calls
    lb_idle_timeout: Optional[int]  # seconds; None for an NLB TLS listener, whose idle timeout AWS fixes at 350 s
    deregistration_delay: int  # seconds a replaced task keeps serving in-flight requests before ECS stops it
    stop_timeout: int  # seconds between SIGTERM and SIGKILL
    service_connect_timeout: int  # Service Connect per-request and idle timeout on the gateway's HTTP ports
