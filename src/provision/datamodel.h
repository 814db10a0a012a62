/*
 * datamodel.h - the DataModel: an application's tables declared as data.
 *
 * A DataModel (cluster-scoped CRD) says which tables, columns, keys and
 * indexes the application has, from a small fixed set of column types, plus
 * a monotonically increasing `version`. This module parses its spec from
 * JSON, validates it completely (nothing reaches a database before that) and
 * renders PostgreSQL DDL for one of the three data layouts. It never talks to
 * a server: tenantdb.c executes what it renders.
 *
 * Spec (JSON; unknown fields are rejected):
 *
 *   {"version": 2,
 *    "tables": [
 *      {"name": "customers",
 *       "columns": [
 *         {"name": "id", "type": "uuid", "nullable": false,
 *          "default": {"function": "gen_random_uuid"}},
 *         {"name": "email", "type": "text", "nullable": false, "unique": true},
 *         {"name": "plan", "type": "enum", "values": ["free", "pro"], "default": "free"},
 *         {"name": "balance", "type": "numeric(12,2)", "default": "0.00"}],
 *       "primaryKey": ["id"],
 *       "unique": [["email"]],
 *       "foreignKeys": [{"columns": ["owner_id"],
 *                        "references": {"table": "users", "columns": ["id"]},
 *                        "onDelete": "cascade"}],
 *       "indexes": [{"name": "customers_by_plan", "columns": ["plan"], "unique": false}]}]}
 *
 * Column types: text, integer, bigint, numeric(p,s) / numeric(p)
 * (1 <= p <= 1000, 0 <= s <= p), boolean, timestamptz, date, uuid, jsonb,
 * enum (needs "values"; stored as text with a CHECK constraint so values can
 * be listed per column without per-schema enum types).
 * Defaults: a JSON literal of the column's type (numeric: an integer or a
 * decimal string such as "12.50"; date, timestamptz (ISO 8601) and uuid: a
 * string; jsonb: any JSON value), or
 * {"function": "now" | "current_date" | "gen_random_uuid"} for
 * timestamptz, date and uuid columns. Literals are rendered quoted; no SQL
 * text from the spec ever reaches the DDL.
 * onDelete: "no action" (default), "restrict", "cascade", "set null".
 * Limits: 1000 tables, 1500 columns per table, 31 columns per key or index
 * (PostgreSQL's 32 less the rls tenant_id), 1000 enum values of 1..63
 * printable bytes.
 *
 * Identifiers (tables, columns, indexes) must match ^[a-z_][a-z0-9_]{0,62}$
 * and must not be an SQL reserved word, a system column name, start with
 * "pg_", or be "tenant_id" (the rls layout adds that column itself).
 * Tables and indexes share their schema's namespace with the indexes the
 * DDL makes implicitly: the rls layout's "<first 50 bytes of the
 * table>_tenant_idx" (tables without a primary key) and the ones
 * PostgreSQL names for primary keys and unique constraints ("<table>_pkey",
 * "<table>_<columns>_key", cut to 63 bytes as PostgreSQL does, in either
 * layout). A model in which a name the DDL gives (table, index, generated
 * index) is also another relation's name is refused, naming both: the
 * second would otherwise be skipped by IF NOT EXISTS.
 *
 * Layouts:
 *   rls       every table gets a leading "tenant_id" column defaulting to
 *             paybill.current_tenant_id(); keys, unique constraints, foreign
 *             keys and indexes are prefixed with tenant_id (so a row can never
 *             reference another tenant's row), and row-level security is
 *             enabled and forced with one policy bound to that function.
 *   schema,   plain tables in the given schema.
 *   database
 *
 * Ownership: pb_dm_parse* return a model the caller frees with pb_dm_free();
 * strings returned by accessors are owned by the model; pb_dm_render returns
 * a malloc'd string the caller frees.
 */
#ifndef PAYBILL_PROVISION_DATAMODEL_H
#define PAYBILL_PROVISION_DATAMODEL_H

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

typedef struct pb_dm_model pb_dm_model;

typedef enum {
    PB_DM_TEXT,
    PB_DM_INTEGER,
    PB_DM_BIGINT,
    PB_DM_NUMERIC,
    PB_DM_BOOLEAN,
    PB_DM_TIMESTAMPTZ,
    PB_DM_DATE,
    PB_DM_UUID,
    PB_DM_JSONB,
    PB_DM_ENUM
} pb_dm_type;

