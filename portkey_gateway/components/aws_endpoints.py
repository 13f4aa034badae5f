"""VPC endpoints for the AWS APIs the instances and tasks call, so that this traffic stays off the NAT gateways.

Instances: the ECS agent (ecs, ecs-agent, ecs-telemetry), image pulls from ECR when an image is there (api, dkr, and
S3 for the layers),
Secrets Manager (task secrets, registry credentials), CloudWatch Logs (the awslogs driver). Tasks: S3 (the log store),
STS, SSM messages (ECS Exec), Bedrock runtime when Bedrock is on. The Portkey images come from Docker Hub, so the NAT
gateways stay for those pulls and for the LLM providers.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from .network import Network, no_default_egress

HTTPS_PORT = 443
_INTERFACE_SERVICES = {
    "Ecs": ec2.InterfaceVpcEndpointAwsService.ECS,
    "EcsAgent": ec2.InterfaceVpcEndpointAwsService.ECS_AGENT,
    "EcsTelemetry": ec2.InterfaceVpcEndpointAwsService.ECS_TELEMETRY,
    "EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,
    "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
    "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    "Sts": ec2.InterfaceVpcEndpointAwsService.STS,
    "SsmMessages": ec2.InterfaceVpcEndpointAwsService.SSM_MESSAGES,
}


class AwsEndpoints(Construct):
    """Exposes `interface_endpoints` (name -> endpoint), `s3` (the gateway endpoint) and `security_group`. Only for a
    VPC created here (an existing VPC may have its own endpoints, whose private DNS would conflict)."""

    def __init__(self, scope: Construct, construct_id: str, *, network: Network, vpc_cidr: str, ecr: bool,
                 bedrock: bool):
        """`ecr`: an image is pulled from ECR (`Settings.pulls_from_ecr`); `bedrock`: the gateway calls Bedrock."""
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=network.vpc, allow_all_outbound=False,
            description=f"AWS API endpoints: HTTPS from {vpc_cidr}",
        )
        no_default_egress(self.security_group)
        self.security_group.add_ingress_rule(ec2.Peer.ipv4(vpc_cidr), ec2.Port.tcp(HTTPS_PORT), "HTTPS from the VPC")
        services = {name: service for name, service in _INTERFACE_SERVICES.items()
                    if not name.startswith("Ecr") or ecr}
        if bedrock:
            services["BedrockRuntime"] = ec2.InterfaceVpcEndpointAwsService.BEDROCK_RUNTIME
        self.interface_endpoints = {
            name: ec2.InterfaceVpcEndpoint(
                self, name, vpc=network.vpc, service=service, private_dns_enabled=True,
                subnets=network.private_subnets, security_groups=[self.security_group], open=False,
            )
            for name, service in services.items()
        }
        self.s3 = ec2.GatewayVpcEndpoint(
            self, "S3", vpc=network.vpc, service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[network.private_subnets],
        )
