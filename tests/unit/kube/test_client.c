/* Unit tests for kube/client against the scripted fake API server: verbs,
 * URLs, Status errors, retries and backoff, pagination, re-authentication,
 * discovery, TLS (CA data, client certificates, tls-server-name), metrics,
 * and the token-bucket rate limiter. */
#include "testutil.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fakeapi.h"
#include "kube/client.h"
#include "kube/ratelimit.h"

static const kube_gvr TENANTS = {"paybill.dev", "v1alpha1", "tenants"};
static const kube_gvr PODS = {"", "v1", "pods"};

typedef struct fixture {
    char *dir;
    fa_server *srv;
    kube_client *c;
} fixture;

/* A kubeconfig whose only context points at `server`, with `user_yaml` as
 * the user's body. */
static kube_config *make_config(const char *dir, const char *cluster_yaml, const char *user_yaml)
{
    char yaml[16384];
    snprintf(yaml, sizeof yaml,
             "current-context: t\n"
             "contexts:\n- name: t\n  context: {cluster: k, user: u, namespace: default}\n"
             "clusters:\n- name: k\n  cluster:\n%s\n"
             "users:\n- name: u\n  user:\n%s\n",
             cluster_yaml, user_yaml);
    char *p = tu_write_file(dir, "kubeconfig", yaml);
    kube_config_options o = {.kubeconfig = p};
    kube_config *cfg = NULL;
    pb_err e = {0};
    int rc = kube_config_load(&o, &cfg, &e);
    if (rc)
        fail_msg("config: %s", e.msg);
    free(p);
    return cfg;
}

static kube_client *make_client(fixture *f, const char *user_yaml, const kube_client_options *opt)
{
    char url[128], cl[512];
    snprintf(cl, sizeof cl, "    server: %s", fa_url(f->srv, url, sizeof url));
    kube_config *cfg = make_config(f->dir, cl, user_yaml ? user_yaml : "    token: abc");
    kube_client_options def = {.qps = 1000, .burst = 1000, .backoff_base_ms = 10, .timeout_ms = 5000};
    kube_client *c = NULL;
    pb_err e = {0};
    assert_int_equal(kube_client_new(cfg, opt ? opt : &def, &c, &e), 0);
    kube_config_free(cfg);
    return c;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = tu_tmpdir();
    f->srv = fa_start(NULL);
    f->c = make_client(f, NULL, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    kube_client_free(f->c);
    fa_stop(f->srv);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static const char *NOT_FOUND =
    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
    "\"message\":\"tenants.paybill.dev \\\"acme\\\" not found\",\"reason\":\"NotFound\","
    "\"details\":{\"name\":\"acme\",\"group\":\"paybill.dev\",\"kind\":\"tenants\"},\"code\":404}";

/* --------------------------------------------------------------- verbs */

static void test_get_ok(void **state)
{
    fixture *f = *state;
    fa_push_json(f->srv, 200, "{\"kind\":\"Tenant\",\"metadata\":{\"name\":\"acme\",\"resourceVersion\":\"7\"}}");
    json_t *out = NULL;
    pb_err e = {0};
    assert_int_equal(kube_get(f->c, &TENANTS, "default", "acme", NULL, &out, &e), 0);
    assert_string_equal(json_string_value(json_object_get(out, "kind")), "Tenant");
    json_decref(out);

    const fa_req *r = fa_req_at(f->srv, 0);
    char h[512];
    assert_string_equal(r->method, "GET");
    assert_string_equal(r->target, "/apis/paybill.dev/v1alpha1/namespaces/default/tenants/acme");
    assert_string_equal(fa_header(r, "Authorization", h, sizeof h), "Bearer abc");
    assert_string_equal(fa_header(r, "Accept", h, sizeof h), "application/json");
    assert_non_null(strstr(fa_header(r, "User-Agent", h, sizeof h), "paybill-operator/"));
    assert_int_equal(r->body_len, 0);
}

static void test_get_not_found_status(void **state)
{
    fixture *f = *state;
    fa_push_json(f->srv, 404, NOT_FOUND);
    json_t *out = NULL;
    pb_err e = {0};
    kube_status st = {0};
    kube_request_opts o = {.status = &st};
    assert_int_equal(kube_get(f->c, &TENANTS, "default", "acme", &o, &out, &e), PB_ENOTFOUND);
    assert_null(out);
    assert_int_equal(e.code, PB_ENOTFOUND);
    assert_string_equal(e.msg, "get tenants.paybill.dev default/acme: 404 NotFound: "
                               "tenants.paybill.dev \"acme\" not found");
    assert_int_equal(st.code, 404);
    assert_string_equal(st.reason, "NotFound");
    assert_int_equal(st.retry_after_s, -1);
    kube_status_clear(&st);
    assert_int_equal(fa_nreqs(f->srv), 1); /* 404 is final */
}

static void test_escaping_and_list_query(void **state)
{
    fixture *f = *state;
    fa_push_json(f->srv, 200, "{}");
    fa_push_json(f->srv, 200, "{\"kind\":\"PodList\",\"items\":[]}");
    json_t *out = NULL;
    assert_int_equal(kube_get(f->c, &PODS, "a b", "x/y?z#", NULL, &out, NULL), 0);
    json_decref(out);
    kube_request_opts o = {.label_selector = "app=x,tier in (a,b)", .field_selector = "status.phase!=Running",
                           .resource_version = "0", .resource_version_match = "NotOlderThan",
                           .limit = 50, .continue_token = "a+b/c=", .timeout_seconds = 9};
    assert_int_equal(kube_list(f->c, &PODS, NULL, &o, &out, NULL), 0);
    json_decref(out);
    assert_string_equal(fa_req_at(f->srv, 0)->target, "/api/v1/namespaces/a%20b/pods/x%2Fy%3Fz%23");
    assert_string_equal(fa_req_at(f->srv, 1)->target,
                        "/api/v1/pods?labelSelector=app%3Dx%2Ctier%20in%20%28a%2Cb%29"
                        "&fieldSelector=status.phase%21%3DRunning&resourceVersion=0"
                        "&resourceVersionMatch=NotOlderThan&limit=50&continue=a%2Bb%2Fc%3D&timeoutSeconds=9");
}

/* A server URL with a path (an API server behind a proxy): requests go
 * under it, with the query as built. The client hands libcurl the parsed
 * base with only the path and query set, so this is where a mistake in
 * joining them would show. */
static void test_server_url_with_path(void **state)
{
    fixture *f = *state;
    char url[128], cl[512];
    fa_url(f->srv, url, sizeof url);
    const char *paths[] = {"/k8s/clusters/c-1", "/k8s/clusters/c-1/"};
    for (int i = 0; i < 2; i++) {
        snprintf(cl, sizeof cl, "    server: %s%s", url, paths[i]);
        kube_config *cfg = make_config(f->dir, cl, "    token: abc");
        kube_client_options opt = {.qps = 1000, .burst = 1000, .timeout_ms = 5000};
        kube_client *c = NULL;
        assert_int_equal(kube_client_new(cfg, &opt, &c, NULL), 0);
        kube_config_free(cfg);
        fa_push_json(f->srv, 200, "{\"kind\":\"TenantList\",\"items\":[]}");
        json_t *out = NULL;
        kube_request_opts o = {.limit = 5, .timeout_seconds = 9};
        assert_int_equal(kube_list(c, &TENANTS, "ns", &o, &out, NULL), 0);
        json_decref(out);
        /* One slash between the server's path and the API path, whether
         * or not the server URL ends in one. */
        assert_string_equal(fa_req_at(f->srv, i)->target,
                            "/k8s/clusters/c-1/apis/paybill.dev/v1alpha1/namespaces/ns/tenants?limit=5&timeoutSeconds=9");
        kube_client_free(c);
    }
}

static void test_create_and_already_exists(void **state)
{
    fixture *f = *state;
    fa_push_json(f->srv, 201, "{\"kind\":\"Tenant\",\"metadata\":{\"name\":\"acme\",\"uid\":\"u1\"}}");
    fa_push_json(f->srv, 409, "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"AlreadyExists\","
                              "\"message\":\"tenants.paybill.dev \\\"acme\\\" already exists\",\"code\":409}");
    json_t *obj = json_pack("{s:s, s:{s:s, s:s}}", "kind", "Tenant", "metadata", "name", "acme", "namespace", "team");
    json_t *out = NULL;
    pb_err e = {0};
    assert_int_equal(kube_create(f->c, &TENANTS, NULL, obj, NULL, &out, &e), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(out, "metadata"), "uid")), "u1");
    json_decref(out);
    kube_request_opts o = {.field_manager = "mgr", .dry_run = 1};
    assert_int_equal(kube_create(f->c, &TENANTS, "team", obj, &o, &out, &e), PB_EEXIST);
    assert_non_null(strstr(e.msg, "create tenants.paybill.dev team/acme: 409 AlreadyExists:"));
    assert_int_equal(fa_nreqs(f->srv), 2);

    const fa_req *r = fa_req_at(f->srv, 0);
    char h[256];
    assert_string_equal(r->method, "POST");
    assert_string_equal(r->target, "/apis/paybill.dev/v1alpha1/namespaces/team/tenants?fieldManager=paybill-operator");
    assert_string_equal(fa_header(r, "Content-Type", h, sizeof h), "application/json");
    json_t *sent = json_loadb(r->body, r->body_len, 0, NULL);
    assert_true(json_equal(sent, obj));
    json_decref(sent);
    assert_string_equal(fa_req_at(f->srv, 1)->target,
                        "/apis/paybill.dev/v1alpha1/namespaces/team/tenants?fieldManager=mgr&dryRun=All");
    json_decref(obj);
}

