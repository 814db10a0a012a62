/*
 * agentpolicy_database.c - the tenant's agent role follows the enforcing
 * AgentPolicies of its namespace (see agentpolicy_database.h).
 *
 * One pass: find where the tenant's data is, converge the agent login
 * (provision/tenantdb.h, pb_tdb_agent_ensure) with the password from its
 * Secret (a new one the first time, written back), render the grants for
 * the enforcing, valid policies (agent/sqlgen.h) and apply them unless the
 * same grants for the same server were applied already by this process.
 * What was applied is remembered per namespace in memory only (the
 * digest and the Tenant's resourceVersion then): after a restart the
 * grants are applied once again (idempotent), never skipped on the
 * strength of a stale record.
 */
#include "controllers/agentpolicy_database.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/sqlgen.h"
#include "controllers/conditions.h"
#include "controllers/tenant_database.h"
#include "controllers/tenantspec.h"
#include "provision/tenantdb.h"
#include "util/json.h"
#include "util/log.h"
#include "util/secret.h"

static void set(agentpolicy_db_result *out, int ok, const char *reason, double retry_s, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void set(agentpolicy_db_result *out, int ok, const char *reason, double retry_s, const char *fmt, ...)
{
    out->ok = ok;
    out->retry_s = retry_s;
    snprintf(out->reason, sizeof out->reason, "%s", reason);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof out->message, fmt, ap);
    va_end(ap);
}

/* The agent Secret's password (NULL when there is none yet). */
static char *secret_password(operator_ctx *op, const char *ns)
{
    json_t *sec = NULL;
    pb_err e;
    pb_err_clear(&e);
    if (kube_get(op->client, operator_child_gvr(OP_CHILD_SECRETS), ns, AGENTPOLICY_DB_SECRET, NULL, &sec, &e) != 0)
        return NULL;
    char *pw = tenant_database_secret_password(sec);
    json_decref(sec);
    return pw;
}

static int write_secret(operator_ctx *op, const char *ns, const char *tenant, const pb_tdb_creds *c, pb_err *err)
{
    json_t *sec = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}}, s:o}", "apiVersion", "v1", "kind", "Secret",
                            "type", "Opaque", "metadata", "name", AGENTPOLICY_DB_SECRET, "namespace", ns, "labels",
                            TENANTSPEC_LABEL_TENANT, tenant, TENANTSPEC_LABEL_MANAGED, TENANTSPEC_MANAGER, "data",
                            tenant_database_secret_data(c));
    if (!sec)
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    int rc = operator_apply(op, operator_child_gvr(OP_CHILD_SECRETS), ns, sec, OPERATOR_FIELD_MANAGER, err);
    json_decref(sec);
    return rc;
}

/* What this process applied last, per namespace. */
static int applied_is(operator_ctx *op, const char *ns, const char *digest)
{
    pthread_mutex_lock(&op->agent_db_mu);
    const char *have = json_string_value(json_object_get(op->agent_db_applied, ns));
    int same = have && strcmp(have, digest) == 0;
    pthread_mutex_unlock(&op->agent_db_mu);
    return same;
}

static void applied_set(operator_ctx *op, const char *ns, const char *digest)
{
    pthread_mutex_lock(&op->agent_db_mu);
    if (!op->agent_db_applied)
        op->agent_db_applied = json_object();
    json_object_set_new(op->agent_db_applied, ns, json_string(digest));
    pthread_mutex_unlock(&op->agent_db_mu);
}

