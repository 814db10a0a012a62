/*
 * tenant_controller.c - the Tenant reconciler.
 *
 * Level-based: every call recomputes what the tenant should have from the
 * caches (its Subscription, that Subscription's Plan) and converges:
 *
 *   1. finalizer present (so deletion can follow deletionPolicy);
 *   2. exactly one live Subscription, evaluated, on an existing valid Plan,
 *      else report precisely why and change nothing;
 *   3. suspended = spec.suspend or the subscription is not entitled;
 *   4. the namespace: created (never adopted: one that exists and is not
 *      labelled as this tenant's stops everything here, NamespaceReady=False
 *      reason NamespaceNotOwned); then children (tenantspec.c) applied with
 *      server-side apply when missing or drifted; leftovers of another plan
 *      or of a suspension removed; shared-compute tenants registered in
 *      their pool's routing ConfigMap;
 *   5. database (tenant_database.c), its credentials Secret read with a GET
 *      first (the operator may not watch Secrets cluster-wide, so drift of
 *      the Secret is seen here, and every SECRET_RESYNC_S through a
 *      requeue), then the egress rule to the database once its endpoint is
 *      known; cloud layers;
 *   6. status: phase, plan, isolation, conditions, written only if changed.
 *
 * Deletion: Delete and Snapshot drop the data, then the finalizer: the
 * Tenant goes and the garbage collector deletes the namespace it owns (the
 * operator has no right to delete namespaces, and only its own carry the
 * Tenant's ownerReference); Retain orphans the namespace (labelled
 * paybill.dev/retained) and keeps the data. A namespace the tenant never
 * owned is left exactly as it was.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controllers/cloud.h"
#include "controllers/conditions.h"
#include "controllers/licence_controller.h"
#include "controllers/operator.h"
#include "controllers/planspec.h"
#include "controllers/tenant_database.h"
#include "controllers/tenantspec.h"
#include "util/json.h"
#include "util/log.h"
#include "util/timeutil.h"

/* How often a provisioned tenant with a database is looked at again even
 * when nothing it watches changed: the credentials Secret is not watched
 * (that would need read access to every Secret in the cluster), so this
 * bounds how long a hand-edited or deleted Secret stays wrong. Spread over
 * +-10% per tenant so a fleet does not come due at once. */
#define SECRET_RESYNC_S 600.0

/* Per-call state, so helpers stay short. */
typedef struct tenant_run {
    operator_ctx *op;
    const char *name;
    json_t *tenant;     /* our copy; status edited in place */
    json_t *status;     /* borrowed from tenant */
    json_t *old_status; /* as cached, to skip no-op writes */
    long long gen;
    char now[PB_TIME_BUF];
    char ns[128];
    double requeue_s; /* > 0: look again this soon (cloud runs, drift checks) */
} tenant_run;

static int child_index(const char *resource)
{
    for (int k = 0; k < OP_CHILD_COUNT; k++)
        if (strcmp(operator_child_gvr(k)->resource, resource) == 0)
            return k;
    return -1;
}

static json_t *cached_child(operator_ctx *op, int k, const char *ns, const char *name)
{
    char key[512];
    if (ns)
        snprintf(key, sizeof key, "%s/%s", ns, name);
    else
        snprintf(key, sizeof key, "%s", name);
    return op->children[k] ? store_get(op->children[k], key) : NULL;
}

static int has_finalizer(const json_t *obj)
{
    json_t *fins = json_object_get(json_object_get(obj, "metadata"), "finalizers");
    size_t i;
    json_t *f;
    json_array_foreach(fins, i, f) {
        if (strcmp(json_string_value(f), OPERATOR_TENANT_FINALIZER) == 0)
            return 1;
    }
    return 0;
}

/* Add or remove our finalizer with a merge patch of metadata.finalizers
 * alone, resourceVersion as the precondition (a stale cache gives 409).
 * Not a PUT of the cached object: the cache drops fields (kubectl's
 * last-applied annotation, managedFields) that a PUT would erase. */
static int set_finalizer(tenant_run *r, int present, pb_err *err)
{
    json_t *meta = json_object_get(r->tenant, "metadata");
    json_t *next = json_array();
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(meta, "finalizers"), i, f) {
        if (strcmp(json_string_value(f), OPERATOR_TENANT_FINALIZER) != 0)
            json_array_append(next, f);
    }
    if (present)
        json_array_append_new(next, json_string(OPERATOR_TENANT_FINALIZER));
    json_t *patch = json_pack("{s:{s:o, s:O}}", "metadata", "finalizers", next, "resourceVersion",
                              json_object_get(meta, "resourceVersion"));
    kube_request_opts o = {.field_manager = OPERATOR_FIELD_MANAGER};
    char before[64];
    operator_resource_version(r->tenant, before, sizeof before);
    int rc = kube_patch(r->op->client, &OPERATOR_GVR_TENANTS, NULL, r->name, KUBE_PATCH_MERGE, patch,
                        &o, NULL, err);
    json_decref(patch);
    if (rc == 0)
        operator_note_written_over(r->op, &OPERATOR_GVR_TENANTS, r->name, before);
    return rc;
}

