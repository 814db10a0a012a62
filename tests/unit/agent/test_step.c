/* Unit tests for agent/step (and the typed values of agent/pred it uses):
 * every column type with values that fit and values that do not, ops that
 * do not fit a type, references to earlier steps, limits on sizes, and
 * injection strings staying plain text values. Each refusal must name the
 * field. Cases are rows of a table; the count is printed. */
#include "testutil.h"

#include <string.h>

#include "agent_fixture.h"

typedef struct {
    const char *steps; /* JSON array of steps */
    int rc;            /* expected return code */
    const char *msg;   /* substring of the error message (rc != 0) */
} step_case;

/* W(where-object) builds a one-step select on customers with that where. */
#define SEL(where) "[{\"name\":\"s\",\"operation\":\"select\",\"table\":\"customers\",\"where\":[" where "]}]"
#define SELI(where) "[{\"name\":\"s\",\"operation\":\"select\",\"table\":\"invoices\",\"where\":[" where "]}]"
#define UPD(values) \
    "[{\"name\":\"u\",\"operation\":\"update\",\"table\":\"customers\",\"values\":" values \
    ",\"where\":[{\"column\":\"score\",\"op\":\"eq\",\"value\":1}]}]"
#define INS(values) "[{\"name\":\"i\",\"operation\":\"insert\",\"table\":\"invoices\",\"values\":" values "}]"

