/*
 * tenantdb.c - tenant data layouts and lifecycle (see tenantdb.h; how the
 * module is split across files: tenantdb_int.h).
 *
 * Every operation is a sequence of idempotent steps (IF NOT EXISTS, catalog
 * checks, ON CONFLICT, "already gone is fine"), each in one transaction
 * where PostgreSQL allows it (CREATE/DROP DATABASE cannot be). The tenant's
 * record in paybill.tenants is written before and after the steps that
 * need to be resumed, so a rerun after a crash knows where it stopped.
 *
 * Every name that reaches SQL is either a constant, a checked identifier
 * (tenant ids, DataModel names) quoted with PQescapeIdentifier, or a value
 * passed as a parameter / quoted with PQescapeLiteral (pg.h). Admin
 * sessions run with search_path pinned to pg_catalog; statements on tenant
 * data run as the owner role on checked tables (tenantdb_guard.c).
 */
#include "provision/tenantdb.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provision/pg.h"
#include "provision/tenantdb_int.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/secret.h"

static const char MIGRATIONS_DDL[] =
    "CREATE SCHEMA IF NOT EXISTS paybill;\n"
    "REVOKE ALL ON SCHEMA paybill FROM PUBLIC;\n"
    "CREATE TABLE IF NOT EXISTS paybill.migrations (\n"
    "  target text NOT NULL, version bigint NOT NULL, model_name text NOT NULL,\n"
    "  model jsonb NOT NULL, statements text NOT NULL,\n"
    "  applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (target, version));\n";

/* ---- small helpers --------------------------------------------------------- */

int tdb_id_ok(const char *id, pb_err *e)
{
    if (!id || !*id || strlen(id) > 40 || !(id[0] >= 'a' && id[0] <= 'z'))
        goto bad;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            goto bad;
    return 0;
bad:
    return pb_err_set(e, PB_EINVAL,
                      "tenant id \"%.50s\" is invalid (1-40 of a-z, 0-9, _; starting with a letter)",
                      id ? id : "");
}

static void role_of(const char *id, char out[TDB_NAME_MAX]) { snprintf(out, TDB_NAME_MAX, "pb_t_%s", id); }

/* The second login: '-' never occurs in an id, so no tenant's first
 * login can be another tenant's second. */
static void alt_role_of(const char *id, char out[TDB_NAME_MAX]) { snprintf(out, TDB_NAME_MAX, "pb_t_%s-2", id); }

void tdb_location_of(const pb_tdb *t, pb_dm_layout l, const char *id, char out[TDB_NAME_MAX])
{
    if (l == PB_DM_LAYOUT_RLS)
        snprintf(out, TDB_NAME_MAX, "%s", t->app_schema);
    else
        snprintf(out, TDB_NAME_MAX, "t_%s", id);
}

/* Database and schema holding a copy of the data. */
const char *tdb_data_db(const pb_tdb *t, pb_dm_layout l, const char *location)
{
    return l == PB_DM_LAYOUT_DATABASE ? location : t->shared_db;
}

const char *tdb_data_schema(pb_dm_layout l, const char *location)
{
    return l == PB_DM_LAYOUT_DATABASE ? TDB_TENANT_DB_SCHEMA : location;
}

int tdb_injected(pb_tdb *t, int step, pb_err *e)
{
    if (t->fail_after != step)
        return 0;
    t->fail_after = 0;
    t->failed_on_purpose = 1;
    return pb_err_set(e, PB_EINTERNAL, "injected failure after step %d", step);
}

void pb_tdb_set_fail_after(pb_tdb *t, int step) { t->fail_after = step; }

/* Give a borrowed connection back. Only connections to the shared database
 * are kept idle: there may be thousands of tenant databases, and an idle
 * backend for each would use up the server's max_connections. */
void tdb_put_conn(pb_tdb *t, PGconn *c)
{
    if (c && strcmp(PQdb(c), t->shared_db) == 0)
        pb_pg_pool_put(t->pool, c);
    else
        pb_pg_pool_close(t->pool, c);
}

/* Inside a transaction: lift statement_timeout to the bulk one for its
 * remaining statements (they take time in proportion to the tenant's rows,
 * so the per-statement guard meant for catalog work does not fit them). */
int tdb_bulk_timeout(pb_tdb *t, PGconn *c, pb_err *e)
{
    int rc = pb_pg_execf(c, e, "SET LOCAL statement_timeout = %d", t->move_timeout_ms);
    if (rc == 0)
        pb_pg_set_statement_timeout(c, t->move_timeout_ms); /* our waits for answers follow */
    return rc;
}

static char *dup_or(const char *s, const char *dflt) { return strdup(s ? s : dflt); }

int tdb_exists(PGconn *c, const char *sql, const char *param, int *found, pb_err *e)
{
    PGresult *r;
    int rc = pb_pg_query(c, sql, 1, &param, &r, e);
    if (rc == 0) {
        *found = PQntuples(r) > 0;
        PQclear(r);
    }
    return rc;
}

int tdb_role_exists(PGconn *c, const char *role, int *found, pb_err *e)
{
    return tdb_exists(c, "SELECT 1 FROM pg_roles WHERE rolname = $1", role, found, e);
}

/* ---- tenant record ----------------------------------------------------------- */

static void copy_field(char *dst, size_t n, const PGresult *r, int col)
{
    snprintf(dst, n, "%s", PQgetisnull(r, 0, col) ? "" : PQgetvalue(r, 0, col));
}

int tdb_load_row(PGconn *c, const char *id, tdb_row *row, pb_err *e)
{
    memset(row, 0, sizeof *row);
    PGresult *r;
    int rc = pb_pg_query(c,
                         "SELECT role_name, layout, location, state, move_layout, move_location, "
                         "old_layout, old_location, password_hash, move_server, moved_to, arriving_from, "
                         "alt_role, alt_password_hash, active_login, "
                         "to_char(revoke_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
                         "to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
                         "revoke_at <= now(), extract(epoch FROM revoke_at - now()), "
                         "agent_role, agent_password_hash "
                         "FROM paybill.tenants WHERE tenant_id = $1",
                         1, &id, &r, e);
    if (rc)
        return rc;
    if (PQntuples(r) == 1) {
        row->found = 1;
        copy_field(row->role, sizeof row->role, r, 0);
        pb_dm_layout_parse(PQgetvalue(r, 0, 1), &row->layout);
        copy_field(row->location, sizeof row->location, r, 2);
        copy_field(row->state, sizeof row->state, r, 3);
        row->has_move = !PQgetisnull(r, 0, 4) && pb_dm_layout_parse(PQgetvalue(r, 0, 4), &row->move_layout) == 0;
        copy_field(row->move_location, sizeof row->move_location, r, 5);
        row->has_old = !PQgetisnull(r, 0, 6) && pb_dm_layout_parse(PQgetvalue(r, 0, 6), &row->old_layout) == 0;
        copy_field(row->old_location, sizeof row->old_location, r, 7);
        copy_field(row->pw_hash, sizeof row->pw_hash, r, 8);
        copy_field(row->move_server, sizeof row->move_server, r, 9);
        copy_field(row->moved_to, sizeof row->moved_to, r, 10);
        copy_field(row->arriving_from, sizeof row->arriving_from, r, 11);
        copy_field(row->alt_role, sizeof row->alt_role, r, 12);
        copy_field(row->alt_pw_hash, sizeof row->alt_pw_hash, r, 13);
        row->active = atoi(PQgetvalue(r, 0, 14)) == 2 && row->alt_role[0] ? 2 : 1;
        copy_field(row->revoke_at, sizeof row->revoke_at, r, 15);
        copy_field(row->revoked_at, sizeof row->revoked_at, r, 16);
        row->revoke_due = strcmp(PQgetvalue(r, 0, 17), "t") == 0;
        row->revoke_in_s = PQgetisnull(r, 0, 18) ? 0 : atof(PQgetvalue(r, 0, 18));
        copy_field(row->agent_role, sizeof row->agent_role, r, 19);
        copy_field(row->agent_pw_hash, sizeof row->agent_pw_hash, r, 20);
    }
    PQclear(r);
    return 0;
}

/* Operations on one tenant are serialised (operator replicas, a Tenant
 * move against a DataModel rollout) by a session-level advisory lock on the
 * caller's connection. Waiting is bounded by lock_timeout (PB_ETIMEOUT:
 * retry later); pb_pg_pool_put releases any lock left behind. */
int tdb_tenant_lock(PGconn *c, const char *id, pb_err *e)
{
    return pb_pg_query(c, "SELECT pg_advisory_lock(hashtext('paybill.tenant'), hashtext($1))", 1, &id, NULL, e);
}

void tdb_tenant_unlock(PGconn *c, const char *id)
{
    pb_err ignored;
    if (c)
        pb_pg_query(c, "SELECT pg_advisory_unlock(hashtext('paybill.tenant'), hashtext($1))", 1, &id, NULL,
                    &ignored);
}

/* Load a tenant that must exist, locked when `lock`; on success *c stays
 * borrowed: give it back with close_tenant. */
int tdb_open_tenant(pb_tdb *t, const char *id, int lock, PGconn **c, tdb_row *row, pb_err *e)
{
    *c = NULL;
    int locked = 0;
    int rc = tdb_id_ok(id, e);
    if (rc == 0)
        rc = pb_pg_pool_get(t->pool, t->shared_db, c, e);
    if (rc == 0 && lock)
        locked = (rc = tdb_tenant_lock(*c, id, e)) == 0;
    if (rc == 0)
        rc = tdb_load_row(*c, id, row, e);
    if (rc == 0 && !row->found)
        rc = pb_err_set(e, PB_ENOTFOUND, "tenant %s not found", id);
    else if (rc == 0 && row->moved_to[0])
        rc = pb_err_set(e, PB_ENOTFOUND, "tenant %s is not on this server: it moved to server %s", id,
                        row->moved_to);
    if (rc) {
        if (locked)
            tdb_tenant_unlock(*c, id);
        tdb_put_conn(t, *c);
        *c = NULL;
    }
    return rc;
}

void tdb_close_tenant(pb_tdb *t, PGconn *c, const char *id, int locked)
{
    if (locked)
        tdb_tenant_unlock(c, id);
    tdb_put_conn(t, c);
}

/* A tenant's row as it is now, without taking its lock (the connection goes
 * straight back to the pool); PB_ENOTFOUND if there is no such tenant. A
 * tenant that moved away is found: callers decide what that means. */
static int read_row(pb_tdb *t, const char *id, tdb_row *row, pb_err *e)
{
    PGconn *c = NULL;
    int rc = tdb_id_ok(id, e);
    if (rc == 0)
        rc = pb_pg_pool_get(t->pool, t->shared_db, &c, e);
    if (rc == 0)
        rc = tdb_load_row(c, id, row, e);
    tdb_put_conn(t, c);
    if (rc == 0 && !row->found)
        rc = pb_err_set(e, PB_ENOTFOUND, "tenant %s not found", id);
    return rc;
}

/* PB_ECONFLICT while a move between servers is unfinished on either side:
 * only pb_tdb_move_across may touch the tenant then. */
