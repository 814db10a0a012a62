/*
 * pg.c - libpq connection pool, quoting and error mapping (see pg.h).
 *
 * The pool is a flat array of idle connections tagged with their database,
 * oldest returned first: provisioning opens few connections and holds them
 * briefly, so a list scan under one mutex is simpler than anything cleverer
 * and never the bottleneck. Keeping the array in return order makes the
 * least recently used connection the first one, which is the one evicted
 * when the total cap is exceeded.
 */
#include "provision/pg.h"

#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/log.h"

typedef struct {
    char *db; /* PQdb() of the connection */
    PGconn *conn;
} idle_conn;

struct pb_pg_pool {
    pb_pg_opts opts; /* conninfo and search_path point at the copies */
    char *conninfo_copy, *search_path_copy;
    pthread_mutex_t mu;
    idle_conn *idle;
    size_t n_idle, cap_idle;
    int lent;
    char *default_db; /* learnt on the first connection made with dbname NULL */
};

/* ---- errors ---------------------------------------------------------------- */

int pb_pg_sqlstate_code(const char *s)
{
    if (!s || strlen(s) != 5)
        return PB_EIO;
    if (strcmp(s, "42501") == 0)
        return PB_EFORBIDDEN;
    if (strcmp(s, "57014") == 0 || strcmp(s, "55P03") == 0)
        return PB_ETIMEOUT;
    if (strcmp(s, "3D000") == 0 || strcmp(s, "42P01") == 0 || strcmp(s, "42704") == 0 ||
        strcmp(s, "3F000") == 0)
        return PB_ENOTFOUND;
    if (strcmp(s, "42710") == 0 || strcmp(s, "42P04") == 0 || strcmp(s, "42P06") == 0 ||
        strcmp(s, "42P07") == 0)
        return PB_EEXIST;
    if (strncmp(s, "28", 2) == 0)
        return PB_EUNAUTHORIZED;
    if (strncmp(s, "08", 2) == 0 || strncmp(s, "57P0", 4) == 0 || strncmp(s, "53", 2) == 0)
        return PB_EUNAVAILABLE;
    if (strncmp(s, "23", 2) == 0 || strncmp(s, "40", 2) == 0)
        return PB_ECONFLICT;
    return PB_EIO;
}

static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
}

int pb_pg_error(PGconn *c, const PGresult *r, pb_err *e)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorMessage(r) : NULL;
    if (!msg || !*msg)
        msg = c ? PQerrorMessage(c) : "no connection";
    char m[PB_ERR_MSG_MAX];
    snprintf(m, sizeof m, "%s", msg);
    chomp(m);
    if (!state) /* connection-level trouble */
        return pb_err_set(e, c && PQstatus(c) != CONNECTION_OK ? PB_EUNAVAILABLE : PB_EIO, "%s", m);
    return pb_err_set(e, pb_pg_sqlstate_code(state), "SQLSTATE %s: %s", state, m);
}

/* ---- connections ----------------------------------------------------------- */

/* Server notices and warnings go to our log, not to stderr. */
static void log_notice(void *arg, const PGresult *r)
{
    char m[PB_ERR_MSG_MAX];
    snprintf(m, sizeof m, "%s", PQresultErrorMessage(r));
    chomp(m);
    pb_log_warn("postgres notice", "message", m, "sqlstate", PQresultErrorField(r, PG_DIAG_SQLSTATE), NULL);
}

int pb_pg_connect(const pb_pg_opts *o, const char *dbname, PGconn **out, pb_err *e)
{
    *out = NULL;
    char timeout[16], options[512];
    snprintf(timeout, sizeof timeout, "%d", o->connect_timeout_s > 0 ? o->connect_timeout_s : 10);
    if (o->search_path && (strlen(o->search_path) > 200 || strpbrk(o->search_path, " \\'\"")))
        return pb_err_set(e, PB_EINVAL, "pg: search_path must be comma separated names without spaces");
    snprintf(options, sizeof options,
             "-c statement_timeout=%d -c lock_timeout=%d -c TimeZone=UTC -c client_min_messages=warning%s%s",
             o->statement_timeout_ms > 0 ? o->statement_timeout_ms : 60000,
             o->lock_timeout_ms > 0 ? o->lock_timeout_ms : 10000, o->search_path ? " -c search_path=" : "",
             o->search_path ? o->search_path : "");
    /* Processed in order, later keywords win: the conninfo may set its own
     * application_name, and our dbname/timeouts override the conninfo's. */
    const char *keys[] = {"application_name", "dbname", "dbname", "connect_timeout", "options", NULL};
    const char *vals[] = {"paybill-operator", o->conninfo ? o->conninfo : "", dbname, timeout, options, NULL};
    if (!dbname) { /* drop the override */
        keys[2] = "connect_timeout";
        vals[2] = timeout;
    }
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c)
        return pb_err_set(e, PB_ENOMEM, "connecting: out of memory");
    if (PQstatus(c) != CONNECTION_OK) {
        char m[PB_ERR_MSG_MAX];
        snprintf(m, sizeof m, "%s", PQerrorMessage(c));
        chomp(m);
        PQfinish(c);
        int code = strstr(m, "password authentication failed") || strstr(m, "permission denied")
                       ? PB_EUNAUTHORIZED
                   : strstr(m, "does not exist") ? PB_ENOTFOUND : PB_EUNAVAILABLE;
        return pb_err_set(e, code, "connecting to database %s: %s", dbname ? dbname : "(default)", m);
    }
    PQsetNoticeReceiver(c, log_notice, NULL);
    *out = c;
    return 0;
}

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

