/*
 * tenantspec.c - desired children of a Tenant (see tenantspec.h).
 */
#include "controllers/tenantspec.h"

#include <stdio.h>
#include <string.h>

#include "util/json.h"
#include "util/quantity.h"

const char *tenantspec_namespace(const char *tenant, char *buf, size_t n)
{
    snprintf(buf, n, "tenant-%s", tenant);
    return buf;
}

const char *tenantspec_pool_configmap(const planspec_isolation *iso, char *buf, size_t n)
{
    snprintf(buf, n, "paybill-pool-%s", iso->model);
    return buf;
}

static const char *str_at(const json_t *o, const char *path, const char *def)
{
    const char *s = def;
    pb_json_opt_string(o, path, def, &s, NULL);
    return s;
}

static json_t *child(const char *group, const char *version, const char *resource,
                     const char *ns, json_t *obj)
{
    return json_pack("{s:s, s:s, s:s, s:s?, s:o}", "group", group, "version", version,
                     "resource", resource, "namespace", ns, "object", obj);
}

static json_t *labels_for(const json_t *tenant, const json_t *plan)
{
    return json_pack("{s:s, s:s, s:s, s:s}", TENANTSPEC_LABEL_TENANT,
                     str_at(tenant, "metadata.name", ""), TENANTSPEC_LABEL_PLAN,
                     str_at(plan, "metadata.name", ""), TENANTSPEC_LABEL_TIER,
                     str_at(plan, "spec.tier", ""), TENANTSPEC_LABEL_MANAGED, TENANTSPEC_MANAGER);
}

static json_t *meta(const char *name, const char *ns, json_t *labels)
{
    json_t *m = json_pack("{s:s, s:O}", "name", name, "labels", labels);
    if (ns)
        json_object_set_new(m, "namespace", json_string(ns));
    return m;
}

static json_t *quota_spec(const json_t *plan, const planspec_isolation *iso, int suspended)
{
    json_t *hard = json_object();
    int dedicated = strcmp(iso->compute, "dedicated") == 0;
    json_t *q = json_object_get(json_object_get(plan, "spec"), "quotas");
    if (dedicated && !suspended) {
        static const char *const map[][2] = {{"cpu", "requests.cpu"},
                                             {"memory", "requests.memory"},
                                             {"storage", "requests.storage"}};
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
            json_t *v = json_object_get(q, map[i][0]);
            if (json_is_string(v))
                json_object_set(hard, map[i][1], v);
            else if (json_is_integer(v))
                json_object_set_new(hard, map[i][1],
                                    json_sprintf("%lld", (long long)json_integer_value(v)));
        }
        json_t *pods = json_object_get(q, "pods");
        if (json_is_integer(pods))
            json_object_set_new(hard, "pods", json_sprintf("%lld", (long long)json_integer_value(pods)));
    } else {
        /* Shared compute runs in the pool, and a suspended tenant runs nothing. */
        json_object_set_new(hard, "pods", json_string("0"));
    }
    json_t *objects = json_object_get(q, "objects");
    if (json_is_integer(objects)) {
        static const char *const counted[] = {"count/configmaps", "count/secrets", "count/services"};
        for (size_t i = 0; i < 3; i++)
            json_object_set_new(hard, counted[i],
                                json_sprintf("%lld", (long long)json_integer_value(objects)));
    }
    return json_pack("{s:o}", "hard", hard);
}

