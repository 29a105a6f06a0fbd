#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests and benchmarks: 127.0.0.1 only, a free port, trust auth.
#   scripts/pg-test-server.sh check          exit 0 when PostgreSQL is installed, 3 when not
#   scripts/pg-test-server.sh install        install the Debian package when initdb is missing (root, apt)
#   scripts/pg-test-server.sh start DIR      create a cluster in DIR, start it, print its postgresql:// URL
#   scripts/pg-test-server.sh stop DIR       stop it and remove DIR
# The cluster runs with fsync off (tests need no durability); PG_FSYNC=on gives benchmarks a durable one.
# PostgreSQL refuses to run as root: as root the cluster belongs to the "postgres" user the package creates.
set -euo pipefail

find_bin() {
  if [ -n "${PG_BIN:-}" ]; then  # a given folder only (also how a test plays "PostgreSQL is not installed")
    [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] && echo "$PG_BIN" && return 0
    return 1
  fi
  if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v pg_ctl)"; return 0
  fi
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
  done
  return 1
}

as_owner() {  # run a command as the cluster's owner
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

case "${1:-}" in
  check)
    find_bin >/dev/null || exit 3
    ;;
  install)
    if find_bin >/dev/null; then echo "[pg] PostgreSQL found in $(find_bin)"; exit 0; fi
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
      echo "[pg] PostgreSQL is not installed; install the postgresql package (Debian/Ubuntu: apt-get install postgresql)" >&2
      exit 1
    fi
    echo "[pg] installing PostgreSQL from the Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    # The package starts a system cluster on port 5432; the tests use their own, so stop it.
    if command -v pg_ctlcluster >/dev/null; then
      for c in $(ls /etc/postgresql 2>/dev/null); do pg_ctlcluster "$c" main stop 2>/dev/null || true; done
    fi
    echo "[pg] installed: $(find_bin)"
    ;;
  start)
    dir=${2:?usage: $0 start DIR}
    bin=$(find_bin) || { echo "[pg] PostgreSQL not available (initdb/pg_ctl not found)" >&2; exit 3; }
    port=$(free_port)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; chmod 700 "$dir"; fi
    as_owner "$bin/initdb" -D "$dir/data" -U bot --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
      -o "-h 127.0.0.1 -p $port -k $dir -c fsync=${PG_FSYNC:-off} -c full_page_writes=${PG_FSYNC:-off} -c max_connections=200" start >/dev/null \
      || { cat "$dir/server.log" >&2; exit 1; }
    echo "$port" >"$dir/port"
    echo "postgresql://bot@127.0.0.1:$port/postgres"
    ;;
  stop)
    dir=${2:?usage: $0 stop DIR}
    if bin=$(find_bin) && [ -d "$dir/data" ]; then
      as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  restart)
    dir=${2:?usage: $0 restart DIR}
    bin=$(find_bin)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w restart >/dev/null
    ;;
  *)
    echo "usage: $0 check | install | start DIR | stop DIR | restart DIR" >&2; exit 2 ;;
esac
