"""What a regulated enterprise's security review asks for: the environment's customer-managed key, the NIST, HIPAA and
PCI rule packs, the instance role without log permissions, dead-letter queues, the cache token's rotation, and the
checkov skips that carry their reasons."""

from __future__ import annotations

import json
import re
import stat
import sys

import pytest
import yaml
from aws_cdk import App
from aws_cdk import aws_kms as kms

from portkey_gateway import PortkeyGateway, settings_from_dict
from portkey_gateway.compliance import RULE_PACKS, enable_checks
from portkey_gateway.loader import ConfigError
from portkey_gateway.settings import RULE_PACKS as SETTINGS_PACKS
from portkey_gateway.secrets_stack import add_secrets
from portkey_gateway.stack import add_environment

from .conftest import CLI_CONTEXT, ROOT, container, logical_id, only, resources_of, synthesize, variant
from .test_library import team_stack, team_vpc, typed

KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
VIA_SECRETS_MANAGER = {"StringEquals": {"kms:ViaService": {"Fn::Join": ["", ["secretsmanager.", {"Ref": "AWS::Region"},
                                                                             ".amazonaws.com"]]}}}


def prod() -> dict:
    return yaml.safe_load((ROOT / "config" / "prod.yaml").read_text())


def statements_of(template: dict, fragment: str) -> list[dict]:
    """The statements of the one IAM policy whose logical id contains `fragment`."""
    (policy,) = [p for key, p in resources_of(template, "AWS::IAM::Policy").items() if fragment in key]
    return policy["Properties"]["PolicyDocument"]["Statement"]


def log_group_keys(template: dict) -> dict[str, object]:
    return {key: group.get("Properties", {}).get("KmsKeyId")
            for key, group in resources_of(template, "AWS::Logs::LogGroup").items()}


# --- settings --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("changes, message", [
    ({"encryption_key": "alias/portkey"}, "encryption_key: 'alias/portkey' is neither 'create' nor a KMS key ARN; use "
                                          "create, or the key's ARN"),
    ({"encryption_key": KEY_ARN.replace("us-east-1", "eu-west-1")}, "encryption_key: is in eu-west-1, but the "
                                                                    "environment is in us-east-1 (KMS keys are regional)"),
    ({"security_checks": ["HIPAASecurity"]}, "security_checks: HIPAASecurity requires every log group and secret to be "
                                             "encrypted with a customer-managed key; set encryption_key: create"),
    ({"security_checks": ["PCIDSS321", "PCIDSS321"], "encryption_key": "create"},
     "security_checks: lists PCIDSS321 more than once; list each pack once"),
    ({"security_checks": ["SOC2"], "encryption_key": "create"}, "security_checks[0]: 'SOC2' is not allowed"),
    ({"redis_configuration": {"redis_type": "aws-elastic-cache", "create": {"auth_token_rotation_days": 30}},
      "redeploy_on_secret_change": False},
     "redis_configuration.create.auth_token_rotation_days: needs the services redeployed with the new token before "
     "the old one is refused"),
])
def test_bad_security_settings_are_one_line_errors(changes, message):
    with pytest.raises(ConfigError) as error:
        settings_from_dict(variant(**changes))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_the_settings_name_exactly_the_packs_the_checks_know():
    assert tuple(RULE_PACKS) == SETTINGS_PACKS


# --- the key ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def created_here() -> dict:
    """A key created in the gateway stack (no secrets stack), with a created cache that rotates its token."""
    template, _ = synthesize("key-created-here", variant(
        encryption_key="create", redis_configuration={"redis_type": "aws-elastic-cache", "create": {"replicas": 0}}))
    return template


