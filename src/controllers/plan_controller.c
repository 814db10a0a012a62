/*
 * plan_controller.c - the Plan reconciler.
 *
 * A Plan is catalogue data: nothing is provisioned for it. The reconciler
 * validates what the schema cannot (planspec.c), resolves the effective
 * isolation, counts the tenants provisioned on it, and reports all of that
 * in status. Tenants re-read their Plan through their own watch (a Plan
 * change re-queues its tenants, see operator.c), so nothing here fans out.
 */
#include <pthread.h>
#include <string.h>

#include "controllers/conditions.h"
#include "controllers/operator.h"
#include "controllers/planspec.h"
#include "util/json.h"
#include "util/log.h"
#include "util/timeutil.h"

/* O(log n): runs after every batch of tenant changes. */
static long long count_tenants_on(operator_ctx *op, const char *plan)
{
    size_t n = 0;
    if (store_index_count(op->tenants, OPERATOR_INDEX_TENANT_PLAN, plan, &n) != 0) {
        json_t *names = json_array(); /* no index (unit tests): a scan */
        operator_keys_where(op->tenants, OPERATOR_INDEX_TENANT_PLAN, plan, "metadata.name", names);
        n = json_array_size(names);
        json_decref(names);
    }
    return (long long)n;
}

/* A cold start changes a plan's tenant count thousands of times a minute.
 * Writing each (and reading each back through the watch) was a PUT and a
 * watch event per few tenants, and the writes raced their own echoes into
 * 409s. A status whose only change is the count is written at most once
 * per PLAN_COUNT_INTERVAL_S; the last count is always written, at most
 * that much later. Any other change is written at once. */
#define PLAN_COUNT_INTERVAL_S 1.0

double plan_count_write_delay(operator_ctx *op, const char *plan, const json_t *old_status,
                              const json_t *status)
{
    if (!old_status || json_equal(old_status, status))
        return 0; /* nothing to write, or a first status */
    json_t *a = json_copy((json_t *)old_status), *b = json_copy((json_t *)status);
    json_object_del(a, "tenants");
    json_object_del(b, "tenants");
    int only_count = a && b && json_equal(a, b);
    json_decref(a);
    json_decref(b);
    if (!only_count)
        return 0;
    pthread_mutex_lock(&op->plan_mu);
    double last = json_real_value(json_object_get(op->plan_written, plan));
    pthread_mutex_unlock(&op->plan_mu);
    double wait = last > 0 ? last + PLAN_COUNT_INTERVAL_S - pb_time_mono_s() : 0;
    return wait > 0 ? wait : 0;
}

static void note_written(operator_ctx *op, const char *plan)
{
    pthread_mutex_lock(&op->plan_mu);
    if (!op->plan_written)
        op->plan_written = json_object();
    json_object_set_new(op->plan_written, plan, json_real(pb_time_mono_s())); /* lost on OOM: only a delay less */
    pthread_mutex_unlock(&op->plan_mu);
}

/* A cold start re-queued the Plan once per tenant, and each run only
 * found the count write still put off and re-queued it: a thousand thread
 * wake-ups and Plan decodes for nothing at N = 1,000. */
void plan_count_defer(operator_ctx *op, const char *plan, double wait_s)
{
    pthread_mutex_lock(&op->plan_mu);
    if (!op->plan_count_due)
        op->plan_count_due = json_object();
    /* Lost on OOM: tenant changes then re-queue the Plan as before. */
    json_object_set_new(op->plan_count_due, plan, json_real(pb_time_mono_s() + wait_s));
    pthread_mutex_unlock(&op->plan_mu);
}

void plan_count_clear(operator_ctx *op, const char *plan)
{
    pthread_mutex_lock(&op->plan_mu);
    json_object_del(op->plan_count_due, plan);
    pthread_mutex_unlock(&op->plan_mu);
}

static int count_write_put_off(operator_ctx *op, const char *plan)
{
    pthread_mutex_lock(&op->plan_mu);
    double due = json_real_value(json_object_get(op->plan_count_due, plan));
    pthread_mutex_unlock(&op->plan_mu);
    return due > pb_time_mono_s();
}

json_t *plan_map_tenant(json_t *tenant, void *ud)
{
    json_t *keys = operator_map_tenant_to_plan(tenant, ud);
    if (keys && count_write_put_off(ud, json_string_value(json_array_get(keys, 0)))) {
        json_decref(keys);
        return NULL;
    }
    return keys;
}

controller_result plan_reconcile(controller_ctx *ctx, const char *key, pb_err *err)
{
    operator_ctx *op = ctx->user;
    plan_count_clear(op, key); /* before counting: see plan_count_defer */
    operator_obj o;
    if (operator_obj_begin(op, op->plans, key, &o) != 0)
        return controller_ok(); /* deleted: nothing of ours to clean up */
    json_t *plan = o.obj, *status = o.status;

    pb_err verr;
    pb_err_clear(&verr);
    int valid = planspec_validate(plan, &verr) == 0;
    const char *was_s = json_string_value(json_object_get(status, "phase"));
    int was_invalid = was_s && strcmp(was_s, "Invalid") == 0; /* read before it is replaced */
    if (valid) {
        planspec_isolation iso;
        planspec_isolation_of(plan, &iso, NULL);
        json_object_set_new(status, "effectiveIsolation",
                            json_pack("{s:s, s:s, s:s}", "model", iso.model, "compute", iso.compute,
                                      "data", iso.data));
        json_object_set_new(status, "phase", json_string("Ready"));
        cond_set(status, "Ready", "True", "Valid", "plan is valid", o.gen, o.now);
        if (was_invalid)
            operator_event(op, plan, "Normal", "Valid", "plan is valid again");
    } else {
        json_object_del(status, "effectiveIsolation");
        json_object_set_new(status, "phase", json_string("Invalid"));
        cond_set(status, "Ready", "False", "InvalidSpec", verr.msg, o.gen, o.now);
        if (!was_invalid)
            operator_event(op, plan, "Warning", "InvalidSpec", "%s", verr.msg);
    }
    json_object_set_new(status, "tenants", json_integer(count_tenants_on(op, key)));
    json_object_set_new(status, "observedGeneration", json_integer(o.gen)); /* as operator_obj_finish sets it */
    double wait = plan_count_write_delay(op, key, o.old_status, status);
    if (wait > 0) {
        operator_obj_release(&o);
        plan_count_defer(op, key, wait);
        return controller_requeue_after(wait);
    }
    if (!o.old_status || !json_equal(o.old_status, status))
        note_written(op, key);
    return operator_obj_finish(op, &o, &OPERATOR_GVR_PLANS, "plan", key, controller_ok(), err);
}
