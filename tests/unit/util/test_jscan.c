/* Unit tests for util/jscan: finding one member in JSON text, and failing
 * safe (not found) on anything it does not follow. */
#include "testutil.h"

#include <string.h>

#include "util/jscan.h"

static int str_at(const char *text, const char *path, char *buf, size_t len)
{
    return pb_jscan_string(text, strlen(text), path, buf, len);
}

static void test_string_at_path(void **state)
{
    char b[64];
    assert_int_equal(str_at("{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"42\"}}", "metadata.resourceVersion",
                            b, sizeof b),
                     0);
    assert_string_equal(b, "42");
    /* Whitespace anywhere, members before it holding tricky strings and nesting. */
    assert_int_equal(str_at(" { \"spec\" : {\"x\":[1,{\"y\":\"}]\\\"{[\"}],\"resourceVersion\":\"no\"} ,\n"
                            "\"metadata\" : { \"labels\":{\"a\":\"\\\\\"}, \"resourceVersion\" : \"7\" } } ",
                            "metadata.resourceVersion", b, sizeof b),
                     0);
    assert_string_equal(b, "7");
    /* Escapes in the value are jansson's to decode. */
    assert_int_equal(str_at("{\"k\":\"a\\u00e9\\\"b\"}", "k", b, sizeof b), 0);
    assert_string_equal(b, "a\xc3\xa9\"b");
    /* A top-level member only: the same key deeper does not count. */
    assert_int_equal(str_at("{\"spec\":{\"metadata\":{\"resourceVersion\":\"1\"}}}", "metadata.resourceVersion", b,
                            sizeof b),
                     -1);
    assert_string_equal(b, "");
}

static void test_fails_safe(void **state)
{
    char b[8];
    static const char *const bad[] = {
        "",                                                   /* nothing */
        "[{\"metadata\":{\"resourceVersion\":\"1\"}}]",       /* not an object */
        "{\"metadata\":{\"resourceVersion\":1}}",             /* not a string */
        "{\"metadata\":{\"resourceVersion\":\"123456789\"}}", /* too long for b */
        "{\"metadata\":{\"resourceVersion\":\"1}}",           /* unterminated */
        "{\"a\":[}],\"metadata\":{\"resourceVersion\":\"1\"}}", /* wrong closer before it */
        "{\"a\" 1,\"metadata\":{\"resourceVersion\":\"1\"}}",    /* no colon */
        "{\"\\u006detadata\":{\"resourceVersion\":\"1\"}}",    /* escaped key: not followed */
        "{\"metadata\":{\"resourceVersion\":\"\\u0000\"}}",    /* NUL inside: jansson refuses */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        strcpy(b, "x");
        assert_int_equal(str_at(bad[i], "metadata.resourceVersion", b, sizeof b), -1);
        assert_string_equal(b, "");
    }
    assert_int_equal(str_at("{\"a\":\"1\"}", "a..b", b, sizeof b), -1);
    assert_int_equal(pb_jscan_string("{}", 2, "a", b, 0), -1);
}

static void test_find_reports_places(void **state)
{
    const char *t = "{\"a\":1, \"b\" : [2,3] ,\"c\":{}}";
    pb_jscan_member m;
    assert_true(pb_jscan_find(t, strlen(t), 0, "b", &m));
    assert_int_equal(t[m.key], '"');
    assert_int_equal(m.key, 8);
    assert_int_equal(t[m.value], '[');
    assert_int_equal(t[m.end - 1], ']');
    assert_int_equal(t[m.comma_before], ',');
    assert_true(pb_jscan_find(t, strlen(t), 0, "a", &m));
    assert_int_equal(m.comma_before, 0);
    assert_false(pb_jscan_find(t, strlen(t), 0, "d", &m));
    assert_false(pb_jscan_find(t, strlen(t), 1, "a", &m)); /* p[obj] is not '{' */
    /* 65 levels of nesting before the member: not followed. */
    char deep[200] = "{\"x\":";
    for (int i = 0; i < 65; i++)
        strcat(deep, "[");
    for (int i = 0; i < 65; i++)
        strcat(deep, "]");
    strcat(deep, ",\"y\":1}");
    assert_false(pb_jscan_find(deep, strlen(deep), 0, "y", &m));
}

static void test_enter(void **state)
{
    const char *t = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}, \"spec\": [}}";
    size_t at = 0;
    /* Entered without walking to its end: the malformed spec after it is
     * not this call's business (the caller's decoder rejects it). */
    assert_true(pb_jscan_enter(t, strlen(t), 0, "object", &at));
    assert_int_equal(t[at], '{');
    size_t md = 0;
    assert_true(pb_jscan_enter(t, strlen(t), at, "metadata", &md));
    assert_memory_equal(t + md, "{\"name\":", 8);
    assert_false(pb_jscan_enter(t, strlen(t), 0, "type", &at));   /* a string, not an object */
    assert_false(pb_jscan_enter(t, strlen(t), 0, "nothing", &at)); /* absent */
    assert_false(pb_jscan_enter("{\"object\":", 11, 0, "object", &at)); /* no value */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_string_at_path),
        cmocka_unit_test(test_fails_safe),
        cmocka_unit_test(test_find_reports_places),
        cmocka_unit_test(test_enter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
