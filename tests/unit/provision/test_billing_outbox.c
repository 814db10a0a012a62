/*
 * test_billing_outbox.c - usage metering in PostgreSQL
 * (provision/billing_outbox) on a throwaway server: counters per period,
 * an add racing a close moving to the next period, closing a period once
 * (a second close, a restart or a second replica change nothing),
 * cumulative readings reported as growth, deterministic identifiers, the
 * outbox's retry / sent / failed states, and status data for the last
 * fully reported period.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgtest.h"
#include "pgquery.h"
#include "provision/billing_outbox.h"
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

static long long qint(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    long long v = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static int close_p(pb_bout *o, const char *sub, const char *tenant, int64_t ps, int64_t pe, const pb_bout_meter *ms,
                   size_t n)
{
    pb_bout_close c = {.provider = "stripe", .subscription = sub, .tenant = tenant, .customer = "cus_1",
                       .period_start = ps, .period_end = pe, .meters = ms, .nmeters = n};
    int closed = -1;
    pb_err e;
    if (pb_bout_close_period(o, &c, &closed, &e) != 0)
        fail_msg("close: %s", e.msg);
    return closed;
}

static void test_identifier(void **state)
{
    (void)state;
    char a[PB_BOUT_ID_MAX + 1], b[PB_BOUT_ID_MAX + 1], c[PB_BOUT_ID_MAX + 1];
    pb_bout_identifier("stripe", "sub", "t", "agent_steps", 3600, a, sizeof a);
    pb_bout_identifier("stripe", "sub", "t", "agent_steps", 3600, b, sizeof b);
    pb_bout_identifier("stripe", "sub", "t", "agent_steps", 7200, c, sizeof c);
    assert_string_equal(a, b); /* deterministic: a retry or a restart sends the same */
    assert_string_not_equal(a, c);
    assert_true(strncmp(a, "pbu-3600-", 9) == 0);
    assert_int_equal(strlen(a), 9 + 32);
    /* fields are separated: "ab"+"c" is not "a"+"bc" */
    pb_bout_identifier("stripe", "ab", "c", "m", 1, a, sizeof a);
    pb_bout_identifier("stripe", "a", "bc", "m", 1, b, sizeof b);
    assert_string_not_equal(a, b);
    assert_true(pb_bout_meter_valid("agent_steps"));
    assert_false(pb_bout_meter_valid("Agent"));
    assert_false(pb_bout_meter_valid("1x"));
    assert_false(pb_bout_meter_valid("a-b"));
    assert_false(pb_bout_meter_valid(""));
}

