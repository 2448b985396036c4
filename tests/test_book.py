"""Cheap structural checks of the Jupyter Book (the build itself runs in CI: .ci/run).

The full build executes every chapter with warnings as errors, which takes minutes; these
checks take milliseconds and catch the mistakes a build would only reveal at the end: a chapter
missing from disk, an exercise without a solution or a difficulty grade, a citation key missing
from the bibliography, and a student-edition configuration that has drifted from the main one.
Plain-text parsing only, so the test needs no book dependencies. The student edition's built
output is checked by tests/check_student_edition.py (run by .ci/run after the build, and here
when a build exists).
"""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
TOC = ROOT / "_toc.yml"
CONFIG = ROOT / "_config.yml"
STUDENT = BOOK / "_config_student.yml"
STUDENT_TOC = BOOK / "_toc_student.yml"
EXT = BOOK / "_ext"
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
    assert keys == [
        "title",
        "book_offline",
        "student_edition",
        "hide_solutions",
        "html_copy_source",
        "use_download_button",
    ]
    values = {
        k: b.split(":", 1)[1].split("#")[0].strip()
        for k, (_, b) in zip(keys, differing, strict=True)
    }
    assert values["hide_solutions"] == "true"
    assert values["html_copy_source"] == "false"
    assert values["use_download_button"] == "false"
    # local_extensions paths are relative to each file: both must name book/_ext
    for k in ("book_offline", "student_edition"):
        main_line, student_line = differing[keys.index(k)]
        assert (ROOT / main_line.split(":")[1].split("#")[0].strip()).resolve() == BOOK / "_ext"
        assert (BOOK / values[k]).resolve() == BOOK / "_ext"
        assert (BOOK / "_ext" / f"{k}.py").is_file()


def test_student_toc_is_the_toc_without_the_instructor_page():
    def entries(path: Path) -> list[str]:
        return [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]

    main, student = entries(TOC), entries(STUDENT_TOC)
    instructor = ["  - caption: Start here", "    chapters:", "      - file: book/instructors"]
    at = main.index(instructor[0])
    assert main[at : at + 3] == instructor
    assert main[:at] + main[at + 3 :] == student
    assert "instructors" not in STUDENT_TOC.read_text().split("#")[-1]


def _student_edition_module():
    spec = importlib.util.spec_from_file_location("student_edition", EXT / "student_edition.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_strip_solutions_removes_every_solution_and_nothing_else():
    strip = _student_edition_module().strip_solutions
    sample = (
        "text\n```{exercise} (easy) A\n:label: a\n\nQ?\n```\n\n"
        "```{solution} a\n:class: dropdown\n\n    code()\n\nSECRET answer\n```\n"
        "after\n````{solution} b\n```python\nx = 1\n```\nSECRET two\n````\nend\n"
    )
    out, n = strip(sample)
    assert n == 2
    assert "SECRET" not in out and "{solution}" not in out
    assert out.startswith("text\n```{exercise} (easy) A") and out.endswith("after\nend\n")
    with pytest.raises(ValueError, match="unclosed"):
        strip("```{solution} a\nnever closed\n")
    for path in chapters():
        text = path.read_text()
        out, n = strip(text)
        assert n == text.count("```{solution}") and "{solution}" not in out
        assert out.count("```{exercise}") == text.count("```{exercise}")
        assert out.count("```{code-cell}") == text.count("```{code-cell}")


def _fake_build(tmp_path: Path, body: str) -> Path:
    site = tmp_path / "html"
    site.mkdir(parents=True)
    (site / "index.html").write_text(f"<html><body><p>{body}</p></body></html>")
    return tmp_path


def test_the_built_output_check_finds_leaks(tmp_path):
    from tests.check_student_edition import problems, solution_fingerprints

    prints = solution_fingerprints(BOOK)
    assert len(prints) == sum(p.read_text().count("```{solution}") for p in BOOK.glob("*.md"))
    clean = _fake_build(tmp_path / "clean", "exercises only")
    assert problems(clean) == []
    label, fingerprint = next(iter(prints.items()))
    leaky = _fake_build(tmp_path / "leaky", fingerprint.replace(" ", "\n  "))
    (leaky / "html" / "instructors.html").write_text("<p>rubrics</p>")
    (leaky / "html" / "_sources").mkdir()
    found = problems(leaky)
    assert any(label in line for line in found)
    assert any("instructor page" in line for line in found)
    assert any("_sources" in line for line in found)


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
