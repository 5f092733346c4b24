#!/usr/bin/env bash
# Build a reproducible, single-layer OCI image layout from the host's busybox-static.
#
#   scripts/build-busybox-image.sh OUT_LAYOUT_DIR [TAG]     (TAG defaults to "latest")
#
# Offline and byte-for-byte reproducible (HOST-NOTES.md §1): the layer is made with
# `tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner` and `gzip -n`, and jq
# writes config, manifest and index.json. OUT_LAYOUT_DIR is replaced as a whole: the layout
# is built beside it and renamed into place, so a reader never sees half a layout.
# Needs: bash, tar (GNU), gzip, sha256sum, jq, and /bin/busybox (Debian busybox-static).
# Use `oci:OUT_LAYOUT_DIR:TAG` as the image reference.
set -euo pipefail

usage() { echo "usage: $0 OUT_LAYOUT_DIR [TAG]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 && -n "$1" ]] || usage
OUT=$1
TAG=${2:-latest}
BUSYBOX=${BUSYBOX:-/bin/busybox}

for tool in tar gzip sha256sum jq; do
  command -v "$tool" >/dev/null || { echo "$0: $tool is required" >&2; exit 1; }
done
[[ -x "$BUSYBOX" ]] || { echo "$0: $BUSYBOX not found (apt-get install busybox-static)" >&2; exit 1; }
"$BUSYBOX" --list >/dev/null 2>&1 || { echo "$0: $BUSYBOX is not a busybox binary" >&2; exit 1; }
[[ "$TAG" =~ ^[A-Za-z0-9._:@/+-]+$ ]] || { echo "$0: invalid tag '$TAG'" >&2; exit 2; }

ARCH=$(dpkg --print-architecture 2>/dev/null || uname -m)
case "$ARCH" in
  x86_64) ARCH=amd64 ;;
  aarch64) ARCH=arm64 ;;
  i386 | i686) ARCH=386 ;;
  armhf | armel) ARCH=arm ;;
  ppc64el) ARCH=ppc64le ;;
esac

OUT=$(realpath -m -- "$OUT")
PARENT=$(dirname -- "$OUT")
mkdir -p -- "$PARENT"
WORK=$(mktemp -d "$PARENT/.build-busybox-image.XXXXXX")
cleanup() { rm -rf -- "$WORK"; }
trap cleanup EXIT

ROOTFS=$WORK/rootfs
LAYOUT=$WORK/layout
mkdir -p "$ROOTFS"/{bin,etc,root,tmp,proc,sys,dev,usr/bin,usr/sbin,sbin,var} "$LAYOUT/blobs/sha256"

cp -- "$BUSYBOX" "$ROOTFS/bin/busybox"
chmod 0755 "$ROOTFS/bin/busybox"
# Every applet this busybox knows, as a relative symlink in /bin (sh, ls, cat, ip, wget, httpd, …).
while read -r applet; do
  [[ "$applet" =~ ^[A-Za-z0-9._\[-]+$ && "$applet" != busybox ]] || continue
  ln -sf busybox "$ROOTFS/bin/$applet"
done < <("$BUSYBOX" --list)

cat >"$ROOTFS/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$ROOTFS/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
: >"$ROOTFS/etc/hostname"
chmod 0644 "$ROOTFS/etc/passwd" "$ROOTFS/etc/group" "$ROOTFS/etc/hostname"
chmod 0755 "$ROOTFS" "$ROOTFS"/{bin,etc,proc,sys,dev,usr,usr/bin,usr/sbin,sbin,var}
chmod 0700 "$ROOTFS/root"
chmod 1777 "$ROOTFS/tmp"

# The layer: a reproducible tar (sorted, mtime 0, root-owned), gzip without name/time.
LAYER_TAR=$WORK/layer.tar
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu \
  -C "$ROOTFS" -cf "$LAYER_TAR" .
DIFF_ID=sha256:$(sha256sum "$LAYER_TAR" | cut -d' ' -f1)
gzip -n -c "$LAYER_TAR" >"$WORK/layer.tar.gz"
LAYER_HEX=$(sha256sum "$WORK/layer.tar.gz" | cut -d' ' -f1)
LAYER_SIZE=$(stat -c %s "$WORK/layer.tar.gz")
mv "$WORK/layer.tar.gz" "$LAYOUT/blobs/sha256/$LAYER_HEX"

# blob FILE → prints "hex size" after moving FILE into the layout's blobs.
put_blob() {
  local hex size
  hex=$(sha256sum "$1" | cut -d' ' -f1)
  size=$(stat -c %s "$1")
  mv -- "$1" "$LAYOUT/blobs/sha256/$hex"
  echo "$hex $size"
}

jq -cnS --arg arch "$ARCH" --arg diff "$DIFF_ID" '{
  architecture: $arch,
  os: "linux",
  created: "1970-01-01T00:00:00Z",
  config: {
    Cmd: ["/bin/sh"],
    Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    WorkingDir: "/"
  },
  rootfs: {type: "layers", diff_ids: [$diff]},
  history: [{created: "1970-01-01T00:00:00Z", created_by: "scripts/build-busybox-image.sh"}]
}' | tr -d '\n' >"$WORK/config.json"
read -r CONFIG_HEX CONFIG_SIZE < <(put_blob "$WORK/config.json")

jq -cnS --arg chex "$CONFIG_HEX" --argjson csize "$CONFIG_SIZE" --arg lhex "$LAYER_HEX" --argjson lsize "$LAYER_SIZE" '{
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: ("sha256:" + $chex), size: $csize},
  layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: ("sha256:" + $lhex), size: $lsize}]
}' | tr -d '\n' >"$WORK/manifest.json"
read -r MANIFEST_HEX MANIFEST_SIZE < <(put_blob "$WORK/manifest.json")

jq -cnS --arg mhex "$MANIFEST_HEX" --argjson msize "$MANIFEST_SIZE" --arg tag "$TAG" --arg arch "$ARCH" '{
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.index.v1+json",
  manifests: [{
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    digest: ("sha256:" + $mhex),
    size: $msize,
    platform: {architecture: $arch, os: "linux"},
    annotations: {"org.opencontainers.image.ref.name": $tag}
  }]
}' | tr -d '\n' >"$LAYOUT/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$LAYOUT/oci-layout"

# Replace OUT as a whole (idempotent): move the old one aside, rename the new one in.
if [[ -e "$OUT" || -L "$OUT" ]]; then
  mv -- "$OUT" "$WORK/old"
fi
mv -- "$LAYOUT" "$OUT"
echo "sha256:$MANIFEST_HEX"
