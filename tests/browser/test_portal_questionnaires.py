"""The portal's questionnaires screen (issue 18 §4) in a real browser, on a 390 px phone and a 1366 px laptop: Rosa
answers her first NPRS (a missing answer first: the API's 400 shows at the question) and names three activities for
her first PSFS, sees her scores with their chart, then answers both again two weeks on and reads "better"; a guardian
answers for the ward chosen on the choice screen, and the other ward has nothing due. Every screen runs under the
strict CSP (a violation or a JavaScript error fails the test: ``new_page``), passes axe-core with no serious or
critical violation, and is saved as ``portal-<screen>-<width>.png``."""

from __future__ import annotations

import datetime as dt
import importlib
import re
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.apps import apps as global_apps
from django.core.cache import cache
from playwright.sync_api import Locator, Page, expect

from patients.models import Episode, Patient, PortalAccess
from prescriptions.demo import PASSWORD
from prescriptions.models import MeasureDue, MeasureResponse
from prescriptions.services.measures import measures_schedule
from tests import factories
from tests.browser import pages
from tests.browser.portal_support import DESKTOP, PHONE, assert_accessible, shoot

pytestmark = pytest.mark.browser
pages.chromium_or_skip()

SIZES = pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
NPRS_QUESTION = "On average over the last 24 hours, how bad has your pain been?"
PSFS_QUESTION = "How well can you do this activity today?"
ACTIVITIES = ["Climbing stairs", "Gardening", "Walking the dog"]


@dataclass
class Clinic:
    rosa: Patient
    rosa_episode: Episode
    mia: Patient
    noah: Patient


def _login(username: str):
    return factories.UserFactory(username=username, password=PASSWORD)


def _episode(patient: Patient, codes: list[str]) -> Episode:
    """An episode opened 14 days ago that uses ``codes``, with its baseline measures due (and nothing later yet)."""
    opened = patient.local_today() - dt.timedelta(days=14)
    episode = factories.EpisodeFactory(patient=patient, opened_on=opened, instruments=codes)
    measures_schedule(episode=episode, today=opened)
    return episode


@pytest.fixture
def instruments(transactional_db):
    """The four instruments as migration 0013 seeds them: the live server's tests flush every table afterwards."""
    importlib.import_module("clinic.migrations.0013_seed_instruments").seed(global_apps, None)


@pytest.fixture
def clinic(instruments) -> Clinic:
    """Rosa (her own login) with the NPRS and the PSFS due; a guardian of Mia (the NPRS due) and of Noah (nothing)."""
    place = factories.ClinicFactory(name="Lakeside Physio")
    rosa = factories.PatientFactory(clinic=place, first_name="Rosa", last_name="Alvarez", mrn="Q-001")
    factories.PortalAccessFactory(patient=rosa, user=_login("rosa"))
    mia = factories.PatientFactory(clinic=place, first_name="Mia", last_name="Park", mrn="Q-002")
    noah = factories.PatientFactory(clinic=place, first_name="Noah", last_name="Park", mrn="Q-003")
    guardian = _login("mia.guardian")
    for child in (mia, noah):
        factories.PortalAccessFactory(patient=child, user=guardian, relationship=PortalAccess.Relationship.GUARDIAN)
    rosa_episode = _episode(rosa, ["nprs", "psfs"])
    _episode(mia, ["nprs"])
    return Clinic(rosa=rosa, rosa_episode=rosa_episode, mia=mia, noah=noah)


@pytest.fixture(autouse=True)
def _fresh_throttle():
    """The login throttle counts per address in the process's cache: each test starts with none counted."""
    cache.clear()
    yield
    cache.clear()


def _check(page: Page, shots, screen: str) -> None:
    """axe-clean (no serious or critical violation) and saved as ``portal-<screen>-<width>.png``."""
    assert_accessible(page, screen)
    shoot(shots, page, screen)


def _log_in(page: Page, username: str) -> None:
    page.goto("/portal/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/portal/(choose)?$"))


def _open_questionnaires(page: Page) -> None:
    page.get_by_role("navigation").get_by_role("link", name="Questionnaires").click()
    expect(page).to_have_url(re.compile(r"/portal/questionnaires$"))
    expect(page.get_by_role("heading", name="Questionnaires", level=1)).to_be_visible()


def _form(page: Page, name: str) -> Locator:
    return page.get_by_role("form", name=name)


def _rate(scope: Locator, legend: str, value: int) -> None:
    group = scope.get_by_role("group", name=legend)
    group.get_by_role("radio", name=re.compile(rf"^{value}\b")).check()


def _no_sideways_scroll(page: Page) -> None:
    assert not page.evaluate("() => document.documentElement.scrollWidth > window.innerWidth"), page.url


