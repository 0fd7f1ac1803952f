#!/usr/bin/env bash
# Installs a build tree into a fresh prefix with `cmake --install`, then
# builds and runs programs against it with pkg-config alone and with CMake's
# find_package, in C and C++ (build_consumers.sh).
# Usage: check_install.sh BUILD_DIR
set -euo pipefail
build=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
pc=$(find "$prefix" -name secbits.pc)
libdir=$(dirname "$(dirname "$pc")")

PKG_CONFIG_PATH=$(dirname "$pc") CMAKE_PREFIX_PATH=$prefix LD_LIBRARY_PATH=$libdir \
  "$here/build_consumers.sh" "$work/consumers" "$libdir"
