"""The case a request is about, as one FastAPI dependency: `/api/cases/{case_id}/…` handlers take
`case: CurrentCase` instead of each looking the case up and mapping "not found" themselves."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from core.deps import CallerDep, WriteSession
from workflows.api_support import problem
from workflows.models import Case

# The largest id the stores hold (SQLite INTEGER, PostgreSQL BIGINT): a larger one names no case,
# and must be a 404 rather than an overflow inside the driver.
MAX_ID = 2**63 - 1


def current_case(case_id: int, session: WriteSession, _caller: CallerDep) -> Case:
    """The case of the path's `case_id`, or 404 naming it.

    Takes the caller so that authentication comes first: without it, a stranger could tell which case
    ids exist (404) from which do not.
    """
    case = session.get(Case, case_id) if 1 <= case_id <= MAX_ID else None
    if case is None:
        raise problem(404, "case_id", f"no case {case_id}")
    return case


CurrentCase = Annotated[Case, Depends(current_case)]
