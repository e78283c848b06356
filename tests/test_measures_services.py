"""Outcome measures on the real database (issue 18, ``prescriptions.services.measures``): what falls due for an
episode (baseline on its first day, a follow-up every 14 days, the discharge measure; a follow-up left unanswered is
missed when the next falls due; an instrument dropped from the set is cancelled), the therapist's choice of
instruments, and a response: scored as published, compared with the episode's baseline, a 409 once answered, and one
flag per meaningful worsening.

Dates are fixed (an episode opened on Monday 2 March 2026) and ``today`` / ``now`` are passed to the services; only
the tests of the patient's zone and of the therapist's choice (which schedules up to the patient's today) read the
clock.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from clinic.errors import StateConflict
from clinic.models import Diagnosis, Instrument
from prescriptions.models import MeasureDue, MeasureResponse, SafetyFlag
from prescriptions.selectors.measures import episodes_needing_measures, patient_measures_due
from prescriptions.services.measures import episode_instruments_set, measure_respond, measures_schedule
from tests import factories

OPENED = dt.date(2026, 3, 2)
DAY = dt.timedelta(days=1)
NY = ZoneInfo("America/New_York")
Due = MeasureDue.Status
Occasion = MeasureDue.Occasion
CLINIC, PORTAL = MeasureResponse.Via.CLINIC, MeasureResponse.Via.PORTAL
LUMBAR, CERVICAL, HIP = "M54.50", "M54.2", "Z96.641"


@pytest.fixture
def episode(patient, therapist):
    return factories.EpisodeFactory(patient=patient, primary_therapist=therapist, opened_on=OPENED)


def diagnose(episode, code: str, *, own: bool = True, **fields):
    """The patient diagnosed with ``code``: for this episode (``own``) or on the patient's record only."""
    return factories.PatientDiagnosisFactory(
        patient=episode.patient,
        episode=episode if own else None,
        diagnosis=Diagnosis.objects.get(code=code),
        **{"onset_date": OPENED - 60 * DAY, **fields},
    )


def due_rows(episode) -> list[tuple[str, dt.date, str, str]]:
    return sorted(
        MeasureDue.objects.filter(episode=episode).values_list("instrument__code", "due_on", "occasion", "status")
    )


def due(episode, code: str, on: dt.date) -> MeasureDue:
    return MeasureDue.objects.get(episode=episode, instrument__code=code, due_on=on)


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=NY)


def respond(measure: MeasureDue, by, answers: dict, *, via=CLINIC, **kwargs) -> MeasureResponse:
    return measure_respond(due=measure, answers=answers, by=by, via=via, now=at(measure.due_on), **kwargs)


def odi(*sections: int | None) -> dict[str, int | None]:
    ids = Instrument.objects.get(code="odi").item_ids
    return dict(zip(ids, sections, strict=True))


def worsening_flags(patient):
    return SafetyFlag.objects.filter(patient=patient, kind=SafetyFlag.Kind.OUTCOME_WORSENING)


# --- What falls due ----------------------------------------------------------------------------------------------


def test_the_baseline_falls_due_on_the_first_day_for_each_instrument(episode):
    diagnose(episode, LUMBAR)
    assert measures_schedule(episode=episode, today=OPENED) == 3
    assert due_rows(episode) == [
        ("nprs", OPENED, Occasion.BASELINE, Due.DUE),
        ("odi", OPENED, Occasion.BASELINE, Due.DUE),
        ("psfs", OPENED, Occasion.BASELINE, Due.DUE),
    ]


def test_nothing_falls_due_before_the_episode_opens(episode):
    assert measures_schedule(episode=episode, today=OPENED - DAY) == 0
    assert due_rows(episode) == []


def test_follow_ups_fall_due_every_14_days_up_to_today(episode):
    episode.instruments = ["nprs"]
    episode.save()
    assert measures_schedule(episode=episode, today=OPENED + 27 * DAY) == 2
    assert [row[1:3] for row in due_rows(episode)] == [
        (OPENED, Occasion.BASELINE),
        (OPENED + 14 * DAY, Occasion.FOLLOW_UP),
    ]
    assert measures_schedule(episode=episode, today=OPENED + 42 * DAY) == 2
    assert [row[1] for row in due_rows(episode)] == [OPENED + n * DAY for n in (0, 14, 28, 42)]


