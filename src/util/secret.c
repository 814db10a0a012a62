/*
 * secret.c - CSPRNG tokens, base64, SHA-256 and HMAC via OpenSSL (see secret.h).
 */
#include "util/secret.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* RAND_bytes takes an int length. */
#define MAX_RANDOM (1u << 20)

int pb_secret_random_bytes(void *buf, size_t n, pb_err *err)
{
    if (n > MAX_RANDOM)
        return pb_err_set(err, PB_EINVAL, "random request of %zu bytes is too large", n);
    if (n && RAND_bytes(buf, (int)n) != 1)
        return pb_err_set(err, PB_EINTERNAL, "RAND_bytes failed: no secure randomness");
    return 0;
}

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Fill a temporary buffer with randomness and hand it to `encode`. */
static int random_encoded(size_t nbytes, char **out, pb_err *err, int hex)
{
    if (nbytes == 0 || nbytes > MAX_RANDOM)
        return pb_err_set(err, PB_EINVAL, "token size %zu out of range", nbytes);
    unsigned char *raw = malloc(nbytes);
    if (!raw)
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    int rc = pb_secret_random_bytes(raw, nbytes, err);
    if (!rc && hex) {
        *out = malloc(2 * nbytes + 1);
        if (*out)
            to_hex(raw, nbytes, *out);
        else
            rc = pb_err_set(err, PB_ENOMEM, "out of memory");
    } else if (!rc) {
        rc = pb_secret_b64url_encode(raw, nbytes, out, err);
    }
    pb_secret_wipe(raw, nbytes);
    free(raw);
    return rc;
}

int pb_secret_token_hex(size_t nbytes, char **out, pb_err *err)
{
    return random_encoded(nbytes, out, err, 1);
}

int pb_secret_token_urlsafe(size_t nbytes, char **out, pb_err *err)
{
    return random_encoded(nbytes, out, err, 0);
}

int pb_secret_password(size_t len, char **out, pb_err *err)
{
    static const char alphabet[] = PB_SECRET_PASSWORD_ALPHABET;
    const size_t k = sizeof alphabet - 1; /* 66 */
    /* Reject bytes >= the largest multiple of k so every symbol is equally
     * likely (no modulo bias). */
    const unsigned limit = 256 - 256 % k;
    if (len < 8 || len > 4096)
        return pb_err_set(err, PB_EINVAL, "password length %zu out of range [8, 4096]", len);
    char *pw = malloc(len + 1);
    if (!pw)
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    unsigned char pool[64];
    size_t have = 0, used = 0;
    for (size_t i = 0; i < len;) {
        if (used == have) {
            int rc = pb_secret_random_bytes(pool, sizeof pool, err);
            if (rc) {
                pb_secret_wipe(pw, len);
                free(pw);
                return rc;
            }
            have = sizeof pool;
            used = 0;
        }
        unsigned char b = pool[used++];
        if (b < limit)
            pw[i++] = alphabet[b % k];
    }
    pw[len] = '\0';
    pb_secret_wipe(pool, sizeof pool);
    *out = pw;
    return 0;
}

/* ---- base64 ------------------------------------------------------------------ */

int pb_secret_b64_encode(const void *in, size_t n, char **out, pb_err *err)
{
    if (n > (size_t)(INT32_MAX / 4 * 3))
        return pb_err_set(err, PB_ETOOLARGE, "base64 input too large");
    char *s = malloc(4 * ((n + 2) / 3) + 1);
    if (!s)
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    EVP_EncodeBlock((unsigned char *)s, in, (int)n); /* NUL-terminates */
    *out = s;
    return 0;
}

static int b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

