/*
 * admission.c - strict AdmissionReview v1 decoding and response building.
 *
 * The decoded request keeps the parsed document and hands out borrowed
 * pointers into it: the webhook handlers only read it, for one request.
 */
#include "server/admission.h"

#include <stdlib.h>
#include <string.h>

#include "util/secret.h"

struct pb_adm_request {
    json_t *doc;
    const char *uid, *operation, *kgroup, *kversion, *kind, *rgroup, *resource, *subresource,
        *ns, *name;
    pb_adm_user user;
    const json_t *object, *old_object;
    int dry_run;
    json_t *empty_array, *empty_object; /* defaults for absent groups/extra */
};

/* A string member; required: absent is an error; empty allowed only when
 * allow_empty. Absent optional members read as "". */
static int str_member(const json_t *o, const char *key, int required, int allow_empty,
                      const char *where, const char **out, pb_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (required)
            return pb_err_set(err, PB_EINVAL, "AdmissionReview: %s%s is required", where, key);
        *out = "";
        return 0;
    }
    if (!json_is_string(v))
        return pb_err_set(err, PB_EINVAL, "AdmissionReview: %s%s must be a string", where, key);
    *out = json_string_value(v);
    if (!allow_empty && !**out)
        return pb_err_set(err, PB_EINVAL, "AdmissionReview: %s%s must not be empty", where, key);
    return 0;
}

static int string_array(const json_t *a, const char *what, pb_err *err)
{
    size_t i;
    json_t *v;
    if (!json_is_array(a))
        return pb_err_set(err, PB_EINVAL, "AdmissionReview: %s must be an array of strings",
                          what);
    json_array_foreach(a, i, v) if (!json_is_string(v)) return pb_err_set(
        err, PB_EINVAL, "AdmissionReview: %s must be an array of strings", what);
    return 0;
}

static int decode_user(const json_t *r, pb_adm_request *rq, pb_err *err)
{
    json_t *u = json_object_get(r, "userInfo");
    int rc;
    if (!json_is_object(u))
        return pb_err_set(err, PB_EINVAL, "AdmissionReview: request.userInfo is required");
    if ((rc = str_member(u, "username", 1, 0, "request.userInfo.", &rq->user.username, err)) ||
        (rc = str_member(u, "uid", 0, 1, "request.userInfo.", &rq->user.uid, err)))
        return rc;
    json_t *g = json_object_get(u, "groups");
    if (g && !json_is_null(g)) {
        if ((rc = string_array(g, "request.userInfo.groups", err)))
            return rc;
        rq->user.groups = g;
    } else {
        rq->user.groups = rq->empty_array;
    }
    json_t *x = json_object_get(u, "extra");
    if (x && !json_is_null(x)) {
        const char *k;
        json_t *v;
        if (!json_is_object(x))
            return pb_err_set(err, PB_EINVAL, "AdmissionReview: request.userInfo.extra must be an object");
        json_object_foreach(x, k, v) if ((rc = string_array(v, "request.userInfo.extra values",
                                                            err))) return rc;
        rq->user.extra = x;
    } else {
        rq->user.extra = rq->empty_object;
    }
    return 0;
}

