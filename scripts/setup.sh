#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: Chromium and its WebDriver
# for the browser test, Dovecot for the IMAP tests, and aiosmtpd (a small SMTP receiver) for
# the outbound mail tests. Rust (with cargo-nextest) and PostgreSQL are provided by the machine.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
# A real IMAP server for the mail intake tests (started by the tests themselves on loopback).
command -v dovecot >/dev/null 2>&1 || need+=(dovecot-imapd)
# A Chinese font, so that screenshots under target/screenshots are legible.
[ -n "$(fc-list :lang=zh 2>/dev/null)" ] || need+=(fonts-wqy-microhei)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi
if ! command -v cargo-nextest >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi
# The SMTP receiver the outbound mail tests send to.
python3 -c "import aiosmtpd" 2>/dev/null || python3 -m pip install --quiet aiosmtpd
# Python's icalendar reads the change calendar feed in the changes tests.
python3 -c "import icalendar" 2>/dev/null || python3 -m pip install --quiet icalendar
