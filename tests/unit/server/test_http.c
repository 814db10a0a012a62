/* Unit tests for server/http: routing, bodies, headers, HTTPS, keep-alive,
 * concurrency and lifecycle, driven with libcurl over loopback; the abuse
 * limits (bodies on body-less routes, connection cap, header size, slow
 * clients) with raw sockets, since a well-behaved client cannot misbehave. */
#include "testutil.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/http.h"
#include "util/metrics.h"

/* ---- handlers ------------------------------------------------------------------ */

static void echo(const pb_http_request *req, pb_http_response *resp, void *arg)
{
    char ct[128];
    if (pb_http_request_header(req, "Content-Type", ct, sizeof ct) < 0)
        strcpy(ct, "application/octet-stream");
    pb_http_reply(resp, 200, ct, req->body, req->body_len);
}

static void inspect(const pb_http_request *req, pb_http_response *resp, void *arg)
{
    char x[64] = "-", sig[128] = "-", flag[16] = "-";
    pb_http_request_query_param(req, "x", x, sizeof x);
    pb_http_request_query_param(req, "flag", flag, sizeof flag);
    pb_http_request_header(req, "X-Paybill-Signature", sig, sizeof sig);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "method", req->method, "path", req->path,
                          "query", req->query, "x", x, "flag", flag, "sig", sig);
    pb_http_reply_json(resp, 200, o);
    json_decref(o);
}

static void busy(const pb_http_request *req, pb_http_response *resp, void *arg)
{
    pb_http_reply(resp, 429, NULL, "slow down\n", 10);
    pb_http_add_header(resp, "Retry-After", "30");
}

static void big(const pb_http_request *req, pb_http_response *resp, void *arg)
{
    size_t n = 1024 * 1024 + 7;
    char *b = malloc(n);
    for (size_t i = 0; i < n; i++)
        b[i] = (char)('a' + i % 26);
    pb_http_reply_take(resp, 200, "text/plain", b, n);
}

static void nothing(const pb_http_request *req, pb_http_response *resp, void *arg)
{
}

/* ---- client side ------------------------------------------------------------------ */

typedef struct {
    char *data;
    size_t len;
} buf;

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
    buf *b = ud;
    b->data = realloc(b->data, b->len + sz * n + 1);
    memcpy(b->data + b->len, p, sz * n);
    b->len += sz * n;
    b->data[b->len] = '\0';
    return sz * n;
}

typedef struct {
    long status;
    buf body, headers;
} reply;

static void reply_free(reply *r)
{
    free(r->body.data);
    free(r->headers.data);
}

/* One request; `h` may be a reused handle (keep-alive) or NULL. */
static reply request(CURL *h, const char *method, const char *url, const char *body, size_t len,
                     const char *cafile)
{
    reply r;
    memset(&r, 0, sizeof r);
    CURL *c = h ? h : curl_easy_init();
    struct curl_slist *hdrs = NULL;
    hdrs = curl_slist_append(hdrs, "Expect:");
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "X-Paybill-Signature: t=1,v1=abc");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, strcmp(method, "GET") ? method : NULL);
    }
    if (cafile)
        curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fail_msg("%s %s: %s", method, url, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(hdrs);
    if (!h)
        curl_easy_cleanup(c);
    if (!r.body.data)
        r.body.data = calloc(1, 1);
    return r;
}

static reply get(int port, const char *path)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    return request(NULL, "GET", url, NULL, 0, NULL);
}

/* ---- fixtures ------------------------------------------------------------------------ */

static pb_metrics_registry *g_reg;

static void add_routes(pb_http_server *s)
{
    pb_err e;
    assert_int_equal(pb_http_route(s, "GET", "/healthz", pb_http_ok_handler, NULL, &e), 0);
    assert_int_equal(pb_http_route(s, "POST", "/echo", echo, NULL, &e), 0);
    assert_int_equal(pb_http_route(s, "PUT", "/echo", echo, NULL, &e), 0);
    assert_int_equal(pb_http_route(s, NULL, "/inspect", inspect, NULL, &e), 0);
    assert_int_equal(pb_http_route(s, "POST", "/billing/*", inspect, NULL, &e), 0);
    assert_int_equal(pb_http_route(s, "GET", "/busy", busy, NULL, &e), 0);
    assert_int_equal(pb_http_route(s, "GET", "/big", big, NULL, &e), 0);
    assert_int_equal(pb_http_route(s, "GET", "/nothing", nothing, NULL, &e), 0);
    assert_int_equal(pb_http_route(s, "GET", "/metrics", pb_http_metrics_handler, g_reg, &e), 0);
    assert_int_equal(pb_http_route_body(s, "POST", "/small", 16, echo, NULL, &e), 0);
    assert_int_equal(pb_http_route_body(s, "POST", "/nobody", 0, inspect, NULL, &e), 0);
    assert_int_equal(pb_http_route(s, "GET", "/healthz", pb_http_ok_handler, NULL, &e), PB_EEXIST);
}

