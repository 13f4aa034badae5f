"""Service settings: the gateway's and the data service's tasks, autoscaling and ECS Exec, what the gateway serves,
and what the tasks may reach (the S3 log store, task-role policies, Amazon Bedrock).

Three mixins, because the module's variable order interleaves these fields with the deployment and cache settings.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal, Optional
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from .base import (BUCKET_NAME, DNS_NAME, PARTITION_PATTERN, REGION_PATTERN, Cpu, FieldProblem, Memory, Percent, Region,
                   SettingsModel, in_range, pattern)
from .deployments import CircuitBreaker

POLICY_ARN = re.compile(rf"^arn:{PARTITION_PATTERN}:iam::(?:\d{{12}}|aws):policy/[\w+=,.@/-]+$")

PolicyArn = Annotated[str, pattern(POLICY_ARN, "an IAM managed policy ARN", "use arn:aws:iam::<account>:policy/<name>")]
Port = Annotated[int, in_range(1, 65535)]
BucketName = Annotated[str, pattern(BUCKET_NAME, "a valid S3 bucket name", "use 3-63 lower-case letters, digits, dots, hyphens")]


def _web_url(value: str) -> str:
    """An absolute http(s) URL whose host is a DNS name (or an IP address)."""
    parts = urlsplit(value)
    host = parts.hostname or ""
    fix = "write the external URL clients use, with its scheme, e.g. https://mcp.example.com"
    if parts.scheme not in ("http", "https") or not host:
        raise FieldProblem("", f"{value!r} is not an http(s) URL", fix)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not DNS_NAME.match(host):
            raise FieldProblem("", f"{host!r} in {value!r} is not a valid host name", fix) from None
    return value


WebUrl = Annotated[str, BeforeValidator(lambda v: v.strip().rstrip("/") if isinstance(v, str) else v),
                   AfterValidator(lambda v: _web_url(v) if v else v)]


class GatewayConfig(SettingsModel):
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


class AutoscalingConfig(SettingsModel):
    enable_autoscaling: bool = Field(False, description="Target-tracking autoscaling of the service.")
    autoscaling_min_capacity: int = Field(1, ge=0, description="Minimum tasks.")
    autoscaling_max_capacity: int = Field(3, ge=1, description="Maximum tasks.")
    target_cpu_utilization: Percent = Field(70, description="Target average CPU %.")
    target_memory_utilization: Percent = Field(70, description="Target average memory %.")
    scale_in_cooldown: int = Field(120, ge=0, le=86400, description="Seconds between scale-in steps.")
    scale_out_cooldown: int = Field(60, ge=0, le=86400, description="Seconds between scale-out steps.")
    target_requests_per_task: Optional[int] = Field(
        None, ge=1, description="Also track ALB requests per task per minute (gateway on an ALB only); unset: CPU and memory only."
    )

    @model_validator(mode="after")
    def _min_below_max(self):
        if self.autoscaling_min_capacity > self.autoscaling_max_capacity:
            raise FieldProblem("autoscaling_min_capacity", f"{self.autoscaling_min_capacity} exceeds autoscaling_max_capacity "
                               f"({self.autoscaling_max_capacity})", "lower the minimum or raise the maximum")
        return self


class DataServiceConfig(SettingsModel):
    enable_dataservice: bool = Field(False, description="Deploy the data service.")
    desired_task_count: int = Field(1, ge=0, description="Data-service tasks to run.")
    cpu: Cpu = Field(256, description="Task CPU units.")
    memory: Memory = Field(1024, description="Task memory (MiB).")
    port: Port = Field(8081, description="Data-service container port.")
    enable_execute_command: bool = Field(False, description="ECS Exec into data-service tasks.")


def _blank_to_none(value: Any) -> Any:
    return None if value == "" else value


class ObjectStorage(SettingsModel):
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


_BEDROCK_RESOURCE = re.compile(
    rf"^arn:{PARTITION_PATTERN}:bedrock:(?:(?:{REGION_PATTERN}|\*)?::foundation-model|{REGION_PATTERN}:\d{{12}}:"
    r"(?:inference-profile|application-inference-profile|provisioned-model|custom-model|imported-model))/[A-Za-z0-9._:/-]+$"
)
ROLE_ARN = re.compile(rf"^arn:{PARTITION_PATTERN}:iam::\d{{12}}:role/[\w+=,.@/-]+$")


class BedrockAccess(SettingsModel):
    """Least-privilege Amazon Bedrock access for the gateway task role (the module leaves this to hand-made policies)."""

    enabled: bool = Field(False, description="Let the gateway invoke Bedrock models.")
    model_arns: list[Annotated[str, pattern(_BEDROCK_RESOURCE, "a Bedrock model or inference-profile ARN",
                                            "use e.g. arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0")]] = Field(
        default_factory=list, description="Models / inference profiles the gateway may invoke; empty: every foundation model in aws_region."
    )
    assume_role_arns: list[Annotated[str, pattern(ROLE_ARN, "an IAM role ARN", "use arn:aws:iam::<account>:role/<name>")]] = Field(
        default_factory=list, description="Roles (e.g. in other accounts) the gateway may assume for Bedrock."
    )

    @model_validator(mode="after")
    def _only_when_enabled(self):
        if not self.enabled and (self.changed("model_arns") or self.changed("assume_role_arns")):
            raise FieldProblem("enabled", "is false, so model_arns and assume_role_arns would do nothing",
                               "set enabled: true, or remove them")
        return self


class GatewaySettings(SettingsModel):
    """The gateway's tasks."""

    gateway_config: GatewayConfig = Field(default_factory=GatewayConfig, description="Gateway task size and ports.")
    gateway_autoscaling: AutoscalingConfig = Field(default_factory=AutoscalingConfig, description="Gateway autoscaling.")

    @property
    def gateway_metrics_enabled(self) -> bool:
        """The gateway serves Prometheus metrics at /metrics, without authentication, unless ENABLE_PROMETHEUS is off."""
        variables = self.environment_variables.gateway if self.environment_variables else {}
        return str(variables.get("ENABLE_PROMETHEUS", "")).strip().lower() != "false"