int tdb_cross_move_pending(const tdb_row *row, pb_err *e)
{
    if (row->move_server[0])
        return pb_err_set(e, PB_ECONFLICT, "a move to server %s is unfinished: rerun pb_tdb_move_across",
                          row->move_server);
    if (row->arriving_from[0])
        return pb_err_set(e, PB_ECONFLICT, "a move from server %s is unfinished: rerun pb_tdb_move_across",
                          row->arriving_from);
    return 0;
}

/* ---- setup ------------------------------------------------------------------- */

/* PostgreSQL lets PUBLIC connect to, and make temporary tables in, its
 * maintenance database and template1: tenant logins have no business
 * there, so on a server the operator manages PUBLIC loses both. Only their
 * owner or a superuser may change that: an admin that is neither is told
 * in the log and carries on (nothing else depends on it). An admin that is
 * not a superuser keeps CONNECT, granted explicitly first. */
static int close_maintenance_dbs(PGconn *c, pb_err *e)
{
    PGresult *r = NULL;
    int rc = pb_pg_query(c,
                         "SELECT d.datname, "
                         "  EXISTS (SELECT 1 FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a "
                         "          WHERE a.grantee = 0 AND a.privilege_type IN ('CONNECT', 'TEMPORARY')), "
                         "  u.rolsuper OR pg_has_role(d.datdba, 'MEMBER'), u.rolsuper "
                         "FROM pg_database d, pg_roles u WHERE u.rolname = current_user "
                         "AND d.datname IN ('postgres', 'template1') ORDER BY d.datname",
                         0, NULL, &r, e);
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        const char *db = PQgetvalue(r, i, 0);
        if (strcmp(PQgetvalue(r, i, 1), "t") != 0)
            continue; /* closed already */
        if (strcmp(PQgetvalue(r, i, 2), "t") != 0) {
            pb_log_warn("PUBLIC may connect to this database and the admin may not change it: tenant logins "
                        "can connect there",
                        "database", db, NULL);
            continue;
        }
        if (strcmp(PQgetvalue(r, i, 3), "t") != 0)
            rc = pb_pg_execf(c, e, "GRANT CONNECT ON DATABASE %I TO CURRENT_USER", db);
        if (rc == 0)
            rc = pb_pg_execf(c, e, "REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC", db);
        if (rc == 0)
            pb_log_info("closed to PUBLIC (CONNECT, TEMPORARY)", "database", db, NULL);
    }
    PQclear(r);
    return rc ? pb_err_wrap(e, "closing the maintenance databases to PUBLIC") : 0;
}

/* A role nobody logs in as (attrs: a trusted constant), unless it exists;
 * one created concurrently counts as there. */
static int ensure_group_role(PGconn *c, const char *role, const char *attrs, pb_err *e)
{
    int found = 0;
    int rc = tdb_role_exists(c, role, &found, e);
    if (rc == 0 && !found) {
        rc = pb_pg_execf(c, e, "CREATE ROLE %I NOLOGIN%s", role, attrs);
        if (rc == PB_EEXIST)
            rc = 0;
    }
    return rc;
}

/* The shared database, its application schema and the tenant-id function
 * (not its tables) for a group role. */
static int grant_shared_use(PGconn *c, const pb_tdb *t, const char *role, pb_err *e)
{
    return pb_pg_execf(c, e,
                       "GRANT CONNECT ON DATABASE %I TO %I;\n"
                       "GRANT USAGE ON SCHEMA %I TO %I;\n"
                       "GRANT USAGE ON SCHEMA paybill TO %I;\n"
                       "GRANT EXECUTE ON FUNCTION paybill." PB_DM_TENANT_FN "() TO %I;\n",
                       t->shared_db, role, t->app_schema, role, role, role);
}

static int bootstrap(pb_tdb *t, pb_err *e)
{
    PGconn *c = NULL;
    int found = 0;
    int rc = pb_pg_pool_get(t->pool, NULL, &c, e);
    if (rc == 0)
        rc = tdb_exists(c, "SELECT 1 FROM pg_database WHERE datname = $1", t->shared_db, &found, e);
    if (rc == 0 && !found) {
        rc = pb_pg_execf(c, e, "CREATE DATABASE %I", t->shared_db);
        if (rc == PB_EEXIST) /* created concurrently */
            rc = 0;
    }
    if (rc == 0)
        rc = ensure_group_role(c, TDB_OWNER_ROLE, "", e);
    if (rc == 0)
        rc = ensure_group_role(c, t->rls_group, " NOINHERIT", e);
    if (rc == 0)
        rc = ensure_group_role(c, t->rls_agents, " NOINHERIT", e);
    if (rc == 0)
        rc = close_maintenance_dbs(c, e);
    tdb_put_conn(t, c);
    if (rc)
        return pb_err_wrap(e, "preparing the shared database");

    c = NULL;
    rc = pb_pg_pool_get(t->pool, t->shared_db, &c, e);
    if (rc == 0)
        rc = pb_pg_begin(c, e);
    if (rc == 0)
        rc = pb_pg_exec(c, MIGRATIONS_DDL, e);
    if (rc == 0)
        rc = pb_pg_exec(
            c,
            "GRANT USAGE ON SCHEMA paybill TO " TDB_OWNER_ROLE ";\n"
            "CREATE TABLE IF NOT EXISTS paybill.tenants (\n"
            "  tenant_id text PRIMARY KEY, role_name name NOT NULL UNIQUE,\n"
            "  layout text NOT NULL, location text NOT NULL, state text NOT NULL DEFAULT 'active',\n"
            "  move_layout text, move_location text, old_layout text, old_location text,\n"
            "  updated_at timestamptz NOT NULL DEFAULT now());\n"
            /* Added after the first release: existing tables get it too. */
            "ALTER TABLE paybill.tenants ADD COLUMN IF NOT EXISTS password_hash text;\n"
            /* Moves between servers (pb_tdb_move_across). */
            "ALTER TABLE paybill.tenants ADD COLUMN IF NOT EXISTS move_server text;\n"
            "ALTER TABLE paybill.tenants ADD COLUMN IF NOT EXISTS moved_to text;\n"
            "ALTER TABLE paybill.tenants ADD COLUMN IF NOT EXISTS arriving_from text;\n"
            /* The second login, for rotation without downtime. */
            "ALTER TABLE paybill.tenants ADD COLUMN IF NOT EXISTS alt_role name;\n"
            "ALTER TABLE paybill.tenants ADD COLUMN IF NOT EXISTS alt_password_hash text;\n"
            "ALTER TABLE paybill.tenants ADD COLUMN IF NOT EXISTS active_login int NOT NULL DEFAULT 1;\n"
            /* When the login handed out before the last rotation stops
             * working, and when it did (pb_tdb_revoke_due). */
            "ALTER TABLE paybill.tenants ADD COLUMN IF NOT EXISTS revoke_at timestamptz;\n"
            "ALTER TABLE paybill.tenants ADD COLUMN IF NOT EXISTS revoked_at timestamptz;\n"
            /* The agent login (tenantdb_agent.c): one per tenant, and the
             * tenant function maps it to exactly one tenant. */
            "ALTER TABLE paybill.tenants ADD COLUMN IF NOT EXISTS agent_role name;\n"
            "ALTER TABLE paybill.tenants ADD COLUMN IF NOT EXISTS agent_password_hash text;\n"
            "CREATE UNIQUE INDEX IF NOT EXISTS tenants_agent_role ON paybill.tenants (agent_role);\n"
            "GRANT SELECT ON paybill.tenants TO " TDB_OWNER_ROLE ";\n"
            /* The tenant of the login, not of the current role: SET ROLE
             * cannot change it, and only rls tenants have one. The
             * operator's own sessions (their login is a member of the owner
             * role, which no tenant is) name the tenant they work on in a
             * transaction-local setting: under the owner role (which is
             * subject to the policies: FORCE ROW LEVEL SECURITY) it sees
             * and writes that tenant's rows and no one else's. A tenant
             * setting it changes nothing. */
            "CREATE OR REPLACE FUNCTION paybill." PB_DM_TENANT_FN "() RETURNS text\n"
            "  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp\n"
            "  AS $f$ SELECT coalesce(\n"
            "         (SELECT tenant_id FROM paybill.tenants\n"
            "           WHERE (role_name = session_user OR alt_role = session_user\n"
            "                  OR agent_role = session_user)\n"
            "             AND layout = 'rls' AND moved_to IS NULL),\n"
            "         CASE WHEN pg_has_role(session_user, '" TDB_OWNER_ROLE "', 'MEMBER')\n"
            "              THEN nullif(current_setting('" TDB_ACTING_TENANT_GUC "', true), '') END) $f$;\n"
            "ALTER FUNCTION paybill." PB_DM_TENANT_FN "() OWNER TO " TDB_OWNER_ROLE ";\n"
            "REVOKE ALL ON FUNCTION paybill." PB_DM_TENANT_FN "() FROM PUBLIC;\n"
            "GRANT EXECUTE ON FUNCTION paybill." PB_DM_TENANT_FN "() TO " TDB_OWNER_ROLE ";\n"
            "REVOKE ALL ON SCHEMA public FROM PUBLIC;\n",
            e);
    /* TEMPORARY for the owner role: a move into rls stages rows in a
     * temporary table (COPY cannot write under row-level security). */
    if (rc == 0)
        rc = pb_pg_execf(c, e,
                         "CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION " TDB_OWNER_ROLE ";\n"
                         "REVOKE ALL ON SCHEMA %I FROM PUBLIC;\n"
                         "REVOKE ALL ON DATABASE %I FROM PUBLIC;\n"
                         "GRANT TEMPORARY ON DATABASE %I TO " TDB_OWNER_ROLE ";\n",
                         t->app_schema, t->app_schema, t->shared_db, t->shared_db);
    /* The shared tables' schema is the owner role's alone. */
    if (rc == 0)
        rc = tdb_take_schema(c, t->app_schema, t->rls_group, e);
    /* What every rls tenant may use, granted to their group once; and every
     * rls agent login the same, without the tables: an agent's table
     * privileges are its own, from its AgentPolicies. */
    if (rc == 0)
        rc = grant_shared_use(c, t, t->rls_group, e);
    if (rc == 0)
        rc = grant_shared_use(c, t, t->rls_agents, e);
    if (rc == 0)
        rc = pb_pg_commit(c, e);
    pb_pg_rollback(c);
    tdb_put_conn(t, c);
    return rc ? pb_err_wrap(e, "preparing database %s", t->shared_db) : 0;
}

