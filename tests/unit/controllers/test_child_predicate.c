/* Unit tests for the update predicate on the Tenant reconciler's child
 * watches (operator_pred_beyond_status): a change of status or of the
 * server's bookkeeping alone does not re-run the tenant; any other change
 * (spec, labels, owners, deletion, a member added or removed) does.
 * And the Tenant's and Subscription's own update predicates
 * (operator_tenant_updated, operator_subscription_updated): only the echo
 * of a status write of ours, of that kind, is passed over. */
#include "testutil.h"

#include <jansson.h>
#include <time.h>

#include "controllers/operator.h"
#include "controllers/write_echo.h"

static json_t *quota(const char *rv, const char *hard_pods, const char *used_pods)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:{s:s}, s:[{s:s}]}, s:{s:{s:s}}, s:{s:{s:s}}}", "apiVersion",
                     "v1", "kind", "ResourceQuota", "metadata", "name", "tenant-quota", "namespace", "tenant-acme",
                     "resourceVersion", rv, "labels", "paybill.dev/tenant", "acme", "managedFields", "manager",
                     "paybill-operator", "spec", "hard", "pods", hard_pods, "status", "used", "pods", used_pods);
}

static int pred(json_t *a, json_t *b)
{
    return operator_pred_beyond_status(a, b, NULL);
}

static void test_status_and_bookkeeping_do_not_pass(void **state)
{
    (void)state;
    json_t *a = quota("5", "10", "0"), *b = quota("6", "10", "3");
    assert_false(pred(a, b)); /* kube-controller-manager counted pods */
    assert_false(pred(a, a)); /* a resync: nothing changed */
    json_object_set_new(json_object_get(b, "metadata"), "managedFields", json_pack("[{s:s}]", "manager", "kcm"));
    assert_false(pred(a, b));
    json_object_del(b, "status"); /* status gone altogether */
    assert_false(pred(a, b));
    json_decref(a);
    json_decref(b);
}

static void test_other_changes_pass(void **state)
{
    (void)state;
    json_t *a = quota("5", "10", "0");

    json_t *b = quota("6", "20", "0"); /* spec edited by hand: drift */
    assert_true(pred(a, b));
    json_decref(b);

    b = quota("6", "10", "0"); /* a label removed */
    json_object_clear(json_object_get(json_object_get(b, "metadata"), "labels"));
    assert_true(pred(a, b));
    json_decref(b);

    b = quota("6", "10", "0"); /* being deleted */
    json_object_set_new(json_object_get(b, "metadata"), "deletionTimestamp", json_string("2026-12-05T00:00:00Z"));
    assert_true(pred(a, b));
    assert_true(pred(b, a)); /* and the other way round: a member only old has */
    json_decref(b);

    b = quota("6", "10", "0"); /* a new top-level member */
    json_object_set_new(b, "data", json_pack("{s:s}", "k", "v"));
    assert_true(pred(a, b));
    json_decref(b);

    b = quota("6", "10", "0"); /* spec gone */
    json_object_del(b, "spec");
    assert_true(pred(a, b));
    json_decref(b);
    json_decref(a);
}

static void test_odd_shapes_pass(void **state)
{
    (void)state;
    /* Not what an API server sends, but never a reason to miss a change. */
    json_t *a = quota("5", "10", "0"), *arr = json_array(), *bare = json_object();
    assert_true(pred(a, arr));
    assert_true(pred(arr, a));
    assert_true(pred(NULL, a));
    assert_true(pred(a, bare)); /* no metadata on one side */
    json_t *b = json_deep_copy(a);
    json_object_set_new(b, "metadata", json_string("x"));
    assert_true(pred(a, b));
    assert_false(pred(b, b)); /* equal, metadata not an object: nothing new */
    json_decref(a);
    json_decref(b);
    json_decref(arr);
    json_decref(bare);
}

static json_t *tenant(const char *rv, const char *phase)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion", "paybill.dev/v1alpha1", "kind", "Tenant",
                     "metadata", "name", "acme", "resourceVersion", rv, "status", "phase", phase);
}

static void test_own_status_echo(void **state)
{
    (void)state;
    operator_ctx op = {0};
    op.child_echoes = wecho_new();
    assert_non_null(op.child_echoes);
    json_t *before = tenant("6", "Pending"), *ours = tenant("7", "Active"), *hand = tenant("8", "Suspended");
    struct timespec ts; /* the predicate reads the monotonic clock: notes are that recent */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    time_t now = ts.tv_sec;

    /* Our status write returned 7: its echo is passed over, once. */
    wecho_begin(op.child_echoes, OP_ECHO_TENANT_STATUS, "acme", now);
    assert_int_equal(wecho_end(op.child_echoes, OP_ECHO_TENANT_STATUS, "acme", "7", now), 0);
    assert_false(operator_tenant_updated(before, ours, &op));
    assert_true(operator_tenant_updated(before, ours, &op)); /* the note is used up */
    /* Someone else's status edit passes: the tenant puts it back. */
    assert_true(operator_tenant_updated(ours, hand, &op));
    /* A child's note of the same name and version is not the Tenant's. */
    wecho_begin(op.child_echoes, OP_CHILD_NAMESPACES, "acme", now);
    wecho_end(op.child_echoes, OP_CHILD_NAMESPACES, "acme", "8", now);
    assert_true(operator_tenant_updated(ours, hand, &op));
    /* A Subscription's echo is its own predicate's, not the Tenant's. */
    wecho_begin(op.child_echoes, OP_ECHO_SUBSCRIPTION_STATUS, "acme", now);
    wecho_end(op.child_echoes, OP_ECHO_SUBSCRIPTION_STATUS, "acme", "8", now);
    assert_true(operator_tenant_updated(ours, hand, &op));
    assert_false(operator_subscription_updated(ours, hand, &op));
    assert_true(operator_subscription_updated(ours, hand, &op));
    /* Without a memo nothing is passed over. */
    wecho *w = op.child_echoes;
    op.child_echoes = NULL;
    assert_true(operator_tenant_updated(before, ours, &op));
    wecho_free(w);

    json_decref(before);
    json_decref(ours);
    json_decref(hand);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_and_bookkeeping_do_not_pass),
        cmocka_unit_test(test_other_changes_pass),
        cmocka_unit_test(test_odd_shapes_pass),
        cmocka_unit_test(test_own_status_echo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
