/*
 * workflow_admission.c - Workflow mutating and validating webhooks (see
 * workflow_admission.h): the submitter comes from the API server's
 * authenticated userInfo, every step is checked against the tenant's
 * DataModel and AgentPolicies before the Workflow is stored, and a
 * Workflow's spec never changes after creation. Also the helpers the
 * Approval and AgentPolicy webhooks share, and the route registration.
 */
#include "controllers/workflow_admission.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/decide.h"
#include "agent/step.h"
#include "agent/subject.h"
#include "controllers/opmetrics.h"
#include "util/json.h"
#include "util/log.h"
#include "util/secret.h"

int wf_adm_is_kind(const pb_adm_request *rq, const char *kind)
{
    return strcmp(pb_adm_kind_group(rq), "paybill.dev") == 0 && strcmp(pb_adm_kind(rq), kind) == 0;
}

time_t wf_adm_now(const wf_adm_ctx *ctx) { return ctx && ctx->now ? ctx->now() : time(NULL); }

int wf_adm_reply(const pb_adm_request *rq, int allowed, const char *msg, const json_t *patch,
                 const char *const *warnings, json_t **out, pb_err *err)
{
    pb_adm_result res = {.allowed = allowed, .message = msg, .patch = patch};
    for (size_t i = 0; warnings && warnings[i] && i < PB_ADM_MAX_WARNINGS; i++)
        res.warnings[i] = warnings[i];
    return pb_adm_response_build(rq, &res, out, err);
}

static int build(const pb_adm_request *rq, int allowed, const char *msg, const json_t *patch,
                 json_t **out, pb_err *err)
{
    return wf_adm_reply(rq, allowed, msg, patch, NULL, out, err);
}

json_t *wf_adm_user_json(const pb_adm_user *u)
{
    json_t *s = json_pack("{s:s,s:O}", "username", u->username, "groups", u->groups);
    if (s && u->uid[0])
        json_object_set_new(s, "uid", json_string(u->uid));
    return s;
}

int wf_adm_spec_hash(const json_t *spec, char out[65], pb_err *err)
{
    char *text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!text)
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    int rc = pb_secret_sha256_hex(text, strlen(text), out, err);
    free(text);
    return rc;
}

static const json_t *annotation(const json_t *obj, const char *key)
{
    return json_object_get(json_object_get(json_object_get(obj, "metadata"), "annotations"), key);
}

/* A message naming what the client tried to set, or NULL when it set
 * nothing that belongs to the server. */
static const char *forged(const json_t *obj)
{
    const json_t *spec = json_object_get(obj, "spec");
    if (json_object_get(spec, "submitter"))
        return "spec.submitter is set by the API server from the authenticated user; a "
               "client may not supply it: remove spec.submitter and submit again";
    if (annotation(obj, WF_ADM_SUBMITTED_BY_ANNOTATION))
        return "the annotation " WF_ADM_SUBMITTED_BY_ANNOTATION
               " may not be supplied: the submitter is taken from the authenticated user";
    if (annotation(obj, WF_ADM_SPEC_HASH_ANNOTATION))
        return "the annotation " WF_ADM_SPEC_HASH_ANNOTATION
               " may not be supplied: it is computed at admission";
    return NULL;
}

int wf_adm_mutate(const wf_adm_ctx *ctx, const pb_adm_request *rq, json_t **out, pb_err *err)
{
    (void)ctx;
    if (!wf_adm_is_kind(rq, "Workflow"))
        return build(rq, 0, "this webhook only admits paybill.dev Workflows", NULL, out, err);
    if (strcmp(pb_adm_operation(rq), "CREATE") != 0)
        return build(rq, 1, NULL, NULL, out, err);
    const json_t *obj = pb_adm_object(rq);
    const char *why = forged(obj);
    if (why)
        return build(rq, 0, why, NULL, out, err);
    json_t *sub = wf_adm_user_json(pb_adm_userinfo(rq));
    /* The hash covers the spec as it will be stored, submitter included. */
    json_t *spec = json_is_object(json_object_get(obj, "spec")) ? json_deep_copy(json_object_get(obj, "spec"))
                                                                : json_object();
    char hash[65];
    if (!sub || !spec || json_object_set(spec, "submitter", sub) != 0 || wf_adm_spec_hash(spec, hash, err) != 0) {
        json_decref(sub);
        json_decref(spec);
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    }
    json_decref(spec);
    /* The CRD requires spec; a request without one is refused by schema
     * validation anyway, but the patch must still apply cleanly. */
    json_t *patch = json_object_get(obj, "spec")
                        ? json_pack("[{s:s,s:s,s:o}]", "op", "add", "path", "/spec/submitter",
                                    "value", sub)
                        : json_pack("[{s:s,s:s,s:{s:o}}]", "op", "add", "path", "/spec", "value",
                                    "submitter", sub);
    const json_t *meta = json_object_get(obj, "metadata");
    if (patch && json_is_object(json_object_get(meta, "annotations")))
        json_array_append_new(patch, json_pack("{s:s,s:s,s:s}", "op", "add", "path",
                                               "/metadata/annotations/paybill.dev~1spec-hash", "value", hash));
    else if (patch && json_is_object(meta))
        json_array_append_new(patch, json_pack("{s:s,s:s,s:{s:s}}", "op", "add", "path", "/metadata/annotations",
                                               "value", WF_ADM_SPEC_HASH_ANNOTATION, hash));
    if (!patch)
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    int rc = build(rq, 1, NULL, patch, out, err);
    json_decref(patch);
    return rc;
}

