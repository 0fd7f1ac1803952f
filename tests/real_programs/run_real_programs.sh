#!/usr/bin/env bash
# Real programs, unmodified, from Debian's packages (scripts/setup.sh installs
# them), each run twice: plainly and under the secbits interposer
# (<build>/secbits-run --verbose, from a copy that every user can read; see
# the driver). The two runs must give the same stdout and
# the same exit status; their stderr may differ only by "secbits: " lines, and
# the interposed run must say "secbits: interposer active". Output that is
# random by nature (keys, signatures with a random nonce) is compared by
# shape: both runs succeed, and what they made parses and verifies under the
# interposer too; everything else is made deterministic (fixed dates and
# names for git, fixed keys made once per suite for signatures).
#
# usage: run_real_programs.sh BUILD_DIR [CASE...]
#   CASE: python3-unittest python3-malloc sqlite3 git g++ perl bash openssl ssh-keygen coreutils
#   (default: all). REAL_PROGRAMS_KEEP=1 keeps the scratch directory; it is
#   always kept when a case fails. Each run of each case is limited to
#   120 seconds (REAL_PROGRAMS_TIMEOUT). REAL_PROGRAMS_SECBITS_ARGS adds
#   options of secbits-run, e.g. "--mode tagged" or "--protect eager".
#
# Prints one line per case, e.g. "sqlite3: same output, same exit status (0)",
# or the reason and a diff; then "N passed, M failed". Exits 1 if a case failed.
#
# Meant to run as root (as CI does) or with an RLIMIT_MEMLOCK that covers the
# programs' heaps: under the default lock policy "degrade" the interposer
# otherwise says once per process that it continues unlocked, on stderr, and
# the Python test modules that compare their children's stderr then fail.
set -uo pipefail

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
self="$here/$(basename "${BASH_SOURCE[0]}")"
all_cases=(python3-unittest python3-malloc sqlite3 git g++ perl bash openssl ssh-keygen coreutils)

# ---------------------------------------------------------------------------
# The cases. Each runs in an empty working directory, with R=() for the plain
# run and R=(secbits-run --verbose) for the interposed one: every program of
# the case is started as "${R[@]}" PROGRAM ..., so the two runs differ in
# nothing else. $FIXTURES holds inputs made once per suite, by plain programs.
# ---------------------------------------------------------------------------

PY=/usr/bin/python3  # Debian's, not a pyenv shim (a bash script) found first on PATH

requires_python3-unittest() { have "$PY" && "$PY" -c 'import test.test_json, test.test_threading, test.test_subprocess' 2>/dev/null ||
                                 missing "python3 and its test modules (packages python3, libpython3.11-testsuite)"; }
case_python3-unittest() {
  # CPython's own tests: json, threads, and subprocess, whose children inherit
  # LD_PRELOAD (the script keeps SECBITS_VERBOSE from them; see there).
  "${R[@]}" "$PY" "$here/python_unittests.py" test.test_json test.test_threading test.test_subprocess
}

requires_python3-malloc() { have "$PY" && "$PY" -c 'import test.test_json' 2>/dev/null ||
                               missing "python3 and its test modules (packages python3, libpython3.11-testsuite)"; }
case_python3-malloc() {
  # PYTHONMALLOC=malloc: every Python object is a malloc block, not pymalloc's.
  # The workload forks children with a preexec_fn that allocates, while other
  # threads allocate.
  export PYTHONMALLOC=malloc
  "${R[@]}" "$PY" "$here/python_workload.py"
  "${R[@]}" "$PY" "$here/python_unittests.py" test.test_json
}

requires_sqlite3() { have sqlite3 || missing "sqlite3 (package sqlite3)"; }
case_sqlite3() {
  "${R[@]}" sqlite3 -batch :memory: < "$here/sqlite_200k.sql"
}

