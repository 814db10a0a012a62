/*
 * agentexec.h - the Workflow executor's database side: one transaction per
 * step, exactly once, under the tenant's agent role, with a ledger and a
 * hash-chained audit trail written in the same transaction as the step's
 * effects.
 *
 * Where: the tenant's data database (shared_db for the rls and schema
 * layouts, its own database "t_<id>" for the database layout), on the
 * server it lives on (the pb_tdb given). Bookkeeping is in that database's
 * schema "paybill" (the admin's, closed to tenants), created if missing:
 *   paybill.agent_ledger  one row per (workflow_uid, step_index), the
 *                         primary key: state 'committed' (written in the
 *                         step's own transaction) or 'failed' (written by
 *                         pb_ax_record_failure); the decision (policy,
 *                         rule, submitter, approval, spec hash), rows, the
 *                         bounded result (JSON text) and its digest, the
 *                         audit record's seq and hash. `approval` is
 *                         UNIQUE: an Approval is consumed once, ever.
 *   paybill.agent_audit   per tenant, seq 1, 2, ...: record (canonical
 *                         JSON text, kept byte for byte), prev_hash (the
 *                         previous record's hash; 64 zeros for seq 1) and
 *                         hash = sha256(prev_hash "\n" record), hex.
 *                         Appends are serialised per tenant by a
 *                         transaction-level advisory lock. A trigger
 *                         refuses UPDATE, DELETE and TRUNCATE; an owner
 *                         who disables it is still caught by pb_ax_verify
 *                         (which re-hashes in C, not in SQL).
 * Both tables have a tenant_id column in every layout. No tenant login and
 * no agent role has any privilege on them (PUBLIC has none). Three
 * functions there (the admin's only) do what a step needs with plans the
 * pooled session keeps: paybill.agent_checks (pb_ax_begin's checks),
 * paybill.agent_claim (steps 1 and 2 below) and paybill.agent_audit_head.
 * The bookkeeping has a version; one that is missing, incomplete (a
 * trigger disabled, a function dropped) or of another version is made
 * again by the next pb_ax_begin. Nothing about it is cached between
 * transactions.
 *
 * How a step runs (pb_ax_exec, inside the transaction of pb_ax_begin; its
 * BEGIN is sent with the first pb_ax_lookup or pb_ax_exec):
 *   1. a transaction-level advisory lock on (workflow_uid, step_index), then
 *      the ledger is read: a step already there is PB_ECONFLICT and is not
 *      run. Two operators racing on one step: the second waits for the
 *      first's transaction (bounded by lock_timeout: PB_ETIMEOUT) and then
 *      finds its entry; the primary key backs this up;
 *   2. an Approval uid already in the ledger is PB_ECONFLICT (UNIQUE backs
 *      this up). 1 and 2 raise an error in SQL, so the statements queued
 *      behind them in the same round trip are skipped by the server;
 *   3. SET LOCAL ROLE to the agent role, SET LOCAL statement_timeout from
 *      the step, and for rls the transaction-local paybill.acting_tenant
 *      (paybill.current_tenant_id() honours it only for sessions whose login
 *      is a member of paybill_owner: the operator's), so the grants and
 *      policies rendered by agent/sqlgen are enforced by PostgreSQL;
 *   4. the statement (parameters only) and the row cap check;
 *   5. back to the admin role (and its statement_timeout) for the
 *      bookkeeping: the audit chain's head is read under its lock, and the
 *      audit record and ledger entry are computed (skipped in dry run). They
 *      are written ahead of whatever the transaction sends next, normally
 *      the COMMIT of pb_ax_commit: a write that fails makes the server skip
 *      the COMMIT, so a step never commits without them.
 * Any failure in pb_ax_exec rolls the transaction back at once (nothing
 * can be committed after it); the caller ends the transaction and records
 * the failure with pb_ax_record_failure. A ledger dropped after
 * pb_ax_begin checked it fails the step with PB_EUNAVAILABLE before its
 * statement runs; the next pb_ax_begin makes it again.
 *
 * Round trips (the executor's cost is mostly waiting for answers, so
 * statements go in libpq pipelines): pb_ax_begin one (two for the database
 * layout), pb_ax_exec one, pb_ax_commit one, besides the pool's own on
 * borrowing and returning the connection.
 *
 * A tenant that is suspended, retained, moving or moved away runs no step
 * (pb_ax_begin: PB_ECONFLICT, or PB_ENOTFOUND for one not on this server).
 * While a transaction is open, pb_ax_begin holds the tenant's advisory
 * lock in shared mode on a shared_db connection, so a tier move (which
 * takes it exclusively) cannot copy the data from under a running step.
 * pb_ax_end releases it by giving the connection back to the pool (which
 * unlocks every advisory lock, or closes the connection).
 *
 * Requirements on the admin login: besides what tenantdb.h asks, it must
 * be able to SET ROLE to the agent role (a superuser, or a member of it).
 *
 * Not handled here (tenantdb's moves and deletes own that): moving a
 * tenant between layouts or servers does not carry its ledger and audit
 * rows to the new data database.
 *
 * Ownership: a pb_ax_tx holds one or two borrowed pool connections until
 * pb_ax_end (which must always be called, also after pb_ax_commit);
 * pb_ax_result.result is the caller's, released by pb_ax_result_clear;
 * pb_ax_ledger returns a new reference. Step and record inputs are borrowed.
 * A pb_ax_tx is used by one thread at a time.
 */
#ifndef PAYBILL_PROVISION_AGENTEXEC_H
#define PAYBILL_PROVISION_AGENTEXEC_H

#include <jansson.h>
#include <stddef.h>

#include "provision/tenantdb.h"
#include "util/err.h"

