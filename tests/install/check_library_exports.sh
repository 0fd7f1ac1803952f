#!/usr/bin/env bash
# libsecbits.so's ABI is the list in libsecbits.symbols, with the SONAME
# below: a symbol exported by accident (a libstdc++ instance, an internal
# helper marked SECBITS_API) becomes something programs link against and
# every later release must keep; one that disappears breaks the programs
# already built. Either fails here until the list is changed on purpose.
# Usage: check_library_exports.sh path/to/libsecbits.so.X.Y.Z path/to/libsecbits.symbols
set -euo pipefail

library=${1:?usage: check_library_exports.sh LIBRARY SYMBOLS}
symbols=${2:?usage: check_library_exports.sh LIBRARY SYMBOLS}
# Changes only with an incompatible ABI, together with src/libsecbits.map's
# version node and the Debian package's name (debian/control).
expected_soname=libsecbits.so.0

soname=$(readelf -d "$library" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [[ $soname != "$expected_soname" ]]; then
  echo "$library has SONAME '$soname', expected $expected_soname" >&2
  exit 1
fi

# nm prints "ADDRESS TYPE NAME@@VERSION" (binutils 2.37 and later); the
# version is part of the ABI, so it is compared too.
actual=$(nm -D --defined-only "$library" | awk '{ print $NF }' | LC_ALL=C sort)
wanted=$(grep -v '^#' "$symbols" | grep -v '^$' | LC_ALL=C sort)
[[ -n $actual ]] || { echo "nm -D --defined-only found no symbols in $library" >&2; exit 1; }
[[ -n $wanted ]] || { echo "$symbols lists no symbols" >&2; exit 1; }
if [[ $actual != "$wanted" ]]; then
  echo "exported symbols of $library differ from $symbols (< missing, > unexpected):" >&2
  diff <(echo "$wanted") <(echo "$actual") | grep '^[<>]' | c++filt >&2 || true
  exit 1
fi
echo "$library ($soname) exports exactly the $(wc -l <<<"$actual") symbols of $(basename "$symbols")"
