"""What each ECS service is, as plain data: the one place that says how the gateway and Redis differ.

The generic service component turns a `ServiceSpec` into CDK resources, so every service is built the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional

from . import container_env, llm_metrics
from .settings import AutoscalingConfig, CircuitBreaker, DataServiceConfig, DeploymentConfiguration, GatewayConfig, ImageRef, Settings

CONTAINER_HEALTH = {"interval": 30, "timeout": 5, "retries": 3}  # Portkey's own ECS values
LB_HEALTH_CHECK_GRACE_SECONDS = 150  # the module's grace period for a service behind a load balancer
GATEWAY_HEALTH_PATH = "/v1/health"
REDIS_PORT = 6379
DATA_SERVICE_HEALTH_PATH = "/health"
APP_HEALTH_START_SECONDS = 60  # the module's start period for the gateway and the data service


@dataclass(frozen=True)
class SidecarSpec:
    """A helper container beside the application in its task (not essential: it never takes the application down)."""

    name: str
    image: str
    cpu: int  # CPU units reserved for it and added to the task's; 0: it shares the application's
    memory: int  # hard limit (MiB)
    memory_reservation: int
    environment: dict[str, str]


@dataclass(frozen=True)
class PortSpec:
    """A container port, published in Service Connect as `alias:port`."""

    name: str
    port: int
    alias: str
    app_protocol: Optional[str] = None  # "http" for the gateway's listeners, None for raw TCP
    timeout: Optional[int] = None  # Service Connect per-request and idle timeout (s); its HTTP default of 15 s cuts streams


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # container name, and part of resource names
    image: ImageRef
    private_image: bool  # a private Portkey image: from Docker Hub itself, pulled with the Docker credentials secret
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
    stop_timeout: Optional[int] = None  # seconds from SIGTERM to SIGKILL; None: the ECS agent's 30 s
    autoscaling: AutoscalingConfig = field(default_factory=AutoscalingConfig)
    deployment: Optional[DeploymentConfiguration] = None  # None: rolling
    execute_command: bool = False  # ECS Exec
    task_policy_arns: tuple[str, ...] = ()  # managed policies the operator attaches to the task role
    sidecar: Optional[SidecarSpec] = None  # counted in the task's size on top of the application's

    @property
    def task_cpu(self) -> int:
        return self.cpu + (self.sidecar.cpu if self.sidecar else 0)

    @property
    def task_memory(self) -> int:
        return self.memory + (self.sidecar.memory if self.sidecar else 0)


@dataclass(frozen=True)
class IngressRoute:
    """One way into the gateway container through the load balancer: a target group, and on an ALB a listener rule."""

    name: str  # "gateway" or "mcp"
    port: int  # container port
    priority: int  # ALB listener-rule priority (the module's: gateway 100, MCP 200)
    host: Optional[str] = None  # Host-header condition
    path_prefix: Optional[str] = None  # path routing: matched as <prefix>/* and stripped before forwarding

    @property
    def path_pattern(self) -> str:
        return f"{self.path_prefix}/*" if self.path_prefix else "/*"

    @property
    def rewrite(self) -> Optional[tuple[str, str]]:
        """(regex, replacement) of the ALB URL rewrite that strips the prefix, as the module does."""
        return (f"^{self.path_prefix}/(.*)$", "/$1") if self.path_prefix else None


def _listener_port(settings: Settings, name: str) -> int:
    return settings.gateway_config.gateway_port if name == "gateway" else settings.gateway_config.mcp_port


def ingress_routes(settings: Settings) -> tuple[IngressRoute, ...]:
    """The module's routing rules (reference section 2.10): one per served listener; conditions only on an ALB."""
    routing = settings.alb_routing_configuration
    alb = settings.lb_type == "application"
    return tuple(
        IngressRoute(
            name=name,
            port=_listener_port(settings, name),
            priority=priority,
            host=(routing.host(name) or None) if alb else None,
            path_prefix=(routing.path(name) or None) if alb else None,
        )
        for name, priority in (("gateway", 100), ("mcp", 200))
        if name in settings.served
    )


def _portkey_application(settings: Settings, config: GatewayConfig | DataServiceConfig, **fields) -> ServiceSpec:
    """What the gateway and the data service share: Portkey's private images, the module's start period, the log
    retention setting, size, count and ECS Exec from their config block."""
    return ServiceSpec(
        private_image=True,
        cpu=config.cpu,
        memory=config.memory,
        desired_count=config.desired_task_count,
        health_start_period=APP_HEALTH_START_SECONDS,
        log_retention_days=settings.log_retention_days,
        execute_command=config.enable_execute_command,
        **fields,
    )


