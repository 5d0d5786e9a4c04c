"""What can go wrong on the sandbox's websockets, switchable at run time.

Spec vocabulary (``run_sandbox --stream-faults`` and ``POST /_sandbox/streams``),
comma separated ``EXCHANGE:NAME=VALUE`` items (``all`` = nobitex and wallex):

- ``down=1``        refuse new connections (HTTP 503 at the handshake), close open ones
- ``silence=1``     a hung server: nothing sent (no pushes, no pings) and nothing read
- ``ping=stop``     Nobitex: no more ``{}`` pings (pushes go on)
- ``pong=ignore``   the client's pongs are ignored: it is dropped when its pong is due
- ``malformed=P``   probability that a malformed frame goes out before a push
- ``duplicate=P``   probability that a push is sent twice
- ``reorder=P``     probability that a push is held back and sent after the next one
                    of the same channel (out of order)

Dropping every connection now is an action, not a setting: ``{"drop": "nobitex"}``.
Draws come from one seeded RNG per exchange.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

STREAM_EXCHANGES = ("nobitex", "wallex")
PROBABILITIES = ("malformed", "duplicate", "reorder")
NAMES = (*PROBABILITIES, "down", "silence", "ping", "pong")
_OFF = ("0", "false", "off", "no", "")


@dataclass
class StreamFaults:
    down: bool = False
    silence: bool = False
    no_ping: bool = False
    ignore_pongs: bool = False
    p: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {k: v for k, v in self.p.items() if v}
        if self.down:
            out["down"] = True
        if self.silence:
            out["silence"] = True
        if self.no_ping:
            out["ping"] = "stop"
        if self.ignore_pongs:
            out["pong"] = "ignore"
        return out


def parse_stream_spec(spec: str | None) -> dict[str, dict[str, str]]:
    """``"nobitex:silence=1,all:duplicate=0.2"`` → {exchange: {name: value}}."""
    out: dict[str, dict[str, str]] = {}
    for raw in (spec or "").split(","):
        item = raw.strip()
        if not item:
            continue
        target, _, setting = item.partition(":")
        name, eq, value = setting.partition("=")
        name = name.strip()
        if not eq or name not in NAMES:
            raise ValueError(f"bad stream fault {item!r}: expected EXCHANGE:NAME=VALUE, "
                             f"NAME in {NAMES}")
        targets = STREAM_EXCHANGES if target == "all" else (target,)
        for exchange in targets:
            if exchange not in STREAM_EXCHANGES:
                raise ValueError(f"bad stream fault {item!r}: no stream for {target!r} "
                                 f"(streams: {', '.join(STREAM_EXCHANGES)})")
            out.setdefault(exchange, {})[name] = value.strip()
    return out


class StreamFaultSet:
    def __init__(self, spec: str | None = None, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rngs = {ex: random.Random(f"{seed}-{ex}-stream-faults") for ex in STREAM_EXCHANGES}
        self._by_exchange = {ex: StreamFaults() for ex in STREAM_EXCHANGES}
        self.apply(spec, replace=True)

    def apply(self, spec: str | dict | None, *, replace: bool = False) -> None:
        parsed = spec if isinstance(spec, dict) else parse_stream_spec(spec)
        with self._lock:
            fresh = {ex: StreamFaults() for ex in STREAM_EXCHANGES} if replace else None
            target = fresh or self._by_exchange
            for exchange, settings in parsed.items():
                if exchange not in STREAM_EXCHANGES:
                    raise ValueError(f"no stream for {exchange!r}")
                for name, value in settings.items():
                    _set(target[exchange], name, str(value))
            if fresh is not None:
                self._by_exchange = fresh

    def clear(self) -> None:
        self.apply(None, replace=True)

    def get(self, exchange: str) -> StreamFaults:
        return self._by_exchange[exchange]

    def roll(self, exchange: str, name: str) -> bool:
        probability = self._by_exchange[exchange].p.get(name, 0.0)
        if probability <= 0:
            return False
        with self._lock:
            return self._rngs[exchange].random() < probability

    def choice(self, exchange: str, options: tuple):
        with self._lock:
            return self._rngs[exchange].choice(options)

    def as_dict(self) -> dict[str, dict[str, object]]:
        return {ex: f.as_dict() for ex, f in self._by_exchange.items()}


def _set(faults: StreamFaults, name: str, value: str) -> None:
    on = value.lower() not in _OFF
    if name == "down":
        faults.down = on
    elif name == "silence":
        faults.silence = on
    elif name == "ping":
        if value.lower() not in ("stop", "on", *_OFF):
            raise ValueError("ping must be stop or on")
        faults.no_ping = value.lower() == "stop"
    elif name == "pong":
        if value.lower() not in ("ignore", "answer", *_OFF):
            raise ValueError("pong must be ignore or answer")
        faults.ignore_pongs = value.lower() == "ignore"
    else:
        probability = float(value)
        if not 0 <= probability <= 1:
            raise ValueError(f"{name} must be a probability between 0 and 1")
        faults.p[name] = probability
