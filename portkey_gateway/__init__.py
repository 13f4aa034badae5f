"""Portkey AI Gateway hybrid data plane on AWS ECS, as an AWS CDK construct library and app.

Public API:
- `Settings` (and the nested models in `portkey_gateway.settings`): every option, validated; build it with
  `settings_from_dict({...})` in Python or `load_config(path)` from YAML (the same validation and one-line errors,
  raised as `ConfigError`).
- `PortkeyGateway(scope, id, settings=...)`: the L3 construct, to put into any stack of your own.
- `GatewayStack`, `SecretsStack`, `add_environment(scope, settings)`: one environment's stacks, as the app builds them.
- `portkey_gateway.pipeline.PipelineStack`: the self-mutating delivery pipeline (for this repository's app: it reads
  the CLI pin from the repository's package.json).
- `enable_checks(app)`: cdk-nag's AwsSolutions checks, as the app runs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# Loaded on first use, so that the tools (`python -m portkey_gateway.cost`, `.diagram`, `.migrate`) start without the
# CDK and its Node.js process.
_EXPORTS = {
    "ConfigError": "loader", "GatewayStack": "stack", "PortkeyGateway": "gateway", "SecretsStack": "secrets_stack",
    "Settings": "settings", "add_environment": "stack", "enable_checks": "compliance", "load_config": "loader",
    "settings_from_dict": "loader",
}
__all__ = ["ConfigError", "GatewayStack", "PortkeyGateway", "SecretsStack", "Settings", "add_environment",
           "enable_checks", "load_config", "settings_from_dict"]

if TYPE_CHECKING:
    from .compliance import enable_checks
    from .gateway import PortkeyGateway
    from .loader import ConfigError, load_config, settings_from_dict
    from .secrets_stack import SecretsStack
    from .settings import Settings
    from .stack import GatewayStack, add_environment


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
