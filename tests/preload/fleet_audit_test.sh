#!/usr/bin/env bash
# secbits-audit's fleet view: --all (and --all PATTERN) lists the processes
# that run secbits and only those, with the source of their pool's pages
# (anonymous, secret memory, or none yet), --prometheus writes metrics
# promtool accepts, a process that fails its guarantees fails the run and
# zeroes its verdict gauge, and a run that may read nothing says so (exit 2).
# Other processes on the machine may run secbits (other tests, in parallel):
# this script names its own programs after a tag of its own and judges only
# the lines of the PIDs it started.
# Usage: fleet_audit_test.sh BUILD_DIR FAKE_POOL_MARKER [POOL_HOLDER]
# (POOL_HOLDER, or $SECBITS_AUDIT_POOL_HOLDER, or the build tree's.)
set -uo pipefail
build=$1
fake=$2
pool_holder=${3:-${SECBITS_AUDIT_POOL_HOLDER:-$build/tests/preload/secbits_preload_pool_holder}}
audit=$build/scripts/audit/secbits-audit
failures=0
pass() { echo "ok: $1"; }
fail() {  # NAME OUTPUT
  echo "FAILED: $1"
  [[ -n ${2:-} ]] && echo "$2" | sed 's/^/    /'
  failures=$((failures + 1))
}
expect() {  # NAME CONDITION OUTPUT: CONDITION is a command run with `eval`
  if eval "$2"; then pass "$1"; else fail "$1" "$3"; fi
}

# In the build tree, not /tmp: the copies below are executed.
work=$(mktemp -d "$build/fleet_audit_test.XXXXXX")
started=()
trap 'kill "${started[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

# A command name is at most 15 bytes: "f" and the PID, then a role.
tag=f$$
cp /bin/sleep "$work/$tag-all"
cp /bin/sleep "$work/$tag-tagged"
cp /bin/sleep "$work/$tag-plain"
cp "$fake" "$work/$tag-fake"
cp "$pool_holder" "$work/$tag-secret"
# A name that needs escaping: a quote, a backslash, a line feed, a byte that is not UTF-8.
weird=$'q"\\\n\xffz'
cp /bin/sleep "$work/$weird"

wait_for() {  # PID COMM [MAPPED]: until the process runs COMM (and maps MAPPED)
  for _ in $(seq 100); do
    if [[ $(cat "/proc/$1/comm" 2>/dev/null) == "$2" ]] &&
      { [[ -z ${3:-} ]] || grep -q -- "$3" "/proc/$1/maps" 2>/dev/null; }; then
      return
    fi
    sleep 0.05
  done
  echo "note: process $1 did not become $2${3:+ with $3 mapped}"
}

"$build/secbits-run" "$work/$tag-all" 60 &
all=$!
"$build/secbits-run" --mode tagged "$work/$tag-tagged" 60 &
tagged=$!
"$work/$tag-plain" 60 &
plain=$!
"$build/secbits-run" "$work/$weird" 60 &
odd=$!
# Linked with libsecbits.so, its pool in secret memory where the kernel gives
# it (memfd_secret), else anonymous: the SOURCE column says which.
if python3 -c 'import ctypes, sys; sys.exit(0 if ctypes.CDLL(None).syscall(447, 0) >= 0 else 1)'; then
  secret_source=secret
else
  secret_source=anonymous
  echo "note: this kernel gives no secret memory (memfd_secret): $tag-secret's pool is anonymous"
fi
"$work/$tag-secret" "$secret_source" >/dev/null &
secret=$!
started+=("$all" "$tagged" "$plain" "$odd" "$secret")
wait_for "$all" "$tag-all" secbits-pool:
wait_for "$tagged" "$tag-tagged" libsecbits_preload.so
wait_for "$plain" "$tag-plain"
wait_for "$odd" "$(head -c 15 <<<"$weird")" secbits-pool:
wait_for "$secret" "$tag-secret" secbits-pool:

line_of() {  # PID OUTPUT: the --all line of PID
  grep -E "^ *$1  " <<<"$2"
}

# --all, every process: ours are listed and the plain one is not. The exit
# status belongs to whatever else runs on the machine.
output=$("$audit" --all 2>&1)
expect "--all lists the interposed process (mode all, anonymous pages)" \
  'line_of "$all" "$output" | grep -qE "^ *$all  $tag-all +all +anonymous +[0-9.]+ [KM]iB .* OK$"' "$output"
