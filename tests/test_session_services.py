"""Session log and skip services: state and window refusals, access, and the pain/red-flag flags they raise."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from clinic.errors import StateConflict
from clinic.models import Diagnosis
from patients.models import PortalAccess
from prescriptions.gate.pain import (
    NOT_ANSWERED,
    NOT_ASKED,
    NOT_YES_OR_NO,
    PAIN_ADVICE,
)
from prescriptions.models import Prescription, RedFlagQuestion, SafetyFlag, Session, SessionLog
from prescriptions.services.sessions import log_window, session_log_create, session_skip
from tests import factories

Status = Session.Status
UTC = dt.UTC


def active_plan(patient, *, items=2, start_date=None):
    plan = factories.PrescriptionFactory(
        episode__patient=patient,
        status=Prescription.Status.ACTIVE,
        start_date=start_date or patient.local_today() - dt.timedelta(days=10),
    )
    factories.PrescriptionItemFactory.create_batch(items, prescription=plan)
    return plan


@pytest.fixture
def plan(patient):
    return active_plan(patient)


@pytest.fixture
def session(plan, patient):
    return factories.SessionFactory(prescription=plan, local_date=patient.local_today())


@pytest.fixture
def clock(monkeypatch):
    """``clock(instant)`` freezes django.utils.timezone.now() at ``instant``."""

    def freeze(instant: dt.datetime) -> None:
        monkeypatch.setattr(timezone, "now", lambda: instant)

    return freeze


def log(session, by, *, yes=(), **given):
    """Log ``session`` answering each of its red-flag questions no, except those in ``yes``."""
    answers = factories.no_red_flags(session, **dict.fromkeys(yes, True))
    values = {"pain_before": 2, "pain_after": 2, "answers": answers, **given}
    return session_log_create(session=session, by=by, **values)


def advice_of(slug):
    return RedFlagQuestion.objects.get(slug=slug).advice


def flags_of(patient, kind=None):
    rows = SafetyFlag.objects.filter(patient=patient)
    return list(rows.filter(kind=kind) if kind else rows)


# --- Logging ------------------------------------------------------------------------------------------


def test_logging_completes_the_session_and_keeps_the_answers(session, portal_user, plan):
    item_ids = list(plan.items.values_list("id", flat=True))
    outcome = log(
        session,
        portal_user,
        pain_before=3,
        pain_after=2,
        difficulty=4,
        item_completion={str(item_ids[0]): True, item_ids[1]: False},
        note="  Felt stiff at first.  ",
    )
    saved = SessionLog.objects.get(session=session)
    assert outcome.log == saved and outcome.advice is None and outcome.flags == []
    assert saved.logged_by == portal_user and saved.difficulty == 4 and saved.note == "Felt stiff at first."
    assert saved.item_completion == {str(item_ids[0]): True, str(item_ids[1]): False}
    session.refresh_from_db()
    assert session.status == Status.COMPLETED
    assert not SafetyFlag.objects.exists()


def test_a_guardian_may_log(session, patient):
    guardian = factories.PortalAccessFactory(patient=patient, relationship=PortalAccess.Relationship.GUARDIAN).user
    assert log(session, guardian).log.logged_by == guardian


@pytest.mark.parametrize("who", ["other_portal_user", "therapist"])
def test_someone_without_portal_access_to_the_patient_is_refused(request, session, who):
    with pytest.raises(PermissionDenied):
        log(session, request.getfixturevalue(who))
    with pytest.raises(PermissionDenied):
        session_skip(session=session, by=request.getfixturevalue(who))
    session.refresh_from_db()
    assert session.status == Status.SCHEDULED and not SessionLog.objects.exists()


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({"pain_before": 11}, "pain_before"),
        ({"pain_after": -1}, "pain_after"),
        ({"difficulty": 0}, "difficulty"),
        ({"difficulty": 6}, "difficulty"),
        ({"answers": {"saddle_numbness": "yes"}}, "answers.saddle_numbness"),
        ({"answers": ["saddle_numbness"]}, "answers"),
        ({"hurt_items": "12"}, "hurt_items"),
        ({"note": "x" * 2001}, "note"),
    ],
)
def test_bad_answers_are_field_errors(session, portal_user, answers, field):
    with pytest.raises(ValidationError) as refused:
        log(session, portal_user, **answers)
    assert field in refused.value.message_dict
    session.refresh_from_db()
    assert session.status == Status.SCHEDULED


def test_item_completion_names_only_items_of_the_sessions_plan(session, portal_user, patient):
    stranger = active_plan(patient, items=1).items.get()
    with pytest.raises(ValidationError) as refused:
        log(session, portal_user, item_completion={str(stranger.pk): True})
    assert str(stranger.pk) in refused.value.message_dict["item_completion"][0]
    with pytest.raises(ValidationError, match="item_completion"):
        log(session, portal_user, item_completion={"first": True})
    assert not SessionLog.objects.exists()


# --- Refusals (409) -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (Status.BLOCKED, "on hold while your clinic reviews a safety concern"),
        (Status.CANCELLED, "it was cancelled"),
        (Status.COMPLETED, "it is already logged"),
        (Status.SKIPPED, "it was skipped"),
        (Status.MISSED, "it was missed"),
    ],
)
def test_only_a_scheduled_session_can_be_logged_or_skipped(session, portal_user, status, reason):
    Session.objects.filter(pk=session.pk).update(status=status)
    with pytest.raises(StateConflict, match=reason) as refused:
        log(session, portal_user)
    assert refused.value.detail.startswith("This session cannot be logged")
    with pytest.raises(StateConflict, match=reason):
        session_skip(session=session, by=portal_user)
    assert not SessionLog.objects.exists()
    session.refresh_from_db()
    assert session.status == status


def test_a_session_of_an_archived_patient_cannot_be_logged(session, portal_user, plan, patient, front_desk):
    """The portal hides archived patients; the service refuses too, for a request that was already past that."""
    from patients.services import patient_archive

    Prescription.objects.filter(pk=plan.pk).update(status=Prescription.Status.COMPLETED)
    patient_archive(patient=patient, by=front_desk)
    with pytest.raises(StateConflict, match="archived"):
        session_log_create(session=session, by=portal_user, pain_before=2, pain_after=2, answers={})
    assert not SessionLog.objects.filter(session=session).exists()


def test_with_every_screening_question_switched_off_a_log_is_refused_not_read_as_no(session, portal_user):
    """Fail closed: questions nobody was asked are not answers of "no symptoms"."""
    RedFlagQuestion.objects.filter(plan_regions=[], diagnoses=[]).update(active=False)
    with pytest.raises(StateConflict, match="screening questions are switched off"):
        session_log_create(session=session, by=portal_user, pain_before=2, pain_after=2, answers={})
    assert not SessionLog.objects.filter(session=session).exists()


def test_a_session_is_logged_once(session, portal_user):
    log(session, portal_user)
    with pytest.raises(StateConflict, match="already logged"):
        log(session, portal_user)
    assert SessionLog.objects.count() == 1


@pytest.mark.parametrize(
    ("days_from_today", "refusal"),
    [
        (1, "cannot be logged yet"),  # tomorrow's session
        (0, None),
        (-1, None),  # yesterday's: the window runs through today
        (-2, "can no longer be logged"),
    ],
)
def test_the_log_window_by_local_date(plan, patient, portal_user, days_from_today, refusal):
    session = factories.SessionFactory(
        prescription=plan, local_date=patient.local_today() + dt.timedelta(days=days_from_today)
    )
    if refusal:
        with pytest.raises(StateConflict, match=refusal):
            log(session, portal_user)
        with pytest.raises(StateConflict, match=refusal.replace("logged", "skipped")):
            session_skip(session=session, by=portal_user)
    else:
        log(session, portal_user)


# Far from UTC on both sides: the window follows the patient's local days, not UTC's.
D = dt.date(2026, 6, 10)


@pytest.mark.parametrize(
    ("zone", "local_date", "opens", "closes"),
    [
        ("Pacific/Kiritimati", D, dt.datetime(2026, 6, 9, 10, tzinfo=UTC), dt.datetime(2026, 6, 11, 10, tzinfo=UTC)),
        ("Pacific/Pago_Pago", D, dt.datetime(2026, 6, 10, 11, tzinfo=UTC), dt.datetime(2026, 6, 12, 11, tzinfo=UTC)),
        ("UTC", D, dt.datetime(2026, 6, 10, tzinfo=UTC), dt.datetime(2026, 6, 12, tzinfo=UTC)),
        # spring forward on Sunday 8 March 2026: the window is 47 hours long
        (
            "America/New_York",
            dt.date(2026, 3, 7),
            dt.datetime(2026, 3, 7, 5, tzinfo=UTC),
            dt.datetime(2026, 3, 9, 4, tzinfo=UTC),
        ),
    ],
)
def test_log_window_runs_from_local_midnight_to_the_end_of_the_next_local_day(zone, local_date, opens, closes):
    patient = factories.PatientFactory.build(timezone=zone)
    assert log_window(patient=patient, local_date=local_date) == (opens, closes)


TINY = dt.timedelta(microseconds=1)


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
@pytest.mark.parametrize(
    ("edge", "shift", "refusal"),
    [
        ("opens", -TINY, "yet"),
        ("opens", dt.timedelta(0), None),
        ("closes", -TINY, None),
        ("closes", dt.timedelta(0), "no longer"),
    ],
)
def test_log_window_edges_far_from_utc(clinic, clock, zone, edge, shift, refusal):
    patient = factories.PatientFactory(clinic=clinic, timezone=zone)
    user = factories.PortalAccessFactory(patient=patient).user
    plan = active_plan(patient, start_date=D)
    session = factories.SessionFactory(prescription=plan, local_date=D)
    start_of_day = dt.datetime.combine(D, dt.time.min, tzinfo=ZoneInfo(zone))
    instant = {"opens": start_of_day, "closes": start_of_day + dt.timedelta(days=2)}[edge] + shift
    clock(instant.astimezone(UTC))
    if refusal:
        with pytest.raises(StateConflict, match=refusal):
            log(session, user)
        with pytest.raises(StateConflict, match=refusal):
            session_skip(session=session, by=user)
    else:
        assert log(session, user).log.logged_at == instant


# --- Pain and red flags -------------------------------------------------------------------------------

URGENT, WARNING = SafetyFlag.Severity.URGENT, SafetyFlag.Severity.WARNING


@pytest.mark.parametrize(
    ("before", "after", "severity", "says"),
    [
        (5, 5, None, None),  # 5 after: acceptable
        (5, 6, WARNING, "above the 5/10"),  # 6 after: lower the dose
        (6, 6, WARNING, "above the 5/10"),
        (6, 7, URGENT, PAIN_ADVICE),  # 7: stop, the plan is held
        (7, 6, URGENT, PAIN_ADVICE),
        (3, 4, None, None),  # after − before = 1
        (3, 5, WARNING, "went up by 2 points"),  # after − before = 2: the clinic hears of it, the patient carries on
        (5, 3, None, None),
    ],
)
def test_pain_escalation_at_the_edges(session, portal_user, patient, before, after, severity, says):
    outcome = log(session, portal_user, pain_before=before, pain_after=after)
    flags = flags_of(patient)
    if severity is None:
        assert flags == [] and outcome.flags == [] and outcome.advice is None
        return
    assert says in outcome.advice
    (flag,) = flags
    assert outcome.flags == [flag]
    assert flag.kind == SafetyFlag.Kind.PAIN_ESCALATION and flag.severity == severity  # told to stop: plan held
    assert flag.cause_key == f"log:{outcome.log.pk}" and flag.status == SafetyFlag.Status.OPEN
    assert flag.prescription_id == session.prescription_id
    assert flag.details["log"] == outcome.log.pk and flag.details["pain_after"] == after


def test_high_and_rising_pain_in_one_log_open_one_flag(session, portal_user, patient):
    outcome = log(session, portal_user, pain_before=4, pain_after=8)
    (flag,) = flags_of(patient)
    assert [s["code"] for s in flag.details["signals"]] == ["pain_high", "pain_rise"]
    assert "8/10" in flag.summary and "rose by 4" in flag.summary
    assert outcome.advice.startswith("Your pain was 8/10 after the session") and PAIN_ADVICE in outcome.advice


def test_pain_above_5_names_the_stretches_that_hurt_and_holds_nothing(plan, session, portal_user, patient):
    tomorrow = factories.SessionFactory(prescription=plan, local_date=patient.local_today() + dt.timedelta(days=1))
    _first, second = plan.items.order_by("order", "id")
    outcome = log(session, portal_user, pain_before=4, pain_after=6, hurt_items=[str(second.pk), second.pk])
    assert outcome.log.hurt_items == [second.pk]
    (flag,) = flags_of(patient)
    assert flag.severity == WARNING and flag.details["hurt_items"] == [
        {"item": second.pk, "stretch": second.stretch.name}
    ]
    assert [s["code"] for s in flag.details["signals"]] == ["pain_above_acceptable", "pain_rise"]
    assert f"lower dose of {second.stretch.name}" in flag.summary
    assert f"do less of {second.stretch.name}" in outcome.advice
    assert list(flag.sessions.all()) == []
    assert Session.objects.get(pk=tomorrow.pk).status == Status.SCHEDULED


def test_hurt_items_name_only_items_of_the_sessions_plan(session, portal_user, patient):
    stranger = active_plan(patient, items=1).items.get()
    with pytest.raises(ValidationError) as refused:
        log(session, portal_user, pain_after=6, hurt_items=[stranger.pk])
    assert str(stranger.pk) in refused.value.message_dict["hurt_items"][0]
    assert not SessionLog.objects.exists() and flags_of(patient) == []


@pytest.mark.parametrize(("previous", "now", "flagged"), [(3, 4, False), (3, 5, True), (0, 2, True), (5, 3, False)])
def test_pain_not_settled_by_the_next_session(plan, patient, portal_user, session, previous, now, flagged):
    factories.SessionLogFactory(
        session__prescription=plan,
        session__local_date=patient.local_today() - dt.timedelta(days=3),
        logged_at=timezone.now() - dt.timedelta(days=3),
        pain_before=previous,
        pain_after=previous,
    )
    outcome = log(session, portal_user, pain_before=now, pain_after=now)
    if not flagged:
        assert flags_of(patient) == [] and outcome.advice is None
        return
    (flag,) = flags_of(patient)
    assert flag.kind == SafetyFlag.Kind.PAIN_ESCALATION and flag.severity == WARNING
    assert flag.details["signals"] == [
        {"code": "pain_not_settled", "message": flag.summary, "evidence": [previous, now]}
    ]
    assert "had not settled" in outcome.advice


# The questions a lumbar plan of a patient with no diagnosis asks: everyone's.
EVERYONE = [
    "saddle_numbness",
    "bladder_bowel_change",
    "progressive_leg_weakness",
    "fever_or_unwell",
    "fall_or_injury",
    "constant_or_night_pain",
    "spreading_symptoms",
]


def test_the_log_keeps_the_questions_asked_and_their_answers(session, portal_user):
    outcome = log(session, portal_user, yes=["fall_or_injury"])
    saved = SessionLog.objects.get(pk=outcome.log.pk)
    assert [q["slug"] for q in saved.red_flag_questions] == EVERYONE
    asked = {q["slug"]: q for q in saved.red_flag_questions}
    question = RedFlagQuestion.objects.get(slug="fall_or_injury")
    assert asked["fall_or_injury"] == {"slug": question.slug, "text": question.text, "severity": "urgent"}
    assert saved.red_flag_answers == {**dict.fromkeys(EVERYONE, False), "fall_or_injury": True}
    assert saved.red_flags_reported == ["fall_or_injury"]


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        (lambda a: a.pop("constant_or_night_pain"), {"answers.constant_or_night_pain": NOT_ANSWERED}),
        (lambda a: a.update(arm_weakness=False), {"answers.arm_weakness": NOT_ASKED}),  # a neck plan's question
        (lambda a: a.clear(), {f"answers.{slug}": NOT_ANSWERED for slug in EVERYONE}),
        (lambda a: a.update(fall_or_injury=None), {"answers.fall_or_injury": NOT_YES_OR_NO}),
    ],
)
def test_the_answers_must_be_exactly_the_sessions_questions(session, portal_user, patient, change, errors):
    """Unknown means the risky case: an unanswered question is never read as no, and nothing is logged."""
    answers = factories.no_red_flags(session)
    change(answers)
    with pytest.raises(ValidationError) as refused:
        session_log_create(session=session, by=portal_user, pain_before=9, pain_after=9, answers=answers)
    assert {name: messages[0] for name, messages in refused.value.message_dict.items()} == errors
    session.refresh_from_db()
    assert session.status == Status.SCHEDULED and not SessionLog.objects.exists() and flags_of(patient) == []


def add_diagnosis(patient, code, *, days_ago=20):
    factories.PatientDiagnosisFactory(
        patient=patient,
        diagnosis=Diagnosis.objects.get(code=code),
        onset_date=patient.local_today() - dt.timedelta(days=days_ago),
    )


@pytest.mark.parametrize(
    ("code", "days_ago", "added"),
    [
        ("Z33.1", 60, ["pregnancy_bleeding_or_fluid", "pregnancy_painful_contractions", "pregnancy_baby_moving_less"]),
        ("Z98.890", 90, ["calf_pain_or_swelling", "chest_pain_or_breathless", "wound_red_or_leaking"]),
        ("Z98.890", 91, []),
        ("Z96.641", 30, ["calf_pain_or_swelling", "chest_pain_or_breathless", "wound_red_or_leaking"]),
        ("M54.2", 30, ["clumsy_hands_or_unsteady_walking", "arm_weakness"]),
    ],
)
def test_a_diagnosis_adds_its_questions(session, portal_user, patient, code, days_ago, added):
    add_diagnosis(patient, code, days_ago=days_ago)
    asked = list(factories.no_red_flags(session))
    assert set(asked) - set(EVERYONE) >= set(added)
    answers = dict.fromkeys(EVERYONE, False)  # what a client that fetched the questions before the diagnosis sends
    if not added:  # past the window: everyone's questions only
        assert asked == EVERYONE
        assert session_log_create(session=session, by=portal_user, pain_before=2, pain_after=2, answers=answers)
        return
    with pytest.raises(ValidationError) as refused:
        session_log_create(session=session, by=portal_user, pain_before=2, pain_after=2, answers=answers)
    assert set(refused.value.message_dict) >= {f"answers.{slug}" for slug in added}
    assert log(session, portal_user).log.red_flag_answers.keys() == set(asked)


def test_a_neck_plan_asks_the_neck_questions_and_a_vascular_yes_says_call_emergency_services(
    patient, portal_user, stretch
):
    plan = active_plan(patient, items=0)
    factories.PrescriptionItemFactory(prescription=plan, stretch=stretch("chin-tuck"))
    session = factories.SessionFactory(prescription=plan, local_date=patient.local_today())
    assert list(factories.no_red_flags(session)) == [
        *EVERYONE,
        "clumsy_hands_or_unsteady_walking",
        "arm_weakness",
        "neck_stretch_vascular_symptoms",
    ]
    outcome = log(session, portal_user, yes=["neck_stretch_vascular_symptoms"])
    (flag,) = outcome.flags
    assert flag.kind == SafetyFlag.Kind.RED_FLAG_SYMPTOM and flag.severity == URGENT
    assert outcome.advice == advice_of("neck_stretch_vascular_symptoms")
    assert outcome.advice.startswith("Call your emergency number now")


@pytest.mark.parametrize("question", ["saddle_numbness", "bladder_bowel_change", "progressive_leg_weakness"])
def test_a_red_flag_answer_opens_an_urgent_flag(session, portal_user, patient, question):
    outcome = log(session, portal_user, yes=[question])
    (flag,) = flags_of(patient)
    assert flag.kind == SafetyFlag.Kind.RED_FLAG_SYMPTOM and flag.severity == URGENT
    assert flag.cause_key == f"log:{outcome.log.pk}"
    assert flag.details["signals"][0]["evidence"] == [question]
    assert outcome.advice == advice_of(question) and "cauda equina" in outcome.advice
    assert outcome.log.red_flag_answers[question] is True


def test_a_warning_symptom_opens_a_warning_flag_and_holds_nothing(plan, session, portal_user, patient):
    tomorrow = factories.SessionFactory(prescription=plan, local_date=patient.local_today() + dt.timedelta(days=1))
    outcome = log(session, portal_user, yes=["spreading_symptoms"])
    (flag,) = flags_of(patient)
    assert flag.kind == SafetyFlag.Kind.RED_FLAG_SYMPTOM and flag.severity == WARNING
    assert flag.details["signals"][0]["code"] == "red_flag_warning"
    assert outcome.advice == advice_of("spreading_symptoms")
    assert list(flag.sessions.all()) == [] and Session.objects.get(pk=tomorrow.pk).status == Status.SCHEDULED


def test_an_urgent_and_a_warning_yes_open_one_urgent_flag(plan, session, portal_user, patient):
    factories.SessionFactory(prescription=plan, local_date=patient.local_today() + dt.timedelta(days=1))
    outcome = log(session, portal_user, yes=["spreading_symptoms", "fever_or_unwell"])
    (flag,) = flags_of(patient)
    assert flag.severity == URGENT and flag.sessions.count() == 1
    assert [s["code"] for s in flag.details["signals"]] == ["red_flag", "red_flag_warning"]
    assert outcome.advice == f"{advice_of('fever_or_unwell')} {advice_of('spreading_symptoms')}"


def test_red_flag_and_high_pain_open_one_flag_of_each_kind(session, portal_user, patient):
    outcome = log(session, portal_user, pain_before=8, pain_after=8, yes=["saddle_numbness"])
    kinds = sorted(flag.kind for flag in flags_of(patient))
    assert kinds == [SafetyFlag.Kind.PAIN_ESCALATION, SafetyFlag.Kind.RED_FLAG_SYMPTOM]
    assert outcome.advice.startswith(advice_of("saddle_numbness")) and PAIN_ADVICE in outcome.advice


def earlier_logs(plan, patient, pains_after):
    """Completed sessions on the days before yesterday, logged in order, with these pain-after ratings."""
    start = patient.local_today() - dt.timedelta(days=len(pains_after) + 2)
    for index, pain in enumerate(pains_after):
        factories.SessionLogFactory(
            session__prescription=plan,
            session__local_date=start + dt.timedelta(days=index),
            logged_at=timezone.now() - dt.timedelta(days=len(pains_after) - index),
            pain_before=pain,
            pain_after=pain,
        )


@pytest.mark.parametrize(
    ("earlier", "now", "trend"),
    [
        ([2, 3], 4, True),
        ([2, 3], 3, False),
        ([3, 2], 4, False),
        ([3], 4, False),
        ([6, 1, 2], 3, True),
    ],
)
def test_pain_after_rising_across_three_logs(plan, patient, portal_user, session, earlier, now, trend):
    earlier_logs(plan, patient, earlier)
    outcome = log(session, portal_user, pain_before=now, pain_after=now)
    flags = SafetyFlag.objects.filter(patient=patient, cause_key=f"pain-trend:{plan.pk}")
    if not trend:
        assert not flags.exists()
        return
    (flag,) = flags
    assert flag.kind == SafetyFlag.Kind.PAIN_ESCALATION and flag.severity == SafetyFlag.Severity.WARNING
    assert flag.details["signals"][0]["evidence"] == [*earlier[-2:], now]
    assert "gone up 3 times in a row" in outcome.advice


def test_the_trend_counts_the_patients_logs_across_plans(plan, patient, portal_user, session):
    earlier_logs(active_plan(patient), patient, [1, 2])
    log(session, portal_user, pain_before=3, pain_after=3)
    (flag,) = flags_of(patient)
    assert flag.cause_key == f"pain-trend:{plan.pk}"  # the plan of the log that completed the trend


def test_flags_open_once_per_cause(plan, patient, portal_user):
    """A continuing trend refreshes its one flag; each log's own pain opens its own flag."""
    today = patient.local_today()
    yesterday = factories.SessionFactory(prescription=plan, local_date=today - dt.timedelta(days=1))
    earlier_logs(plan, patient, [2, 3])
    first = log(yesterday, portal_user, pain_before=4, pain_after=4)
    todays = factories.SessionFactory(prescription=plan, local_date=today)
    second = log(todays, portal_user, pain_before=5, pain_after=7)
    trend_flag = SafetyFlag.objects.get(kind=SafetyFlag.Kind.PAIN_ESCALATION, cause_key=f"pain-trend:{plan.pk}")
    assert first.flags == [trend_flag]
    assert [flag.cause_key for flag in second.flags] == [f"log:{second.log.pk}", f"pain-trend:{plan.pk}"]
    assert second.flags[1] == trend_flag
    assert len(flags_of(patient)) == 2
    trend_flag.refresh_from_db()
    assert trend_flag.details["signals"][0]["evidence"] == [3, 4, 7]


