/* Unit tests for util/json: path getters, type errors, set_path, canonical dumps. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "util/json.h"

static json_t *doc(void)
{
    json_t *v;
    const char *s = "{\"spec\":{\"replicas\":\"3\",\"size\":2,\"ratio\":0.5,\"on\":true,"
                    "\"database\":{\"pool\":\"shared\"},\"gone\":null,"
                    "\"items\":[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":\"c\"}]},"
                    "\"metadata\":{\"annotations\":{\"paybill.dev/tier\":\"gold\"}}}";
    assert_int_equal(pb_json_loads(s, strlen(s), &v, NULL), 0);
    return v;
}

static void test_get_typed(void **state)
{
    json_t *root = doc();
    pb_err e;
    const char *s;
    long long i;
    double d;
    int b;
    json_t *o;
    assert_int_equal(pb_json_get_string(root, "spec.database.pool", &s, &e), 0);
    assert_string_equal(s, "shared");
    assert_int_equal(pb_json_get_string(root, "spec.items[2].name", &s, &e), 0);
    assert_string_equal(s, "c");
    assert_int_equal(pb_json_get_string(root, "metadata.annotations[\"paybill.dev/tier\"]", &s, &e), 0);
    assert_string_equal(s, "gold");
    assert_int_equal(pb_json_get_int(root, "spec.size", &i, &e), 0);
    assert_int_equal(i, 2);
    assert_int_equal(pb_json_get_number(root, "spec.size", &d, &e), 0);
    assert_true(d == 2.0);
    assert_int_equal(pb_json_get_number(root, "spec.ratio", &d, &e), 0);
    assert_true(d == 0.5);
    assert_int_equal(pb_json_get_bool(root, "spec.on", &b, &e), 0);
    assert_int_equal(b, 1);
    assert_int_equal(pb_json_get_object(root, "spec.database", &o, &e), 0);
    assert_true(json_is_object(o));
    assert_int_equal(pb_json_get_array(root, "spec.items", &o, &e), 0);
    assert_int_equal(json_array_size(o), 3);
    json_decref(root);
}

static void test_type_errors(void **state)
{
    json_t *root = doc();
    pb_err e;
    long long i;
    const char *s;
    assert_int_equal(pb_json_get_int(root, "spec.replicas", &i, &e), PB_EINVAL);
    assert_string_equal(e.msg, "spec.replicas: expected integer, got string");
    assert_int_equal(pb_json_get_string(root, "spec.database.pool.x", &s, &e), PB_EINVAL);
    assert_string_equal(e.msg, "spec.database.pool: expected object, got string");
    assert_int_equal(pb_json_get_string(root, "spec.database[0]", &s, &e), PB_EINVAL);
    assert_string_equal(e.msg, "spec.database: expected array, got object");
    assert_int_equal(pb_json_get_string(root, "spec.size", &s, &e), PB_EINVAL);
    assert_string_equal(e.msg, "spec.size: expected string, got integer");
    json_t *arr = json_array();
    assert_int_equal(pb_json_get_string(arr, "a", &s, &e), PB_EINVAL);
    assert_string_equal(e.msg, "<root>: expected object, got array");
    json_decref(arr);
    json_decref(root);
}

static void test_missing(void **state)
{
    json_t *root = doc();
    pb_err e;
    const char *s;
    assert_int_equal(pb_json_get_string(root, "spec.plan", &s, &e), PB_ENOTFOUND);
    assert_string_equal(e.msg, "spec.plan: not found");
    assert_int_equal(pb_json_get_string(root, "spec.items[3].name", &s, &e), PB_ENOTFOUND);
    assert_int_equal(pb_json_get_string(root, "status.phase", &s, &e), PB_ENOTFOUND);
    /* null counts as missing, also in the middle of a path */
    assert_int_equal(pb_json_get_string(root, "spec.gone", &s, &e), PB_ENOTFOUND);
    assert_int_equal(pb_json_get_string(root, "spec.gone.x", &s, &e), PB_ENOTFOUND);
    /* ...but a malformed tail is still reported as a bad path */
    assert_int_equal(pb_json_get_string(root, "status..x", &s, &e), PB_EINVAL);
    json_decref(root);
}

static void test_bad_paths(void **state)
{
    json_t *root = doc();
    pb_err e;
    json_t *v;
    const char *bad[] = {"", ".spec", "spec.", "spec..x", "spec.items[", "spec.items[x]",
                         "spec.items[1", "spec.items[1]name", "a[\"x]", "a]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = pb_json_get(root, bad[i], &v, &e);
        if (rc != PB_EINVAL)
            fail_msg("path '%s' gave %d", bad[i], rc);
        assert_non_null(strstr(e.msg, "bad path"));
    }
    json_decref(root);
}