expect "--all lists the interposed process (mode tagged, no pool yet)" \
  'line_of "$tagged" "$output" | grep -qE "^ *$tagged  $tag-tagged +tagged +none yet +none .* OK$"' "$output"
expect "--all lists the process linked with libsecbits.so, its pages $secret_source" \
  'line_of "$secret" "$output" | grep -qE "^ *$secret  $tag-secret +library +$secret_source +[0-9.]+ KiB .* OK$"' \
  "$output"
expect "--all has a SOURCE column" \
  'grep -qE "^ +PID  COMMAND +MODE +SOURCE +POOL +LOCKED/MEMLOCK +MAPPINGS +VERDICT$" <<<"$output"' "$output"
expect "--all leaves out the plain process" '! line_of "$plain" "$output" >/dev/null' "$output"
expect "--all ends with a summary" \
  'tail -n 1 <<<"$output" | grep -qE "^secbits-audit: [0-9]+ processes examined, [0-9]+ OK, [0-9]+ FAIL; [0-9]+ skipped"' \
  "$output"

# --all PATTERN: a substring of the command name, or a glob over all of it.
output=$("$audit" --all "$tag-" 2>&1)
status=$?
expect "--all SUBSTRING lists exactly the three secbits processes and passes" \
  '[[ $status -eq 0 ]] && [[ $(grep -cE "^ *[0-9]+  " <<<"$output") -eq 3 ]] &&
   line_of "$all" "$output" >/dev/null && line_of "$tagged" "$output" >/dev/null &&
   line_of "$secret" "$output" >/dev/null &&
   grep -q "^secbits-audit: 3 processes examined, 3 OK, 0 FAIL; 0 skipped" <<<"$output"' "$output (exit $status)"
output=$("$audit" --all "$tag-t*" 2>&1)
status=$?
expect "--all GLOB keeps what matches" \
  '[[ $status -eq 0 ]] && [[ $(grep -cE "^ *[0-9]+  " <<<"$output") -eq 1 ]] &&
   line_of "$tagged" "$output" >/dev/null' \
  "$output (exit $status)"
output=$("$audit" --all "$tag-a?" 2>&1)
status=$?
expect "--all GLOB matches the whole name, and nothing examined is exit 2" \
  '[[ $status -eq 2 ]] && grep -q "^secbits-audit: 0 processes examined" <<<"$output"' "$output (exit $status)"
output=$("$audit" --all "$tag-plain" 2>&1)
status=$?
expect "--all PATTERN naming only a plain process examines nothing" \
  '[[ $status -eq 2 ]] && grep -q "^secbits-audit: 0 processes examined, 0 OK, 0 FAIL; 0 skipped" <<<"$output"' \
  "$output (exit $status)"
output=$("$audit" --all --json "$tag-" 2>&1)
status=$?
expect "--all --json is one JSON object with the processes" \
  '[[ $status -eq 0 ]] && python3 -c "
