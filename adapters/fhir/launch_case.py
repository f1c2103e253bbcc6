"""Which case a SMART launch is about: the launch context's patient and encounter, read from the EHR.

The token response names FHIR ids on the EHR's server, which mean nothing to us; the case is found the
way every channel finds it: the Patient and Encounter resources (read with the launch's access token)
mapped like any FHIR input, then the pseudonymous encounter reference (BSN or local id + visit number,
`presentations.service`). An EHR that passes the card's `appContext` (the case reference) back in the
token response gets that case, but only when it belongs to the launched patient.

Failure modes: the EHR's FHIR reads raise `identity.oidc.LoginFailed`; resources that do not map
(no usable identifiers) find no case (None), as does a patient without an open case.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import select

from adapters.fhir.to_presentation import FhirMappingError, resources_to_presentation
from core.runtime import Runtime
from identity.smart import LaunchContext, read_resource
from presentations import service as presentations
from workflows.cases import open_case_for_encounter, open_case_for_patient
from workflows.models import OPEN_STATES, Case


def case_for_launch(runtime: Runtime, context: LaunchContext, *, app_context: str = "") -> int | None:
    """The id of the open case of the launch's encounter, else of its patient; None when there is none."""
    if not context.patient_id:
        return None
    located = [(read_resource(context, "Patient", context.patient_id), "Patient")]
    if context.encounter_id:
        located.append((read_resource(context, "Encounter", context.encounter_id), "Encounter"))
    try:
        presentation = resources_to_presentation(
            located, zone=ZoneInfo(runtime.settings.timezone), message_type="smart-launch"
        )
    except FhirMappingError:
        return None
    if not presentation.patient.bsn and not presentation.patient.identifiers:
        return None  # an unlinkable patient: any case found would be a guess
    systems = presentations.IdentifierSystems.of(runtime.settings)
    patient_ref = presentations.patient_ref(runtime.pseudonyms, presentation, systems)
    with runtime.db.read() as db:
        if app_context:
            named = db.execute(
                select(Case).where(
                    Case.reference == app_context[:32],
                    Case.patient_ref == patient_ref,
                    Case.state.in_([s.value for s in OPEN_STATES]),
                )
            ).scalar_one_or_none()
            if named is not None:
                return named.id
        if context.encounter_id and presentations.visit_key(presentation, systems):
            encounter_ref = presentations.encounter_ref(runtime.pseudonyms, presentation, systems)
            case = open_case_for_encounter(db, encounter_ref)
            if case is not None:
                return case.id
        case = open_case_for_patient(db, patient_ref)
        return case.id if case is not None else None
