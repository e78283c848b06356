"""The seeded global catalog and the role groups (DESIGN §1, §2, §7), as the migrations leave them."""

import ast
import hashlib
import importlib
import inspect
import json
import re
from pathlib import Path

import pytest
from django.apps import apps as global_apps
from django.contrib.auth.models import Group, Permission

from clinic.models import (
    CATALOG_VERSION,
    REVIEW_NOTE,
    ClearanceAuthorityRule,
    Contraindication,
    Diagnosis,
    MobilityLevel,
    MovementTag,
    ProtocolTemplate,
    Stretch,
)
from clinic.policy import ROLE_PERMISSIONS, TEMPLATE_MODELS
from clinic.roles import sync_role_groups

TAGS = {
    "lumbar_flexion",
    "lumbar_extension",
    "spinal_rotation",
    "cervical_flexion",
    "cervical_extension",
    "cervical_rotation",
    "hip_flexion_over_90",
    "hip_adduction_past_midline",
    "hip_internal_rotation",
    "kneeling",
    "prone",
    "supine",
    "weight_bearing_wrist",
    # The clinical review (issue 12, migration 0005).
    "hip_extension",
    "hip_external_rotation",
    "sciatic_neural_tension",
    "knee_deep_flexion",
}

# Full billable ICD-10-CM shape: letter, two digits, a dot, then 1–4 alphanumerics (placeholder X allowed).
ICD10_BILLABLE = re.compile(r"^[A-Z][0-9]{2}\.[0-9A-Z]{1,4}$")

# Who may clear each diagnosis in general (issue 12 part 2, migration 0006; authority rules narrow it further:
# tests/test_clearance_authority.py).
PHYSICIAN_ONLY = {"Z98.890", "M48.56XA"}
ATHLETIC_TRAINER_OK = {"S39.012A", "S83.90XA"}
PHYSICIAN_OR_NURSE_MIDWIFE = {"Z33.1"}

# (diagnosis, tag, severity, phase, qualifier, from_day, until_day): every row DESIGN §2 lists.
DESIGN_ROWS = [
    ("M51.26", "lumbar_flexion", "absolute", "acute", "", None, None),
    ("M48.56XA", "lumbar_flexion", "absolute", "", "", None, None),
    ("M81.0", "lumbar_flexion", "absolute", "", "", None, None),
    ("M81.0", "spinal_rotation", "relative", "", "", None, None),
    *[
        (code, tag, "absolute", "", "posterior_approach", 0, 84)
        for code in ("Z96.641", "Z96.642")
        for tag in ("hip_flexion_over_90", "hip_adduction_past_midline", "hip_internal_rotation")
    ],
    # After spinal surgery: since the review (issue 12) these rows are the lumbar fusion's.
    ("Z98.890", "lumbar_flexion", "absolute", "", "lumbar_fusion", 0, 84),
    ("Z98.890", "spinal_rotation", "absolute", "", "lumbar_fusion", 0, 84),
    ("Z33.1", "supine", "relative", "", "", 91, None),
    ("S83.90XA", "kneeling", "relative", "acute", "", None, None),
]

CATALOG_MODELS = [
    MovementTag,
    MobilityLevel,
    Diagnosis,
    Stretch,
    Contraindication,
    Stretch.tags.through,
    ClearanceAuthorityRule,
]

seed = importlib.import_module("clinic.migrations.0002_seed_catalog")
review = importlib.import_module("clinic.migrations.0005_catalog_review")
authority = importlib.import_module("clinic.migrations.0006_clearance_authority")


def replay_catalog() -> None:
    """The catalog's data functions in migration order, as the ``catalog`` fixture replays them."""
    seed.seed_catalog(global_apps)
    review.review_catalog(global_apps, None)
    authority.apply_clearance_authority(global_apps)


def tag_slugs(stretch: Stretch) -> set[str]:
    return set(stretch.tags.values_list("slug", flat=True))


def test_catalog_version():
    assert CATALOG_VERSION == "global-v2"


# sha256 of migration 0002's data and upsert, taken when they were frozen out of clinic/catalog_seed.py (issue 14,
# item 7) and checked equal to that module's constants and ``seed_catalog`` then. Migration history is never
# edited: a catalog change is a new data migration, so this digest never changes.
FROZEN_V1_DIGEST = "ac76f773315ecf4a4ae3befde594ecbae872d802b451ecbd240dc14f550ad9ec"


