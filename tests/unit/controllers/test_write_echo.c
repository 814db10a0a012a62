/* Unit tests for the write-echo memo (write_echo.h): the events of our own
 * child writes are held back, and nothing else is: another writer's
 * version, an event held during a write that was not the write's own (the
 * caller is told to look again), a failed write, a stale note. */
#include "testutil.h"

#include <jansson.h>

#include "controllers/write_echo.h"

enum { QUOTA = 2, ROLEBINDING = 4 };

static json_t *obj(const char *ns, const char *name, const char *rv)
{
    return json_pack("{s:{s:s, s:s, s:s}}", "metadata", "namespace", ns, "name", name, "resourceVersion", rv);
}

/* wecho_take on a fresh object (freed here). */
static int take(wecho *w, int kind, const char *ns, const char *name, const char *rv, time_t now)
{
    json_t *o = obj(ns, name, rv);
    int r = wecho_take(w, kind, o, now);
    json_decref(o);
    return r;
}

static void test_echo_after_the_reply(void **state)
{
    (void)state;
    wecho *w = wecho_new();
    assert_non_null(w);
    wecho_begin(w, QUOTA, "tenant-a/tenant-quota", 100);
    assert_int_equal(wecho_end(w, QUOTA, "tenant-a/tenant-quota", "41", 100), 0);
    /* Another kind, another object, another version: changes, passed on. */
    assert_false(take(w, ROLEBINDING, "tenant-a", "tenant-quota", "41", 100));
    assert_false(take(w, QUOTA, "tenant-b", "tenant-quota", "41", 100));
    assert_false(take(w, QUOTA, "tenant-a", "tenant-quota", "40", 100));
    /* The echo: held back once, and the note is used up. */
    assert_true(take(w, QUOTA, "tenant-a", "tenant-quota", "41", 101));
    assert_false(take(w, QUOTA, "tenant-a", "tenant-quota", "41", 101));
    assert_int_equal(wecho_size(w), 0);
    wecho_free(w);
}

/* A write of tenant-a's quota during which events carrying the versions
 * `seen` (NULL-terminated) arrive, each held back; it returns `returned`.
 * What wecho_end says. */
static int write_seeing(wecho *w, const char *const *seen, const char *returned)
{
    wecho_begin(w, QUOTA, "tenant-a/tenant-quota", 100);
    for (; *seen; seen++)
        assert_true(take(w, QUOTA, "tenant-a", "tenant-quota", *seen, 100));
    return wecho_end(w, QUOTA, "tenant-a/tenant-quota", returned, 100);
}

static void test_events_during_the_write(void **state)
{
    (void)state;
    wecho *w = wecho_new();
    /* The watch beat the reply: the echo is held and recognised at the end. */
    assert_int_equal(write_seeing(w, (const char *[]){"41", NULL}, "41"), 0);
    assert_int_equal(wecho_size(w), 0);
    /* Someone else's version landed during our write: held, then reported. */
    assert_int_equal(write_seeing(w, (const char *[]){"50", "51", NULL}, "51"), 1);
    /* The write failed: whatever was held is someone else's. */
    assert_int_equal(write_seeing(w, (const char *[]){"60", NULL}, NULL), 1);
    assert_false(take(w, QUOTA, "tenant-a", "tenant-quota", "60", 100));
    /* A failed write with nothing held: nothing to report, nothing kept. */
    assert_int_equal(write_seeing(w, (const char *[]){NULL}, ""), 0);
    assert_int_equal(wecho_size(w), 0);
    /* Other objects are not held while one is written. */
    wecho_begin(w, QUOTA, "tenant-a/tenant-quota", 100);
    assert_false(take(w, QUOTA, "tenant-b", "tenant-quota", "70", 100));
    assert_false(take(w, ROLEBINDING, "tenant-a", "tenant-quota", "70", 100));
    assert_int_equal(wecho_end(w, QUOTA, "tenant-a/tenant-quota", "71", 100), 0);
    wecho_free(w);
}

static void test_notes_expire_writes_in_flight_do_not(void **state)
{
    (void)state;
    wecho *w = wecho_new();
    wecho_begin(w, QUOTA, "ns/q", 100);
    assert_int_equal(wecho_end(w, QUOTA, "ns/q", "7", 100), 0);
    /* An echo that never came: the note no longer holds anything back. */
    assert_false(take(w, QUOTA, "ns", "q", "7", 100 + WECHO_TTL_S + 1));
    /* A newer write replaces the note. */
    wecho_begin(w, QUOTA, "ns/q", 200);
    assert_int_equal(wecho_end(w, QUOTA, "ns/q", "8", 200), 0);
    wecho_begin(w, QUOTA, "ns/q", 200);
    assert_int_equal(wecho_end(w, QUOTA, "ns/q", "9", 200), 0);
    assert_false(take(w, QUOTA, "ns", "q", "8", 200));
    assert_true(take(w, QUOTA, "ns", "q", "9", 200));
    /* A slow write holds its events however long it takes... */
    wecho_begin(w, QUOTA, "ns/slow", 300);
    assert_true(take(w, QUOTA, "ns", "slow", "20", 300 + 10 * WECHO_TTL_S));
    /* ...and survives the sweeps that drop expired notes. */
    for (int i = 0; i < 1100; i++) {
        char key[32], rv[16];
        snprintf(key, sizeof key, "ns/c%d", i);
        snprintf(rv, sizeof rv, "%d", 1000 + i);
        wecho_begin(w, QUOTA, key, 300);
        wecho_end(w, QUOTA, key, rv, 300);
    }
    for (int i = 0; i < 1100; i++) { /* later: the sweep drops them all */
        char key[32];
        snprintf(key, sizeof key, "ns/d%d", i);
        wecho_begin(w, QUOTA, key, 300 + 2 * WECHO_TTL_S);
        wecho_end(w, QUOTA, key, NULL, 300 + 2 * WECHO_TTL_S);
    }
    assert_true(wecho_size(w) < 200);
    assert_int_equal(wecho_end(w, QUOTA, "ns/slow", "21", 300 + 10 * WECHO_TTL_S), 1);
    /* No version, no key: never held. */
    json_t *o = json_pack("{s:{s:s}}", "metadata", "name", "q");
    assert_false(wecho_take(w, QUOTA, o, 300));
    json_decref(o);
    wecho_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_after_the_reply),
        cmocka_unit_test(test_events_during_the_write),
        cmocka_unit_test(test_notes_expire_writes_in_flight_do_not),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
