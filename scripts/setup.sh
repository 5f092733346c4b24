#!/usr/bin/env bash
# Set up berth on a Debian 12 machine, as root: the system packages it drives, the npm
# dependencies, the build, `berth` on the PATH, and the example image (built offline from
# the host's busybox-static). Idempotent: run it again after pulling changes.
#
#   bash scripts/setup.sh            # everything
#   BERTH_SKIP_APT=1 bash scripts/setup.sh   # packages already there
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

[ "$(id -u)" = 0 ] || { echo "setup.sh: run as root (berth manages namespaces, mounts and containers)" >&2; exit 1; }

# The components berth drives (DESIGN.md §3) and the tools its tests and benchmarks use.
packages=(crun runc conmon containernetworking-plugins iproute2 iptables util-linux busybox-static
          umoci skopeo jq git ca-certificates procps psmisc gnupg bzip2 xz-utils
          docker-registry apache2-utils curl appc-spec gcc libc6-dev golang-go golang-github-appc-spec-dev
          podman netavark aardvark-dns containerd)
if [ -z "${BERTH_SKIP_APT:-}" ]; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

node -e 'const [M]=process.versions.node.split(".").map(Number); if (M < 20) { console.error("setup.sh: berth needs Node.js >= 20, found " + process.version); process.exit(1) }'

# npm dependencies exactly as locked, then the build.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
chmod +x dist/bundle/berth.mjs
ln -sf "$repo/dist/bundle/berth.mjs" /usr/local/bin/berth

# The example image (examples/pods use oci:/opt/berth/images/busybox:latest).
bash scripts/build-busybox-image.sh /opt/berth/images/busybox latest >/dev/null
echo "setup.sh: berth $(berth --version) ready; example image at oci:/opt/berth/images/busybox:latest"
