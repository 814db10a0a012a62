/* Unit tests for the audit controller's predicates: only a change of the
 * paybill.dev/verify-audit annotation asks for a verification, and a
 * Tenant seen at a start only when its token was not answered yet. */
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

static void test_audit_pending(void **state)
{
    json_t *none = tenant(NULL, "Active"), *a = tenant("t1", "Active");
    assert_false(audit_pending(none, NULL)); /* never asked: a start leaves it alone */
    assert_true(audit_pending(a, NULL));     /* asked while nobody answered */
    json_object_set_new(json_object_get(a, "status"), "audit", json_pack("{s:s}", "token", "t1"));
    assert_false(audit_pending(a, NULL)); /* answered */
    json_object_set_new(json_object_get(a, "status"), "audit", json_pack("{s:s}", "token", "t0"));
    assert_true(audit_pending(a, NULL)); /* asked again since */
    json_decref(none);
    json_decref(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_audit_requested), cmocka_unit_test(test_audit_pending)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
