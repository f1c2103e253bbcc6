"""Parse and validate FHIR R4 JSON with `fhir.resources.R4B`, turning every error into an issue with a path.

Failure modes, each a `FhirError` (status 400 unless said otherwise):
- body is not JSON, or not a JSON object → `structure`, no expression;
- body too large → 413 `too-costly`;
- `resourceType` missing or not a FHIR R4 type → `invalid` at `resourceType`;
- any element the R4B model rejects → one issue per error, expression in FHIRPath form
  (`Bundle.entry[1].resource.agent[0].who`), code `required` for a missing element, `structure` for an
  unknown one, else `value`. At most 50 issues are listed;
- a `code` element outside its required value set (Patient.gender `x`, Observation.status `done`) →
  `value` at its path. The R4B models type these as plain strings; the allowed codes are in each field's
  schema (`enum_values`), checked here after the model accepted the resource. The models list some value
  sets only in part (marked `+`); the ones an ED feed uses are completed below from the R4 specification,
  the rest are not checked.
"""

from __future__ import annotations

import json
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from pydantic import BaseModel, ValidationError

from adapters.fhir.outcome import FhirError, Issue, IssueType

MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_ISSUES = 50


def parse_json(body: bytes) -> dict[str, Any]:
    if len(body) > MAX_BODY_BYTES:
        raise FhirError.one(413, IssueType.TOO_COSTLY, f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        parsed = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise FhirError.one(400, IssueType.STRUCTURE, f"body is not UTF-8 JSON{where}") from None
    if not isinstance(parsed, dict):
        raise FhirError.one(400, IssueType.STRUCTURE, "body must be a JSON object (a FHIR resource)")
    return parsed


def model_class(resource_type: object) -> type[Resource]:
    if not isinstance(resource_type, str) or not resource_type:
        raise FhirError.one(400, IssueType.REQUIRED, "resourceType is missing", "resourceType")
    try:
        cls = get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError, ImportError):
        cls = None
    if cls is None or not issubclass(cls, Resource):
        raise FhirError.one(
            400, IssueType.INVALID, "resourceType is not a FHIR R4 resource type", "resourceType"
        )
    return cls


def validate_resource(data: dict[str, Any]) -> Resource:
    """The R4B model of `data`, or a `FhirError` naming every invalid element."""
    resource_type = data.get("resourceType")
    cls = model_class(resource_type)
    check_nested_types(data, str(resource_type))
    try:
        resource = cls.model_validate(data)
    except ValidationError as exc:
        issues = [_issue(str(resource_type), error) for error in exc.errors()[:MAX_ISSUES]]
        raise FhirError(400, issues) from None
    except (ValueError, TypeError, KeyError) as exc:
        # Some fhir.resources validators raise plain errors; their type is all we pass on.
        raise FhirError.one(400, IssueType.VALUE, f"{resource_type}: {type(exc).__name__}") from None
    issues = []
    _value_set_issues(resource, str(resource_type), issues)
    if issues:
        raise FhirError(400, issues)
    return resource


_OBSERVATION_STATUS = "registered preliminary final amended corrected cancelled entered-in-error unknown"
_ENCOUNTER_STATUS = "planned arrived triaged in-progress onleave finished cancelled entered-in-error unknown"
# Required value sets the R4B models list only in part, completed from the R4 (4.0.1) specification.
_COMPLETED_VALUE_SETS: dict[tuple[str, str], str] = {
    ("Observation", "status"): _OBSERVATION_STATUS,
    ("DetectedIssue", "status"): _OBSERVATION_STATUS,
    ("RiskAssessment", "status"): _OBSERVATION_STATUS,
    ("Encounter", "status"): _ENCOUNTER_STATUS,
    ("EncounterStatusHistory", "status"): _ENCOUNTER_STATUS,
    ("DiagnosticReport", "status"): "registered partial preliminary final amended corrected appended "
    "cancelled entered-in-error unknown",
    (
        "Task",
        "status",
    ): "draft requested received accepted rejected ready cancelled in-progress on-hold failed "
    "completed entered-in-error",
}