def test_scheduling_again_creates_nothing_more(episode):
    diagnose(episode, LUMBAR)
    today = OPENED + 30 * DAY
    assert measures_schedule(episode=episode, today=today) == 9
    before = due_rows(episode)
    assert measures_schedule(episode=episode, today=today) == 0
    assert measures_schedule(episode=episode, today=today) == 0
    assert due_rows(episode) == before


def test_an_unanswered_follow_up_is_missed_when_the_next_falls_due(episode, therapist):
    episode.instruments = ["nprs"]
    episode.save()
    measures_schedule(episode=episode, today=OPENED + 14 * DAY)
    assert [row[3] for row in due_rows(episode)] == [Due.DUE, Due.DUE]
    measures_schedule(episode=episode, today=OPENED + 27 * DAY)
    assert [row[3] for row in due_rows(episode)] == [Due.DUE, Due.DUE]  # the next is not due yet
    measures_schedule(episode=episode, today=OPENED + 28 * DAY)
    # The baseline stays due (every later one is compared with it); the unanswered follow-up is missed.
    assert [row[2:] for row in due_rows(episode)] == [
        (Occasion.BASELINE, Due.DUE),
        (Occasion.FOLLOW_UP, Due.MISSED),
        (Occasion.FOLLOW_UP, Due.DUE),
    ]


def test_an_answered_follow_up_stays_done_when_the_next_falls_due(episode, therapist):
    episode.instruments = ["nprs"]
    episode.save()
    measures_schedule(episode=episode, today=OPENED + 14 * DAY)
    respond(due(episode, "nprs", OPENED), therapist, {"pain": 5})
    respond(due(episode, "nprs", OPENED + 14 * DAY), therapist, {"pain": 4})
    measures_schedule(episode=episode, today=OPENED + 28 * DAY)
    assert [row[3] for row in due_rows(episode)] == [Due.DONE, Due.DONE, Due.DUE]


def test_the_discharge_measure_falls_due_on_the_discharge_day_and_ends_the_follow_ups(episode):
    episode.instruments = ["nprs"]
    episode.discharged_on = OPENED + 20 * DAY
    episode.save()
    measures_schedule(episode=episode, today=OPENED + 60 * DAY)
    assert [row[1:] for row in due_rows(episode)] == [
        (OPENED, Occasion.BASELINE, Due.DUE),
        (OPENED + 14 * DAY, Occasion.FOLLOW_UP, Due.MISSED),
        (OPENED + 20 * DAY, Occasion.DISCHARGE, Due.DUE),
    ]


def test_a_discharge_on_a_follow_up_day_is_the_discharge_measure(episode):
    episode.instruments = ["nprs"]
    episode.discharged_on = OPENED + 28 * DAY
    episode.save()
    measures_schedule(episode=episode, today=OPENED + 30 * DAY)
    assert [row[1:3] for row in due_rows(episode)] == [
        (OPENED, Occasion.BASELINE),
        (OPENED + 14 * DAY, Occasion.FOLLOW_UP),
        (OPENED + 28 * DAY, Occasion.DISCHARGE),
    ]


def test_the_discharge_measure_waits_for_its_day(episode):
    episode.instruments = ["nprs"]
    episode.discharged_on = OPENED + 20 * DAY
    episode.save()
    measures_schedule(episode=episode, today=OPENED + 19 * DAY)
    assert Occasion.DISCHARGE not in [row[2] for row in due_rows(episode)]


def test_follow_ups_fall_due_up_to_today_in_the_patients_zone(clinic, therapist):
    """Kiritimati (UTC+14) and Pago Pago (UTC−11) are 25 hours apart: their dates always differ. An episode opened
    14 days before Kiritimati's today has its follow-up due there, and not yet in Pago Pago."""
    ahead = factories.PatientFactory(clinic=clinic, timezone="Pacific/Kiritimati")
    behind = factories.PatientFactory(clinic=clinic, timezone="Pacific/Pago_Pago")
    opened = ahead.local_today() - 14 * DAY
    assert behind.local_today() < ahead.local_today()
    episodes = {
        patient.timezone: factories.EpisodeFactory(patient=patient, opened_on=opened, instruments=["nprs"])
        for patient in (ahead, behind)
    }
    for episode in episodes.values():
        measures_schedule(episode=episode)
    assert [row[1] for row in due_rows(episodes["Pacific/Kiritimati"])] == [opened, opened + 14 * DAY]
    assert [row[1] for row in due_rows(episodes["Pacific/Pago_Pago"])] == [opened]


