/* Unit tests for conditions, plan semantics, a tenant's desired children
 * (RBAC, Pod Security, Service caps, network policies) and the namespace
 * ownership test. */
#include "testutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controllers/conditions.h"
#include "controllers/planspec.h"
#include "controllers/tenantspec.h"

static json_t *load(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, 0, &je);
    assert_non_null(v);
    return v;
}

static void test_conditions_idempotent(void **state)
{
    json_t *st = json_object();
    assert_int_equal(cond_set(st, "Ready", "False", "Provisioning", "creating", 1, "T1"), 1);
    assert_int_equal(cond_set(st, "Ready", "False", "Provisioning", "creating", 1, "T2"), 0);
    json_t *c = cond_find(st, "Ready");
    assert_string_equal(json_string_value(json_object_get(c, "lastTransitionTime")), "T1");
    /* A reason change is a change, but not a transition. */
    assert_int_equal(cond_set(st, "Ready", "False", "Waiting", "x", 1, "T3"), 1);
    assert_string_equal(json_string_value(json_object_get(c, "lastTransitionTime")), "T1");
    assert_int_equal(cond_set(st, "Ready", "True", "Active", "ok", 2, "T4"), 1);
    assert_string_equal(json_string_value(json_object_get(c, "lastTransitionTime")), "T4");
    assert_true(cond_is_true(st, "Ready"));
    assert_false(cond_is_true(st, "Other"));
    assert_int_equal(cond_remove(st, "Ready"), 1);
    assert_null(cond_find(st, "Ready"));
    json_decref(st);
}

static void test_isolation_defaults_and_overrides(void **state)
{
    planspec_isolation iso;
    json_t *p = load("{\"spec\":{\"isolation\":{\"model\":\"silo\"}}}");
    assert_int_equal(planspec_isolation_of(p, &iso, NULL), 0);
    assert_string_equal(iso.compute, "dedicated");
    assert_string_equal(iso.data, "database");
    json_decref(p);
    p = load("{\"spec\":{\"isolation\":{\"model\":\"pooled\",\"data\":\"schema\"}}}");
    assert_int_equal(planspec_isolation_of(p, &iso, NULL), 0);
    assert_string_equal(iso.compute, "shared");
    assert_string_equal(iso.data, "schema");
    json_decref(p);
}

static void test_plan_validation_messages(void **state)
{
    pb_err e;
    json_t *p = load("{\"spec\":{\"isolation\":{\"model\":\"mesh\"}}}");
    assert_int_equal(planspec_validate(p, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "spec.isolation.model: unsupported value \"mesh\""));
    json_decref(p);
    p = load("{\"spec\":{\"isolation\":{\"model\":\"pooled\",\"data\":\"server\"}}}");
    assert_int_equal(planspec_validate(p, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "needs compute \"dedicated\""));
    json_decref(p);
    p = load("{\"spec\":{\"isolation\":{\"model\":\"bridge\"},\"billing\":{\"gracePeriod\":\"3 days\"}}}");
    assert_int_equal(planspec_validate(p, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "spec.billing.gracePeriod"));
    json_decref(p);
    p = load("{\"spec\":{\"isolation\":{\"model\":\"silo\"},\"cloud\":{\"provider\":\"aws\"}}}");
    assert_int_equal(planspec_validate(p, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "spec.cloud.module"));
    json_decref(p);
    p = load("{\"spec\":{}}");
    assert_int_not_equal(planspec_validate(p, &e), 0);
    assert_non_null(strstr(e.msg, "spec.isolation.model"));
    json_decref(p);
    /* Pod Security: baseline at the least, even if the schema let it in. */
    p = load("{\"spec\":{\"isolation\":{\"model\":\"silo\"},\"podSecurity\":\"privileged\"}}");
    assert_int_equal(planspec_validate(p, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "spec.podSecurity: unsupported value \"privileged\" (restricted, baseline)"));
    json_decref(p);
    p = load("{\"spec\":{\"isolation\":{\"model\":\"silo\"},\"quotas\":{\"nodePorts\":-1}}}");
    assert_int_equal(planspec_validate(p, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "spec.quotas.nodePorts"));
    json_decref(p);
    p = load("{\"spec\":{\"isolation\":{\"model\":\"silo\"},\"podSecurity\":\"baseline\","
             "\"quotas\":{\"loadBalancers\":2}}}");
    assert_int_equal(planspec_validate(p, &e), 0);
    assert_string_equal(planspec_pod_security(p), "baseline");
    assert_int_equal(planspec_load_balancers(p), 2);
    assert_int_equal(planspec_node_ports(p), 0);
    json_decref(p);
    p = load("{\"spec\":{\"isolation\":{\"model\":\"silo\"}}}");
    assert_string_equal(planspec_pod_security(p), "restricted");
    json_decref(p);
}

