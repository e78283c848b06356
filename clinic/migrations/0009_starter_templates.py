"""The starter library of protocol templates (issue 17, part 1): six global templates a therapist starts a plan from.

Data only, self-contained: it never imports live code, and the tests' ``catalog`` fixture replays
``seed_starter_templates`` after a flush, after the catalog's own data migrations. Each template is for one or more
diagnoses of the catalog (by ICD-10 code) and a phase, names global catalog stretches (by slug) with a dose inside
ACSM's stretching guidance (static holds 10–30 s, 30 s for older adults, 2–4 repetitions, about 60 s per stretch;
a dynamic item keeps its short pause and ten slow repetitions), and avoids what the catalog's contraindication rows
rule out for its typical patient: ``tests/test_template_library.py`` activates a plan from each through the gate.

Every row carries its ``source`` and the review note: a licensed physical therapist must review it before clinical
use. A template never bypasses anything: the plan made from one is a draft the gate evaluates like any other.

Upsert by natural key (global, slug): running it again changes nothing; a change of content bumps ``version``.
The reverse removes the six (refused while a plan records one of them: a plan's template is protected).
"""

import datetime as dt

from django.db import migrations

REVIEW_NOTE = "Seed content: a licensed physical therapist must review this row before clinical use."
LIBRARY = "Limber starter templates 2026 (issue 17)"
ACSM = "doses after ACSM's Guidelines for Exercise Testing and Prescription (10–30 s × 2–4, ~60 s a stretch)"
ACSM_OLDER = "doses after ACSM's Guidelines for Exercise Testing and Prescription (older adults: 30–60 s)"

EVERY_DAY = [1, 2, 3, 4, 5, 6, 7]
NONE, BOTH = "none", "both"


def _at(hour: int, minute: int = 0) -> dt.time:
    return dt.time(hour, minute)


