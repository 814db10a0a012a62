/* Unit tests for kube/recorder: Event contents, repeat aggregation (patch
 * count + lastTimestamp), the window, LRU eviction, recreation of deleted
 * Events, bursts created together (with the outcome of one by one),
 * dropping when the queue is full, bad input; and the REST client sink
 * against the fake API server. */
#include "testutil.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fakeclient.h"
#include "kube/config.h"
#include "kube/recorder.h"
#include "util/log.h"

typedef struct fake_sink {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    json_t *created; /* array of events */
    json_t *patches; /* array of {ns, name, patch} */
    int patch_rc;    /* returned by patch when non-zero */
    int block;       /* create waits while set */
    int waiting;     /* creates waiting on block right now */
    const char *fail_reason; /* create of an Event with this reason fails */
    int batches[64];         /* sizes of the create_many calls, in order */
    int nbatches;
} fake_sink;

static int fs_create(void *ud, const char *ns, json_t *ev, pb_err *err)
{
    fake_sink *f = ud;
    pthread_mutex_lock(&f->mu);
    f->waiting++;
    while (f->block)
        pthread_cond_wait(&f->cv, &f->mu);
    f->waiting--;
    assert_string_equal(ns, json_string_value(json_object_get(json_object_get(ev, "metadata"), "namespace")));
    const char *reason = json_string_value(json_object_get(ev, "reason"));
    int fail = f->fail_reason && reason && strcmp(reason, f->fail_reason) == 0;
    if (!fail)
        json_array_append_new(f->created, json_deep_copy(ev));
    pthread_mutex_unlock(&f->mu);
    return fail ? pb_err_set(err, PB_EUNAVAILABLE, "scripted create failure") : 0;
}

/* The REST sink sends these together; here they are created in order and
 * the batch's size is noted. */
static void fs_create_many(void *ud, const char *const *ns, json_t *const *evs, int *rc, pb_err *err, size_t n)
{
    fake_sink *f = ud;
    pthread_mutex_lock(&f->mu);
    if (f->nbatches < 64)
        f->batches[f->nbatches++] = (int)n;
    pthread_mutex_unlock(&f->mu);
    for (size_t i = 0; i < n; i++)
        rc[i] = fs_create(ud, ns[i], evs[i], &err[i]);
}

static int fs_patch(void *ud, const char *ns, const char *name, json_t *patch, pb_err *err)
{
    fake_sink *f = ud;
    pthread_mutex_lock(&f->mu);
    int rc = f->patch_rc;
    if (!rc)
        json_array_append_new(f->patches, json_pack("{s:s, s:s, s:O}", "ns", ns, "name", name, "patch", patch));
    pthread_mutex_unlock(&f->mu);
    return rc ? pb_err_set(err, rc, "scripted patch failure") : 0;
}

static double clock_now(void *ud)
{
    return *(double *)ud;
}

static recorder *make_sink(fake_sink *f, double *clock, int queue, int cache, int with_create_many)
{
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    f->created = json_array();
    f->patches = json_array();
    recorder_sink s = {.create = fs_create, .patch = fs_patch, .create_many = with_create_many ? fs_create_many : NULL,
                       .ud = f};
    recorder_options o = {.component = "paybill-operator", .instance = "pod-1", .queue_size = queue,
                          .cache_size = cache, .now = clock_now, .now_ud = clock};
    recorder *r = NULL;
    pb_err e;
    assert_int_equal(recorder_new(&s, &o, &r, &e), 0);
    return r;
}

static recorder *make(fake_sink *f, double *clock, int queue, int cache)
{
    return make_sink(f, clock, queue, cache, 1);
}

static void done(fake_sink *f, recorder *r)
{
    recorder_free(r);
    json_decref(f->created);
    json_decref(f->patches);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
}

static json_t *obj(const char *name, const char *ns)
{
    json_t *o = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}}", "apiVersion", "paybill.dev/v1alpha1", "kind", "Tenant",
                          "metadata", "name", name, "uid", "uid-1", "resourceVersion", "7");
    if (ns)
        json_object_set_new(json_object_get(o, "metadata"), "namespace", json_string(ns));
    return o;
}

static const char *str(json_t *o, const char *path1, const char *path2)
{
    json_t *v = json_object_get(o, path1);
    if (path2)
        v = json_object_get(v, path2);
    return json_string_value(v);
}

