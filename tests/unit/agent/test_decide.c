/* Unit tests for agent/decide: several hundred decisions, most generated
 * from compact tables (columns x operations x membership, deny overrides,
 * row caps x approvals, broken policies x steps, row constraints on every
 * type), plus hand-written cases on the example policy, policy sets (Audit,
 * deny overriding allow across policies, broken policies, no policy,
 * anonymous submitters) and workflow-level limits. Every decision must name
 * the rule that decided; denials name the field and what would pass. */
#include "testutil.h"

#include <string.h>

#include "agent_fixture.h"

static size_t g_cases, g_failed;

typedef struct {
    pb_decide_outcome outcome;
    pb_decide_reason reason;
    int rule;          /* -2: do not check */
    int is_deny;
    const char *msg;   /* substring, or NULL */
    const char *field; /* exact, or NULL */
} expect;

static void check(const pb_decision *d, expect x, const char *ctx)
{
    g_cases++;
    int ok = d->outcome == x.outcome && d->reason == x.reason && (x.rule == -2 || d->rule == x.rule) &&
             (x.rule == -2 || d->is_deny == x.is_deny) && (!x.msg || strstr(d->message, x.msg)) &&
             (!x.field || strcmp(d->field, x.field) == 0);
    if (!ok) {
        g_failed++;
        fprintf(stderr,
                "FAIL %s\n  got  %s %s rule %d%s field \"%s\"\n  msg  %s\n  want %s %s rule %d%s field \"%s\" msg "
                "\"%s\"\n",
                ctx, pb_decide_outcome_name(d->outcome), pb_decide_reason_name(d->reason), d->rule,
                d->is_deny ? " (deny)" : "", d->field, d->message, pb_decide_outcome_name(x.outcome),
                pb_decide_reason_name(x.reason), x.rule, x.is_deny ? " (deny)" : "", x.field ? x.field : "*",
                x.msg ? x.msg : "*");
    }
}

/* Decide step `si` of `steps` under one policy compiled from `spec`. */
static void one(const pb_dm_model *m, const char *spec, const char *steps, size_t si, long long rows, expect x,
                const char *ctx)
{
    pb_err e;
    int rc;
    pb_pol *p = fx_policy(m, spec, &rc, &e);
    pb_steps *w = fx_steps(m, steps, &rc, &e);
    if (rc != 0) {
        g_cases++;
        g_failed++;
        fprintf(stderr, "FAIL %s: steps do not parse: %s\n", ctx, e.msg);
        pb_pol_free(p);
        return;
    }
    pb_decision d;
    assert_int_equal(pb_decide_step(p, w, si, rows, &d), 0);
    check(&d, x, ctx);
    if (d.outcome != PB_DECIDE_DENY) {
        assert_true(d.max_rows >= 1 && d.max_rows <= PB_POL_HARD_MAX_ROWS);
        assert_ptr_equal(d.policy, p);
    }
    pb_step_free(w);
    pb_pol_free(p);
}

#define ALLOW(rule) ((expect){PB_DECIDE_ALLOW, PB_DECIDE_R_ALLOWED, rule, 0, NULL, NULL})
#define APPROVE(rule) ((expect){PB_DECIDE_APPROVAL, PB_DECIDE_R_NEEDS_APPROVAL, rule, 0, NULL, NULL})
#define DENY(reason, rule, isd, msg, field) ((expect){PB_DECIDE_DENY, reason, rule, isd, msg, field})

/* ---- the example policy, by hand ------------------------------------------------ */

static const char *P0 =
    "{\"rules\":["
    "{\"name\":\"customers-read\",\"table\":\"customers\",\"operations\":[\"select\"],"
    "\"columns\":[\"id\",\"name\",\"segment\"],"
    "\"rowConstraints\":[{\"column\":\"segment\",\"op\":\"in\",\"value\":[\"smb\",\"midmarket\"]}]},"
    "{\"name\":\"invoices-rw\",\"table\":\"invoices\",\"operations\":[\"select\",\"update\"],"
    "\"readableColumns\":[\"id\",\"customer_id\",\"amount\",\"paid\",\"due_on\"],\"writableColumns\":[\"paid\"],"
    "\"maxRows\":50},"
    "{\"name\":\"invoices-insert\",\"table\":\"invoices\",\"operations\":[\"insert\"],"
    "\"writableColumns\":[\"customer_id\",\"amount\",\"note\"],"
    "\"rowConstraints\":[{\"column\":\"amount\",\"op\":\"le\",\"value\":\"1000.00\"}]},"
    "{\"name\":\"customers-delete\",\"table\":\"customers\",\"operations\":[\"delete\"],\"readableColumns\":[\"id\",\"score\"],"
    "\"maxRows\":5,\"approval\":{\"rowsAbove\":1}},"
    "{\"name\":\"customers-update\",\"table\":\"customers\",\"operations\":[\"update\"],"
    "\"readableColumns\":[\"id\",\"segment\",\"score\"],\"writableColumns\":[\"name\",\"segment\",\"score\"],"
    "\"rowConstraints\":[{\"column\":\"segment\",\"op\":\"in\",\"value\":[\"smb\",\"midmarket\"]}],"
    "\"requireWhere\":false}],"
    "\"deny\":[{\"table\":\"invoices\",\"operations\":[\"delete\"]},"
    "{\"name\":\"no-email\",\"table\":\"customers\",\"columns\":[\"email\"]}],"
    "\"limits\":{\"rowsPerStep\":100},"
    "\"approvers\":[{\"kind\":\"User\",\"name\":\"alice\"}]}";

#define UUID1 "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\""
#define S1(x) "[" x "]"
#define STEP(op, table, rest) "{\"name\":\"s\",\"operation\":\"" op "\",\"table\":\"" table "\"" rest "}"
#define WHERE_ID ",\"where\":[{\"column\":\"id\",\"op\":\"eq\",\"value\":" UUID1 "}]"

