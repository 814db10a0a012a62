/*
 * agentexec.c - the Workflow executor's database side (see agentexec.h):
 * the bookkeeping tables, one step per transaction under the agent role,
 * the ledger, the hash-chained audit trail and its verification.
 *
 * Every statement here is parameterised or built with pb_pg_format's %I;
 * the admin sessions resolve names in pg_catalog only, so every object is
 * schema-qualified. Hashes are computed in C (util/secret), so verification
 * does not trust anything the database computes.
 */
#include "provision/agentexec.h"

#include <inttypes.h>
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
    "  FOR EACH STATEMENT EXECUTE FUNCTION paybill.agent_audit_refuse();\n";

/* Both tables there and both triggers enabled. */
static const char BOOKKEEPING_CHECK[] =
    "SELECT pg_catalog.to_regclass('paybill.agent_ledger') IS NOT NULL AND "
    "(SELECT count(*) FROM pg_catalog.pg_trigger WHERE tgrelid = pg_catalog.to_regclass('paybill.agent_audit') "
    " AND tgname IN ('agent_audit_append_only', 'agent_audit_no_truncate') AND tgenabled <> 'D') = 2";

struct pb_ax_tx {
    pb_tdb *t;
    PGconn *lockc; /* shared_db: holds the tenant's lock in shared mode */
    PGconn *c;     /* the data database (== lockc for rls and schema) */
    char tenant[TDB_NAME_MAX];
    char role[TDB_NAME_MAX];
    char timeout[32]; /* the session's statement_timeout, restored after a step */
    int rls, dry_run;
    int in_tx, done, aborted, locked;
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

static void put_conns(pb_tdb *t, PGconn *lockc, PGconn *c)
{
    if (c && c != lockc)
        tdb_put_conn(t, c);
    if (lockc)
        tdb_put_conn(t, lockc);
}

/* Create the bookkeeping tables when missing (outside any transaction on
 * c). Concurrent creators are serialised by an advisory lock. */
static int ensure_bookkeeping(PGconn *c, pb_err *e)
{
    PGresult *r;
    int rc = pb_pg_query(c, BOOKKEEPING_CHECK, 0, NULL, &r, e);
    if (rc)
        return pb_err_wrap(e, "checking the agent ledger");
    int ok = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (ok)
        return 0;
    rc = pb_pg_begin(c, e);
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

/* Append `rec` (an object; "tenant", "seq" and "at" are set here) to the
 * tenant's chain, inside the caller's transaction on c, as the admin. */
static int audit_append(PGconn *c, const char *tenant, json_t *rec, long long *seq, char hash[65], char at[40],
                        pb_err *e)
{
    const char *p1[1] = {tenant};
    PGresult *r = NULL;
    int rc = pb_pg_query(c,
                         "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('paybill.agent_audit'), "
                         "pg_catalog.hashtext($1))",
                         1, p1, NULL, e);
    if (rc == 0)
        rc = pb_pg_query(c,
                         "SELECT (SELECT seq FROM paybill.agent_audit WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1), "
                         "(SELECT hash FROM paybill.agent_audit WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1), " AX_TS_SQL,
                         1, p1, &r, e);
    if (rc)
        return pb_err_wrap(e, "appending to the audit trail");
    long long next = PQgetisnull(r, 0, 0) ? 1 : atoll(PQgetvalue(r, 0, 0)) + 1;
    char prev[65];
    copy_str(prev, sizeof prev, PQgetisnull(r, 0, 1) ? AX_ZERO_HASH : PQgetvalue(r, 0, 1));
    copy_str(at, 40, PQgetvalue(r, 0, 2));
    PQclear(r);
    if (json_object_set_new(rec, "tenant", json_string(tenant)) || json_object_set_new(rec, "seq", json_integer(next)) ||
        json_object_set_new(rec, "at", json_string(at)))
        return pb_err_oom(e);
    char *text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return pb_err_set(e, PB_EINVAL, "audit record cannot be serialised");
    rc = sha_hex(prev, text, hash, e);
    char seqs[32];
    snprintf(seqs, sizeof seqs, "%lld", next);
    const char *p[6] = {tenant, seqs, prev, hash, at, text};
    if (rc == 0)
        rc = pb_pg_query(c,
                         "INSERT INTO paybill.agent_audit (tenant_id, seq, prev_hash, hash, at, record) "
                         "VALUES ($1, $2::bigint, $3, $4, $5::timestamptz, $6)",
                         6, p, NULL, e);
    free(text);
    if (rc)
        return pb_err_wrap(e, "appending to the audit trail");
    *seq = next;
    return 0;
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

/* ---- transactions ------------------------------------------------------------------ */

/* The agent role exists and cannot get around the grants and policies:
 * not a superuser, no BYPASSRLS, not a member of the owner role. */
static int check_agent_role(PGconn *c, const char *role, const char *tenant, pb_err *e)
{
    const char *p[1] = {role};
    PGresult *q;
    int rc = pb_pg_query(c,
                         "SELECT rolsuper OR rolbypassrls OR pg_catalog.pg_has_role(oid, '" TDB_OWNER_ROLE "', 'MEMBER') "
                         "FROM pg_catalog.pg_roles WHERE rolname = $1",
                         1, p, &q, e);
    if (rc)
        return rc;
    if (PQntuples(q) == 0)
        rc = pb_err_set(e, PB_ENOTFOUND, "agent role %s of tenant %s does not exist", role, tenant);
    else if (strcmp(PQgetvalue(q, 0, 0), "f") != 0)
        rc = pb_err_set(e, PB_EFORBIDDEN,
                        "agent role %s is a superuser, has BYPASSRLS or is a member of " TDB_OWNER_ROLE
                        ": refusing to run steps as it",
                        role);
    PQclear(q);
    return rc;
}

int pb_ax_begin(pb_tdb *t, const char *tenant_id, const char *agent_role, int dry_run, pb_ax_tx **out,
                pb_err *e)
{
    *out = NULL;
    if (!t || !agent_role || !*agent_role || strlen(agent_role) >= TDB_NAME_MAX)
        return pb_err_set(e, PB_EINVAL, "agentexec: a tenant database and an agent role are required");
    pb_ax_tx *tx = calloc(1, sizeof *tx);
    if (!tx)
        return pb_err_oom(e);
    tx->t = t;
    tx->dry_run = dry_run != 0;
    char expected[TDB_NAME_MAX];
    snprintf(expected, sizeof expected, "pb_a_%s", tenant_id ? tenant_id : "");
    copy_str(tx->role, sizeof tx->role, agent_role);
    tdb_row row;
    int rc = tdb_open_tenant(t, tenant_id, 0, &tx->lockc, &row, e);
    if (rc == 0 && strcmp(agent_role, expected) != 0)
        rc = pb_err_set(e, PB_EINVAL, "agent role %s is not tenant %s's (%s)", agent_role, tenant_id, expected);
    if (rc)
        goto fail;
    copy_str(tx->tenant, sizeof tx->tenant, tenant_id);
    const char *p1[1] = {tenant_id};
    /* Shared with other steps, exclusive with moves and other operations
     * on the tenant (tdb_tenant_lock); waiting is bounded by lock_timeout. */
    rc = pb_pg_query(tx->lockc,
                     "SELECT pg_catalog.pg_advisory_lock_shared(pg_catalog.hashtext('paybill.tenant'), "
                     "pg_catalog.hashtext($1))",
                     1, p1, NULL, e);
    if (rc)
        goto fail;
    tx->locked = 1;
    /* Read the record again under the lock: what it says now holds until
     * pb_ax_end. */
    rc = tdb_load_row(tx->lockc, tenant_id, &row, e);
    if (rc == 0 && (!row.found || row.moved_to[0]))
        rc = pb_err_set(e, PB_ENOTFOUND, "tenant %s is not on this server", tenant_id);
    else if (rc == 0 && (row.has_move || row.move_server[0] || row.arriving_from[0]))
        rc = pb_err_set(e, PB_ECONFLICT, "tenant %s is moving: no step runs until the move is finished", tenant_id);
    else if (rc == 0 && strcmp(row.state, "active") != 0)
        rc = pb_err_set(e, PB_ECONFLICT, "tenant %s is %s: no step runs", tenant_id, row.state);
    if (rc)
        goto fail;
    tx->rls = row.layout == PB_DM_LAYOUT_RLS;
    rc = data_conn(t, &row, tx->lockc, &tx->c, e);
    if (rc)
        goto fail;
    rc = check_agent_role(tx->c, agent_role, tenant_id, e);
    if (rc == 0)
        rc = ensure_bookkeeping(tx->c, e);
    PGresult *r = NULL;
    if (rc == 0)
        rc = pb_pg_query(tx->c, "SELECT pg_catalog.current_setting('statement_timeout')", 0, NULL, &r, e);
    if (rc)
        goto fail;
    copy_str(tx->timeout, sizeof tx->timeout, PQgetvalue(r, 0, 0));
    PQclear(r);
    rc = pb_pg_begin(tx->c, e);
    if (rc)
        goto fail;
    tx->in_tx = 1;
    *out = tx;
    return 0;
fail:
    pb_err_wrap(e, "agent step transaction for tenant %s", tenant_id ? tenant_id : "");
    pb_ax_end(tx);
    return rc;
}

/* A failed step: nothing of this transaction may commit. */
static int abort_tx(pb_ax_tx *tx, int rc)
{
    if (tx->in_tx && !tx->done)
        pb_pg_rollback(tx->c);
    tx->aborted = 1;
    return rc;
}

static int usable(pb_ax_tx *tx, pb_err *e)
{
    if (!tx || !tx->in_tx)
        return pb_err_set(e, PB_EINVAL, "agentexec: no transaction");
    if (tx->aborted)
        return pb_err_set(e, PB_ECONFLICT, "agentexec: the transaction was aborted by a failed step; end it");
    if (tx->done)
        return pb_err_set(e, PB_EINVAL, "agentexec: the transaction is already committed");
    return 0;
}

static int query_ledger(PGconn *c, const char *tenant, const char *uid, size_t index, PGresult **r, pb_err *e)
{
    char idx[32];
    snprintf(idx, sizeof idx, "%zu", index);
    const char *p[3] = {tenant, uid, idx};
    return pb_pg_query(c,
                       "SELECT " LEDGER_COLS ", tenant_id FROM paybill.agent_ledger "
                       "WHERE workflow_uid = $2 AND step_index = $3::bigint AND ($1::text IS NULL OR tenant_id = $1)",
                       3, p, r, e);
}

int pb_ax_lookup(pb_ax_tx *tx, const char *workflow_uid, size_t step_index, pb_ax_result *r, pb_err *e)
{
    int rc = usable(tx, e);
    if (rc)
        return rc;
    if (!workflow_uid || !r)
        return pb_err_set(e, PB_EINVAL, "agentexec: lookup needs a workflow uid and a result");
    PGresult *q;
    rc = query_ledger(tx->c, tx->tenant, workflow_uid, step_index, &q, e);
    if (rc)
        return abort_tx(tx, pb_err_wrap(e, "reading the agent ledger"));
    if (PQntuples(q) == 0)
        rc = pb_err_set(e, PB_ENOTFOUND, "step %zu of workflow %s is not in the ledger", step_index, workflow_uid);
    else
        rc = fill_result(q, 0, r, e);
    PQclear(q);
    return rc;
}

/* The step lock and the ledger/approval checks (step 1 and 2 of the top of
 * agentexec.h). */
static int claim_step(pb_ax_tx *tx, const pb_ax_step *s, pb_err *e)
{
    char key[512];
    if (step_key(s->workflow_uid, s->index, key, sizeof key))
        return pb_err_set(e, PB_EINVAL, "workflow uid too long");
    const char *pk[1] = {key};
    int rc = pb_pg_query(tx->c,
                         "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('paybill.agent_step'), "
                         "pg_catalog.hashtext($1))",
                         1, pk, NULL, e);
    if (rc)
        return pb_err_wrap(e, "waiting for step %zu of workflow %s", s->index, s->workflow_uid);
    PGresult *q;
    rc = query_ledger(tx->c, NULL, s->workflow_uid, s->index, &q, e);
    if (rc)
        return pb_err_wrap(e, "reading the agent ledger");
    if (PQntuples(q) > 0) {
        rc = pb_err_set(e, PB_ECONFLICT,
                        "step %zu (%s) of workflow %s is already in the ledger (%s at %s): a step never runs twice",
                        s->index, s->name, s->workflow_uid, PQgetvalue(q, 0, 0), PQgetvalue(q, 0, 5));
        PQclear(q);
        return rc;
    }
    PQclear(q);
    if (!s->approval)
        return 0;
    const char *pa[1] = {s->approval};
    rc = pb_pg_query(tx->c, "SELECT workflow_uid, step_index FROM paybill.agent_ledger WHERE approval = $1", 1, pa,
                     &q, e);
    if (rc)
        return pb_err_wrap(e, "reading the agent ledger");
    if (PQntuples(q) > 0)
        rc = pb_err_set(e, PB_ECONFLICT, "approval %s was already used (workflow %s step %s): an approval is used once",
                        s->approval, PQgetvalue(q, 0, 0), PQgetvalue(q, 0, 1));
    PQclear(q);
    return rc;
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

/* Steps 3 and 4: the statement as the agent role; back to the admin after. */
static int run_as_agent(pb_ax_tx *tx, const pb_ax_step *s, PGresult **q, long long *rows, pb_err *e)
{
    int rc = 0;
    if (tx->rls) {
        const char *p[1] = {tx->tenant};
        rc = pb_pg_query(tx->c, "SELECT pg_catalog.set_config('" TDB_ACTING_TENANT_GUC "', $1, true)", 1, p, NULL, e);
    }
    if (rc == 0 && s->timeout_ms > 0) {
        char ms[32];
        snprintf(ms, sizeof ms, "%lld", s->timeout_ms);
        const char *p[1] = {ms};
        rc = pb_pg_query(tx->c, "SELECT pg_catalog.set_config('statement_timeout', $1, true)", 1, p, NULL, e);
    }
    if (rc == 0)
        rc = pb_pg_execf(tx->c, e, "SET LOCAL ROLE %I", tx->role);
    if (rc)
        return pb_err_wrap(e, "step %zu (%s): switching to agent role %s", s->index, s->name, tx->role);
    rc = pb_pg_query(tx->c, s->sql, (int)s->n_params, s->params, q, e);
    if (rc)
        return pb_err_wrap(e, "step %zu (%s) as %s", s->index, s->name, tx->role);
    if (s->returns_rows) {
        if (PQnfields(*q) != (int)s->n_columns)
            return pb_err_set(e, PB_EINTERNAL, "step %zu (%s) returned %d columns, %zu expected", s->index, s->name,
                              PQnfields(*q), s->n_columns);
        *rows = PQntuples(*q);
    } else {
        *rows = atoll(PQcmdTuples(*q));
    }
    const char *pt[1] = {tx->timeout};
    rc = pb_pg_exec(tx->c, "RESET ROLE", e);
    if (rc == 0)
        rc = pb_pg_query(tx->c, "SELECT pg_catalog.set_config('statement_timeout', $1, true)", 1, pt, NULL, e);
    if (rc == 0 && tx->rls)
        rc = pb_pg_query(tx->c, "SELECT pg_catalog.set_config('" TDB_ACTING_TENANT_GUC "', '', true)", 0, NULL, NULL, e);
    return rc ? pb_err_wrap(e, "step %zu (%s): back to the admin role", s->index, s->name) : 0;
}

static int write_ledger(PGconn *c, const char *tenant, const pb_ax_step *s, const char *state, long long rows,
                        const char *result, int truncated, const char *digest, const char *message, long long seq,
                        const char *hash, const char *at, int with_approval, pb_err *e)
{
    char idx[32], rs[32], sq[32];
    snprintf(idx, sizeof idx, "%zu", s->index);
    snprintf(rs, sizeof rs, "%lld", rows);
    snprintf(sq, sizeof sq, "%lld", seq);
    const char *p[20] = {tenant,     s->workflow_uid, idx,       s->workflow, s->name,  s->op,
                         state,      s->policy,       s->rule,   s->submitter, with_approval ? s->approval : NULL,
                         s->spec_hash, rs,            result,    truncated ? "t" : "f", digest,
                         message,    sq,              hash,      at};
    int rc = pb_pg_query(c,
                         "INSERT INTO paybill.agent_ledger (tenant_id, workflow_uid, step_index, workflow, step_name, op, "
                         "state, policy, rule, submitter, approval, spec_hash, rows, result, result_truncated, digest, "
                         "message, audit_seq, audit_hash, at) VALUES ($1, $2, $3::bigint, $4, $5, $6, $7, $8, $9, $10, "
                         "$11, $12, $13::bigint, $14, $15::boolean, $16, pg_catalog.left($17, 500), $18::bigint, $19, $20::timestamptz)",
                         20, p, NULL, e);
    return rc ? pb_err_wrap(e, "writing the ledger entry of step %zu of workflow %s", s->index, s->workflow_uid) : 0;
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
    rc = claim_step(tx, s, e);
    if (rc)
        return abort_tx(tx, rc);
    PGresult *q = NULL;
    long long rows = 0;
    rc = run_as_agent(tx, s, &q, &rows, e);
    if (rc) {
        PQclear(q);
        return abort_tx(tx, rc);
    }
    if (rows > s->cap || (s->returns_rows && s->fetch_is_probe && rows >= s->fetch)) {
        PQclear(q);
        if (s->returns_rows && s->fetch_is_probe)
            rc = pb_err_set(e, PB_ETOOLARGE,
                            "step %s would touch at least %lld rows, more than the %lld allowed; nothing was changed",
                            s->name, rows, s->cap);
        else
            rc = pb_err_set(e, PB_ETOOLARGE,
                            "step %s would touch %lld rows, more than the %lld allowed; nothing was changed", s->name,
                            rows, s->cap);
        return abort_tx(tx, rc);
    }
    json_t *result = NULL;
    int truncated = 0;
    char digest[65];
    if (s->returns_rows) {
        rc = rows_json(q, s, &result, &truncated, digest, e);
    } else {
        char text[48];
        snprintf(text, sizeof text, "rows=%lld", rows);
        rc = sha_hex(text, NULL, digest, e);
    }
    PQclear(q);
    if (rc)
        return abort_tx(tx, rc);
    char *rtext = NULL;
    if (result && !(rtext = json_dumps(result, JSON_COMPACT))) {
        json_decref(result);
        return abort_tx(tx, pb_err_oom(e));
    }
    long long seq = 0;
    char hash[65] = "", at[40] = "";
    if (tx->dry_run) {
        PGresult *tq;
        rc = pb_pg_query(tx->c, "SELECT " AX_TS_SQL, 0, NULL, &tq, e);
        if (rc == 0) {
            copy_str(at, sizeof at, PQgetvalue(tq, 0, 0));
            PQclear(tq);
        }
    } else {
        json_t *rec = step_record(s, tx->role, "committed", rows, digest, NULL, e);
        rc = rec ? 0 : (e && e->code ? e->code : PB_EINVAL);
        if (rc == 0 && truncated)
            json_object_set_new(rec, "result_truncated", json_true());
        if (rc == 0)
            rc = audit_append(tx->c, tx->tenant, rec, &seq, hash, at, e);
        json_decref(rec);
        if (rc == 0)
            rc = write_ledger(tx->c, tx->tenant, s, "committed", rows, rtext, truncated, digest, NULL, seq, hash, at,
                              1, e);
    }
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
    if (tx->dry_run) {
        pb_pg_rollback(tx->c);
        return 0;
    }
    rc = pb_pg_commit(tx->c, e);
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
    if (tx->in_tx && !tx->done && !tx->aborted)
        pb_pg_rollback(tx->c);
    if (tx->locked && tx->lockc && PQstatus(tx->lockc) == CONNECTION_OK) {
        const char *p[1] = {tx->tenant};
        pb_err ignored;
        if (PQtransactionStatus(tx->lockc) != PQTRANS_IDLE)
            pb_pg_rollback(tx->lockc);
        pb_pg_query(tx->lockc,
                    "SELECT pg_catalog.pg_advisory_unlock_shared(pg_catalog.hashtext('paybill.tenant'), "
                    "pg_catalog.hashtext($1))",
                    1, p, NULL, &ignored);
    }
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