static pb_http_server *start_cfg(pb_http_config cfg)
{
    pb_http_server *s;
    pb_err e;
    cfg.addr = "127.0.0.1:0";
    cfg.name = "test";
    if (pb_http_server_new(&cfg, &s, &e))
        fail_msg("new: %s", e.msg);
    add_routes(s);
    if (pb_http_server_start(s, &e))
        fail_msg("start: %s", e.msg);
    assert_true(pb_http_server_port(s) > 0);
    return s;
}

static pb_http_server *start(const char *cert, const char *key, size_t max_body)
{
    return start_cfg((pb_http_config){.tls_cert_file = cert, .tls_key_file = key, .max_body = max_body});
}

/* ---- raw sockets, for clients that misbehave ------------------------------------------- */

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        if (k <= 0)
            fail_msg("send: %s", strerror(errno));
        c += k;
        n -= (size_t)k;
    }
}

static void send_str(int fd, const char *s)
{
    send_all(fd, s, strlen(s));
}

/* Read what the server sends until it closes the connection (EOF or reset:
 * *closed = 1), `stop` appears in the data (when not NULL), or timeout_ms
 * passes. Returns a malloc'd NUL-terminated copy. */
static char *read_until(int fd, const char *stop, int timeout_ms, int *closed)
{
    size_t cap = 4096, len = 0;
    char *b = malloc(cap);
    double end = tu_now() + timeout_ms / 1000.0;
    *closed = 0;
    b[0] = '\0';
    for (;;) {
        int left = (int)((end - tu_now()) * 1000);
        if (left <= 0 || (stop && strstr(b, stop)))
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, left) <= 0)
            continue;
        if (len + 1024 > cap)
            b = realloc(b, cap *= 2);
        ssize_t k = recv(fd, b + len, cap - len - 1, 0);
        if (k <= 0) {
            *closed = 1;
            break;
        }
        len += (size_t)k;
        b[len] = '\0';
    }
    return b;
}

/* ---- tests --------------------------------------------------------------------------- */

static void test_get_and_errors(void **state)
{
    pb_http_server *s = start(NULL, NULL, 0);
    int port = pb_http_server_port(s);
    reply r = get(port, "/healthz");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "ok");
    assert_non_null(strcasestr(r.headers.data, "content-type: text/plain; charset=utf-8"));
    reply_free(&r);

    r = get(port, "/nope");
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body.data, "404 page not found\n");
    reply_free(&r);

    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", port);
    r = request(NULL, "POST", url, "{}", 2, NULL);
    assert_int_equal(r.status, 405);
    assert_non_null(strcasestr(r.headers.data, "allow: GET"));
    reply_free(&r);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", port);
    r = request(NULL, "DELETE", url, NULL, 0, NULL);
    assert_int_equal(r.status, 405);
    assert_non_null(strcasestr(r.headers.data, "allow: POST, PUT"));
    reply_free(&r);

    r = get(port, "/busy");
    assert_int_equal(r.status, 429);
    assert_non_null(strcasestr(r.headers.data, "retry-after: 30"));
    reply_free(&r);

    r = get(port, "/nothing"); /* a handler that sets nothing: empty 200 */
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 0);
    reply_free(&r);
    pb_http_server_free(s);
}

