#!/bin/bash
# End-to-end test on a real Slurm 22.05 (label `slurm`): a throwaway cluster
# (slurm_cluster.sh: munged, slurmctld, one slurmd on loopback), the project's
# slurm/kiln-scheduler.sbatch and slurm/kiln-worker.sbatch submitted with sbatch, and
# kiln-autoscale against it. It checks that
#   1. a GPU worker job given one of the node's two (fake) GPUs registers one GPU slot;
#   2. a CPU worker registers and runs a job;
#   3. scancel drains it: a short running job still succeeds, the worker exits;
#   4. a job longer than the drain grace is handed back (not counted as an attempt);
#   5. kiln-autoscale sees that queued job and submits a worker job, which finishes it
#      (attempt 2, on another worker), and cancels that worker once the queue is empty
#      and the worker idle.
# Needs root (slurmd) and slurm-wlm + munge; otherwise it is skipped (exit 77).
#   slurm_e2e_test.sh BIN_DIR SOURCE_DIR
set -euo pipefail
bin="${1:?bin dir}"
src="${2:?source dir}"
SKIP=77
if [[ "$(id -u)" != 0 ]]; then echo "SKIP: needs root to run slurmd"; exit $SKIP; fi
for tool in munged slurmctld slurmd sbatch squeue scancel sinfo scontrol python3; do
  command -v "$tool" >/dev/null || [[ -x "/usr/sbin/$tool" ]] ||
    { echo "SKIP: $tool not installed (apt-get install slurm-wlm munge)"; exit $SKIP; }
done

