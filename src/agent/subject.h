/*
 * subject.h - who a policy is for: ServiceAccount, User and Group subjects
 * matched against the authenticated identity of an AdmissionReview
 * (`request.userInfo`: username, uid, groups).
 *
 * Subjects (JSON, as in the AgentPolicy spec; unknown keys refused):
 *   {"kind": "ServiceAccount", "name": "paybill-agent", "namespace": "tenant-acme"}
 *       matches username "system:serviceaccount:tenant-acme:paybill-agent";
 *       namespace defaults to the policy's own
 *   {"kind": "User", "name": "alice@example.com"}   matches that username
 *   {"kind": "Group", "name": "billing-bots"}        matches a member group
 * No wildcards. An anonymous identity (username "system:anonymous" or
 * group "system:unauthenticated") or one without a username matches no
 * subject at all, whatever the list says: fail closed.
 *
 * Ownership: pb_subj_user borrows every string from where it was filled
 * (the AdmissionReview JSON: keep it alive); lists from pb_subj_list_parse
 * are the caller's, freed with pb_subj_list_free; accessor strings are
 * owned by the list.
 */
#ifndef PAYBILL_AGENT_SUBJECT_H
#define PAYBILL_AGENT_SUBJECT_H

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

#define PB_SUBJ_MAX_GROUPS 64
#define PB_SUBJ_MAX 64

typedef enum { PB_SUBJ_SERVICEACCOUNT, PB_SUBJ_USER, PB_SUBJ_GROUP } pb_subj_kind;

/* An authenticated identity. Strings are borrowed. */
typedef struct pb_subj_user {
    const char *username;
    const char *uid; /* may be NULL */
    const char *groups[PB_SUBJ_MAX_GROUPS];
    size_t n_groups;
} pb_subj_user;

/* Fill u from an AdmissionReview userInfo object. PB_EINVAL when it is not
 * an object, the username is missing or empty, a field has the wrong type,
 * or there are more than PB_SUBJ_MAX_GROUPS groups (refused rather than
 * truncated: a dropped group could be the one a deny depends on). */
int pb_subj_user_from_json(const json_t *userinfo, pb_subj_user *u, pb_err *e);

/* 1 for an anonymous or nameless identity. */
int pb_subj_user_anonymous(const pb_subj_user *u);

/* 1 when a and b are the same principal: same username, or the same uid
 * when both have one. Approvers must not be the submitter. */
int pb_subj_same_principal(const pb_subj_user *a, const pb_subj_user *b);

typedef struct pb_subj_list pb_subj_list;

/* Parse a subjects array (NULL: an empty list). `ns` is the default
 * namespace of ServiceAccount subjects (NULL: they must name one); `path`
 * prefixes error messages ("spec.subjects"). At most PB_SUBJ_MAX. */
int pb_subj_list_parse(const json_t *arr, const char *ns, const char *path, pb_subj_list **out,
                       pb_err *e);
/* A list holding one ServiceAccount (the default subject). */
int pb_subj_list_one_sa(const char *ns, const char *name, pb_subj_list **out, pb_err *e);
void pb_subj_list_free(pb_subj_list *l);

/* 1 when u matches any subject of l (never for an anonymous u). */
int pb_subj_match(const pb_subj_list *l, const pb_subj_user *u);

size_t pb_subj_count(const pb_subj_list *l);
pb_subj_kind pb_subj_kind_at(const pb_subj_list *l, size_t i);
/* The name as written (for a ServiceAccount, its name). */
const char *pb_subj_name_at(const pb_subj_list *l, size_t i);
/* What identities are looked up by: for ServiceAccount and User the full
 * username ("system:serviceaccount:<ns>:<name>" for an SA), for Group the
 * group name. *is_group tells which. */
const char *pb_subj_key_at(const pb_subj_list *l, size_t i, int *is_group);
/* "ServiceAccount", "User", "Group". */
const char *pb_subj_kind_name(pb_subj_kind k);

#endif
