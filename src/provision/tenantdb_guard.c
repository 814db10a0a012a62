/*
 * tenantdb_guard.c - least privilege inside a tenant's space (see
 * "Ownership and privileges" in tenantdb.h; declarations in
 * tenantdb_int.h).
 *
 * Why: the operator's admin login is a superuser, or close to one. Reading
 * a relation runs whatever its definition calls (a view's functions run
 * with the reader's privileges), so reading a tenant's schema as the admin
 * would lend the admin's powers to any tenant able to put a view where a
 * table was: every tenant's rows past row-level security, and programs on
 * the server through COPY ... TO PROGRAM (a read-only transaction does not
 * stop that). So:
 *   - tenants own nothing the operator uses and may create nothing next to
 *     it (tdb_take_schema / tdb_take_database converge what older versions
 *     gave them);
 *   - each transaction that touches tenant data switches to the NOLOGIN
 *     owner role, which no tenant can become, with search_path pinned to
 *     pg_catalog (tdb_act_as_owner);
 *   - and before using a tenant's tables it checks that each one is a plain
 *     table (relkind 'r') of the owner role, and locks it so that it cannot
 *     be swapped for something else before the transaction ends
 *     (tdb_guard_tables); objects the operator did not make are refused
 *     by name, never silently trusted (tdb_guard_schema).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provision/pg.h"
#include "provision/tenantdb_int.h"
#include "util/buf.h"
#include "util/log.h"

#define OWNER_OID "(SELECT oid FROM pg_catalog.pg_roles WHERE rolname = '" TDB_OWNER_ROLE "')"

int tdb_act_as_owner(PGconn *c, const char *acting_tenant, pb_err *e)
{
    const char *p[1] = {acting_tenant ? acting_tenant : ""};
    int rc = pb_pg_exec(c, "SET LOCAL ROLE " TDB_OWNER_ROLE "; SET LOCAL search_path = pg_catalog, pg_temp", e);
    if (rc == 0)
        rc = pb_pg_query(c, "SELECT pg_catalog.set_config('" TDB_ACTING_TENANT_GUC "', $1, true)", 1, p, NULL, e);
    return rc ? pb_err_wrap(e, "switching to role " TDB_OWNER_ROLE) : 0;
}

int tdb_act_as_admin(PGconn *c, pb_err *e) { return pb_pg_exec(c, "RESET ROLE", e); }

/* ---- tables ------------------------------------------------------------------ */

static const char *relkind_name(char k)
{
    switch (k) {
    case 'r': return "table";
    case 'v': return "view";
    case 'm': return "materialized view";
    case 'f': return "foreign table";
    case 'p': return "partitioned table";
    case 'S': return "sequence";
    case 'i': case 'I': return "index";
    case 'c': return "composite type";
    default: return "relation";
    }
}

/* The model's table names as a text[] literal: identifiers are [a-z0-9_]
 * (datamodel.c), so nothing needs quoting. */
static char *table_array(const pb_dm_model *m)
{
    pb_buf b = {0};
    pb_buf_puts(&b, "{");
    for (size_t i = 0; i < pb_dm_table_count(m); i++) {
        if (i)
            pb_buf_puts(&b, ",");
        pb_buf_puts(&b, pb_dm_table_name(m, i));
    }
    pb_buf_puts(&b, "}");
    return pb_buf_take(&b, NULL);
}

/* name, oid, relkind, owner name, owned by the owner role: one row per
 * model table, in model order (oid NULL when missing). */
static int describe_tables(PGconn *c, const char *schema, const char *names, PGresult **r, pb_err *e)
{
    const char *p[2] = {schema, names};
    return pb_pg_query(c,
                       "SELECT t.name, c.oid, c.relkind, pg_catalog.pg_get_userbyid(c.relowner), "
                       "c.relowner = " OWNER_OID " "
                       "FROM pg_catalog.unnest($2::pg_catalog.text[]) WITH ORDINALITY t(name, i) "
                       "LEFT JOIN pg_catalog.pg_class c ON c.relname = t.name AND c.relnamespace = "
                       "(SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = $1) ORDER BY t.i",
                       2, p, r, e);
}

