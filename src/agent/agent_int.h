/*
 * agent_int.h - the agent engine's internal data structures, shared by the
 * .c files of src/agent/ only (never included from outside the folder).
 *
 * The public headers keep every type opaque so callers (the admission
 * webhook, the AgentPolicy and Workflow controllers) cannot depend on the
 * layout; the engine's own modules need to see it because the decision path
 * reads compiled policies and typed steps directly, without accessor calls
 * or allocation (the p99 budget is 10 us with 256 rules).
 *
 * Column sets are bitsets of the table's columns in DataModel order: a
 * table has at most 1500 columns, so a set is at most 24 words and "are the
 * step's columns a subset of the rule's" is a handful of AND-NOTs.
 */
#ifndef PAYBILL_AGENT_INT_H
#define PAYBILL_AGENT_INT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "agent/policy.h"
#include "agent/pred.h"
#include "agent/step.h"
#include "agent/subject.h"
#include "provision/datamodel.h"

/* ---- bitsets -------------------------------------------------------------- */

/* Column sets are at most this many words: the DataModel allows 1500
 * columns per table (24 words). Some code keeps sets in fixed arrays of
 * this size, so a wider table is refused (policy broken, steps refused,
 * no role SQL) rather than overflowing, should that limit ever grow. */
#define PB_AGENT_MAX_WORDS 24
static inline size_t pb_agent_words(size_t ncols) { return ncols / 64 + 1; }
static inline void pb_agent_bit_set(uint64_t *s, size_t i) { s[i / 64] |= (uint64_t)1 << (i % 64); }
static inline int pb_agent_bit_has(const uint64_t *s, size_t i)
{
    return (int)((s[i / 64] >> (i % 64)) & 1u);
}
/* The first member of a that is not in b, or -1 (a subset of b). */
static inline int pb_agent_bit_first_missing(const uint64_t *a, const uint64_t *b, size_t words)
{
    for (size_t w = 0; w < words; w++) {
        uint64_t d = a[w] & ~b[w];
        if (d)
            return (int)(w * 64 + (size_t)__builtin_ctzll(d));
    }
    return -1;
}
/* The first member of both a and b, or -1. */
static inline int pb_agent_bit_first_common(const uint64_t *a, const uint64_t *b, size_t words)
{
    for (size_t w = 0; w < words; w++) {
        uint64_t d = a[w] & b[w];
        if (d)
            return (int)(w * 64 + (size_t)__builtin_ctzll(d));
    }
    return -1;
}

/* ---- typed values and predicates (pred.c) --------------------------------- */

/* One value of a column's type. `s` holds the canonical text for text,
 * enum, uuid (lower case), date (YYYY-MM-DD), numeric (normalised decimal:
 * no leading zeros, no trailing fraction zeros, "0" not "-0"), timestamptz
 * (UTC with six fraction digits) and jsonb (canonical JSON); `i` integers
 * and booleans; `ts` timestamps (for ordering). */
typedef struct pb_pred_value {
    int is_null;
    long long i;
    struct timespec ts;
    char *s;
} pb_pred_value;

struct pb_pred {
    int column;         /* index in the table */
    pb_dm_type type;    /* the column's type */
    pb_pred_op op;
    pb_pred_value *vals; /* 0 (isNull/notNull, fromStep), 1, or n (in/notIn) */
    size_t n_vals;
    int from_step;      /* steps only: index of the referenced step, else -1 */
    int from_field;     /* column index in the referenced step's table */
};

/* Parse `v` as a value of column c of table t; `path` names it in errors.
 * JSON null is accepted only when allow_null (and the caller checks the
 * column's nullability). `as_text` parses as text whatever the column type
 * (LIKE patterns on enum columns). */
int pb_pred_value_parse(const json_t *v, const pb_dm_model *m, size_t t, size_t c, const char *path,
                        int allow_null, int as_text, pb_pred_value *out, pb_err *e);
void pb_pred_value_clear(pb_pred_value *v);
/* Equality and ordering on two non-null values of the same type; ordering
 * only for the types pb_pred_op_fits allows it on. */
int pb_pred_value_eq(pb_dm_type t, const pb_pred_value *a, const pb_pred_value *b);
int pb_pred_value_cmp(pb_dm_type t, const pb_pred_value *a, const pb_pred_value *b);

/* Parse a predicate object {column, op, value|values[, fromStep, field]}.
 * `refs` allows fromStep/field (steps); their names are returned borrowed
 * from the JSON in *from_step / *field for the caller to resolve (from_step
 * stays -1 here). */
int pb_pred_parse(const json_t *obj, const pb_dm_model *m, size_t t, const char *path, int refs,
                  pb_pred *out, const char **from_step, const char **field, pb_err *e);
void pb_pred_clear(pb_pred *p);
/* SQL truth of the predicate for a column value: 1 true, 0 false or
 * unknown (NULL compares unknown except under isNull/notNull), as a WHERE
 * clause or an RLS policy sees it. fromStep predicates are never true here. */
int pb_pred_eval(const pb_pred *p, const pb_pred_value *v);
/* LIKE with % and _ (one UTF-8 character) and backslash escapes. */
int pb_pred_like(const char *s, const char *pat);
/* 1 when the op makes sense for the type (ordering on numbers and times,
 * like on text and enum, eq/ne/isNull/notNull on everything, in/notIn on
 * everything but jsonb). */
