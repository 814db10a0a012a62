/*
 * tenantdb.h - tenant data in PostgreSQL: layouts, credentials, lifecycle.
 *
 * Independent of Kubernetes: the Tenant/Subscription controllers call this
 * and turn results into Secrets and status conditions.
 *
 * Layouts (pb_dm_layout, from the Plan's isolation):
 *   rls       shared tables in schema `app_schema` of `shared_db`, with a
 *             tenant_id column and forced row-level security. The policy
 *             compares tenant_id with paybill.current_tenant_id(), a
 *             SECURITY DEFINER function that maps session_user to its
 *             tenant through paybill.tenants: the binding is to the login
 *             itself, so nothing a tenant's session can SET (roles it is not
 *             a member of, GUCs, set_config) changes which rows it sees (the
 *             operator's own sessions: see "Ownership and privileges").
 *   schema    schema "t_<id>" in shared_db, owned by "paybill_owner" (see
 *             "Ownership and privileges"), the tenant's role has USAGE,
 *             PUBLIC nothing.
 *   database  database "t_<id>" (tables in its schema "app"), CONNECT
 *             revoked from PUBLIC, on the shared server or on a dedicated
 *             one (see "Servers" below).
 * In every layout the tables belong to the NOLOGIN role "paybill_owner" and
 * a tenant's role "pb_t_<id>" only has SELECT/INSERT/UPDATE/DELETE on them;
 * it is created NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
 * NOBYPASSRLS, with the plan's connection limit and a search_path pointing
 * at its tables (so the application's SQL is the same in every layout).
 * Schema and database tenants are NOINHERIT and members of nothing; their
 * grants are their own (the tenant's second login, below, is a member of
 * its first, never the other way round). rls tenants are INHERIT members of
 * exactly one NOLOGIN group, "<shared_db>_rls_tenants" (no admin option), which holds
 * CONNECT on shared_db, USAGE on app_schema and paybill, EXECUTE on the
 * tenant function and DML on the shared tables: granted once, so no ACL
 * grows with the number of tenants (per-tenant grants made pg_class rows
 * outgrow a page at about 2,430 tenants). SET ROLE to the group gives a
 * tenant nothing it lacks, and the policy still keys on session_user.
 * A tenant's role gets LOGIN only once the tenant is complete; when
 * creating a new tenant fails, what that call made (record, role, schema or
 * database) is removed again, so a retry starts clean.
 *
 * Ownership and privileges. A tenant owns nothing the operator relies on
 * and can create nothing anywhere: paybill_owner owns app_schema, every
 * bridge schema "t_<id>", every silo database "t_<id>" with its schema
 * "app" (and "public", through pg_database_owner), and every table. A
 * tenant's login has CONNECT on its database, USAGE on its schema and DML
 * on its tables: no CREATE on any schema or database, no TEMPORARY (PUBLIC
 * has neither; the bookkeeping schema "paybill" is the admin's and closed
 * to tenants). So a tenant can neither drop nor replace a table, nor put a
 * view or function of its own where the operator looks. Older versions
 * made a bridge tenant the owner of its schema: pb_tdb_ensure and
 * pb_tdb_apply_model take it back (owner paybill_owner, CREATE revoked from
 * everyone else), and what the tenant made there is refused, by name, until
 * an admin removes it; it is never used. pb_tdb_new also takes CONNECT and
 * TEMPORARY on the maintenance database "postgres" and on "template1" from
 * PUBLIC (other clients of the server that relied on that need a grant of
 * their own); an admin that is not a superuser keeps CONNECT there by an
 * explicit grant.
 * The operator touches tenant data with the least privilege that works.
 * Its admin sessions resolve names in pg_catalog only (search_path pinned
 * at connection), and every transaction that reads or writes a tenant's
 * tables (migrations, checksums, moves on both ends, snapshots, removing
 * rls rows) switches to paybill_owner with SET LOCAL ROLE, after checking
 * that each table it is about to use is a plain table (relkind 'r') owned
 * by paybill_owner and locking it so that it cannot be swapped before the
 * transaction ends. Anything else in its place (a view, a tenant's table)
 * is refused with an error naming it; the tenant's code never runs with
 * the admin's privileges. paybill_owner is subject to the rls policies
 * (FORCE), so on rls data the operator works on one tenant's rows at a
 * time: paybill.current_tenant_id() answers, for a session whose login is
 * a member of paybill_owner (the operator's; never a tenant's), the tenant
 * named in the transaction-local setting paybill.acting_tenant. pg_dump
 * runs as paybill_owner (--role) on a schema or database checked the same
 * way first. A rollout (pb_tdb_apply_model) goes on past a tenant that
 * fails and reports each one with its reason.
 *
 * Bookkeeping lives in schema "paybill" of shared_db: paybill.tenants (where
 * each tenant's data is, its state, a move in progress) and
 * paybill.migrations (one row per applied DataModel version per target;
 * database-layout tenants have their own in their database). Every call is
 * idempotent: after a crash anywhere, calling it again converges.
 *
 * Passwords: pb_tdb_ensure converges the password of the active login
 * (see rotation below): it sets the given password only when it is not the
 * one last set, which paybill.tenants records as a salted HMAC (so
 * converging costs no SCRAM derivation and no catalog write). A password
 * changed behind the library's back (a manual ALTER ROLE) is therefore not
 * put back by ensure: rotate instead.
 *
 * Credentials rotation without downtime: every tenant has two logins,
 * "pb_t_<id>" and "pb_t_<id>-2" ('-' never occurs in an id, so one
 * tenant's second login can never be another's first). The second is an
 * INHERIT member of the first and of nothing else, so it has exactly the
 * first's privileges in every layout, and the rls function maps both to the
 * tenant; it has the same connection limit (per login: a client holding
 * both Secrets could open twice the limit) and search_path. paybill.tenants
 * records which login is handed out ("active"). pb_tdb_rotate sets a new
 * random password (sent as a SCRAM verifier, so the clear text never
 * reaches the server's logs) on the other login, gives it LOGIN and makes
 * it the active one, returning its credentials (creds.user changes at each
 * rotation). The previously active login keeps working for a grace
 * period given to the rotation (clients holding the old Secret keep
 * connecting until they pick up the new one), then it is revoked: NOLOGIN,
 * its password removed, its open sessions ended, so rotating after a leak
 * does revoke the leaked password. paybill.tenants records when
 * (revoke_at; pb_tdb_info.revoke_at) and, once done, when it was
 * (revoked_at); the revocation happens in pb_tdb_revoke_due or in
 * pb_tdb_ensure once it is due (the server's clock), and at once for a
 * grace of zero. A later rotation gives the revoked login a new password
 * and makes it the active one again. Sessions of the active login stay
 * open across rotations. A second login that never got a password stays
 * NOLOGIN. Suspend, Retain and moves lock out both logins and end both's
 * sessions; resume and the end of a move let in the ones that may log in
 * (the second only once it has a password, a previous one only until it is
 * revoked); delete drops both; moves between servers carry both
 * (verifiers, connection limit, which is active, the revocation). The
 * second login can SET ROLE to the first (same tenant, same rows: rls keys
 * on session_user).
 *
 * Agent logins. AI agents act on a tenant's data through Workflows that an
 * AgentPolicy allows, and PostgreSQL enforces the policy a second time
 * through the tenant's agent login "pb_a_<id>" (pb_tdb_agent_*): a third
 * login, NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS,
 * connection limit PB_TDB_AGENT_CONNECTION_LIMIT, search_path at the
 * tenant's tables, its password converged like the tenant's (salted HMAC
 * in paybill.tenants.agent_password_hash, SCRAM verifier sent). It starts
 * with no table privileges at all: pb_tdb_agent_apply gives it what the
 * policies allow (column grants and restrictive row policies rendered by
 * src/agent/sqlgen.h). It is no tenant login's member nor the other way
 * round, so neither can borrow the other's grants (SET ROLE fails). Schema
 * and database agents are NOINHERIT members of nothing with CONNECT on the
 * data database; rls agents are INHERIT members of exactly one NOLOGIN
 * group, "<shared_db>_rls_agents", which holds CONNECT on shared_db, USAGE
 * on app_schema and paybill and EXECUTE on the tenant function, and no
 * table privilege (granted once; apply takes back the schema USAGE the
 * rendered SQL grants, so those ACLs do not grow per tenant; the agents'
 * column grants and policies on the shared tables do, one set per agent).
 * paybill.current_tenant_id() maps the agent login to its tenant like the
 * tenant's own logins (paybill.tenants.agent_role). Lifecycle: suspend,
 * Retain and moves lock it out and end its sessions with the tenant's
 * logins, resume and the end of a move let it in again; delete drops it
 * (DROP OWNED where it has privileges, then DROP ROLE). A move to another
 * layout on the same server moves its place (search_path, CONNECT, group)
 * and leaves it with NO privileges on the new tables and none left on the
 * old ones (leaving rls takes its grants and policies off the shared
 * tables; a schema or database goes with its grants): the controller calls
 * pb_tdb_agent_ensure and pb_tdb_agent_apply again after every move. A
 * move between servers drops it on the source; the destination has none
 * until pb_tdb_agent_ensure there (with the Secret's password, to keep it).
 * pb_tdb_ensure reviving a retained tenant leaves the agent out until
 * pb_tdb_agent_ensure lets it in.
 *
 * Servers. One pb_tdb is one PostgreSQL server (cluster), named by
 * pb_tdb_config.server_name and given a role: PB_TDB_SHARED (rls, schema
 * and database tenants) or PB_TDB_DEDICATED (database tenants only, the
 * Plan's silo). Each server has its own paybill.tenants. A tenant lives on
 * exactly one server; a server it has moved away from keeps a record
 * saying where it went (pb_tdb_info.moved_to, state "moved"), and the two
 * records of an unfinished move between servers say so on both sides
 * (info.move_server on the source, info.arriving_from on the destination,
 * info.moving on both). Roles and databases are per cluster, so two
 * pb_tdb for the same cluster (or with the same name) cannot be used
 * together in pb_tdb_move_across.
 *
 * How the operator finds a tenant and picks the call, given its id, the
 * shared server S and the dedicated server D (or NULL):
 *   1. pb_tdb_info_get(S). If PB_ENOTFOUND and D: pb_tdb_info_get(D); not
 *      found on either: a new tenant, go to 3 with "here" = none.
 *   2. Read the answer of the server that knows it:
 *        info.moved_to set (state "moved"): it lives on that server; ask
 *          that server (D) and read its answer instead (a moved_to record
 *          with info.moving set means cleanup is unfinished: step 3 still
 *          applies, rerun pb_tdb_move_across(this server, moved_to server)).
 *        info.move_server set: unfinished move from this server to that
 *          one: rerun pb_tdb_move_across(this, that, id, wanted layout).
 *        info.arriving_from set: unfinished move from that server to this
 *          one: rerun pb_tdb_move_across(that, this, id, wanted layout).
 *        otherwise it lives on this server (info.server), in info.layout.
 *   3. Where it should live: the Plan's database layout with a dedicated
 *      server -> D (layout database); anything else -> S.
 *        new tenant: pb_tdb_ensure(target server, spec) (spec.dedicated_server
 *          set for D).
 *        lives on the target server: pb_tdb_move(target, id, layout) when
 *          info.layout differs or info.moving, then pb_tdb_ensure(target).
 *        lives on the other server: pb_tdb_move_across(current, target, id,
 *          layout, m), then pb_tdb_ensure(target, spec with the Secret's
 *          password), and write the Secret from the returned creds: the
 *          password stays the same, but host, port and dbname change.
 *   Every other call (rotate, suspend, resume, delete, checksum, creds_for)
 *   goes to the server the tenant lives on. On a server it moved away from
 *   they answer PB_ENOTFOUND ("moved to server X"), except delete, which
 *   removes that leftover record; during an unfinished move between servers
 *   they answer PB_ECONFLICT (suspend is still allowed on the source).
 *
 * Moves between servers (pb_tdb_move_across) follow the same steps as
 * pb_tdb_move, with records on both servers: 1 intent on the source and
 * the login disabled there, 2 the destination's record ("arriving"), role
 * (the source's SCRAM verifier and connection limit, so the Secret's
 * password keeps working; this needs a superuser admin on the source) and
 * empty tables, 3 rows streamed with COPY from the source connection into
 * one destination transaction that compares per-table row counts and
 * checksums with the source before it commits, 4 switch (source record:
 * moved_to; then destination record: lives here), 5 the source's copy and
 * role removed, then LOGIN on the destination. A failure before the
 * switch leaves the source serving (login restored) with the intent
 * recorded; rerunning the same call redoes the steps (the destination's
 * tables are emptied first) and converges, and so does a rerun after a
 * crash at any point. To give up on such a move instead (the destination
 * is gone for good), call pb_tdb_move on the source (e.g. to the layout it
 * has): it drops the intent and lets the tenant in again; the
 * destination's half-made copy stays there until a later move to it
 * (which starts over) or its removal by hand. After the switch the tenant only logs in again once
 * the rerun has finished.
 *
 * Tier moves (pb_tdb_move) are a short maintenance window for that tenant:
 * its login is disabled and its sessions ended, the rows are copied into the
 * new layout in one transaction which also verifies per-table row counts
 * and checksums before committing (those statements run under
 * move_statement_timeout_ms, by default without limit, instead of
 * statement_timeout), then the tenant record is switched, the
 * old copy removed and the login restored. A failure before the switch
 * leaves the old copy serving (the login is restored) and says why.
 *
 * The admin conninfo must be a superuser, or a role with CREATEROLE,
 * CREATEDB, BYPASSRLS, membership in paybill_owner and pg_signal_backend
 * (taking back a schema that an older version gave a tenant also needs a
 * superuser, or membership in that tenant's role).
 *
 * Ownership: the pb_tdb returned by pb_tdb_new is freed with pb_tdb_free;
 * credentials and snapshot results are filled into caller structs whose
 * strings the caller releases with pb_tdb_creds_clear / pb_tdb_snapshot_clear
 * (the password is wiped). Models are borrowed.
 */
