#!/usr/bin/env bash
# A long fuzzing run: builds the target and fuzzes for MINUTES (default 60), keeping the corpus
# it grows in BUILDDIR/fuzz-corpus (seeded from tests/fuzz/corpus) so that the next run goes on
# from there. A divergence does not end the run: the failing input is kept and the fuzzer starts
# again for the time left. At the end it prints the executions, the programs, steps, distinct
# interleavings and cross-thread races, and every failing input with the program it decodes to
# and what diverged. Exit status 1 if an input failed.
#
#   tests/fuzz/run-long.sh [--minutes M] [--builddir DIR] [-- LIBFUZZER_FLAGS...]
#
# Fold what it found into the seed corpus with
#   build-fuzz/tests/fuzz/uvtask_fuzz -merge=1 tests/fuzz/corpus build-fuzz/fuzz-corpus
set -uo pipefail
cd "$(dirname "$0")/../.."
minutes=60
builddir=build-fuzz
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=$2; shift 2 ;;
    --builddir) builddir=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "tests/fuzz/run-long.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
fuzzer=$(bash tests/fuzz/build.sh "$builddir" | tail -n 1) || exit 1
corpus="$builddir/fuzz-corpus"
artifacts="$builddir/fuzz-artifacts/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$corpus" "$artifacts"
log="$artifacts/log"
export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
deadline=$((SECONDS + minutes * 60))
executions=0
runs=0
while [ "$SECONDS" -lt "$deadline" ]; do
  left=$((deadline - SECONDS))
  runs=$((runs + 1))
  started=$SECONDS
  "$fuzzer" -max_total_time="$left" -timeout=30 -max_len=512 -print_final_stats=1 \
    -print_funcs=0 -artifact_prefix="$artifacts/" "${extra[@]}" "$corpus" tests/fuzz/corpus \
    >"$log.$runs" 2>&1
  n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log.$runs" | tail -n 1)
  executions=$((executions + ${n:-0}))
  grep -E '^uvtask fuzz: [0-9]+ programs' "$log.$runs"
  if [ $((SECONDS - started)) -lt 5 ] && [ "$SECONDS" -lt "$deadline" ]; then
    echo "the fuzzer fails at once (an input of the corpus fails?): stopping"
    break
  fi
done
echo "fuzzed for $minutes min in $runs run(s): $executions executions"
failed=0
for crash in "$artifacts"/crash-* "$artifacts"/timeout-* "$artifacts"/leak-*; do
  [ -e "$crash" ] || continue
  failed=$((failed + 1))
  echo "---- failing input $crash (base64: $(base64 -w0 "$crash"))"
  "$fuzzer" "$crash" 2>&1 | grep -vE '^(INFO:|\*\*\*|Running:|Executed|\s+#[0-9]+ )' |
    head -n 80
done
echo "$failed failing input(s); logs in $artifacts"
[ "$failed" -eq 0 ]
