"""The deploy-time guards: live traffic weights (aws-cdk issue 36649) and managed secrets that are ready.

Real boto3 clients behind botocore's Stubber, so every request and response is checked against the API's shapes; the
answer goes to a local HTTP server standing in for CloudFormation's pre-signed URL.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import boto3
import pytest
from botocore.stub import Stubber

from .conftest import SIGNED_PATH, CloudFormation
from .test_operations import handler_module

GUARD = handler_module("deploy_guard")

ACCOUNT = "123456789012"
LB = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:loadbalancer/net/gw/0123456789abcdef"
ALB_LISTENER = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:listener/app/gw/0123456789abcdef/1111111111111111"
OLD_LISTENER = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:listener/app/gw/0123456789abcdef/0000000000000000"
PRIMARY = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/gw-primary/aaaaaaaaaaaaaaaa"
ALTERNATE = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/gw-alternate/bbbbbbbbbbbbbbbb"
OTHER = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/other/cccccccccccccccc"


def client(service: str):
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")


def stubbed(service: str):
    """(client, stubber); every queued answer must be used."""
    real = client(service)
    with Stubber(real) as stubber:
        yield real, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def elbv2():
    yield from stubbed("elbv2")


@pytest.fixture
def secretsmanager():
    yield from stubbed("secretsmanager")


def answer() -> dict:
    (received,) = CloudFormation.answers
    assert received["path"] == SIGNED_PATH and received["content-type"] == ""
    return received["body"]


def event(url: str, resource: str, properties: dict, kind: str = "Create", **extra) -> dict:
    return {"RequestType": kind, "ResponseURL": url, "StackId": "arn:aws:cloudformation:us-east-1:1:stack/gw/1",
            "RequestId": "r1", "LogicalResourceId": "Guard", "ResourceType": resource,
            "ResourceProperties": {"ServiceToken": "arn:aws:lambda:us-east-1:1:function:guard", **properties}, **extra}


# --- live traffic weights --------------------------------------------------------------------------------------------


def rule_props(listener: str = ALB_LISTENER) -> dict:
    return {"Kind": "rule", "ListenerArn": listener, "PrimaryTargetGroupArn": PRIMARY,
            "AlternateTargetGroupArn": ALTERNATE, "Definition": '{"Priority": 1}'}


def listener_props(port="80") -> dict:
    return {"Kind": "listener", "LoadBalancerArn": LB, "Port": port, "PrimaryTargetGroupArn": PRIMARY,
            "AlternateTargetGroupArn": ALTERNATE, "Definition": '{"Protocol": "TCP"}'}


def weighted(primary: int, alternate: int) -> list[dict]:
    return [{"Type": "forward", "Order": 1, "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": PRIMARY, "Weight": primary}, {"TargetGroupArn": ALTERNATE, "Weight": alternate}]}}]


def rule(number: int, actions: list[dict], default: bool = False) -> dict:
    return {"RuleArn": f"{ALB_LISTENER.replace(':listener/', ':listener-rule/')}/{number:016x}",
            "Priority": "default" if default else str(number), "IsDefault": default, "Actions": actions,
            "Conditions": [] if default else [{"Field": "path-pattern", "Values": ["/*"]}]}


DEFAULT_RULE = rule(0, [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}], default=True)
UNRELATED = rule(5, [{"Type": "forward", "TargetGroupArn": OTHER}])


def answered(primary: int, alternate: int) -> dict:
    """The guard's Data: the weights, and the group an NLB listener forwards to (the heavier; the primary on a tie)."""
    return {"PrimaryWeight": primary, "AlternateWeight": alternate,
            "LiveTargetGroupArn": ALTERNATE if alternate > primary else PRIMARY}


def weights_of(url: str, elbv2, **extra) -> dict:
    GUARD.handler(event(url, GUARD.WEIGHTS, rule_props(), **extra), None, elbv2=elbv2)
    body = answer()
    assert body["Status"] == "SUCCESS", body["Reason"]
    return body["Data"]


