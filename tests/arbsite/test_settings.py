"""Settings come from the environment; a bad value stops start-up with a
message that names the variable. Each case starts a fresh interpreter."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
PROD = {
    "DEBUG": "false",
    "SECRET_KEY": "k" * 20 + "0123456789abcdefghijklmnopqrstuvwxyzABCDEF",
    "ALLOWED_HOSTS": "arb.example.com",
    "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
}


def run(args, **env_overrides):
    env = {k: v for k, v in os.environ.items()
           if k not in {"DEBUG", "SECRET_KEY", "DATABASE_URL", "ALLOWED_HOSTS",
                        "FIELD_ENCRYPTION_KEY", "TRADING_DAY_TZ", "REDIS_URL"}}
    env.update({"ARBSITE_IGNORE_DOTENV": "1", "DJANGO_SETTINGS_MODULE": "arbsite.settings"})
    env.update(env_overrides)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def settings_value(expression, **env):
    """Evaluate ``expression`` (``s`` is django.conf.settings) in a new process."""
    return run(["-c", "import django; django.setup(); from django.conf import settings as s; "
                      f"print(repr({expression}))"], **env)


def test_development_defaults_when_debug_is_on():
    result = settings_value("s.DATABASES['default']['ENGINE']", DEBUG="true")
    assert result.returncode == 0, result.stderr
    assert "sqlite3" in result.stdout


def test_database_url_is_read():
    result = settings_value("s.DATABASES['default']['NAME']", DEBUG="true",
                            DATABASE_URL="postgres://u@db.internal:5432/arbsite")
    assert result.stdout.strip() == "'arbsite'"


def test_trading_day_defaults_to_tehran_and_storage_is_utc():
    result = settings_value("(s.TRADING_DAY_TZ, s.TIME_ZONE, s.USE_TZ)", DEBUG="true")
    assert result.stdout.strip() == "('Asia/Tehran', 'UTC', True)"


@pytest.mark.parametrize(("name", "value"), [
    ("DEBUG", "maybe"),
    ("DATABASE_URL", "nonsense://"),
    ("REDIS_URL", "http://localhost:6379"),
    ("TRADING_DAY_TZ", "Mars/Olympus"),
    ("ARBSITE_MARKETS", "btc/irr"),
    ("EXCHANGE_RATE_LIMITS", '{"wallex": {"book": [300, 60], "invex": {"book": [1, 2]}}}'),
    ("EXCHANGE_RATE_LIMITS", "not json"),
])
def test_a_bad_value_is_refused_naming_the_variable(name, value):
    env = {"DEBUG": "true", name: value}
    result = settings_value("s.DEBUG", **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr.splitlines()[-1]


def test_production_refuses_to_start_without_a_secret_key():
    env = dict(PROD)
    env.pop("SECRET_KEY")
    result = settings_value("s.DEBUG", **env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr.splitlines()[-1]


def test_production_refuses_to_start_without_an_encryption_key():
    env = dict(PROD)
    env.pop("FIELD_ENCRYPTION_KEY")
    result = settings_value("s.DEBUG", **env)
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY" in result.stderr.splitlines()[-1]


def test_a_production_configuration_passes_check_deploy():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **PROD)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
