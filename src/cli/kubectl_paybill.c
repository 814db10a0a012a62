/*
 * kubectl_paybill.c - kubectl-paybill, the kubectl plugin (`kubectl paybill
 * ...` once the binary is on PATH).
 *
 *   tenants                         one line per tenant
 *   describe tenant NAME            the tenant, its conditions and what the
 *                                   operator made for it
 *   approve workflow NAME --step S  create the Approval bound to the
 *   reject workflow NAME --step S   Workflow's uid and spec hash
 *   approve tenant NAME --plan H    the Approval of a tenant's cloud plan,
 *   reject tenant NAME --plan H     bound to its uid and plan hash, in the
 *                                   operator's namespace
 *   why workflow NAME               its steps, the decisions and rules
 *   audit verify TENANT             the operator re-hashes the tenant's
 *                                   agent audit chain (asked through an
 *                                   annotation; the answer in its status)
 *
 * It lives in src/cli/, outside the product libraries: it links only
 * src/util and src/kube (the client the operator uses, so kubeconfig,
 * exec plugins and TLS behave the same), never src/controllers, and acts
 * with the user's kubeconfig and RBAC only: a read it may not make is
 * shown as "forbidden", never worked around.
 *
 * Functions return 0 or a negative pb_err code and fill a pb_err; main
 * turns that into a message naming what to do and exit status 1 (2 for
 * usage errors).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "kube/client.h"
#include "kube/config.h"
#include "util/err.h"

#define CLI_USAGE_ERR 2

static const kube_gvr TENANTS = {"paybill.dev", "v1alpha1", "tenants"};
static const kube_gvr WORKFLOWS = {"paybill.dev", "v1alpha1", "workflows"};
static const kube_gvr APPROVALS = {"paybill.dev", "v1alpha1", "approvals"};
static const kube_gvr SUBSCRIPTIONS = {"paybill.dev", "v1alpha1", "subscriptions"};
static const kube_gvr NAMESPACES = {"", "v1", "namespaces"};
static const kube_gvr QUOTAS = {"", "v1", "resourcequotas"};
static const kube_gvr LIMITRANGES = {"", "v1", "limitranges"};
static const kube_gvr SECRETS = {"", "v1", "secrets"};
static const kube_gvr SERVICEACCOUNTS = {"", "v1", "serviceaccounts"};
static const kube_gvr NETPOLS = {"networking.k8s.io", "v1", "networkpolicies"};
static const kube_gvr ROLEBINDINGS = {"rbac.authorization.k8s.io", "v1", "rolebindings"};
static const kube_gvr EVENTS = {"", "v1", "events"};

typedef struct cli {
    kube_config *cfg;
    kube_client *client;
    const char *ns; /* -n, else the kubeconfig context's namespace */
} cli;

/* ---- small JSON helpers (borrowed strings; "" when absent) --------------- */

static const json_t *at(const json_t *v, const char *path)
{
    char key[128];
    while (v && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof key)
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        v = json_object_get(v, key);
        path += n + (dot ? 1 : 0);
    }
    return v;
}

static const char *str(const json_t *v, const char *path)
{
    const char *s = json_string_value(at(v, path));
    return s ? s : "";
}

static const char *or_dash(const char *s) { return s && *s ? s : "-"; }

static const json_t *cond(const json_t *obj, const char *type)
{
    size_t i;
    const json_t *c;
    json_array_foreach(at(obj, "status.conditions"), i, c) {
        if (strcmp(str(c, "type"), type) == 0)
            return c;
    }
    return NULL;
}

/* ---- usage ----------------------------------------------------------------- */

