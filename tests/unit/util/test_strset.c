/* Unit tests for pb_strset_has: exact, case-sensitive membership up to the
 * set's NULL. */
#include "testutil.h"

#include "util/strset.h"

static void test_membership(void **state)
{
    (void)state;
    static const char *const set[] = {"pooled", "bridge", "silo", NULL};
    static const char *const empty[] = {NULL};
    assert_true(pb_strset_has(set, "pooled"));
    assert_true(pb_strset_has(set, "silo"));
    assert_false(pb_strset_has(set, "Silo"));
    assert_false(pb_strset_has(set, "sil"));
    assert_false(pb_strset_has(set, "silos"));
    assert_false(pb_strset_has(set, ""));
    assert_false(pb_strset_has(empty, "pooled"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_membership)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