def gateway_spec(settings: Settings, cache: container_env.CacheConnection) -> ServiceSpec:
    timeouts = settings.timeout_chain
    ports = tuple(PortSpec(name, _listener_port(settings, name), name, "http", timeouts.service_connect_timeout)
                  for name in settings.served)
    health_port = ports[0].port  # the gateway listener, or MCP's in mcp mode
    return _portkey_application(
        settings, settings.gateway_config,
        name="gateway",
        image=settings.gateway_image,
        ports=ports,
        health_command=f"wget -qO- http://localhost:{health_port}{GATEWAY_HEALTH_PATH} || exit 1",
        circuit_breaker=settings.gateway_deployment_circuit_breaker,
        environment=container_env.gateway_environment(settings, cache),
        secrets=container_env.gateway_secrets(settings, cache),
        stop_timeout=timeouts.stop_timeout,
        autoscaling=settings.gateway_autoscaling,
        deployment=settings.gateway_deployment_configuration,
        task_policy_arns=tuple(settings.gateway_task_role_policy_arns.values()),
        sidecar=llm_metrics_collector(settings),
    )


def llm_metrics_collector(settings: Settings) -> Optional[SidecarSpec]:
    """The CloudWatch agent beside the gateway, scraping its /metrics on localhost (llm_metrics.py says why this
    collector): its OpenTelemetry pipeline in CW_OTEL_CONFIG_CONTENT, its own configuration (the region) in
    CW_CONFIG_CONTENT."""
    if not settings.collects_llm_metrics:
        return None
    llm = settings.monitoring.llm_traffic
    config = llm_metrics.collector_config(
        settings.llm_metrics_namespace, [("gateway", settings.gateway_config.gateway_port, "/metrics")],
        llm.interval_seconds, llm.include_model, llm.traces, llm.trace_sampling, region=settings.aws_region,
        log_group_name=llm_metrics_log_group(settings), remote_write=llm.remote_write)
    llm_metrics.validate_config(config)
    return SidecarSpec(
        # A scrape a minute: it shares the gateway's CPU rather than reserve units that would take a gateway task's
        # place on an instance (1024 + 128 no longer fits twice on 2 vCPUs); its memory is its own.
        name="collector", image=llm_metrics.COLLECTOR_IMAGE, cpu=0,
        memory=llm_metrics.COLLECTOR_MEMORY_MIB, memory_reservation=llm_metrics.COLLECTOR_MEMORY_RESERVATION_MIB,
        environment={llm_metrics.OTEL_CONFIG_ENV: llm_metrics.collector_yaml(config),
                     llm_metrics.AGENT_CONFIG_ENV: json.dumps(llm_metrics.agent_config(settings.aws_region)),
                     # On AWS: the agent skips probing the instance metadata, which awsvpc tasks may not reach.
                     "RUN_IN_AWS": "True"})


def llm_metrics_log_group(settings: Settings) -> str:
    """Where the collector writes the metrics (as CloudWatch embedded metric format), created here."""
    return f"/ecs/{settings.project_name}/{settings.environment}/llm-metrics"


def data_service_spec(settings: Settings, cache: container_env.CacheConnection) -> ServiceSpec:
    """The module's data service (section 2.8): always rolling, no load balancer, reached as data-service:<port>."""
    port = settings.dataservice_config.port
    return _portkey_application(
        settings, settings.dataservice_config,
        name="data-service",
        image=settings.data_service_image,
        ports=(PortSpec("data-service", port, "data-service"),),
        health_command=f"wget -qO- http://localhost:{port}{DATA_SERVICE_HEALTH_PATH} || exit 1",
        circuit_breaker=settings.dataservice_deployment_circuit_breaker,
        environment=container_env.data_service_environment(settings, cache),
        secrets=container_env.data_service_secrets(settings, cache),
        autoscaling=settings.dataservice_autoscaling,
        task_policy_arns=tuple(settings.data_service_task_role_policy_arns.values()),
    )


def redis_spec(settings: Settings) -> ServiceSpec:
    redis = settings.redis_configuration
    return ServiceSpec(
        name="redis",
        image=settings.redis_image,
        private_image=False,
        cpu=redis.cpu,
        memory=redis.memory,
        ports=(PortSpec("redis", REDIS_PORT, "redis"),),
        health_command="redis-cli -h 127.0.0.1 ping | grep PONG || exit 1",
        health_start_period=10,
        desired_count=1,
        circuit_breaker=CircuitBreaker(enable=True, rollback=True),
        log_retention_days=settings.log_retention_days,
        egress_https_only=True,
        execute_command=redis.enable_execute_command,
    )
