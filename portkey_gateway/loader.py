"""Reading a YAML config into `Settings`, and turning every mistake into one line: file, field, problem, fix."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .settings import FieldProblem, Settings, nested_model

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"


class ConfigError(Exception):
    """A user mistake in a config file. `str()` is one line per problem, ready to print; never a traceback."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))


PIPELINE_CONFIG = "pipeline"  # config/pipeline.yaml describes the delivery pipeline, not an environment


def known_environments(config_dir: Path = CONFIG_DIR) -> list[str]:
    return sorted(p.stem for p in config_dir.glob("*.yaml") if p.stem != PIPELINE_CONFIG)


def resolve_config_path(env: str | None = None, config: str | None = None, config_dir: Path = CONFIG_DIR) -> Path:
    """`-c env=NAME` picks config/NAME.yaml; `-c config=PATH` picks any file (relative to the working directory)."""
    if env and config:
        raise ConfigError(["give either -c env=NAME or -c config=PATH, not both"])
    if config:
        path = Path(config).expanduser().resolve()
        if not path.is_file():
            raise ConfigError([f"{config}: no such config file"])
        return path
    name = env or "dev"
    path = config_dir / f"{name}.yaml"
    if not path.is_file() or name == PIPELINE_CONFIG:
        known = ", ".join(known_environments(config_dir)) or "none"
        raise ConfigError([f"unknown environment {name!r}: no {path.name} in {config_dir}; known environments: {known}"])
    return path


def load_config(path: str | Path) -> Settings:
    """Read, parse and validate one config file. Raises ConfigError with one line per problem."""
    path = Path(path)
    return settings_from_dict(read_yaml(path), source=str(path), base_dir=path.parent)


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping, or a ConfigError naming the file and line."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ConfigError([f"{path}: cannot read: {error.strerror}"]) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise ConfigError([f"{path}: {where}invalid YAML ({getattr(error, 'problem', error)}); fix the syntax"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: expected a mapping of settings at the top level; see config/dev.yaml"])
    return data


def settings_from_dict(data: dict[str, Any], source: str = "<settings>", base_dir: Path | str = ".") -> Settings:
    """Validate settings given as a dict (YAML or Python). Relative file paths resolve against `base_dir`."""
    return validated(Settings, data, source, {"base_dir": str(base_dir)})


def validated(model: type[BaseModel], data: dict[str, Any], source: str, context: dict | None = None):
    """`model` validated from `data`, or a ConfigError with one line per problem, each prefixed with `source`."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as error:
        raise ConfigError([f"{source}: {describe(e, model)}" for e in error.errors()]) from None


def describe(error: dict, root: type[BaseModel] = Settings) -> str:
    """One pydantic error as `field.path: problem; fix`."""
    path = _dotted(error["loc"])
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, FieldProblem):
        full = ".".join(p for p in (path, cause.path) if p)
        return f"{full}: {cause.problem}; {cause.fix}" if full else f"{cause.problem}; {cause.fix}"
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{path}: unknown setting; {_spelling_hint(error['loc'], root)}"
    if kind == "literal_error":
        return f"{path}: {error.get('input')!r} is not allowed; use one of {error['ctx']['expected']}"
    if kind == "missing":
        return f"{path}: required setting is missing; add it (see config/dev.yaml for an example)"
    message = error["msg"].removeprefix("Value error, ")
    return f"{path}: {message} (got {error.get('input')!r}); fix the value"


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part) != "[key]" and not str(part).startswith("function-"):  # pydantic's step names
            out += ("." if out else "") + str(part)
    return out


def _spelling_hint(loc: tuple, root: type[BaseModel]) -> str:
    """Suggest the closest known field name at the same nesting level."""
    model: type[BaseModel] | None = root
    for part in loc[:-1]:
        field = model.model_fields.get(str(part)) if model else None
        model = nested_model(field.annotation) if field else None
    if model is None:
        return "remove it"
    names = [f.alias or n for n, f in model.model_fields.items()]
    close = difflib.get_close_matches(str(loc[-1]), names, n=1)
    return f"did you mean {close[0]!r}?" if close else f"remove it (known settings here: {', '.join(names)})"

