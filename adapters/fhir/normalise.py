"""Normalise incoming FHIR JSON before validation: what senders commonly get slightly wrong, made right.

- A dateTime/instant with a time but no zone (`2024-03-01T14:05`) is read as local time in the
  configured zone and given its offset (and seconds when they were left out); FHIR requires both.
- A BSN identifier sent with the HL7 OID (`urn:oid:2.16.840.1.113883.2.4.6.3`) gets the Nictiz system
  `http://fhir.nl/fhir/NamingSystem/bsn`, so one BSN is stored one way.

Pure functions on parsed JSON; the input is not modified.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from detection.models import BSN_OID, BSN_SYSTEM

_LOCAL_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?$")
_BSN_ALIASES = frozenset({f"urn:oid:{BSN_OID}", BSN_OID})
# Free text may legitimately look like a timestamp; it is never rewritten.
_FREE_TEXT_KEYS = frozenset({"div", "text", "valueString", "valueMarkdown", "comment", "description"})


def normalise(value: Any, zone: ZoneInfo) -> Any:
    """A copy of parsed FHIR JSON with zone-less date-times and OID BSN systems normalised."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(item, str) and key not in _FREE_TEXT_KEYS:
                out[key] = _with_zone(item, zone)
            else:
                out[key] = normalise(item, zone)
        if isinstance(out.get("system"), str) and out["system"] in _BSN_ALIASES and "value" in out:
            out["system"] = BSN_SYSTEM
        return out
    if isinstance(value, list):
        return [normalise(item, zone) for item in value]
    return value


def _with_zone(text: str, zone: ZoneInfo) -> str:
    match = _LOCAL_DATETIME.match(text)
    if match is None:
        return text
    day, hour, minute, second, fraction = match.groups()
    try:
        local = datetime.fromisoformat(f"{day}T{hour}:{minute}:{second or '00'}").replace(tzinfo=zone)
    except ValueError:
        return text  # not a real date: validation names it
    offset = local.strftime("%z")
    return f"{day}T{hour}:{minute}:{second or '00'}{fraction or ''}{offset[:3]}:{offset[3:]}"