class ServiceSettings(SettingsModel):
    """What the gateway serves, and the data service."""

    server_mode: Literal["gateway", "mcp", "all"] = Field("gateway", description="AI gateway, MCP gateway, or both.")
    mcp_gateway_base_url: WebUrl = Field(
        "", description="External URL of the MCP gateway, with http(s)://; required in mcp/all modes unless custom_domain names the MCP host."
    )
    dataservice_config: DataServiceConfig = Field(default_factory=DataServiceConfig, description="Data service.")
    dataservice_deployment_circuit_breaker: CircuitBreaker = Field(default_factory=CircuitBreaker, description="Data-service breaker.")
    dataservice_autoscaling: AutoscalingConfig = Field(default_factory=AutoscalingConfig, description="Data-service autoscaling.")

    def _server_mode(self) -> None:
        if self.server_mode == "gateway" and self.mcp_gateway_base_url:
            raise FieldProblem("mcp_gateway_base_url", "is only used when server_mode is mcp or all", "remove it")
        if self.server_mode != "gateway" and not self.mcp_base_url:
            raise FieldProblem("mcp_gateway_base_url", f"is required when server_mode is {self.server_mode}: MCP clients and "
                               "its OAuth metadata use it", "set the external URL, e.g. https://mcp.example.com "
                               "(a placeholder works until DNS exists), or name custom_domain.mcp_host")
        if self.create_lb and self.server_mode == "all" and self.lb_type != "application":
            raise FieldProblem("lb_type", "server_mode all needs an application load balancer to route MCP by host",
                               "set lb_type: application")

    def _autoscaling(self) -> None:
        for service, scaling in (("gateway", self.gateway_autoscaling), ("dataservice", self.dataservice_autoscaling)):
            if not scaling.enable_autoscaling and scaling.target_requests_per_task is not None:
                raise FieldProblem(f"{service}_autoscaling.target_requests_per_task", "is only used when "
                                   "enable_autoscaling is true", "set enable_autoscaling: true, or remove it")
        if self.dataservice_autoscaling.enable_autoscaling and not self.dataservice_config.enable_dataservice:
            raise FieldProblem("dataservice_autoscaling.enable_autoscaling", "is only used with the data service, which "
                               "is not enabled", "turn it off")
        if self.dataservice_autoscaling.target_requests_per_task is not None:
            raise FieldProblem("dataservice_autoscaling.target_requests_per_task", "the data service has no load balancer "
                               "to count requests", "remove it (CPU and memory tracking still apply)")
        if self.gateway_autoscaling.target_requests_per_task is not None and not (self.create_lb and self.lb_type == "application"):
            raise FieldProblem("gateway_autoscaling.target_requests_per_task", "request counts per target come from an "
                               "application load balancer", "set create_lb: true and lb_type: application, or remove it")

    def _services(self) -> None:
        """What the data service needs, and the settings that only it uses."""
        data_service = self.dataservice_config.enable_dataservice
        if data_service:
            self._data_service_needs()
        if not data_service and self.data_service_task_role_policy_arns:
            raise FieldProblem("data_service_task_role_policy_arns", "is only used with the data service",
                               "set dataservice_config.enable_dataservice: true, or remove it")
        if not data_service and self.dataservice_config.enable_execute_command:
            raise FieldProblem("dataservice_config.enable_execute_command", "is only used with the data service",
                               "set dataservice_config.enable_dataservice: true, or remove it")

    def _data_service_needs(self) -> None:
        if self.server_mode == "mcp":
            raise FieldProblem("dataservice_config.enable_dataservice", "the data service calls the AI gateway's API, "
                               "which server_mode mcp does not serve", "use server_mode: all, or turn the data service off")
        given = set(self.secrets.data_service) if self.secrets else set()
        given |= set(self.environment_variables.data_service) if self.environment_variables else set()
        for name in () if self.managed_secrets else ("PORTKEY_CLIENT_AUTH", "ORGANISATIONS_TO_SYNC"):
            if name not in given:
                raise FieldProblem(f"secrets.data-service.{name}", "is required: the data service authenticates to "
                                   "Portkey's control plane with it", "add the same secret ARN as the gateway's")

    @property
    def uses_execute_command(self) -> bool:
        """ECS Exec is on for at least one service that is built."""
        return (self.gateway_config.enable_execute_command
                or (self.dataservice_config.enable_dataservice and self.dataservice_config.enable_execute_command)
                or (self.redis_configuration.redis_type == "redis" and self.redis_configuration.enable_execute_command))

    @property
    def served(self) -> tuple[str, ...]:
        """The listeners the gateway container runs: "gateway", "mcp", or both."""
        return {"gateway": ("gateway",), "mcp": ("mcp",), "all": ("gateway", "mcp")}[self.server_mode]


class TaskAccessSettings(SettingsModel):
    """What the tasks may reach beyond the cache: the S3 log store, task-role policies, Amazon Bedrock."""

    object_storage: ObjectStorage = Field(description="S3 log store.")
    gateway_task_role_policy_arns: dict[str, PolicyArn] = Field(default_factory=dict, description="label: policy ARN for the gateway task role.")
    bedrock: BedrockAccess = Field(default_factory=BedrockAccess, description="Amazon Bedrock access for the gateway.")
    data_service_task_role_policy_arns: dict[str, PolicyArn] = Field(default_factory=dict, description="label: policy ARN for the data-service task role.")
