/*
 * kmetrics.c - controller-runtime metric families (see kmetrics.h).
 *
 * PLACEHOLDER until util/metrics.h lands: the calls are accepted and
 * dropped so every runtime module can already report.
 */
#include "kube/kmetrics.h"

void kmetrics_workqueue_depth(const char *name, long depth) { (void)name; (void)depth; }
void kmetrics_workqueue_add(const char *name) { (void)name; }
void kmetrics_workqueue_retry(const char *name) { (void)name; }
void kmetrics_workqueue_queue_duration(const char *name, double seconds) { (void)name; (void)seconds; }
void kmetrics_workqueue_work_duration(const char *name, double seconds) { (void)name; (void)seconds; }
void kmetrics_workqueue_unfinished(const char *name, double unfinished_s, double longest_s)
{ (void)name; (void)unfinished_s; (void)longest_s; }
void kmetrics_reconcile(const char *controller, const char *result, double seconds)
{ (void)controller; (void)result; (void)seconds; }
void kmetrics_reconcile_error(const char *controller) { (void)controller; }
void kmetrics_controller_workers(const char *controller, int max_workers, int active)
{ (void)controller; (void)max_workers; (void)active; }
void kmetrics_leader(const char *name, int leading) { (void)name; (void)leading; }
void kmetrics_event_dropped(void) {}
void kmetrics_informer_relist(const char *resource) { (void)resource; }