int tdb_guard_tables(PGconn *c, const char *schema, const pb_dm_model *m, pb_err *e)
{
    if (pb_dm_table_count(m) == 0)
        return 0;
    char *names = table_array(m);
    if (!names)
        return pb_err_set(e, PB_ENOMEM, "out of memory");
    PGresult *before = NULL, *after = NULL;
    int rc = describe_tables(c, schema, names, &before, e);
    for (int i = 0; rc == 0 && i < PQntuples(before); i++) {
        const char *name = PQgetvalue(before, i, 0);
        char kind = PQgetvalue(before, i, 2)[0];
        const char *owner = PQgetvalue(before, i, 3);
        if (PQgetisnull(before, i, 1))
            rc = pb_err_set(e, PB_ENOTFOUND, "table %s.%s is missing", schema, name);
        else if (kind != 'r')
            rc = pb_err_set(e, PB_EFORBIDDEN,
                            "%s.%s is a %s (owner %s), not a plain table: refusing to use it (the operator only "
                            "reads and writes plain tables owned by " TDB_OWNER_ROLE "; an admin must put the "
                            "table back)",
                            schema, name, relkind_name(kind), owner);
        else if (strcmp(PQgetvalue(before, i, 4), "t") != 0)
            rc = pb_err_set(e, PB_EFORBIDDEN,
                            "table %s.%s is owned by %s, not " TDB_OWNER_ROLE ": refusing to use it (its owner "
                            "could change what reading it runs; an admin must put the operator's table back)",
                            schema, name, owner);
    }
    /* Lock them all, then look again: what was checked is what stays until
     * the end of the transaction (dropping, renaming or replacing a table
     * needs a lock that conflicts with ACCESS SHARE). */
    pb_buf lock = {0};
    pb_buf_puts(&lock, "LOCK TABLE ONLY ");
    for (int i = 0; rc == 0 && i < PQntuples(before); i++) {
        char *s = PQescapeIdentifier(c, schema, strlen(schema));
        char *n = PQescapeIdentifier(c, PQgetvalue(before, i, 0), strlen(PQgetvalue(before, i, 0)));
        if (s && n) {
            pb_buf_puts(&lock, i ? ", " : "");
            pb_buf_puts(&lock, s);
            pb_buf_puts(&lock, ".");
            pb_buf_puts(&lock, n);
        } else {
            rc = pb_pg_error(c, NULL, e);
        }
        PQfreemem(s);
        PQfreemem(n);
    }
    pb_buf_puts(&lock, " IN ACCESS SHARE MODE");
    char *sql = pb_buf_take(&lock, NULL);
    if (rc == 0 && !sql)
        rc = pb_err_set(e, PB_ENOMEM, "out of memory");
    if (rc == 0)
        rc = pb_pg_exec(c, sql, e);
    free(sql);
    if (rc == 0)
        rc = describe_tables(c, schema, names, &after, e);
    for (int i = 0; rc == 0 && i < PQntuples(before); i++)
        if (strcmp(PQgetvalue(before, i, 1), PQgetvalue(after, i, 1)) != 0)
            rc = pb_err_set(e, PB_ECONFLICT, "table %s.%s changed while it was being checked: retry", schema,
                            PQgetvalue(before, i, 0));
    PQclear(before);
    PQclear(after);
    free(names);
    return rc;
}

/* ---- schemas ----------------------------------------------------------------- */

/* What in a schema is not the owner role's, one row per thing, most
 * telling first (relations, then other objects, then CREATE grants), as
 * "<what> (owner <role>)". Row types and array types go with the relation
 * or type they belong to; indexes with their table. A "public" schema of
 * PostgreSQL 15 belongs to pg_database_owner, which is the owner role when
 * it owns the database. */
