/*
 * workflow_controller.c - the Workflow reconciler: runs what admission let
 * through, step by step, against the tenant's PostgreSQL data, exactly once.
 *
 * Every pass decides again before anything runs (policies, the DataModel
 * or the Plan may have changed since admission; a denial now is final),
 * then for each step in order:
 *   1. committed already (the ledger, provision/agentexec.h)? take its
 *      recorded result and go on; failed for good? the workflow failed;
 *   2. needs approval? a valid Approval for this workflow's uid, spec hash
 *      and step (decision Approve, not expired, approver allowed by the
 *      deciding policy and not the submitter) must exist, else the phase is
 *      AwaitingApproval with the step and hash to approve; a Reject ends the
 *      workflow; the Approval's uid goes into the step's ledger entry (unique:
 *      an Approval is used once, ever);
 *   3. limits from the ledger (not memory): workflowsPerHour per policy and
 *      submitter before the first step, rowsPerHour before each (rates make
 *      it wait, with the reason), the workflow timeout;
 *   4. the statement (agent/stmt.h) runs in one transaction with its ledger
 *      entry and audit record, as the tenant's agent role, under the step
 *      timeout; more rows than allowed changes nothing and fails the step.
 * A suspended tenant runs nothing: its workflows wait and resume with it.
 * Dry runs execute every step in one transaction that is rolled back and
 * report what each would touch.
 *
 * Status is a view of the ledger: rebuilt from it on every pass, so a lost
 * status write or a crash between commit and status changes nothing; it
 * carries no field that changes on its own (times are the ledger's).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/decide.h"
#include "agent/step.h"
#include "agent/stmt.h"
#include "agent/subject.h"
#include "controllers/agent_policies.h"
#include "controllers/agentpolicy_database.h"
#include "controllers/conditions.h"
#include "controllers/opmetrics.h"
#include "controllers/operator.h"
#include "controllers/tenant_database.h"
#include "controllers/workflow_admission.h"
#include "provision/agentexec.h"
#include "util/json.h"
#include "util/log.h"
#include "util/timeutil.h"

/* Rows of a select kept in status (the ledger keeps more, bounded). */
#define WF_STATUS_ROWS 5
/* How soon a waiting workflow looks again. */
#define WF_WAIT_S 30.0

typedef struct wf_run {
    operator_ctx *op;
    operator_obj o;
    const char *key, *ns, *name, *uid, *hash;
    json_t *spec;             /* borrowed from o.obj */
    agentpol_view *view;
    pb_steps *steps;
    pb_decision *d;           /* one per step */
    pb_subj_user user;
    pb_tdb *tdb;
    char tenant_id[64], role[80], schema[64];
    json_t *results;          /* per step: the ledger's result rows (selects) or null */
    json_t *status_steps;     /* what status.steps becomes */
    int dry_run;
} wf_run;

/* ---- status ---------------------------------------------------------------------- */

