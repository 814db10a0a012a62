/*
 * handlers_int.h - internals shared by the handler files (handlers.c,
 * handlers_crud.c, handlers_watch.c, discovery.c, table.c, gc.c). Not for
 * use outside the dev API server's handler layer.
 */
#ifndef DEVAPI_HANDLERS_INT_H
#define DEVAPI_HANDLERS_INT_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "auth.h"
#include "handlers.h"
#include "registry.h"
#include "selector.h"
#include "store.h"

struct dv_api {
    dv_store *store;
    dv_registry *reg;
    dv_auth *auth;
    dv_api_config cfg;
    dv_watch **watches;
    size_t nwatches, capwatches;
    unsigned int rng;
    /* GC runs only when a write may have given it work (gc.c). */
    int gc_pending;     /* a relevant write happened since the last GC run */
    int gc_terminating; /* the last GC run saw objects being deleted */
    int gc_sub;         /* store subscription that sets gc_pending */
    json_t *gc_uids;    /* uid -> "group\0resource\0ns\0name" of every stored object */
    json_t *gc_refs;    /* uid -> how many ownerReferences point at it */
    FILE *record;       /* --record file, or NULL */
    int record_failed;  /* a write to it failed (logged once) */
};

/* One request being served. */
typedef struct dv_ctx {
    dv_api *api;
    const dv_request *req;
    dv_response *resp;
    dv_user user;
    const dv_rtype *rt;
    const char *ns;   /* NULL at cluster scope / all namespaces */
    const char *name; /* NULL for collections */
    const char *sub;  /* "status" or NULL */
    const char *verb;
} dv_ctx;

/* ---- handlers.c: responses and helpers ---------------------------------------- */
const char *dv_q(const dv_ctx *c, const char *key);
/* Respond with a JSON body (reference stolen). */
void dv_reply_json(dv_ctx *c, int status, json_t *body);
/* Respond with serialized JSON (malloc'd body of len bytes, stolen). */
void dv_reply_text(dv_ctx *c, int status, char *body, size_t len);
/* A metav1.Status failure. details may be NULL (stolen). */
void dv_reply_status(dv_ctx *c, int code, const char *reason, const char *message, json_t *details);
/* Set the Warning header (`299 - "<text>"`, quotes escaped) unless one is
 * set already. */
void dv_set_warning(dv_ctx *c, const char *text);
/* "<plural>.<group>" or "<plural>" for core. */
void dv_qualified(const dv_rtype *rt, char *buf, size_t n);
void dv_reply_not_found(dv_ctx *c, const dv_rtype *rt, const char *name);
void dv_reply_invalid(dv_ctx *c, const dv_rtype *rt, const char *name, json_t *causes);
/* A JSON patch body kube-apiserver refuses before applying it (400 or 413,
 * see dv_json_patch_decode): replies and returns 1, else 0. */
int dv_reply_json_patch_error(dv_ctx *c, const json_t *ops);
/* A JSON patch that failed to apply: kube-apiserver's generic 422, without
 * the patch library's reason (NewGenericServerResponse, empty details). */
void dv_reply_json_patch_failed(dv_ctx *c);
void dv_now_rfc3339(char buf[32]);
void dv_new_uid(char buf[40]);
/* "apps/v1" or "v1". */
void dv_api_version(const dv_rtype *rt, char *buf, size_t n);
/* Field manager for a write: fieldManager param, else the User-Agent's
 * program name. */
void dv_field_manager(const dv_ctx *c, char *buf, size_t n);
/* The store lister handed to auth and admission. */
json_t *dv_lister_fn(void *ud, const char *group, const char *resource, const char *ns);

/* ---- handlers_crud.c: shared object helpers ---- */
/* labelSelector and fieldSelector of the request (field labels checked
 * against the kind); replies 400 and returns -1 when one is refused. */
int dv_parse_selectors(dv_ctx *c, dv_selector **ls, dv_selector **fs);
/* metadata of obj (created when missing); a metadata string or NULL. */
json_t *dv_md(json_t *obj);
const char *dv_mds(const json_t *obj, const char *key);
/* 1 when the request Content-Type is `want` (parameters ignored). */
int dv_ctype_is(const dv_ctx *c, const char *want);
/* The request body as JSON (or YAML / supported protobuf); replies 400/415
 * and returns -1 on failure. New reference in *out. */