static const step_case CASES[] = {
    /* --- shapes --- */
    {"[{\"name\":\"a\",\"operation\":\"select\",\"table\":\"customers\"}]", 0, NULL},
    {"[]", PB_EINVAL, "spec.steps: expected a non-empty list"},
    {"{}", PB_EINVAL, "spec.steps"},
    {"[1]", PB_EINVAL, "spec.steps[0]: expected an object"},
    {"[{\"name\":\"a\",\"operation\":\"select\",\"table\":\"customer\"}]", PB_EINVAL,
     "spec.steps[0].table: DataModel crm (version 3) has no table \"customer\", did you mean \"customers\"?"},
    {"[{\"name\":\"a\",\"operation\":\"drop\",\"table\":\"customers\"}]", PB_EINVAL, "spec.steps[0].operation"},
    {"[{\"name\":\"A\",\"operation\":\"select\",\"table\":\"customers\"}]", PB_EINVAL, "spec.steps[0].name"},
    {"[{\"operation\":\"select\",\"table\":\"customers\"}]", PB_EINVAL, "spec.steps[0].name"},
    {"[{\"name\":\"a\",\"operation\":\"select\",\"table\":\"customers\",\"wehre\":[]}]", PB_EINVAL,
     "unknown field \"wehre\""},
    {"[{\"name\":\"a\",\"operation\":\"select\",\"table\":\"customers\"},"
     "{\"name\":\"a\",\"operation\":\"select\",\"table\":\"customers\"}]",
     PB_EINVAL, "spec.steps[1].name: \"a\" is also the name of spec.steps[0]"},
    {"[{\"name\":\"a\",\"operation\":\"select\",\"table\":\"customers\",\"columns\":[\"emial\"]}]", PB_EINVAL,
     "spec.steps[0].columns[0]: table customers has no column \"emial\", did you mean \"email\"?"},
    {"[{\"name\":\"a\",\"operation\":\"select\",\"table\":\"customers\",\"columns\":[\"id\",\"id\"]}]", PB_EINVAL,
     "listed twice"},
    {"[{\"name\":\"a\",\"operation\":\"select\",\"table\":\"customers\",\"columns\":[]}]", PB_EINVAL,
     "spec.steps[0].columns"},
    {"[{\"name\":\"a\",\"operation\":\"update\",\"table\":\"customers\",\"columns\":[\"id\"],\"values\":{\"name\":\"x\"}}]",
     PB_EINVAL, "spec.steps[0].columns: applies to select steps only"},
    {"[{\"name\":\"a\",\"operation\":\"update\",\"table\":\"customers\"}]", PB_EINVAL,
     "spec.steps[0].values: update needs values"},
    {"[{\"name\":\"a\",\"operation\":\"delete\",\"table\":\"customers\",\"values\":{\"name\":\"x\"}}]", PB_EINVAL,
     "values: applies to insert and update steps only"},
    {"[{\"name\":\"a\",\"operation\":\"insert\",\"table\":\"invoices\",\"where\":[],"
     "\"values\":{\"customer_id\":\"00000000-0000-0000-0000-000000000001\",\"amount\":1}}]",
     PB_EINVAL, "where: applies to select, update and delete steps only"},
    {"[{\"name\":\"a\",\"operation\":\"insert\",\"table\":\"invoices\",\"limit\":3,"
     "\"values\":{\"customer_id\":\"00000000-0000-0000-0000-000000000001\",\"amount\":1}}]",
     PB_EINVAL, "limit: applies to select, update and delete"},
    {"[{\"name\":\"a\",\"operation\":\"select\",\"table\":\"customers\",\"limit\":0}]", PB_EINVAL,
     "spec.steps[0].limit"},
    {"[{\"name\":\"a\",\"operation\":\"select\",\"table\":\"customers\",\"limit\":1000001}]", PB_EINVAL,
     "spec.steps[0].limit"},
    {"[{\"name\":\"a\",\"operation\":\"select\",\"table\":\"customers\",\"limit\":\"5\"}]", PB_EINVAL,
     "spec.steps[0].limit"},
    {"[{\"name\":\"a\",\"operation\":\"select\",\"table\":\"customers\",\"orderBy\":[{\"column\":\"score\","
     "\"descending\":true}]}]",
     0, NULL},
    {"[{\"name\":\"a\",\"operation\":\"select\",\"table\":\"customers\",\"orderBy\":[{\"column\":\"scor\"}]}]",
     PB_EINVAL, "spec.steps[0].orderBy[0].column: table customers has no column \"scor\""},
    {"[{\"name\":\"a\",\"operation\":\"select\",\"table\":\"customers\",\"orderBy\":[{\"column\":\"score\","
     "\"desc\":true}]}]",
     PB_EINVAL, "unknown field \"desc\""},
    {INS("{\"amount\":1}"), PB_EINVAL,
     "spec.steps[0].values: column invoices.customer_id is NOT NULL and has no default; give it a value"},
    {INS("{\"customer_id\":\"00000000-0000-0000-0000-000000000001\",\"amount\":null}"), PB_EINVAL,
     "spec.steps[0].values.amount: column invoices.amount is NOT NULL"},
    {INS("{\"customer_id\":\"00000000-0000-0000-0000-000000000001\",\"amount\":\"1.5\",\"due_on\":null}"), 0, NULL},
    {INS("{\"customer_id\":\"00000000-0000-0000-0000-000000000001\",\"amount\":\"1.5\",\"nope\":1}"), PB_EINVAL,
     "table invoices has no column \"nope\""},
    {"[{\"name\":\"a\",\"operation\":\"insert\",\"table\":\"invoices\",\"rows\":[]}]", PB_EINVAL, "rows"},
    {"[{\"name\":\"a\",\"operation\":\"insert\",\"table\":\"invoices\",\"rows\":[{}]}]", PB_EINVAL,
     "spec.steps[0].rows[0]: no values"},
    {"[{\"name\":\"a\",\"operation\":\"insert\",\"table\":\"invoices\",\"rows\":[{\"customer_id\":"
     "\"00000000-0000-0000-0000-000000000001\",\"amount\":1},{\"amount\":2}]}]",
     PB_EINVAL, "spec.steps[0].rows[1]: column invoices.customer_id is NOT NULL"},
    {"[{\"name\":\"a\",\"operation\":\"insert\",\"table\":\"invoices\",\"values\":{\"amount\":1},\"rows\":[]}]",
     PB_EINVAL, "give values (one row) or rows, not both"},

    /* --- every type: fitting and unfitting values --- */
    /* text */
    {SEL("{\"column\":\"name\",\"op\":\"eq\",\"value\":\"ann\"}"), 0, NULL},
    {SEL("{\"column\":\"name\",\"op\":\"eq\",\"value\":5}"), PB_EINVAL,
     "spec.steps[0].where[0].value: 5 is not a valid value for column customers.name (text): expected a string"},
    {SEL("{\"column\":\"name\",\"op\":\"like\",\"value\":\"a%\"}"), 0, NULL},
    {SEL("{\"column\":\"name\",\"op\":\"like\",\"value\":\"a\\\\\"}"), PB_EINVAL, "must not end with an escape"},
    {SEL("{\"column\":\"name\",\"op\":\"lt\",\"value\":\"m\"}"), PB_EINVAL,
     "spec.steps[0].where[0].op: lt does not apply to column customers.name (text)"},
    {SEL("{\"column\":\"name\",\"op\":\"eq\",\"value\":\"a\\u0000b\"}"), PB_EINVAL, "NUL"},
    /* integer */
    {SEL("{\"column\":\"score\",\"op\":\"gt\",\"value\":10}"), 0, NULL},
    {SEL("{\"column\":\"score\",\"op\":\"eq\",\"value\":\"10\"}"), PB_EINVAL, "expected a JSON integer"},
    {SEL("{\"column\":\"score\",\"op\":\"eq\",\"value\":1.5}"), PB_EINVAL, "number with a fraction"},
    {SEL("{\"column\":\"score\",\"op\":\"eq\",\"value\":2147483648}"), PB_EINVAL, "out of range for a 32-bit"},
    {SEL("{\"column\":\"score\",\"op\":\"eq\",\"value\":-2147483648}"), 0, NULL},
    {SEL("{\"column\":\"score\",\"op\":\"like\",\"value\":\"1%\"}"), PB_EINVAL, "like applies to text and enum"},
    {SEL("{\"column\":\"score\",\"op\":\"eq\",\"value\":[1,2]}"), PB_EINVAL, "takes one value, not a list (use op in)"},
    /* bigint */
    {SEL("{\"column\":\"big\",\"op\":\"eq\",\"value\":9223372036854775807}"), 0, NULL},
    {SEL("{\"column\":\"big\",\"op\":\"eq\",\"value\":true}"), PB_EINVAL, "(bigint): expected a JSON integer"},
    /* numeric(12,2) */
    {SELI("{\"column\":\"amount\",\"op\":\"lt\",\"value\":100}"), 0, NULL},
    {SELI("{\"column\":\"amount\",\"op\":\"lt\",\"value\":\"99.50\"}"), 0, NULL},
    {SELI("{\"column\":\"amount\",\"op\":\"lt\",\"value\":\"-0.5\"}"), 0, NULL},
    {SELI("{\"column\":\"amount\",\"op\":\"lt\",\"value\":\"0099.500\"}"), 0, NULL},
    {SELI("{\"column\":\"amount\",\"op\":\"lt\",\"value\":99.5}"), PB_EINVAL, "write it as a decimal string"},
    {SELI("{\"column\":\"amount\",\"op\":\"lt\",\"value\":\"1.005\"}"), PB_EINVAL,
     "(numeric(12,2)): at most 10 digits before and 2 after the decimal point"},
    {SELI("{\"column\":\"amount\",\"op\":\"lt\",\"value\":\"12345678901\"}"), PB_EINVAL, "at most 10 digits before"},
    {SELI("{\"column\":\"amount\",\"op\":\"lt\",\"value\":\"1e5\"}"), PB_EINVAL, "not a decimal number"},
    {SELI("{\"column\":\"amount\",\"op\":\"lt\",\"value\":\".5\"}"), PB_EINVAL, "not a decimal number"},
    {SELI("{\"column\":\"amount\",\"op\":\"lt\",\"value\":\"5.\"}"), PB_EINVAL, "not a decimal number"},
    {SELI("{\"column\":\"amount\",\"op\":\"lt\",\"value\":\"+5\"}"), PB_EINVAL, "not a decimal number"},
    {SELI("{\"column\":\"amount\",\"op\":\"lt\",\"value\":\"NaN\"}"), PB_EINVAL, "not a decimal number"},
    {SELI("{\"column\":\"amount\",\"op\":\"lt\",\"value\":\" 5\"}"), PB_EINVAL, "not a decimal number"},
    /* boolean */
    {SELI("{\"column\":\"paid\",\"op\":\"eq\",\"value\":false}"), 0, NULL},
    {SELI("{\"column\":\"paid\",\"op\":\"eq\",\"value\":\"false\"}"), PB_EINVAL, "expected true or false"},
    {SELI("{\"column\":\"paid\",\"op\":\"eq\",\"value\":0}"), PB_EINVAL, "expected true or false"},
    {SELI("{\"column\":\"paid\",\"op\":\"gt\",\"value\":false}"), PB_EINVAL, "gt does not apply"},
    {SELI("{\"column\":\"paid\",\"op\":\"eq\",\"value\":null}"), PB_EINVAL, "use op isNull or notNull"},
    /* date */
    {SELI("{\"column\":\"due_on\",\"op\":\"le\",\"value\":\"2024-02-29\"}"), 0, NULL},
    {SELI("{\"column\":\"due_on\",\"op\":\"le\",\"value\":\"2023-02-29\"}"), PB_EINVAL, "expected a date"},
    {SELI("{\"column\":\"due_on\",\"op\":\"le\",\"value\":\"2024-13-01\"}"), PB_EINVAL, "expected a date"},
    {SELI("{\"column\":\"due_on\",\"op\":\"le\",\"value\":\"24-01-01\"}"), PB_EINVAL, "expected a date"},
    {SELI("{\"column\":\"due_on\",\"op\":\"le\",\"value\":\"0000-01-01\"}"), PB_EINVAL, "expected a date"},
    {SELI("{\"column\":\"due_on\",\"op\":\"isNull\"}"), 0, NULL},
    {SELI("{\"column\":\"due_on\",\"op\":\"isNull\",\"value\":\"2024-01-01\"}"), PB_EINVAL, "takes no value"},
    /* timestamptz */
    {SEL("{\"column\":\"created_at\",\"op\":\"ge\",\"value\":\"2026-01-31T10:00:00Z\"}"), 0, NULL},
    {SEL("{\"column\":\"created_at\",\"op\":\"ge\",\"value\":\"2026-01-31T10:00:00.123456+02:00\"}"), 0, NULL},
    {SEL("{\"column\":\"created_at\",\"op\":\"ge\",\"value\":\"2026-01-31T10:00:00.1234567Z\"}"), PB_EINVAL,
     "more precise than the microseconds"},
    {SEL("{\"column\":\"created_at\",\"op\":\"ge\",\"value\":\"2026-01-31 10:00:00\"}"), PB_EINVAL,
     "expected an RFC 3339 timestamp"},
    {SEL("{\"column\":\"created_at\",\"op\":\"ge\",\"value\":\"2026-01-31\"}"), PB_EINVAL, "RFC 3339"},
    /* uuid */
    {SEL("{\"column\":\"id\",\"op\":\"eq\",\"value\":\"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11\"}"), 0, NULL},
    {SEL("{\"column\":\"id\",\"op\":\"eq\",\"value\":\"a0eebc999c0b4ef8bb6d6bb9bd380a11\"}"), PB_EINVAL,
     "expected a uuid"},
    {SEL("{\"column\":\"id\",\"op\":\"eq\",\"value\":\"g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"}"), PB_EINVAL,
     "expected a uuid"},
    {SEL("{\"column\":\"id\",\"op\":\"lt\",\"value\":\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"}"), PB_EINVAL,
     "lt does not apply"},
    /* jsonb */
    {SEL("{\"column\":\"meta\",\"op\":\"eq\",\"value\":{\"a\":[1,2]}}"), 0, NULL},
    {SEL("{\"column\":\"meta\",\"op\":\"eq\",\"value\":[1,2]}"), 0, NULL},
    {SEL("{\"column\":\"meta\",\"op\":\"in\",\"value\":[1,2]}"), PB_EINVAL, "use eq on a jsonb column"},
    {SEL("{\"column\":\"meta\",\"op\":\"like\",\"value\":\"x\"}"), PB_EINVAL, "like applies"},
    /* enum */
    {SEL("{\"column\":\"segment\",\"op\":\"in\",\"value\":[\"smb\",\"midmarket\"]}"), 0, NULL},
    {SEL("{\"column\":\"segment\",\"op\":\"notIn\",\"values\":[\"smb\"]}"), 0, NULL},
    {SEL("{\"column\":\"segment\",\"op\":\"eq\",\"value\":\"SMB\"}"), PB_EINVAL,
     "(enum: smb, midmarket, enterprise): not one of the enum's values"},
    {SEL("{\"column\":\"segment\",\"op\":\"like\",\"value\":\"mid%\"}"), 0, NULL},
    {SEL("{\"column\":\"segment\",\"op\":\"in\",\"value\":[]}"), PB_EINVAL, "0 values; op in needs 1 to 1000"},
    {SEL("{\"column\":\"segment\",\"op\":\"in\",\"value\":\"smb\"}"), PB_EINVAL, "needs a list of values"},
    {SEL("{\"column\":\"segment\",\"op\":\"in\",\"value\":[\"smb\",\"gold\"]}"), PB_EINVAL,
     "spec.steps[0].where[0].value[1]: \"gold\" is not a valid value"},
    {SEL("{\"column\":\"segment\",\"op\":\"in\",\"value\":[\"smb\"],\"values\":[\"smb\"]}"), PB_EINVAL,
     "give value or values, not both"},
    /* predicate shapes */
    {SEL("{\"column\":\"segment\",\"op\":\"between\",\"value\":1}"), PB_EINVAL, "spec.steps[0].where[0].op: expected one of"},
    {SEL("{\"op\":\"eq\",\"value\":1}"), PB_EINVAL, "spec.steps[0].where[0].column: expected a column name"},
    {SEL("{\"column\":\"segmnt\",\"op\":\"eq\",\"value\":\"smb\"}"), PB_EINVAL, "did you mean \"segment\"?"},
    {SEL("{\"column\":\"segment\",\"op\":\"eq\"}"), PB_EINVAL, "op eq needs a value"},
    {SEL("{\"column\":\"segment\",\"op\":\"eq\",\"value\":\"smb\",\"sql\":\"1=1\"}"), PB_EINVAL,
     "unknown field \"sql\""},
    {SEL("\"segment = 'smb'\""), PB_EINVAL, "expected an object {column, op, value}"},

    /* --- values on update / insert --- */
    {UPD("{\"name\":\"x\",\"segment\":\"enterprise\",\"active\":false,\"meta\":{\"k\":1},\"born\":\"1990-05-17\"}"), 0,
     NULL},
    {UPD("{\"email\":null}"), PB_EINVAL, "NOT NULL, it cannot be set to null"},
    {UPD("{\"segment\":\"gold\"}"), PB_EINVAL, "spec.steps[0].values.segment: \"gold\" is not a valid value"},
    {UPD("{\"score\":\"1\"}"), PB_EINVAL, "spec.steps[0].values.score"},
    {UPD("{}"), PB_EINVAL, "spec.steps[0].values: no values"},
    {UPD("[]"), PB_EINVAL, "expected an object {column: value}"},
    {INS("{\"customer_id\":\"00000000-0000-0000-0000-000000000001\",\"amount\":\"10.10\"}"), 0, NULL},

    /* --- injection strings are values, never SQL --- */
    {SEL("{\"column\":\"name\",\"op\":\"eq\",\"value\":\"'; DROP TABLE customers; --\"}"), 0, NULL},
    {SEL("{\"column\":\"name\",\"op\":\"eq\",\"value\":\"x\\\" OR 1=1 --\"}"), 0, NULL},
    {UPD("{\"name\":\"Robert'); DROP TABLE invoices;--\"}"), 0, NULL},
    {SEL("{\"column\":\"score\",\"op\":\"eq\",\"value\":\"1 OR 1=1\"}"), PB_EINVAL, "expected a JSON integer"},
    {SELI("{\"column\":\"amount\",\"op\":\"eq\",\"value\":\"1; DELETE FROM invoices\"}"), PB_EINVAL,
     "not a decimal number"},
    {SEL("{\"column\":\"id\",\"op\":\"eq\",\"value\":\"00000000-0000-0000-0000-000000000001'--\"}"), PB_EINVAL,
     "expected a uuid"},
    {SEL("{\"column\":\"name; DROP TABLE x\",\"op\":\"eq\",\"value\":\"a\"}"), PB_EINVAL, "has no column"},
    {"[{\"name\":\"a\",\"operation\":\"select\",\"table\":\"customers; DROP TABLE x\"}]", PB_EINVAL, "has no table"},

    /* --- references to earlier steps --- */
    {"[{\"name\":\"find\",\"operation\":\"select\",\"table\":\"invoices\",\"columns\":[\"id\"]},"
     "{\"name\":\"pay\",\"operation\":\"update\",\"table\":\"invoices\",\"values\":{\"paid\":true},"
     "\"where\":[{\"column\":\"id\",\"op\":\"in\",\"fromStep\":\"find\",\"field\":\"id\"}]}]",
     0, NULL},
    {"[{\"name\":\"pay\",\"operation\":\"update\",\"table\":\"invoices\",\"values\":{\"paid\":true},"
     "\"where\":[{\"column\":\"id\",\"op\":\"in\",\"fromStep\":\"find\",\"field\":\"id\"}]},"
     "{\"name\":\"find\",\"operation\":\"select\",\"table\":\"invoices\",\"columns\":[\"id\"]}]",
     PB_EINVAL, "spec.steps[0].where[0].fromStep: step \"find\" comes later"},
    {"[{\"name\":\"pay\",\"operation\":\"update\",\"table\":\"invoices\",\"values\":{\"paid\":true},"
     "\"where\":[{\"column\":\"id\",\"op\":\"in\",\"fromStep\":\"pay\",\"field\":\"id\"}]}]",
     PB_EINVAL, "step \"pay\" is this step"},
    {"[{\"name\":\"pay\",\"operation\":\"update\",\"table\":\"invoices\",\"values\":{\"paid\":true},"
     "\"where\":[{\"column\":\"id\",\"op\":\"in\",\"fromStep\":\"nope\",\"field\":\"id\"}]}]",
     PB_EINVAL, "no step named \"nope\" before this one"},
    {"[{\"name\":\"find\",\"operation\":\"select\",\"table\":\"invoices\",\"columns\":[\"amount\"]},"
     "{\"name\":\"pay\",\"operation\":\"update\",\"table\":\"invoices\",\"values\":{\"paid\":true},"
     "\"where\":[{\"column\":\"id\",\"op\":\"in\",\"fromStep\":\"find\",\"field\":\"id\"}]}]",
     PB_EINVAL, "step \"find\" does not return column id"},
    {"[{\"name\":\"find\",\"operation\":\"select\",\"table\":\"invoices\",\"columns\":[\"amount\"]},"
     "{\"name\":\"pay\",\"operation\":\"update\",\"table\":\"invoices\",\"values\":{\"paid\":true},"
     "\"where\":[{\"column\":\"id\",\"op\":\"in\",\"fromStep\":\"find\",\"field\":\"amount\"}]}]",
     PB_EINVAL, "cannot be compared"},
    {"[{\"name\":\"find\",\"operation\":\"select\",\"table\":\"customers\"},"
     "{\"name\":\"pay\",\"operation\":\"update\",\"table\":\"invoices\",\"values\":{\"paid\":true},"
     "\"where\":[{\"column\":\"customer_id\",\"op\":\"in\",\"fromStep\":\"find\",\"field\":\"id\"}]}]",
     0, NULL},
    {"[{\"name\":\"find\",\"operation\":\"delete\",\"table\":\"customers\",\"where\":[{\"column\":\"score\","
     "\"op\":\"eq\",\"value\":1}]},"
     "{\"name\":\"pay\",\"operation\":\"update\",\"table\":\"invoices\",\"values\":{\"paid\":true},"
     "\"where\":[{\"column\":\"customer_id\",\"op\":\"in\",\"fromStep\":\"find\",\"field\":\"id\"}]}]",
     PB_EINVAL, "only select steps have results"},
    {"[{\"name\":\"find\",\"operation\":\"select\",\"table\":\"invoices\",\"columns\":[\"id\"]},"
     "{\"name\":\"pay\",\"operation\":\"update\",\"table\":\"invoices\",\"values\":{\"paid\":true},"
     "\"where\":[{\"column\":\"id\",\"op\":\"eq\",\"fromStep\":\"find\",\"field\":\"id\"}]}]",
     PB_EINVAL, "a fromStep reference needs op in or notIn"},
    {"[{\"name\":\"find\",\"operation\":\"select\",\"table\":\"invoices\",\"columns\":[\"id\"]},"
     "{\"name\":\"pay\",\"operation\":\"update\",\"table\":\"invoices\",\"values\":{\"paid\":true},"
     "\"where\":[{\"column\":\"id\",\"op\":\"in\",\"fromStep\":\"find\"}]}]",
     PB_EINVAL, "needs fromStep and field"},
    {SEL("{\"column\":\"id\",\"op\":\"in\",\"fromStep\":\"x\",\"field\":\"id\"}"), PB_EINVAL,
     "no step named \"x\""},
};

