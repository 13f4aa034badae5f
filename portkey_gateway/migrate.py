"""Coming from Terraform: convert a `module` block of Portkey's ECS module, or a `.tfvars` file, into our YAML config.

    python -m portkey_gateway.migrate main.tf            # YAML on stdout
    python -m portkey_gateway.migrate prod.tfvars -o config/prod.yaml

The file is parsed with python-hcl2 (a maintained HCL2 parser). Every module variable keeps its name here, so values
map one to one; the six `redis_*` variables the module removed in v2.0.1 map to their `redis_configuration` fields.
Values Terraform computes at plan time (references, functions, interpolations) cannot be known here: they are left
out and reported with their line. The result is then validated like any config, and what it still needs is listed.
Exit status: 0 when the config is complete and valid, 1 when something needs attention, 2 when the file cannot be
converted at all.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
import yaml

from .loader import ConfigError, settings_from_dict
from .settings import REMOVED_VARIABLES, Settings

MODULE_SOURCE = "portkey-gateway-infrastructure//terraform/ecs"
_MODULE_SOURCE = re.compile(r"portkey-gateway-infrastructure(?:\.git)?//terraform/ecs(?:\?|$)")
_INTERPOLATION = re.compile(r"(?<![$%])[$%]\{")  # ${...} or %{...}, not the escapes $${ and %%{
# Terraform's own arguments of a module block: they configure Terraform, not the deployment.
META_ARGUMENTS = {
    "source": "where Terraform downloads the module; this project is the replacement",
    "version": "a registry version constraint of the module",
    "providers": "Terraform provider wiring; the account and region are aws_account and aws_region here",
    "depends_on": "Terraform ordering; CloudFormation orders the resources of a stack itself",
}
# Meta-arguments that make one block several deployments (or none): the single config written cannot say so.
MULTIPLYING_ARGUMENTS = ("count", "for_each")
# Files the module read relative to its own directory (path.module); here they are relative to the config file.
FILE_SETTINGS = ("environment_variables_file_path", "secrets_file_path")


# Top-level blocks of Terraform configuration files; a .tfvars file has none.
TERRAFORM_BLOCKS = {"module", "resource", "data", "provider", "terraform", "variable", "output", "locals"}


class MigrationError(Exception):
    """The file cannot be converted at all (not HCL, no such module)."""


@dataclass
class Conversion:
    config: dict[str, Any]
    attention: list[str] = field(default_factory=list)  # what the user must look at, with line numbers
    ignored: list[str] = field(default_factory=list)  # module-block arguments that mean nothing here, with the reason

    @property
    def complete(self) -> bool:
        return not self.attention


def convert(text: str, source: str = "<input>", base_dir: Path | str = ".") -> Conversion:
    """Our config from Terraform text holding the module block, or from tfvars (top-level assignments).
    `base_dir` is where the config will be written: file settings are checked relative to it, as they will be read."""
    try:
        parsed = hcl2.loads(text)
    except Exception as error:  # lark's parse errors have many types; all mean "not valid HCL"
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise MigrationError(f"{source}: cannot parse as HCL ({first}); check the file is Terraform") from None
    block, start = _module_block(parsed, text, source)
    conversion = Conversion(config={})
    lines = text.splitlines()
    known = {f.alias or n for n, f in Settings.model_fields.items()}
    for name, raw in block.items():
        if name.startswith("__"):
            continue
        line = _line_of(lines, name, start)
        if name in META_ARGUMENTS:
            conversion.ignored.append(f"{name}: {META_ARGUMENTS[name]}")
            continue
        if name in MULTIPLYING_ARGUMENTS:
            conversion.attention.append(f"line {line}: {name} makes the block several deployments (or none); write one "
                                        "config file per environment")
            continue
        if name in REMOVED_VARIABLES and "redis_configuration" in block:
            conversion.ignored.append(f"{name}: removed in v2.0.1 and without effect beside redis_configuration (line {line})")
            continue
        if name not in known and name not in REMOVED_VARIABLES:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            conversion.ignored.append(f"{name}: not a variable of the module (line {line})"
                                      + (f"; did you mean {close[0]}?" if close else ""))
            continue
        if name in FILE_SETTINGS:
            conversion.attention.append(f"line {line}: {name}: Terraform read it relative to the module's directory; here "
                                        "it is relative to the config file: check the path")
        value = _value(raw, name, line, lines, conversion)
        if value is not _UNKNOWN:
            _put(conversion.config, REMOVED_VARIABLES.get(name, name).split("."), value)
    try:
        settings_from_dict(conversion.config, source=source, base_dir=base_dir)
    except ConfigError as error:
        conversion.attention += [f"not valid yet: {line.removeprefix(source + ': ')}" for line in error.lines]
    return conversion


_UNKNOWN = object()


def _module_block(parsed: dict, text: str, source: str) -> tuple[dict, int]:
    """The Portkey module block and its line; or, for tfvars, the top-level assignments."""
    modules = [(label, body) for entry in parsed.get("module", []) for label, body in entry.items()
               if _MODULE_SOURCE.search(_unquote(str(body.get("source", ""))))]
    if modules:
        if len(modules) > 1:
            raise MigrationError(f"{source}: {len(modules)} Portkey module blocks; put each in its own file")
        label, body = modules[0]
        match = re.search(rf"^\s*module\s+{re.escape(label)}\s*{{", text, re.MULTILINE)
        return body, text[: match.start()].count("\n") + 1 if match else 1
    if set(parsed) & TERRAFORM_BLOCKS:
        raise MigrationError(f"{source}: no module block whose source is ...{MODULE_SOURCE} (and not a tfvars file); "
                             "give the file that calls Portkey's ECS module")
    if not parsed:
        raise MigrationError(f"{source}: no settings found; give a .tf file with the module block or a .tfvars file")
    return parsed, 1


def _value(raw: Any, path: str, line: int, lines: list[str], conversion: Conversion) -> Any:
    """The Python value of one HCL value; _UNKNOWN (reported) for what Terraform computes."""
    if isinstance(raw, dict):
        out = {}
        for key, item in raw.items():
            if key.startswith("__"):
                continue
            value = _value(item, f"{path}.{key}", _line_of(lines, key, line), lines, conversion)
            if value is not _UNKNOWN:
                out[_unquote(key)] = value
        return out
    if isinstance(raw, list):
        items = [_value(item, f"{path}[{i}]", line, lines, conversion) for i, item in enumerate(raw)]
        return _UNKNOWN if any(item is _UNKNOWN for item in items) else items
    if isinstance(raw, str):
        heredoc = _unquote(raw).startswith("<<")  # python-hcl2 gives heredocs with or without quotes
        text = _heredoc(_unquote(raw)) if heredoc else raw
        if text.startswith("${") or ((text.startswith('"') or heredoc) and _INTERPOLATION.search(text)):
            shown = " ".join(_unquote(text).split())
            conversion.attention.append(f"line {line}: {path} = {shown} is computed by Terraform; "
                                        "write its value into the config")
            return _UNKNOWN
        value = text if heredoc else _unquote(text)
        return value.replace("$${", "${").replace("%%{", "%{")
    if raw is None:
        return _UNKNOWN  # null in Terraform means "the module's default", which the field's default is here
    return raw


def _heredoc(raw: str) -> str:
    """The text of a `<<EOT` / `<<-EOT` heredoc (the indented form loses its common indentation)."""
    first, _, rest = raw.partition("\n")
    body = rest.rsplit("\n", 1)[0] if "\n" in rest else ""
    return textwrap.dedent(body) if first.startswith("<<-") else body


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text[1:-1]
    return text


def _put(config: dict, path: list[str], value: Any) -> None:
    for part in path[:-1]:
        config = config.setdefault(part, {})
    config[path[-1]] = value


def _line_of(lines: list[str], name: str, start: int) -> int:
    """The line of `name = ...` at or after `start` (for messages only; the parser gives no attribute lines)."""
    pattern = re.compile(rf"^\s*\"?{re.escape(_unquote(name))}\"?\s*=")
    for number in range(start, len(lines) + 1):
        if pattern.match(lines[number - 1]):
            return number
    return start


def render(conversion: Conversion, source: str) -> str:
    """The YAML config, headed by what needs attention and what was left out, as comments."""
    header = ["# yaml-language-server: $schema=schema.json", f"# Converted from {source} by portkey_gateway.migrate."]
    if conversion.attention:
        header.append("# Needs attention:")
        header += [f"#   {' '.join(item.split())}" for item in conversion.attention]
    if conversion.ignored:
        header.append("# Left out:")
        header += [f"#   {' '.join(item.split())}" for item in conversion.ignored]
    body = yaml.safe_dump(conversion.config, sort_keys=False, default_flow_style=False, width=120)
    return "\n".join(header) + "\n" + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m portkey_gateway.migrate", description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="a .tf file with Portkey's module block, or a .tfvars file")
    parser.add_argument("-o", "--output", help="write the YAML here instead of stdout")
    args = parser.parse_args(argv)
    path = Path(args.path)
    output = Path(args.output) if args.output else None
    try:
        conversion = convert(path.read_text(), source=str(path), base_dir=output.parent if output else Path.cwd())
    except OSError as error:
        print(f"error: {path}: cannot read: {error.strerror}", file=sys.stderr)
        return 2
    except MigrationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    text = render(conversion, str(path))
    if output:
        try:
            output.write_text(text)
        except OSError as error:
            print(f"error: {output}: cannot write: {error.strerror}", file=sys.stderr)
            return 2
    else:
        sys.stdout.write(text)
    for item in conversion.attention:
        print(f"attention: {item}", file=sys.stderr)
    return 0 if conversion.complete else 1


if __name__ == "__main__":
    sys.exit(main())
