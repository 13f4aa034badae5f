"""What each ECS service is, as plain data: the one place that says how the gateway and Redis differ.

The generic service component turns a `ServiceSpec` into CDK resources, so every service is built the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from . import container_env
from .config import CircuitBreaker, Settings

CONTAINER_HEALTH = {"interval": 30, "timeout": 5, "retries": 3}  # Portkey's own ECS values
LB_HEALTH_CHECK_GRACE_SECONDS = 150  # the module's grace period for a service behind a load balancer
GATEWAY_HEALTH_PATH = "/v1/health"
REDIS_PORT = 6379


@dataclass(frozen=True)
class PortSpec:
    """A container port, published in Service Connect as `alias:port`."""

    name: str
    port: int
    alias: str
    app_protocol: Optional[str] = None  # "http" for the gateway's listeners, None for raw TCP


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # container name, and part of resource names
    image: str
    private_image: bool  # pulled with the Docker credentials secret
    cpu: int
    memory: int
    ports: tuple[PortSpec, ...]
    health_command: str
    health_start_period: int
    desired_count: int
    circuit_breaker: CircuitBreaker
    log_retention_days: int
    environment: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)  # ENV_NAME -> secret ARN
    egress_https_only: bool = False  # True for services that only talk to AWS (Service Connect), never the internet


def gateway_spec(settings: Settings) -> ServiceSpec:
    config = settings.gateway_config
    ports = []
    if settings.server_mode in ("gateway", "all"):
        ports.append(PortSpec("gateway", config.gateway_port, "gateway", "http"))
    if settings.server_mode in ("mcp", "all"):
        ports.append(PortSpec("mcp", config.mcp_port, "mcp", "http"))
    health_port = config.mcp_port if settings.server_mode == "mcp" else config.gateway_port
    return ServiceSpec(
        name="gateway",
        image=settings.gateway_image.reference,
        private_image=True,
        cpu=config.cpu,
        memory=config.memory,
        ports=tuple(ports),
        health_command=f"wget -qO- http://localhost:{health_port}{GATEWAY_HEALTH_PATH} || exit 1",
        health_start_period=60,
        desired_count=config.desired_task_count,
        circuit_breaker=settings.gateway_deployment_circuit_breaker,
        log_retention_days=14,
        environment=container_env.gateway_environment(settings),
        secrets=container_env.gateway_secrets(settings),
    )


def redis_spec(settings: Settings) -> ServiceSpec:
    redis = settings.redis_configuration
    return ServiceSpec(
        name="redis",
        image=settings.redis_image.reference,
        private_image=False,
        cpu=redis.cpu,
        memory=redis.memory,
        ports=(PortSpec("redis", REDIS_PORT, "redis"),),
        health_command="redis-cli -h 127.0.0.1 ping | grep PONG || exit 1",
        health_start_period=10,
        desired_count=1,
        circuit_breaker=CircuitBreaker(enable=True, rollback=True),
        log_retention_days=7,
        egress_https_only=True,
    )
