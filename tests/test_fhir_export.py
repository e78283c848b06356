"""The FHIR R4 export of a patient (issue 19): every bundle valid for fhir.resources' R4B models and our own checks,
the demo patients' bundles, stable ids, the mapping of each kind of row, ``?since=``, a constant number of queries,
scoping and the access log, the content type and the OpenAPI schema."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle

from clinic.models import Diagnosis, MovementTag, Stretch
from patients.models import AccessLog, ClearanceRestriction, Patient, PatientDiagnosis
from prescriptions.demo import ODI_SECTIONS, load_demo
from prescriptions.fhir import codes
from prescriptions.fhir.checks import bundle_problems
from prescriptions.fhir.mapping import bundle
from prescriptions.models import GateEvaluation, GateOverride, MeasureDue, MeasureResponse, Prescription, SafetyFlag
from prescriptions.selectors.fhir import fhir_rows
from prescriptions.services.flagging import flag_raise
from prescriptions.services.measures import measure_respond, measures_schedule
from tests import factories

FHIR_JSON = "application/fhir+json"


def assert_valid(body: dict) -> None:
    """The bundle parses as an R4B Bundle (structure and types) and our checks find nothing wrong with it."""
    Bundle.model_validate(body)
    assert bundle_problems(body) == []


def url(patient) -> str:
    return f"/api/v1/patients/{patient.pk}/fhir"


def export(client, patient, **query) -> dict:
    """The patient's export through the API, checked valid."""
    response = client.get(url(patient), query)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == FHIR_JSON
    body = response.json()
    assert_valid(body)
    return body


def resources(body: dict, kind: str | None = None) -> list[dict]:
    return [e["resource"] for e in body.get("entry", []) if kind is None or e["resource"]["resourceType"] == kind]


def counts(body: dict) -> dict[str, int]:
    return dict(Counter(r["resourceType"] for r in resources(body)))


def ref(resource: dict) -> str:
    return f"urn:uuid:{resource['id']}"


def codes_of(concept: dict, system: str) -> list[str]:
    return [c["code"] for c in concept.get("coding", []) if c["system"] == system]


def one(body: dict, kind: str, **match) -> dict:
    """The one resource of ``kind`` whose code (or any element given) matches."""
    found = [r for r in resources(body, kind) if all(r.get(k) == v for k, v in match.items())]
    assert len(found) == 1, found
    return found[0]


def finding(item, code: str = "contraindicated", cause: str = "contraindication:1", **extra) -> dict:
    return {
        "code": code,
        "severity": "block",
        "overridable": True,
        "item": item.pk,
        "item_index": 0,
        "stretch": item.stretch.slug,
        "cause": cause,
        "message": f"{item.stretch.name} is contraindicated.",
        "covered": False,
        **extra,
    }


def evaluate(plan, spans: list[list[dict]], *, passed: bool = False, at: dt.datetime | None = None):
    """A stored gate evaluation of ``plan`` with one span per list of findings."""
    at = at or timezone.now()
    today = plan.patient.local_today()
    return GateEvaluation.objects.create(
        prescription=plan,
        purpose=GateEvaluation.Purpose.SWEEP,
        evaluated_at=at,
        on_date=today,
        through_date=today,
        passed=passed,
        facts={},
        findings=[
            {"from": (today + dt.timedelta(days=7 * n)).isoformat(), "until": None, "findings": found}
            for n, found in enumerate(spans)
        ],
        catalog_version="test",
    )


def plan_for(patient, therapist, **kwargs) -> Prescription:
    episode = kwargs.pop("episode", None) or factories.EpisodeFactory(patient=patient, primary_therapist=therapist)
    return factories.PrescriptionFactory(episode=episode, therapist=therapist, **kwargs)


def log_for(plan, days: int = 0, **kwargs):
    session = factories.SessionFactory(
        prescription=plan, local_date=plan.start_date + dt.timedelta(days=days), status="completed"
    )
    return factories.SessionLogFactory(session=session, logged_by=plan.therapist, **kwargs)


def responded(episode, therapist, code: str, answers: dict, *, day: int = 0, at: dt.datetime | None = None):
    """The episode's ``code`` measure due ``day`` days after it opened, answered in the clinic at ``at``."""
    measures_schedule(episode=episode, today=episode.opened_on + dt.timedelta(days=day))
    due = MeasureDue.objects.get(
        episode=episode, instrument__code=code, due_on=episode.opened_on + dt.timedelta(days=day)
    )
    return measure_respond(due=due, answers=answers, by=therapist, via=MeasureResponse.Via.CLINIC, now=at)


@pytest.fixture
def client(as_user, therapist):
    return as_user(therapist)


