/* Unit tests for util/jdump: pb_jdump must write exactly the bytes
 * json_dumps writes (member order, sorted keys, escapes, integers, reals)
 * and refuse what it refuses; the fast path must be the one taken for the
 * compact text the operator sends. Checked on API objects, on every byte a
 * string can hold, on the edges (deep, cyclic, scalar, other flags) and on
 * random trees. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "util/jdump.h"

static const char *const OBJECTS[] = {
    "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"paybill-default\","
    "\"namespace\":\"tenant-t-0001\",\"labels\":{\"app.kubernetes.io/managed-by\":\"paybill\",\"paybill.dev/tenant\":"
    "\"t-0001\"},\"ownerReferences\":[{\"apiVersion\":\"paybill.dev/v1alpha1\",\"kind\":\"Tenant\",\"name\":\"t-0001\","
    "\"uid\":\"6f1c2a4e\",\"controller\":true,\"blockOwnerDeletion\":true}]},\"spec\":{\"podSelector\":{},"
    "\"policyTypes\":[\"Ingress\",\"Egress\"],\"egress\":[{\"ports\":[{\"protocol\":\"UDP\",\"port\":53}]}]}}",
    "{\"status\":{\"phase\":\"Active\",\"observedGeneration\":3,\"ratio\":0.25,\"big\":1e300,\"neg\":-0.0,\"one\":1.0,"
    "\"small\":1.5e-7,\"note\":null,\"ok\":true,\"off\":false,\"min\":-9223372036854775808,"
    "\"max\":9223372036854775807,\"msg\":\"caf\\u00e9 \\\"quoted\\\" back\\\\slash </script> tab\\t nl\\n\"}}",
    "[]",
    "{}",
    "[[],{},[{}],{\"\":[\"\"]}]",
};

/* pb_jdump and json_dumps agree on v with flags; returns whether the fast
 * path wrote it. */
static int agree(const json_t *v, size_t flags)
{
    char *want = json_dumps(v, flags);
    char *got = pb_jdump(v, flags);
    if (!want || !got) {
        assert_null(want);
        assert_null(got);
    } else {
        assert_string_equal(got, want);
    }
    char *fast = NULL;
    int took = pb_jdump_gen(v, flags, &fast);
    if (took) {
        if (want)
            assert_string_equal(fast, want);
        else
            assert_null(fast);
    }
    free(fast);
    free(want);
    free(got);
    return took;
}

static void test_objects_take_the_fast_path(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof OBJECTS / sizeof *OBJECTS; i++) {
        json_error_t e;
        json_t *v = json_loads(OBJECTS[i], 0, &e);
        assert_non_null(v);
        assert_true(agree(v, JSON_COMPACT));
        assert_true(agree(v, JSON_COMPACT | JSON_SORT_KEYS));
        assert_true(agree(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY));
        assert_true(agree(v, JSON_COMPACT | JSON_PRESERVE_ORDER));
        json_decref(v);
    }
}

/* Every byte a string can hold, in a key and in a value: control
 * characters, quote, backslash, slash, DEL, and UTF-8 of every length. */
static void test_every_character(void **state)
{
    (void)state;
    json_t *o = json_object();
    for (int c = 0; c < 0x80; c++) {
        char s[8] = {'<', (char)c, '>'};
        json_object_setn_new(o, s, 3, json_stringn(s, 3));
    }
    static const char *const utf8[] = {"caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xe2\x80\xa8", "\xef\xbf\xbf"};
    for (size_t i = 0; i < sizeof utf8 / sizeof *utf8; i++)
        json_object_set_new(o, utf8[i], json_string(utf8[i]));
    assert_true(agree(o, JSON_COMPACT));
    assert_true(agree(o, JSON_COMPACT | JSON_SORT_KEYS));
    char *text = pb_jdump(o, JSON_COMPACT);
    assert_non_null(strstr(text, "\"<\\u001F>\":\"<\\u001F>\""));
    assert_non_null(strstr(text, "\"<\\u0000>\""));
    assert_non_null(strstr(text, "\"</>\"")); /* no JSON_ESCAPE_SLASH: left alone */
    free(text);
    json_decref(o);
}

