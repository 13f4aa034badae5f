"""The gateway's load balancer: an ALB (host/path rules) or an NLB, optional TLS, IP targets, access logs.

Both types health-check `/v1/health` over HTTP (the module's NLB checks plain TCP, which passes while the application is
broken). The idle timeout and the deregistration delay come from the settings' timeout chain, so that neither cuts a
request the deployment promises to carry.

For blue/green, canary and linear deployments it adds what ECS shifts traffic with: a second ("alternate") target
group per route, a test listener (8080, or 8443 with TLS) whose rules mirror production, and the role ECS uses to
move traffic between them.
"""

from __future__ import annotations

from typing import Optional, Union

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ..config import PORTKEY_CONTROL_PLANE_CIDRS, TLS_POLICIES, Settings
from ..specs import GATEWAY_HEALTH_PATH, IngressRoute, ingress_routes
from .network import Network, no_default_egress
from .service import EcsService

HTTP_PORT, HTTPS_PORT = 80, 443
TEST_HTTP_PORT, TEST_HTTPS_PORT = 8080, 8443  # the module's test listener ports
NONCURRENT_LOG_DAYS = 30  # how long an overwritten or deleted log object can still be recovered
HEALTH_CHECK_TIMEOUT = {"application": 5, "network": 10}  # the module's values
DESCRIBE_ACTIONS = tuple(f"elasticloadbalancing:Describe{what}" for what in ("Listeners", "Rules", "TargetGroups", "TargetHealth"))


