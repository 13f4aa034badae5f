"""The gateway's load balancer: an NLB forwarding to the gateway tasks (IP targets), health-checked over HTTP.

The module checks NLB targets with plain TCP, which passes while the application is broken; we ask `/v1/health`.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from constructs import Construct

from ..config import Settings
from ..specs import GATEWAY_HEALTH_PATH
from .network import Network
from .service import EcsService

LISTENER_PORT = 80
DEREGISTRATION_DELAY_SECONDS = 60  # the module's value


class GatewayLoadBalancer(Construct):
    """Exposes `load_balancer`, `listener`, `target_group` and `security_group`."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, network: Network, gateway: EcsService):
        super().__init__(scope, construct_id)
        port = settings.gateway_config.gateway_port
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=network.vpc, allow_all_outbound=False,
            description=f"Portkey gateway load balancer: TCP {LISTENER_PORT} from allowed CIDRs",
        )
        for cidr in settings.lb_ingress_cidrs:
            self.security_group.add_ingress_rule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(LISTENER_PORT), f"clients in {cidr}")
        self.load_balancer = elbv2.NetworkLoadBalancer(
            self,
            "LoadBalancer",
            vpc=network.vpc,
            internet_facing=False,
            vpc_subnets=network.private_subnets,
            security_groups=[self.security_group],
            cross_zone_enabled=True,
        )
        self.target_group = elbv2.NetworkTargetGroup(
            self,
            "GatewayTargets",
            vpc=network.vpc,
            port=port,
            protocol=elbv2.Protocol.TCP,
            target_type=elbv2.TargetType.IP,
            deregistration_delay=Duration.seconds(DEREGISTRATION_DELAY_SECONDS),
            health_check=elbv2.HealthCheck(
                protocol=elbv2.Protocol.HTTP,
                path=GATEWAY_HEALTH_PATH,
                healthy_http_codes="200",
                interval=Duration.seconds(30),
                timeout=Duration.seconds(10),
                healthy_threshold_count=2,
                unhealthy_threshold_count=3,
            ),
        )
        self.listener = self.load_balancer.add_listener(
            "Listener", port=LISTENER_PORT, protocol=elbv2.Protocol.TCP, default_target_groups=[self.target_group]
        )
        self.target_group.add_target(gateway.service.load_balancer_target(container_name="gateway", container_port=port))
        self.security_group.add_egress_rule(gateway.security_group, ec2.Port.tcp(port), "to gateway tasks")
        gateway.security_group.add_ingress_rule(self.security_group, ec2.Port.tcp(port), "from the load balancer")
