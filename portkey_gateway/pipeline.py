"""`PipelineStack`: a self-mutating CDK Pipelines CodePipeline that tests, then deploys each environment in order.

Source: a CodeStar (CodeConnections) connection to the repository. Synth: the repository's own `make test` (which
installs Python packages, Node.js and the pinned CDK CLI) and then the pipeline app's synth, so nothing ships that
fails a test. One stage per configured environment, each with that environment's stacks (`add_environment`), in the
configured order; a manual approval before the named ones (prod by default). Environments in other accounts are
deployed cross-account (the pipeline's artifacts are then KMS-encrypted so those accounts can read them).

Configured by `config/pipeline.yaml`, deployed once with `make pipeline-deploy` (`cdk deploy -c pipeline=true`); after
that, a push deploys.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Optional

from aws_cdk import Aws, DefaultStackSynthesizer, Environment, Stack, Stage, Tags
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from aws_cdk import pipelines
from constructs import Construct
from pydantic import Field, model_validator

from .compliance import acknowledge
from .loader import CONFIG_DIR, ConfigError, known_environments, load_config, read_yaml, validated
from .settings import FieldProblem, Name, Region, Settings, SettingsModel, pattern
from .secrets_stack import add_secrets
from .stack import add_environment

_REPOSITORY = re.compile(r"^[\w.-]+/[\w.-]+$")
_CONNECTION_ARN = re.compile(r"^arn:aws(?:-cn|-us-gov)?:(?:codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]+$")
_ACCOUNT = re.compile(r"^\d{12}$")
_BRANCH = re.compile(r"^(?!/)(?!.*\.\.)[A-Za-z0-9._/-]+(?<!/)$")


class PipelineSettings(SettingsModel):
    """Where the pipeline lives, what it watches, and which environments it deploys in which order."""

    project_name: Name = Field("portkey", description="Prefix of the pipeline stack's name.")
    aws_account: Annotated[str, pattern(_ACCOUNT, "a 12-digit account id", "quote it, e.g. '123456789012'")] = Field(
        description="Account the pipeline runs in."
    )
    aws_region: Region = Field(description="Region the pipeline runs in.")
    repository: Annotated[str, pattern(_REPOSITORY, "an owner/name repository", "use e.g. my-org/portkey-gateway-cdk")] = Field(
        description="Repository the connection reads."
    )
    branch: Annotated[str, pattern(_BRANCH, "a branch name", "use e.g. main or release/prod")] = Field(
        "main", description="Branch whose pushes deploy."
    )
    connection_arn: Annotated[str, pattern(_CONNECTION_ARN, "a CodeStar connection ARN",
                                            "use arn:aws:codeconnections:<region>:<account>:connection/<id>")] = Field(
        description="CodeStar (CodeConnections) connection to the repository host."
    )
    environments: list[Name] = Field(min_length=1, description="Environments (config/<name>.yaml) to deploy, in order.")
    approval_before: Optional[list[Name]] = Field(
        None, description="Environments that wait for a manual approval; unset: prod, when it is deployed."
    )

    @model_validator(mode="after")
    def _consistent(self):
        if len(set(self.environments)) != len(self.environments):
            raise FieldProblem("environments", "lists an environment twice", "list each once")
        _, _, _, region, account, _ = self.connection_arn.split(":", 5)
        if (account, region) != (self.aws_account, self.aws_region):
            raise FieldProblem("connection_arn", f"is in {account}/{region}, but the pipeline runs in "
                               f"{self.aws_account}/{self.aws_region}", "create the connection where the pipeline runs")
        for name in self.approval_before or ():
            if name not in self.environments:
                raise FieldProblem("approval_before", f"{name!r} is not in environments", "remove it, or add it to environments")
        return self

    @property
    def approvals(self) -> list[str]:
        return self.approval_before if self.approval_before is not None else [n for n in self.environments if n == "prod"]


def load_pipeline(config_dir: Path = CONFIG_DIR) -> tuple[PipelineSettings, list[Settings]]:
    """config/pipeline.yaml and each environment it names, validated; ConfigError on any mistake."""
    path = config_dir / "pipeline.yaml"
    if not path.is_file():
        raise ConfigError([f"{path}: no such file; copy the example in docs/pipeline.md"])
    pipeline = validated(PipelineSettings, read_yaml(path), str(path))
    known = known_environments(config_dir)
    for name in pipeline.environments:
        if name not in known:
            raise ConfigError([f"{path}: environments: {name!r} has no config/{name}.yaml; known environments: {', '.join(known)}"])
    environments = [load_config(config_dir / f"{name}.yaml") for name in pipeline.environments]
    for name, settings in zip(pipeline.environments, environments):
        if settings.environment != name:
            raise ConfigError([f"config/{name}.yaml: environment: is {settings.environment!r}; set it to {name!r}, the file's name"])
    return pipeline, environments


class GatewayStage(Stage):
    """One environment's stacks, as a pipeline deploys them: with `managed_secrets` the secrets stack first (the
    gateway stack's secrets check fails the stage until their values are put in), then the gateway stack."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, default_account: str):
        super().__init__(scope, construct_id,
                         env=Environment(account=settings.aws_account or default_account, region=settings.aws_region))
        self.secrets_stack = add_secrets(self, settings) if settings.managed_secrets else None
        self.gateway_stack = add_environment(
            self, settings, secrets_command=(
                f"the pipeline's {settings.environment} stage deploys it; put the values in, delete the stack "
                f"{settings.name_prefix} (a failed first create cannot be updated), then release the change again"))
        if self.secrets_stack:
            self.gateway_stack.add_dependency(self.secrets_stack)


