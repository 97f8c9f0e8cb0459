#!/usr/bin/env bash
# tools/sweep.lua --backend=slurm against a real Slurm started here: munged, slurmctld and slurmd with a
# one-node configuration generated in a temporary directory (own state and spool directories, pid
# files, free ports, its own munge key and socket; no cgroups: proctrack/linuxproc, task/none).
#  1. a sweep of 2 algorithms x 2 seeds runs as one job array: every run's outputs and the aggregate;
#  2. a running array task is requeued (scontrol requeue): the run checkpoints on Slurm's SIGTERM, its
#     successor resumes, and the headline equals an uninterrupted run's;
#  3. the same after the notice before a time limit (SIGUSR1 to the batch shell): the task requeues itself.
# The daemons (and any job left) are stopped on exit, also on failure.
# usage: bash tests/sh/slurm_sweep.sh path/to/cleanil   (from the source tree; Debian slurm-wlm, munge)
set -euo pipefail
BIN=$(readlink -f "$1")
for p in munged mungekey slurmctld slurmd sbatch squeue scontrol scancel; do
  command -v $p > /dev/null || { echo "FAIL: $p is missing (apt-get install slurm-wlm munge; ./setup.sh installs them)"; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "FAIL: slurmd must run as root to start jobs; run this test as root"; exit 1; }
