"""Channels behind one small interface (`base.Channel`): SMS, e-mail, signed webhook, FHIR Communication."""
