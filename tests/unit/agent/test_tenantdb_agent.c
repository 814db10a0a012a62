/* The tenant's agent login (provision/tenantdb: pb_tdb_agent_*) against a
 * real, throwaway PostgreSQL server (pgtest.h), with grants rendered from
 * real AgentPolicies (agent/sqlgen.h): the point of the agent login is that
 * PostgreSQL itself refuses what a policy does not allow, so every check
 * here connects with the agent's own credentials.
 *
 * It lives with the agent tests because it needs both libraries (tests in
 * tests/unit/<dir> link paybill_<dir>; paybill_agent brings provision). */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "agent_fixture.h"
#include "provision/pgtest.h"
#include "provision/pgquery.h"
#include "provision/tenantdb.h"
#include "util/log.h"

static pgtest_server srv, srv2; /* srv2: a dedicated server, for moves across */
static pb_tdb *tdb, *ded;
static pb_dm_model *model;
static pb_pol *pol; /* customers: read id/email/name/segment, update name/segment, segment in [smb] */

static const char *SPEC =
    "{\"rules\":[{\"name\":\"smb-customers\",\"table\":\"customers\",\"operations\":[\"select\",\"update\"],"
    "\"readableColumns\":[\"id\",\"email\",\"name\",\"segment\"],\"writableColumns\":[\"name\",\"segment\"],"
    "\"rowConstraints\":[{\"column\":\"segment\",\"op\":\"in\",\"value\":[\"smb\"]}]}]}";

/* ---- helpers ------------------------------------------------------------------ */

static void ensure_tenant(const char *id, pb_dm_layout l, pb_tdb_creds *cr)
{
    pb_tdb_tenant t = {.id = id, .layout = l, .connection_limit = -1};
    pb_err e;
    pb_err_clear(&e);
    if (pb_tdb_ensure(tdb, &t, model, cr, &e))
        fail_msg("ensure %s: %s", id, e.msg);
}

static void ensure_agent(const char *id, const char *pw, pb_tdb_creds *cr, pb_tdb_agent_target *tg)
{
    pb_err e;
    pb_err_clear(&e);
    if (pb_tdb_agent_ensure(tdb, id, pw, cr, tg, &e))
        fail_msg("agent ensure %s: %s", id, e.msg);
}

/* Render for tg from pols and apply. */
static int apply_pols(const char *id, const pb_tdb_agent_target *tg, const pb_pol *const *pols, size_t n,
                      const char *extra, pb_err *e)
{
    char *sql = NULL;
    pb_sqlgen_target st = {tg->layout, tg->schema, tg->role};
    pb_err_clear(e);
    int rc = pb_sqlgen_role(pols, n, model, &st, &sql, e);
    if (rc)
        fail_msg("render: %s", e->msg);
    if (extra) {
        char *all = malloc(strlen(sql) + strlen(extra) + 1);
        strcpy(all, sql);
        strcat(all, extra);
        free(sql);
        sql = all;
    }
    rc = pb_tdb_agent_apply(tdb, id, tg, model, sql, e);
    free(sql);
    return rc;
}

static void apply_ok(const char *id, const pb_tdb_agent_target *tg, int with_policy)
{
    const pb_pol *ps[1] = {pol};
    pb_err e;
    if (apply_pols(id, tg, ps, with_policy ? 1 : 0, NULL, &e))
        fail_msg("apply %s: %s", id, e.msg);
}

static void apply_sql_refused(const char *id, const pb_tdb_agent_target *tg, const char *sql, int code,
                              const char *must_say)
{
    pb_err e;
    pb_err_clear(&e);
    int rc = pb_tdb_agent_apply(tdb, id, tg, model, sql, &e);
    if (rc == 0)
        fail_msg("apply of %s succeeded, expected a refusal", sql);
    if (rc != code || !strstr(e.msg, must_say))
        fail_msg("apply of %s: code %d (want %d), message without \"%s\": %s", sql, rc, code, must_say, e.msg);
}

static PGconn *connect_as(const pb_tdb_creds *cr) { return pgq_tenant_connect_ok(cr); }

static int can_connect(const pb_tdb_creds *cr)
{
    char err[512];
    PGconn *c = pgq_tenant_connect(cr, NULL, NULL, err, sizeof err);
    PQfinish(c);
    return c != NULL;
}

/* The single text value of a one-row query ("" for NULL). */
static char *q_str(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    char *s = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return s;
}

