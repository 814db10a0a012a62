/* Unit tests for kube/controller: result handling (success, requeue,
 * requeue-after timing, error backoff), For/Owns/Watches mapping through
 * informers on an in-test event source, per-key exclusivity with several
 * workers, and stop with a deadline. */
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kube/controller.h"
#include "kube/kmetrics.h"
#include "util/metrics.h"

/* --- an informer source fed by the test ------------------------------------ */

typedef struct pipe_src {
    const char *list_json;
    pthread_mutex_t mu;
    json_t *pending; /* array of [type, object] */
} pipe_src;

static int pipe_list(void *ud, informer_page_fn fn, void *fn_ud, pb_err *err)
{
    pipe_src *p = ud;
    json_error_t je;
    json_t *list = json_loads(p->list_json, 0, &je);
    if (!list)
        return pb_err_set(err, PB_EPARSE, "bad list");
    int stop = fn(fn_ud, list, 1);
    json_decref(list);
    return stop ? PB_ECANCELED : 0;
}

static int pipe_watch(void *ud, const char *rv, double timeout_s, informer_watch_fn fn, void *fn_ud,
                      const atomic_int *stop, pb_err *err)
{
    pipe_src *p = ud;
    while (!atomic_load(stop)) {
        pthread_mutex_lock(&p->mu);
        json_t *ev = json_array_size(p->pending) ? json_incref(json_array_get(p->pending, 0)) : NULL;
        if (ev)
            json_array_remove(p->pending, 0);
        pthread_mutex_unlock(&p->mu);
        if (ev) {
            fn(fn_ud, json_string_value(json_array_get(ev, 0)), json_array_get(ev, 1));
            json_decref(ev);
        } else {
            usleep(1000);
        }
    }
    return 0;
}

