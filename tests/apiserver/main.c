/*
 * main.c - paybill-devapi: a single-binary Kubernetes API server for tests
 * and the local stack. Parses flags, builds the API (store, registry,
 * auth), starts the HTTPS (or explicit plain HTTP) server, writes the
 * kubeconfig and port file tests read, and serves until SIGINT/SIGTERM.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "handlers.h"
#include "server.h"
#include "util/log.h"

static dv_server *g_server; /* for the signal handler only */

static void on_signal(int sig)
{
    (void)sig;
    if (g_server)
        dv_server_stop(g_server);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: paybill-devapi [flags]\n"
            "  --listen HOST:PORT            address (default 127.0.0.1:0, port 0 = any free port)\n"
            "  --port-file PATH              write the bound port here\n"
            "  --write-kubeconfig PATH       write a kubeconfig (CA + admin token, group system:masters)\n"
            "  --data-dir DIR                persist objects across restarts\n"
            "  --token-auth-file PATH        static tokens: token,user,uid,\"group1,group2\"\n"
            "  --insecure-http               serve plain HTTP instead of HTTPS; requests without\n"
            "                                credentials act as admin (kubectl sends no token over HTTP)\n"
            "  --http2                       also serve HTTP/2 over TLS (ALPN h2; never h2c).\n"
            "                                UNSAFE with impersonation: lws 4.1 cannot read\n"
            "                                Impersonate-* headers on HTTP/2, so kubectl --as would\n"
            "                                run as the caller. For benchmarks. Default: HTTP/1.1 only\n"
            "  --http1-only                  accepted for old scripts; HTTP/1.1 only is the default\n"
            "  --tls-cert PATH --tls-key PATH  serve this certificate instead of a generated one\n"
            "  --watch-window N              events kept for watch resume (default 1000)\n"
            "  --fault-drop-watch-after-s S  end every watch after S seconds\n"
            "  --fault-error-rate R          fail this fraction (0..1) of requests\n"
            "  --fault-error-code C          500 (default) or 429\n"
            "  --fault-latency-ms MS         delay every request\n"
            "  --record FILE                 append every write (POST PUT PATCH DELETE) to FILE as one\n"
            "                                JSON line: method, path (with query), contentType, user,\n"
            "                                userAgent, code (the answer), uid (of an object created),\n"
            "                                body (bodyBase64 if not UTF-8). For benchmarks:\n"
            "                                bench_devapi_bench --replay sends them again\n"
            "  --log-level L, --log-format F debug|info|warn|error, json|text\n"
            "  --version, --help\n");
}