static void expect_str(PGconn *c, const char *sql, const char *want)
{
    char *got = q_str(c, sql);
    if (strcmp(got, want) != 0)
        fail_msg("%s: got \"%s\", want \"%s\"", sql, got, want);
    free(got);
}

static void expect_state(PGconn *c, const char *sql, const char *want)
{
    const char *got = pgq_state(c, sql);
    if (strcmp(got, want) != 0)
        fail_msg("%s: SQLSTATE %s, want %s (%s)", sql, got, want, PQerrorMessage(c));
}

/* Rows a statement touched; fails the test on error. */
static long affected(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    long n = atol(PQcmdTuples(r));
    PQclear(r);
    return n;
}

/* What the agent login holds on tables of database db: table and column
 * grants and policies naming it. */
static long long footprint_on(const pgtest_server *s, const char *db, const char *agent)
{
    char sql[1024];
    PGconn *a = pgq_admin_on(s, db);
    snprintf(sql, sizeof sql,
             "WITH ag AS (SELECT oid FROM pg_roles WHERE rolname = '%s') SELECT "
             "(SELECT count(*) FROM pg_class c, aclexplode(c.relacl) x WHERE x.grantee = (SELECT oid FROM ag)) + "
             "(SELECT count(*) FROM pg_attribute t, aclexplode(t.attacl) x WHERE x.grantee = (SELECT oid FROM ag)) + "
             "(SELECT count(*) FROM pg_policy WHERE (SELECT oid FROM ag) = ANY (polroles))",
             agent);
    long long n = pgq_int(a, sql);
    PQfinish(a);
    return n;
}

static long long footprint(const char *db, const char *agent) { return footprint_on(&srv, db, agent); }

static long long admin_int(const char *db, const char *sql)
{
    PGconn *a = pgq_admin_on(&srv, db);
    long long n = pgq_int(a, sql);
    PQfinish(a);
    return n;
}

static void seed(const pb_tdb_creds *tenant, const char *prefix)
{
    char sql[512];
    PGconn *c = connect_as(tenant);
    snprintf(sql, sizeof sql,
             "INSERT INTO customers (email, name, segment, score) VALUES "
             "('%sa@x', 'A', 'smb', 1), ('%sb@x', 'B', 'enterprise', 2)",
             prefix, prefix);
    pgq_must(c, sql);
    PQfinish(c);
}

/* The policy as PostgreSQL enforces it for the agent login: seeded rows
 * "<p>a@x" (smb) and "<p>b@x" (enterprise), both visible to the tenant. */
static void expect_enforced(const pb_tdb_creds *tenant, const pb_tdb_creds *agent, const char *p)
{
    char sql[512], want[64];
    PGconn *a = connect_as(agent), *tc = connect_as(tenant);
    /* A hidden column cannot be read; readable ones can, of allowed rows
     * only (in rls: of this tenant only). */
    expect_state(a, "SELECT score FROM customers", "42501");
    expect_state(a, "SELECT * FROM customers", "42501");
    snprintf(want, sizeof want, "%sa@x", p);
    expect_str(a, "SELECT string_agg(email || '/' || segment, ',') FROM customers", strcat(want, "/smb"));
    /* Rows outside the constraint: untouched by an update, and no row may
     * be moved out of it. */
    snprintf(sql, sizeof sql, "UPDATE customers SET name = 'Z' WHERE email = '%sb@x'", p);
    assert_int_equal(affected(a, sql), 0);
    assert_int_equal(affected(a, "UPDATE customers SET name = 'Z'"), 1);
    snprintf(sql, sizeof sql, "UPDATE customers SET segment = 'enterprise' WHERE email = '%sa@x'", p);
    expect_state(a, sql, "42501");
    /* Operations the policy does not allow. */
    expect_state(a, "UPDATE customers SET score = 5", "42501");
    expect_state(a, "INSERT INTO customers (email, segment) VALUES ('n@x', 'smb')", "42501");
    expect_state(a, "DELETE FROM customers", "42501");
    expect_state(a, "SELECT id FROM invoices", "42501");
    /* The tenant's own login still sees and may change everything. */
    expect_str(tc, "SELECT count(*) FROM customers", "2");
    snprintf(sql, sizeof sql, "SELECT name FROM customers WHERE email = '%sb@x'", p);
    expect_str(tc, sql, "B");
    pgq_must(tc, "UPDATE customers SET name = 'A' WHERE segment = 'smb'");
    PQfinish(a);
    PQfinish(tc);
}

