#!/usr/bin/env bash
# What each hardening level (0-3, src/pool/hardening.hpp) costs against level
# 0, measured in one run, then the tables (Markdown) from
# bench/hardening_report.py on standard output. Needs python3; about 20-25
# minutes on a 2-core machine with the defaults.
#
#   bench/hardening.sh
#
# Three parts, in this order, all into one results directory:
#
# 1. blocks: secbits_block_sizes LEVEL SIZE, one process per level and request
#    size (8 16 24 32 48 64 100 128 256 1000, and the pool benchmark's 1024
#    4096 16384): the slot a block takes in its slab and the pool's committed
#    bytes per block (level 3's canary moves some sizes up a class).
# 2. pool: secbits_pool_bench, the secbits C and C++ rows only (patterns a, b,
#    c, every size), one process per level (SECBITS_BENCH_HARDENING=N; the
#    level is fixed per process), the levels alternated: round r runs 0 1 2 3
#    starting one later each round, so that each level goes first, second, ...
#    equally often. Each round also runs one process of the peers (glibc,
#    jemalloc, Botan, OpenSSL, libsodium; they do not use the pool, so
#    the level does not apply to them), so that the pool benchmark's targets
#    can be checked for every level against peers measured in the same run.
# 3. whole: bench/whole_process/run.sh with configurations glibc and
#    secbits-all-h0 .. secbits-all-h3 (secbits-run --mode all --harden N),
#    alternated run by run as run.sh does.
#
# SECBITS_BUILD_DIR        the Release build tree to build and measure
#                          (default: build/release, as scripts/bench.sh);
#                          configured if it has no build.ninja
# SECBITS_HARDENING_OUT    results directory (default: <build>/hardening-<date>)
# SECBITS_HARDENING_PARTS  which parts to run (default "blocks pool whole")
# SECBITS_HARDENING_ROUNDS pool rounds (default 8: 8 processes per level)
# SECBITS_HARDENING_PEERS  1 (default): a peers process in every round; 0: none
# SECBITS_BENCH_MIN_TIME   seconds per benchmark in the pool processes
#                          (default 0.05; sodium_malloc always gets 0.1)
# SECBITS_HARDENING_WP_RUNS runs per whole-process cell (default 2)
# SECBITS_HARDENING_WP_WORKLOADS comma-separated subset of run.sh's workloads
#                          (default: all eight)
#
# To tabulate an existing results directory again:
#   python3 bench/hardening_report.py DIR
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SECBITS_BUILD_DIR:-$root/build/release}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=${SECBITS_HARDENING_OUT:-$build/hardening-$stamp}
read -r -a parts <<<"${SECBITS_HARDENING_PARTS:-blocks pool whole}"
rounds=${SECBITS_HARDENING_ROUNDS:-8}
peers=${SECBITS_HARDENING_PEERS:-1}
min_time=${SECBITS_BENCH_MIN_TIME:-0.05}
wp_runs=${SECBITS_HARDENING_WP_RUNS:-2}
wp_workloads=${SECBITS_HARDENING_WP_WORKLOADS:-larson,prodcons,churn,realloc_grow,mstress,python,sqlite,gcc}
levels=(0 1 2 3)
block_requests=(8 16 24 32 48 64 100 128 256 1000 1024 4096 16384)

say() { echo "secbits hardening: $*" >&2; }
wants() { [[ " ${parts[*]} " == *" $1 "* ]]; }
command -v python3 >/dev/null || { say "python3 is needed for the tables"; exit 1; }

if [[ ! -f $build/build.ninja ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
fi
cmake --build "$build" --target secbits_pool_bench secbits_block_sizes secbits_preload >&2

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ $commit != unknown && -n $(git -C "$root" status --porcelain 2>/dev/null) ]]; then
  commit="$commit+uncommitted changes"
fi
mkdir -p "$out"
# shellcheck source=bench/machine_load.sh
source "$root/bench/machine_load.sh"
{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "host=$(hostname)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//') x $(nproc)"
  echo "kernel=$(uname -r)"
  echo "os=$(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "commit=$commit"
  echo "user=$(id -un) (uid $(id -u))"
  echo "rounds=$rounds"
  echo "min_time=$min_time"
  echo "wp_runs=$wp_runs"
  echo "loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/meta.txt"

# 1. The slot of a block per level and request size, one process each (an
# emptied slab stays committed in the pool, so a second size in the same
# process would read the committed bytes low).
if wants blocks; then
  say "block sizes, levels ${levels[*]}"
  echo "level size usable block committed_per_block" >"$out/blocks.txt"
  for level in "${levels[@]}"; do
    for size in "${block_requests[@]}"; do
      "$build/bench/secbits_block_sizes" "$level" "$size" | tail -n +2 >>"$out/blocks.txt"
    done
  done
fi

# 2. The pool benchmark, levels alternated.
if wants pool; then
  mkdir -p "$out/pool"
  : >"$out/pool/processes.txt"
  # run_one NAME LEVEL FILTER: one process into $out/pool/NAME.json; appends
  # "name level wall user sys other-cores" to processes.txt.
  run_one() {
    local name=$1 level=$2 filter=$3 before after wall user sys timing
    before=$(busy_ticks)
    timing=$(mktemp)
    TIMEFORMAT='%R %U %S'
    { time env SECBITS_BENCH_HARDENING="$level" "$build/bench/secbits_pool_bench" \
        --benchmark_filter="$filter" \
        --benchmark_format=json \
        --benchmark_enable_random_interleaving=true \
        --benchmark_min_time="$min_time" >"$out/pool/$name.json" 2>"$out/pool/$name.err"; } 2>"$timing"
    after=$(busy_ticks)
    read -r wall user sys <"$timing"
    rm -f "$timing"
    echo "$name ${level:--} $wall $user $sys $(python3 -c "print(f'{max(0.0, ($after - $before) / $hz - $user - $sys) / $wall:.2f}')")" \
      >>"$out/pool/processes.txt"
  }
  start=$(date +%s)
  for ((round = 1; round <= rounds; round++)); do
    order=()
    for ((k = 0; k < ${#levels[@]}; k++)); do order+=("${levels[$(((k + round - 1) % ${#levels[@]}))]}"); done
    say "pool round $round of $rounds: levels ${order[*]}$( ((peers)) && echo ", then the peers")"
    for level in "${order[@]}"; do
      run_one "h$level-$round" "$level" '^[abc]/secbits_(c|cpp)/'
    done
    if ((peers)); then
      run_one "peers-$round" "" '^[abc]/(glibc|jemalloc|botan|openssl|sodium)/'
    fi
  done
  echo "pool_elapsed_s=$(($(date +%s) - start))" >>"$out/meta.txt"
fi

# 3. Whole programs under secbits-run --mode all at each level, and glibc.
if wants whole; then
  say "whole-process benchmark: glibc and secbits-all-h0..h3, $wp_runs runs per cell"
  start=$(date +%s)
  WP_BUILD=$build "$root/bench/whole_process/run.sh" --runs "$wp_runs" --out "$out/whole_process" \
    --workloads "$wp_workloads" \
    --configs glibc,secbits-all-h0,secbits-all-h1,secbits-all-h2,secbits-all-h3 >"$out/whole_process.md"
  echo "whole_elapsed_s=$(($(date +%s) - start))" >>"$out/meta.txt"
fi
echo "loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/meta.txt"

python3 "$root/bench/hardening_report.py" "$out" | tee "$out/report.md"
say "results in $out"