static controller_result write_status(tenant_run *r, pb_err *err)
{
    json_object_set_new(r->status, "observedGeneration", json_integer(r->gen));
    int rc = operator_write_status(r->op, &OPERATOR_GVR_TENANTS, r->tenant, r->old_status, err);
    if (rc == PB_ECONFLICT)
        return operator_requeue_conflict();
    if (rc == PB_ENOTFOUND)
        return controller_requeue();
    if (rc != 0) {
        pb_err_wrap(err, "tenant %s: writing status", r->name);
        return controller_error();
    }
    return controller_ok();
}

static void set_phase(tenant_run *r, const char *phase)
{
    const char *cur = json_string_value(json_object_get(r->status, "phase"));
    if (cur && strcmp(cur, phase) == 0)
        return;
    int was_suspended = cur && strcmp(cur, "Suspended") == 0; /* cur dies with the next line */
    json_object_set_new(r->status, "phase", json_string(phase));
    if (strcmp(phase, "Active") == 0)
        operator_event(r->op, r->tenant, "Normal", was_suspended ? "Resumed" : "Provisioned",
                       "tenant is active in namespace %s", r->ns);
    else if (strcmp(phase, "Suspended") == 0)
        operator_event(r->op, r->tenant, "Warning", "Suspended", "tenant suspended: %s",
                       json_string_value(json_object_get(cond_find(r->status, "Ready"), "message")));
}

/* Report a blocking problem: Ready=False with reason/message, phase. */
static controller_result blocked(tenant_run *r, const char *cond, const char *reason,
                                 const char *phase, const char *msg, pb_err *err)
{
    int changed = cond_set(r->status, cond, "False", reason, msg, r->gen, r->now);
    if (strcmp(cond, "Ready") != 0)
        cond_set(r->status, "Ready", "False", reason, msg, r->gen, r->now);
    if (changed)
        operator_event(r->op, r->tenant, "Warning", reason, "%s", msg);
    if (!json_object_get(r->status, "phase") ||
        strcmp(phase, "Failed") == 0)
        set_phase(r, phase);
    return write_status(r, err);
}

/* Delete a child we no longer want, if the cache says it exists. */
static int remove_child(tenant_run *r, const char *resource, const char *name, pb_err *err)
{
    int k = child_index(resource);
    json_t *live = cached_child(r->op, k, r->ns, name);
    if (!live)
        return 0;
    json_decref(live);
    int rc = kube_delete(r->op->client, operator_child_gvr(k), r->ns, name, NULL, NULL, err);
    if (rc == PB_ENOTFOUND) {
        pb_err_clear(err);
        return 0;
    }
    if (rc == 0)
        pb_log_info("removed child", "tenant", r->name, "resource", resource, "name", name, NULL);
    return rc;
}

/* Register (or unregister: entry NULL) the tenant in a pool's routing
 * ConfigMap. Each tenant applies its own key with its own field manager,
 * so tenants never conflict and unregistering removes only their key. */
static int route(tenant_run *r, const char *pool_cm, const char *entry, pb_err *err)
{
    json_t *live = cached_child(r->op, OP_CHILD_CONFIGMAPS, r->op->system_ns, pool_cm);
    const char *cur = json_string_value(json_object_get(json_object_get(live, "data"), r->name));
    int same = entry ? (cur && strcmp(cur, entry) == 0) : (live && !cur);
    json_decref(live);
    if (same || (!entry && !live))
        return 0;
    char field_manager[160];
    snprintf(field_manager, sizeof field_manager, "paybill-tenant-%s", r->name);
    json_t *cm = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}}", "apiVersion", "v1", "kind",
                           "ConfigMap", "metadata", "name", pool_cm, "namespace",
                           r->op->system_ns, "labels", TENANTSPEC_LABEL_MANAGED, TENANTSPEC_MANAGER);
    if (entry)
        json_object_set_new(cm, "data", json_pack("{s:s}", r->name, entry));
    int rc = operator_apply(r->op, operator_child_gvr(OP_CHILD_CONFIGMAPS), r->op->system_ns, cm,
                            field_manager, err);
    json_decref(cm);
    return rc;
}

