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

#define BUCKETS 256

struct agentpol_view {
    atomic_int refs;
    char *ns, *tenant, *fingerprint; /* fingerprint NULL: never reused */
    char *plan_name, *dm_name;        /* what the fingerprint was taken with */
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
    free(v->plan_name);
    free(v->dm_name);
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
    int owned;                             /* the tenant's namespace is ns */
    const json_t *applied;                 /* the DataModel's status.appliedModel */
    const char *tenant_name, *plan_name, *dm_name;
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

static const char *tenant_of(const char *ns)
{
    static const char prefix[] = "tenant-";
    return strncmp(ns, prefix, sizeof prefix - 1) == 0 ? ns + sizeof prefix - 1 : NULL;
}

static void gather(const agentpol_cache *c, const char *ns, inputs *in)
{
    memset(in, 0, sizeof *in);
    in->policies = sorted_policies(c->src.policies, ns);
    const char *tname = tenant_of(ns);
    if (!tname || !(in->tenant = store_get(c->src.tenants, tname)))
        return;
    const char *owned = NULL;
    pb_json_opt_string(in->tenant, "status.namespace", NULL, &owned, NULL);
    in->owned = owned && strcmp(owned, ns) == 0; /* else: not provisioned (yet), or not this namespace */
    if (!in->owned)
        return;
    in->tenant_name = meta_str(in->tenant, "name");
    pb_json_opt_string(in->tenant, "status.plan", NULL, &in->plan_name, NULL);
    if (in->plan_name)
        in->plan = store_get(c->src.plans, in->plan_name);
    pb_json_opt_string(in->tenant, "status.database.dataModel", NULL, &in->dm_name, NULL);
    if (in->dm_name)
        in->dm = store_get(c->src.datamodels, in->dm_name);
    in->applied = json_object_get(json_object_get(in->dm, "status"), "appliedModel");
}

/* Fingerprints: the resourceVersion of every object a view is built from,
 * "-" for one that does not exist. Read from the caches ("live", cheap: no
 * object is unpacked) it says whether a cached view is current; read from
 * the objects a view was built from ("content"), it says what that view
 * is. An object without a resourceVersion makes the view uncacheable
 * (NULL with *uncacheable set): never reuse what cannot be compared. */
typedef struct fpbuf {
    pb_buf b;
    int uncacheable;
} fpbuf;

static void fp_add(fpbuf *f, const char *what, const char *name, const char *rv)
{
    if (!rv || !rv[0])
        f->uncacheable = 1;
    pb_buf_printf(&f->b, "%s=%s@%s;", what, name ? name : "", rv ? rv : "");
}

static void fp_add_live(fpbuf *f, const char *what, store *s, const char *key)
{
    char rv[64];
    if (store_resource_version(s, key, rv, sizeof rv) == PB_ENOTFOUND)
        snprintf(rv, sizeof rv, "-");
    else if (rv[0] == '\0')
        f->uncacheable = 1;
    fp_add(f, what, key, rv);
}

static char *fp_finish(fpbuf *f, int *uncacheable)
{
    *uncacheable = f->uncacheable;
    if (f->b.oom || f->uncacheable) {
        pb_buf_free(&f->b);
        return NULL;
    }
    return pb_buf_take(&f->b, NULL);
}

static char *fp_live(const agentpol_cache *c, const char *ns, const char *plan, const char *dm, int *uncacheable)
{
    fpbuf f = {0};
    pb_buf_printf(&f.b, "ns=%s;", ns);
    const char *tname = tenant_of(ns);
    if (tname)
        fp_add_live(&f, "t", c->src.tenants, tname);
    if (plan)
        fp_add_live(&f, "p", c->src.plans, plan);
    if (dm)
        fp_add_live(&f, "d", c->src.datamodels, dm);
    json_t *keys = store_index_keys(c->src.policies, STORE_INDEX_NAMESPACE, ns, NULL);
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) fp_add_live(&f, "k", c->src.policies, json_string_value(k));
    json_decref(keys);
    return fp_finish(&f, uncacheable);
}

