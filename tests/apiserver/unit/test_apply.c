/*
 * test_apply.c - server-side apply and managedFields bookkeeping
 * (tests/apiserver/patch.h): field sets in fieldsV1 form, removal of fields
 * a manager stops applying, conflicts worded like kube-apiserver, force,
 * Update managers, and malformed input.
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

static json_t *entry(const json_t *obj, const char *manager, const char *op)
{
    json_t *mf = json_object_get(json_object_get(obj, "metadata"), "managedFields");
    for (size_t i = 0; i < json_array_size(mf); i++) {
        json_t *e = json_array_get(mf, i);
        if (strcmp(json_string_value(json_object_get(e, "manager")), manager) == 0 &&
            strcmp(json_string_value(json_object_get(e, "operation")), op) == 0)
            return e;
    }
    return NULL;
}

static json_t *fields(const json_t *obj, const char *manager, const char *op)
{
    return json_object_get(entry(obj, manager, op), "fieldsV1");
}

static json_t *get_path(json_t *obj, const char *dotted)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", dotted);
    json_t *cur = obj;
    for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, "."))
        cur = json_object_get(cur, tok);
    return cur;
}

#define T0 "2026-11-25T10:00:00Z"
#define T1 "2026-11-25T11:00:00Z"
#define T2 "2026-11-25T12:00:00Z"

#define DEPLOY_CFG                                                                                      \
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\",\"namespace\":" \
    "\"default\",\"labels\":{\"app\":\"web\"}},\"spec\":{\"replicas\":2,\"selector\":{\"matchLabels\":" \
    "{\"app\":\"web\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{"           \
    "\"containers\":[{\"name\":\"nginx\",\"image\":\"nginx:1\",\"ports\":[{\"containerPort\":80}]}]}}}}"

static void test_create_by_apply(void **state)
{
    char msg[1024];
    json_t *cfg = J(DEPLOY_CFG), *out = NULL;
    assert_int_equal(dv_server_side_apply(NULL, cfg, "kubectl", 0, T0, &out, msg, sizeof(msg)), 0);
    assert_string_equal(json_string_value(get_path(out, "metadata.name")), "web");
    assert_int_equal(json_integer_value(get_path(out, "spec.replicas")), 2);
    json_t *mf = get_path(out, "metadata.managedFields");
    assert_int_equal(json_array_size(mf), 1);
    json_t *e = json_array_get(mf, 0);
    assert_string_equal(json_string_value(json_object_get(e, "manager")), "kubectl");
    assert_string_equal(json_string_value(json_object_get(e, "operation")), "Apply");
    assert_string_equal(json_string_value(json_object_get(e, "apiVersion")), "apps/v1");
    assert_string_equal(json_string_value(json_object_get(e, "time")), T0);
    assert_string_equal(json_string_value(json_object_get(e, "fieldsType")), "FieldsV1");
    /* wire order of the entry's members, as the server writes them */
    const char *k;
    json_t *v;
    const char *want_order[] = {"manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1"};
    size_t i = 0;
    json_object_foreach(e, k, v) assert_string_equal(k, want_order[i++]);
    assert_json_eq(json_object_get(e, "fieldsV1"),
                   "{\"f:metadata\":{\"f:labels\":{\"f:app\":{}}},\"f:spec\":{\"f:replicas\":{},"
                   "\"f:selector\":{},\"f:template\":{\"f:metadata\":{"
                   "\"f:labels\":{\"f:app\":{}}},\"f:spec\":{\"f:containers\":{\"k:{\\\"name\\\":\\\"nginx\\\"}\":"
                   "{\".\":{},\"f:image\":{},\"f:name\":{},\"f:ports\":{"
                   "\"k:{\\\"containerPort\\\":80,\\\"protocol\\\":\\\"TCP\\\"}\":{\".\":{},\"f:containerPort\":{}}}}}}}}}",
                   "apply fieldsV1");
    /* the atomic selector is replaced whole, not merged */
    json_t *sel = J("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\"},"
                    "\"spec\":{\"selector\":{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\"}]}}}");
    json_t *so = NULL;
    assert_int_equal(dv_server_side_apply(out, sel, "kubectl", 0, T1, &so, msg, sizeof(msg)), 0);
    assert_json_eq(get_path(so, "spec.selector"), "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\"}]}",
                   "selector replaced");
    json_decref(so);
    json_decref(sel);
    /* re-applying the same configuration changes nothing, not even the time */
    json_t *again = NULL;
    assert_int_equal(dv_server_side_apply(out, cfg, "kubectl", 0, T1, &again, msg, sizeof(msg)), 0);
    assert_true(json_equal(out, again));
    json_decref(again);
    json_decref(out);
    json_decref(cfg);
}

