/*
 * cloud.h - a tenant's cloud resources through OpenTofu/Terraform, driven
 * from the Tenant reconciler (cloud_controller.c).
 *
 * Settings, the `cloud:` section of the operator's --config:
 *
 *   cloud:
 *     binary: /usr/local/bin/tofu        # tofu or terraform (required)
 *     cliConfig: /etc/paybill/tofu.tfrc  # provider installation (a mirror)
 *     modulesDir: /opt/paybill/modules   # spec.cloud.module "local" -> <dir>/local
 *     workDir: /var/lib/paybill/cloud    # one directory per tenant
 *     poolSize: 4                        # concurrent runs (1..64)
 *     runTimeout: 30m                    # per tofu command; the group is killed
 *     kubeconfig: /path                  # for the kubernetes state backend;
 *                                        # absent: in-cluster
 *     pluginCacheDir: /path              # optional TF_PLUGIN_CACHE_DIR
 *     stateBackend: kubernetes           # or pg
 *
 * Per tenant: state in the kubernetes backend, Secret
 * tfstate-default-paybill-<tenant> and Lease lock-tfstate-default-paybill-
 * <tenant> in the system namespace; or in the pg backend, schema
 * tfstate_<tenant> of database postgres on the shared database server, with
 * the admin credentials passed in PG_CONN_STR (its locks are session
 * advisory locks: a dead runner's lock goes with its connection). Flow: plan (saved, digested) ->
 * approval (Plan spec.cloud.approval Auto | Manual; Manual, and any plan
 * that deletes something, waits for an Approval in the operator's
 * namespace naming the Tenant's uid and status.cloud.plan.hash: the plan's
 * digest bound to the Tenant's uid and generation; see
 * approval_admission.c) -> apply -> outputs (ConfigMap and Secret
 * `cloud-outputs` in the tenant namespace). status.cloud says where it is.
 *
 * Prefix cloud_. Ownership: cloud_start returns a cloud owned by the caller
 * (cloud_free); everything else borrows.
 */
#ifndef PAYBILL_CONTROLLERS_CLOUD_H
#define PAYBILL_CONTROLLERS_CLOUD_H

#include <jansson.h>

#include "controllers/operator.h"
#include "util/err.h"

#define CLOUD_OUTPUTS_NAME "cloud-outputs"
/* A new value on a deleted Tenant whose destroy failed its last attempt
 * (DestroyFailed) starts another round of attempts. */
#define CLOUD_RETRY_DESTROY_ANNOTATION "paybill.dev/retry-destroy"

typedef struct cloud cloud;

typedef struct cloud_config {
    char binary[512], cli_config[512], modules_dir[512], work_dir[512], kubeconfig[512], plugin_cache[512];
    int pool_size;
    long long run_timeout_ms;
    int pg_state; /* stateBackend: pg */
} cloud_config;

/* section NULL: *out zeroed, binary empty (cloud runs off). Errors name
 * origin and the field. */
int cloud_config_parse(const json_t *section, const char *origin, cloud_config *out, pb_err *err);

/* The pool's workers start here. cfg->binary empty: *out = NULL (off). */
int cloud_start(operator_ctx *op, const cloud_config *cfg, cloud **out, pb_err *err);
void cloud_free(cloud *c);

/* The Tenant reconciler's cloud layer. Sets CloudReady (and status.cloud)
 * in `status`. 1 ready, 0 not yet (with *requeue_s > 0 when it should be
 * looked at again without an event), negative on an API error. Never
 * waits for a run: runs happen on the pool, and the tenant is enqueued
 * when one ends. */
int cloud_reconcile(operator_ctx *op, const json_t *tenant, const json_t *plan, json_t *status, long long gen,
                    const char *now, double *requeue_s, pb_err *err);

/* Deletion per policy ("Delete" | "Snapshot": destroy; "Retain": keep, and
 * say where the state is). 1 done (the finalizer may go), 0 in progress
 * (*requeue_s), negative on error. A tenant that never had cloud
 * resources is done at once. */
int cloud_delete(operator_ctx *op, const json_t *tenant, json_t *status, const char *policy, const char *now,
                 double *requeue_s, pb_err *err);

/* Watch map (controller_watches): an Approval of a cloud plan in the
 * operator's namespace -> its Tenant's key. */
json_t *cloud_map_approval_to_tenant(json_t *obj, void *ud);

#endif
