/* Unit tests for agent/stmt: each step kind renders to the expected
 * parameterised statement; the rule's row constraints are ANDed in;
 * values (injection strings included) are only ever parameters; fromStep
 * binds an array parameter; the select fetch probes one row past the cap;
 * denied decisions and missing references are refused. */
#include "testutil.h"

#include "agent_fixture.h"
#include "agent/stmt.h"

typedef struct fixture {
    pb_dm_model *m;
    pb_pol *p;
    pb_steps *w;
    pb_decision d;
    pb_stmt s;
} fixture;

static const char *POLICY =
    "{\"rules\":[{\"table\":\"customers\",\"operations\":[\"select\",\"update\",\"delete\",\"insert\"],"
    "\"rowConstraints\":[{\"column\":\"segment\",\"op\":\"in\",\"value\":[\"smb\",\"midmarket\"]}],\"maxRows\":50},"
    "{\"table\":\"invoices\",\"operations\":[\"select\",\"update\"],\"maxRows\":100}]}";

/* Build step i of `steps`; returns pb_stmt_build's code. */
static int build(fixture *f, const char *steps, size_t i, pb_stmt_ref_fn refs, void *ud)
{
    pb_err e = {0};
    f->m = fx_model();
    f->p = fx_policy(f->m, POLICY, NULL, &e);
    int rc = 0;
    f->w = fx_steps(f->m, steps, &rc, &e);
    if (!f->w)
        fail_msg("steps: %s", e.msg);
    pb_decide_step(f->p, f->w, i, -1, &f->d);
    if (f->d.outcome == PB_DECIDE_DENY)
        return PB_EFORBIDDEN;
    return pb_stmt_build(f->w, i, &f->d, "t_acme", refs, ud, &f->s, &e);
}

static void done(fixture *f)
{
    pb_stmt_clear(&f->s);
    pb_step_free(f->w);
    pb_pol_free(f->p);
    pb_dm_free(f->m);
}

static void test_select(void **state)
{
    (void)state;
    fixture f = {0};
    assert_int_equal(build(&f,
                           "[{\"name\":\"a\",\"operation\":\"select\",\"table\":\"customers\",\"columns\":[\"id\",\"name\"],"
                           "\"where\":[{\"column\":\"name\",\"op\":\"eq\",\"value\":\"x'); DROP TABLE customers; --\"}],"
                           "\"orderBy\":[{\"column\":\"name\",\"descending\":true}],\"limit\":10}]",
                           0, NULL, NULL),
                     0);
    assert_string_equal(f.s.sql, "SELECT \"id\", \"name\" FROM \"t_acme\".\"customers\" WHERE (\"name\" = $1::text) AND "
                                 "(\"segment\" IN ($2::text, $3::text)) ORDER BY \"name\" DESC LIMIT 10");
    assert_int_equal(f.s.params.n, 3);
    assert_string_equal(f.s.params.values[0], "x'); DROP TABLE customers; --"); /* data, never SQL */
    assert_string_equal(f.s.params.values[1], "smb");
    assert_true(f.s.returns_rows);
    assert_int_equal(f.s.cap, 10); /* the lowest of maxRows (50) and the step's limit */
    assert_int_equal(f.s.fetch, 10);
    assert_false(f.s.fetch_is_probe);
    assert_int_equal(f.s.n_columns, 2);
    done(&f);
    /* No limit: fetch the cap plus one, to see "more than allowed". */
    assert_int_equal(build(&f, "[{\"name\":\"a\",\"operation\":\"select\",\"table\":\"invoices\",\"columns\":[\"id\"]}]", 0,
                           NULL, NULL),
                     0);
    assert_string_equal(f.s.sql, "SELECT \"id\" FROM \"t_acme\".\"invoices\" LIMIT 101");
    assert_true(f.s.fetch_is_probe);
    done(&f);
}

