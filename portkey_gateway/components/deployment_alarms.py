"""CloudWatch alarms that ECS watches while it deploys the gateway: when one fires, ECS rolls the deployment back on
its own (the circuit breaker only sees tasks that fail to start; these see tasks that start but answer badly).

Each alarm spans every target group of the gateway (both routes, and both colours of a blue/green pair), because the
live revision moves between the groups on every blue/green deployment.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from constructs import Construct

from ..config import Settings
from .ingress import GatewayLoadBalancer
from .service import EcsService

PERIOD = Duration.minutes(1)


class DeploymentAlarms(Construct):
    """Exposes `alarms` (unhealthy targets; on an ALB also the target 5xx share)."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, ingress: GatewayLoadBalancer,
                 gateway: EcsService):
        super().__init__(scope, construct_id)
        config = settings.gateway_deployment_alarms
        groups = [*ingress.target_groups.values(), *ingress.alternate_target_groups.values()]
        common = dict(evaluation_periods=config.evaluation_minutes, datapoints_to_alarm=config.evaluation_minutes,
                      treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        unhealthy = cloudwatch.MathExpression(
            expression=_over_groups("MAX", "u", groups),
            using_metrics={f"u{i}": _unhealthy(group) for i, group in enumerate(groups)},
            period=PERIOD, label="Unhealthy gateway targets",
        )
        self.alarms = [unhealthy.create_alarm(
            self, "UnhealthyTargets", alarm_name=f"{settings.name_prefix}-gateway-unhealthy-targets",
            alarm_description="Gateway targets failing the load balancer health check; rolls a deployment back",
            threshold=config.unhealthy_tasks,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD, **common,
        )]
        if ingress.is_application:
            metrics = {}
            for i, group in enumerate(groups):
                metrics[f"e{i}"] = group.metrics.http_code_target(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=PERIOD)
                metrics[f"r{i}"] = group.metrics.request_count(period=PERIOD)
            errors, requests = _over_groups("SUM", "e", groups, fill=True), _over_groups("SUM", "r", groups, fill=True)
            share = cloudwatch.MathExpression(
                expression=f"IF({requests} >= {config.minimum_requests}, 100 * {errors} / {requests}, 0)",
                using_metrics=metrics, period=PERIOD, label="Gateway target 5xx (% of requests)",
            )
            self.alarms.append(share.create_alarm(
                self, "Target5xx", alarm_name=f"{settings.name_prefix}-gateway-target-5xx",
                alarm_description=f"More than {config.target_5xx_percent:g} % of gateway requests answered 5xx by the "
                                  "tasks; rolls a deployment back",
                threshold=config.target_5xx_percent,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD, **common,
            ))
        # Plain names, not references: the service and its alarms then form no dependency cycle through the rules.
        gateway.service.enable_deployment_alarms(
            [alarm.node.default_child.alarm_name for alarm in self.alarms], behavior=ecs.AlarmBehavior.ROLLBACK_ON_ALARM
        )
        gateway.service.node.add_dependency(self)  # the alarms must exist before ECS is told to watch them


def _unhealthy(group) -> cloudwatch.IMetric:
    metrics = group.metrics  # the two target-group types spell this metric differently in CDK
    count = metrics.unhealthy_host_count if hasattr(metrics, "unhealthy_host_count") else metrics.un_healthy_host_count
    return count(statistic="Maximum", period=PERIOD)


def _over_groups(function: str, prefix: str, groups: list, fill: bool = False) -> str:
    """e.g. SUM([FILL(e0, 0), FILL(e1, 0)]): an absent count (no 5xx at all) is 0, not a gap."""
    terms = [f"FILL({prefix}{i}, 0)" if fill else f"{prefix}{i}" for i in range(len(groups))]
    return f"{function}([{', '.join(terms)}])"
