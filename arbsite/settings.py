"""arbsite settings, read from the environment (see .env.example).

One module for every environment: development defaults apply only when
``DEBUG`` is on; with ``DEBUG`` off (production) a missing secret stops
start-up and the security settings that ``check --deploy`` wants are on.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from arbsite.envconfig import (
    env,
    env_bool,
    env_db,
    env_decimal,
    env_int,
    env_json,
    env_list,
    env_redis_url,
    env_str,
    env_timezone,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

# A local .env (written by run.sh on first start) is read when present; real
# environment variables win over it.
if (BASE_DIR / ".env").is_file() and not env_bool("ARBSITE_IGNORE_DOTENV", False):
    env.read_env(str(BASE_DIR / ".env"), overwrite=False)

DEBUG = env_bool("DEBUG", False)

_DEV_SECRET_KEY = "django-insecure-development-only-key-never-use-in-production-0123456789"
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY (50+ random characters) for "
            "production, or DEBUG=true for development."
        )
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # The admin with the control panel (trading/adminsite.py): django.contrib.admin's
    # own app, with arbsite's AdminSite as the default site.
    "trading.adminsite.ArbsiteAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    # History of configuration that changes trading (risk settings, exchanges, markets).
    "simple_history",
    "exchanges",
    "trading",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Failed admin logins are counted in Redis; too many and the login is refused a while.
    "trading.login_limit.LoginRateLimitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Lets simple_history record which user made a change in the admin.
    "simple_history.middleware.HistoryRequestMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "arbsite.urls"
WSGI_APPLICATION = "arbsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
DATABASES = {"default": env_db("DATABASE_URL", f"sqlite:///{VAR_DIR / 'arbsite.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker, beat) share the file: wait for locks
    # instead of failing at once, and take the write lock at BEGIN.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # A file, not memory, so worker processes started by tests can share it;
    # one per test run, so two runs on one machine do not collide.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-arbsite-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env_int("DB_CONN_MAX_AGE", 60, minimum=0))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Time -------------------------------------------------------------------
# Storage is always UTC; the trading day (risk snapshots, reports) is cut at
# midnight in TRADING_DAY_TZ.
USE_TZ = True
TIME_ZONE = "UTC"
TRADING_DAY_TZ = env_timezone("TRADING_DAY_TZ", "Asia/Tehran")
LANGUAGE_CODE = "en-us"
USE_I18N = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- Redis and Celery -------------------------------------------------------
REDIS_URL = env_redis_url("REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_KEY_PREFIX = env_str("REDIS_KEY_PREFIX", "arbsite")

CELERY_BROKER_URL = REDIS_URL
# The queue name lets several deployments (or test runs) share one Redis.
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "arbsite")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
# Every task is bounded: the soft limit raises inside the task so it can log
# and clean up, the hard limit kills the child that ignores it.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 120, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 150, minimum=1)
# One message at a time per worker process: a slow task never holds others.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# acks_late: a task is acknowledged after it ran, so a worker killed mid-task
# (deploy, OOM, SIGKILL) leaves its message to be delivered again instead of
# losing it. The price is that a task may run twice, so every task is written
# to be safe to repeat: execution claims its opportunity with a conditional
# update, order updates go through the idempotent state machine, fills are
# unique per exchange trade id.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Redis redelivers an unacknowledged message after the visibility timeout;
# it must exceed the hard time limit or a running task would be duplicated.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT * 4}
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# django-celery-beat's database scheduler, plus beat's own heartbeat and the
# "worker missing" watch (trading/alerts/watchdog.py).
CELERY_BEAT_SCHEDULER = "trading.alerts.beat:WatchedScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ALWAYS_EAGER = False

# --- What to trade on first start (python manage.py setup) -----------------
# After setup has created the rows, the admin is the truth.
ARBSITE_EXCHANGES = env_list("ARBSITE_EXCHANGES", ["nobitex", "wallex", "invex"])
ARBSITE_MARKETS = env_list("ARBSITE_MARKETS", ["BTC-IRR", "USDT-IRR", "ETH-IRR"])
for _name in ARBSITE_EXCHANGES:
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", _name):
        raise ImproperlyConfigured(f"ARBSITE_EXCHANGES: {_name!r} is not an exchange name")
for _code in ARBSITE_MARKETS:
    if not re.fullmatch(r"[A-Z0-9]+-[A-Z0-9]+", _code):
        raise ImproperlyConfigured(
            f"ARBSITE_MARKETS: {_code!r} is not a market like BTC-IRR (BASE-QUOTE, upper case)"
        )

# --- Exchange HTTP ---------------------------------------------------------
# (connect, read) timeouts in seconds for every exchange call.
EXCHANGE_HTTP_TIMEOUT = (
    float(env_decimal("EXCHANGE_CONNECT_TIMEOUT", "3.05")),
    float(env_decimal("EXCHANGE_READ_TIMEOUT", "10")),
)
# Retries of reads (never of a place) on a transient error.
EXCHANGE_READ_RETRIES = env_int("EXCHANGE_READ_RETRIES", 2, minimum=0)
# Per-exchange rate limits shared through Redis (documented limits; see exchanges/ratelimit.py).
EXCHANGE_RATE_LIMITS_ENABLED = env_bool("EXCHANGE_RATE_LIMITS_ENABLED", True)
# Overrides of the limits per exchange and endpoint class, as JSON:
# {"wallex": {"book": [300, 60]}} = 300 calls per 60 s.
EXCHANGE_RATE_LIMITS = env_json("EXCHANGE_RATE_LIMITS", {})
if not isinstance(EXCHANGE_RATE_LIMITS, dict) or not all(
    isinstance(limits, dict) and all(
        isinstance(pair, list) and len(pair) == 2
        and all(isinstance(n, int | float) and n > 0 for n in pair)
        for pair in limits.values())
    for limits in EXCHANGE_RATE_LIMITS.values()
):
    raise ImproperlyConfigured(
        'EXCHANGE_RATE_LIMITS must look like {"wallex": {"book": [300, 60]}} '
        f"(calls, seconds per endpoint class), got {EXCHANGE_RATE_LIMITS!r}"
    )
# How long a call may wait for a rate-limit slot before it fails as rate limited.
EXCHANGE_RATE_LIMIT_MAX_WAIT = float(env_decimal("EXCHANGE_RATE_LIMIT_MAX_WAIT", "2.0"))
# Circuit breaker: opens after this many consecutive failures, probes after the cool-down.
EXCHANGE_BREAKER_ENABLED = env_bool("EXCHANGE_BREAKER_ENABLED", True)
EXCHANGE_BREAKER_THRESHOLD = env_int("EXCHANGE_BREAKER_THRESHOLD", 5, minimum=1)
EXCHANGE_BREAKER_COOLDOWN = env_int("EXCHANGE_BREAKER_COOLDOWN", 30, minimum=1)
# Threads fetching books concurrently in each process.
EXCHANGE_FETCH_WORKERS = env_int("EXCHANGE_FETCH_WORKERS", 32, minimum=1)

# --- Admin login rate limit (trading/login_limit.py) ------------------------
# After LOGIN_FAILURE_LIMIT failures for one username or one client address
# within LOGIN_FAILURE_WINDOW seconds, logins from it are refused until the
# window has passed.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_FAILURE_WINDOW = env_int("LOGIN_FAILURE_WINDOW", 900, minimum=1)

# --- Alerts (trading/alerts/) -------------------------------------------------
# Channels from the environment, installed by ``manage.py setup``; validated here
# so a bad value stops start-up naming the variable. E-mail goes through
# Django's mail settings below.
from trading.alerts.envchannels import alert_channels_from_env  # noqa: E402

ALERT_CHANNELS = alert_channels_from_env()
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "arbsite@localhost")

# --- Secrets at rest --------------------------------------------------------
# Fernet key(s) for exchange credentials; comma-separated for key rotation
# (the first encrypts, all decrypt). Development derives one from SECRET_KEY.
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEY", [])
if not FIELD_ENCRYPTION_KEYS and not DEBUG:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEY is not set. Generate one with: python -c \"from "
        "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())\""
    )

# --- Security (production) --------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_REFERRER_POLICY = "same-origin"

# --- Logging ----------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "exchanges.logging.RedactSecretsFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}