static void test_case_table(void **state)
{
    pb_dm_model *m = fx_model();
    size_t n = sizeof CASES / sizeof CASES[0], failed = 0;
    for (size_t i = 0; i < n; i++) {
        pb_err e;
        pb_err_clear(&e);
        int rc = 0;
        pb_steps *w = fx_steps(m, CASES[i].steps, &rc, &e);
        int ok = rc == CASES[i].rc && (rc != 0 || w) && (rc == 0 || !w) &&
                 (!CASES[i].msg || strstr(e.msg, CASES[i].msg));
        if (!ok) {
            fprintf(stderr, "case %zu: %s\n  rc %d (want %d) msg: %s\n  want: %s\n", i, CASES[i].steps, rc,
                    CASES[i].rc, e.msg, CASES[i].msg ? CASES[i].msg : "(success)");
            failed++;
        }
        pb_step_free(w);
    }
    printf("step cases: %zu, failed: %zu\n", n, failed);
    assert_int_equal(failed, 0);
    pb_dm_free(m);
}

/* Every column with every op: the op either fits the type (parses with a
 * value of that type) or is refused naming the op. Generated: 16 columns x
 * 11 ops = 176 cases. */
static void test_every_type_every_op(void **state)
{
    pb_dm_model *m = fx_model();
    static const char *const ops[] = {"eq", "ne", "lt", "le", "gt", "ge", "in", "notIn", "isNull", "notNull", "like"};
    size_t cases = 0;
    for (int t = 0; t < 2; t++) {
        for (size_t c = 0; c < pb_dm_column_count(m, (size_t)t); c++) {
            pb_dm_type ty = pb_dm_column_type(m, (size_t)t, c);
            const char *v;
            switch (ty) {
            case PB_DM_TEXT: v = "\"x\""; break;
            case PB_DM_INTEGER:
            case PB_DM_BIGINT: v = "7"; break;
            case PB_DM_NUMERIC: v = "\"7.25\""; break;
            case PB_DM_BOOLEAN: v = "true"; break;
            case PB_DM_TIMESTAMPTZ: v = "\"2026-01-31T10:00:00Z\""; break;
            case PB_DM_DATE: v = "\"2026-01-31\""; break;
            case PB_DM_UUID: v = "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\""; break;
            case PB_DM_JSONB: v = "{\"a\":1}"; break;
            default: v = "\"smb\""; break;
            }
            for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
                int ordering = o >= 2 && o <= 5, list = o == 6 || o == 7, nulls = o == 8 || o == 9, like = o == 10;
                int fits = nulls || (o < 2) ||
                           (ordering && (ty == PB_DM_INTEGER || ty == PB_DM_BIGINT || ty == PB_DM_NUMERIC ||
                                         ty == PB_DM_DATE || ty == PB_DM_TIMESTAMPTZ)) ||
                           (list && ty != PB_DM_JSONB) || (like && (ty == PB_DM_TEXT || ty == PB_DM_ENUM));
                const char *lv = like ? "\"%\"" : v;
                char js[512], val[128];
                if (nulls)
                    val[0] = '\0';
                else if (list)
                    snprintf(val, sizeof val, ",\"value\":[%s]", v);
                else
                    snprintf(val, sizeof val, ",\"value\":%s", lv);
                snprintf(js, sizeof js,
                         "[{\"name\":\"s\",\"operation\":\"select\",\"table\":\"%s\",\"where\":[{\"column\":\"%s\","
                         "\"op\":\"%s\"%s}]}]",
                         pb_dm_table_name(m, (size_t)t), pb_dm_column_name(m, (size_t)t, c), ops[o], val);
                pb_err e;
                int rc = 0;
                pb_steps *w = fx_steps(m, js, &rc, &e);
                if (fits && rc != 0)
                    fail_msg("%s should parse: %s", js, e.msg);
                if (!fits && (rc != PB_EINVAL || !strstr(e.msg, ".op: ")))
                    fail_msg("%s should be refused on its op, got %d %s", js, rc, e.msg);
                pb_step_free(w);
                cases++;
            }
        }
    }
    printf("type x op cases: %zu\n", cases);
    pb_dm_free(m);
}

