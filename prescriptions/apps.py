from django.apps import AppConfig


class PrescriptionsConfig(AppConfig):
    name = "prescriptions"

    def ready(self) -> None:
        from prescriptions import receivers  # noqa: F401 — connects the receivers
