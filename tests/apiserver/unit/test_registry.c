/*
 * test_registry.c - served resource types: built-ins, CRD versions
 * (served/storage, scope, names, printer columns defaulting), removal,
 * group discovery order, and unusable CRDs.
 */
#include <string.h>

#include "testutil.h"

#include "registry.h"

static void test_builtins(void **state)
{
    (void)state;
    dv_registry *r = dv_registry_new();
    const dv_rtype *t = dv_registry_find(r, "apps", "v1", "deployments");
    assert_non_null(t);
    assert_string_equal(t->kind, "Deployment");
    assert_string_equal(t->list_kind, "DeploymentList");
    assert_true(t->namespaced && t->has_status && t->has_generation);
    assert_string_equal(json_string_value(json_array_get(t->short_names, 0)), "deploy");
    t = dv_registry_find(r, "", "v1", "namespaces");
    assert_non_null(t);
    assert_false(t->namespaced);
    t = dv_registry_find(r, "authorization.k8s.io", "v1", "selfsubjectaccessreviews");
    assert_true(t->create_only);
    assert_int_equal(json_array_size(t->verbs), 1);
    assert_null(dv_registry_find(r, "apps", "v2", "deployments"));
    assert_null(dv_registry_find(r, "", "v1", "nothings"));
    dv_registry_free(r);
}

/* Strategy and field-label facts taken from kube-apiserver v1.37 and
 * checked side by side with it (tests/e2e/test_differential.sh). */
