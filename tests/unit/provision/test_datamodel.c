/* Unit tests for provision/datamodel: parsing, validation (every rejection
 * names the field), golden DDL per layout, and migration rendering. A model
 * that fails validation never reaches a database; one test runs rendered
 * DDL on a throwaway server (pgtest.h), to prove that an index whose name
 * is taken is reported rather than skipped. */
#include "testutil.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "pgtest.h"
#include "provision/datamodel.h"

/* Two tables, the referencing one first (rendering must reorder). */
static const char *SHOP =
    "{\"version\":1,\"tables\":["
    "{\"name\":\"orders\",\"columns\":["
    "{\"name\":\"id\",\"type\":\"uuid\",\"nullable\":false,\"default\":{\"function\":\"gen_random_uuid\"}},"
    "{\"name\":\"customer_id\",\"type\":\"bigint\"},"
    "{\"name\":\"total\",\"type\":\"numeric(12,2)\",\"default\":\"0.00\"},"
    "{\"name\":\"status\",\"type\":\"enum\",\"values\":[\"open\",\"paid\"],\"default\":\"open\"},"
    "{\"name\":\"note\",\"type\":\"text\",\"default\":\"it's \\\\ ok\"},"
    "{\"name\":\"meta\",\"type\":\"jsonb\",\"default\":{\"a\":1}},"
    "{\"name\":\"created_at\",\"type\":\"timestamptz\",\"nullable\":false,\"default\":{\"function\":\"now\"}}],"
    "\"primaryKey\":[\"id\"],"
    "\"foreignKeys\":[{\"columns\":[\"customer_id\"],\"references\":{\"table\":\"customers\",\"columns\":[\"id\"]},"
    "\"onDelete\":\"set null\"}],"
    "\"indexes\":[{\"name\":\"orders_by_status\",\"columns\":[\"status\",\"created_at\"]}]},"
    "{\"name\":\"customers\",\"columns\":["
    "{\"name\":\"id\",\"type\":\"bigint\",\"nullable\":false},"
    "{\"name\":\"email\",\"type\":\"text\",\"nullable\":false,\"unique\":true},"
    "{\"name\":\"active\",\"type\":\"boolean\",\"default\":true}],"
    "\"primaryKey\":[\"id\"]}]}";

static const char *GOLDEN_SCHEMA =
    "CREATE TABLE IF NOT EXISTS \"t_acme\".\"customers\" (\n"
    "  \"id\" bigint NOT NULL,\n"
    "  \"email\" text NOT NULL,\n"
    "  \"active\" boolean DEFAULT true,\n"
    "  PRIMARY KEY (\"id\"),\n"
    "  UNIQUE (\"email\")\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS \"t_acme\".\"orders\" (\n"
    "  \"id\" uuid NOT NULL DEFAULT gen_random_uuid(),\n"
    "  \"customer_id\" bigint,\n"
    "  \"total\" numeric(12,2) DEFAULT '0.00',\n"
    "  \"status\" text DEFAULT 'open' CHECK (\"status\" IN ('open', 'paid')),\n"
    "  \"note\" text DEFAULT E'it''s \\\\ ok',\n"
    "  \"meta\" jsonb DEFAULT '{\"a\":1}'::jsonb,\n"
    "  \"created_at\" timestamptz NOT NULL DEFAULT now(),\n"
    "  PRIMARY KEY (\"id\"),\n"
    "  FOREIGN KEY (\"customer_id\") REFERENCES \"t_acme\".\"customers\" (\"id\") ON DELETE SET NULL\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS \"orders_by_status\" ON \"t_acme\".\"orders\" (\"status\", \"created_at\");\n";

#define TFN "\"paybill\".\"current_tenant_id\"()"
#define RLS_TAIL(t)                                                                                 \
    "ALTER TABLE \"app\".\"" t "\" ENABLE ROW LEVEL SECURITY;\n"                                    \
    "ALTER TABLE \"app\".\"" t "\" FORCE ROW LEVEL SECURITY;\n"                                     \
    "DROP POLICY IF EXISTS \"tenant_isolation\" ON \"app\".\"" t "\";\n"                            \
    "CREATE POLICY \"tenant_isolation\" ON \"app\".\"" t "\" USING (\"tenant_id\" = " TFN           \
    ") WITH CHECK (\"tenant_id\" = " TFN ");\n"

static const char *GOLDEN_RLS =
    "CREATE TABLE IF NOT EXISTS \"app\".\"customers\" (\n"
    "  \"tenant_id\" text NOT NULL DEFAULT " TFN ",\n"
    "  \"id\" bigint NOT NULL,\n"
    "  \"email\" text NOT NULL,\n"
    "  \"active\" boolean DEFAULT true,\n"
    "  PRIMARY KEY (\"tenant_id\", \"id\"),\n"
    "  UNIQUE (\"tenant_id\", \"email\")\n"
    ");\n" RLS_TAIL("customers")
    "CREATE TABLE IF NOT EXISTS \"app\".\"orders\" (\n"
    "  \"tenant_id\" text NOT NULL DEFAULT " TFN ",\n"
    "  \"id\" uuid NOT NULL DEFAULT gen_random_uuid(),\n"
    "  \"customer_id\" bigint,\n"
    "  \"total\" numeric(12,2) DEFAULT '0.00',\n"
    "  \"status\" text DEFAULT 'open' CHECK (\"status\" IN ('open', 'paid')),\n"
    "  \"note\" text DEFAULT E'it''s \\\\ ok',\n"
    "  \"meta\" jsonb DEFAULT '{\"a\":1}'::jsonb,\n"
    "  \"created_at\" timestamptz NOT NULL DEFAULT now(),\n"
    "  PRIMARY KEY (\"tenant_id\", \"id\"),\n"
    "  FOREIGN KEY (\"tenant_id\", \"customer_id\") REFERENCES \"app\".\"customers\" (\"tenant_id\", \"id\") "
    "ON DELETE SET NULL (\"customer_id\")\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS \"orders_by_status\" ON \"app\".\"orders\" (\"tenant_id\", \"status\", \"created_at\");\n"
    RLS_TAIL("orders");

static pb_dm_model *parse_ok(const char *json)
{
    pb_dm_model *m = NULL;
    pb_err e;
    pb_err_clear(&e);
    int rc = pb_dm_parse("shop", json, &m, &e);
    if (rc)
        fail_msg("unexpected parse error: %s", e.msg);
    return m;
}