import json, sys
fleet = json.loads(sys.argv[1])
assert fleet[\"examined\"] == 3 and fleet[\"failed\"] == 0, fleet
assert sorted(p[\"pid\"] for p in fleet[\"processes\"]) == sorted([$all, $tagged, $secret]), fleet
assert all(p[\"ok\"] for p in fleet[\"processes\"]), fleet
sources = {p[\"pid\"]: p[\"pool\"][\"source\"] for p in fleet[\"processes\"]}
assert sources == {$all: \"anonymous\", $tagged: \"none yet\", $secret: \"$secret_source\"}, sources
" "$output"' "$output (exit $status)"
output=$("$audit" --all --json --prometheus 2>&1)
status=$?
expect "--json and --prometheus together are a usage error" \
  '[[ $status -eq 2 ]] && grep -q "exclude each other" <<<"$output"' "$output (exit $status)"

# --prometheus: what promtool accepts, with the gauges of our processes.
promtool_check() {  # METRICS: promtool's verdict, or why there is none
  if ! command -v promtool >/dev/null; then
    echo "promtool not found (scripts/setup.sh installs Debian's prometheus package)"
    return 1
  fi
  promtool check metrics <<<"$1" 2>&1
}
has_sample() {  # METRICS SAMPLE: SAMPLE is a whole line of METRICS
  grep -qxF -- "$2" <<<"$1"
}
metrics=$("$audit" --prometheus --all 2>&1)
check=$(promtool_check "$metrics")
check_status=$?
expect "--prometheus --all passes promtool check metrics" '[[ $check_status -eq 0 ]]' "$check
$metrics"
labels_all="pid=\"$all\",comm=\"$tag-all\""
labels_tagged="pid=\"$tagged\",comm=\"$tag-tagged\""
expect "--prometheus --all: the verdict gauges of both interposed processes" \
  'has_sample "$metrics" "secbits_process_guarantees_ok{$labels_all} 1" &&
   has_sample "$metrics" "secbits_process_guarantees_ok{$labels_tagged} 1"' "$metrics"
expect "--prometheus --all: mode, memory, limits and mappings of the process in mode all" \
  'has_sample "$metrics" "secbits_process_info{$labels_all,mode=\"all\"} 1" &&
   grep -qE "^secbits_pool_resident_bytes\{$labels_all\} [1-9][0-9]*$" <<<"$metrics" &&
   grep -qE "^secbits_pool_locked_bytes\{$labels_all\} [1-9][0-9]*$" <<<"$metrics" &&
   grep -qE "^secbits_pool_reserved_bytes\{$labels_all\} [1-9][0-9]*$" <<<"$metrics" &&
   grep -qE "^secbits_process_locked_bytes\{$labels_all\} [1-9][0-9]*$" <<<"$metrics" &&
   grep -qE "^secbits_process_memlock_limit_bytes\{$labels_all\} ([0-9]+|\+Inf)$" <<<"$metrics" &&
   grep -qE "^secbits_process_mappings\{$labels_all\} [1-9][0-9]*$" <<<"$metrics" &&
   has_sample "$metrics" "secbits_process_mappings_limit{$labels_all} $(cat /proc/sys/vm/max_map_count)" &&
   has_sample "$metrics" "secbits_process_unprotected_heap_bytes{$labels_all} 0"' "$metrics"
labels_secret="pid=\"$secret\",comm=\"$tag-secret\""
expect "--prometheus --all: the source of each process's pool pages" \
  'has_sample "$metrics" "secbits_pool_source_info{$labels_all,source=\"anonymous\"} 1" &&
   has_sample "$metrics" "secbits_pool_source_info{$labels_tagged,source=\"none yet\"} 1" &&
   has_sample "$metrics" "secbits_pool_source_info{$labels_secret,source=\"$secret_source\"} 1" &&
   has_sample "$metrics" "secbits_process_info{$labels_secret,mode=\"library\"} 1" &&
   has_sample "$metrics" "secbits_pool_secret_mappings{$labels_all} 0" &&
   has_sample "$metrics" "secbits_pool_secret_resident_bytes{$labels_all} 0" &&
   if [[ $secret_source == secret ]]; then
     grep -qE "^secbits_pool_secret_mappings\{$labels_secret\} [1-9][0-9]*$" <<<"$metrics" &&
     grep -qE "^secbits_pool_secret_resident_bytes\{$labels_secret\} [1-9][0-9]*$" <<<"$metrics"
   fi' "$metrics"
expect "--prometheus --all: the tagged process has no pool yet and no heap gauge" \
  'has_sample "$metrics" "secbits_process_info{$labels_tagged,mode=\"tagged\"} 1" &&
   has_sample "$metrics" "secbits_pool_resident_bytes{$labels_tagged} 0" &&
   ! grep -q "^secbits_process_unprotected_heap_bytes{$labels_tagged}" <<<"$metrics"' "$metrics"
expect "--prometheus --all: nothing of the plain process" '! grep -q "pid=\"$plain\"" <<<"$metrics"' "$metrics"
expect "--prometheus --all: HELP and TYPE, and the machine-level gauges" \
  'has_sample "$metrics" "# TYPE secbits_process_guarantees_ok gauge" &&
   grep -q "^# HELP secbits_process_guarantees_ok " <<<"$metrics" &&
   grep -qE "^secbits_audit_processes_examined [1-9][0-9]*$" <<<"$metrics" &&
   grep -qE "^secbits_audit_processes_failed [0-9]+$" <<<"$metrics" &&
   grep -qE "^secbits_audit_processes_skipped\{reason=\"exited\"\} [0-9]+$" <<<"$metrics" &&
   grep -qE "^secbits_audit_processes_skipped\{reason=\"unreadable\"\} [0-9]+$" <<<"$metrics"' "$metrics"
expect "--prometheus: a command name is escaped, and made UTF-8" \
  'has_sample "$metrics" "secbits_process_guarantees_ok{pid=\"$odd\",comm=\"q\\\"\\\\\\n'$'\xef\xbf\xbd''z\"} 1"' \
  "$(grep "pid=\"$odd\"" <<<"$metrics")"

metrics=$("$audit" --prometheus "$all" 2>&1)
status=$?
check=$(promtool_check "$metrics")
check_status=$?
expect "--prometheus PID passes promtool check metrics" '[[ $check_status -eq 0 && $status -eq 0 ]]' "$check
$metrics (exit $status)"
expect "--prometheus PID: that process's gauges, and one process examined" \
  'has_sample "$metrics" "secbits_process_guarantees_ok{$labels_all} 1" &&
   [[ $(grep -c "^secbits_process_guarantees_ok{" <<<"$metrics") -eq 1 ]] &&
   has_sample "$metrics" "secbits_audit_processes_examined 1"' "$metrics"
metrics=$("$audit" --prometheus "$plain" 2>&1)
status=$?
expect "--prometheus PID of a plain process: verdict gauge 0, exit 1" \
  '[[ $status -eq 1 ]] && has_sample "$metrics" "secbits_process_guarantees_ok{pid=\"$plain\",comm=\"$tag-plain\"} 0"' \
  "$metrics (exit $status)"

# A process that fails its guarantees: the interposer's genuine pool and,
# beside it, a marker with nothing behind it (as in audit_test.sh).
"$build/secbits-run" "$work/$tag-fake" secbits-pool:0x1000-0x2000 >/dev/null &
bad=$!
started+=("$bad")
wait_for "$bad" "$tag-fake" secbits-pool:0x1000-0x2000
output=$("$audit" --all "$tag-" 2>&1)
status=$?
expect "--all with a failing process exits 1 and says why on its line" \
  '[[ $status -eq 1 ]] &&
   line_of "$bad" "$output" | grep -q "FAIL: pool marker 0x1000-0x2000 does not match a reserved mapping" &&
   line_of "$all" "$output" | grep -q " OK$" &&
   grep -q "^secbits-audit: 4 processes examined, 3 OK, 1 FAIL; 0 skipped" <<<"$output"' "$output (exit $status)"
metrics=$("$audit" --prometheus --all "$tag-" 2>&1)
status=$?
check=$(promtool_check "$metrics")
check_status=$?
expect "--prometheus --all with a failing process: promtool accepts it" '[[ $check_status -eq 0 ]]' "$check"
expect "--prometheus --all with a failing process: its verdict gauge is 0, exit 1" \
  '[[ $status -eq 1 ]] && has_sample "$metrics" "secbits_process_guarantees_ok{pid=\"$bad\",comm=\"$tag-fake\"} 0" &&
   has_sample "$metrics" "secbits_process_guarantees_ok{$labels_all} 1" &&
   grep -qE "^secbits_process_problems\{pid=\"$bad\",comm=\"$tag-fake\"\} [1-9]$" <<<"$metrics" &&
   has_sample "$metrics" "secbits_audit_processes_examined 4" &&
   has_sample "$metrics" "secbits_audit_processes_failed 1"' \
  "$metrics (exit $status)"

# Processes it may not read are skipped and counted, never an error of the
# run; when that is all of them, nothing was examined: exit 2.
if command -v setpriv >/dev/null; then
  as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  output=$("${as_nobody[@]}" "$audit" --all "$tag-" 2>&1)
  status=$?
  expect "--all that may read nothing skips and counts, exit 2" \
    '[[ $status -eq 2 ]] &&
     grep -q "^secbits-audit: 0 processes examined, 0 OK, 0 FAIL; 5 skipped (5 could not be read, 0 exited" <<<"$output" &&
     [[ $(wc -l <<<"$output") -eq 1 ]]' "$output (exit $status)"
  metrics=$("${as_nobody[@]}" "$audit" --all --prometheus "$tag-" 2>&1)
  status=$?
  check=$(promtool_check "$metrics")
  check_status=$?
  expect "--prometheus --all that may read nothing: valid, and counts the skipped" \
    '[[ $check_status -eq 0 && $status -eq 2 ]] && has_sample "$metrics" "secbits_audit_processes_examined 0" &&
     has_sample "$metrics" "secbits_audit_processes_skipped{reason=\"unreadable\"} 5" &&
     ! grep -q "^secbits_process_" <<<"$metrics"' "$check
$metrics (exit $status)"
fi

echo "$failures failed"
exit $((failures != 0))
