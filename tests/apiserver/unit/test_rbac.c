/* Unit tests for devapi rbac.c: the RBAC decision matrix (Role vs
 * ClusterRole, binding scopes, subjects, subresources, resourceNames,
 * non-resource URLs, aggregation, system:masters) with the real 403
 * messages, access reviews, rules reviews, label selectors and the
 * bootstrap policy. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "fakestore.h"

#define RBAC "rbac.authorization.k8s.io"

/* Shorthands for the fixtures below. */
static void cluster_role(json_t *s, const char *name, const char *rules)
{
    char buf[2048];
    snprintf(buf, sizeof buf, "{\"metadata\":{\"name\":\"%s\"},\"rules\":%s}", name, rules);
    add_obj(s, RBAC, "clusterroles", buf);
}

static void role(json_t *s, const char *ns, const char *name, const char *rules)
{
    char buf[2048];
    snprintf(buf, sizeof buf, "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\"},\"rules\":%s}",
             name, ns, rules);
    add_obj(s, RBAC, "roles", buf);
}

static void binding(json_t *s, const char *ns, const char *name, const char *kind,
                    const char *role_name, const char *subjects)
{
    char buf[2048];
    if (ns)
        snprintf(buf, sizeof buf,
                 "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\"},\"roleRef\":{\"apiGroup\":"
                 "\"" RBAC "\",\"kind\":\"%s\",\"name\":\"%s\"},\"subjects\":%s}",
                 name, ns, kind, role_name, subjects);
    else
        snprintf(buf, sizeof buf,
                 "{\"metadata\":{\"name\":\"%s\"},\"roleRef\":{\"apiGroup\":\"" RBAC "\",\"kind\":"
                 "\"%s\",\"name\":\"%s\"},\"subjects\":%s}",
                 name, kind, role_name, subjects);
    add_obj(s, RBAC, ns ? "rolebindings" : "clusterrolebindings", buf);
}

static json_t *fixture(void)
{
    json_t *s = json_object();
    cluster_role(s, "tenant-reader",
                 "[{\"apiGroups\":[\"paybill.dev\"],\"resources\":[\"tenants\"],\"verbs\":[\"get\",\"list\",\"watch\"]}]");
    cluster_role(s, "tenant-status",
                 "[{\"apiGroups\":[\"paybill.dev\"],\"resources\":[\"tenants/status\"],\"verbs\":[\"patch\",\"update\"]}]");
    cluster_role(s, "any-status", "[{\"apiGroups\":[\"*\"],\"resources\":[\"*/status\"],\"verbs\":[\"get\"]}]");
    cluster_role(s, "metrics",
                 "[{\"nonResourceURLs\":[\"/metrics\",\"/logs/*\"],\"verbs\":[\"get\"]}]");
    role(s, "ns1", "pod-editor", "[{\"apiGroups\":[\"\"],\"resources\":[\"pods\"],\"verbs\":[\"*\"]}]");
    role(s, "ns1", "one-configmap",
         "[{\"apiGroups\":[\"\"],\"resources\":[\"configmaps\"],\"verbs\":[\"get\",\"update\",\"list\",\"create\"],"
         "\"resourceNames\":[\"cm1\"]}]");
    role(s, "ns2", "pod-editor", "[{\"apiGroups\":[\"\"],\"resources\":[\"pods\"],\"verbs\":[\"get\"]}]");

    binding(s, NULL, "carol-reads", "ClusterRole", "tenant-reader", "[{\"kind\":\"User\",\"name\":\"carol\"}]");
    binding(s, NULL, "auditors-metrics", "ClusterRole", "metrics", "[{\"kind\":\"Group\",\"name\":\"auditors\"}]");
    binding(s, NULL, "ctrl-status", "ClusterRole", "tenant-status",
            "[{\"kind\":\"ServiceAccount\",\"name\":\"ctrl\",\"namespace\":\"paybill-system\"}]");
    /* an SA subject without namespace in a ClusterRoleBinding applies to nobody */
    binding(s, NULL, "broken-sa", "ClusterRole", "any-status", "[{\"kind\":\"ServiceAccount\",\"name\":\"ctrl\"}]");
    binding(s, "ns1", "bob-pods", "Role", "pod-editor",
            "[{\"kind\":\"User\",\"name\":\"someone\"},{\"kind\":\"User\",\"name\":\"bob\"}]");
    binding(s, "ns1", "bob-tenants", "ClusterRole", "tenant-reader", "[{\"kind\":\"User\",\"name\":\"bob\"}]");
    binding(s, "ns1", "app-cm", "Role", "one-configmap", "[{\"kind\":\"ServiceAccount\",\"name\":\"app\"}]");
    binding(s, "ns3", "bob-dangling", "Role", "missing", "[{\"kind\":\"User\",\"name\":\"bob\"}]");
    binding(s, "ns3", "bob-dangling-cr", "ClusterRole", "gone", "[{\"kind\":\"User\",\"name\":\"bob\"}]");
    binding(s, "ns3", "other-dangling", "Role", "nope", "[{\"kind\":\"User\",\"name\":\"zed\"}]");
    return s;
}

