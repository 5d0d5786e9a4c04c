"""The client address behind trusted proxies: the one the outermost proxy
saw; what a client writes into the header itself is never used."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from arbsite.client_address import client_address


@pytest.mark.parametrize(("count", "header", "peer", "expected"), [
    (0, "198.51.100.1", "10.0.0.1", "10.0.0.1"),  # no proxy trusted: the header is ignored
    (1, "203.0.113.7", "10.0.0.1", "203.0.113.7"),
    (1, "198.51.100.1, 203.0.113.7", "10.0.0.1", "203.0.113.7"),  # a forged prefix
    (2, "203.0.113.7, 10.0.0.2", "10.0.0.1", "203.0.113.7"),
    (1, "", "10.0.0.1", "10.0.0.1"),  # the proxy was skipped
    (1, "not-an-address", "10.0.0.1", "10.0.0.1"),
    (1, "2001:db8::7", "10.0.0.1", "2001:db8::7"),
])
def test_client_address(settings, count, header, peer, expected):
    settings.TRUSTED_PROXY_COUNT = count
    settings.TRUSTED_PROXY_HEADER = "X-Forwarded-For"
    request = RequestFactory().get("/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=header)
    assert client_address(request) == expected


def test_another_header(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.TRUSTED_PROXY_HEADER = "X-Real-IP"
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_REAL_IP="203.0.113.9",
                                   HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert client_address(request) == "203.0.113.9"