static void test_limits_and_sizes(void **state)
{
    pb_dm_model *m = fx_model();
    /* too many steps: clean PB_ETOOLARGE, not a crash */
    json_t *steps = json_array();
    for (int i = 0; i < 1001; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "s%d", i);
        json_array_append_new(steps, json_pack("{s:s,s:s,s:s}", "name", nm, "operation", "select", "table", "customers"));
    }
    json_t *spec = json_pack("{s:o}", "steps", steps);
    pb_steps *w = NULL;
    pb_err e;
    assert_int_equal(pb_step_parse(spec, m, NULL, &w, &e), PB_ETOOLARGE);
    assert_non_null(strstr(e.msg, "1001 steps, at most 1000"));
    assert_null(w);
    /* the plan's smaller maximum */
    pb_step_opts o = {.max_steps = 5};
    while (json_array_size(steps) > 6)
        json_array_remove(steps, 0);
    assert_int_equal(pb_step_parse(spec, m, &o, &w, &e), PB_ETOOLARGE);
    assert_non_null(strstr(e.msg, "6 steps, at most 5"));
    json_decref(spec);

    /* a huge in-list */
    json_t *vals = json_array();
    for (int i = 0; i < 1001; i++)
        json_array_append_new(vals, json_integer(i));
    spec = json_pack("{s:[{s:s,s:s,s:s,s:[{s:s,s:s,s:o}]}]}", "steps", "name", "s", "operation", "select", "table",
                     "customers", "where", "column", "score", "op", "in", "value", vals);
    assert_int_equal(pb_step_parse(spec, m, NULL, &w, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "1001 values"));
    json_decref(spec);

    /* too many insert rows */
    json_t *rows = json_array();
    for (int i = 0; i < 11; i++)
        json_array_append_new(rows, json_pack("{s:s,s:i}", "customer_id", "00000000-0000-0000-0000-000000000001",
                                              "amount", i));
    spec = json_pack("{s:[{s:s,s:s,s:s,s:o}]}", "steps", "name", "s", "operation", "insert", "table", "invoices", "rows",
                     rows);
    pb_step_opts ro = {.max_rows = 10};
    assert_int_equal(pb_step_parse(spec, m, &ro, &w, &e), PB_ETOOLARGE);
    assert_int_equal(pb_step_parse(spec, m, NULL, &w, &e), 0);
    assert_int_equal(pb_step_row_count(pb_step_at(w, 0)), 11);
    pb_step_free(w);
    json_decref(spec);

    /* a text value over 64 KiB */
    char *big = malloc(70000);
    memset(big, 'a', 69999);
    big[69999] = '\0';
    spec = json_pack("{s:[{s:s,s:s,s:s,s:{s:s}}]}", "steps", "name", "s", "operation", "update", "table", "customers",
                     "values", "name", big);
    assert_int_equal(pb_step_parse(spec, m, NULL, &w, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "longer than 65536 bytes"));
    json_decref(spec);
    free(big);

    /* no model: refused, named */
    spec = fx_json("{\"steps\":[{\"name\":\"s\",\"operation\":\"select\",\"table\":\"customers\"}]}");
    assert_int_equal(pb_step_parse(spec, NULL, NULL, &w, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "no DataModel"));
    assert_null(w);
    json_decref(spec);
    pb_dm_free(m);
}

