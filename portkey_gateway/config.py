"""Settings: the Terraform module's input variables as typed, validated, immutable pydantic models.

Field names, nesting and defaults are the module's (`terraform/ecs/variables.tf`, v2.0.0 plus the v2.0.1/v3.0.0
additions), so a tfvars file reads almost verbatim as YAML. Every rule that the module lacks, or that it states but
does not enforce, lives here as a validator whose message names the field and the fix. Nothing here imports CDK.
"""

from __future__ import annotations

import ipaddress
import json
import re
import string
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)


class FieldProblem(ValueError):
    """A problem with one field, raised from validators; `path` is relative to the model that raised it."""

    def __init__(self, path: str, problem: str, fix: str):
        self.path, self.problem, self.fix = path, problem, fix
        super().__init__(f"{path}: {problem}; {fix}" if path else f"{problem}; {fix}")


# --- value rules shared by several fields -------------------------------------------------------------------------

ALLOWED_CPU = (256, 512, 1024, 2048, 4096, 8192, 16384)
ALLOWED_MEMORY = (512, 1024, 2048, 3072, 4096, 5120, 6144, 7168, 8192, 16384, 30720)

_PARTITION = r"aws(?:-cn|-us-gov)?"
_REGION = r"[a-z]{2}(?:-gov)?-[a-z]+-\d"
SECRET_ARN = re.compile(rf"^arn:{_PARTITION}:secretsmanager:{_REGION}:\d{{12}}:secret:[A-Za-z0-9/_+=.@-]+$")
POLICY_ARN = re.compile(rf"^arn:{_PARTITION}:iam::(?:\d{{12}}|aws):policy/[\w+=,.@/-]+$")
CERTIFICATE_ARN = re.compile(rf"^arn:{_PARTITION}:acm:{_REGION}:\d{{12}}:certificate/[0-9a-f-]+$")
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_GRAVITON = re.compile(r"^[a-z]+\d+g[a-z]*\.[a-z0-9]+$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_VPC_ID = re.compile(r"^vpc-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
_SUBNET_ID = re.compile(r"^subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})$")


def _pattern(regex: re.Pattern, what: str, fix: str, allow_empty: bool = False):
    def check(value: str) -> str:
        if not (allow_empty and value == "") and not regex.match(value):
            raise FieldProblem("", f"{value!r} is not {what}", fix)
        return value

    return AfterValidator(check)


def _one_of(allowed: tuple[int, ...]):
    def check(value: int) -> int:
        if value not in allowed:
            raise FieldProblem("", f"{value} is not allowed", f"use one of {', '.join(map(str, allowed))}")
        return value

    return AfterValidator(check)


def _in_range(low: int, high: int):
    def check(value: int) -> int:
        if not low <= value <= high:
            raise FieldProblem("", f"{value} is outside {low}..{high}", f"use a value from {low} to {high}")
        return value

    return AfterValidator(check)


def _ipv4_network(value: str) -> str:
    try:
        network = ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        raise FieldProblem("", f"{value!r} is not an IPv4 CIDR", "write it as a.b.c.d/n, e.g. 10.0.0.0/16") from None
    if str(network) != value:
        raise FieldProblem("", f"{value!r} has host bits set", f"use the network address {network}")
    return value


def _stringify(value: Any) -> Any:
    """Terraform's map(string) turns numbers and bools into strings; YAML gives us the typed values."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


SecretArn = Annotated[
    str,
    _pattern(SECRET_ARN, "a Secrets Manager secret ARN",
             "use the secret's ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>), never the secret value"),
]
PolicyArn = Annotated[str, _pattern(POLICY_ARN, "an IAM managed policy ARN", "use arn:aws:iam::<account>:policy/<name>")]
Cidr = Annotated[str, AfterValidator(_ipv4_network)]
Cpu = Annotated[int, _one_of(ALLOWED_CPU)]
Memory = Annotated[int, _one_of(ALLOWED_MEMORY)]
Port = Annotated[int, _in_range(1, 65535)]
Percent = Annotated[int, _in_range(1, 100)]
Name = Annotated[str, _pattern(_NAME, "a valid name", "use 1-32 lower-case letters, digits and hyphens")]
EnvName = Annotated[str, _pattern(_ENV_NAME, "a valid environment variable name",
                                  "use letters, digits and underscores, not starting with a digit")]
EnvValue = Annotated[str, BeforeValidator(_stringify)]
BucketName = Annotated[str, _pattern(_BUCKET, "a valid S3 bucket name", "use 3-63 lower-case letters, digits, dots, hyphens")]
Region = Annotated[str, _pattern(re.compile(f"^{_REGION}$"), "an AWS region", "use a region code such as us-east-1")]


def nested_model(annotation: Any) -> type[BaseModel] | None:
    """The settings model inside a field's annotation (through Optional, Annotated, ...), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = nested_model(arg)
        if found:
            return found
    return None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True)


