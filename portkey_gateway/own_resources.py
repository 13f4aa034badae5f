"""The caller's own CDK objects, given to `PortkeyGateway` instead of ids, ARNs and names in the settings.

"Bring your own or we create one", as aws_ecs_patterns does: a VPC, an ECS cluster, a certificate, a hosted zone,
the Docker Hub credentials and the services' secrets, a bucket for access logs, a KMS key. Each object stands for settings the
YAML would hold (`vpc` for `vpc_id`, the subnet ids and `vpc_cidr`; `cluster` for `cluster_name`; ...): it is written
into them as deploy-time values (CDK tokens), and the settings are validated again, so every rule that holds for ids
holds for objects, and giving both an object and its settings is a one-line error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_kms as kms
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager

from .components.network import select
from .loader import ConfigError, validated
from .settings import Settings

SOURCE = "PortkeyGateway"


@dataclass(frozen=True)
class OwnResources:
    """What the caller already owns; every field is optional."""

    vpc: Optional[ec2.IVpc] = None
    task_subnets: Optional[ec2.SubnetSelection] = None  # default: the VPC's private subnets with egress
    load_balancer_subnets: Optional[ec2.SubnetSelection] = None  # default: its public subnets (internet-facing LB)
    cluster: Optional[ecs.ICluster] = None
    certificate: Optional[acm.ICertificate] = None
    domain_zone: Optional[route53.IHostedZone] = None
    docker_credentials: Optional[secretsmanager.ISecret] = None
    # service ("gateway", "data-service") -> environment variable -> the secret whose JSON holds that key
    secrets: Mapping[str, Mapping[str, secretsmanager.ISecret]] = field(default_factory=dict)
    access_logs_bucket: Optional[s3.IBucket] = None
    encryption_key: Optional[kms.IKey] = None

    def secret_objects(self) -> dict[str, secretsmanager.ISecret]:
        """Every secret given as an object, by its ARN token (how the settings name it)."""
        given = [self.docker_credentials, *(s for service in self.secrets.values() for s in service.values())]
        return {secret.secret_arn: secret for secret in given if secret is not None}


def with_own_resources(settings: Settings, own: OwnResources) -> Settings:
    """The settings with `own`'s objects written in as tokens, validated again (ConfigError, one line a problem)."""
    data = settings.model_dump(by_alias=True, exclude_unset=True, exclude_none=True)
    for name in ("environment_variables", "secrets"):  # what a *_file_path loaded: the inline map wins, no re-read
        if getattr(settings, name) is not None:
            data[name] = getattr(settings, name).model_dump(by_alias=True)
    problems: list[str] = []

    def put(key: str, value: Any, instead_of: str, container: Optional[dict] = None) -> None:
        target = data if container is None else container
        if target.get(key) not in (None, "", []):
            problems.append(f"{SOURCE}: {instead_of}: is given together with the object that replaces it; pass one "
                            "of them")
        target[key] = value

    def not_created(flag: str, what: str, argument: str, also: str = "") -> None:
        """The object replaces what `flag` would create."""
        if getattr(settings, flag):
            problems.append(f"{SOURCE}: {flag}: is true, but {what} was passed ({argument}=); set {flag}: false{also}, "
                            f"or pass no {argument}")
        data[flag] = False

    if own.vpc is not None:
        not_created("create_new_vpc", "a VPC", "vpc")
        put("vpc_id", own.vpc.vpc_id, "vpc_id")
        private = select(own.vpc, own.task_subnets or ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS))
        put("private_subnet_ids", [subnet.subnet_id for subnet in private], "private_subnet_ids")
        public = select(own.vpc, own.load_balancer_subnets) if own.load_balancer_subnets else list(own.vpc.public_subnets)
        if public:
            put("public_subnet_ids", [subnet.subnet_id for subnet in public], "public_subnet_ids")
        elif settings.create_lb and not settings.internal_lb:
            problems.append(f"{SOURCE}: vpc: has no public subnets for the internet-facing load balancer; pass "
                            "load_balancer_subnets=, or set internal_lb: true")
        try:  # the default ingress of an internal load balancer
            put("vpc_cidr", own.vpc.vpc_cidr_block, "vpc_cidr")
        except RuntimeError:  # a VPC imported without its CIDR (jsii raises CDK's error as RuntimeError)
            data.pop("vpc_cidr", None)
            if settings.create_lb and settings.internal_lb and not settings.allowed_lb_cidrs:
                problems.append(f"{SOURCE}: vpc: was imported without its CIDR, which an internal load balancer "
                                "admits by default; import it with vpc_cidr_block, or set allowed_lb_cidrs")
    if own.cluster is not None:
        not_created("create_cluster", "a cluster", "cluster", " (and capacity_provider_name)")
        put("cluster_name", own.cluster.cluster_name, "cluster_name")
    if own.certificate is not None and settings.custom_domain is None:
        put("tls_certificate_arn", own.certificate.certificate_arn, "tls_certificate_arn")
    if own.domain_zone is not None:
        if settings.custom_domain is None:
            problems.append(f"{SOURCE}: domain_zone: is only used with custom_domain (its host names); set "
                            "custom_domain, or pass no domain_zone")
        else:
            domain = data.setdefault("custom_domain", {})
            put("hosted_zone_id", own.domain_zone.hosted_zone_id, "custom_domain.hosted_zone_id", domain)
            put("hosted_zone_name", own.domain_zone.zone_name, "custom_domain.hosted_zone_name", domain)
    if own.docker_credentials is not None:
        put("docker_cred_secret_arn", own.docker_credentials.secret_arn, "docker_cred_secret_arn")
    for service, variables in own.secrets.items():
        given = data.setdefault("secrets", {}).setdefault(service, {})
        for variable, secret in variables.items():
            put(variable, secret.secret_arn, f"secrets.{service}.{variable}", given)
    if own.access_logs_bucket is not None:
        if not settings.enable_lb_access_logs:
            problems.append(f"{SOURCE}: access_logs_bucket: is only used when enable_lb_access_logs is true; set it, "
                            "or pass no access_logs_bucket")
        put("lb_access_logs_bucket", own.access_logs_bucket.bucket_name, "lb_access_logs_bucket")
    if own.encryption_key is not None:
        put("encryption_key", own.encryption_key.key_arn, "encryption_key")
    if problems:
        raise ConfigError(problems)
    return validated(Settings, data, SOURCE)
