#!/usr/bin/env bash
# Installs what Kiln's tests and demos need on a fresh Debian machine, and nothing when it is already there.
set -euo pipefail

need=()
# (later capabilities add Debian packages here)

if [ "${#need[@]}" -gt 0 ]; then
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  echo "setup: installing ${need[*]}" >&2
  $sudo_cmd apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >&2
fi
