#!/usr/bin/env bash
# The pool benchmark: release build, secbits_pool_bench run under the pool's
# two page sources (JSON into a file), then the ratio tables (Markdown) on
# standard output. Needs python3.
#
#   scripts/bench.sh [extra secbits_pool_bench arguments, e.g. --benchmark_filter=^a/]
#
# The page source is fixed per process, so each repetition is a pair of
# processes: the binary under the anonymous source (every allocator, one
# repetition) and under --source=secret (the secbits benchmarks only, named
# secbits_c_secret and secbits_cpp_secret, one repetition), in turn, the
# secret one first every other round; the report pools the repetitions of
# each source, so that the secret/anonymous ratios come from processes that
# ran alternately in the same few minutes.
#
# SECBITS_BUILD_ROOT   where the build goes (default: build/, as scripts/test.sh)
# SECBITS_BENCH_JSON   the results file, all processes merged (default:
#                      <build root>/release/bench_pool.json; each process's own
#                      file goes into <that>.d/)
# SECBITS_BENCH_SOURCES "anonymous secret" (default) or "anonymous": one
# process of all repetitions under the anonymous source, as before the secret
# source existed. SECBITS_BENCH_REPETITIONS (default 5), SECBITS_BENCH_MIN_TIME
# seconds per repetition (default 0.1; sodium_malloc always gets 0.1): about
# 4 minutes on a 2-core machine with the defaults (3 for the anonymous source
# alone). Other processes skew the figures (pattern c needs both cores): the
# tables say how much CPU the rest of the machine used during the runs.
# SECBITS_BENCH_STAT=min summarises the repetitions by the fastest instead of
# the median.
#
# To tabulate an existing results file again: python3 bench/pool_report.py FILE.json
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
builds=${SECBITS_BUILD_ROOT:-$root/build}
json=${SECBITS_BENCH_JSON:-$builds/release/bench_pool.json}
repetitions=${SECBITS_BENCH_REPETITIONS:-5}
min_time=${SECBITS_BENCH_MIN_TIME:-0.1}
stat=${SECBITS_BENCH_STAT:-median}
read -r -a sources <<<"${SECBITS_BENCH_SOURCES:-anonymous secret}"
case "${sources[*]}" in
  "anonymous secret" | "anonymous") ;;
  *) echo "secbits bench: SECBITS_BENCH_SOURCES must be 'anonymous secret' or 'anonymous'" >&2; exit 1 ;;
esac

"$root/scripts/setup.sh"
command -v python3 >/dev/null || { echo "secbits bench: python3 is needed for the tables" >&2; exit 1; }

cmake -S "$root" -B "$builds/release" -G Ninja >/dev/null
cmake --build "$builds/release" --target secbits_pool_bench >&2  # standard output: the tables only

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ $commit != unknown && -n $(git -C "$root" status --porcelain 2>/dev/null) ]]; then
  commit="$commit+uncommitted changes"
fi

mkdir -p "$(dirname "$json")"
parts=$json.d
rm -rf "$parts"
mkdir -p "$parts"
# shellcheck source=bench/machine_load.sh
source "$root/bench/machine_load.sh"
# One process of the benchmark: run_one SOURCE REPETITIONS NAME [ARGS...];
# appends "source wall user sys other-cores" to $parts/processes.txt.
run_one() {
  local source=$1 reps=$2 name=$3
  shift 3
  local before after wall user sys timing
  before=$(busy_ticks)
  timing=$(mktemp)
  TIMEFORMAT='%R %U %S'
  { time "$builds/release/bench/secbits_pool_bench" \
      --source="$source" \
      --benchmark_format=json \
      --benchmark_repetitions="$reps" \
      --benchmark_enable_random_interleaving=true \
      --benchmark_min_time="$min_time" \
      "$@" >"$parts/$name.json" 2>&3; } 3>&2 2>"$timing"
  after=$(busy_ticks)
  read -r wall user sys <"$timing"
  rm -f "$timing"
  # CPU the machine spent outside the benchmark, in cores on average over the run.
  echo "$source $wall $user $sys $(python3 -c "print(f'{max(0.0, ($after - $before) / $hz - $user - $sys) / $wall:.2f}')")" \
    >>"$parts/processes.txt"
}

if [[ ${#sources[@]} -eq 1 ]]; then
  echo "secbits bench: running secbits_pool_bench (anonymous page source, ${repetitions} repetitions," \
    "min time ${min_time} s) into $json" >&2
  run_one anonymous "$repetitions" anonymous "$@"
else
  echo "secbits bench: running secbits_pool_bench ${repetitions} times under each page source, anonymous and" \
    "secret in turn (min time ${min_time} s), into $json" >&2
  for ((round = 1; round <= repetitions; round++)); do
    order=(anonymous secret)
    ((round % 2 == 1)) || order=(secret anonymous)
    for source in "${order[@]}"; do
      echo "secbits bench: round $round of $repetitions, $source source" >&2
      run_one "$source" 1 "$source-$round" "$@"
    done
  done
fi

python3 "$root/bench/pool_report.py" "$parts"/*.json --processes "$parts/processes.txt" --save "$json" \
  --commit "$commit" --stat "$stat"
