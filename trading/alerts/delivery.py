"""The outbox sweep: pending deliveries go out per channel, oldest first.

- **Exactly once.** A delivery is claimed by a conditional update before it
  is sent and marked sent right after, so two workers (or a worker and the
  beat watchdog) never both send it. A process killed between the send and
  the mark leaves the claim to expire (``CLAIM_SECONDS``) and the delivery
  is sent again: the one window where a receiver may see it twice, which
  is why the webhook carries ``X-Arbsite-Delivery`` to de-duplicate on.
- **A channel that is down loses nothing.** Its first failure stops its
  sweep and sets its back-off (``retry_at``, doubling from ``BACKOFF_BASE``
  to ``BACKOFF_MAX``, or the channel's Retry-After); its deliveries stay
  pending, in order, and go out once it answers. Only a message the
  channel refuses outright (HTTP 4xx) ``MAX_REFUSALS`` times is given up
  (``failed``, retried from the admin).
- **Every attempt is kept** (DeliveryAttempt) with its answer.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from arbsite.locks import DELIVER_ALERT_CHANNEL, redis_lock
from trading.alerts.channels import SendResult, channel_send
from trading.alerts.models import AlertChannel, AlertDelivery, DeliveryAttempt, DeliveryStatus

logger = logging.getLogger(__name__)

CLAIM_SECONDS = int(DELIVER_ALERT_CHANNEL.ttl_seconds)
SWEEP_SECONDS = 60.0  # one channel's sweep stops taking new deliveries after this
BATCH = 100
BACKOFF_BASE = 5.0
BACKOFF_MAX = 600.0
MAX_REFUSALS = 5


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    channels_waiting: list[str] = field(default_factory=list)


def backoff_seconds(failures: int) -> float:
    return min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(0, failures - 1))


def _process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _claim(delivery_id: int, now: datetime) -> bool:
    return bool(AlertDelivery.objects.filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
        pk=delivery_id, status=DeliveryStatus.PENDING,
    ).update(claimed_until=now + timedelta(seconds=CLAIM_SECONDS), attempts=F("attempts") + 1))


def _record(channel: AlertChannel, delivery: AlertDelivery, result: SendResult,
            started: datetime, elapsed_ms: int) -> None:
    now = timezone.now()
    with transaction.atomic():
        DeliveryAttempt.objects.create(delivery=delivery, started_at=started,
                                       elapsed_ms=elapsed_ms, ok=result.ok,
                                       status_code=result.status_code, error=result.error[:2000],
                                       process=_process())
        if result.ok:
            AlertDelivery.objects.filter(pk=delivery.pk).update(
                status=DeliveryStatus.SENT, sent_at=now, claimed_until=None, last_error="")
            AlertChannel.objects.filter(pk=channel.pk).update(
                failures=0, retry_at=None, last_success_at=now)
            return
        refusals = delivery.refusals + (1 if result.refused else 0)
        AlertDelivery.objects.filter(pk=delivery.pk).update(
            claimed_until=None, last_error=result.error[:2000], refusals=refusals,
            status=DeliveryStatus.FAILED if refusals >= MAX_REFUSALS else DeliveryStatus.PENDING)
        failures = channel.failures + 1
        wait = result.retry_after or backoff_seconds(failures)
        AlertChannel.objects.filter(pk=channel.pk).update(
            failures=failures, retry_at=now + timedelta(seconds=wait),
            last_error=result.error[:2000])
    logger.warning("alerts: channel %s failed delivery %s (%s); retry in %.0fs", channel.name,
                   delivery.pk, result.error[:200], wait)


def channel_deliver(*, channel_id: int, only_ids: list[int] | None = None,
                    ignore_backoff: bool = False, report: DeliveryReport | None = None
                    ) -> DeliveryReport:
    """Send this channel's due deliveries, oldest first, until one fails.
    One sweep per channel at a time across processes (a Redis lock)."""
    report = report or DeliveryReport()
    with redis_lock(DELIVER_ALERT_CHANNEL, scope=str(channel_id)) as acquired:
        if not acquired:
            return report
        channel = AlertChannel.objects.filter(pk=channel_id).first()
        if channel is None:
            return report
        now = timezone.now()
        if channel.retry_at and channel.retry_at > now and not ignore_backoff:
            report.channels_waiting.append(channel.name)
            return report
        due = AlertDelivery.objects.filter(channel=channel, status=DeliveryStatus.PENDING,
                                           not_before__lte=now)
        if only_ids is not None:
            due = due.filter(pk__in=only_ids)
        started_sweep = time.monotonic()
        for delivery in (due.select_related("message").order_by("created_at", "pk")[:BATCH]):
            if time.monotonic() - started_sweep > SWEEP_SECONDS:
                break
            if not _claim(delivery.pk, timezone.now()):
                continue
            started, t0 = timezone.now(), time.perf_counter()
            result = channel_send(channel, delivery)
            _record(channel, delivery, result, started, int((time.perf_counter() - t0) * 1000))
            if result.ok:
                report.sent += 1
                continue
            report.failed += 1
            report.channels_waiting.append(channel.name)
            break
    return report


def deliveries_send(*, channel_ids: list[int] | None = None) -> DeliveryReport:
    """Deliver what is due on every enabled channel (or these)."""
    report = DeliveryReport()
    channels = AlertChannel.objects.filter(enabled=True)
    if channel_ids is not None:
        channels = channels.filter(pk__in=channel_ids)
    for channel_id in channels.order_by("pk").values_list("pk", flat=True):
        try:
            channel_deliver(channel_id=channel_id, report=report)
        except Exception:
            logger.exception("alerts: delivery sweep of channel %s failed", channel_id)
    return report


def delivery_retry(*, delivery_ids: list[int]) -> int:
    """Put given-up (failed) deliveries back in the queue; their channels try
    at once. Returns how many."""
    with transaction.atomic():
        rows = AlertDelivery.objects.filter(pk__in=delivery_ids, status=DeliveryStatus.FAILED)
        channel_ids = list(rows.values_list("channel_id", flat=True).distinct())
        count = rows.update(status=DeliveryStatus.PENDING, refusals=0, claimed_until=None,
                            not_before=timezone.now())
        AlertChannel.objects.filter(pk__in=channel_ids).update(retry_at=None)
    return count