static char *fp_content(const char *ns, const inputs *in, int *uncacheable)
{
    fpbuf f = {0};
    pb_buf_printf(&f.b, "ns=%s;", ns);
    const char *tname = tenant_of(ns);
    if (tname)
        fp_add(&f, "t", tname, in->tenant ? meta_str(in->tenant, "resourceVersion") : "-");
    if (in->plan_name)
        fp_add(&f, "p", in->plan_name, in->plan ? meta_str(in->plan, "resourceVersion") : "-");
    if (in->dm_name)
        fp_add(&f, "d", in->dm_name, in->dm ? meta_str(in->dm, "resourceVersion") : "-");
    size_t i;
    json_t *p;
    json_array_foreach(in->policies, i, p) {
        char key[600];
        snprintf(key, sizeof key, "%s/%s", ns, meta_str(p, "name") ? meta_str(p, "name") : "");
        fp_add(&f, "k", key, meta_str(p, "resourceVersion"));
    }
    return fp_finish(&f, uncacheable);
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
    v->plan_name = in->plan_name ? strdup(in->plan_name) : NULL;
    v->dm_name = in->dm_name ? strdup(in->dm_name) : NULL;
    if (!v->ns || !v->features || (in->plan_name && !v->plan_name) || (in->dm_name && !v->dm_name))
        goto oom;
    if (!in->owned) {
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
    unsigned b = hash_str(ns) % BUCKETS;
    int unc = 0;
    pthread_mutex_lock(&c->mu);
    agentpol_view **link = &c->buckets[b];
    while (*link && strcmp((*link)->ns, ns) != 0)
        link = &(*link)->next;
    /* The fast path: nothing it was built from has a new resourceVersion. */
    if (*link && (*link)->fingerprint) {
        char *now = fp_live(c, ns, (*link)->plan_name, (*link)->dm_name, &unc);
        int same = now && strcmp(now, (*link)->fingerprint) == 0;
        free(now);
        if (same) {
            atomic_fetch_add(&(*link)->refs, 1);
            *out = *link;
            pthread_mutex_unlock(&c->mu);
            return 0;
        }
    }
    /* Rebuild from what the caches hold now. The view's fingerprint is that
     * of the objects it was built from; a cache that moved while they were
     * read is seen at the next call (the live fingerprint then differs). */
    inputs in;
    gather(c, ns, &in);
    if (!in.policies) {
        pthread_mutex_unlock(&c->mu);
        inputs_clear(&in);
        return pb_err_set(e, PB_ENOMEM, "out of memory");
    }
    char *fpr = fp_content(ns, &in, &unc);
    if (!fpr && !unc) {
        pthread_mutex_unlock(&c->mu);
        inputs_clear(&in);
        return pb_err_set(e, PB_ENOMEM, "out of memory");
    }
    agentpol_view *v = NULL;
    int rc = build(ns, &in, fpr, &v, e);
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

int agentpol_view_has_feature(const agentpol_view *v, const char *feature)
{
    size_t i;
    json_t *f;
    json_array_foreach(v->features, i, f) if (json_is_string(f) && feature && strcmp(json_string_value(f), feature) == 0)
        return 1;
    return 0;
}
const pb_polset *agentpol_view_set(const agentpol_view *v) { return v->set; }

const pb_pol *agentpol_view_at(const agentpol_view *v, size_t i) { return i < v->n ? v->pols[i] : NULL; }

const pb_pol *agentpol_view_find(const agentpol_view *v, const char *name)
{
    for (size_t i = 0; name && i < v->n; i++)
        if (strcmp(pb_pol_name(v->pols[i]), name) == 0)
            return v->pols[i];
    return NULL;
}

int agentpol_decide(const agentpol_view *v, const pb_subj_user *u, const pb_steps *w, const char *policy_ref,
                    pb_decision *out, int *audit_only)
{
    if (audit_only)
        *audit_only = 0;
    const pb_pol *ref = policy_ref ? agentpol_view_find(v, policy_ref) : NULL;
    if (ref && pb_pol_audit(ref) && pb_pol_subjects_match(ref, u)) {
        if (audit_only)
            *audit_only = 1;
        int first = -1;
        for (size_t i = 0; i < pb_step_count(w); i++) {
            pb_decide_step(ref, w, i, -1, &out[i]);
            if (out[i].outcome == PB_DECIDE_DENY && first < 0)
                first = (int)i;
        }
        return first;
    }
    int first = -1;
    pb_decide_workflow(v->set, v->ns, u, w, out, &first);
    return first;
}
