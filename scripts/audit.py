"""`make audit`: checkov, an independent scanner, on an environment's synthesized stacks.

The environment is synthesized through the CDK CLI as it is deployed (the gateway stack, and the secrets stack with
`managed_secrets`), and checkov 3 (its own virtual environment, pinned in requirements-audit.txt) scans every template.
Every check that cannot pass carries a skip with its reason in the resource's metadata (`compliance.checkov_skip`),
which checkov prints with the skipped check: a failure here is a new finding to fix, or to skip with a reason.

    python scripts/audit.py --env prod [--checkov .audit-venv/bin/checkov]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from portkey_gateway.loader import ConfigError, load_config, resolve_config_path  # noqa: E402


def synthesize(target: list[str], secrets: bool) -> list[Path]:
    """The environment's templates: the gateway stack's, and the secrets stack's when it has one."""
    out = Path(tempfile.mkdtemp(prefix="audit-"))
    templates = []
    for name, extra in (("gateway", []), *((("secrets", ["-c", "secrets=true"]),) if secrets else ())):
        subprocess.run([str(ROOT / "node_modules/.bin/cdk"), "synth", "--no-lookups", "--no-notices", "-q",
                        "-o", str(out / name), *target, *extra], cwd=ROOT, check=True)
        templates += sorted((out / name).glob("*.template.json"))
    return templates


def scan(checkov: str, templates: list[Path]) -> tuple[int, list[str]]:
    """(failed checks, a line per result that is not a pass) from checkov's JSON report."""
    command = [checkov, "--framework", "cloudformation", "--output", "json", "--skip-download"]
    for template in templates:
        command += ["-f", str(template)]
    result = subprocess.run(command, capture_output=True, text=True)
    reports = json.loads(result.stdout)
    lines, failed = [], 0
    for report in reports if isinstance(reports, list) else [reports]:
        checks = report.get("results", {})
        for check in checks.get("failed_checks", []):
            failed += 1
            lines.append(f"FAILED  {check['check_id']}  {check['resource']}  {check['file_path']}: {check['check_name']}")
        for check in checks.get("skipped_checks", []):
            comment = (check.get("check_result") or {}).get("suppress_comment", "")
            lines.append(f"skipped {check['check_id']}  {check['resource']}: {comment}")
    return failed, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env")
    parser.add_argument("--config")
    parser.add_argument("--checkov", default=str(ROOT / ".audit-venv/bin/checkov"))
    args = parser.parse_args()
    try:
        settings = load_config(resolve_config_path(args.env, args.config))
    except ConfigError as error:
        sys.exit(f"error: {error}")
    target = ["-c", f"config={args.config}"] if args.config else ["-c", f"env={args.env or 'dev'}"]
    templates = synthesize(target, settings.managed_secrets)
    failed, lines = scan(args.checkov, templates)
    print("\n".join(lines))
    print(f"checkov on {', '.join(t.name for t in templates)}: {failed} failed, "
          f"{sum(line.startswith('skipped') for line in lines)} skipped with a reason")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