static void test_writes(void **state)
{
    (void)state;
    fixture f = {0};
    assert_int_equal(build(&f,
                           "[{\"name\":\"u\",\"operation\":\"update\",\"table\":\"customers\",\"values\":{\"name\":\"n\","
                           "\"score\":5,\"meta\":null},\"where\":[{\"column\":\"score\",\"op\":\"lt\",\"value\":3}]}]",
                           0, NULL, NULL),
                     0);
    assert_string_equal(f.s.sql, "UPDATE \"t_acme\".\"customers\" SET \"name\" = $1::text, \"score\" = $2::integer, "
                                 "\"meta\" = NULL WHERE (\"score\" < $3::integer) AND (\"segment\" IN ($4::text, $5::text))");
    assert_string_equal(f.s.params.values[1], "5");
    assert_false(f.s.returns_rows);
    done(&f);
    assert_int_equal(build(&f,
                           "[{\"name\":\"d\",\"operation\":\"delete\",\"table\":\"customers\",\"where\":[{\"column\":"
                           "\"active\",\"op\":\"eq\",\"value\":false}],\"limit\":5}]",
                           0, NULL, NULL),
                     0);
    assert_string_equal(f.s.sql, "DELETE FROM \"t_acme\".\"customers\" WHERE (\"active\" = $1::boolean) AND (\"segment\" "
                                 "IN ($2::text, $3::text))");
    assert_int_equal(f.s.cap, 5); /* the step's limit caps a write */
    done(&f);
    assert_int_equal(build(&f,
                           "[{\"name\":\"i\",\"operation\":\"insert\",\"table\":\"customers\",\"rows\":[{\"email\":\"a@x\","
                           "\"segment\":\"smb\"},{\"email\":\"b@x\",\"segment\":\"midmarket\"}]}]",
                           0, NULL, NULL),
                     0);
    assert_string_equal(f.s.sql, "INSERT INTO \"t_acme\".\"customers\" (\"email\", \"segment\") VALUES ($1::text, "
                                 "$2::text), ($3::text, $4::text)");
    assert_int_equal(f.s.params.n, 4);
    done(&f);
    /* Rows setting different columns are refused, not mis-aligned. */
    assert_int_equal(build(&f,
                           "[{\"name\":\"i\",\"operation\":\"insert\",\"table\":\"customers\",\"rows\":[{\"email\":\"a@x\","
                           "\"segment\":\"smb\"},{\"email\":\"b@x\",\"segment\":\"smb\",\"name\":\"b\"}]}]",
                           0, NULL, NULL),
                     PB_EINVAL);
    done(&f);
}

static int refs_ok(void *ud, size_t step, const char *field, const char *const **vals, size_t *n, pb_err *e)
{
    (void)e;
    static const char *const ids[] = {"9b2f7a51-4c43-4f8e-9d7b-3c1f4e5a6b7c", NULL, "a\"b"};
    assert_int_equal(step, 0);
    assert_string_equal(field, "id");
    (*(int *)ud)++;
    *vals = ids;
    *n = 3;
    return 0;
}

static int refs_missing(void *ud, size_t step, const char *field, const char *const **vals, size_t *n, pb_err *e)
{
    (void)ud, (void)step, (void)field, (void)vals, (void)n;
    return pb_err_set(e, PB_ENOTFOUND, "step 0 has not run");
}

static void test_from_step(void **state)
{
    (void)state;
    fixture f = {0};
    int calls = 0;
    const char *steps = "[{\"name\":\"find\",\"operation\":\"select\",\"table\":\"invoices\",\"columns\":[\"id\"],\"limit\":10},"
                        "{\"name\":\"pay\",\"operation\":\"update\",\"table\":\"invoices\",\"values\":{\"paid\":true},"
                        "\"where\":[{\"column\":\"id\",\"op\":\"in\",\"fromStep\":\"find\",\"field\":\"id\"}]}]";
    assert_int_equal(build(&f, steps, 1, refs_ok, &calls), 0);
    assert_int_equal(calls, 1);
    assert_string_equal(f.s.sql, "UPDATE \"t_acme\".\"invoices\" SET \"paid\" = $1::boolean WHERE (\"id\" = ANY ($2::uuid[]))");
    assert_string_equal(f.s.params.values[1], "{\"9b2f7a51-4c43-4f8e-9d7b-3c1f4e5a6b7c\",NULL,\"a\\\"b\"}");
    done(&f);
    assert_int_equal(build(&f, steps, 1, refs_missing, NULL), PB_ENOTFOUND);
    done(&f);
    assert_int_equal(build(&f, steps, 1, NULL, NULL), PB_EINVAL);
    done(&f);
}

static void test_denied_not_built(void **state)
{
    (void)state;
    fixture f = {0};
    /* Delete on invoices: no rule allows it. */
    assert_int_equal(build(&f, "[{\"name\":\"d\",\"operation\":\"delete\",\"table\":\"invoices\",\"where\":[{\"column\":"
                               "\"paid\",\"op\":\"eq\",\"value\":true}],\"limit\":1}]",
                           0, NULL, NULL),
                     PB_EFORBIDDEN);
    pb_stmt out;
    pb_err e = {0};
    assert_int_equal(pb_stmt_build(f.w, 0, &f.d, "t_acme", NULL, NULL, &out, &e), PB_EINVAL);
    assert_int_equal(pb_stmt_build(f.w, 7, &f.d, "t_acme", NULL, NULL, &out, &e), PB_EINVAL);
    done(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_writes),
        cmocka_unit_test(test_from_step),
        cmocka_unit_test(test_denied_not_built),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
