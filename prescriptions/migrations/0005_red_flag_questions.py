"""Red-flag questions as data and the pain-monitoring model (issue 12, parts 3 and 4).

- ``RedFlagQuestion``: the questions a session log asks, who is asked, the severity and advice of a yes, and
  each question's source, seeded below by ``seed_red_flag_questions`` (self-contained: this file carries its own
  data, and tests that flush tables replay the function).
- ``SessionLog``: the three red-flag booleans become ``red_flag_answers`` ({slug: yes?}) with the questions
  asked as worded then (``red_flag_questions``), and ``hurt_items`` names the stretches that hurt. Existing logs
  and their audit events (pghistory) get their three answers copied under the same slugs, with the wording the
  portal asked them in, before the old columns are dropped; the audit triggers are off while the live rows are
  copied, so the copy adds no synthetic "update" events. Reversible, with a loss: the three old answers go
  back to the booleans; answers to the questions added here have no column to go back to and are dropped.
"""

import django.contrib.postgres.fields
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models

REVIEW_NOTE = "Seed content: a licensed physical therapist must review this row before clinical use."

# --- Sources ----------------------------------------------------------------------------------------------
CES = (
    "NICE NG59 Low back pain and sciatica in over 16s (2016, rev. 2020); GIRFT/NHS England National Suspected "
    "Cauda Equina Syndrome Pathway (2023) and its patient CES warning card"
)
SPINAL_PATHOLOGY = (
    "Finucane et al., International Framework for Red Flags for Potential Serious Spinal Pathologies, "
    "JOSPT 2020;50(7):350-372; NICE NG59 (2016, rev. 2020)"
)
PERIPHERALISATION = (
    "JOSPT low back pain CPG (Delitto et al. 2012; George et al. 2021) and neck pain CPG (Blanpied et al. 2017): "
    "symptoms spreading further into a limb (peripheralisation) with a movement"
)
MYELOPATHY = (
    "Cook et al., Clustered clinical findings for diagnosis of cervical spine myelopathy, J Man Manip Ther "
    "2010;18(4):175-180; Davies et al., Degenerative cervical myelopathy, BMJ 2018;360:k186"
)
IFOMPT = (
    "Rushton et al., International IFOMPT Cervical Framework (vascular pathologies of the neck), "
    "JOSPT 2023;53(1):7-22"
)
ACOG = (
    "ACOG Committee Opinion 804, Physical Activity and Exercise During Pregnancy and the Postpartum Period, "
    "Obstet Gynecol 2020;135(4):e178-e188 (warning signs to stop exercising)"
)
FETAL_MOVEMENTS = f"{ACOG}; RCOG Green-top Guideline 57, Reduced Fetal Movements (2011)"
VTE = (
    "NICE NG89 Venous thromboembolism in over 16s (2018, rev. 2019); NICE NG158 VTE diseases (2020); "
    "ACOG Committee Opinion 804 (2020)"
)
WOUND = (
    "NICE NG125 Surgical site infections (2019, rev. 2020); CDC NHSN surveillance window of 90 days after "
    "implant surgery; spinal fusion and hip replacement discharge instructions"
)
HIP = (
    "AAOS OrthoInfo, Total Hip Replacement (dislocation, periprosthetic fracture); StatPearls, Hip Precautions "
    "and Hip Dislocation; Korfitsen et al., Acta Orthop 2023"
)

# --- Advice of a yes --------------------------------------------------------------------------------------
CES_ADVICE = (
    "Go to an emergency department (A&E) now, without waiting for an appointment, and say you may have cauda "
    "equina syndrome. Then tell your clinic. Don't do these stretches until your clinic has spoken to you."
)
EMERGENCY = "Call your emergency number now (such as 911, 999 or 112)"
SAME_DAY_DOCTOR = (
    "Stop these stretches and see a doctor today (your own doctor, or urgent care if you can't be seen today), "
    "and tell them about your back or neck pain. Then tell your clinic."
)
MYELOPATHY_ADVICE = (
    "Stop these stretches and call your doctor or your clinic today: this can be a sign of pressure on the "
    "spinal cord or a nerve in your neck, which a doctor needs to check soon."
)
MATERNITY_NOW = "Stop exercising and call your midwife, doctor or maternity unit now."

