"""The safety gate (prescriptions/gate/rules.py): pure functions, no database, no Django."""

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patients.clearance import (
    ClearanceFact,
    effective_clearance,
)
from prescriptions.gate.rules import (
    AuthorityRuleFact,
    Code,
    ContraindicationFact,
    DiagnosisFact,
    Facts,
    ItemFact,
    Severity,
    StretchFact,
    blocks,
    change_dates,
    evaluate,
    facts_as_dict,
    spans,
    unresolved,
)

D = date(2026, 12, 1)

PHYSICIAN_ONLY = frozenset({"physician"})
PHYSICIAN_OR_PT = frozenset({"physician", "physical_therapist"})
ANY_PROFESSION = frozenset({"physician", "physical_therapist", "athletic_trainer"})

# code -> (name, who may clear it)
DIAGNOSES = {
    "M51.26": ("Lumbar disc displacement", PHYSICIAN_OR_PT),
    "M54.50": ("Low back pain", ANY_PROFESSION),
    "M81.0": ("Osteoporosis", PHYSICIAN_ONLY),
    "Z96.641": ("Presence of right artificial hip joint", PHYSICIAN_ONLY),
    "Z33.1": ("Pregnant state, incidental", PHYSICIAN_ONLY),
    "S83.90XA": ("Sprain of unspecified site of knee", PHYSICIAN_OR_PT),
}

KNEES_TO_CHEST = StretchFact(
    "knees-to-chest", "Knees to chest", frozenset({"lumbar_flexion", "hip_flexion_over_90", "supine"}), 2
)
PELVIC_TILT = StretchFact("pelvic-tilt", "Pelvic tilt", frozenset({"supine"}), 1)
PRAYER = StretchFact("prayer-stretch", "Prayer stretch", frozenset({"kneeling", "lumbar_flexion"}), 2)
TRUNK_ROTATION = StretchFact(
    "trunk-rotation",
    "Trunk rotation",
    frozenset({"spinal_rotation", "hip_adduction_past_midline", "hip_internal_rotation", "supine"}),
    2,
)
CAT_COW = StretchFact(
    "cat-and-cow", "Cat and cow", frozenset({"kneeling", "weight_bearing_wrist", "lumbar_flexion"}), 3
)
STRETCHES = (KNEES_TO_CHEST, PELVIC_TILT, PRAYER, TRUNK_ROTATION, CAT_COW)


# --- builders --------------------------------------------------------------------------------


def clearance(
    id=1,
    *,
    profession="physician",
    name="Dr Ada Park",
    restricted=(),
    valid_from=date(2026, 1, 1),
    valid_until=date(2026, 12, 31),
    recorded_at=None,
    revoked_on=None,
):
    """A clearance; by default valid all of 2026 and recorded later the higher its id."""
    return ClearanceFact(
        id=id,
        professional_name=name,
        profession=profession,
        status="restricted" if restricted else "cleared",
        restricted_tags=frozenset(restricted),
        valid_from=valid_from,
        valid_until=valid_until,
        recorded_at=recorded_at or datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=id),
        revoked_on=revoked_on,
    )


def diagnosis(code="M51.26", *, id=1, phase="", qualifier="", onset=None, resolved=None, authority=()):
    name, clearance_by = DIAGNOSES[code]
    return DiagnosisFact(id, code, name, phase, qualifier, onset, resolved, clearance_by, authority)


def row(
    id,
    code,
    tag=None,
    *,
    stretch=None,
    severity="absolute",
    phase="",
    qualifier="",
    from_day=None,
    until_day=None,
    rationale="load on the injured tissue",
):
    return ContraindicationFact(id, code, tag, stretch, phase, qualifier, from_day, until_day, severity, rationale)


def facts(clearances=None, diagnoses=(), mobility=5, rows=()):
    """Patient facts; by default one plain physician clearance for 2026 and mobility 5."""
    clearances = (clearance(),) if clearances is None else clearances
    return Facts(tuple(clearances), tuple(diagnoses), mobility, tuple(rows))


def item(stretch=KNEES_TO_CHEST, key=1):
    return ItemFact(key, stretch)


def check(f, stretch=KNEES_TO_CHEST, on=D):
    """(code, cause) of every finding for one item of ``stretch`` on ``on``."""
    return [(x.code, x.cause) for x in evaluate(f, [item(stretch)], on)]


# --- every code, its severity and overridability ---------------------------------------------


