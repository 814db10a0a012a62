/*
 * tenantdb_move.c - moving a tenant's data to another layout (pb_tdb_move)
 * or another server (pb_tdb_move_across); see "Tier moves" and "Moves
 * between servers" in tenantdb.h.
 *
 * Both copy the rows with COPY between two connections inside one
 * destination transaction that verifies per-table row counts and checksums
 * against the source before it commits; the tenant's record says which step
 * was reached, so a rerun after a crash converges. Both ends run as the
 * owner role on checked tables (tenantdb_guard.c): a tenant's data is never
 * read or written with the admin's privileges.
 */
#include "provision/tenantdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provision/pg.h"
#include "provision/tenantdb_int.h"
#include "util/log.h"
#include "util/secret.h"

/* The next chunk of a COPY TO STDOUT into *buf (the caller's to
 * PQfreemem) and *len; *len 0 at the end. Waits are bounded (pb_pg_wait). */
static int copy_get(PGconn *src, char **buf, int *len, pb_err *e)
{
    *len = 0;
    for (;;) {
        int n = PQgetCopyData(src, buf, 1);
        if (n > 0)
            *len = n;
        if (n == -1 || n > 0)
            return 0;
        if (n < -1)
            return pb_pg_error(src, NULL, e);
        int rc = pb_pg_wait(src, 0, e);
        if (rc)
            return rc;
    }
}

/* Send one chunk on a COPY FROM STDIN, waiting (bounded) for the
 * server to take it. */
static int copy_put(PGconn *dst, const char *buf, int n, pb_err *e)
{
    for (;;) {
        int r = PQputCopyData(dst, buf, n);
        if (r == 1)
            return pb_pg_flush(dst, e);
        if (r < 0)
            return pb_pg_error(dst, NULL, e);
        int rc = pb_pg_wait(dst, 1, e);
        if (rc)
            return rc;
    }
}

static int copy_end(PGconn *dst, const char *failure, pb_err *e)
{
    for (;;) {
        int r = PQputCopyEnd(dst, failure);
        if (r == 1)
            return 0;
        if (r < 0)
            return pb_pg_error(dst, NULL, e);
        int rc = pb_pg_wait(dst, 1, e);
        if (rc)
            return rc;
    }
}

/* Read src's COPY to its end (the connection stays usable). */
static void copy_drain(PGconn *src)
{
    char *b = NULL;
    int n;
    while (copy_get(src, &b, &n, NULL) == 0 && n > 0)
        PQfreemem(b);
    PGresult *r;
    while (pb_pg_next_result(src, &r, NULL) == 0 && r)
        PQclear(r);
}

/* Stream one COPY from src to dst (both already in COPY mode). */
static int pump_copy(PGconn *src, PGconn *dst, pb_err *e)
{
    int rc = 0, n, got;
    char *buf = NULL;
    while ((got = copy_get(src, &buf, &n, rc ? NULL : e)) == 0 && n > 0) {
        if (rc == 0)
            rc = copy_put(dst, buf, n, e);
        PQfreemem(buf);
        buf = NULL;
    }
    if (got && rc == 0)
        rc = got;
    int end = copy_end(dst, rc ? "source failed" : NULL, rc ? NULL : e);
    if (rc == 0)
        rc = end;
    PGconn *both[2] = {src, dst};
    for (int k = 0; k < 2; k++) {
        PGresult *r;
        int wrc;
        while ((wrc = pb_pg_next_result(both[k], &r, rc ? NULL : e)) == 0 && r != NULL) {
            if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0)
                rc = pb_pg_error(both[k], r, e);
            PQclear(r);
        }
        if (wrc && rc == 0)
            rc = wrc;
    }
    return rc;
}

static int start_copy(PGconn *c, const char *sql, ExecStatusType want, pb_err *e)
{
    PGresult *r = NULL;
    int rc = pb_pg_run(c, sql, &r, e);
    if (rc == 0 && PQresultStatus(r) != want)
        rc = pb_pg_error(c, r, e);
    PQclear(r);
    return rc;
}

/* Copy the tenant's rows from one layout to another in one transaction on
 * the destination, which is emptied first (a rerun starts over) and
 * verified table by table against the source before it commits. The
 * tenant is locked out, so the source does not change meanwhile. The two
 * copies may be on different servers (ft: the source's, tt: the
 * destination's); rows stream between the two connections with COPY. Both
 * ends run as the owner role, on its plain tables only (checked and locked
 * first): a relation of the tenant's in the source is refused, never read
 * with the admin's privileges. */
