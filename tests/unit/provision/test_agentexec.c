/* Unit tests for provision/agentexec (the Workflow executor's database
 * side) against a real, throwaway PostgreSQL server (pgtest.h), in each of
 * the three layouts. Tenants come from pb_tdb_ensure, their agent logins
 * from pb_tdb_agent_ensure with grants rendered by pb_sqlgen_role from a
 * compiled AgentPolicy (pb_tdb_agent_apply), and statements from
 * pb_stmt_build over steps parsed by pb_step_parse and decided by
 * pb_decide_step: the same path the controller takes.
 *
 * Proven per layout: select/update/insert/delete touch the right rows;
 * fromStep binding; over-cap changes nothing and says the count; a
 * committed step is refused and found by lookup; failures are recorded
 * once; dry run changes nothing and writes no ledger; another tenant's
 * rows are untouched; PostgreSQL refuses a hidden column even when the C
 * side would let it through; an approval is used once; neither the tenant
 * nor the agent can read or write the bookkeeping; statement timeouts;
 * bounded results (exact row count, same result from the ledger); an agent
 * role with BYPASSRLS is refused; usage counters; two operators racing on
 * one step run it once; a connection lost before commit leaves no ledger
 * entry and no effect; a suspended tenant runs nothing, and suspending
 * waits for a running step; the audit chain verifies and every kind of
 * tampering is found at the first broken seq; the bookkeeping dropped,
 * outdated or altered behind the executor's back never lets a step run
 * twice or without its ledger entry, and is made again; so are its
 * prepared statements when the session loses them.
 *
 * Needs paybill_agent too (CMakeLists.txt links it for this file). */
#include "testutil.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../agent/agent_fixture.h"
#include "agent/stmt.h"
#include "pgtest.h"
#include "pgquery.h"
#include "provision/agentexec.h"
#include "provision/tenantdb.h"
#include "util/log.h"

static pgtest_server srv;
static pb_tdb *tdb;
static pb_dm_model *model;
static pb_pol *pol;

static const char *POLICY =
    "{\"rules\":["
    "{\"name\":\"invoices-rw\",\"table\":\"invoices\",\"operations\":[\"select\",\"update\",\"insert\",\"delete\"],"
    "\"readableColumns\":[\"id\",\"customer_id\",\"amount\",\"paid\",\"due_on\"],"
    "\"writableColumns\":[\"customer_id\",\"amount\",\"paid\",\"due_on\"],\"maxRows\":5},"
    "{\"name\":\"customers-read\",\"table\":\"customers\",\"operations\":[\"select\"],"
    "\"readableColumns\":[\"id\",\"email\",\"segment\"],\"maxRows\":10}]}";

#define C1 "11111111-1111-1111-1111-111111111111"

/* One layout's pair of tenants. */
typedef struct lay lay;
struct lay {
    pb_dm_layout l;
    char a[48], b[48];       /* tenant ids */
    char role_a[64], role_b[64];
    char schema_a[64];       /* where a's tables are */
    char db_a[64], db_b[64]; /* data databases */
    pb_tdb_creds cr_a, cr_b, agent_a;
};

/* A workflow being run: its steps and the results of the steps run so far. */
typedef struct wf {
    pb_steps *w;
    char uid[128];
    pb_ax_result res[8];
    const char **vals; /* fromStep values handed to pb_stmt_build */
} wf;

/* ---- helpers ------------------------------------------------------------------ */

/* Workflow uids are unique across tenants (Kubernetes UIDs): "<tenant>/<name>"
 * here (rotating static buffers, enough for one statement). */
static const char *U(const lay *L, const char *name)
{
    static char bufs[4][128];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", L->a, name);
    return b;
}

static void fail_e(const char *what, const pb_err *e) { fail_msg("%s: %s", what, e->msg); }

static void setup_lay(lay *L, pb_dm_layout l, const char *tag)
{
    memset(L, 0, sizeof *L);
    L->l = l;
    snprintf(L->a, sizeof L->a, "ax_%s_a", tag);
    snprintf(L->b, sizeof L->b, "ax_%s_b", tag);
    pb_err e = {0};
    const char *ids[2] = {L->a, L->b};
    pb_tdb_creds *crs[2] = {&L->cr_a, &L->cr_b};
    for (int k = 0; k < 2; k++) {
        pb_tdb_tenant t = {.id = ids[k], .layout = l, .connection_limit = -1};
        if (pb_tdb_ensure(tdb, &t, model, crs[k], &e))
            fail_e("ensure", &e);
        pb_tdb_creds acr = {0};
        pb_tdb_agent_target tg;
        if (pb_tdb_agent_ensure(tdb, ids[k], NULL, &acr, &tg, &e))
            fail_e("agent ensure", &e);
        char *sql = NULL;
        const pb_pol *ps[1] = {pol};
        pb_sqlgen_target st = {tg.layout, tg.schema, tg.role};
        if (pb_sqlgen_role(ps, 1, model, &st, &sql, &e))
            fail_e("render", &e);
        if (pb_tdb_agent_apply(tdb, ids[k], &tg, model, sql, &e))
            fail_e("agent apply", &e);
        free(sql);
        snprintf(k ? L->role_b : L->role_a, 64, "%s", tg.role);
        if (k == 0)
            snprintf(L->schema_a, sizeof L->schema_a, "%s", tg.schema);
        snprintf(k ? L->db_b : L->db_a, 64, "%s", crs[k]->dbname);
        if (k == 0)
            L->agent_a = acr;
        else
            pb_tdb_creds_clear(&acr);
        /* Eight unpaid invoices of 10..80, due on the 1st..8th of January. */
        PGconn *c = pgq_tenant_connect_ok(crs[k]);
        pgq_must(c, "INSERT INTO customers (id, email, name) VALUES ('" C1 "', 'a@x', 'A')");
        for (int i = 1; i <= 8; i++) {
            char q[512];
            snprintf(q, sizeof q,
                     "INSERT INTO invoices (id, customer_id, amount, due_on, note) VALUES "
                     "('00000000-0000-0000-0000-00000000000%d', '" C1 "', %d, '2026-01-0%d', 'secret %d')",
                     i, i * 10, i, i);
            pgq_must(c, q);
        }
        PQfinish(c);
    }
}

