#!/usr/bin/env python3
"""A team's own CDK app that adds the Portkey gateway to a stack next to its own resources.

Install the library (`pip install git+https://github.com/<org>/portkey-gateway-cdk` or `pip install <path>`), then
build the settings in Python (validated exactly as YAML is) and wire the construct's outputs into your resources.
"""

from aws_cdk import App, CfnOutput, Environment, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from portkey_gateway import PortkeyGateway, enable_checks, settings_from_dict

SECRETS = "arn:aws:secretsmanager:us-east-1:123456789012:secret:portkey/platform"


class PlatformStack(Stack):
    """The team's stack: a job queue the gateway may use, a bastion-like client and the gateway itself."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs):
        super().__init__(scope, construct_id, **kwargs)
        settings = settings_from_dict({
            "project_name": "platform", "environment": "shared", "aws_region": "us-east-1",
            "docker_cred_secret_arn": f"{SECRETS}/docker-credentials-AbCdEf",
            "environment_variables": {"gateway": {"SERVICE_NAME": "gateway", "LOG_STORE": "s3_assume"}},
            "secrets": {"gateway": {"PORTKEY_CLIENT_AUTH": f"{SECRETS}/client-org-GhIjKl",
                                    "ORGANISATIONS_TO_SYNC": f"{SECRETS}/client-org-GhIjKl"}},
            "create_new_vpc": True, "vpc_cidr": "10.40.0.0/16",
            "object_storage": {"log_store_bucket": "platform-gateway-logs", "bucket_region": "us-east-1"},
            "create_lb": True, "lb_type": "application",
        })
        gateway = PortkeyGateway(self, "Gateway", settings=settings)

        # The team's own resources, using the construct's surface.
        failed = sqs.Queue(self, "FailedJobs", enforce_ssl=True)
        queue = sqs.Queue(self, "Jobs", enforce_ssl=True,
                          dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=5, queue=failed))
        queue.grant_send_messages(gateway.gateway.task_role)
        clients = ec2.SecurityGroup(self, "Clients", vpc=gateway.network.vpc, description="Team services calling the gateway")
        gateway.load_balancer.security_group.add_ingress_rule(clients, ec2.Port.tcp(80), "team services")
        iam.Role(self, "Reader", assumed_by=iam.AccountRootPrincipal(),
                 description="Reads gateway logs").add_to_policy(iam.PolicyStatement(
                     actions=["logs:FilterLogEvents"], resources=[gateway.gateway.log_group.log_group_arn]))
        CfnOutput(self, "GatewayEndpoint", value=gateway.load_balancer.load_balancer.load_balancer_dns_name)
        CfnOutput(self, "JobsQueueUrl", value=queue.queue_url)


def build(app: App) -> PlatformStack:
    stack = PlatformStack(app, "platform", env=Environment(region="us-east-1"))
    enable_checks(app)  # the same security checks the gateway app runs
    return stack


if __name__ == "__main__":
    app = App()
    build(app)
    app.synth()
