/*
 * billing_api.h - calls from the operator to a billing provider's API
 * (libcurl): Stripe's Billing Meter Events (usage out) and Subscriptions
 * (state fetched back to confirm an event), and a generic signed JSON POST
 * for in-house billing systems.
 *
 * Base URLs must be https://, or http:// on a loopback address only
 * (127.0.0.0/8, [::1], localhost: the tests' fake providers); anything
 * else is refused (pb_bapi_url_check). TLS peers are verified (the system
 * CAs, or ca_file). No redirects are followed.
 *
 * Every call returns 0 when the provider answered (any HTTP status, in
 * *status, body in *body), PB_EUNAVAILABLE when it could not be reached
 * or timed out, another negative code for bad arguments. Ownership: *body
 * is malloc'd (NUL-terminated), the caller frees it.
 */
#ifndef PAYBILL_PROVISION_BILLING_API_H
#define PAYBILL_PROVISION_BILLING_API_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct pb_bapi_opts {
    const char *base_url; /* e.g. "https://api.stripe.com" (no trailing slash needed) */
    const char *ca_file;  /* NULL: the system's CAs */
    long timeout_ms;      /* 0: 10000 */
} pb_bapi_opts;

/* 0 when url may be used (see above), else PB_EINVAL naming why. */
int pb_bapi_url_check(const char *url, pb_err *err);

/* POST {base}/v1/billing/meter_events, form-encoded as Stripe documents:
 * event_name, payload[stripe_customer_id], payload[value], identifier,
 * timestamp; Authorization: Bearer api_key; Idempotency-Key: identifier. */
typedef struct pb_bapi_meter_event {
    const char *event_name, *customer, *identifier;
    long long value;
    int64_t timestamp;
} pb_bapi_meter_event;
int pb_bapi_stripe_meter_event(const pb_bapi_opts *o, const char *api_key, const pb_bapi_meter_event *ev,
                               long *status, char **body, pb_err *err);

/* GET {base}/v1/subscriptions/{id} (id: [A-Za-z0-9_-]{1,255}). *object is
 * the parsed body when the status is 200 and it is a JSON object (new
 * reference), else NULL. */
int pb_bapi_stripe_get_subscription(const pb_bapi_opts *o, const char *api_key, const char *id, long *status,
                                    json_t **object, pb_err *err);

/* POST url with a JSON body and extra headers ("Name: value", NULL
 * terminated). */
int pb_bapi_post_json(const pb_bapi_opts *o, const char *url, const char *json_body, const char *const *headers,
                      long *status, char **body, pb_err *err);

/* Form-encode one key=value pair onto *buf (appending '&' when not
 * empty); *buf is malloc'd / realloc'd. 0 or PB_ENOMEM. Exposed for tests. */
int pb_bapi_form_add(char **buf, const char *key, const char *value, pb_err *err);

#endif