static void test_example_policy(void **state)
{
    pb_dm_model *m = fx_model();
    one(m, P0, S1(STEP("select", "customers", ",\"columns\":[\"id\",\"name\"]")), 0, -1, ALLOW(0), "select ok");
    one(m, P0, S1(STEP("select", "customers", ",\"columns\":[\"id\",\"segment\"]" WHERE_ID)), 0, -1, ALLOW(0),
        "select with where");
    one(m, P0, S1(STEP("select", "customers", ",\"columns\":[\"id\",\"score\"]")), 0, -1,
        DENY(PB_DECIDE_R_NOT_READABLE, 0, 0,
             "step \"s\" (select on customers) denied by AgentPolicy tenant-acme/p spec.rules[0] \"customers-read\": "
             "column score is not readable (readable: id, name, segment); remove it from spec.steps[0].columns[1] or "
             "add it to spec.rules[0].readableColumns",
             "spec.steps[0].columns[1]"),
        "select unreadable column");
    one(m, P0, S1(STEP("select", "customers", "")), 0, -1,
        DENY(PB_DECIDE_R_DENY_RULE, 1, 1, "column email may not be touched; list the columns you need", "spec.steps[0].columns"),
        "select * hits deny on email");
    one(m, P0, S1(STEP("select", "customers", ",\"columns\":[\"id\",\"email\"]")), 0, -1,
        DENY(PB_DECIDE_R_DENY_RULE, 1, 1, "spec.deny[1] \"no-email\": column email may not be touched by select",
             "spec.steps[0].columns[1]"),
        "select email: deny overrides");
    one(m, P0, S1(STEP("select", "customers", ",\"columns\":[\"id\"],\"where\":[{\"column\":\"email\",\"op\":\"like\","
                                             "\"value\":\"%@x\"}]")),
        0, -1, DENY(PB_DECIDE_R_DENY_RULE, 1, 1, NULL, "spec.steps[0].where[0].column"), "where on email: denied");
    one(m, P0, S1(STEP("select", "customers", ",\"columns\":[\"id\"],\"orderBy\":[{\"column\":\"score\"}]")), 0, -1,
        DENY(PB_DECIDE_R_NOT_READABLE, 0, 0, "column score is not readable", "spec.steps[0].orderBy[0].column"),
        "orderBy unreadable");
    one(m, P0, S1(STEP("select", "customers", ",\"columns\":[\"id\"],\"limit\":100")), 0, -1, ALLOW(0),
        "limit at rowsPerStep");
    one(m, P0, S1(STEP("select", "customers", ",\"columns\":[\"id\"],\"limit\":101")), 0, -1,
        DENY(PB_DECIDE_R_TOO_MANY_ROWS, 0, 0,
             "limit 101 is above the 100 rows allowed by limits.rowsPerStep (the lower of policy and plan); set "
             "limit to at most 100",
             "spec.steps[0].limit"),
        "limit over rowsPerStep");
    one(m, P0, S1(STEP("select", "invoices", ",\"columns\":[\"id\"],\"limit\":51")), 0, -1,
        DENY(PB_DECIDE_R_TOO_MANY_ROWS, 1, 0, "above the 50 rows allowed by the rule's maxRows", "spec.steps[0].limit"),
        "limit over maxRows");
    one(m, P0, S1(STEP("select", "invoices", ",\"columns\":[\"id\"]")), 0, 60,
        DENY(PB_DECIDE_R_TOO_MANY_ROWS, 1, 0, "would touch 60 rows, more than the 50 allowed", ""),
        "known rows over maxRows");
    one(m, P0, S1(STEP("select", "invoices", ",\"columns\":[\"note\"]")), 0, -1,
        DENY(PB_DECIDE_R_NOT_READABLE, 1, 0, "column note is not readable", NULL), "invoice note hidden");
    one(m, P0, S1(STEP("update", "invoices", ",\"values\":{\"paid\":true},\"where\":[{\"column\":\"paid\",\"op\":\"eq\","
                                           "\"value\":false}]")),
        0, -1, ALLOW(1), "mark paid");
    one(m, P0, S1(STEP("update", "invoices", ",\"values\":{\"paid\":true}")), 0, -1,
        DENY(PB_DECIDE_R_WHERE_REQUIRED, 1, 0,
             "update on invoices needs a where condition (requireWhere); add one to spec.steps[0].where",
             "spec.steps[0].where"),
        "update without where");
    one(m, P0, S1(STEP("update", "invoices", ",\"values\":{\"amount\":\"1.00\"}" WHERE_ID)), 0, -1,
        DENY(PB_DECIDE_R_NOT_WRITABLE, 1, 0,
             "column amount is not writable (writable: paid); remove it from spec.steps[0].values or add it to "
             "spec.rules[1].writableColumns",
             "spec.steps[0].values"),
        "update amount");
    one(m, P0, S1(STEP("update", "invoices", ",\"values\":{\"paid\":true},\"where\":[{\"column\":\"note\",\"op\":\"eq\","
                                           "\"value\":\"x\"}]")),
        0, -1, DENY(PB_DECIDE_R_NOT_READABLE, 1, 0, NULL, "spec.steps[0].where[0].column"), "update where on hidden");
    one(m, P0, S1(STEP("delete", "invoices", WHERE_ID)), 0, -1,
        DENY(PB_DECIDE_R_DENY_RULE, 0, 1, "delete on invoices is forbidden (deny rules override any allow",
             "spec.steps[0].operation"),
        "delete invoices denied");
    one(m, P0, S1(STEP("insert", "invoices", ",\"values\":{\"customer_id\":" UUID1 ",\"amount\":\"999.99\"}")), 0, -1,
        ALLOW(2), "insert within constraint");
    one(m, P0, S1(STEP("insert", "invoices", ",\"values\":{\"customer_id\":" UUID1 ",\"amount\":\"1000.01\"}")), 0, -1,
        DENY(PB_DECIDE_R_CONSTRAINT, 2, 0,
             "amount = \"1000.01\" is outside spec.rules[2].rowConstraints[0] (amount le \"1000\"); use a value that "
             "satisfies it",
             "spec.steps[0].values.amount"),
        "insert over constraint");
    one(m, P0, S1(STEP("insert", "invoices", ",\"values\":{\"customer_id\":" UUID1 ",\"amount\":1,\"paid\":true}")), 0,
        -1, DENY(PB_DECIDE_R_NOT_WRITABLE, 2, 0, "column paid is not writable", NULL), "insert paid");
    one(m, P0, S1(STEP("insert", "invoices", ",\"rows\":[{\"customer_id\":" UUID1 ",\"amount\":1},{\"customer_id\":" UUID1
                                           ",\"amount\":\"5000\"}]")),
        0, -1, DENY(PB_DECIDE_R_CONSTRAINT, 2, 0, NULL, "spec.steps[0].rows[1].amount"), "second row over");
    one(m, P0, S1(STEP("insert", "customers", ",\"values\":{\"email\":\"a@b\"}")), 0, -1,
        DENY(PB_DECIDE_R_DENY_RULE, 1, 1, NULL, NULL), "insert customers touches email: deny first");
    one(m, P0, S1(STEP("insert", "customers", ",\"values\":{\"email\":\"a@b\",\"name\":\"x\"}")), 0, -1,
        DENY(PB_DECIDE_R_DENY_RULE, 1, 1, NULL, NULL), "insert customers");
    one(m, P0, S1(STEP("delete", "customers", ",\"where\":[{\"column\":\"score\",\"op\":\"lt\",\"value\":0}]")), 0, -1,
        DENY(PB_DECIDE_R_DENY_RULE, 1, 1, "a delete removes every column", NULL), "delete touches email: denied");
    one(m, P0, S1(STEP("update", "customers", ",\"values\":{\"segment\":\"midmarket\"}")), 0, -1, ALLOW(4),
        "update without where (requireWhere false), within constraint");
    one(m, P0, S1(STEP("update", "customers", ",\"values\":{\"segment\":\"enterprise\"}")), 0, -1,
        DENY(PB_DECIDE_R_CONSTRAINT, 4, 0,
             "segment = \"enterprise\" is outside spec.rules[4].rowConstraints[0] (segment in [\"smb\", \"midmarket\"])",
             "spec.steps[0].values.segment"),
        "update moves row out of constraint");
    one(m, P0, S1(STEP("update", "customers", ",\"values\":{\"name\":\"n\"}")), 0, -1, ALLOW(4),
        "update other column: constraint ANDed, not checked on values");
    one(m, P0, S1(STEP("update", "customers", ",\"values\":{\"name\":\"'; DROP TABLE customers; --\"}")), 0, -1,
        ALLOW(4), "injection string is a value");
    one(m, P0, S1(STEP("select", "invoices", ",\"columns\":[\"id\"],\"where\":[{\"column\":\"amount\",\"op\":\"gt\","
                                           "\"value\":\"100\"}],\"orderBy\":[{\"column\":\"due_on\"}],\"limit\":10")),
        0, -1, ALLOW(1), "select invoices full");
    pb_dm_free(m);
}