static int copy_data(pb_tdb *ft, pb_tdb *tt, const char *id, pb_dm_layout fl, const char *floc, pb_dm_layout tl,
                     const char *tloc, const pb_dm_model *m, pb_err *e)
{
    PGconn *src = NULL, *dst = NULL;
    const char *fs = tdb_data_schema(fl, floc), *ts = tdb_data_schema(tl, tloc);
    int rc = pb_pg_pool_get(ft->pool, tdb_data_db(ft, fl, floc), &src, e);
    if (rc == 0)
        rc = pb_pg_pool_get(tt->pool, tdb_data_db(tt, tl, tloc), &dst, e);
    /* The source in a read-only transaction too, so that its statements
     * get the bulk timeout as well (and one snapshot for copy and verify). */
    if (rc == 0)
        rc = pb_pg_exec(src, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", e);
    if (rc == 0)
        rc = tdb_bulk_timeout(ft, src, e);
    if (rc == 0)
        rc = tdb_act_as_owner(src, fl == PB_DM_LAYOUT_RLS ? id : NULL, e);
    if (rc == 0)
        rc = tdb_guard_tables(src, fs, m, e);
    if (rc)
        pb_err_wrap(e, "the source");
    if (rc == 0)
        rc = pb_pg_begin(dst, e);
    if (rc == 0)
        rc = tdb_bulk_timeout(tt, dst, e);
    if (rc == 0)
        rc = tdb_act_as_owner(dst, tl == PB_DM_LAYOUT_RLS ? id : NULL, e);
    if (rc == 0 && (rc = tdb_guard_tables(dst, ts, m, e)) != 0)
        pb_err_wrap(e, "the destination");
    for (size_t i = pb_dm_table_count(m); rc == 0 && i-- > 0;) {
        if (tl == PB_DM_LAYOUT_RLS)
            rc = pb_pg_execf(dst, e, "DELETE FROM %I.%I WHERE " PB_DM_TENANT_COLUMN " = %L", ts,
                             pb_dm_table_name(m, i), id);
        else
            rc = pb_pg_execf(dst, e, "TRUNCATE %I.%I CASCADE", ts, pb_dm_table_name(m, i));
    }
    for (size_t i = 0; rc == 0 && i < pb_dm_table_count(m); i++) {
        const char *tn = pb_dm_table_name(m, i);
        char *cols = tdb_column_list(dst, m, i, e);
        char *out = NULL, *in = NULL;
        if (cols && tl == PB_DM_LAYOUT_RLS && fl != PB_DM_LAYOUT_RLS)
            out = pb_pg_format(src, e, "COPY (SELECT %L, %s FROM %I.%I) TO STDOUT", id, cols, fs, tn);
        else if (cols && fl == PB_DM_LAYOUT_RLS && tl != PB_DM_LAYOUT_RLS)
            out = pb_pg_format(src, e, "COPY (SELECT %s FROM %I.%I WHERE " PB_DM_TENANT_COLUMN " = %L) TO STDOUT",
                               cols, fs, tn, id);
        else if (cols)
            out = pb_pg_format(src, e, "COPY (SELECT %s FROM %I.%I) TO STDOUT", cols, fs, tn);
        /* Into rls through a temporary table: COPY cannot write where
         * row-level security applies, and it does apply to the owner role
         * (FORCE); the INSERT below passes the policy's check as the acting
         * tenant. */
        if (out && tl == PB_DM_LAYOUT_RLS)
            rc = pb_pg_execf(dst, e, "CREATE TEMPORARY TABLE pb_stage (LIKE %I.%I) ON COMMIT DROP", ts, tn);
        if (out && rc == 0)
            in = tl == PB_DM_LAYOUT_RLS
                     ? pb_pg_format(dst, e, "COPY pg_temp.pb_stage (" PB_DM_TENANT_COLUMN ", %s) FROM STDIN", cols)
                     : pb_pg_format(dst, e, "COPY %I.%I (%s) FROM STDIN", ts, tn, cols);
        if (rc == 0)
            rc = in ? 0 : (e && e->code ? e->code : PB_ENOMEM);
        if (rc == 0)
            rc = start_copy(src, out, PGRES_COPY_OUT, e);
        if (rc == 0) {
            rc = start_copy(dst, in, PGRES_COPY_IN, e);
            if (rc) { /* drain the source so the connection stays usable */
                copy_drain(src);
            } else {
                rc = pump_copy(src, dst, e);
            }
        }
        if (rc == 0 && tl == PB_DM_LAYOUT_RLS)
            rc = pb_pg_execf(dst, e,
                             "INSERT INTO %I.%I (" PB_DM_TENANT_COLUMN ", %s) SELECT " PB_DM_TENANT_COLUMN
                             ", %s FROM pg_temp.pb_stage; DROP TABLE pg_temp.pb_stage",
                             ts, tn, cols, cols);
        free(cols);
        free(out);
        free(in);
        if (rc)
            pb_err_wrap(e, "copying table %s", tn);
    }
    for (size_t i = 0; rc == 0 && i < pb_dm_table_count(m); i++) {
        long long n1 = 0, n2 = 0;
        char s1[33], s2[33];
        rc = tdb_table_sum(src, fs, m, i, fl == PB_DM_LAYOUT_RLS ? id : NULL, &n1, s1, e);
        if (rc == 0)
            rc = tdb_table_sum(dst, ts, m, i, tl == PB_DM_LAYOUT_RLS ? id : NULL, &n2, s2, e);
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
    tdb_put_conn(ft, src);
    tdb_put_conn(tt, dst);
    return rc ? pb_err_wrap(e, "copying rows from %s to %s", pb_dm_layout_name(fl), pb_dm_layout_name(tl)) : 0;
}

/* ---- moves --------------------------------------------------------------------- */

/* A move copies rows table by table in model m's shape: the tenant's data
 * must be at m's version (else migrate first). */
static int check_at_model(pb_tdb *t, const tdb_row *row, const pb_dm_model *m, pb_err *e)
{
    PGconn *c = NULL;
    long long v = 0;
    int rc = pb_pg_pool_get(t->pool, tdb_data_db(t, row->layout, row->location), &c, e);
    if (rc == 0)
        rc = tdb_target_version(c, tdb_data_schema(row->layout, row->location), &v, e);
    tdb_put_conn(t, c);
    if (rc == 0 && v != pb_dm_version(m))
        rc = pb_err_set(e, PB_EINVAL, "the tenant's data is at model version %lld, not %lld: migrate first", v,
                        pb_dm_version(m));
    return rc;
}

int pb_tdb_move(pb_tdb *t, const char *id, pb_dm_layout to, const pb_dm_model *m, pb_err *e)
{
    PGconn *c = NULL;
    tdb_row row;
    char dest[TDB_NAME_MAX];
    int rc = tdb_open_tenant(t, id, 1, &c, &row, e);
    if (rc)
        return pb_err_wrap(e, "moving");
    if (row.arriving_from[0]) {
        rc = tdb_cross_move_pending(&row, e);
        tdb_close_tenant(t, c, id, 1);
        return pb_err_wrap(e, "moving tenant %s", id);
    }
    /* An unfinished move to another server, not switched: this copy is
     * still the tenant's, so a move here abandons that one (its
     * destination's leftovers are the other server's; a later
     * pb_tdb_move_across there starts over). */
    if (row.move_server[0]) {
        rc = tdb_update_row(c,
                        "UPDATE paybill.tenants SET move_layout = NULL, move_location = NULL, move_server = NULL "
                        "WHERE tenant_id = $1",
                        id, NULL, NULL, e);
        if (rc) {
            tdb_close_tenant(t, c, id, 1);
            return pb_err_wrap(e, "moving tenant %s", id);
        }
        pb_log_warn("move to another server abandoned", "tenant", id, "server", row.move_server, NULL);
        row.has_move = 0;
        row.move_server[0] = '\0';
    }
    if (t->role == PB_TDB_DEDICATED && to != PB_DM_LAYOUT_DATABASE) {
        tdb_close_tenant(t, c, id, 1);
        return pb_err_set(e, PB_EINVAL,
                          "moving tenant %s: server %s is dedicated: move it to a shared server with "
                          "pb_tdb_move_across",
                          id, t->server);
    }
    tdb_location_of(t, to, id, dest);

    /* A previous move switched but did not remove the old copy: finish. */
    if (row.has_old) {
        rc = tdb_remove_location(t, id, row.role, row.old_layout, row.old_location, m,
                             row.layout != PB_DM_LAYOUT_DATABASE, e);
        if (rc == 0)
            rc = tdb_update_row(c, "UPDATE paybill.tenants SET old_layout = NULL, old_location = NULL WHERE tenant_id = $1",
                            id, NULL, NULL, e);
        if (rc)
            goto out;
        row.has_old = 0;
    }
    /* An interrupted move elsewhere: drop its half-made destination. */
    if (row.has_move && row.move_layout != to) {
        rc = tdb_remove_location(t, id, row.role, row.move_layout, row.move_location, m,
                             row.layout != PB_DM_LAYOUT_DATABASE, e);
        if (rc == 0)
            rc = tdb_update_row(c, "UPDATE paybill.tenants SET move_layout = NULL, move_location = NULL WHERE tenant_id = $1",
                            id, NULL, NULL, e);
        if (rc)
            goto out;
        row.has_move = 0;
    }
    if (row.layout == to)
        goto restore;

    if ((rc = check_at_model(t, &row, m, e)) != 0)
        goto out;

    /* 1: intent, and the tenant locked out so the source stays still. */
    rc = tdb_update_row(c, "UPDATE paybill.tenants SET move_layout = $2, move_location = $3 WHERE tenant_id = $1", id,
                    pb_dm_layout_name(to), dest, e);
    if (rc == 0)
        rc = tdb_lock_out_all(c, &row, e);
    if (rc || (rc = tdb_injected(t, 1, e)))
        goto out;
    /* 2: destination ready at this model. */
    rc = tdb_prepare_location(t, row.role, row.alt_role[0] ? row.alt_role : NULL, to, dest, m, e);
    if (rc || (rc = tdb_injected(t, 2, e)))
        goto out;
    /* 3: rows copied and verified. */
    rc = copy_data(t, t, id, row.layout, row.location, to, dest, m, e);
    if (rc || (rc = tdb_injected(t, 3, e)))
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
        rc = pb_pg_execf(c, e, "ALTER ROLE %I SET search_path = %I", row.role, tdb_data_schema(to, dest));
    if (rc == 0 && row.alt_role[0])
        rc = pb_pg_execf(c, e, "ALTER ROLE %I SET search_path = %I", row.alt_role, tdb_data_schema(to, dest));
    /* The agent login follows with its place only: its grants were on the
     * old tables, and the controller applies them to the new ones. */
    if (rc == 0)
        rc = tdb_agent_place(t, c, &row, to, dest, e);
    if (rc == 0)
        rc = pb_pg_commit(c, e);
    pb_pg_rollback(c);
    if (rc || (rc = tdb_injected(t, 4, e)))
        goto out;
    pb_log_info("tenant data moved", "tenant", id, "from", pb_dm_layout_name(row.layout), "to",
                pb_dm_layout_name(to), NULL);
    /* 5: old copy removed. */
    rc = tdb_remove_location(t, id, row.role, row.layout, row.location, m, to != PB_DM_LAYOUT_DATABASE, e);
    if (rc == 0)
        rc = tdb_update_row(c, "UPDATE paybill.tenants SET old_layout = NULL, old_location = NULL WHERE tenant_id = $1",
                        id, NULL, NULL, e);
    if (rc || (rc = tdb_injected(t, 5, e)))
        goto out;

restore:
    if (rc == 0)
        rc = tdb_load_row(c, id, &row, e);
    if (rc == 0 && strcmp(row.state, "active") == 0)
        rc = tdb_let_in_all(c, &row, e);
    tdb_close_tenant(t, c, id, 1);
    return rc ? pb_err_wrap(e, "moving tenant %s to %s", id, pb_dm_layout_name(to)) : 0;

out:
    /* A real failure leaves the old copy serving: give the login back
     * (state permitting). An injected one plays dead: touch nothing. */
    if (!t->failed_on_purpose) {
        pb_err ignored;
        tdb_row now;
        if (tdb_load_row(c, id, &now, &ignored) == 0 && strcmp(now.state, "active") == 0)
            tdb_let_in_all(c, &now, &ignored);
    }
    t->failed_on_purpose = 0;
    tdb_close_tenant(t, c, id, 1);
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
static int finish_source(pb_tdb *s, PGconn *sc, const char *id, const tdb_row *row, const pb_dm_model *m, pb_err *e)
{
    int found = 0;
    int rc = 0;
    if (row->has_old)
        rc = tdb_remove_location(s, id, row->role, row->old_layout, row->old_location, m, 0, e);
    /* The agent login is not carried: the destination makes its own. */
    if (rc == 0)
        rc = tdb_agent_drop_role(s, sc, id, row, e);
    if (rc == 0 && row->alt_role[0])
        rc = tdb_drop_alt(sc, row->alt_role, e);
    if (rc == 0)
        rc = tdb_role_exists(sc, row->role, &found, e);
    if (rc == 0 && found)
        rc = pb_pg_execf(sc, e, "DROP OWNED BY %I; DROP ROLE IF EXISTS %I", row->role, row->role);
    if (rc == 0)
        rc = tdb_update_row(sc, "UPDATE paybill.tenants SET old_layout = NULL, old_location = NULL WHERE tenant_id = $1",
                        id, NULL, NULL, e);
    return rc ? pb_err_wrap(e, "removing the old copy on server %s", s->server) : 0;
}

/* Destination side, before the copy: the tenant's record (marked as
 * arriving, so nothing else on this server touches it), its role with the
 * source's password verifier and connection limit (clients keep their
 * Secret), still NOLOGIN, and the place for its data at model m. */
static int prepare_arrival(pb_tdb *s, pb_tdb *d, PGconn *sc, PGconn *dc, const char *id, const tdb_row *srow,
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
        /* The previous login's revocation (pending or done) comes along. */
        const char *p[12] = {id, srow->role, pb_dm_layout_name(tl), dest, srow->state, s->server,
                             srow->pw_hash[0] ? srow->pw_hash : NULL, logins[1],
                             srow->alt_pw_hash[0] ? srow->alt_pw_hash : NULL, active,
                             srow->revoke_at[0] ? srow->revoke_at : NULL,
                             srow->revoked_at[0] ? srow->revoked_at : NULL};
        /* Over a record left by an earlier move away from here. */
        rc = pb_pg_query(dc,
                         "INSERT INTO paybill.tenants (tenant_id, role_name, layout, location, state, arriving_from, "
                         "password_hash, alt_role, alt_password_hash, active_login, revoke_at, revoked_at) "
                         "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::int, $11::timestamptz, $12::timestamptz) "
                         "ON CONFLICT (tenant_id) DO UPDATE SET "
                         "role_name = $2, layout = $3, location = $4, state = $5, arriving_from = $6, "
                         "password_hash = $7, alt_role = $8, alt_password_hash = $9, active_login = $10::int, "
                         "revoke_at = $11::timestamptz, revoked_at = $12::timestamptz, "
                         "move_layout = NULL, move_location = NULL, move_server = NULL, "
                         "old_layout = NULL, old_location = NULL, moved_to = NULL, "
                         "agent_role = NULL, agent_password_hash = NULL, updated_at = now()",
                         12, p, NULL, e);
    }
    if (rc == 0)
        rc = tdb_ensure_role(dc, srow->role, limits[0], tl == PB_DM_LAYOUT_RLS, &created, &can_login, e);
    if (rc == 0 && can_login)
        rc = pb_pg_execf(dc, e, "ALTER ROLE %I NOLOGIN", srow->role);
    if (rc == 0)
        rc = pb_pg_execf(dc, e, "ALTER ROLE %I SET search_path = %I", srow->role, tdb_data_schema(tl, dest));
    if (rc == 0 && logins[1])
        rc = tdb_ensure_alt(dc, id, srow->role, logins[1], limits[1], tdb_data_schema(tl, dest), &can_login, e);
    if (rc == 0 && logins[1] && can_login)
        rc = pb_pg_execf(dc, e, "ALTER ROLE %I NOLOGIN", logins[1]);
    /* The verifiers as they are: the Secret's password keeps working. */
    for (int i = 0; rc == 0 && i < 2; i++)
        if (verifiers[i])
            rc = pb_pg_execf(dc, e, "ALTER ROLE %I PASSWORD %L", logins[i], verifiers[i]);
    if (rc == 0)
        rc = tdb_prepare_location(d, srow->role, logins[1], tl, dest, m, e);
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
    return tdb_update_row(dc,
                      "UPDATE paybill.tenants SET arriving_from = NULL, state = $2, updated_at = now() "
                      "WHERE tenant_id = $1",
                      id, state, NULL, e);
}

int pb_tdb_move_across(pb_tdb *s, pb_tdb *d, const char *id, pb_dm_layout tl, const pb_dm_model *m, pb_err *e)
{
    PGconn *sc = NULL, *dc = NULL;
    tdb_row srow, drow;
    char dest[TDB_NAME_MAX];
    int slocked = 0, dlocked = 0, switched = 0, delegate = 0;
    int rc = tdb_id_ok(id, e);
    if (rc)
        return rc;
    if (!s || !d || s == d)
        return pb_err_set(e, PB_EINVAL, "moving tenant %s: two different servers are needed", id);
    if (d->role == PB_TDB_DEDICATED && tl != PB_DM_LAYOUT_DATABASE)
        return pb_err_set(e, PB_EINVAL, "moving tenant %s: server %s is dedicated: only the database layout", id,
                          d->server);
    tdb_location_of(d, tl, id, dest);
    /* Lock order: source, then destination (a move the other way waits at
     * most lock_timeout, then fails with PB_ETIMEOUT). */
    rc = pb_pg_pool_get(s->pool, s->shared_db, &sc, e);
    if (rc == 0)
        slocked = (rc = tdb_tenant_lock(sc, id, e)) == 0;
    /* The destination unreachable is a failure like any other: under the
     * source's lock, so that `out` can let the tenant in again there. */
    if (rc == 0)
        rc = pb_pg_pool_get(d->pool, d->shared_db, &dc, e);
    if (rc == 0 && same_cluster(s, d, sc, dc))
        rc = pb_err_set(e, PB_EINVAL, "servers %s and %s are the same PostgreSQL cluster: use pb_tdb_move", s->server,
                        d->server);
    if (rc == 0)
        dlocked = (rc = tdb_tenant_lock(dc, id, e)) == 0;
    if (rc == 0)
        rc = tdb_load_row(sc, id, &srow, e);
    if (rc == 0)
        rc = tdb_load_row(dc, id, &drow, e);
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
            rc = tdb_load_row(dc, id, &drow, e);
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
    if (rc == 0)
        rc = check_at_model(s, &srow, m, e);
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
        rc = tdb_lock_out_all(sc, &srow, e);
    if (rc || (rc = tdb_injected(s, 1, e)))
        goto out;
    /* 2: record, role and empty tables at the destination. */
    rc = prepare_arrival(s, d, sc, dc, id, &srow, tl, dest, m, e);
    if (rc || (rc = tdb_injected(s, 2, e)))
        goto out;
    /* 3: rows streamed across and verified before the destination commits. */
    rc = copy_data(s, d, id, srow.layout, srow.location, tl, dest, m, e);
    if (rc || (rc = tdb_injected(s, 3, e)))
        goto out;
    /* 4: switch. The source's record decides (a crash between the two
     * updates is finished by the rerun: "moved here" + "arriving"). */
    rc = tdb_load_row(sc, id, &srow, e); /* the state may have changed (suspend) */
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
    if (rc || (rc = tdb_injected(s, 4, e)))
        goto out;
    pb_log_info("tenant data moved to another server", "tenant", id, "from", s->server, "to", d->server, "layout",
                pb_dm_layout_name(tl), NULL);
    /* 5: the source's copy and role removed. */
    rc = tdb_load_row(sc, id, &srow, e);
    if (rc == 0)
        rc = finish_source(s, sc, id, &srow, m, e);
    if (rc || (rc = tdb_injected(s, 5, e)))
        goto out;

restore:
    if (rc == 0)
        rc = tdb_load_row(dc, id, &drow, e);
    if (rc == 0 && strcmp(drow.state, "active") == 0 && !delegate)
        rc = tdb_let_in_all(dc, &drow, e);
    if (dlocked)
        tdb_tenant_unlock(dc, id);
    if (slocked)
        tdb_tenant_unlock(sc, id);
    tdb_put_conn(d, dc);
    tdb_put_conn(s, sc);
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
        tdb_row now;
        if (tdb_load_row(sc, id, &now, &ignored) == 0 && now.found && !now.moved_to[0] &&
            strcmp(now.state, "active") == 0)
            tdb_let_in_all(sc, &now, &ignored);
    }
    s->failed_on_purpose = 0;
    if (dlocked)
        tdb_tenant_unlock(dc, id);
    if (slocked)
        tdb_tenant_unlock(sc, id);
    tdb_put_conn(d, dc);
    tdb_put_conn(s, sc);
    return pb_err_wrap(e, "moving tenant %s from server %s to %s", id, s->server, d->server);
}
