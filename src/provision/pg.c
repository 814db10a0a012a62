/*
 * pg.c - libpq connections: connecting, bounded waits, statements, quoting
 * and error mapping (see pg.h; the pool is pg_pool.c).
 *
 * Bounded waits ("Hung servers" in pg.h): each connection carries its
 * limits as libpq instance data (conn_limits); every wait goes through
 * wait_fd, which polls the socket against the deadline and the cutoff, and
 * a wait that fails drops the connection (drop_conn). A pool's connections
 * share what they know of the server (pg_health): once one of them got no
 * answer, the others' next waits are bounded like a connection attempt
 * until the server answers again.
 */
#include "provision/pg.h"
#include "provision/pg_int.h"

#include <errno.h>
#include <libpq-events.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/timeutil.h"

#define DEFAULT_GRACE_MS 5000
#define CUTOFF_SLICE_MS 250 /* how often a wait looks at the cutoff again */

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

/* ---- bounded waits ------------------------------------------------------------ */

typedef struct conn_limits {
    int connect_ms;   /* connect_timeout: also the bound for the pool's own short statements */
    int statement_ms; /* the pool's statement_timeout */
    int current_ms;   /* the session's now (pb_pg_set_statement_timeout), 0: none */
    int grace_ms;
    double (*cutoff)(void *ud);
    void *cutoff_ud;
    pg_health *health; /* the pool's, NULL outside a pool (it outlives its connections) */
} conn_limits;

static int limits_event(PGEventId id, void *info, void *pass)
{
    (void)pass;
    if (id == PGEVT_CONNDESTROY) {
        PGEventConnDestroy *d = info;
        free(PQinstanceData(d->conn, limits_event));
    }
    return 1;
}

/* NULL for a connection not made by pb_pg_connect: its waits are bounded
 * by nothing, as libpq's own. */
static conn_limits *limits_of(const PGconn *c)
{
    return c ? PQinstanceData(c, limits_event) : NULL;
}

static double cutoff_of(const conn_limits *l)
{
    return l && l->cutoff ? l->cutoff(l->cutoff_ud) : 0;
}

/* ---- the server's silence, shared by a pool's connections ---------------
 *
 * A statement that got no answer waited out its whole bound (statement_timeout
 * + grace: a minute by default). What its caller does next (a rollback, an
 * unlock on another connection of the same pool) would wait as long again,
 * each, although the server has just shown it does not answer. So a wait
 * that gets no answer marks the pool's server silent, and while it is, a
 * new wait on any of its connections is bounded like a connection attempt.
 * Waits already running keep their bound (a long statement that started
 * before is not cut), and the first answer on any connection, or a new
 * connection made (the handshake is an answer), lifts the mark; a pool
 * borrower's liveness check or connect therefore lifts it as soon as the
 * server runs again. */

static int server_silent(const conn_limits *l)
{
    return l && l->health && atomic_load(&l->health->silent);
}

static void mark_silent(const conn_limits *l)
{
    if (l && l->health)
        atomic_store(&l->health->silent, 1);
}

static void mark_answered(const conn_limits *l)
{
    if (server_silent(l))
        atomic_store(&l->health->silent, 0);
}

/* The bound of a wait about to start whose own is limit_ms (0: none). */
static int bound_ms(const conn_limits *l, int limit_ms)
{
    if (server_silent(l) && l->connect_ms > 0 && (limit_ms <= 0 || limit_ms > l->connect_ms))
        return l->connect_ms;
    return limit_ms;
}

/* Wait until fd is ready for `events`: 0, PB_ETIMEOUT past deadline (0:
 * none), PB_ECANCELED past the cutoff, PB_EUNAVAILABLE when poll fails. */
static int wait_fd(int fd, short events, double deadline, const conn_limits *l)
{
    if (fd < 0)
        return PB_EUNAVAILABLE;
    for (;;) {
        double now = pb_time_mono_s(), cut = cutoff_of(l);
        if (cut > 0 && now >= cut)
            return PB_ECANCELED;
        if (deadline > 0 && now >= deadline)
            return PB_ETIMEOUT;
        /* A cutoff may come while we wait: look again every slice. */
        int ms = l && l->cutoff ? CUTOFF_SLICE_MS : -1;
        double until = cut > 0 && (deadline <= 0 || cut < deadline) ? cut : deadline;
        if (until > 0) {
            double left = (until - now) * 1000.0 + 1;
            if (ms < 0 || left < ms)
                ms = (int)left;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, ms);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return PB_EUNAVAILABLE;
    }
}

/* Bytes OpenSSL has read from the socket but libpq has not taken yet: the
 * socket does not show them, so a poll would wait for data already here
 * (libpq's own blocking waits make the same check). */
