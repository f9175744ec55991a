#!/usr/bin/env bash
# Installs Debian's Chromium for the explorer's end-to-end test (driven by playwright-core, which
# downloads no browser of its own). Headless, it runs WebGPU on SwiftShader.
set -euo pipefail
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
if [ -x /usr/bin/chromium ]; then echo "$(/usr/bin/chromium --version 2>/dev/null) already installed"; exit 0; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium
echo "installed $(/usr/bin/chromium --version 2>/dev/null)"
