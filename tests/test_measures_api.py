"""Outcome measures through the API (issue 18): the portal's questionnaires (the patient's own, a guardian's ward),
the staff's entry, outcomes and choice of instruments, scoping (another patient or clinic → 404, a wrong role → 403),
scoring through the API (the PSFS's activities, the ODI's worked example, 400s naming the field), answering twice
(409, no second flag), a meaningful worsening (one flag), the adherence summary, and constant queries."""

from __future__ import annotations

import datetime as dt

import pytest

from clinic.models import Instrument, InstrumentWording
from patients.models import PortalAccess
from prescriptions.models import MeasureDue, MeasureResponse, SafetyFlag
from prescriptions.services.measures import measures_schedule
from tests import factories

PORTAL = "/api/v1/portal"
ODI_SECTIONS = [
    "pain_intensity",
    "personal_care",
    "lifting",
    "walking",
    "sitting",
    "standing",
    "sleeping",
    "sex_life",
    "social_life",
    "travelling",
]
ACTIVITIES = ["Putting on socks", "Sitting through a film", "Carrying shopping"]
INSTRUMENT_KEYS = {"code", "name", "abbreviation", "higher_is_worse", "meaningful_change"}
DUE_KEYS = {"id", "instrument", "occasion", "due_on", "instructions", "items", "activities", "needs_activities"}
RESPONSE_KEYS = {
    "id",
    "instrument",
    "occasion",
    "taken_at",
    "score",
    "percent",
    "change",
    "improved",
    "worsened",
    "threshold",
    "via",
}


def staff_url(patient, rest: str) -> str:
    return f"/api/v1/patients/{patient.pk}/{rest}"


def odi(total: int, *, missing: int = 0) -> dict:
    """ODI answers summing to ``total`` over the sections answered (the last ``missing`` sections skipped)."""
    answered = ODI_SECTIONS[: len(ODI_SECTIONS) - missing]
    answers: dict = dict.fromkeys(ODI_SECTIONS[len(answered) :])
    for index, section in enumerate(answered):
        answers[section] = min(5, max(0, total - 5 * index))
    assert sum(v for v in answers.values() if v is not None) == total
    return {"answers": answers}


def psfs(*ratings: int, activities: list[str] | None = None) -> dict:
    body: dict = {"answers": {f"activity_{n}": rating for n, rating in enumerate(ratings, start=1)}}
    if activities is not None:
        body["activities"] = activities
    return body


