"""``/_sandbox/streams`` on the sandbox's HTTP port: the websockets' state and faults.

``GET`` → state (connections, subscriptions, counters, faults). ``POST`` with any of
``{"faults": "nobitex:silence=1", "replace": true}``, ``{"clear": true}``,
``{"drop": "nobitex"}`` (close every connection of that exchange now).
"""

from __future__ import annotations

import json

from ..wire.common import Response


def handle_stream_control(streams, method: str, body: bytes) -> Response:
    if streams is None:
        return Response(404, {"ok": False, "error": "this sandbox runs without streams"})
    if method == "GET":
        return Response(200, streams.state())
    if method != "POST":
        return Response(405, {"ok": False, "error": f"no {method} /_sandbox/streams"})
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return Response(400, {"ok": False, "error": "body is not JSON"})
    if not isinstance(payload, dict):
        return Response(400, {"ok": False, "error": "body must be a JSON object"})
    try:
        if payload.get("clear"):
            streams.clear_faults()
        if payload.get("faults") is not None:
            streams.set_faults(payload["faults"], replace=bool(payload.get("replace")))
        dropped = streams.drop(payload["drop"]) if payload.get("drop") else None
    except (ValueError, TypeError) as exc:
        return Response(400, {"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    out = {"ok": True, "faults": streams.faults.as_dict()}
    if dropped is not None:
        out["dropped"] = dropped
    return Response(200, out)