/* Nothing at all: no column readable. */
static void expect_nothing(const pb_tdb_creds *agent)
{
    PGconn *a = connect_as(agent);
    expect_state(a, "SELECT email FROM customers", "42501");
    expect_state(a, "UPDATE customers SET name = 'Z'", "42501");
    expect_state(a, "SELECT id FROM invoices", "42501");
    PQfinish(a);
}

/* ---- setup -------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    pb_log_configure(PB_LOG_ERROR, PB_LOG_TEXT, NULL);
    if (pgtest_start(&srv) != 0)
        return -1;
    pb_tdb_config cfg = {.admin_conninfo = srv.conninfo,
                         .tenant_host = "127.0.0.1",
                         .tenant_port = srv.port,
                         .sslmode = "disable",
                         .statement_timeout_ms = 30000};
    pb_err e;
    pb_err_clear(&e);
    if (pb_tdb_new(&cfg, &tdb, &e)) {
        fprintf(stderr, "pb_tdb_new: %s\n", e.msg);
        return -1;
    }
    model = fx_model();
    int rc = 0;
    pol = fx_policy(model, SPEC, &rc, &e);
    if (rc) {
        fprintf(stderr, "policy: %s\n", e.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pb_pol_free(pol);
    pb_dm_free(model);
    pb_tdb_free(tdb);
    /* srv2 first: its watchdog, forked later, holds srv's pipe too. */
    int had_ded = ded != NULL;
    pb_tdb_free(ded);
    if (had_ded)
        pgtest_stop(&srv2);
    pgtest_stop(&srv);
    return 0;
}

/* ---- each layout ---------------------------------------------------------------- */

static void run_layout(const char *id, pb_dm_layout l)
{
    char agent[64], sql[512];
    pb_tdb_creds tc, ac, ac2;
    pb_tdb_agent_target tg;
    pb_err e;
    snprintf(agent, sizeof agent, "pb_a_%s", id);
    ensure_tenant(id, l, &tc);
    seed(&tc, "");
    ensure_agent(id, NULL, &ac, &tg);
    assert_string_equal(ac.user, agent);
    assert_string_equal(tg.role, agent);
    assert_int_equal(tg.layout, l);
    assert_string_equal(tg.schema, tc.schema);
    assert_string_equal(ac.dbname, tc.dbname);

    /* Made with nothing: it logs in, and every table is closed. */
    assert_int_equal(footprint(tc.dbname, agent), 0);
    expect_nothing(&ac);

    apply_ok(id, &tg, 1);
    expect_enforced(&tc, &ac, "");
    /* Idempotent: a second apply changes nothing. */
    long long fp = footprint(tc.dbname, agent);
    assert_true(fp > 0);
    apply_ok(id, &tg, 1);
    assert_int_equal(footprint(tc.dbname, agent), fp);
    expect_enforced(&tc, &ac, "");

    /* Converging with the Secret's password keeps it working. */
    ensure_agent(id, ac.password, &ac2, NULL);
    assert_string_equal(ac2.password, ac.password);
    PQfinish(connect_as(&ac));
    pb_tdb_creds_clear(&ac2);

    /* No policy: everything revoked, nothing left in the catalog. */
    apply_ok(id, &tg, 0);
    expect_nothing(&ac);
    assert_int_equal(footprint(tc.dbname, agent), 0);
    apply_ok(id, &tg, 1);

    /* Suspend locks the agent out and ends its sessions; resume lets it in. */
    PGconn *open = connect_as(&ac);
    pb_err_clear(&e);
    if (pb_tdb_suspend(tdb, id, &e))
        fail_msg("suspend: %s", e.msg);
    assert_false(can_connect(&ac));
    assert_string_not_equal(pgq_state(open, "SELECT 1"), "00000");
    PQfinish(open);
    /* Converging a suspended tenant's agent does not let it in. */
    ensure_agent(id, ac.password, &ac2, NULL);
    pb_tdb_creds_clear(&ac2);
    assert_false(can_connect(&ac));
    if (pb_tdb_resume(tdb, id, &e))
        fail_msg("resume: %s", e.msg);
    assert_true(can_connect(&ac));
    expect_enforced(&tc, &ac, "");

    /* Dropped on its own (its grants and policies with it, wherever they
     * are), then made again: it starts with nothing. */
    if (pb_tdb_agent_drop(tdb, id, &e))
        fail_msg("agent drop: %s", e.msg);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_roles WHERE rolname = '%s'", agent);
    assert_int_equal(admin_int(NULL, sql), 0);
    assert_false(can_connect(&ac));
    pb_tdb_creds_clear(&ac);
    ensure_agent(id, NULL, &ac, &tg);
    assert_int_equal(footprint(tc.dbname, agent), 0);
    expect_nothing(&ac);
    apply_ok(id, &tg, 1);

    /* Delete drops it. */
    if (pb_tdb_delete(tdb, id, PB_TDB_DELETE, model, NULL, &e))
        fail_msg("delete: %s", e.msg);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_roles WHERE rolname = '%s'", agent);
    assert_int_equal(admin_int(NULL, sql), 0);
    assert_false(can_connect(&ac));
    pb_tdb_creds_clear(&tc);
    pb_tdb_creds_clear(&ac);
}