int dv_parse_body(dv_ctx *c, json_t **out);
/* Write old -> obj (stolen) as PUT does: preconditions, status rules,
 * admission, validation, generation, no-op detection; replies. applied: 1
 * when managedFields were already computed by server-side apply. */
void dv_update_object(dv_ctx *c, const json_t *old, json_t *obj, int applied);

/* ---- crd.c ---- */
/* Prune + default a custom object; unknown fields per fieldValidation.
 * -1 when the request failed (reply set). */
int dv_crd_decode(dv_ctx *c, json_t *obj);
/* Schema violations appended to causes; returns their number. */
int dv_crd_validate(dv_ctx *c, const json_t *obj, json_t *causes);
/* Checks of a CustomResourceDefinition; fills its status on success. */
int dv_crd_check_definition(dv_ctx *c, json_t *crd, json_t *causes);

/* ---- handlers_crud.c ------------------------------------------------------------ */
void dv_handle_get(dv_ctx *c);
void dv_handle_list(dv_ctx *c);
void dv_handle_create(dv_ctx *c);
void dv_handle_update(dv_ctx *c);
void dv_handle_patch(dv_ctx *c);
void dv_handle_delete(dv_ctx *c);
void dv_handle_deletecollection(dv_ctx *c);
/* GET/PUT/PATCH deployments|statefulsets/NAME/scale (autoscaling/v1 Scale). */
void dv_handle_scale(dv_ctx *c);
/* POST serviceaccounts/NAME/token (TokenRequest). */
void dv_handle_token_request(dv_ctx *c);
#define DV_CRD_CLEANUP_FINALIZER "customresourcecleanup.apiextensions.k8s.io"

/* Seed the default namespaces on an empty store. */
void dv_seed(dv_api *api);
/* Delete as a DELETE request would (finalizers, propagation policy).
 * 0 deleted or deletion started, -1 not found. */
int dv_delete_object(dv_api *api, const dv_rtype *rt, const char *ns, const char *name,
                     const char *policy);
/* Write back an object being deleted (finalizers changed); removes it when
 * no finalizers remain. obj stolen. */
void dv_store_or_finalize(dv_api *api, const dv_rtype *rt, json_t *obj);
/* Serve the CRDs found in the store (after a restart). */
void dv_load_crds(dv_api *api);

/* ---- handlers_watch.c ------------------------------------------------------------ */
void dv_handle_watch(dv_ctx *c);
void dv_watches_tick(dv_api *api);
void dv_watches_free_all(dv_api *api);
/* End the watches on group/plural (its CRD is gone). */
void dv_watches_end(dv_api *api, const char *group, const char *plural);

/* ---- discovery.c ------------------------------------------------------------------ */
/* 1 when the path was a discovery/openapi/version/health path (handled). */
int dv_handle_discovery(dv_ctx *c);

/* ---- table.c -------------------------------------------------------------------- */
/* 1 when the Accept header asks for a meta.k8s.io Table. */
int dv_wants_table(const dv_request *req);
/* Table of objects (array, borrowed). include_object: "None", "Metadata"
 * (default), "Object". with_columns 0 omits columnDefinitions (watch). New ref. */
json_t *dv_table(const json_t *columns, const json_t *objects, const char *include_object,
                 int with_columns);

/* ---- defaults.c ---- */
/* Built-in defaulting (SetDefaults_*) of obj, in place. */
void dv_apply_defaults(const dv_rtype *rt, json_t *obj);
/* Canonical quantities in place; -1 with the 400 message when one does not
 * decode, else 0 with 422 causes for refused values. */
int dv_check_quantities(const dv_rtype *rt, json_t *obj, json_t *causes, char *msg, size_t n);

/* ---- gc.c ---------------------------------------------------------------------- */
/* Garbage collection and namespace termination until nothing changes. */
void dv_gc_run(dv_api *api);
/* dv_gc_run when a write since the last run may have given GC work. */
void dv_gc_run_if_pending(dv_api *api);
/* Index the store (uids, owner references) and subscribe to its events to
 * mark GC pending for the writes that can give it work. */
void dv_gc_init(dv_api *api);
void dv_gc_free(dv_api *api);

#endif