# Who is asked: no plan region and no diagnosis = everyone.
AFTER_SURGERY = [{"code": "Z98.890", "until_day": 90}, {"code": "Z96.64", "until_day": 90}]
PREGNANCY = [{"code": "Z33.1", "until_day": None}]
NECK = ["cervical"]

QUESTIONS = [
    # Everyone: cauda equina (the UK warning card's symptoms) and serious spinal pathology.
    {
        "slug": "saddle_numbness",
        "order": 10,
        "text": "Since your last session, have you had numbness or pins and needles between your legs, or around "
        "your back passage or genitals?",
        "symptom": "numbness between the legs or around the back passage (saddle area)",
        "severity": "urgent",
        "advice": CES_ADVICE,
        "source": CES,
    },
    {
        "slug": "bladder_bowel_change",
        "order": 20,
        "text": "Since your last session, have you had new trouble starting or stopping when you pass urine, not "
        "felt when your bladder is full, or leaked urine or stool without meaning to?",
        "symptom": "new trouble passing or holding urine or stool",
        "severity": "urgent",
        "advice": CES_ADVICE,
        "source": CES,
    },
    {
        "slug": "progressive_leg_weakness",
        "order": 30,
        "text": "Since your last session, has a leg or foot been getting weaker, or have both of your legs gone "
        "numb or tingly?",
        "symptom": "a leg or foot getting weaker, or both legs numb",
        "severity": "urgent",
        "advice": CES_ADVICE,
        "source": CES,
    },
    {
        "slug": "fever_or_unwell",
        "order": 40,
        "text": "Since your last session, have you had a new fever, chills or night sweats, or felt generally "
        "unwell?",
        "symptom": "new fever or feeling generally unwell",
        "severity": "urgent",
        "advice": SAME_DAY_DOCTOR,
        "source": SPINAL_PATHOLOGY,
    },
    {
        "slug": "fall_or_injury",
        "order": 50,
        "text": "Since your last session, have you had a fall, an accident or another injury?",
        "symptom": "a fall or injury",
        "severity": "urgent",
        "advice": "Don't do these stretches until your clinic has checked you: call them today. If the pain is "
        "severe, you can't move or stand on your legs as usual, or you hit your head, go to an emergency "
        "department now.",
        "source": SPINAL_PATHOLOGY,
    },
    {
        "slug": "constant_or_night_pain",
        "order": 60,
        "text": "Since your last session, have you had pain that is there all the time, that rest does not ease, "
        "or that wakes you at night?",
        "symptom": "constant pain, not eased by rest, or waking at night",
        "severity": "urgent",
        "advice": "Stop these stretches and call your clinic today: pain like this needs checking by your doctor "
        "or therapist before you carry on.",
        "source": SPINAL_PATHOLOGY,
    },
    {
        "slug": "spreading_symptoms",
        "order": 70,
        "text": "Since your last session, has pain, numbness or tingling spread further down a leg or an arm?",
        "symptom": "pain or tingling spreading further down a leg or arm",
        "severity": "warning",
        "advice": "Stop the stretch that makes the pain or tingling spread, and do the others only if they don't. "
        "Your clinic has been told and will review that stretch. If a leg or arm also gets weaker, call your "
        "clinic today.",
        "source": PERIPHERALISATION,
    },
    # Neck plans (and neck pain): cervical myelopathy; vascular symptoms with the neck stretches.
    {
        "slug": "clumsy_hands_or_unsteady_walking",
        "order": 100,
        "text": "Since your last session, have your hands become clumsy (with buttons, writing or picking up "
        "coins, say), or has your walking become unsteady?",
        "symptom": "clumsy hands or unsteady walking (possible cervical myelopathy)",
        "severity": "urgent",
        "advice": MYELOPATHY_ADVICE,
        "plan_regions": NECK,
        "diagnoses": [{"code": "M54.2", "until_day": None}],
        "source": MYELOPATHY,
    },
    {
        "slug": "arm_weakness",
        "order": 110,
        "text": "Since your last session, has an arm or a hand been getting weaker?",
        "symptom": "an arm or hand getting weaker",
        "severity": "urgent",
        "advice": MYELOPATHY_ADVICE,
        "plan_regions": NECK,
        "diagnoses": [{"code": "M54.2", "until_day": None}],
        "source": MYELOPATHY,
    },
    {
        "slug": "neck_stretch_vascular_symptoms",
        "order": 120,
        "text": "During or after your neck stretches since your last session, have you had any of these: "
        "dizziness, seeing double, slurred speech, trouble swallowing, a sudden fall, numbness in your face, "
        "feeling sick, or a sudden, severe headache?",
        "symptom": "dizziness, double vision, slurred speech, trouble swallowing, a drop attack, facial numbness, "
        "nausea or a sudden severe headache with the neck stretches (possible vascular pathology)",
        "severity": "urgent",
        "advice": f"{EMERGENCY} and say you had these symptoms with neck stretches: they can be signs of a problem "
        "with a blood vessel in the neck or of a stroke. Don't drive yourself. Don't do the neck stretches "
        "again until a doctor has checked you.",
        "plan_regions": NECK,
        "source": IFOMPT,
    },
    # Pregnancy.
    {
        "slug": "pregnancy_bleeding_or_fluid",
        "order": 200,
        "text": "Since your last session, have you had any bleeding, or fluid leaking, from your vagina?",
        "symptom": "vaginal bleeding or fluid leaking (pregnancy)",
        "severity": "urgent",
        "advice": f"{MATERNITY_NOW} If the bleeding is heavy or you feel faint, call your emergency number.",
        "diagnoses": PREGNANCY,
        "source": ACOG,
    },
    {
        "slug": "pregnancy_painful_contractions",
        "order": 210,
        "text": "Since your last session, have you had painful contractions, or tightenings of your bump that come "
        "regularly?",
        "symptom": "painful or regular contractions (pregnancy)",
        "severity": "urgent",
        "advice": MATERNITY_NOW,
        "diagnoses": PREGNANCY,
        "source": ACOG,
    },
    {
        "slug": "pregnancy_baby_moving_less",
        "order": 220,
        "text": "Since your last session, has your baby been moving less than usual?",
        "symptom": "baby moving less than usual (pregnancy)",
        "severity": "urgent",
        "advice": "Call your midwife or maternity unit now: don't wait until tomorrow or your next appointment. "
        "Don't do these stretches until they have checked you.",
        "diagnoses": PREGNANCY,
        "source": FETAL_MOVEMENTS,
    },
    # Pregnancy and the first 90 days after surgery: blood clots.
    {
        "slug": "calf_pain_or_swelling",
        "order": 300,
        "text": "Since your last session, have you had pain, swelling, warmth or redness in one calf (the back of "
        "your lower leg)?",
        "symptom": "pain or swelling in one calf (possible deep vein thrombosis)",
        "severity": "urgent",
        "advice": "Call your doctor, midwife or surgeon's team now, today: a painful, swollen calf can be a blood "
        "clot. If you also get short of breath or chest pain, call your emergency number.",
        "diagnoses": PREGNANCY + AFTER_SURGERY,
        "source": VTE,
    },
    {
        "slug": "chest_pain_or_breathless",
        "order": 310,
        "text": "Since your last session, have you had chest pain, suddenly become short of breath, or coughed up "
        "blood?",
        "symptom": "chest pain or sudden breathlessness (possible pulmonary embolism)",
        "severity": "urgent",
        "advice": f"{EMERGENCY}: chest pain or sudden breathlessness can be a blood clot in the lungs.",
        "diagnoses": PREGNANCY + AFTER_SURGERY,
        "source": VTE,
    },
    # The first 90 days after surgery: the wound.
    {
        "slug": "wound_red_or_leaking",
        "order": 320,
        "text": "Since your last session, has your operation wound become red, hot, more swollen or more painful, "
        "or started leaking fluid or pus?",
        "symptom": "operation wound red, hot or leaking (possible infection)",
        "severity": "urgent",
        "advice": "Call your surgeon's team today (urgent care out of hours): your wound needs checking for "
        "infection. Don't do these stretches until it has been checked.",
        "diagnoses": AFTER_SURGERY,
        "source": WOUND,
    },
    # Hip replacement, for life.
    {
        "slug": "hip_dislocation_signs",
        "order": 400,
        "text": "Since your last session, have you had sudden, severe pain in your replaced hip, has that leg looked "
        "shorter or turned in or out, or have you been unable to put weight on it?",
        "symptom": "sudden severe hip pain, the leg shorter or turned, or unable to bear weight (possible "
        "dislocation or fracture)",
        "severity": "urgent",
        "advice": f"Keep still and don't try to put the hip back. {EMERGENCY} or go to an emergency department, "
        "then tell your surgeon's team and your clinic.",
        "diagnoses": [{"code": "Z96.64", "until_day": None}],
        "source": HIP,
    },
]


