"""AWS PrivateLink with Portkey's control plane, both ways (the guide's console steps, as configuration).

Outbound: an interface endpoint to Portkey's endpoint service with private DNS, so `aws-cp.portkey.ai` resolves to
addresses in this VPC; only the gateway and data-service tasks may use it.

Inbound: a VPC endpoint service on the gateway's NLB, so Portkey's control plane can reach the gateway (to read logs
kept in your bucket) without a public endpoint. An ALB cannot carry an endpoint service, so with an ALB an internal
NLB is put in front of it (an ALB-type target group), as the guide suggests.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_elasticloadbalancingv2_targets as elbv2_targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from ..compliance import accept, acknowledge_in_packs
from ..settings import LB_IDLE_RANGE, ControlPlanePrivateLink, InboundPrivateLink
from .ingress import GatewayLoadBalancer
from .network import Network, no_default_egress
from .service import EcsService, admit

HTTPS_PORT = 443
NLB_MIN_IDLE_SECONDS = LB_IDLE_RANGE["network"][0]


class ControlPlaneEndpoint(Construct):
    """Exposes `endpoint` and `security_group`; `allow_from(service)` admits a service's tasks on 443."""

    def __init__(self, scope: Construct, construct_id: str, *, link: ControlPlanePrivateLink, region: str,
                 network: Network):
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=network.vpc, allow_all_outbound=False,
            description="Portkey control-plane endpoint: HTTPS from the gateway and data-service tasks only",
        )
        no_default_egress(self.security_group)
        self.endpoint = ec2.InterfaceVpcEndpoint(
            self, "Endpoint", vpc=network.vpc,
            service=ec2.InterfaceVpcEndpointService(link.service_name, HTTPS_PORT),
            private_dns_enabled=link.private_dns,
            subnets=network.private_subnets,
            security_groups=[self.security_group],
            open=False,  # only the rules below, not the whole VPC
            service_region=link.service_region if link.service_region != region else None,
        )

    def allow_from(self, client: EcsService) -> None:
        admit(self.security_group, client, HTTPS_PORT)


class GatewayEndpointService(Construct):
    """Exposes `service` (the VPC endpoint service), `load_balancer` (the NLB it fronts: the gateway's, or one
    created in front of its ALB) and `port` (what Portkey connects to)."""

    def __init__(self, scope: Construct, construct_id: str, *, inbound: InboundPrivateLink, region: str,
                 deletion_protection: bool, network: Network,
                 ingress: GatewayLoadBalancer):
        super().__init__(scope, construct_id)
        self.port = ingress.listener_port
        self.load_balancer = (ingress.load_balancer if not ingress.is_application
                              else self._nlb_in_front(deletion_protection, network, ingress))
        if self.load_balancer is not ingress.load_balancer:
            behind = ("the ALB behind it records every request" if ingress.access_logs_bucket is not None else
                      "request logging belongs on the ALB behind it (enable_lb_access_logs, the operator's choice)")
            accept(self.load_balancer, f"This internal NLB only passes PrivateLink TCP through to the gateway's ALB; "
                   f"NLBs log TLS listeners only, and {behind}", findings=["AwsSolutions-ELB2"],
                   pack_rules=["ELBLoggingEnabled"], checkov=["CKV_AWS_91"])
            acknowledge_in_packs(self.load_balancer, "ELBv2ACMCertificateRequired", (
                "TLS passes through this TCP listener untouched: the ALB behind it terminates TLS with the ACM "
                "certificate and the configured TLS policy"))
        self.service = ec2.VpcEndpointService(
            self, "EndpointService",
            vpc_endpoint_service_load_balancers=[self.load_balancer],
            acceptance_required=inbound.acceptance_required,
            allowed_principals=[iam.ArnPrincipal(arn) for arn in inbound.allowed_principals],
            supported_ip_address_types=[ec2.IpAddressType.IPV4],
            # Portkey's control plane connects from its own region: a consumer elsewhere needs cross-region access.
            allowed_regions=[inbound.consumer_region] if inbound.consumer_region != region else None,
        )
        if inbound.private_dns_name:
            # Not on the L2; its L1 child carries the construct's own id.
            self.service.node.find_child("EndpointService").private_dns_name = inbound.private_dns_name

    def _nlb_in_front(self, deletion_protection: bool, network: Network,
                      ingress: GatewayLoadBalancer) -> elbv2.NetworkLoadBalancer:
        """An internal NLB that forwards TCP to the ALB's production listener (TLS still ends at the ALB)."""
        security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=network.vpc, allow_all_outbound=False,
            description=f"Portkey gateway PrivateLink NLB: TCP {self.port} to the ALB",
        )
        no_default_egress(security_group)
        load_balancer = elbv2.NetworkLoadBalancer(
            self, "LoadBalancer", vpc=network.vpc, internet_facing=False, vpc_subnets=network.private_subnets,
            security_groups=[security_group], cross_zone_enabled=True, deletion_protection=deletion_protection,
            # PrivateLink traffic is governed by the endpoint service (allowed principals, acceptance): its source
            # addresses are Portkey's endpoint, which no CIDR rule here could name.
            enforce_security_group_inbound_rules_on_private_link_traffic=False,
        )
        # The same streaming-safe idle timeout as the ALB behind it (NLB TCP listeners accept 60-6000 s).
        idle = max(ingress.timeouts.lb_idle_timeout, NLB_MIN_IDLE_SECONDS)
        listener = load_balancer.add_listener("Listener", port=self.port, protocol=elbv2.Protocol.TCP,
                                              tcp_idle_timeout=Duration.seconds(idle))
        listener.add_targets(
            "Alb", port=self.port, protocol=elbv2.Protocol.TCP,
            targets=[elbv2_targets.AlbListenerTarget(ingress.listener)],
            health_check=elbv2.HealthCheck(protocol=elbv2.Protocol.HTTPS if ingress.certificate_arn else elbv2.Protocol.HTTP,
                                           path="/", healthy_http_codes="200-499", interval=Duration.seconds(30)),
        )
        security_group.add_egress_rule(ingress.security_group, ec2.Port.tcp(self.port), "to the ALB listener")
        ingress.security_group.add_ingress_rule(security_group, ec2.Port.tcp(self.port), "from the PrivateLink NLB")
        return load_balancer
