"""Celery tasks: schedule (thin: take ids, call a service, idempotent)."""
