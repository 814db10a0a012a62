/* Unit tests for kube/workqueue: de-duplication (also under concurrency),
 * backoff schedule, token bucket, add_after ordering, shutdown and drain. */
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kube/workqueue.h"

static workqueue *new_queue(double qps)
{
    workqueue_options o = {.qps = qps};
    workqueue *q = NULL;
    pb_err e;
    assert_int_equal(workqueue_new(&o, &q, &e), 0);
    return q;
}

static void expect_get(workqueue *q, const char *want)
{
    char *k = NULL;
    assert_int_equal(workqueue_get(q, &k), 0);
    assert_string_equal(k, want);
    workqueue_done(q, k);
    free(k);
}

static void test_dedup_and_requeue_while_processing(void **state)
{
    workqueue *q = new_queue(0);
    workqueue_add(q, "ns/a");
    workqueue_add(q, "ns/a");
    workqueue_add(q, "ns/b");
    assert_int_equal(workqueue_len(q), 2);

    char *k = NULL;
    assert_int_equal(workqueue_get(q, &k), 0);
    assert_string_equal(k, "ns/a");
    assert_int_equal(workqueue_in_flight(q), 1);
    /* Added twice while in flight: not handed out now, queued once after done. */
    workqueue_add(q, "ns/a");
    workqueue_add(q, "ns/a");
    assert_int_equal(workqueue_len(q), 1);
    workqueue_done(q, k);
    free(k);
    assert_int_equal(workqueue_len(q), 2);
    expect_get(q, "ns/b");
    expect_get(q, "ns/a");
    assert_int_equal(workqueue_len(q), 0);
    assert_int_equal(workqueue_in_flight(q), 0);
    /* done() of an unknown key is harmless */
    workqueue_done(q, "nope");
    workqueue_free(q);
}

#define NKEYS 16
typedef struct conc {
    workqueue *q;
    atomic_int active[NKEYS];
    atomic_int processed[NKEYS];
    atomic_int overlap;
    atomic_int adds_done;
} conc;

static int key_index(const char *k)
{
    return atoi(k + 4); /* "key-N" */
}

static void *adder(void *arg)
{
    conc *c = arg;
    char key[32];
    for (int round = 0; round < 100; round++)
        for (int i = 0; i < NKEYS; i++) {
            snprintf(key, sizeof key, "key-%d", i);
            workqueue_add(c->q, key);
            if ((round + i) % 7 == 0)
                sched_yield();
        }
    return NULL;
}

static void *worker(void *arg)
{
    conc *c = arg;
    char *k;
    while (workqueue_get(c->q, &k) == 0) {
        int i = key_index(k);
        if (atomic_fetch_add(&c->active[i], 1) != 0)
            atomic_fetch_add(&c->overlap, 1);
        if (i % 3 == 0)
            usleep(100);
        atomic_fetch_add(&c->processed[i], 1);
        atomic_fetch_sub(&c->active[i], 1);
        workqueue_done(c->q, k);
        free(k);
    }
    return NULL;
}

