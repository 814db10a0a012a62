/*
 * test_handlers.c - API semantics through dv_api_handle, without HTTP:
 * Status bodies, create/get/update/patch/delete rules (generation, status
 * subresource, no-op writes, finalizers, generateName), CRD serving,
 * pagination, watch buffering and 410 (also before a CRD was served), tables,
 * garbage collection, bad input, bodies without kind/apiVersion and bodies of
 * the wrong type, PUT rules per kind, patch failures and dryRun values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "handlers.h"

#define TOKEN "unit-admin-token"

typedef struct fixture {
    dv_api *api;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    dv_api_config cfg = {0};
    cfg.watch_window = 50;
    cfg.admin_token = TOKEN;
    char msg[256] = "";
    if (dv_api_new(&cfg, &f->api, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "dv_api_new: %s\n", msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    dv_api_free(f->api);
    free(f);
    return 0;
}

/* Perform a request; returns the parsed body (new ref) and the status. */
static json_t *call(fixture *f, const char *method, const char *path, const char *query, const char *ctype,
                    const char *body, int *status)
{
    json_t *q = json_object();
    if (query) {
        char *copy = strdup(query);
        for (char *tok = strtok(copy, "&"); tok; tok = strtok(NULL, "&")) {
            char *eq = strchr(tok, '=');
            if (eq) {
                *eq = 0;
                json_object_set_new(q, tok, json_string(eq + 1));
            }
        }
        free(copy);
    }
    dv_request req = {method, path, q, "application/json", ctype ? ctype : "application/json",
                      "Bearer " TOKEN, "unit-test/1.0", NULL, NULL, body, body ? strlen(body) : 0, NULL};
    dv_response resp;
    dv_api_handle(f->api, &req, &resp);
    json_decref(q);
    *status = resp.status;
    json_t *out = resp.body ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
    dv_response_clear(&resp);
    return out;
}

static const char *sget(const json_t *o, const char *a, const char *b)
{
    const json_t *v = json_object_get(o, a);
    if (b)
        v = json_object_get(v, b);
    return json_string_value(v);
}

#define CM "/api/v1/namespaces/default/configmaps"

static void test_status_bodies(void **state)
{
    fixture *f = *state;
    int st;
    json_t *r = call(f, "GET", CM "/missing", NULL, NULL, NULL, &st);
    assert_int_equal(st, 404);
    assert_string_equal(sget(r, "kind", NULL), "Status");
    assert_string_equal(sget(r, "status", NULL), "Failure");
    assert_string_equal(sget(r, "reason", NULL), "NotFound");
    assert_string_equal(sget(r, "message", NULL), "configmaps \"missing\" not found");
    assert_string_equal(sget(r, "details", "kind"), "configmaps");
    assert_int_equal(json_integer_value(json_object_get(r, "code")), 404);
    json_decref(r);

    dv_request req = {"GET", CM, NULL, NULL, NULL, "Bearer nope", NULL, NULL, NULL, NULL, 0, NULL};
    dv_response resp;
    dv_api_handle(f->api, &req, &resp);
    assert_int_equal(resp.status, 401);
    dv_response_clear(&resp);

    r = call(f, "GET", "/apis/nothing.example/v1/things", NULL, NULL, NULL, &st);
    assert_int_equal(st, 404);
    json_decref(r);
    r = call(f, "POST", CM, NULL, NULL, "{broken", &st);
    assert_int_equal(st, 400);
    assert_string_equal(sget(r, "reason", NULL), "BadRequest");
    json_decref(r);
    r = call(f, "POST", CM, NULL, NULL, "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"x\"}}", &st);
    assert_int_equal(st, 400); /* kind does not match the URL */
    json_decref(r);
    r = call(f, "PUT", CM, NULL, NULL, "{}", &st);
    assert_int_equal(st, 405);
    json_decref(r);
}

