"""Outcome measures charted (issue 18): the SVG of ``prescriptions/charts.py`` (readable without colour: every value
labelled, the meaningful change a dashed line and words; escaped; deterministic; an empty state), the portal's chart
at ``/portal/outcomes/<code>.svg`` (the patient's own or a ward's; another's 404, staff 403, signed out to sign in),
and the admin patient page's "Outcome measures" (therapists and clinic admins, not the desk; constant queries)."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from django.utils import timezone

from clinic import scoring
from patients.models import AccessLog
from prescriptions import charts
from prescriptions.models import MeasureDue, MeasureResponse
from prescriptions.services.measures import episode_instruments_set, measure_respond, measures_schedule
from tests import factories

SVG_NS = "{http://www.w3.org/2000/svg}"
PATIENTS = "/admin/patients/patient/"
ODI = [(dt.date(2026, 3, 2), Decimal("40")), (dt.date(2026, 3, 16), Decimal("26"))]
ODI_SECTIONS = ["pain_intensity", "personal_care", "lifting", "walking", "sitting", "standing", "sleeping",
                "sex_life", "social_life", "travelling"]  # fmt: skip
ANSWERS = {  # baseline, then two weeks later
    "odi": (dict.fromkeys(ODI_SECTIONS, 2), dict(zip(ODI_SECTIONS, [1, 1, 2, 1, 1, 1, 1, 1, 1, 3], strict=True))),
    "psfs": ({"activity_1": 3, "activity_2": 4, "activity_3": 2}, {"activity_1": 6, "activity_2": 6, "activity_3": 5}),
    "nprs": ({"pain": 6}, {"pain": 5}),
}


def svg(**overrides) -> str:
    arguments = {
        "title": "Oswestry Disability Index (ODI)",
        "points": ODI,
        "low": Decimal(0),
        "high": Decimal(100),
        "higher_is_worse": True,
        "baseline": Decimal(40),
        "threshold": Decimal(10),
    }
    return charts.outcome_chart_svg(**{**arguments, **overrides})


def texts(document: str) -> list[str]:
    return [element.text for element in ET.fromstring(document).iter(f"{SVG_NS}text")]


# --- The SVG ------------------------------------------------------------------------------------------------


def test_the_chart_is_an_accessible_image_with_every_value_and_date_written():
    document = svg()
    root = ET.fromstring(document)  # well-formed XML
    assert root.tag == f"{SVG_NS}svg" and root.get("role") == "img"
    assert root.find(f"{SVG_NS}title").text == "Oswestry Disability Index (ODI)"
    desc = root.find(f"{SVG_NS}desc").text
    assert "40 on 2 Mar 2026; 26 on 16 Mar 2026" in desc and "Lower is better" in desc
    labels = texts(document)
    assert {"40", "26", "2 Mar", "16 Mar", "Lower is better"} <= set(labels)
    assert "<script" not in document and "style" not in document and "on" + "load" not in document


def test_the_baseline_is_a_labelled_line_and_the_meaningful_change_a_dashed_line_with_words():
    document = svg()
    labels = texts(document)
    assert "Baseline 40" in labels
    assert "Better: 30 or lower" in labels and "Worse: 50 or higher" in labels
    dashed = [line for line in ET.fromstring(document).iter(f"{SVG_NS}line") if line.get("stroke-dasharray")]
    assert {line.get("y1") for line in dashed} == {"155.6", "126.0"}  # 30 and 50 on 0–100 between y 200 and 52
    assert "Dashed lines: a meaningful change of 10 points from the baseline." in labels


def test_higher_is_better_turns_the_lines_round_and_a_line_outside_the_scale_is_left_out():
    labels = texts(
        svg(
            title="PSFS",
            points=[(dt.date(2026, 3, 2), Decimal("9.3"))],
            high=Decimal(10),
            higher_is_worse=False,
            baseline=Decimal("9.3"),
            threshold=Decimal(2),
        )
    )
    assert "Higher is better" in labels and "9.3" in labels
    assert "Worse: 7.3 or lower" in labels
    assert not [label for label in labels if label.startswith("Better")]  # 11.3 is off the 0–10 scale


def test_text_is_escaped_and_characters_xml_forbids_are_dropped():
    document = svg(title="Scores <script>alert(\"x\")</script> & 'more'\x00")
    assert "<script>" not in document
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;more&#x27;" in document
    root = ET.fromstring(document)
    assert root.find(f"{SVG_NS}title").text == "Scores <script>alert(\"x\")</script> & 'more'"


def test_no_points_is_an_empty_state_and_the_same_input_gives_the_same_bytes():
    empty = svg(points=[], baseline=None, threshold=None)
    assert "No scores yet" in texts(empty)
    assert ET.fromstring(empty).find(f"{SVG_NS}desc").text == "No scores yet."
    assert "<circle" not in empty and "stroke-dasharray" not in empty
    assert svg() == svg()
    assert svg(points=list(reversed(ODI))) == svg()  # drawn in date order whatever the order given


def test_the_meaningful_change_in_force_and_each_instruments_scale():
    assert charts.meaningful_change(scoring.ODI, Decimal(40)) == Decimal(10)  # 10 points before 30 % (12)
    assert charts.meaningful_change(scoring.ODI, Decimal(20)) == Decimal(6)  # 30 % of 20 is met first
    assert charts.meaningful_change(scoring.ODI, Decimal(0)) == Decimal(10)
    assert charts.meaningful_change(scoring.NPRS, Decimal(6)) == Decimal(2)
    assert charts.meaningful_change(scoring.NDI, Decimal(20)) == Decimal(5)
    assert charts.meaningful_change(scoring.PSFS, None) is None
    ten_items = [{"id": str(n), "low": 0, "high": 5} for n in range(10)]
    assert charts.scale(scoring.ODI, ten_items) == (0, 100)
    assert charts.scale(scoring.NDI, ten_items) == (0, 50)
    assert charts.scale(scoring.NPRS, [{"id": "pain", "low": 0, "high": 10}]) == (0, 10)


# --- Recorded measures --------------------------------------------------------------------------------------


def answered(patient, therapist, codes=("odi",)) -> None:
    """An episode opened two weeks ago using ``codes``, each answered at baseline and today, in the clinic."""
    today = patient.local_today()
    episode = factories.EpisodeFactory(
        patient=patient, opened_on=today - dt.timedelta(days=14), instruments=list(codes)
    )
    now = timezone.now()
    # Each occasion as it comes: an occasion unanswered when the next falls due is missed.
    for index, (day, taken) in enumerate(((episode.opened_on, now - dt.timedelta(days=14)), (today, now))):
        measures_schedule(episode=episode, today=day)
        for code in codes:
            row = MeasureDue.objects.get(episode=episode, instrument__code=code, due_on=day)
            named = ["Socks", "Sitting", "Lifting"] if code == "psfs" and index == 0 else None
            measure_respond(
                due=row, answers=ANSWERS[code][index], by=therapist, via="clinic", activities=named, now=taken
            )


def chart_url(code: str, patient=None) -> str:
    return f"/portal/outcomes/{code}.svg" + (f"?patient={patient.pk}" if patient is not None else "")


# --- The portal's chart -------------------------------------------------------------------------------------


def test_the_patient_gets_their_chart_as_svg_not_stored_and_the_read_is_logged(client, portal_user, patient, therapist):
    answered(patient, therapist)
    client.force_login(portal_user)
    before = AccessLog.objects.count()
    response = client.get(chart_url("odi", patient))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/svg+xml")
    assert "no-store" in response["Cache-Control"]
    document = response.content.decode()
    assert {"40", "26", "Baseline 40", "Better: 30 or lower"} <= set(texts(document))
    assert AccessLog.objects.count() == before + 1
    log = AccessLog.objects.latest("id")
    assert (log.patient_id, log.actor_id, log.what) == (patient.pk, portal_user.pk, "portal:outcome-chart")
    assert client.get(chart_url("odi")).content == response.content  # one patient: ?patient= may be left out


def test_an_instrument_not_answered_yet_is_the_empty_chart(client, portal_user, patient):
    client.force_login(portal_user)
    response = client.get(chart_url("ndi", patient))
    assert response.status_code == 200
    assert "No scores yet" in texts(response.content.decode())


def test_a_guardian_reads_each_wards_chart_and_must_say_which(client, patient, other_patient, therapist):
    guardian = factories.PortalAccessFactory(patient=patient, relationship="guardian").user
    factories.PortalAccessFactory(patient=other_patient, user=guardian, relationship="guardian")
    answered(patient, therapist)
    client.force_login(guardian)
    assert "26" in texts(client.get(chart_url("odi", patient)).content.decode())
    assert "No scores yet" in texts(client.get(chart_url("odi", other_patient)).content.decode())
    assert client.get(chart_url("odi")).status_code == 404  # two wards: which one?


def test_another_patients_chart_an_unknown_instrument_or_a_bad_id_is_not_found(
    client, other_portal_user, portal_user, patient, therapist
):
    answered(patient, therapist)
    client.force_login(other_portal_user)
    assert client.get(chart_url("odi", patient)).status_code == 404
    client.force_login(portal_user)
    assert client.get(chart_url("xyz", patient)).status_code == 404
    assert client.get("/portal/outcomes/odi.svg?patient=abc").status_code == 404


def test_staff_are_refused_and_anonymous_visitors_sent_to_sign_in(client, therapist, patient):
    response = client.get(chart_url("odi", patient))
    assert response.status_code == 302 and response["Location"].startswith("/portal/login?next=")
    client.force_login(therapist)
    assert client.get(chart_url("odi", patient)).status_code == 403


# --- The admin patient page ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["therapist", "clinic_admin"])
def test_the_patient_page_charts_each_instrument_with_the_latest_change_in_words(
    request, staff_client, patient, therapist, role
):
    answered(patient, therapist, codes=("odi", "nprs"))
    page = staff_client(request.getfixturevalue(role)).get(f"{PATIENTS}{patient.pk}/change/").content.decode()
    assert "Outcome measures" in page
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" role="img"') == 2
    assert "Better: 30 or lower" in page
    assert "ODI 26 on" in page and "14 points better than the baseline of 40" in page
    assert "a meaningful improvement (10 points)" in page
    assert "NPRS 5 on" in page and "1 point better than the baseline of 6" in page
    assert "not a meaningful change (that takes 2 points)" in page
    assert "No measure due." in page


def test_the_patient_page_lists_the_measures_due(staff_client, patient, therapist):
    episode = factories.EpisodeFactory(patient=patient, opened_on=patient.local_today())
    episode_instruments_set(episode=episode, codes=["nprs"], by=therapist)
    page = staff_client(therapist).get(f"{PATIENTS}{patient.pk}/change/").content.decode()
    assert "No outcome measure answered yet." in page
    today = patient.local_today()
    assert f"NPRS baseline, due {today:%a} {today.day} {today:%b %Y}" in page


def test_the_front_desk_does_not_see_outcome_measures(staff_client, front_desk, patient, therapist):
    answered(patient, therapist)
    page = staff_client(front_desk).get(f"{PATIENTS}{patient.pk}/change/").content.decode()
    assert "Outcome measures" not in page and 'role="img"' not in page


def test_the_patient_page_costs_the_same_queries_for_one_instrument_or_three(
    staff_client, patient, other_patient, therapist, count_queries
):
    answered(patient, therapist, codes=("nprs",))
    answered(other_patient, therapist, codes=("odi", "psfs", "nprs"))
    client = staff_client(therapist)
    assert client.get(f"{PATIENTS}{patient.pk}/change/").status_code == 200  # warm caches
    one = count_queries(lambda: client.get(f"{PATIENTS}{patient.pk}/change/"))
    three = count_queries(lambda: client.get(f"{PATIENTS}{other_patient.pk}/change/"))
    assert one == three
    assert MeasureResponse.objects.filter(patient=other_patient).count() == 6


# --- The read-only admins -----------------------------------------------------------------------------------


def test_the_measure_admins_are_read_only_and_log_their_reads(admin_client, patient, therapist):
    answered(patient, therapist)
    response = MeasureResponse.objects.filter(patient=patient).last()
    before = AccessLog.objects.count()
    page = admin_client.get(f"/admin/prescriptions/measureresponse/{response.pk}/change/")
    assert page.status_code == 200 and "Better (10 points)" in page.content.decode()
    assert AccessLog.objects.count() == before + 1
    assert admin_client.get("/admin/prescriptions/measuredue/").status_code == 200
    assert admin_client.get("/admin/prescriptions/measureresponse/add/").status_code == 403
