#!/usr/bin/env bash
# System packages the test suite needs: a PostgreSQL server (tests start their own throwaway cluster).
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing PostgreSQL (Debian package postgresql) for the database tests"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
else
  echo "warning: no PostgreSQL server found; install it (e.g. 'sudo apt-get install postgresql') or set" \
       "CODER_TEST_POSTGRES_URL, else the PostgreSQL tests are skipped" >&2
fi
