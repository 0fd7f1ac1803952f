#!/usr/bin/env bash
# The misuse suite: each of a program's memory bugs (misuse.c, misuse_new.cpp)
# done once under the interposer in mode all, at every hardening level, and
# what happened compared with the table below: what the pool was observed to
# do, not what it should do. A bug the pool stops early, or stops no longer,
# fails the test, naming the bug, the level and what happened instead.
#
# Usage: misuse_test.sh SECBITS_RUN PRELOAD_LIBRARY MISUSE MISUSE_NEW
#        misuse_test.sh --observe SECBITS_RUN ...   prints what happens, as
#                                                    rows for the table
set -uo pipefail
observe=0
if [[ ${1:-} == --observe ]]; then
  observe=1
  shift
fi
(($# == 4)) || { echo "usage: misuse_test.sh [--observe] SECBITS_RUN PRELOAD_LIBRARY MISUSE MISUSE_NEW" >&2; exit 2; }
secbits_run=$1
library=$2
declare -A program_of=([c]=$3 [cxx]=$4)
levels=(0 1 2 3)
ulimit -c 0  # every abort and fault below is expected: no core files
# Only the options the runs give: SECBITS_PROTECT=eager, say, would fault a
# write after free that the table expects to survive.
while read -r variable; do unset "$variable"; done < <(compgen -e | grep '^SECBITS_')

# What a bug does at levels 0 to 3, one column each:
#   survived       the program ran to its end: the bug went unnoticed (a
#                  reuse bug: the freed block's address came back)
#   prevented      a reuse bug could not happen (another address came back)
#                  and the program ran to its end
#   SIGSEGV        the program was killed by a fault
#   $name          the program aborted with the line of that name below on
#                  stderr, 0x… standing for the block's address
# Columns are separated by " | ". `misuse_test.sh --observe` prints the rows.
# The 40-byte block is in the 48-byte class, which holds the canary too at
# level 3; the 3000-byte block in the 3072-byte class, whose spare bytes an
# overflow by 32 does not cross even at level 3; the 3064-byte one fills it.
declare -A lines=(
  [overflow_40]='secbits: heap overflow detected 0x… (block of 40 bytes)'
  [overflow_3064]='secbits: heap overflow detected 0x… (block of 3064 bytes)'
  [overflow_57336]='secbits: heap overflow detected 0x… (block of 57336 bytes)'
  [after_free_48]='secbits: write after free detected 0x… (block of 48 bytes)'
  [after_free_40]='secbits: write after free detected 0x… (block of 40 bytes)'
  [sized_48_given_400]='secbits: sized free with the wrong size 0x… (block of 48 bytes, size given 400)'
  [sized_40_given_400]='secbits: sized free with the wrong size 0x… (block of 40 bytes, size given 400)'
  [sized_40_given_44]='secbits: sized free with the wrong size 0x… (block of 40 bytes, size given 44)'
)
expectations=$(cat <<'TABLE'
c   overflow_small_by_1                | survived | survived            | survived            | $overflow_40
c   overflow_small_by_32               | survived | survived            | survived            | $overflow_40
c   overflow_small_by_32_then_allocate | survived | survived            | $after_free_48      | $overflow_40
c   memcpy_small_by_1                  | survived | survived            | survived            | $overflow_40
c   memcpy_small_by_32                 | survived | survived            | survived            | $overflow_40
c   overflow_medium_by_1               | survived | survived            | survived            | survived
c   overflow_medium_by_32              | survived | survived            | survived            | survived
c   memcpy_medium_by_1                 | survived | survived            | survived            | survived
c   memcpy_medium_by_32                | survived | survived            | survived            | survived
c   overflow_full_medium_by_1          | survived | survived            | survived            | $overflow_3064
c   underflow_by_1                     | survived | survived            | survived            | survived
c   write_after_free                   | survived | survived            | survived            | survived
c   write_after_free_then_allocate     | survived | survived            | $after_free_48      | $after_free_40
c   read_zero_size                     | survived | SIGSEGV             | SIGSEGV             | SIGSEGV
c   write_zero_size                    | survived | SIGSEGV             | SIGSEGV             | SIGSEGV
c   reuse_after_free                   | survived | survived            | prevented           | prevented
c   reuse_after_realloc                | survived | survived            | prevented           | prevented
c   free_sized_wrong_size              | survived | $sized_48_given_400 | $sized_48_given_400 | $sized_40_given_400
c   overflow_full_56k_by_1             | survived | survived            | survived            | $overflow_57336
c   overflow_large_by_1                | SIGSEGV  | SIGSEGV             | SIGSEGV             | SIGSEGV
c   write_after_free_large             | survived | survived            | SIGSEGV             | SIGSEGV
cxx read_new_zero                      | survived | SIGSEGV             | SIGSEGV             | SIGSEGV
cxx write_new_zero                     | survived | SIGSEGV             | SIGSEGV             | SIGSEGV
cxx sized_delete_wrong_size            | survived | $sized_48_given_400 | $sized_48_given_400 | $sized_40_given_400
cxx sized_delete_size_within_class     | survived | survived            | survived            | $sized_40_given_44
TABLE
)

# How one run ended, in the table's words.
outcome_of() {  # STATUS STDOUT STDERR
  local status=$1 out=$2 err=$3 line name
  if ((status == 139)); then
    echo SIGSEGV
  elif ((status == 134)) && line=$(grep -m1 '^secbits: ' <<<"$err"); then
    line=$(sed -E 's/0x[0-9a-f]+/0x…/' <<<"$line")
    for name in "${!lines[@]}"; do
      [[ $line == "${lines[$name]}" ]] && { echo "\$$name"; return; }
    done
    echo "$line"
  elif ((status == 0)) && grep -qx survived <<<"$out"; then
    if grep -qx 'another address returned' <<<"$out"; then echo prevented; else echo survived; fi
  else
    echo "exit status $status, stdout [${out//$'\n'/ }], stderr [${err//$'\n'/ }]"
  fi
}

run_bug() {  # LEVEL LANGUAGE BUG: the outcome
  local out err status
  err=$(mktemp)
  out=$("$secbits_run" --mode all --harden "$1" -- "${program_of[$2]}" "$3" 2>"$err")
  status=$?
  outcome_of "$status" "$out" "$(<"$err")"
  rm -f "$err"
}

spelled_out() {  # OUTCOME: with a line's name, the line itself
  if [[ $1 == \$* ]]; then echo "'${lines[${1#\$}]:-no line named $1}'"; else echo "'$1'"; fi
}

failures=0
fail() {
  echo "FAILED: $*"
  failures=$((failures + 1))
}

# The runs below are under the interposer, at the level asked for.
[[ -f $library ]] || fail "no interposer at $library"
for level in "${levels[@]}"; do
  stats=$(SECBITS_STATS=json "$secbits_run" --mode all --harden "$level" -- "${program_of[c]}" 2>&1 >/dev/null)
  grep -qF "\"mode\":\"all\",\"source\":\"anonymous\",\"hardening\":$level," <<<"$stats" ||
    fail "secbits-run --harden $level: the interposer's statistics do not say mode all at level $level: $stats"
done

if ((observe)); then
  for language in c cxx; do
    while read -r bug; do
      row=$(printf '%-3s %-34s' "$language" "$bug")
      for level in "${levels[@]}"; do row+=" | $(run_bug "$level" "$language" "$bug")"; done
      echo "$row"
    done < <("${program_of[$language]}")
  done
  exit "$failures"
fi

# Every bug the programs know is in the table, and every row names one.
declare -A listed=()
for language in c cxx; do
  while read -r bug; do listed[$language $bug]=1; done < <("${program_of[$language]}")
done
declare -A tabled=()
while read -r language bug _; do tabled[$language $bug]=1; done <<<"$expectations"
for key in "${!listed[@]}"; do [[ -n ${tabled[$key]:-} ]] || fail "$key: a bug with no row in the table"; done
for key in "${!tabled[@]}"; do [[ -n ${listed[$key]:-} ]] || fail "$key: a row for no bug the programs know"; done

while read -r language bug rest; do
  IFS='|' read -r -a expected <<<"${rest#|}"
  for level in "${levels[@]}"; do
    want=$(sed -E 's/^ +| +$//g' <<<"${expected[$level]:-}")
    got=$(run_bug "$level" "$language" "$bug")
    if [[ $got == "$want" ]]; then
      echo "ok: $bug at level $level: $(spelled_out "$got")"
    else
      fail "$bug at level $level: expected $(spelled_out "$want"), got $(spelled_out "$got")"
    fi
  done
done <<<"$expectations"

((failures == 0)) || { echo "$failures failure(s)"; exit 1; }
