"""Staff roles → Django permissions (DESIGN §1, §7).

Groups are named after ``StaffMembership.Role`` values and are created by a data migration
(``prescriptions/migrations/0002_role_groups.py``, the first migration that sees every app's models).
When this table changes, add a migration that calls ``sync_role_groups`` again.

Nobody gets a ``delete_*`` permission: clinical rows are never hard-deleted (archive, revoke, resolve or
cancel instead), and the global catalog is edited by superusers only.
"""

from __future__ import annotations

from django.contrib.auth.management import create_permissions
from django.db import DEFAULT_DB_ALIAS

CATALOG_MODELS = ["movementtag", "mobilitylevel", "diagnosis", "stretch", "contraindication"]
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


def _perms(app_label: str, actions: list[str], models: list[str]) -> list[str]:
    return [f"{app_label}.{action}_{model}" for model in models for action in actions]


VIEW = ["view"]
VIEW_ADD_CHANGE = ["view", "add", "change"]
VIEW_CHANGE = ["view", "change"]

# Registration, consent and paperwork; reads the schedule and acknowledges flags. No prescribing, and
# no view of the plan itself (minimum necessary): sessions, reminders and flags are enough to help a
# patient by phone.
FRONT_DESK = [
    *_perms("patients", VIEW_ADD_CHANGE, ["patient", "portalaccess", "clearance"]),
    *_perms("patients", VIEW, ["episode", "patientdiagnosis", "mobilityassessment"]),
    *_perms("prescriptions", VIEW_CHANGE, ["safetyflag"]),  # change = acknowledge; resolving is a service check
    *_perms("prescriptions", VIEW, ["session", "reminder"]),
    *_perms("clinic", VIEW, CATALOG_MODELS),
]

THERAPIST = [
    *_perms("patients", VIEW_ADD_CHANGE, PATIENT_MODELS),
    *_perms("prescriptions", VIEW_ADD_CHANGE, PRESCRIPTION_MODELS),
    *_perms("clinic", VIEW, CATALOG_MODELS),
]

# Runs the clinic: staff, the clinic's own catalog rows, and everything the front desk does. Global
# catalog rows stay superuser-only; the admin and services enforce that ``clinic`` is their own.
CLINIC_ADMIN = [
    *_perms("clinic", VIEW, ["clinic", "staffmembership", *CATALOG_MODELS]),
    *_perms("patients", VIEW, PATIENT_MODELS),
    *_perms("prescriptions", VIEW, PRESCRIPTION_MODELS),
    *_perms("clinic", ["add", "change"], ["stretch", "contraindication", "staffmembership"]),
    *_perms("clinic", ["change"], ["clinic"]),
    *FRONT_DESK,
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    "therapist": sorted(set(THERAPIST)),
    "front_desk": sorted(set(FRONT_DESK)),
    "clinic_admin": sorted(set(CLINIC_ADMIN)),
}

_DEFAULT_ACTIONS = ("add", "change", "delete", "view")


def _create_all_permissions(apps, using: str) -> None:
    """Inside a migration, permissions only appear at post_migrate; create them now from the given state."""
    for app_config in apps.get_app_configs():
        # Historical app configs (AppConfigStub) have no models module, and create_permissions skips those.
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = True
        try:
            create_permissions(app_config, apps=apps, verbosity=0, using=using)
        finally:
            app_config.models_module = models_module


def _model_exists(apps, app_label: str, codename: str) -> bool:
    action, _, model_name = codename.partition("_")
    if action not in _DEFAULT_ACTIONS:
        return True  # a custom permission: it must exist
    try:
        apps.get_model(app_label, model_name)
    except LookupError:
        return False
    return True


def sync_role_groups(apps, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Create the role groups and set their permissions to exactly ROLE_PERMISSIONS.

    A permission on a model the given (historical) state does not have yet is skipped; the migration
    that adds the model re-runs this. A permission on a model that exists but is missing is a typo and
    raises.
    """
    _create_all_permissions(apps, using)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    wanted = {name for names in ROLE_PERMISSIONS.values() for name in names}
    app_labels = {name.split(".", 1)[0] for name in wanted}
    available = {
        f"{p.content_type.app_label}.{p.codename}": p
        for p in Permission.objects.using(using)
        .filter(content_type__app_label__in=app_labels)
        .select_related("content_type")
    }
    for role, names in ROLE_PERMISSIONS.items():
        permissions = []
        for name in names:
            app_label, codename = name.split(".", 1)
            if name in available:
                permissions.append(available[name])
            elif _model_exists(apps, app_label, codename):
                raise LookupError(f"Role {role!r} names permission {name!r}, which does not exist.")
        group, _ = Group.objects.using(using).get_or_create(name=role)
        group.permissions.set(permissions)