#ifndef PAYBILL_PROVISION_TENANTDB_H
#define PAYBILL_PROVISION_TENANTDB_H

#include "provision/datamodel.h"
#include "util/err.h"

typedef struct pb_tdb pb_tdb;

typedef enum { PB_TDB_SHARED = 0, PB_TDB_DEDICATED = 1 } pb_tdb_server_role;

typedef struct pb_tdb_config {
    const char *admin_conninfo;  /* required */
    const char *server_name;     /* this server's name in the operator config
                                    (1-63 of a-z 0-9 _ . -): other servers'
                                    records refer to it, keep it stable.
                                    NULL: "default" */
    pb_tdb_server_role role;     /* 0: PB_TDB_SHARED */
    const char *shared_db;       /* NULL: "paybill" */
    const char *app_schema;      /* NULL: "app" (the shared rls tables) */
    const char *tenant_host;     /* what tenants connect to; NULL: "127.0.0.1" */
    int tenant_port;             /* 0: 5432 */
    const char *sslmode;         /* NULL: "prefer" */
    const char *snapshot_dir;    /* where Snapshot deletes write (made or
                                    tightened to 0700 when it is ours;
                                    archives are 0600 whatever the umask);
                                    NULL: refused */
    const char *pg_dump;         /* NULL: "pg_dump" from PATH */
    int connect_timeout_s;       /* 0: 10 */
    int statement_timeout_ms;    /* 0: 60000 */
    double (*cutoff)(void *ud);  /* pb_pg_opts.cutoff: every wait for the */
    void *cutoff_ud;             /* server, and a pg_dump, ends past it;
                                    NULL: never */
    int lock_timeout_ms;         /* 0: 10000; also bounds waiting for another
                                    operation on the same tenant */
    int move_statement_timeout_ms; /* statement_timeout for the bulk statements
                                    of a move (copy, verification, removing
                                    the old rls rows) and of deleting or
                                    snapshotting an rls tenant's rows; they
                                    grow with the
                                    tenant's data. <= 0: no limit */
    int max_idle_conns;          /* 0: 8; idle admin connections kept (to
                                    shared_db only: tenant databases' are
                                    closed after each operation) */
} pb_tdb_config;

