"""One system Chromium for the browser tests, a fresh context per test, and a screenshot folder the run prints.

Playwright cannot download browsers here: it drives the Debian ``chromium`` package (``.ci/run`` installs it when
missing). Outside CI a machine without Chromium skips each browser test module with one line naming the install
command (``pages.chromium_or_skip``); in CI (``CI`` set) each browser test fails instead.

Playwright's sync API keeps an event loop running in this thread while it is started, and Django refuses ORM calls
from a thread with a running loop; so ``DJANGO_ALLOW_ASYNC_UNSAFE`` is set exactly while the browser runs: for these
tests only. That is also why the browser is package-scoped, not session-scoped: it stops (and the variable goes)
when the last browser test is done, before any other test of the session runs.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext

from tests.browser import pages, portal_support

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
_SHOTS = pytest.StashKey[pages.Shots]()


@pytest.fixture(scope="package")
def browser():
    executable = pages.chromium_or_skip(module=False)

    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as env:
        env.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # while the browser's event loop runs: see the docstring
        with sync_playwright() as playwright:
            # Playwright gives the browser a fresh temporary profile (user-data dir) and removes it on close.
            launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
            yield launched
            launched.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh context (no cookies) at the desk's 1366×768; JavaScript errors and violations of the site's CSP on
    any page fail the test (``portal_support.PageWatch``)."""
    tab, watch = portal_support.open_page(
        browser, base_url=live_server.url, viewport={"width": pages.WIDTH, "height": pages.HEIGHT}
    )
    yield tab
    watch.settle(tab.context)
    tab.context.close()
    watch.assert_clean()


@pytest.fixture
def shots(request) -> pages.Shots:
    """The run's screenshot folder (printed at the end of the run)."""
    stash = request.config.stash
    if _SHOTS not in stash:
        stash[_SHOTS] = pages.Shots.for_run()
    return stash[_SHOTS]


def pytest_terminal_summary(terminalreporter, config):
    taken = config.stash.get(_SHOTS, None)
    if taken is not None and taken.taken:
        terminalreporter.write_line(f"Browser screenshots ({len(taken.taken)}): {taken.folder}")


# --- The portal's pages (issue 16): tests/browser/portal_support.py -------------------------------------------------


@pytest.fixture
def new_page(browser, live_server):
    """Open pages for the portal: ``new_page(viewport=PHONE, **context_options)`` gives a page in a fresh context
    (no cookies) on the live server, watched from its first document on. At teardown the test fails on any CSP
    violation or JavaScript error in any page it opened (``portal_support.PageWatch``; ``watch_of(page)`` checks
    mid-test)."""
    opened: list[tuple[BrowserContext, portal_support.PageWatch]] = []

    def open_(viewport: dict | None = None, **context_options):
        tab, watch = portal_support.open_page(
            browser, base_url=live_server.url, viewport=viewport or portal_support.PHONE, **context_options
        )
        opened.append((tab.context, watch))
        return tab

    yield open_
    for context, watch in opened:
        watch.settle(context)
        context.close()
    for _, watch in opened:
        watch.assert_clean()


@pytest.fixture
def portal_page(request, new_page):
    """One portal page at the phone's 390×844, or at the viewport given by indirect parametrization:
    ``@pytest.mark.parametrize("portal_page", [PHONE, DESKTOP], indirect=True)``."""
    return new_page(getattr(request, "param", None) or portal_support.PHONE)
