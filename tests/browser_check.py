"""Open every page of the built book in headless Chromium and check what a reader would see.

Run by .ci/run after the book build (it needs the built HTML, so it is a script, not a pytest
test; tests/test_browser_check.py tests its rules without a browser)::

    python tests/browser_check.py _build/html --screenshots _build/screenshots

Each page is loaded from ``file://`` with every ``http(s)`` request blocked (and recorded), as a
reader without network would open a downloaded copy. A page fails when

- a request left the machine (anything but ``file:``, ``data:``, ``blob:`` or loopback), or a
  local file it asked for is missing;
- MathJax did not finish typesetting, an element Sphinx marked as math holds no MathJax output,
  MathJax reported a TeX error (``mjx-merror``), or raw TeX (``\\(``, ``\\[``, ``$$``, a
  ``\\macro``) is left in the visible prose;
- a code cell's input or text output is wider than its box (the reader would have to scroll
  sideways; wide tables may scroll);
- the browser console logged an error.

One screenshot per chapter (``NN_*.html``), scrolled to its first displayed equation, goes to
``--screenshots``. Chromium and chromedriver are the Debian packages ``chromium`` and
``chromium-driver`` (.ci/run installs them); Selenium drives them with no driver download.
The exit status is 1 when any page fails, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

#: Chromium flags: headless, no sandbox (CI runs as root), and none of its own network traffic
#: (component updates, sync, field trials) so that every recorded request is the page's.
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--hide-scrollbars",
    "--window-size=1440,1000",
]
#: The reading width the code-width check applies to: from 1440 px on, the theme's text column
#: has its full width (89 characters of code; 77 at 1280 px, where the right-hand contents
#: still take room).
WINDOW = (1440, 1000)
#: Seconds to wait for MathJax to finish a page.
TYPESET_TIMEOUT = 60

LOCAL_SCHEMES = {"file", "data", "blob", "about", "chrome-error"}
#: Console errors that are not the book's: pydata-sphinx-theme logs this on a reader's first
#: visit (nothing stored yet for the light/dark switch) and then uses "auto".
BENIGN_CONSOLE = ("Got invalid theme mode: . Resetting to auto.",)
#: At most this many examples of one kind of problem per page.
MAX_EXAMPLES = 5
#: Raw TeX that must not survive typesetting in the visible text (code is excluded).
RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$|\\begin\{|\\(?:frac|sum|mathrm|hat|beta|alpha)\b")

#: Collects what the reader sees: text outside code and outside MathJax output, math elements
#: without MathJax output, TeX errors, and code inputs wider than their box.
INSPECT_JS = r"""
const skip = el => el.closest('pre, code, script, style, mjx-container, .highlight, noscript');
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
const parts = [];
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  const el = n.parentElement;
  if (!el || skip(el)) continue;
  if (el.getClientRects().length === 0) continue;  // display:none (closed dropdowns keep text)
  parts.push(n.textContent);
}
const math = [...document.querySelectorAll('.math')];
const untypeset = math.filter(el => !el.querySelector('mjx-container'))
  .map(el => el.textContent.trim().slice(0, 80));
const errors = [...document.querySelectorAll('mjx-merror')]
  .map(el => (el.getAttribute('data-mjx-error') || el.textContent).slice(0, 120));
const wide = [...document.querySelectorAll('.cell_input pre, div.highlight-python pre')]
  .filter(pre => pre.scrollWidth > pre.clientWidth + 1)
  .map(pre => {
    const longest = pre.textContent.split('\n').reduce((a, b) => (b.length > a.length ? b : a), '');
    return `${longest.length} chars: ${longest.trim().slice(0, 60)}`;
  });
const wideOutput = [...document.querySelectorAll('.cell_output pre')]
  .filter(pre => pre.scrollWidth > pre.clientWidth + 1)
  .map(pre => pre.textContent.trim().slice(0, 60));
