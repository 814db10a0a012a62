/* Unit tests for provision/tenantdb and provision/pg against a real,
 * throwaway PostgreSQL server (pgtest.h), started once for the file.
 *
 * Tenants connect with the credentials the library returns, over TCP with
 * a password, exactly as an application would; the isolation tests then
 * try what a hostile tenant would and assert the SQLSTATE of each denial. */
#include "testutil.h"

#include <openssl/evp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pgtest.h"
#include "pgquery.h"
#include "provision/pg.h"
#include "provision/tenantdb.h"
#include "util/log.h"

/* A rotation's grace period longer than the whole file takes: the
 * previous login keeps working throughout (test_rotation_grace is about
 * the grace itself). */
#define LONG_GRACE_MS (3600 * 1000LL)

static pgtest_server srv;
static pb_tdb *tdb;
static pb_dm_model *model; /* the version every tenant is at */
static char snapdir[128];

#define ORDERS                                                                                     \
    "{\"name\":\"orders\",\"columns\":["                                                          \
    "{\"name\":\"id\",\"type\":\"bigint\",\"nullable\":false},"                                   \
    "{\"name\":\"customer_id\",\"type\":\"bigint\"},"                                             \
    "{\"name\":\"total\",\"type\":\"numeric(12,2)\",\"default\":\"0.00\"},"                       \
    "{\"name\":\"status\",\"type\":\"enum\",\"values\":[\"open\",\"paid\"],\"default\":\"open\"},"   \
    "{\"name\":\"meta\",\"type\":\"jsonb\"},"                                                     \
    "{\"name\":\"ref\",\"type\":\"uuid\",\"default\":{\"function\":\"gen_random_uuid\"}},"         \
    "{\"name\":\"created_at\",\"type\":\"timestamptz\",\"nullable\":false,"                       \
    "\"default\":{\"function\":\"now\"}}],"                                                        \
    "\"primaryKey\":[\"id\"],"                                                                     \
    "\"foreignKeys\":[{\"columns\":[\"customer_id\"],"                                             \
    "\"references\":{\"table\":\"customers\",\"columns\":[\"id\"]},\"onDelete\":\"cascade\"}],"      \
    "\"indexes\":[{\"name\":\"orders_by_status\",\"columns\":[\"status\"]}]}"
#define CUSTOMERS(cols) "{\"name\":\"customers\",\"columns\":[" cols "],\"primaryKey\":[\"id\"]}"
#define C_ID "{\"name\":\"id\",\"type\":\"bigint\",\"nullable\":false}"
#define C_EMAIL "{\"name\":\"email\",\"type\":\"text\",\"nullable\":false,\"unique\":true}"
#define C_VIP "{\"name\":\"vip\",\"type\":\"boolean\",\"default\":false}"
#define C_BORN "{\"name\":\"born\",\"type\":\"date\"}"
#define C_PHONE "{\"name\":\"phone\",\"type\":\"text\"}"
#define NOTES                                                                                      \
    "{\"name\":\"notes\",\"columns\":[{\"name\":\"id\",\"type\":\"integer\",\"nullable\":false},"     \
    "{\"name\":\"body\",\"type\":\"text\"}],\"primaryKey\":[\"id\"],"                              \
    "\"indexes\":[{\"name\":\"notes_by_body\",\"columns\":[\"body\"]}]}"

static const char *SHOP_V1 =
    "{\"version\":1,\"tables\":[" ORDERS "," CUSTOMERS(C_ID "," C_EMAIL "," C_VIP "," C_BORN) "]}";
/* v2 adds a column, a table and an index; v3 drops a column. */
static const char *SHOP_V2 =
    "{\"version\":2,\"tables\":[" ORDERS "," CUSTOMERS(C_ID "," C_EMAIL "," C_VIP "," C_BORN "," C_PHONE) "," NOTES "]}";
static const char *SHOP_V3 =
    "{\"version\":3,\"tables\":[" ORDERS "," CUSTOMERS(C_ID "," C_EMAIL "," C_BORN "," C_PHONE) "," NOTES "]}";

/* ---- helpers ------------------------------------------------------------------ */

static pb_dm_model *parse_model(const char *json)
{
    pb_dm_model *m = NULL;
    pb_err e;
    pb_err_clear(&e);
    if (pb_dm_parse("shop", json, &m, &e))
        fail_msg("model: %s", e.msg);
    return m;
}

/* Run sql; return its SQLSTATE, "00000" on success. */



static void ensure_ok(const char *id, pb_dm_layout l, int limit, const char *pw, pb_tdb_creds *cr)
{
    pb_tdb_tenant t = {.id = id, .layout = l, .connection_limit = limit, .password = pw};
    pb_err e;
    pb_err_clear(&e);
    if (pb_tdb_ensure(tdb, &t, model, cr, &e))
        fail_msg("ensure %s: %s", id, e.msg);
}

/* A few customers and orders with awkward values (quotes, NULLs, unicode,
 * jsonb), inserted through the tenant's own login. */
static void seed(const pb_tdb_creds *cr, int base, int n)
{
    PGconn *c = pgq_tenant_connect_ok(cr);
    char sql[1024];
    for (int i = 0; i < n; i++) {
        snprintf(sql, sizeof sql,
                 "INSERT INTO customers (id, email, vip, born) VALUES (%d, 'o''neil+%d@ex.com', %s, %s);"
                 "INSERT INTO orders (id, customer_id, total, status, meta, created_at) VALUES "
                 "(%d, %d, %d.%02d, '%s', %s, '2024-05-0%d 10:00:00+02');",
                 base + i, base + i, i % 2 ? "true" : "false", i % 3 ? "'1990-01-02'" : "NULL", base + i,
                 base + i, i * 7, i, i % 2 ? "paid" : "open",
                 i % 2 ? "'{\"k\": [1, \"caf\u00e9\"]}'" : "NULL", 1 + i % 9);
        pgq_must(c, sql);
    }
    PQfinish(c);
}

static void checksum(const char *id, long long *rows, char sum[65])
{
    pb_err e;
    pb_err_clear(&e);
    if (pb_tdb_checksum(tdb, id, model, rows, sum, &e))
        fail_msg("checksum %s: %s", id, e.msg);
}

/* ---- setup -------------------------------------------------------------------- */

static char pg_dump_path[PATH_MAX + 16];

/* The main server's tdb settings (setup's, and tests that make another). */
static pb_tdb_config main_config(void)
{
    return (pb_tdb_config){.admin_conninfo = srv.conninfo,
                           .shared_db = "paybill",
                           .tenant_host = "127.0.0.1",
                           .tenant_port = srv.port,
                           .sslmode = "disable",
                           .snapshot_dir = snapdir,
                           .pg_dump = pg_dump_path,
                           .statement_timeout_ms = 30000};
}

static int setup(void **state)
{
    pb_log_configure(PB_LOG_WARN, PB_LOG_TEXT, NULL);
    if (pgtest_start(&srv) != 0)
        return -1;
    pgtest_tool(&srv, "pg_dump", pg_dump_path, sizeof pg_dump_path);
    snprintf(snapdir, sizeof snapdir, "%s/snapshots", srv.dir);
    pb_tdb_config cfg = main_config();
    pb_err e;
    pb_err_clear(&e);
    if (pb_tdb_new(&cfg, &tdb, &e)) {
        fprintf(stderr, "pb_tdb_new: %s\n", e.msg);
        return -1;
    }
    /* A second time against the same server converges. */
    pb_tdb *again = NULL;
    if (pb_tdb_new(&cfg, &again, &e)) {
        fprintf(stderr, "pb_tdb_new (rerun): %s\n", e.msg);
        return -1;
    }
    pb_tdb_free(again);
    model = parse_model(SHOP_V1);
    return 0;
}

static pgtest_server srv2; /* the dedicated server (see below) */
static pb_tdb *ded;

static int teardown(void **state)
{
    pb_tdb_free(ded);
    if (ded)
        pgtest_stop(&srv2);
    pb_tdb_free(tdb);
    pb_dm_free(model);
    pgtest_stop(&srv);
    return 0;
}

/* ---- pg.c ------------------------------------------------------------------- */

static void test_pg_quoting_and_errors(void **state)
{
    PGconn *c = pgq_admin_on(&srv, "postgres");
    pb_err e;
    pb_err_clear(&e);
    char *s = pb_pg_format(c, &e, "SELECT %L AS %I, %d, %lld, '100%%', %s", "it's \\ odd", "we\"ird", -3, 1LL << 40, "1");
    assert_non_null(s);
    assert_string_equal(s, "SELECT  E'it''s \\\\ odd' AS \"we\"\"ird\", -3, 1099511627776, '100%', 1");
    PGresult *r = PQexec(c, s);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "it's \\ odd");
    assert_string_equal(PQfname(r, 0), "we\"ird");
    PQclear(r);
    free(s);
    assert_null(pb_pg_format(c, &e, "SELECT %q", "x"));
    assert_int_equal(e.code, PB_EINTERNAL);
    /* Invalid UTF-8 cannot be quoted. */
    assert_null(pb_pg_format(c, &e, "SELECT %L", "\xff\xfe"));
    assert_int_equal(e.code, PB_EINVAL);

    assert_int_equal(pb_pg_exec(c, "SELECT * FROM no_such_table", &e), PB_ENOTFOUND);
    assert_non_null(strstr(e.msg, "SQLSTATE 42P01"));
    assert_int_equal(pb_pg_exec(c, "SET statement_timeout = 50; SELECT pg_sleep(2)", &e), PB_ETIMEOUT);
    assert_int_equal(pb_pg_sqlstate_code("42501"), PB_EFORBIDDEN);
    assert_int_equal(pb_pg_sqlstate_code("23505"), PB_ECONFLICT);
    assert_int_equal(pb_pg_sqlstate_code("08006"), PB_EUNAVAILABLE);
    assert_int_equal(pb_pg_sqlstate_code("28P01"), PB_EUNAUTHORIZED);
    assert_int_equal(pb_pg_sqlstate_code(NULL), PB_EIO);
    const char *p[2] = {"a'); DROP TABLE x; --", "2"};
    r = NULL;
    assert_int_equal(pb_pg_query(c, "SELECT $1::text || $2", 2, p, &r, &e), 0);
    assert_string_equal(PQgetvalue(r, 0, 0), "a'); DROP TABLE x; --2");
    PQclear(r);
    PQfinish(c);
}

static void test_pg_pool(void **state)
{
    pb_pg_opts o = {.conninfo = srv.conninfo, .statement_timeout_ms = 1234};
    pb_pg_pool *p;
    pb_err e;
    assert_int_equal(pb_pg_pool_new(&o, &p, &e), 0);
    PGconn *a, *b, *c;
    assert_int_equal(pb_pg_pool_get(p, NULL, &a, &e), 0);
    assert_int_equal(pb_pg_pool_get(p, "paybill", &b, &e), 0);
    assert_string_equal(PQdb(a), "postgres");
    assert_string_equal(PQdb(b), "paybill");
    assert_string_equal(PQparameterStatus(a, "TimeZone"), "UTC");
    PGresult *r = PQexec(a, "SHOW statement_timeout");
    assert_string_equal(PQgetvalue(r, 0, 0), "1234ms");
    PQclear(r);
    /* Settings a borrower changed do not leak to the next one. */
    PQclear(PQexec(a, "SET statement_timeout = 5"));
    pb_pg_pool_put(p, a);
    assert_int_equal(pb_pg_pool_get(p, NULL, &c, &e), 0);
    assert_ptr_equal(c, a); /* reused */
    r = PQexec(c, "SHOW statement_timeout");
    assert_string_equal(PQgetvalue(r, 0, 0), "1234ms");
    PQclear(r);
    /* A connection returned inside a transaction is not kept. */
    PQclear(PQexec(c, "BEGIN"));
    pb_pg_pool_put(p, c);
    assert_int_equal(pb_pg_pool_get(p, NULL, &a, &e), 0);
    assert_int_equal(PQtransactionStatus(a), PQTRANS_IDLE);
    pb_pg_pool_put(p, a);
    pb_pg_pool_put(p, b);
    pb_pg_pool_forget_db(p, "paybill");
    char *ci = NULL, *pw = NULL;
    assert_int_equal(pb_pg_pool_tool_conninfo(p, "t_x", &ci, &pw, &e), 0);
    assert_non_null(strstr(ci, "dbname='t_x'"));
    assert_null(strstr(ci, "dbname='postgres'"));
    assert_null(pw);
    free(ci);
    /* A pinned search_path is every session's default: what a borrower
     * changes is undone on return. */
    pb_pg_pool_free(p);
    pb_pg_opts pinned = {.conninfo = srv.conninfo, .search_path = "pg_catalog,pg_temp"};
    assert_int_equal(pb_pg_pool_new(&pinned, &p, &e), 0);
    assert_int_equal(pb_pg_pool_get(p, NULL, &a, &e), 0);
    r = PQexec(a, "SHOW search_path");
    assert_string_equal(PQgetvalue(r, 0, 0), "pg_catalog,pg_temp");
    PQclear(r);
    PQclear(PQexec(a, "SET search_path = public"));
    pb_pg_pool_put(p, a);
    assert_int_equal(pb_pg_pool_get(p, NULL, &a, &e), 0);
    r = PQexec(a, "SHOW search_path");
    assert_string_equal(PQgetvalue(r, 0, 0), "pg_catalog,pg_temp");
    PQclear(r);
    pb_pg_pool_put(p, a);
    pinned.search_path = "x, y";
    pb_pg_pool_free(p);
    assert_int_equal(pb_pg_pool_new(&pinned, &p, &e), 0);
    assert_int_equal(pb_pg_pool_get(p, NULL, &a, &e), PB_EINVAL);
    /* Unreachable server: a clear error, not a hang. */
    pb_pg_opts bad = {.conninfo = "host=127.0.0.1 port=1 user=x dbname=x", .connect_timeout_s = 2};
    pb_pg_pool_free(p);
    assert_int_equal(pb_pg_pool_new(&bad, &p, &e), 0);
    assert_int_equal(pb_pg_pool_get(p, NULL, &a, &e), PB_EUNAVAILABLE);
    assert_null(a);
    pb_pg_pool_free(p);
}

/* ---- layouts ------------------------------------------------------------------- */

