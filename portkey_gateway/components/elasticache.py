"""ElastiCache as the cache store: a Valkey replication group created here, or access to an existing cache.

The created cache follows Portkey's guidance (`volatile-lru` eviction) and AWS's: private subnets, multi-AZ with
automatic failover when there are replicas and several AZs, encryption at rest and in transit, an AUTH token generated
into Secrets Manager (never in the template), daily snapshots and a final snapshot when it is deleted or replaced.
Its endpoint and token reach the containers without the user copying anything.
"""

from __future__ import annotations

from typing import Optional

from aws_cdk import CfnDeletionPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from ..compliance import acknowledge
from ..container_env import CacheConnection
from ..settings import CREATED_CACHE_PORT, RedisConfiguration
from .network import Network, no_default_egress
from .service import EcsService, admit

EVICTION_POLICY = "volatile-lru"  # Portkey's recommendation: only keys with a TTL are evicted
AUTH_TOKEN_LENGTH = 32  # ElastiCache accepts 16-128 printable characters; letters and digits only avoid its special-character rules


class ValkeyCache(Construct):
    """Exposes `connection` (for the containers), `security_group`, `replication_group`, `auth_secret`, `multi_az`,
    `node_ids`."""

    def __init__(self, scope: Construct, construct_id: str, *, redis: RedisConfiguration, name_prefix: str,
                 az_count: int, network: Network, encryption_key: Optional[kms.IKey] = None):
        super().__init__(scope, construct_id)
        create, cluster = redis.create, redis.mode == "cluster"
        self.auth_secret = secretsmanager.Secret(
            self, "AuthToken", description=f"AUTH token of the {name_prefix} cache (JSON key REDIS_PASSWORD)",
            encryption_key=encryption_key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template="{}", generate_string_key="REDIS_PASSWORD",
                exclude_punctuation=True, password_length=AUTH_TOKEN_LENGTH,
            ),
        )  # deleted with the stack: a cache restored from the final snapshot takes a new token anyway
        if not create.auth_token_rotation_days:
            acknowledge(self.auth_secret, "AwsSolutions-SMG4",
                        "The operator turned automatic rotation off (redis_configuration.create.auth_token_rotation_days: "
                        "0); `aws secretsmanager rotate-secret` is refused without a schedule, so the manual order in "
                        "docs/services.md (cache password rotation) applies (ROTATE, redeploy, SET)")
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=network.vpc, allow_all_outbound=False,
            description=f"{name_prefix} cache: TCP {CREATED_CACHE_PORT} from the Portkey services only",
        )
        no_default_egress(self.security_group)
        subnets = elasticache.CfnSubnetGroup(
            self, "Subnets", description=f"{name_prefix} cache: private subnets",
            subnet_ids=network.private_subnet_ids,
        )
        parameters = elasticache.CfnParameterGroup(
            self, "Parameters", description=f"{name_prefix} cache: {EVICTION_POLICY} eviction",
            cache_parameter_group_family=f"valkey{create.engine_version.split('.')[0]}",
            properties={"maxmemory-policy": EVICTION_POLICY, **({"cluster-enabled": "yes"} if cluster else {})},
        )
        # Cluster mode requires automatic failover (even without replicas); multi-AZ needs a replica in another AZ.
        self.multi_az = create.replicas >= 1 and az_count > 1
        failover = cluster or create.replicas >= 1
        self.replication_group = elasticache.CfnReplicationGroup(
            self, "ReplicationGroup",
            replication_group_description=f"Portkey gateway cache ({name_prefix})",
            engine="valkey",
            engine_version=create.engine_version,
            cache_node_type=create.node_type,
            port=CREATED_CACHE_PORT,
            cache_subnet_group_name=subnets.ref,
            cache_parameter_group_name=parameters.ref,
            security_group_ids=[self.security_group.security_group_id],
            num_cache_clusters=None if cluster else 1 + create.replicas,
            num_node_groups=create.shards if cluster else None,
            replicas_per_node_group=create.replicas if cluster else None,
            automatic_failover_enabled=failover,
            multi_az_enabled=self.multi_az,
            at_rest_encryption_enabled=True,
            # ElastiCache cannot re-encrypt a cache: a new key (or none) replaces it (a final snapshot is kept)
            kms_key_id=encryption_key.key_arn if encryption_key else None,
            transit_encryption_enabled=True,
            auth_token=self.auth_secret.secret_value_from_json("REDIS_PASSWORD").unsafe_unwrap(),  # a dynamic reference
            snapshot_retention_limit=create.snapshot_retention_days,
            auto_minor_version_upgrade=True,
        )
        if not self.multi_az:
            acknowledge(self.replication_group, "AwsSolutions-AEC4",
                        "The operator chose a single-AZ cache (redis_configuration.create.replicas: 0, or one AZ); any "
                        "replica in a second AZ turns on multi-AZ with automatic failover")
        # Deleting the stack, or a change that replaces the cache, leaves a final snapshot.
        self.replication_group.cfn_options.deletion_policy = CfnDeletionPolicy.SNAPSHOT
        self.replication_group.cfn_options.update_replace_policy = CfnDeletionPolicy.SNAPSHOT
        group = self.replication_group
        address, port = ((group.attr_configuration_end_point_address, group.attr_configuration_end_point_port) if cluster
                         else (group.attr_primary_end_point_address, group.attr_primary_end_point_port))
        self.connection = CacheConnection(f"{address}:{port}", self.auth_secret.secret_arn)

    def allow_from(self, client: EcsService) -> None:
        admit(self.security_group, client, CREATED_CACHE_PORT)

    @property
    def node_ids(self) -> list[str]:
        """The nodes' ids (CloudWatch's CacheClusterId): <group>-001, ...; in cluster mode <group>-0001-001, ..."""
        group = self.replication_group
        if group.num_node_groups:
            return [f"{group.ref}-{shard:04d}-{node:03d}" for shard in range(1, group.num_node_groups + 1)
                    for node in range(1, group.replicas_per_node_group + 2)]
        return [f"{group.ref}-{node:03d}" for node in range(1, group.num_cache_clusters + 1)]


class ExistingCacheAccess(Construct):
    """Opens an existing ElastiCache's security group to the Portkey services (the module leaves this manual)."""

    def __init__(self, scope: Construct, construct_id: str, *, redis: RedisConfiguration):
        super().__init__(scope, construct_id)
        self.port = redis.port
        self.security_group = ec2.SecurityGroup.from_security_group_id(self, "SecurityGroup", redis.security_group_id)

    def allow_from(self, client: EcsService) -> None:
        admit(self.security_group, client, self.port)
