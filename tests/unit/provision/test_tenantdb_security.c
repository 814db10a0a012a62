/* Security tests for provision/tenantdb against a real, throwaway
 * PostgreSQL server (pgtest.h), started once for the file.
 *
 * The attack: a bridge (schema) tenant replaces a table the operator reads
 * with a view of the same name whose definition calls a function of the
 * tenant's. Whoever reads the view runs the function with their own
 * privileges: were the operator to read it as the superuser (moves,
 * checksums, migrations, snapshots), the tenant's code would run as the
 * superuser, reading everyone's rows and running programs on the server
 * with COPY ... TO PROGRAM. The trap here records current_user in a table
 * anyone may write and tries to touch a marker file through COPY TO
 * PROGRAM; the tests assert that after every operation the trap never ran
 * with more than the tenant's own privileges and the program never ran,
 * and that the operation refused with a reason naming the object.
 *
 * Two ways the trap gets there:
 *   - legacy: the state older versions left (the tenant owned its schema),
 *     recreated by hand, then the tenant's own login sets the trap;
 *   - defence in depth: today's layout (the tenant can neither drop nor
 *     create anything, asserted first), with the trap built by an admin and
 *     handed to the tenant's role, as if another hole had let it in. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pgtest.h"
#include "pgquery.h"
#include "provision/pg.h"
#include "provision/tenantdb.h"
#include "util/log.h"

static pgtest_server srv;
static pb_tdb *tdb;
static pb_dm_model *v1, *v2, *v3;
static char snapdir[128];

#define CUSTOMERS                                                                                  \
    "{\"name\":\"customers\",\"columns\":[{\"name\":\"id\",\"type\":\"bigint\",\"nullable\":false}," \
    "{\"name\":\"email\",\"type\":\"text\"}],\"primaryKey\":[\"id\"]}"
#define ORDERS                                                                                     \
    "{\"name\":\"orders\",\"columns\":[{\"name\":\"id\",\"type\":\"bigint\",\"nullable\":false},"    \
    "{\"name\":\"customer_id\",\"type\":\"bigint\"}],\"primaryKey\":[\"id\"],"                      \
    "\"foreignKeys\":[{\"columns\":[\"customer_id\"],"                                              \
    "\"references\":{\"table\":\"customers\",\"columns\":[\"id\"]},\"onDelete\":\"cascade\"}]}"
#define NOTES                                                                                      \
    "{\"name\":\"notes\",\"columns\":[{\"name\":\"id\",\"type\":\"integer\",\"nullable\":false}],"   \
    "\"primaryKey\":[\"id\"]}"
#define MEMOS                                                                                      \
    "{\"name\":\"memos\",\"columns\":[{\"name\":\"id\",\"type\":\"integer\",\"nullable\":false}],"   \
    "\"primaryKey\":[\"id\"]}"

static const char *MODEL_V1 = "{\"version\":1,\"tables\":[" CUSTOMERS "," ORDERS "]}";
static const char *MODEL_V2 = "{\"version\":2,\"tables\":[" CUSTOMERS "," ORDERS "," NOTES "]}";
static const char *MODEL_V3 = "{\"version\":3,\"tables\":[" CUSTOMERS "," ORDERS "," NOTES "," MEMOS "]}";

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




static void ensure_ok(const char *id, pb_dm_layout l, const pb_dm_model *m, pb_tdb_creds *cr)
{
    pb_tdb_tenant t = {.id = id, .layout = l, .connection_limit = -1};
    pb_err e;
    pb_err_clear(&e);
    if (pb_tdb_ensure(tdb, &t, m, cr, &e))
        fail_msg("ensure %s: %s", id, e.msg);
}

static void seed(const pb_tdb_creds *cr)
{
    PGconn *c = pgq_tenant_connect_ok(cr);
    pgq_must(c, "INSERT INTO customers (id, email) VALUES (1, 'a@x'), (2, 'b@x');"
            "INSERT INTO orders (id, customer_id) VALUES (10, 1), (11, 2)");
    PQfinish(c);
}

/* The marker file the trap's COPY TO PROGRAM would create. */
static void marker_path(const char *id, char *out, size_t n)
{
    snprintf(out, n, "/tmp/pbsec-%d-%s", (int)getpid(), id);
}

