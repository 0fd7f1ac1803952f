#!/usr/bin/env bash
# Installs the Debian packages of secbits into this machine as a user would
# (apt-get install ./….deb), uses them from /usr only, purges them and checks
# that nothing of them is left. With them installed: the manual pages; the
# interposer demo under the installed secbits-run; a process run the way
# deploy/systemd/secbits.conf has systemd run a service (its environment and
# limit, as user nobody), passed by the installed secbits-audit; C and C++
# programs built with pkg-config and find_package, and the library demo.
# Whatever happens, the machine is left with the packages it had: what this
# test installed is purged on any exit.
# Usage: check_package.sh PACKAGE_DIR SOURCE_DIR (as root; nothing else may
# use these packages' files meanwhile)
set -euo pipefail
packages=$(cd "$1" && pwd)
source=$(cd "$2" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
names=(libsecbits0 libsecbits-dev secbits)
libdir=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)

apt_get() {
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -qq "$@"
}
# dpkg's status abbreviation: its second letter is n for "not installed",
# c for "configuration files left", i, U, H, F, W, t for stages of installed.
installed_packages() {
  dpkg-query -W -f='${db:Status-Abbrev} ${binary:Package}\n' | awk 'substr($1, 2, 1) != "n" { print $2 }' |
    LC_ALL=C sort
}
is_installed() {  # PACKAGE
  local abbreviation
  abbreviation=$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null) || return 1
  [[ ${abbreviation:1:1} != n ]]
}

[[ $(id -u) -eq 0 ]] || { echo "check_package.sh installs packages: run it as root" >&2; exit 1; }
for name in "${names[@]}"; do
  if is_installed "$name"; then
    echo "$name is already installed (or its configuration is); this test would replace it and then purge it." >&2
    echo "Remove it first: apt-get purge ${names[*]}" >&2
    exit 1
  fi
done
debs=()
for name in "${names[@]}"; do
  debs+=("$(ls "$packages/${name}"_*.deb)")
done

work=$(mktemp -d)
before=$(installed_packages)
# What apt will install: ours, and any dependency the machine lacks. Those
# (and only those: other work on the machine may install packages meanwhile)
# are purged again, on every exit, interrupted installs included.
planned=$(apt-get install --simulate --no-install-recommends "${debs[@]}" 2>&1 | awk '$1 == "Inst" { print $2 }')
if [[ -z $planned ]]; then
  apt-get install --simulate --no-install-recommends "${debs[@]}" >&2 || true
  echo "apt-get would install nothing (above)" >&2
  exit 1