# --- The demo clinic ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_demo_patient_exports_a_valid_bundle(as_user):
    load_demo()
    client = as_user(get_user_model().objects.get(username="therapist"))
    bodies = {patient.mrn: export(client, patient) for patient in Patient.objects.order_by("mrn")}
    assert len(bodies) == 6
    for mrn, body in bodies.items():
        print(mrn, sorted(counts(body).items()))

    maria = bodies["DEMO-001"]
    # Maria: her therapist (the clearing physician restricted nothing, so is no one's author), her two diagnoses,
    # the template's plan with its 5 items, the gate's knees-to-chest contraindication (refused, then overridden:
    # one distinct finding), her e-mail consent (SMS never asked).
    assert counts(maria) == {
        "Patient": 1,
        "Practitioner": 1,
        "Condition": 2,
        "CarePlan": 1,
        "ServiceRequest": 5,
        "DetectedIssue": 1,
        "Consent": 1,
    }
    [issue] = resources(maria, "DetectedIssue")
    assert codes_of(issue["code"], codes.GATE_FINDING) == ["contraindicated"]
    assert "surgeon agreed by phone" in issue["mitigation"][0]["action"]["text"]

    james = bodies["DEMO-002"]
    scores = sorted(
        (o for o in resources(james, "Observation") if codes.ODI_SCORE[1] in codes_of(o["code"], codes.LOINC)),
        key=lambda o: o["effectiveDateTime"],
    )
    assert [o["valueQuantity"]["value"] for o in scores] == [40, 26]
    odi = scores[1]
    assert odi["valueQuantity"]["unit"] == odi["valueQuantity"]["code"] == "%"
    assert codes_of(odi["interpretation"][0], codes.INTERPRETATION) == ["B"]
    assert odi["component"][0]["valueQuantity"]["value"] == -14
    responses = resources(james, "QuestionnaireResponse")
    assert sorted(r["questionnaire"] for r in responses) == sorted(
        codes.QUESTIONNAIRE + code for code in ("odi", "odi", "psfs", "psfs", "nprs", "nprs")
    )
    assert odi["derivedFrom"][0]["reference"] in {ref(r) for r in responses}
    restriction = [f for f in resources(james, "Flag") if codes_of(f["code"], codes.MOVEMENT)]
    assert [codes_of(f["code"], codes.MOVEMENT) for f in restriction] == [["lumbar_flexion"]]


# --- Ids ----------------------------------------------------------------------------------------------------------


def test_ids_are_urn_uuids_and_the_same_on_every_export(client, patient, therapist):
    plan = plan_for(patient, therapist)
    factories.PrescriptionItemFactory(prescription=plan)
    log_for(plan)
    factories.PatientDiagnosisFactory(patient=patient, episode=plan.episode, recorded_by=therapist)
    first, second = export(client, patient), export(client, patient)
    urls = [e["fullUrl"] for e in first["entry"]]
    assert urls == [e["fullUrl"] for e in second["entry"]]
    assert [r["id"] for r in resources(first)] == [r["id"] for r in resources(second)]
    assert all(
        u.startswith("urn:uuid:") and u == f"urn:uuid:{r['id']}" for u, r in zip(urls, resources(first), strict=True)
    )
    assert len(set(urls)) == len(urls)


# --- Content --------------------------------------------------------------------------------------------------------


def test_patient_identifier_and_consented_telecom_only(client, clinic, therapist):
    patient = factories.PatientFactory(
        clinic=clinic,
        mrn="MRN-42",
        email="ann@example.test",
        email_consent=False,
        phone="+15555550123",
        sms_consent=True,
        sms_consent_at=timezone.now(),
    )
    [resource] = resources(export(client, patient), "Patient")
    [identifier] = resource["identifier"]
    assert identifier["system"] == f"urn:limber:clinic:{clinic.pk}:mrn"
    assert identifier["value"] == "MRN-42"
    assert resource["telecom"] == [{"system": "sms", "value": "+15555550123", "use": "mobile"}]
    assert resource["birthDate"] == patient.date_of_birth.isoformat()


def test_consents_given_and_withdrawn(client, clinic):
    now = timezone.now()
    given = factories.PatientFactory(clinic=clinic, email_consent=True, email_consent_at=now)
    withdrawn = factories.PatientFactory(clinic=clinic, email_consent=False, email_consent_at=now)
    never = factories.PatientFactory(clinic=clinic)

    [consent] = resources(export(client, given), "Consent")
    assert consent["provision"]["type"] == "permit"
    assert codes_of(consent["policyRule"], codes.ACT_CODE) == ["OPTIN"]
    assert codes_of(consent["provision"]["code"][0], codes.CONTACT_POINT_SYSTEM) == ["email"]
    assert [t["system"] for t in resources(export(client, given), "Patient")[0]["telecom"]] == ["email"]

    body = export(client, withdrawn)
    [consent] = resources(body, "Consent")
    assert consent["provision"]["type"] == "deny"
    # Opt-in: deny unless a provision permits (an opt-out rule would permit everything but this channel).
    assert codes_of(consent["policyRule"], codes.ACT_CODE) == ["OPTIN"]
    assert "telecom" not in resources(body, "Patient")[0]

    assert resources(export(client, never), "Consent") == []


