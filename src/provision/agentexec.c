/*
 * agentexec.c - the Workflow executor's database side (see agentexec.h):
 * the bookkeeping tables, one step per transaction under the agent role,
 * the ledger, the hash-chained audit trail and its verification.
 *
 * Every statement here is parameterised or built with pb_pg_format's %I;
 * the admin sessions resolve names in pg_catalog only, so every object is
 * schema-qualified. Hashes are computed in C (util/secret), so verification
 * does not trust anything the database computes.
 *
 * Round trips: a step's statements go to the server in a few pipelines
 * (libpq pipeline mode, see "pipelines" below) rather than one by one, since
 * waiting for each answer was most of the executor's cost: pb_ax_begin is
 * one trip (two for the database layout: its data are on another
 * connection), pb_ax_exec one (BEGIN, claim, the statement as the agent,
 * the audit chain's head) and pb_ax_commit one (the audit record and the
 * ledger entry, which need hashes computed here, then COMMIT). Statements
 * run often are in plpgsql functions, whose plans the pooled session keeps
 * (planning them each time cost as much as a trip). Nothing is cached
 * between transactions: every check is made again in the same trips.
 */
#include "provision/agentexec.h"

#include <inttypes.h>
#include <libpq-events.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provision/pg.h"
#include "provision/tenantdb_int.h"
#include "util/buf.h"
#include "util/secret.h"

#define AX_ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
#define AX_TS_SQL "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
#define AX_TS_COL(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
#define AX_VERIFY_BATCH "1000"

/* SQLSTATEs raised by paybill.agent_claim (class "PB" is ours: PostgreSQL
 * and its extensions use none of it). */
#define AX_STATE_STEP_TAKEN "PBA01"
#define AX_STATE_APPROVAL_USED "PBA02"

/* Version of the bookkeeping below: raise it with any change to it, so
 * that databases holding an older one get it replaced (CREATE OR REPLACE). */
#define AX_BOOKKEEPING_VERSION "3"

/* Both tables and the functions there, and both triggers enabled. The
 * functions by name (their signatures go with the version): parsing
 * signatures for to_regprocedure cost more than the rest of the check. */
#define BOOKKEEPING_OK                                                                                              \
    "(pg_catalog.to_regclass('paybill.agent_ledger') IS NOT NULL AND "                                           \
    "(SELECT count(DISTINCT proname) FROM pg_catalog.pg_proc WHERE proname IN ('agent_claim', "                  \
    "'agent_audit_head', 'agent_checks') AND pronamespace = pg_catalog.to_regnamespace('paybill')) = 3 AND "     \
    "(SELECT count(*) FROM pg_catalog.pg_trigger WHERE tgrelid = pg_catalog.to_regclass('paybill.agent_audit') " \
    " AND tgname IN ('agent_audit_append_only', 'agent_audit_no_truncate') AND tgenabled <> 'D') = 2)"

#define AX_CHECKS_SQL "SELECT o_risky, o_version, o_timeout, o_role FROM paybill.agent_checks($1)"

static const char BOOKKEEPING_DDL[] =
    "CREATE SCHEMA IF NOT EXISTS paybill;\n"
    "REVOKE ALL ON SCHEMA paybill FROM PUBLIC;\n"
    "CREATE TABLE IF NOT EXISTS paybill.agent_ledger (\n"
    "  tenant_id text NOT NULL, workflow_uid text NOT NULL,\n"
    "  step_index bigint NOT NULL CHECK (step_index >= 0),\n"
    "  workflow text NOT NULL, step_name text NOT NULL, op text NOT NULL,\n"
    "  state text NOT NULL CHECK (state IN ('committed', 'failed')),\n"
    "  policy text, rule text, submitter text,\n"
    "  approval text UNIQUE, spec_hash text,\n"
    "  rows bigint NOT NULL DEFAULT 0, result text,\n"
    "  result_truncated boolean NOT NULL DEFAULT false,\n"
    "  digest text, message text, audit_seq bigint, audit_hash text,\n"
    "  at timestamptz NOT NULL DEFAULT now(),\n"
    "  PRIMARY KEY (workflow_uid, step_index));\n"
    "CREATE INDEX IF NOT EXISTS agent_ledger_usage ON paybill.agent_ledger (tenant_id, at);\n"
    "REVOKE ALL ON paybill.agent_ledger FROM PUBLIC;\n"
    "CREATE TABLE IF NOT EXISTS paybill.agent_audit (\n"
    "  tenant_id text NOT NULL, seq bigint NOT NULL CHECK (seq > 0),\n"
    "  prev_hash text NOT NULL, hash text NOT NULL,\n"
    "  at timestamptz NOT NULL DEFAULT now(), record text NOT NULL,\n"
    "  PRIMARY KEY (tenant_id, seq));\n"
    "REVOKE ALL ON paybill.agent_audit FROM PUBLIC;\n"
    /* Snapshots (pg_dump as the owner role, which no tenant can become)
     * carry the trail along, as they do paybill.migrations. */
    "GRANT USAGE ON SCHEMA paybill TO " TDB_OWNER_ROLE ";\n"
    "GRANT SELECT ON paybill.agent_ledger, paybill.agent_audit TO " TDB_OWNER_ROLE ";\n"
    "CREATE OR REPLACE FUNCTION paybill.agent_audit_refuse() RETURNS trigger\n"
    "  LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp\n"
    "  AS $f$ BEGIN RAISE EXCEPTION 'paybill.agent_audit is append-only: % refused', TG_OP\n"
    "         USING ERRCODE = '42501'; END $f$;\n"
    "REVOKE ALL ON FUNCTION paybill.agent_audit_refuse() FROM PUBLIC;\n"
    "DROP TRIGGER IF EXISTS agent_audit_append_only ON paybill.agent_audit;\n"
    "CREATE TRIGGER agent_audit_append_only BEFORE UPDATE OR DELETE ON paybill.agent_audit\n"
    "  FOR EACH ROW EXECUTE FUNCTION paybill.agent_audit_refuse();\n"
    "DROP TRIGGER IF EXISTS agent_audit_no_truncate ON paybill.agent_audit;\n"
    "CREATE TRIGGER agent_audit_no_truncate BEFORE TRUNCATE ON paybill.agent_audit\n"
    "  FOR EACH STATEMENT EXECUTE FUNCTION paybill.agent_audit_refuse();\n"
    /* Steps 1 and 2 of a step run (agentexec.h), refusing with an error
     * rather than a row: the step's statement is sent right behind this
     * call in the same pipeline, and the server skips everything after an
     * error, so a step in the ledger is never executed, without a round
     * trip in between. The step lock's key is pb_ax_record_failure's
     * ("<uid>/<index>"). Volatile (the default): each statement has a
     * snapshot of its own, so the ledger is read as committed after the
     * lock was granted. The primary key and the UNIQUE approval still back
     * it up should the function be altered. */
    "CREATE OR REPLACE FUNCTION paybill.agent_claim(p_uid text, p_index bigint, p_approval text)\n"
    "  RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp\n"
    "  AS $f$ DECLARE a text; b text; BEGIN\n"
    "    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('paybill.agent_step'),\n"
    "      pg_catalog.hashtext(p_uid || '/' || p_index::text));\n"
    "    SELECT l.state, " AX_TS_COL("l.at") " INTO a, b FROM paybill.agent_ledger l\n"
    "      WHERE l.workflow_uid = p_uid AND l.step_index = p_index;\n"
    "    IF FOUND THEN RAISE EXCEPTION USING ERRCODE = '" AX_STATE_STEP_TAKEN "', MESSAGE = a, DETAIL = b; END IF;\n"
    "    IF p_approval IS NOT NULL THEN\n"
    "      SELECT l.workflow_uid, l.step_index::text INTO a, b FROM paybill.agent_ledger l\n"
    "        WHERE l.approval = p_approval;\n"
    "      IF FOUND THEN RAISE EXCEPTION USING ERRCODE = '" AX_STATE_APPROVAL_USED "', MESSAGE = a, DETAIL = b;\n"
    "      END IF;\n"
    "    END IF; END $f$;\n"
    "REVOKE ALL ON FUNCTION paybill.agent_claim(text, bigint, text) FROM PUBLIC;\n"
    /* The audit chain's head after its lock (a statement of its own, so
     * its snapshot is newer than the lock), and the new record's time. */
    "CREATE OR REPLACE FUNCTION paybill.agent_audit_head(p_tenant text, OUT o_seq bigint, OUT o_hash text,\n"
    "    OUT o_at text) LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp\n"
    "  AS $f$ BEGIN\n"
    "    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('paybill.agent_audit'),\n"
    "      pg_catalog.hashtext(p_tenant));\n"
    "    SELECT a.seq, a.hash INTO o_seq, o_hash FROM paybill.agent_audit a WHERE a.tenant_id = p_tenant\n"
    "      ORDER BY a.seq DESC LIMIT 1;\n"
    "    o_at := " AX_TS_SQL "; END $f$;\n"
    "REVOKE ALL ON FUNCTION paybill.agent_audit_head(text) FROM PUBLIC;\n"
    /* What pb_ax_begin checks on the data database: the agent role's
     * attributes (NULL: no such role; true: it could get around the grants
     * and policies, being a superuser, BYPASSRLS or a member of the owner
     * role), the bookkeeping (its version when complete, else 0), and the
     * session's statement_timeout and role, which a step's SET LOCALs are
     * undone to. A function because its plans are kept by the (pooled)
     * session: planning this as a plain statement cost more than the rest
     * of pb_ax_begin. */
    "CREATE OR REPLACE FUNCTION paybill.agent_checks(p_role text, OUT o_risky boolean, OUT o_version integer,\n"
    "    OUT o_timeout text, OUT o_role text) LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp\n"
    "  AS $f$ BEGIN\n"
    "    SELECT r.rolsuper OR r.rolbypassrls OR pg_catalog.pg_has_role(r.oid, '" TDB_OWNER_ROLE "', 'MEMBER')\n"
    "      INTO o_risky FROM pg_catalog.pg_roles r WHERE r.rolname = p_role;\n"
    "    o_version := CASE WHEN " BOOKKEEPING_OK " THEN " AX_BOOKKEEPING_VERSION " ELSE 0 END;\n"
    "    o_timeout := pg_catalog.current_setting('statement_timeout');\n"
    "    o_role := pg_catalog.current_setting('role'); END $f$;\n"
    "REVOKE ALL ON FUNCTION paybill.agent_checks(text) FROM PUBLIC;\n";

