#!/usr/bin/env bash
# Profiles one workload of the whole-process benchmark under one
# configuration: perf record with DWARF call graphs (this machine's perf has
# no hardware cycle counter: samples come from the cpu-clock software event),
# then the flat profile, the top symbols with their callers' share, the
# syscall counts (strace -c, when strace is installed) and the breakdown of
# profile_breakdown.py.
#
#   bench/whole_process/profile.sh WORKLOAD [CONFIG [SCALE]]
#
# WORKLOAD: larson prodcons churn realloc_grow mstress (the C++ workloads);
# CONFIG: glibc jemalloc secbits-all (default) secbits-tagged; SCALE: the
# workload's work, 1.0 being the benchmark's (default 0.25; at 0.5 perf
# sometimes falls behind and keeps kernel samples without their user stacks). WP_BUILD as for
# run.sh; the builds must exist (run run.sh first). Output under
# $WP_BUILD/whole_process/profile-WORKLOAD-CONFIG/.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${WP_BUILD:-/tmp/wp-build}
workload=${1:?usage: profile.sh WORKLOAD [CONFIG [SCALE]]}
config=${2:-secbits-all}
scale=${3:-0.25}
program=$build/whole_process/wp_$workload
[[ -x $program ]] || { echo "profile.sh: no $program (run run.sh first)" >&2; exit 1; }
case $config in
  glibc) prefix=() ;;
  jemalloc) prefix=(env LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2) ;;
  secbits-all) prefix=("$build/secbits-run" --mode all) ;;
  secbits-tagged) prefix=("$build/secbits-run" --mode tagged) ;;
  *) echo "profile.sh: unknown configuration '$config'" >&2; exit 1 ;;
esac
command -v perf >/dev/null || { echo "profile.sh: perf is missing (apt-get install linux-perf)" >&2; exit 1; }
out=$build/whole_process/profile-$workload-$config
mkdir -p "$out"
unset LD_PRELOAD MALLOC_CONF SECBITS_MODE SECBITS_LOCK SECBITS_PROTECT SECBITS_STATS SECBITS_VERBOSE || true

perf record -q -F 999 --call-graph dwarf,16384 -o "$out/perf.data" "${prefix[@]}" "$program" "$scale" >/dev/null
echo "== flat profile (self time), top 25"
perf report -i "$out/perf.data" --no-children --sort dso,symbol --percent-limit 0.7 -g none 2>/dev/null |
  grep -E '^ +[0-9]' | head -25 || true
echo
echo "== with callees (children), top 40"
perf report -i "$out/perf.data" --children --sort symbol -g none 2>/dev/null | grep -E '^ +[0-9]' | head -40 || true
if command -v strace >/dev/null; then
  echo
  echo "== system calls (strace -f -c, a separate run)"
  strace -f -c -o "$out/strace.txt" "${prefix[@]}" "$program" "$scale" >/dev/null
  head -12 "$out/strace.txt"
fi
echo
echo "== where the time goes"
perf script -i "$out/perf.data" -F comm,tid,ip,sym,dso --no-demangle 2>/dev/null | python3 "$here/profile_breakdown.py"
