"""Config validation: one case per rule. Every error is one line naming the file, the field and the fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from portkey_gateway import ConfigError, load_config, settings_from_dict
from portkey_gateway.loader import resolve_config_path

from .conftest import CERTIFICATE, EXAMPLE, ROOT, ZONE, example, variant, with_data_service

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:portkey/dev/client-AbCdEf"


def error_of(data: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        settings_from_dict(data, source="cfg.yaml")
    return str(caught.value)


def without(key: str) -> dict:
    data = example()
    del data[key]
    return data


def alb(**changes) -> dict:
    return variant(lb_type="application", **changes)


def no_lb(**changes) -> dict:
    return variant(create_lb=False, allowed_lb_cidrs=[], **changes)


def all_mode(routing: dict | None = None, **changes) -> dict:
    return alb(**{"server_mode": "all", "mcp_gateway_base_url": "https://mcp.example.com",
                  "alb_routing_configuration": routing or {}, **changes})


HOSTS = {"enable_host_based_routing": True, "gateway_host": "gateway.example.com", "mcp_host": "mcp.example.com"}

BLUE_GREEN = {"enable_blue_green": True}
CANARY = {"enable_blue_green": False, "canary_configuration": {"canary_percent": 10, "canary_bake_time_in_minutes": 5}}
HOOK = {"enable_lifecycle_hook": True}

# Deployment strategies, lifecycle hook, deployment alarms, autoscaling, capacity.
DEPLOY_CASES = [
    ("strategy-without-lb", no_lb(gateway_deployment_configuration=BLUE_GREEN), "gateway_deployment_configuration",
     "create_lb: true"),
    ("two-strategies", variant(gateway_deployment_configuration={**CANARY, "enable_blue_green": True}),
     "gateway_deployment_configuration.canary_configuration", "keep one of enable_blue_green and canary_configuration"),
    ("canary-and-linear", variant(gateway_deployment_configuration={
        **CANARY, "linear_configuration": {"step_percent": 10, "step_bake_time_in_minutes": 1}}),
     "gateway_deployment_configuration.linear_configuration", "keep one of"),
    ("canary-percent-zero", variant(gateway_deployment_configuration={
        "enable_blue_green": False, "canary_configuration": {"canary_percent": 0, "canary_bake_time_in_minutes": 5}}),
     "gateway_deployment_configuration.canary_configuration.canary_percent", "use e.g. 10"),
    ("canary-percent-fine-steps", variant(gateway_deployment_configuration={
        "enable_blue_green": False, "canary_configuration": {"canary_percent": 5.25, "canary_bake_time_in_minutes": 5}}),
     "gateway_deployment_configuration.canary_configuration.canary_percent", "steps of 0.1"),
    ("linear-step-below-3", variant(gateway_deployment_configuration={
        "enable_blue_green": False, "linear_configuration": {"step_percent": 2, "step_bake_time_in_minutes": 1}}),
     "gateway_deployment_configuration.linear_configuration.step_percent", "from 3 to 100"),
    ("bake-time-too-long", variant(gateway_deployment_configuration={**BLUE_GREEN, "bake_time_in_minutes": 1441}),
     "gateway_deployment_configuration.bake_time_in_minutes", "0 to 1440"),
    ("shift-longer-than-33h", variant(gateway_deployment_configuration={
        "enable_blue_green": False, "bake_time_in_minutes": 600,
        "linear_configuration": {"step_percent": 10, "step_bake_time_in_minutes": 180}}),
     "gateway_deployment_configuration.bake_time_in_minutes", "shorten the bake times"),
    ("bake-time-when-rolling", variant(gateway_deployment_configuration={"enable_blue_green": False, "bake_time_in_minutes": 5}),
     "gateway_deployment_configuration.bake_time_in_minutes", "choose one of them"),
    ("hook-when-rolling", variant(gateway_lifecycle_hook=HOOK), "gateway_lifecycle_hook.enable_lifecycle_hook",
     "enable_blue_green: true"),
    ("hook-stage-from-module-docs", variant(gateway_deployment_configuration=BLUE_GREEN,
                                            gateway_lifecycle_hook={**HOOK, "lifecycle_hook_stages": ["PRE_SCALE_DOWN"]}),
     "gateway_lifecycle_hook.lifecycle_hook_stages[0]", "did you mean POST_PRODUCTION_TRAFFIC_SHIFT?"),
    ("smoke-header-value-two-lines", variant(gateway_deployment_configuration=BLUE_GREEN, gateway_lifecycle_hook={
        **HOOK, "smoke_request": {"path": "/v1/models", "headers": {"x-portkey-provider": "openai\nX-Other: 1"}}}),
     "gateway_lifecycle_hook.smoke_request.headers.x-portkey-provider", "one line of Latin-1 text"),
    ("hook-stage-typo", variant(gateway_deployment_configuration=BLUE_GREEN,
                                gateway_lifecycle_hook={**HOOK, "lifecycle_hook_stages": ["POST_TEST_TRAFIC_SHIFT"]}),
     "gateway_lifecycle_hook.lifecycle_hook_stages[0]", "did you mean POST_TEST_TRAFFIC_SHIFT?"),
    ("hook-stage-before-test-traffic", variant(gateway_deployment_configuration=BLUE_GREEN,
                                               gateway_lifecycle_hook={**HOOK, "lifecycle_hook_stages": ["PRE_SCALE_UP"]}),
     "gateway_lifecycle_hook.lifecycle_hook_stages[0]", "use POST_TEST_TRAFFIC_SHIFT"),
    ("hook-settings-when-off", variant(gateway_lifecycle_hook={"smoke_request": {"path": "/v1/models"}}),
     "gateway_lifecycle_hook.smoke_request", "enable_lifecycle_hook: true"),
    ("smoke-path-relative", variant(gateway_deployment_configuration=BLUE_GREEN,
                                    gateway_lifecycle_hook={**HOOK, "smoke_request": {"path": "v1/models"}}),
     "gateway_lifecycle_hook.smoke_request.path", "start with '/'"),
    ("smoke-headers-secret-plaintext", variant(gateway_deployment_configuration=BLUE_GREEN, gateway_lifecycle_hook={
        **HOOK, "smoke_request": {"path": "/v1/models", "headers_secret_arn": "pk-123"}}),
     "gateway_lifecycle_hook.smoke_request.headers_secret_arn", "never the secret value"),
    ("alarms-without-lb", no_lb(gateway_deployment_alarms={"enabled": True}), "gateway_deployment_alarms.enabled",
     "create_lb: true"),
    ("alarm-settings-when-off", variant(gateway_deployment_alarms={"unhealthy_tasks": 2}, monitoring={"alarms": False}),
     "gateway_deployment_alarms", "enabled: true"),
    ("alarm-settings-without-lb", no_lb(gateway_deployment_alarms={"unhealthy_tasks": 2}), "gateway_deployment_alarms",
     "enabled: true"),
    ("5xx-alarm-on-an-nlb", variant(gateway_deployment_alarms={"enabled": True, "target_5xx_percent": 1}),
     "gateway_deployment_alarms.target_5xx_percent", "lb_type: application"),
    ("request-scaling-on-an-nlb", variant(gateway_autoscaling={"enable_autoscaling": True, "target_requests_per_task": 100}),
     "gateway_autoscaling.target_requests_per_task", "lb_type: application"),
    ("request-scaling-when-off", variant(gateway_autoscaling={"target_requests_per_task": 100}),
     "gateway_autoscaling.target_requests_per_task", "enable_autoscaling: true"),
    ("hook-stage-rerun-on-rollback", variant(gateway_deployment_configuration=BLUE_GREEN, gateway_lifecycle_hook={
        **HOOK, "lifecycle_hook_stages": ["PRODUCTION_TRAFFIC_SHIFT"]}),
     "gateway_lifecycle_hook.lifecycle_hook_stages[0]", "POST_TEST_TRAFFIC_SHIFT or POST_PRODUCTION_TRAFFIC_SHIFT"),
    ("hook-checks-outlast-lambda", variant(gateway_deployment_configuration=BLUE_GREEN, gateway_lifecycle_hook={
        **HOOK, "attempts": 10, "request_timeout_seconds": 60}), "gateway_lifecycle_hook.attempts", "at most 280"),
    ("hook-internet-facing-existing-vpc-without-egress", variant(
        create_new_vpc=False, vpc_id="vpc-0123456789abcdef0", private_subnet_ids=["subnet-0123456789abcdef0"],
        public_subnet_ids=["subnet-0123456789abcdef1"], internal_lb=False, allowed_lb_cidrs=["203.0.113.0/24"],
        lb_type="application", gateway_deployment_configuration=BLUE_GREEN, gateway_lifecycle_hook=HOOK),
     "gateway_lifecycle_hook.egress_cidrs", "list their public IPs"),
    ("hook-egress-cidrs-not-needed", variant(gateway_deployment_configuration=BLUE_GREEN, gateway_lifecycle_hook={
        **HOOK, "egress_cidrs": ["198.51.100.7/32"]}), "gateway_lifecycle_hook.egress_cidrs", "remove it"),
    ("bake-shorter-than-alarm", variant(gateway_deployment_configuration=BLUE_GREEN, gateway_deployment_alarms={"enabled": True}),
     "gateway_deployment_configuration.bake_time_in_minutes", "at least 4"),
    ("canary-bake-shorter-than-alarm", variant(
        lb_type="application", gateway_deployment_configuration={**CANARY, "bake_time_in_minutes": 10,
                                          "canary_configuration": {"canary_percent": 10, "canary_bake_time_in_minutes": 2}},
        gateway_deployment_alarms={"enabled": True, "evaluation_minutes": 1}),
     "gateway_deployment_configuration.canary_configuration.canary_bake_time_in_minutes", "at least 3"),
    ("data-service-scaling-without-data-service", variant(dataservice_autoscaling={"enable_autoscaling": True}),
     "dataservice_autoscaling.enable_autoscaling", "turn it off"),
    ("capacity-error", variant(capacity_check="error", max_asg_size=1, desired_asg_size=1),
     "max_asg_size", "raise max_asg_size to 2"),
    ("capacity-task-larger-than-instance", variant(capacity_check="error", instance_type="t4g.micro"),
     "instance_type", "use instance_type t4g.small (2 instances)"),
    ("capacity-check-on-existing-cluster", variant(create_cluster=False, cluster_name="c", capacity_provider_name="cp",
                                                   capacity_check="off"), "capacity_check", "remove it"),
]

# Server modes, load balancer, routing, edge features and the timeout chain.
INGRESS_CASES = [
    ("mcp-mode-needs-url", variant(server_mode="mcp"), "mcp_gateway_base_url", "https://mcp.example.com"),
    ("mcp-url-without-scheme", variant(server_mode="mcp", mcp_gateway_base_url="mcp.example.com"), "mcp_gateway_base_url",
     "with its scheme"),
    ("mcp-url-bad-host", variant(server_mode="mcp", mcp_gateway_base_url="https://mcp_gw:8788"), "mcp_gateway_base_url",
     "with its scheme"),
    ("all-mode-without-routing", all_mode(), "alb_routing_configuration", "enable_host_based_routing: true"),
    ("all-mode-same-hosts", all_mode({**HOSTS, "mcp_host": "gateway.example.com"}), "alb_routing_configuration.mcp_host",
     "its own host name"),
    ("host-routing-without-host", alb(alb_routing_configuration={"enable_host_based_routing": True}),
     "alb_routing_configuration.gateway_host", "gateway.example.com"),
    ("host-not-a-dns-name", alb(alb_routing_configuration={**HOSTS, "gateway_host": "Gateway_Host"}),
     "alb_routing_configuration.gateway_host", "lower-case labels"),
    ("path-routing-overlap", all_mode({"enable_path_based_routing": True, "gateway_path": "/api", "mcp_path": "/api/mcp"}),
     "alb_routing_configuration.mcp_path", "separate prefixes"),
    ("path-prefix-trailing-slash", alb(alb_routing_configuration={"enable_path_based_routing": True, "mcp_path": "/mcp/"}),
     "alb_routing_configuration.mcp_path", "no trailing"),
    ("routing-on-an-nlb", variant(alb_routing_configuration=HOSTS), "alb_routing_configuration", "lb_type: application"),
    ("internet-facing-existing-vpc-without-public-subnets",
     variant(create_new_vpc=False, vpc_id="vpc-0123456789abcdef0", private_subnet_ids=["subnet-0123456789abcdef0"],
             internal_lb=False), "public_subnet_ids", "public subnets"),
    ("tls-without-lb", no_lb(tls_certificate_arn=CERTIFICATE), "tls_certificate_arn", "create_lb: true"),
    ("certificate-of-other-region", variant(tls_certificate_arn=CERTIFICATE.replace("us-east-1", "eu-west-1")),
     "tls_certificate_arn", "issued in us-east-1"),
    ("ssl-policy-not-tls13", variant(tls_certificate_arn=CERTIFICATE, lb_ssl_policy="ELBSecurityPolicy-2016-08"),
     "lb_ssl_policy", "ELBSecurityPolicy-TLS13-"),
    ("ssl-policy-without-tls", variant(lb_ssl_policy="ELBSecurityPolicy-TLS13-1-3-2021-06"), "lb_ssl_policy",
     "tls_certificate_arn"),
    ("nlb-access-logs-without-tls", variant(enable_lb_access_logs=True), "enable_lb_access_logs", "tls_certificate_arn"),
    ("log-bucket-without-logs", variant(lb_access_logs_bucket="corp-elb-logs"), "lb_access_logs_bucket",
     "enable_lb_access_logs: true"),
    ("log-prefix-with-slashes", alb(enable_lb_access_logs=True, lb_access_logs_prefix="/gw/"), "lb_access_logs_prefix",
     "without leading"),
    ("domain-and-certificate", variant(custom_domain={**ZONE, "gateway_host": "gateway.example.com"},
                                       tls_certificate_arn=CERTIFICATE), "custom_domain", "remove one"),
    ("domain-host-outside-zone", variant(custom_domain={**ZONE, "gateway_host": "gateway.example.org"}),
     "custom_domain.gateway_host", ".example.com"),
    ("domain-host-missing", variant(custom_domain=ZONE), "custom_domain.gateway_host", "alb_routing_configuration.gateway_host"),
    ("domain-host-differs-from-routing", all_mode(HOSTS, custom_domain={**ZONE, "mcp_host": "tools.example.com"}),
     "custom_domain.mcp_host", "make them equal"),
    ("domain-mcp-host-in-gateway-mode", variant(custom_domain={**ZONE, "gateway_host": "gw.example.com",
                                                               "mcp_host": "mcp.example.com"}),
     "custom_domain.mcp_host", "remove it"),
    ("domain-zone-id-invalid", variant(custom_domain={**ZONE, "hosted_zone_id": "example.com"}),
     "custom_domain.hosted_zone_id", "Z0123456789ABCDEFGHIJ"),
    ("waf-on-an-nlb", variant(waf={"enabled": True}), "waf", "lb_type: application"),
    ("waf-without-lb", no_lb(waf={"enabled": True}), "waf", "create_lb: true"),
    ("waf-log-retention-invalid", alb(waf={"enabled": True, "log_retention_days": 10}), "waf.log_retention_days", "7, 14"),
    ("idle-timeout-cuts-requests", alb(timeouts={"lb_idle_timeout_seconds": 60}), "timeouts.lb_idle_timeout_seconds",
     "raise it above 300"),
    ("drain-cuts-requests", alb(timeouts={"deregistration_delay_seconds": 60}), "timeouts.deregistration_delay_seconds",
     "at least 300"),
    ("nlb-drain-without-its-lag", variant(timeouts={"deregistration_delay_seconds": 300}),
     "timeouts.deregistration_delay_seconds", "at least 420"),
    ("cidrs-without-lb", variant(create_lb=False), "allowed_lb_cidrs", "create_lb: true"),
    ("mcp-url-other-host-than-routing", all_mode(HOSTS, mcp_gateway_base_url="https://tools.example.com"),
     "mcp_gateway_base_url", "https://mcp.example.com"),
    ("mcp-url-plain-http-with-domain", variant(server_mode="mcp", mcp_gateway_base_url="http://mcp.example.com",
                                               custom_domain={**ZONE, "mcp_host": "mcp.example.com"}),
     "mcp_gateway_base_url", "https://mcp.example.com"),
    ("waf-count-rule-twice", alb(waf={"enabled": True, "count_only_rules": ["GenericRFI_BODY", "GenericRFI_BODY"]}),
     "waf.count_only_rules", "name each rule once"),
    ("nlb-tls-request-too-long", variant(tls_certificate_arn=CERTIFICATE, timeouts={"max_request_seconds": 336}),
     "timeouts.max_request_seconds", "at most 335"),
    ("idle-timeout-equal-to-request", alb(timeouts={"lb_idle_timeout_seconds": 300}), "timeouts.lb_idle_timeout_seconds",
     "raise it above 300"),
    ("mcp-url-elsewhere-than-domain", variant(server_mode="mcp", mcp_gateway_base_url="https://tools.example.com",
                                              custom_domain={**ZONE, "mcp_host": "mcp.example.com"}),
     "mcp_gateway_base_url", "https://mcp.example.com"),
    ("mcp-url-without-routing-prefix", all_mode({"enable_path_based_routing": True}), "mcp_gateway_base_url", "end the URL with /mcp"),
    ("routing-host-without-flag", alb(alb_routing_configuration={"gateway_host": "gateway.example.com"}),
     "alb_routing_configuration.gateway_host", "enable_host_based_routing: true"),
    ("routing-mcp-path-in-gateway-mode", alb(alb_routing_configuration={"enable_path_based_routing": True, "mcp_path": "/tools"}),
     "alb_routing_configuration.mcp_path", "remove it"),
    ("waf-settings-while-off", alb(waf={"rate_limit_per_ip": 500}), "waf", "waf.enabled: true"),
    ("waf-count-rule-unknown", alb(waf={"enabled": True, "count_only_rules": ["SizeRestrictions_Body"]}),
     "waf.count_only_rules[0]", "SizeRestrictions_BODY"),
    ("log-expiration-for-named-bucket", alb(enable_lb_access_logs=True, lb_access_logs_bucket="corp-elb-logs",
                                            lb_access_logs_expiration_days=30), "lb_access_logs_expiration_days",
     "lb_access_logs_bucket empty"),
    ("log-prefix-with-awslogs", alb(enable_lb_access_logs=True, lb_access_logs_prefix="AWSLogs/gw"), "lb_access_logs_prefix",
     "without AWSLogs"),
    ("alb-type-without-lb", no_lb(lb_type="application"), "lb_type", "create_lb: true"),
    ("nlb-tls-idle-override", variant(tls_certificate_arn=CERTIFICATE, timeouts={"lb_idle_timeout_seconds": 300}),
     "timeouts.lb_idle_timeout_seconds", "remove it"),
    ("nlb-idle-below-aws-minimum", variant(timeouts={"max_request_seconds": 30, "lb_idle_timeout_seconds": 45}),
     "timeouts.lb_idle_timeout_seconds", "60 to 6000"),
    ("stop-timeout-above-ecs-limit", variant(timeouts={"stop_timeout_seconds": 300}), "timeouts.stop_timeout_seconds",
     "2 to 120"),
    ("request-timeout-in-env", variant(environment_variables={"gateway": {"REQUEST_TIMEOUT": "600000"}}),
     "environment_variables.gateway.REQUEST_TIMEOUT", "timeouts.max_request_seconds: 600"),
    ("lb-timeout-without-lb", no_lb(timeouts={"deregistration_delay_seconds": 100}),
     "timeouts.deregistration_delay_seconds", "create_lb: true"),
]

# (case id, config, field path expected at the start of the line, words expected in the fix)
ELASTICACHE = {"redis_type": "aws-elastic-cache", "endpoint": "master.portkey.abc123.use1.cache.amazonaws.com:6379",
               "tls": True}
CREATED = {"redis_type": "aws-elastic-cache", "create": {}}

# Data service, cache store, images, task-role extras.
SERVICE_CASES = [
    ("latest-tag-in-prod", variant(environment="prod", gateway_image={"image": "portkeyai/gateway_enterprise", "tag": "latest"}),
     "gateway_image.tag", "allow_latest_tag: true"),
    ("elasticache-without-endpoint", variant(redis_configuration={"redis_type": "aws-elastic-cache"}),
     "redis_configuration.endpoint", "configuration endpoint"),
    ("elasticache-endpoint-without-port", variant(redis_configuration={**ELASTICACHE, "endpoint": "redis.example.com"}),
     "redis_configuration.endpoint", "in cluster mode the configuration endpoint"),
    ("elasticache-endpoint-url", variant(redis_configuration={**ELASTICACHE, "endpoint": "rediss://redis.example.com:6379"}),
     "redis_configuration.endpoint", "host:port"),
    ("builtin-redis-with-auth-secret", variant(redis_configuration={"auth_secret_arn": ARN}),
     "redis_configuration.auth_secret_arn", "redis_type: aws-elastic-cache"),
    ("builtin-redis-size-on-elasticache", variant(redis_configuration={**ELASTICACHE, "cpu": 512}),
     "redis_configuration.cpu", "remove it"),
    ("bad-cache-security-group", variant(redis_configuration={**ELASTICACHE, "security_group_id": "redis-sg"}),
     "redis_configuration.security_group_id", "sg-0123456789abcdef0"),
    ("created-cache-with-endpoint", variant(redis_configuration={**CREATED, "endpoint": "x.example.com:6379"}),
     "redis_configuration.endpoint", "remove create"),
    ("created-cache-without-tls", variant(redis_configuration={**CREATED, "tls": False}),
     "redis_configuration.tls", "set it to true"),
    ("created-cache-shards-standalone", variant(redis_configuration={**CREATED, "create": {"shards": 2}}),
     "redis_configuration.create.shards", "mode: cluster"),
    ("auth-token-without-tls", variant(redis_configuration={**ELASTICACHE, "tls": False, "auth_secret_arn": ARN}),
     "redis_configuration.tls", "set tls: true"),
    ("redis-password-for-one-service-only", variant(redis_configuration=ELASTICACHE, **{
        **with_data_service(), "secrets": {"gateway": {**example()["secrets"]["gateway"], "REDIS_PASSWORD": ARN},
                                           "data-service": example()["secrets"]["gateway"]}}),
     "secrets.data-service.REDIS_PASSWORD", "the same ARN"),
    ("data-service-without-client-auth", variant(dataservice_config={"enable_dataservice": True}),
     "secrets.data-service.PORTKEY_CLIENT_AUTH", "same secret ARN as the gateway's"),
    ("data-service-in-mcp-mode", variant(server_mode="mcp", mcp_gateway_base_url="https://mcp.example.com",
                                         **with_data_service()),
     "dataservice_config.enable_dataservice", "server_mode: all"),
    ("latest-data-service-tag-in-prod", variant(environment="prod", **with_data_service(),
                                                data_service_image={"image": "portkeyai/data-service", "tag": "latest"}),
     "data_service_image.tag", "pin a version"),
    ("created-cache-bad-node-type", variant(redis_configuration={**CREATED, "create": {"node_type": "t4g.small"}}),
     "redis_configuration.create.node_type", "cache.t4g.small"),
    ("redis-password-twice", variant(redis_configuration={**ELASTICACHE, "auth_secret_arn": ARN},
                                     secrets={"gateway": {"PORTKEY_CLIENT_AUTH": ARN, "REDIS_PASSWORD": ARN}}),
     "secrets.gateway.REDIS_PASSWORD", "remove it from secrets"),
    ("data-service-policies-without-data-service",
     variant(data_service_task_role_policy_arns={"b": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
     "data_service_task_role_policy_arns", "enable_dataservice: true"),
    ("data-service-exec-without-data-service", variant(dataservice_config={"enable_execute_command": True}),
     "dataservice_config.enable_execute_command", "enable_dataservice: true"),
    ("task-policy-not-an-arn", variant(gateway_task_role_policy_arns={"b": "ReadOnlyAccess"}),
     "gateway_task_role_policy_arns.b", "arn:aws:iam::<account>:policy/<name>"),
    ("bedrock-models-while-off", variant(bedrock={"model_arns": ["arn:aws:bedrock:us-east-1::foundation-model/x"]}),
     "bedrock.enabled", "set enabled: true"),
    ("bedrock-model-not-an-arn", variant(bedrock={"enabled": True, "model_arns": ["anthropic.claude-3"]}),
     "bedrock.model_arns[0]", "foundation-model/"),
    ("bedrock-role-not-a-role", variant(bedrock={"enabled": True, "assume_role_arns": ["arn:aws:iam::123456789012:user/x"]}),
     "bedrock.assume_role_arns[0]", "role/<name>"),
]

# Control plane connectivity and private endpoints.
NETWORKING_CASES = [
    ("control-plane-link-in-one-az", variant(num_az=1, control_plane_private_link={"enabled": True}),
     "control_plane_private_link.enabled", "num_az: 2"),
    ("control-plane-link-settings-while-off", variant(control_plane_private_link={"service_region": "eu-west-1"}),
     "control_plane_private_link.enabled", "set enabled: true"),
    ("control-plane-service-name-region-mismatch", variant(control_plane_private_link={
        "enabled": True, "service_region": "eu-west-1"}), "control_plane_private_link.service_region", "us-east-1"),
    ("control-plane-service-name-bad", variant(control_plane_private_link={"enabled": True, "service_name": "portkey"}),
     "control_plane_private_link.service_name", "vpce-svc-"),
    ("endpoint-service-without-lb", no_lb(inbound_private_link={"enabled": True}), "inbound_private_link.enabled",
     "create_lb: true"),
    ("endpoint-service-without-principals", variant(inbound_private_link={"enabled": True, "allowed_principals": []}),
     "inbound_private_link.allowed_principals", "299329113195"),
    ("endpoint-service-principal-not-an-arn", variant(inbound_private_link={"enabled": True, "allowed_principals": ["299329113195"]}),
     "inbound_private_link.allowed_principals[0]", "arn:aws:iam::299329113195:root"),
    ("endpoint-service-settings-while-off", variant(inbound_private_link={"private_dns_name": "gateway.example.com"}),
     "inbound_private_link.enabled", "set enabled: true"),
    ("control-plane-ips-on-internal-lb", variant(allow_control_plane_ips=True, tls_certificate_arn=CERTIFICATE),
     "allow_control_plane_ips", "internal_lb: false"),
    ("control-plane-ips-without-lb", no_lb(allow_control_plane_ips=True), "allow_control_plane_ips", "create_lb: true"),
    ("endpoint-service-in-mcp-mode", variant(server_mode="mcp", mcp_gateway_base_url="https://mcp.example.com",
                                             inbound_private_link={"enabled": True}),
     "inbound_private_link.enabled", "server_mode: all"),
    ("aws-endpoints-in-existing-vpc", variant(
        create_new_vpc=False, vpc_cidr="10.20.0.0/16", vpc_id="vpc-0123456789abcdef0",
        private_subnet_ids=["subnet-0123456789abcdef0"], aws_private_endpoints=True), "aws_private_endpoints",
     "create the endpoints with the VPC itself"),
    ("control-plane-ips-without-tls", variant(internal_lb=False, allowed_lb_cidrs=["203.0.113.0/24"], lb_type="application",
                                              allow_control_plane_ips=True), "allow_control_plane_ips", "tls_certificate_arn"),
    ("endpoint-service-with-tls-needs-dns-name", variant(tls_certificate_arn=CERTIFICATE, inbound_private_link={"enabled": True}),
     "inbound_private_link.private_dns_name", "host name"),
    ("endpoint-service-dns-name-not-the-routed-host", alb(
        alb_routing_configuration={"enable_host_based_routing": True, "gateway_host": "gateway.example.com"},
        inbound_private_link={"enabled": True, "private_dns_name": "pl.example.com"}),
     "inbound_private_link.private_dns_name", "set it to gateway.example.com"),
]

OPERATIONS_CASES = [
    ("alarm-email-invalid", variant(monitoring={"alarm_emails": ["oncall"]}), "monitoring.alarm_emails[0]", "oncall@example.com"),
    ("alarm-email-without-a-topic", variant(create_cluster=False, cluster_name="c", capacity_provider_name="cp",
                                            monitoring={"alarms": False, "alarm_emails": ["ops@example.com"]}),
     "monitoring.alarm_emails", "monitoring.alarms: true"),
    ("alarm-threshold-without-alarms", variant(monitoring={"alarms": False, "task_shortfall_minutes": 5}),
     "monitoring.task_shortfall_minutes", "monitoring.alarms: true"),
    ("lb-5xx-on-an-nlb", variant(monitoring={"lb_5xx_percent": 2}), "monitoring.lb_5xx_percent", "no ALB"),
    ("cache-node-ids-with-built-in-redis", variant(monitoring={"cache_node_ids": ["portkey-cache-001"]}),
     "monitoring.cache_node_ids", "existing ElastiCache"),
    ("cache-node-id-invalid", variant(redis_configuration={"redis_type": "aws-elastic-cache", "endpoint": "c.example.com:6379"},
                                      monitoring={"cache_node_ids": ["Portkey_Cache"]}),
     "monitoring.cache_node_ids[0]", "portkey-cache-0001-001"),
    ("certificate-alarm-without-tls", variant(monitoring={"certificate_expiry_days": 14}),
     "monitoring.certificate_expiry_days", "set tls_certificate_arn"),
    ("cache-threshold-without-created-cache", variant(monitoring={"cache_memory_percent": 80}),
     "monitoring.cache_memory_percent", "list cache_node_ids"),
    ("capacity-alarm-on-existing-cluster", variant(create_cluster=False, cluster_name="c", capacity_provider_name="cp",
                                                   monitoring={"capacity_shortfall_minutes": 5}),
     "monitoring.capacity_shortfall_minutes", "create_cluster: true"),
    ("task-shortfall-too-long", variant(monitoring={"task_shortfall_minutes": 61}), "monitoring.task_shortfall_minutes", "from 1 to 60"),
    ("log-retention-not-allowed", variant(log_retention_days=10), "log_retention_days", "7, 14"),
]

CASES = [
    ("secret-not-arn", variant(secrets={"gateway": {"PORTKEY_CLIENT_AUTH": "pk-live-123"}}),
     "secrets.gateway.PORTKEY_CLIENT_AUTH", "never the secret value"),
    ("secret-placeholder", variant(secrets={"gateway": {"PORTKEY_CLIENT_AUTH": "<ClientOrgSecretNameArn>"}}),
     "secrets.gateway.PORTKEY_CLIENT_AUTH", "secret's ARN"),
    ("docker-cred-not-arn", variant(docker_cred_secret_arn="myuser:mypassword"), "docker_cred_secret_arn", "ARN"),
    ("docker-cred-missing", without("docker_cred_secret_arn"), "docker_cred_secret_arn", "or set managed_secrets: true"),
    ("bad-cidr", variant(vpc_cidr="10.0.0/16"), "vpc_cidr", "a.b.c.d/n"),
    ("cidr-host-bits", variant(allowed_lb_cidrs=["10.0.0.5/16"]), "allowed_lb_cidrs[0]", "10.0.0.0/16"),
    ("vpc-prefix-too-small", variant(vpc_cidr="10.0.0.0/26"), "vpc_cidr", "/16 to /24"),
    ("cpu-not-allowed", variant(gateway_config={"cpu": 300}), "gateway_config.cpu", "256, 512, 1024"),
    ("memory-not-allowed", variant(gateway_config={"memory": 1000}), "gateway_config.memory", "512, 1024, 2048"),
    ("redis-cpu-not-allowed", variant(redis_configuration={"cpu": 100}), "redis_configuration.cpu", "256"),
    ("existing-vpc-without-id", variant(create_new_vpc=False, vpc_cidr=None), "vpc_id", "existing VPC"),
    ("existing-vpc-without-subnets", variant(create_new_vpc=False, vpc_id="vpc-0123456789abcdef0"),
     "private_subnet_ids", "private subnets"),
    ("new-vpc-without-cidr", variant(vpc_cidr=None), "vpc_cidr", "10.0.0.0/16"),
    ("new-vpc-with-vpc-id", variant(vpc_id="vpc-0123456789abcdef0"), "vpc_id", "create_new_vpc: false"),
    ("bad-vpc-id", variant(create_new_vpc=False, vpc_id="vpc-123", private_subnet_ids=["subnet-0123456789abcdef0"]),
     "vpc_id", "vpc-0123456789abcdef0"),
    ("existing-cluster-without-name", variant(create_cluster=False, capacity_provider_name="cp"), "cluster_name",
     "existing ECS cluster"),
    ("existing-cluster-without-capacity-provider", variant(create_cluster=False, cluster_name="c"),
     "capacity_provider_name", "existing capacity provider"),
    ("cluster-name-ignored", variant(cluster_name="c"), "cluster_name", "create_cluster: false"),
    ("asg-desired-out-of-range", variant(desired_asg_size=5, max_asg_size=3), "desired_asg_size", "min <= desired <= max"),
    ("server-mode-unknown", variant(server_mode="proxy"), "server_mode", "'gateway', 'mcp' or 'all'"),
    ("lb-type-unknown", variant(lb_type="classic"), "lb_type", "'network' or 'application'"),
    ("all-mode-needs-alb", variant(server_mode="all", lb_type="network", mcp_gateway_base_url="https://mcp.example.com"),
     "lb_type", "lb_type: application"),
    ("internal-lb-existing-vpc-no-cidr",
     variant(create_new_vpc=False, vpc_cidr=None, vpc_id="vpc-0123456789abcdef0",
             private_subnet_ids=["subnet-0123456789abcdef0"], allowed_lb_cidrs=[]), "allowed_lb_cidrs", "vpc_cidr"),
    ("instance-type-not-graviton", variant(instance_type="t3.medium"), "instance_type", "t4g.medium"),
    ("unknown-setting", variant(gateway_confg={}), "gateway_confg", "did you mean 'gateway_config'"),
    ("unknown-nested-setting", variant(gateway_config={"desired_count": 2}), "gateway_config.desired_count",
     "did you mean 'desired_task_count'"),
    ("removed-variable", variant(redis_endpoint="x:6379"), "redis_endpoint", "redis_configuration.endpoint"),
    ("account-not-12-digits", variant(aws_account=12345678901), "aws_account", "quoted string"),
    ("az-of-other-region", variant(availability_zones=["eu-west-1a", "eu-west-1b"]), "availability_zones", "us-east-1a"),
    ("az-list-empty", variant(availability_zones=[]), "availability_zones", "derive them"),
    ("num-az-disagrees", variant(num_az=3, availability_zones=["us-east-1a", "us-east-1b"]), "num_az", "agree"),
    ("env-name-invalid", variant(environment_variables={"gateway": {"9LIVES": "x"}}), "environment_variables.gateway.9LIVES",
     "letters, digits and underscores"),
    ("env-and-secret-clash", variant(environment_variables={"gateway": {"PORTKEY_CLIENT_AUTH": "x"}},
                                     secrets={"gateway": {"PORTKEY_CLIENT_AUTH": ARN}}),
     "secrets.gateway.PORTKEY_CLIENT_AUTH", "one of environment_variables or secrets"),
    ("secrets-required", without("secrets"), "secrets", "secrets_file_path"),
    ("environment-required", without("environment_variables"), "environment_variables", "environment_variables_file_path"),
    ("builtin-redis-tls", variant(redis_configuration={"tls": True}), "redis_configuration.tls", "tls: false"),
    ("builtin-redis-cluster", variant(redis_configuration={"mode": "cluster"}), "redis_configuration.mode", "standalone"),
    ("builtin-redis-endpoint", variant(redis_configuration={"endpoint": "h:6379"}), "redis_configuration.endpoint",
     "aws-elastic-cache"),
    ("mcp-url-in-gateway-mode", variant(mcp_gateway_base_url="https://mcp.example.com"), "mcp_gateway_base_url", "remove"),
    ("breaker-rollback-without-enable", variant(gateway_deployment_circuit_breaker={"enable": False, "rollback": True}),
     "gateway_deployment_circuit_breaker.rollback", "enable: true"),
    ("same-ports", variant(gateway_config={"mcp_port": 8787}), "gateway_config.mcp_port", "different ports"),
    ("bucket-name-invalid", variant(object_storage={"log_store_bucket": "My_Bucket", "bucket_region": "us-east-1"}),
     "object_storage.log_store_bucket", "lower-case"),
    ("image-with-tag", variant(gateway_image={"image": "portkeyai/gateway_enterprise:2.16.0", "tag": "2.16.0"}),
     "gateway_image.image", "put the tag in tag"),
    ("policy-arn-invalid", variant(gateway_task_role_policy_arns={"bedrock": "bedrock-policy"}),
     "gateway_task_role_policy_arns.bedrock", "arn:aws:iam::"),
    ("certificate-arn-invalid", variant(tls_certificate_arn="my-cert"), "tls_certificate_arn", "arn:aws:acm:"),
    *INGRESS_CASES,
    *DEPLOY_CASES,
    *SERVICE_CASES,
    *NETWORKING_CASES,
    *OPERATIONS_CASES,
    ("autoscaling-min-above-max", variant(gateway_autoscaling={"autoscaling_min_capacity": 5, "autoscaling_max_capacity": 3}),
     "gateway_autoscaling.autoscaling_min_capacity", "raise the maximum"),
]


@pytest.mark.parametrize("data,field,fix", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_config_gives_one_line_naming_field_and_fix(data, field, fix):
    message = error_of(data)
    first = message.splitlines()[0]
    assert first.startswith(f"cfg.yaml: {field}: "), message
    assert fix in first, message
    assert "Traceback" not in message and "pydantic" not in message.lower()


def test_operations_settings_that_are_accepted():
    # the topic also carries Auto Scaling events, so emails make sense without alarms on a cluster created here
    settings_from_dict(variant(monitoring={"alarms": False, "alarm_emails": ["ops@example.com"]}))
    # the health alarms' thresholds serve the operations alarms too, without deployment alarms
    settings_from_dict(variant(gateway_deployment_alarms={"unhealthy_tasks": 2, "evaluation_minutes": 5}))
    settings = settings_from_dict(alb(monitoring={"lb_5xx_percent": 1, "task_shortfall_minutes": 60},
                                      log_retention_days=3653, redeploy_on_secret_change=False))
    assert (settings.log_retention_days, settings.monitoring.lb_5xx_percent) == (3653, 1)
    defaults = settings_from_dict(variant())
    assert (defaults.log_retention_days, defaults.monitoring.dashboard, defaults.monitoring.alarms,
            defaults.redeploy_on_secret_change) == (30, True, True, True)


def test_service_settings_that_are_accepted():
    # latest is refused only where it hurts, and can be allowed there on purpose
    settings_from_dict(variant(gateway_image={"image": "portkeyai/gateway_enterprise", "tag": "latest"}))
    settings_from_dict(variant(environment="prod", allow_latest_tag=True,
                               data_service_image={"image": "portkeyai/data-service", "tag": "latest"}))
    # ... and only on images that are deployed (the module's prod tfvars ship latest for all three)
    settings_from_dict(variant(environment="prod", redis_configuration={**ELASTICACHE},
                               data_service_image={"image": "portkeyai/data-service", "tag": "latest"},
                               redis_image={"image": "redis", "tag": "latest"}))
    # cross-region inference: the profile's models in every destination region
    settings_from_dict(variant(bedrock={"enabled": True, "model_arns": [
        "arn:aws:bedrock:*::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0",
        "arn:aws:bedrock:::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0"]}))
    # a created cluster-mode cache may have no replicas (failover stays on, multi-AZ off)
    settings_from_dict(variant(redis_configuration={**CREATED, "mode": "cluster", "create": {"replicas": 0}}))
    # the module's shape: a disabled data service may carry every field; the guide's REDIS_PASSWORD in secrets works
    settings_from_dict(variant(dataservice_config={"enable_dataservice": False, "desired_task_count": 2, "cpu": 512,
                                                   "memory": 1024, "port": 8081}))
    settings_from_dict(variant(redis_configuration=ELASTICACHE, secrets={"gateway": {"PORTKEY_CLIENT_AUTH": ARN,
                                                                                     "REDIS_PASSWORD": ARN}}))
    cache = settings_from_dict(variant(redis_configuration={**CREATED, "mode": "cluster", "create": {"shards": 3}}))
    assert cache.redis_configuration.tls_enabled and cache.redis_configuration.port == 6380


def test_deployment_settings_at_their_boundaries_are_accepted():
    canary = settings_from_dict(variant(lb_type="application", gateway_deployment_configuration={
        "enable_blue_green": False, "bake_time_in_minutes": 0,
        "canary_configuration": {"canary_percent": 0.1, "canary_bake_time_in_minutes": 1440}}))
    assert canary.deployment_strategy == "CANARY"
    linear = settings_from_dict(variant(lb_type="application", gateway_deployment_configuration={
        "enable_blue_green": False, "linear_configuration": {"step_percent": 100, "step_bake_time_in_minutes": 1440}}))
    assert linear.gateway_deployment_configuration.shift_minutes == 1  # one step: no step bake, then the bake time
    # the module's shape: a disabled block may carry every field, and {enable: false} alone means no breaker at all
    for stages in (["PRE_SCALE_UP"], ["PRE_TEST_TRAFFIC_SHIFT", "PRE_SCALE_DOWN"]):  # as the module's docs write them
        settings_from_dict(variant(gateway_autoscaling={"enable_autoscaling": False, "autoscaling_max_capacity": 9},
                                   gateway_lifecycle_hook={"enable_lifecycle_hook": False, "lifecycle_hook_stages": stages}))
    # following a "did you mean" hint gives a stage that works
    for misnamed in ("PRE_TEST_TRAFFIC_SHIFT", "PRE_PROD_TRAFFIC_SHIFT", "PRE_SCALE_DOWN", "POST_TEST_TRAFIC_SHIFT"):
        hint = error_of(variant(gateway_deployment_configuration={"enable_blue_green": True}, gateway_lifecycle_hook={
            "enable_lifecycle_hook": True, "lifecycle_hook_stages": [misnamed]})).split("did you mean ")[1].split("?")[0]
        settings_from_dict(variant(gateway_deployment_configuration={"enable_blue_green": True}, gateway_lifecycle_hook={
            "enable_lifecycle_hook": True, "lifecycle_hook_stages": [hint]}))
    breaker = settings_from_dict(variant(gateway_deployment_circuit_breaker={"enable": False})).gateway_deployment_circuit_breaker
    assert (breaker.enable, breaker.rollback) == (False, False)
    hook = settings_from_dict(variant(gateway_deployment_configuration={"enable_blue_green": True},
                                      gateway_lifecycle_hook={"enable_lifecycle_hook": True})).gateway_lifecycle_hook
    assert hook.stages == ["POST_TEST_TRAFFIC_SHIFT"]


def test_boundaries_of_the_timeout_chain_and_modes_without_a_load_balancer_are_accepted():
    # a drain as long as the longest request lets it finish; the idle timeout must exceed it (see the idle case above)
    settings_from_dict(alb(timeouts={"deregistration_delay_seconds": 300}))
    settings_from_dict(variant(timeouts={"deregistration_delay_seconds": 420}))
    settings_from_dict(variant(tls_certificate_arn=CERTIFICATE, timeouts={"max_request_seconds": 335}))
    # in all mode, either the host or the path may tell the two rules apart
    same_host = {"enable_host_based_routing": True, "enable_path_based_routing": True,
                 "gateway_host": "ai.example.com", "mcp_host": "ai.example.com"}
    settings_from_dict(all_mode(same_host, mcp_gateway_base_url="https://ai.example.com/mcp"))
    settings_from_dict(all_mode({**HOSTS, "enable_path_based_routing": True, "mcp_path": "/gateway"},
                                mcp_gateway_base_url="https://mcp.example.com/gateway"))
    # without a load balancer nothing routes, so server_mode all needs no ALB (the module refused it anyway)
    settings_from_dict(no_lb(server_mode="all", mcp_gateway_base_url="https://mcp.example.com/"))


def test_rolling_deployment_configuration_is_accepted():
    settings = settings_from_dict(variant(gateway_deployment_configuration={"enable_blue_green": False}))
    assert settings.gateway_deployment_configuration.strategy == "ROLLING"


def test_several_mistakes_give_one_line_each():
    message = error_of(variant(gateway_config={"cpu": 300, "memory": 1000}, server_mode="proxy"))
    assert len(message.splitlines()) == 3


def test_every_shipped_config_is_valid():
    files = sorted(p for p in (ROOT / "config").glob("*.yaml") if p.stem != "pipeline") + sorted((ROOT / "examples").glob("*.yaml"))
    assert files
    for path in files:
        settings = load_config(path)
        assert settings.managed_secrets or settings.docker_cred_secret_arn.startswith("arn:aws:secretsmanager:")


def test_module_defaults():
    s = settings_from_dict(example())
    bare = settings_from_dict({
        "create_new_vpc": True, "vpc_cidr": "10.0.0.0/16", "docker_cred_secret_arn": ARN,
        "environment_variables": {}, "secrets": {},
        "object_storage": {"log_store_bucket": "logs-bucket", "bucket_region": "us-west-2"},
    })
    assert (bare.project_name, bare.environment, bare.aws_region, bare.num_az) == ("portkey", "dev", "us-west-2", 2)
    assert (bare.instance_type, bare.min_asg_size, bare.desired_asg_size, bare.max_asg_size) == ("t4g.medium", 1, 2, 3)
    assert bare.gateway_config.model_dump() == {"desired_task_count": 1, "cpu": 256, "memory": 1024,
                                                "gateway_port": 8787, "mcp_port": 8788, "enable_execute_command": False}
    assert bare.gateway_image.reference == "docker.io/portkeyai/gateway_enterprise:2.16.0"
    assert bare.data_service_image.reference == "docker.io/portkeyai/data-service:1.9.0"
    assert bare.redis_image.reference == "docker.io/redis:7.2-alpine"
    assert bare.dataservice_config.port == 8081 and bare.redis_configuration.memory == 512
    assert bare.gateway_deployment_circuit_breaker.enable and bare.gateway_deployment_circuit_breaker.rollback
    assert (bare.create_lb, bare.internal_lb, bare.lb_type) == (False, True, "network")
    assert bare.azs == ["us-west-2a", "us-west-2b"] and s.azs == ["us-east-1a", "us-east-1b"]


def test_registry_host_in_image_is_kept():
    s = settings_from_dict(variant(gateway_image={"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/gw", "tag": "2.16.0"}))
    assert s.gateway_image.reference == "123456789012.dkr.ecr.us-east-1.amazonaws.com/gw:2.16.0"


def test_buckets_fall_back_to_log_store_and_dedupe():
    s = settings_from_dict(variant(object_storage={"log_store_bucket": "logs-bucket", "log_exports_bucket": "",
                                                   "finetune_bucket": "tune-bucket", "bucket_region": "us-east-1"}))
    assert s.object_storage.exports_bucket == "logs-bucket"
    assert s.object_storage.bucket_names == ["logs-bucket", "tune-bucket"]


def test_lb_cidr_defaults_follow_the_module():
    assert settings_from_dict(variant(allowed_lb_cidrs=[])).lb_ingress_cidrs == ["10.0.0.0/16"]


def test_json_files_load_relative_to_config_and_inline_wins(tmp_path):
    (tmp_path / "env.json").write_text(json.dumps({"gateway": {"SERVICE_NAME": "from-file", "ENABLE_LOKI": False}}))
    (tmp_path / "secrets.json").write_text(json.dumps({"gateway": {"PORTKEY_CLIENT_AUTH": ARN}}))
    data = variant(environment_variables_file_path="env.json", secrets_file_path="secrets.json")
    del data["environment_variables"], data["secrets"]
    s = settings_from_dict(data, base_dir=tmp_path)
    assert s.environment_variables.gateway == {"SERVICE_NAME": "from-file", "ENABLE_LOKI": "false"}
    assert s.secrets.gateway == {"PORTKEY_CLIENT_AUTH": ARN}
    inline = settings_from_dict({**data, "environment_variables": {"gateway": {"A": "1"}}}, base_dir=tmp_path)
    assert inline.environment_variables.gateway == {"A": "1"}


def test_missing_json_file_is_reported(tmp_path):
    data = variant(secrets_file_path="nope.json")
    del data["secrets"]
    message = error_of(data)
    assert "secrets_file_path 'nope.json': no such file" in message and "relative to the config file" in message


def test_unreadable_json_file_is_reported_not_raised(tmp_path):
    data = variant(secrets_file_path=".")
    del data["secrets"]
    with pytest.raises(ConfigError, match=r"secrets_file_path '\.': cannot read"):
        settings_from_dict(data, base_dir=tmp_path)


def test_yaml_syntax_error_names_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("project_name: a\n  environment: [dev\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: line \d+: invalid YAML"):
        load_config(bad)


def test_environment_and_config_path_resolution(tmp_path):
    assert resolve_config_path("dev") == ROOT / "config" / "dev.yaml"
    with pytest.raises(ConfigError, match=r"unknown environment 'qa'.*known environments: dev"):
        resolve_config_path("qa")
    with pytest.raises(ConfigError, match="not both"):
        resolve_config_path("dev", "x.yaml")


def run_app(context: dict, cwd=ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": "/tmp/portkey-test-cdk-out"}
    return subprocess.run([sys.executable, str(ROOT / "app.py")], cwd=cwd, env=env, capture_output=True, text=True)


def test_app_reports_a_bad_config_in_one_line_and_fails(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace("cpu: 256\n  memory: 1024", "cpu: 300\n  memory: 1024"))
    result = run_app({"config": str(bad)})
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [f"error: {bad}: gateway_config.cpu: 300 is not allowed; use one of 256, 512, 1024, 2048, 4096, 8192, 16384"]


def test_app_lists_known_environments_for_an_unknown_one():
    result = run_app({"env": "qa"})
    assert result.returncode == 1 and "known environments: dev" in result.stderr and "Traceback" not in result.stderr



def test_the_schema_lists_the_allowed_values_so_an_editor_flags_any_other():
    from portkey_gateway.llm_metrics import LATENCY_BOUNDS_MS
    from portkey_gateway.settings.base import ALLOWED_CPU, ALLOWED_MEMORY, LOG_RETENTION_DAYS

    schema = json.loads((ROOT / "config" / "schema.json").read_text())
    definitions = schema["$defs"]
    assert definitions["GatewayConfig"]["properties"]["cpu"]["enum"] == list(ALLOWED_CPU)
    assert definitions["GatewayConfig"]["properties"]["memory"]["enum"] == list(ALLOWED_MEMORY)
    assert schema["properties"]["log_retention_days"]["enum"] == list(LOG_RETENTION_DAYS)
    assert definitions["LlmTraffic"]["properties"]["provider_latency_ms"]["enum"] == list(LATENCY_BOUNDS_MS)
    assert definitions["LlmTraffic"]["properties"]["providers"]["maxItems"] == 30