/* The tenant's record, as much of it as a step needs (tdb_load_row's
 * columns; read here so that it goes in the same trip as the lock). */
#define AX_TENANT_SQL                                                                                               \
    "SELECT layout, location, state, move_layout IS NOT NULL, move_server, moved_to, arriving_from "              \
    "FROM paybill.tenants WHERE tenant_id = $1"

#define AX_TENANT_LOCK_SQL                                                                                          \
    "SELECT pg_catalog.pg_advisory_lock_shared(pg_catalog.hashtext('paybill.tenant'), pg_catalog.hashtext($1))"
#define AX_AUDIT_HEAD_SQL "SELECT o_seq, o_hash, o_at FROM paybill.agent_audit_head($1)"
#define AX_AUDIT_INSERT_SQL                                                                                         \
    "INSERT INTO paybill.agent_audit (tenant_id, seq, prev_hash, hash, at, record) "                             \
    "VALUES ($1, $2::bigint, $3, $4, $5::timestamptz, $6)"
#define AX_LEDGER_INSERT_SQL                                                                                        \
    "INSERT INTO paybill.agent_ledger (tenant_id, workflow_uid, step_index, workflow, step_name, op, "           \
    "state, policy, rule, submitter, approval, spec_hash, rows, result, result_truncated, digest, "              \
    "message, audit_seq, audit_hash, at) VALUES ($1, $2, $3::bigint, $4, $5, $6, $7, $8, $9, $10, "              \
    "$11, $12, $13::bigint, $14, $15::boolean, $16, pg_catalog.left($17, 500), $18::bigint, $19, $20::timestamptz)"

/* Into the agent role for the statement: step timeout (NULL: the
 * session's), [rls: acting tenant], and the role last. set_config(...,
 * true) is SET LOCAL; setting "role" checks membership like SET ROLE. */
#define AX_AS_AGENT_SQL                                                                                             \
    "SELECT pg_catalog.set_config('statement_timeout', "                                                         \
    "coalesce($1, pg_catalog.current_setting('statement_timeout')), true), "                                     \
    "pg_catalog.set_config('role', $2, true)"
#define AX_AS_AGENT_RLS_SQL                                                                                         \
    "SELECT pg_catalog.set_config('statement_timeout', "                                                         \
    "coalesce($1, pg_catalog.current_setting('statement_timeout')), true), "                                     \
    "pg_catalog.set_config('" TDB_ACTING_TENANT_GUC "', $3, true), pg_catalog.set_config('role', $2, true)"
/* And back: the role first, so the rest runs as the admin again. */
#define AX_AS_ADMIN_SQL                                                                                             \
    "SELECT pg_catalog.set_config('role', $1, true), pg_catalog.set_config('statement_timeout', $2, true)"
#define AX_AS_ADMIN_RLS_SQL                                                                                         \
    "SELECT pg_catalog.set_config('role', $1, true), pg_catalog.set_config('statement_timeout', $2, true), "     \
    "pg_catalog.set_config('" TDB_ACTING_TENANT_GUC "', '', true)"

struct pb_ax_tx {
    pb_tdb *t;
    PGconn *lockc; /* shared_db: holds the tenant's lock in shared mode */
    PGconn *c;     /* the data database (== lockc for rls and schema) */
    char tenant[TDB_NAME_MAX];
    char role[TDB_NAME_MAX];
    /* The session's statement_timeout and role, restored after a step. */
    char timeout[32], admin_role[TDB_NAME_MAX];
    int rls, dry_run;
    /* open: pb_ax_begin succeeded. begun: BEGIN was sent, with the first
     * pb_ax_lookup or pb_ax_exec (it goes in their pipeline, which saves
     * pb_ax_begin a trip; the tenant lock is held from pb_ax_begin on, so
     * nothing differs for the step). */
    int open, begun, done, aborted;
    /* A step's audit record and ledger entry (AX_AUDIT_INSERT_SQL's and
     * AX_LEDGER_INSERT_SQL's parameters, copies), computed by pb_ax_exec
     * and sent ahead of the transaction's next statements: with the
     * COMMIT, or a later lookup or step. That saves a trip a step, and
     * changes nothing that can be seen: the transaction holds the step's
     * and the chain's locks until it ends, and whatever comes next in it
     * runs only once they are in (a pipeline stops at the first error, so
     * a COMMIT behind a failed insert never runs). */
    int pending;
    char *pend_audit[6], *pend_ledger[20];
};
/* ---- small helpers ------------------------------------------------------------ */

static void copy_str(char *dst, size_t n, const char *s) { snprintf(dst, n, "%s", s ? s : ""); }

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

/* Copy s into out (n > 0), replacing bytes that are not valid UTF-8 with
 * '?' and cutting only between characters: pb_err messages are cut at a
 * byte count and may end inside a character. */
static void utf8_clean(const char *s, char *out, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    while (*p) {
        size_t len = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3 : (*p & 0xF8) == 0xF0 ? 4 : 0;
        int ok = len > 0 && !(len == 2 && *p < 0xC2) && !(len == 4 && *p > 0xF4);
        for (size_t k = 1; ok && k < len; k++)
            ok = (p[k] & 0xC0) == 0x80;
        if (ok && len == 3)
            ok = !(p[0] == 0xE0 && p[1] < 0xA0) && !(p[0] == 0xED && p[1] >= 0xA0);
        if (ok && len == 4)
            ok = !(p[0] == 0xF0 && p[1] < 0x90) && !(p[0] == 0xF4 && p[1] >= 0x90);
        if (!ok)
            len = 1;
        if (o + len >= n)
            break;
        if (ok)
            memcpy(out + o, p, len);
        else
            out[o] = '?';
        o += len;
        p += len;
    }
    out[o] = '\0';
}

static int sha_hex(const char *a, const char *b, char out[65], pb_err *e)
{
    pb_buf buf = {0};
    pb_buf_puts(&buf, a);
    if (b) {
        pb_buf_puts(&buf, "\n");
        pb_buf_puts(&buf, b);
    }
    int rc = buf.oom ? pb_err_oom(e) : pb_secret_sha256_hex(buf.data ? buf.data : "", buf.len, out, e);
    pb_buf_free(&buf);
    return rc;
}

static int step_key(const char *uid, size_t index, char *out, size_t n)
{
    return snprintf(out, n, "%s/%zu", uid, index) < (int)n ? 0 : -1;
}

/* ---- pipelines ------------------------------------------------------------------ */

/* Statements sent together and answered together: one round trip for all
 * of them (libpq pipeline mode). The server runs them in order, each with
 * its own snapshot (read committed), and after an error skips everything up
 * to the next sync point: a statement queued behind a check that raised is
 * never executed. Statements up to a sync point are one implicit
 * transaction unless a BEGIN came first.
 *
 * Blocking mode (no PQsetnonblocking) cannot deadlock here: the only large
 * input (a step's parameters, a result kept in the ledger) is written before
 * the server can produce any large output (a step's rows), and what is
 * written after that is a few hundred bytes, well within socket buffers.
 *
 * Prepared statements: the executor's own statements are prepared once per
 * session (a pooled connection lives across many steps) under the names
 * "pb_ax_<generation>_<n>", because parsing and planning them on every step
 * cost about as much as the rest of the server's work. Which are prepared
 * on a connection is kept with it (libpq instance data, freed with it;
 * cleared when it is reset); a statement not yet prepared is prepared in
 * the same pipeline, just before its first use. Only statements prepared
 * here and seen to succeed are ever run: should the server have lost one
 * (DEALLOCATE by someone else) or have one of the name already, the
 * pipeline fails (the step with it, as PB_EUNAVAILABLE: its transaction is
 * rolled back) and the connection moves to a new generation of names,
 * prepared afresh. */
#define AX_PIPE_MAX 24

typedef struct ax_pipe {
    PGconn *c;
    int n;
    int sync[AX_PIPE_MAX];      /* item i is a sync point */
    int prep[AX_PIPE_MAX];      /* item i prepares statement prep[i] - 1 (0: it does not) */
    int uses[AX_PIPE_MAX];      /* item i runs prepared statement uses[i] - 1 (0: none) */
    PGresult *res[AX_PIPE_MAX]; /* item i's result, also when it failed */
    int failed;                 /* the item whose error is reported, -1: none (or the send failed) */
    int broken;                 /* a send failed: results are not read */
} ax_pipe;

/* Which of the executor's statements a connection has prepared (bit n:
 * "pb_ax_<gen>_<n>"). */
typedef struct ax_conn_state {
    unsigned gen, prepared;
} ax_conn_state;

static int conn_event(PGEventId id, void *info, void *pass)
{
    (void)pass;
    if (id == PGEVT_CONNDESTROY) {
        PGconn *c = ((PGEventConnDestroy *)info)->conn;
        free(PQinstanceData(c, conn_event));
        PQsetInstanceData(c, conn_event, NULL);
    } else if (id == PGEVT_CONNRESET) { /* a new session: nothing prepared */
        ax_conn_state *st = PQinstanceData(((PGEventConnReset *)info)->conn, conn_event);
        if (st)
            st->prepared = 0;
    }
    return 1;
}

