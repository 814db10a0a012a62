/*
 * billing_sig.h - signature verification of billing-provider webhooks,
 * one pluggable scheme per provider kind. Pure functions, no I/O: the
 * endpoint (controllers/billing_webhook.c) passes the raw body, a header
 * getter, the live secrets and the clock.
 *
 * Schemes (pb_bsig_scheme_find by name):
 *
 *   "stripe"   Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...][,v0=...]
 *              HMAC-SHA256(secret, "<t>.<raw body>") must equal one of the
 *              v1 values under one of the secrets (any v1 may match while a
 *              secret is rolled; other schemes such as v0 are ignored, as
 *              Stripe's libraries do). Refused: no header, no t, a t that
 *              is not a plain integer, no v1, a timestamp more than
 *              `tolerance` seconds from now in either direction (stripe-go
 *              only checks the past; a future one is refused here too).
 *   "hmac-sha256"  the generic scheme for in-house billing systems:
 *              Paybill-Webhook-Timestamp: <unix>
 *              Paybill-Webhook-Signature: v1=<base64 HMAC-SHA256(secret,
 *              "<timestamp>.<raw body>")>[ v1=<...>]   (space separated)
 *              Same tolerance and several-signatures rules.
 *
 * Every comparison is on raw MAC bytes with CRYPTO_memcmp, over every
 * (signature, secret) pair without stopping early, so the time taken does
 * not depend on which byte differs or which secret matched. Fail closed:
 * no secrets configured, an empty secret, or any parse doubt is a refusal.
 *
 * Ownership: nothing is kept; inputs are borrowed for the call.
 */
#ifndef PAYBILL_SERVER_BILLING_SIG_H
#define PAYBILL_SERVER_BILLING_SIG_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define PB_BSIG_DEFAULT_TOLERANCE_S 300
#define PB_BSIG_MAX_SIGS 8 /* signatures per header looked at; more: refused */

/* Why a delivery was refused; each maps to an HTTP status and a metric
 * label (pb_bsig_reason_name). */
typedef enum pb_bsig_reason {
    PB_BSIG_OK = 0,
    PB_BSIG_NO_SECRET,        /* nothing configured: 503 (fail closed) */
    PB_BSIG_MISSING_HEADER,   /* 400 */
    PB_BSIG_MALFORMED_HEADER, /* 400 */
    PB_BSIG_OUTSIDE_TOLERANCE,/* 401 */
    PB_BSIG_MISMATCH,         /* 401 */
} pb_bsig_reason;

/* A live secret (raw bytes as configured; Stripe's whsec_... string is
 * used as-is, as Stripe's libraries do). */
typedef struct pb_bsig_key {
    const unsigned char *data;
    size_t len;
} pb_bsig_key;

/* Copies header `name` into buf, returns its length or -1 when absent or
 * too long (pb_http_request_header has this shape). */
typedef int (*pb_bsig_header_fn)(const void *ud, const char *name, char *buf, size_t n);

typedef struct pb_bsig_input {
    const char *body;          /* raw bytes as received */
    size_t body_len;
    pb_bsig_header_fn header;
    const void *header_ud;
    const pb_bsig_key *keys;
    size_t nkeys;
    int64_t now;               /* unix seconds */
    int64_t tolerance_s;       /* <= 0: PB_BSIG_DEFAULT_TOLERANCE_S */
} pb_bsig_input;

typedef struct pb_bsig_scheme {
    const char *name;
    /* 0 when a signature matches (*timestamp = the signed time); else
     * PB_EUNAUTHORIZED (or PB_EINVAL for a malformed/missing header,
     * PB_EUNAVAILABLE when no secret is configured) with *reason set and
     * err saying why. */
    int (*verify)(const pb_bsig_input *in, int64_t *timestamp, pb_bsig_reason *reason, pb_err *err);
} pb_bsig_scheme;

/* The scheme called `name`, or NULL. Static storage. */
const pb_bsig_scheme *pb_bsig_scheme_find(const char *name);

int pb_bsig_verify_stripe(const pb_bsig_input *in, int64_t *timestamp, pb_bsig_reason *reason,
                          pb_err *err);
int pb_bsig_verify_hmac(const pb_bsig_input *in, int64_t *timestamp, pb_bsig_reason *reason,
                        pb_err *err);

/* The signature header value for a body (tests, benchmarks, and the
 * in-house scheme's documentation by example): Stripe "t=..,v1=.." or, for
 * hmac-sha256, the Paybill-Webhook-Signature value (the timestamp header
 * is the decimal t). malloc'd, caller frees. */
int pb_bsig_sign(const char *scheme, const pb_bsig_key *key, int64_t t, const char *body,
                 size_t body_len, char **out, pb_err *err);

/* HTTP status for a reason (200 for OK) and a CamelCase name. */
int pb_bsig_reason_status(pb_bsig_reason r);
const char *pb_bsig_reason_name(pb_bsig_reason r);

#endif
