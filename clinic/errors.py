"""Domain exceptions; the API maps them to HTTP in one exception handler."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class DomainError(Exception):
    """Base of Limber's domain errors."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class StateConflict(DomainError):
    """An illegal state transition or a write that conflicts with the current state (HTTP 409)."""


class SafetyBlocked(DomainError):
    """The safety gate refused; ``findings`` says why, item by item (HTTP 409)."""

    def __init__(self, findings: Sequence[dict[str, Any]], detail: str | None = None) -> None:
        self.findings = list(findings)
        if detail is None:
            # Each message is a sentence of its own; joined as clauses they drop their closing full stop.
            reasons = "; ".join(f["message"].rstrip().rstrip(".") for f in self.findings[:3])
            more = f" (and {len(self.findings) - 3} more)" if len(self.findings) > 3 else ""
            detail = f"The safety gate refused this plan: {reasons}{more}."
        super().__init__(detail)