@pytest.mark.parametrize(
    ("f", "stretch", "code", "severity", "overridable"),
    [
        (facts(clearances=()), PRAYER, Code.NO_CLEARANCE, Severity.BLOCK, False),
        (
            facts(clearances=[clearance(valid_until=D - timedelta(days=1))]),
            PRAYER,
            Code.CLEARANCE_EXPIRED,
            Severity.BLOCK,
            False,
        ),
        (facts(clearances=[clearance(revoked_on=D)]), PRAYER, Code.CLEARANCE_REVOKED, Severity.BLOCK, False),
        (
            facts(clearances=[clearance(valid_from=D + timedelta(days=3))]),
            PRAYER,
            Code.CLEARANCE_NOT_YET_VALID,
            Severity.BLOCK,
            False,
        ),
        (
            facts(clearances=[clearance(profession="athletic_trainer")], diagnoses=[diagnosis("M81.0")]),
            PELVIC_TILT,
            Code.CLEARANCE_INSUFFICIENT_AUTHORITY,
            Severity.BLOCK,
            False,
        ),
        (facts(mobility=None), PRAYER, Code.MOBILITY_UNKNOWN, Severity.BLOCK, False),
        (facts(mobility=2), CAT_COW, Code.MOBILITY_BELOW_MINIMUM, Severity.BLOCK, True),
        (
            facts(clearances=[clearance(restricted={"kneeling"})]),
            PRAYER,
            Code.RESTRICTED_MOVEMENT,
            Severity.BLOCK,
            False,
        ),
        (
            facts(diagnoses=[diagnosis("M81.0")], rows=[row(1, "M81.0", "lumbar_flexion")]),
            PRAYER,
            Code.CONTRAINDICATED,
            Severity.BLOCK,
            True,
        ),
        (
            facts(
                diagnoses=[diagnosis("M81.0")],
                rows=[row(2, "M81.0", "spinal_rotation", severity="relative")],
            ),
            TRUNK_ROTATION,
            Code.CAUTION,
            Severity.WARN,
            True,
        ),
    ],
    ids=lambda v: v.value if isinstance(v, Code) else None,
)
def test_each_code_has_its_severity_and_overridability(f, stretch, code, severity, overridable):
    (finding,) = evaluate(f, [item(stretch, key=7)], D)
    assert (finding.code, finding.severity, finding.overridable) == (code, severity, overridable)
    assert (finding.item, finding.item_index, finding.stretch) == (7, 0, stretch.slug)
    assert finding.message.startswith(f"{stretch.name}: ")


def test_everything_clear_gives_no_findings():
    assert evaluate(facts(), [item(s, key=i) for i, s in enumerate(STRETCHES)], D) == []


# --- which clearance is in force -------------------------------------------------------------


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (date(2026, 2, 28), [(Code.CLEARANCE_NOT_YET_VALID, "clearance:1")]),
        (date(2026, 3, 1), []),  # valid_from is inclusive
        (date(2026, 3, 31), []),  # valid_until is inclusive
        (date(2026, 4, 1), [(Code.CLEARANCE_EXPIRED, "clearance:1")]),
    ],
)
def test_clearance_validity_edges_are_inclusive(on, expected):
    f = facts(clearances=[clearance(valid_from=date(2026, 3, 1), valid_until=date(2026, 3, 31))])
    assert check(f, on=on) == expected


@pytest.mark.parametrize(
    ("revoked_on", "expected"),
    [
        (D - timedelta(days=30), [(Code.CLEARANCE_REVOKED, "clearance:1")]),
        (D, [(Code.CLEARANCE_REVOKED, "clearance:1")]),
        (D + timedelta(days=1), []),  # still in force until the day it is revoked
    ],
)
def test_revocation_counts_from_its_own_day(revoked_on, expected):
    assert check(facts(clearances=[clearance(revoked_on=revoked_on)])) == expected


@pytest.mark.parametrize(
    ("clearances", "expected"),
    [
        pytest.param([], (Code.NO_CLEARANCE, "clearance:none"), id="none at all"),
        pytest.param(
            [clearance(valid_from=D + timedelta(days=1))],
            (Code.CLEARANCE_NOT_YET_VALID, "clearance:1"),
            id="only future",
        ),
        pytest.param(
            [clearance(1, valid_from=D + timedelta(days=9)), clearance(2, valid_from=D + timedelta(days=4))],
            (Code.CLEARANCE_NOT_YET_VALID, "clearance:2"),
            id="not yet valid names the first to start",
        ),
        pytest.param(
            [clearance(1, valid_from=D + timedelta(days=4)), clearance(2, valid_from=D + timedelta(days=4))],
            (Code.CLEARANCE_NOT_YET_VALID, "clearance:2"),
            id="same start names the latest recorded",
        ),
        pytest.param(
            [clearance(valid_from=D + timedelta(days=1), revoked_on=D)],
            (Code.NO_CLEARANCE, "clearance:none"),
            id="future but revoked is none",
        ),
        pytest.param(
            [clearance(1, valid_until=D - timedelta(days=1)), clearance(2, valid_from=D + timedelta(days=1))],
            (Code.CLEARANCE_EXPIRED, "clearance:1"),
            id="expired with a future one",
        ),
        pytest.param(
            [clearance(1, revoked_on=D), clearance(2, valid_from=D + timedelta(days=1))],
            (Code.CLEARANCE_REVOKED, "clearance:1"),
            id="revoked beats not yet valid",
        ),
        pytest.param(
            [clearance(1, valid_until=date(2026, 6, 30)), clearance(2, valid_until=date(2026, 3, 31))],
            (Code.CLEARANCE_EXPIRED, "clearance:2"),
            id="expired names the latest recorded",
        ),
        pytest.param(
            [clearance(1, revoked_on=D), clearance(2, valid_until=D - timedelta(days=1))],
            (Code.CLEARANCE_REVOKED, "clearance:1"),
            id="revoked beats expired",
        ),
        pytest.param(
            [clearance(1, revoked_on=date(2026, 2, 1)), clearance(2, revoked_on=date(2026, 5, 1))],
            (Code.CLEARANCE_REVOKED, "clearance:2"),
            id="revoked names the latest recorded",
        ),
        pytest.param(
            [clearance(1, valid_until=D - timedelta(days=1), revoked_on=date(2026, 5, 1))],
            (Code.CLEARANCE_EXPIRED, "clearance:1"),
            id="revoked and since ended reads as expired",
        ),
    ],
)
def test_revoked_expired_and_none_are_told_apart(clearances, expected):
    assert check(facts(clearances=clearances)) == [expected]


def test_a_revoked_clearance_does_not_hide_another_in_force():
    f = facts(clearances=[clearance(1), clearance(2, revoked_on=D)])
    assert effective_clearance(f.clearances, D).id == 1
    assert check(f) == []


