"""The patient portal in a real browser (issue 16, items 2, 4, 5 and 6), on a 390 px phone and a 1366 px laptop:
Maria logs in through the page (session cookie), sees today's session, ticks her stretches done, logs pain 3→2 and
sees it recorded, skips a session, reads the next 7 days and changes her quiet hours; Lucy's guardian (who has a
second child, so the choice screen is real) picks Lucy, reports a red flag and sees the stop message, the clinic's
phone and the sessions on hold. Every screen runs under the strict CSP (a violation or a JavaScript error fails
the test: ``new_page``), passes axe-core with no serious or critical violation, and is saved as
``portal-<screen>-<width>.png`` in the run's screenshot folder."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core.cache import cache
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from playwright.sync_api import Page, expect

from patients.models import Patient, PortalAccess
from prescriptions.demo import CLINIC_PHONE, PASSWORD, load_demo
from prescriptions.models import Prescription, Session, SessionLog
from prescriptions.services.schedule import sessions_materialize
from tests import factories
from tests.browser import pages
from tests.browser.portal_support import DESKTOP, PHONE, assert_accessible, shoot

pytestmark = pytest.mark.browser
pages.chromium_or_skip()

SIZES = pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
EARLY, LATE = dt.time(0, 5), dt.time(23, 55)  # today's sessions the test adds: before and after any demo time


@dataclass
class Demo:
    maria: Patient
    lucy: Patient
    maria_early: Session
    maria_late: Session
    maria_yesterday: Session
    lucy_today: Session


def _today_session(patient: Patient, at: dt.time) -> Session:
    plan = Prescription.objects.get(patient=patient, status=Prescription.Status.ACTIVE)
    return factories.SessionFactory(prescription=plan, local_date=patient.local_today(), local_time=at)


@pytest.fixture
def demo(catalog) -> Demo:
    """The demo clinic (``make run``'s), its plans' sessions for the week, and a session today early and late for
    Maria and early for Lucy (whatever the hour the test runs at); Lucy's guardian also looks after a brother."""
    load_demo()
    maria = Patient.objects.get(mrn="DEMO-001")
    lucy = Patient.objects.get(mrn="DEMO-005")
    for patient in (maria, lucy):
        sessions_materialize(prescription_id=Prescription.objects.get(patient=patient, status="active").pk)
    guardian = PortalAccess.objects.get(patient=lucy).user
    brother = factories.PatientFactory(
        clinic=lucy.clinic, first_name="Noah", last_name="Kim", timezone=lucy.timezone, mrn="DEMO-005B"
    )
    factories.PortalAccessFactory(patient=brother, user=guardian, relationship=PortalAccess.Relationship.GUARDIAN)
    return Demo(
        maria=maria,
        lucy=lucy,
        maria_early=_today_session(maria, EARLY),
        maria_late=_today_session(maria, LATE),
        maria_yesterday=factories.SessionFactory(
            prescription=Prescription.objects.get(patient=maria, status="active"),
            local_date=maria.local_today() - dt.timedelta(days=1),
            local_time=dt.time(18, 0),
        ),
        lucy_today=_today_session(lucy, EARLY),
    )


@pytest.fixture(autouse=True)
def _fresh_throttle():
    """The login throttle counts per address in the process's cache: each test starts with none counted."""
    cache.clear()
    yield
    cache.clear()


def _time(at: dt.time) -> str:
    return f"{at.hour % 12 or 12}:{at.minute:02d} {'AM' if at.hour < 12 else 'PM'}"


def _check(page: Page, shots, screen: str) -> None:
    """axe-clean (no serious or critical violation) and saved as ``portal-<screen>-<width>.png``."""
    assert_accessible(page, screen)
    shoot(shots, page, screen)


def _log_in(page: Page, username: str) -> None:
    page.goto("/portal/")
    # The API said 401: the page went to log in, to come back here afterwards.
    expect(page).to_have_url(re.compile(r"/portal/login\?next=%2Fportal%2F$"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/portal/(choose)?$"))


def _pick(page: Page, legend: str, choice: str) -> None:
    page.get_by_role("group", name=legend).get_by_role("radio", name=choice, exact=True).check()


def _expect_focused(page: Page, text: str) -> None:
    """The element with the keyboard focus contains ``text`` (a confirmation that took it after a submit)."""
    expect(page.locator(":focus")).to_contain_text(text)


def _no_sideways_scroll(page: Page) -> None:
    assert not page.evaluate("() => document.documentElement.scrollWidth > window.innerWidth"), page.url


@SIZES
def test_maria_logs_todays_session_skips_one_and_sets_quiet_hours(new_page, demo, size, shots):
    page = new_page(size)

    page.goto("/portal/login")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    _check(page, shots, "login")
    _log_in(page, "maria")
    assert "sessionid" in {cookie["name"] for cookie in page.context.cookies()}
    assert page.evaluate("() => Object.keys(localStorage).length") == 0  # no token in page storage

    # Today: a greeting and today's sessions in Maria's zone (the API's local date and times).
    expect(page.get_by_role("heading", level=1)).to_contain_text("Maria")
    early = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name=f"{_time(EARLY)} session"))
    expect(early).to_contain_text("To do")
    expect(page.get_by_role("link", name="Print my program")).to_have_attribute(
        "href", f"/portal/plans/{demo.maria_early.prescription_id}/print"
    )
    expect(page.get_by_role("link", name="Download PDF")).to_have_attribute(
        "href", f"/api/v1/portal/plans/{demo.maria_early.prescription_id}/program.pdf"
    )
    yesterday = page.get_by_role("region", name="Not logged yet from yesterday")
    expect(yesterday.get_by_role("link", name="Open yesterday's 6:00 PM session")).to_have_attribute(
        "href", f"/portal/sessions/{demo.maria_yesterday.pk}"
    )
    _no_sideways_scroll(page)
    _check(page, shots, "today")

    # One session: the stretches in order with their steps and dose, a done toggle each.
    page.get_by_role("link", name=f"Open the {_time(EARLY)} session").click()
    expect(page).to_have_url(re.compile(rf"/portal/sessions/{demo.maria_early.pk}$"))
    items = list(demo.maria_early.prescription.items.order_by("order").select_related("stretch"))
    expect(page.locator(".stretch-list > li")).to_have_count(len(items))
    names = page.locator(".stretch-list > li h3").all_text_contents()
    assert names == [item.stretch.name for item in items]
    first = page.locator(".stretch-list > li").first
    expect(first).to_contain_text(f"{items[0].reps} times")
    expect(first).to_contain_text(items[0].stretch.steps[0])
    for item in items:
        page.get_by_role("checkbox", name=re.compile(rf"^Done\W+{re.escape(item.stretch.name)}$")).check()
    # The pain scale by keyboard: native radios, arrow keys move the choice.
    before = page.get_by_role("group", name="How much pain did you have before you started?")
    before.get_by_role("radio", name="0 no pain").focus()
    before.get_by_role("radio", name="0 no pain").press("Space")
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    expect(before.get_by_role("radio", name="3", exact=True)).to_be_checked()
    _pick(page, "How much pain do you have now, after the stretches?", "2")
    expect(page.get_by_role("radio", name="0 no pain").first).to_be_visible()
    expect(page.get_by_role("radio", name="10 worst pain").first).to_be_visible()
    _pick(page, "How hard was it? (optional)", "2 Easy")
    for question in page.locator("fieldset.yesno").all():
        question.get_by_role("radio", name="No", exact=True).check()
    _no_sideways_scroll(page)
    _check(page, shots, "session")

    page.get_by_role("button", name="Save my log").click()
    expect(page.get_by_text("Session logged. Thank you!")).to_be_visible()
    expect(page.get_by_text("Pain before: 3 out of 10. Pain after: 2 out of 10.")).to_be_visible()
    log = SessionLog.objects.get(session=demo.maria_early)
    assert (log.pain_before, log.pain_after, log.difficulty) == (3, 2, 2)
    assert log.item_completion == {str(item.pk): True for item in items}
    assert set(log.red_flag_answers.values()) == {False}
    _check(page, shots, "logged")

    # Back to today: the session is recorded.
    page.get_by_role("link", name="Back to today").click()
    expect(early).to_contain_text("Done")

    # Skip the late session with a reason.
    page.get_by_role("link", name=f"Open the {_time(LATE)} session").click()
    page.get_by_label("Why not? (optional)").fill("Visiting family tonight")
    page.get_by_role("button", name="Skip this session").click()
    expect(page.get_by_text("Session skipped. See you next time.")).to_be_visible()
    demo.maria_late.refresh_from_db()
    assert demo.maria_late.status == Session.Status.SKIPPED
    _check(page, shots, "skipped")

    # The next 7 days.
    page.get_by_role("link", name="Next 7 days").click()
    expect(page.get_by_role("heading", name="The next 7 days")).to_be_visible()
    expect(page.locator(".week > li")).to_have_count(7)
    _no_sideways_scroll(page)
    _check(page, shots, "week")

    # Reminder preferences: change the quiet hours.
    page.get_by_role("link", name="Reminders").click()
    expect(page.get_by_role("heading", name="Reminders")).to_be_visible()
    expect(page.get_by_role("radio", name="Email")).to_be_checked()
    page.get_by_label("From").fill("22:15")
    page.get_by_label("Until").fill("06:45")
    page.get_by_role("button", name="Save reminders").click()
    expect(page.get_by_text("Your reminders are saved.")).to_be_visible()
    _expect_focused(page, "Your reminders are saved.")  # the message took the focus from the button
    demo.maria.refresh_from_db()
    assert (demo.maria.quiet_hours_start, demo.maria.quiet_hours_end) == (dt.time(22, 15), dt.time(6, 45))
    _check(page, shots, "preferences")

    page.get_by_role("link", name="Password").click()
    expect(page.get_by_role("heading", name="Change your password")).to_be_visible()
    _check(page, shots, "password")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/portal/login\?out=1$"))
    expect(page.get_by_text("You are logged out.")).to_be_visible()
    assert "sessionid" not in {cookie["name"] for cookie in page.context.cookies()}


@SIZES
def test_lucys_guardian_reports_a_red_flag_and_sees_the_stop_message_and_the_plan_on_hold(new_page, demo, size, shots):
    page = new_page(size)

    _log_in(page, "lucy.guardian")
    expect(page).to_have_url(re.compile(r"/portal/choose$"))
    expect(page.get_by_role("heading", name="Who are you helping today?")).to_be_visible()
    _check(page, shots, "choose")
    page.get_by_role("button", name=re.compile(r"^Lucy Kim")).click()

    expect(page.get_by_text("Today's stretches for Lucy Kim")).to_be_visible()
    page.get_by_role("link", name=f"Open the {_time(EARLY)} session").click()
    questions = page.locator("fieldset.yesno")
    expect(questions.first).to_be_visible()
    assert questions.count() >= 1
    _pick(page, "How much pain did you have before you started?", "2")
    _pick(page, "How much pain do you have now, after the stretches?", "3")
    first, *others = questions.all()
    first.get_by_role("radio", name="Yes", exact=True).check()  # the first red-flag question: an urgent one
    for question in others:
        question.get_by_role("radio", name="No", exact=True).check()
    with page.expect_response(lambda response: response.url.endswith(f"/sessions/{demo.lucy_today.pk}/log")) as sent:
        page.get_by_role("button", name="Save my log").click()
    answer = sent.value.json()
    assert sent.value.status == 201 and any(signal["stop"] for signal in answer["signals"])

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Stop your stretches")
    log = SessionLog.objects.get(session=demo.lucy_today)
    assert log.logged_by.username == "lucy.guardian"
    expect(page.locator(".advice-text")).to_have_text(answer["advice"])  # the API's advice, verbatim
    expect(alert.get_by_role("link", name=CLINIC_PHONE)).to_have_attribute(
        "href", "tel:" + re.sub(r"[^+\d]", "", CLINIC_PHONE)
    )
    expect(page.get_by_role("heading", name="Your program is on hold")).to_be_visible()
    held = Session.objects.filter(prescription__patient=demo.lucy, status=Session.Status.BLOCKED)
    assert held.exists()
    expect(page.locator(".week-list .status-blocked").first).to_have_text(re.compile("On hold"))
    _no_sideways_scroll(page)
    _check(page, shots, "stop")

    api = page.request.get(f"/api/v1/portal/sessions/{demo.lucy_today.pk}")
    assert api.json()["status"] == "completed"

    # Today now says the program is on hold, with the number to call.
    page.get_by_role("link", name="Back to today").click()
    expect(page.get_by_role("heading", name="Your program is on hold")).to_be_visible()
    expect(page.get_by_role("link", name=CLINIC_PHONE).first).to_be_visible()
    _check(page, shots, "today-on-hold")

    # The other child is one tap away.
    page.get_by_role("link", name="Switch person").click()
    page.get_by_role("button", name=re.compile(r"^Noah Kim")).click()
    expect(page.get_by_text("Today's stretches for Noah Kim")).to_be_visible()
    expect(page.get_by_text("You have no stretches to do right now.", exact=False)).to_be_visible()
    expect(page.locator(".empty").get_by_role("link", name=CLINIC_PHONE)).to_have_attribute(
        "href", "tel:" + re.sub(r"[^+\d]", "", CLINIC_PHONE)
    )
    _check(page, shots, "today-no-plan")


@SIZES
def test_login_problems_and_the_password_reset_screens_speak_plainly(new_page, demo, size, shots):
    page = new_page(size)

    page.goto("/portal/login")
    page.get_by_label("Username").fill("maria")
    page.get_by_label("Password").fill("not her password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("That username and password don't match.")
    expect(page.locator("body")).not_to_contain_text("Invalid request")
    _check(page, shots, "login-error")

    page.get_by_label("Username").fill("therapist")  # staff: the portal is not theirs
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text(re.compile(r"^This page is for patients and their families\."))
    expect(page).to_have_url(re.compile(r"/portal/login$"))  # signed out again from this page, no reload
    assert "sessionid" not in {cookie["name"] for cookie in page.context.cookies()}  # logged out again

    # The staff sign-out comes from the login, not from the address: a link to ?staff=1 signs no one out.
    page.get_by_label("Username").fill("maria")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()  # on the same page: it holds the CSRF token of now
    page.wait_for_url(re.compile(r"/portal/$"))
    page.goto("/portal/login?staff=1")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)
    assert "sessionid" in {cookie["name"] for cookie in page.context.cookies()}  # still signed in
    page.goto("/portal/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Maria")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/portal/login\?out=1$"))

    page.get_by_role("link", name="Forgot password?").click()
    expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()
    _check(page, shots, "forgot")
    page.get_by_role("button", name="Send me a link").click()
    expect(page.locator(".field-error")).to_have_text("⚠ Enter your email address.")  # says what to do
    page.get_by_label("Email address").fill("nobody@example.invalid")
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_text("If that address is on file, we've sent a link to it.", exact=False)).to_be_visible()
    _expect_focused(page, "If that address is on file")  # the message took the focus of the form it replaced
    _check(page, shots, "forgot-sent")

    page.goto("/portal/reset/MQ/not-a-real-token")
    expect(page.get_by_role("heading", name="Set a new password")).to_be_visible()
    assert urlsplit(page.url).path == "/portal/reset/MQ/set-password"  # the token left the address bar
    _check(page, shots, "reset")
    page.get_by_role("button", name="Set password").click()
    expect(page.locator(".field-error").first).to_have_text("⚠ Enter a new password.")
    page.get_by_label("New password", exact=True).fill("a long new passphrase 42")
    page.get_by_label("New password again").fill("a long new passphrase 42")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_text("This link has expired or was already used.")).to_be_visible()
    assert urlsplit(page.url).path == "/portal/reset/MQ/set-password"


