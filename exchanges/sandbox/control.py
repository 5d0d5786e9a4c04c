"""The control API under ``/_sandbox/``: JSON in, JSON out, never faulted or rate limited."""

from __future__ import annotations

import json
from decimal import Decimal

from .accounts import SandboxAccount
from .variants import VARIANTS
from .wire.common import Response
from .world import SandboxWorld


def handle_control(world: SandboxWorld, method: str, path: str, body: bytes) -> Response:
    try:
        payload = json.loads(body or b"{}", parse_float=Decimal)
    except ValueError:
        return Response(400, {"ok": False, "error": "body is not JSON"})
    if not isinstance(payload, dict):
        return Response(400, {"ok": False, "error": "body must be a JSON object"})
    action = path.rstrip("/").removeprefix("/_sandbox/")
    try:
        if (method, action) == ("GET", "state"):
            return Response(200, world.state())
        if (method, action) == ("GET", "variants"):
            return Response(200, {"variants": world.variants.as_dict(),
                                  "allowed": {k: list(v) for k, v in VARIANTS.items()}})
        if method != "POST":
            return Response(404, {"ok": False, "error": f"no {method} /_sandbox/{action}"})
        if action == "variants":
            if payload.get("reset"):
                world.variants.reset()
            settings = {k: v for k, v in payload.items() if k != "reset"}
            return Response(200, {"ok": True, "variants": world.variants.update(settings)})
        if action == "faults":
            if payload.get("clear"):
                world.faults.clear()
            world.faults.apply(payload.get("spec"), replace=bool(payload.get("replace")))
            world.served_books_changed()  # a crossed/swapped book is pushed at once
            return Response(200, {"ok": True, "faults": world.faults.as_dict()})
        if action == "book":
            world.set_book(payload["exchange"], payload["symbol"], payload.get("asks", []),
                           payload.get("bids", []), freeze=payload.get("freeze", True))
            return Response(200, {"ok": True})
        if action == "drift":
            if "paused" in payload:
                world.drift_paused = bool(payload["paused"])
            if payload.get("unfreeze"):
                world.unfreeze(payload["unfreeze"], payload.get("symbol"))
            if payload.get("step"):
                world.step(int(payload["step"]))
            if payload.get("spread"):
                s = payload["spread"]
                world.open_spread(s["exchange"], s["base"], s["quote"], Decimal(str(s["offset"])),
                                  int(s.get("ticks", 20)))
            return Response(200, {"ok": True, "drift_paused": world.drift_paused})
        if action == "accounts":
            world.add_account(SandboxAccount(
                exchange=payload["exchange"], api_key=payload["api_key"],
                public_key_hex=payload.get("public_key_hex"),
                balances=payload.get("balances"),
                permissions=tuple(payload.get("permissions") or ("read", "trade")),
            ))
            return Response(200, {"ok": True})
        if action == "reset":
            world.reset()
            return Response(200, {"ok": True})
    except (KeyError, ValueError, TypeError) as exc:
        return Response(400, {"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    return Response(404, {"ok": False, "error": f"no {method} /_sandbox/{action}"})
