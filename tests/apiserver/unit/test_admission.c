/* Unit tests for devapi admission.c against a real HTTPS webhook server
 * started in-process (OpenSSL, one thread, 127.0.0.1 on an ephemeral port,
 * certificates generated per run): allow, deny (with and without a code),
 * JSONPatch in configuration order, timeouts under Ignore and Fail, a CA
 * bundle that does not match, bad responses, the Service form, dry run and
 * every matcher (rules, scope, namespace and object selectors) proving a
 * non-matching webhook is never called. */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "admission.h"
#include "fakestore.h"
#include "util/log.h"

/* ---- certificates ------------------------------------------------------ */

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       const char *san)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(rand() & 0x7fffffff));
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509_set_pubkey(x, key);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *ext;
    if (!issuer) {
        ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
        ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    } else {
        ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());
    return x;
}

/* base64 of the certificate's PEM: what a caBundle holds. Caller frees. */
static char *ca_bundle(X509 *ca)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, ca);
    char *pem;
    long n = BIO_get_mem_data(b, &pem);
    char *out = malloc(4 * ((size_t)n + 2) / 3 + 4);
    EVP_EncodeBlock((unsigned char *)out, (unsigned char *)pem, (int)n);
    BIO_free(b);
    return out;
}

/* ---- the webhook server ------------------------------------------------------ */

typedef struct hooksrv {
    SSL_CTX *ctx;
    int fd, port;
    pthread_t thread;
    pthread_mutex_t mu;
    int stop;
    int calls;          /* requests answered */
    pthread_t conn_threads[128]; /* one per connection, joined at teardown */
    int nconn;
    char last_path[256];
    json_t *last_body;
} hooksrv;

static char *b64(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(4 * (n + 2) / 3 + 4);
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    return out;
}

/* The webhook's behaviour is chosen by the URL path. */
static char *answer(const char *path, const json_t *review, int *http_code)
{
    const char *uid = json_string_value(json_object_get(json_object_get(review, "request"), "uid"));
    json_t *resp = json_pack("{s:s,s:b}", "uid", uid ? uid : "", "allowed", 1);
    *http_code = 200;
    if (strcmp(path, "/deny") == 0) {
        json_object_set_new(resp, "allowed", json_false());
        json_object_set_new(resp, "status", json_pack("{s:i,s:s,s:s}", "code", 403, "reason", "Forbidden",
                                                      "message", "tenants need a plan"));
    } else if (strcmp(path, "/deny-bare") == 0) {
        json_object_set_new(resp, "allowed", json_false());
    } else if (strcmp(path, "/patch") == 0 || strcmp(path, "/patch2") == 0 ||
               strcmp(path, "/badpatch") == 0) {
        const char *ops = strcmp(path, "/patch") == 0
                              ? "[{\"op\":\"add\",\"path\":\"/spec/mutated\",\"value\":true}]"
                          : strcmp(path, "/patch2") == 0
                              ? "[{\"op\":\"test\",\"path\":\"/spec/mutated\",\"value\":true},"
                                "{\"op\":\"add\",\"path\":\"/spec/second\",\"value\":2}]"
                              : "[{\"op\":\"replace\",\"path\":\"/spec/nothing/here\",\"value\":1}]";
        char *p = b64(ops);
        json_object_set_new(resp, "patchType", json_string("JSONPatch"));
        json_object_set_new(resp, "patch", json_string(p));
        free(p);
    } else if (strcmp(path, "/slow") == 0) {
        struct timespec ts = {1, 400 * 1000 * 1000};
        nanosleep(&ts, NULL);
    } else if (strcmp(path, "/baduid") == 0) {
        json_object_set_new(resp, "uid", json_string("not-the-uid"));
    } else if (strcmp(path, "/warn") == 0) {
        json_object_set_new(resp, "warnings", json_pack("[s]", "plan gold is deprecated"));
    } else if (strcmp(path, "/garbage") == 0) {
        json_decref(resp);
        return strdup("this is not json");
    } else if (strcmp(path, "/500") == 0) {
        *http_code = 500;
        json_decref(resp);
        return strdup("boom");
    }
    json_t *r = json_pack("{s:s,s:s,s:o}", "apiVersion", "admission.k8s.io/v1", "kind",
                          "AdmissionReview", "response", resp);
    char *s = json_dumps(r, JSON_COMPACT);
    json_decref(r);
    return s;
}

