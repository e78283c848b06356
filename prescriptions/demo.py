"""The demo clinic `make run` loads: six patients in six zones, each showing part of the safety gate.

One plan (Maria's) is made from a starter template (clinic migration 0009): the gate still refuses what the template
does not know about her, and the therapist's override is recorded as for any plan. Her therapist gave three of its
items a dose progression rule (every 2 weeks) and the plan started 10 days ago, so its first step is due in 4 days
(the patient page shows "Next dose step"); with no session logged yet, the step will wait for the therapist.

Outcome measures (issue 18): every episode's measures are scheduled (opened 14 days ago: a baseline and a
follow-up due today). James, with a lumbar disc, answered his ODI, PSFS and NPRS in the clinic at both: the ODI
went from 40 to 26 %, a meaningful improvement (the patient page charts it). The ODI and NDI wording is licensed and
never shipped: the demo clinic alone gets a placeholder wording, marked as such on every line.

Idempotent: a second run finds the clinic and its patients (by MRN) and adds nothing. Every write goes
through the services (but the placeholder wording, which no service may load: it is not a licensed text), so the
demo is exactly what a clinic's staff would have produced.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from clinic import services as clinic_services
from clinic.errors import SafetyBlocked
from clinic.models import (
    Clinic,
    Diagnosis,
    Instrument,
    InstrumentWording,
    MobilityLevel,
    MovementTag,
    ProtocolTemplate,
    StaffMembership,
    Stretch,
)
from patients import services as patient_services
from patients.models import Episode, Patient
from prescriptions import dosage, services
from prescriptions.models import MeasureDue, MeasureResponse, Prescription
from prescriptions.services.measures import measure_respond, measures_schedule
from prescriptions.services.templates import prescription_from_template

CLINIC_NAME = "Limber Demo Clinic"
CLINIC_PHONE = "+1 312 555 0142"  # 555-01xx: a fictional number
CLINIC_ADDRESS = "100 Example Avenue, Suite 2\nChicago, IL 60607"
PLAN_NOTES = "Stop if pain rises above 5/10 or spreads down the leg."
PASSWORD = "limber-demo-2026"
Role = StaffMembership.Role

STAFF = [
    ("therapist", Role.THERAPIST, "Theo", "Marsh", "physical_therapist"),
    ("frontdesk", Role.FRONT_DESK, "Fran", "Okafor", ""),
    ("clinicadmin", Role.CLINIC_ADMIN, "Cleo", "Nguyen", ""),
]


@dataclass
class DemoPatient:
    mrn: str
    first_name: str
    last_name: str
    born: dt.date
    zone: str
    story: str
    diagnoses: list[tuple[str, str, str, int]]  # code, phase, qualifier, onset days ago
    mobility: int
    clearance: dict
    stretches: list[str]
    times: list[dt.time]
    portal: tuple[str, str] | None = None  # username, relationship
    channel: str = "email"
    quiet: tuple[dt.time, dt.time] | None = (dt.time(21, 0), dt.time(7, 30))
    extras: dict = field(default_factory=dict)
    waive: bool = True  # the therapist overrides what only needs their judgement; False: the refusal stands
    template: str = ""  # a global starter template's slug: the plan is made from it (its items, days and times)
    progression: dict[str, clinic_services.ProgressionIn] = field(default_factory=dict)  # by stretch slug
    started_days_ago: int = 0  # the plan's start date, so a progression step is close
    # Outcome measures answered in the clinic: instrument code → (baseline answers, answers 2 weeks later).
    outcomes: dict[str, tuple[dict, dict]] = field(default_factory=dict)
    activities: list[str] = field(default_factory=list)  # the PSFS's, named at baseline


ODI_SECTIONS = ["pain_intensity", "personal_care", "lifting", "walking", "sitting", "standing", "sleeping",
                "sex_life", "social_life", "travelling"]  # fmt: skip
PLACEHOLDER = "Demo placeholder — load your licensed {} text"
PLACEHOLDER_LICENCE = "None: a demo placeholder, not the licensed text. Load your clinic's licensed wording."


PATIENTS = [
    DemoPatient(
        "DEMO-001", "Maria", "Lopez", dt.date(1968, 3, 9), "America/New_York",
        "cleared by her physician after a left hip replacement; her plan came from the chronic low back pain"
        " template, whose knees to chest the gate refused: one contraindication overridden with a reason",
        [("M54.50", "chronic", "", 200), ("Z96.642", "", "posterior_approach", 40)], 3,
        {"profession": "physician", "name": "Dr. Ada Reyes", "status": "cleared", "from": -30, "until": 150},
        [], [], ("maria", "self"), template="chronic-low-back-pain-mobility",
        progression={
            "cat-cow": clinic_services.ProgressionIn(every_weeks=2, reps=1, max_reps=12),
            "seated-thoracic-rotation": clinic_services.ProgressionIn(every_weeks=2, hold_seconds=5,
                                                                      max_hold_seconds=30),
            "standing-hip-flexor-stretch": clinic_services.ProgressionIn(every_weeks=2, hold_seconds=5,
                                                                         max_hold_seconds=45),
        },
        started_days_ago=10,
    ),
    DemoPatient(
        "DEMO-002", "James", "Chen", dt.date(1985, 11, 2), "America/Los_Angeles",
        "acute lumbar disc herniation, cleared with lumbar flexion restricted: extension-based plan",
        [("M51.26", "acute", "", 12)], 3,
        {"profession": "physician", "name": "Dr. Samuel Ito", "status": "restricted", "tags": ["lumbar_flexion"],
         "from": -10, "until": 5},
        ["prone-press-up", "pelvic-tilt"], [dt.time(8, 0)], ("james", "self"), channel="sms",
        outcomes={  # ODI 20/50 = 40 % → 13/50 = 26 %: 14 points better, past the 10-point threshold
            "odi": (dict(zip(ODI_SECTIONS, [3, 2, 3, 2, 3, 2, 2, 1, 1, 1], strict=True)),
                    dict(zip(ODI_SECTIONS, [2, 1, 2, 1, 2, 1, 1, 1, 1, 1], strict=True))),
            "psfs": ({"activity_1": 3, "activity_2": 4, "activity_3": 2},
                     {"activity_1": 6, "activity_2": 6, "activity_3": 5}),  # mean 3 → 5.7
            "nprs": ({"pain": 6}, {"pain": 3}),
        },
        activities=["Putting on socks", "Sitting through a one-hour meeting", "Lifting a laundry basket"],
    ),
    DemoPatient(
        "DEMO-003", "Aisha", "Patel", dt.date(1951, 6, 21), "Europe/London",
        "osteoporosis; her clearance expired last week, so the plan waits as a refused draft",
        [("M81.0", "chronic", "", 900)], 2,
        {"profession": "physician", "name": "Dr. Helen Price", "status": "cleared", "from": -190, "until": -7},
        ["seated-hamstring-stretch", "chin-tuck"], [dt.time(10, 0)],
    ),
    DemoPatient(
        "DEMO-004", "Tom", "Walker", dt.date(1979, 1, 30), "Australia/Sydney",
        "vertebral compression fracture cleared by an athletic trainer, who may not clear it: refused draft",
        [("M48.56XA", "subacute", "", 50)], 3,
        {"profession": "athletic_trainer", "name": "Jo Brennan, ATC", "status": "cleared", "from": -5, "until": 90},
        ["pelvic-tilt"], [dt.time(19, 0)], channel="none", quiet=None,
    ),
    DemoPatient(
        "DEMO-005", "Lucy", "Kim", dt.date(2011, 8, 14), "Asia/Tokyo",
        "a teenager with neck pain and an acute knee sprain; her guardian uses the portal; a caution acknowledged",
        [("M54.2", "subacute", "", 20), ("S83.90XA", "acute", "", 6)], 4,
        {"profession": "physical_therapist", "name": "Theo Marsh, PT", "status": "cleared", "from": -3, "until": 60},
        ["chin-tuck", "upper-trapezius-stretch", "cat-cow"], [dt.time(16, 30)], ("lucy.guardian", "guardian"),
    ),
    DemoPatient(
        "DEMO-006", "Daniel", "Weber", dt.date(1972, 9, 18), "Europe/Berlin",
        "three weeks after a neck fusion (ACDF): the neck rotation stretch is refused until day 42",
        [("Z98.890", "", "cervical_fusion", 21)], 3,
        {"profession": "physician", "name": "Dr. Lena Vogel", "status": "cleared", "from": -2, "until": 60},
        ["cervical-rotation-stretch", "pelvic-tilt"], [dt.time(9, 0)], waive=False,
    ),
]  # fmt: skip


def _clinic_create() -> Clinic:
    """Started as a real clinic is (``manage.py clinic_create``): the clinic and its first clinic admin."""
    username, _, first, last, _ = next(member for member in STAFF if member[1] == Role.CLINIC_ADMIN)
    return clinic_services.clinic_create(
        name=CLINIC_NAME,
        timezone="America/Chicago",
        phone=CLINIC_PHONE,
        address=CLINIC_ADDRESS,
        admin_username=username,
        admin_password=PASSWORD,
        admin_email=f"{username}@demo.limber.invalid",
        admin_first_name=first,
        admin_last_name=last,
    )


def _staff(clinic: Clinic) -> dict[str, object]:
    User = get_user_model()
    users = {}
    for username, role, first, last, profession in STAFF:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = clinic_services.staff_member_create(
                clinic=clinic,
                username=username,
                password=PASSWORD,
                role=role,
                email=f"{username}@demo.limber.invalid",
                first_name=first,
                last_name=last,
                profession=profession,
            )
        users[role] = user
    if not User.objects.filter(username="admin").exists():
        User.objects.create_superuser("admin", "admin@demo.limber.invalid", PASSWORD)
    return users


def _activate(plan: Prescription, therapist, *, waive: bool = True) -> str:
    """Activate; where the gate only needs a therapist's judgement, give it with a reason, as a therapist would
    (unless ``waive`` is False: the therapist accepts the refusal and the plan stays a draft)."""
    try:
        services.prescription_activate(prescription=plan, by=therapist)
        return "active"
    except SafetyBlocked as refused:
        if not waive or not all(f["overridable"] for f in refused.findings):
            return "refused: " + "; ".join(sorted({f["code"] for f in refused.findings}))
        blocks = [f for f in refused.findings if f["severity"] == "block"]
        warns = [f for f in refused.findings if f["severity"] == "warn"]
        services.prescription_activate(
            prescription=plan,
            by=therapist,
            overrides=[
                services.WaiverIn(f["item"], f["code"], f["cause"], "Pain-free range only; surgeon agreed by phone")
                for f in blocks
            ],
            acknowledgements=[services.WaiverIn(f["item"], f["code"], f["cause"]) for f in warns],
        )
        return "active (with " + ", ".join(sorted({f["code"] for f in refused.findings})) + " waived)"


def _patient(clinic: Clinic, spec: DemoPatient, staff: dict) -> tuple[Patient, str]:
    therapist, desk = staff[Role.THERAPIST], staff[Role.FRONT_DESK]
    existing = Patient.objects.filter(clinic=clinic, mrn=spec.mrn).first()
    if existing is not None:
        return existing, "already loaded"
    username = spec.portal[0] if spec.portal else spec.first_name.lower()
    patient = patient_services.patient_create(
        clinic=clinic,
        by=desk,
        mrn=spec.mrn,
        first_name=spec.first_name,
        last_name=spec.last_name,
        date_of_birth=spec.born,
        timezone=spec.zone,
        email=f"{username}@demo.limber.invalid",
        phone="+15555550100",
        email_consent=spec.channel == "email",
        sms_consent=spec.channel == "sms",
        preferred_channel=spec.channel,
        quiet_hours_start=spec.quiet[0] if spec.quiet else None,
        quiet_hours_end=spec.quiet[1] if spec.quiet else None,
        primary_therapist=therapist,
    )
    today = patient.local_today()
    if spec.portal:
        patient_services.portal_user_create(
            patient=patient,
            by=desk,
            username=spec.portal[0],
            password=PASSWORD,
            email=f"{spec.portal[0]}@demo.limber.invalid",
            relationship=spec.portal[1],
        )
    episode = patient_services.episode_open(
        patient=patient, by=therapist, title=spec.story[:200], opened_on=today - dt.timedelta(days=14)
    )
    for code, phase, qualifier, days_ago in spec.diagnoses:
        patient_services.patient_diagnosis_add(
            patient=patient,
            by=therapist,
            episode=episode,
            diagnosis=Diagnosis.objects.get(code=code),
            phase=phase,
            qualifier=qualifier,
            onset_date=today - dt.timedelta(days=days_ago),
        )
    patient_services.mobility_assess(
        patient=patient, by=therapist, level=MobilityLevel.objects.get(level=spec.mobility)
    )
    _outcome_measures(episode, spec, therapist, today)
    c = spec.clearance
    patient_services.clearance_record(
        patient=patient,
        by=desk,
        professional_name=c["name"],
        profession=c["profession"],
        status=c["status"],
        restricted_tags=MovementTag.objects.filter(slug__in=c.get("tags", [])),
        valid_from=today + dt.timedelta(days=c["from"]),
        valid_until=today + dt.timedelta(days=c["until"]),
        document_reference=f"Letter {spec.mrn}-1",
    )
    start = today - dt.timedelta(days=spec.started_days_ago)
    if spec.template:
        plan = prescription_from_template(
            template=ProtocolTemplate.objects.get(clinic=None, slug=spec.template),
            episode=episode,
            by=therapist,
            start_date=start,
        )
        items = [
            dataclasses.replace(item, progression=spec.progression.get(item.stretch.slug))
            for item in (services.ItemIn.of(row) for row in plan.items.select_related("stretch").order_by("order"))
        ]
        plan = services.prescription_update_draft(prescription=plan, by=therapist, notes=PLAN_NOTES, items=items)
        return patient, _activate(plan, therapist, waive=spec.waive)
    items = []
    age = dosage.age_on(spec.born, today)
    for slug in spec.stretches:
        stretch = Stretch.objects.get(clinic=None, slug=slug)
        items.append(
            services.ItemIn(
                stretch=stretch,
                reps=stretch.default_reps,
                sets=stretch.default_sets,
                hold_seconds=dosage.default_hold_seconds(
                    kind=stretch.kind, stretch_default=stretch.default_hold_seconds, age=age
                ),
            )
        )
    plan = services.prescription_create(
        episode=episode,
        by=therapist,
        start_date=start,
        end_date=start + dt.timedelta(days=42),
        days_of_week=[1, 2, 3, 4, 5, 6, 7] if len(spec.times) == 1 else [1, 3, 5],
        times=spec.times,
        items=items,
        notes=PLAN_NOTES,
    )
    return patient, _activate(plan, therapist, waive=spec.waive)


def _outcome_measures(episode: Episode, spec: DemoPatient, therapist, today: dt.date) -> None:
    """Schedule the episode's measures (its baseline and today's follow-up) and, for a patient with answers, record
    them as taken in the clinic: the baseline on the episode's first day, the follow-up now."""
    now = timezone.now()
    # Each occasion as it came: the baseline scheduled and answered on the first day, then today's follow-up (an
    # occasion still unanswered when the next falls due is missed).
    for day, occasion, taken_at in (
        (episode.opened_on, MeasureDue.Occasion.BASELINE, now - (today - episode.opened_on)),
        (today, MeasureDue.Occasion.FOLLOW_UP, now),
    ):
        measures_schedule(episode=episode, today=day)
        for code, answers in spec.outcomes.items():
            row = MeasureDue.objects.filter(
                episode=episode, instrument__code=code, occasion=occasion, status=MeasureDue.Status.DUE
            ).first()
            if row is None or len(answers) < (2 if occasion == MeasureDue.Occasion.FOLLOW_UP else 1):
                continue
            measure_respond(
                due=row,
                answers=answers[0 if occasion == MeasureDue.Occasion.BASELINE else 1],
                by=therapist,
                via=MeasureResponse.Via.CLINIC,
                activities=spec.activities if code == "psfs" and occasion == MeasureDue.Occasion.BASELINE else None,
                now=taken_at,
            )


