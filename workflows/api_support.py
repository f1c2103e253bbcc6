"""What every workflow endpoint shares: turning domain errors into answers that name the field, the
limits from the settings, and the optimistic-concurrency field of request bodies."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm.exc import StaleDataError

from consent.errors import ConsentError
from core.runtime import Runtime
from workflows.errors import WorkflowError
from workflows.limits import Limits


class VersionedBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expected_version: int = Field(
        ge=1, description="the case version the change was made on (409 if the case changed since)"
    )


def problem(status_code: int, field: str, message: str) -> HTTPException:
    """The same shape as FastAPI's own validation errors: a list of {loc, msg, type}."""
    loc = ["body", field] if field else ["body"]
    return HTTPException(status_code, detail=[{"loc": loc, "msg": message, "type": "workflow"}])


@contextmanager
def domain_errors() -> Iterator[None]:
    """Run a change; a refused one becomes 404/409/422 naming the field, and the transaction rolls back."""
    try:
        yield
    except WorkflowError as exc:
        raise problem(exc.status_code, exc.field, exc.message) from exc
    except ConsentError as exc:
        raise problem(422, exc.field, exc.message) from exc
    except StaleDataError as exc:
        raise problem(409, "expected_version", "the case was changed by someone else; reload") from exc


def limits(runtime: Runtime) -> Limits:
    return Limits.from_settings(runtime.settings)