static void test_ensure_each_layout_idempotent(void **state)
{
    const struct {
        const char *id;
        pb_dm_layout l;
        const char *db, *schema;
    } cases[] = {
        {"acme", PB_DM_LAYOUT_RLS, "paybill", "app"},
        {"bridge1", PB_DM_LAYOUT_SCHEMA, "paybill", "t_bridge1"},
        {"silo1", PB_DM_LAYOUT_DATABASE, "t_silo1", "app"},
    };
    for (size_t i = 0; i < 3; i++) {
        pb_tdb_creds cr, cr2;
        ensure_ok(cases[i].id, cases[i].l, 5, NULL, &cr);
        assert_string_equal(cr.host, "127.0.0.1");
        assert_int_equal(cr.port, srv.port);
        assert_string_equal(cr.dbname, cases[i].db);
        assert_string_equal(cr.schema, cases[i].schema);
        assert_string_equal(cr.sslmode, "disable");
        assert_int_equal(strlen(cr.password), 32);
        char want_uri[512];
        snprintf(want_uri, sizeof want_uri, "postgresql://pb_t_%s:%s@127.0.0.1:%d/%s?sslmode=disable", cases[i].id,
                 cr.password, srv.port, cases[i].db);
        assert_string_equal(cr.uri, want_uri);
        seed(&cr, 1, 3);
        /* The URI works as given. */
        PGconn *u = PQconnectdb(cr.uri);
        assert_int_equal(PQstatus(u), CONNECTION_OK);
        assert_int_equal(pgq_int(u, "SELECT count(*) FROM customers"), 3);
        PQfinish(u);

        /* Rerun with the password from the Secret: same credentials, data kept. */
        ensure_ok(cases[i].id, cases[i].l, 5, cr.password, &cr2);
        assert_string_equal(cr2.password, cr.password);
        PGconn *c = pgq_tenant_connect_ok(&cr2);
        assert_int_equal(pgq_int(c, "SELECT count(*) FROM orders"), 3);
        PQfinish(c);
        /* Rerun without one: a new password, the old one stops working. */
        pb_tdb_creds_clear(&cr2);
        ensure_ok(cases[i].id, cases[i].l, 5, NULL, &cr2);
        assert_string_not_equal(cr2.password, cr.password);
        char err[512];
        assert_null(pgq_tenant_connect(&cr, NULL, NULL, err, sizeof err));
        assert_non_null(strstr(err, "password authentication failed"));
        PQfinish(pgq_tenant_connect_ok(&cr2));
        pb_tdb_creds_clear(&cr);
        pb_tdb_creds_clear(&cr2);

        pb_tdb_info info;
        pb_err e;
        assert_int_equal(pb_tdb_info_get(tdb, cases[i].id, &info, &e), 0);
        assert_int_equal(info.layout, cases[i].l);
        assert_string_equal(info.state, "active");
        assert_false(info.moving);
    }
    /* One migration row per target, recorded once despite the reruns. */
    PGconn *a = pgq_admin_on(&srv, "paybill");
    assert_int_equal(pgq_int(a, "SELECT count(*) FROM paybill.migrations WHERE target IN ('app','t_bridge1') AND version = 1"), 2);
    PQfinish(a);
    a = pgq_admin_on(&srv, "t_silo1");
    assert_int_equal(pgq_int(a, "SELECT count(*) FROM paybill.migrations WHERE target = 'app'"), 1);
    /* Tables belong to the owner role, never to the tenant. */
    assert_int_equal(pgq_int(a, "SELECT count(*) FROM pg_tables WHERE schemaname = 'app' AND tableowner <> 'paybill_owner'"), 0);
    PQfinish(a);
}

static void test_role_attributes_and_limits(void **state)
{
    pb_tdb_creds cr;
    ensure_ok("limited", PB_DM_LAYOUT_SCHEMA, 1, NULL, &cr);
    PGconn *a = pgq_admin_on(&srv, "paybill");
    PGresult *r = PQexec(a, "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolinherit, rolreplication, "
                            "rolconnlimit, (SELECT count(*) FROM pg_auth_members m WHERE m.member = r.oid) "
                            "FROM pg_roles r WHERE rolname = 'pb_t_limited'");
    assert_int_equal(PQntuples(r), 1);
    for (int i = 0; i < 6; i++)
        assert_string_equal(PQgetvalue(r, 0, i), "f");
    assert_string_equal(PQgetvalue(r, 0, 6), "1");
    assert_string_equal(PQgetvalue(r, 0, 7), "0"); /* member of nothing */
    PQclear(r);
    /* The password is stored as a SCRAM verifier. */
    assert_int_equal(pgq_int(a, "SELECT count(*) FROM pg_authid WHERE rolname = 'pb_t_limited' AND rolpassword LIKE 'SCRAM-SHA-256$%'"), 1);
    PQfinish(a);
    PGconn *c1 = pgq_tenant_connect_ok(&cr);
    char err[512];
    assert_null(pgq_tenant_connect(&cr, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "too many connections for role"));
    PQfinish(c1);
    pb_tdb_creds_clear(&cr);
}

static void test_bad_requests(void **state)
{
    pb_tdb_creds cr;
    pb_err e;
    pb_tdb_tenant t = {.id = "Bad-Id", .layout = PB_DM_LAYOUT_RLS};
    assert_int_equal(pb_tdb_ensure(tdb, &t, model, &cr, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "tenant id \"Bad-Id\" is invalid"));
    t.id = "x\"; drop role postgres; --";
    assert_int_equal(pb_tdb_ensure(tdb, &t, model, &cr, &e), PB_EINVAL);
    t.id = "okid";
    t.password = "short";
    assert_int_equal(pb_tdb_ensure(tdb, &t, model, &cr, &e), PB_EINVAL);
    t.password = "has'quote'and-is-long-enough";
    assert_int_equal(pb_tdb_ensure(tdb, &t, model, &cr, &e), PB_EINVAL);
    /* A dedicated-server tenant belongs to a dedicated server's pb_tdb. */
    pb_tdb_tenant silo = {.id = "bigco", .layout = PB_DM_LAYOUT_DATABASE, .dedicated_server = 1};
    assert_int_equal(pb_tdb_ensure(tdb, &silo, model, &cr, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "role dedicated"));
    /* An existing tenant in another layout must be moved, not re-ensured. */
    pb_tdb_tenant other = {.id = "acme", .layout = PB_DM_LAYOUT_SCHEMA};
    assert_int_equal(pb_tdb_ensure(tdb, &other, model, &cr, &e), PB_ECONFLICT);
    assert_non_null(strstr(e.msg, "layout rls"));
    assert_int_equal(pb_tdb_rotate(tdb, "nobody", LONG_GRACE_MS, &cr, &e), PB_ENOTFOUND);
    assert_int_equal(pb_tdb_suspend(tdb, "nobody", &e), PB_ENOTFOUND);
    pb_tdb_info info;
    assert_int_equal(pb_tdb_info_get(tdb, "nobody", &info, &e), PB_ENOTFOUND);
    assert_int_equal(pb_tdb_delete(tdb, "nobody", PB_TDB_DELETE, model, NULL, &e), 0);
    /* Nothing was created for the rejected ids. */
    PGconn *a = pgq_admin_on(&srv, "paybill");
    assert_int_equal(pgq_int(a, "SELECT count(*) FROM pg_roles WHERE rolname IN ('pb_t_okid','pb_t_bigco')"), 0);
    assert_int_equal(pgq_int(a, "SELECT count(*) FROM pg_database WHERE datname = 't_bigco'"), 0);
    PQfinish(a);
}

/* ---- isolation ------------------------------------------------------------------ */

static void test_rls_isolation(void **state)
{
    pb_tdb_creds a, b;
    ensure_ok("rls_a", PB_DM_LAYOUT_RLS, -1, NULL, &a);
    ensure_ok("rls_b", PB_DM_LAYOUT_RLS, -1, NULL, &b);
    seed(&a, 100, 4);
    seed(&b, 100, 6); /* same ids: keys are per tenant */
    PGconn *adm = pgq_admin_on(&srv, "paybill");
    pgq_must(adm, "ANALYZE app.customers");
    PGconn *c = pgq_tenant_connect_ok(&a);

    assert_int_equal(pgq_int(c, "SELECT count(*) FROM customers"), 4);
    assert_int_equal(pgq_int(c, "SELECT count(*) FROM app.orders WHERE tenant_id = 'rls_b'"), 0);
    assert_int_equal(pgq_int(c, "SELECT count(DISTINCT tenant_id) FROM customers"), 1);
    /* Writing as someone else. */
    assert_string_equal(pgq_state(c, "INSERT INTO customers (tenant_id, id, email) VALUES ('rls_b', 999, 'x')"), "42501");
    assert_string_equal(pgq_state(c, "UPDATE customers SET tenant_id = 'rls_b' WHERE id = 100"), "42501");
    assert_string_equal(pgq_state(c, "UPDATE customers SET email = 'pwned' WHERE tenant_id = 'rls_b'"), "00000");
    assert_string_equal(pgq_state(c, "DELETE FROM orders WHERE tenant_id = 'rls_b'"), "00000");
    /* Becoming someone else. */
    assert_string_equal(pgq_state(c, "SET ROLE pb_t_rls_b"), "42501");
    assert_string_equal(pgq_state(c, "SET ROLE paybill_owner"), "42501");
    assert_string_equal(pgq_state(c, "SET ROLE postgres"), "42501");
    assert_string_equal(pgq_state(c, "SET SESSION AUTHORIZATION pb_t_rls_b"), "42501");
    assert_string_equal(pgq_state(c, "SET app.tenant = 'rls_b'"), "00000");
    assert_string_equal(pgq_state(c, "SELECT set_config('app.tenant_id', 'rls_b', false)"), "00000");
    assert_string_equal(pgq_state(c, "RESET ROLE"), "00000");
    assert_int_equal(pgq_int(c, "SELECT count(*) FROM customers"), 4);
    assert_int_equal(pgq_int(c, "SELECT count(*) FROM customers WHERE email = 'pwned'"), 0);
    /* The rls tenants' group: becoming it gives nothing the tenant lacks,
     * and the rows stay bound to the login (session_user). */
    assert_string_equal(pgq_state(c, "SET ROLE paybill_rls_tenants"), "00000");
    assert_int_equal(pgq_int(c, "SELECT count(*) FROM customers"), 4);
    assert_int_equal(pgq_int(c, "SELECT count(*) FROM app.orders WHERE tenant_id = 'rls_b'"), 0);
    assert_string_equal(pgq_state(c, "INSERT INTO customers (tenant_id, id, email) VALUES ('rls_b', 998, 'x')"), "42501");
    assert_string_equal(pgq_state(c, "SELECT * FROM paybill.tenants"), "42501");
    assert_string_equal(pgq_state(c, "CREATE TABLE app.mine (x int)"), "42501");
    assert_string_equal(pgq_state(c, "ALTER TABLE customers NO FORCE ROW LEVEL SECURITY"), "42501");
    assert_string_equal(pgq_state(c, "SET ROLE pb_t_rls_b"), "42501");
    assert_string_equal(pgq_state(c, "GRANT pb_t_rls_b TO paybill_rls_tenants"), "42501");
    assert_string_equal(pgq_state(c, "RESET ROLE"), "00000");
    {
        PGresult *gr = PQexec(c, "SELECT paybill.current_tenant_id()");
        assert_string_equal(PQgetvalue(gr, 0, 0), "rls_a");
        PQclear(gr);
    }
    /* Nor can a tenant hand its group's membership to anyone. */
    assert_string_equal(pgq_state(c, "GRANT paybill_rls_tenants TO pb_t_rls_b"), "42501");
    /* Changing the rules. */
    assert_string_equal(pgq_state(c, "ALTER TABLE customers DISABLE ROW LEVEL SECURITY"), "42501");
    assert_string_equal(pgq_state(c, "ALTER TABLE customers NO FORCE ROW LEVEL SECURITY"), "42501");
    assert_string_equal(pgq_state(c, "DROP POLICY tenant_isolation ON customers"), "42501");
    assert_string_equal(pgq_state(c, "CREATE POLICY mine ON customers USING (true)"), "42501");
    assert_string_equal(pgq_state(c, "UPDATE paybill.tenants SET role_name = 'pb_t_rls_a' WHERE tenant_id = 'rls_b'"), "42501");
    assert_string_equal(pgq_state(c, "SELECT * FROM paybill.tenants"), "42501");
    assert_string_equal(pgq_state(c, "CREATE TABLE app.mine (x int)"), "42501");
    assert_string_equal(pgq_state(c, "CREATE TABLE public.mine (x int)"), "42501");
    assert_string_equal(pgq_state(c, "CREATE FUNCTION paybill.current_tenant_id() RETURNS text LANGUAGE sql AS 'SELECT ''rls_b'''"), "42501");
    assert_string_equal(pgq_state(c, "TRUNCATE customers"), "42501");
    /* Reading around the policy through the catalogs. */
    assert_string_equal(pgq_state(c, "SELECT * FROM pg_statistic"), "42501");
    assert_int_equal(pgq_int(c, "SELECT count(*) FROM pg_stats WHERE schemaname = 'app'"), 0);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM pg_stats WHERE schemaname = 'app' AND tablename = 'customers'") > 0, 1);
    assert_string_equal(pgq_state(c, "SELECT * FROM pg_authid"), "42501");
    assert_string_equal(pgq_state(c, "SELECT pg_read_file('PG_VERSION')"), "42501");
    assert_string_equal(pgq_state(c, "COPY customers TO '/tmp/paybill-leak'"), "42501");
    assert_string_equal(pgq_state(c, "SELECT * FROM pg_largeobject"), "42501");
    /* Nor can it kill another tenant's sessions. */
    PGconn *cb = pgq_tenant_connect_ok(&b);
    assert_string_equal(pgq_state(c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'pb_t_rls_b'"), "42501");
    assert_string_equal(pgq_state(c, "SET ROLE paybill_rls_tenants"), "00000");
    assert_string_equal(pgq_state(c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'pb_t_rls_b'"), "42501");
    assert_string_equal(pgq_state(c, "RESET ROLE"), "00000");
    assert_string_equal(pgq_state(cb, "SELECT 1"), "00000");
    PQfinish(cb);
    /* The binding is to the login itself. */
    PGresult *r = PQexec(c, "SELECT paybill.current_tenant_id()");
    assert_string_equal(PQgetvalue(r, 0, 0), "rls_a");
    PQclear(r);
    /* Another tenant's data is untouched by all of the above. */
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM app.customers WHERE tenant_id = 'rls_b' AND email <> 'pwned'"), 6);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM app.orders WHERE tenant_id = 'rls_b'"), 6);
    /* A tenant's own DELETE only reaches its own rows. */
    pgq_must(c, "DELETE FROM customers");
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM app.customers WHERE tenant_id = 'rls_b'"), 6);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM app.orders WHERE tenant_id = 'rls_a'"), 0); /* cascaded */
    PQfinish(c);
    PQfinish(adm);
    /* rls tenants cannot reach other layouts' data either. */
    c = pgq_tenant_connect_ok(&a);
    assert_string_equal(pgq_state(c, "SELECT * FROM t_bridge1.customers"), "42501");
    PQfinish(c);
    char err[512];
    assert_null(pgq_tenant_connect(&a, "t_silo1", NULL, err, sizeof err));
    assert_non_null(strstr(err, "permission denied for database"));
    pb_tdb_creds_clear(&a);
    pb_tdb_creds_clear(&b);
}