static void test_decision_payload(void **state)
{
    pb_dm_model *m = fx_model();
    pb_err e;
    int rc;
    pb_pol *p = fx_policy(m, P0, &rc, &e);
    assert_int_equal(rc, 0);
    pb_steps *w = fx_steps(m,
                           "[" STEP("select", "customers", ",\"columns\":[\"id\"],\"limit\":7") "]", &rc, &e);
    pb_decision d;
    pb_decide_step(p, w, 0, -1, &d);
    assert_int_equal(d.outcome, PB_DECIDE_ALLOW);
    assert_string_equal(d.rule_name, "customers-read");
    assert_int_equal(d.max_rows, 7);
    assert_int_equal(d.n_constraints, 1);
    assert_int_equal(pb_pred_column(pb_decide_constraint(&d, 0)), 3);
    assert_int_equal(pb_pred_get_op(pb_decide_constraint(&d, 0)), PB_PRED_IN);
    assert_null(pb_decide_constraint(&d, 1));
    assert_string_equal(d.message, "step \"s\" (select on customers) allowed by AgentPolicy tenant-acme/p spec.rules[0] "
                                   "\"customers-read\": at most 7 rows; rows limited to segment in [\"smb\", "
                                   "\"midmarket\"]");
    pb_step_free(w);
    /* delete needing approval */
    w = fx_steps(m, "[" STEP("delete", "customers", ",\"where\":[{\"column\":\"score\",\"op\":\"lt\",\"value\":0}]") "]",
                 &rc, &e);
    pb_pol_free(p);
    /* P0 denies email for every op, so decide under a copy without that deny */
    p = fx_policy(m,
                  "{\"rules\":[{\"name\":\"del\",\"table\":\"customers\",\"operations\":[\"delete\"],\"maxRows\":5,"
                  "\"approval\":{\"rowsAbove\":1}}],\"approvers\":[{\"kind\":\"User\",\"name\":\"alice\"}]}",
                  &rc, &e);
    pb_decide_step(p, w, 0, -1, &d);
    assert_int_equal(d.outcome, PB_DECIDE_APPROVAL);
    assert_int_equal(d.rows, 5);
    assert_non_null(strstr(d.message, "needs approval under AgentPolicy tenant-acme/p spec.rules[0] \"del\": delete of "
                                      "up to 5 rows is above approval.rowsAbove 1"));
    pb_decide_step(p, w, 0, 1, &d); /* a dry run counted one row */
    assert_int_equal(d.outcome, PB_DECIDE_ALLOW);
    assert_int_equal(d.rows, 1);
    pb_decide_step(p, w, 0, 2, &d);
    assert_int_equal(d.outcome, PB_DECIDE_APPROVAL);
    /* bad arguments: deny, never a crash */
    assert_int_equal(pb_decide_step(p, w, 1, -1, &d), PB_EINVAL);
    assert_int_equal(d.outcome, PB_DECIDE_DENY);
    assert_int_equal(d.reason, PB_DECIDE_R_BAD_INPUT);
    assert_int_equal(pb_decide_step(p, NULL, 0, -1, &d), PB_EINVAL);
    assert_int_equal(d.outcome, PB_DECIDE_DENY);
    assert_int_equal(pb_decide_step(p, w, 0, -1, NULL), PB_EINVAL);
    /* NULL policy: deny */
    assert_int_equal(pb_decide_step(NULL, w, 0, -1, &d), 0);
    assert_int_equal(d.outcome, PB_DECIDE_DENY);
    assert_int_equal(d.reason, PB_DECIDE_R_BROKEN);
    pb_step_free(w);
    pb_pol_free(p);
    pb_dm_free(m);
}

/* ---- generated: columns x operations x membership ----------------------------- */

static const char *sample(pb_dm_type t)
{
    switch (t) {
    case PB_DM_TEXT: return "\"v\"";
    case PB_DM_INTEGER:
    case PB_DM_BIGINT: return "5";
    case PB_DM_NUMERIC: return "\"1.50\"";
    case PB_DM_BOOLEAN: return "true";
    case PB_DM_TIMESTAMPTZ: return "\"2026-01-31T10:00:00Z\"";
    case PB_DM_DATE: return "\"2026-01-31\"";
    case PB_DM_UUID: return UUID1;
    case PB_DM_JSONB: return "{\"k\":1}";
    default: return "\"smb\"";
    }
}

/* The values of an insert into table t that also sets column c. */
static void insert_values(const pb_dm_model *m, size_t t, size_t c, char *buf, size_t n)
{
    size_t o = (size_t)snprintf(buf, n, "{");
    int first = 1;
    for (size_t k = 0; k < pb_dm_column_count(m, t); k++) {
        int required = !pb_dm_column_nullable(m, t, k) && !pb_dm_column_has_default(m, t, k);
        if (k != c && !required)
            continue;
        o += (size_t)snprintf(buf + o, n - o, "%s\"%s\":%s", first ? "" : ",", pb_dm_column_name(m, t, k),
                              sample(pb_dm_column_type(m, t, k)));
        first = 0;
    }
    snprintf(buf + o, n - o, "}");
}

static void test_grid_columns(void **state)
{
    pb_dm_model *m = fx_model();
    static const char *const ops[] = {"select", "insert", "update", "delete"};
    size_t before = g_cases;
    for (size_t t = 0; t < 2; t++) {
        const char *tn = pb_dm_table_name(m, t);
        size_t nc = pb_dm_column_count(m, t);
        for (size_t c = 0; c < nc; c++) {
            const char *cn = pb_dm_column_name(m, t, c);
            for (size_t o = 0; o < 4; o++) {
                for (int member = 0; member < 2; member++) {
                    /* the rule's columns: all, or all but c (the required
                     * insert columns stay writable unless c is one) */
                    char cols[1024];
                    size_t k = (size_t)snprintf(cols, sizeof cols, "[");
                    int first = 1;
                    for (size_t x = 0; x < nc; x++) {
                        if (!member && x == c)
                            continue;
                        k += (size_t)snprintf(cols + k, sizeof cols - k, "%s\"%s\"", first ? "" : ",",
                                              pb_dm_column_name(m, t, x));
                        first = 0;
                    }
                    snprintf(cols + k, sizeof cols - k, "]");
                    char spec[2048], steps[2048], vals[1024], ctx[256];
                    snprintf(spec, sizeof spec,
                             "{\"rules\":[{\"table\":\"%s\",\"operations\":[\"%s\"],\"columns\":%s,\"requireWhere\":"
                             "false}]}",
                             tn, ops[o], cols);
                    const char *sv = sample(pb_dm_column_type(m, t, c));
                    pb_dm_type ct = pb_dm_column_type(m, t, c);
                    const char *wop = ct == PB_DM_JSONB ? "eq" : "ne";
                    switch (o) {
                    case 0:
                        snprintf(steps, sizeof steps, "[{\"name\":\"s\",\"operation\":\"select\",\"table\":\"%s\","
                                 "\"columns\":[\"%s\"]}]", tn, cn);
                        break;
                    case 1:
                        insert_values(m, t, c, vals, sizeof vals);
                        snprintf(steps, sizeof steps, "[{\"name\":\"s\",\"operation\":\"insert\",\"table\":\"%s\","
                                 "\"values\":%s}]", tn, vals);
                        break;
                    case 2:
                        snprintf(steps, sizeof steps, "[{\"name\":\"s\",\"operation\":\"update\",\"table\":\"%s\","
                                 "\"values\":{\"%s\":%s}}]", tn, cn, sv);
                        break;
                    default:
                        snprintf(steps, sizeof steps, "[{\"name\":\"s\",\"operation\":\"delete\",\"table\":\"%s\","
                                 "\"where\":[{\"column\":\"%s\",\"op\":\"%s\",\"value\":%s}]}]", tn, cn, wop, sv);
                        break;
                    }
                    snprintf(ctx, sizeof ctx, "grid %s.%s %s member=%d", tn, cn, ops[o], member);
                    expect x;
                    if (member)
                        x = ALLOW(0);
                    else if (o == 0 || o == 3)
                        x = DENY(PB_DECIDE_R_NOT_READABLE, 0, 0, "is not readable", NULL);
                    else
                        x = DENY(PB_DECIDE_R_NOT_WRITABLE, 0, 0, "is not writable", NULL);
                    one(m, spec, steps, 0, -1, x, ctx);
                }
            }
        }
    }
    printf("column x operation x membership cases: %zu\n", g_cases - before);
    pb_dm_free(m);
}

/* ---- generated: deny overrides allow ---------------------------------------------- */

