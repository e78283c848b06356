"""Dose progression in the admin (issue 17, part 2): a stretch's dose bounds and a clinic's minimum adherence, the
progression rules of a template's items (saved through the template services, refused as they refuse), the live
program's rules, version and next step on the patient page, and the steps themselves, read-only and clinic-scoped."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from clinic.models import DOSE_BOUNDS, ProtocolTemplate, Stretch
from patients.models import AccessLog
from prescriptions.models import Prescription, ProgressionStep
from prescriptions.services.progression import progression_step_run
from tests import factories
from tests.test_templates_admin import TEMPLATES, form, stretch_pk, template_with

PATIENTS = "/admin/patients/patient/"
STRETCHES = "/admin/clinic/stretch/"
STEPS = "/admin/prescriptions/progressionstep/"


def text(response) -> str:
    """The page as a person reads it: tags dropped, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def day(date: dt.date) -> str:
    return f"{date:%a} {date.day} {date:%b %Y}"


@pytest.fixture
def superuser_client(client, db):
    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))
    return client


# --- The catalog: a stretch's dose bounds, a clinic's minimum adherence -------------------------------------------


def stretch_form(stretch: Stretch, **changes) -> dict[str, object]:
    """A stretch's change form as a browser posts it."""
    data = {
        "clinic": str(stretch.clinic_id or ""),
        "slug": stretch.slug,
        "name": stretch.name,
        "steps": ",".join(stretch.steps),
        "body_region": stretch.body_region,
        "position": stretch.position,
        "kind": stretch.kind,
        "min_mobility": str(stretch.min_mobility_id),
        "default_hold_seconds": str(stretch.default_hold_seconds or ""),
        "default_reps": str(stretch.default_reps),
        "default_sets": str(stretch.default_sets),
        "max_hold_seconds": "",
        "max_reps": "",
        "max_sets": "",
        "source": stretch.source,
        "review_note": stretch.review_note,
    }
    return {**data, **changes}


def test_a_superuser_sets_a_stretchs_bounds_and_reads_the_bounds_in_force(superuser_client, db):
    stretch = factories.StretchFactory(clinic=None, steps=["Lie on your back."])
    url = f"{STRETCHES}{stretch.pk}/change/"
    page = superuser_client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert all(f'name="{name}"' in html for name in ("max_hold_seconds", "max_reps", "max_sets"))
    assert "hold ≤ 60 s, ≤ 4 reps, ≤ 3 sets" in text(page)  # blank: the static kind's bounds

    saved = superuser_client.post(url, stretch_form(stretch, max_hold_seconds="45", max_reps="3"))
    assert saved.status_code == 302, saved.context["adminform"].form.errors
    stretch.refresh_from_db()
    assert (stretch.max_hold_seconds, stretch.max_reps, stretch.max_sets) == (45, 3, None)
    assert "hold ≤ 45 s, ≤ 3 reps, ≤ 3 sets" in text(superuser_client.get(url))
    assert "hold ≤ 45 s" in text(superuser_client.get(f"{STRETCHES}?q={stretch.slug}"))


def test_a_stretchs_default_dose_must_fit_its_bounds(superuser_client, db):
    stretch = factories.StretchFactory(clinic=None, default_hold_seconds=30)
    refused = superuser_client.post(f"{STRETCHES}{stretch.pk}/change/", stretch_form(stretch, max_hold_seconds="20"))
    assert refused.status_code == 200
    errors = refused.context["adminform"].form.errors
    assert "takes at most a hold of 20 s" in str(errors["default_hold_seconds"])
    stretch.refresh_from_db()
    assert stretch.max_hold_seconds is None


@pytest.mark.parametrize("role", ["therapist", "clinic_admin"])
def test_staff_read_a_global_stretchs_bounds_but_do_not_change_them(request, staff_client, stretch, role):
    page = staff_client(request.getfixturevalue(role)).get(f"{STRETCHES}{stretch('pelvic-tilt').pk}/change/")
    assert page.status_code == 200 and not page.context["has_change_permission"]
    bounds = DOSE_BOUNDS["dynamic"]
    assert f"hold ≤ {bounds.hold_seconds} s, ≤ {bounds.reps} reps, ≤ {bounds.sets} sets" in text(page)


