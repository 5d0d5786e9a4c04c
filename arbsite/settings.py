"""arbsite settings, read from the environment (see .env.example).

One module for every environment: development defaults apply only when
``DEBUG`` is on; with ``DEBUG`` off (production) a missing secret stops
start-up and the security settings that ``check --deploy`` wants are on.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from arbsite.envconfig import (
    alert_channels_from_env,
    env,
    env_base_url,
    env_bool,
    env_choice,
    env_db,
    env_fernet_keys,
    env_float,
    env_int,
    env_list,
    env_name,
    env_origins,
    env_rate_limits,
    env_redis_url,
    env_str,
    env_timezone,
    env_url_list,
    env_wire_variants,
    env_ws_url,
)
from exchanges.catalog import EXCHANGES
from exchanges.ratelimit import DEFAULT_BACKOFF_S
from exchanges.ratelimit import DEFAULT_LIMITS as DEFAULT_RATE_LIMITS

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
elif not DEBUG and len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("SECRET_KEY is too short for production: use 50+ random "
                               "characters.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
if not ALLOWED_HOSTS and not DEBUG:
    raise ImproperlyConfigured("ALLOWED_HOSTS is not set: the host names this site answers "
                               "to, comma-separated (arb.example.com).")
CSRF_TRUSTED_ORIGINS = env_origins("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # The admin with the control panel (arbsite/adminsite.py): django.contrib.admin's
    # own app, with arbsite's AdminSite as the default site.
    "arbsite.adminsite.ArbsiteAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    # History of configuration that changes trading (risk settings, exchanges, markets).
    "simple_history",
    # Failed admin logins counted per username and per address (arbsite/login_throttle.py).
    "axes",
    # Project-wide admin and signals (after django_celery_beat, whose admin it replaces).
    "arbsite.apps.ArbsiteConfig",
    "exchanges",
    "trading",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Admin logins of one username, or from one address, checked one at a time.
    "arbsite.login_throttle.LoginSerializeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Pages show trading-day time (TRADING_DAY_TZ); storage stays UTC.
    "arbsite.timezone_middleware.TradingTimezoneMiddleware",
    # Lets simple_history record which user made a change in the admin.
    "simple_history.middleware.HistoryRequestMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Turns a refused login into the lockout page; axes wants it last.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # Refuses a locked-out username or address before the password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
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
# SQLite only by choice: production without DATABASE_URL refuses to start
# rather than trade on a file nobody backs up.
if not env_str("DATABASE_URL") and not DEBUG:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. Production needs PostgreSQL (postgres://user@host/name); "
        "the SQLite default is for development (DEBUG=true)."
    )
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
    # The covering indexes' INCLUDE columns are PostgreSQL's; SQLite keeps the
    # key columns, which is all it needs. Said once here, not on every command.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
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
# Where Django renders a date itself: ISO order, seconds and the zone
# (arbsite/formats/en/formats.py); our displays use arbsite.formatting.
FORMAT_MODULE_PATH = ["arbsite.formats"]
USE_I18N = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- Redis and Celery -------------------------------------------------------
REDIS_URL = env_redis_url("REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_KEY_PREFIX = env_name("REDIS_KEY_PREFIX", "arbsite")

CELERY_BROKER_URL = REDIS_URL
# The queue name lets several deployments (or test runs) share one Redis.
CELERY_TASK_DEFAULT_QUEUE = env_name("CELERY_QUEUE", "arbsite")
# The trading path (detection, then execution) on a queue of its own: a
# dedicated worker (run.sh's "trader"; in production `celery -A arbsite worker
# -Q <this queue>`) always has a free process for it, never queued behind a
# sync, a recovery or a report. A worker started without -Q consumes both
# queues, so a deployment with one worker trades as before.
CELERY_TRADING_QUEUE = env_name("CELERY_TRADING_QUEUE", f"{CELERY_TASK_DEFAULT_QUEUE}-trading")
CELERY_TASK_QUEUES = {CELERY_TASK_DEFAULT_QUEUE: {}, CELERY_TRADING_QUEUE: {}}
CELERY_TASK_ROUTES = {name: {"queue": CELERY_TRADING_QUEUE}
                      for name in ("trading.detect_opportunities", "trading.execute_opportunity")}
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
if CELERY_TASK_SOFT_TIME_LIMIT >= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured(
        f"CELERY_TASK_SOFT_TIME_LIMIT ({CELERY_TASK_SOFT_TIME_LIMIT}) must be below "
        f"CELERY_TASK_TIME_LIMIT ({CELERY_TASK_TIME_LIMIT}): the soft limit lets a task "
        "clean up before the hard one kills it.")
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
# A broker blip (Redis restarted, a network cut) must not stop or lose work:
# the task running when the connection drops goes on and finishes once (an
# execution cut off between its two legs is the worst outcome there is).
# Cancelling it instead (True) terminated it, and with a Redis that came
# back empty its message was gone: the task was lost. When Redis keeps its
# data the unacknowledged message comes back after the visibility timeout
# and runs a second time, which every task here is written to survive.
# tests/trading/test_broker_restart.py kills and restarts a real Redis under
# a real worker. (celery 5.7.0 crashed there: see requirements.txt.)
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Reconnect for as long as it takes (the default gives up after 100 tries,
# about 50 minutes of a Redis outage, and the worker exits).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# django-celery-beat's database scheduler behind a Redis lease: a second beat
# (another host, a stray terminal) is refused instead of doubling every
# schedule (arbsite/beat.py). A SIGKILLed beat's lease expires after
# BEAT_LEASE_SECONDS; a beat stopped normally releases it at once. On top,
# beat's own heartbeat and the "worker missing" watch (trading/alerts/beat.py).
CELERY_BEAT_SCHEDULER = "trading.alerts.beat:WatchedScheduler"
BEAT_LEASE_SECONDS = env_int("BEAT_LEASE_SECONDS", 30, minimum=2)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ALWAYS_EAGER = False

# --- What to trade on first start (python manage.py setup) -----------------
# After setup has created the rows, the admin is the truth.
ARBSITE_EXCHANGES = env_list("ARBSITE_EXCHANGES", ["nobitex", "wallex", "invex"])
ARBSITE_MARKETS = env_list("ARBSITE_MARKETS", ["BTC-IRR", "USDT-IRR", "ETH-IRR"])
for _name in ARBSITE_EXCHANGES:
    if _name not in EXCHANGES:
        raise ImproperlyConfigured(f"ARBSITE_EXCHANGES: {_name!r} is not an exchange this "
                                   f"project has an adapter for ({', '.join(EXCHANGES)})")
for _code in ARBSITE_MARKETS:
    if not re.fullmatch(r"[A-Z0-9]+-[A-Z0-9]+", _code):
        raise ImproperlyConfigured(
            f"ARBSITE_MARKETS: {_code!r} is not a market like BTC-IRR (BASE-QUOTE, upper case)"
        )

# --- Exchange endpoints and credentials -------------------------------------
# The Exchange rows in the admin win over these; these over the real hosts
# (exchanges/registry.py). A base URL is https, or the project's sandbox:
# http on 127.0.0.1/localhost, or an origin listed in EXCHANGE_SANDBOX_URL
# (comma-separated, e.g. http://sandbox.internal:8800). Credentials from
# the environment are only ever sent to the environment's (or the real) host.
EXCHANGE_SANDBOX_URLS = env_url_list("EXCHANGE_SANDBOX_URL")
NOBITEX_BASE_URL = env_base_url("NOBITEX_BASE_URL", sandbox_urls=EXCHANGE_SANDBOX_URLS)
NOBITEX_API_TOKEN = env_str("NOBITEX_API_TOKEN", "")
WALLEX_BASE_URL = env_base_url("WALLEX_BASE_URL", sandbox_urls=EXCHANGE_SANDBOX_URLS)
WALLEX_API_KEY = env_str("WALLEX_API_KEY", "")
INVEX_BASE_URL = env_base_url("INVEX_BASE_URL", sandbox_urls=EXCHANGE_SANDBOX_URLS)
INVEX_API_KEY = env_str("INVEX_API_KEY", "")
INVEX_PRIVATE_KEY = env_str("INVEX_PRIVATE_KEY", "")
# An exchange whose base URL is not the project's sandbox places no new order
# until its conformance check passed or an operator overrode it
# (exchanges/conformance/gate.py). false: off, for a test deployment only;
# logged loudly at start and shown on the control panel and /healthz.
ARBSITE_CONFORMANCE_REQUIRED = env_bool("ARBSITE_CONFORMANCE_REQUIRED", True)

# --- Exchange HTTP ---------------------------------------------------------
# (connect, read) timeouts in seconds for every exchange call.
EXCHANGE_HTTP_TIMEOUT = (
    env_float("EXCHANGE_CONNECT_TIMEOUT", 3.05, above=0),
    env_float("EXCHANGE_READ_TIMEOUT", 10, above=0),
)
# Retries of reads (never of a place) on a transient error.
EXCHANGE_READ_RETRIES = env_int("EXCHANGE_READ_RETRIES", 2, minimum=0)
# Per-exchange rate limits shared through Redis (documented limits; see exchanges/ratelimit.py).
EXCHANGE_RATE_LIMITS_ENABLED = env_bool("EXCHANGE_RATE_LIMITS_ENABLED", True)
# Overrides of the limits per exchange and endpoint class, as JSON:
# {"wallex": {"book": [300, 60]}} = 300 calls per 60 s.
EXCHANGE_RATE_LIMITS = env_rate_limits(
    "EXCHANGE_RATE_LIMITS", exchanges=set(EXCHANGES),
    endpoints=set().union(*DEFAULT_RATE_LIMITS.values()))
# How long a call may wait for a rate-limit slot before it fails as rate limited.
EXCHANGE_RATE_LIMIT_MAX_WAIT = env_float("EXCHANGE_RATE_LIMIT_MAX_WAIT", 2.0, minimum=0)
# Circuit breaker: opens after this many consecutive failures, probes after the cool-down.
EXCHANGE_BREAKER_ENABLED = env_bool("EXCHANGE_BREAKER_ENABLED", True)
EXCHANGE_BREAKER_THRESHOLD = env_int("EXCHANGE_BREAKER_THRESHOLD", 5, minimum=1)
EXCHANGE_BREAKER_COOLDOWN = env_int("EXCHANGE_BREAKER_COOLDOWN", 30, minimum=1)
# After a 401/403 an exchange's private calls stop; one probe is let through per this
# many seconds (Nobitex blocks an IP after 100 failed logins in 30 minutes).
EXCHANGE_BREAKER_AUTH_COOLDOWN = env_float("EXCHANGE_BREAKER_AUTH_COOLDOWN", 600, above=0)
# Seconds every process waits after a 429 that names no back-off (Wallex and Invex
# document none; exchanges/ratelimit.py).
EXCHANGE_DEFAULT_BACKOFF_SECONDS = env_float("EXCHANGE_DEFAULT_BACKOFF_SECONDS",
                                             DEFAULT_BACKOFF_S, above=0)
# Readings of the points the exchanges' docs leave open, per adapter, as JSON:
# {"invex": {"invex-signing": "compact"}} (exchanges/variants.py). Empty: the most
# literal readings; an Exchange row's own wire_variants (admin) win over these.
EXCHANGE_WIRE_VARIANTS = env_wire_variants("EXCHANGE_WIRE_VARIANTS", exchanges=set(EXCHANGES))
# The longest a place request may be in flight after its order was written: the
# wait for a rate-limit slot, then the connect and read timeouts (never retried).
# No order younger than this is failed, and the not-found grace may not be shorter.
EXCHANGE_PLACE_TIMEOUT = (EXCHANGE_RATE_LIMIT_MAX_WAIT + EXCHANGE_HTTP_TIMEOUT[0]
                          + EXCHANGE_HTTP_TIMEOUT[1])
# Threads fetching books concurrently in each process.
EXCHANGE_FETCH_WORKERS = env_int("EXCHANGE_FETCH_WORKERS", 32, minimum=1)

# --- Exchange websockets (python manage.py stream_books) ---------------------
# The documented hosts unless set; the demo points them at the sandbox. Nobitex's
# docs name wss.nobitex.ir; older notes and third-party clients use ws.nobitex.ir.
STREAM_URLS = {
    "nobitex": env_ws_url("NOBITEX_WS_URL", "wss://wss.nobitex.ir/connection/websocket"),
    "wallex": env_ws_url("WALLEX_WS_URL", "wss://api.wallex.ir/ws"),
}

# --- Admin login throttling (django-axes; arbsite/login_throttle.py) ---------
# After LOGIN_FAILURE_LIMIT failures for one username, or from one client
# address, within LOGIN_FAILURE_WINDOW seconds, logins for it are refused
# (HTTP 429) until the window has passed since its last failure, or a
# superuser deletes its attempts (admin › Axes › Access attempts).
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_FAILURE_WINDOW = env_int("LOGIN_FAILURE_WINDOW", 900, minimum=1)
# How long a login waits for another one of the same username or address.
LOGIN_SERIALIZE_WAIT_SECONDS = 10
# The client address behind reverse proxies (arbsite/client_address.py): how
# many proxies in front of Django append to TRUSTED_PROXY_HEADER. 0 (the
# default): REMOTE_ADDR, and the header is ignored (a client can forge it).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
TRUSTED_PROXY_HEADER = env_str("TRUSTED_PROXY_HEADER", "X-Forwarded-For")
if not re.fullmatch(r"[A-Za-z0-9-]+", TRUSTED_PROXY_HEADER):
    raise ImproperlyConfigured(
        f"TRUSTED_PROXY_HEADER must be an HTTP header name (got {TRUSTED_PROXY_HEADER!r})")
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_FAILURE_WINDOW)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own
AXES_CLIENT_IP_CALLABLE = "arbsite.client_address.client_address"
AXES_USERNAME_CALLABLE = "arbsite.login_throttle.login_username"
AXES_LOCKOUT_CALLABLE = "arbsite.login_throttle.lockout_response"
# A success clears its username's failures only (arbsite.login_throttle).
AXES_RESET_ON_SUCCESS = False
AXES_HTTP_RESPONSE_CODE = 429
# Successful logins are in Django's sessions and last_login; keep the table small.
AXES_DISABLE_ACCESS_LOG = True
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "password"]
AXES_VERBOSE = False

# --- Orders, start-up and test hooks ----------------------------------------
# An order the exchange says it does not have is failed only when it says so
# again this many seconds later (trading/services/sync.py).
ORDER_NOT_FOUND_GRACE_SECONDS = env_float("ORDER_NOT_FOUND_GRACE_SECONDS", 30, minimum=0)
if ORDER_NOT_FOUND_GRACE_SECONDS < EXCHANGE_PLACE_TIMEOUT:
    raise ImproperlyConfigured(
        f"ORDER_NOT_FOUND_GRACE_SECONDS ({ORDER_NOT_FOUND_GRACE_SECONDS:g}) is below the place "
        f"timeout ({EXCHANGE_PLACE_TIMEOUT:g} s = EXCHANGE_RATE_LIMIT_MAX_WAIT "
        f"{EXCHANGE_RATE_LIMIT_MAX_WAIT:g} + EXCHANGE_CONNECT_TIMEOUT {EXCHANGE_HTTP_TIMEOUT[0]:g}"
        f" + EXCHANGE_READ_TIMEOUT {EXCHANGE_HTTP_TIMEOUT[1]:g}): an order whose place request "
        "may still be in flight would be declared never placed. Raise it, or lower the "
        "timeouts.")
# Every worker reconciles with the exchanges once on start (trading/startup.py).
ARBSITE_STARTUP_RECOVERY = env_bool("ARBSITE_STARTUP_RECOVERY", True)
# The chaos test's kill point (trading/services/killpoints.py): a process that
# reaches it SIGKILLs itself. Development only.
ARBSITE_KILL_AT = env_str("ARBSITE_KILL_AT", "")
ARBSITE_KILL_ONCE_FILE = env_str("ARBSITE_KILL_ONCE_FILE", "")
if ARBSITE_KILL_AT and not re.fullmatch(r"[a-z_]+", ARBSITE_KILL_AT):
    raise ImproperlyConfigured(f"ARBSITE_KILL_AT must be a kill point name such as leg_sent "
                               f"(got {ARBSITE_KILL_AT!r})")
if ARBSITE_KILL_AT and not DEBUG:
    raise ImproperlyConfigured("ARBSITE_KILL_AT is a chaos-test hook that kills processes; "
                               "it is refused in production (DEBUG=false).")
# manage.py bench: the PostgreSQL database of the report figures and their size.
BENCH_DATABASE_URL = env_str("BENCH_DATABASE_URL", "")
if BENCH_DATABASE_URL:
    env_db("BENCH_DATABASE_URL", BENCH_DATABASE_URL)  # refuses a malformed URL
BENCH_REPORT_TRADES = env_int("BENCH_REPORT_TRADES", 1_000_000, minimum=1)
# The admin's large lists count at most this many rows (arbsite/admin_paginator.py).
ADMIN_COUNT_CAP = env_int("ADMIN_COUNT_CAP", 10_000, minimum=1)
# The streamed benches (arbsite/bench/streamed.py): fewer samples for a quick
# run, and how long the streamer's cost is held (the figure wants 300 s).
BENCH_QUICK = env_bool("BENCH_QUICK", False)
BENCH_STREAMER_SECONDS = env_int("BENCH_STREAMER_SECONDS", 300, minimum=1)

# --- Alerts (trading/alerts/) -------------------------------------------------
# Channels from the environment, installed by ``manage.py setup``; validated here
# so a bad value stops start-up naming the variable. E-mail goes through
# Django's mail settings below.
ALERT_CHANNELS = alert_channels_from_env({
    "ALERT_WEBHOOK_URL": env_str("ALERT_WEBHOOK_URL", ""),
    "ALERT_WEBHOOK_SECRET": env_str("ALERT_WEBHOOK_SECRET", ""),
    "ALERT_EMAILS": env_str("ALERT_EMAILS", ""),
    "ALERT_TELEGRAM_BOT_TOKEN": env_str("ALERT_TELEGRAM_BOT_TOKEN", ""),
    "ALERT_TELEGRAM_CHAT_ID": env_str("ALERT_TELEGRAM_CHAT_ID", ""),
    "ALERT_BALE_BOT_TOKEN": env_str("ALERT_BALE_BOT_TOKEN", ""),
    "ALERT_BALE_CHAT_ID": env_str("ALERT_BALE_CHAT_ID", ""),
})
# How often the watchers of worker and beat look (trading/alerts/watchdog.py).
ARBSITE_WATCHDOG_SECONDS = env_float("ARBSITE_WATCHDOG_SECONDS", 15, above=0)
# Health (trading/problems.py): a periodic task failing this many runs in a
# row is a problem; detection refusing for a fault in (nearly) every minute
# of this many minutes, with no opportunity, is one; so is no trade for this
# many minutes while spreads worth trading were seen.
HEALTH_TASK_FAILURES = env_int("HEALTH_TASK_FAILURES", 3, minimum=1)
HEALTH_DETECTION_MINUTES = env_int("HEALTH_DETECTION_MINUTES", 5, minimum=1)
HEALTH_NO_TRADE_MINUTES = env_int("HEALTH_NO_TRADE_MINUTES", 15, minimum=1)
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
FIELD_ENCRYPTION_KEYS = env_fernet_keys("FIELD_ENCRYPTION_KEY")
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
LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
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
