"""A constraint of the database's own that one order's update violates: a
trigger, so the error is the real database's (an ``IntegrityError`` from
SQLite's ``RAISE(ABORT)`` or PostgreSQL's ``check_violation``), raised where
the code writes, as a broken row or a violated constraint would be."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

NAME = "test_refuse_status_change"


@contextmanager
def status_change_refused(*, order_id: int | None = None,
                          exchange_id: int | None = None) -> Iterator[None]:
    """While inside, the database refuses any change of ``status`` of that order
    (or of every order on that exchange)."""
    column, value = ("id", order_id) if order_id is not None else ("exchange_id", exchange_id)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                f"CREATE TRIGGER {NAME} BEFORE UPDATE OF status ON trading_order "
                f"WHEN NEW.{column} = {int(value)} AND NEW.status <> OLD.status BEGIN "
                "SELECT RAISE(ABORT, 'CHECK constraint failed: test_status_frozen'); END")
        else:
            cursor.execute(
                f"CREATE FUNCTION {NAME}() RETURNS trigger AS $$ BEGIN "
                "IF NEW.status <> OLD.status THEN RAISE EXCEPTION 'new row violates check "
                "constraint test_status_frozen' USING ERRCODE = 'check_violation'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql")
            cursor.execute(
                f"CREATE TRIGGER {NAME} BEFORE UPDATE ON trading_order FOR EACH ROW "
                f"WHEN (NEW.{column} = {int(value)}) EXECUTE FUNCTION {NAME}()")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute(f"DROP TRIGGER IF EXISTS {NAME}")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {NAME} ON trading_order")
                cursor.execute(f"DROP FUNCTION IF EXISTS {NAME}()")
