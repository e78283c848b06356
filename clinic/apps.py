from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ClinicConfig(AppConfig):
    name = "clinic"
    verbose_name = "Clinic and catalog"

    def ready(self) -> None:
        from clinic import tasks  # noqa: F401 — registers the tasks services enqueue by name (a reset email)
        from clinic.roles import sync_role_groups_after_migrate

        # Role groups come from clinic/policy.py, not from a data migration (issue 14, item 5).
        post_migrate.connect(sync_role_groups_after_migrate, sender=self, dispatch_uid="clinic.sync_role_groups")
