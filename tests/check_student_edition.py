"""Check a built student edition: no solution anywhere in its output, no instructor page.

Run by .ci/run after the student build (the test suite runs before the book is built):

    python tests/check_student_edition.py _build/student/_build

The argument is the build folder that holds ``html/`` (and ``jupyter_execute/``). Every file of
it that a reader could open or download (HTML, notebooks, Markdown and text copies, JavaScript
search index) is searched for a fingerprint of every solution in the book's sources: a run of
plain words from the solution's prose, long enough to occur nowhere else. Also checked: no
``instructors`` page, no ``_sources/`` copies, no notebook in the HTML folder, no download
button, and no element of sphinx-exercise's ``solution`` class. Exit status 1 with one line per
problem, 0 when the edition is clean. Standard library only.
"""

from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"

_SOLUTION = re.compile(r"^(`{3,}|:{3,})\{solution\}[^\n]*\n(.*?)^\1[ \t]*$", re.M | re.S)
_WORDS = re.compile(r"[A-Za-z][A-Za-z ,;'()-]{38,}[A-Za-z]")
_TEXT_SUFFIXES = {".html", ".ipynb", ".md", ".txt", ".js", ".json", ".py"}


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def solution_fingerprints(book: Path = BOOK) -> dict[str, str]:
    """``{label: fingerprint}`` for every solution in the chapters under ``book``.

    The fingerprint is the longest run of plain words (no markup, at least 40 characters) in the
    solution's prose that does not occur in the chapter outside its solutions.
    """
    out: dict[str, str] = {}
    for path in sorted(book.glob("*.md")):
        text = path.read_text()
        outside = _normal(_SOLUTION.sub("", text))
        for m in _SOLUTION.finditer(text):
            body = m.group(2)
            label = m.group(0).splitlines()[0].split("}", 1)[1].strip() or path.stem
            prose = [ln for ln in body.splitlines() if ln and not ln.startswith(("    ", ":"))]
            runs = sorted(
                {_normal(r) for ln in prose for r in _WORDS.findall(ln)}, key=len, reverse=True
            )
            runs = [r for r in runs if r not in outside]
            if runs:
                out[label] = runs[0]
    return out


def _readable_text(path: Path) -> str:
    raw = path.read_text(errors="replace")
    if path.suffix == ".ipynb":
        try:
            nb = json.loads(raw)
            raw = "\n".join("".join(c.get("source", "")) for c in nb.get("cells", []))
        except ValueError:
            pass
    if path.suffix == ".html":
        raw = html.unescape(re.sub(r"<[^>]+>", " ", raw))
    return _normal(raw)


def problems(build: Path, book: Path = BOOK) -> list[str]:
    """Every way in which the student edition built in ``build`` leaks or misses something."""
    site = build / "html"
    if not (site / "index.html").is_file():
        return [f"{site} has no index.html: not a built book"]
    found: list[str] = []
    if list(site.rglob("instructors*")):
        found.append("the instructor page is in the student edition")
    if (site / "_sources").exists():
        found.append("_sources/ holds copies of the chapters' sources (html_copy_source)")
    notebooks = [p for p in site.rglob("*.ipynb")]
    if notebooks:
        found.append(f"{len(notebooks)} notebook(s) in the HTML folder, e.g. {notebooks[0]}")
    prints = solution_fingerprints(book)
    if not prints:
        found.append(f"no solution found in {book}: nothing to check against")
    for path in sorted(p for p in build.rglob("*") if p.suffix in _TEXT_SUFFIXES):
        raw = path.read_text(errors="replace") if path.suffix == ".html" else ""
        if 'class="solution' in raw or "solution dropdown" in raw:
            found.append(f"{path}: an element of the solution class")
        if "download-button" in raw or "btn-download" in raw:
            found.append(f"{path}: a download button")
        text = _readable_text(path)
        for label, fingerprint in prints.items():
            if fingerprint in text:
                found.append(f"{path}: text of solution {label!r}: {fingerprint[:50]!r}")
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.split("\n\n")[1].strip(), file=sys.stderr)
        return 2
    found = problems(Path(argv[0]))
    for line in found:
        print("student edition:", line)
    if not found:
        print(f"student edition in {argv[0]}: no solutions, no instructor page")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
