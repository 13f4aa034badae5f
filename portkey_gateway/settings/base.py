"""What the settings areas share: the model base, FieldProblem, and the value types of more than one area."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError


class FieldProblem(ValueError):
    """A problem with one field, raised from validators; `path` is relative to the model that raised it."""

    def __init__(self, path: str, problem: str, fix: str):
        self.path, self.problem, self.fix = path, problem, fix
        super().__init__(f"{path}: {problem}; {fix}" if path else f"{problem}; {fix}")


ALLOWED_CPU = (256, 512, 1024, 2048, 4096, 8192, 16384)
# The retention periods CloudWatch Logs accepts.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
ALLOWED_MEMORY = (512, 1024, 2048, 3072, 4096, 5120, 6144, 7168, 8192, 16384, 30720)

PARTITION_PATTERN = r"aws(?:-cn|-us-gov)?"
REGION_PATTERN = r"[a-z]{2}(?:-gov)?-[a-z]+-\d"
SECRET_ARN = re.compile(rf"^arn:{PARTITION_PATTERN}:secretsmanager:{REGION_PATTERN}:\d{{12}}:secret:[A-Za-z0-9/_+=.@-]+$")
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
DNS_NAME = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")


def is_token(value: Any) -> bool:
    """A CDK token (`${Token[...]}` in a string, `#{Token[...]}` in a list): a value known only at deploy time, such
    as the id of a VPC or the ARN of a secret the caller's own stack creates. The settings stay free of the CDK, so
    they recognise the token's text, which is what the CDK documents it to be."""
    return isinstance(value, str) and ("${Token[" in value or "#{Token[" in value)


def pattern(regex: re.Pattern, what: str, fix: str, allow_empty: bool = False):
    """A format check that a deploy-time value (a CDK token) passes: its format is CloudFormation's to check."""
    def check(value: str) -> str:
        if is_token(value):
            return value
        if not (allow_empty and value == "") and not regex.match(value):
            raise FieldProblem("", f"{value!r} is not {what}", fix)
        return value

    return AfterValidator(check)


@dataclasses.dataclass(frozen=True)
class _OneOf(AfterValidator):
    """The check, and the allowed values in the JSON schema too, so an editor flags any other."""

    allowed: tuple = ()

    def __get_pydantic_json_schema__(self, core_schema, handler):
        return {**handler(core_schema), "enum": list(self.allowed)}


def one_of(allowed: tuple[int, ...]):
    def check(value: int) -> int:
        if value not in allowed:
            raise FieldProblem("", f"{value} is not allowed", f"use one of {', '.join(map(str, allowed))}")
        return value

    return _OneOf(check, allowed)


def listed_once(values: list[str], fix: str) -> list[str]:
    """A list setting names each value once."""
    repeated = sorted({value for value in values if values.count(value) > 1})
    if repeated:
        raise FieldProblem("", f"lists {repeated[0]} more than once", fix)
    return values


def in_range(low: int, high: int):
    def check(value: int) -> int:
        if not low <= value <= high:
            raise FieldProblem("", f"{value} is outside {low}..{high}", f"use a value from {low} to {high}")
        return value

    return AfterValidator(check)


def _ipv4_network(value: str) -> str:
    if is_token(value):
        return value
    try:
        network = ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        raise FieldProblem("", f"{value!r} is not an IPv4 CIDR", "write it as a.b.c.d/n, e.g. 10.0.0.0/16") from None
    if str(network) != value:
        raise FieldProblem("", f"{value!r} has host bits set", f"use the network address {network}")
    return value


SecretArn = Annotated[
    str,
    pattern(SECRET_ARN, "a Secrets Manager secret ARN",
            "use the secret's ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>), never the secret value"),
]
Cidr = Annotated[str, AfterValidator(_ipv4_network)]
Cpu = Annotated[int, one_of(ALLOWED_CPU)]
Memory = Annotated[int, one_of(ALLOWED_MEMORY)]
RetentionDays = Annotated[int, one_of(LOG_RETENTION_DAYS)]
Percent = Annotated[int, in_range(1, 100)]
Name = Annotated[str, pattern(_NAME, "a valid name", "use 1-32 lower-case letters, digits and hyphens")]
Region = Annotated[str, pattern(re.compile(f"^{REGION_PATTERN}$"), "an AWS region", "use a region code such as us-east-1")]
DnsName = Annotated[str, pattern(DNS_NAME, "a DNS host name", "use lower-case labels joined by dots, e.g. gateway.example.com",
                                 allow_empty=True)]


def nested_model(annotation: Any) -> type[BaseModel] | None:
    """The settings model inside a field's annotation (through Optional, Annotated, ...), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = nested_model(arg)
        if found:
            return found
    return None


class _KeywordErrors(type(BaseModel)):
    """Built with keyword arguments in Python, a model is validated as YAML is and fails the same way: a ConfigError
    with one line per problem, `<Model>: field: problem; fix`, never a pydantic traceback. (On the metaclass, not
    `__init__`: pydantic calls an overridden `__init__` for nested models too, which would change their errors.)"""

    def __call__(cls, **data: Any):
        try:
            return cls.model_validate(data, context=cls._keyword_context())
        except ValidationError as error:
            from ..loader import ConfigError, describe  # the loader is built on these models

            raise ConfigError([f"{cls.__name__}: {describe(e, cls)}" for e in error.errors()]) from None


class SettingsModel(BaseModel, metaclass=_KeywordErrors):
    """Unknown keys are errors, so a typo never silently does nothing; values are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True)

    @classmethod
    def _keyword_context(cls) -> dict | None:
        """The validation context of a model built with keyword arguments (YAML and dicts go through the loader)."""
        return None

    def changed(self, name: str) -> bool:
        """The field holds something other than its default (a setting that then must have an effect)."""
        return getattr(self, name) != type(self).model_fields[name].get_default(call_default_factory=True)
