/*
 * auth.h - who is asking (authentication) and may they (authorization):
 * static token file, ServiceAccount tokens, RBAC evaluation, impersonation,
 * and the access reviews kubectl auth can-i uses.
 *
 * The store is reached only through the dv_lister callback, so this module
 * is testable without a server.
 * Ownership: dv_user values are owned by the caller (dv_user_clear frees);
 * dv_auth is opaque, owned by the creator.
 */
#ifndef DEVAPI_AUTH_H
#define DEVAPI_AUTH_H

#include <jansson.h>
#include <stddef.h>

typedef struct dv_user {
    char *name;     /* "admin", "system:serviceaccount:ns:sa" */
    char *uid;
    char **groups;  /* NULL-terminated; always includes system:authenticated */
    size_t ngroups;
} dv_user;
void dv_user_clear(dv_user *u);

/* Returns every stored object of group/resource (group "" = core) in ns
 * (NULL = all namespaces) as a new JSON array. */
typedef json_t *(*dv_lister)(void *ud, const char *group, const char *resource, const char *ns);

typedef struct dv_auth dv_auth;

/* token_file: kube-apiserver --token-auth-file CSV (token,user,uid,"g1,g2"),
 * may be NULL. signing_key: HMAC key for ServiceAccount tokens it issues. */
int dv_auth_new(const char *token_file, const unsigned char *signing_key, size_t keylen,
                dv_lister lister, void *lister_ud, dv_auth **out, char *msg, size_t n);
void dv_auth_free(dv_auth *a);

/* Authenticate an "Authorization" header value ("Bearer <token>").
 * 0 and fills *u, or -1 (-> 401 Unauthorized). */
int dv_authenticate(dv_auth *a, const char *authorization, dv_user *u);

/* Issue a token for ServiceAccount ns/name (what TokenRequest and the
 * kubeconfig writer use). Caller frees. */
char *dv_issue_sa_token(dv_auth *a, const char *ns, const char *name, const char *sa_uid);

/* Apply Impersonate-User / Impersonate-Group headers (NULL if absent):
 * allowed when `u` may "impersonate" users/groups; replaces *u. 0, or -1
 * with the 403 message. */
int dv_impersonate(dv_auth *a, dv_user *u, const char *imp_user, const char *const *imp_groups,
                   char *msg, size_t n);

typedef struct dv_attributes {
    const char *verb;        /* get list watch create update patch delete deletecollection, ... */
    const char *group;       /* "" for core */
    const char *resource;    /* plural; NULL for non-resource requests */
    const char *subresource; /* "status" or NULL */
    const char *name;        /* may be NULL */
    const char *ns;          /* NULL at cluster scope */
    const char *path;        /* non-resource URL, e.g. "/healthz" */
} dv_attributes;

/* RBAC: 1 allowed, 0 denied. system:masters is always allowed. When denied
 * and msg is non-NULL, msg receives the real server's 403 message:
 *   tenants.paybill.dev is forbidden: User "bob" cannot list resource "tenants" in API group "paybill.dev" in the namespace "ns"
 *   (cluster scope: ... at the cluster scope; core group: in API group "") */
int dv_authorize(dv_auth *a, const dv_user *u, const dv_attributes *at, char *msg, size_t n);

/* POST bodies of authorization.k8s.io/v1 SelfSubjectAccessReview (for u)
 * and SubjectAccessReview (spec.user/groups). Returns the review with
 * status.allowed (and reason) filled, new reference; NULL if malformed. */
json_t *dv_access_review(dv_auth *a, const dv_user *u, const json_t *review);

#endif
