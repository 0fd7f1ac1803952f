#!/usr/bin/env bash
# deploy/systemd/secbits.conf is a drop-in systemd accepts as it is:
# `systemd-analyze verify` (which needs no running systemd) loads a sample
# service with it and must say nothing. That a drop-in it says nothing about
# was read at all is shown by a copy with one bad line, which it must name.
# Usage: check_systemd_dropin.sh DROPIN
set -euo pipefail
dropin=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

verify() {  # DROPIN: systemd-analyze's messages about a sample service under it
  rm -rf "$work/units"
  mkdir -p "$work/units/sample.service.d"
  # An unmodified service, as a distribution ships one, run as a user of its own,
  # where LimitMEMLOCK= binds.
  cat >"$work/units/sample.service" <<'UNIT'
[Unit]
Description=A service that knows nothing of secbits

[Service]
ExecStart=/bin/sleep infinity
DynamicUser=yes
UNIT
  cp "$1" "$work/units/sample.service.d/secbits.conf"
  systemd-analyze verify --man=no "$work/units/sample.service" 2>&1
}

messages=$(verify "$dropin")
if [[ -n $messages ]]; then
  echo "systemd-analyze verify objects to $dropin:" >&2
  echo "$messages" >&2
  exit 1
fi

{ cat "$dropin"; echo "LimitMEMLOCK=not-a-size"; } >"$work/bad.conf"
if ! verify "$work/bad.conf" | grep -q 'secbits.conf:.*not-a-size'; then
  echo "systemd-analyze verify did not read the drop-in: a bad line in a copy of it went unreported" >&2
  exit 1
fi
echo "$dropin: systemd-analyze verify accepts it"
