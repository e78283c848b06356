"""Staff prescription endpoints: the role matrix, every transition through the API (409s included), the gate's
refusals and overrides, the safety-check dry run, and constant queries on the list."""

from __future__ import annotations

import datetime as dt

import pytest

from clinic.models import Diagnosis, MovementTag, Stretch
from patients import services as patient_services
from prescriptions.models import GateEvaluation, GateOverride, Prescription
from tests import factories

Status = Prescription.Status
LIST = "/api/v1/prescriptions/"
CHECK = "/api/v1/safety-check"
ACTIONS = ["activate", "pause", "resume", "complete", "cancel", "amend"]


def url(plan: Prescription | int, action: str = "") -> str:
    pk = plan if isinstance(plan, int) else plan.pk
    return f"{LIST}{pk}/{action}"


def body_for(patient, *stretches, **fields) -> dict:
    return {
        "episode": patient.episodes.get().pk,
        "start_date": patient.local_today().isoformat(),
        "days_of_week": [1, 3, 5],
        "times": ["08:00"],
        "items": [{"stretch": s} for s in stretches],
        **fields,
    }


def diagnose(patient, therapist, code, **fields):
    return factories.PatientDiagnosisFactory(
        patient=patient, diagnosis=Diagnosis.objects.get(code=code), recorded_by=therapist, **fields
    )


@pytest.fixture
def therapist_api(as_user, therapist):
    return as_user(therapist)


@pytest.fixture
def draft(therapist_api, cleared_patient):
    """A draft plan (pelvic tilt) for the cleared patient, created through the API."""

    def create(*stretches: str) -> Prescription:
        response = therapist_api.post(LIST, body_for(cleared_patient, *(stretches or ("pelvic-tilt",))))
        assert response.status_code == 201, response.json()
        return Prescription.objects.get(pk=response.json()["id"])

    return create


@pytest.fixture
def active(therapist_api, draft):
    plan = draft()
    assert therapist_api.post(url(plan, "activate"), {}).status_code == 200
    plan.refresh_from_db()
    return plan


# --- Create and read -------------------------------------------------------------------------------------


def test_therapist_creates_a_draft_by_slug_and_id(therapist_api, cleared_patient, therapist, stretch):
    response = therapist_api.post(
        LIST,
        body_for(
            cleared_patient,
            "pelvic-tilt",
            stretch("knees-to-chest").pk,
            notes="Morning routine.",
            end_date=(cleared_patient.local_today() + dt.timedelta(days=28)).isoformat(),
        ),
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["patient"], body["therapist"]) == ("draft", cleared_patient.pk, therapist.pk)
    assert (body["days_of_week"], body["times"], body["notes"]) == ([1, 3, 5], ["08:00:00"], "Morning routine.")
    assert [(i["order"], i["stretch"]["slug"]) for i in body["items"]] == [(1, "pelvic-tilt"), (2, "knees-to-chest")]
    assert body["items"][1]["stretch"]["name"] == "Knees to chest"
    # An omitted dosage is the stretch's default.
    knees = stretch("knees-to-chest")
    assert (body["items"][1]["hold_seconds"], body["items"][1]["reps"]) == (
        knees.default_hold_seconds,
        knees.default_reps,
    )
    assert body["latest_evaluation"] is None and body["overrides"] == []


