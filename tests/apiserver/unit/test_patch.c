/*
 * test_patch.c - JSON merge patch, JSON patch and strategic merge patch
 * (tests/apiserver/patch.h): table-driven cases in the shapes kubectl
 * sends, plus adversarial input that must fail cleanly.
 */
#include "testutil.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "patch.h"

static json_t *J(const char *s)
{
    json_error_t e;
    json_t *v = json_loads(s, JSON_DECODE_ANY, &e);
    if (!v)
        fail_msg("bad test JSON %s: %s", s, e.text);
    return v;
}

static void assert_json_eq(const json_t *got, const char *want, const char *ctx)
{
    json_t *w = J(want);
    if (!json_equal((json_t *)got, w)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        fail_msg("%s:\n got: %s\nwant: %s", ctx, g ? g : "(null)", want);
    }
    json_decref(w);
}

typedef struct {
    const char *target;
    const char *patch;
    const char *want; /* result JSON, or NULL when an error is expected */
    const char *err;  /* substring of the error message */
} pcase;

/* ---------------------------------------------------------------- merge */

static const pcase merge_cases[] = {
    /* RFC 7386 appendix A */
    {"{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}", NULL},
    {"{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}", NULL},
    {"{\"a\":\"b\"}", "{\"a\":null}", "{}", NULL},
    {"{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}", NULL},
    {"{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}", NULL},
    {"{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}", NULL},
    {"{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}", NULL},
    {"{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}", NULL},
    {"{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}", NULL},
    {"{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}", NULL},
    {"[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}", NULL},
    {"{\"spec\":{\"replicas\":1,\"template\":{\"x\":1}}}", "{\"spec\":{\"replicas\":3}}",
     "{\"spec\":{\"replicas\":3,\"template\":{\"x\":1}}}", NULL},
    {"{\"metadata\":{\"labels\":{\"a\":\"1\",\"b\":\"2\"}}}", "{\"metadata\":{\"labels\":{\"a\":null}}}",
     "{\"metadata\":{\"labels\":{\"b\":\"2\"}}}", NULL},
    /* non-object patches are rejected (the server wants an object back) */
    {"{\"a\":1}", "[1,2]", NULL, "must be a JSON object"},
    {"{\"a\":1}", "\"str\"", NULL, "must be a JSON object"},
    {"{\"a\":1}", "null", NULL, "must be a JSON object"},
};

static void test_merge_table(void **state)
{
    char msg[512];
    for (size_t i = 0; i < sizeof(merge_cases) / sizeof(merge_cases[0]); i++) {
        const pcase *c = &merge_cases[i];
        json_t *t = J(c->target), *p = J(c->patch), *out = NULL;
        char *before = json_dumps(t, JSON_COMPACT | JSON_ENCODE_ANY);
        int rc = dv_merge_patch(t, p, &out, msg, sizeof(msg));
        char ctx[256];
        snprintf(ctx, sizeof(ctx), "merge case %zu", i);
        if (c->want) {
            if (rc != 0)
                fail_msg("%s: unexpected error %s", ctx, msg);
            assert_json_eq(out, c->want, ctx);
        } else {
            assert_int_equal(rc, -1);
            assert_null(out);
            if (!strstr(msg, c->err))
                fail_msg("%s: message '%s' lacks '%s'", ctx, msg, c->err);
        }
        /* inputs are borrowed, never modified */
        char *after = json_dumps(t, JSON_COMPACT | JSON_ENCODE_ANY);
        assert_string_equal(before, after);
        free(before);
        free(after);
        json_decref(out);
        json_decref(t);
        json_decref(p);
    }
}

/* ----------------------------------------------------------- JSON patch */

