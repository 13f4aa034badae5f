#!/usr/bin/env python3
"""A team's own CDK app that owns its VPC and secrets and adds the Portkey gateway to them.

Install the library (`pip install git+https://github.com/<org>/portkey-gateway-cdk` or `pip install <path>`), build
the settings in Python (typed, validated exactly as YAML is), and hand the construct the CDK objects you already own:
the VPC (and which of its subnets to use), the secrets. Nothing of yours is given by id.
"""

from aws_cdk import Acknowledgment, App, CfnOutput, Environment, RemovalPolicy, Stack, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from portkey_gateway import PortkeyGateway, enable_checks
from portkey_gateway.settings import GatewayConfig, ObjectStorage, ServiceEnvironment, Settings

AZS = ["us-east-1a", "us-east-1b"]


class PlatformStack(Stack):
    """The team's stack: its VPC, its secrets, a job queue the gateway may use, and the gateway."""

    @property
    def availability_zones(self) -> list[str]:
        return AZS  # named, so that synthesis needs no lookup

    def __init__(self, scope: Construct, construct_id: str, **kwargs):
        super().__init__(scope, construct_id, **kwargs)
        vpc = ec2.Vpc(self, "Vpc", ip_addresses=ec2.IpAddresses.cidr("10.40.0.0/16"), max_azs=2, nat_gateways=1,
                      subnet_configuration=[
                          ec2.SubnetConfiguration(name="edge", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                          ec2.SubnetConfiguration(name="apps", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20),
                          ec2.SubnetConfiguration(name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24),
                      ], flow_logs={"all": ec2.FlowLogOptions()})
        Validations.of(vpc).acknowledge(Acknowledgment(  # the AZs are named above, so synthesis needs no lookup
            id="CloudFormation-Validate::W3010", reason="AZs are named in code: offline, deterministic synthesis"))
        # Credentials Portkey issued; the values are put in with `aws secretsmanager put-secret-value`.
        docker = secretsmanager.Secret(self, "DockerHub", removal_policy=RemovalPolicy.RETAIN,
                                       description="Portkey's Docker Hub login (username, password)")
        client_auth = secretsmanager.Secret(self, "PortkeyClientAuth", removal_policy=RemovalPolicy.RETAIN,
                                            description="PORTKEY_CLIENT_AUTH and ORGANISATIONS_TO_SYNC")
        for secret in (docker, client_auth):  # the team's own finding to answer, on its own secrets
            Validations.of(secret).acknowledge(Acknowledgment(
                id="AwsSolutions-SMG4", reason="Credentials Portkey issues: they rotate at Portkey, then are put here"))

        settings = Settings(
            project_name="platform", environment="shared", aws_region="us-east-1", create_new_vpc=False,
            environment_variables=ServiceEnvironment(gateway={"SERVICE_NAME": "gateway", "LOG_STORE": "s3_assume"}),
            gateway_config=GatewayConfig(desired_task_count=2, cpu=512, memory=1024),
            object_storage=ObjectStorage(log_store_bucket="platform-gateway-logs", bucket_region="us-east-1"),
            create_lb=True, lb_type="application", internal_lb=True, desired_asg_size=2, max_asg_size=4,
        )
        gateway = PortkeyGateway(
            self, "Gateway", settings=settings,
            vpc=vpc, task_subnets=ec2.SubnetSelection(subnet_group_name="apps"),
            docker_credentials=docker,
            secrets={"gateway": {"PORTKEY_CLIENT_AUTH": client_auth, "ORGANISATIONS_TO_SYNC": client_auth}},
        )

        # The team's own resources, using the construct's surface.
        failed = sqs.Queue(self, "FailedJobs", enforce_ssl=True)
        queue = sqs.Queue(self, "Jobs", enforce_ssl=True,
                          dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=5, queue=failed))
        queue.grant_send_messages(gateway.gateway.task_role)
        clients = ec2.SecurityGroup(self, "Clients", vpc=vpc, description="Team services calling the gateway")
        gateway.connections.allow_default_port_from(clients, "team services")
        iam.Role(self, "Reader", assumed_by=iam.AccountRootPrincipal(),
                 description="Reads gateway logs").add_to_policy(iam.PolicyStatement(
                     actions=["logs:FilterLogEvents"], resources=[gateway.gateway.log_group.log_group_arn]))
        CfnOutput(self, "GatewayUrl", value=gateway.url)
        CfnOutput(self, "JobsQueueUrl", value=queue.queue_url)


def build(app: App) -> PlatformStack:
    stack = PlatformStack(app, "platform", env=Environment(account="123456789012", region="us-east-1"))
    enable_checks(app)  # the same security checks the gateway app runs
    return stack


if __name__ == "__main__":
    app = App()
    build(app)
    app.synth()
