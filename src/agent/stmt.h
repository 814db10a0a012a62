/*
 * stmt.h - one typed Workflow step as one parameterised SQL statement: what
 * the executor runs as the tenant's agent role, with the deciding rule's
 * row constraints ANDed in. Identifiers come from the DataModel (always
 * double-quoted), every value is a bind parameter ($n::type), and nothing
 * from the spec is ever pasted into the text.
 *
 * Shapes (S = the tenant's schema, T = the step's table):
 *   select  SELECT "a", "b" FROM "S"."T" WHERE <where> AND <constraints>
 *           ORDER BY ... LIMIT <fetch>
 *   insert  INSERT INTO "S"."T" ("a", "b") VALUES ($1::t, $2::t), (...)
 *   update  UPDATE "S"."T" SET "a" = $1::t WHERE <where> AND <constraints>
 *   delete  DELETE FROM "S"."T" WHERE <where> AND <constraints>
 * A fromStep predicate binds the earlier select's values of `field` as one
 * array parameter: "id" = ANY($n::uuid[]) (in), <> ALL (notIn); NULLs in
 * that result never match, as in SQL.
 *
 * Row caps: `cap` is the decision's max_rows, the most rows the step may
 * touch. The statement itself is not truncated for writes (touching an
 * arbitrary subset would not be deterministic): the executor counts the
 * rows the statement touched and rolls the step back, changing nothing,
 * when there are more than cap. A step's `limit` on update/delete is
 * therefore a cap too. A select fetches min(limit, cap) rows, plus one
 * more when the step has no limit or a limit above the cap, so that "more
 * than allowed" is seen and fails the step instead of silently truncating.
 * Inserts touch exactly their rows (the decision checked the count).
 *
 * Ownership: pb_stmt holds malloc'd text and parameters, released by
 * pb_stmt_clear; inputs are borrowed.
 */
#ifndef PAYBILL_AGENT_STMT_H
#define PAYBILL_AGENT_STMT_H

#include <stddef.h>

#include "agent/decide.h"
#include "agent/sqlgen.h"
#include "agent/step.h"
#include "util/err.h"

typedef struct pb_stmt {
    char *sql;
    pb_sqlgen_params params;
    int returns_rows;   /* select */
    long long cap;      /* the most rows the step may touch */
    long long fetch;    /* select: the LIMIT in the statement */
    int fetch_is_probe; /* select: fetch is cap + 1 (more rows = over the cap) */
    /* select: the columns returned, in order (DataModel column indexes). */
    int *columns;
    size_t n_columns;
} pb_stmt;

/* The values an earlier select step returned for one field, as text (NULL
 * entries for SQL NULLs). 0, or a negative code (the step cannot be built:
 * the referenced step has not run). The arrays stay owned by the caller. */
typedef int (*pb_stmt_ref_fn)(void *ud, size_t step, const char *field, const char *const **vals, size_t *n,
                              pb_err *e);

/* Build step i of w (allowed by d, which must be an allow or approved
 * decision for it) against `schema`. refs may be NULL when no predicate
 * uses fromStep. */
int pb_stmt_build(const pb_steps *w, size_t i, const pb_decision *d, const char *schema, pb_stmt_ref_fn refs,
                  void *ud, pb_stmt *out, pb_err *e);
void pb_stmt_clear(pb_stmt *s);

/* A PostgreSQL array literal ("{"a","b",NULL}") of the values, quoted. */
int pb_stmt_array_literal(pb_buf *b, const char *const *vals, size_t n, pb_err *e);

#endif