static json_t *find_child(json_t *children, const char *resource, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(children, i, c) {
        json_t *o = json_object_get(c, "object");
        if (strcmp(json_string_value(json_object_get(c, "resource")), resource) == 0 &&
            strcmp(json_string_value(json_object_get(json_object_get(o, "metadata"), "name")), name) == 0)
            return o;
    }
    return NULL;
}

static const char *TENANT = "{\"metadata\":{\"name\":\"acme\",\"uid\":\"u-1\"},"
                            "\"spec\":{\"owner\":{\"name\":\"W\",\"email\":\"w@acme.example\"}}}";
static const char *SILO = "{\"metadata\":{\"name\":\"enterprise\"},\"spec\":{\"tier\":\"enterprise\","
                          "\"isolation\":{\"model\":\"silo\"},\"quotas\":{\"cpu\":\"8\",\"memory\":\"16Gi\","
                          "\"pods\":50,\"objects\":200}}}";
static const char *POOLED = "{\"metadata\":{\"name\":\"free\"},\"spec\":{\"tier\":\"free\","
                            "\"isolation\":{\"model\":\"pooled\"}}}";

static void test_children_dedicated(void **state)
{
    json_t *t = load(TENANT), *p = load(SILO);
    planspec_isolation iso;
    assert_int_equal(planspec_isolation_of(p, &iso, NULL), 0);
    json_t *ch = tenantspec_children(t, p, &iso, 0, "paybill-system");
    json_t *ns = find_child(ch, "namespaces", "tenant-acme");
    assert_non_null(ns);
    json_t *labels = json_object_get(json_object_get(ns, "metadata"), "labels");
    assert_string_equal(json_string_value(json_object_get(labels, "paybill.dev/tier")), "enterprise");
    assert_string_equal(json_string_value(json_object_get(labels, "paybill.dev/tenant")), "acme");
    json_t *owner = json_array_get(json_object_get(json_object_get(ns, "metadata"), "ownerReferences"), 0);
    assert_string_equal(json_string_value(json_object_get(owner, "uid")), "u-1");
    json_t *q = find_child(ch, "resourcequotas", "tenant-quota");
    json_t *hard = json_object_get(json_object_get(q, "spec"), "hard");
    assert_string_equal(json_string_value(json_object_get(hard, "requests.cpu")), "8");
    assert_string_equal(json_string_value(json_object_get(hard, "pods")), "50");
    assert_string_equal(json_string_value(json_object_get(hard, "count/secrets")), "200");
    assert_non_null(find_child(ch, "limitranges", "tenant-limits"));
    assert_null(find_child(ch, "networkpolicies", "tenant-suspended"));
    json_t *rb = find_child(ch, "rolebindings", "tenant-admin");
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(rb, "subjects"), 0), "name")),
                        "w@acme.example");
    /* RBAC comes from the chart's ClusterRoles: the operator makes no Role
     * (it would need escalate, or every right it hands out). */
    assert_null(find_child(ch, "roles", "tenant-admin"));
    assert_null(find_child(ch, "roles", "paybill-agent"));
    char *ref = json_dumps(json_object_get(rb, "roleRef"), JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(ref, "{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\","
                             "\"name\":\"paybill-tenant-admin\"}");
    free(ref);
    json_t *agent = find_child(ch, "rolebindings", "paybill-agent");
    assert_string_equal(json_string_value(json_object_get(json_object_get(agent, "roleRef"), "name")),
                        "paybill-tenant-agent");
    /* The operator's own rights in the namespace: a binding it creates right
     * after the namespace, for its ServiceAccount only. */
    json_t *opb = json_object_get(json_array_get(ch, 1), "object");
    assert_string_equal(json_string_value(json_object_get(json_object_get(opb, "metadata"), "name")),
                        "paybill-operator");
    char *sub = json_dumps(json_object_get(opb, "subjects"), JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(sub, "[{\"kind\":\"ServiceAccount\",\"name\":\"paybill-operator\","
                             "\"namespace\":\"paybill-system\"}]");
    free(sub);
    assert_string_equal(json_string_value(json_object_get(json_object_get(opb, "roleRef"), "name")),
                        "paybill-operator-tenant");
    json_decref(ch);
    json_decref(t);
    json_decref(p);
}

static void test_children_shared_and_suspended(void **state)
{
    json_t *t = load(TENANT), *p = load(POOLED);
    planspec_isolation iso;
    assert_int_equal(planspec_isolation_of(p, &iso, NULL), 0);
    json_t *ch = tenantspec_children(t, p, &iso, 1, "paybill-system");
    json_t *hard = json_object_get(json_object_get(find_child(ch, "resourcequotas", "tenant-quota"), "spec"), "hard");
    assert_string_equal(json_string_value(json_object_get(hard, "pods")), "0");
    assert_null(find_child(ch, "limitranges", "tenant-limits"));
    json_t *deny = find_child(ch, "networkpolicies", "tenant-suspended");
    assert_non_null(deny);
    assert_int_equal(json_array_size(json_object_get(json_object_get(deny, "spec"), "policyTypes")), 2);
    char *route = tenantspec_route_entry(t, p, &iso, 1);
    assert_string_equal(route, "{\"data\":\"rls\",\"namespace\":\"tenant-acme\",\"plan\":\"free\","
                               "\"suspended\":true,\"tier\":\"free\"}");
    free(route);
    char buf[64];
    assert_string_equal(tenantspec_pool_configmap(&iso, buf, sizeof buf), "paybill-pool-pooled");
    json_decref(ch);
    json_decref(t);
    json_decref(p);
}

static void test_child_matches_detects_drift(void **state)
{
    json_t *t = load(TENANT), *p = load(SILO);
    planspec_isolation iso;
    planspec_isolation_of(p, &iso, NULL);
    json_t *ch = tenantspec_children(t, p, &iso, 0, "paybill-system");
    json_t *want = find_child(ch, "resourcequotas", "tenant-quota");
    json_t *live = json_deep_copy(want);
    /* Server-added fields do not count as drift. */
    json_object_set_new(json_object_get(live, "metadata"), "resourceVersion", json_string("7"));
    json_object_set_new(json_object_get(json_object_get(live, "metadata"), "labels"), "extra", json_string("x"));
    json_object_set_new(live, "status", json_pack("{s:{}}", "used"));
    assert_true(tenantspec_child_matches(want, live));
    /* A hand edit of the quota does. */
    json_object_set_new(json_object_get(json_object_get(live, "spec"), "hard"), "pods", json_string("999"));
    assert_false(tenantspec_child_matches(want, live));
    json_decref(live);
    /* So does a removed label. */
    live = json_deep_copy(want);
    json_object_del(json_object_get(json_object_get(live, "metadata"), "labels"), "paybill.dev/plan");
    assert_false(tenantspec_child_matches(want, live));
    json_decref(live);
    json_decref(ch);
    json_decref(t);
    json_decref(p);
}

/* The server rewrites quantities ("1000m" -> "1"): equal values match. */
static void test_child_matches_quantities(void **state)
{
    json_t *t = load(TENANT);
    json_t *p = load("{\"metadata\":{\"name\":\"odd\"},\"spec\":{\"tier\":\"enterprise\","
                     "\"isolation\":{\"model\":\"silo\"},\"quotas\":{\"cpu\":\"1000m\","
                     "\"memory\":\"2048Mi\",\"pods\":10}}}");
    planspec_isolation iso;
    planspec_isolation_of(p, &iso, NULL);
    json_t *ch = tenantspec_children(t, p, &iso, 0, "paybill-system");
    json_t *want = find_child(ch, "resourcequotas", "tenant-quota");
    json_t *live = json_deep_copy(want);
    json_t *hard = json_object_get(json_object_get(live, "spec"), "hard");
    json_object_set_new(hard, "requests.cpu", json_string("1"));
    json_object_set_new(hard, "requests.memory", json_string("2Gi"));
    assert_true(tenantspec_child_matches(want, live));
    json_object_set_new(hard, "requests.memory", json_string("2097152Ki"));
    assert_true(tenantspec_child_matches(want, live));
    /* A different value is drift, however it is written. */
    json_object_set_new(hard, "requests.cpu", json_string("2"));
    assert_false(tenantspec_child_matches(want, live));
    json_object_set_new(hard, "requests.cpu", json_string("1001m"));
    assert_false(tenantspec_child_matches(want, live));
    json_object_set_new(hard, "requests.cpu", json_string("1"));
    /* An extra or a missing resource is drift too. */
    json_object_set_new(hard, "limits.cpu", json_string("1"));
    assert_false(tenantspec_child_matches(want, live));
    json_object_del(hard, "limits.cpu");
    json_object_del(hard, "pods");
    assert_false(tenantspec_child_matches(want, live));
    json_decref(live);

    /* LimitRange: every quantity map of every item. */
    json_t *lr = find_child(ch, "limitranges", "tenant-limits");
    live = json_deep_copy(lr);
    json_t *item = json_array_get(json_object_get(json_object_get(live, "spec"), "limits"), 0);
    json_object_set_new(json_object_get(item, "default"), "memory", json_string("0.5Gi"));
    json_object_set_new(json_object_get(item, "defaultRequest"), "cpu", json_string("0.1"));
    assert_true(tenantspec_child_matches(lr, live));
    json_object_set_new(json_object_get(item, "default"), "cpu", json_string("1"));
    assert_false(tenantspec_child_matches(lr, live));
    json_object_set_new(json_object_get(item, "default"), "cpu", json_string("500m"));
    json_object_set_new(item, "type", json_string("Pod")); /* not a quantity: exact */
    assert_false(tenantspec_child_matches(lr, live));
    json_decref(live);

    /* Equal-looking strings outside quantity maps still compare exactly. */
    json_t *ns = find_child(ch, "namespaces", "tenant-acme");
    live = json_deep_copy(ns);
    json_object_set_new(json_object_get(json_object_get(live, "metadata"), "labels"), "paybill.dev/tier",
                        json_string("1000m"));
    json_t *ns_want = json_deep_copy(ns);
    json_object_set_new(json_object_get(json_object_get(ns_want, "metadata"), "labels"), "paybill.dev/tier",
                        json_string("1"));
    assert_false(tenantspec_child_matches(ns_want, live));
    json_decref(ns_want);
    json_decref(live);
    /* A non-quantity string in a quantity map compares exactly. */
    live = json_deep_copy(want);
    json_t *w2 = json_deep_copy(want);
    json_object_set_new(json_object_get(json_object_get(w2, "spec"), "hard"), "requests.cpu", json_string("lots"));
    json_object_set_new(json_object_get(json_object_get(live, "spec"), "hard"), "requests.cpu", json_string("lots"));
    assert_true(tenantspec_child_matches(w2, live));
    json_object_set_new(json_object_get(json_object_get(live, "spec"), "hard"), "requests.cpu", json_string("Lots"));
    assert_false(tenantspec_child_matches(w2, live));
    json_decref(w2);
    json_decref(live);
    json_decref(ch);
    json_decref(t);
    json_decref(p);
}

static const char *label_of(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(json_object_get(obj, "metadata"), "labels"), key));
}