requires_git() { have git || missing "git (package git)"; }
case_git() {
  export GIT_AUTHOR_NAME="Secbits Test" GIT_AUTHOR_EMAIL=test@example.org GIT_AUTHOR_DATE="2026-01-02T03:04:05Z"
  export GIT_COMMITTER_NAME="Secbits Test" GIT_COMMITTER_EMAIL=test@example.org GIT_COMMITTER_DATE="2026-01-02T03:04:05Z"
  export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_PAGER=cat
  g() { "${R[@]}" git "$@"; }
  g -c init.defaultBranch=main init -q repo
  cp -R "$FIXTURES/tree/." repo/
  cd repo
  g add -A
  g commit -q -m "the project's sources"
  echo "// second commit" >> src/pool/pool.cpp
  g rm -q include/secbits/secbits.h
  g commit -q -am "second"
  g checkout -q -b feature HEAD~1
  seq 1 5000 > numbers.txt
  g add numbers.txt
  g commit -q -m "numbers"
  g checkout -q main
  g merge -q --no-edit feature
  g log --stat --format='%H %an <%ae> %ad%n%P%n%s' --date=iso-strict
  g diff --stat HEAD~2 HEAD
  g grep -c 'namespace secbits' HEAD -- src include
  g gc -q
  g fsck --strict --no-progress
  g count-objects -v | grep -E '^(count|in-pack|packs):'
  g archive --format=tar HEAD | sha256sum
  g rev-parse HEAD 'HEAD^{tree}'
}

requires_g++() { have g++ && have nm || missing "g++ and nm (packages g++, binutils)"; }
case_g++() {
  # One of the project's own sources, from a snapshot taken at the suite's start.
  local tree="$FIXTURES/tree"
  "${R[@]}" g++ -std=c++20 -O2 -I"$tree/include" -I"$tree/src" -c "$tree/src/pool/pool.cpp" -o pool.o
  "${R[@]}" nm -C pool.o
  "${R[@]}" size pool.o
  sha256sum < pool.o  # the object files, byte for byte
}

requires_perl() { have perl || missing "perl (package perl)"; }
case_perl() {
  # Hashes of 200,000 insertions, nested hashes, sorting and regexes. Perl
  # randomises hash order per process: everything printed is sorted.
  "${R[@]}" perl -e '
    my (%count, %first, %by_length);
    for my $i (1 .. 200000) {
      my $w = join "", map { chr(97 + ($i * $_ * 7919 + $_) % 26) } 1 .. 1 + $i % 7;
      $count{$w}++;
      $first{$w} //= $i;
      push @{$by_length{length $w}}, $w if $i % 97 == 0;
    }
    my @top = (sort { $count{$b} <=> $count{$a} or $a cmp $b } keys %count)[0 .. 9];
    print "$_ $count{$_} $first{$_}\n" for @top;
    my %vowels;
    for (keys %count) { my $v = () = /[aeiou]/g; $vowels{$v} += $count{$_} }
    print join(",", map { "$_=$vowels{$_}" } sort { $a <=> $b } keys %vowels), "\n";
    my $text = join " ", sort keys %count;
    (my $capital = $text) =~ s/\b([a-z])([a-z]*)\b/\U$1\E$2/g;
    my @q = $capital =~ /\b(Q[a-z]{2,3})\b/g;
    printf "%d distinct, %d chars, %d Q-words, checksum %d\n",
      scalar(keys %count), length $text, scalar @q, unpack("%32C*", $capital);
    print join(" ", map { scalar @{$by_length{$_}} } sort { $a <=> $b } keys %by_length), "\n";
    my %nested;
    $nested{$_ % 13}{$_ % 17}{$_ % 19} .= "$_," for 1 .. 100000;
    print join(",", map { my $k = $_; scalar(keys %{$nested{$k}}) . ":" . length(join "", map { values %$_ } values %{$nested{$k}}) }
                    sort { $a <=> $b } keys %nested), "\n";
    my %copy = %count; delete @copy{grep { /^[a-m]/ } keys %copy};
    print scalar(keys %copy), " left after delete\n";'
}

requires_bash() { have bash || missing "bash"; }
case_bash() {
  mkdir scratch
  "${R[@]}" bash "$here/bash_pipelines.sh" scratch
}