def test_a_reset_link_sets_a_new_password_and_the_password_screen_changes_it(new_page, demo, shots):
    maria_login = PortalAccess.objects.get(patient=demo.maria).user
    uid = urlsafe_base64_encode(force_bytes(maria_login.pk))
    token = default_token_generator.make_token(maria_login)  # the emailed link's (clinic.services)
    page = new_page(PHONE)

    page.goto(f"/portal/reset/{uid}/{token}")
    expect(page.get_by_role("heading", name="Set a new password")).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/portal/reset/{uid}/set-password$"))  # no token in history or Referer
    assert token not in page.url
    assert token not in page.evaluate("() => document.referrer + location.href")
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("New password again").fill("short")
    page.get_by_role("button", name="Set password").click()
    expect(page.locator(".field-error").first).to_contain_text("too short")  # Django's validator, in its words
    _check(page, shots, "reset-weak")
    page.get_by_label("New password", exact=True).fill("sunrise over the lake 2026")
    page.get_by_label("New password again").fill("sunrise over the lake 2026")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_text("Your new password is set. You can log in now.")).to_be_visible()
    _expect_focused(page, "Your new password is set.")
    _check(page, shots, "reset-done")
    assert token not in page.url

    page.get_by_role("link", name="Log in").click()
    page.get_by_label("Username").fill("maria")
    page.get_by_label("Password").fill("sunrise over the lake 2026")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/portal/$"))

    page.get_by_role("link", name="Password").click()
    page.get_by_label("Current password").fill("sunrise over the lake 2026")
    page.get_by_label("New password", exact=True).fill("evening walk by the river 7")
    page.get_by_label("New password again").fill("evening walk by the river 7")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Your password is changed.")).to_be_visible()
    _expect_focused(page, "Your password is changed.")
    _check(page, shots, "password-changed")
    maria_login.refresh_from_db()
    assert maria_login.check_password("evening walk by the river 7")
    page.get_by_role("link", name="Today").click()  # still signed in
    expect(page.get_by_role("heading", level=1)).to_contain_text("Maria")


