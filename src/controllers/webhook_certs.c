/*
 * webhook_certs.c - the serving certificate in a Secret, the HTTPS webhook
 * server that uses it, and caBundle injection (see webhook_certs.h).
 */
#include "controllers/webhook_certs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/tlscert.h"
#include "util/log.h"
#include "util/secret.h"
#include "util/proc.h"

#define CA_VALID_S (3650L * 86400)
#define LEAF_VALID_S (365L * 86400)
#define CA_ROTATE_BEFORE_S (60L * 86400) /* > leaf window: a new leaf always fits */
#define RETRY_S 2      /* first retry; doubled up to RETRY_MAX_S */
#define RETRY_MAX_S 60

static const kube_gvr SECRETS = {"", "v1", "secrets"};
static const kube_gvr MWC = {"admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations"};
static const kube_gvr VWC = {"admissionregistration.k8s.io", "v1",
                             "validatingwebhookconfigurations"};

struct webhook_certs {
    kube_client *client;
    char *ns, *addr, *secret, *service, *config;
    webhook_certs_register_fn register_routes;
    void *register_ud;
    int recheck_s;
    int external; /* read the Secret only: cert-manager issues it and injects caBundle */
    char dir[64];
    char *served_cert; /* PEM of the leaf being served */
    pb_http_server *srv;
    int port;
    pthread_t thread;
    int started, stop;
    int wake_fd; /* eventfd, readable once stopping: requests retry no more; 0 = none */
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

/* ---- the Secret ------------------------------------------------------------- */

static int data_pem(const json_t *secret, const char *key, char **out)
{
    *out = NULL;
    const char *b64 = json_string_value(json_object_get(json_object_get(secret, "data"), key));
    unsigned char *raw;
    size_t n;
    if (!b64 || pb_secret_b64_decode(b64, strlen(b64), &raw, &n, NULL) != 0)
        return -1;
    char *s = malloc(n + 1);
    if (!s) {
        free(raw);
        return -1;
    }
    memcpy(s, raw, n);
    s[n] = '\0';
    memset(raw, 0, n);
    free(raw);
    *out = s;
    return 0;
}

static int set_data(json_t *data, const char *key, const char *pem, pb_err *err)
{
    char *b64;
    int rc = pb_secret_b64_encode(pem, strlen(pem), &b64, err);
    if (rc)
        return rc;
    json_object_set_new(data, key, json_string(b64));
    free(b64);
    return 0;
}

typedef struct names {
    char svc[300], fqdn[330];
    const char *dns[4];
} names;

static void service_names(names *n, const char *service, const char *ns)
{
    snprintf(n->svc, sizeof n->svc, "%s.%s.svc", service, ns);
    snprintf(n->fqdn, sizeof n->fqdn, "%s.%s.svc.cluster.local", service, ns);
    n->dns[0] = n->svc;
    n->dns[1] = n->fqdn;
    n->dns[2] = "localhost";
    n->dns[3] = NULL;
}

static const char *const LOOPBACK_IPS[] = {"127.0.0.1", "::1", NULL};

/* What the Secret should hold now, from what it holds (all may be NULL).
 * Returns 1 when new material was made into ca/leaf, 0 when the stored
 * one is good as it is. */
static int plan_material(const char *ca_crt, const char *ca_key, const char *tls_crt,
                         const char *tls_key, const names *n, time_t now, pb_tlscert_pair *ca,
                         pb_tlscert_pair *leaf, pb_err *err)
{
    pb_tlscert_pair stored = {.cert_pem = (char *)tls_crt, .key_pem = (char *)tls_key};
    int ca_ok = ca_crt && ca_key &&
                pb_tlscert_needs_rotation(ca_crt, now, CA_ROTATE_BEFORE_S, NULL) == 0;
    int leaf_ok = ca_ok && tls_crt && tls_key &&
                  pb_tlscert_check(ca_crt, &stored, n->dns, now, NULL) == 0 &&
                  pb_tlscert_needs_rotation(tls_crt, now, WEBHOOK_CERTS_ROTATE_BEFORE_S, NULL) ==
                      0;
    if (leaf_ok)
        return 0;
    int rc;
    memset(ca, 0, sizeof *ca);
    if (ca_ok) {
        if (!(ca->cert_pem = strdup(ca_crt)) || !(ca->key_pem = strdup(ca_key))) {
            pb_tlscert_pair_clear(ca);
            return pb_err_set(err, PB_ENOMEM, "out of memory");
        }
    } else if ((rc = pb_tlscert_new_ca("paybill-webhook-ca", CA_VALID_S, now, ca, err))) {
        return rc;
    }
    if ((rc = pb_tlscert_new_leaf(ca, n->svc, n->dns, LOOPBACK_IPS, LEAF_VALID_S, now, leaf,
                                  err))) {
        pb_tlscert_pair_clear(ca);
        return rc;
    }
    pb_log_info("webhook certificate issued", "reason",
                !ca_ok ? (ca_crt ? "CA expiring or key missing" : "no certificate yet")
                       : "leaf expiring, invalid or not naming the Service",
                NULL);
    return 1;
}

int webhook_certs_ensure_secret(kube_client *c, const char *ns, const char *secret_name,
                                const char *service_name, time_t now, int wake_fd, char **ca_pem,
                                char **cert_pem, char **key_pem, pb_err *err)
{
    *ca_pem = *cert_pem = *key_pem = NULL;
    names n;
    service_names(&n, service_name, ns);
    int rc = PB_ECONFLICT;
    /* A few rounds: each conflict means another replica wrote first, and
     * its material is what the next read returns. */
    for (int attempt = 0; attempt < 4 && (rc == PB_ECONFLICT || rc == PB_EEXIST); attempt++) {
        json_t *sec = NULL;
        kube_request_opts o = {.wake_fd = wake_fd};
        rc = kube_get(c, &SECRETS, ns, secret_name, &o, &sec, err);
        if (rc && rc != PB_ENOTFOUND)
            return pb_err_wrap(err, "reading Secret %s/%s", ns, secret_name);
        char *ca_crt = NULL, *ca_key = NULL, *tls_crt = NULL, *tls_key = NULL;
        if (sec) {
            data_pem(sec, "ca.crt", &ca_crt);
            data_pem(sec, "ca.key", &ca_key);
            data_pem(sec, "tls.crt", &tls_crt);
            data_pem(sec, "tls.key", &tls_key);
        }
        pb_tlscert_pair ca = {0}, leaf = {0};
        int fresh = plan_material(ca_crt, ca_key, tls_crt, tls_key, &n, now, &ca, &leaf, err);
        if (fresh == 0) {
            *ca_pem = ca_crt;
            *cert_pem = tls_crt;
            *key_pem = tls_key;
            ca_crt = tls_crt = tls_key = NULL;
            rc = 0;
        } else if (fresh < 0) {
            rc = fresh;
        } else {
            json_t *obj = sec ? json_incref(sec)
                              : json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s,s:s}},s:s}", "apiVersion",
                                          "v1", "kind", "Secret", "metadata", "name",
                                          secret_name, "namespace", ns, "labels",
                                          "app.kubernetes.io/managed-by", "paybill-operator",
                                          "app.kubernetes.io/part-of", "paybill",
                                          "type", "kubernetes.io/tls");
            json_t *data = json_object();
            if (!obj || !data) {
                json_decref(obj);
                json_decref(data);
                rc = pb_err_set(err, PB_ENOMEM, "out of memory");
            } else if (!(rc = set_data(data, "ca.crt", ca.cert_pem, err)) &&
                       !(rc = set_data(data, "ca.key", ca.key_pem, err)) &&
                       !(rc = set_data(data, "tls.crt", leaf.cert_pem, err)) &&
                       !(rc = set_data(data, "tls.key", leaf.key_pem, err))) {
                json_object_set_new(obj, "data", data);
                data = NULL;
                json_object_del(obj, "stringData");
                rc = sec ? kube_update(c, &SECRETS, ns, obj, &o, NULL, err)
                         : kube_create(c, &SECRETS, ns, obj, &o, NULL, err);
                if (rc == 0) {
                    *ca_pem = ca.cert_pem;
                    *cert_pem = leaf.cert_pem;
                    *key_pem = leaf.key_pem;
                    ca.cert_pem = leaf.cert_pem = leaf.key_pem = NULL;
                } else if (rc != PB_ECONFLICT && rc != PB_EEXIST) {
                    pb_err_wrap(err, "%s Secret %s/%s", sec ? "updating" : "creating", ns,
                                secret_name);
                } else {
                    pb_log_info("webhook Secret written by another replica; re-reading", NULL);
                }
            }
            json_decref(data);
            json_decref(obj);
        }
        pb_tlscert_pair_clear(&ca);
        pb_tlscert_pair_clear(&leaf);
        if (ca_key) {
            memset(ca_key, 0, strlen(ca_key));
            free(ca_key);
        }
        if (tls_key)
            memset(tls_key, 0, strlen(tls_key));
        free(ca_crt);
        free(tls_crt);
        free(tls_key);
        json_decref(sec);
    }
    if (rc == PB_ECONFLICT || rc == PB_EEXIST)
        pb_err_set(err, rc, "Secret %s/%s: still conflicting after retries", ns, secret_name);
    return rc;
}