return {
  text: parts.join(' '), wideOutput,
  n_math: math.length,
  n_mjx: document.querySelectorAll('mjx-container').length,
  untypeset, errors, wide,
  has_mathjax: !!(window.MathJax && window.MathJax.startup),
};
"""

#: Resolves when MathJax has typeset the page (and its fonts are loaded), or at once without it.
WAIT_JS = """
const done = arguments[arguments.length - 1];
const fonts = () => document.fonts.ready.then(() => done('ok'));
if (!document.querySelector('script[src*="mathjax"]')) { fonts(); return; }
const start = Date.now();
const poll = () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(fonts, e => done('MathJax failed: ' + e));
  } else if (Date.now() - start > 10000) {
    done('MathJax did not start within 10 s of the page load (script missing or blocked?)');
  } else { setTimeout(poll, 50); }
};
poll();
"""


@dataclass
class PageReport:
    page: str
    problems: list[str] = field(default_factory=list)
    n_math: int = 0


def is_local(url: str) -> bool:
    """True when loading ``url`` does not leave the machine (file/data/blob or loopback)."""
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    if parts.scheme in {"http", "https", "ws", "wss"}:
        host = (parts.hostname or "").strip("[]")
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
    return False


def raw_tex(text: str) -> list[str]:
    """Snippets of ``text`` around raw TeX delimiters or macros (empty when there are none)."""
    spans: list[list[int]] = []
    for m in RAW_TEX.finditer(text):
        start, end = max(m.start() - 30, 0), m.end() + 30
        if spans and start <= spans[-1][1]:  # overlaps the previous snippet: one place
            spans[-1][1] = end
        else:
            spans.append([start, end])
    return [" ".join(text[a:b].split())[:160] for a, b in spans]


def examples(label: str, items: list[str]) -> list[str]:
    """One problem line per item, the first MAX_EXAMPLES of them and a count of the rest."""
    lines = [f"{label}: {item}" for item in items[:MAX_EXAMPLES]]
    if len(items) > MAX_EXAMPLES:
        lines.append(f"{label}: ... and {len(items) - MAX_EXAMPLES} more")
    return lines


def pages(root: Path) -> list[Path]:
    """Every HTML page of the built book (not the theme's templates under _static)."""
    skip = {"_static", "_sources", "_images", "_downloads"}
    return sorted(p for p in root.rglob("*.html") if not skip & set(p.relative_to(root).parts))


def is_chapter(page: Path) -> bool:
    return re.match(r"\d\d_", page.name) is not None


def network_events(log: list[dict]) -> tuple[list[str], list[str]]:
    """(requested URLs, URLs that failed to load) from Chromium's performance log."""
    requested, urls, failed = [], {}, []
    for entry in log:
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            url = params["request"]["url"]
            urls[params["requestId"]] = url
            requested.append(url)
        elif message["method"] == "Network.loadingFailed" and not params.get("canceled"):
            failed.append(urls.get(params["requestId"], "?") + f" ({params.get('errorText')})")
    return requested, failed


def start_browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not binary or not driver_path:
        sys.exit(
            "browser_check: chromium/chromedriver not found; install the Debian packages: "
            "apt-get install -y chromium chromium-driver"
        )
    profile = tempfile.mkdtemp(prefix="causalrel-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_window_size(*WINDOW)
    driver.set_script_timeout(TYPESET_TIMEOUT)
    driver.execute_cdp_cmd("Network.enable", {})
    # the reader has no network: anything non-local is refused (and still reported below)
    blocked = ["http://*", "https://*", "ws://*", "wss://*", "ftp://*"]
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": blocked})
    return driver, profile


def check_page(driver, page: Path, root: Path, shots: Path | None) -> PageReport:
    from selenium.common.exceptions import TimeoutException

    report = PageReport(str(page.relative_to(root)))
    driver.get_log("performance")  # drop the previous page's events
    driver.get_log("browser")
    driver.get(page.as_uri())
    try:
        status = driver.execute_async_script(WAIT_JS)
    except TimeoutException:
        status = f"MathJax did not finish typesetting within {TYPESET_TIMEOUT} s"
    if status != "ok":
        report.problems.append(str(status))
    seen = driver.execute_script(INSPECT_JS)
    report.n_math = seen["n_math"]
    requested, failed = network_events(driver.get_log("performance"))
    report.problems += examples(
        "request leaves the machine", [u for u in requested if not is_local(u)]
    )
    report.problems += examples("failed to load", [u for u in failed if is_local(u.split(" (")[0])])
    if seen["n_math"]:
        if not seen["has_mathjax"]:
            report.problems.append(f"{seen['n_math']} math elements but MathJax did not load")
        if seen["n_mjx"] == 0:
            report.problems.append("no MathJax output (mjx-container) on a page with math")
    report.problems += examples("math not typeset", [repr(t) for t in seen["untypeset"]])
    report.problems += examples("TeX error", [repr(t) for t in seen["errors"]])
    report.problems += examples("raw TeX in the text", [repr(t) for t in raw_tex(seen["text"])])
    report.problems += examples("code wider than its box", seen["wide"])
    report.problems += examples("text output wider than its box", seen["wideOutput"])
    console = [
        e["message"][:200]
        for e in driver.get_log("browser")
        if e["level"] == "SEVERE" and not any(b in e["message"] for b in BENIGN_CONSOLE)
    ]
    report.problems += examples("console error", console)
    if shots is not None and is_chapter(page):
        driver.execute_script(
            "const m = document.querySelector('mjx-container[display=\"true\"]');"
            "if (m) { m.scrollIntoView({block: 'center'}); }"
        )
        driver.save_screenshot(str(shots / f"{page.stem}.png"))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("html", type=Path, help="built book directory (_build/html)")
    parser.add_argument("--screenshots", type=Path, help="directory for one PNG per chapter")
    args = parser.parse_args(argv)
    root = args.html.resolve()  # file:// URIs need an absolute path
    if not (root / "index.html").is_file():
        parser.error(f"{root} has no index.html: build the book first (jupyter-book build .)")
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)

    driver, profile = start_browser()
    reports = []
    try:
        for page in pages(root):
            report = check_page(driver, page, root, args.screenshots)
            reports.append(report)
            mark = "ok  " if not report.problems else "FAIL"
            print(f"{mark} {root / report.page} ({report.n_math} math)")
            for problem in report.problems:
                print(f"     - {problem}")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)

    failed = [r for r in reports if r.problems]
    n_math = sum(r.n_math for r in reports)
    print(
        f"browser_check: {len(reports)} pages, {n_math} math elements, {len(failed)} with problems"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