def test_without_clearance_only_the_clearance_finding_is_reported_per_item():
    f = facts(
        clearances=[clearance(revoked_on=D)],
        diagnoses=[diagnosis("M81.0")],
        mobility=None,
        rows=[row(1, "M81.0", "lumbar_flexion")],
    )
    findings = evaluate(f, [item(KNEES_TO_CHEST, 1), item(CAT_COW, 2)], D)
    assert [(x.item, x.code) for x in findings] == [(1, Code.CLEARANCE_REVOKED), (2, Code.CLEARANCE_REVOKED)]


# --- later supersedes earlier, never merges --------------------------------------------------


@pytest.mark.parametrize(
    ("older_restricts", "newer_restricts", "expected"),
    [
        ({"lumbar_flexion"}, (), []),
        ((), {"lumbar_flexion"}, [(Code.RESTRICTED_MOVEMENT, "clearance:2:tag:lumbar_flexion")]),
        ({"lumbar_flexion"}, {"supine"}, [(Code.RESTRICTED_MOVEMENT, "clearance:2:tag:supine")]),
    ],
    ids=["older restricted, newer cleared", "older cleared, newer restricted", "newer replaces the list"],
)
def test_later_clearance_supersedes_without_merging_restrictions(older_restricts, newer_restricts, expected):
    f = facts(clearances=[clearance(2, restricted=newer_restricts), clearance(1, restricted=older_restricts)])
    assert check(f) == expected


def test_recorded_at_decides_before_id():
    late = datetime(2026, 5, 1, tzinfo=UTC)
    older_higher_id = clearance(9, recorded_at=late - timedelta(seconds=1))
    newer_lower_id = clearance(3, recorded_at=late)
    assert effective_clearance([older_higher_id, newer_lower_id], D) == newer_lower_id


def test_same_recorded_at_is_broken_by_the_larger_id():
    at = datetime(2026, 5, 1, tzinfo=UTC)
    f = facts(clearances=[clearance(8, recorded_at=at), clearance(5, recorded_at=at, restricted={"supine"})])
    assert effective_clearance(f.clearances, D).id == 8
    assert check(f) == []


def test_when_the_newer_clearance_is_revoked_the_older_one_applies_again():
    f = facts(clearances=[clearance(1, restricted={"supine"}), clearance(2, revoked_on=D)])
    assert check(f, on=D - timedelta(days=1)) == []
    assert check(f) == [(Code.RESTRICTED_MOVEMENT, "clearance:1:tag:supine")]


# --- who may clear which diagnosis -----------------------------------------------------------


@pytest.mark.parametrize(
    ("profession", "dx", "blocked"),
    [
        pytest.param("physical_therapist", diagnosis("M51.26"), False, id="PT may clear disc"),
        pytest.param("physician", diagnosis("M81.0"), False, id="physician may clear osteoporosis"),
        pytest.param("physical_therapist", diagnosis("M81.0"), True, id="PT may not clear osteoporosis"),
        pytest.param("athletic_trainer", diagnosis("M51.26"), True, id="AT may not clear disc"),
        pytest.param("athletic_trainer", diagnosis("M54.50"), False, id="AT may clear plain back pain"),
        pytest.param(
            "athletic_trainer",
            diagnosis("M81.0", resolved=D - timedelta(days=1)),
            False,
            id="resolved before D",
        ),
        pytest.param("athletic_trainer", diagnosis("M81.0", resolved=D), False, id="resolved on D"),
        pytest.param("athletic_trainer", diagnosis("M81.0", resolved=D + timedelta(days=1)), True, id="resolves after"),
        pytest.param("athletic_trainer", diagnosis("M81.0", onset=D + timedelta(days=1)), False, id="onset after D"),
        pytest.param("athletic_trainer", diagnosis("M81.0", onset=D), True, id="onset on D"),
    ],
)
def test_clearing_profession_must_be_allowed_for_every_active_diagnosis(profession, dx, blocked):
    f = facts(clearances=[clearance(4, profession=profession)], diagnoses=[dx])
    expected = [(Code.CLEARANCE_INSUFFICIENT_AUTHORITY, f"clearance:4:diagnosis:{dx.code}")] if blocked else []
    assert check(f, PELVIC_TILT) == expected


def test_no_diagnoses_means_any_profession_may_clear():
    assert check(facts(clearances=[clearance(profession="athletic_trainer")]), PELVIC_TILT) == []


def test_insufficient_authority_is_reported_once_per_diagnosis_code():
    f = facts(
        clearances=[clearance(profession="athletic_trainer")],
        diagnoses=[diagnosis("M81.0", id=2), diagnosis("M51.26", id=3), diagnosis("M81.0", id=1)],
    )
    assert check(f, PELVIC_TILT) == [
        (Code.CLEARANCE_INSUFFICIENT_AUTHORITY, "clearance:1:diagnosis:M51.26"),
        (Code.CLEARANCE_INSUFFICIENT_AUTHORITY, "clearance:1:diagnosis:M81.0"),
    ]


# --- mobility --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (5, []),
        (3, []),  # equal to the minimum passes
        (2, [(Code.MOBILITY_BELOW_MINIMUM, "mobility:2<min:3")]),
        (1, [(Code.MOBILITY_BELOW_MINIMUM, "mobility:1<min:3")]),
        (None, [(Code.MOBILITY_UNKNOWN, "mobility:unknown")]),
    ],
)
def test_mobility_against_the_stretch_minimum(level, expected):
    assert check(facts(mobility=level), CAT_COW) == expected


