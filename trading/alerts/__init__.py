"""Alerts as data: an outbox of Alert rows written with their cause, and
their delivery to e-mail, a signed webhook, Telegram and Bale.

``kinds`` (the vocabulary), ``models``, ``services`` (raise, resolve,
acknowledge: what causes call), ``channels`` (one sender per channel kind),
``delivery`` (the outbox sweep with retry and back-off), ``checks`` (the
periodic conditions), ``summary`` (the daily summary), ``watchdog`` (who
notices a dead worker or beat), ``envchannels`` (channels from the
environment), ``admin``.
"""