/* ---- caBundle ------------------------------------------------------------------ */

static int inject_one(kube_client *c, const kube_gvr *r, const char *name, const char *b64,
                      int wake_fd, int *patched, pb_err *err)
{
    json_t *cfg = NULL;
    kube_request_opts o = {.wake_fd = wake_fd};
    int rc = kube_get(c, r, NULL, name, &o, &cfg, err);
    if (rc)
        return rc;
    json_t *ops = json_array(), *hooks = json_object_get(cfg, "webhooks"), *h;
    size_t i;
    json_array_foreach(hooks, i, h)
    {
        json_t *cc = json_object_get(h, "clientConfig");
        const char *have = json_string_value(json_object_get(cc, "caBundle"));
        if (have && strcmp(have, b64) == 0)
            continue;
        char path[96];
        /* Pin each index to the webhook's name: if the list was reordered
         * since our read, the patch fails instead of touching another. */
        snprintf(path, sizeof path, "/webhooks/%zu/name", i);
        json_array_append_new(ops, json_pack("{s:s,s:s,s:O}", "op", "test", "path", path,
                                             "value", json_object_get(h, "name")));
        snprintf(path, sizeof path, "/webhooks/%zu/clientConfig/caBundle", i);
        json_array_append_new(ops, json_pack("{s:s,s:s,s:s}", "op", have ? "replace" : "add",
                                             "path", path, "value", b64));
    }
    if (json_array_size(ops))
        rc = kube_patch(c, r, NULL, name, KUBE_PATCH_JSON, ops, &o, NULL, err);
    if (rc == 0 && json_array_size(ops))
        (*patched)++;
    json_decref(ops);
    json_decref(cfg);
    return rc;
}