typedef struct pb_tdb_tenant {
    const char *id;          /* ^[a-z][a-z0-9_]{0,39}$ (controllers map '-' to '_') */
    pb_dm_layout layout;
    int connection_limit;    /* -1: unlimited */
    int dedicated_server;    /* database layout on a server of its own: only
                                a PB_TDB_DEDICATED pb_tdb accepts it (else
                                PB_EINVAL) */
    const char *password;    /* the current one (from the Secret), or NULL: new */
} pb_tdb_tenant;

typedef struct pb_tdb_creds {
    char *host;
    int port;
    char *dbname;
    char *user;
    char *password;
    char *sslmode;
    char *schema; /* the tenant's search_path */
    char *uri;    /* postgresql://user:password@host:port/dbname?sslmode=... */
} pb_tdb_creds;

typedef enum { PB_TDB_DELETE, PB_TDB_RETAIN, PB_TDB_SNAPSHOT } pb_tdb_delete_policy;

typedef struct pb_tdb_snapshot {
    char *path;        /* the pg_dump custom-format archive */
    char sha256[65];   /* hex */
} pb_tdb_snapshot;

typedef struct pb_tdb_info {
    pb_dm_layout layout;
    char state[16];        /* "active", "suspended", "retained", or "moved"
                              (it lives on server moved_to) */
    char location[64];     /* schema (rls, schema) or database (database) */
    int moving;            /* a move was interrupted: rerun pb_tdb_move, or
                              pb_tdb_move_across when one of the server
                              fields below is set */
    char server[64];       /* the server asked (its server_name) */
    char moved_to[64];     /* "" or the server the tenant lives on now */
    char move_server[64];  /* "" or: unfinished move from here to there */
    char arriving_from[64]; /* "" or: unfinished move from there to here */
    /* The login handed out before the last rotation: */
    char revoke_at[40];    /* "" or when it stops working (RFC 3339, UTC) */
    char revoked_at[40];   /* "" or when it was revoked (RFC 3339, UTC) */
    double revoke_in_s;    /* seconds until revoke_at (0: due), -1: none pending */
} pb_tdb_info;

