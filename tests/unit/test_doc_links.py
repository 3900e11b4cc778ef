"""Every relative link in the project's Markdown resolves in a clone: to a file or folder
inside the repository and, with a `#fragment`, to a heading of that file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted(
    [
        ROOT / "README.md",
        *ROOT.glob("docs/**/*.md"),
        *ROOT.glob("contracts/README.md"),
        *ROOT.glob("clients/*/README.md"),
    ]
)

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|`[^`]*`)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, mailto:, ...


def links(markdown: str) -> list[str]:
    text = FENCE.sub("", markdown)  # examples in code blocks are not links
    return sorted(set(INLINE_LINK.findall(text) + REFERENCE_LINK.findall(text)))


def slug(heading: str) -> str:
    """The anchor GitHub (and most renderers) give a heading."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    seen: dict[str, int] = {}
    found: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", markdown)):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def headings(doc: Path) -> set[str]:
    return anchors(doc.read_text())


def broken_links(doc: Path, root: Path = ROOT) -> list[str]:
    problems = []
    for target in links(doc.read_text()):
        if EXTERNAL.match(target):
            continue
        path, _, fragment = target.partition("#")
        resolved = (doc.parent / path).resolve() if path else doc
        if not resolved.is_relative_to(root):
            problems.append(f"{target}: outside the repository")
        elif not resolved.exists():
            problems.append(f"{target}: no such file")
        elif fragment and resolved.suffix == ".md" and fragment not in headings(resolved):
            problems.append(f"{target}: no heading #{fragment} in {resolved.name}")
    return problems


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(ROOT)) for d in DOCS])
def test_relative_links_resolve(doc: Path) -> None:
    assert broken_links(doc) == []


def test_the_checker_finds_broken_links(tmp_path: Path) -> None:
    doc = ROOT / "docs" / "wire-contract.md"
    assert links("[a](../shared/spec/wire-contract.md) [b](#the-wire-contract-v1)") == [
        "#the-wire-contract-v1",
        "../shared/spec/wire-contract.md",
    ]
    assert "dead-letters" in anchors(doc.read_text())
    assert slug("Dead letters: `x-death` & more") == "dead-letters-x-death--more"
    (tmp_path / "docs").mkdir()
    broken = tmp_path / "docs" / "broken.md"
    broken.write_text("# Title\n[x](../../shared/x.md) [y](#nope) [z](missing.md) [ok](#title)\n")
    assert broken_links(broken, root=tmp_path) == [
        "#nope: no heading #nope in broken.md",
        "../../shared/x.md: outside the repository",
        "missing.md: no such file",
    ]
