"""Log redaction: no credential reaches a log line.

The filter masks the values of the authentication headers the adapters send
(``Authorization``, ``X-API-Key``, ``X-API-Key-Invex``) wherever they appear
in a message, and any secret registered at run time (the tokens and keys an
adapter was built with), so even a repr of a request or a traceback is safe.
"""

from __future__ import annotations

import logging
import re
import threading

_HEADER_RE = re.compile(
    r"""(?P<name>['"]?(?:Authorization|X-API-Key-Invex|X-API-Key)['"]?\s*[:=]\s*['"]?)"""
    r"""(?P<value>(?:Token\s+|Bearer\s+)?[^'",}\s]+)""",
    re.IGNORECASE,
)
_MASK = "***"
_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask this exact value in every later log line (ignores short values)."""
    if value and len(value) >= 6:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    text = _HEADER_RE.sub(lambda m: m.group("name") + _MASK, text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, _MASK)
    return text


class RedactSecretsFilter(logging.Filter):
    """Rewrites the record's final message with secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: let the handler report it
            return True
        redacted = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        return True
