#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and property tests, the API suite on SQLite
# and on PostgreSQL, the permission matrix, the CLI and the browser test. PostgreSQL must be
# reachable (default postgres://postgres@127.0.0.1:5432, override with STEWARD_TEST_PG);
# its tests are never skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if ! (echo > /dev/tcp/127.0.0.1/5432) 2>/dev/null && [ -z "${STEWARD_TEST_PG:-}" ]; then
  echo "PostgreSQL is not reachable at 127.0.0.1:5432; the suite needs it." >&2
  exit 1
fi
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo nextest run --workspace --no-fail-fast --test-threads 4