/* The trap in schema `schema`, made on connection c (as whoever c is):
 * customers replaced by a view over a SECURITY INVOKER function that
 * records current_user in a table anyone may write, and tries COPY ... TO
 * PROGRAM (failures caught, so the read itself succeeds either way). */
static void set_trap(PGconn *c, const char *schema, const char *id)
{
    char marker[128], sql[4096];
    marker_path(id, marker, sizeof marker);
    unlink(marker);
    snprintf(sql, sizeof sql,
             "DROP TABLE %s.customers CASCADE;"
             "CREATE TABLE %s.spylog (who text NOT NULL);"
             "GRANT INSERT, SELECT ON %s.spylog TO PUBLIC;"
             "CREATE FUNCTION %s.spy() RETURNS TABLE (id bigint, email text) LANGUAGE plpgsql "
             "SECURITY INVOKER AS $f$ BEGIN "
             "  BEGIN INSERT INTO %s.spylog VALUES (current_user); EXCEPTION WHEN others THEN NULL; END;"
             "  BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch %s'''; EXCEPTION WHEN others THEN NULL; END;"
             "  RETURN QUERY SELECT 1::bigint, 'decoy'::text; END $f$;"
             "CREATE VIEW %s.customers AS SELECT * FROM %s.spy();",
             schema, schema, schema, schema, schema, marker, schema, schema);
    pgq_must(c, sql);
}

/* The trap never ran as anyone but the tenant's logins, and the program
 * never ran. */
static void assert_trap_harmless(PGconn *adm, const char *schema, const char *id)
{
    char marker[128], sql[512];
    marker_path(id, marker, sizeof marker);
    struct stat st;
    if (stat(marker, &st) == 0) {
        unlink(marker);
        fail_msg("the tenant's COPY ... TO PROGRAM ran on the server (%s exists)", marker);
    }
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s.spylog WHERE who NOT LIKE 'pb\\_t\\_%s%%'", schema, id);
    if (pgq_int(adm, sql) != 0) {
        snprintf(sql, sizeof sql, "SELECT string_agg(DISTINCT who, ', ') FROM %s.spylog", schema);
        PGresult *r = PQexec(adm, sql);
        fail_msg("the tenant's function ran as: %s", PQgetvalue(r, 0, 0));
    }
}

static void expect_refused(int rc, const pb_err *e, const char *what, const char *must_name)
{
    if (rc == 0)
        fail_msg("%s: expected a refusal, it succeeded", what);
    if (!strstr(e->msg, must_name))
        fail_msg("%s: the error does not name %s: %s", what, must_name, e->msg);
}

static int migrated_to(PGconn *adm_shared, const char *target, long long version)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM paybill.migrations WHERE target = '%s' AND version = %lld",
             target, version);
    return pgq_int(adm_shared, sql) == 1;
}

static int db_migrated_to(const char *db, long long version)
{
    PGconn *a = pgq_admin_on(&srv, db);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM paybill.migrations WHERE version = %lld", version);
    int ok = pgq_int(a, sql) == 1;
    PQfinish(a);
    return ok;
}

/* ---- setup -------------------------------------------------------------------- */