static char *dump(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
}

/* Pod Security labels per plan level, on the namespace only; Service caps
 * in every tenant's quota. */
static void test_children_pod_security_and_service_caps(void **state)
{
    json_t *t = load(TENANT), *p = load(POOLED);
    planspec_isolation iso;
    planspec_isolation_of(p, &iso, NULL);
    json_t *ch = tenantspec_children(t, p, &iso, 0, "paybill-system");
    json_t *ns = find_child(ch, "namespaces", "tenant-acme");
    static const char *const modes[] = {"enforce", "warn", "audit"};
    for (int i = 0; i < 3; i++) {
        char k[96];
        snprintf(k, sizeof k, "pod-security.kubernetes.io/%s", modes[i]);
        assert_string_equal(label_of(ns, k), "restricted");
        snprintf(k, sizeof k, "pod-security.kubernetes.io/%s-version", modes[i]);
        assert_string_equal(label_of(ns, k), "latest");
    }
    assert_null(label_of(find_child(ch, "resourcequotas", "tenant-quota"), "pod-security.kubernetes.io/enforce"));
    json_t *hard = json_object_get(json_object_get(find_child(ch, "resourcequotas", "tenant-quota"), "spec"), "hard");
    assert_string_equal(json_string_value(json_object_get(hard, "services.nodeports")), "0");
    assert_string_equal(json_string_value(json_object_get(hard, "services.loadbalancers")), "0");
    json_decref(ch);
    json_decref(p);

    p = load("{\"metadata\":{\"name\":\"big\"},\"spec\":{\"tier\":\"big\",\"isolation\":{\"model\":\"silo\"},"
             "\"podSecurity\":\"baseline\",\"quotas\":{\"pods\":5,\"nodePorts\":2,\"loadBalancers\":1}}}");
    planspec_isolation_of(p, &iso, NULL);
    ch = tenantspec_children(t, p, &iso, 0, "paybill-system");
    ns = find_child(ch, "namespaces", "tenant-acme");
    assert_string_equal(label_of(ns, "pod-security.kubernetes.io/enforce"), "baseline");
    assert_string_equal(label_of(ns, "pod-security.kubernetes.io/audit"), "baseline");
    hard = json_object_get(json_object_get(find_child(ch, "resourcequotas", "tenant-quota"), "spec"), "hard");
    assert_string_equal(json_string_value(json_object_get(hard, "services.nodeports")), "2");
    assert_string_equal(json_string_value(json_object_get(hard, "services.loadbalancers")), "1");
    /* A relaxed label is drift. */
    json_t *live = json_deep_copy(ns);
    json_object_set_new(json_object_get(json_object_get(live, "metadata"), "labels"),
                        "pod-security.kubernetes.io/enforce", json_string("privileged"));
    assert_false(tenantspec_child_matches(ns, live));
    json_decref(live);
    json_decref(ch);
    json_decref(p);
    json_decref(t);
}

