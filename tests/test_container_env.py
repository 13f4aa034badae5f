"""The container environment as pure functions of the settings (no CDK)."""

from portkey_gateway import settings_from_dict
from portkey_gateway.container_env import (
    CacheConnection,
    common_environment,
    configured_cache,
    data_service_environment,
    data_service_secrets,
    gateway_environment,
    gateway_secrets,
)
from portkey_gateway.specs import data_service_spec, gateway_spec, redis_spec

from .conftest import variant, with_data_service

ELASTICACHE = {"redis_type": "aws-elastic-cache", "endpoint": "portkey.abc123.clustercfg.use1.cache.amazonaws.com:6379",
               "tls": True, "mode": "cluster"}
AUTH = "arn:aws:secretsmanager:us-east-1:123456789012:secret:portkey/prod/redis-auth-AbCdEf"


def gw_env(settings):
    return gateway_environment(settings, configured_cache(settings))


def ds_env(settings):
    return data_service_environment(settings, configured_cache(settings))


def test_gateway_environment_in_gateway_mode():
    env = gw_env(settings_from_dict(variant()))
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
    env = gw_env(settings)
    assert env["PORT"] == "8000" and env["REDIS_URL"] == "redis://redis:6379"


def test_keys_without_a_value_never_override_or_appear_as_null():
    """Module defect 10: a null DATASERVICE_BASEPATH / MCP_PORT replaced the user's value; we leave the user's."""
    settings = settings_from_dict(variant(environment_variables={"gateway": {"DATASERVICE_BASEPATH": "http://ds:8081"}}))
    env = gw_env(settings)
    assert env["DATASERVICE_BASEPATH"] == "http://ds:8081"
    assert "MCP_PORT" not in env and "MCP_GATEWAY_BASE_URL" not in env
    assert all(isinstance(value, str) for value in env.values())


def test_mcp_base_url_is_passed_in_mcp_modes_only():
    mcp = gw_env(settings_from_dict(variant(server_mode="mcp", mcp_gateway_base_url=" https://mcp.example.com ")))
    assert (mcp["SERVER_MODE"], mcp["MCP_PORT"], mcp["MCP_GATEWAY_BASE_URL"]) == ("mcp", "8788", "https://mcp.example.com")
    assert "MCP_GATEWAY_BASE_URL" not in gw_env(settings_from_dict(variant()))


def test_common_environment_uses_bucket_region_and_builtin_redis():
    settings = settings_from_dict(variant(object_storage={"log_store_bucket": "b-logs", "bucket_region": "eu-west-1"}))
    assert common_environment(settings, configured_cache(settings))["LOG_STORE_REGION"] == "eu-west-1"
    assert common_environment(settings, configured_cache(settings))["CACHE_STORE"] == "redis"