def _send(page: Page, form: Locator, due: MeasureDue):
    with page.expect_response(
        lambda response: (
            f"/api/v1/portal/measures/{due.pk}/responses" in response.url and response.request.method == "POST"
        )
    ) as sent:
        form.get_by_role("button", name="Send my answers").click()
    return sent.value


@SIZES
def test_a_patient_answers_her_first_questionnaires_then_again_and_reads_better(new_page, clinic, size, shots):
    page = new_page(size)
    nprs_due = MeasureDue.objects.get(patient=clinic.rosa, instrument__code="nprs")
    psfs_due = MeasureDue.objects.get(patient=clinic.rosa, instrument__code="psfs")
    _log_in(page, "rosa")
    _open_questionnaires(page)
    expect(page.get_by_role("navigation").get_by_role("link", name="Questionnaires")).to_have_attribute(
        "aria-current", "page"
    )

    nprs = _form(page, "Numeric Pain Rating Scale")
    psfs = _form(page, "Patient-Specific Functional Scale")
    expect(nprs).to_contain_text("Rate your pain on a scale from 0 to 10.")  # the instructions
    expect(nprs).to_contain_text("First questionnaire")
    pain = nprs.get_by_role("group", name=NPRS_QUESTION)
    expect(pain.get_by_role("radio")).to_have_count(11)
    expect(pain.get_by_role("radio", name="0 No pain")).to_be_visible()  # the level texts at the ends
    expect(pain.get_by_role("radio", name="10 Worst pain imaginable")).to_be_visible()
    expect(page.get_by_text("Your scores will show here after your first questionnaire.")).to_be_visible()
    _no_sideways_scroll(page)
    _check(page, shots, "questionnaires")

    # Sent with no answer: the API's 400 is shown at the question, the radios marked invalid.
    answer = _send(page, nprs, nprs_due)
    assert answer.status == 400
    said = answer.json()["errors"]["answers.pain"]
    error = pain.locator(".field-error")
    expect(error).to_have_text(f"⚠ {' '.join(said)}")
    assert error.get_attribute("id") in (pain.get_attribute("aria-describedby") or "").split()
    expect(pain.get_by_role("radio").first).to_have_attribute("aria-invalid", "true")
    expect(nprs.get_by_role("alert")).to_contain_text("Some answers need a look.")
    _check(page, shots, "questionnaires-error")

    _rate(nprs, NPRS_QUESTION, 6)
    assert _send(page, nprs, nprs_due).status == 201
    done = page.get_by_role("region", name="Numeric Pain Rating Scale", exact=True)
    expect(done).to_contain_text("Thank you. Your answers are saved.")
    expect(done).to_contain_text("Your score: 6 out of 10")
    expect(done).to_contain_text("This is your first score")
    expect(page.locator(":focus")).to_contain_text("Thank you. Your answers are saved.")

    # The PSFS at baseline: three activities to name (a fourth can be added and removed again), each rated.
    rows = psfs.locator(".activity")
    expect(rows).to_have_count(3)
    psfs.get_by_role("button", name="Add another activity").click()
    expect(rows).to_have_count(4)
    expect(psfs.get_by_role("group", name="Activity 4").get_by_label("What is the activity?")).to_be_focused()
    psfs.get_by_role("button", name="Remove activity 4").click()
    expect(rows).to_have_count(3)
    expect(psfs.get_by_role("button", name=re.compile("^Remove activity"))).to_have_count(0)  # 3 at least
    for n, (name, rating) in enumerate(zip(ACTIVITIES, [3, 4, 5], strict=True), start=1):
        row = psfs.get_by_role("group", name=f"Activity {n}", exact=True)
        row.get_by_label("What is the activity?").fill(name)
        _rate(row, PSFS_QUESTION, rating)
    _no_sideways_scroll(page)
    _check(page, shots, "questionnaires-activities")
    assert _send(page, psfs, psfs_due).status == 201
    done = page.get_by_role("region", name="Patient-Specific Functional Scale", exact=True)
    expect(done).to_contain_text("Your score: 4 out of 10")
    baseline = MeasureResponse.objects.get(due=psfs_due)
    assert baseline.activities == ACTIVITIES
    assert baseline.answers == {"activity_1": 3, "activity_2": 4, "activity_3": 5}
    assert (baseline.score, baseline.via, baseline.entered_by.username) == (Decimal("4.0"), "portal", "rosa")
    expect(page.get_by_text("You have no questionnaires", exact=False)).to_have_count(0)

    # My scores: per instrument the server's chart with the values in words, and the dates and scores.
    scores = page.get_by_role("region", name="My scores")
    pain_scores = scores.get_by_role("region", name="Numeric Pain Rating Scale (NPRS)")
    expect(pain_scores).to_be_visible()
    chart = pain_scores.get_by_role("img")
    first = MeasureResponse.objects.get(due=nprs_due)
    expect(chart).to_have_attribute("src", f"/portal/outcomes/nprs.svg?patient={clinic.rosa.pk}&v={first.pk}")
    expect(chart).to_have_attribute("alt", re.compile(r"NPRS scores: .+: 6\. A lower score is better\."))
    expect(pain_scores.get_by_role("list", name="NPRS scores by date").get_by_role("listitem")).to_have_text(
        [re.compile(r"6 out of 10\s*first score")]
    )
    assert chart.evaluate("img => img.decode().then(() => img.naturalWidth)") > 0, "the chart loads"
    _check(page, shots, "questionnaires-scores")

    # Two weeks on: the follow-ups rate the same activities, by name; both scores moved enough to be better.
    measures_schedule(episode=clinic.rosa_episode, today=clinic.rosa.local_today())
    nprs_due = MeasureDue.objects.get(patient=clinic.rosa, instrument__code="nprs", status="due")
    psfs_due = MeasureDue.objects.get(patient=clinic.rosa, instrument__code="psfs", status="due")
    page.get_by_role("link", name="Today").click()
    _open_questionnaires(page)
    psfs = _form(page, "Patient-Specific Functional Scale")
    expect(psfs).to_contain_text("Check-in")
    expect(psfs.get_by_role("textbox")).to_have_count(0)
    expect(psfs.get_by_role("group")).to_have_count(3)
    for name in ACTIVITIES:
        _rate(psfs, name, 7)
    _check(page, shots, "questionnaires-follow-up")
    assert _send(page, psfs, psfs_due).status == 201
    expect(page.get_by_role("region", name="Patient-Specific Functional Scale", exact=True)).to_contain_text(
        "Better than your first questionnaire."
    )
    nprs = _form(page, "Numeric Pain Rating Scale")
    _rate(nprs, NPRS_QUESTION, 3)
    assert _send(page, nprs, nprs_due).status == 201
    expect(page.get_by_role("region", name="Numeric Pain Rating Scale", exact=True)).to_contain_text(
        "Better than your first questionnaire."
    )
    second = MeasureResponse.objects.get(due=nprs_due)
    expect(chart).to_have_attribute("src", re.compile(rf"&v={second.pk}$"))  # the new chart, not the one shown before
    expect(chart).to_have_attribute("alt", re.compile(r": 6; .+: 3\. A lower score is better\.$"))
    followed = MeasureResponse.objects.get(due=psfs_due)
    assert (followed.score, followed.improved, followed.activities) == (Decimal("7.0"), True, ACTIVITIES)
    expect(pain_scores.get_by_role("listitem")).to_have_text(
        [re.compile(r"6 out of 10\s*first score"), re.compile(r"3 out of 10\s*✓\s*better")]
    )
    _no_sideways_scroll(page)
    _check(page, shots, "questionnaires-better")


