#!/usr/bin/env bash
# hack/deps.sh - install every Debian package the build, the tests and the
# local stack need. Idempotent: packages already present are skipped, and
# apt is not touched at all when nothing is missing.
#
# Usage: hack/deps.sh [--no-kube]
#
# Also makes sure an unprivileged user exists to run throwaway PostgreSQL
# servers (postgres refuses to run as root) when this runs as root.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  libcurl4-openssl-dev libyaml-dev libjansson-dev libssl-dev
  libwebsockets-dev libpq-dev libcmocka-dev
  libmimalloc-dev   # the operator's allocator (CMakeLists.txt: PAYBILL_MIMALLOC)
  libjsmn-dev       # JSON tokenizer under util/jload.c (header only)
  libyajl-dev       # JSON generator under util/jdump.c
  curl jq openssl procps util-linux
  python3 python3-venv
  lua5.1   # runs the chart's Argo CD health checks (Lua 5.1, as Argo CD embeds) in tests
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "deps: not root and no sudo; cannot install packages" >&2; fi
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# PostgreSQL 15 server binaries: use the ones on PATH (or /usr/local/bin),
# otherwise Debian's postgresql-15.
if ! command -v postgres >/dev/null 2>&1 && [ ! -x /usr/local/bin/postgres ] \
   && ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  missing+=(postgresql-15)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "deps: all ${#PACKAGES[@]} packages present"
fi

if [ "$(id -u)" -eq 0 ] && ! id paybill >/dev/null 2>&1; then
  useradd --system --create-home --shell /usr/sbin/nologin paybill
  echo "deps: created unprivileged user 'paybill' for test PostgreSQL servers"
fi

for tool in kubectl terraform; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "deps: warning: '$tool' not found on PATH; tests that need it will fail" >&2
  fi
done

# PyJWT in a virtualenv: the independent verifier of the operator's signed
# licences (tests/e2e/test_licence.sh).
. "$(dirname "$0")/lib/pyjwt.sh"
pyjwt_ensure || { echo "deps: error: PyJWT for the licence tests could not be installed" >&2; exit 1; }

# The real Kubernetes control plane (etcd, kube-apiserver,
# kube-controller-manager) and helm, built from the Go modules pinned under
# hack/tools/ into .cache/ (or $PAYBILL_CACHE); an existing build is reused.
# --no-kube skips it (hack/local-up.sh on the dev API server needs no Go).
if [ "${1:-}" = "--no-kube" ]; then
  echo "deps: not building the real control plane or tofu (--no-kube)"
else
  if ! "$(dirname "$0")/kube.sh" build; then
    echo "deps: error: 'hack/kube.sh build' failed (it needs Go >= 1.26 and the Go module proxy); see the messages above" >&2
    exit 1
  fi
  # OpenTofu's tofu (hack/tools/tofu), the kubernetes state backend's client
  # for tests/e2e/test_tofu_backend.sh.
  if ! "$(dirname "$0")/tofu.sh" build; then
    echo "deps: error: 'hack/tofu.sh build' failed (it needs Go >= 1.26.6 and the Go module proxy); see the messages above" >&2
    exit 1
  fi
  # The provider mirror (hashicorp/local built from its Go module) for the
  # operator's cloud runs: tofu init works offline.
  if ! "$(dirname "$0")/providers.sh" build; then
    echo "deps: error: 'hack/providers.sh build' failed (it needs Go >= 1.26 and the Go module proxy); see the messages above" >&2
    exit 1
  fi
  # stripesign (hack/tools/stripe: stripe-go's webhook package), the
  # reference signer/verifier of the billing tests.
  if ! "$(dirname "$0")/stripe.sh" build; then
    echo "deps: error: 'hack/stripe.sh build' failed (it needs Go >= 1.26 and the Go module proxy); see the messages above" >&2
    exit 1
  fi
fi
