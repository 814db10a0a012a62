/*
 * registry.c - the table of built-in resource types and the CRD-served ones.
 * See registry.h. Types are kept in a growable array of pointers; CRD
 * changes remove the CRD's entries and append fresh ones.
 */
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dv_registry {
    dv_rtype **types;
    size_t n, cap;
};

typedef struct builtin {
    const char *group, *version, *plural, *singular, *kind;
    int namespaced, has_status, has_generation, create_only;
    const char *short_names; /* comma-separated */
    const char *categories;
    const char *columns;     /* JSON array */
} builtin;

static const builtin BUILTINS[] = {
    {"", "v1", "namespaces", "namespace", "Namespace", 0, 1, 0, 0, "ns", NULL,
     "[{\"name\":\"Status\",\"type\":\"string\",\"jsonPath\":\".status.phase\"}]"},
    {"", "v1", "configmaps", "configmap", "ConfigMap", 1, 0, 0, 0, "cm", NULL, NULL},
    /* Stored only (nothing runs them); served so RBAC rules and manifests
     * naming pods resolve as on a real cluster. */
    {"", "v1", "pods", "pod", "Pod", 1, 1, 0, 0, "po", "all",
     "[{\"name\":\"Status\",\"type\":\"string\",\"jsonPath\":\".status.phase\"}]"},
    {"", "v1", "secrets", "secret", "Secret", 1, 0, 0, 0, NULL, NULL,
     "[{\"name\":\"Type\",\"type\":\"string\",\"jsonPath\":\".type\"}]"},
    {"", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", 1, 0, 0, 0, "sa", NULL, NULL},
    {"", "v1", "services", "service", "Service", 1, 1, 0, 0, "svc", "all",
     "[{\"name\":\"Type\",\"type\":\"string\",\"jsonPath\":\".spec.type\"},"
     "{\"name\":\"Cluster-IP\",\"type\":\"string\",\"jsonPath\":\".spec.clusterIP\"}]"},
    {"", "v1", "events", "event", "Event", 1, 0, 0, 0, "ev", NULL,
     "[{\"name\":\"Type\",\"type\":\"string\",\"jsonPath\":\".type\"},"
     "{\"name\":\"Reason\",\"type\":\"string\",\"jsonPath\":\".reason\"},"
     "{\"name\":\"Message\",\"type\":\"string\",\"jsonPath\":\".message\"}]"},
    {"", "v1", "resourcequotas", "resourcequota", "ResourceQuota", 1, 1, 0, 0, "quota", NULL, NULL},
    {"", "v1", "limitranges", "limitrange", "LimitRange", 1, 0, 0, 0, "limits", NULL, NULL},
    {"apps", "v1", "deployments", "deployment", "Deployment", 1, 1, 1, 0, "deploy", "all",
     "[{\"name\":\"Ready\",\"type\":\"ratio\",\"jsonPath\":\".status.readyReplicas/.spec.replicas\"},"
     "{\"name\":\"Up-to-date\",\"type\":\"integer\",\"jsonPath\":\".status.updatedReplicas\"},"
     "{\"name\":\"Available\",\"type\":\"integer\",\"jsonPath\":\".status.availableReplicas\"}]"},
    {"apps", "v1", "statefulsets", "statefulset", "StatefulSet", 1, 1, 1, 0, "sts", "all",
     "[{\"name\":\"Ready\",\"type\":\"ratio\",\"jsonPath\":\".status.readyReplicas/.spec.replicas\"}]"},
    {"batch", "v1", "jobs", "job", "Job", 1, 1, 1, 0, NULL, "all",
     "[{\"name\":\"Status\",\"type\":\"string\",\"jsonPath\":\".status.conditions[0].type\"},"
     "{\"name\":\"Completions\",\"type\":\"ratio\",\"jsonPath\":\".status.succeeded/.spec.completions\"}]"},
    {"networking.k8s.io", "v1", "networkpolicies", "networkpolicy", "NetworkPolicy", 1, 0, 1, 0, "netpol",
     NULL, NULL},
    {"rbac.authorization.k8s.io", "v1", "roles", "role", "Role", 1, 0, 0, 0, NULL, NULL, NULL},
    {"rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", 1, 0, 0, 0, NULL,
     NULL, NULL},
    {"rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", 0, 0, 0, 0, NULL,
     NULL, NULL},
    {"rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding",
     0, 0, 0, 0, NULL, NULL, NULL},
    {"coordination.k8s.io", "v1", "leases", "lease", "Lease", 1, 0, 0, 0, NULL, NULL, NULL},
    {"admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations",
     "validatingwebhookconfiguration", "ValidatingWebhookConfiguration", 0, 0, 1, 0, NULL,
     "api-extensions", NULL},
    {"admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "mutatingwebhookconfiguration",
     "MutatingWebhookConfiguration", 0, 0, 1, 0, NULL, "api-extensions", NULL},
    {"apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition",
     "CustomResourceDefinition", 0, 1, 1, 0, "crd,crds", "api-extensions",
     "[{\"name\":\"Created At\",\"type\":\"string\",\"jsonPath\":\".metadata.creationTimestamp\"}]"},
    {"authorization.k8s.io", "v1", "selfsubjectaccessreviews", "selfsubjectaccessreview",
     "SelfSubjectAccessReview", 0, 0, 0, 1, NULL, NULL, NULL},
    {"authorization.k8s.io", "v1", "subjectaccessreviews", "subjectaccessreview", "SubjectAccessReview", 0,
     0, 0, 1, NULL, NULL, NULL},
    {"authorization.k8s.io", "v1", "localsubjectaccessreviews", "localsubjectaccessreview",
     "LocalSubjectAccessReview", 1, 0, 0, 1, NULL, NULL, NULL},
    {"authorization.k8s.io", "v1", "selfsubjectrulesreviews", "selfsubjectrulesreview", "SelfSubjectRulesReview",
     0, 0, 0, 1, NULL, NULL, NULL},
    {"authentication.k8s.io", "v1", "selfsubjectreviews", "selfsubjectreview", "SelfSubjectReview", 0, 0, 0, 1,
     NULL, NULL, NULL},
};

/* Built-ins whose kube-apiserver strategy returns false from
 * AllowUnconditionalUpdate, and true from AllowCreateOnUpdate
 * (pkg/registry/<group>/<kind>/strategy.go, v1.37), as "group/plural". */
static const char *const UPDATE_NEEDS_RV[] = {
    "coordination.k8s.io/leases", "admissionregistration.k8s.io/validatingwebhookconfigurations",
    "admissionregistration.k8s.io/mutatingwebhookconfigurations", "apiextensions.k8s.io/customresourcedefinitions",
    NULL};
static const char *const CREATE_ON_UPDATE[] = {
    "coordination.k8s.io/leases", "rbac.authorization.k8s.io/roles", "rbac.authorization.k8s.io/rolebindings",
    "rbac.authorization.k8s.io/clusterroles", "rbac.authorization.k8s.io/clusterrolebindings", "/services",
    "/events", "/limitranges", NULL};

static int listed(const char *const *list, const char *group, const char *plural)
{
    size_t gl = strlen(group);
    for (; *list; list++)
        if (!strncmp(*list, group, gl) && (*list)[gl] == '/' && !strcmp(*list + gl + 1, plural))
            return 1;
    return 0;
}

static const char *const ALL_VERBS[] = {"create", "delete", "deletecollection", "get", "list",
                                        "patch", "update", "watch", NULL};

static json_t *csv_array(const char *csv)
{
    json_t *a = json_array();
    while (csv && *csv) {
        const char *c = strchr(csv, ',');
        size_t len = c ? (size_t)(c - csv) : strlen(csv);
        json_array_append_new(a, json_stringn(csv, len));
        csv = c ? c + 1 : NULL;
    }
    return a;
}

static void rtype_free(dv_rtype *t)
{
    if (!t)
        return;
    free(t->group);
    free(t->version);
    free(t->plural);
    free(t->singular);
    free(t->kind);
    free(t->list_kind);
    free(t->crd_uid);
    json_decref(t->verbs);
    json_decref(t->short_names);
    json_decref(t->categories);
    json_decref(t->columns);
    json_decref(t->schema);
    json_decref(t->selectable);
    free(t);
}

static void add(dv_registry *r, dv_rtype *t)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 32;
        r->types = realloc(r->types, r->cap * sizeof(*r->types));
    }
    r->types[r->n++] = t;
}

