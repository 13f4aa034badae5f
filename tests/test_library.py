"""The construct as a CDK library: typed settings, the caller's own objects instead of ids, tokens in id and ARN
settings, the surface a CDK app wires to, and single constructs built in a bare stack from their own inputs."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Annotations, Match, Template

from portkey_gateway import PortkeyGateway, settings_from_dict
from portkey_gateway.components.deploy_guard import DeployGuard
from portkey_gateway.components.domain import GatewayDomain
from portkey_gateway.components.network import Network
from portkey_gateway.loader import ConfigError
from portkey_gateway.settings import GatewayConfig, ObjectStorage, ServiceEnvironment, ServiceSecrets, Settings

from .conftest import CERTIFICATE, CLI_CONTEXT, ZONE, example, resources_of, variant

AZS = ["us-east-1a", "us-east-1b"]
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:team"


class TeamStack(Stack):
    """A caller's stack in a fixed environment, with its AZs named (no lookup)."""

    @property
    def availability_zones(self) -> list[str]:
        return AZS


def team_stack() -> Stack:
    return TeamStack(App(context=CLI_CONTEXT), "team", env={"account": "123456789012", "region": "us-east-1"})


def typed(**changes) -> Settings:
    """Settings built with keyword arguments and nested models, as a library user writes them."""
    fields = dict(
        project_name="team", environment="dev", aws_region="us-east-1", create_new_vpc=False,
        environment_variables=ServiceEnvironment(gateway={"SERVICE_NAME": "gateway"}),
        gateway_config=GatewayConfig(desired_task_count=1, cpu=256, memory=1024),
        object_storage=ObjectStorage(log_store_bucket="team-logs", bucket_region="us-east-1"),
        create_lb=True, internal_lb=True, lb_type="application",
        docker_cred_secret_arn=f"{SECRET}/docker-AbCdEf",
        secrets=ServiceSecrets(gateway={"PORTKEY_CLIENT_AUTH": f"{SECRET}/auth-GhIjKl",
                                        "ORGANISATIONS_TO_SYNC": f"{SECRET}/auth-GhIjKl"}),
    )
    return Settings(**{**fields, **changes})


