"""One sender per channel kind: e-mail (Django's mail settings), a signed
JSON webhook, Telegram and Bale (Telegram's Bot API at Bale's own host).

Why not apprise: it covers e-mail, Telegram and JSON webhooks, but its
e-mail uses its own SMTP settings rather than Django's, its JSON webhook
cannot sign the body (HMAC) and builds its own body, its Telegram plugin
has api.telegram.org built in (no Bale, no Bot API server of one's own),
and it answers a notification with True/False, where the outbox needs the
HTTP status, the error and a Retry-After to keep each attempt and back off.
What is left for Telegram and Bale is one HTTPS POST, written here.

A sender never raises: it returns a ``SendResult``. Secrets (the bot token
in the URL, the signing key) never reach an error message or a log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.mail import EmailMessage

from trading.alerts.models import AlertChannel, AlertDelivery, ChannelKind

logger = logging.getLogger(__name__)

TELEGRAM_API = "https://api.telegram.org"
BALE_API = "https://tapi.bale.ai"
TIMEOUT = (3.05, 10.0)
TEXT_LIMIT = 4096  # Telegram's (and Bale's) limit for one message
SIGNATURE_HEADER = "X-Arbsite-Signature"
DELIVERY_HEADER = "X-Arbsite-Delivery"
EVENT_HEADER = "X-Arbsite-Event"
USER_AGENT = "arbsite-alerts/1"


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status_code: int | None = None
    error: str = ""
    # The channel refused this message (HTTP 4xx other than 408/429): sending
    # it again unchanged will not help; after a few refusals it is given up.
    refused: bool = False
    retry_after: float | None = None


def webhook_body(delivery: AlertDelivery) -> bytes:
    """The webhook's body: the same bytes on every attempt of a delivery
    (so its signature and the receiver's de-duplication by id hold)."""
    message = delivery.message
    body: dict[str, Any] = {
        "delivery_id": delivery.pk,
        "message_id": message.pk,
        "event": message.kind,
        "severity": message.severity,
        "title": message.title,
        "text": message.text,
        "created_at": message.created_at.isoformat(),
        **message.payload,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode()


def webhook_signature(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the body>``, the value of X-Arbsite-Signature."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_signature_valid(secret: str, body: bytes, header: str) -> bool:
    """For receivers (and tests): constant-time check of a signature header."""
    return hmac.compare_digest(webhook_signature(secret, body), header or "")


def _redact(text: str, *secrets: str) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


def _http_result(response: requests.Response, ok: bool, error: str) -> SendResult:
    status = response.status_code
    retry_after = None
    if status == 429:
        try:
            retry_after = float(response.headers.get("Retry-After") or 0) or None
        except ValueError:
            retry_after = None
    refused = 400 <= status < 500 and status not in (408, 429)
    return SendResult(ok, status, error, refused=refused and not ok, retry_after=retry_after)


def _url_secrets(url: str) -> tuple[str, ...]:
    """A webhook URL's path and query may be its credential (many services
    put a token there): kept out of errors like the signing key."""
    parts = urlsplit(url)
    return tuple(p for p in (parts.path + (f"?{parts.query}" if parts.query else ""),
                             parts.query) if len(p) > 1)


def send_webhook(channel: AlertChannel, delivery: AlertDelivery) -> SendResult:
    body = webhook_body(delivery)
    hidden = (channel.secret, *_url_secrets(channel.target))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        DELIVERY_HEADER: str(delivery.pk),
        EVENT_HEADER: delivery.message.kind,
    }
    if channel.secret:
        headers[SIGNATURE_HEADER] = webhook_signature(channel.secret, body)
    try:
        response = requests.post(channel.target, data=body, headers=headers, timeout=TIMEOUT,
                                 allow_redirects=False)
    except requests.RequestException as exc:
        return SendResult(False, error=_redact(f"{type(exc).__name__}: {exc}", *hidden))
    ok = 200 <= response.status_code < 300
    error = "" if ok else f"HTTP {response.status_code}: {response.text[:300]}"
    return _http_result(response, ok, _redact(error, *hidden))


def send_bot_message(channel: AlertChannel, delivery: AlertDelivery) -> SendResult:
    """Telegram's ``sendMessage``; Bale answers the same call at its host."""
    default = BALE_API if channel.kind == ChannelKind.BALE else TELEGRAM_API
    base = (channel.api_base_url or default).rstrip("/")
    token = channel.secret
    if not token:
        return SendResult(False, error="no bot token configured", refused=True)
    url = f"{base}/bot{token}/sendMessage"
    text = delivery.message.text
    if len(text) > TEXT_LIMIT:
        text = text[:TEXT_LIMIT - 20] + "\n… (truncated)"
    try:
        response = requests.post(url, json={"chat_id": channel.target, "text": text,
                                            "disable_web_page_preview": True},
                                 timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        return SendResult(False, error=_redact(f"{type(exc).__name__}: {exc}", token))
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    ok = response.status_code == 200 and bool(answer.get("ok"))
    error = "" if ok else _redact(
        f"HTTP {response.status_code}: {answer.get('description') or response.text[:300]}",
        token)
    result = _http_result(response, ok, error)
    retry_after = (answer.get("parameters") or {}).get("retry_after")
    if retry_after and not ok:
        result = SendResult(False, result.status_code, error, result.refused,
                            float(retry_after))
    return result


def send_email(channel: AlertChannel, delivery: AlertDelivery) -> SendResult:
    addresses = [a.strip() for a in channel.target.split(",") if a.strip()]
    message = delivery.message
    email = EmailMessage(subject=f"arbsite: {message.title}", body=message.text,
                         from_email=settings.DEFAULT_FROM_EMAIL, to=addresses)
    try:
        email.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        return SendResult(False, error=f"recipients refused: {exc.recipients}", refused=True)
    except (smtplib.SMTPException, OSError) as exc:
        return SendResult(False, error=f"{type(exc).__name__}: {exc}")
    return SendResult(True)


SENDERS = {
    ChannelKind.EMAIL: send_email,
    ChannelKind.WEBHOOK: send_webhook,
    ChannelKind.TELEGRAM: send_bot_message,
    ChannelKind.BALE: send_bot_message,
}


def channel_send(channel: AlertChannel, delivery: AlertDelivery) -> SendResult:
    try:
        return SENDERS[ChannelKind(channel.kind)](channel, delivery)
    except Exception as exc:  # a bug must not stop the outbox: kept as a failed attempt
        logger.exception("alerts: sender of channel %s failed", channel.name)
        return SendResult(False, error=_redact(f"{type(exc).__name__}: {exc}", channel.secret))