static void clear_lay(lay *L)
{
    pb_tdb_creds_clear(&L->cr_a);
    pb_tdb_creds_clear(&L->cr_b);
    pb_tdb_creds_clear(&L->agent_a);
}

/* An integer from tenant k's (0: a, 1: b) own view of its data. */
static long long tenant_int(lay *L, int k, const char *sql)
{
    PGconn *c = pgq_tenant_connect_ok(k ? &L->cr_b : &L->cr_a);
    long long v = pgq_int(c, sql);
    PQfinish(c);
    return v;
}

static wf *wf_new(const lay *L, const char *name, const char *steps)
{
    wf *f = calloc(1, sizeof *f);
    pb_err e = {0};
    int rc = 0;
    f->w = fx_steps(model, steps, &rc, &e);
    if (!f->w || rc)
        fail_e("steps", &e);
    snprintf(f->uid, sizeof f->uid, "%s", U(L, name));
    return f;
}

static void wf_free(wf *f)
{
    for (size_t i = 0; i < 8; i++)
        pb_ax_result_clear(&f->res[i]);
    free(f->vals);
    pb_step_free(f->w);
    free(f);
}

static int refs(void *ud, size_t step, const char *field, const char *const **vals, size_t *n, pb_err *e)
{
    wf *f = ud;
    json_t *arr = step < 8 ? f->res[step].result : NULL;
    if (!arr || f->res[step].truncated)
        return pb_err_set(e, PB_ENOTFOUND, "step %zu has no (complete) result", step);
    free(f->vals);
    f->vals = calloc(json_array_size(arr) + 1, sizeof *f->vals);
    for (size_t i = 0; i < json_array_size(arr); i++)
        f->vals[i] = json_string_value(json_object_get(json_array_get(arr, i), field));
    *vals = f->vals;
    *n = json_array_size(arr);
    return 0;
}

/* The executor's step for step i of f (which the policy must allow). */
typedef struct built {
    pb_stmt st;
    pb_decision d;
    const char *cols[16];
    pb_ax_step s;
} built;

static void build(lay *L, wf *f, size_t i, built *b)
{
    memset(b, 0, sizeof *b);
    pb_err e = {0};
    pb_decide_step(pol, f->w, i, -1, &b->d);
    if (b->d.outcome != PB_DECIDE_ALLOW)
        fail_msg("step %zu not allowed: %s", i, b->d.message);
    if (pb_stmt_build(f->w, i, &b->d, L->schema_a, refs, f, &b->st, &e))
        fail_e("stmt build", &e);
    const pb_step *ps = pb_step_at(f->w, i);
    for (size_t j = 0; j < b->st.n_columns && j < 16; j++)
        b->cols[j] = pb_dm_column_name(model, (size_t)pb_step_table(ps), (size_t)b->st.columns[j]);
    b->s = (pb_ax_step){.workflow_uid = f->uid,
                        .workflow = "tenant-acme/wf",
                        .index = i,
                        .name = pb_step_name(ps),
                        .op = pb_step_op_name(pb_step_get_op(ps)),
                        .sql = b->st.sql,
                        .params = (const char *const *)b->st.params.values,
                        .n_params = b->st.params.n,
                        .returns_rows = b->st.returns_rows,
                        .cap = b->st.cap,
                        .fetch = b->st.fetch,
                        .fetch_is_probe = b->st.fetch_is_probe,
                        .columns = b->cols,
                        .n_columns = b->st.n_columns,
                        .timeout_ms = 5000,
                        .policy = "tenant-acme/p",
                        .rule = b->d.rule_name,
                        .submitter = "alice",
                        .spec_hash = "sha256:abc"};
}

/* begin + exec + commit + end; returns the first failure's code. */
static int run(lay *L, const pb_ax_step *s, int dry, pb_ax_result *r, pb_err *e)
{
    pb_ax_tx *tx = NULL;
    int rc = pb_ax_begin(tdb, L->a, L->role_a, dry, &tx, e);
    if (rc == 0)
        rc = pb_ax_exec(tx, s, r, e);
    if (rc == 0)
        rc = pb_ax_commit(tx, e);
    pb_ax_end(tx);
    return rc;
}

static void run_ok(lay *L, wf *f, size_t i)
{
    built b;
    build(L, f, i, &b);
    pb_err e = {0};
    pb_ax_result_clear(&f->res[i]);
    if (run(L, &b.s, 0, &f->res[i], &e))
        fail_e("run", &e);
    pb_stmt_clear(&b.st);
}

/* Look a step up in a transaction of its own. */
static int lookup(lay *L, const char *uid, size_t i, pb_ax_result *r)
{
    pb_ax_tx *tx = NULL;
    pb_err e = {0};
    int rc = pb_ax_begin(tdb, L->a, L->role_a, 0, &tx, &e);
    if (rc)
        fail_e("begin", &e);
    rc = pb_ax_lookup(tx, uid, i, r, &e);
    pb_ax_end(tx);
    return rc;
}

static void expect_rc(int rc, int want, const pb_err *e, const char *must_say)
{
    if (rc != want || (must_say && !strstr(e->msg, must_say)))
        fail_msg("code %d (want %d), message without \"%s\": %s", rc, want, must_say ? must_say : "", e->msg);
}

/* ---- the steps, the ledger and the rows --------------------------------------------- */

static const char *MAIN_STEPS =
    "[{\"name\":\"find\",\"operation\":\"select\",\"table\":\"invoices\",\"columns\":[\"id\",\"amount\"],"
    "\"where\":[{\"column\":\"paid\",\"op\":\"eq\",\"value\":false},{\"column\":\"due_on\",\"op\":\"le\",\"value\":\"2026-01-03\"}],"
    "\"orderBy\":[{\"column\":\"id\"}],\"limit\":5},"
    "{\"name\":\"pay\",\"operation\":\"update\",\"table\":\"invoices\",\"values\":{\"paid\":true},"
    "\"where\":[{\"column\":\"id\",\"op\":\"in\",\"fromStep\":\"find\",\"field\":\"id\"}]},"
    "{\"name\":\"add\",\"operation\":\"insert\",\"table\":\"invoices\",\"rows\":["
    "{\"customer_id\":\"" C1 "\",\"amount\":\"999.00\"},{\"customer_id\":\"" C1 "\",\"amount\":\"999.00\"}]},"
    "{\"name\":\"drop\",\"operation\":\"delete\",\"table\":\"invoices\","
    "\"where\":[{\"column\":\"amount\",\"op\":\"eq\",\"value\":\"999.00\"}]}]";