def test_explicit_dosage_is_kept(therapist_api, cleared_patient):
    item = {"stretch": "cat-cow", "reps": 12, "sets": 2, "side": "none", "notes": "Slowly.", "hold_seconds": None}
    response = therapist_api.post(LIST, {**body_for(cleared_patient), "items": [item]})
    assert response.status_code == 201, response.json()
    [saved] = response.json()["items"]
    assert (saved["reps"], saved["sets"], saved["hold_seconds"], saved["notes"]) == (12, 2, None, "Slowly.")
    assert saved["dosage"] == "12 reps, 2 sets"


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"days_of_week": [0, 8]}, {"days_of_week[0]", "days_of_week[1]"}),
        ({"days_of_week": []}, {"days_of_week"}),
        ({"times": []}, {"times"}),
        ({"times": ["25:00"]}, {"times[0]"}),
        ({"items": []}, {"items"}),
        ({"items": [{"stretch": "pelvic-tilt"}, {"stretch": "no-such-stretch"}]}, {"items[1].stretch"}),
        ({"items": [{"stretch": "pelvic-tilt", "reps": 0}]}, {"items[0].reps"}),
        ({"items": [{"stretch": "knees-to-chest", "hold_seconds": None}]}, {"items"}),  # static needs a hold
        ({"end_date": "2000-01-01"}, {"end_date"}),
        ({"start_date": "0001-01-01"}, {"start_date"}),
        ({"episode": 2**40}, {"episode"}),
    ],
)
def test_bad_input_is_a_400_naming_flat_fields(therapist_api, cleared_patient, change, fields):
    response = therapist_api.post(LIST, {**body_for(cleared_patient, "pelvic-tilt"), **change})
    assert response.status_code == 400, response.json()
    assert response["Content-Type"] == "application/problem+json"
    assert set(response.json()["errors"]) == fields
    assert not Prescription.objects.exists()


def test_an_episode_of_another_clinic_is_a_400_on_episode(as_user, other_therapist, cleared_patient):
    response = as_user(other_therapist).post(LIST, body_for(cleared_patient, "pelvic-tilt"))
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"episode"}
    assert not Prescription.objects.exists()


def test_another_clinics_stretch_is_not_in_the_catalog(therapist_api, cleared_patient, other_clinic):
    theirs = factories.StretchFactory(clinic=other_clinic)
    for name in (theirs.pk, theirs.slug):
        response = therapist_api.post(LIST, body_for(cleared_patient, name))
        assert response.status_code == 400 and set(response.json()["errors"]) == {"items[0].stretch"}


def test_the_clinics_own_stretch_can_be_prescribed(therapist_api, cleared_patient, clinic):
    ours = factories.StretchFactory(clinic=clinic)
    response = therapist_api.post(LIST, body_for(cleared_patient, ours.slug))
    assert response.status_code == 201 and response.json()["items"][0]["stretch"]["id"] == ours.pk


def test_a_discharged_episode_is_a_conflict(therapist_api, cleared_patient):
    episode = cleared_patient.episodes.get()
    episode.discharged_on = episode.opened_on
    episode.save()
    response = therapist_api.post(LIST, body_for(cleared_patient, "pelvic-tilt"))
    assert response.status_code == 409 and "discharged" in response.json()["detail"]


@pytest.mark.parametrize(("role", "code"), [("front_desk", 403), ("clinic_admin", 403)])
def test_only_therapists_create(request, as_user, cleared_patient, role, code):
    response = as_user(request.getfixturevalue(role)).post(LIST, body_for(cleared_patient, "pelvic-tilt"))
    assert response.status_code == code
    assert not Prescription.objects.exists()


def test_portal_and_anonymous_are_refused_everywhere(as_user, portal_user, api, draft):
    plan = draft()
    client = as_user(portal_user)
    assert client.get(LIST).status_code == 403
    assert client.get(url(plan)).status_code == 403
    assert client.post(LIST, {}).status_code == 403
    assert client.post(CHECK, {}).status_code == 403
    for action in ACTIONS:
        assert client.post(url(plan, action), {}).status_code == 403
    api.force_authenticate(None)
    assert api.get(LIST).status_code == 401
    assert api.get(url(plan)).status_code == 401
    assert api.patch(url(plan), {}).status_code == 401
    assert api.post(CHECK, {}).status_code == 401
    for action in ACTIONS:
        assert api.post(url(plan, action), {}).status_code == 401


