"""Signal receivers, connected when the app is ready (``PrescriptionsConfig.ready``)."""

from prescriptions.receivers import conflicts, patients, schedule

__all__ = ["conflicts", "patients", "schedule"]
