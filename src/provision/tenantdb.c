/*
 * tenantdb.c - tenant data layouts and lifecycle (see tenantdb.h).
 *
 * Every operation is a sequence of idempotent steps (IF NOT EXISTS, catalog
 * checks, ON CONFLICT, "already gone is fine"), each in one transaction
 * where PostgreSQL allows it (CREATE/DROP DATABASE cannot be). The tenant's
 * record in paybill.tenants is written before and after the steps that
 * need to be resumed, so a rerun after a crash knows where it stopped.
 *
 * Every name that reaches SQL is either a constant, a checked identifier
 * (tenant ids, DataModel names) quoted with PQescapeIdentifier, or a value
 * passed as a parameter / quoted with PQescapeLiteral (pg.h).
 */
#include "provision/tenantdb.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "provision/pg.h"
#include "util/log.h"
#include "util/secret.h"

extern char **environ;

#define OWNER_ROLE "paybill_owner"
#define TENANT_DB_SCHEMA "app" /* where tables live inside a tenant database */
#define NAME_MAX_ 64

struct pb_tdb {
    pb_pg_pool *pool;
    /* NOLOGIN group holding the rls tenants' privileges ("<shared_db>_rls_tenants"):
     * granted once, so ACLs do not grow with the number of tenants. */
    char rls_group[NAME_MAX_];
    char *shared_db, *app_schema, *tenant_host, *sslmode, *snapshot_dir, *pg_dump;
    char server[NAME_MAX_];   /* pb_tdb_config.server_name */
    pb_tdb_server_role role;
    int tenant_port;
    int move_timeout_ms; /* 0: none (pb_tdb_config.move_statement_timeout_ms) */
    int fail_after;
    int failed_on_purpose; /* the last error came from fail_after */
};

/* The tenant's row in paybill.tenants. */
typedef struct {
    int found;
    char role[NAME_MAX_];
    pb_dm_layout layout;
    char location[NAME_MAX_];
    char state[16];
    int has_move;
    pb_dm_layout move_layout;
    char move_location[NAME_MAX_];
    int has_old;
    pb_dm_layout old_layout;
    char old_location[NAME_MAX_];
    char pw_hash[160]; /* of the password last set, "" when unknown */
    /* Moves between servers (pb_tdb_move_across), by server name: */
    char move_server[NAME_MAX_];   /* source: a move there is unfinished */
    char moved_to[NAME_MAX_];      /* source: the tenant lives there now */
    char arriving_from[NAME_MAX_]; /* destination: a move from there is unfinished */
    /* The second login (see "Credentials rotation" in tenantdb.h): */
    char alt_role[NAME_MAX_];   /* "" until made */
    char alt_pw_hash[160];      /* "" while it has no password (then NOLOGIN) */
    int active;                 /* 1: role, 2: alt_role is the one handed out */
} trow;

static const char MIGRATIONS_DDL[] =
    "CREATE SCHEMA IF NOT EXISTS paybill;\n"
    "REVOKE ALL ON SCHEMA paybill FROM PUBLIC;\n"
    "CREATE TABLE IF NOT EXISTS paybill.migrations (\n"
    "  target text NOT NULL, version bigint NOT NULL, model_name text NOT NULL,\n"
    "  model jsonb NOT NULL, statements text NOT NULL,\n"
    "  applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (target, version));\n";

/* ---- small helpers --------------------------------------------------------- */

static int id_ok(const char *id, pb_err *e)
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

static void role_of(const char *id, char out[NAME_MAX_]) { snprintf(out, NAME_MAX_, "pb_t_%s", id); }

/* The second login: '-' never occurs in an id, so no tenant's first
 * login can be another tenant's second. */
static void alt_role_of(const char *id, char out[NAME_MAX_]) { snprintf(out, NAME_MAX_, "pb_t_%s-2", id); }

static void location_of(const pb_tdb *t, pb_dm_layout l, const char *id, char out[NAME_MAX_])
{
    if (l == PB_DM_LAYOUT_RLS)
        snprintf(out, NAME_MAX_, "%s", t->app_schema);
    else
        snprintf(out, NAME_MAX_, "t_%s", id);
}

/* Database and schema holding a copy of the data. */
static const char *data_db(const pb_tdb *t, pb_dm_layout l, const char *location)
{
    return l == PB_DM_LAYOUT_DATABASE ? location : t->shared_db;
}

static const char *data_schema(pb_dm_layout l, const char *location)
{
    return l == PB_DM_LAYOUT_DATABASE ? TENANT_DB_SCHEMA : location;
}

static int injected(pb_tdb *t, int step, pb_err *e)
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
static void put_conn(pb_tdb *t, PGconn *c)
{
    if (c && strcmp(PQdb(c), t->shared_db) == 0)
        pb_pg_pool_put(t->pool, c);
    else
        pb_pg_pool_close(t->pool, c);
}

/* Inside a transaction: lift statement_timeout to the bulk one for its
 * remaining statements (they take time in proportion to the tenant's rows,
 * so the per-statement guard meant for catalog work does not fit them). */
static int bulk_timeout(pb_tdb *t, PGconn *c, pb_err *e)
{
    return pb_pg_execf(c, e, "SET LOCAL statement_timeout = %d", t->move_timeout_ms);
}

static char *dup_or(const char *s, const char *dflt) { return strdup(s ? s : dflt); }

static int exists(PGconn *c, const char *sql, const char *param, int *found, pb_err *e)
{
    PGresult *r;
    int rc = pb_pg_query(c, sql, 1, &param, &r, e);
    if (rc == 0) {
        *found = PQntuples(r) > 0;
        PQclear(r);
    }
    return rc;
}

static int role_exists(PGconn *c, const char *role, int *found, pb_err *e)
{
    return exists(c, "SELECT 1 FROM pg_roles WHERE rolname = $1", role, found, e);
}

/* ---- tenant record ----------------------------------------------------------- */

static void copy_field(char *dst, size_t n, const PGresult *r, int col)
{
    snprintf(dst, n, "%s", PQgetisnull(r, 0, col) ? "" : PQgetvalue(r, 0, col));
}

static int load_row(PGconn *c, const char *id, trow *row, pb_err *e)
{
    memset(row, 0, sizeof *row);
    PGresult *r;
    int rc = pb_pg_query(c,
                         "SELECT role_name, layout, location, state, move_layout, move_location, "
                         "old_layout, old_location, password_hash, move_server, moved_to, arriving_from, "
                         "alt_role, alt_password_hash, active_login FROM paybill.tenants WHERE tenant_id = $1",
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
    }
    PQclear(r);
    return 0;
}

/* Operations on one tenant are serialised (operator replicas, a Tenant
 * move against a DataModel rollout) by a session-level advisory lock on the
 * caller's connection. Waiting is bounded by lock_timeout (PB_ETIMEOUT:
 * retry later); pb_pg_pool_put releases any lock left behind. */
static int tenant_lock(PGconn *c, const char *id, pb_err *e)
{
    return pb_pg_query(c, "SELECT pg_advisory_lock(hashtext('paybill.tenant'), hashtext($1))", 1, &id, NULL, e);
}

static void tenant_unlock(PGconn *c, const char *id)
{
    pb_err ignored;
    if (c)
        pb_pg_query(c, "SELECT pg_advisory_unlock(hashtext('paybill.tenant'), hashtext($1))", 1, &id, NULL,
                    &ignored);
}

/* Load a tenant that must exist, locked when `lock`; on success *c stays
 * borrowed: give it back with close_tenant. */
static int open_tenant(pb_tdb *t, const char *id, int lock, PGconn **c, trow *row, pb_err *e)
{
    *c = NULL;
    int locked = 0;
    int rc = id_ok(id, e);
    if (rc == 0)
        rc = pb_pg_pool_get(t->pool, t->shared_db, c, e);
    if (rc == 0 && lock)
        locked = (rc = tenant_lock(*c, id, e)) == 0;
    if (rc == 0)
        rc = load_row(*c, id, row, e);
    if (rc == 0 && !row->found)
        rc = pb_err_set(e, PB_ENOTFOUND, "tenant %s not found", id);
    else if (rc == 0 && row->moved_to[0])
        rc = pb_err_set(e, PB_ENOTFOUND, "tenant %s is not on this server: it moved to server %s", id,
                        row->moved_to);
    if (rc) {
        if (locked)
            tenant_unlock(*c, id);
        put_conn(t, *c);
        *c = NULL;
    }
    return rc;
}

static void close_tenant(pb_tdb *t, PGconn *c, const char *id, int locked)
{
    if (locked)
        tenant_unlock(c, id);
    put_conn(t, c);
}

/* A tenant's row as it is now, without taking its lock (the connection goes
 * straight back to the pool); PB_ENOTFOUND if there is no such tenant. A
 * tenant that moved away is found: callers decide what that means. */
static int read_row(pb_tdb *t, const char *id, trow *row, pb_err *e)
{
    PGconn *c = NULL;
    int rc = id_ok(id, e);
    if (rc == 0)
        rc = pb_pg_pool_get(t->pool, t->shared_db, &c, e);
    if (rc == 0)
        rc = load_row(c, id, row, e);
    put_conn(t, c);
    if (rc == 0 && !row->found)
        rc = pb_err_set(e, PB_ENOTFOUND, "tenant %s not found", id);
    return rc;
}

/* PB_ECONFLICT while a move between servers is unfinished on either side:
 * only pb_tdb_move_across may touch the tenant then. */