typedef struct fx {
    json_t *store;
    dv_auth *a;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    f->store = fixture();
    if (dv_auth_new(NULL, (const unsigned char *)"k", 1, fake_list, f->store, &f->a, NULL, 0) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    dv_auth_free(f->a);
    json_decref(f->store);
    free(f);
    return 0;
}

static void mkuser(dv_user *u, const char *name, const char *group)
{
    const char *g[] = {group, NULL};
    assert_int_equal(dv_user_set(u, name, "", group ? g : NULL), 0);
}

/* Check one decision and, when denied, the exact message (NULL: skip). */
static void expect(dv_auth *a, const char *user, const char *group, dv_attributes at, int want,
                   const char *want_msg)
{
    dv_user u = {0};
    mkuser(&u, user, group);
    char msg[1024] = "";
    int got = dv_authorize(a, &u, &at, msg, sizeof msg);
    if (got != want)
        fail_msg("%s %s %s/%s ns=%s name=%s: got %d want %d (%s)", user, at.verb,
                 at.resource ? at.resource : at.path, at.subresource ? at.subresource : "",
                 at.ns ? at.ns : "", at.name ? at.name : "", got, want, msg);
    if (!want && want_msg && strcmp(msg, want_msg) != 0)
        fail_msg("message:\n got  %s\n want %s", msg, want_msg);
    dv_user_clear(&u);
}

#define RES(v, g, r, sub, n, nsp) ((dv_attributes){.verb = v, .group = g, .resource = r, .subresource = sub, .name = n, .ns = nsp})
#define PATH(v, p) ((dv_attributes){.verb = v, .path = p})

static void test_binding_scopes(void **state)
{
    dv_auth *a = ((fx *)*state)->a;
    /* ClusterRoleBinding: everywhere, including cluster scope */
    expect(a, "carol", NULL, RES("list", "paybill.dev", "tenants", NULL, NULL, "ns1"), 1, NULL);
    expect(a, "carol", NULL, RES("list", "paybill.dev", "tenants", NULL, NULL, NULL), 1, NULL);
    expect(a, "carol", NULL, RES("get", "paybill.dev", "tenants", NULL, "acme", "anywhere"), 1, NULL);
    expect(a, "carol", NULL, RES("delete", "paybill.dev", "tenants", NULL, "acme", "ns1"), 0,
           "tenants.paybill.dev \"acme\" is forbidden: User \"carol\" cannot delete resource "
           "\"tenants\" in API group \"paybill.dev\" in the namespace \"ns1\"");
    /* RoleBinding to a ClusterRole: only in its namespace */
    expect(a, "bob", NULL, RES("list", "paybill.dev", "tenants", NULL, NULL, "ns1"), 1, NULL);
    expect(a, "bob", NULL, RES("list", "paybill.dev", "tenants", NULL, NULL, "ns2"), 0,
           "tenants.paybill.dev is forbidden: User \"bob\" cannot list resource \"tenants\" in "
           "API group \"paybill.dev\" in the namespace \"ns2\"");
    expect(a, "bob", NULL, RES("list", "paybill.dev", "tenants", NULL, NULL, NULL), 0,
           "tenants.paybill.dev is forbidden: User \"bob\" cannot list resource \"tenants\" in "
           "API group \"paybill.dev\" at the cluster scope");
    /* Role: its namespace only; the second subject of a binding counts */
    expect(a, "bob", NULL, RES("delete", "", "pods", NULL, "p", "ns1"), 1, NULL);
    expect(a, "bob", NULL, RES("get", "", "pods", NULL, "p", "ns2"), 0,
           "pods \"p\" is forbidden: User \"bob\" cannot get resource \"pods\" in API group \"\" "
           "in the namespace \"ns2\"");
    expect(a, "bob", NULL, RES("create", "apps", "deployments", NULL, NULL, "ns1"), 0,
           "deployments.apps is forbidden: User \"bob\" cannot create resource \"deployments\" in "
           "API group \"apps\" in the namespace \"ns1\"");
    /* user names are exact, groups are matched */
    expect(a, "Bob", NULL, RES("get", "", "pods", NULL, "p", "ns1"), 0, NULL);
    expect(a, "x", "auditors", PATH("get", "/metrics"), 1, NULL);
}

static void test_subresources(void **state)
{
    dv_auth *a = ((fx *)*state)->a;
    const char *ctrl = "system:serviceaccount:paybill-system:ctrl";
    expect(a, ctrl, NULL, RES("patch", "paybill.dev", "tenants", "status", "acme", "t1"), 1, NULL);
    expect(a, ctrl, NULL, RES("patch", "paybill.dev", "tenants", NULL, "acme", "t1"), 0,
           "tenants.paybill.dev \"acme\" is forbidden: User "
           "\"system:serviceaccount:paybill-system:ctrl\" cannot patch resource \"tenants\" in API "
           "group \"paybill.dev\" in the namespace \"t1\"");
    /* "tenants" does not grant "tenants/status" */
    expect(a, "carol", NULL, RES("get", "paybill.dev", "tenants", "status", "acme", "t1"), 0,
           "tenants.paybill.dev \"acme\" is forbidden: User \"carol\" cannot get resource "
           "\"tenants/status\" in API group \"paybill.dev\" in the namespace \"t1\"");
    /* wrong namespace of the SA subject, and SA subject without namespace */
    expect(a, "system:serviceaccount:other:ctrl", NULL,
           RES("patch", "paybill.dev", "tenants", "status", "acme", "t1"), 0, NULL);
    expect(a, "system:serviceaccount::ctrl", NULL, RES("get", "", "pods", "status", "p", "ns1"), 0, NULL);
}

static void test_star_subresource(void **state)
{
    fx *f = *state;
    binding(f->store, NULL, "dave-status", "ClusterRole", "any-status", "[{\"kind\":\"User\",\"name\":\"dave\"}]");
    expect(f->a, "dave", NULL, RES("get", "apps", "deployments", "status", "d", "ns1"), 1, NULL);
    expect(f->a, "dave", NULL, RES("get", "paybill.dev", "tenants", "status", "t", NULL), 1, NULL);
    expect(f->a, "dave", NULL, RES("get", "apps", "deployments", "scale", "d", "ns1"), 0, NULL);
    expect(f->a, "dave", NULL, RES("get", "apps", "deployments", NULL, "d", "ns1"), 0, NULL);
    expect(f->a, "dave", NULL, RES("update", "apps", "deployments", "status", "d", "ns1"), 0, NULL);
}

static void test_resource_names(void **state)
{
    dv_auth *a = ((fx *)*state)->a;
    const char *app = "system:serviceaccount:ns1:app"; /* SA subject defaults to binding ns */
    expect(a, app, NULL, RES("get", "", "configmaps", NULL, "cm1", "ns1"), 1, NULL);
    expect(a, app, NULL, RES("update", "", "configmaps", NULL, "cm1", "ns1"), 1, NULL);
    expect(a, app, NULL, RES("get", "", "configmaps", NULL, "cm2", "ns1"), 0,
           "configmaps \"cm2\" is forbidden: User \"system:serviceaccount:ns1:app\" cannot get "
           "resource \"configmaps\" in API group \"\" in the namespace \"ns1\"");
    /* list and create carry no name: resourceNames rules never match them */
    expect(a, app, NULL, RES("list", "", "configmaps", NULL, NULL, "ns1"), 0,
           "configmaps is forbidden: User \"system:serviceaccount:ns1:app\" cannot list resource "
           "\"configmaps\" in API group \"\" in the namespace \"ns1\"");
    expect(a, app, NULL, RES("create", "", "configmaps", NULL, NULL, "ns1"), 0, NULL);
    expect(a, "system:serviceaccount:ns2:app", NULL, RES("get", "", "configmaps", NULL, "cm1", "ns1"), 0, NULL);
}

static void test_non_resource(void **state)
{
    dv_auth *a = ((fx *)*state)->a;
    expect(a, "x", "auditors", PATH("get", "/logs/kube.log"), 1, NULL);
    expect(a, "x", "auditors", PATH("get", "/logs/"), 1, NULL);
    expect(a, "x", "auditors", PATH("get", "/logs"), 0, NULL);
    expect(a, "x", "auditors", PATH("get", "/metrics/extra"), 0, NULL);
    expect(a, "x", "auditors", PATH("post", "/metrics"), 0,
           "forbidden: User \"x\" cannot post path \"/metrics\"");
    expect(a, "bob", NULL, PATH("get", "/metrics"), 0, "forbidden: User \"bob\" cannot get path \"/metrics\"");
    expect(a, "<b>&co", NULL, PATH("get", "/x?a=<1>"), 0,
           "forbidden: User \"&lt;b&gt;&amp;co\" cannot get path \"/x?a=&lt;1&gt;\"");
}

static void test_masters_and_reasons(void **state)
{
    dv_auth *a = ((fx *)*state)->a;
    expect(a, "root", "system:masters", RES("deletecollection", "x.io", "things", NULL, NULL, NULL), 1, NULL);
    expect(a, "root", "system:masters", PATH("get", "/anything"), 1, NULL);
    /* dangling bindings that apply to the user are named; others are not */
    expect(a, "bob", NULL, RES("get", "", "secrets", NULL, "s", "ns3"), 0,
           "secrets \"s\" is forbidden: User \"bob\" cannot get resource \"secrets\" in API group "
           "\"\" in the namespace \"ns3\": RBAC: [role.rbac.authorization.k8s.io \"missing\" not "
           "found, clusterrole.rbac.authorization.k8s.io \"gone\" not found]");
    expect(a, "zed", NULL, RES("get", "", "secrets", NULL, "s", "ns3"), 0,
           "secrets \"s\" is forbidden: User \"zed\" cannot get resource \"secrets\" in API group "
           "\"\" in the namespace \"ns3\": RBAC: role.rbac.authorization.k8s.io \"nope\" not found");
    /* a NULL msg is fine */
    dv_user u = {0};
    mkuser(&u, "nobody", NULL);
    dv_attributes at = RES("get", "", "pods", NULL, NULL, "ns1");
    assert_int_equal(dv_authorize(a, &u, &at, NULL, 0), 0);
    dv_user_clear(&u);
}

static void test_wildcards(void **state)
{
    fx *f = *state;
    role(f->store, "w", "all", "[{\"apiGroups\":[\"*\"],\"resources\":[\"*\"],\"verbs\":[\"*\"]}]");
    role(f->store, "w", "verbs-only-get", "[{\"apiGroups\":[\"apps\"],\"resources\":[\"*\"],\"verbs\":[\"get\"]}]");
    binding(f->store, "w", "erin-all", "Role", "all", "[{\"kind\":\"User\",\"name\":\"erin\"}]");
    binding(f->store, "w", "frank-apps", "Role", "verbs-only-get", "[{\"kind\":\"Group\",\"name\":\"devs\"}]");
    expect(f->a, "erin", NULL, RES("escalate", "rbac.authorization.k8s.io", "roles", NULL, "r", "w"), 1, NULL);
    expect(f->a, "erin", NULL, RES("get", "", "pods", "log", "p", "w"), 1, NULL);
    expect(f->a, "erin", NULL, RES("get", "", "pods", NULL, "p", "other"), 0, NULL);
    expect(f->a, "frank", "devs", RES("get", "apps", "deployments", NULL, "d", "w"), 1, NULL);
    /* "*" resources matches subresources too (as in the real ResourceMatches) */
    expect(f->a, "frank", "devs", RES("get", "apps", "deployments", "scale", "d", "w"), 1, NULL);
    expect(f->a, "frank", "devs", RES("get", "", "pods", NULL, "p", "w"), 0, NULL);
    expect(f->a, "frank", "devs", RES("list", "apps", "deployments", NULL, NULL, "w"), 0, NULL);
}

static void test_aggregation(void **state)
{
    fx *f = *state;
    add_obj(f->store, RBAC, "clusterroles",
            "{\"metadata\":{\"name\":\"monitoring\"},\"aggregationRule\":{\"clusterRoleSelectors\":["
            "{\"matchLabels\":{\"paybill.dev/aggregate-to-monitoring\":\"true\"}},"
            "{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"In\",\"values\":[\"gold\",\"silver\"]}]}]},"
            "\"rules\":[{\"apiGroups\":[\"\"],\"resources\":[\"secrets\"],\"verbs\":[\"get\"]}]}");
    add_obj(f->store, RBAC, "clusterroles",
            "{\"metadata\":{\"name\":\"mon-pods\",\"labels\":{\"paybill.dev/aggregate-to-monitoring\":\"true\"}},"
            "\"rules\":[{\"apiGroups\":[\"\"],\"resources\":[\"pods\"],\"verbs\":[\"list\"]}]}");
    add_obj(f->store, RBAC, "clusterroles",
            "{\"metadata\":{\"name\":\"mon-gold\",\"labels\":{\"tier\":\"gold\"}},"
            "\"rules\":[{\"apiGroups\":[\"apps\"],\"resources\":[\"deployments\"],\"verbs\":[\"list\"]}]}");
    add_obj(f->store, RBAC, "clusterroles",
            "{\"metadata\":{\"name\":\"mon-bronze\",\"labels\":{\"tier\":\"bronze\",\"paybill.dev/aggregate-to-monitoring\":\"false\"}},"
            "\"rules\":[{\"apiGroups\":[\"batch\"],\"resources\":[\"jobs\"],\"verbs\":[\"list\"]}]}");
    binding(f->store, NULL, "gina-mon", "ClusterRole", "monitoring", "[{\"kind\":\"User\",\"name\":\"gina\"}]");
    expect(f->a, "gina", NULL, RES("list", "", "pods", NULL, NULL, "ns1"), 1, NULL);
    expect(f->a, "gina", NULL, RES("list", "apps", "deployments", NULL, NULL, NULL), 1, NULL);
    expect(f->a, "gina", NULL, RES("list", "batch", "jobs", NULL, NULL, "ns1"), 0, NULL);
    /* the aggregated role's own rules are replaced, as the controller does */
    expect(f->a, "gina", NULL, RES("get", "", "secrets", NULL, "s", "ns1"), 0, NULL);

    json_t *mon = json_array_get(json_object_get(f->store, RBAC "/clusterroles"), 4);
    json_t *rules = dv_clusterrole_rules(f->a, mon);
    assert_int_equal(json_array_size(rules), 2);
    json_decref(rules);
}

/* Escalation check of one RBAC object write; want_msg NULL skips the text. */
static void expect_esc(dv_auth *a, const char *user, const char *group, const char *resource,
                       const char *ns, const char *obj_json, const char *old_json, int want,
                       const char *want_msg)
{
    dv_user u = {0};
    mkuser(&u, user, group);
    json_t *obj = json_loads(obj_json, 0, NULL), *old = old_json ? json_loads(old_json, 0, NULL) : NULL;
    assert_non_null(obj);
    char msg[2048] = "";
    int got = dv_rbac_escalation_check(a, &u, resource, ns, obj, old, msg, sizeof msg);
    if (got != want)
        fail_msg("%s writing %s %s: got %d want %d (%s)", user, resource, obj_json, got, want, msg);
    if (!want && want_msg && strcmp(msg, want_msg) != 0)
        fail_msg("message:\n got  %s\n want %s", msg, want_msg);
    json_decref(obj);
    json_decref(old);
    dv_user_clear(&u);
}

#define ROLE(rules) "{\"metadata\":{\"name\":\"r\"},\"rules\":" rules "}"
#define RB(kind, name) "{\"metadata\":{\"name\":\"b\"},\"roleRef\":{\"apiGroup\":\"" RBAC "\",\"kind\":\"" kind "\",\"name\":\"" name "\"},\"subjects\":[{\"kind\":\"User\",\"name\":\"x\"}]}"

static void test_escalation_roles(void **state)
{
    fx *f = *state;
    dv_auth *a = f->a;
    /* bob holds pods:* and tenants get/list/watch in ns1 only */
    expect_esc(a, "bob", NULL, "roles", "ns1",
               ROLE("[{\"apiGroups\":[\"\"],\"resources\":[\"pods\"],\"verbs\":[\"get\",\"delete\"]},"
                    "{\"apiGroups\":[\"paybill.dev\"],\"resources\":[\"tenants\"],\"verbs\":[\"list\"]}]"),
               NULL, 1, NULL);
    expect_esc(a, "bob", NULL, "roles", "ns1",
               ROLE("[{\"apiGroups\":[\"\"],\"resources\":[\"secrets\",\"pods\"],\"verbs\":[\"get\",\"list\"]}]"),
               NULL, 0,
               "roles.rbac.authorization.k8s.io \"r\" is forbidden: user \"bob\" "
               "(groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not "
               "currently held:\n{APIGroups:[\"\"], Resources:[\"secrets\"], Verbs:[\"get\" \"list\"]}");
    /* what bob holds in ns1 does not count in ns2 */
    expect_esc(a, "bob", NULL, "roles", "ns2",
               ROLE("[{\"apiGroups\":[\"\"],\"resources\":[\"pods\"],\"verbs\":[\"get\"]}]"), NULL, 0, NULL);
    /* resourceNames: a named grant covers only that name; subresources via *\/status */
    expect_esc(a, "system:serviceaccount:ns1:app", NULL, "roles", "ns1",
               ROLE("[{\"apiGroups\":[\"\"],\"resources\":[\"configmaps\"],\"verbs\":[\"get\"],\"resourceNames\":[\"cm1\"]}]"),
               NULL, 1, NULL);
    expect_esc(a, "system:serviceaccount:ns1:app", NULL, "roles", "ns1",
               ROLE("[{\"apiGroups\":[\"\"],\"resources\":[\"configmaps\"],\"verbs\":[\"get\"]}]"), NULL, 0,
               "roles.rbac.authorization.k8s.io \"r\" is forbidden: user \"system:serviceaccount:ns1:app\" "
               "(groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not "
               "currently held:\n{APIGroups:[\"\"], Resources:[\"configmaps\"], Verbs:[\"get\"]}");
    binding(f->store, NULL, "dave-status", "ClusterRole", "any-status", "[{\"kind\":\"User\",\"name\":\"dave\"}]");
    expect_esc(a, "dave", NULL, "clusterroles", NULL,
               ROLE("[{\"apiGroups\":[\"apps\"],\"resources\":[\"deployments/status\"],\"verbs\":[\"get\"]}]"),
               NULL, 1, NULL);
    /* non-resource URLs, several missing rules sorted */
    expect_esc(a, "x", "auditors", "clusterroles", NULL,
               ROLE("[{\"nonResourceURLs\":[\"/logs/a\",\"/metrics\",\"/debug\"],\"verbs\":[\"get\"]},"
                    "{\"apiGroups\":[\"\"],\"resources\":[\"nodes\"],\"verbs\":[\"get\"]}]"),
               NULL, 0,
               "clusterroles.rbac.authorization.k8s.io \"r\" is forbidden: user \"x\" "
               "(groups=[\"auditors\" \"system:authenticated\"]) is attempting to grant RBAC permissions "
               "not currently held:\n{APIGroups:[\"\"], Resources:[\"nodes\"], Verbs:[\"get\"]}\n"
               "{NonResourceURLs:[\"/debug\"], Verbs:[\"get\"]}");
    /* masters, and the escalate verb */
    expect_esc(a, "root", "system:masters", "clusterroles", NULL,
               ROLE("[{\"apiGroups\":[\"*\"],\"resources\":[\"*\"],\"verbs\":[\"*\"]}]"), NULL, 1, NULL);
    cluster_role(f->store, "escalator", "[{\"apiGroups\":[\"rbac.authorization.k8s.io\"],\"resources\":[\"roles\"],\"verbs\":[\"escalate\"]}]");
    binding(f->store, "ns2", "eve-esc", "ClusterRole", "escalator", "[{\"kind\":\"User\",\"name\":\"eve\"}]");
    expect_esc(a, "eve", NULL, "roles", "ns2",
               ROLE("[{\"apiGroups\":[\"*\"],\"resources\":[\"*\"],\"verbs\":[\"*\"]}]"), NULL, 1, NULL);
    expect_esc(a, "eve", NULL, "roles", "ns1",
               ROLE("[{\"apiGroups\":[\"*\"],\"resources\":[\"*\"],\"verbs\":[\"*\"]}]"), NULL, 0, NULL);
    /* aggregationRule needs full authority even with no rules */
    expect_esc(a, "bob", NULL, "clusterroles", NULL,
               "{\"metadata\":{\"name\":\"agg\"},\"aggregationRule\":{\"clusterRoleSelectors\":[{\"matchLabels\":{\"a\":\"b\"}}]}}",
               NULL, 0,
               "clusterroles.rbac.authorization.k8s.io \"agg\" is forbidden: must have cluster-admin "
               "privileges to use the aggregationRule");
    /* an update touching only GC fields is never an escalation */
    expect_esc(a, "bob", NULL, "roles", "ns2",
               "{\"metadata\":{\"name\":\"r\",\"finalizers\":[\"x\"],\"resourceVersion\":\"9\"},\"rules\":[{\"apiGroups\":[\"\"],\"resources\":[\"secrets\"],\"verbs\":[\"get\"]}]}",
               "{\"metadata\":{\"name\":\"r\",\"resourceVersion\":\"8\"},\"rules\":[{\"apiGroups\":[\"\"],\"resources\":[\"secrets\"],\"verbs\":[\"get\"]}]}",
               1, NULL);
    /* other resources are not this check's business */
    expect_esc(a, "bob", NULL, "configmaps", "ns1", "{}", NULL, 1, NULL);
}

static void test_escalation_bindings(void **state)
{
    fx *f = *state;
    dv_auth *a = f->a;
    expect_esc(a, "bob", NULL, "rolebindings", "ns1", RB("ClusterRole", "tenant-reader"), NULL, 1, NULL);
    expect_esc(a, "bob", NULL, "rolebindings", "ns1", RB("Role", "pod-editor"), NULL, 1, NULL);
    expect_esc(a, "bob", NULL, "rolebindings", "ns1", RB("ClusterRole", "tenant-status"), NULL, 0,
               "rolebindings.rbac.authorization.k8s.io \"b\" is forbidden: user \"bob\" "
               "(groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not "
               "currently held:\n{APIGroups:[\"paybill.dev\"], Resources:[\"tenants/status\"], "
               "Verbs:[\"patch\" \"update\"]}");
    /* cluster-wide binding of what bob holds only in ns1 */
    expect_esc(a, "bob", NULL, "clusterrolebindings", NULL, RB("ClusterRole", "tenant-reader"), NULL, 0, NULL);
    expect_esc(a, "bob", NULL, "rolebindings", "ns1", RB("ClusterRole", "nope"), NULL, 0,
               "rolebindings.rbac.authorization.k8s.io \"b\" is forbidden: "
               "clusterrole.rbac.authorization.k8s.io \"nope\" not found");
    expect_esc(a, "root", "system:masters", "rolebindings", "ns1", RB("ClusterRole", "nope"), NULL, 1, NULL);
    /* the bind verb on that role name */
    cluster_role(f->store, "binder", "[{\"apiGroups\":[\"rbac.authorization.k8s.io\"],\"resources\":[\"clusterroles\"],"
                 "\"verbs\":[\"bind\"],\"resourceNames\":[\"tenant-status\"]}]");
    binding(f->store, "ns1", "bob-binder", "ClusterRole", "binder", "[{\"kind\":\"User\",\"name\":\"bob\"}]");
    expect_esc(a, "bob", NULL, "rolebindings", "ns1", RB("ClusterRole", "tenant-status"), NULL, 1, NULL);
    expect_esc(a, "bob", NULL, "rolebindings", "ns1", RB("ClusterRole", "any-status"), NULL, 0, NULL);
    expect_esc(a, "bob", NULL, "rolebindings", "ns2", RB("ClusterRole", "tenant-status"), NULL, 0, NULL);
}

static void test_label_selector(void **state)
{
    json_t *labels = json_pack("{s:s,s:s}", "env", "prod", "team", "pay");
    struct {
        const char *sel;
        int want;
    } cases[] = {
        {"{}", 1},
        {"{\"matchLabels\":{\"env\":\"prod\"}}", 1},
        {"{\"matchLabels\":{\"env\":\"dev\"}}", 0},
        {"{\"matchLabels\":{\"env\":\"prod\",\"missing\":\"x\"}}", 0},
        {"{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"In\",\"values\":[\"dev\",\"prod\"]}]}", 1},
        {"{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"NotIn\",\"values\":[\"prod\"]}]}", 0},
        {"{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"NotIn\",\"values\":[\"a\"]}]}", 1},
        {"{\"matchExpressions\":[{\"key\":\"team\",\"operator\":\"Exists\"}]}", 1},
        {"{\"matchExpressions\":[{\"key\":\"team\",\"operator\":\"DoesNotExist\"}]}", 0},
        {"{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"DoesNotExist\"}]}", 1},
        {"{\"matchLabels\":{\"env\":\"prod\"},\"matchExpressions\":[{\"key\":\"team\",\"operator\":\"In\",\"values\":[\"x\"]}]}", 0},
        {"{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"Gt\",\"values\":[\"1\"]}]}", -1},
        {"{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"In\",\"values\":[]}]}", -1},
        {"{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"Exists\",\"values\":[\"a\"]}]}", -1},
        {"{\"matchLabels\":{\"env\":1}}", -1},
        {"[]", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *sel = json_loads(cases[i].sel, 0, NULL);
        int got = dv_label_selector_json_matches(sel, labels);
        if (got != cases[i].want)
            fail_msg("%s: got %d want %d", cases[i].sel, got, cases[i].want);
        json_decref(sel);
    }
    assert_int_equal(dv_label_selector_json_matches(NULL, labels), 1);
    json_t *sel = json_loads("{\"matchLabels\":{\"env\":\"prod\"}}", 0, NULL);
    assert_int_equal(dv_label_selector_json_matches(sel, NULL), 0);
    json_decref(sel);
    json_decref(labels);
}

/* ---- reviews --------------------------------------------------------------------- */

static json_t *review(dv_auth *a, const dv_user *u, const char *json)
{
    json_t *in = json_loads(json, 0, NULL);
    assert_non_null(in);
    json_t *out = dv_access_review(a, u, in);
    json_decref(in);
    return out;
}

static void test_self_subject_access_review(void **state)
{
    dv_auth *a = ((fx *)*state)->a;
    dv_user bob = {0};
    mkuser(&bob, "bob", NULL);
    json_t *r = review(a, &bob,
                       "{\"kind\":\"SelfSubjectAccessReview\",\"apiVersion\":\"authorization.k8s.io/v1\","
                       "\"spec\":{\"resourceAttributes\":{\"namespace\":\"ns1\",\"verb\":\"list\","
                       "\"group\":\"paybill.dev\",\"resource\":\"tenants\"}}}");
    assert_non_null(r);
    json_t *st = json_object_get(r, "status");
    assert_true(json_is_true(json_object_get(st, "allowed")));
    assert_string_equal(json_string_value(json_object_get(st, "reason")),
                        "RBAC: allowed by RoleBinding \"bob-tenants/ns1\" of ClusterRole "
                        "\"tenant-reader\" to User \"bob\"");
    assert_string_equal(json_string_value(json_object_get(r, "kind")), "SelfSubjectAccessReview");
    assert_true(json_is_null(json_object_get(json_object_get(r, "metadata"), "creationTimestamp")));
    assert_non_null(json_object_get(json_object_get(r, "spec"), "resourceAttributes"));
    json_decref(r);

    r = review(a, &bob, "{\"kind\":\"SelfSubjectAccessReview\",\"spec\":{\"resourceAttributes\":"
                        "{\"namespace\":\"ns2\",\"verb\":\"list\",\"group\":\"paybill.dev\",\"resource\":\"tenants\"}}}");
    st = json_object_get(r, "status");
    assert_true(json_is_false(json_object_get(st, "allowed")));
    assert_null(json_object_get(st, "reason"));
    assert_null(json_object_get(st, "denied"));
    json_decref(r);

    r = review(a, &bob, "{\"kind\":\"SelfSubjectAccessReview\",\"spec\":{\"resourceAttributes\":"
                        "{\"namespace\":\"ns1\",\"verb\":\"get\",\"resource\":\"pods\",\"subresource\":\"log\"}}}");
    assert_true(json_is_false(json_object_get(json_object_get(r, "status"), "allowed")));
    json_decref(r);

    dv_user aud = {0};
    mkuser(&aud, "x", "auditors");
    r = review(a, &aud, "{\"kind\":\"SelfSubjectAccessReview\",\"spec\":{\"nonResourceAttributes\":"
                        "{\"path\":\"/metrics\",\"verb\":\"get\"}}}");
    st = json_object_get(r, "status");
    assert_true(json_is_true(json_object_get(st, "allowed")));
    assert_string_equal(json_string_value(json_object_get(st, "reason")),
                        "RBAC: allowed by ClusterRoleBinding \"auditors-metrics\" of ClusterRole "
                        "\"metrics\" to Group \"auditors\"");
    json_decref(r);

    /* malformed: no spec, both attribute kinds, neither, unknown kind */
    assert_null(review(a, &bob, "{\"kind\":\"SelfSubjectAccessReview\"}"));
    assert_null(review(a, &bob, "{\"kind\":\"SelfSubjectAccessReview\",\"spec\":{}}"));
    assert_null(review(a, &bob, "{\"kind\":\"SelfSubjectAccessReview\",\"spec\":{\"resourceAttributes\":{},"
                                "\"nonResourceAttributes\":{}}}"));
    assert_null(review(a, &bob, "{\"kind\":\"TokenReview\",\"spec\":{\"resourceAttributes\":{}}}"));
    json_t *arr = json_array();
    assert_null(dv_access_review(a, &bob, arr));
    json_decref(arr);
    dv_user_clear(&bob);
    dv_user_clear(&aud);
}

static void test_subject_access_review(void **state)
{
    dv_auth *a = ((fx *)*state)->a;
    dv_user root = {0};
    mkuser(&root, "root", "system:masters");
    json_t *r = review(a, &root,
                       "{\"kind\":\"SubjectAccessReview\",\"apiVersion\":\"authorization.k8s.io/v1\","
                       "\"spec\":{\"user\":\"system:serviceaccount:ns1:app\",\"resourceAttributes\":"
                       "{\"namespace\":\"ns1\",\"verb\":\"get\",\"resource\":\"configmaps\",\"name\":\"cm1\"}}}");
    json_t *st = json_object_get(r, "status");
    assert_true(json_is_true(json_object_get(st, "allowed")));
    assert_string_equal(json_string_value(json_object_get(st, "reason")),
                        "RBAC: allowed by RoleBinding \"app-cm/ns1\" of Role \"one-configmap\" to "
                        "ServiceAccount \"app/ns1\"");
    /* the spec is echoed for SubjectAccessReview */
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "spec"), "user")),
                        "system:serviceaccount:ns1:app");
    json_decref(r);

    /* the asker's own powers (masters) do not leak into the subject */
    r = review(a, &root, "{\"kind\":\"SubjectAccessReview\",\"spec\":{\"user\":\"carol\","
                         "\"resourceAttributes\":{\"verb\":\"delete\",\"group\":\"paybill.dev\",\"resource\":\"tenants\"}}}");
    assert_true(json_is_false(json_object_get(json_object_get(r, "status"), "allowed")));
    json_decref(r);

    /* groups only; and groups are exactly what is given (no system:authenticated) */
    r = review(a, &root, "{\"kind\":\"SubjectAccessReview\",\"spec\":{\"groups\":[\"system:masters\"],"
                         "\"resourceAttributes\":{\"verb\":\"delete\",\"resource\":\"nodes\"}}}");
    assert_true(json_is_true(json_object_get(json_object_get(r, "status"), "allowed")));
    json_decref(r);
    /* dangling role reason is reported */
    r = review(a, &root, "{\"kind\":\"SubjectAccessReview\",\"spec\":{\"user\":\"zed\","
                         "\"resourceAttributes\":{\"namespace\":\"ns3\",\"verb\":\"get\",\"resource\":\"pods\"}}}");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "status"), "reason")),
                        "RBAC: role.rbac.authorization.k8s.io \"nope\" not found");
    json_decref(r);

    /* LocalSubjectAccessReview takes its namespace from metadata */
    r = review(a, &root, "{\"kind\":\"LocalSubjectAccessReview\",\"metadata\":{\"namespace\":\"ns1\"},"
                         "\"spec\":{\"user\":\"bob\",\"resourceAttributes\":{\"verb\":\"get\",\"resource\":\"pods\"}}}");
    assert_true(json_is_true(json_object_get(json_object_get(r, "status"), "allowed")));
    json_decref(r);
    assert_null(review(a, &root, "{\"kind\":\"LocalSubjectAccessReview\",\"metadata\":{\"namespace\":\"ns1\"},"
                                 "\"spec\":{\"user\":\"bob\",\"resourceAttributes\":{\"namespace\":\"ns2\","
                                 "\"verb\":\"get\",\"resource\":\"pods\"}}}"));
    /* neither user nor groups */
    assert_null(review(a, &root, "{\"kind\":\"SubjectAccessReview\",\"spec\":{\"resourceAttributes\":"
                                 "{\"verb\":\"get\",\"resource\":\"pods\"}}}"));
    dv_user_clear(&root);
}