static void set_phase(wf_run *r, const char *phase, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_phase(wf_run *r, const char *phase, const char *reason, const char *fmt, ...)
{
    char msg[PB_DECIDE_MSG_MAX + 512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *st = r->o.status;
    const char *was = json_string_value(json_object_get(st, "phase"));
    int changed = !was || strcmp(was, phase) != 0;
    json_object_set_new(st, "phase", json_string(phase));
    int done = !strcmp(phase, "Succeeded") || !strcmp(phase, "Failed") || !strcmp(phase, "Denied");
    cond_set(st, "Complete", done ? "True" : "False", reason, msg, r->o.gen, r->o.now);
    if (changed) {
        int warn = !strcmp(phase, "Failed") || !strcmp(phase, "Denied");
        operator_event(r->op, r->o.obj, warn ? "Warning" : "Normal", reason, "%s", msg);
        pb_log_info("workflow phase", "workflow", r->key, "phase", phase, "reason", reason, "message", msg, NULL);
    }
}

/* The first `WF_STATUS_ROWS` rows of a result, for status. */
static json_t *summary_rows(const json_t *rows)
{
    json_t *out = json_array();
    for (size_t i = 0; i < json_array_size(rows) && i < WF_STATUS_ROWS; i++)
        json_array_append(out, json_array_get(rows, i));
    return out;
}

static void step_status(wf_run *r, size_t i, const char *phase, const pb_ax_result *res, const char *message)
{
    json_t *s = json_pack("{s:s, s:s}", "name", pb_step_name(pb_step_at(r->steps, i)), "phase", phase);
    if (res) {
        json_object_set_new(s, "rowsAffected", json_integer(res->rows));
        if (res->at[0])
            json_object_set_new(s, "completedAt", json_string(res->at));
        if (res->digest[0])
            json_object_set_new(s, "digest", json_string(res->digest));
        if (res->result)
            json_object_set_new(s, "result", summary_rows(res->result));
    }
    const pb_decision *d = &r->d[i];
    if (d->policy)
        json_object_set_new(s, "policy", json_string(pb_pol_name(d->policy)));
    if (message && *message)
        json_object_set_new(s, "message", json_string(message));
    json_array_append_new(r->status_steps, s);
}

/* ---- approvals ------------------------------------------------------------------- */

/* A usable Approval for step i: 1 (uid in out), 0 none, -1 a Reject (by in
 * out). Approvals that do not fit (expired, another hash, an approver the
 * policy does not allow) are skipped; their reasons end up in `why`. */
static int find_approval(wf_run *r, size_t i, char *out, size_t n, char *why, size_t wn)
{
    why[0] = '\0';
    json_t *items = store_by_index(r->op->approvals, STORE_INDEX_NAMESPACE, r->ns, NULL);
    const char *step = pb_step_name(pb_step_at(r->steps, i));
    int found = 0;
    time_t now = operator_now(r->op);
    size_t k;
    json_t *a;
    json_array_foreach(items, k, a) {
        const json_t *spec = json_object_get(a, "spec");
        const char *uid = NULL, *hash = NULL, *s = NULL, *exp = NULL, *decision = NULL, *phase = NULL;
        pb_json_opt_string(spec, "workflowRef.uid", NULL, &uid, NULL);
        pb_json_opt_string(spec, "specHash", NULL, &hash, NULL);
        pb_json_opt_string(spec, "step", NULL, &s, NULL);
        pb_json_opt_string(spec, "expiresAt", NULL, &exp, NULL);
        pb_json_opt_string(spec, "decision", "Approve", &decision, NULL);
        pb_json_opt_string(a, "status.phase", NULL, &phase, NULL);
        const char *aname = json_string_value(json_object_get(json_object_get(a, "metadata"), "name"));
        const char *auid = json_string_value(json_object_get(json_object_get(a, "metadata"), "uid"));
        if (!uid || strcmp(uid, r->uid) != 0 || !s || strcmp(s, step) != 0 || !auid)
            continue;
        if (!hash || strcmp(hash, r->hash) != 0) {
            snprintf(why, wn, "Approval %s is for another spec hash", aname ? aname : "?");
            continue;
        }
        if (phase && strcmp(phase, "Used") == 0)
            continue;
        struct timespec until;
        if (!exp || pb_time_parse_rfc3339(exp, &until, NULL) != 0 || until.tv_sec <= now) {
            snprintf(why, wn, "Approval %s has expired", aname ? aname : "?");
            continue;
        }
        pb_subj_user approver;
        pb_err e;
        pb_err_clear(&e);
        if (pb_subj_user_from_json(json_object_get(spec, "approver"), &approver, &e) != 0 ||
            pb_pol_may_approve(r->d[i].policy, &approver, &r->user, &e) != 0) {
            snprintf(why, wn, "Approval %s is not valid: %.400s", aname ? aname : "?", e.msg);
            continue;
        }
        snprintf(out, n, "%s", auid);
        found = strcmp(decision, "Reject") == 0 ? -1 : 1;
        if (found < 0) {
            snprintf(why, wn, "rejected by %s (Approval %s)", approver.username, aname ? aname : "?");
            break;
        }
        if (found > 0)
            break;
    }
    json_decref(items);
    return found;
}

/* The ledger's unique approval uid is what makes it single use. */
static void mark_approval_used(wf_run *r, const char *approval_uid, size_t i)
{
    char by[512];
    snprintf(by, sizeof by, "%s/%s step %s", r->ns, r->name, pb_step_name(pb_step_at(r->steps, i)));
    operator_mark_approval_used(r->op, r->ns, approval_uid, by, r->o.now);
}

/* What later steps may refer to: a select's kept rows and whether they
 * are all of them. */
static void keep_result(wf_run *r, size_t i, const pb_ax_result *ar)
{
    if (ar->result)
        json_array_set_new(r->results, i,
                           json_pack("{s:O, s:b}", "rows", ar->result, "truncated", ar->truncated));
}

/* ---- steps ----------------------------------------------------------------------- */

/* fromStep values for stmt.h: the field's values in the earlier step's
 * result (its ledger rows). */
typedef struct ref_vals {
    const char **v;
    size_t n;
} ref_vals;

static int refs(void *ud, size_t step, const char *field, const char *const **vals, size_t *n, pb_err *e)
{
    void **args = ud;
    wf_run *r = args[0];
    ref_vals *rv = args[1];
    json_t *kept = json_array_get(r->results, step);
    json_t *rows = json_object_get(kept, "rows");
    if (!json_is_array(rows))
        return pb_err_set(e, PB_ENOTFOUND, "step %zu has no result to refer to", step);
    /* Binding part of a result would quietly act on fewer rows than the
     * agent asked for: refuse instead. */
    if (json_is_true(json_object_get(kept, "truncated")))
        return pb_err_set(e, PB_ETOOLARGE,
                          "step %s's result was too large to keep whole (at most %d rows): give it a limit to refer "
                          "to it",
                          pb_step_name(pb_step_at(r->steps, step)), PB_AX_MAX_RESULT_ROWS);
    free(rv->v);
    rv->n = 0;
    rv->v = calloc(json_array_size(rows) + 1, sizeof *rv->v);
    if (!rv->v)
        return pb_err_set(e, PB_ENOMEM, "out of memory");
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) rv->v[rv->n++] = json_string_value(json_object_get(row, field));
    *vals = rv->v;
    *n = rv->n;
    return 0;
}

static void fill_step(wf_run *r, size_t i, const pb_stmt *st, const char **cols, const char *approval,
                      pb_ax_step *s)
{
    const pb_step *ps = pb_step_at(r->steps, i);
    const pb_pol_limits *lim = pb_pol_get_limits(r->d[i].policy);
    *s = (pb_ax_step){.workflow_uid = r->uid,
                      .workflow = r->key,
                      .index = i,
                      .name = pb_step_name(ps),
                      .op = pb_step_op_name(pb_step_get_op(ps)),
                      .sql = st ? st->sql : "(not run)",
                      .params = st ? (const char *const *)st->params.values : NULL,
                      .n_params = st ? st->params.n : 0,
                      .returns_rows = st ? st->returns_rows : 0,
                      .cap = st ? st->cap : 0,
                      .fetch = st ? st->fetch : 0,
                      .fetch_is_probe = st ? st->fetch_is_probe : 0,
                      .columns = cols,
                      .n_columns = st ? st->n_columns : 0,
                      .timeout_ms = lim->step_timeout_ms > 0 ? lim->step_timeout_ms : 0,
                      .policy = r->d[i].policy ? pb_pol_name(r->d[i].policy) : "",
                      .rule = r->d[i].rule_name ? r->d[i].rule_name : "",
                      .submitter = r->user.username,
                      .approval = approval,
                      .spec_hash = r->hash};
}

static const char **column_names(wf_run *r, size_t i, const pb_stmt *st)
{
    const char **cols = calloc(st->n_columns + 1, sizeof *cols);
    for (size_t k = 0; cols && k < st->n_columns; k++)
        cols[k] = pb_dm_column_name(agentpol_view_model(r->view), (size_t)pb_step_table(pb_step_at(r->steps, i)),
                                    (size_t)st->columns[k]);
    return cols;
}

/* Run step i in tx. 0 with *res filled; a negative code with err. */
static int run_step(wf_run *r, pb_ax_tx *tx, size_t i, const char *approval, pb_ax_result *res, pb_err *err)
{
    ref_vals rv = {0};
    void *args[2] = {r, &rv};
    pb_stmt st;
    int rc = pb_stmt_build(r->steps, i, &r->d[i], r->schema, refs, args, &st, err);
    free(rv.v);
    if (rc != 0)
        return rc;
    const char **cols = column_names(r, i, &st);
    pb_ax_step s;
    fill_step(r, i, &st, cols, approval, &s);
    rc = cols ? pb_ax_exec(tx, &s, res, err) : pb_err_set(err, PB_ENOMEM, "out of memory");
    free(cols);
    pb_stmt_clear(&st);
    return rc;
}

static void record_failure(wf_run *r, size_t i, const char *msg)
{
    pb_ax_step s;
    fill_step(r, i, NULL, NULL, NULL, &s);
    pb_err e;
    pb_err_clear(&e);
    if (pb_ax_record_failure(r->tdb, r->tenant_id, &s, msg, &e) != 0)
        pb_log_warn("recording a failed step", "workflow", r->key, "error", e.msg, NULL);
}

static void audit(wf_run *r, const char *kind, const char *step, const char *msg)
{
    if (!r->tdb)
        return;
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s}", "kind", kind, "workflow", r->key, "workflowUid",
                            r->uid, "submitter", r->user.username ? r->user.username : "", "step", step,
                            "message", msg);
    pb_err e;
    pb_err_clear(&e);
    if (rec && pb_ax_audit(r->tdb, r->tenant_id, rec, &e) != 0)
        pb_log_warn("audit record not written", "workflow", r->key, "error", e.msg, NULL);
    json_decref(rec);
}

