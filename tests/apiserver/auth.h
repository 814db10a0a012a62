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
/* Fill *u (cleared first) with copies of name, uid (may be NULL) and the
 * NULL-terminated groups (may be NULL), adding system:authenticated unless
 * it or system:unauthenticated is already there. 0, or -1 out of memory. */
int dv_user_set(dv_user *u, const char *name, const char *uid, const char *const *groups);
/* Deep copy src into *dst (dst need not be cleared first). 0 or -1. */
int dv_user_copy(dv_user *dst, const dv_user *src);
/* 1 when u has the group. */
int dv_user_in_group(const dv_user *u, const char *group);

/* Returns every stored object of group/resource (group "" = core) in ns
 * (NULL = all namespaces) as a new JSON array. */
typedef json_t *(*dv_lister)(void *ud, const char *group, const char *resource, const char *ns);

typedef struct dv_auth dv_auth;

/* token_file: kube-apiserver --token-auth-file CSV (token,user,uid,"g1,g2"),
 * may be NULL. Empty lines are skipped, so is a record with an empty token
 * (logged, as kube-apiserver does); a record with fewer than 3 columns or a
 * broken quote makes the whole file invalid (-1, msg names the line), as it
 * stops kube-apiserver from starting. signing_key: HMAC-SHA256 key for the
 * ServiceAccount tokens it issues (NULL: 32 random bytes, so tokens die
 * with the process). */
int dv_auth_new(const char *token_file, const unsigned char *signing_key, size_t keylen,
                dv_lister lister, void *lister_ud, dv_auth **out, char *msg, size_t n);
void dv_auth_free(dv_auth *a);

/* Authenticate an "Authorization" header value ("Bearer <token>").
 * 0 and fills *u, or -1 (-> 401 Unauthorized). */
int dv_authenticate(dv_auth *a, const char *authorization, dv_user *u);

/* Issue a token for ServiceAccount ns/name (what TokenRequest and the
 * kubeconfig writer use). Caller frees. */
char *dv_issue_sa_token(dv_auth *a, const char *ns, const char *name, const char *sa_uid);
/* The same with explicit issue time (unix seconds) and lifetime
 * (expiration_seconds > 0 adds an "exp" claim, as TokenRequest does; 0 =
 * never expires, like a legacy Secret token). A token is JWT-shaped
 * (header.payload.signature, HS256) with the real claims: iss, sub, aud,
 * iat, nbf, exp, kubernetes.io{namespace, serviceaccount{name, uid}}. It
 * authenticates only while the ServiceAccount exists (looked up with the
 * lister) with the same uid when the token names one. Caller frees. */
char *dv_issue_sa_token_ex(dv_auth *a, const char *ns, const char *name, const char *sa_uid,
                           long long iat, long long expiration_seconds);

/* The lister given to dv_auth_new (and its ud in *ud when ud != NULL). */
dv_lister dv_auth_lister(const dv_auth *a, void **ud);

/* Apply Impersonate-User / Impersonate-Group / Impersonate-Uid headers
 * (NULL if absent): allowed when `u` may "impersonate" users/groups (and
 * uids in authentication.k8s.io); replaces *u. 0, or -1 with the 403
 * message when one of them is not allowed. imp_groups is NULL-terminated (or NULL). A user
 * "system:serviceaccount:NS:NAME" is checked as impersonate on
 * serviceaccounts NAME in NS and, without Impersonate-Group, gets the
 * ServiceAccount groups. Groups or a uid without a user: -2 with the
 * message of kube-apiserver's 400 ("requested &user.DefaultInfo{...}
 * without impersonating a user name"). */
int dv_impersonate(dv_auth *a, dv_user *u, const char *imp_user, const char *const *imp_groups,
                   const char *imp_uid, char *msg, size_t n);

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

/* RBAC privilege-escalation prevention, run by kube-apiserver's rbac
 * storage on create/update of roles, clusterroles, rolebindings and
 * clusterrolebindings (resource), after the request itself was authorized.
 * ns: the object's namespace (NULL for cluster-scoped); obj: the new
 * object; old: the stored one on update (NULL on create).
 *   roles/clusterroles: allowed for system:masters, with the "escalate"
 *     verb on it, or when u already holds every rule it grants (an
 *     aggregationRule needs full authority);
 *   bindings: allowed for system:masters, with the "bind" verb on the
 *     referenced role, or when u holds every rule of that role.
 * 1 allowed, 0 forbidden with the real 403 message in msg, e.g.
 *   roles.rbac.authorization.k8s.io "r" is forbidden: user "bob"
 *   (groups=["system:authenticated"]) is attempting to grant RBAC
 *   permissions not currently held:
 *   {APIGroups:[""], Resources:["secrets"], Verbs:["get"]} */
