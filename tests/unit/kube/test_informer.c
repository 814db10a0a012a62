/* Unit tests for kube/informer, driven by a scripted informer_source:
 * initial list, watch events, bookmarks, 410 -> relist with the right
 * events, watch errors, resync, late handlers, stop; and once end to end
 * through informer_source_kube, the REST client and the fake API server. */
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fakeclient.h"
#include "kube/config.h"
#include "kube/informer.h"
#include "util/metrics.h"

/* --- scripted source ------------------------------------------------------- */

typedef struct fake_event {
    const char *type;
    const char *json;
} fake_event;

typedef struct fake_watch {
    fake_event ev[8];
    int rc; /* returned after the events */
} fake_watch;

#define MAXCALLS 16
typedef struct fake_src {
    const char *lists[4]; /* NULL entry = fail with list_rc */
    int list_rc;
    int nlists;
    fake_watch watches[4];
    int nwatches;
    pthread_mutex_t mu;
    int list_calls, watch_calls;
    char watch_rv[MAXCALLS][64];
    double watch_timeout[MAXCALLS];
    atomic_int idle; /* blocked in a watch past the script */
} fake_src;

/* A scripted list is one or more pages, one per line; a page starting
 * with '!' starts a new pass (a restarted list), and a line "FAIL" fails
 * the list with list_rc after the pages before it. */
static int fake_list(void *ud, informer_page_fn fn, void *fn_ud, pb_err *err)
{
    fake_src *f = ud;
    pthread_mutex_lock(&f->mu);
    int i = f->list_calls++;
    pthread_mutex_unlock(&f->mu);
    if (i >= f->nlists)
        i = f->nlists - 1;
    if (!f->lists[i])
        return pb_err_set(err, f->list_rc, "scripted list failure");
    int first = 1;
    for (const char *line = f->lists[i]; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (len == 4 && strncmp(line, "FAIL", 4) == 0)
            return pb_err_set(err, f->list_rc, "scripted list failure after some pages");
        if (*line == '!') {
            first = 1;
            line++;
            len--;
        }
        json_error_t je;
        json_t *page = json_loadb(line, len, 0, &je);
        assert_non_null(page);
        int stop = fn(fn_ud, page, first);
        json_decref(page);
        if (stop)
            return pb_err_set(err, PB_ECANCELED, "stopped");
        first = 0;
        line = nl ? nl + 1 : NULL;
    }
    return 0;
}

static int fake_watch_fn(void *ud, const char *rv, double timeout_s, informer_watch_fn fn, void *fn_ud,
                         const atomic_int *stop, pb_err *err)
{
    fake_src *f = ud;
    pthread_mutex_lock(&f->mu);
    int i = f->watch_calls++;
    if (i < MAXCALLS) {
        snprintf(f->watch_rv[i], sizeof f->watch_rv[i], "%s", rv);
        f->watch_timeout[i] = timeout_s;
    }
    pthread_mutex_unlock(&f->mu);
    if (i < f->nwatches) {
        const fake_watch *w = &f->watches[i];
        for (int j = 0; j < 8 && w->ev[j].type; j++) {
            json_error_t je;
            json_t *o = json_loads(w->ev[j].json, 0, &je);
            assert_non_null(o);
            int stopped = fn(fn_ud, w->ev[j].type, o);
            json_decref(o);
            if (stopped)
                return 0;
        }
        if (w->rc)
            return pb_err_set(err, w->rc, "scripted watch end %d", w->rc);
        return 0;
    }
    /* Script over: a quiet stream until stop or the requested timeout. */
    atomic_store(&f->idle, 1);
    double until = tu_now() + timeout_s;
    while (!atomic_load(stop) && tu_now() < until)
        usleep(2000);
    atomic_store(&f->idle, 0);
    return 0;
}

static informer_source source_of(fake_src *f)
{
    pthread_mutex_init(&f->mu, NULL);
    informer_source s = {.list = fake_list, .watch = fake_watch_fn, .free = NULL, .ud = f};
    return s;
}

