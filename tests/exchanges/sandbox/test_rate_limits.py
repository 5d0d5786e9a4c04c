"""Rate limits per API key and endpoint, answered in each exchange's 429 format."""

import pytest

from .conftest import InvexClient, NobitexClient, WallexClient, make_server


@pytest.fixture
def limited(invex_keys):
    with make_server(invex_keys[1], rate_limits=True) as server:
        yield server


def test_nobitex_wallets_limit_20_per_2_minutes(limited):
    """user-data.md "لیست کیف پول ها": 20 requests per 2 minutes; _general_notes.md
    "محدودیت فراخوانی": 429 TooManyRequests with backOff (seconds) and limit."""
    client = NobitexClient(limited.base_url("nobitex"))
    for _ in range(20):
        assert client.get("/users/wallets/list").status_code == 200
    resp = client.get("/users/wallets/list")
    assert resp.status_code == 429
    body = resp.json()
    assert body["status"] == "failed" and body["code"] == "TooManyRequests"
    assert body["limit"] == 20 and 1 <= body["backOff"] <= 120
    assert "Retry-After" not in resp.headers
    # another endpoint is counted apart
    assert client.get("/v3/orderbook/BTCIRT").status_code == 200
    assert limited.state()["exchanges"]["nobitex"]["counters"]["rate_limited"] == 1


def test_nobitex_blocks_a_token_that_keeps_ignoring_the_limit(limited):
    """_general_notes.md: ignoring the limit repeatedly blocks the token for 2 minutes on
    every API (here: 20 refusals within a minute)."""
    client = NobitexClient(limited.base_url("nobitex"))
    for _ in range(20):
        client.get("/users/wallets/list")
    for _ in range(20):
        assert client.get("/users/wallets/list").status_code == 429
    blocked = client.get("/v3/orderbook/BTCIRT")  # another endpoint, same token
    assert blocked.status_code == 429 and blocked.json()["backOff"] > 100
    assert NobitexClient(limited.base_url("nobitex"), token="other").get(
        "/v3/orderbook/BTCIRT").status_code == 200


def test_wallex_and_invex_429_formats(limited, invex_keys):
    """Wallex: 429 in the envelope (error table), no back-off documented; Invex: limits
    "strict", no numbers, FastAPI's {"detail"} body."""
    wallex = WallexClient(limited.base_url("wallex"))
    codes = [wallex.get("/v1/markets").status_code for _ in range(61)]
    assert codes[:60] == [200] * 60 and codes[60] == 429
    resp = wallex.get("/v1/markets")
    assert resp.json()["success"] is False and resp.headers["x-ratelimit-remaining"] == "0"

    invex = InvexClient(limited.base_url("invex"), invex_keys[0])
    codes = [invex.public("/markets").status_code for _ in range(61)]
    assert codes[60] == 429
    assert "detail" in invex.public("/markets").json()
    counters = limited.state()["exchanges"]
    assert counters["wallex"]["counters"]["rate_limited"] == 2
    assert counters["invex"]["counters"]["rate_limited"] == 2