static int setup(void **state)
{
    pb_log_configure(PB_LOG_ERROR, PB_LOG_TEXT, NULL);
    if (pgtest_start(&srv) != 0)
        return -1;
    char pg_dump[PATH_MAX + 16];
    pgtest_tool(&srv, "pg_dump", pg_dump, sizeof pg_dump);
    snprintf(snapdir, sizeof snapdir, "%s/snapshots", srv.dir);
    pb_tdb_config cfg = {.admin_conninfo = srv.conninfo,
                         .tenant_host = "127.0.0.1",
                         .tenant_port = srv.port,
                         .sslmode = "disable",
                         .snapshot_dir = snapdir,
                         .pg_dump = pg_dump,
                         .statement_timeout_ms = 30000};
    pb_err e;
    pb_err_clear(&e);
    if (pb_tdb_new(&cfg, &tdb, &e)) {
        fprintf(stderr, "pb_tdb_new: %s\n", e.msg);
        return -1;
    }
    v1 = parse_model(MODEL_V1);
    v2 = parse_model(MODEL_V2);
    v3 = parse_model(MODEL_V3);
    return 0;
}

static int teardown(void **state)
{
    pb_tdb_free(tdb);
    pb_dm_free(v1);
    pb_dm_free(v2);
    pb_dm_free(v3);
    pgtest_stop(&srv);
    return 0;
}

/* ---- what a tenant may do in its own space --------------------------------------- */

/* In every layout the tenant's login can use its tables and nothing more:
 * it cannot drop or alter them, create anything next to them (tables,
 * views, functions, temporary tables), or own the place they live in. */
