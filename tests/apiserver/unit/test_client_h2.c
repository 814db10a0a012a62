/*
 * test_client_h2.c - the operator's kube client (src/kube/client.c) against
 * the real dev API server, in-process, over HTTPS with ALPN h2,http/1.1
 * (the server's opt-in --http2).
 *
 * The kube unit tests use fakeapi.h, which speaks HTTP/1.1 only; here every
 * verb, pagination, the error mapping, watches and connection reuse go over
 * the HTTP/2 the client negotiates when asked to (kube_client_options.http2,
 * the operator's --http2), and each test checks that HTTP/2 really was
 * spoken. Also: HTTP/1.1 when the client did not ask for HTTP/2 (the
 * default) or the server offers only that, 401 and 410 Gone over HTTP/2,
 * and a watch whose server goes away mid-stream ending in an error rather
 * than a hang.
 *
 * Each test starts its own server (generated EC certificate: cheap) on
 * 127.0.0.1:0, served from a thread, and talks to it through a kubeconfig
 * written as paybill-devapi writes it (CA + static bearer token).
 */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

#include "handlers.h"
#include "kube/client.h"
#include "kube/config.h"
#include "server.h"
#include "util/log.h"

#define TOKEN "h2-test-token"
#define JOIN_TIMEOUT_S 10 /* a watch still running after this is a hang */

static const kube_gvr CONFIGMAPS = {"", "v1", "configmaps"};
static const kube_gvr DEPLOYMENTS = {"apps", "v1", "deployments"};

/* ------------------------------------------------------------ fixture */

typedef struct env {
    dv_api *api;
    dv_server *srv;
    pthread_t th;
    int running;
    char *dir;        /* temp dir holding the kubeconfig */
    char kubeconfig[4096];
} env;

static void *serve(void *s)
{
    dv_server_run(s);
    return NULL;
}

/* A server on an ephemeral port, serving from its own thread, and a
 * kubeconfig for it with `token`. */
static void env_start(env *e, int http2, const char *token)
{
    memset(e, 0, sizeof *e);
    dv_api_config acfg = {0};
    acfg.watch_window = 100;
    acfg.admin_token = TOKEN;
    char msg[512] = "";
    assert_int_equal(dv_api_new(&acfg, &e->api, msg, sizeof msg), 0);
    dv_server_config scfg = {0};
    scfg.listen = "127.0.0.1:0";
    scfg.http2 = http2;
    if (dv_server_new(e->api, &scfg, &e->srv, msg, sizeof msg) != 0)
        fail_msg("dv_server_new: %s", msg);
    assert_true(dv_server_port(e->srv) > 0);
    e->dir = tu_tmpdir();
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%d", dv_server_port(e->srv));
    snprintf(e->kubeconfig, sizeof e->kubeconfig, "%s/kubeconfig", e->dir);
    assert_int_equal(dv_write_kubeconfig(e->kubeconfig, url, dv_server_ca_pem(e->srv), token, msg, sizeof msg), 0);
    assert_int_equal(pthread_create(&e->th, NULL, serve, e->srv), 0);
    e->running = 1;
}

/* Stop serving and close every connection (what paybill-devapi does on
 * SIGTERM); the dv_api stays until env_free. */
static void env_stop_server(env *e)
{
    if (e->running) {
        dv_server_stop(e->srv);
        pthread_join(e->th, NULL);
        e->running = 0;
    }
    dv_server_free(e->srv);
    e->srv = NULL;
}

static void env_free(env *e)
{
    env_stop_server(e);
    dv_api_free(e->api);
    tu_rmtree(e->dir);
    free(e->dir);
}

/* A client from the env's kubeconfig: no retries (every failure shows at
 * once), a rate limit that never throttles the test; HTTP/2 asked for
 * (kube_client_options.http2) unless http1. */
static kube_client *env_client_proto(const env *e, long watch_idle_ms, int http1)
{
    kube_config_options co = {.kubeconfig = e->kubeconfig};
    kube_config *cfg = NULL;
    pb_err err;
    if (kube_config_load(&co, &cfg, &err) != 0)
        fail_msg("kube_config_load: %s", err.msg);
    kube_client_options o = {.qps = 10000, .burst = 10000, .max_retries = -1, .timeout_ms = 10000,
                             .watch_idle_ms = watch_idle_ms, .http2 = !http1};
    kube_client *c = NULL;
    if (kube_client_new(cfg, &o, &c, &err) != 0)
        fail_msg("kube_client_new: %s", err.msg);
    kube_config_free(cfg);
    return c;
}