static void count_step(wf_run *r, size_t i, const char *result, long long rows)
{
    opmetrics_workflow_step(pb_step_op_name(pb_step_get_op(pb_step_at(r->steps, i))), result, rows);
}

/* ---- the pass -------------------------------------------------------------------- */

/* Decide every step now. 0 when none is denied (else the workflow is
 * Denied and recorded). */
static int decide_again(wf_run *r)
{
    const char *ref = NULL;
    pb_json_opt_string(r->spec, "policyRef.name", NULL, &ref, NULL);
    int audit_only = 0;
    int first = agentpol_decide(r->view, &r->user, r->steps, ref, r->d, &audit_only);
    if (audit_only)
        r->dry_run = 1; /* an Audit policy never changes anything */
    if (first < 0)
        return 0;
    const pb_decision *d = &r->d[first];
    set_phase(r, "Denied", pb_decide_reason_name(d->reason), "%s%s%s", d->field, d->field[0] ? ": " : "",
              d->message);
    audit(r, "workflow-denied", pb_step_name(pb_step_at(r->steps, (size_t)first)), d->message);
    opmetrics_workflow_denied("execution", pb_decide_reason_name(d->reason));
    return -1;
}

/* Locate the tenant's data and its agent role. 0, or a message in msg. */
static int locate(wf_run *r, char *msg, size_t n)
{
    json_t *tenant = store_get(r->op->tenants, agentpol_view_tenant(r->view));
    pb_err e;
    pb_err_clear(&e);
    int rc = tenant ? operator_tenant_db(r->op, tenant, &r->tdb, r->tenant_id, sizeof r->tenant_id, r->schema, &e)
                    : pb_err_set(&e, PB_ENOTFOUND, "tenant %s is gone", agentpol_view_tenant(r->view));
    json_decref(tenant);
    if (rc != 0) {
        snprintf(msg, n, "%s", e.msg);
        return rc;
    }
    snprintf(r->role, sizeof r->role, "pb_a_%s", r->tenant_id);
    return 0;
}