/* --- recording handler ----------------------------------------------------- */

typedef struct rec {
    pthread_mutex_t mu;
    char log[64][96];
    int n;
} rec;

static const char *meta(json_t *o, const char *f)
{
    const char *s = json_string_value(json_object_get(json_object_get(o, "metadata"), f));
    return s ? s : "";
}

static void rec_push(rec *r, const char *line)
{
    pthread_mutex_lock(&r->mu);
    if (r->n < 64)
        snprintf(r->log[r->n++], 96, "%s", line);
    pthread_mutex_unlock(&r->mu);
}

static void on_add(void *ud, json_t *o)
{
    char b[96];
    snprintf(b, sizeof b, "add %s/%s %s", meta(o, "namespace"), meta(o, "name"), meta(o, "resourceVersion"));
    rec_push(ud, b);
}

static void on_update(void *ud, json_t *old, json_t *nw)
{
    char b[96];
    snprintf(b, sizeof b, "update %s/%s %s->%s", meta(nw, "namespace"), meta(nw, "name"),
             meta(old, "resourceVersion"), meta(nw, "resourceVersion"));
    rec_push(ud, b);
}

static void on_delete(void *ud, json_t *o)
{
    char b[96];
    snprintf(b, sizeof b, "delete %s/%s %s", meta(o, "namespace"), meta(o, "name"), meta(o, "resourceVersion"));
    rec_push(ud, b);
}

static informer_handler handler_of(rec *r)
{
    pthread_mutex_init(&r->mu, NULL);
    informer_handler h = {on_add, on_update, on_delete, r};
    return h;
}

static int rec_count(rec *r)
{
    pthread_mutex_lock(&r->mu);
    int n = r->n;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static void wait_idle(fake_src *f)
{
    double until = tu_now() + 5;
    while (!atomic_load(&f->idle) && tu_now() < until)
        usleep(1000);
    assert_true(atomic_load(&f->idle));
}

static void assert_log(rec *r, const char *const *want, int n)
{
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < n && i < r->n; i++)
        if (strcmp(r->log[i], want[i]) != 0)
            fail_msg("event %d: got '%s', want '%s'", i, r->log[i], want[i]);
    if (r->n != n) {
        for (int i = 0; i < r->n; i++)
            print_message("  got[%d] %s\n", i, r->log[i]);
        fail_msg("got %d events, want %d", r->n, n);
    }
    pthread_mutex_unlock(&r->mu);
}

#define OBJ(name, rv) "{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"ns\",\"resourceVersion\":\"" rv "\"}}"
#define FAST {.backoff_initial_s = 0.005, .backoff_max_s = 0.02, .watch_timeout_s = 5}

static informer *start(fake_src *f, rec *r, const informer_options *o)
{
    informer_source s = source_of(f);
    informer *inf = NULL;
    pb_err e;
    assert_int_equal(informer_new(&s, o, &inf, &e), 0);
    informer_handler h = handler_of(r);
    assert_int_equal(informer_add_handler(inf, &h, &e), 0);
    assert_int_equal(informer_start(inf, &e), 0);
    return inf;
}