/* The connection's state, registered on first use (NULL when out of
 * memory: then nothing is prepared, every statement is sent whole). */
static ax_conn_state *conn_state(PGconn *c)
{
    ax_conn_state *st = PQinstanceData(c, conn_event);
    if (st)
        return st;
    st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    /* Registering fails when already registered (with NULL data: only
     * after an earlier allocation failed). */
    PQregisterEventProc(c, conn_event, "paybill-agentexec", NULL);
    if (!PQsetInstanceData(c, conn_event, st)) {
        free(st);
        return NULL;
    }
    return st;
}

static int pipe_open(ax_pipe *p, PGconn *c, pb_err *e)
{
    memset(p, 0, sizeof *p);
    p->c = c;
    p->failed = -1;
    if (PQenterPipelineMode(c))
        return 0;
    p->c = NULL;
    return pb_pg_error(c, NULL, e);
}

/* Queue one statement; its index in p->res. */
static int pipe_add(ax_pipe *p, const char *sql, int nparams, const char *const *params)
{
    int i = p->n;
    if (p->broken || i >= AX_PIPE_MAX || !PQsendQueryParams(p->c, sql, nparams, NULL, params, NULL, NULL, 0)) {
        p->broken = 1;
        return -1;
    }
    p->n++;
    return i;
}

/* Queue prepared statement `id` (sql), preparing it first when the
 * connection has not; its index in p->res. */
static int pipe_add_named(ax_pipe *p, int id, const char *sql, int nparams, const char *const *params)
{
    ax_conn_state *st = p->broken ? NULL : conn_state(p->c);
    if (!st)
        return pipe_add(p, sql, nparams, params);
    char name[48];
    snprintf(name, sizeof name, "pb_ax_%u_%d", st->gen, id);
    if (!(st->prepared & (1u << id))) {
        if (p->n + 2 > AX_PIPE_MAX || !PQsendPrepare(p->c, name, sql, nparams, NULL)) {
            p->broken = 1;
            return -1;
        }
        p->prep[p->n++] = id + 1;
    }
    int i = p->n;
    if (i >= AX_PIPE_MAX || !PQsendQueryPrepared(p->c, name, nparams, params, NULL, NULL, 0)) {
        p->broken = 1;
        return -1;
    }
    p->uses[p->n++] = id + 1;
    return i;
}

static void pipe_sync(ax_pipe *p)
{
    if (p->broken || p->n >= AX_PIPE_MAX || !PQpipelineSync(p->c)) {
        p->broken = 1;
        return;
    }
    p->sync[p->n++] = 1;
}

static void pipe_clear(ax_pipe *p)
{
    for (int i = 0; i < p->n; i++)
        PQclear(p->res[i]);
    p->n = 0;
}

/* Send what is queued (ending with a sync point) and read every answer: 0
 * when each statement succeeded, else the first failure's code with e
 * filled and p->failed naming it. Pipeline mode is left whenever the
 * connection allows; one that cannot leave it has answers pending, so the
 * pool closes it rather than keep it (which also rolls back). */
static int pipe_run(ax_pipe *p, pb_err *e)
{
    if (p->n == 0 || !p->sync[p->n - 1])
        pipe_sync(p);
    int rc = 0;
    if (p->broken) {
        rc = PQstatus(p->c) != CONNECTION_OK
                 ? pb_pg_error(p->c, NULL, e)
                 : pb_err_set(e, PB_EIO, "pipeline: a statement could not be sent: %s", PQerrorMessage(p->c));
        p->failed = -1; /* no one statement's */
        PQexitPipelineMode(p->c); /* fails when answers are pending: see above */
        return rc;
    }
    for (int i = 0; i < p->n; i++) {
        PGresult *r = NULL;
        int wrc = pb_pg_next_result(p->c, &r, rc ? NULL : e);
        if (wrc || !r) { /* the connection is gone, or hangs (and was dropped) */
            if (rc == 0) {
                rc = wrc ? wrc : pb_pg_error(p->c, NULL, e);
                p->failed = i;
            }
            break;
        }
        ExecStatusType st = PQresultStatus(r);
        if (p->sync[i]) {
            PQclear(r);
            if (st == PGRES_PIPELINE_SYNC)
                continue;
            if (rc == 0) {
                rc = pb_err_set(e, PB_EIO, "pipeline: unexpected answer %s at a sync point", PQresStatus(st));
                p->failed = i;
            }
            break;
        }
        p->res[i] = r;
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        ax_conn_state *cs = PQinstanceData(p->c, conn_event);
        if (cs && p->prep[i] && st == PGRES_COMMAND_OK)
            cs->prepared |= 1u << (p->prep[i] - 1);
        /* The server lost one, or has one of that name we did not make:
         * new names from now on (see above). */
        if (cs && state && (strcmp(state, "26000") == 0 || strcmp(state, "42P05") == 0)) {
            cs->gen++;
            cs->prepared = 0;
        }
        if (rc == 0 && st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
            rc = st == PGRES_PIPELINE_ABORTED ? pb_err_set(e, PB_EIO, "pipeline aborted") : pb_pg_error(p->c, r, e);
            if (state && (strcmp(state, "26000") == 0 || strcmp(state, "42P05") == 0)) {
                char m[PB_ERR_MSG_MAX];
                snprintf(m, sizeof m, "%s", e ? e->msg : "");
                rc = pb_err_set(e, PB_EUNAVAILABLE, "%s (prepared statements of the agent executor: made again)", m);
            }
            p->failed = i;
        }
        /* Each statement's answer ends with a NULL. */
        PGresult *extra;
        while (pb_pg_next_result(p->c, &extra, NULL) == 0 && extra != NULL)
            PQclear(extra);
    }
    PQexitPipelineMode(p->c);
    /* A failed prepare is said as the failure of the statement it was
     * for (queued right after it): callers look at that index. */
    if (p->failed >= 0 && p->prep[p->failed] && p->failed + 1 < p->n) {
        PGresult *tmp = p->res[p->failed];
        p->res[p->failed] = p->res[p->failed + 1];
        p->res[p->failed + 1] = tmp;
        p->failed++;
    }
    return rc;
}

/* The value at (0, col) of item i's result, NULL for SQL NULL or no row. */
static const char *pipe_val(const ax_pipe *p, int i, int col)
{
    const PGresult *r = i >= 0 ? p->res[i] : NULL;
    if (!r || PQntuples(r) < 1 || PQnfields(r) <= col || PQgetisnull(r, 0, col))
        return NULL;
    return PQgetvalue(r, 0, col);
}

/* ---- connections and bookkeeping ------------------------------------------------- */

/* A connection to the tenant's data database (lockc itself when that is
 * shared_db). */
static int data_conn(pb_tdb *t, const tdb_row *row, PGconn *lockc, PGconn **c, pb_err *e)
{
    const char *db = tdb_data_db(t, row->layout, row->location);
    if (strcmp(db, t->shared_db) == 0) {
        *c = lockc;
        return 0;
    }
    return pb_pg_pool_get(t->pool, db, c, e);
}

/* The connections go back to the pool, which also releases any session
 * advisory lock left on them (the tenant's shared lock: pb_pg_pool_put
 * runs pg_advisory_unlock_all, or closes the connection). */
static void put_conns(pb_tdb *t, PGconn *lockc, PGconn *c)
{
    if (c && c != lockc)
        tdb_put_conn(t, c);
    if (lockc)
        tdb_put_conn(t, lockc);
}

/* The checks' function is missing: a database whose bookkeeping is not
 * made yet (or was dropped). */
static int bookkeeping_missing(const PGresult *r)
{
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    return st && (strcmp(st, "42883") == 0 || strcmp(st, "3F000") == 0);
}

/* Create the bookkeeping (outside any transaction on c). Concurrent
 * creators are serialised by an advisory lock. */
static int create_bookkeeping(PGconn *c, pb_err *e)
{
    int rc = pb_pg_begin(c, e);
    if (rc == 0)
        rc = pb_pg_exec(c, "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('paybill.agent_ddl'))", e);
    if (rc == 0)
        rc = pb_pg_exec(c, BOOKKEEPING_DDL, e);
    if (rc == 0)
        rc = pb_pg_commit(c, e);
    if (rc)
        pb_pg_rollback(c);
    return rc ? pb_err_wrap(e, "creating the agent ledger and audit tables") : 0;
}

/* The same when missing, incomplete or of another version. */
static int ensure_bookkeeping(PGconn *c, pb_err *e)
{
    const char *pr[1] = {NULL};
    ax_pipe p;
    int rc = pipe_open(&p, c, e);
    if (rc)
        return pb_err_wrap(e, "checking the agent ledger");
    int i = pipe_add(&p, AX_CHECKS_SQL, 1, pr);
    rc = pipe_run(&p, e);
    const char *version = rc == 0 ? pipe_val(&p, i, 1) : NULL;
    int ok = version && strcmp(version, AX_BOOKKEEPING_VERSION) == 0;
    int missing = rc != 0 && p.failed == i && bookkeeping_missing(p.res[i]);
    pipe_clear(&p);
    if (rc && !missing)
        return pb_err_wrap(e, "checking the agent ledger");
    return ok ? 0 : create_bookkeeping(c, e);
}

/* Open the tenant's data database for bookkeeping only (record_failure,
 * audit, usage, ledger, verify): *lockc and *c to give back with
 * put_conns. */
