/*
 * webhook_certs.h - the operator's admission webhook endpoint and the
 * serving certificate it manages for itself.
 *
 * Every replica (leader or not: the API server may call any of them
 * through the Service) runs one webhook_certs. Its thread:
 *   1. reads the Secret <secret_name> in the system namespace (keys
 *      ca.crt, tls.crt, tls.key, and ca.key so that a leaf can be renewed
 *      under the same CA, leaving the caBundle valid); creates it when
 *      missing (a 409 from a racing replica: read theirs); replaces the
 *      leaf when it expires within 30 days, does not chain to ca.crt or
 *      does not name the Service; replaces the CA too when it expires
 *      within 60 days or its key is missing. Updates carry the
 *      resourceVersion, so two replicas never overwrite each other: the
 *      loser re-reads.
 *   2. serves HTTPS on listen_addr with that leaf (restarting the server
 *      when the Secret's leaf changed), routes added by the register
 *      callback;
 *   3. patches webhooks[*].clientConfig.caBundle, and nothing else, of the
 *      Mutating- and ValidatingWebhookConfiguration named config_name
 *      (a missing configuration is retried: it may be installed later).
 * It repeats every few seconds until all three succeeded, then every
 * recheck_s seconds.
 *
 * Nothing is served before a certificate is in the Secret: until then the
 * API server cannot reach the webhooks and, with failurePolicy Fail,
 * refuses Workflows (fail closed).
 *
 * Ownership: options strings are copied. The key and certificate are
 * written to a private temporary directory (0700, key 0600) removed by
 * webhook_certs_free.
 */
#ifndef PAYBILL_CONTROLLERS_WEBHOOK_CERTS_H
#define PAYBILL_CONTROLLERS_WEBHOOK_CERTS_H

#include <time.h>

#include "kube/client.h"
#include "server/http.h"
#include "util/err.h"

#define WEBHOOK_CERTS_SECRET "paybill-webhook-tls"
#define WEBHOOK_CERTS_SERVICE "paybill-webhooks"
#define WEBHOOK_CERTS_CONFIG "paybill-workflows"
#define WEBHOOK_CERTS_ROTATE_BEFORE_S (30L * 86400)

typedef struct webhook_certs webhook_certs;
/* Adds the HTTPS routes (admission, billing, JWKS...) to a new server;
 * called again each time the server restarts with a new leaf. */
typedef int (*webhook_certs_register_fn)(pb_http_server *srv, void *ud, pb_err *err);

typedef struct webhook_certs_options {
    kube_client *client;         /* borrowed; outlives the webhook_certs */
    const char *namespace_name;  /* system namespace (Secret, Service) */
    const char *listen_addr;     /* host:port */
    const char *secret_name;     /* NULL = WEBHOOK_CERTS_SECRET */
    const char *service_name;    /* NULL = WEBHOOK_CERTS_SERVICE */
    const char *config_name;     /* NULL = WEBHOOK_CERTS_CONFIG */
    webhook_certs_register_fn register_routes;
    void *register_ud;           /* passed to register_routes */
    int recheck_s;               /* 0 = 60: a helm upgrade empties caBundle */
    int external;                /* 1: someone else (cert-manager) issues the
                                    Secret and fills caBundle: only step 2,
                                    with tls.crt/tls.key read from the Secret
                                    (a renewed leaf is served at the next
                                    recheck) */
} webhook_certs_options;

/* Starts the thread; errors here are only bad options or resources. */
int webhook_certs_start(const webhook_certs_options *o, webhook_certs **out, pb_err *err);

/* The port served, or -1 while nothing is served yet. */
int webhook_certs_port(webhook_certs *w);

/* Stop the thread and the server, remove the files. NULL is fine. */
void webhook_certs_free(webhook_certs *w);

/* The steps below take wake_fd: once it is readable their requests make
 * no more retries (kube_request_opts.wake_fd), so webhook_certs_free does
 * not wait out the backoff of a server that is down. 0 = none. */

/* One pass of step 1, exposed for tests: the Secret's PEM (malloc'd,
 * caller frees all three) after creating or rotating it as needed. */
int webhook_certs_ensure_secret(kube_client *c, const char *ns, const char *secret_name,
                                const char *service_name, time_t now, int wake_fd, char **ca_pem,
                                char **cert_pem, char **key_pem, pb_err *err);

/* The external mode's step 1: tls.crt and tls.key of the Secret
 * (malloc'd, caller frees both); PB_ENOTFOUND while it does not exist,
 * PB_EINVAL while it lacks either key. Writes nothing. */
int webhook_certs_read_secret(kube_client *c, const char *ns, const char *secret_name, int wake_fd,
                              char **cert_pem, char **key_pem, pb_err *err);

/* Step 3 for one configuration name: PB_ENOTFOUND when neither
 * configuration exists yet. */
int webhook_certs_inject_ca(kube_client *c, const char *config_name, const char *ca_pem, int wake_fd,
                            pb_err *err);

#endif
