# Start a throw-away PostgreSQL cluster on 127.0.0.1 and export LEADSCORE_TEST_POSTGRES_URL for the store tests.
# Sourced by .ci/run; also usable by hand: `source .ci/postgres.sh && start_postgres /usr/lib/postgresql/15/bin`.
start_postgres() {
  local bin="$1" port="${LEADSCORE_PG_PORT:-}" dir
  # A free loopback port unless one is given, so a cluster left running elsewhere cannot block this one.
  [ -n "$port" ] || port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  dir=$(mktemp -d /tmp/leadscore-pg.XXXXXX)
  local run_as=()
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$dir"
    run_as=(runuser -u postgres --)
  fi
  "${run_as[@]}" "$bin/initdb" -D "$dir/data" -U leadscore --auth=trust >/dev/null || return 1
  "${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir" start >/dev/null || return 1
  "$bin/createdb" -h 127.0.0.1 -p "$port" -U leadscore leadscore_test || return 1
  export LEADSCORE_TEST_POSTGRES_URL="postgresql+psycopg://leadscore@127.0.0.1:$port/leadscore_test"
  echo "ci: PostgreSQL running at 127.0.0.1:$port"
}
