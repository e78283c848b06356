"""The portal's browser-test harness works (issue 16, items 4-5): under the portal's strict policy, inline script and
style are reported as CSP violations and a thrown error as a JavaScript error; axe-core runs without causing a
violation of its own and finds an unlabelled input. The pages are served by route interception on the live server's
origin (so 'self' is the live server, as for the portal), not by the URLconf."""

from __future__ import annotations

import time

import pytest
from csp.utils import build_policy

from clinic.csp import PORTAL_POLICY
from tests.browser import pages, portal_support
from tests.browser.portal_support import PHONE, assert_accessible, shoot, watch_of

pytestmark = pytest.mark.browser
pages.chromium_or_skip()

PAGE = "/__harness__/page"
CLEAN = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Harness</title>
<link rel="stylesheet" href="/__harness__/app.css"><script src="/__harness__/app.js" defer></script></head>
<body><main><h1>Today</h1><p id="said">…</p>
<form><label for="pain">Pain before (0-10)</label><input id="pain" name="pain" type="number"></form>
</main></body></html>"""
FILES = {
    "app.js": ("text/javascript", "document.getElementById('said').textContent = 'Script from self ran';"),
    "app.css": ("text/css", "body { font: 16px/1.5 sans-serif; color: #111; background: #fff; }"),
    "throws.js": ("text/javascript", "throw new Error('harness: thrown on purpose');"),
}


def _serve(page, html: str) -> None:
    """``PAGE`` answers ``html`` and /__harness__/<file> answers ``FILES``, all under the portal's strict policy."""
    header = build_policy(config=PORTAL_POLICY)

    def answer(route):
        name = route.request.url.rsplit("/", 1)[-1]
        content_type, body = ("text/html", html) if name == "page" else FILES[name]
        route.fulfill(status=200, body=body, headers={"Content-Type": content_type, "Content-Security-Policy": header})

    page.route("**/__harness__/*", answer)


def _eventually(page, check, seconds: float = 3.0) -> bool:
    """Wait (letting Playwright deliver the page's events: a plain sleep would not) until ``check()`` holds."""
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    return bool(check())


def test_a_clean_strict_page_passes_and_axe_adds_no_violation(new_page, tmp_path):
    page = new_page(PHONE)
    _serve(page, CLEAN)
    page.goto(PAGE)
    assert page.locator("#said").text_content() == "Script from self ran"  # a script from 'self' runs

    violations = assert_accessible(page, "harness")
    assert all(v["impact"] not in {"serious", "critical"} for v in violations)
    assert watch_of(page).problems() == []  # axe, evaluated in the page, caused no CSP violation

    shot = shoot(pages.Shots(tmp_path), page, "harness")
    assert shot.name == "portal-harness-390.png"
    assert shot.stat().st_size > 0


def test_inline_script_inline_style_and_errors_are_caught(browser, live_server):
    page, watch = portal_support.open_page(browser, base_url=live_server.url, viewport=PHONE)
    try:
        _serve(
            page,
            CLEAN.replace(
                "</main>", '<script>document.title = "inline"</script><p style="color: red">red</p></main>'
            ).replace("app.js", "throws.js"),
        )
        page.goto(PAGE)
        assert page.title() == "Harness"  # the inline script was refused
        assert _eventually(page, lambda: len(watch.csp_violations) >= 4 and watch.js_errors)
    finally:
        page.context.close()

    seen = "\n".join(watch.csp_violations)
    assert "script-src-elem blocked 'inline'" in seen  # the securitypolicyviolation event
    assert "style-src-attr blocked 'inline'" in seen
    assert "Content Security Policy directive 'script-src 'self''" in seen  # Chromium's console error
    assert "Content Security Policy directive 'style-src 'self''" in seen
    assert any("harness: thrown on purpose" in error for error in watch.js_errors)
    with pytest.raises(AssertionError, match=r"problem\(s\) in the browser"):
        watch.assert_clean()  # what the new_page fixture does at teardown


def test_axe_finds_an_unlabelled_input(new_page):
    page = new_page(PHONE)
    _serve(page, CLEAN.replace('<label for="pain">Pain before (0-10)</label>', ""))
    page.goto(PAGE)
    with pytest.raises(AssertionError) as failure:
        assert_accessible(page, "unlabelled")
    message = str(failure.value)
    assert "on unlabelled" in message
    assert "- label [critical]: Form elements must have labels" in message
    assert "#pain" in message  # the node
