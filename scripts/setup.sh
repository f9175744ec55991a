#!/usr/bin/env bash
# Set-up of a checkout on a fresh machine: the npm packages, a WebGPU adapter (on a GPU-less
# Debian/Ubuntu machine, Mesa's software Vulkan driver lavapipe, installed with apt-get), and the
# pretrained ResNet-50 in the cache. Each step is skipped when already done. `--no-weights` skips the last.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

echo "== npm packages (node $(node --version))"
if [ -n "${CI:-}" ] || [ ! -d node_modules ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi

echo "== WebGPU adapter"
probe() { node --import tsx scripts/probe-adapter.ts 2>&1 | grep -v '^Warning: maxDynamic'; }
if ! probe; then
  if [ "$(uname -s)" = Linux ] && command -v apt-get >/dev/null; then
    echo "No WebGPU adapter answered. Installing Mesa's lavapipe, a software Vulkan driver that runs WebGPU"
    echo "on the CPU: apt-get install mesa-vulkan-drivers libvulkan1 (from bookworm-backports on Debian 12,"
    echo "whose own Mesa 22 is too old for Dawn), with sudo unless run as root."
    bash scripts/install-vulkan.sh
    probe
  else
    echo "No WebGPU adapter answered; Glimpse needs a Vulkan, Metal or D3D12 driver (see README)." >&2
    exit 1
  fi
fi

if [ "${1:-}" != --no-weights ]; then
  echo "== pretrained ResNet-50"
  node bin/glimpse.js fetch-weights
fi
echo "ready: npm run demo"
