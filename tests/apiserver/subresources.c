/*
 * subresources.c - the subresources that are not plain status writes:
 * /scale on apps workloads (the autoscaling/v1 Scale view kubectl scale
 * uses) and /token on ServiceAccounts (TokenRequest, kubectl create token).
 */
#include "handlers_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "patch.h"

/* The autoscaling/v1 Scale view of a deployment or statefulset. */
static json_t *scale_of(const json_t *obj)
{
    json_t *m = json_object_get(obj, "metadata");
    json_t *spec = json_object_get(obj, "spec");
    char sel[1024] = "";
    const char *k;
    json_t *v;
    size_t off = 0;
    json_object_foreach(json_object_get(json_object_get(spec, "selector"), "matchLabels"), k, v)
        if (off < sizeof(sel))
            off += (size_t)snprintf(sel + off, sizeof(sel) - off, "%s%s=%s", off ? "," : "", k, json_string_value(v));
    json_t *meta = json_object();
    static const char *const keep[] = {"name", "namespace", "uid", "resourceVersion", "creationTimestamp", NULL};
    for (const char *const *kk = keep; *kk; kk++)
        if (json_object_get(m, *kk))
            json_object_set(meta, *kk, json_object_get(m, *kk));
    json_t *rep = json_object_get(spec, "replicas");
    json_t *srep = json_object_get(json_object_get(obj, "status"), "replicas");
    return json_pack("{s:s,s:s,s:o,s:{s:I},s:{s:I,s:s}}", "kind", "Scale", "apiVersion", "autoscaling/v1", "metadata",
                     meta, "spec", "replicas", rep ? json_integer_value(rep) : (json_int_t)1, "status", "replicas",
                     srep ? json_integer_value(srep) : (json_int_t)0, "selector", sel);
}

void dv_handle_scale(dv_ctx *c)
{
    const json_t *cur = dv_store_get(c->api->store, c->rt->group, c->rt->plural, c->ns, c->name);
    if (!cur) {
        dv_reply_not_found(c, c->rt, c->name);
        return;
    }
    json_t *old = json_incref((json_t *)cur);
    json_t *scale = scale_of(old);
    if (!strcmp(c->verb, "get")) {
        dv_reply_json(c, 200, scale);
        json_decref(old);
        return;
    }
    json_t *body = NULL, *next = NULL;
    char msg[1024] = "";
    if (dv_parse_body(c, &body) != 0)
        goto out;
    if (!strcmp(c->verb, "update")) {
        next = json_incref(body);
    } else {
        int is_json = dv_ctype_is(c, "application/json-patch+json");
        if (is_json && dv_reply_json_patch_error(c, body))
            goto out;
        int rc = is_json ? dv_json_patch(scale, body, &next, msg, sizeof(msg))
                         : dv_merge_patch(scale, body, &next, msg, sizeof(msg));
        if (rc != 0) {
            if (is_json)
                dv_reply_json_patch_failed(c);
            else
                dv_reply_status(c, 400, "BadRequest", msg, NULL);
            goto out;
        }
    }
    json_t *rep = json_object_get(json_object_get(next, "spec"), "replicas");
    if (!json_is_integer(rep) || json_integer_value(rep) < 0) {
        dv_reply_invalid(c, c->rt, c->name,
                         json_pack("[{s:s,s:s,s:s}]", "reason", "FieldValueInvalid", "message",
                                   "Invalid value: must be greater than or equal to 0", "field", "spec.replicas"));
        goto out;
    }
    json_t *obj = json_deep_copy(old);
    json_object_set(json_object_get(obj, "spec"), "replicas", rep);
    const char *rv = dv_mds(next, "resourceVersion");
    if (rv)
        json_object_set_new(dv_md(obj), "resourceVersion", json_string(rv));
    else
        json_object_del(dv_md(obj), "resourceVersion");
    c->sub = NULL; /* the write itself is an ordinary update of the object */
    dv_update_object(c, old, obj, 0);
    if (c->resp->status == 200) {
        json_t *written = json_loadb(c->resp->body, c->resp->body_len, 0, NULL);
        if (written)
            dv_reply_json(c, 200, scale_of(written));
        json_decref(written);
    }
out:
    json_decref(body);
    json_decref(next);
    json_decref(scale);
    json_decref(old);
}

void dv_handle_token_request(dv_ctx *c)
{
    const json_t *sa = dv_store_get(c->api->store, "", "serviceaccounts", c->ns, c->name);
    if (!sa) {
        dv_reply_not_found(c, c->rt, c->name);
        return;
    }
    json_t *req = NULL;
    if (c->req->body_len && dv_parse_body(c, &req) != 0)
        return;
    char msg[1024] = "";
    json_t *out = dv_token_request(c->api->auth, sa, req, (long long)time(NULL), msg, sizeof(msg));
    json_decref(req);
    if (!out) {
        json_t *d = json_pack("{s:s,s:s,s:s}", "name", c->name, "group", "authentication.k8s.io", "kind",
                              "TokenRequest");
        dv_reply_status(c, 422, "Invalid", msg, d);
        return;
    }
    dv_reply_json(c, 201, out);
}
