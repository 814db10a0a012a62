# hack/lib/postgres.sh - start and stop a throwaway PostgreSQL server.
# Sourced by hack/local-up.sh and the end-to-end tests.
#
#   pg_start DIR      initdb + start in DIR on 127.0.0.1 and a free port;
#                     sets PG_PORT, PG_DIR, PG_SUPERPASS (password of the
#                     "postgres" superuser). PostgreSQL refuses to run as
#                     root, so as root it runs as the user "paybill"
#                     (created by hack/deps.sh).
#   pg_stop DIR       fast shutdown.
#   pg_psql SQL...    run SQL as the superuser (needs PG_PORT, PG_SUPERPASS).

pg_bin() {
  local b
  for b in "$(command -v "$1" 2>/dev/null)" /usr/local/bin/"$1" /usr/lib/postgresql/*/bin/"$1"; do
    [ -n "$b" ] && [ -x "$b" ] && { echo "$b"; return 0; }
  done
  echo "postgres: $1 not found (install postgresql-15 or run hack/deps.sh)" >&2
  return 1
}

pg_as() { # run a command as the unprivileged PostgreSQL user when root
  if [ "$(id -u)" -eq 0 ]; then runuser -u paybill -- "$@"; else "$@"; fi
}

pg_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null \
    || shuf -i 20000-60000 -n 1
}

pg_start() {
  PG_DIR=$1
  local initdb pgctl
  initdb=$(pg_bin initdb) && pgctl=$(pg_bin pg_ctl) || return 1
  mkdir -p "$PG_DIR"
  [ "$(id -u)" -eq 0 ] && chown paybill "$PG_DIR"
  if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
    PG_SUPERPASS=$(openssl rand -hex 16)
    printf '%s' "$PG_SUPERPASS" >"$PG_DIR/superpass"
    chmod 600 "$PG_DIR/superpass"
    [ "$(id -u)" -eq 0 ] && chown paybill "$PG_DIR/superpass"
    pg_as "$initdb" -D "$PG_DIR/data" -U postgres --auth=scram-sha-256 \
      --pwfile="$PG_DIR/superpass" -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 \
      || { echo "postgres: initdb failed, see $PG_DIR/initdb.log" >&2; return 1; }
  fi
  PG_SUPERPASS=$(cat "$PG_DIR/superpass")
  PG_PORT=$(cat "$PG_DIR/port" 2>/dev/null || pg_free_port)
  echo "$PG_PORT" >"$PG_DIR/port"
  if ! pg_as "$pgctl" -D "$PG_DIR/data" status >/dev/null 2>&1; then
    pg_as "$pgctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 start \
      -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories='$PG_DIR' -c fsync=off -c max_connections=200" \
      >/dev/null || { echo "postgres: start failed, see $PG_DIR/server.log" >&2; return 1; }
  fi
  export PG_DIR PG_PORT PG_SUPERPASS
}

pg_stop() {
  local pgctl
  pgctl=$(pg_bin pg_ctl) || return 0
  if [ -f "$1/data/PG_VERSION" ]; then
    pg_as "$pgctl" -D "$1/data" -m fast -w stop >/dev/null 2>&1 || true # already stopped is fine
  fi
  return 0
}

pg_psql() {
  PGPASSWORD=$PG_SUPERPASS "$(pg_bin psql)" -h 127.0.0.1 -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qAt "$@"
}
