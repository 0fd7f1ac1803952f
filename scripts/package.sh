#!/usr/bin/env bash
# Builds the Debian packages of secbits from this tree (debian/, with
# dpkg-buildpackage) and checks them with lintian, which must report no
# error: libsecbits0 (the library), libsecbits-dev (headers, CMake package,
# pkg-config modules) and secbits (the interposer, secbits-run,
# secbits-audit), with their debug symbols.
# debian/ and debhelper rather than CPack: the dependencies (libjemalloc2,
# libstdc++6, ...) come from the binaries (dh_shlibdeps), the library gets
# its shlibs file and ldconfig trigger (dh_makeshlibs), manual pages,
# changelog and copyright land where Debian puts them, and lintian judges
# the result as it judges Debian's own packages.
# Usage: scripts/package.sh [OUTPUT_DIR]   (build/packages by default)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(mkdir -p "${1:-$root/build/packages}" && cd "${1:-$root/build/packages}" && pwd)

"$root/scripts/setup.sh"

# debian/changelog names the version the packages get; it must be the one
# the build reports (CMake's project version, in --version and secbits.pc).
version=$(dpkg-parsechangelog -l "$root/debian/changelog" -S Version)
project_version=$(sed -n 's/^project(secbits VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
if [[ $version != "$project_version" ]]; then
  echo "package.sh: debian/changelog is at $version, CMakeLists.txt at $project_version" >&2
  exit 1
fi

# dpkg-buildpackage builds in the source tree and writes beside it: work on a
# copy of the tree as it is checked out (uncommitted changes included), not
# on the tree, which holds other builds.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tree=$work/secbits-$version
mkdir "$tree"
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # Tracked files deleted in the work tree are left out.
  while IFS= read -r -d '' file; do
    [[ -e $root/$file || -L $root/$file ]] && printf '%s\0' "$file"
  done < <(git -C "$root" ls-files -z --cached --others --exclude-standard) |
    tar -C "$root" --null -T - -cf - | tar -C "$tree" -xf -
else
  tar -C "$root" --exclude=./build -cf - . | tar -C "$tree" -xf -
fi

echo "package.sh: building the packages of secbits $version"
(cd "$tree" && DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" \
  dpkg-buildpackage --build=binary --no-sign >"$work/build.log" 2>&1) || {
  tail -n 50 "$work/build.log" >&2
  echo "package.sh: dpkg-buildpackage failed (the end of its log is above)" >&2
  exit 1
}

rm -f "$out"/*.deb "$out"/*.changes "$out"/*.buildinfo "$out"/lintian.txt
cp "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo "$out"/
changes=$(ls "$out"/secbits_"$version"_*.changes)

# Errors fail the build of the packages; warnings are shown and kept with
# them (lintian.txt).
echo "package.sh: lintian"
status=0
lintian --fail-on error --tag-display-limit 0 --display-info --show-overrides "$changes" >"$out/lintian.txt" 2>&1 || status=$?
cat "$out/lintian.txt"
if ((status != 0)); then
  echo "package.sh: lintian reports errors (or failed, exit $status)" >&2
  exit 1
fi
ls -1 "$out"/*.deb
