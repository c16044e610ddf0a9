#!/usr/bin/env bash
# Starts a single-node Slurm cluster on this machine for Kiln's Slurm tests and benchmarks: munged, slurmctld and
# slurmd, with as many CPUs as nproc reports and jobcomp/filetxt (finished tasks are known without slurmdbd).
# Installs Debian's slurm-wlm and munge when absent. Does nothing when a cluster already answers. Needs root (or sudo).
# scripts/slurm-down.sh stops what this started.
set -euo pipefail

conf=/etc/slurm/slurm.conf
marker="# written by Kiln's scripts/slurm-up.sh"
state=/var/lib/kiln-slurm
sudo_cmd=""
if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi

if command -v sinfo >/dev/null 2>&1 && timeout 5 sinfo -h >/dev/null 2>&1; then
  echo "slurm-up: a cluster already answers" >&2
  exit 0
fi

if ! command -v slurmctld >/dev/null 2>&1 || ! command -v slurmd >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  echo "slurm-up: installing slurm-wlm munge" >&2
  $sudo_cmd apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq slurm-wlm munge >&2
fi

# A configuration someone else wrote is theirs: never overwrite it.
if [ -f "$conf" ] && ! grep -qF "$marker" "$conf"; then
  echo "slurm-up: $conf exists and was not written by this script; using it as it is" >&2
else
  host="$(hostname -s)"
  cpus="$(nproc)"
  mem_mb="$(awk '/MemTotal/ { printf "%d", $2 / 1024 * 0.8 }' /proc/meminfo)"
  $sudo_cmd mkdir -p /etc/slurm "$state/ctld" "$state/d" "$state/log"
  $sudo_cmd tee "$conf" >/dev/null <<EOF
$marker
ClusterName=kiln
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
# A requeued job waits cred_expire seconds before it starts again (120 by default): tests requeue often.
AuthInfo=cred_expire=5
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$state/log/jobcomp.txt
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
MaxArraySize=1001
MaxJobCount=20000
MinJobAge=60
KillWait=5
InactiveLimit=0
Waittime=0
DefMemPerCPU=$((mem_mb / cpus / 4))
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
fi

# munged: Debian's package leaves the key; its folders must belong to the munge user.
if ! pgrep -x munged >/dev/null 2>&1; then
  $sudo_cmd mkdir -p /run/munge /var/lib/munge /var/log/munge
  $sudo_cmd chown munge:munge /run/munge /var/lib/munge /var/log/munge
  [ -f /etc/munge/munge.key ] || $sudo_cmd /usr/sbin/mungekey --create >&2
  $sudo_cmd chown munge:munge /etc/munge/munge.key
  $sudo_cmd chmod 0400 /etc/munge/munge.key
  $sudo_cmd runuser -u munge -- /usr/sbin/munged
fi

pgrep -x slurmctld >/dev/null 2>&1 || $sudo_cmd /usr/sbin/slurmctld
pgrep -x slurmd >/dev/null 2>&1 || $sudo_cmd /usr/sbin/slurmd

# Ready when the node is idle (not just registered): a job submitted now starts.
for _ in $(seq 1 60); do
  if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
    echo "slurm-up: cluster ready ($(sinfo -h -o '%n %c CPUs %t' | head -n 1))" >&2
    exit 0
  fi
  # A node left down by an earlier run (a crash, a reboot) comes back.
  scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true
  sleep 0.5
done
echo "slurm-up: the cluster did not become ready; see $state/log/" >&2
exit 1