static void test_schema_and_database_isolation(void **state)
{
    pb_tdb_creds s1, s2, d1, d2;
    ensure_ok("sch_a", PB_DM_LAYOUT_SCHEMA, -1, NULL, &s1);
    ensure_ok("sch_b", PB_DM_LAYOUT_SCHEMA, -1, NULL, &s2);
    ensure_ok("db_a", PB_DM_LAYOUT_DATABASE, -1, NULL, &d1);
    ensure_ok("db_b", PB_DM_LAYOUT_DATABASE, -1, NULL, &d2);
    seed(&s2, 1, 2);
    seed(&d2, 1, 2);
    PGconn *c = pgq_tenant_connect_ok(&s1);
    assert_int_equal(pgq_int(c, "SELECT count(*) FROM customers"), 0);
    assert_string_equal(pgq_state(c, "SELECT * FROM t_sch_b.customers"), "42501");
    assert_string_equal(pgq_state(c, "INSERT INTO t_sch_b.customers (id, email) VALUES (1, 'x')"), "42501");
    assert_string_equal(pgq_state(c, "SET search_path = t_sch_b"), "00000");
    assert_string_equal(pgq_state(c, "SELECT * FROM customers"), "42P01"); /* not visible at all */
    assert_string_equal(pgq_state(c, "SET ROLE pb_t_sch_b"), "42501");
    assert_string_equal(pgq_state(c, "SET ROLE paybill_rls_tenants"), "42501"); /* not a member */
    assert_string_equal(pgq_state(c, "SELECT * FROM app.customers"), "42501");
    assert_string_equal(pgq_state(c, "SELECT * FROM paybill.migrations"), "42501");
    assert_int_equal(pgq_int(c, "SELECT count(*) FROM pg_stats WHERE schemaname = 't_sch_b'"), 0);
    assert_string_equal(pgq_state(c, "ALTER TABLE t_sch_a.customers DISABLE TRIGGER ALL"), "42501");
    PQfinish(c);
    char err[512];
    assert_null(pgq_tenant_connect(&s1, "t_db_b", NULL, err, sizeof err));
    assert_non_null(strstr(err, "permission denied for database \"t_db_b\""));

    c = pgq_tenant_connect_ok(&d1);
    assert_int_equal(pgq_int(c, "SELECT count(*) FROM customers"), 0);
    assert_string_equal(pgq_state(c, "CREATE TABLE public.x (i int)"), "42501");
    assert_string_equal(pgq_state(c, "CREATE TABLE app.x (i int)"), "42501");
    assert_string_equal(pgq_state(c, "SET ROLE pb_t_db_b"), "42501");
    assert_string_equal(pgq_state(c, "SET ROLE paybill_rls_tenants"), "42501");
    assert_string_equal(pgq_state(c, "CREATE EXTENSION dblink"), "42501");
    PQfinish(c);
    assert_null(pgq_tenant_connect(&d1, "t_db_b", NULL, err, sizeof err));
    assert_non_null(strstr(err, "permission denied for database \"t_db_b\""));
    assert_null(pgq_tenant_connect(&d1, "paybill", NULL, err, sizeof err));
    assert_non_null(strstr(err, "permission denied for database \"paybill\""));
    /* Nor the maintenance database and template1 (PostgreSQL lets PUBLIC
     * connect and make temporary tables there; not on servers the
     * operator manages), for a tenant of any layout. */
    const char *maint[] = {"postgres", "template1"};
    pb_tdb_creds *any[] = {&s1, &d1};
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 2; k++) {
            c = pgq_tenant_connect(any[k], maint[i], NULL, err, sizeof err);
            if (c) {
                PQfinish(c);
                fail_msg("tenant %s can connect to %s", any[k]->user, maint[i]);
            }
            assert_non_null(strstr(err, "permission denied for database"));
        }
    {
        PGconn *adm = pgq_admin_on(&srv, "postgres");
        assert_int_equal(pgq_int(adm, "SELECT count(*) FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a "
                                   "WHERE d.datname IN ('postgres', 'template1') AND a.grantee = 0"),
                         0);
        PQfinish(adm);
    }
    /* Guessing another tenant's password gets nowhere. */
    assert_null(pgq_tenant_connect(&d2, NULL, d1.password, err, sizeof err));
    assert_non_null(strstr(err, "password authentication failed"));
    pb_tdb_creds_clear(&s1);
    pb_tdb_creds_clear(&s2);
    pb_tdb_creds_clear(&d1);
    pb_tdb_creds_clear(&d2);
}

/* ---- lifecycle -------------------------------------------------------------------- */

static void test_suspend_resume(void **state)
{
    pb_tdb_creds cr;
    pb_err e;
    ensure_ok("sleepy", PB_DM_LAYOUT_SCHEMA, -1, NULL, &cr);
    PGconn *open = pgq_tenant_connect_ok(&cr);
    assert_string_equal(pgq_state(open, "SELECT 1"), "00000");
    assert_int_equal(pb_tdb_suspend(tdb, "sleepy", &e), 0);
    assert_int_equal(pb_tdb_suspend(tdb, "sleepy", &e), 0); /* idempotent */
    /* The open session was terminated... */
    PGresult *r = PQexec(open, "SELECT 1");
    assert_int_not_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    assert_int_not_equal(PQstatus(open), CONNECTION_OK);
    PQfinish(open);
    /* ...and new ones are refused. */
    char err[512];
    assert_null(pgq_tenant_connect(&cr, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "not permitted to log in"));
    pb_tdb_info info;
    assert_int_equal(pb_tdb_info_get(tdb, "sleepy", &info, &e), 0);
    assert_string_equal(info.state, "suspended");
    /* ensure keeps a suspended tenant suspended. */
    pb_tdb_creds cr2;
    ensure_ok("sleepy", PB_DM_LAYOUT_SCHEMA, -1, cr.password, &cr2);
    pb_tdb_creds_clear(&cr2);
    assert_null(pgq_tenant_connect(&cr, NULL, NULL, err, sizeof err));
    assert_int_equal(pb_tdb_resume(tdb, "sleepy", &e), 0);
    PQfinish(pgq_tenant_connect_ok(&cr));
    assert_int_equal(pb_tdb_info_get(tdb, "sleepy", &info, &e), 0);
    assert_string_equal(info.state, "active");
    pb_tdb_creds_clear(&cr);
}

/* Rotation alternates between the tenant's two logins: the new password
 * goes to the login not handed out, which becomes the one handed out; the
 * previous one keeps working until the next rotation. */
static void test_rotate(void **state)
{
    pb_tdb_creds cr, fresh, third;
    pb_err e;
    char err[512];
    ensure_ok("rotor", PB_DM_LAYOUT_RLS, 5, NULL, &cr);
    seed(&cr, 1, 3);
    assert_string_equal(cr.user, "pb_t_rotor");
    PGconn *open = pgq_tenant_connect_ok(&cr);
    /* Before any rotation the second login exists but cannot log in. */
    pb_tdb_creds b = {0};
    b.host = cr.host;
    b.port = cr.port;
    b.dbname = cr.dbname;
    b.user = "pb_t_rotor-2";
    b.password = cr.password;
    assert_null(pgq_tenant_connect(&b, NULL, NULL, err, sizeof err));

    assert_int_equal(pb_tdb_rotate(tdb, "rotor", LONG_GRACE_MS, &fresh, &e), 0);
    assert_string_not_equal(fresh.password, cr.password);
    assert_string_equal(fresh.user, "pb_t_rotor-2");
    assert_non_null(strstr(fresh.uri, fresh.password));
    assert_non_null(strstr(fresh.uri, "pb_t_rotor-2:"));
    /* Both the old and the new credentials work, with the same data. */
    PGconn *n = pgq_tenant_connect_ok(&fresh);
    assert_int_equal(pgq_int(n, "SELECT count(*) FROM customers"), 3);
    PQfinish(pgq_tenant_connect_ok(&cr));
    assert_string_equal(pgq_state(open, "SELECT count(*) FROM customers"), "00000");
    /* ensure with the new Secret converges without changing anything. */
    pb_tdb_creds again;
    ensure_ok("rotor", PB_DM_LAYOUT_RLS, 5, fresh.password, &again);
    assert_string_equal(again.user, "pb_t_rotor-2");
    pb_tdb_creds_clear(&again);
    PQfinish(pgq_tenant_connect_ok(&cr));
    PQfinish(pgq_tenant_connect_ok(&fresh));

    /* Rotate again: back to the first login with a new password; the
     * oldest password stops working, the previous one still works. */
    assert_int_equal(pb_tdb_rotate(tdb, "rotor", LONG_GRACE_MS, &third, &e), 0);
    assert_string_equal(third.user, "pb_t_rotor");
    assert_string_not_equal(third.password, cr.password);
    assert_null(pgq_tenant_connect(&cr, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "password authentication failed"));
    PQfinish(pgq_tenant_connect_ok(&fresh));
    PQfinish(pgq_tenant_connect_ok(&third));
    /* Documented: sessions opened before a rotation keep working. */
    assert_string_equal(pgq_state(open, "SELECT count(*) FROM customers"), "00000");

    /* Suspend ends the sessions of both logins and locks both out. */
    PGconn *o3 = pgq_tenant_connect_ok(&third);
    assert_int_equal(pb_tdb_suspend(tdb, "rotor", &e), 0);
    PGconn *both[3] = {open, n, o3};
    for (int i = 0; i < 3; i++) {
        PGresult *r = PQexec(both[i], "SELECT 1");
        assert_int_not_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        PQclear(r);
        PQfinish(both[i]);
    }
    assert_null(pgq_tenant_connect(&fresh, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "not permitted to log in"));
    assert_null(pgq_tenant_connect(&third, NULL, NULL, err, sizeof err));
    /* A rotation while suspended does not let anyone in. */
    pb_tdb_creds fourth;
    assert_int_equal(pb_tdb_rotate(tdb, "rotor", LONG_GRACE_MS, &fourth, &e), 0);
    assert_string_equal(fourth.user, "pb_t_rotor-2");
    assert_null(pgq_tenant_connect(&fourth, NULL, NULL, err, sizeof err));
    assert_int_equal(pb_tdb_resume(tdb, "rotor", &e), 0);
    PQfinish(pgq_tenant_connect_ok(&fourth));
    PQfinish(pgq_tenant_connect_ok(&third));
    assert_null(pgq_tenant_connect(&fresh, NULL, NULL, err, sizeof err));

    /* Both logins carry the connection limit; the second is a member of
     * the first and of nothing else. */
    PGconn *adm = pgq_admin_on(&srv, "paybill");
    assert_int_equal(pgq_int(adm, "SELECT rolconnlimit FROM pg_roles WHERE rolname = 'pb_t_rotor-2'"), 5);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member "
                               "JOIN pg_roles g ON g.oid = m.roleid WHERE u.rolname = 'pb_t_rotor-2'"),
                     1);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member "
                               "JOIN pg_roles g ON g.oid = m.roleid WHERE u.rolname = 'pb_t_rotor-2' "
                               "AND g.rolname = 'pb_t_rotor' AND NOT m.admin_option"),
                     1);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM pg_roles WHERE rolname = 'pb_t_rotor-2' AND "
                               "(rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls OR rolreplication)"),
                     0);
    PQfinish(adm);
    pb_tdb_creds_clear(&cr);
    pb_tdb_creds_clear(&fresh);
    pb_tdb_creds_clear(&third);
    pb_tdb_creds_clear(&fourth);
}

/* Rotating after a leak revokes the leaked password: the previous login
 * works during the grace period, then neither it nor its open sessions do
 * (whether pb_tdb_revoke_due or ensure notices first); a grace of zero
 * revokes at once. */
static void test_rotation_grace(void **state)
{
    pb_tdb_creds cr, fresh, third, again;
    pb_tdb_info info;
    pb_err e;
    char err[512];
    double next = 0;
    ensure_ok("graced", PB_DM_LAYOUT_SCHEMA, -1, NULL, &cr);
    seed(&cr, 1, 2);
    assert_int_equal(pb_tdb_rotate(tdb, "graced", -1, &fresh, &e), PB_EINVAL);
    PGconn *open = pgq_tenant_connect_ok(&cr);
    assert_int_equal(pb_tdb_rotate(tdb, "graced", 2000, &fresh, &e), 0);
    /* During the grace: both work, and the revocation is not due yet. */
    PQfinish(pgq_tenant_connect_ok(&cr));
    PQfinish(pgq_tenant_connect_ok(&fresh));
    assert_int_equal(pb_tdb_revoke_due(tdb, "graced", &next, &e), 0);
    assert_true(next > 0 && next <= 2.0);
    assert_int_equal(pb_tdb_info_get(tdb, "graced", &info, &e), 0);
    assert_int_equal(strlen(info.revoke_at), 20); /* 2026-01-02T03:04:05Z */
    assert_string_equal(info.revoked_at, "");
    assert_true(info.revoke_in_s > 0 && info.revoke_in_s <= 2.0);
    assert_string_equal(pgq_state(open, "SELECT count(*) FROM customers"), "00000");
    /* After it: revoked, its session ended, the new login unaffected. */
    usleep((useconds_t)((next + 0.3) * 1e6));
    PGconn *n = pgq_tenant_connect_ok(&fresh);
    assert_int_equal(pb_tdb_revoke_due(tdb, "graced", &next, &e), 0);
    assert_true(next < 0);
    assert_null(pgq_tenant_connect(&cr, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "password authentication failed")); /* it has none left */
    assert_string_not_equal(pgq_state(open, "SELECT 1"), "00000");
    PQfinish(open);
    assert_int_equal(pgq_int(n, "SELECT count(*) FROM customers"), 2);
    PQfinish(n);
    assert_int_equal(pb_tdb_info_get(tdb, "graced", &info, &e), 0);
    assert_string_equal(info.revoke_at, "");
    assert_int_equal(strlen(info.revoked_at), 20);
    assert_true(info.revoke_in_s < 0);
    PGconn *adm = pgq_admin_on(&srv, "paybill");
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM pg_authid WHERE rolname = 'pb_t_graced' "
                               "AND NOT rolcanlogin AND rolpassword IS NULL"),
                     1);
    /* Nothing lets it in again: ensure, suspend and resume. */
    ensure_ok("graced", PB_DM_LAYOUT_SCHEMA, -1, fresh.password, &again);
    pb_tdb_creds_clear(&again);
    assert_int_equal(pb_tdb_suspend(tdb, "graced", &e), 0);
    assert_int_equal(pb_tdb_resume(tdb, "graced", &e), 0);
    assert_null(pgq_tenant_connect(&cr, NULL, NULL, err, sizeof err));
    PQfinish(pgq_tenant_connect_ok(&fresh));
    /* A revocation also happens in ensure once due. */
    assert_int_equal(pb_tdb_rotate(tdb, "graced", 800, &third, &e), 0);
    assert_string_equal(third.user, "pb_t_graced"); /* the revoked login, alive again with a new password */
    open = pgq_tenant_connect_ok(&fresh);
    usleep(1100 * 1000);
    ensure_ok("graced", PB_DM_LAYOUT_SCHEMA, -1, third.password, &again);
    pb_tdb_creds_clear(&again);
    assert_null(pgq_tenant_connect(&fresh, NULL, NULL, err, sizeof err));
    assert_string_not_equal(pgq_state(open, "SELECT 1"), "00000");
    PQfinish(open);
    PQfinish(pgq_tenant_connect_ok(&third));
    /* Zero grace: gone with the rotation, sessions and all. */
    pb_tdb_creds fourth;
    open = pgq_tenant_connect_ok(&third);
    assert_int_equal(pb_tdb_rotate(tdb, "graced", 0, &fourth, &e), 0);
    assert_null(pgq_tenant_connect(&third, NULL, NULL, err, sizeof err));
    assert_string_not_equal(pgq_state(open, "SELECT 1"), "00000");
    PQfinish(open);
    PQfinish(pgq_tenant_connect_ok(&fourth));
    assert_int_equal(pb_tdb_info_get(tdb, "graced", &info, &e), 0);
    assert_string_equal(info.revoke_at, "");
    assert_int_equal(strlen(info.revoked_at), 20);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'pb\\_t\\_graced%' AND rolcanlogin"), 1);
    PQfinish(adm);
    assert_int_equal(pb_tdb_delete(tdb, "graced", PB_TDB_DELETE, model, NULL, &e), 0);
    pb_tdb_creds *all[] = {&cr, &fresh, &third, &fourth};
    for (int i = 0; i < 4; i++)
        pb_tdb_creds_clear(all[i]);
}

