#!/usr/bin/env bash
# Build berth's pod infra process (src/pause/pause.c, the kubelet's pause) as a static
# binary: the PID 1 of `shareProcessNamespace: true` pods (src/reconciler/pod-infra.ts).
# Cached by a hash of the source, this script and the compiler version: a second run with
# nothing changed only prints the path. Needs gcc and libc6-dev (scripts/setup.sh).
#
#   bash scripts/build-pause.sh [OUT]    # default dist/bundle/berth-pause; prints OUT
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist/bundle/berth-pause}
command -v gcc >/dev/null || { echo "build-pause.sh: gcc missing (apt-get install gcc libc6-dev)" >&2; exit 1; }
key=$( { gcc --version | head -1; cat "$0" src/pause/pause.c; } | sha256sum | cut -c1-16)
if [ -x "$out" ] && [ "$(cat "$out.key" 2>/dev/null)" = "$key" ]; then echo "$out"; exit 0; fi
mkdir -p "$(dirname "$out")"
gcc -static -Os -s -Wall -Wextra -Werror -o "$out.tmp" src/pause/pause.c
"$out.tmp" -v >/dev/null
mv "$out.tmp" "$out"
echo "$key" > "$out.key"
echo "$out"