def team_vpc(stack: Stack) -> ec2.Vpc:
    return ec2.Vpc(stack, "TeamVpc", max_azs=2, nat_gateways=1, subnet_configuration=[
        ec2.SubnetConfiguration(name="edge", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
        ec2.SubnetConfiguration(name="apps", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20),
        ec2.SubnetConfiguration(name="jobs", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20),
    ])


def secrets(stack: Stack) -> dict:
    docker = secretsmanager.Secret(stack, "Docker")
    auth = secretsmanager.Secret(stack, "ClientAuth")
    return {"docker_credentials": docker,
            "secrets": {"gateway": {"PORTKEY_CLIENT_AUTH": auth, "ORGANISATIONS_TO_SYNC": auth}}}


# --- typed settings ---------------------------------------------------------------------------------------------

def test_keyword_settings_fail_with_the_same_one_line_errors_as_yaml():
    with pytest.raises(ConfigError) as keyword:
        GatewayConfig(cpu=300)
    with pytest.raises(ConfigError) as yaml_like:
        settings_from_dict(variant(gateway_config={"cpu": 300}), source="cfg.yaml")
    assert str(keyword.value) == "GatewayConfig: cpu: 300 is not allowed; use one of 256, 512, 1024, 2048, 4096, 8192, 16384"
    assert str(yaml_like.value) == "cfg.yaml: gateway_config.cpu: 300 is not allowed; use one of 256, 512, 1024, 2048, 4096, 8192, 16384"
    with pytest.raises(ConfigError, match=r"^Settings: gatewy_config: unknown setting; did you mean 'gateway_config'\?$"):
        typed(gatewy_config={})


def test_keyword_settings_run_the_cross_field_rules_in_the_construct():
    """Objects may supply what the rules ask for (a VPC instead of vpc_id): the construct runs them, one line each."""
    settings = typed()
    assert settings.rules_deferred and settings.gateway_config.cpu == 256
    with pytest.raises(ConfigError) as error:
        PortkeyGateway(team_stack(), "Gateway", settings=settings)
    assert str(error.value) == ("PortkeyGateway: vpc_id: is required when create_new_vpc is false; set the id of the "
                                "existing VPC")
    assert not settings_from_dict(example()).rules_deferred  # YAML and dicts: every rule at once, as before


# --- the caller's own objects -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def with_objects():
    stack = team_stack()
    vpc = team_vpc(stack)
    cluster = ecs.Cluster.from_cluster_attributes(stack, "TeamCluster", cluster_name="team", vpc=vpc,
                                                  has_ec2_capacity=True)
    certificate = acm.Certificate(stack, "Cert", domain_name="gateway.team.example.com")
    gateway = PortkeyGateway(
        stack, "Gateway", settings=typed(create_cluster=False, capacity_provider_name="team-capacity",
                                         docker_cred_secret_arn=None, secrets=None),
        vpc=vpc, task_subnets=ec2.SubnetSelection(subnet_group_name="jobs"), cluster=cluster, certificate=certificate,
        **secrets(stack),
    )
    return stack, gateway, Template.from_stack(stack).to_json()


def test_objects_replace_the_ids_and_nothing_is_created_twice(with_objects):
    stack, gateway, template = with_objects
    assert len(resources_of(template, "AWS::EC2::VPC")) == 1 and gateway.network.vpc.node.path == "team/TeamVpc"
    assert gateway.compute.cluster.node.path == "team/TeamCluster"
    assert not resources_of(template, "AWS::ECS::Cluster")  # the team's, imported by the team: nothing of ours
    assert not resources_of(template, "AWS::AutoScaling::AutoScalingGroup")  # the team's cluster brings its capacity
    jobs = {k for k in resources_of(template, "AWS::EC2::Subnet") if "jobsSubnet" in k}
    service = next(v["Properties"] for v in resources_of(template, "AWS::ECS::Service").values()
                   if "gateway" in json.dumps(v["Properties"].get("ServiceConnectConfiguration", {})))
    assert {s["Ref"] for s in service["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"]} == jobs
    assert service["CapacityProviderStrategy"][0]["CapacityProvider"] == "team-capacity"
    https = next(v["Properties"] for v in resources_of(template, "AWS::ElasticLoadBalancingV2::Listener").values()
                 if v["Properties"]["Port"] == 443)
    certificate = next(iter(resources_of(template, "AWS::CertificateManager::Certificate")))
    assert https["Certificates"] == [{"CertificateArn": {"Ref": certificate}}]
    # The internal load balancer admits the team VPC's own CIDR (a reference, checked by nothing before deploy).
    cidrs = {json.dumps(r.get("CidrIp")) for g in resources_of(template, "AWS::EC2::SecurityGroup").values()
             for r in g["Properties"].get("SecurityGroupIngress", [])}
    assert json.dumps({"Fn::GetAtt": [next(iter(resources_of(template, "AWS::EC2::VPC"))), "CidrBlock"]}) in cidrs


def test_secrets_given_as_objects_are_granted_through_them(with_objects):
    _, _, template = with_objects
    docker = next(k for k in resources_of(template, "AWS::SecretsManager::Secret") if k.startswith("Docker"))
    container = next(c for t in resources_of(template, "AWS::ECS::TaskDefinition").values()
                     for c in t["Properties"]["ContainerDefinitions"] if c["Name"] == "gateway")
    assert container["RepositoryCredentials"]["CredentialsParameter"] == {"Ref": docker}
    reads = [s for p in resources_of(template, "AWS::IAM::Policy").values()
             for s in p["Properties"]["PolicyDocument"]["Statement"] if "secretsmanager:GetSecretValue" in json.dumps(s)]
    assert any({"Ref": docker} in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]) for s in reads)


def test_the_surface_a_cdk_app_wires_to():
    stack = team_stack()
    gateway = PortkeyGateway(stack, "Gateway", settings=typed(), vpc=team_vpc(stack),
                             certificate=acm.Certificate(stack, "Cert", domain_name="gateway.team.example.com"))
    clients = ec2.SecurityGroup(stack, "Clients", vpc=gateway.network.vpc)
    gateway.connections.allow_default_port_from(clients, "team services")
    rule = next(v["Properties"] for v in resources_of(Template.from_stack(stack).to_json(), "AWS::EC2::SecurityGroupIngress").values()
                if v["Properties"].get("Description") == "team services")
    assert rule["FromPort"] == 443 and rule["SourceSecurityGroupId"]["Fn::GetAtt"][0].startswith("Clients")
    assert stack.resolve(gateway.url)["Fn::Join"][1][0] == "https://"
    assert gateway.alarms and gateway.dashboard is not None