def test_after_an_odd_deployment_the_live_weights_are_kept(cloudformation, elbv2, capsys):
    real, stub = elbv2
    stub.add_response("describe_rules", {"Rules": [UNRELATED, rule(10, weighted(0, 100)), DEFAULT_RULE]},
                      {"ListenerArn": ALB_LISTENER})
    assert weights_of(cloudformation, real) == answered(0, 100)
    assert answer()["PhysicalResourceId"] == "Guard"
    log = json.loads(capsys.readouterr().out.strip())
    assert log["found"] == rule(10, [])["RuleArn"] and log["weights"] == {"PrimaryWeight": 0, "AlternateWeight": 100}


def test_a_shift_in_progress_is_kept_as_found(cloudformation, elbv2):
    real, stub = elbv2
    stub.add_response("describe_rules", {"Rules": [rule(10, weighted(90, 10)), DEFAULT_RULE]}, {"ListenerArn": ALB_LISTENER})
    assert weights_of(cloudformation, real) == answered(90, 10)


def test_a_plain_forward_sends_everything_to_its_group(cloudformation, elbv2):
    real, stub = elbv2
    plain = [{"Type": "authenticate-oidc", "Order": 1, "AuthenticateOidcConfig": {
        "Issuer": "https://idp", "AuthorizationEndpoint": "https://idp/a", "TokenEndpoint": "https://idp/t",
        "UserInfoEndpoint": "https://idp/u", "ClientId": "c"}},
        {"Type": "forward", "Order": 2, "TargetGroupArn": ALTERNATE}]
    stub.add_response("describe_rules", {"Rules": [UNRELATED, rule(10, plain), DEFAULT_RULE]}, {"ListenerArn": ALB_LISTENER})
    assert weights_of(cloudformation, real) == answered(0, 100)


def test_a_group_left_out_of_the_forward_weighs_nothing(cloudformation, elbv2):
    real, stub = elbv2
    only_alternate = [{"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": ALTERNATE, "Weight": 1}]}}]
    stub.add_response("describe_rules", {"Rules": [rule(10, only_alternate)]}, {"ListenerArn": ALB_LISTENER})
    assert weights_of(cloudformation, real) == answered(0, 1)


@pytest.mark.parametrize("rules", [[DEFAULT_RULE], [UNRELATED, DEFAULT_RULE],
                                   # the default action forwarding to the group is not the production rule
                                   [rule(0, weighted(0, 100), default=True)],
                                   [rule(10, weighted(0, 0))]])  # both zero: the template's weights
def test_without_a_live_rule_the_template_weights_apply(cloudformation, elbv2, rules):
    real, stub = elbv2
    stub.add_response("describe_rules", {"Rules": rules}, {"ListenerArn": ALB_LISTENER})
    assert weights_of(cloudformation, real) == answered(100, 0)


def test_a_listener_that_does_not_exist_yet_means_the_template_weights(cloudformation, elbv2):
    real, stub = elbv2
    stub.add_client_error("describe_rules", "ListenerNotFound", "One or more listeners not found", 400,
                          expected_params={"ListenerArn": ALB_LISTENER})
    assert weights_of(cloudformation, real) == answered(100, 0)


def test_rules_are_read_page_by_page(cloudformation, elbv2):
    real, stub = elbv2
    stub.add_response("describe_rules", {"Rules": [UNRELATED], "NextMarker": "page-2"}, {"ListenerArn": ALB_LISTENER})
    stub.add_response("describe_rules", {"Rules": [rule(10, weighted(0, 100)), DEFAULT_RULE]},
                      {"ListenerArn": ALB_LISTENER, "Marker": "page-2"})
    assert weights_of(cloudformation, real) == answered(0, 100)


def test_an_update_reads_the_rule_where_it_was_before_the_update(cloudformation, elbv2):
    """The update may replace the listener: the live rule is still on the old one."""
    real, stub = elbv2
    stub.add_response("describe_rules", {"Rules": [rule(10, weighted(0, 100)), DEFAULT_RULE]}, {"ListenerArn": OLD_LISTENER})
    data = weights_of(cloudformation, real, kind="Update", PhysicalResourceId="Guard-first",
                      OldResourceProperties=rule_props(OLD_LISTENER))
    assert data == answered(0, 100)
    assert answer()["PhysicalResourceId"] == "Guard-first"


