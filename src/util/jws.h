/*
 * jws.h - Ed25519 keys as JWKs, and compact JWS (RFC 7515) signed with
 * EdDSA (RFC 8037): what Paybill licences are made of.
 *
 * OpenSSL does the cryptography (EVP, Ed25519); this module only adds the
 * encodings: base64url, the JOSE header, the JWK of a public key and its
 * RFC 7638 thumbprint, which is the key id ("kid").
 *
 * Verification fails closed: the header must be a JSON object with
 * "alg":"EdDSA" exactly (no "none", no HMAC, no other algorithm), a "kid"
 * naming an Ed25519 key of the given JWKS, no "crit"; the token has exactly
 * three base64url parts without padding; the signature is 64 bytes and
 * verifies over the first two parts as sent; the payload is a JSON object.
 * Time claims (exp, nbf) are the relying application's to check: the
 * operator checks them itself in licencespec.
 *
 * Ownership: a pb_jws_key is owned by whoever made it and freed with
 * pb_jws_key_free; strings returned through `char **out` are malloc'd and
 * the caller frees them (private key PEM: pb_secret_wipe first); JSON
 * values returned are new references.
 */
#ifndef PAYBILL_UTIL_JWS_H
#define PAYBILL_UTIL_JWS_H

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

#define PB_JWS_ALG "EdDSA"
#define PB_JWS_KID_MAX 64 /* a thumbprint is 43 characters */

typedef struct pb_jws_key pb_jws_key;

/* A new Ed25519 key pair from OpenSSL's CSPRNG. */
int pb_jws_key_generate(pb_jws_key **out, pb_err *err);
/* A private key from PKCS#8 PEM (what pb_jws_key_private_pem writes);
 * anything but an Ed25519 private key is PB_EINVAL. */
int pb_jws_key_from_pem(const char *pem, pb_jws_key **out, pb_err *err);
/* A private key from its 32 raw bytes (RFC 8037 "d"; tests, vectors). */
int pb_jws_key_from_raw(const unsigned char d[32], pb_jws_key **out, pb_err *err);
/* A public key from a JWK object: kty "OKP", crv "Ed25519", x (32 bytes);
 * when the JWK carries a kid it must equal the thumbprint. */
int pb_jws_key_from_jwk(const json_t *jwk, pb_jws_key **out, pb_err *err);
void pb_jws_key_free(pb_jws_key *k);

/* 1 when k holds a private key (can sign). */
int pb_jws_key_can_sign(const pb_jws_key *k);
/* The RFC 7638 thumbprint (base64url SHA-256), borrowed from k. */
const char *pb_jws_key_kid(const pb_jws_key *k);
/* PKCS#8 PEM of the private key. */
int pb_jws_key_private_pem(const pb_jws_key *k, char **out, pb_err *err);
/* The public JWK {kty, crv, x, kid, alg, use}: a new object, NULL when out
 * of memory. */
json_t *pb_jws_key_public_jwk(const pb_jws_key *k);

/* base64url(signature) of `input` (the JWS signing input). */
int pb_jws_sign_input(const pb_jws_key *k, const char *input, size_t n, char **sig_b64url,
                      pb_err *err);

/* Compact JWS of `claims` (a JSON object, serialised canonically) with the
 * header {"alg":"EdDSA","kid":<kid>,"typ":"JWT"}. */
int pb_jws_sign(const pb_jws_key *k, const json_t *claims, char **out, pb_err *err);

/* Verify `token` against the keys of `jwks` ({"keys":[JWK...]}). On
 * success *claims (may be NULL) receives the payload object and kid (may
 * be NULL, PB_JWS_KID_MAX bytes) the key id that verified it. Every
 * failure is PB_EINVAL (PB_ENOTFOUND when no key has the token's kid) with
 * the reason; nothing is returned then. */
int pb_jws_verify(const char *token, const json_t *jwks, json_t **claims, char *kid,
                  pb_err *err);

#endif
