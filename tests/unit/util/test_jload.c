/* Unit tests for util/jload: pb_jload must give exactly what json_loadb
 * gives (the same values, member order, integer or real, the same errors),
 * and its fast path must never accept text jansson rejects. Checked on
 * real API objects, on every kind of value it hands to jansson, on text
 * each separator check exists for, and on random valid and mutated text. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "util/jload.h"

static const char *const OBJECTS[] = {
    "{\"type\":\"MODIFIED\",\"object\":{\"apiVersion\":\"paybill.dev/v1alpha1\",\"kind\":\"Tenant\","
    "\"metadata\":{\"name\":\"t-0001\",\"namespace\":\"paybill-system\",\"uid\":\"6f1c2a4e-0b7d-4c55-9d1e-3a2b1c0d9e8f\","
    "\"resourceVersion\":\"18273\",\"generation\":1,\"creationTimestamp\":\"2026-12-06T01:45:38Z\","
    "\"labels\":{\"paybill.dev/plan\":\"gold\"},\"finalizers\":[\"paybill.dev/tenant\"]},"
    "\"spec\":{\"plan\":\"gold\",\"isolation\":\"silo\",\"owner\":{\"email\":\"ops@example.com\"},\"suspended\":false},"
    "\"status\":{\"phase\":\"Active\",\"observedGeneration\":1,\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\","
    "\"reason\":\"Provisioned\",\"message\":\"all 7 children ready\",\"lastTransitionTime\":\"2026-12-06T01:45:40Z\"}],"
    "\"quota\":{\"cpu\":\"1\",\"memory\":\"1Gi\"},\"ratio\":0.25,\"note\":null}}}",
    "{\n  \"kind\": \"List\",\n  \"metadata\": {\"resourceVersion\": \"7\", \"continue\": \"\"},\n  \"items\": [\n"
    "    {\"metadata\": {\"name\": \"a\", \"annotations\": {\"k\": \"{\\\"x\\\":\\\"<\\u003e\\\"}\"}}},\n"
    "    {\"metadata\": {\"name\": \"b\"}, \"spec\": {\"ports\": [80, 443, -1, 0], \"weights\": [1.5, 2e3, -0.0]}}\n"
    "  ]\n}\n",
    "{\"spec\":{\"podSelector\":{},\"policyTypes\":[\"Ingress\",\"Egress\"],\"ingress\":[{\"from\":[]}],"
    "\"egress\":[{\"to\":[{\"namespaceSelector\":{\"matchLabels\":{\"kubernetes.io/metadata.name\":\"kube-system\"}}}],"
    "\"ports\":[{\"protocol\":\"UDP\",\"port\":53}]}]}}",
    "[]",
    "{}",
    " \t\r\n[ { } , [ ] , \"\" , 0 , true , false , null ] \n",
};

/* The two decoders agree on text[0..n) with flags; returns whether the
 * fast path decoded it itself. */
static int agree(const char *text, size_t n, size_t flags)
{
    json_error_t e1, e2;
    json_t *a = json_loadb(text, n, flags, &e1);
    json_t *b = pb_jload(text, n, flags, &e2);
    json_t *c = NULL;
    int fast = pb_jload_tokens(text, n, flags, &c);
    if ((a == NULL) != (b == NULL) || (fast && !a))
        fail_msg("disagree on %.*s: jansson %s, pb_jload %s, fast path %s", (int)(n < 300 ? n : 300), text,
                 a ? "accepts" : "rejects", b ? "accepts" : "rejects", fast ? "accepts" : "declines");
    if (a) {
        char *da = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
        char *db = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
        char *dc = fast ? json_dumps(c, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        assert_true(json_equal(a, b));
        assert_string_equal(da, db); /* member order, integer or real */
        if (fast) {
            assert_true(json_equal(a, c));
            assert_string_equal(da, dc);
        }
        free(da);
        free(db);
        free(dc);
    } else {
        assert_string_equal(e1.text, e2.text);
        assert_int_equal(e1.position, e2.position);
    }
    json_decref(a);
    json_decref(b);
    json_decref(c);
    return fast;
}

static int agree_str(const char *text)
{
    return agree(text, strlen(text), 0);
}

static void test_objects_take_the_fast_path(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof OBJECTS / sizeof *OBJECTS; i++) {
        assert_true(agree_str(OBJECTS[i]));
        assert_true(agree(OBJECTS[i], strlen(OBJECTS[i]), JSON_DECODE_ANY));
    }
    /* A list bigger than the tokens kept on the stack. */
    size_t cap = 1 << 20, n = 0;
    char *big = malloc(cap);
    assert_non_null(big);
    n += (size_t)snprintf(big + n, cap - n, "{\"items\":[");
    for (int i = 0; i < 2000; i++)
        n += (size_t)snprintf(big + n, cap - n, "%s{\"metadata\":{\"name\":\"t-%d\",\"generation\":%d}}", i ? "," : "",
                              i, i);
    n += (size_t)snprintf(big + n, cap - n, "]}");
    assert_true(agree(big, n, 0));
    free(big);
}

