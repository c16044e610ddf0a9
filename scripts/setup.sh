#!/usr/bin/env bash
# Installs what Kiln's tests and demos need on a fresh Debian machine, and nothing when it is already there.
set -euo pipefail

need=()
# Fashion-MNIST for the built-in runs, the engine benchmark and the dataset tests
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || need+=(dataset-fashion-mnist)
# npm: the dashboard's build installs uPlot from the npm registry (npm ci in src/Kiln.Server/wwwroot)
command -v npm >/dev/null 2>&1 || need+=(npm)
# Debian's chromium: the dashboard's browser tests drive it with Playwright
[ -x /usr/bin/chromium ] || need+=(chromium)
# Debian's PyTorch: the Python client's tests train real torch loops (clients/python)
/usr/bin/python3 -c "import torch" >/dev/null 2>&1 || need+=(python3-torch)
# OpenBLAS: PyTorch's BLAS at its fastest (without it Debian's torch falls back to the reference BLAS, ten times slower),
# and the engine's optional OpenBLAS backend
[ -e /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 ] || [ "$(uname -m)" != x86_64 ] || need+=(libopenblas0-pthread)

if [ "${#need[@]}" -gt 0 ]; then
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  echo "setup: installing ${need[*]}" >&2
  $sudo_cmd apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >&2
fi