static void test_tenant_cannot_replace_objects(void **state)
{
    pb_tdb_creds s, r, d;
    ensure_ok("own_s", PB_DM_LAYOUT_SCHEMA, v1, &s);
    ensure_ok("own_r", PB_DM_LAYOUT_RLS, v1, &r);
    ensure_ok("own_d", PB_DM_LAYOUT_DATABASE, v1, &d);
    seed(&s);
    seed(&r);
    seed(&d);
    const struct {
        pb_tdb_creds *cr;
        const char *schema;
    } cases[] = {{&s, "t_own_s"}, {&r, "app"}, {&d, "app"}};
    for (int i = 0; i < 3; i++) {
        PGconn *c = pgq_tenant_connect_ok(cases[i].cr);
        char sql[512];
        const char *sc = cases[i].schema;
        snprintf(sql, sizeof sql, "DROP TABLE %s.orders", sc);
        assert_string_equal(pgq_state(c, sql), "42501");
        snprintf(sql, sizeof sql, "DROP TABLE %s.customers CASCADE", sc);
        assert_string_equal(pgq_state(c, sql), "42501");
        snprintf(sql, sizeof sql, "ALTER TABLE %s.customers RENAME TO old_customers", sc);
        assert_string_equal(pgq_state(c, sql), "42501");
        snprintf(sql, sizeof sql, "CREATE TABLE %s.mine (x int)", sc);
        assert_string_equal(pgq_state(c, sql), "42501");
        snprintf(sql, sizeof sql, "CREATE VIEW %s.v AS SELECT 1 AS x", sc);
        assert_string_equal(pgq_state(c, sql), "42501");
        snprintf(sql, sizeof sql, "CREATE FUNCTION %s.f() RETURNS int LANGUAGE sql AS 'SELECT 1'", sc);
        assert_string_equal(pgq_state(c, sql), "42501");
        snprintf(sql, sizeof sql, "ALTER SCHEMA %s RENAME TO gone", sc);
        assert_string_equal(pgq_state(c, sql), "42501");
        assert_string_equal(pgq_state(c, "CREATE TEMP TABLE tmp (x int)"), "42501");
        assert_string_equal(pgq_state(c, "CREATE SCHEMA mine"), "42501");
        assert_string_equal(pgq_state(c, "CREATE TABLE public.mine (x int)"), "42501");
        /* What the catalogs say, as the tenant itself. */
        snprintf(sql, sizeof sql,
                 "SELECT (has_schema_privilege('%s', 'CREATE') OR pg_has_role(nspowner, 'MEMBER'))::int "
                 "FROM pg_namespace WHERE nspname = '%s'",
                 sc, sc);
        assert_int_equal(pgq_int(c, sql), 0);
        assert_int_equal(pgq_int(c, "SELECT (has_database_privilege(current_database(), 'CREATE') OR "
                                 "has_database_privilege(current_database(), 'TEMP'))::int"),
                         0);
        assert_int_equal(pgq_int(c, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                 "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
                                 "AND pg_has_role(c.relowner, 'MEMBER')"),
                         0);
        /* The data is still usable. */
        assert_int_equal(pgq_int(c, "SELECT count(*) FROM customers"), 2);
        /* The setting through which the operator names the rls tenant it
         * works on means nothing to a tenant, nor can it become the role
         * the operator works as. */
        assert_string_equal(pgq_state(c, "SET paybill.acting_tenant = 'own_s'"), "00000");
        assert_string_equal(pgq_state(c, "SELECT set_config('paybill.acting_tenant', 'own_d', false)"), "00000");
        assert_int_equal(pgq_int(c, "SELECT count(*) FROM customers"), 2);
        if (i == 1) {
            assert_int_equal(pgq_int(c, "SELECT count(*) FROM app.customers WHERE tenant_id <> 'own_r'"), 0);
            assert_string_equal(pgq_state(c, "INSERT INTO customers (tenant_id, id, email) VALUES ('own_s', 9, 'x')"),
                                "42501");
        }
        assert_string_equal(pgq_state(c, "SET ROLE paybill_owner"), "42501");
        PQfinish(c);
    }
    /* Who owns what, as the admin sees it: the operator's owner role owns
     * the tenant's schema (bridge), database and its schema "app" (silo),
     * and every table; no tenant role has CREATE on any of them. */
    PGconn *a = pgq_admin_on(&srv, "paybill");
    assert_int_equal(pgq_int(a, "SELECT count(*) FROM pg_namespace WHERE nspname = 't_own_s' "
                             "AND nspowner = 'paybill_owner'::regrole"),
                     1);
    assert_int_equal(pgq_int(a, "SELECT count(*) FROM pg_roles r, pg_namespace n WHERE r.rolname LIKE 'pb\\_t\\_own%' "
                             "AND n.nspname IN ('t_own_s', 'app', 'public', 'paybill') "
                             "AND has_schema_privilege(r.oid, n.oid, 'CREATE')"),
                     0);
    assert_int_equal(pgq_int(a, "SELECT count(*) FROM pg_database WHERE datname = 't_own_d' "
                             "AND datdba = 'paybill_owner'::regrole"),
                     1);
    assert_int_equal(pgq_int(a, "SELECT count(*) FROM pg_roles r WHERE r.rolname LIKE 'pb\\_t\\_own%' "
                             "AND (has_database_privilege(r.oid, 'paybill', 'CREATE') OR "
                             "has_database_privilege(r.oid, 'paybill', 'TEMP') OR "
                             "has_database_privilege(r.oid, 't_own_d', 'CREATE') OR "
                             "has_database_privilege(r.oid, 't_own_d', 'TEMP'))"),
                     0);
    PQfinish(a);
    a = pgq_admin_on(&srv, "t_own_d");
    assert_int_equal(pgq_int(a, "SELECT count(*) FROM pg_namespace WHERE nspname = 'app' "
                             "AND nspowner = 'paybill_owner'::regrole"),
                     1);
    assert_int_equal(pgq_int(a, "SELECT count(*) FROM pg_roles r, pg_namespace n WHERE r.rolname LIKE 'pb\\_t\\_own%' "
                             "AND n.nspname IN ('app', 'public', 'paybill') AND has_schema_privilege(r.oid, n.oid, 'CREATE')"),
                     0);
    assert_int_equal(pgq_int(a, "SELECT count(*) FROM pg_tables WHERE schemaname = 'app' AND tableowner <> 'paybill_owner'"),
                     0);
    PQfinish(a);
    pb_tdb_creds *all[] = {&s, &r, &d};
    for (int i = 0; i < 3; i++)
        pb_tdb_creds_clear(all[i]);
}

