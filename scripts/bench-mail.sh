#!/usr/bin/env bash
# Mail intake benchmark: typical messages (a few KB; some Chinese, some with a small
# attachment) piped through `steward mailgate`, a few at a time as an MTA would, into a fresh
# SQLite database and a fresh PostgreSQL database, with `steward serve` running to process
# them. Prints messages per second for each: stored, and processed end to end.
#
#   scripts/bench-mail.sh [MESSAGES] [PARALLEL]
#
# STEWARD_BIN picks the binary (default target/debug/steward, built if missing);
# STEWARD_TEST_PG the PostgreSQL server (default postgres://postgres@127.0.0.1:5432).
set -euo pipefail

messages=${1:-1000}
parallel=${2:-4}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${STEWARD_BIN:-$root/target/debug/steward}
pg=${STEWARD_TEST_PG:-postgres://postgres@127.0.0.1:5432}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ ! -x "$bin" ]; then
    (cd "$root" && cargo build -p steward-server --bin steward)
fi

# The corpus: 100 senders (so no one trips the flood limit), every third message in Chinese
# (GBK, base64), every fifth with a 2 KB attachment.
python3 - "$work/mail" "$messages" <<'EOF'
import base64, os, sys
out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out)
para_en = ("The shared printer on the third floor stops answering after a few pages and the "
           "queue fills up. Restarting it helps for an hour. Could someone look at it?\n") * 12
para_zh = "三楼的共享打印机打印几页后就没有反应，队列一直堆积。重启后能用一个小时左右，请帮忙看看。\n" * 10
attachment = base64.encodebytes(os.urandom(2048)).decode()
for i in range(n):
    sender = f"user{i % 100}@bench.test"
    head = (f"From: User {i % 100} <{sender}>\r\nTo: help@bench.test\r\n"
            f"Message-ID: <bench-{i}@bench.test>\r\nMIME-Version: 1.0\r\n")
    if i % 3 == 0:
        subject = base64.b64encode(f"打印机故障 {i}".encode("gbk")).decode()
        body = (f"Subject: =?GBK?B?{subject}?=\r\nContent-Type: text/plain; charset=GBK\r\n"
                f"Content-Transfer-Encoding: base64\r\n\r\n"
                + base64.encodebytes(para_zh.encode("gbk")).decode())
    else:
        body = f"Subject: Printer trouble {i}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{para_en}"
    if i % 5 == 0:
        text = body.split("\r\n\r\n", 1)
        body = (text[0].split("Content-Type")[0]
                + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
                + "Content-Type" + text[0].split("Content-Type", 1)[1] + "\r\n\r\n" + text[1]
                + '\r\n--b\r\nContent-Type: application/octet-stream\r\n'
                + 'Content-Disposition: attachment; filename="log.bin"\r\n'
                + "Content-Transfer-Encoding: base64\r\n\r\n" + attachment + "--b--\r\n")
    with open(f"{out}/{i:06}.eml", "w", newline="") as f:
        f.write(head + body)
EOF

mailbox_sql="INSERT INTO mailboxes (address, name, create_requesters, unknown_sender, active, \
version, created_at, updated_at) VALUES ('help@bench.test', 'Bench', 1, 'quarantine', 1, 1, 0, 0);"

# mailgate stores and queues; a running `steward serve` (its worker) processes. The figure is
# end to end: from the first pipe until every message is processed (a ticket each).
run() {
    local label=$1 url=$2
    STEWARD_LOG=warn "$bin" --db "$url" migrate >/dev/null
    "$3" "$mailbox_sql"
    local data="$work/data-$label"
    STEWARD_LOG=error "$bin" --db "$url" --data-dir "$data" serve --bind 127.0.0.1:0 &
    local server=$!
    local start piped end
    start=$(date +%s.%N)
    find "$work/mail" -name '*.eml' -print0 | sort -z |
        xargs -0 -P "$parallel" -I{} sh -c \
            'STEWARD_LOG=error "$0" --db "$1" --data-dir "$2" mailgate --mailbox help@bench.test < "$3" >/dev/null || echo "exit $? for $3" >&2' \
            "$bin" "$url" "$data" {}
    piped=$(date +%s.%N)
    while [ "$("$3" "SELECT COUNT(*) FROM inbound_messages WHERE status = 'received';")" != 0 ]; do
        sleep 0.2
    done
    end=$(date +%s.%N)
    kill "$server"; wait "$server" 2>/dev/null || true
    python3 -c "import sys; n, s, p, e = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]); \
print(f'$label: {n} messages stored by mailgate in {p - s:.1f} s = {n / (p - s):.0f}/s ($parallel in parallel); all processed after {e - s:.1f} s = {n / (e - s):.0f} messages/s')" \
        "$messages" "$start" "$piped" "$end"
    "$3" "SELECT status, COUNT(*) FROM inbound_messages GROUP BY status;"
    "$3" "SELECT COUNT(*) AS tickets FROM tickets;"
}

sqlite_exec() { sqlite3 "$work/bench.db" "$1"; }
run sqlite "sqlite://$work/bench.db" sqlite_exec

db="steward_bench_mail_$$"
psql "$pg/postgres" -qc "CREATE DATABASE $db" >/dev/null
pg_exec() { psql "$pg/$db" -qAtc "$1"; }
run postgres "$pg/$db" pg_exec
psql "$pg/postgres" -qc "DROP DATABASE $db WITH (FORCE)" >/dev/null
