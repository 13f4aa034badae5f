"""Edge settings: host names in a Route 53 zone with their certificate, AWS WAF, and the public URLs they give."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Optional
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from .base import DNS_NAME, DnsName, FieldProblem, RetentionDays, SettingsModel, listed_once, pattern

_HOSTED_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,31}$")


class CustomDomain(SettingsModel):
    """Host names in a Route 53 public hosted zone: a DNS-validated ACM certificate and alias records to the LB."""

    hosted_zone_id: Optional[Annotated[str, pattern(_HOSTED_ZONE_ID, "a Route 53 hosted zone id", "use the zone's id, e.g. Z0123456789ABCDEFGHIJ")]] = Field(
        None, description="Id of the public hosted zone (no lookup is made); or PortkeyGateway(domain_zone=...)."
    )
    hosted_zone_name: Optional[Annotated[str, pattern(DNS_NAME, "a DNS zone name", "use the zone's name, e.g. example.com")]] = Field(
        None, description="Name of that zone; or PortkeyGateway(domain_zone=...)."
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


class WebFirewall(SettingsModel):
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
        return listed_once(rules, "name each rule once")


_LISTENER_LABEL = {"gateway": "AI gateway", "mcp": "MCP gateway"}


class EdgeSettings(SettingsModel):
    """What clients see in front of the load balancer."""

    custom_domain: Optional[CustomDomain] = Field(None, description="Route 53 records and an ACM certificate for the hosts.")
    waf: WebFirewall = Field(default_factory=WebFirewall, description="AWS WAF web ACL on the ALB.")

    def _edge(self) -> None:
        domain = self.custom_domain
        if domain:
            for name in ("hosted_zone_id", "hosted_zone_name"):
                if not getattr(domain, name):
                    raise FieldProblem(f"custom_domain.{name}", "is required: the public zone that holds the host names",
                                       "set hosted_zone_id and hosted_zone_name, or pass the zone to PortkeyGateway "
                                       "(domain_zone=)")
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