static void test_rules_review(void **state)
{
    dv_auth *a = ((fx *)*state)->a;
    dv_user bob = {0};
    mkuser(&bob, "bob", NULL);
    json_t *in = json_loads("{\"kind\":\"SelfSubjectRulesReview\",\"apiVersion\":\"authorization.k8s.io/v1\","
                            "\"spec\":{\"namespace\":\"ns1\"}}", 0, NULL);
    json_t *r = dv_rules_review(a, &bob, in);
    json_t *st = json_object_get(r, "status");
    json_t *rr = json_object_get(st, "resourceRules");
    assert_int_equal(json_array_size(rr), 2);
    json_t *want0 = json_loads("{\"verbs\":[\"*\"],\"apiGroups\":[\"\"],\"resources\":[\"pods\"]}", 0, NULL);
    assert_true(json_equal(json_array_get(rr, 0), want0));
    json_decref(want0);
    assert_int_equal(json_array_size(json_object_get(st, "nonResourceRules")), 0);
    assert_true(json_is_false(json_object_get(st, "incomplete")));
    assert_null(json_object_get(st, "evaluationError"));
    json_decref(r);
    json_decref(in);

    in = json_loads("{\"kind\":\"SelfSubjectRulesReview\",\"spec\":{\"namespace\":\"ns3\"}}", 0, NULL);
    r = dv_access_review(a, &bob, in); /* the create-only handler path */
    assert_string_equal(json_string_value(json_object_get(r, "kind")), "SelfSubjectRulesReview");
    st = json_object_get(r, "status");
    assert_true(json_is_true(json_object_get(st, "incomplete")));
    assert_non_null(strstr(json_string_value(json_object_get(st, "evaluationError")), "\"missing\" not found"));
    json_decref(r);
    json_decref(in);

    dv_user aud = {0};
    mkuser(&aud, "root", "system:masters");
    assert_int_equal(dv_user_set(&aud, "root", "", (const char *[]){"system:masters", "auditors", NULL}), 0);
    in = json_loads("{\"kind\":\"SelfSubjectRulesReview\",\"spec\":{}}", 0, NULL);
    r = dv_rules_review(a, &aud, in);
    st = json_object_get(r, "status");
    assert_int_equal(json_array_size(json_object_get(st, "resourceRules")), 1);
    json_t *nr = json_object_get(st, "nonResourceRules");
    assert_int_equal(json_array_size(nr), 2);
    json_t *want = json_loads("{\"verbs\":[\"get\"],\"nonResourceURLs\":[\"/metrics\",\"/logs/*\"]}", 0, NULL);
    assert_true(json_equal(json_array_get(nr, 1), want));
    json_decref(want);
    json_decref(r);
    json_decref(in);
    dv_user_clear(&aud);
    dv_user_clear(&bob);
}