void wf_adm_first_diff(const json_t *a, const json_t *b, char *path, size_t n)
{
    size_t len = strlen(path);
    if (json_is_object(a) && json_is_object(b)) {
        /* Union of keys, smallest first, so the answer is stable. */
        const char *best = NULL, *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v) if (!json_equal(v, json_object_get(b, k)) &&
                                                   (!best || strcmp(k, best) < 0)) best = k;
        json_object_foreach((json_t *)b, k, v) if (!json_equal(v, json_object_get(a, k)) &&
                                                   (!best || strcmp(k, best) < 0)) best = k;
        if (!best)
            return;
        snprintf(path + len, n - len, ".%s", best);
        wf_adm_first_diff(json_object_get(a, best), json_object_get(b, best), path, n);
        return;
    }
    if (json_is_array(a) && json_is_array(b)) {
        size_t na = json_array_size(a), nb = json_array_size(b);
        for (size_t i = 0; i < na && i < nb; i++)
            if (!json_equal(json_array_get(a, i), json_array_get(b, i))) {
                snprintf(path + len, n - len, "[%zu]", i);
                wf_adm_first_diff(json_array_get(a, i), json_array_get(b, i), path, n);
                return;
            }
        if (na != nb)
            snprintf(path + len, n - len, "[%zu]", na < nb ? na : nb);
    }
}

static int check_create(const pb_adm_request *rq, char *msg, size_t n)
{
    const json_t *obj = pb_adm_object(rq);
    if (annotation(obj, WF_ADM_SUBMITTED_BY_ANNOTATION)) {
        snprintf(msg, n, "the annotation %s may not be supplied",
                 WF_ADM_SUBMITTED_BY_ANNOTATION);
        return 0;
    }
    const json_t *spec = json_object_get(obj, "spec");
    const json_t *have = json_object_get(spec, "submitter");
    json_t *want = wf_adm_user_json(pb_adm_userinfo(rq));
    if (!want)
        return PB_ENOMEM;
    int same = have && json_equal(have, want);
    json_decref(want);
    if (!have) {
        snprintf(msg, n, "spec.submitter is missing: it is stamped by the mutating webhook "
                         "(is mutate/workflows registered?)");
        return 0;
    }
    if (!same) {
        snprintf(msg, n, "spec.submitter does not match the authenticated user %s",
                 pb_adm_userinfo(rq)->username);
        return 0;
    }
    char hash[65];
    if (wf_adm_spec_hash(spec, hash, NULL) != 0)
        return PB_ENOMEM;
    const char *got = json_string_value(annotation(obj, WF_ADM_SPEC_HASH_ANNOTATION));
    if (!got || strcmp(got, hash) != 0) {
        snprintf(msg, n, "the annotation %s %s: it is stamped by the mutating webhook and must be the sha256 "
                         "of the spec as stored",
                 WF_ADM_SPEC_HASH_ANNOTATION, got ? "does not match the spec" : "is missing");
        return 0;
    }
    return 1;
}

/* The static checks: 1 admitted (warnings for steps that need approval),
 * 0 denied with msg, or a negative error. */
