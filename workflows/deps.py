"""The case a request is about, as one FastAPI dependency: `/api/cases/{case_id}/…` handlers take
`case: CurrentCase` instead of each looking the case up and mapping "not found" themselves."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from core.deps import WriteSession
from identity.deps import CurrentPrincipalDep
from store.db import get_by_id
from workflows.api_support import problem
from workflows.models import Case


def current_case(case_id: int, session: WriteSession, _caller: CurrentPrincipalDep) -> Case:
    """The case of the path's `case_id`, or 404 naming it.

    Takes the caller so that authentication comes first: without it, a stranger could tell which case
    ids exist (404) from which do not.
    """
    case = get_by_id(session, Case, case_id)
    if case is None:
        raise problem(404, "case_id", f"no case {case_id}")
    return case


CurrentCase = Annotated[Case, Depends(current_case)]