static void test_create_update_conflict(void **state)
{
    fixture *f = *state;
    int st;
    json_t *r = call(f, "POST", CM, NULL, NULL,
                     "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"},\"data\":{\"a\":\"1\"}}",
                     &st);
    assert_int_equal(st, 201);
    assert_non_null(sget(r, "metadata", "uid"));
    assert_non_null(sget(r, "metadata", "creationTimestamp"));
    assert_string_equal(sget(r, "metadata", "namespace"), "default");
    char rv[32];
    snprintf(rv, sizeof(rv), "%s", sget(r, "metadata", "resourceVersion"));
    json_decref(r);

    r = call(f, "POST", CM, NULL, NULL, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"}}", &st);
    assert_int_equal(st, 409);
    assert_string_equal(sget(r, "reason", NULL), "AlreadyExists");
    json_decref(r);

    char body[512];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\",\"resourceVersion\":\"%s\"},"
             "\"data\":{\"a\":\"2\"}}",
             rv);
    r = call(f, "PUT", CM "/c", NULL, NULL, body, &st);
    assert_int_equal(st, 200);
    assert_string_not_equal(sget(r, "metadata", "resourceVersion"), rv);
    json_decref(r);
    r = call(f, "PUT", CM "/c", NULL, NULL, body, &st);
    assert_int_equal(st, 409);
    assert_string_equal(sget(r, "reason", NULL), "Conflict");
    json_decref(r);

    /* a no-op update does not bump the resourceVersion */
    r = call(f, "GET", CM "/c", NULL, NULL, NULL, &st);
    char rv2[32];
    snprintf(rv2, sizeof(rv2), "%s", sget(r, "metadata", "resourceVersion"));
    json_decref(r);
    r = call(f, "PATCH", CM "/c", NULL, "application/merge-patch+json", "{\"data\":{\"a\":\"2\"}}", &st);
    assert_int_equal(st, 200);
    assert_string_equal(sget(r, "metadata", "resourceVersion"), rv2);
    json_decref(r);

    /* name mismatch, bad name, generateName */
    r = call(f, "PUT", CM "/c", NULL, NULL, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"d\"}}", &st);
    assert_int_equal(st, 400);
    json_decref(r);
    r = call(f, "POST", CM, NULL, NULL, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"-Bad\"}}", &st);
    assert_int_equal(st, 422);
    assert_string_equal(sget(r, "details", "kind"), "ConfigMap");
    json_decref(r);
    r = call(f, "POST", CM, NULL, NULL, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"generateName\":\"g-\"}}", &st);
    assert_int_equal(st, 201);
    assert_int_equal(strlen(sget(r, "metadata", "name")), 7);
    json_decref(r);
    /* label keys and values are validated */
    r = call(f, "POST", CM, NULL, NULL,
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"l\",\"labels\":{\"a b\":\"x\"}}}", &st);
    assert_int_equal(st, 422);
    assert_non_null(strstr(sget(r, "message", NULL), "metadata.labels: Invalid value: \"a b\""));
    json_decref(r);
    r = call(f, "PATCH", CM "/c", NULL, "application/merge-patch+json",
             "{\"metadata\":{\"labels\":{\"ok\":\"-bad-\"}}}", &st);
    assert_int_equal(st, 422);
    json_decref(r);
    r = call(f, "PATCH", CM "/c", NULL, "application/merge-patch+json",
             "{\"metadata\":{\"labels\":{\"paybill.dev/tier\":\"gold\",\"empty\":\"\"}}}", &st);
    assert_int_equal(st, 200);
    json_decref(r);
    /* Secret stringData is folded into data */
    r = call(f, "POST", "/api/v1/namespaces/default/secrets", NULL, NULL,
             "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\"},\"data\":{\"a\":\"eA==\"},"
             "\"stringData\":{\"b\":\"hi\"}}",
             &st);
    assert_int_equal(st, 201);
    assert_string_equal(sget(r, "data", "b"), "aGk=");
    assert_string_equal(sget(r, "data", "a"), "eA==");
    assert_null(json_object_get(r, "stringData"));
    assert_string_equal(sget(r, "type", NULL), "Opaque");
    json_decref(r);
    r = call(f, "PATCH", "/api/v1/namespaces/default/secrets/s", NULL, "application/merge-patch+json",
             "{\"stringData\":{\"a\":\"y\"}}", &st);
    assert_int_equal(st, 200);
    assert_string_equal(sget(r, "data", "a"), "eQ==");
    json_decref(r);
    /* immutable ConfigMaps keep their data */
    json_decref(call(f, "POST", CM, NULL, NULL,
                     "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"im\"},\"data\":{\"a\":\"1\"},"
                     "\"immutable\":true}",
                     &st));
    assert_int_equal(st, 201);
    r = call(f, "PATCH", CM "/im", NULL, "application/merge-patch+json", "{\"data\":{\"a\":\"2\"}}", &st);
    assert_int_equal(st, 422);
    assert_non_null(strstr(sget(r, "message", NULL), "field is immutable when `immutable` is set"));
    json_decref(r);
    r = call(f, "PATCH", CM "/im", NULL, "application/merge-patch+json", "{\"metadata\":{\"labels\":{\"x\":\"y\"}}}", &st);
    assert_int_equal(st, 200);
    json_decref(r);
    /* unknown namespace */
    r = call(f, "POST", "/api/v1/namespaces/ghost/configmaps", NULL, NULL,
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\"}}", &st);
    assert_int_equal(st, 404);
    json_decref(r);
}

static const char *CRD =
    "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
    "\"metadata\":{\"name\":\"gadgets.unit.dev\"},\"spec\":{\"group\":\"unit.dev\",\"scope\":\"Namespaced\","
    "\"names\":{\"plural\":\"gadgets\",\"kind\":\"Gadget\"},\"versions\":[{\"name\":\"v1\",\"served\":true,"
    "\"storage\":true,\"subresources\":{\"status\":{}},\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\","
    "\"properties\":{\"spec\":{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"}}},"
    "\"status\":{\"type\":\"object\",\"properties\":{\"ok\":{\"type\":\"boolean\"}}}}}}}]}}";

#define GD "/apis/unit.dev/v1/namespaces/default/gadgets"

static void test_crd_generation_status(void **state)
{
    fixture *f = *state;
    int st;
    json_t *r = call(f, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", NULL, NULL, CRD, &st);
    assert_int_equal(st, 201);
    json_t *conds = json_object_get(json_object_get(r, "status"), "conditions");
    assert_int_equal(json_array_size(conds), 2);
    json_decref(r);

    r = call(f, "POST", GD, NULL, NULL,
             "{\"apiVersion\":\"unit.dev/v1\",\"kind\":\"Gadget\",\"metadata\":{\"name\":\"g\"},\"spec\":{\"n\":1},"
             "\"status\":{\"ok\":true}}",
             &st);
    assert_int_equal(st, 201);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "metadata"), "generation")), 1);
    assert_null(json_object_get(r, "status")); /* status is dropped on create */
    json_decref(r);

    r = call(f, "PATCH", GD "/g/status", NULL, "application/merge-patch+json",
             "{\"status\":{\"ok\":true},\"spec\":{\"n\":9}}", &st);
    assert_int_equal(st, 200);
    assert_true(json_is_true(json_object_get(json_object_get(r, "status"), "ok")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "spec"), "n")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "metadata"), "generation")), 1);
    json_decref(r);

    r = call(f, "PATCH", GD "/g", NULL, "application/merge-patch+json", "{\"spec\":{\"n\":2},\"status\":null}", &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "metadata"), "generation")), 2);
    assert_non_null(json_object_get(r, "status")); /* main endpoint ignores status */
    json_decref(r);

    r = call(f, "PATCH", GD "/g", NULL, "application/merge-patch+json", "{\"metadata\":{\"labels\":{\"x\":\"y\"}}}", &st);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "metadata"), "generation")), 2);
    json_decref(r);

    r = call(f, "PATCH", GD "/g", NULL, "application/strategic-merge-patch+json", "{}", &st);
    assert_int_equal(st, 415);
    json_decref(r);
    r = call(f, "POST", GD, NULL, NULL,
             "{\"apiVersion\":\"unit.dev/v1\",\"kind\":\"Gadget\",\"metadata\":{\"name\":\"h\"},\"spec\":{\"n\":\"x\"}}", &st);
    assert_int_equal(st, 422);
    json_decref(r);
    r = call(f, "POST", GD, "fieldValidation=Strict", NULL,
             "{\"apiVersion\":\"unit.dev/v1\",\"kind\":\"Gadget\",\"metadata\":{\"name\":\"h\"},\"spec\":{\"zz\":1}}", &st);
    assert_int_equal(st, 400);
    assert_non_null(strstr(sget(r, "message", NULL), "unknown field \"spec.zz\""));
    json_decref(r);

    /* finalizers hold deletion */
    r = call(f, "PATCH", GD "/g", NULL, "application/merge-patch+json", "{\"metadata\":{\"finalizers\":[\"x/y\"]}}", &st);
    json_decref(r);
    r = call(f, "DELETE", GD "/g", NULL, NULL, NULL, &st);
    assert_int_equal(st, 200);
    assert_non_null(sget(r, "metadata", "deletionTimestamp"));
    json_decref(r);
    r = call(f, "PATCH", GD "/g", NULL, "application/merge-patch+json", "{\"metadata\":{\"finalizers\":null}}", &st);
    assert_int_equal(st, 200);
    json_decref(r);
    r = call(f, "GET", GD "/g", NULL, NULL, NULL, &st);
    assert_int_equal(st, 404);
    assert_string_equal(sget(r, "message", NULL), "gadgets.unit.dev \"g\" not found");
    json_decref(r);

    /* deleting the CRD stops serving the resource */
    r = call(f, "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.unit.dev", NULL, NULL, NULL,
             &st);
    assert_int_equal(st, 200);
    json_decref(r);
    r = call(f, "GET", GD, NULL, NULL, NULL, &st);
    assert_int_equal(st, 404);
    json_decref(r);
}