static int check_steps(const wf_adm_ctx *ctx, const pb_adm_request *rq, char *msg, size_t n,
                       char (*warn)[PB_DECIDE_MSG_MAX + 64], size_t *nwarn)
{
    *nwarn = 0;
    const char *ns = pb_adm_namespace(rq);
    const json_t *spec = json_object_get(pb_adm_object(rq), "spec");
    if (!ctx || !ctx->policies) {
        snprintf(msg, n, "Workflows cannot be checked: the operator has no AgentPolicy cache (refused)");
        return 0;
    }
    agentpol_view *v = NULL;
    pb_err e;
    pb_err_clear(&e);
    int rc = agentpol_get(ctx->policies, ns, &v, &e);
    if (rc != 0)
        return rc;
    pb_steps *steps = NULL;
    pb_decision *d = NULL;
    int ok = 0;
    if (!agentpol_view_tenant(v) || !agentpol_view_model(v)) {
        snprintf(msg, n, "Workflow refused: %s; its steps cannot be checked", agentpol_view_problem(v));
        goto out;
    }
    if (!agentpol_view_has_feature(v, WF_ADM_AGENTS_FEATURE)) {
        snprintf(msg, n,
                 "Workflow refused: the plan of tenant %s does not include the \"" WF_ADM_AGENTS_FEATURE
                 "\" feature (Plan spec.features); agent workflows need a plan that has it",
                 agentpol_view_tenant(v));
        goto out;
    }
    const pb_pol_limits *pl = agentpol_view_plan_limits(v);
    pb_step_opts so = {.max_steps = pl->steps_per_workflow > 0 ? (size_t)pl->steps_per_workflow : 0};
    if ((rc = pb_step_parse(spec, agentpol_view_model(v), &so, &steps, &e)) != 0) {
        if (rc == PB_ENOMEM)
            goto out;
        snprintf(msg, n, "%s%s", e.msg,
                 rc == PB_ETOOLARGE && so.max_steps ? " (the limit is the Plan's stepsPerWorkflow)" : "");
        rc = 0;
        goto out;
    }
    pb_subj_user u;
    if (pb_subj_user_from_json(json_object_get(spec, "submitter"), &u, &e) != 0) {
        snprintf(msg, n, "spec.submitter: %s", e.msg);
        goto out;
    }
    const char *ref = NULL;
    pb_json_opt_string(spec, "policyRef.name", NULL, &ref, NULL);
    if (ref) {
        const pb_pol *p = agentpol_view_find(v, ref);
        if (!p) {
            snprintf(msg, n, "spec.policyRef.name: no AgentPolicy \"%s\" in namespace %s (omit policyRef to "
                             "use every policy that applies to you)",
                     ref, ns);
            goto out;
        }
        if (!pb_pol_subjects_match(p, &u)) {
            snprintf(msg, n, "spec.policyRef.name: AgentPolicy %s/%s does not list %s among its subjects", ns,
                     ref, u.username);
            goto out;
        }
    }
    size_t count = pb_step_count(steps);
    if (!(d = calloc(count, sizeof *d))) {
        rc = PB_ENOMEM;
        goto out;
    }
    int audit_only = 0;
    int first = agentpol_decide(v, &u, steps, ref, d, &audit_only);
    if (first >= 0) {
        opmetrics_workflow_denied("admission", pb_decide_reason_name(d[first].reason));
        snprintf(msg, n, "%s%s%s", d[first].field[0] ? d[first].field : "", d[first].field[0] ? ": " : "",
                 d[first].message);
        goto out;
    }
    if (audit_only)
        snprintf(warn[(*nwarn)++], PB_DECIDE_MSG_MAX + 64,
                 "AgentPolicy %s/%s is in Audit: this Workflow runs as a dry run (evaluated and recorded, nothing "
                 "changed)",
                 ns, ref);
    for (size_t i = 0; i < count && *nwarn < PB_ADM_MAX_WARNINGS; i++)
        if (d[i].outcome == PB_DECIDE_APPROVAL && !audit_only)
            snprintf(warn[(*nwarn)++], PB_DECIDE_MSG_MAX + 64, "%s", d[i].message);
    ok = 1;
out:
    free(d);
    pb_step_free(steps);
    agentpol_put(v);
    return rc < 0 ? rc : ok;
}

