/*
 * tenantspec.c - desired children of a Tenant (see tenantspec.h), the
 * ownership test that keeps the operator out of namespaces it did not
 * create, and drift comparison.
 */
#include "controllers/tenantspec.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Count of objects as the quota wants it: a decimal string. */
static json_t *count_str(long long v)
{
    return json_sprintf("%lld", v);
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
                json_object_set_new(hard, map[i][1], count_str((long long)json_integer_value(v)));
        }
        json_t *pods = json_object_get(q, "pods");
        if (json_is_integer(pods))
            json_object_set_new(hard, "pods", count_str((long long)json_integer_value(pods)));
    } else {
        /* Shared compute runs in the pool, and a suspended tenant runs nothing. */
        json_object_set_new(hard, "pods", json_string("0"));
    }
    /* A NodePort opens a port on every node and a LoadBalancer an address
     * outside the cluster: none unless the plan grants them. */
    json_object_set_new(hard, "services.nodeports", count_str(planspec_node_ports(plan)));
    json_object_set_new(hard, "services.loadbalancers", count_str(planspec_load_balancers(plan)));
    json_t *objects = json_object_get(q, "objects");
    if (json_is_integer(objects)) {
        static const char *const counted[] = {"count/configmaps", "count/secrets", "count/services"};
        for (size_t i = 0; i < 3; i++)
            json_object_set_new(hard, counted[i], count_str((long long)json_integer_value(objects)));
    }
    return json_pack("{s:o}", "hard", hard);
}

/* ---- database egress ---------------------------------------------------- */

/* IPv4 addresses no tenant may ever reach: link-local (cloud metadata at
 * 169.254.169.254, ECS task metadata at 169.254.170.2) and Alibaba Cloud's
 * metadata service. */
static const char *const v4_forbidden[] = {"169.254.0.0/16", "100.100.100.200/32", NULL};
/* IPv6: link-local, and AWS's IPv6 metadata endpoint. */
static const char *const v6_forbidden[] = {"fe80::/10", "fd00:ec2::254/128", NULL};

static int v4_forbidden_addr(const unsigned char a[4])
{
    return (a[0] == 169 && a[1] == 254) || (a[0] == 100 && a[1] == 100 && a[2] == 100 && a[3] == 200) ||
           (a[0] == 0 && a[1] == 0 && a[2] == 0 && a[3] == 0);
}

static int v6_forbidden_addr(const unsigned char a[16])
{
    static const unsigned char ec2[16] = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54};
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char zero[16] = {0};
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
        return 1;
    if (memcmp(a, ec2, 16) == 0 || memcmp(a, zero, 16) == 0)
        return 1;
    /* ::ffff:169.254.169.254 is the same place by another name. */
    return memcmp(a, mapped, 12) == 0 && v4_forbidden_addr(a + 12);
}

static json_t *ip_block(const char *cidr, const char *const *except)
{
    json_t *b = json_pack("{s:s}", "cidr", cidr);
    if (except) {
        json_t *ex = json_array();
        for (const char *const *e = except; *e; e++)
            json_array_append_new(ex, json_string(*e));
        json_object_set_new(b, "except", ex);
    }
    return json_pack("{s:o}", "ipBlock", b);
}