# --- The instruments an episode uses -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codes", "instruments"),
    [
        ([LUMBAR], ["nprs", "odi", "psfs"]),
        ([CERVICAL], ["ndi", "nprs", "psfs"]),
        ([HIP], ["nprs", "psfs"]),
        ([LUMBAR, CERVICAL], ["ndi", "nprs", "odi", "psfs"]),
        ([], ["nprs", "psfs"]),
    ],
    ids=["lumbar", "cervical", "hip", "lumbar and cervical", "none recorded"],
)
def test_the_default_set_follows_the_episodes_diagnoses(episode, codes, instruments):
    for code in codes:
        diagnose(episode, code)
    measures_schedule(episode=episode, today=OPENED)
    assert [row[0] for row in due_rows(episode)] == instruments


def test_without_diagnoses_of_its_own_the_episode_uses_the_patients_active_on_its_first_day(episode):
    diagnose(episode, CERVICAL, own=False)
    diagnose(episode, LUMBAR, own=False, onset_date=OPENED - 90 * DAY, resolved_date=OPENED - 10 * DAY)
    diagnose(episode, HIP, own=False, onset_date=OPENED + 5 * DAY)  # not yet on its first day
    measures_schedule(episode=episode, today=OPENED)
    assert [row[0] for row in due_rows(episode)] == ["ndi", "nprs", "psfs"]


def test_the_episodes_own_diagnoses_come_before_the_patients(episode):
    diagnose(episode, CERVICAL, own=False)
    diagnose(episode, HIP)
    measures_schedule(episode=episode, today=OPENED)
    assert [row[0] for row in due_rows(episode)] == ["nprs", "psfs"]


def test_the_therapist_chooses_the_instruments_and_what_is_due_follows(patient, therapist):
    episode = factories.EpisodeFactory(patient=patient, opened_on=patient.local_today())
    diagnose(episode, LUMBAR)
    measures_schedule(episode=episode)
    assert [row[0] for row in due_rows(episode)] == ["nprs", "odi", "psfs"]

    chosen = episode_instruments_set(episode=episode, codes=["ndi", "nprs", "ndi"], by=therapist)

    chosen.refresh_from_db()
    assert chosen.instruments == ["ndi", "nprs"]
    assert {(row[0], row[3]) for row in due_rows(episode)} == {
        ("ndi", Due.DUE),
        ("nprs", Due.DUE),
        ("odi", Due.CANCELLED),
        ("psfs", Due.CANCELLED),
    }


def test_an_instrument_dropped_from_the_set_is_cancelled_but_its_answers_stay(episode, therapist):
    episode.instruments = ["nprs", "odi"]
    episode.save()
    measures_schedule(episode=episode, today=OPENED + 14 * DAY)
    respond(due(episode, "odi", OPENED), therapist, odi(2, 2, 2, 2, 2, 2, 2, 2, 2, 2))
    episode.instruments = ["nprs"]
    episode.save()
    measures_schedule(episode=episode, today=OPENED + 14 * DAY)
    assert [row for row in due_rows(episode) if row[0] == "odi"] == [
        ("odi", OPENED, Occasion.BASELINE, Due.DONE),
        ("odi", OPENED + 14 * DAY, Occasion.FOLLOW_UP, Due.CANCELLED),
    ]
    assert MeasureResponse.objects.filter(episode=episode, instrument__code="odi").count() == 1


def test_an_empty_choice_is_the_default_for_the_diagnoses(patient, therapist):
    episode = factories.EpisodeFactory(patient=patient, opened_on=patient.local_today(), instruments=["nprs"])
    diagnose(episode, CERVICAL)
    episode_instruments_set(episode=episode, codes=[], by=therapist)
    episode.refresh_from_db()
    assert episode.instruments == []
    assert [row[0] for row in due_rows(episode)] == ["ndi", "nprs", "psfs"]


