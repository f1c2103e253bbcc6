"""Parse and validate FHIR R4 JSON with `fhir.resources.R4B`, turning every error into an issue with a path.

Failure modes, each a `FhirError` (status 400 unless said otherwise):
- body is not JSON, or not a JSON object → `structure`, no expression;
- body too large → 413 `too-costly`;
- `resourceType` missing or not a FHIR R4 type → `invalid` at `resourceType`;
- any element the R4B model rejects → one issue per error, expression in FHIRPath form
  (`Bundle.entry[1].resource.agent[0].who`), code `required` for a missing element, `structure` for an
  unknown one, else `value`. At most 50 issues are listed.
"""

from __future__ import annotations

import json
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

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
        return cls.model_validate(data)
    except ValidationError as exc:
        issues = [_issue(str(resource_type), error) for error in exc.errors()[:MAX_ISSUES]]
        raise FhirError(400, issues) from None
    except (ValueError, TypeError, KeyError) as exc:
        # Some fhir.resources validators raise plain errors; their type is all we pass on.
        raise FhirError.one(400, IssueType.VALUE, f"{resource_type}: {type(exc).__name__}") from None


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