static kube_client *env_client(const env *e, long watch_idle_ms)
{
    return env_client_proto(e, watch_idle_ms, 0);
}

/* ------------------------------------------------------------ helpers */

static json_t *configmap(const char *name, const char *key, const char *val)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap", "metadata",
                     "name", name, "namespace", "default", "data", key, val);
}

static const char *meta(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static const char *data(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "data"), key));
}

/* NULL-safe string equality, for checks inside loops and threads. */
static int str_is(const char *s, const char *want)
{
    return s && strcmp(s, want) == 0;
}

static void create_cm(kube_client *c, const char *name, const char *val)
{
    json_t *obj = configmap(name, "k", val), *out = NULL;
    pb_err err;
    if (kube_create(c, &CONFIGMAPS, "default", obj, NULL, &out, &err) != 0)
        fail_msg("create %s: %s", name, err.msg);
    json_decref(obj);
    json_decref(out);
}

static void assert_h2(const kube_client *c)
{
    assert_int_equal(kube_client_last_http_version(c), CURL_HTTP_VERSION_2_0);
}

/* Join th within JOIN_TIMEOUT_S; on a timeout raise *stop (the watch polls
 * it), join anyway and fail: the watch hung. */
static void join_or_fail(pthread_t th, atomic_int *stop)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += JOIN_TIMEOUT_S;
    if (pthread_timedjoin_np(th, NULL, &deadline) != 0) {
        atomic_store(stop, 1);
        pthread_join(th, NULL);
        fail_msg("watch still running after %d s", JOIN_TIMEOUT_S);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait up to 5 s for *v to reach at least want. */
static int wait_for(const atomic_int *v, int want)
{
    for (int i = 0; i < 500 && atomic_load(v) < want; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return atomic_load(v) >= want;
}

/* ------------------------------------------------------------ watching */

#define MAX_EVENTS 16

/* A kube_watch run on its own thread, recording what it sees. */
typedef struct watcher {
    kube_client *c;
    const char *rv;          /* watch from here */
    const char *stop_after;  /* return non-zero after this event type */
    atomic_int stop;
    atomic_int nevents;
    char types[MAX_EVENTS][16];
    char names[MAX_EVENTS][64];
    char vals[MAX_EVENTS][16];
    int rc;
    pb_err err;
    kube_status st;
} watcher;

static int on_event(void *ud, const char *type, json_t *obj)
{
    watcher *w = ud;
    int i = atomic_load(&w->nevents);
    if (i < MAX_EVENTS) {
        snprintf(w->types[i], sizeof w->types[i], "%s", type);
        snprintf(w->names[i], sizeof w->names[i], "%s", meta(obj, "name") ? meta(obj, "name") : "");
        snprintf(w->vals[i], sizeof w->vals[i], "%s", data(obj, "k") ? data(obj, "k") : "");
        atomic_store(&w->nevents, i + 1);
    }
    return w->stop_after && strcmp(type, w->stop_after) == 0;
}

static void *run_watch(void *ud)
{
    watcher *w = ud;
    kube_status_clear(&w->st);
    kube_request_opts o = {.resource_version = w->rv, .status = &w->st};
    pb_err_clear(&w->err);
    w->rc = kube_watch(w->c, &CONFIGMAPS, "default", &o, on_event, w, &w->stop, &w->err);
    return NULL;
}

/* ------------------------------------------------------------ tests */

/* A client asking for HTTP/2 speaks it to a server offering h2 (--http2);
 * HTTP/1.1 when the client did not ask or the server offers only
 * http/1.1 (its default); all of them work. */
static void test_negotiates_h2_or_falls_back(void **state)
{
    (void)state;
    env e;
    env_start(&e, 1, TOKEN);
    kube_client *c = env_client(&e, 0);
    assert_int_equal(kube_client_last_http_version(c), 0);
    assert_int_equal(kube_client_connections_opened(c), 0);
    json_t *out = NULL;
    pb_err err;
    assert_int_equal(kube_raw(c, "GET", "/version", NULL, NULL, &out, NULL, &err), 0);
    assert_non_null(json_object_get(out, "gitVersion"));
    json_decref(out);
    assert_h2(c);
    assert_int_equal(kube_client_connections_opened(c), 1);
    kube_client_free(c);
    env_free(&e);

    /* A client that did not ask for HTTP/2 (the default) speaks HTTP/1.1
     * even to a server that offers h2, on one keep-alive connection. */
    env_start(&e, 1, TOKEN);
    c = env_client_proto(&e, 0, 1);
    create_cm(c, "h1", "v");
    assert_int_equal(kube_client_last_http_version(c), CURL_HTTP_VERSION_1_1);
    assert_int_equal(kube_get(c, &CONFIGMAPS, "default", "h1", NULL, &out, &err), 0);
    json_decref(out);
    assert_int_equal(kube_client_last_http_version(c), CURL_HTTP_VERSION_1_1);
    assert_int_equal(kube_client_connections_opened(c), 1);
    kube_client_free(c);
    env_free(&e);

    env_start(&e, 0, TOKEN); /* the server's default: HTTP/1.1 only */
    c = env_client(&e, 0);
    create_cm(c, "h1", "v");
    assert_int_equal(kube_client_last_http_version(c), CURL_HTTP_VERSION_1_1);
    assert_int_equal(kube_get(c, &CONFIGMAPS, "default", "h1", NULL, &out, &err), 0);
    assert_string_equal(data(out, "k"), "v");
    json_decref(out);
    assert_int_equal(kube_client_last_http_version(c), CURL_HTTP_VERSION_1_1);
    assert_int_equal(kube_client_connections_opened(c), 1); /* HTTP/1.1 keep-alive */
    kube_client_free(c);
    env_free(&e);
}

/* A wrong token is a 401 over HTTP/2 too, mapped to PB_EUNAUTHORIZED. */
static void test_unauthorized_over_h2(void **state)
{
    (void)state;
    env e;
    env_start(&e, 1, "not-the-token");
    kube_client *c = env_client(&e, 0);
    kube_status st = {0};
    kube_request_opts o = {.status = &st};
    json_t *out = NULL;
    pb_err err;
    assert_int_equal(kube_get(c, &CONFIGMAPS, "default", "x", &o, &out, &err), PB_EUNAUTHORIZED);
    assert_null(out);
    assert_int_equal(st.code, 401);
    assert_h2(c);
    kube_status_clear(&st);
    kube_client_free(c);
    env_free(&e);
}

/* create, get, list pages, update (and a stale one), merge patch, apply,
 * delete, the 404 after it, over HTTP/2. */
static void test_crud_verbs_over_h2(void **state)
{
    (void)state;
    env e;
    env_start(&e, 1, TOKEN);
    kube_client *c = env_client(&e, 0);
    pb_err err;
    kube_status st = {0};
    kube_request_opts so = {.status = &st};
    json_t *obj = configmap("a", "k", "v1"), *out = NULL;

    /* create, and create again */
    assert_int_equal(kube_create(c, &CONFIGMAPS, "default", obj, NULL, &out, &err), 0);
    assert_h2(c);
    assert_string_equal(meta(out, "name"), "a");
    assert_non_null(meta(out, "uid"));
    assert_non_null(meta(out, "resourceVersion"));
    json_decref(out);
    assert_int_equal(kube_create(c, &CONFIGMAPS, "default", obj, &so, &out, &err), PB_EEXIST);
    assert_null(out);
    assert_int_equal(st.code, 409);
    assert_string_equal(st.reason, "AlreadyExists");
    json_decref(obj);

    /* get */
    json_t *a1 = NULL;
    assert_int_equal(kube_get(c, &CONFIGMAPS, "default", "a", NULL, &a1, &err), 0);
    assert_string_equal(data(a1, "k"), "v1");
    assert_h2(c);

    /* list with limit/continue: 5 objects in pages of 2, 2 and 1 */
    const char *more[] = {"b", "c", "d", "e"};
    for (int i = 0; i < 4; i++)
        create_cm(c, more[i], "x");
    char seen[8] = "";
    char *token = NULL;
    for (int page = 0; page < 3; page++) {
        kube_request_opts lo = {.limit = 2, .continue_token = token};
        json_t *list = NULL;
        if (kube_list(c, &CONFIGMAPS, "default", &lo, &list, &err) != 0)
            fail_msg("list page %d: %s", page, err.msg);
        assert_h2(c);
        json_t *items = json_object_get(list, "items");
        assert_int_equal(json_array_size(items), page < 2 ? 2 : 1);
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it) strncat(seen, meta(it, "name"), 1);
        const char *cont = meta(list, "continue");
        free(token);
        token = cont && *cont ? strdup(cont) : NULL;
        assert_true(page < 2 ? token != NULL : token == NULL);
        json_decref(list);
    }
    assert_string_equal(seen, "abcde");
    kube_request_opts lo = {.limit = 2};
    assert_int_equal(kube_list_all(c, &CONFIGMAPS, "default", &lo, &out, &err), 0);
    assert_int_equal(json_array_size(json_object_get(out, "items")), 5);
    assert_null(meta(out, "continue"));
    json_decref(out);
    /* a made-up continue token is a 400 Status */
    kube_request_opts bad = {.limit = 2, .continue_token = "garbage", .status = &st};
    assert_int_equal(kube_list(c, &CONFIGMAPS, "default", &bad, &out, &err), PB_EINVAL);
    assert_int_equal(st.code, 400);

    /* update, then the same update from the now stale copy */
    json_t *a2 = json_deep_copy(a1);
    json_object_set_new(json_object_get(a2, "data"), "k", json_string("v2"));
    assert_int_equal(kube_update(c, &CONFIGMAPS, "default", a2, NULL, &out, &err), 0);
    assert_string_equal(data(out, "k"), "v2");
    assert_string_not_equal(meta(out, "resourceVersion"), meta(a1, "resourceVersion"));
    json_decref(out);
    json_object_set_new(json_object_get(a1, "data"), "k", json_string("stale"));
    assert_int_equal(kube_update(c, &CONFIGMAPS, "default", a1, &so, &out, &err), PB_ECONFLICT);
    assert_null(out);
    assert_int_equal(st.code, 409);
    assert_string_equal(st.reason, "Conflict");
    assert_non_null(strstr(err.msg, "update configmaps default/a: 409 Conflict"));
    assert_h2(c);
    json_decref(a1);
    json_decref(a2);

    /* merge patch: set one key, remove another */
    json_t *patch = json_pack("{s:{s:s, s:n}}", "data", "k2", "p", "k");
    assert_int_equal(kube_patch(c, &CONFIGMAPS, "default", "a", KUBE_PATCH_MERGE, patch, NULL, &out, &err), 0);
    assert_string_equal(data(out, "k2"), "p");
    assert_null(data(out, "k"));
    assert_h2(c);
    json_decref(out);
    json_decref(patch);

    /* server-side apply: creates, records the manager, conflicts with
     * another manager unless forced */
    json_t *applied = configmap("applied", "k", "mine");
    kube_request_opts ao = {.field_manager = "h2-test"};
    assert_int_equal(kube_patch(c, &CONFIGMAPS, "default", "applied", KUBE_PATCH_APPLY, applied, &ao, &out, &err), 0);
    assert_string_equal(data(out, "k"), "mine");
    json_t *mf = json_object_get(json_object_get(out, "metadata"), "managedFields");
    assert_string_equal(json_string_value(json_object_get(json_array_get(mf, 0), "manager")), "h2-test");
    assert_h2(c);
    json_decref(out);
    json_decref(applied);
    applied = configmap("applied", "k", "theirs");
    kube_request_opts other = {.field_manager = "other", .status = &st};
    assert_int_equal(kube_patch(c, &CONFIGMAPS, "default", "applied", KUBE_PATCH_APPLY, applied, &other, &out, &err),
                     PB_ECONFLICT);
    assert_int_equal(st.code, 409);
    other.force = 1;
    assert_int_equal(kube_patch(c, &CONFIGMAPS, "default", "applied", KUBE_PATCH_APPLY, applied, &other, &out, &err),
                     0);
    assert_string_equal(data(out, "k"), "theirs");
    json_decref(out);
    json_decref(applied);

    /* delete, then everything about it is a 404 parsed from the Status */
    assert_int_equal(kube_delete(c, &CONFIGMAPS, "default", "a", NULL, &out, &err), 0);
    json_decref(out);
    assert_h2(c);
    assert_int_equal(kube_get(c, &CONFIGMAPS, "default", "a", &so, &out, &err), PB_ENOTFOUND);
    assert_null(out);
    assert_int_equal(st.code, 404);
    assert_string_equal(st.reason, "NotFound");
    assert_string_equal(st.message, "configmaps \"a\" not found");
    assert_string_equal(err.msg, "get configmaps default/a: 404 NotFound: configmaps \"a\" not found");
    assert_h2(c);
    assert_int_equal(kube_delete(c, &CONFIGMAPS, "default", "a", &so, &out, &err), PB_ENOTFOUND);
    assert_int_equal(st.code, 404);
    /* creating in a namespace that does not exist */
    json_t *lost = configmap("x", "k", "v");
    json_object_set_new(json_object_get(lost, "metadata"), "namespace", json_string("nope"));
    assert_int_equal(kube_create(c, &CONFIGMAPS, NULL, lost, &so, &out, &err), PB_ENOTFOUND);
    assert_int_equal(st.code, 404);
    json_decref(lost);

    /* one connection carried all of it */
    assert_int_equal(kube_client_connections_opened(c), 1);
    kube_status_clear(&st);
    free(token);
    kube_client_free(c);
    env_free(&e);
}

/* The status subresource writes status only; the main resource ignores
 * status. */
static void test_status_subresource_over_h2(void **state)
{
    (void)state;
    env e;
    env_start(&e, 1, TOKEN);
    kube_client *c = env_client(&e, 0);
    pb_err err;
    json_t *dep = json_pack("{s:s, s:s, s:{s:s}, s:{s:i, s:{s:{s:s}}, s:{s:{s:{s:s}}, s:{s:[{s:s, s:s}]}}}}",
                            "apiVersion", "apps/v1", "kind", "Deployment", "metadata", "name", "web", "spec",
                            "replicas", 1, "selector", "matchLabels", "app", "web", "template", "metadata", "labels",
                            "app", "web", "spec", "containers", "name", "c", "image", "nginx");
    json_t *out = NULL;
    if (kube_create(c, &DEPLOYMENTS, "default", dep, NULL, &out, &err) != 0)
        fail_msg("create deployment: %s", err.msg);
    json_decref(dep);

    /* PUT .../status: status changes, the spec change in the same body does not */
    json_t *next = json_deep_copy(out);
    json_decref(out);
    json_object_set_new(next, "status", json_pack("{s:i, s:i}", "replicas", 1, "readyReplicas", 1));
    json_object_set_new(json_object_get(next, "spec"), "replicas", json_integer(5));
    kube_request_opts so = {.subresource = "status"};
    assert_int_equal(kube_update(c, &DEPLOYMENTS, "default", next, &so, &out, &err), 0);
    assert_h2(c);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(out, "status"), "readyReplicas")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(out, "spec"), "replicas")), 1);
    json_decref(out);
    json_decref(next);

    /* merge patch of status */
    json_t *patch = json_pack("{s:{s:i}}", "status", "availableReplicas", 1);
    assert_int_equal(kube_patch(c, &DEPLOYMENTS, "default", "web", KUBE_PATCH_MERGE, patch, &so, &out, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(out, "status"), "availableReplicas")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(out, "status"), "readyReplicas")), 1);
    json_decref(out);
    json_decref(patch);

    /* a write of the main resource keeps the stored status */
    patch = json_pack("{s:{s:i}, s:{s:i}}", "spec", "replicas", 3, "status", "readyReplicas", 0);
    assert_int_equal(kube_patch(c, &DEPLOYMENTS, "default", "web", KUBE_PATCH_MERGE, patch, NULL, &out, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(out, "spec"), "replicas")), 3);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(out, "status"), "readyReplicas")), 1);
    json_decref(out);
    json_decref(patch);

    /* the status of something that does not exist */
    kube_status st = {0};
    kube_request_opts nso = {.subresource = "status", .status = &st};
    assert_int_equal(kube_get(c, &DEPLOYMENTS, "default", "ghost", &nso, &out, &err), PB_ENOTFOUND);
    assert_int_equal(st.code, 404);
    assert_string_equal(st.reason, "NotFound");
    kube_status_clear(&st);
    kube_client_free(c);
    env_free(&e);
}

