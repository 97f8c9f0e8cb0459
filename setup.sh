#!/usr/bin/env bash
# cleanil setup: installs the Debian packages the project needs (only those missing), builds, and
# runs what you ask for.
#   ./setup.sh demo     build, then run the default demo
#   ./setup.sh test     build, then run every test (ctest)
#   ./setup.sh build    install dependencies and build only
#   ./setup.sh asan     build with AddressSanitizer + UBSan in build-asan/ and run every test there
#   ./setup.sh bench    also install the PyTorch baseline (python3-torch) and run the benchmarks
#   ./setup.sh install [PREFIX]   build, then install into PREFIX (default ~/.local): bin/cleanil,
#                       share/cleanil/, lib/libcleanil.{so,a}, include/cleanil/, lib/pkgconfig/cleanil.pc
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
JOBS=$(nproc 2>/dev/null || echo 2)

DEPS=(build-essential cmake pkg-config liblua5.4-dev lua5.4 libmujoco-dev libopenblas-dev
      libhdf5-dev libreadline-dev lua-busted gnuplot-nox
      python3-h5py    # the tests cross-check our HDF5 files with h5py, an independent reader
      slurm-wlm munge)  # tools/sweep.lua --backend=slurm; tests/sh/slurm_sweep.sh starts its own Slurm
BENCH_DEPS=(python3-torch python3-numpy)

install_missing() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "setup: installing ${missing[*]}"
  local SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
}

build() { # build DIR TYPE
  cmake -S "$ROOT" -B "$ROOT/$1" -DCMAKE_BUILD_TYPE="$2" > /dev/null
  cmake --build "$ROOT/$1" -j "$JOBS"
}

cmd=${1:-demo}
case "$cmd" in
  build) install_missing "${DEPS[@]}"; build build Release ;;
  demo)
    install_missing "${DEPS[@]}"; build build Release
    exec "$ROOT/build/cleanil" "$ROOT/examples/demo.lua" ;;
  test)
    install_missing "${DEPS[@]}"; build build Release
    # one test per core: the suite's learning specs run 1 thread each (18 min at -j 1 on a Zen 3 beside
    # a training run, session 17)
    cd "$ROOT/build" && exec ctest --output-on-failure --timeout 900 -j "$JOBS" ;;
  asan)
    install_missing "${DEPS[@]}"; build build-asan Asan
    # instrumented code runs the learning specs about 2x slower than Release since the GEMM kernels'
    # inner loops are checked per product rather than per element (engine/core/internal.h,
    # CIL_KERNEL_NOSAN); an hour per target leaves room for a machine shared with training runs
    cd "$ROOT/build-asan" && ASAN_OPTIONS=detect_leaks=0 exec ctest --output-on-failure --timeout 3600 -j 1 ;;
  bench)
    install_missing "${DEPS[@]}" "${BENCH_DEPS[@]}"; build build Release
    exec bash "$ROOT/bench/run.sh" ;;
  install)
    install_missing "${DEPS[@]}"; build build Release
    prefix=${2:-$HOME/.local}
    cmake --install "$ROOT/build" --prefix "$prefix"
    echo "setup: installed into $prefix; put $prefix/bin on PATH. Uninstall: xargs rm -f < build/install_manifest.txt" ;;
  *) echo "usage: ./setup.sh [demo|test|build|asan|bench|install [PREFIX]]" >&2; exit 2 ;;
esac
