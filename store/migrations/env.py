"""Alembic environment: runs migrations against the URL the gateway passes in, online only."""

from __future__ import annotations

from alembic import context

from store.db import Base, make_engine
from store.migrate import import_all_models

import_all_models()
config = context.config
url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
if not url:
    raise RuntimeError("no database URL given to the migrations")

engine = make_engine(url)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
