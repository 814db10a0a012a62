/*
 * plan_controller.c - the Plan reconciler.
 *
 * A Plan is catalogue data: nothing is provisioned for it. The reconciler
 * validates what the schema cannot (planspec.c), resolves the effective
 * isolation, counts the tenants provisioned on it, and reports all of that
 * in status. Tenants re-read their Plan through their own watch (a Plan
 * change re-queues its tenants, see operator.c), so nothing here fans out.
 */
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

controller_result plan_reconcile(controller_ctx *ctx, const char *key, pb_err *err)
{
    operator_ctx *op = ctx->user;
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
    return operator_obj_finish(op, &o, &OPERATOR_GVR_PLANS, "plan", key, controller_ok(), err);
}