static int open_data(pb_tdb *t, const char *id, PGconn **lockc, PGconn **c, pb_err *e)
{
    tdb_row row;
    *lockc = *c = NULL;
    int rc = tdb_open_tenant(t, id, 0, lockc, &row, e);
    if (rc == 0)
        rc = data_conn(t, &row, *lockc, c, e);
    if (rc == 0)
        rc = ensure_bookkeeping(*c, e);
    if (rc) {
        put_conns(t, *lockc, *c);
        *lockc = *c = NULL;
    }
    return rc;
}

/* ---- the audit chain ------------------------------------------------------------ */

/* The next record after the chain's head (AX_AUDIT_HEAD_SQL's row h):
 * "tenant", "seq" and "at" set in rec, then its text and hash. *seqs and
 * *text (caller frees) are the INSERT's parameters. */
static int audit_next(const char *tenant, json_t *rec, const char *head_seq, const char *head_hash,
                      const char *at, long long *seq, char seqs[32], char prev[65], char hash[65], char **text,
                      pb_err *e)
{
    *text = NULL;
    long long next = head_seq ? atoll(head_seq) + 1 : 1;
    copy_str(prev, 65, head_hash ? head_hash : AX_ZERO_HASH);
    if (json_object_set_new(rec, "tenant", json_string(tenant)) || json_object_set_new(rec, "seq", json_integer(next)) ||
        json_object_set_new(rec, "at", json_string(at ? at : "")))
        return pb_err_oom(e);
    *text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
    if (!*text)
        return pb_err_set(e, PB_EINVAL, "audit record cannot be serialised");
    int rc = sha_hex(prev, *text, hash, e);
    if (rc) {
        free(*text);
        *text = NULL;
        return rc;
    }
    snprintf(seqs, 32, "%lld", next);
    *seq = next;
    return 0;
}

/* Append `rec` (an object; "tenant", "seq" and "at" are set here) to the
 * tenant's chain, inside the caller's transaction on c, as the admin.
 * Appends of one tenant are serialised by the advisory lock, which the
 * head is read after (its own statement, so its snapshot is newer than the
 * lock). */
static int audit_append(PGconn *c, const char *tenant, json_t *rec, long long *seq, char hash[65], char at[40],
                        pb_err *e)
{
    const char *p1[1] = {tenant};
    ax_pipe p;
    int rc = pipe_open(&p, c, e);
    if (rc)
        return pb_err_wrap(e, "appending to the audit trail");
    int ih = pipe_add(&p, AX_AUDIT_HEAD_SQL, 1, p1);
    rc = pipe_run(&p, e);
    char seqs[32], prev[65];
    char *text = NULL;
    if (rc == 0) {
        copy_str(at, 40, pipe_val(&p, ih, 2));
        rc = audit_next(tenant, rec, pipe_val(&p, ih, 0), pipe_val(&p, ih, 1), at, seq, seqs, prev, hash, &text, e);
    }
    pipe_clear(&p);
    const char *pi[6] = {tenant, seqs, prev, hash, at, text};
    if (rc == 0)
        rc = pb_pg_query(c, AX_AUDIT_INSERT_SQL, 6, pi, NULL, e);
    free(text);
    return rc ? pb_err_wrap(e, "appending to the audit trail") : 0;
}


/* The audit record of a step run or failure. */
static json_t *step_record(const pb_ax_step *s, const char *agent_role, const char *state, long long rows,
                           const char *digest, const char *message, pb_err *e)
{
    json_t *params = json_array();
    for (size_t i = 0; params && i < s->n_params; i++)
        json_array_append_new(params, str_or_null(s->params[i]));
    char *ptext = params ? json_dumps(params, JSON_COMPACT) : NULL;
    json_decref(params);
    char psha[65] = "";
    if (!ptext || pb_secret_sha256_hex(ptext, strlen(ptext), psha, e)) {
        free(ptext);
        if (!ptext)
            pb_err_set(e, PB_EINVAL, "step parameters cannot be serialised (invalid UTF-8?)");
        return NULL;
    }
    free(ptext);
    json_t *rec = json_pack("{s:s, s:s, s:s, s:o, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:s}",
                            "kind", "step", "state", state, "workflow_uid", s->workflow_uid, "workflow",
                            str_or_null(s->workflow), "step", (json_int_t)s->index, "name", str_or_null(s->name), "op",
                            str_or_null(s->op), "policy", str_or_null(s->policy), "rule", str_or_null(s->rule),
                            "submitter", str_or_null(s->submitter), "approval", str_or_null(s->approval), "spec_hash",
                            str_or_null(s->spec_hash), "agent_role", str_or_null(agent_role), "sql",
                            str_or_null(s->sql), "rows", (json_int_t)rows, "digest", str_or_null(digest), "message",
                            str_or_null(message), "params_sha256", psha);
    if (!rec)
        pb_err_set(e, PB_EINVAL, "audit record of step %zu cannot be built (invalid UTF-8?)", s->index);
    return rec;
}

/* ---- ledger rows ------------------------------------------------------------------ */

#define LEDGER_COLS                                                                                          \
    "state, rows, result, result_truncated, digest, " AX_TS_COL("at") ", message, audit_seq, step_index, "   \
    "step_name, op, policy, rule, submitter, approval, spec_hash, workflow"

