#!/usr/bin/env bash
# Installed like a C tool: `cmake --install` of this build into a temporary prefix; the installed
# cleanil runs a short BC (quick preset, 1,000 updates) from another directory and writes its run there;
# examples/c/act.c, built with one cc line against the install through pkg-config, reaches the same
# episode returns as the Lua evaluation of the same policy and seed (the BC run's policy, with its
# observation statistics, and the shipped hopper expert, deterministic and sampled).
#   bash tests/sh/install.sh BUILD/cleanil
set -u
CIL="$1"; fails=0; passes=0
check() { if eval "$2"; then passes=$((passes+1)); else fails=$((fails+1)); echo "FAIL: $1"; fi; }
build=$(cd "$(dirname "$CIL")" && pwd)
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
unset CLEANIL_LUA_DIR CLEANIL_MODEL_DIR

cmake --install "$build" --prefix "$prefix" > "$tmp/install.log" 2>&1; rc=$?
check "cmake --install into a temporary prefix" '[ $rc -eq 0 ] || { tail -5 "$tmp/install.log"; false; }'
for f in bin/cleanil lib/libcleanil.so lib/libcleanil.a lib/pkgconfig/cleanil.pc include/cleanil/policy.h \
         include/cleanil/env.h include/cleanil/sim/env.h include/cleanil/core/rng.h share/cleanil/lua/cleanil/init.lua \
         share/cleanil/lua/configs/bc/common.lua share/cleanil/models/hopper.xml share/cleanil/data/hopper/expert.h5 \
         share/cleanil/data/hopper/expert_policy.h5 share/cleanil/data/walker2d/medium_replay.h5.part-00 \
         share/cleanil/examples/c/act.c; do
  check "installed $f" '[ -f "$prefix/$f" ]'
done
check "the parked training runs and joined parts are not installed" \
  '[ ! -e "$prefix/share/cleanil/data/runs" ] && [ ! -e "$prefix/share/cleanil/data/walker2d/medium_replay.h5" ]'
check "install_manifest.txt lists what was installed (the uninstall list)" \
  'grep -q "^$prefix/bin/cleanil$" "$build/install_manifest.txt" && grep -q "^$prefix/lib/libcleanil.so" "$build/install_manifest.txt"'

work=$tmp/elsewhere
mkdir -p "$work" && cd "$work" || exit 1
ICIL=$prefix/bin/cleanil
check "the installed cleanil finds its own lua/ tree" \
  '[ "$("$ICIL" -e "io.write(CLEANIL_LUA_DIR)")" = "$prefix/share/cleanil/lua" ]'
check "--help lists the installed algorithms" '"$ICIL" --help | grep -q "algorithms/bc.lua"'
"$ICIL" algorithms/bc.lua --env=hopper --preset=quick --epochs=2 --steps_per_epoch=500 > "$tmp/bc.log" 2>&1; rc=$?
run=$(ls -d "$work"/runs/bc-hopper-seed0* 2>/dev/null | head -1)
check "BC (quick) runs from another directory and writes its run there" \
  '[ $rc -eq 0 ] && [ -n "$run" ] && [ -f "$run/policy.h5" ] && [ -f "$run/summary.json" ] || { tail -5 "$tmp/bc.log"; false; }'

# act.c against the installed tree, one cc line
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
cc "$prefix/share/cleanil/examples/c/act.c" $(pkg-config --cflags --libs cleanil) -o "$tmp/act" > "$tmp/cc.log" 2>&1; rc=$?
check "examples/c/act.c builds with \$(pkg-config --cflags --libs cleanil)" '[ $rc -eq 0 ] || { cat "$tmp/cc.log"; false; }'
check "the program runs against the installed libcleanil.so" \
  'ldd "$tmp/act" | grep -q "$prefix/lib/libcleanil.so"'

cat > "$tmp/eval.lua" <<'EOF'
-- the Lua evaluation of one episode: cleanil eval.lua POLICY SEED [--sample]
local p = cil.policy.load(arg[1], "hopper")
local seed = tonumber(arg[2])
local env = cil.env.make("hopper", {num_envs = 1, seed = seed})
local r = cil.run.evaluate(env, p.actor, p.input, {seed = seed, rng = arg[3] == "--sample" and cil.rng(seed) or nil})
io.write(string.format("%.4f", r[1]))
EOF
compare() { # policy seed [--sample]
  local c l
  c=$("$tmp/act" "$1" hopper "$2" ${3:-} 2>&1 | sed -n 's/.*return \([-0-9.]*\) over.*/\1/p')
  l=$("$ICIL" "$tmp/eval.lua" "$1" "$2" ${3:-} 2>&1)
  echo "  $(basename "$(dirname "$1")")/$(basename "$1") seed $2 ${3:-}: C $c, Lua $l"
  [ -n "$c" ] && [ "$c" = "$l" ]
}
[ -n "$run" ] && check "C and Lua reach the same return: the BC run's policy (normalized observations)" \
  'compare "$run/policy.h5" 3'
check "C and Lua reach the same return: the installed hopper expert, deterministic" \
  'compare "$prefix/share/cleanil/data/hopper/expert_policy.h5" 1'
check "C and Lua reach the same return: the installed hopper expert, sampled" \
  'compare "$prefix/share/cleanil/data/hopper/expert_policy.h5" 2 --sample'
check "a run directory is a policy too" '"$tmp/act" "$run" hopper 0 | grep -q "return"'
"$tmp/act" "$tmp/nothing.h5" > "$tmp/act.log" 2>&1; rc=$?
check "a missing policy is an error message and exit 1" '[ $rc -eq 1 ] && grep -q "cannot open" "$tmp/act.log"'

# data shipped in parts is joined on first use: beside the parts when the install is writable, in the
# cache when it is not
export XDG_CACHE_HOME=$tmp/cache
ddir=$prefix/share/cleanil/data/walker2d
if [ "$(id -u)" != 0 ]; then
  chmod a-w "$ddir"
  got=$("$ICIL" -e 'io.write(cil.shipped.path("walker2d", "medium_replay"))' 2>&1 | tail -1)
  check "a read-only install joins its parts into the cache" \
    '[ "$got" = "$tmp/cache/cleanil/data/walker2d/medium_replay.h5" ] && [ -f "$got" ]'
  chmod u+w "$ddir"
else # root writes anywhere: check where a path no one can write would go
  got=$("$ICIL" -e 'io.write(cil.shipped.made_path("/proc/cleanil/data/walker2d/medium_replay.h5"))' 2>&1)
  check "an unwritable data directory sends made files to the cache" \
    '[ "$got" = "$tmp/cache/cleanil/data/walker2d/medium_replay.h5" ]'
fi
got=$("$ICIL" -e 'io.write(cil.shipped.path("walker2d", "medium_replay"))' 2>&1 | tail -1)
check "the installed parts are joined (sha256 checked) on first use" '[ -f "$got" ]'
check "the joined file loads" '"$ICIL" -e "print(cil.data.num_rows(cil.data.load_d4rl(\"$got\")))" | grep -q "^[0-9]"'

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
