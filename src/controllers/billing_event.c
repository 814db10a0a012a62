/*
 * billing_event.c - the pure half of billing (see billing.h): settings,
 * provider events parsed from their JSON, and the ordering rule that keeps
 * duplicate and out-of-order deliveries from moving a Subscription
 * backwards.
 */
#include "controllers/billing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provision/billing_api.h"
#include "provision/billing_inbox.h"
#include "provision/billing_outbox.h"
#include "server/billing_sig.h"
#include "util/json.h"
#include "util/timeutil.h"

/* ---- settings ------------------------------------------------------------ */

static int dur_s(const json_t *obj, const char *key, long long def, long long *out, const char *origin,
                 const char *where, pb_err *err)
{
    const json_t *v = json_object_get(obj, key);
    *out = def;
    if (!v)
        return 0;
    pb_duration d = 0;
    pb_err pe;
    pb_err_clear(&pe);
    if (!json_is_string(v) || pb_time_parse_duration(json_string_value(v), &d, &pe) != 0 || d <= 0)
        return pb_err_set(err, PB_EINVAL, "%s: %s%s: expected a positive duration such as \"5m\"", origin,
                          where, key);
    *out = (long long)(d / PB_SECOND);
    if (*out < 1)
        *out = 1;
    return 0;
}

static int only_keys(const json_t *obj, const char *const *allowed, const char *origin, const char *where,
                     pb_err *err)
{
    const char *k = pb_json_unknown_key(obj, allowed);
    return k ? pb_err_set(err, PB_EINVAL, "%s: %s%s: unknown field", origin, where, k) : 0;
}

static int dup_opt(const json_t *obj, const char *key, char **out, const char *origin, const char *where,
                   pb_err *err)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_string(v) || !*json_string_value(v))
        return pb_err_set(err, PB_EINVAL, "%s: %s%s: expected a non-empty string", origin, where, key);
    return (*out = strdup(json_string_value(v))) ? 0 : pb_err_oom(err);
}

