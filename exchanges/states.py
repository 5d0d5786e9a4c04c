"""The order states every adapter maps the exchange's statuses onto.

They are the states of the project's order state machine, which the app
that records orders keeps; they live here because adapters must speak them,
and ``exchanges`` knows nothing of that app.
"""

from django.db import models


class OrderState(models.TextChoices):
    PENDING_SUBMIT = "pending_submit", "pending submit"
    OPEN = "open", "open"
    PARTIALLY_FILLED = "partially_filled", "partially filled"
    FILLED = "filled", "filled"
    CANCELLED = "cancelled", "cancelled"
    REJECTED = "rejected", "rejected"
    EXPIRED = "expired", "expired"
    UNKNOWN = "unknown", "unknown"


TERMINAL_STATES = frozenset(
    {OrderState.FILLED, OrderState.CANCELLED, OrderState.REJECTED, OrderState.EXPIRED}
)
LIVE_STATES = frozenset(set(OrderState) - TERMINAL_STATES)
