"""A custom domain for the gateway: a DNS-validated ACM certificate and alias records, in an existing public zone.

The zone is named by id and name (or passed as an object), so synthesis makes no lookup. DNS validation needs the zone
to be public.
"""

from __future__ import annotations

from typing import Mapping, Optional

import jsii
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_route53 as route53
from constructs import Construct

from ..settings import CustomDomain


@jsii.implements(route53.IAliasRecordTarget)
class _LoadBalancerAlias:
    """An alias to the load balancer's own DNS name. CDK's LoadBalancerTarget adds "dualstack.", a name that an IPv4
    NLB does not have (aws-cdk issue 16987); the plain name serves ALBs and NLBs alike."""

    def __init__(self, load_balancer: elbv2.ILoadBalancerV2):
        self._load_balancer = load_balancer

    def bind(self, _record: route53.IRecordSet, _zone: route53.IHostedZone = None) -> route53.AliasRecordTargetConfig:
        return route53.AliasRecordTargetConfig(
            dns_name=self._load_balancer.load_balancer_dns_name,
            hosted_zone_id=self._load_balancer.load_balancer_canonical_hosted_zone_id,
        )


class GatewayDomain(Construct):
    """Exposes `certificate`, `zone` and `hosts` (served listener -> host name, `Settings.domain_hosts`); `point_at`
    adds the records.

    `zone` passes a hosted zone the caller owns (instead of the zone's id and name), `certificate` one that covers
    the hosts (instead of a DNS-validated certificate created here)."""

    def __init__(self, scope: Construct, construct_id: str, *, domain: CustomDomain, hosts: Mapping[str, str],
                 zone: Optional[route53.IHostedZone] = None, certificate: Optional[acm.ICertificate] = None):
        super().__init__(scope, construct_id)
        self.hosts = dict(hosts)
        self.zone = zone or route53.HostedZone.from_hosted_zone_attributes(
            self, "Zone", hosted_zone_id=domain.hosted_zone_id, zone_name=domain.hosted_zone_name
        )
        names = list(dict.fromkeys(self.hosts.values()))
        self.certificate = certificate or acm.Certificate(
            self,
            "Certificate",
            domain_name=names[0],
            subject_alternative_names=names[1:] or None,
            validation=acm.CertificateValidation.from_dns(self.zone),
        )

    def point_at(self, load_balancer: elbv2.ILoadBalancerV2) -> None:
        """An alias A record per host, so clients resolve the load balancer without a CNAME hop."""
        for name, host in self.hosts.items():
            route53.ARecord(
                self, f"{name.capitalize()}Record", zone=self.zone, record_name=host,
                target=route53.RecordTarget.from_alias(_LoadBalancerAlias(load_balancer)),
            )
