"""The first production deploy: the documented command selects the whole environment, the secrets are checked before
any task starts, live traffic weights survive stack updates, the metrics paths stay inside, ALB listeners hold only
forwards."""

from __future__ import annotations

import json

import pytest
import yaml
from aws_cdk import App
from aws_cdk.assertions import Annotations, Match

from portkey_gateway import GatewayStack, settings_from_dict
from portkey_gateway.components.ingress import METRICS_PATHS
from portkey_gateway.loader import ConfigError

from .conftest import (CLI_CONTEXT, CONFIGS, ROOT, assert_cli_synthesized, cdk, pipeline_template, resources_of,
                       stage_stacks, synthesize, variant)

NO_CREDENTIALS = "but no credentials have been configured"
SELECTION_ERROR = "Since this app includes more than a single stack"
RULE, LISTENER = "AWS::ElasticLoadBalancingV2::ListenerRule", "AWS::ElasticLoadBalancingV2::Listener"
SHIFTING = ["alb-blue-green", "alb-linear", "nlb-blue-green", "config-prod", "config-staging", "production"]


def account_of(name: str) -> str:
    return str(yaml.safe_load((ROOT / "config" / f"{name}.yaml").read_text()).get("aws_account", ""))


# --- 1. `cdk deploy -c env=NAME`, exactly ---------------------------------------------------------------------------

@pytest.mark.heavy
def test_cdk_deploy_with_only_the_environment_selects_its_stack_through_app_py(tmp_path):
    """prod has managed secrets: before, its two top-level stacks stopped the CLI at stack selection."""
    result = cdk("deploy", "-c", "env=prod", "--require-approval", "never", "-o", str(tmp_path / "out"))
    output = result.stdout + result.stderr
    assert SELECTION_ERROR not in output
    assert f"Need to perform AWS calls for account {account_of('prod')}, {NO_CREDENTIALS}" in output, output[-2000:]
    stacks = sorted(path.name for path in (tmp_path / "out").glob("*.template.json"))
    assert stacks == ["portkey-gateway-prod.template.json"]
    assert_cli_synthesized(tmp_path / "out", "portkey-gateway-prod.template.json")  # what `cdk synth -c env=prod` writes too
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert not manifest.get("missing"), manifest["missing"]  # no context lookup: what `make synth`'s --no-lookups needs


@pytest.mark.heavy
def test_the_secrets_stack_is_deployed_on_request(tmp_path):
    """Also the CLI running app.py with a config file's path (`make secrets CONFIG=config/staging.yaml`)."""
    result = cdk("deploy", "-c", "config=config/staging.yaml", "-c", "secrets=true", "--require-approval", "never",
                 "-o", str(tmp_path / "out"))
    assert NO_CREDENTIALS in result.stderr and SELECTION_ERROR not in result.stderr, result.stderr[-2000:]
    assert sorted(path.name for path in (tmp_path / "out").glob("*.template.json")) == [
        "portkey-gateway-staging-secrets.template.json"]
    result = cdk("synth", "-q", "-c", "env=dev", "-c", "secrets=true", "-o", str(tmp_path / "dev"))
    assert result.returncode == 1
    assert "error: -c secrets=true: portkey-gateway-dev has no secrets stack (managed_secrets is false)" in result.stderr


@pytest.mark.heavy
@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
@pytest.mark.parametrize("command", ["deploy", "diff"])
def test_deploy_and_diff_need_no_stack_name_for_any_environment(environment, command):
    """The assembly each environment synthesizes to, given to the CLI as it is (no second synth)."""
    _, assembly = synthesize(f"config-{environment}")
    result = cdk(command, "--app", assembly.directory, *(["--require-approval", "never"] if command == "deploy" else []))
    output = result.stdout + result.stderr
    assert SELECTION_ERROR not in output
    account = account_of(environment)  # dev names none: the CLI then needs credentials to know it
    expected = f"account {account}, {NO_CREDENTIALS}" if account else "Unable to resolve AWS account to use"
    assert expected in output, output[-2000:]


