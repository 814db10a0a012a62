/*
 * pg.h - small libpq layer: a connection pool per PostgreSQL server, SQL
 * built with safe quoting, and errors in the pb_err convention.
 *
 * Pool: one pb_pg_pool per server (an admin conninfo); connections are keyed
 * by database name, because a PostgreSQL connection is bound to one
 * database. Idle connections are capped per database and in total (every
 * idle one is a server backend counted against max_connections); over the
 * total, the least recently returned one is closed. Every connection gets connect_timeout, statement_timeout,
 * lock_timeout, TimeZone=UTC (so text renderings of timestamps compare equal
 * across sessions), client_min_messages=warning and, when asked, a fixed
 * search_path (a session default: RESET ALL goes back to it). The pool is
 * thread-safe.
 *
 * Quoting: pb_pg_format() builds SQL from a template where %I is an
 * identifier (PQescapeIdentifier), %L a literal (PQescapeLiteral), %s a
 * trusted constant inserted verbatim, %d an int, %lld a long long and %% a
 * percent sign. Values that can be parameters should be: pb_pg_query() takes
 * $1..$n parameters; utility statements (CREATE ROLE, GRANT...) cannot have
 * parameters, which is what %I/%L are for.
 *
 * Errors: a failed statement fills pb_err with "SQLSTATE xxxxx: message"
 * and maps the SQLSTATE to a code: 42501 (insufficient privilege) ->
 * PB_EFORBIDDEN, 28xxx -> PB_EUNAUTHORIZED, 08xxx / 57P0x / 53xxx ->
 * PB_EUNAVAILABLE, 57014 (statement timeout) / 55P03 (lock timeout) ->
 * PB_ETIMEOUT, 23xxx / 40xxx -> PB_ECONFLICT, 3D000 / 42P01 / 42704 ->
 * PB_ENOTFOUND, 42710 / 42P04 / 42P06 / 42P07 -> PB_EEXIST, other -> PB_EIO.
 *
 * Hung servers: statement_timeout is the server's own guard and does
 * nothing while the server (or the network to it) does not run. So every
 * wait for the server here is bounded on our side as well: a statement may
 * go unanswered for the session's statement_timeout plus answer_grace_ms,
 * a connection attempt for connect_timeout. Past that the connection is
 * dropped (its socket shut down: libpq reports it bad, the pool closes it,
 * the server rolls its transaction back when it runs again) and the call
 * fails with PB_ETIMEOUT. A cutoff (the operator's shutdown deadline) ends
 * any wait the same way with PB_ECANCELED. Code that changes
 * statement_timeout inside a session says so (pb_pg_set_statement_timeout);
 * code that reads results or COPY data itself uses pb_pg_next_result and
 * pb_pg_wait instead of libpq's blocking calls. Connections are in libpq's
 * nonblocking mode, so sending never blocks either. Every connection (or
 * attempt) given up so counts in paybill_postgres_connections_dropped_total
 * {reason="no_answer"|"cut_off"|"wait_failed"}.
 * A pool's connections share what they learn: once one of them got no
 * answer, a statement started on any other (the caller's rollback or
 * unlock after the failure) waits at most connect_timeout, until the
 * server answers one of them again or a new connection to it is made.
 *
 * Ownership: connections from pb_pg_pool_get go back with pb_pg_pool_put
 * (never PQfinish them yourself); PGresult from pb_pg_query is the caller's
 * to PQclear; strings from pb_pg_format are the caller's to free().
 */
#ifndef PAYBILL_PROVISION_PG_H
#define PAYBILL_PROVISION_PG_H

#include <libpq-fe.h>

#include "util/err.h"

typedef struct pb_pg_pool pb_pg_pool;

typedef struct pb_pg_opts {
    const char *conninfo;     /* libpq conninfo or URI of an admin login */
    int connect_timeout_s;    /* 0: 10 s */
    int statement_timeout_ms; /* 0: 60000 ms */
    int lock_timeout_ms;      /* 0: 10000 ms */
    int max_idle_per_db;      /* 0: 4 */
    int max_idle_total;       /* 0: 8, across all databases */
    const char *search_path;  /* NULL: the server's default; else every
                                 session's, e.g. "pg_catalog,pg_temp"
                                 (comma separated, no spaces) */
    int answer_grace_ms;      /* 0: 5000; how long past statement_timeout
                                 an answer may take before the server is
                                 taken for hung */
    /* The shutdown's cutoff: a CLOCK_MONOTONIC time in seconds after which
     * every wait ends (PB_ECANCELED), 0 while there is none. Called while
     * waiting, from any thread; NULL: never cut. */
    double (*cutoff)(void *ud);
    void *cutoff_ud;
} pb_pg_opts;