int main(int argc, char **argv)
{
    const char *listen = "127.0.0.1:0", *port_file = NULL, *kubeconfig = NULL, *tls_cert = NULL, *tls_key = NULL;
    dv_api_config cfg = {0};
    cfg.watch_window = 1000;
    cfg.fault_error_code = 500;
    int insecure = 0, http2 = 0, latency_ms = 0;
    pb_log_level level = PB_LOG_INFO;
    pb_log_format format = PB_LOG_TEXT;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (!strcmp(a, name) && v && (i++, 1))
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--version")) {
            printf("paybill-devapi %s (Kubernetes API v1.32 subset)\n", PAYBILL_VERSION);
            return 0;
        } else if (!strcmp(a, "--insecure-http")) {
            insecure = 1;
        } else if (!strcmp(a, "--http1-only")) {
            http2 = 0;
        } else if (!strcmp(a, "--http2")) {
            http2 = 1;
        } else if (ARG("--listen")) {
            listen = v;
        } else if (ARG("--port-file")) {
            port_file = v;
        } else if (ARG("--write-kubeconfig")) {
            kubeconfig = v;
        } else if (ARG("--data-dir")) {
            cfg.data_dir = v;
        } else if (ARG("--token-auth-file")) {
            cfg.token_file = v;
        } else if (ARG("--tls-cert")) {
            tls_cert = v;
        } else if (ARG("--tls-key")) {
            tls_key = v;
        } else if (ARG("--watch-window")) {
            cfg.watch_window = (size_t)atol(v);
        } else if (ARG("--fault-drop-watch-after-s")) {
            cfg.fault_drop_watch_after_s = atoi(v);
        } else if (ARG("--fault-error-rate")) {
            cfg.fault_error_rate = atof(v);
        } else if (ARG("--fault-error-code")) {
            cfg.fault_error_code = atoi(v);
        } else if (ARG("--fault-latency-ms")) {
            latency_ms = atoi(v);
        } else if (ARG("--record")) {
            cfg.record_file = v;
        } else if (ARG("--log-level")) {
            if (pb_log_parse_level(v, &level) != 0) {
                fprintf(stderr, "bad --log-level %s\n", v);
                return 2;
            }
        } else if (ARG("--log-format")) {
            if (pb_log_parse_format(v, &format) != 0) {
                fprintf(stderr, "bad --log-format %s\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "unknown or incomplete flag: %s\n", a);
            usage(stderr);
            return 2;
        }
#undef ARG
    }
    if ((tls_cert == NULL) != (tls_key == NULL) || cfg.watch_window == 0 ||
        (cfg.fault_error_code != 500 && cfg.fault_error_code != 429)) {
        fprintf(stderr, "--tls-cert and --tls-key go together; --watch-window > 0; --fault-error-code 500|429\n");
        return 2;
    }
    pb_log_configure(level, format, NULL);

    unsigned char raw[24];
    char token[64];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return 1;
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(token + 2 * i, 3, "%02x", raw[i]);
    cfg.admin_token = token;
    cfg.insecure_admin = insecure;

    char msg[1024] = "";
    dv_api *api = NULL;
    if (dv_api_new(&cfg, &api, msg, sizeof(msg)) != 0) {
        pb_log_error("starting the API failed", "error", msg, NULL);
        return 1;
    }
    dv_server_config scfg = {.listen = listen,
                             .insecure_http = insecure,
                             .http2 = http2,
                             .tls_cert = tls_cert,
                             .tls_key = tls_key,
                             .cert_dir = cfg.data_dir,
                             .fault_latency_ms = latency_ms};
    if (http2)
        pb_log_warn("--http2: Impersonate-* headers cannot be read on HTTP/2 streams (libwebsockets 4.1); "
                    "an impersonating request over HTTP/2 runs as its caller. Do not rely on impersonation",
                    NULL);
    dv_server *srv = NULL;
    if (dv_server_new(api, &scfg, &srv, msg, sizeof(msg)) != 0) {
        pb_log_error("starting the server failed", "error", msg, NULL);
        dv_api_free(api);
        return 1;
    }
    char port[16], url[128];
    snprintf(port, sizeof(port), "%d", dv_server_port(srv));
    snprintf(url, sizeof(url), "%s://127.0.0.1:%d", insecure ? "http" : "https", dv_server_port(srv));
    int rc = 0;
    if (kubeconfig && dv_write_kubeconfig(kubeconfig, url, dv_server_ca_pem(srv), token, msg, sizeof(msg)) != 0) {
        pb_log_error("writing kubeconfig failed", "error", msg, NULL);
        rc = 1;
    }
    if (!rc && port_file) {
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%s\n", port) < 0 || fclose(f) != 0 || rename(tmp, port_file) != 0) {
            pb_log_error("writing port file failed", "path", port_file, "error", strerror(errno), NULL);
            rc = 1;
        }
    }
    if (!rc) {
        g_server = srv;
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
        pb_log_info("paybill-devapi serving", "url", url, "data_dir", cfg.data_dir, NULL);
        rc = dv_server_run(srv) == 0 ? 0 : 1;
        g_server = NULL;
    }
    dv_server_free(srv);
    dv_api_free(api);
    pb_log_info("paybill-devapi stopped", NULL);
    return rc;
}
