/*
 * billing_sig.c - webhook signature schemes of billing providers (see
 * billing_sig.h): Stripe's and a generic HMAC-SHA256 scheme for in-house
 * billing systems. HMAC and the comparisons are OpenSSL's (EVP_MAC,
 * CRYPTO_memcmp).
 */
#include "server/billing_sig.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "util/secret.h"

#define HDR_MAX 2048
#define STRIPE_HEADER "Stripe-Signature"
#define HMAC_TS_HEADER "Paybill-Webhook-Timestamp"
#define HMAC_SIG_HEADER "Paybill-Webhook-Signature"

static EVP_MAC *g_hmac;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void fetch_hmac(void) { g_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL); }

/* HMAC-SHA256(key, "<t>." body) without copying the body. */
static int mac_ts_body(const pb_bsig_key *key, int64_t t, const char *body, size_t len,
                       unsigned char out[PB_SHA256_LEN], pb_err *err)
{
    pthread_once(&g_once, fetch_hmac);
    if (!g_hmac)
        return pb_err_set(err, PB_EINTERNAL, "OpenSSL: HMAC not available");
    char prefix[32];
    int pn = snprintf(prefix, sizeof prefix, "%" PRId64 ".", t);
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(g_hmac);
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    size_t outl = 0;
    int ok = ctx && EVP_MAC_init(ctx, key->data, key->len, params) &&
             EVP_MAC_update(ctx, (const unsigned char *)prefix, (size_t)pn) &&
             (len == 0 || EVP_MAC_update(ctx, (const unsigned char *)body, len)) &&
             EVP_MAC_final(ctx, out, &outl, PB_SHA256_LEN) && outl == PB_SHA256_LEN;
    EVP_MAC_CTX_free(ctx);
    return ok ? 0 : pb_err_set(err, PB_EINTERNAL, "OpenSSL: HMAC-SHA256 failed");
}