def test_a_resolved_trend_flag_lets_a_new_one_open(plan, patient, portal_user, therapist):
    factories.SafetyFlagFactory(
        patient=patient, kind=SafetyFlag.Kind.PAIN_ESCALATION, cause_key=f"pain-trend:{plan.pk}", resolved=True
    )
    earlier_logs(plan, patient, [2, 3])
    log(factories.SessionFactory(prescription=plan, local_date=patient.local_today()), portal_user, pain_after=4)
    assert SafetyFlag.objects.filter(cause_key=f"pain-trend:{plan.pk}").count() == 2
    assert SafetyFlag.objects.filter(cause_key=f"pain-trend:{plan.pk}", status=SafetyFlag.Status.OPEN).count() == 1


def test_a_refused_log_raises_no_flags(session, portal_user, patient):
    Session.objects.filter(pk=session.pk).update(status=Status.BLOCKED)
    with pytest.raises(StateConflict):
        log(session, portal_user, pain_before=9, pain_after=9, yes=["saddle_numbness"])
    assert flags_of(patient) == []


# --- Skipping -----------------------------------------------------------------------------------------


def test_skipping_a_scheduled_session(session, portal_user):
    skipped = session_skip(session=session, by=portal_user, reason="Away for the day")
    assert skipped.status == Status.SKIPPED
    session.refresh_from_db()
    assert session.status == Status.SKIPPED
    with pytest.raises(StateConflict, match="it was skipped"):
        session_skip(session=session, by=portal_user)


def test_a_skip_reason_has_a_length_limit(session, portal_user):
    with pytest.raises(ValidationError, match="reason"):
        session_skip(session=session, by=portal_user, reason="x" * 501)
