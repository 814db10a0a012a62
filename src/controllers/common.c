/*
 * common.c - helpers every reconciler uses (see operator.h): resource
 * identities, the clock, events, status writes, server-side apply and the
 * watch map functions that tie the five resources together.
 */
#include "controllers/operator.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controllers/tenantspec.h"
#include "controllers/write_echo.h"
#include "util/json.h"
#include "util/log.h"
#include "util/strset.h"
#include "util/timeutil.h"

const kube_gvr OPERATOR_GVR_PLANS = {OPERATOR_GROUP, OPERATOR_VERSION, "plans"};
const kube_gvr OPERATOR_GVR_TENANTS = {OPERATOR_GROUP, OPERATOR_VERSION, "tenants"};
const kube_gvr OPERATOR_GVR_SUBSCRIPTIONS = {OPERATOR_GROUP, OPERATOR_VERSION, "subscriptions"};
const kube_gvr OPERATOR_GVR_AGENTPOLICIES = {OPERATOR_GROUP, OPERATOR_VERSION, "agentpolicies"};
const kube_gvr OPERATOR_GVR_WORKFLOWS = {OPERATOR_GROUP, OPERATOR_VERSION, "workflows"};
const kube_gvr OPERATOR_GVR_APPROVALS = {OPERATOR_GROUP, OPERATOR_VERSION, "approvals"};

static const kube_gvr child_gvrs[OP_CHILD_COUNT] = {
    [OP_CHILD_NAMESPACES] = {"", "v1", "namespaces"},
    [OP_CHILD_RESOURCEQUOTAS] = {"", "v1", "resourcequotas"},
    [OP_CHILD_LIMITRANGES] = {"", "v1", "limitranges"},
    [OP_CHILD_NETWORKPOLICIES] = {"networking.k8s.io", "v1", "networkpolicies"},
    [OP_CHILD_SERVICEACCOUNTS] = {"", "v1", "serviceaccounts"},
    [OP_CHILD_ROLEBINDINGS] = {"rbac.authorization.k8s.io", "v1", "rolebindings"},
    [OP_CHILD_CONFIGMAPS] = {"", "v1", "configmaps"},
    [OP_CHILD_SECRETS] = {"", "v1", "secrets"},
};

const kube_gvr *operator_child_gvr(int k)
{
    return k >= 0 && k < OP_CHILD_COUNT ? &child_gvrs[k] : NULL;
}

time_t operator_now(const operator_ctx *op)
{
    return op && op->now ? op->now() : time(NULL);
}

const char *operator_now_str(const operator_ctx *op, char *buf, size_t n)
{
    struct timespec ts = {operator_now(op), 0};
    return pb_time_format_rfc3339(ts, buf, n);
}

void operator_event(operator_ctx *op, const json_t *obj, const char *type, const char *reason,
                    const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
    pb_log(strcmp(type, "Warning") == 0 ? PB_LOG_WARN : PB_LOG_INFO, msg, "kind", kind ? kind : "",
           "name", name ? name : "", "reason", reason, NULL);
    if (op->event)
        op->event(op->event_ud, obj, type, reason, msg);
}

/* Seconds on a clock that does not jump, for the write-echo notes. */
static time_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* Status writes whose echo need not re-queue the object are bracketed in
 * the write-echo memo (operator_tenant_updated and
 * operator_subscription_updated pass over their echoes), while a status
 * change anyone else makes still re-queues it. Tenants: every status write
 * of ours (the tenant reconciler reads no status). Subscriptions: only the
 * subscription reconciler's own (own: from operator_obj_finish), since it
 * reads status.billing, which the billing applier writes. Returns the
 * memo's kind and sets *ctl to the controller to re-queue, or -1. */
static int status_echo_kind(const operator_ctx *op, const kube_gvr *gvr, int own, controller **ctl)
{
    if (strcmp(gvr->group, OPERATOR_GROUP) != 0)
        return -1;
    if (strcmp(gvr->resource, OPERATOR_GVR_TENANTS.resource) == 0) {
        *ctl = op->tenant_ctrl;
        return OP_ECHO_TENANT_STATUS;
    }
    if (own && strcmp(gvr->resource, OPERATOR_GVR_SUBSCRIPTIONS.resource) == 0) {
        *ctl = op->sub_ctrl;
        return OP_ECHO_SUBSCRIPTION_STATUS;
    }
    return -1;
}

