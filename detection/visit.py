"""One visit's messages read together: an A04, its A08 updates and ORU results are one presentation.

The gateway receives a visit in pieces: the triage note in the A04, the X-ray report in an ORU, the
story told later in an A08. A rule such as "a fracture with no trauma history" needs the pieces
together. `combine` makes one `Presentation` of them (pure; the worker passes the encounter's
earlier presentations, the evaluation the messages of one file); the CDS path already sees the
whole encounter in its prefetch.
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.models import Diagnosis, Note, Observation, Presentation, RelatedPerson

# A visit with hundreds of A08 updates is read up to its most recent messages (each adds its text).
MAX_VISIT_MESSAGES = 20


def combine(presentations: Sequence[Presentation]) -> Presentation:
    """The visit so far: the latest message's patient, encounter and event; every message's free text,
    codes, observations and related persons once, in the order they arrived."""
    if not presentations:
        raise ValueError("a visit has at least one presentation")
    parts = list(presentations)[-MAX_VISIT_MESSAGES:]
    latest = parts[-1]
    if len(parts) == 1:
        return latest
    texts: list[Note] = []
    seen_texts: set[str] = set()
    for p in parts:
        for note in p.texts():
            if note.text not in seen_texts:
                seen_texts.add(note.text)
                texts.append(note)
    diagnoses: list[Diagnosis] = []
    seen_dx: set[tuple[str, str]] = set()
    for p in parts:
        for dx in p.diagnoses:
            key = (dx.coding.system.value, dx.coding.code)
            if key not in seen_dx:
                seen_dx.add(key)
                diagnoses.append(dx)
    observations: list[Observation] = []
    seen_obs: set[tuple[str, str, str]] = set()
    for p in parts:
        for obs in p.observations:
            obs_key = (obs.coding.code, obs.value, obs.value_coding.code if obs.value_coding else "")
            if obs_key not in seen_obs:
                seen_obs.add(obs_key)
                observations.append(obs)
    related: list[RelatedPerson] = []
    seen_rel: set[tuple[str, str, tuple[str, ...]]] = set()
    for p in parts:
        for person in p.related_persons:
            person_key = (person.relationship, person.name.family, tuple(person.name.given))
            if person_key not in seen_rel:
                seen_rel.add(person_key)
                related.append(person)
    counts = [p.earlier_ed_visits for p in parts if p.earlier_ed_visits is not None]
    patient = latest.patient
    if patient.birth_date is None:  # an update without a birth date does not make the age unknown
        patient = next((p.patient for p in reversed(parts) if p.patient.birth_date), patient)
    encounter = latest.encounter
    if encounter.arrival_at is None:
        arrival = next((p.encounter.arrival_at for p in reversed(parts) if p.encounter.arrival_at), None)
        encounter = encounter.model_copy(update={"arrival_at": arrival})
    return latest.model_copy(
        update={
            "patient": patient,
            "encounter": encounter,
            "chief_complaint": "",
            "chief_complaint_source": "",
            "notes": texts,
            "diagnoses": diagnoses,
            "observations": observations,
            "related_persons": related,
            "earlier_ed_visits": max(counts) if counts else None,
        }
    )