int pb_pred_op_fits(pb_pred_op op, pb_dm_type t);

/* "did you mean" for an unknown column or table: the closest name within
 * edit distance 2, or NULL. */
const char *pb_agent_suggest_column(const pb_dm_model *m, size_t t, const char *name);
const char *pb_agent_suggest_table(const pb_dm_model *m, const char *name);
/* Append ", did you mean \"x\"?" (or nothing) to a message buffer. */
void pb_agent_did_you_mean(char *buf, size_t n, const char *suggestion);

/* A 64-bit FNV-1a of the model's canonical text: two models with the same
 * name and version but different tables never pass as the same one. */
uint64_t pb_agent_model_hash(const pb_dm_model *m);

/* ---- steps (step.c) ------------------------------------------------------- */

typedef struct {
    int column;
    pb_pred_value val;
} pb_step_cell;

typedef struct {
    pb_step_cell *cells; /* sorted by column */
    size_t n;
} pb_step_row;

typedef struct {
    int column;
    int descending;
} pb_step_order;

struct pb_step {
    char *name;
    size_t index;
    pb_step_op op;
    int table;
    int all_columns;      /* select without `columns` */
    int *columns;         /* select: the listed columns, in order */
    size_t n_columns;
    pb_pred *where;
    size_t n_where;
    pb_step_row *rows;    /* insert: `values` (one row) or `rows`; update: one row */
    size_t n_rows;
    pb_step_order *order;
    size_t n_order;
    long long limit;      /* 0: none */
    size_t words;
    uint64_t *read;       /* columns read: select list, where, orderBy */
    uint64_t *write;      /* columns written: insert/update values */
    uint64_t *touch;      /* read | write, every column for delete */
};

struct pb_steps {
    char *model_name;
    long long model_version;
    uint64_t model_hash;
    const pb_dm_model *model; /* borrowed, for messages (column names) */
    struct pb_step *steps;
    size_t n;
};

/* ---- SQL rendering shared by sqlgen.c and stmt.c ------------------------- */
#include "agent/sqlgen.h"
/* The SQL type of a DataModel type ("numeric", "uuid", ...). */
const char *pb_sqlgen_type_name(pb_dm_type t);
/* Append a copy of text as the next bind parameter. */
int pb_sqlgen_param_add(pb_sqlgen_params *ps, const char *text, pb_err *e);
/* A typed value as $n::type (params given) or a quoted literal. */
int pb_sqlgen_value(pb_buf *b, pb_dm_type t, const pb_pred_value *v, pb_sqlgen_params *ps, pb_err *e);
/* ---- compiled policies (policy.c) ----------------------------------------- */

#define PB_AGENT_OP_BIT(op) (1u << (unsigned)(op))
#define PB_AGENT_ALL_OPS 0xFu

typedef struct {
    char *name;          /* "" when the rule has none */
    size_t index;        /* position in spec.rules */
    int table;
    unsigned ops;        /* PB_AGENT_OP_BIT mask */
    uint64_t *readable;
    uint64_t *writable;
    pb_pred *rows;       /* row constraints, ANDed into every statement */
    size_t n_rows;
    long long max_rows;  /* 0: not set on the rule */
    int require_where;
    int has_approval;
    unsigned approval_ops;
    long long approval_rows_above; /* approval when rows > this (0: any row) */
} pb_pol_allow;

typedef struct {
    char *name;
    size_t index;        /* position in spec.deny */
    int table;           /* -1: every table ("*") */
    unsigned ops;
    uint64_t *columns;   /* NULL: the whole operation */
} pb_pol_deny;

typedef struct {
    size_t *allow;       /* indexes into allow[], spec order */
    size_t n_allow;
    size_t *deny;        /* indexes into deny[], spec order (wildcards included) */
    size_t n_deny;
    size_t words;
} pb_pol_table;

struct pb_pol {
    char *ns, *name;
    long long generation;
    int broken;
    int no_model;        /* broken because there was no DataModel */
    char *reason;        /* why it is broken */
    int audit;           /* enforcement: Audit */
    int all_subjects;    /* subjects unreadable: applies to everyone in ns */
    char *model_name;
    long long model_version;
    uint64_t model_hash;
    /* Table and column names copied from the model (one allocation), for
     * messages and SQL without keeping the model alive. */
    char *names;
    const char **tname;  /* [n_tables] */
    const char **cname;  /* column c of table t: cname[col_off[t] + c] */
    size_t *col_off;     /* [n_tables + 1] */
    size_t n_tables;
    pb_subj_list *subjects;
    pb_subj_list *approvers;
    pb_pol_allow *allow;
    size_t n_allow;
    pb_pol_deny *deny;
    size_t n_deny;
    pb_pol_table *tables; /* per model table */
    pb_pol_limits limits; /* effective: lower of policy and plan */
    char **warnings;
    size_t n_warnings;
};

static inline size_t pb_pol_ncols(const struct pb_pol *p, size_t t) { return p->col_off[t + 1] - p->col_off[t]; }
static inline const char *pb_pol_col(const struct pb_pol *p, size_t t, size_t c) { return p->cname[p->col_off[t] + c]; }

#endif
