/*
 * billing_outbox.c - usage counters, period closing and the usage-report
 * outbox in PostgreSQL (see billing_outbox.h).
 */
#include "provision/billing_outbox.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provision/billing_inbox.h"
#include "util/secret.h"

struct pb_bout {
    pb_pg_pool *pool;
    char *db;
    int64_t period_s;
};

static const char SCHEMA_SQL[] =
    "CREATE TABLE IF NOT EXISTS billing_usage_counters ("
    " tenant text NOT NULL, meter text NOT NULL, period_start bigint NOT NULL,"
    " value bigint NOT NULL DEFAULT 0, closed boolean NOT NULL DEFAULT false,"
    " PRIMARY KEY (tenant, meter, period_start));"
    "CREATE TABLE IF NOT EXISTS billing_usage_marks ("
    " tenant text NOT NULL, meter text NOT NULL, value bigint NOT NULL,"
    " PRIMARY KEY (tenant, meter));"
    "CREATE TABLE IF NOT EXISTS billing_usage_periods ("
    " provider text NOT NULL, subscription text NOT NULL, tenant text NOT NULL,"
    " period_start bigint NOT NULL, period_end bigint NOT NULL,"
    " closed_at timestamptz NOT NULL DEFAULT now(),"
    " PRIMARY KEY (provider, subscription, period_start));"
    "CREATE TABLE IF NOT EXISTS billing_outbox ("
    " seq bigserial PRIMARY KEY,"
    " identifier text NOT NULL UNIQUE,"
    " provider text NOT NULL, subscription text NOT NULL, tenant text NOT NULL,"
    " customer text NOT NULL, meter text NOT NULL, event_name text NOT NULL,"
    " period_start bigint NOT NULL, period_end bigint NOT NULL, value bigint NOT NULL,"
    " created_at timestamptz NOT NULL DEFAULT now(),"
    " attempts integer NOT NULL DEFAULT 0,"
    " next_attempt_at timestamptz NOT NULL DEFAULT now(),"
    " last_status integer, last_error text,"
    " sent_at timestamptz, failed_at timestamptz);"
    "CREATE INDEX IF NOT EXISTS billing_outbox_due ON billing_outbox (next_attempt_at, seq)"
    " WHERE sent_at IS NULL AND failed_at IS NULL;"
    "CREATE INDEX IF NOT EXISTS billing_outbox_period ON billing_outbox (provider, subscription, period_start);";

int pb_bout_open(pb_pg_pool *pool, const char *dbname, int64_t period_s, pb_bout **out, pb_err *err)
{
    *out = NULL;
    if (period_s <= 0)
        return pb_err_set(err, PB_EINVAL, "billing outbox: period must be positive");
    /* The inbox makes the database when missing (and its own table). */
    pb_binbox *ib = NULL;
    int rc = pb_binbox_open(pool, dbname, &ib, err);
    pb_binbox_free(ib);
    if (rc != 0)
        return rc;
    const char *db = dbname ? dbname : PB_BINBOX_DEFAULT_DB;
    PGconn *c = NULL;
    if ((rc = pb_pg_pool_get(pool, db, &c, err)) != 0)
        return pb_err_wrap(err, "billing outbox: database %s", db);
    rc = pb_pg_exec(c, SCHEMA_SQL, err);
    if (rc == PB_ECONFLICT || rc == PB_EEXIST) /* another replica at the same moment */
        rc = pb_pg_exec(c, SCHEMA_SQL, err);
    pb_pg_pool_put(pool, c);
    if (rc != 0)
        return pb_err_wrap(err, "billing outbox: creating tables in %s", db);
    pb_bout *o = calloc(1, sizeof *o);
    if (!o || !(o->db = strdup(db))) {
        free(o);
        return pb_err_oom(err);
    }
    o->pool = pool;
    o->period_s = period_s;
    *out = o;
    return 0;
}