static void test_server_fields_not_owned(void **state)
{
    char msg[1024];
    json_t *live = J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\",\"namespace\":\"d\","
                     "\"uid\":\"u-1\",\"resourceVersion\":\"7\",\"creationTimestamp\":\"" T0 "\",\"generation\":1},"
                     "\"data\":{\"a\":\"1\"}}");
    json_t *cfg = J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\",\"namespace\":\"d\","
                    "\"uid\":\"evil\",\"resourceVersion\":\"7\",\"generation\":9,\"managedFields\":[{\"manager\":\"x\"}],"
                    "\"creationTimestamp\":\"1999-01-01T00:00:00Z\"},\"data\":{\"b\":\"2\"}}");
    json_t *out = NULL;
    assert_int_equal(dv_server_side_apply(live, cfg, "mgr", 0, T1, &out, msg, sizeof(msg)), 0);
    assert_string_equal(json_string_value(get_path(out, "metadata.uid")), "u-1");
    assert_string_equal(json_string_value(get_path(out, "metadata.creationTimestamp")), T0);
    assert_int_equal(json_integer_value(get_path(out, "metadata.generation")), 1);
    assert_json_eq(get_path(out, "data"), "{\"a\":\"1\",\"b\":\"2\"}", "data merged");
    assert_json_eq(fields(out, "mgr", "Apply"), "{\"f:data\":{\"f:b\":{}}}", "only data.b owned");
    assert_int_equal(json_array_size(get_path(out, "metadata.managedFields")), 1);
    json_decref(out);
    json_decref(cfg);
    json_decref(live);
}

static void test_removes_fields_no_longer_applied(void **state)
{
    char msg[1024];
    json_t *cfg1 = J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\",\"labels\":{\"a\":\"1\",\"b\":\"2\"}},"
                     "\"data\":{\"x\":\"1\",\"y\":\"2\"}}");
    json_t *cfg2 = J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\",\"labels\":{\"a\":\"1\"}},"
                     "\"data\":{\"x\":\"1\"}}");
    json_t *o1 = NULL, *o2 = NULL;
    assert_int_equal(dv_server_side_apply(NULL, cfg1, "m", 0, T0, &o1, msg, sizeof(msg)), 0);
    /* someone else takes over data.y with an update */
    json_t *edited = json_deep_copy(o1);
    json_object_set_new(get_path(edited, "data"), "y", json_string("3"));
    dv_managed_fields_update(edited, o1, "editor", "Update", T1);
    assert_json_eq(fields(edited, "editor", "Update"), "{\"f:data\":{\"f:y\":{}}}", "editor owns data.y");
    assert_json_eq(fields(edited, "m", "Apply"),
                   "{\"f:metadata\":{\"f:labels\":{\"f:a\":{},\"f:b\":{}}},\"f:data\":{\"f:x\":{}}}",
                   "applier lost data.y");
    assert_int_equal(dv_server_side_apply(edited, cfg2, "m", 0, T2, &o2, msg, sizeof(msg)), 0);
    /* labels.b was only m's: gone; data.y belongs to editor: kept */
    assert_json_eq(get_path(o2, "metadata.labels"), "{\"a\":\"1\"}", "label b removed");
    assert_json_eq(get_path(o2, "data"), "{\"x\":\"1\",\"y\":\"3\"}", "data.y kept");
    assert_string_equal(json_string_value(json_object_get(entry(o2, "m", "Apply"), "time")), T2);
    /* Apply entries sort before Update entries */
    assert_string_equal(json_string_value(json_object_get(json_array_get(get_path(o2, "metadata.managedFields"), 0),
                                                          "operation")),
                        "Apply");
    json_decref(o1);
    json_decref(o2);
    json_decref(edited);
    json_decref(cfg1);
    json_decref(cfg2);
}