/* Connect, and create what every layout shares if missing: shared_db, the
 * owner role, schema paybill with its tables and function, app_schema. */
int pb_tdb_new(const pb_tdb_config *cfg, pb_tdb **out, pb_err *err);
void pb_tdb_free(pb_tdb *t);

/* Apply a DataModel version to the shared rls tables and to every tenant
 * (see pb_dm_render for what a migration may do). Each target is migrated
 * in one transaction and recorded in its paybill.migrations; targets
 * already at this version are skipped, so a rerun finishes a partial
 * rollout. A failure on the shared tables stops the rollout (it is the
 * model's, or the server's). A tenant that fails does not: every other
 * tenant is migrated, and the error names each failed tenant with its
 * reason (code: the first failure's). Schema and database tenants made by
 * older versions are converged on the way (see "Ownership and
 * privileges"). */
int pb_tdb_apply_model(pb_tdb *t, const pb_dm_model *m, int allow_destructive, pb_err *err);

/* What a rollout did, tenant by tenant. */
typedef struct pb_tdb_rollout_failure {
    char tenant[48];            /* the tenant's id */
    int code;                   /* PB_E* */
    char reason[PB_ERR_MSG_MAX];
} pb_tdb_rollout_failure;

typedef struct pb_tdb_rollout {
    int tenants; /* tenants of this server the rollout went through */
    int failed;  /* how many of them failed: failures[0 .. failed-1] */
    pb_tdb_rollout_failure *failures;
} pb_tdb_rollout;