def test_an_update_falls_back_to_the_new_properties(cloudformation, elbv2):
    real, stub = elbv2
    stub.add_client_error("describe_rules", "ListenerNotFound", "gone", 400, expected_params={"ListenerArn": OLD_LISTENER})
    stub.add_response("describe_rules", {"Rules": [rule(10, weighted(10, 90))]}, {"ListenerArn": ALB_LISTENER})
    data = weights_of(cloudformation, real, kind="Update", PhysicalResourceId="Guard",
                      OldResourceProperties=rule_props(OLD_LISTENER))
    assert data == answered(10, 90)


def nlb_listener(port: int, actions: list[dict], number: int) -> dict:
    return {"ListenerArn": f"{LB.replace(':loadbalancer/', ':listener/')}/{number:016x}", "LoadBalancerArn": LB,
            "Port": port, "Protocol": "TCP", "DefaultActions": actions}


NLB_LISTENERS = [nlb_listener(22, [{"Type": "forward", "TargetGroupArn": OTHER}], 1),
                 nlb_listener(8080, weighted(100, 0), 2),  # the test listener: same groups, already switched
                 nlb_listener(80, weighted(0, 100), 3)]  # production


@pytest.mark.parametrize("port, expected", [("80", (0, 100)), (80, (0, 100)), ("8080", (100, 0)), ("443", (100, 0))])
def test_the_port_picks_the_nlb_listener(cloudformation, elbv2, port, expected):
    real, stub = elbv2
    stub.add_response("describe_listeners", {"Listeners": NLB_LISTENERS[:1], "NextMarker": "m"}, {"LoadBalancerArn": LB})
    stub.add_response("describe_listeners", {"Listeners": NLB_LISTENERS[1:]}, {"LoadBalancerArn": LB, "Marker": "m"})
    GUARD.handler(event(cloudformation, GUARD.WEIGHTS, listener_props(port)), None, elbv2=real)
    assert answer()["Data"] == answered(expected[0], expected[1])


def test_an_update_finds_the_listener_at_its_old_port(cloudformation, elbv2):
    real, stub = elbv2
    stub.add_response("describe_listeners", {"Listeners": NLB_LISTENERS}, {"LoadBalancerArn": LB})
    GUARD.handler(event(cloudformation, GUARD.WEIGHTS, listener_props("443"), kind="Update", PhysicalResourceId="Guard",
                        OldResourceProperties=listener_props("80")), None, elbv2=real)
    assert answer()["Data"] == answered(0, 100)


@pytest.mark.parametrize("code", ["ListenerNotFound", "LoadBalancerNotFound"])
def test_an_nlb_that_does_not_exist_yet_means_the_template_weights(cloudformation, elbv2, code):
    real, stub = elbv2
    stub.add_client_error("describe_listeners", code, "not found", 400, expected_params={"LoadBalancerArn": LB})
    GUARD.handler(event(cloudformation, GUARD.WEIGHTS, listener_props()), None, elbv2=real)
    body = answer()
    assert (body["Status"], body["Data"]) == ("SUCCESS", answered(100, 0))


def test_other_elbv2_errors_fail_the_update(cloudformation, elbv2):
    """Guessing 100/0 when the rule could not be read is what this resource exists to prevent."""
    real, stub = elbv2
    stub.add_client_error("describe_rules", "AccessDenied", "not authorized", 403, expected_params={"ListenerArn": ALB_LISTENER})
    GUARD.handler(event(cloudformation, GUARD.WEIGHTS, rule_props()), None, elbv2=real)
    body = answer()
    assert body["Status"] == "FAILED" and "Data" not in body
    assert body["Reason"].startswith("ClientError: An error occurred (AccessDenied) when calling the DescribeRules")


@pytest.mark.parametrize("resource, properties", [("Custom::LiveTrafficWeights", rule_props()),
                                                  ("Custom::ManagedSecretsReady", {"Secrets": []}),
                                                  ("Custom::Renamed", {})])
def test_delete_calls_nothing(cloudformation, elbv2, secretsmanager, monkeypatch, resource, properties):
    monkeypatch.setattr(boto3, "client", lambda *args, **kwargs: pytest.fail("no client on delete"))
    GUARD.handler(event(cloudformation, resource, properties, kind="Delete", PhysicalResourceId="Guard-1"), None,
                  elbv2=elbv2[0], secretsmanager=secretsmanager[0])
    GUARD.handler(event(cloudformation, resource, properties, kind="Delete", PhysicalResourceId="Guard-1"), None)
    assert [(a["body"]["Status"], a["body"]["PhysicalResourceId"]) for a in CloudFormation.answers] == [
        ("SUCCESS", "Guard-1")] * 2
    # The Stubbers had nothing queued: a call would have raised and answered FAILED.