/* Patch pi aggregated onto the Event created ci-th, setting its count. */
static void assert_patched(fake_sink *f, size_t pi, size_t ci, long long count)
{
    json_t *p = json_array_get(f->patches, pi);
    assert_string_equal(str(p, "name", NULL), str(json_array_get(f->created, ci), "metadata", "name"));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(p, "patch"), "count")), count);
}

static void test_event_contents(void **state)
{
    fake_sink f;
    double t = 1764064800; /* 2025-11-25T10:00:00Z */
    recorder *r = make(&f, &t, 0, 0);
    json_t *o = obj("acme", "tenants");
    assert_int_equal(recorder_event(r, o, RECORDER_NORMAL, "Provisioned", "database %s ready", "acme_db"), 0);
    assert_int_equal(recorder_flush(r, 5), 0);
    assert_int_equal(json_array_size(f.created), 1);
    json_t *ev = json_array_get(f.created, 0);
    assert_string_equal(str(ev, "apiVersion", NULL), "v1");
    assert_string_equal(str(ev, "kind", NULL), "Event");
    assert_string_equal(str(ev, "metadata", "namespace"), "tenants");
    assert_true(strncmp(str(ev, "metadata", "name"), "acme.", 5) == 0);
    assert_string_equal(str(ev, "involvedObject", "kind"), "Tenant");
    assert_string_equal(str(ev, "involvedObject", "apiVersion"), "paybill.dev/v1alpha1");
    assert_string_equal(str(ev, "involvedObject", "name"), "acme");
    assert_string_equal(str(ev, "involvedObject", "namespace"), "tenants");
    assert_string_equal(str(ev, "involvedObject", "uid"), "uid-1");
    assert_string_equal(str(ev, "involvedObject", "resourceVersion"), "7");
    assert_string_equal(str(ev, "reason", NULL), "Provisioned");
    assert_string_equal(str(ev, "message", NULL), "database acme_db ready");
    assert_string_equal(str(ev, "type", NULL), "Normal");
    assert_string_equal(str(ev, "source", "component"), "paybill-operator");
    assert_string_equal(str(ev, "reportingComponent", NULL), "paybill-operator");
    assert_string_equal(str(ev, "reportingInstance", NULL), "pod-1");
    assert_string_equal(str(ev, "firstTimestamp", NULL), "2025-11-25T10:00:00Z");
    assert_string_equal(str(ev, "lastTimestamp", NULL), "2025-11-25T10:00:00Z");
    assert_int_equal(json_integer_value(json_object_get(ev, "count")), 1);
    json_decref(o);

    /* Cluster-scoped objects get their Events in "default". */
    o = obj("global", NULL);
    assert_int_equal(recorder_event(r, o, RECORDER_WARNING, "Oops", "x"), 0);
    assert_int_equal(recorder_flush(r, 5), 0);
    ev = json_array_get(f.created, 1);
    assert_string_equal(str(ev, "metadata", "namespace"), "default");
    assert_null(json_object_get(json_object_get(ev, "involvedObject"), "namespace"));
    json_decref(o);

    /* Long messages are cut at 1024 bytes. */
    char big[3000];
    memset(big, 'm', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    o = obj("long", "ns");
    assert_int_equal(recorder_event(r, o, RECORDER_NORMAL, "Big", "%s", big), 0);
    assert_int_equal(recorder_flush(r, 5), 0);
    assert_int_equal(strlen(str(json_array_get(f.created, 2), "message", NULL)), 1024);
    json_decref(o);
    done(&f, r);
}

static void test_aggregation(void **state)
{
    fake_sink f;
    double t = 1764064800;
    recorder *r = make(&f, &t, 0, 0);
    json_t *o = obj("acme", "ns");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(recorder_event(r, o, RECORDER_WARNING, "Failed", "db down"), 0);
        assert_int_equal(recorder_flush(r, 5), 0);
        t += 30;
    }
    assert_int_equal(json_array_size(f.created), 1);
    assert_int_equal(json_array_size(f.patches), 2);
    const char *name = str(json_array_get(f.created, 0), "metadata", "name");
    json_t *p2 = json_array_get(f.patches, 1);
    assert_string_equal(str(p2, "name", NULL), name);
    assert_string_equal(str(p2, "ns", NULL), "ns");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(p2, "patch"), "count")), 3);
    assert_string_equal(str(json_object_get(p2, "patch"), "lastTimestamp", NULL), "2025-11-25T10:01:00Z");

    /* Different message, reason, type or object: separate Events. */
    recorder_event(r, o, RECORDER_WARNING, "Failed", "db still down");
    recorder_event(r, o, RECORDER_WARNING, "Retrying", "db down");
    recorder_event(r, o, RECORDER_NORMAL, "Failed", "db down");
    json_t *o2 = obj("other", "ns");
    recorder_event(r, o2, RECORDER_WARNING, "Failed", "db down");
    assert_int_equal(recorder_flush(r, 5), 0);
    assert_int_equal(json_array_size(f.created), 5);
    assert_int_equal(json_array_size(f.patches), 2);

    /* Past the 10 minute window: a fresh Event. */
    t += 601;
    recorder_event(r, o, RECORDER_WARNING, "Failed", "db down");
    assert_int_equal(recorder_flush(r, 5), 0);
    assert_int_equal(json_array_size(f.created), 6);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(f.created, 5), "count")), 1);
    json_decref(o);
    json_decref(o2);
    done(&f, r);
}

