"""Celery tasks: conflicts (thin: take ids, call a service, idempotent)."""
