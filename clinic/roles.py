"""The Django role groups, built from ``clinic.policy.ROLE_PERMISSIONS`` (DESIGN §1, §7).

Groups are named after ``StaffMembership.Role`` values. ``sync_role_groups_after_migrate`` (connected in
``ClinicConfig.ready``) re-syncs them after every ``migrate`` (and every test flush): idempotent, so the
table in ``clinic/policy.py`` can change without a migration.
"""

from __future__ import annotations

from django.contrib.auth.management import create_permissions
from django.db import DEFAULT_DB_ALIAS

from clinic.policy import ROLE_PERMISSIONS

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


def sync_role_groups_after_migrate(sender, *, apps=None, using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """``post_migrate`` receiver (sender: the clinic app). ``flush`` sends no ``apps``: the live registry then.
    Skips a state without the auth app's models."""
    if apps is None:
        from django.apps import apps
    try:
        apps.get_model("auth", "Group")
    except LookupError:
        return
    sync_role_groups(apps, using=using)