static void test_concurrent_adds_never_process_key_twice_at_once(void **state)
{
    conc *c = calloc(1, sizeof *c);
    c->q = new_queue(0);
    pthread_t adders[3], workers[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&workers[i], NULL, worker, c);
    for (int i = 0; i < 3; i++)
        pthread_create(&adders[i], NULL, adder, c);
    for (int i = 0; i < 3; i++)
        pthread_join(adders[i], NULL);
    /* Every add has happened; wait for the queue to go idle. */
    double deadline = tu_now() + 10;
    while ((workqueue_len(c->q) > 0 || workqueue_in_flight(c->q) > 0) && tu_now() < deadline)
        usleep(1000);
    assert_int_equal(workqueue_len(c->q), 0);
    assert_int_equal(workqueue_shutdown_drain(c->q, 5), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(workers[i], NULL);
    assert_int_equal(atomic_load(&c->overlap), 0);
    int total = 0;
    for (int i = 0; i < NKEYS; i++) {
        assert_true(atomic_load(&c->processed[i]) >= 1);
        total += atomic_load(&c->processed[i]);
    }
    /* De-duplication must have collapsed most of the 4800 adds. */
    assert_true(total <= 3 * 100 * NKEYS);
    workqueue_free(c->q);
    free(c);
}

static void test_backoff_schedule(void **state)
{
    workqueue *q = new_queue(0); /* default bucket: 100 free tokens, never the max here */
    double want = 0.005;
    for (int i = 0; i < 18; i++) {
        assert_float_equal(workqueue_when(q, "ns/x"), want, 1e-9);
        want *= 2;
    }
    /* 0.005 * 2^18 = 1310.72 s: capped at 1000 s, and stays there. */
    assert_float_equal(workqueue_when(q, "ns/x"), 1000.0, 1e-9);
    assert_float_equal(workqueue_when(q, "ns/x"), 1000.0, 1e-9);
    assert_int_equal(workqueue_num_requeues(q, "ns/x"), 20);
    /* Independent per key. */
    assert_float_equal(workqueue_when(q, "ns/y"), 0.005, 1e-9);
    workqueue_forget(q, "ns/x");
    assert_int_equal(workqueue_num_requeues(q, "ns/x"), 0);
    assert_float_equal(workqueue_when(q, "ns/x"), 0.005, 1e-9);
    workqueue_free(q);
}

static void test_custom_backoff_and_many_failures(void **state)
{
    workqueue_options o = {.base_delay_s = 1, .max_delay_s = 4, .qps = -1};
    workqueue *q = NULL;
    assert_int_equal(workqueue_new(&o, &q, NULL), 0);
    assert_float_equal(workqueue_when(q, "k"), 1, 1e-9);
    assert_float_equal(workqueue_when(q, "k"), 2, 1e-9);
    assert_float_equal(workqueue_when(q, "k"), 4, 1e-9);
    for (int i = 0; i < 2000; i++) /* 2^2000 overflows to inf: must stay capped */
        workqueue_when(q, "k");
    assert_float_equal(workqueue_when(q, "k"), 4, 1e-9);
    workqueue_free(q);
}

static void test_token_bucket(void **state)
{
    /* Defaults (10 qps, burst 100): the first 100 reservations are free, so
     * only the per-key backoff shows. */
    workqueue *q = new_queue(0);
    char key[32];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_float_equal(workqueue_when(q, key), 0.005, 1e-9);
    }
    double d = workqueue_when(q, "k100");
    assert_true(d >= 0.005 && d <= 0.1 + 1e-9);
    workqueue_free(q);

    /* A slow bucket makes the waits measurable whatever the scheduling: at
     * 1 qps the 4th reservation waits ~1 s, the 5th ~2 s. */
    workqueue_options o = {.qps = 1, .burst = 3};
    assert_int_equal(workqueue_new(&o, &q, NULL), 0);
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "s%d", i);
        assert_float_equal(workqueue_when(q, key), 0.005, 1e-9);
    }
    double d1 = workqueue_when(q, "s3");
    double d2 = workqueue_when(q, "s4");
    assert_true(d1 > 0.5 && d1 <= 1.0 + 1e-9);
    assert_true(d2 > d1 + 0.5 && d2 <= 2.0 + 1e-9);
    workqueue_free(q);
}

static void test_add_after_ordering(void **state)
{
    workqueue *q = new_queue(0);
    double t0 = tu_now();
    workqueue_add_after(q, "c", 0.15);
    workqueue_add_after(q, "a", 0.05);
    workqueue_add_after(q, "b", 0.10);
    workqueue_add_after(q, "a", 0.50); /* later than pending: ignored */
    assert_int_equal(workqueue_len(q), 0);
    expect_get(q, "a");
    assert_true(tu_now() - t0 >= 0.045);
    expect_get(q, "b");
    expect_get(q, "c");
    assert_true(tu_now() - t0 >= 0.145);
    assert_true(tu_now() - t0 < 2.0);

    /* An earlier add_after replaces a later one. */
    t0 = tu_now();
    workqueue_add_after(q, "d", 5.0);
    workqueue_add_after(q, "d", 0.02);
    expect_get(q, "d");
    assert_true(tu_now() - t0 < 1.0);
    /* Non-positive delay is a plain add. */
    workqueue_add_after(q, "e", 0);
    assert_int_equal(workqueue_len(q), 1);
    expect_get(q, "e");
    workqueue_free(q);
}