static void check_steps(lay *L)
{
    wf *f = wf_new(L, "wf-main", MAIN_STEPS);
    run_ok(L, f, 0);
    pb_ax_result *r = &f->res[0];
    assert_int_equal(r->rows, 3);
    assert_string_equal(r->state, "committed");
    assert_int_equal(json_array_size(r->result), 3);
    assert_false(r->truncated);
    assert_string_equal(json_string_value(json_object_get(json_array_get(r->result, 0), "id")),
                        "00000000-0000-0000-0000-000000000001");
    assert_string_equal(json_string_value(json_object_get(json_array_get(r->result, 2), "amount")), "30.00");
    assert_int_equal(strlen(r->digest), 64);
    assert_true(r->audit_seq > 0);
    assert_true(r->at[0] != '\0');

    /* Looked up later: the same entry, the same result. */
    pb_ax_result got = {0};
    assert_int_equal(lookup(L, U(L, "wf-main"), 0, &got), 0);
    assert_true(got.already);
    assert_int_equal(got.rows, 3);
    assert_true(json_equal(got.result, r->result));
    assert_string_equal(got.digest, r->digest);
    assert_int_equal(got.audit_seq, r->audit_seq);
    pb_ax_result_clear(&got);

    /* fromStep: pays exactly the three found. */
    run_ok(L, f, 1);
    assert_int_equal(f->res[1].rows, 3);
    assert_null(f->res[1].result);
    assert_int_equal(tenant_int(L, 0, "SELECT count(*) FROM invoices WHERE paid"), 3);
    assert_int_equal(tenant_int(L, 0, "SELECT count(*) FROM invoices WHERE paid AND due_on <= '2026-01-03'"), 3);
    /* The other tenant's identical rows are untouched. */
    assert_int_equal(tenant_int(L, 1, "SELECT count(*) FROM invoices WHERE paid"), 0);

    run_ok(L, f, 2);
    assert_int_equal(f->res[2].rows, 2);
    assert_int_equal(tenant_int(L, 0, "SELECT count(*) FROM invoices WHERE amount = 999"), 2);
    run_ok(L, f, 3);
    assert_int_equal(f->res[3].rows, 2);
    assert_int_equal(tenant_int(L, 0, "SELECT count(*) FROM invoices"), 8);
    assert_int_equal(tenant_int(L, 1, "SELECT count(*) FROM invoices"), 8);

    /* A committed step is never run again, whatever the caller does. */
    built b;
    build(L, f, 1, &b);
    pb_err e = {0};
    pb_ax_result again = {0};
    expect_rc(run(L, &b.s, 0, &again, &e), PB_ECONFLICT, &e, "already in the ledger");
    pb_stmt_clear(&b.st);

    /* The ledger, in step order. */
    json_t *led = NULL;
    assert_int_equal(pb_ax_ledger(tdb, L->a, U(L, "wf-main"), &led, &e), 0);
    assert_int_equal(json_array_size(led), 4);
    assert_string_equal(json_string_value(json_object_get(json_array_get(led, 1), "name")), "pay");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(led, 1), "rows")), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(led, 0), "rule")), "invoices-rw");
    assert_true(json_equal(json_object_get(json_array_get(led, 0), "result"), f->res[0].result));
    json_decref(led);
    /* Another tenant sees none of it. */
    assert_int_equal(pb_ax_ledger(tdb, L->b, U(L, "wf-main"), &led, &e), 0);
    assert_int_equal(json_array_size(led), 0);
    json_decref(led);
    wf_free(f);
}

static void check_caps(lay *L)
{
    /* Update of all eight rows under a cap of five: nothing changes. */
    wf *f = wf_new(L, "wf-cap",
                   "[{\"name\":\"push\",\"operation\":\"update\",\"table\":\"invoices\",\"values\":{\"due_on\":\"2030-01-01\"},"
                   "\"where\":[{\"column\":\"amount\",\"op\":\"gt\",\"value\":\"0\"}]},"
                   "{\"name\":\"all\",\"operation\":\"select\",\"table\":\"invoices\",\"columns\":[\"id\"]}]");
    built b;
    build(L, f, 0, &b);
    assert_int_equal(b.s.cap, 5);
    pb_err e = {0};
    pb_ax_result r = {0};
    expect_rc(run(L, &b.s, 0, &r, &e), PB_ETOOLARGE, &e,
              "step push would touch 8 rows, more than the 5 allowed; nothing was changed");
    assert_int_equal(tenant_int(L, 0, "SELECT count(*) FROM invoices WHERE due_on = '2030-01-01'"), 0);
    assert_int_equal(lookup(L, U(L, "wf-cap"), 0, &r), PB_ENOTFOUND);

    /* Recorded as failed, once; then never run. */
    assert_int_equal(pb_ax_record_failure(tdb, L->a, &b.s, e.msg, &e), 0);
    assert_int_equal(pb_ax_record_failure(tdb, L->a, &b.s, "again", &e), 0);
    assert_int_equal(lookup(L, U(L, "wf-cap"), 0, &r), 0);
    assert_string_equal(r.state, "failed");
    assert_non_null(strstr(r.message, "more than the 5 allowed"));
    pb_ax_result_clear(&r);
    expect_rc(run(L, &b.s, 0, &r, &e), PB_ECONFLICT, &e, "already in the ledger (failed");
    pb_stmt_clear(&b.st);

    /* A select probing past its cap. */
    build(L, f, 1, &b);
    assert_true(b.s.fetch_is_probe);
    expect_rc(run(L, &b.s, 0, &r, &e), PB_ETOOLARGE, &e, "at least 6 rows, more than the 5 allowed");
    pb_stmt_clear(&b.st);
    wf_free(f);
}

