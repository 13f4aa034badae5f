"""What each container is given: environment and secrets, computed from settings. Pure functions, no CDK.

The module's merge rule holds (user map, then common keys, then service keys; computed keys win), with one fix: a
computed key that has no value is left out instead of being emitted as null over the user's value (defect 10).
"""

from __future__ import annotations

from .config import Settings

BUILT_IN_REDIS_URL = "redis://redis:6379"


def _merge(user: dict[str, str], *computed: dict[str, str | None]) -> dict[str, str]:
    merged = dict(user)
    for layer in computed:
        merged.update({key: value for key, value in layer.items() if value is not None})
    return dict(sorted(merged.items()))


def common_environment(settings: Settings) -> dict[str, str]:
    """Cache and log-store keys shared by the gateway and the data service (module `common_env`)."""
    redis = settings.redis_configuration
    return {
        "CACHE_STORE": redis.redis_type,
        "REDIS_URL": BUILT_IN_REDIS_URL if redis.redis_type == "redis" else redis.endpoint,
        "REDIS_TLS_ENABLED": "true" if redis.tls else "false",
        "REDIS_MODE": redis.mode,
        "LOG_STORE_REGION": settings.object_storage.bucket_region,
    }


def gateway_environment(settings: Settings) -> dict[str, str]:
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
    }
    user = settings.environment_variables.gateway if settings.environment_variables else {}
    return _merge(user, common_environment(settings), computed)


def gateway_secrets(settings: Settings) -> dict[str, str]:
    """ENV_NAME -> secret ARN for the gateway; ECS reads JSON key ENV_NAME of that secret."""
    return dict(sorted(settings.secrets.gateway.items())) if settings.secrets else {}
