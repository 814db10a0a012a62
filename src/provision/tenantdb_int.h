/*
 * tenantdb_int.h - what the files of the tenantdb module share (not part of
 * its API: include provision/tenantdb.h for that).
 *
 * The module is split by concept:
 *   tenantdb.c           setup, migrations, roles and credentials, the
 *                        layouts' places (prepare/remove), ensure, rotate,
 *                        revoke, suspend, resume, checksum, delete;
 *   tenantdb_agent.c     the tenant's agent login (see "Agent logins" in
 *                        tenantdb.h): its role, place and privileges;
 *   tenantdb_guard.c     least privilege inside a tenant's space: the owner
 *                        role and pinned search_path for every statement
 *                        that touches tenant data, ownership taken back from
 *                        tenants, and the checks that refuse objects the
 *                        operator did not make;
 *   tenantdb_move.c      tier moves and moves between servers (copy with
 *                        verification);
 *   tenantdb_snapshot.c  pg_dump archives for the Snapshot policy.
 * Internal functions carry the prefix tdb_.
 */
#ifndef PAYBILL_PROVISION_TENANTDB_INT_H
#define PAYBILL_PROVISION_TENANTDB_INT_H

#include <libpq-fe.h>

#include "provision/pg.h"
#include "provision/tenantdb.h"

#define TDB_OWNER_ROLE "paybill_owner"
#define TDB_TENANT_DB_SCHEMA "app" /* where tables live inside a tenant database */
#define TDB_NAME_MAX 64
/* The custom setting naming the tenant whose rls rows the operator works
 * on (see paybill.current_tenant_id() in tenantdb.c). */
#define TDB_ACTING_TENANT_GUC "paybill.acting_tenant"

struct pb_tdb {
    pb_pg_pool *pool;
    /* NOLOGIN group holding the rls tenants' privileges ("<shared_db>_rls_tenants"):
     * granted once, so ACLs do not grow with the number of tenants. */
    char rls_group[TDB_NAME_MAX];
    /* NOLOGIN group of the rls agent logins ("<shared_db>_rls_agents"): what
     * the rls group gives minus the table DML, granted once. */
    char rls_agents[TDB_NAME_MAX];
    char *shared_db, *app_schema, *tenant_host, *sslmode, *snapshot_dir, *pg_dump;
    char server[TDB_NAME_MAX]; /* pb_tdb_config.server_name */
    pb_tdb_server_role role;
    int tenant_port;
    int move_timeout_ms; /* 0: none (pb_tdb_config.move_statement_timeout_ms) */
    double (*cutoff)(void *ud); /* pb_tdb_config.cutoff: also ends a pg_dump */
    void *cutoff_ud;
    int fail_after;
    int failed_on_purpose; /* the last error came from fail_after */
};

/* The tenant's row in paybill.tenants. */
typedef struct {
    int found;
    char role[TDB_NAME_MAX];
    pb_dm_layout layout;
    char location[TDB_NAME_MAX];
    char state[16];
    int has_move;
    pb_dm_layout move_layout;
    char move_location[TDB_NAME_MAX];
    int has_old;
    pb_dm_layout old_layout;
    char old_location[TDB_NAME_MAX];
    char pw_hash[160]; /* of the password last set, "" when unknown */
    /* Moves between servers (pb_tdb_move_across), by server name: */
    char move_server[TDB_NAME_MAX];   /* source: a move there is unfinished */
    char moved_to[TDB_NAME_MAX];      /* source: the tenant lives there now */
    char arriving_from[TDB_NAME_MAX]; /* destination: a move from there is unfinished */
    /* The second login (see "Credentials rotation" in tenantdb.h): */
    char alt_role[TDB_NAME_MAX]; /* "" until made */
    char alt_pw_hash[160];       /* "" while it has no password (then NOLOGIN) */
    int active;                  /* 1: role, 2: alt_role is the one handed out */
    /* The other login after a rotation (see pb_tdb_revoke_due): */
    char revoke_at[40];  /* RFC 3339 (UTC): when it stops working; "" none pending */
    char revoked_at[40]; /* RFC 3339 (UTC): when it was revoked; "" if not */
    int revoke_due;      /* revoke_at has come (by the server's clock) */
    double revoke_in_s;  /* seconds until revoke_at, when pending */
    /* The agent login (tenantdb_agent.c): */
    char agent_role[TDB_NAME_MAX];   /* "" until made */
    char agent_pw_hash[160];         /* of its password last set */
} tdb_row;

