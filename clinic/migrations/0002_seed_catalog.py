"""Seed the global clinical catalog v1 (DESIGN §2): movement tags, mobility levels, diagnoses, stretches and
contraindications, frozen here as plain data plus one idempotent upsert.

Frozen (issue 14, item 7): this module carries its own data and never imports live code, so a fresh ``migrate``
always builds the same v1 catalog that the later data migrations (clinic 0005_catalog_review, 0006_clearance_authority)
were written against. Never edit it: a change to the global catalog is a new data migration (and a bump of
``clinic.models.CATALOG_VERSION``). ``tests/test_catalog.py`` pins a digest of this data.

``seed_catalog(apps)`` takes an app registry so the same code runs inside the migration (historical models) and
from the tests' ``catalog`` fixture after a flush (``django.apps.apps``). Rows are matched by natural key, so
running it again updates content in place and never duplicates a row.

Every row carries ``source`` and keeps the model's default ``review_note``: this is seed content that a licensed
physical therapist must review before clinical use.
"""

from typing import Any

from django.db import migrations

SEED = "Limber seed v1"
SRC_VOCABULARY = f"{SEED} — controlled movement vocabulary (DESIGN §2)"
SRC_MOBILITY = f"{SEED} — functional mobility scale for home-program prescribing"
SRC_ICD10 = f"{SEED} — ICD-10-CM code set (CMS/CDC), billable codes"
SRC_BACK = f"{SEED} — after Harvard Health / Mayo Clinic patient back-stretching guides"
SRC_NECK = f"{SEED} — after Harvard Health / Mayo Clinic patient neck-stretching guides"
SRC_HIP = f"{SEED} — after Mayo Clinic / Harvard Health patient hip and leg stretching guides"
SRC_MCKENZIE = f"{SEED} — after McKenzie-method prone press-up patient handouts"
SRC_DISC = f"{SEED} — acute lumbar disc herniation: flexion precaution (McKenzie method, directional preference)"
SRC_BONE = f"{SEED} — after Bone Health & Osteoporosis Foundation and Too Fit To Fracture exercise recommendations"
SRC_HIP_PRECAUTIONS = f"{SEED} — after AAOS total hip replacement posterior-approach hip precautions"
SRC_SPINE_SURGERY = f"{SEED} — post-operative lumbar spine precautions (no bending, lifting, twisting)"
SRC_PREGNANCY = f"{SEED} — after ACOG Committee Opinion 804, exercise during pregnancy"
SRC_KNEE = f"{SEED} — acute knee sprain: protect the joint from direct loading (PRICE guidance)"
SRC_STENOSIS = f"{SEED} — lumbar stenosis: extension narrows the canal and foramina (flexion-biased care)"

PHYSICIAN = "physician"
PHYSICAL_THERAPIST = "physical_therapist"
ATHLETIC_TRAINER = "athletic_trainer"

# --- Movement tags -------------------------------------------------------------------------------

# slug → (name, description). Descriptions say where a movement starts to count, because the
# contraindication table works through these tags: a stretch carries a tag only if it enters it.
MOVEMENT_TAGS: dict[str, tuple[str, str]] = {
    "lumbar_flexion": (
        "Lumbar flexion",
        "Rounding the lower back forward past neutral, e.g. pulling the knees to the chest or sitting back into"
        " child's pose.",
    ),
    "lumbar_extension": (
        "Lumbar extension",
        "Arching the lower back backward past neutral, e.g. pressing up on the hands while lying face down.",
    ),
    "spinal_rotation": (
        "Spinal rotation",
        "Twisting the trunk, or letting the pelvis turn under a still upper body (knees dropped to one side).",
    ),
    "cervical_flexion": (
        "Cervical flexion",
        "Bending the neck forward (chin toward chest or a chin tuck), alone or combined with side-bending.",
    ),
    "cervical_extension": (
        "Cervical extension",
        "Bending the neck backward, looking up toward the ceiling.",
    ),
    "cervical_rotation": (
        "Cervical rotation",
        "Turning the head to look over a shoulder or toward an armpit.",
    ),
    "hip_flexion_over_90": (
        "Hip flexion over 90°",
        "Bringing the thigh closer to the chest than a right angle, e.g. knee to chest, deep squat, leaning"
        " forward over the thigh while seated.",
    ),
    "hip_adduction_past_midline": (
        "Hip adduction past midline",
        "Moving the knee or leg across the body's midline, e.g. crossing the legs or dropping both knees to one side.",
    ),
    "hip_internal_rotation": (
        "Hip internal rotation",
        "Turning the thigh inward so the knee points toward the other leg, e.g. the upper knee in a knee drop.",
    ),
    "kneeling": (
        "Kneeling",
        "Taking body weight through one or both knees on the floor (kneeling, hands and knees).",
    ),
    "prone": (
        "Prone",
        "Lying face down on the stomach.",
    ),
    "supine": (
        "Supine",
        "Lying flat on the back.",
    ),
    "weight_bearing_wrist": (
        "Weight-bearing through the wrists",
        "Taking body weight through the hands with the wrists bent back, e.g. on hands and knees or pressing up.",
    ),
}

