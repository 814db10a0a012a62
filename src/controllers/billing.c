/*
 * billing.c - the runtime half of billing (see billing.h): live secrets
 * read from Kubernetes Secrets, the webhook handlers, the PostgreSQL inbox
 * connection, and the applier thread that applies inbox rows to
 * Subscriptions on the leader.
 */
#include "controllers/billing.h"
#include "controllers/billing_usage.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controllers/conditions.h"
#include "controllers/operator.h"
#include "kube/manager.h"
#include "provision/billing_inbox.h"
#include "provision/pg.h"
#include "server/billing_sig.h"
#include "util/json.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/secret.h"
#include "util/timeutil.h"
#include "util/proc.h"

#define SECRET_RELOAD_S 10     /* background reload of every provider's Secret */
#define SECRET_RELOAD_MIN_S 2  /* on a mismatch, reload inline at most this often */
#define CLAIM_BATCH 64
#define PRUNE_EVERY_S 3600
#define WRITE_ATTEMPTS 5

typedef struct provider {
    struct billing *b;
    const billing_provider_cfg *cfg;
    const pb_bsig_scheme *scheme;
    const char *sub_provider;      /* spec.billing.provider it drives */
    pthread_mutex_t mu;            /* keys */
    pb_bsig_key *keys;
    size_t nkeys;
    time_t loaded_at;
} provider;

struct billing {
    operator_ctx *op;
    manager *m;
    const billing_config *cfg;
    provider *provs;
    size_t nprovs;
    pb_pg_pool *pool;
    _Atomic(pb_binbox *) inbox;
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, kick;
    pb_counter *m_deliveries, *m_events, *m_fetches;
    pb_gauge *m_pending;
    pb_histogram *m_receive;
    billing_usage *usage; /* usage out and API keys (billing_usage.h) */
};

/* ---- secrets ---------------------------------------------------------------- */

static void keys_free(pb_bsig_key *k, size_t n)
{
    for (size_t i = 0; k && i < n; i++) {
        pb_secret_wipe((void *)k[i].data, k[i].len);
        free((void *)k[i].data);
    }
    free(k);
}

/* Read the provider's Secret: every non-empty data value is a live secret.
 * A missing Secret leaves no secret (deliveries get 503). */
static void load_secrets(provider *p)
{
    operator_ctx *op = p->b->op;
    kube_gvr secrets = {"", "v1", "secrets"};
    json_t *sec = NULL;
    pb_err err;
    pb_err_clear(&err);
    int rc = kube_get(op->client, &secrets, op->system_ns, p->cfg->secret_name, NULL, &sec, &err);
    pb_bsig_key *keys = NULL;
    size_t n = 0;
    if (rc == 0) {
        json_t *data = json_object_get(sec, "data");
        keys = calloc(json_object_size(data) + 1, sizeof *keys);
        const char *k;
        json_t *v;
        json_object_foreach(data, k, v) {
            unsigned char *raw = NULL;
            size_t len = 0;
            const char *b64 = json_string_value(v);
            pb_err de;
            if (!keys || !b64 || pb_secret_b64_decode(b64, strlen(b64), &raw, &len, &de) != 0 || len == 0) {
                free(raw);
                continue;
            }
            keys[n++] = (pb_bsig_key){raw, len};
        }
        json_decref(sec);
    } else if (rc != PB_ENOTFOUND) {
        /* Transient: keep what we have. */
        pb_log_warn("billing: reading webhook secret failed; keeping the loaded ones", "provider", p->cfg->name,
                    "secret", p->cfg->secret_name, "error", err.msg, NULL);
        pthread_mutex_lock(&p->mu);
        p->loaded_at = time(NULL);
        pthread_mutex_unlock(&p->mu);
        return;
    }
    pthread_mutex_lock(&p->mu);
    size_t before = p->nkeys;
    keys_free(p->keys, p->nkeys);
    p->keys = keys;
    p->nkeys = n;
    p->loaded_at = time(NULL);
    pthread_mutex_unlock(&p->mu);
    if (before != n) {
        char cnt[16];
        snprintf(cnt, sizeof cnt, "%zu", n);
        pb_log_info("billing: webhook secrets loaded", "provider", p->cfg->name, "secret", p->cfg->secret_name,
                    "count", cnt, NULL);
    }
}