# --- restricted movements --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stretch", "expected_tags"),
    [
        (TRUNK_ROTATION, ["spinal_rotation", "supine"]),
        (PELVIC_TILT, ["supine"]),
        (CAT_COW, []),
    ],
)
def test_each_restricted_tag_on_the_stretch_blocks(stretch, expected_tags):
    f = facts(clearances=[clearance(6, restricted={"supine", "spinal_rotation", "cervical_flexion"})])
    assert check(f, stretch) == [(Code.RESTRICTED_MOVEMENT, f"clearance:6:tag:{t}") for t in expected_tags]


# --- contraindications -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("absolute", (Code.CONTRAINDICATED, Severity.BLOCK)), ("relative", (Code.CAUTION, Severity.WARN))],
)
def test_absolute_blocks_and_relative_warns(severity, expected):
    f = facts(diagnoses=[diagnosis("M81.0")], rows=[row(12, "M81.0", "spinal_rotation", severity=severity)])
    (finding,) = evaluate(f, [item(TRUNK_ROTATION)], D)
    assert (finding.code, finding.severity, finding.overridable, finding.cause) == (
        *expected,
        True,
        "contraindication:12",
    )


@pytest.mark.parametrize(
    ("row_phase", "dx_phase", "applies"),
    [
        ("acute", "acute", True),
        ("acute", "chronic", False),
        ("acute", "", True),  # not recorded: the row's phase is assumed
        ("", "chronic", True),
        ("", "", True),
    ],
)
def test_phase_must_match_when_the_row_names_one(row_phase, dx_phase, applies):
    f = facts(
        diagnoses=[diagnosis("M51.26", phase=dx_phase)],
        rows=[row(1, "M51.26", "lumbar_flexion", phase=row_phase)],
    )
    assert bool(check(f)) is applies


@pytest.mark.parametrize(
    ("row_qualifier", "dx_qualifier", "applies"),
    [
        ("posterior_approach", "posterior_approach", True),
        ("posterior_approach", "anterior_approach", False),
        ("posterior_approach", "", True),  # not recorded: posterior precautions are assumed
        ("", "anterior_approach", True),
    ],
)
def test_qualifier_must_match_when_the_row_names_one(row_qualifier, dx_qualifier, applies):
    onset = D - timedelta(days=10)
    f = facts(
        diagnoses=[diagnosis("Z96.641", qualifier=dx_qualifier, onset=onset)],
        rows=[row(1, "Z96.641", "hip_flexion_over_90", qualifier=row_qualifier, from_day=0, until_day=84)],
    )
    assert bool(check(f)) is applies


HIP_ROW = row(5, "Z96.641", "hip_flexion_over_90", qualifier="posterior_approach", from_day=0, until_day=84)
PREGNANCY_ROW = row(6, "Z33.1", "supine", severity="relative", from_day=91)
SPRAIN_ROW = row(7, "S83.90XA", "kneeling", severity="relative", until_day=14)


@pytest.mark.parametrize(
    ("contraindication", "day", "applies"),
    [
        (HIP_ROW, -1, False),  # the diagnosis is not active yet
        (HIP_ROW, 0, True),
        (HIP_ROW, 84, True),
        (HIP_ROW, 85, False),
        (PREGNANCY_ROW, 90, False),
        (PREGNANCY_ROW, 91, True),
        (PREGNANCY_ROW, 250, True),
        (SPRAIN_ROW, 14, True),
        (SPRAIN_ROW, 15, False),
    ],
)
def test_windows_count_days_since_onset_inclusive(contraindication, day, applies):
    onset = D - timedelta(days=day)
    dx = diagnosis(contraindication.diagnosis_code, qualifier="posterior_approach", onset=onset)
    f = facts(clearances=[clearance()], diagnoses=[dx], rows=[contraindication])
    stretch = StretchFact("probe", "Probe", frozenset({contraindication.tag}), 1)
    causes = [cause for _, cause in check(f, stretch)]
    assert causes == ([f"contraindication:{contraindication.id}"] if applies else [])


def test_a_window_applies_when_onset_is_unknown():
    f = facts(diagnoses=[diagnosis("Z96.641", qualifier="posterior_approach")], rows=[HIP_ROW])
    (finding,) = evaluate(f, [item()], D)
    assert finding.cause == "contraindication:5"
    assert "onset not recorded — assumed within days 0 to 84 after onset" in finding.message


@pytest.mark.parametrize(
    ("dx", "assumed"),
    [
        pytest.param(
            diagnosis("Z96.641", onset=D - timedelta(days=30)),
            "(surgical approach not recorded — posterior-approach precautions applied; days 0 to 84 after onset)",
            id="approach",
        ),
        pytest.param(
            diagnosis("Z96.641"),
            "(surgical approach not recorded — posterior-approach precautions applied; "
            "onset not recorded — assumed within days 0 to 84 after onset)",
            id="approach and onset",
        ),
    ],
)
def test_an_unrecorded_approach_applies_the_precautions_and_says_so(dx, assumed):
    (finding,) = evaluate(facts(diagnoses=[dx], rows=[HIP_ROW]), [item()], D)
    assert (finding.code, finding.cause) == (Code.CONTRAINDICATED, "contraindication:5")
    assert finding.message == (
        f"Knees to chest: hip flexion over 90 is contraindicated with Z96.641 Presence of right artificial hip "
        f"joint {assumed}: load on the injured tissue"
    )


def test_an_unrecorded_phase_assumes_the_rows_phase_and_says_so():
    f = facts(diagnoses=[diagnosis("M51.26")], rows=[row(1, "M51.26", "lumbar_flexion", phase="acute")])
    (finding,) = evaluate(f, [item()], D)
    assert finding.cause == "contraindication:1"
    assert "(phase not recorded — acute phase assumed)" in finding.message


