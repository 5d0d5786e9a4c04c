"""Admin tests: users in the roles the data migration creates."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from tests.trading.conftest import (  # noqa: F401 - fixtures
    sandbox_credentials,
    trading_sandbox,
    trading_setup,
)
from trading.alerts.roles import alert_roles_install
from trading.services.roles import OPERATOR, VIEWER, groups_install

PASSWORD = "a-Long-pass-4-tests"


def make_user(username: str, *, group: str | None = None, superuser: bool = False):
    model = get_user_model()
    if superuser:
        return model.objects.create_superuser(username, f"{username}@example.com", PASSWORD)
    user = model.objects.create_user(username, f"{username}@example.com", PASSWORD,
                                     is_staff=True)
    if group:
        groups_install()  # transactional tests flush what the migration created
        alert_roles_install()
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def operator(db):
    return make_user("olga", group=OPERATOR)


@pytest.fixture
def viewer(db):
    return make_user("victor", group=VIEWER)


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client