static const char USAGE[] =
    "kubectl paybill - operate Paybill tenants, subscriptions and agent workflows\n"
    "\n"
    "Usage:\n"
    "  kubectl paybill tenants                               one line per tenant\n"
    "  kubectl paybill describe tenant NAME                  a tenant and what the operator made for it\n"
    "  kubectl paybill approve workflow NAME --step STEP [--comment TEXT] [-n NS]\n"
    "  kubectl paybill reject workflow NAME --step STEP [--comment TEXT] [-n NS]\n"
    "  kubectl paybill approve tenant NAME --plan HASH [--comment TEXT] [--system-namespace NS]\n"
    "  kubectl paybill reject tenant NAME --plan HASH [--comment TEXT] [--system-namespace NS]\n"
    "  kubectl paybill why workflow NAME [-n NS]             its steps, decisions and the rules behind them\n"
    "  kubectl paybill audit verify TENANT                   verify the tenant's agent audit chain\n"
    "\n"
    "Global flags: --kubeconfig PATH, --context NAME, -n/--namespace NS, -h/--help\n"
    "(also after a subcommand: `kubectl paybill approve --help`). The plugin uses your\n"
    "kubeconfig ($KUBECONFIG, ~/.kube/config) and your RBAC, never more.\n";

static const char *const SUB_HELP[][2] = {
    {"tenants",
     "kubectl paybill tenants\n"
     "  One line per Tenant: NAME PLAN ISOLATION PHASE DATABASE CLOUD READY USAGE.\n"
     "  ISOLATION is model/compute/data; DATABASE is layout@server; USAGE is the pods\n"
     "  and CPU used against the tenant namespace's ResourceQuota tenant-quota\n"
     "  (\"forbidden\" when your RBAC cannot read it). Needs: list tenants.\n"},
    {"describe",
     "kubectl paybill describe tenant NAME\n"
     "  The tenant's plan, subscription, isolation, database (never its password),\n"
     "  licence and conditions, then each object the operator keeps in\n"
     "  tenant-NAME: present, missing or forbidden (by your RBAC).\n"},
    {"approve",
     "kubectl paybill approve workflow NAME --step STEP [--comment TEXT] [-n NS]\n"
     "  Creates an Approval for step STEP of Workflow NAME, bound to the Workflow's uid\n"
     "  and its paybill.dev/spec-hash annotation, as you (the admission webhook stamps\n"
     "  the approver from your identity; you must be among the approvers of the\n"
     "  AgentPolicy that decided the step, and not the Workflow's submitter).\n"
     "  Needs: get workflows, create approvals in NS.\n"
     "kubectl paybill approve tenant NAME --plan HASH [--comment TEXT] [--system-namespace NS]\n"
     "  Creates an Approval of Tenant NAME's pending cloud plan HASH (its\n"
     "  status.cloud.plan.hash, shown by the CloudReady condition), bound to the\n"
     "  Tenant's uid, in the operator's namespace NS (default paybill-system), as you.\n"
     "  Needs: get tenants, create approvals in NS.\n"},
    {"reject",
     "kubectl paybill reject workflow NAME --step STEP [--comment TEXT] [-n NS]\n"
     "kubectl paybill reject tenant NAME --plan HASH [--comment TEXT] [--system-namespace NS]\n"
     "  As approve, with decision Reject: the step is not run, the plan not applied.\n"},
    {"why",
     "kubectl paybill why workflow NAME [-n NS]\n"
     "  The Workflow's phase, each step with the AgentPolicy that allowed it or the\n"
     "  message of its denial, the step awaiting approval, and the Workflow's Warning\n"
     "  Events. Needs: get workflows (list events to see the Events).\n"},
};

static const char *const AUDIT_HELP =
    "kubectl paybill audit verify TENANT\n"
    "  Asks the operator to re-hash TENANT's agent audit chain (the annotation\n"
    "  paybill.dev/verify-audit on the Tenant), waits up to a minute for its answer in\n"
    "  status.audit and prints it; exit status 1 when the chain is broken. Needs: get\n"
    "  and patch tenants (the chain itself is read by the operator, in the tenant's\n"
    "  database; you need no database credentials).\n";

static const char *sub_help(const char *cmd)
{
    for (size_t i = 0; i < sizeof SUB_HELP / sizeof SUB_HELP[0]; i++)
        if (strcmp(SUB_HELP[i][0], cmd) == 0)
            return SUB_HELP[i][1];
    if (strcmp(cmd, "audit") == 0)
        return AUDIT_HELP;
    return NULL;
}

/* ---- tenants ----------------------------------------------------------------- */