/* ---- the attack, from the state older versions left ------------------------------ */

static void test_legacy_owned_schema_attack(void **state)
{
    pb_err e;
    int rc;
    pb_tdb_creds v, bs, br, bd;
    ensure_ok("victim", PB_DM_LAYOUT_SCHEMA, v1, &v);
    ensure_ok("by_s", PB_DM_LAYOUT_SCHEMA, v1, &bs);
    ensure_ok("by_r", PB_DM_LAYOUT_RLS, v1, &br);
    ensure_ok("by_d", PB_DM_LAYOUT_DATABASE, v1, &bd);
    seed(&v);
    seed(&bs);
    seed(&br);
    seed(&bd);
    PGconn *adm = pgq_admin_on(&srv, "paybill");
    /* What older versions made: the tenant's login owns its schema. */
    pgq_must(adm, "ALTER SCHEMA t_victim OWNER TO pb_t_victim");
    /* The tenant sets the trap with its own login... */
    PGconn *c = pgq_tenant_connect_ok(&v);
    set_trap(c, "t_victim", "victim");
    /* ...which works for the tenant itself, with its own privileges. */
    assert_int_equal(pgq_int(c, "SELECT count(*) FROM customers"), 1);
    PQfinish(c);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM t_victim.spylog WHERE who = 'pb_t_victim'"), 1);
    assert_trap_harmless(adm, "t_victim", "victim");

    /* A checksum reads the tenant's tables: refused, naming the view. */
    long long rows = 0;
    char sum[65];
    pb_err_clear(&e);
    rc = pb_tdb_checksum(tdb, "victim", v1, &rows, sum, &e);
    assert_trap_harmless(adm, "t_victim", "victim");
    expect_refused(rc, &e, "checksum", "t_victim.customers");

    /* A tier move reads them too: refused, and the tenant keeps its layout. */
    pb_err_clear(&e);
    rc = pb_tdb_move(tdb, "victim", PB_DM_LAYOUT_RLS, v1, &e);
    assert_trap_harmless(adm, "t_victim", "victim");
    expect_refused(rc, &e, "move", "t_victim.customers");
    pb_tdb_info info;
    assert_int_equal(pb_tdb_info_get(tdb, "victim", &info, &e), 0);
    assert_int_equal(info.layout, PB_DM_LAYOUT_SCHEMA);
    assert_true(info.moving); /* the move is refused, not forgotten */
    /* Giving up on it (a move to where it is) touches no table of the
     * tenant's; the half-made destination goes. */
    pb_err_clear(&e);
    if (pb_tdb_move(tdb, "victim", PB_DM_LAYOUT_SCHEMA, v1, &e))
        fail_msg("abandoning the move: %s", e.msg);
    assert_trap_harmless(adm, "t_victim", "victim");
    assert_int_equal(pb_tdb_info_get(tdb, "victim", &info, &e), 0);
    assert_false(info.moving);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM app.customers WHERE tenant_id = 'victim'"), 0);

    /* A migration: the victim fails with the real reason, every other
     * tenant is migrated, and the schema is taken back from the tenant. */
    pb_err_clear(&e);
    rc = pb_tdb_apply_model(tdb, v2, 0, &e);
    assert_trap_harmless(adm, "t_victim", "victim");
    expect_refused(rc, &e, "migration", "victim");
    assert_non_null(strstr(e.msg, "t_victim.customers"));
    assert_true(migrated_to(adm, "app", 2));
    assert_true(migrated_to(adm, "t_by_s", 2));
    assert_true(db_migrated_to("t_by_d", 2));
    assert_false(migrated_to(adm, "t_victim", 2));
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM pg_namespace WHERE nspname = 't_victim' "
                               "AND nspowner = 'paybill_owner'::regrole"),
                     1);
    c = pgq_tenant_connect_ok(&v); /* no longer able to make anything there */
    assert_string_equal(pgq_state(c, "CREATE TABLE t_victim.more (x int)"), "42501");
    PQfinish(c);

    /* ensure converges what it can and refuses the rest, naming it. */
    pb_tdb_tenant spec = {.id = "victim", .layout = PB_DM_LAYOUT_SCHEMA, .connection_limit = -1,
                          .password = v.password};
    pb_tdb_creds tmp;
    pb_err_clear(&e);
    rc = pb_tdb_ensure(tdb, &spec, v1, &tmp, &e);
    assert_trap_harmless(adm, "t_victim", "victim");
    expect_refused(rc, &e, "ensure", "t_victim.customers");

    /* A snapshot (pg_dump) is refused as well, and nothing is deleted. */
    pb_tdb_snapshot snap;
    pb_err_clear(&e);
    rc = pb_tdb_delete(tdb, "victim", PB_TDB_SNAPSHOT, v1, &snap, &e);
    assert_trap_harmless(adm, "t_victim", "victim");
    expect_refused(rc, &e, "snapshot", "t_victim.customers");
    assert_int_equal(pb_tdb_info_get(tdb, "victim", &info, &e), 0);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM pg_namespace WHERE nspname = 't_victim'"), 1);

    /* The bystanders were never disturbed. */
    PGconn *cs = pgq_tenant_connect_ok(&bs);
    assert_int_equal(pgq_int(cs, "SELECT count(*) FROM notes"), 0);
    assert_int_equal(pgq_int(cs, "SELECT count(*) FROM customers"), 2);
    PQfinish(cs);
    assert_int_equal(pgq_int(adm, "SELECT count(*) FROM t_victim.spylog WHERE who = 'pb_t_victim'"), 1);
    /* Only an explicit Delete gets rid of it. */
    assert_int_equal(pb_tdb_delete(tdb, "victim", PB_TDB_DELETE, v1, NULL, &e), 0);
    PQfinish(adm);
    pb_tdb_creds *all[] = {&v, &bs, &br, &bd};
    for (int i = 0; i < 4; i++)
        pb_tdb_creds_clear(all[i]);
}

