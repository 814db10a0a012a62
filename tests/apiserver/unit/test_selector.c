/*
 * test_selector.c - label and field selector parsing and matching
 * (tests/apiserver/selector.h), with the real server's error wording.
 */
#include "testutil.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "selector.h"

static json_t *obj_with_labels(const char *labels_json)
{
    json_t *o = json_pack("{s:s, s:{s:s, s:s}, s:{s:s}, s:{s:i, s:b}}", "kind", "Pod", "metadata",
                          "name", "web-1", "namespace", "prod", "status", "phase", "Running", "spec",
                          "replicas", 3, "paused", 0);
    if (labels_json) {
        json_t *l = json_loads(labels_json, 0, NULL);
        assert_non_null(l);
        json_object_set_new(json_object_get(o, "metadata"), "labels", l);
    }
    return o;
}

typedef struct {
    const char *sel;
    const char *labels; /* JSON object or NULL (no labels) */
    int want;
} label_case;

static const label_case label_cases[] = {
    {"", "{\"a\":\"b\"}", 1},
    {"", NULL, 1},
    {"app=web", "{\"app\":\"web\"}", 1},
    {"app==web", "{\"app\":\"web\"}", 1},
    {"app=web", "{\"app\":\"api\"}", 0},
    {"app=web", NULL, 0},
    {"app!=web", "{\"app\":\"api\"}", 1},
    {"app!=web", NULL, 1},
    {"app!=web", "{\"app\":\"web\"}", 0},
    {"app", "{\"app\":\"\"}", 1},
    {"app", "{\"other\":\"x\"}", 0},
    {"!app", "{\"other\":\"x\"}", 1},
    {"!app", "{\"app\":\"x\"}", 0},
    {"app in (web, api)", "{\"app\":\"api\"}", 1},
    {"app in (web,api)", "{\"app\":\"db\"}", 0},
    {"app in (web)", NULL, 0},
    {"app notin (web,api)", "{\"app\":\"db\"}", 1},
    {"app notin (web,api)", NULL, 1},
    {"app notin (web,api)", "{\"app\":\"web\"}", 0},
    {"app=web,tier=front", "{\"app\":\"web\",\"tier\":\"front\"}", 1},
    {"app=web,tier=front", "{\"app\":\"web\",\"tier\":\"back\"}", 0},
    {"  app = web ,  tier  ", "{\"app\":\"web\",\"tier\":\"x\"}", 1},
    {"app=", "{\"app\":\"\"}", 1},
    {"app=", "{\"app\":\"x\"}", 0},
    {"app in (,x)", "{\"app\":\"\"}", 1},
    {"app in ()", "{\"app\":\"\"}", 1},
    {"example.com/team=core", "{\"example.com/team\":\"core\"}", 1},
    {"app.kubernetes.io/name in (paybill)", "{\"app.kubernetes.io/name\":\"paybill\"}", 1},
    {"in in (in, notin)", "{\"in\":\"notin\"}", 1},
    {"x>5", "{\"x\":\"7\"}", 1},
    {"x>5", "{\"x\":\"3\"}", 0},
    {"x<5", "{\"x\":\"3\"}", 1},
    {"x<5", "{\"x\":\"abc\"}", 0},
    {"x>5", NULL, 0},
    {"a,b,!c", "{\"a\":\"1\",\"b\":\"2\"}", 1},
    {"a,b,!c", "{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}", 0},
    {"app=web", "{\"app\":5}", 0}, /* non-string label value counts as absent */
};

static void test_label_match_table(void **state)
{
    char msg[2048];
    for (size_t i = 0; i < sizeof(label_cases) / sizeof(label_cases[0]); i++) {
        const label_case *c = &label_cases[i];
        dv_selector *sel = NULL;
        msg[0] = '\0';
        int rc = dv_label_selector_parse(c->sel, &sel, msg, sizeof(msg));
        if (rc != 0)
            fail_msg("case %zu '%s': parse failed: %s", i, c->sel, msg);
        json_t *o = obj_with_labels(c->labels);
        int got = dv_selector_matches(sel, o);
        if (got != c->want)
            fail_msg("case %zu '%s' on %s: got %d want %d", i, c->sel, c->labels ? c->labels : "null",
                     got, c->want);
        json_decref(o);
        dv_selector_free(sel);
    }
}

