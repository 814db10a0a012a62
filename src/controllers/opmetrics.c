/*
 * opmetrics.c - dashboard metrics (see opmetrics.h).
 */
#include "controllers/opmetrics.h"

#include <string.h>

#include "util/json.h"
#include "util/log.h"
#include "util/metrics.h"

static pb_counter *counter(const char *name, const char *help, const char *const *labels)
{
    pb_counter *c = NULL;
    pb_err e;
    pb_err_clear(&e);
    /* Registering again returns the same metric: no state of our own. */
    if (pb_metrics_counter_register(pb_metrics_default(), name, help, labels, &c, &e) != 0) {
        pb_log_warn("metric not registered", "metric", name, "error", e.msg, NULL);
        return NULL;
    }
    return c;
}

static pb_gauge *gauge(const char *name, const char *help, const char *const *labels)
{
    pb_gauge *g = NULL;
    pb_err e;
    pb_err_clear(&e);
    if (pb_metrics_gauge_register(pb_metrics_default(), name, help, labels, &g, &e) != 0) {
        pb_log_warn("metric not registered", "metric", name, "error", e.msg, NULL);
        return NULL;
    }
    return g;
}

static const char *str_at(const json_t *o, const char *path, const char *dflt)
{
    const char *v = NULL;
    pb_json_opt_string(o, path, dflt, &v, NULL);
    return v && *v ? v : dflt;
}

/* ---- gauges that follow the caches -------------------------------------------------- */

static const char *const TENANT_LABELS[] = {"phase", "plan", "isolation", NULL};
static const char *const SUB_LABELS[] = {"state", NULL};

static pb_gauge *tenants_gauge(void)
{
    return gauge("paybill_tenants", "Tenants by phase, plan and isolation model.", TENANT_LABELS);
}

static pb_gauge *subs_gauge(void)
{
    return gauge("paybill_subscriptions", "Subscriptions by state.", SUB_LABELS);
}

static void tenant_add(pb_gauge *g, const json_t *t, double v)
{
    if (g && t)
        pb_metrics_gauge_add(g, v, str_at(t, "status.phase", "Pending"), str_at(t, "status.plan", "none"),
                             str_at(t, "status.isolation.model", "none"), NULL);
}

static void sub_add(pb_gauge *g, const json_t *s, double v)
{
    if (g && s)
        pb_metrics_gauge_add(g, v, str_at(s, "status.state", "new"), NULL);
}

static int same_tenant_labels(const json_t *a, const json_t *b)
{
    static const char *const paths[] = {"status.phase", "status.plan", "status.isolation.model"};
    for (size_t i = 0; i < 3; i++)
        if (strcmp(str_at(a, paths[i], ""), str_at(b, paths[i], "")) != 0)
            return 0;
    return 1;
}

static void t_on_add(void *ud, json_t *o) { tenant_add(ud, o, 1); }
static void t_on_delete(void *ud, json_t *o) { tenant_add(ud, o, -1); }
static void t_on_update(void *ud, json_t *old_obj, json_t *new_obj)
{
    if (same_tenant_labels(old_obj, new_obj))
        return;
    tenant_add(ud, old_obj, -1);
    tenant_add(ud, new_obj, 1);
}

static void s_on_add(void *ud, json_t *o) { sub_add(ud, o, 1); }
static void s_on_delete(void *ud, json_t *o) { sub_add(ud, o, -1); }
static void s_on_update(void *ud, json_t *old_obj, json_t *new_obj)
{
    if (strcmp(str_at(old_obj, "status.state", ""), str_at(new_obj, "status.state", "")) == 0)
        return;
    sub_add(ud, old_obj, -1);
    sub_add(ud, new_obj, 1);
}

