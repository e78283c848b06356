"""Who may clear whom (issue 12, part 2): the nurse-midwife profession, who may clear each diagnosis in general
(``Diagnosis.clearance_by``, with its source), and the rules that narrow it by days since onset or by another
diagnosis on record (``ClearanceAuthorityRule``). Ends with a global re-check request: plans cleared by a
profession that may no longer clear (an athletic trainer for neck or back pain) are held by the first outbox
drain after the deploy.

Carries its own data (never live code): ``apply_clearance_authority`` is replayed by the tests' ``catalog``
fixture after a flush. A code missing from the catalog is skipped.
"""

import django.contrib.postgres.fields
import django.db.models.deletion
from django.db import migrations, models

REVIEW_NOTE = "Seed content: a licensed physical therapist must review this row before clinical use."
PROFESSION_CHOICES = [
    ("physician", "Physician"),
    ("physical_therapist", "Physical therapist"),
    ("athletic_trainer", "Athletic trainer"),
    ("nurse_midwife", "Nurse-midwife"),
]

REVIEW = "Limber clinical review 2026 (issue 12)"
SRC_SEED = (
    "Limber seed v1 — DESIGN §2: physician only after surgery or a fracture; otherwise physician or physical"
    " therapist; athletic trainer only for uncomplicated sprains and strains"
)
SRC_LOW_BACK = (
    f"{REVIEW} — unscreened low back pain: screening for serious pathology (red flags) is a physician or physical"
    " therapist skill; NICE NG59 (2016, updated 2020); JOSPT low back pain CPG (George et al. 2021)"
)
SRC_NECK = (
    f"{REVIEW} — unscreened neck pain: screening for vascular pathology of the neck is a physician or physical"
    " therapist skill; IFOMPT International Framework for Examination of the Cervical Region (Rushton et al.,"
    " 2020; JOSPT 2023)"
)
SRC_OSTEOPOROSIS = (
    f"{REVIEW} — Too Fit To Fracture (Giangregorio et al., Osteoporos Int 2014; 2015): a physical therapist may"
    " prescribe exercise in osteoporosis; a vertebral fracture calls for a medical assessment"
)
SRC_HIP = (
    f'{REVIEW} — hip replacement precautions are surgeon-directed for the first weeks (StatPearls "Hip'
    ' Precautions"; Korfitsen et al., Acta Orthop 2023); afterwards a physical therapist may clear exercise'
)
SRC_PREGNANCY = (
    f"{REVIEW} — ACOG Committee Opinion 804 (2020): a pregnant patient is evaluated by her obstetric care"
    " provider (physician or certified nurse-midwife) before an exercise program"
)

# code → (who may clear it in general, source). Codes not listed keep their clearance_by; a blank
# clearance_by_source is filled with SRC_SEED.
CLEARANCE_BY = {
    "M54.50": (["physician", "physical_therapist"], SRC_LOW_BACK),
    "M54.2": (["physician", "physical_therapist"], SRC_NECK),
    "M81.0": (["physician", "physical_therapist"], SRC_OSTEOPOROSIS),
    "Z96.641": (["physician", "physical_therapist"], SRC_HIP),
    "Z96.642": (["physician", "physical_therapist"], SRC_HIP),
    "Z33.1": (["physician", "nurse_midwife"], SRC_PREGNANCY),
}

HIP_RATIONALE = (
    "For 12 weeks after a hip replacement the surgeon's precautions govern what the new joint may do, so only a"
    " physician clears exercise; from day 85 a physical therapist may too."
)
FRACTURE_RATIONALE = (
    "With a vertebral fracture on record, safe spinal loading depends on the fracture's healing and stability,"
    " which needs imaging and a medical assessment."
)

# (diagnosis, professions, from_day, until_day, with_diagnosis, rationale, source): the narrowing rules.
RULES = [
    ("Z96.641", ["physician"], 0, 84, None, HIP_RATIONALE, SRC_HIP),
    ("Z96.642", ["physician"], 0, 84, None, HIP_RATIONALE, SRC_HIP),
    ("M81.0", ["physician"], None, None, "M48.56XA", FRACTURE_RATIONALE, SRC_OSTEOPOROSIS),
]


def apply_clearance_authority(apps, schema_editor=None) -> None:
    """Idempotent: update each diagnosis's clearing professions and create or update each rule by its natural key."""
    Diagnosis = apps.get_model("clinic", "Diagnosis")
    Rule = apps.get_model("clinic", "ClearanceAuthorityRule")
    diagnoses = {d.code: d for d in Diagnosis.objects.all()}
    for code, (clearance_by, source) in CLEARANCE_BY.items():
        if code in diagnoses:
            Diagnosis.objects.filter(pk=diagnoses[code].pk).update(
                clearance_by=clearance_by, clearance_by_source=source
            )
    Diagnosis.objects.filter(clearance_by_source="", code__in=["M43.16", "M48.062"]).update(
        clearance_by_source=SRC_REVIEWED_DIAGNOSIS
    )
    Diagnosis.objects.filter(clearance_by_source="").update(clearance_by_source=SRC_SEED)
    for code, professions, from_day, until_day, with_code, rationale, source in RULES:
        if code not in diagnoses or (with_code is not None and with_code not in diagnoses):
            continue
        Rule.objects.update_or_create(
            diagnosis=diagnoses[code],
            with_diagnosis=diagnoses[with_code] if with_code else None,
            from_day=from_day,
            until_day=until_day,
            defaults={"professions": professions, "rationale": rationale, "source": source, "review_note": REVIEW_NOTE},
        )


