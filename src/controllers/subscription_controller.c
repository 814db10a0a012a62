/*
 * subscription_controller.c - the Subscription reconciler.
 *
 * Runs the state machine of substate.c against the current time and writes
 * the result to status: state, trial and period boundaries, grace deadline.
 * It schedules itself for the next boundary (requeue-after), so a trial
 * ends or a grace period runs out on time without polling. The Tenant
 * controller watches Subscriptions and reacts to the state it publishes;
 * this reconciler never touches tenants itself.
 */
#include <stdio.h>
#include <string.h>

#include "controllers/conditions.h"
#include "controllers/operator.h"
#include "controllers/planspec.h"
#include "controllers/substate.h"
#include "util/json.h"
#include "util/timeutil.h"

static void set_time(json_t *status, const char *key, time_t t)
{
    if (!t) {
        json_object_del(status, key);
        return;
    }
    char buf[PB_TIME_BUF];
    struct timespec ts = {t, 0};
    json_object_set_new(status, key, json_string(pb_time_format_rfc3339(ts, buf, sizeof buf)));
}

controller_result subscription_reconcile(controller_ctx *ctx, const char *key, pb_err *err)
{
    operator_ctx *op = ctx->user;
    operator_obj o;
    if (operator_obj_begin(op, op->subscriptions, key, &o) != 0)
        return controller_ok();
    json_t *sub = o.obj, *status = o.status;
    long long gen = o.gen;
    const char *now = o.now;

    const char *plan_name = NULL, *tenant_name = NULL;
    pb_json_opt_string(sub, "spec.planRef.name", "", &plan_name, NULL);
    pb_json_opt_string(sub, "spec.tenantRef.name", "", &tenant_name, NULL);

    json_t *plan = store_get(op->plans, plan_name);
    if (!plan) {
        char msg[512];
        snprintf(msg, sizeof msg, "plan \"%s\" does not exist", plan_name);
        if (cond_set(status, "Ready", "False", "PlanNotFound", msg, gen, now))
            operator_event(op, sub, "Warning", "PlanNotFound", "%s", msg);
        /* The Plan watch re-queues us when it appears. */
        return operator_obj_finish(op, &o, &OPERATOR_GVR_SUBSCRIPTIONS, "subscription", key,
                                   controller_ok(), err);
    }

    substate_result r;
    pb_err serr;
    pb_err_clear(&serr);
    if (substate_compute(sub, plan, operator_now(op), &r, &serr) != 0) {
        json_decref(plan);
        if (cond_set(status, "Ready", "False", "InvalidSpec", serr.msg, gen, now))
            operator_event(op, sub, "Warning", "InvalidSpec", "%s", serr.msg);
        return operator_obj_finish(op, &o, &OPERATOR_GVR_SUBSCRIPTIONS, "subscription", key,
                                   controller_ok(), err);
    }
    time_t retention_ends = r.canceled_at ? r.canceled_at + (time_t)(planspec_retention_period(plan) / PB_SECOND) : 0;
    json_decref(plan);

    const char *prev = json_string_value(json_object_get(status, "state"));
    if (!prev || strcmp(prev, r.state) != 0)
        operator_event(op, sub, r.entitled ? "Normal" : "Warning", "StateChanged", "%s -> %s: %s",
                       prev ? prev : "new", r.state, r.message);
    json_object_set_new(status, "state", json_string(r.state));
    set_time(status, "trialEnd", r.trial_end);
    set_time(status, "currentPeriodStart", r.period_start);
    set_time(status, "currentPeriodEnd", r.period_end);
    set_time(status, "pastDueSince", r.past_due_since);
    set_time(status, "graceEnds", r.grace_ends);
    set_time(status, "canceledAt", r.canceled_at);
    cond_set(status, "Active", r.entitled ? "True" : "False", r.reason, r.message, gen, now);
    /* Canceled: the plan's retention period starts. No event deletes data:
     * when it ends, deleting the Tenant (and so its data, by its
     * deletionPolicy) stays a human decision. */
    set_time(status, "retentionEnds", retention_ends);
    if (retention_ends) {
        char msg[512], until[PB_TIME_BUF];
        pb_time_format_rfc3339((struct timespec){retention_ends, 0}, until, sizeof until);
        int ended = operator_now(op) >= retention_ends;
        if (ended)
            snprintf(msg, sizeof msg,
                     "the plan's retention period ended at %s: tenant %s and its data stay until a human deletes the "
                     "Tenant (its deletionPolicy then applies)",
                     until, tenant_name);
        else
            snprintf(msg, sizeof msg, "canceled: tenant %s is suspended and its data kept at least until %s (the plan's "
                                      "retentionPeriod)",
                     tenant_name, until);
        if (cond_set(status, "DataRetained", "True", ended ? "RetentionEnded" : "RetentionPeriod", msg, gen, now) &&
            ended)
            operator_event(op, sub, "Warning", "RetentionEnded", "%s", msg);
        if (!ended && (!r.next_transition || r.next_transition > retention_ends))
            r.next_transition = retention_ends;
    } else {
        cond_remove(status, "DataRetained");
    }

    json_t *tenant = store_get(op->tenants, tenant_name);
    if (!tenant) {
        char msg[512];
        snprintf(msg, sizeof msg, "tenant \"%s\" does not exist", tenant_name);
        cond_set(status, "Ready", "False", "TenantNotFound", msg, gen, now);
    } else {
        cond_set(status, "Ready", "True", "Resolved", "plan and tenant exist", gen, now);
        json_decref(tenant);
    }

    double after = 0;
    if (r.next_transition) {
        /* One second late rather than early: the boundary must have passed. */
        after = (double)(r.next_transition - operator_now(op)) + 1.0;
        if (after < 1.0)
            after = 1.0;
    }
    return operator_obj_finish(op, &o, &OPERATOR_GVR_SUBSCRIPTIONS, "subscription", key,
                               after > 0 ? controller_requeue_after(after) : controller_ok(), err);
}
