/*
 * schema.h - CustomResourceDefinition structural schemas: validation,
 * pruning and defaulting of custom objects, and the OpenAPI documents
 * kubectl reads (explain, apply validation). Pure functions over jansson.
 *
 * Ownership: inputs are borrowed; functions that modify an object say so.
 * Field paths in causes use kube-apiserver's notation: "spec.plan",
 * "spec.items[2].name".
 */
#ifndef DEVAPI_SCHEMA_H
#define DEVAPI_SCHEMA_H

#include <jansson.h>
#include <stddef.h>

/* Validate obj against an openAPIV3Schema (the CRD version's
 * schema.openAPIV3Schema). Returns the number of violations (0 = valid) and
 * appends one cause per violation to `causes` (a JSON array owned by the
 * caller) as {"reason":"FieldValueRequired|FieldValueNotSupported|
 * FieldValueInvalid|FieldValueTypeInvalid|FieldValueTooLong|...",
 * "message":"<detail as the real server words it>","field":"spec.x"}.
 * Handles: type (object, array, string, integer, number, boolean), required,
 * enum, pattern (POSIX ERE via regcomp is acceptable), minimum/maximum
 * (exclusive too), minLength/maxLength, minItems/maxItems, minProperties/
 * maxProperties, format (date-time, int-or-string, ...), nullable,
 * x-kubernetes-int-or-string, x-kubernetes-preserve-unknown-fields,
 * x-kubernetes-embedded-resource, additionalProperties (maps), items.
 * metadata is not validated beyond name (the caller does that). */
int dv_schema_validate(const json_t *schema, const json_t *obj, json_t *causes);

/* Remove fields not described by the schema (unless preserved by
 * x-kubernetes-preserve-unknown-fields), in place. apiVersion, kind and
 * metadata at the root are always kept. */
void dv_schema_prune(const json_t *schema, json_t *obj);

/* Apply `default` values for absent fields, in place, recursively (defaults
 * inside objects that exist or are themselves defaulted). */
void dv_schema_default(const json_t *schema, json_t *obj);

/* Check that a CRD's schema is structural and well-formed; returns 0 or -1
 * with a message. */
int dv_schema_check_structural(const json_t *schema, char *msg, size_t n);

/* OpenAPI v3 document for one group/version (served at
 * /openapi/v3/apis/<group>/<version>, or /openapi/v3/api/v1 for core):
 * components.schemas keyed "<reverse-group>.<version>.<Kind>" (e.g.
 * "dev.paybill.v1alpha1.Tenant") with x-kubernetes-group-version-kind, plus
 * the ObjectMeta/ListMeta/Status schemas kubectl needs. `kinds` is an array
 * of {"kind":..., "plural":..., "namespaced":bool, "schema": {...}} for that
 * group/version (builtins give a permissive object schema). New reference. */
json_t *dv_openapi_v3_document(const char *group, const char *version, const json_t *kinds);

#endif
