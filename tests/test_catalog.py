"""The seeded global catalog and the role groups (DESIGN §1, §2, §7), as the migrations leave them."""

import re

import pytest
from django.apps import apps as global_apps
from django.contrib.auth.models import Group, Permission

from clinic.catalog_seed import CATALOG_VERSION, seed_catalog
from clinic.models import REVIEW_NOTE, Contraindication, Diagnosis, MobilityLevel, MovementTag, Stretch
from clinic.roles import ROLE_PERMISSIONS, sync_role_groups

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
}

# Full billable ICD-10-CM shape: letter, two digits, a dot, then 1–4 alphanumerics (placeholder X allowed).
ICD10_BILLABLE = re.compile(r"^[A-Z][0-9]{2}\.[0-9A-Z]{1,4}$")

PHYSICIAN_ONLY = {"Z98.890", "M48.56XA", "Z96.641", "Z96.642", "Z33.1", "M81.0"}
ATHLETIC_TRAINER_OK = {"S39.012A", "M54.50", "M54.2", "S83.90XA"}

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
    ("Z98.890", "lumbar_flexion", "absolute", "", "", 0, 84),
    ("Z98.890", "spinal_rotation", "absolute", "", "", 0, 84),
    ("Z33.1", "supine", "relative", "", "", 91, None),
    ("S83.90XA", "kneeling", "relative", "acute", "", None, None),
]

CATALOG_MODELS = [MovementTag, MobilityLevel, Diagnosis, Stretch, Contraindication, Stretch.tags.through]


def tag_slugs(stretch: Stretch) -> set[str]:
    return set(stretch.tags.values_list("slug", flat=True))


def test_catalog_version():
    assert CATALOG_VERSION == "global-v1"


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


def test_trunk_rotation_has_exactly_its_four_tags(db):
    stretch = Stretch.objects.get(clinic=None, slug="lower-trunk-rotation")
    assert tag_slugs(stretch) == {"spinal_rotation", "hip_adduction_past_midline", "hip_internal_rotation", "supine"}
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
    assert PHYSICIAN_ONLY | ATHLETIC_TRAINER_OK | {"M51.26", "M54.40", "M48.061"} <= codes
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
    before = [model.objects.count() for model in CATALOG_MODELS]
    seed_catalog(global_apps)
    seed_catalog(global_apps)
    assert [model.objects.count() for model in CATALOG_MODELS] == before


def test_seed_restores_a_flushed_catalog(db):
    """Tests that flush the tables re-seed with the same function."""
    before = [model.objects.count() for model in CATALOG_MODELS]
    Contraindication.objects.all().delete()
    Stretch.tags.through.objects.all().delete()
    Stretch.objects.all().delete()
    seed_catalog(global_apps)
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
    assert not any(name.startswith(("clinic.add_", "clinic.change_")) for name in perms)


def test_clinic_admin_edits_clinic_catalog_and_staff(db):
    perms = group_perms("clinic_admin")
    assert {"clinic.add_stretch", "clinic.change_contraindication", "clinic.add_staffmembership"} <= perms
    assert set(ROLE_PERMISSIONS["front_desk"]) <= perms
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
