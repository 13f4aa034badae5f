"""Day-2 observability: one CloudWatch dashboard per environment, and alarms on the signals that mean users are
hurting, each notifying the operations SNS topic.

The dashboard is drawn by cdk-monitoring-constructs (its ECS-service and Auto Scaling sections, and custom sections
for what it does not know: the gateway's several target groups, ALB-made 5xx kept apart from target 5xx, Container
Insights' running versus desired tasks, the capacity provider, the cache's nodes). The alarms are ours, so their
names and thresholds are settings; the gateway's two health alarms are the same alarms ECS watches during deploys.
"""

from __future__ import annotations

from typing import Optional

import cdk_monitoring_constructs as monitoring
import jsii
from aws_cdk import Duration
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from ..settings import DeploymentAlarms as DeploymentAlarmsConfig
from ..settings import LlmTraffic as LlmTrafficConfig
from ..settings import Monitoring as MonitoringConfig
from .dead_letters import DeadLetters
from . import llm_traffic as llm
from .ingress import GatewayLoadBalancer, host_count
from .service import EcsService

MINUTE = Duration.minutes(1)
CONTAINER_INSIGHTS = "ECS/ContainerInsights"
ALARM_METRICS = 10  # metrics one alarm's expression may use
GRAPH_NODES = 100  # cache nodes per graph (a graph takes at most 500 metrics, and stays readable)