static void test_grid_deny(void **state)
{
    pb_dm_model *m = fx_model();
    static const char *const ops[] = {"select", "insert", "update", "delete"};
    typedef struct {
        int op;
        int touches_name;
        const char *step;
    } st;
    static const st steps[] = {
        {0, 0, "[{\"name\":\"s\",\"operation\":\"select\",\"table\":\"customers\",\"columns\":[\"id\"]}]"},
        {0, 1, "[{\"name\":\"s\",\"operation\":\"select\",\"table\":\"customers\",\"columns\":[\"id\",\"name\"]}]"},
        {0, 1, "[{\"name\":\"s\",\"operation\":\"select\",\"table\":\"customers\"}]"},
        {0, 1, "[{\"name\":\"s\",\"operation\":\"select\",\"table\":\"customers\",\"columns\":[\"id\"],\"where\":[{"
               "\"column\":\"name\",\"op\":\"isNull\"}]}]"},
        {1, 0, "[{\"name\":\"s\",\"operation\":\"insert\",\"table\":\"customers\",\"values\":{\"email\":\"e\"}}]"},
        {1, 1, "[{\"name\":\"s\",\"operation\":\"insert\",\"table\":\"customers\",\"values\":{\"email\":\"e\","
               "\"name\":\"n\"}}]"},
        {2, 0, "[{\"name\":\"s\",\"operation\":\"update\",\"table\":\"customers\",\"values\":{\"score\":1}}]"},
        {2, 1, "[{\"name\":\"s\",\"operation\":\"update\",\"table\":\"customers\",\"values\":{\"name\":\"n\"}}]"},
        {2, 1, "[{\"name\":\"s\",\"operation\":\"update\",\"table\":\"customers\",\"values\":{\"score\":1},\"where\":[{"
               "\"column\":\"name\",\"op\":\"eq\",\"value\":\"x\"}]}]"},
        {3, 1, "[{\"name\":\"s\",\"operation\":\"delete\",\"table\":\"customers\",\"where\":[{\"column\":\"score\","
               "\"op\":\"eq\",\"value\":1}]}]"},
    };
    size_t before = g_cases;
    for (int dop = -1; dop < 4; dop++) {           /* -1: deny without operations = all */
        for (int dcols = 0; dcols < 2; dcols++) {  /* deny the whole op, or only column name */
            for (int star = 0; star < 2; star++) { /* table "customers" or "*" (no columns with *) */
                if (star && dcols)
                    continue;
                for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
                    char spec[1024], dops[64] = "", ctx[256];
                    if (dop >= 0)
                        snprintf(dops, sizeof dops, ",\"operations\":[\"%s\"]", ops[dop]);
                    snprintf(spec, sizeof spec,
                             "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\",\"insert\",\"update\","
                             "\"delete\"],\"requireWhere\":false}],\"deny\":[{\"table\":\"%s\"%s%s}]}",
                             star ? "*" : "customers", dops, dcols ? ",\"columns\":[\"name\"]" : "");
                    int op_hit = dop < 0 || dop == steps[s].op;
                    int denied = op_hit && (!dcols || steps[s].touches_name);
                    snprintf(ctx, sizeof ctx, "deny op=%d cols=%d star=%d step=%zu", dop, dcols, star, s);
                    one(m, spec, steps[s].step, 0, -1,
                        denied ? DENY(PB_DECIDE_R_DENY_RULE, 0, 1, "denied by AgentPolicy tenant-acme/p spec.deny[0]",
                                      NULL)
                               : ALLOW(0),
                        ctx);
                }
            }
        }
    }
    /* a wildcard deny applies to the other table too */
    one(m, "{\"rules\":[{\"table\":\"invoices\",\"operations\":[\"select\"]}],\"deny\":[{\"table\":\"*\","
           "\"operations\":[\"select\"]}]}",
        "[{\"name\":\"s\",\"operation\":\"select\",\"table\":\"invoices\"}]", 0, -1,
        DENY(PB_DECIDE_R_DENY_RULE, 0, 1, NULL, NULL), "wildcard deny invoices");
    printf("deny override cases: %zu\n", g_cases - before);
    pb_dm_free(m);
}

/* ---- generated: row caps x approvals ------------------------------------------------ */

static void test_grid_rows_and_approvals(void **state)
{
    pb_dm_model *m = fx_model();
    static const long long max_rows[] = {0, 10};
    static const long long per_step[] = {0, 20};
    static const long long limits[] = {0, 5, 15, 25};
    static const long long rows[] = {-1, 8, 30};
    static const long long above[] = {-1, 0, 9};
    size_t before = g_cases;
    for (size_t a = 0; a < 2; a++)
        for (size_t b = 0; b < 2; b++)
            for (size_t c = 0; c < 4; c++)
                for (size_t d = 0; d < 3; d++)
                    for (size_t f = 0; f < 3; f++) {
                        char spec[1024], mr[32] = "", lim[64] = "", ap[64] = "", steps[512], ctx[128], sl[32] = "";
                        if (max_rows[a])
                            snprintf(mr, sizeof mr, ",\"maxRows\":%lld", max_rows[a]);
                        if (per_step[b])
                            snprintf(lim, sizeof lim, ",\"limits\":{\"rowsPerStep\":%lld}", per_step[b]);
                        if (above[f] >= 0)
                            snprintf(ap, sizeof ap, ",\"approval\":{\"rowsAbove\":%lld}", above[f]);
                        snprintf(spec, sizeof spec,
                                 "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"columns\":[\"id\"]"
                                 "%s%s}]%s,\"approvers\":[{\"kind\":\"User\",\"name\":\"alice\"}]}",
                                 mr, ap, lim);
                        if (limits[c])
                            snprintf(sl, sizeof sl, ",\"limit\":%lld", limits[c]);
                        snprintf(steps, sizeof steps,
                                 "[{\"name\":\"s\",\"operation\":\"select\",\"table\":\"customers\",\"columns\":[\"id\"]"
                                 "%s}]",
                                 sl);
                        long long cap = PB_POL_HARD_MAX_ROWS;
                        if (per_step[b] && per_step[b] < cap)
                            cap = per_step[b];
                        if (max_rows[a] && max_rows[a] < cap)
                            cap = max_rows[a];
                        long long asked = limits[c] > rows[d] ? limits[c] : rows[d];
                        long long eff = limits[c] && limits[c] < cap ? limits[c] : cap;
                        long long est = rows[d] >= 0 ? rows[d] : eff;
                        expect x;
                        if (asked > cap)
                            x = DENY(PB_DECIDE_R_TOO_MANY_ROWS, 0, 0, NULL, NULL);
                        else if (above[f] >= 0 && est > above[f])
                            x = APPROVE(0);
                        else
                            x = ALLOW(0);
                        snprintf(ctx, sizeof ctx, "rows maxRows=%lld perStep=%lld limit=%lld rows=%lld above=%lld",
                                 max_rows[a], per_step[b], limits[c], rows[d], above[f]);
                        one(m, spec, steps, 0, rows[d], x, ctx);
                    }
    /* insert row counts against the caps */
    for (int n = 1; n <= 12; n++) {
        char steps[4096], ctx[64];
        size_t o = (size_t)snprintf(steps, sizeof steps,
                                    "[{\"name\":\"s\",\"operation\":\"insert\",\"table\":\"customers\",\"rows\":[");
        for (int i = 0; i < n; i++)
            o += (size_t)snprintf(steps + o, sizeof steps - o, "%s{\"email\":\"e%d\"}", i ? "," : "", i);
        snprintf(steps + o, sizeof steps - o, "]}]");
        snprintf(ctx, sizeof ctx, "insert %d rows, maxRows 10", n);
        one(m, "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"insert\"],\"maxRows\":10}]}", steps, 0, -1,
            n > 10 ? DENY(PB_DECIDE_R_TOO_MANY_ROWS, 0, 0, "rows, more than the 10 allowed by the rule's "
                                                           "maxRows; split it into steps of at most 10 rows",
                          "spec.steps[0].rows")
                   : ALLOW(0),
            ctx);
    }
    printf("row cap x approval cases: %zu\n", g_cases - before);
    pb_dm_free(m);
}