/* Bounds of a select step's result as kept in the ledger and returned. */
#define PB_AX_MAX_RESULT_ROWS 1000
#define PB_AX_MAX_RESULT_BYTES (256 * 1024)

typedef struct pb_ax_tx pb_ax_tx;

typedef struct pb_ax_step {
    const char *workflow_uid, *workflow; /* "ns/name" */
    size_t index;
    const char *name, *op;               /* op: "select", "insert", "update", "delete" */
    const char *sql;                     /* from pb_stmt_build */
    const char *const *params;           /* text form; NULL entries are SQL NULL */
    size_t n_params;
    int returns_rows;
    long long cap, fetch;
    int fetch_is_probe;
    const char *const *columns;          /* select: result column names, in order */
    size_t n_columns;
    long long timeout_ms;                /* 0: the connection's statement_timeout
                                            (pb_tdb_config.statement_timeout_ms) */
    const char *policy, *rule, *submitter; /* the decision: who allowed it */
    const char *approval;                /* Approval uid consumed by this step, or NULL */
    const char *spec_hash;
} pb_ax_step;

typedef struct pb_ax_result {
    int already;        /* found in the ledger (lookup) */
    char state[16];     /* "committed" | "failed" */
    long long rows;     /* exact: rows written, or rows the select returned */
    json_t *result;     /* select rows (bounded) or NULL; owned: pb_ax_result_clear */
    int truncated;      /* result holds fewer rows than `rows` (over the bounds):
                           a later step must not bind to it */
    char digest[65];    /* sha256 of the canonical full result (compact JSON,
                           keys sorted), or of "rows=N" for writes */
    char at[40];        /* RFC 3339, UTC (microseconds) */
    char message[512];  /* failed: why */
    long long audit_seq; /* 0 in dry run */
} pb_ax_result;

void pb_ax_result_clear(pb_ax_result *r);

/* Open a transaction on the tenant's data database, creating the
 * bookkeeping tables if missing. agent_role: the role steps run as
 * ("pb_a_<id>"; PB_ENOTFOUND when it does not exist). dry_run: every step
 * runs, nothing is written to the ledger or audit, and pb_ax_commit rolls
 * back. */
int pb_ax_begin(pb_tdb *t, const char *tenant_id, const char *agent_role, int dry_run, pb_ax_tx **out,
                pb_err *e);
/* The ledger entry of (workflow_uid, step_index) if one was committed or
 * recorded as failed (0 + r filled, r->already = 1), or PB_ENOTFOUND. A
 * step run earlier in this transaction is found too. */
int pb_ax_lookup(pb_ax_tx *tx, const char *workflow_uid, size_t step_index, pb_ax_result *r, pb_err *e);
/* Run one step (see the top of this file). Over the cap: PB_ETOOLARGE
 * "step X would touch N rows, more than the M allowed; nothing was
 * changed" (for a select probing past its cap: "at least N"). SQL errors:
 * the code pg.h maps the SQLSTATE to, with PostgreSQL's message and
 * SQLSTATE in e. A step already in the ledger: PB_ECONFLICT. r is filled
 * on success only. */
int pb_ax_exec(pb_ax_tx *tx, const pb_ax_step *s, pb_ax_result *r, pb_err *e);
/* Write the step's audit record and ledger entry and commit (dry run:
 * roll back); a failed write is its error, and nothing is committed.
 * After a failed pb_ax_exec: PB_ECONFLICT. A commit whose outcome is
 * unknown (connection lost) is PB_EUNAVAILABLE: pb_ax_lookup in a new
 * transaction says whether it happened. */
int pb_ax_commit(pb_ax_tx *tx, pb_err *e);
/* Rolls back unless committed; returns the connections. NULL ok. */
void pb_ax_end(pb_ax_tx *tx);

/* A step that failed for good, recorded in its own transaction: ledger
 * state 'failed' with the message (its approval uid goes to the audit
 * record only, so a refused Approval is not consumed), and an audit
 * record. Idempotent (0 when already recorded as failed); PB_ECONFLICT
 * when the step is committed. */
int pb_ax_record_failure(pb_tdb *t, const char *tenant_id, const pb_ax_step *s, const char *message, pb_err *e);
/* One audit record for a decision that is not a step run: `record` must be
 * a JSON object ({kind, workflow_uid, workflow, step, message, ...});
 * "tenant", "seq" and "at" are set by this call (over any given). */
int pb_ax_audit(pb_tdb *t, const char *tenant_id, const json_t *record, pb_err *e);
/* Counters from the ledger: distinct workflows with a step committed,
 * rows touched (written or read) and steps committed in the last window_s
 * seconds (0: ever; negative: PB_EINVAL), for the tenant, optionally only
 * for a policy and/or submitter (NULL = any). Any output may be NULL. */
int pb_ax_usage(pb_tdb *t, const char *tenant_id, const char *policy, const char *submitter, long window_s,
                long long *workflows, long long *rows, long long *steps, pb_err *e);
/* Every ledger entry of one workflow in step order, as a JSON array of
 * objects {step, name, op, state, rows, digest, at, message, audit_seq,
 * policy, rule, submitter, approval, spec_hash, result, truncated}: status
 * is rebuilt from it. New reference. */
int pb_ax_ledger(pb_tdb *t, const char *tenant_id, const char *workflow_uid, json_t **out, pb_err *e);
/* Verify the tenant's audit chain: 0 when intact (*records = count),
 * PB_ECONFLICT naming the first broken record (its seq and what is wrong:
 * hash mismatch, missing record, prev_hash mismatch, a record naming
 * another seq or tenant, or ledger entries referring to records that are
 * gone or differ). */
int pb_ax_verify(pb_tdb *t, const char *tenant_id, long long *records, pb_err *e);

#endif