static int tenant_suspended(wf_run *r)
{
    json_t *t = store_get(r->op->tenants, agentpol_view_tenant(r->view));
    const char *phase = NULL;
    pb_json_opt_string(t, "status.phase", NULL, &phase, NULL);
    int s = phase && strcmp(phase, "Suspended") == 0;
    json_decref(t);
    return s;
}

/* A tenant's workflows run at most this many steps at once: the lower of
 * its Plan's database connectionLimit and the agent login's own limit, so
 * agents never take more of the database than the tenant's applications
 * may. 1 with the slot taken, 0 when full. */
static int slot_take(wf_run *r)
{
    long long limit = PB_TDB_AGENT_CONNECTION_LIMIT;
    json_t *t = store_get(r->op->tenants, agentpol_view_tenant(r->view));
    const char *plan = NULL;
    pb_json_opt_string(t, "status.plan", NULL, &plan, NULL);
    json_t *p = plan ? store_get(r->op->plans, plan) : NULL;
    long long cl = -1;
    pb_json_opt_int(p, "spec.database.connectionLimit", -1, &cl, NULL);
    if (cl > 0 && cl < limit)
        limit = cl;
    json_decref(p);
    json_decref(t);
    const char *tenant = agentpol_view_tenant(r->view);
    pthread_mutex_lock(&r->op->agent_db_mu);
    if (!r->op->agent_inflight)
        r->op->agent_inflight = json_object();
    long long n = json_integer_value(json_object_get(r->op->agent_inflight, tenant));
    int ok = n < limit;
    if (ok)
        json_object_set_new(r->op->agent_inflight, tenant, json_integer(n + 1));
    pthread_mutex_unlock(&r->op->agent_db_mu);
    return ok;
}