def test_too_many_attempts_is_a_sentence_with_the_wait(new_page, demo):
    page = new_page(PHONE)
    page.goto("/portal/login")
    alert = page.get_by_role("alert")
    for _ in range(8):
        page.get_by_label("Username").fill("maria")
        page.get_by_label("Password").fill("wrong again")
        # Wait for this attempt's answer: the alert of the one before is still on the page until it comes.
        with page.expect_response(lambda response: response.url.endswith("/api/v1/auth/session/login")) as answer:
            page.get_by_role("button", name="Log in").click()
        expect(alert).to_be_visible()
        if answer.value.status == 429:
            break
    expect(alert).to_have_text(re.compile(r"^Too many attempts\. Try again in \d+ minutes?\.$"))


def test_maria_downloads_her_program_as_a_pdf_and_opens_its_print_view(new_page, demo, shots, tmp_path):
    """Item 6: the PDF through the page's own link, its text read back (pypdf); the print view is the same program
    under the strict CSP, axe-clean."""
    from pypdf import PdfReader

    plan = demo.maria_early.prescription
    stretches = [item.stretch.name for item in plan.items.select_related("stretch").order_by("order", "id")]
    page = new_page(PHONE)
    _log_in(page, "maria")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    text = re.sub(r"\s+", " ", " ".join(p.extract_text() for p in PdfReader(path).pages))
    assert "Maria Lopez" in text
    assert "when to stop" in text.lower()  # the box's heading (printed in capitals)
    assert CLINIC_PHONE in text
    positions = [text.index(name) for name in stretches]
    assert positions == sorted(positions), (stretches, text)  # every stretch, in the plan's order

    page.get_by_role("link", name="Print my program").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Maria Lopez")
    for name in stretches:
        expect(page.locator("body")).to_contain_text(name)
    expect(page.get_by_role("heading", name="When to stop")).to_be_visible()
    _no_sideways_scroll(page)
    _check(page, shots, "print")


