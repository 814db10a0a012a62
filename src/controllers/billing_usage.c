/*
 * billing_usage.c - usage metering out (see billing_usage.h): measuring
 * tenants at the end of each period, the outbox sender with backoff,
 * status.usage on Subscriptions, and the providers' API keys (also used
 * for fetch-back).
 */
#include "controllers/billing_usage.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controllers/opconfig.h"
#include "controllers/operator.h"
#include "controllers/tenant_database.h"
#include "controllers/tenantspec.h"
#include "kube/manager.h"
#include "provision/agentexec.h"
#include "provision/datamodel.h"
#include "provision/billing_api.h"
#include "provision/billing_outbox.h"
#include "provision/pg.h"
#include "server/billing_sig.h"
#include "util/json.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/secret.h"
#include "util/timeutil.h"
#include "util/proc.h"

#define KEY_RELOAD_S 10
#define SEND_BATCH 32
#define STATUS_ATTEMPTS 5

typedef struct api_key {
    pthread_mutex_t mu;
    char *key; /* NULL: not loaded (no Secret, or no such key in it) */
    time_t loaded_at;
} api_key;

struct billing_usage {
    operator_ctx *op;
    manager *m;
    const billing_config *cfg;
    api_key *keys; /* one per provider (cfg->providers order) */
    pb_pg_pool *pools[OP_DB_COUNT]; /* [OP_DB_SHARED] also holds the outbox */
    _Atomic(pb_bout *) outbox;
    int metering; /* some provider has meters */
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, kick;
    json_t *closed; /* "provider/subscription" -> last period_start closed (this process) */
    json_t *dirty;  /* "provider/subscription" -> true: status.usage to look at */
    pb_counter *m_reports, *m_reported;
    pb_gauge *m_pending, *m_failed;
};

static const char *sub_provider_of(const billing_provider_cfg *p)
{
    return strcmp(p->scheme, "stripe") == 0 ? "stripe" : "external";
}

/* ---- API keys ------------------------------------------------------------ */

static void load_key(billing_usage *u, size_t i)
{
    const billing_provider_cfg *p = &u->cfg->providers[i];
    api_key *k = &u->keys[i];
    if (!p->api_secret)
        return;
    kube_gvr secrets = {"", "v1", "secrets"};
    json_t *sec = NULL;
    pb_err err;
    pb_err_clear(&err);
    int rc = kube_get(u->op->client, &secrets, u->op->system_ns, p->api_secret, NULL, &sec, &err);
    char *key = NULL;
    if (rc == 0) {
        const char *b64 = json_string_value(json_object_get(json_object_get(sec, "data"), p->api_secret_key));
        unsigned char *raw = NULL;
        size_t len = 0;
        pb_err de;
        if (b64 && pb_secret_b64_decode(b64, strlen(b64), &raw, &len, &de) == 0 && len > 0 &&
            (key = malloc(len + 1))) {
            memcpy(key, raw, len);
            key[len] = 0;
            /* An API key with a NUL or a line break inside is refused. */
            if (strlen(key) != len || strpbrk(key, "\r\n")) {
                pb_secret_wipe(key, len);
                free(key);
                key = NULL;
            }
        }
        if (raw) {
            pb_secret_wipe(raw, len);
            free(raw);
        }
        json_decref(sec);
    } else if (rc != PB_ENOTFOUND) {
        pb_log_warn("billing: reading the API key failed; keeping the loaded one", "provider", p->name, "secret",
                    p->api_secret, "error", err.msg, NULL);
        return;
    }
    pthread_mutex_lock(&k->mu);
    int had = k->key != NULL;
    if (k->key) {
        pb_secret_wipe(k->key, strlen(k->key));
        free(k->key);
    }
    k->key = key;
    k->loaded_at = time(NULL);
    pthread_mutex_unlock(&k->mu);
    if (had != (key != NULL))
        pb_log_info(key ? "billing: API key loaded" : "billing: API key missing; usage reports and fetch-back wait",
                    "provider", p->name, "secret", p->api_secret, NULL);
}

/* A copy of the provider's key (wipe and free it), or NULL. */
static char *key_copy(billing_usage *u, const billing_provider_cfg *p)
{
    size_t i = (size_t)(p - u->cfg->providers);
    pthread_mutex_lock(&u->keys[i].mu);
    char *k = u->keys[i].key ? strdup(u->keys[i].key) : NULL;
    pthread_mutex_unlock(&u->keys[i].mu);
    return k;
}

