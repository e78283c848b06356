"""The patient list's clearance badge: the gate's rule (``rules.clearance_states``) computed in the list query."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from clinic.models import ClearanceAuthorityRule, Diagnosis, MovementTag
from patients import admin as patients_admin
from patients.clearance import ClearanceFact, effective_clearance
from patients.models import Clearance, ClearanceRestriction, Patient
from prescriptions.gate import rules
from prescriptions.gate.facts import gate_facts
from tests import factories

PATIENTS = "/admin/patients/patient/"
PROFESSIONS = ("physician", "physical_therapist", "athletic_trainer", "nurse_midwife")
TAGS = ("lumbar_flexion", "spinal_rotation")
ZONES = ("Australia/Sydney", "America/Los_Angeles", "Asia/Kathmandu", "Pacific/Kiritimati", "America/St_Johns")
S = rules.ClearanceState


def clearance(patient, by, *, start: int, end: int, tags=(), revoked_at=None, **fields) -> Clearance:
    """A clearance valid from ``start`` to ``end`` days after the patient's local today."""
    today = patient.local_today()
    row = factories.ClearanceFactory(
        patient=patient,
        recorded_by=by,
        valid_from=today + dt.timedelta(days=start),
        valid_until=today + dt.timedelta(days=end),
        revoked_at=revoked_at,
        revoked_by=by if revoked_at else None,
        revoke_reason="Letter withdrawn" if revoked_at else "",
        **fields,
    )
    for slug in tags:
        ClearanceRestriction.objects.create(clearance=row, tag=MovementTag.objects.get(slug=slug))
    return row


def badges(html: str) -> list[str]:
    """The main badges of the page, each with the small text beside it if any."""
    found = re.findall(r'<strong style="color: #[0-9a-f]{6}">([^<]+)</strong>(?: <small[^>]*>([^<]+)</small>)?', html)
    return [f"{main} ({small})" if small else main for main, small in found]


# --- The pure rule -----------------------------------------------------------------------------------

D = dt.date(2027, 6, 10)


def fact(pk, *, start, end, profession="physician", status="cleared", tags=(), revoked=None, recorded=0):
    return ClearanceFact(
        id=pk,
        professional_name="Dr. Ada Reyes",
        profession=profession,
        status=status,
        restricted_tags=frozenset(tags),
        valid_from=D + dt.timedelta(days=start),
        valid_until=D + dt.timedelta(days=end),
        recorded_at=dt.datetime(2027, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=recorded),
        revoked_on=None if revoked is None else D + dt.timedelta(days=revoked),
    )


PT_TOO = {"physician", "physical_therapist"}
FRACTURE = rules.DiagnosisFact(
    1, "M48.56XA", "Collapsed vertebra", "", "", D - dt.timedelta(days=50), None, {"physician"}
)


def test_precedence_of_the_pure_rule():
    states = rules.clearance_states
    assert states([], [], D) == (S.NONE,)
    assert states([fact(1, start=3, end=90)], [], D) == (S.NOT_YET_VALID,)
    assert states([fact(1, start=-90, end=-7), fact(2, start=3, end=90)], [], D) == (S.EXPIRED, S.NOT_YET_VALID)
    assert states([fact(1, start=-90, end=-7), fact(2, start=-5, end=90, revoked=0)], [], D) == (S.REVOKED, S.EXPIRED)
    assert states([fact(1, start=3, end=90, revoked=-1)], [], D) == (S.NONE,)  # revoked before it began
    assert states([fact(1, start=-5, end=90)], [], D) == (S.CLEARED,)
    assert states([fact(1, start=-5, end=90, profession="athletic_trainer")], [FRACTURE], D) == (
        S.INSUFFICIENT_AUTHORITY,
    )
    everything = fact(1, start=-5, end=7, profession="athletic_trainer", tags=["lumbar_flexion"])
    assert states([everything], [FRACTURE], D) == (S.INSUFFICIENT_AUTHORITY, S.RESTRICTED, S.EXPIRING)
    assert states([fact(1, start=-5, end=8, status="restricted")], [], D) == (S.RESTRICTED,)
    # The later clearance supersedes: its tags and end alone count.
    assert states([fact(1, start=-5, end=3, tags=["x"]), fact(2, start=-5, end=90, recorded=1)], [], D) == (S.CLEARED,)
    # An authority rule narrows who may clear: a physical therapist within days 0–84 of a hip replacement.
    rule = rules.AuthorityRuleFact(1, {"physician"}, 0, 84, None, "surgeon's precautions")
    hip = rules.DiagnosisFact(2, "Z96.641", "Hip", "", "", D - dt.timedelta(days=84), None, PT_TOO, (rule,))
    therapist = fact(1, start=-5, end=90, profession="physical_therapist")
    assert states([therapist], [hip], D) == (S.INSUFFICIENT_AUTHORITY,)
    assert states([therapist], [hip], D + dt.timedelta(days=1)) == (S.CLEARED,)