static void check_dry_run(lay *L)
{
    wf *f = wf_new(L, "wf-dry", "[{\"name\":\"push\",\"operation\":\"update\",\"table\":\"invoices\","
                             "\"values\":{\"due_on\":\"2031-01-01\"},\"where\":[{\"column\":\"amount\",\"op\":\"le\",\"value\":\"20\"}]}]");
    built b;
    build(L, f, 0, &b);
    pb_err e = {0};
    pb_ax_result r = {0};
    long long steps_before = 0;
    assert_int_equal(pb_ax_usage(tdb, L->a, NULL, NULL, 0, NULL, NULL, &steps_before, &e), 0);
    assert_int_equal(run(L, &b.s, 1, &r, &e), 0);
    assert_int_equal(r.rows, 2); /* what it would touch */
    assert_int_equal(r.audit_seq, 0);
    assert_int_equal(tenant_int(L, 0, "SELECT count(*) FROM invoices WHERE due_on = '2031-01-01'"), 0);
    assert_int_equal(lookup(L, U(L, "wf-dry"), 0, &r), PB_ENOTFOUND);
    long long steps_after = 0;
    assert_int_equal(pb_ax_usage(tdb, L->a, NULL, NULL, 0, NULL, NULL, &steps_after, &e), 0);
    assert_int_equal(steps_after, steps_before);
    /* And it can run for real afterwards. */
    assert_int_equal(run(L, &b.s, 0, &r, &e), 0);
    assert_int_equal(tenant_int(L, 0, "SELECT count(*) FROM invoices WHERE due_on = '2031-01-01'"), 2);
    pb_ax_result_clear(&r);
    pb_stmt_clear(&b.st);
    wf_free(f);
}

/* Hand-built statements the policy would deny: PostgreSQL refuses them as
 * the agent role, so a wrong C check is not enough. */
static void check_database_enforces(lay *L)
{
    char sql[256], hidden[128];
    snprintf(hidden, sizeof hidden, "%s", U(L, "wf-hidden"));
    const char *cols[1] = {"note"};
    pb_ax_step s = {.workflow_uid = hidden, .workflow = "tenant-acme/wf", .name = "peek", .op = "select",
                    .returns_rows = 1, .cap = 100, .fetch = 100, .columns = cols, .n_columns = 1};
    snprintf(sql, sizeof sql, "SELECT \"note\" FROM \"%s\".\"invoices\" LIMIT 100", L->schema_a);
    s.sql = sql;
    pb_err e = {0};
    pb_ax_result r = {0};
    expect_rc(run(L, &s, 0, &r, &e), PB_EFORBIDDEN, &e, "42501");
    assert_int_equal(lookup(L, U(L, "wf-hidden"), 0, &r), PB_ENOTFOUND);

    const char *p[1] = {"leaked"};
    snprintf(sql, sizeof sql, "UPDATE \"%s\".\"invoices\" SET \"note\" = $1::text", L->schema_a);
    s = (pb_ax_step){.workflow_uid = hidden, .workflow = "tenant-acme/wf", .index = 1, .name = "scribble",
                     .op = "update", .sql = sql, .params = p, .n_params = 1, .cap = 100};
    expect_rc(run(L, &s, 0, &r, &e), PB_EFORBIDDEN, &e, "permission denied");
    assert_int_equal(tenant_int(L, 0, "SELECT count(*) FROM invoices WHERE note = 'leaked'"), 0);

    /* A select without any tenant filter: only this tenant's rows (rls:
     * the policies; other layouts: the schema or database). */
    const char *idc[1] = {"id"};
    snprintf(sql, sizeof sql, "SELECT \"id\" FROM \"%s\".\"invoices\" LIMIT 100", L->schema_a);
    s = (pb_ax_step){.workflow_uid = hidden, .workflow = "tenant-acme/wf", .index = 2, .name = "all",
                     .op = "select", .sql = sql, .returns_rows = 1, .cap = 100, .fetch = 100, .columns = idc,
                     .n_columns = 1};
    assert_int_equal(run(L, &s, 0, &r, &e), 0);
    assert_int_equal(r.rows, 8);
    pb_ax_result_clear(&r);

    /* A statement over its timeout: PostgreSQL's error and SQLSTATE. */
    const char *one[1] = {"v"};
    s = (pb_ax_step){.workflow_uid = hidden, .workflow = "tenant-acme/wf", .index = 3, .name = "slow", .op = "select",
                     .sql = "SELECT pg_catalog.pg_sleep(2)::text AS v", .returns_rows = 1, .cap = 1, .fetch = 1,
                     .columns = one, .n_columns = 1, .timeout_ms = 100};
    expect_rc(run(L, &s, 0, &r, &e), PB_ETIMEOUT, &e, "57014");

    /* Results are kept bounded; the row count stays exact, and the ledger
     * gives back the same bounded result. */
    s = (pb_ax_step){.workflow_uid = hidden, .workflow = "tenant-acme/wf", .index = 4, .name = "many", .op = "select",
                     .sql = "SELECT x::text AS v FROM pg_catalog.generate_series(1, 1500) x", .returns_rows = 1,
                     .cap = 2000, .fetch = 2000, .columns = one, .n_columns = 1};
    assert_int_equal(run(L, &s, 0, &r, &e), 0);
    assert_int_equal(r.rows, 1500);
    assert_true(r.truncated);
    assert_int_equal(json_array_size(r.result), PB_AX_MAX_RESULT_ROWS);
    pb_ax_result back = {0};
    assert_int_equal(lookup(L, hidden, 4, &back), 0);
    assert_true(back.truncated);
    assert_int_equal(back.rows, 1500);
    assert_true(json_equal(back.result, r.result));
    assert_string_equal(back.digest, r.digest);
    pb_ax_result_clear(&back);
    pb_ax_result_clear(&r);

    /* An agent role that could get around the policies is refused. */
    PGconn *adm = pgq_admin_on(&srv, NULL);
    char alter[160];
    snprintf(alter, sizeof alter, "ALTER ROLE \"%s\" BYPASSRLS", L->role_a);
    pgq_must(adm, alter);
    pb_ax_tx *bad = NULL;
    expect_rc(pb_ax_begin(tdb, L->a, L->role_a, 0, &bad, &e), PB_EFORBIDDEN, &e, "BYPASSRLS");
    assert_null(bad);
    snprintf(alter, sizeof alter, "ALTER ROLE \"%s\" NOBYPASSRLS", L->role_a);
    pgq_must(adm, alter);
    PQfinish(adm);

    /* Another tenant's agent role is refused up front. */
    pb_ax_tx *tx = NULL;
    expect_rc(pb_ax_begin(tdb, L->a, L->role_b, 0, &tx, &e), PB_EINVAL, &e, "is not tenant");
    assert_null(tx);
    expect_rc(pb_ax_begin(tdb, "ax_nobody", "pb_a_ax_nobody", 0, &tx, &e), PB_ENOTFOUND, &e, NULL);
}

