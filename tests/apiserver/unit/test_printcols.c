/*
 * Unit tests for tests/apiserver/printcols.c: JSONPath evaluation for CRD
 * printer columns, cell conversion by column type, path checking and the
 * human-readable age of timestamps.
 */
#include "testutil.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "printcols.h"

static json_t *J(const char *sq)
{
    char *s = strdup(sq);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t e;
    json_t *v = json_loads(s, JSON_DECODE_ANY, &e);
    if (!v)
        fail_msg("bad test JSON %s: %s", sq, e.text);
    free(s);
    return v;
}

static const char OBJ[] =
    "{'apiVersion':'paybill.dev/v1','kind':'Tenant','metadata':{'name':'acme','creationTimestamp':'2024-01-01T00:00:00Z',"
    "'labels':{'app.kubernetes.io/name':'acme'}},"
    "'spec':{'plan':'pro','replicas':3,'ratio':1.5,'big':1000000.0,'on':true,'tags':['a','b','c'],'nested':{'x':1}},"
    "'status':{'conditions':[{'type':'Synced','status':'False','n':1},{'type':'Ready','status':'True','n':2}],"
    "'phase':'Active','empty':null}}";

typedef struct ecase {
    const char *path, *want; /* want: JSON text, or NULL for no result */
} ecase;

static const ecase ecases[] = {
    {".spec.plan", "'pro'"},
    {"{.spec.plan}", "'pro'"},
    {"$.spec.plan", "'pro'"},
    {".spec.replicas", "3"},
    {".spec.tags[0]", "'a'"},
    {".spec.tags[-1]", "'c'"},
    {".spec.tags[5]", NULL},
    {".spec.tags[*]", "'a'"},
    {".spec.tags[1:]", "'b'"},
    {".spec.nested", "{'x':1}"},
    {".spec.nested.*", "1"},
    {".status.conditions[?(@.type==\"Ready\")].status", "'True'"},
    {".status.conditions[?(@.type=='Ready')].status", "'True'"},
    {".status.conditions[?(@.type!=\"Ready\")].status", "'False'"},
    {".status.conditions[?(@.n > 1)].type", "'Ready'"},
    {".status.conditions[?(@.n <= 1)].type", "'Synced'"},
    {".status.conditions[?(@.type==\"Nope\")].status", NULL},
    {".status.conditions[?(@.status)].type", "'Synced'"},
    {".status.conditions[*].type", "'Synced'"},
    {".metadata.labels['app.kubernetes.io/name']", "'acme'"},
    {".metadata.labels.app\\.kubernetes\\.io/name", NULL},
    {"..phase", "'Active'"},
    {".status.missing.deeper", NULL},
    {".spec.plan.notanobject", NULL},
    {".status.empty", "null"},
    {".", NULL /* checked separately: the whole object */},
};

static void test_eval_table(void **state)
{
    json_t *obj = J(OBJ);
    for (size_t i = 0; i < sizeof ecases / sizeof ecases[0]; i++) {
        if (!strcmp(ecases[i].path, "."))
            continue;
        json_t *got = dv_printcol_eval(ecases[i].path, obj);
        if (!ecases[i].want) {
            if (got)
                fail_msg("%s: got %s, want nothing", ecases[i].path, json_dumps(got, JSON_ENCODE_ANY));
            continue;
        }
        json_t *want = J(ecases[i].want);
        if (!got || !json_equal(got, want))
            fail_msg("%s: got %s", ecases[i].path, got ? json_dumps(got, JSON_ENCODE_ANY) : "nothing");
        json_decref(want);
        json_decref(got);
    }
    json_t *whole = dv_printcol_eval(".", obj);
    assert_ptr_equal(whole, obj);
    json_decref(whole);
    json_decref(obj);
}

