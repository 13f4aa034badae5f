"""Delivery: environments, the secrets stack, the self-mutating pipeline, and the construct as a library."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import zipfile

import pytest
import yaml
from aws_cdk import App

from portkey_gateway import ConfigError, load_config, settings_from_dict
from portkey_gateway.compliance import enable_checks
from portkey_gateway.loader import known_environments, resolve_config_path
from portkey_gateway.pipeline import load_pipeline
from portkey_gateway.secrets_stack import add_secrets
from portkey_gateway.stack import add_environment

from .conftest import CLI_CONTEXT, ROOT, pipeline_template, resources_of, stage_stacks, variant, with_data_service


def test_three_environments_that_differ_as_a_team_would():
    assert known_environments() == ["dev", "prod", "staging"]  # pipeline.yaml is not an environment
    dev, staging, prod = (load_config(ROOT / "config" / f"{name}.yaml") for name in ("dev", "staging", "prod"))
    assert [s.name_prefix for s in (dev, staging, prod)] == ["portkey-gateway-dev", "portkey-gateway-staging",
                                                              "portkey-gateway-prod"]
    assert [s.az_count for s in (dev, staging, prod)] == [2, 2, 3]
    assert [s.single_nat_gateway for s in (dev, staging, prod)] == [True, True, False]
    assert [s.deployment_strategy for s in (dev, staging, prod)] == ["ROLLING", "CANARY", "BLUE_GREEN"]
    assert (dev.lb_deletion_protection, staging.lb_deletion_protection, prod.lb_deletion_protection) == (False, False, True)
    assert (staging.aws_account, prod.aws_account) == ("123456789012", "210987654321")  # one app, several accounts
    with pytest.raises(ConfigError, match="unknown environment 'qa'.*known environments: dev, prod, staging"):
        resolve_config_path("qa")
    with pytest.raises(ConfigError, match="unknown environment 'pipeline'"):
        resolve_config_path("pipeline")


def test_every_resource_carries_the_standard_and_the_configured_tags(templates):
    template = templates["config-prod"]
    tagged = [r for r in template["Resources"].values() if "Tags" in r.get("Properties", {})
              and isinstance(r["Properties"]["Tags"], list)]
    assert len(tagged) > 40
    for resource in tagged:
        tags = {t["Key"]: t["Value"] for t in resource["Properties"]["Tags"] if "Key" in t}
        assert {k: tags.get(k) for k in ("Project", "Environment", "ManagedBy", "CostCenter", "Tier")} == {
            "Project": "portkey-gateway", "Environment": "prod", "ManagedBy": "CDK", "CostCenter": "ai-platform",
            "Tier": "production"}, resource["Type"]


def managed(**changes) -> dict:
    data = variant(managed_secrets=True, **with_data_service())
    del data["docker_cred_secret_arn"]
    data["secrets"] = {}
    return {**data, **changes}


def test_secrets_stack_holds_no_secret_value_and_the_gateway_uses_it():
    app = App(context=CLI_CONTEXT)
    settings = settings_from_dict(managed())
    add_secrets(app, settings)
    add_environment(app, settings)
    enable_checks(app)
    assembly = app.synth()
    secrets = assembly.get_stack_by_name("portkey-gateway-dev-secrets").template
    found = {v["Properties"]["Name"]: v for v in resources_of(secrets, "AWS::SecretsManager::Secret").values()}
    assert set(found) == {"portkey-gateway/dev/docker-credentials", "portkey-gateway/dev/clientauth-organizations"}
    for secret in found.values():
        assert "SecretString" not in secret["Properties"] and secret["DeletionPolicy"] == "Retain"
    generated = {name: (json.loads(v["Properties"]["GenerateSecretString"]["SecretStringTemplate"]),
                        v["Properties"]["GenerateSecretString"]["GenerateStringKey"]) for name, v in found.items()}
    assert generated == {"portkey-gateway/dev/docker-credentials": ({"username": "REPLACE_ME"}, "password"),
                         "portkey-gateway/dev/clientauth-organizations": ({"ORGANISATIONS_TO_SYNC": "REPLACE_ME"},
                                                                          "PORTKEY_CLIENT_AUTH")}
    assert set(secrets["Outputs"]) >= {"DockerCredentialsSecretArn", "ClientOrgSecretNameArn"}
    gateway = json.dumps(assembly.get_stack_by_name("portkey-gateway-dev").template)
    # credentials + two keys x two services, each the complete ARN the secrets check found by name
    assert gateway.count('{"Fn::GetAtt": ["ManagedSecretsReady", "') >= 5
    assert "arn:aws:secretsmanager" not in gateway and "StackName" not in gateway  # no pasted ARN, no stack output
    assert not set(found) - {s["Name"] for s in json.loads(gateway)["Resources"]["ManagedSecretsReady"]["Properties"]["Secrets"]}


def test_managed_secrets_refuse_pasted_arns():
    data = managed(docker_cred_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf")
    with pytest.raises(ConfigError, match="docker_cred_secret_arn: comes from the secrets stack"):
        settings_from_dict(data, source="cfg.yaml")
    data = variant()
    del data["docker_cred_secret_arn"]
    with pytest.raises(ConfigError, match="docker_cred_secret_arn: is required.*managed_secrets: true"):
        settings_from_dict(data, source="cfg.yaml")
    with pytest.raises(ConfigError, match="tags.Project: is set from the settings already"):
        settings_from_dict(variant(tags={"Project": "x"}), source="cfg.yaml")


def test_pipeline_deploys_each_environment_in_order_with_approval_before_prod():
    template = pipeline_template()
    (pipeline,) = [v["Properties"] for v in resources_of(template, "AWS::CodePipeline::Pipeline").values()]
    stages = [s["Name"] for s in pipeline["Stages"]]
    assert stages[:3] == ["Source", "Build", "UpdatePipeline"]  # self-mutating
    assert [s for s in stages if s in ("dev", "staging", "prod")] == ["dev", "staging", "prod"]
    prod = next(s for s in pipeline["Stages"] if s["Name"] == "prod")
    first = min(prod["Actions"], key=lambda a: a["RunOrder"])
    assert first["ActionTypeId"]["Category"] == "Approval" and first["Name"] == "Approve-prod"
    for name in ("dev", "staging"):
        stage = next(s for s in pipeline["Stages"] if s["Name"] == name)
        assert all(a["ActionTypeId"]["Category"] != "Approval" for a in stage["Actions"])
    # each environment stage deploys its secrets stack and its gateway stack
    deployed = {a["Configuration"]["StackName"] for s in pipeline["Stages"] for a in s["Actions"]
                if a["ActionTypeId"]["Provider"] == "CloudFormation"}
    assert deployed == {"portkey-gateway-dev", "portkey-gateway-staging-secrets", "portkey-gateway-staging",
                        "portkey-gateway-prod-secrets", "portkey-gateway-prod"}
    source = pipeline["Stages"][0]["Actions"][0]
    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert (source["Configuration"]["FullRepositoryId"], source["Configuration"]["BranchName"]) == (
        "my-org/portkey-gateway-cdk", "main")
    assert source["Configuration"]["ConnectionArn"].startswith("arn:aws:codeconnections:us-east-1:123456789012:connection/")


def test_pipeline_synth_runs_the_tests_first_and_deploys_cross_account():
    template = pipeline_template()
    synth = next(v["Properties"] for k, v in resources_of(template, "AWS::CodeBuild::Project").items() if "Synth" in k)
    commands = yaml.safe_load(synth["Source"]["BuildSpec"])["phases"]["build"]["commands"]
    assert commands == ["make test", "make pipeline-synth"]
    # prod lives in another account: artifacts are KMS-encrypted for it, with key rotation
    (key,) = [v["Properties"] for v in resources_of(template, "AWS::KMS::Key").values()]
    assert key["EnableKeyRotation"] is True
    assert {name: {stack["environment"] for stack in stage_stacks(name).values()} for name in ("dev", "staging", "prod")} == {
        "dev": {"aws://123456789012/us-east-1"}, "staging": {"aws://123456789012/us-east-1"},
        "prod": {"aws://210987654321/us-east-1"}}
    assert synth["Environment"]["Image"].startswith("aws/codebuild/standard")
    runtime = yaml.safe_load(synth["Source"]["BuildSpec"])["phases"]["install"]["runtime-versions"]
    assert runtime == {"python": "3.12"}  # the Makefile needs 3.11+; CodeBuild's default may change
    (pipeline,) = [v["Properties"] for v in resources_of(template, "AWS::CodePipeline::Pipeline").values()]
    assert {t["Key"]: t["Value"] for t in pipeline["Tags"]} == {"Environment": "pipeline", "ManagedBy": "CDK",
                                                                "Project": "portkey-gateway"}


def test_pipeline_config_mistakes_are_one_line(tmp_path):
    for name in ("dev", "staging", "prod"):
        (tmp_path / f"{name}.yaml").write_text((ROOT / "config" / f"{name}.yaml").read_text())
    base = yaml.safe_load((ROOT / "config" / "pipeline.yaml").read_text())
    cases = [
        ({"environments": ["dev", "qa"], "approval_before": []},
         "environments: 'qa' has no config/qa.yaml; known environments: dev, prod, staging"),
        ({"approval_before": ["uat"]}, "approval_before: 'uat' is not in environments"),
        ({"environments": ["dev", "dev"]}, "environments: lists an environment twice"),
        ({"connection_arn": "github"}, "connection_arn: 'github' is not a CodeStar connection ARN"),
        ({"brnach": "main"}, "brnach: unknown setting; did you mean 'branch'?"),
        ({"branch": "main branch"}, "branch: 'main branch' is not a branch name"),
        ({"connection_arn": "arn:aws:codeconnections:eu-west-1:999999999999:connection/0a1b2c3d"},
         "connection_arn: is in 999999999999/eu-west-1, but the pipeline runs in 123456789012/us-east-1"),
    ]
    for change, message in cases:
        (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump({**base, **change}))
        with pytest.raises(ConfigError) as caught:
            load_pipeline(tmp_path)
        assert message in str(caught.value) and "Traceback" not in str(caught.value), str(caught.value)


def test_the_package_builds_with_its_lambda_code(tmp_path):
    source = tmp_path / "source"  # a copy: an in-tree build would leave build/ behind in the checkout
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv", "node_modules", "cdk.out", ".git", "build",
                                                                 "*.egg-info", "__pycache__", ".pytest_cache", ".bench"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(source)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for function in ("smoke_test", "redeploy_on_secret_change", "teardown"):
        assert f"portkey_gateway/lambdas/{function}/index.py" in names
    assert "portkey_gateway/components/private_link.py" in names and "portkey_gateway/pipeline.py" in names


def test_a_consumer_app_hands_the_construct_its_own_vpc_and_secrets():
    """A team's app (examples/consumer_app) that owns its VPC and secrets: passed as objects, they are used as they
    are, the services land in the team's chosen subnets, and no second VPC or secret is made."""
    spec = importlib.util.spec_from_file_location("consumer_app", ROOT / "examples" / "consumer_app" / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app = App(context=CLI_CONTEXT)
    stack = module.build(app)  # with the security checks on: a finding would fail synthesis
    template = app.synth().get_stack_by_name(stack.stack_name).template
    resources = template["Resources"]
    (vpc_id,) = resources_of(template, "AWS::EC2::VPC")  # the team's, and no other
    assert "Gateway" not in vpc_id
    apps = {k for k, v in resources_of(template, "AWS::EC2::Subnet").items() if "appsSubnet" in k}
    assert len(apps) == 2
    services = [v["Properties"] for v in resources_of(template, "AWS::ECS::Service").values()]
    assert len(services) == 2  # the gateway and its Redis, inside the team's stack
    for service in services:
        subnets = service["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"]
        assert {s["Ref"] for s in subnets} == apps  # the "apps" group the team selected, not "data" nor "edge"
    group = next(v["Properties"] for v in resources_of(template, "AWS::AutoScaling::AutoScalingGroup").values())
    assert {s["Ref"] for s in group["VPCZoneIdentifier"]} == apps
    lb = next(v["Properties"] for v in resources_of(template, "AWS::ElasticLoadBalancingV2::LoadBalancer").values())
    assert {s["Ref"] for s in lb["Subnets"]} == apps  # internal: beside the tasks
    # The team's two secrets, by reference: read by the execution role, named in the task definition.
    secrets = resources_of(template, "AWS::SecretsManager::Secret")
    assert set(secrets) == {k for k in resources if k.startswith(("DockerHub", "PortkeyClientAuth"))
                            and resources[k]["Type"] == "AWS::SecretsManager::Secret"} and len(secrets) == 2
    gateway = next(c for t in resources_of(template, "AWS::ECS::TaskDefinition").values()
                   for c in t["Properties"]["ContainerDefinitions"] if c["Name"] == "gateway")
    docker_id = next(k for k in secrets if k.startswith("DockerHub"))
    client_id = next(k for k in secrets if k.startswith("PortkeyClientAuth"))
    assert gateway["RepositoryCredentials"]["CredentialsParameter"] == {"Ref": docker_id}
    assert {json.dumps(s["ValueFrom"]).count(client_id) for s in gateway["Secrets"]} == {1}
    queue_policy = [p["Properties"]["PolicyDocument"]["Statement"] for p in resources_of(template, "AWS::IAM::Policy").values()
                    if any("sqs:SendMessage" in json.dumps(s) for s in p["Properties"]["PolicyDocument"]["Statement"])]
    assert queue_policy, "the gateway task role may send to the team's queue"
    ingress = [r["Properties"] for r in resources_of(template, "AWS::EC2::SecurityGroupIngress").values()
               if r["Properties"].get("Description") == "team services"]
    assert len(ingress) == 1 and ingress[0]["FromPort"] == 80  # connections.allow_default_port_from
    assert {"GatewayUrl", "JobsQueueUrl"} <= set(template["Outputs"])
    queues = resources_of(template, "AWS::SQS::Queue")
    # The team's queue and its redrive queue, and the gateway's dead letters (its secret-change redeploy's events).
    assert len(queues) == 3 and len([key for key in queues if key.startswith("GatewayDeadLetters")]) == 1


def test_generated_settings_match_yaml_validation():
    """Settings built in Python go through the same validation and the same one-line errors."""
    with pytest.raises(ConfigError, match=r"^py: gateway_config.cpu: 300 is not allowed"):
        settings_from_dict(variant(gateway_config={"cpu": 300}), source="py")


def test_the_construct_refuses_managed_secrets_without_their_arns():
    from aws_cdk import Stack

    from portkey_gateway import PortkeyGateway
    with pytest.raises(ValueError, match="managed_secrets: pass settings with the secrets stack's ARNs"):
        PortkeyGateway(Stack(App(context=CLI_CONTEXT), "S"), "G", settings=settings_from_dict(managed()))


def test_pipeline_defaults_and_checks(tmp_path):
    base = yaml.safe_load((ROOT / "config" / "pipeline.yaml").read_text())
    from portkey_gateway.pipeline import PipelineSettings
    without_prod = PipelineSettings.model_validate({**base, "environments": ["dev", "staging"], "approval_before": None})
    assert without_prod.approvals == []  # no prod, no approval by default
    assert PipelineSettings.model_validate({**base, "approval_before": None}).approvals == ["prod"]


def test_the_tools_start_without_the_cdk_and_the_api_stays_whole():
    """`python -m portkey_gateway.cost` (and .diagram, .migrate) must not start the CDK's Node.js process."""
    import portkey_gateway

    assert sorted(portkey_gateway.__all__) == sorted(portkey_gateway._EXPORTS)
    assert all(getattr(portkey_gateway, name) for name in portkey_gateway.__all__)
    check = ("import sys, portkey_gateway.cost, portkey_gateway.diagram, portkey_gateway.migrate; "
             "sys.exit('aws_cdk' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", check], cwd=ROOT).returncode == 0
