/*
 * json.h - typed access to jansson trees by path, for reading manifests,
 * API objects and config files with errors a user can act on.
 *
 * Paths are dotted keys with array indices and, for keys that contain dots
 * or slashes (annotations, labels), bracketed quoted keys:
 *
 *     spec.database.pool
 *     spec.items[2].name
 *     metadata.annotations["paybill.dev/tier"]
 *
 * Getters distinguish a missing value (PB_ENOTFOUND, "spec.plan: not found")
 * from a value of the wrong type (PB_EINVAL, "spec.replicas: expected
 * integer, got string"). A JSON null counts as missing, as it does for
 * Kubernetes fields. A malformed path is PB_EINVAL.
 *
 * Ownership: values returned through `out` (strings, objects, arrays) are
 * borrowed from `root` and live as long as it does; do not free them.
 */
#ifndef PAYBILL_UTIL_JSON_H
#define PAYBILL_UTIL_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

/* "object", "array", "string", "integer", "real", "boolean", "null" or
 * "missing" (v == NULL). Static string. */
const char *pb_json_type_name(const json_t *v);

/* The first key of `obj` not in `allowed` (NULL-terminated), or NULL when
 * every key is allowed or obj is not an object. Borrowed from obj: for
 * the caller's "unknown field" error, worded where the field is known. */
const char *pb_json_unknown_key(const json_t *obj, const char *const *allowed);

/* Any value at `path` (borrowed). PB_ENOTFOUND when absent or null. */
int pb_json_get(const json_t *root, const char *path, json_t **out, pb_err *err);

int pb_json_get_string(const json_t *root, const char *path, const char **out, pb_err *err);
int pb_json_get_int(const json_t *root, const char *path, long long *out, pb_err *err);
/* Integer or real, as a double. */
int pb_json_get_number(const json_t *root, const char *path, double *out, pb_err *err);
int pb_json_get_bool(const json_t *root, const char *path, int *out, pb_err *err);
int pb_json_get_object(const json_t *root, const char *path, json_t **out, pb_err *err);
int pb_json_get_array(const json_t *root, const char *path, json_t **out, pb_err *err);

/* Optional variants: a missing (or null) value yields `def` and returns 0;
 * a value of the wrong type is still PB_EINVAL. */
int pb_json_opt_string(const json_t *root, const char *path, const char *def,
                       const char **out, pb_err *err);
int pb_json_opt_int(const json_t *root, const char *path, long long def,
                    long long *out, pb_err *err);
int pb_json_opt_number(const json_t *root, const char *path, double def,
                       double *out, pb_err *err);
int pb_json_opt_bool(const json_t *root, const char *path, int def, int *out, pb_err *err);

/* Store `value` at `path` in `root` (an object), creating missing
 * intermediate objects. An index may name an existing element (replaced) or
 * be equal to the array size (appended). `value` is stolen (a reference is
 * consumed) whether or not the call succeeds. */
int pb_json_set_path(json_t *root, const char *path, json_t *value, pb_err *err);

/* Deterministic text: sorted keys, no whitespace, any value type. Equal
 * trees give byte-identical output (use for hashing and diffs). Returns a
 * malloc'd string the caller frees, or NULL when out of memory. */
char *pb_json_dumps_canonical(const json_t *v);

/* Parse `len` bytes of JSON (any value type) into a new reference the caller
 * owns. PB_EPARSE with "line L, column C: <reason>" on bad input. */
int pb_json_loads(const char *buf, size_t len, json_t **out, pb_err *err);

#endif
