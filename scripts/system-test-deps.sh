#!/usr/bin/env bash
# System packages the test suite needs: a PostgreSQL server (the tests start their own throwaway
# cluster), ffmpeg (mp3/m4a decoding tests), espeak-ng and sox (synthesised voices in the diarisation tests),
# chromium (the browser tests drive Debian's Chromium through Playwright), redis-server (the job queue's Redis backend).
set -euo pipefail
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v sox >/dev/null 2>&1 || missing+=(sox)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} (Debian packages) for the tests"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "warning: missing ${missing[*]}; install them (e.g. 'sudo apt-get install ${missing[*]}')," \
       "else the tests that need them are skipped (and fail under CI)" >&2
fi
