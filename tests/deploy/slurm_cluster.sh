#!/usr/bin/env bash
# A single-node Slurm cluster in a folder, on loopback, for tests (tests/deploy/slurm_test.cc):
#   slurm_cluster.sh start DIR   munged, slurmctld and slurmd with DIR/slurm.conf; waits until the node
#                                is idle. Exit 3: a tool is missing; 4: the daemons cannot run here.
#   slurm_cluster.sh stop DIR    stops them.
# Commands reach it with SLURM_CONF=DIR/slurm.conf. Every daemon runs under `timeout`, so a cluster
# whose test died stops by itself after 10 minutes.
set -uo pipefail
action=${1:?usage: slurm_cluster.sh start|stop DIR}
dir=${2:?usage: slurm_cluster.sh start|stop DIR}

stop() {
  [ -f "$dir/pids" ] || return 0
  while read -r pid; do kill "$pid" 2>/dev/null; done <"$dir/pids"
  for _ in $(seq 50); do
    alive=0
    while read -r pid; do kill -0 "$pid" 2>/dev/null && alive=1; done <"$dir/pids"
    [ $alive = 0 ] && break
    sleep 0.1
  done
  while read -r pid; do kill -9 "$pid" 2>/dev/null; done <"$dir/pids"
  rm -f "$dir/pids"
}

if [ "$action" = stop ]; then
  stop
  exit 0
fi
[ "$action" = start ] || { echo "slurm_cluster.sh: unknown action '$action'" >&2; exit 1; }

missing=()
for tool in munged slurmctld slurmd sbatch sinfo squeue; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "slurm_cluster.sh: missing ${missing[*]} (Debian: munge slurmctld slurmd slurm-client; make setup installs them)" >&2
  exit 3
fi

mkdir -p "$dir/state" "$dir/spool"
dir="$(cd "$dir" && pwd)"
: >"$dir/pids"
user=$(id -un)
host=$(hostname -s 2>/dev/null || uname -n)
head -c 1024 /dev/urandom >"$dir/munge.key"
chmod 400 "$dir/munge.key"
timeout 600 munged -F --force --socket="$dir/munge.sock" --key-file="$dir/munge.key" --log-file="$dir/munged.log" \
  --pid-file="$dir/munged.pid" --seed-file="$dir/munged.seed" >>"$dir/munged.out" 2>&1 &
echo $! >>"$dir/pids"
for _ in $(seq 100); do [ -S "$dir/munge.sock" ] && break; sleep 0.1; done
if [ ! -S "$dir/munge.sock" ]; then
  echo "slurm_cluster.sh: munged did not start:" >&2
  cat "$dir/munged.out" "$dir/munged.log" >&2 2>/dev/null
  stop
  exit 4
fi

read -r ctld_port slurmd_port < <(/usr/bin/python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
cat >"$dir/slurm.conf" <<CONF
ClusterName=pflabtest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=$user
SlurmdUser=$user
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
AuthInfo=socket=$dir/munge.sock
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"
timeout 600 slurmctld -D -i -f "$SLURM_CONF" >>"$dir/slurmctld.out" 2>&1 &
echo $! >>"$dir/pids"
timeout 600 slurmd -D -N "$host" -f "$SLURM_CONF" >>"$dir/slurmd.out" 2>&1 &
echo $! >>"$dir/pids"
for _ in $(seq 300); do
  state=$(sinfo -h -o %t 2>/dev/null)
  [ "$state" = idle ] && exit 0
  sleep 0.1
done
echo "slurm_cluster.sh: the node did not become idle in 30 s (sinfo: '${state:-}'):" >&2
tail -n 20 "$dir"/slurmctld.log "$dir"/slurmd.log "$dir"/slurmctld.out "$dir"/slurmd.out >&2 2>/dev/null
stop
exit 4
