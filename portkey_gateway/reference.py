"""The config reference, generated from the models: `config/schema.json` for editors and the settings table of the
documentation's configuration page (`docs/configuration.md`, "All settings").

`python -m portkey_gateway.reference --write` regenerates both; the tests fail when either is stale.
"""

from __future__ import annotations

import json
import sys
import typing
from pathlib import Path

from pydantic import BaseModel

from .settings import Settings, nested_model

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "config" / "schema.json"
REFERENCE_PAGE = ROOT / "docs" / "configuration.md"
TABLE_START, TABLE_END = "<!-- settings-table:start -->", "<!-- settings-table:end -->"


def schema_text() -> str:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **Settings.model_json_schema(by_alias=True)}
    return json.dumps(schema, indent=2) + "\n"


def _type_name(annotation) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin is typing.Union:
        return " or ".join(_type_name(a) for a in args if a is not type(None))
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"map of {_type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    return getattr(annotation, "__name__", str(annotation))


def _default(field) -> str:
    if field.is_required():
        return "**required**"
    value = field.default_factory() if field.default_factory else field.default
    if isinstance(value, BaseModel):
        value = value.model_dump(by_alias=True)
        return "see below" if len(json.dumps(value)) > 40 else f"`{json.dumps(value)}`"
    return f"`{json.dumps(value)}`"


def _cell(text: str) -> str:
    """Description text as one table cell that renders as written (on GitHub and in MkDocs): outside code spans a
    placeholder such as <project> would be read as an HTML tag, and a pipe would end the cell."""
    parts = text.split("`")
    parts[::2] = [part.replace("<", "&lt;").replace("|", "\\|") for part in parts[::2]]
    return "`".join(parts)


def _rows(model: type[BaseModel], prefix: str = "") -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        path = prefix + (field.alias or name)
        description = _cell(field.description or "")
        rows.append(f"| `{path}` | {_type_name(field.annotation)} | {_default(field)} | {description} |")
        nested = nested_model(field.annotation)
        if nested:
            rows.extend(_rows(nested, path + "."))
    return rows


def table_text() -> str:
    return "\n".join(["| Setting | Type | Default | What it does |", "|---|---|---|---|", *_rows(Settings)])


def page_with_table(page: str) -> str:
    start, end = page.index(TABLE_START) + len(TABLE_START), page.index(TABLE_END)
    return page[:start] + "\n" + table_text() + "\n" + page[end:]


def main(argv: list[str]) -> int:
    if argv != ["--write"]:
        print("usage: python -m portkey_gateway.reference --write", file=sys.stderr)
        return 2
    SCHEMA_PATH.write_text(schema_text())
    REFERENCE_PAGE.write_text(page_with_table(REFERENCE_PAGE.read_text()))
    print(f"wrote {SCHEMA_PATH.relative_to(ROOT)} and the settings table in {REFERENCE_PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