def test_conditions_code_status_and_phase(client, patient, therapist):
    today = patient.local_today()
    active = factories.PatientDiagnosisFactory(patient=patient, recorded_by=therapist, phase="chronic")
    resolved = factories.PatientDiagnosisFactory(
        patient=patient,
        recorded_by=therapist,
        phase="acute",
        onset_date=today - dt.timedelta(days=20),
        resolved_date=today - dt.timedelta(days=2),
    )
    body = export(client, patient)
    by_id = {r["id"]: r for r in resources(body, "Condition")}
    assert len(by_id) == 2
    [current] = [r for r in by_id.values() if "abatementDateTime" not in r]
    [ended] = [r for r in by_id.values() if "abatementDateTime" in r]
    for resource, dx, status in ((current, active, "active"), (ended, resolved, "resolved")):
        assert codes_of(resource["code"], codes.ICD10CM) == [dx.diagnosis.code]
        assert codes_of(resource["clinicalStatus"], codes.CONDITION_CLINICAL) == [status]
        assert {"url": codes.CONDITION_PHASE, "valueCode": dx.phase} in resource["extension"]
        assert resource["recorder"]["reference"] in {ref(p) for p in resources(body, "Practitioner")}
    assert ended["abatementDateTime"] == resolved.resolved_date.isoformat()


@pytest.mark.parametrize(
    ("status", "fhir"),
    [("draft", "draft"), ("active", "active"), ("paused", "on-hold"), ("completed", "completed"),
     ("cancelled", "revoked")],
)  # fmt: skip
def test_care_plan_status(client, patient, therapist, status, fhir):
    plan = plan_for(patient, therapist, status=status)
    factories.PrescriptionItemFactory(prescription=plan)
    body = export(client, patient)
    assert one(body, "CarePlan")["status"] == fhir
    assert one(body, "ServiceRequest")["status"] == fhir


def test_care_plan_replaces_addresses_and_activities(client, patient, therapist):
    episode = factories.EpisodeFactory(patient=patient, primary_therapist=therapist)
    for code, of in (("M54.50", episode), ("M81.0", None), ("M51.26", factories.EpisodeFactory(patient=patient))):
        factories.PatientDiagnosisFactory(
            patient=patient, episode=of, diagnosis=Diagnosis.objects.get(code=code), recorded_by=therapist
        )
    first = plan_for(patient, therapist, episode=episode, status="completed")
    factories.PrescriptionItemFactory(prescription=first)
    amended = factories.PrescriptionFactory(episode=episode, therapist=therapist, supersedes=first)
    items = [factories.PrescriptionItemFactory(prescription=amended) for _ in range(2)]
    assert (amended.version, amended.first_version) == (2, first)

    body = export(client, patient)
    plans = {r["title"]: r for r in resources(body, "CarePlan")}
    v1, v2 = plans["Stretch plan, version 1"], plans["Stretch plan, version 2"]
    assert "replaces" not in v1
    assert [r["reference"] for r in v2["replaces"]] == [ref(v1)]
    # Its episode's diagnosis and the one recorded outside any episode, not another episode's.
    conditions = {ref(r): codes_of(r["code"], codes.ICD10CM)[0] for r in resources(body, "Condition")}
    assert sorted(conditions.values()) == ["M51.26", "M54.50", "M81.0"]
    for plan in (v1, v2):
        assert sorted(conditions[r["reference"]] for r in plan["addresses"]) == ["M54.50", "M81.0"]
    requests = {ref(r): r for r in resources(body, "ServiceRequest")}
    assert len(requests) == 3
    activity = [a["reference"]["reference"] for a in v2["activity"]]
    assert len(activity) == len(items) and set(activity) <= set(requests)
    assert all(requests[a]["basedOn"] == [{"reference": ref(v2), "type": "CarePlan"}] for a in activity)