/* Many keys, each moved earlier again and again (the heap keeps the old
 * entries until they surface, and compacts them): every key comes out
 * once, in due order, and no left-behind entry delivers it again. */
static void test_add_after_heap_many_moves(void **state)
{
    enum { N = 40, MOVES = 20 };
    workqueue *q = new_queue(0);
    double delay[N];
    char key[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(key[i], sizeof key[i], "ns/k%02d", i);
        delay[i] = 0.02 + (double)(i * 7 % N) * 0.005; /* distinct: 7 and 40 are coprime */
        workqueue_add_after(q, key[i], delay[i] + 0.4);
        for (int j = 0; j < MOVES; j++)
            workqueue_add_after(q, key[i], delay[i] + 0.3 - j * 0.01);
        workqueue_add_after(q, key[i], delay[i] + 0.35); /* later than pending: ignored */
    }
    for (int i = 0; i < N; i++)
        workqueue_add_after(q, key[i], delay[i]);
    assert_int_equal(workqueue_len(q), 0);
    int seen[N] = {0};
    double last = -1;
    for (int n = 0; n < N; n++) {
        char *k = NULL;
        assert_int_equal(workqueue_get(q, &k), 0);
        int i = atoi(k + 4);
        assert_true(i >= 0 && i < N);
        assert_string_equal(k, key[i]);
        assert_int_equal(seen[i]++, 0);
        assert_true(delay[i] > last);
        last = delay[i];
        workqueue_done(q, k);
        free(k);
    }
    /* Past every left-behind due time: a get promotes what is due, and
     * nothing but the sentinel may come out. */
    usleep(500 * 1000);
    workqueue_add(q, "sentinel");
    expect_get(q, "sentinel");
    assert_int_equal(workqueue_len(q), 0);
    workqueue_free(q);
}

static void test_add_after_dedups_with_queued(void **state)
{
    workqueue *q = new_queue(0);
    workqueue_add(q, "x");
    workqueue_add_after(q, "x", 0.01);
    usleep(30000);
    expect_get(q, "x");                  /* promoted copy merged with the queued one */
    assert_int_equal(workqueue_len(q), 0);
    workqueue_free(q);
}

static void test_rate_limited_add(void **state)
{
    workqueue *q = new_queue(0);
    double t0 = tu_now();
    workqueue_add_rate_limited(q, "r");   /* 5 ms */
    workqueue_add_rate_limited(q, "r");   /* 10 ms, later than pending: kept at 5 ms */
    expect_get(q, "r");
    assert_true(tu_now() - t0 >= 0.004);
    assert_int_equal(workqueue_num_requeues(q, "r"), 2);
    workqueue_free(q);
}

typedef struct slow {
    workqueue *q;
    useconds_t hold;
    atomic_int got;
} slow;

static void *slow_worker(void *arg)
{
    slow *s = arg;
    char *k;
    if (workqueue_get(s->q, &k) == 0) {
        atomic_store(&s->got, 1);
        usleep(s->hold);
        workqueue_done(s->q, k);
        free(k);
    }
    return NULL;
}

static void wait_got(slow *s)
{
    for (int i = 0; i < 2000 && !atomic_load(&s->got); i++)
        usleep(1000);
    assert_true(atomic_load(&s->got));
}

