"""Adapters between the hospital's feeds (HL7 v2, FHIR) and the internal model."""