requires_openssl() { have openssl || missing "openssl (package openssl)"; }
case_openssl() {
  o() { "${R[@]}" openssl "$@"; }
  local data="$FIXTURES/data"
  # Keys made now: random, so compared by shape; each must parse, sign and
  # verify (or derive) under the interposer.
  local algorithm
  for algorithm in ED25519 X25519 EC RSA; do
    local options=()
    [[ $algorithm == EC ]] && options=(-pkeyopt ec_paramgen_curve:P-256)
    [[ $algorithm == RSA ]] && options=(-pkeyopt rsa_keygen_bits:2048)
    # genpkey draws RSA's progress dots on stderr: random, so kept apart.
    o genpkey -algorithm "$algorithm" "${options[@]}" -out "$algorithm.pem" 2> "genpkey-$algorithm.err"
    o pkey -in "$algorithm.pem" -noout
    echo "genpkey $algorithm: made a key that parses"
    o pkey -in "$algorithm.pem" -noout -text | sed -n 1p
    o pkey -in "$algorithm.pem" -pubout -out "$algorithm.pub"
  done
  o pkeyutl -sign -inkey ED25519.pem -rawin -in "$data" -out ed25519.sig
  o pkeyutl -verify -pubin -inkey ED25519.pub -rawin -in "$data" -sigfile ed25519.sig
  o dgst -sha256 -sign EC.pem -out ec.sig "$data"
  o dgst -sha256 -verify EC.pub -signature ec.sig "$data"
  o dgst -sha256 -sign RSA.pem -out rsa.sig "$data"
  o dgst -sha256 -verify RSA.pub -signature rsa.sig "$data"
  o pkeyutl -derive -inkey X25519.pem -peerkey "$FIXTURES/x25519.pub" -out shared.1
  o pkeyutl -derive -inkey "$FIXTURES/x25519.pem" -peerkey X25519.pub -out shared.2
  cmp shared.1 shared.2 && echo "X25519: both sides derive the same $(wc -c < shared.1)-byte secret"
  # Fixed keys and inputs: the output itself must be the same.
  o dgst -sha256 -r "$data" | cut -d' ' -f1
  o dgst -sha512 -r "$data" | cut -d' ' -f1
  o dgst -sha3-256 -r "$data" | cut -d' ' -f1
  o pkey -in "$FIXTURES/ed25519.pem" -pubout
  o pkeyutl -sign -inkey "$FIXTURES/ed25519.pem" -rawin -in "$data" | sha256sum   # Ed25519 is deterministic
  o dgst -sha256 -sign "$FIXTURES/rsa.pem" "$data" | sha256sum                     # so is RSA PKCS#1 v1.5
  o pkeyutl -derive -inkey "$FIXTURES/x25519.pem" -peerkey "$FIXTURES/x25519-peer.pub" | sha256sum
  local key=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f iv=0f0e0d0c0b0a09080706050403020100
  o enc -aes-256-cbc -K "$key" -iv "$iv" -in "$data" -out data.enc
  sha256sum < data.enc
  o enc -d -aes-256-cbc -K "$key" -iv "$iv" -in data.enc | cmp - "$data" && echo "aes-256-cbc: round trip"
  o enc -chacha20 -K "$key" -iv "$iv" -in "$data" | sha256sum
  o kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt pass:password -kdfopt salt:saltsalt -kdfopt iter:20000 PBKDF2
  # An encrypted PKCS#8 file (random salt), read back to the same key.
  o pkcs8 -topk8 -in "$FIXTURES/rsa.pem" -v2 aes-256-cbc -passout pass:secret -out rsa-encrypted.pem
  o pkey -in rsa-encrypted.pem -passin pass:secret -outform DER | sha256sum
  o pkey -in "$FIXTURES/rsa.pem" -outform DER | sha256sum
  # A self-signed certificate (its dates are now's): subject, serial, verification.
  o req -new -x509 -key "$FIXTURES/ed25519.pem" -subj /CN=secbits-real-programs -days 2 -set_serial 7 -out cert.pem
  o x509 -in cert.pem -noout -subject -serial -ext basicConstraints
  o verify -CAfile cert.pem cert.pem
}