static void test_post_bodies(void **state)
{
    pb_http_server *s = start(NULL, NULL, 3 * 1024 * 1024);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", pb_http_server_port(s));
    const char *js = "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}";
    reply r = request(NULL, "POST", url, js, strlen(js), NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, js);
    assert_non_null(strcasestr(r.headers.data, "content-type: application/json"));
    reply_free(&r);

    /* 2 MiB with binary bytes, via PUT */
    size_t n = 2 * 1024 * 1024;
    char *b = malloc(n);
    for (size_t i = 0; i < n; i++)
        b[i] = (char)(i * 7 + i / 251);
    r = request(NULL, "PUT", url, b, n, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, n);
    assert_memory_equal(r.body.data, b, n);
    reply_free(&r);
    free(b);

    /* over the limit: 413, and the connection keeps working afterwards */
    n = 3 * 1024 * 1024 + 1;
    b = calloc(1, n);
    CURL *h = curl_easy_init();
    r = request(h, "POST", url, b, n, NULL);
    assert_int_equal(r.status, 413);
    reply_free(&r);
    r = request(h, "POST", url, "x", 1, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "x");
    reply_free(&r);
    curl_easy_cleanup(h);
    free(b);

    /* a declared length far over the limit is refused before any body is
     * sent, and the connection closed */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)pb_http_server_port(s))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    const char *req = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n";
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    char resp[1024];
    size_t got = 0;
    ssize_t k;
    while (got < sizeof resp - 1 && (k = read(fd, resp + got, sizeof resp - 1 - got)) > 0)
        got += (size_t)k; /* until the server closes */
    resp[got] = '\0';
    close(fd);
    assert_non_null(strstr(resp, "HTTP/1.1 413"));

    /* empty POST body */
    r = request(NULL, "POST", url, "", 0, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 0);
    reply_free(&r);
    pb_http_server_free(s);
}

static void test_request_details(void **state)
{
    pb_http_server *s = start(NULL, NULL, 0);
    int port = pb_http_server_port(s);
    reply r = get(port, "/inspect?x=42&flag&y=z");
    assert_int_equal(r.status, 200);
    json_t *o = json_loads(r.body.data, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "method")), "GET");
    assert_string_equal(json_string_value(json_object_get(o, "path")), "/inspect");
    assert_string_equal(json_string_value(json_object_get(o, "query")), "x=42&flag&y=z");
    assert_string_equal(json_string_value(json_object_get(o, "x")), "42");
    assert_string_equal(json_string_value(json_object_get(o, "flag")), "");
    assert_string_equal(json_string_value(json_object_get(o, "sig")), "t=1,v1=abc");
    json_decref(o);
    reply_free(&r);

    /* a parameter longer than the handler's buffer (lws itself keeps only
     * the first couple of hundred bytes of a query string) */
    char path[256] = "/inspect?x=";
    memset(path + strlen(path), 'q', 150);
    r = get(port, path);
    o = json_loads(r.body.data, 0, NULL);
    assert_int_equal(strlen(json_string_value(json_object_get(o, "query"))), 152);
    assert_string_equal(json_string_value(json_object_get(o, "x")), "-"); /* too long for x[64] */
    json_decref(o);
    reply_free(&r);

    /* encoded '&', '/', '=' and '+' inside values */
    r = get(port, "/inspect?x=a%2Fb+c%26d&flag=%3D");
    o = json_loads(r.body.data, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "x")), "a/b c&d");
    assert_string_equal(json_string_value(json_object_get(o, "flag")), "=");
    json_decref(o);
    reply_free(&r);

    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/billing/stripe", port);
    r = request(NULL, "POST", url, "{}", 2, NULL);
    assert_int_equal(r.status, 200);
    o = json_loads(r.body.data, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "path")), "/billing/stripe");
    assert_string_equal(json_string_value(json_object_get(o, "x")), "-");
    json_decref(o);
    reply_free(&r);
    pb_http_server_free(s);
}

static void test_metrics_and_big_response(void **state)
{
    pb_counter *c;
    assert_int_equal(pb_metrics_counter_register(g_reg, "http_test_total", "Test.", NULL, &c, NULL), 0);
    pb_metrics_counter_add(c, 3, NULL);
    pb_http_server *s = start(NULL, NULL, 0);
    int port = pb_http_server_port(s);
    reply r = get(port, "/metrics");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "# HELP http_test_total Test.\n# TYPE http_test_total counter\nhttp_test_total 3\n");
    assert_non_null(strcasestr(r.headers.data, "content-type: text/plain; version=0.0.4; charset=utf-8"));
    reply_free(&r);

    /* keep-alive: one handle, several requests including a large body */
    CURL *h = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/big", port);
    for (int i = 0; i < 3; i++) {
        r = request(h, "GET", url, NULL, 0, NULL);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.body.len, 1024 * 1024 + 7);
        for (size_t j = 0; j < r.body.len; j += 4099)
            assert_int_equal(r.body.data[j], 'a' + j % 26);
        reply_free(&r);
    }
    long conns = -1;
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &conns);
    assert_int_equal(conns, 0); /* the last request reused the connection */
    curl_easy_cleanup(h);
    pb_http_server_free(s);
}

