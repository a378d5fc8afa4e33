#!/usr/bin/env bash
# apt-get as this project runs it to install what it needs (scripts/ensure-test-services.sh for the tests, npm start's
# local MariaDB): non-interactive, never starting an installed package's services, and waiting for another package
# manager (unattended-upgrades, someone's install) to let go of apt's locks instead of failing at once with
# "Could not get lock". Root only. Usage: scripts/apt-get.sh update|install ARGUMENTS...
set -euo pipefail
wait_s=600
export DEBIAN_FRONTEND=noninteractive
errors=$(mktemp)
ours_policy=false
cleanup() {
  rm -f "$errors"
  if [ "$ours_policy" = true ]; then rm -f /usr/sbin/policy-rc.d; fi
}
trap cleanup EXIT

if [ "${1:-}" = install ] && [ ! -e /usr/sbin/policy-rc.d ]; then
  # Keeps Debian from starting the packages' services (MariaDB's, Prometheus'): whoever needs one starts their own.
  # A policy already in place is someone else's and stays as it is.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  ours_policy=true
fi

# DPkg::Lock::Timeout makes apt-get wait for dpkg's locks (install). `apt-get update` ignores it for the lock of the
# package lists (apt 2.6), so a refusal for a held lock is tried again, until the same deadline.
deadline=$((SECONDS + wait_s))
said=false
until apt-get -o DPkg::Lock::Timeout="$wait_s" "$@" 2> "$errors"; do
  if [ "$SECONDS" -lt "$deadline" ] && grep -q 'Could not get lock' "$errors"; then
    [ "$said" = true ] || printf '[apt-get] another package manager holds the lock; waiting up to %s s\n' "$wait_s" >&2
    said=true
    sleep 1
  else
    cat "$errors" >&2
    exit 1
  fi
done
cat "$errors" >&2