static void test_optional(void **state)
{
    json_t *root = doc();
    pb_err e;
    const char *s;
    long long i;
    double d;
    int b;
    assert_int_equal(pb_json_opt_string(root, "spec.plan", "free", &s, &e), 0);
    assert_string_equal(s, "free");
    assert_int_equal(pb_json_opt_string(root, "spec.database.pool", "x", &s, &e), 0);
    assert_string_equal(s, "shared");
    assert_int_equal(pb_json_opt_int(root, "spec.workers", 4, &i, &e), 0);
    assert_int_equal(i, 4);
    assert_int_equal(pb_json_opt_int(root, "spec.replicas", 4, &i, &e), PB_EINVAL);
    assert_int_equal(pb_json_opt_number(root, "spec.gone", 1.5, &d, &e), 0);
    assert_true(d == 1.5);
    assert_int_equal(pb_json_opt_bool(root, "spec.off", 0, &b, &e), 0);
    assert_int_equal(b, 0);
    assert_int_equal(pb_json_opt_bool(root, "spec.size", 0, &b, &e), PB_EINVAL);
    json_decref(root);
}

static void test_set_path(void **state)
{
    json_t *root = json_object();
    pb_err e;
    assert_int_equal(pb_json_set_path(root, "status.conditions[0].type", json_string("Ready"), &e), 0);
    assert_int_equal(pb_json_set_path(root, "status.phase", json_string("Active"), &e), 0);
    assert_int_equal(pb_json_set_path(root, "metadata.labels[\"a.b/c\"]", json_string("x"), &e), 0);
    assert_int_equal(pb_json_set_path(root, "status.phase", json_string("Failed"), &e), 0);
    char *s = pb_json_dumps_canonical(root);
    assert_string_equal(s, "{\"metadata\":{\"labels\":{\"a.b/c\":\"x\"}},\"status\":"
                           "{\"conditions\":[{\"type\":\"Ready\"}],\"phase\":\"Failed\"}}");
    free(s);
    /* out-of-range index, non-container in the way, bad path: value is consumed */
    assert_int_equal(pb_json_set_path(root, "status.conditions[5]", json_integer(1), &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "out of range"));
    assert_int_equal(pb_json_set_path(root, "status.phase.x", json_integer(1), &e), PB_EINVAL);
    assert_string_equal(e.msg, "status.phase: expected object, got string");
    assert_int_equal(pb_json_set_path(root, "status..x", json_integer(1), &e), PB_EINVAL);
    assert_int_equal(pb_json_set_path(root, "status.conditions[1]", json_integer(7), &e), 0);
    long long i;
    assert_int_equal(pb_json_get_int(root, "status.conditions[1]", &i, &e), 0);
    assert_int_equal(i, 7);
    json_decref(root);
}

static void test_canonical(void **state)
{
    json_t *a, *b;
    const char *sa = "{\"b\": [1, 2, {\"z\": 1, \"y\": null}], \"a\": \"\\u00e9\"}";
    const char *sb = "{\"a\":\"\xc3\xa9\",\"b\":[1,2,{\"y\":null,\"z\":1}]}";
    assert_int_equal(pb_json_loads(sa, strlen(sa), &a, NULL), 0);
    assert_int_equal(pb_json_loads(sb, strlen(sb), &b, NULL), 0);
    char *ca = pb_json_dumps_canonical(a), *cb = pb_json_dumps_canonical(b);
    assert_string_equal(ca, cb);
    assert_string_equal(ca, sb);
    free(ca);
    free(cb);
    json_t *n = json_integer(5);
    ca = pb_json_dumps_canonical(n);
    assert_string_equal(ca, "5");
    free(ca);
    json_decref(n);
    json_decref(a);
    json_decref(b);
}

static void test_loads_error(void **state)
{
    pb_err e;
    json_t *v = NULL;
    const char *s = "{\n  \"a\": 1,\n  \"b\" 2\n}";
    assert_int_equal(pb_json_loads(s, strlen(s), &v, &e), PB_EPARSE);
    assert_null(v);
    assert_non_null(strstr(e.msg, "line 3, column"));
    assert_int_equal(pb_json_loads("", 0, &v, &e), PB_EPARSE);
}

static void test_unknown_key(void **state)
{
    (void)state;
    static const char *const allowed[] = {"name", "table", NULL};
    static const char *const none[] = {NULL};
    json_t *ok = json_pack("{s:s, s:s}", "name", "a", "table", "t");
    json_t *bad = json_pack("{s:s, s:i}", "name", "a", "tables", 1);
    json_t *empty = json_object(), *arr = json_array();
    assert_null(pb_json_unknown_key(ok, allowed));
    assert_string_equal(pb_json_unknown_key(bad, allowed), "tables");
    assert_string_equal(pb_json_unknown_key(ok, none), "name");
    assert_null(pb_json_unknown_key(empty, none));
    assert_null(pb_json_unknown_key(arr, allowed));
    assert_null(pb_json_unknown_key(NULL, allowed));
    /* A prefix of an allowed key is not that key. */
    json_t *prefix = json_pack("{s:i}", "nam", 1);
    assert_string_equal(pb_json_unknown_key(prefix, allowed), "nam");
    json_decref(ok);
    json_decref(bad);
    json_decref(empty);
    json_decref(arr);
    json_decref(prefix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_typed),   cmocka_unit_test(test_type_errors),
        cmocka_unit_test(test_missing),     cmocka_unit_test(test_bad_paths),
        cmocka_unit_test(test_optional),    cmocka_unit_test(test_set_path),
        cmocka_unit_test(test_canonical),   cmocka_unit_test(test_loads_error),
        cmocka_unit_test(test_unknown_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