/* A Deployment created by client-side apply (an Update manager). */
static json_t *csa_deployment(void)
{
    json_t *obj = J(DEPLOY_CFG);
    dv_managed_fields_update(obj, NULL, "kubectl-client-side-apply", "Update", T0);
    return obj;
}

static void test_conflict_messages(void **state)
{
    char msg[2048];
    json_t *live = csa_deployment(), *out = NULL;
    json_t *f = fields(live, "kubectl-client-side-apply", "Update");
    assert_non_null(f);
    /* Update managers own new maps and list items with "." */
    assert_json_eq(json_object_get(f, "f:metadata"), "{\"f:labels\":{\".\":{},\"f:app\":{}}}", "csa metadata");

    json_t *cfg = J("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\"},"
                    "\"spec\":{\"replicas\":5}}");
    json_t *causes = NULL;
    assert_int_equal(dv_server_side_apply_causes(live, cfg, "kubectl", 0, T1, &out, &causes, msg, sizeof(msg)), -2);
    assert_null(out);
    assert_string_equal(msg, "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: "
                             ".spec.replicas");
    assert_json_eq(causes,
                   "[{\"reason\":\"FieldManagerConflict\",\"field\":\".spec.replicas\","
                   "\"message\":\"conflict with \\\"kubectl-client-side-apply\\\" using apps/v1\"}]",
                   "one cause");
    json_decref(causes);
    /* no conflict, no causes */
    json_t *same = J("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\"},"
                     "\"spec\":{\"replicas\":2}}");
    assert_int_equal(dv_server_side_apply_causes(live, same, "kubectl", 0, T1, &out, &causes, msg, sizeof(msg)), 0);
    assert_null(causes);
    json_decref(out);
    out = NULL;
    json_decref(same);
    json_decref(cfg);

    cfg = J("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\"},\"spec\":{"
            "\"replicas\":5,\"template\":{\"spec\":{\"containers\":[{\"name\":\"nginx\",\"image\":\"nginx:2\"}]}}}}");
    assert_int_equal(dv_server_side_apply(live, cfg, "kubectl", 0, T1, &out, msg, sizeof(msg)), -2);
    assert_string_equal(msg, "Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using apps/v1:\n"
                             "- .spec.replicas\n"
                             "- .spec.template.spec.containers[name=\"nginx\"].image");

    /* force: the applier takes the fields over */
    assert_int_equal(dv_server_side_apply(live, cfg, "kubectl", 1, T1, &out, msg, sizeof(msg)), 0);
    assert_int_equal(json_integer_value(get_path(out, "spec.replicas")), 5);
    json_t *csa = fields(out, "kubectl-client-side-apply", "Update");
    assert_null(json_object_get(json_object_get(csa, "f:spec"), "f:replicas"));
    assert_non_null(json_object_get(json_object_get(fields(out, "kubectl", "Apply"), "f:spec"), "f:replicas"));
    /* the untouched container fields stay with their owner */
    assert_non_null(json_object_get(csa, "f:metadata"));
    json_decref(cfg);

    /* now another applier conflicts with kubectl (an Apply manager: no "using") */
    cfg = J("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\"},\"spec\":{\"replicas\":1}}");
    json_t *out2 = NULL;
    assert_int_equal(dv_server_side_apply(out, cfg, "helm", 0, T2, &out2, msg, sizeof(msg)), -2);
    assert_string_equal(msg, "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas");
    json_decref(cfg);
    json_decref(out);
    json_decref(live);
}

