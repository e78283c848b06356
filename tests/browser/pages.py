"""What a person does in the admin, for the browser tests: log in, read what a page shows, follow its links, and
leave a screenshot for a reviewer."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's
WIDTH, HEIGHT = 1366, 768  # the front desk's laptop
SHOTS_ENV = "BROWSER_SHOTS"
INSTALL_CHROMIUM = "sudo apt-get update && sudo apt-get install -y chromium"

# A link's target is visible to a person: laid out, not display:none / visibility:hidden / transparent.
VISIBLE_LINKS_JS = """
anchors => anchors
    .filter(a => a.checkVisibility({checkOpacity: true, checkVisibilityCSS: true}))
    .map(a => a.href)
"""


def chromium_executable() -> str | None:
    """``$CHROMIUM`` if set, else the Debian package's ``chromium`` (or ``chromium-browser``) on the PATH."""
    named = os.environ.get("CHROMIUM")
    if named:
        return shutil.which(named)
    return shutil.which("chromium") or shutil.which("chromium-browser")


def chromium_or_skip(*, module: bool = True) -> str | None:
    """The browser to drive, or what its absence does: at the top of a browser test module (``module``) a machine
    without one skips the module with one line naming the install command; in CI (``CI`` set) the module is
    collected and each of its tests fails (from the ``browser`` fixture, ``module=False``), the other tests of the
    run still running."""
    executable = chromium_executable()
    if executable is None:
        message = f"Chromium not found: {INSTALL_CHROMIUM} (or set CHROMIUM) to run the browser tests"
        if os.environ.get("CI"):
            if not module:
                pytest.fail(message, pytrace=False)
        else:
            pytest.skip(message, allow_module_level=module)
    return executable


def with_role_group(user):
    """The user with their role group's permissions, as ``clinic.services`` gives them to new staff."""
    Group.objects.get(name=user.membership.role).user_set.add(user)
    return user


def log_in(page: Page, user) -> None:
    """Through the admin's own login form, as a person does."""
    page.goto("/admin/login/?next=/admin/")
    page.get_by_label("Username").fill(user.get_username())
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#user-tools")).to_contain_text("Log out")
    assert urlsplit(page.url).path == "/admin/", page.url


def visible_links(page: Page) -> list[str]:
    """The distinct same-site addresses of the page's visible links, fragments dropped."""
    origin = urlsplit(page.url)[:2]
    links: dict[str, None] = {}
    for href in page.eval_on_selector_all("a[href]", VISIBLE_LINKS_JS):
        url, _ = urldefrag(href)
        if urlsplit(url)[:2] == origin:
            links[url] = None
    return list(links)


def refused_links(page: Page, links: list[str]) -> dict[str, int]:
    """The links that answer 403, 404 or a 5xx (redirects followed), with the session's cookies."""
    refused = {}
    for url in links:
        status = page.request.get(url).status
        if status in (403, 404) or status >= 500:
            refused[url] = status
    return refused


def column_right_edges(page: Page) -> dict[str, float]:
    """The right edge (px) of each column header of the change list, by its column class; the edge of the box the
    table is shown in (it clips what is wider) as ``"shown"``."""
    box = page.locator("#changelist .results").bounding_box()
    edges = {"shown": box["x"] + box["width"]} if box else {}
    for header in page.locator("#result_list thead th").all():
        name = next((c for c in (header.get_attribute("class") or "").split() if c.startswith("column-")), None)
        box = header.bounding_box()
        if name and box:
            edges[name.removeprefix("column-")] = box["x"] + box["width"]
    return edges


def scrolls_sideways(page: Page) -> bool:
    """The page, or the change list's table in its own box (the admin lets it scroll there), is wider than shown."""
    return page.evaluate(
        """() => document.documentElement.scrollWidth > window.innerWidth
            || [...document.querySelectorAll('#changelist .results')].some(box => box.scrollWidth > box.clientWidth)"""
    )


@dataclass
class Shots:
    """Screenshots of the run's main pages, in ``$BROWSER_SHOTS`` or a new folder under /tmp/limber-screenshots."""

    folder: Path
    taken: list[Path] = field(default_factory=list)

    @classmethod
    def for_run(cls) -> Shots:
        named = os.environ.get(SHOTS_ENV)
        stamp = f"{dt.datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}"
        return cls(Path(named) if named else Path("/tmp/limber-screenshots") / stamp)

    def take(self, page: Page, name: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
        page.screenshot(path=path, full_page=True)
        self.taken.append(path)
        return path
