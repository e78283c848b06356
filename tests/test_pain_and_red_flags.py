"""Pain and red flags on a session log (prescriptions/gate/pain.py; issue #12 parts 3 and 4): the
pain-monitoring rules at their edges, which red-flag questions each patient is asked, how the answers are read,
and the seeded questions' data. Pure, but for the last section: the seeded rows as the database holds them."""

from __future__ import annotations

import importlib
import json
from datetime import date, timedelta

import pytest
from django.db import IntegrityError
from django.forms.models import model_to_dict

from prescriptions.admin import RedFlagQuestionForm
from prescriptions.gate import pain
from prescriptions.gate.pain import (
    PAIN_ACCEPTABLE_MAX,
    PAIN_ADVICE,
    PAIN_NOT_SETTLED_RISE,
    PAIN_RISE_ALARM,
    PAIN_STOP_AT,
    PAIN_TREND_LOGS,
    RULE_SOURCES,
    AskedWith,
    DiagnosisDates,
    RedFlagQuestionFact,
    SignalCode,
    Urgency,
    asked_with,
    log_advice,
    pain_signals,
    red_flag_answer_errors,
    red_flag_questions,
    red_flag_signals,
)
from prescriptions.models import RedFlagQuestion
from prescriptions.selectors.red_flags import question_facts

Code = SignalCode
D = date(2026, 12, 1)
SEED = importlib.import_module("prescriptions.migrations.0005_red_flag_questions")


def codes(signals):
    return [s.code for s in signals]


# --- The pain-monitoring model -------------------------------------------------------------------------------


def test_the_thresholds_and_every_rule_has_a_source():
    thresholds = (PAIN_STOP_AT, PAIN_ACCEPTABLE_MAX, PAIN_RISE_ALARM, PAIN_NOT_SETTLED_RISE, PAIN_TREND_LOGS)
    assert thresholds == (7, 5, 2, 2, 3)
    assert set(RULE_SOURCES) == set(SignalCode) and all(RULE_SOURCES.values())
    assert "Thomée" in RULE_SOURCES[Code.PAIN_ABOVE_ACCEPTABLE] and "Thomée" in RULE_SOURCES[Code.PAIN_NOT_SETTLED]


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (0, 0, []),
        (5, 5, []),  # 5 after: acceptable, no flag
        (5, 6, [Code.PAIN_ABOVE_ACCEPTABLE]),  # 6 after: warning, lower the dose
        (6, 6, [Code.PAIN_ABOVE_ACCEPTABLE]),
        (6, 7, [Code.PAIN_HIGH]),  # 7: urgent, stop (rose by 1 only: no rise signal)
        (7, 6, [Code.PAIN_HIGH, Code.PAIN_ABOVE_ACCEPTABLE]),  # high before is enough to stop
        (6, 5, []),  # 6 before, 5 after: nothing the session did
        (10, 10, [Code.PAIN_HIGH]),
        (3, 4, []),  # rose by 1
        (3, 5, [Code.PAIN_RISE]),  # rose by 2
        (4, 6, [Code.PAIN_ABOVE_ACCEPTABLE, Code.PAIN_RISE]),
        (5, 7, [Code.PAIN_HIGH, Code.PAIN_RISE]),
        (0, 10, [Code.PAIN_HIGH, Code.PAIN_RISE]),
        (5, 3, []),  # better after
        (9, 2, [Code.PAIN_HIGH]),
    ],
)
def test_pain_rules_at_their_edges(before, after, expected):
    assert codes(pain_signals(before, after)) == expected


@pytest.mark.parametrize(
    ("code", "severity", "stop"),
    [
        (Code.PAIN_HIGH, Urgency.URGENT, True),
        (Code.PAIN_ABOVE_ACCEPTABLE, Urgency.WARNING, False),
        (Code.PAIN_RISE, Urgency.WARNING, False),
        (Code.PAIN_NOT_SETTLED, Urgency.WARNING, False),
        (Code.PAIN_TREND, Urgency.WARNING, False),
    ],
)
def test_only_high_pain_stops_the_patient(code, severity, stop):
    signals = pain_signals(5, 9, [7, 8], previous_pain_before=3) + pain_signals(5, 6)
    (signal,) = [s for s in signals if s.code == code]
    assert (signal.severity, signal.stop, signal.flag_kind) == (severity, stop, "pain_escalation")