def test_an_unknown_instrument_is_refused(episode, therapist):
    with pytest.raises(ValidationError) as refused:
        episode_instruments_set(episode=episode, codes=["nprs", "sf36"], by=therapist)
    assert set(refused.value.message_dict) == {"instruments"}
    assert "sf36" in refused.value.message_dict["instruments"][0]
    episode.refresh_from_db()
    assert episode.instruments == []


@pytest.mark.parametrize("who", ["front_desk", "clinic_admin", "other_therapist", "superuser"])
def test_only_the_clinics_therapists_choose_the_instruments(request, episode, who):
    by = factories.UserFactory(is_superuser=True, is_staff=True) if who == "superuser" else request.getfixturevalue(who)
    with pytest.raises(PermissionDenied):
        episode_instruments_set(episode=episode, codes=["nprs"], by=by)
    episode.refresh_from_db()
    assert episode.instruments == []


# --- A response ---------------------------------------------------------------------------------------------------


def test_the_baseline_is_scored_and_stored_without_a_change(episode, therapist):
    episode.instruments = ["odi"]
    episode.save()
    measures_schedule(episode=episode, today=OPENED)
    measure = due(episode, "odi", OPENED)

    response = respond(measure, therapist, odi(2, 2, 2, 2, 2, 2, 2, 1, 1, None))

    response.refresh_from_db()
    assert (response.score, response.percent) == (Decimal("35.6"), Decimal("35.6"))
    assert response.baseline is None
    assert response.change is None
    assert (response.improved, response.worsened, response.threshold) == (False, False, "")
    assert response.answers["travelling"] is None
    assert (response.entered_by, response.via, response.taken_at) == (therapist, CLINIC, at(OPENED))
    measure.refresh_from_db()
    assert measure.status == Due.DONE


def test_a_follow_up_is_compared_with_the_episodes_baseline(episode, therapist):
    episode.instruments = ["odi"]
    episode.save()
    measures_schedule(episode=episode, today=OPENED + 28 * DAY)
    baseline = respond(due(episode, "odi", OPENED), therapist, odi(2, 2, 2, 2, 2, 2, 2, 1, 1, None))
    first = respond(due(episode, "odi", OPENED + 28 * DAY), therapist, odi(1, 1, 1, 1, 1, 1, 1, 1, 1, 1))

    first.refresh_from_db()
    assert first.baseline == baseline
    assert (first.score, first.change) == (Decimal("20.0"), Decimal("-15.6"))
    assert (first.improved, first.worsened, first.threshold) == (True, False, "10 points")
    assert not worsening_flags(episode.patient).exists()


def test_the_ndi_stores_its_raw_score_and_percent(episode, therapist):
    episode.instruments = ["ndi"]
    episode.save()
    measures_schedule(episode=episode, today=OPENED)
    ids = Instrument.objects.get(code="ndi").item_ids
    answers = dict(zip(ids, [None, 2, 2, 2, 2, 2, 1, 1, 1, None], strict=True))
    response = respond(due(episode, "ndi", OPENED), therapist, answers)
    response.refresh_from_db()
    assert (response.score, response.percent) == (Decimal("16.3"), Decimal("32.5"))


@pytest.mark.parametrize(
    ("code", "answers", "field"),
    [
        ("nprs", {"pain": 11}, "answers.pain"),
        ("nprs", {}, "answers.pain"),
        ("nprs", {"pain": 3, "mood": 1}, "answers.mood"),
        ("odi", {"pain_intensity": 2}, "answers"),
    ],
)
def test_answers_that_cannot_be_scored_are_refused_by_field(episode, therapist, code, answers, field):
    episode.instruments = [code]
    episode.save()
    measures_schedule(episode=episode, today=OPENED)
    measure = due(episode, code, OPENED)
    with pytest.raises(ValidationError) as refused:
        respond(measure, therapist, answers)
    assert field in refused.value.message_dict
    measure.refresh_from_db()
    assert measure.status == Due.DUE
    assert not MeasureResponse.objects.exists()


