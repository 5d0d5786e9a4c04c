"""The live conformance check of one exchange, and the trading gate it opens.

- ``runner.conformance_run``: probes every point the exchanges' docs leave
  open (docs/EXCHANGES.md, "What only a live check can settle"; the
  variants of ``exchanges.variants``), optionally with one test order that
  is always cancelled (``testorder``); the exchanges' own probes are in
  ``nobitex``, ``wallex``, ``invex``.
- ``report``: the table it prints (point, assumed, answered, verdict).
- ``store``: records a run on the Exchange row (and ``--apply``'s
  variants), and an operator's override of the gate.
- ``gate``: ``conformance_blocker(exchange)``, the one rule detection and
  execution call.

Nothing here knows what trades: the command ``manage.py exchange NAME
conformance`` is the face.
"""
