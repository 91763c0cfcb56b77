# Starts a throwaway PostgreSQL cluster (initdb into a temp dir, a free port) and exports
# DESCOBERTA_TEST_POSTGRES_URL. The cluster is stopped and deleted when the calling shell exits.
# Usage: source scripts/lib/postgres.sh; start_throwaway_postgres

find_pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Runs a command as the postgres user when we are root (initdb refuses to run as root).
as_pg_user() {
  if [ "$(id -u)" = "0" ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

stop_throwaway_postgres() {
  if [ -n "${PG_TMP_DIR:-}" ] && [ -d "$PG_TMP_DIR" ]; then
    as_pg_user "$PG_BIN/pg_ctl" -D "$PG_TMP_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_TMP_DIR"
  fi
}

start_throwaway_postgres() {
  PG_BIN=$(find_pg_bin) || {
    echo "PostgreSQL server binaries not found; installing postgresql with apt-get" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    PG_BIN=$(find_pg_bin) || { echo "could not install PostgreSQL" >&2; return 1; }
  }
  if [ "$(id -u)" = "0" ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --no-create-home postgres
  fi
  PG_TMP_DIR=$(mktemp -d /tmp/descoberta-pg.XXXXXX)
  chmod 755 "$PG_TMP_DIR"
  [ "$(id -u)" = "0" ] && chown postgres "$PG_TMP_DIR"
  PG_PORT=$(free_port)
  as_pg_user "$PG_BIN/initdb" -D "$PG_TMP_DIR/data" -A trust -U postgres -E UTF8 >"$PG_TMP_DIR/initdb.log" 2>&1 || {
    cat "$PG_TMP_DIR/initdb.log" >&2; return 1; }
  as_pg_user "$PG_BIN/pg_ctl" -D "$PG_TMP_DIR/data" -l "$PG_TMP_DIR/server.log" -w \
    -o "-p $PG_PORT -k $PG_TMP_DIR -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null || { cat "$PG_TMP_DIR/server.log" >&2; return 1; }
  export PG_BIN PG_TMP_DIR PG_PORT
  export DESCOBERTA_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  trap stop_throwaway_postgres EXIT
  echo "throwaway PostgreSQL on port $PG_PORT ($PG_BIN)" >&2
}
