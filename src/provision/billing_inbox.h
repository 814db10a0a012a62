/*
 * billing_inbox.h - the durable inbox of billing webhook deliveries, in
 * PostgreSQL.
 *
 * A verified delivery is stored (committed) before the endpoint answers
 * 2xx, then applied to Subscriptions asynchronously by the applier
 * (controllers/billing_applier.c): a slow or unreachable API server never
 * makes the provider retry, and an operator killed between receipt and
 * apply loses nothing (the row stays pending).
 *
 * Table billing_inbox in the database given to pb_binbox_open (created,
 * with the table, when missing; the operator's own database, never a
 * tenant's):
 *   - UNIQUE (provider, event_id): a redelivery is a no-op insert
 *     (*inserted = 0), answered 200 like the first;
 *   - rows are kept `retention` after receipt (pb_binbox_prune; default 30
 *     days, longer than Stripe's three days of retries), so duplicates are
 *     recognised for the provider's whole retry window;
 *   - pending rows are claimed oldest event_time first (then arrival), and
 *     each ends applied (pb_binbox_done, with an outcome such as "applied",
 *     "stale", "no-subscription") or is retried later with backoff
 *     (pb_binbox_retry).
 *
 * Thread-safe (the pool is); every call borrows a pooled connection.
 * Ownership: pb_binbox_claim returns an array freed with
 * pb_binbox_events_free; the pool stays the caller's and must outlive the
 * inbox.
 */
#ifndef PAYBILL_PROVISION_BILLING_INBOX_H
#define PAYBILL_PROVISION_BILLING_INBOX_H

#include <stddef.h>
#include <stdint.h>

#include "provision/pg.h"
#include "util/err.h"

#define PB_BINBOX_DEFAULT_DB "paybill_operator"
#define PB_BINBOX_DEFAULT_RETENTION_S (30LL * 86400)

typedef struct pb_binbox pb_binbox;

typedef struct pb_binbox_event {
    long long seq;
    char *provider, *event_id, *type;
    int64_t event_time;   /* provider's event time, unix seconds */
    char *payload;        /* the raw body as received */
    int attempts;         /* earlier failed attempts */
} pb_binbox_event;

/* Create database `dbname` (NULL: PB_BINBOX_DEFAULT_DB) and the table when
 * missing. */
int pb_binbox_open(pb_pg_pool *pool, const char *dbname, pb_binbox **out, pb_err *err);
void pb_binbox_free(pb_binbox *b);

/* Store a delivery; *inserted = 1 when new, 0 when (provider, event_id)
 * was already there (nothing changed). Durable (committed) on return 0. */
int pb_binbox_put(pb_binbox *b, const char *provider, const char *event_id, const char *type,
                  int64_t event_time, const char *payload, size_t len, int *inserted, pb_err *err);

/* Up to `max` pending rows whose next attempt is due, oldest event first. */
int pb_binbox_claim(pb_binbox *b, size_t max, pb_binbox_event **out, size_t *n, pb_err *err);
void pb_binbox_events_free(pb_binbox_event *evs, size_t n);

/* Mark applied with an outcome ("applied", "stale", ...). */
int pb_binbox_done(pb_binbox *b, long long seq, const char *outcome, pb_err *err);
/* Keep pending; try again in delay_s seconds; remember the error. */
int pb_binbox_retry(pb_binbox *b, long long seq, int delay_s, const char *error, pb_err *err);

/* Delete applied rows received more than retention_s ago (pending rows are
 * never deleted). *removed may be NULL. */
int pb_binbox_prune(pb_binbox *b, int64_t retention_s, long long *removed, pb_err *err);

/* Counts for metrics: pending and total rows. */
int pb_binbox_counts(pb_binbox *b, long long *pending, long long *total, pb_err *err);

/* The outcome of an event, or NULL when not there / still pending
 * (tests). malloc'd. */
int pb_binbox_outcome(pb_binbox *b, const char *provider, const char *event_id, char **outcome,
                      pb_err *err);

#endif