static void test_update_conflict_and_status(void **state)
{
    fixture *f = *state;
    fa_push_json(f->srv, 409, "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"Conflict\",\"message\":"
                              "\"Operation cannot be fulfilled on tenants.paybill.dev \\\"acme\\\": the object has "
                              "been modified\",\"code\":409}");
    fa_push_json(f->srv, 200, "{\"kind\":\"Tenant\"}");
    json_t *obj = json_pack("{s:{s:s, s:s}, s:{s:s}}", "metadata", "name", "acme", "resourceVersion", "5", "status",
                            "phase", "Ready");
    pb_err e = {0};
    json_t *out = NULL;
    assert_int_equal(kube_update(f->c, &TENANTS, "default", obj, NULL, &out, &e), PB_ECONFLICT);
    assert_null(out);
    assert_non_null(strstr(e.msg, "update tenants.paybill.dev default/acme: 409 Conflict: Operation cannot"));
    assert_int_equal(fa_nreqs(f->srv), 1); /* a conflict is never retried */
    kube_request_opts o = {.subresource = "status"};
    assert_int_equal(kube_update(f->c, &TENANTS, "default", obj, &o, NULL, &e), 0);
    const fa_req *r = fa_req_at(f->srv, 1);
    assert_string_equal(r->method, "PUT");
    assert_string_equal(r->target,
                        "/apis/paybill.dev/v1alpha1/namespaces/default/tenants/acme/status?fieldManager=paybill-operator");
    json_decref(obj);

    /* No name: refused before any request. */
    obj = json_pack("{s:{}}", "metadata");
    assert_int_equal(kube_update(f->c, &TENANTS, "default", obj, NULL, NULL, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "metadata.name"));
    assert_int_equal(fa_nreqs(f->srv), 2);
    json_decref(obj);
}

/* new_resource_version: read from the reply without decoding it; text the
 * scanner does not follow is decoded whole; "" when absent or on failure. */
static void test_new_resource_version(void **state)
{
    fixture *f = *state;
    fa_push_json(f->srv, 200, "{\"kind\":\"Tenant\",\"spec\":{\"resourceVersion\":\"no\"},"
                              "\"metadata\":{\"name\":\"acme\",\"resourceVersion\":\"6\"}}");
    fa_push_json(f->srv, 200, "{\"kind\":\"Tenant\",\"metadata\":{\"\\u0072esourceVersion\":\"7\"}}");
    fa_push_json(f->srv, 201, "{\"kind\":\"Tenant\",\"metadata\":{\"name\":\"acme\"}}");
    fa_push_json(f->srv, 409, "{\"kind\":\"Status\",\"reason\":\"Conflict\",\"code\":409,"
                              "\"metadata\":{\"resourceVersion\":\"9\"}}");
    json_t *obj = json_pack("{s:{s:s, s:s}}", "metadata", "name", "acme", "resourceVersion", "5");
    char rv[16] = "x";
    kube_request_opts o = {.subresource = "status", .new_resource_version = rv, .new_resource_version_len = sizeof rv};
    pb_err e = {0};
    json_t *out = NULL;
    assert_int_equal(kube_update(f->c, &TENANTS, "default", obj, &o, NULL, &e), 0);
    assert_string_equal(rv, "6");
    assert_int_equal(kube_update(f->c, &TENANTS, "default", obj, &o, &out, &e), 0); /* escaped key: decoded */
    assert_string_equal(rv, "7");
    assert_non_null(out); /* both asked for: both given */
    json_decref(out);
    assert_int_equal(kube_create(f->c, &TENANTS, "default", obj, &o, NULL, &e), 0);
    assert_string_equal(rv, "");
    strcpy(rv, "x");
    assert_int_equal(kube_update(f->c, &TENANTS, "default", obj, &o, NULL, &e), PB_ECONFLICT);
    assert_string_equal(rv, "");
    json_decref(obj);
}

static void test_patch_types(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 4; i++)
        fa_push_json(f->srv, 200, "{\"kind\":\"Tenant\"}");
    json_t *merge = json_pack("{s:{s:s}}", "metadata", "labels", "a");
    json_t *jp = json_pack("[{s:s, s:s, s:s}]", "op", "add", "path", "/metadata/labels/x", "value", "y");
    pb_err e = {0};
    assert_int_equal(kube_patch(f->c, &TENANTS, "ns", "acme", KUBE_PATCH_MERGE, merge, NULL, NULL, &e), 0);
    assert_int_equal(kube_patch(f->c, &TENANTS, "ns", "acme", KUBE_PATCH_JSON, jp, NULL, NULL, &e), 0);
    assert_int_equal(kube_patch(f->c, &PODS, "ns", "p", KUBE_PATCH_STRATEGIC, merge, NULL, NULL, &e), 0);
    kube_request_opts o = {.field_manager = "paybill-ctl", .force = 1, .subresource = "status"};
    assert_int_equal(kube_patch(f->c, &TENANTS, "ns", "acme", KUBE_PATCH_APPLY, merge, &o, NULL, &e), 0);
    const char *want[4] = {"application/merge-patch+json", "application/json-patch+json",
                           "application/strategic-merge-patch+json", "application/apply-patch+yaml"};
    char h[256];
    for (int i = 0; i < 4; i++) {
        const fa_req *r = fa_req_at(f->srv, i);
        assert_string_equal(r->method, "PATCH");
        assert_string_equal(fa_header(r, "Content-Type", h, sizeof h), want[i]);
    }
    assert_string_equal(fa_req_at(f->srv, 3)->target,
                        "/apis/paybill.dev/v1alpha1/namespaces/ns/tenants/acme/status?fieldManager=paybill-ctl&force=true");
    json_t *sent = json_loadb(fa_req_at(f->srv, 1)->body, fa_req_at(f->srv, 1)->body_len, 0, NULL);
    assert_true(json_equal(sent, jp));
    json_decref(sent);

    /* A JSON patch must be an array, the others objects. */
    assert_int_equal(kube_patch(f->c, &TENANTS, "ns", "acme", KUBE_PATCH_JSON, merge, NULL, NULL, &e), PB_EINVAL);
    assert_int_equal(kube_patch(f->c, &TENANTS, "ns", "acme", KUBE_PATCH_MERGE, jp, NULL, NULL, &e), PB_EINVAL);
    assert_int_equal(fa_nreqs(f->srv), 4);
    json_decref(merge);
    json_decref(jp);
}

/* The item a recorded request was for: the tenant's name in its target
 * or, for a create, in its body. */
static int item_of(const fa_req *q, const char *const *names, int n)
{
    for (int i = 0; i < n; i++) {
        char piece[64];
        snprintf(piece, sizeof piece, "/%s?", names[i]);
        if (strstr(q->target, piece))
            return i;
        snprintf(piece, sizeof piece, "\"name\":\"%s\"", names[i]);
        if (strcmp(q->method, "POST") == 0 && q->body && strstr(q->body, piece))
            return i;
    }
    return -1;
}

/* kube_write_many: creates and patches in flight together, each on its own
 * connection, each item with the outcome its own request got (requests
 * take the scripted replies in the order they arrive), the rest of the
 * retry policy per item, connections kept between batches. */