static void test_accessors(void **state)
{
    pb_dm_model *m = fx_model();
    pb_err e;
    int rc;
    pb_steps *w = fx_steps(m,
                           "[{\"name\":\"find\",\"operation\":\"select\",\"table\":\"invoices\",\"columns\":[\"id\"],"
                           "\"limit\":10},"
                           "{\"name\":\"pay\",\"operation\":\"update\",\"table\":\"invoices\",\"values\":{\"paid\":"
                           "true},\"where\":[{\"column\":\"id\",\"op\":\"in\",\"fromStep\":\"find\",\"field\":\"id\"},"
                           "{\"column\":\"amount\",\"op\":\"lt\",\"value\":100}]}]",
                           &rc, &e);
    assert_int_equal(rc, 0);
    assert_int_equal(pb_step_count(w), 2);
    assert_int_equal(pb_step_find(w, "pay"), 1);
    assert_int_equal(pb_step_find(w, "nope"), -1);
    assert_string_equal(pb_step_model_name(w), "crm");
    assert_int_equal(pb_step_model_version(w), 3);
    const pb_step *s = pb_step_at(w, 1);
    assert_string_equal(pb_step_name(s), "pay");
    assert_int_equal(pb_step_get_op(s), PB_STEP_UPDATE);
    assert_int_equal(pb_step_table(s), 1);
    assert_int_equal(pb_step_limit(pb_step_at(w, 0)), 10);
    assert_int_equal(pb_step_where_count(s), 2);
    assert_int_equal(pb_pred_from_step(pb_step_where(s, 0)), 0);
    assert_int_equal(pb_pred_get_op(pb_step_where(s, 1)), PB_PRED_LT);
    assert_int_equal(pb_pred_column(pb_step_where(s, 1)), 2);
    assert_int_equal(pb_pred_value_count(pb_step_where(s, 1)), 1);
    assert_null(pb_step_at(w, 2));
    assert_string_equal(pb_step_op_name(PB_STEP_DELETE), "delete");
    pb_step_free(w);
    pb_dm_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_case_table),
        cmocka_unit_test(test_every_type_every_op),
        cmocka_unit_test(test_limits_and_sizes),
        cmocka_unit_test(test_accessors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