int webhook_certs_inject_ca(kube_client *c, const char *config_name, const char *ca_pem, int wake_fd,
                            pb_err *err)
{
    char *b64;
    int rc = pb_secret_b64_encode(ca_pem, strlen(ca_pem), &b64, err);
    if (rc)
        return rc;
    int found = 0, patched = 0;
    const kube_gvr *kinds[] = {&MWC, &VWC};
    for (int k = 0; k < 2 && (rc == 0 || rc == PB_ENOTFOUND); k++) {
        rc = inject_one(c, kinds[k], config_name, b64, wake_fd, &patched, err);
        if (rc == 0)
            found++;
    }
    free(b64);
    if (rc == PB_ENOTFOUND && found)
        rc = pb_err_set(err, PB_ENOTFOUND, "webhook configuration %s: only one of the two exists",
                        config_name);
    else if (rc == PB_ENOTFOUND)
        rc = pb_err_set(err, PB_ENOTFOUND, "webhook configurations %s not found", config_name);
    if (rc)
        return pb_err_wrap(err, "injecting caBundle");
    if (patched)
        pb_log_info("webhook caBundle injected", "configuration", config_name, NULL);
    return 0;
}

/* ---- serving ------------------------------------------------------------------- */

int webhook_certs_read_secret(kube_client *c, const char *ns, const char *secret_name, int wake_fd,
                              char **cert_pem, char **key_pem, pb_err *err)
{
    *cert_pem = *key_pem = NULL;
    json_t *sec = NULL;
    kube_request_opts o = {.wake_fd = wake_fd};
    int rc = kube_get(c, &SECRETS, ns, secret_name, &o, &sec, err);
    if (rc == PB_ENOTFOUND)
        return pb_err_set(err, PB_ENOTFOUND,
                          "Secret %s/%s does not exist yet (--webhook-certs=external: is the "
                          "cert-manager Certificate paybill-webhooks Ready?)", ns, secret_name);
    if (rc)
        return pb_err_wrap(err, "reading Secret %s/%s", ns, secret_name);
    data_pem(sec, "tls.crt", cert_pem);
    data_pem(sec, "tls.key", key_pem);
    json_decref(sec);
    if (!*cert_pem || !*key_pem) {
        free(*cert_pem);
        if (*key_pem)
            memset(*key_pem, 0, strlen(*key_pem));
        free(*key_pem);
        *cert_pem = *key_pem = NULL;
        return pb_err_set(err, PB_EINVAL, "Secret %s/%s has no tls.crt and tls.key (yet)", ns,
                          secret_name);
    }
    return 0;
}

