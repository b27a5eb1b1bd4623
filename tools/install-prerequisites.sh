#!/usr/bin/env bash
# Install the system packages the project needs on Debian/Ubuntu, only those missing.
# Python 3.11+, Go, Java 17 and Maven are expected from the machine image; this script says
# clearly which one is missing instead of guessing how to install a toolchain.
set -euo pipefail

missing_tools=()
command -v python3 >/dev/null || missing_tools+=("python3 (>= 3.11)")
command -v go >/dev/null || missing_tools+=("go (>= 1.24)")
command -v java >/dev/null || missing_tools+=("java (OpenJDK 17)")
command -v mvn >/dev/null || missing_tools+=("mvn (Maven)")
command -v npm >/dev/null || missing_tools+=("node and npm (Node.js >= 20.19, for the dashboard)")
if ((${#missing_tools[@]})); then
  echo "missing toolchains: ${missing_tools[*]}" >&2
  echo "install them: Go >= 1.24 from go.dev (Debian bookworm's golang is too old)," >&2
  echo "  Node.js >= 20.19 from nodejs.org or NodeSource (bookworm's nodejs is 18)," >&2
  echo "  apt-get install openjdk-17-jdk-headless maven python3-venv" >&2
  exit 1
fi
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' || {
  echo "node is $(node --version); the dashboard's build (Vite) needs Node.js 20.19 or newer" >&2
  exit 1
}
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "python3 is $(python3 --version); Log Sentinel needs 3.11 or newer" >&2
  exit 1
}
python3 -c 'import venv, ensurepip' 2>/dev/null || need_venv=1

packages=()
command -v openssl >/dev/null || packages+=(openssl)
command -v make >/dev/null || packages+=(make)
command -v lua5.4 >/dev/null || packages+=(lua5.4)        # runs fluent-bit/kafka_key.lua in tests
command -v useradd >/dev/null || packages+=(passwd)       # PostgreSQL refuses root: a user runs it
[[ -n "${need_venv:-}" ]] && packages+=(python3-venv)
# mypyc's C extensions of logsentinel.parsing (hatch_build.py; tests/unit/test_compiled_parsing.py)
command -v gcc >/dev/null || packages+=(gcc libc6-dev)
python3 -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || packages+=(python3-dev)
# The local stack's real node (tools/devstack/node.py) and its images (tools/devstack/images.py)
command -v containerd >/dev/null || packages+=(containerd)
command -v runc >/dev/null || packages+=(runc)
command -v iptables >/dev/null || packages+=(iptables)
command -v conntrack >/dev/null || packages+=(conntrack)
command -v ip >/dev/null || packages+=(iproute2)
[[ -x /usr/lib/cni/bridge ]] || packages+=(containernetworking-plugins)
command -v podman >/dev/null || packages+=(podman)
command -v buildah >/dev/null || packages+=(buildah)
command -v mmdebstrap >/dev/null || packages+=(mmdebstrap)
command -v chromium >/dev/null || packages+=(chromium)    # the dashboard's browser tests
if ((${#packages[@]})); then
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  echo "installing: ${packages[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${packages[@]}"
fi
echo "prerequisites present: python $(python3 -c 'import platform; print(platform.python_version())'), $(go version | cut -d' ' -f3), java $(java -version 2>&1 | head -1 | cut -d'"' -f2), maven $(mvn -B -v 2>/dev/null | head -1 | cut -d' ' -f3), node $(node --version)"
