"""FHIR R4 resources the gateway emits: Flag, DetectedIssue, Task, Consent, Communication, AuditEvent,
Provenance.

Builders are pure functions from plain values to FHIR JSON. Every builder ends in `finish`, which drops
empty elements (None, "", [], {}) and validates the result with `fhir.resources.R4B`, so nothing invalid
or half-empty leaves the gateway. Chart-visible text (Flag.code) is neutral: whoever stands at the
screen may be the person the signal is about.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from adapters.fhir.validate import validate_resource
from detection.models import Finding, Severity

SYSTEM_BASE = "https://spoedplein.etz.nl/fhir"
CASE_SYSTEM = f"{SYSTEM_BASE}/NamingSystem/case-reference"
RULE_SYSTEM = f"{SYSTEM_BASE}/CodeSystem/signal-rule"
FLAG_SYSTEM = f"{SYSTEM_BASE}/CodeSystem/flag"
TASK_SYSTEM = f"{SYSTEM_BASE}/CodeSystem/task"
PARTY_SYSTEM = f"{SYSTEM_BASE}/CodeSystem/party"
PSEUDONYM_SYSTEM = f"{SYSTEM_BASE}/NamingSystem/patient-pseudonym"
GATEWAY_DEVICE = {"display": "Spoedplein gateway"}


class TaskCode(StrEnum):
    JOINT_INTAKE = "joint-intake"
    SAFE_DISCHARGE_CHECK = "safe-discharge-check"
    REVIEW_SIGNALS = "review-signals"


class TaskStatus(StrEnum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


_TASK_DISPLAY = {
    TaskCode.JOINT_INTAKE: "Gezamenlijk intakegesprek (one-stop-shop)",
    TaskCode.SAFE_DISCHARGE_CHECK: "Veilig-naar-huischeck",
    TaskCode.REVIEW_SIGNALS: "Spoedplein-signalen beoordelen",
}
_ISSUE_SEVERITY = {Severity.CRITICAL: "high", Severity.WARNING: "moderate", Severity.INFO: "low"}
_AUDIT_ACTION = {
    "read": "R",
    "create": "C",
    "update": "U",
    "delete": "D",
    "export": "E",
    "disclose": "E",
    "break_glass": "R",
}


def prune(value: Any) -> Any:
    """A copy without None, empty strings, empty lists and empty objects, at any depth."""
    if isinstance(value, dict):
        out = {k: prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        items = [prune(v) for v in value]
        return [v for v in items if v not in (None, "", [], {})]
    return value


def finish(resource: dict[str, Any]) -> dict[str, Any]:
    """Prune and validate with R4B; a builder bug raises here instead of reaching the EHR."""
    cleaned: dict[str, Any] = prune(resource)
    validate_resource(cleaned)
    return cleaned


def instant(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("a FHIR instant needs a zone")
    return at.isoformat(timespec="seconds")


def case_identifier(case_reference: str) -> dict[str, str]:
    return {"system": CASE_SYSTEM, "value": case_reference}


def meta(version: int | str | None, updated: datetime | None) -> dict[str, Any]:
    return {
        "versionId": str(version) if version is not None else None,
        "lastUpdated": updated and instant(updated),
    }


def flag(
    *,
    id: str,
    subject: dict[str, Any],
    case_reference: str,
    active: bool,
    start: datetime,
    end: datetime | None = None,
    version: int | None = None,
    updated: datetime | None = None,
) -> dict[str, Any]:
    """The chart alert: a neutral code that tells the team to look at Spoedplein, and nothing else."""
    return finish(
        {
            "resourceType": "Flag",
            "id": id,
            "meta": meta(version, updated),
            "identifier": [case_identifier(case_reference)],
            "status": "active" if active else "inactive",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/flag-category",
                            "code": "clinical",
                            "display": "Clinical",
                        }
                    ]
                }
            ],
            "code": {
                "coding": [{"system": FLAG_SYSTEM, "code": "spoedplein", "display": "Spoedplein: zie casus"}],
                "text": "Spoedplein: zie casus",
            },
            "subject": subject,
            "period": {"start": instant(start), "end": end and instant(end)},
            "author": GATEWAY_DEVICE,
        }
    )


def detected_issue(
    *,
    id: str,
    patient: dict[str, Any],
    case_reference: str,
    finding: Finding,
    identified: datetime,
    language: str = "nl",
) -> dict[str, Any]:
    """What one rule found, with its evidence (field and matched words) and its source."""
    explanation = finding.explanation_nl if language == "nl" else finding.explanation_en
    next_step = finding.next_step_nl if language == "nl" else finding.next_step_en
    evidence = [
        {
            "code": [
                {
                    "text": "; ".join(
                        part
                        for part in (
                            ev.field,
                            ev.text,
                            ", ".join(ev.codes),
                            ev.body_site and f"body site {ev.body_site}",
                        )
                        if part
                    )
                }
            ]
        }
        for ev in finding.evidence
    ]
    return finish(
        {
            "resourceType": "DetectedIssue",
            "id": id,
            "identifier": [case_identifier(case_reference)],
            "status": "preliminary",
            "code": {
                "coding": [{"system": RULE_SYSTEM, "code": finding.rule_id, "display": finding.family}],
                "text": finding.rule_id,
            },
            "severity": _ISSUE_SEVERITY[finding.severity],
            "patient": patient,
            "identifiedDateTime": instant(identified),
            "author": GATEWAY_DEVICE,
            "evidence": evidence,
            "detail": f"{explanation} Bron: {finding.source}",
            "mitigation": [{"action": {"text": next_step}}] if next_step else [],
        }
    )


def task(
    *,
    id: str,
    code: TaskCode,
    status: TaskStatus,
    patient: dict[str, Any],
    case_reference: str,
    authored: datetime,
    modified: datetime | None = None,
    owner: dict[str, Any] | None = None,
    note: str = "",
) -> dict[str, Any]:
    """A workflow step the team must do (joint intake, safe-discharge check, reviewing the signals)."""
    return finish(
        {
            "resourceType": "Task",
            "id": id,
            "identifier": [case_identifier(case_reference)],
            "status": status.value,
            "intent": "order",
            "priority": "urgent",
            "code": {"coding": [{"system": TASK_SYSTEM, "code": code.value, "display": _TASK_DISPLAY[code]}]},
            "for": patient,
            "authoredOn": instant(authored),
            "lastModified": modified and instant(modified),
            "requester": GATEWAY_DEVICE,
            "owner": owner,
            "note": [{"text": note}] if note else [],
        }
    )


def consent(
    *,
    id: str,
    patient: dict[str, Any],
    case_reference: str,
    party: str,
    permit: bool | None,
    decided: datetime,
    legal_basis: str = "",
) -> dict[str, Any]:
    """Consent (or refusal) to share with one party; a legal basis without consent is a policy rule."""
    status = "active" if permit is not None else "proposed"
    provision = (
        {
            "type": "permit" if permit else "deny",
            "actor": [
                {
                    "role": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                "code": "IRCP",
                                "display": "information recipient",
                            }
                        ]
                    },
                    "reference": {
                        "identifier": {"system": PARTY_SYSTEM, "value": party},
                        "display": party,
                    },
                }
            ],
        }
        if permit is not None
        else None
    )
    return finish(
        {
            "resourceType": "Consent",
            "id": id,
            "identifier": [case_identifier(case_reference)],
            "status": status,
            "scope": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                        "code": "patient-privacy",
                        "display": "Privacy Consent",
                    }
                ]
            },
            "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
            "patient": patient,
            "dateTime": instant(decided),
            "policyRule": {
                "coding": [{"system": f"{SYSTEM_BASE}/CodeSystem/legal-basis", "code": legal_basis}]
                if legal_basis
                else [],
                "text": legal_basis or "consent",
            },
            "provision": provision,
        }
    )


def communication(
    *,
    id: str,
    case_reference: str,
    status: str,
    party: str,
    sent: datetime | None,
    text: str,
    subject: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A page or message sent for a case; `text` carries no patient data (reference, urgency, link)."""
    return finish(
        {
            "resourceType": "Communication",
            "id": id,
            "identifier": [case_identifier(case_reference)],
            "status": status,
            "category": [{"coding": [{"system": PARTY_SYSTEM, "code": party}], "text": party}],
            "priority": "urgent",
            "subject": subject,
            "sent": sent and instant(sent),
            "recipient": [{"identifier": {"system": PARTY_SYSTEM, "value": party}, "display": party}],
            "sender": GATEWAY_DEVICE,
            "payload": [{"contentString": text}],
        }
    )


_AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
_RESTFUL = "http://hl7.org/fhir/restful-interaction"
_DCM = "http://dicom.nema.org/resources/ontology/DCM"
# BALP: a RESTful access is type `rest` with the interaction as subtype; the rest are DICOM's events.
_AUDIT_TYPE: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "read": ({"system": _AUDIT_EVENT_TYPE, "code": "rest"}, {"system": _RESTFUL, "code": "read"}),
    "create": ({"system": _AUDIT_EVENT_TYPE, "code": "rest"}, {"system": _RESTFUL, "code": "create"}),
    "update": ({"system": _AUDIT_EVENT_TYPE, "code": "rest"}, {"system": _RESTFUL, "code": "update"}),
    "delete": ({"system": _AUDIT_EVENT_TYPE, "code": "rest"}, {"system": _RESTFUL, "code": "delete"}),
    "export": (
        {"system": _DCM, "code": "110106", "display": "Export"},
        {"system": _RESTFUL, "code": "search-type"},
    ),
    "disclose": (
        {"system": _DCM, "code": "110106", "display": "Export"},
        {"system": _RESTFUL, "code": "read"},
    ),
    "break_glass": ({"system": _AUDIT_EVENT_TYPE, "code": "rest"}, {"system": _RESTFUL, "code": "read"}),
    "login": (
        {"system": _DCM, "code": "110114", "display": "User Authentication"},
        {"system": _DCM, "code": "110122", "display": "Login"},
    ),
    "login_failed": (
        {"system": _DCM, "code": "110114", "display": "User Authentication"},
        {"system": _DCM, "code": "110122", "display": "Login"},
    ),
    "logout": (
        {"system": _DCM, "code": "110114", "display": "User Authentication"},
        {"system": _DCM, "code": "110123", "display": "Logout"},
    ),
}
# AuditEvent.outcome: 0 success, 4 minor failure (refused: the policy said no), 8 serious failure.
_AUDIT_OUTCOME = {"success": "0", "denied": "4", "failed": "8"}
_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"