static int tls_pending(PGconn *c)
{
    SSL *ssl = PQsslInUse(c) ? PQsslStruct(c, "OpenSSL") : NULL;
    return ssl && SSL_pending(ssl) > 0;
}

/* Wait for the socket to be readable, unless OpenSSL holds input already. */
static int wait_input(PGconn *c, double deadline, const conn_limits *l)
{
    return tls_pending(c) ? 0 : wait_fd(PQsocket(c), POLLIN, deadline, l);
}

/* paybill_postgres_connections_dropped_total{reason}: registered on first
 * use; a handle cached over the process-wide registry (the global state
 * util/metrics.h allows), NULL if registering failed. */
static pthread_once_t dropped_once = PTHREAD_ONCE_INIT;
static pb_counter *dropped_counter;

static void register_dropped(void)
{
    static const char *const labels[] = {"reason", NULL};
    pb_err e;
    pb_err_clear(&e);
    if (pb_metrics_counter_register(pb_metrics_default(), "paybill_postgres_connections_dropped_total",
                                    "PostgreSQL connections dropped because a wait for the server ended: "
                                    "no_answer (past statement_timeout + grace or connect_timeout), "
                                    "cut_off (the shutdown deadline), wait_failed.",
                                    labels, &dropped_counter, &e) != 0)
        pb_log_warn("postgres: registering the dropped-connections metric", "error", e.msg, NULL);
}

static void count_dropped(int code)
{
    pthread_once(&dropped_once, register_dropped);
    if (dropped_counter)
        pb_metrics_counter_add(dropped_counter, 1,
                               code == PB_ETIMEOUT ? "no_answer" : code == PB_ECANCELED ? "cut_off" : "wait_failed",
                               NULL);
}

/* A wait failed: the server is hung, gone, or we are out of time. Shut
 * the socket down so that libpq reads its end and reports the connection
 * bad (the pool then closes it, and nothing is ever read from it again),
 * and say why. */
static int drop_conn(PGconn *c, int code, int waited_ms, pb_err *e)
{
    const conn_limits *l = limits_of(c);
    int was_silent = server_silent(l);
    if (code == PB_ETIMEOUT)
        mark_silent(l);
    int fd = PQsocket(c);
    if (fd >= 0) {
        shutdown(fd, SHUT_RDWR);
        PQconsumeInput(c);
    }
    count_dropped(code);
    if (code == PB_ECANCELED)
        return pb_err_set(e, code, "postgres: cut off: the shutdown deadline passed (connection dropped)");
    if (code == PB_ETIMEOUT)
        return pb_err_set(e, code, "postgres: no answer in %d ms (connection dropped: the server or the network to it hangs%s)",
                          waited_ms, was_silent ? "; it had not answered another connection either" : "");
    return pb_err_set(e, code, "postgres: waiting for the server failed: %s (connection dropped)", strerror(errno));
}

/* The deadline of a wait for an answer that may take limit_ms (0: none). */
static double deadline_in(int limit_ms)
{
    return limit_ms > 0 ? pb_time_mono_s() + limit_ms / 1000.0 : 0;
}

/* How long a statement starting now may go unanswered. */
static int answer_ms(const conn_limits *l)
{
    return bound_ms(l, l && l->current_ms > 0 ? l->current_ms + l->grace_ms : 0);
}

/* Send what libpq still holds (nonblocking mode), reading meanwhile. */
static int flush_within(PGconn *c, const conn_limits *l, double deadline, int limit_ms, pb_err *e)
{
    int f;
    while ((f = PQflush(c)) == 1) {
        int rc = wait_fd(PQsocket(c), POLLOUT | POLLIN, deadline, l);
        if (rc)
            return drop_conn(c, rc, limit_ms, e);
        if (!PQconsumeInput(c))
            return pb_pg_error(c, NULL, e);
    }
    return f == 0 ? 0 : pb_pg_error(c, NULL, e);
}

static int next_result_within(PGconn *c, int limit_ms, PGresult **out, pb_err *e)
{
    *out = NULL;
    const conn_limits *l = limits_of(c);
    double deadline = deadline_in(limit_ms);
    int rc = flush_within(c, l, deadline, limit_ms, e);
    if (rc)
        return rc;
    while (PQisBusy(c)) {
        if ((rc = wait_input(c, deadline, l)) != 0)
            return drop_conn(c, rc, limit_ms, e);
        if (!PQconsumeInput(c))
            break; /* the connection broke: PQgetResult says how */
    }
    *out = PQgetResult(c);
    if (*out && PQstatus(c) == CONNECTION_OK)
        mark_answered(l);
    return 0;
}