static void test_agent_rls(void **state)
{
    (void)state;
    /* Another rls tenant with an smb row of its own: never the agent's. */
    pb_tdb_creds oc;
    ensure_tenant("ag_neighbour", PB_DM_LAYOUT_RLS, &oc);
    seed(&oc, "n");
    run_layout("ag_r", PB_DM_LAYOUT_RLS);
    PGconn *c = connect_as(&oc);
    expect_str(c, "SELECT string_agg(name, ',' ORDER BY email) FROM customers", "A,B");
    PQfinish(c);
    pb_tdb_creds_clear(&oc);
}

static void test_agent_schema(void **state)
{
    (void)state;
    run_layout("ag_s", PB_DM_LAYOUT_SCHEMA);
}

static void test_agent_database(void **state)
{
    (void)state;
    run_layout("ag_d", PB_DM_LAYOUT_DATABASE);
}

/* ---- the login itself -------------------------------------------------------------- */

/* Attributes, connection limit, the password kept as a salted HMAC, no
 * membership either way, rls mapping, and the rls ACLs not growing. */
static void test_agent_login_attributes(void **state)
{
    (void)state;
    pb_tdb_creds tc, ac, sc, sa;
    pb_tdb_agent_target tg, stg;
    pb_err e;
    ensure_tenant("ag_attr", PB_DM_LAYOUT_RLS, &tc);
    seed(&tc, "");
    ensure_agent("ag_attr", NULL, &ac, &tg);
    assert_int_equal(admin_int(NULL,
                               "SELECT count(*) FROM pg_roles WHERE rolname = 'pb_a_ag_attr' AND NOT rolsuper "
                               "AND NOT rolcreatedb AND NOT rolcreaterole AND NOT rolreplication AND NOT rolbypassrls "
                               "AND rolcanlogin AND rolconnlimit = 4"),
                     1);
    assert_int_equal(PB_TDB_AGENT_CONNECTION_LIMIT, 4);
    /* Recorded as a salted HMAC, never the password. */
    PGconn *adm = pgq_admin_on(&srv, "paybill");
    char *h = q_str(adm, "SELECT agent_password_hash FROM paybill.tenants WHERE tenant_id = 'ag_attr'");
    assert_true(strncmp(h, "hmac-sha256$", 12) == 0);
    assert_null(strstr(h, ac.password));
    free(h);
    /* rls: exactly one group, the agents' one, and that group holds no table. */
    expect_str(adm,
               "SELECT string_agg(g.rolname, ',') FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
               "WHERE m.member = 'pb_a_ag_attr'::regrole",
               "paybill_rls_agents");
    expect_str(adm,
               "SELECT count(*) FROM pg_class c, aclexplode(c.relacl) x WHERE x.grantee = "
               "'paybill_rls_agents'::regrole",
               "0");
    apply_ok("ag_attr", &tg, 1);
    /* Its schema USAGE is the group's: app's ACL has no entry for it. */
    expect_str(adm,
               "SELECT count(*) FROM pg_namespace n, aclexplode(n.nspacl) x WHERE n.nspname = 'app' AND x.grantee = "
               "'pb_a_ag_attr'::regrole",
               "0");
    PQfinish(adm);

    PGconn *a = connect_as(&ac), *t = connect_as(&tc);
    expect_str(a, "SELECT paybill.current_tenant_id()", "ag_attr");
    /* Neither login can become the other, nor the agent the tenants' group. */
    expect_state(a, "SET ROLE pb_t_ag_attr", "42501");
    expect_state(a, "SET ROLE paybill_rls_tenants", "42501");
    expect_state(t, "SET ROLE pb_a_ag_attr", "42501");
    /* The tenant reads the agent's hidden column, the agent does not. */
    expect_str(t, "SELECT sum(score) FROM customers", "3");
    expect_state(a, "SELECT score FROM customers", "42501");
    PQfinish(a);
    PQfinish(t);

    /* The same in the schema layout, where neither is a member of anything. */
    ensure_tenant("ag_attr_s", PB_DM_LAYOUT_SCHEMA, &sc);
    ensure_agent("ag_attr_s", NULL, &sa, &stg);
    apply_ok("ag_attr_s", &stg, 1);
    assert_int_equal(admin_int(NULL, "SELECT count(*) FROM pg_auth_members WHERE member = 'pb_a_ag_attr_s'::regrole "
                                     "OR roleid = 'pb_a_ag_attr_s'::regrole"),
                     0);
    assert_int_equal(admin_int(NULL, "SELECT count(*) FROM pg_roles WHERE rolname = 'pb_a_ag_attr_s' AND NOT rolinherit"),
                     1);
    a = connect_as(&sa);
    t = connect_as(&sc);
    expect_state(a, "SET ROLE pb_t_ag_attr_s", "42501");
    expect_state(t, "SET ROLE pb_a_ag_attr_s", "42501");
    /* The agent of one tenant cannot reach another's schema. */
    expect_state(a, "SELECT email FROM app.customers", "42501");
    PQfinish(a);
    PQfinish(t);

    /* Converging takes back what was given to it by hand: a membership
     * either way. A role of its name nobody recorded (left from an earlier
     * tenant of that id) goes, with its grants, before the login is made. */
    adm = pgq_admin_on(&srv, "paybill");
    static const char *const grants[2] = {"GRANT pb_a_ag_attr_s TO pb_t_ag_attr_s",
                                          "GRANT pb_t_ag_attr_s TO pb_a_ag_attr_s"};
    for (int i = 0; i < 2; i++) {
        pb_tdb_creds y;
        pgq_must(adm, grants[i]);
        ensure_agent("ag_attr_s", sa.password, &y, NULL);
        pb_tdb_creds_clear(&y);
        assert_int_equal(admin_int(NULL, "SELECT count(*) FROM pg_auth_members WHERE member = "
                                         "'pb_a_ag_attr_s'::regrole OR roleid = 'pb_a_ag_attr_s'::regrole"),
                         0);
    }
    pb_tdb_creds lc, la;
    ensure_tenant("ag_left", PB_DM_LAYOUT_SCHEMA, &lc);
    pgq_must(adm, "CREATE ROLE pb_a_ag_left LOGIN; GRANT SELECT ON t_ag_left.customers TO pb_a_ag_left;"
                  "GRANT pb_t_ag_left TO pb_a_ag_left");
    ensure_agent("ag_left", NULL, &la, NULL);
    assert_int_equal(footprint("paybill", "pb_a_ag_left"), 0);
    assert_int_equal(admin_int(NULL, "SELECT count(*) FROM pg_auth_members WHERE member = 'pb_a_ag_left'::regrole"), 0);
    expect_nothing(&la);
    PQfinish(adm);
    pb_tdb_delete(tdb, "ag_left", PB_TDB_DELETE, model, NULL, &e);
    pb_tdb_creds_clear(&lc);
    pb_tdb_creds_clear(&la);

    /* Unknown tenant; password rules. */
    pb_tdb_creds x;
    pb_err_clear(&e);
    assert_int_equal(pb_tdb_agent_ensure(tdb, "ag_nobody", NULL, &x, NULL, &e), PB_ENOTFOUND);
    assert_int_equal(pb_tdb_agent_ensure(tdb, "ag_attr", "short", &x, NULL, &e), PB_EINVAL);
    /* Dropping it on its own, twice. */
    assert_int_equal(pb_tdb_agent_drop(tdb, "ag_attr_s", &e), 0);
    assert_int_equal(pb_tdb_agent_drop(tdb, "ag_attr_s", &e), 0);
    assert_int_equal(admin_int(NULL, "SELECT count(*) FROM pg_roles WHERE rolname = 'pb_a_ag_attr_s'"), 0);
    assert_int_equal(pb_tdb_agent_apply(tdb, "ag_attr_s", &stg, model, "GRANT USAGE ON SCHEMA x TO y", &e),
                     PB_ENOTFOUND);

    pb_tdb_delete(tdb, "ag_attr", PB_TDB_DELETE, model, NULL, &e);
    pb_tdb_delete(tdb, "ag_attr_s", PB_TDB_DELETE, model, NULL, &e);
    pb_tdb_creds_clear(&tc);
    pb_tdb_creds_clear(&ac);
    pb_tdb_creds_clear(&sc);
    pb_tdb_creds_clear(&sa);
}