static const char FOREIGN_OBJECTS_SQL[] =
    "WITH n AS (SELECT oid, nspname, nspowner, nspacl FROM pg_catalog.pg_namespace WHERE nspname = $1), "
    "own AS (SELECT " OWNER_OID " AS oid), "
    "dbo AS (SELECT datdba FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()) "
    "SELECT what || ' (owner ' || pg_catalog.pg_get_userbyid(o) || ')', k FROM ("
    "  SELECT 0 AS k, 'schema ' || n.nspname AS what, n.nspowner AS o FROM n "
    "   WHERE NOT (n.nspowner = 'pg_database_owner'::pg_catalog.regrole "
    "              AND (SELECT datdba FROM dbo) = (SELECT oid FROM own)) "
    "  UNION ALL SELECT 1, pg_catalog.pg_describe_object('pg_catalog.pg_class'::pg_catalog.regclass, c.oid, 0), "
    "    c.relowner FROM pg_catalog.pg_class c, n WHERE c.relnamespace = n.oid AND c.relkind NOT IN ('i', 'I') "
    "  UNION ALL SELECT 2, pg_catalog.pg_describe_object('pg_catalog.pg_proc'::pg_catalog.regclass, p.oid, 0), "
    "    p.proowner FROM pg_catalog.pg_proc p, n WHERE p.pronamespace = n.oid "
    "  UNION ALL SELECT 2, pg_catalog.pg_describe_object('pg_catalog.pg_type'::pg_catalog.regclass, t.oid, 0), "
    "    t.typowner FROM pg_catalog.pg_type t, n WHERE t.typnamespace = n.oid AND t.typrelid = 0 "
    "    AND NOT (t.typcategory = 'A' AND t.typelem <> 0) "
    "  UNION ALL SELECT 2, pg_catalog.pg_describe_object('pg_catalog.pg_operator'::pg_catalog.regclass, x.oid, 0), "
    "    x.oprowner FROM pg_catalog.pg_operator x, n WHERE x.oprnamespace = n.oid "
    "  UNION ALL SELECT 2, pg_catalog.pg_describe_object('pg_catalog.pg_collation'::pg_catalog.regclass, x.oid, 0), "
    "    x.collowner FROM pg_catalog.pg_collation x, n WHERE x.collnamespace = n.oid "
    "  UNION ALL SELECT 2, pg_catalog.pg_describe_object('pg_catalog.pg_conversion'::pg_catalog.regclass, x.oid, 0), "
    "    x.conowner FROM pg_catalog.pg_conversion x, n WHERE x.connamespace = n.oid "
    "  UNION ALL SELECT 2, pg_catalog.pg_describe_object('pg_catalog.pg_opclass'::pg_catalog.regclass, x.oid, 0), "
    "    x.opcowner FROM pg_catalog.pg_opclass x, n WHERE x.opcnamespace = n.oid "
    "  UNION ALL SELECT 2, pg_catalog.pg_describe_object('pg_catalog.pg_opfamily'::pg_catalog.regclass, x.oid, 0), "
    "    x.opfowner FROM pg_catalog.pg_opfamily x, n WHERE x.opfnamespace = n.oid "
    "  UNION ALL SELECT 2, pg_catalog.pg_describe_object('pg_catalog.pg_ts_config'::pg_catalog.regclass, x.oid, 0), "
    "    x.cfgowner FROM pg_catalog.pg_ts_config x, n WHERE x.cfgnamespace = n.oid "
    "  UNION ALL SELECT 2, pg_catalog.pg_describe_object('pg_catalog.pg_ts_dict'::pg_catalog.regclass, x.oid, 0), "
    "    x.dictowner FROM pg_catalog.pg_ts_dict x, n WHERE x.dictnamespace = n.oid "
    "  UNION ALL SELECT 2, pg_catalog.pg_describe_object('pg_catalog.pg_statistic_ext'::pg_catalog.regclass, x.oid, 0), "
    "    x.stxowner FROM pg_catalog.pg_statistic_ext x, n WHERE x.stxnamespace = n.oid "
    ") x WHERE o <> (SELECT oid FROM own) "
    "UNION ALL SELECT 'CREATE on schema ' || n.nspname || ' for ' || "
    "  CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(a.grantee) END, 3 "
    "  FROM n, pg_catalog.aclexplode(n.nspacl) a WHERE a.privilege_type = 'CREATE' AND a.grantee <> n.nspowner "
    "  AND a.grantee <> (SELECT oid FROM own) "
    "ORDER BY 2, 1";

/* Shown at most, of a list of untrusted objects (the message has a
 * fixed size). */
#define SHOWN_MAX 6