class PipelineStack(Stack):
    """Exposes `pipeline` (built, so that its structure can be inspected) and `stages` by environment name."""

    def __init__(self, scope: Construct, construct_id: str, *, pipeline: PipelineSettings, environments: list[Settings],
                 **kwargs):
        super().__init__(scope, construct_id, env=Environment(account=pipeline.aws_account, region=pipeline.aws_region),
                         description=f"Delivery pipeline of {pipeline.project_name}: {' -> '.join(pipeline.environments)}",
                         **kwargs)
        source = pipelines.CodePipelineSource.connection(pipeline.repository, pipeline.branch,
                                                         connection_arn=pipeline.connection_arn)
        cross_account = any((env.aws_account or pipeline.aws_account) != pipeline.aws_account for env in environments)
        for key, value in (("Project", pipeline.project_name), ("Environment", "pipeline"), ("ManagedBy", "CDK")):
            Tags.of(self).add(key, value)
        self.pipeline = pipelines.CodePipeline(
            self, "Pipeline",
            pipeline_name=f"{pipeline.project_name}-pipeline",
            self_mutation=True,
            cli_version=cdk_cli_version(),  # self-mutation runs the same CLI as `make` (package-lock.json)
            cross_account_keys=cross_account,
            enable_key_rotation=cross_account,
            synth=pipelines.ShellStep("Synth", input=source, primary_output_directory="cdk.out", commands=SYNTH_COMMANDS),
            # The Makefile needs Python 3.11+; CodeBuild's default runtime may change, so it is named.
            synth_code_build_defaults=pipelines.CodeBuildOptions(partial_build_spec=codebuild.BuildSpec.from_object(
                {"phases": {"install": {"runtime-versions": {"python": SYNTH_PYTHON}}}})),
        )
        self.stages: dict[str, GatewayStage] = {}
        for settings in environments:
            stage = GatewayStage(self, settings.environment, settings=settings, default_account=pipeline.aws_account)
            approval = ([pipelines.ManualApprovalStep(f"Approve-{settings.environment}",
                                                      comment=f"Deploy {settings.name_prefix}?")]
                        if settings.environment in pipeline.approvals else None)
            self.pipeline.add_stage(stage, pre=approval, post=[verify_step(source, settings, pipeline)])
            self.stages[settings.environment] = stage
        self.pipeline.build_pipeline()
        _acknowledge_pipeline(self)


