"""Celery tasks of the prescriptions app; autodiscovery imports this package, which imports each area."""

from prescriptions.tasks import conflicts, progression, reminders, schedule

__all__ = ["conflicts", "progression", "reminders", "schedule"]