static void test_shutdown_drain_waits_for_in_flight(void **state)
{
    slow s = {.q = new_queue(0), .hold = 200000};
    workqueue_add(s.q, "busy");
    workqueue_add(s.q, "queued-1");
    pthread_t t;
    pthread_create(&t, NULL, slow_worker, &s);
    wait_got(&s);
    double t0 = tu_now();
    assert_int_equal(workqueue_shutdown_drain(s.q, 5), 0);
    double took = tu_now() - t0;
    assert_true(took >= 0.1);
    assert_true(took < 4);
    assert_int_equal(workqueue_in_flight(s.q), 0);
    pthread_join(t, NULL);
    /* Shut down: queued keys are not handed out, adds are ignored. */
    char *k = (char *)"sentinel";
    assert_int_equal(workqueue_get(s.q, &k), PB_ECANCELED);
    assert_null(k);
    workqueue_add(s.q, "late");
    workqueue_add_after(s.q, "late2", 0.01);
    assert_true(workqueue_shutting_down(s.q));
    workqueue_free(s.q);
}

static void test_shutdown_drain_deadline(void **state)
{
    slow s = {.q = new_queue(0), .hold = 800000};
    workqueue_add(s.q, "stuck");
    pthread_t t;
    pthread_create(&t, NULL, slow_worker, &s);
    wait_got(&s);
    double t0 = tu_now();
    assert_int_equal(workqueue_shutdown_drain(s.q, 0.1), PB_ETIMEOUT);
    double took = tu_now() - t0;
    assert_true(took >= 0.09);
    assert_true(took < 0.75); /* did not wait for the 0.8 s reconcile */
    pthread_join(t, NULL);
    workqueue_free(s.q);
}

static void *blocked_getter(void *arg)
{
    workqueue *q = arg;
    char *k;
    return (void *)(intptr_t)workqueue_get(q, &k);
}

static void test_shutdown_wakes_blocked_get(void **state)
{
    workqueue *q = new_queue(0);
    workqueue_add_after(q, "far", 100); /* a getter sleeping on a delay must wake too */
    pthread_t t1, t2;
    pthread_create(&t1, NULL, blocked_getter, q);
    pthread_create(&t2, NULL, blocked_getter, q);
    usleep(20000);
    workqueue_shutdown(q);
    void *r1, *r2;
    pthread_join(t1, &r1);
    pthread_join(t2, &r2);
    assert_int_equal((int)(intptr_t)r1, PB_ECANCELED);
    assert_int_equal((int)(intptr_t)r2, PB_ECANCELED);
    workqueue_free(q);
}

static void test_bad_input(void **state)
{
    pb_err e;
    workqueue_options bad = {.base_delay_s = -1};
    workqueue *q = NULL;
    assert_int_equal(workqueue_new(&bad, &q, &e), PB_EINVAL);
    assert_null(q);
    assert_int_equal(workqueue_new(NULL, NULL, &e), PB_EINVAL);
    assert_int_equal(workqueue_get(NULL, NULL), PB_EINVAL);
    workqueue_add(NULL, "x");
    workqueue_free(NULL);
    assert_int_equal(workqueue_new(NULL, &q, &e), 0);
    workqueue_add(q, NULL);
    assert_int_equal(workqueue_len(q), 0);
    assert_int_equal(workqueue_get(q, NULL), PB_EINVAL);
    workqueue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dedup_and_requeue_while_processing),
        cmocka_unit_test(test_concurrent_adds_never_process_key_twice_at_once),
        cmocka_unit_test(test_backoff_schedule),
        cmocka_unit_test(test_custom_backoff_and_many_failures),
        cmocka_unit_test(test_token_bucket),
        cmocka_unit_test(test_add_after_ordering),
        cmocka_unit_test(test_add_after_heap_many_moves),
        cmocka_unit_test(test_add_after_dedups_with_queued),
        cmocka_unit_test(test_rate_limited_add),
        cmocka_unit_test(test_shutdown_drain_waits_for_in_flight),
        cmocka_unit_test(test_shutdown_drain_deadline),
        cmocka_unit_test(test_shutdown_wakes_blocked_get),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
