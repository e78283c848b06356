"""Reads shared by services, views and tasks. Import from the submodules (gate, portal, sessions, ...)."""

from prescriptions.selectors.gate import (
    gate_facts,
    item_facts,
    prescription_items_for_gate,
    prescriptions_with_items,
    stretch_fact,
    stretches_for_gate,
)

__all__ = [
    "gate_facts",
    "item_facts",
    "prescription_items_for_gate",
    "prescriptions_with_items",
    "stretch_fact",
    "stretches_for_gate",
]
