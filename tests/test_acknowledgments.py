"""Every acknowledged security finding of every test configuration, against a committed snapshot.

An acknowledgment hides a finding from cdk-nag for good: a new one, a stale one, or a changed reason must show up in
review. After a deliberate change, rewrite the snapshot with `UPDATE_SNAPSHOTS=1 make test` and review its diff.
The NIST, HIPAA and PCI packs' acknowledgments are listed for the configurations that run those packs
(`security_checks`); elsewhere they are inert.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from portkey_gateway.compliance import RULE_PACKS

from .conftest import CONFIGS, synthesize

SNAPSHOT = Path(__file__).parent / "snapshots" / "acknowledgments.txt"
ACKNOWLEDGED = "aws:cdk:acknowledged-rules"


def acknowledgments(name: str) -> list[str]:
    """`<finding> | <construct path below the stack> | <reason>`, one line each, sorted."""
    _, assembly = synthesize(name)
    running = CONFIGS[name]().get("security_checks", [])
    inert = tuple(f"Annotation::{prefix}-" for pack, (_, prefix) in RULE_PACKS.items() if pack not in running)
    lines = []
    for metadata in Path(assembly.directory).glob("*.metadata.json"):  # one per stack, by construct path
        stack = metadata.name.removesuffix(".metadata.json")
        for path, entries in json.loads(metadata.read_text()).items():
            for entry in entries:
                if entry["type"] == ACKNOWLEDGED:
                    where = path.removeprefix(f"/{stack}/")
                    lines += [f"{finding} | {where} | {reason}" for finding, reason in entry["data"].items()
                              if not finding.startswith(inert)]
    return sorted(lines)


def render() -> str:
    blocks = [f"## {name}\n" + "\n".join(acknowledgments(name)) for name in sorted(CONFIGS)]
    return "\n\n".join(blocks) + "\n"


def test_every_acknowledgment_is_in_the_reviewed_snapshot(templates):
    current = render()
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(current)
    recorded = SNAPSHOT.read_text()
    added = sorted(set(current.splitlines()) - set(recorded.splitlines()))
    removed = sorted(set(recorded.splitlines()) - set(current.splitlines()))
    assert current == recorded, ("acknowledgments changed; review, then UPDATE_SNAPSHOTS=1 make test\n"
                                 + "\n".join([*(f"+ {line}" for line in added), *(f"- {line}" for line in removed)]))


def test_every_acknowledgment_has_a_reason_a_reviewer_can_read(templates):
    for name in CONFIGS:
        for line in acknowledgments(name):
            finding, path, reason = line.split(" | ", 2)
            assert len(reason) >= 40 and not reason.lower().startswith(("todo", "n/a", "ignore")), (name, line)
