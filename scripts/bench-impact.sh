#!/usr/bin/env bash
# The CMDB impact benchmark of BENCHMARKS.md (issue 5): a fresh database, a layered CMDB of
# 100,000 CIs and 500,000 relationships loaded with set-based SQL, then Q impact analyses to
# depth D on CIs picked at random.
#   scripts/bench-impact.sh [sqlite|postgres|both] [Q] [D]
# Defaults: both, 1000, 5. Release build; PostgreSQL at 127.0.0.1:5432 (user postgres). The
# databases are removed afterwards. STEWARD_BIN=path/to/steward skips the build. Not part of the
# test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
backends=${1:-both}; queries=${2:-1000}; depth=${3:-5}
case "$backends" in
  both) backends="sqlite postgres" ;;
  sqlite|postgres) ;;
  *) echo "usage: $0 [sqlite|postgres|both] [queries] [depth]" >&2; exit 2 ;;
esac
work=$(mktemp -d /tmp/steward-bench-impact.XXXXXX)
pg_db=steward_bench_impact
psql_admin() { PGOPTIONS="-c client_min_messages=warning" psql -q -h 127.0.0.1 -U postgres "$@"; }
cleanup() {
  rm -rf "$work"
  case " $backends " in *" postgres "*) psql_admin -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" ;; esac
}
trap cleanup EXIT
bin=${STEWARD_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release -q --bin steward
  bin=${CARGO_TARGET_DIR:-target}/release/steward
fi
for backend in $backends; do
  case "$backend" in
    sqlite) db="sqlite://$work/impact.db" ;;
    postgres)
      psql_admin -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" -c "CREATE DATABASE $pg_db"
      db="postgres://postgres@127.0.0.1:5432/$pg_db" ;;
  esac
  echo "== $backend"
  STEWARD_LOG=warn "$bin" --db "$db" --data-dir "$work/data" bench-impact --queries "$queries" --depth "$depth"
done
