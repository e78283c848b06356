"""Benchmarks: `python -m bench.<name>`; each prints its figures (never asserts wall time)."""