static void test_cells(void **state)
{
    json_t *obj = J(OBJ);
    static const struct {
        const char *path, *type, *want; /* want: JSON text or NULL */
    } cases[] = {
        {".spec.plan", "string", "'pro'"},
        {".spec.replicas", "string", "'3'"},
        {".spec.ratio", "string", "'1.5'"},
        {".spec.big", "string", "'1e+06'"},
        {".spec.on", "string", "'true'"},
        {".spec.tags", "string", "'[\\'a\\',\\'b\\',\\'c\\']'"},
        {".spec.replicas", "integer", "3"},
        {".spec.ratio", "integer", "1"},
        {".spec.plan", "integer", NULL},
        {".spec.replicas", "number", "3.0"},
        {".spec.on", "boolean", "true"},
        {".spec.plan", "boolean", NULL},
        {".metadata.creationTimestamp", "date", "'2024-01-01T00:00:00Z'"},
        {".spec.replicas", "date", NULL},
        {".status.empty", "string", NULL},
        {".status.none", "string", NULL},
        {".spec.plan", "weird", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *cell = dv_printcol_cell(cases[i].path, cases[i].type, obj);
        if (!cases[i].want) {
            if (cell)
                fail_msg("%s as %s: got %s", cases[i].path, cases[i].type, json_dumps(cell, JSON_ENCODE_ANY));
            continue;
        }
        char *w = strdup(cases[i].want);
        /* \' in the table stands for a double quote inside a JSON string */
        for (char *p = w; *p; p++)
            if (*p == '\'')
                *p = (p > w && p[-1] == '\\') ? '"' : '"';
        json_t *want = json_loads(w, JSON_DECODE_ANY, NULL);
        free(w);
        assert_non_null(want);
        if (!cell || !json_equal(cell, want))
            fail_msg("%s as %s: got %s", cases[i].path, cases[i].type,
                     cell ? json_dumps(cell, JSON_ENCODE_ANY) : "nothing");
        json_decref(want);
        json_decref(cell);
    }
    json_decref(obj);
}

static void test_check(void **state)
{
    static const char *const good[] = {".spec.plan", "{.a.b}", ".a[0].b", ".a[*]", ".a[?(@.type==\"Ready\")].status",
                                       ".a['x.y']", "..name", ".a[1:2]", NULL};
    static const char *const bad[] = {"", "spec.plan", ".a[", ".a[x]", ".a[?(@.x==)]", ".a[?(x==1)]", ".a['x]",
                                      ".a[?(@.x==\"y\"]", NULL};
    char msg[200];
    for (int i = 0; good[i]; i++)
        if (dv_printcol_check(good[i], msg, sizeof msg) != 0)
            fail_msg("%s rejected: %s", good[i], msg);
    for (int i = 0; bad[i]; i++) {
        if (dv_printcol_check(bad[i], msg, sizeof msg) != -1)
            fail_msg("%s accepted", bad[i]);
        assert_true(strlen(msg) > 0);
    }
    /* bad paths evaluate to nothing rather than crashing */
    json_t *obj = J(OBJ);
    for (int i = 0; bad[i]; i++)
        assert_null(dv_printcol_eval(bad[i], obj));
    assert_null(dv_printcol_eval(NULL, obj));
    assert_null(dv_printcol_eval(".a", NULL));
    json_decref(obj);
}

static void test_age(void **state)
{
    char buf[32];
    time_t base = 1704067200; /* 2024-01-01T00:00:00Z */
    static const struct {
        long delta;
        const char *want;
    } cases[] = {
        {0, "0s"},        {45, "45s"},           {119, "119s"},         {120, "2m"},       {200, "3m20s"},
        {600, "10m"},     {179 * 60, "179m"},    {3 * 3600, "3h"},      {3 * 3600 + 600, "3h10m"},
        {8 * 3600, "8h"}, {47 * 3600, "47h"},    {50 * 3600, "2d2h"},   {3 * 86400, "3d"}, {30 * 86400, "30d"},
        {800L * 86400, "2y70d"},                 {3000L * 86400, "8y"}, {-1, "0s"},        {-5, "<invalid>"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_string_equal(dv_printcol_age("2024-01-01T00:00:00Z", base + cases[i].delta, buf, sizeof buf),
                            cases[i].want);
    assert_string_equal(dv_printcol_age("2024-01-01T01:00:00+01:00", base + 60, buf, sizeof buf), "60s");
    assert_string_equal(dv_printcol_age("2024-01-01T00:00:00.123Z", base + 5, buf, sizeof buf), "5s");
    assert_string_equal(dv_printcol_age("yesterday", base, buf, sizeof buf), "<invalid>");
    assert_string_equal(dv_printcol_age("2024-13-01T00:00:00Z", base, buf, sizeof buf), "<invalid>");
    assert_string_equal(dv_printcol_age("", base, buf, sizeof buf), "<unknown>");
    assert_string_equal(dv_printcol_age(NULL, base, buf, sizeof buf), "<unknown>");
}

static void test_adversarial(void **state)
{
    /* a long path of missing keys, a deep object, a huge array */
    char *path = malloc(20001);
    for (int i = 0; i < 10000; i++)
        memcpy(path + 2 * i, ".a", 2);
    path[20000] = '\0';
    json_t *o = json_string("leaf");
    for (int i = 0; i < 500; i++)
        o = json_pack("{s:o}", "a", o);
    assert_null(dv_printcol_eval(path, o));
    free(path);
    json_t *deep = dv_printcol_eval("..nope", o);
    assert_null(deep);
    json_decref(o);
    json_t *arr = json_array();
    for (int i = 0; i < 10000; i++)
        json_array_append_new(arr, json_pack("{s:i}", "n", i));
    json_t *doc = json_pack("{s:o}", "l", arr);
    json_t *v = dv_printcol_eval(".l[?(@.n==9999)].n", doc);
    assert_non_null(v);
    assert_int_equal(json_integer_value(v), 9999);
    json_decref(v);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_table),
        cmocka_unit_test(test_cells),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_age),
        cmocka_unit_test(test_adversarial),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