int pb_tdb_new(const pb_tdb_config *cfg, pb_tdb **out, pb_err *e)
{
    *out = NULL;
    if (!cfg || !cfg->admin_conninfo)
        return pb_err_set(e, PB_EINVAL, "tenantdb: admin_conninfo is required");
    const char *shared = cfg->shared_db ? cfg->shared_db : "paybill";
    const char *app = cfg->app_schema ? cfg->app_schema : "app";
    if (!pb_dm_ident_ok(shared) || strlen(shared) > 50 || !pb_dm_ident_ok(app) || strncmp(app, "t_", 2) == 0 ||
        strncmp(app, "snap_", 5) == 0 || strcmp(app, "paybill") == 0)
        return pb_err_set(e, PB_EINVAL,
                          "tenantdb: shared_db (at most 50 characters) and app_schema must be identifiers "
                          "(app_schema not \"paybill\", \"t_*\" or \"snap_*\", which are used for tenants)");
    const char *server = cfg->server_name ? cfg->server_name : "default";
    size_t sl = strlen(server);
    int name_ok = sl > 0 && sl < TDB_NAME_MAX;
    for (const char *q = server; *q; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || strchr("_.-", *q)))
            name_ok = 0;
    if (!name_ok)
        return pb_err_set(e, PB_EINVAL, "tenantdb: server_name must be 1-63 of a-z, 0-9, _ . -");
    if (cfg->role != PB_TDB_SHARED && cfg->role != PB_TDB_DEDICATED)
        return pb_err_set(e, PB_EINVAL, "tenantdb: role must be PB_TDB_SHARED or PB_TDB_DEDICATED");
    pb_tdb *t = calloc(1, sizeof *t);
    if (!t)
        return pb_err_set(e, PB_ENOMEM, "out of memory");
    snprintf(t->server, sizeof t->server, "%s", server);
    t->role = cfg->role;
    snprintf(t->rls_group, sizeof t->rls_group, "%s_rls_tenants", shared);
    snprintf(t->rls_agents, sizeof t->rls_agents, "%s_rls_agents", shared);
    t->shared_db = strdup(shared);
    t->app_schema = strdup(app);
    t->tenant_host = dup_or(cfg->tenant_host, "127.0.0.1");
    t->sslmode = dup_or(cfg->sslmode, "prefer");
    t->snapshot_dir = cfg->snapshot_dir ? strdup(cfg->snapshot_dir) : NULL;
    t->pg_dump = dup_or(cfg->pg_dump, "pg_dump");
    t->tenant_port = cfg->tenant_port > 0 ? cfg->tenant_port : 5432;
    t->move_timeout_ms = cfg->move_statement_timeout_ms > 0 ? cfg->move_statement_timeout_ms : 0;
    t->cutoff = cfg->cutoff;
    t->cutoff_ud = cfg->cutoff_ud;
    /* Every admin session resolves names in pg_catalog only: no object
     * of anyone's can stand in for a built-in one. */
    pb_pg_opts po = {.conninfo = cfg->admin_conninfo,
                     .search_path = "pg_catalog,pg_temp",
                     .connect_timeout_s = cfg->connect_timeout_s,
                     .statement_timeout_ms = cfg->statement_timeout_ms,
                     .lock_timeout_ms = cfg->lock_timeout_ms,
                     .max_idle_total = cfg->max_idle_conns,
                     .cutoff = cfg->cutoff,
                     .cutoff_ud = cfg->cutoff_ud};
    int rc = 0;
    if (!t->shared_db || !t->app_schema || !t->tenant_host || !t->sslmode || !t->pg_dump ||
        (cfg->snapshot_dir && !t->snapshot_dir))
        rc = pb_err_set(e, PB_ENOMEM, "out of memory");
    if (rc == 0)
        rc = pb_pg_pool_new(&po, &t->pool, e);
    if (rc == 0)
        rc = bootstrap(t, e);
    if (rc) {
        pb_tdb_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void pb_tdb_free(pb_tdb *t)
{
    if (!t)
        return;
    pb_pg_pool_free(t->pool);
    free(t->shared_db);
    free(t->app_schema);
    free(t->tenant_host);
    free(t->sslmode);
    free(t->snapshot_dir);
    free(t->pg_dump);
    free(t);
}

/* ---- migrations -------------------------------------------------------------- */

/* Bring one target (a schema on connection c) to model m, in one
 * transaction together with its paybill.migrations row. Everything in the
 * schema runs as the owner role (so tenants never own their tables, and
 * nothing of theirs runs with the admin's privileges), on a schema holding
 * only what the owner role made and tables that are the owner's plain
 * tables before and after the change (tenantdb_guard.c). */
static int migrate_target(PGconn *c, const char *schema, pb_dm_layout layout, const pb_dm_model *m,
                          int allow_destructive, pb_err *e)
{
    PGresult *r = NULL;
    pb_dm_model *from = NULL;
    char *ddl = NULL;
    const char *p1[1] = {schema};
    int rc = pb_pg_begin(c, e);
    if (rc == 0)
        rc = pb_pg_query(c, "SELECT pg_advisory_xact_lock(hashtext('paybill.migrate'), hashtext($1))", 1, p1,
                         NULL, e);
    if (rc == 0)
        rc = pb_pg_query(c,
                         "SELECT model::text, model_name FROM paybill.migrations WHERE target = $1 "
                         "ORDER BY version DESC LIMIT 1",
                         1, p1, &r, e);
    if (rc == 0 && PQntuples(r) == 1) {
        rc = pb_dm_parse(PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 0), &from, e);
        if (rc)
            rc = pb_err_wrap(e, "the model recorded in paybill.migrations is unreadable");
    }
    PQclear(r);
    pb_dm_target tg = {layout, schema};
    if (rc == 0)
        rc = pb_dm_render(from, m, &tg, allow_destructive, &ddl, e);
    if (rc == 0)
        rc = tdb_act_as_owner(c, NULL, e);
    if (rc == 0)
        rc = tdb_guard_schema(c, schema, e);
    if (rc == 0 && from)
        rc = tdb_guard_tables(c, schema, from, e);
    if (rc == 0 && *ddl)
        rc = pb_pg_exec(c, ddl, e);
    if (rc == 0)
        rc = tdb_guard_tables(c, schema, m, e);
    if (rc == 0)
        rc = tdb_act_as_admin(c, e);
    if (rc == 0 && *ddl) {
        char ver[32];
        snprintf(ver, sizeof ver, "%lld", pb_dm_version(m));
        const char *p[5] = {schema, ver, pb_dm_name(m), pb_dm_canonical(m), ddl};
        if (rc == 0)
            rc = pb_pg_query(c,
                             "INSERT INTO paybill.migrations (target, version, model_name, model, statements) "
                             "VALUES ($1, $2::bigint, $3, $4::jsonb, $5)",
                             5, p, NULL, e);
    }
    if (rc == 0)
        rc = pb_pg_commit(c, e);
    pb_pg_rollback(c);
    if (rc == 0 && *ddl)
        pb_log_info("datamodel migrated", "target", schema, "layout", pb_dm_layout_name(layout), "model",
                    pb_dm_name(m), NULL);
    free(ddl);
    pb_dm_free(from);
    return rc ? pb_err_wrap(e, "migrating %s to %s version %lld", schema, pb_dm_name(m), pb_dm_version(m)) : 0;
}

