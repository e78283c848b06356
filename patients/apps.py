from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "patients"

    def ready(self) -> None:
        from celery.signals import task_postrun, task_prerun

        from patients import audit

        # Changes made by tasks are attributed to "system:<task name>" (DESIGN §7).
        task_prerun.connect(audit.task_context_enter, dispatch_uid="patients.audit.task_context_enter")
        task_postrun.connect(audit.task_context_exit, dispatch_uid="patients.audit.task_context_exit")