json_t *tenantspec_children(const json_t *tenant, const json_t *plan,
                            const planspec_isolation *iso, int suspended,
                            const char *system_ns)
{
    const char *name = str_at(tenant, "metadata.name", "");
    char ns[128];
    tenantspec_namespace(name, ns, sizeof ns);
    json_t *labels = labels_for(tenant, plan);
    json_t *out = json_array();

    /* The namespace is owned by the Tenant: deleting the Tenant (after its
     * finalizer ran) garbage-collects everything inside. */
    json_t *owner = json_pack("[{s:s, s:s, s:s, s:s, s:b, s:b}]", "apiVersion",
                              "paybill.dev/v1alpha1", "kind", "Tenant", "name", name, "uid",
                              str_at(tenant, "metadata.uid", ""), "controller", 1,
                              "blockOwnerDeletion", 1);
    json_t *nsmeta = meta(ns, NULL, labels);
    json_object_set_new(nsmeta, "ownerReferences", owner);
    json_array_append_new(out, child("", "v1", "namespaces", NULL,
                                     json_pack("{s:s, s:s, s:o}", "apiVersion", "v1", "kind",
                                               "Namespace", "metadata", nsmeta)));

    json_array_append_new(out, child("", "v1", "resourcequotas", ns,
                                     json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "v1", "kind",
                                               "ResourceQuota", "metadata",
                                               meta("tenant-quota", ns, labels), "spec",
                                               quota_spec(plan, iso, suspended))));

    if (strcmp(iso->compute, "dedicated") == 0) {
        json_t *lr = json_pack(
            "{s:s, s:s, s:o, s:{s:[{s:s, s:{s:s, s:s}, s:{s:s, s:s}}]}}", "apiVersion", "v1",
            "kind", "LimitRange", "metadata", meta("tenant-limits", ns, labels), "spec", "limits",
            "type", "Container", "defaultRequest", "cpu", "100m", "memory", "128Mi", "default",
            "cpu", "500m", "memory", "512Mi");
        json_array_append_new(out, child("", "v1", "limitranges", ns, lr));
    }

    json_t *iso_np = json_pack(
        "{s:s, s:s, s:o, s:{s:{}, s:[s], s:[{s:[{s:{}}, {s:{s:{s:s}}}]}]}}", "apiVersion",
        "networking.k8s.io/v1", "kind", "NetworkPolicy", "metadata",
        meta("tenant-isolation", ns, labels), "spec", "podSelector", "policyTypes", "Ingress",
        "ingress", "from", "podSelector", "namespaceSelector", "matchLabels",
        "kubernetes.io/metadata.name", system_ns);
    json_array_append_new(out, child("networking.k8s.io", "v1", "networkpolicies", ns, iso_np));
    if (suspended) {
        json_t *deny = json_pack("{s:s, s:s, s:o, s:{s:{}, s:[s, s]}}", "apiVersion",
                                 "networking.k8s.io/v1", "kind", "NetworkPolicy", "metadata",
                                 meta("tenant-suspended", ns, labels), "spec", "podSelector",
                                 "policyTypes", "Ingress", "Egress");
        json_array_append_new(out, child("networking.k8s.io", "v1", "networkpolicies", ns, deny));
    }

    json_array_append_new(out, child("", "v1", "serviceaccounts", ns,
                                     json_pack("{s:s, s:s, s:o}", "apiVersion", "v1", "kind",
                                               "ServiceAccount", "metadata",
                                               meta("paybill-agent", ns, labels))));

    /* The owner runs workloads and manages agent policies and workflows, but
     * cannot touch what isolates it (quota, limits, network policies, RBAC)
     * nor forge workflow status. */
    json_t *admin_role = json_pack(
        "{s:s, s:s, s:o, s:["
        "{s:[s], s:[s, s, s, s, s], s:[s]},"
        "{s:[s, s], s:[s, s, s], s:[s]},"
        "{s:[s, s], s:[s, s, s, s], s:[s, s, s]},"
        "{s:[s], s:[s, s], s:[s, s, s, s, s, s, s]},"
        "{s:[s], s:[s], s:[s, s, s]}]}",
        "apiVersion", "rbac.authorization.k8s.io/v1", "kind", "Role", "metadata",
        meta("tenant-admin", ns, labels), "rules",
        "apiGroups", "", "resources", "pods", "services", "configmaps", "secrets",
        "persistentvolumeclaims", "verbs", "*",
        "apiGroups", "apps", "batch", "resources", "deployments", "statefulsets", "jobs", "verbs", "*",
        "apiGroups", "", "networking.k8s.io", "resources", "resourcequotas", "limitranges",
        "networkpolicies", "events", "verbs", "get", "list", "watch",
        "apiGroups", "paybill.dev", "resources", "workflows", "agentpolicies", "verbs", "get",
        "list", "watch", "create", "update", "patch", "delete",
        "apiGroups", "paybill.dev", "resources", "workflows/status", "verbs", "get", "list", "watch");
    json_array_append_new(out, child("rbac.authorization.k8s.io", "v1", "roles", ns, admin_role));
    json_array_append_new(
        out, child("rbac.authorization.k8s.io", "v1", "rolebindings", ns,
                   json_pack("{s:s, s:s, s:o, s:{s:s, s:s, s:s}, s:[{s:s, s:s, s:s}]}",
                             "apiVersion", "rbac.authorization.k8s.io/v1", "kind", "RoleBinding",
                             "metadata", meta("tenant-admin", ns, labels), "roleRef", "apiGroup",
                             "rbac.authorization.k8s.io", "kind", "Role", "name", "tenant-admin",
                             "subjects", "apiGroup", "rbac.authorization.k8s.io", "kind", "User",
                             "name", str_at(tenant, "spec.owner.email", "owner"))));

    json_t *agent_role = json_pack(
        "{s:s, s:s, s:o, s:[{s:[s], s:[s], s:[s, s, s, s]}, {s:[s], s:[s], s:[s]}]}",
        "apiVersion", "rbac.authorization.k8s.io/v1", "kind", "Role", "metadata",
        meta("paybill-agent", ns, labels), "rules", "apiGroups", "paybill.dev", "resources",
        "workflows", "verbs", "create", "get", "list", "watch", "apiGroups", "paybill.dev",
        "resources", "workflows/status", "verbs", "get");
    json_array_append_new(out, child("rbac.authorization.k8s.io", "v1", "roles", ns, agent_role));
    json_array_append_new(
        out, child("rbac.authorization.k8s.io", "v1", "rolebindings", ns,
                   json_pack("{s:s, s:s, s:o, s:{s:s, s:s, s:s}, s:[{s:s, s:s, s:s}]}",
                             "apiVersion", "rbac.authorization.k8s.io/v1", "kind", "RoleBinding",
                             "metadata", meta("paybill-agent", ns, labels), "roleRef", "apiGroup",
                             "rbac.authorization.k8s.io", "kind", "Role", "name", "paybill-agent",
                             "subjects", "kind", "ServiceAccount", "name", "paybill-agent",
                             "namespace", ns)));
    json_decref(labels);
    return out;
}

