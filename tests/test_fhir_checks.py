"""Our own checks of a FHIR export (issue 19), ``bundle_problems``: a small sound bundle passes, and each way of
breaking it, one at a time, is reported. Pure: no database."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable

import pytest
from fhir.resources.R4B.bundle import Bundle

from prescriptions.fhir import codes
from prescriptions.fhir.checks import bundle_problems, references

NAMESPACE = uuid.UUID("5b0c8f6e-4f1e-5a8e-9d1c-6c1e3f2a7b90")


def uid(key: str) -> str:
    return str(uuid.uuid5(NAMESPACE, key))


PATIENT, PRACTITIONER, CONDITION, PLAN, REQUEST = (
    uid(k) for k in ("Patient/1", "Practitioner/1", "Condition/1", "CarePlan/1", "ServiceRequest/1")
)


def to(kind: str, id_: str) -> dict:
    return {"reference": f"urn:uuid:{id_}", "type": kind}


def coding(code: tuple[str, str, str]) -> dict:
    system, value, display = code
    return {"system": system, "code": value, "display": display}


def sound() -> dict:
    """A small bundle both fhir.resources and our checks accept: a patient, a therapist, a condition, a plan and
    its one stretch."""
    resources = [
        {
            "resourceType": "Patient",
            "id": PATIENT,
            "identifier": [{"system": "urn:limber:clinic:1:mrn", "value": "MRN-1"}],
            "name": [{"family": "Lopez", "given": ["Maria"]}],
            "gender": "female",
        },
        {
            "resourceType": "Practitioner",
            "id": PRACTITIONER,
            "name": [{"text": "Theo Marsh"}],
            "qualification": [{"code": {"coding": [coding((codes.PROFESSION, "physical_therapist", "PT"))]}}],
        },
        {
            "resourceType": "Condition",
            "id": CONDITION,
            "extension": [{"url": codes.CONDITION_PHASE, "valueCode": "chronic"}],
            "clinicalStatus": {"coding": [coding((codes.CONDITION_CLINICAL, "active", "Active"))]},
            "code": {"coding": [coding((codes.ICD10CM, "M54.50", "Low back pain, unspecified"))]},
            "subject": to("Patient", PATIENT),
            "recorder": to("Practitioner", PRACTITIONER),
        },
        {
            "resourceType": "CarePlan",
            "id": PLAN,
            "status": "active",
            "intent": "plan",
            "subject": to("Patient", PATIENT),
            "author": to("Practitioner", PRACTITIONER),
            "addresses": [to("Condition", CONDITION)],
            "activity": [{"reference": to("ServiceRequest", REQUEST)}],
        },
        {
            "resourceType": "ServiceRequest",
            "id": REQUEST,
            "status": "active",
            "intent": "order",
            "code": {"coding": [coding(codes.EXERCISE_THERAPY)], "text": "Pelvic tilt"},
            "subject": to("Patient", PATIENT),
            "basedOn": [to("CarePlan", PLAN)],
            "occurrenceTiming": {
                "repeat": {
                    "dayOfWeek": ["mon"],
                    "timeOfDay": ["08:00:00"],
                    "_timeOfDay": [{"extension": [{"url": codes.TIMEZONE, "valueCode": "America/New_York"}]}],
                },
            },
        },
    ]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }


def resource(body: dict, kind: str) -> dict:
    return next(e["resource"] for e in body["entry"] if e["resource"]["resourceType"] == kind)


def test_the_sound_bundle_passes_both_checks():
    body = sound()
    Bundle.model_validate(body)
    assert bundle_problems(body) == []


def test_references_name_their_paths():
    assert sorted(references(resource(sound(), "CarePlan"))) == sorted(
        [
            ("subject", f"urn:uuid:{PATIENT}"),
            ("author", f"urn:uuid:{PRACTITIONER}"),
            ("addresses", f"urn:uuid:{CONDITION}"),
            ("activity.reference", f"urn:uuid:{REQUEST}"),
        ]
    )


def _dangling(body):
    resource(body, "CarePlan")["addresses"] = [to("Condition", uid("Condition/404"))]


def _wrong_target(body):
    resource(body, "CarePlan")["addresses"] = [to("Patient", PATIENT)]


def _unmade_reference(body):
    resource(body, "Patient")["generalPractitioner"] = [to("Practitioner", PRACTITIONER)]


def _unknown_system(body):
    resource(body, "Condition")["code"]["coding"].append(coding(("http://example.org/codes", "x", "X")))


def _not_our_code(body):
    resource(body, "Practitioner")["qualification"][0]["code"]["coding"] = [
        coding((codes.PROFESSION, "wizard", "Wizard"))
    ]


def _unbound_status(body):
    resource(body, "CarePlan")["status"] = "paused"


def _unbound_intent(body):
    resource(body, "ServiceRequest")["intent"] = "plan-ish"


def _no_icd10(body):
    resource(body, "Condition")["code"] = {"coding": [coding((codes.SNOMED, "279039007", "Low back pain"))]}


def _no_exercise_therapy(body):
    resource(body, "ServiceRequest")["code"] = {"coding": [coding((codes.SNOMED, "91251008", "Physical therapy"))]}


def _malformed_icd10(body):
    resource(body, "Condition")["code"]["coding"][0]["code"] = "M5450"


def _icd10_without_a_letter(body):
    resource(body, "Condition")["code"]["coding"][0]["code"] = "5426"


def _coding_without_code(body):
    del resource(body, "Condition")["clinicalStatus"]["coding"][0]["code"]


def _duplicate_full_url(body):
    body["entry"].append(copy.deepcopy(body["entry"][1]))


def _full_url_not_id(body):
    resource(body, "Practitioner")["id"] = uid("Practitioner/2")


def _full_url_not_uuid(body):
    body["entry"][0]["fullUrl"] = "Patient/1"


def _empty_array(body):
    resource(body, "Patient")["name"][0]["given"] = []


def _empty_string(body):
    resource(body, "Patient")["name"][0]["family"] = ""


def _null(body):
    resource(body, "Patient")["birthDate"] = None


def _unknown_extension(body):
    resource(body, "Condition")["extension"].append({"url": "urn:example:mood", "valueCode": "glum"})


def _pain_without_loinc(body):
    body["entry"].append(
        {
            "fullUrl": f"urn:uuid:{uid('Observation/1')}",
            "resource": {
                "resourceType": "Observation",
                "id": uid("Observation/1"),
                "status": "final",
                "code": {"coding": [coding((codes.SESSION_PAIN, "before", "Pain before"))]},
                "subject": to("Patient", PATIENT),
                "valueInteger": 3,
            },
        }
    )


def _quantity_not_ucum(body):
    body["entry"].append(
        {
            "fullUrl": f"urn:uuid:{uid('Observation/2')}",
            "resource": {
                "resourceType": "Observation",
                "id": uid("Observation/2"),
                "status": "final",
                "code": {"coding": [coding(codes.ODI_SCORE), coding((codes.OUTCOME_SCORE, "odi", "ODI score"))]},
                "subject": to("Patient", PATIENT),
                "valueQuantity": {"value": 26, "unit": "percent", "system": "http://example.org/units", "code": "pc"},
            },
        }
    )


def _not_a_collection(body):
    body["type"] = "searchset"


BREAKAGES: list[tuple[Callable[[dict], None], str]] = [
    (_dangling, "is not in the bundle"),
    (_wrong_target, "refers to a Patient, not a Condition"),
    (_unmade_reference, "the export makes no such reference"),
    (_unknown_system, "unknown code system 'http://example.org/codes'"),
    (_not_our_code, f"'wizard' is not a code of {codes.PROFESSION}"),
    (_unbound_status, "status: 'paused' is not one of its codes"),
    (_unbound_intent, "intent: 'plan-ish' is not one of its codes"),
    (_no_icd10, "a Condition's code is ICD-10-CM"),
    (_no_exercise_therapy, "a ServiceRequest's code is SNOMED CT 229065009"),
    (_malformed_icd10, "'M5450' is not an ICD-10-CM code"),
    (_icd10_without_a_letter, "'5426' is not an ICD-10-CM code"),
    (_coding_without_code, "a coding needs its system and code"),
    (_duplicate_full_url, "appears twice"),
    (_full_url_not_id, "fullUrl and id differ"),
    (_full_url_not_uuid, "is not a urn:uuid"),
    (_empty_array, "empty value at entry.resource.name.given"),
    (_empty_string, "empty value at entry.resource.name.family"),
    (_null, "empty value at entry.resource.birthDate"),
    (_unknown_extension, "unknown extension 'urn:example:mood'"),
    (_pain_without_loinc, "a session's pain is LOINC 72514-3"),
    (_quantity_not_ucum, "a quantity's unit is UCUM"),
    (_not_a_collection, "not a Bundle of type collection"),
]


@pytest.mark.parametrize(("breakage", "said"), BREAKAGES, ids=[b.__name__.strip("_") for b, _ in BREAKAGES])
def test_each_breakage_is_reported(breakage, said):
    body = sound()
    breakage(body)
    problems = bundle_problems(body)
    assert problems, "nothing reported"
    assert any(said in problem for problem in problems), problems


def test_a_bound_code_fhir_resources_lets_through():
    """CarePlan.status "paused" is a string to the model library; only our checks know its value set."""
    body = sound()
    _unbound_status(body)
    Bundle.model_validate(body)
    assert bundle_problems(body) == ["entry[3] CarePlan status: 'paused' is not one of its codes"]


def test_an_open_code_system_takes_any_code():
    body = sound()
    flag_id = uid("Flag/1")
    body["entry"].append(
        {
            "fullUrl": f"urn:uuid:{flag_id}",
            "resource": {
                "resourceType": "Flag",
                "id": flag_id,
                "status": "active",
                "code": {"coding": [coding((codes.MOVEMENT, "any-new-slug", "Something new"))]},
                "subject": to("Patient", PATIENT),
            },
        }
    )
    Bundle.model_validate(body)
    assert bundle_problems(body) == []


def test_an_icd10_cm_u_code_is_a_code():
    """U07.1 (COVID-19) and U09.9 are ICD-10-CM codes: the U chapter is for special purposes, not malformed."""
    body = sound()
    resource(body, "Condition")["code"]["coding"][0]["code"] = "U09.9"
    assert bundle_problems(body) == []