static void test_write_many(void **state)
{
    fixture *f = *state;
    static const char *const names[5] = {"a", "b", "c", "d", "e"};
    const char *replies[5] = {
        "{\"kind\":\"Tenant\",\"metadata\":{\"resourceVersion\":\"r0\"}}",
        "{\"kind\":\"Tenant\",\"metadata\":{\"resourceVersion\":\"r1\"}}",
        "{\"kind\":\"Status\",\"reason\":\"Invalid\",\"message\":\"bad spec\",\"code\":422}",
        "{\"kind\":\"Tenant\",\"metadata\":{\"resourceVersion\":\"r3\"}}",
        "{\"kind\":\"Status\",\"reason\":\"InternalError\",\"message\":\"boom\",\"code\":500}"};
    const int codes[5] = {200, 201, 422, 200, 500};
    const int want_rc[5] = {0, 0, PB_EINVAL, 0, PB_EUNAVAILABLE}; /* neither POST nor PATCH is repeated */
    for (int i = 0; i < 5; i++)
        fa_push_json(f->srv, codes[i], replies[i]);
    json_t *patch = json_pack("{s:{s:{s:s}}}", "metadata", "labels", "x", "y");
    json_t *objc = json_pack("{s:{s:s}}", "metadata", "name", "c");
    json_t *objd = json_pack("{s:{s:s}}", "metadata", "name", "d");
    char rv[5][16];
    kube_request_opts o[5];
    kube_status st[5];
    kube_write w[5];
    for (int i = 0; i < 5; i++) {
        strcpy(rv[i], "x");
        memset(&st[i], 0, sizeof st[i]);
        o[i] = (kube_request_opts){.field_manager = "m", .force = 1, .new_resource_version = rv[i],
                                   .new_resource_version_len = sizeof rv[i], .status = &st[i]};
    }
    w[0] = (kube_write){.kind = KUBE_WRITE_PATCH, .gvr = &TENANTS, .ns = "ns", .name = "a", .type = KUBE_PATCH_APPLY,
                        .body = patch, .opts = &o[0]};
    w[1] = (kube_write){.kind = KUBE_WRITE_PATCH, .gvr = &TENANTS, .ns = "ns", .name = "b", .type = KUBE_PATCH_MERGE,
                        .body = patch, .opts = &o[1]};
    w[2] = (kube_write){.kind = KUBE_WRITE_CREATE, .gvr = &TENANTS, .ns = "ns", .body = objc, .opts = &o[2]};
    w[3] = (kube_write){.kind = KUBE_WRITE_CREATE, .gvr = &PODS, .ns = "ns", .body = objd, .opts = &o[3]};
    w[4] = (kube_write){.kind = KUBE_WRITE_PATCH, .gvr = &TENANTS, .ns = "ns", .name = "e", .type = KUBE_PATCH_APPLY,
                        .body = patch, .opts = &o[4]};
    int rc = kube_write_many(f->c, w, 5);
    assert_int_equal(fa_nreqs(f->srv), 5);
    assert_int_equal(fa_accepted(f->srv), 5); /* all in flight at once */
    int first = 0, seen[5] = {0};
    for (int i = 0; i < 5; i++) {
        const fa_req *q = fa_req_at(f->srv, i);
        int k = item_of(q, names, 5);
        assert_true(k >= 0);
        seen[k]++;
        assert_int_equal(w[k].rc, want_rc[i]);
        if (want_rc[i] == 0) {
            char want[8];
            snprintf(want, sizeof want, "r%d", i);
            assert_string_equal(rv[k], want);
        } else {
            assert_string_equal(rv[k], "");
            assert_int_equal(st[k].code, codes[i]);
        }
        if (want_rc[i] == PB_EINVAL) /* the message kube_create / kube_patch give */
            assert_non_null(strstr(w[k].err.msg, ": 422 Invalid: bad spec"));
    }
    for (int k = 0; k < 5; k++)
        assert_int_equal(seen[k], 1);
    for (int k = 0; k < 5 && !first; k++)
        first = w[k].rc;
    assert_int_equal(rc, first);
    /* What each request was: verbs, content types, URLs as the one-by-one calls make them. */
    char h[128];
    for (int i = 0; i < 5; i++) {
        const fa_req *q = fa_req_at(f->srv, i);
        int k = item_of(q, names, 5);
        if (k == 2 || k == 3) {
            assert_string_equal(q->method, "POST");
            assert_string_equal(q->target, k == 2 ? "/apis/paybill.dev/v1alpha1/namespaces/ns/tenants?fieldManager=m"
                                                  : "/api/v1/namespaces/ns/pods?fieldManager=m");
        } else {
            assert_string_equal(q->method, "PATCH");
            assert_string_equal(fa_header(q, "Content-Type", h, sizeof h),
                                k == 1 ? "application/merge-patch+json" : "application/apply-patch+yaml");
        }
    }

    /* A second batch goes over the same connections. */
    for (int i = 0; i < 5; i++)
        fa_push_json(f->srv, 200, replies[0]);
    assert_int_equal(kube_write_many(f->c, w, 5), 0);
    assert_int_equal(fa_nreqs(f->srv), 10);
    assert_int_equal(fa_accepted(f->srv), 5);
    json_decref(patch);
    json_decref(objc);
    json_decref(objd);
}

/* Items refused before sending fail alone; a 429 is retried (after the
 * batch, one by one); more items than KUBE_WRITE_MANY_MAX go in rounds. */
static void test_write_many_retry_and_rounds(void **state)
{
    fixture *f = *state;
    json_t *patch = json_pack("{s:{s:s}}", "metadata", "name", "x");
    kube_write w[KUBE_WRITE_MANY_MAX + 3];
    w[0] = (kube_write){.kind = KUBE_WRITE_PATCH, .gvr = &TENANTS, .ns = "ns", .name = NULL, .type = KUBE_PATCH_APPLY,
                        .body = patch};
    w[1] = (kube_write){.kind = (kube_write_kind)7, .gvr = &TENANTS, .ns = "ns", .name = "x", .body = patch};
    w[2] = (kube_write){.kind = KUBE_WRITE_PATCH, .gvr = &TENANTS, .ns = "ns", .name = "x", .type = KUBE_PATCH_APPLY,
                        .body = patch};
    w[3] = w[2];
    fa_push_json(f->srv, 429, "{\"kind\":\"Status\",\"reason\":\"TooManyRequests\",\"code\":429}");
    fa_push_json(f->srv, 200, "{}");
    fa_push_json(f->srv, 200, "{}");
    assert_int_equal(kube_write_many(f->c, w, 4), PB_EINVAL);
    assert_int_equal(w[0].rc, PB_EINVAL);
    assert_string_equal(w[0].err.msg, "patch tenants.paybill.dev ns: name is required");
    assert_int_equal(w[1].rc, PB_EINVAL);
    assert_int_equal(w[2].rc, 0);
    assert_int_equal(w[3].rc, 0);
    assert_int_equal(fa_nreqs(f->srv), 3);

    size_t n = KUBE_WRITE_MANY_MAX + 3;
    for (size_t i = 0; i < n; i++) {
        w[i] = w[2];
        fa_push_json(f->srv, 200, "{}");
    }
    assert_int_equal(kube_write_many(f->c, w, n), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(w[i].rc, 0);
    assert_int_equal(fa_nreqs(f->srv), 3 + (int)n);
    assert_int_equal(kube_write_many(f->c, w, 0), 0);
    json_decref(patch);
}

static void test_delete_options(void **state)
{
    fixture *f = *state;
    fa_push_json(f->srv, 200, "{\"kind\":\"Status\",\"status\":\"Success\"}");
    fa_push_json(f->srv, 200, "{\"kind\":\"Tenant\",\"metadata\":{\"finalizers\":[\"x\"]}}");
    kube_request_opts o = {.propagation_policy = "Foreground", .precondition_uid = "u1",
                           .precondition_resource_version = "42", .has_grace_period = 1,
                           .grace_period_seconds = 0};
    json_t *out = NULL;
    pb_err e = {0};
    assert_int_equal(kube_delete(f->c, &TENANTS, "ns", "acme", &o, &out, &e), 0);
    assert_string_equal(json_string_value(json_object_get(out, "kind")), "Status");
    json_decref(out);
    const fa_req *r = fa_req_at(f->srv, 0);
    assert_string_equal(r->method, "DELETE");
    assert_string_equal(r->target, "/apis/paybill.dev/v1alpha1/namespaces/ns/tenants/acme");
    json_t *body = json_loadb(r->body, r->body_len, 0, NULL);
    json_t *want = json_pack("{s:s, s:s, s:s, s:i, s:{s:s, s:s}}", "kind", "DeleteOptions", "apiVersion", "v1",
                             "propagationPolicy", "Foreground", "gracePeriodSeconds", 0, "preconditions", "uid",
                             "u1", "resourceVersion", "42");
    assert_true(json_equal(body, want));
    json_decref(body);
    json_decref(want);
    /* Plain delete sends no body; out is optional. */
    assert_int_equal(kube_delete(f->c, &TENANTS, NULL, "acme", NULL, NULL, &e), 0);
    assert_int_equal(fa_req_at(f->srv, 1)->body_len, 0);
    assert_string_equal(fa_req_at(f->srv, 1)->target, "/apis/paybill.dev/v1alpha1/tenants/acme");
}

static void test_malformed_and_non_status_bodies(void **state)
{
    fixture *f = *state;
    fa_push_json(f->srv, 200, "{\"kind\": \"Tenant\", oops");
    fa_resp html = {.status = 403, .headers = "Content-Type: text/html\r\n", .body = "<html>\nforbidden by proxy</html>"};
    fa_push(f->srv, &html);
    fa_push_json(f->srv, 401, "");
    json_t *out = NULL;
    pb_err e = {0};
    assert_int_equal(kube_get(f->c, &TENANTS, "ns", "a", NULL, &out, &e), PB_EPARSE);
    assert_null(out);
    assert_non_null(strstr(e.msg, "get tenants.paybill.dev ns/a: 200: malformed JSON body"));
    kube_status st = {0};
    kube_request_opts o = {.status = &st};
    assert_int_equal(kube_get(f->c, &TENANTS, "ns", "a", &o, &out, &e), PB_EFORBIDDEN);
    assert_string_equal(e.msg, "get tenants.paybill.dev ns/a: 403 Forbidden: <html> forbidden by proxy</html>");
    assert_string_equal(st.reason, "Forbidden");
    assert_int_equal(kube_get(f->c, &TENANTS, "ns", "a", &o, &out, &e), PB_EUNAUTHORIZED);
    assert_string_equal(e.msg, "get tenants.paybill.dev ns/a: 401 Unauthorized: (empty body)");
    kube_status_clear(&st);
}

static void test_invalid_causes(void **state)
{
    fixture *f = *state;
    fa_push_json(f->srv, 422, "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"Invalid\",\"code\":422,"
                              "\"message\":\"Tenant.paybill.dev \\\"a\\\" is invalid: spec.plan: Required value\","
                              "\"details\":{\"causes\":[{\"reason\":\"FieldValueRequired\",\"field\":\"spec.plan\"}]}}");
    kube_status st = {0};
    kube_request_opts o = {.status = &st};
    json_t *obj = json_pack("{s:{s:s}}", "metadata", "name", "a");
    assert_int_equal(kube_create(f->c, &TENANTS, "ns", obj, &o, NULL, NULL), PB_EINVAL);
    assert_int_equal(st.code, 422);
    assert_int_equal(json_array_size(st.causes), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(st.causes, 0), "field")), "spec.plan");
    kube_status_clear(&st);
    assert_null(st.causes);
    json_decref(obj);
}

