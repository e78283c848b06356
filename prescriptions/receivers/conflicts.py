"""Receivers: conflicts (patient facts changed → re-check upcoming sessions)."""