/* ---- defence in depth: the same trap, in today's layout, built by an admin ------ */

static void test_operator_refuses_foreign_objects(void **state)
{
    pb_err e;
    pb_tdb_creds v, vd;
    ensure_ok("victim2", PB_DM_LAYOUT_SCHEMA, v2, &v);
    ensure_ok("victim3", PB_DM_LAYOUT_DATABASE, v2, &vd);
    seed(&v);
    seed(&vd);
    PGconn *adm = pgq_admin_on(&srv, "paybill");
    /* The trap as an admin builds it, then handed to the tenant's role. */
    set_trap(adm, "t_victim2", "victim2");
    pgq_must(adm, "ALTER VIEW t_victim2.customers OWNER TO pb_t_victim2;"
              "ALTER FUNCTION t_victim2.spy() OWNER TO pb_t_victim2;"
              "ALTER TABLE t_victim2.spylog OWNER TO pb_t_victim2");
    PGconn *dadm = pgq_admin_on(&srv, "t_victim3");
    set_trap(dadm, "app", "victim3");
    pgq_must(dadm, "ALTER VIEW app.customers OWNER TO pb_t_victim3;"
               "ALTER FUNCTION app.spy() OWNER TO pb_t_victim3;"
               "ALTER TABLE app.spylog OWNER TO pb_t_victim3");

    const struct {
        const char *id, *schema;
        PGconn *adm;
        pb_dm_layout l;
    } cases[] = {{"victim2", "t_victim2", adm, PB_DM_LAYOUT_SCHEMA}, {"victim3", "app", dadm, PB_DM_LAYOUT_DATABASE}};
    for (int i = 0; i < 2; i++) {
        char view[64];
        snprintf(view, sizeof view, "%s.customers", cases[i].schema);
        long long rows = 0;
        char sum[65];
        pb_err_clear(&e);
        int rc = pb_tdb_checksum(tdb, cases[i].id, v2, &rows, sum, &e);
        assert_trap_harmless(cases[i].adm, cases[i].schema, cases[i].id);
        expect_refused(rc, &e, "checksum", view);
        assert_non_null(strstr(e.msg, "view"));
        pb_err_clear(&e);
        rc = pb_tdb_move(tdb, cases[i].id, PB_DM_LAYOUT_RLS, v2, &e);
        assert_trap_harmless(cases[i].adm, cases[i].schema, cases[i].id);
        expect_refused(rc, &e, "move", view);
        pb_tdb_info info;
        assert_int_equal(pb_tdb_info_get(tdb, cases[i].id, &info, &e), 0);
        assert_int_equal(info.layout, cases[i].l);
        assert_int_equal(pb_tdb_move(tdb, cases[i].id, cases[i].l, v2, &e), 0); /* given up */
        assert_trap_harmless(cases[i].adm, cases[i].schema, cases[i].id);
        pb_tdb_snapshot snap;
        pb_err_clear(&e);
        rc = pb_tdb_delete(tdb, cases[i].id, PB_TDB_SNAPSHOT, v2, &snap, &e);
        assert_trap_harmless(cases[i].adm, cases[i].schema, cases[i].id);
        expect_refused(rc, &e, "snapshot", view);
    }
    /* The migration names both, with the reason; the others get v3. */
    pb_tdb_creds other;
    ensure_ok("bystander", PB_DM_LAYOUT_SCHEMA, v2, &other);
    pb_err_clear(&e);
    pb_tdb_rollout ro;
    int rc = pb_tdb_apply_model_report(tdb, v3, 0, &ro, &e);
    assert_trap_harmless(adm, "t_victim2", "victim2");
    assert_trap_harmless(dadm, "app", "victim3");
    expect_refused(rc, &e, "migration", "victim2");
    assert_non_null(strstr(e.msg, "victim3"));
    assert_non_null(strstr(e.msg, "customers"));
    assert_non_null(strstr(e.msg, "2 of"));
    /* Tenant by tenant: exactly those two, each with its reason. */
    assert_int_equal(ro.failed, 2);
    assert_true(ro.tenants > 2);
    assert_string_equal(ro.failures[0].tenant, "victim2");
    assert_string_equal(ro.failures[1].tenant, "victim3");
    assert_int_equal(ro.failures[0].code, PB_EFORBIDDEN);
    assert_non_null(strstr(ro.failures[0].reason, "view t_victim2.customers (owner pb_t_victim2)"));
    assert_non_null(strstr(ro.failures[1].reason, "view app.customers (owner pb_t_victim3)"));
    pb_tdb_rollout_clear(&ro);
    assert_true(migrated_to(adm, "t_bystander", 3));
    assert_true(migrated_to(adm, "app", 3));

    /* Owned by the operator's role, but a view is still not a table. */
    pgq_must(adm, "ALTER VIEW t_victim2.customers OWNER TO paybill_owner;"
              "ALTER FUNCTION t_victim2.spy() OWNER TO paybill_owner;"
              "ALTER TABLE t_victim2.spylog OWNER TO paybill_owner");
    long long rows = 0;
    char sum[65];
    pb_err_clear(&e);
    rc = pb_tdb_checksum(tdb, "victim2", v2, &rows, sum, &e);
    assert_trap_harmless(adm, "t_victim2", "victim2");
    expect_refused(rc, &e, "checksum (owner's view)", "t_victim2.customers");
    assert_non_null(strstr(e.msg, "not a plain table"));
    /* A plain table, owned by the tenant: refused too. */
    pgq_must(adm, "DROP VIEW t_victim2.customers; CREATE TABLE t_victim2.customers (id bigint PRIMARY KEY, email text);"
              "ALTER TABLE t_victim2.customers OWNER TO pb_t_victim2");
    pb_err_clear(&e);
    expect_refused(pb_tdb_checksum(tdb, "victim2", v2, &rows, sum, &e), &e, "checksum (tenant's table)",
                   "t_victim2.customers");
    assert_non_null(strstr(e.msg, "pb_t_victim2"));
    /* Once an admin puts things right, everything works again. */
    pgq_must(adm, "DROP TABLE t_victim2.customers; DROP FUNCTION t_victim2.spy(); DROP TABLE t_victim2.spylog;"
              "SET ROLE paybill_owner; CREATE TABLE t_victim2.customers (id bigint NOT NULL, email text, "
              "PRIMARY KEY (id)); RESET ROLE");
    pb_err_clear(&e);
    if (pb_tdb_checksum(tdb, "victim2", v2, &rows, sum, &e))
        fail_msg("checksum after the repair: %s", e.msg);
    assert_int_equal(pb_tdb_delete(tdb, "victim2", PB_TDB_DELETE, v2, NULL, &e), 0);
    assert_int_equal(pb_tdb_delete(tdb, "victim3", PB_TDB_DELETE, v2, NULL, &e), 0);
    PQfinish(dadm);
    PQfinish(adm);
    pb_tdb_creds_clear(&v);
    pb_tdb_creds_clear(&vd);
    pb_tdb_creds_clear(&other);
}

