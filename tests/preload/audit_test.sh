#!/usr/bin/env bash
# secbits-audit against: a process under the interposer, one under it in
# tagged mode with no pool yet, and one linked with libsecbits.so (pass), a
# plain process (reports, exits 1), processes that imitate the pool's marker
# without secbits (fail, saying what is missing), a process that has exited
# and a process it may not read (clear errors, exit 2). The fleet view
# (--all, --prometheus) is fleet_audit_test.sh's.
# Usage: audit_test.sh BUILD_DIR FAKE_POOL_MARKER POOL_HOLDER LIBSECBITS_SO
set -uo pipefail
build=$1
fake=$2
pool_holder=$3
library=$4
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
check_absent() {  # NAME PATTERN COMMAND...: the output must not match PATTERN
  local name=$1 pattern=$2
  shift 2
  local output
  output=$("$@" 2>&1)
  if grep -qE -- "$pattern" <<<"$output"; then
    echo "FAILED: $name (did not want /$pattern/)"
    echo "$output" | sed 's/^/    /'
    failures=$((failures + 1))
  else
    echo "ok: $name"
  fi
}

# In the build tree, not /tmp: a file mapped executable needs a mount without noexec.
work=$(mktemp -d "$build/audit_test.XXXXXX")
trap 'rm -rf "$work"' EXIT
started=0
launched=0
start() {  # COMMAND...: in the background, its pid in $started, once it has printed "ready"
  launched=$((launched + 1))
  local output=$work/output.$launched
  : >"$output"
  "$@" >"$output" &
  started=$!
  for _ in $(seq 100); do
    grep -q '^ready' "$output" && return
    sleep 0.1
  done
  echo "note: $* did not say it was ready"
}
stop() {  # PID...
  kill "$@" 2>/dev/null
  wait "$@" 2>/dev/null
}

"$build/secbits-run" sleep 30 &
secure=$!
sleep 30 &
plain=$!
sleep 1
check "interposed process passes" 0 "verdict +OK" "$audit" "$secure"
check "interposed process passes, as JSON" 0 '"ok":true' "$audit" --json "$secure"
check "plain process is reported" 1 "no secbits pool in this process" "$audit" "$plain"
check "an argument that is not a PID is a usage error" 2 "not a process id: 'x1'" "$audit" x1
kill "$secure" "$plain"
wait "$secure" "$plain" 2>/dev/null
check "exited process is a clear error" 2 "may have exited" "$audit" "$secure"

# A process with a live forked child shares its pool pages with it: smaps
# counts each such page as half a page locked in either process, yet every
# page is locked. Both must pass.
start "$build/secbits-run" python3 -c '
import os, sys, time
blocks = [bytearray(4096) for _ in range(500)]
parent = os.getpid()
if os.fork() == 0:
    while os.getppid() == parent:  # ends with the parent
        time.sleep(0.1)
    os._exit(0)
print("ready", flush=True)
time.sleep(30)'
check "process with a live forked child passes" 0 "verdict +OK" "$audit" "$started"
stop "$started"

# Tagged mode reserves the pool at the first tagged allocation: until then
# there is nothing secret to judge, and the rest of the heap is promised nothing.
start "$build/secbits-run" --mode tagged sh -c 'echo ready; exec sleep 30'
check "interposed process in mode tagged with no pool yet passes" 0 \
  "secure pool +none yet: tagged mode reserves it at the first tagged allocation" "$audit" "$started"
check "interposed process in mode tagged with no pool yet passes, verdict" 0 "verdict +OK" "$audit" "$started"
stop "$started"

start "$pool_holder"
check "process linked with libsecbits.so passes" 0 "secbits +library" "$audit" "$started"
check "process linked with libsecbits.so passes, verdict" 0 "verdict +OK" "$audit" "$started"
check "process linked with libsecbits.so passes, as JSON" 0 '"library":true.*"ok":true' "$audit" --json "$started"
stop "$started"
start env LD_PRELOAD="$library" sh -c 'echo ready; exec sleep 30'
check "libsecbits.so loaded with nothing in its pool is reported" 1 \
  "no secbits pool in this process \(libsecbits.so is loaded, but nothing was allocated from its pool" \
  "$audit" "$started"
