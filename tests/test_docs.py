"""The documentation: the MkDocs site in docs/ builds under --strict (so a broken link or anchor fails the tests), and
the README stays a front page: small, linking to every page of the site, every relative link pointing somewhere real.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT

README = ROOT / "README.md"
MKDOCS_YML = ROOT / "mkdocs.yml"
README_LIMIT = 15_000  # bytes: a front page, not the manual
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")  # [text](target) and ![alt](target)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess:
    # NO_MKDOCS_2_WARNING: Material's notice about its end of life, printed on every build, says nothing about ours.
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(site)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    run = mkdocs_build(MKDOCS_YML, site)
    print(run.stdout + run.stderr)
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stderr}"
    return site


def nav_pages() -> list[str]:
    """Every page file in mkdocs.yml's nav, in order."""
    def walk(items) -> list[str]:
        pages = []
        for item in items:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            pages += walk(value) if isinstance(value, list) else [value]
        return pages
    return walk(yaml.safe_load(MKDOCS_YML.read_text())["nav"])


def readme_links() -> list[str]:
    return LINK.findall(FENCE.sub("", README.read_text()))


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_site_builds_strictly(site):
    assert (site / "index.html").is_file()
    for page in nav_pages():
        assert (site / Path(page).with_suffix(".html")).is_file(), f"{page} was not built"


def test_every_page_in_docs_is_in_the_nav():
    assert sorted(nav_pages()) == sorted(p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md"))


def test_a_broken_anchor_fails_the_build(tmp_path):
    """The validation settings in mkdocs.yml make a link to a missing heading a warning, and --strict a failure."""
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(MKDOCS_YML, tmp_path / "mkdocs.yml")
    page = tmp_path / "docs" / "index.md"
    page.write_text(page.read_text() + "\n[broken](getting-started.md#no-such-heading)\n")
    run = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert run.returncode != 0, run.stderr
    assert "does not contain an anchor '#no-such-heading'" in run.stderr, run.stderr


def test_readme_is_a_front_page():
    size = len(README.read_bytes())
    assert size < README_LIMIT, f"README.md is {size:,} bytes, over {README_LIMIT:,}: move the detail into docs/"


def test_readme_keeps_the_two_commands():
    # .ci/run runs the README's test command; the Makefile's header lists the same two.
    lines = README.read_text().splitlines()
    assert any(line.startswith("make synth   # ") for line in lines)
    assert any(line.startswith("make test    # ") for line in lines)


def test_readme_links_to_every_page():
    targets = {link.partition("#")[0] for link in readme_links()}
    missing = [page for page in nav_pages() if f"docs/{page}" not in targets]
    assert not missing, f"README.md does not link to {missing}"


def test_every_relative_link_in_the_readme_exists(site):
    headings = {github_slug(line.lstrip("#")) for line in FENCE.sub("", README.read_text()).splitlines()
                if line.startswith("#")}
    broken = []
    for link in readme_links():
        if re.match(r"[a-z]+:", link):  # https:, mailto:
            continue
        path, _, anchor = link.partition("#")
        if not path:
            if anchor not in headings:
                broken.append(link)
        elif not (ROOT / path).exists():
            broken.append(link)
        elif anchor and path.startswith("docs/") and path.endswith(".md"):
            built = site / Path(path).relative_to("docs").with_suffix(".html")
            if f'id="{anchor}"' not in built.read_text():
                broken.append(link)
    assert not broken, f"README.md links to what does not exist: {broken}"
