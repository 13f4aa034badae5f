"""Connecting to Portkey's control plane: PrivateLink both ways, IP allow-listing, and VPC endpoints for AWS APIs."""

from __future__ import annotations

from .conftest import container, logical_id, only, resources_of, security_group, security_group_id, sg_to_sg_ingress

PORTKEY_SERVICE = "com.amazonaws.vpce.us-east-1.vpce-svc-0c2c1c323d9f56d95"
PRIVATE_PATHS = {
    "ALBUS_BASEPATH": "https://aws-cp.portkey.ai/albus",
    "CONTROL_PLANE_BASEPATH": "https://aws-cp.portkey.ai/api/v1",
    "SOURCE_SYNC_API_BASEPATH": "https://aws-cp.portkey.ai/api/v1/sync",
    "CONFIG_READER_PATH": "https://aws-cp.portkey.ai/api/model-configs",
}


def env(definition: dict) -> dict:
    return {e["Name"]: e["Value"] for e in definition["Environment"]}


def endpoints(template: dict) -> dict[str, dict]:
    return {v["Properties"]["ServiceName"] if isinstance(v["Properties"]["ServiceName"], str) else "s3": v["Properties"]
            for v in resources_of(template, "AWS::EC2::VPCEndpoint").values()}


def test_outbound_endpoint_to_portkey_is_private_cross_region_and_only_for_the_services(templates):
    t = templates["private-link-nlb"]  # eu-west-1
    endpoint = endpoints(t)[PORTKEY_SERVICE]
    assert endpoint["PrivateDnsEnabled"] is True and endpoint["VpcEndpointType"] == "Interface"
    assert endpoint["ServiceRegion"] == "us-east-1"  # a cross-region endpoint, as the guide's step 6
    assert len(endpoint["SubnetIds"]) == 2 and all("private" in s["Ref"] for s in endpoint["SubnetIds"])
    assert endpoint["SecurityGroupIds"] == [security_group_id(t, "ControlPlaneEndpointSecurityGroup")]
    rules = sg_to_sg_ingress(t, "ControlPlaneEndpointSecurityGroup")
    assert sorted((d, p) for d, p, _ in rules) == [("from data-service tasks", 443), ("from gateway tasks", 443)]
    assert "SecurityGroupIngress" not in security_group(t, "ControlPlaneEndpointSecurityGroup")  # nothing else
    same_region = endpoints(templates["private-link-alb"])[PORTKEY_SERVICE]  # us-east-1, private DNS deferred
    assert "ServiceRegion" not in same_region and same_region["PrivateDnsEnabled"] is False
    assert PORTKEY_SERVICE not in endpoints(templates["minimal-dev"])


def test_private_control_plane_paths_are_defaults_the_user_can_override(templates):
    t = templates["private-link-nlb"]
    gateway = env(container(t, "gateway"))
    assert {k: gateway[k] for k in PRIVATE_PATHS} == PRIVATE_PATHS
    assert env(container(t, "data-service"))["ALBUS_ENDPOINT"] == "https://aws-cp.portkey.ai/albus"
    assert not set(PRIVATE_PATHS) & set(env(container(templates["minimal-dev"], "gateway")))


def test_user_given_control_plane_paths_still_win():
    from portkey_gateway import settings_from_dict
    from portkey_gateway.container_env import configured_cache, gateway_environment

    from .conftest import example, variant
    user = {**example()["environment_variables"]["gateway"], "CONTROL_PLANE_BASEPATH": "https://cp.internal.example/api/v1"}
    settings = settings_from_dict(variant(control_plane_private_link={"enabled": True},
                                          environment_variables={"gateway": user}))
    env_ = gateway_environment(settings, configured_cache(settings))
    assert env_["CONTROL_PLANE_BASEPATH"] == "https://cp.internal.example/api/v1"
    assert env_["ALBUS_BASEPATH"] == PRIVATE_PATHS["ALBUS_BASEPATH"]


def test_inbound_endpoint_service_on_the_gateway_nlb(templates):
    t = templates["private-link-nlb"]
    service_id = logical_id(t, "AWS::EC2::VPCEndpointService", "EndpointService")
    service = t["Resources"][service_id]["Properties"]
    lb_id = logical_id(t, "AWS::ElasticLoadBalancingV2::LoadBalancer", "Ingress")
    assert service == {**service, "AcceptanceRequired": True, "NetworkLoadBalancerArns": [{"Ref": lb_id}],
                       "PrivateDnsName": "gateway.example.com", "SupportedIpAddressTypes": ["ipv4"],
                       "SupportedRegions": ["us-east-1"]}  # Portkey's control plane connects from us-east-1
    assert only(t, "AWS::EC2::VPCEndpointServicePermissions")["AllowedPrincipals"] == ["arn:aws:iam::299329113195:root"]
    # PrivateLink traffic is governed by principals and acceptance, not by the NLB's CIDR rules
    assert t["Resources"][lb_id]["Properties"]["EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"] == "off"
    outputs = t["Outputs"]
    assert outputs["EndpointServiceName"]["Value"] == {"Fn::Join": [".", [
        "com.amazonaws.vpce", {"Ref": "AWS::Region"}, {"Ref": service_id}]]}
    assert outputs["EndpointServicePort"]["Value"] == "80"