def test_read_role_matrix(as_user, therapist, clinic_admin, front_desk, other_therapist, draft):
    plan = draft()
    for user in (therapist, clinic_admin):
        assert as_user(user).get(LIST).json()["count"] == 1
        assert as_user(user).get(url(plan)).status_code == 200
    # Front desk has no view of the plan itself (clinic/roles.py: no view_prescription).
    assert as_user(front_desk).get(LIST).status_code == 403
    assert as_user(front_desk).get(url(plan)).status_code == 403
    assert as_user(other_therapist).get(LIST).json()["count"] == 0
    assert as_user(other_therapist).get(url(plan)).status_code == 404
    assert as_user(therapist).get(url(2**40)).status_code == 404


def test_list_filters(therapist_api, therapist, clinic, cleared_patient, draft):
    first = draft()
    other = factories.PatientFactory(clinic=clinic)
    factories.ClearanceFactory(patient=other, recorded_by=therapist)
    factories.MobilityAssessmentFactory(patient=other, assessed_by=therapist)
    episode = factories.EpisodeFactory(patient=other)
    second = therapist_api.post(LIST, body_for(other, "cat-cow")).json()["id"]
    therapist_api.post(url(second, "activate"), {})

    def ids(query: str) -> list[int]:
        response = therapist_api.get(LIST + query)
        assert response.status_code == 200, response.json()
        return [p["id"] for p in response.json()["results"]]

    assert ids(f"?patient={cleared_patient.pk}") == [first.pk]
    assert ids(f"?episode={episode.pk}") == [second]
    assert ids("?status=active") == [second]
    assert ids("?status=draft") == [first.pk]
    assert ids(f"?patient={cleared_patient.pk}&status=active") == []
    assert therapist_api.get(LIST + "?status=sleeping").status_code == 400


def test_list_runs_constant_queries(therapist_api, therapist, cleared_patient, stretch, count_queries):
    def add(n: int, items: int) -> None:
        for _ in range(n):
            plan = factories.PrescriptionFactory(episode=cleared_patient.episodes.get(), therapist=therapist)
            for slug in ["pelvic-tilt", "cat-cow", "bridge", "chin-tuck"][:items]:
                factories.PrescriptionItemFactory(prescription=plan, stretch=stretch(slug))

    add(1, 1)
    small = count_queries(lambda: therapist_api.get(LIST))
    add(9, 4)
    large = count_queries(lambda: therapist_api.get(LIST))
    response = therapist_api.get(LIST)
    assert response.json()["count"] == 10
    assert sum(len(p["items"]) for p in response.json()["results"]) == 1 + 9 * 4
    assert small == large


# --- Update a draft --------------------------------------------------------------------------------------


def test_patch_changes_a_draft(therapist_api, draft):
    plan = draft()
    response = therapist_api.patch(
        url(plan),
        {"days_of_week": [5, 1], "notes": "Evenings.", "items": [{"stretch": "bridge"}, {"stretch": "cat-cow"}]},
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["days_of_week"], body["notes"]) == ([1, 5], "Evenings.")
    assert [i["stretch"]["slug"] for i in body["items"]] == ["bridge", "cat-cow"]
    # Only what is given changes.
    assert therapist_api.patch(url(plan), {"times": ["18:30"]}).json()["items"][0]["stretch"]["slug"] == "bridge"


def test_patch_bad_input_is_a_400(therapist_api, draft):
    plan = draft()
    response = therapist_api.patch(url(plan), {"items": [{"reps": 3}], "times": []})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"items[0].stretch", "times"}


def test_patch_of_a_non_draft_is_a_conflict(therapist_api, active):
    response = therapist_api.patch(url(active), {"notes": "Changed."})
    assert response.status_code == 409 and response.json()["type"].endswith("/state-conflict")
    active.refresh_from_db()
    assert active.notes == ""


def test_patch_role_matrix(as_user, front_desk, clinic_admin, other_therapist, draft):
    plan = draft()
    assert as_user(front_desk).patch(url(plan), {"notes": "x"}).status_code == 403
    assert as_user(clinic_admin).patch(url(plan), {"notes": "x"}).status_code == 403
    assert as_user(other_therapist).patch(url(plan), {"notes": "x"}).status_code == 404
    plan.refresh_from_db()
    assert plan.notes == ""