@pytest.mark.parametrize(
    ("previous", "before", "settled"),
    [
        (None, 5, True),  # no earlier log
        (3, 4, True),  # +1: no flag
        (3, 5, False),  # +2: not settled by the next session
        (2, 5, False),
        (5, 3, True),  # better
        (0, 2, False),
        (4, 4, True),
    ],
)
def test_pain_before_the_next_session(previous, before, settled):
    signals = pain_signals(before, before, previous_pain_before=previous)  # before = after < 6: others quiet
    assert (Code.PAIN_NOT_SETTLED not in codes(signals)) is settled
    if not settled:
        (signal,) = signals
        assert signal.evidence == (previous, before)
        assert "not settled by the next session" in signal.message


@pytest.mark.parametrize(
    ("recent", "after", "trend"),
    [
        ([], 5, False),
        ([4], 5, False),  # two logs are not a trend
        ([3, 4], 5, True),
        ([3, 4], 4, False),  # level is not rising
        ([4, 4], 5, False),
        ([5, 4], 6, False),  # dipped in between
        ([9, 1, 2], 3, True),  # only the last three logs count
        ([1, 2, 3, 2], 3, False),
        ([0, 1], 2, True),
    ],
)
def test_pain_after_rising_across_three_consecutive_logs(recent, after, trend):
    assert (Code.PAIN_TREND in codes(pain_signals(after, after, recent))) is trend


def test_the_trend_signal_carries_the_series():
    (signal,) = pain_signals(4, 4, [2, 3])
    assert signal.evidence == (2, 3, 4)
    assert signal.flag_kind == "pain_escalation" and signal.severity == Urgency.WARNING and not signal.stop
    assert "2 → 3 → 4" in signal.message


def test_the_dose_warning_names_the_stretches_that_hurt():
    (named,) = pain_signals(5, 6, hurt=["Knee to chest", "Piriformis stretch"])
    assert "lower dose of Knee to chest and Piriformis stretch" in named.message
    assert "do less of Knee to chest and Piriformis stretch" in named.advice
    (unnamed,) = pain_signals(5, 6)
    assert "the stretch that hurt (not named)" in unnamed.message
    assert "do less of the stretch that hurt" in unnamed.advice


@pytest.mark.parametrize(
    ("kwargs", "code", "says"),
    [
        ({"pain_before": 7, "pain_after": 3}, Code.PAIN_HIGH, ["7/10 before the session", PAIN_ADVICE]),
        ({"pain_before": 2, "pain_after": 8}, Code.PAIN_HIGH, ["8/10 after the session"]),
        (
            {"pain_before": 5, "pain_after": 6},
            Code.PAIN_ABOVE_ACCEPTABLE,
            ["6/10, above the 5/10", "fewer repetitions"],
        ),
        ({"pain_before": 1, "pain_after": 3}, Code.PAIN_RISE, ["went up by 2 points", "1 → 3"]),
        (
            {"pain_before": 4, "pain_after": 4, "previous_pain_before": 2},
            Code.PAIN_NOT_SETTLED,
            ["(4/10)", "(2/10)", "had not settled"],
        ),
        ({"pain_before": 3, "pain_after": 3, "recent_pain_after": [1, 2]}, Code.PAIN_TREND, ["3 times in a row"]),
    ],
)
def test_the_advice_says_which_rule_fired(kwargs, code, says):
    signals = pain_signals(**kwargs)
    assert code in codes(signals)
    advice = log_advice(signals)
    for fragment in says:
        assert fragment in advice


def test_nothing_fired_means_no_advice():
    assert log_advice(pain_signals(3, 3, [1, 2, 3, 4], previous_pain_before=3)) is None
    assert log_advice([]) is None


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        ((-1, 0), {}, ValueError),
        ((0, 11), {}, ValueError),
        ((True, 0), {}, ValueError),
        ((0, 0, [12]), {}, ValueError),
        ((0, 0), {"previous_pain_before": 11}, ValueError),
        ((0, 0), {"previous_pain_before": "3"}, ValueError),
        ((5, 6), {"hurt": "Knee to chest"}, TypeError),
    ],
)
def test_bad_ratings_are_refused(args, kwargs, error):
    with pytest.raises(error):
        pain_signals(*args, **kwargs)


def test_signal_as_dict_is_json_safe():
    (signal,) = pain_signals(4, 4, [2, 3])
    assert json.loads(json.dumps(signal.as_dict())) == {
        "code": "pain_trend",
        "message": signal.message,
        "evidence": [2, 3, 4],
    }