static int cross_move_pending(const trow *row, pb_err *e)
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

static int bootstrap(pb_tdb *t, pb_err *e)
{
    PGconn *c = NULL;
    int found = 0;
    int rc = pb_pg_pool_get(t->pool, NULL, &c, e);
    if (rc == 0)
        rc = exists(c, "SELECT 1 FROM pg_database WHERE datname = $1", t->shared_db, &found, e);
    if (rc == 0 && !found) {
        rc = pb_pg_execf(c, e, "CREATE DATABASE %I", t->shared_db);
        if (rc == PB_EEXIST) /* created concurrently */
            rc = 0;
    }
    if (rc == 0)
        rc = role_exists(c, OWNER_ROLE, &found, e);
    if (rc == 0 && !found) {
        rc = pb_pg_exec(c, "CREATE ROLE " OWNER_ROLE " NOLOGIN", e);
        if (rc == PB_EEXIST)
            rc = 0;
    }
    if (rc == 0)
        rc = role_exists(c, t->rls_group, &found, e);
    if (rc == 0 && !found) {
        rc = pb_pg_execf(c, e, "CREATE ROLE %I NOLOGIN NOINHERIT", t->rls_group);
        if (rc == PB_EEXIST)
            rc = 0;
    }
    put_conn(t, c);
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
            "GRANT USAGE ON SCHEMA paybill TO " OWNER_ROLE ";\n"
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
            "GRANT SELECT ON paybill.tenants TO " OWNER_ROLE ";\n"
            /* The tenant of the login, not of the current role: SET ROLE
             * cannot change it, and only rls tenants have one. */
            "CREATE OR REPLACE FUNCTION paybill." PB_DM_TENANT_FN "() RETURNS text\n"
            "  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp\n"
            "  AS $f$ SELECT tenant_id FROM paybill.tenants\n"
            "         WHERE (role_name = session_user OR alt_role = session_user)\n"
            "           AND layout = 'rls' AND moved_to IS NULL $f$;\n"
            "ALTER FUNCTION paybill." PB_DM_TENANT_FN "() OWNER TO " OWNER_ROLE ";\n"
            "REVOKE ALL ON FUNCTION paybill." PB_DM_TENANT_FN "() FROM PUBLIC;\n"
            "GRANT EXECUTE ON FUNCTION paybill." PB_DM_TENANT_FN "() TO " OWNER_ROLE ";\n"
            "REVOKE ALL ON SCHEMA public FROM PUBLIC;\n",
            e);
    if (rc == 0)
        rc = pb_pg_execf(c, e,
                         "CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION " OWNER_ROLE ";\n"
                         "REVOKE ALL ON SCHEMA %I FROM PUBLIC;\n"
                         "REVOKE ALL ON DATABASE %I FROM PUBLIC;\n",
                         t->app_schema, t->app_schema, t->shared_db);
    /* What every rls tenant may use, granted to their group once. */
    if (rc == 0)
        rc = pb_pg_execf(c, e,
                         "GRANT CONNECT ON DATABASE %I TO %I;\n"
                         "GRANT USAGE ON SCHEMA %I TO %I;\n"
                         "GRANT USAGE ON SCHEMA paybill TO %I;\n"
                         "GRANT EXECUTE ON FUNCTION paybill." PB_DM_TENANT_FN "() TO %I;\n",
                         t->shared_db, t->rls_group, t->app_schema, t->rls_group, t->rls_group, t->rls_group);
    if (rc == 0)
        rc = pb_pg_commit(c, e);
    pb_pg_rollback(c);
    put_conn(t, c);
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
    int name_ok = sl > 0 && sl < NAME_MAX_;
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
    t->shared_db = strdup(shared);
    t->app_schema = strdup(app);
    t->tenant_host = dup_or(cfg->tenant_host, "127.0.0.1");
    t->sslmode = dup_or(cfg->sslmode, "prefer");
    t->snapshot_dir = cfg->snapshot_dir ? strdup(cfg->snapshot_dir) : NULL;
    t->pg_dump = dup_or(cfg->pg_dump, "pg_dump");
    t->tenant_port = cfg->tenant_port > 0 ? cfg->tenant_port : 5432;
    t->move_timeout_ms = cfg->move_statement_timeout_ms > 0 ? cfg->move_statement_timeout_ms : 0;
    pb_pg_opts po = {.conninfo = cfg->admin_conninfo,
                     .connect_timeout_s = cfg->connect_timeout_s,
                     .statement_timeout_ms = cfg->statement_timeout_ms,
                     .lock_timeout_ms = cfg->lock_timeout_ms,
                     .max_idle_total = cfg->max_idle_conns};
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
 * transaction together with its paybill.migrations row. Objects are created
 * as the owner role so tenants never own their tables. */
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
    if (rc == 0 && *ddl) {
        rc = pb_pg_exec(c, "SET LOCAL ROLE " OWNER_ROLE, e);
        if (rc == 0)
            rc = pb_pg_exec(c, ddl, e);
        if (rc == 0)
            rc = pb_pg_exec(c, "RESET ROLE", e);
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
static int target_version(PGconn *c, const char *schema, long long *v, pb_err *e)
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

int pb_tdb_apply_model(pb_tdb *t, const pb_dm_model *m, int allow_destructive, pb_err *e)
{
    PGconn *c = NULL;
    PGresult *r = NULL;
    int rc = pb_pg_pool_get(t->pool, t->shared_db, &c, e);
    if (rc == 0)
        rc = migrate_target(c, t->app_schema, PB_DM_LAYOUT_RLS, m, allow_destructive, e);
    if (rc == 0)
        rc = grant_rls_tables(t, c, e);
    if (rc == 0)
        rc = pb_pg_query(c, "SELECT tenant_id, role_name, layout, location FROM paybill.tenants "
                         "WHERE moved_to IS NULL AND arriving_from IS NULL ORDER BY tenant_id",
                         0, NULL, &r, e);
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        const char *id = PQgetvalue(r, i, 0), *role = PQgetvalue(r, i, 1), *loc = PQgetvalue(r, i, 3);
        pb_dm_layout l = PB_DM_LAYOUT_RLS;
        pb_dm_layout_parse(PQgetvalue(r, i, 2), &l);
        rc = tenant_lock(c, id, e);
        if (rc) {
        } else if (l == PB_DM_LAYOUT_RLS) {
            rc = join_rls_group(t, c, role, e); /* converges tenants made before the group */
        } else if (l == PB_DM_LAYOUT_SCHEMA) {
            rc = migrate_target(c, loc, l, m, allow_destructive, e);
            if (rc == 0)
                rc = grant_tables(c, loc, role, e);
        } else {
            PGconn *tc = NULL;
            rc = pb_pg_pool_get(t->pool, loc, &tc, e);
            if (rc == 0)
                rc = migrate_target(tc, TENANT_DB_SCHEMA, l, m, allow_destructive, e);
            if (rc == 0)
                rc = grant_tables(tc, TENANT_DB_SCHEMA, role, e);
            put_conn(t, tc);
        }
        tenant_unlock(c, id);
        if (rc)
            pb_err_wrap(e, "tenant %s", id);
    }
    PQclear(r);
    put_conn(t, c);
    return rc ? pb_err_wrap(e, "applying DataModel %s version %lld", pb_dm_name(m), pb_dm_version(m)) : 0;
}

/* ---- roles and credentials --------------------------------------------------- */

/* 32 characters from RFC 3986's unreserved set (util/secret.h): about 194
 * bits, usable in a URI or a conninfo string as is. Caller wipes and frees. */
static int new_password(char **out, pb_err *e)
{
    return pb_secret_password(32, out, e);
}

static int password_ok(const char *pw, pb_err *e)
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

/* Set the password, and record its hash (of the second login when `alt`),
 * in one transaction; skipped when the record says it is the one already
 * set (unless `force`). */
