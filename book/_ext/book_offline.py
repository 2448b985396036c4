"""Keep the built book offline: MathJax served from the build, no CDN loader in the pages.

Sphinx's default ``mathjax_path`` is ``https://cdn.jsdelivr.net/npm/mathjax@3/...``: a reader with
no network (a downloaded copy, a course server behind a firewall) sees raw LaTeX. This extension
copies MathJax 3 from the ``mathjax`` Python package (PyPI ``django-static-mathjax``, a maintained
copy of the MathJax release, pinned with the rest of the book's tools in requirements-lock.txt)
into ``_static/mathjax/`` of the HTML output and points ``mathjax_path`` at it.

Only what the pages use is copied (1.8 MB of the 24 MB of the package's ``es5`` build):

- ``tex-chtml.js``: TeX input, CommonHTML output, the menu and assistive MathML in one file;
- ``output/chtml/fonts/woff-v2/``: the fonts CommonHTML draws the glyphs with;
- ``input/tex/extensions/``: the TeX packages ``autoload`` fetches when a page uses their macros
  (e.g. ``\\cancel``, ``\\boldsymbol``); ``all-packages.js`` is left out (nothing loads it).

MathJax finds these relative to the URL of ``tex-chtml.js`` itself, so no further configuration
is needed; the accessibility explorer and speech of MathJax's menu (``a11y/``, ``sre/``, 4 MB,
loaded only when a reader switches them on) are not shipped.

The second external resource is sphinx-thebe's, which Jupyter Book loads even when the live-code
launch button is off (``launch_buttons: thebe``, the default): every page gets a script holding
``https://unpkg.com/thebe@...`` as a loader (twice, a console error) and ``sphinx-thebe.js``.
With thebe off, nothing can call them, so they are dropped from the pages.

Registered in ``_config.yml`` and ``book/_config_student.yml`` under
``sphinx: local_extensions``; tests/browser_check.py checks the result in Chromium.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError

#: Where the copy goes, relative to the HTML output's ``_static`` directory.
TARGET = "mathjax"
#: The combined component the pages load (relative to MathJax's ``es5`` directory).
ENTRY = "tex-chtml.js"
#: Directories MathJax loads from at run time, relative to ``es5``: (directory, file pattern).
RUNTIME_DIRS = [("output/chtml/fonts/woff-v2", "*.woff"), ("input/tex/extensions", "*.js")]
#: Files of those directories that no page loads.
UNUSED = {"all-packages.js"}


def mathjax_source() -> Path:
    """The ``es5`` directory of the installed MathJax (from the ``mathjax`` package)."""
    try:
        import mathjax
    except ImportError as err:
        raise ExtensionError(
            "offline_mathjax: the 'mathjax' package is missing; it comes with the book's tools: "
            'pip install -e ".[book]" -c requirements-lock.txt'
        ) from err
    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (es5 / ENTRY).is_file():
        raise ExtensionError(
            f"offline_mathjax: {es5 / ENTRY} not found; reinstall the 'book' extra"
        )
    return es5


def files_to_copy(es5: Path) -> list[Path]:
    """The MathJax files the built pages need, relative to ``es5``."""
    files = [Path(ENTRY)]
    for directory, pattern in RUNTIME_DIRS:
        found = sorted(p for p in (es5 / directory).glob(pattern) if p.name not in UNUSED)
        if not found:
            raise ExtensionError(f"offline_mathjax: no {pattern} in {es5 / directory}")
        files += [p.relative_to(es5) for p in found]
    return files


def use_local_mathjax(app: Sphinx, config: Config) -> None:
    mathjax_source()  # fail at the start of the build, not at its end
    config.mathjax_path = f"{TARGET}/{ENTRY}"  # Sphinx prefixes _static/


def copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    es5 = mathjax_source()
    target = Path(app.outdir) / "_static" / TARGET
    if target.exists():
        shutil.rmtree(target)
    for rel in files_to_copy(es5):
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(es5 / rel, target / rel)


def thebe_enabled(app: Sphinx) -> bool:
    launch = (app.config.html_theme_options or {}).get("launch_buttons") or {}
    return bool(launch.get("thebe"))


def is_thebe_asset(asset) -> bool:
    """True for the script and style sheet sphinx-thebe adds to every page."""
    filename = str(getattr(asset, "filename", asset) or "")
    body = (getattr(asset, "attributes", None) or {}).get("body", "")
    return Path(filename).name.startswith("sphinx-thebe.") or "THEBE_JS_URL" in body


def drop_thebe(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    if thebe_enabled(app):
        return
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [a for a in context[key] if not is_thebe_asset(a)]


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", use_local_mathjax)
    app.connect("html-page-context", drop_thebe, priority=900)  # after the assets are added
    app.connect("build-finished", copy_mathjax)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
