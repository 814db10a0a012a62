#!/usr/bin/env bash
# hack/tofu.sh - OpenTofu's `tofu` built from its Go module, for tests that
# want a real client-go client of the API server (the kubernetes state
# backend) without downloading a release binary.
#
#   hack/tofu.sh build      build the pinned tofu into the cache (reused when
#                           present; the pin is hack/tools/tofu/go.mod)
#   hack/tofu.sh bindir     print the bin directory (also: path, env)
#
# Cache: $PAYBILL_CACHE/tofu/<version>/bin/tofu, default $ROOT/.cache/... .
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOL=$ROOT/hack/tools/tofu
export GOTOOLCHAIN=local GOFLAGS=${GOFLAGS:-}

# shellcheck source=lib/gocache.sh
. "$ROOT/hack/lib/gocache.sh"
die() { echo "tofu: $*" >&2; exit 1; }

TOFU_VERSION=$(awk '$1 == "require" && $2 == "github.com/opentofu/opentofu" { print $3; exit }' "$TOOL/go.mod")
[ -n "$TOFU_VERSION" ] || die "cannot read the pinned version from $TOOL/go.mod"

CACHE=${PAYBILL_CACHE:-$ROOT/.cache}
BINDIR=$CACHE/tofu/$TOFU_VERSION/bin
# As the release builds (.goreleaser.yaml): without version.dev=no,
# `tofu version` says "OpenTofu v<version>-dev".
LDFLAGS="-s -w -X github.com/opentofu/opentofu/version.dev=no"

# What the stamp records: the pin, the flags and the exact module sums, so
# that any change under hack/tools/tofu rebuilds.
stamp_text() {
  echo "opentofu $TOFU_VERSION"
  echo "build CGO_ENABLED=0 -trimpath $LDFLAGS"
  cat "$TOOL/go.mod" "$TOOL/go.sum" | sha256sum | cut -d' ' -f1
}

built() {
  [ -x "$BINDIR/tofu" ] && [ -f "$BINDIR/.stamp" ] && [ "$(cat "$BINDIR/.stamp")" = "$(stamp_text)" ]
}

build_all() {
  echo "tofu: building tofu $TOFU_VERSION (github.com/opentofu/opentofu/cmd/tofu) ..."
  (cd "$TOOL" && CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags="$LDFLAGS" \
    -o "$BINDIR/.tofu.tmp" github.com/opentofu/opentofu/cmd/tofu) \
    || { rm -f "$BINDIR/.tofu.tmp"; die "go build of github.com/opentofu/opentofu/cmd/tofu in hack/tools/tofu failed"; }
  mv -f "$BINDIR/.tofu.tmp" "$BINDIR/tofu"
}

cmd_build() { gocache_build tofu "$BINDIR" "tofu $TOFU_VERSION"; }

case "${1:-}" in
  build) cmd_build ;;
  bindir | path | env) echo "$BINDIR" ;;
  *) echo "usage: $0 build | bindir" >&2; exit 2 ;;
esac