# --- Transitions -----------------------------------------------------------------------------------------


def test_every_transition_through_the_api(therapist_api, draft):
    plan = draft()

    def act(action: str, expected: int = 200) -> dict:
        response = therapist_api.post(url(plan, action), {})
        assert response.status_code == expected, response.json()
        return response.json()

    assert act("pause", 409)["type"].endswith("/state-conflict")  # a draft is not active
    assert act("resume", 409)
    assert act("complete", 409)
    assert act("amend", 409)
    activated = act("activate")
    assert activated["status"] == "active" and activated["activated_at"]
    assert activated["latest_evaluation"]["passed"] is True
    assert activated["latest_evaluation"]["purpose"] == "activation"
    assert act("activate", 409)
    assert act("pause")["status"] == "paused"
    assert act("pause", 409)
    assert act("resume")["status"] == "active"
    assert act("resume", 409)
    completed = act("complete")
    assert completed["status"] == "completed" and completed["ended_at"]
    for action in ACTIONS:
        act(action, 409)


def test_cancel_a_draft_and_a_paused_plan(therapist_api, draft, active):
    plan = draft()
    assert therapist_api.post(url(plan, "cancel")).json()["status"] == "cancelled"
    assert therapist_api.post(url(plan, "cancel")).status_code == 409
    therapist_api.post(url(active, "pause"))
    assert therapist_api.post(url(active, "cancel")).json()["status"] == "cancelled"


def test_amend_creates_a_draft_that_completes_the_old_plan_when_activated(therapist_api, active):
    response = therapist_api.post(url(active, "amend"))
    assert response.status_code == 201, response.json()
    amendment = response.json()
    assert (amendment["status"], amendment["supersedes"]) == ("draft", active.pk)
    assert [i["stretch"]["slug"] for i in amendment["items"]] == ["pelvic-tilt"]
    assert therapist_api.post(url(active, "amend")).status_code == 409  # one amendment at a time
    patched = therapist_api.patch(url(amendment["id"]), {"items": [{"stretch": "cat-cow"}]})
    assert patched.status_code == 200
    assert therapist_api.post(url(amendment["id"], "activate"), {}).json()["status"] == "active"
    assert therapist_api.get(url(active)).json()["status"] == "completed"


@pytest.mark.parametrize("action", ACTIONS)
def test_transition_role_matrix(as_user, front_desk, clinic_admin, other_therapist, active, action):
    assert as_user(front_desk).post(url(active, action), {}).status_code == 403
    assert as_user(clinic_admin).post(url(active, action), {}).status_code == 403
    assert as_user(other_therapist).post(url(active, action), {}).status_code == 404
    active.refresh_from_db()
    assert active.status == Status.ACTIVE
    assert Prescription.objects.count() == 1


def test_resume_refused_by_the_gate_is_a_409_with_findings(therapist_api, therapist, active, cleared_patient):
    therapist_api.post(url(active, "pause"))
    patient_services.clearance_revoke(clearance=cleared_patient.clearances.get(), by=therapist, reason="Re-injured.")
    response = therapist_api.post(url(active, "resume"))
    assert response.status_code == 409
    body = response.json()
    assert body["type"].endswith("/safety-blocked")
    assert [f["code"] for f in body["findings"]] == ["clearance_revoked"]
    assert therapist_api.get(url(active)).json()["status"] == "paused"
    latest = therapist_api.get(url(active)).json()["latest_evaluation"]
    assert (latest["purpose"], latest["passed"]) == ("resume", False)


# --- The gate at activation ------------------------------------------------------------------------------


