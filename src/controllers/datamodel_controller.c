/*
 * datamodel_controller.c - the DataModel reconciler.
 *
 * Validates the model (types, identifiers, reserved names, references:
 * provision/datamodel.c) and, when spec.version is new, applies it as a
 * migration through provision/tenantdb.c: the shared rls tables and every
 * tenant's schema or database, each in one transaction, recorded in the
 * migrations tables. Destructive changes are refused unless
 * spec.allowDestructive. Tenants pick the new version up in their own
 * reconcile (they watch DataModels); status.rollout counts how many report
 * it, so `kubectl get datamodels` shows the rollout's progress.
 *
 * The model last applied is kept in status.appliedModel: tenants are
 * provisioned from it, never from an unapplied spec, so a refused or
 * failing version leaves every tenant serving the previous one.
 *
 * A tenant whose migration fails does not hold back the others: they get
 * the version (it is published), and Ready=False with reason
 * TenantMigrationFailed names each failed tenant and the real reason. The
 * rollout is retried (with backoff) until those tenants are migrated too;
 * then they are reconciled again, so that they report the version.
 *
 * This version provisions one DataModel per database server: applying a
 * model migrates every tenant on the server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controllers/conditions.h"
#include "controllers/opconfig.h"
#include "controllers/operator.h"
#include "provision/tenantdb.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/timeutil.h"

const kube_gvr OPERATOR_GVR_DATAMODELS = {OPERATOR_GROUP, OPERATOR_VERSION, "datamodels"};

/* Tenants using this model, and how many report version `version`. */
static void rollout_counts(operator_ctx *op, const char *name, long long version, long long *total,
                           long long *done)
{
    *total = *done = 0;
    json_t *all = store_by_index(op->tenants, OPERATOR_INDEX_TENANT_DATAMODEL, name, NULL);
    size_t i;
    json_t *t;
    json_array_foreach(all, i, t) {
        long long v = 0;
        (*total)++;
        pb_json_opt_int(t, "status.database.dataModelVersion", 0, &v, NULL);
        if (v == version)
            (*done)++;
    }
    json_decref(all);
}

/* The Tenant whose database id is `id` (tenant names map '-' to '_'),
 * among the tenants of model `name`; else the id itself. */
static void tenant_of_id(operator_ctx *op, const char *name, const char *id, char *out, size_t n)
{
    snprintf(out, n, "%s", id);
    json_t *all = store_by_index(op->tenants, OPERATOR_INDEX_TENANT_DATAMODEL, name, NULL);
    size_t i;
    json_t *t;
    json_array_foreach(all, i, t) {
        const char *tn = json_string_value(json_object_get(json_object_get(t, "metadata"), "name"));
        size_t k = 0;
        while (tn && tn[k] && id[k] && (tn[k] == id[k] || (tn[k] == '-' && id[k] == '_')))
            k++;
        if (tn && !tn[k] && !id[k]) {
            snprintf(out, n, "%s", tn);
            break;
        }
    }
    json_decref(all);
}

/* Reconcile again the tenants of model `name` that do not report `version`
 * yet: after a rollout that had failed for some of them succeeds, nothing
 * else would (the published model did not change). */
static void nudge_lagging_tenants(operator_ctx *op, const char *name, long long version)
{
    if (!op->tenant_ctrl)
        return;
    json_t *all = store_by_index(op->tenants, OPERATOR_INDEX_TENANT_DATAMODEL, name, NULL);
    size_t i;
    json_t *t;
    json_array_foreach(all, i, t) {
        long long v = 0;
        pb_json_opt_int(t, "status.database.dataModelVersion", 0, &v, NULL);
        const char *tn = json_string_value(json_object_get(json_object_get(t, "metadata"), "name"));
        if (v != version && tn)
            controller_enqueue(op->tenant_ctrl, tn);
    }
    json_decref(all);
}