# --- The seeded questions ------------------------------------------------------------------------------------


def facts_of(rows) -> tuple[RedFlagQuestionFact, ...]:
    """The migration's rows as the selector reads them."""
    return tuple(
        RedFlagQuestionFact(
            slug=row["slug"],
            text=row["text"],
            symptom=row["symptom"],
            severity=row["severity"],
            advice=row["advice"],
            plan_regions=frozenset(row.get("plan_regions", ())),
            diagnoses=asked_with(row.get("diagnoses", [])),
            order=row["order"],
        )
        for row in rows
    )


SEEDED = facts_of(SEED.QUESTIONS)
BY_SLUG = {question.slug: question for question in SEEDED}

EVERYONE = {
    "saddle_numbness",
    "bladder_bowel_change",
    "progressive_leg_weakness",
    "fever_or_unwell",
    "fall_or_injury",
    "constant_or_night_pain",
    "spreading_symptoms",
}
MYELOPATHY = {"clumsy_hands_or_unsteady_walking", "arm_weakness"}
NECK = MYELOPATHY | {"neck_stretch_vascular_symptoms"}
CLOTS = {"calf_pain_or_swelling", "chest_pain_or_breathless"}
PREGNANCY = {"pregnancy_bleeding_or_fluid", "pregnancy_painful_contractions", "pregnancy_baby_moving_less"} | CLOTS
AFTER_SURGERY = CLOTS | {"wound_red_or_leaking"}
HIP = {"hip_dislocation_signs"}


def test_the_seeded_questions_are_complete_plain_yes_no_questions_with_sources():
    assert len(BY_SLUG) == len(SEED.QUESTIONS)
    assert set(BY_SLUG) == EVERYONE | NECK | PREGNANCY | AFTER_SURGERY | HIP
    for row in SEED.QUESTIONS:
        assert row["text"].startswith(("Since your last session, ", "During or after your neck stretches")), row
        assert row["text"].endswith("?") and len(row["text"]) <= 400
        assert row["source"] and len(row["source"]) <= 300 and row["advice"] and row["symptom"]
        assert set(row) <= {"slug", "order", "text", "symptom", "severity", "advice", "plan_regions", "diagnoses"} | {
            "source"
        }
    assert len({row["order"] for row in SEED.QUESTIONS}) == len(SEED.QUESTIONS)


def test_only_spreading_symptoms_is_a_warning_and_emergencies_say_so():
    assert {q.slug for q in SEEDED if q.severity == Urgency.WARNING} == {"spreading_symptoms"}
    assert "stop the stretch" in BY_SLUG["spreading_symptoms"].advice.lower()
    for slug in ("neck_stretch_vascular_symptoms", "chest_pain_or_breathless", "hip_dislocation_signs"):
        assert "emergency number now" in BY_SLUG[slug].advice
    for slug in ("saddle_numbness", "bladder_bowel_change", "progressive_leg_weakness"):
        assert "emergency department" in BY_SLUG[slug].advice and "cauda equina" in BY_SLUG[slug].advice


@pytest.mark.parametrize(
    ("slugs", "source"),
    [
        ({"saddle_numbness", "bladder_bowel_change", "progressive_leg_weakness"}, "NICE NG59"),
        ({"fever_or_unwell", "fall_or_injury", "constant_or_night_pain"}, "Red Flags for Potential Serious Spinal"),
        ({"neck_stretch_vascular_symptoms"}, "IFOMPT"),
        (MYELOPATHY, "myelopathy"),
        (PREGNANCY - CLOTS, "ACOG"),
        (CLOTS, "NICE NG89"),
        ({"wound_red_or_leaking"}, "NICE NG125"),
        (HIP, "Hip"),
    ],
)
def test_each_question_set_cites_its_guidance(slugs, source):
    for slug in slugs:
        assert source in next(row["source"] for row in SEED.QUESTIONS if row["slug"] == slug), slug


def test_the_three_questions_asked_before_keep_their_slugs():
    """Logs made before migration 0005 have their answers under these slugs."""
    assert {slug for slug, _text in SEED.OLD_QUESTIONS} <= EVERYONE


# --- Which questions a session asks --------------------------------------------------------------------------