void agentpolicy_database_sync(operator_ctx *op, const agentpol_view *v, agentpolicy_db_result *out)
{
    memset(out, 0, sizeof *out);
    const char *ns = agentpol_view_namespace(v), *tname = agentpol_view_tenant(v);
    const pb_dm_model *m = agentpol_view_model(v);
    if (!tname || !m) {
        set(out, 0, "TenantNotReady", 0, "%s", agentpol_view_problem(v));
        return;
    }
    json_t *tenant = store_get(op->tenants, tname);
    pb_tdb *tdb = NULL;
    char id[64], schema[64];
    pb_err e;
    pb_err_clear(&e);
    int rc = tenant ? operator_tenant_db(op, tenant, &tdb, id, sizeof id, schema, &e)
                    : pb_err_set(&e, PB_ENOTFOUND, "tenant %s is gone", tname);
    const char *server = NULL, *trv = NULL;
    pb_json_opt_string(tenant, "status.database.server", "", &server, NULL);
    pb_json_opt_string(tenant, "metadata.resourceVersion", "", &trv, NULL);
    char server_name[128], tenant_rv[64];
    snprintf(server_name, sizeof server_name, "%s", server ? server : "");
    snprintf(tenant_rv, sizeof tenant_rv, "%s", trv ? trv : "");
    json_decref(tenant);
    if (rc != 0) {
        set(out, 0, "DatabaseNotReady", 10, "the tenant's database is not reachable: %s", e.msg);
        return;
    }
    char *password = secret_password(op, ns);
    pb_tdb_creds creds = {0};
    pb_tdb_agent_target target;
    rc = pb_tdb_agent_ensure(tdb, id, password, &creds, &target, &e);
    if (rc == 0 && (!password || strcmp(password, creds.password) != 0))
        rc = write_secret(op, ns, tname, &creds, &e);
    if (password)
        pb_secret_wipe(password, strlen(password));
    free(password);
    pb_tdb_creds_clear(&creds);
    if (rc != 0) {
        set(out, 0, "AgentRoleFailed", rc == PB_ECONFLICT ? 5 : 15, "the agent login could not be converged: %s",
            e.msg);
        return;
    }
    snprintf(out->role, sizeof out->role, "%s", target.role);
    /* The enforcing, valid policies: sqlgen ignores the others anyway, but
     * refuses any that was not compiled against m (a broken one may not be). */
    size_t n = agentpol_view_count(v), k = 0;
    const pb_pol **pols = calloc(n ? n : 1, sizeof *pols);
    if (!pols) {
        set(out, 0, "AgentRoleFailed", 5, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const pb_pol *p = agentpol_view_at(v, i);
        if (!pb_pol_broken(p) && !pb_pol_audit(p))
            pols[k++] = p;
    }
    char *sql = NULL;
    pb_sqlgen_target tg = {.layout = target.layout, .schema = target.schema, .role = target.role};
    rc = pb_sqlgen_role(pols, k, m, &tg, &sql, &e);
    free(pols);
    if (rc != 0) {
        set(out, 0, "GrantsNotRendered", 30, "the agent's grants could not be rendered: %s", e.msg);
        return;
    }
    /* The digest covers where the grants go, not only what they are: the
     * same text on another server (the tenant moved) must be applied. */
    size_t keylen = strlen(server_name) + strlen(sql) + 2;
    char *key = malloc(keylen);
    if (key)
        snprintf(key, keylen, "%s\n%s", server_name, sql);
    if (!key || pb_secret_sha256_hex(key, strlen(key), out->digest, &e) != 0) {
        free(key);
        free(sql);
        set(out, 0, "AgentRoleFailed", 5, "out of memory");
        return;
    }
    free(key);
    /* Skipped only when these grants went to this tenant as it is now: a
     * move (rls -> schema -> rls, say) leaves the agent with nothing while
     * the rendered text comes back the same, and every move writes the
     * Tenant's status, so its resourceVersion is part of the key. */
    char applied_key[160];
    snprintf(applied_key, sizeof applied_key, "%s@%s", out->digest, tenant_rv);
    if (!tenant_rv[0] || !applied_is(op, ns, applied_key)) {
        rc = pb_tdb_agent_apply(tdb, id, &target, m, sql, &e);
        if (rc != 0) {
            free(sql);
            out->digest[0] = '\0';
            set(out, 0, "GrantsNotApplied", rc == PB_ECONFLICT ? 2 : 15, "the agent's grants were not applied: %s",
                e.msg);
            return;
        }
        applied_set(op, ns, applied_key);
        pb_log_info("agent grants applied", "namespace", ns, "role", target.role, "digest", out->digest, NULL);
    }
    free(sql);
    set(out, 1, "Applied", 0, "role %s has exactly the grants and row policies of the %zu enforcing AgentPolicies "
                              "of the namespace (credentials in Secret %s)",
        target.role, k, AGENTPOLICY_DB_SECRET);
}

void agentpolicy_database_status(const agentpolicy_db_result *r, const pb_pol *p, json_t *status,
                                 long long gen, const char *now)
{
    if (r->role[0])
        json_object_set_new(status, "database",
                            json_pack("{s:s, s:s, s:s}", "role", r->role, "secretName", AGENTPOLICY_DB_SECRET,
                                      "grantsDigest", r->digest));
    else
        json_object_del(status, "database");
    if (pb_pol_broken(p))
        cond_set(status, "DatabaseEnforced", "False", "PolicyInvalid",
                 "an invalid policy grants nothing in the database", gen, now);
    else if (pb_pol_audit(p))
        cond_set(status, "DatabaseEnforced", "False", "Audit",
                 "Audit policies are never granted in the database", gen, now);
    else
        cond_set(status, "DatabaseEnforced", r->ok ? "True" : "False", r->reason, r->message, gen, now);
}