controller_result datamodel_reconcile(controller_ctx *ctx, const char *key, pb_err *err)
{
    operator_ctx *op = ctx->user;
    operator_obj o;
    if (operator_obj_begin(op, op->datamodels, key, &o) != 0)
        return controller_ok();
    json_t *dm = o.obj, *status = o.status;
    int failed = 0, tenants = 0; /* tenants the rollout failed for, of how many */
    pb_buf failures = {0};       /* "tenant x (server s): reason; ..." */
    long long gen = o.gen, version = 0, applied = 0;
    const char *now = o.now;
    pb_json_opt_int(dm, "spec.version", 0, &version, NULL);
    pb_json_opt_int(dm, "status.appliedVersion", 0, &applied, NULL);

    int allow_destructive = 0;
    pb_json_opt_bool(dm, "spec.allowDestructive", 0, &allow_destructive, NULL);
    json_t *spec = json_deep_copy(json_object_get(dm, "spec"));
    json_object_del(spec, "allowDestructive");
    pb_dm_model *model = NULL;
    pb_err perr;
    pb_err_clear(&perr);
    int rc = pb_dm_parse_json(key, spec, &model, &perr);
    json_decref(spec);
    controller_result res = controller_ok();
    if (rc != 0) {
        json_object_set_new(status, "phase", json_string("Invalid"));
        if (cond_set(status, "Ready", "False", "InvalidModel", perr.msg, gen, now))
            operator_event(op, dm, "Warning", "InvalidModel", "%s", perr.msg);
        goto write;
    }
    json_object_set_new(status, "tables", json_integer((json_int_t)pb_dm_table_count(model)));

    int have_db = op->dbs[OP_DB_SHARED].server != NULL;
    /* A rollout that failed for some tenants is retried until it went
     * through for all of them. */
    const char *last_reason = json_string_value(json_object_get(cond_find(status, "Ready"), "reason"));
    int retry_failed = last_reason && strcmp(last_reason, "TenantMigrationFailed") == 0 && applied == version;
    if (have_db && (applied != version || retry_failed)) {
        /* Every configured server: tenants live on both. */
        int connected = 1;
        rc = 0;
        pthread_mutex_lock(&op->db_mu);
        for (int w = 0; w < OP_DB_COUNT && rc == 0; w++) {
            if (!op->dbs[w].server)
                continue;
            connected = operator_db_connect(op, w, &perr) == 0;
            pb_tdb_rollout ro = {0};
            rc = connected ? pb_tdb_apply_model_report(op->dbs[w].tdb, model, allow_destructive, &ro, &perr)
                           : PB_EUNAVAILABLE;
            /* Failures of single tenants: the rollout went on for the
             * others; collect them, carry on with the next server. */
            for (int f = 0; rc != 0 && f < ro.failed; f++) {
                char tn[256];
                tenant_of_id(op, key, ro.failures[f].tenant, tn, sizeof tn);
                pb_buf_printf(&failures, "%stenant %s (server %s): %s", failed + f ? "; " : "", tn,
                              op->dbs[w].server->name, ro.failures[f].reason);
            }
            if (rc != 0 && ro.failed > 0) {
                failed += ro.failed;
                rc = 0;
            }
            tenants += ro.tenants;
            pb_tdb_rollout_clear(&ro);
        }
        pthread_mutex_unlock(&op->db_mu);
        if (rc != 0) {
            const char *reason = !connected                ? "ServerUnavailable"
                                 : rc == PB_EFORBIDDEN     ? "DestructiveChangeRefused"
                                                           : "MigrationFailed";
            char msg[1200];
            snprintf(msg, sizeof msg, "version %lld not applied: %s", version, perr.msg);
            json_object_set_new(status, "phase", json_string("Invalid"));
            if (cond_set(status, "Ready", "False", reason, msg, gen, now))
                operator_event(op, dm, "Warning", reason, "%s", msg);
            /* A refused change waits for the spec to change; a failure retries. */
            res = rc == PB_EFORBIDDEN || rc == PB_EINVAL ? controller_ok() : controller_error();
            if (res.kind == CONTROLLER_ERROR)
                pb_err_set(err, rc, "datamodel %s: %s", key, perr.msg);
            goto write;
        }
        if (applied != version) {
            operator_event(op, dm, "Normal", "Migrated", "version %lld applied (was %lld)%s", version, applied,
                           failed ? ", except to the tenants named in the Ready condition" : "");
            json_object_set_new(status, "appliedVersion", json_integer(version));
            applied = version;
            json_object_del(status, "appliedModel"); /* replaced just below */
        } else if (!failed) {
            operator_event(op, dm, "Normal", "Migrated", "version %lld now applied to every tenant", version);
            nudge_lagging_tenants(op, key, version);
        }
    }
    /* Publish the spec to tenants only as it was applied: a spec edited
     * without a new version is not applied, and is not published. */
    if (have_db && applied == version && !json_object_get(status, "appliedModel")) {
        json_t *model_spec = json_deep_copy(json_object_get(dm, "spec"));
        json_object_del(model_spec, "allowDestructive");
        json_object_set_new(status, "appliedModel", model_spec);
    }

    json_t *want = json_deep_copy(json_object_get(dm, "spec"));
    json_object_del(want, "allowDestructive");
    json_t *published = json_object_get(status, "appliedModel");
    int unbumped = have_db && published && !json_equal(want, published);
    json_decref(want);
    if (unbumped) {
        char msg[200];
        snprintf(msg, sizeof msg, "spec changed but spec.version is still %lld: bump it to apply the change",
                 version);
        if (cond_set(status, "Ready", "False", "VersionNotBumped", msg, gen, now))
            operator_event(op, dm, "Warning", "VersionNotBumped", "%s", msg);
        goto write;
    }
    long long total, done;
    rollout_counts(op, key, version, &total, &done);
    if (failed) {
        /* Published for everyone else; these tenants keep the previous
         * version until the retry goes through. */
        char *list = pb_buf_take(&failures, NULL);
        char head[200];
        snprintf(head, sizeof head, "version %lld not applied to %d of %d tenants (the others have it): ", version,
                 failed, tenants);
        pb_buf msg = {0};
        pb_buf_puts(&msg, head);
        pb_buf_puts(&msg, list ? list : "(out of memory)");
        char *text = pb_buf_take(&msg, NULL);
        free(list);
        char rollout[64];
        snprintf(rollout, sizeof rollout, "%lld/%lld", done, total);
        json_object_set_new(status, "rollout", json_string(rollout));
        json_object_set_new(status, "tenantsTotal", json_integer(total));
        json_object_set_new(status, "tenantsMigrated", json_integer(done));
        json_object_set_new(status, "phase", json_string("RollingOut"));
        if (cond_set(status, "Ready", "False", "TenantMigrationFailed", text ? text : head, gen, now))
            operator_event(op, dm, "Warning", "TenantMigrationFailed", "%s", text ? text : head);
        res = controller_error();
        pb_err_set(err, PB_EIO, "datamodel %s: %s", key, text ? text : head);
        free(text);
        goto write;
    }
    char rollout[64];
    snprintf(rollout, sizeof rollout, "%lld/%lld", done, total);
    json_object_set_new(status, "rollout", json_string(rollout));
    json_object_set_new(status, "tenantsTotal", json_integer(total));
    json_object_set_new(status, "tenantsMigrated", json_integer(done));
    if (!have_db) {
        json_object_set_new(status, "phase", json_string("Ready"));
        cond_set(status, "Ready", "True", "Valid", "model is valid; no database server configured to apply it",
                 gen, now);
    } else if (done < total) {
        json_object_set_new(status, "phase", json_string("RollingOut"));
        char msg[160];
        snprintf(msg, sizeof msg, "version %lld: %lld of %lld tenants migrated", version, done, total);
        cond_set(status, "Ready", "False", "RollingOut", msg, gen, now);
    } else {
        json_object_set_new(status, "phase", json_string("Ready"));
        char msg[160];
        snprintf(msg, sizeof msg, "version %lld applied to all %lld tenants", version, total);
        cond_set(status, "Ready", "True", "Applied", msg, gen, now);
    }
write:
    pb_buf_free(&failures);
    pb_dm_free(model);
    return operator_obj_finish(op, &o, &OPERATOR_GVR_DATAMODELS, "datamodel", key, res, err);
}
