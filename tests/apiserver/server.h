/*
 * server.h - the dev API server's HTTP front end on libwebsockets: HTTPS
 * with ALPN "http/1.1" ("h2,http/1.1" when HTTP/2 is asked for; plain
 * HTTP/1.1 when explicitly asked),
 * buffered responses and streamed watches (chunked on HTTP/1.1, DATA frames
 * on HTTP/2); plus the TLS material and kubeconfig helpers main.c needs.
 *
 * Convention: 0 or -1 with a message in a caller buffer.
 * Threading: dv_server_run runs the single lws event loop; dv_server_stop is
 * async-signal-safe (sets a flag).
 * Ownership: the server borrows the dv_api; strings returned by getters are
 * owned by the server.
 */
#ifndef DEVAPI_SERVER_H
#define DEVAPI_SERVER_H

#include "handlers.h"

typedef struct dv_server dv_server;

typedef struct dv_server_config {
    const char *listen;   /* "127.0.0.1:0" */
    int insecure_http;    /* plain HTTP, no TLS */
    int http2;            /* also serve HTTP/2 over TLS (ALPN h2). Off by
                           * default because lws 4.1 cannot read non-standard
                           * headers on HTTP/2 streams: Impersonate-* would go
                           * unseen and the request would run as the caller.
                           * Unsafe with impersonation; for benchmarks. */
    const char *tls_cert; /* PEM files; when NULL a CA and a cert are generated */
    const char *tls_key;
    const char *cert_dir; /* if set: generated CA/cert/key are kept here and
                           * reused on restart (kubeconfigs stay valid) */
    int fault_latency_ms; /* delay every API request (not health checks),
                           * without blocking the event loop */
} dv_server_config;

int dv_server_new(dv_api *api, const dv_server_config *cfg, dv_server **out, char *msg, size_t n);
void dv_server_free(dv_server *s);
/* The bound port (after port 0 was asked). */
int dv_server_port(const dv_server *s);
/* PEM of the CA clients must trust ("" with --insecure-http). */
const char *dv_server_ca_pem(const dv_server *s);
/* Serve until dv_server_stop; 0 on clean stop. */
int dv_server_run(dv_server *s);
void dv_server_stop(dv_server *s);

/* Generate a self-signed CA and a server certificate for localhost and
 * 127.0.0.1 signed by it. PEM strings, malloc'd, caller frees. */
int dv_tls_generate(char **ca_pem, char **cert_pem, char **key_pem, char *msg, size_t n);

/* Write a kubeconfig (mode 0600) for server_url with the CA (may be "") and
 * a bearer token; atomically (temp file + rename). */
int dv_write_kubeconfig(const char *path, const char *server_url, const char *ca_pem, const char *token, char *msg,
                        size_t n);

#endif