static void key_free(char *k)
{
    if (k) {
        pb_secret_wipe(k, strlen(k));
        free(k);
    }
}

static pb_bapi_opts api_opts(const billing_provider_cfg *p)
{
    return (pb_bapi_opts){.base_url = p->api_base, .ca_file = p->api_ca_file, .timeout_ms = p->api_timeout_ms};
}

int billing_usage_fetch_subscription(billing_usage *u, const billing_provider_cfg *p, const char *id,
                                     json_t **object, pb_err *err)
{
    *object = NULL;
    char *key = key_copy(u, p);
    if (!key)
        return pb_err_set(err, PB_EUNAVAILABLE, "no API key loaded from Secret %s", p->api_secret);
    pb_bapi_opts o = api_opts(p);
    long status = 0;
    int rc = pb_bapi_stripe_get_subscription(&o, key, id, &status, object, err);
    key_free(key);
    if (rc != 0)
        return rc;
    if (status == 404)
        return pb_err_set(err, PB_ENOTFOUND, "the provider has no subscription %s", id);
    if (!*object)
        return pb_err_set(err, PB_EUNAVAILABLE, "fetching subscription %s: HTTP %ld", id, status);
    return 0;
}

/* ---- counters -------------------------------------------------------------- */

int billing_usage_counter_add(billing_usage *u, const char *tenant, const char *meter, long long n, pb_err *err)
{
    if (meter && (strcmp(meter, BILLING_METER_TENANT_ACTIVE) == 0 || strcmp(meter, BILLING_METER_STORAGE) == 0 ||
                  strcmp(meter, BILLING_METER_AGENT_STEPS) == 0 || strcmp(meter, BILLING_METER_AGENT_ROWS) == 0 ||
                  strcmp(meter, BILLING_METER_OBJECTS) == 0))
        return pb_err_set(err, PB_EINVAL,
                          "billing usage: \"%s\" is measured by the operator itself (adding to it would count "
                          "twice); use another meter name",
                          meter);
    pb_bout *o = u ? atomic_load(&u->outbox) : NULL;
    if (!o)
        return pb_err_set(err, PB_EUNAVAILABLE, "billing usage: the outbox is not connected yet");
    return pb_bout_add(o, tenant, meter, n, (int64_t)time(NULL), err);
}

/* ---- measuring ------------------------------------------------------------- */

static pb_pg_pool *pool_for(billing_usage *u, int which, pb_err *err)
{
    if (u->pools[which])
        return u->pools[which];
    char *ci = NULL;
    int rc = operator_db_admin_conninfo(u->op, which, &ci, err);
    if (rc == 0) {
        pb_pg_opts o = {.conninfo = ci, .connect_timeout_s = 5, .statement_timeout_ms = 30000,
                        .max_idle_per_db = 1, .max_idle_total = 3, .cutoff = operator_db_cutoff, .cutoff_ud = u->op};
        rc = pb_pg_pool_new(&o, &u->pools[which], err);
    }
    if (ci) {
        pb_secret_wipe(ci, strlen(ci));
        free(ci);
    }
    return rc == 0 ? u->pools[which] : NULL;
}

/* Bytes of an rls tenant's rows in the shared tables of `schema` (every
 * table with a tenant_id column): the sum of their sizes as stored
 * (pg_column_size of each row), without the tables' shared overhead and
 * indexes. One scan of the tenant's rows per table and period. */
static int measure_rls(PGconn *c, const char *schema, const char *tenant_id, long long *bytes, pb_err *err)
{
    const char *p[1] = {schema};
    PGresult *tables = NULL;
    int rc = pb_pg_query(c,
                         "SELECT c.relname FROM pg_catalog.pg_class c"
                         " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                         " JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = '" PB_DM_TENANT_COLUMN
                         "' AND NOT a.attisdropped"
                         " WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')",
                         1, p, &tables, err);
    for (int i = 0; rc == 0 && i < PQntuples(tables); i++) {
        char *sql = pb_pg_format(c, err,
                                 "SELECT coalesce(sum(pg_catalog.pg_column_size(t.*)), 0) FROM %I.%I t WHERE %I = $1",
                                 schema, PQgetvalue(tables, i, 0), PB_DM_TENANT_COLUMN);
        PGresult *r = NULL;
        const char *tp[1] = {tenant_id};
        rc = sql ? pb_pg_query(c, sql, 1, tp, &r, err) : PB_EINVAL;
        if (rc == 0)
            *bytes += atoll(PQgetvalue(r, 0, 0));
        PQclear(r);
        free(sql);
    }
    PQclear(tables);
    return rc;
}

