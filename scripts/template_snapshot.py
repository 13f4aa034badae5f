"""Synthesize every configuration (config/, examples/, the test configurations) and write or compare their templates.

A refactoring that must not change what is deployed proves it with this: snapshot before, refactor, compare after.

    python scripts/template_snapshot.py write DIR     # one <name>.template.json per stack of each configuration
    python scripts/template_snapshot.py compare DIR   # exit 1 and name each template that differs
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import CONFIGS, CLI_CONTEXT  # noqa: E402  (after the path; sets Node's PATH for jsii)

from aws_cdk import App  # noqa: E402

from portkey_gateway import settings_from_dict  # noqa: E402
from portkey_gateway.compliance import enable_checks  # noqa: E402
from portkey_gateway.loader import load_config  # noqa: E402
from portkey_gateway.secrets_stack import add_secrets  # noqa: E402
from portkey_gateway.stack import add_environment  # noqa: E402


def configurations() -> dict:
    """name -> settings: every file under config/ and examples/, and every test configuration."""
    found = {f"config-{path.stem}": load_config(path) for path in sorted((ROOT / "config").glob("*.yaml"))
             if path.stem not in ("pipeline",)}
    found.update({f"example-{path.stem}": load_config(path) for path in sorted((ROOT / "examples").glob("*.yaml"))})
    found.update({f"test-{name}": settings_from_dict(make(), source=name, base_dir=ROOT / "examples")
                  for name, make in CONFIGS.items()})
    return found


def templates() -> dict[str, str]:
    """'<configuration>/<stack>' -> the template as the CLI writes it (sorted keys, so the text compares)."""
    out = {}
    for name, settings in configurations().items():
        app = App(context=CLI_CONTEXT)
        add_environment(app, settings)
        if settings.managed_secrets:
            add_secrets(app, settings)
        enable_checks(app)
        for stack in app.synth().stacks:
            out[f"{name}/{stack.stack_name}"] = json.dumps(stack.template, indent=1, sort_keys=True)
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("write", "compare"):
        print(__doc__.strip().splitlines()[-2].strip(), file=sys.stderr)
        return 2
    command, directory = argv[0], Path(argv[1])
    found = templates()
    if command == "write":
        for key, text in found.items():
            path = directory / f"{key.replace('/', '__')}.template.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        print(f"wrote {len(found)} templates of {len({k.split('/')[0] for k in found})} configurations to {directory}")
        return 0
    before = {p.name.removesuffix(".template.json").replace("__", "/"): p.read_text()
              for p in directory.glob("*.template.json")}
    differ = sorted(k for k in found.keys() & before.keys() if found[k] != before[k])
    missing, added = sorted(before.keys() - found.keys()), sorted(found.keys() - before.keys())
    for label, keys in (("differs", differ), ("no longer synthesized", missing), ("new", added)):
        for key in keys:
            print(f"{label}: {key}")
    same = len(found.keys() & before.keys()) - len(differ)
    print(f"{same} of {len(before)} templates byte-identical")
    return 1 if differ or missing or added else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
