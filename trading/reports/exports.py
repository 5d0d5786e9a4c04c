"""CSV export of a report table: the same cells as the page, without the
thousands separators."""

from __future__ import annotations

import csv

from django.http import HttpResponse

from trading.reports.periods import Period
from trading.reports.tables import Table


def csv_response(table: Table, period: Period) -> HttpResponse:
    filename = f"arbsite-{table.key}-{period.first.isoformat()}-{period.last.isoformat()}.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    csv.writer(response).writerows(table.csv_rows())
    return response
