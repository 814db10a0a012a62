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
#include <stdint.h>

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
    /* The kind's registry strategy in kube-apiserver: a PUT must carry
     * metadata.resourceVersion (!AllowUnconditionalUpdate: Leases, webhook
     * configurations, CRDs, custom resources), and a PUT of a missing object
     * creates it (AllowCreateOnUpdate: Leases, RBAC, Services, Events,
     * LimitRanges). */
    int update_needs_rv;
    int create_on_update;
    /* Custom resources: the oldest resourceVersion a watch may start from.
     * kube-apiserver serves a CR type from a watch cache made when the CRD
     * (uid, generation) is first served, listing at the then current
     * revision: a watch from before it is 410 Expired. 0 until the CRD write
     * is stored (dv_registry_crd_stored); kept while the CRD's uid and
     * generation stay the same. */
    uint64_t watch_floor;
    char *crd_uid;
    long long crd_generation;
    int storage;        /* this version is the storage version */
    json_t *verbs;      /* array of strings */
    json_t *short_names;
    json_t *categories;
    json_t *columns;    /* additionalPrinterColumns: [{name,type,jsonPath,description,priority,format}] */
    json_t *schema;     /* CRD openAPIV3Schema or NULL */
    json_t *selectable; /* CRD selectableFields as field labels ("spec.tier"), or NULL */
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

/* Whether a fieldSelector may name `label` for this type, as kube-apiserver's
 * field label conversion decides: 0, or -1 with its error message (a 400).
 * Most built-ins take metadata.name and metadata.namespace only; Pods,
 * Events, Namespaces, Secrets, Services and Jobs have their own lists;
 * custom resources add their CRD version's selectableFields. */
int dv_rtype_field_label_ok(const dv_rtype *rt, const char *label, char *msg, size_t n);

/* Serve (or re-serve) the resources a CRD object defines. 0, or -1 with a
 * message when the CRD is unusable. */
int dv_registry_apply_crd(dv_registry *r, const json_t *crd, char *msg, size_t n);
/* The CRD `crd` was stored at revision rv: its types that have no watch
 * floor yet (new, or their definition changed) get rv. */
void dv_registry_crd_stored(dv_registry *r, const json_t *crd, uint64_t rv);
/* Stop serving the CRD's resources (group + plural). */
void dv_registry_remove_crd(dv_registry *r, const char *group, const char *plural);

/* Groups in discovery order, each {"name":g,"versions":[v...],"preferred":v}.
 * The core group ("") is not included. New reference. */
json_t *dv_registry_groups(const dv_registry *r);

#endif