def test_gateway_secrets_map_names_to_arns():
    settings = settings_from_dict(variant())
    secrets = gateway_secrets(settings, configured_cache(settings))
    assert list(secrets) == ["ORGANISATIONS_TO_SYNC", "PORTKEY_CLIENT_AUTH"]
    assert all(arn.startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:") for arn in secrets.values())


def test_service_specs():
    settings = settings_from_dict(variant(gateway_config={"gateway_port": 8000, "cpu": 512, "memory": 2048}))
    gateway = gateway_spec(settings, configured_cache(settings))
    assert [(p.name, p.port, p.alias, p.app_protocol) for p in gateway.ports] == [("gateway", 8000, "gateway", "http")]
    assert gateway.health_command == "wget -qO- http://localhost:8000/v1/health || exit 1"
    assert (gateway.cpu, gateway.memory, gateway.private_image) == (512, 2048, True)
    redis = redis_spec(settings)
    assert [(p.name, p.port) for p in redis.ports] == [("redis", 6379)]
    assert redis.private_image is False and redis.secrets == {} and redis.egress_https_only


def test_data_service_environment_as_the_module_computes_it():
    settings = settings_from_dict(variant(
        **with_data_service(port=8090),
        object_storage={"log_store_bucket": "logs-b", "finetune_bucket": "tune-b", "bucket_region": "us-east-1"},
        environment_variables={"gateway": {}, "data-service": {"HYBRID_DEPLOYMENT": "ON", "PORT": "1"}},
    ))
    assert ds_env(settings) == {
        "ALBUS_ENDPOINT": "https://albus.portkey.ai",
        "AWS_S3_FINETUNE_BUCKET": "tune-b",
        "CACHE_STORE": "redis",
        "FINETUNES_BUCKET": "tune-b",
        "GATEWAY_BASE_URL": "http://gateway:8787",
        "HYBRID_DEPLOYMENT": "ON",
        "LOG_EXPORTS_BUCKET": "logs-b",
        "LOG_STORE_REGION": "us-east-1",
        "PORT": "8090",  # computed from dataservice_config.port: the container listens there
        "REDIS_MODE": "standalone",
        "REDIS_TLS_ENABLED": "false",
        "REDIS_URL": "redis://redis:6379",
    }
    assert gw_env(settings)["DATASERVICE_BASEPATH"] == "http://data-service:8090"


def test_data_service_control_plane_endpoint_is_a_default_the_user_may_override():
    """v3.0.0 overwrote a user's ALBUS_ENDPOINT (e.g. a PrivateLink one) with the public endpoint."""
    settings = settings_from_dict(variant(**with_data_service(), environment_variables={
        "gateway": {}, "data-service": {"ALBUS_ENDPOINT": "https://aws-cp.portkey.ai/albus"}}))
    assert ds_env(settings)["ALBUS_ENDPOINT"] == "https://aws-cp.portkey.ai/albus"


def test_existing_elasticache_environment_and_auth_secret_on_both_services():
    settings = settings_from_dict(variant(redis_configuration={**ELASTICACHE, "auth_secret_arn": AUTH}, **with_data_service()))
    cache = configured_cache(settings)
    for env in (gw_env(settings), ds_env(settings)):
        assert {k: env[k] for k in ("CACHE_STORE", "REDIS_URL", "REDIS_TLS_ENABLED", "REDIS_MODE")} == {
            "CACHE_STORE": "aws-elastic-cache", "REDIS_URL": ELASTICACHE["endpoint"], "REDIS_TLS_ENABLED": "true",
            "REDIS_MODE": "cluster"}
    assert gateway_secrets(settings, cache)["REDIS_PASSWORD"] == AUTH
    assert data_service_secrets(settings, cache)["REDIS_PASSWORD"] == AUTH


def test_a_created_cache_brings_its_own_url_and_secret():
    settings = settings_from_dict(variant(redis_configuration={"redis_type": "aws-elastic-cache", "create": {}}))
    created = CacheConnection("primary.example:6380", "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf")
    env = gateway_environment(settings, created)
    assert (env["REDIS_URL"], env["REDIS_TLS_ENABLED"]) == ("primary.example:6380", "true")
    assert gateway_secrets(settings, created)["REDIS_PASSWORD"] == created.password_secret_arn


def test_data_service_spec():
    settings = settings_from_dict(variant(**with_data_service(desired_task_count=2, cpu=512, memory=1024, enable_execute_command=True),
                                          data_service_task_role_policy_arns={"x": "arn:aws:iam::123456789012:policy/x"}))
    spec = data_service_spec(settings, configured_cache(settings))
    assert (spec.name, spec.image.reference, spec.private_image, spec.cpu, spec.memory, spec.desired_count) == (
        "data-service", "docker.io/portkeyai/data-service:1.9.0", True, 512, 1024, 2)
    assert [(p.name, p.port, p.alias, p.app_protocol) for p in spec.ports] == [("data-service", 8081, "data-service", None)]
    assert spec.health_command == "wget -qO- http://localhost:8081/health || exit 1" and spec.health_start_period == 60
    assert spec.deployment is None and spec.execute_command and spec.task_policy_arns == ("arn:aws:iam::123456789012:policy/x",)
