/*
 * pg_pool.c - the libpq connection pool (see pg.h; connections themselves
 * are pg.c).
 *
 * The pool is a flat array of idle connections tagged with their database,
 * oldest returned first: provisioning opens few connections and holds them
 * briefly, so a list scan under one mutex is simpler than anything cleverer
 * and never the bottleneck. Keeping the array in return order makes the
 * least recently used connection the first one, which is the one evicted
 * when the total cap is exceeded. Its connections share one pg_health
 * (pg_int.h): what one learns of a hung server bounds the others' waits.
 */
#include "provision/pg.h"
#include "provision/pg_int.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

typedef struct {
    char *db; /* PQdb() of the connection */
    PGconn *conn;
} idle_conn;

struct pb_pg_pool {
    pb_pg_opts opts; /* conninfo and search_path point at the copies */
    pg_health health;
    char *conninfo_copy, *search_path_copy;
    pthread_mutex_t mu;
    idle_conn *idle;
    size_t n_idle, cap_idle;
    int lent;
    char *default_db; /* learnt on the first connection made with dbname NULL */
};

int pb_pg_pool_new(const pb_pg_opts *opts, pb_pg_pool **out, pb_err *e)
{
    *out = NULL;
    if (!opts || !opts->conninfo)
        return pb_err_set(e, PB_EINVAL, "pg pool: conninfo is required");
    pb_pg_pool *p = calloc(1, sizeof *p);
    if (!p || !(p->conninfo_copy = strdup(opts->conninfo))) {
        free(p);
        return pb_err_set(e, PB_ENOMEM, "out of memory");
    }
    if (opts->search_path && !(p->search_path_copy = strdup(opts->search_path))) {
        free(p->conninfo_copy);
        free(p);
        return pb_err_set(e, PB_ENOMEM, "out of memory");
    }
    p->opts = *opts;
    p->opts.conninfo = p->conninfo_copy;
    p->opts.search_path = p->search_path_copy;
    if (p->opts.max_idle_per_db <= 0)
        p->opts.max_idle_per_db = 4;
    if (p->opts.max_idle_total <= 0)
        p->opts.max_idle_total = 8;
    pthread_mutex_init(&p->mu, NULL);
    *out = p;
    return 0;
}

void pb_pg_pool_free(pb_pg_pool *p)
{
    if (!p)
        return;
    assert(p->lent == 0);
    for (size_t i = 0; i < p->n_idle; i++) {
        PQfinish(p->idle[i].conn);
        free(p->idle[i].db);
    }
    free(p->idle);
    free(p->default_db);
    pthread_mutex_destroy(&p->mu);
    free(p->conninfo_copy);
    free(p->search_path_copy);
    free(p);
}

/* Remove entry i keeping the order (caller holds the mutex). */
static void remove_idle(pb_pg_pool *p, size_t i)
{
    free(p->idle[i].db);
    memmove(&p->idle[i], &p->idle[i + 1], (p->n_idle - i - 1) * sizeof *p->idle);
    p->n_idle--;
}