/* Bytes of the tenant's data: its schema (schema layout), database
 * (database layout) or its rows in the shared tables (rls). */
static int measure_storage(billing_usage *u, const json_t *tenant, long long *bytes, pb_err *err)
{
    *bytes = 0;
    const char *layout = NULL, *server = NULL, *dbname = NULL, *schema = NULL;
    pb_json_opt_string(tenant, "status.database.layout", "", &layout, NULL);
    pb_json_opt_string(tenant, "status.database.server", "", &server, NULL);
    pb_json_opt_string(tenant, "status.database.name", "", &dbname, NULL);
    pb_json_opt_string(tenant, "status.database.schema", "", &schema, NULL);
    if (!*dbname || (strcmp(layout, "schema") != 0 && strcmp(layout, "database") != 0 && strcmp(layout, "rls") != 0))
        return 0;
    int which = -1;
    for (int w = 0; w < OP_DB_COUNT; w++)
        if (u->op->dbs[w].server && strcmp(u->op->dbs[w].server->name, server) == 0)
            which = w;
    if (which < 0)
        return pb_err_set(err, PB_ENOTFOUND, "server \"%s\" is not configured", server);
    pb_pg_pool *pool = pool_for(u, which, err);
    if (!pool)
        return pb_err_wrap(err, "storage of %s", dbname);
    PGconn *c = NULL;
    int rc = pb_pg_pool_get(pool, dbname, &c, err);
    PGresult *r = NULL;
    int rls = strcmp(layout, "rls") == 0;
    if (rc == 0 && rls) {
        char id[64];
        const char *tname = "";
        pb_json_opt_string(tenant, "metadata.name", "", &tname, NULL);
        snprintf(id, sizeof id, "%s", tname); /* the tenant_id value: the name with '-' as '_' */
        for (char *q = id; *q; q++)
            if (*q == '-')
                *q = '_';
        rc = measure_rls(c, schema, id, bytes, err);
    } else if (rc == 0 && strcmp(layout, "database") == 0) {
        rc = pb_pg_query(c, "SELECT pg_database_size(current_database())", 0, NULL, &r, err);
    } else if (rc == 0) {
        const char *p[1] = {schema};
        rc = pb_pg_query(c,
                         "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
                         " JOIN pg_namespace n ON n.oid = c.relnamespace"
                         " WHERE n.nspname = $1 AND c.relkind IN ('r', 'm', 'p')",
                         1, p, &r, err);
    }
    if (rc == 0 && !rls)
        *bytes = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (c) {
        pb_pg_pool_put(pool, c);
        if (strcmp(layout, "database") == 0)
            pb_pg_pool_forget_db(pool, dbname); /* a tenant's database: no idle connection kept */
    }
    return rc == 0 ? 0 : pb_err_wrap(err, "storage of %s", dbname);
}

/* Objects in the tenant's namespace, as its ResourceQuota tenant-quota
 * counts them (status.used of the object-count resources it limits: pods,
 * services, configmaps, secrets, persistentvolumeclaims, count/...). The
 * quota is in the operator's cache already, and counting through it needs
 * no right to list what it counts (the operator may not list Secrets). */
static long long measure_objects(billing_usage *u, const json_t *tenant)
{
    const char *ns = NULL;
    pb_json_opt_string(tenant, "status.namespace", NULL, &ns, NULL);
    if (!ns)
        return 0;
    char key[320];
    snprintf(key, sizeof key, "%s/%s", ns, TENANTSPEC_QUOTA_NAME);
    json_t *q = store_get(u->op->children[OP_CHILD_RESOURCEQUOTAS], key);
    static const char *const kinds[] = {"pods", "services", "configmaps", "secrets", "persistentvolumeclaims",
                                        "replicationcontrollers", NULL};
    long long n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(json_object_get(q, "status"), "used"), k, v) {
        int counted = strncmp(k, "count/", 6) == 0;
        for (size_t i = 0; !counted && kinds[i]; i++)
            counted = strcmp(k, kinds[i]) == 0;
        /* count/pods and pods would be the same objects twice. */
        if (counted && strncmp(k, "count/", 6) == 0) {
            for (size_t i = 0; kinds[i]; i++)
                if (strcmp(k + 6, kinds[i]) == 0 && json_object_get(json_object_get(json_object_get(q, "status"), "used"),
                                                                    kinds[i]))
                    counted = 0;
        }
        if (counted && json_is_string(v))
            n += atoll(json_string_value(v));
    }
    json_decref(q);
    return n;
}

