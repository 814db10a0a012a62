/* Unit tests for util/jpack: lossless round trips, the dictionary, size,
 * path lookup, and corrupt buffers (every truncation, random bytes). */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "util/jpack.h"

/* Pack, unpack, and require the same value with the same member order. */
static void roundtrip(json_t *v)
{
    size_t n = 0;
    unsigned char *b = jpack_encode(v, &n);
    assert_non_null(b);
    assert_true(n > 0);
    json_t *back = jpack_decode(b, n);
    assert_non_null(back);
    assert_true(json_equal(v, back));
    char *s1 = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    char *s2 = json_dumps(back, JSON_ENCODE_ANY | JSON_COMPACT);
    assert_string_equal(s1, s2); /* order preserved, not just equal */
    free(s1);
    free(s2);
    json_decref(back);
    free(b);
}

static void test_scalars(void **state)
{
    (void)state;
    json_t *vals[] = {
        json_null(), json_true(), json_false(), json_integer(0), json_integer(-1), json_integer(30),
        json_integer(31), json_integer(1LL << 40), json_integer(INT64_MAX), json_integer(INT64_MIN),
        json_real(0.5), json_real(-1e300), json_real(0.0), json_string(""), json_string("True"),
        json_string("Tru"), json_string("Truex"), json_string("héllo ✓"),
        json_stringn("a\0b", 3), /* embedded NUL */
    };
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        roundtrip(vals[i]);
        json_decref(vals[i]);
    }
    /* Lengths around the inline/varint boundary and a big one. */
    size_t lens[] = {30, 31, 32, 127, 128, 16384, 200000};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        char *s = malloc(lens[i] + 1);
        memset(s, 'x', lens[i]);
        s[lens[i]] = '\0';
        json_t *v = json_string(s);
        roundtrip(v);
        json_decref(v);
        free(s);
    }
}

static void test_containers(void **state)
{
    (void)state;
    const char *text =
        "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"zeta\":1,\"alpha\":2,"
        "\"metadata\":{\"name\":\"a\",\"namespace\":\"t-1\",\"resourceVersion\":\"42\","
        "\"labels\":{\"app.kubernetes.io/name\":\"x\"},\"ownerReferences\":[{\"uid\":\"u\",\"controller\":true}]},"
        "\"data\":{},\"list\":[],\"nested\":[[[{}]]],\"mixed\":[1,\"two\",3.5,null,false,{\"k\":[true]}]}";
    json_t *v = json_loads(text, 0, NULL);
    assert_non_null(v);
    roundtrip(v);
    json_decref(v);

    /* Counts past the inline argument; keys with NUL and non-ASCII. */
    json_t *big = json_object(), *arr = json_array();
    char k[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof k, "key-%d", 999 - i);
        json_object_set_new(big, k, json_integer(i));
        json_array_append_new(arr, json_integer(-i));
    }
    json_object_set_new(big, "ключ", arr);
    roundtrip(big);
    json_decref(big);

    /* A key with a NUL (json_equal can't compare those: check by hand). */
    json_t *nul = json_object();
    json_object_setn_new(nul, "n\0ul", 4, json_string("v"));
    size_t n;
    unsigned char *b = jpack_encode(nul, &n);
    json_t *back = jpack_decode(b, n);
    assert_int_equal(json_object_size(back), 1);
    assert_string_equal(json_string_value(json_object_getn(back, "n\0ul", 4)), "v");
    assert_null(json_object_get(back, "n"));
    json_decref(back);
    json_decref(nul);
    free(b);

    /* Deep nesting (jansson parses up to 2048 levels). */
    json_t *deep = json_integer(7);
    for (int i = 0; i < 2000; i++) {
        json_t *a = json_array();
        json_array_append_new(a, deep);
        deep = a;
    }
    roundtrip(deep);
    json_decref(deep);
}

static void test_dictionary(void **state)
{
    (void)state;
    size_t n = jpack_dictionary_size();
    assert_true(n > 50);
    assert_null(jpack_dictionary_word(n));
    for (size_t i = 0; i < n; i++) {
        const char *w = jpack_dictionary_word(i);
        if (i > 0) { /* by length, then bytes: the encoder binary-searches it */
            const char *prev = jpack_dictionary_word(i - 1);
            assert_true(strlen(prev) < strlen(w) || (strlen(prev) == strlen(w) && strcmp(prev, w) < 0));
        }
        json_t *s = json_string(w);
        size_t len;
        unsigned char *b = jpack_encode(s, &len);
        assert_true(len <= 3); /* found: a tag and a short varint, not the text */
        roundtrip(s);
        free(b);
        json_decref(s);
    }
}

static void test_size(void **state)
{
    (void)state;
    const char *text =
        "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"app-config-000042\","
        "\"namespace\":\"tenant-042\",\"uid\":\"6c3e27b2-1f2e-4d3c-9b8a-00000000002a\",\"resourceVersion\":\"1042\","
        "\"creationTimestamp\":\"2026-11-25T01:00:42Z\",\"labels\":{\"app.kubernetes.io/managed-by\":"
        "\"paybill-operator\",\"app.kubernetes.io/name\":\"paybill-tenant\",\"paybill.dev/tenant\":\"tenant-042\"},"
        "\"annotations\":{\"paybill.dev/plan\":\"gold\"}},\"data\":{\"LOG_LEVEL\":\"info\",\"MAX_CONNECTIONS\":\"52\"}}";
    json_t *v = json_loads(text, 0, NULL);
    size_t n;
    unsigned char *b = jpack_encode(v, &n);
    /* Kubernetes objects are mostly keys and labels from the dictionary. */
    assert_true(n < strlen(text) * 3 / 4);
    free(b);
    json_decref(v);
}

