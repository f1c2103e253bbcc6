"""Maltreatment-signal detection: pure functions from a Presentation to Findings (no I/O)."""