/* The second login, as a hostile tenant: it sees exactly what the first
 * sees, in every layout, and nothing of anyone else's. */
static void test_second_login_isolation(void **state)
{
    pb_tdb_creds a, a2, o, s, s2, d, d2;
    pb_err e;
    char err[512];
    ensure_ok("alt_a", PB_DM_LAYOUT_RLS, -1, NULL, &a);
    ensure_ok("alt_o", PB_DM_LAYOUT_RLS, -1, NULL, &o);
    seed(&a, 1, 2);
    seed(&o, 1, 5);
    assert_int_equal(pb_tdb_rotate(tdb, "alt_a", LONG_GRACE_MS, &a2, &e), 0);
    PGconn *c = pgq_tenant_connect_ok(&a2);
    assert_int_equal(pgq_int(c, "SELECT count(*) FROM customers"), 2);
    assert_int_equal(pgq_int(c, "SELECT count(*) FROM app.customers WHERE tenant_id = 'alt_o'"), 0);
    {
        PGresult *r = PQexec(c, "SELECT paybill.current_tenant_id()");
        assert_string_equal(PQgetvalue(r, 0, 0), "alt_a");
        PQclear(r);
    }
    assert_string_equal(pgq_state(c, "INSERT INTO customers (tenant_id, id, email) VALUES ('alt_o', 99, 'x')"), "42501");
    assert_string_equal(pgq_state(c, "UPDATE customers SET tenant_id = 'alt_o'"), "42501");
    pgq_must(c, "INSERT INTO customers (id, email) VALUES (50, 'second@ex.com')");
    /* Becoming the first login is allowed (same tenant) and changes
     * nothing: rows stay bound to the session's login. */
    assert_string_equal(pgq_state(c, "SET ROLE pb_t_alt_a"), "00000");
    assert_int_equal(pgq_int(c, "SELECT count(*) FROM customers"), 3);
    assert_string_equal(pgq_state(c, "RESET ROLE"), "00000");
    /* Escalation: other tenants' logins, the owner, the group's admin,
     * another tenant's second login, the bookkeeping. */
    assert_string_equal(pgq_state(c, "SET ROLE pb_t_alt_o"), "42501");
    assert_string_equal(pgq_state(c, "SET ROLE \"pb_t_alt_o-2\""), "42501");
    assert_string_equal(pgq_state(c, "SET ROLE paybill_owner"), "42501");
    assert_string_equal(pgq_state(c, "SET SESSION AUTHORIZATION pb_t_alt_a"), "42501");
    assert_string_equal(pgq_state(c, "GRANT paybill_rls_tenants TO pb_t_alt_o"), "42501");
    assert_string_equal(pgq_state(c, "GRANT pb_t_alt_o TO \"pb_t_alt_a-2\""), "42501");
    assert_string_equal(pgq_state(c, "ALTER ROLE \"pb_t_alt_a-2\" CREATEROLE"), "42501");
    assert_string_equal(pgq_state(c, "ALTER ROLE pb_t_alt_a LOGIN"), "42501");
    assert_string_equal(pgq_state(c, "SELECT * FROM paybill.tenants"), "42501");
    assert_string_equal(pgq_state(c, "UPDATE paybill.tenants SET alt_role = 'pb_t_alt_a-2' WHERE tenant_id = 'alt_o'"),
                        "42501");
    assert_string_equal(pgq_state(c, "SELECT * FROM pg_authid"), "42501");
    assert_string_equal(pgq_state(c, "ALTER TABLE customers NO FORCE ROW LEVEL SECURITY"), "42501");
    PQfinish(c);
    PGconn *adm = pgq_admin_on(&srv, "paybill");
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM app.customers WHERE tenant_id = 'alt_a'"), 3);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM app.customers WHERE tenant_id = 'alt_o'"), 5);
    PQfinish(adm);

    /* Schema and database layouts: the first login's tables, nothing else. */
    ensure_ok("alt_s", PB_DM_LAYOUT_SCHEMA, -1, NULL, &s);
    ensure_ok("alt_d", PB_DM_LAYOUT_DATABASE, -1, NULL, &d);
    seed(&s, 1, 2);
    seed(&d, 1, 4);
    assert_int_equal(pb_tdb_rotate(tdb, "alt_s", LONG_GRACE_MS, &s2, &e), 0);
    assert_int_equal(pb_tdb_rotate(tdb, "alt_d", LONG_GRACE_MS, &d2, &e), 0);
    c = pgq_tenant_connect_ok(&s2);
    assert_int_equal(pgq_int(c, "SELECT count(*) FROM customers"), 2);
    assert_string_equal(pgq_state(c, "SELECT * FROM app.customers"), "42501");
    assert_string_equal(pgq_state(c, "SELECT * FROM t_sch_b.customers"), "42501");
    assert_string_equal(pgq_state(c, "SET ROLE pb_t_alt_d"), "42501");
    assert_string_equal(pgq_state(c, "SET ROLE paybill_rls_tenants"), "42501");
    PQfinish(c);
    assert_null(pgq_tenant_connect(&s2, "t_alt_d", NULL, err, sizeof err));
    assert_non_null(strstr(err, "permission denied for database"));
    c = pgq_tenant_connect_ok(&d2);
    assert_int_equal(pgq_int(c, "SELECT count(*) FROM customers"), 4);
    assert_string_equal(pgq_state(c, "CREATE TABLE app.x (i int)"), "42501");
    assert_string_equal(pgq_state(c, "SET ROLE pb_t_alt_s"), "42501");
    PQfinish(c);
    assert_null(pgq_tenant_connect(&d2, "paybill", NULL, err, sizeof err));
    assert_null(pgq_tenant_connect(&d2, "t_alt_s", NULL, err, sizeof err));
    /* Guessing: the second login with the first's password, and the
     * other way round, get nowhere. */
    assert_null(pgq_tenant_connect(&d2, NULL, d.password, err, sizeof err));
    assert_non_null(strstr(err, "password authentication failed"));

    /* Retain locks both logins out; ensure revives both. */
    assert_int_equal(pb_tdb_delete(tdb, "alt_s", PB_TDB_RETAIN, model, NULL, &e), 0);
    assert_null(pgq_tenant_connect(&s, NULL, NULL, err, sizeof err));
    assert_null(pgq_tenant_connect(&s2, NULL, NULL, err, sizeof err));
    pb_tdb_creds back;
    ensure_ok("alt_s", PB_DM_LAYOUT_SCHEMA, -1, s2.password, &back);
    assert_string_equal(back.user, "pb_t_alt_s-2");
    pb_tdb_creds_clear(&back);
    PQfinish(pgq_tenant_connect_ok(&s));
    PQfinish(pgq_tenant_connect_ok(&s2));
    /* Delete drops both logins. */
    const char *ids[] = {"alt_a", "alt_o", "alt_s", "alt_d"};
    for (int i = 0; i < 4; i++)
        assert_int_equal(pb_tdb_delete(tdb, ids[i], PB_TDB_DELETE, model, NULL, &e), 0);
    adm = pgq_admin_on(&srv, "paybill");
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'pb\\_t\\_alt\\_%'"), 0);
    PQfinish(adm);
    pb_tdb_creds *all[] = {&a, &a2, &o, &s, &s2, &d, &d2};
    for (int i = 0; i < 7; i++)
        pb_tdb_creds_clear(all[i]);
}

static void test_operations_on_a_tenant_are_serialised(void **state)
{
    pb_tdb_config cfg = {.admin_conninfo = srv.conninfo, .shared_db = "paybill", .lock_timeout_ms = 200};
    pb_tdb *other;
    pb_err e;
    assert_int_equal(pb_tdb_new(&cfg, &other, &e), 0);
    /* Another operation (here: an admin session) holds acme's lock. */
    PGconn *a = pgq_admin_on(&srv, "paybill");
    pgq_must(a, "SELECT pg_advisory_lock(hashtext('paybill.tenant'), hashtext('acme'))");
    assert_int_equal(pb_tdb_suspend(other, "acme", &e), PB_ETIMEOUT);
    assert_non_null(strstr(e.msg, "lock timeout"));
    pb_tdb_info info;
    assert_int_equal(pb_tdb_info_get(other, "acme", &info, &e), 0); /* reads do not wait */
    assert_string_equal(info.state, "active");
    assert_int_equal(pb_tdb_resume(other, "rotor", &e), 0);          /* other tenants do not wait */
    pgq_must(a, "SELECT pg_advisory_unlock(hashtext('paybill.tenant'), hashtext('acme'))");
    assert_int_equal(pb_tdb_suspend(other, "acme", &e), 0);
    assert_int_equal(pb_tdb_resume(other, "acme", &e), 0);
    PQfinish(a);
    pb_tdb_free(other);
}

static void verify_snapshot(const pb_tdb_snapshot *s, const char *must_contain)
{
    assert_non_null(s->path);
    assert_int_equal(strncmp(s->path, snapdir, strlen(snapdir)), 0);
    FILE *f = fopen(s->path, "rb");
    assert_non_null(f);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    unsigned char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        EVP_DigestUpdate(md, buf, n);
    fclose(f);
    unsigned char d[32];
    unsigned int dl;
    EVP_DigestFinal_ex(md, d, &dl);
    EVP_MD_CTX_free(md);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    assert_string_equal(hex, s->sha256);
    /* A real archive: pg_restore lists its table data. */
    char cmd[PATH_MAX * 2 + 64];
    snprintf(cmd, sizeof cmd, "%s/pg_restore --list %s", srv.bindir, s->path);
    FILE *p = popen(cmd, "r");
    char *listing = tu_slurp(p);
    assert_int_equal(pclose(p), 0);
    if (!strstr(listing, must_contain))
        fail_msg("archive listing lacks \"%s\":\n%s", must_contain, listing);
    free(listing);
}

static void test_delete_policies(void **state)
{
    pb_err e;
    pb_tdb_creds cr;
    pb_tdb_snapshot snap;
    pb_tdb_info info;
    PGconn *adm = pgq_admin_on(&srv, "paybill");

    /* Delete: data and role gone. */
    ensure_ok("gone_s", PB_DM_LAYOUT_SCHEMA, -1, NULL, &cr);
    seed(&cr, 1, 2);
    PGconn *open = pgq_tenant_connect_ok(&cr);
    assert_int_equal(pb_tdb_delete(tdb, "gone_s", PB_TDB_DELETE, model, NULL, &e), 0);
    assert_string_not_equal(pgq_state(open, "SELECT 1"), "00000");
    PQfinish(open);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM pg_namespace WHERE nspname = 't_gone_s'"), 0);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM pg_roles WHERE rolname = 'pb_t_gone_s'"), 0);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM paybill.migrations WHERE target = 't_gone_s'"), 0);
    assert_int_equal(pb_tdb_info_get(tdb, "gone_s", &info, &e), PB_ENOTFOUND);
    assert_int_equal(pb_tdb_delete(tdb, "gone_s", PB_TDB_DELETE, model, NULL, &e), 0); /* rerun */
    pb_tdb_creds_clear(&cr);

    ensure_ok("gone_d", PB_DM_LAYOUT_DATABASE, -1, NULL, &cr);
    open = pgq_tenant_connect_ok(&cr); /* an open session does not block DROP DATABASE */
    assert_int_equal(pb_tdb_delete(tdb, "gone_d", PB_TDB_DELETE, model, NULL, &e), 0);
    PQfinish(open);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM pg_database WHERE datname = 't_gone_d'"), 0);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM pg_roles WHERE rolname = 'pb_t_gone_d'"), 0);
    pb_tdb_creds_clear(&cr);

    /* Retain (rls): rows kept, login locked. */
    ensure_ok("kept", PB_DM_LAYOUT_RLS, -1, NULL, &cr);
    seed(&cr, 1, 3);
    assert_int_equal(pb_tdb_delete(tdb, "kept", PB_TDB_RETAIN, model, NULL, &e), 0);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM app.customers WHERE tenant_id = 'kept'"), 3);
    char err[512];
    assert_null(pgq_tenant_connect(&cr, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "not permitted to log in"));
    assert_int_equal(pb_tdb_info_get(tdb, "kept", &info, &e), 0);
    assert_string_equal(info.state, "retained");
    /* Then a real Delete of an rls tenant removes exactly its rows. */
    long long others = pgq_int(adm, "SELECT count(*) FROM app.customers WHERE tenant_id <> 'kept'");
    assert_int_equal(pb_tdb_delete(tdb, "kept", PB_TDB_DELETE, model, NULL, &e), 0);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM app.customers WHERE tenant_id = 'kept'"), 0);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM app.customers"), others);
    pb_tdb_creds_clear(&cr);

    /* Snapshot, in each layout. */
    const struct {
        const char *id;
        pb_dm_layout l;
    } snaps[] = {{"snap_r", PB_DM_LAYOUT_RLS}, {"snap_s", PB_DM_LAYOUT_SCHEMA}, {"snap_d", PB_DM_LAYOUT_DATABASE}};
    for (int i = 0; i < 3; i++) {
        ensure_ok(snaps[i].id, snaps[i].l, -1, NULL, &cr);
        seed(&cr, 10, 2);
        assert_int_equal(pb_tdb_delete(tdb, snaps[i].id, PB_TDB_SNAPSHOT, model, &snap, &e), 0);
        verify_snapshot(&snap, "TABLE DATA");
        assert_non_null(strstr(snap.path, snaps[i].id));
        assert_int_equal(pb_tdb_info_get(tdb, snaps[i].id, &info, &e), PB_ENOTFOUND);
        pb_tdb_snapshot_clear(&snap);
        pb_tdb_creds_clear(&cr);
    }
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'snap\\_%'"), 0);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM app.customers WHERE tenant_id = 'snap_r'"), 0);
    /* Snapshot without a struct is refused before anything happens. */
    assert_int_equal(pb_tdb_delete(tdb, "acme", PB_TDB_SNAPSHOT, model, NULL, &e), PB_EINVAL);
    PQfinish(adm);
}

