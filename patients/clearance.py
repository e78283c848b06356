"""Which clearance is in force on a date: the one rule, pure (no Django), shared by the gate and the records.

A clearance to exercise is in force on D when its validity covers D (``valid_from <= D <= valid_until``,
both inclusive) and it was not revoked on or before D (revocation dates are the patient's local dates);
among several, the one recorded last (greatest ``(recorded_at, id)``) is in force, alone: a later
clearance supersedes an earlier one, it never merges with it.

``effective_clearance`` is the rule. Its one SQL twin is ``patients.models.ClearanceQuerySet.in_force``
(used by the clearance list of the API and the patient list's badge in the admin); a property test
(tests/test_clearance_in_force.py) proves the two agree on generated clearance histories. The gate
(``prescriptions.gate.rules``) and the badge read the rule from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

EXPIRING_WITHIN_DAYS = 7
"""A clearance in force that ends within this many days of D (D + 7 included) is expiring: the badge's
``expiring`` state and the ``clearance_expiring`` flag read this one constant."""


def frozen_strings(value: Iterable[str], field: str) -> frozenset[str]:
    """``value`` as a frozenset, refusing a bare string (which would silently become a set of characters)."""
    if isinstance(value, str):
        raise TypeError(f"{field} must be a collection of strings, not a string: {value!r}")
    return frozenset(value)


@dataclass(frozen=True)
class ClearanceFact:
    """A clearance to exercise, as recorded by a professional; ``valid_until`` is inclusive.

    ``restricted_tags`` are enforced whatever ``status`` says (a "cleared" row with tags left on
    it still restricts them: the safe reading).
    """

    id: int
    professional_name: str
    profession: str
    status: str
    restricted_tags: frozenset[str]
    valid_from: date
    valid_until: date
    recorded_at: datetime
    revoked_on: date | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "restricted_tags", frozen_strings(self.restricted_tags, "restricted_tags"))

    def covers(self, on_date: date) -> bool:
        """Whether ``on_date`` lies in the validity period (revocation aside)."""
        return self.valid_from <= on_date <= self.valid_until

    def revoked_by(self, on_date: date) -> bool:
        """Whether the clearance was revoked on or before ``on_date``."""
        return self.revoked_on is not None and self.revoked_on <= on_date


def recorded_order(clearance: ClearanceFact) -> tuple[datetime, int]:
    return (clearance.recorded_at, clearance.id)


def latest(clearances: Iterable[ClearanceFact]) -> ClearanceFact | None:
    return max(clearances, key=recorded_order, default=None)


def effective_clearance(clearances: Iterable[ClearanceFact], on_date: date) -> ClearanceFact | None:
    """The clearance in force on ``on_date``, or None.

    Among the clearances whose validity covers the date and that were not revoked on or before
    it, the one recorded last (greatest ``recorded_at``, ties broken by the greater id).
    """
    return latest(c for c in clearances if c.covers(on_date) and not c.revoked_by(on_date))
