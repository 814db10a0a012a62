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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
