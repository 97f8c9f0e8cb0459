#!/usr/bin/env bash
# The cleanil program: REPL (fed on stdin), -e, --help, --version, script args, error exit codes.
set -u
CIL="$1"; fails=0; passes=0
check() { if eval "$2"; then passes=$((passes+1)); else fails=$((fails+1)); echo "FAIL: $1"; fi; }

out=$(printf 'x = cil.tensor{{1,2},{3,4}}\nx\ny = cil.param(cil.tensor{1,2,3})\n(y*y):sum():backward()\ny.grad\nfor i=1,2 do\nprint("loop", i)\nend\n' | "$CIL" 2>&1)
check "REPL prints a tensor expression" '[[ "$out" == *"tensor[2, 2]"* && "$out" == *"4"* ]]'
check "REPL takes a gradient" '[[ "$out" == *"2          4          6"* ]]'
check "REPL continues multi-line input" '[[ "$out" == *"loop	2"* || "$out" == *"loop 2"* ]]'
out=$(printf 'cil.ones(2) + cil.ones(3)\nprint("still here")\n' | "$CIL" 2>&1)
check "REPL reports an error and goes on" '[[ "$out" == *"cannot be broadcast"* && "$out" == *"still here"* ]]'
check "--help" '"$CIL" --help | grep -q "usage"'
check "--version" '"$CIL" --version | grep -q "cleanil"'
check "-e runs code" '[[ "$("$CIL" -e "print(cil.ones(3):sum():item())")" == "3.0" ]]'
tmp=$(mktemp -d)
printf 'print(arg[0], arg[1], arg[2])\n' > "$tmp/s.lua"
check "script receives arguments" '[[ "$("$CIL" "$tmp/s.lua" a b)" == "$tmp/s.lua	a	b" ]]'
printf 'local function f() error("boom") end\nf()\n' > "$tmp/e.lua"
"$CIL" "$tmp/e.lua" > "$tmp/out" 2>&1; rc=$?
check "a Lua error exits non-zero with a traceback" '[[ $rc -ne 0 ]] && grep -q "boom" "$tmp/out" && grep -q "traceback" "$tmp/out"'
"$CIL" /nonexistent/script.lua > "$tmp/out" 2>&1; rc=$?
check "a missing script is an error, not a crash" '[[ $rc -eq 1 ]] && grep -q "cannot open" "$tmp/out"'
rm -rf "$tmp"
echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