def _placeholder_wording(clinic: Clinic, loaded_by) -> None:
    """The demo clinic's stand-in for the licensed ODI and NDI texts, every line saying it is a placeholder (no
    real clinic gets one: a clinic loads its licensed text in the admin or with ``load_instrument_wording``)."""
    for instrument in Instrument.objects.filter(licensed=True).order_by("code"):
        marker = PLACEHOLDER.format(instrument.abbreviation)
        wording = {
            "instructions": f"{marker}.",
            "items": {
                item["id"]: {
                    "text": f"{marker} ({item['id'].replace('_', ' ')}).",
                    "levels": {
                        str(level): f"{marker} (answer {level})" for level in range(item["low"], item["high"] + 1)
                    },
                }
                for item in instrument.items
            },
        }
        InstrumentWording.objects.get_or_create(
            clinic=clinic,
            instrument=instrument,
            defaults={"wording": wording, "licence": PLACEHOLDER_LICENCE, "loaded_by": loaded_by},
        )


def load_demo(*, stdout=None) -> list[str]:
    """Create (once) the demo clinic; return lines describing what is there."""
    lines = []
    with transaction.atomic():
        clinic = Clinic.objects.filter(name=CLINIC_NAME).first() or _clinic_create()
        staff = _staff(clinic)
        _placeholder_wording(clinic, staff[Role.CLINIC_ADMIN])
    for spec in PATIENTS:
        patient, outcome = _patient(clinic, spec, staff)
        lines.append(f"{patient.full_name:<13} {spec.zone:<20} {outcome:<45} {spec.story}")
    return lines
