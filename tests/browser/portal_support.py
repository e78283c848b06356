"""What the portal's browser tests need beyond the admin's (issue 16, items 4-6): a phone- or desk-sized page that
fails its test on any Content Security Policy violation or JavaScript error, an axe-core accessibility check, and
screenshots named ``portal-<screen>-<width>.png`` in the run's screenshot folder.

Use (the fixtures are in ``tests/browser/conftest.py``)::

    pytestmark = pytest.mark.browser
    pages.chromium_or_skip()

    @pytest.mark.parametrize("portal_page", [PHONE, DESKTOP], indirect=True, ids=["phone", "desktop"])
    def test_today(portal_page, shots):
        portal_page.goto("/portal/")
        assert_accessible(portal_page, "today")
        shoot(shots, portal_page, "today")

    def test_two_people(new_page):
        maria, desk = new_page(PHONE), new_page(DESKTOP)

CSP violations are caught two ways, both outside the page's own scripts (so the strict policy does not block the
catching): the ``securitypolicyviolation`` DOM event, through a listener added by ``add_init_script`` before any page
script runs and reported through an exposed binding; and Chromium's console error for each violation (it says
"... violates the following Content Security Policy directive ..."; older versions said "Refused to ..."). Other
console errors (e.g. "Failed to load resource" for a 400 the page handles) are kept for the failure message only.

axe-core is the vendored ``vendor/axe-core/axe.min.js`` (never served to users). It is evaluated with
``page.evaluate``, which runs through the DevTools protocol and is not subject to the page's CSP; a ``<script>``
added with ``add_script_tag`` would be refused by the strict policy. ``tests/browser/test_harness.py`` shows that
axe runs under the strict policy without causing a violation of its own, so whatever the watch reports is the page's.
"""

from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import BrowserContext, ConsoleMessage, Page
from playwright.sync_api import Error as PlaywrightError

from tests.browser.pages import Shots

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 768}

AXE_VERSION = "4.14.1"  # vendor/axe-core/README.md
AXE_PATH = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
# WCAG 2.0, 2.1 and 2.2 at levels A and AA (axe's rule tags).
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa")
FAILING_IMPACTS = ("serious", "critical")

_BINDING = "__limberCspViolation"
_LISTEN_FOR_VIOLATIONS = f"""
document.addEventListener('securitypolicyviolation', event => {{
    window.{_BINDING}({{
        directive: event.effectiveDirective || event.violatedDirective,
        blocked: event.blockedURI,
        source: event.sourceFile,
        line: event.lineNumber,
        sample: event.sample,
        document: event.documentURI,
    }});
}});
"""
_CSP_CONSOLE_MARKERS = ("Content Security Policy", "Refused to")

_AXE_RUN = """
async ({tags}) => {
    const results = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
    return results.violations.map(v => ({
        id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
        nodes: v.nodes.map(n => ({target: n.target, impact: n.impact, summary: n.failureSummary})),
    }));
}
"""


_WATCHES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass
class PageWatch:
    """What went wrong in a browser context's pages: CSP violations, JavaScript errors, and console errors."""

    csp_violations: list[str] = field(default_factory=list)
    js_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def attach(self, context: BrowserContext) -> None:
        """Watch every page of ``context``, from its first document on (call before opening pages)."""
        context.expose_binding(_BINDING, lambda _source, violation: self.csp_violations.append(_describe(violation)))
        context.add_init_script(_LISTEN_FOR_VIOLATIONS)
        context.on("console", self._on_console)
        context.on("weberror", lambda error: self.js_errors.append(str(error.error)))

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        where = message.location.get("url", "") if message.location else ""
        text = f"{message.text} ({where})" if where else message.text
        if any(marker in message.text for marker in _CSP_CONSOLE_MARKERS):
            self.csp_violations.append(text)
        else:
            self.console_errors.append(text)

    def settle(self, context: BrowserContext) -> None:
        """Let every open page of ``context`` dispatch what it has queued (a violation event is reported a task
        later than the load it happened in), so the lists are complete before a check."""
        for tab in context.pages:
            with contextlib.suppress(PlaywrightError):  # closed or navigating: its messages are on their way
                tab.evaluate("() => new Promise(done => setTimeout(done, 50))")

    def problems(self) -> list[str]:
        """The CSP violations and JavaScript errors seen so far (console errors alone are not problems)."""
        return [f"CSP violation: {v}" for v in self.csp_violations] + [f"JavaScript error: {e}" for e in self.js_errors]

    def assert_clean(self) -> None:
        """Fail if any page of the context violated its CSP or threw; the console's other errors are shown too."""
        problems = self.problems()
        if problems:
            shown = "\n  ".join(problems)
            context = "".join(f"\n  console error: {e}" for e in self.console_errors)
            raise AssertionError(f"{len(problems)} problem(s) in the browser:\n  {shown}{context}")