/* ---- the endpoint ----------------------------------------------------------- */

static int req_header(const void *ud, const char *name, char *buf, size_t n)
{
    return pb_http_request_header(ud, name, buf, n);
}

static void reply(pb_http_response *resp, int status, const char *reason, const char *msg, int duplicate)
{
    json_t *j = status == 200 ? json_pack("{s:b, s:b}", "received", 1, "duplicate", duplicate)
                              : json_pack("{s:s, s:s}", "error", reason, "message", msg);
    pb_http_reply_json(resp, status, j);
    json_decref(j);
}

static int verify(provider *p, const pb_http_request *req, pb_bsig_reason *reason, pb_err *err)
{
    pthread_mutex_lock(&p->mu);
    pb_bsig_input in = {.body = req->body, .body_len = req->body_len, .header = req_header, .header_ud = req,
                        .keys = p->keys, .nkeys = p->nkeys, .now = (int64_t)time(NULL),
                        .tolerance_s = p->cfg->tolerance_s};
    int rc = p->scheme->verify(&in, NULL, reason, err);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static void handler(const pb_http_request *req, pb_http_response *resp, void *arg)
{
    provider *p = arg;
    billing *b = p->b;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pb_err err;
    pb_err_clear(&err);
    pb_bsig_reason reason = PB_BSIG_OK;
    int rc = verify(p, req, &reason, &err);
    if (rc != 0 && (reason == PB_BSIG_MISMATCH || reason == PB_BSIG_NO_SECRET)) {
        /* A secret added a moment ago (rotation): look once more. */
        pthread_mutex_lock(&p->mu);
        int stale = time(NULL) - p->loaded_at >= SECRET_RELOAD_MIN_S;
        pthread_mutex_unlock(&p->mu);
        if (stale) {
            load_secrets(p);
            pb_err_clear(&err);
            rc = verify(p, req, &reason, &err);
        }
    }
    if (rc != 0) {
        pb_metrics_counter_add(b->m_deliveries, 1, p->cfg->name, pb_bsig_reason_name(reason), NULL);
        pb_log_warn("billing webhook refused", "provider", p->cfg->name, "reason", pb_bsig_reason_name(reason),
                    "error", err.msg, NULL);
        reply(resp, pb_bsig_reason_status(reason), pb_bsig_reason_name(reason), err.msg, 0);
        return;
    }
    billing_event ev;
    if (billing_event_parse(req->body, req->body_len, &ev, &err) != 0) {
        pb_metrics_counter_add(b->m_deliveries, 1, p->cfg->name, "MalformedEvent", NULL);
        pb_log_warn("billing webhook refused", "provider", p->cfg->name, "reason", "MalformedEvent", "error",
                    err.msg, NULL);
        reply(resp, 400, "MalformedEvent", err.msg, 0);
        return;
    }
    pb_binbox *inbox = atomic_load(&b->inbox);
    int inserted = 0;
    if (!inbox) {
        rc = pb_err_set(&err, PB_EUNAVAILABLE, "billing inbox not connected yet");
    } else {
        rc = pb_binbox_put(inbox, p->cfg->name, ev.id, ev.type, ev.created, req->body, req->body_len, &inserted,
                           &err);
    }
    if (rc != 0) {
        pb_metrics_counter_add(b->m_deliveries, 1, p->cfg->name, "InboxUnavailable", NULL);
        pb_log_warn("billing webhook not stored; the provider will retry", "provider", p->cfg->name, "event", ev.id,
                    "error", err.msg, NULL);
        pb_http_add_header(resp, "Retry-After", "5");
        reply(resp, 503, "InboxUnavailable", "the event could not be stored; retry later", 0);
        billing_event_clear(&ev);
        return;
    }
    pb_metrics_counter_add(b->m_deliveries, 1, p->cfg->name, inserted ? "Stored" : "Duplicate", NULL);
    pb_log_info("billing webhook stored", "provider", p->cfg->name, "event", ev.id, "type", ev.type, "duplicate",
                inserted ? "false" : "true", NULL);
    billing_event_clear(&ev);
    reply(resp, 200, NULL, NULL, !inserted);
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pb_metrics_histogram_observe(b->m_receive, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
                                 p->cfg->name, NULL);
    if (inserted) {
        pthread_mutex_lock(&b->mu);
        b->kick = 1;
        pthread_cond_signal(&b->cv);
        pthread_mutex_unlock(&b->mu);
    }
}

int billing_register_routes(billing *b, pb_http_server *srv, pb_err *err)
{
    for (size_t i = 0; b && i < b->nprovs; i++) {
        char path[128];
        snprintf(path, sizeof path, BILLING_ROUTE_PREFIX "%s", b->provs[i].cfg->name);
        int rc = pb_http_route_body(srv, "POST", path, b->cfg->max_body, handler, &b->provs[i], err);
        if (rc != 0)
            return pb_err_wrap(err, "billing route %s", path);
    }
    return 0;
}

/* ---- the applier ------------------------------------------------------------- */

static provider *provider_named(billing *b, const char *name)
{
    for (size_t i = 0; i < b->nprovs; i++)
        if (strcmp(b->provs[i].cfg->name, name) == 0)
            return &b->provs[i];
    return NULL;
}

/* The Subscription the event is about (a new string), or NULL. */
static char *find_subscription(billing *b, const provider *p, const billing_event *ev)
{
    json_t *all = store_list(b->op->subscriptions);
    char *found = NULL;
    int best = 0;
    size_t i;
    json_t *s;
    json_array_foreach(all, i, s) {
        const char *prov = NULL, *sid = NULL, *cid = NULL, *name = NULL;
        pb_json_opt_string(s, "spec.billing.provider", "manual", &prov, NULL);
        pb_json_opt_string(s, "spec.billing.subscriptionId", "", &sid, NULL);
        pb_json_opt_string(s, "spec.billing.customerId", "", &cid, NULL);
        pb_json_opt_string(s, "metadata.name", "", &name, NULL);
        if (strcmp(prov, p->sub_provider) != 0)
            continue;
        int score = (*sid && strcmp(sid, ev->object_id) == 0)                      ? 3
                    : (*cid && *ev->customer && strcmp(cid, ev->customer) == 0)   ? 2
                    : (*ev->meta_subscription && strcmp(name, ev->meta_subscription) == 0) ? 1
                                                                                   : 0;
        if (score > best) {
            best = score;
            free(found);
            found = strdup(name);
        }
    }
    json_decref(all);
    return found;
}

/* Apply one event to its Subscription: "applied", "stale", "duplicate",
 * or NULL with err set (retry later). */
static const char *apply_to(billing *b, const provider *p, const char *name, const billing_event *ev, pb_err *err)
{
    operator_ctx *op = b->op;
    for (int attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
        json_t *sub = NULL;
        int rc = kube_get(op->client, &OPERATOR_GVR_SUBSCRIPTIONS, NULL, name, NULL, &sub, err);
        if (rc != 0)
            return NULL;
        json_t *status = json_object_get(sub, "status");
        if (!json_is_object(status)) {
            status = json_object();
            json_object_set_new(sub, "status", status);
        }
        json_t *old = json_deep_copy(status);
        json_t *next = NULL;
        const char *outcome = billing_decide(json_object_get(status, "billing"), ev, p->sub_provider, &next);
        if (!next) {
            operator_event(op, sub, "Normal", "BillingEventIgnored", "%s event %s (%s, %lld) %s: %s", p->cfg->name,
                           ev->id, ev->type, (long long)ev->created, outcome,
                           strcmp(outcome, "stale") == 0 ? "older than the event already applied" : "already applied");
            json_decref(old);
            json_decref(sub);
            return outcome;
        }
        json_object_set_new(status, "billing", next);
        if (strcmp(ev->status, "active") == 0 && ev->period_end > 0) {
            char buf[PB_TIME_BUF];
            struct timespec ts = {(time_t)ev->period_end, 0};
            json_object_set_new(status, "paidThrough", json_string(pb_time_format_rfc3339(ts, buf, sizeof buf)));
        }
        long long gen = 0;
        pb_json_opt_int(sub, "metadata.generation", 0, &gen, NULL);
        char now[PB_TIME_BUF], msg[512];
        operator_now_str(op, now, sizeof now);
        snprintf(msg, sizeof msg, "%s event %s (%s) applied: provider status %s", p->cfg->name, ev->id, ev->type,
                 ev->status);
        cond_set(status, "BillingSynced", "True", "EventApplied", msg, gen, now);
        rc = operator_write_status(op, &OPERATOR_GVR_SUBSCRIPTIONS, sub, old, err);
        if (rc == 0)
            operator_event(op, sub, "Normal", "BillingEventApplied", "%s", msg);
        json_decref(old);
        json_decref(sub);
        if (rc == 0)
            return "applied";
        if (rc != PB_ECONFLICT)
            return NULL;
        pb_err_clear(err); /* someone wrote in between: decide again on the new object */
    }
    pb_err_set(err, PB_ECONFLICT, "subscription %s: status kept changing", name);
    return NULL;
}

static void apply_row(billing *b, pb_binbox *inbox, const pb_binbox_event *row)
{
    pb_err err;
    pb_err_clear(&err);
    provider *p = provider_named(b, row->provider);
    billing_event ev;
    const char *outcome = NULL;
    char *name = NULL;
    if (!p) {
        outcome = "unknown-provider";
    } else if (billing_event_parse(row->payload, strlen(row->payload), &ev, &err) != 0) {
        outcome = "malformed";
    } else {
        int fetch = billing_event_needs_fetch(p->cfg->fetch_back, &ev);
        const char *sid = billing_event_subject_id(&ev);
        if (fetch && *sid) {
            /* Confirm with the provider before acting: its current
             * subscription replaces the event's object. */
            json_t *cur = NULL;
            int frc = billing_usage_fetch_subscription(b->usage, p->cfg, sid, &cur, &err);
            if (frc == 0) {
                char said[64];
                snprintf(said, sizeof said, "%s", *ev.status ? ev.status : "(thin)");
                frc = billing_event_set_object(&ev, cur, &err);
                if (frc == 0) {
                    pb_metrics_counter_add(b->m_fetches, 1, p->cfg->name, "fetched", NULL);
                    pb_log_info("billing event confirmed with the provider", "provider", p->cfg->name, "event", ev.id,
                                "subscription", sid, "event_status", said, "provider_status", ev.status, NULL);
                }
            }
            if (frc == PB_ENOTFOUND) {
                pb_metrics_counter_add(b->m_fetches, 1, p->cfg->name, "not-found", NULL);
                outcome = "not-found-at-provider";
            } else if (frc != 0) {
                pb_metrics_counter_add(b->m_fetches, 1, p->cfg->name, "error", NULL);
                int delay = row->attempts < 8 ? 1 << row->attempts : 300;
                pb_log_warn("billing event not confirmed with the provider; retrying", "provider", row->provider,
                            "event", row->event_id, "error", err.msg, NULL);
                pb_err e2;
                pb_binbox_retry(inbox, row->seq, delay, err.msg, &e2);
                billing_event_clear(&ev);
                return;
            }
        } else if (fetch) {
            outcome = "thin-without-subscription-id";
        }
        if (outcome) {
            /* decided above */
        } else if (strcmp(ev.object_kind, "subscription") != 0) {
            outcome = "ignored";
        } else if (!billing_status_known(ev.status)) {
            outcome = "unknown-status";
        } else if (!(name = find_subscription(b, p, &ev))) {
            if (row->attempts < 3) {
                /* The Subscription may be created a moment after its
                 * first event: look again before giving up. */
                pb_binbox_retry(inbox, row->seq, 5 << row->attempts, "no matching Subscription", &err);
                billing_event_clear(&ev);
                return;
            }
            outcome = "no-subscription";
        } else {
            outcome = apply_to(b, p, name, &ev, &err);
        }
        if (!outcome) {
            int delay = row->attempts < 8 ? 1 << row->attempts : 300;
            pb_log_warn("billing event not applied; retrying", "provider", row->provider, "event", row->event_id,
                        "subscription", name ? name : "", "error", err.msg, NULL);
            pb_err e2;
            pb_binbox_retry(inbox, row->seq, delay, err.msg, &e2);
            free(name);
            billing_event_clear(&ev);
            return;
        }
        billing_event_clear(&ev);
    }
    pb_err e2;
    if (pb_binbox_done(inbox, row->seq, outcome, &e2) != 0)
        pb_log_warn("billing inbox: marking an event done failed (it will be applied again, harmlessly)", "event",
                    row->event_id, "error", e2.msg, NULL);
    pb_metrics_counter_add(b->m_events, 1, row->provider, outcome, NULL);
    pb_log_info("billing event processed", "provider", row->provider, "event", row->event_id, "type", row->type,
                "subscription", name ? name : "", "outcome", outcome, NULL);
    free(name);
}

static void connect_inbox(billing *b)
{
    pb_err err;
    pb_err_clear(&err);
    char *ci = NULL;
    int rc = operator_db_admin_conninfo(b->op, OP_DB_SHARED, &ci, &err);
    if (rc == 0 && !b->pool) {
        pb_pg_opts o = {.conninfo = ci, .connect_timeout_s = 5, .max_idle_per_db = 2, .max_idle_total = 3,
                        .cutoff = operator_db_cutoff, .cutoff_ud = b->op};
        rc = pb_pg_pool_new(&o, &b->pool, &err);
    }
    if (ci) {
        pb_secret_wipe(ci, strlen(ci));
        free(ci);
    }
    pb_binbox *inbox = NULL;
    if (rc == 0)
        rc = pb_binbox_open(b->pool, b->cfg->database, &inbox, &err);
    if (rc != 0) {
        pb_log_warn("billing inbox not available yet; deliveries get 503 until it is", "error", err.msg, NULL);
        return;
    }
    atomic_store(&b->inbox, inbox);
    pb_log_info("billing inbox connected", "database", b->cfg->database ? b->cfg->database : PB_BINBOX_DEFAULT_DB,
                NULL);
}

static void *applier_main(void *arg)
{
    billing *b = arg;
    pb_thread_name("billing", NULL);
    time_t last_secrets = 0, last_connect = 0, last_prune = 0, last_gauge = 0;
    for (;;) {
        pthread_mutex_lock(&b->mu);
        if (!b->stop && !b->kick) {
            struct timespec dl;
            clock_gettime(CLOCK_REALTIME, &dl);
            dl.tv_sec += 1;
            pthread_cond_timedwait(&b->cv, &b->mu, &dl);
        }
        int stop = b->stop;
        b->kick = 0;
        pthread_mutex_unlock(&b->mu);
        if (stop)
            break;
        time_t now = time(NULL);
        if (now - last_secrets >= SECRET_RELOAD_S) {
            for (size_t i = 0; i < b->nprovs; i++)
                load_secrets(&b->provs[i]);
            last_secrets = now;
        }
        pb_binbox *inbox = atomic_load(&b->inbox);
        if (!inbox) {
            if (now - last_connect >= 5) {
                last_connect = now;
                connect_inbox(b);
            }
            continue;
        }
        char why[128];
        if (!manager_is_leader(b->m) || manager_readyz(b->m, why, sizeof why) != 0)
            continue;
        pb_err err;
        pb_binbox_event *rows = NULL;
        size_t n = 0;
        if (pb_binbox_claim(inbox, CLAIM_BATCH, &rows, &n, &err) != 0) {
            pb_log_warn("billing inbox: claiming events failed", "error", err.msg, NULL);
            continue;
        }
        for (size_t i = 0; i < n; i++)
            apply_row(b, inbox, &rows[i]);
        pb_binbox_events_free(rows, n);
        if (n == CLAIM_BATCH) { /* more waiting: go on without sleeping */
            pthread_mutex_lock(&b->mu);
            b->kick = 1;
            pthread_mutex_unlock(&b->mu);
        }
        if (now - last_gauge >= 5) {
            long long pending = 0;
            if (pb_binbox_counts(inbox, &pending, NULL, &err) == 0)
                pb_metrics_gauge_set(b->m_pending, (double)pending, NULL);
            last_gauge = now;
        }
        if (now - last_prune >= PRUNE_EVERY_S) {
            long long removed = 0;
            if (pb_binbox_prune(inbox, b->cfg->retention_s, &removed, &err) != 0)
                pb_log_warn("billing inbox: pruning failed", "error", err.msg, NULL);
            last_prune = now;
        }
    }
    return NULL;
}

int billing_start(operator_ctx *op, manager *m, const billing_config *cfg, billing **out, pb_err *err)
{
    *out = NULL;
    if (!cfg->enabled)
        return 0;
    billing *b = calloc(1, sizeof *b);
    if (!b || !(b->provs = calloc(cfg->nproviders + 1, sizeof *b->provs))) {
        free(b);
        return pb_err_oom(err);
    }
    b->op = op;
    b->m = m;
    b->cfg = cfg;
    b->nprovs = cfg->nproviders;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    for (size_t i = 0; i < cfg->nproviders; i++) {
        provider *p = &b->provs[i];
        p->b = b;
        p->cfg = &cfg->providers[i];
        p->scheme = pb_bsig_scheme_find(p->cfg->scheme);
        p->sub_provider = strcmp(p->cfg->scheme, "stripe") == 0 ? "stripe" : "external";
        pthread_mutex_init(&p->mu, NULL);
    }
    static const char *const dl[] = {"provider", "result", NULL};
    static const char *const el[] = {"provider", "outcome", NULL};
    static const char *const pl[] = {"provider", NULL};
    pb_metrics_registry *reg = pb_metrics_default();
    int rc;
    if ((rc = pb_metrics_counter_register(reg, "paybill_billing_webhook_deliveries_total",
                                          "Billing webhook deliveries by provider and result (Stored, Duplicate, "
                                          "SignatureMismatch, TimestampOutsideTolerance, MalformedEvent, ...).",
                                          dl, &b->m_deliveries, err)) != 0 ||
        (rc = pb_metrics_counter_register(reg, "paybill_billing_events_total",
                                          "Billing events taken from the inbox, by outcome (applied, stale, "
                                          "duplicate, ignored, no-subscription, ...).",
                                          el, &b->m_events, err)) != 0 ||
        (rc = pb_metrics_gauge_register(reg, "paybill_billing_inbox_pending",
                                        "Billing events received and not applied yet.", NULL, &b->m_pending, err)) != 0 ||
        (rc = pb_metrics_histogram_register(reg, "paybill_billing_webhook_receive_seconds",
                                            "Time to verify and durably store a billing delivery.", pl, NULL, 0,
                                            &b->m_receive, err)) != 0) {
        billing_free(b);
        return rc;
    }
    if ((rc = pb_metrics_counter_register(reg, "paybill_billing_fetch_backs_total",
                                          "Subscriptions fetched back from the provider to confirm an event, by "
                                          "result (fetched, not-found, error).",
                                          el, &b->m_fetches, err)) != 0 ||
        (rc = billing_usage_start(op, m, cfg, &b->usage, err)) != 0) {
        billing_free(b);
        return rc;
    }
    if (pthread_create(&b->thread, NULL, applier_main, b) != 0) {
        billing_free(b);
        return pb_err_set(err, PB_EIO, "billing: cannot start the applier thread");
    }
    b->started = 1;
    *out = b;
    return 0;
}

void billing_free(billing *b)
{
    if (!b)
        return;
    if (b->started) {
        pthread_mutex_lock(&b->mu);
        b->stop = 1;
        pthread_cond_signal(&b->cv);
        pthread_mutex_unlock(&b->mu);
        pthread_join(b->thread, NULL);
    }
    billing_usage_free(b->usage);
    for (size_t i = 0; i < b->nprovs; i++) {
        keys_free(b->provs[i].keys, b->provs[i].nkeys);
        pthread_mutex_destroy(&b->provs[i].mu);
    }
    free(b->provs);
    pb_binbox_free(atomic_load(&b->inbox));
    pb_pg_pool_free(b->pool);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b);
}

int billing_usage_add(billing *b, const char *tenant, const char *meter, long long n, pb_err *err)
{
    if (!b)
        return pb_err_set(err, PB_EUNAVAILABLE, "billing is not configured");
    return billing_usage_counter_add(b->usage, tenant, meter, n, err);
}
