"""AWS WAF for the gateway's ALB, tuned for LLM APIs.

The AWS common rule set blocks request bodies over 8 KB and requests without a User-Agent; prompts and tool schemas
are routinely larger, and SDKs send odd or no agents, so by default those two rules count instead of block
(`waf.count_only_rules`). Everything else of the common, known-bad-inputs and IP-reputation groups blocks, and a per-IP
rate limit caps abuse. Logs go to CloudWatch with the credentials headers redacted.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from ..settings import WebFirewall
from .service import retention_days

REDACTED_HEADERS = ("authorization", "x-portkey-api-key", "x-portkey-virtual-key")

_Acl = wafv2.CfnWebACL


def _visibility(metric: str) -> _Acl.VisibilityConfigProperty:
    return _Acl.VisibilityConfigProperty(cloud_watch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True)


def _managed_rule_group(name: str, priority: int, counted: tuple[str, ...] = ()) -> _Acl.RuleProperty:
    return _Acl.RuleProperty(
        name=name,
        priority=priority,
        override_action=_Acl.OverrideActionProperty(none={}),
        statement=_Acl.StatementProperty(managed_rule_group_statement=_Acl.ManagedRuleGroupStatementProperty(
            vendor_name="AWS",
            name=name,
            rule_action_overrides=[
                _Acl.RuleActionOverrideProperty(name=rule, action_to_use=_Acl.RuleActionProperty(count={}))
                for rule in counted
            ] or None,
        )),
        visibility_config=_visibility(name),
    )


class GatewayFirewall(Construct):
    """Exposes `web_acl` and `log_group`."""

    def __init__(self, scope: Construct, construct_id: str, *, waf: WebFirewall, name_prefix: str,
                 load_balancer: elbv2.ApplicationLoadBalancer):
        super().__init__(scope, construct_id)
        prefix = name_prefix
        self.web_acl = _Acl(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=_Acl.DefaultActionProperty(allow={}),
            description=f"Portkey gateway {prefix}: LLM-API profile",
            visibility_config=_visibility(f"{prefix}-gateway"),
            rules=[
                _Acl.RuleProperty(
                    name="RateLimitPerIp",
                    priority=0,
                    action=_Acl.RuleActionProperty(block={}),
                    statement=_Acl.StatementProperty(rate_based_statement=_Acl.RateBasedStatementProperty(
                        limit=waf.rate_limit_per_ip, aggregate_key_type="IP", evaluation_window_sec=300,
                    )),
                    visibility_config=_visibility("RateLimitPerIp"),
                ),
                _managed_rule_group("AWSManagedRulesAmazonIpReputationList", 1),
                _managed_rule_group("AWSManagedRulesCommonRuleSet", 2, tuple(waf.count_only_rules)),
                _managed_rule_group("AWSManagedRulesKnownBadInputsRuleSet", 3),
            ],
        )
        wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=load_balancer.load_balancer_arn, web_acl_arn=self.web_acl.attr_arn
        )
        # WAF only delivers to log groups whose names start with "aws-waf-logs-"; the group outlives the stack.
        log_group_name = f"aws-waf-logs-{prefix}"
        self.log_group = logs.LogGroup(
            self, "Logs", log_group_name=log_group_name,
            retention=retention_days(waf.log_retention_days), removal_policy=RemovalPolicy.RETAIN,
        )
        log_group_arn = Stack.of(self).format_arn(  # WAF wants the ARN without the ":*" that GetAtt Arn carries
            service="logs", resource="log-group", resource_name=log_group_name, arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        logging = wafv2.CfnLoggingConfiguration(
            self,
            "Logging",
            resource_arn=self.web_acl.attr_arn,
            log_destination_configs=[log_group_arn],
            redacted_fields=[
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": header})
                for header in REDACTED_HEADERS
            ],
        )
        logging.node.add_dependency(self.log_group)
