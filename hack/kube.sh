#!/usr/bin/env bash
# hack/kube.sh - the real Kubernetes control plane (etcd, kube-apiserver,
# kube-controller-manager) built from Go modules and run on loopback, plus
# helm, for tests that need the genuine API server rather than paybill-devapi.
#
#   hack/kube.sh build      build the pinned binaries into the cache (reused
#                           when present; the pins are the go.mod files under
#                           hack/tools/{kube,etcd,helm})
#   hack/kube.sh bindir     print the bin directory (also: path, env)
#   hack/kube.sh up DIR     start etcd + kube-apiserver + kube-controller-manager
#                           on 127.0.0.1; writes DIR/kubeconfig (admin) and
#                           DIR/env (KUBE_APISERVER_URL, KUBECONFIG, pids, ports);
#                           logs in DIR/logs
#   hack/kube.sh down DIR   stop them (SIGTERM, wait, SIGKILL); idempotent
#
# Cache: $PAYBILL_CACHE/kube/<k8s-version>/bin, default $ROOT/.cache/... .
# Nothing here listens on or contacts any address but 127.0.0.1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=$ROOT/hack/tools
export GOTOOLCHAIN=local GOFLAGS=${GOFLAGS:-}

# shellcheck source=lib/gocache.sh
. "$ROOT/hack/lib/gocache.sh"
die() { echo "kube: $*" >&2; exit 1; }

# The pinned version of module $2 in tools module $1 (from its go.mod).
pin() {
  awk -v m="$2" '$1 == "require" { $1 = ""; $0 = $0 } $1 == m && $2 ~ /^v/ { print $2; exit }' "$TOOLS/$1/go.mod"
}

K8S_VERSION=$(pin kube k8s.io/kubernetes)
ETCD_VERSION=$(pin etcd go.etcd.io/etcd/server/v3)
HELM_VERSION=$(pin helm helm.sh/helm/v3)
[ -n "$K8S_VERSION" ] && [ -n "$ETCD_VERSION" ] && [ -n "$HELM_VERSION" ] \
  || die "cannot read the pinned versions from $TOOLS/*/go.mod"

CACHE=${PAYBILL_CACHE:-$ROOT/.cache}
BINDIR=$CACHE/kube/$K8S_VERSION/bin
BINARIES=(etcd kube-apiserver kube-controller-manager helm)

# What the stamp records: the pins and the exact module sums, so that any
# change under hack/tools rebuilds.
stamp_text() {
  echo "kubernetes $K8S_VERSION"
  echo "etcd $ETCD_VERSION"
  echo "helm $HELM_VERSION"
  echo "build CGO_ENABLED=0 -trimpath -s -w$(kube_ldflags)$(helm_ldflags)"
  cat "$TOOLS"/kube/go.mod "$TOOLS"/kube/go.sum "$TOOLS"/etcd/go.mod "$TOOLS"/etcd/go.sum \
    "$TOOLS"/etcd/main.go "$TOOLS"/helm/go.mod "$TOOLS"/helm/go.sum | sha256sum | cut -d' ' -f1
}

built() {
  local b
  for b in "${BINARIES[@]}"; do [ -x "$BINDIR/$b" ] || return 1; done
  [ -f "$BINDIR/.stamp" ] && [ "$(cat "$BINDIR/.stamp")" = "$(stamp_text)" ]
}

