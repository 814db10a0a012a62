/*
 * registry.h - the resource types the dev API server serves: the built-in
 * kinds it stores (namespaces, secrets, deployments, RBAC, CRDs, ...) and
 * the kinds that CustomResourceDefinitions add at run time.
 *
 * A dv_rtype describes one resource at one served group/version: what
 * discovery advertises (name, singularName, kind, verbs, shortNames,
 * categories, namespaced, status subresource) and what the handlers need
 * (printer columns, CRD schema, generation semantics). The struct is public
 * but read-only for callers: the registry owns every dv_rtype and its JSON
 * members; a pointer stays valid until the CRD that created it is changed or
 * removed (handlers look types up per request and never keep them).
 */
#ifndef DEVAPI_REGISTRY_H
#define DEVAPI_REGISTRY_H

#include <jansson.h>
#include <stddef.h>

typedef struct dv_rtype {
    char *group;    /* "" for core */
    char *version;  /* "v1" */
    char *plural;   /* "tenants" */
    char *singular; /* "tenant" */
    char *kind;     /* "Tenant" */
    char *list_kind;
    int namespaced;
    int has_status;     /* status subresource */
    int has_generation; /* metadata.generation tracked (CRs, workloads) */
    int create_only;    /* access reviews: POST only, nothing stored */
    int is_crd;         /* served because of a CRD */
    int storage;        /* this version is the storage version */
    json_t *verbs;      /* array of strings */
    json_t *short_names;
    json_t *categories;
    json_t *columns;    /* additionalPrinterColumns: [{name,type,jsonPath,description,priority,format}] */
    json_t *schema;     /* CRD openAPIV3Schema or NULL */
} dv_rtype;

typedef struct dv_registry dv_registry;

dv_registry *dv_registry_new(void);
void dv_registry_free(dv_registry *r);

/* By group, version and plural; NULL when not served. */
const dv_rtype *dv_registry_find(const dv_registry *r, const char *group, const char *version,
                                 const char *plural);
/* The storage (or first) version of group/plural, for GC and namespace
 * cleanup which work across versions. */
const dv_rtype *dv_registry_find_any(const dv_registry *r, const char *group, const char *plural);
/* Types in registration order: i from 0 until NULL. */
const dv_rtype *dv_registry_at(const dv_registry *r, size_t i);

/* Serve (or re-serve) the resources a CRD object defines. 0, or -1 with a
 * message when the CRD is unusable. */
int dv_registry_apply_crd(dv_registry *r, const json_t *crd, char *msg, size_t n);
/* Stop serving the CRD's resources (group + plural). */
void dv_registry_remove_crd(dv_registry *r, const char *group, const char *plural);

/* Groups in discovery order, each {"name":g,"versions":[v...],"preferred":v}.
 * The core group ("") is not included. New reference. */
json_t *dv_registry_groups(const dv_registry *r);

#endif