@pytest.mark.parametrize("objects,field", [
    ({"vpc": "vpc"}, "vpc_id"),
    ({"cluster": "cluster"}, "cluster_name"),
    ({"docker_credentials": "secret"}, "docker_cred_secret_arn"),
])
def test_an_object_and_the_setting_it_replaces_are_one_line_error(objects, field):
    stack = team_stack()
    vpc = team_vpc(stack)
    made = {"vpc": vpc, "cluster": ecs.Cluster.from_cluster_attributes(stack, "C", cluster_name="c", vpc=vpc),
            "secret": secretsmanager.Secret(stack, "S")}
    data = {**variant(create_new_vpc=False, vpc_cidr=None, vpc_id="vpc-0123456789abcdef0",
                      private_subnet_ids=["subnet-0aaaaaaaaaaaaaaa1"], allowed_lb_cidrs=["10.0.0.0/16"]),
            "create_cluster": False, "cluster_name": "shared", "capacity_provider_name": "shared-capacity"}
    with pytest.raises(ConfigError) as error:
        PortkeyGateway(stack, "Gateway", settings=settings_from_dict(data),
                       **{name: made[kind] for name, kind in objects.items()})
    assert str(error.value).splitlines()[0] == (f"PortkeyGateway: {field}: is given together with the object that "
                                                "replaces it; pass one of them")


# --- tokens in id and ARN settings ------------------------------------------------------------------------------

def test_tokens_pass_as_ids_and_arns_and_what_they_keep_unchecked_is_said():
    stack = team_stack()
    vpc = team_vpc(stack)
    certificate = acm.Certificate(stack, "Cert", domain_name="gateway.team.example.com")
    made = secrets(stack)
    settings = settings_from_dict({
        **variant(create_new_vpc=False, vpc_cidr=None, allowed_lb_cidrs=["10.0.0.0/16"], lb_type="application"),
        "vpc_id": vpc.vpc_id, "private_subnet_ids": [s.subnet_id for s in vpc.private_subnets],
        "docker_cred_secret_arn": made["docker_credentials"].secret_arn,
        "secrets": {"gateway": {k: v.secret_arn for k, v in made["secrets"]["gateway"].items()}},
        "tls_certificate_arn": certificate.certificate_arn,
    })
    assert settings.unchecked == [
        "tls_certificate_arn is known only at deploy: that the certificate is in us-east-1 (ACM certificates are "
        "regional) is checked by CloudFormation, not here",
        "a secret ARN is known only at deploy: that each secret is in us-east-1 of this account (where the "
        "secret-change redeploy hears of new values) is not checked here"]
    PortkeyGateway(stack, "Gateway", settings=settings)
    annotations = Annotations.from_stack(stack)
    annotations.has_info("/team/Gateway", Match.string_like_regexp("tls_certificate_arn is known only at deploy"))
    template = Template.from_stack(stack).to_json()
    assert len(resources_of(template, "AWS::EC2::VPC")) == 1
    with pytest.raises(ConfigError, match="private_subnet_ids\\[0\\]: 'subnet-1' is not a subnet id"):
        settings_from_dict({**variant(create_new_vpc=False, vpc_cidr=None, allowed_lb_cidrs=["10.0.0.0/16"]),
                            "vpc_id": vpc.vpc_id, "private_subnet_ids": ["subnet-1"]})


# --- single constructs in a bare stack --------------------------------------------------------------------------

def test_network_uses_a_given_vpc_and_its_selected_subnets():
    stack = team_stack()
    vpc = team_vpc(stack)
    network = Network(stack, "Network", config=settings_from_dict(CONFIGS_DEV()), project="team", environment="dev", vpc=vpc,
                      task_subnets=ec2.SubnetSelection(subnet_group_name="apps"))
    assert network.vpc is vpc and network.nat_public_ips == []
    assert [stack.resolve(i) for i in network.private_subnet_ids] == [stack.resolve(s.subnet_id) for s in
                                                                      vpc.select_subnets(subnet_group_name="apps").subnets]
    assert len(network.public_subnet_ids) == 2
    assert not resources_of(Template.from_stack(stack).to_json(), "AWS::Logs::LogGroup")  # no flow logs of ours


def CONFIGS_DEV() -> dict:
    return example()


