"""Dates and times as Django renders them where no display of ours does
(``FORMAT_MODULE_PATH``): ISO order, seconds, and the zone's offset (the
admin shows trading-day time, ``arbsite.timezone_middleware``). Our own
displays use ``arbsite.formatting.moment`` (``2026-12-01 12:41:02 Tehran``)."""

DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i:s T"
TIME_FORMAT = "H:i:s"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s T"
MONTH_DAY_FORMAT = "F j"
YEAR_MONTH_FORMAT = "F Y"
