#!/usr/bin/env bash
# Every hot path side by side with the PyTorch 1.13 baseline, same machine, same core count, in one
# run. Prints a table of ratios (ours / PyTorch's best setting for that core count) and our share of
# the sgemm roofline measured in the same process. Threads are pinned for both sides.
#   bash bench/run.sh [seconds per measurement, default 3]      (BENCH_ONLY="sac rollout": only those pairs)
#   BENCH_LIGHT=1: skip our OpenBLAS-path runs (ratio_obl) and PyTorch's oversubscribed torch 2 + BLAS 2
#   setting (never its best on 2 cores), for the long model-based pairs
#   BENCH_CORES=1: only the 1-core rows (e.g. while a long run holds the other core)
set -u
cd "$(dirname "$0")/.."
SECS=${1:-3}
CIL=${CLEANIL_BIN:-build/cleanil}
PY=/usr/bin/python3
export OMP_NUM_THREADS=1
field() { sed -n "s/.*\"$1\": \([0-9.e+-]*\).*/\1/p" <<<"$2" | head -1; }
torch_run() { # script[:flag] torch_threads blas_threads [OPENBLAS_CORETYPE]
  local s=${1%%:*} f=; [ "$s" != "$1" ] && f=${1#*:}
  local ct=${4:-${OPENBLAS_CORETYPE:-}}
  OPENBLAS_CORETYPE=$ct OPENBLAS_NUM_THREADS=$3 $PY bench/$s --torch-threads "$2" --blas-threads "$3" --seconds "$SECS" $f 2>/dev/null | tail -1
}
ours_run() { # script[:mode] threads gemm(cleanil|openblas)
  local s=${1%%:*} m=; [ "$s" != "$1" ] && m=${1#*:}
  CLEANIL_GEMM=$3 OPENBLAS_NUM_THREADS=$2 CLEANIL_NUM_THREADS=$2 $CIL bench/$s "$2" "$SECS" $m 2>/dev/null | tail -1
}
best() { awk 'BEGIN{m=0} {if ($1+0>m) m=$1+0} END{print m}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b>0 && a!="") printf "%.2f", a/b; else print "-" }'; }
# our GEMM kernel (AVX-512, AVX2 or none) and, on AVX-512, what PyTorch does with OpenBLAS's AVX-512 kernels
ISA=$($CIL -e 'local i, k = cil.sys.gemm_impl(); io.write(i == "cleanil" and (k or "avx512") or "none")' 2>/dev/null)
AVX512=0; grep -q avx512f /proc/cpuinfo && [ "$ISA" = avx512 ] && AVX512=1
echo "OPENBLAS_CORETYPE in this environment: ${OPENBLAS_CORETYPE:-(unset: OpenBLAS detects the CPU)}; our GEMM kernel: ${ISA:-?}; CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
printf "%-20s %5s %10s %10s %7s %9s %9s %9s %9s %8s\n" bench cores cleanil/s torch/s ratio ratio_obl ratio_t512 roofline own_kern vs_1core
for pair in "mlp.lua torch_mlp.py" "bc.lua torch_bc.py" "sac.lua torch_sac.py" \
            "ensemble.lua torch_ensemble.py" "rollout.lua torch_rollout.py" "iqlearn.lua torch_iqlearn.py" "ibc.lua torch_ibc.py" "recoil.lua torch_recoil.py" "recoil.lua:gp torch_recoil.py:--gp" "recoil_online.lua torch_recoil_online.py" "gail.lua torch_gail.py" "gail.lua:full torch_gail.py:--full" \
            "omlirl.lua torch_omlirl.py" "adversarial.lua torch_adversarial.py" "adversarial.lua:rambo torch_adversarial.py:--rambo" \
            "rambo.lua torch_rambo.py" "mbpo.lua torch_mbpo.py"; do
  set -- $pair
  # BENCH_ONLY="rollout ensemble": only the pairs whose Lua script name contains one of the words
  if [ -n "${BENCH_ONLY:-}" ]; then keep=0; for w in $BENCH_ONLY; do case "$1" in *"$w"*) keep=1 ;; esac; done; [ $keep = 1 ] || continue; fi
  for cores in ${BENCH_CORES:-1 2}; do
    o=$(ours_run "$1" $cores cleanil)
    ob=; [ -z "${BENCH_LIGHT:-}" ] && ob=$(ours_run "$1" $cores openblas)
    if [ $cores -eq 1 ]; then
      tb=$(field per_s "$(torch_run "$2" 1 1)"); t1core=$tb
      tx=-; [ $AVX512 = 1 ] && tx=$(field per_s "$(torch_run "$2" 1 1 SkylakeX)"); tx1core=$tx
    else # PyTorch's best with up to 2 cores: (torch 1, BLAS 2), (torch 2, BLAS 2) or its 1-core run
      t22=; [ -z "${BENCH_LIGHT:-}" ] && t22=$(field per_s "$(torch_run "$2" 2 2)")
      tb=$(printf "%s\n" "$(field per_s "$(torch_run "$2" 1 2)")" "$t22" "$t1core" | best)
      tx=-; [ $AVX512 = 1 ] && tx=$(printf "%s\n" "$(field per_s "$(torch_run "$2" 1 2 SkylakeX)")" "$tx1core" | best)
    fi
    op=$(field per_s "$o"); opb=$(field per_s "$ob")
    rf=$(field roofline_fraction "$o"); ok=$(field own_kernel_fraction "$o")
    name=$(sed -n 's/.*"bench": "\([a-z_]*\)".*/\1/p' <<<"$o")
    [ $cores -eq 1 ] && ours1=$op
    printf "%-20s %5s %10s %10s %7s %9s %9s %9s %9s %8s\n" "$name" "$cores" "$op" "$tb" "$(ratio "$op" "$tb")" \
      "$(ratio "$opb" "$tb")" "$(ratio "$op" "$tx")" "$rf" "$ok" "$(ratio "$op" "$ours1")"
  done
done
cat <<'EOT'
columns: cleanil/s, torch/s = updates per second (PyTorch: its best setting with up to that many cores, in
this environment); ratio = cleanil / torch; ratio_obl = cleanil with CLEANIL_GEMM=openblas (OpenBLAS for
every GEMM, as in this environment) / torch; ratio_t512 = cleanil / torch run with OPENBLAS_CORETYPE=SkylakeX
(OpenBLAS's AVX-512 kernels); roofline = our GEMM GFLOP/s / cblas_sgemm's at 256^3 (same run); own_kern =
the same / the faster of cblas_sgemm and our own kernel at 256^3; vs_1core = our 2-core / 1-core rate.
EOT

echo
echo "== deploying a trained policy: the C API (cleanil/policy.h) vs the Lua actor vs PyTorch, 1 thread =="
# bench/c/deploy_bench.c, bench/deploy.lua, bench/torch_deploy.py: the hopper expert's actor (11 -> 3 x 256
# SiLU -> 6); one observation per call (deterministic, sampled) and batches of 256
if [ -z "${BENCH_ONLY:-}" ] || [[ " $BENCH_ONLY " == *deploy* ]]; then
  dep_c=$(OPENBLAS_NUM_THREADS=1 "$(dirname "$CIL")/deploy_bench" data/hopper/expert_policy.h5 "$SECS" 2>/dev/null)
  dep_l=$(OPENBLAS_NUM_THREADS=1 CLEANIL_NUM_THREADS=1 $CIL bench/deploy.lua 1 "$SECS" 2>/dev/null)
  dep_t=$(OPENBLAS_NUM_THREADS=1 $PY bench/torch_deploy.py --torch-threads 1 --blas-threads 1 --seconds "$SECS" 2>/dev/null)
  pick() { grep "\"bench\": \"$2\".*\"mode\": \"$3\"" <<<"$1" | head -1; }
  us() { awk -v r="$1" 'BEGIN{ if (r>0) printf "%.2f", 1e6/r; else print "" }'; }
  printf "%-34s %10s %10s %10s %7s %7s   %s\n" measurement c_api lua torch c/lua c/torch "(CPU time: c_api lua torch c/lua c/torch)"
  for row in "deploy_single deterministic" "deploy_single sampled" "deploy_batch deterministic"; do
    set -- $row
    lc=$(pick "$dep_c" $1 $2); ll=$(pick "$dep_l" $1 $2); lt=$(pick "$dep_t" $1 $2)
    if [ $1 = deploy_single ]; then # microseconds per call: wall clock, and per CPU-second of the process
      label="one observation, $2 (us)"
      c=$(field us_per_call "$lc"); l=$(field us_per_call "$ll"); t=$(field us_per_call "$lt")
      cc=$(us "$(field per_cpu_s "$lc")"); cl=$(us "$(field per_cpu_s "$ll")"); ct=$(us "$(field per_cpu_s "$lt")")
      r1=$(ratio "$l" "$c"); r2=$(ratio "$t" "$c"); r3=$(ratio "$cl" "$cc"); r4=$(ratio "$ct" "$cc")
    else                            # rows per second
      label="batch of 256 (rows/s)"
      c=$(field per_s "$lc"); l=$(field per_s "$ll"); t=$(field per_s "$lt")
      cc=$(field per_cpu_s "$lc"); cl=$(field per_cpu_s "$ll"); ct=$(field per_cpu_s "$lt")
      r1=$(ratio "$c" "$l"); r2=$(ratio "$c" "$t"); r3=$(ratio "$cc" "$cl"); r4=$(ratio "$cc" "$ct")
    fi
    printf "%-34s %10s %10s %10s %7s %7s   %s %s %s %s %s\n" "$label" "${c:--}" "${l:--}" "${t:--}" "$r1" "$r2" \
      "${cc:--}" "${cl:--}" "${ct:--}" "$r3" "$r4"
  done
  echo "(c/lua, c/torch: how many times faster the C API is; the CPU-time figures count only this process's"
  echo " CPU seconds, steadier when other processes share the cores)"
fi

echo
echo "== replay buffer and dataset loading (1 thread each side) =="
$CIL bench/bench_buffer.lua "$SECS" 2>&1 | tail -4
echo
echo "== environments: overhead vs a bare mj_step loop, 1 -> 2 threads =="
sh bench/bench_env.sh build 2>&1 | tail -20

echo
echo "== bfloat16 GEMMs (cil.set_precision): vdpbf16ps vs FMA peak, GEMM rates fp32 vs bf16, 1 thread =="
if [ -z "${BENCH_ONLY:-}" ] || [[ " $BENCH_ONLY " == *bf16* ]]; then
  OPENBLAS_NUM_THREADS=1 CLEANIL_NUM_THREADS=1 $CIL bench/bf16.lua 1 "$SECS" 2>/dev/null | grep -v '"bf16_gemm"'
  echo
  echo "== no-grad MLP passes on 5000 rows: layer by layer vs row blocks (cil.mlp_forward), fp32 and bf16 =="
  for cores in ${BENCH_CORES:-1 2}; do OPENBLAS_NUM_THREADS=1 $CIL bench/mlp_forward.lua $cores "$SECS" 2>/dev/null; done
  echo
  echo "== whole steps in fp32 and bf16 (CLEANIL_PRECISION, as --precision=bf16) beside PyTorch 1.13 =="
  printf "%-20s %5s %10s %10s %10s %9s %10s %9s\n" bench cores fp32/s bf16/s torch/s bf16/fp32 bf16/torch own_kern
  for pair in "sac.lua torch_sac.py" "bc.lua torch_bc.py" "gail.lua torch_gail.py" "ensemble.lua torch_ensemble.py" \
              "rollout.lua torch_rollout.py"; do
    set -- $pair
    for cores in ${BENCH_CORES:-1 2}; do
      o32=$(ours_run "$1" $cores cleanil)
      o16=$(CLEANIL_PRECISION=bf16 ours_run "$1" $cores cleanil)
      if [ $cores -eq 1 ]; then tb=$(field per_s "$(torch_run "$2" 1 1)"); t1core=$tb
      else tb=$(printf "%s\n" "$(field per_s "$(torch_run "$2" 1 2)")" "$t1core" | best); fi
      name=$(sed -n 's/.*"bench": "\([a-z_]*\)".*/\1/p' <<<"$o32")
      a=$(field per_s "$o32"); b=$(field per_s "$o16")
      printf "%-20s %5s %10s %10s %10s %9s %10s %9s\n" "$name" "$cores" "$a" "$b" "$tb" "$(ratio "$b" "$a")" \
        "$(ratio "$b" "$tb")" "$(field own_kernel_fraction "$o16")"
    done
  done
  echo "(own_kern of the bf16 run = its GEMM GFLOP/s / our bf16 GEMM's at 256^3 in the same process; bf16 is"
  echo " slower than fp32 on Intel, whose vdpbf16ps issues once per cycle against two FMAs)"
fi
