#!/usr/bin/env bash
# The pool benchmark: release build, one run of secbits_pool_bench (JSON into a
# file), then the ratio tables (Markdown) on standard output. Needs python3.
#
#   scripts/bench.sh [extra secbits_pool_bench arguments, e.g. --benchmark_filter=^a/]
#
# SECBITS_BUILD_ROOT   where the build goes (default: build/, as scripts/test.sh)
# SECBITS_BENCH_JSON   the results file (default: <build root>/release/bench_pool.json)
# SECBITS_BENCH_REPETITIONS (default 5), SECBITS_BENCH_MIN_TIME seconds per
# repetition (default 0.1; sodium_malloc always gets 0.1): about 3 minutes on a
# 2-core machine with the defaults. Other processes skew the figures (pattern c
# needs both cores): the tables say how much CPU the rest of the machine used
# during the run. SECBITS_BENCH_STAT=min summarises the repetitions by the
# fastest instead of the median.
#
# To tabulate an existing results file again: python3 bench/pool_report.py FILE.json
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
builds=${SECBITS_BUILD_ROOT:-$root/build}
json=${SECBITS_BENCH_JSON:-$builds/release/bench_pool.json}
repetitions=${SECBITS_BENCH_REPETITIONS:-5}
min_time=${SECBITS_BENCH_MIN_TIME:-0.1}
stat=${SECBITS_BENCH_STAT:-median}

"$root/scripts/setup.sh"
command -v python3 >/dev/null || { echo "secbits bench: python3 is needed for the tables" >&2; exit 1; }

cmake -S "$root" -B "$builds/release" -G Ninja >/dev/null
cmake --build "$builds/release" --target secbits_pool_bench >&2  # standard output: the tables only

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ $commit != unknown && -n $(git -C "$root" status --porcelain 2>/dev/null) ]]; then
  commit="$commit+uncommitted changes"
fi

echo "secbits bench: running secbits_pool_bench (${repetitions} repetitions, min time ${min_time} s) into $json" >&2
mkdir -p "$(dirname "$json")"
busy_ticks() {  # CPU time of the whole machine so far, in clock ticks
  local _cpu user nice system idle iowait irq softirq steal _rest
  read -r _cpu user nice system idle iowait irq softirq steal _rest </proc/stat
  echo $((user + nice + system + irq + softirq + steal))
}
before=$(busy_ticks)
timing=$(mktemp)
TIMEFORMAT='%R %U %S'
{ time "$builds/release/bench/secbits_pool_bench" \
    --benchmark_format=json \
    --benchmark_repetitions="$repetitions" \
    --benchmark_enable_random_interleaving=true \
    --benchmark_min_time="$min_time" \
    "$@" >"$json" 2>&3; } 3>&2 2>"$timing"
after=$(busy_ticks)
read -r wall user sys <"$timing"
rm -f "$timing"
# CPU the machine spent outside the benchmark, in cores on average over the run.
others=$(python3 -c "print(f'{max(0.0, ($after - $before) / $(getconf CLK_TCK) - $user - $sys) / $wall:.2f}')")

python3 "$root/bench/pool_report.py" "$json" --commit "$commit" --stat "$stat" --wall "$wall" --other-cores "$others"