json_t *tenantspec_database_egress(const char *endpoint)
{
    if (!endpoint || !*endpoint)
        return NULL;
    const char *colon = strrchr(endpoint, ':');
    if (!colon || colon == endpoint)
        return NULL;
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (!end || *end || end == colon + 1 || port < 1 || port > 65535)
        return NULL;
    char host[256];
    size_t hl = (size_t)(colon - endpoint);
    if (hl >= sizeof host)
        return NULL;
    memcpy(host, endpoint, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') { /* [v6]:port */
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    unsigned char addr[16];
    char cidr[300];
    json_t *to;
    if (inet_pton(AF_INET, host, addr) == 1) {
        if (v4_forbidden_addr(addr))
            return NULL;
        snprintf(cidr, sizeof cidr, "%s/32", host);
        to = json_pack("[o]", ip_block(cidr, NULL));
    } else if (inet_pton(AF_INET6, host, addr) == 1) {
        if (v6_forbidden_addr(addr))
            return NULL;
        snprintf(cidr, sizeof cidr, "%s/128", host);
        to = json_pack("[o]", ip_block(cidr, NULL));
    } else {
        /* A name resolves to addresses a NetworkPolicy cannot know: allow
         * the port anywhere but where metadata services live. Other tenants
         * stay out of reach through their own ingress rules. */
        to = json_pack("[o, o]", ip_block("0.0.0.0/0", v4_forbidden), ip_block("::/0", v6_forbidden));
    }
    return json_pack("{s:o, s:[{s:s, s:i}]}", "to", to, "ports", "protocol", "TCP", "port", (int)port);
}

/* ---- network policies ---------------------------------------------------- */

static json_t *isolation_policy(const json_t *tenant, const char *ns, const char *system_ns,
                                json_t *labels)
{
    /* Ingress: the namespace itself, and Paybill's own pods in the system
     * namespace, not every pod that happens to run there. */
    json_t *ingress = json_pack("[{s:[{s:{}}, {s:{s:{s:s}}, s:{s:{s:s}}}]}]", "from", "podSelector",
                                "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name",
                                system_ns, "podSelector", "matchLabels", TENANTSPEC_SYSTEM_POD_LABEL,
                                TENANTSPEC_SYSTEM_POD_VALUE);
    /* Egress: the namespace, cluster DNS, the tenant's database. Nothing
     * else: not other tenants, not the operator, not the node's metadata
     * service. */
    json_t *egress = json_pack(
        "[{s:[{s:{}}]}, {s:[{s:{s:{s:s}}, s:{s:{s:s}}}], s:[{s:s, s:i}, {s:s, s:i}]}]", "to",
        "podSelector", "to", "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name",
        "kube-system", "podSelector", "matchLabels", "k8s-app", "kube-dns", "ports", "protocol", "UDP",
        "port", 53, "protocol", "TCP", "port", 53);
    const char *endpoint = str_at(tenant, "status.database.endpoint", NULL);
    json_t *db = tenantspec_database_egress(endpoint);
    if (db)
        json_array_append_new(egress, db);
    return json_pack("{s:s, s:s, s:o, s:{s:{}, s:[s, s], s:o, s:o}}", "apiVersion",
                     "networking.k8s.io/v1", "kind", "NetworkPolicy", "metadata",
                     meta("tenant-isolation", ns, labels), "spec", "podSelector", "policyTypes",
                     "Ingress", "Egress", "ingress", ingress, "egress", egress);
}

/* ---- RBAC ---------------------------------------------------------------- */

static json_t *binding(const char *name, const char *ns, json_t *labels, const char *cluster_role,
                       json_t *subject)
{
    return json_pack("{s:s, s:s, s:o, s:{s:s, s:s, s:s}, s:[o]}", "apiVersion",
                     "rbac.authorization.k8s.io/v1", "kind", "RoleBinding", "metadata",
                     meta(name, ns, labels), "roleRef", "apiGroup", "rbac.authorization.k8s.io", "kind",
                     "ClusterRole", "name", cluster_role, "subjects", subject);
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
     * finalizer ran) garbage-collects it and everything inside. Pod
     * Security admission holds its pods to the plan's level: enforce
     * refuses, warn tells kubectl users, audit records. */
    json_t *owner = json_pack("[{s:s, s:s, s:s, s:s, s:b, s:b}]", "apiVersion",
                              "paybill.dev/v1alpha1", "kind", "Tenant", "name", name, "uid",
                              str_at(tenant, "metadata.uid", ""), "controller", 1,
                              "blockOwnerDeletion", 1);
    json_t *ns_labels = json_deep_copy(labels);
    const char *pss = planspec_pod_security(plan);
    static const char *const modes[] = {"enforce", "warn", "audit"};
    for (size_t i = 0; i < 3; i++) {
        char key[96];
        snprintf(key, sizeof key, "pod-security.kubernetes.io/%s", modes[i]);
        json_object_set_new(ns_labels, key, json_string(pss));
        snprintf(key, sizeof key, "pod-security.kubernetes.io/%s-version", modes[i]);
        json_object_set_new(ns_labels, key, json_string("latest"));
    }
    json_t *nsmeta = meta(ns, NULL, ns_labels);
    json_decref(ns_labels);
    json_object_set_new(nsmeta, "ownerReferences", owner);
    json_array_append_new(out, child("", "v1", "namespaces", NULL,
                                     json_pack("{s:s, s:s, s:o}", "apiVersion", "v1", "kind",
                                               "Namespace", "metadata", nsmeta)));

    /* Right after the namespace: what lets the operator write the rest.
     * Its rights in tenant namespaces come from this binding alone, so it
     * holds them only in namespaces it created. */
    json_array_append_new(
        out, child("rbac.authorization.k8s.io", "v1", "rolebindings", ns,
                   binding(TENANTSPEC_BINDING_OPERATOR, ns, labels, TENANTSPEC_CLUSTERROLE_OPERATOR,
                           json_pack("{s:s, s:s, s:s}", "kind", "ServiceAccount", "name",
                                     TENANTSPEC_OPERATOR_SA, "namespace", system_ns))));

    json_array_append_new(out, child("", "v1", "resourcequotas", ns,
                                     json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "v1", "kind",
                                               "ResourceQuota", "metadata",
                                               meta(TENANTSPEC_QUOTA_NAME, ns, labels), "spec",
                                               quota_spec(plan, iso, suspended))));

    if (strcmp(iso->compute, "dedicated") == 0) {
        json_t *lr = json_pack(
            "{s:s, s:s, s:o, s:{s:[{s:s, s:{s:s, s:s}, s:{s:s, s:s}}]}}", "apiVersion", "v1",
            "kind", "LimitRange", "metadata", meta("tenant-limits", ns, labels), "spec", "limits",
            "type", "Container", "defaultRequest", "cpu", "100m", "memory", "128Mi", "default",
            "cpu", "500m", "memory", "512Mi");
        json_array_append_new(out, child("", "v1", "limitranges", ns, lr));
    }

    /* NetworkPolicies add up: while suspended, the deny-all policy must be
     * the only one, or the isolation policy's allows would still apply. */
    if (!suspended) {
        json_array_append_new(out, child("networking.k8s.io", "v1", "networkpolicies", ns,
                                         isolation_policy(tenant, ns, system_ns, labels)));
    } else {
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

    /* The owner runs workloads and manages agent policies and workflows
     * (ClusterRole paybill-tenant-admin: not its quota, limits, network
     * policies or RBAC, nor workflow status); the agent only creates
     * Workflows and reads their status (paybill-tenant-agent). */
    json_array_append_new(
        out, child("rbac.authorization.k8s.io", "v1", "rolebindings", ns,
                   binding(TENANTSPEC_BINDING_ADMIN, ns, labels, TENANTSPEC_CLUSTERROLE_ADMIN,
                           json_pack("{s:s, s:s, s:s}", "apiGroup", "rbac.authorization.k8s.io",
                                     "kind", "User", "name",
                                     str_at(tenant, "spec.owner.email", "owner")))));
    json_array_append_new(
        out, child("rbac.authorization.k8s.io", "v1", "rolebindings", ns,
                   binding(TENANTSPEC_BINDING_AGENT, ns, labels, TENANTSPEC_CLUSTERROLE_AGENT,
                           json_pack("{s:s, s:s, s:s}", "kind", "ServiceAccount", "name",
                                     "paybill-agent", "namespace", ns))));
    json_decref(labels);
    return out;
}