static dv_rtype *rtype_new(const char *group, const char *version, const char *plural,
                           const char *singular, const char *kind)
{
    dv_rtype *t = calloc(1, sizeof(*t));
    t->group = strdup(group);
    t->version = strdup(version);
    t->plural = strdup(plural);
    t->singular = strdup(singular && *singular ? singular : kind);
    if (!singular || !*singular) /* CRDs default singular to lowercase kind */
        for (char *p = t->singular; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    t->kind = strdup(kind);
    size_t n = strlen(kind) + 5;
    t->list_kind = malloc(n);
    snprintf(t->list_kind, n, "%sList", kind);
    return t;
}

dv_registry *dv_registry_new(void)
{
    dv_registry *r = calloc(1, sizeof(*r));
    for (size_t i = 0; i < sizeof(BUILTINS) / sizeof(BUILTINS[0]); i++) {
        const builtin *b = &BUILTINS[i];
        dv_rtype *t = rtype_new(b->group, b->version, b->plural, b->singular, b->kind);
        t->namespaced = b->namespaced;
        t->has_status = b->has_status;
        t->has_generation = b->has_generation;
        t->create_only = b->create_only;
        t->update_needs_rv = listed(UPDATE_NEEDS_RV, b->group, b->plural);
        t->create_on_update = listed(CREATE_ON_UPDATE, b->group, b->plural);
        t->storage = 1;
        t->verbs = json_array();
        if (b->create_only)
            json_array_append_new(t->verbs, json_string("create"));
        else
            for (const char *const *v = ALL_VERBS; *v; v++)
                json_array_append_new(t->verbs, json_string(*v));
        t->short_names = csv_array(b->short_names);
        t->categories = csv_array(b->categories);
        t->columns = b->columns ? json_loads(b->columns, 0, NULL) : json_array();
        /* Built-in printers end with Age, except the CRD one (Created At). */
        if (strcmp(b->plural, "customresourcedefinitions"))
            json_array_append_new(t->columns, json_pack("{s:s,s:s,s:s}", "name", "Age", "type", "date", "jsonPath",
                                                        ".metadata.creationTimestamp"));
        add(r, t);
    }
    return r;
}

void dv_registry_free(dv_registry *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        rtype_free(r->types[i]);
    free(r->types);
    free(r);
}

const dv_rtype *dv_registry_find(const dv_registry *r, const char *group, const char *version,
                                 const char *plural)
{
    for (size_t i = 0; i < r->n; i++) {
        const dv_rtype *t = r->types[i];
        if (!strcmp(t->group, group) && !strcmp(t->version, version) && !strcmp(t->plural, plural))
            return t;
    }
    return NULL;
}

const dv_rtype *dv_registry_find_any(const dv_registry *r, const char *group, const char *plural)
{
    const dv_rtype *first = NULL;
    for (size_t i = 0; i < r->n; i++) {
        const dv_rtype *t = r->types[i];
        if (strcmp(t->group, group) || strcmp(t->plural, plural))
            continue;
        if (t->storage)
            return t;
        if (!first)
            first = t;
    }
    return first;
}

const dv_rtype *dv_registry_at(const dv_registry *r, size_t i) { return i < r->n ? r->types[i] : NULL; }

/* Field labels per kind (pkg/apis/<group>/v1/conversion.go, v1.37), each
 * list "group/plural" then labels, NULL-terminated. */
static const char *const *const FIELD_LABELS[] = {
    (const char *const[]){"/pods", "metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy",
                          "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
                          "status.podIP", "status.podIPs", "status.nominatedNodeName", NULL},
    (const char *const[]){"/events", "involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                          "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                          "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type",
                          "metadata.namespace", "metadata.name", NULL},
    (const char *const[]){"/namespaces", "status.phase", "metadata.name", NULL},
    (const char *const[]){"/secrets", "type", "metadata.namespace", "metadata.name", NULL},
    (const char *const[]){"/services", "metadata.namespace", "metadata.name", "spec.clusterIP", "spec.type", NULL},
    (const char *const[]){"batch/jobs", "metadata.name", "metadata.namespace", "status.successful", NULL},
    NULL,
};

int dv_rtype_field_label_ok(const dv_rtype *rt, const char *label, char *msg, size_t n)
{
    if (rt->is_crd) {
        /* apiextensions' crConverter.ConvertFieldLabel */
        if (!strcmp(label, "metadata.name") || (rt->namespaced && !strcmp(label, "metadata.namespace")))
            return 0;
        size_t i;
        json_t *v;
        json_array_foreach(rt->selectable, i, v)
            if (!strcmp(json_string_value(v), label))
                return 0;
        snprintf(msg, n, "field label not supported: %s", label);
        return -1;
    }
    for (size_t k = 0; FIELD_LABELS[k]; k++) {
        const char *const *l = FIELD_LABELS[k];
        if (!listed((const char *const[]){l[0], NULL}, rt->group, rt->plural))
            continue;
        for (l++; *l; l++)
            if (!strcmp(*l, label))
                return 0;
        if (!strcmp(rt->plural, "jobs"))
            snprintf(msg, n, "field label \"%s\" not supported for Job", label);
        else
            snprintf(msg, n, "field label not supported: %s", label);
        return -1;
    }
    /* runtime.DefaultMetaV1FieldSelectorConversion */
    if (!strcmp(label, "metadata.name") || !strcmp(label, "metadata.namespace"))
        return 0;
    snprintf(msg, n, "\"%s\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"", label);
    return -1;
}

void dv_registry_crd_stored(dv_registry *r, const json_t *crd, uint64_t rv)
{
    const json_t *spec = json_object_get(crd, "spec");
    const char *group = json_string_value(json_object_get(spec, "group"));
    const char *plural = json_string_value(json_object_get(json_object_get(spec, "names"), "plural"));
    if (!group || !plural)
        return;
    for (size_t i = 0; i < r->n; i++) {
        dv_rtype *t = r->types[i];
        if (t->is_crd && !t->watch_floor && !strcmp(t->group, group) && !strcmp(t->plural, plural))
            t->watch_floor = rv;
    }
}

void dv_registry_remove_crd(dv_registry *r, const char *group, const char *plural)
{
    size_t j = 0;
    for (size_t i = 0; i < r->n; i++) {
        dv_rtype *t = r->types[i];
        if (t->is_crd && !strcmp(t->group, group) && !strcmp(t->plural, plural))
            rtype_free(t);
        else
            r->types[j++] = t;
    }
    r->n = j;
}

int dv_registry_apply_crd(dv_registry *r, const json_t *crd, char *msg, size_t n)
{
    const json_t *spec = json_object_get(crd, "spec");
    const json_t *names = json_object_get(spec, "names");
    const char *group = json_string_value(json_object_get(spec, "group"));
    const char *plural = json_string_value(json_object_get(names, "plural"));
    const char *kind = json_string_value(json_object_get(names, "kind"));
    const char *singular = json_string_value(json_object_get(names, "singular"));
    const char *scope = json_string_value(json_object_get(spec, "scope"));
    const json_t *versions = json_object_get(spec, "versions");
    if (!group || !plural || !kind || !json_is_array(versions) || !json_array_size(versions)) {
        snprintf(msg, n, "spec.group, spec.names.plural, spec.names.kind and spec.versions are required");
        return -1;
    }
    for (size_t i = 0; i < r->n; i++) {
        const dv_rtype *t = r->types[i];
        if (!t->is_crd && !strcmp(t->group, group) && !strcmp(t->plural, plural)) {
            snprintf(msg, n, "%s.%s is a built-in resource", plural, group);
            return -1;
        }
    }
    /* The same definition (uid, generation) keeps its watch cache, and so
     * its floor; another one starts a new cache. */
    const json_t *md = json_object_get(crd, "metadata");
    const char *uid = json_string_value(json_object_get(md, "uid"));
    long long generation = json_integer_value(json_object_get(md, "generation"));
    uint64_t floor = 0;
    for (size_t k = 0; k < r->n; k++) {
        const dv_rtype *t = r->types[k];
        if (t->is_crd && !strcmp(t->group, group) && !strcmp(t->plural, plural) && uid && t->crd_uid &&
            !strcmp(t->crd_uid, uid) && t->crd_generation == generation)
            floor = t->watch_floor;
    }
    dv_registry_remove_crd(r, group, plural);
    size_t i;
    json_t *v;
    json_array_foreach(versions, i, v) {
        const char *vname = json_string_value(json_object_get(v, "name"));
        if (!vname || !json_is_true(json_object_get(v, "served")))
            continue;
        dv_rtype *t = rtype_new(group, vname, plural, singular, kind);
        t->namespaced = !scope || strcmp(scope, "Cluster") != 0;
        t->is_crd = 1;
        t->has_generation = 1;
        t->update_needs_rv = 1; /* customResourceStrategy.AllowUnconditionalUpdate */
        t->watch_floor = floor;
        t->crd_uid = uid ? strdup(uid) : NULL;
        t->crd_generation = generation;
        t->storage = json_is_true(json_object_get(v, "storage"));
        t->has_status = json_object_get(json_object_get(v, "subresources"), "status") != NULL;
        t->verbs = json_array();
        for (const char *const *vb = ALL_VERBS; *vb; vb++)
            json_array_append_new(t->verbs, json_string(*vb));
        json_t *sn = json_object_get(names, "shortNames");
        t->short_names = json_is_array(sn) ? json_deep_copy(sn) : json_array();
        json_t *cat = json_object_get(names, "categories");
        t->categories = json_is_array(cat) ? json_deep_copy(cat) : json_array();
        /* As apiextensions defaults it: no columns means just Age; listed
         * columns are shown exactly (Age only if listed). */
        json_t *cols = json_object_get(v, "additionalPrinterColumns");
        t->columns = json_is_array(cols) && json_array_size(cols)
                         ? json_deep_copy(cols)
                         : json_pack("[{s:s,s:s,s:s}]", "name", "Age", "type", "date", "jsonPath",
                                     ".metadata.creationTimestamp");
        size_t k;
        json_t *sf;
        json_array_foreach(json_object_get(v, "selectableFields"), k, sf) {
            const char *jp = json_string_value(json_object_get(sf, "jsonPath"));
            if (!jp)
                continue;
            if (!t->selectable)
                t->selectable = json_array();
            json_array_append_new(t->selectable, json_string(jp[0] == '.' ? jp + 1 : jp));
        }
        json_t *schema = json_object_get(json_object_get(v, "schema"), "openAPIV3Schema");
        t->schema = schema ? json_deep_copy(schema) : NULL;
        add(r, t);
    }
    return 0;
}

json_t *dv_registry_groups(const dv_registry *r)
{
    json_t *groups = json_array();
    for (size_t i = 0; i < r->n; i++) {
        const dv_rtype *t = r->types[i];
        if (!*t->group)
            continue;
        json_t *g = NULL;
        size_t j;
        json_t *e;
        json_array_foreach(groups, j, e)
            if (!strcmp(json_string_value(json_object_get(e, "name")), t->group))
                g = e;
        if (!g) {
            g = json_pack("{s:s,s:[],s:s}", "name", t->group, "versions", "preferred", t->version);
            json_array_append_new(groups, g);
        }
        json_t *vs = json_object_get(g, "versions");
        int seen = 0;
        json_array_foreach(vs, j, e)
            seen |= !strcmp(json_string_value(e), t->version);
        if (!seen)
            json_array_append_new(vs, json_string(t->version));
        if (t->storage)
            json_object_set_new(g, "preferred", json_string(t->version));
    }
    return groups;
}