def test_service_request_code_and_timing_in_the_patients_zone(client, clinic, therapist):
    patient = factories.PatientFactory(clinic=clinic, timezone="Europe/Berlin")
    plan = plan_for(patient, therapist, days_of_week=[5, 1, 3], times=[dt.time(18, 30), dt.time(8, 0)])
    factories.PrescriptionItemFactory(prescription=plan, stretch=Stretch.objects.get(slug="pelvic-tilt", clinic=None))
    body = export(client, patient)
    request = one(body, "ServiceRequest")
    assert codes_of(request["code"], codes.SNOMED) == ["229065009"]
    timing = request["occurrenceTiming"]
    assert timing["repeat"]["dayOfWeek"] == ["mon", "wed", "fri"]
    assert timing["repeat"]["timeOfDay"] == ["08:00:00", "18:30:00"]
    zone = {"extension": [{"url": codes.TIMEZONE, "valueCode": "Europe/Berlin"}]}
    assert timing["repeat"]["_timeOfDay"] == [zone, zone]  # each local time's zone
    assert request["basedOn"][0]["reference"] == ref(one(body, "CarePlan"))
    assert "Europe/Berlin" in request["patientInstruction"]


def test_a_session_log_is_one_pain_observation_with_the_pain_before_as_a_component(client, patient, therapist):
    plan = plan_for(patient, therapist)
    factories.PrescriptionItemFactory(prescription=plan)
    log = log_for(plan, pain_before=6, pain_after=3, note="Felt looser.")
    body = export(client, patient)
    pain = one(body, "Observation")
    assert codes_of(pain["code"], codes.LOINC) == ["72514-3"]
    assert codes_of(pain["code"], codes.SESSION_PAIN) == ["after"]
    assert pain["valueInteger"] == 3
    assert pain["effectiveDateTime"] == log.logged_at.isoformat()
    [before] = pain["component"]
    # A component may not repeat the Observation's code (obs-7): ours alone says "before".
    assert codes_of(before["code"], codes.SESSION_PAIN) == ["before"]
    assert codes_of(before["code"], codes.LOINC) == []
    assert before["valueInteger"] == 6
    assert pain["note"] == [{"text": "Felt looser."}]
    assert pain["basedOn"][0]["reference"] == ref(one(body, "CarePlan"))


# --- Gate findings ------------------------------------------------------------------------------------------------


def test_a_finding_repeated_by_two_evaluations_is_one_detected_issue(client, patient, therapist):
    plan = plan_for(patient, therapist)
    item = factories.PrescriptionItemFactory(prescription=plan)
    earlier = timezone.now() - dt.timedelta(days=2)
    evaluate(plan, [[finding(item, message="Old wording.")]], at=earlier)
    evaluate(plan, [[finding(item, message="New wording.", severity="warn")]])
    body = export(client, patient)
    [issue] = resources(body, "DetectedIssue")
    assert codes_of(issue["code"], codes.GATE_FINDING) == ["contraindicated"]
    assert issue["implicated"][0]["reference"] == ref(one(body, "ServiceRequest"))
    assert issue["detail"] == "New wording."  # the latest evaluation's
    assert issue["severity"] == "moderate"
    assert dt.datetime.fromisoformat(issue["identifiedDateTime"]) == earlier  # the first
    assert "mitigation" not in issue


def test_distinct_causes_are_distinct_detected_issues(client, patient, therapist):
    plan = plan_for(patient, therapist)
    item = factories.PrescriptionItemFactory(prescription=plan)
    evaluate(plan, [[finding(item, cause="contraindication:1"), finding(item, cause="contraindication:2")]])
    evaluate(plan, [[finding(item, cause="contraindication:1")]])
    assert len(resources(export(client, patient), "DetectedIssue")) == 2


def test_an_overridden_finding_has_its_mitigation(client, patient, therapist):
    plan = plan_for(patient, therapist)
    item = factories.PrescriptionItemFactory(prescription=plan)
    waiver = factories.GateOverrideFactory(
        item=item,
        kind=GateOverride.Kind.OVERRIDE,
        code="contraindicated",
        cause="contraindication:7",
        reason="Pain-free range only.",
        by=therapist,
    )
    evaluate(plan, [[finding(item, cause="contraindication:7")]], passed=False)
    evaluate(plan, [[finding(item, cause="contraindication:7", covered=True)]], passed=True)
    body = export(client, patient)
    [issue] = resources(body, "DetectedIssue")
    [mitigation] = issue["mitigation"]
    assert codes_of(mitigation["action"], codes.WAIVER) == ["override"]
    assert "Pain-free range only." in mitigation["action"]["text"]
    [author] = [p for p in resources(body, "Practitioner") if ref(p) == mitigation["author"]["reference"]]
    assert author["name"][0]["text"] == (therapist.get_full_name() or therapist.username)
    assert dt.datetime.fromisoformat(mitigation["date"]) == waiver.at


def test_an_uncovered_finding_in_a_later_span_of_a_passed_evaluation_is_not_exported(client, patient, therapist):
    plan = plan_for(patient, therapist)
    item = factories.PrescriptionItemFactory(prescription=plan)
    evaluate(plan, [[], [finding(item, code="clearance_expired", cause="clearance:1")]], passed=True)
    # Nor one in a later span of a refusal: only the first span's findings refused.
    evaluate(plan, [[finding(item)], [finding(item, code="clearance_expired", cause="clearance:2")]])
    [issue] = resources(export(client, patient), "DetectedIssue")
    assert codes_of(issue["code"], codes.GATE_FINDING) == ["contraindicated"]


