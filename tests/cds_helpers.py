"""CDS Hooks test material: an EHR's signing keys and JWKS, tokens, and a prefetch that fires signals."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ISSUER = "https://ehr.etz.test/cds-client"
PATIENT_ID = "pat-cds-1"
ENCOUNTER_ID = "enc-cds-1"


class SigningKey:
    """A CDS client's key pair; `jwks()` is what it publishes."""

    def __init__(self, kid: str, algorithm: str = "ES384") -> None:
        self.kid = kid
        self.algorithm = algorithm
        self.private: Any = (
            ec.generate_private_key(ec.SECP384R1())
            if algorithm == "ES384"
            else rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )

    def jwk(self) -> dict[str, Any]:
        algo = jwt.algorithms.ECAlgorithm if self.algorithm == "ES384" else jwt.algorithms.RSAAlgorithm
        data: dict[str, Any] = json.loads(algo.to_jwk(self.private.public_key()))
        return {**data, "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk()]}

    def write_jwks(self, path: Path) -> Path:
        path.write_text(json.dumps(self.jwks()))
        return path

    def token(
        self, aud: str | list[str], *, iss: str = ISSUER, jti: str | None = None, **overrides: Any
    ) -> str:
        now = int(time.time())
        claims = {"iss": iss, "sub": "ehr-client", "aud": aud, "iat": now, "exp": now + 300}
        claims["jti"] = jti or str(uuid.uuid4())
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.private, algorithm=self.algorithm, headers={"kid": self.kid})


def patient_resource() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": PATIENT_ID,
        "identifier": [{"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": "999911120"}],
        "name": [{"family": "Jansen", "given": ["Noor"]}],
        "birthDate": "2024-01-10",
        "gender": "female",
    }


def encounter_resource(reason: str = "blauwe plek achter het oor") -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": ENCOUNTER_ID,
        "identifier": [{"system": "https://etz.test/visit", "value": "V-CDS-1"}],
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "period": {"start": "2024-03-01T14:05:00+01:00"},
        "reasonCode": [{"text": reason}],
    }


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(resources)}
    if resources:
        bundle["entry"] = [{"resource": r} for r in resources]
    return bundle


def conditions(count: int = 1) -> list[dict[str, Any]]:
    first = {
        "resourceType": "Condition",
        "id": "cond-0",
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "code": {
            "coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "S00.43"}],
            "text": "kneuzing oor",
        },
    }
    rest = [
        {
            "resourceType": "Condition",
            "id": f"cond-{i}",
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
            "code": {
                "coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "J06.9"}],
                "text": "verkoudheid",
            },
        }
        for i in range(1, count)
    ]
    return [first, *rest][:count]


def observations(count: int) -> list[dict[str, Any]]:
    return [
        {
            "resourceType": "Observation",
            "id": f"obs-{i}",
            "status": "final",
            "code": {
                "coding": [{"system": "http://loinc.org", "code": "8310-5", "display": "Body temperature"}]
            },
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
            "valueQuantity": {"value": 36.5 + (i % 10) / 10, "unit": "Cel"},
        }
        for i in range(count)
    ]


def prefetch(
    *, n_conditions: int = 1, n_observations: int = 2, reason: str = "blauwe plek achter het oor"
) -> dict:
    return {
        "patient": patient_resource(),
        "encounter": encounter_resource(reason),
        "conditions": searchset(conditions(n_conditions)),
        "observations": searchset(observations(n_observations)),
    }


def hook_request(hook: str, data: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": "Practitioner/dr-1", "patientId": PATIENT_ID}
    if hook != "patient-view":
        context["encounterId"] = ENCOUNTER_ID
    body: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context, **extra}
    if data is not None:
        body["prefetch"] = data
    return body


def patient_view_prefetch(
    *, bsn: str, visit: str, family: str, given: str, birth_date: str, gender: str
) -> dict[str, Any]:
    """What the EHR sends with `patient-view` for one ED visit: the patient (BSN) and the encounter (visit
    number), with a reason that describes a bruise, and no conditions or observations."""
    patient = {
        "resourceType": "Patient",
        "id": PATIENT_ID,
        "identifier": [{"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": bsn}],
        "name": [{"family": family, "given": [given]}],
        "birthDate": birth_date,
        "gender": gender,
    }
    encounter = {
        "resourceType": "Encounter",
        "id": ENCOUNTER_ID,
        "identifier": [{"system": "https://ehr.etz.test/fhir/NamingSystem/visit", "value": visit}],
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "period": {"start": "2026-11-23T09:55:00+01:00"},
        "reasonCode": [{"text": "blauwe plek achter het oor en op de wang"}],
    }
    return {
        "patient": patient,
        "encounter": encounter,
        "conditions": searchset([]),
        "observations": searchset([]),
    }
