"""The gateway's load balancer: an ALB (host/path rules) or an NLB, optional TLS, IP targets, access logs.

Both types health-check `/v1/health` over HTTP (the module's NLB checks plain TCP, which passes while the application is
broken). The idle timeout and the deregistration delay come from the settings' timeout chain, so that neither cuts a
request the deployment promises to carry.

For blue/green, canary and linear deployments it adds what ECS shifts traffic with: a second ("alternate") target
group per route, a test listener (8080, or 8443 with TLS) whose rules mirror production, and the role ECS uses to
move traffic between them. The weights (ALB) or the live group (NLB) in the template come from the deploy guard,
which reads them from the account whenever CloudFormation is about to rewrite a rule or listener (aws-cdk 36649).

On an ALB, every action of a listener ECS manages is a forward (some of AWS's pages say blue/green fails on listeners
that mix forward with other actions): what no route serves, and the gateway's Prometheus metrics paths, which must
never leave the VPC, go to a target group that has no targets (the ALB answers 503).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence, Union

import jsii
from aws_cdk import Annotations, AspectPriority, Aspects, CfnResource, CustomResource, Duration, IAspect, RemovalPolicy, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ..settings import PORTKEY_CONTROL_PLANE_CIDRS, TLS_POLICIES, IngressSettings
from ..compliance import accept, acknowledge, acknowledge_in_packs, acknowledge_role_policy
from ..specs import GATEWAY_HEALTH_PATH, IngressRoute
from .deploy_guard import DeployGuard
from .network import Network, no_default_egress
from .service import EcsService

HTTP_PORT, HTTPS_PORT = 80, 443
TEST_HTTP_PORT, TEST_HTTPS_PORT = 8080, 8443  # the module's test listener ports
NONCURRENT_LOG_DAYS = 30  # how long an overwritten or deleted log object can still be recovered
HEALTH_CHECK_TIMEOUT = {"application": 5, "network": 10}  # the module's values
DESCRIBE_ACTIONS = tuple(f"elasticloadbalancing:Describe{what}" for what in ("Listeners", "Rules", "TargetGroups", "TargetHealth"))
# Prometheus metrics, unauthenticated: the gateway's on its API port, the data service's through the gateway's
# /dataservice proxy (portkey-runtime.md, "Metrics and traces"). Matched under every route's path prefix.
METRICS_PATHS = ("/metrics", "/metrics/*", "/dataservice/metrics", "/dataservice/metrics/*")
METRICS_RULE_PRIORITY = 1  # before every route (the module's: 100, 200)


class GatewayLoadBalancer(Construct):
    """Exposes `load_balancer`, `listener` (production), `security_group`, `access_logs_bucket` (or None), and per
    route name ("gateway", "mcp") `target_groups` and, on an ALB, `rules`. With a traffic-shifting strategy also
    `test_listener`, `test_port`, `alternate_target_groups`, `test_rules` (ALB) and `traffic_shift_role`.

    Takes the ingress settings, the routes to serve, whether deployments shift traffic (blue/green, canary, linear),
    whether PrivateLink clients arrive through an endpoint service, and whether Portkey's control plane is admitted."""

    def __init__(self, scope: Construct, construct_id: str, *, config: IngressSettings, routes: Sequence[IngressRoute],
                 network: Network, gateway: EcsService, certificate_arn: Optional[str], shifts_traffic: bool,
                 private_link_clients: bool = False, admit_control_plane: bool = False,
                 access_logs_bucket: Optional[s3.IBucket] = None):
        super().__init__(scope, construct_id)
        self.config = config
        self.routes = tuple(routes)
        self.internet_facing = not config.internal_lb
        self.client_cidrs = config.lb_ingress_cidrs  # who may connect (allowed_lb_cidrs, or the module's default)
        self.is_application = config.lb_type == "application"
        self.certificate_arn = certificate_arn
        self.listener_port = HTTPS_PORT if certificate_arn else HTTP_PORT
        self.shifts_traffic = shifts_traffic
        self.test_port = (TEST_HTTPS_PORT if certificate_arn else TEST_HTTP_PORT) if self.shifts_traffic else None
        client_ports = (HTTP_PORT, HTTPS_PORT) if self.is_application and certificate_arn else (self.listener_port,)
        client_ports += (self.test_port,) if self.test_port else ()

        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=network.vpc, allow_all_outbound=False,
            description=f"Portkey gateway load balancer: TCP {', '.join(map(str, client_ports))} from allowed CIDRs",
        )
        no_default_egress(self.security_group)  # egress is only to the gateway tasks, added with the targets
        for cidr in self.client_cidrs:
            for port in client_ports:
                self.security_group.add_ingress_rule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(port), f"clients in {cidr}")
            if Token.is_unresolved(cidr):
                acknowledge(self.security_group, "AwsSolutions-EC23", (
                    "Admits the clients' CIDR, a deploy-time value (the CIDR of the VPC passed to the construct, or a "
                    "token in allowed_lb_cidrs) the rule cannot evaluate, on the listener ports only"))
        if admit_control_plane and "0.0.0.0/0" not in self.client_cidrs:
            for cidr in PORTKEY_CONTROL_PLANE_CIDRS:
                self.security_group.add_ingress_rule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(self.listener_port),
                                                     f"Portkey control plane {cidr}")

        placement = dict(
            vpc=network.vpc,
            internet_facing=self.internet_facing,
            vpc_subnets=network.public_subnets if self.internet_facing else network.private_subnets,
            deletion_protection=config.lb_deletion_protection,
        )
        self.timeouts = config.timeout_chain
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
                    False if private_link_clients else None),
            )

        self.access_logs_bucket = self._access_logs(access_logs_bucket) if config.enable_lb_access_logs else None
        self.target_groups = {route.name: self._target_group(route, network.vpc, "Targets") for route in self.routes}
        self.alternate_target_groups = {route.name: self._target_group(route, network.vpc, "AlternateTargets")
                                        for route in self.routes} if self.shifts_traffic else {}
        # What no route serves, on an ALB: a group without targets, so that every action stays a forward.
        self.unrouted_target_group = elbv2.ApplicationTargetGroup(
            self, "Unrouted", vpc=network.vpc, port=HTTP_PORT, protocol=elbv2.ApplicationProtocol.HTTP,
            target_type=elbv2.TargetType.IP,
        ) if self.is_application else None
        self._definitions = _TrackDefinitions()
        Aspects.of(self).add(self._definitions, priority=AspectPriority.DEFAULT)
        self.rules: dict[str, elbv2.ApplicationListenerRule] = {}
        self.test_rules: dict[str, elbv2.ApplicationListenerRule] = {}
        self.test_listener = None
        if self.is_application:
            self.listener = self._application_listener("Listener", self.listener_port, self.rules, "Rule")
            if certificate_arn:
                redirect = self.load_balancer.add_listener(
                    "HttpRedirect", port=HTTP_PORT, protocol=elbv2.ApplicationProtocol.HTTP, open=False,
                    default_action=elbv2.ListenerAction.redirect(protocol="HTTPS", port=str(HTTPS_PORT), permanent=True),
                )
                acknowledge_in_packs(redirect, "ELBv2ACMCertificateRequired", (
                    "This listener serves nothing: its only action redirects to HTTPS on 443, whose listener uses the "
                    "ACM certificate"))
            if self.test_port:
                self.test_listener = self._application_listener("TestListener", self.test_port, self.test_rules, "TestRule")
        else:
            self.listener = self._network_listener("Listener", self.listener_port, self.target_groups,
                                                   self.alternate_target_groups)
            if self.test_port:
                self.test_listener = self._network_listener("TestListener", self.test_port, self.alternate_target_groups,
                                                            self.target_groups)
            if config.nlb_exposes_metrics:  # an internet-facing one is refused by the settings
                Annotations.of(self).add_warning_v2("portkey-gateway:metrics-on-nlb", (
                    "The NLB forwards every path, so the gateway's unauthenticated /metrics is reachable from "
                    "allowed_lb_cidrs (and PrivateLink clients). Set environment_variables.gateway.ENABLE_PROMETHEUS: "
                    '"false" if nothing scrapes it, or use lb_type: application, whose rules keep it inside.'))

        self.traffic_shift_role = self._traffic_shift_role() if self.shifts_traffic else None
        self._acknowledge_findings()
        if self.traffic_shift_role:  # ECS registers the first tasks with it: its policy must exist before the service
            gateway.service.node.add_dependency(self.traffic_shift_role)
        for route in self.routes:
            self.target_groups[route.name].add_target(gateway.service.load_balancer_target(
                container_name=gateway.spec.name, container_port=route.port, alternate_target=self._alternate(route),
            ))
            if not self.is_application:  # an ALB target group opens these two rules itself when it is attached
                self.security_group.add_egress_rule(gateway.security_group, ec2.Port.tcp(route.port), f"to {route.name} listener")
                gateway.security_group.add_ingress_rule(self.security_group, ec2.Port.tcp(route.port), "from the load balancer")

    def _acknowledge_findings(self) -> None:
        if self.access_logs_bucket is None:
            if self.is_application or self.certificate_arn:
                reason = ("Access logging is the operator's choice (enable_lb_access_logs, off by default as in the "
                          "Terraform module); turning it on creates an encrypted, TLS-only, retained log bucket")
            else:
                reason = ("NLBs write access logs only for TLS listeners; this one is plain TCP. Connections are visible "
                          "in VPC flow logs (on for a VPC created here)")
                accept(self.load_balancer, reason, pack_rules=["ELBLoggingEnabled"], checkov=["CKV_AWS_91"])
            acknowledge(self.load_balancer, "AwsSolutions-ELB2", reason)
        elif self.created_access_logs_bucket:
            accept(self.access_logs_bucket, "This bucket is the sink for the load balancer's access logs; logging "
                   "access to it into another bucket would need a sink of its own. It is private, TLS-only and versioned",
                   findings=["AwsSolutions-S1"], pack_rules=["S3BucketLoggingEnabled"], checkov=["CKV_AWS_18"])
            acknowledge_in_packs(self.access_logs_bucket, "S3DefaultEncryptionKMS", (
                "Elastic Load Balancing delivers access logs only to buckets encrypted with S3-managed keys (SSE-S3); "
                "a KMS default encryption would stop the delivery"))
            acknowledge_in_packs(self.access_logs_bucket, "S3BucketReplicationEnabled", (
                "Access logs are kept here, versioned, for lb_access_logs_expiration_days; an organisation that keeps "
                "them in a central archive names that bucket (lb_access_logs_bucket) and this one is not created"))
        if self.traffic_shift_role is not None:
            acknowledge(self.traffic_shift_role, "AwsSolutions-IAM5[Resource::*]",
                        "elasticloadbalancing:Describe{Listeners,Rules,TargetGroups,TargetHealth} support no resource-level "
                        "permissions (Service Authorization Reference); registering targets and modifying listeners and "
                        "rules are limited to this deployment's own target groups, listeners and rules")
        if "0.0.0.0/0" in self.client_cidrs:
            acknowledge(self.security_group, "AwsSolutions-EC23",
                        "An internet-facing gateway with allowed_lb_cidrs unset is open to the internet on its listener "
                        "ports only, by design (the module's default); list allowed_lb_cidrs to narrow it")

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
        acknowledge_role_policy(role)
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
        lb_type = self.config.lb_type
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
        """A listener whose rules route to the gateway; the metrics paths and anything unrouted go to the group
        without targets. The test listener's rules mirror production's."""
        listener = self.load_balancer.add_listener(
            construct_id,
            port=port,
            protocol=elbv2.ApplicationProtocol.HTTPS if self.certificate_arn else elbv2.ApplicationProtocol.HTTP,
            certificates=self._certificates(),
            ssl_policy=self._ssl_policy(),
            open=False,  # ingress is exactly the allowed CIDRs, added above
            default_action=elbv2.ListenerAction.forward([self.unrouted_target_group]),
        )
        for index, route in enumerate(self.routes):
            prefix = route.path_prefix or ""
            elbv2.ApplicationListenerRule(
                self, f"{route.name.capitalize()}Metrics{rule_kind}", listener=listener,
                priority=METRICS_RULE_PRIORITY + index,
                conditions=[elbv2.ListenerCondition.path_patterns([prefix + path for path in METRICS_PATHS])],
                action=elbv2.ListenerAction.forward([self.unrouted_target_group]),
            )
        for route in self.routes:
            conditions = [elbv2.ListenerCondition.path_patterns([route.path_pattern])]
            if route.host:
                conditions.insert(0, elbv2.ListenerCondition.host_headers([route.host]))
            rule_id = f"{route.name.capitalize()}{rule_kind}"
            weights = self._live_weights(rule_id, self.target_groups[route.name],
                                         self.alternate_target_groups.get(route.name), listener=listener)
            rule = elbv2.ApplicationListenerRule(self, rule_id, listener=listener, priority=route.priority,
                                                 conditions=conditions, action=self._forward(route, weights))
            cfn_rule = rule.node.default_child
            transforms = None
            if route.rewrite:
                # The gateway serves /v1/..., not /gateway/v1/...: strip the routing prefix (the L2 has no transforms).
                regex, replace = route.rewrite
                transforms = [{"Type": "url-rewrite",
                               "UrlRewriteConfig": {"Rewrites": [{"Regex": regex, "Replace": replace}]}}]
                cfn_rule.add_property_override("Transforms", transforms)
            if weights:
                self._definitions.track(weights, cfn_rule, lambda cfn, transforms=transforms: {
                    "Priority": cfn.priority, "Conditions": cfn.conditions, "Transforms": transforms,
                    "Tags": cfn.cdk_tag_manager.render_tags()})
            rules[route.name] = rule
        return listener

    def _live_weights(self, construct_id: str, primary: elbv2.ITargetGroup, alternate: Optional[elbv2.ITargetGroup],
                      **where):
        """The deploy guard's reading of what ECS left live on the rule or listener `construct_id`; None when
        traffic does not shift (ECS then never changes the rule)."""
        if alternate is None:
            return None
        return DeployGuard.of(self).live_weights(self, f"{construct_id}LiveWeights", primary=primary,
                                                 alternate=alternate, **where)

    def _forward(self, route: IngressRoute, weights) -> elbv2.ListenerAction:
        """With traffic shifting, a weighted forward over both groups (the shape ECS itself writes), with the weights
        that are live when CloudFormation writes it: a new rule starts at 100 to the first group."""
        group = self.target_groups[route.name]
        if weights is None:
            return elbv2.ListenerAction.forward([group])
        return elbv2.ListenerAction.weighted_forward([
            elbv2.WeightedTargetGroup(target_group=group, weight=Token.as_number(weights.get_att("PrimaryWeight"))),
            elbv2.WeightedTargetGroup(target_group=self.alternate_target_groups[route.name],
                                      weight=Token.as_number(weights.get_att("AlternateWeight"))),
        ])

    def _network_listener(self, construct_id: str, port: int, groups: dict, other_groups: dict) -> elbv2.NetworkListener:
        """NLB listeners forward everything (no rules) to one group; the test listener starts on the alternate group,
        as the module's. With traffic shifting, the group is the one live when CloudFormation writes the listener."""
        idle_timeout = self.timeouts.lb_idle_timeout
        route = self.routes[0].name
        listener = self.load_balancer.add_listener(
            construct_id,
            port=port,
            protocol=elbv2.Protocol.TLS if self.certificate_arn else elbv2.Protocol.TCP,
            certificates=self._certificates(),
            ssl_policy=self._ssl_policy(),
            default_target_groups=[groups[route]],
            # A TLS listener's idle timeout is fixed by AWS (350 s); the settings check the chain against it.
            tcp_idle_timeout=Duration.seconds(idle_timeout) if idle_timeout else None,
        )
        weights = self._live_weights(construct_id, groups[route], other_groups.get(route),
                                     load_balancer=self.load_balancer, port=port)
        if weights:
            cfn_listener = listener.node.default_child
            self._definitions.track(weights, cfn_listener, lambda cfn: {
                "Protocol": cfn.protocol, "Certificates": cfn.certificates, "SslPolicy": cfn.ssl_policy,
                "AlpnPolicy": cfn.alpn_policy, "ListenerAttributes": cfn.listener_attributes,
                "Tags": cfn.cdk_tag_manager.render_tags()})
            # An NLB forwards to one target group (no weights): the live one.
            cfn_listener.add_property_override("DefaultActions", [
                {"Type": "forward", "TargetGroupArn": weights.get_att_string("LiveTargetGroupArn")}])
        return listener

    def _certificates(self) -> Optional[list[elbv2.IListenerCertificate]]:
        return [elbv2.ListenerCertificate.from_arn(self.certificate_arn)] if self.certificate_arn else None

    def _ssl_policy(self) -> Optional[elbv2.SslPolicy]:
        return getattr(elbv2.SslPolicy, TLS_POLICIES[self.config.lb_ssl_policy]) if self.certificate_arn else None

    def _access_logs(self, given: Optional[s3.IBucket]) -> s3.IBucket:
        """The caller's bucket, or the named one (their owner keeps its policy), or a created one ELB can write to.
        `created_access_logs_bucket` says which."""
        config = self.config
        self.created_access_logs_bucket = False
        if given is not None:
            bucket = given
        elif config.lb_access_logs_bucket:
            bucket = s3.Bucket.from_bucket_name(self, "AccessLogs", config.lb_access_logs_bucket)
        else:
            days = config.lb_access_logs_expiration_days
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
            self.created_access_logs_bucket = True
        # Adds the region's ELB log-delivery principal (account or service) to a created bucket's policy.
        self.load_balancer.log_access_logs(bucket, prefix=config.lb_access_logs_prefix or None)
        return bucket


