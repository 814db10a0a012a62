/*
 * agent_policies.c - per-namespace compiled AgentPolicies (see
 * agent_policies.h): a fingerprint of what a view depends on decides
 * whether the cached view is still good; otherwise a new one is compiled
 * under the cache lock and swapped in.
 */
#include "controllers/agent_policies.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controllers/tenantspec.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/secret.h"

#define BUCKETS 256

struct agentpol_view {
    atomic_int refs;
    char *ns, *tenant, *fingerprint;
    char problem[PB_ERR_MSG_MAX + 256];
    pb_dm_model *model;
    pb_pol_limits limits;
    json_t *features;
    size_t n;
    pb_pol **pols;
    pb_polset *set;
    struct agentpol_view *next; /* bucket chain (only while cached) */
};

struct agentpol_cache {
    agentpol_sources src;
    pthread_mutex_t mu;
    agentpol_view *buckets[BUCKETS];
};

static unsigned hash_str(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

int agentpol_cache_new(const agentpol_sources *src, agentpol_cache **out, pb_err *e)
{
    *out = NULL;
    if (!src || !src->policies || !src->tenants || !src->plans || !src->datamodels)
        return pb_err_set(e, PB_EINVAL, "agentpol_cache_new: every store is required");
    agentpol_cache *c = calloc(1, sizeof *c);
    if (!c)
        return pb_err_set(e, PB_ENOMEM, "out of memory");
    c->src = *src;
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return 0;
}

static void view_free(agentpol_view *v)
{
    pb_polset_free(v->set);
    for (size_t i = 0; i < v->n; i++)
        pb_pol_free(v->pols[i]);
    free(v->pols);
    pb_dm_free(v->model);
    json_decref(v->features);
    free(v->ns);
    free(v->tenant);
    free(v->fingerprint);
    free(v);
}

void agentpol_put(agentpol_view *v)
{
    if (v && atomic_fetch_sub(&v->refs, 1) == 1)
        view_free(v);
}

void agentpol_cache_free(agentpol_cache *c)
{
    if (!c)
        return;
    for (size_t b = 0; b < BUCKETS; b++)
        for (agentpol_view *v = c->buckets[b], *next; v; v = next) {
            next = v->next;
            agentpol_put(v);
        }
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* What a namespace's view depends on, gathered from the caches. */
typedef struct inputs {
    json_t *tenant, *plan, *dm, *policies; /* owned; policies sorted by name */
    const json_t *applied;                 /* the DataModel's status.appliedModel */
    const char *tenant_name, *dm_name;
} inputs;

static void inputs_clear(inputs *in)
{
    json_decref(in->tenant);
    json_decref(in->plan);
    json_decref(in->dm);
    json_decref(in->policies);
    memset(in, 0, sizeof *in);
}

static const char *meta_str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(json_object_get(o, "metadata"), k));
}

static long long meta_gen(const json_t *o)
{
    return (long long)json_integer_value(json_object_get(json_object_get(o, "metadata"), "generation"));
}

static int by_name(const void *a, const void *b)
{
    const char *x = meta_str(*(json_t *const *)a, "name"), *y = meta_str(*(json_t *const *)b, "name");
    return strcmp(x ? x : "", y ? y : "");
}

static json_t *sorted_policies(store *st, const char *ns)
{
    json_t *arr = store_by_index(st, STORE_INDEX_NAMESPACE, ns, NULL);
    if (!arr)
        return json_array();
    size_t n = json_array_size(arr);
    json_t **items = n ? malloc(n * sizeof *items) : NULL;
    if (n && !items) {
        json_decref(arr);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        items[i] = json_incref(json_array_get(arr, i));
    if (n)
        qsort(items, n, sizeof *items, by_name);
    json_array_clear(arr);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, items[i]);
    free(items);
    return arr;
}

