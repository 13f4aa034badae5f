"""The gateway's deployment lifecycle hook: a Lambda in the VPC that smoke-tests each new revision through the test
listener and fails the deployment stage when it does not answer (the module's hook always answers SUCCEEDED).

Least privilege: the function may write its own log group and manage its VPC network interfaces; it can reach the
test listener and, only when a headers secret is configured, HTTPS for Secrets Manager (which it may read, that one
secret only).
"""

from __future__ import annotations

from typing import Optional

import json
from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from constructs import Construct

from ..compliance import acknowledge, acknowledge_in_packs, acknowledge_role_policy, checkov_skip
from ..settings import SMOKE_RETRY_PAUSE_SECONDS, LifecycleHook
from ..specs import GATEWAY_HEALTH_PATH
from .ingress import GatewayLoadBalancer
from .network import Network, no_default_egress
from .function import python_function
from .service import EcsService, import_secret

SECRET_FETCH_SECONDS = 20  # the handler's Secrets Manager client: 5 s connect and 5 s read timeouts, two attempts
# What Lambda needs to attach a function to a VPC (AWSLambdaVPCAccessExecutionRole, without its log permissions).
VPC_ACCESS_ACTIONS = ("ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
                      "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses")


def smoke_test_config(hook: LifecycleHook, server_name: Optional[str], ingress: GatewayLoadBalancer) -> dict:
    """What the function checks: every route's health path, then the optional request on the first route.
    `server_name`: the custom domain's first host, on the certificate, for checks without a routing host (NLB)."""
    checks = [
        {"name": f"{route.name} health", "method": "GET", "path": f"{route.path_prefix or ''}{GATEWAY_HEALTH_PATH}",
         "host": route.host, "expected_status": 200}
        for route in ingress.routes
    ]
    request = hook.smoke_request
    if request:
        route = ingress.routes[0]
        checks.append({"name": f"{route.name} request", "method": request.method, "path": f"{route.path_prefix or ''}{request.path}",
                       "host": route.host, "headers": request.headers, "body": request.body,
                       "expected_status": request.expected_status})
    return {
        "scheme": "https" if ingress.certificate_arn else "http",
        "port": ingress.test_port,
        "server_name": server_name,
        "timeout": hook.request_timeout_seconds,
        "attempts": hook.attempts,
        "pause": SMOKE_RETRY_PAUSE_SECONDS,
        "headers_secret_arn": request.headers_secret_arn if request else None,
        "checks": checks,
    }


class SmokeTestHook(Construct):
    """Exposes `function`, `role` (the function's), `invoke_role` (ECS's), `log_group`, `security_group`, and
    `nat_rules` (True when the test listener admits the NAT gateways' addresses)."""

    def __init__(self, scope: Construct, construct_id: str, *, hook: LifecycleHook, name_prefix: str,
                 server_name: Optional[str], network: Network, ingress: GatewayLoadBalancer, gateway: EcsService):
        super().__init__(scope, construct_id)
        config = smoke_test_config(hook, server_name, ingress)
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=network.vpc, allow_all_outbound=False,
            description="Gateway smoke-test hook: to the load balancer test listener only",
        )
        no_default_egress(self.security_group)
        self.security_group.add_egress_rule(ingress.security_group, ec2.Port.tcp(ingress.test_port), "to the test listener")
        ingress.allow_test_traffic_from(self.security_group, "from the smoke-test hook")
        self.nat_rules = False
        if ingress.internet_facing:
            # An internet-facing balancer resolves to public addresses: the hook arrives from the NAT gateways.
            self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(ingress.test_port),
                                                "to the internet-facing test listener")
            if "0.0.0.0/0" not in ingress.client_cidrs:
                # A VPC created here: its NAT gateways' Elastic IPs; an existing one: the configured addresses.
                for address in network.nat_public_ips:
                    ingress.allow_test_traffic_from(ec2.Peer.ipv4(f"{address}/32"), "from the smoke-test hook (NAT)")
                    self.nat_rules = True
                if self.nat_rules:
                    reason = ("The rule cannot evaluate the smoke-test hook's /32 rules, built from the NAT gateways' "
                              "Elastic IPs (CloudFormation references) on the test port; every other rule is a literal "
                              "CIDR from allowed_lb_cidrs, none of them 0.0.0.0/0, and no rule opens SSH or another "
                              "common port: only the listener ports")
                    acknowledge(ingress.security_group, "AwsSolutions-EC23", reason)
                    for rule in ("EC2RestrictedSSH", "EC2RestrictedCommonPorts"):
                        acknowledge_in_packs(ingress.security_group, rule, reason)
                for cidr in hook.egress_cidrs:
                    ingress.allow_test_traffic_from(ec2.Peer.ipv4(cidr), f"from the smoke-test hook ({cidr})")
        if config["headers_secret_arn"]:
            self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to Secrets Manager")

        checks = len(config["checks"])
        # The settings keep this within Lambda's 900 s (settings.deployments.MAX_SECONDS_PER_CHECK).
        budget = checks * hook.attempts * (hook.request_timeout_seconds + SMOKE_RETRY_PAUSE_SECONDS) + SECRET_FETCH_SECONDS + 10
        parts = python_function(
            self, code="smoke_test",
            description="ECS lifecycle hook: smoke-tests the new gateway revision through the test listener",
            role_description="Gateway smoke-test hook: logs, VPC network interfaces",
            timeout=Duration.seconds(budget), failures_reach="ECS, which calls the lifecycle hook and rolls the deployment back when it fails",
            log_retention_days=hook.log_retention_days,
            function_name=f"{name_prefix}-smoke-test",
            vpc=network.vpc,
            vpc_subnets=network.private_subnets,
            security_groups=[self.security_group],
            environment={
                "TEST_LISTENER": ingress.load_balancer.load_balancer_dns_name,
                "SMOKE_TEST": json.dumps(config, sort_keys=True),
            },
        )
        self.function, self.role, self.log_group = parts.function, parts.role, parts.log_group
        self.role.add_to_policy(iam.PolicyStatement(actions=list(VPC_ACCESS_ACTIONS), resources=["*"]))
        vpc_access = ("Lambda's VPC attachment (the actions of AWSLambdaVPCAccessExecutionRole): the network interfaces "
                      "do not exist before Lambda creates them, and ec2:Describe* support no resource-level permissions")
        acknowledge(self.role, "AwsSolutions-IAM5[Resource::*]", vpc_access)
        checkov_skip(self.role.node.find_child("DefaultPolicy").node.default_child, "CKV_AWS_111", vpc_access)
        if config["headers_secret_arn"]:
            import_secret(self, "HeadersSecret", config["headers_secret_arn"], self.role).grant_read(self.role)
        # The function's ENIs need the VPC permissions before Lambda creates it.
        self.function.node.add_dependency(self.role)
        # ECS invokes the function by its unqualified ARN; CDK's default role would also allow every version (`:*`).
        self.invoke_role = iam.Role(self, "InvokeRole", assumed_by=iam.ServicePrincipal("ecs.amazonaws.com"),
                                    description="ECS invokes the gateway smoke-test hook")
        acknowledge_role_policy(self.invoke_role)
        self.invoke_role.add_to_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"],
                                                           resources=[self.function.function_arn]))
        gateway.service.add_lifecycle_hook(ecs.DeploymentLifecycleLambdaTarget(
            self.function, "SmokeTest", role=self.invoke_role,
            lifecycle_stages=[getattr(ecs.DeploymentLifecycleStage, stage) for stage in hook.stages],
        ))
        gateway.service.node.add_dependency(self.invoke_role)  # its policy must exist before ECS may use it

