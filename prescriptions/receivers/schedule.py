"""Receivers: schedule (zone changes re-time future sessions)."""