/* A snapshot whose pg_dump cannot connect (the postmaster stopped: the
 * kernel takes the connection, nobody answers) fails within the pool's
 * connect_timeout, which the tool's conninfo carries, and deletes nothing:
 * pg_dump waited forever before, and the worker with it. */
static void test_snapshot_against_a_hung_server_keeps_the_data(void **state)
{
    (void)state;
    pb_tdb_config cfg = main_config();
    cfg.connect_timeout_s = 2;
    pb_tdb *t = NULL;
    pb_err e;
    pb_err_clear(&e);
    if (pb_tdb_new(&cfg, &t, &e))
        fail_msg("pb_tdb_new: %s", e.msg);
    pb_tdb_tenant spec = {.id = "snap_hung", .layout = PB_DM_LAYOUT_SCHEMA, .connection_limit = -1};
    pb_tdb_creds cr = {0};
    if (pb_tdb_ensure(t, &spec, model, &cr, &e))
        fail_msg("ensure: %s", e.msg);
    seed(&cr, 1, 2);
    /* The pool keeps its backends; only new connections hang. */
    pid_t pm = pgtest_postmaster_pid(&srv);
    assert_true(pm > 0);
    assert_int_equal(kill(pm, SIGSTOP), 0);
    pb_tdb_snapshot snap = {0};
    pb_err_clear(&e);
    double t0 = tu_now();
    int rc = pb_tdb_delete(t, "snap_hung", PB_TDB_SNAPSHOT, model, &snap, &e);
    double took = tu_now() - t0;
    kill(pm, SIGCONT);
    assert_int_not_equal(rc, 0);
    assert_true(took >= 1.5 && took < 10.0);
    /* Locked out (the first step of a delete), its data all there. */
    pb_tdb_info info;
    assert_int_equal(pb_tdb_info_get(t, "snap_hung", &info, &e), 0);
    PGconn *adm = pgq_admin_on(&srv, "paybill");
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM t_snap_hung.customers"), 2);
    PQfinish(adm);
    /* With the server answering again the same snapshot goes through. */
    pb_err_clear(&e);
    if (pb_tdb_delete(t, "snap_hung", PB_TDB_SNAPSHOT, model, &snap, &e))
        fail_msg("snapshot after the server came back: %s", e.msg);
    verify_snapshot(&snap, "TABLE DATA");
    pb_tdb_snapshot_clear(&snap);
    pb_tdb_creds_clear(&cr);
    pb_tdb_free(t);
}

/* ---- tier moves ------------------------------------------------------------------ */

static void assert_only_copy(const char *id, pb_dm_layout l)
{
    PGconn *adm = pgq_admin_on(&srv, "paybill");
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM app.customers WHERE tenant_id = '%s'", id);
    long long rls_rows = pgq_int(adm, sql);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_namespace WHERE nspname = 't_%s'", id);
    long long schemas = pgq_int(adm, sql);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_database WHERE datname = 't_%s'", id);
    long long dbs = pgq_int(adm, sql);
    PQfinish(adm);
    assert_int_equal(rls_rows > 0, l == PB_DM_LAYOUT_RLS);
    assert_int_equal(schemas, l == PB_DM_LAYOUT_SCHEMA);
    assert_int_equal(dbs, l == PB_DM_LAYOUT_DATABASE);
}

static void move_ok(const char *id, pb_dm_layout to)
{
    pb_err e;
    pb_err_clear(&e);
    if (pb_tdb_move(tdb, id, to, model, &e))
        fail_msg("move %s to %s: %s", id, pb_dm_layout_name(to), e.msg);
}

/* The tenant can log in with its (unchanged) password and sees its rows. */
static void assert_serving(const char *id, const char *password, long long customers)
{
    pb_tdb_creds cr;
    pb_err e;
    assert_int_equal(pb_tdb_creds_for(tdb, id, password, &cr, &e), 0);
    PGconn *c = pgq_tenant_connect_ok(&cr);
    assert_int_equal(pgq_int(c, "SELECT count(*) FROM customers"), customers);
    PQfinish(c);
    pb_tdb_creds_clear(&cr);
}

static void test_tier_moves_round_trip(void **state)
{
    pb_tdb_creds cr;
    ensure_ok("mover", PB_DM_LAYOUT_RLS, -1, NULL, &cr);
    seed(&cr, 1, 20);
    long long rows0, rows;
    char sum0[65], sum[65];
    checksum("mover", &rows0, sum0);
    assert_int_equal(rows0, 40);
    const pb_dm_layout path[] = {PB_DM_LAYOUT_SCHEMA, PB_DM_LAYOUT_DATABASE, PB_DM_LAYOUT_RLS, PB_DM_LAYOUT_DATABASE,
                                 PB_DM_LAYOUT_SCHEMA, PB_DM_LAYOUT_RLS};
    for (size_t i = 0; i < sizeof path / sizeof *path; i++) {
        move_ok("mover", path[i]);
        checksum("mover", &rows, sum);
        assert_int_equal(rows, rows0);
        assert_string_equal(sum, sum0);
        assert_only_copy("mover", path[i]);
        assert_serving("mover", cr.password, 20);
        pb_tdb_info info;
        pb_err e;
        assert_int_equal(pb_tdb_info_get(tdb, "mover", &info, &e), 0);
        assert_int_equal(info.layout, path[i]);
        assert_false(info.moving);
    }
    move_ok("mover", PB_DM_LAYOUT_RLS); /* already there: no-op */
    pb_tdb_creds_clear(&cr);
}

static void test_tier_move_crash_converges(void **state)
{
    pb_tdb_creds cr;
    ensure_ok("crashy", PB_DM_LAYOUT_RLS, -1, NULL, &cr);
    seed(&cr, 1, 5);
    long long rows0, rows;
    char sum0[65], sum[65];
    checksum("crashy", &rows0, sum0);
    /* For each step k, go round rls -> schema -> database -> rls with a
     * crash after step k of every move, then a rerun. */
    const pb_dm_layout path[] = {PB_DM_LAYOUT_SCHEMA, PB_DM_LAYOUT_DATABASE, PB_DM_LAYOUT_RLS};
    for (int k = 1; k <= 5; k++) {
        for (size_t i = 0; i < 3; i++) {
            pb_err e;
            pb_err_clear(&e);
            pb_tdb_set_fail_after(tdb, k);
            assert_int_equal(pb_tdb_move(tdb, "crashy", path[i], model, &e), PB_EINTERNAL);
            assert_non_null(strstr(e.msg, "injected failure"));
            pb_tdb_info info;
            assert_int_equal(pb_tdb_info_get(tdb, "crashy", &info, &e), 0);
            assert_int_equal(info.moving, k != 5);
            assert_int_equal(info.layout, k >= 4 ? path[i] : (i == 0 ? PB_DM_LAYOUT_RLS : path[i - 1]));
            /* ensure refuses while a move is unfinished. */
            pb_tdb_tenant t = {.id = "crashy", .layout = info.layout, .password = cr.password};
            pb_tdb_creds tmp;
            if (info.moving)
                assert_int_equal(pb_tdb_ensure(tdb, &t, model, &tmp, &e), PB_ECONFLICT);
            /* Rerun: converges to the target with nothing lost or doubled. */
            move_ok("crashy", path[i]);
            checksum("crashy", &rows, sum);
            assert_int_equal(rows, rows0);
            assert_string_equal(sum, sum0);
            assert_only_copy("crashy", path[i]);
            assert_serving("crashy", cr.password, 5);
        }
    }
    /* A crashed move towards one layout, then a request for another: the
     * half-made destination is removed. */
    pb_err e;
    pb_tdb_set_fail_after(tdb, 3);
    assert_int_equal(pb_tdb_move(tdb, "crashy", PB_DM_LAYOUT_DATABASE, model, &e), PB_EINTERNAL);
    move_ok("crashy", PB_DM_LAYOUT_SCHEMA);
    assert_only_copy("crashy", PB_DM_LAYOUT_SCHEMA);
    checksum("crashy", &rows, sum);
    assert_string_equal(sum, sum0);
    pb_tdb_creds_clear(&cr);
}

static void test_tier_move_failure_keeps_old_copy(void **state)
{
    pb_tdb_creds cr;
    pb_err e;
    ensure_ok("stuck", PB_DM_LAYOUT_SCHEMA, -1, NULL, &cr);
    seed(&cr, 1, 3);
    /* Someone left an incompatible table where the destination goes. */
    PGconn *adm = pgq_admin_on(&srv, "postgres");
    pgq_must(adm, "CREATE DATABASE t_stuck");
    PQfinish(adm);
    adm = pgq_admin_on(&srv, "t_stuck");
    pgq_must(adm, "CREATE SCHEMA app; CREATE TABLE app.customers (id text)");
    PQfinish(adm);
    pb_err_clear(&e);
    assert_int_not_equal(pb_tdb_move(tdb, "stuck", PB_DM_LAYOUT_DATABASE, model, &e), 0);
    assert_true(strlen(e.msg) > 0);
    assert_null(strstr(e.msg, "injected"));
    /* The old copy still serves, login restored. */
    assert_serving("stuck", cr.password, 3);
    pb_tdb_info info;
    assert_int_equal(pb_tdb_info_get(tdb, "stuck", &info, &e), 0);
    assert_int_equal(info.layout, PB_DM_LAYOUT_SCHEMA);
    /* Fix the cause and rerun. */
    adm = pgq_admin_on(&srv, "postgres");
    pgq_must(adm, "DROP DATABASE t_stuck WITH (FORCE)");
    PQfinish(adm);
    move_ok("stuck", PB_DM_LAYOUT_DATABASE);
    assert_serving("stuck", cr.password, 3);
    /* A model version other than the data's is refused up front. */
    pb_dm_model *old = model;
    model = parse_model(SHOP_V2);
    assert_int_equal(pb_tdb_move(tdb, "stuck", PB_DM_LAYOUT_RLS, model, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "migrate first"));
    pb_dm_free(model);
    model = old;
    assert_serving("stuck", cr.password, 3);
    pb_tdb_creds_clear(&cr);
}

/* ---- migrations ------------------------------------------------------------------ */

static void test_migration_rollout(void **state)
{
    pb_err e;
    pb_tdb_creds r, s, d;
    ensure_ok("mig_r", PB_DM_LAYOUT_RLS, -1, NULL, &r);
    ensure_ok("mig_s", PB_DM_LAYOUT_SCHEMA, -1, NULL, &s);
    ensure_ok("mig_d", PB_DM_LAYOUT_DATABASE, -1, NULL, &d);
    pb_dm_model *v2 = parse_model(SHOP_V2), *v3 = parse_model(SHOP_V3);

    assert_int_equal(pb_tdb_apply_model(tdb, v2, 0, &e), 0);
    assert_int_equal(pb_tdb_apply_model(tdb, v2, 0, &e), 0); /* rerun: nothing to do */
    pb_dm_free(model);
    model = v2;
    pb_tdb_creds *all[] = {&r, &s, &d};
    for (int i = 0; i < 3; i++) {
        PGconn *c = pgq_tenant_connect_ok(all[i]);
        assert_string_equal(pgq_state(c, "INSERT INTO notes (id, body) VALUES (1, 'hello')"), "00000");
        assert_string_equal(pgq_state(c, "INSERT INTO customers (id, email, phone) VALUES (77, 'p@x', '+1')"), "00000");
        assert_int_equal(pgq_int(c, "SELECT count(*) FROM notes"), 1);
        PQfinish(c);
    }
    PGconn *adm = pgq_admin_on(&srv, "paybill");
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM paybill.migrations WHERE target IN ('app', 't_mig_s') AND version = 2"), 2);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM pg_indexes WHERE indexname = 'notes_by_body'") >= 2, 1);
    /* Every tenant of every layout got it, not only the ones above. */
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM paybill.tenants t WHERE layout = 'schema' AND NOT EXISTS "
                               "(SELECT 1 FROM paybill.migrations m WHERE m.target = t.location AND m.version = 2)"), 0);
    PQfinish(adm);
    adm = pgq_admin_on(&srv, "t_mig_d");
    assert_int_equal(pgq_int(adm, "SELECT max(version) FROM paybill.migrations"), 2);
    PQfinish(adm);

    /* v3 drops a column: refused, nothing changes anywhere. */
    pb_err_clear(&e);
    assert_int_equal(pb_tdb_apply_model(tdb, v3, 0, &e), PB_EFORBIDDEN);
    assert_non_null(strstr(e.msg, "drops column \"customers.vip\""));
    adm = pgq_admin_on(&srv, "paybill");
    assert_int_equal(pgq_int(adm, "SELECT max(version) FROM paybill.migrations"), 2);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'app' "
                               "AND table_name = 'customers' AND column_name = 'vip'"), 1);
    PQfinish(adm);
    /* Going back a version is refused too. */
    pb_dm_model *v1 = parse_model(SHOP_V1);
    assert_int_equal(pb_tdb_apply_model(tdb, v1, 1, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "lower than the applied version"));
    pb_dm_free(v1);
    /* With allowDestructive it goes through and is recorded. */
    assert_int_equal(pb_tdb_apply_model(tdb, v3, 1, &e), 0);
    adm = pgq_admin_on(&srv, "t_mig_d");
    assert_int_equal(pgq_int(adm, "SELECT max(version) FROM paybill.migrations"), 3);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'customers' AND column_name = 'vip'"), 0);
    PQfinish(adm);
    pb_dm_free(model);
    model = v3;
    /* Moves keep working at the new version. */
    move_ok("mig_s", PB_DM_LAYOUT_RLS);
    assert_serving("mig_s", s.password, 1);
    pb_tdb_creds_clear(&r);
    pb_tdb_creds_clear(&s);
    pb_tdb_creds_clear(&d);
}