typedef struct {
    const char *data;
    size_t len, off;
} source;

static size_t feed(char *p, size_t sz, size_t n, void *ud)
{
    source *src = ud;
    size_t k = sz * n < 1000 ? sz * n : 1000; /* several chunks */
    if (k > src->len - src->off)
        k = src->len - src->off;
    memcpy(p, src->data + src->off, k);
    src->off += k;
    return k;
}

static void test_head_and_chunked(void **state)
{
    pb_http_server *s = start(NULL, NULL, 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/inspect", pb_http_server_port(s));
    CURL *c = curl_easy_init();
    buf body = {0}, hdrs = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hdrs);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    assert_int_equal(status, 200);
    assert_non_null(strcasestr(hdrs.data, "content-length:"));
    curl_easy_cleanup(c);
    free(hdrs.data);

    /* a chunked request body (no Content-Length): lws 4.1 cannot decode it,
     * so the server answers 411 instead of hanging */
    char payload[5000];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (char)('A' + i % 23);
    source src = {payload, sizeof payload, 0};
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", pb_http_server_port(s));
    c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Transfer-Encoding: chunked");
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, feed);
    curl_easy_setopt(c, CURLOPT_READDATA, &src);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    /* curl may still be uploading when the server closes; a timeout would
     * mean the server hung */
    assert_int_not_equal(rc, CURLE_OPERATION_TIMEDOUT);
    if (rc == CURLE_OK)
        assert_int_equal(status, 411);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(body.data);
    pb_http_server_free(s);
}

typedef struct {
    int port;
    int ok;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *a = p;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", a->port);
    for (int i = 0; i < 10; i++) {
        char body[64];
        int n = snprintf(body, sizeof body, "{\"i\":%d,\"t\":%p}", i, (void *)a);
        reply r = request(NULL, "POST", url, body, (size_t)n, NULL);
        if (r.status == 200 && strcmp(r.body.data, body) == 0)
            a->ok++;
        reply_free(&r);
    }
    return NULL;
}

static void test_concurrent_requests(void **state)
{
    pb_http_server *s = start(NULL, NULL, 0);
    pthread_t t[6];
    worker_arg a[6];
    for (int i = 0; i < 6; i++) {
        a[i] = (worker_arg){pb_http_server_port(s), 0};
        pthread_create(&t[i], NULL, worker, &a[i]);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].ok, 10);
    }
    pb_http_server_free(s);
}

/* Self-signed P-256 certificate for 127.0.0.1, written as two PEM files. */
static void make_cert(const char *cert_path, const char *key_path)
{
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    assert_non_null(pkey);
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pkey);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"paybill-test", -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, "IP:127.0.0.1");
    assert_non_null(ext);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    assert_true(X509_sign(x, pkey, EVP_sha256()) > 0);
    FILE *f = fopen(cert_path, "w");
    PEM_write_X509(f, x);
    fclose(f);
    f = fopen(key_path, "w");
    PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(pkey);
}

/* POST with "Expect: 100-continue": curl would wait up to 10 s for the
 * interim response and so hit its 5 s timeout if the server never sent it. */
static void post_expecting_continue(const char *url, const char *cafile)
{
    size_t n = 256 * 1024;
    char *b = malloc(n);
    memset(b, 'e', n);
    buf body = {0};
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Expect: 100-continue");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, b);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    if (cafile)
        curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fail_msg("POST %s with Expect: %s", url, curl_easy_strerror(rc));
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    assert_int_equal(status, 200);
    assert_int_equal(body.len, n);
    assert_memory_equal(body.data, b, n);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(body.data);
    free(b);
}

