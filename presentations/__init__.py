"""Stored presentations: each processed message's normalised `Presentation`, encrypted, and who it is about.

Owns the `presentation` table (created by the store's first migration, which predates this package),
the pseudonymous patient and encounter references that link messages of one visit, and `/api/presentations`.
"""