static int64_t obj_created(const json_t *obj)
{
    const char *ts = NULL;
    struct timespec t = {0, 0};
    pb_err e;
    if (pb_json_opt_string(obj, "metadata.creationTimestamp", NULL, &ts, NULL) != 0 || !ts ||
        pb_time_parse_rfc3339(ts, &t, &e) != 0)
        return 0;
    return (int64_t)t.tv_sec;
}

/* Close period [ps, pe) of one subscription. 0 when closed (or nothing to
 * close), else an error (tried again at the next tick). */
static int close_one(billing_usage *u, pb_bout *o, const billing_provider_cfg *p, const json_t *sub, int64_t ps,
                     int64_t pe, pb_err *err)
{
    const char *name = NULL, *tname = NULL, *cust = NULL, *sid = NULL;
    pb_json_opt_string(sub, "metadata.name", "", &name, NULL);
    pb_json_opt_string(sub, "spec.tenantRef.name", "", &tname, NULL);
    pb_json_opt_string(sub, "spec.billing.customerId", "", &cust, NULL);
    pb_json_opt_string(sub, "spec.billing.subscriptionId", "", &sid, NULL);
    if (!*cust)
        pb_json_opt_string(sub, "status.billing.customerId", "", &cust, NULL);
    int stripe = strcmp(p->scheme, "stripe") == 0;
    if (!*cust && !stripe) /* the in-house system knows its subscription ids */
        cust = *sid ? sid : name;
    if (!*cust || !*tname)
        return 0; /* Stripe meters bill customers: nothing to report without one */
    json_t *tenant = store_get(u->op->tenants, tname);
    int64_t created = obj_created(tenant);
    pb_bout_meter *ms = calloc(p->nmeters + 1, sizeof *ms);
    if (!ms) {
        json_decref(tenant);
        return pb_err_oom(err);
    }
    size_t n = 0;
    int rc = 0;
    int have_ledger = -1;
    long long steps = 0, rows = 0;
    for (size_t i = 0; rc == 0 && i < p->nmeters; i++) {
        const char *meter = p->meters[i].meter;
        pb_bout_meter *m = &ms[n];
        *m = (pb_bout_meter){.meter = meter, .event_name = p->meters[i].event_name, .kind = PB_BOUT_COUNTER};
        if (strcmp(meter, BILLING_METER_TENANT_ACTIVE) == 0) {
            const char *phase = NULL;
            pb_json_opt_string(tenant, "status.phase", "", &phase, NULL);
            m->kind = PB_BOUT_GAUGE;
            m->value = tenant && strcmp(phase, "Active") == 0 && created < pe;
        } else if (strcmp(meter, BILLING_METER_STORAGE) == 0) {
            m->kind = PB_BOUT_GAUGE;
            if (tenant && (rc = measure_storage(u, tenant, &m->value, err)) != 0)
                break;
        } else if (strcmp(meter, BILLING_METER_OBJECTS) == 0) {
            m->kind = PB_BOUT_GAUGE;
            m->value = tenant ? measure_objects(u, tenant) : 0;
        } else if (strcmp(meter, BILLING_METER_AGENT_STEPS) == 0 || strcmp(meter, BILLING_METER_AGENT_ROWS) == 0) {
            if (have_ledger < 0) {
                pb_tdb *tdb = NULL;
                char id[64], schema[64];
                pb_err le;
                pb_err_clear(&le);
                have_ledger = tenant && operator_tenant_db(u->op, tenant, &tdb, id, sizeof id, schema, &le) == 0 &&
                              pb_ax_usage(tdb, id, NULL, NULL, 0, NULL, &rows, &steps, &le) == 0;
            }
            if (!have_ledger)
                continue; /* no reading: the mark stays, the growth is reported with a later period */
            m->kind = PB_BOUT_CUMULATIVE;
            m->value = strcmp(meter, BILLING_METER_AGENT_STEPS) == 0 ? steps : rows;
            /* A tenant created in this period: its whole ledger is new. */
            m->first_mark = created >= ps ? 0 : m->value;
        }
        n++;
    }
    json_decref(tenant);
    int closed = 0;
    if (rc == 0) {
        pb_bout_close c = {.provider = p->name, .subscription = name, .tenant = tname, .customer = cust,
                           .period_start = ps, .period_end = pe, .meters = ms, .nmeters = n};
        rc = pb_bout_close_period(o, &c, &closed, err);
    }
    free(ms);
    if (rc == 0 && closed) {
        char a[32], b[32];
        snprintf(a, sizeof a, "%" PRId64, ps);
        snprintf(b, sizeof b, "%" PRId64, pe);
        pb_log_info("billing usage: period closed", "provider", p->name, "subscription", name, "tenant", tname,
                    "periodStart", a, "periodEnd", b, NULL);
    }
    return rc;
}

