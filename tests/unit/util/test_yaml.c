/* Unit tests for util/yaml: scalars, styles, streams, anchors, errors, bounds. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/yaml.h"

/* Parse and return the canonical JSON of the document array (caller frees). */
static char *conv(const char *y)
{
    json_t *docs = NULL;
    pb_err e;
    pb_err_clear(&e);
    int rc = pb_yaml_parse_stream(y, strlen(y), &docs, &e);
    if (rc)
        fail_msg("parse failed: %s", e.msg);
    char *s = pb_json_dumps_canonical(docs);
    json_decref(docs);
    return s;
}

static void check(const char *y, const char *want)
{
    char *got = conv(y);
    if (strcmp(got, want) != 0)
        fail_msg("yaml:\n%s\ngot:  %s\nwant: %s", y, got, want);
    free(got);
}

static int parse_err(const char *y, pb_err *e)
{
    json_t *docs = NULL;
    int rc = pb_yaml_parse_stream(y, strlen(y), &docs, e);
    assert_null(docs);
    return rc;
}

static void test_core_schema_scalars(void **state)
{
    check("a: true\nb: False\nc: null\nd: ~\ne:\nf: 42\ng: -7\nh: 0x1F\ni: 0o17\nj: 1.5\n"
          "k: 1e3\nl: .5\nm: +12\n",
          "[{\"a\":true,\"b\":false,\"c\":null,\"d\":null,\"e\":null,\"f\":42,\"g\":-7,\"h\":31,"
          "\"i\":15,\"j\":1.5,\"k\":1000.0,\"l\":0.5,\"m\":12}]");
    /* YAML 1.1 booleans and other look-alikes stay strings */
    check("a: yes\nb: no\nc: on\nd: off\ne: y\nf: 1_000\ng: 0b101\nh: 1.2.3\ni: .inf\nj: 12:30\n"
          "k: 0x\nl: v1\n",
          "[{\"a\":\"yes\",\"b\":\"no\",\"c\":\"on\",\"d\":\"off\",\"e\":\"y\",\"f\":\"1_000\","
          "\"g\":\"0b101\",\"h\":\"1.2.3\",\"i\":\".inf\",\"j\":\"12:30\",\"k\":\"0x\",\"l\":\"v1\"}]");
    /* quoted scalars are always strings; keys are always strings */
    check("a: \"true\"\nb: '42'\nc: \"null\"\n1: x\ntrue: y\n",
          "[{\"1\":\"x\",\"a\":\"true\",\"b\":\"42\",\"c\":\"null\",\"true\":\"y\"}]");
    /* explicit tags */
    check("a: !!str 42\nb: !!int \"7\"\nc: !!float 3\nd: !custom 5\n",
          "[{\"a\":\"42\",\"b\":7,\"c\":3.0,\"d\":5}]");
    /* int64 overflow becomes a float */
    check("a: 99999999999999999999\n", "[{\"a\":1e20}]");
}

static void test_styles(void **state)
{
    check("# comment\nspec:   # trailing\n  list: [a, 'b', {c: 1}]\n  map: {x: [1, 2]}\n"
          "  items:\n  - name: a\n    port: 80\n  -   - nested\n",
          "[{\"spec\":{\"items\":[{\"name\":\"a\",\"port\":80},[\"nested\"]],\"list\":[\"a\",\"b\","
          "{\"c\":1}],\"map\":{\"x\":[1,2]}}}]");
    check("keep: |+\n  a\n  b\n\nclip: |\n  a\n  b\n\nstrip: |-\n  a\n  b\nfold: >\n  a\n  b\n\n  c\n",
          "[{\"clip\":\"a\\nb\\n\",\"fold\":\"a b\\nc\\n\",\"keep\":\"a\\nb\\n\\n\",\"strip\":\"a\\nb\"}]");
    check("s: \"tab\\there \\u00e9\"\n", "[{\"s\":\"tab\\there \xc3\xa9\"}]");
    check("- 1\n- x\n", "[[1,\"x\"]]");
    check("just a string", "[\"just a string\"]");
}

static void test_multi_document(void **state)
{
    check("---\na: 1\n---\n---\n# only a comment\n---\nb: 2\n...\n---\n~\n", "[{\"a\":1},{\"b\":2}]");
    check("", "[]");
    check("# nothing here\n", "[]");
    /* anchors do not leak across documents */
    pb_err e;
    assert_int_equal(parse_err("a: &x 1\n---\nb: *x\n", &e), PB_EPARSE);
    assert_non_null(strstr(e.msg, "unknown anchor \"x\""));
}

