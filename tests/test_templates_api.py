"""Protocol templates through the API (issue 17, part 1): the catalog of templates (global read-only plus the
clinic's own; therapists and clinic admins, the desk refused), a draft plan from a template with the gate's dry
run, and the suggestions for a patient's episode from one batched gate evaluation with constant queries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied

from clinic import services as clinic_services
from clinic.models import Diagnosis, ProtocolTemplate, Stretch
from patients.models import AccessLog
from prescriptions.models import Prescription
from prescriptions.services.templates import prescription_from_template
from tests import factories

TEMPLATES = "/api/v1/catalog/templates/"
FROM_TEMPLATE = "/api/v1/prescriptions/from-template"


def template_with(clinic, *slugs: str, **fields) -> ProtocolTemplate:
    """A template of ``clinic`` (None: global) with the global stretches ``slugs`` in order (static ones a 20 s
    hold)."""
    template = factories.ProtocolTemplateFactory(clinic=clinic, **fields)
    for order, slug in enumerate(slugs or ("pelvic-tilt",), start=1):
        factories.ProtocolTemplateItemFactory(
            template=template, order=order, stretch=Stretch.objects.get(clinic=None, slug=slug), hold_seconds=20, reps=3
        )
    return template


def diagnose(patient, therapist, code, **fields):
    return factories.PatientDiagnosisFactory(
        patient=patient, diagnosis=Diagnosis.objects.get(code=code), recorded_by=therapist, **fields
    )


def ids(response) -> set[int]:
    return {row["id"] for row in response.json()["results"]}


def suggestions_url(patient, episode) -> str:
    return f"/api/v1/patients/{patient.pk}/episodes/{episode.pk}/template-suggestions"


NEW_TEMPLATE = {
    "name": "Desk worker's back",
    "description": "A short mobility routine for the working day.",
    "diagnoses": ["M54.50"],
    "phase": "chronic",
    "days_of_week": [5, 1, 3, 1],
    "times": ["18:00", "08:00"],
    "weeks": 6,
    "items": [
        {"stretch": "pelvic-tilt", "reps": 8},
        {"stretch": "knees-to-chest", "side": "none", "notes": "Slowly."},
    ],
}


# --- The catalog of templates ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["therapist", "clinic_admin"])
def test_therapists_and_clinic_admins_list_the_global_and_their_own(request, as_user, clinic, other_clinic, role):
    own = template_with(clinic)
    shared = template_with(None)
    theirs = template_with(other_clinic)
    response = as_user(request.getfixturevalue(role)).get(TEMPLATES + "?page_size=100")
    assert response.status_code == 200, response.json()
    listed = ids(response)
    assert {own.pk, shared.pk} <= listed and theirs.pk not in listed
    row = next(r for r in response.json()["results"] if r["id"] == own.pk)
    assert (row["is_global"], row["clinic"], row["version"], row["diagnoses"]) == (False, clinic.pk, 1, ["M54.50"])
    assert [(i["order"], i["stretch"]["slug"], i["hold_seconds"]) for i in row["items"]] == [(1, "pelvic-tilt", 20)]
    assert next(r for r in response.json()["results"] if r["id"] == shared.pk)["is_global"] is True


def test_the_front_desk_and_portal_users_are_refused(as_user, front_desk, portal_user, clinic, api):
    own = template_with(clinic)
    for user in (front_desk, portal_user):
        client = as_user(user)
        assert client.get(TEMPLATES).status_code == 403
        assert client.get(f"{TEMPLATES}{own.pk}/").status_code == 403
        assert client.post(TEMPLATES, NEW_TEMPLATE, format="json").status_code == 403
        assert client.patch(f"{TEMPLATES}{own.pk}/", {"name": "Mine"}, format="json").status_code == 403
    api.force_authenticate(None)
    assert api.get(TEMPLATES).status_code == 401


def test_the_list_filters_by_diagnosis_and_phase(as_user, therapist, clinic):
    back = template_with(clinic, phase="chronic")
    neck = template_with(clinic, phase="acute", diagnoses=[Diagnosis.objects.get(code="M54.2")])
    client = as_user(therapist)
    by_code = ids(client.get(TEMPLATES + "?diagnosis=M54.2&page_size=100"))
    assert neck.pk in by_code and back.pk not in by_code
    by_phase = ids(client.get(TEMPLATES + "?phase=chronic&page_size=100"))
    assert back.pk in by_phase and neck.pk not in by_phase
    assert client.get(TEMPLATES + "?phase=someday").status_code == 400


def test_a_template_reads_by_id_and_another_clinics_is_not_found(as_user, therapist, clinic, other_clinic):
    own, theirs = template_with(clinic), template_with(other_clinic)
    client = as_user(therapist)
    assert client.get(f"{TEMPLATES}{own.pk}/").json()["name"] == own.name
    assert client.get(f"{TEMPLATES}{theirs.pk}/").status_code == 404
    assert client.patch(f"{TEMPLATES}{theirs.pk}/", {"name": "Mine now"}, format="json").status_code == 404
    assert client.get(f"{TEMPLATES}999999/").status_code == 404


@pytest.mark.parametrize("role", ["therapist", "clinic_admin"])
def test_therapists_and_clinic_admins_add_their_clinics_own(request, as_user, clinic, role):
    response = as_user(request.getfixturevalue(role)).post(TEMPLATES, NEW_TEMPLATE, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["slug"], body["clinic"], body["is_global"], body["version"]) == (
        "desk-workers-back",
        clinic.pk,
        False,
        1,
    )
    assert (body["days_of_week"], body["times"], body["weeks"]) == ([1, 3, 5], ["08:00:00", "18:00:00"], 6)
    assert body["review_note"] == ""  # the seed's note is about seed content
    knees = Stretch.objects.get(clinic=None, slug="knees-to-chest")
    pelvic = Stretch.objects.get(clinic=None, slug="pelvic-tilt")
    assert [(i["stretch"]["slug"], i["hold_seconds"], i["reps"], i["sets"], i["notes"]) for i in body["items"]] == [
        ("pelvic-tilt", pelvic.default_hold_seconds, 8, pelvic.default_sets, ""),
        ("knees-to-chest", knees.default_hold_seconds, knees.default_reps, knees.default_sets, "Slowly."),
    ]


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"name": ""}, {"name"}),
        ({"diagnoses": ["NOPE"]}, {"diagnoses"}),
        ({"diagnoses": []}, {"diagnoses"}),
        ({"days_of_week": [0, 8]}, {"days_of_week[0]", "days_of_week[1]"}),
        ({"times": []}, {"times"}),
        ({"weeks": 0}, {"weeks"}),
        ({"phase": "eventually"}, {"phase"}),
        ({"items": []}, {"items"}),
        ({"items": [{"stretch": "no-such-stretch"}]}, {"items[0].stretch"}),
        ({"items": [{"stretch": "knees-to-chest", "hold_seconds": None}]}, {"items[0].hold_seconds"}),
        ({"items": [{"stretch": "pelvic-tilt", "reps": 101, "sets": 0}]}, {"items[0].reps", "items[0].sets"}),
        ({"items": [{"stretch": "pelvic-tilt"}, {"stretch": "pelvic-tilt"}]}, {"items[1]"}),
        ({"slug": "not a slug"}, {"slug"}),
    ],
)
def test_bad_input_is_a_400_naming_the_fields(as_user, therapist, change, fields):
    response = as_user(therapist).post(TEMPLATES, {**NEW_TEMPLATE, **change}, format="json")
    assert response.status_code == 400, response.json()
    assert set(response.json()["errors"]) == fields
    assert not ProtocolTemplate.objects.filter(name=NEW_TEMPLATE["name"]).exists()


def test_a_slug_is_unique_in_the_clinic_and_a_stretch_of_another_clinic_is_not_in_the_catalog(
    as_user, therapist, clinic, other_clinic
):
    client = as_user(therapist)
    assert client.post(TEMPLATES, {**NEW_TEMPLATE, "slug": "mine"}, format="json").status_code == 201
    again = client.post(TEMPLATES, {**NEW_TEMPLATE, "slug": "mine"}, format="json")
    assert again.status_code == 400 and set(again.json()["errors"]) == {"slug"}
    theirs = factories.StretchFactory(clinic=other_clinic)
    foreign = client.post(TEMPLATES, {**NEW_TEMPLATE, "items": [{"stretch": theirs.pk}]}, format="json")
    assert foreign.status_code == 400 and set(foreign.json()["errors"]) == {"items[0].stretch"}
    own = factories.StretchFactory(clinic=clinic)
    assert client.post(TEMPLATES, {**NEW_TEMPLATE, "items": [{"stretch": own.slug}]}, format="json").status_code == 201


def test_a_change_bumps_the_version_and_replaces_the_items(as_user, therapist, clinic):
    template = template_with(clinic, "pelvic-tilt", "knees-to-chest")
    client = as_user(therapist)
    response = client.patch(
        f"{TEMPLATES}{template.pk}/",
        {"name": "Renamed", "weeks": None, "items": [{"stretch": "chin-tuck", "reps": 4}]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["name"], body["weeks"], body["version"]) == ("Renamed", None, 2)
    assert [(i["order"], i["stretch"]["slug"], i["reps"]) for i in body["items"]] == [(1, "chin-tuck", 4)]
    assert client.patch(f"{TEMPLATES}{template.pk}/", {"description": "More."}, format="json").json()["version"] == 3
    refused = client.patch(f"{TEMPLATES}{template.pk}/", {"days_of_week": []}, format="json")
    assert refused.status_code == 400 and set(refused.json()["errors"]) == {"days_of_week"}
    template.refresh_from_db()
    assert template.version == 3


@pytest.mark.parametrize("role", ["therapist", "clinic_admin"])
def test_a_global_template_is_read_only_to_a_clinic(request, as_user, role):
    shared = template_with(None)
    user = request.getfixturevalue(role)
    response = as_user(user).patch(f"{TEMPLATES}{shared.pk}/", {"name": "Ours now"}, format="json")
    assert response.status_code == 403
    shared.refresh_from_db()
    assert (shared.version, shared.name) != (2, "Ours now")
    with pytest.raises(PermissionDenied):
        clinic_services.template_update(template=shared, by=user, name="Ours now")


def test_the_template_list_runs_constant_queries(as_user, therapist, clinic, count_queries):
    client = as_user(therapist)
    url = TEMPLATES + "?page_size=100"
    template_with(clinic, "pelvic-tilt", "knees-to-chest")
    small = count_queries(lambda: client.get(url))
    for _ in range(5):
        template_with(clinic, "pelvic-tilt", "knees-to-chest", "chin-tuck")
    large = count_queries(lambda: client.get(url))
    assert small == large


# --- A draft from a template -----------------------------------------------------------------------------


def test_a_therapist_drafts_a_plan_from_a_template_with_the_dry_run(as_user, therapist, cleared_patient):
    diagnose(cleared_patient, therapist, "M81.0")  # osteoporosis: no loaded lumbar flexion
    template = template_with(cleared_patient.clinic, "pelvic-tilt", "knees-to-chest", weeks=2, times=[dt.time(7, 30)])
    episode = cleared_patient.episodes.get()
    start = cleared_patient.local_today() + dt.timedelta(days=3)
    client = as_user(therapist)
    response = client.post(
        FROM_TEMPLATE, {"template": template.pk, "episode": episode.pk, "start_date": start.isoformat()}
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["template"], body["template_version"]) == ("draft", template.pk, 1)
    assert (body["episode"], body["patient"], body["therapist"]) == (episode.pk, cleared_patient.pk, therapist.pk)
    assert (body["start_date"], body["end_date"]) == (start.isoformat(), (start + dt.timedelta(days=13)).isoformat())
    assert (body["days_of_week"], body["times"]) == ([1, 3, 5], ["07:30:00"])
    assert [(i["order"], i["stretch"]["slug"], i["hold_seconds"], i["reps"]) for i in body["items"]] == [
        (1, "pelvic-tilt", 20, 3),
        (2, "knees-to-chest", 20, 3),
    ]
    check = body["safety_check"]
    assert (check["on_date"], check["passed"]) == (start.isoformat(), False)
    [finding] = check["findings"]
    assert (finding["code"], finding["stretch"], finding["item_index"]) == ("contraindicated", "knees-to-chest", 1)
    assert finding["item"] == body["items"][1]["id"]  # what an override at activation names
    # The answer shows the patient's diagnoses: a read, logged.
    assert AccessLog.objects.filter(patient=cleared_patient, what="api:prescription-from-template").exists()

    # A template bypasses nothing: activation runs the gate, and the override names the dry run's finding.
    activate = f"/api/v1/prescriptions/{body['id']}/activate"
    assert client.post(activate, {}, format="json").status_code == 409
    waiver = {k: finding[k] for k in ("item", "code", "cause")} | {"reason": "Agreed gentle range with the GP."}
    assert client.post(activate, {"overrides": [waiver]}, format="json").status_code == 200


def test_an_open_ended_template_gives_an_open_ended_draft_from_today(as_user, therapist, cleared_patient):
    template = template_with(None, "pelvic-tilt", weeks=None)
    response = as_user(therapist).post(
        FROM_TEMPLATE, {"template": template.pk, "episode": cleared_patient.episodes.get().pk}
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["start_date"], body["end_date"]) == (cleared_patient.local_today().isoformat(), None)
    assert body["safety_check"] == {"on_date": body["start_date"], "passed": True, "findings": []}


@pytest.mark.parametrize("role", ["clinic_admin", "front_desk"])
def test_only_a_therapist_drafts_from_a_template(request, as_user, cleared_patient, role):
    template = template_with(None)
    response = as_user(request.getfixturevalue(role)).post(
        FROM_TEMPLATE, {"template": template.pk, "episode": cleared_patient.episodes.get().pk}
    )
    assert response.status_code == 403
    assert not Prescription.objects.exists()


def test_another_clinics_template_or_episode_is_a_400_naming_it(
    as_user, therapist, cleared_patient, other_clinic, other_therapist
):
    theirs = template_with(other_clinic)
    mine = template_with(cleared_patient.clinic)
    episode = cleared_patient.episodes.get()
    other_episode = factories.EpisodeFactory(patient=factories.PatientFactory(clinic=other_clinic))
    client = as_user(therapist)
    for body, field in [
        ({"template": theirs.pk, "episode": episode.pk}, "template"),
        ({"template": 999999, "episode": episode.pk}, "template"),
        ({"template": mine.pk, "episode": other_episode.pk}, "episode"),
        ({"episode": episode.pk}, "template"),
        ({"template": mine.pk, "episode": episode.pk, "start_date": "1800-01-01"}, "start_date"),
    ]:
        response = client.post(FROM_TEMPLATE, body, format="json")
        assert response.status_code == 400, body
        assert set(response.json()["errors"]) == {field}
    assert not Prescription.objects.exists()
    # Nor does the service, called directly, take another clinic's template.
    with pytest.raises(Exception, match="template"):
        prescription_from_template(template=theirs, episode=episode, by=therapist)


def test_the_draft_records_the_version_it_came_from(therapist, cleared_patient):
    template = template_with(cleared_patient.clinic, "pelvic-tilt")
    clinic_services.template_update(
        template=template,
        by=therapist,
        items=[clinic_services.TemplateItemIn(stretch=Stretch.objects.get(clinic=None, slug="chin-tuck"), reps=3)],
    )
    plan = prescription_from_template(template=template, episode=cleared_patient.episodes.get(), by=therapist)
    assert (plan.template_id, plan.template_version) == (template.pk, 2)
    assert [i.stretch.slug for i in plan.items.all()] == ["chin-tuck"]


# --- Suggestions -----------------------------------------------------------------------------------------


@pytest.fixture
def suggested(therapist, cleared_patient, clinic, other_clinic):
    """The cleared patient with chronic low back pain (M54.50) and osteoporosis (M81.0), a resolved neck pain, and
    templates: which fit and which do not."""
    diagnose(cleared_patient, therapist, "M54.50", phase="chronic")
    diagnose(cleared_patient, therapist, "M81.0", phase="")
    diagnose(cleared_patient, therapist, "M54.2", resolved_date=cleared_patient.local_today())
    osteo = Diagnosis.objects.get(code="M81.0")
    return {
        "any_phase": template_with(clinic, "pelvic-tilt"),
        "chronic": template_with(None, "pelvic-tilt", "chin-tuck", phase="chronic"),
        "flexion": template_with(clinic, "pelvic-tilt", "knees-to-chest", diagnoses=[osteo], phase="acute"),
        "acute_back": template_with(clinic, phase="acute"),  # M54.50 is chronic here
        "neck": template_with(clinic, diagnoses=[Diagnosis.objects.get(code="M54.2")]),  # resolved
        "theirs": template_with(other_clinic),
    }


@pytest.mark.parametrize("role", ["therapist", "clinic_admin"])
def test_suggestions_list_the_templates_for_the_active_diagnoses_with_their_findings(
    request, as_user, cleared_patient, suggested, role
):
    response = as_user(request.getfixturevalue(role)).get(
        suggestions_url(cleared_patient, cleared_patient.episodes.get())
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["on_date"] == cleared_patient.local_today().isoformat()
    rows = {row["template"]["id"]: row for row in body["results"]}
    mine = {suggested[name].pk for name in ("any_phase", "chronic", "flexion")}
    assert mine <= set(rows)
    assert not {suggested[name].pk for name in ("acute_back", "neck", "theirs")} & set(rows)
    flexion = rows[suggested["flexion"].pk]
    assert (flexion["diagnoses"], flexion["findings"], flexion["blocking"], flexion["codes"]) == (
        ["M81.0"],
        1,
        1,
        ["contraindicated"],
    )
    assert (rows[suggested["any_phase"].pk]["findings"], rows[suggested["any_phase"].pk]["diagnoses"]) == (
        0,
        ["M54.50"],
    )
    assert rows[suggested["chronic"].pk]["template"]["is_global"] is True
    ordered = [row["template"]["id"] for row in body["results"] if row["template"]["id"] in mine]
    assert ordered[-1] == suggested["flexion"].pk  # fewest blocking findings first
    assert AccessLog.objects.filter(patient=cleared_patient, what="api:patient-episode-template-suggestions").exists()


def test_suggestions_are_refused_to_the_desk_and_another_clinics_patient_is_not_found(
    as_user, front_desk, therapist, other_therapist, cleared_patient, other_patient
):
    episode = cleared_patient.episodes.get()
    assert as_user(front_desk).get(suggestions_url(cleared_patient, episode)).status_code == 403
    assert as_user(other_therapist).get(suggestions_url(cleared_patient, episode)).status_code == 404
    # An episode of another patient under this patient's URL.
    other_episode = factories.EpisodeFactory(patient=other_patient)
    assert as_user(therapist).get(suggestions_url(cleared_patient, other_episode)).status_code == 404
    assert not AccessLog.objects.exists()


def test_suggestions_for_a_patient_without_active_diagnoses_are_empty(as_user, therapist, cleared_patient):
    template_with(cleared_patient.clinic)
    response = as_user(therapist).get(suggestions_url(cleared_patient, cleared_patient.episodes.get()))
    assert response.status_code == 200 and response.json()["results"] == []


def test_suggestions_run_constant_queries_however_many_templates(
    as_user, therapist, cleared_patient, clinic, count_queries
):
    diagnose(cleared_patient, therapist, "M54.50", phase="chronic")
    diagnose(cleared_patient, therapist, "M81.0")
    osteo = Diagnosis.objects.get(code="M81.0")
    client = as_user(therapist)
    url = suggestions_url(cleared_patient, cleared_patient.episodes.get())
    template_with(clinic, "pelvic-tilt", "knees-to-chest")

    one = count_queries(lambda: client.get(url))
    before = len(client.get(url).json()["results"])
    for index in range(5):
        targets = [osteo] if index % 2 else [osteo, Diagnosis.objects.get(code="M54.50")]
        template_with(clinic, "pelvic-tilt", "chin-tuck", "knees-to-chest", "cat-cow", diagnoses=targets)
    six = count_queries(lambda: client.get(url))
    assert len(client.get(url).json()["results"]) == before + 5
    assert one == six