static void test_expect_continue(void **state)
{
    pb_http_server *s = start(NULL, NULL, 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", pb_http_server_port(s));
    post_expecting_continue(url, NULL);
    pb_http_server_free(s);
}

static void test_https(void **state)
{
    char *dir = tu_tmpdir();
    char cert[512], key[512];
    snprintf(cert, sizeof cert, "%s/tls.crt", dir);
    snprintf(key, sizeof key, "%s/tls.key", dir);
    make_cert(cert, key);
    pb_http_server *s = start(cert, key, 0);
    char url[128];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/healthz", pb_http_server_port(s));
    reply r = request(NULL, "GET", url, NULL, 0, cert);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "ok");
    reply_free(&r);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/echo", pb_http_server_port(s));
    r = request(NULL, "POST", url, "{\"a\":1}", 7, cert);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "{\"a\":1}");
    reply_free(&r);
    post_expecting_continue(url, cert);

    /* plain HTTP to the TLS port does not get a 200 */
    CURL *c = curl_easy_init();
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", pb_http_server_port(s));
    buf sink = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    assert_true(rc != CURLE_OK || status != 200);
    free(sink.data);
    curl_easy_cleanup(c);
    pb_http_server_free(s);

    /* bad TLS material is reported by start */
    pb_http_server *bad;
    pb_err e;
    pb_http_config cfg = {.addr = "127.0.0.1:0", .tls_cert_file = key, .tls_key_file = key};
    assert_int_equal(pb_http_server_new(&cfg, &bad, &e), 0);
    assert_int_not_equal(pb_http_server_start(bad, &e), 0);
    pb_http_server_free(bad);
    cfg.tls_cert_file = "/nonexistent/tls.crt";
    assert_int_equal(pb_http_server_new(&cfg, &bad, &e), 0);
    assert_int_equal(pb_http_server_start(bad, &e), PB_EINVAL);
    assert_non_null(strstr(e.msg, "/nonexistent/tls.crt"));
    pb_http_server_free(bad);
    cfg.tls_key_file = NULL;
    assert_int_equal(pb_http_server_new(&cfg, &bad, &e), PB_EINVAL);
    tu_rmtree(dir);
    free(dir);
}

static void test_lifecycle(void **state)
{
    pb_err e;
    pb_http_server *s;
    const char *bad[] = {"127.0.0.1", "127.0.0.1:", "127.0.0.1:70000", "127.0.0.1:x", NULL};
    for (int i = 0; bad[i]; i++) {
        pb_http_config cfg = {.addr = bad[i]};
        assert_int_equal(pb_http_server_new(&cfg, &s, &e), PB_EINVAL);
    }
    pb_http_config cfg0 = {.addr = NULL};
    assert_int_equal(pb_http_server_new(&cfg0, &s, &e), PB_EINVAL);

    pb_http_server *a = start(NULL, NULL, 0);
    int port = pb_http_server_port(a);
    /* an idle server sleeps in poll() rather than spinning */
    clock_t cpu0 = clock();
    struct timespec nap = {0, 300 * 1000 * 1000};
    nanosleep(&nap, NULL);
    assert_true((double)(clock() - cpu0) / CLOCKS_PER_SEC < 0.1);
    /* same port again: bind fails at start */
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    pb_http_config cfg = {.addr = addr};
    assert_int_equal(pb_http_server_new(&cfg, &s, &e), 0);
    assert_int_equal(pb_http_route(s, "GET", "relative", pb_http_ok_handler, NULL, &e), PB_EINVAL);
    assert_int_equal(pb_http_server_start(s, &e), PB_EIO);
    assert_non_null(strstr(e.msg, addr));
    assert_int_equal(pb_http_server_port(s), -1);
    pb_http_server_free(s);

    /* an idle keep-alive connection must not delay stop */
    CURL *h = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", port);
    reply r = request(h, "GET", url, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    assert_int_equal(pb_http_route(a, "GET", "/late", pb_http_ok_handler, NULL, &e), PB_EINVAL);
    double t0 = tu_now();
    pb_http_server_stop(a);
    assert_true(tu_now() - t0 < 1.0);
    assert_int_equal(pb_http_server_port(a), -1);
    pb_http_server_stop(a); /* idempotent */
    curl_easy_cleanup(h);

    /* restart on a fresh port works */
    assert_int_equal(pb_http_server_start(a, &e), 0);
    r = get(pb_http_server_port(a), "/healthz");
    assert_int_equal(r.status, 200);
    reply_free(&r);
    pb_http_server_free(a);
    pb_http_server_free(NULL);
}

/* ---- abuse limits ------------------------------------------------------------------------ */

/* Status of one GET over a fresh connection, or -1 when the server closed
 * it (or said nothing within a second). */
static int raw_get_status(int port, const char *path)
{
    int fd = tcp_connect(port), closed, status = -1;
    char req[256];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    if (send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req)) {
        char *r = read_until(fd, "\r\n\r\n", 1000, &closed);
        if (sscanf(r, "HTTP/1.1 %d", &status) != 1)
            status = -1;
        free(r);
    }
    close(fd);
    return status;
}