@pytest.mark.parametrize(
    ("phase", "qualifier", "condition"),
    [
        pytest.param(
            "",
            "",
            "(phase not recorded — acute phase assumed; "
            "surgical approach not recorded — posterior-approach precautions applied)",
            id="neither recorded",
        ),
        pytest.param("", "posterior_approach", "(phase not recorded — acute phase assumed; posterior approach)"),
        pytest.param(
            "acute", "", "(acute phase; surgical approach not recorded — posterior-approach precautions applied)"
        ),
        pytest.param("acute", "posterior_approach", "(acute phase; posterior approach)", id="both recorded"),
        pytest.param("chronic", "", None, id="another phase recorded: lifted"),
        pytest.param("", "anterior_approach", None, id="another approach recorded: lifted"),
    ],
)
def test_recording_the_fact_lifts_the_assumption(phase, qualifier, condition):
    f = facts(
        diagnoses=[diagnosis("Z96.641", phase=phase, qualifier=qualifier)],
        rows=[row(1, "Z96.641", "hip_flexion_over_90", phase="acute", qualifier="posterior_approach")],
    )
    findings = evaluate(f, [item()], D)
    if condition is None:
        assert findings == []
    else:
        (finding,) = findings
        assert f"joint {condition}: " in finding.message


def test_the_diagnosis_needing_no_assumption_is_named():
    unknown = diagnosis("Z96.641", id=1)
    recorded = diagnosis("Z96.641", id=2, qualifier="posterior_approach", onset=D - timedelta(days=30))
    (finding,) = evaluate(facts(diagnoses=[unknown, recorded], rows=[HIP_ROW]), [item()], D)
    assert "not recorded" not in finding.message
    assert "(posterior approach; days 0 to 84 after onset)" in finding.message


def test_a_row_naming_a_stretch_applies_to_that_stretch_only():
    f = facts(diagnoses=[diagnosis("M51.26")], rows=[row(3, "M51.26", stretch="knees-to-chest")])
    assert check(f, KNEES_TO_CHEST) == [(Code.CONTRAINDICATED, "contraindication:3")]
    assert check(f, PELVIC_TILT) == []
    (finding,) = evaluate(f, [item()], D)
    assert finding.message.startswith("Knees to chest: this stretch is contraindicated with M51.26")


@pytest.mark.parametrize(
    "dx",
    [
        pytest.param(diagnosis("S83.90XA"), id="another diagnosis"),
        pytest.param(diagnosis("M51.26", resolved=D), id="resolved"),
        pytest.param(diagnosis("M51.26", onset=D + timedelta(days=1)), id="not yet begun"),
    ],
)
def test_a_row_needs_its_diagnosis_active(dx):
    assert check(facts(diagnoses=[dx], rows=[row(1, "M51.26", "lumbar_flexion")])) == []


def test_one_finding_per_row_even_with_two_matching_tags_or_diagnoses():
    f = facts(
        diagnoses=[diagnosis("M81.0", id=1), diagnosis("M81.0", id=2)],
        rows=[
            row(9, "M81.0", "lumbar_flexion"),
            row(4, "M81.0", stretch="knees-to-chest", severity="relative"),
        ],
    )
    assert check(f) == [(Code.CAUTION, "contraindication:4"), (Code.CONTRAINDICATED, "contraindication:9")]


# --- several findings, order, messages -------------------------------------------------------


def test_several_findings_on_one_item_come_in_rule_order():
    f = facts(
        clearances=[clearance(2, profession="athletic_trainer", restricted={"supine", "lumbar_flexion"})],
        diagnoses=[diagnosis("M81.0")],
        mobility=1,
        rows=[row(7, "M81.0", "lumbar_flexion"), row(3, "M81.0", "supine", severity="relative")],
    )
    assert check(f) == [
        (Code.CLEARANCE_INSUFFICIENT_AUTHORITY, "clearance:2:diagnosis:M81.0"),
        (Code.MOBILITY_BELOW_MINIMUM, "mobility:1<min:2"),
        (Code.RESTRICTED_MOVEMENT, "clearance:2:tag:lumbar_flexion"),
        (Code.RESTRICTED_MOVEMENT, "clearance:2:tag:supine"),
        (Code.CAUTION, "contraindication:3"),
        (Code.CONTRAINDICATED, "contraindication:7"),
    ]


def test_findings_are_grouped_by_item_in_the_given_order():
    f = facts(mobility=2, diagnoses=[diagnosis("M51.26")], rows=[row(1, "M51.26", "supine")])
    findings = evaluate(f, [item(CAT_COW, key=20), item(PELVIC_TILT, key=10)], D)
    assert [(x.item, x.item_index, x.stretch, x.code) for x in findings] == [
        (20, 0, "cat-and-cow", Code.MOBILITY_BELOW_MINIMUM),
        (10, 1, "pelvic-tilt", Code.CONTRAINDICATED),
    ]


@pytest.mark.parametrize(
    "f",
    [
        pytest.param(facts(clearances=()), id="clearance level"),
        pytest.param(facts(mobility=None), id="item level"),
    ],
)
def test_item_is_the_items_id_and_item_index_its_place_even_unsaved(f):
    saved = evaluate(f, [item(PRAYER, key=31), item(CAT_COW, key=30)], D)
    assert [(x.item, x.item_index) for x in saved] == [(31, 0), (30, 1)]
    unsaved = evaluate(f, [item(PRAYER, key=None), item(CAT_COW, key=None)], D)
    assert [(x.item, x.item_index) for x in unsaved] == [(None, 0), (None, 1)]