class Monitoring(Construct):
    """Exposes `dashboard` (None when off), `alarms` (every alarm that notifies the topic, incl. `health_alarms`) and
    `service_events` (the rule passing ECS's warnings and errors on; None without alarms)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: MonitoringConfig,
                 health_config: DeploymentAlarmsConfig, name_prefix: str, region: str, topic: Optional[sns.ITopic],
                 cluster: ecs.ICluster, services: list[EcsService], ingress: Optional[GatewayLoadBalancer],
                 health_alarms: list[cloudwatch.Alarm], capacity_provider_name: Optional[str],
                 auto_scaling_group: Optional[autoscaling.AutoScalingGroup], cache_nodes: list[str],
                 functions: dict[str, lambda_.IFunction], dead_letters: Optional[DeadLetters] = None,
                 llm_traffic: Optional[LlmTrafficConfig] = None, llm_namespace: str = ""):
        super().__init__(scope, construct_id)
        self.config, self.health_config, self.name_prefix, self.region = config, health_config, name_prefix, region
        self.llm_traffic, self.llm_namespace = llm_traffic, llm_namespace  # the gateway's own metrics, when collected
        self.dead_letters = dead_letters  # where the service events that cannot be published go
        self.cluster_name = cluster.cluster_name
        self.alarms: list[cloudwatch.Alarm] = []
        self.service_events = None
        if self.config.alarms:
            self.alarms += health_alarms
            if dead_letters and dead_letters.alarm:
                self.alarms.append(dead_letters.alarm)
            if ingress:
                self._no_healthy_targets_alarm(ingress)
            if ingress and ingress.is_application:
                self._lb_5xx_alarm(ingress)
            if ingress and ingress.certificate_arn:
                self._certificate_alarm(ingress.certificate_arn)
            for service in services:
                self._task_shortfall_alarm(service)
            if capacity_provider_name:
                self._capacity_alarm(capacity_provider_name)
            if cache_nodes:
                self._cache_alarms(cache_nodes)
            for name, function in functions.items():
                self._function_alarm(name, function)
            if llm_traffic:
                lb_requests = (ingress.load_balancer.metrics.request_count(period=Duration.minutes(5), statistic="Sum")
                               if ingress and ingress.is_application else None)
                for spec in llm.alarm_specs(llm_namespace, llm_traffic, lb_requests):
                    self._alarm(*spec)
            for alarm in self.alarms:
                alarm.add_alarm_action(actions.SnsAction(topic))
                alarm.add_ok_action(actions.SnsAction(topic))
            self.service_events = self._service_events(services, topic)
        # Without operations alarms, the deployment alarms (if any) still deserve their place on the dashboard.
        shown = self.alarms or health_alarms
        self.dashboard = self._dashboard(shown, services, ingress, capacity_provider_name, auto_scaling_group, cache_nodes) \
            if self.config.dashboard else None

    # --- alarms ------------------------------------------------------------------------------------------------------

    def _alarm(self, metric: cloudwatch.IMetric, construct_id: str, name: str, description: str, threshold: float,
               minutes: int, operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD) -> None:
        """Fires when the condition holds for `minutes` minutes in a row; missing data (nothing running, nothing sent)
        is not a problem."""
        self.alarms.append(metric.create_alarm(
            self, construct_id, alarm_name=f"{self.name_prefix}-{name}", alarm_description=description,
            threshold=threshold, comparison_operator=operator, evaluation_periods=minutes, datapoints_to_alarm=minutes,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        ))

    def _lb_5xx_alarm(self, ingress: GatewayLoadBalancer) -> None:
        """Errors the ALB makes itself (502/503/504 with no target answer: dead or draining targets, timeouts)."""
        lb = ingress.load_balancer.metrics
        minimum = self.health_config.minimum_requests
        # RequestCount leaves out requests rejected before a target was chosen (a 503 with no target left): they are
        # exactly the ALB-made 5xx, so they are added back, or an outage would read as no traffic.
        share = cloudwatch.MathExpression(
            expression=f"IF(r + e >= {minimum}, 100 * e / (r + e), 0)", period=MINUTE, label="ALB-made 5xx (% of requests)",
            using_metrics={"e": lb.http_code_elb(elbv2.HttpCodeElb.ELB_5XX_COUNT, period=MINUTE),
                           "r": lb.request_count(period=MINUTE)},
        )
        self._alarm(share, "LoadBalancer5xx", "lb-5xx",
                    f"More than {self.config.lb_5xx_percent:g} % of requests answered 5xx by the load balancer itself "
                    "(no target answered: targets failing, draining or timing out)",
                    self.config.lb_5xx_percent, self.health_config.evaluation_minutes)

    def _no_healthy_targets_alarm(self, ingress: GatewayLoadBalancer) -> None:
        """A route with no healthy target at all (every task gone): nothing is unhealthy then, and an ALB counts the
        503s it answers itself apart from requests, so neither of the other alarms would see it."""
        metrics, per_route = {}, []
        for r, groups in enumerate(ingress.groups_by_route()):
            ids = [f"h{r}{c}" for c in range(len(groups))]
            metrics.update({i: host_count(group, healthy=True, period=MINUTE) for i, group in zip(ids, groups)})
            per_route.append(f"SUM([{', '.join(ids)}])")  # a task serves its route from either colour's group
        healthy = cloudwatch.MathExpression(expression=f"MIN([{', '.join(per_route)}])", using_metrics=metrics,
                                            period=MINUTE, label="Healthy gateway targets (worst route)")
        minutes = self.health_config.evaluation_minutes
        self._alarm(healthy, "NoHealthyTargets", "gateway-no-healthy-targets",
                    f"A gateway route has had no healthy target for {minutes} minutes: every request to it fails",
                    1, minutes, operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD)

    def _certificate_alarm(self, certificate_arn: str) -> None:
        """ACM renews the certificates it issues (custom_domain), but not imported ones; either way a certificate
        that is about to expire breaks every TLS handshake."""
        days = cloudwatch.Metric(namespace="AWS/CertificateManager", metric_name="DaysToExpiry", statistic="Minimum",
                                 dimensions_map={"CertificateArn": certificate_arn}, period=Duration.days(1))
        self._alarm(days, "CertificateExpiry", "certificate-expiry",
                    f"The listener's certificate expires in fewer than {self.config.certificate_expiry_days} days: renew "
                    "or re-import it", self.config.certificate_expiry_days, 1,
                    operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD)

    def _task_shortfall_alarm(self, service: EcsService) -> None:
        name = service.spec.name
        # A service with no task left may stop reporting its running count: that is 0, not "no data".
        shortfall = cloudwatch.MathExpression(
            expression="desired - FILL(running, 0)", period=MINUTE, label=f"{name} tasks missing",
            using_metrics={"desired": self._task_count(service, "Desired"), "running": self._task_count(service, "Running")},
        )
        self._alarm(shortfall, f"{_pascal(name)}TaskShortfall", f"{name}-tasks-below-desired",
                    f"The {name} service has run fewer tasks than desired for {self.config.task_shortfall_minutes} "
                    "minutes (tasks failing to start or stay healthy, or waiting for capacity)",
                    0, self.config.task_shortfall_minutes)

    def _task_count(self, service: EcsService, kind: str) -> cloudwatch.Metric:
        """Container Insights' RunningTaskCount or DesiredTaskCount of one service."""
        return cloudwatch.Metric(namespace=CONTAINER_INSIGHTS, metric_name=f"{kind}TaskCount", statistic="Average",
                                 dimensions_map={"ClusterName": self.cluster_name, "ServiceName": service.service.service_name},
                                 period=MINUTE, label=f"{service.spec.name} {kind.lower()}")

    def _reservation(self, capacity_provider_name: str, statistic: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/ECS/ManagedScaling", metric_name="CapacityProviderReservation", statistic=statistic,
            dimensions_map={"ClusterName": self.cluster_name, "CapacityProviderName": capacity_provider_name},
            period=MINUTE, label="reservation",
        )

    def _capacity_alarm(self, capacity_provider_name: str) -> None:
        self._alarm(self._reservation(capacity_provider_name, "Minimum"), "CapacityShortfall", "capacity-shortfall",
                    f"Tasks have waited {self.config.capacity_shortfall_minutes} minutes for instances (capacity-provider "
                    "reservation above 100 %): the Auto Scaling group is at max_asg_size or cannot launch",
                    100, self.config.capacity_shortfall_minutes)

    def _cache_alarms(self, nodes: list[str]) -> None:
        """Worst node: a full or saturated primary hurts every request that uses the cache. An alarm's expression
        takes at most 10 metrics, so a large cluster gets one alarm per 10 nodes (`-2`, `-3`, ...)."""
        for metric_name, construct_id, name, threshold, what in (
            ("DatabaseMemoryUsagePercentage", "CacheMemory", "cache-memory", self.config.cache_memory_percent,
             "memory used (evictions follow)"),
            ("EngineCPUUtilization", "CacheCpu", "cache-cpu", self.config.cache_cpu_percent, "engine CPU"),
        ):
            for part, start in enumerate(range(0, len(nodes), ALARM_METRICS)):
                suffix = f"{part + 1}" if part else ""
                self._alarm(_worst_node(nodes[start:start + ALARM_METRICS], metric_name), f"{construct_id}{suffix}",
                            f"{name}{'-' + suffix if suffix else ''}",
                            f"A cache node's {what} has stayed above {threshold} % for 5 minutes", threshold, 5)

    def _function_alarm(self, name: str, function: lambda_.IFunction) -> None:
        """An operations function that fails means its job (a redeploy after a secret change) did not happen."""
        errors = function.metric_errors(period=Duration.minutes(5), statistic="Sum")
        self._alarm(errors, f"{_pascal(name)}Errors", f"{name}-errors",
                    f"The {name} function failed (its log group has the reason)", 0, 1)

    def _service_events(self, services: list[EcsService], topic: sns.ITopic) -> events.Rule:
        """ECS's own warnings and errors about these services, as they happen: a deployment that failed (and rolled
        back), tasks that cannot be placed or keep failing to start. The metrics only show their effect later."""
        field = events.EventField.from_path
        rule = events.Rule(
            self, "ServiceEvents",
            description=f"ECS warnings and errors of the {self.name_prefix} services, to the operations topic",
            event_pattern=events.EventPattern(
                source=["aws.ecs"], detail_type=["ECS Service Action", "ECS Deployment State Change"],
                resources=[service.service.service_arn for service in services],
                detail={"eventType": ["WARN", "ERROR"]},
            ),
        )
        rule.add_target(_TopicTarget(topic, events.RuleTargetInput.from_text(
            f"{self.name_prefix}: {field('$.detail.eventName')} ({field('$.detail.eventType')}) "
            f"on {field('$.resources[0]')} at {field('$.time')}. {field('$.detail.reason')} {field('$.detail.reasons')}"
        ), self.dead_letters))
        # Only this rule may publish (CDK's SnsTopic target would let any rule of any account publish).
        topic.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowServiceEventsRuleToPublish", principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["sns:Publish"], resources=[topic.topic_arn], conditions={"ArnEquals": {"aws:SourceArn": rule.rule_arn}},
        ))
        return rule

    # --- dashboard ---------------------------------------------------------------------------------------------------

    def _dashboard(self, alarms: list[cloudwatch.Alarm], services: list[EcsService], ingress: Optional[GatewayLoadBalancer],
                   capacity_provider_name: Optional[str], auto_scaling_group: Optional[autoscaling.AutoScalingGroup],
                   cache_nodes: list[str]) -> cloudwatch.Dashboard:
        facade = monitoring.MonitoringFacade(
            self, "Facade",
            dashboard_factory=monitoring.DefaultDashboardFactory(
                # Dashboard names are global to the account: the region keeps two regions' environments apart.
                self, "Dashboards", dashboard_name_prefix=f"{self.name_prefix}-{self.region}",
                create_dashboard=True, create_summary_dashboard=False, create_alarm_dashboard=False,
            ),
        )
        facade.add_large_header(f"Portkey gateway: {self.name_prefix}")
        if alarms:
            facade.add_widget(cloudwatch.AlarmStatusWidget(alarms=alarms, title="Alarms", width=24,
                                                           height=max(2, 1 + (len(alarms) + 3) // 4)))
        if ingress:
            self._custom(facade, "Load balancer", _load_balancer_groups(ingress))
        if self.llm_traffic:
            self._custom(facade, "LLM traffic", llm.dashboard_groups(self.llm_namespace, tuple(self.llm_traffic.providers)))
        self._custom(facade, "Tasks", [monitoring.CustomMetricGroup(
            title="Running vs desired tasks",
            metrics=[self._task_count(service, kind) for service in services for kind in ("Running", "Desired")],
        )])
        for service in services:  # CPU and memory per service
            facade.monitor_simple_ec2_service(ec2_service=service.service, human_readable_name=f"{service.spec.name} service",
                                              alarm_friendly_name=service.spec.name)
        if capacity_provider_name:
            self._custom(facade, "Cluster capacity", [monitoring.CustomMetricGroup(
                title="Capacity-provider reservation (%): above 100, tasks wait for instances",
                metrics=[self._reservation(capacity_provider_name, "Average")],
            )])
        if auto_scaling_group:
            facade.monitor_auto_scaling_group(auto_scaling_group=auto_scaling_group, human_readable_name="Cluster instances",
                                              alarm_friendly_name="instances")
        if cache_nodes:
            nodes = cache_nodes
            self._custom(facade, "Cache (ElastiCache)", [
                monitoring.CustomMetricGroup(title=f"{title}{_node_range(start, len(nodes))}",
                                             metrics=_node_metrics(nodes[start:start + GRAPH_NODES], metric_name, statistic,
                                                                   first=start + 1))
                for title, metric_name, statistic in (
                    ("Engine CPU (%)", "EngineCPUUtilization", "Average"),
                    ("Memory used (%)", "DatabaseMemoryUsagePercentage", "Average"),
                    ("Evictions", "Evictions", "Sum"),
                    ("Connections", "CurrConnections", "Average"),
                )
                for start in range(0, len(nodes), GRAPH_NODES)
            ])
        return facade.created_dashboard()

    def _custom(self, facade: monitoring.MonitoringFacade, title: str, groups: list) -> None:
        facade.monitor_custom(metric_groups=groups, human_readable_name=title,
                              alarm_friendly_name=title.lower().replace(" ", "-"))


@jsii.implements(events.IRuleTarget)
class _TopicTarget:
    """An SNS topic as a rule target, without the grant CDK's SnsTopic target adds (see `_service_events`); what
    cannot be delivered goes to the dead letters."""

    def __init__(self, topic: sns.ITopic, message: events.RuleTargetInput, dead_letters: Optional[DeadLetters]):
        self.topic, self.message, self.dead_letters = topic, message, dead_letters

    def bind(self, rule: events.IRule, id: Optional[str] = None) -> events.RuleTargetConfig:
        return events.RuleTargetConfig(arn=self.topic.topic_arn, input=self.message,
                                       dead_letter_config=self.dead_letters.target_config(rule) if self.dead_letters else None)


def _load_balancer_groups(ingress: GatewayLoadBalancer) -> list[monitoring.CustomMetricGroup]:
    """Traffic, errors (who made them), latency and target health across every target group of the gateway (both
    routes, both colours of a blue/green pair)."""
    lb = ingress.load_balancer.metrics
    groups = [*ingress.target_groups.items(),
              *((f"{name} (alternate)", group) for name, group in ingress.alternate_target_groups.items())]
    health = [monitoring.CustomMetricGroup(title="Healthy / unhealthy targets", metrics=[
        metric for name, group in groups for metric in (
            host_count(group, healthy=True, period=MINUTE, label=f"{name} healthy"),
            host_count(group, healthy=False, period=MINUTE, label=f"{name} unhealthy"))
    ])]
    if not ingress.is_application:
        return [monitoring.CustomMetricGroup(title="Connections", metrics=[
                    lb.active_flow_count(period=MINUTE, label="active"), lb.new_flow_count(period=MINUTE, label="new")]),
                monitoring.CustomMetricGroup(title="TCP resets", metrics=[
                    lb.tcp_elb_reset_count(period=MINUTE, label="by the NLB"),
                    lb.tcp_target_reset_count(period=MINUTE, label="by targets")]),
                *health]
    return [
        monitoring.CustomMetricGroup(title="Requests", metrics=[lb.request_count(period=MINUTE, label="requests")]),
        monitoring.CustomMetricGroup(title="5xx: made by the ALB vs answered by targets", metrics=[
            lb.http_code_elb(elbv2.HttpCodeElb.ELB_5XX_COUNT, period=MINUTE, label="ALB 5xx (502/503/504: no target answer)"),
            lb.http_code_target(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=MINUTE, label="target 5xx")]),
        monitoring.CustomMetricGroup(title="Target response time (s)", metrics=[
            lb.target_response_time(statistic="p50", period=MINUTE, label="p50"),
            lb.target_response_time(statistic="p99", period=MINUTE, label="p99")]),
        *health,
    ]


def _node_metrics(nodes: list[str], metric_name: str, statistic: str, first: int = 1) -> list[cloudwatch.Metric]:
    """One metric per node, labelled by its position (`first`, first + 1, ...)."""
    return [cloudwatch.Metric(namespace="AWS/ElastiCache", metric_name=metric_name, statistic=statistic, period=MINUTE,
                              dimensions_map={"CacheClusterId": node}, label=f"node {first + i}")
            for i, node in enumerate(nodes)]


def _worst_node(nodes: list[str], metric_name: str) -> cloudwatch.MathExpression:
    metrics = {f"n{i}": metric for i, metric in enumerate(_node_metrics(nodes, metric_name, "Average"))}
    return cloudwatch.MathExpression(expression=f"MAX([{', '.join(metrics)}])", using_metrics=metrics, period=MINUTE,
                                     label=f"{metric_name} (worst node)")


def _node_range(start: int, count: int) -> str:
    """A graph title's " (nodes 101-200)", when the nodes need more than one graph."""
    return f" (nodes {start + 1}-{min(start + GRAPH_NODES, count)})" if count > GRAPH_NODES else ""


def _pascal(name: str) -> str:
    return "".join(part.title() for part in name.split("-"))
