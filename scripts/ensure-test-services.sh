#!/usr/bin/env bash
# Run by `npm test` (pretest) so that `npm ci && npm test` works on a fresh Debian machine: installs what the
# tests need if it is missing (MariaDB, Prometheus + promtool, docker-compose for the static compose check,
# Chromium for the load-test HTML report, strace to prove the app writes no file, kubectl to render the Kubernetes
# manifests, libfaketime to step a test server's clock)
# and starts MariaDB on 127.0.0.1:3306 if nothing answers there. Needs root for installs; without root it
# only says what is missing. It never starts Debian's services: tests run their own Prometheus.
set -euo pipefail
log() { printf '[test-setup] %s\n' "$*"; }
# Every install waits for another package manager's lock rather than failing (see apt-get.sh).
apt_get() { bash "$(dirname "$0")/apt-get.sh" "$@"; }

need=()
[ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
command -v mariadb-install-db >/dev/null 2>&1 || need+=(mariadb-server)
{ command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; } || need+=(prometheus)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v strace >/dev/null 2>&1 || need+=(strace)
# libfaketime steps a throwaway mariadbd's wall clock (the live budget must not care).
[ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 ] || need+=(faketime)
# The HTML report test drives /usr/bin/chromium through playwright-core. Installed apart, with its recommended
# packages: those bring the fonts, without which the report's screenshot has no text.
need_chromium=false
[ -x /usr/bin/chromium ] || need_chromium=true
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing: ${need[*]}"
    apt_get update -qq
    apt_get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    log "missing: ${need[*]} (install them, e.g. apt-get install ${need[*]}); the tests that need them will fail or skip"
  fi
fi
if [ "$need_chromium" = true ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing: chromium"
    [ ${#need[@]} -gt 0 ] || apt_get update -qq
    apt_get install -y -qq chromium >/dev/null
  else
    log "missing: chromium (apt-get install -y chromium); the load-test report test will fail"
  fi
fi

# kubectl on its own: Debian 12's archive has no `kubectl` package (only kubernetes-client, whose kustomize is too old
# for deploy/kubernetes), so it installs only where a Kubernetes apt repository is configured. Without it the
# Kubernetes manifest tests skip, loudly; everything else still installs.
if ! command -v kubectl >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing: kubectl"
    if ! { apt_get update -qq && apt_get install -y -qq --no-install-recommends kubectl >/dev/null; }; then
      log "kubectl could not be installed (no apt repository offers it): the Kubernetes manifest tests will skip"
    fi
  else
    log "missing: kubectl (apt-get install -y kubectl); the Kubernetes manifest tests will skip"
  fi
fi

if command -v mariadb-admin >/dev/null 2>&1 && ! mariadb-admin -uroot -h127.0.0.1 ping >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && [ -x /usr/sbin/mariadbd ]; then
    log "starting MariaDB"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    for _ in $(seq 1 60); do
      mariadb-admin -uroot -h127.0.0.1 ping >/dev/null 2>&1 && break
      sleep 0.5
    done
  fi
  mariadb-admin -uroot -h127.0.0.1 ping >/dev/null 2>&1 || log "no MariaDB/MySQL answers on 127.0.0.1:3306 (root, no password): most tests will fail"
fi