def test_with_an_alb_an_internal_nlb_in_front_carries_the_endpoint_service(templates):
    t = templates["private-link-alb"]
    lbs = {k: v["Properties"] for k, v in resources_of(t, "AWS::ElasticLoadBalancingV2::LoadBalancer").items()}
    front_id = logical_id(t, "AWS::ElasticLoadBalancingV2::LoadBalancer", "EndpointService")
    front, alb = lbs[front_id], lbs[logical_id(t, "AWS::ElasticLoadBalancingV2::LoadBalancer", "Ingress")]
    assert (front["Type"], front["Scheme"], alb["Type"]) == ("network", "internal", "application")
    attributes = {a["Key"]: a["Value"] for a in front["LoadBalancerAttributes"]}
    assert attributes["deletion_protection.enabled"] == "true"
    (front_listener,) = [v["Properties"] for v in resources_of(t, "AWS::ElasticLoadBalancingV2::Listener").values()
                         if v["Properties"]["LoadBalancerArn"] == {"Ref": front_id}]
    assert front_listener["ListenerAttributes"] == [{"Key": "tcp.idle_timeout.seconds", "Value": "915"}]  # as the ALB
    service = only(t, "AWS::EC2::VPCEndpointService")
    assert service["NetworkLoadBalancerArns"] == [{"Ref": front_id}] and service["AcceptanceRequired"] is False
    assert service["PrivateDnsName"] == "gateway.example.com" and "SupportedRegions" not in service  # same region
    assert only(t, "AWS::EC2::VPCEndpointServicePermissions")["AllowedPrincipals"] == [
        "arn:aws:iam::299329113195:root", "arn:aws:iam::123456789012:root"]
    (group,) = [v["Properties"] for k, v in resources_of(t, "AWS::ElasticLoadBalancingV2::TargetGroup").items()
                if "EndpointService" in k]
    assert (group["TargetType"], group["Protocol"], group["Port"]) == ("alb", "TCP", 443)
    assert group["HealthCheckProtocol"] == "HTTPS"  # the ALB listener speaks TLS
    assert group["Targets"] == [{"Id": {"Ref": logical_id(t, "AWS::ElasticLoadBalancingV2::LoadBalancer", "Ingress")},
                                 "Port": 443}]
    assert ("from the PrivateLink NLB", 443, security_group_id(t, "EndpointServiceSecurityGroup")) in sg_to_sg_ingress(
        t, "IngressSecurityGroup")
    assert t["Outputs"]["EndpointServicePort"]["Value"] == "443"


def test_control_plane_addresses_are_admitted_on_the_listener_port_only(templates):
    ingress = security_group(templates["private-link-alb"], "IngressSecurityGroup")["SecurityGroupIngress"]
    portkey = sorted((r["CidrIp"], r["FromPort"]) for r in ingress if r["Description"].startswith("Portkey control plane"))
    assert portkey == [("34.200.113.35/32", 443), ("44.221.117.129/32", 443), ("54.81.226.149/32", 443)]
    assert {r["CidrIp"] for r in ingress} == {"203.0.113.0/24", "34.200.113.35/32", "44.221.117.129/32", "54.81.226.149/32"}


def test_aws_endpoints_keep_api_traffic_off_the_nat(templates):
    t = templates["private-link-nlb"]
    found = endpoints(t)
    expected = {f"com.amazonaws.eu-west-1.{name}" for name in (
        "ecs", "ecs-agent", "ecs-telemetry", "secretsmanager", "logs", "sts", "ssmmessages", "bedrock-runtime")}
    assert set(found) == expected | {"s3", PORTKEY_SERVICE}  # no ECR endpoints: the images come from Docker Hub
    for name in expected:
        assert found[name]["PrivateDnsEnabled"] is True
        assert found[name]["SecurityGroupIds"] == [security_group_id(t, "AwsEndpointsSecurityGroup")]
    assert found["s3"]["VpcEndpointType"] == "Gateway" and len(found["s3"]["RouteTableIds"]) == 2
    rules = security_group(t, "AwsEndpointsSecurityGroup")["SecurityGroupIngress"]
    assert [(r["CidrIp"], r["FromPort"]) for r in rules] == [("10.0.0.0/16", 443)]
    # Bedrock's endpoint only when Bedrock is on; none of it by default
    assert not resources_of(templates["minimal-dev"], "AWS::EC2::VPCEndpoint")


def test_ecr_endpoints_only_when_an_image_comes_from_ecr():
    from portkey_gateway import settings_from_dict

    from .conftest import variant
    assert not settings_from_dict(variant(aws_private_endpoints=True)).pulls_from_ecr
    mirrored = {"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/portkey/gateway", "tag": "2.16.0"}
    assert settings_from_dict(variant(aws_private_endpoints=True, gateway_image=mirrored)).pulls_from_ecr
