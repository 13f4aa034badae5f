"""Cache settings: the built-in Redis service, an existing ElastiCache, or an ElastiCache for Valkey created here."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Optional

from pydantic import Field, model_validator

from .base import Cpu, FieldProblem, Memory, SecretArn, SettingsModel, in_range, pattern
from .project import ServiceSecrets

CREATED_CACHE_PORT = 6380  # not the default 6379 that scanners probe (AwsSolutions-AEC5); the URL carries it anyway
_CACHE_NODE = re.compile(r"^cache\.[a-z0-9]+\.[a-z0-9]+$")


class CreatedCache(SettingsModel):
    """An ElastiCache for Valkey replication group created here, in the private subnets."""

    node_type: Annotated[str, pattern(_CACHE_NODE, "an ElastiCache node type", "use e.g. cache.t4g.small or cache.r7g.large")] = Field(
        "cache.t4g.small", description="Node type."
    )
    replicas: Annotated[int, in_range(0, 5)] = Field(
        1, description="Read replicas per shard; with one or more and several AZs: multi-AZ with automatic failover."
    )
    shards: Annotated[int, in_range(1, 500)] = Field(1, description="Shards (node groups); more than one needs mode: cluster.")
    engine_version: Literal["7.2", "8.0", "8.1"] = Field("8.0", description="Valkey engine version.")
    auth_token_rotation_days: Annotated[int, in_range(0, 365)] = Field(
        30, description="Rotate the AUTH token every this many days (ROTATE, redeploy, SET: no task is locked out); 0: never."
    )
    snapshot_retention_days: Annotated[int, in_range(1, 35)] = Field(
        15, description="Days daily snapshots are kept (15 and more: what the NIST, HIPAA and PCI packs expect)."
    )


_ENDPOINT = re.compile(r"^(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(?P<port>\d{1,5})$")
_SECURITY_GROUP_ID = re.compile(r"^sg-(?:[0-9a-f]{8}|[0-9a-f]{17})$")


class RedisConfiguration(SettingsModel):
    redis_type: Literal["redis", "aws-elastic-cache"] = Field(
        "redis", description="`redis`: built-in Redis service; `aws-elastic-cache`: ElastiCache (an existing endpoint, or `create`)."
    )
    cpu: Cpu = Field(256, description="Built-in Redis task CPU units.")
    memory: Memory = Field(512, description="Built-in Redis task memory (MiB).")
    endpoint: str = Field(
        "", description="Existing ElastiCache endpoint host:port: the primary endpoint, or in cluster mode the configuration endpoint."
    )
    tls: bool = Field(False, description="TLS to an existing ElastiCache (a created one always uses TLS).")
    mode: Literal["standalone", "cluster"] = Field("standalone", description="Redis topology.")
    enable_execute_command: bool = Field(False, description="ECS Exec into the built-in Redis task.")
    auth_secret_arn: Optional[SecretArn] = Field(
        None, description="Existing ElastiCache: secret whose JSON key REDIS_PASSWORD holds the AUTH token, given to both services."
    )
    security_group_id: Optional[Annotated[str, pattern(_SECURITY_GROUP_ID, "a security group id", "use e.g. sg-0123456789abcdef0")]] = Field(
        None, description="Existing ElastiCache's security group: the gateway and data service are admitted on its port."
    )
    create: Optional[CreatedCache] = Field(None, description="Create an ElastiCache for Valkey cache instead of naming one.")

    @model_validator(mode="after")
    def _consistent(self):
        if self.redis_type == "redis":
            fix = "remove it, or use redis_type: aws-elastic-cache"
            for name in ("endpoint", "auth_secret_arn", "security_group_id", "create"):
                if getattr(self, name):
                    raise FieldProblem(name, "is only used with redis_type aws-elastic-cache", fix)
            if self.tls:
                raise FieldProblem("tls", "the built-in Redis has no TLS", "set tls: false, or use redis_type: aws-elastic-cache")
            if self.mode != "standalone":
                raise FieldProblem("mode", "the built-in Redis is a single standalone node",
                                   "set mode: standalone, or use redis_type: aws-elastic-cache")
            return self
        for name in ("cpu", "memory", "enable_execute_command"):
            if self.changed(name):
                raise FieldProblem(name, "is only used by the built-in Redis (redis_type: redis)", "remove it")
        if self.create:
            for name in ("endpoint", "auth_secret_arn", "security_group_id"):
                if getattr(self, name):
                    raise FieldProblem(name, "is only used with an existing ElastiCache: the created cache provides its own",
                                       "remove it, or remove create")
            if "tls" in self.model_fields_set and not self.tls:
                raise FieldProblem("tls", "a created cache always encrypts in transit (its AUTH token requires it)",
                                   "remove tls, or set it to true")
            if self.create.shards > 1 and self.mode != "cluster":
                raise FieldProblem("create.shards", "more than one shard needs cluster mode", "set mode: cluster, or shards: 1")
            return self
        match = _ENDPOINT.match(self.endpoint)
        if not match or not 1 <= int(match["port"]) <= 65535:
            raise FieldProblem("endpoint", f"{self.endpoint!r} is not host:port" if self.endpoint else
                               "is required with redis_type aws-elastic-cache (or set create)",
                               "use the primary endpoint, e.g. master.portkey.abc123.use1.cache.amazonaws.com:6379; in cluster "
                               "mode the configuration endpoint (...clustercfg...:6379)")
        return self

    @property
    def tls_enabled(self) -> bool:
        return self.tls or self.create is not None

    @property
    def port(self) -> int:
        """The port the cache listens on."""
        if self.create:
            return CREATED_CACHE_PORT
        return 6379 if self.redis_type == "redis" else int(self.endpoint.rsplit(":", 1)[1])


# Variables the module deprecated in v2.0.0 and removed in v2.0.1: named here so that a migrated tfvars gets a pointer.
REMOVED_VARIABLES = {
    "redis_type": "redis_configuration.redis_type",
    "redis_endpoint": "redis_configuration.endpoint",
    "redis_cpu": "redis_configuration.cpu",
    "redis_memory": "redis_configuration.memory",
    "redis_tls_enabled": "redis_configuration.tls",
    "redis_mode": "redis_configuration.mode",
}


class CacheSettings(SettingsModel):
    """Where both services keep their cache."""

    redis_configuration: RedisConfiguration = Field(default_factory=RedisConfiguration, description="Cache store.")

    @model_validator(mode="before")
    @classmethod
    def _removed_variables(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for old, new in REMOVED_VARIABLES.items():
                if old in data:
                    raise FieldProblem(old, "was removed in module v2.0.1", f"set {new} instead")
        return data

    def _cache_auth(self) -> None:
        """The cache's AUTH token (REDIS_PASSWORD): TLS on ElastiCache, both services, and one source."""
        redis = self.redis_configuration
        secrets = {service: getattr(self.secrets, service) if self.secrets else {} for service in ("gateway", "data_service")}
        passwords = [service for service in secrets if "REDIS_PASSWORD" in secrets[service]]
        if (redis.auth_secret_arn or passwords) and redis.redis_type == "aws-elastic-cache" and not redis.tls_enabled:
            raise FieldProblem("redis_configuration.tls", "ElastiCache accepts an AUTH token (REDIS_PASSWORD) only with "
                               "encryption in transit", "set tls: true")
        if self.dataservice_config.enable_dataservice and len(passwords) == 1:
            missing = "data-service" if passwords == ["gateway"] else "gateway"
            raise FieldProblem(f"secrets.{missing}.REDIS_PASSWORD", "is missing: both services connect to the cache",
                               "add it (the same ARN), or use redis_configuration.auth_secret_arn for both")
        if redis.create and redis.create.auth_token_rotation_days and not self.redeploy_on_secret_change:
            raise FieldProblem("redis_configuration.create.auth_token_rotation_days", "needs the services redeployed "
                               "with the new token before the old one is refused (redeploy_on_secret_change is false)",
                               "set redeploy_on_secret_change: true, or auth_token_rotation_days: 0")
        if redis.auth_secret_arn or redis.create:
            source = "redis_configuration.auth_secret_arn" if redis.auth_secret_arn else "the created cache's secret"
            for service in ("gateway", "data_service"):
                if "REDIS_PASSWORD" in secrets[service]:
                    alias = ServiceSecrets.model_fields[service].alias or service
                    raise FieldProblem(f"secrets.{alias}.REDIS_PASSWORD", f"is already set from {source}",
                                       "remove it from secrets")
