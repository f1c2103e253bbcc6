"""FHIR R4: ingest, Subscriptions, FHIR to Presentation, resources out, CDS Hooks."""