def test_only_the_client_for_the_resource_is_created(cloudformation, monkeypatch):
    created = []
    real = client("elbv2")
    stub = Stubber(real)
    stub.add_response("describe_rules", {"Rules": []}, {"ListenerArn": ALB_LISTENER})
    stub.activate()
    monkeypatch.setattr(boto3, "client", lambda service, *args, **kwargs: created.append(service) or real)
    GUARD.handler(event(cloudformation, GUARD.WEIGHTS, rule_props()), None)
    assert created == ["elbv2"] and answer()["Data"] == answered(100, 0)
    stub.assert_no_pending_responses()


# --- managed secrets -------------------------------------------------------------------------------------------------


DOCKER = "portkey-gateway/prod/docker-credentials"
CLIENT = "portkey-gateway/prod/client-auth"
SECRETS = {"Environment": "prod", "SecretsCommand": "make secrets ENV=prod", "Secrets": [
    {"Id": "DockerCredentials", "Name": DOCKER, "Keys": ["username", "password"]},
    {"Id": "ClientAuth", "Name": CLIENT, "Keys": ["PORTKEY_CLIENT_AUTH"]}]}


def arn(name: str) -> str:
    return f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{name}-AbCdEf"


def described(name: str, filled: bool = True, deleted: bool = False) -> dict:
    stages = {"11111111-1111-1111-1111-111111111111": ["AWSCURRENT"]}
    if filled:
        stages = {"00000000-0000-0000-0000-000000000000": ["AWSPREVIOUS"], **stages}
    found = {"ARN": arn(name), "Name": name, "VersionIdsToStages": stages,
             "CreatedDate": datetime(2025, 1, 1, tzinfo=timezone.utc)}
    if deleted:
        found["DeletedDate"] = datetime(2025, 2, 1, tzinfo=timezone.utc)
    return found


def check(url: str, secretsmanager, responses: dict, properties: dict = SECRETS, **extra) -> dict:
    real, stub = secretsmanager
    for secret in properties["Secrets"]:
        name = secret["Name"]
        if responses.get(name) in ("missing", "denied"):  # a missing secret may answer either, by IAM's evaluation
            code = "ResourceNotFoundException" if responses[name] == "missing" else "AccessDeniedException"
            stub.add_client_error("describe_secret", code, "not found or not authorized", 400,
                                  expected_params={"SecretId": name})
        else:
            stub.add_response("describe_secret", responses.get(name, described(name)), {"SecretId": name})
    GUARD.handler(event(url, GUARD.SECRETS, properties, **extra), None, secretsmanager=real)
    return answer()


def test_filled_secrets_pass_and_give_their_full_arns(cloudformation, secretsmanager, capsys):
    body = check(cloudformation, secretsmanager, {})
    assert body["Status"] == "SUCCESS" and body["PhysicalResourceId"] == "Guard"
    assert body["Data"] == {"DockerCredentialsArn": arn(DOCKER), "ClientAuthArn": arn(CLIENT)}
    assert json.loads(capsys.readouterr().out.strip())["secrets"] == {DOCKER: "filled", CLIENT: "filled"}


@pytest.mark.parametrize("answer_of_aws", ["missing", "denied"])
def test_a_missing_secret_says_to_deploy_the_secrets_stack_first(cloudformation, secretsmanager, answer_of_aws):
    body = check(cloudformation, secretsmanager, {DOCKER: answer_of_aws})
    assert body["Status"] == "FAILED" and "Data" not in body
    assert body["Reason"] == (f"{DOCKER} does not exist: deploy the secrets stack first (make secrets ENV=prod), "
                              "put the real values in, then deploy again")


def test_a_placeholder_says_how_to_put_the_real_value(cloudformation, secretsmanager):
    body = check(cloudformation, secretsmanager, {DOCKER: described(DOCKER, filled=False)})
    assert body["Status"] == "FAILED"
    assert body["Reason"] == (f"{DOCKER} still holds its placeholder: aws secretsmanager put-secret-value "
                              f"--secret-id {DOCKER} --secret-string '{{\"username\":\"...\",\"password\":\"...\"}}'")


