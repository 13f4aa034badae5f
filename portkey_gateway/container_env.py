"""What each container is given: environment and secrets, computed from settings. Pure functions, no CDK.

The module's merge rule holds (user map, then common keys, then service keys; computed keys win), with two fixes: a
computed key that has no value is left out instead of being emitted as null over the user's value (defect 10), and
control-plane endpoints (the data service's, and the PrivateLink paths) are defaults the user may override (v3.0.0
overrode them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .llm_metrics import OTLP_HTTP_PORT
from .settings import Settings

BUILT_IN_REDIS_URL = "redis://redis:6379"
ALBUS_ENDPOINT = "https://albus.portkey.ai"  # the data service's control-plane endpoint (module v3.0.0)
PRIVATE_CONTROL_PLANE = "https://aws-cp.portkey.ai"  # the control plane behind Portkey's PrivateLink endpoint service
# The gateway's control-plane base paths through PrivateLink (the guide's "Integrating Gateway with Control Plane").
PRIVATE_CONTROL_PLANE_PATHS = {
    "ALBUS_BASEPATH": f"{PRIVATE_CONTROL_PLANE}/albus",
    "CONTROL_PLANE_BASEPATH": f"{PRIVATE_CONTROL_PLANE}/api/v1",
    "SOURCE_SYNC_API_BASEPATH": f"{PRIVATE_CONTROL_PLANE}/api/v1/sync",
    "CONFIG_READER_PATH": f"{PRIVATE_CONTROL_PLANE}/api/model-configs",
}


@dataclass(frozen=True)
class CacheConnection:
    """Where both services find the cache, and the secret holding its AUTH token (JSON key REDIS_PASSWORD), if any.
    For a cache created in the stack these are CloudFormation references, resolved at deploy time."""

    url: str
    password_secret_arn: Optional[str] = None


def configured_cache(settings: Settings) -> CacheConnection:
    """The built-in Redis or an existing ElastiCache, as the settings name it (a created cache brings its own)."""
    redis = settings.redis_configuration
    if redis.redis_type == "redis":
        return CacheConnection(BUILT_IN_REDIS_URL)
    return CacheConnection(redis.endpoint, redis.auth_secret_arn)


def _merge(user: dict[str, str], *computed: dict[str, str | None]) -> dict[str, str]:
    merged = dict(user)
    for layer in computed:
        merged.update({key: value for key, value in layer.items() if value is not None})
    return dict(sorted(merged.items()))


def common_environment(settings: Settings, cache: CacheConnection) -> dict[str, str]:
    """Cache and log-store keys shared by the gateway and the data service (module `common_env`)."""
    redis = settings.redis_configuration
    return {
        "CACHE_STORE": redis.redis_type,
        "REDIS_URL": cache.url,
        "REDIS_TLS_ENABLED": "true" if redis.tls_enabled else "false",
        "REDIS_MODE": redis.mode,
        "LOG_STORE_REGION": settings.object_storage.bucket_region,
    }


def gateway_environment(settings: Settings, cache: CacheConnection) -> dict[str, str]:
    """The gateway container's environment (module `gateway_env`)."""
    mode = settings.server_mode
    serves_mcp = mode in ("mcp", "all")
    data_service = settings.dataservice_config
    computed = {
        "SERVER_MODE": "" if mode == "gateway" else mode,
        "PORT": str(settings.gateway_config.gateway_port),
        "MCP_PORT": str(settings.gateway_config.mcp_port) if serves_mcp else None,
        "LOG_STORE_GENERATIONS_BUCKET": settings.object_storage.log_store_bucket,
        "DATASERVICE_BASEPATH": f"http://data-service:{data_service.port}" if data_service.enable_dataservice else None,
        "MCP_GATEWAY_BASE_URL": settings.mcp_base_url if serves_mcp else None,
        "REQUEST_TIMEOUT": str(settings.timeout_chain.request_timeout_ms),
        **llm_metrics_environment(settings),
    }
    user = settings.environment_variables.gateway if settings.environment_variables else {}
    defaults = PRIVATE_CONTROL_PLANE_PATHS if settings.control_plane_private_link.enabled else {}
    return _merge({**defaults, **user}, common_environment(settings, cache), computed)


def llm_metrics_environment(settings: Settings) -> dict[str, str | None]:
    """What the collector beside the gateway needs from it: the model label on request, traces pushed to the
    collector on localhost (the task's network namespace; OTLP over HTTP), portkey-runtime.md section 7."""
    llm = settings.monitoring.llm_traffic
    collected = settings.collects_llm_metrics
    return {
        "PROMETHEUS_INCLUDE_MODEL_LABEL": "true" if collected and llm.include_model else None,
        "OTEL_PUSH_ENABLED": "true" if collected and llm.traces else None,
        "OTEL_ENDPOINT": f"http://localhost:{OTLP_HTTP_PORT}" if collected and llm.traces else None,
    }


def data_service_environment(settings: Settings, cache: CacheConnection) -> dict[str, str]:
    """The data service's environment (module `dataservice_env`, plus v3.0.0's PORT and control-plane endpoint)."""
    storage = settings.object_storage
    computed = {
        "PORT": str(settings.dataservice_config.port),
        "LOG_EXPORTS_BUCKET": storage.exports_bucket,
        "FINETUNES_BUCKET": storage.finetunes_bucket,
        "AWS_S3_FINETUNE_BUCKET": storage.finetunes_bucket,
        "GATEWAY_BASE_URL": f"http://gateway:{settings.gateway_config.gateway_port}",  # the settings refuse mcp mode
    }
    user = settings.environment_variables.data_service if settings.environment_variables else {}
    albus = PRIVATE_CONTROL_PLANE_PATHS["ALBUS_BASEPATH"] if settings.control_plane_private_link.enabled else ALBUS_ENDPOINT
    return _merge({"ALBUS_ENDPOINT": albus, **user}, common_environment(settings, cache), computed)


def _secrets(user: dict[str, str], cache: CacheConnection) -> dict[str, str]:
    secrets = dict(user)
    if cache.password_secret_arn:  # the settings refuse a second REDIS_PASSWORD
        secrets["REDIS_PASSWORD"] = cache.password_secret_arn
    return dict(sorted(secrets.items()))


def gateway_secrets(settings: Settings, cache: CacheConnection) -> dict[str, str]:
    """ENV_NAME -> secret ARN for the gateway; ECS reads JSON key ENV_NAME of that secret."""
    return _secrets(settings.secrets.gateway if settings.secrets else {}, cache)


def data_service_secrets(settings: Settings, cache: CacheConnection) -> dict[str, str]:
    return _secrets(settings.secrets.data_service if settings.secrets else {}, cache)
