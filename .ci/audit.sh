#!/usr/bin/env bash
# Known vulnerabilities in any dependency fail CI: cargo audit of the repository's Cargo.lock,
# offline, against a RustSec advisory database. The one place the command is written down:
# .ci/run calls it, and tests/suite/release.rs calls it with a copy of the database that has
# one synthetic advisory added, to show that a vulnerable dependency makes it fail.
#
#   .ci/audit.sh [DB]       audit against DB (default: the one --find-db prints); the exit
#                           status is non-zero on a vulnerability or an unreadable database;
#                           warnings (unmaintained, yanked) are printed only
#   .ci/audit.sh --find-db  print the database's absolute path: HEALTHPROBE_ADVISORY_DB (a
#                           clone of github.com/rustsec/advisory-db), else the snapshot in a
#                           shared/advisory-db beside the checkout (or a few levels up, for a
#                           clone made elsewhere)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

find_db() {
  local db=${HEALTHPROBE_ADVISORY_DB:-} up
  if [ -z "$db" ]; then
    for up in .. ../.. ../../.. ../../../..; do
      if [ -d "$repo/$up/shared/advisory-db/crates" ]; then
        db=$repo/$up/shared/advisory-db
        break
      fi
    done
  fi
  if [ ! -d "$db/crates" ]; then
    echo ".ci/audit.sh: no RustSec advisory database at ${db:-../shared/advisory-db} (set HEALTHPROBE_ADVISORY_DB to a copy of it)" >&2
    return 1
  fi
  (cd "$db" && pwd)
}

case "${1:-}" in
  --find-db)
    find_db
    exit
    ;;
  "") db=$(find_db) ;;
  *) db=$(cd "$1" && pwd) ;; # absolute before the cd below
esac
cd "$repo"
exec cargo audit --db "$db" --no-fetch --stale