static void serve_one(hooksrv *s, int cfd)
{
    struct timeval tv = {3, 0};
    setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    SSL *ssl = SSL_new(s->ctx);
    SSL_set_fd(ssl, cfd);
    if (SSL_accept(ssl) != 1)
        goto out; /* e.g. the client refused our certificate */
    char req[65536];
    size_t len = 0;
    char *hdr_end = NULL;
    long clen = -1;
    for (;;) {
        int n = SSL_read(ssl, req + len, (int)(sizeof req - 1 - len));
        if (n <= 0)
            goto out;
        len += (size_t)n;
        req[len] = '\0';
        if (!hdr_end && (hdr_end = strstr(req, "\r\n\r\n"))) {
            for (char *l = req; l < hdr_end; l = strstr(l, "\r\n") + 2)
                if (strncasecmp(l, "Content-Length:", 15) == 0)
                    clen = atol(l + 15);
        }
        if (hdr_end && clen >= 0 && len >= (size_t)(hdr_end + 4 - req) + (size_t)clen)
            break;
    }
    char path[256] = "";
    sscanf(req, "POST %255[^? ]", path);
    json_t *body = json_loads(hdr_end + 4, 0, NULL);
    int code;
    char *resp = answer(path, body, &code);
    pthread_mutex_lock(&s->mu);
    s->calls++;
    snprintf(s->last_path, sizeof s->last_path, "%.*s", (int)strcspn(req + 5, " "), req + 5);
    json_decref(s->last_body);
    s->last_body = body;
    pthread_mutex_unlock(&s->mu);
    char head[256];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n",
                      code, code == 200 ? "OK" : "Internal Server Error", strlen(resp));
    SSL_write(ssl, head, hl);
    SSL_write(ssl, resp, (int)strlen(resp));
    free(resp);
    SSL_shutdown(ssl);
out:
    SSL_free(ssl);
    close(cfd);
}

typedef struct conn {
    hooksrv *s;
    int fd;
} conn;

static void *serve_conn(void *arg)
{
    conn *c = arg;
    serve_one(c->s, c->fd);
    free(c);
    return NULL;
}

/* Each connection gets its own thread so a slow answer never delays the
 * next request (the timeout tests rely on that for exact call counts). */
static void *serve(void *arg)
{
    hooksrv *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        int stop = s->stop;
        pthread_mutex_unlock(&s->mu);
        if (stop)
            break;
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int cfd = accept(s->fd, NULL, NULL);
        if (cfd < 0)
            continue;
        conn *c = malloc(sizeof *c);
        c->s = s;
        c->fd = cfd;
        if (s->nconn >= (int)(sizeof s->conn_threads / sizeof s->conn_threads[0]) ||
            pthread_create(&s->conn_threads[s->nconn], NULL, serve_conn, c) != 0) {
            serve_one(s, cfd); /* out of slots: answer inline */
            free(c);
        } else {
            s->nconn++;
        }
    }
    return NULL;
}

/* ---- fixture ---------------------------------------------------------------- */

typedef struct fx {
    hooksrv srv;
    char *ca_good, *ca_other;
    json_t *store;
} fx;

static int setup(void **state)
{
    signal(SIGPIPE, SIG_IGN); /* the slow handler writes to a client that gave up */
    pb_log_configure(PB_LOG_OFF, PB_LOG_TEXT, NULL);
    fx *f = calloc(1, sizeof *f);
    EVP_PKEY *cak = EVP_EC_gen("P-256"), *otherk = EVP_EC_gen("P-256"), *srvk = EVP_EC_gen("P-256");
    X509 *ca = make_cert(cak, "test-ca", NULL, NULL, NULL);
    X509 *other = make_cert(otherk, "other-ca", NULL, NULL, NULL);
    X509 *crt = make_cert(srvk, "webhook", ca, cak, "IP:127.0.0.1,DNS:hook.webhooks.svc");
    f->ca_good = ca_bundle(ca);
    f->ca_other = ca_bundle(other);

    hooksrv *s = &f->srv;
    pthread_mutex_init(&s->mu, NULL);
    s->ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(s->ctx, crt);
    SSL_CTX_use_PrivateKey(s->ctx, srvk);
    X509_free(ca);
    X509_free(other);
    X509_free(crt);
    EVP_PKEY_free(cak);
    EVP_PKEY_free(otherk);
    EVP_PKEY_free(srvk);

    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->fd, 16) != 0 ||
        getsockname(s->fd, (struct sockaddr *)&a, &al) != 0)
        return -1;
    s->port = ntohs(a.sin_port);
    pthread_create(&s->thread, NULL, serve, s);
    f->store = json_object();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    pthread_mutex_lock(&f->srv.mu);
    f->srv.stop = 1;
    pthread_mutex_unlock(&f->srv.mu);
    pthread_join(f->srv.thread, NULL);
    for (int i = 0; i < f->srv.nconn; i++)
        pthread_join(f->srv.conn_threads[i], NULL);
    close(f->srv.fd);
    SSL_CTX_free(f->srv.ctx);
    json_decref(f->srv.last_body);
    pthread_mutex_destroy(&f->srv.mu);
    json_decref(f->store);
    free(f->ca_good);
    free(f->ca_other);
    free(f);
    pb_log_configure(PB_LOG_INFO, PB_LOG_JSON, NULL);
    return 0;
}