def dx(code, onset_days_ago=30, resolved_days_ago=None):
    """A diagnosis with onset ``onset_days_ago`` days before D (None: not recorded)."""
    onset = None if onset_days_ago is None else D - timedelta(days=onset_days_ago)
    resolved = None if resolved_days_ago is None else D - timedelta(days=resolved_days_ago)
    return DiagnosisDates(code=code, onset=onset, resolved=resolved)


@pytest.mark.parametrize(
    ("diagnoses", "regions", "expected"),
    [
        ([], {"lumbar"}, EVERYONE),
        ([dx("M51.26")], {"lumbar", "hip"}, EVERYONE),
        ([dx("M54.16")], {"lumbar"}, EVERYONE),
        ([], {"cervical"}, EVERYONE | NECK),  # a neck plan
        ([], {"lumbar", "cervical"}, EVERYONE | NECK),
        ([dx("M54.2")], {"lumbar"}, EVERYONE | MYELOPATHY),  # neck pain without neck stretches: no vascular question
        ([dx("M54.2", resolved_days_ago=1)], {"lumbar"}, EVERYONE),
        # pregnancy while active
        ([dx("Z33.1", onset_days_ago=120)], {"lumbar"}, EVERYONE | PREGNANCY),
        ([dx("Z33.1", onset_days_ago=None)], {"lumbar"}, EVERYONE | PREGNANCY),
        ([dx("Z33.1", onset_days_ago=200, resolved_days_ago=1)], {"lumbar"}, EVERYONE),
        ([dx("Z33.1", onset_days_ago=200, resolved_days_ago=0)], {"lumbar"}, EVERYONE),  # resolved on D
        ([dx("Z33.1", onset_days_ago=-1)], {"lumbar"}, EVERYONE),  # starts tomorrow
        # after spinal surgery: days 0-90
        ([dx("Z98.890", onset_days_ago=0)], {"lumbar"}, EVERYONE | AFTER_SURGERY),
        ([dx("Z98.890", onset_days_ago=90)], {"lumbar"}, EVERYONE | AFTER_SURGERY),
        ([dx("Z98.890", onset_days_ago=91)], {"lumbar"}, EVERYONE),
        ([dx("Z98.890", onset_days_ago=None)], {"lumbar"}, EVERYONE | AFTER_SURGERY),  # unknown: inside the window
        ([dx("Z98.890", onset_days_ago=10)], {"cervical"}, EVERYONE | NECK | AFTER_SURGERY),  # after a neck fusion
        # hip replacement: after surgery for 90 days, dislocation signs for life
        ([dx("Z96.641", onset_days_ago=90)], {"hip"}, EVERYONE | AFTER_SURGERY | HIP),
        ([dx("Z96.642", onset_days_ago=91)], {"hip"}, EVERYONE | HIP),
        ([dx("Z96.642", onset_days_ago=None)], {"hip"}, EVERYONE | AFTER_SURGERY | HIP),
        ([dx("Z96.649", onset_days_ago=4000)], {"lumbar"}, EVERYONE | HIP),  # any Z96.64x
        ([dx("Z96.651", onset_days_ago=10)], {"lumbar"}, EVERYONE),  # a knee replacement is not a hip
        # several at once: a question is asked once
        (
            [dx("Z33.1"), dx("Z98.890", onset_days_ago=10), dx("Z96.641", onset_days_ago=500)],
            {"cervical"},
            EVERYONE | NECK | PREGNANCY | AFTER_SURGERY | HIP,
        ),
    ],
)
def test_each_question_set_is_asked_of_the_patients_it_fits(diagnoses, regions, expected):
    chosen = red_flag_questions(SEEDED, diagnoses=diagnoses, plan_regions=regions, on_date=D)
    slugs = [question.slug for question in chosen]
    assert len(slugs) == len(set(slugs))
    assert set(slugs) == expected
    assert [q.order for q in chosen] == sorted(q.order for q in chosen)


def test_everyones_questions_come_first_and_cauda_equina_leads():
    chosen = red_flag_questions(SEEDED, diagnoses=[dx("Z33.1")], plan_regions={"cervical"}, on_date=D)
    slugs = [q.slug for q in chosen]
    assert slugs[:3] == ["saddle_numbness", "bladder_bowel_change", "progressive_leg_weakness"]
    assert set(slugs[: len(EVERYONE)]) == EVERYONE


def synthetic(slug, *, regions=(), diagnoses=(), severity="urgent", order=0):
    return RedFlagQuestionFact(
        slug=slug,
        text=f"{slug}?",
        symptom=slug,
        severity=severity,
        advice=f"advice for {slug}",
        plan_regions=frozenset(regions),
        diagnoses=tuple(diagnoses),
        order=order,
    )