static int converge_password(PGconn *c, const char *id, const char *role, const char *pw, const char *stored,
                             int force, int alt, pb_err *e)
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
                         alt ? "UPDATE paybill.tenants SET alt_password_hash = $2 WHERE tenant_id = $1"
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
static int ensure_role(PGconn *c, const char *role, int conn_limit, int inherit, int *created, int *can_login,
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
static int lock_out(PGconn *c, const char *role, pb_err *e)
{
    int found = 0;
    int rc = role_exists(c, role, &found, e);
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
static const char *active_role(const trow *row) { return row->active == 2 ? row->alt_role : row->role; }

/* Both logins locked out. */
static int lock_out_all(PGconn *c, const trow *row, pb_err *e)
{
    int rc = lock_out(c, row->role, e);
    if (rc == 0 && row->alt_role[0])
        rc = lock_out(c, row->alt_role, e);
    return rc;
}

/* LOGIN again for both logins; a second login that never got a password
 * stays NOLOGIN (only a trust rule in pg_hba.conf could let it in). */
static int let_in_all(PGconn *c, const trow *row, pb_err *e)
{
    int rc = pb_pg_execf(c, e, "ALTER ROLE %I LOGIN", row->role);
    if (rc == 0 && row->alt_role[0] && row->alt_pw_hash[0])
        rc = pb_pg_execf(c, e, "ALTER ROLE %I LOGIN", row->alt_role);
    return rc;
}

/* The second login `alt` of the tenant whose first login is `role`: an
 * INHERIT member of the first and of nothing else, so in every layout it
 * has exactly the first's privileges (the first's grants, schema
 * ownership, or rls group membership; the rls policy maps both logins to
 * the tenant), with the same connection limit and search_path. Made
 * NOLOGIN without a password; rotation gives it one. Converging an
 * unchanged one writes nothing to pg_authid. */
static int ensure_alt(PGconn *c, const char *id, const char *role, const char *alt, int conn_limit,
                      const char *search_path, int *can_login, pb_err *e)
{
    int created = 0, member = 0;
    PGresult *r = NULL;
    const char *p[2] = {alt, role};
    int rc = ensure_role(c, alt, conn_limit, 1, &created, can_login, e);
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
static int drop_alt(PGconn *c, const char *alt, pb_err *e)
{
    int found = 0;
    int rc = role_exists(c, alt, &found, e);
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

static int fill_creds(const pb_tdb *t, const trow *row, const char *pw, pb_tdb_creds *c, pb_err *e)
{
    memset(c, 0, sizeof *c);
    const char *db = data_db(t, row->layout, row->location);
    c->host = strdup(t->tenant_host);
    c->port = t->tenant_port;
    c->dbname = strdup(db);
    c->user = strdup(active_role(row));
    c->password = strdup(pw);
    c->sslmode = strdup(t->sslmode);
    c->schema = strdup(data_schema(row->layout, row->location));
    /* Every part is URI-safe: identifiers, base64url password, and a host
     * that an IPv6 literal would need brackets for. */
    int v6 = strchr(t->tenant_host, ':') != NULL;
    size_t n = strlen(active_role(row)) + strlen(pw) + strlen(t->tenant_host) + strlen(db) + strlen(t->sslmode) + 64;
    c->uri = malloc(n);
    if (c->uri)
        snprintf(c->uri, n, "postgresql://%s:%s@%s%s%s:%d/%s?sslmode=%s", active_role(row), pw, v6 ? "[" : "",
                 t->tenant_host, v6 ? "]" : "", t->tenant_port, db, t->sslmode);
    if (!c->host || !c->dbname || !c->user || !c->password || !c->sslmode || !c->schema || !c->uri) {
        pb_tdb_creds_clear(c);
        return pb_err_set(e, PB_ENOMEM, "out of memory");
    }
    return 0;
}

int pb_tdb_creds_for(pb_tdb *t, const char *id, const char *password, pb_tdb_creds *creds, pb_err *e)
{
    trow row;
    int rc = read_row(t, id, &row, e);
    if (rc == 0 && row.moved_to[0])
        rc = pb_err_set(e, PB_ENOTFOUND, "tenant %s moved to server %s", id, row.moved_to);
    if (rc == 0)
        rc = fill_creds(t, &row, password, creds, e);
    return rc;
}

/* ---- locations: create, remove, copy ----------------------------------------- */

/* Create the place a tenant's data lives in `l`, bring it to model m and
 * grant the tenant's role its DML. */
static int prepare_location(pb_tdb *t, const char *role, pb_dm_layout l, const char *loc, const pb_dm_model *m,
                            pb_err *e)
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
    } else if (l == PB_DM_LAYOUT_SCHEMA) {
        rc = pb_pg_begin(c, e);
        if (rc == 0)
            rc = pb_pg_execf(c, e,
                             "CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I;\n"
                             "ALTER SCHEMA %I OWNER TO %I;\n"
                             "REVOKE ALL ON SCHEMA %I FROM PUBLIC;\n"
                             "GRANT USAGE, CREATE ON SCHEMA %I TO " OWNER_ROLE ";\n"
                             "GRANT CONNECT ON DATABASE %I TO %I;\n",
                             loc, role, loc, role, loc, loc, t->shared_db, role);
        if (rc == 0)
            rc = pb_pg_commit(c, e);
        pb_pg_rollback(c);
        if (rc == 0)
            rc = migrate_target(c, loc, l, m, 0, e);
        if (rc == 0)
            rc = grant_tables(c, loc, role, e);
    } else {
        rc = exists(c, "SELECT 1 FROM pg_database WHERE datname = $1", loc, &found, e);
        if (rc == 0 && !found) {
            rc = pb_pg_execf(c, e, "CREATE DATABASE %I OWNER " OWNER_ROLE, loc);
            if (rc == PB_EEXIST)
                rc = 0;
        }
        if (rc == 0)
            rc = pb_pg_execf(c, e,
                             "REVOKE ALL ON DATABASE %I FROM PUBLIC;\n"
                             "GRANT CONNECT ON DATABASE %I TO %I;\n",
                             loc, loc, role);
        if (rc == 0)
            rc = pb_pg_pool_get(t->pool, loc, &tc, e);
        if (rc == 0)
            rc = pb_pg_begin(tc, e);
        if (rc == 0)
            rc = pb_pg_exec(tc, MIGRATIONS_DDL, e);
        if (rc == 0)
            rc = pb_pg_execf(tc, e,
                             "REVOKE ALL ON SCHEMA public FROM PUBLIC;\n"
                             "CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION " OWNER_ROLE ";\n"
                             "REVOKE ALL ON SCHEMA %I FROM PUBLIC;\n",
                             TENANT_DB_SCHEMA, TENANT_DB_SCHEMA);
        if (rc == 0)
            rc = pb_pg_commit(tc, e);
        pb_pg_rollback(tc);
        if (rc == 0)
            rc = migrate_target(tc, TENANT_DB_SCHEMA, l, m, 0, e);
        if (rc == 0)
            rc = grant_tables(tc, TENANT_DB_SCHEMA, role, e);
        put_conn(t, tc);
    }
    put_conn(t, c);
    return rc ? pb_err_wrap(e, "preparing %s %s", pb_dm_layout_name(l), loc) : 0;
}

/* Remove one copy of a tenant's data and the role's grants on it. In rls
 * that means the tenant's rows (children first), which is why the model is
 * needed. keep_shared_connect: the tenant still lives in shared_db. */
static int remove_location(pb_tdb *t, const char *id, const char *role, pb_dm_layout l, const char *loc,
                           const pb_dm_model *m, int keep_shared_connect, pb_err *e)
{
    PGconn *c = NULL;
    int role_found = 0;
    int rc = pb_pg_pool_get(t->pool, t->shared_db, &c, e);
    if (rc)
        return rc;
    rc = role_exists(c, role, &role_found, e);
    if (rc == 0 && l == PB_DM_LAYOUT_RLS) {
        rc = pb_pg_begin(c, e);
        if (rc == 0)
            rc = bulk_timeout(t, c, e);
        for (size_t i = pb_dm_table_count(m); rc == 0 && i-- > 0;)
            rc = pb_pg_execf(c, e, "DELETE FROM %I.%I WHERE " PB_DM_TENANT_COLUMN " = %L", loc,
                             pb_dm_table_name(m, i), id);
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
    put_conn(t, c);
    return rc ? pb_err_wrap(e, "removing %s %s", pb_dm_layout_name(l), loc) : 0;
}

/* Comma-separated quoted column names of table i. */
static char *column_list(PGconn *c, const pb_dm_model *m, size_t i, pb_err *e)
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
static int table_sum(PGconn *c, const char *schema, const pb_dm_model *m, size_t i, const char *rls_id,
                     long long *count, char md5[33], pb_err *e)
{
    char *cols = column_list(c, m, i, e);
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

/* Stream one COPY from src to dst (both already in COPY mode). */
static int pump_copy(PGconn *src, PGconn *dst, pb_err *e)
{
    int rc = 0;
    for (;;) {
        char *buf = NULL;
        int n = PQgetCopyData(src, &buf, 0);
        if (n == -1)
            break;
        if (n < 0) {
            rc = pb_pg_error(src, NULL, e);
            break;
        }
        if (rc == 0 && PQputCopyData(dst, buf, n) != 1)
            rc = pb_pg_error(dst, NULL, e);
        PQfreemem(buf);
    }
    if (PQputCopyEnd(dst, rc ? "source failed" : NULL) != 1 && rc == 0)
        rc = pb_pg_error(dst, NULL, e);
    PGconn *both[2] = {src, dst};
    for (int k = 0; k < 2; k++) {
        PGresult *r;
        while ((r = PQgetResult(both[k])) != NULL) {
            if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0)
                rc = pb_pg_error(both[k], r, e);
            PQclear(r);
        }
    }
    return rc;
}

static int start_copy(PGconn *c, const char *sql, ExecStatusType want, pb_err *e)
{
    PGresult *r = PQexec(c, sql);
    int rc = PQresultStatus(r) == want ? 0 : pb_pg_error(c, r, e);
    PQclear(r);
    return rc;
}

/* Copy the tenant's rows from one layout to another in one transaction on
 * the destination, which is emptied first (a rerun starts over) and
 * verified table by table against the source before it commits. The
 * tenant is locked out, so the source does not change meanwhile. The two
 * copies may be on different servers (ft: the source's, tt: the
 * destination's); rows stream between the two connections with COPY. */
static int copy_data(pb_tdb *ft, pb_tdb *tt, const char *id, pb_dm_layout fl, const char *floc, pb_dm_layout tl,
                     const char *tloc, const pb_dm_model *m, pb_err *e)
{
    PGconn *src = NULL, *dst = NULL;
    const char *fs = data_schema(fl, floc), *ts = data_schema(tl, tloc);
    int rc = pb_pg_pool_get(ft->pool, data_db(ft, fl, floc), &src, e);
    if (rc == 0)
        rc = pb_pg_pool_get(tt->pool, data_db(tt, tl, tloc), &dst, e);
    /* The source in a read-only transaction too, so that its statements
     * get the bulk timeout as well (and one snapshot for copy and verify). */
    if (rc == 0)
        rc = pb_pg_exec(src, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", e);
    if (rc == 0)
        rc = bulk_timeout(ft, src, e);
    if (rc == 0)
        rc = pb_pg_begin(dst, e);
    if (rc == 0)
        rc = bulk_timeout(tt, dst, e);
    for (size_t i = pb_dm_table_count(m); rc == 0 && i-- > 0;) {
        if (tl == PB_DM_LAYOUT_RLS)
            rc = pb_pg_execf(dst, e, "DELETE FROM %I.%I WHERE " PB_DM_TENANT_COLUMN " = %L", ts,
                             pb_dm_table_name(m, i), id);
        else
            rc = pb_pg_execf(dst, e, "TRUNCATE %I.%I CASCADE", ts, pb_dm_table_name(m, i));
    }
    for (size_t i = 0; rc == 0 && i < pb_dm_table_count(m); i++) {
        const char *tn = pb_dm_table_name(m, i);
        char *cols = column_list(dst, m, i, e);
        char *out = NULL, *in = NULL;
        if (cols && tl == PB_DM_LAYOUT_RLS && fl != PB_DM_LAYOUT_RLS)
            out = pb_pg_format(src, e, "COPY (SELECT %L, %s FROM %I.%I) TO STDOUT", id, cols, fs, tn);
        else if (cols && fl == PB_DM_LAYOUT_RLS && tl != PB_DM_LAYOUT_RLS)
            out = pb_pg_format(src, e, "COPY (SELECT %s FROM %I.%I WHERE " PB_DM_TENANT_COLUMN " = %L) TO STDOUT",
                               cols, fs, tn, id);
        else if (cols)
            out = pb_pg_format(src, e, "COPY (SELECT %s FROM %I.%I) TO STDOUT", cols, fs, tn);
        if (out)
            in = pb_pg_format(dst, e, "COPY %I.%I (%s%s) FROM STDIN", ts, tn,
                              tl == PB_DM_LAYOUT_RLS ? PB_DM_TENANT_COLUMN ", " : "", cols);
        rc = in ? 0 : (e && e->code ? e->code : PB_ENOMEM);
        if (rc == 0)
            rc = start_copy(src, out, PGRES_COPY_OUT, e);
        if (rc == 0) {
            rc = start_copy(dst, in, PGRES_COPY_IN, e);
            if (rc) { /* drain the source so the connection stays usable */
                char *b;
                int n;
                while ((n = PQgetCopyData(src, &b, 0)) > 0)
                    PQfreemem(b);
                PQclear(PQgetResult(src));
            } else {
                rc = pump_copy(src, dst, e);
            }
        }
        free(cols);
        free(out);
        free(in);
        if (rc)
            pb_err_wrap(e, "copying table %s", tn);
    }
    for (size_t i = 0; rc == 0 && i < pb_dm_table_count(m); i++) {
        long long n1 = 0, n2 = 0;
        char s1[33], s2[33];
        rc = table_sum(src, fs, m, i, fl == PB_DM_LAYOUT_RLS ? id : NULL, &n1, s1, e);
        if (rc == 0)
            rc = table_sum(dst, ts, m, i, tl == PB_DM_LAYOUT_RLS ? id : NULL, &n2, s2, e);
        if (rc == 0 && (n1 != n2 || strcmp(s1, s2) != 0))
            rc = pb_err_set(e, PB_EIO,
                            "verification failed for table %s: %lld rows (md5 %s) at the source, "
                            "%lld rows (md5 %s) at the destination",
                            pb_dm_table_name(m, i), n1, s1, n2, s2);
    }
    if (rc == 0)
        rc = pb_pg_commit(dst, e);
    pb_pg_rollback(dst);
    pb_pg_rollback(src); /* read only: nothing to keep */
    put_conn(ft, src);
    put_conn(tt, dst);
    return rc ? pb_err_wrap(e, "copying rows from %s to %s", pb_dm_layout_name(fl), pb_dm_layout_name(tl)) : 0;
}

/* ---- lifecycle --------------------------------------------------------------- */

static int update_row(PGconn *c, const char *sql, const char *id, const char *a, const char *b, pb_err *e)
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
        return exists(c, "SELECT 1 FROM pg_namespace WHERE nspname = $1", loc, found, e);
    if (l == PB_DM_LAYOUT_DATABASE)
        return exists(c, "SELECT 1 FROM pg_database WHERE datname = $1", loc, found, e);
    return 0;
}

/* A new tenant's ensure failed: remove what this call made, so no
 * half-made tenant stays behind (the role never had LOGIN). Best effort: a
 * rerun converges anyway. A schema or database that was already there is
 * not ours to drop, and the role may own it now: both stay. */
static void undo_new_tenant(pb_tdb *t, PGconn *c, const char *id, const char *role, int role_created,
                            pb_dm_layout l, const char *loc, int loc_existed, const pb_dm_model *m)
{
    pb_err ignored;
    pb_pg_rollback(c);
    if (PQstatus(c) != CONNECTION_OK)
        return;
    int ours = l == PB_DM_LAYOUT_RLS || !loc_existed;
    if (l != PB_DM_LAYOUT_RLS && !loc_existed)
        remove_location(t, id, role, l, loc, m, 0, &ignored);
    if (role_created && ours) {
        char alt[NAME_MAX_];
        alt_role_of(id, alt);
        drop_alt(c, alt, &ignored);
        pb_pg_execf(c, &ignored, "DROP OWNED BY %I; DROP ROLE IF EXISTS %I", role, role);
    }
    update_row(c, "DELETE FROM paybill.tenants WHERE tenant_id = $1", id, NULL, NULL, &ignored);
    pb_log_warn("tenant database creation undone", "tenant", id, NULL);
}

int pb_tdb_ensure(pb_tdb *t, const pb_tdb_tenant *spec, const pb_dm_model *m, pb_tdb_creds *creds, pb_err *e)
{
    PGconn *c = NULL;
    trow row;
    char role[NAME_MAX_], alt[NAME_MAX_], loc[NAME_MAX_], *pw = NULL;
    int fresh = 0, role_created = 0, can_login = 0, alt_can_login = 0, loc_existed = 1;
    memset(creds, 0, sizeof *creds);
    int rc = id_ok(spec->id, e);
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
        rc = password_ok(spec->password, e);
    else
        rc = new_password(&pw, e);
    if (rc)
        return rc;
    const char *password = spec->password ? spec->password : pw;
    role_of(spec->id, role);
    location_of(t, spec->layout, spec->id, loc);

    rc = pb_pg_pool_get(t->pool, t->shared_db, &c, e);
    int locked = rc == 0 && (rc = tenant_lock(c, spec->id, e)) == 0;
    if (rc == 0)
        rc = load_row(c, spec->id, &row, e);
    if (rc == 0 && row.found && row.moved_to[0])
        rc = pb_err_set(e, PB_ECONFLICT, "tenant %s lives on server %s now: ensure it there", spec->id,
                        row.moved_to);
    else if (rc == 0 && row.found && (rc = cross_move_pending(&row, e)) != 0) {
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
        rc = load_row(c, spec->id, &row, e);
    if (rc == 0)
        rc = ensure_role(c, role, spec->connection_limit, spec->layout == PB_DM_LAYOUT_RLS, &role_created,
                         &can_login, e);
    alt_role_of(spec->id, alt);
    if (rc == 0)
        rc = ensure_alt(c, spec->id, role, alt, spec->connection_limit, data_schema(spec->layout, loc),
                        &alt_can_login, e);
    if (rc == 0)
        rc = load_row(c, spec->id, &row, e);
    /* The given password belongs to the login handed out last. */
    if (rc == 0)
        rc = converge_password(c, spec->id, active_role(&row), password, row.active == 2 ? row.alt_pw_hash : row.pw_hash,
                               row.active == 2 ? 0 : role_created, row.active == 2, e);
    if (rc == 0)
        rc = load_row(c, spec->id, &row, e);
    if (rc == 0)
        rc = pb_pg_execf(c, e, "ALTER ROLE %I SET search_path = %I", role, data_schema(spec->layout, loc));
    if (rc == 0)
        rc = prepare_location(t, role, spec->layout, loc, m, e);
    /* Only a complete tenant may log in; the second login only once it
     * has a password. */
    if (rc == 0 && can_login != (strcmp(row.state, "active") == 0))
        rc = pb_pg_execf(c, e, "ALTER ROLE %I %s", role, can_login ? "NOLOGIN" : "LOGIN");
    if (rc == 0 && alt_can_login != (strcmp(row.state, "active") == 0 && row.alt_pw_hash[0]))
        rc = pb_pg_execf(c, e, "ALTER ROLE %I %s", alt, alt_can_login ? "NOLOGIN" : "LOGIN");
    if (rc && fresh && c)
        undo_new_tenant(t, c, spec->id, role, role_created, spec->layout, loc, loc_existed, m);
    if (c)
        close_tenant(t, c, spec->id, locked);
    if (rc == 0)
        rc = fill_creds(t, &row, password, creds, e);
    if (pw)
        pb_secret_wipe(pw, strlen(pw));
    free(pw);
    if (rc)
        return pb_err_wrap(e, "tenant %s", spec->id);
    pb_log_info("tenant database ready", "tenant", spec->id, "layout", pb_dm_layout_name(spec->layout), NULL);
    return 0;
}

int pb_tdb_rotate(pb_tdb *t, const char *id, pb_tdb_creds *creds, pb_err *e)
{
    PGconn *c;
    trow row;
    char *pw = NULL;
    memset(creds, 0, sizeof *creds);
    int rc = open_tenant(t, id, 1, &c, &row, e);
    if (rc)
        return pb_err_wrap(e, "rotating credentials");
    rc = cross_move_pending(&row, e);
    if (rc == 0 && !row.alt_role[0]) { /* a tenant from before second logins */
        char alt[NAME_MAX_];
        int limit = -1, alt_can_login = 0;
        PGresult *r = NULL;
        const char *p[1] = {row.role};
        alt_role_of(id, alt);
        rc = pb_pg_query(c, "SELECT rolconnlimit FROM pg_roles WHERE rolname = $1", 1, p, &r, e);
        if (rc == 0 && PQntuples(r) == 1)
            limit = atoi(PQgetvalue(r, 0, 0));
        PQclear(r);
        if (rc == 0)
            rc = ensure_alt(c, id, row.role, alt, limit, data_schema(row.layout, row.location), &alt_can_login, e);
        if (rc == 0)
            rc = load_row(c, id, &row, e);
    }
    if (rc == 0)
        rc = new_password(&pw, e);
    /* The other login gets the new password (replacing the one from two
     * rotations ago) and LOGIN, then becomes the one handed out; the login
     * handed out until now keeps working until the next rotation. A crash
     * before the switch leaves a password nobody knows: a rerun makes
     * another. */
    int next = row.active == 2 ? 1 : 2;
    const char *login = next == 2 ? row.alt_role : row.role;
    if (rc == 0)
        rc = converge_password(c, id, login, pw, "", 1, next == 2, e);
    /* Not while a move keeps the tenant out: the move's end lets both in. */
    if (rc == 0 && strcmp(row.state, "active") == 0 && !row.has_move && !row.has_old)
        rc = pb_pg_execf(c, e, "ALTER ROLE %I LOGIN", login);
    if (rc == 0) {
        char nx[4];
        snprintf(nx, sizeof nx, "%d", next);
        rc = update_row(c, "UPDATE paybill.tenants SET active_login = $2::int, updated_at = now() WHERE tenant_id = $1",
                        id, nx, NULL, e);
    }
    if (rc == 0)
        rc = load_row(c, id, &row, e);
    close_tenant(t, c, id, 1);
    if (rc == 0)
        rc = fill_creds(t, &row, pw, creds, e);
    if (pw)
        pb_secret_wipe(pw, strlen(pw));
    free(pw);
    return rc ? pb_err_wrap(e, "rotating credentials of tenant %s", id) : 0;
}

int pb_tdb_suspend(pb_tdb *t, const char *id, pb_err *e)
{
    PGconn *c;
    trow row;
    int rc = open_tenant(t, id, 1, &c, &row, e);
    if (rc)
        return pb_err_wrap(e, "suspending");
    /* Allowed on the source of an unfinished move between servers (the
     * rerun carries the state over), not on its destination. */
    if (row.arriving_from[0])
        rc = cross_move_pending(&row, e);
    if (rc == 0)
        rc = update_row(c, "UPDATE paybill.tenants SET state = 'suspended', updated_at = now() WHERE tenant_id = $1",
                    id, NULL, NULL, e);
    if (rc == 0)
        rc = lock_out_all(c, &row, e);
    close_tenant(t, c, id, 1);
    return rc ? pb_err_wrap(e, "suspending tenant %s", id) : 0;
}

int pb_tdb_resume(pb_tdb *t, const char *id, pb_err *e)
{
    PGconn *c;
    trow row;
    int rc = open_tenant(t, id, 1, &c, &row, e);
    if (rc)
        return pb_err_wrap(e, "resuming");
    rc = cross_move_pending(&row, e);
    if (rc == 0 && (row.has_move || row.has_old))
        rc = pb_err_set(e, PB_ECONFLICT, "a move is unfinished: rerun the move (it restores the login)");
    if (rc == 0)
        rc = update_row(c, "UPDATE paybill.tenants SET state = 'active', updated_at = now() WHERE tenant_id = $1",
                        id, NULL, NULL, e);
    if (rc == 0)
        rc = let_in_all(c, &row, e);
    close_tenant(t, c, id, 1);
    return rc ? pb_err_wrap(e, "resuming tenant %s", id) : 0;
}

int pb_tdb_info_get(pb_tdb *t, const char *id, pb_tdb_info *info, pb_err *e)
{
    trow row;
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
    return 0;
}

int pb_tdb_checksum(pb_tdb *t, const char *id, const pb_dm_model *m, long long *rows, char sha256[65], pb_err *e)
{
    PGconn *c, *dc = NULL;
    trow row;
    *rows = 0;
    sha256[0] = '\0';
    int rc = open_tenant(t, id, 0, &c, &row, e);
    if (rc)
        return rc;
    close_tenant(t, c, id, 0);
    rc = pb_pg_pool_get(t->pool, data_db(t, row.layout, row.location), &dc, e);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (rc == 0 && (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1))
        rc = pb_err_set(e, PB_ENOMEM, "sha256: out of memory");
    for (size_t i = 0; rc == 0 && i < pb_dm_table_count(m); i++) {
        long long n = 0;
        char sum[33], line[256];
        rc = table_sum(dc, data_schema(row.layout, row.location), m, i,
                       row.layout == PB_DM_LAYOUT_RLS ? id : NULL, &n, sum, e);
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
    put_conn(t, dc);
    return rc ? pb_err_wrap(e, "checksum of tenant %s", id) : 0;
}

/* ---- moves --------------------------------------------------------------------- */

int pb_tdb_move(pb_tdb *t, const char *id, pb_dm_layout to, const pb_dm_model *m, pb_err *e)
{
    PGconn *c = NULL;
    trow row;
    char dest[NAME_MAX_];
    long long v = 0;
    int rc = open_tenant(t, id, 1, &c, &row, e);
    if (rc)
        return pb_err_wrap(e, "moving");
    if (row.arriving_from[0]) {
        rc = cross_move_pending(&row, e);
        close_tenant(t, c, id, 1);
        return pb_err_wrap(e, "moving tenant %s", id);
    }
    /* An unfinished move to another server, not switched: this copy is
     * still the tenant's, so a move here abandons that one (its
     * destination's leftovers are the other server's; a later
     * pb_tdb_move_across there starts over). */
    if (row.move_server[0]) {
        rc = update_row(c,
                        "UPDATE paybill.tenants SET move_layout = NULL, move_location = NULL, move_server = NULL "
                        "WHERE tenant_id = $1",
                        id, NULL, NULL, e);
        if (rc) {
            close_tenant(t, c, id, 1);
            return pb_err_wrap(e, "moving tenant %s", id);
        }
        pb_log_warn("move to another server abandoned", "tenant", id, "server", row.move_server, NULL);
        row.has_move = 0;
        row.move_server[0] = '\0';
    }
    if (t->role == PB_TDB_DEDICATED && to != PB_DM_LAYOUT_DATABASE) {
        close_tenant(t, c, id, 1);
        return pb_err_set(e, PB_EINVAL,
                          "moving tenant %s: server %s is dedicated: move it to a shared server with "
                          "pb_tdb_move_across",
                          id, t->server);
    }
    location_of(t, to, id, dest);

    /* A previous move switched but did not remove the old copy: finish. */
    if (row.has_old) {
        rc = remove_location(t, id, row.role, row.old_layout, row.old_location, m,
                             row.layout != PB_DM_LAYOUT_DATABASE, e);
        if (rc == 0)
            rc = update_row(c, "UPDATE paybill.tenants SET old_layout = NULL, old_location = NULL WHERE tenant_id = $1",
                            id, NULL, NULL, e);
        if (rc)
            goto out;
        row.has_old = 0;
    }
    /* An interrupted move elsewhere: drop its half-made destination. */
    if (row.has_move && row.move_layout != to) {
        rc = remove_location(t, id, row.role, row.move_layout, row.move_location, m,
                             row.layout != PB_DM_LAYOUT_DATABASE, e);
        if (rc == 0)
            rc = update_row(c, "UPDATE paybill.tenants SET move_layout = NULL, move_location = NULL WHERE tenant_id = $1",
                            id, NULL, NULL, e);
        if (rc)
            goto out;
        row.has_move = 0;
    }
    if (row.layout == to)
        goto restore;

    {
        PGconn *sc = NULL;
        rc = pb_pg_pool_get(t->pool, data_db(t, row.layout, row.location), &sc, e);
        if (rc == 0)
            rc = target_version(sc, data_schema(row.layout, row.location), &v, e);
        put_conn(t, sc);
        if (rc == 0 && v != pb_dm_version(m))
            rc = pb_err_set(e, PB_EINVAL, "the tenant's data is at model version %lld, not %lld: migrate first", v,
                            pb_dm_version(m));
        if (rc)
            goto out;
    }

    /* 1: intent, and the tenant locked out so the source stays still. */
    rc = update_row(c, "UPDATE paybill.tenants SET move_layout = $2, move_location = $3 WHERE tenant_id = $1", id,
                    pb_dm_layout_name(to), dest, e);
    if (rc == 0)
        rc = lock_out_all(c, &row, e);
    if (rc || (rc = injected(t, 1, e)))
        goto out;
    /* 2: destination ready at this model. */
    rc = prepare_location(t, row.role, to, dest, m, e);
    if (rc || (rc = injected(t, 2, e)))
        goto out;
    /* 3: rows copied and verified. */
    rc = copy_data(t, t, id, row.layout, row.location, to, dest, m, e);
    if (rc || (rc = injected(t, 3, e)))
        goto out;
    /* 4: switch, remembering the old copy for removal. */
    rc = pb_pg_begin(c, e);
    if (rc == 0) {
        const char *p[3] = {id, pb_dm_layout_name(to), dest};
        rc = pb_pg_query(c,
                         "UPDATE paybill.tenants SET old_layout = layout, old_location = location, "
                         "layout = $2, location = $3, move_layout = NULL, move_location = NULL, "
                         "updated_at = now() WHERE tenant_id = $1",
                         3, p, NULL, e);
    }
    if (rc == 0)
        rc = pb_pg_execf(c, e, "ALTER ROLE %I SET search_path = %I", row.role, data_schema(to, dest));
    if (rc == 0 && row.alt_role[0])
        rc = pb_pg_execf(c, e, "ALTER ROLE %I SET search_path = %I", row.alt_role, data_schema(to, dest));
    if (rc == 0)
        rc = pb_pg_commit(c, e);
    pb_pg_rollback(c);
    if (rc || (rc = injected(t, 4, e)))
        goto out;
    pb_log_info("tenant data moved", "tenant", id, "from", pb_dm_layout_name(row.layout), "to",
                pb_dm_layout_name(to), NULL);
    /* 5: old copy removed. */
    rc = remove_location(t, id, row.role, row.layout, row.location, m, to != PB_DM_LAYOUT_DATABASE, e);
    if (rc == 0)
        rc = update_row(c, "UPDATE paybill.tenants SET old_layout = NULL, old_location = NULL WHERE tenant_id = $1",
                        id, NULL, NULL, e);
    if (rc || (rc = injected(t, 5, e)))
        goto out;

restore:
    if (rc == 0)
        rc = load_row(c, id, &row, e);
    if (rc == 0 && strcmp(row.state, "active") == 0)
        rc = let_in_all(c, &row, e);
    close_tenant(t, c, id, 1);
    return rc ? pb_err_wrap(e, "moving tenant %s to %s", id, pb_dm_layout_name(to)) : 0;

out:
    /* A real failure leaves the old copy serving: give the login back
     * (state permitting). An injected one plays dead: touch nothing. */
    if (!t->failed_on_purpose) {
        pb_err ignored;
        trow now;
        if (load_row(c, id, &now, &ignored) == 0 && strcmp(now.state, "active") == 0)
            let_in_all(c, &now, &ignored);
    }
    t->failed_on_purpose = 0;
    close_tenant(t, c, id, 1);
    return pb_err_wrap(e, "moving tenant %s to %s", id, pb_dm_layout_name(to));
}

/* ---- moves between servers ------------------------------------------------------ */

/* The same PostgreSQL cluster behind both handles would share roles and
 * databases: refused. A server that will not say (no superuser) passes. */
static int same_cluster(pb_tdb *a, pb_tdb *b, PGconn *ca, PGconn *cb)
{
    if (strcmp(a->server, b->server) == 0)
        return 1;
    pb_err ignored;
    PGresult *ra = NULL, *rb = NULL;
    const char *q = "SELECT system_identifier::text FROM pg_control_system()";
    int same = pb_pg_query(ca, q, 0, NULL, &ra, &ignored) == 0 && pb_pg_query(cb, q, 0, NULL, &rb, &ignored) == 0 &&
               strcmp(PQgetvalue(ra, 0, 0), PQgetvalue(rb, 0, 0)) == 0;
    PQclear(ra);
    PQclear(rb);
    return same;
}

/* Source side, after the switch: remove the old copy and the role (it
 * logs in elsewhere now), then forget the old copy in the record, which
 * stays behind saying where the tenant went. */
static int finish_source(pb_tdb *s, PGconn *sc, const char *id, const trow *row, const pb_dm_model *m, pb_err *e)
{
    int found = 0;
    int rc = 0;
    if (row->has_old)
        rc = remove_location(s, id, row->role, row->old_layout, row->old_location, m, 0, e);
    if (rc == 0 && row->alt_role[0])
        rc = drop_alt(sc, row->alt_role, e);
    if (rc == 0)
        rc = role_exists(sc, row->role, &found, e);
    if (rc == 0 && found)
        rc = pb_pg_execf(sc, e, "DROP OWNED BY %I; DROP ROLE IF EXISTS %I", row->role, row->role);
    if (rc == 0)
        rc = update_row(sc, "UPDATE paybill.tenants SET old_layout = NULL, old_location = NULL WHERE tenant_id = $1",
                        id, NULL, NULL, e);
    return rc ? pb_err_wrap(e, "removing the old copy on server %s", s->server) : 0;
}

/* Destination side, before the copy: the tenant's record (marked as
 * arriving, so nothing else on this server touches it), its role with the
 * source's password verifier and connection limit (clients keep their
 * Secret), still NOLOGIN, and the place for its data at model m. */
static int prepare_arrival(pb_tdb *s, pb_tdb *d, PGconn *sc, PGconn *dc, const char *id, const trow *srow,
                           pb_dm_layout tl, const char *dest, const pb_dm_model *m, pb_err *e)
{
    int created = 0, can_login = 0, limits[2] = {-1, -1};
    char *verifiers[2] = {NULL, NULL};
    char active[4];
    const char *logins[2] = {srow->role, srow->alt_role[0] ? srow->alt_role : NULL};
    int rc = 0;
    /* pg_authid is readable by superusers only: the admin must be one. */
    for (int i = 0; rc == 0 && i < 2 && logins[i]; i++) {
        PGresult *r = NULL;
        rc = pb_pg_query(sc, "SELECT rolconnlimit, rolpassword FROM pg_authid WHERE rolname = $1", 1, &logins[i], &r,
                         e);
        if (rc == 0 && PQntuples(r) != 1)
            rc = pb_err_set(e, PB_ENOTFOUND, "role %s not found on server %s", logins[i], s->server);
        if (rc == 0) {
            limits[i] = atoi(PQgetvalue(r, 0, 0));
            if (!PQgetisnull(r, 0, 1) && !(verifiers[i] = strdup(PQgetvalue(r, 0, 1))))
                rc = pb_err_set(e, PB_ENOMEM, "out of memory");
        }
        PQclear(r);
    }
    snprintf(active, sizeof active, "%d", srow->active);
    if (rc == 0) {
        const char *p[10] = {id, srow->role, pb_dm_layout_name(tl), dest, srow->state, s->server,
                             srow->pw_hash[0] ? srow->pw_hash : NULL, logins[1],
                             srow->alt_pw_hash[0] ? srow->alt_pw_hash : NULL, active};
        /* Over a record left by an earlier move away from here. */
        rc = pb_pg_query(dc,
                         "INSERT INTO paybill.tenants (tenant_id, role_name, layout, location, state, arriving_from, "
                         "password_hash, alt_role, alt_password_hash, active_login) "
                         "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::int) ON CONFLICT (tenant_id) DO UPDATE SET "
                         "role_name = $2, layout = $3, location = $4, state = $5, arriving_from = $6, "
                         "password_hash = $7, alt_role = $8, alt_password_hash = $9, active_login = $10::int, "
                         "move_layout = NULL, move_location = NULL, move_server = NULL, "
                         "old_layout = NULL, old_location = NULL, moved_to = NULL, updated_at = now()",
                         10, p, NULL, e);
    }
    if (rc == 0)
        rc = ensure_role(dc, srow->role, limits[0], tl == PB_DM_LAYOUT_RLS, &created, &can_login, e);
    if (rc == 0 && can_login)
        rc = pb_pg_execf(dc, e, "ALTER ROLE %I NOLOGIN", srow->role);
    if (rc == 0)
        rc = pb_pg_execf(dc, e, "ALTER ROLE %I SET search_path = %I", srow->role, data_schema(tl, dest));
    if (rc == 0 && logins[1])
        rc = ensure_alt(dc, id, srow->role, logins[1], limits[1], data_schema(tl, dest), &can_login, e);
    if (rc == 0 && logins[1] && can_login)
        rc = pb_pg_execf(dc, e, "ALTER ROLE %I NOLOGIN", logins[1]);
    /* The verifiers as they are: the Secret's password keeps working. */
    for (int i = 0; rc == 0 && i < 2; i++)
        if (verifiers[i])
            rc = pb_pg_execf(dc, e, "ALTER ROLE %I PASSWORD %L", logins[i], verifiers[i]);
    if (rc == 0)
        rc = prepare_location(d, srow->role, tl, dest, m, e);
    for (int i = 0; i < 2; i++)
        if (verifiers[i]) {
            pb_secret_wipe(verifiers[i], strlen(verifiers[i]));
            free(verifiers[i]);
        }
    return rc ? pb_err_wrap(e, "preparing the destination on server %s", d->server) : 0;
}

/* Destination side of the switch: the tenant lives here now, in the state
 * the source had. */
static int arrive(PGconn *dc, const char *id, const char *state, pb_err *e)
{
    return update_row(dc,
                      "UPDATE paybill.tenants SET arriving_from = NULL, state = $2, updated_at = now() "
                      "WHERE tenant_id = $1",
                      id, state, NULL, e);
}

int pb_tdb_move_across(pb_tdb *s, pb_tdb *d, const char *id, pb_dm_layout tl, const pb_dm_model *m, pb_err *e)
{
    PGconn *sc = NULL, *dc = NULL;
    trow srow, drow;
    char dest[NAME_MAX_];
    int slocked = 0, dlocked = 0, switched = 0, delegate = 0;
    int rc = id_ok(id, e);
    if (rc)
        return rc;
    if (!s || !d || s == d)
        return pb_err_set(e, PB_EINVAL, "moving tenant %s: two different servers are needed", id);
    if (d->role == PB_TDB_DEDICATED && tl != PB_DM_LAYOUT_DATABASE)
        return pb_err_set(e, PB_EINVAL, "moving tenant %s: server %s is dedicated: only the database layout", id,
                          d->server);
    location_of(d, tl, id, dest);
    /* Lock order: source, then destination (a move the other way waits at
     * most lock_timeout, then fails with PB_ETIMEOUT). */
    rc = pb_pg_pool_get(s->pool, s->shared_db, &sc, e);
    if (rc == 0)
        slocked = (rc = tenant_lock(sc, id, e)) == 0;
    /* The destination unreachable is a failure like any other: under the
     * source's lock, so that `out` can let the tenant in again there. */
    if (rc == 0)
        rc = pb_pg_pool_get(d->pool, d->shared_db, &dc, e);
    if (rc == 0 && same_cluster(s, d, sc, dc))
        rc = pb_err_set(e, PB_EINVAL, "servers %s and %s are the same PostgreSQL cluster: use pb_tdb_move", s->server,
                        d->server);
    if (rc == 0)
        dlocked = (rc = tenant_lock(dc, id, e)) == 0;
    if (rc == 0)
        rc = load_row(sc, id, &srow, e);
    if (rc == 0)
        rc = load_row(dc, id, &drow, e);
    if (rc)
        goto out;

    int s_lives = srow.found && !srow.moved_to[0];
    int s_moved_here = srow.found && strcmp(srow.moved_to, d->server) == 0;
    int d_lives = drow.found && !drow.moved_to[0] && !drow.arriving_from[0];
    int d_arriving = drow.found && strcmp(drow.arriving_from, s->server) == 0;

    if (!s_lives) {
        /* Switched already (or the tenant was always at the destination):
         * finish what a crash left, then at most a move within it. */
        if (s_moved_here && d_arriving)
            rc = arrive(dc, id, srow.state, e);
        else if (!d_lives)
            rc = pb_err_set(e, drow.found ? PB_ECONFLICT : PB_ENOTFOUND,
                            "tenant %s lives on neither server %s nor %s%s%s", id, s->server, d->server,
                            srow.moved_to[0] ? " (the source says: moved to " : "",
                            srow.moved_to[0] ? srow.moved_to : "");
        if (rc == 0 && s_moved_here)
            rc = finish_source(s, sc, id, &srow, m, e);
        if (rc == 0)
            rc = load_row(dc, id, &drow, e);
        delegate = rc == 0 && drow.layout != tl;
        goto restore;
    }
    if (d_lives || (drow.found && drow.arriving_from[0] && !d_arriving))
        rc = pb_err_set(e, PB_ECONFLICT, "tenant %s is also on server %s (%s): resolve by hand", id, d->server,
                        d_lives ? "living there" : "arriving from another server");
    else if (srow.move_server[0] && strcmp(srow.move_server, d->server) != 0)
        rc = pb_err_set(e, PB_ECONFLICT, "a move of tenant %s to server %s is unfinished: rerun that one", id,
                        srow.move_server);
    else if (!srow.move_server[0] && (srow.has_move || srow.has_old))
        rc = pb_err_set(e, PB_ECONFLICT, "a move within server %s is unfinished: rerun pb_tdb_move", s->server);
    if (rc == 0 && drow.found && drow.moved_to[0] && drow.has_old)
        rc = finish_source(d, dc, id, &drow, m, e); /* a move away from d was never cleaned up */
    if (rc == 0) {
        PGconn *vc = NULL;
        long long v = 0;
        rc = pb_pg_pool_get(s->pool, data_db(s, srow.layout, srow.location), &vc, e);
        if (rc == 0)
            rc = target_version(vc, data_schema(srow.layout, srow.location), &v, e);
        put_conn(s, vc);
        if (rc == 0 && v != pb_dm_version(m))
            rc = pb_err_set(e, PB_EINVAL, "the tenant's data is at model version %lld, not %lld: migrate first", v,
                            pb_dm_version(m));
    }
    if (rc)
        goto out;

    /* 1: intent on the source, and the tenant locked out there. */
    {
        const char *p[4] = {id, pb_dm_layout_name(tl), dest, d->server};
        rc = pb_pg_query(sc,
                         "UPDATE paybill.tenants SET move_layout = $2, move_location = $3, move_server = $4 "
                         "WHERE tenant_id = $1",
                         4, p, NULL, e);
    }
    if (rc == 0)
        rc = lock_out_all(sc, &srow, e);
    if (rc || (rc = injected(s, 1, e)))
        goto out;
    /* 2: record, role and empty tables at the destination. */
    rc = prepare_arrival(s, d, sc, dc, id, &srow, tl, dest, m, e);
    if (rc || (rc = injected(s, 2, e)))
        goto out;
    /* 3: rows streamed across and verified before the destination commits. */
    rc = copy_data(s, d, id, srow.layout, srow.location, tl, dest, m, e);
    if (rc || (rc = injected(s, 3, e)))
        goto out;
    /* 4: switch. The source's record decides (a crash between the two
     * updates is finished by the rerun: "moved here" + "arriving"). */
    rc = load_row(sc, id, &srow, e); /* the state may have changed (suspend) */
    if (rc == 0) {
        const char *p[2] = {id, d->server};
        rc = pb_pg_query(sc,
                         "UPDATE paybill.tenants SET moved_to = $2, old_layout = layout, old_location = location, "
                         "move_layout = NULL, move_location = NULL, move_server = NULL, updated_at = now() "
                         "WHERE tenant_id = $1",
                         2, p, NULL, e);
    }
    switched = rc == 0;
    if (rc == 0)
        rc = arrive(dc, id, srow.state, e);
    if (rc || (rc = injected(s, 4, e)))
        goto out;
    pb_log_info("tenant data moved to another server", "tenant", id, "from", s->server, "to", d->server, "layout",
                pb_dm_layout_name(tl), NULL);
    /* 5: the source's copy and role removed. */
    rc = load_row(sc, id, &srow, e);
    if (rc == 0)
        rc = finish_source(s, sc, id, &srow, m, e);
    if (rc || (rc = injected(s, 5, e)))
        goto out;

restore:
    if (rc == 0)
        rc = load_row(dc, id, &drow, e);
    if (rc == 0 && strcmp(drow.state, "active") == 0 && !delegate)
        rc = let_in_all(dc, &drow, e);
    if (dlocked)
        tenant_unlock(dc, id);
    if (slocked)
        tenant_unlock(sc, id);
    put_conn(d, dc);
    put_conn(s, sc);
    /* Already on the destination in another layout: an ordinary move there
     * (it restores the login itself). */
    if (rc == 0 && delegate)
        rc = pb_tdb_move(d, id, tl, m, e);
    return rc ? pb_err_wrap(e, "moving tenant %s from server %s to %s", id, s->server, d->server) : 0;

out:
    /* A real failure before the switch leaves the source serving; after
     * it, the rerun finishes. An injected one plays dead. */
    if (!s->failed_on_purpose && !switched && sc && slocked) {
        pb_err ignored;
        trow now;
        if (load_row(sc, id, &now, &ignored) == 0 && now.found && !now.moved_to[0] &&
            strcmp(now.state, "active") == 0)
            let_in_all(sc, &now, &ignored);
    }
    s->failed_on_purpose = 0;
    if (dlocked)
        tenant_unlock(dc, id);
    if (slocked)
        tenant_unlock(sc, id);
    put_conn(d, dc);
    put_conn(s, sc);
    return pb_err_wrap(e, "moving tenant %s from server %s to %s", id, s->server, d->server);
}

/* ---- delete and snapshots -------------------------------------------------------- */

void pb_tdb_snapshot_clear(pb_tdb_snapshot *s)
{
    if (!s)
        return;
    free(s->path);
    memset(s, 0, sizeof *s);
}

static int sha256_file(const char *path, char out[65], pb_err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return pb_err_set(e, PB_EIO, "opening %s: %s", path, strerror(errno));
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int rc = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 ? 0 : pb_err_set(e, PB_ENOMEM, "sha256 init");
    unsigned char buf[65536];
    size_t n;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, f)) > 0)
        EVP_DigestUpdate(md, buf, n);
    if (rc == 0 && ferror(f))
        rc = pb_err_set(e, PB_EIO, "reading %s", path);
    unsigned char d[32];
    unsigned int dl = 0;
    if (rc == 0 && EVP_DigestFinal_ex(md, d, &dl) == 1)
        for (unsigned i = 0; i < dl; i++)
            snprintf(out + 2 * i, 3, "%02x", d[i]);
    EVP_MD_CTX_free(md);
    fclose(f);
    return rc;
}

/* pg_dump (custom format) of one database or one schema in it. The admin
 * password, if any, goes through the environment, never argv. */
static int run_pg_dump(pb_tdb *t, const char *db, const char *schema, const char *path, pb_err *e)
{
    char *ci = NULL, *pw = NULL, *pwenv = NULL;
    char logpath[4300];
    snprintf(logpath, sizeof logpath, "%s.log", path);
    int rc = pb_pg_pool_tool_conninfo(t->pool, db, &ci, &pw, e);
    if (rc)
        return rc;
    char *argv[12];
    int a = 0;
    argv[a++] = t->pg_dump;
    argv[a++] = "--format=custom";
    argv[a++] = "--no-owner";
    argv[a++] = "--no-privileges";
    argv[a++] = "--file";
    argv[a++] = (char *)path;
    if (schema) {
        argv[a++] = "--schema";
        argv[a++] = (char *)schema;
    }
    argv[a++] = "--dbname";
    argv[a++] = ci;
    argv[a] = NULL;

    size_t n_env = 0;
    while (environ[n_env])
        n_env++;
    char **envp = calloc(n_env + 2, sizeof *envp);
    size_t k = 0;
    for (size_t i = 0; envp && i < n_env; i++)
        if (strncmp(environ[i], "PGPASSWORD=", 11) != 0)
            envp[k++] = environ[i];
    if (envp && pw && (pwenv = malloc(strlen(pw) + 12)) != NULL) {
        sprintf(pwenv, "PGPASSWORD=%s", pw);
        envp[k++] = pwenv;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int err = envp ? posix_spawnp(&pid, t->pg_dump, &fa, NULL, argv, envp) : ENOMEM;
    posix_spawn_file_actions_destroy(&fa);
    int status = 0;
    if (err)
        rc = pb_err_set(e, PB_EIO, "starting %s: %s", t->pg_dump, strerror(err));
    else if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char msg[512] = "";
        FILE *lf = fopen(logpath, "r");
        if (lf) {
            size_t got = fread(msg, 1, sizeof msg - 1, lf);
            msg[got] = '\0';
            fclose(lf);
        }
        char *nl = strchr(msg, '\n');
        if (nl)
            *nl = '\0';
        rc = pb_err_set(e, PB_EIO, "pg_dump failed (status %d): %s", status, msg);
    }
    unlink(logpath);
    if (pw)
        pb_secret_wipe(pw, strlen(pw));
    if (pwenv)
        pb_secret_wipe(pwenv, strlen(pwenv));
    free(pw);
    free(pwenv);
    free(ci);
    free(envp);
    return rc;
}

/* For rls, a schema "snap_<id>" gets a schema-layout copy of the tenant's
 * rows (so the archive restores like any schema tenant), is dumped, and is
 * dropped again. */
static int snapshot(pb_tdb *t, const char *id, const trow *row, const pb_dm_model *m, pb_tdb_snapshot *snap,
                    pb_err *e)
{
    char tmp[4200], stamp[32], snap_schema[NAME_MAX_];
    if (!t->snapshot_dir)
        return pb_err_set(e, PB_EINVAL, "Snapshot needs a snapshot directory in the configuration");
    if (mkdir(t->snapshot_dir, 0700) != 0 && errno != EEXIST)
        return pb_err_set(e, PB_EIO, "creating %s: %s", t->snapshot_dir, strerror(errno));
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s-%s.dump", t->snapshot_dir, id, stamp);
    for (int i = 1; access(path, F_OK) == 0 && i < 100; i++)
        snprintf(path, sizeof path, "%s/%s-%s-%d.dump", t->snapshot_dir, id, stamp, i);
    snprintf(tmp, sizeof tmp, "%s.partial", path);
    snprintf(snap_schema, sizeof snap_schema, "snap_%s", id);

    int rc = 0;
    if (row->layout == PB_DM_LAYOUT_RLS) {
        PGconn *c = NULL;
        char *ddl = NULL;
        pb_dm_target tg = {PB_DM_LAYOUT_SCHEMA, snap_schema};
        rc = pb_pg_pool_get(t->pool, t->shared_db, &c, e);
        if (rc == 0)
            rc = pb_pg_begin(c, e);
        if (rc == 0)
            rc = bulk_timeout(t, c, e);
        if (rc == 0)
            rc = pb_pg_execf(c, e, "DROP SCHEMA IF EXISTS %I CASCADE; CREATE SCHEMA %I", snap_schema, snap_schema);
        if (rc == 0)
            rc = pb_dm_render(NULL, m, &tg, 0, &ddl, e);
        if (rc == 0)
            rc = pb_pg_exec(c, ddl, e);
        for (size_t i = 0; rc == 0 && i < pb_dm_table_count(m); i++) {
            char *cols = column_list(c, m, i, e);
            rc = cols ? pb_pg_execf(c, e, "INSERT INTO %I.%I (%s) SELECT %s FROM %I.%I WHERE " PB_DM_TENANT_COLUMN " = %L",
                                    snap_schema, pb_dm_table_name(m, i), cols, cols, row->location,
                                    pb_dm_table_name(m, i), id)
                      : PB_ENOMEM;
            free(cols);
        }
        if (rc == 0)
            rc = pb_pg_commit(c, e);
        pb_pg_rollback(c);
        free(ddl);
        if (rc == 0)
            rc = run_pg_dump(t, t->shared_db, snap_schema, tmp, e);
        pb_err ignored;
        if (c)
            pb_pg_execf(c, &ignored, "DROP SCHEMA IF EXISTS %I CASCADE", snap_schema);
        put_conn(t, c);
    } else if (row->layout == PB_DM_LAYOUT_SCHEMA) {
        rc = run_pg_dump(t, t->shared_db, row->location, tmp, e);
    } else {
        rc = run_pg_dump(t, row->location, NULL, tmp, e);
    }
    if (rc == 0)
        rc = sha256_file(tmp, snap->sha256, e);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = pb_err_set(e, PB_EIO, "renaming %s: %s", tmp, strerror(errno));
    if (rc) {
        unlink(tmp);
        return pb_err_wrap(e, "snapshot");
    }
    if (!(snap->path = strdup(path)))
        return pb_err_set(e, PB_ENOMEM, "out of memory");
    return 0;
}

int pb_tdb_delete(pb_tdb *t, const char *id, pb_tdb_delete_policy policy, const pb_dm_model *m,
                  pb_tdb_snapshot *snap, pb_err *e)
{
    PGconn *c = NULL;
    trow row;
    if (snap)
        memset(snap, 0, sizeof *snap);
    if (policy == PB_TDB_SNAPSHOT && !snap)
        return pb_err_set(e, PB_EINVAL, "Snapshot needs a result struct");
    int rc = id_ok(id, e);
    if (rc == 0)
        rc = pb_pg_pool_get(t->pool, t->shared_db, &c, e);
    int locked = rc == 0 && (rc = tenant_lock(c, id, e)) == 0;
    if (rc == 0)
        rc = load_row(c, id, &row, e);
    if (rc || !row.found) { /* unknown or already deleted */
        if (c)
            close_tenant(t, c, id, locked);
        return rc ? pb_err_wrap(e, "deleting tenant %s", id) : 0;
    }
    rc = cross_move_pending(&row, e);
    if (rc == 0 && row.moved_to[0] && row.has_old)
        rc = pb_err_set(e, PB_ECONFLICT, "the move to server %s is unfinished: rerun pb_tdb_move_across",
                        row.moved_to);
    if (rc == 0 && row.moved_to[0]) {
        /* Only the record saying where it went is here: drop that. */
        rc = update_row(c, "DELETE FROM paybill.tenants WHERE tenant_id = $1", id, NULL, NULL, e);
        goto done;
    }
    if (rc == 0)
        rc = lock_out_all(c, &row, e);
    if (rc == 0 && policy == PB_TDB_RETAIN)
        rc = update_row(c, "UPDATE paybill.tenants SET state = 'retained', updated_at = now() WHERE tenant_id = $1",
                        id, NULL, NULL, e);
    if (rc || policy == PB_TDB_RETAIN)
        goto done;
    if (policy == PB_TDB_SNAPSHOT && (rc = snapshot(t, id, &row, m, snap, e)) != 0)
        goto done;
    if (row.has_move)
        rc = remove_location(t, id, row.role, row.move_layout, row.move_location, m, 1, e);
    if (rc == 0 && row.has_old)
        rc = remove_location(t, id, row.role, row.old_layout, row.old_location, m, 1, e);
    if (rc == 0)
        rc = remove_location(t, id, row.role, row.layout, row.location, m, 1, e);
    {
        int found = 0;
        if (rc == 0 && row.alt_role[0])
            rc = drop_alt(c, row.alt_role, e);
        if (rc == 0)
            rc = role_exists(c, row.role, &found, e);
        /* Grants in this database (the role owns nothing here any more);
         * a tenant database, the only other place with grants, is gone. */
        if (rc == 0 && found)
            rc = pb_pg_execf(c, e, "DROP OWNED BY %I; DROP ROLE IF EXISTS %I", row.role, row.role);
    }
    if (rc == 0)
        rc = update_row(c, "DELETE FROM paybill.tenants WHERE tenant_id = $1", id, NULL, NULL, e);
done:
    close_tenant(t, c, id, locked);
    if (rc) {
        if (snap)
            pb_tdb_snapshot_clear(snap);
        return pb_err_wrap(e, "deleting tenant %s", id);
    }
    pb_log_info("tenant database deleted", "tenant", id, "policy",
                policy == PB_TDB_DELETE ? "Delete" : policy == PB_TDB_RETAIN ? "Retain" : "Snapshot", NULL);
    return 0;
}
