/*
 * test_server.c - the server's TLS material and kubeconfig writer: the
 * generated CA signs a server certificate valid for 127.0.0.1/localhost,
 * the kubeconfig is private (0600) and carries the CA and token; a real
 * server comes up on an ephemeral loopback port and answers /readyz; a
 * client leaving an HTTP/1.1 watch gets its connection closed and leaves
 * the server idle.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "testutil.h"

#include "handlers.h"
#include "server.h"

static X509 *parse_cert(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    return x;
}

static void test_tls_generate(void **state)
{
    (void)state;
    char *ca = NULL, *cert = NULL, *key = NULL, msg[256] = "";
    assert_int_equal(dv_tls_generate(&ca, &cert, &key, msg, sizeof(msg)), 0);
    X509 *cax = parse_cert(ca), *x = parse_cert(cert);
    assert_non_null(cax);
    assert_non_null(x);
    /* the server certificate verifies against the CA */
    X509_STORE *st = X509_STORE_new();
    X509_STORE_add_cert(st, cax);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, st, x, NULL);
    assert_int_equal(X509_verify_cert(ctx), 1);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    /* ... and names 127.0.0.1 and localhost, as clients check */
    assert_int_equal(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
    assert_int_equal(X509_check_host(x, "localhost", 0, 0, NULL), 1);
    assert_int_equal(X509_check_host(x, "example.com", 0, 0, NULL), 0);
    assert_int_equal(X509_check_ca(cax), 1);
    assert_int_equal(X509_check_ca(x), 0);
    assert_non_null(strstr(key, "PRIVATE KEY"));
    X509_free(cax);
    X509_free(x);
    free(ca);
    free(cert);
    free(key);
}

static void test_kubeconfig(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char path[4096], msg[256] = "";
    snprintf(path, sizeof(path), "%s/kc", dir);
    assert_int_equal(dv_write_kubeconfig(path, "https://127.0.0.1:1234", "PEMDATA", "tok123", msg, sizeof(msg)), 0);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    FILE *f = fopen(path, "r");
    char *text = tu_slurp(f);
    fclose(f);
    assert_non_null(strstr(text, "server: https://127.0.0.1:1234"));
    assert_non_null(strstr(text, "certificate-authority-data: UEVNREFUQQ=="));
    assert_non_null(strstr(text, "token: tok123"));
    assert_non_null(strstr(text, "current-context: devapi"));
    free(text);
    /* an unwritable place fails with a message */
    assert_int_equal(dv_write_kubeconfig("/proc/nope/kc", "https://x", "", "t", msg, sizeof(msg)), -1);
    assert_true(strlen(msg) > 0);
    tu_rmtree(dir);
    free(dir);
}

static void test_server_port(void **state)
{
    (void)state;
    dv_api_config acfg = {0};
    acfg.watch_window = 10;
    acfg.admin_token = "t";
    dv_api *api = NULL;
    char msg[256] = "";
    assert_int_equal(dv_api_new(&acfg, &api, msg, sizeof(msg)), 0);
    dv_server_config scfg = {.listen = "127.0.0.1:0"};
    dv_server *s = NULL;
    assert_int_equal(dv_server_new(api, &scfg, &s, msg, sizeof(msg)), 0);
    assert_true(dv_server_port(s) > 0);
    assert_non_null(strstr(dv_server_ca_pem(s), "BEGIN CERTIFICATE"));
    /* the same port cannot be bound twice */
    char listen[64];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", dv_server_port(s));
    dv_server_config again = {.listen = listen, .insecure_http = 1};
    dv_server *s2 = NULL;
    assert_int_equal(dv_server_new(api, &again, &s2, msg, sizeof(msg)), -1);
    assert_null(s2);
    dv_server_free(s);
    /* missing certificate files are reported */
    dv_server_config badtls = {.listen = "127.0.0.1:0", .tls_cert = "/nonexistent.crt", .tls_key = "/nonexistent.key"};
    assert_int_equal(dv_server_new(api, &badtls, &s2, msg, sizeof(msg)), -1);
    dv_api_free(api);
}

static void *run_server(void *s)
{
    dv_server_run(s);
    return NULL;
}

static double process_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Plain-HTTP connection to the server; the request is sent, the response
 * headers read. Returns the socket. */
static int open_watch(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    const char *req = "GET /api/v1/namespaces/default/configmaps?watch=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Authorization: Bearer t\r\n\r\n";
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    char buf[2048];
    ssize_t got = read(fd, buf, sizeof(buf) - 1);
    assert_true(got > 0);
    buf[got] = 0;
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
    return fd;
}

/* lws does not read an HTTP/1.1 connection while its response streams: a
 * client closing its watch must still be noticed (the server closes its side)
 * and must not leave poll() returning at once forever. */
static void test_h1_watch_client_leaves(void **state)
{
    (void)state;
    dv_api_config acfg = {0};
    acfg.watch_window = 10;
    acfg.admin_token = "t";
    dv_api *api = NULL;
    char msg[256] = "";
    assert_int_equal(dv_api_new(&acfg, &api, msg, sizeof(msg)), 0);
    dv_server_config scfg = {.listen = "127.0.0.1:0", .insecure_http = 1};
    dv_server *s = NULL;
    assert_int_equal(dv_server_new(api, &scfg, &s, msg, sizeof(msg)), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_server, s), 0);
    int fd = open_watch(dv_server_port(s));
    int other = open_watch(dv_server_port(s)); /* stays: must not be closed */
    close(fd);
    usleep(300 * 1000); /* the 100 ms tick notices */
    double cpu0 = process_cpu_s();
    usleep(500 * 1000);
    double used = process_cpu_s() - cpu0;
    /* a busy loop would use ~0.5 s of CPU; idle is ~0 */
    assert_true(used < 0.2);
    char c;
    struct timeval tv = {0, 100 * 1000};
    setsockopt(other, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_int_equal(read(other, &c, 1), -1); /* still open: nothing to read, no EOF */
    close(other);
    dv_server_stop(s);
    pthread_join(th, NULL);
    dv_server_free(s);
    dv_api_free(api);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_generate),
        cmocka_unit_test(test_kubeconfig),
        cmocka_unit_test(test_server_port),
        cmocka_unit_test(test_h1_watch_client_leaves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
