#!/usr/bin/env bash
# The bench on a lent real-GPU machine (the workplace's `device` tool), which is bare (no Node, no npm
# registry, no Vulkan loader) and takes at most 64 MiB per call. What it needs travels in three calls,
# each carrying one folder of .device/ (ignore it in .git/info/exclude), which `pack` builds here:
#   p1: this machine's Node (xz), the Vulkan loader and glvnd (NVIDIA's Vulkan driver needs its
#       libGLdispatch: without it "Found no drivers"), ref/ (ResNet-50's reference outputs, the image,
#       the labels), the first piece of the weights;  p2: the second piece;  p3: node_modules without
#       the compiler and the browser driver (Dawn for linux-x64 only), the last piece.
# Usage: here `bash bench/device-run.sh pack`; there, one call each, carrying .device/p1, p2, p3:
#   bash bench/device-run.sh unpack | add | bench [more bench options]
# Everything lands in /tmp/g, which lives as long as the machine stays warm between the calls.
set -euo pipefail
G=/tmp/g
mkdir -p "$G"
case "${1:-}" in
pack)
  rm -rf .device && mkdir -p .device/p1/ref/images .device/p1/ref/labels .device/p2 .device/p3
  xz -T2 -c "$(command -v node)" > .device/p1/node.xz
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  mkdir -p /tmp/amd64/partial && apt-get $o update -qq
  (cd .device/p1 && apt-get $o download -qq libvulkan1 libglvnd0 libglx0 libegl1 libgl1 libgles2 libopengl0)
  ref=${GLIMPSE_REF:-../shared/ref}
  cp "$ref"/resnet50_keras_chelsea_224.safetensors .device/p1/ref/ && cp "$ref"/images/* .device/p1/ref/images/ && cp "$ref"/labels/* .device/p1/ref/labels/
  w=$(node --import tsx -e "import('./src/io/pretrained.ts').then((m) => console.log(m.resnet50Path()))")
  xz -T2 -c "$w" | split -b 28000000 - .device/r50.part.
  mv .device/r50.part.aa .device/p1/ && cat .device/r50.part.ab .device/r50.part.ac > .device/p2/r50.part.ab && mv .device/r50.part.ad .device/p3/
  rm .device/r50.part.*
  tar -cJf .device/p3/mods.tar.xz --exclude='node_modules/webgpu/dist/[dw]*' --exclude='node_modules/webgpu/dist/linux-arm64' \
    --exclude=node_modules/typescript --exclude=node_modules/@typescript --exclude=node_modules/playwright-core --exclude=node_modules/@types node_modules
  (cd "$(dirname "$w")" && sha256sum resnet50-imagenet.safetensors) | tee .device/p3/weights.sha256
  du -sh .device/*
  ;;
unpack)
  cp -r .device/p1/. "$G"/
  xz -dc "$G"/node.xz > "$G"/node && chmod +x "$G"/node && rm "$G"/node.xz
  for f in "$G"/*.deb; do dpkg -x "$f" /; done
  ldconfig
  "$G"/node --version
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv
  ls /usr/local/nvidia/share/vulkan/icd.d/ /usr/share/vulkan/icd.d/ /etc/vulkan/icd.d/ 2>/dev/null || true
  ;;
add)
  cp -r .device/p2/. "$G"/
  ls -l "$G"
  ;;
bench)
  cp -r .device/p3/. "$G"/
  tar -xJf "$G"/mods.tar.xz
  export GLIMPSE_CACHE="$PWD/weights"
  mkdir -p weights
  cat "$G"/r50.part.* | xz -dc > weights/resnet50-imagenet.safetensors
  (cd weights && sha256sum -c "$G"/weights.sha256)
  icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  [ -f "$icd" ] && export VK_DRIVER_FILES="$icd"
  export XDG_RUNTIME_DIR=/tmp GLIMPSE_REF="$G/ref" GLIMPSE_PYTHON=python3 GLIMPSE_REF_DEVICE=cuda PATH="$G:$PATH"
  node --import tsx scripts/probe-adapter.ts
  nvidia-smi --query-gpu=name,clocks.max.sm --format=csv,noheader | tee "${OUT:-/tmp}"/gpu.txt
  # FP32 peak of a Hopper GPU: SMs (from PyTorch) x 128 FP32 lanes x 2 (an FMA) x the max SM clock.
  sms=$(python3 -c 'import torch; print(torch.cuda.get_device_properties(0).multi_processor_count)')
  mhz=$(nvidia-smi --query-gpu=clocks.max.sm --format=csv,noheader,nounits | head -1)
  peak=$((sms * 128 * 2 * mhz / 1000))
  echo "FP32 peak: $sms SMs x 128 x 2 x $mhz MHz = $peak GFLOP/s"
  node --import tsx bench/bench.ts --only resnet50,conv2d --ig-steps 50,200 --runs 3 --device --peak-gflops "$peak" "${@:2}" 2>&1 | tee "${OUT:-/tmp}"/bench.log
  cp bench/README.md bench/results/bench.json "${OUT:-/tmp}"/
  ;;
*)
  echo "usage: bash bench/device-run.sh pack|unpack|add|bench [bench options]" >&2
  exit 2
  ;;
esac