/* A provider's api:, meters: and fetchBack: (usage out, fetch-back). */
static int provider_api_parse(const json_t *p, billing_provider_cfg *c, const char *origin, const char *where,
                              pb_err *err)
{
    static const char *const ak[] = {"baseURL", "usageURL", "secretRef", "caFile", "timeout", NULL};
    static const char *const sk[] = {"name", "key", NULL};
    int stripe = strcmp(c->scheme, "stripe") == 0;
    char w[96];
    int rc;
    const json_t *api = json_object_get(p, "api");
    if (api) {
        snprintf(w, sizeof w, "%sapi.", where);
        if (!json_is_object(api))
            return pb_err_set(err, PB_EINVAL, "%s: %sapi: expected a mapping", origin, where);
        if ((rc = only_keys(api, ak, origin, w, err)) != 0 ||
            (rc = dup_opt(api, "baseURL", &c->api_base, origin, w, err)) != 0 ||
            (rc = dup_opt(api, "usageURL", &c->usage_url, origin, w, err)) != 0 ||
            (rc = dup_opt(api, "caFile", &c->api_ca_file, origin, w, err)) != 0)
            return rc;
        long long to = 10;
        if ((rc = dur_s(api, "timeout", 10, &to, origin, w, err)) != 0)
            return rc;
        c->api_timeout_ms = to * 1000;
        if (stripe ? !c->api_base || c->usage_url : !c->usage_url || c->api_base)
            return pb_err_set(err, PB_EINVAL, "%s: %sapi: scheme %s takes %s", origin, where, c->scheme,
                              stripe ? "baseURL (Stripe's API), not usageURL" : "usageURL, not baseURL");
        const char *url = stripe ? c->api_base : c->usage_url;
        pb_err ue;
        if (pb_bapi_url_check(url, &ue) != 0)
            return pb_err_set(err, PB_EINVAL, "%s: %sapi: %s", origin, where, ue.msg);
        const json_t *sr = json_object_get(api, "secretRef");
        snprintf(w, sizeof w, "%sapi.secretRef.", where);
        if (!json_is_object(sr))
            return pb_err_set(err, PB_EINVAL, "%s: %sapi.secretRef: required ({name, key}: the %s)", origin, where,
                              stripe ? "API key" : "signing secret");
        if ((rc = only_keys(sr, sk, origin, w, err)) != 0 ||
            (rc = dup_opt(sr, "name", &c->api_secret, origin, w, err)) != 0 ||
            (rc = dup_opt(sr, "key", &c->api_secret_key, origin, w, err)) != 0)
            return rc;
        if (!c->api_secret || !c->api_secret_key)
            return pb_err_set(err, PB_EINVAL, "%s: %sapi.secretRef: name and key are required", origin, where);
    }
    const json_t *meters = json_object_get(p, "meters");
    if (meters) {
        if (!json_is_object(meters) || json_object_size(meters) == 0 || json_object_size(meters) > 32)
            return pb_err_set(err, PB_EINVAL, "%s: %smeters: expected a mapping of 1-32 meter: providerName", origin,
                              where);
        if (!api)
            return pb_err_set(err, PB_EINVAL, "%s: %smeters: needs api (where usage is reported)", origin, where);
        if (!(c->meters = calloc(json_object_size(meters), sizeof *c->meters)))
            return pb_err_oom(err);
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)meters, k, v) {
            const char *ev = json_string_value(v);
            if (!pb_bout_meter_valid(k))
                return pb_err_set(err, PB_EINVAL, "%s: %smeters.%s: a meter is 1-63 of [a-z0-9_]", origin, where, k);
            if (!ev || !*ev || strlen(ev) > 100)
                return pb_err_set(err, PB_EINVAL, "%s: %smeters.%s: the provider's event name (1-100 chars)", origin,
                                  where, k);
            billing_meter_map *m = &c->meters[c->nmeters++];
            if (!(m->meter = strdup(k)) || !(m->event_name = strdup(ev)))
                return pb_err_oom(err);
        }
    }
    const char *fb = NULL;
    pb_json_opt_string(p, "fetchBack", NULL, &fb, NULL);
    if (json_object_get(p, "fetchBack") && !fb)
        return pb_err_set(err, PB_EINVAL, "%s: %sfetchBack: expected a string", origin, where);
    c->fetch_back = stripe && c->api_base ? BILLING_FETCH_THIN : BILLING_FETCH_NEVER;
    if (fb) {
        c->fetch_back = strcmp(fb, "never") == 0        ? BILLING_FETCH_NEVER
                        : strcmp(fb, "thin") == 0       ? BILLING_FETCH_THIN
                        : strcmp(fb, "suspending") == 0 ? BILLING_FETCH_SUSPENDING
                        : strcmp(fb, "always") == 0     ? BILLING_FETCH_ALWAYS
                                                        : (billing_fetch)-1;
        if ((int)c->fetch_back < 0)
            return pb_err_set(err, PB_EINVAL, "%s: %sfetchBack: \"%s\" (never, thin, suspending, always)", origin,
                              where, fb);
        if (c->fetch_back != BILLING_FETCH_NEVER && !(stripe && c->api_base))
            return pb_err_set(err, PB_EINVAL, "%s: %sfetchBack: needs a stripe provider with api.baseURL", origin,
                              where);
    }
    return 0;
}

