/*
 * agentpolicy_database.c - see agentpolicy_database.h.
 */
#include "controllers/agentpolicy_database.h"

#include <stdio.h>
#include <string.h>

#include "controllers/conditions.h"

void agentpolicy_database_sync(operator_ctx *op, const agentpol_view *v, agentpolicy_db_result *out)
{
    (void)op;
    (void)v;
    memset(out, 0, sizeof *out);
    snprintf(out->reason, sizeof out->reason, "Pending");
    snprintf(out->message, sizeof out->message, "the agent database role is not managed yet");
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