/* Which password hash column of paybill.tenants converge_password keeps. */
typedef enum { TDB_PW_FIRST, TDB_PW_ALT, TDB_PW_AGENT } tdb_pw_slot;

/* ---- tenantdb.c ---------------------------------------------------------------- */

int tdb_id_ok(const char *id, pb_err *e);
void tdb_location_of(const pb_tdb *t, pb_dm_layout l, const char *id, char out[TDB_NAME_MAX]);
const char *tdb_data_db(const pb_tdb *t, pb_dm_layout l, const char *location);
const char *tdb_data_schema(pb_dm_layout l, const char *location);
int tdb_injected(pb_tdb *t, int step, pb_err *e);
void tdb_put_conn(pb_tdb *t, PGconn *c);
int tdb_bulk_timeout(pb_tdb *t, PGconn *c, pb_err *e);
int tdb_exists(PGconn *c, const char *sql, const char *param, int *found, pb_err *e);
int tdb_role_exists(PGconn *c, const char *role, int *found, pb_err *e);
int tdb_load_row(PGconn *c, const char *id, tdb_row *row, pb_err *e);
int tdb_update_row(PGconn *c, const char *sql, const char *id, const char *a, const char *b, pb_err *e);
int tdb_tenant_lock(PGconn *c, const char *id, pb_err *e);
void tdb_tenant_unlock(PGconn *c, const char *id);
int tdb_open_tenant(pb_tdb *t, const char *id, int lock, PGconn **c, tdb_row *row, pb_err *e);
void tdb_close_tenant(pb_tdb *t, PGconn *c, const char *id, int locked);
int tdb_cross_move_pending(const tdb_row *row, pb_err *e);
int tdb_target_version(PGconn *c, const char *schema, long long *v, pb_err *e);
int tdb_prepare_location(pb_tdb *t, const char *role, const char *alt, pb_dm_layout l, const char *loc,
                         const pb_dm_model *m, pb_err *e);
int tdb_remove_location(pb_tdb *t, const char *id, const char *role, pb_dm_layout l, const char *loc,
                        const pb_dm_model *m, int keep_shared_connect, pb_err *e);
char *tdb_column_list(PGconn *c, const pb_dm_model *m, size_t i, pb_err *e);
int tdb_table_sum(PGconn *c, const char *schema, const pb_dm_model *m, size_t i, const char *rls_id,
                  long long *count, char md5[33], pb_err *e);
int tdb_ensure_role(PGconn *c, const char *role, int conn_limit, int inherit, int *created, int *can_login,
                    pb_err *e);
int tdb_ensure_alt(PGconn *c, const char *id, const char *role, const char *alt, int conn_limit,
                   const char *search_path, int *can_login, pb_err *e);
int tdb_drop_alt(PGconn *c, const char *alt, pb_err *e);
/* Every login of the tenant (both tenant logins and the agent's). */
int tdb_lock_out_all(PGconn *c, const tdb_row *row, pb_err *e);
int tdb_let_in_all(PGconn *c, const tdb_row *row, pb_err *e);
int tdb_lock_out(PGconn *c, const char *role, pb_err *e);
/* Passwords (see "Passwords" in tenantdb.h): a new random one (caller
 * wipes and frees), the accepted alphabet and length, and setting one
 * (a SCRAM verifier) with its salted HMAC recorded in `slot`, skipped when
 * `stored` says it is set already (unless `force`). */