static void collect(billing_usage *u, pb_bout *o, time_t now)
{
    int64_t period = u->cfg->usage_period_s;
    int64_t pe = ((int64_t)now / period) * period, ps = pe - period;
    json_t *subs = store_list(u->op->subscriptions);
    for (size_t pi = 0; pi < u->cfg->nproviders; pi++) {
        const billing_provider_cfg *p = &u->cfg->providers[pi];
        if (p->nmeters == 0)
            continue;
        size_t i;
        json_t *s;
        json_array_foreach(subs, i, s) {
            const char *prov = NULL, *name = NULL;
            pb_json_opt_string(s, "spec.billing.provider", "manual", &prov, NULL);
            pb_json_opt_string(s, "metadata.name", "", &name, NULL);
            if (strcmp(prov, sub_provider_of(p)) != 0)
                continue;
            char key[400];
            snprintf(key, sizeof key, "%s/%s", p->name, name);
            json_t *last = json_object_get(u->closed, key);
            if (last && json_integer_value(last) >= ps)
                continue;
            if (obj_created(s) >= pe) { /* born after the period: nothing to close */
                json_object_set_new(u->closed, key, json_integer(ps));
                continue;
            }
            pb_err err;
            pb_err_clear(&err);
            if (close_one(u, o, p, s, ps, pe, &err) != 0) {
                pb_log_warn("billing usage: closing the period failed; trying again", "provider", p->name,
                            "subscription", name, "error", err.msg, NULL);
                continue;
            }
            json_object_set_new(u->closed, key, json_integer(ps));
            json_object_set_new(u->dirty, key, json_true());
        }
    }
    json_decref(subs);
}

/* ---- sending --------------------------------------------------------------- */

static const billing_provider_cfg *provider_named(billing_usage *u, const char *name)
{
    for (size_t i = 0; i < u->cfg->nproviders; i++)
        if (strcmp(u->cfg->providers[i].name, name) == 0)
            return &u->cfg->providers[i];
    return NULL;
}

/* Send one row: 0 with *status the HTTP status, or PB_EUNAVAILABLE. */
static int send_row(billing_usage *u, const billing_provider_cfg *p, const pb_bout_row *r, long *status,
                    char **body, pb_err *err)
{
    char *key = key_copy(u, p);
    if (!key)
        return pb_err_set(err, PB_EUNAVAILABLE, "no API key loaded from Secret %s", p->api_secret);
    pb_bapi_opts o = api_opts(p);
    int rc;
    if (strcmp(p->scheme, "stripe") == 0) {
        /* The last second of the period: the usage belongs to it. */
        pb_bapi_meter_event ev = {.event_name = r->event_name, .customer = r->customer,
                                  .identifier = r->identifier, .value = r->value, .timestamp = r->period_end - 1};
        rc = pb_bapi_stripe_meter_event(&o, key, &ev, status, body, err);
    } else {
        json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "identifier", r->identifier,
                              "event_name", r->event_name, "meter", r->meter, "customer", r->customer,
                              "subscription", r->subscription, "tenant", r->tenant, "value", (json_int_t)r->value,
                              "timestamp", (json_int_t)(r->period_end - 1), "period_start",
                              (json_int_t)r->period_start, "period_end", (json_int_t)r->period_end);
        char *doc = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(j);
        int64_t t = (int64_t)time(NULL);
        pb_bsig_key k = {(const unsigned char *)key, strlen(key)};
        char *sig = NULL;
        rc = doc ? pb_bsig_sign("hmac-sha256", &k, t, doc, strlen(doc), &sig, err) : pb_err_oom(err);
        if (rc == 0) {
            char h1[64], h2[160], h3[160];
            snprintf(h1, sizeof h1, "Paybill-Webhook-Timestamp: %" PRId64, t);
            snprintf(h2, sizeof h2, "Paybill-Webhook-Signature: %s", sig);
            snprintf(h3, sizeof h3, "Idempotency-Key: %s", r->identifier);
            const char *hs[] = {h1, h2, h3, NULL};
            rc = pb_bapi_post_json(&o, p->usage_url, doc, hs, status, body, err);
        }
        free(sig);
        free(doc);
    }
    key_free(key);
    return rc;
}