static void test_counters_close_send(void **state)
{
    (void)state;
    pb_pg_pool *p = pool_new();
    pb_bout *o;
    pb_err e;
    if (pb_bout_open(p, "outbox_test", 100, &o, &e) != 0)
        fail_msg("%s", e.msg);
    PGconn *adm = pgq_admin_on(&pgtest_srv, "outbox_test");
    /* Period [1000, 1100): 3 + 4 tokens; 5 more in the next period. */
    assert_int_equal(pb_bout_add(o, "acme", "agent_tokens", 3, 1010, &e), 0);
    assert_int_equal(pb_bout_add(o, "acme", "agent_tokens", 4, 1099, &e), 0);
    assert_int_equal(pb_bout_add(o, "acme", "agent_tokens", 5, 1100, &e), 0);
    assert_int_equal(pb_bout_add(o, "acme", "agent_tokens", 0, 1100, &e), 0);
    assert_int_equal(pb_bout_add(o, "acme", "bad-name", 1, 1100, &e), PB_EINVAL);
    assert_int_equal(pb_bout_add(o, "acme", "agent_tokens", -1, 1100, &e), PB_EINVAL);

    pb_bout_meter ms[] = {
        {.meter = "tenant_active", .event_name = "paybill_tenant_days", .kind = PB_BOUT_GAUGE, .value = 1},
        {.meter = "storage_bytes", .event_name = "paybill_storage", .kind = PB_BOUT_GAUGE, .value = 0},
        {.meter = "agent_tokens", .event_name = "paybill_tokens", .kind = PB_BOUT_COUNTER},
        {.meter = "agent_steps", .event_name = "paybill_steps", .kind = PB_BOUT_CUMULATIVE, .value = 40,
         .first_mark = 0},
    };
    assert_int_equal(close_p(o, "acme-sub", "acme", 1000, 1100, ms, 4), 1);
    /* Closed once: again (a restart, another replica) is a no-op, even
     * with other readings. */
    ms[3].value = 90;
    assert_int_equal(close_p(o, "acme-sub", "acme", 1000, 1100, ms, 4), 0);
    assert_int_equal(qint(adm, "SELECT count(*) FROM billing_outbox"), 3); /* storage 0: no report */
    assert_int_equal(qint(adm, "SELECT value FROM billing_outbox WHERE meter = 'agent_tokens'"), 7);
    assert_int_equal(qint(adm, "SELECT value FROM billing_outbox WHERE meter = 'agent_steps'"), 40);
    assert_int_equal(qint(adm, "SELECT value FROM billing_usage_marks WHERE meter = 'agent_steps'"), 40);

    /* An add into a closed bucket (it raced the close) goes to the next
     * period: never lost, never counted twice. */
    assert_int_equal(pb_bout_add(o, "acme", "agent_tokens", 2, 1050, &e), 0);
    assert_int_equal(qint(adm, "SELECT value FROM billing_usage_counters WHERE period_start = 1100"), 7);

    /* Next period: cumulative 90 reports 50; counters 5 + 2. */
    ms[3].value = 90;
    assert_int_equal(close_p(o, "acme-sub", "acme", 1100, 1200, ms, 4), 1);
    assert_int_equal(qint(adm, "SELECT value FROM billing_outbox WHERE meter = 'agent_steps' AND period_start = 1100"),
                     50);
    assert_int_equal(
        qint(adm, "SELECT value FROM billing_outbox WHERE meter = 'agent_tokens' AND period_start = 1100"), 7);
    /* A reset of the source (reading below the mark) reports the reading. */
    ms[3].value = 4;
    assert_int_equal(close_p(o, "acme-sub", "acme", 1200, 1300, ms, 4), 1);
    assert_int_equal(qint(adm, "SELECT value FROM billing_outbox WHERE meter = 'agent_steps' AND period_start = 1200"),
                     4);
    /* A tenant seen for the first time with history: first_mark is the
     * baseline, nothing of the past is billed. */
    pb_bout_meter old[] = {{.meter = "agent_steps", .event_name = "s", .kind = PB_BOUT_CUMULATIVE, .value = 500,
                            .first_mark = 500}};
    assert_int_equal(close_p(o, "old-sub", "old", 1000, 1100, old, 1), 1);
    assert_int_equal(qint(adm, "SELECT count(*) FROM billing_outbox WHERE tenant = 'old'"), 0);

    /* Nothing reported yet. */
    json_t *rep = NULL;
    assert_int_equal(pb_bout_reported(o, "stripe", "acme-sub", &rep, &e), 0);
    assert_null(rep);

    /* Sending: claim in order, one retry, one refused, the rest sent. */
    pb_bout_row *rows;
    size_t n;
    assert_int_equal(pb_bout_claim(o, 100, &rows, &n, &e), 0);
    assert_int_equal(n, 8);
    assert_string_equal(rows[0].tenant, "acme");
    assert_int_equal(rows[0].period_start, 1000);
    assert_int_equal(rows[0].period_end, 1100);
    char want[PB_BOUT_ID_MAX + 1];
    pb_bout_identifier("stripe", "acme-sub", "acme", rows[0].meter, 1000, want, sizeof want);
    assert_string_equal(rows[0].identifier, want);
    assert_string_equal(rows[0].customer, "cus_1");
    for (size_t i = 0; i < n; i++) {
        if (rows[i].period_start == 1000 && strcmp(rows[i].meter, "agent_tokens") == 0)
            assert_int_equal(pb_bout_retry(o, rows[i].seq, 3600, 500, "HTTP 500", &e), 0);
        else if (rows[i].period_start == 1100 && strcmp(rows[i].meter, "agent_steps") == 0)
            assert_int_equal(pb_bout_failed(o, rows[i].seq, 400, "no such meter", &e), 0);
        else
            assert_int_equal(pb_bout_sent(o, rows[i].seq, 200, &e), 0);
    }
    pb_bout_rows_free(rows, n);
    long long pending = -1, failed = -1;
    assert_int_equal(pb_bout_counts(o, &pending, &failed, &e), 0);
    assert_int_equal(pending, 1);
    assert_int_equal(failed, 1);
    /* The retried row waits for its backoff. */
    assert_int_equal(pb_bout_claim(o, 100, &rows, &n, &e), 0);
    assert_int_equal(n, 0);
    pb_bout_rows_free(rows, n);

    /* Status: the latest period with nothing pending is 1200 (1000 still
     * has a retry pending; 1100 had a refusal, shown as failed). */
    assert_int_equal(pb_bout_reported(o, "stripe", "acme-sub", &rep, &e), 0);
    assert_non_null(rep);
    assert_int_equal(json_integer_value(json_object_get(rep, "periodStart")), 1200);
    assert_int_equal(json_integer_value(json_object_get(rep, "periodEnd")), 1300);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(rep, "meters"), "agent_steps")), 4);
    assert_null(json_object_get(rep, "failed"));
    json_decref(rep);
    PQclear(PQexec(adm, "DELETE FROM billing_usage_periods WHERE period_start = 1200"));
    assert_int_equal(pb_bout_reported(o, "stripe", "acme-sub", &rep, &e), 0);
    assert_int_equal(json_integer_value(json_object_get(rep, "periodStart")), 1100);
    assert_string_equal(json_string_value(json_array_get(json_object_get(rep, "failed"), 0)), "agent_steps");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(rep, "meters"), "agent_tokens")), 7);
    json_decref(rep);

    /* "Restart": a new pool; the pending retry is still there, same
     * identifier, attempts counted. */
    pb_bout_free(o);
    pb_pg_pool_free(p);
    p = pool_new();
    assert_int_equal(pb_bout_open(p, "outbox_test", 100, &o, &e), 0);
    PQclear(PQexec(adm, "UPDATE billing_outbox SET next_attempt_at = now() WHERE sent_at IS NULL"));
    assert_int_equal(pb_bout_claim(o, 100, &rows, &n, &e), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].meter, "agent_tokens");
    assert_int_equal(rows[0].attempts, 1);
    pb_bout_identifier("stripe", "acme-sub", "acme", "agent_tokens", 1000, want, sizeof want);
    assert_string_equal(rows[0].identifier, want);
    pb_bout_rows_free(rows, n);
    PQfinish(adm);
    pb_bout_free(o);
    pb_pg_pool_free(p);
}