def test_the_advice_and_the_clinics_phone_stay_when_the_refresh_after_a_log_fails(new_page, demo, shots):
    """The log is saved (201): its advice and the clinic's number show at once and the form is gone for good, even
    when the sessions' refresh that follows fails (here: the network drops it)."""
    page = new_page(PHONE)
    _log_in(page, "lucy.guardian")
    page.get_by_role("button", name=re.compile(r"^Lucy Kim")).click()
    page.get_by_role("link", name=f"Open the {_time(EARLY)} session").click()
    _pick(page, "How much pain did you have before you started?", "2")
    _pick(page, "How much pain do you have now, after the stretches?", "3")
    first, *others = page.locator("fieldset.yesno").all()
    first.get_by_role("radio", name="Yes", exact=True).check()
    for question in others:
        question.get_by_role("radio", name="No", exact=True).check()

    logged = {"sent": False}
    page.on(
        "request",
        lambda request: logged.update(sent=True) if request.method == "POST" and request.url.endswith("/log") else None,
    )
    page.route("**/api/v1/portal/plans**", lambda route: route.abort() if logged["sent"] else route.continue_())
    with page.expect_response(lambda response: response.url.endswith(f"/sessions/{demo.lucy_today.pk}/log")) as sent:
        page.get_by_role("button", name="Save my log").click()
    assert sent.value.status == 201
    answer = sent.value.json()

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Stop your stretches")
    expect(page.locator(".advice-text")).to_have_text(answer["advice"])
    expect(alert.get_by_role("link", name=CLINIC_PHONE)).to_have_attribute(
        "href", "tel:" + re.sub(r"[^+\d]", "", CLINIC_PHONE)
    )
    expect(page.get_by_text("We couldn't refresh your sessions.", exact=False)).to_be_visible()
    expect(page.get_by_role("button", name="Save my log")).to_have_count(0)  # no resubmit (it would get a 409)
    expect(page.get_by_text("Session logged. Thank you!")).to_be_visible()
    _expect_focused(page, "Stop your stretches")
    _check(page, shots, "stop-refresh-failed")