static void report_refused(billing_usage *u, const pb_bout_row *r, long status, const char *body)
{
    json_t *sub = store_get(u->op->subscriptions, r->subscription);
    if (sub)
        operator_event(u->op, sub, "Warning", "UsageReportRefused",
                       "%s refused usage report %s (%s = %lld for the period from %" PRId64 "): HTTP %ld: %.200s",
                       r->provider, r->identifier, r->meter, r->value, r->period_start, status, body ? body : "");
    json_decref(sub);
}

static int send_due(billing_usage *u, pb_bout *o)
{
    pb_err err;
    pb_err_clear(&err);
    pb_bout_row *rows = NULL;
    size_t n = 0;
    if (pb_bout_claim(o, SEND_BATCH, &rows, &n, &err) != 0) {
        pb_log_warn("billing usage: reading the outbox failed", "error", err.msg, NULL);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        const pb_bout_row *r = &rows[i];
        const billing_provider_cfg *p = provider_named(u, r->provider);
        long status = 0;
        char *body = NULL;
        pb_err se;
        pb_err_clear(&se);
        int rc = p ? send_row(u, p, r, &status, &body, &se)
                   : pb_err_set(&se, PB_EUNAVAILABLE, "provider %s is not configured (any more)", r->provider);
        const char *result;
        pb_err me;
        if (rc == 0 && status >= 200 && status < 300) {
            result = "sent";
            rc = pb_bout_sent(o, r->seq, (int)status, &me);
            pb_metrics_counter_add(u->m_reported, (double)r->value, r->provider, r->meter, NULL);
        } else if (rc == 0 && status >= 400 && status < 500 && status != 408 && status != 409 && status != 429) {
            result = "refused";
            rc = pb_bout_failed(o, r->seq, (int)status, body, &me);
            report_refused(u, r, status, body);
        } else {
            result = "retry";
            long long d = u->cfg->usage_retry_base_s;
            for (int a = 0; a < r->attempts && d < u->cfg->usage_retry_max_s; a++)
                d *= 2;
            if (d > u->cfg->usage_retry_max_s)
                d = u->cfg->usage_retry_max_s;
            char msg[300];
            snprintf(msg, sizeof msg, "%.290s", rc != 0 ? se.msg : "");
            if (rc == 0)
                snprintf(msg, sizeof msg, "HTTP %ld: %.200s", status, body ? body : "");
            rc = pb_bout_retry(o, r->seq, (int)d, (int)status, msg, &me);
            char ds[32];
            snprintf(ds, sizeof ds, "%llds", d);
            pb_log_warn("billing usage: report not accepted; retrying", "provider", r->provider, "identifier",
                        r->identifier, "in", ds, "error", msg, NULL);
        }
        if (rc != 0)
            pb_log_warn("billing usage: recording a report's outcome failed (it is sent again: same identifier)",
                        "identifier", r->identifier, "error", me.msg, NULL);
        pb_metrics_counter_add(u->m_reports, 1, r->provider, result, NULL);
        if (strcmp(result, "retry") != 0) {
            char key[400];
            snprintf(key, sizeof key, "%s/%s", r->provider, r->subscription);
            json_object_set_new(u->dirty, key, json_true());
        }
        free(body);
    }
    pb_bout_rows_free(rows, n);
    return n == SEND_BATCH;
}

/* ---- status.usage ------------------------------------------------------- */

static json_t *usage_status(const char *provider, const json_t *rep)
{
    char a[PB_TIME_BUF], b[PB_TIME_BUF];
    struct timespec ts = {(time_t)json_integer_value(json_object_get(rep, "periodStart")), 0};
    struct timespec te = {(time_t)json_integer_value(json_object_get(rep, "periodEnd")), 0};
    json_t *s = json_pack("{s:s, s:s, s:s, s:O}", "provider", provider, "periodStart",
                          pb_time_format_rfc3339(ts, a, sizeof a), "periodEnd", pb_time_format_rfc3339(te, b, sizeof b),
                          "meters", json_object_get(rep, "meters"));
    if (s && json_object_get(rep, "failed"))
        json_object_set(s, "failed", json_object_get(rep, "failed"));
    return s;
}

/* Write status.usage of one subscription if its last reported period is
 * not the one shown. */
