"""Admin pages for the two audit trails (DESIGN §7): changes (pghistory events) and reads (AccessLog).

Who browses them (issue 15, item 5; ``Action.VIEW_AUDIT`` and the role group's view permissions): a clinic
admin their own clinic's, a superuser every clinic's; the front desk and therapists neither (no menu entry, 403).
A clinic's change trail is the events naming a row of one of its patients (the patient, their records and
clearances, and the rows of the higher apps' sources: plans, items, overrides, sessions, logs, reminders); its
access log is the reads of its patients. Both are read-only and filter by patient (``?patient=<id>``, or the
search box: name or MRN), actor and date.

A change-trail page shows patient data, so it is a logged read of the patients its events belong to
(``PatientReadsLogged``). The access log is not logged: it shows who read whom and when, no record, and
logging it would add a row to itself for every row it shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import BigIntegerField, Case, Model, OuterRef, Q, QuerySet, Subquery, TextField, Value, When
from django.db.models.fields.json import KT, KeyTextTransform
from django.db.models.functions import Cast, Coalesce, Concat
from django.db.models.lookups import In
from pghistory.models import Events

from clinic.admin_base import clinic_id_of, scope_to_clinic
from clinic.policy import Action, may
from patients.admin.reads import PatientReadsLogged
from patients.models import AccessLog, ChangeTrailEntry, Clearance, Patient

PATIENT_MODEL = "patients.Patient"


@dataclass(frozen=True)
class PatientEventSource:
    """Events whose ``pgh_data[key]`` is the id of a ``model`` row belong to that row's patient, reached from the
    row by the lookup ``patient_path`` (``"pk"`` when the key names the patient itself)."""

    key: str
    model: type[Model]
    patient_path: str


_event_sources: list[PatientEventSource] = [
    PatientEventSource("patient_id", Patient, "pk"),  # the patient's records, clearances, flags, portal access …
    PatientEventSource("clearance_id", Clearance, "patient"),  # a clearance's restrictions
]


def add_patient_event_source(key: str, model: type[Model], patient_path: str) -> PatientEventSource:
    """Count a higher app's events in its patients' change trail (prescriptions: the events naming a plan or a
    session). The higher app registers its source (DESIGN §1: ``patients`` never imports it)."""
    source = PatientEventSource(key, model, patient_path)
    if source not in _event_sources:
        _event_sources.append(source)
    return source


def _text_pks(rows: QuerySet) -> QuerySet:
    """The rows' ids as text: the type ``pgh_obj_id`` and ``pgh_data ->> key`` have (no cast on the events' side)."""
    return rows.order_by().annotate(text_pk=Cast("pk", TextField())).values("text_pk")


def events_of_patients(patients: QuerySet) -> Q:
    """The condition on ``Events`` that keeps the events of the ``patients`` (a queryset, used as a subquery).

    One ``IN (SELECT …)`` per source, so the database checks each event against hashed id sets, however many
    patients there are; no id is read into Python.
    """
    patient_ids = patients.order_by().values("pk")
    condition = Q(pgh_obj_model=PATIENT_MODEL, pgh_obj_id__in=_text_pks(Patient.objects.filter(pk__in=patient_ids)))
    for source in _event_sources:
        rows = source.model._default_manager.filter(**{f"{source.patient_path}__in": patient_ids})
        condition |= Q(In(KT(f"pgh_data__{source.key}"), _text_pks(rows)))
    return condition


def patient_events(patient_id: int) -> QuerySet:
    """Every change event of one patient's rows, newest first."""
    return Events.objects.filter(events_of_patients(Patient.objects.filter(pk=patient_id))).order_by(
        "-pgh_created_at", "-pgh_id"
    )


def _data_id(key: str):
    """``pgh_data[key]`` of the outer event row, as a bigint (JSON null and a missing key: NULL)."""
    return Cast(KeyTextTransform(key, OuterRef("pgh_data")), BigIntegerField())


def event_patient_id():
    """The patient an event belongs to (NULL if none): an expression, so the list reads it in its one query."""
    candidates = [
        Case(When(pgh_obj_model=PATIENT_MODEL, then=Cast("pgh_obj_id", BigIntegerField()))),
    ]
    for source in _event_sources:
        if source.patient_path == "pk":
            candidates.append(Cast(KT(f"pgh_data__{source.key}"), BigIntegerField()))
        else:
            rows = source.model._default_manager.filter(pk=_data_id(source.key)).order_by().values(source.patient_path)
            rows = rows[:1]
            candidates.append(Subquery(rows, output_field=BigIntegerField()))
    return Coalesce(*candidates, output_field=BigIntegerField())


def may_view_audit(user) -> bool:
    """A superuser, or staff whose role may ``VIEW_AUDIT`` (their own clinic's trails: the querysets say which)."""
    return may(Action.VIEW_AUDIT, user)


def _clinic_patients(request) -> QuerySet:
    return scope_to_clinic(Patient.objects.all(), request.user, "clinic")


