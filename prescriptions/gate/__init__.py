"""The safety gate, one layer (docs/architecture.md):

- ``rules`` — the pure evaluator: may these stretches be done by this patient on this date, and why not.
- ``pain`` — the pure pain and red-flag rules of a session log.
- ``facts`` — the one loader that turns rows into the facts both read, in batches.

The clearance-in-force rule they share is ``patients.clearance`` (pure; its one SQL twin is
``patients.models.ClearanceQuerySet.in_force``). ``rules`` and ``pain`` import no Django (an import-linter
contract in ``make lint``).
"""
