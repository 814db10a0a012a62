/*
 * handlers_int.h - internals shared by the handler files (handlers.c,
 * handlers_crud.c, handlers_watch.c, discovery.c, table.c, gc.c). Not for
 * use outside the dev API server's handler layer.
 */
#ifndef DEVAPI_HANDLERS_INT_H
#define DEVAPI_HANDLERS_INT_H

#include <jansson.h>
#include <stdint.h>

#include "auth.h"
#include "handlers.h"
#include "registry.h"
#include "store.h"

struct dv_api {
    dv_store *store;
    dv_registry *reg;
    dv_auth *auth;
    dv_api_config cfg;
    dv_watch **watches;
    size_t nwatches, capwatches;
    unsigned int rng;
    uint64_t gc_rv; /* store revision the last GC pass saw */
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
/* A metav1.Status failure. details may be NULL (stolen). */
void dv_reply_status(dv_ctx *c, int code, const char *reason, const char *message, json_t *details);
/* "<plural>.<group>" or "<plural>" for core. */
void dv_qualified(const dv_rtype *rt, char *buf, size_t n);
void dv_reply_not_found(dv_ctx *c, const dv_rtype *rt, const char *name);
void dv_reply_invalid(dv_ctx *c, const dv_rtype *rt, const char *name, json_t *causes);
void dv_now_rfc3339(char buf[32]);
void dv_new_uid(char buf[40]);
/* "apps/v1" or "v1". */
void dv_api_version(const dv_rtype *rt, char *buf, size_t n);
/* Field manager for a write: fieldManager param, else the User-Agent's
 * program name. */
void dv_field_manager(const dv_ctx *c, char *buf, size_t n);
/* The store lister handed to auth and admission. */
json_t *dv_lister_fn(void *ud, const char *group, const char *resource, const char *ns);

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

/* ---- gc.c ---------------------------------------------------------------------- */
/* Garbage collection and namespace termination until nothing changes. */
void dv_gc_run(dv_api *api);

#endif
