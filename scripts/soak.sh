#!/usr/bin/env bash
# The soak: the SIGKILL probe (a training process killed with SIGKILL at random while commands arrive, started again
# on the same run directory) and the many-writer probe (concurrent writers, each command decided exactly once), at
# full size: 20 kills, 100 writers x 100 commands. Not part of the test suite, which runs both probes small.
#
#   scripts/soak.sh [full|small] [ROUNDS]      (or KILN_SOAK=small, KILN_SOAK_ROUNDS=N; KILN_SOAK_SEED=N repeats a run)
#
# Builds first unless --no-build comes first. Exits non-zero when a round fails; the last line is the totals.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

build=1
if [ "${1:-}" = "--no-build" ]; then build=0; shift; fi
size="${1:-${KILN_SOAK:-full}}"
rounds="${2:-${KILN_SOAK_ROUNDS:-1}}"
case "$size" in small|full) ;; *) echo "soak.sh: size must be small or full, got '$size'" >&2; exit 2 ;; esac
case "$rounds" in ''|*[!0-9]*) echo "soak.sh: rounds must be a whole number, got '$rounds'" >&2; exit 2 ;; esac

if [ "$build" -eq 1 ]; then
  dotnet build "$root/tests/Kiln.Core.Tests/Kiln.Core.Tests.csproj" -c Release -nologo -v quiet || { echo "build failed" >&2; exit 1; }
fi

export KILN_SOAK="$size"
filter="FullyQualifiedName~Kiln.Core.Tests.KillProbeTests|FullyQualifiedName=Kiln.Core.Tests.KernelRuleTests.A_hundred_concurrent_writers_lose_nothing"
passed=0; failed=0
for round in $(seq 1 "$rounds"); do
  echo "== soak round $round of $rounds ($size)"
  if dotnet test "$root/tests/Kiln.Core.Tests/Kiln.Core.Tests.csproj" -c Release --no-build --filter "$filter" \
      --logger "console;verbosity=normal"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
done
echo "soak: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