/* Version recorded for a target, 0 when none. */
int tdb_target_version(PGconn *c, const char *schema, long long *v, pb_err *e)
{
    PGresult *r;
    int rc = pb_pg_query(c, "SELECT coalesce(max(version), 0) FROM paybill.migrations WHERE target = $1", 1,
                         &schema, &r, e);
    if (rc == 0) {
        *v = atoll(PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    return rc;
}

/* DML on every table of a schema to one role (rerun after each migration:
 * new tables). */
static int grant_tables(PGconn *c, const char *schema, const char *role, pb_err *e)
{
    return pb_pg_execf(c, e,
                       "GRANT USAGE ON SCHEMA %I TO %I;\n"
                       "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I;\n",
                       schema, role, schema, role);
}

/* The shared rls tables' DML for the rls group, granted only when a table
 * lacks it (a migration added one): a GRANT rewrites every table's catalog
 * row, which converging a tenant should not pay for. */
static int grant_rls_tables(pb_tdb *t, PGconn *c, pb_err *e)
{
    const char *p[2] = {t->app_schema, t->rls_group};
    PGresult *r;
    int rc = pb_pg_query(c,
                         "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                         "WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT ("
                         "has_table_privilege($2, c.oid, 'SELECT') AND has_table_privilege($2, c.oid, 'INSERT') "
                         "AND has_table_privilege($2, c.oid, 'UPDATE') AND has_table_privilege($2, c.oid, 'DELETE'))",
                         2, p, &r, e);
    if (rc)
        return rc;
    int missing = atoi(PQgetvalue(r, 0, 0)) > 0;
    PQclear(r);
    return missing ? grant_tables(c, t->app_schema, t->rls_group, e) : 0;
}

/* An rls tenant's role: INHERIT, member of the rls group (and of nothing
 * else), with no grants of its own on the shared objects (versions before
 * the group granted them per tenant, which grew every ACL until pg_class
 * rows no longer fit in a page). One transaction, when anything needs
 * changing. */
static int join_rls_group(pb_tdb *t, PGconn *c, const char *role, pb_err *e)
{
    const char *p[3] = {role, t->rls_group, t->app_schema};
    PGresult *r = NULL;
    int rc = pb_pg_query(
        c,
        "WITH me AS (SELECT oid, rolinherit FROM pg_roles WHERE rolname = $1) SELECT me.rolinherit, "
            "EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
            "        WHERE m.member = me.oid AND g.rolname = $2), "
            "EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a "
            "        WHERE n.nspname = $3 AND a.grantee = me.oid) "
            "OR EXISTS (SELECT 1 FROM pg_namespace n, aclexplode(n.nspacl) a "
            "        WHERE n.nspname IN ($3, 'paybill') AND a.grantee = me.oid) "
            "OR EXISTS (SELECT 1 FROM pg_proc f JOIN pg_namespace n ON n.oid = f.pronamespace, aclexplode(f.proacl) a "
            "        WHERE n.nspname = 'paybill' AND f.proname = '" PB_DM_TENANT_FN "' AND a.grantee = me.oid) "
            "OR EXISTS (SELECT 1 FROM pg_database d, aclexplode(d.datacl) a "
            "        WHERE d.datname = current_database() AND a.grantee = me.oid) "
            "FROM me",
            3, p, &r, e);
    if (rc == 0 && PQntuples(r) != 1)
        rc = pb_err_set(e, PB_ENOTFOUND, "role %s not found", role);
    /* Already right (the usual converge): no transaction, no writes. */
    if (rc == 0 && strcmp(PQgetvalue(r, 0, 0), "t") == 0 && strcmp(PQgetvalue(r, 0, 1), "t") == 0 &&
        strcmp(PQgetvalue(r, 0, 2), "f") == 0) {
        PQclear(r);
        return 0;
    }
    if (rc == 0)
        rc = pb_pg_begin(c, e);
    if (rc == 0 && strcmp(PQgetvalue(r, 0, 0), "t") != 0)
        rc = pb_pg_execf(c, e, "ALTER ROLE %I INHERIT", role);
    if (rc == 0 && strcmp(PQgetvalue(r, 0, 1), "t") != 0)
        rc = pb_pg_execf(c, e, "GRANT %I TO %I", t->rls_group, role);
    if (rc == 0 && strcmp(PQgetvalue(r, 0, 2), "t") == 0)
        rc = pb_pg_execf(c, e,
                         "REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM %I;\n"
                         "REVOKE ALL ON SCHEMA %I FROM %I;\n"
                         "REVOKE ALL ON SCHEMA paybill FROM %I;\n"
                         "REVOKE ALL ON FUNCTION paybill." PB_DM_TENANT_FN "() FROM %I;\n"
                         "REVOKE ALL ON DATABASE %I FROM %I;\n",
                         t->app_schema, role, t->app_schema, role, role, role, t->shared_db, role);
    PQclear(r);
    if (rc == 0)
        rc = pb_pg_commit(c, e);
    pb_pg_rollback(c);
    return rc ? pb_err_wrap(e, "joining %s to %s", role, t->rls_group) : 0;
}

/* The reverse, when the tenant's data leaves rls: NOINHERIT, member of
 * nothing. */
static int leave_rls_group(pb_tdb *t, PGconn *c, const char *role, pb_err *e)
{
    const char *p[2] = {role, t->rls_group};
    int member = 0;
    PGresult *r;
    int rc = pb_pg_query(c,
                         "SELECT 1 FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member "
                         "JOIN pg_roles g ON g.oid = m.roleid WHERE u.rolname = $1 AND g.rolname = $2",
                         2, p, &r, e);
    if (rc == 0) {
        member = PQntuples(r) > 0;
        PQclear(r);
    }
    if (rc == 0)
        rc = pb_pg_execf(c, e, "ALTER ROLE %I NOINHERIT", role);
    if (rc == 0 && member)
        rc = pb_pg_execf(c, e, "REVOKE %I FROM %I", t->rls_group, role);
    return rc;
}

/* One tenant's part of a rollout. Schema and database tenants: what older
 * versions gave the tenant taken back first (it owned its schema), then
 * its tables migrated and granted; rls tenants only converge their group
 * membership (the shared tables were migrated before them). */
static int rollout_tenant(pb_tdb *t, PGconn *c, const char *role, const char *alt, pb_dm_layout l,
                          const char *loc, const pb_dm_model *m, int allow_destructive, pb_err *e)
{
    if (l == PB_DM_LAYOUT_RLS)
        return join_rls_group(t, c, role, e); /* converges tenants made before the group */
    if (l == PB_DM_LAYOUT_SCHEMA) {
        int rc = tdb_take_schema(c, loc, role, e);
        if (rc == 0)
            rc = migrate_target(c, loc, l, m, allow_destructive, e);
        if (rc == 0)
            rc = grant_tables(c, loc, role, e);
        return rc;
    }
    PGconn *tc = NULL;
    int rc = tdb_take_database(c, loc, role, alt, 1, e);
    if (rc == 0)
        rc = pb_pg_pool_get(t->pool, loc, &tc, e);
    if (rc == 0)
        rc = tdb_take_schema(tc, TDB_TENANT_DB_SCHEMA, role, e);
    if (rc == 0)
        rc = migrate_target(tc, TDB_TENANT_DB_SCHEMA, l, m, allow_destructive, e);
    if (rc == 0)
        rc = grant_tables(tc, TDB_TENANT_DB_SCHEMA, role, e);
    tdb_put_conn(t, tc);
    return rc;
}

static int add_failure(pb_tdb_rollout *ro, const char *id, int code, const char *why)
{
    pb_tdb_rollout_failure *f = realloc(ro->failures, (size_t)(ro->failed + 1) * sizeof *f);
    if (!f)
        return PB_ENOMEM;
    ro->failures = f;
    f += ro->failed++;
    snprintf(f->tenant, sizeof f->tenant, "%s", id);
    f->code = code;
    snprintf(f->reason, sizeof f->reason, "%s", why);
    return 0;
}

/* One error naming every failed tenant and its reason, each cut to an
 * equal share of the message (the first failure's code). */
static int rollout_error(const pb_tdb_rollout *ro, const pb_dm_model *m, pb_err *e)
{
    char msg[PB_ERR_MSG_MAX];
    int len = snprintf(msg, sizeof msg,
                       "DataModel %s version %lld not applied to %d of %d tenants (every other one is at this "
                       "version)",
                       pb_dm_name(m), pb_dm_version(m), ro->failed, ro->tenants);
    int share = ((int)sizeof msg - len) / (ro->failed > 0 ? ro->failed : 1) - 16;
    if (share < 40)
        share = 40;
    for (int i = 0; i < ro->failed && len > 0 && (size_t)len < sizeof msg; i++) {
        const pb_tdb_rollout_failure *f = &ro->failures[i];
        int cut = (int)strlen(f->reason) > share;
        len += snprintf(msg + len, sizeof msg - (size_t)len, "%s tenant %s: %.*s%s", i ? ";" : ":", f->tenant,
                        cut ? share - 3 : share, f->reason, cut ? "..." : "");
    }
    return pb_err_set(e, ro->failures[0].code, "%s", msg);
}

void pb_tdb_rollout_clear(pb_tdb_rollout *ro)
{
    if (!ro)
        return;
    free(ro->failures);
    memset(ro, 0, sizeof *ro);
}

int pb_tdb_apply_model(pb_tdb *t, const pb_dm_model *m, int allow_destructive, pb_err *e)
{
    return pb_tdb_apply_model_report(t, m, allow_destructive, NULL, e);
}

int pb_tdb_apply_model_report(pb_tdb *t, const pb_dm_model *m, int allow_destructive, pb_tdb_rollout *out,
                              pb_err *e)
{
    pb_tdb_rollout local = {0}, *ro = out ? out : &local;
    memset(ro, 0, sizeof *ro);
    PGconn *c = NULL;
    PGresult *r = NULL;
    int rc = pb_pg_pool_get(t->pool, t->shared_db, &c, e);
    /* The shared tables first: what fails there fails for the model, not
     * for one tenant (and every rls tenant depends on them). */
    if (rc == 0)
        rc = migrate_target(c, t->app_schema, PB_DM_LAYOUT_RLS, m, allow_destructive, e);
    if (rc == 0)
        rc = grant_rls_tables(t, c, e);
    if (rc == 0)
        rc = pb_pg_query(c, "SELECT tenant_id, role_name, layout, location, alt_role FROM paybill.tenants "
                         "WHERE moved_to IS NULL AND arriving_from IS NULL ORDER BY tenant_id",
                         0, NULL, &r, e);
    /* A tenant that fails is reported and the rollout goes on: one tenant
     * must not hold back everyone else's migration. */
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        const char *id = PQgetvalue(r, i, 0), *role = PQgetvalue(r, i, 1), *loc = PQgetvalue(r, i, 3);
        const char *alt = PQgetisnull(r, i, 4) ? NULL : PQgetvalue(r, i, 4);
        pb_dm_layout l = PB_DM_LAYOUT_RLS;
        pb_dm_layout_parse(PQgetvalue(r, i, 2), &l);
        pb_err te;
        pb_err_clear(&te);
        int trc = tdb_tenant_lock(c, id, &te);
        if (trc == 0) {
            trc = rollout_tenant(t, c, role, alt, l, loc, m, allow_destructive, &te);
            tdb_tenant_unlock(c, id);
        }
        ro->tenants++;
        if (trc) {
            pb_log_warn("datamodel not applied to a tenant; the rollout goes on", "tenant", id, "error", te.msg,
                        NULL);
            if (add_failure(ro, id, trc, te.msg))
                rc = pb_err_set(e, PB_ENOMEM, "out of memory");
        }
        /* The admin connection itself is gone: so is the server, for
         * everyone. */
        if (rc == 0 && PQstatus(c) != CONNECTION_OK)
            rc = pb_err_set(e, PB_EUNAVAILABLE, "lost the connection to the server during the rollout: %s", te.msg);
    }
    PQclear(r);
    tdb_put_conn(t, c);
    if (rc) { /* the model's or the server's failure, not one tenant's */
        pb_tdb_rollout_clear(ro);
        rc = pb_err_wrap(e, "applying DataModel %s version %lld", pb_dm_name(m), pb_dm_version(m));
    } else if (ro->failed) {
        rc = rollout_error(ro, m, e);
    }
    pb_tdb_rollout_clear(&local);
    return rc;
}

/* ---- roles and credentials --------------------------------------------------- */

/* 32 characters from RFC 3986's unreserved set (util/secret.h): about 194
 * bits, usable in a URI or a conninfo string as is. Caller wipes and frees. */
int tdb_new_password(char **out, pb_err *e)
{
    return pb_secret_password(32, out, e);
}

int tdb_password_ok(const char *pw, pb_err *e)
{
    size_t n = strlen(pw);
    if (n < 16 || n > 128)
        return pb_err_set(e, PB_EINVAL, "password must be 16..128 characters");
    for (const char *p = pw; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("-_.~", *p)))
            return pb_err_set(e, PB_EINVAL, "password must use only A-Z a-z 0-9 - _ . ~");
    return 0;
}

/* Send a SCRAM verifier, never the clear text (statement logs, pg_stat_*). */
static int set_password(PGconn *c, const char *role, const char *pw, pb_err *e)
{
    char *verifier = PQencryptPasswordConn(c, pw, role, "scram-sha-256");
    if (!verifier)
        return pb_pg_error(c, NULL, e);
    int rc = pb_pg_execf(c, e, "ALTER ROLE %I PASSWORD %L", role, verifier);
    PQfreemem(verifier);
    return rc;
}

/* What paybill.tenants keeps of the password last set, so that converging
 * with an unchanged password need not set it again (PostgreSQL cannot say
 * whether a password matches without a login, and every ALTER ROLE ...
 * PASSWORD costs a SCRAM derivation and a catalog write):
 * "hmac-sha256$<salt>$<hex>", HMAC-SHA256 keyed with a random salt over
 * "role:password". Passwords are 16+ characters and normally the library's
 * random ones; the table is readable by the admin only. */
#define PW_HASH_PREFIX "hmac-sha256$"

static int pw_digest(const char *salt, const char *role, const char *pw, char out[PB_SHA256_HEX_LEN], pb_err *e)
{
    size_t n = strlen(role) + strlen(pw) + 2;
    char *msg = malloc(n);
    if (!msg)
        return pb_err_set(e, PB_ENOMEM, "out of memory");
    snprintf(msg, n, "%s:%s", role, pw);
    int rc = pb_secret_hmac_sha256_hex(salt, strlen(salt), msg, n - 1, out, e);
    pb_secret_wipe(msg, n);
    free(msg);
    return rc;
}

static int password_hash(const char *role, const char *pw, char out[160], pb_err *e)
{
    char *salt = NULL, d[PB_SHA256_HEX_LEN];
    int rc = pb_secret_token_hex(16, &salt, e);
    if (rc == 0)
        rc = pw_digest(salt, role, pw, d, e);
    if (rc == 0)
        snprintf(out, 160, PW_HASH_PREFIX "%s$%s", salt, d);
    free(salt);
    return rc;
}

static int password_matches(const char *stored, const char *role, const char *pw)
{
    char salt[64], d[PB_SHA256_HEX_LEN];
    const size_t plen = sizeof PW_HASH_PREFIX - 1;
    const char *sep = strncmp(stored, PW_HASH_PREFIX, plen) == 0 ? strchr(stored + plen, '$') : NULL;
    if (!sep || (size_t)(sep - stored - plen) >= sizeof salt)
        return 0;
    snprintf(salt, sizeof salt, "%.*s", (int)(sep - stored - plen), stored + plen);
    if (pw_digest(salt, role, pw, d, NULL) != 0)
        return 0;
    return pb_secret_equal(d, strlen(d), sep + 1, strlen(sep + 1));
}

/* Set the password, and record its hash in the slot's column, in one
 * transaction; skipped when the record says it is the one already set
 * (unless `force`). */
int tdb_converge_password(PGconn *c, const char *id, const char *role, const char *pw, const char *stored,
                          int force, tdb_pw_slot slot, pb_err *e)
{
    if (!force && password_matches(stored, role, pw))
        return 0;
    char hash[160];
    int rc = password_hash(role, pw, hash, e);
    if (rc == 0)
        rc = pb_pg_begin(c, e);
    if (rc == 0)
        rc = set_password(c, role, pw, e);
    if (rc == 0) {
        const char *p[2] = {id, hash};
        rc = pb_pg_query(c,
                         slot == TDB_PW_AGENT ? "UPDATE paybill.tenants SET agent_password_hash = $2 WHERE tenant_id = $1"
                         : slot == TDB_PW_ALT ? "UPDATE paybill.tenants SET alt_password_hash = $2 WHERE tenant_id = $1"
                                              : "UPDATE paybill.tenants SET password_hash = $2 WHERE tenant_id = $1",
                         2, p, NULL, e);
    }
    if (rc == 0)
        rc = pb_pg_commit(c, e);
    pb_pg_rollback(c);
    return rc ? pb_err_wrap(e, "setting the password of %s", role) : 0;
}

/* Create (NOLOGIN: the caller gives LOGIN once the tenant is complete) or
 * converge the role's attributes (the password: converge_password). INHERIT only for rls
 * tenants, whose privileges come from the rls group; the attribute is set
 * here too so converging never flips it under open sessions. */
int tdb_ensure_role(PGconn *c, const char *role, int conn_limit, int inherit, int *created, int *can_login,
                       pb_err *e)
{
    const char *p[1] = {role};
    char want[32];
    PGresult *r = NULL;
    *created = 0;
    *can_login = 0;
    snprintf(want, sizeof want, "fff%cff%d", inherit ? 't' : 'f', conn_limit < 0 ? -1 : conn_limit);
    /* Attributes as one string, compared with what we want: converging an
     * unchanged tenant writes nothing to the catalog. */
    int rc = pb_pg_query(c,
                         "SELECT concat(rolsuper, rolcreatedb, rolcreaterole, rolinherit, rolreplication, "
                         "rolbypassrls, rolconnlimit), "
                         "rolcanlogin FROM pg_roles WHERE rolname = $1",
                         1, p, &r, e);
    int found = rc == 0 && PQntuples(r) == 1;
    int same = found && strcmp(PQgetvalue(r, 0, 0), want) == 0;
    *can_login = found && strcmp(PQgetvalue(r, 0, 1), "t") == 0;
    PQclear(r);
    if (rc == 0 && !found) {
        rc = pb_pg_execf(c, e, "CREATE ROLE %I NOLOGIN", role);
        *created = rc == 0;
        if (rc == PB_EEXIST)
            rc = 0;
    }
    if (rc == 0 && !same)
        rc = pb_pg_execf(c, e,
                         "ALTER ROLE %I WITH NOSUPERUSER NOCREATEDB NOCREATEROLE %s "
                         "NOREPLICATION NOBYPASSRLS CONNECTION LIMIT %d",
                         role, inherit ? "INHERIT" : "NOINHERIT", conn_limit < 0 ? -1 : conn_limit);
    return rc ? pb_err_wrap(e, "role %s", role) : 0;
}

/* NOLOGIN, then end every session of the role (including the ones opened
 * between the two statements: terminate runs after NOLOGIN commits). */
int tdb_lock_out(PGconn *c, const char *role, pb_err *e)
{
    int found = 0;
    int rc = tdb_role_exists(c, role, &found, e);
    if (rc || !found)
        return rc;
    rc = pb_pg_execf(c, e, "ALTER ROLE %I NOLOGIN", role);
    if (rc == 0)
        rc = pb_pg_query(c,
                         "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                         "WHERE usename = $1 AND pid <> pg_backend_pid()",
                         1, &role, NULL, e);
    return rc;
}

/* The login handed out in credentials (and whose password ensure
 * converges). */
static const char *active_role(const tdb_row *row) { return row->active == 2 ? row->alt_role : row->role; }

/* Every login of the tenant locked out: both of its own and its agent's. */
int tdb_lock_out_all(PGconn *c, const tdb_row *row, pb_err *e)
{
    int rc = tdb_lock_out(c, row->role, e);
    if (rc == 0 && row->alt_role[0])
        rc = tdb_lock_out(c, row->alt_role, e);
    if (rc == 0 && row->agent_role[0])
        rc = tdb_lock_out(c, row->agent_role, e);
    return rc;
}

/* Whether login `which` (1: the first, 2: the second) may log in while the
 * tenant is active: the one handed out always; the other one while its
 * password, if it ever got one, has not been revoked after a rotation (the
 * first login of a tenant from before second logins has a password but no
 * recorded hash). */
static int login_usable(const tdb_row *row, int which)
{
    if (which == row->active)
        return 1;
    if (row->revoked_at[0])
        return 0;
    return which == 1 || (row->alt_role[0] && row->alt_pw_hash[0]);
}

/* LOGIN again for the logins that may have it; a second login that never
 * got a password, or a previous one revoked after a rotation, stays NOLOGIN
 * (only a trust rule in pg_hba.conf could let it in). */
int tdb_let_in_all(PGconn *c, const tdb_row *row, pb_err *e)
{
    int rc = login_usable(row, 1) ? pb_pg_execf(c, e, "ALTER ROLE %I LOGIN", row->role) : 0;
    if (rc == 0 && row->alt_role[0] && login_usable(row, 2))
        rc = pb_pg_execf(c, e, "ALTER ROLE %I LOGIN", row->alt_role);
    /* The agent login once it has a password (its ensure finished). */
    if (rc == 0 && row->agent_role[0] && row->agent_pw_hash[0])
        rc = pb_pg_execf(c, e, "ALTER ROLE %I LOGIN", row->agent_role);
    return rc;
}

/* The login handed out before the last rotation stops working: NOLOGIN and
 * no password (so nothing, not even a later LOGIN, lets the leaked one in
 * again), recorded, then its sessions ended (after the commit: none can
 * start in between). */
static int revoke_previous(PGconn *c, const char *id, const tdb_row *row, pb_err *e)
{
    const char *prev = row->active == 2 ? row->role : row->alt_role;
    int found = 0;
    int rc = prev[0] ? tdb_role_exists(c, prev, &found, e) : 0;
    if (rc == 0)
        rc = pb_pg_begin(c, e);
    if (rc == 0 && found)
        rc = pb_pg_execf(c, e, "ALTER ROLE %I NOLOGIN PASSWORD NULL", prev);
    if (rc == 0)
        rc = tdb_update_row(c,
                            row->active == 2
                                ? "UPDATE paybill.tenants SET revoke_at = NULL, revoked_at = now(), "
                                  "password_hash = NULL WHERE tenant_id = $1"
                                : "UPDATE paybill.tenants SET revoke_at = NULL, revoked_at = now(), "
                                  "alt_password_hash = NULL WHERE tenant_id = $1",
                            id, NULL, NULL, e);
    if (rc == 0)
        rc = pb_pg_commit(c, e);
    pb_pg_rollback(c);
    if (rc == 0 && found)
        rc = pb_pg_query(c,
                         "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                         "WHERE usename = $1 AND pid <> pg_backend_pid()",
                         1, &prev, NULL, e);
    if (rc == 0)
        pb_log_info("previous login revoked after rotation", "tenant", id, "login", prev, NULL);
    return rc ? pb_err_wrap(e, "revoking the previous login %s", prev) : 0;
}

/* The second login `alt` of the tenant whose first login is `role`: an
 * INHERIT member of the first and of nothing else, so in every layout it
 * has exactly the first's privileges (the first's grants, or rls group
 * membership; the rls policy maps both logins to the tenant), with the same
 * connection limit and search_path. Made
 * NOLOGIN without a password; rotation gives it one. Converging an
 * unchanged one writes nothing to pg_authid. */
int tdb_ensure_alt(PGconn *c, const char *id, const char *role, const char *alt, int conn_limit,
                      const char *search_path, int *can_login, pb_err *e)
{
    int created = 0, member = 0;
    PGresult *r = NULL;
    const char *p[2] = {alt, role};
    int rc = tdb_ensure_role(c, alt, conn_limit, 1, &created, can_login, e);
    if (rc == 0)
        rc = pb_pg_query(c,
                         "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member "
                         "JOIN pg_roles g ON g.oid = m.roleid WHERE u.rolname = $1",
                         1, p, &r, e);
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        if (strcmp(PQgetvalue(r, i, 0), role) == 0)
            member = 1;
        else /* nothing else, whoever granted it */
            rc = pb_pg_execf(c, e, "REVOKE %I FROM %I", PQgetvalue(r, i, 0), alt);
    }
    PQclear(r);
    if (rc == 0 && !member)
        rc = pb_pg_execf(c, e, "GRANT %I TO %I", role, alt);
    if (rc == 0) {
        const char *q[2] = {id, alt};
        rc = pb_pg_query(c, "UPDATE paybill.tenants SET alt_role = $2 WHERE tenant_id = $1 AND alt_role IS DISTINCT FROM $2",
                         2, q, NULL, e);
    }
    if (rc == 0)
        rc = pb_pg_execf(c, e, "ALTER ROLE %I SET search_path = %I", alt, search_path);
    return rc ? pb_err_wrap(e, "second login %s", alt) : 0;
}