/* ---- shared rls objects: ACLs independent of the number of tenants ---------- */

/* One customer through the tenant's login (any model version has these columns). */
static void insert_one(const pb_tdb_creds *cr)
{
    PGconn *c = pgq_tenant_connect_ok(cr);
    pgq_must(c, "INSERT INTO customers (id, email) VALUES (1, 'one@ex.com')");
    PQfinish(c);
}

/* The ACL sizes of everything rls tenants use, "a/b/c/d/e". */
static char *rls_acl_sizes(PGconn *adm)
{
    static char out[128];
    PGresult *r = PQexec(adm,
                         "SELECT concat_ws('/', "
                         "(SELECT coalesce(pg_column_size(relacl), 0) FROM pg_class WHERE oid = 'app.customers'::regclass), "
                         "(SELECT coalesce(pg_column_size(relacl), 0) FROM pg_class WHERE oid = 'app.orders'::regclass), "
                         "(SELECT coalesce(pg_column_size(nspacl), 0) FROM pg_namespace WHERE nspname = 'app'), "
                         "(SELECT coalesce(pg_column_size(nspacl), 0) FROM pg_namespace WHERE nspname = 'paybill'), "
                         "(SELECT coalesce(pg_column_size(proacl), 0) FROM pg_proc WHERE proname = 'current_tenant_id'), "
                         "(SELECT coalesce(pg_column_size(datacl), 0) FROM pg_database WHERE datname = 'paybill'))");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    snprintf(out, sizeof out, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return out;
}

static void test_rls_acls_do_not_grow_with_tenants(void **state)
{
    pb_tdb_creds cr;
    char id[16], before[128];
    PGconn *adm = pgq_admin_on(&srv, "paybill");
    ensure_ok("aclgrow0", PB_DM_LAYOUT_RLS, -1, NULL, &cr);
    pb_tdb_creds_clear(&cr);
    snprintf(before, sizeof before, "%s", rls_acl_sizes(adm));
    for (int i = 1; i <= 4; i++) {
        snprintf(id, sizeof id, "aclgrow%d", i);
        ensure_ok(id, PB_DM_LAYOUT_RLS, -1, NULL, &cr);
        if (i == 1) /* the tenant works through its group */
            insert_one(&cr);
        pb_tdb_creds_clear(&cr);
    }
    assert_string_equal(rls_acl_sizes(adm), before);
    /* No tenant role appears in those ACLs at all; each rls tenant is an
     * INHERIT member of the group and of nothing else. */
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a JOIN pg_roles r ON r.oid = a.grantee "
                               "WHERE c.relnamespace = 'app'::regnamespace AND r.rolname LIKE 'pb\\_t\\_%'"), 0);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM pg_roles r JOIN paybill.tenants t ON t.role_name = r.rolname "
                               "WHERE t.layout = 'rls' AND (NOT r.rolinherit OR (SELECT array_agg(g.rolname::text) "
                               "FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid) "
                               "IS DISTINCT FROM ARRAY['paybill_rls_tenants'])"), 0);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
                               "WHERE g.rolname = 'paybill_rls_tenants' AND m.admin_option"), 0);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM app.customers WHERE tenant_id = 'aclgrow1'"), 1);
    /* Moving out of rls leaves the group (and NOINHERIT); back in rejoins. */
    move_ok("aclgrow1", PB_DM_LAYOUT_SCHEMA);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member "
                               "WHERE r.rolname = 'pb_t_aclgrow1'"), 0);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM pg_roles WHERE rolname = 'pb_t_aclgrow1' AND NOT rolinherit"), 1);
    move_ok("aclgrow1", PB_DM_LAYOUT_RLS);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member "
                               "WHERE r.rolname = 'pb_t_aclgrow1'"), 1);
    assert_string_equal(rls_acl_sizes(adm), before);
    /* A tenant made by an older version (per-role grants) converges. */
    pgq_must(adm, "REVOKE paybill_rls_tenants FROM pb_t_aclgrow2; ALTER ROLE pb_t_aclgrow2 NOINHERIT; "
              "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA app TO pb_t_aclgrow2; "
              "GRANT USAGE ON SCHEMA app, paybill TO pb_t_aclgrow2; GRANT CONNECT ON DATABASE paybill TO pb_t_aclgrow2");
    assert_string_not_equal(rls_acl_sizes(adm), before);
    ensure_ok("aclgrow2", PB_DM_LAYOUT_RLS, -1, NULL, &cr);
    PQfinish(pgq_tenant_connect_ok(&cr));
    pb_tdb_creds_clear(&cr);
    assert_string_equal(rls_acl_sizes(adm), before);
    for (int i = 0; i <= 4; i++) {
        pb_err e;
        snprintf(id, sizeof id, "aclgrow%d", i);
        assert_int_equal(pb_tdb_delete(tdb, id, PB_TDB_DELETE, model, NULL, &e), 0);
    }
    PQfinish(adm);
}

/* An ensure that fails part-way for a new tenant leaves nothing behind
 * (no record, no role that could log in), and a retry succeeds. The
 * failure: another session holds the migration lock of the tenant's tables
 * longer than lock_timeout. */
static void test_failed_ensure_is_undone_and_retryable(void **state)
{
    pb_tdb_config cfg = {.admin_conninfo = srv.conninfo, .shared_db = "paybill", .tenant_host = "127.0.0.1",
                         .tenant_port = srv.port, .sslmode = "disable", .lock_timeout_ms = 200};
    pb_tdb *other;
    pb_err e;
    assert_int_equal(pb_tdb_new(&cfg, &other, &e), 0);
    PGconn *adm = pgq_admin_on(&srv, "paybill");
    const struct {
        const char *id, *target;
        pb_dm_layout l;
    } cases[] = {{"half_r", "app", PB_DM_LAYOUT_RLS}, {"half_s", "t_half_s", PB_DM_LAYOUT_SCHEMA}};
    for (int i = 0; i < 2; i++) {
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT pg_advisory_lock(hashtext('paybill.migrate'), hashtext('%s'))", cases[i].target);
        pgq_must(adm, sql);
        pb_tdb_tenant t = {.id = cases[i].id, .layout = cases[i].l, .connection_limit = -1};
        pb_tdb_creds cr;
        pb_err_clear(&e);
        assert_int_equal(pb_tdb_ensure(other, &t, model, &cr, &e), PB_ETIMEOUT);
        snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_roles WHERE rolname = 'pb_t_%s'", cases[i].id);
        assert_int_equal(pgq_int(adm, sql), 0);
        snprintf(sql, sizeof sql, "SELECT count(*) FROM paybill.tenants WHERE tenant_id = '%s'", cases[i].id);
        assert_int_equal(pgq_int(adm, sql), 0);
        snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_namespace WHERE nspname = 't_%s'", cases[i].id);
        assert_int_equal(pgq_int(adm, sql), 0);
        snprintf(sql, sizeof sql, "SELECT pg_advisory_unlock(hashtext('paybill.migrate'), hashtext('%s'))", cases[i].target);
        pgq_must(adm, sql);
        assert_int_equal(pb_tdb_ensure(other, &t, model, &cr, &e), 0);
        insert_one(&cr);
        pb_tdb_creds_clear(&cr);
        assert_int_equal(pb_tdb_delete(other, cases[i].id, PB_TDB_DELETE, model, NULL, &e), 0);
    }
    /* A schema that was there before is not ours: kept, the record undone. */
    pgq_must(adm, "CREATE SCHEMA t_half_k; SELECT pg_advisory_lock(hashtext('paybill.migrate'), hashtext('t_half_k'))");
    pb_tdb_tenant t = {.id = "half_k", .layout = PB_DM_LAYOUT_SCHEMA, .connection_limit = -1};
    pb_tdb_creds cr;
    assert_int_equal(pb_tdb_ensure(other, &t, model, &cr, &e), PB_ETIMEOUT);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM pg_namespace WHERE nspname = 't_half_k'"), 1);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM paybill.tenants WHERE tenant_id = 'half_k'"), 0);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM pg_roles WHERE rolname = 'pb_t_half_k' AND rolcanlogin"), 0);
    pgq_must(adm, "SELECT pg_advisory_unlock_all()");
    assert_int_equal(pb_tdb_ensure(other, &t, model, &cr, &e), 0);
    PQfinish(pgq_tenant_connect_ok(&cr));
    pb_tdb_creds_clear(&cr);
    assert_int_equal(pb_tdb_delete(other, "half_k", PB_TDB_DELETE, model, NULL, &e), 0);
    PQfinish(adm);
    pb_tdb_free(other);
}

/* A move's copy runs as long as the tenant's data needs, not under the
 * per-statement statement_timeout; move_statement_timeout_ms bounds it when
 * set. A statement trigger that sleeps makes the COPY into the shared
 * table "large" without writing millions of rows. */
static void test_move_uses_its_own_statement_timeout(void **state)
{
    pb_tdb_config cfg = {.admin_conninfo = srv.conninfo, .shared_db = "paybill", .tenant_host = "127.0.0.1",
                         .tenant_port = srv.port, .sslmode = "disable", .statement_timeout_ms = 400};
    pb_tdb *quick, *bounded;
    pb_err e;
    pb_err_clear(&e);
    assert_int_equal(pb_tdb_new(&cfg, &quick, &e), 0);
    cfg.statement_timeout_ms = 30000;
    cfg.move_statement_timeout_ms = 400;
    assert_int_equal(pb_tdb_new(&cfg, &bounded, &e), 0);
    pb_tdb_tenant spec = {.id = "bigmove", .layout = PB_DM_LAYOUT_SCHEMA, .connection_limit = -1};
    pb_tdb_creds cr;
    assert_int_equal(pb_tdb_ensure(quick, &spec, model, &cr, &e), 0);
    insert_one(&cr);
    PGconn *adm = pgq_admin_on(&srv, "paybill");
    pgq_must(adm, "CREATE FUNCTION public.slow_copy() RETURNS trigger LANGUAGE plpgsql AS "
              "$$BEGIN PERFORM pg_sleep(1.2); RETURN NULL; END$$; "
              "CREATE TRIGGER slow_copy BEFORE INSERT ON app.customers FOR EACH STATEMENT "
              "EXECUTE FUNCTION public.slow_copy()");
    /* statement_timeout 400 ms, the copy takes 1.2 s: the move succeeds. */
    pb_err_clear(&e);
    if (pb_tdb_move(quick, "bigmove", PB_DM_LAYOUT_RLS, model, &e))
        fail_msg("move under a short statement_timeout: %s", e.msg);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM app.customers WHERE tenant_id = 'bigmove'"), 1);
    assert_int_equal(pb_tdb_move(quick, "bigmove", PB_DM_LAYOUT_SCHEMA, model, &e), 0); /* no trigger there */
    /* A configured move timeout does apply, and the old copy keeps serving. */
    pb_err_clear(&e);
    assert_int_equal(pb_tdb_move(bounded, "bigmove", PB_DM_LAYOUT_RLS, model, &e), PB_ETIMEOUT);
    assert_non_null(strstr(e.msg, "copying table customers"));
    assert_non_null(strstr(e.msg, "statement timeout"));
    pb_tdb_info info;
    assert_int_equal(pb_tdb_info_get(bounded, "bigmove", &info, &e), 0);
    assert_int_equal(info.layout, PB_DM_LAYOUT_SCHEMA);
    PGconn *c = pgq_tenant_connect_ok(&cr);
    assert_int_equal(pgq_int(c, "SELECT count(*) FROM customers"), 1);
    PQfinish(c);
    pgq_must(adm, "DROP TRIGGER slow_copy ON app.customers; DROP FUNCTION public.slow_copy()");
    assert_int_equal(pb_tdb_move(bounded, "bigmove", PB_DM_LAYOUT_RLS, model, &e), 0);
    assert_int_equal(pb_tdb_delete(bounded, "bigmove", PB_TDB_DELETE, model, NULL, &e), 0);
    pb_tdb_creds_clear(&cr);
    PQfinish(adm);
    pb_tdb_free(quick);
    pb_tdb_free(bounded);
}

