#!/usr/bin/env bash
# The project's main job, shown live: an ordinary program, unchanged, reads a
# password, uses it and frees it; run plainly and under secbits-run, its heap
# is searched through a core file and through its live memory.
#   scripts/demo.sh           the interposer on an unmodified program
#   scripts/demo.sh library   the same guarantees through the C++ API (SecBytes)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SECBITS_BUILD_ROOT:-$root/build}/release

"$root/scripts/setup.sh"
cmake -S "$root" -B "$build" -G Ninja >/dev/null
cmake --build "$build" -j "$(nproc)" --target secbits_preload secbits_demo_password_user \
  secbits_demo_memory_search secbits_demo_secret_holder >/dev/null

case ${1:-} in
  "")
    echo "secbits demo: an unmodified program's password, with and without secbits-run."
    "$root/scripts/demo/run_interposer_demo.sh" "$build"
    ;;
  library)
    echo "secbits demo: one password in secbits::SecBytes, one in a plain std::string."
    "$root/scripts/demo/run_library_demo.sh" "$build/scripts/demo/secbits_demo_secret_holder"
    ;;
  *)
    echo "usage: scripts/demo.sh [library]" >&2
    exit 2
    ;;
esac