# --- nested settings -----------------------------------------------------------------------------------------------


class ServiceEnvironment(_Model):
    """Plain environment variables per service (`environment_variables`)."""

    gateway: dict[EnvName, EnvValue] = Field(default_factory=dict, description="Gateway container variables.")
    data_service: dict[EnvName, EnvValue] = Field(
        default_factory=dict, alias="data-service", description="Data-service container variables."
    )


class ServiceSecrets(_Model):
    """Secrets per service: ENV_NAME -> Secrets Manager ARN. The secret's JSON must hold a key named ENV_NAME."""

    gateway: dict[EnvName, SecretArn] = Field(default_factory=dict, description="Gateway secrets (ENV_NAME: ARN).")
    data_service: dict[EnvName, SecretArn] = Field(
        default_factory=dict, alias="data-service", description="Data-service secrets (ENV_NAME: ARN)."
    )


class ImageRef(_Model):
    """A container image without its tag, and the tag. Bare Docker Hub names get the `docker.io/` prefix."""

    image: Annotated[str, _pattern(re.compile(r"^[a-z0-9][a-z0-9._/-]*[a-z0-9]$"), "an image repository without a tag",
                                   "write the repository only (e.g. portkeyai/gateway_enterprise) and put the tag in tag")]
    tag: Annotated[str, _pattern(_TAG, "a valid image tag", "use letters, digits, '_', '.' and '-', e.g. 2.16.0")]

    @property
    def reference(self) -> str:
        first = self.image.split("/", 1)[0]
        registry_given = "/" in self.image and ("." in first or first == "localhost")
        return f"{self.image if registry_given else 'docker.io/' + self.image}:{self.tag}"


class GatewayConfig(_Model):
    desired_task_count: int = Field(1, ge=0, description="Gateway tasks to run.")
    cpu: Cpu = Field(256, description="Task CPU units.")
    memory: Memory = Field(1024, description="Task memory (MiB).")
    gateway_port: Port = Field(8787, description="AI gateway container port.")
    mcp_port: Port = Field(8788, description="MCP gateway container port.")
    enable_execute_command: bool = Field(False, description="ECS Exec into gateway tasks.")

    @model_validator(mode="after")
    def _distinct_ports(self):
        if self.gateway_port == self.mcp_port:
            raise FieldProblem("mcp_port", f"equals gateway_port ({self.gateway_port})", "give the two listeners different ports")
        return self


class AutoscalingConfig(_Model):
    enable_autoscaling: bool = Field(False, description="Target-tracking autoscaling of the service.")
    autoscaling_min_capacity: int = Field(1, ge=0, description="Minimum tasks.")
    autoscaling_max_capacity: int = Field(3, ge=1, description="Maximum tasks.")
    target_cpu_utilization: Percent = Field(70, description="Target average CPU %.")
    target_memory_utilization: Percent = Field(70, description="Target average memory %.")
    scale_in_cooldown: int = Field(120, ge=0, description="Seconds between scale-in steps.")
    scale_out_cooldown: int = Field(60, ge=0, description="Seconds between scale-out steps.")

    @model_validator(mode="after")
    def _min_below_max(self):
        if self.autoscaling_min_capacity > self.autoscaling_max_capacity:
            raise FieldProblem("autoscaling_min_capacity", f"{self.autoscaling_min_capacity} exceeds autoscaling_max_capacity "
                               f"({self.autoscaling_max_capacity})", "lower the minimum or raise the maximum")
        return self


class CanaryConfiguration(_Model):
    canary_bake_time_in_minutes: int = Field(description="Minutes the canary share runs before the rest shifts.")
    canary_percent: float = Field(description="Share of traffic (%) sent to the new revision first.")


