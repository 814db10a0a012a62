/*
 * agentpolicy_database.h - the database half of agent enforcement: the
 * tenant's agent role ("pb_a_<tenant id>", provision/tenantdb.h) gets
 * exactly the grants and row-level security policies that the enforcing,
 * valid AgentPolicies of its namespace allow (agent/sqlgen.h), so that a
 * bug in the C check is not enough to exceed a policy. Its credentials are
 * in the Secret tenant-agent-database of the tenant's namespace.
 *
 * agentpolicy_database_sync converges the role for one namespace's view
 * (idempotent; the grants are rendered deterministically and re-applied
 * only when their digest changed or the operator restarted);
 * agentpolicy_database_status turns the result into one policy's
 * DatabaseEnforced condition and status.database.
 */
#ifndef PAYBILL_CONTROLLERS_AGENTPOLICY_DATABASE_H
#define PAYBILL_CONTROLLERS_AGENTPOLICY_DATABASE_H

#include <jansson.h>

#include "agent/policy.h"
#include "controllers/agent_policies.h"
#include "controllers/operator.h"

#define AGENTPOLICY_DB_SECRET "tenant-agent-database"

typedef struct agentpolicy_db_result {
    int ok;                  /* 1: the grants in place match the view */
    char reason[64];         /* condition reason */
    char message[PB_ERR_MSG_MAX + 256];
    char role[64];           /* "" when there is none (yet) */
    char digest[65];         /* sha256 of the grants applied, "" when none */
    double retry_s;          /* > 0: try again after this long */
} agentpolicy_db_result;

void agentpolicy_database_sync(operator_ctx *op, const agentpol_view *v, agentpolicy_db_result *out);
void agentpolicy_database_status(const agentpolicy_db_result *r, const pb_pol *p, json_t *status,
                                 long long gen, const char *now);

#endif