tmp="$(mktemp -d /tmp/kiln-slurm-test.XXXXXX)"
cluster="$tmp/cluster"
autoscale_pid=""
start_time=$SECONDS
log() { echo "[slurm-test +$((SECONDS - start_time))s] $*"; }
dump() {
  echo "---- squeue"; squeue 2>&1 || true
  for f in "$tmp"/out/*.out "$tmp"/autoscale.log "$cluster"/log/slurmctld.log "$cluster"/log/slurmd.log; do
    [[ -f "$f" ]] || continue
    echo "---- $f (last 40 lines)"; tail -n 40 "$f"
  done
}
fail() { echo "FAIL: $*"; dump; exit 1; }
cleanup() {
  local status=$?
  [[ -n "$autoscale_pid" ]] && kill -KILL "$autoscale_pid" 2>/dev/null || true
  if [[ -f "$cluster/slurm.conf" ]]; then
    scancel --partition=kiln 2>/dev/null || true
    for _ in $(seq 1 100); do [[ -z "$(squeue -h 2>/dev/null)" ]] && break; sleep 0.2; done
  fi
  "$src/tests/slurm/slurm_cluster.sh" stop "$cluster" || true
  # Whatever a job step left behind (only processes of this test's directory).
  for p in /proc/[0-9]*; do
    if tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -qF "$tmp"; then kill -KILL "${p#/proc/}" 2>/dev/null || true; fi
  done
  if [[ $status == 0 ]]; then rm -rf "$tmp"; else echo "kept $tmp"; fi
}
trap cleanup EXIT

# wait_for SECONDS DESCRIPTION COMMAND...: polls every 0.25 s.
wait_for() {
  local seconds="$1" what="$2"
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    [[ $SECONDS -lt $deadline ]] || fail "timed out after ${seconds}s waiting for: $what"
    sleep 0.25
  done
}
# job_field ID PYTHON_EXPR: evaluates the expression on the job's JSON (`j`).
job_field() {
  "$bin/kilnctl" get "$1" -o json | python3 -c "import json,sys; j=json.load(sys.stdin); print($2)"
}
job_state_is() { [[ "$(job_field "$1" "j['state']")" == "$2" ]]; }
workers_json() { "$bin/kilnctl" workers -o json; }
worker_alive() {  # worker id
  workers_json | python3 -c "
import json,sys
ws=json.load(sys.stdin).get('workers',[])
sys.exit(0 if any(w['id']=='$1' and not w.get('lost') for w in ws) else 1)"
}
slurm_job_gone() { [[ -z "$(squeue -h -j "$1" -o %i 2>/dev/null)" ]]; }
file_has() { grep -qF -- "$2" "$1" 2>/dev/null; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

log "starting Slurm in $cluster"
"$src/tests/slurm/slurm_cluster.sh" start "$cluster" || fail "Slurm did not start"
export SLURM_CONF="$cluster/slurm.conf"
node="$(hostname -s)"

mkdir -p "$tmp/out" "$tmp/shared"
export KILN_SHARED="$tmp/shared" KILN_BIN="$bin" KILN_PORT=0
export KILN_METRICS_PORT="$(free_port)" KILN_DATA_DIR="$tmp/scheduler-data"
export KILN_SCHEDULER_HOST=127.0.0.1
export KILN_SCHEDULER_ARGS="--heartbeat-interval=1s --lease-duration=10s"
export TMPDIR="$tmp"

log "submitting the scheduler"
sched_job="$(sbatch --parsable -o "$tmp/out/scheduler-%j.out" "$src/slurm/kiln-scheduler.sbatch")"
wait_for 30 "scheduler.addr" test -s "$KILN_SHARED/scheduler.addr"
export KILN_ADDR="$(cat "$KILN_SHARED/scheduler.addr")"
log "scheduler (Slurm job $sched_job) at $KILN_ADDR"

# 1. GPU pool member: two fake GPUs on the node, the job gets one of them.
log "GPU worker with --gres=gpu:fake:1"
gpu_job="$(KILN_WORKER_ARGS="--fake-devices=sm_90:80GiB,sm_86:24GiB" \
  sbatch --parsable --gres=gpu:fake:1 -o "$tmp/out/gpu-worker-%j.out" "$src/slurm/kiln-worker.sbatch")"
wait_for 60 "GPU worker registered" worker_alive "kiln-$node-$gpu_job"
gpu_devices="$(workers_json | python3 -c "
import json,sys
ws=[w for w in json.load(sys.stdin)['workers'] if w['id']=='kiln-$node-$gpu_job']
caps=ws[0]['capabilities']
print(len([d for d in caps['devices'] if d['id'].startswith('cuda:')]), len(caps['slots']))")"
[[ "$gpu_devices" == "1 1" ]] || fail "GPU worker: expected 1 GPU device and 1 slot, got '$gpu_devices'"
scancel "$gpu_job"
wait_for 30 "GPU worker job ended" slurm_job_gone "$gpu_job"

# 2. CPU worker runs a job.
log "CPU worker"
export KILN_CPU_SLOTS=1 KILN_DRAIN_GRACE=25s KILN_WORKER_ARGS="--acquire-wait=1s"
cpu_job="$(sbatch --parsable -o "$tmp/out/cpu-worker-%j.out" "$src/slurm/kiln-worker.sbatch")"
wait_for 60 "CPU worker registered" worker_alive "kiln-$node-$cpu_job"
"$bin/kilnctl" submit debug.sleep --accelerator=cpu --params '{"seconds":0.2}' --wait \
  --wait-timeout=60s >/dev/null || fail "a job on the Slurm worker did not succeed"

# 3. scancel while a short job runs: it finishes, the worker drains and exits.
log "drain: scancel with a 3 s job running"
short="$("$bin/kilnctl" submit debug.sleep --accelerator=cpu --params '{"seconds":3}')"
wait_for 30 "short job running" job_state_is "$short" JOB_STATE_RUNNING
scancel "$cpu_job"
wait_for 30 "short job succeeded" job_state_is "$short" JOB_STATE_SUCCEEDED
[[ "$(job_field "$short" "len(j['attempts'])")" == 1 ]] || fail "short job took more than one attempt"
wait_for 30 "drained worker job ended" slurm_job_gone "$cpu_job"
file_has "$tmp/out/cpu-worker-$cpu_job.out" "drained: every slot is idle" ||
  fail "the worker did not report a drain"

# 4. A job longer than the grace period is handed back.
log "hand-back: scancel with a 6 s job running and a 2 s grace"
export KILN_DRAIN_GRACE=2s
short_grace_job="$(sbatch --parsable -o "$tmp/out/cpu-worker-%j.out" "$src/slurm/kiln-worker.sbatch")"
wait_for 60 "worker registered" worker_alive "kiln-$node-$short_grace_job"
long="$("$bin/kilnctl" submit debug.sleep --accelerator=cpu --max-attempts=1 --params '{"seconds":6}')"
wait_for 30 "long job running" job_state_is "$long" JOB_STATE_RUNNING
scancel "$short_grace_job"
wait_for 30 "long job handed back" job_state_is "$long" JOB_STATE_QUEUED
[[ "$(job_field "$long" "j['attempts'][0]['exitReason'], j['attempts'][0].get('notCounted', False)")" == \
   "EXIT_REASON_WORKER_STOPPING True" ]] || fail "attempt 1 was not an uncounted hand-back"
wait_for 30 "handing-back worker job ended" slurm_job_gone "$short_grace_job"

# 5. kiln-autoscale: the queued job makes it submit a worker, which runs the job
#    (max_attempts=1: only an uncounted hand-back lets it run again); once the queue is
#    empty and the worker idle (not while it runs the job), it cancels it.
log "autoscaler"
cat > "$tmp/pools.json" <<JSON
{"pools": [{"name": "cpu", "classes": [{"accelerator": ["cpu", "any"]}],
            "script": "$src/slurm/kiln-worker.sbatch",
            "sbatch_args": ["--output=$tmp/out/autoscaled-%j.out"],
            "env": {"KILN_DRAIN_GRACE": "20s"},
            "min_workers": 0, "max_workers": 1, "scale_up_polls": 2, "scale_down_polls": 4}]}
JSON
"$bin/kiln-autoscale" --config="$tmp/pools.json" --scheduler="$KILN_ADDR" \
  --scheduler-metrics="$(cat "$KILN_SHARED/scheduler.metrics.addr")" --interval=1s \
  >"$tmp/autoscale.log" 2>&1 &
autoscale_pid=$!
autoscaled_job() { squeue -h --name=kiln-cpu -o %i | head -n1; }
autoscaled_job_exists() { [[ -n "$(autoscaled_job)" ]]; }
wait_for 30 "autoscaler submitted a worker job" autoscaled_job_exists
scaled="$(autoscaled_job)"
wait_for 90 "handed-back job succeeded" job_state_is "$long" JOB_STATE_SUCCEEDED
[[ "$(job_field "$long" "len(j['attempts']), j['attempts'][1]['workerId']")" == "2 kiln-$node-$scaled" ]] ||
  fail "the handed-back job did not finish on the autoscaled worker"
wait_for 60 "autoscaler cancelled the idle worker" slurm_job_gone "$scaled"
# Idle, not busy: the job had ended before the worker got its SIGTERM.
scaled_out="$tmp/out/autoscaled-$scaled.out"
done_line="$(grep -n "attempt 2 succeeded" "$scaled_out" | head -n1 | cut -d: -f1)"
term_line="$(grep -n "SIGTERM" "$scaled_out" | head -n1 | cut -d: -f1)"
[[ -n "$done_line" && -n "$term_line" && "$done_line" -lt "$term_line" ]] ||
  fail "the autoscaler cancelled its worker while the job still ran"
# Only the worker was signalled (scancel --batch --signal=TERM): it drained and ended the
# job itself; Slurm did not cancel the job.
file_has "$scaled_out" "worker kiln-$node-$scaled stopped" || fail "the autoscaled worker did not stop cleanly"
# (slurmstepd still prints "CANCELLED AT" for a signal; the job's state tells.)
scontrol show job "$scaled" | grep -q "JobState=COMPLETED" ||
  fail "the autoscaled job did not end COMPLETED: $(scontrol show job "$scaled" | grep JobState)"
file_has "$tmp/autoscale.log" "cancelling $scaled" || fail "autoscale.log says nothing of cancelling"
[[ "$(squeue -h --name=kiln-cpu | wc -l)" == 0 ]] || fail "the autoscaler left worker jobs"
kill -TERM "$autoscale_pid"
wait "$autoscale_pid" || fail "kiln-autoscale did not exit 0 on SIGTERM"
autoscale_pid=""

scancel "$sched_job"
wait_for 30 "scheduler job ended" slurm_job_gone "$sched_job"
[[ ! -e "$KILN_SHARED/scheduler.addr" ]] || fail "the scheduler job left scheduler.addr behind"
log "PASS"
