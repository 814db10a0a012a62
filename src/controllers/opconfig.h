/*
 * opconfig.h - the operator's settings file (--config, YAML):
 *
 *   systemNamespace: paybill-system       # pool ConfigMaps, leases, admin Secrets
 *   snapshotDir: /var/lib/paybill/snapshots # Snapshot archives: 0600 files, the
 *                                       # directory made (or tightened) 0700
 *   rotationGracePeriod: 5m             # after a credentials rotation, how long
 *                                       # the previous login keeps working before
 *                                       # it is revoked (sessions ended); a Go
 *                                       # duration ("90s", "5m", "1h"); "0" revokes
 *                                       # at once; default 5m
 *   databaseServers:
 *     - name: shared-1
 *       role: shared                      # shared | dedicated
 *       host: 127.0.0.1
 *       port: 5432
 *       sslmode: disable                  # libpq sslmode
 *       database: paybill                 # the shared database (rls, schema layouts)
 *       tenantHost: pg.example.internal   # what tenants connect to (default: host)
 *       adminSecret: {name: pg-admin, namespace: paybill-system}  # keys: username, password
 *       rotationGracePeriod: 2m           # optional: this server's own grace period
 *   licence:                            # signed licences (licence_controller.c)
 *     issuer: paybill                   # the JWT "iss"
 *     audience: paybill-tenant          # the JWT "aud"
 *     validity: 24h                     # exp - iat
 *     renewBefore: 8h                   # re-signed when this close to exp
 *     keyRotationPeriod: 720h           # signing key replaced at this age
 *     keyOverlap: 24h                   # a replaced key stays published at least
 *                                       # this long (and until no licence uses it)
 *
 *   billing: {...}                      # billing webhooks, see controllers/billing.h
 *   cloud: {...}                        # OpenTofu runs, see controllers/cloud.h
 *
 * Admin credentials are never in this file: only a reference to a Secret.
 * Unknown keys are an error (a typo must not silently drop a setting).
 * Ownership: opconfig_load fills a caller struct released with opconfig_free.
 */
#ifndef PAYBILL_CONTROLLERS_OPCONFIG_H
#define PAYBILL_CONTROLLERS_OPCONFIG_H

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

#define OPCONFIG_DEFAULT_ROTATION_GRACE_MS (5 * 60 * 1000LL)
#define OPCONFIG_DEFAULT_LICENCE_VALIDITY_MS (24 * 3600 * 1000LL)
#define OPCONFIG_DEFAULT_LICENCE_RENEW_BEFORE_MS (8 * 3600 * 1000LL)
#define OPCONFIG_DEFAULT_LICENCE_KEY_ROTATION_MS (720 * 3600 * 1000LL)
#define OPCONFIG_DEFAULT_LICENCE_KEY_OVERLAP_MS (24 * 3600 * 1000LL)

typedef struct opconfig_db_server {
    char *name, *role, *host, *sslmode, *database, *tenant_host;
    int port;
    char *admin_secret_name, *admin_secret_namespace;
    long long rotation_grace_ms; /* its own, else the top level's */
} opconfig_db_server;

typedef struct opconfig_licence {
    char issuer[256], audience[256]; /* defaults "paybill", "paybill-tenant" */
    long long validity_ms, renew_before_ms, key_rotation_ms, key_overlap_ms;
} opconfig_licence;

typedef struct opconfig {
    char *system_namespace; /* NULL: use the --namespace flag */
    char *snapshot_dir;     /* NULL: Snapshot deletions are refused */
    long long rotation_grace_ms; /* rotationGracePeriod; default 5 minutes */
    opconfig_db_server *servers;
    size_t nservers;
    json_t *billing; /* the billing: section as parsed, or NULL; read by
                        controllers/billing.c (billing_config_parse) */
    json_t *cloud;   /* the cloud: section as parsed, or NULL; read by
                        controllers/cloud_controller.c (cloud_config_parse) */
    opconfig_licence licence;
} opconfig;

/* path NULL: an empty config. Errors name the file and the field. */
int opconfig_load(const char *path, opconfig *out, pb_err *err);
/* Parse from YAML text (for tests); `origin` names it in errors. */
int opconfig_parse(const char *yaml, const char *origin, opconfig *out, pb_err *err);
void opconfig_free(opconfig *c);

#endif