static const char *val(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static int fill_result(const PGresult *q, int i, pb_ax_result *r, pb_err *e)
{
    memset(r, 0, sizeof *r);
    r->already = 1;
    copy_str(r->state, sizeof r->state, val(q, i, 0));
    r->rows = atoll(PQgetvalue(q, i, 1));
    if (val(q, i, 2)) {
        json_error_t je;
        r->result = json_loads(val(q, i, 2), 0, &je);
        if (!r->result)
            return pb_err_set(e, PB_EPARSE, "ledger result of step %s is not JSON: %s", PQgetvalue(q, i, 8), je.text);
    }
    r->truncated = strcmp(PQgetvalue(q, i, 3), "t") == 0;
    copy_str(r->digest, sizeof r->digest, val(q, i, 4));
    copy_str(r->at, sizeof r->at, val(q, i, 5));
    copy_str(r->message, sizeof r->message, val(q, i, 6));
    r->audit_seq = val(q, i, 7) ? atoll(val(q, i, 7)) : 0;
    return 0;
}

void pb_ax_result_clear(pb_ax_result *r)
{
    if (!r)
        return;
    json_decref(r->result);
    memset(r, 0, sizeof *r);
}

/* The select's rows as JSON objects: the bounded array (*out), whether it
 * was cut (*truncated) and the digest of the whole, canonical result. */
static int rows_json(const PGresult *q, const pb_ax_step *s, json_t **out, int *truncated, char digest[65],
                     pb_err *e)
{
    int n = PQntuples(q);
    json_t *arr = json_array();
    pb_buf canon = {0};
    size_t kept_bytes = 2; /* [] */
    int rc = arr ? 0 : pb_err_oom(e);
    *truncated = 0;
    pb_buf_puts(&canon, "[");
    for (int i = 0; rc == 0 && i < n; i++) {
        json_t *o = json_object();
        for (size_t j = 0; o && j < s->n_columns; j++) {
            json_t *v = PQgetisnull(q, i, (int)j) ? json_null() : json_string(PQgetvalue(q, i, (int)j));
            if (!v || json_object_set_new(o, s->columns[j], v)) {
                json_decref(o);
                o = NULL;
            }
        }
        char *ct = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        char *kt = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (!ct || !kt) {
            rc = pb_err_set(e, PB_EINVAL, "row %d of the result cannot be kept as JSON", i);
        } else {
            if (i)
                pb_buf_puts(&canon, ",");
            pb_buf_puts(&canon, ct);
            size_t add = strlen(kt) + (i ? 1 : 0);
            if (!*truncated && (size_t)i < PB_AX_MAX_RESULT_ROWS && kept_bytes + add <= PB_AX_MAX_RESULT_BYTES) {
                kept_bytes += add;
                json_array_append(arr, o);
            } else {
                *truncated = 1;
            }
        }
        free(ct);
        free(kt);
        json_decref(o);
    }
    pb_buf_puts(&canon, "]");
    if (rc == 0 && canon.oom)
        rc = pb_err_oom(e);
    if (rc == 0)
        rc = pb_secret_sha256_hex(canon.data, canon.len, digest, e);
    pb_buf_free(&canon);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return 0;
}

static int check_step(const pb_ax_step *s, pb_err *e)
{
    if (!s || !s->workflow_uid || !*s->workflow_uid || !s->workflow || !s->name || !s->op || !s->sql)
        return pb_err_set(e, PB_EINVAL, "agentexec: a step needs workflow_uid, workflow, name, op and sql");
    if (s->n_params > 65535 || (s->n_params && !s->params))
        return pb_err_set(e, PB_EINVAL, "agentexec: step %zu: bad parameters", s->index);
    if (s->cap < 0 || s->timeout_ms < 0)
        return pb_err_set(e, PB_EINVAL, "agentexec: step %zu: negative cap or timeout", s->index);
    if (s->returns_rows && (s->n_columns == 0 || !s->columns))
        return pb_err_set(e, PB_EINVAL, "agentexec: step %zu returns rows but names no columns", s->index);
    for (size_t j = 0; s->returns_rows && j < s->n_columns; j++)
        if (!s->columns[j])
            return pb_err_set(e, PB_EINVAL, "agentexec: step %zu: column %zu has no name", s->index, j);
    return 0;
}

/* ---- transactions ------------------------------------------------------------------ */

#define AX_LEDGER_SQL                                                                                               \
    "SELECT " LEDGER_COLS ", tenant_id FROM paybill.agent_ledger "                                              \
    "WHERE workflow_uid = $2 AND step_index = $3::bigint AND ($1::text IS NULL OR tenant_id = $1)"

/* The executor's statements, prepared per connection (see "pipelines"). */
enum {
    AXS_TENANT_LOCK,
    AXS_TENANT,
    AXS_CHECKS,
    AXS_CLAIM,
    AXS_AS_AGENT,
    AXS_AS_AGENT_RLS,
    AXS_AS_ADMIN,
    AXS_AS_ADMIN_RLS,
    AXS_HEAD,
    AXS_DRY_TS,
    AXS_AUDIT_INSERT,
    AXS_LEDGER_INSERT,
    AXS_LEDGER,
    AXS_N
};

static const char *const AXS_SQL[AXS_N] = {
    [AXS_TENANT_LOCK] = AX_TENANT_LOCK_SQL,
    [AXS_TENANT] = AX_TENANT_SQL,
    [AXS_CHECKS] = AX_CHECKS_SQL,
    [AXS_CLAIM] = "SELECT paybill.agent_claim($1, $2::bigint, $3)",
    [AXS_AS_AGENT] = AX_AS_AGENT_SQL,
    [AXS_AS_AGENT_RLS] = AX_AS_AGENT_RLS_SQL,
    [AXS_AS_ADMIN] = AX_AS_ADMIN_SQL,
    [AXS_AS_ADMIN_RLS] = AX_AS_ADMIN_RLS_SQL,
    [AXS_HEAD] = AX_AUDIT_HEAD_SQL,
    [AXS_DRY_TS] = "SELECT NULL, NULL, " AX_TS_SQL,
    [AXS_AUDIT_INSERT] = AX_AUDIT_INSERT_SQL,
    [AXS_LEDGER_INSERT] = AX_LEDGER_INSERT_SQL,
    [AXS_LEDGER] = AX_LEDGER_SQL,
};

static int pipe_addp(ax_pipe *p, int id, int nparams, const char *const *params)
{
    return pipe_add_named(p, id, AXS_SQL[id], nparams, params);
}


/* The tenant's record as read under its lock: PB_ENOTFOUND, PB_ECONFLICT
 * or 0 with *row's layout and location filled. */
static int tenant_usable(const ax_pipe *p, int i, const char *id, tdb_row *row, pb_err *e)
{
    memset(row, 0, sizeof *row);
    const PGresult *r = p->res[i];
    if (!r || PQntuples(r) != 1)
        return pb_err_set(e, PB_ENOTFOUND, "tenant %s not found", id);
    const char *moved_to = pipe_val(p, i, 5);
    if (moved_to && *moved_to)
        return pb_err_set(e, PB_ENOTFOUND, "tenant %s is not on this server: it moved to server %s", id, moved_to);
    const char *mv = pipe_val(p, i, 3), *ms = pipe_val(p, i, 4), *af = pipe_val(p, i, 6), *state = pipe_val(p, i, 2);
    if (!mv || strcmp(mv, "f") != 0 || (ms && *ms) || (af && *af))
        return pb_err_set(e, PB_ECONFLICT, "tenant %s is moving: no step runs until the move is finished", id);
    if (!state || strcmp(state, "active") != 0)
        return pb_err_set(e, PB_ECONFLICT, "tenant %s is %s: no step runs", id, state ? state : "in no state");
    if (!pipe_val(p, i, 0) || pb_dm_layout_parse(pipe_val(p, i, 0), &row->layout) != 0)
        return pb_err_set(e, PB_EINTERNAL, "tenant %s has an unknown layout", id);
    copy_str(row->location, sizeof row->location, pipe_val(p, i, 1));
    row->found = 1;
    return 0;
}

static int run_checks(pb_ax_tx *tx, ax_pipe *p, int *ichk, pb_err *e)
{
    const char *pr[1] = {tx->role};
    int rc = pipe_open(p, tx->c, e);
    if (rc)
        return rc;
    *ichk = pipe_addp(p, AXS_CHECKS, 1, pr);
    return pipe_run(p, e);
}

/* AX_CHECKS_SQL's answer on the data database (item ichk of p, a pipeline
 * already run on tx->c; -1: run it now). The bookkeeping is made when the
 * function is missing or says it is incomplete or of another version; the
 * agent role must exist and be unable to get around the grants and
 * policies; and the session's settings are kept for after the step. */
static int check_data_db(pb_ax_tx *tx, ax_pipe *p, int ichk, pb_err *e)
{
    int rc = 0, created = 0;
    const PGresult *r = ichk >= 0 ? p->res[ichk] : NULL;
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        if (r && bookkeeping_missing(r)) {
            rc = create_bookkeeping(tx->c, e);
            created = 1;
        } else if (r) {
            rc = pb_pg_error(tx->c, r, e);
        }
        if (rc == 0) {
            pipe_clear(p);
            rc = run_checks(tx, p, &ichk, e);
            if (rc && !created && p->failed == ichk && bookkeeping_missing(p->res[ichk])) {
                created = 1;
                pipe_clear(p);
                rc = create_bookkeeping(tx->c, e);
                if (rc == 0)
                    rc = run_checks(tx, p, &ichk, e);
            }
        }
        if (rc)
            return pb_err_wrap(e, "checking agent role %s and the agent ledger", tx->role);
    }
    const char *risky = pipe_val(p, ichk, 0), *version = pipe_val(p, ichk, 1), *to = pipe_val(p, ichk, 2),
               *role = pipe_val(p, ichk, 3);
    if (!risky)
        return pb_err_set(e, PB_ENOTFOUND, "agent role %s of tenant %s does not exist", tx->role, tx->tenant);
    if (strcmp(risky, "f") != 0)
        return pb_err_set(e, PB_EFORBIDDEN,
                          "agent role %s is a superuser, has BYPASSRLS or is a member of " TDB_OWNER_ROLE
                          ": refusing to run steps as it",
                          tx->role);
    if (!to || !role || strlen(to) >= sizeof tx->timeout || strlen(role) >= sizeof tx->admin_role)
        return pb_err_set(e, PB_EINTERNAL, "the session's statement_timeout or role cannot be kept");
    copy_str(tx->timeout, sizeof tx->timeout, to);
    copy_str(tx->admin_role, sizeof tx->admin_role, role);
    if (version && strcmp(version, AX_BOOKKEEPING_VERSION) == 0)
        return 0;
    if (created)
        return pb_err_set(e, PB_EINTERNAL, "the agent ledger is still incomplete after it was made (version %s)",
                          version ? version : "none");
    return create_bookkeeping(tx->c, e);
}

int pb_ax_begin(pb_tdb *t, const char *tenant_id, const char *agent_role, int dry_run, pb_ax_tx **out,
                pb_err *e)
{
    *out = NULL;
    if (!t || !agent_role || !*agent_role || strlen(agent_role) >= TDB_NAME_MAX)
        return pb_err_set(e, PB_EINVAL, "agentexec: a tenant database and an agent role are required");
    int rc = tdb_id_ok(tenant_id, e);
    if (rc)
        return pb_err_wrap(e, "agent step transaction");
    char expected[TDB_NAME_MAX];
    snprintf(expected, sizeof expected, "pb_a_%s", tenant_id);
    if (strcmp(agent_role, expected) != 0)
        return pb_err_set(e, PB_EINVAL, "agent role %s is not tenant %s's (%s)", agent_role, tenant_id, expected);
    pb_ax_tx *tx = calloc(1, sizeof *tx);
    if (!tx)
        return pb_err_oom(e);
    tx->t = t;
    tx->dry_run = dry_run != 0;
    copy_str(tx->role, sizeof tx->role, agent_role);
    copy_str(tx->tenant, sizeof tx->tenant, tenant_id);
    const char *pt[1] = {tenant_id}, *pr[1] = {agent_role};
    ax_pipe p = {0};
    rc = pb_pg_pool_get(t->pool, t->shared_db, &tx->lockc, e);
    if (rc == 0)
        rc = pipe_open(&p, tx->lockc, e);
    if (rc)
        goto fail;
    /* One trip: the lock (shared with other steps, exclusive with moves and
     * other operations on the tenant, see tdb_tenant_lock; waiting bounded
     * by lock_timeout), the record read after it was granted (what it says
     * then holds until pb_ax_end), and the checks of the data database,
     * made here on the guess that it is shared_db (rls and schema); wasted
     * for the database layout, which repeats them on its own connection. */
    pipe_addp(&p, AXS_TENANT_LOCK, 1, pt);
    int irow = pipe_addp(&p, AXS_TENANT, 1, pt);
    int ichk = pipe_addp(&p, AXS_CHECKS, 1, pr);
    rc = pipe_run(&p, e);
    if (rc && p.failed == ichk) /* judged below, once the data database is known */
        rc = 0;
    tdb_row row;
    if (rc == 0)
        rc = tenant_usable(&p, irow, tenant_id, &row, e);
    if (rc)
        goto fail;
    tx->rls = row.layout == PB_DM_LAYOUT_RLS;
    rc = data_conn(t, &row, tx->lockc, &tx->c, e);
    if (rc)
        goto fail;
    rc = check_data_db(tx, &p, tx->c == tx->lockc ? ichk : -1, e);
    if (rc)
        goto fail;
    pipe_clear(&p);
    tx->open = 1;
    *out = tx;
    return 0;
fail:
    pipe_clear(&p);
    pb_err_wrap(e, "agent step transaction for tenant %s", tenant_id);
    pb_ax_end(tx);
    return rc;
}

/* A failed step: nothing of this transaction may commit. */
static int abort_tx(pb_ax_tx *tx, int rc)
{
    if (tx->begun && !tx->done)
        pb_pg_rollback(tx->c);
    tx->aborted = 1;
    return rc;
}

static int usable(pb_ax_tx *tx, pb_err *e)
{
    if (!tx || !tx->open)
        return pb_err_set(e, PB_EINVAL, "agentexec: no transaction");
    if (tx->aborted)
        return pb_err_set(e, PB_ECONFLICT, "agentexec: the transaction was aborted by a failed step; end it");
    if (tx->done)
        return pb_err_set(e, PB_EINVAL, "agentexec: the transaction is already committed");
    return 0;
}