/* ---- generated: broken policies deny every step ---------------------------------- */

static const char *const BROKEN[] = {
    "[]",
    "{}",
    "{\"rules\":[]}",
    "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"readableColums\":[\"id\"]}]}",
    "{\"rules\":[{\"table\":\"customer\",\"operations\":[\"select\"]}]}",
    "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"columns\":[\"emial\"]}]}",
    "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"rowConstraints\":[{\"column\":\"score\","
    "\"op\":\"eq\",\"value\":\"x\"}]}]}",
    "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"]}],\"dataModel\":\"shop\"}",
    "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"]}],\"enforcement\":\"Strict\"}",
    "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"]}],\"deny\":[{\"table\":\"nope\"}]}",
    "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"]}],\"limits\":{\"rowsPerStep\":-1}}",
    "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"]}],\"subjects\":[{\"kind\":\"Pod\",\"name\":\"x\"}]}",
    "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"]}],\"extra\":1}",
    "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"maxRows\":1.5}]}",
    "{\"rules\":[{\"table\":\"customers\",\"operations\":\"select\"}]}",
    "{\"rules\":[null]}",
};

static const char *const ANY_STEPS[] = {
    "[{\"name\":\"s\",\"operation\":\"select\",\"table\":\"customers\",\"columns\":[\"id\"]}]",
    "[{\"name\":\"s\",\"operation\":\"insert\",\"table\":\"customers\",\"values\":{\"email\":\"e\"}}]",
    "[{\"name\":\"s\",\"operation\":\"update\",\"table\":\"customers\",\"values\":{\"name\":\"n\"},\"where\":[{"
    "\"column\":\"score\",\"op\":\"eq\",\"value\":1}]}]",
    "[{\"name\":\"s\",\"operation\":\"delete\",\"table\":\"invoices\",\"where\":[{\"column\":\"paid\",\"op\":\"eq\","
    "\"value\":true}]}]",
};

static void test_broken_policies_deny(void **state)
{
    pb_dm_model *m = fx_model();
    size_t before = g_cases;
    for (size_t b = 0; b < sizeof BROKEN / sizeof BROKEN[0]; b++)
        for (size_t s = 0; s < sizeof ANY_STEPS / sizeof ANY_STEPS[0]; s++) {
            char ctx[64];
            snprintf(ctx, sizeof ctx, "broken %zu step %zu", b, s);
            one(m, BROKEN[b], ANY_STEPS[s], 0, -1,
                DENY(PB_DECIDE_R_BROKEN, -1, 0, "is invalid and denies every step until it is fixed: spec", ""), ctx);
        }
    /* NULL model: the policy is broken and denies with that reason */
    json_t *spec = fx_json("{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\",\"insert\",\"update\","
                           "\"delete\"]}]}");
    pb_pol_opts o = {.ns = FX_NS, .name = "nomodel"};
    pb_pol *p;
    pb_err e;
    pb_pol_compile(spec, NULL, &o, &p, &e);
    json_decref(spec);
    for (size_t s = 0; s < sizeof ANY_STEPS / sizeof ANY_STEPS[0]; s++) {
        int rc;
        pb_steps *w = fx_steps(m, ANY_STEPS[s], &rc, &e);
        pb_decision d;
        pb_decide_step(p, w, 0, -1, &d);
        check(&d, DENY(PB_DECIDE_R_BROKEN, -1, 0, "no DataModel", NULL), "null model");
        pb_step_free(w);
    }
    pb_pol_free(p);
    printf("broken policy cases: %zu\n", g_cases - before);
    pb_dm_free(m);
}

/* A policy compiled against another DataModel (newer version, or the same
 * version with other content) decides nothing. */
static void test_model_mismatch(void **state)
{
    pb_dm_model *m = fx_model(), *m4 = NULL, *m3b = NULL;
    pb_err e;
    char *t = strdup(FX_MODEL);
    char *v = strstr(t, "\"version\":3");
    v[10] = '4';
    assert_int_equal(pb_dm_parse("crm", t, &m4, &e), 0);
    v[10] = '3';
    char *born = strstr(t, "\"born\"");
    memcpy(born, "\"bxrn\"", 6);
    assert_int_equal(pb_dm_parse("crm", t, &m3b, &e), 0);
    free(t);
    int rc;
    pb_pol *p = fx_policy(m, "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"]}]}", &rc, &e);
    const pb_dm_model *others[] = {m4, m3b};
    for (int i = 0; i < 2; i++) {
        pb_steps *w = fx_steps(others[i], S1(STEP("select", "customers", ",\"columns\":[\"id\"]")), &rc, &e);
        pb_decision d;
        pb_decide_step(p, w, 0, -1, &d);
        check(&d, DENY(PB_DECIDE_R_MODEL_MISMATCH, -1, 0, "was checked against DataModel crm version 3", NULL),
              "model mismatch");
        pb_step_free(w);
    }
    pb_pol_free(p);
    pb_dm_free(m);
    pb_dm_free(m4);
    pb_dm_free(m3b);
}

/* ---- generated: row constraints on written values, every type --------------------- */

typedef struct {
    const char *column;
    const char *constraint; /* op and value JSON, e.g. "\"op\":\"lt\",\"value\":10" */
    const char *value;      /* the value written */
    int ok;
} cons_case;

static const cons_case CONS[] = {
    {"name", "\"op\":\"eq\",\"value\":\"a\"", "\"a\"", 1},
    {"name", "\"op\":\"eq\",\"value\":\"a\"", "\"A\"", 0},
    {"name", "\"op\":\"ne\",\"value\":\"a\"", "\"b\"", 1},
    {"name", "\"op\":\"ne\",\"value\":\"a\"", "null", 0},
    {"name", "\"op\":\"like\",\"value\":\"a%z\"", "\"abcz\"", 1},
    {"name", "\"op\":\"like\",\"value\":\"a%z\"", "\"abcza\"", 0},
    {"name", "\"op\":\"like\",\"value\":\"a_c\"", "\"a\\u00e9c\"", 1},
    {"name", "\"op\":\"like\",\"value\":\"a\\\\%\"", "\"a%\"", 1},
    {"name", "\"op\":\"like\",\"value\":\"a\\\\%\"", "\"ab\"", 0},
    {"name", "\"op\":\"isNull\"", "null", 1},
    {"name", "\"op\":\"isNull\"", "\"x\"", 0},
    {"name", "\"op\":\"notNull\"", "\"x\"", 1},
    {"name", "\"op\":\"notNull\"", "null", 0},
    {"name", "\"op\":\"in\",\"value\":[\"a\",\"b\"]", "\"b\"", 1},
    {"name", "\"op\":\"notIn\",\"value\":[\"a\",\"b\"]", "\"b\"", 0},
    {"name", "\"op\":\"notIn\",\"value\":[\"a\",\"b\"]", "\"c\"", 1},
    {"name", "\"op\":\"notIn\",\"value\":[\"a\",\"b\"]", "null", 0},
    {"segment", "\"op\":\"in\",\"value\":[\"smb\",\"midmarket\"]", "\"smb\"", 1},
    {"segment", "\"op\":\"in\",\"value\":[\"smb\",\"midmarket\"]", "\"enterprise\"", 0},
    {"segment", "\"op\":\"like\",\"value\":\"%market\"", "\"midmarket\"", 1},
    {"score", "\"op\":\"lt\",\"value\":10", "9", 1},
    {"score", "\"op\":\"lt\",\"value\":10", "10", 0},
    {"score", "\"op\":\"le\",\"value\":10", "10", 1},
    {"score", "\"op\":\"gt\",\"value\":-3", "-2", 1},
    {"score", "\"op\":\"ge\",\"value\":-3", "-4", 0},
    {"score", "\"op\":\"in\",\"value\":[1,2,3]", "3", 1},
    {"big", "\"op\":\"gt\",\"value\":9000000000", "9000000001", 1},
    {"big", "\"op\":\"gt\",\"value\":9000000000", "9000000000", 0},
    {"active", "\"op\":\"eq\",\"value\":true", "true", 1},
    {"active", "\"op\":\"eq\",\"value\":true", "false", 0},
    {"active", "\"op\":\"ne\",\"value\":true", "false", 1},
    {"created_at", "\"op\":\"lt\",\"value\":\"2026-01-31T10:00:00Z\"", "\"2026-01-31T11:59:59+02:00\"", 1},
    {"created_at", "\"op\":\"lt\",\"value\":\"2026-01-31T10:00:00Z\"", "\"2026-01-31T12:00:00+02:00\"", 0},
    {"created_at", "\"op\":\"eq\",\"value\":\"2026-01-31T10:00:00Z\"", "\"2026-01-31T10:00:00.000000Z\"", 1},
    {"created_at", "\"op\":\"ge\",\"value\":\"2026-01-31T10:00:00Z\"", "\"2026-01-31T10:00:00.000001Z\"", 1},
    {"born", "\"op\":\"ge\",\"value\":\"2000-01-01\"", "\"1999-12-31\"", 0},
    {"born", "\"op\":\"ge\",\"value\":\"2000-01-01\"", "\"2000-01-01\"", 1},
    {"born", "\"op\":\"notIn\",\"value\":[\"2000-01-01\"]", "\"2000-01-02\"", 1},
    {"id", "\"op\":\"eq\",\"value\":" UUID1, "\"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11\"", 1},
    {"id", "\"op\":\"ne\",\"value\":" UUID1, UUID1, 0},
    {"meta", "\"op\":\"eq\",\"value\":{\"a\":1,\"b\":[2]}", "{\"b\":[2],\"a\":1}", 1},
    {"meta", "\"op\":\"eq\",\"value\":{\"a\":1}", "{\"a\":2}", 0},
    {"meta", "\"op\":\"notNull\"", "[]", 1},
};