class LinearConfiguration(_Model):
    step_bake_time_in_minutes: int = Field(description="Minutes between steps.")
    step_percent: float = Field(description="Share of traffic (%) shifted per step.")


class DeploymentConfiguration(_Model):
    enable_blue_green: bool = Field(description="Native ECS blue/green deployment.")
    canary_configuration: Optional[CanaryConfiguration] = Field(None, description="Native ECS canary deployment.")
    linear_configuration: Optional[LinearConfiguration] = Field(None, description="Native ECS linear deployment.")

    @property
    def strategy(self) -> str:
        """The module's precedence: blue/green, then linear, then canary, else rolling."""
        if self.enable_blue_green:
            return "BLUE_GREEN"
        if self.linear_configuration:
            return "LINEAR"
        if self.canary_configuration:
            return "CANARY"
        return "ROLLING"


class CircuitBreaker(_Model):
    enable: bool = Field(True, description="Stop a deployment whose tasks keep failing.")
    rollback: bool = Field(True, description="Roll a failed deployment back to the last good revision.")

    @model_validator(mode="after")
    def _rollback_needs_enable(self):
        if self.rollback and not self.enable:
            raise FieldProblem("rollback", "needs the circuit breaker", "set enable: true, or rollback: false")
        return self


class LifecycleHook(_Model):
    enable_lifecycle_hook: bool = Field(False, description="Run a Lambda at ECS deployment lifecycle stages.")
    lifecycle_hook_stages: list[str] = Field(default_factory=list, description="ECS lifecycle stages for the hook.")


class DataServiceConfig(_Model):
    enable_dataservice: bool = Field(False, description="Deploy the data service.")
    desired_task_count: int = Field(1, ge=0, description="Data-service tasks to run.")
    cpu: Cpu = Field(256, description="Task CPU units.")
    memory: Memory = Field(1024, description="Task memory (MiB).")
    port: Port = Field(8081, description="Data-service container port.")
    enable_execute_command: bool = Field(False, description="ECS Exec into data-service tasks.")


class RedisConfiguration(_Model):
    redis_type: Literal["redis", "aws-elastic-cache"] = Field(
        "redis", description="`redis`: built-in Redis service; `aws-elastic-cache`: an existing ElastiCache endpoint."
    )
    cpu: Cpu = Field(256, description="Built-in Redis task CPU units.")
    memory: Memory = Field(512, description="Built-in Redis task memory (MiB).")
    endpoint: str = Field("", description="ElastiCache endpoint host:port (aws-elastic-cache only).")
    tls: bool = Field(False, description="TLS to ElastiCache (aws-elastic-cache only).")
    mode: Literal["standalone", "cluster"] = Field("standalone", description="Redis topology.")
    enable_execute_command: bool = Field(False, description="ECS Exec into the built-in Redis task.")

    @model_validator(mode="after")
    def _builtin_is_plain_standalone(self):
        if self.redis_type == "redis":
            fix = "remove it, or use redis_type: aws-elastic-cache"
            if self.endpoint:
                raise FieldProblem("endpoint", "is only used with redis_type aws-elastic-cache", fix)
            if self.tls:
                raise FieldProblem("tls", "the built-in Redis has no TLS", "set tls: false, or use redis_type: aws-elastic-cache")
            if self.mode != "standalone":
                raise FieldProblem("mode", "the built-in Redis is a single standalone node",
                                   "set mode: standalone, or use redis_type: aws-elastic-cache")
        return self


def _blank_to_none(value: Any) -> Any:
    return None if value == "" else value


class ObjectStorage(_Model):
    log_store_bucket: BucketName = Field(description="Bucket for request logs (LOG_STORE_GENERATIONS_BUCKET).")
    log_exports_bucket: Annotated[Optional[BucketName], BeforeValidator(_blank_to_none)] = Field(
        None, description="Bucket for log exports; defaults to the log-store bucket."
    )
    finetune_bucket: Annotated[Optional[BucketName], BeforeValidator(_blank_to_none)] = Field(
        None, description="Bucket for fine-tune files; defaults to the log-store bucket."
    )
    bucket_region: Region = Field(description="Region of the buckets (LOG_STORE_REGION).")

    @property
    def exports_bucket(self) -> str:
        return self.log_exports_bucket or self.log_store_bucket

    @property
    def finetunes_bucket(self) -> str:
        return self.finetune_bucket or self.log_store_bucket

    @property
    def bucket_names(self) -> list[str]:
        """Distinct bucket names in a stable order, for IAM policies."""
        return list(dict.fromkeys([self.log_store_bucket, self.exports_bucket, self.finetunes_bucket]))


