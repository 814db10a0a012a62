/*
 * approval_admission.c - the Approval webhooks (see workflow_admission.h):
 * an Approval is a human's decision on one step of one Workflow, so at
 * admission it must be bound to that Workflow exactly (uid and spec hash),
 * to a step the policies say needs approval, and made by someone allowed to
 * approve it who is not the submitter.
 *
 *   mutate CREATE: refuse a client-supplied spec.approver; stamp it from
 *                  userInfo; default spec.expiresAt to one hour from now.
 *   validate CREATE: the approver is the authenticated user; expiresAt is
 *                  in the future and at most 7 days ahead; the Workflow
 *                  exists with that uid, its spec hashes to specHash (its
 *                  stamped annotation and the spec itself); the step exists
 *                  and needs approval under the namespace's policies now;
 *                  the approver is among the deciding policy's approvers and
 *                  is not the Workflow's submitter (pb_pol_may_approve).
 *   validate UPDATE: the spec never changes (status does: the executor
 *                  marks an Approval used, once).
 *
 * An Approval of a tenant's cloud plan (spec.tenantRef, spec.planHash) is
 * bound to the Tenant's uid and to the digest of the saved plan that awaits
 * approval now, and must be created in the operator's namespace: RBAC there
 * is what says who may approve cloud spending, not the tenant's own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/decide.h"
#include "agent/step.h"
#include "agent/subject.h"
#include "controllers/operator.h"
#include "controllers/workflow_admission.h"
#include "util/json.h"
#include "util/timeutil.h"

int wf_adm_approval_mutate(const wf_adm_ctx *ctx, const pb_adm_request *rq, json_t **out, pb_err *err)
{
    if (!wf_adm_is_kind(rq, "Approval"))
        return wf_adm_reply(rq, 0, "this webhook only admits paybill.dev Approvals", NULL, NULL, out, err);
    if (strcmp(pb_adm_operation(rq), "CREATE") != 0)
        return wf_adm_reply(rq, 1, NULL, NULL, NULL, out, err);
    const json_t *spec = json_object_get(pb_adm_object(rq), "spec");
    if (json_object_get(spec, "approver"))
        return wf_adm_reply(rq, 0,
                            "spec.approver is set by the API server from the authenticated user; a client "
                            "may not supply it: remove spec.approver and submit again",
                            NULL, NULL, out, err);
    if (!json_is_object(spec)) /* the schema refuses it; nothing to patch */
        return wf_adm_reply(rq, 1, NULL, NULL, NULL, out, err);
    json_t *patch = json_array();
    json_t *who = wf_adm_user_json(pb_adm_userinfo(rq));
    if (!patch || !who ||
        json_array_append_new(patch, json_pack("{s:s,s:s,s:o}", "op", "add", "path", "/spec/approver", "value",
                                               who)) != 0) {
        json_decref(patch);
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    }
    if (!json_object_get(spec, "expiresAt")) {
        char ts[PB_TIME_BUF];
        struct timespec t = {.tv_sec = wf_adm_now(ctx) + WF_ADM_APPROVAL_DEFAULT_TTL_S};
        pb_time_format_rfc3339(t, ts, sizeof ts);
        json_array_append_new(patch, json_pack("{s:s,s:s,s:s}", "op", "add", "path", "/spec/expiresAt", "value", ts));
    }
    int rc = wf_adm_reply(rq, 1, NULL, patch, NULL, out, err);
    json_decref(patch);
    return rc;
}

/* The Workflow an Approval names: from the cache, else from the API
 * server (it may have been created a moment ago). New reference or NULL. */
static json_t *find_workflow(const wf_adm_ctx *ctx, const char *ns, const char *name)
{
    char key[600];
    snprintf(key, sizeof key, "%s/%s", ns, name);
    json_t *wf = ctx && ctx->workflows ? store_get(ctx->workflows, key) : NULL;
    if (!wf && ctx && ctx->client) {
        pb_err e;
        pb_err_clear(&e);
        if (kube_get(ctx->client, &OPERATOR_GVR_WORKFLOWS, ns, name, NULL, &wf, &e) != 0)
            wf = NULL;
    }
    return wf;
}

static int find_step(const json_t *spec, const char *name)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(spec, "steps"), i, s) {
        const char *n = json_string_value(json_object_get(s, "name"));
        if (n && strcmp(n, name) == 0)
            return (int)i;
    }
    return -1;
}

/* The Tenant a cloud-plan Approval names: cache, then GET. New reference. */
static json_t *find_tenant(const wf_adm_ctx *ctx, const char *name)
{
    json_t *t = ctx->tenants ? store_get(ctx->tenants, name) : NULL;
    if (!t && ctx->client) {
        pb_err e;
        pb_err_clear(&e);
        if (kube_get(ctx->client, &OPERATOR_GVR_TENANTS, NULL, name, NULL, &t, &e) != 0)
            t = NULL;
    }
    return t;
}