def test_the_v1_seed_migration_is_frozen():
    data = {name: getattr(seed, name) for name in dir(seed) if name.isupper()}
    payload = json.dumps(data, sort_keys=True, ensure_ascii=False) + inspect.getsource(seed.seed_catalog)
    assert hashlib.sha256(payload.encode()).hexdigest() == FROZEN_V1_DIGEST


PROJECT_APPS = {"clinic", "patients", "prescriptions", "config"}
# The role groups come from a post_migrate handler (issue 14, item 5): no migration imports live code.
LIVE_IMPORT_ALLOWED: set[tuple[str, str]] = set()


def test_migrations_import_no_live_project_code():
    """Data migrations carry their own data. The only project imports left are the ``import clinic.models`` that
    makemigrations writes for a field validator's path (``clinic.models.validate_timezone``)."""
    root = Path(__file__).resolve().parent.parent
    found = set()
    for path in sorted(root.glob("*/migrations/*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names if alias.name != "clinic.models"]
            else:
                continue
            found |= {
                (str(path.relative_to(root)), module) for module in modules if module.split(".")[0] in PROJECT_APPS
            }
    assert found == LIVE_IMPORT_ALLOWED


def test_movement_tags_are_exactly_the_vocabulary(db):
    assert set(MovementTag.objects.values_list("slug", flat=True)) == TAGS
    for tag in MovementTag.objects.all():
        assert tag.name
        assert tag.description
        assert tag.source


def test_mobility_levels_one_to_five_with_descriptions(db):
    levels = list(MobilityLevel.objects.order_by("level"))
    assert [level.level for level in levels] == [1, 2, 3, 4, 5]
    assert all(level.name and level.description and level.source for level in levels)


@pytest.mark.parametrize(
    ("slug", "kind", "tags"),
    [
        ("knees-to-chest", "static", {"lumbar_flexion", "hip_flexion_over_90", "supine"}),
        ("pelvic-tilt", "dynamic", {"supine"}),
        ("prayer-stretch", "static", {"kneeling", "lumbar_flexion", "hip_flexion_over_90"}),
        (
            "lower-trunk-rotation",
            "dynamic",
            {"spinal_rotation", "hip_adduction_past_midline", "hip_internal_rotation", "supine"},
        ),
        ("cat-cow", "dynamic", {"lumbar_flexion", "lumbar_extension", "kneeling", "weight_bearing_wrist"}),
    ],
)
def test_the_sources_five_stretches(db, slug, kind, tags):
    stretch = Stretch.objects.get(clinic=None, slug=slug)
    assert stretch.kind == kind
    assert tags <= tag_slugs(stretch)


def test_trunk_rotation_has_exactly_its_five_tags(db):
    """DESIGN §2's four, and the lower knee's hip turning out (the review, issue 12)."""
    stretch = Stretch.objects.get(clinic=None, slug="lower-trunk-rotation")
    assert tag_slugs(stretch) == {
        "spinal_rotation",
        "hip_adduction_past_midline",
        "hip_internal_rotation",
        "hip_external_rotation",
        "supine",
    }
    assert stretch.position == Stretch.Position.SUPINE


def test_source_dosages(db):
    pelvic_tilt = Stretch.objects.get(clinic=None, slug="pelvic-tilt")
    assert (pelvic_tilt.default_hold_seconds, pelvic_tilt.default_reps) == (5, 10)
    assert Stretch.objects.get(clinic=None, slug="cat-cow").default_reps == 10


def test_every_global_stretch_is_complete(db):
    stretches = list(Stretch.objects.filter(clinic=None).select_related("min_mobility"))
    assert len(stretches) >= 12
    for stretch in stretches:
        assert 3 <= len(stretch.steps) <= 6, stretch.slug
        assert all(step.strip() for step in stretch.steps), stretch.slug
        assert stretch.source, stretch.slug
        assert stretch.review_note == REVIEW_NOTE, stretch.slug
        if stretch.kind == Stretch.Kind.STATIC:
            assert 15 <= stretch.default_hold_seconds <= 30, stretch.slug
            assert 2 <= stretch.default_reps <= 4, stretch.slug
        else:
            assert 8 <= stretch.default_reps <= 15, stretch.slug


def test_floor_and_kneeling_stretches_need_mobility_three(db):
    needs_floor = Stretch.objects.filter(clinic=None, position__in=["kneeling", "quadruped"])
    assert needs_floor.exists()
    for stretch in needs_floor.select_related("min_mobility"):
        assert stretch.min_mobility.level >= 3, stretch.slug
    for stretch in Stretch.objects.filter(clinic=None, tags__slug="kneeling").select_related("min_mobility"):
        assert stretch.min_mobility.level >= 3, stretch.slug


def test_diagnoses_are_billable_codes(db):
    diagnoses = list(Diagnosis.objects.all())
    assert len(diagnoses) >= 12
    codes = {diagnosis.code for diagnosis in diagnoses}
    assert (
        PHYSICIAN_ONLY
        | ATHLETIC_TRAINER_OK
        | PHYSICIAN_OR_NURSE_MIDWIFE
        | {"M51.26", "M54.40", "M54.16", "M48.061", "M43.16", "M48.062", "M54.50", "M54.2", "M81.0", "Z96.641"}
        <= codes
    )
    for diagnosis in diagnoses:
        assert ICD10_BILLABLE.match(diagnosis.code), diagnosis.code
        assert diagnosis.name, diagnosis.code
        assert diagnosis.body_region, diagnosis.code
        assert diagnosis.source, diagnosis.code


def test_clearance_by_rules(db):
    for diagnosis in Diagnosis.objects.all():
        if diagnosis.code in PHYSICIAN_ONLY:
            assert diagnosis.clearance_by == ["physician"], diagnosis.code
        elif diagnosis.code in ATHLETIC_TRAINER_OK:
            assert set(diagnosis.clearance_by) == {"physician", "physical_therapist", "athletic_trainer"}
        elif diagnosis.code in PHYSICIAN_OR_NURSE_MIDWIFE:
            assert set(diagnosis.clearance_by) == {"physician", "nurse_midwife"}, diagnosis.code
        else:
            assert set(diagnosis.clearance_by) == {"physician", "physical_therapist"}, diagnosis.code


@pytest.mark.parametrize(("code", "tag", "severity", "phase", "qualifier", "from_day", "until_day"), DESIGN_ROWS)
def test_design_contraindications_exist(db, code, tag, severity, phase, qualifier, from_day, until_day):
    row = Contraindication.objects.get(
        clinic=None,
        diagnosis__code=code,
        tag__slug=tag,
        stretch=None,
        phase=phase,
        qualifier=qualifier,
        from_day=from_day,
        until_day=until_day,
    )
    assert row.severity == severity
    assert row.rationale.strip()
    assert row.source


def test_every_contraindication_is_global_and_explained(db):
    assert Contraindication.objects.count() >= len(DESIGN_ROWS)
    for row in Contraindication.objects.all():
        assert row.clinic_id is None
        assert row.rationale.strip()
        assert row.source
        assert row.review_note == REVIEW_NOTE


def test_seed_is_idempotent(db):
    """Replaying the catalog's data functions over the migrated catalog changes nothing, even the v1 seed's rows
    that the review moved (the replay re-creates them and the review removes them again)."""
    before = [model.objects.count() for model in CATALOG_MODELS]
    ids = set(Contraindication.objects.values_list("id", flat=True))
    replay_catalog()
    replay_catalog()
    assert [model.objects.count() for model in CATALOG_MODELS] == before
    assert set(Contraindication.objects.values_list("id", flat=True)) == ids


def test_seed_restores_a_flushed_catalog(db):
    """Tests that flush the tables re-seed with the same function."""
    before = [model.objects.count() for model in CATALOG_MODELS]
    ProtocolTemplate.objects.all().delete()  # the starter templates (clinic 0009) name stretches: a flush empties both
    Contraindication.objects.all().delete()
    Stretch.tags.through.objects.all().delete()
    Stretch.objects.all().delete()
    replay_catalog()
    assert [model.objects.count() for model in CATALOG_MODELS] == before


def group_perms(name: str) -> set[str]:
    group = Group.objects.get(name=name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def test_role_groups_match_the_table(db):
    assert set(Group.objects.values_list("name", flat=True)) >= {"therapist", "front_desk", "clinic_admin"}
    for role, names in ROLE_PERMISSIONS.items():
        assert group_perms(role) == set(names), role


def test_every_role_permission_exists(db):
    existing = {
        f"{app_label}.{codename}"
        for app_label, codename in Permission.objects.values_list("content_type__app_label", "codename")
    }
    for names in ROLE_PERMISSIONS.values():
        assert set(names) <= existing


def test_front_desk_cannot_prescribe(db):
    perms = group_perms("front_desk")
    assert not {"prescriptions.add_prescription", "prescriptions.change_prescription"} & perms
    assert not any(name.startswith("prescriptions.add_") for name in perms)
    assert {"patients.add_patient", "patients.change_clearance", "prescriptions.change_safetyflag"} <= perms


def test_therapist_prescribes(db):
    perms = group_perms("therapist")
    assert {"prescriptions.add_prescription", "prescriptions.change_prescription", "patients.add_clearance"} <= perms
    # The catalog is read-only to therapists; their clinic's own protocol templates are theirs to write (issue 17).
    writes = {name for name in perms if name.startswith(("clinic.add_", "clinic.change_"))}
    assert writes == {f"clinic.{verb}_{model}" for verb in ("add", "change") for model in TEMPLATE_MODELS}


def test_clinic_admin_edits_clinic_catalog_and_staff(db):
    perms = group_perms("clinic_admin")
    assert {"clinic.add_stretch", "clinic.change_contraindication", "clinic.add_staffmembership"} <= perms
    # Everything the front desk does, but recording and revoking clearances, which the policy gives to the desk
    # and therapists only (a button the clinic admin's role would be refused is not offered).
    clearance_writes = {"patients.add_clearance", "patients.change_clearance"}
    assert set(ROLE_PERMISSIONS["front_desk"]) - clearance_writes <= perms
    assert not perms & clearance_writes
    assert "prescriptions.add_prescription" not in perms


def test_nobody_deletes(db):
    for role in ROLE_PERMISSIONS:
        perms = group_perms(role)
        assert not [name for name in perms if ".delete_" in name], role


def test_sync_role_groups_is_idempotent(db):
    before = {role: group_perms(role) for role in ROLE_PERMISSIONS}
    sync_role_groups(global_apps)
    assert {role: group_perms(role) for role in ROLE_PERMISSIONS} == before
    assert Group.objects.filter(name__in=ROLE_PERMISSIONS).count() == len(ROLE_PERMISSIONS)


# --- The clinical review (issue 12, part 1; migration 0005_catalog_review) ----------------------------------

# (diagnosis, tag, severity, phase, qualifier, from_day, until_day, precaution window): every row the review adds
# or changes.
REVIEW_ROWS = [
    *[
        ("Z98.890", tag, "absolute", "", "lumbar_fusion", 0, 84, "")
        for tag in ("lumbar_flexion", "spinal_rotation", "lumbar_extension")
    ],
    *[
        ("Z98.890", tag, "absolute", "", "lumbar_discectomy", 0, 42, "")
        for tag in ("lumbar_flexion", "spinal_rotation")
    ],
    *[
        ("Z98.890", tag, "absolute", "", "cervical_fusion", 0, 42, "")
        for tag in ("cervical_rotation", "cervical_extension", "cervical_flexion")
    ],
    *[
        (code, tag, "absolute", "", "posterior_approach", 0, 84, "hip_posterior")
        for code in ("Z96.641", "Z96.642")
        for tag in ("hip_flexion_over_90", "hip_adduction_past_midline", "hip_internal_rotation")
    ],
    *[
        (code, tag, "absolute", "", "anterior_approach", 0, 42, "hip_anterior")
        for code in ("Z96.641", "Z96.642")
        for tag in ("hip_extension", "hip_external_rotation")
    ],
    *[
        (code, tag, "relative", "acute", "", None, None, "")
        for code in ("M54.16", "M54.40")
        for tag in ("sciatic_neural_tension", "lumbar_flexion")
    ],
    ("M51.26", "lumbar_flexion", "relative", "subacute", "", None, None, ""),
    ("M48.56XA", "spinal_rotation", "absolute", "", "", 0, 84, ""),
    ("M48.56XA", "spinal_rotation", "relative", "", "", 85, None, ""),
    ("S83.90XA", "knee_deep_flexion", "absolute", "acute", "", None, None, ""),
    ("S83.90XA", "kneeling", "relative", "subacute", "", None, None, ""),
    ("M43.16", "lumbar_extension", "relative", "", "", None, None, ""),
    ("M48.062", "lumbar_extension", "relative", "", "", None, None, ""),
]

REVIEW_SOURCE = "Limber clinical review 2026 (issue 12)"


@pytest.mark.parametrize(
    ("code", "tag", "severity", "phase", "qualifier", "from_day", "until_day", "window"), REVIEW_ROWS
)
def test_review_rows_exist_with_their_source(db, code, tag, severity, phase, qualifier, from_day, until_day, window):
    row = Contraindication.objects.get(
        clinic=None,
        diagnosis__code=code,
        tag__slug=tag,
        stretch=None,
        phase=phase,
        qualifier=qualifier,
        from_day=from_day,
        until_day=until_day,
    )
    assert (row.severity, row.precaution_window) == (severity, window)
    assert row.rationale.strip()
    assert row.source.startswith(REVIEW_SOURCE)
    assert row.review_note == REVIEW_NOTE


def test_the_review_leaves_no_unscoped_spinal_surgery_row_and_no_open_fracture_rotation_row(db):
    assert not Contraindication.objects.filter(clinic=None, diagnosis__code="Z98.890", qualifier="").exists()
    assert not Contraindication.objects.filter(
        clinic=None, diagnosis__code="M48.56XA", tag__slug="spinal_rotation", from_day=None
    ).exists()


def test_the_review_moves_the_v1_rows_in_place(db):
    """Overrides name rows by id: the v1 spinal-surgery and fracture-rotation rows keep theirs."""
    Contraindication.objects.all().delete()
    seed.seed_catalog(global_apps)
    v1 = {
        (row.diagnosis.code, row.tag.slug): row.pk
        for row in Contraindication.objects.filter(
            diagnosis__code__in=["Z98.890", "M48.56XA"], tag__slug="spinal_rotation"
        ).select_related("diagnosis", "tag")
        | Contraindication.objects.filter(diagnosis__code="Z98.890", tag__slug="lumbar_flexion").select_related(
            "diagnosis", "tag"
        )
    }
    review.review_catalog(global_apps, None)
    moved = Contraindication.objects.in_bulk(v1.values())
    assert {(moved[pk].qualifier, moved[pk].from_day) for (code, _), pk in v1.items() if code == "Z98.890"} == {
        ("lumbar_fusion", 0)
    }
    assert moved[v1[("M48.56XA", "spinal_rotation")]].from_day == 85


@pytest.mark.parametrize(
    ("slug", "added"),
    [
        ("piriformis-stretch", {"lumbar_flexion", "hip_external_rotation"}),
        ("standing-hip-flexor-stretch", {"hip_extension"}),
        ("lower-trunk-rotation", {"hip_external_rotation"}),
        ("seated-hamstring-stretch", {"sciatic_neural_tension"}),
        ("prayer-stretch", {"knee_deep_flexion"}),
    ],
)
def test_review_tags_on_stretches(db, slug, added):
    stretch = Stretch.objects.get(clinic=None, slug=slug)
    assert added <= tag_slugs(stretch)
    assert stretch.source.startswith(REVIEW_SOURCE) and len(stretch.source) <= 300
    assert stretch.review_note == REVIEW_NOTE


def test_review_dosage_and_mobility_changes(db):
    bridge = Stretch.objects.select_related("min_mobility").get(clinic=None, slug="bridge")
    assert bridge.min_mobility.level == 2 and "firm bed" in bridge.steps[0]
    for slug in ("seated-thoracic-rotation", "cervical-rotation-stretch"):
        stretch = Stretch.objects.get(clinic=None, slug=slug)
        assert (stretch.default_hold_seconds, stretch.default_reps) == (20, 3), slug
        assert "ACSM" in stretch.source
    for stretch in (bridge,):  # the steps' own source stays; the review's follows it
        assert stretch.source.startswith("Limber seed v1") and REVIEW_SOURCE in stretch.source


def test_review_diagnoses_and_tags_have_sources(db):
    for code in ("M43.16", "M48.062"):
        diagnosis = Diagnosis.objects.get(code=code)
        assert diagnosis.body_region == "lumbar" and diagnosis.source.startswith(REVIEW_SOURCE)
        assert set(diagnosis.clearance_by) <= {"physician", "physical_therapist"}
    for slug in ("hip_extension", "hip_external_rotation", "sciatic_neural_tension", "knee_deep_flexion"):
        tag = MovementTag.objects.get(slug=slug)
        assert tag.description and tag.source.startswith(REVIEW_SOURCE)
