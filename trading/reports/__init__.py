"""P&L reports: what was earned, where, and at what cost.

``periods`` turns request parameters into a trading-day range, ``selectors``
reads the figures as database aggregates, ``charts`` draws them as SVG,
``exports`` writes the same tables as CSV, and ``views`` only glue them.
"""
