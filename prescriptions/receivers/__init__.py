"""Signal receivers, connected when the app is ready (``PrescriptionsConfig.ready``)."""

from prescriptions.receivers import conflicts, schedule

__all__ = ["conflicts", "schedule"]
