#!/usr/bin/env bash
# Runs the demo program, takes a core file of it with gcore while it holds its
# two passwords, and looks for each password in the core.
# Usage: run_library_demo.sh PATH/TO/secbits_demo_secret_holder
# Exit status 0 when the protected password is absent from the core and the
# ordinary one is present; 1 otherwise.
set -euo pipefail

program=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

random_word() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }
protected="protected-$(random_word)"
ordinary="ordinary-$(random_word)"

coproc HOLDER { "$program"; }
# bash unsets HOLDER and HOLDER_PID as soon as the coprocess exits: keep copies.
holder_pid=$HOLDER_PID
exec {from_program}<&"${HOLDER[0]}" {to_program}>&"${HOLDER[1]}"
printf '%s\n%s\n' "$protected" "$ordinary" >&"$to_program"
pid=""
while IFS= read -r line <&"$from_program"; do
  case $line in
    READY\ *) pid=${line#READY }; break ;;
    *) echo "$line" ;;
  esac
done
if [[ -z $pid ]]; then
  echo "the demo program stopped before it was ready" >&2
  exit 1
fi

echo "4. A core file of the running program (gcore $pid), searched for both passwords:"
if ! gcore -o "$work/core" "$pid" >"$work/gcore.log" 2>&1; then
  echo "   gcore failed:" >&2
  cat "$work/gcore.log" >&2
  exit 1
fi
core="$work/core.$pid"
echo "   core file: $(du -k "$core" | cut -f1) kB"
printf 'done\n' >&"$to_program"
wait "$holder_pid" || true

found() { LC_ALL=C grep -aqF -- "$1" "$core"; }
status=0
if found "$ordinary"; then
  echo "   ordinary std::string password: FOUND in the core (anyone with the core file has it)"
else
  echo "   ordinary std::string password: not found (unexpected: the search itself is broken)"
  status=1
fi
if found "$protected"; then
  echo "   SecBytes password:              FOUND in the core (secbits failed)"
  status=1
else
  echo "   SecBytes password:              absent (its pages are excluded from core dumps)"
fi
exit $status
