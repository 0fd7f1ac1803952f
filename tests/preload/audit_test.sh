#!/usr/bin/env bash
# secbits-audit against: a process under the interposer, one under it in
# tagged mode with no pool yet, and processes linked with libsecbits.so, their
# pool's pages anonymous or secret memory (pass, saying which and who else can
# read them), a plain process (reports, exits 1), processes that imitate the
# pool's marker without secbits or put other memory in its range (fail,
# saying what is wrong), a process that has exited and a process it may not
# read (clear errors, exit 2). The fleet view (--all, --prometheus) is
# fleet_audit_test.sh's.
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
check "process linked with libsecbits.so: anonymous pages by default" 0 \
  "page source +anonymous: [0-9]+ mappings?, [0-9.]+ KiB resident" "$audit" "$started"
stop "$started"

# The page source, from the mappings alone: secret memory (memfd_secret) is
# mapped shared as /secretmem, anonymous memory is not. The program chose
# with secbits_set_page_source, which leaves no trace in its environment.
json_is() {  # PID PYTHON_CONDITION: the JSON report of PID, as `r`, satisfies it
  local output
  output=$("$audit" --json "$1" 2>&1)
  python3 -c "import json, sys; r = json.loads(sys.argv[1]); sys.exit(0 if ($2) else 1)" "$output" 2>/dev/null
}
expect_json() {  # NAME PID PYTHON_CONDITION
  if json_is "$2" "$3"; then
    echo "ok: $1"
  else
    echo "FAILED: $1 (wanted $3)"
    "$audit" --json "$2" 2>&1 | sed 's/^/    /'
    failures=$((failures + 1))
  fi
}
readable_note="readable by root and by ptrace-capable processes of the same user"
# Whether this kernel gives secret memory (memfd_secret, Linux 5.14 and later).
secret_memory=no
python3 -c 'import ctypes, sys; sys.exit(0 if ctypes.CDLL(None).syscall(447, 0) >= 0 else 1)' && secret_memory=yes
unreadable_note="not readable by other processes, root included \(memfd_secret\)"
start "$pool_holder" anonymous strict 2
check "anonymous page source: the source" 0 "page source +anonymous: [0-9]+ mappings, [0-9.]+ KiB resident" \
  "$audit" "$started"
check "anonymous page source: passes" 0 "verdict +OK: " "$audit" "$started"
check "anonymous page source: readable by root is a note" 0 "^    note: secrets $readable_note" "$audit" "$started"
check_absent "anonymous page source: never said unreadable" "not readable|secret \(memfd_secret\)" "$audit" "$started"
expect_json "anonymous page source, as JSON" "$started" \
  'r["ok"] and r["pool"]["source"] == "anonymous" and r["readable_by_other_processes"] is True and
   r["pool"]["anonymous_mappings"] >= 3 and r["pool"]["secret_mappings"] == 0 and r["requested_source"] is None and
   any("readable by root" in n for n in r["notes"])'
check "anonymous page source, as Prometheus metrics" 0 \
  "^secbits_pool_source_info\{pid=\"$started\",comm=\"[^\"]*\",source=\"anonymous\"\} 1$" \
  "$audit" --prometheus "$started"
stop "$started"

