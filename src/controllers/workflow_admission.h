/*
 * workflow_admission.h - the Workflow admission webhooks: who submitted a
 * Workflow is taken from the API server's AdmissionReview (the
 * authenticated request.userInfo), never from the client.
 *
 *   POST /mutate/workflows   CREATE: refuse any client-supplied submitter
 *                            (spec.submitter, or the annotation
 *                            paybill.dev/submitted-by), then stamp
 *                            spec.submitter {username, uid, groups} from
 *                            userInfo with a JSONPatch.
 *   POST /validate/workflows CREATE: spec.submitter must equal userInfo
 *                            exactly (absent or different: deny).
 *                            UPDATE: spec is immutable for everyone (deny
 *                            naming the first differing field);
 *                            metadata and status changes pass, except the
 *                            submitted-by annotation, which no one sets.
 *
 * Both fail closed: a body that is not a v1 AdmissionReview is a 400 (the
 * API server then applies failurePolicy: Fail), a request for another kind
 * is denied. The decisions are pure functions of the request, so they are
 * unit-testable without a server.
 *
 * Ownership: *out reviews are new references owned by the caller.
 */
#ifndef PAYBILL_CONTROLLERS_WORKFLOW_ADMISSION_H
#define PAYBILL_CONTROLLERS_WORKFLOW_ADMISSION_H

#include <jansson.h>

#include "server/admission.h"
#include "server/http.h"
#include "util/err.h"

#define WF_ADM_MUTATE_PATH "/mutate/workflows"
#define WF_ADM_VALIDATE_PATH "/validate/workflows"
#define WF_ADM_SUBMITTED_BY_ANNOTATION "paybill.dev/submitted-by"
/* AdmissionReviews carry the whole object (twice on UPDATE); a Workflow is
 * bounded by its CRD (1000 steps), this leaves room for that. */
#define WF_ADM_MAX_BODY (3u * 1024 * 1024)

/* The decisions: a full AdmissionReview response for rq in *out. */
int wf_adm_mutate(const pb_adm_request *rq, json_t **out, pb_err *err);
int wf_adm_validate(const pb_adm_request *rq, json_t **out, pb_err *err);

/* Register both routes on srv (before pb_http_server_start). */
int wf_adm_register(pb_http_server *srv, void *ud, pb_err *err);

#endif