int opmetrics_watch(informer *tenants, informer *subscriptions, pb_err *err)
{
    informer_handler th = {.on_add = t_on_add, .on_update = t_on_update, .on_delete = t_on_delete,
                           .ud = tenants_gauge()};
    informer_handler sh = {.on_add = s_on_add, .on_update = s_on_update, .on_delete = s_on_delete,
                           .ud = subs_gauge()};
    int rc = informer_add_handler(tenants, &th, err);
    if (rc == 0)
        rc = informer_add_handler(subscriptions, &sh, err);
    return rc;
}

/* ---- counters ----------------------------------------------------------------------- */

static const char *result_of(int rc) { return rc == 0 ? "success" : "error"; }

void opmetrics_database_op(const char *layout, const char *op, int rc)
{
    static const char *const labels[] = {"layout", "op", "result", NULL};
    pb_counter *c = counter("paybill_database_operations_total",
                            "Tenant database operations (ensure, rotate, suspend, resume, move, delete) by layout "
                            "and result.",
                            labels);
    if (c)
        pb_metrics_counter_add(c, 1, layout ? layout : "unknown", op, result_of(rc), NULL);
}

void opmetrics_tier_move(const char *from, const char *to, int rc)
{
    static const char *const labels[] = {"from", "to", "result", NULL};
    pb_counter *c = counter("paybill_tier_moves_total", "Tenant data moves between layouts or servers.", labels);
    if (c)
        pb_metrics_counter_add(c, 1, from ? from : "unknown", to ? to : "unknown", result_of(rc), NULL);
}

void opmetrics_workflow_step(const char *operation, const char *result, long long rows)
{
    static const char *const labels[] = {"operation", "result", NULL};
    static const char *const row_labels[] = {"operation", NULL};
    pb_counter *c = counter("paybill_workflow_steps_total",
                            "Workflow steps run, by operation and result (succeeded, failed, dryRun).", labels);
    if (c)
        pb_metrics_counter_add(c, 1, operation, result, NULL);
    if (rows > 0 && (c = counter("paybill_workflow_rows_total", "Rows touched or returned by workflow steps.",
                                 row_labels)))
        pb_metrics_counter_add(c, (double)rows, operation, NULL);
}

void opmetrics_workflow_denied(const char *stage, const char *reason)
{
    static const char *const labels[] = {"stage", "reason", NULL};
    pb_counter *c = counter("paybill_workflow_denials_total",
                            "Workflows denied, at admission or when they run, by the deciding reason.", labels);
    if (c)
        pb_metrics_counter_add(c, 1, stage, reason, NULL);
}

void opmetrics_admission(const char *webhook, const char *result)
{
    static const char *const labels[] = {"webhook", "result", NULL};
    pb_counter *c = counter("paybill_admission_reviews_total",
                            "AdmissionReviews answered by the operator's webhooks, by webhook and result.", labels);
    if (c)
        pb_metrics_counter_add(c, 1, webhook, result, NULL);
}

void opmetrics_cloud_run(const char *kind, const char *result, double seconds)
{
    static const char *const labels[] = {"kind", "result", NULL};
    static const char *const hlabels[] = {"kind", NULL};
    /* OpenTofu runs take seconds to tens of minutes. */
    static const double buckets[] = {1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600};
    pb_counter *c = counter("paybill_cloud_runs_total",
                            "Cloud runs (OpenTofu) finished, by kind (plan, apply, destroy, drift) and result.", labels);
    if (c)
        pb_metrics_counter_add(c, 1, kind, result, NULL);
    pb_histogram *h = NULL;
    pb_err e;
    pb_err_clear(&e);
    if (pb_metrics_histogram_register(pb_metrics_default(), "paybill_cloud_run_duration_seconds",
                                      "Wall time of a cloud run (all its tool commands), by kind.", hlabels, buckets,
                                      sizeof buckets / sizeof buckets[0], &h, &e) == 0)
        pb_metrics_histogram_observe(h, seconds, kind, NULL);
    else
        pb_log_warn("metric not registered", "metric", "paybill_cloud_run_duration_seconds", "error", e.msg, NULL);
}
