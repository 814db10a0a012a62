/*
 * fakeapi.h - a scripted HTTP/1.1 server on 127.0.0.1 for the kube client
 * tests (header-only: every function is static, include it from one test
 * file each).
 *
 * The test queues responses with fa_push(); each incoming request takes
 * the next one, in order, whatever its path, and is recorded so the test
 * can check method, target, headers and body afterwards. A response can be
 * sent whole, in chunks of a given size with a delay between them (to split
 * watch events anywhere), left hanging after its last chunk (a quiet watch),
 * or replaced by dropping the connection. With an SSL_CTX the server speaks
 * TLS (blocking OpenSSL calls; fine for one client at a time).
 *
 * One thread polls the listening socket and every connection, so
 * keep-alive and several connections work; a response is written in full
 * before the next request is read, which keeps the scripting simple.
 */
#ifndef PAYBILL_TEST_FAKEAPI_H
#define PAYBILL_TEST_FAKEAPI_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Tests use a subset of the helpers: no unused-function warnings. */
#define FA_FN static __attribute__((unused))

#define FA_MAX_CONNS 16
#define FA_MAX_QUEUE 64
#define FA_MAX_REQS 256

typedef struct fa_resp {
    int status;          /* HTTP status; 0 = 200 */
    const char *headers; /* extra header lines, each ending "\r\n", or NULL */
    const char *body;    /* NULL = empty */
    size_t body_len;     /* 0 = strlen(body) */
    size_t chunk;        /* > 0: Transfer-Encoding: chunked, pieces of this size */
    int chunk_delay_ms;  /* pause before each chunk */
    int hang;            /* after the body, keep the connection open, never end */
    int drop;            /* close the connection instead of answering */
} fa_resp;

typedef struct fa_req {
    char method[16];
    char *target;  /* "/api/v1/namespaces/default/pods?limit=2" */
    char *headers; /* the raw header block */
    char *body;
    size_t body_len;
} fa_req;

typedef struct fa_conn {
    int fd;
    SSL *ssl;
    char *buf;
    size_t len, cap;
    int hung;
} fa_conn;

typedef struct fa_server {
    int lfd;
    int port;
    int wake[2];
    SSL_CTX *tls;
    pthread_t thread;
    pthread_mutex_t mu;
    atomic_int quit;
    fa_resp queue[FA_MAX_QUEUE];
    int qhead, qlen;
    fa_req reqs[FA_MAX_REQS];
    int nreqs;
    fa_conn conns[FA_MAX_CONNS];
    int nconns;
    int accepted;
} fa_server;

FA_FN char *fa_memdup(const char *p, size_t n)
{
    char *r = malloc(n + 1);
    if (n)
        memcpy(r, p, n);
    r[n] = '\0';
    return r;
}

FA_FN void fa_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