/* "pods 1/10, cpu 100m/2" from the tenant namespace's quota, into buf. */
static void usage_of(cli *c, const char *ns, char *buf, size_t n)
{
    json_t *q = NULL;
    kube_status st = {0};
    kube_request_opts o = {.status = &st};
    pb_err e = {0};
    int rc = kube_get(c->client, &QUOTAS, ns, "tenant-quota", &o, &q, &e);
    if (rc) {
        snprintf(buf, n, "%s", st.code == 403 ? "forbidden" : "-");
        kube_status_clear(&st);
        return;
    }
    kube_status_clear(&st);
    const char *keys[] = {"pods", "requests.cpu", "requests.memory"};
    const char *labels[] = {"pods", "cpu", "mem"};
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < 3 && len < n; i++) {
        const char *used = json_string_value(json_object_get(at(q, "status.used"), keys[i]));
        const char *hard = json_string_value(json_object_get(at(q, "status.hard"), keys[i]));
        if (!hard)
            continue;
        len += (size_t)snprintf(buf + len, n - len, "%s%s %s/%s", len ? "," : "", labels[i],
                                used ? used : "0", hard);
    }
    if (!buf[0])
        snprintf(buf, n, "-");
    json_decref(q);
}

static int cmd_tenants(cli *c, pb_err *err)
{
    json_t *list = NULL;
    kube_request_opts o = {0};
    int rc = kube_list_all(c->client, &TENANTS, NULL, &o, &list, err);
    if (rc)
        return pb_err_wrap(err, "listing tenants");
    printf("%-20s %-12s %-24s %-13s %-28s %-12s %-6s %s\n", "NAME", "PLAN", "ISOLATION", "PHASE",
           "DATABASE", "CLOUD", "READY", "USAGE");
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(list, "items"), i, t) {
        char iso[96], db[160], usage[128];
        const char *model = str(t, "status.isolation.model");
        if (*model)
            snprintf(iso, sizeof iso, "%s/%s/%s", model, or_dash(str(t, "status.isolation.compute")),
                     or_dash(str(t, "status.isolation.data")));
        else
            snprintf(iso, sizeof iso, "-");
        const char *layout = str(t, "status.database.layout");
        if (*layout)
            snprintf(db, sizeof db, "%s@%s", layout, or_dash(str(t, "status.database.server")));
        else
            snprintf(db, sizeof db, "-");
        const json_t *cloud = cond(t, "CloudReady");
        const json_t *ready = cond(t, "Ready");
        const char *ns = str(t, "status.namespace");
        if (*ns)
            usage_of(c, ns, usage, sizeof usage);
        else
            snprintf(usage, sizeof usage, "-");
        printf("%-20s %-12s %-24s %-13s %-28s %-12s %-6s %s\n", str(t, "metadata.name"),
               or_dash(str(t, "status.plan")), iso, or_dash(str(t, "status.phase")), db,
               cloud ? or_dash(str(cloud, "reason")) : "-", ready ? or_dash(str(ready, "status")) : "-",
               usage);
    }
    json_decref(list);
    return 0;
}

/* ---- describe tenant ------------------------------------------------------------ */

static void print_conditions(const json_t *obj)
{
    printf("Conditions:\n  %-20s %-8s %-26s %s\n", "TYPE", "STATUS", "REASON", "MESSAGE");
    size_t i;
    const json_t *c;
    json_array_foreach(at(obj, "status.conditions"), i, c)
        printf("  %-20s %-8s %-26s %s\n", str(c, "type"), str(c, "status"), str(c, "reason"),
               str(c, "message"));
}

/* One line per child: present / missing / forbidden / error. */
static void child(cli *c, const char *what, const kube_gvr *r, const char *ns, const char *name)
{
    json_t *obj = NULL;
    kube_status st = {0};
    kube_request_opts o = {.status = &st};
    pb_err e = {0};
    int rc = kube_get(c->client, r, ns, name, &o, &obj, &e);
    const char *state = rc == 0                ? "present"
                        : rc == PB_ENOTFOUND   ? "MISSING"
                        : st.code == 403       ? "forbidden (your RBAC)"
                                               : pb_err_msg(&e);
    char label[160];
    snprintf(label, sizeof label, "%s %s", what, name);
    printf("  %-44s %s\n", label, state);
    json_decref(obj);
    kube_status_clear(&st);
}