static void check_approval(lay *L)
{
    wf *f1 = wf_new(L, "wf-appr-1", "[{\"name\":\"look\",\"operation\":\"select\",\"table\":\"customers\",\"columns\":[\"id\"],\"limit\":1}]");
    wf *f2 = wf_new(L, "wf-appr-2", "[{\"name\":\"look\",\"operation\":\"select\",\"table\":\"customers\",\"columns\":[\"id\"],\"limit\":1}]");
    built b1, b2;
    build(L, f1, 0, &b1);
    build(L, f2, 0, &b2);
    char appr[128], says[192];
    snprintf(appr, sizeof appr, "%s", U(L, "approval-1"));
    snprintf(says, sizeof says, "approval %s was already used", appr);
    b1.s.approval = b2.s.approval = appr;
    pb_err e = {0};
    pb_ax_result r = {0};
    assert_int_equal(run(L, &b1.s, 0, &r, &e), 0);
    pb_ax_result_clear(&r);
    expect_rc(run(L, &b2.s, 0, &r, &e), PB_ECONFLICT, &e, says);
    /* A refused approval recorded as a failure does not consume anything. */
    assert_int_equal(pb_ax_record_failure(tdb, L->a, &b2.s, "approval refused: reused", &e), 0);
    pb_stmt_clear(&b1.st);
    pb_stmt_clear(&b2.st);
    wf_free(f1);
    wf_free(f2);
}

/* Neither the tenant's login nor the agent role can read or write the
 * bookkeeping. */
static void check_bookkeeping_closed(lay *L)
{
    static const char *stmts[] = {"SELECT count(*) FROM paybill.agent_ledger", "SELECT count(*) FROM paybill.agent_audit",
                                  "INSERT INTO paybill.agent_audit (tenant_id, seq, prev_hash, hash, record) "
                                  "VALUES ('x', 999, 'x', 'x', '{}')",
                                  "DELETE FROM paybill.agent_ledger", "UPDATE paybill.agent_audit SET record = ''"};
    PGconn *c[2] = {pgq_tenant_connect_ok(&L->cr_a), pgq_tenant_connect_ok(&L->agent_a)};
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < sizeof stmts / sizeof *stmts; i++) {
            const char *st = pgq_state(c[k], stmts[i]);
            if (strcmp(st, "42501") != 0)
                fail_msg("%s as %s: SQLSTATE %s, want 42501", stmts[i], k ? "agent" : "tenant", st);
        }
        PQfinish(c[k]);
    }
    /* The agent role as the operator uses it (SET ROLE) neither. */
    PGconn *a = pgq_admin_on(&srv, L->db_a);
    char q[256];
    snprintf(q, sizeof q, "SET ROLE \"%s\"", L->role_a);
    pgq_must(a, q);
    for (size_t i = 0; i < sizeof stmts / sizeof *stmts; i++)
        assert_string_equal(pgq_state(a, stmts[i]), "42501");
    PQfinish(a);
}

static void check_usage(lay *L)
{
    pb_err e = {0};
    long long w = -1, rows = -1, steps = -1;
    assert_int_equal(pb_ax_usage(tdb, L->a, NULL, NULL, 3600, &w, &rows, &steps, &e), 0);
    /* wf-main (3+3+2+2 rows, 4 steps), wf-dry (2 rows), wf-hidden "all" (8)
     * and "many" (1500), wf-appr-1 (1); failures and dry runs do not count. */
    assert_int_equal(w, 4);
    assert_int_equal(rows, 10 + 2 + 8 + 1500 + 1);
    assert_int_equal(steps, 4 + 1 + 2 + 1);
    assert_int_equal(pb_ax_usage(tdb, L->a, "tenant-acme/p", "alice", 3600, &w, &rows, &steps, &e), 0);
    assert_int_equal(w, 3); /* the hand-built steps named no policy */
    assert_int_equal(pb_ax_usage(tdb, L->a, NULL, "bob", 3600, &w, &rows, &steps, &e), 0);
    assert_int_equal(w, 0);
    assert_int_equal(rows, 0);
    assert_int_equal(pb_ax_usage(tdb, L->b, NULL, NULL, 3600, &w, &rows, &steps, &e), 0);
    assert_int_equal(w, 0);
    assert_int_equal(pb_ax_usage(tdb, L->a, NULL, NULL, -1, &w, &rows, &steps, &e), PB_EINVAL);
}

/* ---- races and crashes --------------------------------------------------------------- */

typedef struct racer {
    lay *L;
    const pb_ax_step *s;
    int rc;
    pb_err e;
} racer;

static void *race(void *arg)
{
    racer *x = arg;
    pb_ax_result r = {0};
    x->rc = run(x->L, x->s, 0, &r, &x->e);
    pb_ax_result_clear(&r);
    return NULL;
}

static void check_race(lay *L)
{
    wf *f = wf_new(L, "wf-race", "[{\"name\":\"bump\",\"operation\":\"insert\",\"table\":\"invoices\","
                              "\"values\":{\"customer_id\":\"" C1 "\",\"amount\":\"555.00\"}}]");
    built b;
    build(L, f, 0, &b);
    pb_err e = {0};
    pb_ax_tx *tx = NULL;
    pb_ax_result r = {0};
    assert_int_equal(pb_ax_begin(tdb, L->a, L->role_a, 0, &tx, &e), 0);
    assert_int_equal(pb_ax_exec(tx, &b.s, &r, &e), 0);
    /* The second operator starts the same step while the first has not
     * committed: it waits on the step lock, then finds the entry. */
    racer x = {.L = L, .s = &b.s};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, race, &x), 0);
    usleep(300 * 1000);
    assert_int_equal(pb_ax_commit(tx, &e), 0);
    pb_ax_end(tx);
    pthread_join(th, NULL);
    expect_rc(x.rc, PB_ECONFLICT, &x.e, "already in the ledger");
    assert_int_equal(tenant_int(L, 0, "SELECT count(*) FROM invoices WHERE amount = 555"), 1);
    pb_ax_result_clear(&r);
    pb_stmt_clear(&b.st);
    wf_free(f);
}

