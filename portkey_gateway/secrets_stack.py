"""`SecretsStack`: the module's `cloudformation/secrets.yaml` as a stack of this app.

The Docker-credentials secret (`username`, `password`) and the client-auth secret (`PORTKEY_CLIENT_AUTH`,
`ORGANISATIONS_TO_SYNC`), named `<project>/<environment>/...` as the module names them, encrypted with the
Secrets Manager key the task execution roles can use, or the environment's `encryption_key` (a created one lives
here, in the stack deployed first, and the gateway stack finds it by its alias). No secret value is in the template: each is created with a
placeholder (and a random value where a credential belongs) and filled in with `aws secretsmanager put-secret-value`.
With `managed_secrets: true` the gateway stack finds them by name (`stack.GatewayStack`), so it is deployed on its
own, before the gateway stack (`make secrets ENV=NAME`), and the values are put in before the first tasks start.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from aws_cdk import CfnOutput, Environment, RemovalPolicy, Stack, Tags
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from .compliance import acknowledge, acknowledge_in_packs, checkov_skip
from .components.encryption import create_environment_key
from .settings import MANAGED_SECRET_KEYS, ServiceSecrets, Settings

PLACEHOLDER = "REPLACE_ME"


@dataclass(frozen=True)
class SecretArns:
    docker_credentials: str | None  # None when no private image is pulled from Docker Hub itself
    client_auth: str
    docker_hub_cache: str | None = None  # with `docker_hub_cache.enabled`


class SecretsStack(Stack):
    """Exposes `docker_credentials` (None when the images come through the Docker Hub cache or from ECR),
    `client_auth`, `docker_hub_cache` (None without the cache) (the secrets), `arns` and `encryption_key` (None
    without one)."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs):
        super().__init__(scope, construct_id, env=Environment(account=settings.aws_account, region=settings.aws_region),
                         description=f"Portkey AI Gateway secrets ({settings.name_prefix})", **kwargs)
        apply_tags(self, settings)
        self.encryption_key: kms.IKey | None = None
        if settings.key_in_secrets_stack:
            self.encryption_key = create_environment_key(self, "EncryptionKey", name_prefix=settings.name_prefix)
        elif settings.encryption_key:
            self.encryption_key = kms.Key.from_key_arn(self, "EncryptionKey", settings.encryption_key)
        secrets = {}
        for managed in managed_secrets(settings):
            secrets[managed.name] = secretsmanager.Secret(
                self, managed.construct_id,
                secret_name=managed.secret_name,
                description=managed.description,
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    secret_string_template=json.dumps({managed.placeholder_key: PLACEHOLDER}),
                    generate_string_key=managed.generated_key, exclude_punctuation=True,
                ),
                # ECR's pull-through cache reads its login only under the AWS-managed key (ECR User Guide, "Storing
                # your upstream repository credentials in an AWS Secrets Manager secret").
                encryption_key=None if managed.name == "docker-hub-cache" else self.encryption_key,
                removal_policy=RemovalPolicy.RETAIN,  # it holds credentials Portkey issued
            )
            issued = ("Credentials Portkey issues (registry login, client-auth key): rotation happens at Portkey, "
                      "after which the new value is put here; Secrets Manager has no rotation function for them")
            acknowledge(secrets[managed.name], "AwsSolutions-SMG4", issued)
            acknowledge_in_packs(secrets[managed.name], "SecretsManagerRotationEnabled", issued)
            if managed.name == "docker-hub-cache":
                aws_managed = ("ECR's pull-through cache reads the Docker Hub login only from a secret under the "
                               "AWS-managed key aws/secretsmanager (ECR User Guide, 'Storing your upstream repository "
                               "credentials in an AWS Secrets Manager secret')")
                acknowledge_in_packs(secrets[managed.name], "SecretsManagerUsingKMSKey", aws_managed)
                checkov_skip(secrets[managed.name].node.default_child, "CKV_AWS_149", aws_managed)
        self.docker_credentials = secrets.get("docker-credentials")
        self.client_auth = secrets["clientauth-organizations"]
        self.docker_hub_cache = secrets.get("docker-hub-cache")
        self.arns = SecretArns(self.docker_credentials.secret_arn if self.docker_credentials else None,
                               self.client_auth.secret_arn,
                               self.docker_hub_cache.secret_arn if self.docker_hub_cache else None)
        if self.docker_credentials:
            CfnOutput(self, "DockerCredentialsSecretArn", value=self.docker_credentials.secret_arn)
        CfnOutput(self, "ClientOrgSecretNameArn", value=self.client_auth.secret_arn)