int tdb_new_password(char **out, pb_err *e);
int tdb_password_ok(const char *pw, pb_err *e);
int tdb_converge_password(PGconn *c, const char *id, const char *role, const char *pw, const char *stored,
                          int force, tdb_pw_slot slot, pb_err *e);
/* Connection details for login `user` with password pw (strings owned by
 * *c: pb_tdb_creds_clear). */
int tdb_fill_creds(const pb_tdb *t, const tdb_row *row, const char *user, const char *pw, pb_tdb_creds *c,
                   pb_err *e);

/* ---- tenantdb_guard.c ------------------------------------------------------------ */

/* Inside a transaction on c: from here to its end, statements run as the
 * NOLOGIN owner role (never the admin), with search_path pinned to
 * pg_catalog, and for rls on the rows of `acting_tenant` only ("" or NULL:
 * none). */
int tdb_act_as_owner(PGconn *c, const char *acting_tenant, pb_err *e);
/* Back to the admin for the rest of the transaction (bookkeeping). */
int tdb_act_as_admin(PGconn *c, pb_err *e);
/* Inside a transaction: every table of model m in `schema` is a plain table
 * (relkind 'r') owned by the owner role, and stays so until the
 * transaction ends (ACCESS SHARE lock). PB_EFORBIDDEN naming the object
 * otherwise, PB_ENOTFOUND for a missing one. */
int tdb_guard_tables(PGconn *c, const char *schema, const pb_dm_model *m, pb_err *e);
/* Everything in `schema` belongs to the owner role, the schema too, and no
 * one else may create in it; PB_EFORBIDDEN listing what does not. */
int tdb_guard_schema(PGconn *c, const char *schema, pb_err *e);
/* The same for every schema of the connected (tenant) database but its
 * bookkeeping schema "paybill" (the admin's): what pg_dump of the whole
 * database reads. */
int tdb_guard_database(PGconn *c, pb_err *e);
/* Take back what older versions gave a tenant: schema `schema` owned by
 * the owner role and CREATE on it for nobody else (`role` names the tenant
 * in messages; its USAGE is granted with its tables). Writes nothing when
 * already so. */
int tdb_take_schema(PGconn *c, const char *schema, const char *role, pb_err *e);
/* Neither tenant login (`role`, `alt`, NULL: none) has CREATE or TEMPORARY
 * on database `db` (c is connected to another database or to it), and
 * with `own` the owner role owns it. Writes nothing when already so. */
int tdb_take_database(PGconn *c, const char *db, const char *role, const char *alt, int own, pb_err *e);

/* ---- tenantdb_agent.c ------------------------------------------------------------ */

/* "pb_a_<id>". */
void tdb_agent_role_of(const char *id, char out[TDB_NAME_MAX]);
/* The agent login's place for the tenant's layout `l` at `loc`: search_path,
 * rls agents group membership (rls only; INHERIT there, NOINHERIT elsewhere)
 * and CONNECT on the data database only (direct grants elsewhere revoked).
 * No table privileges. A no-op when the tenant has no agent login. Moves
 * call it at their switch. */
int tdb_agent_place(pb_tdb *t, PGconn *c, const tdb_row *row, pb_dm_layout l, const char *loc, pb_err *e);
/* Take every privilege and policy of the tenant's agent login off the
 * tables of rls schema `schema` in shared_db (c): when the tenant's rows
 * leave rls. Bridge and silo copies go with their schema or database. */
int tdb_agent_strip_rls(PGconn *c, const char *id, const char *schema, pb_err *e);
/* Drop the agent login: NOLOGIN and sessions ended, DROP OWNED in every
 * database where it may hold privileges, DROP ROLE, record cleared. */
int tdb_agent_drop_role(pb_tdb *t, PGconn *c, const char *id, const tdb_row *row, pb_err *e);

/* ---- tenantdb_snapshot.c --------------------------------------------------------- */

/* Write the tenant's data to a pg_dump archive in snapshot_dir. */
int tdb_snapshot(pb_tdb *t, const char *id, const tdb_row *row, const pb_dm_model *m, pb_tdb_snapshot *snap,
                 pb_err *e);

#endif
