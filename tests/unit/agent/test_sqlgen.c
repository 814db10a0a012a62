/* Unit tests for agent/sqlgen: the agent role's grants and RLS policies
 * (golden text, determinism, quoting of odd identifiers and literals,
 * refusals), predicates as SQL, and then, on a throwaway PostgreSQL
 * (pgtest.h), proof that the database enforces the policy by itself: the
 * agent role cannot read a hidden column, a row outside the constraints,
 * write outside them or delete what it may not, in the schema and rls
 * layouts, and narrowing a policy takes back what it gave. Also checked
 * against the server: the quoting equals libpq's byte for byte, and the C
 * evaluation of predicates agrees with PostgreSQL's on random values. */
#include "testutil.h"

#include <libpq-fe.h>
#include <stdint.h>
#include <string.h>

#include "agent/agent_int.h"
#include "agent_fixture.h"
#include "provision/pgtest.h"

static pgtest_server srv;

/* ---- text only ------------------------------------------------------------------ */

static const char *POLICY =
    "{\"rules\":["
    "{\"table\":\"customers\",\"operations\":[\"select\"],\"columns\":[\"id\",\"name\",\"segment\"],"
    "\"rowConstraints\":[{\"column\":\"segment\",\"op\":\"in\",\"value\":[\"smb\",\"midmarket\"]}]},"
    "{\"table\":\"customers\",\"operations\":[\"update\"],\"readableColumns\":[\"id\"],\"writableColumns\":[\"name\","
    "\"segment\"],"
    "\"rowConstraints\":[{\"column\":\"segment\",\"op\":\"in\",\"value\":[\"smb\",\"midmarket\"]}]},"
    "{\"table\":\"invoices\",\"operations\":[\"select\",\"insert\"],\"readableColumns\":[\"id\",\"amount\",\"paid\"],"
    "\"writableColumns\":[\"customer_id\",\"amount\"],"
    "\"rowConstraints\":[{\"column\":\"amount\",\"op\":\"le\",\"value\":\"1000.00\"},"
    "{\"column\":\"note\",\"op\":\"ne\",\"value\":\"it's \\\\ odd\"}]},"
    "{\"table\":\"invoices\",\"operations\":[\"delete\"]}],"
    "\"deny\":[{\"table\":\"invoices\",\"operations\":[\"delete\"],\"columns\":[\"note\"]}]}";

#define TBL(t) "\"t_acme\".\"" t "\""
#define DROPS(t)                                                                   \
    "DROP POLICY IF EXISTS \"pb_agent_select_%s\" ON " TBL(t) ";\n"                \
    "DROP POLICY IF EXISTS \"pb_agent_insert_%s\" ON " TBL(t) ";\n"                \
    "DROP POLICY IF EXISTS \"pb_agent_update_%s\" ON " TBL(t) ";\n"                \
    "DROP POLICY IF EXISTS \"pb_agent_delete_%s\" ON " TBL(t) ";\n"
#define BASE(t)                                                                    \
    "ALTER TABLE " TBL(t) " ENABLE ROW LEVEL SECURITY;\n"                          \
    "DROP POLICY IF EXISTS \"pb_agent_base\" ON " TBL(t) ";\n"                     \
    "CREATE POLICY \"pb_agent_base\" ON " TBL(t) " AS PERMISSIVE FOR ALL TO PUBLIC USING (true) WITH CHECK (true);\n"

static const char *GOLDEN_FMT =
    "GRANT USAGE ON SCHEMA \"t_acme\" TO \"agent\";\n"
    "REVOKE ALL ON TABLE " TBL("customers") " FROM \"agent\";\n" DROPS("customers") BASE("customers")
    "GRANT SELECT (\"id\", \"name\", \"segment\") ON TABLE " TBL("customers") " TO \"agent\";\n"
    "GRANT UPDATE (\"name\", \"segment\") ON TABLE " TBL("customers") " TO \"agent\";\n"
    "CREATE POLICY \"pb_agent_select_%s\" ON " TBL("customers") " AS RESTRICTIVE FOR SELECT TO \"agent\" USING "
    "(((\"segment\" IN ('smb', 'midmarket'))));\n"
    "CREATE POLICY \"pb_agent_update_%s\" ON " TBL("customers") " AS RESTRICTIVE FOR UPDATE TO \"agent\" USING "
    "(((\"segment\" IN ('smb', 'midmarket')))) WITH CHECK (((\"segment\" IN ('smb', 'midmarket'))));\n"
    "REVOKE ALL ON TABLE " TBL("invoices") " FROM \"agent\";\n" DROPS("invoices") BASE("invoices")
    "GRANT SELECT (\"id\", \"amount\", \"paid\") ON TABLE " TBL("invoices") " TO \"agent\";\n"
    "GRANT INSERT (\"customer_id\", \"amount\") ON TABLE " TBL("invoices") " TO \"agent\";\n"
    "CREATE POLICY \"pb_agent_select_%s\" ON " TBL("invoices") " AS RESTRICTIVE FOR SELECT TO \"agent\" USING "
    "(((\"amount\" <= '1000'::numeric) AND (\"note\" <>  E'it''s \\\\ odd')));\n"
    "CREATE POLICY \"pb_agent_insert_%s\" ON " TBL("invoices") " AS RESTRICTIVE FOR INSERT TO \"agent\" WITH CHECK "
    "(((\"amount\" <= '1000'::numeric) AND (\"note\" <>  E'it''s \\\\ odd')));\n";