def test_psfs_activities_are_named_at_baseline_and_rated_again_later(episode, therapist):
    episode.instruments = ["psfs"]
    episode.save()
    measures_schedule(episode=episode, today=OPENED + 14 * DAY)
    named = ["  Putting on socks ", "Lifting my grandson", "Walking to the shop"]
    baseline = respond(
        due(episode, "psfs", OPENED),
        therapist,
        {"activity_1": 2, "activity_2": 3, "activity_3": 3},
        activities=named,
    )
    assert baseline.activities == ["Putting on socks", "Lifting my grandson", "Walking to the shop"]
    assert baseline.score == Decimal("2.7")

    later = respond(
        due(episode, "psfs", OPENED + 14 * DAY), therapist, {"activity_1": 5, "activity_2": 5, "activity_3": 4}
    )

    later.refresh_from_db()
    assert later.activities == baseline.activities
    assert (later.score, later.change, later.improved, later.threshold) == (
        Decimal("4.7"),
        Decimal("2.0"),
        True,
        "2 points on the mean",
    )


@pytest.mark.parametrize(
    "named", [[], ["Socks", "Stairs"], ["Socks", "Stairs", "  ", ""], [f"Activity {n}" for n in range(6)]]
)
def test_psfs_baseline_needs_3_to_5_activities(episode, therapist, named):
    episode.instruments = ["psfs"]
    episode.save()
    measures_schedule(episode=episode, today=OPENED)
    with pytest.raises(ValidationError) as refused:
        respond(due(episode, "psfs", OPENED), therapist, {"activity_1": 2, "activity_2": 3}, activities=named)
    assert set(refused.value.message_dict) == {"activities"}


def test_psfs_follow_up_rates_the_baselines_activities_only(episode, therapist):
    episode.instruments = ["psfs"]
    episode.save()
    measures_schedule(episode=episode, today=OPENED + 14 * DAY)
    respond(
        due(episode, "psfs", OPENED),
        therapist,
        {"activity_1": 2, "activity_2": 3, "activity_3": 3},
        activities=["Socks", "Stairs", "Shopping"],
    )
    later = due(episode, "psfs", OPENED + 14 * DAY)
    with pytest.raises(ValidationError) as other_activities:
        respond(later, therapist, {"activity_1": 5, "activity_2": 5, "activity_3": 5}, activities=["Golf", "A", "B"])
    assert set(other_activities.value.message_dict) == {"activities"}
    with pytest.raises(ValidationError) as a_fourth:
        respond(later, therapist, {"activity_1": 5, "activity_2": 5, "activity_3": 5, "activity_4": 5})
    assert set(a_fourth.value.message_dict) == {"answers.activity_4"}
    later.refresh_from_db()
    assert later.status == Due.DUE


def test_a_measure_is_answered_once(episode, therapist):
    episode.instruments = ["nprs"]
    episode.save()
    measures_schedule(episode=episode, today=OPENED)
    measure = due(episode, "nprs", OPENED)
    respond(measure, therapist, {"pain": 4})
    with pytest.raises(StateConflict):
        respond(measure, therapist, {"pain": 2})
    assert list(MeasureResponse.objects.values_list("score", flat=True)) == [Decimal("4.0")]


@pytest.mark.parametrize("status", [Due.MISSED, Due.CANCELLED])
def test_a_measure_no_longer_due_is_a_conflict(episode, therapist, status):
    episode.instruments = ["nprs"]
    episode.save()
    measures_schedule(episode=episode, today=OPENED)
    measure = due(episode, "nprs", OPENED)
    MeasureDue.objects.filter(pk=measure.pk).update(status=status)
    with pytest.raises(StateConflict):
        respond(measure, therapist, {"pain": 4})


def test_a_discharged_episode_takes_only_its_discharge_measure(episode, therapist):
    episode.instruments = ["nprs"]
    episode.discharged_on = OPENED + 20 * DAY
    episode.save()
    measures_schedule(episode=episode, today=OPENED + 20 * DAY)
    with pytest.raises(StateConflict):
        respond(due(episode, "nprs", OPENED + 14 * DAY), therapist, {"pain": 4})
    discharge = respond(due(episode, "nprs", OPENED + 20 * DAY), therapist, {"pain": 1})
    assert discharge.due.occasion == Occasion.DISCHARGE


# --- The worsening flag -------------------------------------------------------------------------------------------


