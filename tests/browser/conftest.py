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

from tests.browser import pages

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
    """A fresh context (no cookies) at the desk's 1366×768; JavaScript errors on any page fail the test."""
    context = browser.new_context(
        viewport={"width": pages.WIDTH, "height": pages.HEIGHT}, base_url=live_server.url, locale="en-US"
    )
    context.set_default_timeout(15_000)
    errors: list[str] = []
    tab = context.new_page()
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


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
