/*
 * workflow_admission.c - Workflow mutating and validating webhooks (see
 * workflow_admission.h): the submitter comes from the API server's
 * authenticated userInfo, and a Workflow's spec never changes after
 * creation.
 */
#include "controllers/workflow_admission.h"

#include <stdio.h>
#include <string.h>

#include "util/log.h"

static int is_workflow(const pb_adm_request *rq)
{
    return strcmp(pb_adm_kind_group(rq), "paybill.dev") == 0 &&
           strcmp(pb_adm_kind(rq), "Workflow") == 0;
}

static int build(const pb_adm_request *rq, int allowed, const char *msg, const json_t *patch,
                 json_t **out, pb_err *err)
{
    pb_adm_result res = {.allowed = allowed, .message = msg, .patch = patch};
    return pb_adm_response_build(rq, &res, out, err);
}

/* The submitter as the API server authenticated it. */
static json_t *submitter_of(const pb_adm_user *u)
{
    json_t *s = json_pack("{s:s,s:O}", "username", u->username, "groups", u->groups);
    if (s && u->uid[0])
        json_object_set_new(s, "uid", json_string(u->uid));
    return s;
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
    return NULL;
}

int wf_adm_mutate(const pb_adm_request *rq, json_t **out, pb_err *err)
{
    if (!is_workflow(rq))
        return build(rq, 0, "this webhook only admits paybill.dev Workflows", NULL, out, err);
    if (strcmp(pb_adm_operation(rq), "CREATE") != 0)
        return build(rq, 1, NULL, NULL, out, err);
    const json_t *obj = pb_adm_object(rq);
    const char *why = forged(obj);
    if (why)
        return build(rq, 0, why, NULL, out, err);
    json_t *sub = submitter_of(pb_adm_userinfo(rq));
    if (!sub)
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    /* The CRD requires spec; a request without one is refused by schema
     * validation anyway, but the patch must still apply cleanly. */
    json_t *patch = json_object_get(obj, "spec")
                        ? json_pack("[{s:s,s:s,s:o}]", "op", "add", "path", "/spec/submitter",
                                    "value", sub)
                        : json_pack("[{s:s,s:s,s:{s:o}}]", "op", "add", "path", "/spec", "value",
                                    "submitter", sub);
    if (!patch)
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    int rc = build(rq, 1, NULL, patch, out, err);
    json_decref(patch);
    return rc;
}

/* Path of the first difference between a and b ("spec.steps[1].where"),
 * keys in sorted order so the answer is stable. */
static void first_diff(const json_t *a, const json_t *b, char *path, size_t n)
{
    size_t len = strlen(path);
    if (json_is_object(a) && json_is_object(b)) {
        /* Union of keys, smallest first. */
        const char *best = NULL, *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v) if (!json_equal(v, json_object_get(b, k)) &&
                                                   (!best || strcmp(k, best) < 0)) best = k;
        json_object_foreach((json_t *)b, k, v) if (!json_equal(v, json_object_get(a, k)) &&
                                                   (!best || strcmp(k, best) < 0)) best = k;
        if (!best)
            return;
        snprintf(path + len, n - len, ".%s", best);
        first_diff(json_object_get(a, best), json_object_get(b, best), path, n);
        return;
    }
    if (json_is_array(a) && json_is_array(b)) {
        size_t na = json_array_size(a), nb = json_array_size(b);
        for (size_t i = 0; i < na && i < nb; i++)
            if (!json_equal(json_array_get(a, i), json_array_get(b, i))) {
                snprintf(path + len, n - len, "[%zu]", i);
                first_diff(json_array_get(a, i), json_array_get(b, i), path, n);
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
    const json_t *have = json_object_get(json_object_get(obj, "spec"), "submitter");
    json_t *want = submitter_of(pb_adm_userinfo(rq));
    if (!want)
        return PB_ENOMEM;
    int same = have && json_equal(have, want);
    json_decref(want);
    if (!have)
        snprintf(msg, n, "spec.submitter is missing: it is stamped by the mutating webhook "
                         "(is mutate/workflows registered?)");
    else if (!same)
        snprintf(msg, n, "spec.submitter does not match the authenticated user %s",
                 pb_adm_userinfo(rq)->username);
    return same;
}

int wf_adm_validate(const pb_adm_request *rq, json_t **out, pb_err *err)
{
    if (!is_workflow(rq))
        return build(rq, 0, "this webhook only admits paybill.dev Workflows", NULL, out, err);
    const char *op = pb_adm_operation(rq);
    char msg[512];
    if (strcmp(op, "CREATE") == 0) {
        int ok = check_create(rq, msg, sizeof msg);
        if (ok < 0)
            return pb_err_set(err, ok, "out of memory");
        return build(rq, ok, ok ? NULL : msg, NULL, out, err);
    }
    if (strcmp(op, "UPDATE") == 0) {
        const json_t *obj = pb_adm_object(rq), *old = pb_adm_old_object(rq);
        const json_t *spec = json_object_get(obj, "spec"), *ospec = json_object_get(old, "spec");
        if (!json_equal(spec, ospec) && (spec || ospec)) {
            char path[256] = "spec";
            first_diff(ospec, spec, path, sizeof path);
            snprintf(msg, sizeof msg,
                     "a Workflow's spec is immutable once created (%s differs): create a new "
                     "Workflow instead",
                     path);
            return build(rq, 0, msg, NULL, out, err);
        }
        const json_t *a = annotation(obj, WF_ADM_SUBMITTED_BY_ANNOTATION),
                     *b = annotation(old, WF_ADM_SUBMITTED_BY_ANNOTATION);
        if ((a || b) && !json_equal(a, b))
            return build(rq, 0, "the annotation " WF_ADM_SUBMITTED_BY_ANNOTATION " may not be set",
                         NULL, out, err);
    }
    return build(rq, 1, NULL, NULL, out, err);
}

typedef int (*decide_fn)(const pb_adm_request *rq, json_t **out, pb_err *err);

static void handle(const pb_http_request *req, pb_http_response *resp, decide_fn decide)
{
    pb_err e = {0};
    pb_adm_request *rq = NULL;
    json_t *review = NULL;
    if (pb_adm_decode(req->body, req->body_len, &rq, &e) != 0) {
        pb_log_warn("admission request refused", "path", req->path, "error", e.msg, NULL);
        pb_http_reply(resp, 400, "text/plain", e.msg, strlen(e.msg));
        return;
    }
    if (decide(rq, &review, &e) != 0) {
        pb_log_error("admission decision failed", "path", req->path, "error", e.msg, NULL);
        pb_http_reply(resp, 500, "text/plain", e.msg, strlen(e.msg));
    } else {
        json_t *r = json_object_get(review, "response");
        if (json_is_false(json_object_get(r, "allowed")))
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

static void mutate_handler(const pb_http_request *req, pb_http_response *resp, void *arg)
{
    (void)arg;
    handle(req, resp, wf_adm_mutate);
}

static void validate_handler(const pb_http_request *req, pb_http_response *resp, void *arg)
{
    (void)arg;
    handle(req, resp, wf_adm_validate);
}

int wf_adm_register(pb_http_server *srv, void *ud, pb_err *err)
{
    (void)ud;
    int rc = pb_http_route_body(srv, "POST", WF_ADM_MUTATE_PATH, WF_ADM_MAX_BODY, mutate_handler,
                                NULL, err);
    if (rc == 0)
        rc = pb_http_route_body(srv, "POST", WF_ADM_VALIDATE_PATH, WF_ADM_MAX_BODY,
                                validate_handler, NULL, err);
    return rc;
}