/* A request that announces a body, sent as a raw head; returns the reply
 * read until `stop` or the server closes (3 s at most). */
static char *raw_exchange(int fd, const char *head, const char *stop, int *closed)
{
    send_str(fd, head);
    return read_until(fd, stop, 3000, closed);
}

static void test_body_refused_on_bodyless_routes(void **state)
{
    pb_http_server *s = start(NULL, NULL, 0);
    int port = pb_http_server_port(s), closed;

    /* A GET announcing 4 MiB is refused before a byte of it is sent and the
     * connection closed, so its body is never read, let alone buffered. */
    const char *heads[] = {
        "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 4194304\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST /nobody HTTP/1.1\r\nHost: x\r\nContent-Length: 4194304\r\n\r\n",
        "GET /inspect HTTP/1.1\r\nHost: x\r\nContent-Length: 4194304\r\n\r\n", /* any-method route */
    };
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        int fd = tcp_connect(port);
        double t0 = tu_now();
        char *r = raw_exchange(fd, heads[i], NULL, &closed);
        if (!strstr(r, "HTTP/1.1 413") || !closed || tu_now() - t0 > 2.0)
            fail_msg("request %zu: want 413 and a close at once, got closed=%d after %.1fs: %.60s", i,
                     closed, tu_now() - t0, r);
        assert_non_null(strstr(r, "takes no request body"));
        free(r);
        close(fd);
    }
    /* the same on unknown paths and other methods: answered, not read */
    int fd = tcp_connect(port);
    char *r = raw_exchange(fd, "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4194304\r\n\r\n", NULL, &closed);
    assert_non_null(strstr(r, "HTTP/1.1 405"));
    assert_true(closed);
    free(r);
    close(fd);
    fd = tcp_connect(port);
    r = raw_exchange(fd, "PUT /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 4194304\r\n\r\n", NULL, &closed);
    assert_non_null(strstr(r, "HTTP/1.1 404"));
    assert_true(closed);
    free(r);
    close(fd);

    /* A small stray body is dropped after the 413 and the connection goes on. */
    fd = tcp_connect(port);
    r = raw_exchange(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", "body\n", &closed);
    assert_non_null(strstr(r, "HTTP/1.1 413"));
    assert_false(closed);
    free(r);
    r = raw_exchange(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "\r\n\r\nok", &closed);
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    free(r);
    close(fd);

    /* a Content-Length that is not one plain number: 400 and closed, not
     * framed on a guess */
    const char *bad_lengths[] = {
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 9\r\n\r\nxx",
    };
    for (size_t i = 0; i < sizeof bad_lengths / sizeof bad_lengths[0]; i++) {
        fd = tcp_connect(port);
        r = raw_exchange(fd, bad_lengths[i], NULL, &closed);
        assert_non_null(strstr(r, "HTTP/1.1 400"));
        assert_true(closed);
        free(r);
        close(fd);
    }

    /* Routes that take a body keep their own limit. */
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/small", port);
    reply rp = request(NULL, "POST", url, "0123456789abcdef", 16, NULL);
    assert_int_equal(rp.status, 200);
    assert_string_equal(rp.body.data, "0123456789abcdef");
    reply_free(&rp);
    rp = request(NULL, "POST", url, "0123456789abcdefg", 17, NULL);
    assert_int_equal(rp.status, 413);
    reply_free(&rp);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/nobody", port);
    rp = request(NULL, "POST", url, "", 0, NULL);
    assert_int_equal(rp.status, 200);
    reply_free(&rp);
    pb_http_server_free(s);
}

