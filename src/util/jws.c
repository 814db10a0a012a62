/*
 * jws.c - Ed25519 JWKs and compact EdDSA JWS on OpenSSL (see jws.h).
 */
#include "util/jws.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/secret.h"

#define ED25519_LEN 32
#define ED25519_SIG_LEN 64

struct pb_jws_key {
    EVP_PKEY *pkey;
    int priv;
    char kid[PB_JWS_KID_MAX];
    char x[64]; /* base64url public key */
};

static int openssl_fail(pb_err *err, const char *what)
{
    return pb_err_set(err, PB_EINVAL, "%s: OpenSSL refused it", what);
}

/* Fill kid and x from the public half. */
static int key_finish(pb_jws_key *k, pb_err *err)
{
    unsigned char pub[ED25519_LEN];
    size_t n = sizeof pub;
    if (EVP_PKEY_get_raw_public_key(k->pkey, pub, &n) != 1 || n != ED25519_LEN)
        return openssl_fail(err, "Ed25519 public key");
    char *x = NULL;
    int rc = pb_secret_b64url_encode(pub, n, &x, err);
    if (rc != 0)
        return rc;
    snprintf(k->x, sizeof k->x, "%s", x);
    free(x);
    /* RFC 7638: the required members, sorted, no whitespace. */
    char canon[128];
    int len = snprintf(canon, sizeof canon, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", k->x);
    unsigned char digest[PB_SHA256_LEN];
    char *kid = NULL;
    if ((rc = pb_secret_sha256(canon, (size_t)len, digest, err)) != 0 ||
        (rc = pb_secret_b64url_encode(digest, sizeof digest, &kid, err)) != 0)
        return rc;
    snprintf(k->kid, sizeof k->kid, "%s", kid);
    free(kid);
    return 0;
}

static int key_wrap(EVP_PKEY *pkey, int priv, pb_jws_key **out, pb_err *err)
{
    *out = NULL;
    pb_jws_key *k = calloc(1, sizeof *k);
    if (!k) {
        EVP_PKEY_free(pkey);
        return pb_err_oom(err);
    }
    k->pkey = pkey;
    k->priv = priv;
    int rc = key_finish(k, err);
    if (rc != 0) {
        pb_jws_key_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

int pb_jws_key_generate(pb_jws_key **out, pb_err *err)
{
    *out = NULL;
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    int ok = ctx && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_keygen(ctx, &pkey) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok) {
        EVP_PKEY_free(pkey);
        return pb_err_set(err, PB_EINTERNAL, "generating an Ed25519 key failed");
    }
    return key_wrap(pkey, 1, out, err);
}

int pb_jws_key_from_pem(const char *pem, pb_jws_key **out, pb_err *err)
{
    *out = NULL;
    if (!pem)
        return pb_err_set(err, PB_EINVAL, "no private key");
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pkey = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (!pkey)
        return pb_err_set(err, PB_EINVAL, "private key: not a PEM private key");
    if (EVP_PKEY_id(pkey) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(pkey);
        return pb_err_set(err, PB_EINVAL, "private key: not an Ed25519 key");
    }
    return key_wrap(pkey, 1, out, err);
}

int pb_jws_key_from_raw(const unsigned char d[32], pb_jws_key **out, pb_err *err)
{
    *out = NULL;
    EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, d, ED25519_LEN);
    if (!pkey)
        return openssl_fail(err, "Ed25519 private key");
    return key_wrap(pkey, 1, out, err);
}

int pb_jws_key_from_jwk(const json_t *jwk, pb_jws_key **out, pb_err *err)
{
    *out = NULL;
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    const char *x = json_string_value(json_object_get(jwk, "x"));
    const char *kid = json_string_value(json_object_get(jwk, "kid"));
    if (!kty || strcmp(kty, "OKP") != 0 || !crv || strcmp(crv, "Ed25519") != 0 || !x)
        return pb_err_set(err, PB_EINVAL, "JWK: not an Ed25519 (OKP) public key");
    if (json_object_get(jwk, "d"))
        return pb_err_set(err, PB_EINVAL, "JWK: carries a private key (d)");
    unsigned char *raw = NULL;
    size_t n = 0;
    if (strchr(x, '=') || pb_secret_b64url_decode(x, strlen(x), &raw, &n, NULL) != 0 ||
        n != ED25519_LEN) {
        free(raw);
        return pb_err_set(err, PB_EINVAL, "JWK: x is not 32 bytes of base64url");
    }
    EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, n);
    free(raw);
    if (!pkey)
        return openssl_fail(err, "JWK public key");
    int rc = key_wrap(pkey, 0, out, err);
    if (rc == 0 && kid && strcmp(kid, (*out)->kid) != 0) {
        pb_jws_key_free(*out);
        *out = NULL;
        return pb_err_set(err, PB_EINVAL, "JWK: kid \"%.64s\" is not the key's thumbprint", kid);
    }
    return rc;
}

