"""Keyset paging for the list endpoints: newest first by id, with a cursor.

`?limit=` (1–1000) rows per page; `?before=<id>` gives the rows older than that id. When more rows
exist, the answer carries `Link: <…?before=<last id>&…>; rel="next"` (RFC 8288): follow it until it is
absent. The order is stable (by id) and a row never moves between pages, so nothing is skipped or shown
twice while new rows arrive at the top.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request, Response
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from store.db import MAX_ID

Limit = Annotated[int, Query(ge=1, le=1000, description="rows per page")]
Before = Annotated[
    int | None,
    Query(ge=1, le=MAX_ID, description="only rows with a smaller id (the `Link: rel=next` cursor)"),
]
Row = TypeVar("Row")


def page(
    session: Session,
    query: Select[Any],
    id_column: InstrumentedAttribute[int],
    *,
    limit: int,
    before: int | None,
    request: Request,
    response: Response,
) -> Sequence[Row]:
    """One page of `query` (newest first); sets the `Link` header to the next page when there is one."""
    if before is not None:
        query = query.where(id_column < before)
    rows: Sequence[Row] = session.execute(query.order_by(id_column.desc()).limit(limit + 1)).scalars().all()
    if len(rows) > limit:
        rows = rows[:limit]
        last: Any = rows[-1]
        url = request.url.include_query_params(before=last.id, limit=limit)
        response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
    return rows