# Version stamps, as the upstream release builds set them (otherwise
# kube-apiserver reports v0.0.0-master, which kubectl and helm cannot parse).
kube_ldflags() {
  local v=$K8S_VERSION minor p out=""
  minor=${v#v1.}; minor=${minor%%.*}
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    out+=" -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  echo "$out"
}
helm_ldflags() { # helm's default Capabilities.KubeVersion: the client-go it is built with
  local cg minor p out=" -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  cg=$(pin helm k8s.io/client-go); minor=${cg#v0.}; minor=${minor%%.*}
  for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    out+=" -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$minor"
  done
  echo "$out"
}

# go_build MODULE-DIR NAME PACKAGE [EXTRA-LDFLAGS]: static (CGO_ENABLED=0),
# stripped, -trimpath, as the upstream release binaries are.
go_build() {
  local t0; t0=$(now)
  echo "kube: building $2 ($3) ..."
  (cd "$TOOLS/$1" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w${4:-}" -o "$BINDIR/.$2.tmp" "$3") \
    || { rm -f "$BINDIR/.$2.tmp"; die "go build of $3 in hack/tools/$1 failed"; }
  mv -f "$BINDIR/.$2.tmp" "$BINDIR/$2"
  echo "kube: built $2 in $(since "$t0") s"
}

build_all() {
  go_build kube kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$(kube_ldflags)"
  go_build kube kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$(kube_ldflags)"
  go_build etcd etcd .
  go_build helm helm helm.sh/helm/v3/cmd/helm "$(helm_ldflags)"
}

cmd_build() {
  gocache_build kube "$BINDIR" "kubernetes $K8S_VERSION, etcd $ETCD_VERSION, helm $HELM_VERSION"
}

# ---------------------------------------------------------------- up / down

free_port() { # a free TCP port on 127.0.0.1, not one of the arguments
  local p i
  for i in $(seq 1 50); do
    p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null \
      || shuf -i 20000-32000 -n 1)
    case " $* " in *" $p "*) continue ;; esac
    port_busy "$p" || { echo "$p"; return 0; }
  done
  die "no free port on 127.0.0.1"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ours PID DIR: PID is alive and is one of the processes started for DIR.
ours() {
  [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "$2/"
}

gen_pki() {
  local pki=$1
  mkdir -p "$pki"
  chmod 700 "$pki"
  [ -f "$pki/ca.crt" ] && [ -f "$pki/serving.crt" ] && [ -f "$pki/sa.key" ] && [ -f "$pki/token" ] && return 0
  (
    cd "$pki"
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
    openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=paybill-kube-ca" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -out ca.crt 2>/dev/null
    openssl ecparam -name prime256v1 -genkey -noout -out serving.key 2>/dev/null
    openssl req -new -key serving.key -subj "/CN=kube-apiserver" -out serving.csr 2>/dev/null
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" \
      "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
      >serving.ext
    openssl x509 -req -in serving.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -sha256 \
      -extfile serving.ext -out serving.crt 2>/dev/null
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null
    openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
    openssl rand -hex 32 >token
    rm -f serving.csr serving.ext ca.srl
    chmod 600 ./*.key token
  ) || die "openssl failed generating certificates in $pki"
}

write_kubeconfig() { # FILE URL CA TOKEN
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: paybill-kube
  cluster:
    server: $2
    certificate-authority-data: $(base64 -w0 <"$3")
users:
- name: admin
  user:
    token: $4
contexts:
- name: admin@paybill-kube
  context:
    cluster: paybill-kube
    user: admin
current-context: admin@paybill-kube
EOF
  chmod 600 "$1"
}

start_bg() { # LOG BIN ARGS... ; prints the pid
  local log=$1; shift
  setsid "$@" >"$log" 2>&1 </dev/null &
  echo $!
}

wait_until() { # SECONDS WHAT PID COMMAND...
  local deadline=$(( $(date +%s) + $1 )) what=$2 pid=$3; shift 3
  until "$@" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || return 2
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

fail_up() { # DIR LOG MESSAGE
  echo "kube: $3; last lines of $2:" >&2
  tail -n 25 "$2" >&2 || true
  cmd_down "$1" >/dev/null 2>&1 || true
  exit 1
}

cmd_up() {
  [ $# -eq 1 ] || die "usage: kube.sh up DIR"
  mkdir -p "$1"
  local dir; dir=$(cd "$1" && pwd)
  local t0; t0=$(now)
  if [ -f "$dir/env" ]; then
    local p
    for p in $(sed -n 's/^KUBE_[A-Z_]*_PID=\([0-9]*\)$/\1/p' "$dir/env"); do
      ours "$p" "$dir" && die "a control plane is already running in $dir (pid $p); run: hack/kube.sh down $dir"
    done
  fi
  built || cmd_build
  local bt0; bt0=$(now)
  mkdir -p "$dir/logs" "$dir/etcd" "$dir/kcm"
  chmod 700 "$dir/etcd"
  gen_pki "$dir/pki"
  local pki=$dir/pki token; token=$(cat "$pki/token")
  echo "$token,admin,paybill-kube-admin,\"system:masters\"" >"$pki/tokens.csv"
  chmod 600 "$pki/tokens.csv"

  # Ports: those of the last run in DIR when still free, else new ones.
  local etcd_port="" peer_port="" api_port="" kcm_port=""
  if [ -f "$dir/ports" ]; then read -r etcd_port peer_port api_port kcm_port <"$dir/ports" || true; fi
  for v in etcd_port peer_port api_port kcm_port; do
    if [ -z "${!v}" ] || port_busy "${!v}"; then
      printf -v "$v" '%s' "$(free_port "$etcd_port" "$peer_port" "$api_port" "$kcm_port")"
    fi
  done
  echo "$etcd_port $peer_port $api_port $kcm_port" >"$dir/ports"
  local url=https://127.0.0.1:$api_port etcd_url=http://127.0.0.1:$etcd_port

  # etcd: single member, loopback only, no fsync (throwaway test data).
  local etcd_pid
  etcd_pid=$(start_bg "$dir/logs/etcd.log" "$BINDIR/etcd" \
    --name=paybill --data-dir="$dir/etcd" \
    --listen-client-urls="$etcd_url" --advertise-client-urls="$etcd_url" \
    --listen-peer-urls="http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls="http://127.0.0.1:$peer_port" \
    --initial-cluster="paybill=http://127.0.0.1:$peer_port" \
    --initial-cluster-state=new --unsafe-no-fsync --log-level=warn)
  echo "KUBE_ETCD_PID=$etcd_pid" >"$dir/env"
  wait_until 30 etcd "$etcd_pid" curl -sf --max-time 1 "$etcd_url/health" \
    || fail_up "$dir" "$dir/logs/etcd.log" "etcd did not become healthy on $etcd_url"

  local api_pid
  api_pid=$(start_bg "$dir/logs/kube-apiserver.log" "$BINDIR/kube-apiserver" \
    --advertise-address=127.0.0.1 --bind-address=127.0.0.1 --secure-port="$api_port" \
    --endpoint-reconciler-type=none \
    --etcd-servers="$etcd_url" \
    --cert-dir="$pki" --tls-cert-file="$pki/serving.crt" --tls-private-key-file="$pki/serving.key" \
    --client-ca-file="$pki/ca.crt" --token-auth-file="$pki/tokens.csv" \
    --authorization-mode=Node,RBAC \
    --service-account-issuer="$url" --api-audiences="$url" \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,DefaultTolerationSeconds,ResourceQuota,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy,PodSecurity \
    --service-cluster-ip-range=10.96.0.0/16 \
    --shutdown-watch-termination-grace-period=2s \
    --allow-privileged=true --profiling=false --v=1)
  echo "KUBE_APISERVER_PID=$api_pid" >>"$dir/env"
  write_kubeconfig "$dir/kubeconfig" "$url" "$pki/ca.crt" "$token"
  wait_until 90 kube-apiserver "$api_pid" curl -sf --max-time 2 --cacert "$pki/ca.crt" \
    -H "Authorization: Bearer $token" "$url/readyz" \
    || fail_up "$dir" "$dir/logs/kube-apiserver.log" "kube-apiserver did not become ready on $url"

  local kcm_pid
  kcm_pid=$(start_bg "$dir/logs/kube-controller-manager.log" "$BINDIR/kube-controller-manager" \
    --kubeconfig="$dir/kubeconfig" \
    --authentication-kubeconfig="$dir/kubeconfig" --authorization-kubeconfig="$dir/kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$kcm_port" --cert-dir="$dir/kcm" \
    --controllers=namespace-controller,garbage-collector-controller,serviceaccount-controller,serviceaccount-token-controller,resourcequota-controller,clusterrole-aggregation-controller,root-ca-certificate-publisher-controller \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --use-service-account-credentials=false --leader-elect=false --v=1)

  cat >>"$dir/env" <<EOF
KUBE_CONTROLLER_MANAGER_PID=$kcm_pid
KUBE_APISERVER_URL=$url
KUBECONFIG=$dir/kubeconfig
KUBE_CA_FILE=$pki/ca.crt
KUBE_ETCD_URL=$etcd_url
KUBE_ETCD_PORT=$etcd_port
KUBE_ETCD_PEER_PORT=$peer_port
KUBE_APISERVER_PORT=$api_port
KUBE_CONTROLLER_MANAGER_PORT=$kcm_port
KUBE_BINDIR=$BINDIR
EOF
  wait_until 60 kube-controller-manager "$kcm_pid" curl -sfk --max-time 1 "https://127.0.0.1:$kcm_port/healthz" \
    || fail_up "$dir" "$dir/logs/kube-controller-manager.log" "kube-controller-manager did not become healthy"
  # The default namespace (apiserver) and its default ServiceAccount
  # (serviceaccount controller) exist once the cluster is usable.
  local k=(curl -sf --max-time 2 --cacert "$pki/ca.crt" -H "Authorization: Bearer $token")
  wait_until 60 default-sa "$kcm_pid" "${k[@]}" "$url/api/v1/namespaces/default/serviceaccounts/default" \
    || fail_up "$dir" "$dir/logs/kube-controller-manager.log" "ServiceAccount default/default did not appear"
  echo "kube: up in $(since "$bt0") s ($(since "$t0") s with build check): $url, KUBECONFIG=$dir/kubeconfig, env in $dir/env"
}

stop_pid() { # PID DIR NAME
  local pid=$1 i
  ours "$pid" "$2" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 100); do # 20 s
    ours "$pid" "$2" || return 0
    sleep 0.2
  done
  echo "kube: $3 (pid $pid) did not stop on SIGTERM; sending SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
  for i in $(seq 1 25); do ours "$pid" "$2" || return 0; sleep 0.2; done
}

cmd_down() {
  [ $# -eq 1 ] || die "usage: kube.sh down DIR"
  [ -d "$1" ] || { echo "kube: $1 does not exist; nothing to stop"; return 0; }
  local dir; dir=$(cd "$1" && pwd)
  [ -f "$dir/env" ] || { echo "kube: nothing running in $dir"; return 0; }
  local name pid
  for name in KUBE_CONTROLLER_MANAGER KUBE_APISERVER KUBE_ETCD; do
    pid=$(sed -n "s/^${name}_PID=\([0-9]*\)\$/\1/p" "$dir/env")
    [ -n "$pid" ] && stop_pid "$pid" "$dir" "$name"
  done
  echo "kube: stopped the control plane in $dir"
}

case "${1:-}" in
  build) cmd_build ;;
  bindir | path | env) echo "$BINDIR" ;;
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down "$@" ;;
  *) echo "usage: $0 build | bindir | up DIR | down DIR" >&2; exit 2 ;;
esac
