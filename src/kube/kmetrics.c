/*
 * kmetrics.c - controller-runtime metric families in the default registry
 * (see kmetrics.h).
 *
 * The families are registered once, on first use (pthread_once); the
 * handles are a cache over the process-wide registry, which is the global
 * state util/metrics.h allows. If registration fails (a name clash: a bug)
 * it is logged once and every call here becomes a no-op.
 */
#include "kube/kmetrics.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "util/log.h"
#include "util/metrics.h"

static struct {
    int ok;
    pb_gauge *wq_depth;
    pb_counter *wq_adds;
    pb_counter *wq_retries;
    pb_histogram *wq_queue_duration;
    pb_histogram *wq_work_duration;
    pb_gauge *wq_unfinished;
    pb_gauge *wq_longest;
    pb_counter *reconcile_total;
    pb_counter *reconcile_errors;
    pb_histogram *reconcile_time;
    pb_gauge *max_workers;
    pb_gauge *active_workers;
    pb_gauge *leader;
    pb_counter *events_dropped;
    pb_counter *relists, *watch_restarts;
    pb_gauge *cached_objects, *cache_bytes;
    pb_counter *rest_requests;
    pb_histogram *rest_duration;
} m;

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void register_all(void)
{
    pb_metrics_registry *r = pb_metrics_default();
    const char *const name[] = {"name", NULL};
    const char *const ctl[] = {"controller", NULL};
    const char *const ctl_result[] = {"controller", "result", NULL};
    const char *const resource[] = {"resource", NULL};
    /* client-go's workqueue buckets: 10 ns .. 10 s, x10 each. */
    static const double wq_buckets[] = {1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10};
    const size_t nwq = sizeof wq_buckets / sizeof wq_buckets[0];
    pb_err e;
    pb_err_clear(&e);
    int rc = 0;
    rc = rc ? rc : pb_metrics_gauge_register(r, "workqueue_depth", "Current depth of workqueue", name, &m.wq_depth, &e);
    rc = rc ? rc : pb_metrics_counter_register(r, "workqueue_adds_total", "Total number of adds handled by workqueue", name, &m.wq_adds, &e);
    rc = rc ? rc : pb_metrics_counter_register(r, "workqueue_retries_total", "Total number of retries handled by workqueue", name, &m.wq_retries, &e);
    rc = rc ? rc : pb_metrics_histogram_register(r, "workqueue_queue_duration_seconds",
                                                 "How long in seconds an item stays in workqueue before being requested",
                                                 name, wq_buckets, nwq, &m.wq_queue_duration, &e);
    rc = rc ? rc : pb_metrics_histogram_register(r, "workqueue_work_duration_seconds",
                                                 "How long in seconds processing an item from workqueue takes",
                                                 name, wq_buckets, nwq, &m.wq_work_duration, &e);
    rc = rc ? rc : pb_metrics_gauge_register(r, "workqueue_unfinished_work_seconds",
                                             "How many seconds of work has been done that is in progress and hasn't been observed by work_duration",
                                             name, &m.wq_unfinished, &e);
    rc = rc ? rc : pb_metrics_gauge_register(r, "workqueue_longest_running_processor_seconds",
                                             "How many seconds has the longest running processor for workqueue been running",
                                             name, &m.wq_longest, &e);
    rc = rc ? rc : pb_metrics_counter_register(r, "controller_runtime_reconcile_total",
                                               "Total number of reconciliations per controller", ctl_result,
                                               &m.reconcile_total, &e);
    rc = rc ? rc : pb_metrics_counter_register(r, "controller_runtime_reconcile_errors_total",
                                               "Total number of reconciliation errors per controller", ctl,
                                               &m.reconcile_errors, &e);
    rc = rc ? rc : pb_metrics_histogram_register(r, "controller_runtime_reconcile_time_seconds",
                                                 "Length of time per reconciliation per controller", ctl,
                                                 NULL, 0, &m.reconcile_time, &e);
    rc = rc ? rc : pb_metrics_gauge_register(r, "controller_runtime_max_concurrent_reconciles",
                                             "Maximum number of concurrent reconciles per controller", ctl,
                                             &m.max_workers, &e);
    rc = rc ? rc : pb_metrics_gauge_register(r, "controller_runtime_active_workers",
                                             "Number of currently used workers per controller", ctl,
                                             &m.active_workers, &e);
    rc = rc ? rc : pb_metrics_gauge_register(r, "leader_election_master_status",
                                             "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease.",
                                             name, &m.leader, &e);
    rc = rc ? rc : pb_metrics_counter_register(r, "paybill_events_dropped_total",
                                               "Kubernetes Events dropped because the recorder queue was full",
                                               NULL, &m.events_dropped, &e);
    rc = rc ? rc : pb_metrics_counter_register(r, "paybill_informer_relists_total",
                                               "Full relists after the watch resourceVersion expired (410 Gone)",
                                               resource, &m.relists, &e);
    rc = rc ? rc : pb_metrics_counter_register(r, "paybill_informer_watch_restarts_total",
                                               "Watch streams started again after ending (timeout, error or relist)",
                                               resource, &m.watch_restarts, &e);
    rc = rc ? rc : pb_metrics_gauge_register(r, "paybill_informer_cached_objects",
                                             "Objects in the informer's cache", resource, &m.cached_objects, &e);
    rc = rc ? rc : pb_metrics_gauge_register(r, "paybill_informer_cache_bytes",
                                             "Bytes of packed objects and keys in the informer's cache (allocator "
                                             "and index overhead not included)",
                                             resource, &m.cache_bytes, &e);
    const char *const code_method[] = {"code", "method", NULL};
    const char *const verb[] = {"verb", NULL};
    /* client-go's request latency buckets. */
    static const double rest_buckets[] = {0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60};
    rc = rc ? rc : pb_metrics_counter_register(r, "rest_client_requests_total",
                                               "Number of HTTP requests, partitioned by status code and method.",
                                               code_method, &m.rest_requests, &e);
    rc = rc ? rc : pb_metrics_histogram_register(r, "rest_client_request_duration_seconds",
                                                 "Request latency in seconds. Broken down by verb.", verb,
                                                 rest_buckets, sizeof rest_buckets / sizeof rest_buckets[0],
                                                 &m.rest_duration, &e);
    if (rc)
        pb_log_error("registering controller runtime metrics failed", "error", pb_err_msg(&e), NULL);
    m.ok = rc == 0;
}

