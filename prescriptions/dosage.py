"""Default dosage of a prescribed stretch: what an item gets when the therapist leaves its hold out.

Pure (no models): the API fills an omitted hold with `default_hold_seconds`. A licensed physical therapist
reviews these values like any catalog row; the source is recorded beside them.
"""

from __future__ import annotations

import datetime as dt

OLDER_ADULT_AGE = 65
"""From this age on the patient's plan's start date, a static stretch's default hold is at least
`OLDER_ADULT_MIN_HOLD_SECONDS`."""
OLDER_ADULT_MIN_HOLD_SECONDS = 30
"""The lower end of the 30–60 s holds recommended for older adults."""
OLDER_ADULT_HOLD_SOURCE = (
    "ACSM's Guidelines for Exercise Testing and Prescription: adults 65 and over hold static stretches"
    " 30–60 s (Limber clinical review 2026, issue 12)"
)
"""Where `OLDER_ADULT_AGE` and `OLDER_ADULT_MIN_HOLD_SECONDS` come from. Licensed PT review required."""


def age_on(date_of_birth: dt.date, on_date: dt.date) -> int:
    """Completed years on ``on_date`` (a 29 February birthday counts from 1 March in common years)."""
    before_birthday = (on_date.month, on_date.day) < (date_of_birth.month, date_of_birth.day)
    return on_date.year - date_of_birth.year - before_birthday


def default_hold_seconds(*, kind: str, stretch_default: int | None, age: int) -> int | None:
    """The hold an item gets when none is given: the stretch's default, and for a static stretch of a patient
    aged `OLDER_ADULT_AGE` or more at least `OLDER_ADULT_MIN_HOLD_SECONDS`. ``kind`` is ``static`` or
    ``dynamic``; a dynamic stretch keeps its own (optional) short hold."""
    if kind == "static" and age >= OLDER_ADULT_AGE:
        return max(stretch_default or 0, OLDER_ADULT_MIN_HOLD_SECONDS)
    return stretch_default
