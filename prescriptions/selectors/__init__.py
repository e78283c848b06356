"""Reads shared by services, views and tasks. Import from the submodules (plans, portal, conflicts, ...); the
gate's facts are loaded by ``prescriptions.gate.facts``."""