/* ---- moves ---------------------------------------------------------------------- */

/* schema -> rls -> database -> schema: after each move the agent logs in,
 * holds nothing on the new tables and nothing is left on the old ones; a
 * target from before the move is refused; ensure + apply restore it. */
static void test_agent_moves(void **state)
{
    (void)state;
    const char *id = "ag_mv";
    pb_tdb_creds tc, ac;
    pb_tdb_agent_target tg, old;
    pb_err e;
    ensure_tenant(id, PB_DM_LAYOUT_SCHEMA, &tc);
    seed(&tc, "");
    ensure_agent(id, NULL, &ac, &tg);
    char *pw = strdup(ac.password);
    apply_ok(id, &tg, 1);
    expect_enforced(&tc, &ac, "");

    /* A move left unfinished: the agent is out and may not change. */
    pb_tdb_set_fail_after(tdb, 1);
    assert_int_not_equal(pb_tdb_move(tdb, id, PB_DM_LAYOUT_RLS, model, &e), 0);
    assert_false(can_connect(&ac));
    pb_tdb_creds x;
    assert_int_equal(pb_tdb_agent_ensure(tdb, id, pw, &x, NULL, &e), PB_ECONFLICT);
    assert_int_equal(apply_pols(id, &tg, NULL, 0, NULL, &e), PB_ECONFLICT);

    static const pb_dm_layout path[3] = {PB_DM_LAYOUT_RLS, PB_DM_LAYOUT_DATABASE, PB_DM_LAYOUT_SCHEMA};
    for (int i = 0; i < 3; i++) {
        char from_db[64];
        snprintf(from_db, sizeof from_db, "%s", ac.dbname);
        assert_true(footprint(from_db, "pb_a_ag_mv") > 0);
        old = tg;
        if (pb_tdb_move(tdb, id, path[i], model, &e))
            fail_msg("move to %s: %s", pb_dm_layout_name(path[i]), e.msg);
        pb_tdb_creds_clear(&tc);
        pb_tdb_creds_clear(&ac);
        ensure_tenant(id, path[i], &tc);
        /* Nothing stale where it was: in shared_db (leaving rls took its
         * grants and policies off the shared tables; a schema went with
         * its own), and a database moved away from is gone. */
        if (strcmp(from_db, "paybill") == 0) {
            assert_int_equal(footprint("paybill", "pb_a_ag_mv"), 0);
        } else {
            char sql[256];
            snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_database WHERE datname = '%s'", from_db);
            assert_int_equal(admin_int(NULL, sql), 0);
        }
        /* The grants rendered for the old place are refused. */
        assert_int_equal(apply_pols(id, &old, NULL, 0, NULL, &e), PB_ECONFLICT);
        ensure_agent(id, pw, &ac, &tg);
        assert_int_equal(tg.layout, path[i]);
        assert_string_equal(ac.password, pw);
        /* In: no privileges on the new tables until applied. */
        assert_int_equal(footprint(ac.dbname, "pb_a_ag_mv"), 0);
        expect_nothing(&ac);
        apply_ok(id, &tg, 1);
        expect_enforced(&tc, &ac, "");
    }
    /* CONNECT only where its tables are now (shared_db for schema). */
    assert_int_equal(admin_int(NULL, "SELECT count(*) FROM pg_database d, aclexplode(d.datacl) x "
                                     "WHERE x.grantee = 'pb_a_ag_mv'::regrole AND d.datname <> 'paybill'"),
                     0);
    assert_int_equal(pb_tdb_delete(tdb, id, PB_TDB_DELETE, model, NULL, &e), 0);
    assert_int_equal(admin_int(NULL, "SELECT count(*) FROM pg_roles WHERE rolname = 'pb_a_ag_mv'"), 0);
    free(pw);
    pb_tdb_creds_clear(&tc);
    pb_tdb_creds_clear(&ac);
}