/* The stored SCRAM verifier of a role: a fresh salt each time it is set. */
static char *verifier_of(PGconn *adm, const char *role)
{
    static char v[512];
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT rolpassword FROM pg_authid WHERE rolname = '%s'", role);
    PGresult *r = PQexec(adm, sql);
    assert_int_equal(PQntuples(r), 1);
    snprintf(v, sizeof v, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static void test_password_set_only_when_changed(void **state)
{
    const char *pw = "Stable-password_0123456789.~abc";
    pb_tdb_creds cr, cr2;
    pb_err e;
    char v1[512];
    PGconn *adm = pgq_admin_on(&srv, "paybill");
    ensure_ok("pwstable", PB_DM_LAYOUT_RLS, -1, pw, &cr);
    snprintf(v1, sizeof v1, "%s", verifier_of(adm, "pb_t_pwstable"));
    assert_int_equal(strncmp(v1, "SCRAM-SHA-256$", 14), 0);
    /* Same password again: no ALTER ROLE ... PASSWORD (same salt); in
     * fact no write to the role's catalog rows at all. */
    long long xmin = pgq_int(adm, "SELECT xmin::text::bigint FROM pg_authid WHERE rolname = 'pb_t_pwstable'");
    ensure_ok("pwstable", PB_DM_LAYOUT_RLS, -1, pw, &cr2);
    pb_tdb_creds_clear(&cr2);
    assert_string_equal(verifier_of(adm, "pb_t_pwstable"), v1);
    assert_int_equal(pgq_int(adm, "SELECT xmin::text::bigint FROM pg_authid WHERE rolname = 'pb_t_pwstable'"), xmin);
    PQfinish(pgq_tenant_connect_ok(&cr));
    /* The record keeps a salted hash, never the password. */
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM paybill.tenants WHERE tenant_id = 'pwstable' AND "
                               "password_hash LIKE 'hmac-sha256$%' AND strpos(password_hash, 'Stable-password') = 0"),
                     1);
    /* Rotation sets a new one on the second login, handed out from then
     * on; converging with it changes nothing more; converging with an
     * older Secret's password sets that one on the login handed out. */
    assert_int_equal(pb_tdb_rotate(tdb, "pwstable", LONG_GRACE_MS, &cr2, &e), 0);
    assert_string_equal(cr2.user, "pb_t_pwstable-2");
    snprintf(v1, sizeof v1, "%s", verifier_of(adm, "pb_t_pwstable-2"));
    long long xmin2 = pgq_int(adm, "SELECT xmin::text::bigint FROM pg_authid WHERE rolname = 'pb_t_pwstable-2'");
    xmin = pgq_int(adm, "SELECT xmin::text::bigint FROM pg_authid WHERE rolname = 'pb_t_pwstable'");
    pb_tdb_creds cr3;
    ensure_ok("pwstable", PB_DM_LAYOUT_RLS, -1, cr2.password, &cr3);
    pb_tdb_creds_clear(&cr3);
    assert_string_equal(verifier_of(adm, "pb_t_pwstable-2"), v1);
    assert_int_equal(pgq_int(adm, "SELECT xmin::text::bigint FROM pg_authid WHERE rolname = 'pb_t_pwstable-2'"), xmin2);
    assert_int_equal(pgq_int(adm, "SELECT xmin::text::bigint FROM pg_authid WHERE rolname = 'pb_t_pwstable'"), xmin);
    PQfinish(pgq_tenant_connect_ok(&cr2));
    ensure_ok("pwstable", PB_DM_LAYOUT_RLS, -1, pw, &cr3);
    assert_string_equal(cr3.user, "pb_t_pwstable-2");
    pb_tdb_creds_clear(&cr3);
    assert_string_not_equal(verifier_of(adm, "pb_t_pwstable-2"), v1);
    PQfinish(pgq_tenant_connect_ok(&cr));
    char err[512];
    assert_null(pgq_tenant_connect(&cr2, NULL, NULL, err, sizeof err));
    /* Rotate back to the first login for the rest. */
    pb_tdb_creds_clear(&cr2);
    assert_int_equal(pb_tdb_rotate(tdb, "pwstable", LONG_GRACE_MS, &cr2, &e), 0);
    assert_string_equal(cr2.user, "pb_t_pwstable");
    ensure_ok("pwstable", PB_DM_LAYOUT_RLS, -1, pw, &cr3);
    pb_tdb_creds_clear(&cr3);
    /* Without a password: a new one, set. */
    snprintf(v1, sizeof v1, "%s", verifier_of(adm, "pb_t_pwstable"));
    ensure_ok("pwstable", PB_DM_LAYOUT_RLS, -1, NULL, &cr3);
    assert_string_not_equal(verifier_of(adm, "pb_t_pwstable"), v1);
    PQfinish(pgq_tenant_connect_ok(&cr3));
    pb_tdb_creds_clear(&cr3);
    /* A record without a hash (older versions) or with a damaged one:
     * set once, then stable again. */
    const char *damage[] = {"UPDATE paybill.tenants SET password_hash = NULL WHERE tenant_id = 'pwstable'",
                            "UPDATE paybill.tenants SET password_hash = 'hmac-sha256$zz' WHERE tenant_id = 'pwstable'",
                            "UPDATE paybill.tenants SET password_hash = 'hmac-sha256$00$00' WHERE tenant_id = 'pwstable'"};
    for (int i = 0; i < 3; i++) {
        pgq_must(adm, damage[i]);
        snprintf(v1, sizeof v1, "%s", verifier_of(adm, "pb_t_pwstable"));
        ensure_ok("pwstable", PB_DM_LAYOUT_RLS, -1, pw, &cr3);
        pb_tdb_creds_clear(&cr3);
        assert_string_not_equal(verifier_of(adm, "pb_t_pwstable"), v1);
        snprintf(v1, sizeof v1, "%s", verifier_of(adm, "pb_t_pwstable"));
        ensure_ok("pwstable", PB_DM_LAYOUT_RLS, -1, pw, &cr3);
        pb_tdb_creds_clear(&cr3);
        assert_string_equal(verifier_of(adm, "pb_t_pwstable"), v1);
        PQfinish(pgq_tenant_connect_ok(&cr));
    }
    assert_int_equal(pb_tdb_delete(tdb, "pwstable", PB_TDB_DELETE, model, NULL, &e), 0);
    pb_tdb_creds_clear(&cr);
    pb_tdb_creds_clear(&cr2);
    PQfinish(adm);
}

/* ---- dedicated servers: moves between servers ---------------------------------- */

/* A second throwaway server in the role "dedicated" (srv2, ded), started
 * by the first test that needs it and stopped by the file's teardown. */

static pb_tdb *dedicated(void)
{
    if (ded)
        return ded;
    if (pgtest_start(&srv2) != 0)
        fail_msg("second server did not start");
    pb_tdb_config cfg = {.admin_conninfo = srv2.conninfo,
                         .server_name = "dedicated-1",
                         .role = PB_TDB_DEDICATED,
                         .tenant_host = "127.0.0.1",
                         .tenant_port = srv2.port,
                         .sslmode = "disable",
                         .statement_timeout_ms = 30000};
    pb_err e;
    pb_err_clear(&e);
    if (pb_tdb_new(&cfg, &ded, &e))
        fail_msg("pb_tdb_new (dedicated): %s", e.msg);
    return ded;
}

/* What a server holds of a tenant: rls rows, its schema, its database, its role. */
static void holdings(const pgtest_server *s, const char *id, long long out[4])
{
    PGconn *adm = pgq_admin_on(s, "paybill");
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT CASE WHEN to_regclass('app.customers') IS NULL THEN 0 ELSE 1 END");
    if (pgq_int(adm, sql)) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM app.customers WHERE tenant_id = '%s'", id);
        out[0] = pgq_int(adm, sql);
    } else {
        out[0] = 0;
    }
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_namespace WHERE nspname = 't_%s'", id);
    out[1] = pgq_int(adm, sql);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_database WHERE datname = 't_%s'", id);
    out[2] = pgq_int(adm, sql);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_roles WHERE rolname = 'pb_t_%s'", id);
    out[3] = pgq_int(adm, sql);
    PQfinish(adm);
}

/* The tenant's only copy is on `here` in layout l; the other server holds
 * nothing of it (no rows, schema, database or role). */
static void assert_lives_on(const pgtest_server *here, const pgtest_server *other, const char *id, pb_dm_layout l)
{
    long long h[4], o[4];
    holdings(here, id, h);
    holdings(other, id, o);
    assert_int_equal(h[0] > 0, l == PB_DM_LAYOUT_RLS);
    assert_int_equal(h[1], l == PB_DM_LAYOUT_SCHEMA);
    assert_int_equal(h[2], l == PB_DM_LAYOUT_DATABASE);
    assert_int_equal(h[3], 1);
    for (int i = 0; i < 4; i++)
        assert_int_equal(o[i], 0);
}

static void checksum_on(pb_tdb *t, const char *id, long long *rows, char sum[65])
{
    pb_err e;
    pb_err_clear(&e);
    if (pb_tdb_checksum(t, id, model, rows, sum, &e))
        fail_msg("checksum %s: %s", id, e.msg);
}

static void across_ok(pb_tdb *from, pb_tdb *to, const char *id, pb_dm_layout l)
{
    pb_err e;
    pb_err_clear(&e);
    if (pb_tdb_move_across(from, to, id, l, model, &e))
        fail_msg("move %s across to %s: %s", id, pb_dm_layout_name(l), e.msg);
}

/* Serving on server t with the unchanged password: t's host and port. */
static void assert_serving_on(pb_tdb *t, const char *id, const char *password, long long customers)
{
    pb_tdb_creds cr;
    pb_err e;
    pb_err_clear(&e);
    if (pb_tdb_creds_for(t, id, password, &cr, &e))
        fail_msg("creds_for %s: %s", id, e.msg);
    PGconn *c = pgq_tenant_connect_ok(&cr);
    assert_int_equal(pgq_int(c, "SELECT count(*) FROM customers"), customers);
    PQfinish(c);
    pb_tdb_creds_clear(&cr);
}

static void test_dedicated_server_round_trip(void **state)
{
    pb_tdb *d = dedicated();
    pb_tdb_creds cr;
    pb_err e;
    pb_err_clear(&e);
    ensure_ok("nomad", PB_DM_LAYOUT_RLS, 7, NULL, &cr);
    seed(&cr, 1, 12);
    long long rows0, rows;
    char sum0[65], sum[65];
    checksum("nomad", &rows0, sum0);
    assert_int_equal(rows0, 24);

    /* Refused up front: only the database layout on a dedicated server,
     * and rls/schema tenants are not ensured there. */
    assert_int_equal(pb_tdb_move_across(tdb, d, "nomad", PB_DM_LAYOUT_SCHEMA, model, &e), PB_EINVAL);
    assert_int_equal(pb_tdb_move_across(tdb, tdb, "nomad", PB_DM_LAYOUT_DATABASE, model, &e), PB_EINVAL);
    pb_tdb_tenant bad = {.id = "nomad2", .layout = PB_DM_LAYOUT_SCHEMA};
    pb_tdb_creds tmp;
    assert_int_equal(pb_tdb_ensure(d, &bad, model, &tmp, &e), PB_EINVAL);
    assert_int_equal(pb_tdb_move(d, "nomad", PB_DM_LAYOUT_RLS, model, &e), PB_ENOTFOUND);

    /* rls (shared) -> database (dedicated). */
    across_ok(tdb, d, "nomad", PB_DM_LAYOUT_DATABASE);
    checksum_on(d, "nomad", &rows, sum);
    assert_int_equal(rows, rows0);
    assert_string_equal(sum, sum0);
    assert_lives_on(&srv2, &srv, "nomad", PB_DM_LAYOUT_DATABASE);
    assert_serving_on(d, "nomad", cr.password, 12);
    pb_tdb_info info;
    assert_int_equal(pb_tdb_info_get(tdb, "nomad", &info, &e), 0);
    assert_string_equal(info.state, "moved");
    assert_string_equal(info.server, "default");
    assert_string_equal(info.moved_to, "dedicated-1");
    assert_false(info.moving);
    assert_int_equal(pb_tdb_info_get(d, "nomad", &info, &e), 0);
    assert_string_equal(info.state, "active");
    assert_string_equal(info.server, "dedicated-1");
    assert_int_equal(info.layout, PB_DM_LAYOUT_DATABASE);
    assert_string_equal(info.moved_to, "");
    assert_string_equal(info.arriving_from, "");
    assert_false(info.moving);
    /* The connection limit came along; the shared server now refuses. */
    PGconn *a2 = pgq_admin_on(&srv2, "paybill");
    assert_int_equal(pgq_int(a2, "SELECT rolconnlimit FROM pg_roles WHERE rolname = 'pb_t_nomad'"), 7);
    PQfinish(a2);
    assert_int_equal(pb_tdb_checksum(tdb, "nomad", model, &rows, sum, &e), PB_ENOTFOUND);
    assert_non_null(strstr(e.msg, "dedicated-1"));
    assert_int_equal(pb_tdb_rotate(tdb, "nomad", LONG_GRACE_MS, &tmp, &e), PB_ENOTFOUND);
    pb_tdb_tenant there = {.id = "nomad", .layout = PB_DM_LAYOUT_RLS, .password = cr.password};
    assert_int_equal(pb_tdb_ensure(tdb, &there, model, &tmp, &e), PB_ECONFLICT);
    /* Ensured on its server: converges, same password, new host/port. */
    pb_tdb_tenant silo = {.id = "nomad", .layout = PB_DM_LAYOUT_DATABASE, .dedicated_server = 1,
                          .connection_limit = 7, .password = cr.password};
    pb_tdb_creds dcr;
    assert_int_equal(pb_tdb_ensure(d, &silo, model, &dcr, &e), 0);
    assert_int_equal(dcr.port, srv2.port);
    assert_string_equal(dcr.dbname, "t_nomad");

    /* Hostile on the dedicated server: a neighbour silo's database and the
     * bookkeeping database are closed to it. */
    pb_tdb_tenant other = {.id = "silo2", .layout = PB_DM_LAYOUT_DATABASE, .dedicated_server = 1};
    pb_tdb_creds ocr;
    assert_int_equal(pb_tdb_ensure(d, &other, model, &ocr, &e), 0);
    char err[512];
    assert_null(pgq_tenant_connect(&dcr, "t_silo2", NULL, err, sizeof err));
    assert_non_null(strstr(err, "permission denied"));
    assert_null(pgq_tenant_connect(&dcr, "paybill", NULL, err, sizeof err));
    assert_null(pgq_tenant_connect(&ocr, "t_nomad", NULL, err, sizeof err));
    PGconn *c = pgq_tenant_connect_ok(&dcr);
    assert_string_equal(pgq_state(c, "SET ROLE pb_t_silo2"), "42501");
    assert_string_equal(pgq_state(c, "SELECT * FROM paybill.tenants"), "42501");
    PQfinish(c);

    /* A rotation on the dedicated server: both logins valid, and both
     * move along. */
    pb_tdb_creds rcr;
    assert_int_equal(pb_tdb_rotate(d, "nomad", LONG_GRACE_MS, &rcr, &e), 0);
    assert_string_equal(rcr.user, "pb_t_nomad-2");
    PQfinish(pgq_tenant_connect_ok(&rcr));
    PQfinish(pgq_tenant_connect_ok(&dcr));

    /* database (dedicated) -> schema (shared). */
    across_ok(d, tdb, "nomad", PB_DM_LAYOUT_SCHEMA);
    checksum("nomad", &rows, sum);
    assert_int_equal(rows, rows0);
    assert_string_equal(sum, sum0);
    assert_lives_on(&srv, &srv2, "nomad", PB_DM_LAYOUT_SCHEMA);
    assert_serving_on(tdb, "nomad", rcr.password, 12);
    PQfinish(pgq_tenant_connect_ok(&cr)); /* the first login, on the shared server again */
    {
        PGconn *a1 = pgq_admin_on(&srv2, "paybill");
        assert_int_equal(pgq_int(a1, "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'pb\\_t\\_nomad%'"), 0);
        PQfinish(a1);
    }
    assert_int_equal(pb_tdb_info_get(d, "nomad", &info, &e), 0);
    assert_string_equal(info.moved_to, "default");
    assert_int_equal(pb_tdb_info_get(tdb, "nomad", &info, &e), 0);
    assert_int_equal(info.layout, PB_DM_LAYOUT_SCHEMA);
    assert_string_equal(info.moved_to, "");
    /* Rerun: nothing to do. A rerun asking for another layout moves it
     * within the shared server. */
    across_ok(d, tdb, "nomad", PB_DM_LAYOUT_SCHEMA);
    across_ok(d, tdb, "nomad", PB_DM_LAYOUT_RLS);
    assert_lives_on(&srv, &srv2, "nomad", PB_DM_LAYOUT_RLS);
    checksum("nomad", &rows, sum);
    assert_string_equal(sum, sum0);
    assert_serving_on(tdb, "nomad", rcr.password, 12);
    {
        PGconn *a1 = pgq_tenant_connect_ok(&cr); /* the first login sees the same rows */
        assert_int_equal(pgq_int(a1, "SELECT count(*) FROM customers"), 12);
        PQfinish(a1);
    }
    /* Deleting on the server it left drops only the leftover record. */
    assert_int_equal(pb_tdb_delete(d, "nomad", PB_TDB_DELETE, model, NULL, &e), 0);
    assert_int_equal(pb_tdb_info_get(d, "nomad", &info, &e), PB_ENOTFOUND);
    assert_serving_on(tdb, "nomad", rcr.password, 12);

    /* Two handles on one cluster are refused. */
    pb_tdb *same = NULL;
    pb_tdb_config cfg = {.admin_conninfo = srv2.conninfo, .server_name = "alias", .role = PB_TDB_DEDICATED};
    assert_int_equal(pb_tdb_new(&cfg, &same, &e), 0);
    assert_int_equal(pb_tdb_move_across(d, same, "silo2", PB_DM_LAYOUT_DATABASE, model, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "same PostgreSQL cluster"));
    pb_tdb_free(same);
    cfg.server_name = "Bad Name";
    assert_int_equal(pb_tdb_new(&cfg, &same, &e), PB_EINVAL);

    assert_int_equal(pb_tdb_delete(d, "silo2", PB_TDB_DELETE, model, NULL, &e), 0);
    pb_tdb_creds_clear(&ocr);
    pb_tdb_creds_clear(&dcr);
    pb_tdb_creds_clear(&rcr);
    pb_tdb_creds_clear(&cr);
}

