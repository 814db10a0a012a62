/* Unit tests for the operator's status-write echo bookkeeping (common.c):
 * after writing over a resourceVersion, the cache is "behind" while it
 * still shows that version, and the note is forgotten once it does not. */
#include "testutil.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>

#include "controllers/operator.h"
#include "kube/store.h"

static json_t *tenant(const char *rv)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "paybill.dev/v1alpha1", "kind", "Tenant",
                     "metadata", "name", "acme", "resourceVersion", rv);
}

static void put(store *st, const char *rv)
{
    json_t *t = tenant(rv);
    pb_err e;
    assert_int_equal(store_upsert(st, t, NULL, NULL, &e), 0);
    json_decref(t);
}

static size_t notes(operator_ctx *op)
{
    json_t *a = json_object_get(op->echo, "tenants/acme");
    return json_array_size(a);
}

static void test_behind_until_the_echo(void **state)
{
    operator_ctx op = {0};
    pthread_mutex_init(&op.echo_mu, NULL);
    store *st = store_new();
    const kube_gvr *g = &OPERATOR_GVR_TENANTS;

    put(st, "5");
    assert_false(operator_cache_behind(&op, st, g, "acme")); /* nothing written */
    operator_note_written_over(&op, g, "acme", "5");
    assert_true(operator_cache_behind(&op, st, g, "acme")); /* still shows what we replaced */
    assert_true(operator_cache_behind(&op, st, g, "acme")); /* asking does not forget */
    put(st, "6");                                           /* the echo */
    assert_false(operator_cache_behind(&op, st, g, "acme"));
    assert_int_equal(notes(&op), 0); /* caught up: forgotten */

    /* No version, or an empty one: nothing to wait for. */
    operator_note_written_over(&op, g, "acme", NULL);
    operator_note_written_over(&op, g, "acme", "");
    assert_int_equal(notes(&op), 0);

    /* The object left the cache: not behind, and the note goes. */
    operator_note_written_over(&op, g, "acme", "6");
    assert_int_equal(store_delete(st, "acme", NULL), 0);
    assert_false(operator_cache_behind(&op, st, g, "acme"));
    assert_int_equal(notes(&op), 0);

    /* Notes per object are bounded; the newest are kept. */
    put(st, "99");
    for (int i = 0; i < 100; i++) {
        char rv[16];
        snprintf(rv, sizeof rv, "%d", i);
        operator_note_written_over(&op, g, "acme", rv);
    }
    assert_true(notes(&op) > 0 && notes(&op) <= 8);
    assert_true(operator_cache_behind(&op, st, g, "acme")); /* 99 is among the newest */
    /* Another kind with the same key is another object. */
    assert_false(operator_cache_behind(&op, st, &OPERATOR_GVR_PLANS, "acme"));

    store_free(st);
    json_decref(op.echo);
    pthread_mutex_destroy(&op.echo_mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_behind_until_the_echo)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