/* Tenant NAME (new reference), with the errors saying what to do. */
static int get_tenant(cli *c, const char *name, json_t **t, pb_err *err)
{
    kube_request_opts o = {0};
    int rc = kube_get(c->client, &TENANTS, NULL, name, &o, t, err);
    if (rc == PB_ENOTFOUND)
        return pb_err_set(err, rc, "tenant \"%s\" not found (kubectl paybill tenants lists them)", name);
    if (rc)
        return pb_err_wrap(err, "reading tenant %s", name);
    return 0;
}

static int cmd_describe_tenant(cli *c, const char *name, pb_err *err)
{
    json_t *t = NULL;
    int rc = get_tenant(c, name, &t, err);
    if (rc)
        return rc;
    printf("Name:           %s\n", name);
    printf("Display name:   %s\n", or_dash(str(t, "spec.displayName")));
    printf("Owner:          %s <%s>\n", or_dash(str(t, "spec.owner.name")), or_dash(str(t, "spec.owner.email")));
    printf("Phase:          %s\n", or_dash(str(t, "status.phase")));
    printf("Plan:           %s (tier %s)\n", or_dash(str(t, "status.plan")), or_dash(str(t, "status.tier")));
    printf("Subscription:   %s", or_dash(str(t, "status.subscription")));
    if (*str(t, "status.subscription")) {
        json_t *s = NULL;
        pb_err e = {0};
        if (kube_get(c->client, &SUBSCRIPTIONS, NULL, str(t, "status.subscription"), NULL, &s, &e) == 0)
            printf(" (state %s)", or_dash(str(s, "status.state")));
        json_decref(s);
    }
    printf("\nIsolation:      model %s, compute %s, data %s\n", or_dash(str(t, "status.isolation.model")),
           or_dash(str(t, "status.isolation.compute")), or_dash(str(t, "status.isolation.data")));
    printf("Suspend:        %s\n", json_is_true(at(t, "spec.suspend")) ? "true" : "false");
    printf("Deletion:       %s\n", or_dash(str(t, "spec.deletionPolicy")));
    printf("Database:       layout %s, server %s, endpoint %s, name %s, schema %s\n",
           or_dash(str(t, "status.database.layout")), or_dash(str(t, "status.database.server")),
           or_dash(str(t, "status.database.endpoint")), or_dash(str(t, "status.database.name")),
           or_dash(str(t, "status.database.schema")));
    printf("                credentials in Secret %s, data model %s v%lld\n",
           or_dash(str(t, "status.database.secretName")), or_dash(str(t, "status.database.dataModel")),
           (long long)json_integer_value(at(t, "status.database.dataModelVersion")));
    if (at(t, "status.licence"))
        printf("Licence:        generation %lld, expires %s (Secret %s)\n",
               (long long)json_integer_value(at(t, "status.licence.generation")),
               or_dash(str(t, "status.licence.expiresAt")), or_dash(str(t, "status.licence.secretName")));
    printf("Generation:     %lld (observed %lld)\n", (long long)json_integer_value(at(t, "metadata.generation")),
           (long long)json_integer_value(at(t, "status.observedGeneration")));
    print_conditions(t);
    const char *ns = str(t, "status.namespace");
    if (!*ns) {
        printf("Objects:        none yet (no namespace in status)\n");
        json_decref(t);
        return 0;
    }
    char nsname[300];
    snprintf(nsname, sizeof nsname, "%s", ns);
    int suspended = strcmp(str(t, "status.phase"), "Suspended") == 0;
    int dedicated = strcmp(str(t, "status.isolation.compute"), "dedicated") == 0;
    json_decref(t);
    printf("Objects in %s:\n", nsname);
    child(c, "Namespace", &NAMESPACES, NULL, nsname);
    child(c, "ResourceQuota", &QUOTAS, nsname, "tenant-quota");
    if (dedicated)
        child(c, "LimitRange", &LIMITRANGES, nsname, "tenant-limits");
    else
        printf("  %-44s %s\n", "LimitRange tenant-limits", "not used (shared compute)");
    child(c, "NetworkPolicy", &NETPOLS, nsname, suspended ? "tenant-suspended" : "tenant-isolation");
    child(c, "ServiceAccount", &SERVICEACCOUNTS, nsname, "paybill-agent");
    child(c, "RoleBinding", &ROLEBINDINGS, nsname, "tenant-admin");
    child(c, "RoleBinding", &ROLEBINDINGS, nsname, "paybill-agent");
    child(c, "RoleBinding", &ROLEBINDINGS, nsname, "paybill-operator");
    child(c, "Secret", &SECRETS, nsname, "tenant-database");
    child(c, "Secret", &SECRETS, nsname, "paybill-licence");
    return 0;
}

