"""Where reminders leave Limber: one tiny interface, three backends (DESIGN §5).

A channel's ``send`` takes the reminder's idempotency key and either returns (the provider accepted the
message) or raises `TransientChannelError` (try again later, with the same key) or
`PermanentChannelError` (give up). Providers with idempotency drop a repeated key; email carries the key
as its Message-ID so a receiving system can do the same.

- `EmailChannel` sends through Django's email backend (``EMAIL_BACKEND``).
- `ConsoleSmsBackend` is the default ``SMS_BACKEND``: it logs the text with the phone number masked.
- `DatabaseTestChannel` records every attempt in ``ReminderDelivery``, one row per key (a repeat counts
  an attempt and delivers nothing new), so tests and the benchmark can count what was delivered.

`channel_for(name)` picks the backend for a reminder's channel; tests and benchmarks swap backends with
the `use_channels({...})` context manager, which applies to every thread of the process.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import Protocol

from django.conf import settings
from django.core.mail import BadHeaderError, EmailMessage
from django.db import connection
from django.utils import timezone
from django.utils.module_loading import import_string

from patients.models import Channel
from prescriptions.models import ReminderDelivery

logger = logging.getLogger(__name__)

MESSAGE_ID_DOMAIN = "limber"


class ChannelError(Exception):
    """A channel could not deliver a reminder."""


class TransientChannelError(ChannelError):
    """Worth another try later (a timeout, a 4xx from the provider); the retry carries the same key."""


class PermanentChannelError(ChannelError):
    """Retrying will not help (a refused address, an unknown channel)."""


class ReminderChannel(Protocol):
    def send(self, *, reminder_id: int, to: str, subject: str, body: str, idempotency_key: str) -> None:
        """Hand the message to the provider, or raise a `ChannelError`."""


def message_id(idempotency_key: str) -> str:
    """The RFC 5322 Message-ID an email reminder carries: the same key gives the same id on every retry."""
    return f"<{idempotency_key}@{MESSAGE_ID_DOMAIN}>"


class EmailChannel:
    """Django's email backend; SMTP failures are sorted into transient (4xx, network) and permanent (5xx)."""

    def send(self, *, reminder_id: int, to: str, subject: str, body: str, idempotency_key: str) -> None:
        message = EmailMessage(subject=subject, body=body, to=[to], headers={"Message-ID": message_id(idempotency_key)})
        try:
            message.send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentChannelError(f"The mail server refused the recipient: {exc}") from exc
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPSenderRefused) as exc:
            # Our own mail settings are wrong: every reminder would fail, and all can go once they are fixed.
            raise TransientChannelError(f"The mail server refused our login or sender: {exc}") from exc
        except smtplib.SMTPResponseException as exc:
            error = PermanentChannelError if 500 <= exc.smtp_code < 600 else TransientChannelError
            raise error(f"The mail server answered {exc.smtp_code}: {exc.smtp_error!r}") from exc
        except (smtplib.SMTPException, OSError) as exc:  # disconnects, timeouts, refused connections
            raise TransientChannelError(f"The mail server is unreachable: {exc}") from exc
        except (BadHeaderError, ValueError) as exc:
            raise PermanentChannelError(f"The message cannot be sent as email: {exc}") from exc


def mask_phone(phone: str) -> str:
    """Keep only the last two digits: enough to tell numbers apart in a log, not enough to dial."""
    digits = [char for char in phone if char.isdigit()]
    if len(digits) <= 2:
        return "*" * len(digits)
    return "*" * (len(digits) - 2) + "".join(digits[-2:])


class ConsoleSmsBackend:
    """The default SMS backend: writes the text to the log instead of a provider (development, demos)."""

    def send(self, *, reminder_id: int, to: str, subject: str, body: str, idempotency_key: str) -> None:
        logger.info("SMS to %s (reminder %s, key %s): %s", mask_phone(to), reminder_id, idempotency_key, body)


class DatabaseTestChannel:
    """Records each attempt in ``ReminderDelivery``, delivering a key once like a provider with idempotency.

    One ``INSERT … ON CONFLICT`` per attempt, so two dispatchers offering the same key at the same moment
    still leave one delivery whose ``attempts`` counts both.
    """

    def __init__(self, channel: str) -> None:
        self.channel = channel

    def send(self, *, reminder_id: int, to: str, subject: str, body: str, idempotency_key: str) -> None:
        table = connection.ops.quote_name(ReminderDelivery._meta.db_table)
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {table}
                    (idempotency_key, reminder_id, channel, recipient, body, attempts, first_delivered_at,
                     last_attempt_at)
                VALUES (%s, %s, %s, %s, %s, 1, %s, %s)
                ON CONFLICT (idempotency_key)
                DO UPDATE SET attempts = {table}.attempts + 1, last_attempt_at = EXCLUDED.last_attempt_at
                """,
                [idempotency_key, reminder_id, self.channel, to, body, now, now],
            )


def database_test_channels() -> dict[str, DatabaseTestChannel]:
    """A `DatabaseTestChannel` for every reminder channel, ready for `use_channels`."""
    return {Channel.EMAIL: DatabaseTestChannel(Channel.EMAIL), Channel.SMS: DatabaseTestChannel(Channel.SMS)}


_overrides: dict[str, ReminderChannel] = {}


@contextmanager
def use_channels(channels: Mapping[str, ReminderChannel]) -> Iterator[None]:
    """Send through ``channels`` (by channel name) inside the block, in every thread of this process."""
    previous = dict(_overrides)
    _overrides.update(channels)
    try:
        yield
    finally:
        _overrides.clear()
        _overrides.update(previous)


@cache
def _sms_backend(path: str) -> type:
    return import_string(path)


def channel_for(channel_name: str) -> ReminderChannel:
    """The backend for a reminder's channel: an override from `use_channels`, else email or ``SMS_BACKEND``."""
    if channel_name in _overrides:
        return _overrides[channel_name]
    if channel_name == Channel.EMAIL:
        return EmailChannel()
    if channel_name == Channel.SMS:
        return _sms_backend(settings.SMS_BACKEND)()
    raise PermanentChannelError(f"There is no channel called {channel_name!r}.")