def test_contraindication_refuses_then_an_override_activates(therapist_api, therapist, cleared_patient, draft):
    diagnose(cleared_patient, therapist, "M51.26", phase="acute")
    plan = draft("knees-to-chest", "pelvic-tilt")
    refused = therapist_api.post(url(plan, "activate"), {})
    assert refused.status_code == 409
    assert refused["Content-Type"] == "application/problem+json"
    [finding] = refused.json()["findings"]
    assert (finding["code"], finding["severity"], finding["overridable"]) == ("contraindicated", "block", True)
    assert finding["stretch"] == "knees-to-chest"
    assert (finding["item"], finding["item_index"]) == (plan.items.get(order=1).pk, 0)
    assert "Knees to chest" in finding["message"]

    waiver = {"item": finding["item"], "code": finding["code"], "cause": finding["cause"]}
    no_reason = therapist_api.post(url(plan, "activate"), {"overrides": [waiver]})
    assert no_reason.status_code == 400 and set(no_reason.json()["errors"]) == {"overrides[0].reason"}

    reason = "Gentle, pain-free range agreed with the surgeon."
    accepted = therapist_api.post(url(plan, "activate"), {"overrides": [{**waiver, "reason": reason}]})
    assert accepted.status_code == 200, accepted.json()
    body = accepted.json()
    assert body["status"] == "active"
    [override] = body["overrides"]
    assert (override["item"], override["code"], override["kind"], override["reason"]) == (
        finding["item"],
        "contraindicated",
        "override",
        reason,
    )
    evaluation = body["latest_evaluation"]
    assert evaluation["passed"] is True
    [covered] = evaluation["spans"][0]["findings"]
    assert covered["covered"] is True and covered["cause"] == finding["cause"]
    assert (covered["item"], covered["item_index"]) == (finding["item"], 0)
    assert [e.passed for e in plan.evaluations.order_by("id")] == [False, True]


def test_restricted_clearance_cannot_be_overridden(therapist_api, cleared_patient, draft):
    clearance = cleared_patient.clearances.get()
    clearance.status = "restricted"
    clearance.save()
    clearance.restricted_tags.set([MovementTag.objects.get(slug="lumbar_flexion")])
    plan = draft("knees-to-chest")
    refused = therapist_api.post(url(plan, "activate"), {})
    assert refused.status_code == 409
    [finding] = refused.json()["findings"]
    assert (finding["code"], finding["overridable"]) == ("restricted_movement", False)
    attempt = therapist_api.post(
        url(plan, "activate"),
        {"overrides": [{**{k: finding[k] for k in ("item", "code", "cause")}, "reason": "I know best."}]},
    )
    assert attempt.status_code == 400
    assert "cannot be overridden" in attempt.json()["errors"]["overrides"][0]
    assert not GateOverride.objects.exists()
    plan.refresh_from_db()
    assert plan.status == Status.DRAFT


def test_an_override_naming_no_finding_is_a_400(therapist_api, draft):
    plan = draft()
    response = therapist_api.post(
        url(plan, "activate"),
        {"overrides": [{"item": plan.items.get().pk, "code": "contraindicated", "cause": "x", "reason": "Because."}]},
    )
    assert response.status_code == 400 and "overrides" in response.json()["errors"]
    plan.refresh_from_db()
    assert plan.status == Status.DRAFT


def test_a_caution_must_be_acknowledged(therapist_api, therapist, cleared_patient, draft):
    diagnose(cleared_patient, therapist, "M81.0")
    plan = draft("seated-thoracic-rotation")
    refused = therapist_api.post(url(plan, "activate"), {})
    assert refused.status_code == 409
    [finding] = refused.json()["findings"]
    assert (finding["code"], finding["severity"]) == ("caution", "warn")
    ack = {k: finding[k] for k in ("item", "code", "cause")}
    accepted = therapist_api.post(url(plan, "activate"), {"acknowledgements": [ack]})
    assert accepted.status_code == 200, accepted.json()
    assert accepted.json()["overrides"][0]["kind"] == "acknowledgement"


# --- The safety-check dry run ----------------------------------------------------------------------------