static void test_parse_valid(void **state)
{
    pb_dm_model *m = parse_ok(SHOP);
    assert_string_equal(pb_dm_name(m), "shop");
    assert_int_equal(pb_dm_version(m), 1);
    assert_int_equal(pb_dm_table_count(m), 2);
    /* Creation order: customers (referenced) before orders. */
    assert_string_equal(pb_dm_table_name(m, 0), "customers");
    assert_string_equal(pb_dm_table_name(m, 1), "orders");
    assert_int_equal(pb_dm_column_count(m, 1), 7);
    assert_string_equal(pb_dm_column_name(m, 1, 2), "total");
    assert_int_equal(pb_dm_column_type(m, 1, 2), PB_DM_NUMERIC);
    assert_int_equal(pb_dm_column_type(m, 1, 3), PB_DM_ENUM);
    assert_null(pb_dm_table_name(m, 2));
    /* Lookups used to type-check against the model. */
    int o = pb_dm_find_table(m, "orders");
    assert_int_equal(o, 1);
    assert_int_equal(pb_dm_find_table(m, "nope"), -1);
    assert_int_equal(pb_dm_find_column(m, (size_t)o, "status"), 3);
    assert_int_equal(pb_dm_find_column(m, (size_t)o, "nope"), -1);
    assert_int_equal(pb_dm_find_column(m, 99, "status"), -1);
    assert_false(pb_dm_column_nullable(m, 1, 0));
    assert_true(pb_dm_column_nullable(m, 1, 1));
    assert_true(pb_dm_column_has_default(m, 1, 0));
    assert_false(pb_dm_column_has_default(m, 1, 1));
    int p = -1, sc = -1;
    pb_dm_column_numeric(m, 1, 2, &p, &sc);
    assert_int_equal(p, 12);
    assert_int_equal(sc, 2);
    assert_int_equal(pb_dm_enum_count(m, 1, 3), 2);
    assert_string_equal(pb_dm_enum_value(m, 1, 3, 1), "paid");
    assert_null(pb_dm_enum_value(m, 1, 3, 2));
    assert_int_equal(pb_dm_enum_count(m, 1, 2), 0);
    assert_null(pb_dm_column_name(m, 0, 99));
    /* Canonical text: sorted keys, so key order in the input is irrelevant. */
    assert_non_null(strstr(pb_dm_canonical(m), "{\"tables\":"));
    pb_dm_free(m);
}

static void test_canonical_ignores_key_order(void **state)
{
    pb_dm_model *a = parse_ok("{\"version\":3,\"tables\":[{\"name\":\"t\",\"columns\":[{\"name\":\"a\",\"type\":\"text\"}]}]}");
    pb_dm_model *b = parse_ok("{\"tables\":[{\"columns\":[{\"type\":\"text\",\"name\":\"a\"}],\"name\":\"t\"}],\"version\":3}");
    assert_string_equal(pb_dm_canonical(a), pb_dm_canonical(b));
    pb_dm_free(a);
    pb_dm_free(b);
}

/* A one-table model whose only column is `col` (a JSON object). */
static char *one_col(const char *col)
{
    char *s = malloc(strlen(col) + 128);
    sprintf(s, "{\"version\":1,\"tables\":[{\"name\":\"t\",\"columns\":[%s]}]}", col);
    return s;
}

typedef struct {
    const char *json; /* full spec, or NULL to use `col` */
    const char *col;
    int code;
    const char *msg; /* substring of the error */
} bad_case;

static void check_bad(const bad_case *c)
{
    char *json = c->json ? strdup(c->json) : one_col(c->col);
    pb_dm_model *m = (pb_dm_model *)0x1;
    pb_err e;
    pb_err_clear(&e);
    int rc = pb_dm_parse("bad", json, &m, &e);
    if (rc != c->code || !strstr(e.msg, c->msg))
        fail_msg("spec %s: got %d \"%s\", want %d containing \"%s\"", json, rc, e.msg, c->code, c->msg);
    assert_null(m);
    free(json);
}

