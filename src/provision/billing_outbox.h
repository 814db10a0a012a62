/*
 * billing_outbox.h - usage metering kept durably in PostgreSQL, next to the
 * billing inbox (same database): per-tenant usage counters, the closing of
 * billing periods, and the outbox of usage reports to send to the billing
 * provider.
 *
 * Tables (created when missing by pb_bout_open; the operator's own
 * database, never a tenant's):
 *   billing_usage_counters (tenant, meter, period_start) -> value, closed:
 *     counters added by pb_bout_add in the bucket of the current period;
 *     an add that finds its bucket closed goes to the next one, so an
 *     increment is never lost and never counted in two periods.
 *   billing_usage_marks (tenant, meter) -> value: the last reading of a
 *     cumulative source (e.g. steps ever committed in the agent ledger):
 *     a period reports reading - mark.
 *   billing_usage_periods (provider, subscription, period_start): one row
 *     per closed period; closing the same period again is a no-op, across
 *     restarts and replicas.
 *   billing_outbox: one row per (subscription, meter, period) with a
 *     deterministic identifier (pb_bout_identifier; Stripe's meter event
 *     `identifier`, deduplicated by the provider), sent, retried with
 *     backoff, or failed for good (a 4xx the provider will never accept).
 *
 * Closing a period is one transaction: the period row, every counter up to
 * the period's end marked closed, every cumulative mark moved, and the
 * outbox rows. Either all of it happens or none.
 *
 * Thread-safe (the pool is). Ownership: arrays returned by pb_bout_claim
 * are freed with pb_bout_rows_free; JSON from pb_bout_reported is a new
 * reference; the pool stays the caller's and must outlive the handle.
 */
#ifndef PAYBILL_PROVISION_BILLING_OUTBOX_H
#define PAYBILL_PROVISION_BILLING_OUTBOX_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "provision/pg.h"
#include "util/err.h"

#define PB_BOUT_ID_MAX 100 /* Stripe's limit for a meter event identifier */

typedef struct pb_bout pb_bout;

/* Open on database `dbname` (created when missing; NULL: the inbox's
 * default, "paybill_operator"). period_s (> 0) is the metering period: the
 * bucket of pb_bout_add is floor(now / period_s) * period_s. */
int pb_bout_open(pb_pg_pool *pool, const char *dbname, int64_t period_s, pb_bout **out, pb_err *err);
void pb_bout_free(pb_bout *o);

/* A meter name: 1-63 of [a-z0-9_], starting with a letter. */
int pb_bout_meter_valid(const char *meter);

/* Add n (>= 0) to tenant's counter `meter` in the bucket of unix time
 * `now`. Durable (committed) on return 0. */
int pb_bout_add(pb_bout *o, const char *tenant, const char *meter, long long n, int64_t now, pb_err *err);

typedef enum {
    PB_BOUT_GAUGE = 0,  /* value as measured at the close */
    PB_BOUT_COUNTER,    /* sum of pb_bout_add counters up to the period end */
    PB_BOUT_CUMULATIVE, /* value is a reading of an ever-growing total; the
                           period reports reading - last mark (a reading
                           below the mark, a reset, reports the reading) */
} pb_bout_kind;

typedef struct pb_bout_meter {
    const char *meter;      /* tenant-level name (counters, marks) */
    const char *event_name; /* the provider's name for it */
    pb_bout_kind kind;
    long long value;        /* GAUGE, CUMULATIVE: the reading */
    long long first_mark;   /* CUMULATIVE without a mark yet: used as the mark */
} pb_bout_meter;

typedef struct pb_bout_close {
    const char *provider, *subscription, *tenant, *customer;
    int64_t period_start, period_end;
    const pb_bout_meter *meters;
    size_t nmeters;
} pb_bout_close;

/* Close a period: *closed = 1 when this call closed it, 0 when it was
 * closed already (nothing changed). Meters whose value is 0 get no outbox
 * row (their counters and marks still move). */
int pb_bout_close_period(pb_bout *o, const pb_bout_close *c, int *closed, pb_err *err);

/* The identifier of one report: "pbu-<period_start>-<32 hex of sha256 over
 * provider, subscription, tenant, meter, period_start>" into buf
 * (PB_BOUT_ID_MAX + 1 bytes). */
void pb_bout_identifier(const char *provider, const char *subscription, const char *tenant, const char *meter,
                        int64_t period_start, char *buf, size_t n);

typedef struct pb_bout_row {
    long long seq;
    char *identifier, *provider, *subscription, *tenant, *customer, *meter, *event_name;
    int64_t period_start, period_end;
    long long value;
    int attempts; /* earlier failed attempts */
} pb_bout_row;

/* Up to `max` unsent, not failed rows whose next attempt is due, oldest
 * first. */
int pb_bout_claim(pb_bout *o, size_t max, pb_bout_row **out, size_t *n, pb_err *err);
void pb_bout_rows_free(pb_bout_row *rows, size_t n);

/* The provider accepted it (http_status recorded). */
int pb_bout_sent(pb_bout *o, long long seq, int http_status, pb_err *err);
/* Not accepted now: attempts + 1, next attempt in delay_s, error kept. */
int pb_bout_retry(pb_bout *o, long long seq, int delay_s, int http_status, const char *error, pb_err *err);
/* Refused for good (never retried; counted and shown in status). */
int pb_bout_failed(pb_bout *o, long long seq, int http_status, const char *error, pb_err *err);

/* The latest closed period of a subscription with no report still
 * pending: {"periodStart": unix, "periodEnd": unix, "meters": {meter:
 * value sent}, "failed": [meter, ...] (only when some failed)}, or *out =
 * NULL when there is none. */
int pb_bout_reported(pb_bout *o, const char *provider, const char *subscription, json_t **out, pb_err *err);

/* Counts for metrics: rows waiting to be sent, rows failed for good. */
int pb_bout_counts(pb_bout *o, long long *pending, long long *failed, pb_err *err);

#endif
