#!/usr/bin/env bash
# Instructions per allocation pair (callgrind, noise-free) of an ordinary
# program under jemalloc preloaded alone, under the interposer in tagged mode
# (every call here is untagged: jemalloc's, behind the routing) and in mode
# all, for each kind of secbits_interposer_pair_loop. Start-up cancels out:
# each cell is (instructions of 2 x ROUNDS - instructions of ROUNDS) / pairs.
#
#   bench/interposer_pairs.sh [BUILD_DIR]      (default: build)
#
# SECBITS_PAIRS_KINDS   kinds to count (default "malloc calloc realloc new delete")
# SECBITS_PAIRS_ROUNDS  rounds of 1,000 pairs in the shorter run (default 100)
# SECBITS_PAIRS_SIZE    block size in bytes (default 64)
set -euo pipefail

build=${1:-build}
loop=$build/bench/secbits_interposer_pair_loop
interposer=$build/preload/libsecbits_preload.so
jemalloc=$(pkg-config --variable=libdir jemalloc)/libjemalloc.so.2
kinds=${SECBITS_PAIRS_KINDS:-malloc calloc realloc new delete}
rounds=${SECBITS_PAIRS_ROUNDS:-100}
size=${SECBITS_PAIRS_SIZE:-64}
for file in "$loop" "$interposer" "$jemalloc"; do
  [[ -e $file ]] || { echo "interposer_pairs.sh: no $file (build secbits_interposer_pair_loop and secbits_preload)" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

instructions() {  # KIND ROUNDS VAR=VALUE...: the loop's total instruction count
  local kind=$1 count=$2
  shift 2
  env "$@" valgrind --tool=callgrind --callgrind-out-file="$work/out" "$loop" "$kind" "$count" "$size" \
    >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
  sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$work/out"
}

per_pair() {  # KIND VAR=VALUE...
  local kind=$1 short long
  shift
  short=$(instructions "$kind" "$rounds" "$@")
  long=$(instructions "$kind" $((2 * rounds)) "$@")
  awk -v d=$((long - short)) -v n=$((rounds * 1000)) 'BEGIN { printf "%.1f", d / n }'
}

echo "instructions per pair, $size B, callgrind ($((rounds * 1000)) pairs counted)"
printf '| %-8s | %9s | %9s | %9s | %15s |\n' kind jemalloc tagged all "tagged - jemalloc"
printf '|%s|%s|%s|%s|%s|\n' ---------- ----------: ----------: ----------: -----------------:
for kind in $kinds; do
  alone=$(per_pair "$kind" LD_PRELOAD="$jemalloc")
  tagged=$(per_pair "$kind" LD_PRELOAD="$interposer" SECBITS_MODE=tagged)
  all=$(per_pair "$kind" LD_PRELOAD="$interposer" SECBITS_MODE=all)
  printf '| %-8s | %9s | %9s | %9s | %15s |\n' "$kind" "$alone" "$tagged" "$all" \
    "$(awk -v a="$alone" -v t="$tagged" 'BEGIN { printf "%+.1f", t - a }')"
done