/* ------------------------------------------------------------- retries */

static void test_retry_5xx_then_success(void **state)
{
    fixture *f = *state;
    fa_push_json(f->srv, 500, "{}");
    fa_push_json(f->srv, 503, "{}");
    fa_push_json(f->srv, 200, "{\"kind\":\"Tenant\"}");
    json_t *out = NULL;
    pb_err e = {0};
    assert_int_equal(kube_get(f->c, &TENANTS, "ns", "a", NULL, &out, &e), 0);
    json_decref(out);
    assert_int_equal(fa_nreqs(f->srv), 3);
}

static void test_no_retry_for_post(void **state)
{
    fixture *f = *state;
    fa_push_json(f->srv, 500, "{\"kind\":\"Status\",\"reason\":\"InternalError\",\"message\":\"boom\",\"code\":500}");
    fa_push_json(f->srv, 200, "{}");
    json_t *obj = json_pack("{s:{s:s}}", "metadata", "name", "a");
    pb_err e = {0};
    assert_int_equal(kube_create(f->c, &TENANTS, "ns", obj, NULL, NULL, &e), PB_EUNAVAILABLE);
    assert_string_equal(e.msg, "create tenants.paybill.dev ns/a: 500 InternalError: boom");
    assert_int_equal(fa_nreqs(f->srv), 1);
    json_t *out = NULL;
    assert_int_equal(kube_get(f->c, &TENANTS, "ns", "a", NULL, &out, NULL), 0); /* takes the 200 */
    json_decref(out);
    /* A PUT without resourceVersion could overwrite a concurrent change on
     * a repeat, so it is not repeated either; a dropped POST neither. */
    fa_push_json(f->srv, 502, "{}");
    fa_push_json(f->srv, 200, "{}");
    assert_int_equal(kube_update(f->c, &TENANTS, "ns", obj, NULL, NULL, &e), PB_EUNAVAILABLE);
    assert_int_equal(fa_nreqs(f->srv), 3);
    assert_int_equal(kube_get(f->c, &TENANTS, "ns", "a", NULL, &out, NULL), 0);
    json_decref(out);
    /* A fresh client, so the drop hits a new connection: curl itself
     * repeats a request once when a reused keep-alive connection turns out
     * to be closed, which is what servers do to idle connections. */
    kube_client *c = make_client(f, NULL, NULL);
    fa_resp drop = {.drop = 1};
    fa_push(f->srv, &drop);
    fa_push_json(f->srv, 200, "{}");
    assert_int_equal(kube_create(c, &TENANTS, "ns", obj, NULL, NULL, &e), PB_EUNAVAILABLE);
    assert_int_equal(fa_nreqs(f->srv), 5);
    kube_client_free(c);
    json_decref(obj);
}

static void test_retry_after_429(void **state)
{
    fixture *f = *state;
    fa_resp busy = {.status = 429, .headers = "Retry-After: 1\r\n",
                    .body = "{\"kind\":\"Status\",\"reason\":\"TooManyRequests\",\"code\":429}"};
    fa_push(f->srv, &busy);
    fa_push_json(f->srv, 201, "{\"kind\":\"Tenant\"}");
    json_t *obj = json_pack("{s:{s:s}}", "metadata", "name", "a");
    double t0 = tu_now();
    pb_err e = {0};
    /* 429 means the server did nothing: even a POST is repeated. */
    assert_int_equal(kube_create(f->c, &TENANTS, "ns", obj, NULL, NULL, &e), 0);
    double dt = tu_now() - t0;
    assert_true(dt >= 0.9);
    assert_true(dt < 5);
    assert_int_equal(fa_nreqs(f->srv), 2);
    json_decref(obj);
}

static void test_retries_are_bounded(void **state)
{
    fixture *f = *state;
    kube_client_options opt = {.qps = 1000, .burst = 1000, .backoff_base_ms = 5, .max_retries = 2};
    kube_client *c = make_client(f, NULL, &opt);
    fa_resp busy = {.status = 429, .headers = "Retry-After: 0\r\n",
                    .body = "{\"kind\":\"Status\",\"reason\":\"TooManyRequests\",\"message\":\"slow down\",\"code\":429}"};
    for (int i = 0; i < 4; i++)
        fa_push(f->srv, &busy);
    kube_status st = {0};
    kube_request_opts o = {.status = &st};
    pb_err e = {0};
    json_t *out = NULL;
    assert_int_equal(kube_list(c, &TENANTS, NULL, &o, &out, &e), PB_EUNAVAILABLE);
    assert_int_equal(fa_nreqs(f->srv), 3);
    assert_int_equal(st.retry_after_s, 0);
    assert_string_equal(e.msg, "list tenants.paybill.dev: 429 TooManyRequests: slow down");
    kube_status_clear(&st);
    kube_client_free(c);
}

/* Readable wake_fd: a list or get makes no more tries and answers with the
 * last failure, at once instead of after the backoff (an informer stopping
 * while the server is down). */
/* What an API server that is down answers. */
static const char BUSY[] = "{\"kind\":\"Status\",\"reason\":\"ServiceUnavailable\",\"message\":\"down\",\"code\":503}";

static void *wake_later(void *arg)
{
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
    uint64_t one = 1;
    if (write(*(int *)arg, &one, sizeof one) != sizeof one)
        fail_msg("eventfd write");
    return NULL;
}

/* A readable wake_fd ends a request's retries: one the request names
 * (kube_request_opts.wake_fd) or, when it names none, the client's own
 * (kube_client_set_wake_fd: the manager's "stopping"). */
static void wake_fd_ends_retries(fixture *f, int client_wide)
{
    kube_client_options opt = {.qps = 1000, .burst = 1000, .backoff_base_ms = 5000, .max_retries = 3};
    kube_client *c = make_client(f, NULL, &opt);
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    assert_true(fd > 0);
    kube_request_opts named = {.wake_fd = fd};
    const kube_request_opts *o = client_wide ? NULL : &named;
    if (client_wide)
        kube_client_set_wake_fd(c, fd);
    json_t *out = NULL;
    pb_err e = {0};

    /* Not yet readable: woken in the middle of the 5 s wait. */
    for (int i = 0; i < 4; i++)
        fa_push_json(f->srv, 503, BUSY);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, wake_later, &fd), 0);
    double t0 = tu_now();
    assert_int_equal(kube_list(c, &TENANTS, NULL, o, &out, &e), PB_EUNAVAILABLE);
    double dt = tu_now() - t0;
    pthread_join(t, NULL);
    assert_null(out);
    assert_int_equal(fa_nreqs(f->srv), 1);
    assert_true(dt >= 0.09 && dt < 2.0);
    assert_string_equal(e.msg, "list tenants.paybill.dev: 503 ServiceUnavailable: down");

    /* Already readable: one try, no wait. */
    pb_err_clear(&e);
    t0 = tu_now();
    assert_int_equal(kube_get(c, &TENANTS, "ns", "a", o, &out, &e), PB_EUNAVAILABLE);
    assert_true(tu_now() - t0 < 2.0);
    assert_int_equal(fa_nreqs(f->srv), 2);

    /* Without it (never set, or set back to 0) the two 503s left are
     * retried: the policy is unchanged. */
    fa_push_json(f->srv, 200, "{\"kind\":\"Tenant\"}");
    kube_client_options quick = {.qps = 1000, .burst = 1000, .backoff_base_ms = 5, .max_retries = 3};
    kube_client *c2 = make_client(f, NULL, &quick);
    if (client_wide) {
        kube_client_set_wake_fd(c2, fd);
        kube_client_set_wake_fd(c2, 0);
    }
    assert_int_equal(kube_get(c2, &TENANTS, "ns", "a", NULL, &out, &e), 0);
    json_decref(out);
    assert_int_equal(fa_nreqs(f->srv), 5);
    kube_client_free(c2);
    close(fd);
    kube_client_free(c);
}

static void test_wake_fd_ends_retries(void **state)
{
    wake_fd_ends_retries(*state, 0);
}

static void test_client_wake_fd_ends_retries(void **state)
{
    wake_fd_ends_retries(*state, 1);
}