int billing_config_parse(const json_t *sec, const char *origin, billing_config *out, pb_err *err)
{
    static const char *const top[] = {"database", "retention", "maxBodyBytes", "providers", "usage", NULL};
    static const char *const prov[] = {"name", "scheme", "secretRef", "tolerance", "api", "meters", "fetchBack", NULL};
    memset(out, 0, sizeof *out);
    out->retention_s = PB_BINBOX_DEFAULT_RETENTION_S;
    out->max_body = BILLING_DEFAULT_MAX_BODY;
    out->usage_period_s = 86400;
    out->usage_retry_base_s = 10;
    out->usage_retry_max_s = 600;
    if (!sec || json_is_null(sec))
        return 0;
    int rc;
    if (!json_is_object(sec))
        return pb_err_set(err, PB_EINVAL, "%s: billing: expected a mapping", origin);
    if ((rc = only_keys(sec, top, origin, "billing.", err)) != 0)
        return rc;
    out->enabled = 1;
    const char *db = NULL;
    long long mb = BILLING_DEFAULT_MAX_BODY;
    if (pb_json_opt_string(sec, "database", NULL, &db, err) != 0 ||
        pb_json_opt_int(sec, "maxBodyBytes", BILLING_DEFAULT_MAX_BODY, &mb, err) != 0) {
        rc = pb_err_wrap(err, "%s: billing", origin);
        goto fail;
    }
    if (mb < 1024 || mb > 16 * 1024 * 1024) {
        rc = pb_err_set(err, PB_EINVAL, "%s: billing.maxBodyBytes: %lld is not within 1024..16777216", origin, mb);
        goto fail;
    }
    out->max_body = (size_t)mb;
    if (db && !(out->database = strdup(db))) {
        rc = pb_err_oom(err);
        goto fail;
    }
    if ((rc = dur_s(sec, "retention", PB_BINBOX_DEFAULT_RETENTION_S, &out->retention_s, origin, "billing.", err)) != 0)
        goto fail;
    const json_t *usage = json_object_get(sec, "usage");
    if (usage) {
        static const char *const uk[] = {"period", "retryBase", "retryMax", NULL};
        if (!json_is_object(usage)) {
            rc = pb_err_set(err, PB_EINVAL, "%s: billing.usage: expected a mapping", origin);
            goto fail;
        }
        if ((rc = only_keys(usage, uk, origin, "billing.usage.", err)) != 0 ||
            (rc = dur_s(usage, "period", 86400, &out->usage_period_s, origin, "billing.usage.", err)) != 0 ||
            (rc = dur_s(usage, "retryBase", 10, &out->usage_retry_base_s, origin, "billing.usage.", err)) != 0 ||
            (rc = dur_s(usage, "retryMax", 600, &out->usage_retry_max_s, origin, "billing.usage.", err)) != 0)
            goto fail;
        if (out->usage_retry_max_s < out->usage_retry_base_s) {
            rc = pb_err_set(err, PB_EINVAL, "%s: billing.usage.retryMax: shorter than retryBase", origin);
            goto fail;
        }
    }
    const json_t *ps = json_object_get(sec, "providers");
    if (ps && !json_is_array(ps)) {
        rc = pb_err_set(err, PB_EINVAL, "%s: billing.providers: expected a list", origin);
        goto fail;
    }
    out->providers = calloc(json_array_size(ps) + 1, sizeof *out->providers);
    if (!out->providers) {
        rc = pb_err_oom(err);
        goto fail;
    }
    size_t i;
    const json_t *p;
    json_array_foreach(ps, i, p) {
        char where[64];
        snprintf(where, sizeof where, "billing.providers[%zu].", i);
        billing_provider_cfg *c = &out->providers[i];
        out->nproviders = i + 1;
        const char *name = NULL, *scheme = NULL, *secret = NULL;
        if (!json_is_object(p)) {
            rc = pb_err_set(err, PB_EINVAL, "%s: %s: expected a mapping", origin, where);
            goto fail;
        }
        if ((rc = only_keys(p, prov, origin, where, err)) != 0)
            goto fail;
        pb_json_opt_string(p, "name", NULL, &name, NULL);
        pb_json_opt_string(p, "scheme", NULL, &scheme, NULL);
        pb_json_opt_string(p, "secretRef", NULL, &secret, NULL);
        const char *missing = !name ? "name" : !scheme ? "scheme" : !secret ? "secretRef" : NULL;
        if (missing) {
            rc = pb_err_set(err, PB_EINVAL, "%s: %s%s: required (a string)", origin, where, missing);
            goto fail;
        }
        if (!*name || strlen(name) > 63 || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(name)) {
            rc = pb_err_set(err, PB_EINVAL, "%s: %sname: \"%s\" must be 1-63 of [a-z0-9-]", origin, where, name);
            goto fail;
        }
        if (!pb_bsig_scheme_find(scheme)) {
            rc = pb_err_set(err, PB_EINVAL, "%s: %sscheme: unsupported value \"%s\" (stripe, hmac-sha256)", origin,
                            where, scheme);
            goto fail;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(out->providers[j].name, name) == 0) {
                rc = pb_err_set(err, PB_EINVAL, "%s: %sname: \"%s\" is used twice", origin, where, name);
                goto fail;
            }
        if (!(c->name = strdup(name)) || !(c->scheme = strdup(scheme)) || !(c->secret_name = strdup(secret))) {
            rc = pb_err_oom(err);
            goto fail;
        }
        if ((rc = dur_s(p, "tolerance", PB_BSIG_DEFAULT_TOLERANCE_S, &c->tolerance_s, origin, where, err)) != 0)
            goto fail;
        if ((rc = provider_api_parse(p, c, origin, where, err)) != 0)
            goto fail;
    }
    return 0;
fail:
    billing_config_free(out);
    return rc;
}

