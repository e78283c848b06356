"""Sane bounds on input (DESIGN §10: an input outside sane bounds is refused, never stored or let through).

Services enforce them, as field errors, because every write goes through a service (the API, the admin,
the demo loader); serializers declare the same limits so the schema shows them and a bad request fails early.
README's Security section lists them.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError

EARLIEST_DATE = dt.date(1900, 1, 1)  # any date a record names: birth, plan, episode, diagnosis, clearance
LATEST_DATE = dt.date(2999, 12, 31)
MAX_CLEARANCE_YEARS = 5  # a clearance letter is valid for at most this long
MAX_REASON_LENGTH = 2000  # free-text reasons: revoke, override, acknowledge, resolve, skip
MAX_JSON_DEPTH = 32  # nesting of arrays and objects in a request body
# The body size limit is Django's DATA_UPLOAD_MAX_MEMORY_SIZE (settings): larger bodies answer 413.


def date_message() -> str:
    return f"Give a date between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}."


def date_errors(**dates: dt.date | None) -> dict[str, str]:
    """Field name → message for each given date outside the plausible window (None is not checked)."""
    return {
        name: date_message()
        for name, value in dates.items()
        if value is not None and not EARLIEST_DATE <= value <= LATEST_DATE
    }


def check_dates(**dates: dt.date | None) -> None:
    errors = date_errors(**dates)
    if errors:
        raise ValidationError(errors)


def years_after(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def check_reason(name: str, value: str, *, max_length: int = MAX_REASON_LENGTH) -> None:
    if value and len(value) > max_length:
        raise ValidationError({name: f"Keep this to {max_length} characters or fewer (it has {len(value)})."})
