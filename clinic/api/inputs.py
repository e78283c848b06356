"""Helpers for request bodies: nested field errors as flat names, ids that fit the database, plausible dates.

Problem details document ``errors`` as field name → list of messages. DRF nests the errors of nested
serializers and list fields (``{"items": [{}, {"reps": [...]}]}``, ``{"steps": {0: [...]}}``); these
helpers flatten them to ``{"items[1].reps": [...]}`` and ``{"steps[0]": [...]}`` so every 400 keeps the
documented shape.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from rest_framework import serializers
from rest_framework.settings import api_settings

from clinic.bounds import EARLIEST_DATE, LATEST_DATE

MAX_ID = 2**31 - 1  # PostgreSQL integer


def _flat(detail: Any, prefix: str) -> Iterator[tuple[str, list[str]]]:
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int) or (prefix and str(key).isdigit()):
                name = f"{prefix}[{key}]"
            elif key == api_settings.NON_FIELD_ERRORS_KEY and prefix:
                name = prefix
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            yield from _flat(value, name)
    elif isinstance(detail, list | tuple):
        if all(not isinstance(value, dict | list | tuple) for value in detail):
            if detail:
                yield prefix or api_settings.NON_FIELD_ERRORS_KEY, [str(value) for value in detail]
            return
        for index, value in enumerate(detail):
            if value:
                yield from _flat(value, f"{prefix}[{index}]")
    else:
        yield prefix or api_settings.NON_FIELD_ERRORS_KEY, [str(detail)]


def flat_errors(detail: Any) -> dict[str, list[str]]:
    """``{"items": [{}, {"reps": ["..."]}]}`` → ``{"items[1].reps": ["..."]}``."""
    errors: dict[str, list[str]] = {}
    for name, messages in _flat(detail, ""):
        errors.setdefault(name, []).extend(messages)
    return errors


def validated(serializer: serializers.Serializer) -> dict[str, Any]:
    """``serializer.validated_data``, or a 400 whose ``errors`` are flat field names."""
    if not serializer.is_valid():
        raise serializers.ValidationError(flat_errors(serializer.errors))
    return serializer.validated_data


def IdField(**kwargs: Any) -> serializers.IntegerField:  # noqa: N802 - a field factory reads like a field
    """An integer id; the bounds keep out-of-range numbers a 400 rather than a database error."""
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


def WeekdaysField(**kwargs: Any) -> serializers.ListField:  # noqa: N802 - a field factory reads like a field
    """A schedule's ISO weekdays (1 = Monday … 7 = Sunday): at least one, at most seven."""
    child = serializers.IntegerField(min_value=1, max_value=7)
    return serializers.ListField(child=child, min_length=1, max_length=7, **kwargs)


def TimesOfDayField(**kwargs: Any) -> serializers.ListField:  # noqa: N802 - a field factory reads like a field
    """A schedule's local times of day (no offset): at least one, at most twelve."""
    child = serializers.TimeField(validators=[naive_time])
    return serializers.ListField(child=child, min_length=1, max_length=12, **kwargs)


def plausible_date(value: dt.date) -> None:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise serializers.ValidationError(
            f"Give a date between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}."
        )


def naive_time(value: dt.time) -> None:
    if value.tzinfo is not None:
        raise serializers.ValidationError("Give a local time of day without an offset, e.g. 08:00.")