/* keep_rv: set obj's resourceVersion to the one the write made, taken from
 * the reply (the object is not decoded for it, util/jscan.h); the reply is
 * read only for that or for the write-echo memo. own: the object's
 * reconciler is writing (status_echo_kind). */
static int write_status(operator_ctx *op, const kube_gvr *gvr, json_t *obj, const json_t *old_status,
                        int keep_rv, int own, pb_err *err)
{
    json_t *status = json_object_get(obj, "status");
    if (old_status && json_equal(status, old_status))
        return 0;
    const char *ns = json_string_value(json_object_get(json_object_get(obj, "metadata"), "namespace"));
    char key[400];
    int have_key = store_key_of(obj, key, sizeof key, NULL) == 0; /* the key the cache uses */
    controller *ctl = NULL;
    int echo = have_key && op->child_echoes ? status_echo_kind(op, gvr, own, &ctl) : -1, bracket = echo >= 0;
    char before[64], after[64] = "";
    kube_request_opts o = {.subresource = "status", .field_manager = OPERATOR_FIELD_MANAGER,
                           .new_resource_version = keep_rv || bracket ? after : NULL,
                           .new_resource_version_len = sizeof after};
    operator_resource_version(obj, before, sizeof before);
    if (bracket)
        wecho_begin(op->child_echoes, echo, key, mono_s());
    int rc = kube_update(op->client, gvr, ns, obj, &o, NULL, err);
    /* A write the server found to change nothing keeps its version and
     * sends no event: there is no echo to wait for. */
    int changed = !o.new_resource_version || !after[0] || strcmp(after, before) != 0;
    if (bracket && wecho_end(op->child_echoes, echo, key, rc == 0 && changed ? after : NULL, mono_s()) && ctl)
        controller_enqueue(ctl, key); /* an event held back was someone else's */
    if (rc == 0 && changed && have_key)
        operator_note_written_over(op, gvr, key, before);
    /* Later writes in the same reconcile (a finalizer patch) need the new
     * resourceVersion as their precondition. */
    if (rc == 0 && keep_rv && after[0])
        json_object_set_new(json_object_get(obj, "metadata"), "resourceVersion", json_string(after));
    return rc;
}

/* ---- waiting for our own writes to come back (operator.h) ---------------- */

#define ECHO_MAX 8 /* resourceVersions remembered per object */
/* How long a note is believed. An echo comes within milliseconds; a write
 * whose reply was not read (operator_obj_finish) may have changed nothing
 * on the server and so have no echo at all, and must not hold its object
 * up for longer than this. */
#define ECHO_WAIT_MAX_S 5

static void echo_key(const kube_gvr *gvr, const char *key, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", gvr->resource, key);
}

void operator_resource_version(const json_t *obj, char *buf, size_t n)
{
    const char *rv = json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
    snprintf(buf, n, "%s", rv ? rv : "");
}

void operator_note_written_over(operator_ctx *op, const kube_gvr *gvr, const char *key, const char *rv)
{
    if (!rv || !*rv)
        return;
    char k[512];
    echo_key(gvr, key, k, sizeof k);
    pthread_mutex_lock(&op->echo_mu);
    if (!op->echo)
        op->echo = json_object();
    json_t *a = json_object_get(op->echo, k);
    if (!a && json_object_set_new(op->echo, k, a = json_array()) != 0)
        a = NULL; /* out of memory: this write is simply not waited for */
    if (a && json_array_size(a) >= ECHO_MAX)
        json_array_remove(a, 0);
    if (a)
        json_array_append_new(a, json_pack("{s:s, s:I}", "rv", rv, "at", (json_int_t)(pb_time_mono_ns() / 1000000000)));
    pthread_mutex_unlock(&op->echo_mu);
}