static void test_pagination_and_table(void **state)
{
    fixture *f = *state;
    int st;
    for (int i = 0; i < 5; i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"p%d\",\"labels\":{\"i\":\"%d\"}}}", i,
                 i % 2);
        json_decref(call(f, "POST", CM, NULL, NULL, body, &st));
        assert_int_equal(st, 201);
    }
    json_t *r = call(f, "GET", CM, "limit=2", NULL, NULL, &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(json_object_get(r, "items")), 2);
    assert_string_equal(sget(r, "kind", NULL), "ConfigMapList");
    char q[1024];
    snprintf(q, sizeof(q), "limit=10&continue=%s", sget(r, "metadata", "continue"));
    json_decref(r);
    r = call(f, "GET", CM, q, NULL, NULL, &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(json_object_get(r, "items")), 3);
    assert_null(sget(r, "metadata", "continue"));
    json_decref(r);
    r = call(f, "GET", CM, "resourceVersion=999999", NULL, NULL, &st);
    assert_int_equal(st, 504);
    json_decref(r);
    r = call(f, "GET", CM, "resourceVersionMatch=Exact", NULL, NULL, &st);
    assert_int_equal(st, 400);
    json_decref(r);
    r = call(f, "GET", CM, "continue=garbage", NULL, NULL, &st);
    assert_int_equal(st, 400);
    json_decref(r);
    r = call(f, "GET", CM, "labelSelector=i=1", NULL, NULL, &st);
    assert_int_equal(json_array_size(json_object_get(r, "items")), 2);
    json_decref(r);
    r = call(f, "GET", CM, "labelSelector=i+in+(", NULL, NULL, &st);
    assert_int_equal(st, 400);
    json_decref(r);

    json_t *q2 = json_object();
    dv_request req = {"GET", "/api/v1/namespaces", q2, "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
                      NULL, "Bearer " TOKEN, NULL, NULL, NULL, NULL, 0, NULL};
    dv_response resp;
    dv_api_handle(f->api, &req, &resp);
    json_t *t = json_loadb(resp.body, resp.body_len, 0, NULL);
    assert_string_equal(sget(t, "kind", NULL), "Table");
    json_t *cols = json_object_get(t, "columnDefinitions");
    assert_string_equal(json_string_value(json_object_get(json_array_get(cols, 0), "name")), "Name");
    assert_string_equal(json_string_value(json_object_get(json_array_get(cols, json_array_size(cols) - 1), "name")), "Age");
    json_t *row = json_array_get(json_object_get(t, "rows"), 0);
    assert_string_equal(json_string_value(json_array_get(json_object_get(row, "cells"), 0)), "default");
    assert_string_equal(sget(json_object_get(row, "object"), "kind", NULL), "PartialObjectMetadata");
    json_decref(t);
    json_decref(q2);
    dv_response_clear(&resp);
}

static void test_watch(void **state)
{
    fixture *f = *state;
    int st;
    json_t *l = call(f, "GET", CM, NULL, NULL, NULL, &st);
    char q[128];
    snprintf(q, sizeof(q), "watch=1&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=30",
             sget(l, "metadata", "resourceVersion"));
    json_decref(l);
    json_t *qq = json_object();
    json_object_set_new(qq, "watch", json_string("1"));
    char *rvpos = strstr(q, "resourceVersion=") + 16;
    char rv[32];
    snprintf(rv, sizeof(rv), "%.*s", (int)strcspn(rvpos, "&"), rvpos);
    json_object_set_new(qq, "resourceVersion", json_string(rv));
    dv_request req = {"GET", CM, qq, NULL, NULL, "Bearer " TOKEN, NULL, NULL, NULL, NULL, 0, NULL};
    dv_response resp;
    dv_api_handle(f->api, &req, &resp);
    assert_int_equal(resp.status, 200);
    assert_non_null(resp.watch);
    json_decref(call(f, "POST", CM, NULL, NULL, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"w\"}}", &st));
    json_decref(call(f, "DELETE", CM "/w", NULL, NULL, NULL, &st));
    size_t len;
    const char *data = dv_watch_data(resp.watch, &len);
    char *text = strndup(data, len);
    char *nl = strchr(text, '\n');
    assert_non_null(nl);
    *nl = 0;
    json_t *ev1 = json_loads(text, 0, NULL);
    json_t *ev2 = json_loads(nl + 1, JSON_DISABLE_EOF_CHECK, NULL);
    assert_string_equal(sget(ev1, "type", NULL), "ADDED");
    assert_string_equal(sget(ev2, "type", NULL), "DELETED");
    assert_string_equal(sget(json_object_get(ev2, "object"), "metadata", "name"), "w");
    json_decref(ev1);
    json_decref(ev2);
    free(text);
    dv_watch_consume(resp.watch, len);
    dv_watch_data(resp.watch, &len);
    assert_int_equal(len, 0);
    assert_false(dv_watch_finished(resp.watch));
    dv_response_clear(&resp); /* closes the watch */

    /* an RV older than the window: one ERROR 410 event, then the end */
    json_decref(call(f, "POST", CM, NULL, NULL, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"p0\"}}", &st));
    assert_int_equal(st, 201);
    for (int i = 0; i < 60; i++)
        json_decref(call(f, "PATCH", CM "/p0", NULL, "application/merge-patch+json",
                         i % 2 ? "{\"data\":{\"a\":\"1\"}}" : "{\"data\":{\"a\":\"2\"}}", &st));
    json_object_set_new(qq, "resourceVersion", json_string("1"));
    dv_api_handle(f->api, &req, &resp);
    assert_non_null(resp.watch);
    data = dv_watch_data(resp.watch, &len);
    json_t *err = json_loadb(data, len, JSON_DISABLE_EOF_CHECK, NULL);
    assert_string_equal(sget(err, "type", NULL), "ERROR");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(err, "object"), "code")), 410);
    json_decref(err);
    assert_true(dv_watch_finished(resp.watch));
    dv_response_clear(&resp);
    /* a revision from the future: ERROR 504 */
    json_object_set_new(qq, "resourceVersion", json_string("99999999"));
    dv_api_handle(f->api, &req, &resp);
    data = dv_watch_data(resp.watch, &len);
    err = json_loadb(data, len, JSON_DISABLE_EOF_CHECK, NULL);
    assert_string_equal(sget(err, "type", NULL), "ERROR");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(err, "object"), "code")), 504);
    json_decref(err);
    dv_response_clear(&resp);
    json_decref(qq);
}

