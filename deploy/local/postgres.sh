#!/usr/bin/env bash
# A private PostgreSQL server for tests and the demo, from Debian's postgresql package.
#   deploy/local/postgres.sh start|stop|status|url|where|remove (where: its data directory;
#   remove: stop, then delete it)
# State in HITL_POSTGRES_DATA (.local/postgres, owned by the postgres user); port
# HITL_POSTGRES_PORT (55432); trust authentication on 127.0.0.1 only: a local test server, never
# a production one.
#
# Run as root, the server runs as the postgres user, which must reach its data directory. A
# directory out of its reach (a clone in a private folder, mode 700, e.g. under /root, or a
# test's private temporary folder) is kept instead under /var/tmp/hitl-postgres/, one directory
# per requested path, so start, stop and url agree. `where` prints it; `remove` stops the server
# and deletes it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
port="${HITL_POSTGRES_PORT:-55432}"
log() { echo "postgres.sh: $*" >&2; }

reachable_by_postgres() {  # can the postgres user get to $1 (its nearest existing folder)?
  local dir=$1
  while [[ ! -e "$dir" ]]; do dir=$(dirname "$dir"); done
  runuser -u postgres -- test -x "$dir" 2>/dev/null
}

data_dir() {
  local wanted="${HITL_POSTGRES_DATA:-$root/.local/postgres}"
  if [[ $(id -u) -eq 0 ]] && ! reachable_by_postgres "$wanted"; then
    echo "/var/tmp/hitl-postgres/$(echo -n "$wanted" | sha256sum | cut -c1-16)"
  else
    echo "$wanted"
  fi
}
data=$(data_dir)

bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n "$dir" ]] || { log "PostgreSQL is not installed: apt-get install postgresql"; exit 1; }
  echo "$dir"
}

as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

url() { echo "postgresql+asyncpg://hitl@127.0.0.1:$port/hitl"; }

running() { as_postgres "$(bindir)/pg_ctl" -D "$data" status >/dev/null 2>&1; }

start() {
  local bin
  bin=$(bindir)
  if running; then log "already running on 127.0.0.1:$port"; return 0; fi
  if [[ ! -f "$data/PG_VERSION" ]]; then
    mkdir -p "$data"
    if [[ $(id -u) -eq 0 ]]; then
      chown -R postgres:postgres "$data"
      runuser -u postgres -- test -w "$data" || {
        log "the postgres user cannot write $data (a parent folder is private?); set HITL_POSTGRES_DATA to a folder it can reach"
        exit 1
      }
    fi
    as_postgres "$bin/initdb" -D "$data" -U hitl --auth=trust -E UTF8 >/dev/null
  fi
  as_postgres "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
    -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off" start >/dev/null
  as_postgres "$bin/psql" -h 127.0.0.1 -p "$port" -U hitl -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='hitl'" | grep -q 1 \
    || as_postgres "$bin/createdb" -h 127.0.0.1 -p "$port" -U hitl hitl
  log "ready: $(url)"
}

stop() {
  if running; then as_postgres "$(bindir)/pg_ctl" -D "$data" -m fast -w stop >/dev/null; log "stopped"
  else log "not running"; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running on 127.0.0.1:$port"; else echo "not running"; exit 3; fi ;;
  url) url ;;
  where) echo "$data" ;;
  remove) stop; rm -rf "$data"; log "removed $data" ;;
  *) echo "usage: $0 start|stop|status|url|where|remove" >&2; exit 2 ;;
esac
