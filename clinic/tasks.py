"""Celery tasks of the clinic app (thin: call a service, idempotent)."""

from __future__ import annotations

import logging

from celery import shared_task

from clinic.services import auth_password_reset_send, auth_tokens_purge_expired

logger = logging.getLogger(__name__)


@shared_task(name="clinic.purge_expired_tokens", acks_late=True, ignore_result=True)
def purge_expired_tokens() -> None:
    """Nightly: API tokens past their expiry are refused at once; this removes their rows."""
    deleted = auth_tokens_purge_expired()
    if deleted:
        logger.info("purged %d expired API tokens", deleted)


@shared_task(name="clinic.send_password_reset", acks_late=True, ignore_result=True)
def send_password_reset(user_id: int) -> None:
    """Email user ``user_id`` a password reset link (enqueued by ``auth_password_reset_request``)."""
    auth_password_reset_send(user_id=user_id)
