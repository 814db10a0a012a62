/*
 * policy_admission.c - the AgentPolicy validating webhook (see
 * workflow_admission.h): a policy with a mistake (an unknown table or
 * column, a row constraint of the wrong type, a dataModel that is not the
 * tenant's) is refused when it is applied, with the compiler's message,
 * instead of being stored and denying every workflow later. The engine
 * still fails closed on its own: a policy that breaks afterwards (its
 * DataModel changed) denies everything and says so in its status.
 *
 * A policy whose tenant has no applied DataModel yet cannot be checked; it
 * is admitted with a warning (it denies until the model exists), so that a
 * tenant's manifests can be applied in any order. Warnings of a policy
 * that compiles (shadowed columns, rules that never match...) are shown by
 * kubectl. Updates that leave the spec alone always pass.
 */
#include <stdio.h>
#include <string.h>

#include "controllers/workflow_admission.h"

int wf_adm_policy_validate(const wf_adm_ctx *ctx, const pb_adm_request *rq, json_t **out, pb_err *err)
{
    if (!wf_adm_is_kind(rq, "AgentPolicy"))
        return wf_adm_reply(rq, 0, "this webhook only admits paybill.dev AgentPolicies", NULL, NULL, out, err);
    const char *op = pb_adm_operation(rq);
    const json_t *obj = pb_adm_object(rq);
    if (strcmp(op, "CREATE") != 0 && strcmp(op, "UPDATE") != 0)
        return wf_adm_reply(rq, 1, NULL, NULL, NULL, out, err);
    if (strcmp(op, "UPDATE") == 0 &&
        json_equal(json_object_get(obj, "spec"), json_object_get(pb_adm_old_object(rq), "spec")))
        return wf_adm_reply(rq, 1, NULL, NULL, NULL, out, err);
    if (!ctx || !ctx->policies)
        return wf_adm_reply(rq, 0, "AgentPolicies cannot be checked: no AgentPolicy cache (refused)", NULL, NULL,
                            out, err);
    agentpol_view *v = NULL;
    pb_err e;
    pb_err_clear(&e);
    int rc = agentpol_get(ctx->policies, pb_adm_namespace(rq), &v, &e);
    if (rc != 0)
        return pb_err_set(err, rc, "%s", e.msg);
    char msg[PB_ERR_MSG_MAX + 256];
    if (!agentpol_view_tenant(v)) {
        snprintf(msg, sizeof msg, "AgentPolicy refused: %s; policies live in their tenant's namespace",
                 agentpol_view_problem(v));
        rc = wf_adm_reply(rq, 0, msg, NULL, NULL, out, err);
        agentpol_put(v);
        return rc;
    }
    pb_pol *p = NULL;
    pb_err_clear(&e);
    agentpol_compile(v, obj, &p, &e);
    if (!p) {
        agentpol_put(v);
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    }
    const char *warn[PB_ADM_MAX_WARNINGS + 1] = {0};
    size_t nw = 0;
    if (pb_pol_broken(p) && agentpol_view_model(v)) {
        snprintf(msg, sizeof msg, "AgentPolicy %s/%s refused: %s", pb_adm_namespace(rq), pb_adm_name(rq),
                 pb_pol_reason(p));
        rc = wf_adm_reply(rq, 0, msg, NULL, NULL, out, err);
    } else {
        if (pb_pol_broken(p)) {
            snprintf(msg, sizeof msg, "this policy cannot be checked yet (%s) and denies every workflow until it can",
                     agentpol_view_problem(v));
            warn[nw++] = msg;
        }
        for (size_t i = 0; i < pb_pol_warning_count(p) && nw < PB_ADM_MAX_WARNINGS; i++)
            warn[nw++] = pb_pol_warning(p, i);
        rc = wf_adm_reply(rq, 1, NULL, NULL, warn, out, err);
    }
    pb_pol_free(p);
    agentpol_put(v);
    return rc;
}