int tdb_guard_schema(PGconn *c, const char *schema, pb_err *e)
{
    int found = 0;
    int rc = tdb_exists(c, "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1", schema, &found, e);
    if (rc == 0 && !found)
        return pb_err_set(e, PB_ENOTFOUND, "schema %s does not exist", schema);
    PGresult *r = NULL;
    const char *p[1] = {schema};
    if (rc == 0)
        rc = pb_pg_query(c, FOREIGN_OBJECTS_SQL, 1, p, &r, e);
    int n = rc == 0 ? PQntuples(r) : 0;
    if (n > 0) {
        char list[PB_ERR_MSG_MAX] = "";
        size_t len = 0;
        for (int i = 0; i < n && i < SHOWN_MAX && len < sizeof list; i++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", PQgetvalue(r, i, 0));
        if (n > SHOWN_MAX && len < sizeof list)
            snprintf(list + len, sizeof list - len, " and %d more", n - SHOWN_MAX);
        rc = pb_err_set(e, PB_EFORBIDDEN,
                        "schema %s holds what the operator did not make and will not trust (only " TDB_OWNER_ROLE
                        " may own or create anything there): %s; an admin must remove it",
                        schema, list);
    }
    PQclear(r);
    return rc;
}

int tdb_guard_database(PGconn *c, pb_err *e)
{
    PGresult *r = NULL;
    int rc = pb_pg_query(c,
                         "SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname NOT IN "
                         "('pg_catalog', 'information_schema', 'pg_toast', 'paybill') "
                         "AND nspname NOT LIKE 'pg\\_temp\\_%' AND nspname NOT LIKE 'pg\\_toast\\_temp\\_%' "
                         "ORDER BY nspname",
                         0, NULL, &r, e);
    for (int i = 0; rc == 0 && i < PQntuples(r); i++)
        rc = tdb_guard_schema(c, PQgetvalue(r, i, 0), e);
    PQclear(r);
    return rc ? pb_err_wrap(e, "database %s", PQdb(c)) : 0;
}

/* ---- taking back what older versions gave tenants ------------------------------- */

int tdb_take_schema(PGconn *c, const char *schema, const char *role, pb_err *e)
{
    const char *p[1] = {schema};
    PGresult *r = NULL;
    /* One read; writes only when something is off (converging an unchanged
     * tenant writes nothing to the catalog). */
    int rc = pb_pg_query(c,
                         "SELECT n.nspowner = " OWNER_OID ", "
                         "  (SELECT pg_catalog.string_agg(CASE WHEN a.grantee = 0 THEN 'PUBLIC' "
                         "          ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, ', ') "
                         "     FROM pg_catalog.aclexplode(n.nspacl) a WHERE a.privilege_type = 'CREATE' "
                         "      AND a.grantee <> n.nspowner AND a.grantee <> " OWNER_OID "), "
                         "  pg_catalog.pg_get_userbyid(n.nspowner) "
                         "FROM pg_catalog.pg_namespace n WHERE n.nspname = $1",
                         1, p, &r, e);
    if (rc == 0 && PQntuples(r) != 1)
        rc = pb_err_set(e, PB_ENOTFOUND, "schema %s does not exist", schema);
    if (rc == 0 && strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
        rc = pb_pg_execf(c, e, "ALTER SCHEMA %I OWNER TO " TDB_OWNER_ROLE, schema);
        if (rc == 0)
            pb_log_warn("schema taken back for the operator's owner role (older versions let tenants own it)",
                        "schema", schema, "owner", PQgetvalue(r, 0, 2), "tenant", role, NULL);
    }
    if (rc == 0 && !PQgetisnull(r, 0, 1))
        rc = pb_pg_execf(c, e, "REVOKE CREATE ON SCHEMA %I FROM %s", schema, PQgetvalue(r, 0, 1));
    PQclear(r);
    return rc ? pb_err_wrap(e, "taking schema %s back from %s", schema, role) : 0;
}

int tdb_take_database(PGconn *c, const char *db, const char *role, const char *alt, int own, pb_err *e)
{
    const char *p[3] = {db, role, alt ? alt : role};
    PGresult *r = NULL;
    int rc = pb_pg_query(c,
                         "SELECT d.datdba = " OWNER_OID ", "
                         "  (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(u.rolname), ', ') "
                         "     FROM pg_catalog.pg_roles u WHERE u.rolname IN ($2, $3) "
                         "      AND (pg_catalog.has_database_privilege(u.oid, d.oid, 'CREATE') "
                         "           OR pg_catalog.has_database_privilege(u.oid, d.oid, 'TEMPORARY'))) "
                         "FROM pg_catalog.pg_database d WHERE d.datname = $1",
                         3, p, &r, e);
    if (rc == 0 && PQntuples(r) != 1)
        rc = pb_err_set(e, PB_ENOTFOUND, "database %s does not exist", db);
    if (rc == 0 && own && strcmp(PQgetvalue(r, 0, 0), "t") != 0)
        rc = pb_pg_execf(c, e, "ALTER DATABASE %I OWNER TO " TDB_OWNER_ROLE, db);
    /* PUBLIC too: a tenant may hold them through it. */
    if (rc == 0 && !PQgetisnull(r, 0, 1))
        rc = pb_pg_execf(c, e, "REVOKE CREATE, TEMPORARY ON DATABASE %I FROM PUBLIC, %s", db, PQgetvalue(r, 0, 1));
    PQclear(r);
    return rc ? pb_err_wrap(e, "taking database %s back from %s", db, role) : 0;
}
