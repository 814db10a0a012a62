#!/usr/bin/env bash
# hack/providers.sh - a filesystem provider mirror for tofu/terraform, filled
# with real providers built here from their Go modules, so `tofu init` works
# offline (the operator's cloud runs and tests/e2e/test_cloud.sh use it).
#
#   hack/providers.sh build    build the providers into the mirror (reused
#                              when the stamp matches)
#   hack/providers.sh mirror   print the mirror directory
#   hack/providers.sh tfrc     print a CLI configuration that installs
#                              providers from the mirror only
#
# What is in it: hashicorp/local 1.4.0, from its Go module
# (github.com/terraform-providers/terraform-provider-local, pinned in
# hack/tools/providers/local/go.mod; plugin protocol 5, which tofu speaks).
# What cannot be: hashicorp/random and hashicorp/null. The Go module proxy
# serves no release of theirs that tofu can load: random v3.x and null v3.x
# have go.mod files without the /v3 suffix (so no v3 version is a valid
# module version, and their pseudo-versions are refused), and the versions
# it does serve (random v1.3.1, v2.0.0+incompatible; null v1.0.0) are
# Terraform 0.10/0.11 plugins (protocol 4, which OpenTofu does not speak)
# that import github.com/hashicorp/terraform/terraform, which no served
# module provides. Copying their source into this repository is not an
# option. The modules use tofu's built-in terraform_data instead.
# Layout: <mirror>/registry.opentofu.org/hashicorp/<type>/<version>/linux_amd64/
# terraform-provider-<type>_v<version> (the "unpacked" mirror layout), and the
# same under registry.terraform.io for terraform.
# Cache: $PAYBILL_CACHE/tofu-providers/<digest>/mirror, default $ROOT/.cache.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC=$ROOT/hack/tools/providers
export GOTOOLCHAIN=local GOFLAGS=${GOFLAGS:-}

# shellcheck source=lib/gocache.sh
. "$ROOT/hack/lib/gocache.sh"
die() { echo "providers: $*" >&2; exit 1; }

# name version directory package
PROVIDERS=(
  "local 1.4.0 local github.com/terraform-providers/terraform-provider-local"
)
GOARCH_=$(go env GOARCH 2>/dev/null || echo amd64)
PLATFORM=linux_$GOARCH_
LDFLAGS="-s -w"

stamp_text() {
  echo "providers $PLATFORM build CGO_ENABLED=0 -trimpath $LDFLAGS"
  printf '%s\n' "${PROVIDERS[@]}"
  (cd "$SRC" && find . -type f | LC_ALL=C sort | xargs sha256sum) | sha256sum | cut -d' ' -f1
}
DIGEST=$(stamp_text | sha256sum | cut -c1-12)
CACHE=${PAYBILL_CACHE:-$ROOT/.cache}
BINDIR=$CACHE/tofu-providers/$DIGEST
MIRROR=$BINDIR/mirror

built() {
  [ -f "$BINDIR/.stamp" ] && [ "$(cat "$BINDIR/.stamp")" = "$(stamp_text)" ] || return 1
  local p name ver
  for p in "${PROVIDERS[@]}"; do
    read -r name ver _ <<<"$p"
    [ -x "$MIRROR/registry.opentofu.org/hashicorp/$name/$ver/$PLATFORM/terraform-provider-${name}_v$ver" ] || return 1
  done
}

build_all() {
  local p name ver dir pkg out host
  rm -rf "$MIRROR"
  for p in "${PROVIDERS[@]}"; do
    read -r name ver dir pkg <<<"$p"
    out=$MIRROR/registry.opentofu.org/hashicorp/$name/$ver/$PLATFORM
    mkdir -p "$out"
    echo "providers: building hashicorp/$name $ver ..."
    (cd "$SRC/$dir" && CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags="$LDFLAGS" \
      -o "$out/.tmp" "$pkg") || { rm -f "$out/.tmp"; die "go build of hashicorp/$name in hack/tools/providers/$dir failed"; }
    mv -f "$out/.tmp" "$out/terraform-provider-${name}_v$ver"
    for host in registry.terraform.io; do
      mkdir -p "$MIRROR/$host/hashicorp/$name/$ver"
      ln -sfn "$out" "$MIRROR/$host/hashicorp/$name/$ver/$PLATFORM"
    done
  done
}

cmd_tfrc() {
  cat <<EOF
provider_installation {
  filesystem_mirror {
    path    = "$MIRROR"
    include = ["registry.opentofu.org/hashicorp/*", "registry.terraform.io/hashicorp/*"]
  }
  direct {
    exclude = ["*/*/*"]
  }
}
EOF
}

case "${1:-}" in
  build) gocache_build providers "$BINDIR" "provider hashicorp/local" ;;
  mirror | path) echo "$MIRROR" ;;
  tfrc) cmd_tfrc ;;
  *) echo "usage: $0 build | mirror | tfrc" >&2; exit 2 ;;
esac