def test_domain_uses_a_given_zone_and_certificate():
    stack = team_stack()
    zone = route53.PublicHostedZone(stack, "Zone", zone_name="team.example.com")
    certificate = acm.Certificate.from_certificate_arn(stack, "Cert", CERTIFICATE)
    settings = settings_from_dict(variant(custom_domain={**ZONE, "gateway_host": "gateway.example.com"}))
    domain = GatewayDomain(stack, "Domain", domain=settings.custom_domain, hosts=settings.domain_hosts, zone=zone,
                           certificate=certificate)
    assert domain.zone is zone and domain.certificate is certificate
    assert not resources_of(Template.from_stack(stack).to_json(), "AWS::CertificateManager::Certificate")


def test_the_deploy_guard_is_one_function_per_stack():
    stack = team_stack()
    assert DeployGuard.of(stack) is DeployGuard.of(stack)
    functions = resources_of(Template.from_stack(stack).to_json(), "AWS::Lambda::Function")
    assert len(functions) == 1 and next(iter(functions.values()))["Properties"]["Runtime"] == "python3.14"


def test_a_custom_domain_in_the_callers_own_zone():
    stack = team_stack()
    zone = route53.PublicHostedZone(stack, "Zone", zone_name="team.example.com")
    settings = typed(create_new_vpc=True, vpc_cidr="10.30.0.0/16",
                     custom_domain={"gateway_host": "gateway.team.example.com"})
    gateway = PortkeyGateway(stack, "Gateway", settings=settings, domain_zone=zone)
    template = Template.from_stack(stack).to_json()
    (record,) = resources_of(template, "AWS::Route53::RecordSet").values()
    assert record["Properties"]["HostedZoneId"] == {"Ref": next(iter(resources_of(template, "AWS::Route53::HostedZone")))}
    assert gateway.url == "https://gateway.team.example.com"
    with pytest.raises(ConfigError, match=r"^cfg.yaml: custom_domain.hosted_zone_id: is required: the public zone that "
                                          r"holds the host names; .*\(domain_zone=\)$"):
        settings_from_dict(variant(custom_domain={"gateway_host": "gateway.example.com"}), source="cfg.yaml")


def test_a_vpc_and_a_cidr_of_its_own_are_refused_and_an_imported_vpc_needs_its_cidr():
    stack = team_stack()
    with pytest.raises(ConfigError, match=r"^PortkeyGateway: vpc_cidr: is given together with the object"):
        PortkeyGateway(stack, "Gateway", settings=typed(vpc_cidr="192.168.0.0/16"), vpc=team_vpc(stack))
    imported = ec2.Vpc.from_vpc_attributes(stack, "Imported", vpc_id="vpc-0123456789abcdef0", availability_zones=AZS,
                                           private_subnet_ids=["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"])
    with pytest.raises(ConfigError, match=r"^PortkeyGateway: vpc: was imported without its CIDR"):
        PortkeyGateway(stack, "Gateway2", settings=typed(), vpc=imported)


def test_managed_secrets_work_with_keyword_settings_in_the_gateway_stack():
    """The secrets check's ARNs are tokens in the settings the stack hands the construct: accepted as its own."""
    from portkey_gateway import GatewayStack

    settings = typed(create_new_vpc=True, vpc_cidr="10.30.0.0/16", managed_secrets=True, docker_cred_secret_arn=None,
                     secrets=None)
    stack = GatewayStack(App(context=CLI_CONTEXT), "S", settings=settings)
    template = Template.from_stack(stack).to_json()
    assert resources_of(template, "Custom::ManagedSecretsReady")


def test_no_component_takes_the_whole_settings():
    """A construct takes its area's settings and the siblings it wires to (EcsService + ServiceSpec is the pattern):
    the composite `Settings` is known only to PortkeyGateway, which splits it."""
    import importlib
    import inspect
    import pkgutil
    import typing

    from constructs import Construct

    import portkey_gateway.components as components
    from portkey_gateway.settings import Settings

    checked = []
    for module_info in pkgutil.iter_modules(components.__path__):
        module = importlib.import_module(f"portkey_gateway.components.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or not issubclass(cls, Construct):
                continue
            hints = typing.get_type_hints(cls.__init__)
            taking_all = [name for name, hint in hints.items()
                          if hint is Settings or Settings in typing.get_args(hint)]
            assert not taking_all, f"{cls.__name__}.__init__ takes the whole Settings as {taking_all}"
            checked.append(cls.__name__)
    assert {"GatewayLoadBalancer", "ComputeCluster", "Network", "EcsService", "Monitoring"} <= set(checked)
