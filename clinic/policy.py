"""Who may do what: the only place that says so (issue 14, item 5).

``POLICY`` maps each action to the staff roles that may take it. It is read by

- the services: ``require(action, user, clinic)`` is every service's role check;
- the API views: ``read_action`` / ``write_action`` (``clinic.api.permissions.IsStaffMember``);
- the Django role groups: ``ROLE_PERMISSIONS`` below, synced from this module by an idempotent
  ``post_migrate`` handler (``clinic.roles``), so editing this file needs no migration.

The groups' Django model permissions (what the admin shows) do not derive from the actions: the clinic admin
keeps the front desk's model permissions (e.g. ``change_safetyflag``, ``add_clearance``) while the services
refuse it the action itself. So the groups have their own table here, beside the actions.

Superusers (who have no membership) may act for maintenance, except on a clinical action (one only a
therapist may take): only a therapist prescribes or records clinical facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from django.core.exceptions import PermissionDenied

from clinic.access import membership_of
from clinic.models import Clinic, StaffMembership

Role = StaffMembership.Role


class Action(StrEnum):
    REGISTER_PATIENT = "register_patient"  # create, update, archive, restore
    GRANT_PORTAL_ACCESS = "grant_portal_access"
    RECORD_EPISODE = "record_episode"  # open, discharge
    RECORD_DIAGNOSIS = "record_diagnosis"
    ASSESS_MOBILITY = "assess_mobility"
    RECORD_CLEARANCE = "record_clearance"
    REVOKE_CLEARANCE = "revoke_clearance"
    VIEW_PLANS = "view_plans"
    VIEW_PROGRAM = "view_program"  # the live plan as the patient follows it, on the patient page (read-only)
    PRESCRIBE = "prescribe"  # draft, activate, pause, resume, complete, cancel, amend, safety check
    VIEW_ADHERENCE = "view_adherence"
    ACKNOWLEDGE_FLAG = "acknowledge_flag"
    RESOLVE_FLAG = "resolve_flag"
    RETRY_REMINDER = "retry_reminder"
    EDIT_CATALOG = "edit_catalog"  # the clinic's own stretches and contraindications
    EDIT_TEMPLATES = "edit_templates"  # the clinic's own protocol templates (global ones are read-only)
    MANAGE_STAFF = "manage_staff"  # add a member of staff: their login, membership and role in one step
    VIEW_AUDIT = "view_audit"  # browse the clinic's change trail and access log (read-only)
    RECORD_MEASURE = "record_measure"  # enter an outcome measure's answers taken in the clinic
    VIEW_OUTCOMES = "view_outcomes"  # outcome measures' scores over time
    CHOOSE_MEASURES = "choose_measures"  # the instruments an episode uses
    LOAD_WORDING = "load_wording"  # the clinic's licensed wording of a licensed instrument
    EXPORT_RECORD = "export_record"  # a patient's program, safety state and outcomes as FHIR, for the EHR


ANY_STAFF = frozenset({Role.THERAPIST, Role.FRONT_DESK, Role.CLINIC_ADMIN})
CLINICAL = frozenset({Role.THERAPIST})

POLICY: Mapping[Action, frozenset[Role]] = {
    Action.REGISTER_PATIENT: ANY_STAFF,
    Action.GRANT_PORTAL_ACCESS: ANY_STAFF,
    Action.RECORD_EPISODE: CLINICAL,
    Action.RECORD_DIAGNOSIS: CLINICAL,
    Action.ASSESS_MOBILITY: CLINICAL,
    Action.RECORD_CLEARANCE: frozenset({Role.THERAPIST, Role.FRONT_DESK}),
    Action.REVOKE_CLEARANCE: frozenset({Role.THERAPIST, Role.FRONT_DESK}),
    # Minimum necessary: the front desk helps by phone from sessions, reminders and flags, not the plan.
    Action.VIEW_PLANS: frozenset({Role.THERAPIST, Role.CLINIC_ADMIN}),
    # What the patient was told to do (stretches, dose, days and times, the therapist's overrides and acknowledged
    # warnings), read-only on the patient page: the desk answers "what am I meant to do?" on the phone (issue 15,
    # item 3). Drafts, past plans, gate evaluations and the plans API stay VIEW_PLANS.
    Action.VIEW_PROGRAM: ANY_STAFF,
    Action.PRESCRIBE: CLINICAL,
    Action.VIEW_ADHERENCE: frozenset({Role.THERAPIST, Role.CLINIC_ADMIN}),
    Action.ACKNOWLEDGE_FLAG: frozenset({Role.THERAPIST, Role.FRONT_DESK}),
    Action.RESOLVE_FLAG: CLINICAL,
    Action.RETRY_REMINDER: ANY_STAFF,
    Action.EDIT_CATALOG: frozenset({Role.CLINIC_ADMIN}),
    # Protocol templates (issue 17): the therapists who prescribe from them, and the clinic admin who runs the clinic.
    Action.EDIT_TEMPLATES: frozenset({Role.THERAPIST, Role.CLINIC_ADMIN}),
    Action.MANAGE_STAFF: frozenset({Role.CLINIC_ADMIN}),
    # Those who answer for the audit: the front desk and therapists do not browse who changed or read what.
    Action.VIEW_AUDIT: frozenset({Role.CLINIC_ADMIN}),
    # Outcome measures (issue 18): the desk hands a questionnaire over at the counter and types the answers in; the
    # scores are clinical, read like adherence; the therapist chooses the instruments; the clinic holds the licence.
    Action.RECORD_MEASURE: frozenset({Role.THERAPIST, Role.FRONT_DESK}),
    Action.VIEW_OUTCOMES: frozenset({Role.THERAPIST, Role.CLINIC_ADMIN}),
    Action.CHOOSE_MEASURES: CLINICAL,
    Action.LOAD_WORDING: frozenset({Role.CLINIC_ADMIN}),
    # The FHIR export (issue 19) holds the plans, the gate's reasoning and the scores: the roles that read all three.
    Action.EXPORT_RECORD: frozenset({Role.THERAPIST, Role.CLINIC_ADMIN}),
}


def roles_for(action: Action) -> frozenset[Role]:
    return POLICY[action]


def is_clinical(action: Action) -> bool:
    """Only a therapist may take it; superusers may not stand in."""
    return POLICY[action] == CLINICAL


def may(action: Action, user) -> bool:
    """Whether ``user`` may take ``action`` in their own clinic: for what a page offers (the querysets scope it)."""
    if user is None or not getattr(user, "is_active", False):
        return False
    membership = membership_of(user)
    if membership is None:
        return bool(getattr(user, "is_superuser", False)) and not is_clinical(action)
    return membership.role in POLICY[action]


def require(action: Action, user, clinic: Clinic | int) -> StaffMembership | None:
    """Raise PermissionDenied unless ``user`` is active staff of ``clinic`` whose role may take ``action``.

    Superusers (no membership) may act for maintenance unless the action is clinical (returns None then).
    """
    roles = POLICY[action]
    clinic_id = clinic if isinstance(clinic, int) else clinic.pk
    membership = membership_of(user)
    if membership is None:
        if user is not None and getattr(user, "is_superuser", False) and user.is_active and not is_clinical(action):
            return None
        raise PermissionDenied("Only staff of this clinic may do this.")
    if membership.clinic_id != clinic_id:
        raise PermissionDenied("Only staff of this clinic may do this.")
    if membership.role not in roles:
        names = [role.label.lower() for role in Role if role in roles]
        allowed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        raise PermissionDenied(f"Only a {allowed} may do this.")
    return membership


# --- The Django role groups (named after the roles) and their model permissions (DESIGN §1, §7) ---------------
#
# Nobody gets a ``delete_*`` permission: clinical rows are never hard-deleted (archive, revoke, resolve or
# cancel instead), and the global catalog is edited by superusers only.

CATALOG_MODELS = ["movementtag", "mobilitylevel", "diagnosis", "stretch", "contraindication", "instrument"]
PATIENT_MODELS = ["patient", "portalaccess", "episode", "patientdiagnosis", "mobilityassessment", "clearance"]
PRESCRIPTION_MODELS = [
    "prescription",
    "prescriptionitem",
    "gateevaluation",
    "gateoverride",
    "session",
    "sessionlog",
    "reminder",
    "safetyflag",
]


def _perms(app_label: str, verbs: list[str], models: list[str]) -> list[str]:
    return [f"{app_label}.{verb}_{model}" for model in models for verb in verbs]


VIEW = ["view"]
VIEW_ADD_CHANGE = ["view", "add", "change"]
VIEW_CHANGE = ["view", "change"]

# Registration, consent and paperwork; reads the schedule and acknowledges flags. No prescribing, and
# no view of the plan itself (minimum necessary): sessions, reminders and flags are enough to help a
# patient by phone.
_FRONT_DESK = [
    *_perms("patients", VIEW_ADD_CHANGE, ["patient", "portalaccess", "clearance"]),
    *_perms("patients", VIEW, ["episode", "patientdiagnosis", "mobilityassessment"]),
    *_perms("prescriptions", VIEW_CHANGE, ["safetyflag"]),  # change = acknowledge; resolving is a service check
    *_perms("prescriptions", VIEW, ["session", "reminder"]),
    *_perms("prescriptions", VIEW, ["measuredue"]),  # what is due, to hand over at the counter (not the scores)
    *_perms("clinic", VIEW, CATALOG_MODELS),
]

TEMPLATE_MODELS = ["protocoltemplate", "protocoltemplateitem"]

_THERAPIST = [
    *_perms("clinic", VIEW_ADD_CHANGE, TEMPLATE_MODELS),  # their clinic's own; global ones read-only (admin)
    *_perms("patients", VIEW_ADD_CHANGE, PATIENT_MODELS),
    *_perms("prescriptions", VIEW_ADD_CHANGE, PRESCRIPTION_MODELS),
    *_perms("prescriptions", VIEW, ["progressionstep"]),  # dose steps: the system writes them (read-only admin)
    *_perms("prescriptions", VIEW, ["measuredue", "measureresponse"]),  # answers go through the services
    *_perms("clinic", VIEW, CATALOG_MODELS),
]

# Runs the clinic: staff, the clinic's own catalog rows, and everything the front desk does. Global
# catalog rows stay superuser-only; the admin and services enforce that ``clinic`` is their own.
_CLINIC_ADMIN = [
    *_perms("clinic", VIEW, ["clinic", "staffmembership", *CATALOG_MODELS]),
    *_perms("patients", VIEW, PATIENT_MODELS),
    *_perms("prescriptions", VIEW, [*PRESCRIPTION_MODELS, "progressionstep", "measureresponse"]),
    *_perms("clinic", VIEW_ADD_CHANGE, ["instrumentwording"]),  # the clinic's licensed wording (Action.LOAD_WORDING)
    *_perms("clinic", ["add", "change"], ["stretch", "contraindication", "staffmembership"]),
    *_perms("clinic", VIEW_ADD_CHANGE, TEMPLATE_MODELS),
    *_perms("clinic", ["change"], ["clinic"]),
    # The audit trails' pages (patients.admin.trails) also require Action.VIEW_AUDIT; they scope to the clinic.
    *_perms("patients", VIEW, ["accesslog"]),
    *_perms("patients", VIEW, ["changetrailentry"]),  # the change trail (a proxy of pghistory's events)
    # Everything the front desk does, but clearances: recording and revoking one is not theirs
    # (Action.RECORD_CLEARANCE, REVOKE_CLEARANCE), so the admin offers them no button that would be refused.
    *[name for name in _FRONT_DESK if name not in {"patients.add_clearance", "patients.change_clearance"}],
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.THERAPIST.value: sorted(set(_THERAPIST)),
    Role.FRONT_DESK.value: sorted(set(_FRONT_DESK)),
    Role.CLINIC_ADMIN.value: sorted(set(_CLINIC_ADMIN)),
}