static int ready(const char *label)
{
    if (!label)
        return 0;
    pthread_once(&once, register_all);
    return m.ok;
}

void kmetrics_workqueue_depth(const char *name, long depth)
{
    if (ready(name))
        pb_metrics_gauge_set(m.wq_depth, (double)depth, name, NULL);
}

void kmetrics_workqueue_add(const char *name)
{
    if (ready(name))
        pb_metrics_counter_add(m.wq_adds, 1, name, NULL);
}

void kmetrics_workqueue_retry(const char *name)
{
    if (ready(name))
        pb_metrics_counter_add(m.wq_retries, 1, name, NULL);
}

void kmetrics_workqueue_queue_duration(const char *name, double seconds)
{
    if (ready(name))
        pb_metrics_histogram_observe(m.wq_queue_duration, seconds, name, NULL);
}

void kmetrics_workqueue_work_duration(const char *name, double seconds)
{
    if (ready(name))
        pb_metrics_histogram_observe(m.wq_work_duration, seconds, name, NULL);
}

void kmetrics_workqueue_unfinished(const char *name, double unfinished_s, double longest_s)
{
    if (!ready(name))
        return;
    pb_metrics_gauge_set(m.wq_unfinished, unfinished_s, name, NULL);
    pb_metrics_gauge_set(m.wq_longest, longest_s, name, NULL);
}

void kmetrics_reconcile(const char *controller, const char *result, double seconds)
{
    if (!ready(controller) || !result)
        return;
    pb_metrics_counter_add(m.reconcile_total, 1, controller, result, NULL);
    pb_metrics_histogram_observe(m.reconcile_time, seconds, controller, NULL);
}

void kmetrics_reconcile_error(const char *controller)
{
    if (ready(controller))
        pb_metrics_counter_add(m.reconcile_errors, 1, controller, NULL);
}

void kmetrics_controller_workers(const char *controller, int max_workers, int active)
{
    if (!ready(controller))
        return;
    pb_metrics_gauge_set(m.max_workers, max_workers, controller, NULL);
    pb_metrics_gauge_set(m.active_workers, active, controller, NULL);
}

void kmetrics_leader(const char *name, int leading)
{
    if (ready(name))
        pb_metrics_gauge_set(m.leader, leading ? 1 : 0, name, NULL);
}

void kmetrics_event_dropped(void)
{
    if (ready("events"))
        pb_metrics_counter_add(m.events_dropped, 1, NULL);
}

void kmetrics_informer_relist(const char *resource)
{
    if (ready(resource))
        pb_metrics_counter_add(m.relists, 1, resource, NULL);
}

void kmetrics_informer_watch_restart(const char *resource)
{
    if (ready(resource))
        pb_metrics_counter_add(m.watch_restarts, 1, resource, NULL);
}

void kmetrics_informer_cache(const char *resource, size_t objects, size_t bytes)
{
    if (!ready(resource))
        return;
    pb_metrics_gauge_set(m.cached_objects, (double)objects, resource, NULL);
    pb_metrics_gauge_set(m.cache_bytes, (double)bytes, resource, NULL);
}

void kmetrics_rest_request(void *ud, const char *verb, int code, double seconds)
{
    (void)ud;
    if (!ready(verb))
        return;
    const char *method = strcmp(verb, "LIST") == 0 || strcmp(verb, "WATCH") == 0 ? "GET" : verb;
    char code_s[16];
    if (code > 0)
        snprintf(code_s, sizeof code_s, "%d", code);
    else
        snprintf(code_s, sizeof code_s, "<error>");
    pb_metrics_counter_add(m.rest_requests, 1, code_s, method, NULL);
    pb_metrics_histogram_observe(m.rest_duration, seconds, method, NULL);
}