static void test_get_string(void **state)
{
    (void)state;
    json_t *v = json_pack("{s:{s:s,s:s,s:i,s:{s:s}},s:[s],s:s}", "metadata", "name", "a", "resourceVersion", "True",
                          "generation", 3, "labels", "x", "y", "items", "i", "status", "ok");
    size_t n, len = 0;
    unsigned char *b = jpack_encode(v, &n);
    const char *s = jpack_get_string(b, n, "metadata.name", &len);
    assert_non_null(s);
    assert_int_equal(len, 1);
    assert_memory_equal(s, "a", 1);
    s = jpack_get_string(b, n, "metadata.resourceVersion", &len); /* a dictionary word */
    assert_int_equal(len, 4);
    assert_memory_equal(s, "True", 4);
    s = jpack_get_string(b, n, "metadata.labels.x", &len); /* after a skipped member */
    assert_memory_equal(s, "y", 1);
    assert_non_null(jpack_get_string(b, n, "status", &len));
    assert_null(jpack_get_string(b, n, "metadata.generation", &len)); /* not a string */
    assert_null(jpack_get_string(b, n, "metadata.nope", &len));
    assert_null(jpack_get_string(b, n, "items.0", &len)); /* arrays are not paths */
    assert_null(jpack_get_string(b, n, "metadata", &len)); /* an object */
    assert_null(jpack_get_string(b, n, "metadata.name.x", &len));
    assert_null(jpack_get_string(b, n - 1, "status", &len)); /* truncated before it */
    assert_null(jpack_get_string(NULL, 0, "status", &len));
    free(b);
    json_decref(v);
}

static void test_corrupt(void **state)
{
    (void)state;
    json_t *v = json_loads("{\"metadata\":{\"name\":\"abc\",\"generation\":300,\"x\":1.5},"
                           "\"items\":[null,true,\"a long enough string to need a varint length\"]}",
                           0, NULL);
    size_t n;
    unsigned char *b = jpack_encode(v, &n);
    /* Every strict prefix is incomplete. */
    for (size_t i = 0; i < n; i++)
        assert_null(jpack_decode(b, i));
    /* Trailing bytes: not exactly one value. */
    unsigned char *longer = malloc(n + 1);
    memcpy(longer, b, n);
    longer[n] = 0;
    assert_null(jpack_decode(longer, n + 1));
    free(longer);
    /* Flipping any byte must not crash or read out of bounds (ASan). */
    for (size_t i = 0; i < n; i++)
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (unsigned char)(1 << bit);
            json_decref(jpack_decode(b, n));
            size_t len;
            (void)jpack_get_string(b, n, "metadata.name", &len);
            b[i] ^= (unsigned char)(1 << bit);
        }
    free(b);
    json_decref(v);

    /* Hand-made hostile buffers. */
    const unsigned char huge_count[] = {0x06 | (31 << 3), 0xff, 0xff, 0xff, 0xff, 0x0f}; /* object, 4G members */
    assert_null(jpack_decode(huge_count, sizeof huge_count));
    const unsigned char bad_word[] = {0x04 | (31 << 3), 0xff, 0x7f}; /* word 16383 */
    assert_null(jpack_decode(bad_word, sizeof bad_word));
    const unsigned char bad_lit[] = {0x00 | (5 << 3)};
    assert_null(jpack_decode(bad_lit, sizeof bad_lit));
    const unsigned char bad_type[] = {0x07};
    assert_null(jpack_decode(bad_type, sizeof bad_type));
    const unsigned char long_varint[] = {0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_null(jpack_decode(long_varint, sizeof long_varint));
    const unsigned char int_key[] = {0x06 | (1 << 3), 0x01, 0x00, 0x00}; /* object whose key is an int */
    assert_null(jpack_decode(int_key, sizeof int_key));
    assert_null(jpack_decode(NULL, 0));
    assert_null(jpack_decode((const unsigned char *)"", 0));
    assert_null(jpack_encode(NULL, &n));

    /* Nesting past the decoder's limit: arrays of one item, 5000 deep. */
    size_t depth = 5000;
    unsigned char *deep = malloc(depth + 1);
    memset(deep, 0x05 | (1 << 3), depth);
    deep[depth] = 0x00; /* null */
    assert_null(jpack_decode(deep, depth + 1));
    free(deep);

    /* Random bytes, deterministic. */
    unsigned int seed = 12345;
    unsigned char rnd[64];
    for (int round = 0; round < 20000; round++) {
        for (size_t i = 0; i < sizeof rnd; i++) {
            seed = seed * 1103515245u + 12345u;
            rnd[i] = (unsigned char)(seed >> 16);
        }
        json_decref(jpack_decode(rnd, 1 + (size_t)round % sizeof rnd));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),    cmocka_unit_test(test_containers), cmocka_unit_test(test_dictionary),
        cmocka_unit_test(test_size),       cmocka_unit_test(test_get_string), cmocka_unit_test(test_corrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
