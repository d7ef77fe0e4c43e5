#!/usr/bin/env bash
# A throwaway PostgreSQL server for the hub tests (tests/test_hub*.py).
#
#   eval "$(bash .ci/postgres.sh start)"   # install if missing, start, export the test variables
#   .venv/bin/python -m pytest -q           # the PostgreSQL scenarios now run instead of skipping
#   bash .ci/postgres.sh stop               # stop it and delete its files ($LLMCARDS_TEST_PG_DIR)
#
# `start` prints shell `export` lines on stdout (everything else goes to stderr):
#   LLMCARDS_TEST_PG_URL       postgresql+psycopg://llmcards@127.0.0.1:PORT/llmcards_test (no password)
#   LLMCARDS_TEST_PG_PASSWORD  the password of that user (random, made now)
#   LLMCARDS_TEST_PG_DIR       the cluster's directory, for `stop`
# The cluster listens on a free port of 127.0.0.1 only. Its socket connections are trusted (for the
# admin user); TCP connections need the password (scram-sha-256), so a wrong password really fails.
# As root the server runs as the `postgres` user (PostgreSQL refuses to run as root), and
# PostgreSQL is installed with apt-get when it is missing.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

find_bindir() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
  done
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"; return 0
  fi
  return 1
}

as_owner() {  # run a command as the cluster's owner
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  local bindir
  if ! bindir=$(find_bindir); then
    if [ "$(id -u)" != 0 ]; then
      log "PostgreSQL is not installed, and installing it needs root (apt-get install -y postgresql)"
      exit 1
    fi
    log "installing PostgreSQL (apt-get install -y postgresql)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    bindir=$(find_bindir)
  fi
  local dir port password
  dir=$(mktemp -d /tmp/llmcards-pg.XXXXXX)
  chmod 755 "$dir"
  mkdir "$dir/data" "$dir/socket"
  if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$dir"; fi
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
  as_owner "$bindir/initdb" -D "$dir/data" -A trust -U postgres --no-sync >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2; exit 1; }
  cat >"$dir/data/pg_hba.conf" <<EOF
local   all  all                 trust
host    all  all  127.0.0.1/32   scram-sha-256
host    all  all  ::1/128        scram-sha-256
EOF
  as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-p $port -k $dir/socket -c listen_addresses=127.0.0.1 -c password_encryption=scram-sha-256" \
    start >&2
  local psql=("$bindir/psql" -v ON_ERROR_STOP=1 -q -h "$dir/socket" -p "$port" -U postgres -d postgres)
  as_owner "${psql[@]}" -c "CREATE ROLE llmcards LOGIN PASSWORD '$password'" >&2
  as_owner "${psql[@]}" -c "CREATE DATABASE llmcards_test OWNER llmcards" >&2
  log "PostgreSQL $("$bindir/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port, files in $dir"
  echo "export LLMCARDS_TEST_PG_URL='postgresql+psycopg://llmcards@127.0.0.1:$port/llmcards_test'"
  echo "export LLMCARDS_TEST_PG_PASSWORD='$password'"
  echo "export LLMCARDS_TEST_PG_DIR='$dir'"
}

stop() {
  local dir=${1:-${LLMCARDS_TEST_PG_DIR:-}}
  if [ -z "$dir" ] || [ ! -d "$dir/data" ]; then
    log "no cluster to stop (give its directory, or set LLMCARDS_TEST_PG_DIR)"
    exit 1
  fi
  local bindir
  bindir=$(find_bindir)
  as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >&2 || true
  rm -rf "$dir"
  log "stopped and removed $dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:-}" ;;
  *) echo "usage: bash .ci/postgres.sh start | stop [DIR]" >&2; exit 2 ;;
esac