/* A move to another server drops the agent login on the source; the
 * destination has none until it is ensured there (with the Secret's
 * password, which keeps working), and it starts with nothing. */
static void test_agent_move_across(void **state)
{
    (void)state;
    pb_tdb_creds tc, ac, dc, dac, x;
    pb_tdb_agent_target tg;
    pb_err e;
    pb_err_clear(&e);
    if (pgtest_start(&srv2) != 0)
        fail_msg("second server did not start");
    pb_tdb_config cfg = {.admin_conninfo = srv2.conninfo,
                         .server_name = "dedicated-1",
                         .role = PB_TDB_DEDICATED,
                         .tenant_host = "127.0.0.1",
                         .tenant_port = srv2.port,
                         .sslmode = "disable",
                         .statement_timeout_ms = 30000};
    if (pb_tdb_new(&cfg, &ded, &e))
        fail_msg("pb_tdb_new (dedicated): %s", e.msg);
    ensure_tenant("ag_x", PB_DM_LAYOUT_RLS, &tc);
    seed(&tc, "");
    ensure_agent("ag_x", NULL, &ac, &tg);
    apply_ok("ag_x", &tg, 1);
    assert_true(footprint("paybill", "pb_a_ag_x") > 0);
    if (pb_tdb_move_across(tdb, ded, "ag_x", PB_DM_LAYOUT_DATABASE, model, &e))
        fail_msg("move across: %s", e.msg);
    assert_int_equal(admin_int(NULL, "SELECT count(*) FROM pg_roles WHERE rolname = 'pb_a_ag_x'"), 0);
    assert_int_equal(pb_tdb_agent_ensure(tdb, "ag_x", ac.password, &x, NULL, &e), PB_ENOTFOUND);
    pb_tdb_tenant spec = {.id = "ag_x", .layout = PB_DM_LAYOUT_DATABASE, .connection_limit = -1,
                          .dedicated_server = 1, .password = tc.password};
    if (pb_tdb_ensure(ded, &spec, model, &dc, &e))
        fail_msg("ensure on the destination: %s", e.msg);
    if (pb_tdb_agent_ensure(ded, "ag_x", ac.password, &dac, &tg, &e))
        fail_msg("agent ensure on the destination: %s", e.msg);
    assert_int_equal(dac.port, srv2.port);
    assert_string_equal(dac.password, ac.password);
    assert_int_equal(footprint_on(&srv2, "t_ag_x", "pb_a_ag_x"), 0);
    expect_nothing(&dac);
    pb_tdb *keep = tdb; /* apply_pols goes to tdb */
    tdb = ded;
    apply_ok("ag_x", &tg, 1);
    expect_enforced(&dc, &dac, "");
    assert_int_equal(pb_tdb_delete(ded, "ag_x", PB_TDB_DELETE, model, NULL, &e), 0);
    tdb = keep;
    pb_tdb_delete(tdb, "ag_x", PB_TDB_DELETE, model, NULL, &e);
    pb_tdb_creds_clear(&tc);
    pb_tdb_creds_clear(&ac);
    pb_tdb_creds_clear(&dc);
    pb_tdb_creds_clear(&dac);
}