stop "$started"

# A memfd is named whatever its process likes: the marker alone must not pass.
start "$fake" secbits-pool:0x1000-0x2000
check "marker without a reservation fails" 1 \
  "pool marker 0x1000-0x2000 does not match a reserved mapping \(nothing is mapped there\)" "$audit" "$started"
check "marker without secbits code fails" 1 "no secbits library mapped from a file" "$audit" "$started"
check "marker without a reservation fails, as JSON" 1 '"ok":false.*does not match a reserved mapping' \
  "$audit" --json "$started"
stop "$started"

malformed=(secbits-pool:0xzz-0xyy secbits-pool:0x2000-0x1000 secbits-pool:0x1000-0x1000 secbits-pool:0x1000
  secbits-pool:0x1000-0x2000junk secbits-pool:1000-2000 secbits-pool:0x1000-0x123456789abcdef0123
  "secbits-pool:0x1000-0x2000 (deleted)")
start "$fake" "${malformed[@]}"
for marker in "${malformed[@]}"; do
  check "malformed marker is a problem: $marker" 1 "malformed secbits pool marker: ${marker//[()]/.}\$" \
    "$audit" "$started"
done
check "malformed markers are never trusted, as JSON" 1 '"ok":false' "$audit" --json "$started"
stop "$started"

# The reservation as the pool makes it, but no secbits code: only memfds,
# files whose names merely contain the library's, and the library's name on
# a file mapped as data, not code.
cp "$fake" "$work/mylibsecbits.so"
cp "$fake" "$work/libsecbits.so.0.1.0.txt"
cp "$fake" "$work/libsecbits_preload.so"
start "$fake" reserve a/libsecbits_preload.so a/libsecbits.so.0.1.0 "exec:$work/mylibsecbits.so" \
  "exec:$work/libsecbits.so.0.1.0.txt" "data:$work/libsecbits_preload.so"
check "reservation without secbits code fails" 1 "no secbits library mapped from a file" "$audit" "$started"
check "reservation without secbits code fails, secbits row" 1 "secbits +no secbits code mapped" "$audit" "$started"
check_absent "reservation without secbits code matches its marker" "does not match a reserved mapping" \
  "$audit" "$started"
stop "$started"

# With the library's code really mapped, the marker's range is what is judged.
start env LD_PRELOAD="$library" "$fake" reserve
check "reservation with secbits code and nothing resident passes" 0 \
  "secure pool +1 mappings, 0 bytes resident \(64.0 KiB reserved\)" "$audit" "$started"
check "reservation with secbits code and nothing resident passes, verdict" 0 "verdict +OK" "$audit" "$started"
stop "$started"
start env LD_PRELOAD="$library" "$fake" reserve:hole
check "marker over a gap fails" 1 "does not match a reserved mapping \(nothing is mapped at 0x" "$audit" "$started"
stop "$started"
start env LD_PRELOAD="$library" "$fake" reserve:memfd
memfd_in_range='mapping 0x[0-9a-f]+-0x[0-9a-f]+ is /memfd:not-anonymous \(deleted\), not anonymous memory'
check "marker over a memfd fails" 1 "does not match a reserved mapping \($memfd_in_range\)" "$audit" "$started"
stop "$started"
start env LD_PRELOAD="$library" "$fake" reserve:part
check "marker for part of a mapping fails" 1 \
  "does not match a reserved mapping \(mapping 0x[0-9a-f]+-0x[0-9a-f]+ crosses its bounds\)" "$audit" "$started"
stop "$started"
start env LD_PRELOAD="$library" "$fake" reserve:dumpable
check "dumpable reservation fails" 1 "1 pool mappings \(0 bytes resident\) would be written to a core dump" \
  "$audit" "$started"
stop "$started"

# A genuine pool does not excuse a false marker beside it.
start "$build/secbits-run" "$fake" secbits-pool:0x1000-0x2000
check "false marker beside a genuine pool fails" 1 "pool marker 0x1000-0x2000 does not match a reserved mapping" \
  "$audit" "$started"
check_absent "false marker beside a genuine pool: secbits code is found" "no secbits library" "$audit" "$started"
stop "$started"

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
