#!/usr/bin/env bash
# The project's test command: installs what is missing, builds with warnings as
# errors and runs every test; then the tests again under AddressSanitizer with
# UndefinedBehaviorSanitizer, the thread tests under ThreadSanitizer, and each
# libFuzzer target for SECBITS_FUZZ_SECONDS (30 by default).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
builds=${SECBITS_BUILD_ROOT:-$root/build}
jobs=$(nproc)

"$root/scripts/setup.sh"

configure_and_build() {  # DIR [CMAKE ARGS...]
  local dir=$1
  shift
  cmake -S "$root" -B "$dir" -G Ninja -DSECBITS_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
}

echo "== release build: all tests"
configure_and_build "$builds/release"
ctest --test-dir "$builds/release" --output-on-failure -j "$jobs"

echo "== AddressSanitizer + UndefinedBehaviorSanitizer (pool invariants checked): unit, guarantee, injection and thread tests"
configure_and_build "$builds/asan" -DSECBITS_SANITIZE=address,undefined \
  -DSECBITS_BUILD_BENCH=OFF -DSECBITS_BUILD_DEMO=OFF
ctest --test-dir "$builds/asan" --output-on-failure -j "$jobs" -L 'unit|guarantees|threads|injection'

echo "== ThreadSanitizer: thread tests"
configure_and_build "$builds/tsan" -DSECBITS_SANITIZE=thread -DSECBITS_BUILD_BENCH=OFF -DSECBITS_BUILD_DEMO=OFF
ctest --test-dir "$builds/tsan" --output-on-failure -j "$jobs" -L threads

echo "== libFuzzer targets under ASan+UBSan (bounded)"
"$root/scripts/fuzz.sh" "${SECBITS_FUZZ_SECONDS:-30}"