static void gather(const agentpol_cache *c, const char *ns, inputs *in)
{
    memset(in, 0, sizeof *in);
    in->policies = sorted_policies(c->src.policies, ns);
    static const char prefix[] = "tenant-";
    if (strncmp(ns, prefix, sizeof prefix - 1) != 0)
        return;
    in->tenant = store_get(c->src.tenants, ns + sizeof prefix - 1);
    const char *owned = NULL;
    pb_json_opt_string(in->tenant, "status.namespace", NULL, &owned, NULL);
    if (!owned || strcmp(owned, ns) != 0) { /* not provisioned (yet), or not this namespace */
        json_decref(in->tenant);
        in->tenant = NULL;
        return;
    }
    in->tenant_name = meta_str(in->tenant, "name");
    const char *plan = NULL;
    pb_json_opt_string(in->tenant, "status.plan", NULL, &plan, NULL);
    if (plan)
        in->plan = store_get(c->src.plans, plan);
    pb_json_opt_string(in->tenant, "status.database.dataModel", NULL, &in->dm_name, NULL);
    if (in->dm_name)
        in->dm = store_get(c->src.datamodels, in->dm_name);
    in->applied = json_object_get(json_object_get(in->dm, "status"), "appliedModel");
}

/* A digest of everything the view is built from: equal fingerprints, same
 * view. The applied model is hashed whole (its content, not its version
 * alone, is what policies are checked against). */
static char *fingerprint(const char *ns, const inputs *in)
{
    pb_buf b = {0};
    pb_buf_printf(&b, "ns=%s;", ns);
    if (in->tenant)
        pb_buf_printf(&b, "tenant=%s/%s;", in->tenant_name ? in->tenant_name : "",
                       meta_str(in->tenant, "uid") ? meta_str(in->tenant, "uid") : "");
    if (in->plan)
        pb_buf_printf(&b, "plan=%s/%lld;", meta_str(in->plan, "uid") ? meta_str(in->plan, "uid") : "",
                       meta_gen(in->plan));
    if (in->dm_name)
        pb_buf_printf(&b, "dm=%s;", in->dm_name);
    if (in->applied) {
        char *model = json_dumps(in->applied, JSON_COMPACT | JSON_SORT_KEYS);
        char hex[PB_SHA256_HEX_LEN] = "";
        if (model)
            pb_secret_sha256_hex(model, strlen(model), hex, NULL);
        free(model);
        pb_buf_printf(&b, "model=%s;", hex);
    }
    size_t i;
    json_t *p;
    json_array_foreach(in->policies, i, p)
        pb_buf_printf(&b, "p=%s/%s/%lld;", meta_str(p, "name") ? meta_str(p, "name") : "",
                       meta_str(p, "uid") ? meta_str(p, "uid") : "", meta_gen(p));
    if (b.oom) {
        pb_buf_free(&b);
        return NULL;
    }
    return pb_buf_take(&b, NULL);
}

static int compile_one(const agentpol_view *v, const json_t *obj, pb_pol **out, pb_err *e)
{
    pb_pol_opts o = {.ns = v->ns, .name = meta_str(obj, "name"), .generation = meta_gen(obj),
                     .plan = &v->limits};
    return pb_pol_compile(json_object_get(obj, "spec"), v->model, &o, out, e);
}

int agentpol_compile(const agentpol_view *v, const json_t *obj, pb_pol **out, pb_err *e)
{
    return compile_one(v, obj, out, e);
}