static void check_crash(lay *L)
{
    wf *f = wf_new(L, "wf-crash", "[{\"name\":\"push\",\"operation\":\"update\",\"table\":\"invoices\","
                               "\"values\":{\"due_on\":\"2032-01-01\"},\"where\":[{\"column\":\"amount\",\"op\":\"le\",\"value\":\"30\"}]}]");
    built b;
    build(L, f, 0, &b);
    pb_err e = {0};
    pb_ax_tx *tx = NULL;
    pb_ax_result r = {0};
    assert_int_equal(pb_ax_begin(tdb, L->a, L->role_a, 0, &tx, &e), 0);
    assert_int_equal(pb_ax_exec(tx, &b.s, &r, &e), 0);
    assert_int_equal(r.rows, 3);
    pb_ax_result_clear(&r);
    /* The connection dies before the commit. */
    PGconn *a = pgq_admin_on(&srv, NULL);
    char q[512];
    snprintf(q, sizeof q,
             "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '%s' "
             "AND application_name = 'paybill-operator' AND state = 'idle in transaction'",
             L->db_a);
    assert_int_equal(pgq_int(a, q), 1);
    PQfinish(a);
    int rc = pb_ax_commit(tx, &e);
    assert_true(rc == PB_EUNAVAILABLE || rc == PB_EIO);
    pb_ax_end(tx);
    assert_int_equal(lookup(L, U(L, "wf-crash"), 0, &r), PB_ENOTFOUND);
    assert_int_equal(tenant_int(L, 0, "SELECT count(*) FROM invoices WHERE due_on = '2032-01-01'"), 0);
    /* The controller continues from the first step not committed. */
    assert_int_equal(run(L, &b.s, 0, &r, &e), 0);
    assert_int_equal(tenant_int(L, 0, "SELECT count(*) FROM invoices WHERE due_on = '2032-01-01'"), 3);
    pb_ax_result_clear(&r);
    pb_stmt_clear(&b.st);
    wf_free(f);
}

/* ---- the audit chain ------------------------------------------------------------------ */

static void verify_ok(lay *L, long long *n)
{
    pb_err e = {0};
    if (pb_ax_verify(tdb, L->a, n, &e))
        fail_e("verify", &e);
}

static void verify_broken(lay *L, const char *must_say)
{
    pb_err e = {0};
    long long n = -1;
    expect_rc(pb_ax_verify(tdb, L->a, &n, &e), PB_ECONFLICT, &e, must_say);
}

/* Put tenant a's chain back as saved (trigger disabled meanwhile). */
static void restore(PGconn *a, lay *L)
{
    char q[512];
    snprintf(q, sizeof q,
             "ALTER TABLE paybill.agent_audit DISABLE TRIGGER agent_audit_append_only;"
             "DELETE FROM paybill.agent_audit WHERE tenant_id = '%s';"
             "INSERT INTO paybill.agent_audit SELECT * FROM saved_audit;"
             "ALTER TABLE paybill.agent_audit ENABLE TRIGGER agent_audit_append_only",
             L->a);
    pgq_must(a, q);
}

static void check_audit(lay *L)
{
    pb_err e = {0};
    json_t *rec = json_pack("{s:s, s:s, s:s, s:i, s:s}", "kind", "approval", "workflow_uid", "wf-main", "workflow",
                            "tenant-acme/wf", "step", 1, "message", "approval refused: expired");
    assert_int_equal(pb_ax_audit(tdb, L->a, rec, &e), 0);
    json_decref(rec);
    long long n = 0;
    verify_ok(L, &n);
    PGconn *a = pgq_admin_on(&srv, L->db_a);
    char q[1024];
    snprintf(q, sizeof q, "SELECT count(*) FROM paybill.agent_audit WHERE tenant_id = '%s'", L->a);
    assert_int_equal(n, pgq_int(a, q));
    assert_true(n >= 8);
    snprintf(q, sizeof q, "SELECT count(*) FROM paybill.agent_audit WHERE tenant_id = '%s' AND record LIKE '%%approval refused: expired%%'", L->a);
    assert_int_equal(pgq_int(a, q), 1);
    /* The other tenant's chain is its own. */
    long long nb = -1;
    assert_int_equal(pb_ax_verify(tdb, L->b, &nb, &e), 0);
    assert_int_equal(nb, 0);

    /* Accidental edits fail. */
    snprintf(q, sizeof q, "UPDATE paybill.agent_audit SET record = 'x' WHERE tenant_id = '%s' AND seq = 2", L->a);
    assert_string_equal(pgq_state(a, q), "42501");
    snprintf(q, sizeof q, "DELETE FROM paybill.agent_audit WHERE tenant_id = '%s' AND seq = 2", L->a);
    assert_string_equal(pgq_state(a, q), "42501");
    assert_string_equal(pgq_state(a, "TRUNCATE paybill.agent_audit"), "42501");

    snprintf(q, sizeof q, "CREATE TEMP TABLE saved_audit AS SELECT * FROM paybill.agent_audit WHERE tenant_id = '%s'", L->a);
    pgq_must(a, q);

    /* A determined owner disables the trigger and edits a record. */
    snprintf(q, sizeof q,
             "ALTER TABLE paybill.agent_audit DISABLE TRIGGER agent_audit_append_only;"
             "UPDATE paybill.agent_audit SET record = replace(record, '\"rows\":3', '\"rows\":300') "
             "WHERE tenant_id = '%s' AND seq = 2",
             L->a);
    pgq_must(a, q);
    verify_broken(L, "audit record 2: hash mismatch");
    restore(a, L);
    verify_ok(L, &n);

    /* ... deletes a record in the middle. */
    snprintf(q, sizeof q,
             "ALTER TABLE paybill.agent_audit DISABLE TRIGGER agent_audit_append_only;"
             "DELETE FROM paybill.agent_audit WHERE tenant_id = '%s' AND seq = 3",
             L->a);
    pgq_must(a, q);
    verify_broken(L, "audit record 3 is missing");
    restore(a, L);

    /* ... inserts a well-formed record in the middle (renumbering the rest). */
    snprintf(q, sizeof q,
             "ALTER TABLE paybill.agent_audit DISABLE TRIGGER agent_audit_append_only;"
             "UPDATE paybill.agent_audit SET seq = seq + 100000 WHERE tenant_id = '%s' AND seq >= 3;"
             "UPDATE paybill.agent_audit SET seq = seq - 99999 WHERE tenant_id = '%s' AND seq > 100000;"
             "INSERT INTO paybill.agent_audit (tenant_id, seq, prev_hash, hash, record) "
             "SELECT '%s', 3, hash, encode(sha256(convert_to(hash || E'\\n' || r, 'UTF8')), 'hex'), r "
             "FROM paybill.agent_audit, (SELECT '{\"kind\":\"forged\",\"seq\":3,\"tenant\":\"%s\"}'::text AS r) x "
             "WHERE tenant_id = '%s' AND seq = 2",
             L->a, L->a, L->a, L->a, L->a);
    pgq_must(a, q);
    verify_broken(L, "audit record 4: prev_hash mismatch");
    restore(a, L);

    /* ... removes the last record: the ledger still names it. */
    snprintf(q, sizeof q,
             "ALTER TABLE paybill.agent_audit DISABLE TRIGGER agent_audit_append_only;"
             "DELETE FROM paybill.agent_audit WHERE tenant_id = '%s' AND seq = "
             "(SELECT max(audit_seq) FROM paybill.agent_ledger WHERE tenant_id = '%s');"
             "DELETE FROM paybill.agent_audit WHERE tenant_id = '%s' AND seq > "
             "(SELECT max(audit_seq) FROM paybill.agent_ledger WHERE tenant_id = '%s')",
             L->a, L->a, L->a, L->a);
    pgq_must(a, q);
    verify_broken(L, "missing record");
    restore(a, L);
    verify_ok(L, &n);
    pgq_must(a, "DROP TABLE saved_audit");

    /* The trigger disabled for good is put back by the next transaction. */
    pgq_must(a, "ALTER TABLE paybill.agent_audit DISABLE TRIGGER agent_audit_append_only");
    pb_ax_tx *tx = NULL;
    assert_int_equal(pb_ax_begin(tdb, L->a, L->role_a, 0, &tx, &e), 0);
    pb_ax_end(tx);
    snprintf(q, sizeof q, "UPDATE paybill.agent_audit SET record = 'x' WHERE tenant_id = '%s' AND seq = 2", L->a);
    assert_string_equal(pgq_state(a, q), "42501");
    PQfinish(a);
}