static void test_kind_strategies(void **state)
{
    (void)state;
    dv_registry *r = dv_registry_new();
    const dv_rtype *cm = dv_registry_find(r, "", "v1", "configmaps");
    const dv_rtype *lease = dv_registry_find(r, "coordination.k8s.io", "v1", "leases");
    const dv_rtype *role = dv_registry_find(r, "rbac.authorization.k8s.io", "v1", "roles");
    const dv_rtype *ns = dv_registry_find(r, "", "v1", "namespaces");
    const dv_rtype *job = dv_registry_find(r, "batch", "v1", "jobs");
    assert_false(cm->update_needs_rv || cm->create_on_update);
    assert_true(lease->update_needs_rv && lease->create_on_update);
    assert_true(!role->update_needs_rv && role->create_on_update);
    assert_true(dv_registry_find(r, "apiextensions.k8s.io", "v1", "customresourcedefinitions")->update_needs_rv);

    char msg[256];
    assert_int_equal(dv_rtype_field_label_ok(cm, "metadata.namespace", msg, sizeof(msg)), 0);
    assert_int_equal(dv_rtype_field_label_ok(cm, "data.a", msg, sizeof(msg)), -1);
    assert_string_equal(msg, "\"data.a\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"");
    assert_int_equal(dv_rtype_field_label_ok(ns, "status.phase", msg, sizeof(msg)), 0);
    assert_int_equal(dv_rtype_field_label_ok(ns, "metadata.namespace", msg, sizeof(msg)), -1);
    assert_string_equal(msg, "field label not supported: metadata.namespace");
    assert_int_equal(dv_rtype_field_label_ok(dv_registry_find(r, "", "v1", "secrets"), "type", msg, sizeof(msg)), 0);
    assert_int_equal(dv_rtype_field_label_ok(job, "spec.x", msg, sizeof(msg)), -1);
    assert_string_equal(msg, "field label \"spec.x\" not supported for Job");

    json_t *crd = json_loads("{\"metadata\":{\"uid\":\"u1\",\"generation\":1},\"spec\":{\"group\":\"x.dev\","
                             "\"scope\":\"Cluster\",\"names\":{\"plural\":\"things\",\"kind\":\"Thing\"},"
                             "\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true,"
                             "\"selectableFields\":[{\"jsonPath\":\".spec.colour\"}]}]}}",
                             0, NULL);
    assert_int_equal(dv_registry_apply_crd(r, crd, msg, sizeof(msg)), 0);
    const dv_rtype *t = dv_registry_find(r, "x.dev", "v1", "things");
    assert_true(t->update_needs_rv && !t->create_on_update);
    assert_int_equal(dv_rtype_field_label_ok(t, "spec.colour", msg, sizeof(msg)), 0);
    assert_int_equal(dv_rtype_field_label_ok(t, "metadata.name", msg, sizeof(msg)), 0);
    assert_int_equal(dv_rtype_field_label_ok(t, "metadata.namespace", msg, sizeof(msg)), -1); /* cluster scope */
    assert_int_equal(dv_rtype_field_label_ok(t, "spec.size", msg, sizeof(msg)), -1);
    assert_string_equal(msg, "field label not supported: spec.size");

    /* the watch floor: set once stored, kept while uid and generation stay */
    assert_int_equal(t->watch_floor, 0);
    dv_registry_crd_stored(r, crd, 40);
    assert_int_equal(dv_registry_find(r, "x.dev", "v1", "things")->watch_floor, 40);
    assert_int_equal(dv_registry_apply_crd(r, crd, msg, sizeof(msg)), 0);
    dv_registry_crd_stored(r, crd, 41);
    assert_int_equal(dv_registry_find(r, "x.dev", "v1", "things")->watch_floor, 40);
    json_object_set_new(json_object_get(crd, "metadata"), "generation", json_integer(2));
    assert_int_equal(dv_registry_apply_crd(r, crd, msg, sizeof(msg)), 0);
    dv_registry_crd_stored(r, crd, 42);
    assert_int_equal(dv_registry_find(r, "x.dev", "v1", "things")->watch_floor, 42);
    json_decref(crd);
    dv_registry_free(r);
}

static void test_crd_lifecycle(void **state)
{
    (void)state;
    dv_registry *r = dv_registry_new();
    json_t *crd = json_loads(
        "{\"spec\":{\"group\":\"x.dev\",\"scope\":\"Cluster\",\"names\":{\"plural\":\"things\",\"kind\":\"Thing\","
        "\"shortNames\":[\"th\"],\"categories\":[\"all\"]},\"versions\":["
        "{\"name\":\"v1beta1\",\"served\":true,\"storage\":false},"
        "{\"name\":\"v1\",\"served\":true,\"storage\":true,\"subresources\":{\"status\":{}},"
        "\"additionalPrinterColumns\":[{\"name\":\"Size\",\"type\":\"integer\",\"jsonPath\":\".spec.size\"}]},"
        "{\"name\":\"v0\",\"served\":false,\"storage\":false}]}}",
        0, NULL);
    char msg[256] = "";
    assert_int_equal(dv_registry_apply_crd(r, crd, msg, sizeof(msg)), 0);
    const dv_rtype *v1 = dv_registry_find(r, "x.dev", "v1", "things");
    const dv_rtype *beta = dv_registry_find(r, "x.dev", "v1beta1", "things");
    assert_non_null(v1);
    assert_non_null(beta);
    assert_null(dv_registry_find(r, "x.dev", "v0", "things")); /* not served */
    assert_false(v1->namespaced);
    assert_true(v1->has_status);
    assert_false(beta->has_status);
    assert_string_equal(v1->singular, "thing"); /* defaulted from the kind */
    assert_string_equal(json_string_value(json_object_get(json_array_get(v1->columns, 0), "name")), "Size");
    assert_int_equal(json_array_size(v1->columns), 1); /* listed columns are exact */
    assert_string_equal(json_string_value(json_object_get(json_array_get(beta->columns, 0), "name")), "Age");
    assert_ptr_equal(dv_registry_find_any(r, "x.dev", "things"), v1); /* the storage version */

    json_t *groups = dv_registry_groups(r);
    json_t *g = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(groups, i, e)
        if (!strcmp(json_string_value(json_object_get(e, "name")), "x.dev"))
            g = e;
    assert_non_null(g);
    assert_string_equal(json_string_value(json_object_get(g, "preferred")), "v1");
    assert_int_equal(json_array_size(json_object_get(g, "versions")), 2);
    json_decref(groups);

    /* re-applying replaces, removing stops serving */
    assert_int_equal(dv_registry_apply_crd(r, crd, msg, sizeof(msg)), 0);
    dv_registry_remove_crd(r, "x.dev", "things");
    assert_null(dv_registry_find(r, "x.dev", "v1", "things"));
    json_decref(crd);

    /* a CRD cannot shadow a built-in; incomplete CRDs are refused */
    crd = json_loads("{\"spec\":{\"group\":\"apps\",\"names\":{\"plural\":\"deployments\",\"kind\":\"D\"},"
                     "\"versions\":[{\"name\":\"v9\",\"served\":true,\"storage\":true}]}}",
                     0, NULL);
    assert_int_equal(dv_registry_apply_crd(r, crd, msg, sizeof(msg)), -1);
    json_decref(crd);
    crd = json_loads("{\"spec\":{\"group\":\"y.dev\"}}", 0, NULL);
    assert_int_equal(dv_registry_apply_crd(r, crd, msg, sizeof(msg)), -1);
    assert_true(strlen(msg) > 0);
    json_decref(crd);
    dv_registry_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtins),
        cmocka_unit_test(test_crd_lifecycle),
        cmocka_unit_test(test_kind_strategies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