/* pb_tdb_apply_model, with what happened to each tenant in *out (may be
 * NULL). When it fails with out->failed == 0, nothing was per tenant: the
 * model was refused or the server failed. Release with
 * pb_tdb_rollout_clear (also after a failure). */
int pb_tdb_apply_model_report(pb_tdb *t, const pb_dm_model *m, int allow_destructive, pb_tdb_rollout *out,
                              pb_err *err);
void pb_tdb_rollout_clear(pb_tdb_rollout *ro);

/* Create or converge a tenant in its layout at model `m`, and return its
 * credentials (a new password unless spec->password is given; either is
 * the active login's: creds.user says which login). A tenant
 * that lives in another layout is PB_ECONFLICT: use pb_tdb_move. A deleted
 * tenant kept with Retain is revived. */
int pb_tdb_ensure(pb_tdb *t, const pb_tdb_tenant *spec, const pb_dm_model *m, pb_tdb_creds *creds,
                  pb_err *err);

/* Rotation without downtime (see the top of this file): a new random
 * password on the login not handed out, which becomes the one handed out;
 * fills creds with it. The login handed out until now keeps working for
 * grace_ms milliseconds, then is revoked (pb_tdb_revoke_due; 0: revoked by
 * this call, its sessions ended; negative: PB_EINVAL). During a move the
 * new login gets LOGIN only when the move finishes. */