# --- Flags ----------------------------------------------------------------------------------------------------------


def restricted(patient, *slugs: str, **kwargs):
    if kwargs.get("revoked_at"):
        kwargs.update(revoked_by=factories.UserFactory(), revoke_reason="Recorded against the wrong patient.")
    clearance = factories.ClearanceFactory(patient=patient, status="restricted", **kwargs)
    for slug in slugs:
        ClearanceRestriction.objects.create(clearance=clearance, tag=MovementTag.objects.get(slug=slug))
    return clearance


def test_restriction_flags_only_for_the_clearance_in_force(client, patient):
    today = patient.local_today()
    now = timezone.now()
    restricted(
        patient,
        "kneeling",
        valid_from=today - dt.timedelta(days=100),
        valid_until=today - dt.timedelta(days=10),
        recorded_at=now - dt.timedelta(days=100),
    )
    restricted(
        patient,
        "spinal_rotation",
        recorded_at=now - dt.timedelta(days=5),
        revoked_at=now - dt.timedelta(days=1),
        professional_name="Dr. Revoked",
    )
    restricted(patient, "lumbar_flexion", recorded_at=now - dt.timedelta(days=20), professional_name="Dr. Sam Ito")
    body = export(client, patient)
    [flag] = resources(body, "Flag")
    assert flag["status"] == "active"
    assert codes_of(flag["code"], codes.MOVEMENT) == ["lumbar_flexion"]
    [author] = resources(body, "Practitioner")
    assert flag["author"]["reference"] == ref(author)
    assert author["name"] == [{"text": "Dr. Sam Ito"}]
    assert codes_of(author["qualification"][0]["code"], codes.PROFESSION) == ["physician"]


def test_safety_flags_open_active_and_resolved_absent(client, patient):
    factories.SafetyFlagFactory(patient=patient, severity="urgent", summary="Open one.")
    factories.SafetyFlagFactory(patient=patient, resolved=True, summary="Resolved one.")
    body = export(client, patient)
    [flag] = resources(body, "Flag")
    assert flag["status"] == "active"
    assert flag["code"]["text"] == "Open one."
    assert codes_of(flag["code"], codes.SAFETY_FLAG) == ["contraindication"]
    [priority] = flag["extension"]
    assert priority["url"] == codes.FLAG_PRIORITY_EXTENSION
    assert codes_of(priority["valueCodeableConcept"], codes.FLAG_PRIORITY) == ["PH"]


# --- ?since= --------------------------------------------------------------------------------------------------------


def aged(patient, plan, when: dt.datetime) -> None:
    """Make every row of the patient's record look last changed at ``when``."""
    Patient.objects.filter(pk=patient.pk).update(updated_at=when)
    PatientDiagnosis.objects.filter(patient=patient).update(updated_at=when, created_at=when)
    Prescription.objects.filter(pk=plan.pk).update(updated_at=when, created_at=when, activated_at=when)


def test_since_keeps_what_changed_and_everything_it_references(client, patient, therapist):
    long_ago = timezone.now() - dt.timedelta(days=20)
    episode = factories.measured_episode(patient, therapist, "nprs")
    factories.PatientDiagnosisFactory(patient=patient, episode=episode, recorded_by=therapist)
    plan = plan_for(patient, therapist, episode=episode, status="active")
    factories.PrescriptionItemFactory(prescription=plan)
    log_for(plan, logged_at=long_ago)
    responded(episode, therapist, "nprs", {"pain": 5}, at=long_ago)
    aged(patient, plan, long_ago)
    recent = log_for(plan, days=1, pain_before=4, pain_after=1)
    since = timezone.now() - dt.timedelta(days=1)

    full = export(client, patient)
    assert counts(full)["Observation"] == 3 and counts(full)["QuestionnaireResponse"] == 1  # 2 sessions, 1 score
    body = export(client, patient, since=since.isoformat())
    assert counts(body) == {
        "Patient": 1,
        "Practitioner": 1,
        "Condition": 1,
        "CarePlan": 1,
        "ServiceRequest": 1,
        "Observation": 1,
    }
    assert {o["effectiveDateTime"] for o in resources(body, "Observation")} == {recent.logged_at.isoformat()}
    assert resources(body, "QuestionnaireResponse") == []
    # The same resources as in the full export, under the same ids.
    assert {ref(r) for r in resources(body)} <= {ref(r) for r in resources(full)}


