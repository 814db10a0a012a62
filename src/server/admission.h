/*
 * admission.h - Kubernetes AdmissionReview (admission.k8s.io/v1) for the
 * operator's admission webhooks: decode the API server's request strictly,
 * build the response.
 *
 * The request is what decides who submitted an object (request.userInfo),
 * so decoding fails closed: anything that is not a well-formed v1
 * AdmissionReview request (wrong apiVersion or kind, no request, no uid, no
 * operation, no userInfo.username, wrongly typed fields) is PB_EINVAL or
 * PB_EPARSE, which a handler answers with HTTP 400 (the API server then
 * applies the webhook's failurePolicy).
 *
 *     pb_adm_request *rq;
 *     if (pb_adm_decode(body, len, &rq, &err)) -> 400
 *     pb_adm_result res = {.allowed = 0, .code = 403, .message = "..."};
 *     json_t *review;
 *     pb_adm_response_build(rq, &res, &review, &err);   -> 200 + review
 *     pb_adm_request_free(rq);
 *
 * Ownership: every const pointer returned by a pb_adm_request accessor is
 * owned by the request and valid until pb_adm_request_free. Built reviews
 * are new references owned by the caller.
 */
#ifndef PAYBILL_SERVER_ADMISSION_H
#define PAYBILL_SERVER_ADMISSION_H

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

#define PB_ADM_MAX_WARNINGS 16

typedef struct pb_adm_request pb_adm_request;

/* request.userInfo. groups: a JSON array of strings (never NULL, maybe
 * empty); extra: a JSON object of string arrays (never NULL, maybe empty). */
typedef struct pb_adm_user {
    const char *username; /* never empty */
    const char *uid;      /* "" when the authenticator gave none */
    const json_t *groups;
    const json_t *extra;
} pb_adm_user;

int pb_adm_decode(const char *body, size_t len, pb_adm_request **out, pb_err *err);
void pb_adm_request_free(pb_adm_request *rq);

const char *pb_adm_uid(const pb_adm_request *rq);
/* "CREATE", "UPDATE", "DELETE" or "CONNECT". */
const char *pb_adm_operation(const pb_adm_request *rq);
/* request.kind {group, version, kind}; group "" for the core group. */
const char *pb_adm_kind_group(const pb_adm_request *rq);
const char *pb_adm_kind_version(const pb_adm_request *rq);
const char *pb_adm_kind(const pb_adm_request *rq);
/* request.resource {group, version, resource}, request.subResource
 * ("" when none), namespace and name ("" when absent: a generateName
 * CREATE has no name yet). */
const char *pb_adm_resource_group(const pb_adm_request *rq);
const char *pb_adm_resource(const pb_adm_request *rq);
const char *pb_adm_subresource(const pb_adm_request *rq);
const char *pb_adm_namespace(const pb_adm_request *rq);
const char *pb_adm_name(const pb_adm_request *rq);
const pb_adm_user *pb_adm_userinfo(const pb_adm_request *rq);
/* request.object / request.oldObject, NULL when absent or null. */
const json_t *pb_adm_object(const pb_adm_request *rq);
const json_t *pb_adm_old_object(const pb_adm_request *rq);
int pb_adm_dry_run(const pb_adm_request *rq);

/* What the webhook decided. Denials carry code (default 403 when 0),
 * reason (default "Forbidden" for 403, else omitted) and message. patch:
 * a JSONPatch array (RFC 6902), only with allowed; NULL = none. */
typedef struct pb_adm_result {
    int allowed;
    int code;
    const char *reason;
    const char *message;
    const json_t *patch;
    const char *warnings[PB_ADM_MAX_WARNINGS + 1]; /* NULL-terminated */
} pb_adm_result;

/* The AdmissionReview answering rq (its uid, same apiVersion). A patch on
 * a denial, or a patch that is not a JSON array, is PB_EINVAL. */
int pb_adm_response_build(const pb_adm_request *rq, const pb_adm_result *res, json_t **out,
                          pb_err *err);

#endif
