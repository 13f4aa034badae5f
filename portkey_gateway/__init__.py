"""Portkey AI Gateway hybrid data plane on AWS ECS, as an AWS CDK construct library and app.

Public API:
- `Settings` (and the nested models in `portkey_gateway.config`): every option, validated; build it with
  `settings_from_dict({...})` in Python or `load_config(path)` from YAML (the same validation and one-line errors,
  raised as `ConfigError`).
- `PortkeyGateway(scope, id, settings=...)`: the L3 construct, to put into any stack of your own.
- `GatewayStack`, `SecretsStack`, `add_environment(scope, settings)`: one environment's stacks, as the app builds them.
- `portkey_gateway.pipeline.PipelineStack`: the self-mutating delivery pipeline (for this repository's app: it reads
  the CLI pin from the repository's package.json).
- `enable_checks(app)`: cdk-nag's AwsSolutions checks, as the app runs them.
"""

from .compliance import enable_checks
from .config import Settings
from .gateway import PortkeyGateway
from .loader import ConfigError, load_config, settings_from_dict
from .secrets_stack import SecretsStack
from .stack import GatewayStack, add_environment

__all__ = ["ConfigError", "GatewayStack", "PortkeyGateway", "SecretsStack", "Settings", "add_environment",
           "enable_checks", "load_config", "settings_from_dict"]