/* Each test starts from an empty store. */
static int reset(void **state)
{
    fx *f = *state;
    json_object_clear(f->store);
    return 0;
}

static void add_obj_at(fx *f, const char *key, json_t *o)
{
    json_t *arr = json_object_get(f->store, key);
    if (!arr) {
        arr = json_array();
        json_object_set_new(f->store, key, arr);
    }
    json_array_append_new(arr, o);
}

static int calls(fx *f)
{
    pthread_mutex_lock(&f->srv.mu);
    int n = f->srv.calls;
    pthread_mutex_unlock(&f->srv.mu);
    return n;
}

/* A webhook for tenants (CREATE/UPDATE) at https://127.0.0.1:PORT<path>;
 * `extra` (JSON object text or NULL) is merged into it. */
static json_t *hook(fx *f, const char *name, const char *path, const char *extra)
{
    char url[256];
    snprintf(url, sizeof url, "https://127.0.0.1:%d%s", f->srv.port, path);
    json_t *h = json_pack("{s:s,s:{s:s,s:s},s:[{s:[s,s],s:[s],s:[s],s:[s]}],s:s,s:[s]}", "name", name,
                          "clientConfig", "url", url, "caBundle", f->ca_good, "rules", "operations",
                          "CREATE", "UPDATE", "apiGroups", "paybill.dev", "apiVersions", "v1alpha1",
                          "resources", "tenants", "sideEffects", "None", "admissionReviewVersions",
                          "v1");
    if (extra) {
        json_error_t je;
        json_t *x = json_loads(extra, 0, &je);
        if (!x)
            fail_msg("bad extra JSON: %s", je.text);
        json_object_update(h, x);
        json_decref(x);
    }
    return h;
}

static void add_config(fx *f, int mutating, const char *cfg_name, json_t *hook1)
{
    json_t *cfg = json_pack("{s:{s:s},s:[o]}", "metadata", "name", cfg_name, "webhooks", hook1);
    add_obj_at(f, mutating ? "admissionregistration.k8s.io/mutatingwebhookconfigurations"
                        : "admissionregistration.k8s.io/validatingwebhookconfigurations",
            cfg);
}

static json_t *tenant(void)
{
    return json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s}},s:{s:s}}", "apiVersion", "paybill.dev/v1alpha1",
                     "kind", "Tenant", "metadata", "name", "acme", "namespace", "tenants", "labels",
                     "tier", "gold", "spec", "plan", "gold");
}

static dv_user *user(void)
{
    static dv_user u; /* read-only once set; freed by the last test */
    if (!u.name) {
        const char *g[] = {"devs", NULL};
        dv_user_set(&u, "alice", "uid-a", g);
    }
    return &u;
}

static dv_admission_request create_req(const json_t *obj, const json_t *ns_obj)
{
    return (dv_admission_request){.operation = "CREATE", .group = "paybill.dev", .version = "v1alpha1",
                                  .kind = "Tenant", .resource = "tenants", .name = "acme",
                                  .ns = "tenants", .object = obj, .ns_object = ns_obj, .user = user()};
}

/* ---- tests -------------------------------------------------------------------- */

static void test_allow_sends_admission_review(void **state)
{
    fx *f = *state;
    add_config(f, 0, "v", hook(f, "validate.paybill.dev", "/allow", "{\"timeoutSeconds\":7}"));
    json_t *obj = tenant();
    dv_admission_request req = create_req(obj, NULL);
    int before = calls(f);
    char msg[1024] = "";
    assert_int_equal(dv_admission_validate(fake_list, f->store, &req, msg, sizeof msg), 0);
    assert_int_equal(calls(f), before + 1);
    assert_string_equal(f->srv.last_path, "/allow?timeout=7s");

    json_t *r = f->srv.last_body;
    assert_string_equal(json_string_value(json_object_get(r, "apiVersion")), "admission.k8s.io/v1");
    assert_string_equal(json_string_value(json_object_get(r, "kind")), "AdmissionReview");
    json_t *q = json_object_get(r, "request");
    assert_int_equal(strlen(json_string_value(json_object_get(q, "uid"))), 36);
    assert_string_equal(json_string_value(json_object_get(q, "operation")), "CREATE");
    assert_string_equal(json_string_value(json_object_get(q, "name")), "acme");
    assert_string_equal(json_string_value(json_object_get(q, "namespace")), "tenants");
    assert_string_equal(json_string_value(json_object_get(json_object_get(q, "kind"), "kind")), "Tenant");
    assert_string_equal(json_string_value(json_object_get(json_object_get(q, "resource"), "resource")), "tenants");
    json_t *ui = json_object_get(q, "userInfo");
    assert_string_equal(json_string_value(json_object_get(ui, "username")), "alice");
    assert_string_equal(json_string_value(json_object_get(ui, "uid")), "uid-a");
    assert_int_equal(json_array_size(json_object_get(ui, "groups")), 2);
    assert_true(json_equal(json_object_get(q, "object"), obj));
    assert_true(json_is_null(json_object_get(q, "oldObject")));
    assert_true(json_is_false(json_object_get(q, "dryRun")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(q, "options"), "kind")), "CreateOptions");
    json_decref(obj);
}