int pb_pg_pool_new(const pb_pg_opts *opts, pb_pg_pool **out, pb_err *err);
/* Closes every idle connection; connections still lent out are the
 * borrower's bug (they leak, and a debug build asserts). */
void pb_pg_pool_free(pb_pg_pool *p);

/* Borrow a connection to `dbname` (NULL: the conninfo's own database). */
int pb_pg_pool_get(pb_pg_pool *p, const char *dbname, PGconn **out, pb_err *err);
/* Return a connection. One that is broken or left inside a transaction is
 * closed instead of being kept. NULL is ignored. */
void pb_pg_pool_put(pb_pg_pool *p, PGconn *c);
/* Return a connection and close it rather than keep it idle (a database
 * used once in a while, such as one tenant's). NULL is ignored. */
void pb_pg_pool_close(pb_pg_pool *p, PGconn *c);
/* How many idle connections the pool holds (for tests and metrics). */
size_t pb_pg_pool_idle_count(pb_pg_pool *p);
/* Close the idle connections to one database (before DROP DATABASE). */
void pb_pg_pool_forget_db(pb_pg_pool *p, const char *dbname);

/* The pool's conninfo with dbname replaced, the pool's connect_timeout and
 * without the password, as a conninfo string for tools such as pg_dump;
 * the password (or NULL) goes to *password for the PGPASSWORD environment
 * variable. Both malloc'd. */
int pb_pg_pool_tool_conninfo(pb_pg_pool *p, const char *dbname, char **conninfo, char **password,
                             pb_err *err);

/* A fresh connection outside any pool, with the same session settings. */
int pb_pg_connect(const pb_pg_opts *opts, const char *dbname, PGconn **out, pb_err *err);

/* Build SQL from a template (see the top of this file). NULL on an escape
 * failure (e.g. invalid encoding), with err filled. Caller frees. */
char *pb_pg_format(PGconn *c, pb_err *err, const char *fmt, ...);

/* Run one or more statements that return no rows. */
int pb_pg_exec(PGconn *c, const char *sql, pb_err *err);
/* pb_pg_format + pb_pg_exec. */
int pb_pg_execf(PGconn *c, pb_err *err, const char *fmt, ...);
/* Run one parameterised statement; on success *res (if res is not NULL)
 * holds the result, caller PQclear()s it. */
int pb_pg_query(PGconn *c, const char *sql, int nparams, const char *const *params, PGresult **res,
                pb_err *err);

/* PQexec, bounded (see "Hung servers"): 0 with *out the last result,
 * whatever its status (the caller checks it and PQclear()s it), or an
 * error code with *out NULL when the server could not be asked or did not
 * answer. What an earlier command left unread is read and dropped first. */
int pb_pg_run(PGconn *c, const char *sql, PGresult **out, pb_err *err);
/* PQgetResult, bounded: 0 with *out the next result (NULL: no more), or an
 * error code (the connection was dropped). Sends what is still queued
 * first. */
int pb_pg_next_result(PGconn *c, PGresult **out, pb_err *err);
/* For COPY in nonblocking mode: wait, bounded, until c's socket can be
 * read (for_write 0) or written (1; input that arrives meanwhile is
 * consumed). 0, or an error code (the connection was dropped). */
int pb_pg_wait(PGconn *c, int for_write, pb_err *err);
/* Send everything libpq holds for c, waiting (bounded) for room: after
 * each PQputCopyData, so that a slow server bounds what libpq buffers (in
 * nonblocking mode it would otherwise grow its buffer without limit). */
int pb_pg_flush(PGconn *c, pb_err *err);
/* The session's statement_timeout is now ms (0: none) after a SET (LOCAL)
 * of it: waits for answers follow. -1: the pool's setting again (every
 * connection returned to its pool is reset so). */
void pb_pg_set_statement_timeout(PGconn *c, int ms);

/* Fill err from a failed result (or the connection's error when r is
 * NULL); returns the mapped code. */
int pb_pg_error(PGconn *c, const PGresult *r, pb_err *err);
/* The code a SQLSTATE maps to (see above). */
int pb_pg_sqlstate_code(const char *sqlstate);

/* Transactions: BEGIN / COMMIT / ROLLBACK. pb_pg_rollback never fails
 * (an error just means the connection is broken, and the pool drops it). */
int pb_pg_begin(PGconn *c, pb_err *err);
int pb_pg_commit(PGconn *c, pb_err *err);
void pb_pg_rollback(PGconn *c);

#endif