def _describe(violation: dict) -> str:
    where = f"{violation.get('source') or violation.get('document')}:{violation.get('line')}"
    sample = f" sample={violation['sample']!r}" if violation.get("sample") else ""
    return f"{violation.get('directive')} blocked {violation.get('blocked')!r} at {where}{sample}"


def open_page(browser, *, base_url: str, viewport: dict | None = None, **context_options) -> tuple[Page, PageWatch]:
    """A fresh context (no cookies) at ``viewport`` (PHONE by default) with its watch attached, and its first page.
    ``context_options`` go to ``browser.new_context`` (e.g. ``timezone_id``). The caller closes ``page.context``."""
    context_options.setdefault("locale", "en-US")
    context = browser.new_context(viewport=viewport or PHONE, base_url=base_url, **context_options)
    context.set_default_timeout(15_000)
    watch = PageWatch()
    watch.attach(context)
    _WATCHES[context] = watch
    return context.new_page(), watch


def watch_of(page: Page) -> PageWatch:
    """The watch of a page opened by ``open_page`` (the ``new_page``/``portal_page`` fixtures), its pages settled:
    e.g. ``watch_of(page).assert_clean()`` in the middle of a test."""
    watch = _WATCHES[page.context]
    watch.settle(page.context)
    return watch


def axe_violations(page: Page, *, tags=WCAG_TAGS) -> list[dict]:
    """axe-core's violations on the page as it is now (every impact), each with its id, impact, help and nodes."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_PATH.read_text(encoding="utf-8"))  # DevTools evaluation: not blocked by the page's CSP
    return page.evaluate(_AXE_RUN, {"tags": list(tags)})


def assert_accessible(page: Page, name: str, *, tags=WCAG_TAGS, impacts=FAILING_IMPACTS) -> list[dict]:
    """Fail if axe-core finds a violation of ``impacts`` (serious or critical) under the WCAG 2.x A/AA rules on
    the page as it is now; ``name`` says which screen in the message. Returns every violation (minor ones too)."""
    violations = axe_violations(page, tags=tags)
    failing = [v for v in violations if v["impact"] in impacts]
    if failing:
        lines = [f"axe-core {AXE_VERSION}: {len(failing)} serious/critical violation(s) on {name} ({page.url}):"]
        for violation in failing:
            lines.append(f"- {violation['id']} [{violation['impact']}]: {violation['help']} ({violation['helpUrl']})")
            for node in violation["nodes"]:
                summary = (node["summary"] or "").replace("\n", " ")
                lines.append(f"    {', '.join(map(str, node['target']))}: {summary}")
        raise AssertionError("\n".join(lines))
    return violations


def shoot(shots: Shots, page: Page, screen: str) -> Path:
    """A full-page screenshot ``portal-<screen>-<width>.png`` in the run's screenshot folder (the ``shots``
    fixture; printed at the end of the run)."""
    return shots.take(page, f"portal-{screen}-{page.viewport_size['width']}")