@pytest.mark.parametrize(
    ("diagnoses", "regions", "asked"),
    [
        ([], {"hip"}, False),
        ([], {"cervical"}, True),  # the region alone
        ([dx("M54.2", onset_days_ago=0)], {"lumbar"}, True),  # the diagnosis alone
        ([dx("M54.20", onset_days_ago=0)], {"lumbar"}, True),  # a subcode
        ([dx("M54", onset_days_ago=0)], {"lumbar"}, False),  # the parent category is not the code
        ([dx("M54.2", onset_days_ago=15)], set(), False),  # outside its window
        ([dx("M54.2", onset_days_ago=14)], set(), True),
    ],
)
def test_a_question_is_asked_for_its_region_or_any_of_its_diagnoses(diagnoses, regions, asked):
    question = synthetic("q", regions={"cervical"}, diagnoses=[AskedWith("M54.2", until_day=14)])
    chosen = red_flag_questions([question], diagnoses=diagnoses, plan_regions=regions, on_date=D)
    assert bool(chosen) is asked


def test_selection_refuses_a_region_string():
    with pytest.raises(TypeError):
        red_flag_questions(SEEDED, diagnoses=[], plan_regions="cervical", on_date=D)


@pytest.mark.parametrize(
    ("raw", "valid"),
    [
        ([], True),
        ([{"code": "Z33.1"}], True),
        ([{"code": "Z98.890", "until_day": 90}, {"code": "Z96.64", "until_day": None}], True),
        ({"code": "Z33.1"}, False),
        (["Z33.1"], False),
        ([{"code": "Z33.1", "from_day": 3}], False),
        ([{"code": ""}], False),
        ([{"code": " Z33.1"}], False),
        ([{"code": 33}], False),
        ([{"code": "Z33.1", "until_day": -1}], False),
        ([{"code": "Z33.1", "until_day": True}], False),
        ([{"code": "Z33.1", "until_day": "90"}], False),
    ],
)
def test_stored_diagnosis_conditions_are_validated(raw, valid):
    if valid:
        assert len(asked_with(raw)) == len(raw)
    else:
        with pytest.raises(ValueError, match="Entry|list"):
            asked_with(raw)


# --- Reading the answers -------------------------------------------------------------------------------------

ASKED = red_flag_questions(SEEDED, diagnoses=[], plan_regions={"lumbar"}, on_date=D)
ALL_NO = dict.fromkeys((q.slug for q in ASKED), False)


@pytest.mark.parametrize(
    ("answers", "errors"),
    [
        (ALL_NO, {}),
        ({**ALL_NO, "saddle_numbness": True}, {}),
        ({k: v for k, v in ALL_NO.items() if k != "fall_or_injury"}, {"answers.fall_or_injury": pain.NOT_ANSWERED}),
        ({}, {f"answers.{slug}": pain.NOT_ANSWERED for slug in ALL_NO}),
        ({**ALL_NO, "arm_weakness": False}, {"answers.arm_weakness": pain.NOT_ASKED}),  # a neck question
        ({**ALL_NO, "fever_or_unwell": None}, {"answers.fever_or_unwell": pain.NOT_YES_OR_NO}),
        ({**ALL_NO, "fever_or_unwell": 1}, {"answers.fever_or_unwell": pain.NOT_YES_OR_NO}),
    ],
)
def test_answers_must_fit_the_questions_exactly(answers, errors):
    assert red_flag_answer_errors(ASKED, answers) == errors


def test_an_unanswered_question_is_never_a_no():
    with pytest.raises(ValueError, match="answers.saddle_numbness"):
        red_flag_signals(ASKED, {k: v for k, v in ALL_NO.items() if k != "saddle_numbness"})


@pytest.mark.parametrize("slug", sorted(EVERYONE - {"spreading_symptoms"}))
def test_an_urgent_yes_stops_the_patient_with_its_advice(slug):
    (signal,) = red_flag_signals(ASKED, {**ALL_NO, slug: True})
    assert (signal.code, signal.flag_kind, signal.severity, signal.stop) == (
        Code.RED_FLAG,
        "red_flag_symptom",
        Urgency.URGENT,
        True,
    )
    assert signal.evidence == (slug,) and BY_SLUG[slug].symptom in signal.message
    assert log_advice([signal]) == BY_SLUG[slug].advice


