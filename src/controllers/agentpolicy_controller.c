/*
 * agentpolicy_controller.c - the AgentPolicy reconciler.
 *
 * Compiling is agent_policies.c's (the same view the admission webhooks
 * decide with); this reconciler reports it and enforces it a second time
 * in the database:
 *   - status: phase, reason, message, the DataModel and version checked
 *     against, rules and deny rules compiled, enforcement, warnings (rules
 *     that can never match, columns shadowed by a deny...), and the Ready
 *     condition (Compiled / Invalid / NoDataModel); an Event when a policy
 *     becomes invalid or valid again;
 *   - the DatabaseEnforced condition and status.database: the tenant's
 *     agent role and the digest of the grants applied for every enforcing
 *     policy of the namespace (agentpolicy_database.c).
 * A policy's key is "namespace/name"; whatever changes the namespace's
 * view (another policy, the tenant, its Plan or DataModel) re-queues every
 * policy of the namespace (operator.c), so each status follows.
 */
#include <stdio.h>
#include <string.h>

#include "controllers/agent_policies.h"
#include "controllers/agentpolicy_database.h"
#include "controllers/conditions.h"
#include "controllers/operator.h"
#include "util/json.h"
#include "util/log.h"

controller_result agentpolicy_reconcile(controller_ctx *ctx, const char *key, pb_err *err)
{
    operator_ctx *op = ctx->user;
    char ns[256], name[256];
    if (store_split_key(key, ns, sizeof ns, name, sizeof name) != 0 || !ns[0])
        return controller_ok(); /* not a namespaced key: nothing we made */
    agentpol_view *v = NULL;
    int rc = agentpol_get(op->agent_policies, ns, &v, err);
    if (rc != 0)
        return controller_error();
    /* The database side is per namespace (one agent role for all its
     * policies); a deleted policy's grants go with this pass too. */
    agentpolicy_db_result db;
    agentpolicy_database_sync(op, v, &db);

    operator_obj o;
    if (operator_obj_begin(op, op->agentpolicies, key, &o) != 0) {
        agentpol_put(v);
        return controller_ok();
    }
    const pb_pol *p = agentpol_view_find(v, name);
    if (!p || pb_pol_generation(p) != o.gen) {
        /* The cache moved between the two reads; the next pass sees both. */
        operator_obj_release(&o);
        agentpol_put(v);
        return controller_requeue_after(0.2);
    }
    json_t *status = o.status;
    const char *was = json_string_value(json_object_get(status, "phase"));
    int was_ready = was && strcmp(was, "Ready") == 0, was_set = was != NULL;
    json_t *st = pb_pol_status_json(p);
    if (!st) {
        operator_obj_release(&o);
        agentpol_put(v);
        pb_err_set(err, PB_ENOMEM, "out of memory");
        return controller_error();
    }
    json_object_update(status, st);
    json_decref(st);
    if (json_array_size(json_object_get(status, "warnings")) == 0)
        json_object_del(status, "warnings");
    const char *reason = json_string_value(json_object_get(status, "reason"));
    char msg[PB_ERR_MSG_MAX + 256];
    if (!pb_pol_broken(p)) {
        snprintf(msg, sizeof msg, "%zu rules and %zu deny rules compiled against DataModel %s version %lld%s",
                 pb_pol_rule_count(p), pb_pol_deny_count(p), pb_pol_model_name(p), pb_pol_model_version(p),
                 pb_pol_audit(p) ? " (Audit: decisions are recorded, never enforced)" : "");
        cond_set(status, "Ready", "True", reason, msg, o.gen, o.now);
        if (was_set && !was_ready)
            operator_event(op, o.obj, "Normal", "Compiled", "%s", msg);
    } else {
        snprintf(msg, sizeof msg, "every workflow this policy applies to is denied until it is fixed: %s",
                 pb_pol_reason(p));
        cond_set(status, "Ready", "False", reason, msg, o.gen, o.now);
        if (!was_set || was_ready)
            operator_event(op, o.obj, "Warning", reason, "%s", msg);
    }
    json_object_del(status, "message"); /* the condition carries it */
    agentpolicy_database_status(&db, p, status, o.gen, o.now);
    agentpol_put(v);
    controller_result then = db.retry_s > 0 ? controller_requeue_after(db.retry_s) : controller_ok();
    return operator_obj_finish(op, &o, &OPERATOR_GVR_AGENTPOLICIES, "agentpolicy", key, then, err);
}

/* A tenant's change (plan, DataModel, database) concerns the policies of
 * its namespace. */
json_t *operator_map_tenant_to_agentpolicies(json_t *tenant, void *ud)
{
    operator_ctx *op = ud;
    const char *ns = NULL;
    pb_json_opt_string(tenant, "status.namespace", NULL, &ns, NULL);
    json_t *keys = json_array();
    if (ns) {
        json_t *items = store_by_index(op->agentpolicies, STORE_INDEX_NAMESPACE, ns, NULL);
        size_t i;
        json_t *p;
        json_array_foreach(items, i, p) {
            char key[600];
            if (store_key_of(p, key, sizeof key, NULL) == 0)
                json_array_append_new(keys, json_string(key));
        }
        json_decref(items);
    }
    return operator_nonempty_keys(keys);
}

/* Every policy of the namespace: they share the view and the agent role. */
json_t *operator_map_agentpolicy_to_namespace(json_t *policy, void *ud)
{
    operator_ctx *op = ud;
    json_t *keys = json_array();
    const char *ns = json_string_value(json_object_get(json_object_get(policy, "metadata"), "namespace"));
    char key[600];
    if (ns && store_key_of(policy, key, sizeof key, NULL) == 0) {
        json_array_append_new(keys, json_string(key)); /* itself, even once deleted */
        json_t *items = store_by_index(op->agentpolicies, STORE_INDEX_NAMESPACE, ns, NULL);
        size_t i;
        json_t *p;
        json_array_foreach(items, i, p) if (store_key_of(p, key, sizeof key, NULL) == 0)
            json_array_append_new(keys, json_string(key));
        json_decref(items);
    }
    return operator_nonempty_keys(keys);
}

/* A Plan or DataModel change concerns the policies of every tenant on it. */
static json_t *map_tenants(operator_ctx *op, const char *index, const char *value)
{
    json_t *names = json_array(), *keys = json_array();
    operator_keys_where(op->tenants, index, value, "metadata.name", names);
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n) {
        json_t *t = store_get(op->tenants, json_string_value(n));
        json_t *more = t ? operator_map_tenant_to_agentpolicies(t, op) : NULL;
        if (more)
            json_array_extend(keys, more);
        json_decref(more);
        json_decref(t);
    }
    json_decref(names);
    return operator_nonempty_keys(keys);
}

json_t *operator_map_plan_to_agentpolicies(json_t *plan, void *ud)
{
    return map_tenants(ud, OPERATOR_INDEX_TENANT_PLAN,
                       json_string_value(json_object_get(json_object_get(plan, "metadata"), "name")));
}

json_t *operator_map_datamodel_to_agentpolicies(json_t *dm, void *ud)
{
    return map_tenants(ud, OPERATOR_INDEX_TENANT_DATAMODEL,
                       json_string_value(json_object_get(json_object_get(dm, "metadata"), "name")));
}
