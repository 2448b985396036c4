"""The rules of tests/browser_check.py, without a browser.

The check itself needs the built book and Chromium, so .ci/run runs it after the build; these
tests pin down what it counts as leaving the machine, as raw TeX, and as a page, and how it reads
Chromium's network log, so that a rule that has gone blind fails here in milliseconds.
"""

import json

import pytest

from tests.browser_check import is_chapter, is_local, network_events, pages, raw_tex


@pytest.mark.parametrize(
    "url",
    [
        "file:///tmp/book/_static/mathjax/tex-chtml.js",
        "data:font/woff;base64,AAAA",
        "blob:file:///0b3f",
        "about:blank",
        "http://localhost:8000/index.html",
        "http://127.0.0.1/x.js",
        "https://[::1]:9000/x.css",
    ],
)
def test_local_urls(url):
    assert is_local(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js",
        "https://unpkg.com/thebe@0.8.2/lib/index.js",
        "http://10.0.0.5/course/book.css",  # a course server is still the network
        "wss://mybinder.org/kernel",
        "ftp://example.org/x",
        "//fonts.googleapis.com/css",
    ],
)
def test_urls_that_leave_the_machine(url):
    assert not is_local(url)


@pytest.mark.parametrize(
    "text",
    [
        r"regresses each variable at wave \(t\) on",
        r"\[\begin{split} x_{it} &= \mu_{xt} \end{split}\]",
        r"so $$ y = \beta x $$ holds",
        r"the \begin{aligned} block",
        r"with \hat\gamma = 0.1",
    ],
)
def test_raw_tex_is_found(text):
    assert raw_tex(text)


def test_raw_tex_reports_each_place_once():
    text = r"was \(r = .278\), 95% CI \([.256, .299]\)" + " filler" * 20 + r" and \(t\)"
    assert len(raw_tex(text)) == 2


def test_typeset_prose_has_no_raw_tex():
    assert raw_tex("regresses each variable at wave t on both variables at wave t − 1:") == []
    assert raw_tex("costs $5, or 5 $ per session") == []


def test_pages_skip_theme_templates(tmp_path):
    for rel in [
        "index.html",
        "book/05_clpm.html",
        "_static/webpack-macros.html",
        "_sources/x.html",
    ]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("<html></html>")
    found = [p.relative_to(tmp_path).as_posix() for p in pages(tmp_path)]
    assert found == ["book/05_clpm.html", "index.html"]
    assert [is_chapter(p) for p in pages(tmp_path)] == [True, False]


def _event(method, **params):
    return {"message": json.dumps({"message": {"method": method, "params": params}})}


def test_network_log_gives_requests_and_failed_loads():
    log = [
        _event("Network.requestWillBeSent", requestId="1", request={"url": "file:///a.js"}),
        _event("Network.requestWillBeSent", requestId="2", request={"url": "https://cdn.x/m.js"}),
        _event("Network.loadingFailed", requestId="2", errorText="net::ERR_BLOCKED_BY_CLIENT"),
        _event("Network.requestWillBeSent", requestId="3", request={"url": "file:///font.woff"}),
        _event("Network.loadingFailed", requestId="3", errorText="net::ERR_FILE_NOT_FOUND"),
        _event("Network.loadingFailed", requestId="1", canceled=True),
        _event("Page.loadEventFired"),
    ]
    requested, failed = network_events(log)
    assert requested == ["file:///a.js", "https://cdn.x/m.js", "file:///font.woff"]
    assert failed == [
        "https://cdn.x/m.js (net::ERR_BLOCKED_BY_CLIENT)",
        "file:///font.woff (net::ERR_FILE_NOT_FOUND)",
    ]
