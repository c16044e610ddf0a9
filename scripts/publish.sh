#!/usr/bin/env bash
# Publishes the kiln command line, ahead-of-time compiled (ReadyToRun) for a fast start, into .kiln-bin/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/.kiln-bin"
rid="$(dotnet --info | sed -n 's/^ *RID: *//p' | head -n 1)"
dotnet publish "$root/src/Kiln.Cli/Kiln.Cli.csproj" -c Release -r "${rid:-linux-x64}" --self-contained false \
  -p:PublishReadyToRun=true -o "$out" -nologo -v quiet
touch "$out/.stamp"