def seed_red_flag_questions(apps, schema_editor=None):
    """Create or refresh the seeded questions by slug (idempotent: tests that flush tables replay it)."""
    question_model = apps.get_model("prescriptions", "RedFlagQuestion")
    for row in QUESTIONS:
        defaults = {
            "plan_regions": [],
            "diagnoses": [],
            "active": True,
            "review_note": REVIEW_NOTE,
            **{key: value for key, value in row.items() if key != "slug"},
        }
        question_model.objects.update_or_create(slug=row["slug"], defaults=defaults)


# The three questions every log asked before this migration, as the portal worded them.
OLD_QUESTIONS = [
    ("saddle_numbness", "Numbness in the saddle area?"),
    ("bladder_bowel_change", "A new change in bladder or bowel control?"),
    ("progressive_leg_weakness", "Leg weakness that is getting worse?"),
]


def _copy_sql(table: str) -> str:
    answers = ", ".join(f"'{slug}', {slug}" for slug, _ in OLD_QUESTIONS)
    asked = ", ".join(
        f"jsonb_build_object('slug', '{slug}', 'text', '{text}', 'severity', 'urgent')" for slug, text in OLD_QUESTIONS
    )
    return (
        f'UPDATE "{table}" SET red_flag_answers = jsonb_build_object({answers}), '
        f"red_flag_questions = jsonb_build_array({asked})"
    )


