"""The patient portal's pages (issue 16, items 1 and 5): one shell for every screen, public (its login screen is
one of them; the API refuses whoever may not see a patient), under the strict CSP, never stored, carrying the CSRF
token in a meta tag, with no inline script or style, and reading no patient data (the API calls log the reads)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders

from patients.models import AccessLog

SHELL_PATHS = [
    "/portal/",
    "/portal/login",
    "/portal/choose",
    "/portal/sessions/12",
    "/portal/week",
    "/portal/preferences",
    "/portal/password",
    "/portal/forgot",
    "/portal/questionnaires",
    "/portal/reset/MQ/c2x9a0-0123456789abcdef0123456789abcdef",
]
MODULES = [
    "app.js", "api.js", "auth.js", "care.js", "dates.js", "dom.js", "forms.js", "measures.js", "state.js", "strings.js",
]  # fmt: skip


def _static(name: str) -> str:
    path = finders.find(f"portal/{name}")
    assert path, name
    return Path(path).read_text(encoding="utf-8")


class _Tags(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def _directives(header: str) -> dict[str, str]:
    return {part.split()[0]: part.strip() for part in header.split(";") if part.strip()}


@pytest.mark.parametrize("path", SHELL_PATHS)
def test_every_portal_path_serves_the_shell_under_the_strict_policy(client, path):
    response = client.get(path)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    policy = _directives(response["Content-Security-Policy"])
    assert policy["script-src"] == "script-src 'self'"
    assert policy["style-src"] == "style-src 'self'"
    assert policy["default-src"] == "default-src 'self'"
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "no-store" in response["Cache-Control"]


def test_the_shell_gives_the_page_its_csrf_token_in_a_meta_tag(client):
    response = client.get("/portal/login")

    metas = {
        attrs.get("name"): attrs.get("content") for tag, attrs in _tags(response.content.decode()) if tag == "meta"
    }
    assert metas["csrf-token"]
    assert len(metas["csrf-token"]) == 64  # a masked token
    assert "csrftoken" in response.cookies  # the cookie the token is checked against


def test_the_shell_has_no_inline_script_or_style_and_loads_its_module_from_static(client):
    html = client.get("/portal/").content.decode()
    tags = _tags(html)

    assert not [attrs for tag, attrs in tags if "style" in attrs], "no style attribute (strict CSP)"
    assert not [tag for tag, _ in tags if tag == "style"], "no style element (strict CSP)"
    assert not [attrs for tag, attrs in tags if any(name.startswith("on") for name in attrs)], "no inline handler"
    scripts = [attrs for tag, attrs in tags if tag == "script"]
    assert scripts == [{"type": "module", "src": "/static/portal/app.js"}]
    assert re.search(r"<script[^>]*>\s*</script>", html), "scripts have no inline body"
    stylesheets = [attrs["href"] for tag, attrs in tags if tag == "link" and attrs.get("rel") == "stylesheet"]
    assert stylesheets == ["/static/portal/portal.css"]
    assert "http://" not in html and "https://" not in html, "nothing from another origin (no CDN)"


def test_the_shell_shows_no_patient_data_and_logs_no_read(client, portal_user, patient):
    client.force_login(portal_user)

    html = client.get("/portal/").content.decode()

    assert patient.last_name not in html
    assert not AccessLog.objects.exists()


@pytest.mark.parametrize("who", ["therapist", "portal_user"])
def test_the_shell_is_the_same_page_for_anyone(client, request, who):
    """Public: the login screen is one of its screens; what a signed-in staff user may see is the API's to refuse."""
    anonymous = client.get("/portal/").content.decode()
    client.force_login(request.getfixturevalue(who))

    signed_in = client.get("/portal/").content.decode()

    strip = re.compile(r'content="[^"]*"')  # the CSRF token differs
    assert strip.sub("", signed_in) == strip.sub("", anonymous)


def test_the_portal_api_refuses_staff_whom_the_shell_serves(client, therapist):
    client.force_login(therapist)

    assert client.get("/portal/").status_code == 200
    assert client.get("/api/v1/portal/me").status_code == 403


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_the_shell_answers_only_reads(client, method):
    assert getattr(client, method)("/portal/").status_code == 405


def test_every_module_and_the_stylesheet_exist_and_hold_no_inline_style_or_eval():
    for name in [*MODULES, "portal.css"]:
        text = _static(name)
        assert "eval(" not in text and "new Function" not in text, name
        assert "innerHTML" not in text, f"{name}: build elements, never parse HTML"
        assert ".style." not in text and 'setAttribute("style"' not in text, f"{name}: no inline style (CSP)"


def test_the_page_sends_the_csrf_token_from_the_meta_tag_and_never_reads_the_cookie():
    api = _static("api.js")

    assert 'meta[name="csrf-token"]' in api
    assert '"X-CSRFToken"' in api
    assert 'credentials: "same-origin"' in api
    for name in MODULES:
        assert "document.cookie" not in _static(name), name


def test_the_scripts_user_facing_words_are_in_one_module():
    """Every sentence a patient reads comes from strings.js (translatable later): the other modules quote no
    English sentence of their own."""
    sentence = re.compile(r'"[A-Z][a-z]+(?: [a-z]+){2,}[^"]*"')
    for name in MODULES:
        if name == "strings.js":
            continue
        code = re.sub(r"^\s*//.*$", "", _static(name), flags=re.MULTILINE)
        assert not sentence.findall(code), f"{name}: {sentence.findall(code)}"


def _referrer_meta(response) -> str | None:
    metas = [attrs for tag, attrs in _tags(response.content.decode()) if tag == "meta"]
    return next((attrs.get("content") for attrs in metas if attrs.get("name") == "referrer"), None)


@pytest.mark.parametrize(
    "path", ["/portal/reset/MQ/c2x9a0-0123456789abcdef0123456789abcdef", "/portal/reset/MQ/set-password"]
)
def test_a_reset_link_page_sends_no_referrer_anywhere(client, path):
    """The token is in the link's path: neither the page's own requests (static files, the API) nor a link
    followed from it may carry it in a Referer; the page's script then moves it out of the address bar."""
    response = client.get(path)

    assert response.status_code == 200
    assert response["Referrer-Policy"] == "no-referrer"
    assert _referrer_meta(response) == "no-referrer"


def test_the_other_screens_send_their_referrer_to_this_site_only(client):
    assert _referrer_meta(client.get("/portal/login")) == "same-origin"


def test_no_url_parameter_signs_anyone_out_and_no_pain_rule_is_repeated():
    """A link to the login screen cannot sign a patient out (the staff check follows the login's own answer), and
    when to ask which stretch hurt is the API's number (``me.pain``), not the page's."""
    auth = _static("auth.js")
    care = _static("care.js")

    assert '"staff"' not in auth and "staff=1" not in auth
    assert 'answer.role !== "portal"' in auth
    assert "ask_which_hurt_above" in care
    assert not re.search(r"after\.value\(\)\)\s*>\s*\d", care)