/* kube_request_opts.timeout_ms bounds the whole request: each try gets what
 * is left, and no retry starts that could not end in time. */
static void test_request_timeout_bounds_retries(void **state)
{
    fixture *f = *state;
    kube_client_options opt = {.qps = 1000, .burst = 1000, .backoff_base_ms = 200, .max_retries = 5};
    kube_client *c = make_client(f, NULL, &opt); /* 30 s a try by default */
    for (int i = 0; i < 2; i++) /* a third try would find no answer queued */
        fa_push_json(f->srv, 503, BUSY);
    kube_request_opts o = {.timeout_ms = 300};
    json_t *out = NULL;
    pb_err e = {0};
    double t0 = tu_now();
    /* Tries at 0 and 0.2 s; the next would start at 0.6 s, past 0.3. */
    assert_int_equal(kube_get(c, &TENANTS, "ns", "a", &o, &out, &e), PB_EUNAVAILABLE);
    double dt = tu_now() - t0;
    assert_int_equal(fa_nreqs(f->srv), 2);
    assert_true(dt >= 0.19 && dt < 2.0); /* 0.2 s of backoff (sleeps round down); all five tries: 6.2 s */
    kube_client_free(c);

    /* A reply that never ends: cut at the budget, not the client's 30 s. */
    c = make_client(f, NULL, &opt);
    fa_push_hang(f->srv);
    t0 = tu_now();
    assert_int_equal(kube_get(c, &TENANTS, "ns", "a", &o, &out, &e), PB_ETIMEOUT);
    dt = tu_now() - t0;
    assert_true(dt >= 0.29 && dt < 2.0);
    kube_client_free(c);
}

typedef struct hung_get {
    kube_client *c;
    int rc;
    pb_err err;
    double took;
} hung_get;

static void *get_hung(void *arg)
{
    hung_get *g = arg;
    json_t *out = NULL;
    double t0 = tu_now();
    g->rc = kube_get(g->c, &TENANTS, "ns", "a", NULL, &out, &g->err);
    g->took = tu_now() - t0;
    json_decref(out);
    return NULL;
}

/* A transfer in flight is cut (the client's own timeout is 30 s) and
 * nothing more reaches the server, requests, writes in lanes or watches:
 * for good after kube_client_close (PB_ECANCELED and its reason), until
 * it is lifted after kube_client_set_cutoff (PB_ETIMEOUT, "cut off"). */
static void cut_off(fixture *f, int close_it)
{
    kube_client_options opt = {.qps = 1000, .burst = 1000, .backoff_base_ms = 5, .max_retries = 3};
    kube_client *c = make_client(f, NULL, &opt);
    fa_push_hang(f->srv);
    hung_get g = {.c = c};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, get_hung, &g), 0);
    while (fa_nreqs(f->srv) < 1)
        usleep(1000);
    usleep(100 * 1000);
    if (close_it) {
        kube_client_close(c, "leader election lost");
        kube_client_close(c, "a later reason is ignored");
    } else {
        kube_client_set_cutoff(c, tu_now());
    }
    pthread_join(t, NULL);
    int want = close_it ? PB_ECANCELED : PB_ETIMEOUT;
    const char *why = close_it ? "leader election lost" : "cut off: the shutdown deadline passed";
    char msg[256];
    assert_int_equal(g.rc, want);
    snprintf(msg, sizeof msg, "get tenants.paybill.dev ns/a: %s", why);
    assert_string_equal(g.err.msg, msg);
    assert_true(g.took < 2.0);

    json_t *out = NULL;
    pb_err e = {0};
    assert_int_equal(kube_get(c, &TENANTS, "ns", "b", NULL, &out, &e), want);
    assert_null(out);
    json_t *obj = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "paybill.dev/v1alpha1", "kind", "Tenant",
                            "metadata", "name", "c");
    kube_write w[2] = {
        {.kind = KUBE_WRITE_CREATE, .gvr = &TENANTS, .ns = "ns", .body = obj},
        {.kind = KUBE_WRITE_PATCH, .gvr = &TENANTS, .ns = "ns", .name = "c", .type = KUBE_PATCH_APPLY, .body = obj},
    };
    assert_int_equal(kube_write_many(c, w, 2), want);
    assert_int_equal(w[1].rc, want);
    snprintf(msg, sizeof msg, "apply tenants.paybill.dev ns/c: %s", why);
    assert_string_equal(w[1].err.msg, msg);
    atomic_int stop = 0;
    assert_int_equal(kube_watch(c, &TENANTS, "ns", NULL, NULL, NULL, &stop, &e), want);
    assert_int_equal(fa_nreqs(f->srv), 1); /* only the one cut in flight */

    if (!close_it) { /* lifted: requests go out again */
        kube_client_set_cutoff(c, 0);
        fa_push_json(f->srv, 200, "{\"kind\":\"Tenant\"}");
        assert_int_equal(kube_create(c, &TENANTS, "ns", obj, NULL, &out, &e), 0);
        json_decref(out);
        assert_int_equal(fa_nreqs(f->srv), 2);
    }
    json_decref(obj);
    kube_client_free(c);
}

static void test_close_fences_the_client(void **state)
{
    cut_off(*state, 1);
}

static void test_cutoff_cuts_and_refuses(void **state)
{
    cut_off(*state, 0);
}

static void test_dropped_connection_retried_for_get(void **state)
{
    fixture *f = *state;
    fa_resp drop = {.drop = 1};
    fa_push(f->srv, &drop);
    fa_push(f->srv, &drop);
    fa_push_json(f->srv, 200, "{\"kind\":\"Tenant\"}");
    json_t *out = NULL;
    pb_err e = {0};
    /* Two drops on fresh connections: curl does not repeat those, we do. */
    assert_int_equal(kube_get(f->c, &TENANTS, "ns", "a", NULL, &out, &e), 0);
    json_decref(out);
    assert_int_equal(fa_nreqs(f->srv), 3);
}

static void test_connection_refused_and_timeout(void **state)
{
    fixture *f = *state;
    /* A port nobody listens on: the server's, once stopped. */
    fa_server *gone = fa_start(NULL);
    fa_server *keep = f->srv;
    f->srv = gone;
    kube_client_options opt = {.qps = 1000, .burst = 1000, .max_retries = -1, .timeout_ms = 300};
    kube_client *c = make_client(f, NULL, &opt);
    f->srv = keep;
    fa_stop(gone);
    pb_err e = {0};
    json_t *out = NULL;
    kube_status st = {0};
    kube_request_opts o = {.status = &st};
    assert_int_equal(kube_get(c, &TENANTS, "ns", "a", &o, &out, &e), PB_EUNAVAILABLE);
    assert_non_null(strstr(e.msg, "get tenants.paybill.dev ns/a: "));
    assert_int_equal(st.code, 0);
    kube_client_free(c);

    /* A server that answers headers and then nothing: the request times out. */
    c = make_client(f, NULL, &opt);
    fa_push_hang(f->srv);
    double t0 = tu_now();
    assert_int_equal(kube_get(c, &TENANTS, "ns", "a", NULL, &out, &e), PB_ETIMEOUT);
    assert_true(tu_now() - t0 < 3);
    kube_client_free(c);
}

/* ---------------------------------------------------------- pagination */

