#!/usr/bin/env bash
# The main demo: one ordinary program (password_user, plain C, nothing of
# secbits in it) reads a password from a credentials file, uses it, frees it
# and keeps running. It runs twice, plainly and under secbits-run; each time
# the demo looks at the kernel's view of its heap, takes a core file with
# gcore and searches it and the live process memory for the password.
# Usage: run_interposer_demo.sh BUILD_DIR
# Exit status 0 when the password is found in the plain run and nowhere in
# the secbits run.
set -euo pipefail

build=$1
program=$build/scripts/demo/secbits_demo_password_user
search=$build/scripts/demo/secbits_demo_memory_search
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

password="pw-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
cat >"$work/credentials" <<CREDENTIALS
# database client configuration
user=alice
server=db.internal.example
port=5432
timeout=30
password=$password
retries=3
CREDENTIALS

# VmFlags and lock accounting of the mapping that holds ADDRESS in PID.
heap_flags() {  # PID ADDRESS
  local target=$((16#${2#0x}))
  awk -v target="$target" '
    function hex(s,  n, i, c) { n = 0; s = tolower(s); for (i = 1; i <= length(s); i++) { c = index("0123456789abcdef", substr(s, i, 1)) - 1; n = n * 16 + c }; return n }
    /^[0-9a-f]+-[0-9a-f]+ / { split($1, r, "-"); inside = (target >= hex(r[1]) && target < hex(r[2])); next }
    inside && /^Rss:/ { rss = $2 } inside && /^Locked:/ { locked = $2 }
    inside && /^VmFlags:/ { lo = / lo( |$)/ ? "lo" : "--"; dd = / dd( |$)/ ? "dd" : "--"; print lo, dd, locked, rss; exit }
  ' "/proc/$1/smaps"
}

declare -A flags core_hit memory_hit
run() {  # LABEL COMMAND...
  local label=$1
  shift
  coproc PROGRAM { "$@" "$work/credentials"; }
  # bash unsets PROGRAM and PROGRAM_PID as soon as the coprocess exits: keep copies.
  program_pid=$PROGRAM_PID
  exec {from_program}<&"${PROGRAM[0]}" {to_program}>&"${PROGRAM[1]}"
  local line pid="" address=""
  while IFS= read -r line <&"$from_program"; do
    case $line in
      READY\ *) read -r _ pid address <<<"$line"; break ;;
      *) echo "$line" ;;
    esac
  done
  [[ -n $pid ]] || { echo "the program stopped before it was ready" >&2; exit 1; }
  local lo dd locked rss
  read -r lo dd locked rss < <(heap_flags "$pid" "$address")
  flags[$label]="$lo $dd, Locked $locked of Rss $rss kB"
  gcore -o "$work/core-$label" "$pid" >"$work/gcore.log" 2>&1 || { cat "$work/gcore.log" >&2; exit 1; }
  if LC_ALL=C grep -aqF -- "$password" "$work/core-$label.$pid"; then core_hit[$label]=FOUND; else core_hit[$label]=absent; fi
  if "$search" "$pid" "$password" >"$work/where-$label"; then memory_hit[$label]=FOUND; else memory_hit[$label]=absent; fi
  echo done >&"$to_program"
  wait "$program_pid" || true
  exec {from_program}<&- {to_program}>&-
}

echo "1. Plain run (glibc malloc):"
run plain "$program"
echo "2. Same program, unchanged, under secbits-run:"
run secbits "$build/secbits-run" "$program"

echo "3. What an attacker with a core file or a memory dump would find:"
printf '   %-34s %-28s %s\n' "" "plain glibc" "under secbits-run"
printf '   %-34s %-28s %s\n' "heap mapping (smaps VmFlags)" "${flags[plain]}" "${flags[secbits]}"
printf '   %-34s %-28s %s\n' "password in a gcore core file" "${core_hit[plain]}" "${core_hit[secbits]}"
printf '   %-34s %-28s %s\n' "password in process memory" "${memory_hit[plain]}" "${memory_hit[secbits]}"
echo "   (lo: locked in RAM, never swapped; dd: left out of core dumps; process memory read"
echo "    through /proc/PID/mem, every mapping, the freed heap included)"

[[ ${core_hit[plain]} == FOUND && ${memory_hit[plain]} == FOUND &&
   ${core_hit[secbits]} == absent && ${memory_hit[secbits]} == absent ]]
