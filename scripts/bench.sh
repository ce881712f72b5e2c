#!/usr/bin/env bash
# The benchmark of BENCHMARKS.md: load N generated tickets, then drive the HTTP API with C
# concurrent clients (create, queue page, full-text search), on SQLite or PostgreSQL.
#   scripts/bench.sh sqlite [N] [C]      scripts/bench.sh postgres [N] [C]
# Uses release builds; the server binds 127.0.0.1:18181. Not part of the test suite.
# REUSE=1 measures again on the database the last run loaded (no new seeding);
# CLIENTS_LIST="1 16" runs the read scenarios at each client count.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite}; tickets=${2:-1000000}; clients=${3:-16}; duration=${DURATION:-30}
work=${BENCH_DIR:-/tmp/steward-bench}; bind=127.0.0.1:18181
mkdir -p "$work"
reuse=${REUSE:-0}
case "$backend" in
  sqlite)
    [ "$reuse" = 1 ] || rm -f "$work"/bench.db*
    db="sqlite://$work/bench.db" ;;
  postgres)
    if [ "$reuse" != 1 ]; then
      psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS steward_bench WITH (FORCE)" -c "CREATE DATABASE steward_bench"
    fi
    db="postgres://postgres@127.0.0.1:5432/steward_bench" ;;
  *) echo "usage: $0 sqlite|postgres [tickets] [clients]" >&2; exit 2 ;;
esac
cargo build --release -q -p steward-server -p steward-bench
bin=target/release/steward; load=target/release/steward-bench
export STEWARD_DATABASE_URL=$db STEWARD_DATA_DIR=$work/data STEWARD_LOG=warn

if [ "$reuse" != 1 ]; then
  # Demo users and teams (the demo serves; stop it once it is up).
  $bin demo --bind $bind > "$work/demo.log" 2>&1 &
  pid=$!
  until curl -sf "http://$bind/healthz" >/dev/null; do sleep 1; done
  kill -TERM $pid; wait $pid || true

  echo "== seeding $tickets tickets ($backend)"
  start=$(date +%s)
  $bin seed --tickets "$tickets" --concurrency 64
  echo "seeded in $(( $(date +%s) - start )) s"
  if [ "$backend" = postgres ]; then psql -q -h 127.0.0.1 -U postgres -d steward_bench -c "VACUUM ANALYZE"; fi
fi

token=$($bin token create --email admin@example.com --name bench | tail -1)
$bin serve --bind $bind > "$work/serve.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
until curl -sf "http://$bind/readyz" >/dev/null; do sleep 1; done
for scenario in queue search; do
  for c in ${CLIENTS_LIST:-$clients}; do
    echo "== $scenario, $c clients, ${duration}s"
    $load --url "http://$bind" --token "$token" --scenario $scenario --clients "$c" \
          --duration "$duration" --warmup 3 --server-pid $pid
  done
done
echo "== create, $clients clients, ${duration}s"
$load --url "http://$bind" --token "$token" --scenario create --clients "$clients" \
      --duration "$duration" --warmup 3 --server-pid $pid