static int decode_request(const json_t *r, pb_adm_request *rq, pb_err *err)
{
    int rc;
    if ((rc = str_member(r, "uid", 1, 0, "request.", &rq->uid, err)) ||
        (rc = str_member(r, "operation", 1, 0, "request.", &rq->operation, err)) ||
        (rc = str_member(r, "subResource", 0, 1, "request.", &rq->subresource, err)) ||
        (rc = str_member(r, "namespace", 0, 1, "request.", &rq->ns, err)) ||
        (rc = str_member(r, "name", 0, 1, "request.", &rq->name, err)))
        return rc;
    static const char *const ops[] = {"CREATE", "UPDATE", "DELETE", "CONNECT", NULL};
    int known = 0;
    for (int i = 0; ops[i]; i++)
        known |= strcmp(ops[i], rq->operation) == 0;
    if (!known)
        return pb_err_set(err, PB_EINVAL, "AdmissionReview: unknown request.operation '%s'",
                          rq->operation);
    json_t *k = json_object_get(r, "kind"), *res = json_object_get(r, "resource");
    if (!json_is_object(k) || !json_is_object(res))
        return pb_err_set(err, PB_EINVAL,
                          "AdmissionReview: request.kind and request.resource are required");
    if ((rc = str_member(k, "group", 0, 1, "request.kind.", &rq->kgroup, err)) ||
        (rc = str_member(k, "version", 1, 0, "request.kind.", &rq->kversion, err)) ||
        (rc = str_member(k, "kind", 1, 0, "request.kind.", &rq->kind, err)) ||
        (rc = str_member(res, "group", 0, 1, "request.resource.", &rq->rgroup, err)) ||
        (rc = str_member(res, "resource", 1, 0, "request.resource.", &rq->resource, err)))
        return rc;
    if ((rc = decode_user(r, rq, err)))
        return rc;
    json_t *o = json_object_get(r, "object"), *oo = json_object_get(r, "oldObject");
    if ((o && !json_is_null(o) && !json_is_object(o)) ||
        (oo && !json_is_null(oo) && !json_is_object(oo)))
        return pb_err_set(err, PB_EINVAL,
                          "AdmissionReview: request.object and oldObject must be objects");
    rq->object = json_is_object(o) ? o : NULL;
    rq->old_object = json_is_object(oo) ? oo : NULL;
    /* What each operation always carries: without it there is nothing to
     * judge, so refuse rather than guess. */
    if ((!strcmp(rq->operation, "CREATE") || !strcmp(rq->operation, "UPDATE")) && !rq->object)
        return pb_err_set(err, PB_EINVAL, "AdmissionReview: %s without request.object",
                          rq->operation);
    if (!strcmp(rq->operation, "UPDATE") && !rq->old_object)
        return pb_err_set(err, PB_EINVAL, "AdmissionReview: UPDATE without request.oldObject");
    json_t *d = json_object_get(r, "dryRun");
    if (d && !json_is_null(d) && !json_is_boolean(d))
        return pb_err_set(err, PB_EINVAL, "AdmissionReview: request.dryRun must be a boolean");
    rq->dry_run = json_is_true(d);
    return 0;
}

int pb_adm_decode(const char *body, size_t len, pb_adm_request **out, pb_err *err)
{
    if (!out)
        return pb_err_set(err, PB_EINVAL, "pb_adm_decode: out is NULL");
    *out = NULL;
    json_error_t je;
    json_t *doc = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        return pb_err_set(err, PB_EPARSE, "AdmissionReview: invalid JSON: %s (line %d)", je.text,
                          je.line);
    int rc;
    pb_adm_request *rq = calloc(1, sizeof *rq);
    if (!rq) {
        json_decref(doc);
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    }
    rq->doc = doc;
    rq->empty_array = json_array();
    rq->empty_object = json_object();
    if (!rq->empty_array || !rq->empty_object) {
        pb_adm_request_free(rq);
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    }
    const char *av, *kind;
    if (!json_is_object(doc)) {
        rc = pb_err_set(err, PB_EINVAL, "AdmissionReview: body must be a JSON object");
        goto fail;
    }
    if ((rc = str_member(doc, "apiVersion", 1, 0, "", &av, err)) ||
        (rc = str_member(doc, "kind", 1, 0, "", &kind, err)))
        goto fail;
    if (strcmp(av, "admission.k8s.io/v1") != 0) {
        rc = pb_err_set(err, PB_EINVAL,
                        "AdmissionReview: apiVersion '%s' is not admission.k8s.io/v1 (set "
                        "admissionReviewVersions: [v1])",
                        av);
        goto fail;
    }
    if (strcmp(kind, "AdmissionReview") != 0) {
        rc = pb_err_set(err, PB_EINVAL, "AdmissionReview: kind '%s' is not AdmissionReview",
                        kind);
        goto fail;
    }
    json_t *r = json_object_get(doc, "request");
    if (!json_is_object(r)) {
        rc = pb_err_set(err, PB_EINVAL, "AdmissionReview: request is required");
        goto fail;
    }
    if ((rc = decode_request(r, rq, err)))
        goto fail;
    *out = rq;
    return 0;
fail:
    pb_adm_request_free(rq);
    return rc;
}

