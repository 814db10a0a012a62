/*
 * secret.h - randomness, encodings and MACs for credentials (OpenSSL).
 *
 * Used for generated tenant database passwords, webhook signatures, tokens
 * and Kubernetes Secret data (standard base64). Everything random comes
 * from OpenSSL's CSPRNG (RAND_bytes); failures are reported, never papered
 * over with a weaker source.
 *
 * Ownership: functions with a `char **out` / `unsigned char **out` return a
 * malloc'd buffer the caller frees (wipe secrets first with pb_secret_wipe).
 * Fixed-size outputs go into caller arrays.
 */
#ifndef PAYBILL_UTIL_SECRET_H
#define PAYBILL_UTIL_SECRET_H

#include <stddef.h>

#include "util/err.h"

#define PB_SHA256_LEN 32
#define PB_SHA256_HEX_LEN 65 /* 64 hex digits + NUL */

/* Characters generated passwords use: RFC 3986 "unreserved", so a password
 * can be pasted into a postgresql:// URI or a libpq keyword string without
 * escaping or quoting. */
#define PB_SECRET_PASSWORD_ALPHABET \
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"

int pb_secret_random_bytes(void *buf, size_t n, pb_err *err);

/* 2*nbytes lowercase hex digits of fresh randomness. */
int pb_secret_token_hex(size_t nbytes, char **out, pb_err *err);
/* nbytes of randomness as unpadded url-safe base64 (cookies, URLs). */
int pb_secret_token_urlsafe(size_t nbytes, char **out, pb_err *err);
/* A password of `len` (>= 8) characters drawn uniformly from
 * PB_SECRET_PASSWORD_ALPHABET. */
int pb_secret_password(size_t len, char **out, pb_err *err);

/* Base64, standard alphabet with '=' padding (Kubernetes Secret data). */
int pb_secret_b64_encode(const void *in, size_t n, char **out, pb_err *err);
/* Strict: rejects whitespace, bad characters, bad length or padding.
 * *out is NUL-terminated for convenience; *outlen excludes that NUL. */
int pb_secret_b64_decode(const char *in, size_t n, unsigned char **out, size_t *outlen,
                         pb_err *err);
/* Base64url ('-' and '_'), encoded without padding; decode accepts both. */
int pb_secret_b64url_encode(const void *in, size_t n, char **out, pb_err *err);
int pb_secret_b64url_decode(const char *in, size_t n, unsigned char **out, size_t *outlen,
                            pb_err *err);

int pb_secret_sha256(const void *data, size_t n, unsigned char out[PB_SHA256_LEN], pb_err *err);
int pb_secret_sha256_hex(const void *data, size_t n, char out[PB_SHA256_HEX_LEN], pb_err *err);
int pb_secret_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                          unsigned char out[PB_SHA256_LEN], pb_err *err);
int pb_secret_hmac_sha256_hex(const void *key, size_t keylen, const void *msg, size_t msglen,
                              char out[PB_SHA256_HEX_LEN], pb_err *err);

/* 1 when equal. Time depends only on the lengths, never on the contents, so
 * comparing a presented signature or token leaks nothing. */
int pb_secret_equal(const void *a, size_t alen, const void *b, size_t blen);

/* Overwrite memory in a way the compiler will not optimise away. */
void pb_secret_wipe(void *p, size_t n);

#endif