/* ---- approve / reject workflow ------------------------------------------------- */

static int find_step(const json_t *wf, const char *step)
{
    size_t i;
    const json_t *s;
    json_array_foreach(at(wf, "spec.steps"), i, s) {
        if (strcmp(str(s, "name"), step) == 0)
            return 1;
    }
    return 0;
}

/* The Workflow NAME of the namespace (new reference), with the errors
 * saying what to do. */
static int get_workflow(cli *c, const char *name, json_t **wf, pb_err *err)
{
    kube_request_opts o = {0};
    int rc = kube_get(c->client, &WORKFLOWS, c->ns, name, &o, wf, err);
    if (rc == PB_ENOTFOUND)
        return pb_err_set(err, rc, "workflow \"%s\" not found in namespace %s (use -n NAMESPACE)", name, c->ns);
    if (rc)
        return pb_err_wrap(err, "reading workflow %s/%s", c->ns, name);
    return 0;
}

static int cmd_decide(cli *c, const char *name, const char *step, const char *decision,
                      const char *comment, pb_err *err)
{
    json_t *wf = NULL;
    int rc = get_workflow(c, name, &wf, err);
    if (rc)
        return rc;
    const char *uid = str(wf, "metadata.uid");
    const char *hash = json_string_value(json_object_get(at(wf, "metadata.annotations"), "paybill.dev/spec-hash"));
    if (!hash || !*hash) {
        json_decref(wf);
        return pb_err_set(err, PB_EINVAL,
                          "workflow %s/%s has no paybill.dev/spec-hash annotation: it was not admitted by "
                          "the operator's webhook (is the operator running?)", c->ns, name);
    }
    if (!find_step(wf, step)) {
        json_decref(wf);
        return pb_err_set(err, PB_EINVAL,
                          "workflow %s/%s has no step \"%s\" (kubectl paybill why workflow %s lists them)",
                          c->ns, name, step, name);
    }
    const char *waiting = str(wf, "status.awaitingApproval.step");
    if (*waiting && strcmp(waiting, step) != 0)
        fprintf(stderr, "note: the workflow is waiting for an approval of step \"%s\", not \"%s\"\n", waiting, step);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%.50s-%.50s-", name, step);
    json_t *ap = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:{s:s, s:s}, s:s, s:s, s:s}}", "apiVersion",
                           "paybill.dev/v1alpha1", "kind", "Approval", "metadata", "generateName", prefix,
                           "namespace", c->ns, "spec", "workflowRef", "name", name, "uid", uid, "specHash",
                           hash, "step", step, "decision", decision);
    json_decref(wf);
    if (!ap)
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    if (comment)
        json_object_set_new(json_object_get(ap, "spec"), "comment", json_string(comment));
    json_t *out = NULL;
    kube_request_opts co = {.field_manager = "kubectl-paybill"};
    rc = kube_create(c->client, &APPROVALS, c->ns, ap, &co, &out, err);
    json_decref(ap);
    if (rc) {
        json_decref(out);
        return pb_err_wrap(err, "creating the Approval");
    }
    printf("approval.paybill.dev/%s created: %s step \"%s\" of workflow %s/%s as %s\n",
           str(out, "metadata.name"), strcmp(decision, "Approve") == 0 ? "approved" : "rejected", step, c->ns,
           name, or_dash(str(out, "spec.approver.username")));
    json_decref(out);
    return 0;
}

/* ---- approve / reject a tenant's cloud plan -------------------------------------- */

