#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang under AddressSanitizer
# and UndefinedBehaviorSanitizer, and runs each for SECONDS (default 60) from
# a scratch copy of its seed corpus, so the committed corpus never grows.
# Prints each target's executions; exits non-zero on the first crash, leak,
# timeout or out-of-memory, naming the file that reproduces it:
#   build/fuzz/tests/fuzz/fuzz_<target> <that file>
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
builds=${SECBITS_BUILD_ROOT:-$root/build}
seconds=${1:-60}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "usage: scripts/fuzz.sh [SECONDS]" >&2; exit 2; }

"$root/scripts/setup.sh"

build=$builds/fuzz
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
  -DSECBITS_WERROR=ON -DSECBITS_SANITIZE=address,undefined -DSECBITS_FUZZ=ON \
  -DSECBITS_BUILD_BENCH=OFF -DSECBITS_BUILD_DEMO=OFF -DSECBITS_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)"

# The longest input each target reads in full: c_api_ops and malloc_family
# stop after a few hundred operations, secbytes_views carries data too.
declare -A max_len=([c_api_ops]=2048 [c_api_threads]=2048 [secbytes_views]=4096 [malloc_family]=2048)

scratch=$(mktemp -d "${TMPDIR:-/tmp}/secbits-fuzz.XXXXXX")
for target in c_api_ops c_api_threads secbytes_views malloc_family; do
  work=$scratch/$target
  mkdir -p "$work/corpus"
  cp "$root/tests/fuzz/corpus/$target/"* "$work/corpus/"
  status=0
  # -timeout: one input takes milliseconds; -rss_limit_mb: a sixth of this
  # machine's memory, whatever the pool keeps committed and ASan's quarantine.
  "$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -max_len="${max_len[$target]}" -timeout=30 \
    -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" >"$work/log" 2>&1 || status=$?
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
  echo "fuzz: $target: ${executions:-?} executions in $seconds s"
  if (( status != 0 )); then
    tail -n 60 "$work/log"
    echo "fuzz: $target failed (exit $status); log $work/log" >&2
    grep -h 'Test unit written to' "$work/log" | sed "s|^.*Test unit written to |fuzz: reproduce with $build/tests/fuzz/fuzz_$target |" >&2 || true
    exit 1
  fi
done
rm -rf "$scratch"