static void test_golden_and_deterministic(void **state)
{
    pb_dm_model *m = fx_model();
    pb_err e;
    int rc;
    pb_pol *p = fx_policy(m, POLICY, &rc, &e);
    assert_int_equal(rc, 0);
    pb_sqlgen_target tg = {PB_DM_LAYOUT_SCHEMA, "t_acme", "agent"};
    const pb_pol *one = p;
    char *sql = NULL, *again = NULL;
    assert_int_equal(pb_sqlgen_role(&one, 1, m, &tg, &sql, &e), 0);
    char h[64];
    pb_sqlgen_policy_name("agent", "select", h);
    const char *hex = h + strlen("pb_agent_select_");
    char want[8192];
    snprintf(want, sizeof want, GOLDEN_FMT, hex, hex, hex, hex, hex, hex, hex, hex, hex, hex, hex, hex);
    if (strcmp(sql, want) != 0)
        fprintf(stderr, "GOT:\n%s\nWANT:\n%s\n", sql, want);
    assert_string_equal(sql, want);
    /* same policy (recompiled) -> same text */
    pb_pol *p2 = fx_policy(m, POLICY, &rc, &e);
    one = p2;
    assert_int_equal(pb_sqlgen_role(&one, 1, m, &tg, &again, &e), 0);
    assert_string_equal(sql, again);
    free(again);
    pb_pol_free(p2);
    free(sql);
    /* rls layout: no permissive base policy (tenant_isolation is the one) */
    tg.layout = PB_DM_LAYOUT_RLS;
    tg.schema = "app";
    assert_int_equal(pb_sqlgen_role(&one, 0, m, &tg, &sql, &e), 0);
    assert_null(strstr(sql, "pb_agent_base"));
    assert_null(strstr(sql, "ENABLE ROW LEVEL SECURITY"));
    assert_null(strstr(sql, "GRANT SELECT"));
    free(sql);
    one = p;
    assert_int_equal(pb_sqlgen_role(&one, 1, m, &tg, &sql, &e), 0);
    assert_null(strstr(sql, "pb_agent_base"));
    assert_non_null(strstr(sql, "AS RESTRICTIVE FOR SELECT"));
    free(sql);
    pb_pol_free(p);
    pb_dm_free(m);
}

static void test_what_contributes(void **state)
{
    pb_dm_model *m = fx_model();
    pb_err e;
    int rc;
    pb_sqlgen_target tg = {PB_DM_LAYOUT_SCHEMA, "s", "r"};
    char *sql;
    /* Audit and broken policies grant nothing */
    pb_pol *audit = fx_policy(m, "{\"enforcement\":\"Audit\",\"rules\":[{\"table\":\"customers\",\"operations\":["
                                 "\"select\"]}]}",
                              &rc, &e);
    pb_pol *broken = fx_policy(m, "{\"rules\":[{\"table\":\"customerz\",\"operations\":[\"select\"]}]}", &rc, &e);
    const pb_pol *two[] = {audit, broken};
    assert_int_equal(pb_sqlgen_role(two, 2, m, &tg, &sql, &e), 0);
    assert_null(strstr(sql, "GRANT SELECT"));
    assert_non_null(strstr(sql, "REVOKE ALL ON TABLE \"s\".\"customers\" FROM \"r\""));
    free(sql);
    pb_pol_free(audit);
    pb_pol_free(broken);

    /* union of two policies; a deny in either shrinks the role */
    pb_pol *a = fx_policy(m, "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"columns\":[\"id\"]}]}",
                          &rc, &e);
    pb_pol *b = fx_policy(m,
                          "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\",\"delete\"],\"columns\":["
                          "\"name\",\"email\"]}],\"deny\":[{\"table\":\"customers\",\"columns\":[\"email\"],"
                          "\"operations\":[\"select\"]},{\"table\":\"*\",\"operations\":[\"delete\"]}]}",
                          &rc, &e);
    const pb_pol *ab[] = {a, b};
    assert_int_equal(pb_sqlgen_role(ab, 2, m, &tg, &sql, &e), 0);
    assert_non_null(strstr(sql, "GRANT SELECT (\"id\", \"name\") ON TABLE \"s\".\"customers\" TO \"r\";"));
    assert_null(strstr(sql, "GRANT DELETE"));
    assert_null(strstr(sql, "RESTRICTIVE")); /* no constraints */
    free(sql);
    pb_pol_free(a);
    pb_pol_free(b);

    /* a whole-select deny leaves no SELECT, not even for where clauses */
    a = fx_policy(m,
                  "{\"rules\":[{\"table\":\"invoices\",\"operations\":[\"select\",\"update\"],\"columns\":[\"id\","
                  "\"paid\"]}],\"deny\":[{\"table\":\"invoices\",\"operations\":[\"select\"]}]}",
                  &rc, &e);
    {
        const pb_pol *one = a;
        assert_int_equal(pb_sqlgen_role(&one, 1, m, &tg, &sql, &e), 0);
    }
    assert_null(strstr(sql, "GRANT SELECT"));
    assert_non_null(strstr(sql, "GRANT UPDATE (\"id\", \"paid\") ON TABLE \"s\".\"invoices\""));
    free(sql);

    /* a rule without constraints makes the command unconstrained */
    pb_pol *c = fx_policy(m,
                          "{\"rules\":[{\"table\":\"invoices\",\"operations\":[\"select\"],\"rowConstraints\":[{"
                          "\"column\":\"paid\",\"op\":\"eq\",\"value\":true}]},{\"table\":\"invoices\",\"operations\":"
                          "[\"select\"]}]}",
                          &rc, &e);
    const pb_pol *onec = c;
    assert_int_equal(pb_sqlgen_role(&onec, 1, m, &tg, &sql, &e), 0);
    assert_null(strstr(sql, "RESTRICTIVE"));
    free(sql);
    pb_pol_free(c);

    /* two rules, two constraint sets: their OR */
    c = fx_policy(m,
                  "{\"rules\":[{\"table\":\"invoices\",\"operations\":[\"select\"],\"rowConstraints\":[{"
                  "\"column\":\"paid\",\"op\":\"eq\",\"value\":true}]},{\"table\":\"invoices\",\"operations\":"
                  "[\"select\"],\"rowConstraints\":[{\"column\":\"amount\",\"op\":\"gt\",\"value\":100},{\"column\":"
                  "\"paid\",\"op\":\"eq\",\"value\":true}]}]}",
                  &rc, &e);
    onec = c;
    assert_int_equal(pb_sqlgen_role(&onec, 1, m, &tg, &sql, &e), 0);
    assert_non_null(strstr(sql, "AS RESTRICTIVE FOR SELECT TO \"r\" USING (((\"paid\" = true)) OR ((\"amount\" > "
                                "'100'::numeric) AND (\"paid\" = true)));"));
    free(sql);
    pb_pol_free(c);

    /* refusals: another model, empty names, NULL entries */
    pb_dm_model *other = NULL;
    char *t = strdup(FX_MODEL);
    strstr(t, "\"version\":3")[10] = '4';
    assert_int_equal(pb_dm_parse("crm", t, &other, &e), 0);
    free(t);
    const pb_pol *onea = a;
    assert_int_equal(pb_sqlgen_role(&onea, 1, other, &tg, &sql, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "was compiled against DataModel crm version 3, not crm version 4"));
    assert_null(sql);
    pb_sqlgen_target bad = {PB_DM_LAYOUT_SCHEMA, "", "r"};
    assert_int_equal(pb_sqlgen_role(&onea, 1, m, &bad, &sql, &e), PB_EINVAL);
    bad.schema = "s";
    bad.role = NULL;
    assert_int_equal(pb_sqlgen_role(&onea, 1, m, &bad, &sql, &e), PB_EINVAL);
    bad.role = "r\xff";
    assert_int_equal(pb_sqlgen_role(&onea, 1, m, &bad, &sql, &e), PB_EINVAL);
    const pb_pol *nul = NULL;
    assert_int_equal(pb_sqlgen_role(&nul, 1, m, &tg, &sql, &e), PB_EINVAL);
    pb_dm_free(other);
    pb_pol_free(a);
    pb_dm_free(m);
}

