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
#include "provision/tenantdb.h"

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
/* Where a provisioned tenant's data is, for the agent framework: the
 * server it lives on (connected if need be), its id in PostgreSQL and the
 * schema its tables are in (schema[64]). PB_ENOTFOUND when it has no
 * database (yet), PB_ECONFLICT during a move, another code when the
 * server is unreachable. The pb_tdb stays owned by the operator. */
int operator_tenant_db(operator_ctx *op, const json_t *tenant, pb_tdb **tdb, char *id, size_t id_n,
                       char schema[64], pb_err *err);

/* The data of a credentials Secret (host, port, dbname, user, password,
 * sslmode, schema, uri; base64), new reference. */
json_t *tenant_database_secret_data(const pb_tdb_creds *c);
/* The password in a credentials Secret's data (decoded; malloc'd, the
 * caller wipes and frees it), or NULL. */
char *tenant_database_secret_password(const json_t *secret);

int tenant_database_delete(operator_ctx *op, const json_t *tenant, json_t *status,
                           const char *policy, pb_err *err);

#endif
