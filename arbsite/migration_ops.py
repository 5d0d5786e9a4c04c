"""Migration operations that keep a live database writable.

``AddIndexConcurrently``: ``CREATE INDEX CONCURRENTLY`` on PostgreSQL (the
table keeps taking writes while a large index builds; the migration must be
``atomic = False``), a plain ``CREATE INDEX`` elsewhere (SQLite). Its state
change is ``AddIndex``'s, so ``makemigrations`` sees the index as made.
"""

from __future__ import annotations

from django.db import migrations


class AddIndexConcurrently(migrations.AddIndex):
    def _concurrently(self, schema_editor) -> dict[str, bool]:
        if schema_editor.connection.vendor != "postgresql":
            return {}
        if schema_editor.connection.in_atomic_block:
            raise RuntimeError("AddIndexConcurrently needs a migration with atomic = False")
        return {"concurrently": True}

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, **self._concurrently(schema_editor))

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, **self._concurrently(schema_editor))

    def describe(self) -> str:
        return f"Create index {self.index.name} (concurrently on PostgreSQL) on {self.model_name}"