/* A watch streams ADDED, MODIFIED and DELETED as HTTP/2 DATA frames while
 * another client writes. */
static void test_watch_over_h2(void **state)
{
    (void)state;
    env e;
    env_start(&e, 1, TOKEN);
    kube_client *c = env_client(&e, 0);
    /* The watcher has a client of its own so that its last HTTP version is
     * the watch's. */
    watcher *w = calloc(1, sizeof *w);
    w->c = env_client(&e, 20000);
    w->stop_after = "DELETED";
    pb_err err;
    json_t *list = NULL;
    assert_int_equal(kube_list(c, &CONFIGMAPS, "default", NULL, &list, &err), 0);
    char rv[64];
    snprintf(rv, sizeof rv, "%s", meta(list, "resourceVersion"));
    json_decref(list);
    w->rv = rv; /* events after the list, even if the watch starts late */

    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_watch, w), 0);
    create_cm(c, "w", "one");
    /* the next changes reach a stream that is already flowing */
    assert_true(wait_for(&w->nevents, 1));
    json_t *patch = json_pack("{s:{s:s}}", "data", "k", "two"), *out = NULL;
    assert_int_equal(kube_patch(c, &CONFIGMAPS, "default", "w", KUBE_PATCH_MERGE, patch, NULL, &out, &err), 0);
    json_decref(out);
    json_decref(patch);
    assert_int_equal(kube_delete(c, &CONFIGMAPS, "default", "w", NULL, NULL, &err), 0);
    join_or_fail(th, &w->stop);

    if (w->rc != 0)
        fail_msg("watch: %s", w->err.msg);
    assert_int_equal(atomic_load(&w->nevents), 3);
    const char *types[] = {"ADDED", "MODIFIED", "DELETED"}, *vals[] = {"one", "two", "two"};
    for (int i = 0; i < 3; i++) {
        assert_string_equal(w->types[i], types[i]);
        assert_string_equal(w->names[i], "w");
        assert_string_equal(w->vals[i], vals[i]);
    }
    assert_int_equal(kube_client_last_http_version(w->c), CURL_HTTP_VERSION_2_0);

    /* a watch from a resourceVersion that fell out of the server's window
     * (100 events) is 410 Gone: PB_EGONE, relist. w->rv is still the
     * first watch's, 103 events back once these are made. */
    for (int i = 0; i < 100; i++) {
        char name[16];
        snprintf(name, sizeof name, "g%d", i);
        create_cm(c, name, "x");
    }
    w->stop_after = NULL;
    atomic_store(&w->nevents, 0);
    run_watch(w);
    assert_int_equal(w->rc, PB_EGONE);
    assert_int_equal(w->st.code, 410);
    assert_int_equal(atomic_load(&w->nevents), 0);
    assert_int_equal(kube_client_last_http_version(w->c), CURL_HTTP_VERSION_2_0);
    kube_status_clear(&w->st);
    kube_client_free(w->c);
    kube_client_free(c);
    free(w);
    env_free(&e);
}