static void test_two_replicas_close_once(void **state)
{
    (void)state;
    pb_pg_pool *p1 = pool_new(), *p2 = pool_new();
    pb_bout *a, *b;
    pb_err e;
    assert_int_equal(pb_bout_open(p1, "outbox_two", 60, &a, &e), 0);
    assert_int_equal(pb_bout_open(p2, "outbox_two", 60, &b, &e), 0);
    assert_int_equal(pb_bout_add(a, "t", "c", 10, 65, &e), 0);
    assert_int_equal(pb_bout_add(b, "t", "c", 10, 70, &e), 0);
    pb_bout_meter ms[] = {{.meter = "c", .event_name = "c", .kind = PB_BOUT_COUNTER}};
    int ca = close_p(a, "s", "t", 60, 120, ms, 1), cb = close_p(b, "s", "t", 60, 120, ms, 1);
    assert_int_equal(ca + cb, 1);
    PGconn *adm = pgq_admin_on(&pgtest_srv, "outbox_two");
    assert_int_equal(qint(adm, "SELECT count(*) FROM billing_outbox"), 1);
    assert_int_equal(qint(adm, "SELECT value FROM billing_outbox"), 20);
    PQfinish(adm);
    pb_bout_free(a);
    pb_bout_free(b);
    pb_pg_pool_free(p1);
    pb_pg_pool_free(p2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identifier),
        cmocka_unit_test(test_counters_close_send),
        cmocka_unit_test(test_two_replicas_close_once),
    };
    return cmocka_run_group_tests(tests, pgtest_group_setup, pgtest_group_teardown);
}