def verify_step(source: pipelines.IFileSetProducer, settings: Settings, pipeline: PipelineSettings) -> pipelines.CodeBuildStep:
    """`make verify` on the environment just deployed, so that a broken environment stops the pipeline before the
    next one (and before prod's approval). It reads the environment's account through that account's CDK bootstrap
    lookup role (ReadOnlyAccess, trusted by the pipeline's account after `cdk bootstrap --trust`)."""
    account = settings.aws_account or pipeline.aws_account
    role = (f"arn:{Aws.PARTITION}:iam::{account}:role/"
            f"cdk-{DefaultStackSynthesizer.DEFAULT_QUALIFIER}-lookup-role-{account}-{settings.aws_region}")
    return pipelines.CodeBuildStep(
        f"Verify-{settings.environment}", input=source,
        commands=[f"make verify ENV={settings.environment} VERIFY_ARGS='--role-arn {role}'"],
        partial_build_spec=codebuild.BuildSpec.from_object(
            {"phases": {"install": {"runtime-versions": {"python": SYNTH_PYTHON}}}}),
        role_policy_statements=[iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[role])],
    )


def _acknowledge_pipeline(stack: "PipelineStack") -> None:
    """Findings in the CodePipeline that CDK Pipelines builds (its artifact bucket, roles and CodeBuild projects)."""
    pipeline = stack.pipeline
    reason = ("Roles generated by aws-cdk-lib's CDK Pipelines through its grant methods: object and key action families "
              "(s3:GetObject*, kms:GenerateDataKey*) on the pipeline's own artifact bucket and key, the log and report "
              "groups of its own CodeBuild projects, and assuming the bootstrap cdk-* roles to deploy. They cannot be "
              "narrowed without forking the construct")
    region, account = stack.region, stack.account
    bucket = stack.get_logical_id(pipeline.pipeline.artifact_bucket.node.default_child)
    resources = ["*", f"<{bucket}.Arn>/*", f"arn:*:iam::{account}:role/*",
                 f"arn:aws:codebuild:{region}:{account}:report-group/*", f"arn:aws:logs:{region}:{account}:log-group:/aws/codebuild/*"]
    for project in (c for c in pipeline.node.find_all() if isinstance(c, codebuild.CfnProject)):
        project_id = stack.get_logical_id(project)
        resources += [f"arn:aws:codebuild:{region}:{account}:report-group/<{project_id}>-*",
                      f"arn:aws:logs:{region}:{account}:log-group:/aws/codebuild/<{project_id}>:*"]
    actions = ["s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:DeleteObject*", "s3:Abort*", "kms:ReEncrypt*",
               "kms:GenerateDataKey*"]
    for finding in [f"Action::{a}" for a in actions] + [f"Resource::{r}" for r in resources]:
        acknowledge(pipeline, f"AwsSolutions-IAM5[{finding}]", reason)
    acknowledge(pipeline.pipeline.artifact_bucket, "AwsSolutions-S1",
                 "The pipeline's artifact store holds build outputs for the next stage, encrypted and private; access "
                 "logging it would need a second bucket, and CloudTrail records every pipeline and deployment action")


# The repository's own install-and-test entry point, then the pipeline app's synth into cdk.out.
SYNTH_COMMANDS = ["make test", "make pipeline-synth"]
SYNTH_PYTHON = "3.12"
PACKAGE_JSON = Path(__file__).resolve().parent.parent / "package.json"  # the repository's CLI pin


def cdk_cli_version() -> str:
    return json.loads(PACKAGE_JSON.read_text())["devDependencies"]["aws-cdk"]