def answers_from_booleans(apps, schema_editor):
    for name in ("SessionLog", "SessionLogEvent"):
        schema_editor.execute(_copy_sql(apps.get_model("prescriptions", name)._meta.db_table))


def booleans_from_answers(apps, schema_editor):
    for name in ("SessionLog", "SessionLogEvent"):
        table = apps.get_model("prescriptions", name)._meta.db_table
        columns = ", ".join(
            f"{slug} = COALESCE((red_flag_answers ->> '{slug}')::boolean, false)" for slug, _ in OLD_QUESTIONS
        )
        schema_editor.execute(f'UPDATE "{table}" SET {columns}')


class Migration(migrations.Migration):
    dependencies = [("prescriptions", "0004_gateoverrideevent_prescriptionevent_and_more"), ("patients", "0004_recheck_row_per_patient")]

    operations = [
        migrations.CreateModel(
            name="RedFlagQuestion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("source", models.CharField(blank=True, max_length=300)),
                ("review_note", models.CharField(blank=True, default=REVIEW_NOTE, max_length=300)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("slug", models.SlugField(max_length=60, unique=True)),
                ("text", models.CharField(help_text='Asked of the patient in plain words, answered yes or no ("Since your last …?").', max_length=400)),
                ("symptom", models.CharField(help_text="What a yes reports, in the clinic's flag.", max_length=200)),
                ("plan_regions", django.contrib.postgres.fields.ArrayField(base_field=models.CharField(choices=[("lumbar", "Lower back"), ("thoracic", "Mid back"), ("cervical", "Neck"), ("hip", "Hip and leg")], max_length=20), blank=True, default=list, help_text="Asked when the plan has a stretch of one of these body regions.", size=None)),
                ("diagnoses", models.JSONField(blank=True, default=list, help_text='Asked with these diagnoses, e.g. [{"code": "Z96.64", "until_day": 90}]: an ICD-10-CM code or category (subcodes match) and optionally the last day since onset (inclusive).')),
                ("severity", models.CharField(choices=[("urgent", "Urgent: seek care now, the plan is held"), ("warning", "Warning: stop that stretch, the clinic reviews it")], max_length=10)),
                ("advice", models.TextField(help_text="What the patient is told on a yes.")),
                ("order", models.PositiveSmallIntegerField(help_text="Questions are asked in this order.")),
                ("active", models.BooleanField(default=True)),
            ],
            options={"ordering": ["order", "slug"]},
        ),
        migrations.AddConstraint(
            model_name="redflagquestion",
            constraint=models.CheckConstraint(condition=models.Q(("severity__in", ["urgent", "warning"])), name="red_flag_severity_valid"),
        ),
        migrations.AddConstraint(
            model_name="redflagquestion",
            constraint=models.CheckConstraint(condition=models.Q(models.Q(("text", ""), _negated=True), models.Q(("symptom", ""), _negated=True), models.Q(("advice", ""), _negated=True), models.Q(("source", ""), _negated=True)), name="red_flag_question_complete", violation_error_message="A question needs its text, symptom, advice and source."),
        ),
        migrations.RunPython(seed_red_flag_questions, migrations.RunPython.noop),
        # The answers' new home, on the log and on its audit events.
        migrations.AddField(
            model_name="sessionlog",
            name="hurt_items",
            field=django.contrib.postgres.fields.ArrayField(base_field=models.PositiveIntegerField(), blank=True, default=list, help_text="Ids of the plan items that hurt.", size=None),
        ),
        migrations.AddField(
            model_name="sessionlog",
            name="red_flag_answers",
            field=models.JSONField(blank=True, default=dict, help_text="{question slug: yes?} for exactly the questions asked."),
        ),
        migrations.AddField(
            model_name="sessionlog",
            name="red_flag_questions",
            field=models.JSONField(blank=True, default=list, help_text="The red-flag questions asked, in order and as worded then: [{slug, text, severity}]."),
        ),
        migrations.AddField(
            model_name="sessionlogevent",
            name="hurt_items",
            field=django.contrib.postgres.fields.ArrayField(base_field=models.PositiveIntegerField(), blank=True, default=list, help_text="Ids of the plan items that hurt.", size=None),
        ),
        migrations.AddField(
            model_name="sessionlogevent",
            name="red_flag_answers",
            field=models.JSONField(blank=True, default=dict, help_text="{question slug: yes?} for exactly the questions asked."),
        ),
        migrations.AddField(
            model_name="sessionlogevent",
            name="red_flag_questions",
            field=models.JSONField(blank=True, default=list, help_text="The red-flag questions asked, in order and as worded then: [{slug, text, severity}]."),
        ),
        # Audit triggers off while the live rows are copied (no synthetic events), then the old columns go.
        pgtrigger.migrations.RemoveTrigger(model_name="sessionlog", name="insert_insert"),
        pgtrigger.migrations.RemoveTrigger(model_name="sessionlog", name="update_update"),
        pgtrigger.migrations.RemoveTrigger(model_name="sessionlog", name="delete_delete"),
        migrations.RunPython(answers_from_booleans, booleans_from_answers),
        migrations.RemoveField(model_name="sessionlog", name="bladder_bowel_change"),
        migrations.RemoveField(model_name="sessionlog", name="progressive_leg_weakness"),
        migrations.RemoveField(model_name="sessionlog", name="saddle_numbness"),
        migrations.RemoveField(model_name="sessionlogevent", name="bladder_bowel_change"),
        migrations.RemoveField(model_name="sessionlogevent", name="progressive_leg_weakness"),
        migrations.RemoveField(model_name="sessionlogevent", name="saddle_numbness"),
        pgtrigger.migrations.AddTrigger(
            model_name="sessionlog",
            trigger=pgtrigger.compiler.Trigger(name="insert_insert", sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "prescriptions_sessionlogevent" ("difficulty", "hurt_items", "id", "item_completion", "logged_at", "logged_by_id", "note", "pain_after", "pain_before", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "red_flag_answers", "red_flag_questions", "session_id") VALUES (NEW."difficulty", NEW."hurt_items", NEW."id", NEW."item_completion", NEW."logged_at", NEW."logged_by_id", NEW."note", NEW."pain_after", NEW."pain_before", _pgh_attach_context(), NOW(), \'insert\', NEW."id", NEW."red_flag_answers", NEW."red_flag_questions", NEW."session_id"); RETURN NULL;', hash="f6168a8208f51a7c7d109223545042210292b3e7", operation="INSERT", pgid="pgtrigger_insert_insert_2e0cb", table="prescriptions_sessionlog", when="AFTER")),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="sessionlog",
            trigger=pgtrigger.compiler.Trigger(name="update_update", sql=pgtrigger.compiler.UpsertTriggerSql(condition="WHEN (OLD.* IS DISTINCT FROM NEW.*)", func='INSERT INTO "prescriptions_sessionlogevent" ("difficulty", "hurt_items", "id", "item_completion", "logged_at", "logged_by_id", "note", "pain_after", "pain_before", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "red_flag_answers", "red_flag_questions", "session_id") VALUES (NEW."difficulty", NEW."hurt_items", NEW."id", NEW."item_completion", NEW."logged_at", NEW."logged_by_id", NEW."note", NEW."pain_after", NEW."pain_before", _pgh_attach_context(), NOW(), \'update\', NEW."id", NEW."red_flag_answers", NEW."red_flag_questions", NEW."session_id"); RETURN NULL;', hash="1fe8a65181e1c0ec6254cfda0a883dccb9f382fa", operation="UPDATE", pgid="pgtrigger_update_update_60568", table="prescriptions_sessionlog", when="AFTER")),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="sessionlog",
            trigger=pgtrigger.compiler.Trigger(name="delete_delete", sql=pgtrigger.compiler.UpsertTriggerSql(func='INSERT INTO "prescriptions_sessionlogevent" ("difficulty", "hurt_items", "id", "item_completion", "logged_at", "logged_by_id", "note", "pain_after", "pain_before", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "red_flag_answers", "red_flag_questions", "session_id") VALUES (OLD."difficulty", OLD."hurt_items", OLD."id", OLD."item_completion", OLD."logged_at", OLD."logged_by_id", OLD."note", OLD."pain_after", OLD."pain_before", _pgh_attach_context(), NOW(), \'delete\', OLD."id", OLD."red_flag_answers", OLD."red_flag_questions", OLD."session_id"); RETURN NULL;', hash="e596c324b93e0030c1264d427c3ff632820b27e3", operation="DELETE", pgid="pgtrigger_delete_delete_4de22", table="prescriptions_sessionlog", when="AFTER")),
        ),
    ]