static void test_deny_messages(void **state)
{
    fx *f = *state;
    add_config(f, 0, "v", hook(f, "validate.paybill.dev", "/deny", NULL));
    json_t *obj = tenant();
    dv_admission_request req = create_req(obj, NULL);
    dv_admission_result res = {0};
    assert_int_equal(dv_admission_validate_ex(fake_list, f->store, &req, &res), -1);
    assert_string_equal(json_string_value(json_object_get(res.status, "message")),
                        "admission webhook \"validate.paybill.dev\" denied the request: tenants need a plan");
    assert_int_equal(json_integer_value(json_object_get(res.status, "code")), 403);
    assert_string_equal(json_string_value(json_object_get(res.status, "reason")), "Forbidden");
    assert_string_equal(json_string_value(json_object_get(res.status, "kind")), "Status");
    assert_string_equal(json_string_value(json_object_get(res.status, "status")), "Failure");
    dv_admission_result_clear(&res);

    /* no status from the webhook: 400 and "without explanation" */
    json_object_clear(f->store);
    add_config(f, 0, "v", hook(f, "strict.paybill.dev", "/deny-bare", NULL));
    char msg[1024];
    assert_int_equal(dv_admission_validate(fake_list, f->store, &req, msg, sizeof msg), -1);
    assert_string_equal(msg, "admission webhook \"strict.paybill.dev\" denied the request without explanation");
    assert_int_equal(dv_admission_validate_ex(fake_list, f->store, &req, &res), -1);
    assert_int_equal(json_integer_value(json_object_get(res.status, "code")), 400);
    dv_admission_result_clear(&res);
    json_decref(obj);
}

static void test_mutating_patches_in_order(void **state)
{
    fx *f = *state;
    /* configuration names decide the order, not insertion order: "b" needs
     * the field "a" adds (its patch starts with a JSON Patch test op) */
    add_config(f, 1, "b-second", hook(f, "second.paybill.dev", "/patch2", NULL));
    add_config(f, 1, "a-first", hook(f, "first.paybill.dev", "/patch", NULL));
    json_t *obj = tenant();
    dv_admission_request req = create_req(obj, NULL);
    json_t *out = NULL;
    char msg[1024] = "";
    assert_int_equal(dv_admission_mutate(fake_list, f->store, &req, &out, msg, sizeof msg), 0);
    assert_non_null(out);
    json_t *spec = json_object_get(out, "spec");
    assert_true(json_is_true(json_object_get(spec, "mutated")));
    assert_int_equal(json_integer_value(json_object_get(spec, "second")), 2);
    assert_null(json_object_get(json_object_get(obj, "spec"), "mutated")); /* input untouched */
    json_decref(out);

    /* a patch that does not apply is a 500, even with failurePolicy Ignore */
    json_object_clear(f->store);
    add_config(f, 1, "m", hook(f, "broken.paybill.dev", "/badpatch", "{\"failurePolicy\":\"Ignore\"}"));
    out = (json_t *)1;
    assert_int_equal(dv_admission_mutate(fake_list, f->store, &req, &out, msg, sizeof msg), -2);
    assert_null(out);
    assert_true(strncmp(msg, "Internal error occurred: ", 25) == 0);

    /* nothing configured: a copy of the object */
    json_object_clear(f->store);
    assert_int_equal(dv_admission_mutate(fake_list, f->store, &req, &out, msg, sizeof msg), 0);
    assert_true(json_equal(out, obj));
    assert_ptr_not_equal(out, obj);
    json_decref(out);
    json_decref(obj);
}