typedef struct {
    const char *sel;
    const char *msg; /* exact message, or prefix when ending in '*' */
} err_case;

#define QNAME_HINT                                                                           \
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and " \
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex " \
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"

static const err_case label_errors[] = {
    {"a b", "unable to parse requirement: found 'b', expected: '=', '!=', '==', 'in', notin'"},
    {"a,", "found '', expected: identifier after ','"},
    {",a", "found ',', expected: !, identifier, or 'end of string'"},
    {"=a", "found '=', expected: !, identifier, or 'end of string'"},
    {"a in x", "unable to parse requirement: found 'x' expected: '('"},
    {"a in (x y)", "unable to parse requirement: found 'y', expected: ',' or ')'"},
    {"a in (x", "unable to parse requirement: found '', expected: ',' or ')'"},
    {"a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"},
    {"a=(", "unable to parse requirement: found '(', expected: identifier"},
    {"!a=b", "found '=', expected: ',' or 'end of string'"},
    {"a=b c", "found 'c', expected: ',' or 'end of string'"},
    {"!", "unable to parse requirement: found '', expected: identifier"},
    {"Bad_", "unable to parse requirement: <nil>: Invalid value: \"Bad_\": " QNAME_HINT},
    {"/a=b", "unable to parse requirement: <nil>: Invalid value: \"/a\": prefix part must be non-empty"},
    {"a/b/c", "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified name must "
              "consist of*"},
    {"Example.com/a", "unable to parse requirement: <nil>: Invalid value: \"Example.com/a\": prefix part "
                      "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                      "'-' or '.', and must start and end with an alphanumeric character (e.g. "
                      "'example.com', regex used for validation is "
                      "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"},
    {"a/", "unable to parse requirement: <nil>: Invalid value: \"a/\": name part must be non-empty; " QNAME_HINT},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
     "unable to parse requirement: <nil>: Invalid value: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": "
     "name part must be no more than 63 characters"},
    {"a=b$", "unable to parse requirement: values[0][a]: Invalid value: \"b$\": a valid label must be an "
             "empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end "
             "with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
             "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"},
    {"a in (ok,-bad)", "unable to parse requirement: values[0][a]: Invalid value: \"-bad\": a valid label*"},
    {"a in (-x,-y)", "unable to parse requirement: [values[0][a]: Invalid value: \"-x\"*"},
    {"x>abc", "unable to parse requirement: values[0]: Invalid value: \"abc\": for 'Gt', 'Lt' operators, "
              "the value must be an integer"},
    {"a==!", "unable to parse requirement: found '!', expected: identifier"},
};

static void check_msg(const char *what, const char *got, const char *want)
{
    size_t wl = strlen(want);
    if (wl && want[wl - 1] == '*') {
        if (strncmp(got, want, wl - 1) != 0)
            fail_msg("%s:\n got: %s\nwant: %s", what, got, want);
    } else if (strcmp(got, want) != 0) {
        fail_msg("%s:\n got: %s\nwant: %s", what, got, want);
    }
}

static void test_label_errors(void **state)
{
    char msg[4096];
    for (size_t i = 0; i < sizeof(label_errors) / sizeof(label_errors[0]); i++) {
        dv_selector *sel = (dv_selector *)0x1;
        msg[0] = '\0';
        int rc = dv_label_selector_parse(label_errors[i].sel, &sel, msg, sizeof(msg));
        if (rc != -1)
            fail_msg("case %zu '%s' parsed but should fail", i, label_errors[i].sel);
        assert_null(sel);
        check_msg(label_errors[i].sel, msg, label_errors[i].msg);
    }
}

