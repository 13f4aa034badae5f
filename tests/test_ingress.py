"""Ingress: server modes, ALB and NLB, TLS, routing, access logs, custom domain, WAF and the timeout chain.

`gateway-mcp` is examples/gateway-mcp.yaml, the guide's "Gateway + MCP Deployment"; the other configurations are the
variants in conftest.CONFIGS.
"""

from __future__ import annotations

import pytest

from portkey_gateway import settings_from_dict
from portkey_gateway.settings import NLB_DRAIN_LAG_SECONDS
from portkey_gateway.specs import ingress_routes

from .conftest import (
    CERTIFICATE, container, logical_id, only, only_service, resources_of, security_group, security_group_id, sg_to_sg_ingress,
    variant,
)

LB = "AWS::ElasticLoadBalancingV2::LoadBalancer"
LISTENER = "AWS::ElasticLoadBalancingV2::Listener"
RULE = "AWS::ElasticLoadBalancingV2::ListenerRule"
TARGET_GROUP = "AWS::ElasticLoadBalancingV2::TargetGroup"


def attributes(properties: dict, key: str = "LoadBalancerAttributes") -> dict:
    return {a["Key"]: a["Value"] for a in properties.get(key, [])}


def listeners_by_port(template: dict) -> dict[int, dict]:
    return {v["Properties"]["Port"]: v["Properties"] for v in resources_of(template, LISTENER).values()}


def target_group(template: dict, route: str) -> tuple[str, dict]:
    key = logical_id(template, TARGET_GROUP, f"Ingress{route}Targets")
    return key, template["Resources"][key]["Properties"]


def lb_client_ingress(template: dict) -> list[tuple[str, int]]:
    return [(r["CidrIp"], r["FromPort"]) for r in security_group(template, "IngressSecurityGroup")["SecurityGroupIngress"]]


def env_of(template: dict) -> dict[str, str]:
    return {e["Name"]: e["Value"] for e in container(template, "gateway")["Environment"]}


# --- the default: an internal NLB ----------------------------------------------------------------------------------

def test_internal_nlb_with_http_health_check(templates):
    t = templates["minimal-dev"]
    lb = only(t, LB)
    assert (lb["Type"], lb["Scheme"]) == ("network", "internal")
    assert attributes(lb)["load_balancing.cross_zone.enabled"] == "true"
    assert attributes(lb)["deletion_protection.enabled"] == "false"
    listener = only(t, LISTENER)
    assert (listener["Port"], listener["Protocol"]) == (80, "TCP")
    assert attributes(listener, "ListenerAttributes") == {"tcp.idle_timeout.seconds": "315"}
    tg = only(t, TARGET_GROUP)
    assert (tg["Port"], tg["Protocol"], tg["TargetType"]) == (8787, "TCP", "ip")
    assert (tg["HealthCheckProtocol"], tg["HealthCheckPath"], tg["Matcher"]) == ("HTTP", "/v1/health", {"HttpCode": "200"})
    assert (tg["HealthCheckTimeoutSeconds"], tg["HealthCheckIntervalSeconds"]) == (10, 30)
    # 300 s requests + 15 s headroom + 120 s in which an NLB may still open connections to a deregistering target
    assert attributes(tg, "TargetGroupAttributes")["deregistration_delay.timeout_seconds"] == "435"


def test_lb_admits_allowed_cidrs_on_the_listener_port_only(templates):
    t = templates["minimal-dev"]
    assert lb_client_ingress(t) == [("10.0.0.0/16", 80)]
    egress = [r["Properties"] for r in resources_of(t, "AWS::EC2::SecurityGroupEgress").values()]
    assert [(e["FromPort"], e["Description"]) for e in egress] == [(8787, "to gateway listener")]


def test_gateway_admits_only_the_load_balancer(templates):
    t = templates["minimal-dev"]
    assert sg_to_sg_ingress(t, "PortkeyGatewaySecurityGroup") == [
        ("from the load balancer", 8787, security_group_id(t, "IngressSecurityGroup"))]
    assert "SecurityGroupIngress" not in security_group(t, "PortkeyGatewaySecurityGroup")


