#!/usr/bin/env bash
# Installs the Debian packages the build and tests need, only those that are missing (clang and its
# runtime libraries, libFuzzer among them, are for the fuzz targets); then, when they are missing, the
# charting libraries the HTML report inlines (reports/js) and the official Node.js GCS client the fake
# server's tests drive (tests/fake_gcs/node_client), each pinned by its package-lock.json.
# PFLAB_SETUP_PACKAGES_ONLY=1 installs the Debian packages only (no npm): the container image of
# deploy/k8s, which runs sweeps and needs neither the report's charting libraries nor the Node client.
set -euo pipefail

packages=(
  g++ cmake make pkg-config clang-format
  libboost1.81-dev nlohmann-json3-dev catch2 libbenchmark-dev libcli11-dev
  libcpp-httplib-dev libssl-dev libzstd-dev libsimdjson-dev  # zstd, simdjson: traces (binary format, JSONL parsing)
  curl rclone python3-fsspec
  libpython3.11-dev  # the Python bridge (py: policies); without it pflab builds with them off
  dpkg-dev file  # make package: CPack computes the .deb's Depends with dpkg-shlibdeps, which needs both
  chromium
  clang libclang-rt-14-dev
  python3-yaml  # tests/deploy: reads the Kubernetes manifest
  python3-google-auth  # tests/net: cross-checks the service-account JWT and token exchange
  munge slurmctld slurmd slurm-client  # tests/deploy: a single-node Slurm cluster runs a sharded sweep
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

install_js() {
  local js_dir
  js_dir="$(cd "$(dirname "$0")/.." && pwd)/reports/js"
  if [ -f "$js_dir/node_modules/vega-embed/build/vega-embed.min.js" ] &&
     [ -f "$js_dir/node_modules/vega-lite/build/vega-lite.min.js" ] &&
     [ -f "$js_dir/node_modules/vega/build/vega.min.js" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "setup: npm (Node.js 20 or later) is needed to install the HTML report's charting libraries" >&2
    exit 1
  fi
  echo "setup: installing vega, vega-lite and vega-embed into reports/js (npm ci)"
  (cd "$js_dir" && npm ci --no-audit --no-fund --loglevel=error)
}

install_node_client() {
  local client_dir
  client_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/fake_gcs/node_client"
  if [ -f "$client_dir/node_modules/@google-cloud/storage/package.json" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "setup: npm (Node.js 20 or later) is needed to install @google-cloud/storage for the fake server's tests" >&2
    exit 1
  fi
  echo "setup: installing @google-cloud/storage into tests/fake_gcs/node_client (npm ci)"
  (cd "$client_dir" && npm ci --no-audit --no-fund --loglevel=error)
}

install_npm_parts() {
  if [ "${PFLAB_SETUP_PACKAGES_ONLY:-0}" = 1 ]; then
    return 0
  fi
  install_js
  install_node_client
}

if [ ${#missing[@]} -eq 0 ]; then
  install_npm_parts
  exit 0
fi

echo "setup: installing missing packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=sudo
  else
    echo "setup: these Debian packages are missing and installing them needs root:" >&2
    echo "  apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
install_npm_parts