static void test_anchors_and_merge(void **state)
{
    check("base: &b {cpu: 1, mem: 2}\nx: *b\ny: [*b, *b]\n",
          "[{\"base\":{\"cpu\":1,\"mem\":2},\"x\":{\"cpu\":1,\"mem\":2},"
          "\"y\":[{\"cpu\":1,\"mem\":2},{\"cpu\":1,\"mem\":2}]}]");
    check("d: &d {a: 1, b: 2}\ne: &e {b: 3, c: 4}\nm:\n  <<: [*d, *e]\n  a: 9\nn:\n  a: 8\n  <<: *e\n",
          "[{\"d\":{\"a\":1,\"b\":2},\"e\":{\"b\":3,\"c\":4},\"m\":{\"a\":9,\"b\":2,\"c\":4},"
          "\"n\":{\"a\":8,\"b\":3,\"c\":4}}]");
    check("k: &k name\n*k : v\n", "[{\"k\":\"name\",\"name\":\"v\"}]");
    /* expanded aliases are independent copies */
    json_t *docs;
    const char *y = "a: &a {n: 1}\nb: *a\n";
    assert_int_equal(pb_yaml_parse_stream(y, strlen(y), &docs, NULL), 0);
    json_t *d = json_array_get(docs, 0);
    json_object_set_new(json_object_get(d, "b"), "n", json_integer(2));
    long long n;
    assert_int_equal(pb_json_get_int(d, "a.n", &n, NULL), 0);
    assert_int_equal(n, 1);
    json_decref(docs);
    pb_err e;
    assert_int_equal(parse_err("a: *nope\n", &e), PB_EPARSE);
    assert_int_equal(parse_err("a:\n  <<: 5\n", &e), PB_EPARSE);
    assert_non_null(strstr(e.msg, "merge key"));
    assert_int_equal(parse_err("a: &s [1]\nb:\n  <<: *s\n", &e), PB_EPARSE);
}

static void test_errors_have_positions(void **state)
{
    pb_err e;
    assert_int_equal(parse_err("a: 1\nb: 2\nc: d: e\n", &e), PB_EPARSE);
    assert_string_equal(e.msg, "line 3, column 5: mapping values are not allowed in this context");
    assert_int_equal(parse_err("a: [1, 2\n", &e), PB_EPARSE);
    assert_non_null(strstr(e.msg, "line 2, column 1:"));
    assert_int_equal(parse_err("a: 1\na: 2\n", &e), PB_EPARSE);
    assert_string_equal(e.msg, "line 2, column 1: mapping key \"a\" already defined");
    assert_int_equal(parse_err("? [a]\n: 1\n", &e), PB_EPARSE);
    assert_non_null(strstr(e.msg, "cannot be a mapping key"));
    assert_int_equal(parse_err("a: !!int abc\n", &e), PB_EPARSE);
    assert_non_null(strstr(e.msg, "line 1, column 4"));
    assert_int_equal(parse_err("a: \"\xff\"\n", &e), PB_EPARSE);
    assert_int_equal(parse_err("\tkey: x\n", &e), PB_EPARSE);
}

static void test_billion_laughs_fails_fast(void **state)
{
    const char *y = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
                    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                    "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                    "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                    "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
                    "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
    pb_err e;
    assert_int_equal(parse_err(y, &e), PB_ETOOLARGE);
    assert_non_null(strstr(e.msg, "too many aliases"));
    /* a cycle (an alias inside its own anchor) is simply unknown */
    assert_int_equal(parse_err("a: &x [*x]\n", &e), PB_EPARSE);
}

static void test_depth_and_size_limits(void **state)
{
    pb_err e;
    size_t n = 5000;
    char *deep = malloc(n + 1);
    memset(deep, '[', n);
    deep[n] = '\0';
    assert_int_equal(parse_err(deep, &e), PB_ETOOLARGE);
    assert_non_null(strstr(e.msg, "nested deeper than 100"));
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    deep[200] = '\0';
    json_t *docs;
    assert_int_equal(pb_yaml_parse_stream(deep, 200, &docs, &e), 0);
    json_decref(docs);
    free(deep);
    assert_int_equal(pb_yaml_parse_stream("a", (size_t)PB_YAML_MAX_INPUT + 1, &docs, &e), PB_ETOOLARGE);
}

static void test_parse_one_and_file(void **state)
{
    json_t *doc;
    pb_err e;
    assert_int_equal(pb_yaml_parse_one("a: 1\n", 5, &doc, &e), 0);
    assert_true(json_is_object(doc));
    json_decref(doc);
    assert_int_equal(pb_yaml_parse_one("# empty\n", 8, &doc, &e), PB_ENOTFOUND);
    assert_int_equal(pb_yaml_parse_one("a\n---\nb\n", 8, &doc, &e), PB_EINVAL);

    char *dir = tu_tmpdir();
    char *p = tu_write_file(dir, "m.yaml", "apiVersion: v1\nkind: Namespace\n---\nkind: x: y\n");
    json_t *docs;
    assert_int_equal(pb_yaml_parse_file(p, &docs, &e), PB_EPARSE);
    assert_non_null(strstr(e.msg, "m.yaml: line 4, column 8"));
    free(p);
    p = tu_write_file(dir, "ok.yaml", "kind: Namespace\n");
    assert_int_equal(pb_yaml_parse_file(p, &docs, &e), 0);
    assert_int_equal(json_array_size(docs), 1);
    json_decref(docs);
    free(p);
    assert_int_equal(pb_yaml_parse_file("/nonexistent/x.yaml", &docs, &e), PB_EIO);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_core_schema_scalars),
        cmocka_unit_test(test_styles),
        cmocka_unit_test(test_multi_document),
        cmocka_unit_test(test_anchors_and_merge),
        cmocka_unit_test(test_errors_have_positions),
        cmocka_unit_test(test_billion_laughs_fails_fast),
        cmocka_unit_test(test_depth_and_size_limits),
        cmocka_unit_test(test_parse_one_and_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
