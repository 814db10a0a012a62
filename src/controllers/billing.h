/*
 * billing.h - billing providers into Subscriptions: the signed webhook
 * endpoint POST /webhooks/billing/<provider> on the operator's HTTPS
 * endpoint, the durable inbox behind it, and the applier that turns
 * provider events into Subscription status.
 *
 * Settings (the `billing:` section of --config):
 *
 *   billing:
 *     database: paybill_operator  # the inbox's database on the shared server
 *     retention: 720h             # inbox rows (dedup window) kept this long
 *     maxBodyBytes: 262144        # larger deliveries: 413
 *     providers:
 *       - name: stripe            # URL: /webhooks/billing/stripe
 *         scheme: stripe          # stripe | hmac-sha256 (billing_sig.h)
 *         secretRef: billing-stripe  # Secret in the system namespace; EVERY
 *                                    # data value is a live secret (rotation:
 *                                    # add the new key, later drop the old)
 *         tolerance: 5m           # signature timestamp tolerance
 *
 * A stripe-scheme provider drives Subscriptions whose
 * spec.billing.provider is "stripe"; an hmac-sha256 one those with
 * "external". The event body is Stripe's event shape in both cases
 * ({id, type, created, data: {object: {object: "subscription", id,
 * customer, status, current_period_end, trial_end, metadata}}}).
 *
 * Endpoint, per delivery: 404 unknown provider; 405 not POST; 413 body
 * over the limit; 503 no secret configured or inbox unavailable (the
 * provider retries); 400 missing or malformed signature header, 401 wrong
 * signature or timestamp outside the tolerance; 400 body not a JSON event
 * (id, type, created); else stored in the inbox (committed) and 200
 * {"received":true,"duplicate":bool}. Nothing is applied in the handler.
 *
 * Applier (leader only, caches synced): pending inbox rows oldest event
 * first; the Subscription is the one whose spec.billing.subscriptionId is
 * the object's id, else whose customerId is its customer, else named by
 * its metadata["paybill.dev/subscription"], and whose provider matches.
 * billing_decide() then orders: an event older (by the provider's event
 * time) than the one applied is "stale" and changes nothing; the same
 * event id again is "duplicate"; at the same second a *.created event
 * never overrides a later kind. Applied events write status.billing
 * (status, statusSince - kept while the status stays the same, so a
 * redelivered past_due never restarts the grace period -, event id, type
 * and time, period end, trial end), status.paidThrough when active, and
 * the condition BillingSynced; every outcome is an Event on the
 * Subscription, a log line and a metric. The Subscription reconciler maps
 * status.billing onto the state machine (substate.h) and the Tenant
 * reconciler suspends or resumes; nothing here deletes anything.
 *
 * Ownership: billing_start borrows op and m (they outlive it);
 * billing_config strings are owned by the config.
 */
#ifndef PAYBILL_CONTROLLERS_BILLING_H
#define PAYBILL_CONTROLLERS_BILLING_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "server/http.h"
#include "util/err.h"

struct operator_ctx;
struct manager;

#define BILLING_ROUTE_PREFIX "/webhooks/billing/"
#define BILLING_DEFAULT_MAX_BODY (256u * 1024)
#define BILLING_META_SUBSCRIPTION "paybill.dev/subscription"

typedef struct billing_meter_map {
    char *meter;      /* Paybill's meter (BILLING_METER_* or a counter name) */
    char *event_name; /* the provider's name for it (Stripe: the meter's event_name) */
} billing_meter_map;

typedef enum { BILLING_FETCH_NEVER = 0, BILLING_FETCH_THIN, BILLING_FETCH_SUSPENDING, BILLING_FETCH_ALWAYS } billing_fetch;

typedef struct billing_provider_cfg {
    char *name, *scheme, *secret_name;
    long long tolerance_s;
    /* api: (optional) the provider's API, for usage out and fetch-back. */
    char *api_base;        /* stripe: base URL (https://api.stripe.com) */
    char *usage_url;       /* hmac-sha256: where usage reports are POSTed */
    char *api_secret;      /* Secret (system namespace) holding the key */
    char *api_secret_key;  /* its data key */
    char *api_ca_file;     /* NULL: system CAs */
    long long api_timeout_ms;
    billing_fetch fetch_back;
    billing_meter_map *meters; /* reported meters; none: no usage out */
    size_t nmeters;
} billing_provider_cfg;

