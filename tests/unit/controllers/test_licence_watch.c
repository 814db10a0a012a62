/* Unit tests for the licence controller's watch filters: a Tenant's add,
 * its updates and its Subscription's changes run the licence only for a
 * tenant it can be signed into (namespace ready, plan known, not being
 * deleted), or that just stopped being one. A cold start ran it up to three
 * times more per new tenant for nothing before. */
#include "testutil.h"

#include <jansson.h>

#include "controllers/licence_controller.h"
#include "controllers/operator.h"

static json_t *tenant(const char *name, const char *ns_ready, const char *plan, int deleting)
{
    json_t *t = json_pack("{s:{s:s}, s:{s:[{s:s, s:s}]}}", "metadata", "name", name, "status", "conditions", "type",
                          "NamespaceReady", "status", ns_ready);
    if (plan)
        json_object_set_new(json_object_get(t, "status"), "plan", json_string(plan));
    if (deleting)
        json_object_set_new(json_object_get(t, "metadata"), "deletionTimestamp", json_string("2026-12-06T00:00:00Z"));
    return t;
}

static json_t *subscription(const char *tenant_name)
{
    return json_pack("{s:{s:s}, s:{s:{s:s}}, s:{s:s}}", "metadata", "name", tenant_name, "spec", "tenantRef", "name",
                     tenant_name, "status", "state", "active");
}

static void test_add_passes_signable_tenants_only(void **state)
{
    (void)state;
    json_t *ready = tenant("a", "True", "gold", 0), *no_ns = tenant("b", "False", "gold", 0),
           *no_plan = tenant("c", "True", NULL, 0), *going = tenant("d", "True", "gold", 1);
    assert_true(licence_tenant_added(ready, NULL));
    assert_false(licence_tenant_added(no_ns, NULL));
    assert_false(licence_tenant_added(no_plan, NULL));
    assert_false(licence_tenant_added(going, NULL));
    json_decref(ready);
    json_decref(no_ns);
    json_decref(no_plan);
    json_decref(going);
}

static void test_update_passes_when_signable_before_or_after(void **state)
{
    (void)state;
    json_t *pending = tenant("a", "False", NULL, 0), *planned = tenant("a", "False", "gold", 0),
           *ready = tenant("a", "True", "gold", 0), *ready2 = tenant("a", "True", "silver", 0),
           *going = tenant("a", "True", "gold", 1);
    /* Nothing to sign into before or after: a new tenant's first status. */
    assert_false(licence_tenant_updated(pending, planned, NULL));
    /* Becomes signable; its plan changes; it goes (the memo is dropped). */
    assert_true(licence_tenant_updated(planned, ready, NULL));
    assert_true(licence_tenant_updated(ready, ready2, NULL));
    assert_true(licence_tenant_updated(ready, going, NULL));
    assert_true(licence_tenant_updated(ready, planned, NULL)); /* its namespace is lost */
    /* Signable, but nothing a licence is made of changed. */
    json_t *same = json_deep_copy(ready);
    json_object_set_new(json_object_get(same, "status"), "message", json_string("unrelated"));
    assert_false(licence_tenant_updated(ready, same, NULL));
    json_decref(same);
    json_decref(pending);
    json_decref(planned);
    json_decref(ready);
    json_decref(ready2);
    json_decref(going);
}

/* A new or retired key re-signs the signable tenants only. */
static void test_key_change_enqueues_signable_tenants_only(void **state)
{
    (void)state;
    operator_ctx op = {0};
    op.tenants = store_new();
    assert_non_null(op.tenants);
    json_t *t[4] = {tenant("a", "True", "gold", 0), tenant("b", "False", "gold", 0), tenant("c", "True", NULL, 0),
                    tenant("d", "True", "gold", 1)};
    for (int i = 0; i < 4; i++)
        assert_int_equal(store_upsert(op.tenants, t[i], NULL, NULL, NULL), 0);
    json_t *keys = licence_signable_tenants(&op);
    assert_int_equal(json_array_size(keys), 1);
    assert_string_equal(json_string_value(json_array_get(keys, 0)), "a");
    json_decref(keys);
    for (int i = 0; i < 4; i++)
        json_decref(t[i]);
    store_free(op.tenants);
}

static void test_subscription_maps_to_signable_tenants_only(void **state)
{
    (void)state;
    operator_ctx op = {0};
    op.tenants = store_new();
    assert_non_null(op.tenants);
    json_t *ready = tenant("a", "True", "gold", 0), *no_ns = tenant("b", "False", "gold", 0);
    assert_int_equal(store_upsert(op.tenants, ready, NULL, NULL, NULL), 0);
    assert_int_equal(store_upsert(op.tenants, no_ns, NULL, NULL, NULL), 0);

    json_t *sa = subscription("a"), *sb = subscription("b"), *sz = subscription("z");
    json_t *keys = licence_map_subscription(sa, &op);
    assert_int_equal(json_array_size(keys), 1);
    assert_string_equal(json_string_value(json_array_get(keys, 0)), "a");
    json_decref(keys);
    assert_null(licence_map_subscription(sb, &op)); /* its namespace is not ready: its readiness brings it */
    assert_null(licence_map_subscription(sz, &op)); /* no such tenant (yet) */

    /* Once the tenant is ready, its Subscription's changes pass again. */
    json_t *b_ready = tenant("b", "True", "gold", 0);
    assert_int_equal(store_upsert(op.tenants, b_ready, NULL, NULL, NULL), 0);
    keys = licence_map_subscription(sb, &op);
    assert_int_equal(json_array_size(keys), 1);
    json_decref(keys);

    json_decref(sa);
    json_decref(sb);
    json_decref(sz);
    json_decref(ready);
    json_decref(no_ns);
    json_decref(b_ready);
    store_free(op.tenants);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_passes_signable_tenants_only),
        cmocka_unit_test(test_update_passes_when_signable_before_or_after),
        cmocka_unit_test(test_key_change_enqueues_signable_tenants_only),
        cmocka_unit_test(test_subscription_maps_to_signable_tenants_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
