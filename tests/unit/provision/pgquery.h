/*
 * pgquery.h - small libpq helpers for the provision tests (cmocka): run a
 * statement and fail the test on error, read one integer, or get the
 * SQLSTATE a statement ends with ("00000" for success).
 *
 * Header-only (static helpers) like pgtest.h; include after cmocka.h.
 */
#ifndef PAYBILL_PGQUERY_H
#define PAYBILL_PGQUERY_H

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>

#define PGQUERY_FN static __attribute__((unused))

/* The SQLSTATE `sql` ends with; the buffer is static (one answer at a time). */
PGQUERY_FN const char *pgq_state(PGconn *c, const char *sql)
{
    static char st[8];
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    const char *f = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    snprintf(st, sizeof st, "%s", s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK ? "00000" : f ? f : "?????");
    PQclear(r);
    return st;
}

PGQUERY_FN void pgq_must(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

/* The single value of a one-row query, as an integer. */
PGQUERY_FN long long pgq_int(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    long long v = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

#endif