char *tenantspec_route_entry(const json_t *tenant, const json_t *plan,
                             const planspec_isolation *iso, int suspended)
{
    const char *name = str_at(tenant, "metadata.name", "");
    char ns[128];
    json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:b}", "namespace",
                          tenantspec_namespace(name, ns, sizeof ns), "plan",
                          str_at(plan, "metadata.name", ""), "tier", str_at(plan, "spec.tier", ""),
                          "data", iso->data, "suspended", suspended);
    char *s = pb_json_dumps_canonical(e);
    json_decref(e);
    return s;
}

/* Compares the value at `key` in want with the one in have. */
typedef int (*member_match_fn)(const char *key, const json_t *want, const json_t *have);

/* Every member of want is in have, matched by eq. */
static int members_match(const json_t *want, const json_t *have, member_match_fn eq)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)want, k, v) {
        if (!eq(k, v, json_object_get(have, k)))
            return 0;
    }
    return 1;
}

/* Objects with exactly the same keys, members matched by eq; anything
 * else must be equal as JSON. */
static int object_matches(const json_t *want, const json_t *have, member_match_fn eq)
{
    if (!json_is_object(want) || !json_is_object(have) || json_object_size(want) != json_object_size(have))
        return json_equal(want, have);
    return members_match(want, have, eq);
}