static void test_conflicts_several_managers(void **state)
{
    char msg[2048];
    json_t *obj = J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"},\"data\":{\"a\":\"1\"}}");
    json_t *o1 = NULL, *o2 = NULL, *o3 = NULL;
    json_t *ca = J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"},\"data\":{\"a\":\"1\"}}");
    json_t *cb = J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"},\"data\":{\"b\":\"1\"}}");
    assert_int_equal(dv_server_side_apply(obj, ca, "zeta", 0, T0, &o1, msg, sizeof(msg)), 0);
    assert_int_equal(dv_server_side_apply(o1, cb, "alpha", 0, T0, &o2, msg, sizeof(msg)), 0);
    json_t *cboth = J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"},\"data\":{\"a\":\"2\",\"b\":\"2\"}}");
    json_t *causes = NULL;
    assert_int_equal(dv_server_side_apply_causes(o2, cboth, "me", 0, T1, &o3, &causes, msg, sizeof(msg)), -2);
    assert_null(o3);
    assert_string_equal(msg, "Apply failed with 2 conflicts: conflicts with \"alpha\":\n- .data.b\n"
                             "conflicts with \"zeta\":\n- .data.a");
    /* the 409's details.causes (checked against kube-apiserver v1.37):
     * one per field, grouped by manager as in the message */
    assert_json_eq(causes,
                   "[{\"reason\":\"FieldManagerConflict\",\"message\":\"conflict with \\\"alpha\\\"\",\"field\":\".data.b\"},"
                   "{\"reason\":\"FieldManagerConflict\",\"message\":\"conflict with \\\"zeta\\\"\",\"field\":\".data.a\"}]",
                   "causes of two managers");
    json_decref(causes);
    /* applying the same values is shared ownership, not a conflict */
    json_t *same = J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"},\"data\":{\"a\":\"1\",\"b\":\"1\"}}");
    assert_int_equal(dv_server_side_apply(o2, same, "me", 0, T1, &o3, msg, sizeof(msg)), 0);
    assert_json_eq(fields(o3, "zeta", "Apply"), "{\"f:data\":{\"f:a\":{}}}", "zeta keeps a");
    assert_json_eq(fields(o3, "me", "Apply"), "{\"f:data\":{\"f:a\":{},\"f:b\":{}}}", "me shares a and b");
    json_decref(o3);
    /* zeta stops applying data.a while "me" still owns it: the value stays */
    json_t *same2 = J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"},\"data\":{\"a\":\"1\",\"b\":\"1\"}}");
    json_t *o4 = NULL, *o5 = NULL;
    assert_int_equal(dv_server_side_apply(o2, same2, "me", 0, T1, &o4, msg, sizeof(msg)), 0);
    json_t *nothing = J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"}}");
    assert_int_equal(dv_server_side_apply(o4, nothing, "zeta", 0, T2, &o5, msg, sizeof(msg)), 0);
    assert_string_equal(json_string_value(get_path(o5, "data.a")), "1");
    assert_null(entry(o5, "zeta", "Apply")); /* an empty field set drops the entry */
    json_decref(o4);
    json_decref(o5);
    json_decref(same2);
    json_decref(nothing);
    json_decref(same);
    json_decref(cboth);
    json_decref(o1);
    json_decref(o2);
    json_decref(ca);
    json_decref(cb);
    json_decref(obj);
}