static const cons_case CONS_INV[] = {
    {"amount", "\"op\":\"le\",\"value\":\"1000.00\"", "\"1000\"", 1},
    {"amount", "\"op\":\"le\",\"value\":\"1000.00\"", "1000", 1},
    {"amount", "\"op\":\"le\",\"value\":\"1000.00\"", "\"1000.01\"", 0},
    {"amount", "\"op\":\"gt\",\"value\":\"-1.5\"", "\"-1.49\"", 1},
    {"amount", "\"op\":\"gt\",\"value\":\"-1.5\"", "\"-1.51\"", 0},
    {"amount", "\"op\":\"gt\",\"value\":\"-1.5\"", "\"-10\"", 0},
    {"amount", "\"op\":\"lt\",\"value\":\"0.1\"", "\"0.09\"", 1},
    {"amount", "\"op\":\"lt\",\"value\":\"0.1\"", "\"0.10\"", 0},
    {"amount", "\"op\":\"eq\",\"value\":\"5\"", "\"005.00\"", 1},
    {"amount", "\"op\":\"in\",\"value\":[\"1\",\"2.5\"]", "\"2.50\"", 1},
    {"amount", "\"op\":\"ge\",\"value\":\"99999999.99\"", "\"100000000\"", 1},
    {"amount", "\"op\":\"lt\",\"value\":\"-0.00\"", "\"0\"", 0},
    {"due_on", "\"op\":\"isNull\"", "\"2026-01-01\"", 0},
    {"paid", "\"op\":\"eq\",\"value\":false", "false", 1},
};

static void test_grid_constraints(void **state)
{
    pb_dm_model *m = fx_model();
    size_t before = g_cases;
    for (int inv = 0; inv < 2; inv++) {
        const cons_case *cs = inv ? CONS_INV : CONS;
        size_t n = inv ? sizeof CONS_INV / sizeof CONS_INV[0] : sizeof CONS / sizeof CONS[0];
        const char *table = inv ? "invoices" : "customers";
        for (size_t i = 0; i < n; i++) {
            for (int ins = 0; ins < 2; ins++) {
                if (ins && strcmp(cs[i].value, "null") == 0 && (strcmp(cs[i].column, "paid") == 0))
                    continue;
                char spec[1024], steps[1024], ctx[300];
                snprintf(spec, sizeof spec,
                         "{\"rules\":[{\"table\":\"%s\",\"operations\":[\"insert\",\"update\"],\"requireWhere\":false,"
                         "\"rowConstraints\":[{\"column\":\"%s\",%s}]}]}",
                         table, cs[i].column, cs[i].constraint);
                if (ins)
                    snprintf(steps, sizeof steps,
                             "[{\"name\":\"s\",\"operation\":\"insert\",\"table\":\"%s\",\"values\":{%s\"%s\":%s}}]",
                             table, inv ? "\"customer_id\":" UUID1 "," : (strcmp(cs[i].column, "email") ? "\"email\":\"e\"," : ""),
                             cs[i].column, cs[i].value);
                else
                    snprintf(steps, sizeof steps,
                             "[{\"name\":\"s\",\"operation\":\"update\",\"table\":\"%s\",\"values\":{\"%s\":%s}}]",
                             table, cs[i].column, cs[i].value);
                if (inv && ins && strcmp(cs[i].column, "amount"))
                    snprintf(steps, sizeof steps,
                             "[{\"name\":\"s\",\"operation\":\"insert\",\"table\":\"invoices\",\"values\":{"
                             "\"customer_id\":" UUID1 ",\"amount\":1,\"%s\":%s}}]",
                             cs[i].column, cs[i].value);
                snprintf(ctx, sizeof ctx, "%s %s.%s {%s} value %s", ins ? "insert" : "update", table, cs[i].column,
                         cs[i].constraint, cs[i].value);
                one(m, spec, steps, 0, -1,
                    cs[i].ok ? ALLOW(0) : DENY(PB_DECIDE_R_CONSTRAINT, 0, 0, "is outside spec.rules[0].rowConstraints[0]", NULL),
                    ctx);
            }
        }
    }
    /* an insert that leaves a constrained column to its default: ask for it */
    one(m, "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"insert\"],\"rowConstraints\":[{\"column\":\"segment\","
           "\"op\":\"eq\",\"value\":\"smb\"}]}]}",
        "[{\"name\":\"s\",\"operation\":\"insert\",\"table\":\"customers\",\"values\":{\"email\":\"e\"}}]", 0, -1,
        DENY(PB_DECIDE_R_CONSTRAINT, 0, 0,
             "an insert must set column segment, which spec.rules[0].rowConstraints[0] constrains (segment eq \"smb\")",
             "spec.steps[0].values.segment"),
        "insert missing constrained column");
    printf("row constraint cases: %zu\n", g_cases - before);
    pb_dm_free(m);
}

/* ---- closest rule and first match ------------------------------------------------- */