void pb_jws_key_free(pb_jws_key *k)
{
    if (!k)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

int pb_jws_key_can_sign(const pb_jws_key *k) { return k && k->priv; }

const char *pb_jws_key_kid(const pb_jws_key *k) { return k->kid; }

int pb_jws_key_private_pem(const pb_jws_key *k, char **out, pb_err *err)
{
    *out = NULL;
    if (!pb_jws_key_can_sign(k))
        return pb_err_set(err, PB_EINVAL, "key has no private half");
    BIO *b = BIO_new(BIO_s_mem());
    if (!b || PEM_write_bio_PrivateKey(b, k->pkey, NULL, NULL, 0, NULL, NULL) != 1) {
        BIO_free(b);
        return openssl_fail(err, "writing the private key");
    }
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    char *s = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (s) {
        memcpy(s, data, (size_t)n);
        s[n] = '\0';
    }
    /* The BIO's buffer held the key too. */
    if (n > 0)
        pb_secret_wipe(data, (size_t)n);
    BIO_free(b);
    if (!s)
        return pb_err_oom(err);
    *out = s;
    return 0;
}

json_t *pb_jws_key_public_jwk(const pb_jws_key *k)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519", "x", k->x,
                     "kid", k->kid, "alg", PB_JWS_ALG, "use", "sig");
}

int pb_jws_sign_input(const pb_jws_key *k, const char *input, size_t n, char **sig_b64url,
                      pb_err *err)
{
    *sig_b64url = NULL;
    if (!pb_jws_key_can_sign(k))
        return pb_err_set(err, PB_EINVAL, "key has no private half");
    unsigned char sig[ED25519_SIG_LEN];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
             EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)input, n) == 1 &&
             siglen == ED25519_SIG_LEN;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return pb_err_set(err, PB_EINTERNAL, "Ed25519 signing failed");
    return pb_secret_b64url_encode(sig, siglen, sig_b64url, err);
}

/* base64url of a JSON value's canonical text. */
static int b64_json(const json_t *v, char **out, pb_err *err)
{
    char *text = pb_json_dumps_canonical(v);
    if (!text)
        return pb_err_oom(err);
    int rc = pb_secret_b64url_encode(text, strlen(text), out, err);
    free(text);
    return rc;
}

int pb_jws_sign(const pb_jws_key *k, const json_t *claims, char **out, pb_err *err)
{
    *out = NULL;
    if (!json_is_object(claims))
        return pb_err_set(err, PB_EINVAL, "JWT claims must be a JSON object");
    if (!pb_jws_key_can_sign(k))
        return pb_err_set(err, PB_EINVAL, "key has no private half");
    json_t *hdr = json_pack("{s:s, s:s, s:s}", "alg", PB_JWS_ALG, "kid", k->kid, "typ", "JWT");
    char *h = NULL, *p = NULL, *s = NULL;
    int rc = hdr ? 0 : pb_err_oom(err);
    if (rc == 0)
        rc = b64_json(hdr, &h, err);
    if (rc == 0)
        rc = b64_json(claims, &p, err);
    json_decref(hdr);
    char *input = NULL;
    if (rc == 0) {
        size_t n = strlen(h) + 1 + strlen(p);
        input = malloc(n + 1);
        if (!input) {
            rc = pb_err_oom(err);
        } else {
            snprintf(input, n + 1, "%s.%s", h, p);
            rc = pb_jws_sign_input(k, input, n, &s, err);
        }
    }
    if (rc == 0) {
        size_t n = strlen(input) + 1 + strlen(s);
        char *tok = malloc(n + 1);
        if (!tok)
            rc = pb_err_oom(err);
        else {
            snprintf(tok, n + 1, "%s.%s", input, s);
            *out = tok;
        }
    }
    free(h);
    free(p);
    free(s);
    free(input);
    return rc;
}