static int cmd_decide_plan(cli *c, const char *name, const char *hash, const char *decision, const char *comment,
                           const char *sys_ns, pb_err *err)
{
    json_t *t = NULL;
    int rc = get_tenant(c, name, &t, err);
    if (rc)
        return rc;
    const char *pending = str(t, "status.cloud.plan.hash");
    if (!*pending || strcmp(pending, hash) != 0) {
        rc = pb_err_set(err, PB_EINVAL,
                        "tenant %s has %s%s: kubectl paybill describe tenant %s shows its CloudReady condition", name,
                        *pending ? "another plan pending: " : "no cloud plan pending", pending, name);
        json_decref(t);
        return rc;
    }
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%.50s-plan-", name);
    json_t *ap = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:{s:s, s:s}, s:s, s:s}}", "apiVersion",
                           "paybill.dev/v1alpha1", "kind", "Approval", "metadata", "generateName", prefix,
                           "namespace", sys_ns, "spec", "tenantRef", "name", name, "uid", str(t, "metadata.uid"),
                           "planHash", hash, "decision", decision);
    json_decref(t);
    if (!ap)
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    if (comment)
        json_object_set_new(json_object_get(ap, "spec"), "comment", json_string(comment));
    json_t *out = NULL;
    kube_request_opts co = {.field_manager = "kubectl-paybill"};
    rc = kube_create(c->client, &APPROVALS, sys_ns, ap, &co, &out, err);
    json_decref(ap);
    if (rc) {
        json_decref(out);
        return pb_err_wrap(err, "creating the Approval in namespace %s", sys_ns);
    }
    printf("approval.paybill.dev/%s created in %s: %s cloud plan %.16s of tenant %s as %s\n",
           str(out, "metadata.name"), sys_ns, strcmp(decision, "Approve") == 0 ? "approved" : "rejected", hash, name,
           or_dash(str(out, "spec.approver.username")));
    json_decref(out);
    return 0;
}

/* ---- audit verify ---------------------------------------------------------------- */

static int cmd_audit_verify(cli *c, const char *tenant, pb_err *err)
{
    char token[64];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(token, sizeof token, "%lld.%09ld", (long long)now.tv_sec, now.tv_nsec);
    json_t *patch = json_pack("{s:{s:{s:s}}}", "metadata", "annotations", "paybill.dev/verify-audit", token);
    json_t *out = NULL;
    int rc = patch ? kube_patch(c->client, &TENANTS, NULL, tenant, KUBE_PATCH_MERGE, patch, NULL, &out, err)
                   : pb_err_set(err, PB_ENOMEM, "out of memory");
    json_decref(patch);
    json_decref(out);
    if (rc)
        return pb_err_wrap(err, "asking for the verification (patch tenant %s)", tenant);
    for (int i = 0; i < 120; i++) {
        json_t *t = NULL;
        if ((rc = kube_get(c->client, &TENANTS, NULL, tenant, NULL, &t, err)))
            return pb_err_wrap(err, "reading tenant %s", tenant);
        const json_t *a = at(t, "status.audit");
        const char *got = json_string_value(json_object_get(a, "token"));
        if (got && strcmp(got, token) == 0) {
            int intact = json_is_true(json_object_get(a, "intact"));
            printf("tenant %s: audit chain %s: %lld records; %s\n", tenant, intact ? "intact" : "BROKEN",
                   (long long)json_integer_value(json_object_get(a, "records")),
                   json_string_value(json_object_get(a, "message")) ? json_string_value(json_object_get(a, "message"))
                                                                     : "");
            json_decref(t);
            return intact ? 0 : pb_err_set(err, PB_ECONFLICT, "the audit chain of tenant %s is broken", tenant);
        }
        json_decref(t);
        struct timespec d = {0, 500000000};
        nanosleep(&d, NULL);
    }
    return pb_err_set(err, PB_ETIMEOUT,
                      "the operator did not answer within a minute: is it running, and is tenant %s provisioned?",
                      tenant);
}

/* ---- why workflow --------------------------------------------------------------- */

