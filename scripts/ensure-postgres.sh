#!/usr/bin/env bash
# Ensures a throwaway PostgreSQL cluster for the test suite is running (idempotent; Debian packages).
# Progress goes to stderr; stdout is exactly one line, `TEST_DATABASE_URL=...`, so callers can
#   export "$(scripts/ensure-postgres.sh)"
# Env: HRP_PG_DIR (default /tmp/hrp-pg), HRP_PG_PORT (default 55432).
set -euo pipefail

PG_PORT="${HRP_PG_PORT:-55432}"
# Absolute paths first, then leave the caller's cwd: it may be unreadable to the postgres user.
PG_DIR="$(realpath -m "${HRP_PG_DIR:-/tmp/hrp-pg}")"
DATA="$PG_DIR/data"
LOG="$PG_DIR/server.log"
URL="TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
cd /

log() { echo "ensure-postgres: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Newest installed server version (or the one the existing cluster was created with).
bindir() {
  if [[ -s "$DATA/PG_VERSION" && -x "/usr/lib/postgresql/$(cat "$DATA/PG_VERSION")/bin/pg_ctl" ]]; then
    echo "/usr/lib/postgresql/$(cat "$DATA/PG_VERSION")/bin"
    return
  fi
  local c
  # sort -V so 9.6 < 15; an unmatched glob stays literal and fails the -x test.
  c="$(printf '%s\n' /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -n1)"
  [[ -x "$c" ]] && dirname "$c"
}

BIN="$(bindir || true)"
if [[ -z "$BIN" ]]; then
  [[ "$(id -u)" == 0 ]] || die "PostgreSQL is not installed and we are not root: apt-get install postgresql"
  log "installing PostgreSQL from Debian packages (apt-get install postgresql)"
  apt_log="$(mktemp)"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } >"$apt_log" 2>&1; then
    tail -n 20 "$apt_log" >&2
    die "apt-get install postgresql failed (the Debian package mirror must be reachable)"
  fi
  rm -f "$apt_log"
  BIN="$(bindir || true)"
  [[ -n "$BIN" ]] || die "postgresql installed but no /usr/lib/postgresql/*/bin/pg_ctl found"
fi

ready() { "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2; }

if ready; then
  # Per contract anything answering on the port is reused; say so if it is not our cluster.
  [[ -f "$DATA/postmaster.pid" ]] || log "note: port $PG_PORT is served by a server outside $DATA; reusing it"
  echo "$URL"
  exit 0
fi

# Server processes must not run as root: as root, act as the `postgres` OS user.
if [[ "$(id -u)" == 0 ]]; then
  as_pg() { runuser -u postgres -- "$@"; }
  mkdir -p "$PG_DIR"
  chown postgres:postgres "$PG_DIR"
else
  as_pg() { "$@"; }
  mkdir -p "$PG_DIR"
fi
as_pg test -w "$PG_DIR" || die "$PG_DIR is not writable by $(as_pg id -un) (pick another HRP_PG_DIR)"

if [[ ! -s "$DATA/PG_VERSION" ]]; then
  log "creating test cluster in $DATA"
  # initdb into a scratch dir, then rename: an interrupted init never looks like a usable cluster.
  as_pg rm -rf "$DATA.tmp"
  as_pg "$BIN/initdb" -D "$DATA.tmp" -U postgres --auth=trust -E UTF8 --no-locale >"$PG_DIR/initdb.log" 2>&1 \
    || { tail -n 20 "$PG_DIR/initdb.log" >&2; die "initdb failed (full log: $PG_DIR/initdb.log)"; }
  as_pg tee "$DATA.tmp/pg_hba.conf" >/dev/null <<'EOF'
# Throwaway test cluster: trust local socket and loopback only.
local all all              trust
host  all all 127.0.0.1/32 trust
EOF
  # Durability off: data is disposable and tests run much faster without fsyncs.
  as_pg tee -a "$DATA.tmp/postgresql.conf" >/dev/null <<EOF

# --- ensure-postgres.sh (throwaway test cluster) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_DIR'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  as_pg mv "$DATA.tmp" "$DATA"
fi

# pg_ctl status: 0 = running (maybe still starting up), 3 = not running (a stale pid file is handled by postgres).
if ! as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  log "starting test cluster on 127.0.0.1:$PG_PORT (log: $LOG)"
  # Port on the command line so a changed HRP_PG_PORT applies to an existing data dir.
  # -w -t 30: pg_ctl waits for startup and fails early if the postmaster dies (port taken, bad config).
  as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -o "-p $PG_PORT" -w -t 30 start >/dev/null 2>&1 \
    || { tail -n 20 "$LOG" >&2 || true; die "PostgreSQL in $DATA failed to start within 30 s on 127.0.0.1:$PG_PORT"; }
else
  # Running but not answering: either still starting, or started earlier with another port.
  running_port="$(sed -n 4p "$DATA/postmaster.pid" 2>/dev/null || true)"
  [[ -z "$running_port" || "$running_port" == "$PG_PORT" ]] \
    || die "cluster in $DATA is running on port $running_port, not $PG_PORT (stop it: pg_ctl -D $DATA stop)"
fi

deadline=$((SECONDS + 30))
while ((SECONDS < deadline)); do
  ready && { echo "$URL"; exit 0; }
  sleep 0.5
done
tail -n 20 "$LOG" >&2 || true
die "PostgreSQL in $DATA did not accept connections on 127.0.0.1:$PG_PORT within 30 s"