int operator_cache_behind(operator_ctx *op, store *st, const kube_gvr *gvr, const char *key)
{
    char rv[64], k[512];
    int have = store_resource_version(st, key, rv, sizeof rv) == 0;
    echo_key(gvr, key, k, sizeof k);
    int behind = 0;
    json_int_t now = (json_int_t)(pb_time_mono_ns() / 1000000000);
    pthread_mutex_lock(&op->echo_mu);
    json_t *a = json_object_get(op->echo, k);
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) {
        const char *was = json_string_value(json_object_get(v, "rv"));
        if (have && was && strcmp(was, rv) == 0 &&
            now - json_integer_value(json_object_get(v, "at")) < ECHO_WAIT_MAX_S)
            behind = 1;
    }
    if (a && !behind) /* caught up (or gone): forget */
        json_object_del(op->echo, k);
    pthread_mutex_unlock(&op->echo_mu);
    return behind;
}

controller_result operator_requeue_conflict(void)
{
    return controller_requeue_after(OPERATOR_CONFLICT_RETRY_S);
}

int operator_write_status(operator_ctx *op, const kube_gvr *gvr, json_t *obj,
                          const json_t *old_status, pb_err *err)
{
    return write_status(op, gvr, obj, old_status, 1, 0, err);
}

int operator_obj_begin(operator_ctx *op, store *st, const char *key, operator_obj *o)
{
    memset(o, 0, sizeof *o);
    o->obj = store_get(st, key); /* a private copy: the store unpacks one per read */
    if (!o->obj)
        return PB_ENOTFOUND;
    pb_json_opt_int(o->obj, "metadata.generation", 0, &o->gen, NULL);
    o->old_status = json_deep_copy(json_object_get(o->obj, "status"));
    o->status = json_object_get(o->obj, "status");
    if (!json_is_object(o->status)) {
        o->status = json_object();
        json_object_set_new(o->obj, "status", o->status);
    }
    operator_now_str(op, o->now, sizeof o->now);
    return 0;
}

void operator_obj_release(operator_obj *o)
{
    json_decref(o->old_status);
    json_decref(o->obj);
    memset(o, 0, sizeof *o);
}

controller_result operator_obj_finish(operator_ctx *op, operator_obj *o, const kube_gvr *gvr,
                                      const char *what, const char *key, controller_result then,
                                      pb_err *err)
{
    json_object_set_new(o->status, "observedGeneration", json_integer(o->gen));
    int rc = write_status(op, gvr, o->obj, o->old_status, 0, 1, err);
    json_decref(o->old_status);
    json_decref(o->obj);
    memset(o, 0, sizeof *o);
    if (rc == PB_ECONFLICT)
        return operator_requeue_conflict();
    if (rc == PB_ENOTFOUND)
        return controller_requeue();
    if (rc != 0) {
        pb_err_wrap(err, "%s %s: writing status", what, key);
        return controller_error();
    }
    return then;
}

/* Server-side apply of obj; rv (rv_len bytes), when given, receives the
 * resourceVersion the write made. */
static int apply(operator_ctx *op, const kube_gvr *gvr, const char *ns, json_t *obj, const char *field_manager,
                 char *rv, size_t rv_len, pb_err *err)
{
    const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
    kube_request_opts o = {.field_manager = field_manager ? field_manager : OPERATOR_FIELD_MANAGER,
                           .force = 1, .new_resource_version = rv, .new_resource_version_len = rv_len};
    /* The reply (the whole object) is not decoded, at most scanned for its
     * resourceVersion: decoding it cost a fifth of the operator's CPU in a
     * cold start. */
    return kube_patch(op->client, gvr, ns, name, KUBE_PATCH_APPLY, obj, &o, NULL, err);
}

int operator_apply(operator_ctx *op, const kube_gvr *gvr, const char *ns, json_t *obj,
                   const char *field_manager, pb_err *err)
{
    return apply(op, gvr, ns, obj, field_manager, NULL, 0, err);
}

/* The written object's key, as its watch events will give it (store_key_of):
 * "" when it has no name, which the memo ignores. */
