"""The container environment as pure functions of the settings (no CDK)."""

from portkey_gateway import settings_from_dict
from portkey_gateway.container_env import common_environment, gateway_environment, gateway_secrets
from portkey_gateway.specs import gateway_spec, redis_spec

from .conftest import variant


def test_gateway_environment_in_gateway_mode():
    env = gateway_environment(settings_from_dict(variant()))
    assert env == {
        "ANALYTICS_STORE": "control_plane",
        "CACHE_STORE": "redis",
        "LOG_STORE": "s3_assume",
        "LOG_STORE_GENERATIONS_BUCKET": "portkey-gateway-dev-logs",
        "LOG_STORE_REGION": "us-east-1",
        "PORT": "8787",
        "REDIS_MODE": "standalone",
        "REDIS_TLS_ENABLED": "false",
        "REDIS_URL": "redis://redis:6379",
        "REQUEST_TIMEOUT": "300000",
        "SERVER_MODE": "",
        "SERVICE_NAME": "gateway",
    }


def test_computed_keys_win_over_user_values():
    settings = settings_from_dict(variant(environment_variables={"gateway": {"PORT": "9999", "REDIS_URL": "redis://x:1"}},
                                          gateway_config={"gateway_port": 8000}))
    env = gateway_environment(settings)
    assert env["PORT"] == "8000" and env["REDIS_URL"] == "redis://redis:6379"


def test_keys_without_a_value_never_override_or_appear_as_null():
    """Module defect 10: a null DATASERVICE_BASEPATH / MCP_PORT replaced the user's value; we leave the user's."""
    settings = settings_from_dict(variant(environment_variables={"gateway": {"DATASERVICE_BASEPATH": "http://ds:8081"}}))
    env = gateway_environment(settings)
    assert env["DATASERVICE_BASEPATH"] == "http://ds:8081"
    assert "MCP_PORT" not in env and "MCP_GATEWAY_BASE_URL" not in env
    assert all(isinstance(value, str) for value in env.values())


def test_mcp_base_url_is_passed_in_mcp_modes_only():
    mcp = gateway_environment(settings_from_dict(variant(server_mode="mcp", mcp_gateway_base_url=" https://mcp.example.com ")))
    assert (mcp["SERVER_MODE"], mcp["MCP_PORT"], mcp["MCP_GATEWAY_BASE_URL"]) == ("mcp", "8788", "https://mcp.example.com")
    assert "MCP_GATEWAY_BASE_URL" not in gateway_environment(settings_from_dict(variant()))


def test_common_environment_uses_bucket_region_and_builtin_redis():
    settings = settings_from_dict(variant(object_storage={"log_store_bucket": "b-logs", "bucket_region": "eu-west-1"}))
    assert common_environment(settings)["LOG_STORE_REGION"] == "eu-west-1"
    assert common_environment(settings)["CACHE_STORE"] == "redis"


def test_gateway_secrets_map_names_to_arns():
    settings = settings_from_dict(variant())
    secrets = gateway_secrets(settings)
    assert list(secrets) == ["ORGANISATIONS_TO_SYNC", "PORTKEY_CLIENT_AUTH"]
    assert all(arn.startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:") for arn in secrets.values())


def test_service_specs():
    settings = settings_from_dict(variant(gateway_config={"gateway_port": 8000, "cpu": 512, "memory": 2048}))
    gateway = gateway_spec(settings)
    assert [(p.name, p.port, p.alias, p.app_protocol) for p in gateway.ports] == [("gateway", 8000, "gateway", "http")]
    assert gateway.health_command == "wget -qO- http://localhost:8000/v1/health || exit 1"
    assert (gateway.cpu, gateway.memory, gateway.private_image) == (512, 2048, True)
    redis = redis_spec(settings)
    assert [(p.name, p.port) for p in redis.ports] == [("redis", 6379)]
    assert redis.private_image is False and redis.secrets == {} and redis.egress_https_only