/* Sorted keys in jansson's order: bytes first, then the shorter key. */
static void test_sorted_keys(void **state)
{
    (void)state;
    json_t *o = json_object();
    static const char *const keys[] = {"b", "a", "ab", "A", "a\xc3\xa9", "", "aa", "B"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        json_object_set_new(o, keys[i], json_integer((json_int_t)i));
    json_object_setn_new(o, "a\0z", 3, json_integer(99));
    json_t *big = json_object(); /* more members than the stack holds */
    for (int i = 0; i < 100; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", (i * 37) % 100);
        json_object_set_new(big, k, json_integer(i));
    }
    json_object_set_new(o, "big", big);
    assert_true(agree(o, JSON_COMPACT | JSON_SORT_KEYS));
    char *text = pb_jdump(o, JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null(strstr(text, "{\"\":5,\"A\":3,\"B\":7,\"a\":1,\"a\\u0000z\":99,\"aa\":6,\"ab\":2,"));
    free(text);
    json_decref(o);
}

static void test_edges_are_jansson_s(void **state)
{
    (void)state;
    /* Scalars: only with JSON_ENCODE_ANY (jansson refuses them otherwise). */
    json_t *s = json_string("x\n"), *r = json_real(0.1), *i = json_integer(-7);
    assert_true(agree(s, JSON_COMPACT | JSON_ENCODE_ANY));
    assert_true(agree(r, JSON_COMPACT | JSON_ENCODE_ANY));
    assert_true(agree(i, JSON_COMPACT | JSON_ENCODE_ANY));
    assert_false(agree(s, JSON_COMPACT));
    assert_null(pb_jdump(s, JSON_COMPACT));
    assert_true(agree(json_null(), JSON_COMPACT | JSON_ENCODE_ANY));
    assert_null(pb_jdump(NULL, JSON_COMPACT));
    json_decref(s);
    json_decref(r);
    json_decref(i);

    /* Other flags are json_dumps's own. */
    json_error_t e;
    json_t *v = json_loads(OBJECTS[1], 0, &e);
    assert_false(agree(v, 0));
    assert_false(agree(v, JSON_INDENT(2) | JSON_SORT_KEYS));
    assert_false(agree(v, JSON_COMPACT | JSON_ENSURE_ASCII));
    assert_false(agree(v, JSON_COMPACT | JSON_ESCAPE_SLASH));
    assert_false(agree(v, JSON_COMPACT | JSON_REAL_PRECISION(5)));
    assert_false(agree(v, JSON_COMPACT | JSON_EMBED));
    json_decref(v);

    /* Within the depth limit here; deeper goes to jansson, same bytes. */
    json_t *shallow = json_array(), *deep = json_array();
    json_t *a = shallow;
    for (int d = 1; d < 127; d++) {
        json_t *n = json_array();
        json_array_append_new(a, n);
        a = n;
    }
    json_array_append_new(a, json_string("bottom"));
    assert_true(agree(shallow, JSON_COMPACT));
    a = deep;
    for (int d = 1; d < 300; d++) {
        json_t *n = d % 2 ? json_object() : json_array();
        if (json_is_array(a))
            json_array_append_new(a, n);
        else
            json_object_set_new(a, "n", n);
        a = n;
    }
    assert_false(agree(deep, JSON_COMPACT));
    json_decref(shallow);
    json_decref(deep);

    /* A cycle: json_dumps refuses the tree, and so must pb_jdump. */
    json_t *x = json_object(), *y = json_array();
    json_object_set(x, "y", y);
    json_array_append(y, x);
    assert_null(pb_jdump(x, JSON_COMPACT));
    assert_null(pb_jdump(x, JSON_COMPACT | JSON_SORT_KEYS));
    json_array_clear(y);
    json_decref(y);
    json_decref(x);
}

static void test_random_trees(void **state)
{
    (void)state;
    static const size_t flags[] = {JSON_COMPACT, JSON_COMPACT | JSON_SORT_KEYS, JSON_COMPACT | JSON_ENCODE_ANY,
                                   JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY};
    unsigned long long rng = 0x2545f4914f6cdd1dULL;
    int fast = 0;
    for (int i = 0; i < 5000; i++) {
        json_t *v = tu_random_json(&rng, 0, 6);
        size_t f = flags[tu_rand(&rng, sizeof flags / sizeof *flags)];
        int took = agree(v, f);
        assert_int_equal(took, (f & JSON_ENCODE_ANY) || json_is_object(v) || json_is_array(v));
        fast += took;
        json_decref(v);
    }
    assert_true(fast > 2500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_objects_take_the_fast_path),
        cmocka_unit_test(test_every_character),
        cmocka_unit_test(test_sorted_keys),
        cmocka_unit_test(test_edges_are_jansson_s),
        cmocka_unit_test(test_random_trees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
