"""Bad input gets a problem, never a 500 or an HTML page (issue 13, item 2; DESIGN §10).

JSON nested too deep and bodies too large are refused as problems; dates outside sane bounds, reasons over
2,000 characters and the same stretch twice on one side of a plan are 400s naming the field — in the API and in
the services every write goes through.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.test import RequestFactory

from clinic.api.parsers import json_depth_exceeds
from clinic.api.problems import bad_request
from clinic.bounds import MAX_JSON_DEPTH, MAX_REASON_LENGTH
from clinic.models import Diagnosis
from patients import services as patient_services
from prescriptions import services
from prescriptions.models import Prescription
from tests import factories

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login"
PLANS = "/api/v1/prescriptions/"
PROBLEM = "application/problem+json"
TOO_LONG = "x" * (MAX_REASON_LENGTH + 1)
FAR_PAST, FAR_FUTURE = dt.date(1, 1, 1), dt.date(9999, 12, 31)


def patient_url(patient, rest: str = "") -> str:
    return f"/api/v1/patients/{patient.pk}/{rest}"


def assert_problem(response, status: int, *fields: str) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["type"].startswith("https://limber.invalid/problems/")
    if fields:
        assert set(fields) <= set(body["errors"]), body["errors"]
    return body


def error_fields(excinfo) -> set[str]:
    return set(excinfo.value.message_dict)


@pytest.fixture
def therapist_api(as_user, therapist):
    return as_user(therapist)


def plan_body(patient, *items: dict, **fields) -> dict:
    return {
        "episode": patient.episodes.get().pk,
        "start_date": patient.local_today().isoformat(),
        "days_of_week": [1, 3, 5],
        "times": ["08:00"],
        "items": list(items),
        **fields,
    }


# --- JSON nested too deep ---------------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["[" * 1000 + "]" * 1000, '{"a":' * 1000 + "1" + "}" * 1000])
def test_json_nested_a_thousand_deep_is_a_400_problem_for_anyone(api, body):
    response = api.post(LOGIN, body, content_type="application/json")
    assert "nested deeper than 32" in assert_problem(response, 400)["detail"]


def test_deep_json_is_refused_on_staff_endpoints_too(therapist_api, cleared_patient):
    deep = '{"items":' + "[" * 5000 + "]" * 5000 + "}"
    assert (
        "nested deeper"
        in assert_problem(therapist_api.post(PLANS, deep, content_type="application/json"), 400)["detail"]
    )
    assert not Prescription.objects.exists()


def test_depth_is_bounded_at_32_levels(api):
    at_limit = '{"username":' + "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1) + "}"
    over = '{"username":' + "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH + "}"
    parsed = api.post(LOGIN, at_limit, content_type="application/json")
    assert "username" in assert_problem(parsed, 400)["errors"]  # parsed; the serializer refuses the value
    assert "nested deeper" in assert_problem(api.post(LOGIN, over, content_type="application/json"), 400)["detail"]


def test_brackets_inside_strings_do_not_count():
    assert not json_depth_exceeds('{"note": "' + "[{" * 100 + '"}')
    assert not json_depth_exceeds('["a \\" [[[[' + "[" * 100 + '"]')
    assert json_depth_exceeds('{"a\\\\": ' + "[" * 40 + "]" * 40 + "}")
    assert not json_depth_exceeds("[" + "[]," * 100_000 + "[]]")
    assert json_depth_exceeds("[]" * 1000 + "[" * 33 + "]" * 33)


# --- Bodies too large, unknown paths ------------------------------------------------------------------------


def test_a_body_over_the_upload_limit_is_a_413_problem(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = '{"username": "' + "a" * 20_000 + '", "password": "x"}'
    response = api.post(LOGIN, body, content_type="application/json")
    assert assert_problem(response, 413)["type"].endswith("/too-large")


def test_a_body_over_the_default_limit_is_a_413_problem(therapist_api, cleared_patient):
    body = '{"notes": "' + "a" * (3 * 1024 * 1024) + '"}'
    assert_problem(therapist_api.post(PLANS, body, content_type="application/json"), 413)


def test_django_refusing_an_api_request_before_any_view_answers_a_problem():
    request = RequestFactory().post("/api/v1/auth/login")
    too_big = bad_request(request, RequestDataTooBig("too big"))
    assert (too_big.status_code, too_big["Content-Type"]) == (413, PROBLEM)
    other = bad_request(request, ValueError())
    assert (other.status_code, other["Content-Type"]) == (400, PROBLEM)
    admin = bad_request(RequestFactory().post("/admin/"), RequestDataTooBig("too big"))
    assert admin.status_code == 400 and "html" in admin["Content-Type"]


@pytest.mark.parametrize("path", ["/api/nothing", "/api/v1/nothing/", "/api/v2/patients/", "/api/v1/patients/x/"])
def test_every_unknown_api_path_is_a_404_problem(therapist_api, path):
    assert_problem(therapist_api.get(path), 404)
    assert_problem(therapist_api.post(path, {}), 404)


# --- Dates -------------------------------------------------------------------------------------------------


def clearance_body(**fields) -> dict:
    return {
        "professional_name": "Dr. Lena Park",
        "profession": "physician",
        "status": "cleared",
        "valid_from": "0001-01-01",
        "valid_until": "9999-12-31",
        **fields,
    }


def test_an_unbounded_clearance_is_refused_and_a_refused_plan_stays_refused(
    therapist_api, therapist, patient, mobility
):
    factories.MobilityAssessmentFactory(patient=patient, level=mobility(3), assessed_by=therapist)
    factories.EpisodeFactory(patient=patient, primary_therapist=therapist)
    created = therapist_api.post(PLANS, plan_body(patient, {"stretch": "pelvic-tilt"}))
    assert created.status_code == 201, created.json()
    plan = f"{PLANS}{created.json()['id']}/activate"
    assert therapist_api.post(plan, {}).status_code == 409  # no clearance

    response = therapist_api.post(patient_url(patient, "clearances/"), clearance_body())
    assert_problem(response, 400, "valid_from", "valid_until")
    assert not patient.clearances.exists()
    assert therapist_api.post(plan, {}).status_code == 409


def test_a_clearance_is_valid_for_at_most_five_years(therapist_api, patient):
    today = patient.local_today()
    longer = clearance_body(valid_from=today.isoformat(), valid_until=(today + dt.timedelta(days=5 * 366)).isoformat())
    assert_problem(therapist_api.post(patient_url(patient, "clearances/"), longer), 400, "valid_until")
    five = clearance_body(valid_from="2024-02-29", valid_until="2029-02-28")
    assert therapist_api.post(patient_url(patient, "clearances/"), five).status_code == 201


def test_the_clearance_service_bounds_its_dates(therapist, patient):
    fields = {"professional_name": "Dr. Park", "profession": "physician", "status": "cleared"}
    with pytest.raises(ValidationError) as excinfo:
        patient_services.clearance_record(
            patient=patient, by=therapist, valid_from=FAR_PAST, valid_until=FAR_FUTURE, **fields
        )
    assert error_fields(excinfo) == {"valid_from", "valid_until"}
    with pytest.raises(ValidationError) as excinfo:
        patient_services.clearance_record(
            patient=patient, by=therapist, valid_from=dt.date(2020, 1, 1), valid_until=dt.date(2026, 1, 1), **fields
        )
    assert error_fields(excinfo) == {"valid_until"}
    assert not patient.clearances.exists()


def patient_body(**fields) -> dict:
    return {"mrn": "B-1", "first_name": "Ada", "last_name": "Lee", "timezone": "America/Chicago", **fields}


@pytest.mark.parametrize("born", ["0001-01-01", "1899-12-31", "9999-12-31", "tomorrow"])
def test_a_date_of_birth_before_1900_or_after_today_is_refused(as_user, front_desk, born):
    api = as_user(front_desk)
    if born == "tomorrow":
        born = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).date().isoformat()
    assert_problem(api.post("/api/v1/patients/", patient_body(date_of_birth=born)), 400, "date_of_birth")
    assert api.post("/api/v1/patients/", patient_body(date_of_birth="1900-01-01")).status_code == 201


def test_the_patient_services_bound_the_date_of_birth(clinic, front_desk, patient):
    with pytest.raises(ValidationError) as excinfo:
        patient_services.patient_create(clinic=clinic, by=front_desk, **patient_body(date_of_birth=dt.date(1850, 1, 1)))
    assert error_fields(excinfo) == {"date_of_birth"}
    with pytest.raises(ValidationError) as excinfo:
        patient_services.patient_update(
            patient=patient, by=front_desk, date_of_birth=patient.local_today() + dt.timedelta(days=1)
        )
    assert error_fields(excinfo) == {"date_of_birth"}
    assert (
        patient_services.patient_update(
            patient=patient, by=front_desk, date_of_birth=patient.local_today()
        ).date_of_birth
        == patient.local_today()
    )


def test_episode_and_diagnosis_dates_are_bounded_in_the_api(therapist_api, therapist, patient):
    episodes = patient_url(patient, "episodes/")
    assert_problem(therapist_api.post(episodes, {"title": "Back", "opened_on": "0001-01-01"}), 400, "opened_on")
    episode = factories.EpisodeFactory(patient=patient, primary_therapist=therapist)
    discharge = therapist_api.post(f"{episodes}{episode.pk}/discharge", {"discharged_on": "9999-12-31"})
    assert_problem(discharge, 400, "discharged_on")

    diagnoses = patient_url(patient, "diagnoses/")
    added = therapist_api.post(diagnoses, {"diagnosis": "M51.26", "onset_date": "0001-01-01"})
    assert_problem(added, 400, "onset_date")
    row = factories.PatientDiagnosisFactory(patient=patient, recorded_by=therapist)
    changed = therapist_api.patch(f"{diagnoses}{row.pk}/", {"resolved_date": "9999-12-31"})
    assert_problem(changed, 400, "resolved_date")


def test_episode_and_diagnosis_dates_are_bounded_in_the_services(therapist, patient):
    with pytest.raises(ValidationError) as excinfo:
        patient_services.episode_open(patient=patient, by=therapist, title="Back", opened_on=FAR_PAST)
    assert error_fields(excinfo) == {"opened_on"}
    episode = patient_services.episode_open(patient=patient, by=therapist, title="Back")
    with pytest.raises(ValidationError) as excinfo:
        patient_services.episode_discharge(episode=episode, by=therapist, discharged_on=FAR_FUTURE)
    assert error_fields(excinfo) == {"discharged_on"}

    diagnosis = Diagnosis.objects.get(code="M51.26")
    with pytest.raises(ValidationError) as excinfo:
        patient_services.patient_diagnosis_add(
            patient=patient, by=therapist, diagnosis=diagnosis, onset_date=FAR_PAST, resolved_date=FAR_FUTURE
        )
    assert error_fields(excinfo) == {"onset_date", "resolved_date"}
    row = patient_services.patient_diagnosis_add(patient=patient, by=therapist, diagnosis=diagnosis)
    with pytest.raises(ValidationError) as excinfo:
        patient_services.patient_diagnosis_update(patient_diagnosis=row, by=therapist, resolved_date=FAR_FUTURE)
    assert error_fields(excinfo) == {"resolved_date"}


def test_the_plan_service_bounds_its_dates_as_the_api_does(therapist, cleared_patient, stretch):
    item = services.ItemIn(stretch=stretch("pelvic-tilt"), reps=10)
    with pytest.raises(ValidationError) as excinfo:
        services.prescription_create(
            episode=cleared_patient.episodes.get(),
            by=therapist,
            start_date=FAR_PAST,
            end_date=FAR_FUTURE,
            days_of_week=[1],
            times=[dt.time(8)],
            items=[item],
        )
    assert error_fields(excinfo) == {"start_date", "end_date"}


# --- Free-text reasons -------------------------------------------------------------------------------------


def test_a_revoke_reason_over_2000_characters_is_refused(therapist_api, therapist, patient):
    clearance = factories.ClearanceFactory(patient=patient, recorded_by=therapist)
    revoke = patient_url(patient, f"clearances/{clearance.pk}/revoke")
    assert_problem(therapist_api.post(revoke, {"reason": "x" * 100_000}), 400, "reason")
    assert_problem(therapist_api.post(revoke, {"reason": TOO_LONG}), 400, "reason")
    with pytest.raises(ValidationError) as excinfo:
        patient_services.clearance_revoke(clearance=clearance, by=therapist, reason=TOO_LONG)
    assert error_fields(excinfo) == {"reason"}
    clearance.refresh_from_db()
    assert not clearance.is_revoked
    assert therapist_api.post(revoke, {"reason": "y" * MAX_REASON_LENGTH}).status_code == 200


def test_a_resolution_over_2000_characters_is_refused(therapist_api, therapist, patient):
    flag = factories.SafetyFlagFactory(patient=patient)
    resolve = f"/api/v1/flags/{flag.pk}/resolve"
    assert_problem(therapist_api.post(resolve, {"resolution": TOO_LONG}), 400, "resolution")
    with pytest.raises(ValidationError) as excinfo:
        services.flag_resolve(flag=flag, by=therapist, resolution=TOO_LONG)
    assert error_fields(excinfo) == {"resolution"}
    flag.refresh_from_db()
    assert flag.status == "open"


def test_an_override_reason_over_2000_characters_is_refused_by_the_service(therapist_api, therapist, cleared_patient):
    factories.PatientDiagnosisFactory(
        patient=cleared_patient, diagnosis=Diagnosis.objects.get(code="M51.26"), phase="acute", recorded_by=therapist
    )
    created = therapist_api.post(PLANS, plan_body(cleared_patient, {"stretch": "knees-to-chest"}))
    plan = Prescription.objects.get(pk=created.json()["id"])
    [finding] = therapist_api.post(f"{PLANS}{plan.pk}/activate", {}).json()["findings"]
    waiver = {k: finding[k] for k in ("item", "code", "cause")}
    refused = therapist_api.post(f"{PLANS}{plan.pk}/activate", {"overrides": [{**waiver, "reason": TOO_LONG}]})
    assert_problem(refused, 400, "overrides[0].reason")
    with pytest.raises(ValidationError) as excinfo:
        services.prescription_activate(
            prescription=plan, by=therapist, overrides=[services.WaiverIn(**waiver, reason=TOO_LONG)]
        )
    assert error_fields(excinfo) == {"overrides"}
    with pytest.raises(ValidationError) as excinfo:
        services.prescription_activate(
            prescription=plan, by=therapist, acknowledgements=[services.WaiverIn(**waiver, reason=TOO_LONG)]
        )
    assert error_fields(excinfo) == {"overrides"}
    plan.refresh_from_db()
    assert plan.status == "draft" and not plan.overrides.exists()


# --- The same stretch twice on one side -----------------------------------------------------------------------


def test_the_same_stretch_twice_on_the_same_side_is_a_400_naming_the_item(therapist_api, cleared_patient):
    hamstring = "seated-hamstring-stretch"
    twice = plan_body(cleared_patient, {"stretch": "pelvic-tilt"}, {"stretch": "pelvic-tilt"})
    assert_problem(therapist_api.post(PLANS, twice), 400, "items[1]")
    left_twice = plan_body(
        cleared_patient,
        {"stretch": hamstring, "side": "left"},
        {"stretch": "pelvic-tilt"},
        {"stretch": hamstring, "side": "left"},
    )
    body = assert_problem(therapist_api.post(PLANS, left_twice), 400, "items[2]")
    assert set(body["errors"]) == {"items[2]"}
    both_and_left = plan_body(
        cleared_patient, {"stretch": hamstring, "side": "both"}, {"stretch": hamstring, "side": "left"}
    )
    assert_problem(therapist_api.post(PLANS, both_and_left), 400, "items[1]")
    for unsided in ("left", "both", "none"):  # "none" says no side: it overlaps every other item of the stretch
        none_and = plan_body(
            cleared_patient, {"stretch": hamstring, "side": "none"}, {"stretch": hamstring, "side": unsided}
        )
        assert_problem(therapist_api.post(PLANS, none_and), 400, "items[1]")
    assert not Prescription.objects.exists()

    pair = plan_body(cleared_patient, {"stretch": hamstring, "side": "left"}, {"stretch": hamstring, "side": "right"})
    created = therapist_api.post(PLANS, pair)
    assert created.status_code == 201, created.json()
    plan = Prescription.objects.get(pk=created.json()["id"])
    assert sorted(plan.items.values_list("side", flat=True)) == ["left", "right"]

    patch = therapist_api.patch(f"{PLANS}{plan.pk}/", {"items": twice["items"]})
    assert_problem(patch, 400, "items[1]")
    assert plan.items.count() == 2


def test_the_plan_service_refuses_a_duplicate_item(therapist, cleared_patient, stretch):
    tilt = stretch("pelvic-tilt")
    with pytest.raises(ValidationError) as excinfo:
        services.prescription_create(
            episode=cleared_patient.episodes.get(),
            by=therapist,
            start_date=cleared_patient.local_today(),
            days_of_week=[1],
            times=[dt.time(8)],
            items=[services.ItemIn(stretch=tilt, reps=10), services.ItemIn(stretch=tilt, reps=5)],
        )
    assert error_fields(excinfo) == {"items[1]"}


def test_an_assessment_from_the_year_one_is_a_400(cleared_patient, therapist):
    from clinic.models import MobilityLevel

    with pytest.raises(ValidationError) as excinfo:
        patient_services.mobility_assess(
            patient=cleared_patient,
            by=therapist,
            level=MobilityLevel.objects.get(level=3),
            assessed_at=dt.datetime(1, 1, 1, tzinfo=dt.UTC),
        )
    assert "assessed_at" in excinfo.value.message_dict


def test_json_in_a_charset_whose_codec_fails_is_a_400_problem(api):
    response = api.generic(
        "POST",
        "/api/v1/auth/login",
        b"abc-9999999999",
        content_type="application/json; charset=punycode",
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


def test_a_server_error_under_the_api_is_a_problem_not_a_page():
    from clinic.api.problems import server_error

    response = server_error(RequestFactory().get("/api/v1/patients/"))
    assert response.status_code == 500 and response["Content-Type"] == "application/problem+json"
    assert b"Traceback" not in response.content
    assert server_error(RequestFactory().get("/admin/"))["Content-Type"].startswith("text/html")