void billing_config_free(billing_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nproviders; i++) {
        free(c->providers[i].name);
        free(c->providers[i].scheme);
        free(c->providers[i].secret_name);
        free(c->providers[i].api_base);
        free(c->providers[i].usage_url);
        free(c->providers[i].api_secret);
        free(c->providers[i].api_secret_key);
        free(c->providers[i].api_ca_file);
        for (size_t j = 0; j < c->providers[i].nmeters; j++) {
            free(c->providers[i].meters[j].meter);
            free(c->providers[i].meters[j].event_name);
        }
        free(c->providers[i].meters);
    }
    free(c->providers);
    free(c->database);
    memset(c, 0, sizeof *c);
}

/* ---- events ---------------------------------------------------------------- */

static const char *str_or_empty(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static int64_t int_or_zero(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static void object_fields(billing_event *ev);

int billing_event_parse(const char *body, size_t len, billing_event *ev, pb_err *err)
{
    memset(ev, 0, sizeof *ev);
    json_error_t je;
    ev->root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!ev->root)
        return pb_err_set(err, PB_EPARSE, "body is not JSON: %s (line %d)", je.text, je.line);
    const char *bad = NULL;
    if (!json_is_object(ev->root))
        bad = "expected a JSON object";
    ev->id = json_string_value(json_object_get(ev->root, "id"));
    ev->type = json_string_value(json_object_get(ev->root, "type"));
    const json_t *created = json_object_get(ev->root, "created");
    if (!bad && (!ev->id || !*ev->id || strlen(ev->id) > 255))
        bad = "id: a string of 1-255 characters is required";
    if (!bad && (!ev->type || !*ev->type || strlen(ev->type) > 255))
        bad = "type: a string is required";
    if (!bad && (!json_is_integer(created) || json_integer_value(created) <= 0))
        bad = "created: a unix time is required";
    if (bad) {
        billing_event_clear(ev);
        return pb_err_set(err, PB_EINVAL, "not a billing event: %s", bad);
    }
    ev->created = (int64_t)json_integer_value(created);
    ev->object = json_object_get(json_object_get(ev->root, "data"), "object");
    if (!json_is_object(ev->object))
        ev->object = NULL;
    object_fields(ev);
    return 0;
}

/* Fill the fields that come from data.object. */
static void object_fields(billing_event *ev)
{
    ev->object_kind = str_or_empty(ev->object, "object");
    ev->object_id = str_or_empty(ev->object, "id");
    ev->customer = str_or_empty(ev->object, "customer");
    ev->status = str_or_empty(ev->object, "status");
    ev->meta_subscription = str_or_empty(json_object_get(ev->object, "metadata"), BILLING_META_SUBSCRIPTION);
    ev->period_end = int_or_zero(ev->object, "current_period_end");
    if (!ev->period_end) /* newer API versions keep it on the items */
        ev->period_end = int_or_zero(json_array_get(json_object_get(json_object_get(ev->object, "items"), "data"), 0),
                                     "current_period_end");
    ev->trial_end = int_or_zero(ev->object, "trial_end");
}

const char *billing_event_subject_id(const billing_event *ev)
{
    if (*ev->object_id)
        return strcmp(ev->object_kind, "subscription") == 0 || !*ev->object_kind ? ev->object_id : "";
    /* A thin event: {related_object: {id, type: "subscription"}} */
    const json_t *rel = json_object_get(ev->root, "related_object");
    const char *t = str_or_empty(rel, "type");
    return strcmp(t, "subscription") == 0 ? str_or_empty(rel, "id") : "";
}

static int suspends(const char *status)
{
    static const char *const s[] = {"unpaid", "paused", "canceled", "incomplete", "incomplete_expired", NULL};
    for (const char *const *x = s; *x; x++)
        if (strcmp(status, *x) == 0)
            return 1;
    return 0;
}

int billing_event_needs_fetch(billing_fetch mode, const billing_event *ev)
{
    int thin = !ev->object || !*ev->status;
    switch (mode) {
    case BILLING_FETCH_NEVER:
        return 0;
    case BILLING_FETCH_THIN:
        return thin;
    case BILLING_FETCH_SUSPENDING:
        return thin || suspends(ev->status);
    case BILLING_FETCH_ALWAYS:
        return 1;
    }
    return 0;
}

int billing_event_set_object(billing_event *ev, json_t *object, pb_err *err)
{
    if (!json_is_object(object)) {
        json_decref(object);
        return pb_err_set(err, PB_EINVAL, "the provider's object is not a JSON object");
    }
    json_t *data = json_object_get(ev->root, "data");
    if (!json_is_object(data)) {
        data = json_object();
        if (!data || json_object_set_new(ev->root, "data", data) != 0) {
            json_decref(object);
            return pb_err_oom(err);
        }
    }
    if (json_object_set_new(data, "object", object) != 0)
        return pb_err_oom(err);
    ev->object = object;
    object_fields(ev);
    return 0;
}

void billing_event_clear(billing_event *ev)
{
    if (!ev)
        return;
    json_decref(ev->root);
    memset(ev, 0, sizeof *ev);
}

int billing_status_known(const char *s)
{
    static const char *const known[] = {"trialing", "active", "past_due", "unpaid", "canceled",
                                        "paused", "incomplete", "incomplete_expired", NULL};
    for (const char *const *k = known; s && *k; k++)
        if (strcmp(s, *k) == 0)
            return 1;
    return 0;
}

static void set_time(json_t *o, const char *key, int64_t t)
{
    if (t <= 0)
        return;
    char buf[PB_TIME_BUF];
    struct timespec ts = {(time_t)t, 0};
    json_object_set_new(o, key, json_string(pb_time_format_rfc3339(ts, buf, sizeof buf)));
}

static int is_created(const char *type)
{
    size_t n = strlen(type);
    return n >= 8 && strcmp(type + n - 8, ".created") == 0;
}

const char *billing_decide(const json_t *cur, const billing_event *ev, const char *provider, json_t **next)
{
    *next = NULL;
    json_int_t cur_t = json_integer_value(json_object_get(cur, "eventTime"));
    const char *cur_id = json_string_value(json_object_get(cur, "eventId"));
    const char *cur_type = json_string_value(json_object_get(cur, "eventType"));
    if (cur_id && strcmp(cur_id, ev->id) == 0)
        return "duplicate";
    if (cur && ev->created < (int64_t)cur_t)
        return "stale";
    if (cur && ev->created == (int64_t)cur_t && is_created(ev->type) && cur_type && !is_created(cur_type))
        return "stale";
    json_t *n = json_object();
    const char *cur_status = json_string_value(json_object_get(cur, "status"));
    json_object_set_new(n, "provider", json_string(provider));
    json_object_set_new(n, "status", json_string(ev->status));
    /* statusSince: when the provider's status last changed, so repeated
     * past_due events never restart the grace period. */
    const json_t *since = json_object_get(cur, "statusSince");
    if (cur_status && strcmp(cur_status, ev->status) == 0 && json_is_string(since))
        json_object_set_new(n, "statusSince", json_string(json_string_value(since)));
    else
        set_time(n, "statusSince", ev->created);
    json_object_set_new(n, "eventId", json_string(ev->id));
    json_object_set_new(n, "eventType", json_string(ev->type));
    json_object_set_new(n, "eventTime", json_integer((json_int_t)ev->created));
    if (*ev->object_id)
        json_object_set_new(n, "subscriptionId", json_string(ev->object_id));
    if (*ev->customer)
        json_object_set_new(n, "customerId", json_string(ev->customer));
    set_time(n, "currentPeriodEnd", ev->period_end);
    set_time(n, "trialEnd", ev->trial_end);
    *next = n;
    return "applied";
}
