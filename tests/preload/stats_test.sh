#!/usr/bin/env bash
# SECBITS_STATS at exit: =json is one line of JSON with every counter, in
# both modes, and the page source; =1 is still the text line; =0 prints
# nothing; a bad value is reported once, with the value, and prints no
# statistics.
# Usage: stats_test.sh BUILD_DIR
set -uo pipefail
build=$1
failures=0
expect() {  # NAME CONDITION OUTPUT: CONDITION is a command run with `eval`
  if eval "$2"; then
    echo "ok: $1"
  else
    echo "FAILED: $1"
    echo "$3" | sed 's/^/    /'
    failures=$((failures + 1))
  fi
}
# stderr only: the statistics must not mix with the program's output.
stats_of() {  # VALUE [secbits-run OPTIONS]: the stderr of /bin/true under the interposer
  local value=$1
  shift
  SECBITS_STATS=$value "$build/secbits-run" "$@" /bin/true 2>&1 >/dev/null
}
is_stats_json() {  # LINE MODE
  python3 -c '
import json, sys
stats = json.loads(sys.argv[1])
counters = ["bytes_in_use", "peak_bytes_in_use", "bytes_committed", "bytes_locked", "bytes_unlocked", "slabs",
            "large_blocks", "vmas", "protection_flips", "flips_skipped", "lock_failures", "fallback_bytes_in_use"]
assert isinstance(stats, dict), stats
assert stats["event"] == "secbits_stats", stats
assert stats["mode"] == sys.argv[2], stats
assert isinstance(stats["pid"], int) and stats["pid"] > 0, stats
missing = [key for key in counters if not isinstance(stats.get(key), int) or stats[key] < 0]
assert not missing, ("missing or not counts", missing)
assert stats["source"] in ("anonymous", "secret"), stats
assert stats["hardening"] in (0, 1, 2, 3), stats
# -1 where the kernel has no mseal; in mode all the pool has sealed its tables by exit.
assert isinstance(stats["sealed_mappings"], int) and stats["sealed_mappings"] >= -1, stats
assert sys.argv[2] != "all" or stats["sealed_mappings"] != 0, stats
assert set(stats) == set(counters) | {"event", "pid", "mode", "source", "hardening", "sealed_mappings"}, stats
# The heap of any program holds something at exit, in the pool (all) or in jemalloc (tagged).
assert stats["bytes_committed" if sys.argv[2] == "all" else "fallback_bytes_in_use"] > 0, stats
' "$1" "$2" 2>&1
}

output=$(stats_of json)
expect "SECBITS_STATS=json: one line on stderr" '[[ $(wc -l <<<"$output") -eq 1 ]]' "$output"
check=$(is_stats_json "$output" all)
check_status=$?
expect "SECBITS_STATS=json: valid JSON with every counter" '[[ $check_status -eq 0 ]]' "$check
$output"
output=$(stats_of json --mode tagged)
check=$(is_stats_json "$output" tagged)
check_status=$?
expect "SECBITS_STATS=json in mode tagged: one line of JSON with every counter" \
  '[[ $(wc -l <<<"$output") -eq 1 && $check_status -eq 0 ]]' "$check
$output"

# The hardening level the pool runs at: the default, the one asked for, and a
# bad value said once with the default used instead.
output=$(stats_of json)
expect "SECBITS_HARDEN unset: the statistics say level 1" 'grep -qF "\"hardening\":1," <<<"$output"' "$output"
output=$(SECBITS_HARDEN=3 stats_of json)
expect "SECBITS_HARDEN=3: the statistics say level 3" 'grep -qF "\"hardening\":3," <<<"$output"' "$output"
output=$(SECBITS_HARDEN=0 stats_of 1)
expect "SECBITS_HARDEN=0: the text line says level 0" 'grep -qF ", hardening level 0" <<<"$output"' "$output"
output=$(SECBITS_HARDEN=7 stats_of json)
expect "SECBITS_HARDEN=7: reported once, with the value and the choices; level 1 used" \
  '[[ $(grep -c "SECBITS_HARDEN" <<<"$output") -eq 1 ]] &&
   grep -qF "secbits: SECBITS_HARDEN=\"7\" is not one of 0|1|2|3; using \"1\"" <<<"$output" &&
   grep -qF "\"hardening\":1," <<<"$output"' "$output"