int pb_pg_pool_get(pb_pg_pool *p, const char *dbname, PGconn **out, pb_err *e)
{
    *out = NULL;
    PGconn *c;
    while ((c = take_idle(p, dbname)) != NULL) {
        /* A backend ended while idle (DROP DATABASE ... FORCE, restart,
         * pg_terminate_backend) only shows on the next use: check with an
         * empty query (one cheap round trip) and skip the dead ones. */
        PGresult *r = PQexec(c, "");
        int alive = PQresultStatus(r) == PGRES_EMPTY_QUERY && PQstatus(c) == CONNECTION_OK;
        PQclear(r);
        if (alive)
            break;
        PQfinish(c);
    }
    int rc = c ? 0 : pb_pg_connect(&p->opts, dbname, &c, e);
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
    if (keep) {
        PGresult *r = PQexec(c, "RESET ALL; RESET ROLE; SELECT pg_advisory_unlock_all()");
        keep = PQresultStatus(r) == PGRES_TUPLES_OK;
        PQclear(r);
    }
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

/* ---- SQL text -------------------------------------------------------------- */

static char *vformat(PGconn *c, pb_err *e, const char *fmt, va_list ap)
{
    pb_buf b = {0};
    for (const char *p = fmt; *p && !b.oom; p++) {
        if (*p != '%') {
            pb_buf_append(&b, p, 1);
            continue;
        }
        p++;
        char num[32];
        if (*p == 'I' || *p == 'L') {
            const char *v = va_arg(ap, const char *);
            char *q = !v ? NULL
                      : *p == 'I' ? PQescapeIdentifier(c, v, strlen(v))
                                  : PQescapeLiteral(c, v, strlen(v));
            if (!q) {
                char m[PB_ERR_MSG_MAX];
                snprintf(m, sizeof m, "%s", v ? PQerrorMessage(c) : "NULL value");
                chomp(m);
                pb_err_set(e, PB_EINVAL, "quoting %s: %s", *p == 'I' ? "identifier" : "literal", m);
                pb_buf_free(&b);
                return NULL;
            }
            pb_buf_puts(&b, q);
            PQfreemem(q);
        } else if (*p == 's') {
            pb_buf_puts(&b, va_arg(ap, const char *));
        } else if (*p == 'd') {
            snprintf(num, sizeof num, "%d", va_arg(ap, int));
            pb_buf_puts(&b, num);
        } else if (strncmp(p, "lld", 3) == 0) {
            snprintf(num, sizeof num, "%lld", va_arg(ap, long long));
            pb_buf_puts(&b, num);
            p += 2;
        } else if (*p == '%') {
            pb_buf_puts(&b, "%");
        } else {
            pb_buf_free(&b);
            pb_err_set(e, PB_EINTERNAL, "pb_pg_format: bad directive in \"%s\"", fmt);
            return NULL;
        }
    }
    char *s = pb_buf_take(&b, NULL);
    if (!s)
        pb_err_set(e, PB_ENOMEM, "out of memory");
    return s;
}

char *pb_pg_format(PGconn *c, pb_err *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vformat(c, e, fmt, ap);
    va_end(ap);
    return s;
}

int pb_pg_exec(PGconn *c, const char *sql, pb_err *e)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY)
        rc = pb_pg_error(c, r, e);
    PQclear(r);
    return rc;
}

int pb_pg_execf(PGconn *c, pb_err *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vformat(c, e, fmt, ap);
    va_end(ap);
    if (!s)
        return e ? e->code : PB_EINVAL;
    int rc = pb_pg_exec(c, s, e);
    free(s);
    return rc;
}

int pb_pg_query(PGconn *c, const char *sql, int nparams, const char *const *params, PGresult **res,
                pb_err *e)
{
    if (res)
        *res = NULL;
    PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        int rc = pb_pg_error(c, r, e);
        PQclear(r);
        return rc;
    }
    if (res)
        *res = r;
    else
        PQclear(r);
    return 0;
}

int pb_pg_begin(PGconn *c, pb_err *e) { return pb_pg_exec(c, "BEGIN", e); }
int pb_pg_commit(PGconn *c, pb_err *e) { return pb_pg_exec(c, "COMMIT", e); }

void pb_pg_rollback(PGconn *c)
{
    if (c && PQtransactionStatus(c) != PQTRANS_IDLE)
        PQclear(PQexec(c, "ROLLBACK"));
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
        if (dbname && strcmp(o->keyword, "dbname") == 0)
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
