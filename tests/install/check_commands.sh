#!/usr/bin/env bash
# The command line of secbits-run and secbits-audit: --help and --version,
# and --option=VALUE meaning what --option VALUE means (the environment
# secbits-run hands the program; the processes secbits-audit --all picks).
# Usage: check_commands.sh BUILD_DIR VERSION
set -uo pipefail
build=$1
version=$2
run=$build/secbits-run
audit=$build/scripts/audit/secbits-audit
failures=0
check() {  # NAME EXPECTED_STATUS EXPECTED_OUTPUT COMMAND...: the output (stdout and stderr) exactly
  local name=$1 expected_status=$2 expected=$3
  shift 3
  local output status
  output=$("$@" 2>&1)
  status=$?
  if [[ $status -eq $expected_status && $output == "$expected" ]]; then
    echo "ok: $name"
  else
    echo "FAILED: $name (exit $status, expected $expected_status)"
    diff <(echo "$expected") <(echo "$output") | sed 's/^/    /'
    failures=$((failures + 1))
  fi
}
# What the program sees of secbits-run's options (--verbose's line on stderr
# is the interposer's, not secbits-run's).
secbits_environment() {  # OPTIONS...
  "$run" "$@" -- env 2>/dev/null | grep '^SECBITS_' | LC_ALL=C sort
}

check "secbits-run --version" 0 "secbits-run $version" "$run" --version
check "secbits-audit --version" 0 "secbits-audit $version" "$audit" --version
check "secbits-run --help" 0 "$("$run" --help)" "$run" -h
[[ $("$run" --help) == usage:* ]] || { echo "FAILED: secbits-run --help prints no usage"; failures=$((failures + 1)); }
[[ $("$audit" --help) == usage:* ]] || { echo "FAILED: secbits-audit --help prints no usage"; failures=$((failures + 1)); }

environment="SECBITS_LOCK=strict
SECBITS_MODE=tagged
SECBITS_PROTECT=eager
SECBITS_STATS=1
SECBITS_VERBOSE=1"
check "secbits-run --option value" 0 "$environment" \
  secbits_environment --mode tagged --lock strict --protect eager --stats --verbose
check "secbits-run --option=value" 0 "$environment" \
  secbits_environment --mode=tagged --lock=strict --protect=eager --stats --verbose
check "secbits-run --stats=json" 0 "SECBITS_STATS=json" secbits_environment --stats=json
check "secbits-run --mode=bogus is refused" 125 "secbits-run: --mode must be all or tagged, not 'bogus'" \
  "$run" --mode=bogus true
check "secbits-run --mode= is refused" 125 "secbits-run: --mode must be all or tagged, not ''" "$run" --mode= true
check "secbits-run --verbose=1 is refused" 125 "secbits-run: --verbose takes no value" "$run" --verbose=1 true
check "secbits-run --stats=1 is refused" 125 "secbits-run: --stats takes no value but json, not '1'" \
  "$run" --stats=1 true
check "secbits-run stops at the program" 0 "--mode=x" "$run" echo --mode=x
# A program named like an option, after --, is looked for (and not found).
output=$("$run" -- --mode=x 2>&1)
status=$?
if [[ $status -eq 127 && $output == *"exec: --mode=x: not found" ]]; then
  echo "ok: secbits-run runs what follows --"
else
  echo "FAILED: secbits-run runs what follows -- (exit $status): $output"
  failures=$((failures + 1))
fi

# No process is named so: both spellings examine none (exit 2) and say so alike.
pattern=secbits-no-such-command-$$
check "secbits-audit --all=PATTERN, as --all PATTERN" 2 "$("$audit" --all "$pattern" 2>&1)" "$audit" --all="$pattern"
check "secbits-audit --all=PATTERN takes no second pattern" 2 "secbits-audit: one PID or PATTERN only: 'x'
$("$audit" --help | sed -n '1,3p')" "$audit" --all="$pattern" x

((failures == 0)) || exit 1
echo "secbits-run and secbits-audit: --help, --version and --option=VALUE"
