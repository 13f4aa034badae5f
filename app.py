#!/usr/bin/env python3
"""The CDK app: `-c env=NAME` deploys config/NAME.yaml (default dev); `-c config=PATH` deploys any config file."""

import sys

from aws_cdk import App

from portkey_gateway import GatewayStack
from portkey_gateway.compliance import enable_checks
from portkey_gateway.loader import ConfigError, load_config, resolve_config_path


def main() -> None:
    app = App()
    try:
        settings = load_config(resolve_config_path(app.node.try_get_context("env"), app.node.try_get_context("config")))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    GatewayStack(app, settings.name_prefix, settings=settings)
    enable_checks(app)
    app.synth()


if __name__ == "__main__":
    main()