static void slot_give(wf_run *r)
{
    const char *tenant = agentpol_view_tenant(r->view);
    pthread_mutex_lock(&r->op->agent_db_mu);
    long long n = json_integer_value(json_object_get(r->op->agent_inflight, tenant));
    if (n <= 1)
        json_object_del(r->op->agent_inflight, tenant);
    else
        json_object_set_new(r->op->agent_inflight, tenant, json_integer(n - 1));
    pthread_mutex_unlock(&r->op->agent_db_mu);
}

/* Execute (or dry-run) what is left. Returns the controller result. */
static controller_result execute(wf_run *r)
{
    size_t n = pb_step_count(r->steps);
    char msg[PB_ERR_MSG_MAX + 512];
    pb_err e;
    pb_err_clear(&e);
    const pb_pol_limits *lim = pb_pol_get_limits(r->d[0].policy);
    /* What the ledger already holds for this workflow. */
    json_t *ledger = NULL;
    if (!r->dry_run && pb_ax_ledger(r->tdb, r->tenant_id, r->uid, &ledger, &e) != 0) {
        set_phase(r, "Running", "DatabaseUnavailable", "cannot read the ledger: %s", e.msg);
        return controller_requeue_after(5);
    }
    int started = json_array_size(ledger) > 0;
    /* The workflow timeout runs from its first committed step. */
    const char *first_at = json_string_value(json_object_get(json_array_get(ledger, 0), "at"));
    struct timespec t0;
    if (started && lim->workflow_timeout_ms > 0 && first_at && pb_time_parse_rfc3339(first_at, &t0, NULL) == 0 &&
        (long long)(operator_now(r->op) - t0.tv_sec) * 1000 > lim->workflow_timeout_ms) {
        set_phase(r, "Failed", "WorkflowTimeout",
                  "the workflow started at %s and did not finish within workflowTimeout (%lld ms, the lower of policy "
                  "and plan); the steps committed so far stay committed",
                  first_at, lim->workflow_timeout_ms);
        audit(r, "workflow-timeout", NULL, "workflowTimeout exceeded");
        json_decref(ledger);
        return controller_ok();
    }
    /* workflowsPerHour counts per policy and per submitter, from the
     * ledger: neither a restart nor a new Workflow name resets it. */
    if (!r->dry_run && !started && lim->workflows_per_hour >= 0) {
        const char *pol = pb_pol_name(r->d[0].policy);
        for (int by_user = 0; by_user < 2; by_user++) {
            long long wfs = 0, rows = 0, steps = 0;
            if (pb_ax_usage(r->tdb, r->tenant_id, by_user ? NULL : pol, by_user ? r->user.username : NULL, 3600,
                            &wfs, &rows, &steps, &e) == 0 &&
                wfs >= lim->workflows_per_hour) {
                set_phase(r, "Waiting", "RateLimited",
                          "workflowsPerHour %lld reached %s %s (the lower of policy and plan); it runs when the "
                          "last hour's count drops",
                          lim->workflows_per_hour, by_user ? "by submitter" : "under AgentPolicy",
                          by_user ? r->user.username : pol);
                json_decref(ledger);
                return controller_requeue_after(60);
            }
        }
    }
    json_decref(ledger);
    pb_ax_tx *tx = NULL;
    controller_result res = controller_ok();
    int failed = 0, waiting = 0;
    for (size_t i = 0; i < n && !failed && !waiting; i++) {
        const char *sname = pb_step_name(pb_step_at(r->steps, i));
        pb_ax_result ar;
        memset(&ar, 0, sizeof ar);
        if (!tx && pb_ax_begin(r->tdb, r->tenant_id, r->role, r->dry_run, &tx, &e) != 0) {
            set_phase(r, "Running", "DatabaseUnavailable", "step %s: %s", sname, e.msg);
            res = controller_requeue_after(5);
            break;
        }
        if (!r->dry_run && pb_ax_lookup(tx, r->uid, i, &ar, &e) == 0) {
            int ok = strcmp(ar.state, "committed") == 0;
            step_status(r, i, ok ? "Succeeded" : "Failed", &ar, ok ? NULL : ar.message);
            keep_result(r, i, &ar);
            if (!ok) {
                set_phase(r, "Failed", "StepFailed", "step %s failed: %s", sname, ar.message);
                failed = 1;
            }
            pb_ax_result_clear(&ar);
            continue;
        }
        char approval[80] = "";
        if (r->d[i].outcome == PB_DECIDE_APPROVAL && !r->dry_run) {
            char why[512];
            int a = find_approval(r, i, approval, sizeof approval, why, sizeof why);
            if (a < 0) {
                pb_ax_end(tx);
                tx = NULL;
                step_status(r, i, "Failed", NULL, why);
                record_failure(r, i, why);
                set_phase(r, "Failed", "ApprovalRejected", "step %s: %s", sname, why);
                failed = 1;
                break;
            }
            if (a == 0) {
                step_status(r, i, "Pending", NULL, why[0] ? why : "waiting for an Approval");
                json_object_set_new(r->o.status, "awaitingApproval",
                                    json_pack("{s:s, s:s, s:s}", "step", sname, "specHash", r->hash,
                                              "workflowUid", r->uid));
                set_phase(r, "AwaitingApproval", "AwaitingApproval",
                          "step %s needs an Approval for workflow uid %s, spec hash %s%s%s", sname, r->uid, r->hash,
                          why[0] ? "; " : "", why);
                if (why[0])
                    audit(r, "approval-refused", sname, why);
                waiting = 1;
                break;
            }
        }
        if (!r->dry_run && lim->rows_per_hour > 0) {
            long long wfs = 0, rows = 0, steps = 0;
            if (pb_ax_usage(r->tdb, r->tenant_id, NULL, NULL, 3600, &wfs, &rows, &steps, &e) == 0 &&
                rows + r->d[i].max_rows > lim->rows_per_hour) {
                step_status(r, i, "Pending", NULL, "rowsPerHour");
                set_phase(r, "Waiting", "RateLimited",
                          "step %s may touch %lld rows and %lld were touched in the last hour: rowsPerHour is %lld",
                          sname, r->d[i].max_rows, rows, lim->rows_per_hour);
                res = controller_requeue_after(60);
                waiting = 1;
                break;
            }
        }
        pb_err_clear(&e);
        int rc = run_step(r, tx, i, approval[0] ? approval : NULL, &ar, &e);
        if (rc == 0 && !r->dry_run)
            rc = pb_ax_commit(tx, &e);
        if (rc != 0) {
            pb_ax_end(tx);
            tx = NULL;
            int transient = rc == PB_EUNAVAILABLE || rc == PB_ECONFLICT;
            if (transient) {
                set_phase(r, "Running", "Retrying", "step %s: %s", sname, e.msg);
                res = controller_requeue_after(2);
                waiting = 1;
                break;
            }
            snprintf(msg, sizeof msg, "%s", e.msg);
            step_status(r, i, "Failed", NULL, msg);
            if (!r->dry_run)
                record_failure(r, i, msg);
            count_step(r, i, "failed", 0);
            set_phase(r, "Failed", rc == PB_ETOOLARGE ? "TooManyRows" : "StepFailed", "step %s failed: %s", sname,
                      msg);
            failed = 1;
            break;
        }
        if (!r->dry_run) {
            pb_ax_end(tx);
            tx = NULL;
        }
        count_step(r, i, r->dry_run ? "dryRun" : "succeeded", ar.rows);
        step_status(r, i, r->dry_run ? "Planned" : "Succeeded", &ar,
                    r->dry_run ? "dry run: rolled back, nothing changed" : NULL);
        keep_result(r, i, &ar);
        if (approval[0])
            mark_approval_used(r, approval, i);
        pb_ax_result_clear(&ar);
    }
    pb_ax_end(tx); /* a dry run's single transaction: rolled back */
    if (!failed && !waiting) {
        json_object_del(r->o.status, "awaitingApproval");
        if (r->dry_run)
            set_phase(r, "Succeeded", "DryRun", "dry run of %zu steps: every step checked and rolled back, nothing "
                                                "changed", n);
        else
            set_phase(r, "Succeeded", "Succeeded", "%zu steps committed", n);
    }
    return res;
}