int pb_tdb_rotate(pb_tdb *t, const char *id, long long grace_ms, pb_tdb_creds *creds, pb_err *err);

/* Revoke the login handed out before the last rotation if its grace
 * period is over (by the server's clock): NOLOGIN, no password, sessions
 * ended. *next_due_s: seconds until a revocation still pending, -1 when
 * none is (also after revoking). pb_tdb_ensure does the same when it runs.
 * PB_ECONFLICT during a move between servers (the move carries it). */
int pb_tdb_revoke_due(pb_tdb *t, const char *id, double *next_due_s, pb_err *err);

/* Suspend: NOLOGIN and every open session of the tenant terminated.
 * Resume: LOGIN again. */
int pb_tdb_suspend(pb_tdb *t, const char *id, pb_err *err);
int pb_tdb_resume(pb_tdb *t, const char *id, pb_err *err);

/* Delete a tenant's data according to policy. Delete drops data and role;
 * Retain keeps data, locks the role (NOLOGIN, sessions ended); Snapshot
 * writes a pg_dump archive to snapshot_dir first (snap may be NULL for the
 * other policies), then deletes; a pg_dump that fails (or cannot connect
 * within connect_timeout, or runs past the bulk statement timeout) deletes
 * nothing. `m` is the tenant's model (needed to find its rows in the rls
 * tables). Deleting an unknown tenant is a no-op. */
int pb_tdb_delete(pb_tdb *t, const char *id, pb_tdb_delete_policy policy, const pb_dm_model *m,
                  pb_tdb_snapshot *snap, pb_err *err);

/* Move a tenant's data to another layout (see the top of this file). The
 * tenant must be at model m's version. Rerun after any failure. */
int pb_tdb_move(pb_tdb *t, const char *id, pb_dm_layout to, const pb_dm_model *m, pb_err *err);

/* Move a tenant from server `from` (where it lives) to server `to`, into
 * layout `to_layout` there (database only, when `to` is dedicated); see
 * "Moves between servers" at the top. The tenant must be at model m's
 * version. Rerun the same call after any failure; a rerun once the tenant
 * is on `to` finishes the cleanup (and moves it within `to` when its
 * layout there is not to_layout). PB_EINVAL for the same server twice. */
int pb_tdb_move_across(pb_tdb *from, pb_tdb *to, const char *id, pb_dm_layout to_layout, const pb_dm_model *m,
                       pb_err *err);

