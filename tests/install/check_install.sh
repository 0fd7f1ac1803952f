#!/usr/bin/env bash
# Installs a build tree into a fresh prefix, then builds and runs a program
# against it twice: with `pkg-config --cflags --libs secbits` alone, and with
# CMake's find_package(secbits).
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

# shellcheck disable=SC2046  # pkg-config's output is meant to be split
g++ "$here/consumer/consumer.cpp" $(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags --libs secbits) \
  -o "$work/consumer-pkg-config"
LD_LIBRARY_PATH=$libdir "$work/consumer-pkg-config"

cmake -S "$here/consumer" -B "$work/consumer-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/consumer-build" >/dev/null
LD_LIBRARY_PATH=$libdir "$work/consumer-build/consumer"