static void test_list_all_pages(void **state)
{
    fixture *f = *state;
    fa_push_json(f->srv, 200, "{\"kind\":\"TenantList\",\"metadata\":{\"resourceVersion\":\"100\",\"continue\":\"t1\","
                              "\"remainingItemCount\":3},\"items\":[{\"n\":1},{\"n\":2}]}");
    fa_push_json(f->srv, 200, "{\"kind\":\"TenantList\",\"metadata\":{\"resourceVersion\":\"100\",\"continue\":\"t2\"},"
                              "\"items\":[{\"n\":3},{\"n\":4}]}");
    fa_push_json(f->srv, 200, "{\"kind\":\"TenantList\",\"metadata\":{\"resourceVersion\":\"100\"},\"items\":[{\"n\":5}]}");
    kube_request_opts o = {.limit = 2, .label_selector = "a=b"};
    json_t *out = NULL;
    pb_err e = {0};
    assert_int_equal(kube_list_all(f->c, &TENANTS, "ns", &o, &out, &e), 0);
    json_t *items = json_object_get(out, "items");
    assert_int_equal(json_array_size(items), 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(json_integer_value(json_object_get(json_array_get(items, (size_t)i), "n")), i + 1);
    json_t *meta = json_object_get(out, "metadata");
    assert_string_equal(json_string_value(json_object_get(meta, "resourceVersion")), "100");
    assert_null(json_object_get(meta, "continue"));
    assert_null(json_object_get(meta, "remainingItemCount"));
    assert_int_equal(json_object_size(out), 3);
    json_decref(out);
    assert_string_equal(fa_req_at(f->srv, 0)->target,
                        "/apis/paybill.dev/v1alpha1/namespaces/ns/tenants?labelSelector=a%3Db&limit=2");
    assert_string_equal(fa_req_at(f->srv, 2)->target,
                        "/apis/paybill.dev/v1alpha1/namespaces/ns/tenants?labelSelector=a%3Db&limit=2&continue=t2");
}

static const char *EXPIRED = "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"Expired\",\"code\":410,"
                             "\"message\":\"The provided continue parameter is too old\"}";

static void test_list_all_expired_continue_restarts(void **state)
{
    fixture *f = *state;
    fa_push_json(f->srv, 200, "{\"metadata\":{\"resourceVersion\":\"10\",\"continue\":\"t1\"},\"items\":[{\"n\":1}]}");
    fa_push_json(f->srv, 410, EXPIRED);
    fa_push_json(f->srv, 200, "{\"metadata\":{\"resourceVersion\":\"20\",\"continue\":\"u1\"},\"items\":[{\"n\":1}]}");
    fa_push_json(f->srv, 200, "{\"metadata\":{\"resourceVersion\":\"20\"},\"items\":[{\"n\":2}]}");
    kube_request_opts o = {.limit = 1, .resource_version = "0"};
    json_t *out = NULL;
    pb_err e = {0};
    assert_int_equal(kube_list_all(f->c, &TENANTS, NULL, &o, &out, &e), 0);
    assert_int_equal(json_array_size(json_object_get(out, "items")), 2);
    assert_string_equal(json_string_value(json_object_get(json_object_get(out, "metadata"), "resourceVersion")), "20");
    json_decref(out);
    assert_int_equal(fa_nreqs(f->srv), 4);
    /* The restart asks for the same snapshot rules as the first page; a
     * continued page carries no resourceVersion. */
    assert_string_equal(fa_req_at(f->srv, 2)->target, "/apis/paybill.dev/v1alpha1/tenants?resourceVersion=0&limit=1");
    assert_string_equal(fa_req_at(f->srv, 3)->target, "/apis/paybill.dev/v1alpha1/tenants?limit=1&continue=u1");

    /* Expiring twice is reported. */
    fa_push_json(f->srv, 200, "{\"metadata\":{\"continue\":\"t1\"},\"items\":[]}");
    fa_push_json(f->srv, 410, EXPIRED);
    fa_push_json(f->srv, 200, "{\"metadata\":{\"continue\":\"t1\"},\"items\":[]}");
    fa_push_json(f->srv, 410, EXPIRED);
    assert_int_equal(kube_list_all(f->c, &TENANTS, NULL, &o, &out, &e), PB_EGONE);
    assert_null(out);
    assert_non_null(strstr(e.msg, "410 Expired"));
}

/* kube_list_pages: each page in turn with its "first" flag (1 again after
 * a restart), and a page function that stops the list. */
typedef struct page_log {
    char seen[64];
    int stop_after; /* pages; 0 = never */
    int pages;
} page_log;

static int log_page(void *ud, json_t *page, int first)
{
    page_log *pl = ud;
    size_t n = strlen(pl->seen);
    snprintf(pl->seen + n, sizeof pl->seen - n, "%s%zu", first ? "|" : ",",
             json_array_size(json_object_get(page, "items")));
    return pl->stop_after && ++pl->pages >= pl->stop_after;
}

static void test_list_pages_streams(void **state)
{
    fixture *f = *state;
    fa_push_json(f->srv, 200, "{\"metadata\":{\"resourceVersion\":\"10\",\"continue\":\"t1\"},\"items\":[{},{}]}");
    fa_push_json(f->srv, 410, EXPIRED);
    fa_push_json(f->srv, 200, "{\"metadata\":{\"resourceVersion\":\"20\",\"continue\":\"u1\"},\"items\":[{}]}");
    fa_push_json(f->srv, 200, "{\"metadata\":{\"resourceVersion\":\"20\",\"continue\":\"u2\"},\"items\":[{},{},{}]}");
    fa_push_json(f->srv, 200, "{\"metadata\":{\"resourceVersion\":\"20\"}}"); /* no items at all */
    kube_request_opts o = {.limit = 3};
    page_log pl = {0};
    pb_err e = {0};
    assert_int_equal(kube_list_pages(f->c, &TENANTS, NULL, &o, log_page, &pl, &e), 0);
    assert_string_equal(pl.seen, "|2|1,3,0"); /* the restart starts a new pass */

    fa_push_json(f->srv, 200, "{\"metadata\":{\"resourceVersion\":\"30\",\"continue\":\"v1\"},\"items\":[{}]}");
    fa_push_json(f->srv, 200, "{\"metadata\":{\"resourceVersion\":\"30\",\"continue\":\"v2\"},\"items\":[{}]}");
    page_log stop = {.stop_after = 2};
    size_t before = fa_nreqs(f->srv);
    assert_int_equal(kube_list_pages(f->c, &TENANTS, NULL, &o, log_page, &stop, &e), PB_ECANCELED);
    assert_int_equal(fa_nreqs(f->srv) - before, 2); /* no third request */
    assert_int_equal(kube_list_pages(f->c, &TENANTS, NULL, &o, NULL, NULL, &e), PB_EINVAL);
}

/* ------------------------------------------------------ auth refreshing */

static void test_exec_reauth_on_401(void **state)
{
    fixture *f = *state;
    char *plugin = tu_write_file(f->dir, "plugin.sh",
                                 "#!/bin/sh\n"
                                 "n=$(cat \"$(dirname \"$0\")/runs\" 2>/dev/null || echo 0); n=$((n+1))\n"
                                 "echo $n > \"$(dirname \"$0\")/runs\"\n"
                                 "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
                                 "\"status\":{\"token\":\"tok'$n'\",\"expirationTimestamp\":\"2999-01-01T00:00:00Z\"}}'\n");
    chmod(plugin, 0755);
    kube_client *c = make_client(f, "    exec: {apiVersion: client.authentication.k8s.io/v1, command: ./plugin.sh}", NULL);
    fa_push_json(f->srv, 200, "{}");
    fa_push_json(f->srv, 401, "{\"kind\":\"Status\",\"reason\":\"Unauthorized\",\"code\":401}");
    fa_push_json(f->srv, 200, "{}");
    fa_push_json(f->srv, 401, "{\"kind\":\"Status\",\"reason\":\"Unauthorized\",\"code\":401}");
    fa_push_json(f->srv, 401, "{\"kind\":\"Status\",\"reason\":\"Unauthorized\",\"code\":401}");
    json_t *out = NULL;
    pb_err e = {0};
    assert_int_equal(kube_get(c, &TENANTS, "ns", "a", NULL, &out, &e), 0);
    json_decref(out);
    assert_int_equal(kube_get(c, &TENANTS, "ns", "a", NULL, &out, &e), 0);
    json_decref(out);
    char h[128];
    assert_string_equal(fa_header(fa_req_at(f->srv, 0), "Authorization", h, sizeof h), "Bearer tok1");
    assert_string_equal(fa_header(fa_req_at(f->srv, 1), "Authorization", h, sizeof h), "Bearer tok1");
    assert_string_equal(fa_header(fa_req_at(f->srv, 2), "Authorization", h, sizeof h), "Bearer tok2");
    /* Re-authenticating once only: a second 401 is the answer. */
    assert_int_equal(kube_get(c, &TENANTS, "ns", "a", NULL, &out, &e), PB_EUNAUTHORIZED);
    assert_int_equal(fa_nreqs(f->srv), 5);
    kube_client_free(c);
    free(plugin);
}

static void test_bad_arguments(void **state)
{
    fixture *f = *state;
    json_t *out = NULL;
    pb_err e = {0};
    kube_gvr noversion = {"paybill.dev", "", "tenants"};
    assert_int_equal(kube_get(f->c, NULL, "ns", "a", NULL, &out, &e), PB_EINVAL);
    assert_int_equal(kube_list(f->c, &noversion, "ns", NULL, &out, &e), PB_EINVAL);
    assert_int_equal(kube_get(f->c, &TENANTS, "ns", NULL, NULL, &out, &e), PB_EINVAL);
    assert_int_equal(kube_get(f->c, &TENANTS, "ns", "", NULL, &out, &e), PB_EINVAL);
    assert_int_equal(kube_delete(f->c, &TENANTS, "ns", NULL, NULL, &out, &e), PB_EINVAL);
    assert_int_equal(kube_patch(f->c, &TENANTS, "ns", "a", (kube_patch_type)9, NULL, NULL, &out, &e), PB_EINVAL);
    assert_null(out);
    assert_int_equal(fa_nreqs(f->srv), 0);
    /* HEAD has no body to wait for. */
    fa_push_json(f->srv, 200, "");
    assert_int_equal(kube_raw(f->c, "HEAD", "/healthz", NULL, NULL, NULL, NULL, &e), 0);
    assert_string_equal(fa_req_at(f->srv, 0)->method, "HEAD");
}

static void test_basic_auth(void **state)
{
    fixture *f = *state;
    kube_client *c = make_client(f, "    username: admin\n    password: s3cret", NULL);
    fa_push_json(f->srv, 200, "{}");
    json_t *out = NULL;
    assert_int_equal(kube_get(c, &TENANTS, "ns", "a", NULL, &out, NULL), 0);
    json_decref(out);
    char h[128];
    assert_string_equal(fa_header(fa_req_at(f->srv, 0), "Authorization", h, sizeof h), "Basic YWRtaW46czNjcmV0");
    kube_client_free(c);
}

/* ----------------------------------------------------- discovery, raw */

static void test_discovery(void **state)
{
    fixture *f = *state;
    fa_push_json(f->srv, 200, "{\"kind\":\"APIResourceList\",\"groupVersion\":\"paybill.dev/v1alpha1\",\"resources\":["
                              "{\"name\":\"tenants/status\",\"kind\":\"Tenant\",\"namespaced\":true},"
                              "{\"name\":\"tenants\",\"singularName\":\"tenant\",\"kind\":\"Tenant\",\"namespaced\":true},"
                              "{\"name\":\"plans\",\"kind\":\"Plan\",\"namespaced\":false}]}");
    kube_gvr g;
    int ns = -1;
    pb_err e = {0};
    assert_int_equal(kube_discover(f->c, "paybill.dev/v1alpha1", "Tenant", &g, &ns, &e), 0);
    assert_string_equal(g.group, "paybill.dev");
    assert_string_equal(g.version, "v1alpha1");
    assert_string_equal(g.resource, "tenants");
    assert_int_equal(ns, 1);
    assert_int_equal(kube_discover(f->c, "paybill.dev/v1alpha1", "Plan", &g, &ns, &e), 0);
    assert_string_equal(g.resource, "plans");
    assert_int_equal(ns, 0);
    assert_int_equal(fa_nreqs(f->srv), 1); /* cached */
    assert_string_equal(fa_req_at(f->srv, 0)->target, "/apis/paybill.dev/v1alpha1");

    /* Unknown kind: one refresh (a CRD may have appeared), then found. */
    fa_push_json(f->srv, 200, "{\"kind\":\"APIResourceList\",\"resources\":["
                              "{\"name\":\"workflows\",\"kind\":\"Workflow\",\"namespaced\":true}]}");
    assert_int_equal(kube_discover(f->c, "paybill.dev/v1alpha1", "Workflow", &g, &ns, &e), 0);
    assert_string_equal(g.resource, "workflows");
    assert_int_equal(fa_nreqs(f->srv), 2);
    /* Still unknown after the refresh: not found. */
    fa_push_json(f->srv, 200, "{\"kind\":\"APIResourceList\",\"resources\":[]}");
    assert_int_equal(kube_discover(f->c, "paybill.dev/v1alpha1", "Nope", &g, &ns, &e), PB_ENOTFOUND);
    assert_non_null(strstr(e.msg, "no kind \"Nope\" in paybill.dev/v1alpha1"));

    /* Core group, and a group/version the server does not serve. */
    fa_push_json(f->srv, 200, "{\"kind\":\"APIResourceList\",\"resources\":[{\"name\":\"namespaces\","
                              "\"kind\":\"Namespace\",\"namespaced\":false}]}");
    assert_int_equal(kube_discover(f->c, "v1", "Namespace", &g, &ns, &e), 0);
    assert_string_equal(g.group, "");
    assert_string_equal(g.resource, "namespaces");
    assert_string_equal(fa_req_at(f->srv, 3)->target, "/api/v1");
    fa_push_json(f->srv, 404, "{\"kind\":\"Status\",\"reason\":\"NotFound\",\"code\":404}");
    assert_int_equal(kube_discover(f->c, "x.dev/v9", "X", &g, &ns, &e), PB_ENOTFOUND);
    assert_non_null(strstr(e.msg, "x.dev/v9 is not served"));
    assert_int_equal(kube_discover(f->c, "a/b/c", "X", &g, &ns, &e), PB_EINVAL);
    assert_int_equal(kube_discover(f->c, "/v1", "X", &g, &ns, &e), PB_EINVAL);
}

static void test_raw_and_stats(void **state)
{
    fixture *f = *state;
    fa_resp ok = {.headers = "Content-Type: text/plain\r\n", .body = "ok"};
    fa_push(f->srv, &ok);
    fa_push_json(f->srv, 200, "{\"major\":\"1\",\"minor\":\"30\"}");
    json_t *out = NULL;
    pb_err e = {0};
    assert_int_equal(kube_raw(f->c, "GET", "/healthz", NULL, NULL, &out, NULL, &e), 0);
    assert_string_equal(json_string_value(out), "ok");
    json_decref(out);
    assert_int_equal(kube_raw(f->c, "GET", "/version", NULL, NULL, &out, NULL, &e), 0);
    assert_string_equal(json_string_value(json_object_get(out, "minor")), "30");
    json_decref(out);
    assert_int_equal(kube_raw(f->c, "GET", "version", NULL, NULL, &out, NULL, &e), PB_EINVAL);
    fa_push_json(f->srv, 404, NOT_FOUND);
    assert_int_equal(kube_get(f->c, &TENANTS, "ns", "a", NULL, &out, &e), PB_ENOTFOUND);

    json_t *stats = NULL;
    assert_int_equal(kube_client_stats(f->c, &stats), 0);
    int get200 = 0, get404 = 0;
    size_t i;
    json_t *s;
    json_array_foreach(stats, i, s) {
        const char *verb = json_string_value(json_object_get(s, "verb"));
        int code = (int)json_integer_value(json_object_get(s, "code"));
        if (!strcmp(verb, "GET") && code == 200)
            get200 = (int)json_integer_value(json_object_get(s, "count"));
        if (!strcmp(verb, "GET") && code == 404)
            get404 = (int)json_integer_value(json_object_get(s, "count"));
        assert_true(json_real_value(json_object_get(s, "seconds_sum")) >= 0);
    }
    assert_int_equal(get200, 2);
    assert_int_equal(get404, 1);
    json_decref(stats);
}

static int observed;
static void observer(void *ud, const char *verb, int code, double seconds)
{
    if (!strcmp(verb, "LIST") && code == 200 && seconds >= 0)
        observed++;
}

static void test_observer(void **state)
{
    fixture *f = *state;
    observed = 0;
    kube_client_set_observer(f->c, observer, NULL);
    fa_push_json(f->srv, 200, "{\"items\":[]}");
    json_t *out = NULL;
    assert_int_equal(kube_list(f->c, &TENANTS, NULL, NULL, &out, NULL), 0);
    json_decref(out);
    assert_int_equal(observed, 1);
}

/* ------------------------------------------- connections and threads */

static void test_connection_reuse(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 10; i++)
        fa_push_json(f->srv, 200, "{}");
    for (int i = 0; i < 10; i++) {
        json_t *out = NULL;
        assert_int_equal(kube_get(f->c, &TENANTS, "ns", "a", NULL, &out, NULL), 0);
        json_decref(out);
    }
    assert_int_equal(fa_accepted(f->srv), 1); /* keep-alive: one connection */
}