/* Queue BEGIN when the transaction has not been begun yet. */
static void pipe_begin(pb_ax_tx *tx, ax_pipe *p)
{
    if (tx->begun)
        return;
    pipe_add(p, "BEGIN", 0, NULL);
    tx->begun = 1;
}

static void pend_clear(pb_ax_tx *tx)
{
    for (size_t i = 0; i < 6; i++) {
        free(tx->pend_audit[i]);
        tx->pend_audit[i] = NULL;
    }
    for (size_t i = 0; i < 20; i++) {
        free(tx->pend_ledger[i]);
        tx->pend_ledger[i] = NULL;
    }
    tx->pending = 0;
}

static int pend_set(pb_ax_tx *tx, const char *const audit[6], const char *const ledger[20], pb_err *e)
{
    int oom = 0;
    for (size_t i = 0; i < 6; i++)
        oom |= audit[i] && !(tx->pend_audit[i] = strdup(audit[i]));
    for (size_t i = 0; i < 20; i++)
        oom |= ledger[i] && !(tx->pend_ledger[i] = strdup(ledger[i]));
    if (oom) {
        pend_clear(tx);
        return pb_err_oom(e);
    }
    tx->pending = 1;
    return 0;
}

/* Queue the pending audit record and ledger entry (-1 in *ia, *il when
 * there are none). libpq copies the parameters as they are queued. */
static void pend_queue(pb_ax_tx *tx, ax_pipe *p, int *ia, int *il)
{
    *ia = *il = -1;
    if (!tx->pending)
        return;
    *ia = pipe_addp(p, AXS_AUDIT_INSERT, 6, (const char *const *)tx->pend_audit);
    *il = pipe_addp(p, AXS_LEDGER_INSERT, 20, (const char *const *)tx->pend_ledger);
    pend_clear(tx);
}

/* A failure of a pending write, said as such (0 when p->failed is not one). */
static int pend_failed(const ax_pipe *p, int ia, int il, pb_err *e)
{
    if (p->failed >= 0 && p->failed == ia)
        return pb_err_wrap(e, "appending to the audit trail");
    if (p->failed >= 0 && p->failed == il)
        return pb_err_wrap(e, "writing the step's ledger entry");
    return 0;
}

static int query_ledger(PGconn *c, const char *tenant, const char *uid, size_t index, PGresult **r, pb_err *e)
{
    char idx[32];
    snprintf(idx, sizeof idx, "%zu", index);
    const char *p[3] = {tenant, uid, idx};
    return pb_pg_query(c, AX_LEDGER_SQL, 3, p, r, e);
}

int pb_ax_lookup(pb_ax_tx *tx, const char *workflow_uid, size_t step_index, pb_ax_result *r, pb_err *e)
{
    int rc = usable(tx, e);
    if (rc)
        return rc;
    if (!workflow_uid || !r)
        return pb_err_set(e, PB_EINVAL, "agentexec: lookup needs a workflow uid and a result");
    char idx[32];
    snprintf(idx, sizeof idx, "%zu", step_index);
    const char *pl[3] = {tx->tenant, workflow_uid, idx};
    ax_pipe p;
    rc = pipe_open(&p, tx->c, e);
    if (rc)
        return abort_tx(tx, pb_err_wrap(e, "reading the agent ledger"));
    pipe_begin(tx, &p);
    int ia, il;
    pend_queue(tx, &p, &ia, &il);
    int iq = pipe_addp(&p, AXS_LEDGER, 3, pl);
    rc = pipe_run(&p, e);
    if (rc) {
        if (!pend_failed(&p, ia, il, e))
            pb_err_wrap(e, "reading the agent ledger");
        pipe_clear(&p);
        return abort_tx(tx, rc);
    }
    if (PQntuples(p.res[iq]) == 0)
        rc = pb_err_set(e, PB_ENOTFOUND, "step %zu of workflow %s is not in the ledger", step_index, workflow_uid);
    else
        rc = fill_result(p.res[iq], 0, r, e);
    pipe_clear(&p);
    return rc;
}

static int write_ledger_params(const char *tenant, const pb_ax_step *s, const char *state, long long rows,
                               const char *result, int truncated, const char *digest, const char *message,
                               long long seq, const char *hash, const char *at, int with_approval, char idx[32],
                               char rs[32], char sq[32], const char *p[20])
{
    snprintf(idx, 32, "%zu", s->index);
    snprintf(rs, 32, "%lld", rows);
    snprintf(sq, 32, "%lld", seq);
    const char *v[20] = {tenant,       s->workflow_uid, idx,    s->workflow, s->name,
                         s->op,        state,           s->policy, s->rule,   s->submitter,
                         with_approval ? s->approval : NULL, s->spec_hash, rs, result, truncated ? "t" : "f",
                         digest,       message,         sq,     hash,        at};
    memcpy(p, v, sizeof v);
    return 20;
}

static int write_ledger(PGconn *c, const char *tenant, const pb_ax_step *s, const char *state, long long rows,
                        const char *result, int truncated, const char *digest, const char *message, long long seq,
                        const char *hash, const char *at, int with_approval, pb_err *e)
{
    char idx[32], rs[32], sq[32];
    const char *p[20];
    int n = write_ledger_params(tenant, s, state, rows, result, truncated, digest, message, seq, hash, at,
                                with_approval, idx, rs, sq, p);
    int rc = pb_pg_query(c, AX_LEDGER_INSERT_SQL, n, p, NULL, e);
    return rc ? pb_err_wrap(e, "writing the ledger entry of step %zu of workflow %s", s->index, s->workflow_uid) : 0;
}

/* Steps 1 to 4 of agentexec.h and the audit chain's head, in one trip (see
 * the pipeline's items below); on success *q is the statement's result and
 * *head the head's (dry run: the time only), both the caller's. */
static int run_step(pb_ax_tx *tx, const pb_ax_step *s, PGresult **q, PGresult **head, pb_err *e)
{
    *q = *head = NULL;
    char key[512], idx[32], ms[32];
    /* The claim locks "<uid>/<index>" as pb_ax_record_failure does: the
     * same bound on the uid. */
    if (step_key(s->workflow_uid, s->index, key, sizeof key))
        return pb_err_set(e, PB_EINVAL, "workflow uid too long");
    snprintf(idx, sizeof idx, "%zu", s->index);
    snprintf(ms, sizeof ms, "%lld", s->timeout_ms);
    const char *pc[3] = {s->workflow_uid, idx, s->approval};
    const char *pa[3] = {s->timeout_ms > 0 ? ms : NULL, tx->role, tx->tenant};
    const char *pb[2] = {tx->admin_role, tx->timeout}, *pt[1] = {tx->tenant};
    ax_pipe p;
    int rc = pipe_open(&p, tx->c, e);
    if (rc)
        return pb_err_wrap(e, "step %zu (%s)", s->index, s->name);
    pipe_begin(tx, &p);
    /* (an earlier step's audit record and ledger entry, if not yet sent) */
    int ia, il;
    pend_queue(tx, &p, &ia, &il);
    /* 1, 2. the step lock (a second operator on the same step waits there
     *    for the first one's transaction), then an error when the step or
     *    the approval is in the ledger, which makes the server skip the
     *    rest: the statement never runs; */
    int iclaim = pipe_addp(&p, AXS_CLAIM, 3, pc);
    /* 3. the agent role, the step's timeout (and the acting tenant); */
    int ias = pipe_addp(&p, tx->rls ? AXS_AS_AGENT_RLS : AXS_AS_AGENT, tx->rls ? 3 : 2, pa);
    /* 4. the statement; */
    int istmt = pipe_add(&p, s->sql, (int)s->n_params, s->params);
    /* 5. back to the admin, and the head of the audit chain read after its
     *    lock (a statement of its own: a snapshot newer than the lock). */
    int iback = pipe_addp(&p, tx->rls ? AXS_AS_ADMIN_RLS : AXS_AS_ADMIN, 2, pb);
    int ihead;
    if (tx->dry_run) {
        ihead = pipe_addp(&p, AXS_DRY_TS, 0, NULL);
    } else {
        ihead = pipe_addp(&p, AXS_HEAD, 1, pt);
    }
    /* The step's own timeout bounds the wait for its answer too. */
    if (s->timeout_ms > 0)
        pb_pg_set_statement_timeout(tx->c, s->timeout_ms < INT_MAX ? (int)s->timeout_ms : INT_MAX);
    rc = pipe_run(&p, e);
    pb_pg_set_statement_timeout(tx->c, -1);
    const char *state = p.failed >= 0 && p.res[p.failed] ? PQresultErrorField(p.res[p.failed], PG_DIAG_SQLSTATE) : NULL;
    if (rc && pend_failed(&p, ia, il, e)) {
        /* said */
    } else if (rc && p.failed == iclaim && state && strcmp(state, AX_STATE_STEP_TAKEN) == 0) {
        const PGresult *r = p.res[iclaim];
        rc = pb_err_set(e, PB_ECONFLICT,
                        "step %zu (%s) of workflow %s is already in the ledger (%s at %s): a step never runs twice",
                        s->index, s->name, s->workflow_uid, PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY),
                        PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL));
    } else if (rc && p.failed == iclaim && state && strcmp(state, AX_STATE_APPROVAL_USED) == 0) {
        const PGresult *r = p.res[iclaim];
        rc = pb_err_set(e, PB_ECONFLICT, "approval %s was already used (workflow %s step %s): an approval is used once",
                        s->approval, PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY),
                        PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL));
    } else if (rc && p.failed == iclaim && state && strcmp(state, "55P03") == 0) {
        pb_err_wrap(e, "waiting for step %zu of workflow %s", s->index, s->workflow_uid);
    } else if (rc && p.failed == iclaim && state &&
               (strcmp(state, "42P01") == 0 || strcmp(state, "42883") == 0 || strcmp(state, "3F000") == 0)) {
        /* The bookkeeping was dropped after pb_ax_begin checked it: nothing
         * ran, and the next transaction's check creates it again. */
        rc = pb_err_set(e, PB_EUNAVAILABLE, "step %zu (%s): the agent ledger is gone (%s); it is created again by "
                        "the next transaction", s->index, s->name, PQresultErrorMessage(p.res[iclaim]));
    } else if (rc && p.failed == iclaim) {
        pb_err_wrap(e, "reading the agent ledger");
    } else if (rc && p.failed == ias) {
        pb_err_wrap(e, "step %zu (%s): switching to agent role %s", s->index, s->name, tx->role);
    } else if (rc && p.failed == istmt) {
        pb_err_wrap(e, "step %zu (%s) as %s", s->index, s->name, tx->role);
    } else if (rc && p.failed == iback) {
        pb_err_wrap(e, "step %zu (%s): back to the admin role", s->index, s->name);
    } else if (rc) {
        pb_err_wrap(e, "step %zu (%s): appending to the audit trail", s->index, s->name);
    } else if (!pipe_val(&p, ias, tx->rls ? 2 : 1) || strcmp(pipe_val(&p, ias, tx->rls ? 2 : 1), tx->role) != 0 ||
               !pipe_val(&p, iback, 0) || strcmp(pipe_val(&p, iback, 0), tx->admin_role) != 0) {
        /* set_config answers with the value in effect: the role the
         * statement ran as, and the one the bookkeeping runs as. */
        rc = pb_err_set(e, PB_EINTERNAL, "step %zu (%s): role switch did not take", s->index, s->name);
    }
    if (rc == 0) {
        *q = p.res[istmt];
        *head = p.res[ihead];
        p.res[istmt] = p.res[ihead] = NULL;
    }
    pipe_clear(&p);
    return rc;
}