/* The first event of a watch on `path` from resourceVersion rv; finished is
 * set when the watch ended after it. New reference, NULL without events. */
static json_t *watch_first_event(fixture *f, const char *path, const char *rv, int *finished)
{
    json_t *qq = json_pack("{s:s,s:s}", "watch", "1", "resourceVersion", rv);
    dv_request req = {"GET", path, qq, NULL, NULL, "Bearer " TOKEN, NULL, NULL, NULL, NULL, 0, NULL};
    dv_response resp;
    dv_api_handle(f->api, &req, &resp);
    assert_int_equal(resp.status, 200);
    assert_non_null(resp.watch);
    size_t len;
    const char *data = dv_watch_data(resp.watch, &len);
    json_t *ev = len ? json_loadb(data, len, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
    *finished = dv_watch_finished(resp.watch);
    dv_response_clear(&resp);
    json_decref(qq);
    return ev;
}

/* kube-apiserver serves custom resources from a watch cache it makes when
 * it starts serving the CRD: a watch from before that revision is 410, even
 * with the store's window still holding it (seen on v1.37: "too old
 * resource version: 2 (253)"); a new definition (generation) is a new cache. */
static void test_crd_watch_floor(void **state)
{
    fixture *f = *state;
    int st, fin;
    json_t *r = call(f, "POST", CM, NULL, NULL, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"before\"}}",
                     &st);
    char rv0[32], rv1[32], want[128];
    snprintf(rv0, sizeof(rv0), "%s", sget(r, "metadata", "resourceVersion"));
    json_decref(r);
    r = call(f, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", NULL, NULL, CRD, &st);
    assert_int_equal(st, 201);
    snprintf(rv1, sizeof(rv1), "%s", sget(r, "metadata", "resourceVersion"));
    json_decref(r);

    json_t *ev = watch_first_event(f, GD, rv0, &fin);
    assert_string_equal(sget(ev, "type", NULL), "ERROR");
    snprintf(want, sizeof(want), "too old resource version: %s (%s)", rv0, rv1);
    assert_string_equal(sget(json_object_get(ev, "object"), "message", NULL), want);
    assert_string_equal(sget(json_object_get(ev, "object"), "reason", NULL), "Expired");
    assert_true(fin);
    json_decref(ev);
    ev = watch_first_event(f, GD, rv1, &fin); /* from the cache's own revision: fine */
    assert_null(ev);
    assert_false(fin);
    /* built-in kinds are cached from the start: the store's window decides */
    ev = watch_first_event(f, CM, rv0, &fin);
    assert_null(ev);
    assert_false(fin);

    /* a label on the CRD keeps its cache; a new version of its spec does not */
    json_decref(call(f, "PATCH", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.unit.dev", NULL,
                     "application/merge-patch+json", "{\"metadata\":{\"labels\":{\"a\":\"b\"}}}", &st));
    assert_int_equal(st, 200);
    ev = watch_first_event(f, GD, rv1, &fin);
    assert_null(ev);
    r = call(f, "PATCH", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.unit.dev", NULL,
             "application/merge-patch+json", "{\"spec\":{\"names\":{\"shortNames\":[\"gd\"]}}}", &st);
    assert_int_equal(st, 200);
    char rv2[32];
    snprintf(rv2, sizeof(rv2), "%s", sget(r, "metadata", "resourceVersion"));
    json_decref(r);
    ev = watch_first_event(f, GD, rv1, &fin);
    snprintf(want, sizeof(want), "too old resource version: %s (%s)", rv1, rv2);
    assert_string_equal(sget(json_object_get(ev, "object"), "message", NULL), want);
    json_decref(ev);
}

/* Objects moving in and out of a watch's label selector. */
static void test_watch_selector(void **state)
{
    fixture *f = *state;
    int st;
    json_t *q = json_pack("{s:s,s:s}", "watch", "true", "labelSelector", "app=x");
    dv_request req = {"GET", CM, q, NULL, NULL, "Bearer " TOKEN, NULL, NULL, NULL, NULL, 0, NULL};
    dv_response resp;
    dv_api_handle(f->api, &req, &resp);
    assert_non_null(resp.watch);
    json_decref(call(f, "POST", CM, NULL, NULL,
                     "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"m\",\"labels\":{\"app\":\"x\"}}}",
                     &st));
    json_decref(call(f, "POST", CM, NULL, NULL,
                     "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"other\"}}", &st));
    json_decref(call(f, "PATCH", CM "/m", NULL, "application/merge-patch+json", "{\"metadata\":{\"labels\":{\"app\":\"y\"}}}",
                     &st));
    json_decref(call(f, "PATCH", CM "/m", NULL, "application/merge-patch+json", "{\"data\":{\"k\":\"v\"}}", &st));
    json_decref(call(f, "PATCH", CM "/m", NULL, "application/merge-patch+json", "{\"metadata\":{\"labels\":{\"app\":\"x\"}}}",
                     &st));
    size_t len;
    const char *data = dv_watch_data(resp.watch, &len);
    char types[256] = "";
    for (const char *p = data; p < data + len;) {
        const char *nl = memchr(p, '\n', (size_t)(data + len - p));
        json_t *ev = json_loadb(p, (size_t)(nl - p), 0, NULL);
        strcat(types, sget(ev, "type", NULL));
        strcat(types, " ");
        json_decref(ev);
        p = nl + 1;
    }
    assert_string_equal(types, "ADDED DELETED ADDED ");
    dv_response_clear(&resp);
    json_decref(q);
}

static void test_builtin_defaults(void **state)
{
    fixture *f = *state;
    int st;
    json_t *r = call(f, "POST", "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies", NULL, NULL,
                     "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"np\"},"
                     "\"spec\":{\"podSelector\":{},\"egress\":[{}]}}",
                     &st);
    assert_int_equal(st, 201);
    json_t *types = json_object_get(json_object_get(r, "spec"), "policyTypes");
    assert_int_equal(json_array_size(types), 2);
    json_decref(r);
    r = call(f, "POST", "/apis/apps/v1/namespaces/default/deployments", NULL, NULL,
             "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\"},\"spec\":{\"selector\":"
             "{\"matchLabels\":{\"a\":\"b\"}},\"template\":{\"metadata\":{\"labels\":{\"a\":\"b\"}},\"spec\":{"
             "\"containers\":[{\"name\":\"c\",\"image\":\"nginx:1.25\",\"ports\":[{\"containerPort\":80}]}]}}}}",
             &st);
    assert_int_equal(st, 201);
    json_t *spec = json_object_get(r, "spec");
    assert_int_equal(json_integer_value(json_object_get(spec, "replicas")), 1);
    assert_string_equal(sget(spec, "strategy", "type"), "RollingUpdate");
    json_t *pod = json_object_get(json_object_get(spec, "template"), "spec");
    assert_string_equal(sget(pod, "restartPolicy", NULL), "Always");
    json_t *c = json_array_get(json_object_get(pod, "containers"), 0);
    assert_string_equal(sget(c, "imagePullPolicy", NULL), "IfNotPresent");
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(c, "ports"), 0), "protocol")),
                        "TCP");
    json_decref(r);
    /* an explicit value is kept; defaulting again changes nothing (no-op) */
    r = call(f, "PATCH", "/apis/apps/v1/namespaces/default/deployments/d", NULL, "application/merge-patch+json",
             "{\"spec\":{\"replicas\":0}}", &st);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "spec"), "replicas")), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "metadata"), "generation")), 2);
    json_decref(r);
}