static int status_one(billing_usage *u, pb_bout *o, const char *provider, const char *name, pb_err *err)
{
    json_t *rep = NULL;
    int rc = pb_bout_reported(o, provider, name, &rep, err);
    if (rc != 0 || !rep)
        return rc;
    json_t *want = usage_status(provider, rep);
    json_decref(rep);
    if (!want)
        return pb_err_oom(err);
    operator_ctx *op = u->op;
    for (int attempt = 0; attempt < STATUS_ATTEMPTS; attempt++) {
        json_t *sub = NULL;
        if ((rc = kube_get(op->client, &OPERATOR_GVR_SUBSCRIPTIONS, NULL, name, NULL, &sub, err)) != 0)
            break;
        json_t *status = json_object_get(sub, "status");
        if (!json_is_object(status)) {
            status = json_object();
            json_object_set_new(sub, "status", status);
        }
        if (json_equal(json_object_get(status, "usage"), want)) {
            json_decref(sub);
            break;
        }
        json_t *old = json_deep_copy(status);
        json_object_set(status, "usage", want);
        rc = operator_write_status(op, &OPERATOR_GVR_SUBSCRIPTIONS, sub, old, err);
        if (rc == 0)
            operator_event(op, sub, "Normal", "UsageReported", "usage for %s - %s reported to %s",
                           json_string_value(json_object_get(want, "periodStart")),
                           json_string_value(json_object_get(want, "periodEnd")), provider);
        json_decref(old);
        json_decref(sub);
        if (rc != PB_ECONFLICT)
            break;
        pb_err_clear(err);
    }
    json_decref(want);
    return rc;
}

static void statuses(billing_usage *u, pb_bout *o)
{
    const char *key;
    json_t *v, *tmp;
    json_object_foreach_safe(u->dirty, tmp, key, v) {
        char prov[200];
        const char *slash = strchr(key, '/');
        if (!slash || (size_t)(slash - key) >= sizeof prov) {
            json_object_del(u->dirty, key);
            continue;
        }
        snprintf(prov, sizeof prov, "%.*s", (int)(slash - key), key);
        pb_err err;
        pb_err_clear(&err);
        int rc = status_one(u, o, prov, slash + 1, &err);
        if (rc == 0 || rc == PB_ENOTFOUND)
            json_object_del(u->dirty, key);
        else
            pb_log_warn("billing usage: writing status.usage failed; trying again", "subscription", slash + 1,
                        "error", err.msg, NULL);
    }
}

/* ---- the thread ----------------------------------------------------------- */

static void connect_outbox(billing_usage *u)
{
    pb_err err;
    pb_err_clear(&err);
    pb_pg_pool *pool = pool_for(u, OP_DB_SHARED, &err);
    pb_bout *o = NULL;
    if (!pool || pb_bout_open(pool, u->cfg->database, u->cfg->usage_period_s, &o, &err) != 0) {
        pb_log_warn("billing usage outbox not available yet", "error", err.msg, NULL);
        return;
    }
    atomic_store(&u->outbox, o);
    pb_log_info("billing usage outbox connected", NULL);
}

static void *usage_main(void *arg)
{
    billing_usage *u = arg;
    pb_thread_name("billing-usage", NULL);
    time_t last_keys = 0, last_connect = 0, last_gauge = 0;
    int was_leader = 0;
    for (;;) {
        pthread_mutex_lock(&u->mu);
        if (!u->stop && !u->kick) {
            struct timespec dl;
            clock_gettime(CLOCK_REALTIME, &dl);
            dl.tv_sec += 1;
            pthread_cond_timedwait(&u->cv, &u->mu, &dl);
        }
        int stop = u->stop;
        u->kick = 0;
        pthread_mutex_unlock(&u->mu);
        if (stop)
            break;
        time_t now = time(NULL);
        if (now - last_keys >= KEY_RELOAD_S) {
            for (size_t i = 0; i < u->cfg->nproviders; i++)
                load_key(u, i);
            last_keys = now;
        }
        pb_bout *o = atomic_load(&u->outbox);
        if (!o) {
            if (now - last_connect >= 5) {
                last_connect = now;
                connect_outbox(u);
            }
            continue;
        }
        char why[128];
        int lead = manager_is_leader(u->m) && manager_readyz(u->m, why, sizeof why) == 0;
        if (!lead) {
            was_leader = 0;
            continue;
        }
        if (!was_leader) { /* new leader: look at every subscription's status.usage once */
            json_t *subs = store_list(u->op->subscriptions);
            size_t i;
            json_t *s;
            json_array_foreach(subs, i, s) {
                for (size_t pi = 0; pi < u->cfg->nproviders; pi++) {
                    const char *prov = NULL, *name = NULL;
                    pb_json_opt_string(s, "spec.billing.provider", "manual", &prov, NULL);
                    pb_json_opt_string(s, "metadata.name", "", &name, NULL);
                    if (u->cfg->providers[pi].nmeters && strcmp(prov, sub_provider_of(&u->cfg->providers[pi])) == 0) {
                        char key[400];
                        snprintf(key, sizeof key, "%s/%s", u->cfg->providers[pi].name, name);
                        json_object_set_new(u->dirty, key, json_true());
                    }
                }
            }
            json_decref(subs);
            was_leader = 1;
        }
        if (!u->metering)
            continue;
        collect(u, o, now);
        int more = send_due(u, o);
        statuses(u, o);
        if (more) {
            pthread_mutex_lock(&u->mu);
            u->kick = 1;
            pthread_mutex_unlock(&u->mu);
        }
        if (now - last_gauge >= 5) {
            long long pending = 0, failed = 0;
            pb_err err;
            if (pb_bout_counts(o, &pending, &failed, &err) == 0) {
                pb_metrics_gauge_set(u->m_pending, (double)pending, NULL);
                pb_metrics_gauge_set(u->m_failed, (double)failed, NULL);
            }
            last_gauge = now;
        }
    }
    return NULL;
}

