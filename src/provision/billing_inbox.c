/*
 * billing_inbox.c - the durable billing webhook inbox in PostgreSQL (see
 * billing_inbox.h).
 */
#include "provision/billing_inbox.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pb_binbox {
    pb_pg_pool *pool;
    char *db;
};

static const char SCHEMA_SQL[] =
    "CREATE TABLE IF NOT EXISTS billing_inbox ("
    " seq bigserial PRIMARY KEY,"
    " provider text NOT NULL,"
    " event_id text NOT NULL,"
    " type text NOT NULL,"
    " event_time bigint NOT NULL,"
    " payload text NOT NULL,"
    " received_at timestamptz NOT NULL DEFAULT now(),"
    " attempts integer NOT NULL DEFAULT 0,"
    " next_attempt_at timestamptz NOT NULL DEFAULT now(),"
    " last_error text,"
    " applied_at timestamptz,"
    " outcome text,"
    " UNIQUE (provider, event_id));"
    "CREATE INDEX IF NOT EXISTS billing_inbox_pending ON billing_inbox (event_time, seq)"
    " WHERE applied_at IS NULL;"
    "CREATE INDEX IF NOT EXISTS billing_inbox_received ON billing_inbox (received_at);";

int pb_binbox_open(pb_pg_pool *pool, const char *dbname, pb_binbox **out, pb_err *err)
{
    *out = NULL;
    const char *db = dbname ? dbname : PB_BINBOX_DEFAULT_DB;
    PGconn *c = NULL;
    int rc = pb_pg_pool_get(pool, NULL, &c, err);
    if (rc != 0)
        return pb_err_wrap(err, "billing inbox");
    PGresult *r = NULL;
    const char *p[1] = {db};
    rc = pb_pg_query(c, "SELECT 1 FROM pg_database WHERE datname = $1", 1, p, &r, err);
    int exists = rc == 0 && PQntuples(r) == 1;
    PQclear(r);
    if (rc == 0 && !exists) {
        rc = pb_pg_execf(c, err, "CREATE DATABASE %I", db);
        if (rc == PB_EEXIST || rc == PB_ECONFLICT) /* another replica won the race */
            rc = 0;
    }
    pb_pg_pool_put(pool, c);
    if (rc != 0)
        return pb_err_wrap(err, "billing inbox: database %s", db);
    if ((rc = pb_pg_pool_get(pool, db, &c, err)) != 0)
        return pb_err_wrap(err, "billing inbox: database %s", db);
    /* Two replicas creating the table at once: the loser's CREATE ... IF
     * NOT EXISTS can still fail on the catalog's unique index; once more. */
    rc = pb_pg_exec(c, SCHEMA_SQL, err);
    if (rc == PB_ECONFLICT || rc == PB_EEXIST)
        rc = pb_pg_exec(c, SCHEMA_SQL, err);
    pb_pg_pool_put(pool, c);
    if (rc != 0)
        return pb_err_wrap(err, "billing inbox: creating table in %s", db);
    pb_binbox *b = calloc(1, sizeof *b);
    if (!b || !(b->db = strdup(db))) {
        free(b);
        return pb_err_oom(err);
    }
    b->pool = pool;
    *out = b;
    return 0;
}

void pb_binbox_free(pb_binbox *b)
{
    if (!b)
        return;
    free(b->db);
    free(b);
}

/* Run one parameterised statement on a pooled connection. */
static int q(pb_binbox *b, const char *sql, int n, const char *const *params, PGresult **res,
             pb_err *err)
{
    PGconn *c = NULL;
    int rc = pb_pg_pool_get(b->pool, b->db, &c, err);
    if (rc == 0)
        rc = pb_pg_query(c, sql, n, params, res, err);
    pb_pg_pool_put(b->pool, c);
    return rc == 0 ? 0 : pb_err_wrap(err, "billing inbox");
}

int pb_binbox_put(pb_binbox *b, const char *provider, const char *event_id, const char *type,
                  int64_t event_time, const char *payload, size_t len, int *inserted, pb_err *err)
{
    char ts[32];
    snprintf(ts, sizeof ts, "%" PRId64, event_time);
    char *body = strndup(payload, len);
    if (!body)
        return pb_err_oom(err);
    const char *p[5] = {provider, event_id, type, ts, body};
    PGresult *r = NULL;
    int rc = q(b,
               "INSERT INTO billing_inbox (provider, event_id, type, event_time, payload)"
               " VALUES ($1, $2, $3, $4::bigint, $5) ON CONFLICT (provider, event_id) DO NOTHING",
               5, p, &r, err);
    free(body);
    if (rc == 0 && inserted)
        *inserted = atoi(PQcmdTuples(r)) == 1;
    PQclear(r);
    return rc;
}