static void test_namespace_termination(void **state)
{
    fixture *f = *state;
    int st;
    json_decref(call(f, "POST", "/api/v1/namespaces", NULL, NULL,
                     "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"gone\"}}", &st));
    assert_int_equal(st, 201);
    json_decref(call(f, "POST", "/api/v1/namespaces/gone/configmaps", NULL, NULL,
                     "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"held\",\"finalizers\":[\"a/b\"]}}",
                     &st));
    assert_int_equal(st, 201);
    json_t *r = call(f, "DELETE", "/api/v1/namespaces/gone", NULL, NULL, NULL, &st);
    assert_int_equal(st, 200);
    assert_string_equal(sget(r, "status", "phase"), "Terminating");
    json_decref(r);
    r = call(f, "POST", "/api/v1/namespaces/gone/configmaps", NULL, NULL,
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"late\"}}", &st);
    assert_int_equal(st, 403);
    assert_non_null(strstr(sget(r, "message", NULL), "because it is being terminated"));
    /* the cause names the namespace, as NamespaceLifecycle admission words it */
    json_t *cause = json_array_get(json_object_get(json_object_get(r, "details"), "causes"), 0);
    assert_string_equal(sget(cause, "reason", NULL), "NamespaceTerminating");
    assert_string_equal(sget(cause, "message", NULL), "namespace gone is being terminated");
    assert_string_equal(sget(cause, "field", NULL), "metadata.namespace");
    json_decref(r);
    json_decref(call(f, "PATCH", "/api/v1/namespaces/gone/configmaps/held", NULL, "application/merge-patch+json",
                     "{\"metadata\":{\"finalizers\":null}}", &st));
    r = call(f, "GET", "/api/v1/namespaces/gone", NULL, NULL, NULL, &st);
    assert_int_equal(st, 404);
    json_decref(r);
}

#define LEASES "/apis/coordination.k8s.io/v1/namespaces/default/leases"

/* PUT semantics that follow the kind's kube-apiserver strategy, as checked
 * against v1.37: a Lease or a custom resource must name its resourceVersion
 * (a ConfigMap need not), a Lease or a Role is created by a PUT, and the
 * body's name and namespace must match the URL. */