/* check_create for spec.tenantRef: 1 admitted, 0 denied with msg. */
static int check_cloud_plan(const wf_adm_ctx *ctx, const char *ns, const json_t *spec, char *msg, size_t n)
{
    const char *name = NULL, *uid = NULL, *hash = NULL;
    pb_json_opt_string(spec, "tenantRef.name", NULL, &name, NULL);
    pb_json_opt_string(spec, "tenantRef.uid", NULL, &uid, NULL);
    pb_json_opt_string(spec, "planHash", NULL, &hash, NULL);
    if (json_object_get(spec, "workflowRef") || json_object_get(spec, "step") || json_object_get(spec, "specHash")) {
        snprintf(msg, n, "an Approval names either a Workflow step or a Tenant's cloud plan, not both");
        return 0;
    }
    if (!name || !uid || !hash) {
        snprintf(msg, n, "spec.tenantRef {name, uid} and spec.planHash are required");
        return 0;
    }
    if (!ctx->system_ns || strcmp(ns, ctx->system_ns) != 0) {
        snprintf(msg, n, "Approvals of cloud plans are created in the operator's namespace %s, not %s",
                 ctx->system_ns ? ctx->system_ns : "(unknown)", ns);
        return 0;
    }
    json_t *t = find_tenant(ctx, name);
    const char *tuid = NULL, *pending = NULL;
    pb_json_opt_string(t, "metadata.uid", NULL, &tuid, NULL);
    pb_json_opt_string(t, "status.cloud.plan.hash", NULL, &pending, NULL);
    int ok = 0;
    if (!t || !tuid || strcmp(tuid, uid) != 0)
        snprintf(msg, n, "spec.tenantRef: no Tenant %s with uid %s (a re-created Tenant needs a new Approval)", name,
                 uid);
    else if (!pending || strcmp(pending, hash) != 0)
        snprintf(msg, n, "spec.planHash %.16s is not the plan awaiting approval for Tenant %s (%s)", hash, name,
                 pending ? pending : "none pending");
    else
        ok = 1;
    json_decref(t);
    return ok;
}

