"""The manual: the README is the front door (short, its two commands first, the test command the one CI runs,
links that hold on GitHub) and docs/ is built as a site by MkDocs, whose strict build fails on any page left
out of the navigation and any link or anchor that does not hold."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")  # [text](target) and ![alt](target)
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def readme() -> str:
    return README.read_text(encoding="utf-8")


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, each space a hyphen."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {github_slug(m.group(1)) for m in re.finditer(r"^#{1,6} +(.+?) *$", text, re.MULTILINE)}


def test_the_manual_builds_strictly_with_mkdocs(tmp_path):
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("MkDocs is not installed (pip install -e '.[dev]' brings it): the site is not built")
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for page in DOCS.glob("*.md"):
        built = site / ("index.html" if page.stem == "index" else f"{page.stem}/index.html")
        assert built.is_file(), f"docs/{page.name} was not built into the site"


def test_every_page_of_the_manual_is_in_its_navigation():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in DOCS.glob("*.md"):
        assert re.search(rf":\s*{re.escape(page.name)}\s*$", nav, re.MULTILINE), (
            f"mkdocs.yml's nav leaves out {page.name}"
        )


def test_the_readme_fits_on_two_screens():
    lines = readme().splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines: move the detail into a page of docs/"


def test_the_readme_starts_with_its_two_commands_and_the_second_is_what_ci_runs():
    blocks = FENCE.findall(readme())
    install, tests = blocks[0].strip(), blocks[1].strip()
    assert install.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install .")
    assert install.endswith("&& mnist-tui")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    command = ci[ci.index("# The README's test command:") + 1]
    assert tests == command == 'pip install -e ".[dev]" && pytest'


def test_the_readme_links_hold_on_github():
    targets = LINK.findall(readme())
    assert any(t.startswith("docs/") and t.endswith(".md") for t in targets)
    for target in targets:
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        page = (ROOT / path) if path else README
        assert page.is_file(), f"README.md links to {target}, which is not a file of the repository"
        if anchor:
            assert anchor in anchors(page), f"README.md links to {target}: {path or 'README.md'} has no such heading"


def test_the_presets_table_is_the_same_in_the_readme_and_the_manual():
    def table(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.startswith(("| `tutorial`", "| `fast`", "| `best`"))]

    readme_rows = table(readme())
    assert len(readme_rows) == 3
    assert readme_rows == table((DOCS / "training.md").read_text(encoding="utf-8"))


def test_no_code_block_of_the_manual_is_indented_into_a_list():
    # MkDocs's Markdown reads a fence inside a list item as inline code: the block renders as one line of text.
    for page in DOCS.glob("*.md"):
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            assert not re.match(r" +```", line), f"docs/{page.name}:{number}: a code block indented into a list"