typedef struct suspender {
    const char *id;
    volatile int done;
    int rc;
    pb_err e;
} suspender;

static void *suspend_thread(void *arg)
{
    suspender *x = arg;
    x->rc = pb_tdb_suspend(tdb, x->id, &x->e);
    x->done = 1;
    return NULL;
}

static void check_suspended(lay *L)
{
    pb_err e = {0};
    pb_ax_tx *tx = NULL;
    assert_int_equal(pb_tdb_suspend(tdb, L->b, &e), 0);
    char role[64];
    snprintf(role, sizeof role, "pb_a_%s", L->b);
    expect_rc(pb_ax_begin(tdb, L->b, role, 0, &tx, &e), PB_ECONFLICT, &e, "suspended");
    assert_null(tx);
    assert_int_equal(pb_tdb_resume(tdb, L->b, &e), 0);
    /* An operation on the tenant (here: suspend) waits for a running step's
     * transaction: the data cannot move or lock out from under it. */
    assert_int_equal(pb_ax_begin(tdb, L->b, role, 0, &tx, &e), 0);
    suspender x = {.id = L->b};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, suspend_thread, &x), 0);
    usleep(300 * 1000);
    assert_false(x.done);
    pb_ax_end(tx);
    pthread_join(th, NULL);
    assert_int_equal(x.rc, 0);
    assert_int_equal(pb_tdb_resume(tdb, L->b, &e), 0);
}

/* ---- the bookkeeping gone or altered behind the executor's back ------------------------ */

static long long admin_int(lay *L, const char *sql)
{
    PGconn *a = pgq_admin_on(&srv, L->db_a);
    long long v = pgq_int(a, sql);
    PQfinish(a);
    return v;
}

static void admin_must(lay *L, const char *sql)
{
    PGconn *a = pgq_admin_on(&srv, L->db_a);
    pgq_must(a, sql);
    PQfinish(a);
}

/* The executor's prepared statements dropped behind its back (here by a
 * hand-built step, in the same session, between its statements, after a
 * first step of the same dry run had them prepared): that step fails as
 * transient, and the next ones prepare them again under new names. */
static void check_prepared(lay *L)
{
    char uid[128];
    snprintf(uid, sizeof uid, "%s", U(L, "wf-prep"));
    const char *one[1] = {"v"};
    pb_ax_step first = {.workflow_uid = uid, .workflow = "tenant-acme/wf", .index = 0, .name = "one", .op = "select",
                        .sql = "SELECT '1' AS v", .returns_rows = 1, .cap = 1, .fetch = 2, .columns = one,
                        .n_columns = 1};
    pb_ax_step forget = {.workflow_uid = uid, .workflow = "tenant-acme/wf", .index = 1, .name = "forget",
                         .op = "select", .sql = "DEALLOCATE ALL", .cap = 1};
    pb_err e = {0};
    pb_ax_result r = {0};
    pb_ax_tx *tx = NULL;
    assert_int_equal(pb_ax_begin(tdb, L->a, L->role_a, 1, &tx, &e), 0);
    assert_int_equal(pb_ax_exec(tx, &first, &r, &e), 0);
    pb_ax_result_clear(&r);
    expect_rc(pb_ax_exec(tx, &forget, &r, &e), PB_EUNAVAILABLE, &e, "prepared statements of the agent executor");
    pb_ax_end(tx);
    /* The next transactions, on whichever pooled connection. */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(run(L, &first, 1, &r, &e), 0);
        assert_int_equal(r.rows, 1);
        pb_ax_result_clear(&r);
    }
    wf *f = wf_new(L, "wf-prep-after", "[{\"name\":\"bump\",\"operation\":\"insert\",\"table\":\"invoices\","
                                    "\"values\":{\"customer_id\":\"" C1 "\",\"amount\":\"666.00\"}}]");
    run_ok(L, f, 0);
    assert_int_equal(lookup(L, f->uid, 0, &r), 0);
    assert_string_equal(r.state, "committed");
    pb_ax_result_clear(&r);
    assert_int_equal(tenant_int(L, 0, "SELECT count(*) FROM invoices WHERE amount = 666"), 1);
    wf_free(f);
}