int pb_ax_exec(pb_ax_tx *tx, const pb_ax_step *s, pb_ax_result *r, pb_err *e)
{
    int rc = usable(tx, e);
    if (rc)
        return rc;
    if (!r)
        return pb_err_set(e, PB_EINVAL, "agentexec: a result is required");
    memset(r, 0, sizeof *r);
    rc = check_step(s, e);
    if (rc)
        return abort_tx(tx, rc);
    PGresult *q = NULL, *head = NULL;
    rc = run_step(tx, s, &q, &head, e);
    if (rc)
        return abort_tx(tx, rc);
    long long rows = 0;
    if (s->returns_rows) {
        if (PQnfields(q) != (int)s->n_columns)
            rc = pb_err_set(e, PB_EINTERNAL, "step %zu (%s) returned %d columns, %zu expected", s->index, s->name,
                            PQnfields(q), s->n_columns);
        rows = PQntuples(q);
    } else {
        rows = atoll(PQcmdTuples(q));
    }
    if (rc == 0 && (rows > s->cap || (s->returns_rows && s->fetch_is_probe && rows >= s->fetch))) {
        if (s->returns_rows && s->fetch_is_probe)
            rc = pb_err_set(e, PB_ETOOLARGE,
                            "step %s would touch at least %lld rows, more than the %lld allowed; nothing was changed",
                            s->name, rows, s->cap);
        else
            rc = pb_err_set(e, PB_ETOOLARGE,
                            "step %s would touch %lld rows, more than the %lld allowed; nothing was changed", s->name,
                            rows, s->cap);
    }
    json_t *result = NULL;
    int truncated = 0;
    char digest[65];
    if (rc == 0 && s->returns_rows) {
        rc = rows_json(q, s, &result, &truncated, digest, e);
    } else if (rc == 0) {
        char text[48];
        snprintf(text, sizeof text, "rows=%lld", rows);
        rc = sha_hex(text, NULL, digest, e);
    }
    PQclear(q);
    char *rtext = NULL;
    if (rc == 0 && result && !(rtext = json_dumps(result, JSON_COMPACT)))
        rc = pb_err_oom(e);
    long long seq = 0;
    char hash[65] = "", at[40] = "";
    copy_str(at, sizeof at, PQgetisnull(head, 0, 2) ? NULL : PQgetvalue(head, 0, 2));
    if (rc == 0 && !tx->dry_run) {
        /* The audit record, then the ledger entry naming it: sent with
         * what comes next in this transaction (see pending in pb_ax_tx). */
        json_t *rec = step_record(s, tx->role, "committed", rows, digest, NULL, e);
        rc = rec ? 0 : (e && e->code ? e->code : PB_EINVAL);
        if (rc == 0 && truncated)
            json_object_set_new(rec, "result_truncated", json_true());
        char seqs[32], prev[65], *text = NULL;
        if (rc == 0)
            rc = audit_next(tx->tenant, rec, PQgetisnull(head, 0, 0) ? NULL : PQgetvalue(head, 0, 0),
                            PQgetisnull(head, 0, 1) ? NULL : PQgetvalue(head, 0, 1), at, &seq, seqs, prev, hash,
                            &text, e);
        json_decref(rec);
        if (rc == 0) {
            const char *pi[6] = {tx->tenant, seqs, prev, hash, at, text};
            char idx[32], rs[32], sq[32];
            const char *pl[20];
            write_ledger_params(tx->tenant, s, "committed", rows, rtext, truncated, digest, NULL, seq, hash, at, 1,
                                idx, rs, sq, pl);
            rc = pend_set(tx, pi, pl, e);
        }
        free(text);
    }
    PQclear(head);
    free(rtext);
    if (rc) {
        json_decref(result);
        return abort_tx(tx, rc);
    }
    copy_str(r->state, sizeof r->state, "committed");
    r->rows = rows;
    r->result = result;
    r->truncated = truncated;
    copy_str(r->digest, sizeof r->digest, digest);
    copy_str(r->at, sizeof r->at, at);
    r->audit_seq = seq;
    return 0;
}

int pb_ax_commit(pb_ax_tx *tx, pb_err *e)
{
    int rc = usable(tx, e);
    if (rc)
        return rc;
    tx->done = 1;
    /* Nothing was sent (no lookup, no step): there is nothing to commit. */
    if (!tx->begun)
        return 0;
    if (tx->dry_run) {
        pb_pg_rollback(tx->c);
        return 0;
    }
    /* The step's audit record and ledger entry, then COMMIT, in one trip:
     * should a write fail, the server skips the COMMIT. */
    ax_pipe p;
    rc = pipe_open(&p, tx->c, e);
    int ia = -1, il = -1;
    if (rc == 0) {
        pend_queue(tx, &p, &ia, &il);
        pipe_add(&p, "COMMIT", 0, NULL);
        rc = pipe_run(&p, e);
        pend_failed(&p, ia, il, e);
        pipe_clear(&p);
    }
    if (rc && PQstatus(tx->c) != CONNECTION_OK)
        rc = pb_err_set(e, PB_EUNAVAILABLE,
                        "commit of the agent step transaction: outcome unknown (connection lost): look the step up");
    if (rc)
        pb_pg_rollback(tx->c);
    return rc;
}

void pb_ax_end(pb_ax_tx *tx)
{
    if (!tx)
        return;
    if (tx->begun && !tx->done && !tx->aborted)
        pb_pg_rollback(tx->c);
    pend_clear(tx);
    /* The tenant's shared lock goes with the connection (put_conns). */
    put_conns(tx->t, tx->lockc, tx->c);
    free(tx);
}

/* ---- outside a step's transaction ----------------------------------------------- */

int pb_ax_record_failure(pb_tdb *t, const char *tenant_id, const pb_ax_step *s, const char *message, pb_err *e)
{
    int rc = check_step(s, e);
    if (rc)
        return rc;
    PGconn *lockc, *c;
    rc = open_data(t, tenant_id, &lockc, &c, e);
    if (rc)
        return pb_err_wrap(e, "recording the failure of step %zu of workflow %s", s->index, s->workflow_uid);
    char key[512];
    if (step_key(s->workflow_uid, s->index, key, sizeof key))
        rc = pb_err_set(e, PB_EINVAL, "workflow uid too long");
    const char *pk[1] = {key};
    if (rc == 0)
        rc = pb_pg_begin(c, e);
    if (rc == 0)
        rc = pb_pg_query(c,
                         "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('paybill.agent_step'), "
                         "pg_catalog.hashtext($1))",
                         1, pk, NULL, e);
    PGresult *q = NULL;
    if (rc == 0)
        rc = query_ledger(c, NULL, s->workflow_uid, s->index, &q, e);
    int exists = rc == 0 && PQntuples(q) > 0;
    if (exists && strcmp(PQgetvalue(q, 0, 0), "failed") != 0)
        rc = pb_err_set(e, PB_ECONFLICT, "step %zu of workflow %s is committed: it did not fail", s->index,
                        s->workflow_uid);
    PQclear(q);
    if (rc == 0 && !exists) {
        char msg[PB_ERR_MSG_MAX];
        utf8_clean(message ? message : "failed", msg, sizeof msg);
        json_t *rec = step_record(s, NULL, "failed", 0, NULL, msg, e);
        long long seq = 0;
        char hash[65], at[40];
        rc = rec ? 0 : (e && e->code ? e->code : PB_EINVAL);
        if (rc == 0)
            rc = audit_append(c, tenant_id, rec, &seq, hash, at, e);
        json_decref(rec);
        if (rc == 0)
            rc = write_ledger(c, tenant_id, s, "failed", 0, NULL, 0, NULL, msg, seq, hash, at, 0, e);
    }
    if (rc == 0)
        rc = pb_pg_commit(c, e);
    if (rc) {
        pb_pg_rollback(c);
        pb_err_wrap(e, "recording the failure of step %zu of workflow %s", s->index, s->workflow_uid);
    }
    put_conns(t, lockc, c);
    return rc;
}