# slug → the template. Items: (stretch slug, hold seconds or None, reps, sets, side, notes).
TEMPLATES = {
    "acute-lumbar-strain-weeks-0-2": {
        "name": "Acute lumbar strain — weeks 0–2",
        "description": (
            "For an adult in the first two weeks of an uncomplicated strain of the lower back muscles (no leg"
            " symptoms, no red flags), alongside the advice to stay active: gentle, pain-free movement of the lower"
            " back, little and often, lying on a mat or a firm bed (mobility level 2 or more). It avoids sustained"
            " or end-range positions, kneeling and hands-and-knees work, lying face down and forward bending under"
            " load; every movement stays within a comfortable range."
        ),
        "diagnoses": ["S39.012A"],
        "phase": "acute",
        "days_of_week": EVERY_DAY,
        "times": [_at(9), _at(17)],
        "weeks": 2,
        "source": (
            f"{LIBRARY} — JOSPT low back pain CPG (George et al., JOSPT 2021;51(11)): acute low back pain, stay"
            f" active with pain-free mobility; NICE NG59 (2016, updated 2020); {ACSM}"
        ),
        "items": [
            ("pelvic-tilt", 5, 10, 1, NONE, "Slow and gentle; breathe normally and stay pain-free."),
            ("single-knee-to-chest", 20, 3, 1, BOTH, "Ease the knee in only to a mild stretch; stop short of pain."),
            (
                "lower-trunk-rotation",
                3,
                10,
                1,
                NONE,
                "Small range at first: let the knees drop only as far as is comfortable, shoulders flat.",
            ),
        ],
    },
    "chronic-low-back-pain-mobility": {
        "name": "Chronic low back pain — mobility",
        "description": (
            "For an adult with chronic non-specific low back pain (more than 12 weeks, no red flags) who gets to the"
            " floor with support (mobility level 3): daily mobility of the lower back, upper back and hips, to keep"
            " moving. It avoids loaded, forced and end-range stretching, and lying face down. It does bend the lower"
            " back forward (knees to chest, cat and cow), twist the trunk seated and bring the knees to the chest, so"
            " it is not for a patient whose other diagnoses rule those out (osteoporosis, a recent spinal operation,"
            " hip precautions): the gate names them for each patient."
        ),
        "diagnoses": ["M54.50"],
        "phase": "chronic",
        "days_of_week": EVERY_DAY,
        "times": [_at(7, 30), _at(18)],
        "weeks": 6,
        "source": (
            f"{LIBRARY} — JOSPT low back pain CPG (George et al., JOSPT 2021;51(11)): exercise, including trunk"
            f" mobility and flexibility, for chronic low back pain; {ACSM}"
        ),
        "items": [
            ("pelvic-tilt", 5, 10, 1, NONE, "A warm-up: slow, with normal breathing."),
            ("knees-to-chest", 20, 3, 1, NONE, "A gentle stretch in the lower back, never a pull into pain."),
            ("cat-cow", None, 10, 1, NONE, "Move slowly between the two positions; keep the neck long."),
            ("seated-thoracic-rotation", 20, 3, 1, BOTH, "Hips and knees face forward; turn to a comfortable stretch."),
            ("standing-hip-flexor-stretch", 30, 2, 1, BOTH, "Hold a counter; tuck the tailbone, do not arch the back."),
        ],
    },
    "neck-pain-early": {
        "name": "Neck pain (cervicalgia) — early",
        "description": (
            "For an adult with recent neck pain and stiffness (cervicalgia) without arm symptoms, dizziness or other"
            " red flags, once the neck has been screened: gentle, seated range of motion of the neck and upper back,"
            " twice a day (mobility level 2 or more). It avoids forced or end-range neck movement and tipping the"
            " head back to look at the ceiling; every stretch stops at a mild pull. After a neck operation the"
            " surgeon's protocol applies instead (the gate refuses neck rotation early after a cervical fusion)."
        ),
        "diagnoses": ["M54.2"],
        "phase": "acute",
        "days_of_week": EVERY_DAY,
        "times": [_at(10), _at(16)],
        "weeks": 4,
        "source": (
            f"{LIBRARY} — JOSPT neck pain CPG (Blanpied et al., JOSPT 2017;47(7)): acute neck pain with mobility"
            f" deficits, stay active with range-of-motion exercise; {ACSM}"
        ),
        "items": [
            ("chin-tuck", 5, 10, 1, NONE, "Draw the chin straight back; do not tip the head down."),
            ("upper-trapezius-stretch", 20, 3, 1, BOTH, "Keep the shoulder down; never pull on the head."),
            ("levator-scapulae-stretch", 20, 3, 1, BOTH, "A gentle stretch only; stop if it brings on arm symptoms."),
            ("cervical-rotation-stretch", 20, 3, 1, BOTH, "Turn only as far as is comfortable; never force the end."),
            ("seated-thoracic-rotation", 20, 3, 1, BOTH, "Turn from the upper back, the head following the shoulders."),
        ],
    },
    "osteoporosis-safe-back-care": {
        "name": "Osteoporosis-safe back care",
        "description": (
            "For an older adult with osteoporosis and no vertebral fracture on record (mobility level 2 or more):"
            " posture and back-extensor work, seated or lying on a firm bed. It avoids every stretch that rounds"
            " the spine forward (knees to chest, child's pose, cat and cow, leaning forward over a straight leg) and"
            " every twist (trunk rotation, knee drops), as Too Fit To Fracture advises; static holds are 30 s, as"
            " ACSM advises for older adults. With a vertebral fracture on record the fracture's own rules apply."
        ),
        "diagnoses": ["M81.0"],
        "phase": "",
        "days_of_week": EVERY_DAY,
        "times": [_at(10)],
        "weeks": 8,
        "source": (
            f"{LIBRARY} — Too Fit To Fracture (Giangregorio et al., Osteoporos Int 2014), Bone Health &"
            f" Osteoporosis Foundation: posture work, no loaded flexion or end-range twists; {ACSM_OLDER}"
        ),
        "items": [
            ("chin-tuck", 5, 10, 1, NONE, "Sit tall against the chair back: a posture exercise."),
            ("upper-trapezius-stretch", 30, 2, 1, BOTH, "Sit tall against the chair back; never round the back."),
            ("pelvic-tilt", 5, 10, 1, NONE, "On a firm bed; roll to the side to get up, never sit straight up."),
            ("bridge", 3, 10, 1, NONE, "Lift to a straight line from shoulders to knees; do not arch the back."),
        ],
    },
    "posterior-hip-replacement-precaution-safe": {
        "name": "Posterior hip replacement — precaution-safe",
        "description": (
            "For an adult inside the posterior-approach hip precautions after a hip replacement (mobility level 2:"
            " bed and chair transfers, a walking aid): gentle trunk and hip work lying on a firm bed, knees apart."
            " It avoids bending the hip past 90°, crossing the midline and turning the leg in (no knees to chest,"
            " figure 4, seated hamstring stretch or knee drops), and hip extension past neutral or turning the leg"
            " out, which the anterior-approach precautions forbid when the approach is not recorded. The surgeon's"
            " own exercises (ankle pumps, muscle setting, heel slides short of 90°) are added to it."
        ),
        "diagnoses": ["Z96.641", "Z96.642"],
        "phase": "",
        "days_of_week": EVERY_DAY,
        "times": [_at(9), _at(15)],
        "weeks": 6,
        "source": (
            f'{LIBRARY} — AAOS posterior-approach hip precautions; StatPearls "Hip Precautions"; Korfitsen et al.,'
            f" Acta Orthop 2023; {ACSM}"
        ),
        "items": [
            ("pelvic-tilt", 5, 10, 1, NONE, "Knees bent and hip-width apart (a pillow between them is fine)."),
            ("bridge", 3, 10, 1, NONE, "Knees stay hip-width apart, never together; lift only as far as is easy."),
        ],
    },
    "pregnancy-back-care": {
        "name": "Pregnancy — back care",
        "description": (
            "For a patient with an uncomplicated pregnancy whose obstetric care provider (physician or nurse-midwife)"
            " has cleared exercise (mobility level 3 or more): back, hip and neck care on hands and knees, standing"
            " and seated. It avoids lying flat on the back or face down (from the second trimester), deep or"
            " end-range stretching (the joints are looser in pregnancy) and twisting. Stop and call the provider on"
            " bleeding, leaking fluid, dizziness, chest pain, calf pain or regular painful contractions."
        ),
        "diagnoses": ["Z33.1"],
        "phase": "",
        "days_of_week": EVERY_DAY,
        "times": [_at(18)],
        "weeks": 12,
        "source": (
            f"{LIBRARY} — ACOG Committee Opinion 804 (2020), exercise during pregnancy: avoid prolonged supine"
            f" positions after the first trimester, warning signs to stop; {ACSM}"
        ),
        "items": [
            ("cat-cow", None, 10, 1, NONE, "Small, smooth movements; let the back dip only a little in the cow."),
            ("standing-hip-flexor-stretch", 20, 3, 1, BOTH, "Hold a counter, short stance; a mild stretch, not deep."),
            ("upper-trapezius-stretch", 20, 3, 1, BOTH, "Keep the shoulder down; never pull on the head."),
            ("chin-tuck", 5, 10, 1, NONE, "Sit tall; draw the chin straight back."),
        ],
    },
}