typedef struct billing_config {
    int enabled;            /* the section is present */
    char *database;         /* NULL: PB_BINBOX_DEFAULT_DB */
    long long retention_s;
    size_t max_body;
    billing_provider_cfg *providers;
    size_t nproviders;
    /* usage: metering period and the outbox's retry backoff */
    long long usage_period_s;     /* default 24h */
    long long usage_retry_base_s; /* default 10s, doubled per attempt */
    long long usage_retry_max_s;  /* default 10m */
} billing_config;

/* Meters the operator measures itself (see billing_usage.c). Any other
 * meter name is a counter fed by billing_usage_add. */
#define BILLING_METER_TENANT_ACTIVE "tenant_active" /* 1 per period the tenant is Active */
#define BILLING_METER_STORAGE "storage_bytes"       /* schema / database size at the close */
#define BILLING_METER_AGENT_STEPS "agent_steps"     /* steps committed (agent ledger) */
#define BILLING_METER_AGENT_ROWS "agent_rows"       /* rows touched (agent ledger) */
#define BILLING_METER_OBJECTS "namespace_objects"  /* objects in the tenant namespace at the close,
                                                      as its ResourceQuota counts them */

/* section: the `billing:` mapping or NULL (disabled). Unknown keys, an
 * unknown scheme, duplicate names and names that are not [a-z0-9-]+ are
 * errors naming the field. */
int billing_config_parse(const json_t *section, const char *origin, billing_config *out, pb_err *err);
void billing_config_free(billing_config *c);

/* ---- pure: events and ordering ---------------------------------------- */

typedef struct billing_event {
    json_t *root;                  /* owned */
    const char *id, *type;         /* borrowed from root */
    int64_t created;
    const json_t *object;          /* data.object, may be NULL (thin event) */
    const char *object_kind;       /* object.object ("subscription", ...) or "" */
    const char *object_id, *customer, *status, *meta_subscription; /* "" when absent */
    int64_t period_end, trial_end; /* 0 when absent */
} billing_event;

/* Parse a delivery body. PB_EPARSE when it is not JSON, PB_EINVAL when id
 * (1..255 chars), type or created (an integer) is missing. */
int billing_event_parse(const char *body, size_t len, billing_event *ev, pb_err *err);
void billing_event_clear(billing_event *ev);

/* The provider subscription id an event is about: data.object.id of a
 * subscription object, else (a thin event) related_object.id when its
 * type is "subscription"; "" when neither. Borrowed from ev. */
const char *billing_event_subject_id(const billing_event *ev);
/* 1 when, under `mode`, the subscription must be fetched back from the
 * provider before ev is acted on: thin = no object or no status;
 * suspending = thin, or a status that suspends the tenant (unpaid,
 * paused, canceled, incomplete, incomplete_expired); always. */
int billing_event_needs_fetch(billing_fetch mode, const billing_event *ev);
/* Replace data.object with `object` (the provider's current subscription;
 * ownership taken, also on error) and refill the fields; ev->created and
 * the event id are kept, so ordering still follows the event. */
int billing_event_set_object(billing_event *ev, json_t *object, pb_err *err);

/* A status Stripe documents for subscriptions. */
int billing_status_known(const char *status);

/* Decide what ev does to a Subscription whose status.billing is `cur`
 * (NULL: none yet). Returns "applied" with *next a new status.billing
 * object, or "duplicate" / "stale" with *next NULL. now_rfc3339 is not
 * used for ordering, only recorded. */
const char *billing_decide(const json_t *cur, const billing_event *ev, const char *provider,
                           json_t **next);

/* ---- runtime --------------------------------------------------------- */

typedef struct billing billing;

int billing_start(struct operator_ctx *op, struct manager *m, const billing_config *cfg,
                  billing **out, pb_err *err);
/* Add the POST routes to the operator's HTTPS server (called on each
 * server (re)start). b NULL: nothing. */
int billing_register_routes(billing *b, pb_http_server *srv, pb_err *err);
/* Usage metering, for the rest of the operator (e.g. the agent executor):
 * add n (>= 0) to `tenant`'s counter `meter` (1-63 of [a-z0-9_]) in the
 * current period. Durable (committed in the outbox database) on return 0;
 * reported to every provider whose `meters:` names that meter, once per
 * period, never twice. The meters the operator measures itself
 * (BILLING_METER_*) are refused (PB_EINVAL). PB_EUNAVAILABLE when billing
 * is off (b NULL) or its database is not connected yet: the caller
 * decides whether to retry. Thread-safe. */
int billing_usage_add(billing *b, const char *tenant, const char *meter, long long n, pb_err *err);
/* Stop the applier thread and free. NULL is fine. */
void billing_free(billing *b);

#endif