static void test_timeout_ignore_and_fail(void **state)
{
    fx *f = *state;
    add_config(f, 0, "v", hook(f, "slow.paybill.dev", "/slow", "{\"timeoutSeconds\":1,\"failurePolicy\":\"Ignore\"}"));
    json_t *obj = tenant();
    dv_admission_request req = create_req(obj, NULL);
    int before = calls(f);
    char msg[1024] = "";
    assert_int_equal(dv_admission_validate(fake_list, f->store, &req, msg, sizeof msg), 0);

    json_object_clear(f->store);
    add_config(f, 0, "v", hook(f, "slow.paybill.dev", "/slow", "{\"timeoutSeconds\":1}"));
    dv_admission_result res = {0};
    assert_int_equal(dv_admission_validate_ex(fake_list, f->store, &req, &res), -2);
    char want[512];
    snprintf(want, sizeof want,
             "Internal error occurred: failed calling webhook \"slow.paybill.dev\": failed to call "
             "webhook: Post \"https://127.0.0.1:%d/slow?timeout=1s\": context deadline exceeded",
             f->srv.port);
    assert_string_equal(json_string_value(json_object_get(res.status, "message")), want);
    assert_int_equal(json_integer_value(json_object_get(res.status, "code")), 500);
    assert_string_equal(json_string_value(json_object_get(res.status, "reason")), "InternalError");
    dv_admission_result_clear(&res);
    json_decref(obj);
    /* let the server finish both slow answers so later call counts are exact */
    for (int i = 0; i < 100 && calls(f) < before + 2; i++) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(calls(f), before + 2);
}

static void test_bad_ca(void **state)
{
    fx *f = *state;
    char extra[4096];
    snprintf(extra, sizeof extra, "{\"clientConfig\":{\"url\":\"https://127.0.0.1:%d/allow\",\"caBundle\":\"%s\"}}",
             f->srv.port, f->ca_other);
    add_config(f, 0, "v", hook(f, "validate.paybill.dev", "/allow", extra));
    json_t *obj = tenant();
    dv_admission_request req = create_req(obj, NULL);
    int before = calls(f);
    char msg[1024] = "";
    assert_int_equal(dv_admission_validate(fake_list, f->store, &req, msg, sizeof msg), -2);
    assert_non_null(strstr(msg, "failed calling webhook \"validate.paybill.dev\""));
    assert_non_null(strstr(msg, "x509: certificate signed by unknown authority"));
    assert_int_equal(calls(f), before);

    /* not base64 at all */
    json_object_clear(f->store);
    add_config(f, 0, "v", hook(f, "validate.paybill.dev", "/allow", "{\"clientConfig\":{\"url\":\"https://127.0.0.1:1/x\",\"caBundle\":\"!!!\"}}"));
    assert_int_equal(dv_admission_validate(fake_list, f->store, &req, msg, sizeof msg), -2);
    assert_non_null(strstr(msg, "caBundle"));

    /* plain http is refused before any traffic */
    json_object_clear(f->store);
    add_config(f, 0, "v", hook(f, "validate.paybill.dev", "/allow", "{\"clientConfig\":{\"url\":\"http://127.0.0.1:1/x\"}}"));
    assert_int_equal(dv_admission_validate(fake_list, f->store, &req, msg, sizeof msg), -2);
    assert_non_null(strstr(msg, "https"));
    json_decref(obj);
}

static void test_bad_responses(void **state)
{
    fx *f = *state;
    struct {
        const char *path, *want;
    } cases[] = {
        {"/baduid", "expected response.uid=\""},
        {"/garbage", "failed to call webhook: couldn't get version/kind; json parse error"},
        {"/500", "an error on the server (\"boom\")"},
    };
    json_t *obj = tenant();
    dv_admission_request req = create_req(obj, NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_object_clear(f->store);
        add_config(f, 0, "v", hook(f, "v.paybill.dev", cases[i].path, NULL));
        char msg[1024] = "";
        assert_int_equal(dv_admission_validate(fake_list, f->store, &req, msg, sizeof msg), -2);
        if (!strstr(msg, cases[i].want))
            fail_msg("%s: %s", cases[i].path, msg);
        assert_non_null(strstr(msg, "Internal error occurred: failed calling webhook \"v.paybill.dev\""));
    }
    /* nobody listening: Go's wording of a refused connection */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd); /* bound, never listened: the port refuses */
    char extra[256], want[512];
    snprintf(extra, sizeof extra, "{\"clientConfig\":{\"url\":\"https://127.0.0.1:%d/x\"}}", ntohs(sa.sin_port));
    json_object_clear(f->store);
    add_config(f, 0, "v", hook(f, "down.paybill.dev", "/x", extra));
    snprintf(want, sizeof want,
             "Internal error occurred: failed calling webhook \"down.paybill.dev\": failed to call webhook: "
             "Post \"https://127.0.0.1:%d/x?timeout=10s\": dial tcp 127.0.0.1:%d: connect: connection refused",
             ntohs(sa.sin_port), ntohs(sa.sin_port));
    {
        char m[1024] = "";
        assert_int_equal(dv_admission_validate(fake_list, f->store, &req, m, sizeof m), -2);
        assert_string_equal(m, want);
    }

    /* a validating webhook may not patch */
    json_object_clear(f->store);
    add_config(f, 0, "v", hook(f, "v.paybill.dev", "/patch", NULL));
    char msg[1024] = "";
    assert_int_equal(dv_admission_validate(fake_list, f->store, &req, msg, sizeof msg), -2);
    assert_non_null(strstr(msg, "received invalid webhook response: validating webhook may not return response.patch"));

    /* no AdmissionReview version we speak: a failed call, nothing sent */
    json_object_clear(f->store);
    add_config(f, 0, "v", hook(f, "future.paybill.dev", "/allow", "{\"admissionReviewVersions\":[\"v2\"]}"));
    int before = calls(f);
    assert_int_equal(dv_admission_validate(fake_list, f->store, &req, msg, sizeof msg), -2);
    assert_non_null(strstr(msg, "webhook does not accept known AdmissionReview versions"));
    assert_int_equal(calls(f), before);

    /* v1beta1 is spoken when it comes first */
    json_object_clear(f->store);
    add_config(f, 0, "v", hook(f, "old.paybill.dev", "/allow", "{\"admissionReviewVersions\":[\"v1beta1\",\"v1\"]}"));
    assert_int_equal(dv_admission_validate(fake_list, f->store, &req, msg, sizeof msg), 0);
    assert_int_equal(calls(f), before + 1);
    assert_string_equal(json_string_value(json_object_get(f->srv.last_body, "apiVersion")), "admission.k8s.io/v1beta1");
    json_decref(obj);
}

