"""Project settings: names, region and account, each service's environment variables and secrets, the images and
what pulls them, and tags."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, NamedTuple, Optional

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator

from .base import FieldProblem, Name, Region, SecretArn, SettingsModel, is_token, pattern

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_TAG_KEY = re.compile(r"^(?!aws:)[\w .:/=+\-@]{1,128}$")
_TAG_VALUE = re.compile(r"^[\w .:/=+\-@]{0,256}$")
STANDARD_TAGS = ("Project", "Environment", "ManagedBy")
_ECR_IMAGE = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/(?P<name>.+)$")
# ECR's rules (botocore's model: PullThroughCacheRuleRepositoryPrefix, CredentialArn).
_CACHE_PREFIX = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$")
_CACHE_SECRET = re.compile(r":secret:ecr-pullthroughcache/[A-Za-z0-9/_+=.@-]+$")
# What the secrets stack creates (the module's cloudformation/secrets.yaml): the keys each secret's JSON holds.
MANAGED_SECRET_KEYS = {"docker-credentials": ("username", "password"),
                       "clientauth-organizations": ("PORTKEY_CLIENT_AUTH", "ORGANISATIONS_TO_SYNC"),
                       # The Docker Hub login of the pull-through cache, in the keys ECR reads (ECR User Guide).
                       "docker-hub-cache": ("username", "accessToken")}
PRODUCTION_ENVIRONMENTS = ("prod", "production")


def _stringify(value: Any) -> Any:
    """Terraform's map(string) turns numbers and bools into strings; YAML gives us the typed values."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


EnvName = Annotated[str, pattern(_ENV_NAME, "a valid environment variable name",
                                 "use letters, digits and underscores, not starting with a digit")]
EnvValue = Annotated[str, BeforeValidator(_stringify)]


class ServiceEnvironment(SettingsModel):
    """Plain environment variables per service (`environment_variables`)."""

    gateway: dict[EnvName, EnvValue] = Field(default_factory=dict, description="Gateway container variables.")
    data_service: dict[EnvName, EnvValue] = Field(
        default_factory=dict, alias="data-service", description="Data-service container variables."
    )


class ServiceSecrets(SettingsModel):
    """Secrets per service: ENV_NAME -> Secrets Manager ARN. The secret's JSON must hold a key named ENV_NAME."""

    gateway: dict[EnvName, SecretArn] = Field(default_factory=dict, description="Gateway secrets (ENV_NAME: ARN).")
    data_service: dict[EnvName, SecretArn] = Field(
        default_factory=dict, alias="data-service", description="Data-service secrets (ENV_NAME: ARN)."
    )


class ImageRef(SettingsModel):
    """A container image without its tag, and the tag. Bare Docker Hub names get the `docker.io/` prefix."""

    image: Annotated[str, pattern(re.compile(r"^[a-z0-9][a-z0-9._/-]*[a-z0-9]$"), "an image repository without a tag",
                                  "write the repository only (e.g. portkeyai/gateway_enterprise) and put the tag in tag")]
    tag: Annotated[str, pattern(_TAG, "a valid image tag", "use letters, digits, '_', '.' and '-', e.g. 2.16.0")]

    @property
    def reference(self) -> str:
        first = self.image.split("/", 1)[0]
        registry_given = "/" in self.image and ("." in first or first == "localhost")
        return f"{self.image if registry_given else 'docker.io/' + self.image}:{self.tag}"

    @property
    def ecr_repository(self) -> Optional["EcrRepository"]:
        """The ECR repository the image is in (this account's or another's), or None."""
        match = _ECR_IMAGE.match(self.image)
        return EcrRepository(match["account"], match["region"], match["name"]) if match else None

    @property
    def docker_hub_path(self) -> Optional[str]:
        """The image's repository on Docker Hub (official images under `library/`), or None for another registry."""
        reference = self.reference
        if not reference.startswith("docker.io/"):
            return None
        path = self.image.removeprefix("docker.io/")
        return path if "/" in path else f"library/{path}"


class EcrRepository(NamedTuple):
    account: str
    region: str
    name: str


class DockerHubCache(SettingsModel):
    """An ECR pull-through cache of Docker Hub: the tasks pull Docker Hub images from the account's own registry."""

    enabled: bool = Field(False, description="Pull every Docker Hub image through an ECR pull-through cache rule created here.")
    repository_prefix: str = Field(
        "", description="ECR repository prefix of the cached images (2-30 characters); empty: <project>-<environment>."
    )
    credentials_secret_arn: Optional[SecretArn] = Field(
        None, description="Secret named ecr-pullthroughcache/... holding {username, accessToken} for Docker Hub; with "
                          "managed_secrets the secrets stack creates it."
    )
    scan_on_push: bool = Field(
        False, description="Basic scanning on push for the cached repositories (sets the account's registry scanning "
                           "configuration: replaces an existing one)."
    )