requires_ssh-keygen() { have ssh-keygen || missing "ssh-keygen (package openssh-client)"; }
case_ssh-keygen() {
  s() { "${R[@]}" ssh-keygen "$@"; }
  local type
  # Keys made now: compared by shape, the fingerprint hidden.
  for type in ed25519 ecdsa rsa; do
    local bits=()
    [[ $type == rsa ]] && bits=(-b 2048)
    s -q -t "$type" "${bits[@]}" -N '' -C "made-$type" -f "id_$type"
    s -l -f "id_$type" | sed -E 's/SHA256:[A-Za-z0-9+\/]+/SHA256:<fingerprint>/'
    s -l -f "id_$type.pub" | sed -E 's/SHA256:[A-Za-z0-9+\/]+/SHA256:<fingerprint>/'
    cmp <(s -y -f "id_$type" | cut -d' ' -f1,2) <(cut -d' ' -f1,2 "id_$type.pub") && echo "$type: private key gives the public key"
  done
  s -q -p -P '' -N 'new pass phrase' -f id_ed25519
  cmp <(s -y -P 'new pass phrase' -f id_ed25519 | cut -d' ' -f1,2) <(cut -d' ' -f1,2 id_ed25519.pub) &&
    echo "ed25519: pass phrase changed, key unchanged"
  # The suite's fixed key: the output itself must be the same.
  cp "$FIXTURES/ssh/id_fixed" "$FIXTURES/ssh/id_fixed.pub" .
  chmod 600 id_fixed
  s -y -f id_fixed
  s -lv -f id_fixed
  s -e -m RFC4716 -f id_fixed.pub
  cp "$FIXTURES/data" data
  s -Y sign -q -f id_fixed -n file data    # Ed25519: a deterministic signature
  cat data.sig
  echo "test@example $(cat id_fixed.pub)" > allowed_signers
  s -Y verify -f allowed_signers -I test@example -n file -s data.sig < data
  s -Y check-novalidate -n file -s data.sig < data
  s -q -s id_fixed -I cert-id -n alice,bob -V 20260101:20270101 -z 42 id_ecdsa.pub
  s -L -f id_ecdsa-cert.pub | sed -E 's/SHA256:[A-Za-z0-9+\/]+/SHA256:<fingerprint>/'
  s -k -f revoked.krl id_fixed.pub
  s -Q -f revoked.krl id_fixed.pub id_rsa.pub || echo "ssh-keygen -Q: exit $?"
  echo "example.org $(cut -d' ' -f1,2 id_fixed.pub)" > known_hosts
  s -F example.org -f known_hosts
}

requires_coreutils() { have sort && have tar && have gzip || missing "coreutils, tar and gzip"; }
case_coreutils() {
  "${R[@]}" seq 1 300000 > numbers
  "${R[@]}" shuf --random-source="$FIXTURES/random-source" numbers > shuffled
  "${R[@]}" sort -n --parallel=2 -S 1M -T . shuffled | "${R[@]}" sha256sum
  "${R[@]}" sort --parallel=2 -S 1M -T . shuffled | "${R[@]}" cut -c1-3 | "${R[@]}" uniq -c | "${R[@]}" sort -k1,1nr -k2 | sed -n 1,5p
  "${R[@]}" tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf tree.tar -C "$FIXTURES" tree
  "${R[@]}" tar -tvf tree.tar | "${R[@]}" sha256sum
  "${R[@]}" gzip -9n < tree.tar | "${R[@]}" sha256sum
  "${R[@]}" ls -lR --time-style=long-iso "$FIXTURES/tree" | "${R[@]}" sha256sum
  "${R[@]}" du -sb "$FIXTURES/tree" | cut -f1
  "${R[@]}" find "$FIXTURES/tree" -name '*.cpp' -type f -print0 | "${R[@]}" sort -z | "${R[@]}" xargs -0 "${R[@]}" wc -l | sed -n '$p'
}

have() { command -v "$1" > /dev/null 2>&1; }
missing() { echo "$*"; return 1; }