def test_missing_answers_mark_their_radio_group_invalid(new_page, demo):
    page = new_page(PHONE)
    _log_in(page, "maria")
    page.get_by_role("link", name=f"Open the {_time(EARLY)} session").click()
    page.get_by_role("button", name="Save my log").click()
    expect(page.get_by_role("alert").first).to_contain_text("Please check the form")

    group = page.get_by_role("group", name="How much pain did you have before you started?")
    error = group.locator(".field-error")
    expect(error).to_have_text("⚠ Choose how much pain you had before.")
    error_id = error.get_attribute("id")
    assert error_id and error_id in (group.get_attribute("aria-describedby") or "").split()
    for radio in group.get_by_role("radio").all():
        expect(radio).to_have_attribute("aria-invalid", "true")
    assert_accessible(page, "log-errors")

    group.get_by_role("radio", name="3", exact=True).check()
    page.get_by_role("button", name="Save my log").click()
    expect(error).to_be_hidden()
    expect(group.get_by_role("radio").first).not_to_have_attribute("aria-invalid", "true")
    assert error_id not in (group.get_attribute("aria-describedby") or "").split()


def test_which_stretch_hurt_is_asked_above_the_apis_threshold(new_page, demo):
    page = new_page(PHONE)
    _log_in(page, "maria")
    threshold = page.request.get("/api/v1/portal/me").json()["pain"]["ask_which_hurt_above"]
    page.get_by_role("link", name=f"Open the {_time(EARLY)} session").click()
    hurt = page.get_by_role("group", name="Which stretches hurt? (optional)")
    after = "How much pain do you have now, after the stretches?"
    _pick(page, after, str(threshold))
    expect(hurt).to_be_hidden()
    _pick(page, after, str(threshold + 1))
    expect(hurt).to_be_visible()