@pytest.mark.parametrize(
    ("f", "stretch", "message"),
    [
        (
            facts(clearances=()),
            PRAYER,
            "Prayer stretch: no clearance on file for 2026-12-01; record one before prescribing.",
        ),
        (
            facts(clearances=[clearance(valid_until=date(2026, 11, 30))]),
            PRAYER,
            "Prayer stretch: the clearance by Dr Ada Park (physician) expired after 2026-11-30; "
            "record a new one before prescribing.",
        ),
        (
            facts(clearances=[clearance(revoked_on=date(2026, 11, 15))]),
            PRAYER,
            "Prayer stretch: the clearance by Dr Ada Park (physician) was revoked on 2026-11-15; "
            "record a new one before prescribing.",
        ),
        pytest.param(
            facts(clearances=[clearance(name="Dr Reyes", valid_from=date(2026, 12, 4))]),
            PRAYER,
            "Prayer stretch: the clearance by Dr Reyes (physician) starts on 2026-12-04; start on or after that "
            "date, or record one that covers the days before it.",
            id="not yet valid says when",
        ),
        pytest.param(
            facts(
                clearances=[
                    clearance(1, valid_until=date(2026, 11, 30)),
                    clearance(2, name="Dr Reyes", valid_from=date(2026, 12, 4)),
                ]
            ),
            PRAYER,
            "Prayer stretch: the clearance by Dr Ada Park (physician) expired after 2026-11-30 and the clearance "
            "by Dr Reyes (physician) starts on 2026-12-04; start on or after that date, or record one that covers "
            "the gap.",
            id="expired names the one to come",
        ),
        pytest.param(
            facts(
                clearances=[
                    clearance(1, revoked_on=date(2026, 11, 15)),
                    clearance(2, name="Dr Reyes", valid_from=date(2026, 12, 4)),
                ]
            ),
            PRAYER,
            "Prayer stretch: the clearance by Dr Ada Park (physician) was revoked on 2026-11-15 and the clearance "
            "by Dr Reyes (physician) starts on 2026-12-04; start on or after that date, or record one that covers "
            "the gap.",
            id="revoked names the one to come",
        ),
        (
            facts(
                clearances=[clearance(name="Dr X", profession="athletic_trainer")],
                diagnoses=[diagnosis("M81.0")],
            ),
            PELVIC_TILT,
            "Pelvic tilt: clearance by Dr X (athletic trainer) does not cover M81.0 Osteoporosis, "
            "which only a physician may clear.",
        ),
        (
            facts(clearances=[clearance(name="Dr X", profession="athletic_trainer")], diagnoses=[diagnosis()]),
            PELVIC_TILT,
            "Pelvic tilt: clearance by Dr X (athletic trainer) does not cover M51.26 "
            "Lumbar disc displacement, which only a physician or a physical therapist may clear.",
        ),
        (
            facts(mobility=None),
            CAT_COW,
            "Cat and cow: no mobility assessment on file; assess mobility before prescribing.",
        ),
        (
            facts(mobility=2),
            CAT_COW,
            "Cat and cow: mobility level 2 is below this stretch's minimum of 3.",
        ),
        (
            facts(clearances=[clearance(restricted={"spinal_rotation"})]),
            TRUNK_ROTATION,
            "Trunk rotation: spinal rotation is restricted by the clearance from Dr Ada Park (physician).",
        ),
        (
            facts(
                diagnoses=[diagnosis("M51.26", phase="acute")],
                rows=[row(1, "M51.26", "lumbar_flexion", phase="acute", rationale="flexion loads the disc")],
            ),
            KNEES_TO_CHEST,
            "Knees to chest: lumbar flexion is contraindicated with M51.26 Lumbar disc displacement "
            "(acute phase): flexion loads the disc",
        ),
        (
            facts(
                diagnoses=[diagnosis("Z33.1", onset=D - timedelta(days=120))],
                rows=[row(1, "Z33.1", "supine", severity="relative", from_day=91, rationale="a late-term risk")],
            ),
            PELVIC_TILT,
            "Pelvic tilt: supine calls for caution with Z33.1 Pregnant state, incidental "
            "(from day 91 after onset): a late-term risk",
        ),
    ],
)
def test_messages_name_the_stretch_and_the_reason(f, stretch, message):
    (finding,) = evaluate(f, [item(stretch)], D)
    assert finding.message == message


def test_a_row_without_rationale_ends_the_sentence():
    f = facts(diagnoses=[diagnosis("M81.0")], rows=[row(1, "M81.0", "supine", rationale="")])
    (finding,) = evaluate(f, [item(PELVIC_TILT)], D)
    assert finding.message == "Pelvic tilt: supine is contraindicated with M81.0 Osteoporosis."


# --- overrides and acknowledgements ----------------------------------------------------------


def gate_findings():
    """Item 1: contraindicated (row 7); item 2: caution (row 8) and restricted movement."""
    f = facts(
        clearances=[clearance(3, restricted={"kneeling"})],
        diagnoses=[diagnosis("M81.0")],
        rows=[row(7, "M81.0", "lumbar_flexion"), row(8, "M81.0", "spinal_rotation", severity="relative")],
    )
    return evaluate(f, [item(KNEES_TO_CHEST, 1), item(TRUNK_ROTATION, 2), item(PELVIC_TILT, 3)], D)


def test_finding_key_is_item_code_cause():
    assert [x.key for x in gate_findings()] == [
        (1, "contraindicated", "contraindication:7"),
        (2, "caution", "contraindication:8"),
    ]