/* One thread of concurrent gets. */
typedef struct getter {
    kube_client *c;
    int ok;
} getter;

static void *get_many(void *ud)
{
    getter *g = ud;
    for (int i = 0; i < 25; i++) {
        json_t *out = NULL;
        pb_err err;
        if (kube_get(g->c, &CONFIGMAPS, "default", "shared", NULL, &out, &err) == 0 && str_is(data(out, "k"), "v"))
            g->ok++;
        json_decref(out);
    }
    return NULL;
}

/* Many requests with one client share its connection: 200 sequential gets
 * open one, 4 threads open at most one each, and all succeed over HTTP/2. */
static void test_requests_reuse_connection(void **state)
{
    (void)state;
    env e;
    env_start(&e, 1, TOKEN);
    kube_client *c = env_client(&e, 0);
    create_cm(c, "shared", "v");
    assert_int_equal(kube_client_connections_opened(c), 1);
    int ok = 0, h2 = 0;
    for (int i = 0; i < 200; i++) {
        json_t *out = NULL;
        pb_err err;
        if (kube_get(c, &CONFIGMAPS, "default", "shared", NULL, &out, &err) == 0 && str_is(data(out, "k"), "v"))
            ok++;
        h2 += kube_client_last_http_version(c) == CURL_HTTP_VERSION_2_0;
        json_decref(out);
    }
    assert_int_equal(ok, 200);
    assert_int_equal(h2, 200);
    assert_int_equal(kube_client_connections_opened(c), 1);

    /* concurrent: each thread borrows its own curl handle, so at most one
     * new connection per thread */
    enum { NTHREADS = 4 };
    pthread_t th[NTHREADS];
    getter g[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        g[i] = (getter){.c = c};
        assert_int_equal(pthread_create(&th[i], NULL, get_many, &g[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(g[i].ok, 25);
    }
    unsigned long opened = kube_client_connections_opened(c);
    assert_true(opened >= 1 && opened <= 1 + NTHREADS);
    assert_h2(c);
    /* and the pooled handles keep their connections for later requests */
    for (int i = 0; i < 20; i++) {
        json_t *out = NULL;
        pb_err err;
        assert_int_equal(kube_get(c, &CONFIGMAPS, "default", "shared", NULL, &out, &err), 0);
        json_decref(out);
    }
    assert_int_equal(kube_client_connections_opened(c), opened);
    kube_client_free(c);
    env_free(&e);
}

/* The server goes away while a watch streams: the watch ends promptly with
 * an error (not 0, which would read as a normal timeout, and not a hang),
 * and the next request fails fast. */
static void test_server_stop_mid_watch(void **state)
{
    (void)state;
    env e;
    env_start(&e, 1, TOKEN);
    kube_client *c = env_client(&e, 0);
    watcher *w = calloc(1, sizeof *w);
    w->c = env_client(&e, 20000); /* far beyond the join timeout */
    pb_err err;
    json_t *list = NULL;
    assert_int_equal(kube_list(c, &CONFIGMAPS, "default", NULL, &list, &err), 0);
    char rv[64];
    snprintf(rv, sizeof rv, "%s", meta(list, "resourceVersion"));
    json_decref(list);
    w->rv = rv;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_watch, w), 0);
    create_cm(c, "before-stop", "v");
    assert_h2(c);
    assert_true(wait_for(&w->nevents, 1)); /* the stream is up */

    double t0 = now_s();
    env_stop_server(&e);
    join_or_fail(th, &w->stop);
    double took = now_s() - t0;
    if (w->rc == 0)
        fail_msg("watch ended without an error after the server stopped");
    assert_int_equal(w->rc, PB_EUNAVAILABLE);
    assert_non_null(strstr(w->err.msg, "watch configmaps default"));
    assert_true(took < 5.0);
    assert_int_equal(atomic_load(&w->nevents), 1);
    assert_string_equal(w->types[0], "ADDED");
    assert_int_equal(kube_client_last_http_version(w->c), CURL_HTTP_VERSION_2_0);

    /* nothing listens any more */
    json_t *out = NULL;
    assert_int_equal(kube_get(c, &CONFIGMAPS, "default", "before-stop", NULL, &out, &err), PB_EUNAVAILABLE);
    assert_null(out);
    kube_status_clear(&w->st);
    kube_client_free(w->c);
    free(w);
    kube_client_free(c);
    env_free(&e);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* a peer closing mid-write must not kill the test */
    pb_log_configure(PB_LOG_ERROR, PB_LOG_TEXT, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_negotiates_h2_or_falls_back),
        cmocka_unit_test(test_unauthorized_over_h2),
        cmocka_unit_test(test_crud_verbs_over_h2),
        cmocka_unit_test(test_status_subresource_over_h2),
        cmocka_unit_test(test_watch_over_h2),
        cmocka_unit_test(test_requests_reuse_connection),
        cmocka_unit_test(test_server_stop_mid_watch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