/* ---- fail closed ------------------------------------------------------------------ */

/* SQL that is not the agent's own grants on its tenant's tables is refused,
 * and a refusal leaves nothing behind (the valid statements before it
 * included). */
static void test_apply_refuses_foreign_sql(void **state)
{
    (void)state;
    pb_tdb_creds tc, ac, vc, rc_, ra;
    pb_tdb_agent_target tg, rtg, wrong;
    pb_err e;
    const pb_pol *ps[1] = {pol};
    ensure_tenant("ag_f", PB_DM_LAYOUT_SCHEMA, &tc);
    ensure_tenant("ag_victim", PB_DM_LAYOUT_SCHEMA, &vc);
    ensure_agent("ag_f", NULL, &ac, &tg);

    /* Rendered for another role. */
    wrong = tg;
    snprintf(wrong.role, sizeof wrong.role, "pb_a_ag_victim");
    assert_int_equal(apply_pols("ag_f", &wrong, ps, 1, NULL, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "pb_a_ag_victim"));
    /* The right target, SQL naming the tenant's login. */
    apply_sql_refused("ag_f", &tg,
                      "REVOKE ALL ON TABLE \"t_ag_f\".\"customers\" FROM \"pb_a_ag_f\"; "
                      "GRANT SELECT ON TABLE \"t_ag_f\".\"customers\" TO \"pb_t_ag_f\"",
                      PB_EINVAL, "names login pb_t_ag_f");
    /* Shapes the grants are never made of: a COMMIT smuggled in, a grant to
     * PUBLIC. */
    assert_int_equal(apply_pols("ag_f", &tg, ps, 1,
                                "COMMIT; GRANT SELECT ON TABLE \"t_ag_f\".\"customers\" TO PUBLIC;", &e),
                     PB_EINVAL);
    assert_non_null(strstr(e.msg, "COMMIT"));
    /* The right shape, another tenant's table: refused by what it changed. */
    assert_int_equal(apply_pols("ag_f", &tg, ps, 1,
                                "GRANT SELECT ON TABLE \"t_ag_victim\".\"customers\" TO \"pb_a_ag_f\";", &e),
                     PB_EINVAL);
    assert_non_null(strstr(e.msg, "t_ag_victim.customers"));
    /* Row-level security without the base policy would shut the tenant out. */
    apply_sql_refused("ag_f", &tg, "ALTER TABLE \"t_ag_f\".\"customers\" ENABLE ROW LEVEL SECURITY", PB_EINVAL,
                      "base policy");
    /* None of it stuck: not the policy's grants that came first either. */
    assert_int_equal(footprint("paybill", "pb_a_ag_f"), 0);
    assert_int_equal(admin_int("paybill", "SELECT count(*) FROM pg_class WHERE relrowsecurity AND "
                                          "relnamespace = 't_ag_f'::regnamespace"),
                     0);
    expect_nothing(&ac);

    /* rls: dropping the tenants' isolation policy has the shape of the
     * agent's own DROP POLICY, and is refused for what it changes. */
    ensure_tenant("ag_fr", PB_DM_LAYOUT_RLS, &rc_);
    ensure_agent("ag_fr", NULL, &ra, &rtg);
    assert_int_equal(apply_pols("ag_fr", &rtg, ps, 1,
                                "DROP POLICY IF EXISTS \"tenant_isolation\" ON \"app\".\"customers\";", &e),
                     PB_EINVAL);
    assert_non_null(strstr(e.msg, "policies"));
    assert_int_equal(admin_int("paybill", "SELECT count(*) FROM pg_policy WHERE polname = 'tenant_isolation' "
                                          "AND polrelid = 'app.customers'::regclass"),
                     1);
    /* A permissive policy for the agent would open every tenant's rows. */
    apply_sql_refused("ag_fr", &rtg,
                      "CREATE POLICY \"x\" ON \"app\".\"customers\" AS PERMISSIVE FOR SELECT TO \"pb_a_ag_fr\" "
                      "USING (true)",
                      PB_EINVAL, "statement 1");
    assert_int_equal(footprint("paybill", "pb_a_ag_fr"), 0);

    const char *ids[3] = {"ag_f", "ag_victim", "ag_fr"};
    for (int i = 0; i < 3; i++)
        pb_tdb_delete(tdb, ids[i], PB_TDB_DELETE, model, NULL, &e);
    pb_tdb_creds_clear(&tc);
    pb_tdb_creds_clear(&ac);
    pb_tdb_creds_clear(&vc);
    pb_tdb_creds_clear(&rc_);
    pb_tdb_creds_clear(&ra);
}