FIELDS = ("name", "description", "phase", "days_of_week", "times", "weeks", "source", "review_note")


def _content(template, diagnoses, items) -> tuple:
    return (
        tuple(getattr(template, name) for name in FIELDS),
        tuple(sorted(diagnoses)),
        tuple(items),
    )


def seed_starter_templates(apps, schema_editor=None) -> None:
    """Create or update the six global templates by slug; safe to run again (a changed one gets a new version)."""
    ProtocolTemplate = apps.get_model("clinic", "ProtocolTemplate")
    ProtocolTemplateItem = apps.get_model("clinic", "ProtocolTemplateItem")
    Diagnosis = apps.get_model("clinic", "Diagnosis")
    Stretch = apps.get_model("clinic", "Stretch")

    for slug, spec in TEMPLATES.items():
        diagnoses = list(Diagnosis.objects.filter(code__in=spec["diagnoses"]))
        stretches = {s.slug: s for s in Stretch.objects.filter(clinic=None, slug__in=[i[0] for i in spec["items"]])}
        if len(diagnoses) != len(spec["diagnoses"]) or len(stretches) != len({i[0] for i in spec["items"]}):
            continue  # a catalog without these rows (never the case after 0002–0006): nothing to point at
        wanted_items = [
            (order, stretches[stretch].pk, hold, reps, sets, side, notes)
            for order, (stretch, hold, reps, sets, side, notes) in enumerate(spec["items"], start=1)
        ]
        values = {name: spec[name] for name in FIELDS if name != "review_note"} | {"review_note": REVIEW_NOTE}

        template = ProtocolTemplate.objects.filter(clinic=None, slug=slug).first()
        if template is not None:
            current = _content(
                template,
                template.diagnoses.values_list("code", flat=True),
                template.items.order_by("order").values_list(
                    "order", "stretch_id", "hold_seconds", "reps", "sets", "side", "notes"
                ),
            )
            wanted = _content(ProtocolTemplate(**values), spec["diagnoses"], wanted_items)
            if current == wanted:
                continue
            for name, value in values.items():
                setattr(template, name, value)
            template.version += 1
            template.save()
            template.items.all().delete()
        else:
            template = ProtocolTemplate.objects.create(clinic=None, slug=slug, version=1, **values)
        template.diagnoses.set(diagnoses)
        ProtocolTemplateItem.objects.bulk_create(
            ProtocolTemplateItem(
                template=template,
                order=order,
                stretch_id=stretch_id,
                hold_seconds=hold,
                reps=reps,
                sets=sets,
                side=side,
                notes=notes,
            )
            for order, stretch_id, hold, reps, sets, side, notes in wanted_items
        )


def remove_starter_templates(apps, schema_editor=None) -> None:
    ProtocolTemplate = apps.get_model("clinic", "ProtocolTemplate")
    ProtocolTemplate.objects.filter(clinic=None, slug__in=list(TEMPLATES)).delete()


class Migration(migrations.Migration):
    dependencies = [("clinic", "0008_protocol_templates")]

    operations = [migrations.RunPython(seed_starter_templates, remove_starter_templates)]
