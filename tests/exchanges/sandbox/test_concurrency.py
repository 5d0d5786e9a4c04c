"""Many keep-alive connections at once; the engine stays exact under contention."""

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal as D

from .conftest import NobitexClient, WallexClient, balances


def test_sixty_parallel_keep_alive_clients(sandbox):
    sandbox.set_book("nobitex", "USDTIRT", asks=[["1000000", "100000"]],
                     bids=[["999000", "100000"]])

    def worker(i: int) -> list[int]:
        nobitex = NobitexClient(sandbox.base_url("nobitex"))
        wallex = WallexClient(sandbox.base_url("wallex"))
        codes = []
        for j in range(5):
            codes.append(nobitex.get("/v3/orderbook/BTCIRT").status_code)
            codes.append(wallex.get("/v1/depth", symbol="BTCTMN").status_code)
            resp = nobitex.post("/market/orders/add", {
                "type": "buy", "srcCurrency": "usdt", "dstCurrency": "rls", "amount": "10",
                "price": "1000000", "clientOrderId": f"c-{i}-{j}", "pro": "yes"})
            codes.append(resp.status_code if resp.json()["status"] == "ok" else 0)
        return codes

    with ThreadPoolExecutor(max_workers=60) as pool:
        results = list(pool.map(worker, range(60)))
    assert all(code == 200 for codes in results for code in codes)
    state = sandbox.state()["exchanges"]["nobitex"]
    assert state["counters"]["orders_placed"] == 300
    b = balances(sandbox, "nobitex")
    assert b["rls"]["total"] == D("100000000000") - 300 * D("10000000")
    assert b["usdt"]["total"] == D("1000") + 300 * (D("10") - D("10") * D("0.0025"))
