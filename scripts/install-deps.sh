#!/usr/bin/env bash
# Install what rampart needs from Debian 12's packages; does nothing when all are present.
set -euo pipefail
PKGS=(build-essential cmake pkg-config libopenblas-dev libomp-dev zlib1g-dev libcjson-dev
      libpng-dev libjpeg62-turbo-dev libcmocka-dev dataset-fashion-mnist
      python3 python3-torch python3-torchvision python3-pil
      libopenmpi-dev openmpi-bin  # data-parallel training and sharded evaluation (src/dist)
      chromium)  # tests/cli_report.sh renders the HTML report headless
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
