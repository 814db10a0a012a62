#!/usr/bin/env bash
# The cloud module library (modules/, see modules/README.md), checked with
# the real tofu and no API server:
#   - every module passes `tofu fmt -check`;
#   - every module declares the interface the operator's root module calls:
#     the variables tenant, tier, region, labels, server, marker and the
#     outputs `outputs` and `sensitive_outputs` (sensitive);
#   - `local` initialises offline from the provider mirror, validates, and
#     plans (with and without `server`);
#   - the five cloud modules cannot be initialised here (no registry, and
#     their providers cannot be built from the Go module proxy): each says
#     so with a SKIP line naming the provider tofu could not install.
. "$(dirname "$0")/stack_env.sh"

TOFU=$("$STACK_ROOT/hack/tofu.sh" bindir)/tofu
[ -x "$TOFU" ] || fail "tofu is not built (hack/tofu.sh build)"
"$STACK_ROOT/hack/providers.sh" build >/dev/null || fail "providers not built (hack/providers.sh build)"
"$STACK_ROOT/hack/providers.sh" tfrc >"$T/tofu.tfrc"
export TF_CLI_CONFIG_FILE=$T/tofu.tfrc TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1 HTTPS_PROXY=http://127.0.0.1:9
M=$STACK_ROOT/modules
MODULES="aws azure gcp oci ibm local"

# interface DIR: the variables and outputs every module must declare, from
# the HCL (blocks at the top level of any .tf file of the module).
interface() {
  python3 - "$1" <<'PY'
import glob, re, sys
text = "".join(open(f).read() for f in sorted(glob.glob(sys.argv[1] + "/*.tf")))
want_vars = ["tenant", "tier", "region", "labels", "server", "marker"]
problems = []
for v in want_vars:
    if not re.search(r'^variable "%s" \{' % v, text, re.M):
        problems.append("no variable " + v)
for o in ["outputs", "sensitive_outputs"]:
    m = re.search(r'^output "%s" \{(.*?)^\}' % o, text, re.M | re.S)
    if not m:
        problems.append("no output " + o)
    elif o == "sensitive_outputs" and not re.search(r'^\s*sensitive\s*=\s*true\s*$', m.group(1), re.M):
        problems.append("output sensitive_outputs is not sensitive")
m = re.search(r'^variable "server" \{(.*?)^\}', text, re.M | re.S)
if m and not re.search(r'type\s*=\s*bool', m.group(1)):
    problems.append("variable server is not a bool")
print("; ".join(problems))
PY
}

for m in $MODULES; do
  [ -d "$M/$m" ] || fail "module $m is missing"
  out=$("$TOFU" fmt -check -diff "$M/$m" 2>&1) || fail "tofu fmt -check $m: $out"
  ok "$m: tofu fmt -check"
  expect_eq "$m: the interface (6 variables, 2 outputs)" "" "$(interface "$M/$m")"
done

# The check can fail: a module without sensitive_outputs, or with it not sensitive.
mkdir -p "$T/broken"
cp "$M/local/"*.tf "$T/broken/"
sed -i 's/^  sensitive = true$/  sensitive = false/' "$T/broken/main.tf"
expect_eq "the interface check catches a non-sensitive sensitive_outputs" \
  "output sensitive_outputs is not sensitive" "$(interface "$T/broken")"
sed -i 's/^output "sensitive_outputs"/output "secrets"/' "$T/broken/main.tf"
expect_match "... and a missing output" "no output sensitive_outputs" "$(interface "$T/broken")"

# local: init offline, validate, plan.
cp -r "$M/local" "$T/local"
(cd "$T/local" && "$TOFU" init -backend=false -input=false -no-color >"$T/local-init.log" 2>&1) \
  || fail "tofu init (local, offline): $(tail -20 "$T/local-init.log")"
ok "local: tofu init offline from the mirror"
out=$(cd "$T/local" && "$TOFU" validate -no-color 2>&1) || fail "tofu validate (local): $out"
ok "local: tofu validate"
for server in false true; do
  out=$(cd "$T/local" && "$TOFU" plan -input=false -no-color -var tenant=t1 -var "base_dir=$T/base" \
    -var "server=$server" -var "pg_lib=$STACK_ROOT/hack/lib/postgres.sh" 2>&1) || fail "tofu plan (local, server=$server): $out"
  expect_match "local: a plan with server=$server" "Plan: [0-9]+ to add, 0 to change, 0 to destroy" "$out"
done
out=$(cd "$T/local" && "$TOFU" plan -input=false -no-color -var tenant=t1 -var "base_dir=$T/base" -var server=true 2>&1) \
  && fail "local: server without pg_lib planned"
expect_match "local: server without pg_lib is refused" "needs pg_lib" "$out"
out=$(cd "$T/local" && "$TOFU" plan -input=false -no-color -var tenant=Bad_Name -var "base_dir=$T/base" 2>&1) \
  && fail "local: a tenant name that is not a DNS label planned"
expect_match "local: a bad tenant name is refused" "tenant must be a DNS label" "$out"

# The cloud modules: their providers cannot be installed here.
for m in aws azure gcp oci ibm; do
  cp -r "$M/$m" "$T/$m"
  if (cd "$T/$m" && "$TOFU" init -backend=false -input=false -no-color >"$T/$m-init.log" 2>&1); then
    out=$(cd "$T/$m" && "$TOFU" validate -no-color 2>&1) || fail "tofu validate ($m): $out"
    ok "$m: tofu validate"
  else
    grep -q "Failed to query available provider packages\|could not find\|provider registry\|does not have a package" "$T/$m-init.log" \
      || fail "$m: tofu init failed for another reason: $(tail -15 "$T/$m-init.log")"
    echo "SKIP - $m: tofu validate and plan: its providers cannot be installed offline ($(grep -o 'hashicorp/[a-z]*\|oracle/oci\|ibm-cloud/ibm\|IBM-Cloud/ibm' "$T/$m-init.log" | sort -u | tr '\n' ' '| sed 's/ $//'); see modules/README.md)"
  fi
done
echo "PASS: $TEST_NAME"
