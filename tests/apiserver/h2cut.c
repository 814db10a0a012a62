/*
 * h2cut.c - HTTP/2 reads cut at DATA frame ends, for libwebsockets 4.1.
 *
 * The bug: lws 4.1's HTTP/2 parser (lws_h2_parser, roles/h2/http2.c) checks
 * a DATA frame against the stream's content-length with
 *     rx_content_remain < inlen + 1 && inside < length
 * where inlen is what is left of the whole buffer it was handed, not of the
 * frame. When a DATA frame is followed by more frames in the same read -
 * which is what a client multiplexing several requests with bodies sends:
 * HEADERS 1, HEADERS 3, ..., DATA 1, DATA 3, ... in one TLS record - the
 * check fires on a correct body and lws sends GOAWAY PROTOCOL_ERROR ("More
 * rx than content_length told"), killing every stream on the connection.
 * Upstream compares against the frame length since 4.2 (commit 2ea2c37f9,
 * "h2: data: frame header already parsed out"); Debian 12 ships 4.1.6.
 *
 * The workaround: lws reads decrypted bytes with SSL_read and keeps reading
 * while SSL_pending says more is buffered. We define both. On a
 * server-side connection that negotiated h2, SSL_read follows the HTTP/2
 * framing and returns only up to the end of the first DATA frame that ends
 * in what OpenSSL gave it; the rest is kept here and counted by
 * SSL_pending, so lws comes straight back for it. Then what is left of the
 * buffer is never more than what is left of the frame, and the check above
 * is the correct one. No byte is changed, dropped or reordered; every other
 * SSL object goes straight to OpenSSL.
 */
#include "h2cut.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#define PREFACE_LEN 24 /* "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" */
#define FRAME_HEADER_LEN 9

typedef int (*ssl_read_fn)(SSL *, void *, int);
typedef int (*ssl_pending_fn)(const SSL *);

static ssl_read_fn real_read;
static ssl_pending_fn real_pending;
static int ex_index = -1;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Where one connection is in the client's byte stream. */
typedef struct h2cut {
    size_t preface_left;                   /* client preface bytes still to come */
    unsigned char hdr[FRAME_HEADER_LEN];   /* a frame header being read */
    size_t hdr_len;
    size_t payload_left;                   /* of the current frame */
    int in_frame, is_data;
    unsigned char *held;                   /* read from OpenSSL, not yet given to lws */
    size_t held_len, held_off;
} h2cut;

static void free_state(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    h2cut *st = ptr;
    if (st)
        free(st->held);
    free(st);
}

/* dlsym hands back an object pointer; POSIX guarantees it converts. */
static void *lookup(const char *name) { return dlsym(RTLD_NEXT, name); }

static void init_once(void)
{
    void *r = lookup("SSL_read"), *p = lookup("SSL_pending");
    memcpy(&real_read, &r, sizeof r);
    memcpy(&real_pending, &p, sizeof p);
    if (real_read && real_pending)
        ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, free_state);
}

int dv_h2cut_init(void)
{
    pthread_once(&once, init_once);
    return real_read && real_pending && ex_index >= 0 ? 0 : -1;
}

/* The state of a server connection speaking h2, created on first use;
 * NULL for anything else. */
static h2cut *state_of(const SSL *ssl, int create)
{
    if (ex_index < 0 || !SSL_is_server(ssl))
        return NULL;
    h2cut *st = SSL_get_ex_data(ssl, ex_index);
    if (st || !create)
        return st;
    const unsigned char *proto = NULL;
    unsigned len = 0;
    SSL_get0_alpn_selected(ssl, &proto, &len);
    if (len != 2 || memcmp(proto, "h2", 2))
        return NULL;
    st = calloc(1, sizeof(*st));
    if (!st)
        return NULL; /* then reads go uncut: lws's behaviour, no worse */
    st->preface_left = PREFACE_LEN;
    if (!SSL_set_ex_data((SSL *)ssl, ex_index, st)) {
        free(st);
        return NULL;
    }
    return st;
}

/* Advance st over p[0..len) and return how many of those bytes to hand to
 * lws now: all of them, or up to the end of the first DATA frame that ends
 * inside them. */
static size_t cut(h2cut *st, const unsigned char *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t take;
        if (st->preface_left) {
            take = len - i < st->preface_left ? len - i : st->preface_left;
            st->preface_left -= take;
            i += take;
            continue;
        }
        if (!st->in_frame) {
            take = FRAME_HEADER_LEN - st->hdr_len;
            if (take > len - i)
                take = len - i;
            memcpy(st->hdr + st->hdr_len, p + i, take);
            st->hdr_len += take;
            i += take;
            if (st->hdr_len < FRAME_HEADER_LEN)
                continue;
            st->hdr_len = 0;
            st->payload_left = ((size_t)st->hdr[0] << 16) | ((size_t)st->hdr[1] << 8) | st->hdr[2];
            st->is_data = st->hdr[3] == 0; /* DATA */
            st->in_frame = st->payload_left > 0;
            if (!st->in_frame && st->is_data)
                return i; /* an empty DATA frame (END_STREAM) ends here */
            continue;
        }
        take = len - i < st->payload_left ? len - i : st->payload_left;
        st->payload_left -= take;
        i += take;
        if (!st->payload_left) {
            st->in_frame = 0;
            if (st->is_data)
                return i;
        }
    }
    return len;
}

int SSL_read(SSL *ssl, void *buf, int num)
{
    if (dv_h2cut_init() != 0)
        return -1; /* cannot happen once a server is up (dv_server_new checks) */
    h2cut *st = num > 0 ? state_of(ssl, 1) : NULL;
    if (!st)
        return real_read(ssl, buf, num);
    size_t n;
    if (st->held_off < st->held_len) {
        /* What an earlier read left over comes first. */
        n = st->held_len - st->held_off;
        if (n > (size_t)num)
            n = (size_t)num;
        n = cut(st, st->held + st->held_off, n);
        memcpy(buf, st->held + st->held_off, n);
        st->held_off += n;
        if (st->held_off == st->held_len)
            st->held_off = st->held_len = 0;
        return (int)n;
    }
    int r = real_read(ssl, buf, num);
    if (r <= 0)
        return r;
    n = cut(st, buf, (size_t)r);
    if (n < (size_t)r) {
        size_t rest = (size_t)r - n;
        unsigned char *h = realloc(st->held, rest);
        if (!h)
            abort(); /* out of memory: this is a test server */
        memcpy(h, (unsigned char *)buf + n, rest);
        st->held = h;
        st->held_len = rest;
        st->held_off = 0;
    }
    return (int)n;
}

int SSL_pending(const SSL *ssl)
{
    if (dv_h2cut_init() != 0)
        return 0;
    h2cut *st = state_of(ssl, 0);
    int pending = real_pending(ssl);
    if (st)
        pending += (int)(st->held_len - st->held_off);
    return pending;
}
