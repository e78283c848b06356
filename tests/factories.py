"""factory-boy factories: rows for test set-up. The code under test writes only through services."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from clinic.models import Clinic, Diagnosis, MobilityLevel, Profession, StaffMembership, Stretch
from patients.models import Clearance, Episode, MobilityAssessment, Patient, PatientDiagnosis, PortalAccess
from prescriptions.models import GateOverride, Prescription, PrescriptionItem, Reminder, SafetyFlag, Session, SessionLog


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.django.Password("correct horse battery staple")


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic

    name = factory.Sequence(lambda n: f"Riverside Physio {n}")
    timezone = "America/New_York"
    phone = "+1 212 555 0100"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StaffMembership

    user = factory.SubFactory(UserFactory, is_staff=True)
    clinic = factory.SubFactory(ClinicFactory)
    role = StaffMembership.Role.THERAPIST


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    clinic = factory.SubFactory(ClinicFactory)
    mrn = factory.Sequence(lambda n: f"MRN{n:05d}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    date_of_birth = dt.date(1980, 5, 17)
    timezone = "America/New_York"
    email = factory.LazyAttribute(lambda p: f"{p.first_name.lower()}@example.test")


class PortalAccessFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PortalAccess

    user = factory.SubFactory(UserFactory)
    patient = factory.SubFactory(PatientFactory)
    relationship = PortalAccess.Relationship.SELF


class EpisodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Episode

    patient = factory.SubFactory(PatientFactory)
    title = "Low back pain"
    opened_on = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=30))


def measured_episode(patient, therapist, *codes: str) -> Episode:
    """An episode of ``patient`` opened 30 local days ago with ``therapist`` as its primary therapist, measured with
    the outcome instruments ``codes``."""
    return EpisodeFactory(
        patient=patient,
        primary_therapist=therapist,
        opened_on=patient.local_today() - dt.timedelta(days=30),
        instruments=list(codes),
    )


class ClearanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clearance

    patient = factory.SubFactory(PatientFactory)
    professional_name = "Dr. Ada Reyes"
    profession = Profession.PHYSICIAN
    status = Clearance.Status.CLEARED
    valid_from = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=30))
    valid_until = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=180))
    recorded_by = factory.SubFactory(UserFactory)
    recorded_at = factory.LazyFunction(timezone.now)


class MobilityAssessmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MobilityAssessment

    patient = factory.SubFactory(PatientFactory)
    level = factory.LazyFunction(lambda: MobilityLevel.objects.get(level=3))
    assessed_by = factory.SubFactory(UserFactory)
    assessed_at = factory.LazyFunction(timezone.now)


class PatientDiagnosisFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PatientDiagnosis

    patient = factory.SubFactory(PatientFactory)
    diagnosis = factory.LazyFunction(lambda: Diagnosis.objects.get(code="M54.50"))
    phase = "chronic"
    onset_date = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=60))
    recorded_by = factory.SubFactory(UserFactory)


class PrescriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prescription

    episode = factory.SubFactory(EpisodeFactory)
    patient = factory.SelfAttribute("episode.patient")
    therapist = factory.SubFactory(UserFactory)
    start_date = factory.LazyFunction(timezone.localdate)
    days_of_week = [1, 2, 3, 4, 5, 6, 7]
    times = [dt.time(8, 0)]
    supersedes = None
    # An amendment (``supersedes``) is the version after it, of the same first version.
    version = factory.LazyAttribute(lambda p: p.supersedes.version + 1 if p.supersedes else 1)
    first_version = factory.LazyAttribute(
        lambda p: (p.supersedes.first_version or p.supersedes) if p.supersedes else None
    )


class PrescriptionItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PrescriptionItem

    prescription = factory.SubFactory(PrescriptionFactory)
    stretch = factory.LazyFunction(lambda: Stretch.objects.get(slug="pelvic-tilt", clinic=None))
    hold_seconds = 5
    reps = 10
    order = factory.Sequence(lambda n: n + 1)


class GateOverrideFactory(factory.django.DjangoModelFactory):
    """A therapist's acknowledgement of a caution on one item (``kind=GateOverride.Kind.OVERRIDE`` for an
    override)."""

    class Meta:
        model = GateOverride

    item = factory.SubFactory(PrescriptionItemFactory)
    prescription = factory.SelfAttribute("item.prescription")
    kind = GateOverride.Kind.ACKNOWLEDGEMENT
    code = "caution"
    cause = factory.Sequence(lambda n: f"contraindication:{n}")
    reason = "Discussed the caution with the patient; start gently."
    by = factory.SelfAttribute("prescription.therapist")
    at = factory.LazyFunction(timezone.now)


class StretchFactory(factory.django.DjangoModelFactory):
    """A clinic's own static stretch (pass ``clinic=None`` for a global row)."""

    class Meta:
        model = Stretch

    clinic = factory.SubFactory(ClinicFactory)
    slug = factory.Sequence(lambda n: f"clinic-stretch-{n}")
    name = factory.Sequence(lambda n: f"Clinic stretch {n}")
    steps = factory.LazyFunction(lambda: ["Lie on your back.", "Hold the position gently."])
    body_region = Stretch.Region.LUMBAR
    position = Stretch.Position.SUPINE
    kind = Stretch.Kind.STATIC
    min_mobility = factory.LazyFunction(lambda: MobilityLevel.objects.get(level=1))
    default_hold_seconds = 20
    default_reps = 3


