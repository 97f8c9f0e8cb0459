#!/bin/sh
# Build and run the environment benchmark against a built engine library.
#   bench/bench_env.sh [build-dir] [blocks]     default build-dir: <repo>/build
# Also times the Lua path (cil.env step from a Lua loop) when the cleanil executable is there.
set -e
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
build=${1:-$repo/build}
lib=$build/libcilengine.a
[ -f "$lib" ] || { echo "bench_env: $lib not found; build the repo first (cmake + make)" >&2; exit 1; }
out=$build/bench_env
cc -O3 -march=native -std=gnu11 -I"$repo/engine" -DCIL_MODEL_DIR="\"$repo/models\"" \
   "$here/bench_env.c" "$lib" -lmujoco $(pkg-config --libs openblas hdf5-serial 2>/dev/null) \
   -lm -lpthread -o "$out"
"$out" ${2:-10}
if [ -x "$build/cleanil" ]; then
  (cd "$repo" && "$build/cleanil" "$here/bench_env.lua")
fi