@dataclass(frozen=True)
class ManagedSecret:
    """One secret of the secrets stack: how it is created, and what the gateway stack checks before it starts tasks."""

    name: str  # "docker-credentials" or "clientauth-organizations"
    secret_name: str  # <project>/<environment>/<name>, as the module names it
    placeholder_key: str  # holds PLACEHOLDER until the operator puts the real value
    generated_key: str  # holds a random value (a credential that is never empty)
    description: str

    @property
    def construct_id(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("-"))

    @property
    def keys(self) -> tuple[str, ...]:
        return MANAGED_SECRET_KEYS[self.name]

    def definition(self) -> dict:
        """Everything CloudFormation creates the secret from: a change to it is what could replace the secret."""
        return {"Name": self.secret_name, "Description": self.description, "Placeholder": self.placeholder_key,
                "Generated": self.generated_key}


def managed_secrets(settings: Settings) -> tuple[ManagedSecret, ...]:
    """The two secrets `managed_secrets` creates (the module's cloudformation/secrets.yaml; the Docker login only
    while a private image is pulled from Docker Hub itself), and with the Docker Hub cache its login, named under
    ecr-pullthroughcache/ as ECR requires."""
    found = []
    names = [("clientauth-organizations", tuple(reversed(MANAGED_SECRET_KEYS["clientauth-organizations"])))]
    if settings.needs_docker_credentials:  # not when the images come through the cache or from ECR
        names.insert(0, ("docker-credentials", MANAGED_SECRET_KEYS["docker-credentials"]))
    if settings.docker_hub_cache.enabled:
        names.append(("docker-hub-cache", MANAGED_SECRET_KEYS["docker-hub-cache"]))
    for name, (placeholder_key, generated_key) in names:
        secret_name = (f"ecr-pullthroughcache/{settings.name_prefix}" if name == "docker-hub-cache"
                       else f"{settings.project_name}/{settings.environment}/{name}")
        found.append(ManagedSecret(
            name=name, secret_name=secret_name,
            placeholder_key=placeholder_key, generated_key=generated_key,
            description=f"Portkey {name} for {settings.name_prefix}: replace the placeholder values "
                        "(aws secretsmanager put-secret-value)",
        ))
    return tuple(found)


def apply_tags(stack: Stack, settings: Settings) -> None:
    """Project, Environment, ManagedBy and the configured tags, on every resource of `stack`."""
    standard = {"Project": settings.project_name, "Environment": settings.environment, "ManagedBy": "CDK"}
    for key, value in {**standard, **settings.tags}.items():
        Tags.of(stack).add(key, value)


def with_secret_arns(settings: Settings, arns: SecretArns) -> Settings:
    """The settings with the secrets stack's ARNs where `managed_secrets` left them out (references, so unvalidated)."""
    client_auth = {key: arns.client_auth for key in MANAGED_SECRET_KEYS["clientauth-organizations"]}
    given = settings.secrets or ServiceSecrets()
    data_service = {**given.data_service, **client_auth} if settings.dataservice_config.enable_dataservice else given.data_service
    secrets = ServiceSecrets.model_construct(gateway={**given.gateway, **client_auth}, data_service=data_service)
    update = {"docker_cred_secret_arn": arns.docker_credentials, "secrets": secrets}
    if arns.docker_hub_cache:
        update["docker_hub_cache"] = settings.docker_hub_cache.model_copy(
            update={"credentials_secret_arn": arns.docker_hub_cache})
    return settings.model_copy(update=update)


def add_secrets(scope: Construct, settings: Settings) -> SecretsStack:
    """The secrets stack `<project>-<env>-secrets` (`managed_secrets`), deployed on request: `-c secrets=true`."""
    return SecretsStack(scope, f"{settings.name_prefix}-secrets", stack_name=f"{settings.name_prefix}-secrets",
                        settings=settings)
