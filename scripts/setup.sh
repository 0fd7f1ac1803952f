#!/usr/bin/env bash
# Installs the Debian packages secbits needs to build, test, benchmark and run
# its demo; only those that are missing, so a second run does nothing.
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config          # build
  libgtest-dev libbenchmark-dev             # tests and benchmarks
  libjemalloc-dev                           # the interposer's fallback arena
  libsodium-dev libssl-dev libbotan-2-dev   # benchmark peers
  gdb                                       # gcore, for the core-file checks
  # the interposer's real-program suite (tests/real_programs)
  python3 libpython3.11-testsuite sqlite3 git perl openssl openssh-client
  bash coreutils binutils tar gzip findutils
  time                                      # the whole-process benchmark (GNU time)
  clang-14 libclang-rt-14-dev               # the libFuzzer targets (scripts/fuzz.sh): clang and its libFuzzer runtime
  # promtool, which checks secbits-audit --prometheus's output (tests/preload/fleet_audit_test.sh). Debian ships
  # it only in the server's package: 19 MB (96 MB installed), and on a machine run by systemd it enables and
  # starts prometheus.service (port 9090). No test uses that server; stop and disable it if you do not want it.
  prometheus
  debhelper lintian                         # the Debian packages (scripts/package.sh) and their check
  man-db                                    # man --warnings: the manual pages render cleanly
  systemd                                   # systemd-analyze verify of deploy/'s drop-in (nothing is started)
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$package")
  fi
done
(( ${#missing[@]} == 0 )) && exit 0

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "secbits setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "secbits setup: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
