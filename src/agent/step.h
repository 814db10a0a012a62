/*
 * step.h - a Workflow's steps, parsed and type-checked against the tenant's
 * DataModel: what an agent asks to do, as data.
 *
 * Spec (the Workflow's `spec`; only `steps` is read here, policyRef and
 * dryRun belong to the controllers). Each step (unknown keys refused):
 *
 *   {"name": "find-unpaid",            ^[a-z][a-z0-9-]{0,62}$, unique
 *    "operation": "select",            select | insert | update | delete
 *    "table": "invoices",              a DataModel table
 *    "columns": ["id", "amount"],      select only; absent: every column
 *    "where": [pred...],               see pred.h; ANDed; at most 32
 *    "values": {"paid": true},         insert (one row) and update
 *    "rows": [{...}, ...],             insert only, instead of values
 *    "orderBy": [{"column": "amount", "descending": true}],  select only
 *    "limit": 10}                      select/update/delete, 1..1000000
 *
 * Static checks (each refusal names the field, e.g.
 * `spec.steps[1].where[0].value: "ten" is not a numeric value for column
 * invoices.amount (numeric(12,2))`): unknown tables and columns (with a
 * "did you mean"), values of the wrong type for the column, predicates that
 * do not fit the type, NULL into a NOT NULL column, insert rows missing a
 * NOT NULL column without default, duplicate columns, update without
 * values, fields that do not apply to the operation, `fromStep` references
 * to a step that does not exist, comes later or is not a select, or to a
 * field it does not return or whose type differs, more steps than
 * opts.max_steps, more insert rows than opts.max_rows.
 *
 * Nothing here is SQL: a value such as "'; DROP TABLE invoices; --" is a
 * text value like any other.
 *
 * Ownership: pb_step_parse returns a list the caller frees with
 * pb_step_free; it borrows the model (keep it alive as long as the list);
 * pointers from accessors are owned by the list.
 */
#ifndef PAYBILL_AGENT_STEP_H
#define PAYBILL_AGENT_STEP_H

#include <jansson.h>
#include <stddef.h>

#include "provision/datamodel.h"
#include "util/err.h"

typedef enum { PB_STEP_SELECT, PB_STEP_INSERT, PB_STEP_UPDATE, PB_STEP_DELETE } pb_step_op;

#define PB_STEP_MAX_STEPS 1000
#define PB_STEP_MAX_WHERE 32
#define PB_STEP_MAX_ORDER 8
#define PB_STEP_MAX_ROWS 10000
#define PB_STEP_MAX_LIMIT 1000000

typedef struct pb_steps pb_steps;
typedef struct pb_step pb_step;

typedef struct pb_step_opts {
    size_t max_steps; /* 0: PB_STEP_MAX_STEPS; e.g. the Plan's stepsPerWorkflow */
    size_t max_rows;  /* insert rows per step; 0: PB_STEP_MAX_ROWS */
} pb_step_opts;

/* Parse spec.steps. opts may be NULL. On failure *out is NULL and the code
 * is PB_EINVAL (PB_ETOOLARGE for too many steps or rows) with the field
 * named; a NULL model is PB_EINVAL ("no DataModel"). */
int pb_step_parse(const json_t *spec, const pb_dm_model *m, const pb_step_opts *opts, pb_steps **out,
                  pb_err *e);
void pb_step_free(pb_steps *s);

size_t pb_step_count(const pb_steps *s);
/* NULL when i is out of range. */
const pb_step *pb_step_at(const pb_steps *s, size_t i);
/* -1 when no step has that name. */
int pb_step_find(const pb_steps *s, const char *name);
const char *pb_step_model_name(const pb_steps *s);
long long pb_step_model_version(const pb_steps *s);

const char *pb_step_name(const pb_step *st);
pb_step_op pb_step_get_op(const pb_step *st);
int pb_step_table(const pb_step *st);  /* DataModel table index */
long long pb_step_limit(const pb_step *st); /* 0: none */
size_t pb_step_row_count(const pb_step *st); /* insert rows */
size_t pb_step_where_count(const pb_step *st);
const pb_pred *pb_step_where(const pb_step *st, size_t i);

/* "select", "insert", "update", "delete"; parse: 0 or PB_EINVAL. */
const char *pb_step_op_name(pb_step_op op);
int pb_step_op_parse(const char *s, pb_step_op *out);

#endif