static int equal_at(const char *key, const json_t *want, const json_t *have)
{
    (void)key;
    return json_equal(want, have);
}

static int subset_matches(const json_t *want, const json_t *have)
{
    return members_match(want, have, equal_at);
}

static int has_owner(const json_t *want_refs, const json_t *have_refs)
{
    size_t i, j;
    json_t *w, *h;
    json_array_foreach(want_refs, i, w) {
        int found = 0;
        json_array_foreach(have_refs, j, h) {
            if (json_equal(json_object_get(w, "uid"), json_object_get(h, "uid")))
                found = 1;
        }
        if (!found)
            return 0;
    }
    return 1;
}

/* A quantity the server may have rewritten ("1000m" -> "1") matches when
 * the values are equal; anything else must be equal as JSON. */
static int quantity_at(const char *key, const json_t *want, const json_t *have)
{
    (void)key;
    if (json_equal(want, have))
        return 1;
    const char *w = json_string_value(want), *h = json_string_value(have);
    return w && h && pb_quantity_equal(w, h);
}

/* A member of a LimitRange spec.limits item: its maps of resource name ->
 * quantity compare as quantities. */
static int limit_item_at(const char *key, const json_t *want, const json_t *have)
{
    static const char *const quantity_maps[] = {"default", "defaultRequest", "max", "min", "maxLimitRequestRatio",
                                                NULL};
    for (const char *const *q = quantity_maps; *q; q++)
        if (strcmp(*q, key) == 0)
            return object_matches(want, have, quantity_at);
    return json_equal(want, have);
}

/* A member of a LimitRange spec: limits holds the same items, in order. */
static int limitrange_spec_at(const char *key, const json_t *want, const json_t *have)
{
    if (strcmp(key, "limits") != 0 || !json_is_array(want) || !json_is_array(have) ||
        json_array_size(want) != json_array_size(have))
        return json_equal(want, have);
    for (size_t i = 0; i < json_array_size(want); i++)
        if (!object_matches(json_array_get(want, i), json_array_get(have, i), limit_item_at))
            return 0;
    return 1;
}

/* A member of a ResourceQuota spec: hard maps resource names to quantities. */
static int quota_spec_at(const char *key, const json_t *want, const json_t *have)
{
    return strcmp(key, "hard") == 0 ? object_matches(want, have, quantity_at) : json_equal(want, have);
}

/* spec of a ResourceQuota or LimitRange, whose quantities the API server
 * rewrites to canonical form; other kinds compare as JSON. */
static int spec_matches(const char *kind, const json_t *want, const json_t *have)
{
    if (kind && strcmp(kind, "ResourceQuota") == 0)
        return object_matches(want, have, quota_spec_at);
    if (kind && strcmp(kind, "LimitRange") == 0)
        return object_matches(want, have, limitrange_spec_at);
    return json_equal(want, have);
}

int tenantspec_child_matches(const json_t *desired, const json_t *live)
{
    const json_t *dm = json_object_get(desired, "metadata");
    const json_t *lm = json_object_get(live, "metadata");
    if (!subset_matches(json_object_get(dm, "labels"), json_object_get(lm, "labels")) ||
        !subset_matches(json_object_get(dm, "annotations"), json_object_get(lm, "annotations")) ||
        !has_owner(json_object_get(dm, "ownerReferences"), json_object_get(lm, "ownerReferences")))
        return 0;
    const char *kind = json_string_value(json_object_get(desired, "kind"));
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)desired, k, v) {
        if (strcmp(k, "metadata") == 0 || strcmp(k, "apiVersion") == 0 || strcmp(k, "kind") == 0 ||
            strcmp(k, "status") == 0)
            continue;
        json_t *have = json_object_get(live, k);
        if (!(strcmp(k, "spec") == 0 ? spec_matches(kind, v, have) : json_equal(v, have)))
            return 0;
    }
    return 1;
}