static void test_list_then_watch_with_bookmark(void **state)
{
    static fake_src f = {
        .lists = {"{\"metadata\":{\"resourceVersion\":\"10\"},\"items\":[" OBJ("a", "1") "," OBJ("b", "2") "]}"},
        .nlists = 1,
        .watches = {{.ev = {{"ADDED", OBJ("c", "11")},
                            {"MODIFIED", OBJ("a", "12")},
                            {"DELETED", OBJ("b", "13")},
                            {"BOOKMARK", "{\"kind\":\"Tenant\",\"metadata\":{\"resourceVersion\":\"20\"}}"}}}},
        .nwatches = 1,
    };
    rec r = {0};
    informer_options o = FAST;
    informer *inf = start(&f, &r, &o);
    assert_int_equal(informer_wait_for_sync(inf, 5), 0);
    assert_true(informer_has_synced(inf));
    wait_idle(&f);
    const char *want[] = {"add ns/a 1", "add ns/b 2", "add ns/c 11", "update ns/a 1->12", "delete ns/b 13"};
    assert_log(&r, want, 5);
    /* The first watch starts at the list's version; the next one resumes
     * from the bookmark. */
    assert_string_equal(f.watch_rv[0], "10");
    assert_string_equal(f.watch_rv[1], "20");
    char rv[32];
    informer_resource_version(inf, rv, sizeof rv);
    assert_string_equal(rv, "20");
    store *s = informer_store(inf);
    assert_int_equal(store_len(s), 2);
    json_t *a = store_get(s, "ns/a");
    assert_string_equal(meta(a, "resourceVersion"), "12");
    json_decref(a);
    assert_int_equal(informer_list_count(inf), 1);
    informer_free(inf);
}

static void test_gone_relists_with_minimal_events(void **state)
{
    static fake_src f = {
        .lists = {"{\"metadata\":{\"resourceVersion\":\"10\"},\"items\":[" OBJ("a", "1") "," OBJ("b", "2") "," OBJ("c", "3") "]}",
                  /* after the 410: a seen already at 11, c changed, d new, b gone */
                  "{\"metadata\":{\"resourceVersion\":\"16\"},\"items\":[" OBJ("a", "11") "," OBJ("c", "15") "," OBJ("d", "14") "]}"},
        .nlists = 2,
        .watches = {{.ev = {{"MODIFIED", OBJ("a", "11")}}, .rc = PB_EGONE}},
        .nwatches = 1,
    };
    rec r = {0};
    informer_options o = FAST;
    informer *inf = start(&f, &r, &o);
    wait_idle(&f);
    const char *want[] = {"add ns/a 1", "add ns/b 2", "add ns/c 3", "update ns/a 1->11",
                          "update ns/c 3->15", "add ns/d 14", "delete ns/b 2"};
    assert_log(&r, want, 7);
    assert_int_equal(informer_list_count(inf), 2);
    assert_string_equal(f.watch_rv[1], "16");
    assert_int_equal(store_len(informer_store(inf)), 3);
    assert_null(store_get(informer_store(inf), "ns/b"));
    informer_free(inf);
}

#define PAGE(rv, items) "{\"metadata\":{\"resourceVersion\":\"" rv "\"},\"items\":[" items "]}"

/* A list arrives page by page: stored as it comes, synced at the first
 * page's resourceVersion once the last is in. */
static void test_paged_list(void **state)
{
    static fake_src f = {
        .lists = {PAGE("10", OBJ("a", "1") "," OBJ("b", "2")) "\n" PAGE("10", OBJ("c", "3")) "\n" PAGE("10", "")},
        .nlists = 1,
    };
    rec r = {0};
    informer_options o = FAST;
    o.name = "paged";
    informer *inf = start(&f, &r, &o);
    wait_idle(&f);
    const char *want[] = {"add ns/a 1", "add ns/b 2", "add ns/c 3"};
    assert_log(&r, want, 3);
    assert_string_equal(f.watch_rv[0], "10");
    assert_int_equal(store_len(informer_store(inf)), 3);
    /* The cache gauges follow the store. */
    pb_metrics_registry *reg = pb_metrics_default();
    pb_gauge *objects = NULL, *bytes = NULL;
    const char *const res[] = {"resource", NULL};
    assert_int_equal(pb_metrics_gauge_register(reg, "paybill_informer_cached_objects", "", res, &objects, NULL), 0);
    assert_int_equal(pb_metrics_gauge_register(reg, "paybill_informer_cache_bytes", "", res, &bytes, NULL), 0);
    assert_float_equal(pb_metrics_gauge_get(objects, "paged", NULL), 3, 1e-9);
    assert_float_equal(pb_metrics_gauge_get(bytes, "paged", NULL), (double)store_bytes(informer_store(inf)), 1e-9);
    assert_true(store_bytes(informer_store(inf)) > 3 * strlen("ns/a"));
    informer_free(inf);
}