static void test_update_strategies(void **state)
{
    fixture *f = *state;
    int st;
    /* create-on-update: 201 */
    json_t *r = call(f, "PUT", LEASES "/l", NULL, NULL,
                     "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"metadata\":{\"name\":\"l\"},"
                     "\"spec\":{\"holderIdentity\":\"a\"}}",
                     &st);
    assert_int_equal(st, 201);
    char rv[32];
    snprintf(rv, sizeof(rv), "%s", sget(r, "metadata", "resourceVersion"));
    json_decref(r);
    /* unconditional update of a Lease: 422 */
    r = call(f, "PUT", LEASES "/l", NULL, NULL,
             "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"metadata\":{\"name\":\"l\"},"
             "\"spec\":{\"holderIdentity\":\"b\"}}",
             &st);
    assert_int_equal(st, 422);
    assert_string_equal(sget(r, "message", NULL), "leases.coordination.k8s.io \"l\" is invalid: metadata.resourceVersion: "
                                                  "Invalid value: 0: must be specified for an update");
    assert_string_equal(sget(r, "details", "kind"), "leases");
    assert_string_equal(sget(r, "details", "group"), "coordination.k8s.io");
    json_t *cause = json_array_get(json_object_get(json_object_get(r, "details"), "causes"), 0);
    assert_string_equal(sget(cause, "field", NULL), "metadata.resourceVersion");
    assert_string_equal(sget(cause, "reason", NULL), "FieldValueInvalid");
    json_decref(r);
    /* a merge patch that drops the resourceVersion is one too */
    json_decref(call(f, "PATCH", LEASES "/l", NULL, "application/merge-patch+json",
                     "{\"metadata\":{\"resourceVersion\":null}}", &st));
    assert_int_equal(st, 422);
    /* with it: fine; an ordinary patch carries the live one */
    char body[512];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"metadata\":{\"name\":\"l\","
             "\"resourceVersion\":\"%s\"},\"spec\":{\"holderIdentity\":\"b\"}}",
             rv);
    json_decref(call(f, "PUT", LEASES "/l", NULL, NULL, body, &st));
    assert_int_equal(st, 200);
    json_decref(call(f, "PATCH", LEASES "/l", NULL, "application/merge-patch+json", "{\"spec\":{\"holderIdentity\":\"c\"}}",
                     &st));
    assert_int_equal(st, 200);
    /* a ConfigMap takes an unconditional update, and is not created by PUT */
    json_decref(call(f, "POST", CM, NULL, NULL, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"u\"}}",
                     &st));
    json_decref(call(f, "PUT", CM "/u", NULL, NULL,
                     "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"u\"},\"data\":{\"a\":\"1\"}}", &st));
    assert_int_equal(st, 200);
    json_decref(call(f, "PUT", CM "/v", NULL, NULL, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"v\"}}",
                     &st));
    assert_int_equal(st, 404);
    /* a Role is created by PUT */
    json_decref(call(f, "PUT", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles/r", NULL, NULL,
                     "{\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"kind\":\"Role\",\"metadata\":{\"name\":\"r\"}}", &st));
    assert_int_equal(st, 201);
    /* name and namespace checks */
    r = call(f, "PUT", CM "/u", NULL, NULL, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{}}", &st);
    assert_int_equal(st, 400);
    assert_string_equal(sget(r, "message", NULL),
                        "the name of the object (u based on URL) was undeterminable: name must be provided");
    json_decref(r);
    r = call(f, "PUT", CM "/u", NULL, NULL,
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"u\",\"namespace\":\"x\"}}", &st);
    assert_int_equal(st, 400);
    assert_string_equal(sget(r, "message", NULL),
                        "the namespace of the provided object does not match the namespace sent on the request");
    json_decref(r);
}

/* Patch failures in kube-apiserver's words: a JSON patch that does not
 * apply is a generic 422 (the library's reason is not passed on), one that
 * does not decode a 400; an apply conflict lists its fields as causes. */
static void test_patch_failures(void **state)
{
    fixture *f = *state;
    int st;
    json_decref(call(f, "POST", CM, NULL, NULL,
                     "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"p\"},\"data\":{\"a\":\"1\"}}", &st));
    json_t *r = call(f, "PATCH", CM "/p", NULL, "application/json-patch+json",
                     "[{\"op\":\"test\",\"path\":\"/data/a\",\"value\":\"2\"}]", &st);
    assert_int_equal(st, 422);
    assert_string_equal(sget(r, "reason", NULL), "Invalid");
    assert_string_equal(sget(r, "message", NULL), "the server rejected our request due to an error in our request");
    assert_true(json_is_object(json_object_get(r, "details")));
    assert_int_equal(json_object_size(json_object_get(r, "details")), 0);
    json_decref(r);
    r = call(f, "PATCH", CM "/p", NULL, "application/json-patch+json", "{}", &st);
    assert_int_equal(st, 400);
    assert_string_equal(sget(r, "message", NULL),
                        "error decoding patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp");
    json_decref(r);

    json_decref(call(f, "PATCH", CM "/s", "fieldManager=alice", "application/apply-patch+yaml",
                     "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"s\"},\"data\":{\"k\":\"a\"}}", &st));
    assert_int_equal(st, 201);
    r = call(f, "PATCH", CM "/s", "fieldManager=bob", "application/apply-patch+yaml",
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"s\"},\"data\":{\"k\":\"b\"}}", &st);
    assert_int_equal(st, 409);
    assert_string_equal(sget(r, "message", NULL), "Apply failed with 1 conflict: conflict with \"alice\": .data.k");
    json_t *d = json_object_get(r, "details");
    assert_null(json_object_get(d, "name")); /* NewApplyConflict names no object */
    assert_null(json_object_get(d, "kind"));
    json_t *cause = json_array_get(json_object_get(d, "causes"), 0);
    assert_string_equal(sget(cause, "reason", NULL), "FieldManagerConflict");
    assert_string_equal(sget(cause, "message", NULL), "conflict with \"alice\"");
    assert_string_equal(sget(cause, "field", NULL), ".data.k");
    json_decref(r);
}

/* dryRun takes only "All"; anything else is refused before the write, as
 * the options' validation words it, and nothing is written. */
static void test_dry_run_values(void **state)
{
    fixture *f = *state;
    int st;
    const char *cm = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"d\"}}";
    json_t *r = call(f, "POST", CM, "dryRun=Bogus", NULL, cm, &st);
    assert_int_equal(st, 422);
    assert_string_equal(sget(r, "message", NULL), "CreateOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: "
                                                  "[\"Bogus\"]: supported values: \"All\"");
    assert_string_equal(sget(r, "details", "kind"), "CreateOptions");
    json_decref(r);
    json_decref(call(f, "GET", CM "/d", NULL, NULL, NULL, &st));
    assert_int_equal(st, 404);
    json_decref(call(f, "POST", CM, "dryRun=All", NULL, cm, &st));
    assert_int_equal(st, 201);
    json_decref(call(f, "GET", CM "/d", NULL, NULL, NULL, &st));
    assert_int_equal(st, 404);
    r = call(f, "DELETE", CM "/d", "dryRun=x", NULL, NULL, &st);
    assert_int_equal(st, 422);
    assert_string_equal(sget(r, "details", "kind"), "DeleteOptions");
    json_decref(r);
}

/* A ConfigMap in default owned by the ConfigMap with uid `owner_uid`. */
static void create_dependent(fixture *f, const char *name, const char *owner_uid, int block)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\",\"ownerReferences\":"
             "[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"name\":\"o\",\"uid\":\"%s\",\"blockOwnerDeletion\":%s}]}}",
             name, owner_uid, block ? "true" : "false");
    int st;
    json_decref(call(f, "POST", CM, NULL, NULL, body, &st));
    assert_int_equal(st, 201);
}