static void test_rule_choice(void **state)
{
    pb_dm_model *m = fx_model();
    const char *spec =
        "{\"rules\":["
        "{\"name\":\"narrow\",\"table\":\"customers\",\"operations\":[\"select\"],\"columns\":[\"id\"]},"
        "{\"name\":\"wider\",\"table\":\"customers\",\"operations\":[\"select\"],\"columns\":[\"id\",\"name\"],\"maxRows\":5},"
        "{\"name\":\"other\",\"table\":\"customers\",\"operations\":[\"update\"],\"columns\":[\"name\"]}]}";
    one(m, spec, S1(STEP("select", "customers", ",\"columns\":[\"id\"]")), 0, -1, ALLOW(0), "first matching rule");
    one(m, spec, S1(STEP("select", "customers", ",\"columns\":[\"id\",\"name\"]")), 0, -1, ALLOW(1), "second rule");
    /* name readable by rule 1, but its maxRows fails: rule 1 came closer */
    one(m, spec, S1(STEP("select", "customers", ",\"columns\":[\"id\",\"name\"],\"limit\":6")), 0, -1,
        DENY(PB_DECIDE_R_TOO_MANY_ROWS, 1, 0, "spec.rules[1] \"wider\"", NULL), "closest rule explains");
    one(m, spec, S1(STEP("select", "customers", ",\"columns\":[\"score\"]")), 0, -1,
        DENY(PB_DECIDE_R_NOT_READABLE, 0, 0, "spec.rules[0] \"narrow\"", NULL), "ties: the first");
    one(m, spec, S1(STEP("delete", "customers", WHERE_ID)), 0, -1,
        DENY(PB_DECIDE_R_NO_RULE, -1, 0,
             "no rule of AgentPolicy tenant-acme/p allows delete on customers; the policy needs a rule {table: "
             "customers, operations: [delete]}",
             "spec.steps[0].operation"),
        "no rule for the op");
    one(m, spec, S1(STEP("select", "invoices", "")), 0, -1, DENY(PB_DECIDE_R_NO_RULE, -1, 0, NULL, NULL),
        "no rule for the table");
    pb_dm_free(m);
}

/* ---- policy sets ------------------------------------------------------------------------ */

typedef struct {
    pb_dm_model *m;
    pb_pol *p[8];
    size_t n;
    pb_polset *set;
} fxset;

static void set_add(fxset *s, const char *name, const char *spec)
{
    pb_err e;
    int rc;
    s->p[s->n++] = fx_policy_named(s->m, name, spec, &rc, &e);
}

static void set_build(fxset *s)
{
    pb_err e;
    assert_int_equal(pb_polset_build((const pb_pol *const *)s->p, s->n, &s->set, &e), 0);
}

static void set_free(fxset *s)
{
    pb_polset_free(s->set);
    for (size_t i = 0; i < s->n; i++)
        pb_pol_free(s->p[i]);
    s->n = 0;
    s->set = NULL;
}

static void set_decide(fxset *s, const pb_subj_user *u, const char *steps, expect x, const char *policy,
                       size_t want_audit, const char *ctx)
{
    pb_err e;
    int rc;
    pb_steps *w = fx_steps(s->m, steps, &rc, &e);
    assert_int_equal(rc, 0);
    pb_decision d, audit[4];
    size_t na = 99;
    assert_int_equal(pb_decide_set(s->set, FX_NS, u, w, 0, -1, &d, audit, 4, &na), 0);
    check(&d, x, ctx);
    if (policy && (!d.policy || strcmp(pb_pol_name(d.policy), policy))) {
        g_failed++;
        fprintf(stderr, "FAIL %s: decided by %s, want %s\n", ctx, d.policy ? pb_pol_name(d.policy) : "(none)", policy);
    }
    if (na != want_audit) {
        g_failed++;
        fprintf(stderr, "FAIL %s: %zu audit decisions, want %zu\n", ctx, na, want_audit);
    }
    for (size_t i = 0; i < na && i < 4; i++)
        assert_true(pb_pol_audit(audit[i].policy));
    pb_step_free(w);
}

#define SEL_ID S1(STEP("select", "customers", ",\"columns\":[\"id\"]"))
#define SEL_NAME S1(STEP("select", "customers", ",\"columns\":[\"id\",\"name\"]"))
#define R_SEL(cols) "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"columns\":" cols "}]"

static void test_policy_sets(void **state)
{
    fxset s = {.m = fx_model()};
    pb_subj_user agent = fx_user(FX_AGENT), other = fx_user("system:serviceaccount:tenant-acme:other");

    /* union of allows; the first allowing policy decides */
    set_add(&s, "a", R_SEL("[\"id\"]") "}");
    set_add(&s, "b", R_SEL("[\"id\",\"name\"]") "}");
    set_build(&s);
    set_decide(&s, &agent, SEL_ID, ALLOW(0), "a", 0, "set: first allow");
    set_decide(&s, &agent, SEL_NAME, ALLOW(0), "b", 0, "set: union");
    set_decide(&s, &other, SEL_ID,
               DENY(PB_DECIDE_R_NO_POLICY, -1, 0,
                    "no enforcing AgentPolicy in namespace tenant-acme applies to "
                    "system:serviceaccount:tenant-acme:other",
                    NULL),
               NULL, 0, "set: no policy for that subject");
    set_free(&s);

    /* a deny in one policy overrides an allow in another */
    set_add(&s, "a", R_SEL("[\"id\",\"name\"]") "}");
    set_add(&s, "b", R_SEL("[\"id\"]") ",\"deny\":[{\"table\":\"customers\",\"columns\":[\"name\"]}]}");
    set_build(&s);
    set_decide(&s, &agent, SEL_NAME, DENY(PB_DECIDE_R_DENY_RULE, 0, 1, NULL, NULL), "b", 0, "set: deny overrides");
    set_decide(&s, &agent, SEL_ID, ALLOW(0), "a", 0, "set: no deny hit");
    set_free(&s);

    /* a broken enforcing policy denies even when another allows */
    set_add(&s, "a", R_SEL("[\"id\"]") "}");
    set_add(&s, "b", "{\"rules\":[{\"table\":\"customer\",\"operations\":[\"select\"]}]}");
    set_build(&s);
    set_decide(&s, &agent, SEL_ID, DENY(PB_DECIDE_R_BROKEN, -1, 0, "AgentPolicy tenant-acme/b is invalid", NULL), "b", 0,
               "set: broken overrides");
    set_free(&s);

    /* a broken policy whose subjects are unreadable applies to everyone in
     * the namespace */
    set_add(&s, "a", R_SEL("[\"id\"]") ",\"subjects\":[{\"kind\":\"User\",\"name\":\"zed\"}]}");
    set_add(&s, "b", R_SEL("[\"id\"]") ",\"subjects\":[{\"kind\":\"Usr\",\"name\":\"zed\"}]}");
    set_build(&s);
    pb_subj_user zed = fx_user("zed");
    set_decide(&s, &zed, SEL_ID, DENY(PB_DECIDE_R_BROKEN, -1, 0, NULL, NULL), "b", 0, "set: unreadable subjects");
    set_decide(&s, &agent, SEL_ID, DENY(PB_DECIDE_R_BROKEN, -1, 0, NULL, NULL), "b", 0,
               "set: unreadable subjects, anyone");
    set_free(&s);

    /* a misspelled enforcement is not Audit: the policy is broken and
     * enforcing, so it denies */
    set_add(&s, "a", R_SEL("[\"id\"]") "}");
    set_add(&s, "b", R_SEL("[\"id\"]") ",\"enforcement\":\"Audti\"}");
    set_build(&s);
    assert_false(pb_pol_audit(s.p[1]));
    set_decide(&s, &agent, SEL_ID, DENY(PB_DECIDE_R_BROKEN, -1, 0, "spec.enforcement: expected Enforce or Audit", NULL),
               "b", 0, "set: misspelled enforcement denies");
    set_free(&s);

    /* Audit policies are evaluated, recorded, and never change the outcome */
    set_add(&s, "a", R_SEL("[\"id\",\"name\"]") "}");
    set_add(&s, "b", R_SEL("[\"id\"]") ",\"enforcement\":\"Audit\"}");
    set_add(&s, "c", "{\"enforcement\":\"Audit\",\"rules\":[]}"); /* broken audit: recorded only */
    set_build(&s);
    set_decide(&s, &agent, SEL_NAME, ALLOW(0), "a", 2, "set: audit stricter, still allowed");
    set_free(&s);
    set_add(&s, "b", R_SEL("[\"id\",\"name\"]") ",\"enforcement\":\"Audit\"}");
    set_build(&s);
    set_decide(&s, &agent, SEL_ID, DENY(PB_DECIDE_R_NO_POLICY, -1, 0, NULL, NULL), NULL, 1,
               "set: audit alone allows nothing");
    set_free(&s);

    /* allow is preferred to needs-approval across policies; approval to deny */
    set_add(&s, "a", R_SEL("[\"id\"]") ",\"approvers\":[{\"kind\":\"User\",\"name\":\"alice\"}]}");
    s.p[0] = (pb_pol_free(s.p[0]), NULL);
    s.n = 0;
    set_add(&s, "a",
            "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"columns\":[\"id\"],\"approval\":{}}],"
            "\"approvers\":[{\"kind\":\"User\",\"name\":\"alice\"}]}");
    set_add(&s, "b", R_SEL("[\"id\"]") "}");
    set_build(&s);
    set_decide(&s, &agent, SEL_ID, ALLOW(0), "b", 0, "set: allow beats approval");
    set_decide(&s, &agent, SEL_NAME, DENY(PB_DECIDE_R_NOT_READABLE, 0, 0, NULL, NULL), "a", 0,
               "set: deny explained by first");
    set_free(&s);
    set_add(&s, "a",
            "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"columns\":[\"id\"],\"approval\":{}}],"
            "\"approvers\":[{\"kind\":\"User\",\"name\":\"alice\"}]}");
    set_add(&s, "b", "{\"rules\":[{\"table\":\"invoices\",\"operations\":[\"select\"]}]}");
    set_build(&s);
    set_decide(&s, &agent, SEL_ID, APPROVE(0), "a", 0, "set: approval");
    /* the explanation prefers a policy with a rule for the table */
    set_decide(&s, &agent, SEL_NAME, DENY(PB_DECIDE_R_NOT_READABLE, 0, 0, NULL, NULL), "a", 0, "set: best explanation");

    /* anonymous submitters get nothing */
    pb_subj_user anon = fx_user("system:anonymous");
    set_decide(&s, &anon, SEL_ID, DENY(PB_DECIDE_R_ANONYMOUS, -1, 0, "not authenticated", NULL), NULL, 0,
               "set: anonymous");
    pb_subj_user unauth = fx_user(FX_AGENT);
    unauth.groups[0] = "system:unauthenticated";
    unauth.n_groups = 1;
    set_decide(&s, &unauth, SEL_ID, DENY(PB_DECIDE_R_ANONYMOUS, -1, 0, NULL, NULL), NULL, 0, "set: unauthenticated");
    /* bad arguments */
    pb_decision d;
    assert_int_equal(pb_decide_set(NULL, FX_NS, &agent, NULL, 0, -1, &d, NULL, 0, NULL), PB_EINVAL);
    assert_int_equal(d.outcome, PB_DECIDE_DENY);
    set_free(&s);
    pb_dm_free(s.m);
}

