#!/usr/bin/env bash
# The change calendar benchmark of BENCHMARKS.md (issue 5): the month view
# (/changes/calendar?view=month) of a month holding N scheduled changes (default 5000, on 10
# services, windows of 1-4 hours spread over the month, so many overlap and conflict), rendered
# by `steward serve` and fetched with curl as a signed-in change manager. Prints the median and
# the 95th percentile of 50 fetches after 5 warm-up fetches.
#   scripts/bench-calendar.sh [sqlite|postgres|both] [N]
# Needs sqlite3 / psql and PostgreSQL at 127.0.0.1:5432 (user postgres). Release build;
# STEWARD_BIN=path/to/steward skips the build. Not part of the test suite; everything it makes
# is removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
backends=${1:-both}; n=${2:-5000}
case "$backends" in
  both) backends="sqlite postgres" ;;
  sqlite|postgres) ;;
  *) echo "usage: $0 [sqlite|postgres|both] [N]" >&2; exit 2 ;;
esac
work=$(mktemp -d /tmp/steward-bench-calendar.XXXXXX)
pg_db=steward_bench_calendar
server=
psql_admin() { PGOPTIONS="-c client_min_messages=warning" psql -q -h 127.0.0.1 -U postgres "$@"; }
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  rm -rf "$work"
  case " $backends " in *" postgres "*) psql_admin -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" ;; esac
}
trap cleanup EXIT

bin=${STEWARD_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release -q --bin steward
  bin=${CARGO_TARGET_DIR:-target}/release/steward
fi

# The first of next month (UTC), so that every change is in the future and in one month.
month=$(date -u -d "$(date -u +%Y-%m-01) +1 month" +%Y-%m-01)
month_us=$(( $(date -u -d "$month" +%s) * 1000000 ))
hour=3600000000

# Portable SQL: a recursive CTE of N rows, run by sqlite3 or psql.
seed_sql() {
  cat <<SQL
INSERT INTO services (code, name_zh, name_en, description_zh, description_en, lifecycle, version, created_at, updated_at)
  SELECT 'SVC' || k, '服务' || k, 'Service ' || k, '', '', 'live', 1, 0, 0 FROM
  (WITH RECURSIVE s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < 10) SELECT k FROM s) t;
INSERT INTO changes (number, change_type, title, reason, description, status, requester_id, risk,
  implementation_plan, test_plan, backout_plan, planned_start, planned_end, cab_quorum,
  review_required, version, created_at, updated_at)
  SELECT 'CHG-' || k, 'normal', 'Bench change ' || k, '', '', 'scheduled',
    (SELECT id FROM users WHERE email = 'cm@bench.example.com'), 'low', '', '', '',
    $month_us + (k * 7919 % (27 * 24)) * $hour, $month_us + (k * 7919 % (27 * 24) + 1 + k % 4) * $hour,
    2, 0, 1, 0, 0 FROM
  (WITH RECURSIVE s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < $n) SELECT k FROM s) t;
INSERT INTO change_services (change_id, service_id)
  SELECT c.id, (SELECT min(id) FROM services) + c.id % 10 FROM changes c;
SQL
}

for backend in $backends; do
  data="$work/$backend"; mkdir -p "$data"
  case "$backend" in
    sqlite) url="sqlite://$data/bench.db" ;;
    postgres)
      psql_admin -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)"
      psql_admin -c "CREATE DATABASE $pg_db"
      url="postgres://postgres@127.0.0.1:5432/$pg_db" ;;
  esac
  STEWARD_LOG=warn "$bin" --db "$url" migrate >/dev/null
  echo 'Bench-Calendar-Secret-42' | STEWARD_LOG=warn "$bin" --db "$url" user add \
    --email cm@bench.example.com --name cm --role change_manager >/dev/null
  case "$backend" in
    sqlite) seed_sql | sqlite3 "$data/bench.db" ;;
    postgres) seed_sql | psql_admin -d "$pg_db" >/dev/null ;;
  esac
  port=$(( 20000 + RANDOM % 20000 ))
  STEWARD_LOG=error "$bin" --db "$url" --data-dir "$data" serve --bind "127.0.0.1:$port" &
  server=$!
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.2; done
  jar="$data/cookies"
  curl -s -o /dev/null -c "$jar" -H "Origin: http://127.0.0.1:$port" \
    --data-urlencode email=cm@bench.example.com --data-urlencode password=Bench-Calendar-Secret-42 \
    --data-urlencode next=/ "http://127.0.0.1:$port/login"
  page="http://127.0.0.1:$port/changes/calendar?view=month&date=$month"
  size=$(curl -s -b "$jar" "$page" | wc -c)
  for _ in 1 2 3 4 5; do curl -s -o /dev/null -b "$jar" "$page"; done
  times=$(for _ in $(seq 50); do curl -s -o /dev/null -b "$jar" -w '%{time_total}\n' "$page"; done | sort -n)
  median=$(echo "$times" | sed -n 25p); p95=$(echo "$times" | sed -n 48p)
  printf '%-8s %d changes: month view %d bytes, median %.1f ms, p95 %.1f ms\n' \
    "$backend" "$n" "$size" "$(echo "$median * 1000" | bc -l)" "$(echo "$p95 * 1000" | bc -l)"
  kill "$server"; wait "$server" 2>/dev/null || true; server=
done
