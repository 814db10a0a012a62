/* Unit tests for the pg pool's idle-connection caps (provision/pg) and for
 * what they protect: a server with few connection slots serving more
 * database-layout tenants than it has slots (provision/tenantdb).
 *
 * Runs its own throwaway PostgreSQL (pgtest.h) with max_connections=10, so
 * that keeping one idle backend per tenant database, as the pool once did,
 * fails within a handful of tenants ("sorry, too many clients already"). */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgtest.h"
#include "pgquery.h"
#include "provision/pg.h"
#include "provision/tenantdb.h"
#include "util/log.h"

#define MAX_CONNECTIONS 10

static pgtest_server srv;

static int setup(void **state)
{
    pb_log_configure(PB_LOG_WARN, PB_LOG_TEXT, NULL);
    char opts[64];
    snprintf(opts, sizeof opts, "-c max_connections=%d", MAX_CONNECTIONS);
    return pgtest_start_with(&srv, opts);
}

static int teardown(void **state)
{
    pgtest_stop(&srv);
    return 0;
}


/* Backends the pool holds (application_name is set by pb_pg_connect) in
 * databases LIKE `db` (NULL: all). A closed connection's backend leaves
 * pg_stat_activity a moment after PQfinish returns: when the count is above
 * `want`, look again for up to 5 s before answering. */
static long long pool_backends_want(PGconn *adm, const char *db, long long want)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'paybill-operator'%s%s%s",
             db ? " AND datname LIKE '" : "", db ? db : "", db ? "'" : "");
    long long n = pgq_int(adm, sql);
    for (int i = 0; i < 100 && n > want; i++) {
        usleep(50 * 1000);
        n = pgq_int(adm, sql);
    }
    return n;
}

static long long pool_backends(PGconn *adm, const char *db) { return pool_backends_want(adm, db, 0); }

static void test_idle_total_cap_evicts_least_recently_used(void **state)
{
    PGconn *adm = pgq_admin_on(&srv, NULL);
    PQclear(PQexec(adm, "CREATE DATABASE pool_a"));
    PQclear(PQexec(adm, "CREATE DATABASE pool_b"));
    pb_pg_opts o = {.conninfo = srv.conninfo, .max_idle_total = 2};
    pb_pg_pool *p;
    pb_err e;
    assert_int_equal(pb_pg_pool_new(&o, &p, &e), 0);
    PGconn *a, *b, *c, *again;
    assert_int_equal(pb_pg_pool_get(p, "postgres", &a, &e), 0);
    assert_int_equal(pb_pg_pool_get(p, "pool_a", &b, &e), 0);
    assert_int_equal(pb_pg_pool_get(p, "pool_b", &c, &e), 0);
    pb_pg_pool_put(p, a); /* least recently used of the three */
    pb_pg_pool_put(p, b);
    assert_int_equal(pb_pg_pool_idle_count(p), 2);
    pb_pg_pool_put(p, c); /* over the cap: a is closed */
    assert_int_equal(pb_pg_pool_idle_count(p), 2);
    assert_int_equal(pool_backends(adm, "postgres"), 0);
    assert_int_equal(pool_backends_want(adm, "pool_a", 1), 1);
    assert_int_equal(pool_backends_want(adm, "pool_b", 1), 1);
    /* The survivors are reused, not reopened. */
    assert_int_equal(pb_pg_pool_get(p, "pool_a", &again, &e), 0);
    assert_ptr_equal(again, b);
    assert_int_equal(pb_pg_pool_idle_count(p), 1);
    /* Using b made it the most recent: a new return evicts pool_b's. */
    pb_pg_pool_put(p, again);
    assert_int_equal(pb_pg_pool_get(p, "postgres", &a, &e), 0);
    pb_pg_pool_put(p, a);
    assert_int_equal(pool_backends(adm, "pool_b"), 0);
    assert_int_equal(pool_backends_want(adm, "pool_a", 1), 1);
    assert_int_equal(pool_backends_want(adm, "postgres", 1), 1);
    /* pb_pg_pool_close returns a connection without keeping it. */
    assert_int_equal(pb_pg_pool_get(p, "pool_a", &b, &e), 0);
    pb_pg_pool_close(p, b);
    assert_int_equal(pool_backends(adm, "pool_a"), 0);
    assert_int_equal(pb_pg_pool_idle_count(p), 1);
    pb_pg_pool_close(p, NULL); /* ignored */
    pb_pg_pool_free(p);
    assert_int_equal(pool_backends(adm, NULL), 0);
    PQclear(PQexec(adm, "DROP DATABASE pool_a"));
    PQclear(PQexec(adm, "DROP DATABASE pool_b"));
    PQfinish(adm);
}