static void test_connection_cap(void **state)
{
    pb_http_server *s = start_cfg((pb_http_config){.max_conns = 4});
    int port = pb_http_server_port(s), closed;
    int fds[4];
    for (int i = 0; i < 4; i++)
        fds[i] = tcp_connect(port);
    nap_ms(300); /* accepted and counted */

    /* The fifth is closed at once (after a best-effort 503), not served. */
    double t0 = tu_now();
    int extra = tcp_connect(port);
    char *r = read_until(extra, NULL, 2000, &closed);
    if (!closed || tu_now() - t0 > 1.5)
        fail_msg("connection over the cap not closed at once (closed=%d, %.1fs): %.60s", closed,
                 tu_now() - t0, r);
    if (r[0])
        assert_non_null(strstr(r, "HTTP/1.1 503"));
    free(r);
    close(extra);
    int status = raw_get_status(port, "/healthz"); /* a request sent at once gets no further */
    assert_true(status == 503 || status == -1);

    /* A slot is free again once a connection goes. */
    close(fds[0]);
    status = -1;
    for (t0 = tu_now(); status != 200 && tu_now() - t0 < 3; nap_ms(50))
        status = raw_get_status(port, "/healthz");
    assert_int_equal(status, 200);
    for (int i = 1; i < 4; i++)
        close(fds[i]);

    pb_err e;
    pb_http_server *bad;
    pb_http_config cfg = {.addr = "127.0.0.1:0", .max_conns = -1};
    assert_int_equal(pb_http_server_new(&cfg, &bad, &e), PB_EINVAL);
    cfg = (pb_http_config){.addr = "127.0.0.1:0", .max_header_bytes = 100000};
    assert_int_equal(pb_http_server_new(&cfg, &bad, &e), PB_EINVAL);
    pb_http_server_free(s);
}

/* Send a GET with `n` headers of `len` bytes each; the reply or "" when the
 * server closed without one. */
static char *get_with_headers(int port, int n, size_t len, int *closed)
{
    size_t cap = 256 + (size_t)n * (len + 16);
    char *req = malloc(cap), *p = req;
    p += sprintf(p, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < n; i++) {
        p += sprintf(p, "X-Pad-%d: ", i);
        memset(p, 'p', len);
        p += len;
        p += sprintf(p, "\r\n");
    }
    p += sprintf(p, "\r\n");
    int fd = tcp_connect(port);
    /* the server may close while we still write: that is an answer too */
    (void)!send(fd, req, (size_t)(p - req), MSG_NOSIGNAL);
    char *r = read_until(fd, "\r\n\r\nok", 3000, closed);
    close(fd);
    free(req);
    return r;
}

static void expect_refused_headers(int port, int n, size_t len)
{
    int closed;
    char *r = get_with_headers(port, n, len, &closed);
    if (strstr(r, "HTTP/1.1 200") || !(closed || strstr(r, "HTTP/1.1 431")))
        fail_msg("%d header(s) of %zu bytes: want 431 or a close, got closed=%d %.60s", n, len, closed, r);
    free(r);
}

static void test_header_limits(void **state)
{
    pb_http_server *s = start_cfg((pb_http_config){.max_header_bytes = 1024});
    int port = pb_http_server_port(s), closed;
    char *r = get_with_headers(port, 1, 500, &closed); /* within the budget */
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    free(r);
    expect_refused_headers(port, 1, 2000);   /* one header over it */
    expect_refused_headers(port, 40, 40);    /* many small ones over it in total */
    assert_int_equal(raw_get_status(port, "/healthz"), 200);
    pb_http_server_free(s);

    s = start(NULL, NULL, 0); /* the default budget */
    port = pb_http_server_port(s);
    r = get_with_headers(port, 4, 1000, &closed);
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    free(r);
    expect_refused_headers(port, 1, 64 * 1024);
    expect_refused_headers(port, 200, 100);
    pb_http_server_free(s);
}

/* Send `first`, then one byte every 100 ms until the server closes the
 * connection; returns the seconds that took, or -1 if it kept it open for
 * max_s. */
