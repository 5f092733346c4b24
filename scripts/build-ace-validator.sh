#!/usr/bin/env bash
# Build the appc executor validator (appc/spec `ace/`: ace-validator-main and
# ace-validator-sidekick) offline from Debian's golang-github-appc-spec-dev source
# (GOPATH mode against /usr/share/gocode, no network), and pack the two ACIs with the
# manifests of test/fixtures/ace. Cached by a hash of the Go source, the manifests, this
# script and the Go version: a second run only prints the directory.
#
#   bash scripts/build-ace-validator.sh [CACHE_ROOT]   # prints the directory holding
#                                                     # ace-validator-main.aci, ace-validator-sidekick.aci
# CACHE_ROOT defaults to $BERTH_ACE_CACHE, else /var/cache/berth/ace-validator.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
gopath=${BERTH_ACE_GOPATH:-/usr/share/gocode}
src="$gopath/src/github.com/appc/spec"
[ -f "$src/ace/validator.go" ] || { echo "build-ace-validator.sh: $src/ace/validator.go missing (apt-get install golang-github-appc-spec-dev)" >&2; exit 1; }
command -v go >/dev/null || { echo "build-ace-validator.sh: go missing (apt-get install golang-go)" >&2; exit 1; }
root=${1:-${BERTH_ACE_CACHE:-/var/cache/berth/ace-validator}}

key=$( { go version; cat "$0" test/fixtures/ace/image_manifest_*.json;
         find "$src/ace" "$src/schema" "$src/pkg" "$src/aci" "$gopath/src/go4.org" -name '*.go' ! -name '*_test.go' -type f 2>/dev/null | LC_ALL=C sort | xargs cat; } | sha256sum | cut -c1-16)
out="$root/$key"
if [ -f "$out/ace-validator-main.aci" ] && [ -f "$out/ace-validator-sidekick.aci" ]; then echo "$out"; exit 0; fi

mkdir -p "$root"
work=$(mktemp -d "$root/.build-XXXXXX")
trap 'rm -rf "$work"' EXIT
# GOPATH mode: the Debian tree is the whole world, nothing is downloaded
GO111MODULE=off GOPATH="$gopath" GOCACHE="$work/gocache" GOFLAGS= GOPROXY=off CGO_ENABLED=0 \
  go build -trimpath -ldflags '-s -w' -o "$work/ace-validator" github.com/appc/spec/ace

for typ in main sidekick; do
  layout="$work/layout-$typ"
  mkdir -p "$layout/rootfs/opt/acvalidator"
  cp "$work/ace-validator" "$layout/rootfs/ace-validator"
  cp "test/fixtures/ace/image_manifest_$typ.json" "$layout/manifest"
  # stable metadata: the same source gives the same image ID
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$layout" -cf "$work/ace-validator-$typ.tar" manifest rootfs
  gzip -n -c "$work/ace-validator-$typ.tar" > "$work/ace-validator-$typ.aci"
  if command -v actool >/dev/null; then actool validate "$work/ace-validator-$typ.aci" >/dev/null; fi
done
mkdir -p "$out.tmp"
mv "$work/ace-validator-main.aci" "$work/ace-validator-sidekick.aci" "$out.tmp/"
rm -rf "$out" && mv "$out.tmp" "$out"
echo "$out"
