/*
 * pg_int.h - what pg.c (connections, bounded waits, statements) shares
 * with pg_pool.c (the pool); not part of the API: include provision/pg.h
 * for that. Internal names carry the prefix pg_.
 */
#ifndef PAYBILL_PROVISION_PG_INT_H
#define PAYBILL_PROVISION_PG_INT_H

#include <libpq-fe.h>
#include <stdatomic.h>

#include "provision/pg.h"

/* What a pool's connections know of their server: 1 once it left one of
 * them without an answer, 0 again when it answers ("Hung servers" in
 * pg.h). */
typedef struct pg_health {
    atomic_int silent;
} pg_health;

/* pb_pg_connect, for a pool when health is its pg_health (NULL: none). */
int pg_connect_to(const pb_pg_opts *o, const char *dbname, pg_health *health, PGconn **out, pb_err *e);

/* Run sql bounded like a connection attempt, not like the caller's
 * statements: the pool's own statements (a liveness check, the reset on
 * return, a rollback) are trivial. Its result status, PGRES_FATAL_ERROR
 * when it failed or got no answer; *rc (when not NULL) 0 or the error
 * (PB_ETIMEOUT: no answer, and the connection is dropped). */
ExecStatusType pg_run_short(PGconn *c, const char *sql, int *rc);

#endif