static void test_service_reference(void **state)
{
    fx *f = *state;
    const char *svc_cc = "{\"clientConfig\":{\"service\":{\"namespace\":\"webhooks\",\"name\":\"hook\",\"path\":\"/warn\"},"
                         "\"caBundle\":\"%s\"}}";
    char extra[4096];
    snprintf(extra, sizeof extra, svc_cc, f->ca_good);
    add_config(f, 0, "v", hook(f, "svc.paybill.dev", "/unused", extra));
    json_t *obj = tenant();
    dv_admission_request req = create_req(obj, NULL);
    dv_admission_result res = {0};

    /* no Service: the real "not found" wording */
    assert_int_equal(dv_admission_validate_ex(fake_list, f->store, &req, &res), -2);
    assert_non_null(strstr(json_string_value(json_object_get(res.status, "message")),
                           "Post \"https://hook.webhooks.svc:443/warn?timeout=10s\": service \"hook\" not found"));
    dv_admission_result_clear(&res);

    /* Service without the dev annotation */
    add_obj_at(f, "/services", json_pack("{s:{s:s,s:s}}", "metadata", "name", "hook", "namespace", "webhooks"));
    assert_int_equal(dv_admission_validate_ex(fake_list, f->store, &req, &res), -2);
    assert_non_null(strstr(json_string_value(json_object_get(res.status, "message")), "paybill.dev/devapi-url"));
    dv_admission_result_clear(&res);

    /* a Service whose DNS name the webhook certificate does not cover */
    char real[64];
    snprintf(real, sizeof real, "https://127.0.0.1:%d", f->srv.port);
    json_object_clear(f->store);
    snprintf(extra, sizeof extra,
             "{\"clientConfig\":{\"service\":{\"namespace\":\"webhooks\",\"name\":\"other\",\"path\":\"/allow\",\"port\":8443},"
             "\"caBundle\":\"%s\"}}", f->ca_good);
    add_config(f, 0, "v", hook(f, "svc.paybill.dev", "/unused", extra));
    add_obj_at(f, "/services", json_pack("{s:{s:s,s:s,s:{s:s}}}", "metadata", "name", "other", "namespace",
                                      "webhooks", "annotations", DV_ADMISSION_URL_ANNOTATION, real));
    assert_int_equal(dv_admission_validate_ex(fake_list, f->store, &req, &res), -2);
    assert_non_null(strstr(json_string_value(json_object_get(res.status, "message")),
                           "Post \"https://other.webhooks.svc:8443/allow?timeout=10s\": tls: failed to verify "
                           "certificate: x509: certificate is not valid for other.webhooks.svc"));
    dv_admission_result_clear(&res);

    /* with it: TLS is verified for hook.webhooks.svc while connecting to 127.0.0.1 */
    json_object_clear(f->store);
    snprintf(extra, sizeof extra, svc_cc, f->ca_good);
    add_config(f, 0, "v", hook(f, "svc.paybill.dev", "/unused", extra));
    add_obj_at(f, "/services", json_pack("{s:{s:s,s:s,s:{s:s}}}", "metadata", "name", "hook", "namespace",
                                      "webhooks", "annotations", DV_ADMISSION_URL_ANNOTATION, real));
    int before = calls(f);
    assert_int_equal(dv_admission_validate_ex(fake_list, f->store, &req, &res), 0);
    assert_int_equal(calls(f), before + 1);
    assert_string_equal(f->srv.last_path, "/warn?timeout=10s");
    assert_int_equal(json_array_size(res.warnings), 1);
    assert_string_equal(json_string_value(json_array_get(res.warnings, 0)), "plan gold is deprecated");
    assert_null(res.status);
    dv_admission_result_clear(&res);
    json_decref(obj);
}