int pb_pg_next_result(PGconn *c, PGresult **out, pb_err *e)
{
    return next_result_within(c, answer_ms(limits_of(c)), out, e);
}

int pb_pg_wait(PGconn *c, int for_write, pb_err *e)
{
    const conn_limits *l = limits_of(c);
    int limit = answer_ms(l);
    int rc = for_write ? wait_fd(PQsocket(c), POLLOUT | POLLIN, deadline_in(limit), l)
                       : wait_input(c, deadline_in(limit), l);
    if (rc)
        return drop_conn(c, rc, limit, e);
    if (!PQconsumeInput(c) || (for_write && PQflush(c) < 0))
        return pb_pg_error(c, NULL, e);
    if (!for_write)
        mark_answered(l);
    return 0;
}

int pb_pg_flush(PGconn *c, pb_err *e)
{
    const conn_limits *l = limits_of(c);
    int limit = answer_ms(l);
    return flush_within(c, l, deadline_in(limit), limit, e);
}

void pb_pg_set_statement_timeout(PGconn *c, int ms)
{
    conn_limits *l = limits_of(c);
    if (l)
        l->current_ms = ms < 0 ? l->statement_ms : ms;
}

/* PQexec's loop (PostgreSQL 15's PQexecFinish) over bounded waits: the
 * last result, stopping at COPY. */
static int collect(PGconn *c, int limit_ms, PGresult **out, pb_err *e)
{
    PGresult *last = NULL, *r;
    int rc;
    while ((rc = next_result_within(c, limit_ms, &r, e)) == 0 && r) {
        PQclear(last);
        last = r;
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH || PQstatus(c) == CONNECTION_BAD)
            break;
    }
    if (rc) {
        PQclear(last);
        return rc;
    }
    if (!last)
        return pb_pg_error(c, NULL, e);
    *out = last;
    return 0;
}

/* What an earlier command left unread (PQexec drops it too). */
static int drain(PGconn *c, int limit_ms, pb_err *e)
{
    PGresult *r;
    while (PQtransactionStatus(c) == PQTRANS_ACTIVE && PQpipelineStatus(c) == PQ_PIPELINE_OFF) {
        int rc = next_result_within(c, limit_ms, &r, e);
        if (rc)
            return rc;
        if (!r)
            break;
        ExecStatusType st = PQresultStatus(r);
        PQclear(r);
        if (st == PGRES_COPY_IN)
            PQputCopyEnd(c, "abandoned");
        else if (st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH)
            return pb_err_set(e, PB_EINTERNAL, "postgres: a COPY was left unread on the connection");
    }
    return 0;
}

static int run_within(PGconn *c, const char *sql, int limit_ms, PGresult **out, pb_err *e)
{
    *out = NULL;
    int rc = drain(c, limit_ms, e);
    if (rc)
        return rc;
    if (!PQsendQuery(c, sql))
        return pb_pg_error(c, NULL, e);
    return collect(c, limit_ms, out, e);
}

int pb_pg_run(PGconn *c, const char *sql, PGresult **out, pb_err *e)
{
    return run_within(c, sql, answer_ms(limits_of(c)), out, e);
}

/* The bound of the pool's own statements: a connection attempt's. */
static int short_ms(const PGconn *c)
{
    const conn_limits *l = limits_of(c);
    return l ? l->connect_ms : 0;
}