def test_since_in_the_far_future_is_a_bundle_without_entries(client, patient, therapist):
    plan = plan_for(patient, therapist)
    factories.PrescriptionItemFactory(prescription=plan)
    body = export(client, patient, since="2999-01-01T00:00:00Z")
    assert "entry" not in body
    assert (body["resourceType"], body["type"]) == ("Bundle", "collection")


def test_since_before_a_flag_was_resolved_tells_it_ended(client, patient):
    long_ago = timezone.now() - dt.timedelta(days=20)
    flag = factories.SafetyFlagFactory(patient=patient, resolved=True, detected_at=long_ago)
    Patient.objects.filter(pk=patient.pk).update(updated_at=long_ago)
    assert resources(export(client, patient), "Flag") == []
    body = export(client, patient, since=(flag.resolved_at - dt.timedelta(hours=1)).isoformat())
    [ended] = resources(body, "Flag")
    assert ended["status"] == "inactive"
    assert dt.datetime.fromisoformat(ended["period"]["end"]) == flag.resolved_at
    assert counts(body) == {"Patient": 1, "Flag": 1}


def test_since_after_a_clearance_was_revoked_tells_its_restrictions_ended(client, patient):
    now = timezone.now()
    restricted(patient, "kneeling", recorded_at=now - dt.timedelta(days=5), revoked_at=now - dt.timedelta(hours=2))
    assert resources(export(client, patient), "Flag") == []
    body = export(client, patient, since=(now - dt.timedelta(hours=3)).isoformat())
    [ended] = resources(body, "Flag")
    assert ended["status"] == "inactive"
    assert codes_of(ended["code"], codes.MOVEMENT) == ["kneeling"]


# What ends without its row changing: each status below flips with the calendar or another row, and the export's
# change time follows (an export since before it tells the receiver it ended).


def test_since_after_a_later_clearance_ends_the_earlier_ones_restrictions(client, patient):
    now = timezone.now()
    restricted(patient, "kneeling", recorded_at=now - dt.timedelta(days=5))
    Patient.objects.filter(pk=patient.pk).update(updated_at=now - dt.timedelta(days=5))
    assert resources(export(client, patient), "Flag")[0]["status"] == "active"
    factories.ClearanceFactory(patient=patient, recorded_at=now - dt.timedelta(hours=1))  # restricts nothing
    assert resources(export(client, patient), "Flag") == []
    body = export(client, patient, since=(now - dt.timedelta(hours=2)).isoformat())
    assert [f["status"] for f in resources(body, "Flag")] == ["inactive"]


def later_export(patient, days: int, since_days: int) -> dict:
    """The export ``days`` from now of what changed since ``since_days`` from now (mapping over fhir_rows)."""
    now = timezone.now()
    later = now + dt.timedelta(days=days)
    body = bundle(fhir_rows(patient, now=later), now=later, since=now + dt.timedelta(days=since_days))
    assert_valid(body)
    return body


def test_since_after_a_clearance_expired_tells_its_restrictions_ended(patient):
    today = patient.local_today()
    restricted(patient, "kneeling", valid_until=today + dt.timedelta(days=3))
    assert [f["status"] for f in resources(later_export(patient, 0, -1), "Flag")] == ["active"]
    assert [f["status"] for f in resources(later_export(patient, 6, 1), "Flag")] == ["inactive"]


def test_since_after_a_diagnosis_resolved_tells_it(patient, therapist):
    today = patient.local_today()
    factories.PatientDiagnosisFactory(
        patient=patient, recorded_by=therapist, resolved_date=today + dt.timedelta(days=3)
    )
    conditions = resources(later_export(patient, 6, 1), "Condition")
    assert [codes_of(c["clinicalStatus"], codes.CONDITION_CLINICAL) for c in conditions] == [["resolved"]]


def test_since_is_inclusive_and_without_an_offset_is_utc(client, patient, therapist):
    long_ago = timezone.now() - dt.timedelta(days=20)
    plan = plan_for(patient, therapist)
    factories.PrescriptionItemFactory(prescription=plan)
    aged(patient, plan, long_ago)
    log = log_for(plan)
    naive = log.logged_at.astimezone(dt.UTC).replace(tzinfo=None).isoformat()
    assert counts(export(client, patient, since=naive))["Observation"] == 1
    later = (log.logged_at + dt.timedelta(microseconds=1)).isoformat()
    assert "entry" not in export(client, patient, since=later)


def test_an_invalid_since_is_400_and_not_logged(client, patient):
    response = client.get(url(patient), {"since": "yesterday"})
    assert response.status_code == 400
    assert "since" in response.json()["errors"]
    assert exports_logged(patient) == 0


# --- Queries --------------------------------------------------------------------------------------------------------


