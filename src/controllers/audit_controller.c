/*
 * audit_controller.c - verifies a tenant's agent audit chain on request.
 *
 * Annotate a Tenant with paybill.dev/verify-audit=<token> (kubectl paybill
 * audit verify NAME does) and this reconciler re-hashes the chain
 * (provision/agentexec.h, pb_ax_verify) and answers in status.audit:
 * {token, intact, records, message, verifiedAt}. Whoever asks needs only
 * RBAC on Tenants (patch, get), never database credentials.
 * Only a new token triggers work (audit_requested filters every other
 * Tenant update, audit_pending every Tenant seen without one): no status
 * is written otherwise.
 */
#include <stdio.h>
#include <string.h>

#include "controllers/operator.h"
#include "controllers/tenant_database.h"
#include "provision/agentexec.h"
#include "util/json.h"
#include "util/log.h"

static const char *verify_token(const json_t *t)
{
    return json_string_value(json_object_get(json_object_get(json_object_get(t, "metadata"), "annotations"),
                                             OPERATOR_VERIFY_AUDIT_ANNOTATION));
}

int audit_requested(json_t *old_obj, json_t *new_obj, void *ud)
{
    (void)ud;
    const char *a = verify_token(old_obj), *b = verify_token(new_obj);
    return (a || b) && (!a || !b || strcmp(a, b) != 0);
}

int audit_pending(json_t *t, void *ud)
{
    (void)ud;
    const char *want = verify_token(t), *have = NULL;
    pb_json_opt_string(t, "status.audit.token", NULL, &have, NULL);
    return want && *want && (!have || strcmp(have, want) != 0);
}

controller_result audit_reconcile(controller_ctx *ctx, const char *key, pb_err *err)
{
    operator_ctx *op = ctx->user;
    json_t *t = store_get(op->tenants, key);
    int todo = t && audit_pending(t, NULL);
    json_decref(t);
    if (!todo)
        return controller_ok();
    operator_obj o;
    if (operator_obj_begin(op, op->tenants, key, &o) != 0)
        return controller_ok();
    const char *want = verify_token(o.obj);
    pb_tdb *tdb = NULL;
    char id[64], schema[64];
    pb_err e;
    pb_err_clear(&e);
    long long records = 0;
    int rc = operator_tenant_db(op, o.obj, &tdb, id, sizeof id, schema, &e);
    if (rc == 0)
        rc = pb_ax_verify(tdb, id, &records, &e);
    json_t *audit = json_pack("{s:s, s:b, s:I, s:s, s:s}", "token", want ? want : "", "intact", rc == 0,
                              "records", (json_int_t)records, "message",
                              rc == 0 ? "the chain re-hashes from its first record to the ledger's last" : e.msg,
                              "verifiedAt", o.now);
    json_object_set_new(o.status, "audit", audit);
    if (rc != 0) {
        operator_event(op, o.obj, "Warning", "AuditChainBroken", "%s", e.msg);
        pb_log_warn("audit chain broken", "tenant", key, "error", e.msg, NULL);
    } else {
        operator_event(op, o.obj, "Normal", "AuditChainVerified", "%lld audit records verified", records);
    }
    return operator_obj_finish(op, &o, &OPERATOR_GVR_TENANTS, "tenant", key, controller_ok(), err);
}