static void test_more_database_tenants_than_connection_slots(void **state)
{
    pb_tdb_config cfg = {.admin_conninfo = srv.conninfo, .shared_db = "paybill", .tenant_port = srv.port,
                         .sslmode = "disable"};
    pb_tdb *t;
    pb_err e;
    pb_err_clear(&e);
    if (pb_tdb_new(&cfg, &t, &e))
        fail_msg("pb_tdb_new: %s", e.msg);
    pb_dm_model *m = NULL;
    if (pb_dm_parse("notes",
                    "{\"version\":1,\"tables\":[{\"name\":\"notes\",\"columns\":["
                    "{\"name\":\"id\",\"type\":\"bigint\",\"nullable\":false},{\"name\":\"body\",\"type\":\"text\"}],"
                    "\"primaryKey\":[\"id\"]}]}",
                    &m, &e))
        fail_msg("model: %s", e.msg);
    PGconn *adm = pgq_admin_on(&srv, NULL);
    const int n = MAX_CONNECTIONS + 3;
    char id[16];
    for (int i = 0; i < n; i++) {
        pb_tdb_tenant spec = {.id = id, .layout = PB_DM_LAYOUT_DATABASE, .connection_limit = -1};
        pb_tdb_creds cr;
        snprintf(id, sizeof id, "many%02d", i);
        if (pb_tdb_ensure(t, &spec, m, &cr, &e))
            fail_msg("ensure %s: %s", id, e.msg);
        pb_tdb_creds_clear(&cr);
        /* Idle backends do not pile up: none left in tenant databases. */
        assert_int_equal(pool_backends(adm, "t\\_many%"), 0);
    }
    /* The server still has room for others (tenants, admins). */
    assert_true(pool_backends_want(adm, NULL, 2) <= 2);
    PGconn *other = pgq_admin_on(&srv, NULL);
    PQfinish(other);
    /* Rollouts and deletes touch every tenant database too. */
    pb_dm_model *m2 = NULL;
    if (pb_dm_parse("notes",
                    "{\"version\":2,\"tables\":[{\"name\":\"notes\",\"columns\":["
                    "{\"name\":\"id\",\"type\":\"bigint\",\"nullable\":false},{\"name\":\"body\",\"type\":\"text\"},"
                    "{\"name\":\"tag\",\"type\":\"text\"}],\"primaryKey\":[\"id\"]}]}",
                    &m2, &e))
        fail_msg("model v2: %s", e.msg);
    if (pb_tdb_apply_model(t, m2, 0, &e))
        fail_msg("apply_model: %s", e.msg);
    assert_true(pool_backends_want(adm, NULL, 2) <= 2);
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "many%02d", i);
        if (pb_tdb_delete(t, id, PB_TDB_DELETE, m2, NULL, &e))
            fail_msg("delete %s: %s", id, e.msg);
    }
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM pg_database WHERE datname LIKE 't\\_many%'"), 0);
    PQfinish(adm);
    pb_dm_free(m);
    pb_dm_free(m2);
    pb_tdb_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_total_cap_evicts_least_recently_used),
        cmocka_unit_test(test_more_database_tenants_than_connection_slots),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