# ---------------------------------------------------------------------------
# One run of one case (the driver starts this under timeout).
# ---------------------------------------------------------------------------
if [[ ${1:-} == --case ]]; then
  name=$2 mode=$3
  if [[ $mode == secbits ]]; then
    read -r -a extra <<< "${REAL_PROGRAMS_SECBITS_ARGS:-}"
    R=("$REAL_PROGRAMS_SECBITS_RUN" --verbose "${extra[@]}")
  else
    R=()
  fi
  set -e
  "case_$name"
  exit 0
fi

# ---------------------------------------------------------------------------
# The driver.
# ---------------------------------------------------------------------------
if (($# < 1)) || [[ $1 == -h || $1 == --help ]]; then
  sed -n '2,/^set -uo/p' "$self" | sed '$d; s/^# \{0,1\}//'
  exit 2
fi
build=$(cd "$1" 2>/dev/null && pwd) || { echo "real programs: no build directory $1" >&2; exit 2; }
shift
secbits_run="$build/secbits-run"
[[ -x $secbits_run ]] || { echo "real programs: no $secbits_run (build the project first)" >&2; exit 2; }
cases=("$@")
((${#cases[@]} > 0)) || cases=("${all_cases[@]}")
for name in "${cases[@]}"; do
  declare -F "case_$name" > /dev/null || { echo "real programs: no case '$name' (cases: ${all_cases[*]})" >&2; exit 2; }
done
timeout_seconds=${REAL_PROGRAMS_TIMEOUT:-120}

# The same environment for both runs, and none of the caller's preload.
while IFS= read -r variable; do
  case $variable in
    SECBITS_* | PYTHON* | GIT_* | LD_PRELOAD | MALLOC_* | GLIBC_TUNABLES) unset "$variable" ;;
  esac
done < <(compgen -e)

# The interposer the cases run on: a copy of this build's secbits-run and
# libsecbits_preload.so, in a directory of the suite's own that every user can
# read. Programs that change user keep LD_PRELOAD (CPython's test_subprocess
# starts children as nobody), and the loader then opens the library as the
# new user. From a private build tree (a clone in mktemp -d, or in a home
# directory, 0700 on Debian 12) it cannot: the child says "ERROR: ld.so:
# object '...' from LD_PRELOAD cannot be preloaded (cannot open shared object
# file): ignored." on stderr and runs without secbits, and the case fails on
# where the tree was cloned, not on the interposer. The copy keeps the build's
# layout (secbits-run finds preload/libsecbits_preload.so next to itself),
# must be byte for byte the build's, and is removed when the suite ends.
world_traversable() {  # DIR and every directory above it can be entered by any user
  local dir mode
  dir=$(readlink -f "$1") && [[ -d $dir ]] || return 1
  while :; do
    mode=$(stat -c %A "$dir") || return 1
    [[ ${mode:9:1} == [xt] ]] || return 1
    [[ $dir == / ]] && return 0
    dir=$(dirname "$dir")
  done
}
loads_for_others() {  # SECBITS_RUN: its interposer takes effect, as nobody when we can become nobody
  local as=() said
  # Root can check what the children of test_subprocess meet; a noexec mount
  # shows here as well.
  [[ $(id -u) -eq 0 ]] && have setpriv && as=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
  said=$(cd / && "${as[@]}" "$1" --verbose /bin/true 2>&1)
  grep -q '^secbits: interposer active' <<< "$said"
}
library="$build/preload/libsecbits_preload.so"
[[ -f $library ]] || { echo "real programs: no $library (build the project first)" >&2; exit 2; }
interposer_copy=
remove_interposer_copy() { if [[ -n $interposer_copy ]]; then rm -rf -- "$interposer_copy"; fi; }
trap remove_interposer_copy EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
for base in ${TMPDIR:+"$TMPDIR"} /tmp; do
  world_traversable "$base" || continue
  interposer_copy=$(mktemp -d "$base/secbits-real-programs-interposer.XXXXXX") || { interposer_copy=; continue; }
  if chmod 0755 "$interposer_copy" && mkdir -m 0755 "$interposer_copy/preload" &&
     cp "$secbits_run" "$interposer_copy/secbits-run" && chmod 0755 "$interposer_copy/secbits-run" &&
     cp "$library" "$interposer_copy/preload/" && chmod 0644 "$interposer_copy/preload/libsecbits_preload.so" &&
     cmp -s "$secbits_run" "$interposer_copy/secbits-run" &&
     cmp -s "$library" "$interposer_copy/preload/libsecbits_preload.so" &&
     loads_for_others "$interposer_copy/secbits-run"; then
    secbits_run="$interposer_copy/secbits-run"
    break
  fi
  remove_interposer_copy
  interposer_copy=
done
if [[ -z $interposer_copy ]]; then
  # The other cases still tell something; the ones whose children change
  # user fail with the loader's line if the build tree is private.
  echo "real programs: note: no place (\$TMPDIR, /tmp) where every user can load a copy of the interposer; using $secbits_run"
fi
export REAL_PROGRAMS_SECBITS_RUN="$secbits_run"
work=$(mktemp -d "${TMPDIR:-/tmp}/secbits-real-programs.XXXXXX")
export LC_ALL=C.UTF-8 TZ=UTC HOME="$work/home" TMPDIR="$work/tmp" FIXTURES="$work/fixtures"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p "$HOME" "$TMPDIR" "$FIXTURES"
if [[ $(id -u) -ne 0 && $(ulimit -l) != unlimited ]]; then
  echo "real programs: note: not root and RLIMIT_MEMLOCK is $(ulimit -l) KiB; see the header of $self"
fi

# Inputs made once, by plain programs, shared by both runs of a case.
make_fixtures() {
  local source_dir
  source_dir=$(cd "$here/../.." && pwd)
  mkdir -p "$FIXTURES/tree" "$FIXTURES/ssh"
  cp -R "$source_dir/include" "$source_dir/src" "$FIXTURES/tree/"
  seq 1 20000 | sed 's/$/ the quick brown fox/' > "$FIXTURES/data"
  seq 1 1000000 > "$FIXTURES/random-source"  # shuf's, fixed
  # Ed25519 and X25519 keys from fixed bytes: PKCS#8 DER prefix + 32 bytes.
  local bytes='\x01\x23\x45\x67\x89\xab\xcd\xef\x10\x32\x54\x76\x98\xba\xdc\xfe\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff\x00'
  if have openssl; then
    printf "\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x70\x04\x22\x04\x20$bytes" |
      openssl pkey -inform DER -out "$FIXTURES/ed25519.pem"
    printf "\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x6e\x04\x22\x04\x20$bytes" |
      openssl pkey -inform DER -out "$FIXTURES/x25519.pem"
    openssl pkey -in "$FIXTURES/x25519.pem" -pubout -out "$FIXTURES/x25519.pub"
    openssl genpkey -algorithm X25519 2> /dev/null | openssl pkey -pubout -out "$FIXTURES/x25519-peer.pub"
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$FIXTURES/rsa.pem" 2> /dev/null
  fi
  if have ssh-keygen; then
    ssh-keygen -q -t ed25519 -N '' -C test@example -f "$FIXTURES/ssh/id_fixed"
  fi
}
if ! make_fixtures > "$work/fixtures.log" 2>&1; then
  echo "real programs: could not make the inputs:" >&2
  cat "$work/fixtures.log" >&2
  exit 2
fi

passed=0
failed=0
failed_names=()

indent() { sed 's/^/    /'; }

describe_status() {
  local status=$1
  if ((status == 124)); then
    echo "$status (timed out after $timeout_seconds s)"
  elif ((status > 128 && status < 160)); then
    echo "$status (killed by SIG$(kill -l $((status - 128)) 2> /dev/null))"
  else
    echo "$status"
  fi
}

run_case() {
  local name=$1 dir="$work/cases/$1" mode status reason
  local -A status_of elapsed_of
  mkdir -p "$dir"
  if ! reason=$("requires_$name"); then
    echo "$name: FAILED: not installed: $reason (scripts/setup.sh installs it)"
    failed=$((failed + 1))
    failed_names+=("$name")
    return
  fi
  for mode in plain secbits; do
    # Both runs in the same directory, so that paths in the output agree.
    rm -rf "$dir/run"
    mkdir "$dir/run"
    local start=$EPOCHREALTIME
    (cd "$dir/run" && exec timeout -k 10 "$timeout_seconds" "$self" --case "$name" "$mode") \
      > "$dir/$mode.out" 2> "$dir/$mode.err" < /dev/null
    status_of[$mode]=$?
    elapsed_of[$mode]=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    mv "$dir/run" "$dir/$mode.dir"
  done

  local problems=()
  ((status_of[plain] == 0)) ||
    problems+=("the plain run failed with exit status $(describe_status "${status_of[plain]}"), so nothing can be compared")
  grep -q '^secbits: interposer active' "$dir/secbits.err" ||
    problems+=("no \"secbits: interposer active\" line on the interposed run's stderr: the preload did not take effect")
  ((status_of[plain] == status_of[secbits])) ||
    problems+=("exit status $(describe_status "${status_of[plain]}") plainly but $(describe_status "${status_of[secbits]}") under the interposer")
  cmp -s "$dir/plain.out" "$dir/secbits.out" || problems+=("stdout differs")
  grep -v '^secbits: ' "$dir/secbits.err" > "$dir/secbits.err.other"
  cmp -s "$dir/plain.err" "$dir/secbits.err.other" || problems+=("stderr differs by more than secbits lines")
  # Lines of the interposer other than its announcement and its routine notes
  # (statistics, the one-time "continuing unlocked" of the degrade policy) are
  # warnings or aborts: they fail the case.
  grep '^secbits: ' "$dir/secbits.err" | grep -v -e '^secbits: interposer active' -e '^secbits: stats: ' \
    -e 'lock policy is degrade: continuing' | sort | uniq -c | sort -rn > "$dir/secbits.err.said"
  [[ -s $dir/secbits.err.said ]] && problems+=("the interposer wrote warnings or errors on stderr")

  local timing="plain ${elapsed_of[plain]} s, secbits ${elapsed_of[secbits]} s"
  if ((${#problems[@]} == 0)); then
    echo "$name: same output, same exit status (${status_of[plain]}) [$timing]"
    passed=$((passed + 1))
    return
  fi
  failed=$((failed + 1))
  failed_names+=("$name")
  echo "$name: FAILED [$timing]"
  local problem
  for problem in "${problems[@]}"; do echo "  - $problem"; done
  if [[ -s $dir/secbits.err.said ]]; then
    echo "  what the interposer said (count, line):"
    head -n 10 "$dir/secbits.err.said" | indent
  fi
  if ! cmp -s "$dir/plain.out" "$dir/secbits.out"; then
    echo "  stdout, plain (---) vs under the interposer (+++), first 60 lines of the diff:"
    diff -u "$dir/plain.out" "$dir/secbits.out" | sed -n '1,60p' | indent
  fi
  if ! cmp -s "$dir/plain.err" "$dir/secbits.err.other"; then
    echo "  stderr without secbits lines, plain (---) vs under the interposer (+++), first 40 lines of the diff:"
    diff -u "$dir/plain.err" "$dir/secbits.err.other" | sed -n '1,40p' | indent
  fi
  if ((status_of[secbits] != 0)); then
    echo "  last lines of the interposed run's stderr:"
    tail -n 15 "$dir/secbits.err" | indent
  fi
}

suite_start=$EPOCHREALTIME
for name in "${cases[@]}"; do
  run_case "$name"
done
elapsed=$(awk -v a="$suite_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')

if ((failed > 0)) || [[ ${REAL_PROGRAMS_KEEP:-0} == 1 ]]; then
  echo "real programs: scratch directory kept: $work (per case: plain/secbits .out, .err, .dir)"
else
  rm -rf "$work"
fi
echo "real programs: ${#cases[@]} cases in $elapsed s under secbits-run --verbose${REAL_PROGRAMS_SECBITS_ARGS:+ $REAL_PROGRAMS_SECBITS_ARGS}${failed_names[*]:+; failed: ${failed_names[*]}}"
echo "$passed passed, $failed failed"
((failed == 0))
