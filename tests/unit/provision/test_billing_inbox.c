/*
 * test_billing_inbox.c - the durable billing inbox (provision/billing_inbox)
 * on a throwaway PostgreSQL: deduplication by (provider, event id), claim
 * order by event time, retry with backoff, nothing lost across a reopen (a
 * restarted operator), pruning only of applied rows past the retention.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgtest.h"
#include "pgquery.h"
#include "provision/billing_inbox.h"
#include "provision/pg.h"
#include "util/log.h"

static pb_pg_pool *pool_new(void)
{
    pb_pg_opts o = {.conninfo = pgtest_srv.conninfo};
    pb_pg_pool *p;
    pb_err e;
    assert_int_equal(pb_pg_pool_new(&o, &p, &e), 0);
    return p;
}

static void put(pb_binbox *b, const char *id, int64_t t, int want_inserted)
{
    pb_err e;
    int ins = -1;
    char body[64];
    snprintf(body, sizeof body, "{\"id\":\"%s\"}", id);
    if (pb_binbox_put(b, "stripe", id, "customer.subscription.updated", t, body, strlen(body), &ins, &e) != 0)
        fail_msg("put %s: %s", id, e.msg);
    assert_int_equal(ins, want_inserted);
}

static void test_dedup_order_retry_reopen(void **state)
{
    (void)state;
    pb_pg_pool *p = pool_new();
    pb_binbox *b;
    pb_err e;
    if (pb_binbox_open(p, "inbox_test", &b, &e) != 0)
        fail_msg("%s", e.msg);
    put(b, "evt_b", 200, 1);
    put(b, "evt_a", 100, 1);
    put(b, "evt_c", 300, 1);
    put(b, "evt_a", 100, 0); /* redelivery: nothing new */
    long long pending, total;
    assert_int_equal(pb_binbox_counts(b, &pending, &total, &e), 0);
    assert_int_equal(pending, 3);
    assert_int_equal(total, 3);

    pb_binbox_event *ev;
    size_t n;
    assert_int_equal(pb_binbox_claim(b, 10, &ev, &n, &e), 0);
    assert_int_equal(n, 3);
    assert_string_equal(ev[0].event_id, "evt_a"); /* oldest event first, not arrival */
    assert_string_equal(ev[1].event_id, "evt_b");
    assert_string_equal(ev[0].payload, "{\"id\":\"evt_a\"}");
    assert_int_equal(ev[0].event_time, 100);
    assert_int_equal(pb_binbox_done(b, ev[0].seq, "applied", &e), 0);
    assert_int_equal(pb_binbox_retry(b, ev[1].seq, 3600, "api server down", &e), 0);
    pb_binbox_events_free(ev, n);

    /* evt_b waits for its backoff; evt_c is due. */
    assert_int_equal(pb_binbox_claim(b, 10, &ev, &n, &e), 0);
    assert_int_equal(n, 1);
    assert_string_equal(ev[0].event_id, "evt_c");
    pb_binbox_events_free(ev, n);
    /* A delivery of an applied event stays a duplicate. */
    put(b, "evt_a", 100, 0);
    char *out;
    assert_int_equal(pb_binbox_outcome(b, "stripe", "evt_a", &out, &e), 0);
    assert_string_equal(out, "applied");
    free(out);

    /* "Restart": a new pool and inbox see the same pending rows. */
    pb_binbox_free(b);
    pb_pg_pool_free(p);
    p = pool_new();
    assert_int_equal(pb_binbox_open(p, "inbox_test", &b, &e), 0);
    assert_int_equal(pb_binbox_counts(b, &pending, &total, &e), 0);
    assert_int_equal(pending, 2);
    assert_int_equal(total, 3);
    PGconn *adm = pgq_admin_on(&pgtest_srv, "inbox_test");
    PQclear(PQexec(adm, "UPDATE billing_inbox SET next_attempt_at = now() WHERE event_id = 'evt_b'"));
    assert_int_equal(pb_binbox_claim(b, 10, &ev, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ev[0].event_id, "evt_b");
    assert_int_equal(ev[0].attempts, 1);
    pb_binbox_events_free(ev, n);

    /* Prune: only applied rows older than the retention. */
    PQclear(PQexec(adm, "UPDATE billing_inbox SET received_at = now() - interval '40 days'"));
    long long removed = -1;
    assert_int_equal(pb_binbox_prune(b, PB_BINBOX_DEFAULT_RETENTION_S, &removed, &e), 0);
    assert_int_equal(removed, 1); /* evt_a; b and c still pending */
    assert_int_equal(pb_binbox_counts(b, &pending, &total, &e), 0);
    assert_int_equal(total, 2);
    PQfinish(adm);
    pb_binbox_free(b);
    pb_pg_pool_free(p);
}

static void test_two_openers(void **state)
{
    (void)state;
    /* Opening twice (two replicas) is fine; the second sees the first's rows. */
    pb_pg_pool *p1 = pool_new(), *p2 = pool_new();
    pb_binbox *a, *b;
    pb_err e;
    assert_int_equal(pb_binbox_open(p1, "inbox_two", &a, &e), 0);
    assert_int_equal(pb_binbox_open(p2, "inbox_two", &b, &e), 0);
    put(a, "evt_x", 1, 1);
    put(b, "evt_x", 1, 0);
    pb_binbox_free(a);
    pb_binbox_free(b);
    pb_pg_pool_free(p1);
    pb_pg_pool_free(p2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dedup_order_retry_reopen),
        cmocka_unit_test(test_two_openers),
    };
    return cmocka_run_group_tests(tests, pgtest_group_setup, pgtest_group_teardown);
}