# --- Mobility levels -----------------------------------------------------------------------------

MOBILITY_LEVELS: dict[int, tuple[str, str]] = {
    1: (
        "Very limited",
        "Needs hands-on help or a device for transfers (bed, chair, toilet); sits with back support; cannot get"
        " down to or up from the floor. Exercises are done seated in a supported chair.",
    ),
    2: (
        "Limited",
        "Transfers on and off a chair and bed independently, with a walking aid if needed; can lie down on and"
        " get up from a firm bed alone; cannot safely get down to or up from the floor or kneel. Exercises are"
        " done seated, or lying on a firm bed.",
    ),
    3: (
        "Moderate",
        "Gets down to and up from the floor independently using a chair or furniture for support; can kneel and"
        " hold hands-and-knees briefly; stands unsupported for a few minutes and steadies on a chair for"
        " split-stance positions. Floor, kneeling and hands-and-knees exercises are appropriate.",
    ),
    4: (
        "Good",
        "Gets to and from the floor without support; kneels and holds hands-and-knees comfortably; balances on"
        " one leg briefly; walks community distances without an aid. Only high-demand or impact work is limited.",
    ),
    5: (
        "Fully active",
        "No functional mobility limitation: moves freely in every position, returns to sport, work or full daily"
        " activity.",
    ),
}

# --- Diagnoses -----------------------------------------------------------------------------------

PHYSICIAN_ONLY = [PHYSICIAN]
PHYSICIAN_OR_PT = [PHYSICIAN, PHYSICAL_THERAPIST]
UNCOMPLICATED_MSK = [PHYSICIAN, PHYSICAL_THERAPIST, ATHLETIC_TRAINER]

# code → (name, body region, who may clear a patient with it).
DIAGNOSES: dict[str, tuple[str, str, list[str]]] = {
    "S39.012A": (
        "Strain of muscle, fascia and tendon of lower back, initial encounter",
        "lumbar",
        UNCOMPLICATED_MSK,
    ),
    "M51.26": ("Other intervertebral disc displacement, lumbar region", "lumbar", PHYSICIAN_OR_PT),
    "M54.50": ("Low back pain, unspecified", "lumbar", UNCOMPLICATED_MSK),
    "M54.2": ("Cervicalgia", "cervical", UNCOMPLICATED_MSK),
    "M54.40": ("Lumbago with sciatica, unspecified side", "lumbar", PHYSICIAN_OR_PT),
    "M54.16": ("Radiculopathy, lumbar region", "lumbar", PHYSICIAN_OR_PT),
    "M48.061": (
        "Spinal stenosis, lumbar region without neurogenic claudication",
        "lumbar",
        PHYSICIAN_OR_PT,
    ),
    # Physician only, though osteoporosis itself is not a surgical or fracture diagnosis: safe loading
    # depends on fracture risk (bone density, prior fragility fractures, medication) and on ruling out an
    # occult vertebral fracture, which needs imaging and a medical assessment a therapist cannot provide.
    "M81.0": ("Age-related osteoporosis without current pathological fracture", "spine", PHYSICIAN_ONLY),
    "M48.56XA": (
        "Collapsed vertebra, not elsewhere classified, lumbar region, initial encounter for fracture",
        "lumbar",
        PHYSICIAN_ONLY,
    ),
    "Z98.890": ("After spinal surgery (other specified postprocedural state)", "spine", PHYSICIAN_ONLY),
    "Z96.641": ("Presence of right artificial hip joint", "hip", PHYSICIAN_ONLY),
    "Z96.642": ("Presence of left artificial hip joint", "hip", PHYSICIAN_ONLY),
    "Z33.1": ("Pregnant state, incidental", "trunk", PHYSICIAN_ONLY),
    "S83.90XA": ("Sprain of unspecified site of unspecified knee, initial encounter", "knee", UNCOMPLICATED_MSK),
}