@pytest.mark.parametrize(
    ("covered", "left"),
    [
        pytest.param(set(), [(1, "contraindicated"), (2, "caution")], id="nothing covered"),
        pytest.param({(1, "contraindicated", "contraindication:7")}, [(2, "caution")], id="override exact key"),
        pytest.param(
            {(1, "contraindicated", "contraindication:99")},
            [(1, "contraindicated"), (2, "caution")],
            id="other cause",
        ),
        pytest.param(
            {(3, "contraindicated", "contraindication:7")},
            [(1, "contraindicated"), (2, "caution")],
            id="other item",
        ),
        pytest.param({(1, "caution", "contraindication:7")}, [(1, "contraindicated"), (2, "caution")], id="other code"),
        pytest.param(
            {(1, Code.CONTRAINDICATED, "contraindication:7"), (2, Code.CAUTION, "contraindication:8")},
            [],
            id="override and acknowledgement",
        ),
    ],
)
def test_unresolved_honours_exactly_the_covered_keys(covered, left):
    remaining = unresolved(gate_findings(), covered)
    assert [(x.item, x.code) for x in remaining] == left
    assert blocks(gate_findings(), covered) is bool(left)


def test_a_caution_needs_acknowledgement():
    (caution,) = [x for x in gate_findings() if x.code == Code.CAUTION]
    assert blocks([caution], covered=[])
    assert not blocks([caution], covered=[caution.key])


@pytest.mark.parametrize(
    "f",
    [
        facts(clearances=[clearance(revoked_on=D)]),
        facts(mobility=None),
        facts(clearances=[clearance(restricted={"supine"})]),
        facts(clearances=[clearance(profession="athletic_trainer")], diagnoses=[diagnosis("M81.0")]),
    ],
    ids=["revoked", "mobility unknown", "restricted", "authority"],
)
def test_a_non_overridable_finding_is_never_covered(f):
    findings = evaluate(f, [item(PELVIC_TILT)], D)
    assert findings
    assert unresolved(findings, {x.key for x in findings}) == findings
    assert blocks(findings, {x.key for x in findings})


def test_nothing_found_blocks_nothing():
    assert not blocks([], covered=())


# --- spans of unchanged facts ----------------------------------------------------------------


def dated_facts():
    return facts(
        clearances=[
            clearance(1, valid_from=date(2026, 1, 1), valid_until=date(2026, 6, 30), revoked_on=date(2026, 6, 20)),
            clearance(2, valid_from=date(2026, 7, 5), valid_until=date(9999, 12, 31)),
        ],
        diagnoses=[
            diagnosis("Z96.641", qualifier="posterior_approach", onset=date(2026, 3, 1), resolved=date(2026, 9, 1)),
            diagnosis("Z33.1", id=2),  # no onset: no window dates
            diagnosis("Z33.1", id=3, onset=date(2026, 4, 10)),
        ],
        rows=[HIP_ROW, PREGNANCY_ROW, row(11, "M81.0", "lumbar_flexion", from_day=3)],  # M81.0 not diagnosed
    )


def test_change_dates_lists_every_boundary_in_range():
    assert change_dates(dated_facts(), date(2026, 1, 1), date(2026, 12, 31)) == [
        date(2026, 1, 1),  # start, clearance 1 valid_from
        date(2026, 3, 1),  # onset, onset + 0
        date(2026, 4, 10),  # pregnancy onset
        date(2026, 5, 25),  # onset + 84 + 1
        date(2026, 6, 20),  # revoked
        date(2026, 7, 1),  # clearance 1 valid_until + 1
        date(2026, 7, 5),  # clearance 2 valid_from
        date(2026, 7, 10),  # pregnancy onset + 91
        date(2026, 9, 1),  # resolved
    ]


def test_change_dates_always_start_with_start_and_stay_in_range():
    assert change_dates(dated_facts(), date(2026, 5, 26), date(2026, 7, 1)) == [
        date(2026, 5, 26),
        date(2026, 6, 20),
        date(2026, 7, 1),
    ]
    assert change_dates(dated_facts(), date(2026, 7, 2), date(2026, 7, 2)) == [date(2026, 7, 2)]
    assert change_dates(dated_facts(), date(2026, 7, 2), date(2026, 7, 1)) == []


def test_spans_cover_the_range_end_to_end():
    assert spans(dated_facts(), date(2026, 6, 1), date(2026, 7, 5)) == [
        (date(2026, 6, 1), date(2026, 6, 19)),
        (date(2026, 6, 20), date(2026, 6, 30)),
        (date(2026, 7, 1), date(2026, 7, 4)),
        (date(2026, 7, 5), date(2026, 7, 5)),
    ]
    assert spans(facts(clearances=()), D, D) == [(D, D)]
    assert spans(dated_facts(), D, D - timedelta(days=1)) == []


# --- value types and snapshots ---------------------------------------------------------------


def test_facts_snapshot_is_json_safe():
    f = dated_facts()
    snapshot = json.loads(json.dumps(facts_as_dict(f)))
    assert snapshot["clearances"][0]["valid_until"] == "2026-06-30"
    assert snapshot["clearances"][0]["recorded_at"] == "2026-01-01T01:00:00+00:00"
    assert snapshot["diagnoses"][0]["clearance_by"] == ["physician"]
    assert snapshot["contraindications"][0]["from_day"] == 0
    assert snapshot["mobility_level"] == 5


def test_finding_as_dict_is_json_safe():
    (finding,) = evaluate(facts(mobility=1), [item(CAT_COW, key=4)], D)
    assert json.loads(json.dumps(finding.as_dict())) == {
        "code": "mobility_below_minimum",
        "severity": "block",
        "overridable": True,
        "item": 4,
        "item_index": 0,
        "stretch": "cat-and-cow",
        "cause": "mobility:1<min:3",
        "message": "Cat and cow: mobility level 1 is below this stretch's minimum of 3.",
    }