if [[ $secret_memory == yes ]]; then
  start "$pool_holder" secret strict 2
  mapfile -t secret_ranges < <(awk '/ \/secretmem \(deleted\)$/ {print $1}' "/proc/$started/maps")
  if [[ ${#secret_ranges[@]} -ge 3 ]]; then echo "ok: secret page source: the pool maps /secretmem"
  else echo "FAILED: secret page source: the pool maps /secretmem"; failures=$((failures + 1)); fi
  check "secret page source: the source" 0 \
    "page source +secret \(memfd_secret\): [0-9]+ mappings, [0-9.]+ KiB resident$" "$audit" "$started"
  check "secret page source: passes" 0 "verdict +OK: " "$audit" "$started"
  check "secret page source: says no other process can read it" 0 "^    note: secrets $unreadable_note$" \
    "$audit" "$started"
  check_absent "secret page source: never said readable" "$readable_note|anonymous" "$audit" "$started"
  check "secret page source: locked, undumpable" 0 "locked in RAM +([0-9.]+ KiB) of \1 resident" "$audit" "$started"
  expect_json "secret page source, as JSON" "$started" \
    'r["ok"] and r["pool"]["source"] == "secret" and r["readable_by_other_processes"] is False and
     r["pool"]["secret_mappings"] >= 3 and r["pool"]["anonymous_mappings"] == 0 and
     r["pool"]["secret_resident_bytes"] == r["pool"]["resident_bytes"] == r["pool"]["locked_bytes"] > 0 and
     r["pool"]["dumpable_mappings"] == 0 and any("root included" in n for n in r["notes"])'
  # What the note says holds: root reads none of it through /proc/PID/mem.
  check "secret page source: root cannot read it through /proc/PID/mem" 0 "^unreadable$" python3 -c '
import sys
pid, ranges = sys.argv[1], sys.argv[2:]
with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
    for r in ranges:
        try:
            mem.seek(int(r.split("-")[0], 16))
            if mem.read(16):
                sys.exit("read " + r)
        except OSError:
            pass
print("unreadable")' "$started" "${secret_ranges[@]}"
  check "secret page source, as Prometheus metrics" 0 \
    "^secbits_pool_source_info\{pid=\"$started\",comm=\"[^\"]*\",source=\"secret\"\} 1$" \
    "$audit" --prometheus "$started"
  check_absent "secret page source: root checks the file system" "known by name only" "$audit" "$started"
  stop "$started"
  # Only root may look at the file behind a mapping (/proc/PID/map_files):
  # anyone else audits the secret memory of their own processes by its name.
  if command -v setpriv >/dev/null && [[ $(id -u) -eq 0 ]]; then
    # nobody may not read a build tree in a private (0700) directory: the
    # holder, its library and the audit run from a world-readable copy.
    readable=$(mktemp -d /tmp/secbits-audit-as-nobody.XXXXXX)
    chmod 755 "$readable"
    cp "$pool_holder" "$readable/pool_holder"
    cp "$library" "$readable/libsecbits.so.0"
    cp "$audit" "$readable/secbits-audit"
    chmod -R a+rX "$readable"
    as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    start env LD_LIBRARY_PATH="$readable" "${as_nobody[@]}" "$readable/pool_holder" secret
    check "secret page source audited by its user: known by name only, passes" 0 \
      "page source +secret \(memfd_secret\): 1 mapping, 4.0 KiB resident; known by name only" \
      "${as_nobody[@]}" "$readable/secbits-audit" "$started"
    expect_json "secret page source audited by root: every mapping checked, as JSON" "$started" \
      'r["pool"]["secret_mappings"] == 1 and r["pool"]["secret_verified_mappings"] == 1'
    check "secret page source audited by its user: none verified, as JSON" 0 \
      '"secret_mappings":1,"secret_verified_mappings":0' "${as_nobody[@]}" "$readable/secbits-audit" --json "$started"
    stop "$started"
    rm -rf "$readable"
  fi
else
  echo "note: this kernel gives no secret memory (memfd_secret): the secret pool is refused"
  check "secret page source refused: the program says so" 2 "secbits_set_page_source" "$pool_holder" secret
fi
start env LD_PRELOAD="$library" sh -c 'echo ready; exec sleep 30'
# "ready" comes from the shell: wait until it has become sleep, or the audit
# may look at a process in the middle of exec.
for _ in $(seq 100); do
  [[ $(cat "/proc/$started/comm" 2>/dev/null) == sleep ]] && break
  sleep 0.05
done
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
memfd_in_range='mapping 0x[0-9a-f]+-0x[0-9a-f]+ is /memfd:not-anonymous \(deleted\), neither anonymous nor secret memory'
check "marker over a memfd fails" 1 "does not match a reserved mapping \($memfd_in_range\)" "$audit" "$started"
stop "$started"

# Committed pages in the reservation, as each page source makes them: the
# same verdict, and the source read from the mappings.
start env LD_PRELOAD="$library" "$fake" reserve
check "reservation with nothing committed: none yet" 0 "page source +none yet: no pages committed" "$audit" "$started"
expect_json "reservation with nothing committed, as JSON" "$started" \
  'r["ok"] and r["pool"]["source"] == "none yet" and r["readable_by_other_processes"] is None'
stop "$started"
start env LD_PRELOAD="$library" "$fake" reserve:anonymous
check "reservation with an anonymous page passes" 0 "page source +anonymous: 1 mapping, 4.0 KiB resident" \
  "$audit" "$started"
check "reservation with an anonymous page passes, verdict" 0 "verdict +OK" "$audit" "$started"
stop "$started"
if [[ $secret_memory == yes ]]; then
  start env LD_PRELOAD="$library" "$fake" reserve:secret
  check "reservation with a secret page passes" 0 \
    "page source +secret \(memfd_secret\): 1 mapping, 4.0 KiB resident" "$audit" "$started"
  check "reservation with a secret page passes, verdict" 0 "verdict +OK: " "$audit" "$started"
  check "reservation with a secret page is not readable" 0 "^    note: secrets $unreadable_note$" "$audit" "$started"
  stop "$started"
  start env LD_PRELOAD="$library" "$fake" reserve:mixed
  check "reservation with secret and anonymous pages is mixed" 0 \
    "page source +mixed: secret 1 mapping, 4.0 KiB resident; anonymous 1 mapping, 4.0 KiB resident" \
    "$audit" "$started"
  check "reservation with secret and anonymous pages: partly readable" 0 \
    "note: secrets partly readable: the pool's anonymous memory \(4.0 KiB resident\) is $readable_note" \
    "$audit" "$started"
  expect_json "reservation with secret and anonymous pages, as JSON" "$started" \
    'r["ok"] and r["pool"]["source"] == "mixed" and r["readable_by_other_processes"] is True'
  stop "$started"
  # Secret memory is undumpable because the kernel makes it so; made
  # dumpable (MADV_DODUMP), it fails like any other pool mapping.
  start env LD_PRELOAD="$library" "$fake" reserve:secret-dumpable
  check "dumpable secret memory fails" 1 "1 pool mappings \(4.0 KiB resident\) would be written to a core dump" \
    "$audit" "$started"
  stop "$started"
fi

# Shared file mappings that are not secret memory, locked and undumpable all
# the same, have no place in the range, whatever they are called.
shared_in_range='mapping 0x[0-9a-f]+-0x[0-9a-f]+ is'
start env LD_PRELOAD="$library" "$fake" reserve:secret-memfd
check "marker over a memfd named secretmem fails" 1 \
  "does not match a reserved mapping \($shared_in_range /memfd:secretmem \(deleted\), neither anonymous nor secret memory\)" \
  "$audit" "$started"
stop "$started"
start env LD_PRELOAD="$library" "$fake" "reserve:shared-file=$work/secretmem"
check "marker over a shared file fails" 1 \
  "does not match a reserved mapping \($shared_in_range $work/secretmem \(deleted\), neither anonymous nor secret memory\)" \
  "$audit" "$started"
check_absent "marker over a shared file: no page source claimed" "page source" "$audit" "$started"
stop "$started"
# A file that /proc/PID/maps names exactly as secret memory: only its file
# system tells, which root may look at through /proc/PID/map_files.
launched=$((launched + 1))
env LD_PRELOAD="$library" "$fake" reserve:fake-secretmem >"$work/output.$launched" 2>&1 &
started=$!
for _ in $(seq 100); do
  grep -q '^ready' "$work/output.$launched" || ! kill -0 "$started" 2>/dev/null && break
  sleep 0.1
done
if grep -q '^ready' "$work/output.$launched"; then
  if grep -q ' /secretmem (deleted)$' "/proc/$started/maps"; then echo "ok: the imitation is named /secretmem (deleted)"
  else echo "FAILED: the imitation is named /secretmem (deleted)"; failures=$((failures + 1)); fi
  check "marker over a file named /secretmem that is not secret memory fails" 1 \
    "does not match a reserved mapping \($shared_in_range named /secretmem \(deleted\) but its file is not on the kernel's secretmem file system\)" \
    "$audit" "$started"
  stop "$started"
else
  wait "$started"
  status=$?
  if [[ $status -eq 77 ]]; then
    echo "note: no mount namespace for the /secretmem imitation (needs root): $(cat "$work/output.$launched")"
  else
    echo "FAILED: the /secretmem imitation did not start (exit $status): $(cat "$work/output.$launched")"
    failures=$((failures + 1))
  fi
fi

# SECBITS_SOURCE is the interposer's: its environment explains a pool whose
# pages are not what it asks for. (Tagged mode with no tagged allocation: the
# interposer's own pool is not reserved, the imitation's is the only one.)
preload=$build/preload/libsecbits_preload.so
start env SECBITS_MODE=tagged SECBITS_SOURCE=secret LD_PRELOAD="$preload" "$fake" reserve:anonymous
check "SECBITS_SOURCE=secret with anonymous pages is explained" 0 \
  "note: SECBITS_SOURCE=secret is in its environment, yet its pool's pages are anonymous" "$audit" "$started"
check "SECBITS_SOURCE is shown with the source" 0 "page source +anonymous: .* \(SECBITS_SOURCE=secret\)$" \
  "$audit" "$started"
expect_json "SECBITS_SOURCE, as JSON" "$started" 'r["requested_source"] == "secret"'
stop "$started"
start env SECBITS_MODE=tagged SECBITS_SOURCE=auto LD_PRELOAD="$preload" "$fake" reserve:anonymous
check "SECBITS_SOURCE=auto with anonymous pages is explained" 0 \
  "note: SECBITS_SOURCE=auto fell back to anonymous memory" "$audit" "$started"
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