int billing_usage_start(operator_ctx *op, manager *m, const billing_config *cfg, billing_usage **out, pb_err *err)
{
    *out = NULL;
    billing_usage *u = calloc(1, sizeof *u);
    if (!u || !(u->keys = calloc(cfg->nproviders + 1, sizeof *u->keys)) || !(u->closed = json_object()) ||
        !(u->dirty = json_object())) {
        billing_usage_free(u);
        return pb_err_oom(err);
    }
    u->op = op;
    u->m = m;
    u->cfg = cfg;
    pthread_mutex_init(&u->mu, NULL);
    pthread_cond_init(&u->cv, NULL);
    for (size_t i = 0; i < cfg->nproviders; i++) {
        pthread_mutex_init(&u->keys[i].mu, NULL);
        u->metering |= cfg->providers[i].nmeters > 0;
    }
    static const char *const rl[] = {"provider", "result", NULL};
    static const char *const ml[] = {"provider", "meter", NULL};
    pb_metrics_registry *reg = pb_metrics_default();
    int rc;
    if ((rc = pb_metrics_counter_register(reg, "paybill_billing_usage_reports_total",
                                          "Usage reports sent to billing providers, by result (sent, retry, "
                                          "refused).",
                                          rl, &u->m_reports, err)) != 0 ||
        (rc = pb_metrics_counter_register(reg, "paybill_billing_usage_reported_total",
                                          "Usage accepted by billing providers, summed by meter.", ml, &u->m_reported,
                                          err)) != 0 ||
        (rc = pb_metrics_gauge_register(reg, "paybill_billing_usage_outbox_pending",
                                        "Usage reports waiting to be sent (including retries).", NULL, &u->m_pending,
                                        err)) != 0 ||
        (rc = pb_metrics_gauge_register(reg, "paybill_billing_usage_outbox_failed",
                                        "Usage reports the provider refused for good (4xx).", NULL, &u->m_failed,
                                        err)) != 0) {
        billing_usage_free(u);
        return rc;
    }
    if (pthread_create(&u->thread, NULL, usage_main, u) != 0) {
        billing_usage_free(u);
        return pb_err_set(err, PB_EIO, "billing: cannot start the usage thread");
    }
    u->started = 1;
    *out = u;
    return 0;
}

void billing_usage_free(billing_usage *u)
{
    if (!u)
        return;
    if (u->started) {
        pthread_mutex_lock(&u->mu);
        u->stop = 1;
        pthread_cond_signal(&u->cv);
        pthread_mutex_unlock(&u->mu);
        pthread_join(u->thread, NULL);
        pthread_mutex_destroy(&u->mu);
        pthread_cond_destroy(&u->cv);
    }
    for (size_t i = 0; u->keys && u->cfg && i < u->cfg->nproviders; i++) {
        key_free(u->keys[i].key);
        pthread_mutex_destroy(&u->keys[i].mu);
    }
    free(u->keys);
    pb_bout_free(atomic_load(&u->outbox));
    for (int w = 0; w < OP_DB_COUNT; w++)
        pb_pg_pool_free(u->pools[w]);
    json_decref(u->closed);
    json_decref(u->dirty);
    free(u);
}