# --- The list query equals the pure rule ----------------------------------------------------------------

CLEARANCES = st.lists(
    st.fixed_dictionaries(
        {
            "profession": st.sampled_from(PROFESSIONS),
            "status": st.sampled_from(["cleared", "cleared", "restricted"]),
            "tags": st.just(set()) | st.sets(st.sampled_from(TAGS)),
            "start": st.integers(-20, 6),
            "length": st.integers(0, 30),
            "recorded_days_ago": st.integers(0, 2),  # equal instants: the greater id decides
            # A revocation as a local day and wall time around today, midnight included.
            "revoked": st.none() | st.tuples(st.integers(-3, 1), st.sampled_from([dt.time(0), dt.time(23, 59)])),
        }
    ),
    max_size=4,
)
RULES = st.lists(
    st.fixed_dictionaries(
        {
            "professions": st.sets(st.sampled_from(PROFESSIONS), min_size=1, max_size=3),
            "from_day": st.none() | st.integers(0, 12),
            "length": st.none() | st.integers(0, 8),
            # Another diagnosis: one of the patient's (by index; its own index is taken as "none"), or a code
            # in the catalog that the patient does not have.
            "with": st.none() | st.integers(0, 2) | st.just("absent"),
        }
    ),
    max_size=2,
)
DIAGNOSES = st.lists(
    st.fixed_dictionaries(
        {
            "clearance_by": st.sets(st.sampled_from(PROFESSIONS), min_size=1),
            "onset": st.none() | st.integers(-10, 3),
            "resolved_after": st.none() | st.integers(0, 8),
            "rules": RULES,
        }
    ),
    max_size=3,
)
# Edge cases of the authority rules, always tried: a physical therapist's clearance in force, a diagnosis a PT
# may clear unless a rule (physician only) applies.
PT_IN_FORCE = [
    {"profession": "physical_therapist", "status": "cleared", "tags": set(), "start": -5, "length": 30,
     "recorded_days_ago": 0, "revoked": None}
]  # fmt: skip


def narrowed(onset, resolved_after=None, **rule):
    return {
        "clearance_by": {"physician", "physical_therapist"},
        "onset": onset,
        "resolved_after": resolved_after,
        "rules": [{"professions": {"physician"}, "from_day": None, "length": None, "with": None, **rule}],
    }


