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
 *
 * Calls are synchronous (libcurl easy interface): the server's event loop
 * waits for a webhook, at most its timeoutSeconds (default 10, at most 30).
 * Not supported: matchPolicy Equivalent (rules match exactly),
 * matchConditions (CEL), reinvocationPolicy. admissionReviewVersions: the
 * first of v1 / v1beta1 the webhook lists is sent (neither: a failed call).
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

/* The same two calls with everything kube-apiserver would send back:
 *   status:   on -1/-2, the complete metav1.Status body to answer with
 *             (kind Status, code, reason, message; a webhook denial keeps
 *             the webhook's own status.code (400 when it gave none or one
 *             below 400) and reason; a failed call is 500 InternalError
 *             "Internal error occurred: failed calling webhook ...";
 *             a dry run hitting a webhook with side effects is 400
 *             BadRequest "admission webhook "x" does not support dry run").
 *   warnings: array of strings the webhooks returned (response.warnings),
 *             for `Warning: 299 - "<text>"` response headers; never NULL
 *             after a call.
 * Both are new references owned by the result; dv_admission_result_clear
 * releases them. The result must start zeroed. On -1/-2 *out is NULL. */
typedef struct dv_admission_result {
    json_t *status;
    json_t *warnings;
} dv_admission_result;
void dv_admission_result_clear(dv_admission_result *r);

int dv_admission_mutate_ex(dv_lister lister, void *ud, const dv_admission_request *req,
                           json_t **out, dv_admission_result *res);
int dv_admission_validate_ex(dv_lister lister, void *ud, const dv_admission_request *req,
                             dv_admission_result *res);

/* The annotation that makes a webhook's clientConfig.service reachable
 * from this dev server, where Service DNS names do not resolve: on the
 * Service object, its value is the real address ("https://127.0.0.1:9443").
 * The call still goes to https://<name>.<ns>.svc:<port><path> as far as
 * TLS is concerned (SNI and certificate checked for that name, as
 * kube-apiserver does); only the TCP connection is redirected. */
#define DV_ADMISSION_URL_ANNOTATION "paybill.dev/devapi-url"

#endif