static int cm_exists(fixture *f, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), CM "/%s", name);
    int st;
    json_decref(call(f, "GET", path, NULL, NULL, NULL, &st));
    return st == 200;
}

/* Owner uid of a new ConfigMap "o" (replaced when it exists). */
static char *create_owner(fixture *f)
{
    int st;
    json_t *r = call(f, "POST", CM, NULL, NULL, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"o\"}}",
                     &st);
    assert_int_equal(st, 201);
    char *uid = strdup(sget(r, "metadata", "uid"));
    json_decref(r);
    return uid;
}

/* Garbage collection runs with the write that gives it work (GC is only
 * skipped for writes that cannot): every policy, each checked right after
 * the request that triggers it. */
static void test_garbage_collection(void **state)
{
    fixture *f = *state;
    int st;
    /* a dependent of an owner that never existed goes at once */
    create_dependent(f, "dangling", "no-such-uid", 0);
    assert_false(cm_exists(f, "dangling"));

    /* background: unrelated writes leave dependents alone; the owner's
     * delete takes them */
    char *uid = create_owner(f);
    create_dependent(f, "d1", uid, 0);
    json_decref(call(f, "POST", CM, NULL, NULL,
                     "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"unrelated\"}}", &st));
    assert_true(cm_exists(f, "d1"));
    json_decref(call(f, "DELETE", CM "/o", NULL, NULL, NULL, &st));
    assert_int_equal(st, 200);
    assert_false(cm_exists(f, "d1"));
    assert_true(cm_exists(f, "unrelated"));
    free(uid);

    /* orphan: the dependent stays, without the reference */
    uid = create_owner(f);
    create_dependent(f, "d2", uid, 0);
    json_decref(call(f, "DELETE", CM "/o", "propagationPolicy=Orphan", NULL, NULL, &st));
    assert_false(cm_exists(f, "o"));
    json_t *r = call(f, "GET", CM "/d2", NULL, NULL, NULL, &st);
    assert_int_equal(st, 200);
    assert_null(json_object_get(json_object_get(r, "metadata"), "ownerReferences"));
    json_decref(r);
    free(uid);

    /* foreground: the owner waits for a blocking dependent held by a
     * finalizer, and goes when that finalizer is removed */
    uid = create_owner(f);
    create_dependent(f, "d3", uid, 1);
    json_decref(call(f, "PATCH", CM "/d3", NULL, "application/merge-patch+json",
                     "{\"metadata\":{\"finalizers\":[\"x/hold\"]}}", &st));
    assert_int_equal(st, 200);
    json_decref(call(f, "DELETE", CM "/o", "propagationPolicy=Foreground", NULL, NULL, &st));
    r = call(f, "GET", CM "/o", NULL, NULL, NULL, &st);
    assert_int_equal(st, 200);
    assert_non_null(sget(r, "metadata", "deletionTimestamp"));
    json_decref(r);
    r = call(f, "GET", CM "/d3", NULL, NULL, NULL, &st);
    assert_int_equal(st, 200);
    assert_non_null(sget(r, "metadata", "deletionTimestamp"));
    json_decref(r);
    json_decref(call(f, "PATCH", CM "/d3", NULL, "application/merge-patch+json",
                     "{\"metadata\":{\"finalizers\":null}}", &st));
    assert_false(cm_exists(f, "d3"));
    assert_false(cm_exists(f, "o"));
    free(uid);

    /* deleting a dependent leaves its live owner alone; deleting the owner
     * afterwards has nothing left to collect */
    uid = create_owner(f);
    create_dependent(f, "d5", uid, 0);
    json_decref(call(f, "DELETE", CM "/d5", NULL, NULL, NULL, &st));
    assert_int_equal(st, 200);
    assert_true(cm_exists(f, "o"));
    json_decref(call(f, "DELETE", CM "/o", NULL, NULL, NULL, &st));
    assert_int_equal(st, 200);
    assert_false(cm_exists(f, "o"));
    free(uid);

    /* a reference added later by an update is seen too */
    uid = create_owner(f);
    json_decref(call(f, "POST", CM, NULL, NULL, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"d4\"}}",
                     &st));
    char patch[256];
    snprintf(patch, sizeof(patch), "{\"metadata\":{\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
                                   "\"name\":\"o\",\"uid\":\"%s-gone\"}]}}", uid);
    json_decref(call(f, "PATCH", CM "/d4", NULL, "application/merge-patch+json", patch, &st));
    assert_false(cm_exists(f, "d4"));
    free(uid);
}

/* A create or update body without kind/apiVersion takes them from the URL
 * for built-in types (client-go typed clients send such bodies); a wrong
 * type gets kube-apiserver's decode errors. A custom resource is decoded as
 * unstructured JSON: it must carry its kind and apiVersion. */
static void expect_type_error(fixture *f, const char *method, const char *path, const char *body, int code,
                              const char *message)
{
    int st;
    json_t *r = call(f, method, path, NULL, NULL, body, &st);
    assert_int_equal(st, code);
    assert_string_equal(sget(r, "reason", NULL), code == 422 ? "Invalid" : "BadRequest");
    assert_string_equal(sget(r, "message", NULL), message);
    json_decref(r);
}