static void test_deleted_event_is_recreated(void **state)
{
    fake_sink f;
    double t = 1764064800;
    recorder *r = make(&f, &t, 0, 0);
    json_t *o = obj("acme", "ns");
    recorder_event(r, o, RECORDER_NORMAL, "Synced", "ok");
    assert_int_equal(recorder_flush(r, 5), 0);
    f.patch_rc = PB_ENOTFOUND;
    recorder_event(r, o, RECORDER_NORMAL, "Synced", "ok");
    assert_int_equal(recorder_flush(r, 5), 0);
    assert_int_equal(json_array_size(f.created), 2);
    f.patch_rc = 0;
    recorder_event(r, o, RECORDER_NORMAL, "Synced", "ok");
    assert_int_equal(recorder_flush(r, 5), 0);
    /* Aggregates onto the new one, counting from 1 again. */
    assert_int_equal(json_array_size(f.patches), 1);
    assert_patched(&f, 0, 1, 2);
    json_decref(o);
    done(&f, r);
}

static void test_lru_eviction(void **state)
{
    fake_sink f;
    double t = 1764064800;
    recorder *r = make(&f, &t, 0, 2);
    json_t *a = obj("a", "ns"), *b = obj("b", "ns"), *c = obj("c", "ns");
    recorder_event(r, a, RECORDER_NORMAL, "R", "m");
    recorder_event(r, b, RECORDER_NORMAL, "R", "m");
    recorder_event(r, a, RECORDER_NORMAL, "R", "m"); /* a is now the most recent */
    recorder_event(r, c, RECORDER_NORMAL, "R", "m"); /* evicts b */
    recorder_event(r, a, RECORDER_NORMAL, "R", "m"); /* still cached: patch */
    recorder_event(r, b, RECORDER_NORMAL, "R", "m"); /* forgotten: create */
    assert_int_equal(recorder_flush(r, 5), 0);
    assert_int_equal(json_array_size(f.created), 4);
    assert_int_equal(json_array_size(f.patches), 2);
    assert_string_equal(str(json_array_get(f.created, 3), "involvedObject", "name"), "b");
    json_decref(a);
    json_decref(b);
    json_decref(c);
    done(&f, r);
}

/* Block the worker in its first create until `n` Events are queued
 * behind it, so the next pop takes them together. */
static void hold_first(fake_sink *f, recorder *r, json_t *o)
{
    f->block = 1;
    assert_int_equal(recorder_event(r, o, RECORDER_NORMAL, "First", "held"), 0);
    for (int i = 0; i < 5000; i++) {
        pthread_mutex_lock(&f->mu);
        int w = f->waiting;
        pthread_mutex_unlock(&f->mu);
        if (w == 1)
            break;
        usleep(1000);
    }
}