PLAIN = {"clearance_by": {"physician"}, "onset": -3, "resolved_after": 0, "rules": []}
AUTHORITY_EDGES = [
    [narrowed(-5, from_day=0, length=5)],  # day 5 of days 0–5: inside
    [narrowed(-6, from_day=0, length=5)],  # day 6: outside
    [narrowed(-2, from_day=3)],  # day 2, from day 3: outside
    [narrowed(None, from_day=3, length=0)],  # onset unknown: inside
    [narrowed(-5, **{"with": "absent"})],  # the other diagnosis is not on record
    [narrowed(-5, **{"with": 1}), PLAIN],  # on record, though resolved today
    [narrowed(-5, from_day=0, length=2, **{"with": 1}), PLAIN],  # on record, but outside the window
]
GATE_REASONS = {
    "clearance_revoked": {"revoked"},
    "clearance_expired": {"expired"},
    "clearance_not_yet_valid": {"not_yet_valid"},
    "no_clearance": {"none"},
}


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    zone=st.sampled_from(ZONES),
    minutes=st.integers(0, 48 * 60),
    clearances=CLEARANCES,
    diagnoses=DIAGNOSES,
)
@example(zone="Asia/Kathmandu", minutes=600, clearances=PT_IN_FORCE, diagnoses=AUTHORITY_EDGES[0])
@example(zone="Asia/Kathmandu", minutes=600, clearances=PT_IN_FORCE, diagnoses=AUTHORITY_EDGES[1])
@example(zone="Asia/Kathmandu", minutes=600, clearances=PT_IN_FORCE, diagnoses=AUTHORITY_EDGES[2])
@example(zone="Asia/Kathmandu", minutes=600, clearances=PT_IN_FORCE, diagnoses=AUTHORITY_EDGES[3])
@example(zone="Asia/Kathmandu", minutes=600, clearances=PT_IN_FORCE, diagnoses=AUTHORITY_EDGES[4])
@example(zone="Asia/Kathmandu", minutes=600, clearances=PT_IN_FORCE, diagnoses=AUTHORITY_EDGES[5])
@example(zone="Asia/Kathmandu", minutes=600, clearances=PT_IN_FORCE, diagnoses=AUTHORITY_EDGES[6])
def test_list_query_equals_the_gate_rule(clinic, therapist, zone, minutes, clearances, diagnoses):
    now = dt.datetime(2027, 3, 27, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)  # Sydney and Europe switch
    with transaction.atomic():
        patient = factories.PatientFactory(clinic=clinic, timezone=zone)
        today = patient.local_today(now)
        codes = [
            Diagnosis.objects.create(code=f"ZZ{n}", name=f"Test {n}", clearance_by=sorted(spec["clearance_by"]))
            for n, spec in enumerate(diagnoses)
        ]
        absent = Diagnosis.objects.create(code="ZZX", name="Not on record", clearance_by=["physician"])
        for n, spec in enumerate(diagnoses):
            onset = None if spec["onset"] is None else today + dt.timedelta(days=spec["onset"])
            resolved = None
            if spec["resolved_after"] is not None:
                resolved = (onset or today - dt.timedelta(days=4)) + dt.timedelta(days=spec["resolved_after"])
            factories.PatientDiagnosisFactory(
                patient=patient, recorded_by=therapist, diagnosis=codes[n], onset_date=onset, resolved_date=resolved
            )
            for rule in spec["rules"]:
                other = rule["with"]
                if other == "absent":
                    other = absent
                elif other is not None:
                    other = codes[other] if other < len(codes) and other != n else None
                from_day = rule["from_day"]
                until_day = None if rule["length"] is None else (from_day or 0) + rule["length"]
                if other is None and from_day is None and until_day is None:
                    from_day = 0  # a rule needs a condition
                ClearanceAuthorityRule.objects.create(
                    diagnosis=codes[n],
                    professions=sorted(rule["professions"]),
                    from_day=from_day,
                    until_day=until_day,
                    with_diagnosis=other,
                    rationale="Test rule.",
                )
        for spec in clearances:
            revoked_at = None
            if spec["revoked"] is not None:
                days, at = spec["revoked"]
                revoked_at = dt.datetime.combine(today + dt.timedelta(days=days), at, tzinfo=ZoneInfo(zone))
            row = factories.ClearanceFactory(
                patient=patient,
                recorded_by=therapist,
                profession=spec["profession"],
                status=spec["status"],
                valid_from=today + dt.timedelta(days=spec["start"]),
                valid_until=today + dt.timedelta(days=spec["start"] + spec["length"]),
                recorded_at=now - dt.timedelta(days=spec["recorded_days_ago"]),
                revoked_at=revoked_at,
                revoked_by=therapist if revoked_at else None,
                revoke_reason="Withdrawn" if revoked_at else "",
            )
            for slug in spec["tags"]:
                ClearanceRestriction.objects.create(clearance=row, tag=MovementTag.objects.get(slug=slug))

        listed = Patient.objects.annotate(states=patients_admin.clearance_states_today(now)).get(pk=patient.pk)
        facts = gate_facts(patient=patient, stretches=[])
        expected = rules.clearance_states(facts.clearances, facts.diagnoses, today)
        assert listed.states == list(expected)
        event(" + ".join(expected))

        probe = rules.ItemFact(0, rules.StretchFact("probe", "Probe", frozenset(TAGS), 0))
        codes = {finding.code.value for finding in rules.evaluate(facts, [probe], today)}
        reasons = codes & set(GATE_REASONS)
        if reasons:
            (reason,) = reasons
            assert expected[0] in GATE_REASONS[reason]
        else:
            assert expected[0] in {S.INSUFFICIENT_AUTHORITY, S.RESTRICTED, S.EXPIRING, S.CLEARED}
            assert (S.INSUFFICIENT_AUTHORITY in expected) == ("clearance_insufficient_authority" in codes)
            assert ("restricted_movement" in codes) <= (S.RESTRICTED in expected)

        # The one SQL twin of "in force on D" (``ClearanceQuerySet.in_force``) picks what the pure rule picks, on
        # the days around today too (revocations fall on either side of them).
        for shift in range(-3, 4):
            day = today + dt.timedelta(days=shift)
            pure = effective_clearance(facts.clearances, day)
            in_sql = Clearance.objects.effective_on(patient, day)
            assert (in_sql.pk if in_sql else None) == (pure.id if pure else None), day
        transaction.set_rollback(True)