def test_without_lb_nothing_of_it_exists(templates):
    t = templates["three-az-no-lb"]
    assert not [k for k, v in t["Resources"].items() if v["Type"].startswith("AWS::ElasticLoadBalancingV2::")]
    assert "HealthCheckGracePeriodSeconds" not in only_service(t, "gateway")
    assert "LoadBalancerDnsName" not in t["Outputs"]


# --- the guide's Gateway + MCP deployment: ALB, TLS, host routing ---------------------------------------------------

def test_gateway_mcp_alb_is_internet_facing_in_public_subnets_with_streaming_idle_timeout(templates):
    t = templates["gateway-mcp"]
    lb = only(t, LB)
    assert (lb["Type"], lb["Scheme"]) == ("application", "internet-facing")
    assert all("publicSubnet" in subnet["Ref"] for subnet in lb["Subnets"])
    assert attributes(lb) == {
        "deletion_protection.enabled": "false",
        "idle_timeout.timeout_seconds": "315",
        "routing.http.drop_invalid_header_fields.enabled": "true",
    }


def test_gateway_mcp_listeners_terminate_tls_and_redirect_http(templates):
    t = templates["gateway-mcp"]
    listeners = listeners_by_port(t)
    assert set(listeners) == {80, 443}
    https = listeners[443]
    assert https["Protocol"] == "HTTPS" and https["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert https["Certificates"] == [{"CertificateArn": CERTIFICATE}]
    unrouted = logical_id(t, TARGET_GROUP, "IngressUnrouted")  # no targets: the ALB answers 503 (only forwards on the listener)
    assert https["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": {"Ref": unrouted}}]
    assert listeners[80]["DefaultActions"] == [{"Type": "redirect", "RedirectConfig": {
        "Port": "443", "Protocol": "HTTPS", "StatusCode": "HTTP_301"}}]


def test_gateway_mcp_host_rules_forward_to_one_target_group_each(templates):
    t = templates["gateway-mcp"]
    rules = {r["Properties"]["Priority"]: r["Properties"] for r in resources_of(t, RULE).values()}
    assert set(rules) == {1, 2, 100, 200}  # 1 and 2 keep the metrics paths inside (test_first_deploy.py)
    for priority, host, route in ((100, "gateway.example.com", "Gateway"), (200, "mcp.example.com", "Mcp")):
        key, _ = target_group(t, route)
        assert rules[priority]["Conditions"] == [
            {"Field": "host-header", "HostHeaderConfig": {"Values": [host]}},
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}},
        ]
        assert rules[priority]["Actions"] == [{"Type": "forward", "TargetGroupArn": {"Ref": key}}]
        assert "Transforms" not in rules[priority]
        assert rules[priority]["ListenerArn"] == {"Ref": logical_id(t, LISTENER, "LoadBalancerListener")}


def test_gateway_mcp_target_groups_health_check_each_listener(templates):
    t = templates["gateway-mcp"]
    for route, port in (("Gateway", 8787), ("Mcp", 8788)):
        _, tg = target_group(t, route)
        assert (tg["Port"], tg["Protocol"], tg["TargetType"]) == (port, "HTTP", "ip")
        assert (tg["HealthCheckPath"], tg["Matcher"], tg["HealthCheckTimeoutSeconds"]) == ("/v1/health", {"HttpCode": "200"}, 5)
        assert (tg["HealthyThresholdCount"], tg["UnhealthyThresholdCount"]) == (2, 3)
        assert attributes(tg, "TargetGroupAttributes")["deregistration_delay.timeout_seconds"] == "315"
    service = only_service(t, "gateway")
    assert sorted((lb["ContainerName"], lb["ContainerPort"]) for lb in service["LoadBalancers"]) == [
        ("gateway", 8787), ("gateway", 8788)]


def test_gateway_mcp_security_groups_open_exactly_the_listener_and_container_ports(templates):
    t = templates["gateway-mcp"]
    assert lb_client_ingress(t) == [("203.0.113.0/24", 80), ("203.0.113.0/24", 443)]
    lb_group = security_group_id(t, "IngressSecurityGroup")
    assert sorted(sg_to_sg_ingress(t, "PortkeyGatewaySecurityGroup"), key=lambda r: r[1]) == [
        ("Load balancer to target", 8787, lb_group), ("Load balancer to target", 8788, lb_group)]