def test_a_created_key_rotates_is_kept_and_admits_cloudwatch_logs_of_this_account_only(created_here):
    keys = resources_of(created_here, "AWS::KMS::Key")
    key_id = logical_id(created_here, "AWS::KMS::Key", "EncryptionKey")
    key = keys[key_id]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert (key["DeletionPolicy"], key["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert only(created_here, "AWS::KMS::Alias") == {
        "AliasName": "alias/portkey-gateway-dev", "TargetKeyId": {"Fn::GetAtt": [key_id, "Arn"]}}
    logs = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Sid") == "AllowCloudWatchLogsOfThisAccount"]
    assert logs == [{
        "Sid": "AllowCloudWatchLogsOfThisAccount", "Effect": "Allow",
        "Principal": {"Service": {"Fn::Join": ["", ["logs.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}},
        "Action": ["kms:Decrypt*", "kms:Describe*", "kms:Encrypt*", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
        "Resource": "*",
        "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": {"Fn::Join": ["", [
            "arn:", {"Ref": "AWS::Partition"}, ":logs:", {"Ref": "AWS::Region"}, ":", {"Ref": "AWS::AccountId"},
            ":log-group:*"]]}}},
    }]


def test_every_log_group_secret_and_the_cache_use_the_created_key(created_here):
    key = {"Fn::GetAtt": [logical_id(created_here, "AWS::KMS::Key", "EncryptionKey"), "Arn"]}
    groups = log_group_keys(created_here)
    assert len(groups) >= 5 and set(map(json.dumps, groups.values())) == {json.dumps(key)}
    assert only(created_here, "AWS::SecretsManager::Secret")["KmsKeyId"] == key
    assert only(created_here, "AWS::ElastiCache::ReplicationGroup")["KmsKeyId"] == key


def test_the_task_execution_roles_decrypt_secrets_through_secrets_manager_only(created_here):
    decrypt = {"Action": "kms:Decrypt", "Effect": "Allow", "Condition": VIA_SECRETS_MANAGER,
               "Resource": {"Fn::GetAtt": [logical_id(created_here, "AWS::KMS::Key", "EncryptionKey"), "Arn"]}}
    assert decrypt in statements_of(created_here, "GatewayExecutionRole")
    # The rotation function puts new values (GenerateDataKey); the completion function only reads.
    assert {**decrypt, "Action": ["kms:Decrypt", "kms:GenerateDataKey"]} in statements_of(created_here, "RotationRole")
    assert decrypt in statements_of(created_here, "CompletionRole")


def test_an_existing_key_is_used_by_its_arn_and_none_is_created():
    template, _ = synthesize("key-existing", variant(encryption_key=KEY_ARN))
    assert list(resources_of(template, "AWS::KMS::Key")) == [logical_id(template, "AWS::KMS::Key", "OperationsKey")]
    assert set(log_group_keys(template).values()) == {KEY_ARN}


@pytest.fixture(scope="module")
def prod_with_secrets_stack() -> tuple[dict, dict]:
    app = App(context=CLI_CONTEXT)
    settings = settings_from_dict(prod())
    add_secrets(app, settings)
    add_environment(app, settings)
    enable_checks(app, settings.security_checks)  # the secrets stack passes the three packs too
    assembly = app.synth()
    return (assembly.get_stack_by_name("portkey-gateway-prod-secrets").template,
            assembly.get_stack_by_name("portkey-gateway-prod").template)


def test_with_managed_secrets_the_secrets_stack_creates_the_key_and_encrypts_its_secrets(prod_with_secrets_stack):
    secrets, _ = prod_with_secrets_stack
    key_id = logical_id(secrets, "AWS::KMS::Key", "EncryptionKey")
    assert secrets["Resources"][key_id]["Properties"]["EnableKeyRotation"] is True
    assert only(secrets, "AWS::KMS::Alias")["AliasName"] == "alias/portkey-gateway-prod"
    found = resources_of(secrets, "AWS::SecretsManager::Secret").values()
    assert [s["Properties"]["KmsKeyId"] for s in found] == [{"Fn::GetAtt": [key_id, "Arn"]}] * 2


def test_the_gateway_stack_finds_that_key_by_its_alias_through_the_deploy_guard(prod_with_secrets_stack):
    _, gateway = prod_with_secrets_stack
    guard = only(gateway, "Custom::ManagedSecretsReady")
    assert guard["EncryptionKeyAlias"] == "alias/portkey-gateway-prod"
    assert {"Action": "kms:DescribeKey", "Effect": "Allow",
            "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/portkey-gateway-prod"}},
            "Resource": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":kms:", {"Ref": "AWS::Region"}, ":",
                                           {"Ref": "AWS::AccountId"}, ":key/*"]]}} in statements_of(gateway, "DeployGuardRole")
    # No second key: every log group but the guard's own, the cache and its secret use the one the guard answers.
    assert list(resources_of(gateway, "AWS::KMS::Key")) == [logical_id(gateway, "AWS::KMS::Key", "OperationsKey")]
    found = {"Fn::GetAtt": [logical_id(gateway, "Custom::ManagedSecretsReady", "ManagedSecretsReady"), "EncryptionKeyArn"]}
    groups = log_group_keys(gateway)
    guard_logs = logical_id(gateway, "AWS::Logs::LogGroup", "DeployGuardLogs")
    assert groups.pop(guard_logs) is None
    assert len(groups) >= 8 and all(value == found for value in groups.values())
    assert only(gateway, "AWS::ElastiCache::ReplicationGroup")["KmsKeyId"] == found
    assert only(gateway, "AWS::SecretsManager::Secret")["KmsKeyId"] == found