static void child_key(const json_t *obj, char *buf, size_t n)
{
    if (store_key_of(obj, buf, n, NULL) != 0)
        buf[0] = '\0';
}

void operator_child_write_begin(operator_ctx *op, int k, const json_t *obj)
{
    char key[512];
    child_key(obj, key, sizeof key);
    wecho_begin(op->child_echoes, k, key, mono_s());
}

void operator_child_write_end(operator_ctx *op, int k, json_t *obj, const char *rv)
{
    char key[512];
    child_key(obj, key, sizeof key);
    if (!wecho_end(op->child_echoes, k, key, rv, mono_s()))
        return;
    /* An event held back during the write was someone else's: look again. */
    json_t *keys = operator_map_child_to_tenant(obj, op);
    size_t i;
    json_t *t;
    json_array_foreach(keys, i, t)
        controller_enqueue(op->tenant_ctrl, json_string_value(t));
    json_decref(keys);
}

int operator_apply_child(operator_ctx *op, int k, const char *ns, json_t *obj, pb_err *err)
{
    char rv[128] = "";
    operator_child_write_begin(op, k, obj);
    int rc = apply(op, operator_child_gvr(k), ns, obj, NULL, rv, sizeof rv, err);
    operator_child_write_end(op, k, obj, rc == 0 ? rv : NULL);
    return rc;
}

static const char *name_of(const json_t *obj)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
}

int operator_apply_children(operator_ctx *op, operator_child_apply *items, size_t n)
{
    kube_write *w = calloc(n ? n : 1, sizeof *w);
    kube_request_opts *o = calloc(n ? n : 1, sizeof *o);
    char(*rv)[128] = calloc(n ? n : 1, sizeof *rv);
    int first_rc = 0;
    if (!w || !o || !rv) {
        for (size_t i = 0; i < n; i++)
            first_rc = items[i].rc = pb_err_oom(&items[i].err);
        n = 0;
    }
    for (size_t i = 0; i < n; i++) {
        o[i] = (kube_request_opts){.field_manager = OPERATOR_FIELD_MANAGER, .force = 1,
                                   .new_resource_version = rv[i], .new_resource_version_len = sizeof rv[i]};
        w[i] = (kube_write){.kind = KUBE_WRITE_PATCH, .gvr = operator_child_gvr(items[i].k), .ns = items[i].ns,
                            .name = name_of(items[i].obj), .type = KUBE_PATCH_APPLY, .body = items[i].obj,
                            .opts = &o[i]};
        operator_child_write_begin(op, items[i].k, items[i].obj);
    }
    if (n > 0)
        first_rc = kube_write_many(op->client, w, n);
    for (size_t i = 0; i < n; i++) {
        items[i].rc = w[i].rc;
        items[i].err = w[i].err;
        operator_child_write_end(op, items[i].k, items[i].obj, w[i].rc == 0 ? rv[i] : NULL);
    }
    free(w);
    free(o);
    free(rv);
    return first_rc;
}

int operator_child_added(json_t *obj, void *ud)
{
    const operator_child_watch *cw = ud;
    return !wecho_take(cw->op->child_echoes, cw->kind, obj, mono_s());
}

int operator_tenant_updated(json_t *old_obj, json_t *new_obj, void *ud)
{
    (void)old_obj;
    operator_ctx *op = ud;
    return !wecho_take(op->child_echoes, OP_ECHO_TENANT_STATUS, new_obj, mono_s());
}

int operator_subscription_updated(json_t *old_obj, json_t *new_obj, void *ud)
{
    (void)old_obj;
    operator_ctx *op = ud;
    return !wecho_take(op->child_echoes, OP_ECHO_SUBSCRIPTION_STATUS, new_obj, mono_s());
}

int operator_child_updated(json_t *old_obj, json_t *new_obj, void *ud)
{
    const operator_child_watch *cw = ud;
    if (wecho_take(cw->op->child_echoes, cw->kind, new_obj, mono_s()))
        return 0;
    return operator_pred_beyond_status(old_obj, new_obj, NULL);
}