/* Egress: own namespace, cluster DNS, the database; ingress from the
 * namespace and Paybill's pods only; suspended: deny-all alone. */
static void test_children_network_policies(void **state)
{
    json_t *t = load("{\"metadata\":{\"name\":\"acme\",\"uid\":\"u-1\"},"
                     "\"spec\":{\"owner\":{\"name\":\"W\",\"email\":\"w@acme.example\"}},"
                     "\"status\":{\"database\":{\"endpoint\":\"10.0.0.5:5432\"}}}");
    json_t *p = load(SILO);
    planspec_isolation iso;
    planspec_isolation_of(p, &iso, NULL);
    json_t *ch = tenantspec_children(t, p, &iso, 0, "paybill-system");
    json_t *np = find_child(ch, "networkpolicies", "tenant-isolation");
    json_t *spec = json_object_get(np, "spec");
    char *s = dump(json_object_get(spec, "policyTypes"));
    assert_string_equal(s, "[\"Ingress\",\"Egress\"]");
    free(s);
    s = dump(json_object_get(spec, "ingress"));
    assert_string_equal(s, "[{\"from\":[{\"podSelector\":{}},{\"namespaceSelector\":{\"matchLabels\":"
                           "{\"kubernetes.io/metadata.name\":\"paybill-system\"}},\"podSelector\":"
                           "{\"matchLabels\":{\"app.kubernetes.io/name\":\"paybill\"}}}]}]");
    free(s);
    s = dump(json_object_get(spec, "egress"));
    assert_string_equal(s, "[{\"to\":[{\"podSelector\":{}}]},"
                           "{\"ports\":[{\"port\":53,\"protocol\":\"UDP\"},{\"port\":53,\"protocol\":\"TCP\"}],"
                           "\"to\":[{\"namespaceSelector\":{\"matchLabels\":{\"kubernetes.io/metadata.name\":"
                           "\"kube-system\"}},\"podSelector\":{\"matchLabels\":{\"k8s-app\":\"kube-dns\"}}}]},"
                           "{\"ports\":[{\"port\":5432,\"protocol\":\"TCP\"}],"
                           "\"to\":[{\"ipBlock\":{\"cidr\":\"10.0.0.5/32\"}}]}]");
    free(s);
    assert_null(find_child(ch, "networkpolicies", "tenant-suspended"));
    json_decref(ch);

    /* Policies add up: suspended, the deny-all is the only one. */
    ch = tenantspec_children(t, p, &iso, 1, "paybill-system");
    assert_null(find_child(ch, "networkpolicies", "tenant-isolation"));
    json_t *deny = find_child(ch, "networkpolicies", "tenant-suspended");
    s = dump(json_object_get(deny, "spec"));
    assert_string_equal(s, "{\"podSelector\":{},\"policyTypes\":[\"Ingress\",\"Egress\"]}");
    free(s);
    json_decref(ch);

    /* No database yet: no database rule, the rest the same. */
    json_object_del(t, "status");
    ch = tenantspec_children(t, p, &iso, 0, "paybill-system");
    spec = json_object_get(find_child(ch, "networkpolicies", "tenant-isolation"), "spec");
    assert_int_equal(json_array_size(json_object_get(spec, "egress")), 2);
    json_decref(ch);
    json_decref(t);
    json_decref(p);
}

