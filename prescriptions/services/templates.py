"""Plans made from protocol templates (issue 17): a template gives a draft, never more.

The draft is made by ``prescription_create`` like any other (the prescriber, the patient, the episode and the items
are checked there) and records the template and the version it came from. Activation runs the gate as for any plan.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from clinic.models import ProtocolTemplate, ProtocolTemplateItem
from clinic.policy import Action, require
from patients.models import Episode
from prescriptions.models import Prescription
from prescriptions.services.plans import ItemIn, prescription_create


def template_end_date(*, weeks: int | None, start_date: dt.date) -> dt.date | None:
    """The last day (inclusive) of a plan of ``weeks`` weeks from ``start_date``; None when open-ended."""
    if weeks is None:
        return None
    return start_date + dt.timedelta(weeks=weeks, days=-1)


@transaction.atomic
def prescription_from_template(
    *, template: ProtocolTemplate, episode: Episode, by, start_date: dt.date | None = None
) -> Prescription:
    """A draft plan for ``episode`` from ``template``: its items (stretch, dose, side, notes, in order), its suggested
    days and times, and, when the template runs a number of weeks, an end date that many weeks after the start
    (default: today in the patient's zone). The plan records the template and its version. A template of another
    clinic is refused as if missing (``template``)."""
    patient = episode.patient
    require(Action.PRESCRIBE, by, patient.clinic_id)
    if template.clinic_id not in (None, patient.clinic_id):
        raise ValidationError({"template": "No such template in this clinic's catalog."})
    # The items with the template's version and schedule, in one statement: a concurrent edit (new items, version
    # + 1, in one transaction) is seen whole or not at all.
    rows = list(
        ProtocolTemplateItem.objects.filter(template_id=template.pk)
        .select_related("stretch")
        .annotate(
            template_version=F("template__version"),
            template_days=F("template__days_of_week"),
            template_times=F("template__times"),
            template_weeks=F("template__weeks"),
        )
        .order_by("order", "id")
    )
    items = [ItemIn.of(row) for row in rows]
    if not items:
        raise ValidationError({"template": "This template has no stretches."})
    first = rows[0]
    start_date = start_date or patient.local_today()
    prescription = prescription_create(
        episode=episode,
        by=by,
        start_date=start_date,
        end_date=template_end_date(weeks=first.template_weeks, start_date=start_date),
        days_of_week=first.template_days,
        times=first.template_times,
        items=items,
        template=template,
        template_version=first.template_version,
    )
    return prescription