def test_a_signed_out_visit_comes_back_to_its_screen_after_logging_in(new_page, demo, shots):
    """A 401 sends the page to /portal/login?next=<its path>; the print view redirects there itself. After the
    login the page goes to ``next`` (a portal path on this site only)."""
    plan_id = demo.maria_early.prescription_id
    page = new_page(PHONE)

    page.goto(f"/portal/plans/{plan_id}/print")
    expect(page).to_have_url(re.compile(rf"/portal/login\?next=/portal/plans/{plan_id}/print$"))  # Django's redirect
    page.get_by_label("Username").fill("maria")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(rf"/portal/plans/{plan_id}/print$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Maria Lopez")

    other = new_page(PHONE)
    other.goto("/portal/week")
    expect(other).to_have_url(re.compile(r"/portal/login\?next=%2Fportal%2Fweek$"))
    other.get_by_label("Username").fill("maria")
    other.get_by_label("Password").fill(PASSWORD)
    other.get_by_role("button", name="Log in").click()
    other.wait_for_url(re.compile(r"/portal/week$"))
    expect(other.get_by_role("heading", name="The next 7 days")).to_be_visible()

    # Only a portal path on this site: anything else goes to the portal's home.
    checked = other.evaluate(
        """async (candidates) => {
            const src = document.querySelector('script[type="module"]').src;
            const api = await import(new URL("api.js", src).href);
            return candidates.map((next) => api.safeNext(next));
        }""",
        [
            "/portal/week",
            "/portal/plans/3/print",
            "//evil.example/portal/",
            "https://evil.example/portal/",
            "/portal/\\\\evil.example",
            "/\\\\evil.example/portal/",
            "/admin/",
            "/portal/login",
            "javascript:alert(1)",
            None,
        ],
    )
    assert checked == ["/portal/week", "/portal/plans/3/print"] + ["/portal/"] * 8


