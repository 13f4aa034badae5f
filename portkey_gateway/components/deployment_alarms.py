"""The gateway's two health alarms (unhealthy targets, target 5xx share). ECS watches them while it deploys the gateway
(`gateway_deployment_alarms.enabled`): when one fires, ECS rolls the deployment back on its own (the circuit breaker
only sees tasks that fail to start; these see tasks that start but answer badly). The same alarms notify operators
(`monitoring.alarms`).

Each alarm spans every target group of the gateway (both routes, and both colours of a blue/green pair), because the
live revision moves between the groups on every blue/green deployment; each group is judged on its own, so that a
small canary's errors are not diluted by the old revision's traffic.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from constructs import Construct

from ..settings import DeploymentAlarms as DeploymentAlarmsConfig
from .ingress import GatewayLoadBalancer, host_count
from .service import EcsService

PERIOD = Duration.minutes(1)


class DeploymentAlarms(Construct):
    """Exposes `alarms` (unhealthy targets; on an ALB also the target 5xx share)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: DeploymentAlarmsConfig, name_prefix: str,
                 ingress: GatewayLoadBalancer, gateway: EcsService):
        """Attaches the alarms to the gateway's deployments when `config.enabled`."""
        super().__init__(scope, construct_id)
        routes = ingress.groups_by_route()
        # No FILL(): it would turn the latest minute, whose metrics have not arrived yet, into a healthy 0 and keep
        # the alarm from ever seeing `evaluation_minutes` bad minutes in a row. Gaps are simply not evaluated.
        common = dict(evaluation_periods=config.evaluation_minutes, datapoints_to_alarm=config.evaluation_minutes,
                      treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        # A task is registered in every route's group of its colour: sum the colours, take the worst route.
        unhealthy_metrics, per_route = {}, []
        for r, groups in enumerate(routes):
            ids = []
            for c, group in enumerate(groups):
                ids.append(f"u{r}{c}")
                unhealthy_metrics[ids[-1]] = host_count(group, healthy=False, period=PERIOD)
            per_route.append(f"SUM([{', '.join(ids)}])")
        unhealthy = cloudwatch.MathExpression(
            expression=f"MAX([{', '.join(per_route)}])", using_metrics=unhealthy_metrics,
            period=PERIOD, label="Unhealthy gateway targets",
        )
        self.alarms = [unhealthy.create_alarm(
            self, "UnhealthyTargets", alarm_name=f"{name_prefix}-gateway-unhealthy-targets",
            alarm_description="Gateway targets failing the load balancer health check (during a deployment: rolls it back)",
            threshold=config.unhealthy_tasks,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD, **common,
        )]
        if ingress.is_application:
            # Judged per target group, so a canary's errors are not diluted by the old revision's traffic.
            share_metrics, shares = {}, []
            for i, group in enumerate(group for groups in routes for group in groups):
                share_metrics[f"e{i}"] = group.metrics.http_code_target(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=PERIOD)
                share_metrics[f"r{i}"] = group.metrics.request_count(period=PERIOD)
                shares.append(f"IF(r{i} >= {config.minimum_requests}, 100 * e{i} / r{i}, 0)")
            share = cloudwatch.MathExpression(
                expression=f"MAX([{', '.join(shares)}])", using_metrics=share_metrics, period=PERIOD,
                label="Gateway target 5xx (% of a target group's requests)",
            )
            self.alarms.append(share.create_alarm(
                self, "Target5xx", alarm_name=f"{name_prefix}-gateway-target-5xx",
                alarm_description=f"More than {config.target_5xx_percent:g} % of a gateway target group's requests "
                                  "answered 5xx by the tasks (during a deployment: rolls it back)",
                threshold=config.target_5xx_percent,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD, **common,
            ))
        if not config.enabled:
            return
        # Plain names, not references to the alarms, which CDK warns can create a dependency cycle.
        gateway.service.enable_deployment_alarms(
            [alarm.node.default_child.alarm_name for alarm in self.alarms], behavior=ecs.AlarmBehavior.ROLLBACK_ON_ALARM
        )
        gateway.service.node.add_dependency(self)  # the alarms must exist before ECS is told to watch them
