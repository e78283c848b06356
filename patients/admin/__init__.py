"""The patient side's admin, one module per concern; every write goes through ``patients.services``.

- ``reads``: ``PatientReadsLogged``, which logs every read of patient data a page shows (DESIGN §7);
- ``clearance_states``: each patient's clearance states today, one expression of the patient list's query;
- ``patients``: the front desk's patient screens (list, badge, filters, inlines, change form, portal logins);
- ``clearances``: clearances recorded and revoked through the services;
- ``records``: browse-only patient records;
- ``trails``: the two audit trails, changes and reads.

Importing the package registers them all (the admin autodiscovers ``patients.admin``). The prescriptions app
adds its columns, filters and inlines to ``PatientAdmin`` and its rows to the change trail (DESIGN §1).
"""

from patients.admin import clearances, patients, records, trails  # noqa: F401  (each registers its admins)
from patients.admin.clearances import ClearanceAdmin, ClearanceForm
from patients.admin.patients import (
    CLEARANCE_BADGES,
    ArchivedFilter,
    ClearanceTodayFilter,
    PatientAdmin,
    PatientForm,
    PortalGrantForm,
    PortalLoginForm,
    PrimaryTherapistFilter,
)
from patients.admin.reads import PatientReadsLogged
from patients.admin.records import EpisodeAdmin, MobilityAssessmentAdmin, PatientDiagnosisAdmin, PortalAccessAdmin
from patients.admin.trails import AccessLogAdmin, ChangeEventAdmin, add_patient_event_source, patient_events
from patients.clearance_states import EXPIRING_WITHIN_DAYS, clearance_states_today

__all__ = [
    "CLEARANCE_BADGES",
    "EXPIRING_WITHIN_DAYS",
    "AccessLogAdmin",
    "ArchivedFilter",
    "ChangeEventAdmin",
    "ClearanceAdmin",
    "ClearanceForm",
    "ClearanceTodayFilter",
    "EpisodeAdmin",
    "MobilityAssessmentAdmin",
    "PatientAdmin",
    "PatientDiagnosisAdmin",
    "PatientForm",
    "PatientReadsLogged",
    "PortalAccessAdmin",
    "PortalGrantForm",
    "PortalLoginForm",
    "PrimaryTherapistFilter",
    "add_patient_event_source",
    "clearance_states_today",
    "patient_events",
]
