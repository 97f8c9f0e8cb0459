#!/usr/bin/env bash
# Every hot path side by side with the PyTorch 1.13 baseline, same machine, same core count, in one
# run. Prints a table of ratios (ours / PyTorch's best setting for that core count) and our share of
# the sgemm roofline measured in the same process. Threads are pinned for both sides.
#   bash bench/run.sh [seconds per measurement, default 3]
set -u
cd "$(dirname "$0")/.."
SECS=${1:-3}
CIL=${CLEANIL_BIN:-build/cleanil}
PY=/usr/bin/python3
export OMP_NUM_THREADS=1
field() { sed -n "s/.*\"$1\": \([0-9.e+-]*\).*/\1/p" <<<"$2" | head -1; }
torch_run() { # script[:flag] torch_threads blas_threads
  local s=${1%%:*} f=; [ "$s" != "$1" ] && f=${1#*:}
  OPENBLAS_NUM_THREADS=$3 $PY bench/$s --torch-threads "$2" --blas-threads "$3" --seconds "$SECS" $f 2>/dev/null | tail -1
}
ours_run() { # script[:mode] threads
  local s=${1%%:*} m=; [ "$s" != "$1" ] && m=${1#*:}
  OPENBLAS_NUM_THREADS=$2 CLEANIL_NUM_THREADS=$2 $CIL bench/$s "$2" "$SECS" $m 2>/dev/null | tail -1
}

printf "%-20s %7s %12s %12s %8s %10s %9s\n" bench cores cleanil/s torch_best/s ratio roofline vs_1core
for pair in "mlp.lua torch_mlp.py" "bc.lua torch_bc.py" "sac.lua torch_sac.py" \
            "ensemble.lua torch_ensemble.py" "gail.lua torch_gail.py" "gail.lua:full torch_gail.py:--full"; do
  set -- $pair
  for cores in 1 2; do
    o=$(ours_run "$1" $cores)
    if [ $cores -eq 1 ]; then
      t=$(torch_run "$2" 1 1); tb=$(field per_s "$t"); t1core=$tb
    else # PyTorch's best with up to 2 cores: (torch 1, BLAS 2), (torch 2, BLAS 2) or its 1-core run
      t1=$(torch_run "$2" 1 2); t2=$(torch_run "$2" 2 2)
      a=$(field per_s "$t1"); b=$(field per_s "$t2")
      tb=$(awk -v a="$a" -v b="$b" -v c="$t1core" 'BEGIN{m=(a>b)?a:b; if (c>m) m=c; print m}')
    fi
    op=$(field per_s "$o"); rf=$(field roofline_fraction "$o"); name=$(sed -n 's/.*"bench": "\([a-z_]*\)".*/\1/p' <<<"$o")
    ratio=$(awk -v a="$op" -v b="$tb" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "-" }')
    [ $cores -eq 1 ] && ours1=$op
    own=$(awk -v a="$op" -v b="$ours1" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "-" }')
    printf "%-20s %7s %12s %12s %8s %10s %9s\n" "$name" "$cores" "$op" "$tb" "$ratio" "$rf" "$own"
  done
done

echo
echo "== replay buffer and dataset loading (1 thread each side) =="
$CIL bench/bench_buffer.lua "$SECS" 2>&1 | tail -4
echo
echo "== environments: overhead vs a bare mj_step loop, 1 -> 2 threads =="
sh bench/bench_env.sh build 2>&1 | tail -20
