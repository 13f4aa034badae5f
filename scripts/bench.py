"""`make bench`: how long synthesis takes, against the floor of a one-resource CDK app, and the test-suite wall time.

Every figure is measured in this run, through the same CDK CLI, so the numbers are comparable on one machine.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR_APP = '''
import aws_cdk as cdk
from aws_cdk import aws_sns as sns
app = cdk.App()
stack = cdk.Stack(app, "Floor")
sns.Topic(stack, "Topic")
app.synth()
'''


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def cdk_synth(*args: str) -> list[str]:
    out = tempfile.mkdtemp(prefix="bench-")
    return [str(ROOT / ".venv/bin/npx"), "--no-install", "cdk", "synth", "--no-lookups", "--no-notices", "-q", "-o", out, *args]


def main() -> None:
    floor_app = Path(tempfile.mkdtemp(prefix="bench-floor-")) / "floor.py"
    floor_app.write_text(FLOOR_APP)
    rows = [("one-resource CDK app (floor)", timed(cdk_synth("--app", f"{sys.executable} {floor_app}")))]
    for config in sorted((ROOT / "examples").glob("*.yaml")):
        rows.append((f"examples/{config.name}", timed(cdk_synth("-c", f"config={config}"))))
    rows.append(("test suite (make test, wall time)", timed([sys.executable, "-m", "pytest", "-q"])))
    width = max(len(name) for name, _ in rows)
    print(f"{'what':<{width}}  seconds")
    for name, seconds in rows:
        print(f"{name:<{width}}  {seconds:7.1f}")


if __name__ == "__main__":
    main()