/* Append s to the array unless already there. */
static void add_key(json_t *keys, const char *s)
{
    size_t i;
    json_t *v;
    if (!s || !*s)
        return;
    json_array_foreach(keys, i, v) {
        if (strcmp(json_string_value(v), s) == 0)
            return;
    }
    json_array_append_new(keys, json_string(s));
}

json_t *operator_nonempty_keys(json_t *keys)
{
    if (json_array_size(keys) == 0) {
        json_decref(keys);
        return NULL;
    }
    return keys;
}

json_t *operator_tenant_subscriptions(operator_ctx *op, const char *tenant, int live_only)
{
    json_t *out = json_array();
    json_t *mine = store_by_index(op->subscriptions, OPERATOR_INDEX_SUB_TENANT, tenant, NULL);
    if (!mine) { /* no index registered: scan */
        json_t *all = store_list(op->subscriptions);
        mine = json_array();
        size_t i;
        json_t *s;
        json_array_foreach(all, i, s) {
            const char *t = NULL;
            pb_json_opt_string(s, OPERATOR_INDEX_SUB_TENANT, NULL, &t, NULL);
            if (t && strcmp(t, tenant) == 0)
                json_array_append(mine, s);
        }
        json_decref(all);
    }
    size_t i;
    json_t *s;
    json_array_foreach(mine, i, s) {
        const char *state = NULL;
        pb_json_opt_string(s, "status.state", NULL, &state, NULL);
        if (live_only && state && strcmp(state, "canceled") == 0)
            continue;
        json_array_append(out, s);
    }
    json_decref(mine);
    return out;
}

json_t *operator_map_subscription_to_tenant(json_t *sub, void *ud)
{
    (void)ud;
    json_t *keys = json_array();
    const char *t = NULL;
    pb_json_opt_string(sub, "spec.tenantRef.name", NULL, &t, NULL);
    add_key(keys, t);
    return operator_nonempty_keys(keys);
}

/* Index function: the string at the dotted path `ud`, if any. */
static json_t *index_by_path(json_t *obj, void *ud)
{
    const char *v = NULL;
    pb_json_opt_string(obj, ud, NULL, &v, NULL);
    return v ? json_pack("[s]", v) : NULL;
}

int operator_add_path_index(store *st, const char *path, pb_err *err)
{
    return store_add_indexer(st, path, index_by_path, (void *)path, err);
}

int operator_pred_path_changed(json_t *old_obj, json_t *new_obj, void *ud)
{
    json_t *a = NULL, *b = NULL;
    pb_json_get(old_obj, ud, &a, NULL);
    pb_json_get(new_obj, ud, &b, NULL);
    return !json_equal(a, b) && (a || b);
}

int operator_pred_never(json_t *old_obj, json_t *new_obj, void *ud)
{
    (void)old_obj, (void)new_obj, (void)ud;
    return 0;
}

/* Whether objects a and b differ in a member not named in skip
 * (NULL-terminated). */
static int differs_except(const json_t *a, const json_t *b, const char *const *skip)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)a, k, v)
        if (!pb_strset_has(skip, k) && !json_equal(v, json_object_get(b, k)))
            return 1;
    json_object_foreach((json_t *)b, k, v)
        if (!pb_strset_has(skip, k) && !json_object_get(a, k))
            return 1;
    return 0;
}

int operator_pred_beyond_status(json_t *old_obj, json_t *new_obj, void *ud)
{
    (void)ud;
    static const char *const top[] = {"status", "metadata", NULL};
    static const char *const meta[] = {"resourceVersion", "managedFields", NULL};
    if (!json_is_object(old_obj) || !json_is_object(new_obj))
        return 1;
    json_t *om = json_object_get(old_obj, "metadata"), *nm = json_object_get(new_obj, "metadata");
    if (!json_is_object(om) || !json_is_object(nm))
        return !json_equal(om, nm) || differs_except(old_obj, new_obj, top);
    return differs_except(old_obj, new_obj, top) || differs_except(om, nm, meta);
}