def test_a_meaningful_worsening_raises_one_flag_per_response(episode, therapist):
    episode.instruments = ["nprs"]
    episode.save()
    measures_schedule(episode=episode, today=OPENED + 14 * DAY)
    respond(due(episode, "nprs", OPENED), therapist, {"pain": 3})
    worse = respond(due(episode, "nprs", OPENED + 14 * DAY), therapist, {"pain": 6})

    assert (worse.worsened, worse.change, worse.threshold) == (True, Decimal("3.0"), "2 points")
    flag = worsening_flags(episode.patient).get()
    assert flag.cause_key == f"measure:{worse.pk}"
    assert flag.status == SafetyFlag.Status.OPEN
    assert flag.details["instrument"] == "nprs"
    assert "NPRS" in flag.summary and "3 at baseline, 6 now" in flag.summary

    with pytest.raises(StateConflict):  # posting the same response again raises none
        respond(due(episode, "nprs", OPENED + 14 * DAY), therapist, {"pain": 6})
    assert worsening_flags(episode.patient).count() == 1

    measures_schedule(episode=episode, today=OPENED + 28 * DAY)
    still_worse = respond(due(episode, "nprs", OPENED + 28 * DAY), therapist, {"pain": 7})
    assert sorted(worsening_flags(episode.patient).values_list("cause_key", flat=True)) == sorted(
        [f"measure:{worse.pk}", f"measure:{still_worse.pk}"]
    )


@pytest.mark.parametrize(("later", "direction"), [(1, "improved"), (4, "neither"), (5, "neither")])
def test_an_improvement_or_a_small_change_raises_no_flag(episode, therapist, later, direction):
    episode.instruments = ["nprs"]
    episode.save()
    measures_schedule(episode=episode, today=OPENED + 14 * DAY)
    respond(due(episode, "nprs", OPENED), therapist, {"pain": 4})
    response = respond(due(episode, "nprs", OPENED + 14 * DAY), therapist, {"pain": later})
    assert response.improved is (direction == "improved")
    assert response.worsened is False
    assert not worsening_flags(episode.patient).exists()


def test_one_psfs_activity_3_points_worse_raises_a_flag(episode, therapist):
    episode.instruments = ["psfs"]
    episode.save()
    measures_schedule(episode=episode, today=OPENED + 14 * DAY)
    respond(
        due(episode, "psfs", OPENED),
        therapist,
        {"activity_1": 6, "activity_2": 6, "activity_3": 6},
        activities=["Socks", "Stairs", "Shopping"],
    )
    worse = respond(
        due(episode, "psfs", OPENED + 14 * DAY), therapist, {"activity_1": 3, "activity_2": 6, "activity_3": 6}
    )
    assert (worse.worsened, worse.threshold) == (True, "3 points on one activity")
    assert worsening_flags(episode.patient).get().cause_key == f"measure:{worse.pk}"


# --- Who may enter a response -------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["therapist", "front_desk"])
def test_the_clinics_therapists_and_front_desk_enter_a_response_taken_in_the_clinic(request, episode, who):
    episode.instruments = ["nprs"]
    episode.save()
    measures_schedule(episode=episode, today=OPENED)
    by = request.getfixturevalue(who)
    response = respond(due(episode, "nprs", OPENED), by, {"pain": 4})
    assert (response.entered_by, response.via) == (by, CLINIC)


@pytest.mark.parametrize("who", ["clinic_admin", "other_therapist"])
def test_a_clinic_admin_or_another_clinics_staff_may_not(request, episode, who):
    episode.instruments = ["nprs"]
    episode.save()
    measures_schedule(episode=episode, today=OPENED)
    measure = due(episode, "nprs", OPENED)
    with pytest.raises(PermissionDenied):
        respond(measure, request.getfixturevalue(who), {"pain": 4})
    measure.refresh_from_db()
    assert measure.status == Due.DUE
    assert not MeasureResponse.objects.exists()


def test_the_patient_answers_in_the_portal(episode, portal_user):
    episode.instruments = ["nprs"]
    episode.save()
    measures_schedule(episode=episode, today=OPENED)
    response = respond(due(episode, "nprs", OPENED), portal_user, {"pain": 4}, via=PORTAL)
    assert (response.entered_by, response.via, response.score) == (portal_user, PORTAL, Decimal("4.0"))
    assert response.taken_at == at(OPENED)
    assert timezone.is_aware(response.taken_at)