/* ---- snapshot files ------------------------------------------------------------- */

/* Archives hold tenant data: readable by the operator's user only, in a
 * directory only it can list, whatever the umask (0 here: a process that
 * cleared it would otherwise make them world-readable and writable) and
 * even when the directory was there before with looser bits. */
static void test_snapshot_files_are_private(void **state)
{
    mode_t old = umask(0);
    mkdir(snapdir, 0755); /* earlier tests may have made it */
    assert_int_equal(chmod(snapdir, 0755), 0);
    const struct {
        const char *id;
        pb_dm_layout l;
    } cases[] = {{"snap_priv_r", PB_DM_LAYOUT_RLS}, {"snap_priv_s", PB_DM_LAYOUT_SCHEMA},
                 {"snap_priv_d", PB_DM_LAYOUT_DATABASE}};
    for (int i = 0; i < 3; i++) {
        pb_tdb_creds cr;
        pb_tdb_snapshot snap;
        pb_err e;
        pb_err_clear(&e);
        ensure_ok(cases[i].id, cases[i].l, v3, &cr);
        seed(&cr);
        if (pb_tdb_delete(tdb, cases[i].id, PB_TDB_SNAPSHOT, v3, &snap, &e))
            fail_msg("snapshot %s: %s", cases[i].id, e.msg);
        struct stat st;
        assert_int_equal(stat(snapdir, &st), 0);
        if ((st.st_mode & 07777) != 0700)
            fail_msg("snapshot directory mode %o, want 700", (unsigned)(st.st_mode & 07777));
        assert_int_equal(stat(snap.path, &st), 0);
        if ((st.st_mode & 07777) != 0600)
            fail_msg("%s: mode %o, want 600", snap.path, (unsigned)(st.st_mode & 07777));
        assert_true(st.st_size > 0);
        pb_tdb_snapshot_clear(&snap);
        pb_tdb_creds_clear(&cr);
    }
    /* Nothing else left behind (no partial archive, no pg_dump log). */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls %s | grep -cv '\\.dump$'", snapdir);
    FILE *p = popen(cmd, "r");
    char *out = tu_slurp(p);
    pclose(p);
    assert_int_equal(atoi(out), 0);
    free(out);
    umask(old);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tenant_cannot_replace_objects),
        cmocka_unit_test(test_legacy_owned_schema_attack),
        cmocka_unit_test(test_operator_refuses_foreign_objects),
        cmocka_unit_test(test_snapshot_files_are_private),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