def test_the_clinic_page_shows_the_minimum_adherence_for_a_step(staff_client, clinic_admin, clinic):
    page = staff_client(clinic_admin).get(f"/admin/clinic/clinic/{clinic.pk}/change/")
    assert page.status_code == 200
    assert 'name="progression_min_adherence"' in page.content.decode() and "Dose progression" in text(page)
    assert page.context["adminform"].form.initial["progression_min_adherence"] == 60


# --- Templates: the items' progression rules ------------------------------------------------------------------------


def rule(**fields: str) -> dict[str, str]:
    return {f"progress_{name}": value for name, value in fields.items()}


def test_a_therapist_saves_a_template_with_a_progression_rule(staff_client, therapist, clinic):
    client = staff_client(therapist)
    page = client.get(f"{TEMPLATES}add/")
    assert page.status_code == 200 and 'name="items-0-progress_every_weeks"' in page.content.decode()
    response = client.post(
        f"{TEMPLATES}add/",
        form(
            [
                {"stretch": stretch_pk("knees-to-chest"), "hold_seconds": "20", "reps": "3",
                 **rule(every_weeks="2", hold_seconds="5", max_hold_seconds="45")},
                {"stretch": stretch_pk("cat-cow"), "reps": "10", **rule(every_weeks="2", reps="1", hold_seconds="")},
                {"stretch": stretch_pk("pelvic-tilt"), "reps": "8", **rule(every_weeks="", hold_seconds="0")},
            ]
        ),
    )  # fmt: skip
    assert response.status_code == 302, response.context["adminform"].form.errors
    template = ProtocolTemplate.objects.get(slug="evening-back-care")
    knees, cat_cow, tilt = template.items.order_by("order")
    assert knees.progression_text == "every 2 weeks: +5 s hold (up to 45 s)"
    assert (cat_cow.progress_every_weeks, cat_cow.progress_reps, cat_cow.progress_hold_seconds) == (2, 1, 0)
    assert not tilt.progresses

    change = client.get(f"{TEMPLATES}{template.pk}/change/")
    assert change.status_code == 200 and "up to hold (s)" in change.content.decode().lower()


def test_a_changed_rule_is_saved_through_the_service_and_bumps_the_version(staff_client, clinic_admin, clinic):
    template = template_with(clinic, "knees-to-chest", slug="evening-back-care")
    [item] = template.items.all()
    response = staff_client(clinic_admin).post(
        f"{TEMPLATES}{template.pk}/change/",
        form(
            [{"id": str(item.pk), "template": str(template.pk), "stretch": str(item.stretch_id), "reps": "3",
              "hold_seconds": "20", **rule(every_weeks="3", sets="1", max_sets="2")}],
            initial=1,
        ),
    )  # fmt: skip
    assert response.status_code == 302, response.context["adminform"].form.errors
    template.refresh_from_db()
    [item] = template.items.all()
    assert template.version == 2
    assert item.progression_text == "every 3 weeks: +1 set (up to 2 sets)"


@pytest.mark.parametrize(
    ("row", "shown"),
    [
        # Above the stretch's bound (a static stretch: a 60 s hold at most): the service's key, in the inline's words.
        (
            {"stretch": "knees-to-chest", "hold_seconds": "20", **rule(every_weeks="2", hold_seconds="5",
                                                                       max_hold_seconds="90")},
            "Item 1, progression, up to hold (s): Knees to chest takes at most a hold of 60 s.",
        ),
        # A hold added to an item without one: the row's own check (the model's constraint) says so first.
        (
            {"stretch": "cat-cow", **rule(every_weeks="2", hold_seconds="5")},
            "A progression rule runs every 1 to 52 weeks and adds to the hold (of an item with a hold)",
        ),
        # The dose itself above the bound (the service's ``items[0].reps``).
        ({"stretch": "knees-to-chest", "hold_seconds": "20", "reps": "9"}, "Item 1: Knees to chest takes at most 4"),
    ],
)  # fmt: skip
def test_a_refused_rule_shows_its_error_on_the_form_and_nothing_is_saved(staff_client, therapist, row, shown):
    response = staff_client(therapist).post(
        f"{TEMPLATES}add/", form([{"reps": "3", **row, "stretch": stretch_pk(row["stretch"])}])
    )
    assert response.status_code == 200
    assert any(message.startswith(shown) for message in errors_of(response)), errors_of(response)
    assert not ProtocolTemplate.objects.filter(slug="evening-back-care").exists()


