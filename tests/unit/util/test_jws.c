/* Unit tests for util/jws: Ed25519 JWKs and compact EdDSA JWS. */
#include "testutil.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "util/jws.h"
#include "util/secret.h"

/* RFC 8037 appendix A. */
#define RFC_D "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
#define RFC_X "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
#define RFC_KID "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
#define RFC_INPUT "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
#define RFC_SIG "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"

static pb_jws_key *rfc_key(void)
{
    unsigned char *d = NULL;
    size_t n = 0;
    assert_int_equal(pb_secret_b64url_decode(RFC_D, strlen(RFC_D), &d, &n, NULL), 0);
    assert_int_equal(n, 32);
    pb_jws_key *k = NULL;
    assert_int_equal(pb_jws_key_from_raw(d, &k, NULL), 0);
    free(d);
    return k;
}

static json_t *jwks_of(const pb_jws_key *k)
{
    return json_pack("{s:[o]}", "keys", pb_jws_key_public_jwk(k));
}

static void test_rfc8037_vectors(void **state)
{
    (void)state;
    pb_jws_key *k = rfc_key();
    assert_string_equal(pb_jws_key_kid(k), RFC_KID);
    json_t *jwk = pb_jws_key_public_jwk(k);
    assert_string_equal(json_string_value(json_object_get(jwk, "x")), RFC_X);
    assert_string_equal(json_string_value(json_object_get(jwk, "kty")), "OKP");
    assert_string_equal(json_string_value(json_object_get(jwk, "crv")), "Ed25519");
    assert_null(json_object_get(jwk, "d")); /* public only */
    char *sig = NULL;
    assert_int_equal(pb_jws_sign_input(k, RFC_INPUT, strlen(RFC_INPUT), &sig, NULL), 0);
    assert_string_equal(sig, RFC_SIG);
    free(sig);
    /* The RFC's token has no kid: refused (we only verify named keys). */
    json_t *jwks = json_pack("{s:[O]}", "keys", jwk);
    pb_err e;
    assert_int_equal(pb_jws_verify(RFC_INPUT "." RFC_SIG, jwks, NULL, NULL, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "kid"));
    /* A public key alone cannot sign. */
    pb_jws_key *pub = NULL;
    assert_int_equal(pb_jws_key_from_jwk(jwk, &pub, NULL), 0);
    assert_string_equal(pb_jws_key_kid(pub), RFC_KID);
    assert_int_equal(pb_jws_key_can_sign(pub), 0);
    assert_int_equal(pb_jws_sign_input(pub, "a", 1, &sig, NULL), PB_EINVAL);
    pb_jws_key_free(pub);
    json_decref(jwk);
    json_decref(jwks);
    pb_jws_key_free(k);
}

static void test_sign_verify_roundtrip(void **state)
{
    (void)state;
    pb_jws_key *k = NULL;
    assert_int_equal(pb_jws_key_generate(&k, NULL), 0);
    json_t *claims = json_pack("{s:s, s:i, s:{s:s}}", "sub", "acme", "exp", 2000000000, "paybill", "plan", "pro");
    char *tok = NULL;
    assert_int_equal(pb_jws_sign(k, claims, &tok, NULL), 0);
    json_t *jwks = jwks_of(k), *got = NULL;
    char kid[PB_JWS_KID_MAX];
    assert_int_equal(pb_jws_verify(tok, jwks, &got, kid, NULL), 0);
    assert_true(json_equal(got, claims));
    assert_string_equal(kid, pb_jws_key_kid(k));
    /* The header says what a standard JWT library needs. */
    json_t *hdr = NULL;
    unsigned char *raw = NULL;
    size_t n = 0;
    assert_int_equal(pb_secret_b64url_decode(tok, (size_t)(strchr(tok, '.') - tok), &raw, &n, NULL), 0);
    hdr = json_loadb((const char *)raw, n, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(hdr, "alg")), "EdDSA");
    assert_string_equal(json_string_value(json_object_get(hdr, "typ")), "JWT");
    assert_string_equal(json_string_value(json_object_get(hdr, "kid")), pb_jws_key_kid(k));
    free(raw);
    json_decref(hdr);
    /* Private key PEM round trip keeps the identity. */
    char *pem = NULL;
    assert_int_equal(pb_jws_key_private_pem(k, &pem, NULL), 0);
    assert_non_null(strstr(pem, "BEGIN PRIVATE KEY"));
    pb_jws_key *k2 = NULL;
    assert_int_equal(pb_jws_key_from_pem(pem, &k2, NULL), 0);
    assert_string_equal(pb_jws_key_kid(k2), pb_jws_key_kid(k));
    free(pem);
    pb_jws_key_free(k2);
    json_decref(got);
    json_decref(jwks);
    json_decref(claims);
    free(tok);
    pb_jws_key_free(k);
}