static int write_private(const char *path, const char *data, pb_err *err)
{
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return pb_err_set(err, PB_EIO, "%s: %s", tmp, strerror(errno));
    size_t n = strlen(data), off = 0;
    while (off < n) {
        ssize_t w = write(fd, data + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            return pb_err_set(err, PB_EIO, "%s: %s", tmp, strerror(errno));
        }
        off += (size_t)w;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0)
        return pb_err_set(err, PB_EIO, "%s: %s", path, strerror(errno));
    return 0;
}

static int serve(webhook_certs *w, const char *cert, const char *key, pb_err *err)
{
    if (w->served_cert && strcmp(w->served_cert, cert) == 0)
        return 0;
    char cf[96], kf[96];
    snprintf(cf, sizeof cf, "%s/tls.crt", w->dir);
    snprintf(kf, sizeof kf, "%s/tls.key", w->dir);
    int rc;
    if ((rc = write_private(cf, cert, err)) || (rc = write_private(kf, key, err)))
        return rc;
    /* libwebsockets reads the files at start: a new leaf needs a new
     * server. The old one goes first, as both bind the same address. */
    if (w->srv) {
        pb_http_server_free(w->srv);
        w->srv = NULL;
        w->port = -1;
    }
    pb_http_config hc = {.addr = w->addr, .name = "webhooks", .tls_cert_file = cf,
                         .tls_key_file = kf, .max_body = 4u * 1024 * 1024};
    pb_http_server *srv = NULL;
    if ((rc = pb_http_server_new(&hc, &srv, err)) || (rc = w->register_routes(srv, w->register_ud, err)) ||
        (rc = pb_http_server_start(srv, err))) {
        pb_http_server_free(srv);
        return pb_err_wrap(err, "webhook endpoint on %s", w->addr);
    }
    char *copy = strdup(cert);
    if (!copy) {
        pb_http_server_free(srv);
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    }
    free(w->served_cert);
    w->served_cert = copy;
    pthread_mutex_lock(&w->mu);
    w->srv = srv;
    w->port = pb_http_server_port(srv);
    pthread_mutex_unlock(&w->mu);
    char port[16];
    snprintf(port, sizeof port, "%d", w->port);
    pb_log_info("serving", "endpoint", "webhooks", "addr", w->addr, "port", port, NULL);
    return 0;
}

static int pass(webhook_certs *w, pb_err *err)
{
    char *ca = NULL, *cert = NULL, *key = NULL;
    int rc = w->external ? webhook_certs_read_secret(w->client, w->ns, w->secret, w->wake_fd, &cert, &key, err)
                         : webhook_certs_ensure_secret(w->client, w->ns, w->secret, w->service,
                                                       time(NULL), w->wake_fd, &ca, &cert, &key, err);
    if (rc == 0)
        rc = serve(w, cert, key, err);
    if (rc == 0 && !w->external)
        rc = webhook_certs_inject_ca(w->client, w->config, ca, w->wake_fd, err);
    if (key)
        memset(key, 0, strlen(key));
    free(ca);
    free(cert);
    free(key);
    return rc;
}

