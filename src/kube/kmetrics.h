/*
 * kmetrics.h - the controller runtime's metric families, named as
 * controller-runtime and client-go name them so existing dashboards and
 * alerts work unchanged:
 *
 *   workqueue_depth{name}                          gauge
 *   workqueue_adds_total{name}                     counter
 *   workqueue_retries_total{name}                  counter
 *   workqueue_queue_duration_seconds{name}         histogram
 *   workqueue_work_duration_seconds{name}          histogram
 *   workqueue_unfinished_work_seconds{name}        gauge
 *   workqueue_longest_running_processor_seconds{name} gauge
 *   controller_runtime_reconcile_total{controller,result}  counter
 *   controller_runtime_reconcile_errors_total{controller}  counter
 *   controller_runtime_reconcile_time_seconds{controller}  histogram
 *   controller_runtime_max_concurrent_reconciles{controller} gauge
 *   controller_runtime_active_workers{controller}  gauge
 *   leader_election_master_status{name}            gauge (1 = leading)
 *   paybill_events_dropped_total                   counter (recorder queue full)
 *   paybill_informer_relists_total{resource}       counter
 *   paybill_informer_watch_restarts_total{resource} counter
 *   paybill_informer_cached_objects{resource}      gauge
 *   paybill_informer_cache_bytes{resource}         gauge (packed objects + keys)
 *   rest_client_requests_total{code,method}        counter (client-go's, "<error>" = no response)
 *   rest_client_request_duration_seconds{verb}     histogram
 *
 * They live in the process-wide registry of util/metrics.h. Every function
 * is thread-safe and cheap; a NULL name makes the call a no-op, which is how
 * unnamed (test) queues stay out of the registry.
 */
#ifndef PAYBILL_KUBE_KMETRICS_H
#define PAYBILL_KUBE_KMETRICS_H

#include <stddef.h>

void kmetrics_workqueue_depth(const char *name, long depth);
void kmetrics_workqueue_add(const char *name);
void kmetrics_workqueue_retry(const char *name);
void kmetrics_workqueue_queue_duration(const char *name, double seconds);
void kmetrics_workqueue_work_duration(const char *name, double seconds);
void kmetrics_workqueue_unfinished(const char *name, double unfinished_s, double longest_s);

/* result: "success", "error", "requeue" or "requeue_after". */
void kmetrics_reconcile(const char *controller, const char *result, double seconds);
void kmetrics_reconcile_error(const char *controller);
void kmetrics_controller_workers(const char *controller, int max_workers, int active);

void kmetrics_leader(const char *name, int leading);
void kmetrics_event_dropped(void);
void kmetrics_informer_relist(const char *resource);
void kmetrics_informer_watch_restart(const char *resource);
void kmetrics_informer_cache(const char *resource, size_t objects, size_t bytes);

/* A kube_request_observer (client.h): pass it to kube_client_set_observer()
 * with ud NULL. verb is the client's (LIST and WATCH count as GET). */
void kmetrics_rest_request(void *ud, const char *verb, int code, double seconds);

#endif
