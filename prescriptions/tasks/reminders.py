"""Celery tasks: reminders (thin: take ids, call a service, idempotent)."""
