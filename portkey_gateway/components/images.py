"""Where the tasks pull their images from: Docker Hub with the registry credentials, an ECR repository (this account's
or another's) with exactly the pull permissions, or an ECR pull-through cache of Docker Hub created here.

The cache (`docker_hub_cache`) makes the tasks pull every Docker Hub image (the private Portkey images and the
built-in Redis) from the account's own registry: no Docker Hub rate limits, no Docker Hub credentials on the tasks
(ECR holds them, in a secret named `ecr-pullthroughcache/...`, as ECR requires), and with the VPC endpoints on, no
internet egress for images. ECR creates each cached repository on the first pull, under the rule's prefix, from the
repository creation template here (mutable tags, as upstream tags move; untagged images expire).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

from aws_cdk import Aws, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from ..compliance import acknowledge
from ..settings import ImageRef

DOCKER_HUB = "registry-1.docker.io"  # the upstream URL ECR names for Docker Hub (botocore: CreatePullThroughCacheRule)
PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage")
# The first pull of an image through the cache creates its repository and imports the image (ECR User Guide,
# "IAM permissions required to sync an upstream registry with an Amazon ECR private registry").
CACHE_ACTIONS = (*PULL_ACTIONS, "ecr:BatchImportUpstreamImage", "ecr:CreateRepository")
UNTAGGED_DAYS = 14


@dataclass(frozen=True)
class ImageSource:
    """How the services' images are pulled; shared by every service of a deployment."""

    docker_credentials_arn: Optional[str]  # Docker Hub login for the private images pulled from Docker Hub itself
    cache_prefix: Optional[str] = None  # the pull-through cache of Docker Hub, when there is one

    def pulls_with_credentials(self, image: ImageRef, private: bool) -> bool:
        """A private image pulled from Docker Hub itself: the task needs the Docker Hub login."""
        return private and bool(image.docker_hub_path) and not self.cache_prefix

    def container_image(self, scope: Construct, image: ImageRef, execution_role: iam.IRole,
                        credentials: Optional[secretsmanager.ISecret]) -> ecs.ContainerImage:
        """The container image of `image`, with what `execution_role` needs to pull it; `credentials` (the Docker
        Hub login) when `pulls_with_credentials`."""
        repository = image.ecr_repository
        if repository:  # CDK grants the pull actions on the repository, GetAuthorizationToken on *
            arn = Stack.of(scope).format_arn(service="ecr", resource="repository", resource_name=repository.name,
                                             account=repository.account, region=repository.region)
            acknowledge(execution_role, "AwsSolutions-IAM5[Resource::*]", GET_AUTHORIZATION_TOKEN)
            return ecs.ContainerImage.from_ecr_repository(
                ecr.Repository.from_repository_attributes(scope, "Repository", repository_arn=arn,
                                                          repository_name=repository.name), tag=image.tag)
        if image.docker_hub_path and self.cache_prefix:
            self.grant_cache_pull(execution_role)
            registry = f"{Aws.ACCOUNT_ID}.dkr.ecr.{Aws.REGION}.{Aws.URL_SUFFIX}"
            return ecs.ContainerImage.from_registry(f"{registry}/{self.cache_prefix}/{image.docker_hub_path}:{image.tag}")
        return ecs.ContainerImage.from_registry(image.reference, credentials=credentials)

    def grant_cache_pull(self, role: iam.IRole) -> None:
        role.add_to_principal_policy(iam.PolicyStatement(actions=list(CACHE_ACTIONS), resources=[
            f"arn:{Aws.PARTITION}:ecr:{Aws.REGION}:{Aws.ACCOUNT_ID}:repository/{self.cache_prefix}/*"]))
        role.add_to_principal_policy(iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]))
        acknowledge(role, "AwsSolutions-IAM5[Resource::*]", GET_AUTHORIZATION_TOKEN)
        acknowledge(role, f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:"
                          f"repository/{self.cache_prefix}/*]",
                    "The pull-through cache creates one repository per Docker Hub image, on its first pull, under this "
                    "environment's prefix; the task may pull (and create) only those")


GET_AUTHORIZATION_TOKEN = ("ecr:GetAuthorizationToken supports no resource-level permissions (Service Authorization "
                           "Reference); pulling is limited to the image's repository")


class DockerHubCache(Construct):
    """The pull-through cache rule, the template of the repositories it creates, and (opt-in) scanning on push.
    Exposes `rule` and `prefix`."""

    def __init__(self, scope: Construct, construct_id: str, *, prefix: str, credentials_arn: str, scan_on_push: bool):
        super().__init__(scope, construct_id)
        self.prefix = prefix
        self.rule = ecr.CfnPullThroughCacheRule(
            self, "Rule", ecr_repository_prefix=prefix, upstream_registry="docker-hub",
            upstream_registry_url=DOCKER_HUB, credential_arn=credentials_arn,
        )
        lifecycle = {"rules": [{"rulePriority": 1, "description": f"Untagged images expire after {UNTAGGED_DAYS} days",
                                "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                                              "countUnit": "days", "countNumber": UNTAGGED_DAYS},
                                "action": {"type": "expire"}}]}
        ecr.CfnRepositoryCreationTemplate(
            self, "RepositoryTemplate", prefix=prefix, applied_for=["PULL_THROUGH_CACHE"],
            description="Docker Hub images cached for the Portkey gateway", image_tag_mutability="MUTABLE",
            lifecycle_policy=json.dumps(lifecycle, separators=(",", ":")),
        )
        if scan_on_push:  # one per registry: this replaces the account's scanning configuration in the region
            ecr.CfnRegistryScanningConfiguration(self, "Scanning", scan_type="BASIC", rules=[
                ecr.CfnRegistryScanningConfiguration.ScanningRuleProperty(
                    scan_frequency="SCAN_ON_PUSH", repository_filters=[
                        ecr.CfnRegistryScanningConfiguration.RepositoryFilterProperty(
                            filter=f"{prefix}/*", filter_type="WILDCARD")])])