static double drip(int port, const char *first, int max_s)
{
    int fd = tcp_connect(port);
    double t0 = tu_now();
    if (first)
        send_str(fd, first);
    double took = -1;
    while (tu_now() - t0 < max_s) {
        if (first && send(fd, "a", 1, MSG_NOSIGNAL) != 1) {
            took = tu_now() - t0;
            break;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            char b[512];
            if (recv(fd, b, sizeof b, 0) <= 0) {
                took = tu_now() - t0;
                break;
            }
        }
    }
    close(fd);
    return took;
}

typedef struct {
    int port;
    const char *first;
    double took;
} drip_arg;

static void *drip_thread(void *p)
{
    drip_arg *a = p;
    a->took = drip(a->port, a->first, 6);
    return NULL;
}

static void test_slow_clients_dropped(void **state)
{
    pb_http_server *s = start_cfg((pb_http_config){.header_timeout_s = 1, .request_timeout_s = 1});
    int port = pb_http_server_port(s);
    /* headers byte by byte; a body byte by byte; nothing at all; and a body
     * on a route without one, dribbled so slowly it never ends */
    drip_arg a[] = {
        {port, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", 0},
        {port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", 0},
        {port, NULL, 0},
        {port, "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n", 0},
    };
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, drip_thread, &a[i]);
    /* meanwhile the server answers others at once (checked once the
     * threads are joined: a failed assertion must not leave them running) */
    int ok = 0;
    for (int i = 0; i < 5; i++) {
        double t0 = tu_now();
        ok += raw_get_status(port, "/healthz") == 200 && tu_now() - t0 < 0.5;
        nap_ms(100);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++) {
        /* a 1 s timeout, on lws's whole-second clock */
        if (a[i].took < 0 || a[i].took > 3.0)
            fail_msg("slow client %d not dropped within 3 s (%.1f)", i, a[i].took);
        print_message("slow client %d dropped after %.2f s\n", i, a[i].took);
    }
    assert_int_equal(ok, 5);
    pb_http_server_free(s);
}

static void test_gets_while_attacked(void **state)
{
    pb_http_server *s = start(NULL, NULL, 0);
    int port = pb_http_server_port(s), closed;
    enum { SLOW = 15, GETBODY = 15, POSTBODY = 10 };
    int slow[SLOW], getbody[GETBODY], postbody[POSTBODY];
    for (int i = 0; i < SLOW; i++) {
        slow[i] = tcp_connect(port);
        send_str(slow[i], "GET /metrics HTTP/1.1\r\nX-Slow: a");
    }
    for (int i = 0; i < GETBODY; i++) {
        getbody[i] = tcp_connect(port);
        send_str(getbody[i], "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 4194304\r\n\r\n");
    }
    for (int i = 0; i < POSTBODY; i++) {
        postbody[i] = tcp_connect(port);
        send_str(postbody[i], "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3000000\r\n\r\nxx");
    }
    /* normal scrapes and probes go on, promptly */
    for (int i = 0; i < 20; i++) {
        double t0 = tu_now();
        reply r = get(port, i % 2 ? "/metrics" : "/healthz");
        assert_int_equal(r.status, 200);
        assert_true(tu_now() - t0 < 1.0);
        reply_free(&r);
    }
    /* and the GETs that announced a body were turned away, not read */
    for (int i = 0; i < GETBODY; i++) {
        char *r = read_until(getbody[i], NULL, 2000, &closed);
        assert_non_null(strstr(r, "HTTP/1.1 413"));
        assert_true(closed);
        free(r);
        close(getbody[i]);
    }
    for (int i = 0; i < SLOW; i++)
        close(slow[i]);
    for (int i = 0; i < POSTBODY; i++)
        close(postbody[i]);
    pb_http_server_free(s);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    g_reg = pb_metrics_registry_new();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_and_errors),
        cmocka_unit_test(test_post_bodies),
        cmocka_unit_test(test_request_details),
        cmocka_unit_test(test_metrics_and_big_response),
        cmocka_unit_test(test_concurrent_requests),
        cmocka_unit_test(test_head_and_chunked),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_https),
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_body_refused_on_bodyless_routes),
        cmocka_unit_test(test_connection_cap),
        cmocka_unit_test(test_header_limits),
        cmocka_unit_test(test_slow_clients_dropped),
        cmocka_unit_test(test_gets_while_attacked),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    pb_metrics_registry_free(g_reg);
    curl_global_cleanup();
    return rc;
}
