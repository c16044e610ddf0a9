#!/usr/bin/env bash
# Packs the kiln command line as a .NET tool into artifacts/packages/ (Kiln.Cli.<version>.nupkg):
#   dotnet tool install --global Kiln.Cli --add-source artifacts/packages
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/artifacts/packages"
mkdir -p "$out"
dotnet pack "$root/src/Kiln.Cli/Kiln.Cli.csproj" -c Release -o "$out" -nologo -v quiet