# --- Stretches -----------------------------------------------------------------------------------

# Positions, regions and kinds are the string values of Stretch.Position / Region / Kind: historical
# models in a migration have no nested choice classes to import.
STRETCHES: list[dict[str, Any]] = [
    # The source's five.
    {
        "slug": "knees-to-chest",
        "name": "Knees to chest",
        "body_region": "lumbar",
        "position": "supine",
        "kind": "static",
        "tags": ["lumbar_flexion", "hip_flexion_over_90", "supine"],
        "min_mobility": 2,
        "hold": 20,
        "reps": 3,
        "source": SRC_BACK,
        "steps": [
            "Lie on your back on a mat or a firm bed with both knees bent and feet flat.",
            "Bring one knee and then the other up toward your chest.",
            "Hold both legs behind the thighs or just below the knees and gently draw them closer to your chest.",
            "Hold, breathing slowly, while you feel a gentle stretch in your lower back.",
            "Lower one foot and then the other back to the surface, and rest before repeating.",
        ],
    },
    {
        "slug": "pelvic-tilt",
        "name": "Pelvic tilt",
        "body_region": "lumbar",
        "position": "supine",
        "kind": "dynamic",
        # Not tagged lumbar_flexion: the tilt flattens the lordosis toward neutral and does not round the
        # back past it (see the tag's description); it is a standard exercise even with osteoporosis.
        "tags": ["supine"],
        "min_mobility": 2,
        "hold": 5,
        "reps": 10,
        "source": SRC_BACK,
        "steps": [
            "Lie on your back on a mat or a firm bed with your knees bent and feet flat, hip-width apart.",
            "Tighten your stomach muscles and gently press the small of your back flat against the surface.",
            "Hold for 5 seconds while breathing normally; do not hold your breath.",
            "Relax and let your back return to its natural curve.",
            "Repeat slowly and smoothly.",
        ],
    },
    {
        "slug": "prayer-stretch",
        "name": "Prayer stretch",
        "body_region": "lumbar",
        "position": "kneeling",
        "kind": "static",
        "tags": ["kneeling", "lumbar_flexion", "hip_flexion_over_90", "weight_bearing_wrist"],
        "min_mobility": 3,
        "hold": 20,
        "reps": 3,
        "source": SRC_BACK,
        "steps": [
            "Start on your hands and knees on a mat, hands under your shoulders and knees under your hips.",
            "Slowly sit back toward your heels, letting your back round and your head drop between your arms.",
            "Keep your arms stretched out in front of you with your palms resting on the floor.",
            "Hold while you feel a stretch along your lower back; breathe slowly.",
            "Walk your hands back and return to hands and knees.",
        ],
    },
    {
        "slug": "lower-trunk-rotation",
        "name": "Lower trunk rotation",
        "body_region": "lumbar",
        "position": "supine",
        "kind": "dynamic",
        "tags": ["spinal_rotation", "hip_adduction_past_midline", "hip_internal_rotation", "supine"],
        "min_mobility": 2,
        "hold": 3,
        "reps": 10,
        "source": SRC_BACK,
        "steps": [
            "Lie on your back on a mat or a firm bed with your knees bent, feet flat and together.",
            "Keep your shoulders flat and your arms out to the sides.",
            "Slowly let both knees drop together to one side as far as is comfortable, and pause.",
            "Bring your knees back to the middle, then let them drop to the other side.",
            "Each side-to-side movement counts as one repetition.",
        ],
    },
    {
        "slug": "cat-cow",
        "name": "Cat and cow",
        "body_region": "lumbar",
        "position": "quadruped",
        "kind": "dynamic",
        "tags": ["lumbar_flexion", "lumbar_extension", "kneeling", "weight_bearing_wrist"],
        "min_mobility": 3,
        "hold": None,
        "reps": 10,
        "source": SRC_BACK,
        "steps": [
            "Start on your hands and knees, hands under your shoulders and knees under your hips.",
            "Keep your neck long, in line with your back, throughout the movement.",
            "Cat: breathe out and slowly round your back up toward the ceiling, tucking your tailbone under.",
            "Cow: breathe in and slowly let your stomach sink toward the floor, lifting your tailbone.",
            "Move smoothly between the two; one cat and one cow count as one cycle.",
        ],
    },
    # Lower back and hip.
    {
        "slug": "single-knee-to-chest",
        "name": "Single knee to chest",
        "body_region": "lumbar",
        "position": "supine",
        "kind": "static",
        "tags": ["lumbar_flexion", "hip_flexion_over_90", "supine"],
        "min_mobility": 2,
        "hold": 20,
        "reps": 3,
        "source": SRC_BACK,
        "steps": [
            "Lie on your back on a mat or a firm bed with both knees bent and feet flat.",
            "Hold one leg behind the thigh and gently pull that knee toward your chest.",
            "Keep the other foot flat, or straighten that leg if it is comfortable.",
            "Hold while you feel a stretch in your lower back and buttock.",
            "Lower the leg slowly and repeat with the other leg.",
        ],
    },
    {
        "slug": "piriformis-stretch",
        "name": "Piriformis stretch (figure 4)",
        "body_region": "hip",
        "position": "supine",
        "kind": "static",
        "tags": ["hip_flexion_over_90", "supine"],
        "min_mobility": 3,
        "hold": 30,
        "reps": 3,
        "source": SRC_HIP,
        "steps": [
            "Lie on your back on a mat with both knees bent and feet flat.",
            "Cross your right ankle over your left knee, letting the right knee fall outward.",
            "Hold the back of your left thigh and gently pull it toward your chest.",
            "Hold while you feel a stretch deep in the right buttock.",
            "Release slowly and repeat on the other side.",
        ],
    },
    {
        "slug": "seated-hamstring-stretch",
        "name": "Seated hamstring stretch",
        "body_region": "hip",
        "position": "seated",
        "kind": "static",
        # Hip hinge with a straight back: the hip passes 90° but the lower back is kept out of flexion.
        "tags": ["hip_flexion_over_90"],
        "min_mobility": 2,
        "hold": 30,
        "reps": 3,
        "source": SRC_HIP,
        "steps": [
            "Sit near the front edge of a sturdy chair with both feet flat on the floor.",
            "Straighten one leg in front of you with the heel on the floor and the toes pointing up.",
            "Keeping your back straight, lean forward from your hips until you feel a stretch behind the thigh.",
            "Do not round your back or bounce; hold the stretch steady.",
            "Sit up slowly and repeat with the other leg.",
        ],
    },
    {
        "slug": "prone-press-up",
        "name": "Prone press-up",
        "body_region": "lumbar",
        "position": "prone",
        "kind": "dynamic",
        "tags": ["prone", "lumbar_extension", "weight_bearing_wrist"],
        "min_mobility": 3,
        "hold": 2,
        "reps": 10,
        "source": SRC_MCKENZIE,
        "steps": [
            "Lie face down on a mat or a firm bed with your hands flat under your shoulders.",
            "Keeping your hips and legs relaxed on the surface, slowly straighten your arms to lift your chest.",
            "Go only as far as is comfortable and let your lower back sag; pause briefly at the top.",
            "Lower yourself slowly back down.",
            "Stop and tell your therapist if pain spreads further down your leg.",
        ],
    },
    {
        "slug": "standing-hip-flexor-stretch",
        "name": "Standing hip flexor stretch",
        "body_region": "hip",
        "position": "standing",
        # No tag applies: the stretch is hip extension with the back held neutral, which the vocabulary
        # does not name.
        "kind": "static",
        "tags": [],
        "min_mobility": 3,
        "hold": 30,
        "reps": 3,
        "source": SRC_HIP,
        "steps": [
            "Stand holding the back of a sturdy chair or a counter for balance.",
            "Step one foot back into a split stance, keeping both feet pointing forward.",
            "Tuck your tailbone under and gently tighten your buttock on the back leg; do not arch your back.",
            "Bend the front knee slightly until you feel a stretch at the front of the back hip.",
            "Hold, then step the feet together and repeat on the other side.",
        ],
    },
    {
        "slug": "bridge",
        "name": "Bridge",
        "body_region": "lumbar",
        "position": "supine",
        "kind": "dynamic",
        # Lifted to a straight line from shoulders to knees, not arched: the back stays neutral.
        "tags": ["supine"],
        "min_mobility": 3,
        "hold": 3,
        "reps": 10,
        "source": SRC_BACK,
        "steps": [
            "Lie on your back on a mat with your knees bent, feet flat and hip-width apart, arms by your sides.",
            "Tighten your stomach and buttock muscles.",
            "Lift your hips until your shoulders, hips and knees form a straight line; do not arch your back.",
            "Hold for a few seconds while breathing normally.",
            "Lower your hips slowly back to the surface.",
        ],
    },
    {
        "slug": "seated-thoracic-rotation",
        "name": "Seated trunk rotation",
        "body_region": "thoracic",
        "position": "seated",
        "kind": "static",
        "tags": ["spinal_rotation"],
        "min_mobility": 2,
        "hold": 15,
        "reps": 3,
        "source": SRC_BACK,
        "steps": [
            "Sit tall on a sturdy chair without armrests, feet flat and knees together.",
            "Cross your arms over your chest, hands on the opposite shoulders.",
            "Keeping your hips and knees facing forward, slowly turn your upper body to one side.",
            "Hold at a comfortable stretch, breathing normally.",
            "Return to the middle slowly and repeat to the other side.",
        ],
    },
    # Neck.
    {
        "slug": "chin-tuck",
        "name": "Chin tuck",
        "body_region": "cervical",
        "position": "seated",
        "kind": "dynamic",
        "tags": ["cervical_flexion"],
        "min_mobility": 1,
        "hold": 5,
        "reps": 10,
        "source": SRC_NECK,
        "steps": [
            "Sit tall in a chair with your shoulders relaxed and eyes looking straight ahead.",
            "Gently draw your chin straight back, as if making a double chin, without tipping your head down.",
            "Hold for 5 seconds, feeling a stretch at the base of your skull.",
            "Relax and let your head return to its starting position.",
        ],
    },
    {
        "slug": "upper-trapezius-stretch",
        "name": "Upper trapezius stretch",
        "body_region": "cervical",
        "position": "seated",
        "kind": "static",
        "tags": ["cervical_flexion"],
        "min_mobility": 1,
        "hold": 20,
        "reps": 3,
        "source": SRC_NECK,
        "steps": [
            "Sit tall and hold the side of the chair seat with your right hand to keep that shoulder down.",
            "Slowly tilt your head, bringing your left ear toward your left shoulder.",
            "Let your chin drop slightly toward your chest until you feel a stretch along the right side of your neck.",
            "Hold, breathing slowly; do not pull on your head.",
            "Return your head to the middle and repeat on the other side.",
        ],
    },
    {
        "slug": "levator-scapulae-stretch",
        "name": "Levator scapulae stretch",
        "body_region": "cervical",
        "position": "seated",
        "kind": "static",
        "tags": ["cervical_flexion", "cervical_rotation"],
        "min_mobility": 1,
        "hold": 20,
        "reps": 3,
        "source": SRC_NECK,
        "steps": [
            "Sit tall and hold the side of the chair seat with your right hand.",
            "Turn your head about halfway toward your left armpit.",
            "Gently tip your chin down, as if looking into your left armpit, until you feel a stretch at the back"
            " right of your neck.",
            "Hold, breathing slowly.",
            "Return your head to the middle and repeat on the other side.",
        ],
    },
    {
        "slug": "cervical-rotation-stretch",
        "name": "Neck rotation stretch",
        "body_region": "cervical",
        "position": "seated",
        "kind": "static",
        "tags": ["cervical_rotation"],
        "min_mobility": 1,
        "hold": 15,
        "reps": 3,
        "source": SRC_NECK,
        "steps": [
            "Sit tall with your shoulders relaxed and your chin level.",
            "Slowly turn your head to look over your right shoulder as far as is comfortable.",
            "Hold while you feel a gentle stretch on the left side of your neck.",
            "Turn back to the middle slowly and repeat to the left.",
        ],
    },
]