def test_a_secret_scheduled_for_deletion_says_how_to_restore_it(cloudformation, secretsmanager):
    body = check(cloudformation, secretsmanager, {CLIENT: described(CLIENT, deleted=True)})
    assert body["Status"] == "FAILED"
    assert body["Reason"] == f"{CLIENT} is scheduled for deletion: aws secretsmanager restore-secret --secret-id {CLIENT}"


def test_every_problem_is_in_one_reason(cloudformation, secretsmanager):
    body = check(cloudformation, secretsmanager, {DOCKER: "missing", CLIENT: described(CLIENT, filled=False)})
    problems = body["Reason"].split("; ")
    assert body["Status"] == "FAILED" and len(problems) == 2
    assert problems[0].startswith(f"{DOCKER} does not exist")
    assert problems[1].startswith(f"{CLIENT} still holds its placeholder") and '{"PORTKEY_CLIENT_AUTH":"..."}' in problems[1]


def test_a_long_reason_keeps_the_answer_under_cloudformations_limit(cloudformation, secretsmanager):
    many = {**SECRETS, "Secrets": [{"Id": f"S{n}", "Name": f"portkey-gateway/prod/{'x' * 200}-{n}", "Keys": ["k" * 100]}
                                   for n in range(20)]}
    body = check(cloudformation, secretsmanager, {s["Name"]: "missing" for s in many["Secrets"]}, properties=many)
    assert body["Status"] == "FAILED" and len(body["Reason"]) == GUARD.REASON_LIMIT
    assert body["Reason"].endswith("(truncated)") and CloudFormation.answers[0]["size"] < 4096


def test_an_update_keeps_the_physical_id(cloudformation, secretsmanager):
    body = check(cloudformation, secretsmanager, {}, kind="Update", PhysicalResourceId="Guard-2024",
                 OldResourceProperties=SECRETS)
    assert (body["Status"], body["PhysicalResourceId"], body["RequestId"]) == ("SUCCESS", "Guard-2024", "r1")


def test_an_unexpected_error_fails_with_its_type(cloudformation, secretsmanager):
    real, stub = secretsmanager
    stub.add_client_error("describe_secret", "ThrottlingException", "Rate exceeded", 400,
                          expected_params={"SecretId": DOCKER})
    GUARD.handler(event(cloudformation, GUARD.SECRETS, SECRETS), None, secretsmanager=real)
    body = answer()
    assert body["Status"] == "FAILED" and "Data" not in body
    assert body["Reason"] == ("ClientError: An error occurred (ThrottlingException) when calling the DescribeSecret "
                              "operation: Rate exceeded")


def test_malformed_properties_and_unknown_types_fail_instead_of_hanging(cloudformation, secretsmanager):
    GUARD.handler(event(cloudformation, GUARD.SECRETS, {"Environment": "prod"}), None, secretsmanager=secretsmanager[0])
    GUARD.handler(event(cloudformation, "Custom::Renamed", {}), None)
    missing, unknown = (a["body"] for a in CloudFormation.answers)
    assert (missing["Status"], missing["Reason"]) == ("FAILED", "KeyError: 'Secrets'")
    assert unknown["Status"] == "FAILED" and unknown["Reason"].startswith("ValueError: unknown resource type 'Custom::Renamed'")


def test_the_answer_reaches_cloudformation_with_every_field(cloudformation, secretsmanager):
    body = check(cloudformation, secretsmanager, {})
    assert body == {"Status": "SUCCESS", "Reason": "see the function's log", "PhysicalResourceId": "Guard",
                    "StackId": "arn:aws:cloudformation:us-east-1:1:stack/gw/1", "RequestId": "r1",
                    "LogicalResourceId": "Guard",
                    "Data": {"DockerCredentialsArn": arn(DOCKER), "ClientAuthArn": arn(CLIENT)}}


# --- the environment's key, created by the secrets stack -------------------------------------------------------------


ALIAS = "alias/portkey-gateway-prod"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{KEY_ID}"
WITH_KEY = {**SECRETS, "EncryptionKeyAlias": ALIAS}


