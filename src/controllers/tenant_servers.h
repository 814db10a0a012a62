/*
 * tenant_servers.h - the `server` data layout's PostgreSQL servers, one
 * per tenant. The tenant's cloud run starts it (cloud.h; modules/ output
 * db_host, db_port, db_admin_user, db_sslmode in ConfigMap cloud-outputs
 * and db_admin_password in Secret cloud-outputs of the tenant namespace);
 * this registry keeps an admin connection manager (a pb_tdb, as for a
 * configured dedicated server) per tenant server, made from those outputs
 * and made again when they change (a new password, a moved server).
 *
 * Prefix tsrv_. Thread-safe. The pb_tdb handed out is borrowed and stays
 * valid until tsrv_free (a replaced or forgotten one is retired, not
 * freed: an agent workflow may still be using it).
 */
#ifndef PAYBILL_CONTROLLERS_TENANT_SERVERS_H
#define PAYBILL_CONTROLLERS_TENANT_SERVERS_H

#include <stddef.h>

#include "util/err.h"

struct pb_tdb;
typedef struct operator_ctx operator_ctx;
typedef struct tsrv_registry tsrv_registry;

int tsrv_new(tsrv_registry **out, pb_err *err);
void tsrv_free(tsrv_registry *r);

/* The tenant's server: 1 with *tdb (borrowed) and its name ("tenant-<name>",
 * as in status.database.server) and endpoint ("host:port"); 0 when its
 * outputs are not there yet (`missing` says what is missing); negative on
 * an API error. Reads the outputs through op's caches, then the API. */
int tsrv_get(operator_ctx *op, const char *tenant, struct pb_tdb **tdb, char name[64], char endpoint[300],
             char *missing, size_t missing_n, pb_err *err);

/* A non-sensitive output of the tenant's cloud run (ConfigMap
 * cloud-outputs) into out: 1 found, 0 not there, negative on an API
 * error. */
int tsrv_cloud_output(operator_ctx *op, const char *tenant, const char *key, char *out, size_t n, pb_err *err);

/* The tenant is gone: retire its entry. */
void tsrv_forget(operator_ctx *op, const char *tenant);

#endif