# What the codes above allowed before this migration (the v1 seed): the reverse restores it, so a rollback never
# leaves clearance_by widened without the rules that narrowed it.
CLEARANCE_BY_BEFORE = {
    "M54.50": ["physician", "physical_therapist", "athletic_trainer"],
    "M54.2": ["physician", "physical_therapist", "athletic_trainer"],
    "M81.0": ["physician"],
    "Z96.641": ["physician"],
    "Z96.642": ["physician"],
    "Z33.1": ["physician"],
}
# Diagnoses added by the catalog review (0005) are reviewed content, not the v1 seed's rule.
SRC_REVIEWED_DIAGNOSIS = f"{REVIEW} — a spinal condition without surgery or fracture: physician or physical therapist"


def restore_clearance_by(apps, schema_editor=None) -> None:
    Diagnosis = apps.get_model("clinic", "Diagnosis")
    for code, clearance_by in CLEARANCE_BY_BEFORE.items():
        Diagnosis.objects.filter(code=code).update(clearance_by=clearance_by)


REQUEST_GLOBAL_RECHECK = """
INSERT INTO clinic_catalogrecheckrequest (clinic_id, version, done, requested_at, reason, claimed_until)
VALUES (NULL, 1, false, now(), 'who may clear whom changed (clearance authority rules)', NULL)
ON CONFLICT ON CONSTRAINT catalog_recheck_one_per_scope DO UPDATE SET
    version = clinic_catalogrecheckrequest.version + 1, done = false, reason = EXCLUDED.reason
"""


class Migration(migrations.Migration):
    dependencies = [("clinic", "0005_catalog_review")]

    operations = [
        migrations.AddField(
            model_name="diagnosis",
            name="clearance_by_source",
            field=models.CharField(blank=True, help_text="Where the clearing professions come from.", max_length=300),
        ),
        migrations.AlterField(
            model_name="diagnosis",
            name="clearance_by",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.CharField(choices=PROFESSION_CHOICES, max_length=30),
                help_text="Professions that may clear a patient with this diagnosis; its authority rules may narrow them.",
                size=None,
            ),
        ),
        migrations.AlterField(
            model_name="staffmembership",
            name="profession",
            field=models.CharField(blank=True, choices=PROFESSION_CHOICES, max_length=30),
        ),
        migrations.CreateModel(
            name="ClearanceAuthorityRule",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("source", models.CharField(blank=True, max_length=300)),
                ("review_note", models.CharField(blank=True, default=REVIEW_NOTE, max_length=300)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "professions",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.CharField(choices=PROFESSION_CHOICES, max_length=30),
                        help_text="While the rule applies, only these professions may clear the diagnosis.",
                        size=None,
                    ),
                ),
                (
                    "from_day",
                    models.PositiveIntegerField(blank=True, help_text="Days since onset, inclusive.", null=True),
                ),
                (
                    "until_day",
                    models.PositiveIntegerField(blank=True, help_text="Days since onset, inclusive.", null=True),
                ),
                ("rationale", models.TextField()),
                (
                    "diagnosis",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="authority_rules",
                        to="clinic.diagnosis",
                    ),
                ),
                (
                    "with_diagnosis",
                    models.ForeignKey(
                        blank=True,
                        help_text="Applies only while the patient has a diagnosis of this code on record (active or not).",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="clinic.diagnosis",
                    ),
                ),
            ],
            options={
                "ordering": ["diagnosis__code", "id"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("professions__len__gte", 1)), name="authority_rule_professions_nonempty"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("from_day__isnull", False),
                            ("until_day__isnull", False),
                            ("with_diagnosis__isnull", False),
                            _connector="OR",
                        ),
                        name="authority_rule_has_condition",
                        violation_error_message="A rule without a window or another diagnosis belongs in clearance_by.",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("from_day__isnull", True),
                            ("until_day__isnull", True),
                            ("until_day__gte", models.F("from_day")),
                            _connector="OR",
                        ),
                        name="authority_rule_window_ordered",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("with_diagnosis", models.F("diagnosis")), _negated=True),
                        name="authority_rule_other_diagnosis",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("rationale", ""), _negated=True), name="authority_rule_has_rationale"
                    ),
                ],
            },
        ),
        migrations.RunPython(apply_clearance_authority, restore_clearance_by),
        # Both ways: a rollback changes who may clear whom too.
        migrations.RunSQL(REQUEST_GLOBAL_RECHECK, REQUEST_GLOBAL_RECHECK),
    ]
