#!/usr/bin/env bash
# Prints the Python interpreter for the PyTorch client (clients/python): the first that can import torch — Debian's
# python3-torch lives under /usr/bin/python3, while `python3` on the PATH may be another one (pyenv). With none that
# can, it says so on stderr and prints the first Python 3 found (the torch tests then skip, saying why).
set -uo pipefail
candidates=()
[ -n "${KILN_PYTHON:-}" ] && candidates+=("$KILN_PYTHON")
candidates+=(/usr/bin/python3 "$(command -v python3 2>/dev/null || true)")
first=""
for py in "${candidates[@]}"; do
  [ -n "$py" ] && [ -x "$py" ] || continue
  [ -z "$first" ] && first="$py"
  if "$py" -c "import torch" >/dev/null 2>&1; then echo "$py"; exit 0; fi
done
if [ -z "$first" ]; then echo "python: no Python 3 interpreter found; the Python client's tests cannot run" >&2; exit 1; fi
echo "python: no interpreter here can import torch (tried ${candidates[*]}); install Debian's python3-torch (scripts/setup.sh does)" >&2
echo "$first"
