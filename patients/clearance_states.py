"""Each patient's clearance states on their local today, in SQL: the list annotation of the patient list's badge and
filter and of the desk's day (the property-tested twin of ``prescriptions.gate.rules.clearance_states``)."""

from __future__ import annotations

import datetime as dt

from django.contrib.postgres.fields import ArrayField
from django.db.models import (
    Case,
    CharField,
    DateField,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from clinic.models import ClearanceAuthorityRule
from patients.clearance import EXPIRING_WITHIN_DAYS
from patients.models import Clearance, ClearanceRestriction, PatientDiagnosis, local_date


class _StatesThatApply(Func):
    """The states whose condition holds, in the order given, as a text array; NULL when none does."""

    template = "NULLIF(array_remove(ARRAY[%(expressions)s]::text[], NULL), '{}')"
    output_field = ArrayField(CharField())

    def __init__(self, *states: tuple[str, Q]):
        super().__init__(
            *(Case(When(condition, then=Value(state)), output_field=CharField()) for state, condition in states)
        )


def clearance_states_today(now: dt.datetime | None = None):
    """Each patient's clearance states on their local today: the one that matters most first, then the lesser.

    The gate's rule (``prescriptions.gate.rules.clearance_states``, property-tested equal), as one expression of
    the list query. With no clearance in force: revoked, expired, not yet valid (a clearance not revoked by
    today starts later), else none. With the covering, unrevoked-by-today clearance recorded last in force:
    insufficient authority (an active diagnosis its profession may not clear today: not in its ``clearance_by``,
    or left out by an authority rule that applies today, ``rules.allowed_professions``), restricted (tags or status),
    expiring (ends within ``EXPIRING_WITHIN_DAYS``), else cleared. Revocation dates are local dates.
    """
    now_value = Value(now or timezone.now(), output_field=DateTimeField())
    # "In force on D" is ``ClearanceQuerySet.in_force`` (the SQL twin of ``patients.clearance.effective_clearance``).
    clearances = Clearance.objects.filter(patient=OuterRef("pk")).on_day(
        day=local_date(OuterRef("timezone"), now_value), zone=OuterRef("timezone")
    )
    covering = clearances.covering()

    # A rule of the diagnosis narrowing who may clear it that applies today and leaves the profession out: today
    # in its window of days since onset (an unrecorded onset is inside: the day is then taken to be the bound
    # itself), its other diagnosis on record (active or not) if it names one.
    days = OuterRef("days_since_onset")
    narrowing_rule = (
        ClearanceAuthorityRule.objects.filter(diagnosis=OuterRef("diagnosis"))
        .alias(
            profession_position=Func(
                F("professions"), OuterRef("profession"), function="array_position", output_field=IntegerField()
            )
        )
        .filter(profession_position__isnull=True)
        .filter(
            Q(with_diagnosis__isnull=True)
            | Exists(
                PatientDiagnosis.objects.filter(
                    patient=OuterRef(OuterRef("patient")), diagnosis=OuterRef("with_diagnosis")
                )
            )
        )
        .filter(Q(from_day__isnull=True) | Q(from_day__lte=Coalesce(days, F("from_day"), output_field=IntegerField())))
        .filter(
            Q(until_day__isnull=True) | Q(until_day__gte=Coalesce(days, F("until_day"), output_field=IntegerField()))
        )
    )
    uncleared_diagnosis = (
        PatientDiagnosis.objects.filter(patient=OuterRef("patient"))
        .alias(
            today=OuterRef("today"),
            profession=OuterRef("profession"),
            days_since_onset=Func(  # date - date is a number of days in PostgreSQL; NULL without an onset
                F("today"), F("onset_date"), template="(%(expressions)s)", arg_joiner=" - ", output_field=IntegerField()
            ),
            cleared_by_position=Func(
                F("diagnosis__clearance_by"), F("profession"), function="array_position", output_field=IntegerField()
            ),
        )
        .filter(Q(onset_date__isnull=True) | Q(onset_date__lte=F("today")))
        .filter(Q(resolved_date__isnull=True) | Q(resolved_date__gt=F("today")))
        .filter(Q(cleared_by_position__isnull=True) | Exists(narrowing_rule))
    )
    restricted = Q(status=Clearance.Status.RESTRICTED) | Exists(
        ClearanceRestriction.objects.filter(clearance=OuterRef("pk"))
    )
    expiring = Q(valid_until__lte=ExpressionWrapper(F("today") + Value(EXPIRING_WITHIN_DAYS), output_field=DateField()))
    in_force = (
        clearances.in_force()
        .annotate(
            states=Coalesce(
                _StatesThatApply(
                    ("insufficient_authority", Q(Exists(uncleared_diagnosis))),
                    ("restricted", restricted),
                    ("expiring", expiring),
                ),
                Value(["cleared"]),
                output_field=ArrayField(CharField()),
            )
        )
        .values("states")[:1]
    )
    missing = _StatesThatApply(
        ("revoked", Q(Exists(covering.filter(revoked_on__lte=F("today"))))),
        ("expired", Q(Exists(clearances.filter(valid_until__lt=F("today"))))),
        ("not_yet_valid", Q(Exists(clearances.not_revoked_by_day().filter(valid_from__gt=F("today"))))),
    )
    return Coalesce(
        Subquery(in_force, output_field=ArrayField(CharField())),
        missing,
        Value(["none"]),
        output_field=ArrayField(CharField()),
    )
