#!/usr/bin/env bash
# secbits-audit against: a process under the interposer (passes), a plain
# process (reports, exits 1), a process that has exited and a process it may
# not read (clear errors, exit 2). Usage: audit_test.sh BUILD_DIR
set -uo pipefail
build=$1
audit=$build/scripts/audit/secbits-audit
failures=0
check() {  # NAME EXPECTED_STATUS PATTERN COMMAND...
  local name=$1 expected=$2 pattern=$3
  shift 3
  local output status
  output=$("$@" 2>&1)
  status=$?
  if [[ $status -eq $expected ]] && grep -qE -- "$pattern" <<<"$output"; then
    echo "ok: $name"
  else
    echo "FAILED: $name (exit $status, expected $expected; wanted /$pattern/)"
    echo "$output" | sed 's/^/    /'
    failures=$((failures + 1))
  fi
}

"$build/secbits-run" sleep 30 &
secure=$!
sleep 30 &
plain=$!
sleep 1
check "interposed process passes" 0 "verdict +OK" "$audit" "$secure"
check "interposed process passes, as JSON" 0 '"ok":true' "$audit" --json "$secure"
check "plain process is reported" 1 "no secbits pool in this process" "$audit" "$plain"
kill "$secure" "$plain"
wait "$secure" "$plain" 2>/dev/null
check "exited process is a clear error" 2 "may have exited" "$audit" "$secure"
if command -v setpriv >/dev/null; then
  sleep 30 &
  root_owned=$!
  check "unreadable process is a clear error" 2 "Permission denied.*run as the process's user, or as root" \
    setpriv --reuid=65534 --regid=65534 --clear-groups "$audit" "$root_owned"
  kill "$root_owned"
  wait "$root_owned" 2>/dev/null
fi
echo "$((failures == 0 ? 1 : 0)) passed, $failures failed" >/dev/null
exit $((failures != 0))