static void test_dry_run(void **state)
{
    fx *f = *state;
    add_config(f, 0, "v", hook(f, "side.paybill.dev", "/allow", "{\"sideEffects\":\"Some\"}"));
    json_t *obj = tenant();
    dv_admission_request req = create_req(obj, NULL);
    req.dry_run = 1;
    int before = calls(f);
    dv_admission_result res = {0};
    assert_int_equal(dv_admission_validate_ex(fake_list, f->store, &req, &res), -1);
    assert_string_equal(json_string_value(json_object_get(res.status, "message")),
                        "admission webhook \"side.paybill.dev\" does not support dry run");
    assert_int_equal(json_integer_value(json_object_get(res.status, "code")), 400);
    assert_int_equal(calls(f), before);
    dv_admission_result_clear(&res);

    json_object_clear(f->store);
    add_config(f, 0, "v", hook(f, "pure.paybill.dev", "/allow", NULL));
    assert_int_equal(dv_admission_validate_ex(fake_list, f->store, &req, &res), 0);
    assert_int_equal(calls(f), before + 1);
    json_t *q = json_object_get(f->srv.last_body, "request");
    assert_true(json_is_true(json_object_get(q, "dryRun")));
    json_t *want = json_pack("[s]", "All");
    assert_true(json_equal(json_object_get(json_object_get(q, "options"), "dryRun"), want));
    json_decref(want);
    dv_admission_result_clear(&res);
    json_decref(obj);
}

/* Each entry: a webhook variant that must NOT be called for the request
 * below, then one that must. */
