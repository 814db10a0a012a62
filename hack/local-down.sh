#!/usr/bin/env bash
# hack/local-down.sh - stop what hack/local-up.sh started. State (API server
# data, PostgreSQL data) is kept in .local/stack; pass --purge to remove it.
set -euo pipefail
cd "$(dirname "$0")/.."
STACK_ROOT=$PWD STACK_BUILD=$PWD/build/plain
DIR=${PAYBILL_STACK_DIR:-$PWD/.local/stack}
. hack/lib/stack.sh
stack_stop "$DIR"
if [ "${1:-}" = "--purge" ]; then rm -rf "$DIR"; echo "local-down: stopped and removed $DIR"; else echo "local-down: stopped (state kept in $DIR)"; fi