void pb_bout_free(pb_bout *o)
{
    if (!o)
        return;
    free(o->db);
    free(o);
}

int pb_bout_meter_valid(const char *m)
{
    size_t n = m ? strlen(m) : 0;
    return n >= 1 && n <= 63 && m[0] >= 'a' && m[0] <= 'z' &&
           strspn(m, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

/* One parameterised statement on a pooled connection. */
static int q(pb_bout *o, const char *sql, int n, const char *const *params, PGresult **res, pb_err *err)
{
    PGconn *c = NULL;
    int rc = pb_pg_pool_get(o->pool, o->db, &c, err);
    if (rc == 0)
        rc = pb_pg_query(c, sql, n, params, res, err);
    pb_pg_pool_put(o->pool, c);
    return rc == 0 ? 0 : pb_err_wrap(err, "billing outbox");
}

int pb_bout_add(pb_bout *o, const char *tenant, const char *meter, long long n, int64_t now, pb_err *err)
{
    if (!tenant || !*tenant || !pb_bout_meter_valid(meter) || n < 0)
        return pb_err_set(err, PB_EINVAL, "billing usage: tenant, a meter name ([a-z][a-z0-9_]{0,62}) and n >= 0 "
                                          "are required");
    if (n == 0)
        return 0;
    int64_t bucket = (now / o->period_s) * o->period_s;
    char nb[32];
    snprintf(nb, sizeof nb, "%lld", n);
    /* A bucket closed a moment ago (the period ended while we were
     * called): the increment belongs to the next open one. */
    for (int i = 0; i < 4; i++, bucket += o->period_s) {
        char bb[32];
        snprintf(bb, sizeof bb, "%" PRId64, bucket);
        const char *p[4] = {tenant, meter, bb, nb};
        PGresult *r = NULL;
        int rc = q(o,
                   "INSERT INTO billing_usage_counters (tenant, meter, period_start, value)"
                   " VALUES ($1, $2, $3::bigint, $4::bigint)"
                   " ON CONFLICT (tenant, meter, period_start) DO UPDATE"
                   " SET value = billing_usage_counters.value + EXCLUDED.value"
                   " WHERE NOT billing_usage_counters.closed",
                   4, p, &r, err);
        int done = rc == 0 && atoi(PQcmdTuples(r)) == 1;
        PQclear(r);
        if (rc != 0)
            return rc;
        if (done)
            return 0;
    }
    return pb_err_set(err, PB_ECONFLICT, "billing usage: every bucket ahead of now is closed (clock skew?)");
}

void pb_bout_identifier(const char *provider, const char *subscription, const char *tenant, const char *meter,
                        int64_t period_start, char *buf, size_t n)
{
    char in[1200], hex[PB_SHA256_HEX_LEN];
    int len = snprintf(in, sizeof in, "%s%c%s%c%s%c%s%c%" PRId64, provider, 0, subscription, 0, tenant, 0, meter, 0,
                       period_start);
    pb_err e;
    if (len < 0 || (size_t)len >= sizeof in || pb_secret_sha256_hex(in, (size_t)len, hex, &e) != 0)
        snprintf(hex, sizeof hex, "%s", "0000000000000000000000000000000000000000000000000000000000000000");
    snprintf(buf, n, "pbu-%" PRId64 "-%.32s", period_start, hex);
}

/* Inside the close transaction: the value of one meter and its side
 * effects (counters closed, mark moved). */
static int meter_value(PGconn *c, const pb_bout_close *cl, const pb_bout_meter *m, long long *value, pb_err *err)
{
    char end[32], v[32], fm[32];
    snprintf(end, sizeof end, "%" PRId64, cl->period_end);
    PGresult *r = NULL;
    int rc = 0;
    switch (m->kind) {
    case PB_BOUT_GAUGE:
        *value = m->value;
        return 0;
    case PB_BOUT_COUNTER: {
        const char *p[3] = {cl->tenant, m->meter, end};
        rc = pb_pg_query(c,
                         "WITH c AS (UPDATE billing_usage_counters SET closed = true"
                         " WHERE tenant = $1 AND meter = $2 AND NOT closed AND period_start < $3::bigint"
                         " RETURNING value) SELECT coalesce(sum(value), 0) FROM c",
                         3, p, &r, err);
        if (rc == 0)
            *value = atoll(PQgetvalue(r, 0, 0));
        PQclear(r);
        return rc;
    }
    case PB_BOUT_CUMULATIVE: {
        snprintf(v, sizeof v, "%lld", m->value);
        snprintf(fm, sizeof fm, "%lld", m->first_mark);
        const char *p[4] = {cl->tenant, m->meter, v, fm};
        /* The old mark (or first_mark), then the new one stored. */
        rc = pb_pg_query(c,
                         "WITH old AS (SELECT value FROM billing_usage_marks WHERE tenant = $1 AND meter = $2"
                         " FOR UPDATE), up AS (INSERT INTO billing_usage_marks (tenant, meter, value)"
                         " VALUES ($1, $2, $3::bigint) ON CONFLICT (tenant, meter) DO UPDATE SET value = EXCLUDED.value)"
                         " SELECT coalesce((SELECT value FROM old), $4::bigint)",
                         4, p, &r, err);
        if (rc == 0) {
            long long mark = atoll(PQgetvalue(r, 0, 0));
            *value = m->value >= mark ? m->value - mark : m->value;
        }
        PQclear(r);
        return rc;
    }
    }
    return pb_err_set(err, PB_EINVAL, "billing outbox: unknown meter kind");
}

int pb_bout_close_period(pb_bout *o, const pb_bout_close *cl, int *closed, pb_err *err)
{
    *closed = 0;
    if (!cl->provider || !cl->subscription || !cl->tenant || !cl->customer || cl->period_end <= cl->period_start)
        return pb_err_set(err, PB_EINVAL, "billing outbox: a period needs provider, subscription, tenant, customer "
                                          "and start < end");
    PGconn *c = NULL;
    int rc = pb_pg_pool_get(o->pool, o->db, &c, err);
    if (rc != 0)
        return pb_err_wrap(err, "billing outbox");
    if ((rc = pb_pg_begin(c, err)) != 0) {
        pb_pg_pool_put(o->pool, c);
        return pb_err_wrap(err, "billing outbox");
    }
    char ps[32], pe[32];
    snprintf(ps, sizeof ps, "%" PRId64, cl->period_start);
    snprintf(pe, sizeof pe, "%" PRId64, cl->period_end);
    const char *p[5] = {cl->provider, cl->subscription, cl->tenant, ps, pe};
    PGresult *r = NULL;
    rc = pb_pg_query(c,
                     "INSERT INTO billing_usage_periods (provider, subscription, tenant, period_start, period_end)"
                     " VALUES ($1, $2, $3, $4::bigint, $5::bigint) ON CONFLICT DO NOTHING",
                     5, p, &r, err);
    int fresh = rc == 0 && atoi(PQcmdTuples(r)) == 1;
    PQclear(r);
    for (size_t i = 0; rc == 0 && fresh && i < cl->nmeters; i++) {
        const pb_bout_meter *m = &cl->meters[i];
        long long value = 0;
        if ((rc = meter_value(c, cl, m, &value, err)) != 0 || value <= 0)
            continue;
        char id[PB_BOUT_ID_MAX + 1], vb[32];
        pb_bout_identifier(cl->provider, cl->subscription, cl->tenant, m->meter, cl->period_start, id, sizeof id);
        snprintf(vb, sizeof vb, "%lld", value);
        const char *ip[10] = {id, cl->provider, cl->subscription, cl->tenant, cl->customer,
                              m->meter, m->event_name ? m->event_name : m->meter, ps, pe, vb};
        rc = pb_pg_query(c,
                         "INSERT INTO billing_outbox (identifier, provider, subscription, tenant, customer, meter,"
                         " event_name, period_start, period_end, value)"
                         " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::bigint, $9::bigint, $10::bigint)"
                         " ON CONFLICT (identifier) DO NOTHING",
                         10, ip, NULL, err);
    }
    if (rc == 0 && fresh)
        rc = pb_pg_commit(c, err);
    else
        pb_pg_rollback(c);
    pb_pg_pool_put(o->pool, c);
    if (rc != 0)
        return pb_err_wrap(err, "billing outbox: closing period %s of %s", ps, cl->subscription);
    *closed = fresh;
    return 0;
}

static char *col(PGresult *r, int i, int j)
{
    return strdup(PQgetisnull(r, i, j) ? "" : PQgetvalue(r, i, j));
}

int pb_bout_claim(pb_bout *o, size_t max, pb_bout_row **out, size_t *n, pb_err *err)
{
    *out = NULL;
    *n = 0;
    char lim[32];
    snprintf(lim, sizeof lim, "%zu", max ? max : 1);
    const char *p[1] = {lim};
    PGresult *r = NULL;
    int rc = q(o,
               "SELECT seq, identifier, provider, subscription, tenant, customer, meter, event_name,"
               " period_start, period_end, value, attempts FROM billing_outbox"
               " WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now()"
               " ORDER BY next_attempt_at, seq LIMIT $1::int",
               1, p, &r, err);
    if (rc != 0)
        return rc;
    int rows = PQntuples(r);
    pb_bout_row *v = rows > 0 ? calloc((size_t)rows, sizeof *v) : NULL;
    if (rows > 0 && !v) {
        PQclear(r);
        return pb_err_oom(err);
    }
    for (int i = 0; i < rows; i++) {
        v[i].seq = atoll(PQgetvalue(r, i, 0));
        v[i].identifier = col(r, i, 1);
        v[i].provider = col(r, i, 2);
        v[i].subscription = col(r, i, 3);
        v[i].tenant = col(r, i, 4);
        v[i].customer = col(r, i, 5);
        v[i].meter = col(r, i, 6);
        v[i].event_name = col(r, i, 7);
        v[i].period_start = (int64_t)atoll(PQgetvalue(r, i, 8));
        v[i].period_end = (int64_t)atoll(PQgetvalue(r, i, 9));
        v[i].value = atoll(PQgetvalue(r, i, 10));
        v[i].attempts = atoi(PQgetvalue(r, i, 11));
        if (!v[i].identifier || !v[i].provider || !v[i].subscription || !v[i].tenant || !v[i].customer ||
            !v[i].meter || !v[i].event_name) {
            PQclear(r);
            pb_bout_rows_free(v, (size_t)rows);
            return pb_err_oom(err);
        }
    }
    PQclear(r);
    *out = v;
    *n = (size_t)rows;
    return 0;
}

void pb_bout_rows_free(pb_bout_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) {
        free(rows[i].identifier);
        free(rows[i].provider);
        free(rows[i].subscription);
        free(rows[i].tenant);
        free(rows[i].customer);
        free(rows[i].meter);
        free(rows[i].event_name);
    }
    free(rows);
}

int pb_bout_sent(pb_bout *o, long long seq, int http_status, pb_err *err)
{
    char s[32], st[16];
    snprintf(s, sizeof s, "%lld", seq);
    snprintf(st, sizeof st, "%d", http_status);
    const char *p[2] = {s, st};
    return q(o, "UPDATE billing_outbox SET sent_at = now(), last_status = $2::int, last_error = NULL"
                " WHERE seq = $1::bigint",
             2, p, NULL, err);
}

int pb_bout_retry(pb_bout *o, long long seq, int delay_s, int http_status, const char *error, pb_err *err)
{
    char s[32], d[32], st[16];
    snprintf(s, sizeof s, "%lld", seq);
    snprintf(d, sizeof d, "%d", delay_s < 0 ? 0 : delay_s);
    snprintf(st, sizeof st, "%d", http_status);
    const char *p[4] = {s, d, st, error ? error : ""};
    return q(o,
             "UPDATE billing_outbox SET attempts = attempts + 1, last_status = nullif($3::int, 0),"
             " last_error = $4, next_attempt_at = now() + make_interval(secs => $2::int) WHERE seq = $1::bigint",
             4, p, NULL, err);
}

int pb_bout_failed(pb_bout *o, long long seq, int http_status, const char *error, pb_err *err)
{
    char s[32], st[16];
    snprintf(s, sizeof s, "%lld", seq);
    snprintf(st, sizeof st, "%d", http_status);
    const char *p[3] = {s, st, error ? error : ""};
    return q(o,
             "UPDATE billing_outbox SET attempts = attempts + 1, failed_at = now(), last_status = nullif($2::int, 0),"
             " last_error = $3 WHERE seq = $1::bigint",
             3, p, NULL, err);
}

int pb_bout_reported(pb_bout *o, const char *provider, const char *subscription, json_t **out, pb_err *err)
{
    *out = NULL;
    const char *p[2] = {provider, subscription};
    PGresult *r = NULL;
    int rc = q(o,
               "SELECT p.period_start, p.period_end FROM billing_usage_periods p"
               " WHERE p.provider = $1 AND p.subscription = $2 AND NOT EXISTS (SELECT 1 FROM billing_outbox b"
               " WHERE b.provider = p.provider AND b.subscription = p.subscription"
               " AND b.period_start = p.period_start AND b.sent_at IS NULL AND b.failed_at IS NULL)"
               " ORDER BY p.period_start DESC LIMIT 1",
               2, p, &r, err);
    if (rc != 0)
        return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return 0;
    }
    char ps[32];
    snprintf(ps, sizeof ps, "%s", PQgetvalue(r, 0, 0));
    json_t *j = json_pack("{s:I, s:I, s:o}", "periodStart", (json_int_t)atoll(PQgetvalue(r, 0, 0)), "periodEnd",
                          (json_int_t)atoll(PQgetvalue(r, 0, 1)), "meters", json_object());
    PQclear(r);
    if (!j)
        return pb_err_oom(err);
    const char *p2[3] = {provider, subscription, ps};
    rc = q(o,
           "SELECT meter, value, sent_at IS NOT NULL FROM billing_outbox"
           " WHERE provider = $1 AND subscription = $2 AND period_start = $3::bigint ORDER BY meter",
           3, p2, &r, err);
    if (rc != 0) {
        json_decref(j);
        return rc;
    }
    json_t *failed = NULL;
    for (int i = 0; i < PQntuples(r); i++) {
        if (strcmp(PQgetvalue(r, i, 2), "t") == 0) {
            json_object_set_new(json_object_get(j, "meters"), PQgetvalue(r, i, 0),
                                json_integer((json_int_t)atoll(PQgetvalue(r, i, 1))));
        } else {
            if (!failed)
                failed = json_array();
            json_array_append_new(failed, json_string(PQgetvalue(r, i, 0)));
        }
    }
    PQclear(r);
    if (failed)
        json_object_set_new(j, "failed", failed);
    *out = j;
    return 0;
}

int pb_bout_counts(pb_bout *o, long long *pending, long long *failed, pb_err *err)
{
    PGresult *r = NULL;
    int rc = q(o,
               "SELECT count(*) FILTER (WHERE sent_at IS NULL AND failed_at IS NULL),"
               " count(*) FILTER (WHERE failed_at IS NOT NULL) FROM billing_outbox",
               0, NULL, &r, err);
    if (rc == 0) {
        if (pending)
            *pending = atoll(PQgetvalue(r, 0, 0));
        if (failed)
            *failed = atoll(PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    return rc;
}
