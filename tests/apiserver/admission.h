/*
 * admission.h - calling the admission webhooks configured in the store
 * (Mutating- then ValidatingWebhookConfiguration, admissionregistration/v1)
 * with AdmissionReview v1 over HTTPS, CA bundle verified.
 *
 * Honours rules (operations, apiGroups, apiVersions, resources incl.
 * "*" and "tenants/status"), namespaceSelector, objectSelector,
 * failurePolicy (Fail|Ignore), timeoutSeconds, sideEffects/dryRun, and
 * passes userInfo. Mutating responses are JSONPatch (base64) applied in
 * order. Ownership as in patch.h.
 */
#ifndef DEVAPI_ADMISSION_H
#define DEVAPI_ADMISSION_H

#include <jansson.h>
#include <stddef.h>

#include "auth.h"

typedef struct dv_admission_request {
    const char *operation;    /* CREATE UPDATE DELETE CONNECT */
    const char *group, *version, *kind, *resource, *subresource;
    const char *name, *ns;
    const json_t *object;     /* new object (NULL on DELETE) */
    const json_t *old_object; /* NULL on CREATE */
    const json_t *ns_object;  /* the namespace object for namespaceSelector, or NULL */
    const dv_user *user;
    int dry_run;
} dv_admission_request;

/* Runs mutating webhooks then returns the (possibly patched) object in
 * *out (new reference; a copy of req->object when nothing matched).
 * Returns 0 allowed, -1 denied (msg holds the message for a 403/400 Status
 * as kube-apiserver words it: admission webhook "<name>" denied the request:
 * <message>), -2 webhook call failed with failurePolicy Fail (msg says why,
 * -> 500 InternalError). */
int dv_admission_mutate(dv_lister lister, void *ud, const dv_admission_request *req,
                        json_t **out, char *msg, size_t n);

/* Validating webhooks on the final object; same returns. */
int dv_admission_validate(dv_lister lister, void *ud, const dv_admission_request *req,
                          char *msg, size_t n);

#endif
