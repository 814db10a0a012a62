#!/usr/bin/env bash
# hack/stripe.sh - Stripe's own code as commands, built from their Go
# modules, that the billing tests judge Paybill against:
#   stripesign   webhook signing and verification (the webhook package of
#                github.com/stripe/stripe-go; hack/tools/stripe/main.go)
#   stripe-mock  Stripe's mock API server (github.com/stripe/stripe-mock):
#                usage reports and fetch-back requests must pass its
#                validation of the real API's OpenAPI spec
#
#   hack/stripe.sh build      build both (pinned: hack/tools/stripe/go.mod)
#                             (reused when present; pin: hack/tools/stripe/go.mod)
#   hack/stripe.sh bindir     print the bin directory
#
# Cache: $PAYBILL_CACHE/stripe/<version>/bin/stripesign, default $ROOT/.cache/... .
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOL=$ROOT/hack/tools/stripe
export GOTOOLCHAIN=local GOFLAGS=${GOFLAGS:-}

# shellcheck source=lib/gocache.sh
. "$ROOT/hack/lib/gocache.sh"
die() { echo "stripe: $*" >&2; exit 1; }

STRIPE_VERSION=$(awk '$1 == "require" && $2 == "github.com/stripe/stripe-go/v82" { print $3; exit }' "$TOOL/go.mod")
[ -n "$STRIPE_VERSION" ] || die "cannot read the pinned version from $TOOL/go.mod"

CACHE=${PAYBILL_CACHE:-$ROOT/.cache}
BINDIR=$CACHE/stripe/$STRIPE_VERSION/bin

stamp_text() {
  echo "stripe-go $STRIPE_VERSION"
  cat "$TOOL/go.mod" "$TOOL/go.sum" "$TOOL/main.go" | sha256sum | cut -d' ' -f1
}

built() {
  [ -x "$BINDIR/stripesign" ] && [ -x "$BINDIR/stripe-mock" ] && [ -f "$BINDIR/.stamp" ] \
    && [ "$(cat "$BINDIR/.stamp")" = "$(stamp_text)" ]
}

build_all() {
  echo "stripe: building stripesign (stripe-go $STRIPE_VERSION) ..."
  (cd "$TOOL" && CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags="-s -w" -o "$BINDIR/.stripesign.tmp" .) \
    || { rm -f "$BINDIR/.stripesign.tmp"; die "go build in hack/tools/stripe failed"; }
  mv -f "$BINDIR/.stripesign.tmp" "$BINDIR/stripesign"
  echo "stripe: building stripe-mock ..."
  (cd "$TOOL" && CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags="-s -w" -o "$BINDIR/.stripe-mock.tmp" \
    github.com/stripe/stripe-mock) || { rm -f "$BINDIR/.stripe-mock.tmp"; die "go build of stripe-mock failed"; }
  mv -f "$BINDIR/.stripe-mock.tmp" "$BINDIR/stripe-mock"
}

cmd_build() { gocache_build stripe "$BINDIR" "stripesign (stripe-go $STRIPE_VERSION) and stripe-mock"; }

case "${1:-}" in
  build) cmd_build ;;
  bindir | path | env) echo "$BINDIR" ;;
  *) echo "usage: hack/stripe.sh build|bindir" >&2; exit 2 ;;
esac