static void test_keyed_lists_and_sets(void **state)
{
    char msg[1024];
    json_t *cfg1 = J("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"finalizers\":[\"a.io/x\"]},"
                     "\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":\"1\"},{\"name\":\"side\",\"image\":\"1\"}],"
                     "\"tolerations\":[{\"key\":\"k\"}]}}");
    json_t *o1 = NULL, *o2 = NULL;
    assert_int_equal(dv_server_side_apply(NULL, cfg1, "m", 0, T0, &o1, msg, sizeof(msg)), 0);
    json_t *f = fields(o1, "m", "Apply");
    assert_json_eq(json_object_get(f, "f:metadata"), "{\"f:finalizers\":{\"v:\\\"a.io/x\\\"\":{}}}", "set list");
    /* atomic list owned as one leaf */
    assert_json_eq(json_object_get(json_object_get(f, "f:spec"), "f:tolerations"), "{}", "atomic list");
    /* another manager adds a container; the applier then drops "side" */
    json_t *edited = json_deep_copy(o1);
    json_array_append_new(get_path(edited, "spec.containers"), json_pack("{s:s,s:s}", "name", "debug", "image", "x"));
    dv_managed_fields_update(edited, o1, "kubectl-edit", "Update", T1);
    assert_json_eq(json_object_get(fields(edited, "kubectl-edit", "Update"), "f:spec"),
                   "{\"f:containers\":{\"k:{\\\"name\\\":\\\"debug\\\"}\":{\".\":{},\"f:image\":{},\"f:name\":{}}}}",
                   "edit owns its container");
    json_t *cfg2 = J("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},"
                     "\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":\"2\"}]}}");
    assert_int_equal(dv_server_side_apply(edited, cfg2, "m", 0, T2, &o2, msg, sizeof(msg)), 0);
    assert_json_eq(get_path(o2, "spec.containers"),
                   "[{\"name\":\"app\",\"image\":\"2\"},{\"name\":\"debug\",\"image\":\"x\"}]", "side removed");
    assert_null(get_path(o2, "spec.tolerations"));
    /* the emptied set list disappears with its last value */
    assert_null(get_path(o2, "metadata.finalizers"));
    json_decref(o1);
    json_decref(o2);
    json_decref(edited);
    json_decref(cfg1);
    json_decref(cfg2);
}

static void test_update_managers(void **state)
{
    json_t *obj = J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\",\"uid\":\"1\"},"
                    "\"data\":{\"a\":\"1\",\"b\":\"2\"}}");
    dv_managed_fields_update(obj, NULL, "creator", "Update", T0);
    assert_json_eq(fields(obj, "creator", "Update"), "{\"f:data\":{\"f:a\":{},\"f:b\":{}}}", "create");
    assert_string_equal(json_string_value(json_object_get(entry(obj, "creator", "Update"), "apiVersion")), "v1");
    json_t *old = json_deep_copy(obj);
    json_object_set_new(get_path(obj, "data"), "a", json_string("9"));
    json_object_del(get_path(obj, "data"), "b");
    json_object_set_new(get_path(obj, "metadata"), "labels", json_pack("{s:s}", "x", "y"));
    dv_managed_fields_update(obj, old, "editor", "Update", T1);
    assert_json_eq(fields(obj, "editor", "Update"),
                   "{\"f:data\":{\"f:a\":{}},\"f:metadata\":{\"f:labels\":{\".\":{},\"f:x\":{}}}}", "editor");
    /* creator lost a (changed) and b (removed): its entry is gone */
    assert_null(entry(obj, "creator", "Update"));
    /* a no-op update keeps the time */
    json_t *old2 = json_deep_copy(obj);
    dv_managed_fields_update(obj, old2, "editor", "Update", T2);
    assert_string_equal(json_string_value(json_object_get(entry(obj, "editor", "Update"), "time")), T1);
    /* [{}] resets managedFields */
    json_t *reset = json_deep_copy(obj);
    json_object_set_new(get_path(reset, "metadata"), "managedFields", json_pack("[{}]"));
    dv_managed_fields_update(reset, obj, "x", "Update", T2);
    assert_null(get_path(reset, "metadata.managedFields"));
    json_decref(reset);
    json_decref(old2);
    json_decref(old);
    json_decref(obj);
}

/* kubectl set image after a client-side apply: ownership of one field of
 * one list item moves to the new Update manager. */
