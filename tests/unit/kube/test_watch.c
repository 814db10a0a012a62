/* Unit tests for watches: the stream decoder (events split at every
 * possible boundary, huge events, ERROR events, malformed lines) and
 * kube_watch over HTTP against the fake API server (chunked delivery,
 * bookmarks, 410 as an event and as a status, a hung stream ended by the
 * stop flag or the idle guard). */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "fakeapi.h"
#include "kube/client.h"

static const kube_gvr TENANTS = {"paybill.dev", "v1alpha1", "tenants"};

/* Events seen, as "TYPE:name" (BOOKMARK: "BOOKMARK:<resourceVersion>"). */
typedef struct rec {
    char ev[16][64];
    int n;
    int stop_after; /* return non-zero after this many events; 0 = never */
    size_t biggest; /* largest spec.blob seen */
} rec;

static int on_event(void *ud, const char *type, json_t *obj)
{
    rec *r = ud;
    json_t *meta = json_object_get(obj, "metadata");
    const char *id = json_string_value(json_object_get(meta, strcmp(type, "BOOKMARK") ? "name" : "resourceVersion"));
    const char *blob = json_string_value(json_object_get(json_object_get(obj, "spec"), "blob"));
    if (blob && strlen(blob) > r->biggest)
        r->biggest = strlen(blob);
    if (r->n < 16)
        snprintf(r->ev[r->n], sizeof r->ev[0], "%s:%s", type, id ? id : "?");
    r->n++;
    return r->stop_after && r->n >= r->stop_after;
}

static const char STREAM[] =
    "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Tenant\",\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"11\"}}}\n"
    "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Tenant\",\"metadata\":{\"name\":\"b\"}}}\r\n"
    "\n"
    "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Tenant\",\"apiVersion\":\"paybill.dev/v1alpha1\","
    "\"metadata\":{\"resourceVersion\":\"12\"}}}\n"
    "{\"type\":\"DELETED\",\"object\":{\"kind\":\"Tenant\",\"metadata\":{\"name\":\"c\"}}}\n";

static void check_stream(const rec *r)
{
    assert_int_equal(r->n, 4);
    assert_string_equal(r->ev[0], "ADDED:a");
    assert_string_equal(r->ev[1], "MODIFIED:b");
    assert_string_equal(r->ev[2], "BOOKMARK:12");
    assert_string_equal(r->ev[3], "DELETED:c");
}

/* --------------------------------------------------------------- decoder */

static void test_decoder_every_split(void **state)
{
    size_t len = strlen(STREAM);
    /* Every two- and three-piece split of the stream gives the same events. */
    for (size_t i = 0; i <= len; i++) {
        for (size_t j = i; j <= len; j++) {
            kube_watch_decoder *d = kube_watch_decoder_new(0);
            rec r = {0};
            assert_int_equal(kube_watch_decoder_feed(d, STREAM, i, on_event, &r, NULL, NULL), 0);
            assert_int_equal(kube_watch_decoder_feed(d, STREAM + i, j - i, on_event, &r, NULL, NULL), 0);
            assert_int_equal(kube_watch_decoder_feed(d, STREAM + j, len - j, on_event, &r, NULL, NULL), 0);
            assert_int_equal(kube_watch_decoder_finish(d, on_event, &r, NULL, NULL), 0);
            if (r.n != 4)
                fail_msg("split at %zu/%zu: %d events", i, j, r.n);
            check_stream(&r);
            assert_int_equal(kube_watch_decoder_events(d), 4);
            kube_watch_decoder_free(d);
        }
    }
    /* One byte at a time. */
    kube_watch_decoder *d = kube_watch_decoder_new(0);
    rec r = {0};
    for (size_t i = 0; i < len; i++)
        assert_int_equal(kube_watch_decoder_feed(d, STREAM + i, 1, on_event, &r, NULL, NULL), 0);
    check_stream(&r);
    kube_watch_decoder_free(d);
}