typedef struct worker {
    kube_client *c;
    int ok;
} worker;

static void *get_worker(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 10; i++) {
        json_t *out = NULL;
        if (kube_get(w->c, &TENANTS, "ns", "a", NULL, &out, NULL) == 0 && json_is_object(out))
            w->ok++;
        json_decref(out);
    }
    return NULL;
}

static void test_shared_between_threads(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 40; i++)
        fa_push_json(f->srv, 200, "{\"kind\":\"Tenant\"}");
    pthread_t t[4];
    worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){f->c, 0};
        pthread_create(&t[i], NULL, get_worker, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].ok, 10);
    }
    assert_int_equal(fa_nreqs(f->srv), 40);
    assert_true(fa_accepted(f->srv) <= 4); /* pooled handles keep their connections */
}

/* -------------------------------------------------------- rate limiter */

static void test_ratelimit_timing(void **state)
{
    kube_ratelimit *rl = kube_ratelimit_new(20, 2);
    double t0 = tu_now();
    for (int i = 0; i < 12; i++)
        kube_ratelimit_wait(rl);
    double dt = tu_now() - t0;
    /* 2 from the burst, then 10 at 20/s: 0.5 s. */
    assert_true(dt >= 0.42);
    assert_true(dt < 3.0);
    assert_false(kube_ratelimit_try(rl));
    kube_ratelimit_free(rl);

    rl = kube_ratelimit_new(1, 3);
    assert_true(kube_ratelimit_try(rl));
    assert_true(kube_ratelimit_try(rl));
    assert_true(kube_ratelimit_try(rl));
    assert_false(kube_ratelimit_try(rl));
    kube_ratelimit_free(rl);

    rl = kube_ratelimit_new(0, 0); /* unlimited */
    for (int i = 0; i < 1000; i++)
        assert_true(kube_ratelimit_wait(rl) == 0);
    kube_ratelimit_free(rl);
}

static void *limiter_thread(void *arg)
{
    for (int i = 0; i < 5; i++)
        kube_ratelimit_wait(arg);
    return NULL;
}

static void test_ratelimit_threads(void **state)
{
    kube_ratelimit *rl = kube_ratelimit_new(50, 1);
    pthread_t t[4];
    double t0 = tu_now();
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, limiter_thread, rl);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    double dt = tu_now() - t0;
    /* 20 tokens, 1 up front, 19 at 50/s: 0.38 s whatever the interleaving. */
    assert_true(dt >= 0.33);
    assert_true(dt < 3.0);
    kube_ratelimit_free(rl);
}