int dv_rbac_escalation_check(dv_auth *a, const dv_user *u, const char *resource, const char *ns,
                             const json_t *obj, const json_t *old, char *msg, size_t n);

/* The 403 message for a denied request, as dv_authorize words it: the
 * resource part (`tenants.paybill.dev "acme" is forbidden: `, or
 * `forbidden: ` for non-resource paths), the user part, and ": <reason>"
 * when reason is non-empty (e.g. `RBAC: role.rbac.authorization.k8s.io "x"
 * not found`). Returns the length it wanted (like snprintf). */
int dv_forbidden_message(const dv_user *u, const dv_attributes *at, const char *reason,
                         char *msg, size_t n);

/* Effective rules of a ClusterRole: its aggregationRule (clusterRoleSelectors,
 * matchLabels and matchExpressions against other ClusterRoles'
 * metadata.labels) when present, else its rules. This is what the
 * clusterrole-aggregation controller would have written into .rules; the
 * core may use it to show aggregated roles. New reference (an array). */
json_t *dv_clusterrole_rules(dv_auth *a, const json_t *clusterrole);

/* metav1.LabelSelector (matchLabels + matchExpressions with In, NotIn,
 * Exists, DoesNotExist) against a labels object (NULL = no labels). NULL or
 * {} selects everything. 1 match, 0 no match, -1 malformed selector. */
int dv_label_selector_json_matches(const json_t *selector, const json_t *labels);

/* POST bodies of authorization.k8s.io/v1 SelfSubjectAccessReview (for u)
 * and SubjectAccessReview (spec.user/groups). Returns the review with
 * status.allowed (and reason) filled, new reference; NULL if malformed.
 * Also takes LocalSubjectAccessReview (namespace from metadata) and hands
 * a SelfSubjectRulesReview to dv_rules_review, so one create-only handler
 * serves all four kinds. */
json_t *dv_access_review(dv_auth *a, const dv_user *u, const json_t *review);

/* POST body of a SelfSubjectRulesReview (spec.namespace) for u, what
 * `kubectl auth can-i --list` sends: returns it with status.resourceRules
 * ({verbs, apiGroups, resources, resourceNames}), status.nonResourceRules
 * ({verbs, nonResourceURLs}) and status.incomplete (true, with
 * evaluationError, when a binding names a missing role). New reference;
 * NULL if malformed. */
json_t *dv_rules_review(dv_auth *a, const dv_user *u, const json_t *review);

/* kubectl (client-go) POSTs built-in kinds as Kubernetes protobuf
 * (Content-Type application/vnd.kubernetes.protobuf: "k8s\0" + a
 * runtime.Unknown envelope), while accepting a JSON answer. Decode such a
 * body of the kinds this module answers into the JSON form its functions
 * take: SelfSubjectAccessReview, SubjectAccessReview,
 * LocalSubjectAccessReview, SelfSubjectRulesReview (authorization.k8s.io/v1),
 * TokenRequest and SelfSubjectReview (authentication.k8s.io/v1). New
 * reference, or NULL when the bytes are not one of those kinds. */
json_t *dv_auth_protobuf_to_json(const void *body, size_t len);

/* POST .../namespaces/NS/serviceaccounts/NAME/token (what `kubectl create
 * token` sends): sa is the stored ServiceAccount, request the TokenRequest
 * body (may be NULL or {}). Returns the TokenRequest with spec defaulted
 * (audiences [the API server], expirationSeconds 3600) and status.token /
 * status.expirationTimestamp filled; now is the issue time (unix seconds).
 * NULL with msg on an invalid spec, worded like the real 422:
 *   spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes
 * A token whose audiences do not include the API server's
 * ("https://kubernetes.default.svc.cluster.local") does not authenticate
 * here, as with a real server. New reference. */
json_t *dv_token_request(dv_auth *a, const json_t *sa, const json_t *request, long long now,
                         char *msg, size_t n);

/* authentication.k8s.io/v1 SelfSubjectReview (`kubectl auth whoami`) for
 * u: status.userInfo {username, uid, groups}. New reference. */
json_t *dv_self_subject_review(const dv_user *u);

/* The bootstrap RBAC policy kube-apiserver creates at start (the subset a
 * dev cluster needs): ClusterRoles cluster-admin, admin, edit, view,
 * system:basic-user, system:discovery, system:public-info-viewer and the
 * ClusterRoleBindings cluster-admin (group system:masters),
 * system:basic-user, system:discovery (group system:authenticated) and
 * system:public-info-viewer (system:authenticated, system:unauthenticated).
 * New array of {"group","resource","object"} records for the core to store
 * when absent. */
json_t *dv_rbac_bootstrap_policy(void);

#endif