static void test_matchers(void **state)
{
    fx *f = *state;
    json_t *obj = tenant();
    json_t *ns_obj = json_pack("{s:{s:s,s:{s:s}}}", "metadata", "name", "tenants", "labels", "env", "prod");
    dv_admission_request req = create_req(obj, ns_obj);
    const char *skip[] = {
        "{\"rules\":[{\"operations\":[\"UPDATE\"],\"apiGroups\":[\"*\"],\"apiVersions\":[\"*\"],\"resources\":[\"*\"]}]}",
        "{\"rules\":[{\"operations\":[\"*\"],\"apiGroups\":[\"apps\"],\"apiVersions\":[\"*\"],\"resources\":[\"*\"]}]}",
        "{\"rules\":[{\"operations\":[\"*\"],\"apiGroups\":[\"*\"],\"apiVersions\":[\"v1\"],\"resources\":[\"*\"]}]}",
        "{\"rules\":[{\"operations\":[\"*\"],\"apiGroups\":[\"*\"],\"apiVersions\":[\"*\"],\"resources\":[\"tenants/status\"]}]}",
        "{\"rules\":[{\"operations\":[\"*\"],\"apiGroups\":[\"*\"],\"apiVersions\":[\"*\"],\"resources\":[\"plans\"]}]}",
        "{\"rules\":[{\"operations\":[\"*\"],\"apiGroups\":[\"*\"],\"apiVersions\":[\"*\"],\"resources\":[\"*\"],\"scope\":\"Cluster\"}]}",
        "{\"namespaceSelector\":{\"matchLabels\":{\"env\":\"dev\"}}}",
        "{\"namespaceSelector\":{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"NotIn\",\"values\":[\"prod\"]}]}}",
        "{\"objectSelector\":{\"matchLabels\":{\"tier\":\"bronze\"}}}",
        "{\"objectSelector\":{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"DoesNotExist\"}]}}",
        NULL,
    };
    const char *call[] = {
        "{\"rules\":[{\"operations\":[\"*\"],\"apiGroups\":[\"*\"],\"apiVersions\":[\"*\"],\"resources\":[\"*\"]}]}",
        "{\"rules\":[{\"operations\":[\"CREATE\"],\"apiGroups\":[\"paybill.dev\"],\"apiVersions\":[\"*\"],\"resources\":[\"*/*\"],\"scope\":\"Namespaced\"}]}",
        "{\"namespaceSelector\":{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"In\",\"values\":[\"prod\",\"staging\"]}]}}",
        "{\"namespaceSelector\":{},\"objectSelector\":{\"matchLabels\":{\"tier\":\"gold\"}}}",
        NULL,
    };
    char msg[1024];
    for (int i = 0; skip[i]; i++) {
        json_object_clear(f->store);
        add_config(f, 0, "v", hook(f, "m.paybill.dev", "/deny", skip[i]));
        int before = calls(f);
        int rc = dv_admission_validate(fake_list, f->store, &req, msg, sizeof msg);
        if (rc != 0 || calls(f) != before)
            fail_msg("skip[%d] was called (rc %d): %s", i, rc, skip[i]);
    }
    for (int i = 0; call[i]; i++) {
        json_object_clear(f->store);
        add_config(f, 0, "v", hook(f, "m.paybill.dev", "/deny", call[i]));
        int before = calls(f);
        int rc = dv_admission_validate(fake_list, f->store, &req, msg, sizeof msg);
        if (rc != -1 || calls(f) != before + 1)
            fail_msg("call[%d] was not called (rc %d): %s", i, rc, call[i]);
    }

    /* the subresource rule matches a status write, and the old object's
     * labels count for the object selector */
    json_object_clear(f->store);
    add_config(f, 0, "v", hook(f, "st.paybill.dev", "/deny",
                               "{\"rules\":[{\"operations\":[\"UPDATE\"],\"apiGroups\":[\"paybill.dev\"],"
                               "\"apiVersions\":[\"v1alpha1\"],\"resources\":[\"tenants/status\"]}],"
                               "\"objectSelector\":{\"matchLabels\":{\"old\":\"yes\"}}}"));
    json_t *old = json_pack("{s:{s:{s:s}}}", "metadata", "labels", "old", "yes");
    dv_admission_request up = req;
    up.operation = "UPDATE";
    up.subresource = "status";
    up.old_object = old;
    assert_int_equal(dv_admission_validate(fake_list, f->store, &up, msg, sizeof msg), -1);
    json_decref(old);

    /* a malformed selector stops the request */
    json_object_clear(f->store);
    add_config(f, 0, "v", hook(f, "bad.paybill.dev", "/allow",
                               "{\"objectSelector\":{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Near\"}]}}"));
    assert_int_equal(dv_admission_validate(fake_list, f->store, &req, msg, sizeof msg), -2);
    assert_non_null(strstr(msg, "objectSelector"));

    /* webhook configurations themselves are never sent to webhooks */
    json_object_clear(f->store);
    add_config(f, 0, "v", hook(f, "all.paybill.dev", "/deny", call[0]));
    dv_admission_request cfg = req;
    cfg.group = "admissionregistration.k8s.io";
    cfg.resource = "validatingwebhookconfigurations";
    cfg.ns = NULL;
    assert_int_equal(dv_admission_validate(fake_list, f->store, &cfg, msg, sizeof msg), 0);

    /* a namespace being created is matched on its own labels */
    json_object_clear(f->store);
    add_config(f, 0, "v", hook(f, "ns.paybill.dev", "/deny",
                               "{\"rules\":[{\"operations\":[\"CREATE\"],\"apiGroups\":[\"\"],\"apiVersions\":[\"v1\"],"
                               "\"resources\":[\"namespaces\"]}],\"namespaceSelector\":{\"matchLabels\":{\"env\":\"prod\"}}}"));
    dv_admission_request nsreq = {.operation = "CREATE", .group = "", .version = "v1", .kind = "Namespace",
                                  .resource = "namespaces", .name = "tenants", .object = ns_obj, .user = user()};
    assert_int_equal(dv_admission_validate(fake_list, f->store, &nsreq, msg, sizeof msg), -1);
    json_t *dev_ns = json_pack("{s:{s:s,s:{s:s}}}", "metadata", "name", "d", "labels", "env", "dev");
    nsreq.object = dev_ns;
    assert_int_equal(dv_admission_validate(fake_list, f->store, &nsreq, msg, sizeof msg), 0);
    json_decref(dev_ns);

    json_decref(ns_obj);
    json_decref(obj);
    dv_user_clear(user());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_allow_sends_admission_review, reset),
        cmocka_unit_test_setup(test_deny_messages, reset),
        cmocka_unit_test_setup(test_mutating_patches_in_order, reset),
        cmocka_unit_test_setup(test_timeout_ignore_and_fail, reset),
        cmocka_unit_test_setup(test_bad_ca, reset),
        cmocka_unit_test_setup(test_bad_responses, reset),
        cmocka_unit_test_setup(test_service_reference, reset),
        cmocka_unit_test_setup(test_dry_run, reset),
        cmocka_unit_test_setup(test_matchers, reset),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