static const pcase json_cases[] = {
    /* RFC 6902 appendix A */
    {"{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]",
     "{\"baz\":\"qux\",\"foo\":\"bar\"}", NULL},
    {"{\"foo\":[\"bar\",\"baz\"]}", "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
     "{\"foo\":[\"bar\",\"qux\",\"baz\"]}", NULL},
    {"{\"baz\":\"qux\",\"foo\":\"bar\"}", "[{\"op\":\"remove\",\"path\":\"/baz\"}]", "{\"foo\":\"bar\"}", NULL},
    {"{\"foo\":[\"bar\",\"qux\",\"baz\"]}", "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]",
     "{\"foo\":[\"bar\",\"baz\"]}", NULL},
    {"{\"baz\":\"qux\",\"foo\":\"bar\"}", "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]",
     "{\"baz\":\"boo\",\"foo\":\"bar\"}", NULL},
    {"{\"foo\":{\"bar\":\"baz\",\"waldo\":\"fred\"},\"qux\":{\"corge\":\"grault\"}}",
     "[{\"op\":\"move\",\"from\":\"/foo/waldo\",\"path\":\"/qux/thud\"}]",
     "{\"foo\":{\"bar\":\"baz\"},\"qux\":{\"corge\":\"grault\",\"thud\":\"fred\"}}", NULL},
    {"{\"foo\":[\"all\",\"grass\",\"cows\",\"eat\"]}", "[{\"op\":\"move\",\"from\":\"/foo/1\",\"path\":\"/foo/3\"}]",
     "{\"foo\":[\"all\",\"cows\",\"eat\",\"grass\"]}", NULL},
    {"{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}",
     "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"qux\"},{\"op\":\"test\",\"path\":\"/foo/1\",\"value\":2}]",
     "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}", NULL},
    {"{\"baz\":\"qux\"}", "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"bar\"}]", NULL,
     "testing value /baz failed: test failed"},
    {"{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/child\",\"value\":{\"grandchild\":{}}}]",
     "{\"foo\":\"bar\",\"child\":{\"grandchild\":{}}}", NULL},
    {"{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz/bat\",\"value\":\"qux\"}]", NULL,
     "add operation does not apply: doc is missing path: \"/baz/bat\""},
    {"{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":10}]", "{\"/\":9,\"~1\":10}", NULL},
    {"{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":\"10\"}]", NULL, "test failed"},
    {"{\"foo\":[\"bar\"]}", "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":[\"abc\",\"def\"]}]",
     "{\"foo\":[\"bar\",[\"abc\",\"def\"]]}", NULL},
    {"{\"a/b\":1}", "[{\"op\":\"replace\",\"path\":\"/a~1b\",\"value\":2}]", "{\"a/b\":2}", NULL},
    /* numbers compare by value in test */
    {"{\"n\":1}", "[{\"op\":\"test\",\"path\":\"/n\",\"value\":1.0}]", "{\"n\":1}", NULL},
    /* whole-document operations */
    {"{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":{\"b\":2}}]", "{\"b\":2}", NULL},
    {"{\"a\":1}", "[{\"op\":\"add\",\"path\":\"\",\"value\":{\"c\":3}}]", "{\"c\":3}", NULL},
    {"{\"a\":1}", "[{\"op\":\"test\",\"path\":\"\",\"value\":{\"a\":1}}]", "{\"a\":1}", NULL},
    {"{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"\"}]", NULL, "whole document"},
    /* copy, and move onto itself */
    {"{\"a\":{\"x\":1}}", "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/b\"}]", "{\"a\":{\"x\":1},\"b\":{\"x\":1}}",
     NULL},
    {"{\"a\":1}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a\"}]", "{\"a\":1}", NULL},
    {"{\"a\":{\"b\":1}}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/b/c\"}]", NULL, "is a prefix of"},
    /* negative index like the server's library */
    {"{\"l\":[1,2,3]}", "[{\"op\":\"remove\",\"path\":\"/l/-1\"}]", "{\"l\":[1,2]}", NULL},
    /* kubectl-style label edit */
    {"{\"metadata\":{\"labels\":{\"app\":\"web\"}}}",
     "[{\"op\":\"add\",\"path\":\"/metadata/labels/tier\",\"value\":\"front\"},"
     "{\"op\":\"remove\",\"path\":\"/metadata/labels/app\"}]",
     "{\"metadata\":{\"labels\":{\"tier\":\"front\"}}}", NULL},
    /* errors: operations applied so far never leak into the result */
    {"{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"/nope\"}]", NULL,
     "error in remove for path: '/nope': Unable to remove nonexistent key: nope: missing value"},
    {"{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"/nope\",\"value\":1}]", NULL,
     "replace operation does not apply: doc is missing key: /nope"},
    {"{\"l\":[1]}", "[{\"op\":\"add\",\"path\":\"/l/5\",\"value\":1}]", NULL,
     "Unable to access invalid index: 5: invalid index referenced"},
    {"{\"l\":[1]}", "[{\"op\":\"remove\",\"path\":\"/l/1\"}]", NULL, "invalid index"},
    {"{\"l\":[1]}", "[{\"op\":\"add\",\"path\":\"/l/01\",\"value\":1}]", NULL, "invalid index"},
    {"{\"l\":[1]}", "[{\"op\":\"add\",\"path\":\"/l/x\",\"value\":1}]", NULL, "invalid index"},
    {"{\"l\":[1]}", "[{\"op\":\"replace\",\"path\":\"/l/-\",\"value\":1}]", NULL, "missing key"},
    {"{\"a\":1}", "[{\"op\":\"jump\",\"path\":\"/a\"}]", NULL, "Unexpected kind: jump"},
    {"{\"a\":1}", "[{\"path\":\"/a\"}]", NULL, "Unexpected kind: unknown"},
    {"{\"a\":1}", "[{\"op\":\"add\",\"value\":1}]", NULL, "missing path"},
    {"{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/b\"}]", NULL, "missing value"},
    {"{\"a\":1}", "[{\"op\":\"add\",\"path\":\"b\",\"value\":1}]", NULL, "invalid JSON pointer"},
    {"{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/~2\",\"value\":1}]", NULL, "invalid JSON pointer"},
    {"{\"a\":1}", "[{\"op\":\"copy\",\"path\":\"/b\"}]", NULL, "missing from"},
    {"{\"a\":1}", "[{\"op\":\"move\",\"from\":\"/x\",\"path\":\"/b\"}]", NULL, "missing from path: /x"},
    {"{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/b\",\"value\":1},{\"op\":\"test\",\"path\":\"/b\",\"value\":2}]",
     NULL, "testing value /b failed"},
    {"{\"a\":\"s\"}", "[{\"op\":\"add\",\"path\":\"/a/b\",\"value\":1}]", NULL, "doc is missing path"},
    {"{\"a\":1}", "{\"op\":\"add\"}", NULL, "expected a JSON array"},
    {"{\"a\":1}", "[1]", NULL, "not an object"},
    {"{\"a\":1}", "[]", "{\"a\":1}", NULL},
};

static void run_json_cases(const pcase *cases, size_t n)
{
    char msg[512];
    for (size_t i = 0; i < n; i++) {
        const pcase *c = &cases[i];
        json_t *t = J(c->target), *p = J(c->patch), *out = NULL;
        char *before = json_dumps(t, JSON_COMPACT | JSON_ENCODE_ANY);
        msg[0] = '\0';
        int rc = dv_json_patch(t, p, &out, msg, sizeof(msg));
        char ctx[600];
        snprintf(ctx, sizeof(ctx), "json patch case %zu %s", i, c->patch);
        if (c->want) {
            if (rc != 0)
                fail_msg("%s: unexpected error %s", ctx, msg);
            assert_json_eq(out, c->want, ctx);
        } else {
            if (rc != -1)
                fail_msg("%s: expected an error", ctx);
            assert_null(out);
            if (!strstr(msg, c->err))
                fail_msg("%s: message '%s' lacks '%s'", ctx, msg, c->err);
        }
        char *after = json_dumps(t, JSON_COMPACT | JSON_ENCODE_ANY);
        assert_string_equal(before, after);
        free(before);
        free(after);
        json_decref(out);
        json_decref(t);
        json_decref(p);
    }
}

static void test_json_patch_table(void **state)
{
    run_json_cases(json_cases, sizeof(json_cases) / sizeof(json_cases[0]));
}

static void test_json_patch_limits(void **state)
{
    char msg[512];
    json_t *out = NULL;
    /* too many operations */
    json_t *ops = json_array();
    for (int i = 0; i < 10001; i++)
        json_array_append_new(ops, json_pack("{s:s,s:s}", "op", "test", "path", "/nope"));
    json_t *t = J("{}");
    assert_int_equal(dv_json_patch(t, ops, &out, msg, sizeof(msg)), -1);
    assert_string_equal(msg, "The allowed maximum operations in a JSON patch is 10000, got 10001");
    json_decref(ops);
    /* copy doubling must be stopped */
    ops = json_array();
    json_object_set_new(t, "a", json_pack("[i,i,i,i]", 1, 2, 3, 4));
    for (int i = 0; i < 60; i++) {
        json_array_append_new(ops, json_pack("{s:s,s:s,s:s}", "op", "copy", "from", "/a", "path", "/a/-"));
    }
    assert_int_equal(dv_json_patch(t, ops, &out, msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "copies exceed"));
    json_decref(ops);
    json_decref(t);
    /* a huge array: append 5000 elements, then remove them all from the front */
    t = J("{\"l\":[]}");
    ops = json_array();
    for (int i = 0; i < 5000; i++)
        json_array_append_new(ops, json_pack("{s:s,s:s,s:i}", "op", "add", "path", "/l/-", "value", i));
    for (int i = 0; i < 4999; i++)
        json_array_append_new(ops, json_pack("{s:s,s:s}", "op", "remove", "path", "/l/0"));
    assert_int_equal(dv_json_patch(t, ops, &out, msg, sizeof(msg)), 0);
    assert_json_eq(out, "{\"l\":[4999]}", "huge array");
    json_decref(out);
    json_decref(ops);
    json_decref(t);
}

/* What kube-apiserver (v1.37) answers before applying a JSON patch, checked
 * side by side with it: Go's decoding errors (a 400) and the 413 bound. */
static void test_json_patch_decode(void **state)
{
    static const struct {
        const char *patch;
        int strict, rc;
        const char *msg;
    } cases[] = {
        {"[]", 1, 0, NULL},
        {"null", 1, 0, NULL},
        {"[null, {\"op\":null,\"path\":\"/a\"}]", 1, 0, NULL},
        {"[{\"op\":\"add\",\"path\":\"/a\",\"value\":{\"x\":[1]},\"extra\":7}]", 1, 0, NULL},
        {"{}", 1, -1, "error decoding patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp"},
        {"\"x\"", 1, -1, "error decoding patch: json: cannot unmarshal string into Go value of type []handlers.jsonPatchOp"},
        {"{}", 0, -1, "json: cannot unmarshal object into Go value of type jsonpatch.Patch"},
        {"[{\"op\":\"add\"}, 1]", 1, -1,
         "error decoding patch: json: cannot unmarshal number into Go value of type handlers.jsonPatchOp"},
        {"[true]", 0, -1, "json: cannot unmarshal bool into Go value of type jsonpatch.Operation"},
        {"[{\"op\":1}]", 1, -1,
         "error decoding patch: json: cannot unmarshal number into Go struct field jsonPatchOp.op of type string"},
        {"[{\"op\":\"move\",\"path\":\"/a\",\"from\":[]}]", 1, -1,
         "error decoding patch: json: cannot unmarshal array into Go struct field jsonPatchOp.from of type string"},
        {"[{\"op\":1}]", 0, 0, NULL}, /* Ignore decodes raw members: fails later, at apply */
    };
    char msg[512];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *p = J(cases[i].patch);
        msg[0] = 0;
        int rc = dv_json_patch_decode(p, cases[i].strict, msg, sizeof(msg));
        if (rc != cases[i].rc)
            fail_msg("decode case %zu %s: rc %d, want %d (%s)", i, cases[i].patch, rc, cases[i].rc, msg);
        if (cases[i].msg)
            assert_string_equal(msg, cases[i].msg);
        json_decref(p);
    }
    json_t *ops = json_array();
    for (int i = 0; i < 10001; i++)
        json_array_append_new(ops, json_pack("{s:s,s:s}", "op", "test", "path", "/nope"));
    assert_int_equal(dv_json_patch_decode(ops, 1, msg, sizeof(msg)), -2);
    assert_string_equal(msg, "The allowed maximum operations in a JSON patch is 10000, got 10001");
    json_decref(ops);
    /* null is an empty patch: the target unchanged */
    json_t *t = J("{\"a\":1}"), *out = NULL;
    assert_int_equal(dv_json_patch(t, json_null(), &out, msg, sizeof(msg)), 0);
    assert_json_eq(out, "{\"a\":1}", "null patch");
    json_decref(out);
    json_decref(t);
}