static void test_label_limits(void **state)
{
    char msg[2048];
    dv_selector *sel;
    /* 253-character DNS prefix + 63-character name is the longest valid key */
    char key[400], s[500];
    memset(key, 'a', 253);
    key[253] = '/';
    memset(key + 254, 'b', 63);
    key[317] = '\0';
    snprintf(s, sizeof(s), "%s=v", key);
    /* like the real regex, subdomain labels are not limited to 63 on their own */
    assert_int_equal(dv_label_selector_parse(s, &sel, msg, sizeof(msg)), 0);
    dv_selector_free(sel);
    /* prefix made of dotted 63-char labels up to 253 */
    char pre[300];
    size_t o = 0;
    for (int i = 0; i < 4; i++) {
        if (i)
            pre[o++] = '.';
        size_t l = i < 3 ? 62 : 253 - o;
        memset(pre + o, 'x', l);
        o += l;
    }
    pre[o] = '\0';
    assert_int_equal(strlen(pre), 253);
    snprintf(s, sizeof(s), "%s/n=v", pre);
    assert_int_equal(dv_label_selector_parse(s, &sel, msg, sizeof(msg)), 0);
    dv_selector_free(sel);
    snprintf(s, sizeof(s), "x%s/n=v", pre);
    assert_int_equal(dv_label_selector_parse(s, &sel, msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "prefix part must be no more than 253 characters"));
    /* 63-character value is fine, 64 is not */
    char val[70];
    memset(val, 'v', 64);
    val[63] = '\0';
    snprintf(s, sizeof(s), "k=%s", val);
    assert_int_equal(dv_label_selector_parse(s, &sel, msg, sizeof(msg)), 0);
    dv_selector_free(sel);
    val[63] = 'v';
    val[64] = '\0';
    snprintf(s, sizeof(s), "k=%s", val);
    assert_int_equal(dv_label_selector_parse(s, &sel, msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "must be no more than 63 characters"));
}

static void test_null_and_empty(void **state)
{
    dv_selector *sel;
    assert_int_equal(dv_label_selector_parse(NULL, &sel, NULL, 0), 0);
    assert_true(dv_selector_matches(sel, NULL));
    dv_selector_free(sel);
    assert_int_equal(dv_field_selector_parse("", &sel, NULL, 0), 0);
    assert_true(dv_selector_matches(sel, NULL));
    dv_selector_free(sel);
    assert_true(dv_selector_matches(NULL, NULL));
    dv_selector_free(NULL);
    /* no msg buffer is fine on error too */
    assert_int_equal(dv_label_selector_parse("a in", &sel, NULL, 0), -1);
}

typedef struct {
    const char *sel;
    int want;
} field_case;

static const field_case field_cases[] = {
    {"metadata.name=web-1", 1},
    {"metadata.name==web-1", 1},
    {"metadata.name!=web-1", 0},
    {"metadata.name=web-2", 0},
    {"metadata.namespace=prod,metadata.name=web-1", 1},
    {"metadata.namespace=prod,metadata.name=x", 0},
    {"status.phase=Running", 1},
    {"status.phase!=Pending", 1},
    {"spec.replicas=3", 1},
    {"spec.paused=false", 1},
    {"spec.nodeName=", 1},   /* absent field is "" */
    {"spec.nodeName!=", 0},
    {"metadata.name=", 0},
    {"status.phase.deeper=x", 0},
    {",metadata.name=web-1,", 1}, /* empty terms are skipped */
    {"metadata=x", 0},            /* objects never equal a string */
};