def test_dry_run_passes_and_defaults_to_the_patients_today(therapist_api, cleared_patient):
    response = therapist_api.post(CHECK, {"patient": cleared_patient.pk, "items": [{"stretch": "pelvic-tilt"}]})
    assert response.status_code == 200, response.json()
    assert response.json() == {"on_date": cleared_patient.local_today().isoformat(), "passed": True, "findings": []}
    assert not GateEvaluation.objects.exists()


def test_dry_run_findings_name_item_indexes_and_save_nothing(therapist_api, therapist, cleared_patient, stretch):
    diagnose(cleared_patient, therapist, "M51.26", phase="acute")
    on_date = cleared_patient.local_today() + dt.timedelta(days=3)
    payload = {
        "patient": cleared_patient.pk,
        "on_date": on_date.isoformat(),
        "items": [{"stretch": "pelvic-tilt"}, {"stretch": stretch("knees-to-chest").pk}, {"stretch": "chin-tuck"}],
    }
    response = therapist_api.post(CHECK, payload)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["on_date"] == on_date.isoformat() and body["passed"] is False
    # ``item`` is a plan item id everywhere: the dry run's items are not saved, so it is null here.
    assert [(f["item"], f["item_index"], f["code"], f["stretch"]) for f in body["findings"]] == [
        (None, 1, "contraindicated", "knees-to-chest")
    ]
    assert set(body["findings"][0]) == {
        "code", "severity", "overridable", "item", "item_index", "stretch", "cause", "message",
    }  # fmt: skip
    assert not GateEvaluation.objects.exists()
    assert not Prescription.objects.exists()


def test_dry_run_without_clearance_blocks_every_item(therapist_api, patient):
    response = therapist_api.post(
        CHECK, {"patient": patient.pk, "items": [{"stretch": "pelvic-tilt"}, {"stretch": "bridge"}]}
    )
    body = response.json()
    assert [(f["item"], f["item_index"], f["code"], f["overridable"]) for f in body["findings"]] == [
        (None, 0, "no_clearance", False),
        (None, 1, "no_clearance", False),
    ]


def test_the_dry_run_is_a_logged_read_of_the_patient(therapist_api, therapist, patient):
    """Nothing is written, but the answer shows the patient's clearance and diagnoses: the read is logged."""
    from patients.models import AccessLog

    response = therapist_api.post(CHECK, {"patient": patient.pk, "items": [{"stretch": "pelvic-tilt"}]})
    assert response.status_code == 200
    assert list(AccessLog.objects.filter(actor=therapist).values_list("patient_id", "what")) == [
        (patient.pk, "api:safety-check")
    ]


def test_item_means_the_same_in_the_dry_run_and_at_activation(therapist_api, therapist, cleared_patient, draft):
    """Same stretches, same order: the dry run and the refusal agree on everything but the (unsaved) item id."""
    diagnose(cleared_patient, therapist, "M81.0")
    stretches = ("pelvic-tilt", "knees-to-chest", "seated-thoracic-rotation")
    checked = therapist_api.post(CHECK, {"patient": cleared_patient.pk, "items": [{"stretch": s} for s in stretches]})
    plan = draft(*stretches)
    refused = therapist_api.post(url(plan, "activate"), {})
    assert refused.status_code == 409
    ids = [i.pk for i in plan.items.order_by("order")]
    dry, real = checked.json()["findings"], refused.json()["findings"]
    assert [f["item_index"] for f in dry] == [f["item_index"] for f in real] == [1, 2]
    assert [f["item"] for f in dry] == [None, None]
    assert [f["item"] for f in real] == [ids[1], ids[2]]
    assert [{**f, "item": None} for f in real] == dry


def test_refusal_detail_reads_as_one_sentence(therapist_api, therapist, cleared_patient, draft):
    diagnose(cleared_patient, therapist, "M81.0")
    refused = therapist_api.post(url(draft("knees-to-chest", "seated-thoracic-rotation"), "activate"), {})
    detail = refused.json()["detail"]
    assert ".;" not in detail and ".." not in detail
    first, second = (f["message"].removesuffix(".") for f in refused.json()["findings"])
    assert detail == f"The safety gate refused this plan: {first}; {second}."


