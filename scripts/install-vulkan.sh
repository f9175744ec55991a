#!/usr/bin/env bash
# Installs a software Vulkan driver (Mesa lavapipe >= 23) on a GPU-less Debian/Ubuntu machine, so
# that Dawn (the `webgpu` package) finds an adapter. Debian bookworm ships Mesa 22.3, which Dawn
# refuses ("shaderUniform*ArrayDynamicIndexing required"); bookworm-backports has Mesa 25.
set -euo pipefail
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
have_lavapipe() {
  local v
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  [ -n "$v" ] && dpkg --compare-versions "$v" ge 23
}
if have_lavapipe; then echo "mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers) already installed"; exit 0; fi
. /etc/os-release
if [ "${VERSION_CODENAME:-}" = bookworm ]; then
  if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/backports.list >/dev/null
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1
else
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1
fi
have_lavapipe || { echo "installed Mesa is older than 23; Dawn needs Mesa >= 23 (see README)" >&2; exit 1; }
echo "software Vulkan ready: mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)"
