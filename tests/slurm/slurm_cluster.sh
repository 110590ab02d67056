#!/bin/bash
# A throwaway Slurm 22.05 cluster on this machine for tests: munged with a temporary key,
# slurmctld and one slurmd on loopback, everything (config, state, logs, sockets) under
# DIR, fake GPUs in gres.conf. Needs root (slurmd) and the Debian packages slurm-wlm and
# munge.
#   slurm_cluster.sh start DIR   # prints nothing; then: export SLURM_CONF=DIR/slurm.conf
#   slurm_cluster.sh stop DIR    # kills the daemons it started (by their pid files)
set -euo pipefail
cmd="${1:?start|stop}"
dir="${2:?directory}"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

stop() {
  for name in slurmd slurmctld munged; do
    local pidfile="$dir/run/$name.pid"
    [[ -s "$pidfile" ]] || continue
    local pid
    pid="$(cat "$pidfile")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

start() {
  mkdir -p "$dir"/{run,state,spool,log,munge}
  chmod 755 "$dir/munge"
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 600 "$dir/munge/munge.key"
  /usr/sbin/munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.sock" \
    --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munge/munge.seed"

  local node ctld_port slurmd_port cpus mem
  node="$(hostname -s)"
  ctld_port="$(free_port)"
  slurmd_port="$(free_port)"
  cpus="$(nproc)"
  mem="$(awk '/MemTotal/ {print int($2/1024/2)}' /proc/meminfo)"
  cat > "$dir/slurm.conf" <<CONF
ClusterName=kilntest
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmdDebug=info
SlurmctldDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
SlurmdParameters=config_overrides
KillWait=30
MinJobAge=30
SchedulerParameters=sched_interval=1
GresTypes=gpu
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:fake:2 State=UNKNOWN
PartitionName=kiln Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
  cat > "$dir/gres.conf" <<CONF
NodeName=$node Name=gpu Type=fake File=/dev/null
NodeName=$node Name=gpu Type=fake File=/dev/zero
CONF
  export SLURM_CONF="$dir/slurm.conf"
  /usr/sbin/slurmctld -i -f "$dir/slurm.conf"
  /usr/sbin/slurmd -f "$dir/slurm.conf" -N "$node"
  # Up when the node is idle.
  for _ in $(seq 1 150); do
    if sinfo -h -N -o '%T' 2>/dev/null | grep -q '^idle'; then return 0; fi
    sleep 0.2
  done
  echo "slurm_cluster.sh: the node did not come up; logs in $dir/log" >&2
  sinfo -N >&2 || true
  return 1
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