static void test_decoder_last_line_without_newline(void **state)
{
    kube_watch_decoder *d = kube_watch_decoder_new(0);
    rec r = {0};
    const char *s = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"x\"}}}";
    assert_int_equal(kube_watch_decoder_feed(d, s, strlen(s), on_event, &r, NULL, NULL), 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(kube_watch_decoder_finish(d, on_event, &r, NULL, NULL), 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.ev[0], "ADDED:x");
    kube_watch_decoder_free(d);
}

static char *huge_event(size_t blob, const char *name)
{
    char *s = malloc(blob + 256);
    int n = sprintf(s, "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"%s\"},\"spec\":{\"blob\":\"", name);
    memset(s + n, 'x', blob);
    strcpy(s + n + blob, "\"}}}\n");
    return s;
}

static void test_decoder_huge_event(void **state)
{
    char *ev = huge_event(3u << 20, "big");
    size_t len = strlen(ev);
    kube_watch_decoder *d = kube_watch_decoder_new(0);
    rec r = {0};
    for (size_t off = 0; off < len; off += 4096) {
        size_t n = len - off < 4096 ? len - off : 4096;
        assert_int_equal(kube_watch_decoder_feed(d, ev + off, n, on_event, &r, NULL, NULL), 0);
    }
    assert_int_equal(r.n, 1);
    assert_int_equal(r.biggest, 3u << 20);
    kube_watch_decoder_free(d);

    /* Over the bound: refused, not buffered forever. */
    d = kube_watch_decoder_new(1000);
    pb_err e = {0};
    r.n = 0;
    assert_int_equal(kube_watch_decoder_feed(d, ev, 2000, on_event, &r, NULL, &e), PB_ETOOLARGE);
    assert_int_equal(r.n, 0);
    kube_watch_decoder_free(d);
    free(ev);
}

/* The object one event line decodes to, with managedFields dropped. */
static json_t *last_object;
static int keep_object(void *ud, const char *type, json_t *obj)
{
    (void)ud, (void)type;
    json_decref(last_object);
    last_object = json_incref(obj);
    return 0;
}

static json_t *decode_dropping(const char *line)
{
    kube_watch_decoder *d = kube_watch_decoder_new(0);
    kube_watch_decoder_drop_managed_fields(d, 1);
    last_object = NULL;
    pb_err e = {0};
    int rc = kube_watch_decoder_feed(d, line, strlen(line), keep_object, NULL, NULL, &e);
    kube_watch_decoder_free(d);
    if (rc != 0) {
        json_decref(last_object);
        last_object = NULL;
    }
    return last_object;
}

/* Each case: an event line, and what its object must decode to. */
static void test_decoder_drops_managed_fields(void **state)
{
    static const char *const cases[][2] = {
        /* in the middle, first, last, the only member */
        {"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"managedFields\":[{\"manager\":\"x\","
         "\"fieldsV1\":{\"f:spec\":{}}}],\"uid\":\"u\"},\"spec\":{}}}\n",
         "{\"metadata\":{\"name\":\"a\",\"uid\":\"u\"},\"spec\":{}}"},
        {"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"managedFields\":[],\"name\":\"a\"}}}\n",
         "{\"metadata\":{\"name\":\"a\"}}"},
        {"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\" , \"managedFields\" : [ {} ] }}}\n",
         "{\"metadata\":{\"name\":\"a\"}}"},
        {"{\"object\":{\"metadata\":{\"managedFields\":[{\"a\":\"}]\\\"{[\"}]}},\"type\":\"MODIFIED\"}\n",
         "{\"metadata\":{}}"},
        /* braces, brackets and quotes inside strings; the same key in spec
         * and as a value is kept */
        {"{\"type\":\"ADDED\",\"object\":{\"spec\":{\"managedFields\":\"k}e]e\\\"p\",\"n\":[1,{\"x\":null}]},"
         "\"metadata\":{\"labels\":{\"a\":\"{\\\\\"},\"name\":\"managedFields\",\"managedFields\":[{\"m\":\"\\\"]}\"}]}}}\n",
         "{\"spec\":{\"managedFields\":\"k}e]e\\\"p\",\"n\":[1,{\"x\":null}]},\"metadata\":{\"labels\":{\"a\":\"{\\\\\"},"
         "\"name\":\"managedFields\"}}"},
        /* nothing to cut: unchanged */
        {"{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"9\"}}}\n",
         "{\"metadata\":{\"resourceVersion\":\"9\"}}"},
        /* an escaped key is not recognised: decoded whole, as before */
        {"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"managed\\u0046ields\":[],\"name\":\"a\"}}}\n",
         "{\"metadata\":{\"managedFields\":[],\"name\":\"a\"}}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *got = decode_dropping(cases[i][0]), *want = json_loads(cases[i][1], 0, NULL);
        assert_non_null(want);
        if (!got || !json_equal(got, want)) {
            char *g = got ? json_dumps(got, JSON_COMPACT) : NULL;
            fail_msg("case %zu: got %s", i, g ? g : "(no event)");
        }
        json_decref(got);
        json_decref(want);
    }
    /* Malformed lines stay malformed: the decoder still reports them. */
    static const char *const bad[] = {
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"managedFields\":[{\"a\":\"unterminated}]}}}\n",
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"managedFields\":}}}\n",
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"managedFields\":[[[]]}}}\n",
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"managedFields\":[{]}}}\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *got = decode_dropping(bad[i]);
        if (got)
            fail_msg("malformed case %zu decoded", i);
    }
    /* Off (the default): managedFields arrives. */
    kube_watch_decoder *d = kube_watch_decoder_new(0);
    last_object = NULL;
    assert_int_equal(kube_watch_decoder_feed(d, cases[0][0], strlen(cases[0][0]), keep_object, NULL, NULL, NULL), 0);
    assert_non_null(json_object_get(json_object_get(last_object, "metadata"), "managedFields"));
    json_decref(last_object);
    kube_watch_decoder_free(d);
}

static void test_decoder_error_events(void **state)
{
    const char *s =
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n"
        "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
        "\"message\":\"too old resource version: 5 (90)\",\"reason\":\"Expired\",\"code\":410}}\n"
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"never\"}}}\n";
    kube_watch_decoder *d = kube_watch_decoder_new(0);
    rec r = {0};
    kube_status st = {0};
    pb_err e = {0};
    assert_int_equal(kube_watch_decoder_feed(d, s, strlen(s), on_event, &r, &st, &e), PB_EGONE);
    assert_int_equal(r.n, 1); /* nothing after the ERROR is delivered */
    assert_int_equal(st.code, 410);
    assert_string_equal(st.reason, "Expired");
    assert_non_null(strstr(e.msg, "410 Expired: too old resource version: 5 (90)"));
    kube_status_clear(&st);
    kube_watch_decoder_free(d);

    struct {
        const char *line;
        int want;
    } cases[] = {
        {"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"reason\":\"Forbidden\",\"code\":403}}\n", PB_EFORBIDDEN},
        {"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"reason\":\"InternalError\",\"code\":500}}\n",
         PB_EUNAVAILABLE},
        {"{\"type\":\"ERROR\",\"object\":{\"weird\":true}}\n", PB_EIO},
        {"{\"type\":\"ADDED\",\"object\":{\"a\":1}\n", PB_EPARSE},
        {"{\"type\":\"ADDED\"}\n", PB_EPARSE},
        {"{\"type\":7,\"object\":{}}\n", PB_EPARSE},
        {"[1,2,3]\n", PB_EPARSE},
        {"<html>proxy error</html>\n", PB_EPARSE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        d = kube_watch_decoder_new(0);
        r.n = 0;
        int rc = kube_watch_decoder_feed(d, cases[i].line, strlen(cases[i].line), on_event, &r, NULL, &e);
        if (rc != cases[i].want)
            fail_msg("case %zu: got %s want %s (%s)", i, pb_err_name(rc), pb_err_name(cases[i].want), e.msg);
        assert_int_equal(r.n, 0);
        kube_watch_decoder_free(d);
    }
}

static void test_decoder_callback_stops(void **state)
{
    kube_watch_decoder *d = kube_watch_decoder_new(0);
    rec r = {.stop_after = 2};
    assert_int_equal(kube_watch_decoder_feed(d, STREAM, strlen(STREAM), on_event, &r, NULL, NULL), 1);
    assert_int_equal(r.n, 2);
    kube_watch_decoder_free(d);
}

/* ------------------------------------------------------------- over HTTP */

typedef struct fixture {
    char *dir;
    fa_server *srv;
    kube_client *c;
} fixture;

static kube_client *make_client(fixture *f, long idle_ms)
{
    char url[128], yaml[1024];
    snprintf(yaml, sizeof yaml,
             "current-context: t\ncontexts:\n- name: t\n  context: {cluster: k, user: u}\n"
             "clusters:\n- name: k\n  cluster: {server: '%s'}\nusers:\n- name: u\n  user: {token: w}\n",
             fa_url(f->srv, url, sizeof url));
    char *p = tu_write_file(f->dir, "kubeconfig", yaml);
    kube_config_options o = {.kubeconfig = p};
    kube_config *cfg = NULL;
    assert_int_equal(kube_config_load(&o, &cfg, NULL), 0);
    kube_client_options opt = {.qps = 1000, .burst = 1000, .watch_idle_ms = idle_ms};
    kube_client *c = NULL;
    assert_int_equal(kube_client_new(cfg, &opt, &c, NULL), 0);
    kube_config_free(cfg);
    free(p);
    return c;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = tu_tmpdir();
    f->srv = fa_start(NULL);
    f->c = make_client(f, 0);
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

static void test_watch_chunked_stream(void **state)
{
    fixture *f = *state;
    size_t chunks[] = {1, 7, 64, 4096};
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        fa_resp resp = {.body = STREAM, .chunk = chunks[i], .chunk_delay_ms = chunks[i] == 7 ? 1 : 0};
        fa_push(f->srv, &resp);
        rec r = {0};
        pb_err e = {0};
        kube_request_opts o = {.resource_version = "10", .allow_watch_bookmarks = 1, .timeout_seconds = 30,
                               .label_selector = "tier=gold"};
        int rc = kube_watch(f->c, &TENANTS, "ns", &o, on_event, &r, NULL, &e);
        if (rc != 0)
            fail_msg("chunk %zu: %s", chunks[i], e.msg);
        check_stream(&r);
    }
    const fa_req *q = fa_req_at(f->srv, 0);
    char h[64];
    assert_string_equal(q->target, "/apis/paybill.dev/v1alpha1/namespaces/ns/tenants?watch=1&labelSelector=tier%3Dgold"
                                   "&resourceVersion=10&timeoutSeconds=30&allowWatchBookmarks=true");
    assert_string_equal(fa_header(q, "Authorization", h, sizeof h), "Bearer w");

    json_t *stats = NULL;
    kube_client_stats(f->c, &stats);
    json_t *s0 = json_array_get(stats, 0);
    assert_string_equal(json_string_value(json_object_get(s0, "verb")), "WATCH");
    assert_int_equal(json_integer_value(json_object_get(s0, "count")), 4);
    json_decref(stats);
}

static void test_watch_huge_event(void **state)
{
    fixture *f = *state;
    char *ev = huge_event((3u << 20) / 2, "big");
    size_t n = strlen(ev);
    char *body = malloc(n + strlen(STREAM) + 1);
    memcpy(body, ev, n);
    strcpy(body + n, STREAM);
    fa_resp resp = {.body = body, .chunk = 65536};
    fa_push(f->srv, &resp);
    rec r = {0};
    pb_err e = {0};
    assert_int_equal(kube_watch(f->c, &TENANTS, NULL, NULL, on_event, &r, NULL, &e), 0);
    assert_int_equal(r.n, 5);
    assert_string_equal(r.ev[0], "ADDED:big");
    assert_int_equal(r.biggest, (3u << 20) / 2);
    free(body);
    free(ev);
}

static void test_watch_error_event_410(void **state)
{
    fixture *f = *state;
    fa_resp resp = {.chunk = 100,
                    .body = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                            "\"status\":\"Failure\",\"message\":\"too old resource version: 1 (50)\","
                            "\"reason\":\"Expired\",\"code\":410}}\n"};
    fa_push(f->srv, &resp);
    rec r = {0};
    pb_err e = {0};
    kube_status st = {0};
    kube_request_opts o = {.resource_version = "1", .status = &st};
    assert_int_equal(kube_watch(f->c, &TENANTS, "ns", &o, on_event, &r, NULL, &e), PB_EGONE);
    assert_int_equal(r.n, 0);
    assert_int_equal(st.code, 410);
    assert_non_null(strstr(e.msg, "watch tenants.paybill.dev ns: ERROR event: 410 Expired: too old"));
    kube_status_clear(&st);
}

static void test_watch_http_errors(void **state)
{
    fixture *f = *state;
    fa_push_json(f->srv, 410, "{\"kind\":\"Status\",\"reason\":\"Expired\",\"message\":\"gone\",\"code\":410}");
    fa_push_json(f->srv, 403, "{\"kind\":\"Status\",\"reason\":\"Forbidden\",\"code\":403,"
                              "\"message\":\"tenants.paybill.dev is forbidden: User \\\"x\\\" cannot watch\"}");
    rec r = {0};
    pb_err e = {0};
    assert_int_equal(kube_watch(f->c, &TENANTS, NULL, NULL, on_event, &r, NULL, &e), PB_EGONE);
    assert_int_equal(kube_watch(f->c, &TENANTS, NULL, NULL, on_event, &r, NULL, &e), PB_EFORBIDDEN);
    assert_string_equal(e.msg, "watch tenants.paybill.dev: 403 Forbidden: tenants.paybill.dev is forbidden: "
                               "User \"x\" cannot watch");
    assert_int_equal(r.n, 0);
    /* A malformed stream is reported, not skipped. */
    fa_resp bad = {.body = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\nnot json\n", .chunk = 10};
    fa_push(f->srv, &bad);
    assert_int_equal(kube_watch(f->c, &TENANTS, NULL, NULL, on_event, &r, NULL, &e), PB_EPARSE);
    assert_int_equal(r.n, 1);
}

/* Sets *flag after flag_ms; then, with fd, makes fd readable at wake_ms. */
typedef struct stopper {
    atomic_int *flag;
    int flag_ms;
    int fd, wake_ms; /* fd 0: none */
} stopper;

static void *stop_later(void *arg)
{
    stopper *s = arg;
    fa_sleep_ms(s->flag_ms);
    atomic_store(s->flag, 1);
    if (s->fd > 0) {
        fa_sleep_ms(s->wake_ms - s->flag_ms);
        uint64_t one = 1;
        assert_int_equal(write(s->fd, &one, sizeof one), (ssize_t)sizeof one);
    }
    return NULL;
}

/* A watch whose stream hangs after one event, stopped by s; the seconds
 * kube_watch took, the events it handed over in *events. */
static double hung_watch(fixture *f, stopper *s, const kube_request_opts *o, int *events)
{
    fa_resp resp = {.body = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n", .chunk = 4096,
                    .hang = 1};
    fa_push(f->srv, &resp);
    pthread_t t;
    pthread_create(&t, NULL, stop_later, s);
    rec r = {0};
    pb_err e = {0};
    double t0 = tu_now();
    assert_int_equal(kube_watch(f->c, &TENANTS, NULL, o, on_event, &r, s->flag, &e), 0);
    double dt = tu_now() - t0;
    pthread_join(t, NULL);
    *events = r.n;
    return dt;
}

static void test_watch_hung_stream_stop_flag(void **state)
{
    fixture *f = *state;
    atomic_int stop = 0;
    stopper s = {.flag = &stop, .flag_ms = 300};
    int n = 0;
    double dt = hung_watch(f, &s, NULL, &n);
    assert_int_equal(n, 1);
    assert_true(dt >= 0.25);
    assert_true(dt < 2.0); /* polled every 100 ms; slack for a loaded CI */

    /* Already set: returns at once. */
    assert_true(hung_watch(f, &s, NULL, &n) < 2.0);
}

/* With a wake descriptor an idle watch does not wake every 100 ms to read
 * *stop: the flag alone (at 400 ms, after curl's own one-off 200 ms timer)
 * is not seen, the descriptor (at 1 s) is, at once. */
static void test_watch_hung_stream_wake_fd(void **state)
{
    fixture *f = *state;
    atomic_int stop = 0;
    int fd = eventfd(0, EFD_CLOEXEC);
    assert_true(fd > 0);
    stopper s = {.flag = &stop, .flag_ms = 400, .fd = fd, .wake_ms = 1000};
    kube_request_opts o = {.wake_fd = fd};
    int n = 0;
    double dt = hung_watch(f, &s, &o, &n);
    assert_int_equal(n, 1);
    assert_true(dt >= 0.95);
    assert_true(dt < 3.0);
    close(fd);
}

static void test_watch_hung_stream_idle_guard(void **state)
{
    fixture *f = *state;
    kube_client *c = make_client(f, 400);
    fa_resp resp = {.body = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n", .chunk = 4096,
                    .hang = 1};
    fa_push(f->srv, &resp);
    rec r = {0};
    pb_err e = {0};
    double t0 = tu_now();
    assert_int_equal(kube_watch(c, &TENANTS, NULL, NULL, on_event, &r, NULL, &e), PB_ETIMEOUT);
    double dt = tu_now() - t0;
    assert_int_equal(r.n, 1);
    assert_true(dt >= 0.35);
    assert_true(dt < 3.0);
    assert_non_null(strstr(e.msg, "no data for 400 ms"));
    kube_client_free(c);
}

static void test_watch_callback_stops(void **state)
{
    fixture *f = *state;
    /* The stream would hang after its events: stopping must not wait. */
    fa_resp resp = {.body = STREAM, .chunk = 4096, .hang = 1};
    fa_push(f->srv, &resp);
    rec r = {.stop_after = 3};
    pb_err e = {0};
    double t0 = tu_now();
    assert_int_equal(kube_watch(f->c, &TENANTS, NULL, NULL, on_event, &r, NULL, &e), 0);
    assert_int_equal(r.n, 3);
    assert_true(tu_now() - t0 < 2.0);
}

static void test_watch_connection_refused(void **state)
{
    fixture *f = *state;
    fa_server *keep = f->srv;
    f->srv = fa_start(NULL);
    kube_client *c = make_client(f, 0);
    fa_stop(f->srv);
    f->srv = keep;
    rec r = {0};
    pb_err e = {0};
    assert_int_equal(kube_watch(c, &TENANTS, NULL, NULL, on_event, &r, NULL, &e), PB_EUNAVAILABLE);
    assert_non_null(strstr(e.msg, "watch tenants.paybill.dev: "));
    kube_client_free(c);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decoder_every_split),
        cmocka_unit_test(test_decoder_last_line_without_newline),
        cmocka_unit_test(test_decoder_huge_event),
        cmocka_unit_test(test_decoder_error_events),
        cmocka_unit_test(test_decoder_drops_managed_fields),
        cmocka_unit_test(test_decoder_callback_stops),
        T(test_watch_chunked_stream),
        T(test_watch_huge_event),
        T(test_watch_error_event_410),
        T(test_watch_http_errors),
        T(test_watch_hung_stream_stop_flag),
        T(test_watch_hung_stream_wake_fd),
        T(test_watch_hung_stream_idle_guard),
        T(test_watch_callback_stops),
        T(test_watch_connection_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