# Per model class: (JSON name, allowed codes) of each code element bound to a complete required value set.
_CODE_FIELDS: dict[type[BaseModel], list[tuple[str, str, frozenset[str]]]] = {}


def _code_fields(cls: type[BaseModel]) -> list[tuple[str, str, frozenset[str]]]:
    fields = _CODE_FIELDS.get(cls)
    if fields is None:
        fields = []
        for name, info in cls.model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            listed = extra.get("enum_values")
            codes = [str(code) for code in listed] if isinstance(listed, list) else []
            if "+" in codes:
                codes = _COMPLETED_VALUE_SETS.get((cls.__name__, name), "").split()
            if codes:
                fields.append((name, info.alias or name, frozenset(codes)))
        _CODE_FIELDS[cls] = fields
    return fields


def _value_set_issues(model: BaseModel, path: str, issues: list[Issue]) -> None:
    """Every code outside its required value set in `model` and the elements below it (at most
    MAX_ISSUES), as `value` issues naming the element path; the value itself is not quoted."""
    for name, json_name, allowed in _code_fields(type(model)):
        value = getattr(model, name, None)
        values = value if isinstance(value, list) else [value]
        for index, code in enumerate(values):
            if isinstance(code, str) and code not in allowed and len(issues) < MAX_ISSUES:
                where = f"{path}.{json_name}" + (f"[{index}]" if isinstance(value, list) else "")
                shown = ", ".join(sorted(allowed)) if len(allowed) <= 12 else f"{len(allowed)} codes"
                issues.append(
                    Issue(IssueType.VALUE, f"{where}: not in the required value set ({shown})", (where,))
                )
    for name, info in type(model).model_fields.items():
        value = getattr(model, name, None)
        if isinstance(value, BaseModel):
            _value_set_issues(value, f"{path}.{info.alias or name}", issues)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    _value_set_issues(item, f"{path}.{info.alias or name}[{index}]", issues)


_KNOWN_TYPES: set[str] = set()


def _known(resource_type: object) -> bool:
    if isinstance(resource_type, str) and resource_type in _KNOWN_TYPES:
        return True
    try:
        model_class(resource_type)
    except FhirError:
        return False
    _KNOWN_TYPES.add(str(resource_type))
    return True


def _bad_type_keys(value: Any) -> list[int | str] | None:
    """The keys (innermost first) leading to the first nested unknown `resourceType`, if any.

    The path is only built on the way back from a find: walking a large valid Bundle stays cheap.
    """
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        if isinstance(item, dict):
            if "resourceType" in item and not _known(item["resourceType"]):
                return ["resourceType", key]
            found = _bad_type_keys(item)
        elif isinstance(item, list):
            found = _bad_type_keys(item)
        else:
            continue
        if found is not None:
            found.append(key)
            return found
    return None


def check_nested_types(value: Any, path: str) -> None:
    """Every nested `resourceType` (contained, Bundle entries, Parameters) must be a known resource type,
    checked first so the error names its path (the model would fail with a bare KeyError)."""
    keys = _bad_type_keys(value)
    if keys is not None:
        where = fhirpath(path, tuple(reversed(keys)))
        raise FhirError.one(400, IssueType.INVALID, "not a FHIR R4 resource type", where)


def fhirpath(root: str, loc: tuple[int | str, ...]) -> str:
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part and not part.startswith("__"):
            path += f".{part}"
    return path


def _issue(root: str, error: Any) -> Issue:
    loc = tuple(error.get("loc", ()))
    kind = str(error.get("type", ""))
    if kind == "missing":
        code = IssueType.REQUIRED
    elif kind == "extra_forbidden":
        code = IssueType.STRUCTURE
    else:
        code = IssueType.VALUE
    path = fhirpath(root, loc)
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        message = "unknown element"
    return Issue(code, f"{path}: {message}"[:500], (path,))