static void test_bad_identifiers(void **state)
{
    char long_name[80];
    memset(long_name, 'a', 64);
    long_name[64] = '\0';
    char long_col[160];
    snprintf(long_col, sizeof long_col, "{\"name\":\"%s\",\"type\":\"text\"}", long_name);
    const bad_case cases[] = {
        {NULL, "{\"name\":\"a\\\"b\",\"type\":\"text\"}", PB_EINVAL, "columns[0].name: invalid identifier"},
        {NULL, "{\"name\":\"x;drop table y\",\"type\":\"text\"}", PB_EINVAL, "found byte 0x3b"},
        {NULL, "{\"name\":\"t\\u00e9\",\"type\":\"text\"}", PB_EINVAL, "found byte 0xc3"},
        {NULL, "{\"name\":\"Name\",\"type\":\"text\"}", PB_EINVAL, "invalid identifier"},
        {NULL, "{\"name\":\"a b\",\"type\":\"text\"}", PB_EINVAL, "invalid identifier"},
        {NULL, "{\"name\":\"\",\"type\":\"text\"}", PB_EINVAL, "must not be empty"},
        {NULL, "{\"name\":\"1abc\",\"type\":\"text\"}", PB_EINVAL, "must not start with a digit"},
        {NULL, long_col, PB_EINVAL, "longer than 63 bytes"},
        {NULL, "{\"name\":\"select\",\"type\":\"text\"}", PB_EINVAL, "\"select\" is a reserved name"},
        {NULL, "{\"name\":\"user\",\"type\":\"text\"}", PB_EINVAL, "reserved name"},
        {NULL, "{\"name\":\"tenant_id\",\"type\":\"text\"}", PB_EINVAL, "reserved name"},
        {NULL, "{\"name\":\"xmin\",\"type\":\"text\"}", PB_EINVAL, "reserved name"},
        {NULL, "{\"name\":\"pg_secret\",\"type\":\"text\"}", PB_EINVAL, "reserved name"},
        {"{\"version\":1,\"tables\":[{\"name\":\"order\",\"columns\":[{\"name\":\"a\",\"type\":\"text\"}]}]}", NULL,
         PB_EINVAL, "spec.tables[0].name: \"order\" is a reserved name"},
        {"{\"version\":1,\"tables\":[{\"name\":\"t\",\"columns\":[{\"name\":\"a\",\"type\":\"text\"}],"
         "\"indexes\":[{\"name\":\"i;x\",\"columns\":[\"a\"]}]}]}",
         NULL, PB_EINVAL, "indexes[0].name: invalid identifier"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_bad(&cases[i]);
    assert_true(pb_dm_ident_ok("orders_2024"));
    assert_true(pb_dm_ident_ok("_x"));
    assert_false(pb_dm_ident_ok(NULL));
    assert_false(pb_dm_ident_ok(long_name));
    long_name[63] = '\0';
    assert_true(pb_dm_ident_ok(long_name));
}

static void test_bad_types_and_defaults(void **state)
{
    const bad_case cases[] = {
        {NULL, "{\"name\":\"a\",\"type\":\"varchar\"}", PB_EINVAL,
         "columns[0].type: unknown type \"varchar\" (supported: text, integer"},
        {NULL, "{\"name\":\"a\",\"type\":\"text; drop\"}", PB_EINVAL, "unknown type"},
        {NULL, "{\"name\":\"a\"}", PB_EINVAL, "columns[0].type: required string"},
        {NULL, "{\"name\":\"a\",\"type\":\"numeric(0,0)\"}", PB_EINVAL, "precision must be 1..1000"},
        {NULL, "{\"name\":\"a\",\"type\":\"numeric(5,6)\"}", PB_EINVAL, "scale 0..precision"},
        {NULL, "{\"name\":\"a\",\"type\":\"numeric(5,2)x\"}", PB_EINVAL, "unknown type"},
        {NULL, "{\"name\":\"a\",\"type\":\"numeric(-1)\"}", PB_EINVAL, "unknown type"},
        {NULL, "{\"name\":\"a\",\"type\":\"enum\"}", PB_EINVAL, "values: must be a non-empty array"},
        {NULL, "{\"name\":\"a\",\"type\":\"enum\",\"values\":[\"x\",\"x\"]}", PB_EINVAL, "duplicate \"x\""},
        {NULL, "{\"name\":\"a\",\"type\":\"text\",\"values\":[\"x\"]}", PB_EINVAL, "only enum columns take values"},
        {NULL, "{\"name\":\"a\",\"type\":\"enum\",\"values\":[\"x\"],\"default\":\"y\"}", PB_EINVAL,
         "not one of the enum's values"},
        {NULL, "{\"name\":\"a\",\"type\":\"integer\",\"default\":\"1; drop table t\"}", PB_EINVAL,
         "default does not match the column type integer"},
        {NULL, "{\"name\":\"a\",\"type\":\"integer\",\"default\":3000000000}", PB_EINVAL, "out of range"},
        {NULL, "{\"name\":\"a\",\"type\":\"numeric\",\"default\":\"1e5\"}", PB_EINVAL, "decimal string"},
        {NULL, "{\"name\":\"a\",\"type\":\"boolean\",\"default\":\"yes\"}", PB_EINVAL, "does not match"},
        {NULL, "{\"name\":\"a\",\"type\":\"uuid\",\"default\":\"not-a-uuid\"}", PB_EINVAL, "not a valid uuid"},
        {NULL, "{\"name\":\"a\",\"type\":\"date\",\"default\":\"2024-1-1\"}", PB_EINVAL, "not a valid date"},
        {NULL, "{\"name\":\"a\",\"type\":\"timestamptz\",\"default\":\"now()\"}", PB_EINVAL, "not a valid timestamptz"},
        {NULL, "{\"name\":\"a\",\"type\":\"text\",\"default\":{\"function\":\"now\"}}", PB_EINVAL,
         "\"now\" is not a default function for type text"},
        {NULL, "{\"name\":\"a\",\"type\":\"uuid\",\"default\":{\"function\":\"pg_sleep\"}}", PB_EINVAL,
         "not a default function"},
        {NULL, "{\"name\":\"a\",\"type\":\"text\",\"default\":\"line\\nbreak\"}", PB_EINVAL, "control characters"},
        {NULL, "{\"name\":\"a\",\"type\":\"text\",\"nullable\":\"no\"}", PB_EINVAL, "nullable: must be a boolean"},
        {NULL, "{\"name\":\"a\",\"type\":\"text\",\"check\":\"a > 0\"}", PB_EINVAL, "unknown field \"check\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_bad(&cases[i]);
    /* And the accepted forms. */
    const char *good[] = {
        "{\"name\":\"a\",\"type\":\"timestamptz\",\"default\":\"2024-01-02T03:04:05.123+02:00\"}",
        "{\"name\":\"a\",\"type\":\"timestamptz\",\"default\":\"2024-01-02 03:04:05Z\"}",
        "{\"name\":\"a\",\"type\":\"date\",\"default\":{\"function\":\"current_date\"}}",
        "{\"name\":\"a\",\"type\":\"uuid\",\"default\":\"123e4567-e89b-12d3-a456-426614174000\"}",
        "{\"name\":\"a\",\"type\":\"numeric(5)\",\"default\":-12}",
        "{\"name\":\"a\",\"type\":\"bigint\",\"default\":9000000000}",
        "{\"name\":\"a\",\"type\":\"jsonb\",\"default\":[1,\"x\"]}",
        "{\"name\":\"a\",\"type\":\"text\",\"default\":null}",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        char *j = one_col(good[i]);
        pb_dm_free(parse_ok(j));
        free(j);
    }
}

static void test_bad_structure(void **state)
{
    const bad_case cases[] = {
        {"{\"version\":1,\"tables\":[{\"name\":\"t\",\"columns\":[{\"name\":\"a\",\"type\":\"text\"},"
         "{\"name\":\"a\",\"type\":\"integer\"}]}]}",
         NULL, PB_EINVAL, "columns[1].name: duplicate column \"a\" in table \"t\""},
        {"{\"version\":1,\"tables\":[{\"name\":\"t\",\"columns\":[{\"name\":\"a\",\"type\":\"text\"}]},"
         "{\"name\":\"t\",\"columns\":[{\"name\":\"b\",\"type\":\"text\"}]}]}",
         NULL, PB_EINVAL, "duplicate table \"t\""},
        {"{\"version\":1,\"tables\":[{\"name\":\"t\",\"columns\":[{\"name\":\"a\",\"type\":\"text\"}],"
         "\"foreignKeys\":[{\"columns\":[\"a\"],\"references\":{\"table\":\"nope\",\"columns\":[\"id\"]}}]}]}",
         NULL, PB_EINVAL, "foreignKeys[0].references.table: unknown table \"nope\""},
        {"{\"version\":1,\"tables\":[{\"name\":\"p\",\"columns\":[{\"name\":\"id\",\"type\":\"bigint\"}],"
         "\"primaryKey\":[\"id\"]},{\"name\":\"c\",\"columns\":[{\"name\":\"p_id\",\"type\":\"text\"}],"
         "\"foreignKeys\":[{\"columns\":[\"p_id\"],\"references\":{\"table\":\"p\",\"columns\":[\"id\"]}}]}]}",
         NULL, PB_EINVAL, "have different types"},
        {"{\"version\":1,\"tables\":[{\"name\":\"p\",\"columns\":[{\"name\":\"id\",\"type\":\"bigint\"},"
         "{\"name\":\"x\",\"type\":\"bigint\"}],\"primaryKey\":[\"id\"]},{\"name\":\"c\",\"columns\":"
         "[{\"name\":\"p_x\",\"type\":\"bigint\"}],\"foreignKeys\":[{\"columns\":[\"p_x\"],"
         "\"references\":{\"table\":\"p\",\"columns\":[\"x\"]}}]}]}",
         NULL, PB_EINVAL, "must be the primary key or a unique constraint"},
        {"{\"version\":1,\"tables\":[{\"name\":\"p\",\"columns\":[{\"name\":\"id\",\"type\":\"bigint\"}],"
         "\"primaryKey\":[\"id\"]},{\"name\":\"c\",\"columns\":[{\"name\":\"p_id\",\"type\":\"bigint\","
         "\"nullable\":false}],\"foreignKeys\":[{\"columns\":[\"p_id\"],\"references\":{\"table\":\"p\","
         "\"columns\":[\"id\"]},\"onDelete\":\"set null\"}]}]}",
         NULL, PB_EINVAL, "\"set null\" needs nullable columns"},
        {"{\"version\":1,\"tables\":[{\"name\":\"a\",\"columns\":[{\"name\":\"id\",\"type\":\"bigint\"},"
         "{\"name\":\"b_id\",\"type\":\"bigint\"}],\"primaryKey\":[\"id\"],\"foreignKeys\":[{\"columns\":[\"b_id\"],"
         "\"references\":{\"table\":\"b\",\"columns\":[\"id\"]}}]},{\"name\":\"b\",\"columns\":[{\"name\":\"id\","
         "\"type\":\"bigint\"},{\"name\":\"a_id\",\"type\":\"bigint\"}],\"primaryKey\":[\"id\"],\"foreignKeys\":"
         "[{\"columns\":[\"a_id\"],\"references\":{\"table\":\"a\",\"columns\":[\"id\"]}}]}]}",
         NULL, PB_EINVAL, "foreign keys form a cycle"},
        {"{\"version\":1,\"tables\":[{\"name\":\"t\",\"columns\":[{\"name\":\"a\",\"type\":\"text\"}],"
         "\"primaryKey\":[\"b\"]}]}",
         NULL, PB_EINVAL, "primaryKey[0]: table \"t\" has no column \"b\""},
        {"{\"version\":1,\"tables\":[{\"name\":\"t\",\"columns\":[{\"name\":\"a\",\"type\":\"text\"}],"
         "\"indexes\":[{\"name\":\"t\",\"columns\":[\"a\"]}]}]}",
         NULL, PB_EINVAL, "\"t\" is already a table name"},
        {"{\"version\":1,\"tables\":[{\"name\":\"t\",\"columns\":[{\"name\":\"a\",\"type\":\"text\"}],"
         "\"indexes\":[{\"name\":\"i\",\"columns\":[\"a\"]},{\"name\":\"i\",\"columns\":[\"a\"]}]}]}",
         NULL, PB_EINVAL, "indexes[1].name: duplicate index \"i\""},
        {"{\"version\":1,\"tables\":[{\"name\":\"t\",\"columns\":[{\"name\":\"a\",\"type\":\"text\",\"unique\":true}],"
         "\"unique\":[[\"a\"]]}]}",
         NULL, PB_EINVAL, "duplicate unique constraint"},
        {"{\"version\":0,\"tables\":[{\"name\":\"t\",\"columns\":[{\"name\":\"a\",\"type\":\"text\"}]}]}", NULL,
         PB_EINVAL, "spec.version: required integer >= 1"},
        {"{\"tables\":[{\"name\":\"t\",\"columns\":[{\"name\":\"a\",\"type\":\"text\"}]}]}", NULL, PB_EINVAL,
         "spec.version"},
        {"{\"version\":1,\"tables\":[]}", NULL, PB_EINVAL, "spec.tables: must be a non-empty array"},
        {"{\"version\":1,\"tables\":[{\"name\":\"t\",\"columns\":[]}]}", NULL, PB_EINVAL,
         "columns: must be a non-empty array"},
        {"{\"version\":1,\"tables\":[{\"name\":\"t\",\"columns\":[{\"name\":\"a\",\"type\":\"text\"}]}],\"sql\":\"x\"}",
         NULL, PB_EINVAL, "spec: unknown field \"sql\""},
        {"{\"version\":1,\"tables\":[{\"name\":\"t\",\"columns\":[{\"name\":\"a\",\"type\":\"text\"}],"
         "\"foreignKeys\":[{\"columns\":[\"a\"],\"references\":{\"table\":\"t\",\"columns\":[\"a\"]},"
         "\"onDelete\":\"drop everything\"}]}]}",
         NULL, PB_EINVAL, "onDelete: unsupported value"},
        {"{\"version\":1,\"tables\":[{\"name\":\"t\",\"columns\":[{\"name\":\"a\",\"type\":\"text\"}],"
         "\"primaryKey\":[\"a\",\"a1\",\"a2\",\"a3\",\"a4\",\"a5\",\"a6\",\"a7\",\"a8\",\"a9\",\"b0\",\"b1\",\"b2\",\"b3\","
         "\"b4\",\"b5\",\"b6\",\"b7\",\"b8\",\"b9\",\"c0\",\"c1\",\"c2\",\"c3\",\"c4\",\"c5\",\"c6\",\"c7\",\"c8\",\"c9\","
         "\"d0\",\"d1\"]}]}",
         NULL, PB_EINVAL, "primaryKey: at most 31 columns"},
        {"{\"version\":1,", NULL, PB_EPARSE, "invalid JSON"},
        {"[1,2]", NULL, PB_EINVAL, "spec: must be an object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_bad(&cases[i]);
}

static char *render(const pb_dm_model *from, const pb_dm_model *to, pb_dm_layout l, const char *schema,
                    int allow, int want_rc, const char *want_msg)
{
    pb_dm_target tg = {l, schema};
    char *sql = NULL;
    pb_err e;
    pb_err_clear(&e);
    int rc = pb_dm_render(from, to, &tg, allow, &sql, &e);
    if (rc != want_rc || (want_msg && !strstr(e.msg, want_msg)))
        fail_msg("render: got %d \"%s\", want %d \"%s\"", rc, e.msg, want_rc, want_msg ? want_msg : "");
    if (rc)
        assert_null(sql);
    return sql;
}

/* Every CREATE INDEX IF NOT EXISTS is followed by a check that the index
 * of that name is the one declared (see render_index_check); the goldens
 * are compared without those blocks, and each block is checked to follow
 * its index. Frees ddl, returns the rest (malloc'd). */
static char *without_checks(char *ddl)
{
    char *out = calloc(1, strlen(ddl) + 1), *o = out;
    char last[128] = ""; /* the index created just before */
    const char *p = ddl;
    size_t creates = 0, checks = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p + 1) : strlen(p);
        if (strncmp(p, "DO $pb$", 7) == 0) {
            const char *end = strstr(p, "END$pb$;\n");
            assert_non_null(end);
            char want[160];
            snprintf(want, sizeof want, "x.relname = '%s'", last);
            const char *at = strstr(p, want);
            if (!at || at > end)
                fail_msg("the check after CREATE INDEX \"%s\" is about another index", last);
            checks++;
            last[0] = '\0';
            p = end + strlen("END$pb$;\n");
            continue;
        }
        const char *q = strstr(p, "INDEX IF NOT EXISTS \"");
        if ((strncmp(p, "CREATE INDEX", 12) == 0 || strncmp(p, "CREATE UNIQUE INDEX", 19) == 0) && q) {
            creates++;
            q += strlen("INDEX IF NOT EXISTS \"");
            snprintf(last, sizeof last, "%.*s", (int)(strchr(q, '"') - q), q);
            if (strncmp(p + len, "DO $pb$", 7) != 0)
                fail_msg("no check after CREATE INDEX \"%s\"", last);
        }
        memcpy(o, p, len);
        o += len;
        p += len;
    }
    assert_int_equal(creates, checks);
    free(ddl);
    return out;
}

/* The check after CREATE INDEX "orders_by_status" in schema t_acme. */
static const char *GOLDEN_CHECK =
    "DO $pb$DECLARE found text; BEGIN\n"
    "SELECT CASE WHEN x.relkind IN ('i', 'I') THEN pg_catalog.pg_get_indexdef(x.oid) "
    "ELSE 'relation of kind ' || x.relkind::text END INTO found\n"
    "  FROM pg_catalog.pg_class x LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = x.oid\n"
    " WHERE x.relnamespace = '\"t_acme\"'::pg_catalog.regnamespace AND x.relname = 'orders_by_status'\n"
    "   AND NOT coalesce(i.indrelid = '\"t_acme\".\"orders\"'::pg_catalog.regclass AND i.indisunique = false\n"
    "       AND i.indexprs IS NULL AND i.indpred IS NULL\n"
    "       AND ARRAY(SELECT a.attname::text FROM pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY "
    "k(att, o)\n"
    "                 JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.att ORDER BY k.o) "
    "= ARRAY['status', 'created_at']::text[], false);\n"
    "IF found IS NOT NULL THEN RAISE EXCEPTION USING ERRCODE = 'duplicate_table', MESSAGE = 'index "
    "\"t_acme\".\"orders_by_status\" exists already and is not the one the model declares (on \"orders\" "
    "(\"status\", \"created_at\")): the name is taken by ' || found || '; drop or rename that one'; END IF; "
    "END$pb$;\n";

static void test_golden_ddl(void **state)
{
    pb_dm_model *m = parse_ok(SHOP);
    char *s = render(NULL, m, PB_DM_LAYOUT_SCHEMA, "t_acme", 0, 0, NULL);
    assert_non_null(strstr(s, GOLDEN_CHECK));
    s = without_checks(s);
    assert_string_equal(s, GOLDEN_SCHEMA);
    free(s);
    /* The database layout renders like the schema layout, in its schema. */
    s = without_checks(render(NULL, m, PB_DM_LAYOUT_DATABASE, "t_acme", 0, 0, NULL));
    assert_string_equal(s, GOLDEN_SCHEMA);
    free(s);
    s = render(NULL, m, PB_DM_LAYOUT_RLS, "app", 0, 0, NULL);
    assert_non_null(strstr(s, "x.relname = 'orders_by_status'"));
    assert_non_null(strstr(s, "= ARRAY['tenant_id', 'status', 'created_at']::text[], false);"));
    s = without_checks(s);
    assert_string_equal(s, GOLDEN_RLS);
    free(s);
    /* A target schema is checked like any identifier. */
    render(NULL, m, PB_DM_LAYOUT_SCHEMA, "x\"; drop", 0, PB_EINVAL, "render: target schema");
    pb_dm_free(m);
}

#define V1 "{\"name\":\"t\",\"columns\":[{\"name\":\"id\",\"type\":\"bigint\",\"nullable\":false},{\"name\":\"a\",\"type\":\"text\"}],\"primaryKey\":[\"id\"],\"indexes\":[{\"name\":\"t_a\",\"columns\":[\"a\"]}]}"

static void test_migration_render(void **state)
{
    pb_dm_model *v1 = parse_ok("{\"version\":1,\"tables\":[" V1 "]}");
    pb_dm_model *v2 = parse_ok(
        "{\"version\":2,\"tables\":[{\"name\":\"t\",\"columns\":[{\"name\":\"id\",\"type\":\"bigint\",\"nullable\":false},"
        "{\"name\":\"a\",\"type\":\"text\"},{\"name\":\"b\",\"type\":\"integer\",\"nullable\":false,\"default\":0}],"
        "\"primaryKey\":[\"id\"],\"indexes\":[{\"name\":\"t_a\",\"columns\":[\"a\"]},{\"name\":\"t_b\",\"columns\":[\"b\"]}]},"
        "{\"name\":\"u\",\"columns\":[{\"name\":\"x\",\"type\":\"date\"}]}]}");
    char *s = without_checks(render(v1, v2, PB_DM_LAYOUT_SCHEMA, "t_a", 0, 0, NULL));
    assert_string_equal(s,
                        "ALTER TABLE \"t_a\".\"t\" ADD COLUMN IF NOT EXISTS \"b\" integer NOT NULL DEFAULT 0;\n"
                        "CREATE INDEX IF NOT EXISTS \"t_b\" ON \"t_a\".\"t\" (\"b\");\n"
                        "CREATE TABLE IF NOT EXISTS \"t_a\".\"u\" (\n  \"x\" date\n);\n");
    free(s);
    /* rls: new table without a primary key still gets a tenant index. */
    s = render(v1, v2, PB_DM_LAYOUT_RLS, "app", 0, 0, NULL);
    assert_non_null(strstr(s, "x.relname = 'u_tenant_idx'"));
    s = without_checks(s);
    assert_non_null(strstr(s, "CREATE INDEX IF NOT EXISTS \"t_b\" ON \"app\".\"t\" (\"tenant_id\", \"b\");"));
    assert_non_null(strstr(s, "CREATE INDEX IF NOT EXISTS \"u_tenant_idx\" ON \"app\".\"u\" (\"tenant_id\");"));
    assert_non_null(strstr(s, "FORCE ROW LEVEL SECURITY"));
    free(s);

    /* Same version, same model: nothing to do. Same version, other model, or
     * a lower version: refused. */
    s = render(v1, v1, PB_DM_LAYOUT_SCHEMA, "t_a", 0, 0, NULL);
    assert_string_equal(s, "");
    free(s);
    render(v2, v1, PB_DM_LAYOUT_SCHEMA, "t_a", 0, PB_EINVAL, "lower than the applied version 2");
    pb_dm_model *v1b = parse_ok("{\"version\":1,\"tables\":[{\"name\":\"z\",\"columns\":[{\"name\":\"a\",\"type\":\"text\"}]}]}");
    render(v1, v1b, PB_DM_LAYOUT_SCHEMA, "t_a", 1, PB_EINVAL, "already applied with a different spec");
    pb_dm_free(v1b);

    /* Destructive: drop column / index / table refused unless allowed. */
    pb_dm_model *v3 = parse_ok(
        "{\"version\":3,\"tables\":[{\"name\":\"t\",\"columns\":[{\"name\":\"id\",\"type\":\"bigint\",\"nullable\":false}],"
        "\"primaryKey\":[\"id\"]}]}");
    render(v2, v3, PB_DM_LAYOUT_SCHEMA, "t_a", 0, PB_EFORBIDDEN, "drops index \"t_a\": destructive change refused");
    s = render(v2, v3, PB_DM_LAYOUT_SCHEMA, "t_a", 1, 0, NULL);
    assert_string_equal(s, "DROP INDEX IF EXISTS \"t_a\".\"t_a\";\n"
                           "DROP INDEX IF EXISTS \"t_a\".\"t_b\";\n"
                           "ALTER TABLE \"t_a\".\"t\" DROP COLUMN IF EXISTS \"a\";\n"
                           "ALTER TABLE \"t_a\".\"t\" DROP COLUMN IF EXISTS \"b\";\n"
                           "DROP TABLE IF EXISTS \"t_a\".\"u\" CASCADE;\n");
    free(s);
    pb_dm_model *v3b = parse_ok("{\"version\":3,\"tables\":[" V1 "]}");
    render(v2, v3b, PB_DM_LAYOUT_SCHEMA, "t_a", 0, PB_EFORBIDDEN, "drops index \"t_b\"");
    pb_dm_free(v3b);

    /* Changing an existing column, or a new NOT NULL column without default. */
    pb_dm_model *bad = parse_ok(
        "{\"version\":4,\"tables\":[{\"name\":\"t\",\"columns\":[{\"name\":\"id\",\"type\":\"integer\",\"nullable\":false},"
        "{\"name\":\"a\",\"type\":\"text\"}],\"primaryKey\":[\"id\"],\"indexes\":[{\"name\":\"t_a\",\"columns\":[\"a\"]}]}]}");
    render(v1, bad, PB_DM_LAYOUT_SCHEMA, "t_a", 1, PB_EINVAL, "column \"t.id\": changing the type");
    pb_dm_free(bad);
    bad = parse_ok(
        "{\"version\":4,\"tables\":[{\"name\":\"t\",\"columns\":[{\"name\":\"id\",\"type\":\"bigint\",\"nullable\":false},"
        "{\"name\":\"a\",\"type\":\"text\"},{\"name\":\"c\",\"type\":\"text\",\"nullable\":false}],\"primaryKey\":[\"id\"],"
        "\"indexes\":[{\"name\":\"t_a\",\"columns\":[\"a\"]}]}]}");
    render(v1, bad, PB_DM_LAYOUT_SCHEMA, "t_a", 0, PB_EINVAL, "new NOT NULL column needs a default");
    pb_dm_free(bad);
    bad = parse_ok(
        "{\"version\":4,\"tables\":[{\"name\":\"t\",\"columns\":[{\"name\":\"id\",\"type\":\"bigint\",\"nullable\":false},"
        "{\"name\":\"a\",\"type\":\"text\"}],\"primaryKey\":[\"id\"],\"unique\":[[\"a\"]],"
        "\"indexes\":[{\"name\":\"t_a\",\"columns\":[\"a\"]}]}]}");
    render(v1, bad, PB_DM_LAYOUT_SCHEMA, "t_a", 1, PB_EINVAL, "changing primary key, unique constraints");
    pb_dm_free(bad);
    bad = parse_ok(
        "{\"version\":4,\"tables\":[{\"name\":\"t\",\"columns\":[{\"name\":\"id\",\"type\":\"bigint\",\"nullable\":false},"
        "{\"name\":\"a\",\"type\":\"text\"}],\"primaryKey\":[\"id\"],"
        "\"indexes\":[{\"name\":\"t_a\",\"columns\":[\"a\"],\"unique\":true}]}]}");
    render(v1, bad, PB_DM_LAYOUT_SCHEMA, "t_a", 1, PB_EINVAL, "changing an existing index");
    pb_dm_free(bad);

    pb_dm_free(v1);
    pb_dm_free(v2);
    pb_dm_free(v3);
}

/* Names that would collide in the schema, where the DDL's IF NOT EXISTS
 * would silently skip the second one: refused when parsing, naming both. */
#define T63 "t23456789012345678901234567890123456789012345678901234567890123"
#define LONG50 "t2345678901234567890123456789012345678901234567890"
#define T63_PKEY "t234567890123456789012345678901234567890123456789012345678_pkey"
#define T63_E_KEY "t23456789012345678901234567890123456789012345678901234567_e_key"
static void test_index_name_collisions(void **state)
{
    const bad_case cases[] = {
        /* Two tables without a primary key whose generated rls index names
         * (first 50 bytes + "_tenant_idx") are the same. */
        {"{\"version\":1,\"tables\":[{\"name\":\"" LONG50 "_a\",\"columns\":[{\"name\":\"x\",\"type\":\"text\"}]},"
         "{\"name\":\"" LONG50 "_b\",\"columns\":[{\"name\":\"x\",\"type\":\"text\"}]}]}",
         NULL, PB_EINVAL,
         "the index on tenant_id the rls layout adds to table \"" LONG50 "_a\" (it has no primary key) and the "
         "index on tenant_id the rls layout adds to table \"" LONG50 "_b\" (it has no primary key) would both be "
         "named \"" LONG50 "_tenant_idx\""},
        /* An index named like another table's primary key index. */
        {"{\"version\":1,\"tables\":[{\"name\":\"p\",\"columns\":[{\"name\":\"id\",\"type\":\"bigint\"}],"
         "\"primaryKey\":[\"id\"]},{\"name\":\"q\",\"columns\":[{\"name\":\"a\",\"type\":\"text\"}],"
         "\"indexes\":[{\"name\":\"p_pkey\",\"columns\":[\"a\"]}]}]}",
         NULL, PB_EINVAL,
         "spec.tables[1].indexes[0].name: index \"p_pkey\" of table \"q\" and the primary key index PostgreSQL "
         "names for table \"p\" would both be named \"p_pkey\""},
        /* ... or like a unique constraint's index, in either layout. */
        {"{\"version\":1,\"tables\":[{\"name\":\"u\",\"columns\":[{\"name\":\"email\",\"type\":\"text\","
         "\"unique\":true}],\"indexes\":[{\"name\":\"u_email_key\",\"columns\":[\"email\"]}]}]}",
         NULL, PB_EINVAL, "index \"u_email_key\" of table \"u\" and the index PostgreSQL names for a unique "
                          "constraint of table \"u\" would both be named \"u_email_key\""},
        {"{\"version\":1,\"tables\":[{\"name\":\"u\",\"columns\":[{\"name\":\"email\",\"type\":\"text\"}],"
         "\"unique\":[[\"email\"]],\"indexes\":[{\"name\":\"u_tenant_id_email_key\",\"columns\":[\"email\"]}]}]}",
         NULL, PB_EINVAL, "constraint of table \"u\" in the rls layout would both be named \"u_tenant_id_email_key\""},
        /* A table named like a generated index. */
        {"{\"version\":1,\"tables\":[{\"name\":\"o\",\"columns\":[{\"name\":\"x\",\"type\":\"text\"}]},"
         "{\"name\":\"o_tenant_idx\",\"columns\":[{\"name\":\"x\",\"type\":\"text\"}]}]}",
         NULL, PB_EINVAL, "spec.tables[0].name: the index on tenant_id the rls layout adds to table \"o\" (it has "
                          "no primary key) and table \"o_tenant_idx\" would both be named \"o_tenant_idx\""},
        /* A primary key index name cut to 63 bytes by PostgreSQL. */
        {"{\"version\":1,\"tables\":[{\"name\":\"" T63 "\",\"columns\":[{\"name\":\"id\",\"type\":\"bigint\"}],"
         "\"primaryKey\":[\"id\"]},{\"name\":\"r\",\"columns\":[{\"name\":\"a\",\"type\":\"text\"}],"
         "\"indexes\":[{\"name\":\"t234567890123456789012345678901234567890123456789012345678_pkey\","
         "\"columns\":[\"a\"]}]}]}",
         NULL, PB_EINVAL, "the primary key index PostgreSQL names for table \"" T63 "\" would both be named "
                          "\"t234567890123456789012345678901234567890123456789012345678_pkey\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_bad(&cases[i]);
    /* Near misses are fine. */
    pb_dm_model *m = parse_ok(
        "{\"version\":1,\"tables\":[{\"name\":\"p\",\"columns\":[{\"name\":\"id\",\"type\":\"bigint\"},"
        "{\"name\":\"e\",\"type\":\"text\",\"unique\":true}],\"primaryKey\":[\"id\"],"
        "\"indexes\":[{\"name\":\"p_pkey2\",\"columns\":[\"e\"]},{\"name\":\"p_e_key1\",\"columns\":[\"e\"]}]},"
        "{\"name\":\"" LONG50 "_a\",\"columns\":[{\"name\":\"x\",\"type\":\"text\"}]}]}");
    pb_dm_free(m);
    m = parse_ok(SHOP);
    pb_dm_free(m);
}

/* At apply time: an index whose name is taken (by an index on another
 * table, on other columns, or by a table) is reported, not silently
 * skipped; an index that is already right is accepted (rerun). */
static pgtest_server dsrv;

static int start_server(void **state) { return pgtest_start(&dsrv); }
static int stop_server(void **state)
{
    pgtest_stop(&dsrv);
    return 0;
}

static const char *exec_state(PGconn *c, const char *sql, char *msg, size_t n)
{
    static char st[8];
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    const char *f = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    snprintf(st, sizeof st, "%s", s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK ? "00000" : f ? f : "?????");
    if (msg)
        snprintf(msg, n, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return st;
}

static void test_taken_index_name_reported(void **state)
{
    PGconn *c = PQconnectdb(dsrv.conninfo);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    char msg[1024];
    assert_string_equal(exec_state(c, "CREATE SCHEMA s; CREATE SCHEMA app; CREATE SCHEMA paybill; "
                                      "CREATE FUNCTION paybill.current_tenant_id() RETURNS text LANGUAGE sql "
                                      "AS 'SELECT NULL::text'", NULL, 0), "00000");
    pb_dm_model *v1 = parse_ok(SHOP);
    const struct {
        pb_dm_layout l;
        const char *schema;
    } targets[] = {{PB_DM_LAYOUT_SCHEMA, "s"}, {PB_DM_LAYOUT_RLS, "app"}};
    for (int i = 0; i < 2; i++) {
        char *ddl = render(NULL, v1, targets[i].l, targets[i].schema, 0, 0, NULL);
        assert_string_equal(exec_state(c, ddl, msg, sizeof msg), "00000");
        /* Rerun: everything is as declared, nothing to report. */
        assert_string_equal(exec_state(c, ddl, msg, sizeof msg), "00000");
        free(ddl);
    }
    /* v2 adds an index on orders; someone made one of that name on
     * customers already. */
    pb_dm_model *v2 = parse_ok(
        "{\"version\":2,\"tables\":[{\"name\":\"orders\",\"columns\":["
        "{\"name\":\"id\",\"type\":\"uuid\",\"nullable\":false,\"default\":{\"function\":\"gen_random_uuid\"}},"
        "{\"name\":\"customer_id\",\"type\":\"bigint\"},"
        "{\"name\":\"total\",\"type\":\"numeric(12,2)\",\"default\":\"0.00\"},"
        "{\"name\":\"status\",\"type\":\"enum\",\"values\":[\"open\",\"paid\"],\"default\":\"open\"},"
        "{\"name\":\"note\",\"type\":\"text\",\"default\":\"it's \\\\ ok\"},"
        "{\"name\":\"meta\",\"type\":\"jsonb\",\"default\":{\"a\":1}},"
        "{\"name\":\"created_at\",\"type\":\"timestamptz\",\"nullable\":false,\"default\":{\"function\":\"now\"}}],"
        "\"primaryKey\":[\"id\"],"
        "\"foreignKeys\":[{\"columns\":[\"customer_id\"],\"references\":{\"table\":\"customers\",\"columns\":[\"id\"]},"
        "\"onDelete\":\"set null\"}],"
        "\"indexes\":[{\"name\":\"orders_by_status\",\"columns\":[\"status\",\"created_at\"]},"
        "{\"name\":\"orders_by_total\",\"columns\":[\"total\"]}]},"
        "{\"name\":\"customers\",\"columns\":["
        "{\"name\":\"id\",\"type\":\"bigint\",\"nullable\":false},"
        "{\"name\":\"email\",\"type\":\"text\",\"nullable\":false,\"unique\":true},"
        "{\"name\":\"active\",\"type\":\"boolean\",\"default\":true}],"
        "\"primaryKey\":[\"id\"]}]}");
    for (int i = 0; i < 2; i++) {
        char sql[256];
        snprintf(sql, sizeof sql, "CREATE INDEX orders_by_total ON %s.customers (email)", targets[i].schema);
        assert_string_equal(exec_state(c, sql, NULL, 0), "00000");
        char *ddl = render(v1, v2, targets[i].l, targets[i].schema, 0, 0, NULL);
        assert_string_equal(exec_state(c, "BEGIN", NULL, 0), "00000");
        assert_string_equal(exec_state(c, ddl, msg, sizeof msg), "42P07");
        assert_non_null(strstr(msg, "orders_by_total\" exists already and is not the one the model declares"));
        assert_non_null(strstr(msg, "ON " ));
        assert_non_null(strstr(msg, ".customers USING btree (email)"));
        assert_string_equal(exec_state(c, "ROLLBACK", NULL, 0), "00000");
        /* Same name, right table, other columns: reported too. */
        snprintf(sql, sizeof sql, "DROP INDEX %s.orders_by_total; CREATE INDEX orders_by_total ON %s.orders (status)",
                 targets[i].schema, targets[i].schema);
        assert_string_equal(exec_state(c, sql, NULL, 0), "00000");
        assert_string_equal(exec_state(c, ddl, msg, sizeof msg), "42P07");
        assert_non_null(strstr(msg, ".orders USING btree (status)"));
        /* A table holding the name. */
        snprintf(sql, sizeof sql, "DROP INDEX %s.orders_by_total; CREATE TABLE %s.orders_by_total (x int)",
                 targets[i].schema, targets[i].schema);
        assert_string_equal(exec_state(c, sql, NULL, 0), "00000");
        assert_string_equal(exec_state(c, ddl, msg, sizeof msg), "42P07");
        assert_non_null(strstr(msg, "relation of kind r"));
        /* Once the name is free, the migration goes through. */
        snprintf(sql, sizeof sql, "DROP TABLE %s.orders_by_total", targets[i].schema);
        assert_string_equal(exec_state(c, sql, NULL, 0), "00000");
        assert_string_equal(exec_state(c, ddl, msg, sizeof msg), "00000");
        free(ddl);
    }
    pb_dm_free(v1);
    pb_dm_free(v2);
    /* The names the parser predicts for implicit indexes are PostgreSQL's,
     * cut to 63 bytes included: a model claiming them is refused. */
    assert_string_equal(exec_state(c, "CREATE TABLE s." T63 " (id bigint PRIMARY KEY, e text, UNIQUE (e)); "
                                      "CREATE TEMP TABLE names AS SELECT string_agg(indexname, ',' ORDER BY indexname) n "
                                      "FROM pg_indexes WHERE schemaname = 's' AND tablename = '" T63 "'",
                                 msg, sizeof msg),
                        "00000");
    PGresult *r = PQexec(c, "SELECT n FROM names");
    assert_string_equal(PQgetvalue(r, 0, 0), T63_PKEY "," T63_E_KEY);
    PQclear(r);
    const char *claims[] = {T63_PKEY, T63_E_KEY};
    for (int i = 0; i < 2; i++) {
        char json[1024];
        snprintf(json, sizeof json,
                 "{\"version\":1,\"tables\":[{\"name\":\"" T63 "\",\"columns\":[{\"name\":\"id\",\"type\":\"bigint\"},"
                 "{\"name\":\"e\",\"type\":\"text\"}],\"primaryKey\":[\"id\"],\"unique\":[[\"e\"]]},"
                 "{\"name\":\"r\",\"columns\":[{\"name\":\"a\",\"type\":\"text\"}],"
                 "\"indexes\":[{\"name\":\"%s\",\"columns\":[\"a\"]}]}]}",
                 claims[i]);
        pb_dm_model *m = NULL;
        pb_err e;
        pb_err_clear(&e);
        assert_int_equal(pb_dm_parse("x", json, &m, &e), PB_EINVAL);
        assert_non_null(strstr(e.msg, claims[i]));
    }
    PQfinish(c);
}

static void test_layout_names(void **state)
{
    pb_dm_layout l;
    assert_int_equal(pb_dm_layout_parse("schema", &l), 0);
    assert_int_equal(l, PB_DM_LAYOUT_SCHEMA);
    assert_int_equal(pb_dm_layout_parse("database", &l), 0);
    assert_int_equal(l, PB_DM_LAYOUT_DATABASE);
    assert_int_equal(pb_dm_layout_parse("silo", &l), PB_EINVAL);
    assert_int_equal(pb_dm_layout_parse(NULL, &l), PB_EINVAL);
    assert_string_equal(pb_dm_layout_name(PB_DM_LAYOUT_RLS), "rls");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_canonical_ignores_key_order),
        cmocka_unit_test(test_bad_identifiers),
        cmocka_unit_test(test_bad_types_and_defaults),
        cmocka_unit_test(test_bad_structure),
        cmocka_unit_test(test_golden_ddl),
        cmocka_unit_test(test_migration_render),
        cmocka_unit_test(test_index_name_collisions),
        cmocka_unit_test_setup_teardown(test_taken_index_name_reported, start_server, stop_server),
        cmocka_unit_test(test_layout_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