D=$(mktemp -d -t cleanil-slurm.XXXXXX)
chmod 755 "$D"
export SLURM_CONF=$D/slurm.conf
fail() { echo "FAIL: $*"; for f in "$D"/log/*.log; do echo "== $f"; tail -n 20 "$f"; done; exit 1; }
cleanup() {
  set +e
  if [ -f "$D/slurmctld.pid" ]; then
    scancel --full $(squeue -h -o %A 2>/dev/null) 2>/dev/null
    for _ in $(seq 1 60); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.5; done
  fi
  for f in slurmd.pid slurmctld.pid munge/munged.pid; do
    [ -f "$D/$f" ] && kill "$(cat "$D/$f")" 2>/dev/null
  done
  for f in slurmd.pid slurmctld.pid munge/munged.pid; do
    for _ in $(seq 1 40); do [ -f "$D/$f" ] && kill -0 "$(cat "$D/$f")" 2>/dev/null || break; sleep 0.25; done
  done
  [ -n "${KEEP:-}" ] || rm -rf "$D"
}
trap cleanup EXIT

# --- munge: a key and a socket of our own
mkdir -p "$D/munge" "$D/state" "$D/spool" "$D/log" "$D/sweeps"
chmod 700 "$D/munge"
mungekey -c -k "$D/munge/munge.key" > /dev/null
munged --force --socket="$D/munge/sock" --key-file="$D/munge/munge.key" --pid-file="$D/munge/munged.pid" \
  --log-file="$D/munge/munged.log" --seed-file="$D/munge/munged.seed" || fail "munged does not start"

# --- slurm.conf: one node (this machine, 2 CPUs), free ports
freeport() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cat > "$SLURM_CONF" <<EOF
ClusterName=cleanil-test
SlurmctldHost=localhost
SlurmctldPort=$(freeport)
SlurmdPort=$(freeport)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$D/munge/sock
SlurmUser=$(id -un)
SlurmdUser=root
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
KillWait=30
MinJobAge=600
NodeName=localhost CPUs=2 State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -i -f "$SLURM_CONF" || fail "slurmctld does not start"
slurmd -f "$SLURM_CONF" -N localhost || fail "slurmd does not start"
for _ in $(seq 1 120); do
  sinfo -h -o %t 2>/dev/null | grep -q idle && break
  sleep 0.5
done
sinfo -h -o %t | grep -q idle || fail "the node does not come up: $(sinfo 2>&1)"

# wait until no task of job $1 is in the queue (a safety limit only: never a measured duration)
wait_job() {
  for _ in $(seq 1 1200); do
    [ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && return 0
    sleep 0.5
  done
  fail "job $1 still in the queue after 10 minutes: $(squeue)"
}

# --- 1. a sweep: bc and gail, 2 seeds each, the quick preset trimmed
cat > "$D/sweep.lua" <<EOF
return {
  name = "slurm-test", out = "$D/sweeps/a",
  algorithms = {"bc", "gail"}, tasks = {"hopper"}, seeds = {0, 1},
  preset = "quick", threads = 1,
  overrides = {epochs = 2, eval_episodes = 1},
  per_algorithm = {bc = {steps_per_epoch = 300}, gail = {update_after = 300, steps_per_epoch = 200}},
  slurm = {partition = "test", time = "00:30:00", signal_seconds = 60},
}
EOF
out=$("$BIN" tools/sweep.lua "$D/sweep.lua" --backend=slurm 2>&1) || fail "sweep submission: $out"
echo "$out"
job=$(echo "$out" | sed -n 's/.*submitted job array \([0-9]*\).*/\1/p')
[ -n "$job" ] || fail "no job id in: $out"
grep -q -- "--array=0,1,2,3" "$D/sweeps/a/slurm/sweep.sbatch" || fail "the array is not 0-3: $(grep array "$D/sweeps/a/slurm/sweep.sbatch")"
grep -q -- "--signal=B:USR1@60" "$D/sweeps/a/slurm/sweep.sbatch" || fail "no --signal in the script"
grep -q -- "--partition=test" "$D/sweeps/a/slurm/sweep.sbatch" || fail "the partition is not passed through"
wait_job "$job"
for r in bc-hopper-seed0 bc-hopper-seed1 gail-hopper-seed0 gail-hopper-seed1; do
  for f in summary.json log.csv policy.h5 checkpoint.h5 config.lua; do
    [ -s "$D/sweeps/a/$r/$f" ] || { cat "$D/sweeps/a/$r/console.log" 2>/dev/null; cat "$D"/sweeps/a/slurm/*.out; fail "$r has no $f"; }
  done
  [ "$(cat "$D/sweeps/a/$r/sweep.exit")" = 0 ] || fail "$r ended with status $(cat "$D/sweeps/a/$r/sweep.exit")"
done
status=$("$BIN" tools/sweep.lua "$D/sweep.lua" --backend=slurm --status 2>&1)
echo "$status" | grep -q "4 runs (4 done)" || fail "--status: $status"
agg=$("$BIN" tools/summarize.lua "$D/sweeps/a" 2>&1) || fail "summarize: $agg"
echo "$agg"
grep -q "^| bc | hopper | 2 | " "$D/sweeps/a/summary.md" || fail "no bc row with 2 seeds: $(cat "$D/sweeps/a/summary.md")"
grep -q "^| gail | hopper | 2 | .* | 101.10 ± 0.27 |$" "$D/sweeps/a/summary.md" || fail "no gail row with its reference: $(cat "$D/sweeps/a/summary.md")"
[ "$(head -c 4 "$D/sweeps/a/curves.png" | tail -c 3)" = PNG ] || fail "no curves.png"
# submitting the finished sweep again submits nothing
again=$("$BIN" tools/sweep.lua "$D/sweep.lua" --backend=slurm 2>&1)
echo "$again" | grep -q "all 4 runs are done" || fail "a second submission: $again"

# --- 2. requeue a running array task (scontrol requeue: SIGTERM to the run, Slurm requeues the task);
#     3. the notice before a time limit (SIGUSR1 to the batch shell, as --signal=B:USR1@N sends it: the
#        shell passes it on, the run checkpoints, the script requeues its own task).
# Either way the successor resumes from the checkpoint and ends with the straight run's headline and log.
OVR=(--epochs=4 --steps_per_epoch=500 --eval_episodes=1 --checkpoint_every=100000)
"$BIN" algorithms/bc.lua --env=hopper --seed=0 --threads=1 "${OVR[@]}" --out="$D/straight" > "$D/straight.log" 2>&1 ||
  fail "the straight run: $(tail "$D/straight.log")"
headline() { grep -o '"last_returns": \[[^]]*\]\|"d4rl_score_iqm": [^,}]*\|"return_iqm": [^,}]*' "$1"; }
interrupt_case() { # NAME HOW(requeue|notice) SIGNAL-THE-RUN-REPORTS(regex)
  local name=$1 how=$2 out job run st
  cat > "$D/$name.lua" <<EOF
return {
  name = "$name", out = "$D/sweeps/$name", algorithms = {"bc"}, tasks = {"hopper"}, seeds = {0}, threads = 1,
  overrides = {epochs = 4, steps_per_epoch = 500, eval_episodes = 1, checkpoint_every = 100000},
}
EOF
  out=$("$BIN" tools/sweep.lua "$D/$name.lua" --backend=slurm 2>&1) || fail "sweep submission: $out"
  job=$(echo "$out" | sed -n 's/.*submitted job array \([0-9]*\).*/\1/p')
  run="$D/sweeps/$name/bc-hopper-seed0"
  # interrupt it once it has logged its first epoch (well before its 4th)
  rows() { { wc -l < "$run/log.csv"; } 2>/dev/null || echo 0; }
  for _ in $(seq 1 1200); do [ "$(rows)" -ge 2 ] && break; sleep 0.1; done
  [ "$(rows)" -ge 2 ] || fail "$name: the run never logged an epoch: $(cat "$run/console.log")"
  if [ "$how" = requeue ]; then
    scontrol requeue "${job}_0" || fail "scontrol requeue failed"
  else
    scancel --batch --signal=USR1 "${job}_0" || fail "scancel --batch --signal=USR1 failed"
  fi
  # the successor waits for a begin time Slurm sets on requeue (about 2 minutes): start it now instead
  for _ in $(seq 1 1500); do
    st=$(squeue -h -j "$job" -o %T 2>/dev/null || true)
    [ "$st" = PENDING ] && break
    sleep 0.2
  done
  [ "$st" = PENDING ] || fail "$name: the requeued task is '$st', not PENDING: $(cat "$run/console.log")"
  # ... but not at once: on a Zen 3 machine the self-requeued task (the notice case) was PENDING and
  # relaunched within a second of its requeue, and slurmd refused it ("Job credential revoked", the
  # task ended unstarted) in every try; two seconds later it starts
  sleep 2
  scontrol update JobId="${job}_0" StartTime=now || fail "cannot move the start time"
  wait_job "$job"
  grep -Eq "$3: checkpoint written at step" "$run/console.log" || fail "$name: the run did not checkpoint on $3: $(cat "$run/console.log")"
  [ "$(grep -c "== sweep: start" "$run/console.log")" = 2 ] || fail "$name: not started exactly twice: $(grep "== sweep" "$run/console.log")"
  grep -q "restart 1" "$run/console.log" || fail "$name: no restarted task"
  [ -s "$run/summary.json" ] || fail "$name: the resumed run has no summary.json: $(tail "$run/console.log")"
  [ "$(headline "$run/summary.json")" = "$(headline "$D/straight/summary.json")" ] ||
    fail "$name: the headline differs: $(headline "$run/summary.json") vs $(headline "$D/straight/summary.json")"
  cmp -s "$run/log.csv" "$D/straight/log.csv" || fail "$name: log.csv differs from the straight run's"
}
interrupt_case requeue requeue 'SIG(TERM|USR1)'   # Slurm's SIGTERM and the shell's USR1 both reach the run
interrupt_case notice notice SIGUSR1
echo "PASS: slurm sweep (4 runs + aggregate), requeue and time-limit notice, both resumed exactly"
