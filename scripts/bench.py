"""`make bench`: the synth time of every example and every environment of config/, next to the floor (a one-resource
CDK app), and the test suite's wall time.

Every figure is measured in this run, through the same CDK CLI as `make synth` (so with cdk.json's context, the
CloudFormation validation included): each synth runs 3 times, in rounds, and its median counts. The ratio is that
median over the floor's, so it compares across machines better than the seconds do.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from portkey_gateway.loader import known_environments  # noqa: E402  (after the path)

ROUNDS = 3
FLOOR = "one-resource CDK app (the floor)"
FLOOR_APP = '''
import aws_cdk as cdk
from aws_cdk import aws_sns as sns
app = cdk.App()
stack = cdk.Stack(app, "Floor")
sns.Topic(stack, "Topic")
app.synth()
'''
ENV = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
       "CDK_DISABLE_VERSION_CHECK": "1", "CDK_DISABLE_CLI_TELEMETRY": "true"}


def timed(command: list[str], check: bool = True) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=ENV, check=check, capture_output=True, text=True)
    return time.perf_counter() - start, result


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        floor_app = Path(tmp) / "floor.py"
        floor_app.write_text(FLOOR_APP)
        targets = {FLOOR: ["--app", f"{sys.executable} {floor_app}"]}
        targets |= {f"examples/{path.name}": ["-c", f"config={path}"] for path in sorted((ROOT / "examples").glob("*.yaml"))}
        targets |= {f"config/{name}.yaml": ["-c", f"env={name}"] for name in known_environments()}
        seconds: dict[str, list[float]] = {name: [] for name in targets}
        for _ in range(ROUNDS):  # in rounds, so that a busy moment of the machine weighs on every target alike
            for name, args in targets.items():
                out = tempfile.mkdtemp(dir=tmp)
                seconds[name].append(timed([str(ROOT / "node_modules" / ".bin" / "cdk"), "synth",
                                            "--no-lookups", "--no-notices", "-q", "-o", out, *args])[0])
    median = {name: statistics.median(times) for name, times in seconds.items()}
    width = max(map(len, median))
    print(f"{'cdk synth (median of ' + str(ROUNDS) + ')':<{width}}  seconds  x floor")
    for name, value in median.items():
        print(f"{name:<{width}}  {value:7.1f}  {value / median[FLOOR]:7.2f}")
    wall, suite = timed([sys.executable, "-m", "pytest", "-p", "no:cacheprovider"], check=False)
    summary = suite.stdout.strip().splitlines()[-1] if suite.stdout.strip() else f"exit {suite.returncode}"
    print(f"\n{'test suite (make test), wall time':<{width}}  {wall:7.1f}  ({summary})")
    sys.exit(suite.returncode)


if __name__ == "__main__":
    main()