def test_values_are_hashable_and_collections_are_frozen():
    f = Facts([clearance()], [], 3, [])
    assert isinstance(f.clearances, tuple)
    assert hash(f) == hash(facts(mobility=3))
    assert StretchFact("s", "S", ["supine"], 1).tags == frozenset({"supine"})
    assert isinstance(hash(gate_findings()[0]), int)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tag": "supine", "stretch": "pelvic-tilt"},
        {"tag": None, "stretch": None},
        {"tag": "supine", "severity": "mild"},
    ],
)
def test_malformed_contraindication_rows_are_refused(kwargs):
    with pytest.raises(ValueError, match="contraindication 1"):
        row(1, "M81.0", **kwargs)


def test_a_bare_string_is_not_a_tag_set():
    with pytest.raises(TypeError):
        StretchFact("s", "S", "supine", 1)


# --- property: evaluate() is constant within every span --------------------------------------

BASE = date(2026, 1, 1)
TAGS = ("lumbar_flexion", "spinal_rotation", "supine", "kneeling")
CODES = ("M51.26", "M81.0")  # few codes, so rows often meet their diagnosis
PROFESSIONS = sorted(ANY_PROFESSION | {"nurse_midwife"})
day_offsets = st.integers(min_value=0, max_value=150)


def nth_day(offset):
    return BASE + timedelta(days=offset)


def rarely(strategy):
    """A value from ``strategy`` one time in four, else None."""
    return st.tuples(st.integers(0, 3), strategy).map(lambda t: t[1] if t[0] == 0 else None)


@st.composite
def authority_rules(draw):
    """Rules narrowing who may clear a diagnosis: windows around the evaluated range, sometimes another code."""
    rules = []
    for i in range(draw(st.integers(0, 2))):
        from_day = draw(st.none() | st.integers(0, 60))
        until_day = draw(st.none() | st.integers(from_day or 0, 90))
        rules.append(
            AuthorityRuleFact(
                i + 1,
                draw(st.frozensets(st.sampled_from(PROFESSIONS), min_size=1, max_size=3)),
                from_day,
                until_day,
                draw(st.none() | st.sampled_from([*CODES, "M48.56XA"])),
                draw(st.sampled_from(["", "the surgeon decides"])),
            )
        )
    return tuple(rules)


@st.composite
def random_facts(draw):
    """Small patients whose clearances, diagnoses and windows often overlap the evaluated range."""
    clearances = []
    for i in range(draw(st.integers(1, 3))):
        start = draw(day_offsets)
        clearances.append(
            clearance(
                i + 1,
                profession=draw(st.sampled_from(PROFESSIONS)),
                restricted=draw(st.frozensets(st.sampled_from(TAGS), max_size=2)),
                valid_from=nth_day(start),
                valid_until=nth_day(start + draw(st.integers(0, 150))),
                recorded_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=draw(st.integers(0, 3))),
                revoked_on=draw(rarely(day_offsets.map(nth_day))),
            )
        )
    diagnoses = [
        diagnosis(
            draw(st.sampled_from(CODES)),
            id=i + 1,
            phase=draw(st.sampled_from(["", "acute", "chronic"])),  # "" is unknown: rows of any phase apply
            qualifier=draw(st.sampled_from(["", "posterior_approach", "anterior_approach"])),
            onset=draw(st.none() | day_offsets.map(nth_day)),
            resolved=draw(rarely(day_offsets.map(nth_day))),
            authority=draw(authority_rules()),
        )
        for i in range(draw(st.integers(1, 3)))
    ]
    rows = []
    for i in range(draw(st.integers(1, 4))):
        by_tag = draw(st.booleans())
        rows.append(
            row(
                i + 1,
                draw(st.sampled_from(CODES)),
                draw(st.sampled_from(TAGS)) if by_tag else None,
                stretch=None if by_tag else draw(st.sampled_from([s.slug for s in STRETCHES])),
                severity=draw(st.sampled_from(["absolute", "relative"])),
                phase=draw(rarely(st.just("acute"))) or "",
                qualifier=draw(rarely(st.just("posterior_approach"))) or "",
                from_day=draw(st.none() | st.integers(-5, 60)),
                until_day=draw(st.none() | st.integers(0, 90)),
            )
        )
    return facts(clearances, diagnoses, draw(st.none() | st.integers(1, 5)), rows)


def comparable(findings):
    # The no-clearance message quotes the date evaluated; everything else must be identical.
    return [
        {k: v for k, v in x.as_dict().items() if not (k == "message" and x.code == Code.NO_CLEARANCE)} for x in findings
    ]


@settings(max_examples=300, deadline=None, database=None)
@given(f=random_facts(), start=day_offsets, length=st.integers(0, 90))
def test_evaluate_is_constant_within_each_span(f, start, length):
    first, last = nth_day(start), nth_day(start + length)
    items = [item(s, key=i) for i, s in enumerate(STRETCHES)]
    found = spans(f, first, last)
    assert found[0][0] == first
    assert found[-1][1] == last
    for (_, end), (next_start, _) in zip(found, found[1:], strict=False):
        assert next_start == end + timedelta(days=1)
    for span_start, span_end in found:
        assert span_start <= span_end
        expected = comparable(evaluate(f, items, span_start))
        day = span_start + timedelta(days=1)
        while day <= span_end:
            assert comparable(evaluate(f, items, day)) == expected, day
            day += timedelta(days=1)


# Pain and red flags on a session log: tests/test_pain_and_red_flags.py