class ProjectSettings(SettingsModel):
    """Where the environment lives, and what each service's container gets."""

    # Project
    project_name: Name = Field("portkey", description="Prefix of resource names; the `Project` tag.")
    environment: Name = Field("dev", description="Environment name; part of the stack and resource names.")
    aws_region: Region = Field("us-west-2", description="Region to deploy to.")
    aws_account: Optional[str] = Field(None, description="Account to deploy to; unset: the CLI's current account.")
    availability_zones: Optional[list[str]] = Field(
        None, description="AZs to use; unset: the first num_az of the region (a, b, c...). No lookup is made."
    )

    # Environment variables and secrets
    environment_variables_file_path: Optional[str] = Field(
        None, description="JSON file {gateway: {...}, data-service: {...}}, relative to this config file."
    )
    secrets_file_path: Optional[str] = Field(None, description="JSON file of secrets, relative to this config file.")
    environment_variables: Optional[ServiceEnvironment] = Field(
        None, validate_default=True, description="Plain variables per service."
    )
    secrets: Optional[ServiceSecrets] = Field(None, validate_default=True, description="ENV_NAME: secret ARN per service.")

    @field_validator("aws_account", mode="before")
    @classmethod
    def _account_is_twelve_digits(cls, value: Any) -> Any:
        if value is not None and not re.fullmatch(r"\d{12}", str(value)):
            raise FieldProblem("", f"{value!r} is not a 12-digit account id",
                               "write it as a quoted string, e.g. '012345678901', so leading zeros survive")
        return None if value is None else str(value)

    @field_validator("environment_variables", "secrets", mode="before")
    @classmethod
    def _load_json_file(cls, value: Any, info: ValidationInfo) -> Any:
        """The module reads `<name>_file_path` only when the inline variable is null; the inline map wins."""
        file_field = {"environment_variables": "environment_variables_file_path", "secrets": "secrets_file_path"}[info.field_name]
        path = info.data.get(file_field)
        if value is not None or not path:
            return value
        base = Path((info.context or {}).get("base_dir", "."))
        file = (base / path).resolve()
        try:
            return json.loads(file.read_text())
        except FileNotFoundError:
            raise FieldProblem("", f"{file_field} {path!r}: no such file ({file})",
                               "give a path relative to the config file") from None
        except OSError as error:
            raise FieldProblem("", f"{file_field} {path!r}: cannot read {file} ({error.strerror})",
                               "point it at a readable JSON file") from None
        except json.JSONDecodeError as error:
            raise FieldProblem("", f"{file_field} {path!r}: invalid JSON ({error.msg}, line {error.lineno})",
                               "fix the JSON file") from None

    def _env_and_secrets(self) -> None:
        if self.environment_variables is None:
            raise FieldProblem("environment_variables", "is required (the module's rule)",
                               "set environment_variables or environment_variables_file_path")
        for name in STANDARD_TAGS:
            if name in self.tags:
                raise FieldProblem(f"tags.{name}", "is set from the settings already", "remove it")
        if self.managed_secrets:  # a token is the secrets stack's own ARN, put in by the gateway stack's secrets check
            if self.docker_cred_secret_arn and not is_token(self.docker_cred_secret_arn):
                raise FieldProblem("docker_cred_secret_arn", "comes from the secrets stack with managed_secrets", "remove it")
            for service in ("gateway", "data_service"):
                given = {k for k, v in getattr(self.secrets, service).items() if not is_token(v)} if self.secrets else set()
                for key in sorted(given & set(MANAGED_SECRET_KEYS["clientauth-organizations"])):
                    alias = ServiceSecrets.model_fields[service].alias or service
                    raise FieldProblem(f"secrets.{alias}.{key}", "comes from the secrets stack with managed_secrets",
                                       "remove it")
            return
        if not self.docker_cred_secret_arn and self.needs_docker_credentials:
            raise FieldProblem("docker_cred_secret_arn", "is required: the gateway image is private",
                               "set the ARN of the secret holding username and password, or set managed_secrets: true "
                               "(or pull it from ECR, or through docker_hub_cache)")
        if self.secrets is None:
            raise FieldProblem("secrets", "is required: the gateway needs PORTKEY_CLIENT_AUTH and ORGANISATIONS_TO_SYNC",
                               "set secrets or secrets_file_path, or set managed_secrets: true")
        self._secrets_do_not_shadow_environment()

    def _secrets_do_not_shadow_environment(self) -> None:
        for service in ("gateway", "data_service"):
            clash = sorted(set(getattr(self.environment_variables, service)) & set(getattr(self.secrets, service))) \
                if self.secrets else []
            if clash:
                alias = ServiceSecrets.model_fields[service].alias or service
                raise FieldProblem(f"secrets.{alias}.{clash[0]}", "is also a plain environment variable",
                                   "keep it in one of environment_variables or secrets")

    @property
    def name_prefix(self) -> str:
        """`<project>-<environment>`: physical names include both, so two environments can share an account."""
        return f"{self.project_name}-{self.environment}"