@pytest.fixture
def kms():
    yield from stubbed("kms")


def key_metadata(state: str = "Enabled") -> dict:
    return {"KeyMetadata": {"KeyId": KEY_ID, "Arn": KEY_ARN, "KeyState": state, "AWSAccountId": ACCOUNT}}


def check_with_key(url: str, secretsmanager, kms, key_answer, secret_keys: dict) -> dict:
    """The guard with EncryptionKeyAlias: DescribeKey by the alias, then each secret (KmsKeyId as `secret_keys` say)."""
    real_kms, kms_stub = kms
    if isinstance(key_answer, str):
        kms_stub.add_client_error("describe_key", key_answer, "no such alias", 400, expected_params={"KeyId": ALIAS})
    else:
        kms_stub.add_response("describe_key", key_answer, {"KeyId": ALIAS})
    real, stub = secretsmanager
    for secret in SECRETS["Secrets"]:
        found = described(secret["Name"])
        if secret_keys.get(secret["Name"]):
            found["KmsKeyId"] = secret_keys[secret["Name"]]
        stub.add_response("describe_secret", found, {"SecretId": secret["Name"]})
    GUARD.handler(event(url, GUARD.SECRETS, WITH_KEY), None, secretsmanager=real, kms=real_kms)
    return answer()


@pytest.mark.parametrize("named_as", [KEY_ARN, KEY_ID, f"arn:aws:kms:us-east-1:{ACCOUNT}:{ALIAS}"])
def test_the_key_is_found_by_its_alias_and_answered_with_its_arn(cloudformation, secretsmanager, kms, capsys, named_as):
    """DescribeSecret names the key as it was given (id, ARN or alias ARN): each form is the same key."""
    body = check_with_key(cloudformation, secretsmanager, kms, key_metadata(), {DOCKER: named_as, CLIENT: named_as})
    assert body["Status"] == "SUCCESS"
    assert body["Data"] == {"EncryptionKeyArn": KEY_ARN, "DockerCredentialsArn": arn(DOCKER), "ClientAuthArn": arn(CLIENT)}
    assert json.loads(capsys.readouterr().out.strip())["key"] == KEY_ARN


@pytest.mark.parametrize("code", ["NotFoundException", "AccessDeniedException"])
def test_a_missing_key_says_to_deploy_the_secrets_stack_first(cloudformation, secretsmanager, kms, code):
    body = check_with_key(cloudformation, secretsmanager, kms, code, {DOCKER: KEY_ARN, CLIENT: KEY_ARN})
    assert body["Status"] == "FAILED" and "Data" not in body
    assert body["Reason"] == f"the key {ALIAS} does not exist: deploy the secrets stack first (make secrets ENV=prod)"


@pytest.mark.parametrize("state, fix", [
    ("Disabled", f"aws kms enable-key --key-id {KEY_ID}"),
    ("PendingDeletion", f"aws kms cancel-key-deletion --key-id {KEY_ID}, then aws kms enable-key --key-id {KEY_ID}"),
])
def test_a_key_that_cannot_be_used_says_how_to_make_it_usable(cloudformation, secretsmanager, kms, state, fix):
    body = check_with_key(cloudformation, secretsmanager, kms, key_metadata(state), {DOCKER: KEY_ARN, CLIENT: KEY_ARN})
    assert body["Status"] == "FAILED" and body["Reason"] == f"the key {ALIAS} is {state}: {fix}"


def test_secrets_on_another_key_say_to_deploy_the_secrets_stack_again(cloudformation, secretsmanager, kms):
    """A secrets stack deployed before the key was turned on: its secrets use aws/secretsmanager (no KmsKeyId)."""
    body = check_with_key(cloudformation, secretsmanager, kms, key_metadata(), {CLIENT: KEY_ARN})
    assert body["Status"] == "FAILED"
    assert body["Reason"] == (f"{DOCKER} is not encrypted with {ALIAS}: deploy the secrets stack again "
                              "(make secrets ENV=prod)")


def test_without_an_alias_no_key_is_described(cloudformation, secretsmanager, kms):
    """The kms fixture asserts that nothing was asked of it."""
    body = check(cloudformation, secretsmanager, {})
    assert body["Status"] == "SUCCESS" and "EncryptionKeyArn" not in body["Data"]
