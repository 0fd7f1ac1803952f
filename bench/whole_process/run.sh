#!/usr/bin/env bash
# The whole-process benchmark: allocation-heavy programs run unmodified under
# glibc's malloc, under Debian's jemalloc (LD_PRELOAD) and under secbits-run
# (--mode all and --mode tagged), alternated run by run; wall time, CPU time
# and peak RSS from GNU time; medians, ratios and targets from report.py.
#
#   bench/whole_process/run.sh [--runs N] [--out DIR] [--workloads a,b,...]
#                              [--configs c1,c2,...] [--timeout SECONDS] [--no-build]
#
#   --runs N        runs of each workload under each configuration (default 4:
#                   20-25 minutes on 2 cores, depending on what else runs; with
#                   the first eight workloads only, 5 runs took 19 minutes while
#                   other processes kept 1.2 cores busy)
#   --out DIR       where results.csv, meta.txt, table.md and the outputs go
#                   (default: $WP_BUILD/whole_process/results-<date>)
#   --workloads     a subset of: larson prodcons churn realloc_grow mstress partial_touch
#                   mt_small remote_free large_churn fork_exec python sqlite gcc
#   --configs       a subset of: glibc jemalloc secbits-all secbits-tagged, and
#                   secbits-all-h0 .. secbits-all-h3 (secbits-run --mode all
#                   --harden N; secbits-all is the default level, 1); default:
#                   the first four
#   --timeout S     a run taking longer is killed and reported as a failure (default 300)
#   --no-build      use the builds in $WP_BUILD as they are
#
# WP_BUILD (default /tmp/wp-build): the secbits build tree whose
# preload/libsecbits_preload.so and secbits-run are measured; configured from
# this checkout (Release) if it has no build.ninja. The workloads are built in
# $WP_BUILD/whole_process.
#
# Order: round r runs every workload once under every configuration; for each
# workload the configurations take turns, starting one later each round, so
# that each goes first, second, ... equally often and none always follows a
# particular other. A run whose exit status is not 0, or whose checksum is not
# the glibc run's, is recorded as a failure and reported (command, stderr).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${WP_BUILD:-/tmp/wp-build}
runs=4
out=""
timeout_s=300
do_build=1
all_workloads=(larson prodcons churn realloc_grow mstress partial_touch mt_small remote_free large_churn fork_exec
  python sqlite gcc)
all_configs=(glibc jemalloc secbits-all secbits-tagged secbits-all-h0 secbits-all-h1 secbits-all-h2 secbits-all-h3)
workloads=("${all_workloads[@]}")
configs=("${all_configs[@]:0:4}")
jemalloc=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2

die() { echo "whole_process: $*" >&2; exit 1; }

while (($# > 0)); do
  case $1 in
    --runs) runs=$2; shift ;;
    --out) out=$2; shift ;;
    --workloads) IFS=, read -r -a workloads <<<"$2"; shift ;;
    --configs) IFS=, read -r -a configs <<<"$2"; shift ;;
    --timeout) timeout_s=$2; shift ;;
    --no-build) do_build=0 ;;
    -h | --help) sed -n '2,34p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
((runs >= 1)) || die "--runs must be at least 1"
for w in "${workloads[@]}"; do [[ " ${all_workloads[*]} " == *" $w "* ]] || die "unknown workload '$w'"; done
for c in "${configs[@]}"; do [[ " ${all_configs[*]} " == *" $c "* ]] || die "unknown configuration '$c'"; done

# What the benchmark needs; it installs nothing itself (scripts/setup.sh does).
for tool in /usr/bin/time /usr/bin/python3 sqlite3 g++ cmake ninja timeout sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install time sqlite3 g++ cmake ninja-build)"
done
[[ -f $jemalloc ]] || die "$jemalloc is missing (apt-get install libjemalloc2)"

# Nothing of the caller's allocator settings may leak into the runs.
unset LD_PRELOAD MALLOC_CONF SECBITS_MODE SECBITS_LOCK SECBITS_PROTECT SECBITS_STATS SECBITS_VERBOSE \
  SECBITS_HARDEN SECBITS_SOURCE \
  PYTHONMALLOC PYTHONHASHSEED GLIBC_TUNABLES MALLOC_ARENA_MAX MALLOC_TOP_PAD_ MALLOC_TRIM_THRESHOLD_ || true