# --- 1b. the managed secrets: checked first, found by name, never a stale cross-stack output ------------------------

def test_managed_secrets_are_found_by_name_and_checked_before_anything_is_kept(templates):
    template = templates["config-prod"]
    resources = template["Resources"]
    assert "Fn::GetStackOutput" not in json.dumps(template) and "Fn::ImportValue" not in json.dumps(template)
    (check_id, check), = resources_of(template, "Custom::ManagedSecretsReady").items()
    properties = check["Properties"]
    assert [(s["Id"], s["Name"], s["Keys"]) for s in properties["Secrets"]] == [
        ("DockerCredentials", "portkey-gateway/prod/docker-credentials", ["username", "password"]),
        ("ClientauthOrganizations", "portkey-gateway/prod/clientauth-organizations",
         ["PORTKEY_CLIENT_AUTH", "ORGANISATIONS_TO_SYNC"])]
    assert "make secrets ENV=prod" in properties["SecretsCommand"]
    # Every task reads the complete ARNs the check answered.
    gateway_secrets = next(c for t in resources_of(template, "AWS::ECS::TaskDefinition").values()
                           for c in t["Properties"]["ContainerDefinitions"] if c["Name"] == "gateway")
    assert gateway_secrets["RepositoryCredentials"]["CredentialsParameter"] == {
        "Fn::GetAtt": [check_id, "DockerCredentialsArn"]}
    client_auth = [s for s in gateway_secrets["Secrets"] if s["Name"] in ("PORTKEY_CLIENT_AUTH", "ORGANISATIONS_TO_SYNC")]
    assert len(client_auth) == 2 and all(json.dumps({"Fn::GetAtt": [check_id, "ClientauthOrganizationsArn"]})
                                         in json.dumps(s["ValueFrom"]) for s in client_auth)
    # Whatever CloudFormation keeps after a failed create waits for the check; the check's own function does not.
    kept = {k for k, v in resources.items() if v.get("DeletionPolicy") in ("Retain", "Snapshot")}
    waiting = {k for k in kept if check_id in v_depends(resources[k])}
    assert kept - waiting == {k for k in kept if k.startswith("DeployGuard")}
    assert len(waiting) >= 8  # service, flow, exec and function log groups, cache, access logs, key, ...
    assert check_id not in v_depends(resources["DeployGuardFunction9F45CAE6"])
    # The guard only describes the two secrets: it never reads a value.
    statements = [s for p in resources_of(template, "AWS::IAM::Policy").values() if "DeployGuard" in json.dumps(p)
                  for s in p["Properties"]["PolicyDocument"]["Statement"]]
    describe = next(s for s in statements if s["Action"] == "secretsmanager:DescribeSecret")
    assert sorted(r["Fn::Join"][1][-1] for r in describe["Resource"]) == [  # a missing one is authorized by name
        ":secret:portkey-gateway/prod/clientauth-organizations", ":secret:portkey-gateway/prod/clientauth-organizations-??????",
        ":secret:portkey-gateway/prod/docker-credentials", ":secret:portkey-gateway/prod/docker-credentials-??????"]
    assert not any("secretsmanager:GetSecretValue" in json.dumps(s["Action"]) for s in statements)


def v_depends(resource: dict) -> list[str]:
    depends = resource.get("DependsOn", [])
    return [depends] if isinstance(depends, str) else depends


def test_the_secrets_check_follows_the_secrets_definition(templates):
    """A change to how a secret is created (what could make CloudFormation replace it) runs the check again, which
    then answers the new ARN."""
    def check_of(template: dict) -> dict:
        return next(iter(resources_of(template, "Custom::ManagedSecretsReady").values()))["Properties"]
    data = yaml.safe_load((ROOT / "config" / "prod.yaml").read_text())
    data["project_name"] = "portkey-ai"
    before, after = check_of(templates["config-prod"]), check_of(synthesize("prod-portkey-ai", data)[0])
    assert before["Secrets"] != after["Secrets"]
    assert after["Secrets"][0]["Definition"]["Name"] == "portkey-ai/prod/docker-credentials"