static void test_update_inside_keyed_item(void **state)
{
    json_t *live = csa_deployment();
    json_t *csa = fields(live, "kubectl-client-side-apply", "Update");
    json_t *c = json_object_get(json_object_get(json_object_get(json_object_get(json_object_get(csa, "f:spec"),
                                                                                 "f:template"), "f:spec"),
                                                "f:containers"), "k:{\"name\":\"nginx\"}");
    assert_json_eq(c,
                   "{\".\":{},\"f:name\":{},\"f:image\":{},\"f:ports\":{\".\":{},"
                   "\"k:{\\\"containerPort\\\":80,\\\"protocol\\\":\\\"TCP\\\"}\":{\".\":{},\"f:containerPort\":{}}}}",
                   "csa container");
    /* top-level fields carry no "." (they always exist), new maps do */
    assert_null(json_object_get(json_object_get(csa, "f:spec"), "."));
    json_t *next = json_deep_copy(live);
    json_t *ctr = json_array_get(json_object_get(json_object_get(json_object_get(json_object_get(next, "spec"),
                                                                                 "template"), "spec"), "containers"), 0);
    json_object_set_new(ctr, "image", json_string("nginx:2"));
    dv_managed_fields_update(next, live, "kubectl-set", "Update", T1);
    assert_json_eq(fields(next, "kubectl-set", "Update"),
                   "{\"f:spec\":{\"f:template\":{\"f:spec\":{\"f:containers\":{\"k:{\\\"name\\\":\\\"nginx\\\"}\":"
                   "{\"f:image\":{}}}}}}}",
                   "set image owner");
    csa = fields(next, "kubectl-client-side-apply", "Update");
    c = json_object_get(json_object_get(json_object_get(json_object_get(json_object_get(csa, "f:spec"), "f:template"),
                                                        "f:spec"), "f:containers"), "k:{\"name\":\"nginx\"}");
    assert_non_null(json_object_get(c, "f:name"));
    assert_null(json_object_get(c, "f:image"));
    /* entries keep the server's order: by operation, then time */
    json_t *mf = get_path(next, "metadata.managedFields");
    assert_string_equal(json_string_value(json_object_get(json_array_get(mf, 0), "manager")),
                        "kubectl-client-side-apply");
    assert_string_equal(json_string_value(json_object_get(json_array_get(mf, 1), "manager")), "kubectl-set");
    json_decref(next);
    json_decref(live);
}