int wf_adm_validate(const wf_adm_ctx *ctx, const pb_adm_request *rq, json_t **out, pb_err *err)
{
    if (!wf_adm_is_kind(rq, "Workflow"))
        return build(rq, 0, "this webhook only admits paybill.dev Workflows", NULL, out, err);
    const char *op = pb_adm_operation(rq);
    char msg[PB_DECIDE_MSG_MAX + 512];
    if (strcmp(op, "CREATE") == 0) {
        int ok = check_create(rq, msg, sizeof msg);
        if (ok < 0)
            return pb_err_set(err, ok, "out of memory");
        if (!ok)
            return build(rq, 0, msg, NULL, out, err);
        char(*warn)[PB_DECIDE_MSG_MAX + 64] = calloc(PB_ADM_MAX_WARNINGS, sizeof *warn);
        if (!warn)
            return pb_err_set(err, PB_ENOMEM, "out of memory");
        size_t nwarn = 0;
        ok = check_steps(ctx, rq, msg, sizeof msg, warn, &nwarn);
        const char *w[PB_ADM_MAX_WARNINGS + 1] = {0};
        for (size_t i = 0; i < nwarn; i++)
            w[i] = warn[i];
        int rc = ok < 0 ? pb_err_set(err, ok, "checking the Workflow's steps failed")
                        : wf_adm_reply(rq, ok, ok ? NULL : msg, NULL, w, out, err);
        free(warn);
        return rc;
    }
    if (strcmp(op, "UPDATE") == 0) {
        const json_t *obj = pb_adm_object(rq), *old = pb_adm_old_object(rq);
        const json_t *spec = json_object_get(obj, "spec"), *ospec = json_object_get(old, "spec");
        if (!json_equal(spec, ospec) && (spec || ospec)) {
            char path[256] = "spec";
            wf_adm_first_diff(ospec, spec, path, sizeof path);
            snprintf(msg, sizeof msg,
                     "a Workflow's spec is immutable once created (%s differs): create a new "
                     "Workflow instead",
                     path);
            return build(rq, 0, msg, NULL, out, err);
        }
        static const char *const stamped[] = {WF_ADM_SUBMITTED_BY_ANNOTATION, WF_ADM_SPEC_HASH_ANNOTATION};
        for (size_t i = 0; i < 2; i++) {
            const json_t *a = annotation(obj, stamped[i]), *b = annotation(old, stamped[i]);
            if ((a || b) && !json_equal(a, b)) {
                snprintf(msg, sizeof msg, "the annotation %s may not be changed", stamped[i]);
                return build(rq, 0, msg, NULL, out, err);
            }
        }
    }
    return build(rq, 1, NULL, NULL, out, err);
}

typedef int (*decide_fn)(const wf_adm_ctx *ctx, const pb_adm_request *rq, json_t **out, pb_err *err);

static void handle(const pb_http_request *req, pb_http_response *resp, const wf_adm_ctx *ctx,
                   decide_fn decide)
{
    pb_err e = {0};
    pb_adm_request *rq = NULL;
    json_t *review = NULL;
    if (pb_adm_decode(req->body, req->body_len, &rq, &e) != 0) {
        pb_log_warn("admission request refused", "path", req->path, "error", e.msg, NULL);
        pb_http_reply(resp, 400, "text/plain", e.msg, strlen(e.msg));
        return;
    }
    const char *webhook = strrchr(req->path, '/') ? strrchr(req->path, '/') + 1 : req->path;
    if (decide(ctx, rq, &review, &e) != 0) {
        opmetrics_admission(webhook, "error");
        pb_log_error("admission decision failed", "path", req->path, "error", e.msg, NULL);
        pb_http_reply(resp, 500, "text/plain", e.msg, strlen(e.msg));
    } else {
        json_t *r = json_object_get(review, "response");
        int allowed = !json_is_false(json_object_get(r, "allowed"));
        opmetrics_admission(webhook, allowed ? "allowed" : "denied");
        if (!allowed)
            pb_log_info("admission denied", "path", req->path, "namespace",
                        pb_adm_namespace(rq), "name", pb_adm_name(rq), "user",
                        pb_adm_userinfo(rq)->username, "reason",
                        json_string_value(json_object_get(json_object_get(r, "status"),
                                                          "message")),
                        NULL);
        pb_http_reply_json(resp, 200, review);
    }
    json_decref(review);
    pb_adm_request_free(rq);
}

#define HANDLER(fn)                                                                      \
    static void fn##_handler(const pb_http_request *req, pb_http_response *resp, void *arg) \
    {                                                                                    \
        handle(req, resp, arg, fn);                                                      \
    }
HANDLER(wf_adm_mutate)
HANDLER(wf_adm_validate)
HANDLER(wf_adm_approval_mutate)
HANDLER(wf_adm_approval_validate)
HANDLER(wf_adm_policy_validate)

int wf_adm_register(pb_http_server *srv, void *ud, pb_err *err)
{
    static const struct {
        const char *path;
        pb_http_handler fn;
    } routes[] = {
        {WF_ADM_MUTATE_PATH, wf_adm_mutate_handler},
        {WF_ADM_VALIDATE_PATH, wf_adm_validate_handler},
        {WF_ADM_APPROVAL_MUTATE_PATH, wf_adm_approval_mutate_handler},
        {WF_ADM_APPROVAL_VALIDATE_PATH, wf_adm_approval_validate_handler},
        {WF_ADM_POLICY_VALIDATE_PATH, wf_adm_policy_validate_handler},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = pb_http_route_body(srv, "POST", routes[i].path, WF_ADM_MAX_BODY, routes[i].fn, ud, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}