static void test_values_jansson_decodes(void **state)
{
    (void)state;
    /* Escapes, non-ASCII and every number that is not a short integer are
     * decoded by jansson, that value alone: the document stays fast. */
    static const char *const docs[] = {
        "{\"s\":\"tab\\there \\\"quoted\\\" \\\\ \\/ \\b\\f\\n\\r\"}",
        "{\"s\":\"caf\xc3\xa9 \\u00e9 \\ud83d\\ude00 \xf0\x9f\x98\x80\"}",
        "{\"k\\u0041y\":1,\"caf\xc3\xa9\":2}",
        "[0,-0,1,-1,123456789012345678,-123456789012345678]",
        "[1234567890123456789,-9223372036854775808,9223372036854775807]",
        "[1.5,-0.5,1e3,1E-3,1.25e+2,0.0,-0.0]",
        "{\"a\":1,\"b\":2,\"a\":3}",                   /* the last wins, in the first one's place */
        "{\"a\":{\"x\":1},\"a\":[2],\"b\":null,\"a\":\"s\"}",
        "{\"del\":\"\x7f\"}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++)
        assert_true(agree_str(docs[i]));
}

static void test_declines_what_it_does_not_decode(void **state)
{
    (void)state;
    /* Each separator and value check, and what jansson alone decides. */
    static const char *const docs[] = {
        "{\"a\" \"b\"}", "{\"a\":1 \"b\":2}", "[1 2]", "[1,,2]", "[,1]", "[1,]", "{\"a\":1,}", "{,\"a\":1}",
        "{\"a\"::1}", "{\"a\":1:2}", "[\"a\":1]", "{1:2}", "{\"a\"}", "{\"a\":}", "{:1}", "[}", "{]", "[[]", "[]]",
        "{\"a\":tru}", "{\"a\":nulll}", "{\"a\":True}", "{\"a\":01}", "{\"a\":-01}", "{\"a\":1.}", "{\"a\":.5}",
        "{\"a\":+1}", "{\"a\":-}", "{\"a\":1e}", "{\"a\":0x10}", "{\"a\":99999999999999999999}",
        "{\"a\":-99999999999999999999}", "{\"a\":1e999}", "{\"a\":\"\x01\"}", "{\"a\":\"\\u0000\"}",
        "{\"\\u0000\":1}", "{\"a\":\"\xff\"}", "{\"a\":\"\xc3\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12\"}", "{\"a\":\"open}", "{} {}", "{}x", "[]]", "\xef\xbb\xbf{}", "\"str\"", "1", "true",
        "", " ", "{\"a\":[1,2}", "{'a':1}", "{\"a\":1}//", "[\"a\" , \"b\" ,]", "{\"a\":\"\n\"}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) {
        json_t *v = NULL;
        if (pb_jload_tokens(docs[i], strlen(docs[i]), 0, &v))
            fail_msg("fast path decoded %s", docs[i]);
        agree_str(docs[i]);
        agree(docs[i], strlen(docs[i]), JSON_DECODE_ANY);
    }
    /* NUL bytes inside and after the text. */
    agree("{\"a\":1}\0", 8, 0);
    agree("{\"a\":\0}", 7, 0);
    agree("[\"a\0b\"]", 7, 0);
    /* Nesting: 200 is fine for jansson but deeper than the fast path goes;
     * 3,000 is too deep for both. */
    for (int depth = 200; depth <= 3000; depth += 2800) {
        char *s = malloc((size_t)depth * 2);
        assert_non_null(s);
        memset(s, '[', (size_t)depth);
        memset(s + depth, ']', (size_t)depth);
        assert_false(agree(s, (size_t)depth * 2, 0));
        free(s);
    }
    /* A repeated key under JSON_REJECT_DUPLICATES, at any depth, is
     * jansson's to reject; other flags go to jansson as they are. */
    static const char *const dups[] = {"{\"a\":1,\"a\":2}", "{\"a\":1,\"b\":{\"c\":[],\"c\":[]}}",
                                       "[{},{\"x\":{\"k\":1,\"\\u006b\":2}}]"};
    for (size_t i = 0; i < sizeof dups / sizeof *dups; i++) {
        json_t *v = NULL;
        assert_false(pb_jload_tokens(dups[i], strlen(dups[i]), JSON_REJECT_DUPLICATES, &v));
        assert_false(agree(dups[i], strlen(dups[i]), JSON_REJECT_DUPLICATES));
        assert_true(agree_str(dups[i])); /* without the flag: the last wins */
    }
    static const char nested[] = "{\"a\":1,\"b\":{\"a\":2}}"; /* the same key in another object */
    assert_true(agree(nested, strlen(nested), JSON_REJECT_DUPLICATES));
    json_t *v = NULL;
    assert_false(pb_jload_tokens("{}", 2, JSON_DISABLE_EOF_CHECK, &v));
}

/* ---- random text ------------------------------------------------------- */

static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;

static unsigned rnd(unsigned n)
{
    return tu_rand(&rng_state, n);
}

static void test_random_valid_text(void **state)
{
    (void)state;
    static const size_t styles[] = {JSON_COMPACT, JSON_INDENT(2), JSON_ENSURE_ASCII | JSON_COMPACT, 0,
                                    JSON_INDENT(1) | JSON_ENSURE_ASCII};
    int fast = 0, total = 0;
    for (int i = 0; i < 3000; i++) {
        json_t *root = rnd(2) ? json_object() : json_array();
        for (unsigned k = rnd(6); k > 0; k--) {
            json_t *v = tu_random_json(&rng_state, 1, 5);
            if (json_is_object(root))
                json_object_set_new(root, k % 2 ? "spec" : "status", v);
            else
                json_array_append_new(root, v);
        }
        char *text = json_dumps(root, styles[rnd(sizeof styles / sizeof *styles)]);
        assert_non_null(text);
        fast += agree(text, strlen(text), rnd(2) ? JSON_DECODE_ANY : JSON_REJECT_DUPLICATES);
        total++;
        free(text);
        json_decref(root);
    }
    assert_int_equal(fast, total); /* valid text within the depth limit is always decoded here */
}

static void test_random_mutations(void **state)
{
    (void)state;
    static const char alphabet[] = "{}[]:,\" \\0123456789-+.eEtfnrul\t\n\x7f\x80\xc3\xa9";
    int fast = 0, rejected = 0;
    char buf[4096];
    for (int i = 0; i < 40000; i++) {
        const char *seed = OBJECTS[rnd(sizeof OBJECTS / sizeof *OBJECTS)];
        size_t n = strlen(seed);
        memcpy(buf, seed, n);
        for (unsigned edits = 1 + rnd(3); edits > 0 && n > 0; edits--) {
            size_t at = rnd((unsigned)n);
            switch (rnd(5)) {
            case 0: /* replace */
                buf[at] = alphabet[rnd(sizeof alphabet - 1)];
                break;
            case 1: /* delete */
                memmove(buf + at, buf + at + 1, n - at - 1);
                n--;
                break;
            case 2: /* insert */
                if (n + 1 < sizeof buf) {
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = alphabet[rnd(sizeof alphabet - 1)];
                    n++;
                }
                break;
            case 3: { /* repeat a slice */
                size_t len = 1 + rnd(8);
                if (at + len <= n && n + len < sizeof buf) {
                    memmove(buf + at + len, buf + at, n - at);
                    n += len;
                }
                break;
            }
            default: /* truncate */
                n = at;
                break;
            }
        }
        int f = agree(buf, n, (size_t[]){0, JSON_DECODE_ANY, JSON_REJECT_DUPLICATES}[rnd(3)]);
        fast += f;
        json_t *v = json_loadb(buf, n, 0, NULL);
        rejected += v == NULL;
        json_decref(v);
    }
    /* The mutations exercised both sides: many accepted by the fast path,
     * many rejected (by jansson, and then declined by the fast path). */
    assert_true(fast > 2000);
    assert_true(rejected > 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_objects_take_the_fast_path),
        cmocka_unit_test(test_values_jansson_decodes),
        cmocka_unit_test(test_declines_what_it_does_not_decode),
        cmocka_unit_test(test_random_valid_text),
        cmocka_unit_test(test_random_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
