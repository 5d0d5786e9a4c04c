"""Capital on the exchanges: budgets per exchange, transfers recorded by
operators, and the running ledger checks.

Imported by ``trading.models`` so Django sees them in the ``trading`` app.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from arbsite.fields import MoneyField
from exchanges.models import Exchange


def _in(field: str, choices: type[models.TextChoices]) -> Q:
    return Q(**{f"{field}__in": [value for value, _ in choices.choices]})


class CapitalBudget(models.Model):
    """How much capital may sit on one exchange (rial at the latest prices).
    Blank: no limit. Trades that would exceed it are refused."""

    exchange = models.OneToOneField(Exchange, on_delete=models.CASCADE,
                                    related_name="capital_budget")
    max_value_irr = MoneyField(
        null=True, blank=True,
        help_text="Maximum value held on the exchange, all assets at the latest prices (rial).")
    max_open_orders_irr = MoneyField(
        null=True, blank=True,
        help_text="Maximum value in open orders there, the new order included (rial).")
    notes = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["exchange__name"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(max_value_irr__isnull=True) | Q(max_value_irr__gte=0))
                & (Q(max_open_orders_irr__isnull=True) | Q(max_open_orders_irr__gte=0)),
                name="capital_budget_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"budget of {self.exchange}"


class TransferKind(models.TextChoices):
    DEPOSIT = "deposit", "deposit (into an exchange)"
    WITHDRAWAL = "withdrawal", "withdrawal (out of an exchange)"
    MOVE = "move", "move between exchanges"


class TransferState(models.TextChoices):
    PENDING = "pending", "pending (planned; not yet on the ledger)"
    SENT = "sent", "sent (left the source exchange)"
    COMPLETED = "completed", "completed (arrived)"
    CANCELLED = "cancelled", "cancelled"


class Transfer(models.Model):
    """Funds moved into, out of, or between exchanges, recorded by an
    operator so the ledger stays explainable (arbsite never moves funds).

    On the ledger: the source exchange loses ``amount + fee`` from when the
    transfer is recorded as sent; the destination gains ``amount`` from
    when it is recorded as completed. A deposit is completed at once when
    it arrives; a withdrawal is done once sent.
    """

    Kind = TransferKind
    State = TransferState

    kind = models.CharField(max_length=16, choices=TransferKind.choices)
    from_exchange = models.ForeignKey(Exchange, null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="transfers_out")
    to_exchange = models.ForeignKey(Exchange, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="transfers_in")
    asset = models.CharField(max_length=16, help_text="Upper case: BTC, USDT, IRR (rial).")
    amount = MoneyField(help_text="What arrives at the destination.")
    fee = MoneyField(default=Decimal("0"), help_text="Withdrawal fee charged at the source, "
                                                     "in the same asset.")
    state = models.CharField(max_length=16, choices=TransferState.choices,
                             default=TransferState.PENDING)
    txid = models.CharField(max_length=200, blank=True, help_text="Transaction id or bank "
                                                                  "reference.")
    notes = models.TextField(blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True,
                                   help_text="Recorded as sent (the source's ledger moves).")
    completed_at = models.DateTimeField(
        null=True, blank=True, help_text="Recorded as completed (the destination's ledger moves).")
    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("can_record_transfers", "Can record transfers and move them forward")]
        indexes = [
            models.Index(fields=["from_exchange", "sent_at"], name="transfer_out_sent"),
            models.Index(fields=["to_exchange", "completed_at"], name="transfer_in_completed"),
        ]
        constraints = [
            models.CheckConstraint(condition=_in("kind", TransferKind), name="transfer_kind_valid"),
            models.CheckConstraint(condition=_in("state", TransferState),
                                   name="transfer_state_valid"),
            models.CheckConstraint(condition=Q(amount__gt=0, fee__gte=0),
                                   name="transfer_amounts_positive"),
            models.CheckConstraint(
                condition=(Q(kind="deposit", from_exchange__isnull=True,
                             to_exchange__isnull=False)
                           | Q(kind="withdrawal", from_exchange__isnull=False,
                               to_exchange__isnull=True)
                           | (Q(kind="move", from_exchange__isnull=False,
                                to_exchange__isnull=False)
                              & ~Q(from_exchange=F("to_exchange")))),
                name="transfer_ends_match_kind",
            ),
            models.CheckConstraint(condition=Q(asset__regex=r"^[A-Z0-9]+$"),
                                   name="transfer_asset_upper_case"),
        ]

    def __str__(self) -> str:
        ends = f"{self.from_exchange or 'outside'} → {self.to_exchange or 'outside'}"
        return f"{self.get_kind_display()} {self.amount} {self.asset} {ends} ({self.state})"


class LedgerStatus(models.TextChoices):
    BASELINE = "baseline", "first balance (baseline)"
    OK = "ok", "matches"
    MISMATCH = "mismatch", "mismatch"
    UNSETTLED = "unsettled", "not judged (orders in flight)"
    ACCEPTED = "accepted", "accepted by an operator"


# Checks whose balance is the "last reconciled balance" of the next check.
RECONCILED = ("baseline", "ok", "accepted")


class LedgerCheck(models.Model):
    """One comparison, for one exchange and asset, of the balance the
    exchange reports with the one our records explain:

    expected = last reconciled balance + fills recorded since (fees in
    their own assets) + transfers recorded since.
    """

    Status = LedgerStatus

    exchange = models.ForeignKey(Exchange, on_delete=models.PROTECT, related_name="+")
    asset = models.CharField(max_length=16)
    checked_at = models.DateTimeField(db_index=True)
    cut_at = models.DateTimeField(
        help_text="Records up to this instant are counted; the balance was read after it.")
    status = models.CharField(max_length=16, choices=LedgerStatus.choices)
    baseline = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+", help_text="The last reconciled check.")
    baseline_balance = MoneyField(null=True, blank=True)
    fills_delta = MoneyField(default=Decimal("0"), help_text="Signed: fills and their fees.")
    transfers_delta = MoneyField(default=Decimal("0"), help_text="Signed.")
    expected = MoneyField(null=True, blank=True)
    actual = MoneyField(help_text="The exchange's total (available + locked).")
    reconciled_balance = MoneyField(
        null=True, blank=True,
        help_text="What the next check starts from: the balance itself for a baseline or an "
                  "accepted check, the expected balance for a match (so differences within the "
                  "tolerance add up until they show).")
    difference = MoneyField(null=True, blank=True, help_text="actual − expected")
    tolerance = MoneyField(default=Decimal("0"))
    fills_counted = models.PositiveIntegerField(default=0)
    transfers_counted = models.PositiveIntegerField(default=0)
    note = models.TextField(blank=True)
    accepted_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-checked_at", "-id"]
        indexes = [
            models.Index(fields=["exchange", "asset", "status", "cut_at"],
                         name="ledgercheck_reconciled"),
        ]
        constraints = [
            models.CheckConstraint(condition=_in("status", LedgerStatus),
                                   name="ledgercheck_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.exchange_id} {self.asset} {self.checked_at:%Y-%m-%d %H:%M:%S}: {self.status}"