static void test_type_from_url(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *collection, *name, *api_version, *kind, *create, *update;
    } cases[] = {
        {CM, "cm", "v1", "ConfigMap", "{\"metadata\":{\"name\":\"cm\"},\"data\":{\"k\":\"1\"}}",
         "{\"metadata\":{\"name\":\"cm\"},\"data\":{\"k\":\"2\"}}"},
        {"/api/v1/namespaces/default/secrets", "s", "v1", "Secret",
         "{\"metadata\":{\"name\":\"s\"},\"stringData\":{\"k\":\"1\"}}",
         "{\"metadata\":{\"name\":\"s\"},\"data\":{\"k\":\"Mg==\"}}"},
        {"/apis/coordination.k8s.io/v1/namespaces/default/leases", "l", "coordination.k8s.io/v1", "Lease",
         "{\"metadata\":{\"name\":\"l\"},\"spec\":{\"holderIdentity\":\"a\"}}",
         "{\"kind\":\"Lease\",\"metadata\":{\"name\":\"l\",\"resourceVersion\":\"%s\"},"
         "\"spec\":{\"holderIdentity\":\"b\"}}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int st;
        json_t *r = call(f, "POST", cases[i].collection, NULL, NULL, cases[i].create, &st);
        assert_int_equal(st, 201);
        assert_string_equal(sget(r, "kind", NULL), cases[i].kind);
        assert_string_equal(sget(r, "apiVersion", NULL), cases[i].api_version);
        /* a Lease update must name the version it replaces (as a typed
         * client's Update does); ConfigMaps and Secrets may omit it */
        char path[256], update[512];
        snprintf(update, sizeof(update), cases[i].update, sget(r, "metadata", "resourceVersion"));
        json_decref(r);
        snprintf(path, sizeof(path), "%s/%s", cases[i].collection, cases[i].name);
        r = call(f, "PUT", path, NULL, NULL, update, &st);
        assert_int_equal(st, 200);
        assert_string_equal(sget(r, "kind", NULL), cases[i].kind);
        assert_string_equal(sget(r, "apiVersion", NULL), cases[i].api_version);
        json_decref(r);
        /* what is stored (and listed, and watched) has them too */
        r = call(f, "GET", cases[i].collection, NULL, NULL, NULL, &st);
        json_t *item = json_array_get(json_object_get(r, "items"), 0);
        assert_string_equal(sget(item, "kind", NULL), cases[i].kind);
        assert_string_equal(sget(item, "apiVersion", NULL), cases[i].api_version);
        json_decref(r);
    }
    int st;
    json_t *r = call(f, "GET", CM "/cm", NULL, NULL, NULL, &st);
    assert_string_equal(sget(r, "data", "k"), "2");
    json_decref(r);

    /* A wrong type is still refused, in the real server's words. */
    expect_type_error(f, "POST", CM, "{\"kind\":\"Secret\",\"metadata\":{\"name\":\"x\"}}", 400,
                      "Secret in version \"v1\" cannot be handled as a ConfigMap: converting (v1.Secret) to "
                      "(core.ConfigMap): unknown conversion");
    expect_type_error(f, "PUT", CM "/cm", "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"cm\"}}",
                      400,
                      "Deployment in version \"v1\" cannot be handled as a ConfigMap: converting (v1.Deployment) to "
                      "(core.ConfigMap): unknown conversion");
    expect_type_error(f, "POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases",
                      "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\"}}", 400,
                      "ConfigMap in version \"v1\" cannot be handled as a Lease: converting (v1.ConfigMap) to "
                      "(coordination.Lease): unknown conversion");
    /* a kind alone is looked up in the URL's group/version */
    expect_type_error(f, "POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases",
                      "{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\"}}", 400,
                      "ConfigMap in version \"v1\" cannot be handled as a Lease: no kind \"ConfigMap\" is registered "
                      "for version \"coordination.k8s.io/v1\" in scheme \"pkg/runtime/scheme.go:111\"");
    expect_type_error(f, "POST", CM, "{\"apiVersion\":\"v2\",\"metadata\":{\"name\":\"x\"}}", 400,
                      "ConfigMap in version \"v2\" cannot be handled as a ConfigMap: no kind \"ConfigMap\" is "
                      "registered for version \"v2\" in scheme \"pkg/runtime/scheme.go:111\"");
    expect_type_error(f, "POST", CM, "{\"kind\":\"Gadget\",\"apiVersion\":\"unit.dev/v1\",\"metadata\":{\"name\":\"x\"}}",
                      400,
                      "Gadget in version \"v1\" cannot be handled as a ConfigMap: no kind \"Gadget\" is registered for "
                      "version \"unit.dev/v1\" in scheme \"pkg/runtime/scheme.go:111\"");
    r = call(f, "GET", CM "/x", NULL, NULL, NULL, &st);
    assert_int_equal(st, 404);
    json_decref(r);

    /* Custom resources: the unstructured decoder needs the body's kind. */
    json_decref(call(f, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", NULL, NULL, CRD, &st));
    assert_int_equal(st, 201);
    expect_type_error(f, "POST", GD, " {\"metadata\":{\"name\":\"g\"},\"spec\":{\"n\":1}}", 400,
                      "the object provided is unrecognized (must be of type Gadget): Object 'Kind' is missing in "
                      "' {\"metadata\":{\"name\":\"g\"},\"spec\":{\"n\":1}}' "
                      "(207b226d65746164617461223a7b226e616d65223a2267227d2c22737065 ...)");
    expect_type_error(f, "POST", GD, "{\"apiVersion\":\"unit.dev/v1\",\"metadata\":{\"name\":\"g\"}}", 400,
                      "the object provided is unrecognized (must be of type Gadget): Object 'Kind' is missing in "
                      "'{\"apiVersion\":\"unit.dev/v1\",\"metadata\":{\"name\":\"g\"}}' "
                      "({\"apiVersion\":\"unit.dev/v1\",\"m ...)");
    expect_type_error(f, "POST", GD, "{\"kind\":\"Gadget\",\"metadata\":{\"name\":\"g\"}}", 400,
                      "the API version in the data () does not match the expected API version (unit.dev/v1)");
    expect_type_error(f, "POST", GD, "{\"kind\":\"Gadget\",\"apiVersion\":\"other.dev/v1\",\"metadata\":{\"name\":\"g\"}}",
                      400, "the API version in the data (other.dev/v1) does not match the expected API version (unit.dev/v1)");
    expect_type_error(f, "POST", GD, "{\"kind\":\"Widget\",\"apiVersion\":\"unit.dev/v1\",\"metadata\":{\"name\":\"g\"}}",
                      422, "Widget.unit.dev \"g\" is invalid: kind: Invalid value: \"Widget\": must be Gadget");
    r = call(f, "POST", GD, NULL, NULL, "{\"kind\":\"Gadget\",\"apiVersion\":\"unit.dev/v1\",\"metadata\":{\"name\":\"g\"}}",
             &st);
    assert_int_equal(st, 201);
    json_decref(r);
    expect_type_error(f, "PUT", GD "/g", "{\"metadata\":{\"name\":\"g\"}}", 400,
                      "the object provided is unrecognized (must be of type Gadget): Object 'Kind' is missing in "
                      "'{\"metadata\":{\"name\":\"g\"}}' ({\"metadata\":{\"name\":\"g\"}})");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_status_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_update_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crd_generation_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pagination_and_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_selector, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crd_watch_floor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_builtin_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_namespace_termination, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_strategies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_patch_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dry_run_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_collection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_type_from_url, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