static void test_dedicated_move_crash_converges(void **state)
{
    pb_tdb *d = dedicated();
    pb_tdb_creds cr;
    pb_tdb_creds first;
    ensure_ok("drifter", PB_DM_LAYOUT_SCHEMA, -1, NULL, &first);
    seed(&first, 1, 4);
    /* Both logins in use: the moves must carry both. */
    {
        pb_err re;
        assert_int_equal(pb_tdb_rotate(tdb, "drifter", LONG_GRACE_MS, &cr, &re), 0);
    }
    long long rows0, rows;
    char sum0[65], sum[65];
    checksum("drifter", &rows0, sum0);
    /* For each step k: shared -> dedicated and back, each with a crash
     * after step k and a rerun. */
    for (int k = 1; k <= 5; k++) {
        for (int there = 1; there >= 0; there--) {
            pb_tdb *from = there ? tdb : d, *to = there ? d : tdb;
            pb_dm_layout l = there ? PB_DM_LAYOUT_DATABASE : (k % 2 ? PB_DM_LAYOUT_RLS : PB_DM_LAYOUT_SCHEMA);
            pb_err e;
            pb_err_clear(&e);
            pb_tdb_set_fail_after(from, k);
            assert_int_equal(pb_tdb_move_across(from, to, "drifter", l, model, &e), PB_EINTERNAL);
            assert_non_null(strstr(e.msg, "injected failure"));
            pb_tdb_info fi, ti;
            assert_int_equal(pb_tdb_info_get(from, "drifter", &fi, &e), 0);
            if (k < 4) { /* not switched: the source still has it */
                assert_string_equal(fi.move_server, to == d ? "dedicated-1" : "default");
                assert_true(fi.moving);
                assert_string_equal(fi.moved_to, "");
                pb_tdb_tenant t = {.id = "drifter", .layout = fi.layout, .password = cr.password};
                pb_tdb_creds tmp;
                assert_int_equal(pb_tdb_ensure(from, &t, model, &tmp, &e), PB_ECONFLICT);
                assert_int_equal(pb_tdb_resume(from, "drifter", &e), PB_ECONFLICT);
            } else {
                assert_string_equal(fi.moved_to, to == d ? "dedicated-1" : "default");
                assert_int_equal(fi.moving, k == 4);
                assert_int_equal(pb_tdb_info_get(to, "drifter", &ti, &e), 0);
                assert_string_equal(ti.arriving_from, "");
            }
            if (k >= 2) {
                assert_int_equal(pb_tdb_info_get(to, "drifter", &ti, &e), 0);
                if (k < 4) {
                    assert_string_equal(ti.arriving_from, from == d ? "dedicated-1" : "default");
                    assert_int_equal(pb_tdb_suspend(to, "drifter", &e), PB_ECONFLICT);
                }
            }
            across_ok(from, to, "drifter", l);
            checksum_on(to, "drifter", &rows, sum);
            assert_int_equal(rows, rows0);
            assert_string_equal(sum, sum0);
            assert_lives_on(to == d ? &srv2 : &srv, to == d ? &srv : &srv2, "drifter", l);
            assert_serving_on(to, "drifter", cr.password, 4);
        }
    }
    PQfinish(pgq_tenant_connect_ok(&first)); /* back on the shared server: the first login too */
    pb_tdb_creds_clear(&first);
    /* A tenant suspended on the source mid-move stays suspended after it. */
    pb_err e;
    pb_tdb_set_fail_after(tdb, 2);
    assert_int_equal(pb_tdb_move_across(tdb, d, "drifter", PB_DM_LAYOUT_DATABASE, model, &e), PB_EINTERNAL);
    assert_int_equal(pb_tdb_suspend(tdb, "drifter", &e), 0);
    across_ok(tdb, d, "drifter", PB_DM_LAYOUT_DATABASE);
    pb_tdb_info info;
    assert_int_equal(pb_tdb_info_get(d, "drifter", &info, &e), 0);
    assert_string_equal(info.state, "suspended");
    char err[512];
    pb_tdb_creds dcr;
    assert_int_equal(pb_tdb_creds_for(d, "drifter", cr.password, &dcr, &e), 0);
    assert_null(pgq_tenant_connect(&dcr, NULL, NULL, err, sizeof err));
    assert_int_equal(pb_tdb_resume(d, "drifter", &e), 0);
    PQfinish(pgq_tenant_connect_ok(&dcr));
    pb_tdb_creds_clear(&dcr);
    assert_int_equal(pb_tdb_delete(d, "drifter", PB_TDB_DELETE, model, NULL, &e), 0);
    assert_int_equal(pb_tdb_delete(tdb, "drifter", PB_TDB_DELETE, model, NULL, &e), 0);
    long long h[4];
    holdings(&srv, "drifter", h);
    assert_int_equal(h[0] + h[1] + h[2] + h[3], 0);
    holdings(&srv2, "drifter", h);
    assert_int_equal(h[0] + h[1] + h[2] + h[3], 0);
    pb_tdb_creds_clear(&cr);
}

static void test_dedicated_move_failure_keeps_old_copy(void **state)
{
    pb_tdb *d = dedicated();
    pb_tdb_creds cr;
    pb_err e;
    ensure_ok("anchor", PB_DM_LAYOUT_RLS, -1, NULL, &cr);
    seed(&cr, 1, 3);
    long long rows0, rows;
    char sum0[65], sum[65];
    checksum("anchor", &rows0, sum0);
    /* An incompatible table where the destination goes. */
    PGconn *adm = pgq_admin_on(&srv2, "postgres");
    pgq_must(adm, "CREATE DATABASE t_anchor");
    PQfinish(adm);
    adm = pgq_admin_on(&srv2, "t_anchor");
    pgq_must(adm, "CREATE SCHEMA app; CREATE TABLE app.customers (id text)");
    PQfinish(adm);
    pb_err_clear(&e);
    assert_int_not_equal(pb_tdb_move_across(tdb, d, "anchor", PB_DM_LAYOUT_DATABASE, model, &e), 0);
    assert_null(strstr(e.msg, "injected"));
    /* The old copy serves, unchanged; the move is recorded as unfinished. */
    assert_serving("anchor", cr.password, 3);
    checksum("anchor", &rows, sum);
    assert_string_equal(sum, sum0);
    pb_tdb_info info;
    assert_int_equal(pb_tdb_info_get(tdb, "anchor", &info, &e), 0);
    assert_int_equal(info.layout, PB_DM_LAYOUT_RLS);
    assert_string_equal(info.state, "active");
    assert_string_equal(info.move_server, "dedicated-1");
    /* Fix the cause and rerun. */
    adm = pgq_admin_on(&srv2, "postgres");
    pgq_must(adm, "DROP DATABASE t_anchor WITH (FORCE)");
    PQfinish(adm);
    across_ok(tdb, d, "anchor", PB_DM_LAYOUT_DATABASE);
    assert_serving_on(d, "anchor", cr.password, 3);
    checksum_on(d, "anchor", &rows, sum);
    assert_string_equal(sum, sum0);
    /* A model version other than the data's is refused before anything. */
    pb_dm_model *old = model;
    model = parse_model(SHOP_V2);
    assert_int_equal(pb_tdb_move_across(d, tdb, "anchor", PB_DM_LAYOUT_RLS, model, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "migrate first"));
    pb_dm_free(model);
    model = old;
    assert_serving_on(d, "anchor", cr.password, 3);
    assert_int_equal(pb_tdb_info_get(d, "anchor", &info, &e), 0);
    assert_false(info.moving);
    assert_int_equal(pb_tdb_delete(d, "anchor", PB_TDB_DELETE, model, NULL, &e), 0);
    pb_tdb_creds_clear(&cr);
}

/* The destination server dies in the middle of a move: the source keeps
 * serving, and says which move is unfinished. */
static void test_dedicated_server_down_keeps_old_copy(void **state)
{
    pgtest_server srv3;
    pb_tdb *gone = NULL;
    pb_tdb_creds cr;
    pb_err e;
    pb_err_clear(&e);
    assert_int_equal(pgtest_start(&srv3), 0);
    pb_tdb_config cfg = {.admin_conninfo = srv3.conninfo, .server_name = "doomed", .role = PB_TDB_DEDICATED,
                         .connect_timeout_s = 2};
    if (pb_tdb_new(&cfg, &gone, &e))
        fail_msg("pb_tdb_new: %s", e.msg);
    ensure_ok("castaway", PB_DM_LAYOUT_SCHEMA, -1, NULL, &cr);
    seed(&cr, 1, 3);
    long long rows0, rows;
    char sum0[65], sum[65];
    checksum("castaway", &rows0, sum0);
    /* Crash after the destination was prepared, then the server goes. */
    pb_tdb_set_fail_after(tdb, 2);
    assert_int_equal(pb_tdb_move_across(tdb, gone, "castaway", PB_DM_LAYOUT_DATABASE, model, &e), PB_EINTERNAL);
    char err[512];
    assert_null(pgq_tenant_connect(&cr, NULL, NULL, err, sizeof err)); /* locked out by the move */
    pgtest_stop(&srv3);
    assert_int_not_equal(pb_tdb_move_across(tdb, gone, "castaway", PB_DM_LAYOUT_DATABASE, model, &e), 0);
    assert_null(strstr(e.msg, "injected"));
    /* The rerun failed, and let the tenant in again on the source. */
    assert_serving("castaway", cr.password, 3);
    checksum("castaway", &rows, sum);
    assert_string_equal(sum, sum0);
    pb_tdb_info info;
    assert_int_equal(pb_tdb_info_get(tdb, "castaway", &info, &e), 0);
    assert_int_equal(info.layout, PB_DM_LAYOUT_SCHEMA);
    assert_string_equal(info.state, "active");
    assert_string_equal(info.move_server, "doomed");
    assert_true(info.moving);
    pb_tdb_tenant t = {.id = "castaway", .layout = PB_DM_LAYOUT_SCHEMA, .connection_limit = -1, .password = cr.password};
    pb_tdb_creds tmp;
    assert_int_equal(pb_tdb_ensure(tdb, &t, model, &tmp, &e), PB_ECONFLICT);
    /* Giving up on it: a move within the source drops the intent. */
    assert_int_equal(pb_tdb_move(tdb, "castaway", PB_DM_LAYOUT_SCHEMA, model, &e), 0);
    assert_int_equal(pb_tdb_info_get(tdb, "castaway", &info, &e), 0);
    assert_false(info.moving);
    assert_string_equal(info.move_server, "");
    assert_int_equal(pb_tdb_ensure(tdb, &t, model, &tmp, &e), 0);
    pb_tdb_creds_clear(&tmp);
    assert_serving("castaway", cr.password, 3);
    assert_int_equal(pb_tdb_delete(tdb, "castaway", PB_TDB_DELETE, model, NULL, &e), 0);
    pb_tdb_free(gone);
    pb_tdb_creds_clear(&cr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_quoting_and_errors),
        cmocka_unit_test(test_pg_pool),
        cmocka_unit_test(test_ensure_each_layout_idempotent),
        cmocka_unit_test(test_role_attributes_and_limits),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_rls_isolation),
        cmocka_unit_test(test_schema_and_database_isolation),
        cmocka_unit_test(test_suspend_resume),
        cmocka_unit_test(test_rotate),
        cmocka_unit_test(test_rotation_grace),
        cmocka_unit_test(test_second_login_isolation),
        cmocka_unit_test(test_operations_on_a_tenant_are_serialised),
        cmocka_unit_test(test_delete_policies),
        cmocka_unit_test(test_snapshot_against_a_hung_server_keeps_the_data),
        cmocka_unit_test(test_tier_moves_round_trip),
        cmocka_unit_test(test_tier_move_crash_converges),
        cmocka_unit_test(test_tier_move_failure_keeps_old_copy),
        /* Before test_migration_rollout: seed() needs the v1 columns. */
        cmocka_unit_test(test_dedicated_server_round_trip),
        cmocka_unit_test(test_dedicated_move_crash_converges),
        cmocka_unit_test(test_dedicated_move_failure_keeps_old_copy),
        cmocka_unit_test(test_dedicated_server_down_keeps_old_copy),
        cmocka_unit_test(test_migration_rollout),
        cmocka_unit_test(test_rls_acls_do_not_grow_with_tenants),
        cmocka_unit_test(test_failed_ensure_is_undone_and_retryable),
        cmocka_unit_test(test_move_uses_its_own_statement_timeout),
        cmocka_unit_test(test_password_set_only_when_changed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