def errors_of(response) -> list[str]:
    """Every error the page shows: the form's top and the items' rows."""
    [inline] = response.context["inline_admin_formsets"]
    rows = [message for errors in inline.formset.errors for field in errors.values() for message in field]
    return [*response.context["adminform"].form.non_field_errors(), *rows]


def test_increments_without_a_period_are_refused_on_the_row(staff_client, therapist):
    """A row's rule is its "every (weeks)": increments without one are a mistake, said on the row."""
    response = staff_client(therapist).post(
        f"{TEMPLATES}add/",
        form([{"stretch": stretch_pk("knees-to-chest"), "hold_seconds": "20", "reps": "3", **rule(hold_seconds="5")}]),
    )
    assert response.status_code == 200
    [inline] = response.context["inline_admin_formsets"]
    assert "Say every how many weeks the dose progresses" in str(inline.formset.errors)
    assert not ProtocolTemplate.objects.filter(slug="evening-back-care").exists()


# --- The patient page: the rule, the version, the next step and a held step ------------------------------------------


def progressing_plan(patient, therapist, *, started_days_ago: int) -> Prescription:
    """An active plan of two weeks' hip flexor stretch progression (+5 s hold up to 45 s) and a pelvic tilt without
    a rule, started ``started_days_ago`` days ago."""
    episode = factories.EpisodeFactory(patient=patient, primary_therapist=therapist)
    plan = factories.PrescriptionFactory(
        episode=episode,
        therapist=therapist,
        status=Prescription.Status.ACTIVE,
        start_date=patient.local_today() - dt.timedelta(days=started_days_ago),
    )
    factories.PrescriptionItemFactory(
        prescription=plan,
        stretch=Stretch.objects.get(clinic=None, slug="standing-hip-flexor-stretch"),
        hold_seconds=30,
        reps=2,
        progress_every_weeks=2,
        progress_hold_seconds=5,
        progress_max_hold_seconds=45,
    )
    factories.PrescriptionItemFactory(prescription=plan)
    return plan


@pytest.mark.parametrize("role", ["front_desk", "therapist"])
def test_the_patient_page_shows_each_items_rule_the_version_and_the_next_step(
    request, staff_client, patient, therapist, role
):
    progressing_plan(patient, therapist, started_days_ago=10)
    page = text(staff_client(request.getfixturevalue(role)).get(f"{PATIENTS}{patient.pk}/change/"))

    assert "version 1:" in page
    assert "every 2 weeks: +5 s hold (up to 45 s)" in page
    step = patient.local_today() + dt.timedelta(days=4)  # the start date + 2 weeks
    assert f"Next dose step: {day(step)}" in page
    assert "Standing hip flexor stretch to hold 35 s × 2 reps" in page
    assert "held for the therapist" not in page


def test_the_patient_page_shows_a_held_step_and_the_step_after_it(staff_client, therapist, patient):
    plan = progressing_plan(patient, therapist, started_days_ago=15)
    step = progression_step_run(prescription_id=plan.pk)  # no session logged: held for missing data
    assert step is not None and step.status == ProgressionStep.Status.HELD
    page = text(staff_client(therapist).get(f"{PATIENTS}{patient.pk}/change/"))

    assert (
        f"The dose step of {day(step.on_date)} is held for the therapist: Not enough logged sessions to judge." in page
    )
    assert f"Next dose step: {day(step.on_date + dt.timedelta(weeks=2))}" in page