def test_a_warning_yes_flags_without_stopping():
    (signal,) = red_flag_signals(ASKED, {**ALL_NO, "spreading_symptoms": True})
    assert (signal.code, signal.severity, signal.stop) == (Code.RED_FLAG_WARNING, Urgency.WARNING, False)
    assert signal.flag_kind == "red_flag_symptom" and signal.message.startswith("Warning symptom reported")


def test_all_no_raises_nothing_and_several_yes_make_one_signal_per_severity_with_each_advice_once():
    assert red_flag_signals(ASKED, ALL_NO) == []
    yes = {"saddle_numbness": True, "bladder_bowel_change": True, "fever_or_unwell": True, "spreading_symptoms": True}
    urgent, warning = red_flag_signals(ASKED, {**ALL_NO, **yes})
    assert urgent.evidence == ("saddle_numbness", "bladder_bowel_change", "fever_or_unwell")
    assert urgent.advice == f"{SEED.CES_ADVICE} {SEED.SAME_DAY_DOCTOR}"  # the cauda equina advice once
    assert warning.evidence == ("spreading_symptoms",)


def test_the_advice_puts_seeking_care_first_then_stopping_then_the_warnings():
    signals = [
        *pain_signals(7, 6),  # pain_high (stop), pain_above_acceptable
        *red_flag_signals(ASKED, {**ALL_NO, "spreading_symptoms": True, "saddle_numbness": True}),
    ]
    advice = log_advice(signals)
    order = [
        advice.index(SEED.CES_ADVICE),
        advice.index(PAIN_ADVICE),
        advice.index("Stop the stretch that makes"),
        advice.index("6/10, above the 5/10"),
    ]
    assert order == sorted(order)


# --- The seeded rows in the database -------------------------------------------------------------------------


def test_the_migration_seeded_every_question_with_its_source(db):
    assert question_facts() == tuple(sorted(SEEDED, key=lambda q: (q.order, q.slug)))
    for row in RedFlagQuestion.objects.all():
        assert row.source == next(r["source"] for r in SEED.QUESTIONS if r["slug"] == row.slug)
        assert row.review_note == SEED.REVIEW_NOTE and row.active


def test_the_seed_replays_idempotently_and_restores_edited_rows(db):
    from django.apps import apps

    RedFlagQuestion.objects.filter(slug="fall_or_injury").update(text="Edited?", severity="warning")
    SEED.seed_red_flag_questions(apps)
    SEED.seed_red_flag_questions(apps)
    assert RedFlagQuestion.objects.count() == len(SEED.QUESTIONS)
    assert question_facts() == tuple(sorted(SEEDED, key=lambda q: (q.order, q.slug)))


def test_a_retired_question_is_not_asked_and_an_unreadable_rule_asks_everyone(db):
    RedFlagQuestion.objects.filter(slug="fever_or_unwell").update(active=False)
    RedFlagQuestion.objects.filter(slug="wound_red_or_leaking").update(diagnoses={"code": "Z98.890"})
    facts = {q.slug: q for q in question_facts()}
    assert "fever_or_unwell" not in facts and facts["wound_red_or_leaking"].asked_of_everyone
    chosen = red_flag_questions(facts.values(), diagnoses=[], plan_regions={"lumbar"}, on_date=D)
    assert "wound_red_or_leaking" in {q.slug for q in chosen}


def test_the_admin_form_refuses_unreadable_conditions(db):
    question = RedFlagQuestion.objects.get(slug="wound_red_or_leaking")
    data = {**model_to_dict(question), "plan_regions": ",".join(question.plan_regions)}

    readable = RedFlagQuestionForm(instance=question, data={**data, "diagnoses": '[{"code": "Z98.890"}]'})
    unreadable = RedFlagQuestionForm(
        instance=question, data={**data, "diagnoses": '[{"code": "Z98.890", "until_day": "ninety"}]'}
    )

    assert readable.is_valid(), readable.errors
    assert not unreadable.is_valid()
    assert set(unreadable.errors) == {"diagnoses"}


@pytest.mark.parametrize("field", ["text", "symptom", "advice", "source"])
def test_a_question_needs_its_text_symptom_advice_and_source(db, field):
    with pytest.raises(IntegrityError):
        RedFlagQuestion.objects.filter(slug="fall_or_injury").update(**{field: ""})
