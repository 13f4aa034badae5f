"""Settings: the Terraform module's input variables as typed, validated, immutable pydantic models.

Field names, nesting and defaults are the module's (`terraform/ecs/variables.tf`, v2.0.0 plus the v2.0.1/v3.0.0
additions), so a tfvars file reads almost verbatim as YAML. Every rule that the module lacks, or that it states but
does not enforce, is a validator whose message names the field and the fix. One module per area holds that area's
fields (as mixins of `Settings`), its cross-field rules and the values derived from them; this one puts them together.
Rules and derived values run on the whole `Settings`, so they may read other areas' fields. Nothing here imports CDK.
"""

from __future__ import annotations

from pydantic import ConfigDict, PrivateAttr, ValidationInfo, model_validator

from .base import LOG_RETENTION_DAYS, FieldProblem, Name, Region, SettingsModel, is_token, nested_model, pattern
from .cache import CREATED_CACHE_PORT, REMOVED_VARIABLES, CacheSettings, CreatedCache, RedisConfiguration
from .cluster import ClusterSettings, InstanceRefresh
from .deployments import (SMOKE_RETRY_PAUSE_SECONDS, CanaryConfiguration, CircuitBreaker, DeploymentAlarms,
                          DeploymentConfiguration, DeploymentSettings, LifecycleHook, LinearConfiguration, SmokeRequest)
from .edge import CustomDomain, EdgeSettings, WebFirewall
from .ingress import (LB_IDLE_RANGE, NLB_DRAIN_LAG_SECONDS, TLS_POLICIES, AlbRoutingConfiguration, IngressSettings,
                      StreamingTimeouts, TimeoutChain)
from .network import NetworkSettings
from .operations import LlmTraffic, Monitoring, OperationsSettings
from .private_connectivity import (PORTKEY_CONTROL_PLANE_CIDRS, ControlPlanePrivateLink, InboundPrivateLink,
                                   PrivateConnectivitySettings)
from .project import MANAGED_SECRET_KEYS, ImageRef, ImageSettings, ProjectSettings, ServiceEnvironment, ServiceSecrets
from .security import CREATE_KEY, RULE_PACKS, SecuritySettings
from .services import (AutoscalingConfig, BedrockAccess, DataServiceConfig, GatewayConfig, GatewaySettings,
                       ObjectStorage, ServiceSettings, TaskAccessSettings)

__all__ = [
    "CREATED_CACHE_PORT", "LB_IDLE_RANGE", "LOG_RETENTION_DAYS", "MANAGED_SECRET_KEYS", "NLB_DRAIN_LAG_SECONDS",
    "CREATE_KEY", "PORTKEY_CONTROL_PLANE_CIDRS", "REMOVED_VARIABLES", "RULE_PACKS", "SMOKE_RETRY_PAUSE_SECONDS", "TLS_POLICIES",
    "AlbRoutingConfiguration", "AutoscalingConfig", "BedrockAccess", "CanaryConfiguration", "CircuitBreaker", "ClusterSettings",
    "ControlPlanePrivateLink", "CreatedCache", "CustomDomain", "DataServiceConfig", "DeploymentAlarms",
    "DeploymentConfiguration", "FieldProblem", "GatewayConfig", "ImageRef", "InboundPrivateLink", "InstanceRefresh",
    "LifecycleHook", "LinearConfiguration", "LlmTraffic", "Monitoring", "Name", "NetworkSettings", "ObjectStorage", "RedisConfiguration", "Region",
    "SecuritySettings", "ServiceEnvironment", "ServiceSecrets", "Settings", "SettingsModel", "SmokeRequest", "StreamingTimeouts",
    "TimeoutChain", "WebFirewall", "is_token", "nested_model", "pattern",
]


# Pydantic orders the fields base by base, from the last base to the first: the areas are listed backwards so that the
# fields keep the module's order (the schema, the settings table in docs/configuration.md, and which of several errors
# comes first).
class Settings(SecuritySettings, PrivateConnectivitySettings, OperationsSettings, EdgeSettings, IngressSettings, TaskAccessSettings,
               CacheSettings, ServiceSettings, DeploymentSettings, GatewaySettings, ImageSettings, ClusterSettings,
               NetworkSettings, ProjectSettings):
    """One deployment of the Portkey hybrid data plane: the Terraform module's variables, plus what CDK needs."""

    model_config = ConfigDict(title="PortkeyGatewaySettings")

    _rules_deferred: bool = PrivateAttr(False)

    @classmethod
    def _keyword_context(cls) -> dict:
        """Built with keyword arguments, every value is checked at once, and the rules across fields wait for
        `PortkeyGateway`, which runs them with the CDK objects it is given (a VPC, a cluster, secrets, ...) in place
        of the ids they replace, with the same one-line errors."""
        return {"defer_rules": True}

    @property
    def rules_deferred(self) -> bool:
        """Built with keyword arguments: the rules across fields have not run yet (`PortkeyGateway` runs them)."""
        return self._rules_deferred

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> "Settings":
        """The areas' cross-field rules, in a fixed order: of several mistakes, the same one is reported first."""
        if (info.context or {}).get("defer_rules"):
            self._rules_deferred = True
            return self
        for check in (self._env_and_secrets, self._network, self._cluster, self._server_mode, self._load_balancer,
                      self._routing, self._edge, self._mcp_url, self._timeouts, self._deployments,
                      self._deployment_alarms, self._autoscaling, self._capacity, self._images, self._services,
                      self._cache_auth, self._private_networking, self._monitoring, self._encryption):
            check()
        return self

    @property
    def unchecked(self) -> list[str]:
        """What a deploy-time value (a CDK token) keeps the rules from checking before synthesis, a sentence each;
        the construct reports them, so that a token never passes a comparison silently."""
        notes = []
        if is_token(self.tls_certificate_arn):
            notes.append(f"tls_certificate_arn is known only at deploy: that the certificate is in {self.aws_region} "
                         "(ACM certificates are regional) is checked by CloudFormation, not here")
        # Managed secrets come from this environment's own secrets stack: same account and region by construction.
        secrets = [self.docker_cred_secret_arn, *(arn for service in (self.secrets.gateway, self.secrets.data_service)
                                                 for arn in service.values())] if self.secrets and not self.managed_secrets else []
        if self.redeploy_on_secret_change and any(is_token(arn) for arn in secrets):
            notes.append(f"a secret ARN is known only at deploy: that each secret is in {self.aws_region} of this account "
                         "(where the secret-change redeploy hears of new values) is not checked here")
        if is_token(self.encryption_key) and not self.managed_secrets:  # else the secrets stack's: same region
            notes.append(f"encryption_key is known only at deploy: that the key is in {self.aws_region} (KMS keys are "
                         "regional) is checked by CloudFormation, not here")
        return notes
