#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for `executor: slurm` in tests and on a laptop:
# munged, slurmctld and slurmd as the current user (root in CI), every file under one folder.
#   scripts/slurm-local.sh start [DIR]   start (or restart) it and wait until the node is idle
#   scripts/slurm-local.sh stop [DIR]    cancel its jobs and stop it (--keep-jobs: leave jobs running)
#   scripts/slurm-local.sh status [DIR]  say whether it runs (exit 0) or not (exit 3)
#   scripts/slurm-local.sh env [DIR]     print `export SLURM_CONF=...` for the shell (eval it)
# DIR defaults to $LLMOPS_SLURM_DIR, else ~/.cache/llmops/slurm. Slurm comes from Debian
# (slurm-wlm, munge: scripts/setup.sh installs them). No systemd or cgroups are needed:
# proctrack/linuxproc, task/none, no accounting daemon (sacct is not available; the executor
# reads scontrol). A restart keeps the ports and the job state, so jobs that ran meanwhile are
# found again. Knobs on first start: SLURM_NODE_CPUS (default nproc), SLURM_TIMEOUT (60 s).
set -euo pipefail

cmd=${1:-}
DIR=${2:-${LLMOPS_SLURM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llmops/slurm}}
case "$cmd" in start | stop | status | env) ;; *)
  echo "usage: scripts/slurm-local.sh start|stop|status|env [DIR] [--keep-jobs]" >&2
  exit 2
  ;;
esac
for tool in munged slurmctld slurmd sinfo; do
  if ! command -v "$tool" > /dev/null; then
    echo "slurm-local: $tool is missing: run scripts/setup.sh (it installs slurm-wlm and munge)" >&2
    exit 1
  fi
done
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
export SLURM_CONF="$DIR/slurm.conf"

alive() { # PID: running and not a zombie (an init that reaps late keeps zombies around)
  [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2> /dev/null)" != Z ]
}
pid_alive() { [ -f "$1" ] && alive "$(cat "$1" 2> /dev/null)"; }
node_state() { sinfo -h -o %T 2> /dev/null | head -1 || true; }

status() {
  if [ -f "$SLURM_CONF" ] && pid_alive "$DIR/run/slurmctld.pid"; then
    echo "slurm-local: running in $DIR (node $(node_state)); export SLURM_CONF=$SLURM_CONF"
    return 0
  fi
  echo "slurm-local: not running (folder $DIR)"
  return 3
}

write_conf() {
  local host cpus mem ctld_port d_port
  host=$(hostname -s)
  cpus=${SLURM_NODE_CPUS:-$(nproc)}
  mem=$(slurmd -C 2> /dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -1)
  mem=${mem:-2048}
  free_port() { # a random port nothing on loopback answers on
    local p
    while :; do
      p=$((20000 + RANDOM % 40000))
      (: < "/dev/tcp/127.0.0.1/$p") 2> /dev/null || break
    done
    echo "$p"
  }
  ctld_port=$(free_port)
  d_port=$(free_port)
  while [ "$d_port" = "$ctld_port" ]; do d_port=$(free_port); done
  cat > "$SLURM_CONF.tmp" << CONF
# Written by scripts/slurm-local.sh: a single-node cluster, everything under $DIR.
ClusterName=llmops
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=$(id -un)
SlurmdUser=$(id -un)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.sock
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/slurmd-%n
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd-%n.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
MpiDefault=none
SlurmdParameters=config_overrides
MailProg=/bin/true
ReturnToService=2
MinJobAge=86400
MaxJobCount=100000
SchedulerParameters=sched_interval=1
KillWait=5
InactiveLimit=0
Waittime=0
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=$host NodeHostname=$host NodeAddr=127.0.0.1 CPUs=$cpus Sockets=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
  mv "$SLURM_CONF.tmp" "$SLURM_CONF"
}

