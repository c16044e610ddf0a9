#!/usr/bin/env bash
# Runs every test project and ends with one line: "N passed, N failed[, N skipped]".
# Installs what the tests need first (scripts/setup.sh), and publishes the kiln executable the
# end-to-end tests run as a real process.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/scripts/setup.sh" || { echo "setup failed" >&2; exit 1; }
"$root/scripts/publish.sh" || { echo "publishing kiln failed" >&2; exit 1; }
export KILN_BIN="$root/.kiln-bin/kiln"
# The .NET tool package, which a test installs into a temporary tool path
"$root/scripts/pack.sh" || { echo "packing kiln as a tool failed" >&2; exit 1; }
export KILN_PACKAGES="$root/artifacts/packages"

results="$root/artifacts/test-results"
rm -rf "$results"
mkdir -p "$results"

# The Slurm tests' single-node cluster; without one they skip, saying why. Stopped again at the end.
# A cluster that already answered before is someone else's to stop.
slurm_started=0
if ! timeout 5 sinfo -h >/dev/null 2>&1; then
  if bash "$root/scripts/slurm-up.sh"; then slurm_started=1; else echo "slurm-up failed: the Slurm tests will be skipped" >&2; fi
fi

status=0
dotnet test "$root/Kiln.slnx" -c Release --logger "trx" --results-directory "$results" "$@" || status=$?

[ "$slurm_started" -eq 1 ] && bash "$root/scripts/slurm-down.sh"

passed=0; failed=0; skipped=0; files=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  files=$((files + 1))
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  get() { echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  total=$(get total); executed=$(get executed); p=$(get passed); f=$(get failed); e=$(get error)
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0} + ${e:-0}))
  skipped=$((skipped + ${total:-0} - ${executed:-0}))
done
# The Python client's tests (clients/python), with an interpreter that can import torch (scripts/python.sh)
if python="$("$root/scripts/python.sh")"; then
  "$python" "$root/clients/python/tests/run.py" "$results/python.counts" || status=1
fi
if [ -f "$results/python.counts" ]; then
  read -r p f s < "$results/python.counts"
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s)); files=$((files + 1))
else
  echo "the Python client's tests did not run" >&2
  failed=$((failed + 1))
fi
if [ "$files" -eq 0 ]; then
  echo "no test results were written" >&2
  status=1
fi
if [ "$failed" -gt 0 ] && [ "$status" -eq 0 ]; then status=1; fi

if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
exit "$status"