/* Where a tenant is, as this server knows it (see "Servers" at the top).
 * PB_ENOTFOUND for a tenant this server has no record of. */
int pb_tdb_info_get(pb_tdb *t, const char *id, pb_tdb_info *info, pb_err *err);

/* Row count and a sha256 over the tenant's rows (tenant_id excluded), table
 * by table in model order, wherever they live. */
int pb_tdb_checksum(pb_tdb *t, const char *id, const pb_dm_model *m, long long *rows,
                    char sha256[65], pb_err *err);

/* Credentials of the active login for a password (no database access
 * needed besides the tenant's record): after a move between servers, ask
 * the destination for the new host, port and dbname. */
int pb_tdb_creds_for(pb_tdb *t, const char *id, const char *password, pb_tdb_creds *creds,
                     pb_err *err);

void pb_tdb_creds_clear(pb_tdb_creds *c);
void pb_tdb_snapshot_clear(pb_tdb_snapshot *s);

/* ---- agent logins (see "Agent logins" at the top) ---- */

/* Per agent login: the operator's workflow executor is its only client and
 * runs a few steps at a time; a small cap keeps a runaway agent from using
 * up the server's max_connections. */
#define PB_TDB_AGENT_CONNECTION_LIMIT 4

/* Where the agent's grants go: what to render them for (pb_sqlgen_target
 * {layout, schema, role}). */
typedef struct pb_tdb_agent_target {
    pb_dm_layout layout;
    char schema[64]; /* the tenant's tables: app_schema, "t_<id>" or "app" */
    char role[64];   /* the agent login, "pb_a_<id>" */
} pb_tdb_agent_target;

/* Create or converge the tenant's agent login and fill creds (its user,
 * password and the tenant's database; release with pb_tdb_creds_clear) and
 * *target (may be NULL). password: the current one (the agent Secret's),
 * or NULL for a new random one. LOGIN only while the tenant is active. The
 * tenant must live on this server: PB_ENOTFOUND otherwise (also after it
 * moved away), PB_ECONFLICT while a move is unfinished. A new login has no
 * table privileges until pb_tdb_agent_apply. Idempotent. */
int pb_tdb_agent_ensure(pb_tdb *t, const char *id, const char *password, pb_tdb_creds *creds,
                        pb_tdb_agent_target *target, pb_err *err);

/* Run grants_sql (pb_sqlgen_role's output for *target and model m) in the
 * tenant's data database, in one transaction as the owner role on checked
 * and locked tables, and commit only if it stayed within the agent login's
 * own privileges and restrictive policies on the tenant's tables (see
 * tenantdb_agent.c); any failure changes nothing. PB_EINVAL: SQL or target
 * for another role, or SQL doing anything else (the message says what);
 * PB_ECONFLICT: target or m stale (the tenant moved or migrated since:
 * pb_tdb_agent_ensure and render again) or a move is unfinished;
 * PB_ENOTFOUND: no such tenant here, or no agent login yet. Idempotent (the
 * rendered SQL revokes before it grants). Applying the SQL rendered from
 * no policies revokes everything. */
int pb_tdb_agent_apply(pb_tdb *t, const char *id, const pb_tdb_agent_target *target, const pb_dm_model *m,
                       const char *grants_sql, pb_err *err);

/* Drop the agent login (sessions ended, its grants and policies removed
 * everywhere, the role dropped). No agent login, or no such tenant: a
 * no-op. PB_ENOTFOUND when the tenant moved to another server,
 * PB_ECONFLICT during a move between servers. pb_tdb_delete does it too. */
int pb_tdb_agent_drop(pb_tdb *t, const char *id, pb_err *err);

/* Test hook: make the next pb_tdb_move on t, or pb_tdb_move_across from t,
 * stop with PB_EINTERNAL right after step k (1 intent recorded, 2
 * destination prepared, 3 rows copied and verified, 4 switched, 5 old copy
 * removed), as if the process had died there: nothing is rolled back or
 * restored. 0 disables. */
void pb_tdb_set_fail_after(pb_tdb *t, int step);

#endif
