/* Unit tests for the Licence controller's memo (licence_memo.c): fresh for
 * LICMEMO_TTL_S, and a remembered verification is handed out only with the
 * very JWKS it was checked against, and only for claims that are the
 * verified payload (anything else: the caller verifies). */
#include "testutil.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "controllers/licence_memo.h"
#include "util/jws.h"

typedef struct got {
    int hit;
    char *token;
    json_t *cm, *payload;
    char kid[PB_JWS_KID_MAX];
} got;

static got get(licmemo *m, const char *tenant, time_t now, const char *jwks)
{
    got g;
    memset(&g, 0, sizeof g);
    g.hit = licmemo_get(m, tenant, now, jwks, &g.token, &g.cm, &g.payload, g.kid);
    return g;
}

static void got_free(got *g)
{
    free(g->token);
    json_decref(g->cm);
    json_decref(g->payload);
}

/* Whether the memo is fresh for acme at now (keys "j"), nothing kept. */
static int hit_at(licmemo *m, time_t now)
{
    got g = get(m, "acme", now, "j");
    int hit = g.hit;
    got_free(&g);
    return hit;
}

static const char *cm_data(const got *g, const char *key)
{
    return json_string_value(json_object_get(json_object_get(g->cm, "data"), key));
}

static void test_verification_only_with_the_same_keys(void **state)
{
    (void)state;
    licmemo *m = licmemo_new();
    assert_non_null(m);
    json_t *payload = json_pack("{s:s, s:I}", "sub", "acme", "exp", (json_int_t)5000);
    const char *claims = "{\n  \"exp\": 5000,\n  \"sub\": \"acme\"\n}"; /* as the ConfigMap shows it */
    licmemo_put(m, "acme", "tok.en.sig", "{\"keys\":[A]}", claims, payload, "kid-a", 100);

    got g = get(m, "acme", 101, "{\"keys\":[A]}");
    assert_true(g.hit);
    assert_string_equal(g.token, "tok.en.sig");
    assert_string_equal(cm_data(&g, "jwks.json"), "{\"keys\":[A]}");
    assert_string_equal(cm_data(&g, "claims.json"), claims);
    assert_non_null(g.payload);
    assert_true(json_equal(g.payload, payload));
    assert_string_equal(g.kid, "kid-a");
    json_object_set_new(g.payload, "sub", json_string("mallory")); /* a copy: the memo's stays */
    got_free(&g);
    g = get(m, "acme", 102, "{\"keys\":[A]}");
    assert_true(json_equal(g.payload, payload));
    got_free(&g);

    /* Other keys (a rotation, a key unpublished): the objects are still
     * remembered, the verification is not, whatever it said before. */
    g = get(m, "acme", 102, "{\"keys\":[B]}");
    assert_true(g.hit);
    assert_string_equal(g.token, "tok.en.sig");
    assert_null(g.payload);
    assert_string_equal(g.kid, "");
    got_free(&g);
    g = get(m, "acme", 102, NULL);
    assert_true(g.hit);
    assert_null(g.payload);
    got_free(&g);

    /* Claims text that is not the verified payload (or no payload, or no
     * kid): the objects are remembered, no verification is. */
    json_t *other = json_pack("{s:s, s:I}", "sub", "mallory", "exp", (json_int_t)5000);
    const char *const texts[] = {claims, claims, claims, "{\"exp\": 5000, \"sub\": \"acme\", \"sub\": \"x\"}",
                                 "not json"};
    const json_t *payloads[] = {other, NULL, payload, payload, payload};
    const char *kids[] = {"kid-a", "kid-a", NULL, "kid-a", "kid-a"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        licmemo_put(m, "acme", "tok.en.sig", "{\"keys\":[A]}", texts[i], payloads[i], kids[i], 100);
        g = get(m, "acme", 101, "{\"keys\":[A]}");
        assert_true(g.hit);
        assert_string_equal(cm_data(&g, "claims.json"), texts[i]);
        assert_null(g.payload);
        assert_string_equal(g.kid, "");
        got_free(&g);
    }
    json_decref(other);

    json_decref(payload);
    licmemo_free(m);
}

static void test_expiry_and_forgetting(void **state)
{
    (void)state;
    licmemo *m = licmemo_new();
    json_t *payload = json_pack("{s:s}", "sub", "acme");
    licmemo_put(m, "acme", "t", "j", "{\"sub\":\"acme\"}", payload, "k", 100);
    got g = get(m, "acme", 100 + LICMEMO_TTL_S - 1, "j");
    assert_true(g.hit);
    assert_non_null(g.payload);
    got_free(&g);
    g = get(m, "acme", 100 + LICMEMO_TTL_S, "j"); /* expired */
    assert_false(g.hit);
    assert_null(g.token);
    assert_null(g.payload);
    got_free(&g);
    g = get(m, "acme", 99, "j"); /* the clock went back: not trusted */
    assert_false(g.hit);
    got_free(&g);
    g = get(m, "other", 100, "j");
    assert_false(g.hit);
    got_free(&g);

    /* A token, keys or claims missing forgets the tenant. */
    licmemo_put(m, "acme", NULL, "j", "c", payload, "k", 100);
    assert_false(hit_at(m, 100));
    licmemo_put(m, "acme", "t", "j", "c", payload, "k", 100);
    licmemo_put(m, "acme", "t", NULL, "c", payload, "k", 100);
    assert_false(hit_at(m, 100));
    licmemo_put(m, "acme", "t", "j", "c", payload, "k", 100);
    licmemo_put(m, "acme", "t", "j", NULL, payload, "k", 100);
    assert_false(hit_at(m, 100));

    /* A namespace just created: a hit with nothing in it. Dropping with
     * keep_empty keeps that note, not a real entry. */
    licmemo_put_empty(m, "acme", 100);
    g = get(m, "acme", 101, "j");
    assert_true(g.hit);
    assert_null(g.token);
    assert_null(g.cm);
    assert_null(g.payload);
    got_free(&g);
    licmemo_drop(m, "acme", 1);
    assert_true(hit_at(m, 101));
    /* That note outlives a licence entry's window (the licence may trail
     * its namespace by minutes), not its own. */
    assert_true(hit_at(m, 100 + LICMEMO_TTL_S));
    assert_true(hit_at(m, 100 + LICMEMO_EMPTY_TTL_S - 1));
    assert_false(hit_at(m, 100 + LICMEMO_EMPTY_TTL_S));
    assert_false(hit_at(m, 99));
    licmemo_drop(m, "acme", 0);
    assert_false(hit_at(m, 101));
    licmemo_put(m, "acme", "t", "j", "c", payload, "k", 100);
    licmemo_drop(m, "acme", 1);
    assert_false(hit_at(m, 101));

    json_decref(payload);
    licmemo_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verification_only_with_the_same_keys),
        cmocka_unit_test(test_expiry_and_forgetting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