ExecStatusType pg_run_short(PGconn *c, const char *sql, int *rc)
{
    PGresult *r = NULL;
    pb_err ignore;
    int got = run_within(c, sql, short_ms(c), &r, &ignore);
    ExecStatusType st = got == 0 ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    PQclear(r);
    if (rc)
        *rc = got;
    return st;
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

/* Drive PQconnectPoll to the end within timeout_s (libpq leaves
 * connect_timeout to whoever polls) and the cutoff. */
static int connect_within(PGconn *c, int timeout_s, const conn_limits *l)
{
    double deadline = pb_time_mono_s() + timeout_s;
    PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
    while (ps != PGRES_POLLING_OK && ps != PGRES_POLLING_FAILED) {
        int rc = wait_fd(PQsocket(c), ps == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline, l);
        if (rc)
            return rc;
        ps = PQconnectPoll(c);
    }
    return ps == PGRES_POLLING_OK ? 0 : PB_EUNAVAILABLE;
}

int pg_connect_to(const pb_pg_opts *o, const char *dbname, pg_health *health, PGconn **out, pb_err *e)
{
    *out = NULL;
    char timeout[16], options[512];
    int timeout_s = o->connect_timeout_s > 0 ? o->connect_timeout_s : 10;
    int statement_ms = o->statement_timeout_ms > 0 ? o->statement_timeout_ms : 60000;
    snprintf(timeout, sizeof timeout, "%d", timeout_s);
    if (o->search_path && (strlen(o->search_path) > 200 || strpbrk(o->search_path, " \\'\"")))
        return pb_err_set(e, PB_EINVAL, "pg: search_path must be comma separated names without spaces");
    snprintf(options, sizeof options,
             "-c statement_timeout=%d -c lock_timeout=%d -c TimeZone=UTC -c client_min_messages=warning%s%s",
             statement_ms, o->lock_timeout_ms > 0 ? o->lock_timeout_ms : 10000,
             o->search_path ? " -c search_path=" : "", o->search_path ? o->search_path : "");
    /* Processed in order, later keywords win: the conninfo may set its own
     * application_name, and our dbname/timeouts override the conninfo's. */
    const char *keys[] = {"application_name", "dbname", "dbname", "connect_timeout", "options", NULL};
    const char *vals[] = {"paybill-operator", o->conninfo ? o->conninfo : "", dbname, timeout, options, NULL};
    if (!dbname) { /* drop the override */
        keys[2] = "connect_timeout";
        vals[2] = timeout;
    }
    conn_limits *l = calloc(1, sizeof *l);
    if (!l)
        return pb_err_set(e, PB_ENOMEM, "connecting: out of memory");
    *l = (conn_limits){.connect_ms = timeout_s * 1000,
                       .statement_ms = statement_ms,
                       .current_ms = statement_ms,
                       .grace_ms = o->answer_grace_ms > 0 ? o->answer_grace_ms : DEFAULT_GRACE_MS,
                       .cutoff = o->cutoff,
                       .cutoff_ud = o->cutoff_ud,
                       .health = health};
    PGconn *c = PQconnectStartParams(keys, vals, 1);
    if (!c) {
        free(l);
        return pb_err_set(e, PB_ENOMEM, "connecting: out of memory");
    }
    int rc = PQstatus(c) == CONNECTION_BAD ? PB_EUNAVAILABLE : connect_within(c, timeout_s, l);
    if (rc != 0) {
        char m[PB_ERR_MSG_MAX];
        if (rc != PB_EUNAVAILABLE)
            count_dropped(rc);
        if (rc == PB_ETIMEOUT) {
            mark_silent(l);
            snprintf(m, sizeof m, "no answer in %d s (connect_timeout)", timeout_s);
        } else if (rc == PB_ECANCELED)
            snprintf(m, sizeof m, "cut off: the shutdown deadline passed");
        else
            snprintf(m, sizeof m, "%s", PQerrorMessage(c));
        chomp(m);
        PQfinish(c);
        free(l);
        int code = rc != PB_EUNAVAILABLE ? rc
                   : strstr(m, "password authentication failed") || strstr(m, "permission denied") ? PB_EUNAUTHORIZED
                   : strstr(m, "does not exist") ? PB_ENOTFOUND
                                                 : PB_EUNAVAILABLE;
        return pb_err_set(e, code, "connecting to database %s: %s", dbname ? dbname : "(default)", m);
    }
    /* The limits live as long as the connection (limits_event frees them). */
    if (!PQregisterEventProc(c, limits_event, "paybill-pg-limits", NULL) || !PQsetInstanceData(c, limits_event, l)) {
        PQfinish(c);
        free(l);
        return pb_err_set(e, PB_ENOMEM, "connecting: out of memory");
    }
    if (PQsetnonblocking(c, 1) != 0) {
        PQfinish(c);
        return pb_err_set(e, PB_EINTERNAL, "connecting: libpq refused nonblocking mode");
    }
    PQsetNoticeReceiver(c, log_notice, NULL);
    mark_answered(l);
    *out = c;
    return 0;
}

int pb_pg_connect(const pb_pg_opts *o, const char *dbname, PGconn **out, pb_err *e)
{
    return pg_connect_to(o, dbname, NULL, out, e);
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
    PGresult *r = NULL;
    int rc = pb_pg_run(c, sql, &r, e);
    if (rc)
        return rc;
    ExecStatusType st = PQresultStatus(r);
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
    int limit = answer_ms(limits_of(c));
    int rc = drain(c, limit, e);
    if (rc)
        return rc;
    if (!PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, 0))
        return pb_pg_error(c, NULL, e);
    PGresult *r = NULL;
    if ((rc = collect(c, limit, &r, e)) != 0)
        return rc;
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        rc = pb_pg_error(c, r, e);
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
        pg_run_short(c, "ROLLBACK", NULL);
}