static void test_bad_input(void **state)
{
    char msg[512];
    json_t *out = NULL;
    json_t *arr = J("[1]"), *obj = J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"}}");
    assert_int_equal(dv_server_side_apply(NULL, arr, "m", 0, T0, &out, msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "expected a JSON object"));
    assert_int_equal(dv_server_side_apply(arr, obj, "m", 0, T0, &out, msg, sizeof(msg)), -1);
    assert_int_equal(dv_server_side_apply(NULL, obj, "", 0, T0, &out, msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "fieldManager"));
    assert_int_equal(dv_server_side_apply(NULL, obj, NULL, 0, T0, &out, NULL, 0), -1);
    assert_null(out);
    /* malformed managedFields in the live object are skipped, not trusted */
    json_t *live = J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\",\"managedFields\":"
                     "[7,{\"manager\":3},{\"manager\":\"odd\",\"operation\":\"Update\",\"fieldsV1\":{\"x:junk\":{\"i:99\":{}},"
                     "\"f:data\":{\"f:a\":{\"k:not json\":{}}}}},{\"manager\":\"nofields\"}]},\"data\":{\"a\":\"1\"}}");
    json_t *cfg = J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"},\"data\":{\"a\":\"2\"}}");
    int rc = dv_server_side_apply(live, cfg, "m", 0, T1, &out, msg, sizeof(msg));
    assert_true(rc == 0 || rc == -2);
    json_decref(out);
    out = NULL;
    assert_int_equal(dv_server_side_apply(live, cfg, "m", 1, T1, &out, msg, sizeof(msg)), 0);
    assert_string_equal(json_string_value(get_path(out, "data.a")), "2");
    json_decref(out);
    /* field sets holding non-objects at any depth */
    json_t *weird = J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\",\"managedFields\":"
                      "[{\"manager\":\"w\",\"operation\":\"Update\",\"fieldsV1\":{\"f:data\":5,\"f:metadata\":"
                      "{\"f:labels\":[1]}}}]},\"data\":{\"a\":\"1\"}}");
    json_t *wcfg = J("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\",\"labels\":{\"x\":\"1\"}},"
                     "\"data\":{\"a\":\"2\",\"b\":{\"c\":1}}}");
    assert_int_equal(dv_server_side_apply(weird, wcfg, "m", 0, T1, &out, msg, sizeof(msg)), 0);
    json_t *wcopy = json_deep_copy(out);
    json_object_set_new(get_path(wcopy, "data"), "a", json_string("3"));
    dv_managed_fields_update(wcopy, out, "w", "Update", T2);
    json_decref(out);
    dv_managed_fields_update(weird, NULL, "w", "Create", T2);
    assert_non_null(entry(weird, "w", "Update")); /* "Create" is recorded as Update */
    json_decref(wcopy);
    json_decref(wcfg);
    json_decref(weird);
    /* managedFields not an array */
    json_t *live2 = J("{\"metadata\":{\"managedFields\":\"nope\"}}");
    assert_int_equal(dv_server_side_apply(live2, cfg, "m", 0, T1, &out, msg, sizeof(msg)), 0);
    json_decref(out);
    dv_managed_fields_update(live2, live, "m", "Update", T1);
    dv_managed_fields_update(NULL, NULL, "m", "Update", T1);
    dv_managed_fields_update(arr, NULL, "m", "Update", T1);
    json_decref(live2);
    /* deep nesting fails cleanly */
    json_t *deep = json_pack("{s:s,s:s}", "apiVersion", "v1", "kind", "X"), *cur = deep;
    for (int i = 0; i < 1500; i++) {
        json_t *nx = json_object();
        json_object_set_new(cur, "a", nx);
        cur = nx;
    }
    assert_int_equal(dv_server_side_apply(NULL, deep, "m", 0, T0, &out, msg, sizeof(msg)), -1);
    json_t *copy = json_deep_copy(deep);
    dv_managed_fields_update(copy, NULL, "m", "Update", T0); /* no crash */
    json_decref(copy);
    json_decref(deep);
    /* keyed list items must carry their keys, once */
    json_t *nokey = J("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"w\",\"namespace\":\"d\"},"
                      "\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\"},{\"image\":\"x\"}]}}}}");
    assert_int_equal(dv_server_side_apply(NULL, nokey, "m", 0, T0, &out, msg, sizeof(msg)), -1);
    assert_string_equal(msg, "failed to create typed patch object (d/w; apps/v1, Kind=Deployment): "
                             ".spec.template.spec.containers: element 1: associative list with keys has an element "
                             "that omits key field \"name\" (and doesn't have default value)");
    json_decref(nokey);
    json_t *dupe = J("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},"
                     "\"spec\":{\"containers\":[{\"name\":\"a\",\"ports\":[{\"containerPort\":80},"
                     "{\"containerPort\":80,\"protocol\":\"TCP\"}]}]}}");
    assert_int_equal(dv_server_side_apply(NULL, dupe, "m", 0, T0, &out, msg, sizeof(msg)), -1);
    assert_string_equal(msg, "failed to create typed patch object (p; v1, Kind=Pod): .spec.containers[name=\"a\"].ports: "
                             "duplicate entries for key [containerPort=80,protocol=\"TCP\"]");
    json_decref(dupe);
    /* a big keyed list */
    json_t *pod = json_pack("{s:s,s:s,s:{s:s},s:{s:[]}}", "apiVersion", "v1", "kind", "Pod", "metadata", "name", "p",
                            "spec", "containers");
    for (int i = 0; i < 300; i++) {
        char name[16];
        snprintf(name, sizeof(name), "c%d", i);
        json_array_append_new(get_path(pod, "spec.containers"), json_pack("{s:s,s:s}", "name", name, "image", "x"));
    }
    assert_int_equal(dv_server_side_apply(NULL, pod, "m", 0, T0, &out, msg, sizeof(msg)), 0);
    assert_int_equal(json_object_size(json_object_get(json_object_get(fields(out, "m", "Apply"), "f:spec"),
                                                      "f:containers")),
                     300);
    json_decref(out);
    json_decref(pod);
    json_decref(cfg);
    json_decref(live);
    json_decref(arr);
    json_decref(obj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_by_apply),
        cmocka_unit_test(test_server_fields_not_owned),
        cmocka_unit_test(test_removes_fields_no_longer_applied),
        cmocka_unit_test(test_conflict_messages),
        cmocka_unit_test(test_conflicts_several_managers),
        cmocka_unit_test(test_keyed_lists_and_sets),
        cmocka_unit_test(test_update_managers),
        cmocka_unit_test(test_update_inside_keyed_item),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
