"""A paginator for admin lists over large tables: never a full ``COUNT(*)``.

Django's changelist counts the filtered rows for its paginator (and, unless
``show_full_result_count = False``, the whole table too). On a table of
millions of orders each count reads every row (PostgreSQL has no cheap
``COUNT(*)``: MVCC), several seconds a page under load. Here instead:

* a **capped count**: at most ``ADMIN_COUNT_CAP`` + 1 rows are counted
  (``SELECT COUNT(*) FROM (SELECT … LIMIT cap+1)``), exact below the cap;
* above the cap, an **unfiltered** list on PostgreSQL takes the planner's
  estimate of the table's rows (``pg_class.reltuples``, kept by autovacuum
  and ``ANALYZE``), so every page stays reachable; a filtered list, or
  SQLite (no estimate), says "more than" the cap and pages up to it.

``count_is_estimate`` and ``count_is_capped`` tell the page's template
(``templates/admin/pagination.html``) to say "about" or "more than".
The usual practice for the Django admin on large tables (cookiecutter-django
discussions, "django admin large table" recipes).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.paginator import Paginator
from django.db import DatabaseError, connections
from django.utils.functional import cached_property

logger = logging.getLogger(__name__)

DEFAULT_CAP = 10_000


def count_cap() -> int:
    return int(getattr(settings, "ADMIN_COUNT_CAP", DEFAULT_CAP))


def table_estimate(model, using: str) -> int | None:
    """PostgreSQL's estimate of a table's rows; None elsewhere or when the
    table was never analysed (``reltuples`` is -1 then)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                           [connection.ops.quote_name(model._meta.db_table)])
            row = cursor.fetchone()
    except DatabaseError as exc:  # never fail the page for an estimate
        logger.warning("admin: no row estimate for %s: %s", model._meta.db_table, exc)
        return None
    return int(row[0]) if row and row[0] is not None and row[0] >= 0 else None


class LargeTablePaginator(Paginator):
    """``ModelAdmin.paginator``: a count that never reads the whole table."""

    count_is_estimate = False
    count_is_capped = False

    def __init__(self, *args, show_all_max: int = 200, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Above both, so a capped list is never offered whole ("Show all")
        # nor taken for a single page.
        self.cap = max(count_cap(), show_all_max + 1, self.per_page + 1)

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not hasattr(queryset, "query"):  # a list: nothing to save
            return len(queryset)
        cap = self.cap
        counted = queryset.order_by()[:cap + 1].count()
        if counted <= cap:
            return counted
        if not queryset.query.where:
            estimate = table_estimate(queryset.model, queryset.db)
            if estimate is not None and estimate > cap:
                self.count_is_estimate = True
                return estimate
        self.count_is_capped = True
        return cap
