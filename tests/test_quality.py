"""Properties of the build as a whole: lint-clean, deterministic, offline, stable ids, current docs, real CLI."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from portkey_gateway import reference

from .conftest import (CONFIGS, ROOT, assert_cli_synthesized, cdk, pipeline_assembly, pipeline_template, stage_assembly,
                       stage_stacks, synthesize)


@functools.cache
def cfn_lint():
    """cfn-lint with .cfnlintrc.yaml, its rules and schemas loaded once per process (a second); what `cfn-lint
    --config-file .cfnlintrc.yaml TEMPLATE` runs for a template, minus loading them again for each."""
    from cfnlint.config import ConfigMixIn
    from cfnlint.runner import Runner

    return Runner(ConfigMixIn(["--config-file", str(ROOT / ".cfnlintrc.yaml")]))


def lint(template: dict) -> list[str]:
    from cfnlint.decode.decode import decode_str

    decoded, errors = decode_str(json.dumps(template))  # as the command line reads a file: with line numbers
    return [str(match) for match in errors or cfn_lint().validate_template(decoded)]


@pytest.mark.heavy
@pytest.mark.parametrize("name", CONFIGS)
def test_cfn_lint_reports_nothing_on_any_template(name):
    """One template per test, so that the processes of the run lint in parallel (1-2 s each)."""
    assert lint(synthesize(name)[0]) == []


def test_cfn_lint_reports_what_it_finds():
    cluster = {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterSetting": []}, "DependsOn": "NoSuchResource"}
    found = lint({"Resources": {"Cluster": cluster}})
    assert any("E3002" in line and "ClusterSetting" in line for line in found), found
    assert any("E3005" in line and "NoSuchResource" in line for line in found), found


def test_same_config_gives_identical_templates(templates):
    again, _ = synthesize("minimal-dev", CONFIGS["minimal-dev"]())
    assert json.dumps(again, sort_keys=True) == json.dumps(templates["minimal-dev"], sort_keys=True)


def test_synthesis_needs_no_context_lookups(templates):
    for name in CONFIGS:
        _, assembly = synthesize(name)
        manifest = json.loads((Path(assembly.directory) / "manifest.json").read_text())
        assert not manifest.get("missing"), f"{name} asks AWS for {manifest['missing']}"


# Renaming these replaces a live resource (and for log groups and buckets, orphans the old one). Change only on purpose.
STATEFUL_LOGICAL_IDS = {
    "PortkeyGatewayNetworkVpc6C4923AF": "AWS::EC2::VPC",
    "PortkeyGatewayNetworkFlowLogs562FCD66": "AWS::Logs::LogGroup",
    "PortkeyGatewayLogsE6060494": "AWS::Logs::LogGroup",
    "PortkeyGatewayCacheRedisLogs26D57587": "AWS::Logs::LogGroup",
    "PortkeyGatewayOperationsKey2B7CF0CC": "AWS::KMS::Key",
    "PortkeyGatewayComputeCluster089D6C63": "AWS::ECS::Cluster",
    "PortkeyGatewayService66B8C1EE": "AWS::ECS::Service",
    "PortkeyGatewayCacheRedisServiceDDF72733": "AWS::ECS::Service",
    "PortkeyGatewayIngressLoadBalancer5AD770F7": "AWS::ElasticLoadBalancingV2::LoadBalancer",
    "PortkeyGatewayNamespaceF01AE406": "AWS::ServiceDiscovery::HttpNamespace",
    "PortkeyGatewayComputeInstanceReleaseLogsE127746F": "AWS::Logs::LogGroup",
    "PortkeyGatewaySecretChangeRedeployLogs4CD994D1": "AWS::Logs::LogGroup",
}


# The same, for resources that only some configurations create.
OPTIONAL_STATEFUL_LOGICAL_IDS = {
    "nlb-tls-public": {"PortkeyGatewayIngressAccessLogsB886132C": "AWS::S3::Bucket"},
    "alb-edge": {"PortkeyGatewayFirewallLogs812B8F7F": "AWS::Logs::LogGroup"},
    "nlb-blue-green": {"PortkeyGatewaySmokeTestHookLogsDE8A4B9C": "AWS::Logs::LogGroup"},
}


def test_stateful_resources_keep_their_logical_ids(templates):
    for name, expected in {"minimal-dev": STATEFUL_LOGICAL_IDS, **OPTIONAL_STATEFUL_LOGICAL_IDS}.items():
        resources = templates[name]["Resources"]
        assert {k: resources[k]["Type"] for k in expected if k in resources} == expected, name


def test_schema_file_is_current():
    assert reference.SCHEMA_PATH.read_text() == reference.schema_text(), "config/schema.json is stale: run `make schema`"


def test_reference_page_settings_table_is_current():
    page = reference.REFERENCE_PAGE.read_text()
    assert reference.page_with_table(page) == page, "the settings table in docs/configuration.md is stale: run `make schema`"


# Every input variable of the module (v2.0.0 without the six deprecated redis_* ones, which v2.0.1 removed).
MODULE_VARIABLES = """
project_name environment aws_region environment_variables_file_path secrets_file_path environment_variables secrets
create_new_vpc vpc_cidr num_az single_nat_gateway vpc_id public_subnet_ids private_subnet_ids create_cluster
cluster_name capacity_provider_name instance_type max_asg_size min_asg_size desired_asg_size target_capacity
gateway_image data_service_image redis_image docker_cred_secret_arn gateway_config gateway_autoscaling
gateway_deployment_configuration gateway_deployment_circuit_breaker gateway_lifecycle_hook server_mode
mcp_gateway_base_url dataservice_config dataservice_deployment_circuit_breaker dataservice_autoscaling
redis_configuration object_storage gateway_task_role_policy_arns data_service_task_role_policy_arns create_lb
internal_lb lb_type allowed_lb_cidrs tls_certificate_arn enable_lb_access_logs lb_access_logs_bucket
lb_access_logs_prefix alb_routing_configuration
""".split()
# What CDK needs, the v3.0.0 addition, and what this project adds to the ingress.
ADDED = {"aws_account", "availability_zones", "instance_refresh", "lb_ssl_policy", "lb_deletion_protection",
         "lb_access_logs_expiration_days", "timeouts", "custom_domain", "waf", "capacity_check", "eni_trunking", "gateway_deployment_alarms",
         "allow_latest_tag", "bedrock", "control_plane_private_link", "inbound_private_link", "allow_control_plane_ips",
         "aws_private_endpoints", "managed_secrets", "tags", "log_retention_days", "monitoring", "redeploy_on_secret_change",
         "encryption_key", "security_checks", "docker_hub_cache", "instance_session_manager"}


def test_schema_covers_every_module_variable():
    schema = json.loads(reference.schema_text())
    assert len(MODULE_VARIABLES) == 49
    assert set(schema["properties"]) == set(MODULE_VARIABLES) | ADDED
    assert set(schema["required"]) == {"create_new_vpc", "object_storage"}  # docker_cred_secret_arn unless managed_secrets
    assert schema["additionalProperties"] is False
    nested = schema["$defs"]
    assert set(nested["DataServiceConfig"]["properties"]) >= {"port", "enable_execute_command"}
    assert set(nested["RedisConfiguration"]["properties"]) >= {"enable_execute_command"}


@pytest.mark.heavy
def test_cdk_cli_synthesizes_a_config_path_offline(tmp_path):
    """The real CLI with lookups disabled, as `make synth CONFIG=...` runs it: a gateway stack from a config file's path.
    `-c env=NAME` goes through the CLI in test_first_deploy.py, as `cdk deploy -c env=prod`."""
    result = cdk("synth", "--no-lookups", "-q", "-c", "config=examples/minimal-dev.yaml", "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert_cli_synthesized(tmp_path, "portkey-gateway-dev.template.json")


@pytest.mark.heavy
def test_cdk_cli_synthesizes_the_pipeline_offline():
    """`make pipeline-synth`, the real CLI with lookups disabled: the pipeline, and each environment's stacks in its
    stage's assembly, validated."""
    gateway = stage_stacks("dev")["portkey-gateway-dev"]["properties"]["templateFile"]
    assert_cli_synthesized(pipeline_assembly(), f"{stage_assembly('dev').name}/{gateway}")
    assert any(r["Type"] == "AWS::CodePipeline::Pipeline" for r in pipeline_template()["Resources"].values())
    assert sorted(stage_stacks("prod")) == ["portkey-gateway-prod", "portkey-gateway-prod-secrets"]
    templates = sorted(p.name for p in stage_assembly("prod").glob("*.template.json"))
    assert len(templates) == 2 and "secrets" in templates[1] and "secrets" not in templates[0], templates
