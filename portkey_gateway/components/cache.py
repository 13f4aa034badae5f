"""The cache store the gateway reads prompts, configs and provider keys from: the built-in Redis service.

Reached as `redis:6379` through Service Connect; its security group admits only the services given to `allow_from`.
"""

from __future__ import annotations

from constructs import Construct

from ..specs import REDIS_PORT, ServiceSpec
from .service import EcsService, ServicePlatform


class Cache(Construct):
    """Exposes `redis`, the service `spec` (`specs.redis_spec`) describes."""

    def __init__(self, scope: Construct, construct_id: str, *, spec: ServiceSpec, platform: ServicePlatform):
        super().__init__(scope, construct_id)
        self.redis = EcsService(self, "Redis", spec=spec, platform=platform)

    def allow_from(self, client: EcsService) -> None:
        """Admit `client`'s tasks on the Redis port."""
        self.redis.allow_from(client, REDIS_PORT)
