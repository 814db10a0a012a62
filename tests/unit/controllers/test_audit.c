/* Unit tests for the audit controller's update predicate: only a change of
 * the paybill.dev/verify-audit annotation asks for a verification. */
#include "testutil.h"

#include <jansson.h>

#include "controllers/operator.h"

static json_t *tenant(const char *token, const char *phase)
{
    json_t *t = json_pack("{s:{s:s, s:{}}, s:{s:s}}", "metadata", "name", "acme", "annotations", "status", "phase",
                          phase);
    if (token)
        json_object_set_new(json_object_get(json_object_get(t, "metadata"), "annotations"),
                            OPERATOR_VERIFY_AUDIT_ANNOTATION, json_string(token));
    return t;
}

static void test_audit_requested(void **state)
{
    json_t *none = tenant(NULL, "Pending"), *none2 = tenant(NULL, "Active");
    json_t *a = tenant("t1", "Pending"), *a2 = tenant("t1", "Active"), *b = tenant("t2", "Active");
    assert_false(audit_requested(none, none2, NULL)); /* status only, no annotation */
    assert_false(audit_requested(a, a2, NULL));       /* status only, same token */
    assert_true(audit_requested(none, a, NULL));      /* asked */
    assert_true(audit_requested(a, b, NULL));         /* asked again */
    assert_true(audit_requested(a, none, NULL));      /* withdrawn: harmless look */
    json_t *bare = json_object(); /* no metadata at all */
    assert_false(audit_requested(bare, bare, NULL));
    assert_true(audit_requested(bare, a, NULL));
    json_decref(bare);
    json_decref(none);
    json_decref(none2);
    json_decref(a);
    json_decref(a2);
    json_decref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_audit_requested)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
