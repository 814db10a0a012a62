/*
 * billing_usage.h - usage metering out (internal to the billing module;
 * the public API is billing_usage_add in billing.h).
 *
 * On the leader, once a metering period (billing.usage.period) has ended,
 * every Subscription of a provider with `meters:` gets the period closed
 * in the outbox (provision/billing_outbox.h): tenant_active (1 when its
 * Tenant is Active at the close), storage_bytes (pg size of its schema or
 * database; rls tenants have none that is cheap to measure, so 0 and no
 * report), agent_steps / agent_rows (the agent ledger's totals, reported
 * as the growth since the last close), and any other meter name as the
 * sum of billing_usage_add counters. The sender thread then reports each
 * outbox row - Stripe: POST /v1/billing/meter_events (form, identifier =
 * the row's deterministic identifier, Idempotency-Key too); hmac-sha256:
 * a JSON POST to api.usageURL signed like the provider's webhooks - with
 * exponential backoff (retryBase doubled up to retryMax) on transport
 * errors, 408, 409, 429 and 5xx; another 4xx fails the row for good (a
 * Warning Event UsageReportRefused). The latest fully reported period is
 * written to the Subscription's status.usage once per period.
 *
 * It also holds each provider's API key (api.secretRef, reloaded every
 * 10 s) for the applier's fetch-back (billing_usage_fetch_subscription).
 *
 * Ownership: start borrows op, m and cfg (they outlive it).
 */
#ifndef PAYBILL_CONTROLLERS_BILLING_USAGE_H
#define PAYBILL_CONTROLLERS_BILLING_USAGE_H

#include <jansson.h>

#include "controllers/billing.h"

typedef struct billing_usage billing_usage;

int billing_usage_start(struct operator_ctx *op, struct manager *m, const billing_config *cfg,
                        billing_usage **out, pb_err *err);
void billing_usage_free(billing_usage *u);

/* Counter add (billing_usage_add's work). */
int billing_usage_counter_add(billing_usage *u, const char *tenant, const char *meter, long long n, pb_err *err);

/* GET the provider's subscription `id` with its API key: 0 with *object
 * (new reference) when found; PB_ENOTFOUND when the provider says 404;
 * PB_EUNAVAILABLE when there is no key yet, the provider cannot be reached
 * or answers another status (the caller retries later). */
int billing_usage_fetch_subscription(billing_usage *u, const billing_provider_cfg *p, const char *id,
                                     json_t **object, pb_err *err);

#endif