/* Run last: it drops the (in rls and schema, shared) ledger. */
static void check_bookkeeping_gone(lay *L)
{
    wf *f = wf_new(L, "wf-gone", "[{\"name\":\"bump\",\"operation\":\"insert\",\"table\":\"invoices\","
                              "\"values\":{\"customer_id\":\"" C1 "\",\"amount\":\"777.00\"}},"
                              "{\"name\":\"bump2\",\"operation\":\"insert\",\"table\":\"invoices\","
                              "\"values\":{\"customer_id\":\"" C1 "\",\"amount\":\"778.00\"}}]");
    built b;
    build(L, f, 0, &b);
    pb_err e = {0};
    pb_ax_result r = {0};

    /* Its functions dropped between transactions: the next one makes them
     * again, and the step runs with its ledger entry. */
    admin_must(L, "DROP FUNCTION paybill.agent_checks(text); DROP FUNCTION paybill.agent_claim(text, bigint, text);"
                  "DROP FUNCTION paybill.agent_audit_head(text)");
    assert_int_equal(run(L, &b.s, 0, &r, &e), 0);
    pb_ax_result_clear(&r);
    assert_int_equal(admin_int(L, "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                                  "WHERE n.nspname = 'paybill' AND p.proname IN ('agent_checks', 'agent_claim', "
                                  "'agent_audit_head')"),
                     3);
    assert_int_equal(lookup(L, U(L, "wf-gone"), 0, &r), 0);
    assert_string_equal(r.state, "committed");
    pb_ax_result_clear(&r);
    assert_int_equal(tenant_int(L, 0, "SELECT count(*) FROM invoices WHERE amount = 777"), 1);

    /* An older bookkeeping (its checks say another version) is replaced. */
    admin_must(L, "CREATE OR REPLACE FUNCTION paybill.agent_checks(p_role text, OUT o_risky boolean, "
                  "OUT o_version integer, OUT o_timeout text, OUT o_role text) LANGUAGE plpgsql "
                  "AS $f$ BEGIN /* old */ o_risky := false; o_version := 1; "
                  "o_timeout := current_setting('statement_timeout'); o_role := current_setting('role'); END $f$");
    pb_ax_tx *tx = NULL;
    assert_int_equal(pb_ax_begin(tdb, L->a, L->role_a, 0, &tx, &e), 0);
    pb_ax_end(tx);
    assert_int_equal(admin_int(L, "SELECT count(*) FROM pg_proc WHERE proname = 'agent_checks' "
                                  "AND prosrc LIKE '%/* old */%'"),
                     0);

    /* A claim that no longer refuses (altered by hand): the statement runs,
     * but the ledger's primary key refuses the second entry, so its effect
     * is rolled back with it: still exactly once. */
    admin_must(L, "CREATE OR REPLACE FUNCTION paybill.agent_claim(p_uid text, p_index bigint, p_approval text) "
                  "RETURNS void LANGUAGE sql AS 'SELECT NULL::void'");
    expect_rc(run(L, &b.s, 0, &r, &e), PB_ECONFLICT, &e, "agent_ledger_pkey");
    assert_int_equal(tenant_int(L, 0, "SELECT count(*) FROM invoices WHERE amount = 777"), 1);
    admin_must(L, "DROP FUNCTION paybill.agent_claim(text, bigint, text)");

    /* The ledger dropped after pb_ax_begin checked it: the step fails
     * closed (its statement never runs) as a transient error, and the next
     * transaction makes the ledger again and runs it once. */
    pb_stmt_clear(&b.st);
    build(L, f, 1, &b);
    assert_int_equal(pb_ax_begin(tdb, L->a, L->role_a, 0, &tx, &e), 0);
    admin_must(L, "DROP TABLE paybill.agent_ledger");
    expect_rc(pb_ax_exec(tx, &b.s, &r, &e), PB_EUNAVAILABLE, &e, "agent ledger is gone");
    pb_ax_end(tx);
    assert_int_equal(tenant_int(L, 0, "SELECT count(*) FROM invoices WHERE amount = 778"), 0);
    assert_int_equal(run(L, &b.s, 0, &r, &e), 0);
    pb_ax_result_clear(&r);
    assert_int_equal(tenant_int(L, 0, "SELECT count(*) FROM invoices WHERE amount = 778"), 1);
    assert_int_equal(lookup(L, U(L, "wf-gone"), 1, &r), 0);
    assert_string_equal(r.state, "committed");
    pb_ax_result_clear(&r);
    expect_rc(run(L, &b.s, 0, &r, &e), PB_ECONFLICT, &e, "already in the ledger");
    assert_int_equal(tenant_int(L, 0, "SELECT count(*) FROM invoices WHERE amount = 778"), 1);
    pb_stmt_clear(&b.st);
    wf_free(f);
}

static void exercise(pb_dm_layout l, const char *tag)
{
    lay L;
    setup_lay(&L, l, tag);
    check_steps(&L);
    check_caps(&L);
    check_dry_run(&L);
    check_database_enforces(&L);
    check_approval(&L);
    check_bookkeeping_closed(&L);
    check_usage(&L);
    check_race(&L);
    check_crash(&L);
    check_audit(&L);
    check_suspended(&L);
    check_prepared(&L);
    check_bookkeeping_gone(&L);
    clear_lay(&L);
}

static void test_rls(void **state)
{
    (void)state;
    exercise(PB_DM_LAYOUT_RLS, "rls");
}

static void test_schema(void **state)
{
    (void)state;
    exercise(PB_DM_LAYOUT_SCHEMA, "sch");
}

static void test_database(void **state)
{
    (void)state;
    exercise(PB_DM_LAYOUT_DATABASE, "db");
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
    pb_err e = {0};
    if (pb_tdb_new(&cfg, &tdb, &e)) {
        fprintf(stderr, "pb_tdb_new: %s\n", e.msg);
        return -1;
    }
    model = fx_model();
    int rc = 0;
    pol = fx_policy(model, POLICY, &rc, &e);
    if (!pol || rc) {
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
    pgtest_stop(&srv);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rls),
        cmocka_unit_test(test_schema),
        cmocka_unit_test(test_database),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