def test_gateway_mcp_container_runs_both_listeners(templates):
    t = templates["gateway-mcp"]
    c = container(t, "gateway")
    assert [(p["Name"], p["ContainerPort"]) for p in c["PortMappings"]] == [("gateway", 8787), ("mcp", 8788)]
    env = env_of(t)
    assert (env["SERVER_MODE"], env["PORT"], env["MCP_PORT"]) == ("all", "8787", "8788")
    assert env["MCP_GATEWAY_BASE_URL"] == "https://mcp.example.com"
    aliases = [s["ClientAliases"] for s in only_service(t, "gateway")["ServiceConnectConfiguration"]["Services"]]
    assert aliases == [[{"DnsName": "gateway", "Port": 8787}], [{"DnsName": "mcp", "Port": 8788}]]


# --- MCP only ------------------------------------------------------------------------------------------------------

def test_mcp_mode_serves_and_checks_the_mcp_port(templates):
    t = templates["mcp-nlb"]
    _, tg = target_group(t, "Mcp")
    assert tg["Port"] == 8788 and tg["HealthCheckPath"] == "/v1/health"
    listener = only(t, LISTENER)
    assert listener["DefaultActions"][0]["TargetGroupArn"] == {"Ref": logical_id(t, TARGET_GROUP, "McpTargets")}
    assert (listener["Port"], listener["Protocol"]) == (443, "TLS")
    assert listener["Certificates"] == [{"CertificateArn": {"Ref": logical_id(t, "AWS::CertificateManager::Certificate", "Domain")}}]
    c = container(t, "gateway")
    assert c["HealthCheck"]["Command"] == ["CMD-SHELL", "wget -qO- http://localhost:8788/v1/health || exit 1"]
    assert [p["ContainerPort"] for p in c["PortMappings"]] == [8788]
    env = env_of(t)
    assert (env["SERVER_MODE"], env["MCP_PORT"], env["MCP_GATEWAY_BASE_URL"]) == ("mcp", "8788", "https://mcp.example.com")
    assert sg_to_sg_ingress(t, "PortkeyGatewaySecurityGroup") == [
        ("from the load balancer", 8788, security_group_id(t, "IngressSecurityGroup"))]
    assert set(t["Outputs"]) >= {"McpUrl"} and "GatewayUrl" not in t["Outputs"]


def test_alias_records_use_the_plain_load_balancer_name(templates):
    """CDK's LoadBalancerTarget prepends "dualstack.", which does not resolve for an IPv4 NLB."""
    for name, count in (("mcp-nlb", 1), ("alb-edge", 2)):
        t = templates[name]
        lb = logical_id(t, LB, "IngressLoadBalancer")
        records = resources_of(t, "AWS::Route53::RecordSet").values()
        assert len(records) == count
        for record in records:
            assert record["Properties"]["AliasTarget"] == {"DNSName": {"Fn::GetAtt": [lb, "DNSName"]},
                                                           "HostedZoneId": {"Fn::GetAtt": [lb, "CanonicalHostedZoneID"]}}


# --- an internet-facing NLB with TLS and a created access-log bucket ------------------------------------------------

def test_public_nlb_terminates_tls_on_443(templates):
    t = templates["nlb-tls-public"]
    lb = only(t, LB)
    assert (lb["Type"], lb["Scheme"]) == ("network", "internet-facing")
    assert all("publicSubnet" in subnet["Ref"] for subnet in lb["Subnets"])
    assert attributes(lb)["deletion_protection.enabled"] == "true"
    listener = only(t, LISTENER)
    assert (listener["Port"], listener["Protocol"], listener["SslPolicy"]) == (443, "TLS", "ELBSecurityPolicy-TLS13-1-2-2021-06")
    assert listener["Certificates"] == [{"CertificateArn": CERTIFICATE}]
    assert "ListenerAttributes" not in listener  # AWS fixes a TLS listener's idle timeout (350 s)
    assert lb_client_ingress(t) == [("0.0.0.0/0", 443)]
    _, tg = target_group(t, "Gateway")
    assert (tg["Protocol"], tg["HealthCheckProtocol"], tg["HealthCheckPath"]) == ("TCP", "HTTP", "/v1/health")
    assert attributes(tg, "TargetGroupAttributes")["deregistration_delay.timeout_seconds"] == str(255 + NLB_DRAIN_LAG_SECONDS)