/* A list that starts over (expired continue token): what only the
 * abandoned pass saw is deleted at the end; a list that fails half-way
 * leaves the informer unsynced, and the next full list settles it. */
static void test_restarted_and_failed_lists(void **state)
{
    static fake_src f = {
        .lists = {PAGE("10", OBJ("a", "1") "," OBJ("b", "2")) "\nFAIL",
                  PAGE("10", OBJ("a", "1") "," OBJ("b", "2")) "\n!" PAGE("20", OBJ("a", "1")) "\n"
                      PAGE("20", OBJ("c", "19"))},
        .list_rc = PB_EUNAVAILABLE,
        .nlists = 2,
    };
    rec r = {0};
    informer_options o = FAST;
    informer *inf = start(&f, &r, &o);
    wait_idle(&f);
    assert_int_equal(f.list_calls, 2);
    /* The failed list's page was applied (real states of a and b), but
     * nothing was deleted and the informer synced only after list 2. */
    const char *want[] = {"add ns/a 1", "add ns/b 2", "add ns/c 19", "delete ns/b 2"};
    assert_log(&r, want, 4);
    assert_int_equal(informer_list_count(inf), 1);
    assert_string_equal(f.watch_rv[0], "20");
    assert_int_equal(store_len(informer_store(inf)), 2);
    informer_free(inf);
}

static void test_watch_error_resumes_without_relist(void **state)
{
    static fake_src f = {
        .lists = {"{\"metadata\":{\"resourceVersion\":\"10\"},\"items\":[]}"},
        .nlists = 1,
        .watches = {{.ev = {{"ADDED", OBJ("x", "11")}}, .rc = PB_EUNAVAILABLE},
                    {.rc = PB_EIO}},
        .nwatches = 2,
    };
    rec r = {0};
    informer_options o = FAST;
    informer *inf = start(&f, &r, &o);
    wait_idle(&f);
    assert_int_equal(f.list_calls, 1);
    assert_string_equal(f.watch_rv[1], "11");
    assert_string_equal(f.watch_rv[2], "11");
    const char *want[] = {"add ns/x 11"};
    assert_log(&r, want, 1);
    informer_free(inf);
}

static void test_list_errors_back_off_then_sync(void **state)
{
    static fake_src f = {
        .lists = {NULL, NULL, "{\"metadata\":{\"resourceVersion\":\"5\"},\"items\":[" OBJ("a", "5") "]}"},
        .list_rc = PB_EUNAVAILABLE,
        .nlists = 3,
    };
    rec r = {0};
    informer_options o = FAST;
    double t0 = tu_now();
    informer *inf = start(&f, &r, &o);
    assert_int_equal(informer_wait_for_sync(inf, 5), 0);
    /* two backoffs: 5 ms then 10 ms */
    assert_true(tu_now() - t0 >= 0.014);
    assert_int_equal(f.list_calls, 3);
    informer_free(inf);
}

static void test_stop_during_backoff_and_sync_timeout(void **state)
{
    static fake_src f = {.lists = {NULL}, .list_rc = PB_EFORBIDDEN, .nlists = 1};
    rec r = {0};
    informer_options o = {.backoff_initial_s = 30};
    informer *inf = start(&f, &r, &o);
    assert_int_equal(informer_wait_for_sync(inf, 0.05), PB_ETIMEOUT);
    assert_false(informer_has_synced(inf));
    double t0 = tu_now();
    informer_stop(inf);
    assert_true(tu_now() - t0 < 1.0);
    assert_int_equal(informer_wait_for_sync(inf, 1), PB_ECANCELED);
    informer_stop(inf); /* idempotent */
    informer_free(inf);
}