class PatientIdFilter(admin.SimpleListFilter):
    """``?patient=<id>``: one patient's rows. No choice list — a clinic has too many patients for one (the search
    box finds patients by name or MRN)."""

    title = "patient"
    parameter_name = "patient"

    def lookups(self, request, model_admin):
        value = self.value()
        if value and value.isdigit():
            patient = _clinic_patients(request).filter(pk=value).first()  # never another clinic's name
            return [(value, str(patient) if patient else f"Patient {value}")]
        return []

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit():
            return queryset.none()
        if queryset.model is ChangeTrailEntry:
            return queryset.filter(events_of_patients(Patient.objects.filter(pk=int(value))))
        return queryset.filter(patient_id=int(value))


SYSTEM = "system"


class ActorFilter(admin.SimpleListFilter):
    """``?actor=<user id>`` or ``?actor=system`` (Celery tasks). The choices are the staff of the user's clinic
    (every clinic's staff and the superusers for a superuser); any user id filters."""

    title = "actor"
    parameter_name = "actor"

    def lookups(self, request, model_admin):
        users = get_user_model().objects.order_by("username")
        clinic_id = clinic_id_of(request.user)
        if request.user.is_superuser:
            users = users.filter(Q(membership__isnull=False) | Q(is_superuser=True))
        elif clinic_id is not None:
            users = users.filter(membership__clinic_id=clinic_id)
        else:
            users = users.none()
        return [(str(pk), username) for pk, username in users.values_list("pk", "username")] + [(SYSTEM, "system")]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if queryset.model is ChangeTrailEntry:
            if value == SYSTEM:
                return queryset.filter(pgh_context__actor__startswith="system:")
            return queryset.filter(pgh_context__user=int(value)) if value.isdigit() else queryset.none()
        if value == SYSTEM:
            return queryset.filter(actor__isnull=True)
        return queryset.filter(actor_id=int(value)) if value.isdigit() else queryset.none()


class AuditTrailAdmin(admin.ModelAdmin):
    """Read-only, for those who answer for the audit: ``may_view_audit`` and the model's view permission."""

    list_display_links = None
    actions = None
    search_fields = ["patient"]  # shows the search box; ``get_search_results`` searches patients
    search_help_text = "A patient's name or MRN."

    def has_view_permission(self, request, obj=None):
        return may_view_audit(request.user) and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        patients = _clinic_patients(request)
        for word in term.split():
            patients = patients.filter(
                Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(mrn__iexact=word)
            )
        return self.rows_of_patients(queryset, patients), False

    def rows_of_patients(self, queryset, patients: QuerySet) -> QuerySet:
        raise NotImplementedError


@admin.register(AccessLog)
class AccessLogAdmin(AuditTrailAdmin):
    list_display = ["at", "patient", "actor_label", "what"]
    list_filter = [PatientIdFilter, ActorFilter, "what"]
    list_select_related = ["patient", "actor"]
    date_hierarchy = "at"

    def get_queryset(self, request):
        return scope_to_clinic(super().get_queryset(request), request.user, "patient__clinic")

    def rows_of_patients(self, queryset, patients):
        return queryset.filter(patient__in=patients.values("pk"))

    @admin.display(description="actor")
    def actor_label(self, obj: AccessLog) -> str:
        return obj.actor.get_username() if obj.actor else "system"


@admin.register(ChangeTrailEntry)
class ChangeEventAdmin(PatientReadsLogged, AuditTrailAdmin):
    read_what = "change-trail"
    list_display = [
        "pgh_created_at",
        "patient_label",
        "pgh_obj_model",
        "pgh_obj_id",
        "pgh_label",
        "actor_label",
        "pgh_diff",
    ]
    list_filter = [PatientIdFilter, ActorFilter]
    date_hierarchy = "pgh_created_at"
    show_full_result_count = False

    def get_queryset(self, request):
        events = (
            ChangeTrailEntry.objects.annotate(event_patient_id=event_patient_id())
            .annotate(
                event_patient_name=Subquery(
                    Patient.objects.filter(pk=OuterRef("event_patient_id"))
                    .order_by()
                    .annotate(label=Concat("first_name", Value(" "), "last_name", Value(" ("), "mrn", Value(")")))
                    .values("label")[:1]
                ),
                actor_username=Subquery(
                    get_user_model()
                    .objects.filter(pk=Cast(KeyTextTransform("user", OuterRef("pgh_context")), BigIntegerField()))
                    .order_by()
                    .values("username")[:1]
                ),
            )
            .order_by("-pgh_created_at", "-pgh_id")
        )
        if request.user.is_superuser:
            return events
        clinic_id = clinic_id_of(request.user)
        if clinic_id is None:
            return events.none()
        return events.filter(events_of_patients(Patient.objects.filter(clinic_id=clinic_id)))

    def rows_of_patients(self, queryset, patients):
        return queryset.filter(events_of_patients(patients))

    def patient_id_of(self, obj) -> int | None:
        return obj.event_patient_id

    @admin.display(description="patient")
    def patient_label(self, obj) -> str:
        return obj.event_patient_name or "—"

    @admin.display(description="actor")
    def actor_label(self, obj) -> str:
        context = obj.pgh_context or {}
        return str(obj.actor_username or context.get("actor") or context.get("user") or "—")