static void pipe_free(void *ud)
{
    pipe_src *p = ud;
    json_decref(p->pending);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static informer *new_informer(const char *list_json, pipe_src **out)
{
    pipe_src *p = calloc(1, sizeof *p);
    p->list_json = list_json;
    p->pending = json_array();
    pthread_mutex_init(&p->mu, NULL);
    informer_source s = {.list = pipe_list, .watch = pipe_watch, .free = pipe_free, .ud = p};
    informer *inf = NULL;
    informer_options o = {.backoff_initial_s = 0.005};
    assert_int_equal(informer_new(&s, &o, &inf, NULL), 0);
    if (out)
        *out = p;
    return inf;
}

static void push_event(pipe_src *p, const char *type, const char *json)
{
    json_error_t je;
    json_t *o = json_loads(json, 0, &je);
    assert_non_null(o);
    pthread_mutex_lock(&p->mu);
    json_array_append_new(p->pending, json_pack("[so]", type, o));
    pthread_mutex_unlock(&p->mu);
}

/* --- a recording reconciler ------------------------------------------------ */

typedef struct calls {
    pthread_mutex_t mu;
    json_t *times; /* key -> [t, t, ...] */
    atomic_int overlap;
    json_t *active; /* key -> true while reconciling */
    useconds_t hold;
} calls;

static calls *calls_new(void)
{
    calls *c = calloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->times = json_object();
    c->active = json_object();
    return c;
}

static void calls_free(calls *c)
{
    json_decref(c->times);
    json_decref(c->active);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static int count_of(calls *c, const char *key)
{
    pthread_mutex_lock(&c->mu);
    int n = (int)json_array_size(json_object_get(c->times, key));
    pthread_mutex_unlock(&c->mu);
    return n;
}

static double time_of(calls *c, const char *key, int i)
{
    pthread_mutex_lock(&c->mu);
    double t = json_real_value(json_array_get(json_object_get(c->times, key), (size_t)i));
    pthread_mutex_unlock(&c->mu);
    return t;
}

static int wait_count(calls *c, const char *key, int n, double timeout)
{
    double until = tu_now() + timeout;
    while (count_of(c, key) < n && tu_now() < until)
        usleep(1000);
    return count_of(c, key);
}

/* Behaviour by key name: "requeue-after" (once 0.1 s), "requeue" (once),
 * "err" (fails 3 times), anything else succeeds. */
static controller_result reconcile(controller_ctx *ctx, const char *key, pb_err *err)
{
    calls *c = ctx->user;
    pthread_mutex_lock(&c->mu);
    if (json_object_get(c->active, key))
        atomic_fetch_add(&c->overlap, 1);
    json_object_set_new(c->active, key, json_true());
    json_t *arr = json_object_get(c->times, key);
    if (!arr) {
        arr = json_array();
        json_object_set_new(c->times, key, arr);
    }
    json_array_append_new(arr, json_real(tu_now()));
    int n = (int)json_array_size(arr);
    pthread_mutex_unlock(&c->mu);
    if (c->hold)
        usleep(c->hold);
    controller_result r = controller_ok();
    if (strstr(key, "requeue-after") && n == 1)
        r = controller_requeue_after(0.1);
    else if (strstr(key, "requeue") && !strstr(key, "requeue-after") && n == 1)
        r = controller_requeue();
    else if (strstr(key, "err") && n <= 3) {
        pb_err_set(err, PB_EUNAVAILABLE, "database not ready (attempt %d)", n);
        r = controller_error();
    }
    pthread_mutex_lock(&c->mu);
    json_object_del(c->active, key);
    pthread_mutex_unlock(&c->mu);
    return r;
}

static controller *new_controller(calls *k, int workers)
{
    controller_options o = {.name = "test", .workers = workers, .reconcile = reconcile, .user = k};
    controller *c = NULL;
    pb_err e;
    assert_int_equal(controller_new(&o, &c, &e), 0);
    return c;
}

static void test_results(void **state)
{
    calls *k = calls_new();
    controller *c = new_controller(k, 2);
    assert_int_equal(controller_start(c, NULL), 0);
    controller_enqueue(c, "ns/ok");
    controller_enqueue(c, "ns/requeue-after");
    controller_enqueue(c, "ns/requeue");
    controller_enqueue(c, "ns/err");

    assert_int_equal(wait_count(k, "ns/ok", 1, 5), 1);
    assert_int_equal(wait_count(k, "ns/requeue", 2, 5), 2);
    assert_int_equal(wait_count(k, "ns/requeue-after", 2, 5), 2);
    double gap = time_of(k, "ns/requeue-after", 1) - time_of(k, "ns/requeue-after", 0);
    assert_true(gap >= 0.09);
    assert_true(gap < 1.0);
    /* Errors back off 5, 10, 20 ms, then success resets the backoff. */
    assert_int_equal(wait_count(k, "ns/err", 4, 5), 4);
    double g1 = time_of(k, "ns/err", 1) - time_of(k, "ns/err", 0);
    double g3 = time_of(k, "ns/err", 3) - time_of(k, "ns/err", 2);
    assert_true(g1 >= 0.004);
    assert_true(g3 >= 0.019);
    usleep(20000);
    assert_int_equal(workqueue_num_requeues(controller_queue(c), "ns/err"), 0);
    assert_int_equal(workqueue_num_requeues(controller_queue(c), "ns/requeue-after"), 0);
    /* Nothing more happens once everything succeeded. */
    usleep(50000);
    assert_int_equal(count_of(k, "ns/ok"), 1);
    assert_int_equal(count_of(k, "ns/err"), 4);
    assert_int_equal(controller_stop(c, 2), 0);

    /* The same families controller-runtime exports. */
    const char *const cl[] = {"controller", NULL};
    const char *const clr[] = {"controller", "result", NULL};
    pb_counter *total = NULL, *errors = NULL;
    pb_histogram *took = NULL;
    pb_metrics_registry *r = pb_metrics_default();
    assert_int_equal(pb_metrics_counter_register(r, "controller_runtime_reconcile_total", "", clr, &total, NULL), 0);
    assert_int_equal(pb_metrics_counter_register(r, "controller_runtime_reconcile_errors_total", "", cl, &errors, NULL), 0);
    assert_int_equal(pb_metrics_histogram_register(r, "controller_runtime_reconcile_time_seconds", "", cl, NULL, 0,
                                                   &took, NULL), 0);
    assert_float_equal(pb_metrics_counter_get(errors, "test", NULL), 3, 1e-9);
    assert_float_equal(pb_metrics_counter_get(total, "test", "error", NULL), 3, 1e-9);
    assert_float_equal(pb_metrics_counter_get(total, "test", "requeue", NULL), 1, 1e-9);
    assert_float_equal(pb_metrics_counter_get(total, "test", "requeue_after", NULL), 1, 1e-9);
    assert_float_equal(pb_metrics_counter_get(total, "test", "success", NULL), 4, 1e-9);
    assert_int_equal(pb_metrics_histogram_count(took, "test", NULL), 9);
    char *text = NULL;
    assert_int_equal(pb_metrics_render(r, &text, NULL, NULL), 0);
    assert_non_null(strstr(text, "workqueue_adds_total{name=\"test\"}"));
    assert_non_null(strstr(text, "workqueue_retries_total{name=\"test\"} 4"));
    assert_non_null(strstr(text, "workqueue_depth{name=\"test\"} 0"));
    assert_non_null(strstr(text, "workqueue_queue_duration_seconds_count{name=\"test\"}"));
    assert_non_null(strstr(text, "workqueue_work_duration_seconds_count{name=\"test\"} 9"));
    free(text);
    controller_free(c);
    calls_free(k);
}

#define TENANT(name) "{\"apiVersion\":\"paybill.dev/v1alpha1\",\"kind\":\"Tenant\",\"metadata\":" \
    "{\"name\":\"" name "\",\"namespace\":\"ns\",\"uid\":\"uid-" name "\",\"resourceVersion\":\"1\"}}"
#define OWNED(name, ref) "{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"ns\",\"resourceVersion\":\"1\"," \
    "\"ownerReferences\":[" ref "]}}"
#define REF(av, kind, owner, ctl) "{\"apiVersion\":\"" av "\",\"kind\":\"" kind "\",\"name\":\"" owner \
    "\",\"uid\":\"x\",\"controller\":" ctl "}"

static json_t *map_by_label(json_t *obj, void *ud)
{
    const char *t = json_string_value(json_object_get(json_object_get(json_object_get(obj, "metadata"),
                                                                       "labels"), "tenant"));
    if (!t)
        return NULL;
    char key[128];
    snprintf(key, sizeof key, "ns/%s", t);
    return json_pack("[s]", key);
}

static void test_for_owns_watches(void **state)
{
    calls *k = calls_new();
    controller *c = new_controller(k, 1);
    pipe_src *tp, *cp, *sp;
    informer *tenants = new_informer("{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[" TENANT("t1") "]}", &tp);
    informer *children = new_informer(
        "{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":["
        OWNED("cm-a", REF("paybill.dev/v1alpha1", "Tenant", "t2", "true")) ","
        OWNED("cm-b", REF("paybill.dev/v1alpha1", "Tenant", "t-not-controller", "false")) ","
        OWNED("cm-c", REF("apps/v1", "Tenant", "t-other-group", "true")) ","
        OWNED("cm-d", REF("paybill.dev/v1", "Tenant", "t3", "true")) ","
        OWNED("cm-e", REF("paybill.dev/v1alpha1", "Plan", "t-other-kind", "true")) "]}", &cp);
    informer *secrets = new_informer("{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[]}", &sp);
    pb_err e;
    assert_int_equal(controller_owns(c, children, &e), PB_EINVAL); /* For first */
    assert_int_equal(controller_for(c, tenants, "paybill.dev/v1alpha1", "Tenant", 1, &e), 0);
    assert_int_equal(controller_for(c, tenants, "paybill.dev/v1alpha1", "Tenant", 1, &e), PB_EINVAL);
    assert_int_equal(controller_owns(c, children, &e), 0);
    assert_int_equal(controller_watches(c, secrets, map_by_label, NULL, &e), 0);
    assert_int_equal(controller_watches(c, secrets, NULL, NULL, &e), PB_EINVAL);
    assert_int_equal(informer_start(tenants, NULL), 0);
    assert_int_equal(informer_start(children, NULL), 0);
    assert_int_equal(informer_start(secrets, NULL), 0);
    assert_int_equal(informer_wait_for_sync(children, 5), 0);
    assert_int_equal(controller_start(c, NULL), 0);

    assert_int_equal(wait_count(k, "ns/t1", 1, 5), 1);
    assert_int_equal(wait_count(k, "ns/t2", 1, 5), 1);
    assert_int_equal(wait_count(k, "ns/t3", 1, 5), 1); /* version differs, group matches */

    /* A child changes owner: both the old and the new owner get reconciled. */
    push_event(cp, "MODIFIED", OWNED("cm-a", REF("paybill.dev/v1alpha1", "Tenant", "t4", "true")));
    assert_int_equal(wait_count(k, "ns/t4", 1, 5), 1);
    assert_int_equal(wait_count(k, "ns/t2", 2, 5), 2);
    /* Deleting a child reconciles its owner. */
    push_event(cp, "DELETED", OWNED("cm-d", REF("paybill.dev/v1alpha1", "Tenant", "t3", "true")));
    assert_int_equal(wait_count(k, "ns/t3", 2, 5), 2);
    /* Custom map. */
    push_event(sp, "ADDED", "{\"metadata\":{\"name\":\"s\",\"namespace\":\"ns\",\"labels\":{\"tenant\":\"t9\"}}}");
    assert_int_equal(wait_count(k, "ns/t9", 1, 5), 1);
    /* Primary update. */
    push_event(tp, "MODIFIED", "{\"metadata\":{\"name\":\"t1\",\"namespace\":\"ns\",\"resourceVersion\":\"2\"}}");
    assert_int_equal(wait_count(k, "ns/t1", 2, 5), 2);

    usleep(30000);
    assert_int_equal(count_of(k, "ns/t-not-controller"), 0);
    assert_int_equal(count_of(k, "ns/t-other-group"), 0);
    assert_int_equal(count_of(k, "ns/t-other-kind"), 0);

    informer_stop(tenants);
    informer_stop(children);
    informer_stop(secrets);
    assert_int_equal(controller_stop(c, 2), 0);
    controller_free(c);
    informer_free(tenants);
    informer_free(children);
    informer_free(secrets);
    calls_free(k);
}


static json_t *map_plan_label(json_t *obj, void *ud)
{
    const char *t = json_string_value(json_object_get(json_object_get(json_object_get(obj, "metadata"),
                                                                       "labels"), "tenant"));
    char key[128];
    snprintf(key, sizeof key, "ns/%s", t ? t : "none");
    return json_pack("[s]", key);
}

#define PLAN_AT(gen, rv, count) "{\"metadata\":{\"name\":\"p\",\"generation\":" gen \
    ",\"resourceVersion\":\"" rv "\",\"labels\":{\"tenant\":\"tp\"}},\"status\":{\"tenants\":" count "}}"

/* GenerationChangedPredicate: status-only updates of a watched object do
 * not fan out; spec changes, adds and deletes do. */
static void test_generation_predicate(void **state)
{
    calls *k = calls_new();
    controller *c = new_controller(k, 1);
    pipe_src *pp, *tp;
    informer *tenants = new_informer("{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[]}", &tp);
    informer *plans = new_informer("{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[" PLAN_AT("1", "1", "0") "]}", &pp);
    pb_err e;
    assert_int_equal(controller_for(c, tenants, "paybill.dev/v1alpha1", "Tenant", 1, &e), 0);
    assert_int_equal(controller_watches_filtered(c, plans, map_plan_label, NULL, controller_generation_changed,
                                                 NULL, &e), 0);
    assert_int_equal(controller_watches_filtered(c, plans, NULL, NULL, NULL, NULL, &e), PB_EINVAL);
    assert_int_equal(informer_start(tenants, NULL), 0);
    assert_int_equal(informer_start(plans, NULL), 0);
    assert_int_equal(informer_wait_for_sync(plans, 5), 0);
    assert_int_equal(controller_start(c, NULL), 0);
    assert_int_equal(wait_count(k, "ns/tp", 1, 5), 1); /* the add passes */

    push_event(pp, "MODIFIED", PLAN_AT("1", "2", "5")); /* status only */
    push_event(pp, "MODIFIED", PLAN_AT("1", "3", "6")); /* status only */
    usleep(100000);
    assert_int_equal(count_of(k, "ns/tp"), 1);
    /* A spec change maps both old and new objects (the same key here), so
     * it reconciles once or twice depending on timing: at least once. */
    push_event(pp, "MODIFIED", PLAN_AT("2", "4", "6")); /* spec change */
    assert_true(wait_count(k, "ns/tp", 2, 5) >= 2);
    usleep(50000);
    int settled = count_of(k, "ns/tp");
    push_event(pp, "DELETED", PLAN_AT("2", "5", "6"));
    assert_true(wait_count(k, "ns/tp", settled + 1, 5) >= settled + 1);
    /* Objects without a generation: every update counts. */
    json_t *a = json_pack("{s:{}}", "metadata"), *b = json_pack("{s:{}}", "metadata");
    assert_true(controller_generation_changed(a, b, NULL));
    json_decref(a);
    json_decref(b);

    informer_stop(tenants);
    informer_stop(plans);
    assert_int_equal(controller_stop(c, 2), 0);
    controller_free(c);
    informer_free(tenants);
    informer_free(plans);
    calls_free(k);
}

/* Stop and free a controller with its one informer. */
static void stop_one(calls *k, controller *c, informer *inf)
{
    informer_stop(inf);
    assert_int_equal(controller_stop(c, 2), 0);
    controller_free(c);
    informer_free(inf);
    calls_free(k);
}

static int not_held(json_t *obj, void *ud)
{
    const char *hold = json_string_value(json_object_get(json_object_get(json_object_get(obj, "metadata"),
                                                                         "labels"), "hold"));
    return !(hold && strcmp(hold, ud) == 0);
}

#define HELD(name, hold) "{\"metadata\":{\"name\":\"" name "\",\"resourceVersion\":\"9\",\"labels\":{\"tenant\":\"" \
    name "\",\"hold\":\"" hold "\"}}}"

/* Adds of "a" (held) and "b" to a started controller whose add predicate
 * is not_held: only b reconciles, then a's delete does. */
static void check_held_add(calls *k, controller *c, informer *plans, pipe_src *pp, const char *key_a,
                           const char *key_b)
{
    assert_int_equal(informer_start(plans, NULL), 0);
    assert_int_equal(informer_wait_for_sync(plans, 5), 0);
    assert_int_equal(controller_start(c, NULL), 0);
    push_event(pp, "ADDED", HELD("a", "yes"));
    push_event(pp, "ADDED", HELD("b", "no"));
    assert_int_equal(wait_count(k, key_b, 1, 5), 1);
    usleep(50000);
    assert_int_equal(count_of(k, key_a), 0);
    push_event(pp, "DELETED", HELD("a", "yes"));
    assert_int_equal(wait_count(k, key_a, 1, 5), 1);
    stop_one(k, c, plans);
}

/* An add predicate: the adds it refuses do not reconcile; other adds,
 * and deletes of what it refused, do. It gets the predicates' ud. */
static void test_add_predicate(void **state)
{
    calls *k = calls_new();
    controller *c = new_controller(k, 1);
    pipe_src *pp;
    informer *plans = new_informer("{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[]}", &pp);
    pb_err e;
    assert_int_equal(controller_watches_predicates(c, plans, map_plan_label, NULL, not_held, NULL, "yes", &e), 0);
    assert_int_equal(controller_watches_predicates(c, plans, NULL, NULL, not_held, NULL, "yes", &e), PB_EINVAL);
    check_held_add(k, c, plans, pp, "ns/a", "ns/b");
}

/* For with a predicate: the primary's filtered updates do not reconcile;
 * its adds, passing updates and deletes do. */
static void test_for_filtered(void **state)
{
    calls *k = calls_new();
    controller *c = new_controller(k, 1);
    pipe_src *pp;
    informer *plans = new_informer("{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[" PLAN_AT("1", "1", "0") "]}", &pp);
    pb_err e;
    assert_int_equal(controller_for_filtered(c, plans, "paybill.dev/v1alpha1", "Plan", 0,
                                             controller_generation_changed, NULL, &e), 0);
    assert_int_equal(informer_start(plans, NULL), 0);
    assert_int_equal(informer_wait_for_sync(plans, 5), 0);
    assert_int_equal(controller_start(c, NULL), 0);
    assert_int_equal(wait_count(k, "p", 1, 5), 1);
    push_event(pp, "MODIFIED", PLAN_AT("1", "2", "5")); /* filtered */
    usleep(100000);
    assert_int_equal(count_of(k, "p"), 1);
    push_event(pp, "MODIFIED", PLAN_AT("2", "3", "5"));
    assert_int_equal(wait_count(k, "p", 2, 5), 2);
    push_event(pp, "DELETED", PLAN_AT("2", "4", "5"));
    assert_int_equal(wait_count(k, "p", 3, 5), 3);
    stop_one(k, c, plans);
}

/* For with an add predicate: refused adds do not reconcile; accepted
 * adds and deletes do. */
static void test_for_predicates(void **state)
{
    calls *k = calls_new();
    controller *c = new_controller(k, 1);
    pipe_src *pp;
    informer *plans = new_informer("{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[]}", &pp);
    pb_err e;
    assert_int_equal(controller_for_predicates(c, plans, "paybill.dev/v1alpha1", "Plan", 0, not_held,
                                               controller_generation_changed, "yes", &e), 0);
    check_held_add(k, c, plans, pp, "a", "b");
}

static void test_owner_key_cluster_scoped(void **state)
{
    json_error_t je;
    json_t *o = json_loads(OWNED("ns-of-acme", REF("paybill.dev/v1alpha1", "Tenant", "acme", "true")), 0, &je);
    char key[64];
    assert_int_equal(controller_owner_key(o, "paybill.dev/v1alpha1", "Tenant", 0, key, sizeof key), 1);
    assert_string_equal(key, "acme");
    assert_int_equal(controller_owner_key(o, "paybill.dev/v1alpha1", "Tenant", 1, key, sizeof key), 1);
    assert_string_equal(key, "ns/acme");
    assert_int_equal(controller_owner_key(o, "v1", "Tenant", 1, key, sizeof key), 0);
    char tiny[4];
    assert_int_equal(controller_owner_key(o, "paybill.dev/v1alpha1", "Tenant", 1, tiny, sizeof tiny), 0);
    json_decref(o);
    /* Core group owner ("v1"). */
    o = json_loads(OWNED("pod", REF("v1", "ConfigMap", "cfg", "true")), 0, &je);
    assert_int_equal(controller_owner_key(o, "v1", "ConfigMap", 1, key, sizeof key), 1);
    assert_string_equal(key, "ns/cfg");
    assert_int_equal(controller_owner_key(o, "apps/v1", "ConfigMap", 1, key, sizeof key), 0);
    json_decref(o);
}

static void test_workers_never_share_a_key(void **state)
{
    calls *k = calls_new();
    k->hold = 2000;
    controller *c = new_controller(k, 4);
    assert_int_equal(controller_start(c, NULL), 0);
    char key[32];
    for (int round = 0; round < 20; round++)
        for (int i = 0; i < 8; i++) {
            snprintf(key, sizeof key, "ns/k%d", i);
            controller_enqueue(c, key);
        }
    for (int i = 0; i < 8; i++) {
        snprintf(key, sizeof key, "ns/k%d", i);
        assert_true(wait_count(k, key, 1, 5) >= 1);
    }
    usleep(50000);
    assert_int_equal(controller_stop(c, 5), 0);
    assert_int_equal(atomic_load(&k->overlap), 0);
    controller_free(c);
    calls_free(k);
}

static void test_stop_deadline(void **state)
{
    calls *k = calls_new();
    k->hold = 600000;
    controller *c = new_controller(k, 1);
    assert_int_equal(controller_start(c, NULL), 0);
    controller_enqueue(c, "ns/slow");
    assert_int_equal(wait_count(k, "ns/slow", 1, 5), 1);
    double t0 = tu_now();
    assert_int_equal(controller_stop(c, 0.05), PB_ETIMEOUT);
    assert_true(tu_now() - t0 < 0.5); /* did not wait for the 0.6 s reconcile */
    controller_enqueue(c, "ns/after-stop"); /* ignored */
    controller_free(c);                     /* joins the slow worker */
    assert_int_equal(count_of(k, "ns/after-stop"), 0);
    calls_free(k);
}

static void test_bad_input(void **state)
{
    pb_err e;
    controller *c = NULL;
    controller_options o = {.name = "x"};
    assert_int_equal(controller_new(&o, &c, &e), PB_EINVAL);
    o.reconcile = reconcile;
    o.workers = -1;
    assert_int_equal(controller_new(&o, &c, &e), PB_EINVAL);
    o.name = "";
    o.workers = 0;
    assert_int_equal(controller_new(&o, &c, &e), PB_EINVAL);
    assert_int_equal(controller_new(NULL, &c, &e), PB_EINVAL);
    o.name = "x";
    assert_int_equal(controller_new(&o, &c, &e), 0);
    assert_int_equal(controller_for(c, NULL, "v1", "Pod", 1, &e), PB_EINVAL);
    assert_int_equal(controller_start(c, NULL), 0);
    assert_int_equal(controller_start(c, &e), PB_EINVAL);
    assert_string_equal(controller_name(c), "x");
    controller_free(c); /* without stop */
    assert_int_equal(controller_stop(NULL, 1), PB_EINVAL);
}

static void test_rest_client_metrics(void **state)
{
    kmetrics_rest_request(NULL, "LIST", 200, 0.01);
    kmetrics_rest_request(NULL, "GET", 200, 0.02);
    kmetrics_rest_request(NULL, "POST", 0, 1.0);
    const char *const cm[] = {"code", "method", NULL};
    pb_counter *req = NULL;
    assert_int_equal(pb_metrics_counter_register(pb_metrics_default(), "rest_client_requests_total", "", cm, &req,
                                                 NULL), 0);
    assert_float_equal(pb_metrics_counter_get(req, "200", "GET", NULL), 2, 1e-9);
    assert_float_equal(pb_metrics_counter_get(req, "<error>", "POST", NULL), 1, 1e-9);
    kmetrics_rest_request(NULL, NULL, 200, 0); /* ignored */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_results),
        cmocka_unit_test(test_for_owns_watches),
        cmocka_unit_test(test_generation_predicate),
        cmocka_unit_test(test_for_filtered),
        cmocka_unit_test(test_add_predicate),
        cmocka_unit_test(test_for_predicates),
        cmocka_unit_test(test_owner_key_cluster_scoped),
        cmocka_unit_test(test_workers_never_share_a_key),
        cmocka_unit_test(test_stop_deadline),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_rest_client_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
