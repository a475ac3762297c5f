"""Alembic environment of the hil store. hil runs it through hil.store.engine.upgrade with an open
connection inside its own transaction (config.attributes["connection"]); the migrations then run
in that transaction, so an interrupted upgrade leaves the previous schema."""

from alembic import context

from hil.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "the hil store's migrations run through hil.store (open_store or hil.store.engine.upgrade), "
        "not the alembic command line"
    )
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
