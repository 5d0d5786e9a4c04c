"""Admin login throttling (django-axes): per username and per client
address, behind a proxy-aware address, each attempt counted atomically and
evaluated one at a time, with an unlock for a superuser."""

from __future__ import annotations

import re
import threading
from collections import Counter

import pytest
import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.test import Client
from django.urls import reverse

from tests.admin.conftest import PASSWORD, make_user

PROXY = "10.0.0.1"


@pytest.fixture
def behind_one_proxy(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.TRUSTED_PROXY_HEADER = "X-Forwarded-For"


def _login(client: Client, username: str, password: str, *, client_ip: str,
           forwarded: str | None = None):
    """A login POST as it reaches Django through the proxy at PROXY."""
    return client.post(reverse("admin:login"), {"username": username, "password": password},
                       REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded or client_ip)


def _logged_in(response) -> bool:
    return response.status_code == 302


@pytest.mark.django_db
def test_five_failures_lock_the_username_and_the_address_but_not_others_behind_the_proxy(
        behind_one_proxy):
    for name in ("olga", "carol", "bob"):
        make_user(name)
    attacker = "203.0.113.7"

    # Given five wrong passwords for olga from one client behind the proxy:
    # the form again four times, and the fifth failure locks.
    answers = [_login(Client(), "olga", "wrong", client_ip=attacker).status_code
               for _ in range(5)]
    assert answers == [200, 200, 200, 200, 429]

    # Then olga is locked out from anywhere, even with her password...
    refused = _login(Client(), "olga", PASSWORD, client_ip="203.0.113.99")
    assert refused.status_code == 429
    assert "Too many failed logins" in refused.content.decode()
    # ...that client is locked out for every user, whatever it prepends...
    assert _login(Client(), "carol", PASSWORD, client_ip=attacker).status_code == 429
    assert _login(Client(), "carol", PASSWORD, client_ip=attacker,
                  forwarded=f"198.51.100.1, {attacker}").status_code == 429
    # ...and another user behind the same proxy logs in.
    assert _logged_in(_login(Client(), "bob", PASSWORD, client_ip="203.0.113.8"))


@pytest.mark.django_db
def test_without_a_trusted_proxy_the_forwarded_header_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    make_user("olga")
    make_user("carol")
    for n in range(5):  # a different forged header each time
        _login(Client(), f"nobody{n}", "wrong", client_ip=f"198.51.100.{n}")
    # All five came from the proxy's address: that address is locked.
    assert _login(Client(), "carol", PASSWORD, client_ip="198.51.100.77").status_code == 429


@pytest.mark.django_db
def test_a_success_clears_the_username_count(behind_one_proxy):
    make_user("olga")
    for _ in range(4):
        _login(Client(), "olga", "wrong", client_ip="203.0.113.1")
    assert _logged_in(_login(Client(), "olga", PASSWORD, client_ip="203.0.113.2"))
    for _ in range(4):
        _login(Client(), "olga", "wrong", client_ip="203.0.113.3")
    assert _logged_in(_login(Client(), "olga", PASSWORD, client_ip="203.0.113.4"))


@pytest.mark.django_db
def test_a_superuser_unlocks_a_username(behind_one_proxy):
    from axes.models import AccessAttempt

    make_user("olga")
    for _ in range(5):
        _login(Client(), "olga", "wrong", client_ip="203.0.113.7")
    assert _login(Client(), "olga", PASSWORD, client_ip="203.0.113.9").status_code == 429

    # When a superuser deletes her attempts in the admin (the unlock).
    boss = Client()
    boss.force_login(make_user("boss", superuser=True))
    attempts = [a.pk for a in AccessAttempt.objects.filter(username="olga")]
    listing = boss.get(reverse("admin:axes_accessattempt_changelist"))
    assert listing.status_code == 200 and "olga" in listing.content.decode()
    done = boss.post(reverse("admin:axes_accessattempt_changelist"),
                     {"action": "delete_selected", "post": "yes", "index": "0",
                      "_selected_action": attempts})
    assert done.status_code == 302

    # Then she logs in again.
    assert _logged_in(_login(Client(), "olga", PASSWORD, client_ip="203.0.113.9"))


@pytest.mark.django_db
def test_viewers_and_operators_cannot_unlock(viewer_client, operator_client):
    for client in (viewer_client, operator_client):
        assert client.get(reverse("admin:axes_accessattempt_changelist")).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_thirty_parallel_guesses_are_thirty_failures_and_five_evaluated(
        postgres_only, live_server, settings, monkeypatch):
    """30 guesses at once against the live server (one thread and one
    PostgreSQL connection each): all 30 count, and only the first five are
    checked against the password; the rest are refused without it."""
    settings.TRUSTED_PROXY_COUNT = 0
    make_user("olga")
    checked = []
    real_check = AbstractBaseUser.check_password

    def counting_check(self, raw_password):
        checked.append(raw_password)  # list.append is atomic under the GIL
        return real_check(self, raw_password)

    monkeypatch.setattr(AbstractBaseUser, "check_password", counting_check)
    url = live_server.url + reverse("admin:login")
    sessions = []
    for _ in range(30):  # each guesser with its own CSRF cookie and token
        session = requests.Session()
        page = session.get(url, timeout=10)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        sessions.append((session, token))
    start = threading.Barrier(30)
    answers: list[int] = []

    def guess(n: int) -> None:
        session, token = sessions[n]
        start.wait()
        response = session.post(url, data={"username": "olga", "password": f"guess-{n}",
                                           "csrfmiddlewaretoken": token},
                                headers={"Referer": url}, timeout=60, allow_redirects=False)
        answers.append(response.status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # 200: the form again; the fifth failure and all after it: 429.
    seen = f"{Counter(answers)}; {len(checked)} of 30 guesses checked against the password"
    assert Counter(answers) == {200: 4, 429: 26}, seen
    assert len(checked) == 5, seen
    from arbsite.login_throttle import login_failures

    assert login_failures(username="olga") == 30
    assert get_user_model().objects.filter(username="olga").exists()
