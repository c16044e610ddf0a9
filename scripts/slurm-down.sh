#!/usr/bin/env bash
# Stops the single-node cluster scripts/slurm-up.sh started (slurmd, slurmctld, munged). A cluster whose
# configuration this repository did not write is left alone.
set -uo pipefail

conf=/etc/slurm/slurm.conf
marker="# written by Kiln's scripts/slurm-up.sh"
state=/var/lib/kiln-slurm
sudo_cmd=""
if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi

if [ ! -f "$conf" ] || ! grep -qF "$marker" "$conf"; then
  echo "slurm-down: no cluster of ours to stop" >&2
  exit 0
fi

stop() { # pidfile name
  local pid
  pid="$(cat "$1" 2>/dev/null || true)"
  [ -n "$pid" ] || pid="$(pgrep -x "$2" | head -n 1 || true)"
  [ -n "$pid" ] || return 0
  $sudo_cmd kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  $sudo_cmd kill -9 "$pid" 2>/dev/null || true
}

stop "$state/slurmd.pid" slurmd
stop "$state/slurmctld.pid" slurmctld
stop /run/munge/munged.pid munged
echo "slurm-down: stopped" >&2
