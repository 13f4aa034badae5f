#!/usr/bin/env python3
"""The CDK app: `-c env=NAME` deploys config/NAME.yaml (default dev); `-c config=PATH` deploys any config file;
`-c pipeline=true` is the delivery pipeline of config/pipeline.yaml, which deploys its environments in order."""

import sys

from aws_cdk import App

from portkey_gateway.pipeline import PipelineStack, load_pipeline
from portkey_gateway.stack import add_environment
from portkey_gateway.compliance import enable_checks
from portkey_gateway.loader import ConfigError, load_config, resolve_config_path


def main() -> None:
    app = App()
    try:
        if str(app.node.try_get_context("pipeline")).lower() == "true":
            pipeline, environments = load_pipeline()
            PipelineStack(app, f"{pipeline.project_name}-pipeline", pipeline=pipeline, environments=environments)
        else:
            add_environment(app, load_config(resolve_config_path(app.node.try_get_context("env"),
                                                                 app.node.try_get_context("config"))))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    enable_checks(app)
    app.synth()


if __name__ == "__main__":
    main()
