"""CDS Hooks 2.0: service catalog, JWT authentication, prefetch, detection on the hook, cards, feedback."""