/* Strict base64url of one token part: no padding, nothing else. */
static int part_decode(const char *s, size_t n, unsigned char **out, size_t *len, const char *what,
                       pb_err *err)
{
    *out = NULL;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return pb_err_set(err, PB_EINVAL, "JWS %s: not base64url", what);
    }
    if (n == 0 || pb_secret_b64url_decode(s, n, out, len, NULL) != 0)
        return pb_err_set(err, PB_EINVAL, "JWS %s: not base64url", what);
    return 0;
}

static int json_part(const char *s, size_t n, const char *what, json_t **out, pb_err *err)
{
    unsigned char *raw = NULL;
    size_t len = 0;
    int rc = part_decode(s, n, &raw, &len, what, err);
    if (rc != 0)
        return rc;
    json_t *v = NULL;
    json_error_t je;
    v = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, &je);
    free(raw);
    if (!json_is_object(v)) {
        json_decref(v);
        return pb_err_set(err, PB_EINVAL, "JWS %s: not a JSON object", what);
    }
    *out = v;
    return 0;
}

int pb_jws_verify(const char *token, const json_t *jwks, json_t **claims, char *kid_out,
                  pb_err *err)
{
    if (claims)
        *claims = NULL;
    if (kid_out)
        kid_out[0] = '\0';
    if (!token)
        return pb_err_set(err, PB_EINVAL, "JWS: no token");
    const char *d1 = strchr(token, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d1 || !d2 || strchr(d2 + 1, '.'))
        return pb_err_set(err, PB_EINVAL, "JWS: not three dot-separated parts");
    json_t *hdr = NULL, *payload = NULL;
    int rc = json_part(token, (size_t)(d1 - token), "header", &hdr, err);
    if (rc != 0)
        return rc;
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    const char *kid = json_string_value(json_object_get(hdr, "kid"));
    pb_jws_key *key = NULL;
    if (!alg || strcmp(alg, PB_JWS_ALG) != 0)
        rc = pb_err_set(err, PB_EINVAL, "JWS header: alg must be %s", PB_JWS_ALG);
    else if (json_object_get(hdr, "crit"))
        rc = pb_err_set(err, PB_EINVAL, "JWS header: crit is not supported");
    else if (!kid || !*kid || strlen(kid) >= PB_JWS_KID_MAX)
        rc = pb_err_set(err, PB_EINVAL, "JWS header: no usable kid");
    if (rc == 0) {
        rc = pb_err_set(err, PB_ENOTFOUND, "JWS: no key with kid \"%s\" in the JWKS", kid);
        size_t i;
        json_t *jwk;
        json_array_foreach(json_object_get(jwks, "keys"), i, jwk) {
            const char *k = json_string_value(json_object_get(jwk, "kid"));
            if (!k || strcmp(k, kid) != 0)
                continue;
            pb_err_clear(err);
            rc = pb_jws_key_from_jwk(jwk, &key, err);
            break;
        }
    }
    unsigned char *sig = NULL;
    size_t siglen = 0;
    if (rc == 0)
        rc = part_decode(d2 + 1, strlen(d2 + 1), &sig, &siglen, "signature", err);
    if (rc == 0 && siglen != ED25519_SIG_LEN)
        rc = pb_err_set(err, PB_EINVAL, "JWS signature: %zu bytes, Ed25519 has 64", siglen);
    if (rc == 0) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key->pkey) == 1 &&
                 EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)token,
                                  (size_t)(d2 - token)) == 1;
        EVP_MD_CTX_free(ctx);
        if (!ok)
            rc = pb_err_set(err, PB_EINVAL, "JWS: signature does not verify");
    }
    if (rc == 0)
        rc = json_part(d1 + 1, (size_t)(d2 - d1 - 1), "payload", &payload, err);
    if (rc == 0) {
        if (kid_out)
            snprintf(kid_out, PB_JWS_KID_MAX, "%s", kid);
        if (claims)
            *claims = payload;
        else
            json_decref(payload);
    }
    free(sig);
    pb_jws_key_free(key);
    json_decref(hdr);
    return rc;
}