/* A plain non-negative decimal (no sign, no spaces, at most 18 digits). */
static int parse_ts(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 18)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Exactly 64 hex digits (either case, as Go's hex.DecodeString) -> 32 bytes. */
static int hex32(const char *s, size_t n, unsigned char out[PB_SHA256_LEN])
{
    if (n != 2 * PB_SHA256_LEN)
        return -1;
    for (size_t i = 0; i < PB_SHA256_LEN; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

static int refuse(pb_bsig_reason *reason, pb_bsig_reason r, pb_err *err, const char *msg)
{
    *reason = r;
    int code = r == PB_BSIG_NO_SECRET ? PB_EUNAVAILABLE
               : (r == PB_BSIG_MISSING_HEADER || r == PB_BSIG_MALFORMED_HEADER) ? PB_EINVAL
                                                                               : PB_EUNAUTHORIZED;
    return pb_err_set(err, code, "%s", msg);
}

static int keys_usable(const pb_bsig_input *in)
{
    if (in->nkeys == 0 || !in->keys)
        return 0;
    for (size_t i = 0; i < in->nkeys; i++)
        if (!in->keys[i].data || in->keys[i].len == 0)
            return 0;
    return 1;
}

/* Check the timestamp, then compare every presented signature with the
 * MAC under every key; constant time in which pair matches. */
static int check(const pb_bsig_input *in, int64_t t, unsigned char sigs[][PB_SHA256_LEN], size_t nsigs,
                 pb_bsig_reason *reason, pb_err *err)
{
    int64_t tol = in->tolerance_s > 0 ? in->tolerance_s : PB_BSIG_DEFAULT_TOLERANCE_S;
    int64_t d = in->now - t;
    if (d > tol || d < -tol) {
        char msg[128];
        snprintf(msg, sizeof msg, "timestamp %" PRId64 " is %" PRId64 " s from now (tolerance %" PRId64 " s)",
                 t, d, tol);
        return refuse(reason, PB_BSIG_OUTSIDE_TOLERANCE, err, msg);
    }
    int match = 0;
    for (size_t k = 0; k < in->nkeys; k++) {
        unsigned char mac[PB_SHA256_LEN];
        int rc = mac_ts_body(&in->keys[k], t, in->body, in->body_len, mac, err);
        if (rc != 0)
            return rc;
        for (size_t s = 0; s < nsigs; s++)
            match |= CRYPTO_memcmp(mac, sigs[s], PB_SHA256_LEN) == 0;
        pb_secret_wipe(mac, sizeof mac);
    }
    if (!match)
        return refuse(reason, PB_BSIG_MISMATCH, err, "no signature matches any configured secret");
    *reason = PB_BSIG_OK;
    return 0;
}

int pb_bsig_verify_stripe(const pb_bsig_input *in, int64_t *timestamp, pb_bsig_reason *reason,
                          pb_err *err)
{
    if (!keys_usable(in))
        return refuse(reason, PB_BSIG_NO_SECRET, err, "no webhook secret configured");
    char h[HDR_MAX];
    int hl = in->header(in->header_ud, STRIPE_HEADER, h, sizeof h);
    if (hl <= 0)
        return refuse(reason, PB_BSIG_MISSING_HEADER, err, "no Stripe-Signature header");
    unsigned char sigs[PB_BSIG_MAX_SIGS][PB_SHA256_LEN];
    size_t nsigs = 0;
    int64_t t = 0;
    int have_t = 0, nv1 = 0;
    /* Comma-separated key=value pairs, exactly one '=' each, as stripe-go. */
    for (const char *p = h; p <= h + hl;) {
        const char *end = memchr(p, ',', (size_t)(h + hl - p));
        if (!end)
            end = h + hl;
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (!eq || memchr(eq + 1, '=', (size_t)(end - eq - 1)))
            return refuse(reason, PB_BSIG_MALFORMED_HEADER, err, "Stripe-Signature: expected key=value pairs");
        size_t kl = (size_t)(eq - p), vl = (size_t)(end - eq - 1);
        if (kl == 1 && p[0] == 't') {
            if (have_t || parse_ts(eq + 1, vl, &t) != 0)
                return refuse(reason, PB_BSIG_MALFORMED_HEADER, err,
                              have_t ? "Stripe-Signature: more than one t" : "Stripe-Signature: t is not a unix time");
            have_t = 1;
        } else if (kl == 2 && p[0] == 'v' && p[1] == '1') {
            nv1++;
            if (nsigs == PB_BSIG_MAX_SIGS)
                return refuse(reason, PB_BSIG_MALFORMED_HEADER, err, "Stripe-Signature: too many signatures");
            if (hex32(eq + 1, vl, sigs[nsigs]) == 0) /* other lengths cannot match: skipped */
                nsigs++;
        }
        p = end + 1;
    }
    if (!have_t)
        return refuse(reason, PB_BSIG_MALFORMED_HEADER, err, "Stripe-Signature: no timestamp (t)");
    if (nv1 == 0)
        return refuse(reason, PB_BSIG_MALFORMED_HEADER, err, "Stripe-Signature: no v1 signature");
    int rc = check(in, t, sigs, nsigs, reason, err);
    if (rc == 0 && timestamp)
        *timestamp = t;
    return rc;
}

int pb_bsig_verify_hmac(const pb_bsig_input *in, int64_t *timestamp, pb_bsig_reason *reason,
                        pb_err *err)
{
    if (!keys_usable(in))
        return refuse(reason, PB_BSIG_NO_SECRET, err, "no webhook secret configured");
    char th[64], h[HDR_MAX];
    int tl = in->header(in->header_ud, HMAC_TS_HEADER, th, sizeof th);
    int hl = in->header(in->header_ud, HMAC_SIG_HEADER, h, sizeof h);
    if (tl <= 0 || hl <= 0)
        return refuse(reason, PB_BSIG_MISSING_HEADER, err,
                      tl <= 0 ? "no " HMAC_TS_HEADER " header" : "no " HMAC_SIG_HEADER " header");
    int64_t t;
    if (parse_ts(th, (size_t)tl, &t) != 0)
        return refuse(reason, PB_BSIG_MALFORMED_HEADER, err, HMAC_TS_HEADER ": not a unix time");
    unsigned char sigs[PB_BSIG_MAX_SIGS][PB_SHA256_LEN];
    size_t nsigs = 0;
    for (const char *p = h; p < h + hl;) {
        const char *end = memchr(p, ' ', (size_t)(h + hl - p));
        if (!end)
            end = h + hl;
        size_t n = (size_t)(end - p);
        if (n > 0) {
            if (n < 3 || memcmp(p, "v1=", 3) != 0)
                return refuse(reason, PB_BSIG_MALFORMED_HEADER, err, HMAC_SIG_HEADER ": expected v1=<base64>");
            if (nsigs == PB_BSIG_MAX_SIGS)
                return refuse(reason, PB_BSIG_MALFORMED_HEADER, err, HMAC_SIG_HEADER ": too many signatures");
            unsigned char *raw = NULL;
            size_t rl = 0;
            pb_err ignore;
            if (pb_secret_b64_decode(p + 3, n - 3, &raw, &rl, &ignore) != 0 || rl != PB_SHA256_LEN) {
                free(raw);
                return refuse(reason, PB_BSIG_MALFORMED_HEADER, err,
                              HMAC_SIG_HEADER ": a signature is not base64 of 32 bytes");
            }
            memcpy(sigs[nsigs++], raw, PB_SHA256_LEN);
            free(raw);
        }
        p = end + 1;
    }
    if (nsigs == 0)
        return refuse(reason, PB_BSIG_MALFORMED_HEADER, err, HMAC_SIG_HEADER ": no signature");
    int rc = check(in, t, sigs, nsigs, reason, err);
    if (rc == 0 && timestamp)
        *timestamp = t;
    return rc;
}

static const pb_bsig_scheme schemes[] = {
    {"stripe", pb_bsig_verify_stripe},
    {"hmac-sha256", pb_bsig_verify_hmac},
};

const pb_bsig_scheme *pb_bsig_scheme_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof schemes / sizeof schemes[0]; i++)
        if (strcmp(schemes[i].name, name) == 0)
            return &schemes[i];
    return NULL;
}

int pb_bsig_sign(const char *scheme, const pb_bsig_key *key, int64_t t, const char *body,
                 size_t body_len, char **out, pb_err *err)
{
    *out = NULL;
    unsigned char mac[PB_SHA256_LEN];
    int rc = mac_ts_body(key, t, body, body_len, mac, err);
    if (rc != 0)
        return rc;
    if (scheme && strcmp(scheme, "stripe") == 0) {
        char *s = malloc(32 + 2 * PB_SHA256_LEN + 8);
        if (!s)
            return pb_err_oom(err);
        int n = snprintf(s, 32, "t=%" PRId64 ",v1=", t);
        for (size_t i = 0; i < PB_SHA256_LEN; i++)
            n += snprintf(s + n, 3, "%02x", mac[i]);
        *out = s;
        return 0;
    }
    if (scheme && strcmp(scheme, "hmac-sha256") == 0) {
        char *b64 = NULL;
        if ((rc = pb_secret_b64_encode(mac, sizeof mac, &b64, err)) != 0)
            return rc;
        size_t n = strlen(b64) + 4;
        char *s = malloc(n);
        if (!s) {
            free(b64);
            return pb_err_oom(err);
        }
        snprintf(s, n, "v1=%s", b64);
        free(b64);
        *out = s;
        return 0;
    }
    return pb_err_set(err, PB_EINVAL, "unknown signature scheme \"%s\"", scheme ? scheme : "");
}

int pb_bsig_reason_status(pb_bsig_reason r)
{
    switch (r) {
    case PB_BSIG_OK: return 200;
    case PB_BSIG_NO_SECRET: return 503;
    case PB_BSIG_MISSING_HEADER:
    case PB_BSIG_MALFORMED_HEADER: return 400;
    case PB_BSIG_OUTSIDE_TOLERANCE:
    case PB_BSIG_MISMATCH: return 401;
    }
    return 400;
}

const char *pb_bsig_reason_name(pb_bsig_reason r)
{
    switch (r) {
    case PB_BSIG_OK: return "Verified";
    case PB_BSIG_NO_SECRET: return "NoSecret";
    case PB_BSIG_MISSING_HEADER: return "MissingSignature";
    case PB_BSIG_MALFORMED_HEADER: return "MalformedSignature";
    case PB_BSIG_OUTSIDE_TOLERANCE: return "TimestampOutsideTolerance";
    case PB_BSIG_MISMATCH: return "SignatureMismatch";
    }
    return "Unknown";
}