typedef enum { PB_DM_LAYOUT_RLS, PB_DM_LAYOUT_SCHEMA, PB_DM_LAYOUT_DATABASE } pb_dm_layout;

/* Where the DDL goes. `schema` must itself be a valid identifier. */
typedef struct pb_dm_target {
    pb_dm_layout layout;
    const char *schema;
} pb_dm_target;

/* The schema and function every rls policy refers to (see tenantdb.c). */
#define PB_DM_META_SCHEMA "paybill"
#define PB_DM_TENANT_FN "current_tenant_id"
#define PB_DM_TENANT_COLUMN "tenant_id"
#define PB_DM_POLICY "tenant_isolation"

/* Parse and validate a spec. `name` is the DataModel's metadata.name (may be
 * NULL: "unnamed"). On failure *out is NULL, the code is PB_EINVAL (or
 * PB_EPARSE for malformed JSON text) and the message names the field, e.g.
 * `spec.tables[0].columns[2].type: unknown type "varchar" (supported: ...)`. */
int pb_dm_parse(const char *name, const char *json_text, pb_dm_model **out, pb_err *err);
int pb_dm_parse_json(const char *name, const json_t *spec, pb_dm_model **out, pb_err *err);
void pb_dm_free(pb_dm_model *m);

/* 1 when s is a valid identifier for this module (syntax and not reserved). */
int pb_dm_ident_ok(const char *s);

const char *pb_dm_layout_name(pb_dm_layout l); /* "rls", "schema", "database" */
int pb_dm_layout_parse(const char *s, pb_dm_layout *out); /* 0 or PB_EINVAL */

const char *pb_dm_name(const pb_dm_model *m);
long long pb_dm_version(const pb_dm_model *m);
/* The spec as compact JSON with sorted keys: equal models, equal text. */
const char *pb_dm_canonical(const pb_dm_model *m);

/* Tables in creation order (every table after the tables it references). */
size_t pb_dm_table_count(const pb_dm_model *m);
const char *pb_dm_table_name(const pb_dm_model *m, size_t t);
size_t pb_dm_column_count(const pb_dm_model *m, size_t t);
const char *pb_dm_column_name(const pb_dm_model *m, size_t t, size_t c);
pb_dm_type pb_dm_column_type(const pb_dm_model *m, size_t t, size_t c);
/* For type checking against the model (agent workflows): lookups by name
 * return an index or -1; out-of-range indexes give 0 / NULL. */
int pb_dm_find_table(const pb_dm_model *m, const char *name);
int pb_dm_find_column(const pb_dm_model *m, size_t t, const char *name);
int pb_dm_column_nullable(const pb_dm_model *m, size_t t, size_t c);
int pb_dm_column_has_default(const pb_dm_model *m, size_t t, size_t c);
/* numeric(p,s): precision 0 means unconstrained numeric. */
void pb_dm_column_numeric(const pb_dm_model *m, size_t t, size_t c, int *precision, int *scale);
size_t pb_dm_enum_count(const pb_dm_model *m, size_t t, size_t c);
const char *pb_dm_enum_value(const pb_dm_model *m, size_t t, size_t c, size_t i);

/* Render the DDL that takes a target from model `from` (NULL: nothing yet)
 * to model `to`, as one string of ';'-terminated statements, each safe to
 * rerun (IF NOT EXISTS and friends). Every CREATE INDEX IF NOT EXISTS is
 * followed by a check (a DO block, PL/pgSQL) that the index of that name is
 * the one declared (table, columns, uniqueness): an index or table already
 * holding the name is an error (SQLSTATE 42P07) naming what it is, never
 * silently skipped. Added tables, columns and indexes are
 * rendered; drops of tables, columns or indexes only when allow_destructive
 * (else PB_EFORBIDDEN naming the first one); any other change to an
 * existing table (a column's type, nullability or default, keys) is refused
 * with PB_EINVAL. A lower version is PB_EINVAL; the same version must be the
 * same model (then the result is ""). *sql is malloc'd, caller frees. */
int pb_dm_render(const pb_dm_model *from, const pb_dm_model *to, const pb_dm_target *target,
                 int allow_destructive, char **sql, pb_err *err);

#endif