/* Drop the second login, if any (it owns nothing and has no grants of its
 * own: its membership goes with it). */
int tdb_drop_alt(PGconn *c, const char *alt, pb_err *e)
{
    int found = 0;
    int rc = tdb_role_exists(c, alt, &found, e);
    if (rc == 0 && found)
        rc = pb_pg_execf(c, e, "DROP OWNED BY %I; DROP ROLE IF EXISTS %I", alt, alt);
    return rc;
}

void pb_tdb_creds_clear(pb_tdb_creds *c)
{
    if (!c)
        return;
    if (c->password)
        pb_secret_wipe(c->password, strlen(c->password));
    if (c->uri)
        pb_secret_wipe(c->uri, strlen(c->uri));
    free(c->host);
    free(c->dbname);
    free(c->user);
    free(c->password);
    free(c->sslmode);
    free(c->schema);
    free(c->uri);
    memset(c, 0, sizeof *c);
}

int tdb_fill_creds(const pb_tdb *t, const tdb_row *row, const char *user, const char *pw, pb_tdb_creds *c,
                   pb_err *e)
{
    memset(c, 0, sizeof *c);
    const char *db = tdb_data_db(t, row->layout, row->location);
    c->host = strdup(t->tenant_host);
    c->port = t->tenant_port;
    c->dbname = strdup(db);
    c->user = strdup(user);
    c->password = strdup(pw);
    c->sslmode = strdup(t->sslmode);
    c->schema = strdup(tdb_data_schema(row->layout, row->location));
    /* Every part is URI-safe: identifiers, base64url password, and a host
     * that an IPv6 literal would need brackets for. */
    int v6 = strchr(t->tenant_host, ':') != NULL;
    size_t n = strlen(user) + strlen(pw) + strlen(t->tenant_host) + strlen(db) + strlen(t->sslmode) + 64;
    c->uri = malloc(n);
    if (c->uri)
        snprintf(c->uri, n, "postgresql://%s:%s@%s%s%s:%d/%s?sslmode=%s", user, pw, v6 ? "[" : "",
                 t->tenant_host, v6 ? "]" : "", t->tenant_port, db, t->sslmode);
    if (!c->host || !c->dbname || !c->user || !c->password || !c->sslmode || !c->schema || !c->uri) {
        pb_tdb_creds_clear(c);
        return pb_err_set(e, PB_ENOMEM, "out of memory");
    }
    return 0;
}