FA_FN int fa_write(fa_conn *c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = c->ssl ? SSL_write(c->ssl, p, (int)n) : send(c->fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) {
            if (!c->ssl && w < 0 && errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

FA_FN void fa_close(fa_server *s, int i)
{
    fa_conn *c = &s->conns[i];
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    close(c->fd);
    free(c->buf);
    s->conns[i] = s->conns[--s->nconns];
}

FA_FN void fa_respond(fa_server *s, int i, const fa_resp *r)
{
    fa_conn *c = &s->conns[i];
    const char *body = r->body ? r->body : "";
    size_t blen = r->body_len ? r->body_len : strlen(body);
    char head[2048];
    int has_ct = r->headers && strcasestr(r->headers, "content-type:");
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\n%s%s", r->status ? r->status : 200,
                     has_ct ? "" : "Content-Type: application/json\r\n", r->headers ? r->headers : "");
    if (r->chunk)
        n += snprintf(head + n, sizeof head - (size_t)n, "Transfer-Encoding: chunked\r\n\r\n");
    else
        n += snprintf(head + n, sizeof head - (size_t)n, "Content-Length: %zu\r\n\r\n", blen);
    if (fa_write(c, head, (size_t)n) != 0)
        return;
    if (!r->chunk) {
        fa_write(c, body, blen);
    } else {
        for (size_t off = 0; off < blen; off += r->chunk) {
            size_t m = blen - off < r->chunk ? blen - off : r->chunk;
            char sz[32];
            int k = snprintf(sz, sizeof sz, "%zx\r\n", m);
            if (r->chunk_delay_ms)
                fa_sleep_ms(r->chunk_delay_ms);
            if (fa_write(c, sz, (size_t)k) || fa_write(c, body + off, m) || fa_write(c, "\r\n", 2))
                return;
        }
        if (!r->hang)
            fa_write(c, "0\r\n\r\n", 5);
    }
    if (r->hang)
        c->hung = 1;
}

/* Serve every complete request buffered on connection i. Returns -1 when
 * the connection was closed. */
FA_FN int fa_serve(fa_server *s, int i)
{
    for (;;) {
        fa_conn *c = &s->conns[i];
        if (c->hung)
            return 0;
        char *end = c->len ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
        if (!end)
            return 0;
        size_t hlen = (size_t)(end - c->buf) + 4;
        size_t clen = 0;
        const char *cl = memmem(c->buf, hlen, "\r\nContent-Length:", 17);
        if (!cl)
            cl = memmem(c->buf, hlen, "\r\ncontent-length:", 17);
        if (cl)
            clen = strtoul(cl + 17, NULL, 10);
        if (c->len < hlen + clen)
            return 0;
        pthread_mutex_lock(&s->mu);
        fa_resp r = {.status = 500,
                     .body = "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"fakeapi: no scripted "
                             "response\",\"reason\":\"InternalError\",\"code\":500}"};
        int scripted = s->qlen > 0;
        if (scripted) {
            r = s->queue[s->qhead];
            s->qhead = (s->qhead + 1) % FA_MAX_QUEUE;
            s->qlen--;
        }
        if (s->nreqs < FA_MAX_REQS) {
            fa_req *q = &s->reqs[s->nreqs++];
            char *sp1 = memchr(c->buf, ' ', hlen);
            char *sp2 = sp1 ? memchr(sp1 + 1, ' ', hlen - (size_t)(sp1 + 1 - c->buf)) : NULL;
            snprintf(q->method, sizeof q->method, "%.*s", sp1 ? (int)(sp1 - c->buf) : 0, c->buf);
            q->target = sp2 ? fa_memdup(sp1 + 1, (size_t)(sp2 - sp1 - 1)) : fa_memdup("", 0);
            q->headers = fa_memdup(c->buf, hlen);
            q->body = fa_memdup(c->buf + hlen, clen);
            q->body_len = clen;
        }
        pthread_mutex_unlock(&s->mu);
        memmove(c->buf, c->buf + hlen + clen, c->len - hlen - clen);
        c->len -= hlen + clen;
        if (r.drop) {
            fa_close(s, i);
            if (scripted) {
                free((char *)r.headers);
                free((char *)r.body);
            }
            return -1;
        }
        fa_respond(s, i, &r);
        if (scripted) {
            free((char *)r.headers);
            free((char *)r.body);
        }
    }
}

FA_FN void fa_accept(fa_server *s)
{
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
        return;
    if (s->nconns == FA_MAX_CONNS) {
        close(fd);
        return;
    }
    fa_conn c = {.fd = fd};
    if (s->tls) {
        c.ssl = SSL_new(s->tls);
        SSL_set_fd(c.ssl, fd);
        if (SSL_accept(c.ssl) != 1) {
            SSL_free(c.ssl);
            close(fd);
            return;
        }
    }
    pthread_mutex_lock(&s->mu);
    s->accepted++;
    pthread_mutex_unlock(&s->mu);
    s->conns[s->nconns++] = c;
}

FA_FN int fa_read(fa_server *s, int i)
{
    fa_conn *c = &s->conns[i];
    do {
        if (c->cap - c->len < 16384) {
            c->cap = c->cap ? c->cap * 2 : 65536;
            c->buf = realloc(c->buf, c->cap);
        }
        ssize_t r = c->ssl ? SSL_read(c->ssl, c->buf + c->len, 16384)
                           : recv(c->fd, c->buf + c->len, 16384, 0);
        if (r <= 0) {
            fa_close(s, i);
            return -1;
        }
        c->len += (size_t)r;
    } while (c->ssl && SSL_pending(c->ssl) > 0);
    if (c->hung) {
        c->len = 0; /* a hung stream ignores anything further */
        return 0;
    }
    return fa_serve(s, i);
}

FA_FN void *fa_main(void *arg)
{
    fa_server *s = arg;
    while (!s->quit) {
        struct pollfd p[FA_MAX_CONNS + 2];
        p[0] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
        p[1] = (struct pollfd){.fd = s->wake[0], .events = POLLIN};
        int n = s->nconns;
        for (int i = 0; i < n; i++)
            p[i + 2] = (struct pollfd){.fd = s->conns[i].fd, .events = POLLIN};
        if (poll(p, (nfds_t)n + 2, 200) <= 0)
            continue;
        /* Back to front: closing swaps the last connection into slot i. */
        for (int i = n - 1; i >= 0; i--)
            if (p[i + 2].revents)
                fa_read(s, i);
        if (p[0].revents & POLLIN)
            fa_accept(s);
    }
    return NULL;
}

/* Start on 127.0.0.1 with an ephemeral port; tls may be NULL (plain HTTP).
 * The server does not own tls. */
FA_FN fa_server *fa_start(SSL_CTX *tls)
{
    fa_server *s = calloc(1, sizeof *s);
    /* OpenSSL writes to the socket with plain write(): a client that went
     * away would kill the test with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    s->tls = tls;
    pthread_mutex_init(&s->mu, NULL);
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->lfd, 16) != 0 ||
        getsockname(s->lfd, (struct sockaddr *)&a, &alen) != 0 || pipe(s->wake) != 0) {
        perror("fakeapi");
        abort();
    }
    s->port = ntohs(a.sin_port);
    pthread_create(&s->thread, NULL, fa_main, s);
    return s;
}

FA_FN void fa_stop(fa_server *s)
{
    if (!s)
        return;
    s->quit = 1;
    if (write(s->wake[1], "x", 1) < 0)
        perror("fakeapi wake");
    pthread_join(s->thread, NULL);
    while (s->nconns > 0)
        fa_close(s, 0);
    close(s->lfd);
    close(s->wake[0]);
    close(s->wake[1]);
    for (int i = 0; i < s->qlen; i++) {
        fa_resp *r = &s->queue[(s->qhead + i) % FA_MAX_QUEUE];
        free((char *)r->headers);
        free((char *)r->body);
    }
    for (int i = 0; i < s->nreqs; i++) {
        free(s->reqs[i].target);
        free(s->reqs[i].headers);
        free(s->reqs[i].body);
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* "http://127.0.0.1:PORT" (or https with TLS) into buf. */
FA_FN const char *fa_url(fa_server *s, char *buf, size_t n)
{
    snprintf(buf, n, "%s://127.0.0.1:%d", s->tls ? "https" : "http", s->port);
    return buf;
}

/* Queue a response; strings are copied. */
FA_FN void fa_push(fa_server *s, const fa_resp *r)
{
    pthread_mutex_lock(&s->mu);
    if (s->qlen < FA_MAX_QUEUE) {
        fa_resp c = *r;
        c.body_len = r->body ? (r->body_len ? r->body_len : strlen(r->body)) : 0;
        c.body = r->body ? fa_memdup(r->body, c.body_len) : NULL;
        c.headers = r->headers ? fa_memdup(r->headers, strlen(r->headers)) : NULL;
        s->queue[(s->qhead + s->qlen++) % FA_MAX_QUEUE] = c;
    }
    pthread_mutex_unlock(&s->mu);
}

/* Shorthand: status + JSON body. */
FA_FN void fa_push_json(fa_server *s, int status, const char *body)
{
    fa_resp r = {.status = status, .body = body};
    fa_push(s, &r);
}

/* A reply that starts (headers and one byte of body) and never ends: an
 * API server that stopped answering mid-request. */
FA_FN void fa_push_hang(fa_server *s)
{
    fa_resp r = {.chunk = 1, .body = "{", .hang = 1};
    fa_push(s, &r);
}

FA_FN int fa_nreqs(fa_server *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->nreqs;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* Connections accepted so far (to check connection reuse). */
FA_FN int fa_accepted(fa_server *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->accepted;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* The i-th recorded request (valid until fa_stop). */
FA_FN const fa_req *fa_req_at(fa_server *s, int i)
{
    pthread_mutex_lock(&s->mu);
    const fa_req *r = i < s->nreqs ? &s->reqs[i] : NULL;
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* Value of header `name` in r, copied into out (empty when absent). */
FA_FN const char *fa_header(const fa_req *r, const char *name, char *out, size_t n)
{
    out[0] = '\0';
    size_t nl = strlen(name);
    for (const char *p = strstr(r->headers, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            snprintf(out, n, "%.*s", (int)(e ? e - v : (long)strlen(v)), v);
            break;
        }
    }
    return out;
}

#endif