static void test_too_many_policies(void **state)
{
    pb_dm_model *m = fx_model();
    size_t n = PB_DECIDE_MAX_APPLICABLE + 1;
    pb_pol **p = calloc(n, sizeof *p);
    for (size_t i = 0; i < n; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "p%zu", i);
        int rc;
        pb_err e;
        p[i] = fx_policy_named(m, nm, R_SEL("[\"id\"]") "}", &rc, &e);
    }
    pb_polset *s;
    pb_err e;
    assert_int_equal(pb_polset_build((const pb_pol *const *)p, n, &s, &e), 0);
    int rc;
    pb_steps *w = fx_steps(m, SEL_ID, &rc, &e);
    pb_subj_user u = fx_user(FX_AGENT);
    pb_decision d;
    pb_decide_set(s, FX_NS, &u, w, 0, -1, &d, NULL, 0, NULL);
    check(&d, DENY(PB_DECIDE_R_TOO_MANY_POLICIES, -1, 0, "257 AgentPolicies", NULL), "too many policies");
    pb_step_free(w);
    pb_polset_free(s);
    for (size_t i = 0; i < n; i++)
        pb_pol_free(p[i]);
    free(p);
    pb_dm_free(m);
}

static void test_workflow(void **state)
{
    fxset s = {.m = fx_model()};
    set_add(&s, "a",
            "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\"],\"columns\":[\"id\"]},"
            "{\"table\":\"invoices\",\"operations\":[\"update\"],\"columns\":[\"paid\",\"id\"],\"approval\":{}}],"
            "\"limits\":{\"stepsPerWorkflow\":3},\"approvers\":[{\"kind\":\"User\",\"name\":\"alice\"}]}");
    set_build(&s);
    pb_subj_user u = fx_user(FX_AGENT);
    pb_err e;
    int rc;
    pb_steps *w = fx_steps(s.m,
                           "[" STEP("select", "customers", ",\"columns\":[\"id\"]") ","
                           "{\"name\":\"t\",\"operation\":\"update\",\"table\":\"invoices\",\"values\":{\"paid\":true}" WHERE_ID "},"
                           "{\"name\":\"u\",\"operation\":\"select\",\"table\":\"customers\",\"columns\":[\"name\"]}]",
                           &rc, &e);
    assert_int_equal(rc, 0);
    pb_decision d[3];
    int first = 7;
    assert_int_equal(pb_decide_workflow(s.set, FX_NS, &u, w, d, &first), 2);
    assert_int_equal(first, 2);
    check(&d[0], ALLOW(0), "wf step 0");
    check(&d[1], APPROVE(1), "wf step 1");
    check(&d[2], DENY(PB_DECIDE_R_NOT_READABLE, 0, 0, NULL, NULL), "wf step 2");
    pb_step_free(w);
    /* four steps: over stepsPerWorkflow 3 */
    w = fx_steps(s.m,
                 "[" STEP("select", "customers", ",\"columns\":[\"id\"]") ","
                 "{\"name\":\"b\",\"operation\":\"select\",\"table\":\"customers\",\"columns\":[\"id\"]},"
                 "{\"name\":\"c\",\"operation\":\"select\",\"table\":\"customers\",\"columns\":[\"id\"]},"
                 "{\"name\":\"d\",\"operation\":\"select\",\"table\":\"customers\",\"columns\":[\"id\"]}]",
                 &rc, &e);
    pb_decision d4[4];
    assert_int_equal(pb_decide_workflow(s.set, FX_NS, &u, w, d4, &first), 4);
    assert_int_equal(first, 0);
    check(&d4[0], DENY(PB_DECIDE_R_TOO_MANY_STEPS, 0, 0, "the workflow has 4 steps, more than stepsPerWorkflow 3",
                       "spec.steps"),
          "wf too many steps");
    pb_step_free(w);
    assert_int_equal(pb_decide_workflow(NULL, FX_NS, &u, w, d4, &first), PB_EINVAL);
    set_free(&s);
    pb_dm_free(s.m);
}

static void test_names(void **state)
{
    assert_string_equal(pb_decide_outcome_name(PB_DECIDE_APPROVAL), "NeedsApproval");
    assert_string_equal(pb_decide_reason_name(PB_DECIDE_R_TOO_MANY_STEPS), "TooManySteps");
    assert_string_equal(pb_decide_reason_name(PB_DECIDE_R_BROKEN), "PolicyInvalid");
    assert_string_equal(pb_decide_reason_name((pb_decide_reason)99), "?");
}

static void test_total(void **state)
{
    printf("decision cases: %zu, failed: %zu\n", g_cases, g_failed);
    assert_int_equal(g_failed, 0);
    assert_true(g_cases >= 300);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_policy),   cmocka_unit_test(test_decision_payload),
        cmocka_unit_test(test_grid_columns),     cmocka_unit_test(test_grid_deny),
        cmocka_unit_test(test_grid_rows_and_approvals), cmocka_unit_test(test_broken_policies_deny),
        cmocka_unit_test(test_model_mismatch),   cmocka_unit_test(test_grid_constraints),
        cmocka_unit_test(test_rule_choice),      cmocka_unit_test(test_policy_sets),
        cmocka_unit_test(test_too_many_policies), cmocka_unit_test(test_workflow),
        cmocka_unit_test(test_names),            cmocka_unit_test(test_total),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
