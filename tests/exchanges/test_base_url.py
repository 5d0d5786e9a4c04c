"""An exchange's base URL: where its credentials go. Only https or the
sandbox; changed with its own permission and a confirmation; a change of
host clears the stored credentials, and credentials from the environment
never follow the row to another host."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from exchanges import registry
from exchanges.hosts import base_url_problem
from exchanges.models import Exchange
from exchanges.services.base_url import exchange_base_url_change
from tests.admin.conftest import make_user
from trading.services.roles import OPERATOR

TOKEN = "nobitex-token-must-stay-home-4411"
SANDBOX = "http://sandbox.internal:8800"


@pytest.mark.parametrize(("url", "ok"), [
    ("https://apiv2.nobitex.ir", True),
    ("https://testnet.example.com:8443/api", True),
    ("http://127.0.0.1:8800/nobitex", True),
    ("http://127.0.0.5:9", True),
    ("http://localhost:8800/wallex", True),
    ("http://[::1]:8800/invex/trading/v1", True),
    ("http://listener.attacker.example/", False),
    ("http://10.0.0.7:8800/nobitex", False),
    ("ftp://apiv2.nobitex.ir", False),
    ("apiv2.nobitex.ir", False),
    ("https://user:pw@apiv2.nobitex.ir", False),
    ("https://apiv2.nobitex.ir/?next=http://evil", False),
    ("https:///nohost", False),
    (f"{SANDBOX}/nobitex", True),  # the configured sandbox
    ("http://sandbox.internal:8801/nobitex", False),  # not its port
])
def test_only_https_or_the_sandbox(url, ok):
    assert (base_url_problem(url, sandbox_urls=[SANDBOX]) is None) is ok, url


@pytest.fixture
def nobitex(db):
    return Exchange.objects.create(name="nobitex", adapter="nobitex", api_key=TOKEN,
                                   api_secret="", base_url="https://apiv2.nobitex.ir")


@pytest.fixture
def operator_client(db):
    client = Client()
    client.force_login(make_user("olga", group=OPERATOR))
    return client


def _change_form(exchange: Exchange, **changes) -> dict:
    data = {"name": exchange.name, "adapter": exchange.adapter, "enabled": "on",
            "trading_enabled": "on", "taker_fee": "0.0025", "maker_fee": "0.002",
            "api_key": "", "api_secret": "", "notes": "",
            "markets-TOTAL_FORMS": "0", "markets-INITIAL_FORMS": "0",
            "markets-MIN_NUM_FORMS": "0", "markets-MAX_NUM_FORMS": "1000"}
    data.update(changes)
    return data


def test_the_change_form_does_not_change_the_base_url(operator_client, nobitex):
    url = reverse("admin:exchanges_exchange_change", args=[nobitex.pk])
    page = operator_client.get(url).content.decode()
    assert 'name="base_url"' not in page and 'name="adapter"' not in page
    assert "https://apiv2.nobitex.ir" in page  # shown, read-only
    assert "Change base URL" not in page  # operators lack the permission

    response = operator_client.post(url, _change_form(
        nobitex, base_url="http://listener.attacker.example/", adapter="wallex", notes="x"))
    assert response.status_code == 302
    row = Exchange.objects.get(pk=nobitex.pk)
    assert (row.base_url, row.adapter, row.api_key) == ("https://apiv2.nobitex.ir", "nobitex",
                                                        TOKEN)
    assert row.notes == "x"


def test_the_base_url_page_needs_its_own_permission(operator_client, nobitex):
    url = reverse("admin:exchanges_exchange_base_url", args=[nobitex.pk])
    assert operator_client.get(url).status_code == 403
    assert operator_client.post(url, {"base_url": "https://x.example", "reason": "r",
                                      "confirmed": "yes"}).status_code == 403
    assert Exchange.objects.get(pk=nobitex.pk).base_url == "https://apiv2.nobitex.ir"


def test_a_granted_user_changes_the_host_after_a_confirmation(nobitex):
    # Given a staff user granted the base-URL permission.
    user = make_user("olga", group=OPERATOR)
    user.user_permissions.add(Permission.objects.get(codename="change_exchange_base_url"))
    client = Client()
    client.force_login(user)
    url = reverse("admin:exchanges_exchange_base_url", args=[nobitex.pk])
    assert "Change base URL" in client.get(
        reverse("admin:exchanges_exchange_change", args=[nobitex.pk])).content.decode()

    # A host that is neither https nor the sandbox is refused with why.
    refused = client.post(url, {"base_url": "http://listener.attacker.example/",
                                "reason": "testing"})
    assert "only https:// URLs are accepted" in refused.content.decode()

    # When a new https host is submitted, the confirmation says what happens
    # to the credentials; nothing has changed yet.
    page = client.post(url, {"base_url": "https://proxy.example.com/nobitex",
                             "reason": "egress proxy"})
    body = page.content.decode()
    assert page.status_code == 200 and 'id="credentials-cleared"' in body
    assert "https://proxy.example.com/nobitex" in body
    assert Exchange.objects.get(pk=nobitex.pk).api_key == TOKEN

    # When confirmed: the URL changes, the credentials are gone, and the
    # audit (LogEntry, history) says so with the reason.
    done = client.post(url, {"base_url": "https://proxy.example.com/nobitex",
                             "reason": "egress proxy", "confirmed": "yes"})
    assert done.status_code == 302
    row = Exchange.objects.get(pk=nobitex.pk)
    assert row.base_url == "https://proxy.example.com/nobitex"
    assert (row.api_key, row.api_secret) == ("", "")
    log = LogEntry.objects.get(object_id=str(row.pk))
    assert log.user == user
    assert "stored credentials were cleared" in log.get_change_message()
    assert "egress proxy" in log.get_change_message()
    assert "cleared" in row.history.first().history_change_reason
    assert TOKEN not in log.get_change_message()


def test_the_same_host_keeps_the_credentials(nobitex):
    change = exchange_base_url_change(exchange_id=nobitex.pk,
                                      base_url="https://APIV2.nobitex.ir:443/v2",
                                      actor="test", reason="new path")
    assert not change.host_changed
    assert Exchange.objects.get(pk=nobitex.pk).api_key == TOKEN


def test_the_add_form_refuses_a_plain_http_host(db):
    client = Client()
    client.force_login(User.objects.create_superuser("boss", "b@example.com", "pw-123456789"))
    response = client.post(reverse("admin:exchanges_exchange_add"), _change_form(
        Exchange(name="nobitex", adapter="nobitex"), base_url="http://listener.example/"))
    assert response.status_code == 200
    assert "only https:// URLs are accepted" in response.content.decode()
    assert not Exchange.objects.exists()


def test_environment_credentials_stay_with_the_environment_host(db, settings):
    settings.NOBITEX_API_TOKEN = TOKEN
    settings.NOBITEX_BASE_URL = ""
    row = Exchange.objects.create(name="nobitex", adapter="nobitex")
    registry.clear_cache()
    assert registry.config_for(row).api_key == TOKEN  # the real host: theirs
    row.base_url = "https://apiv2.nobitex.ir/"
    assert registry.config_for(row).api_key == TOKEN  # the same host
    row.base_url = "https://proxy.example.com"
    assert registry.config_for(row).api_key == ""  # elsewhere: not sent


class _Listener(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self):  # noqa: N802
        _Listener.seen.append(str(self.headers))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": "ok", "wallets": []}')

    do_POST = do_GET  # noqa: N815

    def log_message(self, *args):
        pass


def test_the_token_never_reaches_a_new_host(nobitex):
    # Given a listener on this machine (the sandbox rule accepts loopback).
    server = HTTPServer(("127.0.0.1", 0), _Listener)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Listener.seen = []
    try:
        # When the exchange is pointed at it and an authenticated call is made.
        exchange_base_url_change(exchange_id=nobitex.pk,
                                 base_url=f"http://127.0.0.1:{server.server_port}",
                                 actor="test", reason="listener")
        registry.clear_cache()
        try:
            registry.get_adapter(Exchange.objects.get(pk=nobitex.pk)).balances()
        except Exception:  # noqa: S110 - a refusal without credentials is fine too
            pass
    finally:
        server.shutdown()
        registry.clear_cache()
    # Then the listener never saw the token.
    assert TOKEN not in "".join(_Listener.seen)