def audit_event(
    *,
    id: str,
    action: str,
    recorded: datetime,
    actor: str,
    client: str,
    resource_type: str,
    resource_id: str,
    patient_ref: str,
    purpose: str = "",
    actor_name: str = "",
    actor_role: str = "",
    actor_org: str = "",
    outcome: str = "success",
    source: str = "",
    reason: str = "",
    case_id: str = "",
) -> dict[str, Any]:
    """One NEN 7513 log entry, shaped as IHE BALP's AuditEvent: the user (who, role, organisation) and
    the client address as agents, the gateway as observer, the patient (by pseudonym, never by BSN)
    and the data touched as entities, why as purposeOfEvent (break-the-glass as `BTG` with its reason)."""
    event_type, subtype = _AUDIT_TYPE.get(action, _AUDIT_TYPE["read"])
    purposes = []
    # Only break-the-glass is BTG: a refused request's `reason` says why it was refused, not why it was made.
    glass = action == "break_glass" or purpose == "break-the-glass"
    if glass:
        purposes.append(
            {
                "coding": [{"system": _ACT_REASON, "code": "BTG", "display": "break the glass"}],
                "text": reason or None,
            }
        )
    if purpose and not glass:
        purposes.append({"text": purpose})
    user = {
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                    "code": "humanuser"
                    if not actor.startswith(("api-token", "system:"))
                    else "datacollector",
                }
            ]
        },
        "who": {
            "identifier": {
                "system": f"{SYSTEM_BASE}/NamingSystem/user",
                "value": actor,
                "assigner": {"display": actor_org} if actor_org else None,
            },
            "display": actor_name or actor,
        },
        "role": [{"text": actor_role}] if actor_role else None,
        "requestor": True,
        "network": {"address": client, "type": "2"} if client else None,
    }
    return finish(
        {
            "resourceType": "AuditEvent",
            "id": id,
            "type": event_type,
            "subtype": [subtype],
            "action": _AUDIT_ACTION.get(action, "E"),
            "recorded": instant(recorded),
            "outcome": _AUDIT_OUTCOME.get(outcome, "8"),
            "purposeOfEvent": purposes,
            "agent": [
                user,
                {
                    "type": {
                        "coding": [{"system": _DCM, "code": "110152", "display": "Destination Role ID"}]
                    },
                    "who": GATEWAY_DEVICE,
                    "requestor": False,
                },
            ],
            "source": {
                "site": "ETZ Spoedplein",
                "observer": GATEWAY_DEVICE,
                "type": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                        "code": "4",
                        "display": "Application Server",
                    }
                ],
            },
            "entity": [
                {
                    "what": {"identifier": {"system": PSEUDONYM_SYSTEM, "value": patient_ref}},
                    "type": {
                        "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                        "code": "1",
                        "display": "Person",
                    },
                    "role": {
                        "system": "http://terminology.hl7.org/CodeSystem/object-role",
                        "code": "1",
                        "display": "Patient",
                    },
                }
                if patient_ref
                else None,
                {
                    "what": {
                        "identifier": {"system": f"{SYSTEM_BASE}/{resource_type}", "value": resource_id}
                    },
                    "type": {
                        "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                        "code": "2",
                        "display": "System Object",
                    },
                    "description": f"via {source}" if source else None,
                },
                {
                    "what": {
                        "identifier": {
                            "system": CASE_SYSTEM.replace("case-reference", "case-id"),
                            "value": case_id,
                        }
                    }
                }
                if case_id
                else None,
            ],
        }
    )


def provenance(
    *, id: str, targets: list[str], recorded: datetime, activity: str = "CREATE"
) -> dict[str, Any]:
    """Who made the emitted resources: the gateway, from the EHR's own data."""
    return finish(
        {
            "resourceType": "Provenance",
            "id": id,
            "target": [{"reference": t} for t in targets],
            "recorded": instant(recorded),
            "activity": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation", "code": activity}
                ]
            },
            "agent": [
                {
                    "type": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                "code": "assembler",
                            }
                        ]
                    },
                    "who": GATEWAY_DEVICE,
                }
            ],
        }
    )
