/*
 * pred.h - typed predicates: {column, op, value(s)} checked against a
 * DataModel column, the one shape used both for a Workflow step's `where`
 * and for an AgentPolicy rule's row constraints.
 *
 * JSON shape (unknown keys are refused, so a typo never silently drops a
 * condition):
 *
 *   {"column": "segment", "op": "in", "value": ["smb", "midmarket"]}
 *   {"column": "amount", "op": "lt", "value": "100.00"}
 *   {"column": "due_on", "op": "isNull"}
 *   {"column": "id", "op": "in", "fromStep": "find", "field": "id"}   (steps)
 *
 * `values` is accepted as a synonym of `value` for in/notIn. Ops:
 *   eq ne in notIn isNull notNull   every type (in/notIn: not jsonb)
 *   lt le gt ge                     integer, bigint, numeric, date, timestamptz
 *   like                            text, enum (% any, _ one character, \ escape)
 * Values must be of the column's type, checked the way PostgreSQL would
 * store them: integer (int32) and bigint (int64) as JSON integers; numeric
 * as a JSON integer or a decimal string ("12.50": JSON reals are refused,
 * they have already lost digits) that fits numeric(p,s); boolean as JSON
 * true/false; date "YYYY-MM-DD"; timestamptz RFC 3339 with an offset, at
 * most microsecond precision; uuid 8-4-4-4-12 hex; enum one of the
 * column's values; jsonb any JSON; text any string without NUL bytes, at
 * most 64 KiB. A JSON null is never a predicate value (use isNull). An
 * in/notIn list has 1..1000 values.
 *
 * Values are data: they are kept typed and rendered by sqlgen.h as quoted
 * literals or bind parameters, never pasted into SQL.
 *
 * Ownership: predicates live inside the compiled policy or parsed steps
 * that hold them and are freed with those; accessors return borrowed data.
 */
#ifndef PAYBILL_AGENT_PRED_H
#define PAYBILL_AGENT_PRED_H

#include <jansson.h>
#include <stddef.h>

#include "provision/datamodel.h"
#include "util/err.h"

typedef enum {
    PB_PRED_EQ,
    PB_PRED_NE,
    PB_PRED_LT,
    PB_PRED_LE,
    PB_PRED_GT,
    PB_PRED_GE,
    PB_PRED_IN,
    PB_PRED_NOT_IN,
    PB_PRED_IS_NULL,
    PB_PRED_NOT_NULL,
    PB_PRED_LIKE
} pb_pred_op;

#define PB_PRED_MAX_VALUES 1000
#define PB_PRED_TEXT_MAX 65536

typedef struct pb_pred pb_pred;

/* "eq", "notIn", ...; never NULL. */
const char *pb_pred_op_name(pb_pred_op op);
/* 0, or PB_EINVAL for an unknown name. */
int pb_pred_op_parse(const char *s, pb_pred_op *out);

/* The column (index in its DataModel table), the op, the number of
 * literal values, and the referenced step (-1 when none). */
int pb_pred_column(const pb_pred *p);
pb_pred_op pb_pred_get_op(const pb_pred *p);
size_t pb_pred_value_count(const pb_pred *p);
int pb_pred_from_step(const pb_pred *p);

#endif