static void test_resync_redelivers_updates(void **state)
{
    static fake_src f = {
        .lists = {"{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[" OBJ("a", "1") "]}"},
        .nlists = 1,
    };
    rec r = {0};
    informer_options o = FAST;
    o.resync_s = 0.05;
    informer *inf = start(&f, &r, &o);
    double until = tu_now() + 5;
    while (rec_count(&r) < 3 && tu_now() < until)
        usleep(2000);
    informer_stop(inf);
    assert_true(rec_count(&r) >= 3);
    assert_string_equal(r.log[0], "add ns/a 1");
    assert_string_equal(r.log[1], "update ns/a 1->1");
    assert_string_equal(r.log[2], "update ns/a 1->1");
    /* The watch was cut to the resync period. */
    assert_true(f.watch_timeout[0] <= 0.05 + 1e-9);
    informer_free(inf);
}

static void test_late_handler_and_odd_events(void **state)
{
    static fake_src f = {
        .lists = {"{\"metadata\":{\"resourceVersion\":\"10\"},\"items\":[" OBJ("a", "1") "," OBJ("b", "2") "]}"},
        .nlists = 1,
        .watches = {{.ev = {{"DELETED", OBJ("never-seen", "11")},
                            {"ERROR", "{\"kind\":\"Status\",\"code\":500}"},
                            {"ADDED", "{\"metadata\":{\"resourceVersion\":\"12\"}}"},
                            {"ADDED", "{\"metadata\":{\"name\":\"cl\",\"resourceVersion\":\"13\"}}"}}}},
        .nwatches = 1,
    };
    rec r = {0};
    informer_options o = FAST;
    informer *inf = start(&f, &r, &o);
    wait_idle(&f);
    const char *want[] = {"add ns/a 1", "add ns/b 2", "add /cl 13"};
    assert_log(&r, want, 3);
    json_t *cl = store_get(informer_store(inf), "cl");
    assert_non_null(cl); /* cluster-scoped key */
    json_decref(cl);

    rec late = {0};
    informer_handler h = handler_of(&late);
    assert_int_equal(informer_add_handler(inf, &h, NULL), 0);
    assert_int_equal(rec_count(&late), 3); /* a synthetic add per cached object */
    pb_err e;
    assert_int_equal(informer_start(inf, &e), PB_EINVAL);
    informer_free(inf);
}

static int freed;
static void count_free(void *ud)
{
    (void)ud;
    freed++;
}

static void test_bad_input(void **state)
{
    informer_source s = {.list = fake_list, .watch = NULL, .free = count_free};
    informer *inf = NULL;
    pb_err e;
    assert_int_equal(informer_new(&s, NULL, &inf, &e), PB_EINVAL);
    assert_int_equal(freed, 1); /* the source is released even on failure */
    assert_int_equal(informer_new(NULL, NULL, &inf, &e), PB_EINVAL);
    assert_int_equal(informer_add_handler(NULL, NULL, &e), PB_EINVAL);
    assert_int_equal(informer_wait_for_sync(NULL, 0), PB_EINVAL);
    assert_false(informer_has_synced(NULL));
    informer_free(NULL);
    /* A never-started informer frees cleanly and releases its source. */
    s.watch = fake_watch_fn;
    assert_int_equal(informer_new(&s, NULL, &inf, &e), 0);
    assert_string_equal(informer_name(inf), "informer");
    informer_free(inf);
    assert_int_equal(freed, 2);
}

/* --- through the REST client ------------------------------------------------ */

#define KOBJ(name, rv) "{\"apiVersion\":\"paybill.dev/v1alpha1\",\"kind\":\"Tenant\",\"metadata\":" \
    "{\"name\":\"" name "\",\"resourceVersion\":\"" rv "\"}}"

