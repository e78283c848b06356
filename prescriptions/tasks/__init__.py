"""Celery tasks of the prescriptions app; autodiscovery imports this package, which imports each area."""

from prescriptions.tasks import conflicts, measures, progression, reminders, schedule

__all__ = ["conflicts", "measures", "progression", "reminders", "schedule"]