int pb_tdb_creds_for(pb_tdb *t, const char *id, const char *password, pb_tdb_creds *creds, pb_err *e)
{
    tdb_row row;
    int rc = read_row(t, id, &row, e);
    if (rc == 0 && row.moved_to[0])
        rc = pb_err_set(e, PB_ENOTFOUND, "tenant %s moved to server %s", id, row.moved_to);
    if (rc == 0)
        rc = tdb_fill_creds(t, &row, active_role(&row), password, creds, e);
    return rc;
}

/* ---- locations: create, remove, sum ------------------------------------------- */

/* Create the place a tenant's data lives in `l`, bring it to model m and
 * grant the tenant's role (and so its second login `alt`, a member) its
 * DML. The place is the owner role's in every layout, tenants get USAGE and
 * DML only: a place made by an older version (a schema the tenant owned) or
 * by hand is taken back, and whatever else is in it is refused by the
 * migration's checks rather than trusted. */
int tdb_prepare_location(pb_tdb *t, const char *role, const char *alt, pb_dm_layout l, const char *loc,
                         const pb_dm_model *m, pb_err *e)
{
    PGconn *c = NULL, *tc = NULL;
    int found = 0;
    int rc = pb_pg_pool_get(t->pool, t->shared_db, &c, e);
    if (rc)
        return rc;
    if (l == PB_DM_LAYOUT_RLS) {
        rc = migrate_target(c, loc, l, m, 0, e);
        if (rc == 0)
            rc = grant_rls_tables(t, c, e);
        if (rc == 0)
            rc = join_rls_group(t, c, role, e);
        if (rc == 0)
            rc = tdb_take_database(c, t->shared_db, role, alt, 0, e);
    } else if (l == PB_DM_LAYOUT_SCHEMA) {
        rc = pb_pg_begin(c, e);
        if (rc == 0)
            rc = pb_pg_execf(c, e,
                             "CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION " TDB_OWNER_ROLE ";\n"
                             "REVOKE ALL ON SCHEMA %I FROM PUBLIC;\n"
                             "GRANT CONNECT ON DATABASE %I TO %I;\n",
                             loc, loc, t->shared_db, role);
        if (rc == 0)
            rc = tdb_take_schema(c, loc, role, e);
        if (rc == 0)
            rc = pb_pg_commit(c, e);
        pb_pg_rollback(c);
        if (rc == 0)
            rc = tdb_take_database(c, t->shared_db, role, alt, 0, e);
        if (rc == 0)
            rc = migrate_target(c, loc, l, m, 0, e);
        if (rc == 0)
            rc = grant_tables(c, loc, role, e);
    } else {
        rc = tdb_exists(c, "SELECT 1 FROM pg_database WHERE datname = $1", loc, &found, e);
        if (rc == 0 && !found) {
            rc = pb_pg_execf(c, e, "CREATE DATABASE %I OWNER " TDB_OWNER_ROLE, loc);
            if (rc == PB_EEXIST)
                rc = 0;
        }
        if (rc == 0)
            rc = pb_pg_execf(c, e,
                             "REVOKE ALL ON DATABASE %I FROM PUBLIC;\n"
                             "GRANT CONNECT ON DATABASE %I TO %I;\n",
                             loc, loc, role);
        if (rc == 0)
            rc = tdb_take_database(c, loc, role, alt, 1, e);
        if (rc == 0)
            rc = pb_pg_pool_get(t->pool, loc, &tc, e);
        if (rc == 0)
            rc = pb_pg_begin(tc, e);
        if (rc == 0)
            rc = pb_pg_exec(tc, MIGRATIONS_DDL, e);
        /* The bookkeeping stays the admin's; the owner role may read it so
         * that a snapshot (pg_dump as the owner role) carries it along. */
        if (rc == 0)
            rc = pb_pg_execf(tc, e,
                             "REVOKE ALL ON SCHEMA public FROM PUBLIC;\n"
                             "CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION " TDB_OWNER_ROLE ";\n"
                             "REVOKE ALL ON SCHEMA %I FROM PUBLIC;\n"
                             "GRANT USAGE ON SCHEMA paybill TO " TDB_OWNER_ROLE ";\n"
                             "GRANT SELECT ON paybill.migrations TO " TDB_OWNER_ROLE ";\n",
                             TDB_TENANT_DB_SCHEMA, TDB_TENANT_DB_SCHEMA);
        if (rc == 0)
            rc = tdb_take_schema(tc, TDB_TENANT_DB_SCHEMA, role, e);
        if (rc == 0)
            rc = pb_pg_commit(tc, e);
        pb_pg_rollback(tc);
        if (rc == 0)
            rc = migrate_target(tc, TDB_TENANT_DB_SCHEMA, l, m, 0, e);
        if (rc == 0)
            rc = grant_tables(tc, TDB_TENANT_DB_SCHEMA, role, e);
        tdb_put_conn(t, tc);
    }
    tdb_put_conn(t, c);
    return rc ? pb_err_wrap(e, "preparing %s %s", pb_dm_layout_name(l), loc) : 0;
}

/* Remove one copy of a tenant's data and the role's grants on it. In rls
 * that means the tenant's rows (children first), which is why the model is
 * needed. keep_shared_connect: the tenant still lives in shared_db. */
int tdb_remove_location(pb_tdb *t, const char *id, const char *role, pb_dm_layout l, const char *loc,
                           const pb_dm_model *m, int keep_shared_connect, pb_err *e)
{
    PGconn *c = NULL;
    int role_found = 0;
    int rc = pb_pg_pool_get(t->pool, t->shared_db, &c, e);
    if (rc)
        return rc;
    rc = tdb_role_exists(c, role, &role_found, e);
    if (rc == 0 && l == PB_DM_LAYOUT_RLS) {
        /* The rows as the owner role, on that tenant's rows only. */
        rc = pb_pg_begin(c, e);
        if (rc == 0)
            rc = tdb_bulk_timeout(t, c, e);
        if (rc == 0)
            rc = tdb_act_as_owner(c, id, e);
        if (rc == 0)
            rc = tdb_guard_tables(c, loc, m, e);
        for (size_t i = pb_dm_table_count(m); rc == 0 && i-- > 0;)
            rc = pb_pg_execf(c, e, "DELETE FROM %I.%I WHERE " PB_DM_TENANT_COLUMN " = %L", loc,
                             pb_dm_table_name(m, i), id);
        if (rc == 0)
            rc = tdb_act_as_admin(c, e);
        /* The agent's column grants and policies on the shared tables: it
         * must keep nothing of a place the tenant left. */
        if (rc == 0)
            rc = tdb_agent_strip_rls(c, id, loc, e);
        if (rc == 0 && role_found)
            rc = leave_rls_group(t, c, role, e);
        /* Per-tenant grants made by versions before the group. */
        if (rc == 0 && role_found)
            rc = pb_pg_execf(c, e,
                             "REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM %I;\n"
                             "REVOKE ALL ON SCHEMA %I FROM %I;\n"
                             "REVOKE ALL ON SCHEMA paybill FROM %I;\n"
                             "REVOKE ALL ON FUNCTION paybill." PB_DM_TENANT_FN "() FROM %I;\n",
                             loc, role, loc, role, role, role);
        /* Still in shared_db (a schema tenant whose move into rls is given
         * up): its CONNECT came from the group until now, and joining the
         * group took its own. */
        if (rc == 0 && role_found && keep_shared_connect)
            rc = pb_pg_execf(c, e, "GRANT CONNECT ON DATABASE %I TO %I", t->shared_db, role);
        if (rc == 0)
            rc = pb_pg_commit(c, e);
        pb_pg_rollback(c);
    } else if (rc == 0 && l == PB_DM_LAYOUT_SCHEMA) {
        const char *p[1] = {loc};
        rc = pb_pg_begin(c, e);
        if (rc == 0)
            rc = pb_pg_execf(c, e, "DROP SCHEMA IF EXISTS %I CASCADE", loc);
        if (rc == 0)
            rc = pb_pg_query(c, "DELETE FROM paybill.migrations WHERE target = $1", 1, p, NULL, e);
        if (rc == 0)
            rc = pb_pg_commit(c, e);
        pb_pg_rollback(c);
    } else if (rc == 0) {
        pb_pg_pool_forget_db(t->pool, loc);
        rc = pb_pg_execf(c, e, "DROP DATABASE IF EXISTS %I WITH (FORCE)", loc);
    }
    if (rc == 0 && role_found && !keep_shared_connect)
        rc = pb_pg_execf(c, e, "REVOKE CONNECT ON DATABASE %I FROM %I", t->shared_db, role);
    tdb_put_conn(t, c);
    return rc ? pb_err_wrap(e, "removing %s %s", pb_dm_layout_name(l), loc) : 0;
}