# --- Contraindications ---------------------------------------------------------------------------

# Each row names a tag (or a stretch slug under "stretch") and optionally a phase, a qualifier and a
# window in days since the diagnosis's onset (both ends inclusive). Natural key: (diagnosis, tag or
# stretch, phase, qualifier, from_day, until_day).
HIP_PRECAUTION_RATIONALE = (
    "Posterior-approach hip replacement: hip flexion past 90°, adduction past midline and internal rotation"
    " are the classic dislocation position while the posterior capsule and short external rotators heal;"
    " standard hip precautions apply for the first 12 weeks."
)

CONTRAINDICATIONS: list[dict[str, Any]] = [
    {
        "diagnosis": "M51.26",
        "tag": "lumbar_flexion",
        "phase": "acute",
        "severity": "absolute",
        "source": SRC_DISC,
        "rationale": "Acute lumbar disc herniation: flexion raises intradiscal pressure and pushes nuclear material"
        " posteriorly toward the nerve root, which can worsen the herniation and radicular symptoms.",
    },
    {
        "diagnosis": "M48.56XA",
        "tag": "lumbar_flexion",
        "severity": "absolute",
        "source": SRC_BONE,
        "rationale": "Vertebral compression fracture: flexion loads the anterior vertebral body that has already"
        " collapsed and can increase the wedge deformity or cause a further fracture.",
    },
    {
        "diagnosis": "M81.0",
        "tag": "lumbar_flexion",
        "severity": "absolute",
        "source": SRC_BONE,
        "rationale": "Osteoporosis: repeated or end-range spinal flexion concentrates load on the anterior vertebral"
        " bodies and is the movement most associated with vertebral fragility fractures.",
    },
    {
        "diagnosis": "M81.0",
        "tag": "spinal_rotation",
        "severity": "relative",
        "source": SRC_BONE,
        "rationale": "Osteoporosis: twisting adds torsional load to fragile vertebrae; gentle, unloaded rotation"
        " within a pain-free range may be acceptable, but end-range or forced twisting should be avoided.",
    },
    *[
        {
            "diagnosis": code,
            "tag": tag,
            "qualifier": "posterior_approach",
            "from_day": 0,
            "until_day": 84,
            "severity": "absolute",
            "source": SRC_HIP_PRECAUTIONS,
            "rationale": HIP_PRECAUTION_RATIONALE,
        }
        for code in ("Z96.641", "Z96.642")
        for tag in ("hip_flexion_over_90", "hip_adduction_past_midline", "hip_internal_rotation")
    ],
    {
        "diagnosis": "Z98.890",
        "tag": "lumbar_flexion",
        "from_day": 0,
        "until_day": 84,
        "severity": "absolute",
        "source": SRC_SPINE_SURGERY,
        "rationale": "After spinal surgery: bending stresses the operated level (discectomy annulus, fusion or"
        " hardware) while it heals; the usual precaution is no bending for the first 12 weeks.",
    },
    {
        "diagnosis": "Z98.890",
        "tag": "spinal_rotation",
        "from_day": 0,
        "until_day": 84,
        "severity": "absolute",
        "source": SRC_SPINE_SURGERY,
        "rationale": "After spinal surgery: twisting puts shear and torsion through the operated level while it"
        " heals; the usual precaution is no twisting for the first 12 weeks.",
    },
    {
        "diagnosis": "Z33.1",
        "tag": "supine",
        "from_day": 91,
        "severity": "relative",
        "source": SRC_PREGNANCY,
        "rationale": "Pregnancy after the first trimester (onset = first day of the last menstrual period): lying"
        " flat on the back lets the uterus compress the inferior vena cava and reduce venous return, causing"
        " dizziness or low blood pressure; keep supine time short or use a wedge or side-lying alternative.",
    },
    {
        "diagnosis": "S83.90XA",
        "tag": "kneeling",
        "phase": "acute",
        "severity": "relative",
        "source": SRC_KNEE,
        "rationale": "Acute knee sprain: kneeling puts direct pressure and deep flexion on an injured, often"
        " swollen joint and can aggravate the sprain; use a position that keeps weight off the knee.",
    },
    # Additions beyond DESIGN §2's list (each a common, conservative precaution).
    {
        "diagnosis": "M48.061",
        "tag": "lumbar_extension",
        "severity": "relative",
        "source": SRC_STENOSIS,
        "rationale": "Lumbar spinal stenosis: extension narrows the central canal and the foramina and commonly"
        " reproduces leg symptoms; stenosis usually prefers flexion, so extension needs caution.",
    },
    {
        "diagnosis": "M48.56XA",
        "tag": "spinal_rotation",
        "severity": "relative",
        "source": SRC_BONE,
        "rationale": "Vertebral compression fracture: twisting adds torsional load to a fractured vertebra and to"
        " the fragile bone that usually caused it; avoid end-range or forced rotation.",
    },
    {
        "diagnosis": "Z33.1",
        "tag": "prone",
        "from_day": 91,
        "severity": "relative",
        "source": SRC_PREGNANCY,
        "rationale": "Pregnancy after the first trimester (onset = first day of the last menstrual period): lying"
        " face down presses on the growing uterus and is increasingly uncomfortable; choose a side-lying or"
        " hands-and-knees alternative.",
    },
]