def small_record(patient, therapist):
    plan = plan_for(patient, therapist, status="active")
    item = factories.PrescriptionItemFactory(prescription=plan)
    log_for(plan)
    evaluate(plan, [[finding(item)]])
    factories.PatientDiagnosisFactory(patient=patient, episode=plan.episode, recorded_by=therapist)
    # A clearance, as the large record has: clearances_of reads the restrictions only when one is on record.
    factories.ClearanceFactory(patient=patient)


def large_record(patient, therapist):
    episode = factories.measured_episode(patient, therapist, "nprs", "odi")
    for _ in range(3):
        factories.PatientDiagnosisFactory(patient=patient, episode=episode, recorded_by=factories.UserFactory())
    previous = None
    for version in range(3):
        status = "active" if version == 2 else "completed"
        plan = factories.PrescriptionFactory(
            episode=episode, therapist=factories.UserFactory(), supersedes=previous, status=status
        )
        items = [
            factories.PrescriptionItemFactory(prescription=plan, progress_every_weeks=2, progress_reps=1)
            for _ in range(5)
        ]
        for n, item in enumerate(items[:2]):
            factories.GateOverrideFactory(
                item=item, code="contraindicated", cause=f"contraindication:{n}", kind="override", by=plan.therapist
            )
        for n in range(4):
            found = [finding(item, cause=f"contraindication:{n % 3}") for item in items[:3]]
            evaluate(plan, [found, [finding(items[4], code="caution", severity="warn")]], passed=bool(n % 2))
        previous = plan
    for day in range(20):
        log_for(plan, days=day)
    for day, at in ((0, timezone.now() - dt.timedelta(days=30)), (14, timezone.now() - dt.timedelta(days=16))):
        responded(episode, therapist, "nprs", {"pain": 6 - day // 7}, day=day, at=at)
        responded(episode, therapist, "odi", dict.fromkeys(ODI_SECTIONS, 2 - day // 7), day=day, at=at)
    for _ in range(3):
        factories.SafetyFlagFactory(patient=patient)
    factories.SafetyFlagFactory(patient=patient, resolved=True)
    restricted(patient, "kneeling", "lumbar_flexion")


def test_the_number_of_queries_does_not_grow_with_the_record(client, clinic, therapist, count_queries):
    small, large = factories.PatientFactory(clinic=clinic), factories.PatientFactory(clinic=clinic)
    small_record(small, therapist)
    large_record(large, therapist)
    export(client, small)
    large_body = export(client, large)
    print("large export:", sorted(counts(large_body).items()))
    assert counts(large_body)["DetectedIssue"] > 3
    assert counts(large_body)["QuestionnaireResponse"] == 4
    assert counts(large_body)["Observation"] == 24  # 20 logged sessions and 4 scores
    assert all(
        r["note"][0]["text"].startswith("Dose progression: every 2 weeks")
        for r in resources(large_body, "ServiceRequest")
    )

    api_small = count_queries(lambda: client.get(url(small)))
    api_large = count_queries(lambda: client.get(url(large)))
    assert api_small == api_large <= 20
    rows_small = count_queries(lambda: fhir_rows(Patient.objects.get(pk=small.pk)))
    rows_large = count_queries(lambda: fhir_rows(Patient.objects.get(pk=large.pk)))
    assert rows_small == rows_large


# --- Scoping, the access log, the content type, the schema ----------------------------------------------------------


def exports_logged(patient) -> int:
    return AccessLog.objects.filter(patient=patient, what="api:patient-fhir").count()


@pytest.mark.parametrize("role", ["therapist", "clinic_admin"])
def test_therapists_and_clinic_admins_export_and_the_read_is_logged(request, as_user, patient, role):
    user = request.getfixturevalue(role)
    export(as_user(user), patient)
    assert list(AccessLog.objects.filter(what="api:patient-fhir").values_list("actor_id", "patient_id")) == [
        (user.pk, patient.pk)
    ]


@pytest.mark.parametrize(("role", "status"), [("front_desk", 403), ("portal_user", 403), ("other_therapist", 404)])
def test_others_may_not_export_and_nothing_is_logged(request, as_user, patient, role, status):
    response = as_user(request.getfixturevalue(role)).get(url(patient))
    assert response.status_code == status
    assert exports_logged(patient) == 0


def test_an_unknown_patient_is_404_like_another_clinics(client, other_clinic):
    stranger = factories.PatientFactory(clinic=other_clinic)
    assert client.get(url(stranger)).status_code == 404
    assert client.get("/api/v1/patients/999999999/fhir").status_code == 404
    assert exports_logged(stranger) == 0


def test_anonymous_is_refused(api, patient):
    assert api.get(url(patient)).status_code in (401, 403)


def test_always_fhir_json_whatever_the_client_accepts(client, patient):
    response = client.get(url(patient), HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response["Content-Type"] == FHIR_JSON
    assert_valid(response.json())


def test_the_openapi_schema_describes_the_export(api):
    response = api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    operation = schema["paths"]["/api/v1/patients/{patient_id}/fhir"]["get"]
    assert "since" in {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    assert FHIR_JSON in operation["responses"]["200"]["content"]


# --- Change times that the review added (issue 19) -----------------------------------------------------------------


def test_a_replaced_clearances_restriction_ends_the_day_the_next_took_over(patient):
    today = patient.local_today()
    now = timezone.now()
    restricted(patient, "kneeling", valid_from=today - dt.timedelta(days=30), recorded_at=now - dt.timedelta(days=30))
    factories.ClearanceFactory(patient=patient, valid_from=today, recorded_at=now - dt.timedelta(days=2))
    body = later_export(patient, 0, -1)
    [ended] = resources(body, "Flag")
    assert ended["status"] == "inactive"
    assert ended["period"]["end"] == today.isoformat()  # not the planned valid_until


def test_a_clearance_not_yet_valid_is_told_on_its_first_day(patient):
    today = patient.local_today()
    restricted(patient, "kneeling", valid_from=today + dt.timedelta(days=3), recorded_at=timezone.now())
    assert resources(later_export(patient, 0, -1), "Flag") == []  # recorded, but not yet in force
    [started] = resources(later_export(patient, 4, 2), "Flag")  # since before its first day: told then
    assert started["status"] == "active"


def test_a_flag_escalated_since_is_told(client, patient):
    long_ago = timezone.now() - dt.timedelta(days=20)
    flag = factories.SafetyFlagFactory(patient=patient, severity="warning", detected_at=long_ago)
    SafetyFlag.objects.filter(pk=flag.pk).update(updated_at=long_ago)
    Patient.objects.filter(pk=patient.pk).update(updated_at=long_ago)
    since = (timezone.now() - dt.timedelta(hours=1)).isoformat()
    assert "entry" not in export(client, patient, since=since)
    flag_raise(
        patient=patient, kind=flag.kind, cause_key=flag.cause_key, severity="urgent", summary="Worse now.", details={}
    )
    [told] = resources(export(client, patient, since=since), "Flag")
    assert told["code"]["text"] == "Worse now."
    assert codes_of(told["extension"][0]["valueCodeableConcept"], codes.FLAG_PRIORITY) == ["PH"]


def test_a_finding_reworded_since_is_told(client, patient, therapist):
    long_ago = timezone.now() - dt.timedelta(days=20)
    plan = plan_for(patient, therapist)
    item = factories.PrescriptionItemFactory(prescription=plan)
    aged(patient, plan, long_ago)
    evaluate(plan, [[finding(item)]], at=long_ago)
    since = (timezone.now() - dt.timedelta(hours=1)).isoformat()
    evaluate(plan, [[finding(item)]])  # the same words again: nothing new to tell
    assert resources(export(client, patient, since=since), "DetectedIssue") == []
    evaluate(plan, [[finding(item, message="Reworded after a catalog review.")]])
    [issue] = resources(export(client, patient, since=since), "DetectedIssue")
    assert issue["detail"] == "Reworded after a catalog review."
    assert dt.datetime.fromisoformat(issue["identifiedDateTime"]) == long_ago  # first identified: unchanged
    # Back to the first words: a change again, though those words were told before.
    between = timezone.now().isoformat()
    evaluate(plan, [[finding(item)]])
    [issue] = resources(export(client, patient, since=between), "DetectedIssue")
    assert issue["detail"] == f"{item.stretch.name} is contraindicated."


def test_an_ended_plans_period_ends_the_day_it_ended(client, patient, therapist):
    ended_at = timezone.now() - dt.timedelta(days=2)
    plan_for(
        patient,
        therapist,
        status="completed",
        start_date=patient.local_today() - dt.timedelta(days=30),
        end_date=patient.local_today() + dt.timedelta(days=30),
        ended_at=ended_at,
    )
    [plan] = resources(export(client, patient), "CarePlan")
    assert plan["status"] == "completed"
    assert plan["period"]["end"] == ended_at.astimezone(patient.zone).date().isoformat()


def test_clearing_professionals_of_two_clinics_are_two_practitioners(client, patient, other_clinic):
    other = factories.PatientFactory(clinic=other_clinic)
    mine = restricted(patient, "kneeling", professional_name="Dr. Smith", profession="physician")
    theirs = restricted(other, "kneeling", professional_name="Dr. Smith", profession="physician")
    now = timezone.now()
    ours = bundle(fhir_rows(patient, now=now), now=now)
    others = bundle(fhir_rows(other, now=now), now=now)
    assert mine.professional_name == theirs.professional_name
    assert {ref(p) for p in resources(ours, "Practitioner")}.isdisjoint(
        ref(p) for p in resources(others, "Practitioner")
    )
