# hack/lib/gocache.sh - binaries built from pinned Go modules into a cache
# folder, shared by hack/kube.sh and hack/tofu.sh (source it).
#
#   gocache_build TAG BINDIR DESCRIPTION
#     Needs the caller's functions `built` (true when BINDIR holds a build
#     whose .stamp matches `stamp_text`), `stamp_text` and `build_all`
#     (builds everything into BINDIR). Reuses a build that is there; else
#     takes a lock (parallel test scripts may build at once), checks again,
#     builds and writes the stamp last, so an interrupted build is redone.

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

gocache_build() {
  local tag=$1 bindir=$2 what=$3 t0
  t0=$(now)
  if built; then
    echo "$tag: $what present in $bindir ($(since "$t0") s)"
    return 0
  fi
  command -v go >/dev/null 2>&1 || { echo "$tag: go not found on PATH (Go >= 1.26 is needed to build $what)" >&2; exit 1; }
  mkdir -p "$bindir"
  exec 9>"$bindir/.lock"
  flock 9
  if built; then
    exec 9>&-
    echo "$tag: $what present in $bindir (built by another process; $(since "$t0") s)"
    return 0
  fi
  rm -f "$bindir/.stamp"
  build_all
  stamp_text >"$bindir/.stamp"
  exec 9>&-
  echo "$tag: built $what into $bindir in $(since "$t0") s"
}