static void *run(void *arg)
{
    webhook_certs *w = arg;
    pb_thread_name("webhook-certs", NULL);
    int retry = RETRY_S;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        pthread_mutex_unlock(&w->mu);
        pb_err e = {0};
        int rc = pass(w, &e);
        pthread_mutex_lock(&w->mu);
        if (rc && !w->stop) /* a failure because we are stopping is no news */
            pb_log_warn("webhook certificates not ready; retrying", "error", e.msg, NULL);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        /* Back off while something is missing (e.g. the configurations
         * are not installed), so an idle operator does not poll hard. */
        until.tv_sec += rc ? retry : w->recheck_s;
        retry = rc ? (retry * 2 > RETRY_MAX_S ? RETRY_MAX_S : retry * 2) : RETRY_S;
        while (!w->stop && pthread_cond_timedwait(&w->cv, &w->mu, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static char *dup_or(const char *s, const char *def) { return strdup(s ? s : def); }

int webhook_certs_start(const webhook_certs_options *o, webhook_certs **out, pb_err *err)
{
    *out = NULL;
    if (!o || !o->client || !o->namespace_name || !o->listen_addr || !o->register_routes)
        return pb_err_set(err, PB_EINVAL, "webhook_certs_start: missing option");
    webhook_certs *w = calloc(1, sizeof *w);
    if (!w)
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    w->client = o->client;
    w->register_routes = o->register_routes;
    w->register_ud = o->register_ud;
    w->recheck_s = o->recheck_s > 0 ? o->recheck_s : 60;
    w->external = o->external;
    w->port = -1;
    w->ns = strdup(o->namespace_name);
    w->addr = strdup(o->listen_addr);
    w->secret = dup_or(o->secret_name, WEBHOOK_CERTS_SECRET);
    w->service = dup_or(o->service_name, WEBHOOK_CERTS_SERVICE);
    w->config = dup_or(o->config_name, WEBHOOK_CERTS_CONFIG);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->wake_fd = kube_wake_fd_new(); /* with none, retries sit out their backoff */
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp || strlen(tmp) > 40)
        tmp = "/tmp";
    snprintf(w->dir, sizeof w->dir, "%s/paybill-wh-XXXXXX", tmp);
    if (!w->ns || !w->addr || !w->secret || !w->service || !w->config) {
        webhook_certs_free(w);
        return pb_err_set(err, PB_ENOMEM, "out of memory");
    }
    if (!mkdtemp(w->dir)) { /* mkdtemp makes it 0700 */
        int e = errno;
        w->dir[0] = '\0';
        webhook_certs_free(w);
        return pb_err_set(err, PB_EIO, "webhook certificate directory: %s", strerror(e));
    }
    if (pthread_create(&w->thread, NULL, run, w) != 0) {
        webhook_certs_free(w);
        return pb_err_set(err, PB_EIO, "starting the webhook certificate thread");
    }
    w->started = 1;
    *out = w;
    return 0;
}

int webhook_certs_port(webhook_certs *w)
{
    pthread_mutex_lock(&w->mu);
    int p = w->port;
    pthread_mutex_unlock(&w->mu);
    return p;
}

void webhook_certs_free(webhook_certs *w)
{
    if (!w)
        return;
    if (w->started) {
        pthread_mutex_lock(&w->mu);
        w->stop = 1;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        kube_wake_fd_set(w->wake_fd);
        pthread_join(w->thread, NULL);
    }
    kube_wake_fd_free(w->wake_fd);
    pb_http_server_free(w->srv);
    if (w->dir[0]) {
        char p[96];
        snprintf(p, sizeof p, "%s/tls.key", w->dir);
        unlink(p);
        snprintf(p, sizeof p, "%s/tls.crt", w->dir);
        unlink(p);
        rmdir(w->dir);
    }
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w->served_cert);
    free(w->ns);
    free(w->addr);
    free(w->secret);
    free(w->service);
    free(w->config);
    free(w);
}