/* ------------------------------------------------------------ strategic */

typedef struct {
    const char *kind;
    const char *target;
    const char *patch;
    const char *want;
    const char *err;
} scase;

#define DEPLOY(containers) \
    "{\"kind\":\"Deployment\",\"spec\":{\"replicas\":1,\"template\":{\"spec\":{\"containers\":" containers "}}}}"

static const scase smp_cases[] = {
    /* maps merge, null deletes, scalars replace */
    {"ConfigMap", "{\"data\":{\"a\":\"1\",\"b\":\"2\"}}", "{\"data\":{\"a\":null,\"c\":\"3\"}}",
     "{\"data\":{\"b\":\"2\",\"c\":\"3\"}}", NULL},
    /* containers merge by name; untouched fields and items survive */
    {"Deployment", DEPLOY("[{\"name\":\"web\",\"image\":\"nginx:1\"},{\"name\":\"side\",\"image\":\"busybox\"}]"),
     "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"nginx:2\"}]}}}}",
     DEPLOY("[{\"name\":\"web\",\"image\":\"nginx:2\"},{\"name\":\"side\",\"image\":\"busybox\"}]"), NULL},
    /* new item appended */
    {"Deployment", DEPLOY("[{\"name\":\"web\",\"image\":\"nginx\"}]"),
     "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"log\",\"image\":\"fluent\"}]}}}}",
     DEPLOY("[{\"name\":\"web\",\"image\":\"nginx\"},{\"name\":\"log\",\"image\":\"fluent\"}]"), NULL},
    /* $patch: delete in a list element */
    {"Deployment", DEPLOY("[{\"name\":\"web\",\"image\":\"nginx\"},{\"name\":\"log\",\"image\":\"fluent\"}]"),
     "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"log\",\"$patch\":\"delete\"}]}}}}",
     DEPLOY("[{\"name\":\"web\",\"image\":\"nginx\"}]"), NULL},
    /* $patch: replace in a list */
    {"Deployment", DEPLOY("[{\"name\":\"web\",\"image\":\"nginx\"},{\"name\":\"log\",\"image\":\"fluent\"}]"),
     "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"new\",\"image\":\"x\"},{\"$patch\":\"replace\"}]}}}}",
     DEPLOY("[{\"name\":\"new\",\"image\":\"x\"}]"), NULL},
    /* env inside a container merges by name, ports by containerPort */
    {"Pod",
     "{\"spec\":{\"containers\":[{\"name\":\"c\",\"env\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"B\",\"value\":\"2\"}],"
     "\"ports\":[{\"containerPort\":80,\"name\":\"http\"}]}]}}",
     "{\"spec\":{\"containers\":[{\"name\":\"c\",\"env\":[{\"name\":\"B\",\"value\":\"3\"}],"
     "\"ports\":[{\"containerPort\":443}]}]}}",
     "{\"spec\":{\"containers\":[{\"name\":\"c\",\"env\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"B\",\"value\":\"3\"}],"
     "\"ports\":[{\"containerPort\":80,\"name\":\"http\"},{\"containerPort\":443}]}]}}",
     NULL},
    /* args have no merge key: replaced */
    {"Pod", "{\"spec\":{\"containers\":[{\"name\":\"c\",\"args\":[\"a\",\"b\"]}]}}",
     "{\"spec\":{\"containers\":[{\"name\":\"c\",\"args\":[\"z\"]}]}}",
     "{\"spec\":{\"containers\":[{\"name\":\"c\",\"args\":[\"z\"]}]}}", NULL},
    /* tolerations are atomic */
    {"Pod", "{\"spec\":{\"tolerations\":[{\"key\":\"a\"},{\"key\":\"b\"}]}}", "{\"spec\":{\"tolerations\":[{\"key\":\"c\"}]}}",
     "{\"spec\":{\"tolerations\":[{\"key\":\"c\"}]}}", NULL},
    /* volumes and volumeMounts */
    {"StatefulSet",
     "{\"spec\":{\"template\":{\"spec\":{\"volumes\":[{\"name\":\"a\",\"emptyDir\":{}}],\"containers\":[{\"name\":\"c\","
     "\"volumeMounts\":[{\"mountPath\":\"/a\",\"name\":\"a\"}]}]}}}}",
     "{\"spec\":{\"template\":{\"spec\":{\"volumes\":[{\"name\":\"b\",\"emptyDir\":{}}],\"containers\":[{\"name\":\"c\","
     "\"volumeMounts\":[{\"mountPath\":\"/b\",\"name\":\"b\"}]}]}}}}",
     "{\"spec\":{\"template\":{\"spec\":{\"volumes\":[{\"name\":\"a\",\"emptyDir\":{}},{\"name\":\"b\",\"emptyDir\":{}}],"
     "\"containers\":[{\"name\":\"c\",\"volumeMounts\":[{\"mountPath\":\"/a\",\"name\":\"a\"},{\"mountPath\":\"/b\",\"name\":\"b\"}]}]}}}}",
     NULL},
    /* CronJob embeds the pod spec deeper */
    {"CronJob", "{\"spec\":{\"jobTemplate\":{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"1\"}]}}}}}}",
     "{\"spec\":{\"jobTemplate\":{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"b\",\"image\":\"2\"}]}}}}}}",
     "{\"spec\":{\"jobTemplate\":{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"1\"},"
     "{\"name\":\"b\",\"image\":\"2\"}]}}}}}}",
     NULL},
    /* Service ports merge by port */
    {"Service", "{\"spec\":{\"ports\":[{\"port\":80,\"targetPort\":8080}]}}",
     "{\"spec\":{\"ports\":[{\"port\":80,\"targetPort\":9090},{\"port\":443}]}}",
     "{\"spec\":{\"ports\":[{\"port\":80,\"targetPort\":9090},{\"port\":443}]}}", NULL},
    /* finalizers: primitive merge, and $deleteFromPrimitiveList */
    {"Tenant", "{\"metadata\":{\"finalizers\":[\"a\",\"b\"]}}", "{\"metadata\":{\"finalizers\":[\"b\",\"c\"]}}",
     "{\"metadata\":{\"finalizers\":[\"a\",\"b\",\"c\"]}}", NULL},
    {"Pod", "{\"metadata\":{\"finalizers\":[\"a\",\"b\",\"c\"]}}",
     "{\"metadata\":{\"$deleteFromPrimitiveList/finalizers\":[\"b\"]}}", "{\"metadata\":{\"finalizers\":[\"a\",\"c\"]}}",
     NULL},
    /* ownerReferences by uid */
    {"Pod", "{\"metadata\":{\"ownerReferences\":[{\"uid\":\"1\",\"name\":\"a\"}]}}",
     "{\"metadata\":{\"ownerReferences\":[{\"uid\":\"1\",\"controller\":true},{\"uid\":\"2\",\"name\":\"b\"}]}}",
     "{\"metadata\":{\"ownerReferences\":[{\"uid\":\"1\",\"name\":\"a\",\"controller\":true},{\"uid\":\"2\",\"name\":\"b\"}]}}",
     NULL},
    /* unknown kinds (custom resources): lists are replaced */
    {"Tenant", "{\"spec\":{\"items\":[{\"name\":\"a\"}]}}", "{\"spec\":{\"items\":[{\"name\":\"b\"}]}}",
     "{\"spec\":{\"items\":[{\"name\":\"b\"}]}}", NULL},
    /* kubectl apply three-way patch with $setElementOrder */
    {"Deployment", DEPLOY("[{\"name\":\"a\",\"image\":\"1\"},{\"name\":\"b\",\"image\":\"1\"}]"),
     "{\"spec\":{\"template\":{\"spec\":{\"$setElementOrder/containers\":[{\"name\":\"b\"},{\"name\":\"c\"},{\"name\":\"a\"}],"
     "\"containers\":[{\"name\":\"c\",\"image\":\"3\"}]}}}}",
     DEPLOY("[{\"name\":\"b\",\"image\":\"1\"},{\"name\":\"c\",\"image\":\"3\"},{\"name\":\"a\",\"image\":\"1\"}]"), NULL},
    /* order-only patch */
    {"Deployment", DEPLOY("[{\"name\":\"a\"},{\"name\":\"b\"}]"),
     "{\"spec\":{\"template\":{\"spec\":{\"$setElementOrder/containers\":[{\"name\":\"b\"},{\"name\":\"a\"}]}}}}",
     DEPLOY("[{\"name\":\"b\"},{\"name\":\"a\"}]"), NULL},
    /* server-only items are interleaved by their server position (srv before b) */
    {"Pod", "{\"spec\":{\"containers\":[{\"name\":\"a\"},{\"name\":\"srv\"},{\"name\":\"b\"}]}}",
     "{\"spec\":{\"$setElementOrder/containers\":[{\"name\":\"b\"},{\"name\":\"a\"}]}}",
     "{\"spec\":{\"containers\":[{\"name\":\"srv\"},{\"name\":\"b\"},{\"name\":\"a\"}]}}", NULL},
    /* primitive list order */
    {"Pod", "{\"metadata\":{\"finalizers\":[\"a\",\"b\"]}}",
     "{\"metadata\":{\"$setElementOrder/finalizers\":[\"b\",\"c\",\"a\"],\"finalizers\":[\"c\"]}}",
     "{\"metadata\":{\"finalizers\":[\"b\",\"c\",\"a\"]}}", NULL},
    /* $patch: replace / delete in maps */
    {"Pod", "{\"spec\":{\"nodeSelector\":{\"a\":\"1\",\"b\":\"2\"}}}",
     "{\"spec\":{\"nodeSelector\":{\"$patch\":\"replace\",\"c\":\"3\"}}}", "{\"spec\":{\"nodeSelector\":{\"c\":\"3\"}}}",
     NULL},
    {"Pod", "{\"spec\":{\"nodeSelector\":{\"a\":\"1\"},\"x\":1}}", "{\"spec\":{\"nodeSelector\":{\"$patch\":\"delete\"}}}",
     "{\"spec\":{\"x\":1}}", NULL},
    {"Pod", "{\"spec\":{\"x\":1}}", "{\"$patch\":\"delete\"}", "{}", NULL},
    {"Pod", "{\"spec\":{\"x\":1},\"a\":1}", "{\"$patch\":\"replace\",\"b\":2}", "{\"b\":2}", NULL},
    {"Pod", "{\"spec\":{\"x\":1}}", "{\"spec\":{\"$patch\":\"merge\",\"y\":2}}", "{\"spec\":{\"x\":1,\"y\":2}}", NULL},
    /* $retainKeys clears the other members of a union */
    {"Deployment",
     "{\"spec\":{\"strategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":{\"maxSurge\":1}}}}",
     "{\"spec\":{\"strategy\":{\"$retainKeys\":[\"type\"],\"type\":\"Recreate\"}}}",
     "{\"spec\":{\"strategy\":{\"type\":\"Recreate\"}}}", NULL},
    /* directives inside a new value never leak into the object */
    {"Pod", "{}", "{\"spec\":{\"containers\":[{\"name\":\"a\",\"env\":[{\"name\":\"X\",\"$patch\":\"delete\"}]}],"
                  "\"$setElementOrder/containers\":[{\"name\":\"a\"}],\"nodeSelector\":{\"k\":null,\"j\":\"1\"}}}",
     "{\"spec\":{\"containers\":[{\"name\":\"a\",\"env\":[]}],\"nodeSelector\":{\"j\":\"1\"}}}", NULL},
    /* conditions merge by type for built-ins */
    {"Pod", "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"},{\"type\":\"Init\",\"status\":\"True\"}]}}",
     "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}",
     "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"},{\"type\":\"Init\",\"status\":\"True\"}]}}", NULL},
    /* type changes replace */
    {"Pod", "{\"spec\":{\"a\":{\"b\":1}}}", "{\"spec\":{\"a\":\"str\"}}", "{\"spec\":{\"a\":\"str\"}}", NULL},
    {"Pod", "{\"spec\":{\"a\":\"str\"}}", "{\"spec\":{\"a\":{\"b\":1,\"c\":null}}}", "{\"spec\":{\"a\":{\"b\":1}}}", NULL},
    {"Pod", "{\"spec\":{\"containers\":\"oops\"}}", "{\"spec\":{\"containers\":[{\"name\":\"a\"}]}}",
     "{\"spec\":{\"containers\":[{\"name\":\"a\"}]}}", NULL},
    /* the three-way patch kubectl apply computes: image change, env var dropped,
     * label removed, last-applied annotation refreshed */
    {"Deployment",
     "{\"metadata\":{\"labels\":{\"app\":\"web\",\"tier\":\"front\"},\"annotations\":{\"kubectl.kubernetes.io/"
     "last-applied-configuration\":\"old\",\"deployment.kubernetes.io/revision\":\"1\"}},\"spec\":{\"replicas\":1,"
     "\"template\":{\"spec\":{\"containers\":[{\"name\":\"nginx\",\"image\":\"nginx:1\",\"env\":[{\"name\":\"A\","
     "\"value\":\"1\"},{\"name\":\"B\",\"value\":\"2\"}],\"ports\":[{\"containerPort\":80,\"protocol\":\"TCP\"}],"
     "\"terminationMessagePath\":\"/dev/termination-log\"}],\"restartPolicy\":\"Always\"}}}}",
     "{\"metadata\":{\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":\"new\"},"
     "\"labels\":{\"tier\":null}},\"spec\":{\"template\":{\"spec\":{\"$setElementOrder/containers\":"
     "[{\"name\":\"nginx\"}],\"containers\":[{\"$setElementOrder/env\":[{\"name\":\"A\"}],\"$setElementOrder/ports\":"
     "[{\"containerPort\":80},{\"containerPort\":443}],\"env\":[{\"$patch\":\"delete\",\"name\":\"B\"}],"
     "\"image\":\"nginx:2\",\"name\":\"nginx\",\"ports\":[{\"containerPort\":443}]}]}}}}",
     "{\"metadata\":{\"labels\":{\"app\":\"web\"},\"annotations\":{\"kubectl.kubernetes.io/"
     "last-applied-configuration\":\"new\",\"deployment.kubernetes.io/revision\":\"1\"}},\"spec\":{\"replicas\":1,"
     "\"template\":{\"spec\":{\"containers\":[{\"name\":\"nginx\",\"image\":\"nginx:2\",\"env\":[{\"name\":\"A\","
     "\"value\":\"1\"}],\"ports\":[{\"containerPort\":80,\"protocol\":\"TCP\"},{\"containerPort\":443}],"
     "\"terminationMessagePath\":\"/dev/termination-log\"}],\"restartPolicy\":\"Always\"}}}}",
     NULL},
    /* kubectl rollout restart */
    {"Deployment", DEPLOY("[{\"name\":\"a\"}]"),
     "{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{\"kubectl.kubernetes.io/restartedAt\":\"now\"}}}}}",
     "{\"kind\":\"Deployment\",\"spec\":{\"replicas\":1,\"template\":{\"metadata\":{\"annotations\":{"
     "\"kubectl.kubernetes.io/restartedAt\":\"now\"}},\"spec\":{\"containers\":[{\"name\":\"a\"}]}}}}", NULL},
    /* a merge-keyed list that was absent gets the patch (directives stripped) */
    {"Service", "{\"spec\":{}}",
     "{\"spec\":{\"$setElementOrder/ports\":[{\"port\":80}],\"ports\":[{\"port\":80,\"name\":\"http\"}]}}",
     "{\"spec\":{\"ports\":[{\"port\":80,\"name\":\"http\"}]}}", NULL},
    /* errors */
    {"Pod", "{}", "[1]", NULL, "must be a JSON object"},
    {"Pod", "{}", "{\"$patch\":\"explode\"}", NULL, "unknown patch type: explode in map"},
    {"Pod", "{}", "{\"spec\":{\"$patch\":7}}", NULL, "unknown patch type"},
    {"Pod", "{\"spec\":{\"containers\":[]}}", "{\"spec\":{\"containers\":[{\"image\":\"x\"}]}}", NULL,
     "does not contain declared merge key: name"},
    {"Pod", "{\"spec\":{\"containers\":[]}}", "{\"spec\":{\"containers\":[\"x\"]}}", NULL, "is not an object"},
    {"Pod", "{\"spec\":{\"containers\":[]}}", "{\"spec\":{\"containers\":[{\"name\":\"a\",\"$patch\":\"zap\"}]}}", NULL,
     "unknown patch type: zap"},
    {"Pod", "{}", "{\"metadata\":{\"$deleteFromPrimitiveList/finalizers\":\"a\"}}", NULL, "must be a list"},
    {"Pod", "{}", "{\"spec\":{\"$setElementOrder/containers\":{}}}", NULL, "must be a list"},
    {"Pod", "{}", "{\"spec\":{\"$retainKeys\":\"a\"}}", NULL, "invalid patch format of retainKeys"},
    {"Pod", "{}", "{\"spec\":{\"$retainKeys\":[\"a\"],\"b\":1}}", NULL, "invalid patch format of retainKeys"},
};

static void test_strategic_table(void **state)
{
    char msg[512];
    for (size_t i = 0; i < sizeof(smp_cases) / sizeof(smp_cases[0]); i++) {
        const scase *c = &smp_cases[i];
        json_t *t = J(c->target), *p = J(c->patch), *out = NULL;
        char *before = json_dumps(t, JSON_COMPACT | JSON_ENCODE_ANY);
        msg[0] = '\0';
        int rc = dv_strategic_merge(t, p, c->kind, &out, msg, sizeof(msg));
        char ctx[128];
        snprintf(ctx, sizeof(ctx), "strategic case %zu (%s)", i, c->kind);
        if (c->want) {
            if (rc != 0)
                fail_msg("%s: unexpected error %s", ctx, msg);
            assert_json_eq(out, c->want, ctx);
        } else {
            if (rc != -1)
                fail_msg("%s: expected an error", ctx);
            assert_null(out);
            if (!strstr(msg, c->err))
                fail_msg("%s: message '%s' lacks '%s'", ctx, msg, c->err);
        }
        char *after = json_dumps(t, JSON_COMPACT | JSON_ENCODE_ANY);
        assert_string_equal(before, after);
        free(before);
        free(after);
        json_decref(out);
        json_decref(t);
        json_decref(p);
    }
}

static void test_list_keys(void **state)
{
    assert_string_equal(dv_patch_list_keys("Deployment", "spec.template.spec.containers"), "name");
    assert_string_equal(dv_patch_list_keys("Deployment", "spec.template.spec.containers.ports"),
                        "containerPort,protocol=TCP");
    assert_string_equal(dv_patch_list_keys("Pod", "spec.initContainers.env"), "name");
    assert_string_equal(dv_patch_list_keys("Job", "spec.template.spec.volumes"), "name");
    assert_string_equal(dv_patch_list_keys("Service", "spec.ports"), "port,protocol=TCP");
    assert_string_equal(dv_patch_list_keys("Tenant", "metadata.finalizers"), "");
    assert_string_equal(dv_patch_list_keys(NULL, "metadata.ownerReferences"), "uid");
    assert_null(dv_patch_list_keys("Pod", "spec.tolerations"));
    assert_null(dv_patch_list_keys("Pod", "spec.template.spec.containers"));
    assert_null(dv_patch_list_keys("Tenant", "status.conditions"));
    assert_null(dv_patch_list_keys("Deployment", "spec.template.spec.containers.args"));
    assert_null(dv_patch_list_keys("Pod", NULL));
}

/* Deeply nested and large inputs fail cleanly or succeed, never crash. */
static void test_adversarial(void **state)
{
    char msg[512];
    json_t *out = NULL;
    /* 3000 levels of nesting built by hand (the parser stops at 2048) */
    json_t *deep = json_object(), *cur = deep;
    for (int i = 0; i < 3000; i++) {
        json_t *next = json_object();
        json_object_set_new(cur, "a", next);
        cur = next;
    }
    json_t *t = J("{}");
    assert_int_equal(dv_merge_patch(t, deep, &out, msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "nested too deeply"));
    assert_int_equal(dv_strategic_merge(t, deep, "Pod", &out, msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "nested too deeply"));
    json_decref(deep);
    /* a large keyed list merge */
    json_t *big = json_array(), *bigp = json_array();
    for (int i = 0; i < 2000; i++) {
        char name[32];
        snprintf(name, sizeof(name), "c%d", i);
        json_array_append_new(big, json_pack("{s:s,s:i}", "name", name, "v", i));
        if (i % 2)
            json_array_append_new(bigp, json_pack("{s:s,s:i}", "name", name, "v", -i));
    }
    json_t *target = json_pack("{s:{s:o}}", "spec", "containers", big);
    json_t *patch = json_pack("{s:{s:o}}", "spec", "containers", bigp);
    assert_int_equal(dv_strategic_merge(target, patch, "Pod", &out, msg, sizeof(msg)), 0);
    json_t *l = json_object_get(json_object_get(out, "spec"), "containers");
    assert_int_equal(json_array_size(l), 2000);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 1), "v")), -1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 2), "v")), 2);
    json_decref(out);
    json_decref(target);
    json_decref(patch);
    /* NULL target is treated as an empty object / null */
    json_t *p = J("{\"a\":1}");
    assert_int_equal(dv_merge_patch(NULL, p, &out, msg, sizeof(msg)), 0);
    assert_json_eq(out, "{\"a\":1}", "merge onto NULL");
    json_decref(out);
    assert_int_equal(dv_strategic_merge(NULL, p, NULL, &out, msg, sizeof(msg)), 0);
    assert_json_eq(out, "{\"a\":1}", "strategic onto NULL");
    json_decref(out);
    json_decref(p);
    /* NULL message buffers are allowed */
    p = J("[]");
    assert_int_equal(dv_strategic_merge(t, p, "Pod", &out, NULL, 0), -1);
    assert_int_equal(dv_merge_patch(t, p, &out, NULL, 0), -1);
    json_decref(p);
    p = J("[{\"op\":\"remove\",\"path\":\"/x\"}]");
    assert_int_equal(dv_json_patch(t, p, &out, NULL, 0), -1);
    json_decref(p);
    json_decref(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_table),     cmocka_unit_test(test_json_patch_table),
        cmocka_unit_test(test_json_patch_limits), cmocka_unit_test(test_json_patch_decode),
        cmocka_unit_test(test_strategic_table),
        cmocka_unit_test(test_list_keys),       cmocka_unit_test(test_adversarial),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
