#!/usr/bin/env bash
# Builds the fuzz target (tests/fuzz/README.md) in BUILDDIR (default build-fuzz): clang 14 with
# libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer; the library is instrumented for
# coverage too (-fsanitize=fuzzer-no-link). Installs what it needs on a fresh Debian 12 machine.
# Prints the path of the executable on its last line.
#
#   tests/fuzz/build.sh [BUILDDIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
builddir=${1:-build-fuzz}
bash scripts/ensure-packages.sh clang libclang-rt-14-dev libuv1-dev meson ninja-build \
  pkg-config >&2
# -fsized-deallocation: clang 14, unlike g++, leaves C++14's sized operator delete off by default,
# and the runtime calls the sized aligned form for over-aligned task states.
options=(-Dfuzz=enabled -Dtests=enabled -Dtest_set=none -Dbench=disabled -Dwerror=true
         -Dbuildtype=plain -Doptimization=1 -Ddebug=false
         "-Dcpp_args=-g1 -fsanitize=fuzzer-no-link -fsized-deallocation"
         -Db_sanitize=address,undefined -Db_lundef=false)
if [ -d "$builddir" ]; then
  meson setup --reconfigure "$builddir" "${options[@]}" >/dev/null
else
  CC=clang CXX=clang++ meson setup "$builddir" "${options[@]}" >/dev/null
fi
ninja -C "$builddir" tests/fuzz/uvtask_fuzz >"$builddir/fuzz-build.log" 2>&1 ||
  { cat "$builddir/fuzz-build.log" >&2; exit 1; }
echo "$builddir/tests/fuzz/uvtask_fuzz"
