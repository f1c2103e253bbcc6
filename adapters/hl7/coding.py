"""Coding-system names and identifiers as HL7 v2 senders write them, mapped to the internal model.

Covers the names of HL7 table 0396 and the OIDs senders use instead (DG1-3.3, OBX-3.3, CE/CWE third
component), plus the BSN rules for PID-3 (identifier type NNNLD, the BSN OID, or the NLMINBIZA namespace).
"""

from __future__ import annotations

from detection.models import BSN_OID, CodingSystem

_SYSTEMS: dict[str, CodingSystem] = {
    "I10": CodingSystem.ICD10,
    "ICD10": CodingSystem.ICD10,
    "ICD-10": CodingSystem.ICD10,
    "I10P": CodingSystem.ICD10,
    "I10C": CodingSystem.ICD10,
    "ICD10NL": CodingSystem.ICD10,
    "ICD-10-NL": CodingSystem.ICD10,
    "ICD10CM": CodingSystem.ICD10,
    "2.16.840.1.113883.6.3": CodingSystem.ICD10,
    "2.16.840.1.113883.6.90": CodingSystem.ICD10,
    "SCT": CodingSystem.SNOMED,
    "SNM": CodingSystem.SNOMED,
    "SNM3": CodingSystem.SNOMED,
    "SNOMED": CodingSystem.SNOMED,
    "SNOMEDCT": CodingSystem.SNOMED,
    "SNOMED-CT": CodingSystem.SNOMED,
    "SNOMED CT": CodingSystem.SNOMED,
    "2.16.840.1.113883.6.96": CodingSystem.SNOMED,
    "HTTP://SNOMED.INFO/SCT": CodingSystem.SNOMED,
    "LN": CodingSystem.LOINC,
    "LOINC": CodingSystem.LOINC,
    "2.16.840.1.113883.6.1": CodingSystem.LOINC,
    "HTTP://LOINC.ORG": CodingSystem.LOINC,
    "L": CodingSystem.LOCAL,
    "LOCAL": CodingSystem.LOCAL,
}

BSN_TYPE_CODE = "NNNLD"
BSN_NAMESPACE = "NLMINBIZA"


def coding_system(name: str) -> CodingSystem:
    """ICD-10 / SNOMED / LOINC for their names and OIDs, LOCAL for `L` and `99zzz`, else OTHER."""
    key = name.strip().upper()
    if key.startswith("URN:OID:"):
        key = key[8:]
    system = _SYSTEMS.get(key)
    if system is not None:
        return system
    if key.startswith("99") and len(key) <= 5:
        return CodingSystem.LOCAL
    return CodingSystem.OTHER


def is_bsn_identifier(type_code: str, namespace: str, universal_id: str) -> bool:
    return (
        type_code.upper() == BSN_TYPE_CODE
        or universal_id.removeprefix("urn:oid:") == BSN_OID
        or namespace.upper() == BSN_NAMESPACE
        or namespace == BSN_OID
    )


def normalise_bsn(value: str) -> str | None:
    """The 9-digit BSN when `value` passes the elfproef (an 8-digit form gets its leading zero back)."""
    digits = value.strip()
    if len(digits) == 8:
        digits = "0" + digits
    if len(digits) != 9 or not digits.isdigit() or digits == "000000000":
        return None
    total = sum(int(d) * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True)) - int(digits[8])
    return digits if total % 11 == 0 else None
