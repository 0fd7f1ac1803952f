#!/usr/bin/env bash
# Builds and runs the programs an installed secbits must serve, each with
# nothing but what the installation provides: C with `pkg-config secbits`
# and -Werror, C++ with `pkg-config secbits-cxx` alone (no -std of its own),
# and both again with CMake's find_package(secbits). Each must load
# libsecbits.so from LIBDIR, the installation under test.
# Usage: build_consumers.sh WORK_DIR LIBDIR
# (with PKG_CONFIG_PATH, CMAKE_PREFIX_PATH and LD_LIBRARY_PATH as that
# installation needs: none for one in /usr)
set -euo pipefail
work=$1
libdir=$(readlink -f "$2")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$work"

run() {  # PROGRAM
  local loaded
  loaded=$(ldd "$1" | awk '$1 ~ /^libsecbits\.so/ { print $3 }')
  if [[ -z $loaded || $(readlink -f "$(dirname "$loaded")") != "$libdir" ]]; then
    echo "$1 loads libsecbits.so from '${loaded:-nowhere}', not from $libdir" >&2
    exit 1
  fi
  "$1"
}

# The flags are read first, so that a pkg-config failure stops the script.
c_flags=$(pkg-config --cflags --libs secbits)
cxx_flags=$(pkg-config --cflags --libs secbits-cxx)
# shellcheck disable=SC2086  # pkg-config's output is meant to be split
gcc -Wall -Wextra -Werror "$here/consumer_c/consumer.c" $c_flags -o "$work/c-pkg-config"
run "$work/c-pkg-config"
# shellcheck disable=SC2086
g++ -Wall -Wextra -Werror "$here/consumer/consumer.cpp" $cxx_flags -o "$work/cxx-pkg-config"
run "$work/cxx-pkg-config"

for project in consumer_c consumer; do
  cmake -S "$here/$project" -B "$work/$project-build" -G Ninja >/dev/null
  found=$(sed -n 's/^secbits_DIR:PATH=//p' "$work/$project-build/CMakeCache.txt")
  if [[ $(readlink -f "$found") != "$libdir/cmake/secbits" ]]; then
    echo "find_package(secbits) found $found, not $libdir/cmake/secbits" >&2
    exit 1
  fi
  cmake --build "$work/$project-build" >/dev/null
  run "$work/$project-build/$project"
done