@SIZES
def test_a_guardian_answers_for_the_ward_they_chose(new_page, clinic, size, shots):
    page = new_page(size)
    due = MeasureDue.objects.get(patient=clinic.mia, instrument__code="nprs")
    _log_in(page, "mia.guardian")
    expect(page).to_have_url(re.compile(r"/portal/choose$"))
    page.get_by_role("button", name=re.compile(r"^Mia Park")).click()
    _open_questionnaires(page)
    expect(page.get_by_text("Questionnaires for Mia Park")).to_be_visible()
    expect(page.get_by_role("heading", name="Scores for Mia Park")).to_be_visible()

    nprs = _form(page, "Numeric Pain Rating Scale")
    _rate(nprs, NPRS_QUESTION, 2)
    _check(page, shots, "questionnaires-ward")
    sent = _send(page, nprs, due)
    assert sent.status == 201
    assert f"patient={clinic.mia.pk}" in sent.url
    expect(page.get_by_role("region", name="Numeric Pain Rating Scale", exact=True)).to_contain_text(
        "Your score: 2 out of 10"
    )
    response = MeasureResponse.objects.get(due=due)
    assert (response.patient, response.entered_by.username, response.via) == (clinic.mia, "mia.guardian", "portal")
    expect(page.get_by_role("region", name="Scores for Mia Park").get_by_role("listitem")).to_have_text(
        [re.compile(r"2 out of 10\s*first score")]
    )

    # The other ward: nothing due, no scores; nothing of Mia's shows.
    page.get_by_role("link", name="Switch person").click()
    page.get_by_role("button", name=re.compile(r"^Noah Park")).click()
    _open_questionnaires(page)
    expect(page.get_by_text("Questionnaires for Noah Park")).to_be_visible()
    expect(page.get_by_text("You have no questionnaires to fill in right now.", exact=False)).to_be_visible()
    expect(page.get_by_text("Your scores will show here after your first questionnaire.")).to_be_visible()
    expect(page.get_by_role("form")).to_have_count(0)
    _check(page, shots, "questionnaires-none")