void pb_adm_request_free(pb_adm_request *rq)
{
    if (!rq)
        return;
    json_decref(rq->doc);
    json_decref(rq->empty_array);
    json_decref(rq->empty_object);
    free(rq);
}

const char *pb_adm_uid(const pb_adm_request *rq) { return rq->uid; }
const char *pb_adm_operation(const pb_adm_request *rq) { return rq->operation; }
const char *pb_adm_kind_group(const pb_adm_request *rq) { return rq->kgroup; }
const char *pb_adm_kind_version(const pb_adm_request *rq) { return rq->kversion; }
const char *pb_adm_kind(const pb_adm_request *rq) { return rq->kind; }
const char *pb_adm_resource_group(const pb_adm_request *rq) { return rq->rgroup; }
const char *pb_adm_resource(const pb_adm_request *rq) { return rq->resource; }
const char *pb_adm_subresource(const pb_adm_request *rq) { return rq->subresource; }
const char *pb_adm_namespace(const pb_adm_request *rq) { return rq->ns; }
const char *pb_adm_name(const pb_adm_request *rq) { return rq->name; }
const pb_adm_user *pb_adm_userinfo(const pb_adm_request *rq) { return &rq->user; }
const json_t *pb_adm_object(const pb_adm_request *rq) { return rq->object; }
const json_t *pb_adm_old_object(const pb_adm_request *rq) { return rq->old_object; }
int pb_adm_dry_run(const pb_adm_request *rq) { return rq->dry_run; }

int pb_adm_response_build(const pb_adm_request *rq, const pb_adm_result *res, json_t **out,
                          pb_err *err)
{
    if (!rq || !res || !out)
        return pb_err_set(err, PB_EINVAL, "pb_adm_response_build: NULL argument");
    *out = NULL;
    if (res->patch && (!res->allowed || !json_is_array(res->patch)))
        return pb_err_set(err, PB_EINVAL, "admission response: a patch must be a JSON array on "
                                          "an allowed response");
    json_t *resp = json_pack("{s:s,s:b}", "uid", rq->uid, "allowed", res->allowed ? 1 : 0);
    if (!resp)
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    int rc = 0;
    if (!res->allowed || res->message) {
        int code = res->code ? res->code : (res->allowed ? 200 : 403);
        const char *reason = res->reason ? res->reason : (code == 403 ? "Forbidden" : NULL);
        json_t *st = json_pack("{s:i,s:s}", "code", code, "status",
                               res->allowed ? "Success" : "Failure");
        if (st && res->message)
            json_object_set_new(st, "message", json_string(res->message));
        if (st && reason)
            json_object_set_new(st, "reason", json_string(reason));
        if (!st || json_object_set_new(resp, "status", st)) {
            rc = pb_err_set(err, PB_ENOMEM, "out of memory");
            goto done;
        }
    }
    if (res->patch) {
        char *text = json_dumps(res->patch, JSON_COMPACT), *b64 = NULL;
        if (!text) {
            rc = pb_err_set(err, PB_ENOMEM, "out of memory");
            goto done;
        }
        rc = pb_secret_b64_encode(text, strlen(text), &b64, err);
        free(text);
        if (rc)
            goto done;
        json_object_set_new(resp, "patchType", json_string("JSONPatch"));
        json_object_set_new(resp, "patch", json_string(b64));
        free(b64);
    }
    if (res->warnings[0]) {
        json_t *w = json_array();
        for (int i = 0; i < PB_ADM_MAX_WARNINGS && res->warnings[i]; i++)
            json_array_append_new(w, json_string(res->warnings[i]));
        json_object_set_new(resp, "warnings", w);
    }
    *out = json_pack("{s:s,s:s,s:o}", "apiVersion", "admission.k8s.io/v1", "kind",
                     "AdmissionReview", "response", resp);
    resp = NULL; /* stolen by s:o even on failure */
    if (!*out)
        rc = pb_err_set(err, PB_ENOMEM, "out of memory");
done:
    json_decref(resp);
    return rc;
}