if ((do_build)); then
  if [[ ! -f $build/build.ninja ]]; then
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
  fi
  # Only the interposer: the rest of the project's tree is not measured.
  cmake --build "$build" --target secbits_preload >&2
  # What it was built from, for meta.txt (a later run with --no-build, after
  # the checkout has moved on, still names the right commit).
  commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
  dirty=$(git -C "$root" status --porcelain -- src preload include 2>/dev/null | wc -l)
  ((dirty == 0)) || commit="$commit + uncommitted changes in src/, preload/ or include/"
  echo "$(sha256sum "$build/preload/libsecbits_preload.so" | cut -c1-16) $commit" >"$build/preload/built-from.txt"
  cmake -S "$here" -B "$build/whole_process" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build/whole_process" >&2
fi
preload=$build/preload/libsecbits_preload.so
secbits_run=$build/secbits-run
bin=$build/whole_process
[[ -f $preload && -x $secbits_run ]] || die "no interposer in $build (build it, or drop --no-build)"

# gcc's input: googletest's gtest-all.cc (libgtest-dev's sources, all of
# googletest in one translation unit): a big real C++ file that does not
# change with this project's sources, so that results stay comparable.
gtest=/usr/src/googletest/googletest
gcc_input=$gtest/src/gtest-all.cc
if [[ " ${workloads[*]} " == *" gcc "* && ! -f $gcc_input ]]; then
  die "$gcc_input is missing (apt-get install libgtest-dev)"
fi

stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=${out:-$bin/results-$stamp}
mkdir -p "$out/outputs" "$out/scratch"
csv=$out/results.csv

# The command of a workload (without the allocator prefix).
workload_command() {
  case $1 in
    larson | prodcons | churn | realloc_grow | mstress | partial_touch | mt_small | remote_free | large_churn | fork_exec)
      echo "$bin/wp_$1" ;;
    python) echo "env PYTHONMALLOC=malloc PYTHONHASHSEED=0 /usr/bin/python3 $here/workloads/python_alloc.py" ;;
    sqlite) echo "sqlite3 :memory: .read\\ $here/workloads/sqlite_alloc.sql" ;;
    gcc) echo "g++ -O2 -std=c++20 -I$gtest -c $gcc_input -o $out/scratch/gcc.o" ;;
  esac
}
# The allocator prefix of a configuration.
config_prefix() {
  case $1 in
    glibc) echo "" ;;
    jemalloc) echo "env LD_PRELOAD=$jemalloc" ;;
    secbits-all) echo "$secbits_run --mode all" ;;
    secbits-tagged) echo "$secbits_run --mode tagged" ;;
    secbits-all-h[0-3]) echo "$secbits_run --mode all --harden ${1#secbits-all-h}" ;;
  esac
}

# shellcheck source=bench/machine_load.sh
source "$root/bench/machine_load.sh"