static void test_quoting(void **state)
{
    pb_buf b = {0};
    pb_err e;
    assert_int_equal(pb_sqlgen_ident(&b, "a\"b c;--", &e), 0);
    assert_string_equal(pb_buf_str(&b), "\"a\"\"b c;--\"");
    pb_buf_truncate(&b, 0);
    assert_int_equal(pb_sqlgen_literal(&b, "it's", &e), 0);
    assert_string_equal(pb_buf_str(&b), "'it''s'");
    pb_buf_truncate(&b, 0);
    assert_int_equal(pb_sqlgen_literal(&b, "a\\'b", &e), 0);
    assert_string_equal(pb_buf_str(&b), " E'a\\\\''b'");
    pb_buf_truncate(&b, 0);
    assert_int_equal(pb_sqlgen_literal(&b, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", &e), 0);
    static const char *const bad[] = {"\xff", "\xc3", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "a\xe2\x82"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t before = b.len;
        assert_int_equal(pb_sqlgen_literal(&b, bad[i], &e), PB_EINVAL);
        assert_int_equal(pb_sqlgen_ident(&b, bad[i], &e), PB_EINVAL);
        assert_int_equal(b.len, before);
    }
    pb_buf_free(&b);

    /* odd schema and role names end up quoted everywhere */
    pb_dm_model *m = fx_model();
    int rc;
    pb_pol *p = fx_policy(m, "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"columns\":[\"id\"],"
                             "\"rowConstraints\":[{\"column\":\"name\",\"op\":\"eq\",\"value\":\"x'); DROP TABLE "
                             "customers; --\"}]}]}",
                          &rc, &e);
    pb_sqlgen_target tg = {PB_DM_LAYOUT_SCHEMA, "we\"ird schema", "agent\"; DROP ROLE x; --"};
    const pb_pol *one = p;
    char *sql;
    assert_int_equal(pb_sqlgen_role(&one, 1, m, &tg, &sql, &e), 0);
    assert_non_null(strstr(sql, "GRANT USAGE ON SCHEMA \"we\"\"ird schema\" TO \"agent\"\"; DROP ROLE x; --\";"));
    assert_non_null(strstr(sql, "USING (((\"name\" = 'x''); DROP TABLE customers; --')));"));
    free(sql);
    pb_pol_free(p);
    pb_dm_free(m);
}

static void test_pred_render(void **state)
{
    pb_dm_model *m = fx_model();
    pb_err e;
    int rc;
    pb_steps *w = fx_steps(m,
                           "[{\"name\":\"s\",\"operation\":\"select\",\"table\":\"customers\",\"where\":["
                           "{\"column\":\"id\",\"op\":\"eq\",\"value\":\"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11\"},"
                           "{\"column\":\"name\",\"op\":\"like\",\"value\":\"a\\\\_%\"},"
                           "{\"column\":\"segment\",\"op\":\"notIn\",\"value\":[\"smb\",\"enterprise\"]},"
                           "{\"column\":\"created_at\",\"op\":\"ge\",\"value\":\"2026-01-31T12:00:00+02:00\"},"
                           "{\"column\":\"score\",\"op\":\"lt\",\"value\":-5},"
                           "{\"column\":\"big\",\"op\":\"in\",\"value\":[1,9223372036854775807]},"
                           "{\"column\":\"active\",\"op\":\"ne\",\"value\":false},"
                           "{\"column\":\"meta\",\"op\":\"eq\",\"value\":{\"b\":1,\"a\":\"it's\"}},"
                           "{\"column\":\"born\",\"op\":\"isNull\"},"
                           "{\"column\":\"email\",\"op\":\"notNull\"}]},"
                           "{\"name\":\"t\",\"operation\":\"update\",\"table\":\"invoices\",\"values\":{\"paid\":true},"
                           "\"where\":[{\"column\":\"id\",\"op\":\"in\",\"fromStep\":\"s\",\"field\":\"id\"},"
                           "{\"column\":\"amount\",\"op\":\"gt\",\"value\":\"0099.50\"}]}]",
                           &rc, &e);
    assert_int_equal(rc, 0);
    static const char *const inl[] = {
        "(\"c\".\"id\" = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid)",
        "(\"c\".\"name\" LIKE  E'a\\\\_%')",
        "(\"c\".\"segment\" NOT IN ('smb', 'enterprise'))",
        "(\"c\".\"created_at\" >= '2026-01-31T10:00:00.000000Z'::timestamptz)",
        "(\"c\".\"score\" < -5)",
        "(\"c\".\"big\" IN (1, 9223372036854775807))",
        "(\"c\".\"active\" <> false)",
        "(\"c\".\"meta\" = '{\"a\":\"it''s\",\"b\":1}'::jsonb)",
        "(\"c\".\"born\" IS NULL)",
        "(\"c\".\"email\" IS NOT NULL)",
    };
    static const char *const par[] = {
        "(\"id\" = $1::uuid)",          "(\"name\" LIKE $2::text)",         "(\"segment\" NOT IN ($3::text, $4::text))",
        "(\"created_at\" >= $5::timestamptz)", "(\"score\" < $6::integer)", "(\"big\" IN ($7::bigint, $8::bigint))",
        "(\"active\" <> $9::boolean)",  "(\"meta\" = $10::jsonb)",           "(\"born\" IS NULL)",
        "(\"email\" IS NOT NULL)",
    };
    const pb_step *s = pb_step_at(w, 0);
    pb_sqlgen_params ps = {0};
    for (size_t i = 0; i < pb_step_where_count(s); i++) {
        pb_buf b = {0};
        assert_int_equal(pb_sqlgen_pred(&b, m, 0, "c", pb_step_where(s, i), NULL, &e), 0);
        assert_string_equal(pb_buf_str(&b), inl[i]);
        pb_buf_truncate(&b, 0);
        assert_int_equal(pb_sqlgen_pred(&b, m, 0, NULL, pb_step_where(s, i), &ps, &e), 0);
        assert_string_equal(pb_buf_str(&b), par[i]);
        pb_buf_free(&b);
    }
    assert_int_equal(ps.n, 10);
    assert_string_equal(ps.values[0], "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    assert_string_equal(ps.values[5], "-5");
    assert_string_equal(ps.values[8], "false");
    assert_string_equal(ps.values[9], "{\"a\":\"it's\",\"b\":1}");
    pb_sqlgen_params_free(&ps);
    /* fromStep is the executor's; a predicate of another table is refused */
    const pb_step *u = pb_step_at(w, 1);
    pb_buf b = {0};
    assert_int_equal(pb_sqlgen_pred(&b, m, 1, NULL, pb_step_where(u, 0), NULL, &e), PB_EINVAL);
    assert_int_equal(pb_sqlgen_pred(&b, m, 1, NULL, pb_step_where(u, 1), NULL, &e), 0);
    assert_string_equal(pb_buf_str(&b), "(\"amount\" > '99.5'::numeric)");
    pb_buf_free(&b);
    assert_int_equal(pb_sqlgen_pred(&b, m, 5, NULL, pb_step_where(u, 1), NULL, &e), PB_EINVAL);
    pb_buf_free(&b);
    pb_step_free(w);
    pb_dm_free(m);
}

/* ---- against PostgreSQL ------------------------------------------------------------ */

static PGconn *connect_as(const char *user, const char *password)
{
    char port[16];
    snprintf(port, sizeof port, "%d", srv.port);
    const char *keys[] = {"host", "port", "dbname", "user", "password", "sslmode", NULL};
    const char *vals[] = {"127.0.0.1", port, "postgres", user, password, "disable", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 0);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect as %s: %s", user, PQerrorMessage(c));
    return c;
}

static void exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s\n-> %s", sql, PQerrorMessage(c));
    PQclear(r);
}

/* Run sql; return its SQLSTATE ("" on success) in st. */
static void exec_state(PGconn *c, const char *sql, char st[6])
{
    PGresult *r = PQexec(c, sql);
    const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    snprintf(st, 6, "%s", (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK) ? "" : s ? s : "?????");
    PQclear(r);
}

static char *scalar(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s\n-> %s", sql, PQerrorMessage(c));
    char *s = strdup(PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return s;
}

static void expect_scalar(PGconn *c, const char *sql, const char *want)
{
    char *got = scalar(c, sql);
    if (strcmp(got, want))
        fail_msg("%s: got %s, want %s", sql, got, want);
    free(got);
}

static void expect_state(PGconn *c, const char *sql, const char *want)
{
    char st[6];
    exec_state(c, sql, st);
    if (strcmp(st, want))
        fail_msg("%s: SQLSTATE \"%s\", want \"%s\" (%s)", sql, st, want, PQerrorMessage(c));
}

static int setup(void **state) { return pgtest_start(&srv); }
static int teardown(void **state)
{
    pgtest_stop(&srv);
    return 0;
}

static void apply_role_sql(PGconn *admin, const pb_dm_model *m, const char *spec, pb_dm_layout layout,
                           const char *schema, const char *role)
{
    pb_err e;
    int rc;
    pb_pol *p = fx_policy(m, spec, &rc, &e);
    assert_int_equal(rc, 0);
    pb_sqlgen_target tg = {layout, schema, role};
    const pb_pol *one = p;
    char *sql;
    assert_int_equal(pb_sqlgen_role(&one, 1, m, &tg, &sql, &e), 0);
    exec_ok(admin, "BEGIN");
    exec_ok(admin, sql);
    exec_ok(admin, "COMMIT");
    free(sql);
    pb_pol_free(p);
}

/* The rows every layout test starts from: two in the allowed segments. */
#define SEED_ROWS(tbl, extra_cols, extra_vals)                                                                     \
    "INSERT INTO " tbl " (" extra_cols "id, email, name, segment, score) VALUES "                                 \
    "(" extra_vals "'00000000-0000-0000-0000-000000000001', 'a@x', 'ann', 'smb', 1),"                              \
    "(" extra_vals "'00000000-0000-0000-0000-000000000002', 'b@x', 'bob', 'midmarket', 2),"                        \
    "(" extra_vals "'00000000-0000-0000-0000-000000000003', 'c@x', 'cyd', 'enterprise', 3),"                       \
    "(" extra_vals "'00000000-0000-0000-0000-000000000004', 'd@x', 'x''); DROP TABLE customers; --', 'smb', 4)"

static const char *PG_POLICY =
    "{\"rules\":["
    "{\"table\":\"customers\",\"operations\":[\"select\",\"update\"],\"readableColumns\":[\"id\",\"name\",\"segment\"],"
    "\"writableColumns\":[\"name\",\"segment\"],"
    "\"rowConstraints\":[{\"column\":\"segment\",\"op\":\"in\",\"value\":[\"smb\",\"midmarket\"]}]},"
    "{\"table\":\"invoices\",\"operations\":[\"select\",\"insert\"],\"readableColumns\":[\"id\",\"amount\"],"
    "\"writableColumns\":[\"customer_id\",\"amount\"],"
    "\"rowConstraints\":[{\"column\":\"amount\",\"op\":\"le\",\"value\":\"1000.00\"}]}]}";

static void check_agent(PGconn *ag, const char *s, const char *permissive)
{
    char q[512];
    /* a hidden column: refused by the grants */
    snprintf(q, sizeof q, "SELECT email FROM %s.customers", s);
    expect_state(ag, q, "42501");
    snprintf(q, sizeof q, "SELECT * FROM %s.customers", s);
    expect_state(ag, q, "42501");
    snprintf(q, sizeof q, "SELECT count(*) FROM %s.customers WHERE email LIKE '%%'", s);
    expect_state(ag, q, "42501");
    /* rows outside the constraint: invisible */
    snprintf(q, sizeof q, "SELECT string_agg(name, ',' ORDER BY id) FROM %s.customers", s);
    expect_scalar(ag, q, "ann,bob,x'); DROP TABLE customers; --");
    /* updates: only visible rows, and never out of the constraint */
    snprintf(q, sizeof q, "UPDATE %s.customers SET name = 'z' WHERE segment = 'enterprise'", s);
    exec_ok(ag, q);
    snprintf(q, sizeof q, "UPDATE %s.customers SET segment = 'enterprise' WHERE name = 'ann'", s);
    expect_state(ag, q, "42501"); /* new row violates row-level security policy */
    snprintf(q, sizeof q, "UPDATE %s.customers SET segment = 'midmarket' WHERE name = 'ann'", s);
    exec_ok(ag, q);
    snprintf(q, sizeof q, "UPDATE %s.customers SET score = 9", s);
    expect_state(ag, q, "42501"); /* score is not writable */
    /* no delete rule: no delete */
    snprintf(q, sizeof q, "DELETE FROM %s.customers WHERE name = 'ann'", s);
    expect_state(ag, q, "42501");
    snprintf(q, sizeof q, "INSERT INTO %s.customers (email) VALUES ('e')", s);
    expect_state(ag, q, "42501");
    /* inserts: within the constraint only, writable columns only */
    snprintf(q, sizeof q,
             "INSERT INTO %s.invoices (customer_id, amount) VALUES ('00000000-0000-0000-0000-000000000001', 10)", s);
    exec_ok(ag, q);
    snprintf(q, sizeof q,
             "INSERT INTO %s.invoices (customer_id, amount) VALUES ('00000000-0000-0000-0000-000000000001', 1000.01)", s);
    expect_state(ag, q, "42501");
    snprintf(q, sizeof q,
             "INSERT INTO %s.invoices (customer_id, amount, paid) VALUES ('00000000-0000-0000-0000-000000000001', 1, "
             "true)",
             s);
    expect_state(ag, q, "42501");
    snprintf(q, sizeof q, "UPDATE %s.invoices SET amount = 1", s);
    expect_state(ag, q, "42501");
    /* the agent cannot undo any of this */
    snprintf(q, sizeof q, "ALTER TABLE %s.customers DISABLE ROW LEVEL SECURITY", s);
    expect_state(ag, q, "42501");
    snprintf(q, sizeof q, "DROP POLICY \"%s\" ON %s.customers", permissive, s);
    expect_state(ag, q, "42501");
}

static void test_pg_schema_layout(void **state)
{
    pb_dm_model *m = fx_model();
    pb_err e;
    PGconn *admin = PQconnectdb(srv.conninfo);
    assert_int_equal(PQstatus(admin), CONNECTION_OK);
    exec_ok(admin, "SET client_min_messages = warning");
    exec_ok(admin, "CREATE SCHEMA t_acme");
    pb_dm_target tgt = {PB_DM_LAYOUT_SCHEMA, "t_acme"};
    char *ddl;
    assert_int_equal(pb_dm_render(NULL, m, &tgt, 0, &ddl, &e), 0);
    exec_ok(admin, ddl);
    free(ddl);
    exec_ok(admin, SEED_ROWS("t_acme.customers", "", ""));
    exec_ok(admin, "CREATE ROLE agent LOGIN PASSWORD 'agent-pw'");
    exec_ok(admin, "CREATE ROLE tenant LOGIN PASSWORD 'tenant-pw'");
    exec_ok(admin, "GRANT USAGE ON SCHEMA t_acme TO tenant");
    exec_ok(admin, "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA t_acme TO tenant");
    apply_role_sql(admin, m, PG_POLICY, PB_DM_LAYOUT_SCHEMA, "t_acme", "agent");
    /* idempotent: applying it again changes nothing and does not fail */
    apply_role_sql(admin, m, PG_POLICY, PB_DM_LAYOUT_SCHEMA, "t_acme", "agent");

    PGconn *ag = connect_as("agent", "agent-pw");
    check_agent(ag, "t_acme", "pb_agent_base");
    /* the tenant's own role still sees every row (the base policy) */
    PGconn *tn = connect_as("tenant", "tenant-pw");
    expect_scalar(tn, "SELECT count(*) FROM t_acme.customers", "4");
    expect_scalar(tn, "SELECT count(*) FROM t_acme.customers WHERE email = 'c@x'", "1");
    PQfinish(tn);

    /* narrowing the policy takes back what it gave: name no longer readable,
     * no more inserts */
    apply_role_sql(admin, m,
                   "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"columns\":[\"id\"],"
                   "\"rowConstraints\":[{\"column\":\"segment\",\"op\":\"eq\",\"value\":\"smb\"}]}]}",
                   PB_DM_LAYOUT_SCHEMA, "t_acme", "agent");
    expect_state(ag, "SELECT name FROM t_acme.customers", "42501");
    expect_scalar(ag, "SELECT count(*) FROM t_acme.customers", "1"); /* ann moved to midmarket above */
    expect_state(ag, "INSERT INTO t_acme.invoices (customer_id, amount) VALUES "
                     "('00000000-0000-0000-0000-000000000001', 1)",
                 "42501");
    expect_state(ag, "SELECT id FROM t_acme.invoices", "42501");
    /* a policy with nothing for the agent: nothing at all */
    apply_role_sql(admin, m, "{\"rules\":[{\"table\":\"invoices\",\"operations\":[\"select\"],\"columns\":[\"id\"]}],"
                             "\"enforcement\":\"Audit\"}",
                   PB_DM_LAYOUT_SCHEMA, "t_acme", "agent");
    expect_state(ag, "SELECT id FROM t_acme.customers", "42501");
    expect_state(ag, "SELECT id FROM t_acme.invoices", "42501");
    expect_scalar(admin, "SELECT count(*) FROM t_acme.customers", "4"); /* the injection row is only data */
    PQfinish(ag);
    PQfinish(admin);
    pb_dm_free(m);
}

static void test_pg_rls_layout(void **state)
{
    pb_dm_model *m = fx_model();
    pb_err e;
    PGconn *admin = PQconnectdb(srv.conninfo);
    assert_int_equal(PQstatus(admin), CONNECTION_OK);
    exec_ok(admin, "SET client_min_messages = warning");
    /* A stand-in for tenantdb's tenant function: the session's login
     * decides the tenant. */
    exec_ok(admin, "CREATE SCHEMA paybill");
    exec_ok(admin, "CREATE FUNCTION paybill.current_tenant_id() RETURNS text LANGUAGE sql STABLE AS "
                   "$$ SELECT CASE WHEN session_user = 'agent_rls' THEN 'acme' ELSE 'other' END $$");
    exec_ok(admin, "CREATE SCHEMA app");
    pb_dm_target tgt = {PB_DM_LAYOUT_RLS, "app"};
    char *ddl;
    assert_int_equal(pb_dm_render(NULL, m, &tgt, 0, &ddl, &e), 0);
    exec_ok(admin, ddl);
    free(ddl);
    /* the superuser (who bypasses row security) seeds both tenants */
    exec_ok(admin, SEED_ROWS("app.customers", "tenant_id, ", "'acme', "));
    exec_ok(admin, "INSERT INTO app.customers (tenant_id, id, email, name, segment) VALUES "
                   "('other', '00000000-0000-0000-0000-000000000009', 'o@x', 'oscar', 'smb')");
    exec_ok(admin, "CREATE ROLE agent_rls LOGIN PASSWORD 'agent-pw'");
    exec_ok(admin, "GRANT USAGE ON SCHEMA paybill TO agent_rls");
    apply_role_sql(admin, m, PG_POLICY, PB_DM_LAYOUT_RLS, "app", "agent_rls");
    PGconn *ag = connect_as("agent_rls", "agent-pw");
    check_agent(ag, "app", "tenant_isolation");
    /* tenant isolation still holds: the other tenant's smb row is not seen */
    expect_scalar(ag, "SELECT count(*) FROM app.customers WHERE name = 'oscar'", "0");
    expect_state(ag, "INSERT INTO app.invoices (tenant_id, customer_id, amount) VALUES "
                     "('other', '00000000-0000-0000-0000-000000000009', 1)",
                 "42501");
    PQfinish(ag);
    PQfinish(admin);
    pb_dm_free(m);
}

/* Quoting equals libpq's, on random strings (valid UTF-8, with quotes and
 * backslashes often). */
static void test_pg_quoting_matches_libpq(void **state)
{
    PGconn *c = PQconnectdb(srv.conninfo);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    uint64_t x = 12345;
    static const char *const parts[] = {"'", "\"", "\\", "a", "Z", " ", ";", "--", "\xc3\xa9", "\xe2\x82\xac",
                                        "\xf0\x9f\x98\x80", "$$", "E'", "\n", "%", "_"};
    for (int it = 0; it < 3000; it++) {
        char s[256];
        size_t o = 0;
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        int n = (int)((x >> 33) % 20);
        for (int i = 0; i < n; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            const char *p = parts[(x >> 33) % (sizeof parts / sizeof parts[0])];
            size_t l = strlen(p);
            memcpy(s + o, p, l);
            o += l;
        }
        s[o] = '\0';
        char *li = PQescapeLiteral(c, s, o), *id = PQescapeIdentifier(c, s, o);
        pb_buf b = {0};
        pb_err e;
        assert_int_equal(pb_sqlgen_literal(&b, s, &e), 0);
        if (strcmp(pb_buf_str(&b), li))
            fail_msg("literal of [%s]: ours [%s], libpq [%s]", s, pb_buf_str(&b), li);
        pb_buf_truncate(&b, 0);
        assert_int_equal(pb_sqlgen_ident(&b, s, &e), 0);
        if (strcmp(pb_buf_str(&b), id))
            fail_msg("identifier of [%s]: ours [%s], libpq [%s]", s, pb_buf_str(&b), id);
        /* and the server reads the literal back as the same string */
        pb_buf q = {0};
        pb_buf_puts(&q, "SELECT ");
        pb_sqlgen_literal(&q, s, &e);
        char *back = scalar(c, pb_buf_str(&q));
        assert_string_equal(back, s);
        free(back);
        pb_buf_free(&q);
        pb_buf_free(&b);
        PQfreemem(li);
        PQfreemem(id);
    }
    PQfinish(c);
}

/* pb_pred_eval (what decide.c uses on written values) agrees with
 * PostgreSQL evaluating pb_sqlgen_pred on the same values, inline and as
 * parameters. */
static void test_pg_eval_matches_sql(void **state)
{
    pb_dm_model *m = fx_model();
    PGconn *c = PQconnectdb(srv.conninfo);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    exec_ok(c, "SET TimeZone = 'UTC'");
    exec_ok(c, "CREATE TEMP TABLE v (id uuid, email text, name text, segment text, created_at timestamptz, "
               "score integer, big bigint, active boolean, meta jsonb, born date)");
    /* value pools per column (JSON), chosen to collide */
    static const char *const pools[10][5] = {
        {"\"00000000-0000-0000-0000-00000000000a\"", "\"00000000-0000-0000-0000-00000000000A\"",
         "\"00000000-0000-0000-0000-00000000000b\"", NULL},
        {"\"a\"", "\"b\"", "\"\"", NULL},
        {"\"ann\"", "\"\xc3\xa9t\xc3\xa9\"", "\"a_%\"", "\"it's\"", NULL},
        {"\"smb\"", "\"midmarket\"", "\"enterprise\"", NULL},
        {"\"2026-01-31T10:00:00Z\"", "\"2026-01-31T12:00:00+02:00\"", "\"2026-01-31T10:00:00.000001Z\"",
         "\"1999-12-31T23:59:59.999999-01:00\"", NULL},
        {"1", "-1", "0", "2147483647", NULL},
        {"10", "-9223372036854775808", "9223372036854775807", NULL},
        {"true", "false", NULL},
        {"{\"a\":1}", "[1,2]", "{\"a\":[1,{\"b\":null}]}", "\"s\"", NULL},
        {"\"2000-01-01\"", "\"2000-02-29\"", "\"1999-12-31\"", NULL},
    };
    static const char *const like_pats[] = {"a%", "%", "_", "_t_", "\xc3\xa9%", "a\\_\\%", "%'%", "%s", "it''s"};
    uint64_t x = 777;
#define R(n) ((int)(((x = x * 6364136223846793005ULL + 1442695040888963407ULL) >> 33) % (uint64_t)(n)))
    int checked = 0;
    for (int it = 0; it < 300; it++) {
        /* one row: each column a pool value or NULL */
        pb_pred_value row[10];
        char *texts[10];
        json_t *js[10];
        for (int col = 0; col < 10; col++) {
            int np = 0;
            while (pools[col][np])
                np++;
            js[col] = R(6) == 0 ? json_null() : json_loads(pools[col][R(np)], JSON_DECODE_ANY, NULL);
            pb_err e;
            /* as a value of a nullable version of the column: parse as
             * non-null, or mark null */
            if (json_is_null(js[col])) {
                memset(&row[col], 0, sizeof row[col]);
                row[col].is_null = 1;
            } else {
                assert_int_equal(pb_pred_value_parse(js[col], m, 0, (size_t)col, "v", 0, 0, &row[col], &e), 0);
            }
            texts[col] = row[col].is_null                         ? NULL
                         : col == 8 || !json_is_string(js[col]) ? json_dumps(js[col], JSON_ENCODE_ANY)
                                                                : strdup(json_string_value(js[col]));
        }
        exec_ok(c, "TRUNCATE v");
        PGresult *r = PQexecParams(c, "INSERT INTO v VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)", 10, NULL,
                                   (const char *const *)texts, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            fail_msg("insert: %s", PQerrorMessage(c));
        PQclear(r);
        /* predicates on random columns */
        for (int k = 0; k < 20; k++) {
            int col = R(10);
            pb_dm_type ty = pb_dm_column_type(m, 0, (size_t)col);
            pb_pred_op op;
            do
                op = (pb_pred_op)R(11);
            while (!pb_pred_op_fits(op, ty));
            json_t *pj = json_pack("{s:s,s:s}", "column", pb_dm_column_name(m, 0, (size_t)col), "op",
                                   pb_pred_op_name(op));
            int np = 0;
            while (pools[col][np])
                np++;
            if (op == PB_PRED_IN || op == PB_PRED_NOT_IN) {
                json_t *a = json_array();
                int n = 1 + R(3);
                for (int i = 0; i < n; i++)
                    json_array_append_new(a, json_loads(pools[col][R(np)], JSON_DECODE_ANY, NULL));
                json_object_set_new(pj, "value", a);
            } else if (op == PB_PRED_LIKE) {
                json_object_set_new(pj, "value", json_string(like_pats[R(9)]));
            } else if (op != PB_PRED_IS_NULL && op != PB_PRED_NOT_NULL) {
                json_object_set_new(pj, "value", json_loads(pools[col][R(np)], JSON_DECODE_ANY, NULL));
            }
            pb_pred p;
            pb_err e;
            if (pb_pred_parse(pj, m, 0, "p", 0, &p, NULL, NULL, &e) != 0)
                fail_msg("pred: %s", e.msg);
            int mine = pb_pred_eval(&p, &row[col]);
            for (int mode = 0; mode < 2; mode++) {
                pb_buf b = {0};
                pb_sqlgen_params ps = {0};
                pb_buf_puts(&b, "SELECT coalesce(");
                assert_int_equal(pb_sqlgen_pred(&b, m, 0, NULL, &p, mode ? &ps : NULL, &e), 0);
                pb_buf_puts(&b, ", false) FROM v");
                r = PQexecParams(c, pb_buf_str(&b), (int)ps.n, NULL, (const char *const *)ps.values, NULL, NULL, 0);
                if (PQresultStatus(r) != PGRES_TUPLES_OK)
                    fail_msg("%s: %s", pb_buf_str(&b), PQerrorMessage(c));
                int theirs = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
                if (mine != theirs) {
                    char *pv = json_dumps(pj, JSON_COMPACT);
                    fail_msg("C says %d, PostgreSQL %d: %s with %s = %s", mine, theirs, pb_buf_str(&b),
                             pb_dm_column_name(m, 0, (size_t)col), texts[col] ? texts[col] : "NULL");
                    free(pv);
                }
                PQclear(r);
                pb_buf_free(&b);
                pb_sqlgen_params_free(&ps);
                checked++;
            }
            pb_pred_clear(&p);
            json_decref(pj);
        }
        for (int col = 0; col < 10; col++) {
            pb_pred_value_clear(&row[col]);
            free(texts[col]);
            json_decref(js[col]);
        }
    }
#undef R
    printf("predicate evaluations compared with PostgreSQL: %d\n", checked);
    PQfinish(c);
    pb_dm_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_and_deterministic),
        cmocka_unit_test(test_what_contributes),
        cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_pred_render),
        cmocka_unit_test(test_pg_quoting_matches_libpq),
        cmocka_unit_test(test_pg_schema_layout),
        cmocka_unit_test(test_pg_rls_layout),
        cmocka_unit_test(test_pg_eval_matches_sql),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
