"""Dose progression through the API (issue 17, part 2): an item's rule in and out of plans and templates (400s naming
the field), the stretches' dose bounds, a plan's versions, the progression read (steps and the next one, constant
queries), applying a held step by hand (201, 409 twice or when the gate refuses), and what the patient reads: the
portal's plan version and rule in words, and the printable program's "Version N"."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from clinic.models import DOSE_BOUNDS, Stretch
from patients import services as patient_services
from prescriptions.models import Prescription, ProgressionStep, SafetyFlag
from prescriptions.services.progression import progression_step_run
from tests import factories

Status = Prescription.Status
LIST = "/api/v1/prescriptions/"
TEMPLATES = "/api/v1/catalog/templates/"
RULE = {"every_weeks": 2, "hold_seconds": 5, "reps": 1, "max_hold_seconds": 45}
RULE_OUT = {**RULE, "sets": 0, "max_reps": None, "max_sets": None}


def url(plan: Prescription | int, action: str = "") -> str:
    pk = plan if isinstance(plan, int) else plan.pk
    return f"{LIST}{pk}/{action}"


def apply_url(plan: Prescription, step: ProgressionStep | int) -> str:
    return url(plan, f"progression-steps/{step if isinstance(step, int) else step.pk}/apply")


def body_for(patient, *items: dict, **fields) -> dict:
    return {
        "episode": patient.episodes.get().pk,
        "start_date": patient.local_today().isoformat(),
        "days_of_week": [1, 3, 5],
        "times": ["08:00"],
        "items": list(items),
        **fields,
    }


def knees(**fields) -> dict:
    """Knees to chest: a static stretch (default 20 s × 3; bounds 60 s, 4 reps, 3 sets)."""
    return {"stretch": "knees-to-chest", **fields}


def live_plan(patient, therapist, stretch, *, weeks_ago: int = 2, every_weeks: int = 1, **fields) -> Prescription:
    """An active plan started ``weeks_ago`` weeks ago with knees to chest, 20 s × 3, progressing +5 s hold every
    ``every_weeks`` weeks."""
    plan = factories.PrescriptionFactory(
        episode=patient.episodes.get(),
        therapist=therapist,
        activated_at=timezone.now() - dt.timedelta(weeks=weeks_ago),  # live since its start
        start_date=patient.local_today() - dt.timedelta(weeks=weeks_ago),
        **{"status": Status.ACTIVE, **fields},
    )
    factories.PrescriptionItemFactory(
        prescription=plan,
        order=1,
        stretch=stretch("knees-to-chest"),
        hold_seconds=20,
        reps=3,
        progress_every_weeks=every_weeks,
        progress_hold_seconds=5,
    )
    return plan


def held_step(plan: Prescription) -> ProgressionStep:
    """The step due today, held for missing data (the patient logged nothing)."""
    step = progression_step_run(prescription_id=plan.pk)
    assert step is not None and step.status == ProgressionStep.Status.HELD, step
    assert step.held_because == [ProgressionStep.Condition.MISSING_DATA]
    return step


def add_step(plan: Prescription, on_date: dt.date) -> ProgressionStep:
    return ProgressionStep.objects.create(
        first_version_id=plan.lineage_id,
        on_date=on_date,
        from_version=plan,
        status=ProgressionStep.Status.HELD,
        held_because=["missing_data", "low_adherence"],
        changes=[
            {
                "order": 1,
                "stretch": "Knees to chest",
                "from": {"hold_seconds": 20, "reps": 3, "sets": 1},
                "to": {"hold_seconds": 25, "reps": 3, "sets": 1},
            }
        ],
        evidence={"open_flags": []},
        ran_at=timezone.now(),
    )


@pytest.fixture
def therapist_api(as_user, therapist):
    return as_user(therapist)


# --- Rules in and out of plans ----------------------------------------------------------------------------


def test_a_draft_keeps_its_items_rule_and_says_it_in_words(therapist_api, cleared_patient):
    response = therapist_api.post(
        LIST, body_for(cleared_patient, knees(progression=RULE), {"stretch": "cat-cow", "progression": None})
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["version"], body["first_version"]) == (1, None)
    rule_item, plain_item = body["items"]
    assert rule_item["progression"] == RULE_OUT
    assert rule_item["progression_text"] == "every 2 weeks: +5 s hold, +1 rep (up to 45 s)"
    assert (plain_item["progression"], plain_item["progression_text"]) == (None, "")
    assert therapist_api.get(url(body["id"])).json()["items"][0]["progression"] == RULE_OUT


def test_patch_sets_changes_and_removes_a_rule(therapist_api, cleared_patient):
    plan = therapist_api.post(LIST, body_for(cleared_patient, knees())).json()
    assert plan["items"][0]["progression"] is None

    rule = {"every_weeks": 3, "sets": 1, "max_sets": 2}
    patched = therapist_api.patch(url(plan["id"]), {"items": [knees(progression=rule)]})
    assert patched.status_code == 200, patched.json()
    [item] = patched.json()["items"]
    assert item["progression"] == {
        "every_weeks": 3, "hold_seconds": 0, "reps": 0, "sets": 1, "max_hold_seconds": None, "max_reps": None,
        "max_sets": 2,
    }  # fmt: skip
    assert item["progression_text"] == "every 3 weeks: +1 set (up to 2 sets)"

    cleared = therapist_api.patch(url(plan["id"]), {"items": [knees(progression=None)]})
    assert cleared.json()["items"][0]["progression"] is None


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (knees(progression={"every_weeks": 2}), "items[0].progression"),  # adds nothing
        (knees(progression={"every_weeks": 2, "hold_seconds": 0, "reps": 0, "sets": 0}), "items[0].progression"),
        (knees(progression={**RULE, "every_weeks": 0}), "items[0].progression.every_weeks"),
        (knees(progression={**RULE, "every_weeks": 53}), "items[0].progression.every_weeks"),
        (knees(progression={**RULE, "reps": -1}), "items[0].progression.reps"),
        (knees(progression={"hold_seconds": 5}), "items[0].progression.every_weeks"),
        (knees(progression="weekly"), "items[0].progression"),
        # Above the stretch's bound (knees to chest: 60 s, 4 reps, 3 sets), for the rule and for the dose.
        (knees(progression={**RULE, "max_hold_seconds": 90}), "items[0].progression.max_hold_seconds"),
        (knees(progression={**RULE, "max_reps": 8}), "items[0].progression.max_reps"),
        (knees(reps=6), "items[0].reps"),
        (knees(hold_seconds=90), "items[0].hold_seconds"),
        # Below the default hold an omitted one gets (knees to chest: 20 s).
        (knees(progression={**RULE, "max_hold_seconds": 15}), "items[0].progression.max_hold_seconds"),
        # Below the dose it starts from.
        (knees(hold_seconds=30, progression={**RULE, "max_hold_seconds": 25}), "items[0].progression.max_hold_seconds"),
        # A hold added to an item without one (cat-cow: reps only).
        (
            {"stretch": "cat-cow", "progression": {"every_weeks": 1, "hold_seconds": 5}},
            "items[0].progression.hold_seconds",
        ),
    ],
)
def test_a_bad_rule_is_a_400_naming_its_field(therapist_api, cleared_patient, item, field):
    response = therapist_api.post(LIST, body_for(cleared_patient, item))
    assert response.status_code == 400, response.json()
    body = response.json()
    assert field in body["errors"], body["errors"]
    assert body["detail"] == body["errors"][next(iter(body["errors"]))][0]
    assert not Prescription.objects.exists()


def test_a_bad_rule_in_a_patch_names_the_item(therapist_api, cleared_patient):
    plan = therapist_api.post(LIST, body_for(cleared_patient, knees())).json()
    items = [{"stretch": "cat-cow"}, knees(progression={**RULE, "max_hold_seconds": 61})]
    response = therapist_api.patch(url(plan["id"]), {"items": items})
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "items[1].progression.max_hold_seconds": ["Item 2: Knees to chest takes at most a hold of 60 s."]
    }


def test_the_stretch_catalog_shows_each_stretchs_dose_bounds(therapist_api, clinic, stretch):
    knees_to_chest = stretch("knees-to-chest")
    body = therapist_api.get(f"/api/v1/catalog/stretches/{knees_to_chest.pk}/").json()
    assert body["dose_bounds"] == {"hold_seconds": 60, "reps": 4, "sets": 3}
    listed = therapist_api.get("/api/v1/catalog/stretches/").json()["results"]
    assert listed
    for row in listed:  # each its own bounds, else its kind's
        assert row["dose_bounds"] == vars(Stretch.objects.get(pk=row["id"]).dose_bounds), row["slug"]
    own = factories.StretchFactory(clinic=clinic, kind=Stretch.Kind.DYNAMIC, default_hold_seconds=None, max_reps=12)
    body = therapist_api.get(f"/api/v1/catalog/stretches/{own.pk}/").json()
    default = DOSE_BOUNDS[Stretch.Kind.DYNAMIC]
    assert body["dose_bounds"] == {"hold_seconds": default.hold_seconds, "reps": 12, "sets": default.sets}


# --- Rules in templates -------------------------------------------------------------------------------------


TEMPLATE = {
    "name": "Progressive hamstrings",
    "diagnoses": ["M54.50"],
    "days_of_week": [1, 3, 5],
    "times": ["08:00"],
    "items": [knees(progression=RULE), {"stretch": "cat-cow"}],
}


def test_a_template_keeps_its_items_rules(therapist_api):
    response = therapist_api.post(TEMPLATES, TEMPLATE)
    assert response.status_code == 201, response.json()
    rule_item, plain_item = response.json()["items"]
    assert rule_item["progression"] == RULE_OUT
    assert rule_item["progression_text"] == "every 2 weeks: +5 s hold, +1 rep (up to 45 s)"
    assert (plain_item["progression"], plain_item["progression_text"]) == (None, "")

    template_id = response.json()["id"]
    patched = therapist_api.patch(f"{TEMPLATES}{template_id}/", {"items": [knees(progression={"every_weeks": 1})]})
    assert patched.status_code == 400
    assert "items[0].progression" in patched.json()["errors"]
    patched = therapist_api.patch(f"{TEMPLATES}{template_id}/", {"items": [knees()]})
    assert patched.json()["items"][0]["progression"] is None


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (knees(progression={**RULE, "max_hold_seconds": 90}), "items[0].progression.max_hold_seconds"),
        (
            {"stretch": "cat-cow", "progression": {"every_weeks": 1, "hold_seconds": 5}},
            "items[0].progression.hold_seconds",
        ),
        (knees(progression={**RULE, "every_weeks": 0}), "items[0].progression.every_weeks"),
    ],
)
def test_a_bad_template_rule_is_a_400_naming_its_field(therapist_api, item, field):
    response = therapist_api.post(TEMPLATES, {**TEMPLATE, "items": [item]})
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()["errors"]


def test_a_plan_from_a_template_carries_its_rules(therapist_api, cleared_patient):
    template = therapist_api.post(TEMPLATES, TEMPLATE).json()
    response = therapist_api.post(
        f"{LIST}from-template",
        {
            "template": template["id"],
            "episode": cleared_patient.episodes.get().pk,
            "start_date": cleared_patient.local_today().isoformat(),
        },
    )
    assert response.status_code == 201, response.json()
    assert response.json()["items"][0]["progression"] == RULE_OUT


# --- A plan's versions and carried overrides ---------------------------------------------------------------


def test_an_amendment_is_the_next_version_of_the_first(therapist_api, cleared_patient, therapist, stretch):
    plan = live_plan(cleared_patient, therapist, stretch)
    amendment = therapist_api.post(url(plan, "amend"))
    assert amendment.status_code == 201
    assert (amendment.json()["version"], amendment.json()["first_version"]) == (2, plan.pk)
    assert amendment.json()["items"][0]["progression"]["every_weeks"] == 1


def test_an_override_carried_by_a_step_says_where_from(therapist_api, cleared_patient, therapist, stretch):
    plan = live_plan(cleared_patient, therapist, stretch)
    original = factories.GateOverrideFactory(item=plan.items.get(), by=therapist)
    newer = factories.PrescriptionFactory(
        supersedes=plan, episode=plan.episode, therapist=therapist, status=Status.DRAFT
    )
    item = factories.PrescriptionItemFactory(prescription=newer, order=1, stretch=stretch("knees-to-chest"))
    carried = factories.GateOverrideFactory(item=item, by=therapist, carried_from=original)
    overrides = therapist_api.get(url(newer)).json()["overrides"]
    assert [(row["id"], row["carried_from"]) for row in overrides] == [(carried.pk, original.pk)]
    assert therapist_api.get(url(plan)).json()["overrides"][0]["carried_from"] is None


# --- GET progression ----------------------------------------------------------------------------------------


def test_progression_lists_the_lineages_steps_and_the_next(therapist_api, cleared_patient, therapist, stretch):
    plan = live_plan(cleared_patient, therapist, stretch, weeks_ago=3, every_weeks=2)
    step = add_step(plan, plan.start_date + dt.timedelta(weeks=2))

    response = therapist_api.get(url(plan, "progression"))
    assert response.status_code == 200, response.json()
    body = response.json()
    [shown] = body["steps"]
    assert shown["id"] == step.pk and shown["on_date"] == step.on_date.isoformat()
    assert shown["status"] == "held"
    assert shown["held_because"] == [
        {"code": "missing_data", "label": "Not enough logged sessions to judge"},
        {"code": "low_adherence", "label": "Too few sessions done"},
    ]
    assert shown["changes"] == step.changes
    assert shown["from_version"] == {"id": plan.pk, "version": 1, "status": "active"}
    assert (shown["to_version"], shown["applied_by"], shown["applied_at"]) == (None, None, None)
    # The next grid date after the last step: week 4, +5 s.
    assert body["next_step"] == {
        "on_date": (plan.start_date + dt.timedelta(weeks=4)).isoformat(),
        "changes": [
            {
                "order": 1,
                "stretch": "Knees to chest",
                "from": {"hold_seconds": 20, "reps": 3, "sets": 1},
                "to": {"hold_seconds": 25, "reps": 3, "sets": 1},
            }
        ],
    }


def test_a_plan_without_rules_or_not_active_has_no_next_step(therapist_api, cleared_patient, therapist, stretch):
    plain = factories.PrescriptionFactory(episode=cleared_patient.episodes.get(), status=Status.ACTIVE)
    factories.PrescriptionItemFactory(prescription=plain)
    assert therapist_api.get(url(plain, "progression")).json() == {"steps": [], "next_step": None}
    paused = live_plan(cleared_patient, therapist, stretch, status=Status.PAUSED)
    assert therapist_api.get(url(paused, "progression")).json()["next_step"] is None


def test_progression_runs_the_same_queries_for_one_step_or_five(
    therapist_api, cleared_patient, therapist, stretch, count_queries, django_assert_num_queries
):
    plan = live_plan(cleared_patient, therapist, stretch, weeks_ago=1)
    add_step(plan, plan.start_date - dt.timedelta(days=10))
    one = count_queries(lambda: therapist_api.get(url(plan, "progression")))
    for days in range(11, 15):
        add_step(plan, plan.start_date - dt.timedelta(days=days))
    with django_assert_num_queries(one):
        response = therapist_api.get(url(plan, "progression"))
    assert len(response.json()["steps"]) == 5


def test_progression_read_role_matrix(as_user, clinic_admin, front_desk, other_therapist, portal_user, api, therapist,
                                      cleared_patient, stretch):  # fmt: skip
    plan = live_plan(cleared_patient, therapist, stretch)
    for user in (therapist, clinic_admin):
        assert as_user(user).get(url(plan, "progression")).status_code == 200
    assert as_user(front_desk).get(url(plan, "progression")).status_code == 403
    assert as_user(other_therapist).get(url(plan, "progression")).status_code == 404
    assert as_user(therapist).get(url(2**31 - 1, "progression")).status_code == 404
    assert as_user(portal_user).get(url(plan, "progression")).status_code == 403
    api.force_authenticate(None)
    assert api.get(url(plan, "progression")).status_code == 401


def test_every_version_answers_with_the_whole_lineage(therapist_api, cleared_patient, therapist, stretch):
    plan = live_plan(cleared_patient, therapist, stretch)
    step = held_step(plan)
    new = therapist_api.post(apply_url(plan, step)).json()
    for version in (plan.pk, new["id"]):
        steps = therapist_api.get(url(version, "progression")).json()["steps"]
        assert [(s["id"], s["status"]) for s in steps] == [(step.pk, "applied_by_hand")]


# --- POST apply ----------------------------------------------------------------------------------------------


def test_a_therapist_applies_a_held_step(therapist_api, cleared_patient, therapist, stretch):
    plan = live_plan(cleared_patient, therapist, stretch)
    step = held_step(plan)
    flag = SafetyFlag.objects.get(kind=SafetyFlag.Kind.PROGRESSION_HELD, patient=cleared_patient)
    assert flag.is_unresolved

    response = therapist_api.post(apply_url(plan, step))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "active" and body["id"] != plan.pk
    assert (body["version"], body["first_version"], body["supersedes"]) == (2, plan.pk, plan.pk)
    [item] = body["items"]
    assert (item["hold_seconds"], item["reps"]) == (25, 3)
    assert item["progression"]["every_weeks"] == 1  # the rule goes on
    assert body["latest_evaluation"]["passed"] is True

    step.refresh_from_db()
    assert (step.status, step.to_version_id, step.applied_by) == ("applied_by_hand", body["id"], therapist)
    assert step.applied_at is not None
    plan.refresh_from_db()
    assert plan.status == Status.COMPLETED
    flag.refresh_from_db()
    assert not flag.is_unresolved

    shown = therapist_api.get(url(plan, "progression")).json()["steps"][0]
    assert shown["to_version"] == {"id": body["id"], "version": 2, "status": "active"}
    assert shown["applied_by"] == therapist.pk


def test_applying_twice_is_a_conflict(therapist_api, cleared_patient, therapist, stretch):
    plan = live_plan(cleared_patient, therapist, stretch)
    step = held_step(plan)
    assert therapist_api.post(apply_url(plan, step)).status_code == 201
    again = therapist_api.post(apply_url(plan, step))
    assert again.status_code == 409
    assert again.json()["type"].endswith("/state-conflict")
    assert "already applied by the therapist" in again.json()["detail"]
    assert Prescription.objects.filter(first_version=plan).count() == 1


def test_an_amendment_in_progress_is_a_conflict(therapist_api, cleared_patient, therapist, stretch):
    plan = live_plan(cleared_patient, therapist, stretch)
    step = held_step(plan)
    assert therapist_api.post(url(plan, "amend")).status_code == 201
    response = therapist_api.post(apply_url(plan, step))
    assert response.status_code == 409 and "amendment in progress" in response.json()["detail"]


def test_the_gates_refusal_answers_like_activation(therapist_api, cleared_patient, therapist, stretch):
    plan = live_plan(cleared_patient, therapist, stretch)
    step = held_step(plan)
    patient_services.clearance_revoke(clearance=cleared_patient.clearances.get(), by=therapist, reason="Re-injured.")
    response = therapist_api.post(apply_url(plan, step))
    assert response.status_code == 409
    body = response.json()
    assert body["type"].endswith("/safety-blocked")
    assert [finding["code"] for finding in body["findings"]] == ["clearance_revoked"]
    step.refresh_from_db()
    assert step.status == ProgressionStep.Status.HELD
    assert list(Prescription.objects.filter(first_version=plan)) == []  # nothing kept
    plan.refresh_from_db()
    assert plan.status == Status.ACTIVE


def test_apply_role_matrix(as_user, clinic_admin, front_desk, other_therapist, portal_user, api, therapist,
                           cleared_patient, stretch):  # fmt: skip
    plan = live_plan(cleared_patient, therapist, stretch)
    step = held_step(plan)
    assert as_user(clinic_admin).post(apply_url(plan, step)).status_code == 403
    assert as_user(front_desk).post(apply_url(plan, step)).status_code == 403
    assert as_user(other_therapist).post(apply_url(plan, step)).status_code == 404
    assert as_user(portal_user).post(apply_url(plan, step)).status_code == 403
    api.force_authenticate(None)
    assert api.post(apply_url(plan, step)).status_code == 401
    step.refresh_from_db()
    assert step.status == ProgressionStep.Status.HELD


def test_a_step_of_another_plan_is_not_found(as_user, therapist, clinic, cleared_patient, stretch):
    plan = live_plan(cleared_patient, therapist, stretch)
    other = factories.PatientFactory(clinic=clinic)
    factories.ClearanceFactory(patient=other, recorded_by=therapist)
    factories.MobilityAssessmentFactory(patient=other, assessed_by=therapist)
    factories.EpisodeFactory(patient=other, primary_therapist=therapist)
    others_step = held_step(live_plan(other, therapist, stretch))
    client = as_user(therapist)
    assert client.post(apply_url(plan, others_step)).status_code == 404
    assert client.post(apply_url(plan, 2**31 - 1)).status_code == 404
    others_step.refresh_from_db()
    assert others_step.status == ProgressionStep.Status.HELD


# --- What the patient reads ---------------------------------------------------------------------------------


def test_the_portal_shows_the_plans_version_and_each_rule_in_words(as_user, portal_user, cleared_patient, therapist,
                                                                   stretch):  # fmt: skip
    plan = live_plan(cleared_patient, therapist, stretch)
    step = held_step(plan)
    as_user(therapist).post(apply_url(plan, step))
    body = as_user(portal_user).get("/api/v1/portal/plans").json()
    [shown] = body["plans"]
    assert shown["version"] == 2
    [item] = shown["items"]
    assert (item["hold_seconds"], item["reps"], item["sets"]) == (25, 3, 1)  # the current dose
    assert item["progression_text"] == "every week: +5 s hold"


def test_the_printable_program_says_which_version_since_when(client, portal_user, cleared_patient, therapist,
                                                             stretch):  # fmt: skip
    plan = live_plan(cleared_patient, therapist, stretch)
    amendment = factories.PrescriptionFactory(
        supersedes=plan, episode=plan.episode, therapist=therapist, status=Status.ACTIVE, start_date=dt.date(2026, 3, 2)
    )
    factories.PrescriptionItemFactory(
        prescription=amendment, stretch=stretch("knees-to-chest"), hold_seconds=25, reps=3, progress_every_weeks=2,
        progress_hold_seconds=5, progress_max_hold_seconds=40,
    )  # fmt: skip
    client.force_login(portal_user)
    html = client.get(f"/portal/plans/{amendment.pk}/print").content.decode()
    assert "Version 2, since Monday 2 March 2026" in html
    assert "every 2 weeks: +5 s hold (up to 40 s)" in html