static void test_database_egress(void **state)
{
    json_t *e = tenantspec_database_egress("192.168.1.7:6432");
    char *s = dump(e);
    assert_string_equal(s, "{\"ports\":[{\"port\":6432,\"protocol\":\"TCP\"}],"
                           "\"to\":[{\"ipBlock\":{\"cidr\":\"192.168.1.7/32\"}}]}");
    free(s);
    json_decref(e);
    e = tenantspec_database_egress("fd12::7:5432");
    assert_string_equal(json_string_value(json_object_get(json_object_get(
                            json_array_get(json_object_get(e, "to"), 0), "ipBlock"), "cidr")),
                        "fd12::7/128");
    json_decref(e);
    e = tenantspec_database_egress("[2001:db8::1]:5432");
    assert_string_equal(json_string_value(json_object_get(json_object_get(
                            json_array_get(json_object_get(e, "to"), 0), "ipBlock"), "cidr")),
                        "2001:db8::1/128");
    json_decref(e);
    /* A host name: the port anywhere but the metadata services. */
    e = tenantspec_database_egress("pg.example.com:5432");
    s = dump(json_object_get(e, "to"));
    assert_string_equal(s, "[{\"ipBlock\":{\"cidr\":\"0.0.0.0/0\",\"except\":[\"169.254.0.0/16\","
                           "\"100.100.100.200/32\"]}},{\"ipBlock\":{\"cidr\":\"::/0\",\"except\":"
                           "[\"fe80::/10\",\"fd00:ec2::254/128\"]}}]");
    free(s);
    json_decref(e);
    /* Never a rule towards a metadata or link-local address, nor a bad one. */
    static const char *const none[] = {"169.254.169.254:80", "169.254.1.1:5432", "100.100.100.200:80",
                                       "[fd00:ec2::254]:80", "fe80::1:5432", "::ffff:169.254.169.254:80",
                                       "0.0.0.0:5432", "10.0.0.1", "10.0.0.1:0", "10.0.0.1:70000",
                                       "10.0.0.1:54x", ":5432", "", NULL};
    for (const char *const *n = none; *n; n++) {
        e = tenantspec_database_egress(*n);
        if (e)
            fail_msg("a rule for %s", *n);
    }
    assert_null(tenantspec_database_egress(NULL));
}