/* Take an idle connection to `key` out of the pool, or NULL. */
static PGconn *take_idle(pb_pg_pool *p, const char *dbname)
{
    PGconn *c = NULL;
    pthread_mutex_lock(&p->mu);
    const char *key = dbname ? dbname : p->default_db;
    for (size_t i = p->n_idle; key && i-- > 0;) {
        if (strcmp(p->idle[i].db, key) == 0) {
            c = p->idle[i].conn;
            remove_idle(p, i);
            break;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return c;
}

/* Close every idle connection (the server stopped answering one). */
static void drop_all_idle(pb_pg_pool *p)
{
    pthread_mutex_lock(&p->mu);
    idle_conn *gone = p->idle;
    size_t n = p->n_idle;
    p->idle = NULL;
    p->n_idle = p->cap_idle = 0;
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < n; i++) {
        PQfinish(gone[i].conn);
        free(gone[i].db);
    }
    free(gone);
}

int pb_pg_pool_get(pb_pg_pool *p, const char *dbname, PGconn **out, pb_err *e)
{
    *out = NULL;
    PGconn *c;
    while ((c = take_idle(p, dbname)) != NULL) {
        /* A backend ended while idle (DROP DATABASE ... FORCE, restart,
         * pg_terminate_backend) only shows on the next use: check with an
         * empty query (one cheap round trip) and skip the dead ones. */
        int rc;
        if (pg_run_short(c, "", &rc) == PGRES_EMPTY_QUERY && PQstatus(c) == CONNECTION_OK)
            break;
        PQfinish(c);
        c = NULL;
        /* No answer at all: the server hangs, and its other idle
         * connections would each cost the same wait. */
        if (rc == PB_ETIMEOUT || rc == PB_ECANCELED) {
            drop_all_idle(p);
            break;
        }
    }
    int rc = c ? 0 : pg_connect_to(&p->opts, dbname, &p->health, &c, e);
    if (rc == 0) {
        pthread_mutex_lock(&p->mu);
        p->lent++;
        if (!dbname && !p->default_db)
            p->default_db = strdup(PQdb(c));
        pthread_mutex_unlock(&p->mu);
        *out = c;
    }
    return rc;
}

/* Return c to the pool, kept idle when `keep` allows and it is reusable. */
static void pool_return(pb_pg_pool *p, PGconn *c, int keep)
{
    if (!c)
        return;
    keep = keep && PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) == PQTRANS_IDLE;
    /* Hand the next borrower a clean session whatever this one did:
     * settings, role and session-level advisory locks are reset. */
    if (keep)
        keep = pg_run_short(c, "RESET ALL; RESET ROLE; SELECT pg_advisory_unlock_all()", NULL) == PGRES_TUPLES_OK;
    pb_pg_set_statement_timeout(c, -1); /* RESET ALL: the session's is the pool's again */
    char *db = keep ? strdup(PQdb(c)) : NULL;
    PGconn *evict = NULL;
    pthread_mutex_lock(&p->mu);
    p->lent--;
    size_t same = 0;
    for (size_t i = 0; db && i < p->n_idle; i++)
        same += strcmp(p->idle[i].db, db) == 0;
    if (db && same < (size_t)p->opts.max_idle_per_db) {
        if (p->n_idle == p->cap_idle) {
            size_t cap = p->cap_idle ? p->cap_idle * 2 : 8;
            idle_conn *n = realloc(p->idle, cap * sizeof *n);
            if (n) {
                p->idle = n;
                p->cap_idle = cap;
            }
        }
        if (p->n_idle < p->cap_idle) {
            p->idle[p->n_idle].db = db;
            p->idle[p->n_idle++].conn = c;
            db = NULL;
            c = NULL;
        }
    }
    /* Over the total cap: the least recently returned goes (at most one,
     * since each return adds at most one). */
    if (p->n_idle > (size_t)p->opts.max_idle_total) {
        evict = p->idle[0].conn;
        remove_idle(p, 0);
    }
    pthread_mutex_unlock(&p->mu);
    free(db);
    if (c)
        PQfinish(c);
    if (evict)
        PQfinish(evict);
}

void pb_pg_pool_put(pb_pg_pool *p, PGconn *c) { pool_return(p, c, 1); }
void pb_pg_pool_close(pb_pg_pool *p, PGconn *c) { pool_return(p, c, 0); }

size_t pb_pg_pool_idle_count(pb_pg_pool *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->n_idle;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void pb_pg_pool_forget_db(pb_pg_pool *p, const char *dbname)
{
    pthread_mutex_lock(&p->mu);
    for (size_t i = p->n_idle; i-- > 0;) {
        if (strcmp(p->idle[i].db, dbname) != 0)
            continue;
        PQfinish(p->idle[i].conn);
        remove_idle(p, i);
    }
    pthread_mutex_unlock(&p->mu);
}

/* ---- conninfo for tools ---------------------------------------------------- */

int pb_pg_pool_tool_conninfo(pb_pg_pool *p, const char *dbname, char **conninfo, char **password,
                             pb_err *e)
{
    *conninfo = NULL;
    *password = NULL;
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(p->opts.conninfo, &perr);
    if (!opts) {
        pb_err_set(e, PB_EINVAL, "parsing conninfo: %s", perr ? perr : "out of memory");
        PQfreemem(perr);
        return PB_EINVAL;
    }
    pb_buf b = {0};
    int rc = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "password") == 0) {
            if (!(*password = strdup(o->val)))
                rc = PB_ENOMEM;
            continue;
        }
        if ((dbname && strcmp(o->keyword, "dbname") == 0) || strcmp(o->keyword, "connect_timeout") == 0)
            continue;
        pb_buf_puts(&b, o->keyword);
        pb_buf_puts(&b, "='");
        for (const char *s = o->val; *s; s++) {
            if (*s == '\'' || *s == '\\')
                pb_buf_append(&b, "\\", 1);
            pb_buf_append(&b, s, 1);
        }
        pb_buf_puts(&b, "' ");
    }
    /* The pool's bound on connecting holds for the tool too (a server that
     * takes the connection and never answers would hold it forever). */
    char ct[48];
    snprintf(ct, sizeof ct, "connect_timeout='%d' ", p->opts.connect_timeout_s > 0 ? p->opts.connect_timeout_s : 10);
    pb_buf_puts(&b, ct);
    if (dbname) {
        pb_buf_puts(&b, "dbname='");
        pb_buf_puts(&b, dbname); /* a validated identifier: nothing to escape */
        pb_buf_puts(&b, "'");
    }
    PQconninfoFree(opts);
    *conninfo = pb_buf_take(&b, NULL);
    if (rc || !*conninfo) {
        free(*conninfo);
        *conninfo = NULL;
        free(*password);
        *password = NULL;
        return pb_err_set(e, PB_ENOMEM, "out of memory");
    }
    return 0;
}
