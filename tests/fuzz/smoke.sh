#!/usr/bin/env bash
# The fuzz check of CI: builds the target, runs every input of tests/fuzz/corpus, then fuzzes for
# SECONDS (default 60) more. One check: passed if nothing diverged from the model or crashed.
# New inputs go to a temporary directory (the repository's corpus is left as it is). Ends with
# one line `N passed, N failed`.
#
#   tests/fuzz/smoke.sh [--seconds N] [--builddir DIR]
set -uo pipefail
cd "$(dirname "$0")/../.."
seconds=60
builddir=build-fuzz
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --builddir) builddir=$2; shift 2 ;;
    *) echo "tests/fuzz/smoke.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if ! fuzzer=$(bash tests/fuzz/build.sh "$builddir" | tail -n 1); then
  echo "the fuzz target did not build"
  echo "0 passed, 1 failed"
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/new" "$work/artifacts"
export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
"$fuzzer" -max_total_time="$seconds" -timeout=30 -max_len=512 -print_final_stats=1 \
  -print_funcs=0 -artifact_prefix="$work/artifacts/" "$work/new" tests/fuzz/corpus \
  >"$work/log" 2>&1
status=$?
grep -E '^(uvtask fuzz|stat::number_of_executed_units|Done )' "$work/log"
crashes=("$work"/artifacts/*)
if [ "$status" -ne 0 ] || [ -e "${crashes[0]}" ]; then
  grep -vE '^(#[0-9]+|INFO:|\s+NEW_FUNC)' "$work/log" | head -n 200
  for crash in "${crashes[@]}"; do
    [ -e "$crash" ] && echo "failing input (base64): $(base64 -w0 "$crash")"
  done
  echo "fuzz smoke: FAILED (replay: echo <base64> | base64 -d > in; $fuzzer in)"
  echo "0 passed, 1 failed"
  exit 1
fi
echo "1 passed, 0 failed"