@jsii.implements(IAspect)
class _TrackDefinitions:
    """Sets each deploy-guard resource's `Definition` when its rule or listener is visited, after the tags are applied
    (tags are aspects too, of a higher priority): when anything CloudFormation writes to the rule or listener besides
    its forward changes, the guard resource is updated too, and reads the live weights just before CloudFormation
    rewrites the rule."""

    def __init__(self):
        self.pending: dict[str, tuple[CustomResource, Callable[[], dict]]] = {}  # by the rule's or listener's path

    def track(self, weights: CustomResource, target: CfnResource, definition: Callable[[CfnResource], dict]) -> None:
        self.pending[target.node.path] = (weights, lambda: definition(target))

    def visit(self, node) -> None:
        if node.node.path in self.pending:
            weights, definition = self.pending.pop(node.node.path)
            fields = {key: value for key, value in definition().items() if value is not None}
            weights.node.default_child.add_property_override("Definition", fields)


def host_count(group: elbv2.ITargetGroup, healthy: bool, **options) -> cloudwatch.Metric:
    """HealthyHostCount or UnHealthyHostCount (Maximum per period) of a target group of either type, whose CDK metric
    methods spell the unhealthy one differently."""
    metrics = group.metrics
    if healthy:
        return metrics.healthy_host_count(statistic="Maximum", **options)
    count = metrics.unhealthy_host_count if hasattr(metrics, "unhealthy_host_count") else metrics.un_healthy_host_count
    return count(statistic="Maximum", **options)