/* Replace part `idx` (0..2) of a token. */
static char *with_part(const char *tok, int idx, const char *part)
{
    char *copy = strdup(tok), *parts[3], *save = NULL;
    parts[0] = strtok_r(copy, ".", &save);
    parts[1] = strtok_r(NULL, ".", &save);
    parts[2] = strtok_r(NULL, ".", &save);
    parts[idx] = (char *)part;
    size_t n = strlen(parts[0]) + strlen(parts[1]) + strlen(parts[2]) + 3;
    char *out = malloc(n);
    snprintf(out, n, "%s.%s.%s", parts[0], parts[1], parts[2]);
    free(copy);
    return out;
}

static char *b64j(const char *json)
{
    char *o = NULL;
    assert_int_equal(pb_secret_b64url_encode(json, strlen(json), &o, NULL), 0);
    return o;
}

static void test_tampering_fails_closed(void **state)
{
    (void)state;
    pb_jws_key *k = NULL, *other = NULL;
    assert_int_equal(pb_jws_key_generate(&k, NULL), 0);
    assert_int_equal(pb_jws_key_generate(&other, NULL), 0);
    json_t *claims = json_pack("{s:s, s:{s:s, s:s}}", "sub", "acme", "paybill", "plan", "free", "status", "suspended");
    char *tok = NULL;
    assert_int_equal(pb_jws_sign(k, claims, &tok, NULL), 0);
    json_t *jwks = jwks_of(k), *got = NULL;
    pb_err e;

    /* A claim changed (free -> enterprise, suspended -> active). */
    char *p = b64j("{\"paybill\":{\"plan\":\"enterprise\",\"status\":\"active\"},\"sub\":\"acme\"}");
    char *bad = with_part(tok, 1, p);
    assert_int_equal(pb_jws_verify(bad, jwks, &got, NULL, &e), PB_EINVAL);
    assert_null(got);
    assert_non_null(strstr(e.msg, "signature"));
    free(bad);
    free(p);

    /* One signature character changed. */
    char *t2 = strdup(tok);
    char *last = t2 + strlen(t2) - 5;
    *last = *last == 'A' ? 'B' : 'A';
    assert_int_equal(pb_jws_verify(t2, jwks, &got, NULL, NULL), PB_EINVAL);
    free(t2);

    /* alg none, and HS256 keyed with the public key (algorithm confusion). */
    char hdr[256];
    snprintf(hdr, sizeof hdr, "{\"alg\":\"none\",\"kid\":\"%s\"}", pb_jws_key_kid(k));
    char *h = b64j(hdr);
    bad = with_part(tok, 0, h);
    assert_int_equal(pb_jws_verify(bad, jwks, &got, NULL, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "alg"));
    free(bad);
    free(h);
    snprintf(hdr, sizeof hdr, "{\"alg\":\"HS256\",\"kid\":\"%s\"}", pb_jws_key_kid(k));
    h = b64j(hdr);
    bad = with_part(tok, 0, h);
    assert_int_equal(pb_jws_verify(bad, jwks, &got, NULL, NULL), PB_EINVAL);
    free(bad);
    free(h);
    /* crit is refused (we understand no extension). */
    snprintf(hdr, sizeof hdr, "{\"alg\":\"EdDSA\",\"crit\":[\"exp\"],\"kid\":\"%s\"}", pb_jws_key_kid(k));
    h = b64j(hdr);
    bad = with_part(tok, 0, h);
    assert_int_equal(pb_jws_verify(bad, jwks, &got, NULL, NULL), PB_EINVAL);
    free(bad);
    free(h);

    /* Signed by another key: not in the JWKS -> PB_ENOTFOUND; a JWKS
     * claiming our kid for the other key's x is not a valid JWK. */
    char *tok2 = NULL;
    assert_int_equal(pb_jws_sign(other, claims, &tok2, NULL), 0);
    assert_int_equal(pb_jws_verify(tok2, jwks, &got, NULL, NULL), PB_ENOTFOUND);
    json_t *forged = pb_jws_key_public_jwk(other);
    json_object_set_new(forged, "kid", json_string(pb_jws_key_kid(k)));
    json_t *fjwks = json_pack("{s:[o]}", "keys", forged);
    assert_int_not_equal(pb_jws_verify(tok, fjwks, &got, NULL, NULL), 0);
    json_decref(fjwks);
    free(tok2);

    /* Shape: padding, extra parts, empty signature, not base64url. */
    size_t n = strlen(tok) + 8;
    char *t3 = malloc(n);
    snprintf(t3, n, "%s==", tok);
    assert_int_equal(pb_jws_verify(t3, jwks, &got, NULL, NULL), PB_EINVAL);
    snprintf(t3, n, "%s.x", tok);
    assert_int_equal(pb_jws_verify(t3, jwks, &got, NULL, NULL), PB_EINVAL);
    free(t3);
    bad = with_part(tok, 2, "A");
    assert_int_equal(pb_jws_verify(bad, jwks, &got, NULL, NULL), PB_EINVAL);
    free(bad);
    bad = with_part(tok, 1, "e30+");
    assert_int_equal(pb_jws_verify(bad, jwks, &got, NULL, NULL), PB_EINVAL);
    free(bad);
    assert_int_equal(pb_jws_verify("abc", jwks, &got, NULL, NULL), PB_EINVAL);
    assert_int_equal(pb_jws_verify(tok, NULL, &got, NULL, NULL), PB_ENOTFOUND);
    assert_null(got);

    json_decref(jwks);
    json_decref(claims);
    free(tok);
    pb_jws_key_free(k);
    pb_jws_key_free(other);
}