controller_result workflow_reconcile(controller_ctx *ctx, const char *key, pb_err *err)
{
    wf_run r;
    memset(&r, 0, sizeof r);
    r.op = ctx->user;
    r.key = key;
    if (operator_obj_begin(r.op, r.op->workflows, key, &r.o) != 0)
        return controller_ok();
    const char *phase = json_string_value(json_object_get(r.o.status, "phase"));
    if (phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed") || !strcmp(phase, "Denied"))) {
        operator_obj_release(&r.o);
        return controller_ok();
    }
    json_t *meta = json_object_get(r.o.obj, "metadata");
    r.ns = json_string_value(json_object_get(meta, "namespace"));
    r.name = json_string_value(json_object_get(meta, "name"));
    r.uid = json_string_value(json_object_get(meta, "uid"));
    r.hash = json_string_value(json_object_get(json_object_get(meta, "annotations"), WF_ADM_SPEC_HASH_ANNOTATION));
    r.spec = json_object_get(r.o.obj, "spec");
    r.status_steps = json_array();
    r.results = json_array();
    controller_result res = controller_ok();
    pb_err e;
    pb_err_clear(&e);
    char msg[PB_ERR_MSG_MAX + 256];
    int dry = 0;
    pb_json_opt_bool(r.spec, "dryRun", 0, &dry, NULL);
    r.dry_run = dry;
    if (!r.ns || !r.uid || !r.hash) {
        set_phase(&r, "Denied", "NotAdmitted",
                  "the Workflow has no %s annotation: it was not admitted by the operator's webhooks",
                  WF_ADM_SPEC_HASH_ANNOTATION);
        goto finish;
    }
    if (pb_subj_user_from_json(json_object_get(r.spec, "submitter"), &r.user, &e) != 0) {
        set_phase(&r, "Denied", "NotAdmitted", "spec.submitter: %s", e.msg);
        goto finish;
    }
    json_object_set_new(r.o.status, "submittedBy", json_string(r.user.username));
    json_object_set_new(r.o.status, "specHash", json_string(r.hash));
    if (agentpol_get(r.op->agent_policies, r.ns, &r.view, err) != 0) {
        operator_obj_release(&r.o);
        json_decref(r.status_steps);
        json_decref(r.results);
        return controller_error();
    }
    if (!agentpol_view_tenant(r.view) || !agentpol_view_model(r.view)) {
        set_phase(&r, "Waiting", "TenantNotReady", "%s", agentpol_view_problem(r.view));
        res = controller_requeue_after(WF_WAIT_S);
        goto finish;
    }
    if (pb_step_parse(r.spec, agentpol_view_model(r.view), NULL, &r.steps, &e) != 0) {
        set_phase(&r, "Failed", "InvalidForDataModel", "the steps no longer fit the tenant's DataModel: %s", e.msg);
        goto finish;
    }
    size_t n = pb_step_count(r.steps);
    if (!(r.d = calloc(n, sizeof *r.d))) {
        pb_err_set(err, PB_ENOMEM, "out of memory");
        res = controller_error();
        goto finish;
    }
    for (size_t i = 0; i < n; i++)
        json_array_append_new(r.results, json_null());
    if (!agentpol_view_has_feature(r.view, WF_ADM_AGENTS_FEATURE)) {
        set_phase(&r, "Denied", "FeatureNotInPlan", "the tenant's plan no longer includes the \"%s\" feature",
                  WF_ADM_AGENTS_FEATURE);
        goto finish;
    }
    if (decide_again(&r) != 0)
        goto finish;
    if (tenant_suspended(&r)) {
        set_phase(&r, "Waiting", "TenantSuspended", "tenant %s is suspended: no step runs until it is resumed",
                  agentpol_view_tenant(r.view));
        res = controller_requeue_after(WF_WAIT_S);
        goto finish;
    }
    if (locate(&r, msg, sizeof msg) != 0) {
        set_phase(&r, "Waiting", "DatabaseNotReady", "%s", msg);
        res = controller_requeue_after(10);
        goto finish;
    }
    /* The agent role must hold exactly the grants of the policies decided
     * with, before anything runs as it: a step must not fail for grants
     * not applied yet, nor run on grants a stricter policy took back. */
    agentpolicy_db_result db;
    agentpolicy_database_sync(r.op, r.view, &db);
    if (!db.ok) {
        set_phase(&r, "Waiting", "AgentGrantsPending", "the agent role's grants are not in place yet: %s",
                  db.message);
        res = controller_requeue_after(db.retry_s > 0 ? db.retry_s : 5);
        goto finish;
    }
    if (!slot_take(&r)) {
        /* Busy: the tenant's share of connections is in use; no status
         * change, just another try shortly. */
        json_decref(r.status_steps);
        json_decref(r.results);
        free(r.d);
        pb_step_free(r.steps);
        agentpol_put(r.view);
        operator_obj_release(&r.o);
        return controller_requeue_after(0.5);
    }
    if (!phase || strcmp(phase, "Running") != 0)
        json_object_set_new(r.o.status, "phase", json_string("Running"));
    res = execute(&r);
    slot_give(&r);
    json_object_set_new(r.o.status, "dryRun", json_boolean(r.dry_run));
finish:;
    /* Progress and steps: a view of what the ledger said this pass. */
    size_t done = 0, total = r.steps ? pb_step_count(r.steps) : json_array_size(json_object_get(r.spec, "steps"));
    size_t k;
    json_t *s;
    json_array_foreach(r.status_steps, k, s) if (!strcmp(json_string_value(json_object_get(s, "phase")), "Succeeded") ||
                                                 !strcmp(json_string_value(json_object_get(s, "phase")), "Planned"))
        done++;
    /* Passes that stopped before reading the ledger keep what it said last. */
    if (json_array_size(r.status_steps) || !json_object_get(r.o.status, "progress")) {
        char progress[64];
        snprintf(progress, sizeof progress, "%zu/%zu", done, total);
        json_object_set_new(r.o.status, "progress", json_string(progress));
    }
    if (json_array_size(r.status_steps))
        json_object_set(r.o.status, "steps", r.status_steps);
    json_decref(r.status_steps);
    json_decref(r.results);
    free(r.d);
    pb_step_free(r.steps);
    agentpol_put(r.view);
    return operator_obj_finish(r.op, &r.o, &OPERATOR_GVR_WORKFLOWS, "workflow", key, res, err);
}

/* Workflows of a namespace that may be waiting on what changed. */
json_t *operator_map_to_workflows(json_t *obj, void *ud)
{
    operator_ctx *op = ud;
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const char *ns = NULL;
    json_t *keys = json_array();
    if (kind && strcmp(kind, "Approval") == 0) {
        const char *wf = NULL;
        ns = json_string_value(json_object_get(json_object_get(obj, "metadata"), "namespace"));
        pb_json_opt_string(obj, "spec.workflowRef.name", NULL, &wf, NULL);
        if (ns && wf) {
            char key[600];
            snprintf(key, sizeof key, "%s/%s", ns, wf);
            json_array_append_new(keys, json_string(key));
        }
        return operator_nonempty_keys(keys);
    }
    /* A Tenant: every workflow of its namespace. */
    pb_json_opt_string(obj, "status.namespace", NULL, &ns, NULL);
    if (ns) {
        json_t *all = store_index_keys(op->workflows, STORE_INDEX_NAMESPACE, ns, NULL);
        if (all)
            json_array_extend(keys, all);
        json_decref(all);
    }
    return operator_nonempty_keys(keys);
}