int pb_secret_b64_decode(const char *in, size_t n, unsigned char **out, size_t *outlen,
                         pb_err *err)
{
    /* EVP_DecodeBlock skips surrounding whitespace and does not report
     * padding; validate first so the result is exact. */
    if (n % 4 != 0)
        return pb_err_set(err, PB_EINVAL, "invalid base64: length %zu is not a multiple of 4", n);
    if (n > (size_t)INT32_MAX)
        return pb_err_set(err, PB_ETOOLARGE, "base64 input too large");
    size_t pad = 0;
    if (n >= 1 && in[n - 1] == '=')
        pad = (n >= 2 && in[n - 2] == '=') ? 2 : 1;
    for (size_t i = 0; i < n - pad; i++)
        if (!b64_char(in[i]))
            return pb_err_set(err, PB_EINVAL, "invalid base64: bad character at offset %zu", i);
    unsigned char *buf = malloc(n / 4 * 3 + 1);
    if (!buf)
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    int m = n ? EVP_DecodeBlock(buf, (const unsigned char *)in, (int)n) : 0;
    if (m < 0) {
        free(buf);
        return pb_err_set(err, PB_EINVAL, "invalid base64");
    }
    *outlen = (size_t)m - pad;
    buf[*outlen] = '\0';
    *out = buf;
    return 0;
}

int pb_secret_b64url_encode(const void *in, size_t n, char **out, pb_err *err)
{
    int rc = pb_secret_b64_encode(in, n, out, err);
    if (rc)
        return rc;
    char *s = *out;
    size_t len = strlen(s);
    while (len && s[len - 1] == '=')
        s[--len] = '\0';
    for (char *p = s; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return 0;
}

int pb_secret_b64url_decode(const char *in, size_t n, unsigned char **out, size_t *outlen,
                            pb_err *err)
{
    if (n % 4 == 1)
        return pb_err_set(err, PB_EINVAL, "invalid base64url: bad length %zu", n);
    if (n > (size_t)INT32_MAX)
        return pb_err_set(err, PB_ETOOLARGE, "base64 input too large");
    size_t padded = (n + 3) / 4 * 4;
    char *std = malloc(padded + 1);
    if (!std)
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == '+' || c == '/') /* the standard alphabet is not url-safe input */
            c = '!';
        std[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    for (size_t i = n; i < padded; i++)
        std[i] = '=';
    int rc = pb_secret_b64_decode(std, padded, out, outlen, err);
    free(std);
    if (rc)
        pb_err_set(err, rc, "invalid base64url");
    return rc;
}

/* ---- digests -------------------------------------------------------------------- */

int pb_secret_sha256(const void *data, size_t n, unsigned char out[PB_SHA256_LEN], pb_err *err)
{
    if (EVP_Digest(data, n, out, NULL, EVP_sha256(), NULL) != 1)
        return pb_err_set(err, PB_EINTERNAL, "SHA-256 failed");
    return 0;
}

int pb_secret_sha256_hex(const void *data, size_t n, char out[PB_SHA256_HEX_LEN], pb_err *err)
{
    unsigned char md[PB_SHA256_LEN];
    int rc = pb_secret_sha256(data, n, md, err);
    if (!rc)
        to_hex(md, sizeof md, out);
    return rc;
}

int pb_secret_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                          unsigned char out[PB_SHA256_LEN], pb_err *err)
{
    unsigned int len = 0;
    if (keylen > (size_t)INT32_MAX)
        return pb_err_set(err, PB_EINVAL, "HMAC key too large");
    /* OpenSSL rejects a NULL key even when keylen is 0. */
    static const unsigned char empty[1];
    if (!HMAC(EVP_sha256(), key ? key : empty, (int)keylen, msg ? msg : empty, msglen, out, &len) ||
        len != PB_SHA256_LEN)
        return pb_err_set(err, PB_EINTERNAL, "HMAC-SHA256 failed");
    return 0;
}

int pb_secret_hmac_sha256_hex(const void *key, size_t keylen, const void *msg, size_t msglen,
                              char out[PB_SHA256_HEX_LEN], pb_err *err)
{
    unsigned char mac[PB_SHA256_LEN];
    int rc = pb_secret_hmac_sha256(key, keylen, msg, msglen, mac, err);
    if (!rc)
        to_hex(mac, sizeof mac, out);
    return rc;
}

int pb_secret_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen)
        return 0;
    return alen == 0 || CRYPTO_memcmp(a, b, alen) == 0;
}

void pb_secret_wipe(void *p, size_t n)
{
    if (p && n)
        OPENSSL_cleanse(p, n);
}