static void test_field_match_table(void **state)
{
    char msg[1024];
    json_t *o = obj_with_labels(NULL);
    for (size_t i = 0; i < sizeof(field_cases) / sizeof(field_cases[0]); i++) {
        dv_selector *sel = NULL;
        if (dv_field_selector_parse(field_cases[i].sel, &sel, msg, sizeof(msg)) != 0)
            fail_msg("case '%s': %s", field_cases[i].sel, msg);
        int got = dv_selector_matches(sel, o);
        if (got != field_cases[i].want)
            fail_msg("case '%s': got %d want %d", field_cases[i].sel, got, field_cases[i].want);
        dv_selector_free(sel);
    }
    json_decref(o);
}

static void test_field_escapes(void **state)
{
    char msg[1024];
    dv_selector *sel;
    json_t *o = json_pack("{s:{s:s}}", "metadata", "name", "a,b=c\\d");
    assert_int_equal(dv_field_selector_parse("metadata.name=a\\,b\\=c\\\\d", &sel, msg, sizeof(msg)), 0);
    assert_true(dv_selector_matches(sel, o));
    dv_selector_free(sel);
    json_decref(o);
}

static const err_case field_errors[] = {
    {"metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"},
    {"a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"},
    {"a=b=c", "invalid field selector: unescaped character in value: 61"},
    {"a=b\\x", "invalid field selector: invalid escape sequence: \\x"},
    {"a=b\\", "invalid field selector: invalid escape sequence: \\"},
};

static void test_field_errors(void **state)
{
    char msg[1024];
    for (size_t i = 0; i < sizeof(field_errors) / sizeof(field_errors[0]); i++) {
        dv_selector *sel = (dv_selector *)0x1;
        int rc = dv_field_selector_parse(field_errors[i].sel, &sel, msg, sizeof(msg));
        if (rc != -1)
            fail_msg("'%s' should fail", field_errors[i].sel);
        assert_null(sel);
        check_msg(field_errors[i].sel, msg, field_errors[i].msg);
    }
}

static void test_adversarial(void **state)
{
    char msg[256];
    dv_selector *sel;
    /* a long selector of many requirements, and garbage bytes */
    size_t n = 20000;
    char *s = malloc(n * 4 + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(s + o, "a=b,", 4);
        o += 4;
    }
    s[o - 1] = '\0';
    assert_int_equal(dv_label_selector_parse(s, &sel, msg, sizeof(msg)), 0);
    json_t *obj = obj_with_labels("{\"a\":\"b\"}");
    assert_true(dv_selector_matches(sel, obj));
    dv_selector_free(sel);
    assert_int_equal(dv_field_selector_parse(s, &sel, msg, sizeof(msg)), 0);
    dv_selector_free(sel);
    free(s);
    const char *junk[] = {"((((", "))))", "!!!!", "a in ((", "\xff\xfe=\x01", "a notin", "<>", "a in (b,c",
                          "a!", "a==b==c"};
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        msg[0] = '\0';
        assert_int_equal(dv_label_selector_parse(junk[i], &sel, msg, sizeof(msg)), -1);
        assert_true(msg[0] != '\0');
    }
    /* tiny message buffer truncates, never overflows */
    char tiny[8];
    assert_int_equal(dv_label_selector_parse("a in x", &sel, tiny, sizeof(tiny)), -1);
    assert_int_equal(strlen(tiny), 7);
    /* labels that are not an object, object that is not an object */
    json_t *weird = json_pack("{s:{s:[]}}", "metadata", "labels");
    assert_int_equal(dv_label_selector_parse("!a", &sel, msg, sizeof(msg)), 0);
    assert_true(dv_selector_matches(sel, weird));
    json_t *arr = json_array();
    assert_true(dv_selector_matches(sel, arr));
    dv_selector_free(sel);
    json_decref(arr);
    json_decref(weird);
    json_decref(obj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_match_table), cmocka_unit_test(test_label_errors),
        cmocka_unit_test(test_label_limits),      cmocka_unit_test(test_null_and_empty),
        cmocka_unit_test(test_field_match_table), cmocka_unit_test(test_field_escapes),
        cmocka_unit_test(test_field_errors),      cmocka_unit_test(test_adversarial),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
