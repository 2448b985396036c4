"""Cheap structural checks of the Jupyter Book (the build itself runs in CI: .ci/run).

The full build executes every chapter with warnings as errors, which takes minutes; these
checks take milliseconds and catch the mistakes a build would only reveal at the end: a chapter
missing from disk, an exercise without a solution or a difficulty grade, a citation key missing
from the bibliography, and a student-edition configuration that has drifted from the main one.
Plain-text parsing only, so the test needs no book dependencies.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
TOC = ROOT / "_toc.yml"
CONFIG = ROOT / "_config.yml"
STUDENT = BOOK / "_config_student.yml"
BIB = BOOK / "references.bib"

#: Works named in shared/published-figures.md that the book cites.
REQUIRED_KEYS = {
    "fluckiger2018alliance",
    "norcross2018relationships",
    "baldwin2007untangling",
    "falkenstrom2013alliance",
    "falkenstrom2017dynamic",
    "falkenstrom2019nairobi",
    "zilchamano2014alliance",
    "fluckiger2020reciprocal",
    "fluckiger2016implement",
    "nickell1981biases",
}


def toc_files() -> list[Path]:
    files = re.findall(r"^\s*(?:root|- file):\s*(\S+)", TOC.read_text(), flags=re.M)
    return [ROOT / f"{f}.md" for f in files]


def chapters() -> list[Path]:
    """The numbered chapters (files named NN_*.md) listed in the table of contents."""
    return [p for p in toc_files() if re.match(r"\d\d_", p.name)]


def bib_keys() -> set[str]:
    return set(re.findall(r"^@\w+\{([^,\s]+),", BIB.read_text(), flags=re.M))


def test_every_toc_entry_exists():
    missing = [str(p.relative_to(ROOT)) for p in toc_files() if not p.exists()]
    assert missing == []
    assert len(chapters()) >= 5


@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.stem)
def test_chapter_has_goals_key_ideas_and_graded_exercises(path):
    text = path.read_text()
    assert text.startswith("---\njupytext:"), "chapters are MyST notebooks with front matter"
    assert "kernelspec:" in text and "name: python3" in text
    assert "```{admonition} Learning goals" in text
    assert "```{admonition} Key ideas" in text
    exercises = re.findall(r"```\{exercise\} \((easy|medium|hard)\)[^\n]*\n:label: (\S+)", text)
    assert {grade for grade, _ in exercises} == {"easy", "medium", "hard"}
    all_exercises = re.findall(r"```\{exercise\}", text)
    assert len(all_exercises) == len(exercises), "every exercise is graded easy/medium/hard"
    solutions = re.findall(r"```\{solution\} (\S+)\n:class: dropdown", text)
    assert sorted(solutions) == sorted(label for _, label in exercises)


def test_every_citation_is_in_the_bibliography():
    keys = bib_keys()
    cited = set()
    for path in BOOK.glob("*.md"):
        for group in re.findall(r"\{cite[tp]?\}`([^`]+)`", path.read_text()):
            cited.update(k.strip() for k in group.split(","))
    assert cited - keys == set()
    assert REQUIRED_KEYS - cited == set(), "the works of shared/published-figures.md are cited"


def test_student_edition_differs_only_in_title_and_solutions():
    def lines(path: Path) -> list[str]:
        return [line for line in path.read_text().splitlines() if not line.startswith("#")]

    main, student = lines(CONFIG), lines(STUDENT)
    assert len(main) == len(student)
    differing = [(a, b) for a, b in zip(main, student, strict=True) if a != b]
    keys = [a.split(":")[0].strip() for a, _ in differing]
    assert keys == ["title", "book_offline", "hide_solutions"]
    assert any(b.strip().startswith("hide_solutions: true") for _, b in differing)
    # local_extensions paths are relative to each file: both must name book/_ext
    (main_ext, student_ext) = differing[1]
    assert (ROOT / main_ext.split(":")[1].strip()).resolve() == BOOK / "_ext"
    assert (BOOK / student_ext.split(":")[1].strip()).resolve() == BOOK / "_ext"
    assert (BOOK / "_ext" / "book_offline.py").is_file()


def test_config_keeps_the_build_discipline():
    text = CONFIG.read_text()
    assert re.search(r"execute_notebooks:\s*cache", text)
    assert re.search(r"raise_on_error:\s*true", text)
    assert "sphinx_exercise" in text and "sphinx_proof" in text
    assert "book/references.bib" in text
    assert "intersphinx" not in text, "the build must work offline"
    assert re.search(r"local_extensions:\s*\n\s*book_offline:", text), "MathJax from the build"
    assert re.search(r"use_download_button:\s*true", text)


#: Longest code-cell line a reader sees without scrolling sideways: the theme's text column holds
#: 89 characters of code at full width (1440 px and wider), a "show code" toggle about 87
#: (measured by tests/browser_check.py, which checks the built pages at 1440 px).
CODE_WIDTH = 86


@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.stem)
def test_code_fits_the_page(path):
    text = path.read_text()
    cells = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", text, flags=re.S)
    assert cells, "chapters run code"
    long = [line for cell in cells for line in cell.splitlines() if len(line) > CODE_WIDTH]
    # solutions show their code as indented blocks
    for solution in re.findall(r"```\{solution\}[^\n]*\n(.*?)\n```", text, flags=re.S):
        code = [line[4:] for line in solution.splitlines() if line.startswith("    ")]
        long += [line for line in code if len(line) > CODE_WIDTH]
    assert long == [], f"code lines over {CODE_WIDTH} characters need sideways scrolling"