int tenantspec_namespace_owned(const json_t *nsobj, const char *tenant, const char *uid, char *why,
                               size_t n)
{
    const char *name = str_at(nsobj, "metadata.name", "");
    json_t *labels = json_object_get(json_object_get(nsobj, "metadata"), "labels");
    const char *managed = json_string_value(json_object_get(labels, TENANTSPEC_LABEL_MANAGED));
    const char *t = json_string_value(json_object_get(labels, TENANTSPEC_LABEL_TENANT));
    if (!managed || strcmp(managed, TENANTSPEC_MANAGER) != 0) {
        snprintf(why, n,
                 "namespace %s exists and was not created by Paybill (label %s=%s is missing); "
                 "refusing to adopt it: delete or rename it, or give the tenant another name",
                 name, TENANTSPEC_LABEL_MANAGED, TENANTSPEC_MANAGER);
        return 0;
    }
    if (!t || strcmp(t, tenant) != 0) {
        snprintf(why, n,
                 "namespace %s exists and is not this tenant's (label %s=%s is missing); refusing to adopt it",
                 name, TENANTSPEC_LABEL_TENANT, tenant);
        return 0;
    }
    size_t i;
    json_t *ref;
    json_array_foreach(json_object_get(json_object_get(nsobj, "metadata"), "ownerReferences"), i, ref) {
        if (!json_is_true(json_object_get(ref, "controller")))
            continue;
        const char *kind = json_string_value(json_object_get(ref, "kind"));
        const char *ruid = json_string_value(json_object_get(ref, "uid"));
        const char *rname = json_string_value(json_object_get(ref, "name"));
        int ours = kind && strcmp(kind, "Tenant") == 0 && (!uid || (ruid && strcmp(ruid, uid) == 0));
        if (!ours) {
            snprintf(why, n, "namespace %s is controlled by %s \"%s\" (uid %s); refusing to adopt it", name,
                     kind ? kind : "?", rname ? rname : "?", ruid ? ruid : "?");
            return 0;
        }
    }
    return 1;
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