class SessionFactory(factory.django.DjangoModelFactory):
    """A session on the plan's start date at 08:00 local; ``scheduled_at`` follows the patient's zone."""

    class Meta:
        model = Session

    prescription = factory.SubFactory(PrescriptionFactory)
    local_date = factory.SelfAttribute("prescription.start_date")
    local_time = dt.time(8, 0)
    scheduled_at = factory.LazyAttribute(
        lambda s: dt.datetime.combine(s.local_date, s.local_time, tzinfo=ZoneInfo(s.prescription.patient.timezone))
    )


class SessionLogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SessionLog

    session = factory.SubFactory(SessionFactory, status=Session.Status.COMPLETED)
    logged_at = factory.LazyFunction(timezone.now)
    logged_by = factory.SubFactory(UserFactory)
    pain_before = 3
    pain_after = 2
    difficulty = 2


class ReminderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reminder

    session = factory.SubFactory(SessionFactory)
    purpose = Reminder.Purpose.SESSION
    channel = "email"
    send_at = factory.LazyAttribute(lambda r: r.session.scheduled_at - dt.timedelta(minutes=15))
    idempotency_key = factory.LazyFunction(lambda: uuid.uuid4().hex)


class SafetyFlagFactory(factory.django.DjangoModelFactory):
    """An open flag; ``SafetyFlagFactory(resolved=True)`` gives a resolved one with its reason."""

    class Meta:
        model = SafetyFlag

    class Params:
        resolved = factory.Trait(
            status=SafetyFlag.Status.RESOLVED,
            resolved_at=factory.LazyFunction(timezone.now),
            resolution="The cause is gone.",
        )

    patient = factory.SubFactory(PatientFactory)
    kind = SafetyFlag.Kind.CONTRAINDICATION
    cause_key = factory.Sequence(lambda n: f"prescription:{n}")
    severity = SafetyFlag.Severity.WARNING
    summary = "A stretch in the plan is contraindicated."
    detected_at = factory.LazyFunction(timezone.now)


def no_red_flags(session: Session, **yes: bool) -> dict[str, bool]:
    """Answers to exactly ``session``'s red-flag questions: all no, except those given (``saddle_numbness=True``)."""
    from prescriptions.selectors.red_flags import session_questions

    answers = dict.fromkeys((question.slug for question in session_questions(session)), False)
    unknown = set(yes) - set(answers)
    assert not unknown, f"not questions of this session: {sorted(unknown)}"
    return {**answers, **yes}


class ProtocolTemplateFactory(factory.django.DjangoModelFactory):
    """A clinic's own protocol template for chronic low back pain (M54.50), any phase, without items: add them with
    ``ProtocolTemplateItemFactory(template=...)`` (``clinic=None`` for a global one; ``diagnoses=[...]`` to target
    others)."""

    class Meta:
        model = "clinic.ProtocolTemplate"
        skip_postgeneration_save = True

    clinic = factory.SubFactory(ClinicFactory)
    slug = factory.Sequence(lambda n: f"template-{n}")
    name = factory.Sequence(lambda n: f"Back care {n}")
    days_of_week = [1, 3, 5]
    times = [dt.time(8, 0)]
    weeks = 4
    review_note = ""

    @factory.post_generation
    def diagnoses(self, create, extracted, **kwargs):
        if create:
            self.diagnoses.set(extracted if extracted is not None else [Diagnosis.objects.get(code="M54.50")])


class ProtocolTemplateItemFactory(factory.django.DjangoModelFactory):
    """A static global stretch (pelvic tilt) with a 10 s hold, 5 reps."""

    class Meta:
        model = "clinic.ProtocolTemplateItem"

    template = factory.SubFactory(ProtocolTemplateFactory)
    order = factory.Sequence(lambda n: n + 1)
    stretch = factory.LazyFunction(lambda: Stretch.objects.get(slug="pelvic-tilt", clinic=None))
    hold_seconds = 10
    reps = 5