/* Request bodies captured from kubectl v1.32 (-v=9): `auth can-i patch
 * tenants status --subresource=status -n ns1` and `auth can-i --list -n team`. */
static const char SSAR_HEX[] =
    "6b3873000a320a17617574686f72697a6174696f6e2e6b38732e696f2f763112"
    "1753656c665375626a6563744163636573735265766965771249"
    "0a100a0012001a0022002a00320038004200122b0a290a036e7331120570617463681a0022002a"
    "0774656e616e74733206737461747573"
    "3a067374617475731a080800120" "01a0020001a002200";
static const char SSRR_HEX[] =
    "6b3873000a310a17617574686f72697a6174696f6e2e6b38732e696f2f763112"
    "1653656c665375626a65637452756c65735265766965771220"
    "0a100a0012001a0022002a003200380042001206" "0a047465616d1a041800220" "01a002200";

static unsigned char *unhex(const char *hex, size_t *len)
{
    *len = strlen(hex) / 2;
    unsigned char *b = malloc(*len);
    for (size_t i = 0; i < *len; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        b[i] = (unsigned char)v;
    }
    return b;
}

static void test_protobuf_reviews(void **state)
{
    dv_auth *a = ((fx *)*state)->a;
    size_t len;
    unsigned char *b = unhex(SSAR_HEX, &len);
    json_t *r = dv_auth_protobuf_to_json(b, len);
    assert_non_null(r);
    json_t *want = json_loads("{\"apiVersion\":\"authorization.k8s.io/v1\",\"kind\":\"SelfSubjectAccessReview\","
                              "\"metadata\":{},\"spec\":{\"resourceAttributes\":{\"namespace\":\"ns1\","
                              "\"verb\":\"patch\",\"resource\":\"tenants\",\"subresource\":\"status\","
                              "\"name\":\"status\"}}}", 0, NULL);
    if (!json_equal(r, want)) {
        char *got = json_dumps(r, JSON_SORT_KEYS);
        fail_msg("decoded %s", got);
    }
    json_decref(want);
    dv_user u = {0};
    mkuser(&u, "system:serviceaccount:paybill-system:ctrl", NULL);
    json_t *rev = dv_access_review(a, &u, r);
    assert_true(json_is_false(json_object_get(json_object_get(rev, "status"), "allowed"))); /* group "" */
    json_decref(rev);
    json_decref(r);

    /* every truncation is rejected, never misread */
    for (size_t cut = 0; cut < len; cut++) {
        json_t *t = dv_auth_protobuf_to_json(b, cut);
        if (t) {
            /* a cut at a field boundary of the envelope tail may still parse */
            assert_true(cut >= len - 4);
            json_decref(t);
        }
    }
    b[0] = 'K';
    assert_null(dv_auth_protobuf_to_json(b, len));
    free(b);

    b = unhex(SSRR_HEX, &len);
    r = dv_auth_protobuf_to_json(b, len);
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "kind")), "SelfSubjectRulesReview");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "spec"), "namespace")), "team");
    rev = dv_access_review(a, &u, r);
    assert_non_null(json_object_get(json_object_get(rev, "status"), "resourceRules"));
    json_decref(rev);
    json_decref(r);
    free(b);
    assert_null(dv_auth_protobuf_to_json(NULL, 0));
    assert_null(dv_auth_protobuf_to_json("k8s", 4));

    json_t *who = dv_self_subject_review(&u);
    json_t *ui = json_object_get(json_object_get(who, "status"), "userInfo");
    assert_string_equal(json_string_value(json_object_get(ui, "username")), u.name);
    assert_int_equal(json_array_size(json_object_get(ui, "groups")), 1);
    json_decref(who);
    dv_user_clear(&u);
}