/* 1 admitted, 0 denied with msg, or a negative error. */
static int check_create(const wf_adm_ctx *ctx, const pb_adm_request *rq, char *msg, size_t n)
{
    const char *ns = pb_adm_namespace(rq);
    const json_t *spec = json_object_get(pb_adm_object(rq), "spec");
    json_t *want = wf_adm_user_json(pb_adm_userinfo(rq));
    if (!want)
        return PB_ENOMEM;
    int same = json_equal(json_object_get(spec, "approver"), want);
    json_decref(want);
    if (!same) {
        snprintf(msg, n, "spec.approver %s: it is stamped from the authenticated user by the mutating webhook",
                 json_object_get(spec, "approver") ? "does not match the authenticated user" : "is missing");
        return 0;
    }
    const char *exp = NULL, *wf_name = NULL, *wf_uid = NULL, *hash = NULL, *step = NULL;
    pb_json_opt_string(spec, "expiresAt", NULL, &exp, NULL);
    pb_json_opt_string(spec, "workflowRef.name", NULL, &wf_name, NULL);
    pb_json_opt_string(spec, "workflowRef.uid", NULL, &wf_uid, NULL);
    pb_json_opt_string(spec, "specHash", NULL, &hash, NULL);
    pb_json_opt_string(spec, "step", NULL, &step, NULL);
    struct timespec until;
    time_t now = wf_adm_now(ctx);
    if (!exp || pb_time_parse_rfc3339(exp, &until, NULL) != 0 || until.tv_sec <= now ||
        until.tv_sec > now + WF_ADM_APPROVAL_MAX_TTL_S) {
        snprintf(msg, n, "spec.expiresAt must be a time in the future and at most 7 days ahead (got %s)",
                 exp ? exp : "none");
        return 0;
    }
    if (json_object_get(spec, "tenantRef") || json_object_get(spec, "planHash"))
        return check_cloud_plan(ctx, ns, spec, msg, n);
    if (!wf_name || !wf_uid || !hash || !step) {
        snprintf(msg, n, "spec.workflowRef {name, uid}, spec.specHash and spec.step are required");
        return 0;
    }
    json_t *wf = find_workflow(ctx, ns, wf_name);
    agentpol_view *v = NULL;
    pb_steps *steps = NULL;
    int ok = 0, rc = 0;
    const char *uid = wf ? json_string_value(json_object_get(json_object_get(wf, "metadata"), "uid")) : NULL;
    if (!wf || !uid || strcmp(uid, wf_uid) != 0) {
        snprintf(msg, n, "spec.workflowRef: no Workflow %s/%s with uid %s (an Approval is bound to one Workflow "
                         "object; a re-created Workflow needs a new Approval)",
                 ns, wf_name, wf_uid);
        goto out;
    }
    const json_t *wspec = json_object_get(wf, "spec");
    char actual[65];
    if ((rc = wf_adm_spec_hash(wspec, actual, NULL)) != 0)
        goto out;
    const char *stamped = json_string_value(
        json_object_get(json_object_get(json_object_get(wf, "metadata"), "annotations"), WF_ADM_SPEC_HASH_ANNOTATION));
    if (strcmp(actual, hash) != 0 || !stamped || strcmp(stamped, hash) != 0) {
        snprintf(msg, n, "spec.specHash %s is not the hash of Workflow %s's spec (%s, annotation %s)", hash, wf_name,
                 actual, WF_ADM_SPEC_HASH_ANNOTATION);
        goto out;
    }
    int idx = find_step(wspec, step);
    if (idx < 0) {
        snprintf(msg, n, "spec.step: Workflow %s has no step \"%s\"", wf_name, step);
        goto out;
    }
    pb_err e;
    pb_err_clear(&e);
    if ((rc = agentpol_get(ctx->policies, ns, &v, &e)) != 0)
        goto out;
    if (!agentpol_view_model(v)) {
        snprintf(msg, n, "the step cannot be checked: %s", agentpol_view_problem(v));
        goto out;
    }
    if (pb_step_parse(wspec, agentpol_view_model(v), NULL, &steps, &e) != 0) {
        snprintf(msg, n, "Workflow %s no longer checks against the tenant's DataModel: %s", wf_name, e.msg);
        goto out;
    }
    pb_subj_user submitter, approver;
    if (pb_subj_user_from_json(json_object_get(wspec, "submitter"), &submitter, &e) != 0 ||
        pb_subj_user_from_json(json_object_get(spec, "approver"), &approver, &e) != 0) {
        snprintf(msg, n, "identity: %s", e.msg);
        goto out;
    }
    pb_decision d;
    pb_decide_set(agentpol_view_set(v), ns, &submitter, steps, (size_t)idx, -1, &d, NULL, 0, NULL);
    if (d.outcome != PB_DECIDE_APPROVAL) {
        snprintf(msg, n, "step \"%s\" of Workflow %s does not need approval (%s): %s", step, wf_name,
                 pb_decide_outcome_name(d.outcome), d.message);
        goto out;
    }
    if (pb_pol_may_approve(d.policy, &approver, &submitter, &e) != 0) {
        snprintf(msg, n, "%s may not approve step \"%s\": %s", approver.username, step, e.msg);
        goto out;
    }
    ok = 1;
out:
    pb_step_free(steps);
    agentpol_put(v);
    json_decref(wf);
    return rc < 0 ? rc : ok;
}

int wf_adm_approval_validate(const wf_adm_ctx *ctx, const pb_adm_request *rq, json_t **out, pb_err *err)
{
    if (!wf_adm_is_kind(rq, "Approval"))
        return wf_adm_reply(rq, 0, "this webhook only admits paybill.dev Approvals", NULL, NULL, out, err);
    char msg[PB_DECIDE_MSG_MAX + 512];
    const char *op = pb_adm_operation(rq);
    if (strcmp(op, "CREATE") == 0) {
        if (!ctx || !ctx->policies)
            return wf_adm_reply(rq, 0, "Approvals cannot be checked: no AgentPolicy cache (refused)", NULL, NULL,
                                out, err);
        int ok = check_create(ctx, rq, msg, sizeof msg);
        if (ok < 0)
            return pb_err_set(err, ok, "checking the Approval failed");
        return wf_adm_reply(rq, ok, ok ? NULL : msg, NULL, NULL, out, err);
    }
    if (strcmp(op, "UPDATE") == 0) {
        const json_t *spec = json_object_get(pb_adm_object(rq), "spec"),
                     *ospec = json_object_get(pb_adm_old_object(rq), "spec");
        if (!json_equal(spec, ospec) && (spec || ospec)) {
            char path[256] = "spec";
            wf_adm_first_diff(ospec, spec, path, sizeof path);
            snprintf(msg, sizeof msg, "an Approval's spec is immutable (%s differs): create a new Approval", path);
            return wf_adm_reply(rq, 0, msg, NULL, NULL, out, err);
        }
    }
    return wf_adm_reply(rq, 1, NULL, NULL, NULL, out, err);
}
