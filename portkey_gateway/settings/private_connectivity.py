"""Private connectivity settings: PrivateLink to and from Portkey's control plane, its published addresses, and VPC
endpoints for the AWS APIs."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, model_validator

from .base import PARTITION_PATTERN, DnsName, FieldProblem, Region, SettingsModel, pattern

PORTKEY_ENDPOINT_SERVICE = "com.amazonaws.vpce.us-east-1.vpce-svc-0c2c1c323d9f56d95"
PORTKEY_CONTROL_PLANE_ACCOUNT = "arn:aws:iam::299329113195:root"
# The control plane's published source addresses (the guide's "IP Whitelisting").
PORTKEY_CONTROL_PLANE_CIDRS = ("54.81.226.149/32", "34.200.113.35/32", "44.221.117.129/32")
_ENDPOINT_SERVICE_NAME = re.compile(r"^com\.amazonaws\.vpce\.[a-z]{2}(?:-gov)?-[a-z]+-\d\.vpce-svc-[0-9a-f]{17}$")
_PRINCIPAL_ARN = re.compile(rf"^arn:{PARTITION_PATTERN}:iam::\d{{12}}:(?:root|role/[\w+=,.@/-]+|user/[\w+=,.@/-]+)$")


class ControlPlanePrivateLink(SettingsModel):
    """Outbound: an interface endpoint to Portkey's control plane, so sync, logs and analytics stay on AWS's network."""

    enabled: bool = Field(False, description="Reach Portkey's control plane through AWS PrivateLink (Portkey must allow your account first).")
    service_name: Annotated[str, pattern(_ENDPOINT_SERVICE_NAME, "a VPC endpoint service name",
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


class InboundPrivateLink(SettingsModel):
    """Inbound: a VPC endpoint service on the gateway's NLB, so Portkey's control plane reaches the gateway privately."""

    enabled: bool = Field(False, description="Offer the gateway to Portkey's control plane as a VPC endpoint service.")
    acceptance_required: bool = Field(True, description="Connection requests wait for your approval.")
    allowed_principals: list[Annotated[str, pattern(_PRINCIPAL_ARN, "an IAM principal ARN",
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


class PrivateConnectivitySettings(SettingsModel):
    """How Portkey's control plane and the AWS APIs are reached."""

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