static void test_client_rate_limited(void **state)
{
    fixture *f = *state;
    kube_client_options opt = {.qps = 10, .burst = 1};
    kube_client *c = make_client(f, NULL, &opt);
    for (int i = 0; i < 4; i++)
        fa_push_json(f->srv, 200, "{}");
    double t0 = tu_now();
    for (int i = 0; i < 4; i++) {
        json_t *out = NULL;
        assert_int_equal(kube_get(c, &TENANTS, "ns", "a", NULL, &out, NULL), 0);
        json_decref(out);
    }
    double dt = tu_now() - t0;
    assert_true(dt >= 0.25);
    assert_true(dt < 3.0);
    kube_client_free(c);
}

/* ------------------------------------------------------------------ TLS */

static EVP_PKEY *gen_key(void)
{
    return EVP_EC_gen("P-256");
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(ext);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, const char *san)
{
    static long serial = 1;
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509 *iss = issuer ? issuer : x;
    add_ext(x, iss, NID_subject_key_identifier, "hash");
    if (!issuer) {
        add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(x, iss, NID_basic_constraints, "CA:FALSE");
        add_ext(x, iss, NID_authority_key_identifier, "keyid");
        if (san)
            add_ext(x, iss, NID_subject_alt_name, san);
    }
    assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
    return x;
}

/* PEM of a cert or key, base64-encoded again for a kubeconfig -data field. */
static char *pem_b64(X509 *x, EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (x)
        PEM_write_bio_X509(b, x);
    else
        PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *out = calloc(1, (size_t)n * 2 + 8);
    EVP_EncodeBlock((unsigned char *)out, (unsigned char *)data, (int)n);
    BIO_free(b);
    return out;
}

static void test_tls_ca_and_client_cert(void **state)
{
    fixture *f = *state;
    EVP_PKEY *ca_key = gen_key(), *srv_key = gen_key(), *cli_key = gen_key(), *other_key = gen_key();
    X509 *ca = make_cert(ca_key, "test-ca", NULL, NULL, NULL);
    X509 *other_ca = make_cert(other_key, "other-ca", NULL, NULL, NULL);
    /* Valid only for the name the cluster's tls-server-name gives. */
    X509 *srv = make_cert(srv_key, "apiserver", ca, ca_key, "DNS:kubernetes.default");
    X509 *cli = make_cert(cli_key, "paybill", ca, ca_key, NULL);

    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(ctx, srv);
    SSL_CTX_use_PrivateKey(ctx, srv_key);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    fa_server *tls = fa_start(ctx);

    char *ca_b64 = pem_b64(ca, NULL), *other_b64 = pem_b64(other_ca, NULL);
    char *cert_b64 = pem_b64(cli, NULL), *key_b64 = pem_b64(NULL, cli_key);
    char url[128], cluster[8192], user[8192];
    fa_url(tls, url, sizeof url);
    snprintf(user, sizeof user, "    client-certificate-data: %s\n    client-key-data: %s", cert_b64, key_b64);
    kube_client_options opt = {.qps = 1000, .burst = 1000, .max_retries = -1, .timeout_ms = 5000};
    pb_err e = {0};
    json_t *out = NULL;

    /* Right CA, client certificate, tls-server-name: works. */
    snprintf(cluster, sizeof cluster,
             "    server: %s\n    certificate-authority-data: %s\n    tls-server-name: kubernetes.default", url,
             ca_b64);
    kube_config *cfg = make_config(f->dir, cluster, user);
    kube_client *c = NULL;
    assert_int_equal(kube_client_new(cfg, &opt, &c, &e), 0);
    kube_config_free(cfg);
    fa_push_json(tls, 200, "{\"kind\":\"Tenant\"}");
    if (kube_get(c, &TENANTS, "ns", "a", NULL, &out, &e) != 0)
        fail_msg("TLS get: %s", e.msg);
    assert_string_equal(json_string_value(json_object_get(out, "kind")), "Tenant");
    json_decref(out);
    assert_int_equal(fa_nreqs(tls), 1);
    kube_client_free(c);

    /* Without tls-server-name the certificate does not match 127.0.0.1. */
    snprintf(cluster, sizeof cluster, "    server: %s\n    certificate-authority-data: %s", url, ca_b64);
    cfg = make_config(f->dir, cluster, user);
    assert_int_equal(kube_client_new(cfg, &opt, &c, &e), 0);
    kube_config_free(cfg);
    assert_int_equal(kube_get(c, &TENANTS, "ns", "a", NULL, &out, &e), PB_EUNAVAILABLE);
    kube_client_free(c);

    /* A CA that did not sign the server's certificate. */
    snprintf(cluster, sizeof cluster,
             "    server: %s\n    certificate-authority-data: %s\n    tls-server-name: kubernetes.default", url,
             other_b64);
    cfg = make_config(f->dir, cluster, user);
    assert_int_equal(kube_client_new(cfg, &opt, &c, &e), 0);
    kube_config_free(cfg);
    assert_int_equal(kube_get(c, &TENANTS, "ns", "a", NULL, &out, &e), PB_EUNAVAILABLE);
    kube_client_free(c);

    /* insecure-skip-tls-verify: no CA, no name check, still a client cert. */
    snprintf(cluster, sizeof cluster, "    server: %s\n    insecure-skip-tls-verify: true", url);
    cfg = make_config(f->dir, cluster, user);
    assert_int_equal(kube_client_new(cfg, &opt, &c, &e), 0);
    kube_config_free(cfg);
    fa_push_json(tls, 200, "{\"kind\":\"Tenant\"}");
    if (kube_get(c, &TENANTS, "ns", "a", NULL, &out, &e) != 0)
        fail_msg("insecure TLS get: %s", e.msg);
    json_decref(out);
    assert_int_equal(fa_nreqs(tls), 2);
    kube_client_free(c);

    /* No client certificate: the server refuses the handshake. */
    snprintf(cluster, sizeof cluster,
             "    server: %s\n    certificate-authority-data: %s\n    tls-server-name: kubernetes.default", url,
             ca_b64);
    cfg = make_config(f->dir, cluster, "    token: x");
    assert_int_equal(kube_client_new(cfg, &opt, &c, &e), 0);
    kube_config_free(cfg);
    assert_int_not_equal(kube_get(c, &TENANTS, "ns", "a", NULL, &out, &e), 0);
    kube_client_free(c);
    assert_int_equal(fa_nreqs(tls), 2);

    fa_stop(tls);
    SSL_CTX_free(ctx);
    free(ca_b64);
    free(other_b64);
    free(cert_b64);
    free(key_b64);
    X509_free(ca);
    X509_free(other_ca);
    X509_free(srv);
    X509_free(cli);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(srv_key);
    EVP_PKEY_free(cli_key);
    EVP_PKEY_free(other_key);
}

/* kube_wake_fd_adopt: a failed call and descriptor 0 are "none" (0 is
 * closed, not leaked); any other descriptor is kept as it is. */
static void test_wake_fd_adopt(void **state)
{
    (void)state;
    assert_int_equal(kube_wake_fd_adopt(-1), 0);
    int fd = eventfd(0, EFD_CLOEXEC);
    assert_true(fd > 0);
    assert_int_equal(kube_wake_fd_adopt(fd), fd);
    kube_wake_fd_free(fd);
    /* With stdin closed, the next descriptor is 0. */
    int saved = dup(0);
    assert_true(saved > 0);
    close(0);
    int zero = eventfd(0, EFD_CLOEXEC);
    assert_int_equal(zero, 0);
    assert_int_equal(kube_wake_fd_adopt(zero), 0);
    assert_int_equal(fcntl(0, F_GETFD), -1); /* closed */
    assert_int_equal(dup2(saved, 0), 0);
    close(saved);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_get_ok),
        T(test_get_not_found_status),
        T(test_escaping_and_list_query),
        T(test_server_url_with_path),
        T(test_create_and_already_exists),
        T(test_update_conflict_and_status),
        T(test_new_resource_version),
        T(test_patch_types),
        T(test_write_many),
        T(test_write_many_retry_and_rounds),
        T(test_delete_options),
        T(test_malformed_and_non_status_bodies),
        T(test_invalid_causes),
        T(test_retry_5xx_then_success),
        T(test_no_retry_for_post),
        T(test_retry_after_429),
        T(test_retries_are_bounded),
        T(test_wake_fd_ends_retries),
        T(test_client_wake_fd_ends_retries),
        T(test_request_timeout_bounds_retries),
        T(test_close_fences_the_client),
        T(test_cutoff_cuts_and_refuses),
        T(test_dropped_connection_retried_for_get),
        T(test_connection_refused_and_timeout),
        T(test_list_all_pages),
        T(test_list_all_expired_continue_restarts),
        T(test_list_pages_streams),
        T(test_exec_reauth_on_401),
        T(test_basic_auth),
        T(test_bad_arguments),
        T(test_discovery),
        T(test_raw_and_stats),
        T(test_observer),
        T(test_connection_reuse),
        T(test_shared_between_threads),
        cmocka_unit_test(test_ratelimit_timing),
        cmocka_unit_test(test_wake_fd_adopt),
        cmocka_unit_test(test_ratelimit_threads),
        T(test_client_rate_limited),
        T(test_tls_ca_and_client_cert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