class InstanceRefresh(_Model):
    enabled: bool = Field(False, description="Replace instances in batches when the launch template changes.")
    min_healthy_percentage: Annotated[int, _in_range(0, 100)] = Field(50, description="Capacity kept in service (%).")
    max_healthy_percentage: Annotated[int, _in_range(100, 200)] = Field(100, description="Capacity ceiling while replacing (%).")
    instance_warmup: int = Field(300, ge=0, description="Seconds before a new instance counts as in service.")


class AlbRoutingConfiguration(_Model):
    enable_path_based_routing: bool = Field(False, description="Route by path prefix (deprecated upstream).")
    enable_host_based_routing: bool = Field(False, description="Route by Host header.")
    mcp_path: str = Field("/mcp", description="Path prefix of the MCP gateway.")
    gateway_path: str = Field("/gateway", description="Path prefix of the AI gateway.")
    mcp_host: str = Field("", description="Host name of the MCP gateway.")
    gateway_host: str = Field("", description="Host name of the AI gateway.")


# Variables the module deprecated in v2.0.0 and removed in v2.0.1: named here so that a migrated tfvars gets a pointer.
_REMOVED_VARIABLES = {
    "redis_type": "redis_configuration.redis_type",
    "redis_endpoint": "redis_configuration.endpoint",
    "redis_cpu": "redis_configuration.cpu",
    "redis_memory": "redis_configuration.memory",
    "redis_tls_enabled": "redis_configuration.tls",
    "redis_mode": "redis_configuration.mode",
}

# Options that a later piece of work builds. Until then they are refused, never silently ignored.
# (field path, is the option in use?, what it is)
_NOT_SUPPORTED_YET = (
    ("server_mode", lambda s: s.server_mode != "gateway", "server_mode mcp/all (MCP gateway)"),
    ("lb_type", lambda s: s.lb_type == "application", "an application load balancer"),
    ("internal_lb", lambda s: s.create_lb and not s.internal_lb, "an internet-facing load balancer"),
    ("tls_certificate_arn", lambda s: bool(s.tls_certificate_arn), "TLS listeners"),
    ("enable_lb_access_logs", lambda s: s.enable_lb_access_logs, "load balancer access logs"),
    ("alb_routing_configuration", lambda s: s.alb_routing_configuration != AlbRoutingConfiguration(),
     "ALB host/path routing"),
    ("gateway_deployment_configuration",
     lambda s: s.gateway_deployment_configuration is not None and s.gateway_deployment_configuration.strategy != "ROLLING",
     "blue/green, canary and linear deployments"),
    ("gateway_lifecycle_hook.enable_lifecycle_hook", lambda s: s.gateway_lifecycle_hook.enable_lifecycle_hook,
     "deployment lifecycle hooks"),
    ("gateway_autoscaling.enable_autoscaling", lambda s: s.gateway_autoscaling.enable_autoscaling, "service autoscaling"),
    ("dataservice_autoscaling.enable_autoscaling", lambda s: s.dataservice_autoscaling.enable_autoscaling,
     "service autoscaling"),
    ("dataservice_config.enable_dataservice", lambda s: s.dataservice_config.enable_dataservice, "the data service"),
    ("redis_configuration.redis_type", lambda s: s.redis_configuration.redis_type != "redis", "ElastiCache"),
    ("gateway_task_role_policy_arns", lambda s: bool(s.gateway_task_role_policy_arns), "extra task-role policies"),
    ("data_service_task_role_policy_arns", lambda s: bool(s.data_service_task_role_policy_arns),
     "extra task-role policies"),
    ("gateway_config.enable_execute_command", lambda s: s.gateway_config.enable_execute_command, "ECS Exec"),
    ("dataservice_config.enable_execute_command", lambda s: s.dataservice_config.enable_execute_command, "ECS Exec"),
    ("redis_configuration.enable_execute_command", lambda s: s.redis_configuration.enable_execute_command, "ECS Exec"),
)


