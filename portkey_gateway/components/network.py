"""The VPC: created with the module's subnet layout, imported from ids with no lookups, or the caller's own."""

from __future__ import annotations

from typing import Optional

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from ..compliance import acknowledge, acknowledge_in_packs, acknowledge_role_policy, checkov_skip
from ..settings import NetworkSettings


class Network(Construct):
    """Exposes `vpc`, `private_subnets` / `public_subnets` (selections) and their ids, and `nat_public_ips`
    (the NAT gateways' addresses when the VPC is created here; unknown, so empty, for an existing VPC).

    `vpc` passes a VPC the caller owns instead (no VPC is created, no id is needed): the tasks, the cache, the
    endpoints and an internal load balancer go into `task_subnets` (default: its private subnets with egress), an
    internet-facing load balancer into `load_balancer_subnets` (default: its public subnets)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: NetworkSettings, project: str, environment: str,
                 vpc: Optional[ec2.IVpc] = None,
                 task_subnets: Optional[ec2.SubnetSelection] = None,
                 load_balancer_subnets: Optional[ec2.SubnetSelection] = None):
        super().__init__(scope, construct_id)
        if vpc is not None:
            self.vpc = vpc
            private = select(vpc, task_subnets or ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS))
            public = (select(vpc, load_balancer_subnets) if load_balancer_subnets else
                      list(vpc.public_subnets))  # none in a private-only VPC: an internal load balancer needs none
        elif config.create_new_vpc:
            self.vpc = self._new_vpc(config, project, environment)
            private = self.vpc.private_subnets
            public = self.vpc.public_subnets
        else:
            self.vpc = ec2.Vpc.from_vpc_attributes(
                self, "Vpc", vpc_id=config.vpc_id, availability_zones=config.azs, vpc_cidr_block=config.vpc_cidr
            )
            private = self._import_subnets("Private", config.private_subnet_ids, config.azs)
            public = self._import_subnets("Public", config.public_subnet_ids, config.azs)
        self.private_subnets = ec2.SubnetSelection(subnets=private)
        self.public_subnets = ec2.SubnetSelection(subnets=public)
        self.nat_public_ips = ([eip.attr_public_ip for eip in (s.node.try_find_child("EIP") for s in public) if eip]
                               if vpc is None else [])
        self.private_subnet_ids = [s.subnet_id for s in private]
        self.public_subnet_ids = [s.subnet_id for s in public]

    def _new_vpc(self, config: NetworkSettings, project: str, environment: str) -> ec2.Vpc:
        """Public subnets first, then private, each a /+4 slice of vpc_cidr in AZ order (the module's `cidrsubnet`)."""
        mask = int(config.vpc_cidr.split("/")[1]) + 4
        flow_logs = logs.LogGroup(
            self,
            "FlowLogs",
            log_group_name=f"/vpc/{project}/{environment}/flow-logs",
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=RemovalPolicy.RETAIN,
        )
        vpc = ec2.Vpc(
            self,
            "Vpc",
            vpc_name=f"{project}-{environment}-vpc",
            ip_addresses=ec2.IpAddresses.cidr(config.vpc_cidr),
            availability_zones=config.azs,
            nat_gateways=1 if config.single_nat_gateway else config.az_count,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=mask,
                                        map_public_ip_on_launch=False),
                ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=mask),
            ],
            flow_logs={"all": ec2.FlowLogOptions(destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs))},
        )
        acknowledge(vpc, "CloudFormation-Validate::W3010",
                    "The AZs are configuration (availability_zones, or derived from the region): synthesis makes no "
                    "lookups, so the same settings give the same template offline")
        for subnet in vpc.public_subnets:
            acknowledge_in_packs(subnet, "VPCNoUnrestrictedRouteToIGW", (
                "A public subnet: it holds only the NAT gateways and an internet-facing load balancer, which need the "
                "route to the internet gateway by definition; tasks, instances and the cache are in private subnets, "
                "and the load balancer admits only allowed_lb_cidrs"))
        acknowledge_role_policy(vpc.node.find_child("all"))  # the flow log's delivery role, which CDK creates
        self._skip_cdk_provider_checks()
        return vpc

    def _skip_cdk_provider_checks(self) -> None:
        """CDK's own function that empties the VPC's default security group (feature flag restrictDefaultSecurityGroup)
        is a plain CloudFormation resource: cdk-nag does not see it, checkov does. It logs into a log group of ours
        (retained, and on the environment's key), not one Lambda would create unencrypted and never expiring."""
        provider = Stack.of(self).node.try_find_child("Custom::VpcRestrictDefaultSGCustomResourceProvider")
        handler = provider.node.find_child("Handler") if provider else None
        if handler is None or handler.get_metadata("checkov"):  # one provider per stack
            return
        log_group = logs.LogGroup(self, "DefaultSecurityGroupLogs", retention=logs.RetentionDays.THREE_MONTHS,
                                  removal_policy=RemovalPolicy.RETAIN)
        handler.add_property_override("LoggingConfig", {"LogGroup": log_group.log_group_name})
        for check, reason in (
            ("CKV_AWS_115", "Runs once per deploy that creates or updates the VPC; reserved concurrency would take "
                            "from the account's unreserved pool"),
            ("CKV_AWS_116", "A custom-resource handler: CloudFormation invokes it and fails the stack operation when "
                            "no answer comes; a dead-letter queue would hold nothing left to act on"),
            ("CKV_AWS_117", "Calls only the EC2 API (revoking the default security group's rules); nothing in the VPC"),
        ):
            checkov_skip(handler, check, reason)

    def _import_subnets(self, kind: str, ids: list[str], azs: list[str]) -> list[ec2.ISubnet]:
        """AZ labels only name the subnets here; nothing in the template depends on them."""
        return [
            ec2.Subnet.from_subnet_attributes(self, f"{kind}Subnet{i}", subnet_id=subnet_id, availability_zone=azs[i % len(azs)])
            for i, subnet_id in enumerate(ids)
        ]


def select(vpc: ec2.IVpc, selection: ec2.SubnetSelection) -> list[ec2.ISubnet]:
    """The subnets a selection picks in `vpc` (CDK's own selection rules)."""
    return vpc.select_subnets(
        availability_zones=selection.availability_zones, one_per_az=selection.one_per_az,
        subnet_filters=selection.subnet_filters, subnet_group_name=selection.subnet_group_name,
        subnet_type=selection.subnet_type, subnets=selection.subnets,
    ).subnets


def no_default_egress(group: ec2.SecurityGroup) -> None:
    """Keep EC2's allow-all egress off a group whose egress rules all name other groups.

    EC2 gives a security group created without inline egress rules an allow-all egress rule, and rules to other
    groups are separate resources (AWS::EC2::SecurityGroupEgress), so `allow_all_outbound=False` alone does not close
    it: CDK drops its own inline placeholder as soon as any egress rule is added. This inline rule matches nothing
    (a reserved ICMP type, to the broadcast address) and differs from CDK's placeholder, so CDK leaves it in place.
    """
    group.add_egress_rule(ec2.Peer.ipv4("255.255.255.255/32"), ec2.Port.icmp_type_and_code(252, 85),
                          "Matches no traffic: keeps the EC2 default allow-all egress rule out")