fi
purge_planned() {
  local name leftover=()
  for name in $planned; do
    if is_installed "$name" && ! grep -qx "$name\(:.*\)\?" <<<"$before"; then leftover+=("$name"); fi
  done
  ((${#leftover[@]} == 0)) || apt_get purge "${leftover[@]}"
}
cleanup() {
  local status=$?
  purge_planned >/dev/null 2>&1 || echo "check_package.sh: could not purge $planned; remove them by hand" >&2
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# Every path the packages hold, and which of them the machine had before.
for deb in "${debs[@]}"; do
  dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's|^\./|/|; s|/$||' | grep -v '^$'
done | LC_ALL=C sort -u >"$work/paths"
while IFS= read -r path; do
  if [[ -e $path || -L $path ]]; then echo "$path"; fi
done <"$work/paths" >"$work/existing"

echo "== installing ${planned//$'\n'/ }"
apt_get install --no-install-recommends "${debs[@]}" >"$work/apt.log" 2>&1 || { cat "$work/apt.log" >&2; exit 1; }

echo "== the commands and the manual pages, from /usr"
version=$(dpkg-query -W -f='${Version}' secbits)
for command in secbits-run secbits-audit; do
  [[ $(command -v "$command") == /usr/bin/$command ]] || { echo "$command is not /usr/bin/$command" >&2; exit 1; }
  [[ $("$command" --version) == "$command ${version%%-*}" ]] ||
    { echo "$command --version says '$("$command" --version)', the package is $version" >&2; exit 1; }
done
for page in secbits-run.1 secbits-audit.1 secbits.7 secbits.h.3; do
  installed=$(man -w "${page##*.}" "${page%.*}")
  [[ $installed == /usr/share/man/man${page##*.}/$page.gz ]] || { echo "man finds $page at '$installed'" >&2; exit 1; }
  warnings=$(LC_ALL=C.UTF-8 man --warnings -E UTF-8 "${page##*.}" "${page%.*}" 2>&1 >/dev/null) || true
  [[ -z $warnings ]] || { echo "the installed $page: $warnings" >&2; exit 1; }
done
# LD_PRELOAD=libsecbits_preload.so, by name, as deploy/ has it: the
# loader's cache must know it (at /lib or /usr/lib, one place merged).
cached=$(ldconfig -p | awk '$1 == "libsecbits_preload.so" { print $NF }')
[[ -n $cached && $(readlink -f "$cached") == "$libdir/libsecbits_preload.so" ]] ||
  { echo "the loader's cache lists the interposer at '$cached', not $libdir" >&2; exit 1; }

echo "== the interposer demo, under /usr/bin/secbits-run"
# run_interposer_demo.sh takes a build directory: one whose secbits-run is
# the installed one, with the demo's two plain programs built here.
mkdir -p "$work/demo/scripts/demo"
ln -s /usr/bin/secbits-run "$work/demo/secbits-run"
gcc -O2 "$source/scripts/demo/password_user.c" -o "$work/demo/scripts/demo/secbits_demo_password_user"
g++ -std=c++20 -O2 -I"$source/scripts" "$source/scripts/demo/memory_search.cpp" \
  -o "$work/demo/scripts/demo/secbits_demo_memory_search"
"$source/scripts/demo/run_interposer_demo.sh" "$work/demo"

echo "== a program of /usr/bin under /usr/bin/secbits-run"
# The same output as without secbits, and the interposer says it served it.
expected=$(printf '%s\n' pear apple fig | /usr/bin/sort)
actual=$(printf '%s\n' pear apple fig | /usr/bin/secbits-run --verbose /usr/bin/sort 2>"$work/sort.err")
if [[ $actual != "$expected" ]] || ! grep -q '^secbits: interposer active' "$work/sort.err"; then
  echo "/usr/bin/secbits-run /usr/bin/sort: '$actual', stderr:" >&2
  cat "$work/sort.err" >&2
  exit 1
fi
echo "sort: same output under secbits-run"

echo "== a service as deploy/systemd/secbits.conf has systemd run it"
dropin=$source/deploy/systemd/secbits.conf
mapfile -t environment < <(sed -n 's/^Environment=//p' "$dropin")
limit=$(sed -n 's/^LimitMEMLOCK=//p' "$dropin")
case $limit in
  *K) bytes=$((${limit%K} * 1024)) ;;
  *M) bytes=$((${limit%M} * 1024 * 1024)) ;;
  *G) bytes=$((${limit%G} * 1024 * 1024 * 1024)) ;;
  *) bytes=$limit ;;
esac
# systemd raises the limit as it likes; raising it above the hard limit here
# needs CAP_SYS_RESOURCE, which a container may withhold from root.
hard=$(ulimit -H -l)
if [[ $hard != unlimited ]] && ((bytes > hard * 1024)); then
  echo "note: LimitMEMLOCK=$limit is above this machine's hard limit; run with ${hard} KiB"
  bytes=$((hard * 1024))
fi
# As nobody, without CAP_IPC_LOCK: the limit binds, and the interposer is
# loaded as a user who can only read it from a system-wide install.
prlimit --memlock="$bytes:$bytes" \
  setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all --bounding-set=-all \
  env "${environment[@]}" sleep 60 &
service=$!
verdict=""
for _ in $(seq 50); do
  if verdict=$(secbits-audit "$service" 2>&1); then break; fi
  sleep 0.1
done
kill "$service" 2>/dev/null || true
wait "$service" 2>/dev/null || true
echo "$verdict"
if ! grep -q 'interposer, mode all' <<<"$verdict" || ! grep -q 'verdict *OK' <<<"$verdict" ||
  ! grep -q "RLIMIT_MEMLOCK $((bytes / 1024 / 1024))\.0 MiB" <<<"$verdict"; then
  echo "the drop-in's environment did not put the process under secbits, within its limit" >&2
  exit 1
fi

echo "== programs built against /usr: C and C++, pkg-config and find_package"
env -u PKG_CONFIG_PATH -u CMAKE_PREFIX_PATH -u LD_LIBRARY_PATH "$here/build_consumers.sh" "$work/consumers" "$libdir"

echo "== the library demo, built with pkg-config secbits-cxx"
# shellcheck disable=SC2046  # pkg-config's output is meant to be split
g++ -I"$source/scripts" "$source/scripts/demo/secret_holder.cpp" $(pkg-config --cflags --libs secbits-cxx) \
  -o "$work/secret_holder"
"$source/scripts/demo/run_library_demo.sh" "$work/secret_holder"

echo "== purging"
purge_planned >"$work/apt.log" 2>&1 || { cat "$work/apt.log" >&2; exit 1; }
for name in $planned; do
  if is_installed "$name"; then echo "$name is still installed after the purge" >&2; exit 1; fi
done
leftovers=$(while IFS= read -r path; do
  if [[ -e $path || -L $path ]]; then echo "$path"; fi
done < <(comm -23 "$work/paths" "$work/existing"))
if [[ -n $leftovers ]]; then
  echo "left behind by the purge:" >&2
  echo "$leftovers" >&2
  exit 1
fi
if ldconfig -p | grep -q libsecbits; then
  echo "the loader's cache still lists secbits libraries" >&2
  exit 1
fi
echo "installed, used from /usr and purged without a trace: ${names[*]} $version"
