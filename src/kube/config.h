/*
 * config.h - where the API server is and how to authenticate to it.
 *
 * Sources, in kubectl's order: an explicit --kubeconfig path, else
 * $KUBECONFIG (several paths joined by ':' merged as kubectl merges them:
 * the first file to set a map key wins), else in-cluster service-account
 * files (KUBERNETES_SERVICE_HOST/PORT), else ~/.kube/config.
 *
 * Credentials: bearer token, token file (re-read when it changes: bound
 * tokens rotate), client certificate/key (files or -data), basic auth, and
 * exec credential plugins (client.authentication.k8s.io/v1 ExecCredential,
 * cached until expirationTimestamp).
 *
 * Ownership: kube_config is opaque and owned by the caller of
 * kube_config_load(); strings returned by getters are owned by it.
 */
#ifndef PAYBILL_KUBE_CONFIG_H
#define PAYBILL_KUBE_CONFIG_H

#include <stddef.h>

#include "util/err.h"

typedef struct kube_config kube_config;

typedef struct kube_config_options {
    const char *kubeconfig; /* explicit path (--kubeconfig), or NULL */
    const char *context;    /* --context, or NULL for current-context */
    int in_cluster_only;    /* ignore kubeconfig files */
} kube_config_options;

/* A bad or missing config fails with one line naming the file and field. */
int kube_config_load(const kube_config_options *o, kube_config **out, pb_err *err);
void kube_config_free(kube_config *cfg);

const char *kube_config_server(const kube_config *cfg);    /* "https://127.0.0.1:6443" */
const char *kube_config_namespace(const kube_config *cfg); /* context/SA namespace or "default" */

/* Where the config came from: the kubeconfig file that defined the context's
 * user (or the first file read), or "in-cluster". */
const char *kube_config_source(const kube_config *cfg);
/* The context used ("" in-cluster). */
const char *kube_config_context(const kube_config *cfg);

/* TLS: the CA bundle (PEM, `*len` bytes) to trust, or NULL for the system
 * store; insecure-skip-tls-verify; tls-server-name (NULL when unset). */
const char *kube_config_ca_pem(const kube_config *cfg, size_t *len);
int kube_config_insecure(const kube_config *cfg);
const char *kube_config_tls_server_name(const kube_config *cfg);

/*
 * Credentials for one request. The config itself is immutable; the state
 * that changes over time (a rotating token file, an exec plugin's cached
 * credential) lives in a kube_auth, one per client, thread-safe.
 */
typedef struct kube_auth kube_auth;

/* One request's credentials; every field may be NULL. Owned by the struct:
 * release with kube_credentials_clear(). */
typedef struct kube_credentials {
    char *token;                 /* bearer token */
    char *username, *password;   /* basic auth */
    char *cert_pem, *key_pem;    /* client certificate and key (PEM) */
    size_t cert_len, key_len;
} kube_credentials;
void kube_credentials_clear(kube_credentials *c);

/* The auth copies what it needs: cfg may be freed afterwards. */
int kube_auth_new(const kube_config *cfg, kube_auth **out, pb_err *err);
void kube_auth_free(kube_auth *a);

/* Current credentials: re-reads the token file when its mtime or size
 * changed (or a minute passed), re-runs the exec plugin when its credential
 * expired. Fails with the file or command named. */
int kube_auth_get(kube_auth *a, kube_credentials *out, pb_err *err);

/* After a 401: forget the exec credential and the token file contents so the
 * next kube_auth_get() fetches fresh ones. Returns 1 when that could help
 * (exec plugin or token file in use), 0 for static credentials. */
int kube_auth_invalidate(kube_auth *a);

#endif