static void test_bootstrap_policy(void **state)
{
    json_t *recs = dv_rbac_bootstrap_policy();
    assert_true(json_array_size(recs) >= 10);
    json_t *store = json_object();
    size_t i;
    json_t *rec;
    json_array_foreach(recs, i, rec) {
        char key[256];
        snprintf(key, sizeof key, "%s/%s", json_string_value(json_object_get(rec, "group")),
                 json_string_value(json_object_get(rec, "resource")));
        json_t *arr = json_object_get(store, key);
        if (!arr)
            json_object_set_new(store, key, arr = json_array());
        json_array_append(arr, json_object_get(rec, "object"));
    }
    json_decref(recs);
    binding(store, "team", "hank-view", "ClusterRole", "view", "[{\"kind\":\"User\",\"name\":\"hank\"}]");
    binding(store, "team", "ivy-edit", "ClusterRole", "edit", "[{\"kind\":\"User\",\"name\":\"ivy\"}]");
    dv_auth *a = NULL;
    assert_int_equal(dv_auth_new(NULL, NULL, 0, fake_list, store, &a, NULL, 0), 0);
    expect(a, "anyone", NULL, RES("create", "authorization.k8s.io", "selfsubjectaccessreviews", NULL, NULL, NULL), 1, NULL);
    expect(a, "anyone", NULL, RES("create", "authorization.k8s.io", "selfsubjectrulesreviews", NULL, NULL, NULL), 1, NULL);
    expect(a, "anyone", NULL, PATH("get", "/apis/paybill.dev/v1alpha1"), 1, NULL);
    expect(a, "anyone", NULL, PATH("get", "/metrics"), 0, NULL);
    expect(a, "anyone", NULL, RES("list", "", "pods", NULL, NULL, "team"), 0, NULL);
    expect(a, "root", "system:masters", RES("list", "", "secrets", NULL, NULL, NULL), 1, NULL);
    /* view and edit are aggregated: edit includes view's rules */
    expect(a, "hank", NULL, RES("list", "apps", "deployments", NULL, NULL, "team"), 1, NULL);
    expect(a, "hank", NULL, RES("delete", "apps", "deployments", NULL, "d", "team"), 0, NULL);
    expect(a, "ivy", NULL, RES("delete", "apps", "deployments", NULL, "d", "team"), 1, NULL);
    expect(a, "ivy", NULL, RES("watch", "", "pods", NULL, NULL, "team"), 1, NULL);
    expect(a, "ivy", NULL, RES("create", "rbac.authorization.k8s.io", "rolebindings", NULL, NULL, "team"), 0, NULL);
    dv_auth_free(a);
    json_decref(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_binding_scopes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subresources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_star_subresource, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resource_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_resource, setup, teardown),
        cmocka_unit_test_setup_teardown(test_masters_and_reasons, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wildcards, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aggregation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escalation_roles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escalation_bindings, setup, teardown),
        cmocka_unit_test(test_label_selector),
        cmocka_unit_test_setup_teardown(test_self_subject_access_review, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subject_access_review, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rules_review, setup, teardown),
        cmocka_unit_test_setup_teardown(test_protobuf_reviews, setup, teardown),
        cmocka_unit_test(test_bootstrap_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
