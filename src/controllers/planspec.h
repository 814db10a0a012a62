/*
 * planspec.h - what a Plan means, as pure functions over its JSON.
 *
 * The CRD schema already checks types, enums and patterns; this adds the
 * rules a schema cannot express (a duration that parses, an isolation
 * combination that makes sense) and resolves the per-layer overrides into
 * the effective isolation every other piece works from.
 */
#ifndef PAYBILL_CONTROLLERS_PLANSPEC_H
#define PAYBILL_CONTROLLERS_PLANSPEC_H

#include <jansson.h>

#include "util/err.h"
#include "util/timeutil.h"

typedef struct planspec_isolation {
    char model[16];   /* pooled | bridge | silo */
    char compute[16]; /* shared | dedicated */
    char data[16];    /* rls | schema | database | server */
} planspec_isolation;

/* Resolve model + overrides. PB_EINVAL with the field in the message when
 * the model is missing or unknown. */
int planspec_isolation_of(const json_t *plan, planspec_isolation *out, pb_err *err);

/* All semantic checks of spec; the message names the field:
 * "spec.billing.gracePeriod: invalid duration "3 days"". */
int planspec_validate(const json_t *plan, pb_err *err);

/* spec.podSecurity: the Pod Security Standards level enforced in tenant
 * namespaces, "restricted" (default) or "baseline" (the least strict we
 * allow: "privileged" would let a tenant run host-level workloads).
 * Borrowed; "restricted" for anything planspec_validate refuses. */
const char *planspec_pod_security(const json_t *plan);

/* spec.quotas.nodePorts / spec.quotas.loadBalancers: how many Services of
 * those types a tenant may have (default 0: none). */
long long planspec_node_ports(const json_t *plan);
long long planspec_load_balancers(const json_t *plan);

/* 1 when spec.features lists `feature` (e.g. "agents", "cloud"): the gate
 * the rest of the product honours (the same list a tenant's licence
 * carries). 0 for a NULL plan or feature. */
int planspec_has_feature(const json_t *plan, const char *feature);

/* Grace period of spec.billing (default 72h) and trial days (default 0). */
pb_duration planspec_grace_period(const json_t *plan);
/* spec.billing.retentionPeriod (default 720h): how long a canceled
 * subscription's tenant data is kept at least; after it, deleting stays a
 * human decision. */
pb_duration planspec_retention_period(const json_t *plan);
long long planspec_trial_days(const json_t *plan);
/* "month" (default) or "year". Borrowed. */
const char *planspec_interval(const json_t *plan);

#endif
