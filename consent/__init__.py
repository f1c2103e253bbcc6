"""Consent and legal basis per party, Dutch age rules, disclosure decisions."""
