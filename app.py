#!/usr/bin/env python3
"""The CDK app: `-c env=NAME` deploys config/NAME.yaml (default dev) as one stack, so that `cdk deploy -c env=NAME`
needs no stack name; `-c config=PATH` deploys any config file; `-c secrets=true` is instead that environment's secrets
stack (`managed_secrets`), deployed once before the first deploy; `-c pipeline=true` is the delivery pipeline of
config/pipeline.yaml, which deploys its environments in order."""

import sys

from aws_cdk import App

from portkey_gateway.loader import ConfigError, load_config, resolve_config_path


def main() -> None:
    app = App()
    try:
        packs = add_stacks(app)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    from portkey_gateway.compliance import enable_checks

    enable_checks(app, packs)
    app.synth()


def add_stacks(app: App) -> list[str]:
    """Adds the stacks the context asks for and returns the cdk-nag packs they ask for. A configuration is read and
    checked before the constructs are imported (a second of the synth), so that a mistake is reported at once."""
    if str(app.node.try_get_context("pipeline")).lower() == "true":
        from portkey_gateway.pipeline import PipelineStack, load_pipeline  # CDK Pipelines loads slowly: only here

        pipeline, environments = load_pipeline()
        # Packs check every stack of an app, and the pipeline's own (CDK Pipelines') is not built for them: the
        # pipeline's synth step runs `make test` first, which synthesizes each environment with its own packs.
        PipelineStack(app, f"{pipeline.project_name}-pipeline", pipeline=pipeline, environments=environments)
        return []
    settings = load_config(resolve_config_path(app.node.try_get_context("env"), app.node.try_get_context("config")))
    if str(app.node.try_get_context("secrets")).lower() == "true":
        if not settings.managed_secrets:
            raise ConfigError([f"-c secrets=true: {settings.name_prefix} has no secrets stack (managed_secrets is "
                               "false); deploy without it"])
        from portkey_gateway.secrets_stack import add_secrets  # without the gateway's constructs: half a second

        add_secrets(app, settings)
    else:
        from portkey_gateway.stack import add_environment

        add_environment(app, settings)
    return list(settings.security_checks)


if __name__ == "__main__":
    main()