static void test_bad_keys_refused(void **state)
{
    (void)state;
    pb_jws_key *k = NULL;
    assert_int_equal(pb_jws_key_from_pem("not a pem", &k, NULL), PB_EINVAL);
    assert_null(k);
    /* An EC key is not an Ed25519 key. */
    static const char ec[] = "-----BEGIN PRIVATE KEY-----\n"
                             "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgevZzL1gdAFr88hb2\n"
                             "OF/2NxApJCzGCEDdfSp6VQO30hyhRANCAAQRWz+jn65BtOMvdyHKcvjBeBSDZH2r\n"
                             "1RTwjmYSi9R/zpBnuQ4EiMnCqfMPWiZqB4QdbAd0E7oH50VpuZ1P087G\n"
                             "-----END PRIVATE KEY-----\n";
    pb_err e;
    assert_int_equal(pb_jws_key_from_pem(ec, &k, &e), PB_EINVAL);
    assert_null(k);
    json_t *jwk = json_pack("{s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519", "x", "AAAA");
    assert_int_equal(pb_jws_key_from_jwk(jwk, &k, NULL), PB_EINVAL);
    json_object_set_new(jwk, "x", json_string(RFC_X));
    json_object_set_new(jwk, "d", json_string(RFC_D));
    assert_int_equal(pb_jws_key_from_jwk(jwk, &k, NULL), PB_EINVAL); /* a private JWK is no JWKS entry */
    json_object_del(jwk, "d");
    json_object_set_new(jwk, "crv", json_string("X25519"));
    assert_int_equal(pb_jws_key_from_jwk(jwk, &k, NULL), PB_EINVAL);
    json_decref(jwk);
    assert_null(k);
    pb_jws_key *g = NULL;
    assert_int_equal(pb_jws_key_generate(&g, NULL), 0);
    json_t *claims = json_array();
    char *tok = NULL;
    assert_int_equal(pb_jws_sign(g, claims, &tok, NULL), PB_EINVAL); /* claims must be an object */
    json_decref(claims);
    pb_jws_key_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc8037_vectors),
        cmocka_unit_test(test_sign_verify_roundtrip),
        cmocka_unit_test(test_tampering_fails_closed),
        cmocka_unit_test(test_bad_keys_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