static void release(fake_sink *f)
{
    pthread_mutex_lock(&f->mu);
    f->block = 0;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

/* A burst is created eight at a time, and each Event ends as it would one
 * by one: repeats aggregate onto Events of the same batch, a failed create
 * is not aggregated onto, order is kept. */
static void test_batched_creates(void **state)
{
    fake_sink f;
    double t = 1764064800;
    recorder *r = make(&f, &t, 0, 0);
    json_t *o = obj("acme", "ns");
    hold_first(&f, r, o);
    f.fail_reason = "Lost";
    char msg[32];
    for (int i = 0; i < 10; i++) { /* e0..e9: ten new Events */
        snprintf(msg, sizeof msg, "e%d", i);
        assert_int_equal(recorder_event(r, o, RECORDER_NORMAL, "Burst", "%s", msg), 0);
    }
    assert_int_equal(recorder_event(r, o, RECORDER_NORMAL, "Lost", "gone"), 0);  /* 11th: create fails */
    assert_int_equal(recorder_event(r, o, RECORDER_NORMAL, "Burst", "e8"), 0);   /* repeat in its batch */
    assert_int_equal(recorder_event(r, o, RECORDER_NORMAL, "Lost", "gone"), 0);  /* repeat of the failed */
    assert_int_equal(recorder_event(r, o, RECORDER_NORMAL, "Burst", "e1"), 0);   /* repeat of an earlier batch */
    release(&f);
    assert_int_equal(recorder_flush(r, 5), 0);

    /* "First" alone, then e0..e7 together, then e8, e9, the failed Lost
     * together until the repeat of e8 waits for them. */
    pthread_mutex_lock(&f.mu);
    assert_true(f.nbatches >= 2);
    assert_int_equal(f.batches[0], 8);
    int most = 0;
    for (int i = 0; i < f.nbatches; i++)
        most = f.batches[i] > most ? f.batches[i] : most;
    assert_int_equal(most, 8); /* never more than a pop */
    pthread_mutex_unlock(&f.mu);

    /* First + e0..e9 created in order; both Lost creates failed. */
    assert_int_equal(json_array_size(f.created), 11);
    assert_string_equal(str(json_array_get(f.created, 0), "reason", NULL), "First");
    for (int i = 0; i < 10; i++) {
        snprintf(msg, sizeof msg, "e%d", i);
        assert_string_equal(str(json_array_get(f.created, (size_t)i + 1), "message", NULL), msg);
    }
    /* The repeats of e8 and e1 patched their own Events to count 2. */
    assert_int_equal(json_array_size(f.patches), 2);
    assert_patched(&f, 0, 9, 2);
    assert_patched(&f, 1, 2, 2);
    json_decref(o);
    done(&f, r);
}

/* A repeat popped with new Events sees the cache as it would one by one:
 * here the create before it evicts its Event, so it is created anew. */
static void test_batched_repeat_sees_evictions(void **state)
{
    fake_sink f;
    double t = 1764064800;
    recorder *r = make(&f, &t, 0, 2);
    json_t *x = obj("x", "ns"), *y = obj("y", "ns"), *h = obj("h", "ns");
    assert_int_equal(recorder_event(r, x, RECORDER_NORMAL, "R", "m"), 0);
    assert_int_equal(recorder_flush(r, 5), 0); /* cache: x */
    hold_first(&f, r, h);                      /* cache after it: x, First */
    assert_int_equal(recorder_event(r, y, RECORDER_NORMAL, "R", "m"), 0); /* evicts x */
    assert_int_equal(recorder_event(r, x, RECORDER_NORMAL, "R", "m"), 0); /* so: a new Event */
    release(&f);
    assert_int_equal(recorder_flush(r, 5), 0);
    assert_int_equal(json_array_size(f.created), 4);
    assert_int_equal(json_array_size(f.patches), 0);
    assert_string_equal(str(json_array_get(f.created, 3), "involvedObject", "name"), "x");
    json_decref(x);
    json_decref(y);
    json_decref(h);
    done(&f, r);
}

/* Without create_many the sink gets one create per Event. */
static void test_sink_without_create_many(void **state)
{
    fake_sink f;
    double t = 1764064800;
    recorder *r = make_sink(&f, &t, 0, 0, 0);
    json_t *o = obj("acme", "ns");
    hold_first(&f, r, o);
    for (int i = 0; i < 5; i++)
        assert_int_equal(recorder_event(r, o, RECORDER_NORMAL, "Burst", "e%d", i), 0);
    release(&f);
    assert_int_equal(recorder_flush(r, 5), 0);
    assert_int_equal(json_array_size(f.created), 6);
    assert_int_equal(f.nbatches, 0);
    json_decref(o);
    done(&f, r);
}

static void test_full_queue_drops(void **state)
{
    fake_sink f;
    double t = 1764064800;
    recorder *r = make(&f, &t, 2, 0);
    f.block = 1;
    json_t *o = obj("acme", "ns");
    assert_int_equal(recorder_event(r, o, RECORDER_NORMAL, "R", "first"), 0);
    /* Wait for the worker to take it and block in create (polling the
     * queue instead raced with a slow worker: the probes could fill the
     * queue before "first" left it, and a slot freed up later). */
    for (int i = 0; i < 5000; i++) {
        pthread_mutex_lock(&f.mu);
        int w = f.waiting;
        pthread_mutex_unlock(&f.mu);
        if (w == 1)
            break;
        usleep(1000);
    }
    assert_int_equal(recorder_event(r, o, RECORDER_NORMAL, "Probe", "p1"), 0);
    assert_int_equal(recorder_event(r, o, RECORDER_NORMAL, "Probe", "p2"), 0);
    FILE *log = tmpfile();
    assert_non_null(log);
    pb_log_configure(PB_LOG_WARN, PB_LOG_TEXT, log);
    assert_int_equal(recorder_event(r, o, RECORDER_NORMAL, "Probe", "p3"), PB_ETOOLARGE);
    /* Queue (2) is now full: further events are dropped, never blocking. */
    unsigned long before = recorder_dropped(r);
    assert_true(before >= 1);
    assert_int_equal(recorder_event(r, o, RECORDER_NORMAL, "R", "dropped"), PB_ETOOLARGE);
    assert_int_equal(recorder_dropped(r), before + 1);
    /* One warning for the first drop, none for the next within a minute,
     * then one with the count since: drops are visible, not one line each. */
    t += 61;
    assert_int_equal(recorder_event(r, o, RECORDER_NORMAL, "R", "dropped again"), PB_ETOOLARGE);
    pb_log_configure(PB_LOG_INFO, PB_LOG_TEXT, NULL);
    char text[4096] = "";
    rewind(log);
    size_t got = fread(text, 1, sizeof text - 1, log);
    text[got] = '\0';
    fclose(log);
    const char *w1 = strstr(text, "Events dropped since the last warning");
    assert_non_null(w1);
    assert_non_null(strstr(w1, "dropped=1"));
    const char *w2 = strstr(w1 + 1, "Events dropped since the last warning");
    assert_non_null(w2);
    assert_non_null(strstr(w2, "dropped=2"));
    assert_null(strstr(w2 + 1, "Events dropped since the last warning"));
    assert_int_equal(recorder_flush(r, 0.05), PB_ETIMEOUT);
    pthread_mutex_lock(&f.mu);
    f.block = 0;
    pthread_cond_broadcast(&f.cv);
    pthread_mutex_unlock(&f.mu);
    assert_int_equal(recorder_stop(r, 5), 0);
    assert_int_equal(json_array_size(f.created), 3); /* first + the two queued */
    assert_int_equal(recorder_event(r, o, RECORDER_NORMAL, "R", "late"), PB_ECANCELED);
    json_decref(o);
    done(&f, r);
}

static void test_bad_input(void **state)
{
    fake_sink f;
    double t = 1764064800;
    recorder *r = make(&f, &t, 0, 0);
    json_t *o = obj("acme", "ns");
    assert_int_equal(recorder_event(r, o, "Info", "R", "m"), PB_EINVAL);
    assert_int_equal(recorder_event(r, o, RECORDER_NORMAL, "", "m"), PB_EINVAL);
    assert_int_equal(recorder_event(r, NULL, RECORDER_NORMAL, "R", "m"), PB_EINVAL);
    json_t *noname = json_pack("{s:{}}", "metadata");
    assert_int_equal(recorder_event(r, noname, RECORDER_NORMAL, "R", "m"), PB_EINVAL);
    json_decref(noname);
    assert_int_equal(recorder_event(NULL, o, RECORDER_NORMAL, "R", "m"), PB_EINVAL);
    json_decref(o);
    done(&f, r);

    recorder_sink s = {.create = fs_create};
    recorder_options opt = {.component = "x"};
    recorder *r2 = NULL;
    pb_err e;
    assert_int_equal(recorder_new(&s, &opt, &r2, &e), PB_EINVAL);
    s.patch = fs_patch;
    opt.component = NULL;
    assert_int_equal(recorder_new(&s, &opt, &r2, &e), PB_EINVAL);
    assert_int_equal(recorder_flush(NULL, 1), PB_EINVAL);
    recorder_free(NULL);
}

/* --- the sink on the REST client --------------------------------------------- */

static void test_kube_sink(void **state)
{
    fa_server *srv = fa_start(NULL);
    char *dir;
    kube_client *c = fa_client(srv, &dir);
    recorder_sink sink;
    pb_err e;
    assert_int_equal(recorder_sink_kube(c, &sink, &e), 0);
    double t = 1764064800;
    recorder_options o = {.component = "paybill-operator", .now = clock_now, .now_ud = &t};
    recorder *r = NULL;
    assert_int_equal(recorder_new(&sink, &o, &r, &e), 0);
    fa_push_json(srv, 201, "{\"kind\":\"Event\"}");
    fa_push_json(srv, 200, "{\"kind\":\"Event\"}");
    json_t *ob = obj("acme", "tenants");
    recorder_event(r, ob, RECORDER_WARNING, "Failed", "boom");
    recorder_event(r, ob, RECORDER_WARNING, "Failed", "boom");
    assert_int_equal(recorder_flush(r, 5), 0);
    json_decref(ob);
    recorder_free(r);

    assert_int_equal(fa_nreqs(srv), 2);
    const fa_req *q = fa_req_at(srv, 0);
    assert_string_equal(q->method, "POST");
    assert_true(strncmp(q->target, "/api/v1/namespaces/tenants/events", 33) == 0);
    json_error_t je;
    json_t *ev = json_loads(q->body, 0, &je);
    assert_non_null(ev);
    assert_string_equal(str(ev, "reason", NULL), "Failed");
    const char *name = str(ev, "metadata", "name");
    q = fa_req_at(srv, 1);
    assert_string_equal(q->method, "PATCH");
    char path[256], ct[128];
    snprintf(path, sizeof path, "/api/v1/namespaces/tenants/events/%s", name);
    assert_true(strncmp(q->target, path, strlen(path)) == 0);
    assert_string_equal(fa_header(q, "Content-Type", ct, sizeof ct), "application/merge-patch+json");
    json_t *patch = json_loads(q->body, 0, &je);
    assert_int_equal(json_integer_value(json_object_get(patch, "count")), 2);
    json_decref(patch);
    json_decref(ev);

    /* create_many: all three POSTed together, each with its own outcome
     * (the replies go to the requests in the order they arrive). */
    assert_int_equal(recorder_sink_kube(c, &sink, &e), 0);
    assert_non_null(sink.create_many);
    fa_push_json(srv, 201, "{\"kind\":\"Event\"}");
    fa_push_json(srv, 409, "{\"kind\":\"Status\",\"reason\":\"AlreadyExists\",\"code\":409}");
    fa_push_json(srv, 201, "{\"kind\":\"Event\"}");
    const char *nss[3] = {"n0", "n1", "n2"};
    json_t *evs[3];
    for (int i = 0; i < 3; i++)
        evs[i] = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "v1", "kind", "Event", "metadata", "name", "e",
                           "namespace", nss[i]);
    int rcs[3];
    pb_err errs[3];
    sink.create_many(sink.ud, nss, evs, rcs, errs, 3);
    assert_int_equal(fa_nreqs(srv), 5);
    for (int i = 2; i < 5; i++) {
        q = fa_req_at(srv, i);
        assert_string_equal(q->method, "POST");
        int k = q->target[strlen("/api/v1/namespaces/n")] - '0';
        assert_true(k >= 0 && k < 3);
        assert_int_equal(rcs[k], i == 3 ? PB_EEXIST : 0);
    }
    for (int i = 0; i < 3; i++)
        json_decref(evs[i]);
    assert_int_equal(recorder_sink_kube(NULL, &sink, &e), PB_EINVAL);
    kube_client_free(c);
    fa_stop(srv);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_contents),
        cmocka_unit_test(test_aggregation),
        cmocka_unit_test(test_deleted_event_is_recreated),
        cmocka_unit_test(test_lru_eviction),
        cmocka_unit_test(test_batched_creates),
        cmocka_unit_test(test_batched_repeat_sees_evictions),
        cmocka_unit_test(test_sink_without_create_many),
        cmocka_unit_test(test_full_queue_drops),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_kube_sink),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