/* Comma-separated quoted column names of table i. */
char *tdb_column_list(PGconn *c, const pb_dm_model *m, size_t i, pb_err *e)
{
    size_t n = 1;
    for (size_t k = 0; k < pb_dm_column_count(m, i); k++)
        n += strlen(pb_dm_column_name(m, i, k)) * 2 + 4;
    char *s = calloc(1, n);
    if (!s) {
        pb_err_set(e, PB_ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t k = 0; k < pb_dm_column_count(m, i); k++) {
        char *q = PQescapeIdentifier(c, pb_dm_column_name(m, i, k), strlen(pb_dm_column_name(m, i, k)));
        if (!q) {
            free(s);
            pb_pg_error(c, NULL, e);
            return NULL;
        }
        if (k)
            strcat(s, ", ");
        strcat(s, q);
        PQfreemem(q);
    }
    return s;
}

/* Row count and md5 over the sorted per-row md5s of table i. */
int tdb_table_sum(PGconn *c, const char *schema, const pb_dm_model *m, size_t i, const char *rls_id,
                     long long *count, char md5[33], pb_err *e)
{
    char *cols = tdb_column_list(c, m, i, e);
    if (!cols)
        return e ? e->code : PB_ENOMEM;
    const char *fmt = rls_id ? "SELECT count(*), coalesce(md5(string_agg(h, '' ORDER BY h)), '') FROM "
                               "(SELECT md5(ROW(%s)::text) AS h FROM %I.%I WHERE " PB_DM_TENANT_COLUMN " = %L) s"
                             : "SELECT count(*), coalesce(md5(string_agg(h, '' ORDER BY h)), '') FROM "
                               "(SELECT md5(ROW(%s)::text) AS h FROM %I.%I) s";
    char *sql = pb_pg_format(c, e, fmt, cols, schema, pb_dm_table_name(m, i), rls_id);
    free(cols);
    if (!sql)
        return e ? e->code : PB_ENOMEM;
    PGresult *r;
    int rc = pb_pg_query(c, sql, 0, NULL, &r, e);
    free(sql);
    if (rc == 0) {
        *count = atoll(PQgetvalue(r, 0, 0));
        snprintf(md5, 33, "%s", PQgetvalue(r, 0, 1));
        PQclear(r);
    }
    return rc;
}

/* ---- lifecycle --------------------------------------------------------------- */

int tdb_update_row(PGconn *c, const char *sql, const char *id, const char *a, const char *b, pb_err *e)
{
    const char *p[3] = {id, a, b};
    int n = b ? 3 : a ? 2 : 1;
    return pb_pg_query(c, sql, n, p, NULL, e);
}

/* Whether the place a new tenant's data goes exists already (rls: the
 * shared tables always do; a tenant that never could log in has no rows). */
static int location_exists(PGconn *c, pb_dm_layout l, const char *loc, int *found, pb_err *e)
{
    *found = 1;
    if (l == PB_DM_LAYOUT_SCHEMA)
        return tdb_exists(c, "SELECT 1 FROM pg_namespace WHERE nspname = $1", loc, found, e);
    if (l == PB_DM_LAYOUT_DATABASE)
        return tdb_exists(c, "SELECT 1 FROM pg_database WHERE datname = $1", loc, found, e);
    return 0;
}

/* A new tenant's ensure failed: remove what this call made, so no
 * half-made tenant stays behind (the role never had LOGIN). Best effort: a
 * rerun converges anyway. A schema or database that was already there is
 * not ours to drop: it stays (the owner role's now; the role this call
 * made owns nothing, so it goes like any other). */
static void undo_new_tenant(pb_tdb *t, PGconn *c, const char *id, const char *role, int role_created,
                            pb_dm_layout l, const char *loc, int loc_existed, const pb_dm_model *m)
{
    pb_err ignored;
    pb_pg_rollback(c);
    if (PQstatus(c) != CONNECTION_OK)
        return;
    if (l != PB_DM_LAYOUT_RLS && !loc_existed)
        tdb_remove_location(t, id, role, l, loc, m, 0, &ignored);
    if (role_created) {
        char alt[TDB_NAME_MAX];
        alt_role_of(id, alt);
        tdb_drop_alt(c, alt, &ignored);
        pb_pg_execf(c, &ignored, "DROP OWNED BY %I; DROP ROLE IF EXISTS %I", role, role);
    }
    tdb_update_row(c, "DELETE FROM paybill.tenants WHERE tenant_id = $1", id, NULL, NULL, &ignored);
    pb_log_warn("tenant database creation undone", "tenant", id, NULL);
}

int pb_tdb_ensure(pb_tdb *t, const pb_tdb_tenant *spec, const pb_dm_model *m, pb_tdb_creds *creds, pb_err *e)
{
    PGconn *c = NULL;
    tdb_row row;
    char role[TDB_NAME_MAX], alt[TDB_NAME_MAX], loc[TDB_NAME_MAX], *pw = NULL;
    int fresh = 0, role_created = 0, can_login = 0, alt_can_login = 0, loc_existed = 1;
    memset(creds, 0, sizeof *creds);
    int rc = tdb_id_ok(spec->id, e);
    if (rc)
        return rc;
    if (spec->dedicated_server && (t->role != PB_TDB_DEDICATED || spec->layout != PB_DM_LAYOUT_DATABASE))
        return pb_err_set(e, PB_EINVAL,
                          "tenant %s: a dedicated server tenant has the database layout and is ensured "
                          "through a pb_tdb of role dedicated (this is server %s, role shared)",
                          spec->id, t->server);
    if (t->role == PB_TDB_DEDICATED && spec->layout != PB_DM_LAYOUT_DATABASE)
        return pb_err_set(e, PB_EINVAL, "tenant %s: server %s is dedicated: only the database layout lives there",
                          spec->id, t->server);
    if (spec->password)
        rc = tdb_password_ok(spec->password, e);
    else
        rc = tdb_new_password(&pw, e);
    if (rc)
        return rc;
    const char *password = spec->password ? spec->password : pw;
    role_of(spec->id, role);
    tdb_location_of(t, spec->layout, spec->id, loc);

    rc = pb_pg_pool_get(t->pool, t->shared_db, &c, e);
    int locked = rc == 0 && (rc = tdb_tenant_lock(c, spec->id, e)) == 0;
    if (rc == 0)
        rc = tdb_load_row(c, spec->id, &row, e);
    if (rc == 0 && row.found && row.moved_to[0])
        rc = pb_err_set(e, PB_ECONFLICT, "tenant %s lives on server %s now: ensure it there", spec->id,
                        row.moved_to);
    else if (rc == 0 && row.found && (rc = tdb_cross_move_pending(&row, e)) != 0) {
    } else if (rc == 0 && row.found && (row.has_move || row.has_old))
        rc = pb_err_set(e, PB_ECONFLICT, "a move to %s is unfinished: rerun the move",
                        pb_dm_layout_name(row.has_move ? row.move_layout : row.layout));
    else if (rc == 0 && row.found && row.layout != spec->layout)
        rc = pb_err_set(e, PB_ECONFLICT, "the data is in layout %s, not %s: move it instead",
                        pb_dm_layout_name(row.layout), pb_dm_layout_name(spec->layout));
    if (rc == 0 && !row.found) {
        fresh = 1;
        rc = location_exists(c, spec->layout, loc, &loc_existed, e);
    }
    if (rc == 0) {
        /* Record first: the rls function needs it, and a rerun finds it. A
         * retained tenant comes back to life. */
        const char *p[4] = {spec->id, role, pb_dm_layout_name(spec->layout), loc};
        rc = pb_pg_query(c,
                         "INSERT INTO paybill.tenants (tenant_id, role_name, layout, location) "
                         "VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id) DO UPDATE SET "
                         "state = CASE WHEN tenants.state = 'retained' THEN 'active' ELSE tenants.state END, "
                         "updated_at = now()",
                         4, p, NULL, e);
    }
    if (rc)
        fresh = 0; /* nothing made yet */
    if (rc == 0)
        rc = tdb_load_row(c, spec->id, &row, e);
    if (rc == 0)
        rc = tdb_ensure_role(c, role, spec->connection_limit, spec->layout == PB_DM_LAYOUT_RLS, &role_created,
                         &can_login, e);
    alt_role_of(spec->id, alt);
    if (rc == 0)
        rc = tdb_ensure_alt(c, spec->id, role, alt, spec->connection_limit, tdb_data_schema(spec->layout, loc),
                        &alt_can_login, e);
    if (rc == 0)
        rc = tdb_load_row(c, spec->id, &row, e);
    /* A previous login whose grace after a rotation is over goes now. */
    if (rc == 0 && row.revoke_at[0] && row.revoke_due && (rc = revoke_previous(c, spec->id, &row, e)) == 0)
        rc = tdb_load_row(c, spec->id, &row, e);
    /* The given password belongs to the login handed out last. */
    if (rc == 0)
        rc = tdb_converge_password(c, spec->id, active_role(&row), password,
                                   row.active == 2 ? row.alt_pw_hash : row.pw_hash, row.active == 2 ? 0 : role_created,
                                   row.active == 2 ? TDB_PW_ALT : TDB_PW_FIRST, e);
    if (rc == 0)
        rc = tdb_load_row(c, spec->id, &row, e);
    if (rc == 0)
        rc = pb_pg_execf(c, e, "ALTER ROLE %I SET search_path = %I", role, tdb_data_schema(spec->layout, loc));
    if (rc == 0)
        rc = tdb_prepare_location(t, role, alt, spec->layout, loc, m, e);
    /* Only a complete tenant may log in; the second login only once it
     * has a password, a previous login only until it is revoked. */
    int open_for = strcmp(row.state, "active") == 0;
    if (rc == 0 && can_login != (open_for && login_usable(&row, 1)))
        rc = pb_pg_execf(c, e, "ALTER ROLE %I %s", role, can_login ? "NOLOGIN" : "LOGIN");
    if (rc == 0 && alt_can_login != (open_for && login_usable(&row, 2)))
        rc = pb_pg_execf(c, e, "ALTER ROLE %I %s", alt, alt_can_login ? "NOLOGIN" : "LOGIN");
    if (rc && fresh && c)
        undo_new_tenant(t, c, spec->id, role, role_created, spec->layout, loc, loc_existed, m);
    if (c)
        tdb_close_tenant(t, c, spec->id, locked);
    if (rc == 0)
        rc = tdb_fill_creds(t, &row, active_role(&row), password, creds, e);
    if (pw)
        pb_secret_wipe(pw, strlen(pw));
    free(pw);
    if (rc)
        return pb_err_wrap(e, "tenant %s", spec->id);
    pb_log_info("tenant database ready", "tenant", spec->id, "layout", pb_dm_layout_name(spec->layout), NULL);
    return 0;
}

int pb_tdb_rotate(pb_tdb *t, const char *id, long long grace_ms, pb_tdb_creds *creds, pb_err *e)
{
    PGconn *c;
    tdb_row row;
    char *pw = NULL;
    memset(creds, 0, sizeof *creds);
    if (grace_ms < 0)
        return pb_err_set(e, PB_EINVAL, "rotating credentials of tenant %s: negative grace period", id);
    int rc = tdb_open_tenant(t, id, 1, &c, &row, e);
    if (rc)
        return pb_err_wrap(e, "rotating credentials");
    rc = tdb_cross_move_pending(&row, e);
    if (rc == 0 && !row.alt_role[0]) { /* a tenant from before second logins */
        char alt[TDB_NAME_MAX];
        int limit = -1, alt_can_login = 0;
        PGresult *r = NULL;
        const char *p[1] = {row.role};
        alt_role_of(id, alt);
        rc = pb_pg_query(c, "SELECT rolconnlimit FROM pg_roles WHERE rolname = $1", 1, p, &r, e);
        if (rc == 0 && PQntuples(r) == 1)
            limit = atoi(PQgetvalue(r, 0, 0));
        PQclear(r);
        if (rc == 0)
            rc = tdb_ensure_alt(c, id, row.role, alt, limit, tdb_data_schema(row.layout, row.location), &alt_can_login, e);
        if (rc == 0)
            rc = tdb_load_row(c, id, &row, e);
    }
    if (rc == 0)
        rc = tdb_new_password(&pw, e);
    /* The other login gets the new password (replacing the one from two
     * rotations ago) and LOGIN, then becomes the one handed out; the login
     * handed out until now keeps working for grace_ms, then is revoked
     * (pb_tdb_revoke_due, or ensure). A crash before the switch leaves a
     * password nobody knows: a rerun makes another. */
    int next = row.active == 2 ? 1 : 2;
    const char *login = next == 2 ? row.alt_role : row.role;
    if (rc == 0)
        rc = tdb_converge_password(c, id, login, pw, "", 1, next == 2 ? TDB_PW_ALT : TDB_PW_FIRST, e);
    /* Not while a move keeps the tenant out: the move's end lets both in. */
    if (rc == 0 && strcmp(row.state, "active") == 0 && !row.has_move && !row.has_old)
        rc = pb_pg_execf(c, e, "ALTER ROLE %I LOGIN", login);
    if (rc == 0) {
        char nx[4], grace[32];
        snprintf(nx, sizeof nx, "%d", next);
        snprintf(grace, sizeof grace, "%lld", grace_ms);
        rc = tdb_update_row(c,
                            "UPDATE paybill.tenants SET active_login = $2::int, "
                            "revoke_at = now() + $3::bigint * interval '1 millisecond', revoked_at = NULL, "
                            "updated_at = now() WHERE tenant_id = $1",
                            id, nx, grace, e);
    }
    if (rc == 0)
        rc = tdb_load_row(c, id, &row, e);
    /* No grace: the previous login goes with this call. */
    if (rc == 0 && grace_ms == 0 && (rc = revoke_previous(c, id, &row, e)) == 0)
        rc = tdb_load_row(c, id, &row, e);
    tdb_close_tenant(t, c, id, 1);
    if (rc == 0)
        rc = tdb_fill_creds(t, &row, active_role(&row), pw, creds, e);
    if (pw)
        pb_secret_wipe(pw, strlen(pw));
    free(pw);
    return rc ? pb_err_wrap(e, "rotating credentials of tenant %s", id) : 0;
}

int pb_tdb_suspend(pb_tdb *t, const char *id, pb_err *e)
{
    PGconn *c;
    tdb_row row;
    int rc = tdb_open_tenant(t, id, 1, &c, &row, e);
    if (rc)
        return pb_err_wrap(e, "suspending");
    /* Allowed on the source of an unfinished move between servers (the
     * rerun carries the state over), not on its destination. */
    if (row.arriving_from[0])
        rc = tdb_cross_move_pending(&row, e);
    if (rc == 0)
        rc = tdb_update_row(c, "UPDATE paybill.tenants SET state = 'suspended', updated_at = now() WHERE tenant_id = $1",
                    id, NULL, NULL, e);
    if (rc == 0)
        rc = tdb_lock_out_all(c, &row, e);
    tdb_close_tenant(t, c, id, 1);
    return rc ? pb_err_wrap(e, "suspending tenant %s", id) : 0;
}

int pb_tdb_resume(pb_tdb *t, const char *id, pb_err *e)
{
    PGconn *c;
    tdb_row row;
    int rc = tdb_open_tenant(t, id, 1, &c, &row, e);
    if (rc)
        return pb_err_wrap(e, "resuming");
    rc = tdb_cross_move_pending(&row, e);
    if (rc == 0 && (row.has_move || row.has_old))
        rc = pb_err_set(e, PB_ECONFLICT, "a move is unfinished: rerun the move (it restores the login)");
    if (rc == 0)
        rc = tdb_update_row(c, "UPDATE paybill.tenants SET state = 'active', updated_at = now() WHERE tenant_id = $1",
                        id, NULL, NULL, e);
    if (rc == 0)
        rc = tdb_let_in_all(c, &row, e);
    tdb_close_tenant(t, c, id, 1);
    return rc ? pb_err_wrap(e, "resuming tenant %s", id) : 0;
}

int pb_tdb_revoke_due(pb_tdb *t, const char *id, double *next_due_s, pb_err *e)
{
    PGconn *c;
    tdb_row row;
    *next_due_s = -1;
    int rc = tdb_open_tenant(t, id, 1, &c, &row, e);
    if (rc)
        return pb_err_wrap(e, "revoking the previous login");
    /* During a move between servers the destination has a copy of the
     * login: the rerun carries the pending revocation over instead. */
    rc = tdb_cross_move_pending(&row, e);
    if (rc == 0 && row.revoke_at[0] && row.revoke_due)
        rc = revoke_previous(c, id, &row, e);
    else if (rc == 0 && row.revoke_at[0])
        *next_due_s = row.revoke_in_s > 0 ? row.revoke_in_s : 0;
    tdb_close_tenant(t, c, id, 1);
    return rc ? pb_err_wrap(e, "revoking the previous login of tenant %s", id) : 0;
}

int pb_tdb_info_get(pb_tdb *t, const char *id, pb_tdb_info *info, pb_err *e)
{
    tdb_row row;
    memset(info, 0, sizeof *info);
    snprintf(info->server, sizeof info->server, "%s", t->server);
    int rc = read_row(t, id, &row, e);
    if (rc)
        return rc;
    info->layout = row.layout;
    snprintf(info->state, sizeof info->state, "%s", row.moved_to[0] ? "moved" : row.state);
    snprintf(info->location, sizeof info->location, "%s", row.location);
    snprintf(info->moved_to, sizeof info->moved_to, "%s", row.moved_to);
    snprintf(info->move_server, sizeof info->move_server, "%s", row.move_server);
    snprintf(info->arriving_from, sizeof info->arriving_from, "%s", row.arriving_from);
    info->moving = row.has_move || row.has_old || row.move_server[0] || row.arriving_from[0];
    snprintf(info->revoke_at, sizeof info->revoke_at, "%s", row.revoke_at);
    snprintf(info->revoked_at, sizeof info->revoked_at, "%s", row.revoked_at);
    info->revoke_in_s = row.revoke_at[0] ? (row.revoke_in_s > 0 ? row.revoke_in_s : 0) : -1;
    return 0;
}

int pb_tdb_checksum(pb_tdb *t, const char *id, const pb_dm_model *m, long long *rows, char sha256[65], pb_err *e)
{
    PGconn *c, *dc = NULL;
    tdb_row row;
    *rows = 0;
    sha256[0] = '\0';
    int rc = tdb_open_tenant(t, id, 0, &c, &row, e);
    if (rc)
        return rc;
    tdb_close_tenant(t, c, id, 0);
    const char *schema = tdb_data_schema(row.layout, row.location);
    rc = pb_pg_pool_get(t->pool, tdb_data_db(t, row.layout, row.location), &dc, e);
    /* One snapshot, read only, as the owner role on checked tables: the
     * tenant's rows are read, nothing of the tenant's is run. */
    if (rc == 0)
        rc = pb_pg_exec(dc, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", e);
    if (rc == 0)
        rc = tdb_act_as_owner(dc, row.layout == PB_DM_LAYOUT_RLS ? id : NULL, e);
    if (rc == 0)
        rc = tdb_guard_tables(dc, schema, m, e);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (rc == 0 && (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1))
        rc = pb_err_set(e, PB_ENOMEM, "sha256: out of memory");
    for (size_t i = 0; rc == 0 && i < pb_dm_table_count(m); i++) {
        long long n = 0;
        char sum[33], line[256];
        rc = tdb_table_sum(dc, schema, m, i, row.layout == PB_DM_LAYOUT_RLS ? id : NULL, &n, sum, e);
        if (rc == 0) {
            *rows += n;
            int len = snprintf(line, sizeof line, "%s:%lld:%s\n", pb_dm_table_name(m, i), n, sum);
            EVP_DigestUpdate(md, line, (size_t)len);
        }
    }
    unsigned char d[32];
    unsigned int dl = 0;
    if (rc == 0 && EVP_DigestFinal_ex(md, d, &dl) == 1)
        for (unsigned i = 0; i < dl; i++)
            snprintf(sha256 + 2 * i, 3, "%02x", d[i]);
    EVP_MD_CTX_free(md);
    pb_pg_rollback(dc); /* read only: nothing to keep */
    tdb_put_conn(t, dc);
    return rc ? pb_err_wrap(e, "checksum of tenant %s", id) : 0;
}

int pb_tdb_delete(pb_tdb *t, const char *id, pb_tdb_delete_policy policy, const pb_dm_model *m,
                  pb_tdb_snapshot *snap, pb_err *e)
{
    PGconn *c = NULL;
    tdb_row row;
    if (snap)
        memset(snap, 0, sizeof *snap);
    if (policy == PB_TDB_SNAPSHOT && !snap)
        return pb_err_set(e, PB_EINVAL, "Snapshot needs a result struct");
    int rc = tdb_id_ok(id, e);
    if (rc == 0)
        rc = pb_pg_pool_get(t->pool, t->shared_db, &c, e);
    int locked = rc == 0 && (rc = tdb_tenant_lock(c, id, e)) == 0;
    if (rc == 0)
        rc = tdb_load_row(c, id, &row, e);
    if (rc || !row.found) { /* unknown or already deleted */
        if (c)
            tdb_close_tenant(t, c, id, locked);
        return rc ? pb_err_wrap(e, "deleting tenant %s", id) : 0;
    }
    rc = tdb_cross_move_pending(&row, e);
    if (rc == 0 && row.moved_to[0] && row.has_old)
        rc = pb_err_set(e, PB_ECONFLICT, "the move to server %s is unfinished: rerun pb_tdb_move_across",
                        row.moved_to);
    if (rc == 0 && row.moved_to[0]) {
        /* Only the record saying where it went is here: drop that. */
        rc = tdb_update_row(c, "DELETE FROM paybill.tenants WHERE tenant_id = $1", id, NULL, NULL, e);
        goto done;
    }
    if (rc == 0)
        rc = tdb_lock_out_all(c, &row, e);
    if (rc == 0 && policy == PB_TDB_RETAIN)
        rc = tdb_update_row(c, "UPDATE paybill.tenants SET state = 'retained', updated_at = now() WHERE tenant_id = $1",
                        id, NULL, NULL, e);
    if (rc || policy == PB_TDB_RETAIN)
        goto done;
    if (policy == PB_TDB_SNAPSHOT && (rc = tdb_snapshot(t, id, &row, m, snap, e)) != 0)
        goto done;
    if (row.has_move)
        rc = tdb_remove_location(t, id, row.role, row.move_layout, row.move_location, m, 1, e);
    if (rc == 0 && row.has_old)
        rc = tdb_remove_location(t, id, row.role, row.old_layout, row.old_location, m, 1, e);
    if (rc == 0)
        rc = tdb_remove_location(t, id, row.role, row.layout, row.location, m, 1, e);
    {
        int found = 0;
        if (rc == 0)
            rc = tdb_agent_drop_role(t, c, id, &row, e);
        if (rc == 0 && row.alt_role[0])
            rc = tdb_drop_alt(c, row.alt_role, e);
        if (rc == 0)
            rc = tdb_role_exists(c, row.role, &found, e);
        /* Grants in this database (the role owns nothing here any more);
         * a tenant database, the only other place with grants, is gone. */
        if (rc == 0 && found)
            rc = pb_pg_execf(c, e, "DROP OWNED BY %I; DROP ROLE IF EXISTS %I", row.role, row.role);
    }
    if (rc == 0)
        rc = tdb_update_row(c, "DELETE FROM paybill.tenants WHERE tenant_id = $1", id, NULL, NULL, e);
done:
    tdb_close_tenant(t, c, id, locked);
    if (rc) {
        if (snap)
            pb_tdb_snapshot_clear(snap);
        return pb_err_wrap(e, "deleting tenant %s", id);
    }
    pb_log_info("tenant database deleted", "tenant", id, "policy",
                policy == PB_TDB_DELETE ? "Delete" : policy == PB_TDB_RETAIN ? "Retain" : "Snapshot", NULL);
    return 0;
}