output=$(SECBITS_HARDEN=0 stats_of 1)
expect "SECBITS_STATS=1: the text line says what is sealed" \
  'grep -qE ", (sealed mappings [1-9][0-9]*|sealing absent \(no mseal in this kernel\))" <<<"$output"' "$output"
output=$(SECBITS_PURGE=sometimes stats_of 0 --verbose)
expect "SECBITS_PURGE=sometimes: reported once, with the value and the choices; purge on fatal signals" \
  '[[ $(grep -c "SECBITS_PURGE" <<<"$output") -eq 1 ]] &&
   grep -qF "secbits: SECBITS_PURGE=\"sometimes\" is not one of fatal|all|off; using \"fatal\"" <<<"$output" &&
   grep -qF "; purge on fatal signals" <<<"$output"' "$output"
output=$(stats_of 0 --verbose --purge all)
expect "secbits-run --purge all: the start-up line says so" 'grep -qF "; purge on fatal and termination signals" <<<"$output"' "$output"
output=$(stats_of 1)
expect "SECBITS_STATS=1: the text line" \
  '[[ $(wc -l <<<"$output") -eq 1 ]] && grep -qE "^secbits: stats: in use [0-9]+ bytes \(peak [0-9]+\), committed" <<<"$output"' \
  "$output"
output=$(stats_of 0)
expect "SECBITS_STATS=0: nothing" '[[ -z $output ]]' "$output"

# The page source the pool really uses, as the pool reports it.
output=$(stats_of json --mode tagged --source secret)
expect "SECBITS_SOURCE=secret: the statistics say the pool's pages are secret memory" \
  'grep -qF "\"source\":\"secret\"" <<<"$output"' "$output"
output=$(stats_of 1 --mode tagged --source secret)
expect "SECBITS_SOURCE=secret: the text line says so too" 'grep -qE ", page source secret(,|;|$)" <<<"$output"' "$output"
# Whole-process mode keeps anonymous pages: secret memory is shared across
# fork(), and glibc writes into a child's heap before any fork handler runs.
for source in secret auto; do
  output=$(SECBITS_SOURCE=$source SECBITS_STATS=json LD_PRELOAD="$build/preload/libsecbits_preload.so" /bin/true 2>&1 >/dev/null)
  expect "SECBITS_SOURCE=$source in mode all: said once, with the value, and the pool stays anonymous" \
    '[[ $(grep -c "SECBITS_SOURCE" <<<"$output") -eq 1 ]] &&
     grep -qF "secbits: SECBITS_SOURCE=\"$source\" needs SECBITS_MODE=tagged" <<<"$output" &&
     grep -qF "\"source\":\"anonymous\"" <<<"$output"' "$output"
  output=$("$build/secbits-run" --source $source /bin/true 2>&1)
  status=$?
  expect "secbits-run --source $source without --mode tagged: refused (125), saying why" \
    '[[ $status -eq 125 ]] && grep -qF "needs --mode tagged" <<<"$output"' "$output"
done
output=$(SECBITS_SOURCE=Secret stats_of json)
expect "SECBITS_SOURCE=Secret: reported once, with the value and the choices; the pool stays anonymous" \
  '[[ $(grep -c "SECBITS_SOURCE" <<<"$output") -eq 1 ]] &&
   grep -qxF "secbits: SECBITS_SOURCE=\"Secret\" is not one of anonymous|secret|auto; using \"anonymous\"" <<<"$output" &&
   grep -qF "\"source\":\"anonymous\"" <<<"$output"' "$output"

output=$(stats_of bogus)
expect "SECBITS_STATS=bogus: reported once, with the value and the choices, and no statistics" \
  '[[ $(wc -l <<<"$output") -eq 1 ]] &&
   grep -qxF "secbits: SECBITS_STATS=\"bogus\" is not one of 1|0|json; using \"0\"" <<<"$output"' "$output"
output=$(stats_of JSON)
expect "SECBITS_STATS=JSON: values are exact, as the other options' are" \
  'grep -qxF "secbits: SECBITS_STATS=\"JSON\" is not one of 1|0|json; using \"0\"" <<<"$output"' "$output"

echo "$failures failed"
exit $((failures != 0))
