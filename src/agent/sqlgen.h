/*
 * sqlgen.h - the database half of agent enforcement: SQL that makes a
 * tenant's agent role able to do what its AgentPolicies allow and nothing
 * more, so that a bug in the C check (decide.h) is not enough to exceed a
 * policy; and the renderer of typed predicates as SQL, shared with the
 * executor's statement builder.
 *
 * pb_sqlgen_role renders, for the agent role and the tables of a DataModel
 * in one schema, statements to run as the tables' owner, in one
 * transaction:
 *   - for every table of the model: REVOKE ALL from the role (table- and
 *     column-level privileges both go) and DROP POLICY IF EXISTS for the
 *     role's four policies, so rules removed from a policy lose their
 *     grants; in the schema and database layouts, ENABLE ROW LEVEL SECURITY
 *     and a permissive policy "pb_agent_base" for PUBLIC that passes every
 *     row (the tenant's own role sees what it saw before; in the rls layout
 *     the existing tenant_isolation policy is the permissive one, and a
 *     permissive `true` there would open every tenant's rows);
 *   - GRANT USAGE on the schema;
 *   - column-level GRANT SELECT on the readable columns of every rule that
 *     allows select, update or delete (PostgreSQL needs SELECT on the
 *     columns a WHERE reads), column-level GRANT INSERT / UPDATE on the
 *     writable columns of insert / update rules, table-level GRANT DELETE
 *     for delete rules; minus the columns and operations of deny rules;
 *   - per command with row constraints, a RESTRICTIVE policy for the role
 *     only ("pb_agent_<cmd>_<hash of the role>"), USING and WITH CHECK the
 *     OR, over the rules allowing that command, of each rule's ANDed
 *     constraints (the SELECT policy covers update and delete rules too,
 *     since PostgreSQL applies SELECT policies to the rows an UPDATE or
 *     DELETE reads). A rule without constraints makes the command
 *     unconstrained.
 * Only enforcing, unbroken policies contribute (Audit policies never grant;
 * a broken policy grants nothing). The database side is the union per
 * table and command, so it is exact when a table has one allow rule per
 * operation, and otherwise coarser than the C check (policy.h warns), never
 * wider than the policies.
 * Identifiers are always double-quoted and literals quoted exactly as
 * PQescapeIdentifier / PQescapeLiteral would (tests compare with libpq);
 * rendering needs no connection, and the output is deterministic (model
 * order, fixed command order) so the controller can diff it.
 *
 * Ownership: *sql is malloc'd, the caller frees it. Borrowed inputs only.
 */
#ifndef PAYBILL_AGENT_SQLGEN_H
#define PAYBILL_AGENT_SQLGEN_H

#include <stddef.h>

#include "agent/policy.h"
#include "agent/pred.h"
#include "provision/datamodel.h"
#include "util/buf.h"
#include "util/err.h"

typedef struct pb_sqlgen_target {
    pb_dm_layout layout;
    const char *schema; /* where the tables are ("app", "t_<id>") */
    const char *role;   /* the agent role (created elsewhere) */
} pb_sqlgen_target;

/* Grants and RLS policies for target->role from the enforcing, unbroken
 * policies among pols (n may be 0: everything revoked). Every policy must
 * have been compiled against m (same name, version and content), else
 * PB_EINVAL; so must an empty or invalid schema/role name. */
int pb_sqlgen_role(const pb_pol *const *pols, size_t n, const pb_dm_model *m,
                   const pb_sqlgen_target *t, char **sql, pb_err *e);

/* The name of the role's policy for a command ("select", ...), or of the
 * base policy (cmd NULL), into buf (64 bytes). */
void pb_sqlgen_policy_name(const char *role, const char *cmd, char buf[64]);

/* Quoting, byte for byte as PQescapeIdentifier / PQescapeLiteral with a
 * UTF-8 connection: "a""b"; 'it''s', E'a\\b' when a backslash is present.
 * PB_EINVAL (nothing appended) for invalid UTF-8. */
int pb_sqlgen_ident(pb_buf *b, const char *s, pb_err *e);
int pb_sqlgen_literal(pb_buf *b, const char *s, pb_err *e);

/* Bind parameters collected by pb_sqlgen_pred ($1..$n, text form, for
 * PQexecParams). Start from {0}; the strings are owned by the struct and
 * released, with the array, by pb_sqlgen_params_free. */
typedef struct pb_sqlgen_params {
    char **values;
    size_t n, cap;
} pb_sqlgen_params;
void pb_sqlgen_params_free(pb_sqlgen_params *p);

/* Render a predicate on column p->column of table t as a parenthesised SQL
 * condition, e.g. ("segment" IN ('smb', 'midmarket')), optionally prefixed
 * by a table alias. With params NULL, values are inline literals with a
 * cast to the column's type ('2026-01-31'::date); else they become $n::type
 * parameters appended to params. fromStep predicates cannot be rendered
 * here (the executor binds the earlier step's result): PB_EINVAL. */
int pb_sqlgen_pred(pb_buf *b, const pb_dm_model *m, size_t t, const char *alias, const pb_pred *p,
                   pb_sqlgen_params *params, pb_err *e);

#endif
