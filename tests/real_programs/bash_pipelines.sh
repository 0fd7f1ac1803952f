# The real-program suite's bash workload (run as `bash bash_pipelines.sh DIR`,
# DIR a scratch directory): pipelines, subshells, command and process
# substitution, `sort | uniq -c`, background subshells with wait. Every
# process it starts inherits LD_PRELOAD. Output is deterministic.
set -euo pipefail
cd "$1"

# A pipeline of coreutils over generated words.
seq 1 60000 | factor | cut -d: -f2 | tr ' ' '\n' | grep -v '^$' | sort -n | uniq -c | sort -k1,1nr -k2,2n | sed -n "1,8p"

# Words: each number spelled in base 26, so that sort | uniq -c has work to do.
letters=({a..z})
seq 1 40000 | while read -r n; do
  word=""
  while ((n > 0)); do
    word+=${letters[n % 26]}
    n=$((n / 26))
  done
  echo "${word:0:2}"
done > words
echo "words: $(wc -l < words) lines, $(sort -u words | wc -l) distinct"
sort words | uniq -c | sort -k1,1nr -k2 | sed -n "1,5p"

# Subshells: their variables and directories stay theirs.
outer=outer
(outer=inner; cd /; echo "in subshell: $outer $(pwd)")
echo "after subshell: $outer $(basename "$(pwd)")"

# Nested command substitution and arithmetic.
total=$(( $(seq 1 1000 | paste -sd+) ))
echo "sum 1..1000 = $total"
echo "nested: $(echo "a$(echo "b$(echo "c$(printf %s d)")")")"

# Background subshells, then wait; each writes its own file, read in order.
pids=()
for i in 1 2 3 4 5 6; do
  ( seq "$i" 6 30000 | sha256sum | cut -c1-16 > "part.$i"; exit "$i" ) &
  pids+=($!)
done
statuses=()
for job in "${pids[@]}"; do
  if wait "$job"; then statuses+=(0); else statuses+=($?); fi
done
echo "background statuses: ${statuses[*]}"
cat part.1 part.2 part.3 part.4 part.5 part.6 | paste -sd' '

# Process substitution, here-documents, mapfile, a coprocess-free pipe into a loop.
diff <(seq 1 10) <(seq 1 10 | sed '5d; 7s/7/seven/') || echo "diff exit $?"
mapfile -t lines < <(printf '%s\n' delta alpha charlie bravo | sort)
echo "mapfile: ${#lines[@]} ${lines[*]}"
count=0
while IFS=: read -r user _ uid _; do
  ((uid < 1000)) && ((count += 1)) || true
done <<'PASSWD'
root:x:0:0
daemon:x:1:1
someone:x:1000:1000
nobody:x:65534:65534
PASSWD
echo "system users: $count"

# xargs with two parallel workers, results sorted.
seq 1 200 | xargs -n 20 -P 2 sh -c 'echo "$# $(( $1 + $# ))"' sh | sort -n -k2 | tr '\n' ' '
echo

# Exit statuses survive pipes and subshells.
set +e
(exit 3)
echo "subshell status $?"
false | true
echo "pipefail status $?"
bash -c 'exit 42'
echo "child bash status $?"
set -e
