"""Deleting (or emptying) rows together with every row that refers to them, found from the foreign keys.

Retention deletes a closed case with its timeline, findings, pages, cards and consents, which live in
tables of packages above the one that decides (adapters, notifications): walking the foreign keys of the
shared metadata finds them all without importing those packages, and a table added later that refers to
a case is handled without being listed anywhere. A nullable reference may be cleared instead of followed
(`clear`), as for a presentation whose raw message is pruned but which a case still needs.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement, MetaData, Table, delete, select, update
from sqlalchemy.orm import Session

from store.encrypted import Encrypted

_MAX_DEPTH = 8  # the deepest chain today is 4 (case → page → page_step → page_attempt → delivery_report)

Visit = Callable[[Table, ColumnElement[bool]], None]


def _walk(
    metadata: MetaData,
    table: Table,
    where: ColumnElement[bool],
    visit: Visit,
    clear: Callable[[Table, str, ColumnElement[bool]], None] | None,
    clear_names: frozenset[str],
    depth: int = 0,
) -> None:
    """Call `visit` for every table referring (at any depth) to the rows of `table` matching `where`,
    children before their parents, then for `table` itself."""
    if depth > _MAX_DEPTH:
        raise RuntimeError(f"foreign keys nest deeper than {_MAX_DEPTH} below {table.name}: a cycle?")
    for child in metadata.sorted_tables:
        for fk in child.foreign_keys:
            if fk.column.table is not table:
                continue
            refers = fk.parent.in_(select(fk.column).where(where))
            name = f"{child.name}.{fk.parent.name}"
            if clear is not None and name in clear_names:
                if not fk.parent.nullable:
                    raise ValueError(f"{name} is not nullable: it cannot be cleared")
                clear(child, fk.parent.name, refers)
            else:
                _walk(metadata, child, refers, visit, clear, clear_names, depth + 1)
    visit(table, where)


def delete_with_dependents(
    session: Session,
    metadata: MetaData,
    table: Table,
    where: ColumnElement[bool],
    *,
    clear: frozenset[str] = frozenset(),
) -> int:
    """Delete the rows of `table` matching `where` and, first, every row that refers to one of them
    (depth first). A referring column named in `clear` ("table.column", nullable) is set to NULL
    instead. Returns the number of rows of `table` deleted."""
    deleted = {"rows": 0}

    def remove(target: Table, condition: ColumnElement[bool]) -> None:
        result = session.execute(delete(target).where(condition))
        if target is table:
            deleted["rows"] = int(result.rowcount)  # type: ignore[attr-defined]

    def set_null(target: Table, column: str, condition: ColumnElement[bool]) -> None:
        session.execute(update(target).where(condition).values({column: None}))

    _walk(metadata, table, where, remove, set_null, clear)
    return deleted["rows"]


def clear_free_text(session: Session, metadata: MetaData, table: Table, where: ColumnElement[bool]) -> None:
    """Set every nullable encrypted column to NULL in the rows that refer (at any depth) to the rows of
    `table` matching `where`: the free text a timeline or a card's feedback holds, gone while the rows
    (codes, times) stay."""

    def empty(target: Table, condition: ColumnElement[bool]) -> None:
        if target is table:
            return
        columns = [c.name for c in target.columns if isinstance(c.type, Encrypted) and c.nullable]
        if columns:
            session.execute(update(target).where(condition).values(dict.fromkeys(columns)))

    _walk(metadata, table, where, empty, None, frozenset())
