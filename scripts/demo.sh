#!/usr/bin/env bash
# The project's main job, shown live: a program keeps one password in a
# secbits::SecBytes and another in an ordinary string; the kernel's own view
# of its memory, a fault on the secret at rest, and a core file of the running
# program searched for both passwords.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SECBITS_BUILD_ROOT:-$root/build}/release

"$root/scripts/setup.sh"
cmake -S "$root" -B "$build" -G Ninja >/dev/null
cmake --build "$build" --target secbits_demo_secret_holder -j "$(nproc)" >/dev/null

echo "secbits demo: one password in secbits::SecBytes, one in a plain std::string."
"$root/scripts/demo/run_demo.sh" "$build/scripts/demo/secbits_demo_secret_holder"
