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

#endif