static int unroute_all(tenant_run *r, const char *except, pb_err *err)
{
    static const char *const models[] = {"pooled", "bridge", "silo"};
    for (size_t i = 0; i < 3; i++) {
        char cm[64];
        snprintf(cm, sizeof cm, "paybill-pool-%s", models[i]);
        if (except && strcmp(cm, except) == 0)
            continue;
        int rc = route(r, cm, NULL, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* 1 when the live RoleBinding has another roleRef than wanted: roleRef is
 * immutable, so it must be deleted and created again (bindings written by
 * versions that still made namespaced Roles). */
static int roleref_changed(const char *resource, const json_t *want, const json_t *live)
{
    return live && strcmp(resource, "rolebindings") == 0 &&
           !json_equal(json_object_get(want, "roleRef"), json_object_get(live, "roleRef"));
}

/* Make sure the tenant's namespace is ours before anything goes in it.
 * 0: it is, with *live the namespace as last seen (new reference; NULL when
 * this call just created it); 1: it exists and is not ours (why, n bytes,
 * says why); negative: error (a terminating namespace is PB_EUNAVAILABLE:
 * wait for it to go). */
static int ensure_namespace(tenant_run *r, json_t *want, json_t **live, char *why, size_t n,
                            pb_err *err)
{
    const kube_gvr *gvr = operator_child_gvr(OP_CHILD_NAMESPACES);
    /* The cache holds only namespaces labelled as managed by us; one that is
     * not in it may still exist. Create, not apply: an apply would take over
     * a namespace made by someone else, a create fails instead, and only
     * then do we look at what is there (a GET first cost every new tenant a
     * round trip). */
    json_t *ns = cached_child(r->op, OP_CHILD_NAMESPACES, NULL, r->ns);
    *live = NULL;
    if (!ns) {
        char rv[128] = "";
        kube_request_opts o = {.field_manager = OPERATOR_FIELD_MANAGER, .new_resource_version = rv,
                               .new_resource_version_len = sizeof rv};
        operator_child_write_begin(r->op, OP_CHILD_NAMESPACES, want);
        int rc = kube_create(r->op->client, gvr, NULL, want, &o, NULL, err);
        operator_child_write_end(r->op, OP_CHILD_NAMESPACES, want, rc == 0 ? rv : NULL);
        if (rc == 0) {
            pb_log_info("created namespace", "tenant", r->name, "namespace", r->ns, NULL);
            licence_namespace_created(r->op, r->name);
            return 0;
        }
        if (rc != PB_EEXIST)
            return rc;
        pb_err_clear(err);
        rc = kube_get(r->op->client, gvr, NULL, r->ns, NULL, &ns, err);
        if (rc == PB_ENOTFOUND)
            return pb_err_set(err, PB_EUNAVAILABLE, "namespace %s went away while being created; looking again",
                              r->ns);
        if (rc != 0)
            return rc;
    }
    int rc = 0;
    const char *uid = json_string_value(json_object_get(json_object_get(r->tenant, "metadata"), "uid"));
    if (json_object_get(json_object_get(ns, "metadata"), "deletionTimestamp"))
        rc = pb_err_set(err, PB_EUNAVAILABLE, "namespace %s is terminating", r->ns);
    else if (!tenantspec_namespace_owned(ns, r->name, uid, why, n))
        rc = 1;
    if (rc == 0)
        *live = ns;
    else
        json_decref(ns);
    return rc;
}

/* 1 when a live object was created less than 30 s ago. */
static int created_recently(const json_t *live)
{
    const char *ts = json_string_value(json_object_get(json_object_get(live, "metadata"), "creationTimestamp"));
    struct timespec t;
    pb_err e;
    if (!ts || pb_time_parse_rfc3339(ts, &t, &e) != 0)
        return 0;
    return difftime(time(NULL), t.tv_sec) < 30;
}

/* What is left of an apply that failed with rc: 422 on a RoleBinding is
 * most likely a binding of that name we do not see (not labelled) with
 * another roleRef. The name is ours to keep: delete it, apply again. */
static int apply_refused(tenant_run *r, int k, const char *ns, const char *cname, json_t *want,
                         int recreate, int rc, pb_err *err)
{
    if (rc != PB_EINVAL || k != OP_CHILD_ROLEBINDINGS || recreate)
        return rc;
    pb_err_clear(err);
    rc = kube_delete(r->op->client, operator_child_gvr(k), ns, cname, NULL, NULL, err);
    if (rc == 0 || rc == PB_ENOTFOUND) {
        pb_err_clear(err);
        rc = operator_apply_child(r->op, k, ns, want, err);
    }
    return rc;
}

/* An apply of a child failed: say which, and whether it only waits for
 * the operator's fresh binding (2). */
static int apply_failed(const char *resource, const char *ns, const char *cname, int rc, int fresh_binding,
                        pb_err *err)
{
    pb_err_wrap(err, "applying %s %s%s%s", resource, ns ? ns : "", ns ? "/" : "", cname);
    return rc == PB_EFORBIDDEN && fresh_binding ? 2 : rc;
}

/* Apply every desired child that is missing or drifted. Returns 1 (why
 * filled) when the namespace exists and is not ours: nothing was touched.
 * Returns 2 when a write was forbidden just after the operator bound itself
 * in the namespace: a real API server's RBAC cache takes a moment to see
 * the new binding, so the caller waits and retries instead of reporting an
 * error. *restored counts children that were edited or deleted by hand: only
 * meaningful when the tenant was already provisioned on the same plan
 * (`was_provisioned`); otherwise differences are ours to make. The
 * namespace and the operator's binding are written one by one, the rest
 * together (operator_apply_children): a reconcile waits for the server
 * three times, not eight. */
static int converge_children(tenant_run *r, const json_t *plan, const planspec_isolation *iso,
                             int suspended, int was_provisioned, int *restored, char *why,
                             size_t why_n, pb_err *err)
{
    int fresh_binding = 0;
    json_t *children = tenantspec_children(r->tenant, plan, iso, suspended, r->op->system_ns);
    /* The namespace, then the operator's binding in it (its rights there),
     * one by one; the rest need only those and go together. */
    operator_child_apply later[16];
    int later_recreate[16];
    size_t nlater = 0;
    size_t i;
    json_t *c;
    int rc = 0;
    json_array_foreach(children, i, c) {
        const char *resource = json_string_value(json_object_get(c, "resource"));
        const char *ns = json_string_value(json_object_get(c, "namespace"));
        json_t *want = json_object_get(c, "object");
        const char *cname = json_string_value(json_object_get(json_object_get(want, "metadata"), "name"));
        int k = child_index(resource);
        int first = k == OP_CHILD_NAMESPACES ||
                    (k == OP_CHILD_ROLEBINDINGS && strcmp(cname, TENANTSPEC_BINDING_OPERATOR) == 0);
        json_t *live;
        if (k == OP_CHILD_NAMESPACES) {
            /* First, and nothing else until it is known to be ours. */
            if ((rc = ensure_namespace(r, want, &live, why, why_n, err)) != 0)
                break;
            if (!live) /* just created as wanted */
                continue;
        } else {
            live = cached_child(r->op, k, ns, cname);
        }
        if (k == OP_CHILD_ROLEBINDINGS && strcmp(cname, TENANTSPEC_BINDING_OPERATOR) == 0)
            fresh_binding = !live || created_recently(live);
        int ok = live && tenantspec_child_matches(want, live);
        if (was_provisioned && !ok)
            (*restored)++;
        int recreate = !ok && roleref_changed(resource, want, live);
        json_decref(live);
        if (ok)
            continue;
        if (recreate && (rc = kube_delete(r->op->client, operator_child_gvr(k), ns, cname, NULL, NULL, err)) != 0 &&
            rc != PB_ENOTFOUND) {
            pb_err_wrap(err, "replacing %s %s/%s (its roleRef changed)", resource, ns, cname);
            break;
        }
        rc = 0;
        pb_err_clear(err);
        if (!first && nlater < sizeof later / sizeof later[0]) {
            later[nlater] = (operator_child_apply){.k = k, .ns = ns, .obj = want};
            later_recreate[nlater++] = recreate;
            continue;
        }
        rc = operator_apply_child(r->op, k, ns, want, err);
        rc = apply_refused(r, k, ns, cname, want, recreate, rc, err);
        if (rc != 0) {
            rc = apply_failed(resource, ns, cname, rc, fresh_binding, err);
            break;
        }
    }
    if (rc == 0 && nlater > 0) {
        operator_apply_children(r->op, later, nlater);
        for (size_t j = 0; j < nlater && rc == 0; j++) {
            operator_child_apply *a = &later[j];
            const char *cname = json_string_value(json_object_get(json_object_get(a->obj, "metadata"), "name"));
            *err = a->err;
            rc = apply_refused(r, a->k, a->ns, cname, a->obj, later_recreate[j], a->rc, err);
            if (rc != 0)
                rc = apply_failed(operator_child_gvr(a->k)->resource, a->ns, cname, rc, fresh_binding, err);
        }
    }
    json_decref(children);
    if (rc != 0)
        return rc;
    if ((rc = remove_child(r, "networkpolicies", suspended ? "tenant-isolation" : "tenant-suspended", err)) != 0)
        return rc;
    if (strcmp(iso->compute, "shared") == 0 &&
        (rc = remove_child(r, "limitranges", "tenant-limits", err)) != 0)
        return rc;

    char pool[64];
    tenantspec_pool_configmap(iso, pool, sizeof pool);
    if (strcmp(iso->compute, "shared") == 0) {
        char *entry = tenantspec_route_entry(r->tenant, plan, iso, suspended);
        rc = route(r, pool, entry, err);
        free(entry);
        if (rc == 0)
            rc = unroute_all(r, pool, err);
    } else {
        rc = unroute_all(r, NULL, err);
    }
    if (rc != 0)
        pb_err_wrap(err, "routing tenant in pool %s", pool);
    return rc;
}

/* The database endpoint ("host:port") in a status, copied into buf ("" for
 * none): what the egress rule of tenant-isolation was computed from. */
static const char *endpoint_of(const json_t *status, char *buf, size_t n)
{
    const char *e = json_string_value(json_object_get(json_object_get(status, "database"), "endpoint"));
    snprintf(buf, n, "%s", e ? e : "");
    return buf;
}

/* The database step just gave the tenant a new endpoint: apply the
 * isolation policy again so its pods may reach it (and no longer the old
 * one). Not drift: the policy follows the status we are writing. */
static int reapply_isolation(tenant_run *r, const json_t *plan, const planspec_isolation *iso,
                             pb_err *err)
{
    json_t *children = tenantspec_children(r->tenant, plan, iso, 0, r->op->system_ns);
    size_t i;
    json_t *c;
    int rc = 0;
    json_array_foreach(children, i, c) {
        json_t *want = json_object_get(c, "object");
        const char *cname = json_string_value(json_object_get(json_object_get(want, "metadata"), "name"));
        if (strcmp(json_string_value(json_object_get(c, "resource")), "networkpolicies") != 0 ||
            strcmp(cname, "tenant-isolation") != 0)
            continue;
        rc = operator_apply(r->op, operator_child_gvr(OP_CHILD_NETWORKPOLICIES), r->ns, want,
                            OPERATOR_FIELD_MANAGER, err);
        if (rc != 0)
            pb_err_wrap(err, "applying networkpolicies %s/%s", r->ns, cname);
    }
    json_decref(children);
    return rc;
}

/* Read the tenant's credentials Secret from the API server into the
 * Secret store tenant_database.c reads (op->children[OP_CHILD_SECRETS]):
 * no informer fills it, the operator may only read that one Secret in
 * namespaces it created. */
static int refresh_secret(tenant_run *r, pb_err *err)
{
    store *st = r->op->children[OP_CHILD_SECRETS];
    if (!st)
        return 0;
    char key[256];
    snprintf(key, sizeof key, "%s/%s", r->ns, TENANT_DB_SECRET);
    json_t *sec = NULL;
    int rc = kube_get(r->op->client, operator_child_gvr(OP_CHILD_SECRETS), r->ns, TENANT_DB_SECRET, NULL,
                      &sec, err);
    if (rc == PB_ENOTFOUND) {
        pb_err_clear(err);
        store_delete(st, key, NULL);
        return 0;
    }
    if (rc != 0)
        return pb_err_wrap(err, "reading Secret %s", key);
    rc = store_upsert(st, sec, NULL, NULL, err);
    json_decref(sec);
    return rc;
}

/* Whether the live namespace is this tenant's: the cache first (it holds
 * only namespaces labelled as ours), else the API server. 1 yes, 0 no (or
 * gone), negative on error. */
static int namespace_is_ours(tenant_run *r, pb_err *err)
{
    json_t *live = cached_child(r->op, OP_CHILD_NAMESPACES, NULL, r->ns);
    if (!live) {
        int rc = kube_get(r->op->client, operator_child_gvr(OP_CHILD_NAMESPACES), NULL, r->ns, NULL, &live, err);
        if (rc == PB_ENOTFOUND) {
            pb_err_clear(err);
            return 0;
        }
        if (rc != 0)
            return rc;
    }
    char why[512];
    const char *uid = json_string_value(json_object_get(json_object_get(r->tenant, "metadata"), "uid"));
    int ours = tenantspec_namespace_owned(live, r->name, uid, why, sizeof why);
    json_decref(live);
    if (!ours)
        pb_log_info("leaving namespace alone", "tenant", r->name, "reason", why, NULL);
    return ours;
}

static controller_result finalize(tenant_run *r, pb_err *err)
{
    if (!has_finalizer(r->tenant))
        return controller_ok();
    set_phase(r, "Deprovisioning");
    const char *policy = "Retain";
    pb_json_opt_string(r->tenant, "spec.deletionPolicy", "Retain", &policy, NULL);
    controller_result res = write_status(r, err);
    if (res.kind == CONTROLLER_ERROR)
        return res;

    /* The data first (a snapshot, when asked for, is taken while the
     * `server` layout's server still runs), then the cloud resources
     * (cloud.h: Delete and Snapshot destroy them, Retain keeps them and
     * says where their state is). Both steps are idempotent: a pass that
     * finds the database gone does nothing, so passes that wait for a
     * destroy repeat neither the snapshot nor its Event. */
    int rc = tenant_database_delete(r->op, r->tenant, r->status, policy, err);
    if (rc == 0) {
        /* Record where the data went (snapshot path and checksum, or where
         * it is retained) while the Tenant still exists. */
        res = write_status(r, err);
        if (res.kind != CONTROLLER_SUCCESS)
            return res;
        rc = unroute_all(r, NULL, err);
    }
    if (rc == 0) {
        double cloud_requeue = 0;
        int crc = cloud_delete(r->op, r->tenant, r->status, policy, r->now, &cloud_requeue, err);
        if (crc <= 0) {
            pb_err werr;
            write_status(r, &werr);
            if (crc < 0)
                return controller_error();
            return cloud_requeue > 0 ? controller_requeue_after(cloud_requeue) : controller_ok();
        }
        res = write_status(r, err);
        if (res.kind != CONTROLLER_SUCCESS)
            return res;
    }
    /* Delete and Snapshot: nothing to do here for the namespace. Once the
     * finalizer is gone the garbage collector deletes it, as the Tenant
     * owns it; a namespace we never owned carries no such reference. */
    int ours = rc == 0 && strcmp(policy, "Retain") == 0 ? namespace_is_ours(r, err) : 0;
    if (ours < 0)
        rc = ours;
    if (ours > 0) {
        /* Keep the namespace (and the data's credentials in it): cut it
         * loose from the Tenant so garbage collection leaves it alone. */
        json_t *patch = json_pack("{s:{s:n, s:{s:s}}}", "metadata", "ownerReferences", "labels",
                                  "paybill.dev/retained", "true");
        rc = kube_patch(r->op->client, operator_child_gvr(OP_CHILD_NAMESPACES), NULL, r->ns,
                        KUBE_PATCH_MERGE, patch, NULL, NULL, err);
        json_decref(patch);
    }
    if (rc == 0 && r->op->children[OP_CHILD_SECRETS]) {
        char key[256];
        snprintf(key, sizeof key, "%s/%s", r->ns, TENANT_DB_SECRET);
        store_delete(r->op->children[OP_CHILD_SECRETS], key, NULL);
    }
    if (rc == PB_ENOTFOUND) {
        pb_err_clear(err);
        rc = 0;
    }
    if (rc == 0) {
        rc = set_finalizer(r, 0, err);
        if (rc == PB_ENOTFOUND) { /* an earlier pass already let it go */
            pb_err_clear(err);
            return controller_ok();
        }
    }
    if (rc == PB_ECONFLICT)
        return controller_requeue();
    if (rc != 0) {
        pb_err_wrap(err, "tenant %s: deprovisioning (%s)", r->name, policy);
        return controller_error();
    }
    operator_event(r->op, r->tenant, "Normal", "Deprovisioned", "tenant removed (deletionPolicy %s)", policy);
    return controller_ok();
}

static controller_result reconcile(tenant_run *r, pb_err *err)
{
    operator_ctx *op = r->op;
    if (json_object_get(json_object_get(r->tenant, "metadata"), "deletionTimestamp"))
        return finalize(r, err);
    if (!has_finalizer(r->tenant)) {
        int rc = set_finalizer(r, 1, err);
        if (rc == PB_ECONFLICT)
            return operator_requeue_conflict();
        if (rc == PB_ENOTFOUND)
            return controller_requeue();
        if (rc != 0) {
            pb_err_wrap(err, "tenant %s: adding finalizer", r->name);
            return controller_error();
        }
        /* The update comes back through the watch and reconciles again. */
        return controller_ok();
    }
    json_object_set_new(r->status, "namespace", json_string(r->ns));

    /* 2. Which subscription, which plan. */
    char msg[1024];
    json_t *subs = operator_tenant_subscriptions(op, r->name, 1);
    size_t nsubs = json_array_size(subs);
    if (nsubs == 0) {
        json_decref(subs);
        subs = operator_tenant_subscriptions(op, r->name, 0);
        nsubs = json_array_size(subs);
        if (nsubs == 0 || !json_object_get(r->status, "plan")) {
            json_decref(subs);
            snprintf(msg, sizeof msg, "no Subscription references tenant \"%s\"", r->name);
            return blocked(r, "SubscriptionActive", "NoSubscription", "Pending", msg, err);
        }
        /* Only canceled ones left: keep the tenant on its plan, suspended. */
    } else if (nsubs > 1) {
        size_t len = 0;
        char names[512] = "";
        size_t i;
        json_t *s;
        json_array_foreach(subs, i, s) {
            const char *n = json_string_value(json_object_get(json_object_get(s, "metadata"), "name"));
            if (len >= sizeof names)
                break;
            len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "", n);
        }
        json_decref(subs);
        snprintf(msg, sizeof msg,
                 "tenant has %zu active subscriptions (%s); cancel or delete all but one", nsubs, names);
        return blocked(r, "SubscriptionActive", "MultipleSubscriptions", "Failed", msg, err);
    }
    json_t *sub = json_incref(json_array_get(subs, 0));
    json_decref(subs);
    /* Copies: `sub` is the cache's object, which the informer may replace
     * (and free) once we let go of it. */
    char sub_name[256], plan_name[256], state_buf[32];
    const char *s_name = json_string_value(json_object_get(json_object_get(sub, "metadata"), "name"));
    const char *s_state = NULL, *s_plan = NULL;
    pb_json_opt_string(sub, "status.state", NULL, &s_state, NULL);
    pb_json_opt_string(sub, "spec.planRef.name", "", &s_plan, NULL);
    snprintf(sub_name, sizeof sub_name, "%s", s_name ? s_name : "");
    snprintf(plan_name, sizeof plan_name, "%s", s_plan);
    snprintf(state_buf, sizeof state_buf, "%s", s_state ? s_state : "");
    const char *state = s_state ? state_buf : NULL;
    json_object_set_new(r->status, "subscription", json_string(sub_name));
    if (!state) {
        /* A Subscription that cannot be evaluated (its plan is missing, its
         * spec invalid) says why in its Ready condition: repeat it here. */
        const json_t *sready = cond_find(json_object_get(sub, "status"), "Ready");
        const char *sr_status = json_string_value(json_object_get(sready, "status"));
        const char *sr_reason = json_string_value(json_object_get(sready, "reason"));
        const char *sr_msg = json_string_value(json_object_get(sready, "message"));
        int sub_failed = sr_status && strcmp(sr_status, "False") == 0 && sr_reason;
        if (sub_failed)
            snprintf(msg, sizeof msg, "subscription \"%s\" is not ready: %s: %s", sub_name, sr_reason,
                     sr_msg ? sr_msg : "");
        else
            snprintf(msg, sizeof msg, "waiting for subscription \"%s\" to be evaluated", sub_name);
        json_decref(sub);
        cond_set(r->status, "SubscriptionActive", sub_failed ? "False" : "Unknown",
                 sub_failed ? "SubscriptionNotReady" : "Pending", msg, r->gen, r->now);
        cond_set(r->status, "Ready", "False", sub_failed ? "SubscriptionNotReady" : "SubscriptionPending",
                 msg, r->gen, r->now);
        if (!json_object_get(r->status, "phase"))
            set_phase(r, "Pending");
        return write_status(r, err);
    }
    json_t *plan = store_get(op->plans, plan_name);
    if (!plan) {
        snprintf(msg, sizeof msg, "plan \"%s\" (from subscription \"%s\") does not exist", plan_name, sub_name);
        json_decref(sub);
        return blocked(r, "Ready", "PlanNotFound", "Pending", msg, err);
    }
    pb_err perr;
    pb_err_clear(&perr);
    planspec_isolation iso;
    if (planspec_validate(plan, &perr) != 0 || planspec_isolation_of(plan, &iso, &perr) != 0) {
        snprintf(msg, sizeof msg, "plan \"%.200s\" is invalid: %.700s", plan_name, perr.msg);
        json_decref(sub);
        json_decref(plan);
        return blocked(r, "Ready", "PlanInvalid", "Failed", msg, err);
    }

    /* 3. Entitlement and suspension. */
    int entitled = strcmp(state, "trialing") == 0 || strcmp(state, "active") == 0 ||
                   strcmp(state, "past_due") == 0;
    int spec_suspend = 0;
    pb_json_opt_bool(r->tenant, "spec.suspend", 0, &spec_suspend, NULL);
    int suspended = spec_suspend || !entitled;
    const char *sub_reason = json_string_value(json_object_get(cond_find(json_object_get(sub, "status"), "Active"), "reason"));
    snprintf(msg, sizeof msg, "subscription \"%s\" is %s", sub_name, state);
    cond_set(r->status, "SubscriptionActive", entitled ? "True" : "False",
             sub_reason ? sub_reason : (entitled ? "Active" : "NotEntitled"), msg, r->gen, r->now);
    json_decref(sub);

    const char *prev_plan = json_string_value(json_object_get(r->status, "plan"));
    int same_plan = prev_plan && strcmp(prev_plan, plan_name) == 0;
    int prev_suspended = strcmp(json_string_value(json_object_get(r->status, "phase")) ? json_string_value(json_object_get(r->status, "phase")) : "", "Suspended") == 0;
    /* A Plan spec change (its generation) is a legitimate change, not drift. */
    long long plan_gen = 0, prev_plan_gen = -1;
    pb_json_opt_int(plan, "metadata.generation", 0, &plan_gen, NULL);
    pb_json_opt_int(r->status, "planGeneration", -1, &prev_plan_gen, NULL);
    int was_provisioned = same_plan && prev_plan_gen == plan_gen && prev_suspended == suspended &&
                          cond_is_true(r->old_status, "NamespaceReady");
    json_object_set_new(r->status, "planGeneration", json_integer(plan_gen));
    if (prev_plan && !same_plan)
        operator_event(op, r->tenant, "Normal", "PlanChanged", "plan %s -> %s", prev_plan, plan_name);
    json_object_set_new(r->status, "plan", json_string(plan_name));
    const char *tier = json_string_value(json_object_get(json_object_get(plan, "spec"), "tier"));
    if (tier)
        json_object_set_new(r->status, "tier", json_string(tier));
    else
        json_object_del(r->status, "tier");
    json_object_set_new(r->status, "isolation", json_pack("{s:s, s:s, s:s}", "model", iso.model,
                                                          "compute", iso.compute, "data", iso.data));
    if (!json_object_get(r->status, "phase") ||
        strcmp(json_string_value(json_object_get(r->status, "phase")), "Pending") == 0)
        set_phase(r, "Provisioning");

    /* 4. Namespace and everything in it. */
    int restored = 0;
    char why[512] = "";
    int rc = converge_children(r, plan, &iso, suspended, was_provisioned, &restored, why, sizeof why, err);
    if (rc == 1) {
        /* Someone else's namespace: touch nothing, say so, look again now
         * and then (its removal is not something we are told about). */
        json_decref(plan);
        controller_result res = blocked(r, "NamespaceReady", "NamespaceNotOwned", "Failed", why, err);
        return res.kind == CONTROLLER_SUCCESS ? controller_requeue_after(30) : res;
    }
    if (rc == 2) {
        json_decref(plan);
        pb_log_info("waiting for the operator's new RoleBinding to take effect", "tenant", r->name,
                    "namespace", r->ns, "error", pb_err_msg(err), NULL);
        return controller_requeue_after(0.5);
    }
    if (rc != 0) {
        snprintf(msg, sizeof msg, "%s", pb_err_msg(err));
        cond_set(r->status, "NamespaceReady", "False", "ApplyFailed", msg, r->gen, r->now);
        cond_set(r->status, "Ready", "False", "NamespaceNotReady", msg, r->gen, r->now);
        json_decref(plan);
        pb_err werr;
        write_status(r, &werr);
        return rc == PB_EUNAVAILABLE ? controller_requeue_after(2) : controller_error();
    }
    if (restored)
        operator_event(op, r->tenant, "Warning", "DriftCorrected",
                       "%d child object(s) had drifted from the plan and were put back", restored);
    snprintf(msg, sizeof msg, "namespace %s provisioned", r->ns);
    cond_set(r->status, "NamespaceReady", "True", "Provisioned", msg, r->gen, r->now);

    /* 5. Cloud and data. */
    /* Cloud first: the `server` data layout's server is one of its outputs. */
    const char *provider = "none";
    pb_json_opt_string(plan, "spec.cloud.provider", "none", &provider, NULL);
    int cloud_ready = strcmp(provider, "none") == 0;
    double cloud_requeue = 0;
    if (cloud_ready)
        cond_set(r->status, "CloudReady", "True", "NotRequired", "the plan asks for no cloud resources", r->gen, r->now);
    else if (suspended)
        cloud_ready = cond_is_true(r->status, "CloudReady"); /* no runs while suspended */
    else if ((cloud_ready = cloud_reconcile(op, r->tenant, plan, r->status, r->gen, r->now, &cloud_requeue, err)) < 0) {
        json_decref(plan);
        pb_err werr;
        cond_set(r->status, "Ready", "False", "CloudNotReady", pb_err_msg(err), r->gen, r->now);
        write_status(r, &werr);
        return controller_error();
    }
    char ep_before[300], ep_after[300];
    endpoint_of(r->status, ep_before, sizeof ep_before);
    const char *model = NULL;
    pb_json_opt_string(plan, "spec.database.dataModel", NULL, &model, NULL);
    int db_ready = model ? refresh_secret(r, err) : 0; /* no data model: no database, no Secret */
    if (db_ready == 0)
        db_ready = tenant_database_reconcile(op, r->tenant, plan, &iso, suspended, r->status, r->now, err);
    if (db_ready >= 0 && !suspended &&
        strcmp(ep_before, endpoint_of(r->status, ep_after, sizeof ep_after)) != 0 &&
        (rc = reapply_isolation(r, plan, &iso, err)) != 0)
        db_ready = rc;
    if (db_ready < 0) {
        json_decref(plan);
        pb_err werr;
        cond_set(r->status, "Ready", "False", "DatabaseNotReady", pb_err_msg(err), r->gen, r->now);
        write_status(r, &werr);
        return controller_error();
    }
    json_decref(plan);

    /* 6. Ready and phase. */
    if (suspended) {
        snprintf(msg, sizeof msg, "%s", spec_suspend ? "spec.suspend is true" : json_string_value(json_object_get(cond_find(r->status, "SubscriptionActive"), "message")));
        cond_set(r->status, "Ready", "False", "Suspended", msg, r->gen, r->now);
        set_phase(r, "Suspended");
    } else if (!db_ready) {
        cond_set(r->status, "Ready", "False", "DatabaseNotReady",
                 json_string_value(json_object_get(cond_find(r->status, "DatabaseReady"), "message")), r->gen, r->now);
        set_phase(r, "Provisioning");
    } else if (!cloud_ready) {
        cond_set(r->status, "Ready", "False", "CloudNotReady",
                 json_string_value(json_object_get(cond_find(r->status, "CloudReady"), "message")), r->gen, r->now);
        set_phase(r, "Provisioning");
    } else {
        cond_set(r->status, "Ready", "True", "Active", "tenant is provisioned and active", r->gen, r->now);
        set_phase(r, "Active");
    }
    r->requeue_s = cloud_requeue;
    return write_status(r, err);
}

controller_result tenant_reconcile(controller_ctx *ctx, const char *key, pb_err *err)
{
    operator_ctx *op = ctx->user;
    if (operator_cache_behind(op, op->tenants, &OPERATOR_GVR_TENANTS, key))
        return operator_requeue_conflict(); /* and look again: a skip must not lose a timed requeue */
    operator_obj o;
    if (operator_obj_begin(op, op->tenants, key, &o) != 0)
        return controller_ok();
    tenant_run r = {.op = op, .name = key, .tenant = o.obj, .status = o.status,
                    .old_status = o.old_status, .gen = o.gen};
    snprintf(r.now, sizeof r.now, "%s", o.now);
    tenantspec_namespace(key, r.ns, sizeof r.ns);

    controller_result res = reconcile(&r, err);
    /* Look again later at a provisioned tenant with a credentials Secret:
     * see SECRET_RESYNC_S. */
    if (res.kind == CONTROLLER_SUCCESS && json_object_get(r.status, "database") &&
        !json_object_get(json_object_get(r.tenant, "metadata"), "deletionTimestamp")) {
        unsigned h = 2166136261u; /* FNV-1a of the name: a stable spread per tenant */
        for (const char *p = key; *p; p++)
            h = (h ^ (unsigned char)*p) * 16777619u;
        res = controller_requeue_after(SECRET_RESYNC_S * (0.9 + 0.2 * (double)(h % 1000) / 1000.0));
    }
    /* The cloud layer's next look (a run's poll, a drift check) when sooner. */
    if (res.kind == CONTROLLER_SUCCESS && r.requeue_s > 0)
        res = controller_requeue_after(r.requeue_s);
    else if (res.kind == CONTROLLER_REQUEUE_AFTER && r.requeue_s > 0 && r.requeue_s < res.after_s)
        res = controller_requeue_after(r.requeue_s);
    json_decref(r.old_status);
    json_decref(r.tenant);
    return res;
}