/* A view put where a table was (see test_tenantdb_security.c) is refused
 * by name before any grant is made: granting on it would hand the agent
 * whatever the view reads. */
static void test_apply_refuses_swapped_view(void **state)
{
    (void)state;
    pb_tdb_creds tc, ac;
    pb_tdb_agent_target tg;
    pb_err e;
    const pb_pol *ps[1] = {pol};
    ensure_tenant("ag_v", PB_DM_LAYOUT_SCHEMA, &tc);
    ensure_agent("ag_v", NULL, &ac, &tg);
    PGconn *adm = pgq_admin_on(&srv, "paybill");
    pgq_must(adm, "ALTER TABLE t_ag_v.customers RENAME TO customers_real;"
                  "CREATE VIEW t_ag_v.customers AS SELECT * FROM t_ag_v.customers_real;"
                  "ALTER VIEW t_ag_v.customers OWNER TO paybill_owner");
    int rc = apply_pols("ag_v", &tg, ps, 1, NULL, &e);
    assert_int_not_equal(rc, 0);
    if (!strstr(e.msg, "t_ag_v.customers") || !strstr(e.msg, "view"))
        fail_msg("refusal does not name the view: %s", e.msg);
    assert_int_equal(footprint("paybill", "pb_a_ag_v"), 0);
    PQfinish(adm);
    pb_tdb_delete(tdb, "ag_v", PB_TDB_DELETE, model, NULL, &e);
    pb_tdb_creds_clear(&tc);
    pb_tdb_creds_clear(&ac);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agent_rls),
        cmocka_unit_test(test_agent_schema),
        cmocka_unit_test(test_agent_database),
        cmocka_unit_test(test_agent_login_attributes),
        cmocka_unit_test(test_agent_moves),
        cmocka_unit_test(test_agent_move_across),
        cmocka_unit_test(test_apply_refuses_foreign_sql),
        cmocka_unit_test(test_apply_refuses_swapped_view),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