def test_a_plan_whose_rules_are_spent_shows_no_next_step(staff_client, therapist, patient):
    plan = progressing_plan(patient, therapist, started_days_ago=3)
    plan.items.filter(progress_every_weeks=2).update(hold_seconds=45)  # at its maximum already
    page = text(staff_client(therapist).get(f"{PATIENTS}{patient.pk}/change/"))
    assert "every 2 weeks: +5 s hold (up to 45 s)" in page and "Next dose step" not in page


def test_the_patient_page_costs_the_same_queries_with_one_progressing_plan_or_many(
    staff_client, therapist, patient, count_queries
):
    client = staff_client(therapist)
    url = f"{PATIENTS}{patient.pk}/change/"
    plan = progressing_plan(patient, therapist, started_days_ago=15)
    progression_step_run(prescription_id=plan.pk)
    assert client.get(url).status_code == 200  # warm caches
    one = count_queries(lambda: client.get(url))
    for _ in range(4):
        plan = progressing_plan(patient, therapist, started_days_ago=15)
        progression_step_run(prescription_id=plan.pk)
    many = count_queries(lambda: client.get(url))
    page = client.get(url).content.decode()

    assert one == many
    assert page.count('class="held-dose-step"') == page.count('class="next-dose-step"') == 5


# --- The steps: read-only, clinic-scoped --------------------------------------------------------------------------


@pytest.fixture
def steps(patient, therapist, other_therapist):
    """A held step of this clinic's patient and one of another clinic's."""
    own = progressing_plan(patient, therapist, started_days_ago=15)
    other_patient = factories.PatientFactory(clinic=other_therapist.membership.clinic)
    theirs = progressing_plan(other_patient, other_therapist, started_days_ago=15)
    return progression_step_run(prescription_id=own.pk), progression_step_run(prescription_id=theirs.pk)


@pytest.mark.parametrize("role", ["therapist", "clinic_admin"])
def test_staff_read_their_clinics_steps_only(request, staff_client, steps, patient, role):
    own, theirs = steps
    client = staff_client(request.getfixturevalue(role))
    listing = client.get(STEPS)
    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == [own]
    assert "Not enough logged sessions to judge" in text(listing)
    assert client.get(f"{STEPS}?status__exact=applied").context["cl"].result_list.count() == 0

    page = client.get(f"{STEPS}{own.pk}/change/")
    assert page.status_code == 200 and not page.context["has_change_permission"]
    shown = text(page)
    assert "Standing hip flexor stretch: hold 30 s × 2 reps → hold 35 s × 2 reps" in shown
    assert "Pain after sessions: first week no data (0 logs)" in shown and "minimum is 60 %" in shown
    assert AccessLog.objects.filter(patient=patient, what="admin:progression-step-change").exists()
    assert client.get(f"{STEPS}{theirs.pk}/change/", follow=True).redirect_chain  # "not found": to the index


@pytest.mark.parametrize("role", ["therapist", "clinic_admin"])
def test_nobody_adds_changes_or_deletes_a_step(request, staff_client, steps, role):
    own, _ = steps
    client = staff_client(request.getfixturevalue(role))
    assert client.get(f"{STEPS}add/").status_code == 403
    assert client.post(f"{STEPS}{own.pk}/change/", {"status": "applied"}).status_code == 403
    assert client.post(f"{STEPS}{own.pk}/delete/", {"post": "yes"}).status_code == 403
    own.refresh_from_db()
    assert own.status == ProgressionStep.Status.HELD


def test_a_superuser_reads_every_clinics_steps_but_changes_none(superuser_client, steps):
    listing = superuser_client.get(STEPS)
    assert set(listing.context["cl"].result_list) == set(steps)
    own, _ = steps
    page = superuser_client.get(f"{STEPS}{own.pk}/change/")
    assert page.status_code == 200 and not page.context["has_change_permission"]
    assert superuser_client.get(f"{STEPS}add/").status_code == 403


def test_the_front_desk_has_no_steps_page(staff_client, front_desk, steps):
    """A step names doses: the plan's content, which the desk does not view (minimum necessary)."""
    own, _ = steps
    client = staff_client(front_desk)
    assert client.get(STEPS).status_code == 403
    assert client.get(f"{STEPS}{own.pk}/change/").status_code == 403