class ImageSettings(SettingsModel):
    """The images, the credentials that pull them (or the secrets stack that makes them), and tags."""

    gateway_image: ImageRef = Field(ImageRef(image="portkeyai/gateway_enterprise", tag="2.16.0"), description="Gateway image.")
    data_service_image: ImageRef = Field(ImageRef(image="portkeyai/data-service", tag="1.9.0"), description="Data-service image.")
    redis_image: ImageRef = Field(ImageRef(image="redis", tag="7.2-alpine"), description="Built-in Redis image.")
    docker_cred_secret_arn: Optional[SecretArn] = Field(
        None, description="Secret with {username, password} for the private images (gateway, data service); required unless managed_secrets."
    )
    managed_secrets: bool = Field(
        False, description="Create the Docker-credentials and client-auth secrets in a secrets stack of this app and use them (instead of ARNs)."
    )
    tags: dict[Annotated[str, pattern(_TAG_KEY, "a tag key", "use letters, digits, spaces and _ . : / = + - @")],
               Annotated[str, pattern(_TAG_VALUE, "a tag value", "use up to 256 letters, digits, spaces and _ . : / = + - @")]] = Field(
        default_factory=dict, description="Extra tags on every resource (besides Project, Environment, ManagedBy)."
    )
    allow_latest_tag: bool = Field(False, description="Allow the moving tag `latest` in an environment named prod or production.")
    docker_hub_cache: DockerHubCache = Field(default_factory=DockerHubCache, description="ECR pull-through cache of Docker Hub.")

    @property
    def pulls_from_ecr(self) -> bool:
        """An image comes from ECR, directly or through the cache: the ECR endpoints serve only that."""
        images = [self.gateway_image, self.data_service_image, self.redis_image]
        return self.docker_hub_cache.enabled or any(image.ecr_repository for image in images)

    @property
    def cache_prefix(self) -> Optional[str]:
        """The pull-through cache's repository prefix, None without the cache."""
        cache = self.docker_hub_cache
        return (cache.repository_prefix or self.name_prefix) if cache.enabled else None

    @property
    def needs_docker_credentials(self) -> bool:
        """A private Portkey image is pulled from Docker Hub itself (not from ECR, nor through the cache)."""
        private = [self.gateway_image, *([self.data_service_image] if self.dataservice_config.enable_dataservice else [])]
        return any(image.docker_hub_path and not self.docker_hub_cache.enabled for image in private)

    def _docker_hub_cache(self) -> None:
        cache = self.docker_hub_cache
        if not cache.enabled:
            for name in ("repository_prefix", "credentials_secret_arn", "scan_on_push"):
                if cache.changed(name):
                    raise FieldProblem(f"docker_hub_cache.{name}", "is only used with the cache",
                                       "set docker_hub_cache.enabled: true, or remove it")
            return
        prefix = self.cache_prefix
        if not (2 <= len(prefix) <= 30 and _CACHE_PREFIX.match(prefix)):
            field = "docker_hub_cache.repository_prefix" if cache.repository_prefix else "docker_hub_cache"
            raise FieldProblem(field, f"{prefix!r} is not an ECR pull-through cache prefix (2-30 lower-case letters, "
                               "digits and . _ - between them)", "set docker_hub_cache.repository_prefix, e.g. dockerhub")
        if self.managed_secrets and cache.credentials_secret_arn:
            raise FieldProblem("docker_hub_cache.credentials_secret_arn", "comes from the secrets stack with "
                               "managed_secrets", "remove it")
        if not self.managed_secrets and not cache.credentials_secret_arn:
            raise FieldProblem("docker_hub_cache.credentials_secret_arn", "is required: ECR pulls the private Portkey "
                               "images from Docker Hub with credentials", "set the ARN of a secret named "
                               "ecr-pullthroughcache/... holding username and accessToken, or set managed_secrets: true")
        arn = cache.credentials_secret_arn
        if arn and not is_token(arn) and not _CACHE_SECRET.search(arn):
            raise FieldProblem("docker_hub_cache.credentials_secret_arn", "names a secret outside ecr-pullthroughcache/, "
                               "which ECR refuses", "store the credentials in a secret named ecr-pullthroughcache/<name>")

    def _images(self) -> None:
        """The images this environment runs, pinned in production, and where they are pulled from."""
        self._docker_hub_cache()
        if self.environment in PRODUCTION_ENVIRONMENTS and not self.allow_latest_tag:
            built = {"gateway_image": True, "data_service_image": self.dataservice_config.enable_dataservice,
                     "redis_image": self.redis_configuration.redis_type == "redis"}
            for name in (name for name, used in built.items() if used):
                if getattr(self, name).tag == "latest":
                    raise FieldProblem(f"{name}.tag", f"'latest' in environment {self.environment}: a moving tag makes "
                                       "rollbacks and reproducible deploys meaningless",
                                       "pin a version (e.g. 2.16.0), or set allow_latest_tag: true")