class GatewayLoadBalancer(Construct):
    """Exposes `load_balancer`, `listener` (production), `security_group`, `access_logs_bucket` (or None), and per
    route name ("gateway", "mcp") `target_groups` and, on an ALB, `rules`. With a traffic-shifting strategy also
    `test_listener`, `test_port`, `alternate_target_groups`, `test_rules` (ALB) and `traffic_shift_role`."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, network: Network, gateway: EcsService,
                 certificate_arn: Optional[str]):
        super().__init__(scope, construct_id)
        self.settings = settings
        self.routes = ingress_routes(settings)
        self.is_application = settings.lb_type == "application"
        self.certificate_arn = certificate_arn
        self.listener_port = HTTPS_PORT if certificate_arn else HTTP_PORT
        self.shifts_traffic = settings.deployment_strategy != "ROLLING"
        self.test_port = (TEST_HTTPS_PORT if certificate_arn else TEST_HTTP_PORT) if self.shifts_traffic else None
        client_ports = (HTTP_PORT, HTTPS_PORT) if self.is_application and certificate_arn else (self.listener_port,)
        client_ports += (self.test_port,) if self.test_port else ()

        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=network.vpc, allow_all_outbound=False,
            description=f"Portkey gateway load balancer: TCP {', '.join(map(str, client_ports))} from allowed CIDRs",
        )
        no_default_egress(self.security_group)  # egress is only to the gateway tasks, added with the targets
        for cidr in settings.lb_ingress_cidrs:
            for port in client_ports:
                self.security_group.add_ingress_rule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(port), f"clients in {cidr}")
        if settings.allow_control_plane_ips and "0.0.0.0/0" not in settings.lb_ingress_cidrs:
            for cidr in PORTKEY_CONTROL_PLANE_CIDRS:
                self.security_group.add_ingress_rule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(self.listener_port),
                                                     f"Portkey control plane {cidr}")

        placement = dict(
            vpc=network.vpc,
            internet_facing=not settings.internal_lb,
            vpc_subnets=network.private_subnets if settings.internal_lb else network.public_subnets,
            deletion_protection=settings.lb_deletion_protection,
        )
        self.timeouts = settings.timeout_chain
        idle_timeout = self.timeouts.lb_idle_timeout
        self.load_balancer: Union[elbv2.ApplicationLoadBalancer, elbv2.NetworkLoadBalancer]
        if self.is_application:
            self.load_balancer = elbv2.ApplicationLoadBalancer(
                self, "LoadBalancer", **placement, security_group=self.security_group,
                idle_timeout=Duration.seconds(idle_timeout), drop_invalid_header_fields=True,
            )
        else:
            self.load_balancer = elbv2.NetworkLoadBalancer(
                self, "LoadBalancer", **placement, security_groups=[self.security_group], cross_zone_enabled=True,
                # With an endpoint service, PrivateLink traffic is governed by its allowed principals and acceptance:
                # its source addresses are the consumer's endpoint, which no CIDR rule here could name.
                enforce_security_group_inbound_rules_on_private_link_traffic=(
                    False if settings.inbound_private_link.enabled else None),
            )

        self.access_logs_bucket = self._access_logs() if settings.enable_lb_access_logs else None
        self.target_groups = {route.name: self._target_group(route, network.vpc, "Targets") for route in self.routes}
        self.alternate_target_groups = {route.name: self._target_group(route, network.vpc, "AlternateTargets")
                                        for route in self.routes} if self.shifts_traffic else {}
        self.rules: dict[str, elbv2.ApplicationListenerRule] = {}
        self.test_rules: dict[str, elbv2.ApplicationListenerRule] = {}
        self.test_listener = None
        if self.is_application:
            self.listener = self._application_listener("Listener", self.listener_port, self.rules, "Rule")
            if certificate_arn:
                self.load_balancer.add_listener(
                    "HttpRedirect", port=HTTP_PORT, protocol=elbv2.ApplicationProtocol.HTTP, open=False,
                    default_action=elbv2.ListenerAction.redirect(protocol="HTTPS", port=str(HTTPS_PORT), permanent=True),
                )
            if self.test_port:
                self.test_listener = self._application_listener("TestListener", self.test_port, self.test_rules, "TestRule")
        else:
            self.listener = self._network_listener("Listener", self.listener_port, self.target_groups)
            if self.test_port:
                self.test_listener = self._network_listener("TestListener", self.test_port, self.alternate_target_groups)

        self.traffic_shift_role = self._traffic_shift_role() if self.shifts_traffic else None
        if self.traffic_shift_role:  # ECS registers the first tasks with it: its policy must exist before the service
            gateway.service.node.add_dependency(self.traffic_shift_role)
        for route in self.routes:
            self.target_groups[route.name].add_target(gateway.service.load_balancer_target(
                container_name=gateway.spec.name, container_port=route.port, alternate_target=self._alternate(route),
            ))
            if not self.is_application:  # an ALB target group opens these two rules itself when it is attached
                self.security_group.add_egress_rule(gateway.security_group, ec2.Port.tcp(route.port), f"to {route.name} listener")
                gateway.security_group.add_ingress_rule(self.security_group, ec2.Port.tcp(route.port), "from the load balancer")

    def groups_by_route(self) -> list[list[elbv2.ITargetGroup]]:
        """Per route, its target groups: the live one and, when traffic shifts, the alternate (the live revision
        moves between the two on every blue/green deployment)."""
        return [[group, *([self.alternate_target_groups[name]] if self.alternate_target_groups else [])]
                for name, group in self.target_groups.items()]

    def allow_test_traffic_from(self, peer: ec2.IPeer, description: str) -> None:
        """Admit `peer` (e.g. the smoke-test hook) on the test listener."""
        self.security_group.add_ingress_rule(peer, ec2.Port.tcp(self.test_port), description)

    def _alternate(self, route: IngressRoute) -> Optional[ecs.AlternateTarget]:
        """What ECS shifts a route's traffic between: the route's rules on an ALB, the listeners on an NLB."""
        if not self.shifts_traffic:
            return None
        if self.is_application:
            production = ecs.ListenerRuleConfiguration.application_listener_rule(self.rules[route.name])
            test = ecs.ListenerRuleConfiguration.application_listener_rule(self.test_rules[route.name])
        else:
            production = ecs.ListenerRuleConfiguration.network_listener(self.listener)
            test = ecs.ListenerRuleConfiguration.network_listener(self.test_listener)
        return ecs.AlternateTarget(
            f"{route.name.capitalize()}AlternateTarget", alternate_target_group=self.alternate_target_groups[route.name],
            production_listener=production, test_listener=test, role=self.traffic_shift_role,
        )

    def _traffic_shift_role(self) -> iam.Role:
        """ECS's infrastructure role for load balancers, limited to this deployment's target groups, listeners and
        rules (the managed AmazonECSInfrastructureRolePolicyForLoadBalancers allows them on every load balancer)."""
        role = iam.Role(self, "TrafficShiftRole", assumed_by=iam.ServicePrincipal("ecs.amazonaws.com"),
                        description="ECS shifts gateway traffic between blue and green target groups")
        groups = [*self.target_groups.values(), *self.alternate_target_groups.values()]
        listeners = [self.listener, self.test_listener]
        rules = [*self.rules.values(), *self.test_rules.values()]
        statements = [
            # Describe calls have no resource-level permissions.
            (DESCRIBE_ACTIONS, ["*"]),
            (("elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"),
             [group.target_group_arn for group in groups]),
            (("elasticloadbalancing:ModifyListener",), [listener.listener_arn for listener in listeners]),
        ]
        if rules:
            statements.append((("elasticloadbalancing:ModifyRule",), [rule.listener_rule_arn for rule in rules]))
        for actions, resources in statements:
            role.add_to_policy(iam.PolicyStatement(actions=list(actions), resources=resources))
        return role

    def _target_group(self, route: IngressRoute, vpc: ec2.IVpc, kind: str) -> elbv2.ITargetGroup:
        lb_type = self.settings.lb_type
        common = dict(
            vpc=vpc,
            port=route.port,
            target_type=elbv2.TargetType.IP,
            deregistration_delay=Duration.seconds(self.timeouts.deregistration_delay),
            health_check=elbv2.HealthCheck(
                protocol=elbv2.Protocol.HTTP,
                path=GATEWAY_HEALTH_PATH,
                healthy_http_codes="200",
                interval=Duration.seconds(30),
                timeout=Duration.seconds(HEALTH_CHECK_TIMEOUT[lb_type]),
                healthy_threshold_count=2,
                unhealthy_threshold_count=3,
            ),
        )
        construct_id = f"{route.name.capitalize()}{kind}"
        if self.is_application:
            return elbv2.ApplicationTargetGroup(self, construct_id, protocol=elbv2.ApplicationProtocol.HTTP, **common)
        return elbv2.NetworkTargetGroup(self, construct_id, protocol=elbv2.Protocol.TCP, **common)

    def _application_listener(self, construct_id: str, port: int, rules: dict, rule_kind: str) -> elbv2.ApplicationListener:
        """A listener that answers 404 unless a routing rule matches. The test listener's rules mirror production's."""
        listener = self.load_balancer.add_listener(
            construct_id,
            port=port,
            protocol=elbv2.ApplicationProtocol.HTTPS if self.certificate_arn else elbv2.ApplicationProtocol.HTTP,
            certificates=self._certificates(),
            ssl_policy=self._ssl_policy(),
            open=False,  # ingress is exactly the allowed CIDRs, added above
            default_action=elbv2.ListenerAction.fixed_response(404, content_type="text/plain", message_body="Not Found"),
        )
        for route in self.routes:
            conditions = [elbv2.ListenerCondition.path_patterns([route.path_pattern])]
            if route.host:
                conditions.insert(0, elbv2.ListenerCondition.host_headers([route.host]))
            rule = elbv2.ApplicationListenerRule(
                self, f"{route.name.capitalize()}{rule_kind}", listener=listener, priority=route.priority,
                conditions=conditions, action=self._forward(route),
            )
            if route.rewrite:
                # The gateway serves /v1/..., not /gateway/v1/...: strip the routing prefix (the L2 has no transforms).
                regex, replace = route.rewrite
                rule.node.default_child.add_property_override("Transforms", [
                    {"Type": "url-rewrite", "UrlRewriteConfig": {"Rewrites": [{"Regex": regex, "Replace": replace}]}}
                ])
            rules[route.name] = rule
        return listener

    def _forward(self, route: IngressRoute) -> elbv2.ListenerAction:
        """With traffic shifting, a weighted forward over both groups, all to the first: the shape ECS itself writes
        (aws-cdk issue 36649). A stack update that rewrites the rule still sends all traffic to the first group,
        wherever the live tasks are: the README says how to change routing safely."""
        group = self.target_groups[route.name]
        if not self.shifts_traffic:
            return elbv2.ListenerAction.forward([group])
        return elbv2.ListenerAction.weighted_forward([
            elbv2.WeightedTargetGroup(target_group=group, weight=100),
            elbv2.WeightedTargetGroup(target_group=self.alternate_target_groups[route.name], weight=0),
        ])

    def _network_listener(self, construct_id: str, port: int, groups: dict) -> elbv2.NetworkListener:
        """NLB listeners forward everything (no rules); the test listener starts on the alternate group, as the module's."""
        idle_timeout = self.timeouts.lb_idle_timeout
        return self.load_balancer.add_listener(
            construct_id,
            port=port,
            protocol=elbv2.Protocol.TLS if self.certificate_arn else elbv2.Protocol.TCP,
            certificates=self._certificates(),
            ssl_policy=self._ssl_policy(),
            default_target_groups=[groups[self.routes[0].name]],
            # A TLS listener's idle timeout is fixed by AWS (350 s); the settings check the chain against it.
            tcp_idle_timeout=Duration.seconds(idle_timeout) if idle_timeout else None,
        )

    def _certificates(self) -> Optional[list[elbv2.IListenerCertificate]]:
        return [elbv2.ListenerCertificate.from_arn(self.certificate_arn)] if self.certificate_arn else None

    def _ssl_policy(self) -> Optional[elbv2.SslPolicy]:
        return getattr(elbv2.SslPolicy, TLS_POLICIES[self.settings.lb_ssl_policy]) if self.certificate_arn else None

    def _access_logs(self) -> s3.IBucket:
        """The named bucket (its owner keeps its policy), or a created one that ELB can write to."""
        settings = self.settings
        if settings.lb_access_logs_bucket:
            bucket = s3.Bucket.from_bucket_name(self, "AccessLogs", settings.lb_access_logs_bucket)
        else:
            days = settings.lb_access_logs_expiration_days
            bucket = s3.Bucket(
                self,
                "AccessLogs",
                encryption=s3.BucketEncryption.S3_MANAGED,  # ELB log delivery cannot use KMS keys
                enforce_ssl=True,
                versioned=True,
                block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
                object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
                lifecycle_rules=[s3.LifecycleRule(
                    expiration=Duration.days(days),
                    noncurrent_version_expiration=Duration.days(NONCURRENT_LOG_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )],
                removal_policy=RemovalPolicy.RETAIN,
            )
        # Adds the region's ELB log-delivery principal (account or service) to a created bucket's policy.
        self.load_balancer.log_access_logs(bucket, prefix=settings.lb_access_logs_prefix or None)
        return bucket


def host_count(group: elbv2.ITargetGroup, healthy: bool, **options) -> cloudwatch.Metric:
    """HealthyHostCount or UnHealthyHostCount (Maximum per period) of a target group of either type, whose CDK metric
    methods spell the unhealthy one differently."""
    metrics = group.metrics
    if healthy:
        return metrics.healthy_host_count(statistic="Maximum", **options)
    count = metrics.unhealthy_host_count if hasattr(metrics, "unhealthy_host_count") else metrics.un_healthy_host_count
    return count(statistic="Maximum", **options)