def test_a_key_object_replaces_the_setting_and_both_are_a_one_line_error():
    stack = team_stack()
    key = kms.Key(stack, "TeamKey")
    gateway = PortkeyGateway(stack, "Gateway", settings=typed(), vpc=team_vpc(stack), encryption_key=key)
    assert gateway.encryption_key is key
    stack = team_stack()
    with pytest.raises(ConfigError) as error:
        PortkeyGateway(stack, "Gateway", settings=typed(encryption_key=KEY_ARN), vpc=team_vpc(stack),
                       encryption_key=kms.Key(stack, "TeamKey"))
    assert str(error.value) == ("PortkeyGateway: encryption_key: is given together with the object that replaces it; "
                                "pass one of them")


# --- the rule packs --------------------------------------------------------------------------------------------------


def test_prod_passes_nist_hipaa_and_pci_and_a_regression_fails_synth(templates):
    """config-prod is synthesized with its three packs (the shared fixture would have raised); a cache keeping its
    snapshots for less than the 15 days the packs expect fails."""
    assert settings_from_dict(prod()).security_checks == ["NIST80053R5", "HIPAASecurity", "PCIDSS321"]
    assert templates["config-prod"]
    data = prod()
    data["redis_configuration"]["create"]["snapshot_retention_days"] = 7
    with pytest.raises(RuntimeError) as error:
        synthesize("prod-short-snapshots", data)
    report = json.loads(open(re.search(r"found in: (\S+)", str(error.value)).group(1)).read())
    failed = {v["ruleName"] for plugin in report["pluginReports"] for v in plugin["violations"]}
    assert failed == {"NIST.800.53.R5-ElastiCacheRedisClusterAutomaticBackup",
                      "HIPAA.Security-ElastiCacheRedisClusterAutomaticBackup"}


# --- least privilege, dead letters, rotation -------------------------------------------------------------------------