{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "host=$(hostname)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//') x $(nproc)"
  echo "memory=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "kernel=$(uname -r)"
  echo "os=$(. /etc/os-release && echo "$PRETTY_NAME")"
  preload_sha=$(sha256sum "$preload" | cut -c1-16)
  read -r built_sha built_commit 2>/dev/null <"$build/preload/built-from.txt" || built_sha=""
  if [[ $built_sha == "$preload_sha" ]]; then
    echo "commit=$built_commit"
  else
    echo "commit=unknown (the interposer was not built by run.sh; checkout at $(git -C "$root" rev-parse --short HEAD 2>/dev/null))"
  fi
  echo "preload_sha256=$preload_sha"
  echo "user=$(id -un) (uid $(id -u))"
  echo "memlock_limit=$(ulimit -l)"
  echo "max_map_count=$(cat /proc/sys/vm/max_map_count)"
  echo "thp=$(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)"
  echo "gcc=$(g++ -dumpfullversion)"
  echo "python=$(/usr/bin/python3 -c 'import platform; print(platform.python_version())')"
  echo "sqlite=$(sqlite3 -version | cut -d' ' -f1)"
  echo "jemalloc=$(dpkg-query -W -f='${Version}' libjemalloc2 2>/dev/null || echo unknown)"
  echo "gcc_input=$gcc_input (googletest $(dpkg-query -W -f='${Version}' libgtest-dev 2>/dev/null || echo unknown))"
  echo "runs=$runs"
  echo "workloads=${workloads[*]}"
  echo "configs=${configs[*]}"
  echo "loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/meta.txt"

echo "round,workload,config,wall_s,user_s,sys_s,maxrss_kb,status,checksum,machine_busy_s,started" >"$csv"
declare -A reference=() reference_config=()  # workload -> the first good checksum, and its configuration
failures=0
bench_start=$(date +%s)
busy_start=$(busy_ticks)
total=$((runs * ${#workloads[@]} * ${#configs[@]}))
done_runs=0

for ((round = 1; round <= runs; round++)); do
  for wi in "${!workloads[@]}"; do
    w=${workloads[$wi]}
    n=${#configs[@]}
    for ((k = 0; k < n; k++)); do
      c=${configs[$(((k + round - 1 + wi) % n))]}
      cmd="$(config_prefix "$c") $(workload_command "$w")"
      cmd=${cmd# }
      tag="$w.$c.$round"
      timing=$out/scratch/time.$tag
      started=$(date +%s.%N)
      before=$(busy_ticks)
      status=0
      # shellcheck disable=SC2086  # the command is split on purpose
      eval timeout -k 10 "$timeout_s" /usr/bin/time -f "'%e %U %S %M'" -o "$timing" $cmd \
        <"/dev/null" >"$out/outputs/$tag.out" 2>"$out/outputs/$tag.err" || status=$?
      after=$(busy_ticks)
      read -r wall user sys rss < <(tail -n1 "$timing" 2>/dev/null || echo "nan nan nan nan")
      [[ $wall =~ ^[0-9.]+$ ]] || { wall=nan user=nan sys=nan rss=nan; }
      if [[ $w == gcc ]]; then
        checksum=$( [[ -f $out/scratch/gcc.o ]] && sha256sum "$out/scratch/gcc.o" | cut -c1-16 || echo none)
        rm -f "$out/scratch/gcc.o"
      else
        checksum=$(sha256sum <"$out/outputs/$tag.out" | cut -c1-16)
      fi
      # Every run of a workload must give the same checksum; report.py checks
      # again against glibc's, whatever the order was.
      if [[ $status -eq 0 && -z ${reference[$w]:-} ]]; then reference[$w]=$checksum reference_config[$w]=$c; fi
      verdict=ok
      if ((status != 0)); then
        verdict="exit $status"
      elif [[ $checksum != "${reference[$w]}" ]]; then
        verdict="checksum $checksum differs from ${reference[$w]} (${reference_config[$w]}, round 1)"
      fi
      machine=$(awk -v t=$((after - before)) -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }')
      echo "$round,$w,$c,$wall,$user,$sys,$rss,$( [[ $verdict == ok ]] && echo ok || echo fail),$checksum,$machine,$started" >>"$csv"
      done_runs=$((done_runs + 1))
      printf 'whole_process: [%d/%d] round %d %-13s %-15s wall %6s s  cpu %6s s  rss %7s KB  %s\n' \
        "$done_runs" "$total" "$round" "$w" "$c" "$wall" \
        "$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')" "$rss" "$verdict" >&2
      if [[ $verdict != ok ]]; then
        failures=$((failures + 1))
        {
          echo "FAILED: $verdict"
          echo "  command: $cmd"
          echo "  stderr (last lines):"
          tail -n 20 "$out/outputs/$tag.err" | sed 's/^/    /'
        } | tee -a "$out/failures.txt" >&2
      fi
    done
  done
done

bench_end=$(date +%s)
busy_end=$(busy_ticks)
{
  echo "elapsed_s=$((bench_end - bench_start))"
  echo "machine_busy_fraction=$(awk -v b=$((busy_end - busy_start)) -v hz="$hz" -v e=$((bench_end - bench_start)) -v n="$(nproc)" \
    'BEGIN { printf "%.2f", b / hz / (e * n) }')"
  echo "loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "failures=$failures"
} >>"$out/meta.txt"
rm -rf "$out/scratch"

python3 "$here/report.py" "$out" | tee "$out/table.md"
echo "whole_process: results in $out" >&2