static void test_kube_source_end_to_end(void **state)
{
    fa_server *srv = fa_start(NULL);
    char *dir;
    kube_client *c = fa_client(srv, &dir);
    fa_push_json(srv, 200, "{\"kind\":\"TenantList\",\"metadata\":{\"resourceVersion\":\"5\"},\"items\":["
                           KOBJ("a", "4") "," KOBJ("c", "5") "]}");
    fa_resp w1 = {.chunk = 64,
                  .body = "{\"type\":\"ADDED\",\"object\":" KOBJ("b", "6") "}\n"
                          "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Tenant\",\"apiVersion\":"
                          "\"paybill.dev/v1alpha1\",\"metadata\":{\"resourceVersion\":\"9\"}}}\n"
                          "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
                          "\"status\":\"Failure\",\"message\":\"too old resource version: 9 (12)\","
                          "\"reason\":\"Expired\",\"code\":410}}\n"};
    fa_push(srv, &w1);
    /* Relist: a vanished, b unchanged, c changed. */
    fa_push_json(srv, 200, "{\"kind\":\"TenantList\",\"metadata\":{\"resourceVersion\":\"12\"},\"items\":["
                           KOBJ("b", "6") "," KOBJ("c", "11") "]}");
    fa_resp quiet = {.chunk = 16, .body = "", .hang = 1};
    fa_push(srv, &quiet);

    kube_gvr g = {"paybill.dev", "v1alpha1", "tenants"};
    informer_source src;
    pb_err e;
    assert_int_equal(informer_source_kube(c, &g, NULL, "tier=gold", &src, &e), 0);
    informer *inf = NULL;
    informer_options o = FAST;
    assert_int_equal(informer_new(&src, &o, &inf, &e), 0);
    rec r = {0};
    informer_handler h = handler_of(&r);
    assert_int_equal(informer_add_handler(inf, &h, &e), 0);
    assert_int_equal(informer_start(inf, &e), 0);
    double until = tu_now() + 5;
    while (fa_nreqs(srv) < 4 && tu_now() < until)
        usleep(2000);
    usleep(50000);
    const char *want[] = {"add /a 4", "add /c 5", "add /b 6", "update /c 5->11", "delete /a 4"};
    assert_log(&r, want, 5);
    /* The last watch hangs and no longer polls the stop flag: stopping
     * wakes it (informer_source.wake), or this would wait for its idle
     * guard (35 s). Past curl's own one-off timer (200 ms) first. */
    usleep(400000);
    double t0 = tu_now();
    informer_free(inf);
    assert_true(tu_now() - t0 < 2.0);

    assert_int_equal(fa_nreqs(srv), 4);
    const fa_req *q = fa_req_at(srv, 0);
    assert_string_equal(q->method, "GET");
    assert_non_null(strstr(q->target, "/apis/paybill.dev/v1alpha1/tenants?"));
    assert_non_null(strstr(q->target, "limit=500"));
    assert_non_null(strstr(q->target, "labelSelector=tier%3Dgold"));
    q = fa_req_at(srv, 1);
    assert_non_null(strstr(q->target, "watch=1"));
    assert_non_null(strstr(q->target, "resourceVersion=5"));
    assert_non_null(strstr(q->target, "allowWatchBookmarks=true"));
    assert_non_null(strstr(q->target, "timeoutSeconds=5"));
    q = fa_req_at(srv, 3);
    assert_non_null(strstr(q->target, "resourceVersion=12"));

    pb_err e2;
    assert_int_equal(informer_source_kube(NULL, &g, NULL, NULL, &src, &e2), PB_EINVAL);
    kube_client_free(c);
    fa_stop(srv);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_then_watch_with_bookmark),
        cmocka_unit_test(test_gone_relists_with_minimal_events),
        cmocka_unit_test(test_paged_list),
        cmocka_unit_test(test_restarted_and_failed_lists),
        cmocka_unit_test(test_watch_error_resumes_without_relist),
        cmocka_unit_test(test_list_errors_back_off_then_sync),
        cmocka_unit_test(test_stop_during_backoff_and_sync_timeout),
        cmocka_unit_test(test_resync_redelivers_updates),
        cmocka_unit_test(test_late_handler_and_odd_events),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_kube_source_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
