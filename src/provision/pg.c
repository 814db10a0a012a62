/*
 * pg.c - libpq connection pool, quoting and error mapping (see pg.h).
 *
 * The pool is a flat array of idle connections tagged with their database,
 * oldest returned first: provisioning opens few connections and holds them
 * briefly, so a list scan under one mutex is simpler than anything cleverer
 * and never the bottleneck. Keeping the array in return order makes the
 * least recently used connection the first one, which is the one evicted
 * when the total cap is exceeded.
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

#include <assert.h>
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

typedef struct {
    char *db; /* PQdb() of the connection */
    PGconn *conn;
} idle_conn;

/* What a pool's connections know of their server: 1 once it left one of
 * them without an answer, 0 again when it answers. */
typedef struct pg_health {
    atomic_int silent;
} pg_health;

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

/* The pool's own statements (a liveness check, the reset on return, a
 * rollback) are trivial: a connection's time to answer them is bounded
 * like a connection attempt, not like the caller's statements. */
static int short_ms(const PGconn *c)
{
    const conn_limits *l = limits_of(c);
    return l ? l->connect_ms : 0;
}

/* Run sql within the short bound; its status, or PGRES_FATAL_ERROR when it
 * got no answer. */
static ExecStatusType run_short(PGconn *c, const char *sql)
{
    PGresult *r = NULL;
    pb_err e;
    pb_err_clear(&e);
    ExecStatusType st = run_within(c, sql, short_ms(c), &r, &e) == 0 ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    PQclear(r);
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

/* pb_pg_connect, for a pool when health is its pg_health. */
static int connect_to(const pb_pg_opts *o, const char *dbname, pg_health *health, PGconn **out, pb_err *e)
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
    return connect_to(o, dbname, NULL, out, e);
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
        PGresult *r = NULL;
        pb_err ignore;
        int rc = run_within(c, "", short_ms(c), &r, &ignore);
        int alive = rc == 0 && PQresultStatus(r) == PGRES_EMPTY_QUERY && PQstatus(c) == CONNECTION_OK;
        PQclear(r);
        if (alive)
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
    int rc = c ? 0 : connect_to(&p->opts, dbname, &p->health, &c, e);
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
        keep = run_short(c, "RESET ALL; RESET ROLE; SELECT pg_advisory_unlock_all()") == PGRES_TUPLES_OK;
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
        run_short(c, "ROLLBACK");
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
