#!/usr/bin/env bash
# The escalation sweep benchmark of BENCHMARKS.md (issue 3): a fresh database, set-based fixtures
# (N tickets, O open with two running SLA clocks each, D clocks due), then two sweeps.
#   scripts/bench-sweep.sh sqlite [N] [O] [D]      scripts/bench-sweep.sh postgres [N] [O] [D]
# Release build; PostgreSQL at 127.0.0.1:5432 (user postgres). The database is removed afterwards.
# STEWARD_BIN=path/to/steward skips the build. Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite}; tickets=${2:-1000000}; open=${3:-100000}; due=${4:-1000}
work=$(mktemp -d /tmp/steward-bench-sweep.XXXXXX)
pg_db=steward_bench_sweep
cleanup() {
  rm -rf "$work"
  if [ "$backend" = postgres ]; then
    PGOPTIONS="-c client_min_messages=warning" psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)"
  fi
}
case "$backend" in
  sqlite) db="sqlite://$work/sweep.db" ;;
  postgres)
    PGOPTIONS="-c client_min_messages=warning" psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" -c "CREATE DATABASE $pg_db"
    db="postgres://postgres@127.0.0.1:5432/$pg_db" ;;
  *) echo "usage: $0 sqlite|postgres [tickets] [open] [due]" >&2; exit 2 ;;
esac
trap cleanup EXIT
bin=${STEWARD_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release -q --bin steward
  bin=${CARGO_TARGET_DIR:-target}/release/steward
fi
STEWARD_LOG=warn "$bin" --db "$db" --data-dir "$work/data" bench-sweep \
  --tickets "$tickets" --open "$open" --due "$due"