def test_a_csrf_refusal_says_the_session_changed_and_keeps_the_form(new_page, demo):
    """Logging out and in again in another tab rotates the CSRF token: this tab's next save is refused (403
    "CSRF Failed"). The page says so in place and keeps what was typed, instead of going to the login screen."""
    page = new_page(PHONE)
    _log_in(page, "maria")
    page.get_by_role("link", name="Reminders").click()
    page.get_by_label("From").fill("21:30")

    other = page.context.new_page()
    other.goto("/portal/")
    other.get_by_role("button", name="Log out").click()
    other.wait_for_url(re.compile(r"/portal/login\?out=1$"))
    other.get_by_label("Username").fill("maria")
    other.get_by_label("Password").fill(PASSWORD)
    other.get_by_role("button", name="Log in").click()
    other.wait_for_url(re.compile(r"/portal/$"))

    with page.expect_response(lambda response: "/api/v1/portal/preferences" in response.url) as sent:
        page.get_by_role("button", name="Save reminders").click()
    assert sent.value.status == 403 and "CSRF" in sent.value.json()["detail"]
    expect(page.get_by_role("alert")).to_have_text(
        "Your session changed in another tab. Reload the page and try again."
    )
    expect(page).to_have_url(re.compile(r"/portal/preferences$"))
    expect(page.get_by_label("From")).to_have_value("21:30")


def test_errors_read_as_plain_words(new_page, demo):
    """A 404 is not always a session's (a revoked grant on the reminders screen); a 413 asks for a shorter note."""
    page = new_page(PHONE)
    page.goto("/portal/login")
    texts = page.evaluate(
        """async () => {
            const src = document.querySelector('script[type="module"]').src;
            const forms = await import(new URL("forms.js", src).href);
            const api = await import(new URL("api.js", src).href);
            const error = (status, detail) => new api.ApiError(status, {detail, errors: {}}, null);
            return [
                forms.errorText(error(404, "Not found.")),
                forms.errorText(error(413, "The request body is larger than the limit of 65536 bytes.")),
                forms.errorText(error(409, "This session was already logged.")),
                forms.errorText(error(403, "CSRF Failed: CSRF token missing.")),
            ];
        }"""
    )
    assert texts == [
        "We couldn't find that. It may have been removed, or you may no longer have access.",
        "That was too long to send. Please shorten your note and try again.",
        "This session was already logged.",
        "Your session changed in another tab. Reload the page and try again.",
    ]


def test_a_reloaded_reset_screen_asks_for_a_new_link(new_page, demo):
    maria_login = PortalAccess.objects.get(patient=demo.maria).user
    uid = urlsafe_base64_encode(force_bytes(maria_login.pk))
    token = default_token_generator.make_token(maria_login)
    page = new_page(PHONE)

    page.goto(f"/portal/reset/{uid}/{token}")
    expect(page).to_have_url(re.compile(rf"/portal/reset/{uid}/set-password$"))
    page.reload()  # the token was in this page's memory only
    expect(page.get_by_text("This link has expired or was already used. Ask for a new one.")).to_be_visible()
    expect(page.get_by_label("New password", exact=True)).to_have_count(0)
    page.get_by_role("link", name="Ask for a new link").click()
    expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()
    assert_accessible(page, "reset-reloaded")