def test_created_access_log_bucket_is_private_expiring_and_retained(templates):
    t = templates["nlb-tls-public"]
    key = logical_id(t, "AWS::S3::Bucket", "IngressAccessLogs")
    bucket = t["Resources"][key]
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("Retain", "Retain")
    p = bucket["Properties"]
    assert p["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    assert p["VersioningConfiguration"] == {"Status": "Enabled"}
    assert p["PublicAccessBlockConfiguration"] == {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                   "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert p["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 90
    lb_attributes = attributes(only(t, LB))
    assert (lb_attributes["access_logs.s3.enabled"], lb_attributes["access_logs.s3.bucket"],
            lb_attributes["access_logs.s3.prefix"]) == ("true", {"Ref": key}, "nlb")
    assert t["Outputs"]["AccessLogsBucketName"]["Value"] == {"Ref": key}


def test_access_log_bucket_policy_admits_the_regions_log_delivery_and_tls_only(templates):
    t = templates["nlb-tls-public"]
    statements = only(t, "AWS::S3::BucketPolicy")["PolicyDocument"]["Statement"]
    deny = next(s for s in statements if s["Effect"] == "Deny")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    writers = {str(s["Principal"]): s for s in statements if s["Effect"] == "Allow" and s["Action"] == "s3:PutObject"}
    # us-east-1's ELB account (older regions), and the log-delivery service (NLB TLS logs, newer regions)
    assert set(writers) == {str({"AWS": "arn:aws:iam::127311923021:root"}), str({"Service": "delivery.logs.amazonaws.com"})}
    for statement in writers.values():
        assert statement["Resource"]["Fn::Join"][1][1] == "/nlb/AWSLogs/"


def test_public_nlb_chain_uses_the_shorter_request_limit(templates):
    t = templates["nlb-tls-public"]
    assert env_of(t)["REQUEST_TIMEOUT"] == "240000"
    assert container(t, "gateway")["StopTimeout"] == 120


# --- ALB with path routing, custom domain, WAF, a named log bucket, and a 15-minute request limit ---------------------

def test_path_routing_strips_the_prefix(templates):
    t = templates["alb-edge"]
    rules = {r["Properties"]["Priority"]: r["Properties"] for r in resources_of(t, RULE).values()}
    for priority, prefix in ((100, "/gateway"), (200, "/mcp")):
        assert rules[priority]["Conditions"] == [{"Field": "path-pattern", "PathPatternConfig": {"Values": [f"{prefix}/*"]}}]
        assert rules[priority]["Transforms"] == [{"Type": "url-rewrite", "UrlRewriteConfig": {
            "Rewrites": [{"Regex": f"^{prefix}/(.*)$", "Replace": "/$1"}]}}]


def test_custom_domain_creates_a_dns_validated_certificate_and_alias_records(templates):
    t = templates["alb-edge"]
    key = logical_id(t, "AWS::CertificateManager::Certificate", "DomainCertificate")
    certificate = t["Resources"][key]["Properties"]
    assert (certificate["DomainName"], certificate["SubjectAlternativeNames"]) == ("gateway.example.com", ["mcp.example.com"])
    assert certificate["ValidationMethod"] == "DNS"
    assert certificate["DomainValidationOptions"] == [
        {"DomainName": host, "HostedZoneId": "Z0123456789ABCDEFGHIJ"} for host in ("gateway.example.com", "mcp.example.com")]
    assert listeners_by_port(t)[443]["Certificates"] == [{"CertificateArn": {"Ref": key}}]
    records = sorted((r["Properties"]["Name"], r["Properties"]["Type"], r["Properties"]["HostedZoneId"])
                     for r in resources_of(t, "AWS::Route53::RecordSet").values())
    assert records == [("gateway.example.com.", "A", "Z0123456789ABCDEFGHIJ"), ("mcp.example.com.", "A", "Z0123456789ABCDEFGHIJ")]
    # derived from the domain, under the MCP path prefix because this ALB routes by path
    assert env_of(t)["MCP_GATEWAY_BASE_URL"] == "https://mcp.example.com/mcp"
    assert (t["Outputs"]["GatewayUrl"]["Value"], t["Outputs"]["McpUrl"]["Value"]) == (
        "https://gateway.example.com/gateway", "https://mcp.example.com/mcp")


def test_waf_is_tuned_for_llm_traffic(templates):
    t = templates["alb-edge"]
    acl = only(t, "AWS::WAFv2::WebACL")
    assert acl["Scope"] == "REGIONAL" and acl["DefaultAction"] == {"Allow": {}}
    rules = {r["Name"]: r for r in acl["Rules"]}
    assert [r["Name"] for r in sorted(acl["Rules"], key=lambda r: r["Priority"])] == [
        "RateLimitPerIp", "AWSManagedRulesAmazonIpReputationList", "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet"]
    assert rules["RateLimitPerIp"]["Statement"]["RateBasedStatement"] == {
        "AggregateKeyType": "IP", "EvaluationWindowSec": 300, "Limit": 1000}
    assert rules["RateLimitPerIp"]["Action"] == {"Block": {}}
    common = rules["AWSManagedRulesCommonRuleSet"]["Statement"]["ManagedRuleGroupStatement"]
    assert common["RuleActionOverrides"] == [  # the defaults of waf.count_only_rules
        {"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}},
        {"Name": "NoUserAgent_HEADER", "ActionToUse": {"Count": {}}}]
    assert "RuleActionOverrides" not in rules["AWSManagedRulesKnownBadInputsRuleSet"]["Statement"]["ManagedRuleGroupStatement"]
    association = only(t, "AWS::WAFv2::WebACLAssociation")
    assert association["ResourceArn"] == {"Ref": logical_id(t, LB, "IngressLoadBalancer")}


def test_waf_logs_redact_credentials_into_a_retained_log_group(templates):
    t = templates["alb-edge"]
    logging = only(t, "AWS::WAFv2::LoggingConfiguration")
    assert logging["LogDestinationConfigs"] == [{"Fn::Join": ["", [
        "arn:aws:logs:us-east-1:", {"Ref": "AWS::AccountId"}, ":log-group:aws-waf-logs-portkey-gateway-dev"]]}]
    assert [f["SingleHeader"]["Name"] for f in logging["RedactedFields"]] == [
        "authorization", "x-portkey-api-key", "x-portkey-virtual-key"]
    group = t["Resources"][logical_id(t, "AWS::Logs::LogGroup", "FirewallLogs")]
    assert (group["Properties"]["LogGroupName"], group["Properties"]["RetentionInDays"]) == (
        "aws-waf-logs-portkey-gateway-dev", 30)
    assert group["DeletionPolicy"] == "Retain"


def test_named_log_bucket_is_used_as_is(templates):
    t = templates["alb-edge"]
    assert attributes(only(t, LB))["access_logs.s3.bucket"] == "corp-elb-logs"
    assert not resources_of(t, "AWS::S3::Bucket") and not resources_of(t, "AWS::S3::BucketPolicy")


def test_long_request_limit_flows_through_every_hop(templates):
    t = templates["alb-edge"]
    assert attributes(only(t, LB))["idle_timeout.timeout_seconds"] == "915"
    for route in ("Gateway", "Mcp"):
        assert attributes(target_group(t, route)[1], "TargetGroupAttributes")["deregistration_delay.timeout_seconds"] == "915"
    assert env_of(t)["REQUEST_TIMEOUT"] == "900000"
    assert container(t, "gateway")["StopTimeout"] == 90
    for service in only_service(t, "gateway")["ServiceConnectConfiguration"]["Services"]:
        assert service["Timeout"] == {"IdleTimeoutSeconds": 915, "PerRequestTimeoutSeconds": 915}


# --- pure derivations ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes,expected", [
    ({}, (300_000, 315, 435, 120, 315)),  # NLB: 120 s more drain for its deregistration lag
    ({"timeouts": {"max_request_seconds": 30}}, (30_000, 60, 165, 45, 45)),  # NLB TCP idle timeout starts at 60 s
    ({"lb_type": "application", "timeouts": {"max_request_seconds": 30}}, (30_000, 45, 45, 45, 45)),
    ({"tls_certificate_arn": CERTIFICATE}, (300_000, None, 435, 120, 315)),  # NLB TLS: AWS's fixed 350 s
    ({"timeouts": {"max_request_seconds": 3600}}, (3_600_000, 3615, 3600, 120, 3615)),  # drain capped at AWS's 3600 s
    ({"timeouts": {"lb_idle_timeout_seconds": 400, "deregistration_delay_seconds": 420, "stop_timeout_seconds": 30}},
     (300_000, 400, 420, 30, 315)),
])
def test_timeout_chain_derivation(changes, expected):
    chain = settings_from_dict(variant(**changes)).timeout_chain
    assert (chain.request_timeout_ms, chain.lb_idle_timeout, chain.deregistration_delay, chain.stop_timeout,
            chain.service_connect_timeout) == expected


def test_routes_follow_the_module_table():
    alb_all = variant(server_mode="all", lb_type="application", mcp_gateway_base_url="https://mcp.example.com/mcp",
                      alb_routing_configuration={"enable_host_based_routing": True, "enable_path_based_routing": True,
                                                 "gateway_host": "gw.example.com", "mcp_host": "mcp.example.com"})
    routes = ingress_routes(settings_from_dict(alb_all))
    assert [(r.name, r.port, r.priority, r.host, r.path_pattern, r.rewrite) for r in routes] == [
        ("gateway", 8787, 100, "gw.example.com", "/gateway/*", ("^/gateway/(.*)$", "/$1")),
        ("mcp", 8788, 200, "mcp.example.com", "/mcp/*", ("^/mcp/(.*)$", "/$1")),
    ]
    nlb_mcp = ingress_routes(settings_from_dict(variant(server_mode="mcp", mcp_gateway_base_url="http://10.0.0.5:8788")))
    assert [(r.name, r.port, r.host, r.path_pattern) for r in nlb_mcp] == [("mcp", 8788, None, "/*")]


# --- an internal plain-HTTP ALB: host and path together, and a created log bucket -----------------------------------

def test_internal_alb_listens_on_http_only_in_private_subnets(templates):
    t = templates["alb-internal-http"]
    lb = only(t, LB)
    assert (lb["Type"], lb["Scheme"]) == ("application", "internal")
    assert all("privateSubnet" in subnet["Ref"] for subnet in lb["Subnets"])
    listener = only(t, LISTENER)
    assert (listener["Port"], listener["Protocol"]) == (80, "HTTP") and "Certificates" not in listener
    assert lb_client_ingress(t) == [("10.0.0.0/16", 80)]


def test_host_and_path_conditions_combine(templates):
    (rule,) = [r["Properties"] for r in resources_of(templates["alb-internal-http"], RULE).values()
               if r["Properties"]["Priority"] == 100]
    assert rule["Priority"] == 100 and rule["Conditions"] == [
        {"Field": "host-header", "HostHeaderConfig": {"Values": ["gateway.internal.example.com"]}},
        {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/gateway/*"]}}]
    assert rule["Transforms"][0]["UrlRewriteConfig"]["Rewrites"] == [{"Regex": "^/gateway/(.*)$", "Replace": "/$1"}]


def test_alb_log_bucket_admits_the_regional_elb_account(templates):
    t = templates["alb-internal-http"]
    key = logical_id(t, "AWS::S3::Bucket", "IngressAccessLogs")
    assert t["Resources"][key]["Properties"]["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 30
    statements = only(t, "AWS::S3::BucketPolicy")["PolicyDocument"]["Statement"]
    elb = next(s for s in statements if s.get("Principal") == {"AWS": "arn:aws:iam::127311923021:root"})
    assert elb["Action"] == "s3:PutObject" and elb["Resource"]["Fn::Join"][1][1] == "/AWSLogs/"
    assert attributes(only(t, LB))["access_logs.s3.bucket"] == {"Ref": key}