void operator_keys_where(store *st, const char *match_path, const char *value,
                         const char *key_path, json_t *keys)
{
    if (!value)
        return;
    /* A set beside the array: thousands of keys must not cost O(n^2). */
    json_t *seen = json_object();
    size_t j;
    json_t *kv;
    json_array_foreach(keys, j, kv)
        json_object_set(seen, json_string_value(kv), json_true());
    /* Names come straight from the index's keys ("ns/name" or "name"):
     * unpacking every object to read back its name cost a plan's status
     * (a count of its tenants) a third of the operator's cold start. */
    if (strcmp(key_path, "metadata.name") == 0) {
        json_t *ks = store_index_keys(st, match_path, value, NULL);
        json_array_foreach(ks, j, kv) {
            const char *k = json_string_value(kv), *slash = strrchr(k, '/');
            k = slash ? slash + 1 : k;
            if (*k && !json_object_get(seen, k)) {
                json_object_set_new(seen, k, json_true());
                json_array_append_new(keys, json_string(k));
            }
        }
        if (ks) {
            json_decref(ks);
            json_decref(seen);
            return;
        }
    }
    /* Indexed lookup when operator.c registered match_path as an index
     * (always, in the operator); a scan otherwise (tests, new paths). */
    json_t *all = store_by_index(st, match_path, value, NULL);
    int indexed = all != NULL;
    if (!indexed)
        all = store_list(st);
    size_t i;
    json_t *o;
    json_array_foreach(all, i, o) {
        const char *v = NULL, *k = NULL;
        if (!indexed) {
            pb_json_opt_string(o, match_path, NULL, &v, NULL);
            if (!v || strcmp(v, value) != 0)
                continue;
        }
        pb_json_opt_string(o, key_path, NULL, &k, NULL);
        if (k && *k && !json_object_get(seen, k)) {
            json_object_set_new(seen, k, json_true());
            json_array_append_new(keys, json_string(k));
        }
    }
    json_decref(all);
    json_decref(seen);
}

json_t *operator_map_plan_to_subscriptions(json_t *plan, void *ud)
{
    operator_ctx *op = ud;
    json_t *keys = json_array();
    operator_keys_where(op->subscriptions, OPERATOR_INDEX_SUB_PLAN, name_of(plan), "metadata.name", keys);
    return operator_nonempty_keys(keys);
}

json_t *operator_map_plan_to_tenants(json_t *plan, void *ud)
{
    operator_ctx *op = ud;
    json_t *keys = json_array();
    operator_keys_where(op->subscriptions, OPERATOR_INDEX_SUB_PLAN, name_of(plan), "spec.tenantRef.name", keys);
    /* Tenants still provisioned on this plan (their subscription may have moved). */
    operator_keys_where(op->tenants, OPERATOR_INDEX_TENANT_PLAN, name_of(plan), "metadata.name", keys);
    return operator_nonempty_keys(keys);
}

json_t *operator_map_tenant_to_plan(json_t *tenant, void *ud)
{
    (void)ud;
    json_t *keys = json_array();
    const char *p = NULL;
    pb_json_opt_string(tenant, "status.plan", NULL, &p, NULL);
    add_key(keys, p);
    return operator_nonempty_keys(keys);
}

json_t *operator_map_child_to_tenant(json_t *child, void *ud)
{
    (void)ud;
    json_t *labels = json_object_get(json_object_get(child, "metadata"), "labels");
    const char *managed = json_string_value(json_object_get(labels, TENANTSPEC_LABEL_MANAGED));
    if (!managed || strcmp(managed, TENANTSPEC_MANAGER) != 0)
        return NULL;
    json_t *keys = json_array();
    add_key(keys, json_string_value(json_object_get(labels, TENANTSPEC_LABEL_TENANT)));
    return operator_nonempty_keys(keys);
}

json_t *operator_map_tenant_to_datamodel(json_t *tenant, void *ud)
{
    (void)ud;
    json_t *keys = json_array();
    const char *dm = NULL;
    pb_json_opt_string(tenant, "status.database.dataModel", NULL, &dm, NULL);
    add_key(keys, dm);
    return operator_nonempty_keys(keys);
}