static void test_namespace_owned(void **state)
{
    char why[512];
    json_t *ns = load("{\"metadata\":{\"name\":\"tenant-x\",\"labels\":{\"kubernetes.io/metadata.name\":\"tenant-x\"}}}");
    assert_false(tenantspec_namespace_owned(ns, "x", "u-1", why, sizeof why));
    assert_non_null(strstr(why, "namespace tenant-x"));
    assert_non_null(strstr(why, "app.kubernetes.io/managed-by=paybill-operator is missing"));
    json_decref(ns);
    /* Ours, but another tenant's label. */
    ns = load("{\"metadata\":{\"name\":\"tenant-x\",\"labels\":{\"app.kubernetes.io/managed-by\":"
              "\"paybill-operator\",\"paybill.dev/tenant\":\"y\"}}}");
    assert_false(tenantspec_namespace_owned(ns, "x", "u-1", why, sizeof why));
    assert_non_null(strstr(why, "paybill.dev/tenant=x is missing"));
    json_decref(ns);
    /* Labelled right: ours, also without an owner (retained, or being set up). */
    ns = load("{\"metadata\":{\"name\":\"tenant-x\",\"labels\":{\"app.kubernetes.io/managed-by\":"
              "\"paybill-operator\",\"paybill.dev/tenant\":\"x\"}}}");
    assert_true(tenantspec_namespace_owned(ns, "x", "u-1", why, sizeof why));
    json_object_set_new(json_object_get(ns, "metadata"), "ownerReferences",
                        load("[{\"kind\":\"Tenant\",\"name\":\"x\",\"uid\":\"u-1\",\"controller\":true}]"));
    assert_true(tenantspec_namespace_owned(ns, "x", "u-1", why, sizeof why));
    /* Controlled by something else. */
    json_object_set_new(json_object_get(ns, "metadata"), "ownerReferences",
                        load("[{\"kind\":\"Project\",\"name\":\"p\",\"uid\":\"u-9\",\"controller\":true}]"));
    assert_false(tenantspec_namespace_owned(ns, "x", "u-1", why, sizeof why));
    assert_non_null(strstr(why, "controlled by Project \"p\""));
    json_decref(ns);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conditions_idempotent),
        cmocka_unit_test(test_isolation_defaults_and_overrides),
        cmocka_unit_test(test_plan_validation_messages),
        cmocka_unit_test(test_children_dedicated),
        cmocka_unit_test(test_children_shared_and_suspended),
        cmocka_unit_test(test_child_matches_detects_drift),
        cmocka_unit_test(test_child_matches_quantities),
        cmocka_unit_test(test_children_pod_security_and_service_caps),
        cmocka_unit_test(test_children_network_policies),
        cmocka_unit_test(test_database_egress),
        cmocka_unit_test(test_namespace_owned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