static int build(const char *ns, const inputs *in, char *fp, agentpol_view **out, pb_err *e)
{
    agentpol_view *v = calloc(1, sizeof *v);
    if (!v) {
        free(fp);
        return pb_err_set(e, PB_ENOMEM, "out of memory");
    }
    atomic_init(&v->refs, 1);
    v->fingerprint = fp;
    v->limits = (pb_pol_limits)PB_POL_LIMITS_UNSET;
    v->ns = strdup(ns);
    v->features = json_array();
    if (!v->ns || !v->features)
        goto oom;
    if (!in->tenant) {
        snprintf(v->problem, sizeof v->problem,
                 "namespace %s is not the namespace of a provisioned Paybill tenant", ns);
    } else {
        if (!(v->tenant = strdup(in->tenant_name ? in->tenant_name : "")))
            goto oom;
        const json_t *spec = json_object_get(in->plan, "spec");
        pb_err le;
        pb_err_clear(&le);
        if (json_object_get(spec, "limits") &&
            pb_pol_limits_parse(json_object_get(spec, "limits"), "the Plan's spec.limits", &v->limits, &le) != 0)
            snprintf(v->problem, sizeof v->problem, "%s", le.msg);
        if (json_is_array(json_object_get(spec, "features")))
            json_array_extend(v->features, json_object_get(spec, "features"));
        if (!in->dm_name)
            snprintf(v->problem, sizeof v->problem, "tenant %s has no database (yet), so no DataModel",
                     v->tenant);
        else if (!in->applied)
            snprintf(v->problem, sizeof v->problem, "DataModel %s %s", in->dm_name,
                     in->dm ? "has not been applied yet" : "does not exist");
        else {
            pb_err me;
            pb_err_clear(&me);
            if (pb_dm_parse_json(in->dm_name, in->applied, &v->model, &me) != 0)
                snprintf(v->problem, sizeof v->problem, "DataModel %s is invalid: %s", in->dm_name, me.msg);
        }
    }
    v->n = json_array_size(in->policies);
    if (v->n && !(v->pols = calloc(v->n, sizeof *v->pols)))
        goto oom;
    for (size_t i = 0; i < v->n; i++) {
        pb_err pe;
        pb_err_clear(&pe);
        /* A policy that does not compile is kept (broken: it denies). */
        if (compile_one(v, json_array_get(in->policies, i), &v->pols[i], &pe) == PB_ENOMEM || !v->pols[i])
            goto oom;
    }
    if (pb_polset_build((const pb_pol *const *)v->pols, v->n, &v->set, e) != 0)
        goto fail;
    *out = v;
    return 0;
oom:
    pb_err_set(e, PB_ENOMEM, "out of memory");
fail:
    view_free(v);
    return e->code ? e->code : PB_ENOMEM;
}

int agentpol_get(agentpol_cache *c, const char *ns, agentpol_view **out, pb_err *e)
{
    *out = NULL;
    inputs in;
    gather(c, ns, &in);
    char *fp = in.policies ? fingerprint(ns, &in) : NULL;
    if (!fp) {
        inputs_clear(&in);
        return pb_err_set(e, PB_ENOMEM, "out of memory");
    }
    unsigned b = hash_str(ns) % BUCKETS;
    pthread_mutex_lock(&c->mu);
    agentpol_view **link = &c->buckets[b];
    while (*link && strcmp((*link)->ns, ns) != 0)
        link = &(*link)->next;
    if (*link && strcmp((*link)->fingerprint, fp) == 0) {
        atomic_fetch_add(&(*link)->refs, 1);
        *out = *link;
        pthread_mutex_unlock(&c->mu);
        free(fp);
        inputs_clear(&in);
        return 0;
    }
    agentpol_view *v = NULL;
    int rc = build(ns, &in, fp, &v, e);
    if (rc == 0) {
        agentpol_view *old = *link;
        v->next = old ? old->next : NULL;
        *link = v;
        atomic_fetch_add(&v->refs, 1); /* the cache's and the caller's */
        *out = v;
        if (old) {
            old->next = NULL;
            agentpol_put(old);
        }
    }
    pthread_mutex_unlock(&c->mu);
    inputs_clear(&in);
    return rc;
}

const char *agentpol_view_namespace(const agentpol_view *v) { return v->ns; }
const char *agentpol_view_tenant(const agentpol_view *v) { return v->tenant; }
const pb_dm_model *agentpol_view_model(const agentpol_view *v) { return v->model; }
const char *agentpol_view_problem(const agentpol_view *v) { return v->problem; }
const pb_pol_limits *agentpol_view_plan_limits(const agentpol_view *v) { return &v->limits; }
const json_t *agentpol_view_plan_features(const agentpol_view *v) { return v->features; }
size_t agentpol_view_count(const agentpol_view *v) { return v->n; }
const pb_polset *agentpol_view_set(const agentpol_view *v) { return v->set; }

const pb_pol *agentpol_view_at(const agentpol_view *v, size_t i) { return i < v->n ? v->pols[i] : NULL; }

const pb_pol *agentpol_view_find(const agentpol_view *v, const char *name)
{
    for (size_t i = 0; name && i < v->n; i++)
        if (strcmp(pb_pol_name(v->pols[i]), name) == 0)
            return v->pols[i];
    return NULL;
}