def seed_catalog(apps) -> None:
    """Create or update every global catalog row by its natural key; safe to run any number of times."""
    MovementTag = apps.get_model("clinic", "MovementTag")
    MobilityLevel = apps.get_model("clinic", "MobilityLevel")
    Diagnosis = apps.get_model("clinic", "Diagnosis")
    Stretch = apps.get_model("clinic", "Stretch")
    Contraindication = apps.get_model("clinic", "Contraindication")

    tags = {}
    for slug, (name, description) in MOVEMENT_TAGS.items():
        tags[slug], _ = MovementTag.objects.update_or_create(
            slug=slug, defaults={"name": name, "description": description, "source": SRC_VOCABULARY}
        )

    levels = {}
    for level, (name, description) in MOBILITY_LEVELS.items():
        levels[level], _ = MobilityLevel.objects.update_or_create(
            level=level, defaults={"name": name, "description": description, "source": SRC_MOBILITY}
        )

    diagnoses = {}
    for code, (name, body_region, clearance_by) in DIAGNOSES.items():
        diagnoses[code], _ = Diagnosis.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "body_region": body_region,
                "clearance_by": clearance_by,
                "source": SRC_ICD10,
            },
        )

    stretches = {}
    for row in STRETCHES:
        stretch, _ = Stretch.objects.update_or_create(
            clinic=None,
            slug=row["slug"],
            defaults={
                "name": row["name"],
                "steps": row["steps"],
                "body_region": row["body_region"],
                "position": row["position"],
                "kind": row["kind"],
                "min_mobility": levels[row["min_mobility"]],
                "default_hold_seconds": row["hold"],
                "default_reps": row["reps"],
                "source": row["source"],
            },
        )
        stretch.tags.set([tags[slug] for slug in row["tags"]])
        stretches[row["slug"]] = stretch

    for row in CONTRAINDICATIONS:
        Contraindication.objects.update_or_create(
            clinic=None,
            diagnosis=diagnoses[row["diagnosis"]],
            tag=tags[row["tag"]] if "tag" in row else None,
            stretch=stretches[row["stretch"]] if "stretch" in row else None,
            phase=row.get("phase", ""),
            qualifier=row.get("qualifier", ""),
            from_day=row.get("from_day"),
            until_day=row.get("until_day"),
            defaults={"severity": row["severity"], "rationale": row["rationale"], "source": row["source"]},
        )


def seed(apps, schema_editor):
    seed_catalog(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(seed, reverse_code=migrations.RunPython.noop),
    ]