int pb_ax_audit(pb_tdb *t, const char *tenant_id, const json_t *record, pb_err *e)
{
    if (!json_is_object(record))
        return pb_err_set(e, PB_EINVAL, "agentexec: an audit record must be a JSON object");
    json_t *rec = json_deep_copy(record);
    if (!rec)
        return pb_err_oom(e);
    PGconn *lockc, *c;
    int rc = open_data(t, tenant_id, &lockc, &c, e);
    if (rc == 0) {
        long long seq;
        char hash[65], at[40];
        rc = pb_pg_begin(c, e);
        if (rc == 0)
            rc = audit_append(c, tenant_id, rec, &seq, hash, at, e);
        if (rc == 0)
            rc = pb_pg_commit(c, e);
        if (rc)
            pb_pg_rollback(c);
        put_conns(t, lockc, c);
    }
    json_decref(rec);
    return rc ? pb_err_wrap(e, "audit record for tenant %s", tenant_id ? tenant_id : "") : 0;
}

int pb_ax_usage(pb_tdb *t, const char *tenant_id, const char *policy, const char *submitter, long window_s,
                long long *workflows, long long *rows, long long *steps, pb_err *e)
{
    if (window_s < 0)
        return pb_err_set(e, PB_EINVAL, "agentexec: negative usage window");
    PGconn *lockc, *c;
    int rc = open_data(t, tenant_id, &lockc, &c, e);
    if (rc)
        return pb_err_wrap(e, "agent usage of tenant %s", tenant_id ? tenant_id : "");
    char w[32];
    snprintf(w, sizeof w, "%ld", window_s);
    const char *p[4] = {tenant_id, w, policy, submitter};
    PGresult *q;
    rc = pb_pg_query(c,
                     "SELECT count(DISTINCT workflow_uid), coalesce(sum(rows), 0), count(*) FROM paybill.agent_ledger "
                     "WHERE tenant_id = $1 AND state = 'committed' "
                     "AND ($2::bigint = 0 OR at > pg_catalog.now() - pg_catalog.make_interval(secs => $2::bigint)) "
                     "AND ($3::text IS NULL OR policy = $3) AND ($4::text IS NULL OR submitter = $4)",
                     4, p, &q, e);
    if (rc == 0) {
        if (workflows)
            *workflows = atoll(PQgetvalue(q, 0, 0));
        if (rows)
            *rows = atoll(PQgetvalue(q, 0, 1));
        if (steps)
            *steps = atoll(PQgetvalue(q, 0, 2));
        PQclear(q);
    }
    put_conns(t, lockc, c);
    return rc ? pb_err_wrap(e, "agent usage of tenant %s", tenant_id) : 0;
}

int pb_ax_ledger(pb_tdb *t, const char *tenant_id, const char *workflow_uid, json_t **out, pb_err *e)
{
    *out = NULL;
    if (!workflow_uid)
        return pb_err_set(e, PB_EINVAL, "agentexec: a workflow uid is required");
    PGconn *lockc, *c;
    int rc = open_data(t, tenant_id, &lockc, &c, e);
    if (rc)
        return pb_err_wrap(e, "agent ledger of workflow %s", workflow_uid);
    const char *p[2] = {tenant_id, workflow_uid};
    PGresult *q = NULL;
    rc = pb_pg_query(c,
                     "SELECT " LEDGER_COLS " FROM paybill.agent_ledger WHERE tenant_id = $1 AND workflow_uid = $2 "
                     "ORDER BY step_index",
                     2, p, &q, e);
    json_t *arr = rc == 0 ? json_array() : NULL;
    if (rc == 0 && !arr)
        rc = pb_err_oom(e);
    for (int i = 0; rc == 0 && i < PQntuples(q); i++) {
        pb_ax_result r;
        rc = fill_result(q, i, &r, e);
        if (rc)
            break;
        json_t *o = json_pack("{s:I, s:o, s:o, s:s, s:I, s:o, s:s, s:o, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:b}",
                              "step", (json_int_t)atoll(PQgetvalue(q, i, 8)), "name", str_or_null(val(q, i, 9)), "op",
                              str_or_null(val(q, i, 10)), "state", r.state, "rows", (json_int_t)r.rows, "digest",
                              str_or_null(val(q, i, 4)), "at", r.at, "message", str_or_null(val(q, i, 6)),
                              "audit_seq", (json_int_t)r.audit_seq, "policy", str_or_null(val(q, i, 11)), "rule",
                              str_or_null(val(q, i, 12)), "submitter", str_or_null(val(q, i, 13)), "approval",
                              str_or_null(val(q, i, 14)), "spec_hash", str_or_null(val(q, i, 15)), "result",
                              r.result ? json_incref(r.result) : json_null(), "truncated", r.truncated);
        pb_ax_result_clear(&r);
        if (!o || json_array_append_new(arr, o))
            rc = pb_err_oom(e);
    }
    PQclear(q);
    put_conns(t, lockc, c);
    if (rc) {
        json_decref(arr);
        return pb_err_wrap(e, "agent ledger of workflow %s", workflow_uid);
    }
    *out = arr;
    return 0;
}

/* One audit row against what the chain says it must be. */
static int verify_row(const char *tenant, long long want_seq, const char *prev, const PGresult *q, int i,
                      char hash_out[65], pb_err *e)
{
    long long seq = atoll(PQgetvalue(q, i, 0));
    const char *prev_hash = PQgetvalue(q, i, 1), *hash = PQgetvalue(q, i, 2), *record = PQgetvalue(q, i, 3);
    if (seq != want_seq)
        return pb_err_set(e, PB_ECONFLICT, "audit record %lld is missing (the next one is %lld)", want_seq, seq);
    if (strcmp(prev_hash, prev) != 0)
        return pb_err_set(e, PB_ECONFLICT, "audit record %lld: prev_hash mismatch (it is not chained to record %lld)",
                          seq, seq - 1);
    char h[65];
    int rc = sha_hex(prev_hash, record, h, e);
    if (rc)
        return rc;
    if (strcmp(h, hash) != 0)
        return pb_err_set(e, PB_ECONFLICT, "audit record %lld: hash mismatch (the record was altered)", seq);
    json_error_t je;
    json_t *j = json_loads(record, 0, &je);
    json_int_t rs = json_integer_value(json_object_get(j, "seq"));
    const char *rt = json_string_value(json_object_get(j, "tenant"));
    int same = j && rs == seq && rt && strcmp(rt, tenant) == 0;
    json_decref(j);
    if (!same)
        return pb_err_set(e, PB_ECONFLICT, "audit record %lld: the record names another seq or tenant", seq);
    copy_str(hash_out, 65, hash);
    return 0;
}

int pb_ax_verify(pb_tdb *t, const char *tenant_id, long long *records, pb_err *e)
{
    if (records)
        *records = 0;
    PGconn *lockc, *c;
    int rc = open_data(t, tenant_id, &lockc, &c, e);
    if (rc)
        return pb_err_wrap(e, "verifying the audit trail of tenant %s", tenant_id ? tenant_id : "");
    /* One snapshot for the whole walk and the ledger cross-check. */
    rc = pb_pg_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", e);
    char prev[65] = AX_ZERO_HASH;
    long long n = 0;
    while (rc == 0) {
        char after[32];
        snprintf(after, sizeof after, "%lld", n);
        const char *p[2] = {tenant_id, after};
        PGresult *q;
        rc = pb_pg_query(c,
                         "SELECT seq, prev_hash, hash, record FROM paybill.agent_audit WHERE tenant_id = $1 "
                         "AND seq > $2::bigint ORDER BY seq LIMIT " AX_VERIFY_BATCH,
                         2, p, &q, e);
        if (rc)
            break;
        int got = PQntuples(q);
        for (int i = 0; rc == 0 && i < got; i++) {
            rc = verify_row(tenant_id, n + 1, prev, q, i, prev, e);
            if (rc == 0)
                n++;
        }
        PQclear(q);
        if (got == 0)
            break;
    }
    /* The ledger names the audit record of every entry and its hash: a
     * record removed from the end, or a chain rewritten from some point
     * on, shows there. */
    if (rc == 0) {
        const char *p[1] = {tenant_id};
        PGresult *q;
        rc = pb_pg_query(c,
                         "SELECT l.audit_seq, l.workflow_uid, l.step_index, a.hash IS NULL, a.hash = l.audit_hash "
                         "FROM paybill.agent_ledger l LEFT JOIN paybill.agent_audit a "
                         "ON a.tenant_id = l.tenant_id AND a.seq = l.audit_seq "
                         "WHERE l.tenant_id = $1 AND l.audit_seq IS NOT NULL "
                         "AND (a.hash IS NULL OR a.hash <> l.audit_hash) ORDER BY l.audit_seq LIMIT 1",
                         1, p, &q, e);
        if (rc == 0 && PQntuples(q) == 1) {
            int missing = strcmp(PQgetvalue(q, 0, 3), "t") == 0;
            rc = pb_err_set(e, PB_ECONFLICT, "audit record %s: %s (ledger entry of workflow %s step %s)",
                            PQgetvalue(q, 0, 0), missing ? "missing record" : "hash differs from the ledger's",
                            PQgetvalue(q, 0, 1), PQgetvalue(q, 0, 2));
        }
        PQclear(q);
    }
    pb_pg_rollback(c);
    put_conns(t, lockc, c);
    if (rc)
        return pb_err_wrap(e, "audit trail of tenant %s", tenant_id);
    if (records)
        *records = n;
    return 0;
}