# --- the root ------------------------------------------------------------------------------------------------------


class Settings(_Model):
    """One deployment of the Portkey hybrid data plane: the Terraform module's variables, plus what CDK needs."""

    model_config = ConfigDict(title="PortkeyGatewaySettings")

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

    # Network
    create_new_vpc: bool = Field(description="Create a VPC (true) or use an existing one (false).")
    vpc_cidr: Optional[Cidr] = Field(
        None, description="CIDR of the new VPC; with an existing VPC, its CIDR (default ingress of an internal LB)."
    )
    num_az: int = Field(2, ge=1, le=6, description="Number of availability zones.")
    single_nat_gateway: bool = Field(True, description="One NAT gateway (true) or one per AZ (false).")
    vpc_id: Optional[Annotated[str, _pattern(_VPC_ID, "a VPC id", "use the id of an existing VPC, e.g. vpc-0123456789abcdef0")]] = Field(
        None, description="Existing VPC id."
    )
    public_subnet_ids: list[Annotated[str, _pattern(_SUBNET_ID, "a subnet id", "use e.g. subnet-0123456789abcdef0")]] = Field(
        default_factory=list, description="Existing public subnets (internet-facing LB)."
    )
    private_subnet_ids: list[Annotated[str, _pattern(_SUBNET_ID, "a subnet id", "use e.g. subnet-0123456789abcdef0")]] = Field(
        default_factory=list, description="Existing private subnets (tasks, instances, internal LB)."
    )

    # Cluster and capacity
    create_cluster: bool = Field(True, description="Create the ECS cluster, ASG and capacity provider.")
    cluster_name: Optional[str] = Field(None, description="Existing cluster (create_cluster: false).")
    capacity_provider_name: Optional[str] = Field(None, description="Existing capacity provider (create_cluster: false).")
    instance_type: Annotated[str, _pattern(_GRAVITON, "a Graviton (arm64) instance type",
                                           "the ECS AMI is ARM64: use a type with 'g', e.g. t4g.medium or m7g.large")] = Field(
        "t4g.medium", description="Graviton instance type of the ASG."
    )
    max_asg_size: int = Field(3, ge=1, description="ASG maximum.")
    min_asg_size: int = Field(1, ge=0, description="ASG minimum.")
    desired_asg_size: int = Field(2, ge=0, description="ASG initial size; the capacity provider manages it afterwards.")
    target_capacity: Percent = Field(100, description="Capacity-provider target utilisation (%).")
    instance_refresh: InstanceRefresh = Field(default_factory=InstanceRefresh, description="Instance replacement on change.")

    # Images
    gateway_image: ImageRef = Field(ImageRef(image="portkeyai/gateway_enterprise", tag="2.16.0"), description="Gateway image.")
    data_service_image: ImageRef = Field(ImageRef(image="portkeyai/data-service", tag="1.9.0"), description="Data-service image.")
    redis_image: ImageRef = Field(ImageRef(image="redis", tag="7.2-alpine"), description="Built-in Redis image.")
    docker_cred_secret_arn: SecretArn = Field(description="Secret with {username, password} for the private images.")

    # Gateway service
    gateway_config: GatewayConfig = Field(default_factory=GatewayConfig, description="Gateway task size and ports.")
    gateway_autoscaling: AutoscalingConfig = Field(default_factory=AutoscalingConfig, description="Gateway autoscaling.")
    gateway_deployment_configuration: Optional[DeploymentConfiguration] = Field(
        None, description="Deployment strategy; unset: rolling."
    )
    gateway_deployment_circuit_breaker: CircuitBreaker = Field(default_factory=CircuitBreaker, description="Gateway breaker.")
    gateway_lifecycle_hook: LifecycleHook = Field(default_factory=LifecycleHook, description="Deployment lifecycle hook.")
    server_mode: Literal["gateway", "mcp", "all"] = Field("gateway", description="AI gateway, MCP gateway, or both.")
    mcp_gateway_base_url: str = Field("", description="External URL of the MCP gateway (mcp/all modes).")

    # Data service
    dataservice_config: DataServiceConfig = Field(default_factory=DataServiceConfig, description="Data service.")
    dataservice_deployment_circuit_breaker: CircuitBreaker = Field(default_factory=CircuitBreaker, description="Data-service breaker.")
    dataservice_autoscaling: AutoscalingConfig = Field(default_factory=AutoscalingConfig, description="Data-service autoscaling.")

    # Cache, storage, IAM
    redis_configuration: RedisConfiguration = Field(default_factory=RedisConfiguration, description="Cache store.")
    object_storage: ObjectStorage = Field(description="S3 log store.")
    gateway_task_role_policy_arns: dict[str, PolicyArn] = Field(default_factory=dict, description="label: policy ARN for the gateway task role.")
    data_service_task_role_policy_arns: dict[str, PolicyArn] = Field(default_factory=dict, description="label: policy ARN for the data-service task role.")

    # Load balancer
    create_lb: bool = Field(False, description="Create the gateway load balancer.")
    internal_lb: bool = Field(True, description="Internal (private subnets) or internet-facing (public subnets).")
    lb_type: Literal["network", "application"] = Field("network", description="NLB or ALB.")
    allowed_lb_cidrs: list[Cidr] = Field(
        default_factory=list, description="CIDRs allowed to the LB; empty: the VPC CIDR if internal, else 0.0.0.0/0."
    )
    tls_certificate_arn: Annotated[str, _pattern(CERTIFICATE_ARN, "an ACM certificate ARN",
                                                 "use arn:aws:acm:<region>:<account>:certificate/<id>", allow_empty=True)] = Field(
        "", description="ACM certificate: HTTPS/TLS on 443."
    )
    enable_lb_access_logs: bool = Field(False, description="LB access logs to S3.")
    lb_access_logs_bucket: str = Field("", description="Bucket for LB access logs.")
    lb_access_logs_prefix: str = Field("", description="Prefix for LB access logs.")
    alb_routing_configuration: AlbRoutingConfiguration = Field(default_factory=AlbRoutingConfiguration, description="ALB rules.")

    # --- validators ------------------------------------------------------------------------------------------------

    @model_validator(mode="before")
    @classmethod
    def _removed_variables(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for old, new in _REMOVED_VARIABLES.items():
                if old in data:
                    raise FieldProblem(old, "was removed in module v2.0.1", f"set {new} instead")
        return data

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

    @model_validator(mode="after")
    def _check(self) -> "Settings":
        for check in (self._env_and_secrets, self._network, self._cluster, self._load_balancer, self._not_yet):
            check()
        return self

    def _env_and_secrets(self) -> None:
        if self.environment_variables is None:
            raise FieldProblem("environment_variables", "is required (the module's rule)",
                               "set environment_variables or environment_variables_file_path")
        if self.secrets is None:
            raise FieldProblem("secrets", "is required: the gateway needs PORTKEY_CLIENT_AUTH and ORGANISATIONS_TO_SYNC",
                               "set secrets or secrets_file_path")
        for service in ("gateway", "data_service"):
            clash = sorted(set(getattr(self.environment_variables, service)) & set(getattr(self.secrets, service)))
            if clash:
                alias = ServiceSecrets.model_fields[service].alias or service
                raise FieldProblem(f"secrets.{alias}.{clash[0]}", "is also a plain environment variable",
                                   "keep it in one of environment_variables or secrets")

    def _network(self) -> None:
        if self.availability_zones is not None:
            bad = [az for az in self.availability_zones if not re.fullmatch(re.escape(self.aws_region) + r"[a-z]", az)]
            if bad:
                raise FieldProblem("availability_zones", f"{bad[0]!r} is not an AZ of {self.aws_region}",
                                   f"use names like {self.aws_region}a")
            if not self.availability_zones:
                raise FieldProblem("availability_zones", "is empty", "list the AZs, or remove it to derive them")
            if len(set(self.availability_zones)) != len(self.availability_zones):
                raise FieldProblem("availability_zones", "must list distinct AZs", "remove the duplicates")
            if "num_az" in self.model_fields_set and self.num_az != len(self.availability_zones):
                raise FieldProblem("num_az", f"is {self.num_az} but availability_zones lists {len(self.availability_zones)}",
                                   "remove num_az or make the two agree")
        if self.create_new_vpc:
            if not self.vpc_cidr:
                raise FieldProblem("vpc_cidr", "is required when create_new_vpc is true", "set e.g. vpc_cidr: 10.0.0.0/16")
            for name in ("vpc_id", "public_subnet_ids", "private_subnet_ids"):
                if getattr(self, name):
                    raise FieldProblem(name, "is only used when create_new_vpc is false", "remove it, or set create_new_vpc: false")
            prefix = int(self.vpc_cidr.split("/")[1])
            if not 16 <= prefix <= 24:
                raise FieldProblem("vpc_cidr", f"/{prefix} is outside /16../24 (subnets are /{prefix}+4 slices)",
                                   "use a /16 to /24 network")
            if 2 * self.az_count > 16:
                raise FieldProblem("num_az", f"{self.az_count} AZs need {2 * self.az_count} /+4 subnets, but a CIDR holds 16",
                                   "use at most 8 AZs")
        else:
            if not self.vpc_id:
                raise FieldProblem("vpc_id", "is required when create_new_vpc is false", "set the id of the existing VPC")
            if not self.private_subnet_ids:
                raise FieldProblem("private_subnet_ids", "is required when create_new_vpc is false",
                                   "list the private subnets for tasks and instances")

    def _cluster(self) -> None:
        if not self.create_cluster:
            for name, what in (("cluster_name", "ECS cluster"), ("capacity_provider_name", "capacity provider")):
                if not getattr(self, name):
                    raise FieldProblem(name, "is required when create_cluster is false", f"name the existing {what}")
        else:
            for name in ("cluster_name", "capacity_provider_name"):
                if getattr(self, name):
                    raise FieldProblem(name, "is only used when create_cluster is false", "remove it, or set create_cluster: false")
            if not self.min_asg_size <= self.desired_asg_size <= self.max_asg_size:
                raise FieldProblem("desired_asg_size", f"{self.desired_asg_size} is not between min_asg_size "
                                   f"({self.min_asg_size}) and max_asg_size ({self.max_asg_size})", "make min <= desired <= max")

    def _load_balancer(self) -> None:
        if self.server_mode == "all" and self.lb_type != "application":
            raise FieldProblem("lb_type", "server_mode all needs an application load balancer to route MCP by host",
                               "set lb_type: application")
        if self.server_mode == "gateway" and self.mcp_gateway_base_url:
            raise FieldProblem("mcp_gateway_base_url", "is only used when server_mode is mcp or all", "remove it")
        if self.enable_lb_access_logs and not self.lb_access_logs_bucket:
            raise FieldProblem("lb_access_logs_bucket", "is required when enable_lb_access_logs is true",
                               "name the bucket for the access logs")
        if self.create_lb and self.internal_lb and not self.allowed_lb_cidrs and not self.vpc_cidr:
            raise FieldProblem("allowed_lb_cidrs", "is empty and the existing VPC's CIDR is unknown (no lookups are made)",
                               "set vpc_cidr to the VPC's CIDR, or list allowed_lb_cidrs")
        if self.create_lb and not self.internal_lb and not self.create_new_vpc and not self.public_subnet_ids:
            raise FieldProblem("public_subnet_ids", "is required for an internet-facing load balancer in an existing VPC",
                               "list the public subnets")

    def _not_yet(self) -> None:
        for path, in_use, what in _NOT_SUPPORTED_YET:
            if in_use(self):
                raise FieldProblem(path, f"{what} is not supported yet", "remove the setting (or leave it at its default) for now")

    # --- derived values --------------------------------------------------------------------------------------------

    @property
    def az_count(self) -> int:
        return len(self.availability_zones) if self.availability_zones else self.num_az

    @property
    def azs(self) -> list[str]:
        """The AZs in use, from config or derived from the region; deterministic, no lookup."""
        if self.availability_zones:
            return list(self.availability_zones)
        return [f"{self.aws_region}{letter}" for letter in string.ascii_lowercase[: self.num_az]]

    @property
    def name_prefix(self) -> str:
        """`<project>-<environment>`: physical names include both, so two environments can share an account."""
        return f"{self.project_name}-{self.environment}"

    @property
    def lb_ingress_cidrs(self) -> list[str]:
        """The module's default: the VPC CIDR for an internal LB, anywhere for an internet-facing one."""
        if self.allowed_lb_cidrs:
            return list(self.allowed_lb_cidrs)
        return [self.vpc_cidr] if self.internal_lb else ["0.0.0.0/0"]