start() {
  if status > /dev/null; then
    status
    return 0
  fi
  mkdir -p "$DIR"/{munge,state,spool,log,run}
  chmod 700 "$DIR/munge"
  if [ ! -f "$DIR/munge/munge.key" ]; then
    dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1 count=1024 status=none
    chmod 400 "$DIR/munge/munge.key"
  fi
  if ! pid_alive "$DIR/munge/munged.pid"; then
    munged --force --socket="$DIR/munge/munge.sock" --key-file="$DIR/munge/munge.key" \
      --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/log/munged.log" \
      --seed-file="$DIR/munge/munged.seed" 9>&-
  fi
  [ -f "$SLURM_CONF" ] || write_conf # a restart keeps the ports running jobs report to
  local node
  node=$(sed -n 's/^NodeName=\([^ ]*\).*/\1/p' "$SLURM_CONF")
  mkdir -p "$DIR/spool/slurmd-$node"
  # The daemons must not inherit the lock (fd 9): it would stay held as long as they run.
  pid_alive "$DIR/run/slurmctld.pid" || slurmctld -f "$SLURM_CONF" 9>&-
  pid_alive "$DIR/run/slurmd-$node.pid" || slurmd -f "$SLURM_CONF" -N "$node" 9>&-
  local deadline=$((SECONDS + ${SLURM_TIMEOUT:-60})) st
  while :; do
    st=$(node_state)
    case "$st" in idle* | mixed* | allocated*) break ;; drain* | down*)
      scontrol update NodeName="$node" State=RESUME 2> /dev/null || true ;;
    esac
    if [ $SECONDS -ge $deadline ]; then
      echo "slurm-local: the node is not idle after ${SLURM_TIMEOUT:-60}s (state '$st'); logs:" >&2
      tail -n 20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd-$node.log" >&2 || true
      return 1
    fi
    sleep 0.2
  done
  echo "slurm-local: up in $DIR (node $node $st); export SLURM_CONF=$SLURM_CONF"
}

# slurmstepd processes of this cluster (found by the SLURM_CONF in their environment, and only
# processes named slurmstepd, so that a shell which exported it is never hit) and their children.
job_processes() {
  local p roots="" all ppid changed=1
  for p in /proc/[0-9]*; do
    [ "$(cat "$p/comm" 2> /dev/null)" = slurmstepd ] || continue
    if { tr '\0' '\n' < "$p/environ"; } 2> /dev/null | grep -qxF "SLURM_CONF=$SLURM_CONF"; then
      roots="$roots ${p#/proc/}"
    fi
  done
  [ -n "$roots" ] || return 0
  all=" $roots "
  while [ $changed = 1 ]; do
    changed=0
    for p in /proc/[0-9]*; do
      case "$all" in *" ${p#/proc/} "*) continue ;; esac
      ppid=$(awk '/^PPid:/{print $2}' "$p/status" 2> /dev/null)
      case "$all" in *" $ppid "*) all="$all${p#/proc/} " changed=1 ;; esac
    done
  done
  echo $all
}

stop_pidfile() { # FILE: TERM, then KILL after 10 s
  [ -f "$1" ] || return 0
  local pid t=200
  pid=$(cat "$1" 2> /dev/null || true)
  if [ -n "$pid" ] && alive "$pid"; then
    kill -TERM "$pid" 2> /dev/null || true
    while alive "$pid" && [ $t -gt 0 ]; do
      sleep 0.05
      t=$((t - 1))
    done
    alive "$pid" && kill -KILL "$pid" 2> /dev/null
  fi
  rm -f "$1"
}

stop() {
  local keep=${1:-}
  if [ "$keep" != --keep-jobs ] && status > /dev/null; then
    local ids t=50
    ids=$(timeout 10 squeue -h -o %i 2> /dev/null || true)
    if [ -n "$ids" ]; then
      # shellcheck disable=SC2086
      timeout 10 scancel $ids 2> /dev/null || true
      while [ -n "$(timeout 5 squeue -h -o %i 2> /dev/null)" ] && [ $t -gt 0 ]; do
        sleep 0.2
        t=$((t - 1))
      done
    fi
  fi
  for f in "$DIR"/run/slurmd-*.pid; do stop_pidfile "$f"; done
  stop_pidfile "$DIR/run/slurmctld.pid"
  if [ "$keep" != --keep-jobs ]; then
    local pids
    pids=$(job_processes)
    # shellcheck disable=SC2086
    [ -z "$pids" ] || kill -KILL $pids 2> /dev/null || true
  fi
  stop_pidfile "$DIR/munge/munged.pid"
  echo "slurm-local: stopped ($DIR)"
}

exec 9> "$DIR/.lock"
case "$cmd" in
  start) flock 9 && start ;;
  stop) flock 9 && stop "${3:-}" ;;
  status) status ;;
  env) echo "export SLURM_CONF=$SLURM_CONF" ;;
esac