static int cmd_why(cli *c, const char *name, pb_err *err)
{
    json_t *wf = NULL;
    int rc = get_workflow(c, name, &wf, err);
    if (rc)
        return rc;
    printf("Workflow:   %s/%s\n", c->ns, name);
    printf("Submitter:  %s\n", or_dash(str(wf, "spec.submitter.username")));
    printf("Phase:      %s (%s steps done)\n", or_dash(str(wf, "status.phase")), or_dash(str(wf, "status.progress")));
    printf("Spec hash:  %s\n",
           or_dash(json_string_value(json_object_get(at(wf, "metadata.annotations"), "paybill.dev/spec-hash"))));
    if (*str(wf, "status.awaitingApproval.step"))
        printf("Waiting:    step \"%s\" needs an Approval: kubectl paybill approve workflow %s --step %s -n %s\n",
               str(wf, "status.awaitingApproval.step"), name, str(wf, "status.awaitingApproval.step"), c->ns);
    printf("Steps:\n  %-20s %-10s %-10s %-24s %s\n", "NAME", "OPERATION", "PHASE", "POLICY", "MESSAGE");
    size_t i;
    const json_t *s;
    json_array_foreach(at(wf, "spec.steps"), i, s) {
        const json_t *st = NULL, *x;
        size_t j;
        json_array_foreach(at(wf, "status.steps"), j, x) {
            if (strcmp(str(x, "name"), str(s, "name")) == 0)
                st = x;
        }
        printf("  %-20s %-10s %-10s %-24s %s\n", str(s, "name"), or_dash(str(s, "operation")),
               st ? or_dash(str(st, "phase")) : "-", st ? or_dash(str(st, "policy")) : "-",
               st ? str(st, "message") : "");
    }
    print_conditions(wf);
    /* The denials the operator recorded as Events (kubectl describe's view). */
    char sel[512];
    snprintf(sel, sizeof sel, "involvedObject.kind=Workflow,involvedObject.name=%s", name);
    kube_status est = {0};
    kube_request_opts eo = {.field_selector = sel, .status = &est};
    json_t *ev = NULL;
    pb_err e = {0};
    if (kube_list(c->client, &EVENTS, c->ns, &eo, &ev, &e) == 0) {
        printf("Events:\n");
        json_array_foreach(json_object_get(ev, "items"), i, s)
            printf("  %-8s %-24s %s\n", str(s, "type"), str(s, "reason"), str(s, "message"));
    } else {
        printf("Events:     %s\n", est.code == 403 ? "forbidden (your RBAC cannot list events)" : pb_err_msg(&e));
    }
    kube_status_clear(&est);
    json_decref(ev);
    json_decref(wf);
    return 0;
}

/* ---- main -------------------------------------------------------------------------- */

static int connect(cli *c, const char *kubeconfig, const char *context, pb_err *err)
{
    kube_config_options co = {.kubeconfig = kubeconfig, .context = context};
    int rc = kube_config_load(&co, &c->cfg, err);
    if (rc)
        return pb_err_wrap(err, "loading the kubeconfig (set KUBECONFIG or --kubeconfig)");
    kube_client_options ko = {.user_agent = "kubectl-paybill/" PAYBILL_VERSION, .timeout_ms = 30000,
                              .max_retries = 2};
    if ((rc = kube_client_new(c->cfg, &ko, &c->client, err)))
        return pb_err_wrap(err, "connecting to %s", kube_config_server(c->cfg));
    if (!c->ns)
        c->ns = kube_config_namespace(c->cfg);
    return 0;
}

