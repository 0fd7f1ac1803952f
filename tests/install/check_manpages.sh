#!/usr/bin/env bash
# The manual pages a build installs render without a single warning from
# man and groff (what lintian and Debian's man-db run), have every
# placeholder filled in, and document every option the two commands' --help
# lists: an option added to a command and not to its page fails here.
# Usage: check_manpages.sh BUILD_DIR
set -euo pipefail
build=$1
pages=(secbits-run.1 secbits-audit.1 secbits.7 secbits.h.3)
failures=0
fail() {
  echo "FAILED: $*" >&2
  failures=$((failures + 1))
}

for page in "${pages[@]}"; do
  file=$build/man/$page
  [[ -f $file ]] || { fail "$file was not generated"; continue; }
  if grep -n '@[A-Za-z_]*@' "$file"; then fail "$page: placeholders left unfilled (above)"; fi
  # At the width of a terminal and at the narrowest man allows, where long
  # words and tables are most likely to overflow.
  for width in 80 65; do
    warnings=$(LC_ALL=C.UTF-8 MANWIDTH=$width man --warnings -E UTF-8 -l "$file" 2>&1 >/dev/null) || true
    [[ -z $warnings ]] || fail "$page at $width columns: $warnings"
  done
  rendered=$(LC_ALL=C.UTF-8 MANWIDTH=80 man -E UTF-8 -l "$file" 2>/dev/null)
  for section in NAME SYNOPSIS DESCRIPTION "SEE ALSO"; do
    [[ $page == secbits.7 && $section == SYNOPSIS ]] && continue
    grep -q "^$section\$" <<<"$rendered" || fail "$page has no $section section"
  done
done

# Every long option of a command's --help, in its page.
documented() {  # PAGE COMMAND...
  local page=$1 rendered option
  shift
  rendered=$(LC_ALL=C.UTF-8 MANWIDTH=200 man -E UTF-8 -l "$build/man/$page" 2>/dev/null)
  local options
  options=$("$@" --help | grep -oE -- '--[a-z][a-z-]*' | sort -u)
  [[ -n $options ]] || fail "$* --help lists no option"
  for option in $options; do
    grep -qF -- "$option" <<<"$rendered" || fail "$page does not document $option (from $* --help)"
  done
}
documented secbits-run.1 "$build/secbits-run"
documented secbits-audit.1 "$build/scripts/audit/secbits-audit"

((failures == 0)) || exit 1
echo "${#pages[@]} manual pages render without warnings and document every option of secbits-run and secbits-audit"
