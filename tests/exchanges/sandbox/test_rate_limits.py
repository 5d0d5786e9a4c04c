"""Rate limits per API key and endpoint, answered in each exchange's 429 format."""

import pytest

from .conftest import InvexClient, NobitexClient, WallexClient, make_server


@pytest.fixture
def limited(invex_keys):
    with make_server(invex_keys[1], rate_limits=True) as server:
        yield server


def test_nobitex_wallets_limit_20_per_2_minutes(limited):
    client = NobitexClient(limited.base_url("nobitex"))
    for _ in range(20):
        assert client.get("/users/wallets/list").status_code == 200
    resp = client.get("/users/wallets/list")
    assert resp.status_code == 429
    body = resp.json()
    assert body["status"] == "failed" and body["code"] == "TooManyRequests"
    assert body["limit"] == 20 and 1 <= body["backOff"] <= 120
    assert resp.headers["Retry-After"] == str(body["backOff"])
    # another endpoint and another key are counted apart
    assert client.get("/v3/orderbook/BTCIRT").status_code == 200
    assert limited.state()["exchanges"]["nobitex"]["counters"]["rate_limited"] == 1


def test_wallex_and_invex_429_formats(limited, invex_keys):
    wallex = WallexClient(limited.base_url("wallex"))
    codes = [wallex.get("/v1/markets").status_code for _ in range(61)]
    assert codes[:60] == [200] * 60 and codes[60] == 429
    resp = wallex.get("/v1/markets")
    assert resp.json()["success"] is False and int(resp.headers["Retry-After"]) >= 1

    invex = InvexClient(limited.base_url("invex"), invex_keys[0])
    codes = [invex.public("/markets").status_code for _ in range(61)]
    assert codes[60] == 429
    resp = invex.public("/markets")
    assert "detail" in resp.json() and int(resp.headers["Retry-After"]) >= 1
    counters = limited.state()["exchanges"]
    assert counters["wallex"]["counters"]["rate_limited"] == 2
    assert counters["invex"]["counters"]["rate_limited"] == 2