def test_the_instance_role_may_not_write_any_log_and_the_agent_logs_with_execution_roles(templates):
    t = templates["config-prod"]
    actions = {action for s in statements_of(t, "InstanceRoleDefaultPolicy")
               for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert actions == {"ecs:DeregisterContainerInstance", "ecs:RegisterContainerInstance", "ecs:Submit*", "ecs:Poll",
                       "ecs:StartTelemetrySession", "ecr:GetAuthorizationToken", "ecs:DiscoverPollEndpoint"}
    user_data = json.dumps(only(t, "AWS::EC2::LaunchTemplate")["LaunchTemplateData"]["UserData"])
    assert "echo ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE=true >> /etc/ecs/ecs.config" in user_data
    # The gateway's execution role writes its own log group.
    logs = [s for s in statements_of(t, "GatewayExecutionRole") if s["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]]
    assert logs[0]["Resource"] == {"Fn::GetAtt": [logical_id(t, "AWS::Logs::LogGroup", "PortkeyGatewayLogs"), "Arn"]}


def test_undelivered_events_and_failed_runs_go_to_an_encrypted_alarmed_dead_letter_queue(templates):
    t = templates["config-prod"]
    queue_id = logical_id(t, "AWS::SQS::Queue", "DeadLetters")
    queue_arn = {"Fn::GetAtt": [queue_id, "Arn"]}
    queue = t["Resources"][queue_id]["Properties"]
    assert (queue["MessageRetentionPeriod"], queue["SqsManagedSseEnabled"]) == (14 * 24 * 3600, True)
    rules = resources_of(t, "AWS::Events::Rule")
    assert len(rules) == 4  # secret change, ECS service events, the cache token's deployment and hourly rules
    for rule in rules.values():
        assert [target["DeadLetterConfig"] for target in rule["Properties"]["Targets"]] == [{"Arn": queue_arn}]
    functions = resources_of(t, "AWS::Lambda::Function")
    asynchronous = {key for key, f in functions.items() if "DeadLetterConfig" in f["Properties"]}
    assert asynchronous == {logical_id(t, "AWS::Lambda::Function", "SecretChangeRedeployFunction"),
                            logical_id(t, "AWS::Lambda::Function", "CacheTokenRotationCompletionFunction")}
    for key in asynchronous:
        assert functions[key]["Properties"]["DeadLetterConfig"] == {"TargetArn": queue_arn}
    policy = only(t, "AWS::SQS::QueuePolicy")["PolicyDocument"]["Statement"]
    senders = [s for s in policy if s["Effect"] == "Allow"]
    assert {s["Principal"]["Service"] for s in senders} == {"events.amazonaws.com"}
    assert len(senders) == 4 and all("aws:SourceArn" in json.dumps(s["Condition"]) for s in senders)
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policy)
    (alarm,) = [a["Properties"] for a in resources_of(t, "AWS::CloudWatch::Alarm").values()
                if a["Properties"]["AlarmName"] == "portkey-gateway-prod-undelivered-events"]
    assert (alarm["MetricName"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "ApproximateNumberOfMessagesVisible", 1, "GreaterThanOrEqualToThreshold")
    assert alarm["AlarmActions"] == [{"Ref": logical_id(t, "AWS::SNS::Topic", "OperationsTopic")}]


def test_the_created_cache_rotates_its_token_by_default_and_can_be_told_not_to(templates):
    t = templates["valkey-created"]
    schedule = only(t, "AWS::SecretsManager::RotationSchedule")
    assert schedule["RotationRules"] == {"ScheduleExpression": "rate(30 days)"}
    assert schedule["SecretId"] == {"Ref": logical_id(t, "AWS::SecretsManager::Secret", "ElastiCacheAuthToken")}
    rotation = t["Resources"][logical_id(t, "AWS::Lambda::Function", "CacheTokenRotationFunction")]
    assert rotation["Properties"]["Environment"]["Variables"] == {
        "REPLICATION_GROUP_ID": {"Ref": logical_id(t, "AWS::ElastiCache::ReplicationGroup", "ElastiCache")}}
    off = variant(redis_configuration={"redis_type": "aws-elastic-cache", "create": {"auth_token_rotation_days": 0}})
    template, _ = synthesize("rotation-off", off)
    assert not resources_of(template, "AWS::SecretsManager::RotationSchedule")
    assert not resources_of(template, "AWS::SecretsManager::ResourcePolicy")


# --- checkov ---------------------------------------------------------------------------------------------------------


def skips(template: dict) -> dict[str, dict[str, str]]:
    """check id -> {logical id: reason} of every checkov skip in the template's metadata."""
    found: dict[str, dict[str, str]] = {}
    for key, resource in template["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            found.setdefault(skip["id"], {})[key] = skip["comment"]
    return found


def test_every_checkov_skip_in_prod_is_on_its_resource_with_a_reason(templates):
    t = templates["config-prod"]
    found = skips(t)
    assert set(found) == {"CKV_AWS_18", "CKV_AWS_27", "CKV_AWS_33", "CKV_AWS_91", "CKV_AWS_111", "CKV_AWS_115",
                          "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_158", "CKV_AWS_173"}
    assert all(len(reason) > 40 for checks in found.values() for reason in checks.values())
    assert set(found["CKV_AWS_33"]) == {logical_id(t, "AWS::KMS::Key", "OperationsKey")}
    assert set(found["CKV_AWS_158"]) == {logical_id(t, "AWS::Logs::LogGroup", "DeployGuardLogs")}
    assert set(found["CKV_AWS_18"]) == {logical_id(t, "AWS::S3::Bucket", "AccessLogs")}
    # Every function is skipped for concurrency; only the synchronously invoked ones for a dead-letter queue.
    functions = set(resources_of(t, "AWS::Lambda::Function"))
    assert set(found["CKV_AWS_115"]) >= functions
    assert not set(found["CKV_AWS_116"]) & {logical_id(t, "AWS::Lambda::Function", "SecretChangeRedeployFunction")}
    assert logical_id(t, "AWS::Lambda::Function", "SmokeTestHookFunction") not in found["CKV_AWS_117"]  # in the VPC


def test_the_audit_counts_failures_and_prints_each_skip_with_its_reason(tmp_path, monkeypatch):
    """scripts/audit.py reads checkov's JSON report: a stand-in checkov answers a recorded report's shape."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import audit

    report = [{"check_type": "cloudformation", "results": {
        "failed_checks": [{"check_id": "CKV_AWS_158", "check_name": "Ensure that CloudWatch Log Group is encrypted by KMS",
                           "resource": "AWS::Logs::LogGroup.Logs", "file_path": "/gw.template.json"}],
        "skipped_checks": [{"check_id": "CKV_AWS_33", "check_name": "Ensure KMS key policy does not contain wildcard (*) principal",
                            "resource": "AWS::KMS::Key.Key", "file_path": "/gw.template.json",
                            "check_result": {"result": "SKIPPED", "suppress_comment": "limited by aws:PrincipalArn"}}]},
        "summary": {"passed": 10, "failed": 1, "skipped": 1}}]
    checkov = tmp_path / "checkov"
    checkov.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps({report!r}))\n")
    checkov.chmod(checkov.stat().st_mode | stat.S_IEXEC)
    failed, lines = audit.scan(str(checkov), [tmp_path / "gw.template.json"])
    assert failed == 1
    assert lines == ["FAILED  CKV_AWS_158  AWS::Logs::LogGroup.Logs  /gw.template.json: Ensure that CloudWatch Log "
                     "Group is encrypted by KMS",
                     "skipped CKV_AWS_33  AWS::KMS::Key.Key: limited by aws:PrincipalArn"]


# --- private images, the Docker Hub cache, Session Manager -----------------------------------------------------------


ECR_GATEWAY = "210987654321.dkr.ecr.us-east-1.amazonaws.com/portkey/gateway"
CACHE_LOGIN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/portkey-AbCdEf"
CACHE_REPOSITORIES = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":ecr:", {"Ref": "AWS::Region"}, ":",
                                        {"Ref": "AWS::AccountId"}, ":repository/portkey-gateway-dev/*"]]}


def without_docker_login(**changes) -> dict:
    data = variant(**changes)
    del data["docker_cred_secret_arn"]
    return data


def test_an_ecr_image_pulls_with_exactly_its_repository_and_without_docker_hub_credentials():
    template, _ = synthesize("ecr-image", without_docker_login(gateway_image={"image": ECR_GATEWAY, "tag": "2.16.0"}))
    gateway = container(template, "gateway")
    assert "RepositoryCredentials" not in gateway
    assert gateway["Image"] == {"Fn::Join": ["", ["210987654321.dkr.ecr.us-east-1.", {"Ref": "AWS::URLSuffix"},
                                                  "/portkey/gateway:2.16.0"]]}
    statements = statements_of(template, "GatewayExecutionRole")
    assert {"Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            "Effect": "Allow", "Resource": "arn:aws:ecr:us-east-1:210987654321:repository/portkey/gateway"} in statements
    assert {"Action": "ecr:GetAuthorizationToken", "Effect": "Allow", "Resource": "*"} in statements
    assert not any("docker" in json.dumps(s["Resource"]) for s in statements)  # no Docker Hub login is read


def test_the_docker_hub_cache_pulls_every_docker_hub_image_through_this_accounts_registry():
    template, _ = synthesize("docker-hub-cache", without_docker_login(
        docker_hub_cache={"enabled": True, "credentials_secret_arn": CACHE_LOGIN}))
    assert only(template, "AWS::ECR::PullThroughCacheRule") == {
        "CredentialArn": CACHE_LOGIN, "EcrRepositoryPrefix": "portkey-gateway-dev", "UpstreamRegistry": "docker-hub",
        "UpstreamRegistryUrl": "registry-1.docker.io"}
    created = only(template, "AWS::ECR::RepositoryCreationTemplate")
    assert (created["Prefix"], created["AppliedFor"], created["ImageTagMutability"]) == (
        "portkey-gateway-dev", ["PULL_THROUGH_CACHE"], "MUTABLE")
    assert not resources_of(template, "AWS::ECR::RegistryScanningConfiguration")  # account-wide: opt-in only
    registry = [{"Ref": "AWS::AccountId"}, ".dkr.ecr.", {"Ref": "AWS::Region"}, ".", {"Ref": "AWS::URLSuffix"}]
    for name, path in (("gateway", "/portkey-gateway-dev/portkeyai/gateway_enterprise:2.16.0"),
                       ("redis", "/portkey-gateway-dev/library/redis:7.2-alpine")):
        assert container(template, name)["Image"] == {"Fn::Join": ["", [*registry, path]]}
        assert "RepositoryCredentials" not in container(template, name)
    assert {"Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:BatchImportUpstreamImage",
                       "ecr:CreateRepository", "ecr:GetDownloadUrlForLayer"],
            "Effect": "Allow", "Resource": CACHE_REPOSITORIES} in statements_of(template, "GatewayExecutionRole")
    rule = logical_id(template, "AWS::ECR::PullThroughCacheRule", "DockerHubCache")
    for service in resources_of(template, "AWS::ECS::Service").values():
        assert rule in service["DependsOn"]


@pytest.mark.parametrize("cache, message", [
    ({"enabled": True}, "docker_hub_cache.credentials_secret_arn: is required"),
    ({"enabled": True, "credentials_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:docker-AbCdEf"},
     "docker_hub_cache.credentials_secret_arn: names a secret outside ecr-pullthroughcache/, which ECR refuses"),
    ({"enabled": True, "credentials_secret_arn": CACHE_LOGIN, "repository_prefix": "Docker_Hub"},
     "docker_hub_cache.repository_prefix: 'Docker_Hub' is not an ECR pull-through cache prefix"),
    ({"scan_on_push": True}, "docker_hub_cache.scan_on_push: is only used with the cache"),
])
def test_bad_cache_settings_are_one_line_errors(cache, message):
    data = variant(docker_hub_cache=cache) if not cache.get("enabled") else without_docker_login(docker_hub_cache=cache)
    with pytest.raises(ConfigError) as error:
        settings_from_dict(data)
    assert message in str(error.value)


def test_docker_hub_credentials_are_still_required_for_a_private_image_from_docker_hub():
    with pytest.raises(ConfigError, match="docker_cred_secret_arn: is required: the gateway image is private"):
        settings_from_dict(without_docker_login())


def test_with_managed_secrets_the_secrets_stack_holds_the_cache_login_under_the_key_ecr_can_read():
    data = prod()
    data["docker_hub_cache"] = {"enabled": True, "scan_on_push": True}
    app = App(context=CLI_CONTEXT)
    settings = settings_from_dict(data)
    add_secrets(app, settings)
    add_environment(app, settings)
    enable_checks(app, settings.security_checks)
    assembly = app.synth()
    secrets = assembly.get_stack_by_name("portkey-gateway-prod-secrets").template
    login = [s for s in resources_of(secrets, "AWS::SecretsManager::Secret").values()
             if s["Properties"]["Name"] == "ecr-pullthroughcache/portkey-gateway-prod"]
    assert json.loads(login[0]["Properties"]["GenerateSecretString"]["SecretStringTemplate"]) == {"username": "REPLACE_ME"}
    assert login[0]["Properties"]["GenerateSecretString"]["GenerateStringKey"] == "accessToken"
    # ECR reads the login only under aws/secretsmanager; the client-auth secret stays on the environment's key, and
    # no Docker login is made for the tasks, which pull every image through the cache.
    assert "KmsKeyId" not in login[0]["Properties"]
    names = {s["Properties"]["Name"]: s for s in resources_of(secrets, "AWS::SecretsManager::Secret").values()}
    assert set(names) == {"ecr-pullthroughcache/portkey-gateway-prod", "portkey-gateway/prod/clientauth-organizations"}
    assert "KmsKeyId" in names["portkey-gateway/prod/clientauth-organizations"]["Properties"]
    gateway = assembly.get_stack_by_name("portkey-gateway-prod").template
    guard = only(gateway, "Custom::ManagedSecretsReady")
    assert [s["Name"] for s in guard["Secrets"]] == ["portkey-gateway/prod/clientauth-organizations",
                                                     "ecr-pullthroughcache/portkey-gateway-prod"]
    rule = only(gateway, "AWS::ECR::PullThroughCacheRule")
    assert rule["CredentialArn"] == {"Fn::GetAtt": [logical_id(gateway, "Custom::ManagedSecretsReady", "Managed"),
                                                    "DockerHubCacheArn"]}
    scanning = only(gateway, "AWS::ECR::RegistryScanningConfiguration")
    assert scanning["Rules"] == [{"ScanFrequency": "SCAN_ON_PUSH", "RepositoryFilters": [
        {"Filter": "portkey-gateway-prod/*", "FilterType": "WILDCARD"}]}]


def test_session_manager_is_opt_in_scoped_and_recorded_in_the_exec_log_group(templates):
    assert not resources_of(templates["minimal-dev"], "AWS::SSM::Document")
    template, _ = synthesize("session-manager", variant(instance_session_manager=True))
    statements = statements_of(template, "InstanceRoleDefaultPolicy")
    exec_logs = logical_id(template, "AWS::Logs::LogGroup", "ExecLogs")
    on_any = {action for s in statements if s["Resource"] == "*" and "Condition" not in s for action in s["Action"]}
    assert on_any == {"ecr:GetAuthorizationToken", "ecs:DiscoverPollEndpoint", "logs:DescribeLogGroups",
                      "ssm:UpdateInstanceInformation", "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
                      "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"}
    assert {"Action": ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"], "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [exec_logs, "Arn"]}} in statements
    assert not resources_of(template, "AWS::IAM::ManagedPolicy")
    assert not any("AmazonSSMManagedInstanceCore" in json.dumps(r) for r in resources_of(template, "AWS::IAM::Role").values())
    document = only(template, "AWS::SSM::Document")
    assert (document["Name"], document["DocumentType"]) == ("portkey-gateway-dev-instance-session", "Session")
    assert document["Content"]["inputs"]["cloudWatchLogGroupName"] == {"Ref": exec_logs}
    # ECS Exec stays off: the cluster's exec configuration is not set by the shells' log group.
    assert "Configuration" not in only(template, "AWS::ECS::Cluster")
    with pytest.raises(ConfigError, match="instance_session_manager: the instances of an existing cluster"):
        settings_from_dict(variant(instance_session_manager=True, create_cluster=False, cluster_name="c",
                                   capacity_provider_name="p"))
