/*
 * patch.h - the four PATCH flavours of the Kubernetes API, as pure functions
 * over jansson values (no I/O, no store): JSON merge patch (RFC 7386), JSON
 * patch (RFC 6902), strategic merge patch (built-in kinds: what kubectl
 * apply/patch send) and server-side apply with managedFields and conflicts.
 *
 * Errors: functions return 0, or -1 with a human message in msg (size n)
 * that the caller puts into a 400/422 Status. Ownership: *out receives a new
 * reference; inputs are borrowed and never modified.
 */
#ifndef DEVAPI_PATCH_H
#define DEVAPI_PATCH_H

#include <jansson.h>
#include <stddef.h>

/* RFC 7386: null deletes, objects merge recursively, anything else replaces. */
int dv_merge_patch(const json_t *target, const json_t *patch, json_t **out, char *msg, size_t n);

/* RFC 6902: add, remove, replace, move, copy, test; JSON pointers with ~0 ~1.
 * null is an empty patch (what Go decodes it to). */
int dv_json_patch(const json_t *target, const json_t *ops, json_t **out, char *msg, size_t n);

/* The checks kube-apiserver makes on a JSON patch body before applying it,
 * with its words: -1 when it does not decode as Go decodes it (a 400; strict
 * for fieldValidation Strict/Warn, the default, which decodes into typed
 * operations), -2 when it has more than 10000 operations (a 413), else 0.
 * A patch that decodes but then fails to apply is a 422 whose message
 * kube-apiserver does not pass on (see dv_handle_patch). */
int dv_json_patch_decode(const json_t *ops, int strict, char *msg, size_t n);

/* Strategic merge patch for built-in kinds. `kind` ("Deployment", "Pod",
 * "Service", ...) selects list merge keys (containers/env/volumes by name,
 * ports by containerPort/port, ...); lists without a known merge key are
 * replaced. Supports the directives kubectl emits: $patch: replace|delete|merge,
 * $setElementOrder/<list>, $deleteFromPrimitiveList/<list>, $retainKeys. */
int dv_strategic_merge(const json_t *target, const json_t *patch, const char *kind,
                       json_t **out, char *msg, size_t n);

/* Server-side apply. live may be NULL (object created by apply). applied is
 * the user's configuration (already parsed from YAML/JSON). The result's
 * metadata.managedFields records, per manager and operation, the fields it
 * owns (fieldsV1 format: {"f:spec":{"f:replicas":{}}}).
 * Conflict: a field owned by another manager with a different value, without
 * force -> return -2 and fill msg as kube-apiserver words it:
 *   Apply failed with 1 conflict: conflict with "<manager>": .spec.color
 *   Apply failed with 2 conflicts: conflicts with "<mgr>" using apps/v1:\n- .spec.a\n- .spec.b
 * (Update managers are followed by " using <apiVersion>"; with several
 * conflicts they are grouped per manager, managers sorted by name).
 * An applied configuration that cannot be typed (a keyed list item without
 * its key, duplicate keys) returns -1 with "failed to create typed patch
 * object (...): ..." in msg.
 * With force, ownership moves to `manager`. Fields the manager owned before
 * and no longer applies are removed if no one else owns them. */
int dv_server_side_apply(const json_t *live, const json_t *applied, const char *manager,
                         int force, const char *now_rfc3339, json_t **out, char *msg, size_t n);
/* The same; on a conflict (-2) *causes (when not NULL) also receives the
 * Status details.causes kube-apiserver sends with the 409, one per
 * conflicting field: [{"reason":"FieldManagerConflict","message":"conflict
 * with \"<manager>\"","field":".data.k"}], grouped by manager as in msg.
 * New reference; NULL on success or other errors. */
int dv_server_side_apply_causes(const json_t *live, const json_t *applied, const char *manager, int force,
                                const char *now_rfc3339, json_t **out, json_t **causes, char *msg, size_t n);

/* Record an Update/Create by `manager` (non-apply writes) in managedFields of
 * obj (modified in place), owning every leaf field that differs from old
 * (old may be NULL). Used by create/update/patch handlers. Any operation
 * other than "Apply" is recorded as "Update" (the only two the API knows).
 * obj's own managedFields are kept when non-empty (a client may rewrite
 * them), [{}] clears them, absent or [] means "old's". */
void dv_managed_fields_update(json_t *obj, const json_t *old, const char *manager,
                              const char *operation, const char *now_rfc3339);

/* How a list field of `kind` merges, for strategic merge and apply. path is
 * the dotted field path with list items elided ("spec.template.spec.containers",
 * "spec.template.spec.containers.ports"). Returns NULL for an atomic list
 * (replaced whole), "" for a set of primitives (metadata.finalizers), or the
 * comma-separated merge keys, a key's default after '=' when the server
 * defaults it ("name", "containerPort,protocol=TCP"); strategic merge uses the
 * first key. Static strings, never freed. */
const char *dv_patch_list_keys(const char *kind, const char *path);

#endif
