#!/bin/bash
# Installs and builds the peer runtimes of bench/peers/ (see bench/README-peers.md).
#
#     bench/install-peers.sh
#
# Idempotent: installs only the Debian packages that are missing (apt-get update only if an
# install fails), rebuilds only what changed. Builds into bench/out/ (git-ignored):
#     bench/out/asio_bench              Asio peer (g++ -std=c++20 -O2), runtimes asio-exc / asio-ec
#     bench/out/tokio_bench             Tokio peer (cargo --release --offline, Debian's vendored crates)
#     bench/out/tokio_bench_unstable    the same built with --cfg tokio_unstable (S2_checkpoint only)
# A peer that cannot be installed or built does not stop the script: the reason is written to
# bench/out/skip-<runtime>.txt, and bench/peers/run_peers.py reports that runtime as skipped.
# Exit status is 0 unless bench/out itself cannot be created.
set -u

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/out"
peers="$here/peers"
mkdir -p "$out" || exit 1
PY=/usr/bin/python3

log() { echo "install-peers: $*" >&2; }
skip() { # runtime reason...
  local rt="$1"; shift
  echo "$*" > "$out/skip-$rt.txt"
  log "$rt: SKIPPED: $*"
}
ok() { rm -f "$out/skip-$1.txt"; log "$1: ok${2:+ ($2)}"; }

# --- Debian packages ----------------------------------------------------------------------------
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

declare -A pkg_failed=()
ensure_pkg() { # pkg -> 0 if installed at the end
  local p="$1"
  installed "$p" && return 0
  log "installing $p"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$p" >"$out/apt-$p.log" 2>&1; then
    log "apt-get install $p failed; running apt-get update and retrying"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$out/apt-$p.log" 2>&1
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$p" >>"$out/apt-$p.log" 2>&1; then
      pkg_failed[$p]="apt-get install $p failed (see bench/out/apt-$p.log)"
      return 1
    fi
  fi
  installed "$p"
}

for p in libasio-dev librust-tokio-dev python3-uvloop python3-trio python3-matplotlib; do
  ensure_pkg "$p" || log "$p: not installed"
done

# --- Python peers: asyncio, uvloop, trio ---------------------------------------------------------
if [ -x "$PY" ]; then
  ok asyncio "$($PY -c 'import platform; print(platform.python_version())')"
  if v=$($PY -c 'import uvloop; print(uvloop.__version__)' 2>&1); then ok uvloop "$v"
  else skip uvloop "python3-uvloop not importable by $PY: ${pkg_failed[python3-uvloop]:-$v}"; fi
  if v=$($PY -c 'import trio; print(trio.__version__)' 2>&1); then ok trio "$v"
  else skip trio "python3-trio not importable by $PY: ${pkg_failed[python3-trio]:-$v}"; fi
  if ! $PY -c 'import matplotlib' 2>/dev/null; then
    log "python3-matplotlib missing: bench/report.py will not draw latency.png"
  fi
else
  for rt in asyncio uvloop trio; do skip "$rt" "$PY not found"; done
fi

# --- Node ----------------------------------------------------------------------------------------
if command -v node >/dev/null 2>&1; then
  nv="$(node --version)"
  if node -e 'new AbortController(); require("node:timers/promises"); require("node:worker_threads")' 2>/dev/null; then
    ok node "$nv"
  else
    skip node "node $nv lacks AbortController / timers/promises / worker_threads"
  fi
else
  skip node "node not found on PATH"
fi

# --- Asio (header-only, standalone) --------------------------------------------------------------
build_asio() {
  if [ ! -f /usr/include/asio/version.hpp ]; then
    echo "${pkg_failed[libasio-dev]:-libasio-dev not installed (/usr/include/asio/version.hpp missing)}"
    return 1
  fi
  local cxx="${CXX:-g++}"
  command -v "$cxx" >/dev/null 2>&1 || { echo "C++ compiler $cxx not found"; return 1; }
  local src="$peers/asio_bench.cpp" bin="$out/asio_bench"
  if [ -x "$bin" ] && [ "$bin" -nt "$src" ] && [ "$bin" -nt "$peers/asio_bench_threads.hpp" ] &&
     [ "$bin" -nt /usr/include/asio/version.hpp ]; then
    return 0
  fi
  log "building $bin"
  if ! "$cxx" -std=c++20 -O2 -pthread -o "$bin.tmp" "$src" >"$out/asio_build.log" 2>&1; then
    echo "g++ failed to build asio_bench.cpp (see bench/out/asio_build.log)"
    return 1
  fi
  mv -f "$bin.tmp" "$bin"
}
if reason="$(build_asio)"; then
  av="$(sed -n 's/^#define ASIO_VERSION \([0-9]*\).*/\1/p' /usr/include/asio/version.hpp)"
  ok asio-exc "asio $((av / 100000)).$((av / 100 % 1000)).$((av % 100))"
  ok asio-ec "asio $((av / 100000)).$((av / 100 % 1000)).$((av % 100))"
else
  skip asio-exc "$reason"
  skip asio-ec "$reason"
fi

# --- Tokio (offline from /usr/share/cargo/registry) ----------------------------------------------
build_tokio() {
  if ! ls -d /usr/share/cargo/registry/tokio-1.* >/dev/null 2>&1; then
    echo "${pkg_failed[librust-tokio-dev]:-librust-tokio-dev not installed (no /usr/share/cargo/registry/tokio-1.*)}"
    return 1
  fi
  command -v cargo >/dev/null 2>&1 || { echo "cargo not found on PATH"; return 1; }
  local dir="$peers/tokio"
  log "building tokio_bench (cargo build --release --offline)"
  if ! (cd "$dir" && cargo build --release --offline) >"$out/tokio_build.log" 2>&1; then
    echo "cargo build failed (see bench/out/tokio_build.log)"
    return 1
  fi
  cp -f "$dir/target/release/tokio_bench" "$out/tokio_bench.tmp" && mv -f "$out/tokio_bench.tmp" "$out/tokio_bench"
  # Second build, only for S2_checkpoint (consume_budget needs --cfg tokio_unstable in 1.24).
  if (cd "$dir" && RUSTFLAGS="--cfg tokio_unstable" cargo build --release --offline \
        --target-dir target/unstable) >>"$out/tokio_build.log" 2>&1; then
    cp -f "$dir/target/unstable/release/tokio_bench" "$out/tokio_bench_unstable.tmp" &&
      mv -f "$out/tokio_bench_unstable.tmp" "$out/tokio_bench_unstable"
  else
    log "tokio_unstable build failed: S2_checkpoint will be absent for tokio"
    rm -f "$out/tokio_bench_unstable"
  fi
}
if reason="$(build_tokio)"; then
  ok tokio "$(sed -n '/^name = "tokio"$/{n;s/version = "\(.*\)"/tokio \1/p}' "$peers/tokio/Cargo.lock")"
else
  skip tokio "$reason"
fi

exit 0