int main(int argc, char **argv)
{
    const char *kubeconfig = NULL, *context = NULL, *step = NULL, *comment = NULL, *plan = NULL;
    const char *sys_ns = "paybill-system";
    cli c = {0};
    int help = 0;
    static const struct option longopts[] = {
        {"kubeconfig", required_argument, NULL, 'k'}, {"context", required_argument, NULL, 'c'},
        {"namespace", required_argument, NULL, 'n'}, {"step", required_argument, NULL, 's'},
        {"comment", required_argument, NULL, 'm'},   {"help", no_argument, NULL, 'h'},
        {"plan", required_argument, NULL, 'p'},      {"system-namespace", required_argument, NULL, 'S'},
        {NULL, 0, NULL, 0}};
    int ch;
    /* Flags may come before or after the subcommand's words: gather the
     * words, parse the flags between them. */
    char *pos[4];
    int npos = 0;
    while (optind < argc) {
        if (argv[optind][0] != '-') {
            if (npos == 4) {
                fprintf(stderr, "error: too many arguments\n%s", USAGE);
                return CLI_USAGE_ERR;
            }
            pos[npos++] = argv[optind++];
            continue;
        }
        ch = getopt_long(argc, argv, "+n:h", longopts, NULL);
        if (ch == -1)
            break;
        switch (ch) {
        case 'k': kubeconfig = optarg; break;
        case 'c': context = optarg; break;
        case 'n': c.ns = optarg; break;
        case 's': step = optarg; break;
        case 'm': comment = optarg; break;
        case 'h': help = 1; break;
        case 'p': plan = optarg; break;
        case 'S': sys_ns = optarg; break;
        default: fputs(USAGE, stderr); return CLI_USAGE_ERR;
        }
    }
    const char *cmd = npos ? pos[0] : NULL;
    if (help || !cmd) {
        const char *h = cmd ? sub_help(cmd) : NULL;
        fputs(h ? h : USAGE, help ? stdout : stderr);
        return help ? 0 : CLI_USAGE_ERR;
    }
    if (!sub_help(cmd)) {
        fprintf(stderr, "error: unknown command \"%s\"\n\n%s", cmd, USAGE);
        return CLI_USAGE_ERR;
    }
    int is_decide = strcmp(cmd, "approve") == 0 || strcmp(cmd, "reject") == 0;
    if (strcmp(cmd, "audit") == 0 ? npos != 3 || strcmp(pos[1], "verify") != 0
        : strcmp(cmd, "tenants") == 0 ? npos != 1
        : strcmp(cmd, "describe") == 0 ? npos != 3 || strcmp(pos[1], "tenant") != 0
        : is_decide ? npos != 3 || (strcmp(pos[1], "workflow") != 0 && strcmp(pos[1], "tenant") != 0)
        : npos != 3 || strcmp(pos[1], "workflow") != 0) {
        fprintf(stderr, "error: wrong arguments for \"%s\"\n\n", cmd);
        fputs(sub_help(cmd), stderr);
        return CLI_USAGE_ERR;
    }
    int on_tenant = is_decide && strcmp(pos[1], "tenant") == 0;
    if (on_tenant && (!plan || strlen(plan) != 64 || strspn(plan, "0123456789abcdef") != 64)) {
        fprintf(stderr, "error: %s tenant needs --plan HASH (64 hex digits: the tenant's status.cloud.plan.hash)\n\n%s",
                cmd, sub_help(cmd));
        return CLI_USAGE_ERR;
    }
    if (is_decide && !on_tenant && !step) {
        fprintf(stderr, "error: %s workflow needs --step STEP (the step's name in the Workflow's spec)\n\n%s", cmd,
                sub_help(cmd));
        return CLI_USAGE_ERR;
    }
    pb_err err = {0};
    int rc = connect(&c, kubeconfig, context, &err);
    if (rc == 0) {
        if (strcmp(cmd, "tenants") == 0)
            rc = cmd_tenants(&c, &err);
        else if (strcmp(cmd, "describe") == 0)
            rc = cmd_describe_tenant(&c, pos[2], &err);
        else if (strcmp(cmd, "audit") == 0)
            rc = cmd_audit_verify(&c, pos[2], &err);
        else if (on_tenant)
            rc = cmd_decide_plan(&c, pos[2], plan, strcmp(cmd, "approve") == 0 ? "Approve" : "Reject", comment,
                                 sys_ns, &err);
        else if (is_decide)
            rc = cmd_decide(&c, pos[2], step, strcmp(cmd, "approve") == 0 ? "Approve" : "Reject", comment, &err);
        else
            rc = cmd_why(&c, pos[2], &err);
    }
    if (rc) {
        fprintf(stderr, "error: %s\n", pb_err_msg(&err));
        if (rc == PB_EFORBIDDEN)
            fprintf(stderr, "hint: your RBAC does not allow this; ask a cluster admin for the verb named above\n");
    }
    kube_client_free(c.client);
    kube_config_free(c.cfg);
    return rc ? 1 : 0;
}