static char *col(PGresult *r, int i, int j)
{
    return strdup(PQgetisnull(r, i, j) ? "" : PQgetvalue(r, i, j));
}

int pb_binbox_claim(pb_binbox *b, size_t max, pb_binbox_event **out, size_t *n, pb_err *err)
{
    *out = NULL;
    *n = 0;
    char lim[32];
    snprintf(lim, sizeof lim, "%zu", max ? max : 1);
    const char *p[1] = {lim};
    PGresult *r = NULL;
    int rc = q(b,
               "SELECT seq, provider, event_id, type, event_time, payload, attempts FROM billing_inbox"
               " WHERE applied_at IS NULL AND next_attempt_at <= now()"
               " ORDER BY event_time, seq LIMIT $1::int",
               1, p, &r, err);
    if (rc != 0)
        return rc;
    int rows = PQntuples(r);
    if (rows > 0) {
        pb_binbox_event *evs = calloc((size_t)rows, sizeof *evs);
        if (!evs) {
            PQclear(r);
            return pb_err_oom(err);
        }
        for (int i = 0; i < rows; i++) {
            evs[i].seq = atoll(PQgetvalue(r, i, 0));
            evs[i].provider = col(r, i, 1);
            evs[i].event_id = col(r, i, 2);
            evs[i].type = col(r, i, 3);
            evs[i].event_time = (int64_t)atoll(PQgetvalue(r, i, 4));
            evs[i].payload = col(r, i, 5);
            evs[i].attempts = atoi(PQgetvalue(r, i, 6));
            if (!evs[i].provider || !evs[i].event_id || !evs[i].type || !evs[i].payload) {
                PQclear(r);
                pb_binbox_events_free(evs, (size_t)rows);
                return pb_err_oom(err);
            }
        }
        *out = evs;
        *n = (size_t)rows;
    }
    PQclear(r);
    return 0;
}

void pb_binbox_events_free(pb_binbox_event *evs, size_t n)
{
    for (size_t i = 0; evs && i < n; i++) {
        free(evs[i].provider);
        free(evs[i].event_id);
        free(evs[i].type);
        free(evs[i].payload);
    }
    free(evs);
}

int pb_binbox_done(pb_binbox *b, long long seq, const char *outcome, pb_err *err)
{
    char s[32];
    snprintf(s, sizeof s, "%lld", seq);
    const char *p[2] = {s, outcome};
    return q(b, "UPDATE billing_inbox SET applied_at = now(), outcome = $2 WHERE seq = $1::bigint", 2, p,
             NULL, err);
}

int pb_binbox_retry(pb_binbox *b, long long seq, int delay_s, const char *error, pb_err *err)
{
    char s[32], d[32];
    snprintf(s, sizeof s, "%lld", seq);
    snprintf(d, sizeof d, "%d", delay_s < 0 ? 0 : delay_s);
    const char *p[3] = {s, d, error ? error : ""};
    return q(b,
             "UPDATE billing_inbox SET attempts = attempts + 1, last_error = $3,"
             " next_attempt_at = now() + make_interval(secs => $2::int) WHERE seq = $1::bigint",
             3, p, NULL, err);
}

int pb_binbox_prune(pb_binbox *b, int64_t retention_s, long long *removed, pb_err *err)
{
    char s[32];
    snprintf(s, sizeof s, "%" PRId64, retention_s);
    const char *p[1] = {s};
    PGresult *r = NULL;
    int rc = q(b,
               "DELETE FROM billing_inbox WHERE applied_at IS NOT NULL"
               " AND received_at < now() - make_interval(secs => $1::bigint)",
               1, p, &r, err);
    if (rc == 0 && removed)
        *removed = atoll(PQcmdTuples(r));
    PQclear(r);
    return rc;
}

int pb_binbox_counts(pb_binbox *b, long long *pending, long long *total, pb_err *err)
{
    PGresult *r = NULL;
    int rc = q(b, "SELECT count(*) FILTER (WHERE applied_at IS NULL), count(*) FROM billing_inbox", 0, NULL,
               &r, err);
    if (rc == 0) {
        if (pending)
            *pending = atoll(PQgetvalue(r, 0, 0));
        if (total)
            *total = atoll(PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    return rc;
}

int pb_binbox_outcome(pb_binbox *b, const char *provider, const char *event_id, char **outcome,
                      pb_err *err)
{
    *outcome = NULL;
    const char *p[2] = {provider, event_id};
    PGresult *r = NULL;
    int rc = q(b, "SELECT outcome FROM billing_inbox WHERE provider = $1 AND event_id = $2", 2, p, &r, err);
    if (rc == 0 && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) && !(*outcome = strdup(PQgetvalue(r, 0, 0))))
        rc = pb_err_oom(err);
    PQclear(r);
    return rc;
}