def test_dry_run_names_a_clearance_that_starts_later(therapist_api, cleared_patient):
    clearance = cleared_patient.clearances.get()
    starts = cleared_patient.local_today() + dt.timedelta(days=4)
    clearance.valid_from, clearance.professional_name = starts, "Dr Reyes"
    clearance.save()
    body = therapist_api.post(CHECK, {"patient": cleared_patient.pk, "items": [{"stretch": "pelvic-tilt"}]}).json()
    [finding] = body["findings"]
    assert (finding["code"], finding["cause"]) == ("clearance_not_yet_valid", f"clearance:{clearance.pk}")
    assert f"the clearance by Dr Reyes (physician) starts on {starts.isoformat()}" in finding["message"]


def test_dry_run_assumes_the_risky_approach_when_it_is_not_recorded(therapist_api, therapist, cleared_patient):
    diagnose(cleared_patient, therapist, "Z96.641", phase="", onset_date=cleared_patient.local_today())
    body = therapist_api.post(CHECK, {"patient": cleared_patient.pk, "items": [{"stretch": "knees-to-chest"}]}).json()
    [finding] = body["findings"]
    assert finding["code"] == "contraindicated"
    assert "surgical approach not recorded — posterior-approach precautions applied" in finding["message"]


def test_dry_run_sees_the_clinics_own_contraindications(as_user, therapist, clinic_admin, cleared_patient):
    diagnose(cleared_patient, therapist, "M54.50")
    before = as_user(therapist).post(CHECK, {"patient": cleared_patient.pk, "items": [{"stretch": "bridge"}]})
    assert before.json()["passed"] is True
    added = as_user(clinic_admin).post(
        "/api/v1/catalog/contraindications/",
        {"diagnosis": "M54.50", "stretch": "bridge", "severity": "relative", "rationale": "Our protocol."},
    )
    assert added.status_code == 201
    after = as_user(therapist).post(CHECK, {"patient": cleared_patient.pk, "items": [{"stretch": "bridge"}]}).json()
    cause = f"contraindication:{added.json()['id']}"
    assert [(f["code"], f["cause"]) for f in after["findings"]] == [("caution", cause)]


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"items": []}, {"items"}),
        ({"items": [{"stretch": "nope"}]}, {"items[0].stretch"}),
        ({"on_date": "someday"}, {"on_date"}),
        ({"patient": None}, {"patient"}),
    ],
)
def test_dry_run_bad_input(therapist_api, cleared_patient, change, fields):
    payload = {"patient": cleared_patient.pk, "items": [{"stretch": "pelvic-tilt"}], **change}
    response = therapist_api.post(CHECK, payload)
    assert response.status_code == 400
    assert set(response.json()["errors"]) == fields


def test_dry_run_role_matrix(as_user, front_desk, clinic_admin, other_therapist, cleared_patient):
    payload = {"patient": cleared_patient.pk, "items": [{"stretch": "pelvic-tilt"}]}
    assert as_user(front_desk).post(CHECK, payload).status_code == 403
    assert as_user(clinic_admin).post(CHECK, payload).status_code == 403
    # Another clinic's patient is not theirs to name: a 400 on the field, as for an episode.
    response = as_user(other_therapist).post(CHECK, payload)
    assert response.status_code == 400 and set(response.json()["errors"]) == {"patient"}


def test_stretch_kinds_are_checked_by_the_service(therapist_api, cleared_patient):
    static = Stretch.objects.get(clinic=None, slug="knees-to-chest")
    assert static.kind == Stretch.Kind.STATIC
    response = therapist_api.post(
        LIST, {**body_for(cleared_patient), "items": [{"stretch": "knees-to-chest", "hold_seconds": None}]}
    )
    assert response.status_code == 400 and "static stretch" in response.json()["errors"]["items"][0]