# --- Found by these tests and fixed --------------------------------------------------------------------------


def test_an_instrument_chosen_again_is_due_again(episode):
    episode.instruments = ["nprs", "odi"]
    episode.save()
    measures_schedule(episode=episode, today=OPENED)
    episode.instruments = ["nprs"]
    episode.save()
    measures_schedule(episode=episode, today=OPENED)
    episode.instruments = ["nprs", "odi"]
    episode.save()
    measures_schedule(episode=episode, today=OPENED)
    assert due(episode, "odi", OPENED).status == Due.DUE


def test_the_discharge_measure_is_listed_for_the_patient(episode):

    episode.instruments = ["nprs"]
    episode.discharged_on = OPENED + 20 * DAY
    episode.save()
    measures_schedule(episode=episode, today=OPENED + 20 * DAY)
    assert Occasion.DISCHARGE in [m.occasion for m in patient_measures_due(episode.patient)]


# --- Found in review ---------------------------------------------------------------------------------------------


def test_answering_a_later_occasion_first_makes_it_the_baseline_and_the_older_one_missed(episode, therapist):
    episode.instruments = ["nprs"]
    episode.save()
    measures_schedule(episode=episode, today=OPENED + 14 * DAY)
    later = respond(due(episode, "nprs", OPENED + 14 * DAY), therapist, {"pain": 8})

    assert due(episode, "nprs", OPENED).status == Due.MISSED
    with pytest.raises(StateConflict):
        respond(due(episode, "nprs", OPENED), therapist, {"pain": 2})
    later.refresh_from_db()
    assert (later.baseline, later.change) == (None, None)  # the first answered is the baseline


def test_instruments_are_not_chosen_for_a_discharged_episode(episode, therapist):
    episode.discharged_on = OPENED + 20 * DAY
    episode.save()
    with pytest.raises(StateConflict):
        episode_instruments_set(episode=episode, codes=["psfs"], by=therapist)
    assert not MeasureDue.objects.filter(episode=episode).exists()


def test_an_instrument_added_mid_episode_starts_the_day_it_is_added(episode, therapist):
    episode.instruments = ["nprs"]
    episode.save()
    measures_schedule(episode=episode, today=OPENED + 30 * DAY)
    episode.instruments = ["nprs", "odi"]
    episode.save()
    measures_schedule(episode=episode, today=OPENED + 30 * DAY)

    assert [r for r in due_rows(episode) if r[0] == "odi"] == [("odi", OPENED + 30 * DAY, "baseline", "due")]


def test_a_measure_dated_after_a_backdated_discharge_is_cancelled(episode, therapist):
    episode.instruments = ["nprs"]
    episode.save()
    measures_schedule(episode=episode, today=OPENED + 28 * DAY)
    episode.discharged_on = OPENED + 20 * DAY
    episode.save()
    measures_schedule(episode=episode, today=OPENED + 28 * DAY)

    assert due(episode, "nprs", OPENED + 28 * DAY).status == Due.CANCELLED
    assert due(episode, "nprs", OPENED + 20 * DAY).occasion == "discharge"


def test_psfs_activities_are_named_once_each(episode, therapist):
    episode.instruments = ["psfs"]
    episode.save()
    measures_schedule(episode=episode, today=OPENED)
    with pytest.raises(ValidationError) as refused:
        respond(
            due(episode, "psfs", OPENED),
            therapist,
            {"activity_1": 5, "activity_2": 5, "activity_3": 5},
            activities=["Walking", "walking ", "Sitting"],
        )
    assert "activities" in refused.value.message_dict


def test_the_sweep_selects_only_episodes_with_an_occasion_to_create(patient, therapist):
    today = timezone.now().date()
    fresh = factories.EpisodeFactory(patient=patient, opened_on=today, instruments=["nprs"])
    done = factories.EpisodeFactory(patient=patient, opened_on=today, instruments=["nprs"])
    measures_schedule(episode=done, today=today)

    assert set(episodes_needing_measures(limit=10)) == {fresh}