# --- The page -------------------------------------------------------------------------------------------


def demo_like_patients(clinic, therapist) -> dict[str, Patient]:
    """The demo's stories, plus a clearance that has not begun."""
    tom = factories.PatientFactory(clinic=clinic, last_name="Walker", timezone="Australia/Sydney")
    factories.PatientDiagnosisFactory(
        patient=tom,
        recorded_by=therapist,
        diagnosis=Diagnosis.objects.get(code="M48.56XA"),  # physician only
        onset_date=tom.local_today() - dt.timedelta(days=50),
    )
    clearance(tom, therapist, start=-5, end=90, profession="athletic_trainer", professional_name="Jo Brennan, ATC")
    aisha = factories.PatientFactory(clinic=clinic, last_name="Patel", timezone="Europe/London")
    clearance(aisha, therapist, start=-190, end=-7)
    later = factories.PatientFactory(clinic=clinic, last_name="Later", timezone="Pacific/Kiritimati")
    clearance(later, therapist, start=3, end=90)
    james = factories.PatientFactory(clinic=clinic, last_name="Chen", timezone="America/Los_Angeles")
    clearance(james, therapist, start=-10, end=5, status="restricted", tags=["lumbar_flexion"])
    return {"tom": tom, "aisha": aisha, "later": later, "james": james}


def test_badges_follow_the_gate(staff_client, front_desk, clinic, therapist):
    patients = demo_like_patients(clinic, therapist)
    revoked = factories.PatientFactory(clinic=clinic, last_name="Revoked", timezone="Asia/Kathmandu")
    clearance(revoked, therapist, start=-30, end=90, revoked_at=timezone.now() - dt.timedelta(hours=1))
    patients["revoked"] = revoked
    client = staff_client(front_desk)

    response = client.get(PATIENTS)

    rows = {p.pk: p.clearance_states for p in response.context["cl"].result_list}
    assert {name: rows[p.pk] for name, p in patients.items()} == {
        "tom": ["insufficient_authority"],
        "aisha": ["expired"],
        "later": ["not_yet_valid"],
        "james": ["restricted", "expiring"],
        "revoked": ["revoked"],
    }
    assert sorted(badges(response.content.decode())) == [
        "Expired",
        "Insufficient authority",
        "Not yet valid",
        "Restricted (expiring)",
        "Revoked",
    ]

    def listed(state):
        return {p.pk for p in client.get(f"{PATIENTS}?clearance={state}").context["cl"].result_list}

    assert listed("insufficient_authority") == {patients["tom"].pk}
    assert listed("expired") == {patients["aisha"].pk}
    assert listed("not_yet_valid") == {patients["later"].pk}
    assert listed("restricted") == {patients["james"].pk}
    assert listed("expiring") == set()  # the main state only: James is restricted first


def test_badges_cost_the_same_queries_for_any_list_size(staff_client, front_desk, clinic, therapist, count_queries):
    client = staff_client(front_desk)
    demo_like_patients(clinic, therapist)
    client.get(PATIENTS)  # warm caches (content types, permissions)
    small = count_queries(lambda: client.get(PATIENTS))
    for _ in range(3):
        demo_like_patients(clinic, therapist)
    large_count = 0

    def fetch():
        nonlocal large_count
        large_count = badges(client.get(PATIENTS).content.decode()).count("Insufficient authority")

    large = count_queries(fetch)

    assert small == large
    assert large_count == 4