@pytest.mark.heavy
def test_the_pipeline_stage_deploys_the_secrets_stack_first_and_verifies_after():
    prod = stage_stacks("prod")
    assert sorted(prod) == ["portkey-gateway-prod", "portkey-gateway-prod-secrets"]
    assert prod["portkey-gateway-prod-secrets"]["id"] in prod["portkey-gateway-prod"]["dependencies"]
    assert list(stage_stacks("dev")) == ["portkey-gateway-dev"]  # dev pastes its ARNs: no secrets stack
    template = json.dumps(pipeline_template())
    for name, account in (("dev", "123456789012"), ("staging", "123456789012"), ("prod", "210987654321")):
        role = f"role/cdk-hnb659fds-lookup-role-{account}-us-east-1"
        assert f"make verify ENV={name} VERIFY_ARGS='--role-arn arn:" in template and role in template


# --- 2. live traffic weights (aws-cdk 36649) ------------------------------------------------------------------------

def lower_keys(value):
    """The template's keys in one case: the guard's copy of a rule carries the CDK's own spelling of some keys."""
    if isinstance(value, dict):
        return {key[:1].lower() + key[1:]: lower_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [lower_keys(item) for item in value]
    return value


@pytest.mark.parametrize("name", SHIFTING)
def test_every_rule_ecs_shifts_takes_its_weights_from_the_live_state(templates, name):
    template = templates[name]
    resources = template["Resources"]
    guards = resources_of(template, "Custom::LiveTrafficWeights")
    service = next(v["Properties"] for v in resources_of(template, "AWS::ECS::Service").values()
                   if "AdvancedConfiguration" in json.dumps(v))
    shifted = {config["AdvancedConfiguration"][key]["Ref"] for config in service["LoadBalancers"]
               for key in ("ProductionListenerRule", "TestListenerRule")}
    assert len(guards) == len(shifted) >= 2  # each production and test rule (or listener) has its guard
    for logical_id in shifted:
        target = resources[logical_id]["Properties"]
        if resources[logical_id]["Type"] == RULE:
            (action,) = target["Actions"]
            weights = {g["TargetGroupArn"]["Ref"]: g["Weight"]["Fn::GetAtt"] for g in action["ForwardConfig"]["TargetGroups"]}
            (guard_id,) = {guard for guard, _ in weights.values()}
            guard = guards[guard_id]["Properties"]
            assert guard["Kind"] == "rule" and guard["ListenerArn"] == target["ListenerArn"]
            assert weights == {guard["PrimaryTargetGroupArn"]["Ref"]: [guard_id, "PrimaryWeight"],
                               guard["AlternateTargetGroupArn"]["Ref"]: [guard_id, "AlternateWeight"]}
            untracked = {k: v for k, v in target.items() if k not in ("Actions", "ListenerArn")}
        else:
            (action,) = target["DefaultActions"]
            guard_id, attribute = action["TargetGroupArn"]["Fn::GetAtt"]
            guard = guards[guard_id]["Properties"]
            assert attribute == "LiveTargetGroupArn" and action["Type"] == "forward"
            assert guard["Kind"] == "listener" and guard["Port"] == target["Port"]
            assert guard["LoadBalancerArn"] == target["LoadBalancerArn"]
            untracked = {k: v for k, v in target.items() if k not in ("DefaultActions", "LoadBalancerArn", "Port")}
        # Everything else CloudFormation writes to the rule is in the guard's definition: when it changes, the guard
        # reads the live weights again before the rule is rewritten.
        assert lower_keys(guard["Definition"]) == lower_keys(untracked), logical_id


def test_a_routing_change_reads_the_live_weights_again(templates):
    def guard_definitions(template) -> dict:
        return {k: v["Properties"]["Definition"] for k, v in resources_of(template, "Custom::LiveTrafficWeights").items()}
    data = CONFIGS["alb-blue-green"]()
    data["alb_routing_configuration"]["gateway_host"] = "ai.example.com"
    changed = guard_definitions(synthesize("alb-blue-green-new-host", data)[0])
    before = guard_definitions(templates["alb-blue-green"])
    assert changed.keys() == before.keys()
    assert {k for k in before if before[k] != changed[k]} == {k for k in before if k.startswith("PortkeyGatewayIngressGateway")}


def test_the_nlb_test_listener_starts_on_the_alternate_group(templates):
    template = templates["nlb-blue-green"]
    listeners = {v["Properties"]["Port"]: v["Properties"] for v in resources_of(template, LISTENER).values()}
    guards = {v["Properties"]["Port"]: v["Properties"] for v in resources_of(template, "Custom::LiveTrafficWeights").values()}
    assert set(listeners) == set(guards) == {443, 8443}
    assert guards[443]["PrimaryTargetGroupArn"] == guards[8443]["AlternateTargetGroupArn"]
    assert "AlternateTargets" in guards[8443]["PrimaryTargetGroupArn"]["Ref"]


def test_rolling_deployments_have_no_guard(templates):
    for name in ("minimal-dev", "alb-internal-http", "config-dev"):
        assert not resources_of(templates[name], "Custom::LiveTrafficWeights"), name
        assert "DeployGuard" not in json.dumps(templates[name]["Resources"])


# --- 3. the metrics endpoint is not public --------------------------------------------------------------------------

ALB_CONFIGS = ["alb-blue-green", "alb-linear", "alb-internal-http", "alb-edge", "config-prod", "config-staging",
               "private-link-alb", "production"]


@pytest.mark.parametrize("name", ALB_CONFIGS)
def test_no_alb_listener_forwards_a_metrics_path_to_a_task(templates, name):
    template = templates[name]
    listeners = {k: v["Properties"] for k, v in resources_of(template, LISTENER).items()  # the ALB's (not an NLB
                 if v["Properties"]["Protocol"] in ("HTTP", "HTTPS")                   # in front of it), no redirect
                 and v["Properties"]["DefaultActions"][0]["Type"] != "redirect"}
    services = json.dumps(resources_of(template, "AWS::ECS::Service"))
    rules = resources_of(template, RULE).values()
    for listener_id in listeners:
        on_listener = [r["Properties"] for r in rules if r["Properties"]["ListenerArn"] == {"Ref": listener_id}]
        routes = [r for r in on_listener if any(c["Field"] == "host-header" or "/*" in json.dumps(c)
                                                for c in r["Conditions"]) and not is_metrics_rule(r)]
        blocks = [r for r in on_listener if is_metrics_rule(r)]
        assert routes and len(blocks) == len(routes), listener_id
        for route, block in zip(sorted(routes, key=lambda r: r["Priority"]), sorted(blocks, key=lambda r: r["Priority"])):
            assert block["Priority"] < min(r["Priority"] for r in routes)
            prefix = route_prefix(route)
            assert block["Conditions"] == [{"Field": "path-pattern",
                                            "PathPatternConfig": {"Values": [prefix + p for p in METRICS_PATHS]}}]
            sink = block["Actions"][0]["TargetGroupArn"]["Ref"]
            assert block["Actions"][0]["Type"] == "forward"
            assert sink not in services  # no service registers tasks in it: the ALB answers 503
            assert template["Resources"][sink]["Properties"].get("Targets") is None


def is_metrics_rule(rule: dict) -> bool:
    return "/metrics" in json.dumps(rule["Conditions"])


def route_prefix(rule: dict) -> str:
    pattern = next(c["PathPatternConfig"]["Values"][0] for c in rule["Conditions"] if c["Field"] == "path-pattern")
    return pattern[:-2] if pattern.endswith("/*") else ""


def test_path_routed_gateways_block_the_metrics_under_their_prefix(templates):
    values = {json.dumps(v["Properties"]["Conditions"]) for v in resources_of(templates["alb-edge"], RULE).values()
              if is_metrics_rule(v["Properties"])}
    assert any('"/gateway/metrics"' in v for v in values) and any('"/mcp/dataservice/metrics/*"' in v for v in values)


def test_an_internal_nlb_warns_that_it_cannot_keep_the_metrics_inside():
    settings = settings_from_dict(CONFIGS["minimal-dev"](), source="dev.yaml")
    stack = GatewayStack(App(context=CLI_CONTEXT), "S", settings=settings)
    Annotations.from_stack(stack).has_warning("*", Match.string_like_regexp("forwards every path.*ENABLE_PROMETHEUS"))


def test_an_internet_facing_nlb_that_would_publish_the_metrics_is_refused():
    data = variant(internal_lb=False, allowed_lb_cidrs=[])
    with pytest.raises(ConfigError) as error:
        settings_from_dict(data, source="cfg.yaml")
    assert str(error.value) == (
        "cfg.yaml: lb_type: an internet-facing NLB forwards every path, so it would publish the gateway's "
        "unauthenticated /metrics (providers, error rates, spend) to allowed_lb_cidrs; set "
        'environment_variables.gateway.ENABLE_PROMETHEUS: "false", or use lb_type: application (its rules keep the '
        "metrics paths inside)")
    data["environment_variables"]["gateway"]["ENABLE_PROMETHEUS"] = False  # YAML's false is accepted too
    assert not settings_from_dict(data, source="cfg.yaml").gateway_metrics_enabled
    settings_from_dict(variant(internal_lb=False, allowed_lb_cidrs=[], server_mode="mcp",  # MCP's port serves none
                               mcp_gateway_base_url="https://mcp.example.com"), source="cfg.yaml")


# --- 5. readings of AWS's documents that cannot fail ----------------------------------------------------------------

@pytest.mark.parametrize("name", ALB_CONFIGS)
def test_listeners_ecs_manages_hold_only_forward_actions(templates, name):
    """Some of AWS's pages say blue/green fails on listener rules mixing forward with other actions: none do here,
    the listeners' default actions included (an HTTP-to-HTTPS redirect listener is not one ECS manages)."""
    template = templates[name]
    managed = {k for k, v in resources_of(template, LISTENER).items() if v["Properties"]["Protocol"] in ("HTTP", "HTTPS")
               and v["Properties"]["DefaultActions"][0]["Type"] != "redirect"}
    assert managed
    for key in managed:
        assert {a["Type"] for a in template["Resources"][key]["Properties"]["DefaultActions"]} == {"forward"}
        for rule in resources_of(template, RULE).values():
            if rule["Properties"]["ListenerArn"] == {"Ref": key}:
                assert {a["Type"] for a in rule["Properties"]["Actions"]} == {"forward"}


@pytest.mark.parametrize("strategy", ["canary_configuration", "linear_configuration"])
def test_canary_and_linear_need_an_application_load_balancer(strategy):
    shift = {"canary_configuration": {"canary_percent": 10, "canary_bake_time_in_minutes": 5},
             "linear_configuration": {"step_percent": 25, "step_bake_time_in_minutes": 2}}[strategy]
    data = variant(gateway_deployment_configuration={"enable_blue_green": False, strategy: shift})
    with pytest.raises(ConfigError, match=r"cfg.yaml: gateway_deployment_configuration: (canary|linear) deployments "
                                          r"behind a network load balancer are not supported .*; use "
                                          r"enable_blue_green: true on an NLB, or lb_type: application"):
        settings_from_dict(data, source="cfg.yaml")
