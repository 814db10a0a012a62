/*
 * pgquery.h - small libpq helpers for the provision tests (cmocka): run a
 * statement and fail the test on error, read one integer, or get the
 * SQLSTATE a statement ends with ("00000" for success).
 *
 * Also connections: as the superuser of a pgtest server, or as a tenant
 * from its credentials.
 *
 * Header-only (static helpers) like pgtest.h; include after cmocka.h and
 * pgtest.h.
 */
#ifndef PAYBILL_PGQUERY_H
#define PAYBILL_PGQUERY_H

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>

#include "provision/tenantdb.h"

#define PGQUERY_FN static __attribute__((unused))

/* The superuser of server s, on database db (NULL: the default one). */
PGQUERY_FN PGconn *pgq_admin_on(const pgtest_server *s, const char *db)
{
    char ci[512];
    snprintf(ci, sizeof ci, "%s%s%s", s->conninfo, db ? " dbname=" : "", db ? db : "");
    PGconn *c = PQconnectdb(ci);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("admin connect: %s", PQerrorMessage(c));
    return c;
}

/* Connect as a tenant (to db, or its own; with password, or its own);
 * NULL on failure with the message in err. */
PGQUERY_FN PGconn *pgq_tenant_connect(const pb_tdb_creds *cr, const char *db, const char *password, char *err,
                                      size_t n)
{
    char port[16];
    snprintf(port, sizeof port, "%d", cr->port);
    const char *keys[] = {"host", "port", "dbname", "user", "password", "sslmode", "connect_timeout", NULL};
    const char *vals[] = {cr->host, port, db ? db : cr->dbname, cr->user,
                          password ? password : cr->password, "disable", "5", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 0);
    if (PQstatus(c) != CONNECTION_OK) {
        if (err)
            snprintf(err, n, "%s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

PGQUERY_FN PGconn *pgq_tenant_connect_ok(const pb_tdb_creds *cr)
{
    char err[512];
    PGconn *c = pgq_tenant_connect(cr, NULL, NULL, err, sizeof err);
    if (!c)
        fail_msg("tenant %s connect: %s", cr->user, err);
    return c;
}

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
