#!/usr/bin/env bash
# The IMAP drain benchmark of BENCHMARKS.md (issue 4): a real Dovecot on loopback (implicit TLS,
# a test CA) with a maildir of N typical messages (a few KB each, a third in Chinese), drained
# by Steward's poller into a fresh database, timed.
#   scripts/bench-imap.sh [sqlite|postgres|both] [N] [--no-intake]
# Defaults: both, 10000, through the real intake. --no-intake hands each message to a no-op
# instead, which measures the IMAP side alone. Needs root (Dovecot runs its mail processes as
# the dovecot user), dovecot-imapd and openssl (scripts/setup.sh), PostgreSQL at 127.0.0.1:5432
# (user postgres). Release build; STEWARD_BIN=path/to/steward skips the build.
# Not part of the test suite. Everything it makes is removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
backends=${1:-both}; messages=${2:-10000}; intake=${3:-}
case "$backends" in
  both) backends="sqlite postgres" ;;
  sqlite|postgres) ;;
  *) echo "usage: $0 [sqlite|postgres|both] [messages] [--no-intake]" >&2; exit 2 ;;
esac
case "$intake" in ""|--no-intake) ;; *) echo "unknown option $intake" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "run as root: Dovecot must switch to its own users" >&2; exit 2; }
command -v dovecot >/dev/null || { echo "dovecot is not installed (dovecot-imapd)" >&2; exit 2; }

work=$(mktemp -d /tmp/steward-bench-imap.XXXXXX)
chmod 755 "$work"
pg_db=steward_bench_imap
dovecot_pid=
psql_admin() { PGOPTIONS="-c client_min_messages=warning" psql -q -h 127.0.0.1 -U postgres "$@"; }
stop_dovecot() {
  if [ -n "$dovecot_pid" ]; then
    kill "$dovecot_pid" 2>/dev/null || true
    wait "$dovecot_pid" 2>/dev/null || true
    dovecot_pid=
  fi
}
cleanup() {
  stop_dovecot
  rm -rf "$work"
  case " $backends " in *" postgres "*) psql_admin -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" ;; esac
}
trap cleanup EXIT

bin=${STEWARD_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release -q --bin steward
  bin=${CARGO_TARGET_DIR:-target}/release/steward
fi

# A test CA and a server certificate for 127.0.0.1; the poller trusts the CA.
mkdir "$work/tls"
(
  cd "$work/tls"
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' >server.ext
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=Steward-bench-CA -keyout ca.key -out ca.pem 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout key.pem -out server.csr 2>/dev/null
  openssl x509 -req -days 2 -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -extfile server.ext -out cert.pem 2>/dev/null
)
export STEWARD_EXTRA_CA_FILE="$work/tls/ca.pem"

port=$(( 20000 + RANDOM % 20000 ))
password=bench-Imap-Secret
printf 'steward:{PLAIN}%s\n' "$password" >"$work/passwd"
cat >"$work/dovecot.conf" <<EOF
first_valid_uid = 1
base_dir = $work/run
state_dir = $work/state
log_path = $work/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <$work/tls/cert.pem
ssl_key = <$work/tls/key.pem
default_login_user = dovenull
default_internal_user = dovecot
mail_location = maildir:$work/home/Maildir
passdb {
  driver = passwd-file
  args = $work/passwd
}
userdb {
  driver = static
  args = uid=dovecot gid=dovecot home=$work/home
}
service imap-login {
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $port
    ssl = yes
  }
}
EOF

# N messages straight into the maildir, as a delivery agent leaves them.
fill_maildir() {
  rm -rf "$work/home"
  mkdir -p "$work/home/Maildir/cur" "$work/home/Maildir/new" "$work/home/Maildir/tmp"
  local zh_subject
  zh_subject="=?UTF-8?B?$(printf '%s' '打印机无法连接网络' | base64 -w0)?="
  awk -v n="$messages" -v dir="$work/home/Maildir/new" -v zh="$zh_subject" -v now="$(date +%s)" '
    BEGIN {
      en = "The printer on the third floor stopped printing this morning. It shows a paper jam but there is no paper stuck inside. We restarted it twice and checked the tray. Please send someone to look at it, the whole team depends on it for the contracts due this week.";
      cn = "您好，三楼的打印机今天早上无法打印，显示卡纸但里面没有纸。我们已经重启了两次并检查了纸盒。请派人来看一下，整个团队本周的合同都要靠它打印。谢谢！";
      for (i = 1; i <= n; i++) {
        f = sprintf("%s/%d.M%dP1.bench", dir, now, i);
        chinese = (i % 3 == 0);
        printf "From: User %d <user%d@example.com>\n", i % 500, i % 500 > f;
        printf "To: bench-imap@steward.invalid\n" > f;
        if (chinese) printf "Subject: %s %d\n", zh, i > f;
        else printf "Subject: Printer on floor 3 (request %d)\n", i > f;
        printf "Message-ID: <bench-%d-%d@example.com>\n", now, i > f;
        printf "Date: Wed, 25 Nov 2026 10:00:00 +0800\n" > f;
        printf "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" > f;
        for (p = 0; p < 12; p++) print (chinese ? cn : en) > f;
        close(f);
      }
    }'
  chown -R dovecot:dovecot "$work/home"
}

start_dovecot() {
  dovecot -F -c "$work/dovecot.conf" &
  dovecot_pid=$!
  for _ in $(seq 1 500); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.02
  done
  echo "dovecot did not start:" >&2; cat "$work/dovecot.log" >&2; exit 1
}

for backend in $backends; do
  case "$backend" in
    sqlite) db="sqlite://$work/imap.db"; rm -f "$work"/imap.db* ;;
    postgres)
      psql_admin -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" -c "CREATE DATABASE $pg_db"
      db="postgres://postgres@127.0.0.1:5432/$pg_db" ;;
  esac
  fill_maildir
  start_dovecot
  # Index the folder first, as a delivery agent (LMTP, dovecot-lda) would have.
  doveadm -c "$work/dovecot.conf" mailbox status -u steward messages INBOX
  rm -rf "$work/data"
  STEWARD_BENCH_IMAP_PASSWORD=$password STEWARD_LOG=warn "$bin" --db "$db" --data-dir "$work/data" \
    bench-imap --port "$port" --username steward $intake
  left=$(doveadm -c "$work/dovecot.conf" mailbox status -u steward messages INBOX)
  done_count=$(doveadm -c "$work/dovecot.conf" mailbox status -u steward messages Processed)
  echo "  Dovecot after the drain: $left; $done_count"
  stop_dovecot
done
