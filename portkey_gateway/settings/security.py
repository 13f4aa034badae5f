"""Security settings: the environment's customer-managed KMS key, and the compliance rule packs checked at synth."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from .base import PARTITION_PATTERN, REGION_PATTERN, FieldProblem, SettingsModel, is_token, listed_once

CREATE_KEY = "create"
# A key's ARN, not an alias's: CloudWatch Logs takes only key ARNs (AssociateKmsKey, AWS::Logs::LogGroup KmsKeyId).
KEY_ARN = re.compile(rf"^arn:{PARTITION_PATTERN}:kms:(?P<region>{REGION_PATTERN}):\d{{12}}:key/[A-Za-z0-9-]+$")
# cdk-nag's packs besides AwsSolutions (always on), by the names `security_checks` takes.
RULE_PACKS = ("NIST80053R5", "HIPAASecurity", "PCIDSS321")


class SecuritySettings(SettingsModel):
    """Encryption with a key the customer controls, and the rule packs a regulated review runs."""

    encryption_key: str = Field(
        "", description="KMS key for every log group, secret and cache created here: empty (AWS-managed keys), `create` "
                        "(a key with yearly rotation, kept when the stack is deleted), or an existing key's ARN."
    )
    security_checks: list[Literal[RULE_PACKS]] = Field(
        default_factory=list, description="cdk-nag packs checked at synth besides AwsSolutions (always on): NIST80053R5, "
                                          "HIPAASecurity, PCIDSS321."
    )

    @field_validator("encryption_key")
    @classmethod
    def _key(cls, value: str) -> str:
        if value in ("", CREATE_KEY) or is_token(value) or KEY_ARN.match(value):
            return value
        raise FieldProblem("", f"{value!r} is neither {CREATE_KEY!r} nor a KMS key ARN",
                           "use create, or the key's ARN (arn:aws:kms:<region>:<account>:key/<id>; CloudWatch Logs takes "
                           "no alias)")

    @field_validator("security_checks")
    @classmethod
    def _packs_once(cls, packs: list[str]) -> list[str]:
        return listed_once(packs, "list each pack once")

    def _encryption(self) -> None:
        if self.security_checks and not self.encryption_key:
            raise FieldProblem("security_checks", f"{self.security_checks[0]} requires every log group and secret to be "
                               "encrypted with a customer-managed key", "set encryption_key: create (or a key's ARN)")
        match = KEY_ARN.match(self.encryption_key)
        if match and match["region"] != self.aws_region:
            raise FieldProblem("encryption_key", f"is in {match['region']}, but the environment is in {self.aws_region} "
                               "(KMS keys are regional)", f"use a key in {self.aws_region}, or create")

    @property
    def creates_key(self) -> bool:
        return self.encryption_key == CREATE_KEY

    @property
    def key_in_secrets_stack(self) -> bool:
        """A created key lives in the stack deployed first: the secrets stack, which encrypts its secrets with it."""
        return self.creates_key and self.managed_secrets
