/*
 * opmetrics.h - the operator's own metrics for dashboards, beside
 * controller-runtime's (kube/kmetrics.h). Label values are bounded: phases,
 * plan and isolation names, operations, results and reasons; never tenant
 * names (a cluster of 10,000 tenants must not make 10,000 series).
 *
 *   paybill_tenants{phase,plan,isolation}          gauge, from the Tenant cache
 *   paybill_subscriptions{state}                   gauge, from the Subscription cache
 *   paybill_database_operations_total{layout,op,result}
 *   paybill_tier_moves_total{from,to,result}
 *   paybill_workflow_steps_total{operation,result}
 *   paybill_workflow_rows_total{operation}
 *   paybill_workflow_denials_total{stage,reason}   stage: admission | execution
 *   paybill_admission_reviews_total{webhook,result} result: allowed | denied | error
 *   paybill_cloud_runs_total{kind,result}          kind: plan | apply | destroy | drift;
 *                                                  result: success | failed | lock_held
 *   paybill_cloud_run_duration_seconds{kind}       histogram
 * (billing deliveries and licences have their own, billing.h and
 * licence_controller.h.)
 *
 * The gauges follow the caches through informer handlers: add +1, delete
 * -1, an update that changes the labels moves one from the old series to
 * the new; a series that drops to 0 stays at 0. Everything goes to the
 * default registry; the functions may be called from any thread and never
 * fail (a registration that fails is logged once and its metric dropped).
 */
#ifndef PAYBILL_CONTROLLERS_OPMETRICS_H
#define PAYBILL_CONTROLLERS_OPMETRICS_H

#include "kube/informer.h"
#include "util/err.h"

/* Follow the Tenant and Subscription caches (before the informers start). */
int opmetrics_watch(informer *tenants, informer *subscriptions, pb_err *err);

void opmetrics_database_op(const char *layout, const char *op, int rc);
void opmetrics_tier_move(const char *from, const char *to, int rc);
void opmetrics_workflow_step(const char *operation, const char *result, long long rows);
void opmetrics_workflow_denied(const char *stage, const char *reason);
void opmetrics_admission(const char *webhook, const char *result);
void opmetrics_cloud_run(const char *kind, const char *result, double seconds);

#endif
