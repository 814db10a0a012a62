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
 * metadata is not validated beyond name (the caller does that).
 * Also allOf/anyOf/oneOf/not and x-kubernetes-list-type set/map uniqueness
 * (FieldValueDuplicate). Ignored: x-kubernetes-validations (CEL rules).
 * Causes come in
 * kube-openapi's order (properties before required); reasons include
 * FieldValueTooMany (maxItems/maxProperties) and FieldValueTypeInvalid
 * (type and format errors). */
int dv_schema_validate(const json_t *schema, const json_t *obj, json_t *causes);

/* Remove fields not described by the schema (unless preserved by
 * x-kubernetes-preserve-unknown-fields), in place. apiVersion, kind and
 * metadata at the root are always kept. */
void dv_schema_prune(const json_t *schema, json_t *obj);

/* Apply `default` values for absent fields, in place, recursively (defaults
 * inside objects that exist or are themselves defaulted). Like the real
 * decoder it first drops nulls of non-nullable fields that have no default,
 * and replaces nulls of non-nullable fields that have one. Run it before
 * dv_schema_prune and dv_schema_validate (the real order: default, prune,
 * validate). */
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

/* ---- additions (the functions above are the original contract) ---------- */

/* dv_schema_validate for an UPDATE (PUT/PATCH/apply of an existing object):
 * with validation ratcheting (CRDValidationRatcheting, on by default in
 * 1.32) OpenAPI errors in parts of obj that are unchanged from old are not
 * reported. Values are correlated by object key and, in list-type map
 * lists, by item key. old may be NULL (= dv_schema_validate). */
int dv_schema_validate_update(const json_t *schema, const json_t *obj, const json_t *old, json_t *causes);

/* dv_schema_prune that also appends the path of every removed field to
 * `pruned` (caller-owned array, may be NULL), sorted: "spec.foo",
 * "spec.items[0].bar", "extra". Returns how many were removed. With
 * ?fieldValidation=Strict (kubectl apply's default) the real server rejects
 * the request instead: 400 BadRequest, message
 *   <Kind> in version "<version>" cannot be handled as a <Kind>: strict
 *   decoding error: unknown field "spec.foo", unknown field "spec.bar"
 * and with Warn it sends a `Warning: 299 - "unknown field \"spec.foo\""`
 * header per path. */
int dv_schema_prune_report(const json_t *schema, json_t *obj, json_t *pruned);

/* Recursion bound, in schema levels, for every function here. Deeper schemas
 * are rejected by the structural check; validation reports an InternalError
 * cause and pruning/defaulting stop descending. */
#define DV_SCHEMA_MAX_DEPTH 64

/* As dv_schema_check_structural, with field paths rooted at `base` (e.g.
 * "spec.versions[0].schema.openAPIV3Schema", which is what kube-apiserver
 * reports; NULL means "openAPIV3Schema"). msg is "<field>: <detail>", or
 * "[<field>: <detail>, ...]" when there are several problems. */
int dv_schema_check_structural_at(const json_t *schema, const char *base, char *msg, size_t n);

/* Same check, appending one {"reason","message","field"} cause per problem to
 * `causes` (caller-owned array); returns the number of problems. This is
 * what a 422 for a CustomResourceDefinition needs. */
int dv_schema_check_structural_causes(const json_t *schema, const char *base, json_t *causes);

/* The aggregate text kube-apiserver puts after "is invalid: ": "field: msg"
 * for one cause, "[field: msg, field: msg]" for several (duplicates
 * dropped). malloc'd, caller frees. */
char *dv_schema_causes_message(const json_t *causes);

/* The whole Status message of a 422 Invalid:
 *   <qualified_kind> "<name>" is invalid: <dv_schema_causes_message>
 * e.g. qualified_kind "Tenant.paybill.dev". malloc'd, caller frees. */
char *dv_schema_invalid_message(const char *qualified_kind, const char *name, const json_t *causes);

/* Name of a kind's schema in components.schemas: builtins use their Go
 * package ("io.k8s.api.core.v1.ConfigMap", "io.k8s.api.apps.v1.Deployment",
 * "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"),
 * other groups are reversed ("dev.paybill.v1alpha1.Tenant"). malloc'd. */
char *dv_openapi_schema_name(const char *group, const char *version, const char *kind);

/* The key of a group/version in the /openapi/v3 index and its URL suffix:
 * "api/v1" for the core group, else "apis/<group>/<version>". malloc'd. */
char *dv_openapi_v3_path_key(const char *group, const char *version);

/* Content hash of a document, as the ?hash= of its serverRelativeURL:
 * uppercase hex SHA-512 of its canonical JSON (sorted keys). malloc'd. */
char *dv_openapi_v3_hash(const json_t *doc);

/* The /openapi/v3 index: `docs` maps path keys ("apis/paybill.dev/v1alpha1")
 * to their documents; returns {"paths":{key:{"serverRelativeURL":
 * "/openapi/v3/<key>?hash=<H>"}}}. New reference. */
json_t *dv_openapi_v3_index(const json_t *docs);

#endif
