"""The student edition: no solution anywhere in the output.

sphinx-exercise's ``hide_solutions`` drops the solutions from the HTML pages, but a build
carries the chapter source in other places too: the ``.md`` copies in ``_sources/``, the
notebooks behind the download button, and the executed notebooks of ``jupyter_execute/``.
When ``hide_solutions`` is true this extension removes every ``solution`` directive from the
source text as Sphinx reads it (event ``source-read``), so nothing downstream (the parser,
MyST-NB's notebook, the copies) ever sees one. The code cells are unchanged, so the execution
cache of the main edition still applies. In the main edition it does nothing.

It also turns off the source copies and the download button (``html_copy_source``, and the
theme's ``use_download_button``, which Jupyter Book 1.x does not pass on from ``html:``); the
student configuration says the same, and uses a table of contents without the instructor
page (``book/_toc_student.yml``). ``tests/check_student_edition.py`` checks the
built output; ``tests/test_book.py`` tests :func:`strip_solutions`.
"""

from __future__ import annotations

import re

_OPEN = re.compile(r"^(?P<fence>`{3,}|:{3,})\{solution\}")


def strip_solutions(text: str) -> tuple[str, int]:
    """``text`` without its ``{solution}`` directives, and how many were removed.

    A directive runs from its opening fence (three or more backticks or colons, then
    ``{solution}``) to the next line that is the same fence alone; fences of other lengths
    inside it (nested code) do not close it.
    """
    out: list[str] = []
    lines = text.splitlines(keepends=True)
    removed = 0
    i = 0
    while i < len(lines):
        m = _OPEN.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        fence = m.group("fence")
        j = i + 1
        while j < len(lines) and lines[j].rstrip() != fence:
            j += 1
        if j == len(lines):
            raise ValueError(f"unclosed solution directive at line {i + 1}")
        removed += 1
        i = j + 1
    return "".join(out), removed


def _on_config_inited(app, config) -> None:
    if config.hide_solutions:
        # Jupyter Book 1.x does not pass html.use_download_button on to the theme
        config.html_theme_options = {
            **(config.html_theme_options or {}),
            "use_download_button": False,
        }
        config.html_copy_source = False


def _on_source_read(app, docname: str, source: list[str]) -> None:
    if app.config.hide_solutions:
        source[0], _ = strip_solutions(source[0])


def setup(app):
    app.connect("config-inited", _on_config_inited)
    app.connect("source-read", _on_source_read)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
