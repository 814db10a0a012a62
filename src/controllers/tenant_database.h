/*
 * tenant_database.h - the Tenant reconciler's data layer: turns the Plan's
 * data isolation and DataModel into a provisioned PostgreSQL layout
 * (provision/tenantdb.h), a credentials Secret in the tenant namespace and
 * the DatabaseReady condition; moves data when the tier changes; suspends,
 * resumes, rotates (annotation paybill.dev/rotate-credentials; the login
 * handed out before is revoked after the server's rotationGracePeriod, and
 * status.database.previousLoginRevokeAt / previousLoginRevokedAt say when)
 * and deletes per deletionPolicy.
 */
#ifndef PAYBILL_CONTROLLERS_TENANT_DATABASE_H
#define PAYBILL_CONTROLLERS_TENANT_DATABASE_H

#include <jansson.h>

#include "controllers/operator.h"
#include "controllers/planspec.h"

#define TENANT_DB_SECRET "tenant-database"
#define TENANT_DB_ROTATE_ANNOTATION "paybill.dev/rotate-credentials"

/* Converge the tenant's database; fills status.database and the
 * DatabaseReady condition. 1 ready, 0 not ready (condition says why, the
 * watch or a requeue brings us back), negative on a failure worth a
 * backoff (err filled). */
int tenant_database_reconcile(operator_ctx *op, const json_t *tenant, const json_t *plan,
                              const planspec_isolation *iso, int suspended, json_t *status,
                              const char *now, pb_err *err);

/* Deletion under policy "Delete" | "Retain" | "Snapshot"; records the
 * snapshot or retention in status.database. 0 or negative. */
int tenant_database_delete(operator_ctx *op, const json_t *tenant, json_t *status,
                           const char *policy, pb_err *err);

#endif
