"""Portkey AI Gateway hybrid data plane on AWS ECS, as an AWS CDK construct library and app."""

from .config import Settings
from .gateway import PortkeyGateway
from .loader import ConfigError, load_config, settings_from_dict
from .stack import GatewayStack

__all__ = ["ConfigError", "GatewayStack", "PortkeyGateway", "Settings", "load_config", "settings_from_dict"]