def problem(response, status: int, *fields: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert set(fields) <= set(body["errors"]), body["errors"]
    return body


def schedule(episode, day: int = 0) -> None:
    """The episode's measures due up to ``day`` days after it opened."""
    measures_schedule(episode=episode, today=episode.opened_on + dt.timedelta(days=day))


def due_of(episode, code: str, day: int = 0) -> MeasureDue:
    return MeasureDue.objects.get(episode=episode, instrument__code=code, due_on=episode.opened_on + dt.timedelta(day))


def load_wording(clinic, code: str = "odi") -> InstrumentWording:
    instrument = Instrument.objects.get(code=code)
    wording = {
        "instructions": f"The clinic's licensed {code} instructions.",
        "items": {
            i["id"]: {"text": f"Licensed {i['id']}", "levels": {"0": "None", "5": "Most"}} for i in instrument.items
        },
    }
    return InstrumentWording.objects.create(clinic=clinic, instrument=instrument, wording=wording, licence="Test")


@pytest.fixture
def episode(patient, therapist):
    """An episode opened 30 days ago using the ODI, PSFS and NPRS, with its baseline due."""
    episode = factories.measured_episode(patient, therapist, "odi", "psfs", "nprs")
    schedule(episode)
    return episode


@pytest.fixture
def wording(clinic):
    return load_wording(clinic)


@pytest.fixture
def guardian(patient, clinic):
    """A parent with portal access to two children: ``patient`` and a sibling."""
    user = factories.PortalAccessFactory(patient=patient, relationship=PortalAccess.Relationship.GUARDIAN).user
    sibling = factories.PatientFactory(clinic=clinic, first_name="Sibling")
    factories.PortalAccessFactory(user=user, patient=sibling, relationship=PortalAccess.Relationship.GUARDIAN)
    return user


def answered(client, url: str, body: dict) -> dict:
    response = client.post(url, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


# --- The portal: the patient's own, a guardian's ward --------------------------------------------------------


def test_the_patient_lists_what_is_due_with_its_wording(as_user, portal_user, episode, wording):
    response = as_user(portal_user).get(f"{PORTAL}/measures")

    assert response.status_code == 200
    body = response.json()
    assert [(m["instrument"]["code"], m["occasion"]) for m in body] == [
        ("nprs", "baseline"),
        ("odi", "baseline"),
        ("psfs", "baseline"),
    ]
    nprs, odi_due, psfs_due = body
    assert set(nprs) == DUE_KEYS and set(nprs["instrument"]) == INSTRUMENT_KEYS
    assert nprs["id"] == due_of(episode, "nprs").pk and nprs["due_on"] == episode.opened_on.isoformat()
    assert nprs["instructions"] == "Rate your pain on a scale from 0 to 10."
    assert nprs["items"] == [
        {
            "id": "pain",
            "low": 0,
            "high": 10,
            "text": "On average over the last 24 hours, how bad has your pain been?",
            "levels": {"0": "No pain", "10": "Worst pain imaginable"},
        }
    ]
    assert (nprs["activities"], nprs["needs_activities"]) == ([], False)
    assert odi_due["instructions"] == "The clinic's licensed odi instructions."
    assert [item["id"] for item in odi_due["items"]] == ODI_SECTIONS
    assert odi_due["items"][0]["text"] == "Licensed pain_intensity"
    assert psfs_due["needs_activities"] is True and psfs_due["activities"] == []
    assert [item["id"] for item in psfs_due["items"]] == [f"activity_{n}" for n in range(1, 6)]
    assert psfs_due["instrument"]["higher_is_worse"] is False


def test_a_licensed_instrument_without_the_clinics_wording_is_not_offered(
    as_user, portal_user, therapist, patient, episode
):
    codes = [m["instrument"]["code"] for m in as_user(portal_user).get(f"{PORTAL}/measures").json()]
    assert codes == ["nprs", "psfs"]
    response = as_user(portal_user).post(f"{PORTAL}/measures/{due_of(episode, 'odi').pk}/responses", odi(10))
    problem(response, 404)

    staff = as_user(therapist).get(staff_url(patient, "measures")).json()
    odi_due = next(m for m in staff if m["instrument"]["code"] == "odi")
    assert odi_due["wording_missing"] is True and odi_due["instructions"] == ""
    assert {(item["text"], str(item["levels"])) for item in odi_due["items"]} == {("", "{}")}
    assert [m["wording_missing"] for m in staff if m["instrument"]["code"] != "odi"] == [False, False]
    # The clinic's paper form: staff may enter it.
    assert answered(as_user(therapist), staff_url(patient, f"measures/{odi_due['id']}/responses"), odi(10))["via"] == (
        "clinic"
    )


def test_a_guardian_picks_the_ward(as_user, guardian, patient, therapist, episode):
    sibling = PortalAccess.objects.filter(user=guardian).exclude(patient=patient).get().patient
    sibling_episode = factories.measured_episode(sibling, therapist, "nprs")
    schedule(sibling_episode)
    client = as_user(guardian)

    problem(client.get(f"{PORTAL}/measures"), 400, "patient")
    mine = client.get(f"{PORTAL}/measures", {"patient": sibling.pk}).json()
    assert [m["id"] for m in mine] == [due_of(sibling_episode, "nprs").pk]
    theirs = client.get(f"{PORTAL}/measures", {"patient": patient.pk}).json()
    assert {m["instrument"]["code"] for m in theirs} == {"nprs", "psfs"}

    body = answered(client, f"{PORTAL}/measures/{mine[0]['id']}/responses", {"answers": {"pain": 6}})
    assert body["score"] == "6.0" and body["via"] == "portal"
    assert MeasureResponse.objects.get().entered_by == guardian
    outcomes = client.get(f"{PORTAL}/outcomes", {"patient": sibling.pk}).json()
    assert outcomes[0]["chart"] == f"/portal/outcomes/nprs.svg?patient={sibling.pk}"
    assert client.get(f"{PORTAL}/outcomes", {"patient": patient.pk}).json() == []


def test_another_patients_measures_are_a_404(as_user, other_portal_user, patient, episode, wording):
    client = as_user(other_portal_user)
    problem(client.get(f"{PORTAL}/measures", {"patient": patient.pk}), 404)
    problem(client.get(f"{PORTAL}/outcomes", {"patient": patient.pk}), 404)
    problem(client.post(f"{PORTAL}/measures/{due_of(episode, 'nprs').pk}/responses", {"answers": {"pain": 3}}), 404)
    problem(client.post(f"{PORTAL}/measures/999999/responses", {"answers": {"pain": 3}}), 404)
    assert not MeasureResponse.objects.exists()
    assert client.get(f"{PORTAL}/measures").json() == []  # their own: nothing due


def test_staff_may_not_use_the_portal(as_user, therapist, episode):
    problem(as_user(therapist).get(f"{PORTAL}/measures"), 403)
    problem(as_user(therapist).post(f"{PORTAL}/measures/{due_of(episode, 'nprs').pk}/responses", {}), 403)
    problem(as_user(therapist).get(f"{PORTAL}/outcomes"), 403)


def test_the_portal_needs_a_login(api, episode):
    assert api.get(f"{PORTAL}/measures").status_code == 401
    assert api.get(staff_url(episode.patient, "measures")).status_code == 401


# --- Staff: roles and clinics --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["therapist", "front_desk", "clinic_admin"])
def test_every_staff_role_sees_what_is_due(request, as_user, role, patient, episode):
    response = as_user(request.getfixturevalue(role)).get(staff_url(patient, "measures"))
    assert response.status_code == 200
    assert [(m["instrument"]["code"], m["wording_missing"]) for m in response.json()] == [
        ("nprs", False),
        ("odi", True),
        ("psfs", False),
    ]


@pytest.mark.parametrize("role", ["therapist", "front_desk"])
def test_therapists_and_the_desk_enter_answers_taken_in_the_clinic(request, as_user, role, patient, episode):
    user = request.getfixturevalue(role)
    url = staff_url(patient, f"measures/{due_of(episode, 'nprs').pk}/responses")
    body = answered(as_user(user), url, {"answers": {"pain": 7}})
    assert set(body) == RESPONSE_KEYS and set(body["instrument"]) == INSTRUMENT_KEYS
    assert (body["score"], body["percent"], body["change"], body["via"]) == ("7.0", None, None, "clinic")
    assert (body["occasion"], body["improved"], body["worsened"], body["threshold"]) == ("baseline", False, False, "")
    response = MeasureResponse.objects.get()
    assert response.entered_by == user and due_of(episode, "nprs").status == MeasureDue.Status.DONE


@pytest.mark.parametrize("role", ["therapist", "clinic_admin"])
def test_therapists_and_clinic_admins_see_outcomes(request, as_user, role, therapist, patient, episode):
    answered(
        as_user(therapist),
        staff_url(patient, f"measures/{due_of(episode, 'nprs').pk}/responses"),
        {"answers": {"pain": 7}},
    )
    body = as_user(request.getfixturevalue(role)).get(staff_url(patient, "outcomes")).json()
    assert len(body) == 1 and set(body[0]) == {"instrument", "responses"}  # no chart for staff
    assert body[0]["instrument"]["code"] == "nprs" and body[0]["responses"][0]["score"] == "7.0"


def test_wrong_roles_are_refused(as_user, front_desk, clinic_admin, patient, episode):
    problem(as_user(front_desk).get(staff_url(patient, "outcomes")), 403)
    url = staff_url(patient, f"measures/{due_of(episode, 'nprs').pk}/responses")
    problem(as_user(clinic_admin).post(url, {"answers": {"pain": 3}}, format="json"), 403)
    problem(as_user(front_desk).put(staff_url(patient, f"episodes/{episode.pk}/instruments"), {"instruments": []}), 403)
    problem(
        as_user(clinic_admin).put(staff_url(patient, f"episodes/{episode.pk}/instruments"), {"instruments": []}), 403
    )
    assert not MeasureResponse.objects.exists()


def test_a_patients_token_may_not_use_staff_endpoints(as_user, portal_user, patient, episode):
    client = as_user(portal_user)
    problem(client.get(staff_url(patient, "measures")), 403)
    problem(client.get(staff_url(patient, "outcomes")), 403)
    url = staff_url(patient, f"measures/{due_of(episode, 'nprs').pk}/responses")
    problem(client.post(url, {"answers": {"pain": 3}}, format="json"), 403)
    problem(client.put(staff_url(patient, f"episodes/{episode.pk}/instruments"), {"instruments": ["nprs"]}), 403)
    assert not MeasureResponse.objects.exists()


def test_another_clinics_patient_is_a_404(as_user, other_therapist, patient, episode):
    client = as_user(other_therapist)
    problem(client.get(staff_url(patient, "measures")), 404)
    problem(client.get(staff_url(patient, "outcomes")), 404)
    url = staff_url(patient, f"measures/{due_of(episode, 'nprs').pk}/responses")
    problem(client.post(url, {"answers": {"pain": 3}}, format="json"), 404)
    problem(client.put(staff_url(patient, f"episodes/{episode.pk}/instruments"), {"instruments": ["nprs"]}), 404)
    assert not MeasureResponse.objects.exists()


def test_another_patients_measure_or_episode_in_the_url_is_a_404(as_user, therapist, patient, other_patient, episode):
    other = factories.measured_episode(other_patient, therapist, "nprs")
    schedule(other)
    client = as_user(therapist)
    url = staff_url(patient, f"measures/{due_of(other, 'nprs').pk}/responses")
    problem(client.post(url, {"answers": {"pain": 3}}, format="json"), 404)
    problem(client.put(staff_url(patient, f"episodes/{other.pk}/instruments"), {"instruments": ["nprs"]}), 404)


# --- Choosing the instruments ------------------------------------------------------------------------------


def test_the_therapist_chooses_the_instruments(as_user, therapist, patient, episode):
    client = as_user(therapist)
    url = staff_url(patient, f"episodes/{episode.pk}/instruments")

    response = client.put(url, {"instruments": ["nprs"]}, format="json")

    assert response.status_code == 200 and response.json() == {"instruments": ["nprs"], "chosen": True}
    assert set(MeasureDue.objects.filter(status="due").values_list("instrument__code", flat=True)) == {"nprs"}
    assert MeasureDue.objects.filter(status="cancelled").count() == 2

    back = client.put(url, {"instruments": []}, format="json").json()
    assert back == {"instruments": ["psfs", "nprs"], "chosen": False}  # no diagnosis: the default for other regions

    problem(client.put(url, {"instruments": ["sf36"]}, format="json"), 400, "instruments")
    problem(client.put(url, {"instruments": "nprs"}, format="json"), 400, "instruments")


# --- Scoring through the API ----------------------------------------------------------------------------------


def test_psfs_names_three_activities_at_baseline_and_rates_the_same_ones_later(
    as_user, portal_user, therapist, patient, episode
):
    client = as_user(portal_user)
    baseline = due_of(episode, "psfs")

    first = answered(client, f"{PORTAL}/measures/{baseline.pk}/responses", psfs(3, 4, 2, activities=ACTIVITIES))
    assert (first["score"], first["change"], first["occasion"]) == ("3.0", None, "baseline")
    assert MeasureResponse.objects.get(pk=first["id"]).activities == ACTIVITIES

    schedule(episode, 14)
    follow_up = next(m for m in client.get(f"{PORTAL}/measures").json() if m["instrument"]["code"] == "psfs")
    assert follow_up["occasion"] == "follow_up" and follow_up["id"] == due_of(episode, "psfs", 14).pk
    assert follow_up["activities"] == ACTIVITIES and follow_up["needs_activities"] is False
    assert [item["id"] for item in follow_up["items"]] == ["activity_1", "activity_2", "activity_3"]
    staff = next(m for m in as_user(therapist).get(staff_url(patient, "measures")).json() if m["id"] == follow_up["id"])
    assert staff["activities"] == ACTIVITIES

    client = as_user(portal_user)
    later = answered(client, f"{PORTAL}/measures/{follow_up['id']}/responses", psfs(6, 7, 5))
    assert (later["score"], later["change"], later["improved"], later["worsened"]) == ("6.0", "3.0", True, False)
    assert later["threshold"] == "2 points on the mean" and later["occasion"] == "follow_up"
    assert MeasureResponse.objects.get(pk=later["id"]).activities == ACTIVITIES


def test_psfs_refuses_other_activities_or_a_fourth_rating_later(as_user, portal_user, episode):
    client = as_user(portal_user)
    answered(client, f"{PORTAL}/measures/{due_of(episode, 'psfs').pk}/responses", psfs(3, 4, 2, activities=ACTIVITIES))
    schedule(episode, 14)
    url = f"{PORTAL}/measures/{due_of(episode, 'psfs', 14).pk}/responses"

    problem(client.post(url, psfs(5, 5, 5, activities=["Running", *ACTIVITIES[1:]]), format="json"), 400, "activities")
    problem(client.post(url, psfs(5, 5, 5, 5), format="json"), 400, "answers.activity_4")
    assert MeasureResponse.objects.count() == 1


@pytest.mark.parametrize(
    ("code", "body", "field"),
    [
        ("psfs", psfs(3, 4, 2, 1, 5, 6, activities=[*ACTIVITIES, "Gardening", "Cycling", "Swimming"]), "activities"),
        ("psfs", psfs(3, 4, activities=ACTIVITIES[:2]), "activities"),
        ("psfs", psfs(3, 4, 2), "activities"),  # none named at baseline
        ("nprs", {"answers": {"pain": 11}}, "answers.pain"),
        ("nprs", {"answers": {"pain": -1}}, "answers.pain"),
        ("nprs", {"answers": {"pain": "lots"}}, "answers.pain"),
        ("nprs", {"answers": {"pain": 3, "mood": 2}}, "answers.mood"),
        ("nprs", {"answers": {}}, "answers.pain"),
        ("nprs", {}, "answers"),
        ("odi", odi(12, missing=3), "answers"),
        ("odi", {"answers": {**odi(12)["answers"], "walking": 6}}, "answers.walking"),
    ],
)
def test_answers_that_cannot_be_scored_are_a_400_naming_the_field(
    as_user, therapist, patient, episode, code, body, field
):
    url = staff_url(patient, f"measures/{due_of(episode, code).pk}/responses")
    problem(as_user(therapist).post(url, body, format="json"), 400, field)
    assert not MeasureResponse.objects.exists() and due_of(episode, code).status == MeasureDue.Status.DUE


def test_odi_worked_example_nine_sections_summing_16_is_35_6(as_user, therapist, patient, episode):
    url = staff_url(patient, f"measures/{due_of(episode, 'odi').pk}/responses")
    body = answered(as_user(therapist), url, odi(16, missing=1))
    assert (body["score"], body["percent"]) == ("35.6", "35.6")


# --- Answering twice; a meaningful worsening -----------------------------------------------------------------


def worsening_flags():
    return SafetyFlag.objects.filter(kind=SafetyFlag.Kind.OUTCOME_WORSENING)


def test_a_meaningful_worsening_raises_one_flag_and_answering_twice_is_a_409(
    as_user, portal_user, patient, episode, wording
):
    client = as_user(portal_user)
    baseline = answered(client, f"{PORTAL}/measures/{due_of(episode, 'odi').pk}/responses", odi(10))
    assert baseline["score"] == "20.0" and not worsening_flags().exists()
    schedule(episode, 14)
    url = f"{PORTAL}/measures/{due_of(episode, 'odi', 14).pk}/responses"

    worse = answered(client, url, odi(20))

    assert (worse["score"], worse["change"], worse["worsened"], worse["improved"]) == ("40.0", "20.0", True, False)
    assert worse["threshold"] == "30 % of the baseline"  # 6 points of a baseline of 20: met before 10 points
    (flag,) = worsening_flags()
    assert flag.patient == patient and flag.cause_key == f"measure:{worse['id']}"
    assert flag.details["instrument"] == "odi" and flag.status == SafetyFlag.Status.OPEN

    again = problem(client.post(url, odi(25), format="json"), 409)
    assert "not waiting for answers" in again["detail"]
    assert worsening_flags().count() == 1 and MeasureResponse.objects.count() == 2
    problem(client.post(f"{PORTAL}/measures/{due_of(episode, 'odi').pk}/responses", odi(30), format="json"), 409)
    assert worsening_flags().count() == 1


def test_an_improvement_or_a_small_change_raises_no_flag(as_user, therapist, patient, episode):
    client = as_user(therapist)
    answered(client, staff_url(patient, f"measures/{due_of(episode, 'nprs').pk}/responses"), {"answers": {"pain": 6}})
    schedule(episode, 14)
    url = staff_url(patient, f"measures/{due_of(episode, 'nprs', 14).pk}/responses")
    body = answered(client, url, {"answers": {"pain": 2}})
    assert (body["change"], body["improved"], body["worsened"]) == ("-4.0", True, False)
    schedule(episode, 28)
    url = staff_url(patient, f"measures/{due_of(episode, 'nprs', 28).pk}/responses")
    body = answered(client, url, {"answers": {"pain": 7}})  # 1 point worse than baseline: not meaningful
    assert (body["change"], body["improved"], body["worsened"]) == ("1.0", False, False)
    assert not worsening_flags().exists()


def test_a_missed_measure_is_a_409(as_user, therapist, patient, episode):
    schedule(episode, 28)  # the day-14 follow-up is missed once the day-28 one falls due
    missed = due_of(episode, "nprs", 14)
    assert missed.status == MeasureDue.Status.MISSED
    url = staff_url(patient, f"measures/{missed.pk}/responses")
    problem(as_user(therapist).post(url, {"answers": {"pain": 3}}, format="json"), 409)


# --- Outcomes over time -----------------------------------------------------------------------------------------


def test_outcomes_list_each_instruments_scores_in_order(as_user, portal_user, therapist, patient, episode, wording):
    client = as_user(portal_user)
    answered(client, f"{PORTAL}/measures/{due_of(episode, 'odi').pk}/responses", odi(20))
    answered(client, f"{PORTAL}/measures/{due_of(episode, 'nprs').pk}/responses", {"answers": {"pain": 6}})
    schedule(episode, 14)
    answered(client, f"{PORTAL}/measures/{due_of(episode, 'odi', 14).pk}/responses", odi(10))

    body = client.get(f"{PORTAL}/outcomes").json()

    assert [(o["instrument"]["code"], o["chart"]) for o in body] == [
        ("nprs", f"/portal/outcomes/nprs.svg?patient={patient.pk}"),
        ("odi", f"/portal/outcomes/odi.svg?patient={patient.pk}"),
    ]
    odi_scores = [(r["occasion"], r["score"], r["change"], r["improved"]) for r in body[1]["responses"]]
    assert odi_scores == [("baseline", "40.0", None, False), ("follow_up", "20.0", "-20.0", True)]
    assert all(set(r) == RESPONSE_KEYS for o in body for r in o["responses"])
    staff = as_user(therapist).get(staff_url(patient, "outcomes")).json()
    assert staff == [{k: v for k, v in o.items() if k != "chart"} for o in body]


# --- The adherence summary ---------------------------------------------------------------------------------


def test_the_adherence_summary_includes_the_measures(as_user, therapist, patient, episode):
    client = as_user(therapist)
    answered(client, staff_url(patient, f"measures/{due_of(episode, 'odi').pk}/responses"), odi(20))
    answered(client, staff_url(patient, f"measures/{due_of(episode, 'nprs').pk}/responses"), {"answers": {"pain": 6}})
    schedule(episode, 14)
    answered(client, staff_url(patient, f"measures/{due_of(episode, 'odi', 14).pk}/responses"), odi(10))
    schedule(episode, 28)  # the day-14 NPRS and PSFS are missed; everything of day 28 is due

    body = client.get(staff_url(patient, "adherence")).json()  # the last 28 days: days 3 to 30 of the episode

    measures = body["measures"]
    assert (measures["due"], measures["done"], measures["missed"]) == (3, 1, 2)
    assert [(m["instrument"]["code"], m["score"], m["change"], m["improved"]) for m in measures["latest"]] == [
        ("nprs", "6.0", None, False),
        ("odi", "20.0", "-20.0", True),
    ]
    assert set(measures["latest"][0]) == {*RESPONSE_KEYS} - {"id", "occasion", "via"}

    start = episode.opened_on.isoformat()
    early = client.get(staff_url(patient, "adherence"), {"from": start, "to": start}).json()["measures"]
    assert (early["due"], early["done"], early["missed"]) == (1, 2, 0)  # the PSFS baseline is still due
    past = dt.date(2000, 1, 1).isoformat()
    assert client.get(staff_url(patient, "adherence"), {"from": past, "to": past}).json()["measures"] == {
        "due": 0,
        "done": 0,
        "missed": 0,
        "latest": [],
    }


# --- Query counts ----------------------------------------------------------------------------------------------


@pytest.fixture
def small_and_large(patient, therapist, clinic):
    """A patient with one measure due (the ODI), and another with three (the ODI, PSFS and NPRS)."""
    load_wording(clinic)
    small = factories.measured_episode(patient, therapist, "odi")
    schedule(small)
    other = factories.PatientFactory(clinic=clinic)
    large = factories.measured_episode(other, therapist, "odi", "psfs", "nprs")
    schedule(large)
    return small, large


def test_the_measures_lists_cost_the_same_for_one_or_three_due(
    as_user, therapist, small_and_large, django_assert_num_queries
):
    small, large = small_and_large
    portal = {episode: factories.PortalAccessFactory(patient=episode.patient).user for episode in small_and_large}
    client = as_user(therapist)
    client.get(staff_url(small.patient, "measures"))  # the membership is then cached on the user

    for episode, count in ((small, 1), (large, 3)):
        # patient, due measures, wording, PSFS baselines, access log (the membership is cached)
        with django_assert_num_queries(5):
            body = as_user(therapist).get(staff_url(episode.patient, "measures")).json()
        assert len(body) == count
        # not staff, grants, due measures, wording, PSFS baselines, access log
        with django_assert_num_queries(6):
            body = as_user(portal[episode]).get(f"{PORTAL}/measures").json()
        assert len(body) == count


def test_the_outcomes_cost_the_same_for_one_or_three_responses(
    as_user, therapist, small_and_large, django_assert_num_queries
):
    small, large = small_and_large
    client = as_user(therapist)
    for episode in small_and_large:
        for due in MeasureDue.objects.filter(episode=episode).select_related("instrument"):
            body = {"odi": odi(10), "psfs": psfs(3, 4, 5, activities=ACTIVITIES), "nprs": {"answers": {"pain": 4}}}
            answered(client, staff_url(episode.patient, f"measures/{due.pk}/responses"), body[due.instrument.code])
    portal = {episode: factories.PortalAccessFactory(patient=episode.patient).user for episode in small_and_large}

    for episode, count in ((small, 1), (large, 3)):
        with django_assert_num_queries(3):  # patient, responses with their instrument and occasion, access log
            body = as_user(therapist).get(staff_url(episode.patient, "outcomes")).json()
        assert len(body) == count
        with django_assert_num_queries(4):  # not staff, grants, responses, access log
            body = as_user(portal[episode]).get(f"{PORTAL}/outcomes").json()
        assert len(body) == count
